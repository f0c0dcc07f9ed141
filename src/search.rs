//! `zhishu search`: hybrid search from the terminal, as an access group.

use crate::admin::Ctx;
use crate::cli::SearchArgs;
use anyhow::{Result, bail};
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_retrieval::{Mode, Scope, SearchFilter};

/// Runs `zhishu search`.
pub async fn run(config: &Config, args: SearchArgs) -> Result<()> {
    let mode = match args.mode.as_str() {
        "bm25" => Mode::Bm25,
        "dense" => Mode::Dense,
        "hybrid" => Mode::Hybrid,
        "hybrid-rerank" => Mode::HybridRerank,
        other => bail!("--mode {other}: use bm25, dense, hybrid or hybrid-rerank"),
    };
    // Refused before anything is opened or loaded.
    if mode == Mode::HybridRerank && config.reranker.is_none() {
        bail!(
            "--mode hybrid-rerank needs a cross-encoder: set [reranker] model in the configuration"
        );
    }
    let ctx = Ctx::open(config).await?;
    let groups = if args.groups.is_empty() {
        vec!["public".to_owned()]
    } else {
        args.groups.clone()
    };
    ctx.record(
        "search",
        serde_json::json!({"query": args.query, "k": args.k, "groups": groups,
            "collections": args.collection, "mode": args.mode}),
    )
    .await?;
    let pipeline = crate::ingest::pipeline(config, Arc::new(ctx.store.clone())).await?;
    let searcher = zhishu_ingest::open_searcher(config, &pipeline).map_err(anyhow::Error::msg)?;
    let filter = SearchFilter {
        collections: args.collection.clone(),
        ..Default::default()
    };
    let results = searcher
        .search(
            &args.query,
            args.k,
            &Scope::of_groups(groups),
            &filter,
            mode,
        )
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    if results.hits.is_empty() {
        println!("no results");
    }
    for (i, h) in results.hits.iter().enumerate() {
        let c = &h.chunk;
        let page = c.page.map(|p| format!(" p.{p}")).unwrap_or_default();
        let section = if c.section_path.is_empty() {
            String::new()
        } else {
            format!(" · {}", c.section_path)
        };
        println!(
            "{:>2}. {:.4}  {}{}{}",
            i + 1,
            h.score,
            c.title,
            section,
            page
        );
        println!("    {}", c.path);
        let snippet: String = c.text.chars().take(160).collect();
        println!(
            "    {}{}",
            snippet,
            if c.text.chars().count() > 160 {
                "…"
            } else {
                ""
            }
        );
    }
    Ok(())
}
