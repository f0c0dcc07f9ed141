//! `zhishu search`: hybrid search from the terminal, as an access group.

use crate::admin::Ctx;
use crate::cli::SearchArgs;
use anyhow::{Result, bail};
use zhishu_core::Config;
use zhishu_query::SearchAsk;
use zhishu_retrieval::{Mode, SearchFilter};

/// Runs `zhishu search`: a thin adapter over the exchange service, like
/// `POST /v1/search` (the same limits, scope and audit event).
pub async fn run(config: &Config, args: SearchArgs) -> Result<()> {
    let (mode, rerank) = match args.mode.as_str() {
        "bm25" => (Mode::Bm25, false),
        "dense" => (Mode::Dense, false),
        "hybrid" => (Mode::Hybrid, false),
        "hybrid-rerank" => (Mode::Hybrid, true),
        other => bail!("--mode {other}: use bm25, dense, hybrid or hybrid-rerank"),
    };
    let ctx = Ctx::open(config).await?;
    let searcher = crate::ingest::searcher(config)?;
    let ask = SearchAsk {
        query: args.query.clone(),
        k: Some(args.k),
        filter: SearchFilter {
            collections: args.collection.clone(),
            ..Default::default()
        },
        mode,
        rerank,
        neighbours: None,
    };
    let results = ctx
        .exchanges(config, None)?
        .search(&ctx.asker(&args.groups), ask, Some(&searcher))
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
