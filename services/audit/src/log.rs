//! The single writer of the chain.

use crate::chain::{ENCODING, GENESIS_HASH, canonical_json, link_hash};
use crate::event::AuditEvent;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use zhishu_store::{AuditRecord, AuditStore, NewAuditLink, StoreError, now_ms};

/// Most events committed in one transaction.
const MAX_GROUP: usize = 256;
/// Attempts when another process appends first.
const MAX_CONFLICTS: usize = 8;

/// Why an event could not be recorded. `Clone`, so one failed group commit
/// answers every waiter in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// The audit store cannot be written: fail closed.
    #[error("the audit store is unavailable: {0}")]
    Unavailable(String),
    /// The writer has stopped (shutdown).
    #[error("the audit log is shut down")]
    Closed,
    /// Any other store failure.
    #[error("the audit store refused the event: {0}")]
    Store(String),
}

struct Pending {
    event: AuditEvent,
    occurred_at: i64,
    reply: oneshot::Sender<Result<AuditRecord, AuditError>>,
}

/// Handle to the audit writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
}

impl AuditLog {
    /// Starts the writer task on the current tokio runtime. `queue` bounds
    /// how many events may wait; beyond it, [`AuditLog::record`] waits.
    pub fn start(store: Arc<dyn AuditStore>, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(writer(store, rx));
        Self { tx }
    }

    /// Appends the event to the chain and returns the stored link.
    ///
    /// # Errors
    /// [`AuditError`]: the caller must then refuse the request.
    ///
    /// # Cancel safety
    /// Once queued, the event is written even if this future is dropped: an
    /// interaction whose client went away still happened.
    pub async fn record(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                event,
                occurred_at: now_ms(),
                reply,
            })
            .await
            .map_err(|_| AuditError::Closed)?;
        answer.await.map_err(|_| AuditError::Closed)?
    }
}

async fn writer(store: Arc<dyn AuditStore>, mut rx: mpsc::Receiver<Pending>) {
    // The chain's tail as this writer last wrote it. While no other process
    // appends, groups go out as one INSERT with no lock and no read; if
    // another process did append, the INSERT hits a taken sequence number
    // and the group is redone on the locked path, which reads the real tail.
    let mut tail: Option<(i64, String)> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        match commit(store.as_ref(), &mut tail, &group).await {
            Ok(records) => {
                for (p, r) in group.into_iter().zip(records) {
                    let _ = p.reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = group.len(), "audit events could not be written");
                for p in group {
                    let _ = p.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Commits one group: optimistically after the cached tail, else under the
/// store's chain lock. A conflict on the locked path can only come from a
/// writer that ignores the lock, and is retried.
async fn commit(
    store: &dyn AuditStore,
    tail: &mut Option<(i64, String)>,
    group: &[Pending],
) -> Result<Vec<AuditRecord>, AuditError> {
    let mut links = Vec::with_capacity(group.len());
    for p in group {
        let payload =
            serde_json::to_value(&p.event).map_err(|e| AuditError::Store(e.to_string()))?;
        links.push(NewAuditLink {
            id: uuid::Uuid::new_v4().to_string(),
            occurred_at: p.occurred_at,
            // A NUL cannot be stored in a PostgreSQL text column; the
            // payload keeps the name exactly, escaped.
            actor: p.event.actor.user.replace('\0', "\u{fffd}"),
            action: p.event.action.clone(),
            outcome: p.event.outcome.as_str().to_string(),
            client_addr: p.event.client_addr.clone(),
            payload_json: canonical_json(&payload),
            payload,
            encoding: ENCODING,
            search_text: p.event.search_text(),
            document_ids: p.event.document_ids(),
        });
    }
    if let Some((seq, prev)) = tail.take() {
        let records = chain_after(seq, prev, &links);
        match store.append_audit_batch(&records).await {
            Ok(()) => {
                *tail = records.last().map(|r| (r.seq, r.hash.clone()));
                return Ok(records);
            }
            // Another process appended: redo the group under the lock.
            Err(StoreError::Conflict(_)) => {}
            Err(StoreError::Unavailable(m)) => return Err(AuditError::Unavailable(m)),
            Err(e) => return Err(AuditError::Store(e.to_string())),
        }
    }
    let mut last = None;
    for _ in 0..MAX_CONFLICTS {
        match store
            .append_audit_chained(links.clone(), GENESIS_HASH, link_hash)
            .await
        {
            Ok(records) => {
                *tail = records.last().map(|r| (r.seq, r.hash.clone()));
                return Ok(records);
            }
            Err(StoreError::Conflict(m)) => last = Some(m),
            Err(StoreError::Unavailable(m)) => return Err(AuditError::Unavailable(m)),
            Err(e) => return Err(AuditError::Store(e.to_string())),
        }
    }
    Err(AuditError::Store(format!(
        "could not append after {MAX_CONFLICTS} conflicts: {}",
        last.unwrap_or_default()
    )))
}

/// Places links after `(seq, prev)` and hashes them.
fn chain_after(mut seq: i64, mut prev: String, links: &[NewAuditLink]) -> Vec<AuditRecord> {
    links
        .iter()
        .map(|l| {
            seq += 1;
            let mut r = l.clone().into_record(seq, std::mem::take(&mut prev));
            r.hash = link_hash(&r);
            prev = r.hash.clone();
            r
        })
        .collect()
}
