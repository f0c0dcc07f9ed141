//! `zhishu ingest`: folder ingestion from the terminal, with a progress bar
//! and a summary.

use crate::admin::Ctx;
use crate::cli::IngestArgs;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use zhishu_core::Config;
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_ingest::sync::{Event, JobSpec, Pipeline, Progress};
use zhishu_store::Repository;

/// Loads the embedding model and starts its worker.
pub(crate) fn encoder(config: &Config) -> Result<EncoderWorker> {
    encoder_with_cache(config, WorkerConfig::default().token_cache_bytes)
}

/// [`encoder`] keeping up to `token_cache_bytes` of passages' token
/// vectors for late interaction.
pub(crate) fn encoder_with_cache(config: &Config, token_cache_bytes: u64) -> Result<EncoderWorker> {
    let model = config.model_path(&config.embedder.model);
    let device = zhishu_encoders::device(&config.embedder.device)?;
    let embedder = Embedder::load_on(&model, &device).with_context(|| {
        format!(
            "cannot load the embedding model {} (run scripts/fetch-assets.sh for the offline default)",
            model.display()
        )
    })?;
    Ok(EncoderWorker::start(
        embedder,
        WorkerConfig {
            max_batch_tokens: config.embedder.max_batch_tokens,
            queue: 64,
            query_prefix: config.embedder.query_prefix.clone(),
            passage_prefix: config.embedder.passage_prefix.clone(),
            token_cache_bytes,
            token_form: zhishu_retrieval::token_form(config),
        },
    )?)
}

/// Loads the embedding model and opens the stores and the ingestion
/// pipeline over them.
pub(crate) async fn pipeline(config: &Config, registry: Arc<dyn Repository>) -> Result<Pipeline> {
    let searcher = searcher(config)?;
    let guard = crate::admin::guard(config)?;
    Ok(zhishu_ingest::open_pipeline(
        config,
        registry,
        &searcher,
        guard.enabled().then_some(guard),
    )?)
}

/// Loads the embedding model and opens the stores for searching only.
pub(crate) fn searcher(config: &Config) -> Result<zhishu_retrieval::HybridSearcher> {
    Ok(zhishu_retrieval::open_searcher(config, encoder(config)?)?)
}

/// Runs `zhishu ingest`; `Ok(false)` when any file failed.
pub async fn run(config: &Config, args: IngestArgs) -> Result<bool> {
    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
    }
    let ctx = Ctx::open(config).await?;
    let groups = if args.groups.is_empty() {
        vec!["public".to_owned()]
    } else {
        args.groups.clone()
    };
    let spec = JobSpec {
        paths: args
            .paths
            .iter()
            .map(|p| zhishu_ingest::sync::absolute(p))
            .collect(),
        collection: args.collection.clone(),
        access_groups: groups,
        recursive: !args.no_recursive,
        sync_deletes: args.sync_deletes,
    };
    ctx.record(
        "ingest.job",
        serde_json::json!({"paths": spec.paths, "collection": spec.collection,
            "access_groups": spec.access_groups, "sync_deletes": spec.sync_deletes}),
    )
    .await?;
    let pipeline = pipeline(config, Arc::new(ctx.store.clone())).await?;
    let progress = Arc::new(Progress::default());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = {
        let bar = bar.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                match e {
                    Event::Scanned { files } => bar.set_length(files),
                    Event::Failed { path, error } => {
                        bar.println(format!("failed  {path}: {error}"))
                    }
                    Event::Deleted { path } => bar.println(format!("removed {path}")),
                    Event::Indexed { .. } | Event::Skipped { .. } | Event::Finished { .. } => {}
                }
                let p = &progress;
                bar.set_position(
                    p.files_done.load(Ordering::Relaxed)
                        + p.files_skipped.load(Ordering::Relaxed)
                        + p.files_failed.load(Ordering::Relaxed),
                );
                bar.set_message(format!("{} chunks", p.chunks.load(Ordering::Relaxed)));
            }
        })
    };
    let ctrl_c = {
        let progress = progress.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ncancelling: finishing the files in flight…");
                progress.cancel.store(true, Ordering::Relaxed);
            }
        })
    };
    let summary = pipeline.run(&spec, progress, Some(tx)).await;
    ctrl_c.abort();
    let _ = watcher.await;
    bar.finish_and_clear();
    let summary = summary?;
    ctx.record(
        "ingest.job.finished",
        serde_json::json!({"collection": spec.collection, "indexed": summary.indexed,
            "unchanged": summary.unchanged, "failed": summary.failed.len(),
            "deleted": summary.deleted, "chunks": summary.chunks}),
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} files: {} indexed, {} unchanged, {} skipped, {} failed, {} removed; {} chunks, {:.1} MB in {:.1} s{}",
            summary.files_total,
            summary.indexed,
            summary.unchanged,
            summary.skipped.len(),
            summary.failed.len(),
            summary.deleted,
            summary.chunks,
            summary.bytes as f64 / 1e6,
            summary.seconds,
            if summary.cancelled {
                " (cancelled)"
            } else {
                ""
            }
        );
        for s in &summary.skipped {
            println!("  skipped {}: {}", s.path, s.reason);
        }
        for f in &summary.failed {
            println!("  failed  {}: {}", f.path, f.reason);
        }
    }
    Ok(summary.failed.is_empty())
}
