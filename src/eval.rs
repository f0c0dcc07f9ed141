//! `zhishu eval`: retrieval quality on a BEIR dataset, as a table or JSON.
//!
//! The corpus is indexed into a scratch folder (removed afterwards) with the
//! configured embedder, chunking, fusion and reranker, so the numbers are
//! those of the code path employees use, and the live stores are untouched.

use crate::cli::EvalArgs;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use zhishu_core::Config;
use zhishu_core::config::RerankerConfig;
use zhishu_retrieval::eval::{Dataset, EvalReport, Gate, ModeReport};

/// Runs `zhishu eval`.
pub async fn run(mut config: Config, args: EvalArgs) -> Result<()> {
    let dataset = Dataset::load(&args.dataset, &args.split)
        .with_context(|| format!("reading the BEIR dataset in {}", args.dataset.display()))?;
    if dataset.queries.is_empty() {
        anyhow::bail!(
            "{}: no query has a relevant judgement in qrels/{}.tsv",
            args.dataset.display(),
            args.split
        );
    }
    if let Some(model) = &args.reranker {
        config.reranker = Some(RerankerConfig {
            model: model.clone(),
            max_batch_tokens: config
                .reranker
                .as_ref()
                .map_or(16_384, |r| r.max_batch_tokens),
            device: config
                .reranker
                .as_ref()
                .map_or_else(|| "cpu".into(), |r| r.device.clone()),
        });
    }
    // Every query is searched twice (Tantivy, then BM25 inside Qdrant):
    // late interaction meets the same passages again, so keep them all
    // (a 3,000-chunk set of 512-token passages is ~1 GB in f16 at 384
    // dimensions; the cache only grows as passages are met).
    let encoder = crate::ingest::encoder_with_cache(&config, 2 << 30)?;
    let mut setup = zhishu_ingest::open_eval_setup(&config, encoder)?;
    if let Some(hits) = args.hits {
        setup.hits = usize::from(hits);
    }
    let scratch = tempfile::Builder::new()
        .prefix("zhishu-eval-")
        .tempdir()
        .context("creating a scratch folder for the evaluation stores")?;

    let bar = if std::io::stderr().is_terminal() && !args.json {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len}")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let mut report = zhishu_ingest::eval::evaluate(
        &setup,
        &dataset,
        scratch.path(),
        args.candidates.as_deref(),
        |stage, done, total| {
            bar.set_prefix(stage.to_owned());
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )
    .await
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    report.dataset = args.dataset.display().to_string();

    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", table(&report));
    }
    if let Some(late) = &report.late_cache {
        eprintln!(
            "late interaction: {} scores read from ZHISHU_EVAL_LATE_CACHE, {} computed (added to it), {} checked against it (largest difference {:.1e})",
            late.read, late.computed, late.checked, late.largest_difference
        );
    }
    if let Some(path) = &args.record_gate {
        let gate = Gate::record(&report, GATE_TOLERANCE);
        std::fs::write(path, format!("{}\n", serde_json::to_string_pretty(&gate)?))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "recorded {} figures in {}",
            gate.ndcg_at_10.len(),
            path.display()
        );
    }
    if let Some(path) = &args.gate {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the gate {}", path.display()))?;
        let gate: Gate = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a gate written by --record-gate", path.display()))?;
        let failed = gate.check(&report);
        if !failed.is_empty() {
            let lines: Vec<String> = failed.iter().map(|r| format!("  {r}")).collect();
            anyhow::bail!(
                "retrieval quality fell below the gate {} (tolerance {}):\n{}",
                path.display(),
                gate.tolerance,
                lines.join("\n")
            );
        }
        eprintln!(
            "gate {}: all {} figures within {} of the recorded ones",
            path.display(),
            gate.ndcg_at_10.len(),
            gate.tolerance
        );
    }
    Ok(())
}

/// How far below a recorded nDCG@10 a run may fall (`--record-gate`).
const GATE_TOLERANCE: f64 = 0.02;

/// The report as an aligned text table.
fn table(r: &EvalReport) -> String {
    let mut out = format!(
        "{}: {} documents, {} chunks, {} queries (indexed in {:.1} s)\n\n",
        r.dataset, r.documents, r.chunks, r.queries, r.index_seconds
    );
    out.push_str(&format!(
        "{:<16} {:>8} {:>9} {:>10} {:>7} {:>9} {:>9}\n",
        "mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "p50 ms", "p95 ms"
    ));
    let row = |out: &mut String, name: &str, m: &ModeReport| {
        out.push_str(&format!(
            "{:<16} {:>8.4} {:>9.4} {:>10.4} {:>7.4} {:>9.1} {:>9.1}\n",
            name,
            m.ndcg_at_10,
            m.recall_at_10,
            m.recall_at_100,
            m.mrr_at_10,
            m.latency_p50_ms,
            m.latency_p95_ms
        ));
    };
    for (name, m) in &r.modes {
        row(&mut out, name, m);
    }
    for (name, why) in &r.skipped {
        out.push_str(&format!("{name:<14} skipped: {why}\n"));
    }
    if let Some(a) = &r.average_terms {
        out.push_str(
            "\nBM25 inside Qdrant: average terms this corpus measured \
             (lexical.average_terms)\n",
        );
        for (language, f) in [("chinese", a.chinese), ("english", a.english)] {
            out.push_str(&format!(
                "  {language:<8} title {:.1}, section {:.1}, body {:.1}, page {:.1}\n",
                f.title, f.section, f.body, f.page
            ));
        }
    }
    for (title, breakdown) in [("language", &r.languages), ("kind", &r.kinds)] {
        if breakdown.len() < 2 && title == "kind" {
            continue;
        }
        for (key, modes) in breakdown {
            let queries = modes.values().next().map_or(0, |m| m.queries);
            out.push_str(&format!("\n{title} {key} ({queries} queries)\n"));
            for (name, m) in modes {
                row(&mut out, name, m);
            }
        }
    }
    out
}
