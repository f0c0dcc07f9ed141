//! `zhishu ask`: a grounded, cited answer in the terminal, streamed as it
//! is generated, then the sources. Recorded in the audit trail like an
//! answer served over HTTP.

use crate::admin::Ctx;
use crate::cli::AskArgs;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::Arc;
use zhishu_audit::{ModelInfo, Outcome};
use zhishu_core::Config;
use zhishu_engine::{ChatMessage, SamplingParams};
use zhishu_query::{AnswerEvent, Question, Rag, Retrieval};
use zhishu_retrieval::{Scope, SearchFilter};

/// Runs `zhishu ask`.
pub async fn run(config: &Config, args: AskArgs) -> Result<()> {
    if args.question.trim().is_empty() {
        bail!("the question is empty");
    }
    let started = std::time::Instant::now();
    let ctx = Ctx::open(config).await?;
    let groups = if args.groups.is_empty() {
        vec!["public".to_owned()]
    } else {
        args.groups.clone()
    };
    let pipeline = crate::ingest::pipeline(config, Arc::new(ctx.store.clone())).await?;
    let searcher = zhishu_ingest::open_searcher(config, &pipeline).map_err(anyhow::Error::msg)?;
    let path = config.model_path(&config.engine.model);
    let rag = Rag::load(config)
        .with_context(|| format!("loading the language model {}", path.display()))?;
    let scope = Scope::of_groups(groups.clone());
    let filter = SearchFilter {
        collections: args.collection.clone(),
        ..Default::default()
    };
    filter.validate()?;
    let mut params = if args.think {
        SamplingParams::qwen3_thinking()
    } else {
        SamplingParams::qwen3_non_thinking()
    };
    params.max_new_tokens = args.max_tokens.unwrap_or(rag.chat_config().answer_tokens);
    if let Some(t) = args.temperature {
        params.temperature = t;
    }
    params.seed = args.seed;
    let messages = [ChatMessage::new("user", args.question.clone())];
    let k = args.k.unwrap_or(rag.chat_config().sources);
    let prepared = rag
        .prepare(Question {
            messages: &messages,
            retrieval: Some(Retrieval {
                searcher: &searcher,
                scope: &scope,
                filter: &filter,
                k,
            }),
            enable_thinking: args.think,
            max_tokens: params.max_new_tokens,
        })
        .await?;
    let mut event = ctx.event("chat.completion", Outcome::Ok);
    event.question = Some(args.question.clone());
    event.input = Some(serde_json::json!({
        "via": "cli", "groups": groups, "collections": args.collection, "k": k,
        "os_user": std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
    }));
    zhishu_query::record::prepared(&mut event, &prepared, config.audit.store_prompts);
    event.model = Some(ModelInfo {
        name: rag.served_name().to_owned(),
        parameters: serde_json::to_value(&params)?,
    });

    let mut stream = rag.generate(&prepared, params)?;
    let mut out = std::io::stdout().lock();
    let mut answer = None;
    let mut thinking = false;
    while let Some(ev) = stream.next().await {
        match ev? {
            AnswerEvent::Delta(d) => {
                if args.json {
                    continue;
                }
                if !d.reasoning.is_empty() {
                    if !thinking {
                        write!(out, "\x1b[2m")?;
                        thinking = true;
                    }
                    write!(out, "{}", d.reasoning)?;
                }
                if !d.content.is_empty() {
                    if thinking {
                        write!(out, "\x1b[0m\n\n")?;
                        thinking = false;
                    }
                    write!(out, "{}", d.content)?;
                }
                out.flush()?;
            }
            AnswerEvent::Done(a) => answer = Some(a),
        }
    }
    let answer = answer.context("the engine stopped before the answer ended")?;
    zhishu_query::record::answered(&mut event, &answer);
    event.latency_ms = Some(started.elapsed().as_millis() as u64);
    let audit_id = ctx.record_event(event).await?;
    if args.json {
        let sources: Vec<_> = prepared
            .sources
            .iter()
            .map(|s| {
                serde_json::json!({"n": s.n, "document_id": s.chunk.document_id,
                    "title": s.chunk.title, "path": s.chunk.path, "page": s.chunk.page,
                    "section": s.chunk.section_path, "chunk_id": s.chunk.chunk_id, "score": s.score})
            })
            .collect();
        let v = serde_json::json!({
            "answer": answer.content, "reasoning": answer.reasoning,
            "citations": answer.citations, "sources": sources,
            "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens},
            "audit_event_id": audit_id,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(out)?;
    if prepared.sources.is_empty() {
        writeln!(
            out,
            "\nNo source: none of the documents the groups {} may see matched the question.",
            groups.join(", ")
        )?;
        return Ok(());
    }
    if answer.citations.is_empty() {
        writeln!(out, "\n(The answer cites none of the sources below.)")?;
    }
    writeln!(
        out,
        "\nSources (* cited by the model, + matched to an unmarked sentence):"
    )?;
    for s in &prepared.sources {
        let c = &s.chunk;
        let cited = match answer.citations.iter().find(|x| x.n == s.n) {
            Some(x) if x.origin == zhishu_query::Origin::Marker => "*",
            Some(_) => "+",
            None => " ",
        };
        let page = c.page.map(|p| format!(", p. {p}")).unwrap_or_default();
        let section = if c.section_path.is_empty() {
            String::new()
        } else {
            format!(" · {}", c.section_path)
        };
        writeln!(
            out,
            "{cited}[{}] {}{}{}  ({})",
            s.n, c.title, section, page, c.path
        )?;
    }
    Ok(())
}
