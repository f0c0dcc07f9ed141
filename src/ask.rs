//! `zhishu ask`: a grounded, cited answer in the terminal, streamed as it
//! is generated, then the sources. A thin adapter over the exchange
//! service, like `POST /v1/chat/completions`: the same validation, scope,
//! sampling defaults and audit events.

use crate::admin::Ctx;
use crate::cli::AskArgs;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_engine::ChatMessage;
use zhishu_query::{ChatAsk, Rag, Sampling, Step};
use zhishu_retrieval::SearchFilter;

/// Runs `zhishu ask`.
pub async fn run(config: &Config, args: AskArgs) -> Result<()> {
    // Refused before anything is opened or loaded (and so before there is
    // a trail to record it in): nothing could be asked.
    if args.question.trim().is_empty() {
        bail!("the question is empty");
    }
    let ctx = Ctx::open(config).await?;
    let searcher = crate::ingest::searcher(config)?;
    let path = config.model_path(&config.engine.model);
    let rag = Rag::load(config)
        .with_context(|| format!("loading the language model {}", path.display()))?;
    let exchanges = ctx.exchanges(config, Some(Arc::new(rag)))?;
    let asker = ctx.asker(&args.groups);
    let ask = ChatAsk {
        model: args.model.clone(),
        messages: vec![ChatMessage::new("user", args.question.clone())],
        conversation_id: None,
        retrieval: true,
        filter: SearchFilter {
            collections: args.collection.clone(),
            ..Default::default()
        },
        k: args.k,
        thinking: args.think,
        sampling: Sampling {
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            seed: args.seed,
            ..Default::default()
        },
        stream: !args.json,
        client_tag: Some(std::env::var("USER").unwrap_or_else(|_| "unknown".into())),
    };
    let exchange = exchanges.chat(&asker, ask, Some(&searcher)).await?;
    let sources = exchange.prepared().sources.clone();
    let (mut steps, closing) = exchange.run();
    let streamed = print_steps(&mut steps, args.json).await;
    // Whatever happened (a broken pipe, an error), the exchange's closing
    // event is written before this process exits.
    drop(steps);
    let _ = closing.await;
    let finished = streamed?;
    let mut out = std::io::stdout().lock();
    let answer = &finished.answer;
    if args.json {
        let sources: Vec<_> = sources
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
            "audit_event_id": finished.audit_event_id,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(out)?;
    if sources.is_empty() {
        writeln!(
            out,
            "\nNo source: none of the documents the groups {} may see matched the question.",
            asker.scope().groups().join(", ")
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
    for s in &sources {
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

/// Prints the answer as it streams (unless `json`) and returns the
/// recorded end.
async fn print_steps(
    steps: &mut tokio::sync::mpsc::Receiver<Step>,
    json: bool,
) -> Result<Box<zhishu_query::Finished>> {
    let mut out = std::io::stdout().lock();
    let mut thinking = false;
    loop {
        match steps.recv().await {
            Some(Step::Delta(d)) => {
                if json {
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
            Some(Step::Done(f)) => return Ok(f),
            Some(Step::Failed(e)) => return Err(e.into()),
            None => bail!("the engine stopped before the answer ended"),
        }
    }
}
