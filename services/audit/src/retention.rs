//! Retention: removing old events without losing verifiability.
//!
//! A purge picks the last event older than the cut-off as the anchor, checks
//! that the chain up to there is intact (purging must never hide tampering),
//! writes an `audit.purge` event naming the anchor's sequence number and
//! hash, and only then records the anchor and deletes the events at or
//! below it. [`crate::verify`] starts from the anchor and requires the purge
//! event to vouch for it.

use crate::{Actor, AuditError, AuditEvent, AuditLog, Outcome, verify};
use serde::Serialize;
use zhishu_store::{AuditAnchor, AuditStore, StoreError, now_ms};

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Events removed.
    pub removed: u64,
    /// The anchor the chain now starts after (`None`: nothing to purge).
    pub anchor: Option<AuditAnchor>,
}

/// Why a purge was refused.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The chain is broken at or before the anchor: purging would hide it.
    #[error(
        "the audit trail is broken at event #{0}; purging would hide it, so nothing was removed"
    )]
    Broken(i64),
    /// The purge event could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Removes the events that happened before `before_ms`.
///
/// # Errors
/// [`PurgeError`]; nothing is removed unless the purge event was written.
pub async fn purge(
    store: &dyn AuditStore,
    log: &AuditLog,
    actor: Actor,
    before_ms: i64,
    retention_days: u32,
) -> Result<PurgeReport, PurgeError> {
    let Some(last_old) = store.last_audit_before(before_ms).await? else {
        return Ok(PurgeReport {
            removed: 0,
            anchor: None,
        });
    };
    let check = verify(store).await?;
    if let Some(p) = &check.problem
        && p.seq <= last_old.seq + 1
    {
        return Err(PurgeError::Broken(p.seq));
    }
    let mut event = AuditEvent::new(actor, "audit.purge", Outcome::Ok);
    event.input = Some(serde_json::json!({
        "anchor_seq": last_old.seq,
        "anchor_hash": last_old.hash,
        "before_ms": before_ms,
        "retention_days": retention_days,
    }));
    let recorded = log.record(event).await?;
    let anchor = AuditAnchor {
        anchor_seq: last_old.seq,
        anchor_hash: last_old.hash,
        purge_event_id: recorded.id,
        created_at: now_ms(),
    };
    let removed = store.purge_audit(&anchor).await?;
    Ok(PurgeReport {
        removed,
        anchor: Some(anchor),
    })
}
