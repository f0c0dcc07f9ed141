//! The four stages of the pipeline (see [`crate::sync`] for why they are
//! ordered as they are).

use crate::chunk::chunk;
use crate::parse::{Format, ParseError, Watch};
use crate::sync::{
    Event, JobSpec, Pipeline, Progress, Stores, SyncError, absolute, add_time, blocking, commit,
    now_ms,
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zhishu_encoders::{EncoderWorker, TextKind};
use zhishu_guard::{Context, GuardAction, GuardPoint};
use zhishu_retrieval::{ChunkDoc, PromptIds, chunk_id, prompt_label};
use zhishu_store::{ChunkRecord, DocumentRecord, DocumentStatus, GuardNote, NewDocument, Upsert};

/// Documents written between two commits of the stores.
const COMMIT_EVERY: usize = 32;
/// Longest wait before written documents are committed.
const COMMIT_AFTER: Duration = Duration::from_secs(2);

/// A file that changed, read.
pub(crate) struct Candidate {
    path: String,
    format: Format,
    bytes: Vec<u8>,
    record: DocumentRecord,
    /// A retry of an interrupted write: clear every stored chunk first.
    retry: bool,
}

/// A file parsed and chunked.
pub(crate) struct Chunked {
    record: DocumentRecord,
    chunks: Vec<ChunkDoc>,
    records: Vec<ChunkRecord>,
    retry: bool,
    /// Why the file gave no chunks, when it failed.
    error: Option<String>,
    /// What the document guard found.
    guard: Vec<GuardNote>,
}

/// A file embedded.
pub(crate) struct Embedded {
    doc: Chunked,
    vectors: Vec<Vec<f32>>,
}

pub(crate) enum Outcome {
    Event(Event),
    Unchanged,
}

pub(crate) fn list_files(spec: &JobSpec) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in &spec.paths {
        let root = absolute(root);
        let depth = if spec.recursive { usize::MAX } else { 1 };
        for entry in walkdir::WalkDir::new(&root)
            .max_depth(depth)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            if entry.file_type().is_file() {
                let name = entry.file_name().to_string_lossy();
                if !name.starts_with('.') && !name.starts_with("~$") {
                    files.push(entry.into_path());
                }
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

pub(crate) async fn scan(
    me: Pipeline,
    spec: JobSpec,
    progress: Arc<Progress>,
    tx: mpsc::Sender<Candidate>,
    out: mpsc::UnboundedSender<Outcome>,
) -> Result<(), SyncError> {
    let files = {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || list_files(&spec))
            .await
            .unwrap_or_default()
    };
    progress
        .files_total
        .store(files.len() as u64, Ordering::Relaxed);
    let _ = out.send(Outcome::Event(Event::Scanned {
        files: files.len() as u64,
    }));
    let skip = |path: &str, reason: String| {
        progress.files_skipped.fetch_add(1, Ordering::Relaxed);
        let _ = out.send(Outcome::Event(Event::Skipped {
            path: path.to_owned(),
            reason,
        }));
    };
    let fail = |path: String, error: String| {
        progress.files_failed.fetch_add(1, Ordering::Relaxed);
        let _ = out.send(Outcome::Event(Event::Failed { path, error }));
    };
    for file in files {
        if progress.cancel.load(Ordering::Relaxed) {
            break;
        }
        let busy = Instant::now();
        let path = file.display().to_string();
        let format = match Format::of(&file) {
            Ok(f) => f,
            Err(e) => {
                skip(&path, e.to_string());
                continue;
            }
        };
        let meta = match tokio::fs::metadata(&file).await {
            Ok(m) => m,
            Err(e) => {
                fail(path, e.to_string());
                continue;
            }
        };
        if meta.len() > me.max_file_bytes {
            skip(
                &path,
                format!(
                    "file is {} bytes, over the {}-byte limit (ingest.max_file_bytes)",
                    meta.len(),
                    me.max_file_bytes
                ),
            );
            continue;
        }
        let bytes = match tokio::fs::read(&file).await {
            Ok(b) => b,
            Err(e) => {
                fail(path, e.to_string());
                continue;
            }
        };
        progress
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let hash = hex::encode(Sha256::digest(&bytes));
        let modified_at = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(now_ms, |d| d.as_millis() as i64);
        let title = file
            .file_stem()
            .map_or_else(|| path.clone(), |s| s.to_string_lossy().into_owned());
        let (record, upsert) = me
            .stores
            .registry
            .upsert_document(&NewDocument {
                collection: spec.collection.clone(),
                source_path: path.clone(),
                title,
                mime_type: format.mime().into(),
                content_hash: hash,
                size_bytes: bytes.len() as i64,
                modified_at,
                access_groups: spec.access_groups.clone(),
            })
            .await?;
        // Unchanged and indexed: nothing to do. Unchanged but pending (a
        // run was interrupted) or failed (tried again: the cause may have
        // been passing, and the summary must still name the file) is redone.
        if upsert == Upsert::Unchanged && record.status == DocumentStatus::Indexed {
            progress.files_skipped.fetch_add(1, Ordering::Relaxed);
            let _ = out.send(Outcome::Unchanged);
            continue;
        }
        let retry = upsert == Upsert::Unchanged;
        add_time(&progress.stage_ns.scan, busy);
        if tx
            .send(Candidate {
                path,
                format,
                bytes,
                record,
                retry,
            })
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

pub(crate) fn parse_stage(
    me: &Pipeline,
    spec: &JobSpec,
    mut rx: mpsc::Receiver<Candidate>,
    tx: mpsc::Sender<Chunked>,
    out: &mpsc::UnboundedSender<Outcome>,
    progress: &Progress,
) -> Result<(), SyncError> {
    while let Some(c) = rx.blocking_recv() {
        let busy = Instant::now();
        let watch = Watch {
            cancel: Some(&progress.cancel),
            ocr_pages: Some(&progress.ocr_pages),
            ocr_micros: Some(&progress.ocr_micros),
        };
        let parsed = match me.reader.parse(c.format, &c.bytes, &watch) {
            Ok(p) if p.is_empty() => Err(ParseError::Invalid("the file holds no text".into())),
            other => other,
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                progress.files_failed.fetch_add(1, Ordering::Relaxed);
                // A document that no longer parses keeps no stale chunks;
                // the write stage clears them and records the error.
                let doc = Chunked {
                    record: c.record,
                    chunks: Vec::new(),
                    records: Vec::new(),
                    retry: true,
                    error: Some(e.to_string()),
                    guard: Vec::new(),
                };
                let _ = out.send(Outcome::Event(Event::Failed {
                    path: c.path,
                    error: e.to_string(),
                }));
                if tx.blocking_send(doc).is_err() {
                    break;
                }
                continue;
            }
        };
        let title = parsed
            .title
            .clone()
            .unwrap_or_else(|| c.record.title.clone());
        let hidden = parsed.hidden;
        let (_, pieces) = chunk(&parsed, me.chunking, &me.embed_tokens, &me.qwen_tokens);
        let r = &c.record;
        let mut chunks = Vec::with_capacity(pieces.len());
        let mut records = Vec::with_capacity(pieces.len());
        for p in pieces {
            let id = chunk_id(&r.id, r.version, p.ordinal as i64);
            let hash = hex::encode(Sha256::digest(p.text.as_bytes()));
            records.push(ChunkRecord {
                id: id.clone(),
                document_id: r.id.clone(),
                document_version: r.version,
                ordinal: p.ordinal as i64,
                page: p.page.map(i64::from),
                section_path: p.section_path.clone(),
                char_start: p.char_start as i64,
                char_end: p.char_end as i64,
                embed_tokens: p.embed_tokens as i64,
                qwen_tokens: p.qwen_tokens as i64,
                content_hash: hash,
                boxes: p.boxes.iter().map(|b| [b.x0, b.y0, b.x1, b.y1]).collect(),
            });
            chunks.push(ChunkDoc {
                chunk_id: id,
                document_id: r.id.clone(),
                version: r.version,
                ordinal: p.ordinal as i64,
                collection: spec.collection.clone(),
                path: c.path.clone(),
                title: title.clone(),
                page: p.page.map(i64::from),
                access_groups: spec.access_groups.clone(),
                content_hash: r.content_hash.clone(),
                modified_at: r.modified_at,
                char_start: p.char_start as i64,
                char_end: p.char_end as i64,
                qwen_tokens: p.qwen_tokens as i64,
                text: p.text,
                prompt_ids: Some(PromptIds {
                    tokenizer: me.qwen_tokens.fingerprint().to_owned(),
                    label: me.qwen_tokens.ids(&prompt_label(
                        &title,
                        &p.section_path,
                        p.page.map(i64::from),
                    )),
                    ids: p.prompt_ids,
                }),
                section_path: p.section_path,
                token_vectors: None,
            });
        }
        let mut doc = Chunked {
            record: c.record,
            chunks,
            records,
            retry: c.retry,
            error: None,
            guard: Vec::new(),
        };
        if let Some(g) = &me.guard {
            screen(g, spec, hidden, &mut doc);
            if let Some(e) = &doc.error {
                progress.files_failed.fetch_add(1, Ordering::Relaxed);
                let _ = out.send(Outcome::Event(Event::Failed {
                    path: c.path.clone(),
                    error: e.clone(),
                }));
            }
        }
        add_time(&progress.stage_ns.parse, busy);
        if tx.blocking_send(doc).is_err() {
            break;
        }
    }
    Ok(())
}

/// The rule of text hidden by formatting (white, `display:none`, hidden
/// DOCX runs), which the parsers count.
const HIDDEN_TEXT: &str = "injection.hidden_text";

/// The document guard over a chunked document: a `block` empties it (it
/// is recorded as failed, with the rule), a redaction masks the chunk text
/// before anything is indexed, and every rule that fired is noted —
/// including `hidden` characters of text hidden by formatting.
fn screen(guard: &zhishu_guard::Guard, spec: &JobSpec, hidden: usize, doc: &mut Chunked) {
    let ctx = Context {
        collections: vec![spec.collection.clone()],
        ..Context::default()
    };
    let mut redactor = guard.redactor();
    let mut notes: Vec<GuardNote> = Vec::new();
    let mut blocked = None;
    if hidden > 0 {
        let (action, _) = guard
            .policy()
            .decide(HIDDEN_TEXT, GuardPoint::Document, &ctx);
        if action != GuardAction::Allow {
            guard.record(
                GuardPoint::Document,
                &[zhishu_guard::Finding {
                    rule: HIDDEN_TEXT.into(),
                    action,
                    mask: zhishu_guard::MaskTarget::Both,
                    start: 0,
                    end: 0,
                    value: String::new(),
                    detail: None,
                }],
            );
            notes.push(GuardNote {
                rule: HIDDEN_TEXT.into(),
                action: action.as_str().into(),
                count: u32::try_from(hidden).unwrap_or(u32::MAX),
            });
            if action == GuardAction::Block {
                blocked = Some(HIDDEN_TEXT.to_owned());
            }
        }
    }
    for c in &mut doc.chunks {
        let v = guard.check(&c.text, GuardPoint::Document, &ctx);
        if v.is_empty() {
            continue;
        }
        guard.record(GuardPoint::Document, &v.findings);
        for f in &v.findings {
            match notes
                .iter_mut()
                .find(|n| n.rule == f.rule && n.action == f.action.as_str())
            {
                Some(n) => n.count += 1,
                None => notes.push(GuardNote {
                    rule: f.rule.clone(),
                    action: f.action.as_str().into(),
                    count: 1,
                }),
            }
            if f.action == GuardAction::Block && blocked.is_none() {
                blocked = Some(f.rule.clone());
            }
        }
        let masked = v.for_model(&c.text, &mut redactor);
        if masked != c.text {
            c.text = masked;
            // The stored ids and count were of the text before masking.
            c.prompt_ids = None;
            c.qwen_tokens = 0;
        }
    }
    if let Some(rule) = blocked {
        doc.chunks.clear();
        doc.records.clear();
        doc.retry = true;
        doc.error = Some(format!(
            "refused by the document guard (rule {rule}); see guard.rules"
        ));
    }
    doc.guard = notes;
}

/// Embeds each document's chunks; with `keep_tokens`, the same pass also
/// gives each chunk's packed token vectors, kept with it in the lexical
/// index for late interaction.
pub(crate) async fn embed_stage(
    encoder: EncoderWorker,
    keep_tokens: bool,
    mut rx: mpsc::Receiver<Chunked>,
    tx: mpsc::Sender<Embedded>,
    progress: Arc<Progress>,
) -> Result<(), SyncError> {
    while let Some(mut doc) = rx.recv().await {
        let busy = Instant::now();
        let texts: Vec<String> = doc.chunks.iter().map(ChunkDoc::embedding_text).collect();
        let vectors = if texts.is_empty() {
            Vec::new()
        } else if keep_tokens {
            let (embedded, tokens) = encoder.embed_passages_with_tokens(texts).await?;
            for (chunk, t) in doc.chunks.iter_mut().zip(tokens) {
                chunk.token_vectors = Some(Arc::new(t));
            }
            embedded.vectors
        } else {
            encoder.embed(texts, TextKind::Passage).await?.vectors
        };
        add_time(&progress.stage_ns.embed, busy);
        if tx.send(Embedded { doc, vectors }).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Writes each embedded document to both stores, commits every few
/// documents or seconds, and checkpoints the vector store every
/// `checkpoint_points` points (0: only at the end of the job).
pub(crate) async fn write_stage(
    stores: Stores,
    mut rx: mpsc::Receiver<Embedded>,
    out: mpsc::UnboundedSender<Outcome>,
    progress: Arc<Progress>,
    checkpoint_points: usize,
) -> Result<(), SyncError> {
    let mut pending: Vec<Chunked> = Vec::new();
    let mut since = Instant::now();
    let mut unchecked = 0usize;
    loop {
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(COMMIT_AFTER.saturating_sub(since.elapsed()), rx.recv())
                .await
            {
                Ok(n) => n,
                Err(_) => {
                    flush(&stores, &mut pending, &out, &progress).await?;
                    continue;
                }
            }
        };
        let Some(Embedded { doc, vectors }) = next else {
            break;
        };
        if pending.is_empty() {
            since = Instant::now();
        }
        let busy = Instant::now();
        let id = doc.record.id.clone();
        let version = doc.record.version;
        if doc.retry {
            stores.vectors.delete_document(&id, None).await?;
            let lexical = stores.lexical.clone();
            let i = id.clone();
            blocking(move || lexical.delete_document(&i, None)).await?;
        }
        if !doc.chunks.is_empty() {
            let points: Vec<(ChunkDoc, Vec<f32>)> =
                doc.chunks.iter().cloned().zip(vectors).collect();
            stores.vectors.upsert(points).await?;
            let lexical = stores.lexical.clone();
            let chunks = doc.chunks.clone();
            blocking(move || lexical.upsert(&chunks)).await?;
            // Earlier versions go in the same commit as this one arrives.
            stores.vectors.delete_document(&id, Some(version)).await?;
            let lexical = stores.lexical.clone();
            let i = id.clone();
            blocking(move || lexical.delete_document(&i, Some(version))).await?;
        }
        unchecked += doc.chunks.len();
        pending.push(doc);
        add_time(&progress.stage_ns.write, busy);
        if pending.len() >= COMMIT_EVERY || since.elapsed() >= COMMIT_AFTER {
            flush(&stores, &mut pending, &out, &progress).await?;
        }
        if checkpoint_points > 0 && unchecked >= checkpoint_points && pending.is_empty() {
            // After a commit, so a checkpoint only ever sees durable points.
            let busy = Instant::now();
            stores.vectors.checkpoint().await?;
            add_time(&progress.stage_ns.index, busy);
            unchecked = 0;
        }
    }
    flush(&stores, &mut pending, &out, &progress).await
}

/// Commits both stores, then records the committed documents in the
/// registry.
async fn flush(
    stores: &Stores,
    pending: &mut Vec<Chunked>,
    out: &mpsc::UnboundedSender<Outcome>,
    progress: &Progress,
) -> Result<(), SyncError> {
    if pending.is_empty() {
        return Ok(());
    }
    let busy = Instant::now();
    commit(stores).await?;
    for doc in pending.drain(..) {
        let r = &doc.record;
        stores
            .registry
            .set_document_guard(&r.id, &doc.guard)
            .await?;
        if doc.chunks.is_empty() {
            let error = doc.error.as_deref().unwrap_or("no text could be extracted");
            stores
                .registry
                .set_document_status(&r.id, DocumentStatus::Failed, Some(error))
                .await?;
            stores
                .registry
                .replace_chunks(&r.id, r.version, &[])
                .await?;
            continue;
        }
        stores
            .registry
            .replace_chunks(&r.id, r.version, &doc.records)
            .await?;
        stores
            .registry
            .set_document_status(&r.id, DocumentStatus::Indexed, None)
            .await?;
        progress.files_done.fetch_add(1, Ordering::Relaxed);
        progress
            .chunks
            .fetch_add(doc.chunks.len() as u64, Ordering::Relaxed);
        let _ = out.send(Outcome::Event(Event::Indexed {
            path: doc.chunks[0].path.clone(),
            chunks: doc.chunks.len() as u64,
        }));
    }
    add_time(&progress.stage_ns.write, busy);
    Ok(())
}
