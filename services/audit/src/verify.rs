//! Checking the whole chain.

use crate::chain::{ENCODING, GENESIS_HASH, LEGACY_ENCODING, expected_hash};
use serde::Serialize;
use zhishu_store::{AuditStore, StoreError};

/// Rows read per page while verifying: memory stays flat however long the
/// trail is.
const PAGE: i64 = 1000;

/// The first event at which the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Sequence number of the first bad event.
    pub seq: i64,
    /// Its id.
    pub event_id: String,
    /// `modified`, `unknown_encoding`, `broken_link`, `sequence_gap` or
    /// `unvouched_anchor`.
    pub kind: &'static str,
    /// What it means.
    pub detail: String,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// Events checked (up to the first problem).
    pub events_checked: u64,
    /// How many of them were written by an earlier version in the legacy
    /// chain encoding and re-verified with it (they are intact: a link that
    /// fails its own encoding is reported as `modified`).
    pub legacy_events: u64,
    /// Last good sequence number.
    pub last_seq: i64,
    /// Hash of the last good event: record it elsewhere as an anchor.
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// The retention anchor the chain starts after (0 when nothing was
    /// ever purged).
    pub starts_after: i64,
}

impl Verification {
    /// The result in one or two lines for people: the CLI prints it and the
    /// audit record of a verification keeps it.
    pub fn summary(&self) -> String {
        match &self.problem {
            None => {
                let legacy = match self.legacy_events {
                    0 => String::new(),
                    n => format!(
                        " ({n} of them written by an earlier version in the legacy encoding and re-verified with it)"
                    ),
                };
                format!(
                    "audit trail intact: {} events{legacy}; last event #{} has hash {}",
                    self.events_checked, self.last_seq, self.last_hash
                )
            }
            Some(p) => format!(
                "audit trail BROKEN at event #{} (id {}): {} — {}\n{} events before it verified; last good hash {}",
                p.seq, p.event_id, p.kind, p.detail, self.events_checked, self.last_hash
            ),
        }
    }
}

/// Reads the chain from the start and checks every link: the content hash,
/// the link to the previous event, and that sequence numbers have no gaps.
///
/// # Errors
/// Only when the store cannot be read; a broken chain is a result, not an
/// error.
pub async fn verify(store: &dyn AuditStore) -> Result<Verification, StoreError> {
    let anchor = store.latest_audit_anchor().await?;
    let starts_after = anchor.as_ref().map_or(0, |a| a.anchor_seq);
    let mut expected_seq = starts_after + 1;
    let mut prev = anchor
        .as_ref()
        .map_or_else(|| GENESIS_HASH.to_string(), |a| a.anchor_hash.clone());
    let mut checked = 0;
    let mut legacy = 0;
    loop {
        let page = store.audit_after(expected_seq - 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for r in page {
            let expected = expected_hash(&r);
            let problem = if expected.is_none() {
                Some((
                    "unknown_encoding",
                    format!(
                        "the event says it was hashed with chain encoding {}, which this version does not know (it knows {LEGACY_ENCODING} and {ENCODING}): it was written by a newer Zhishu, or changed",
                        r.encoding
                    ),
                ))
            } else if expected.as_deref() != Some(r.hash.as_str()) {
                let how = if r.encoding == LEGACY_ENCODING {
                    " (checked with the legacy encoding it was written in)"
                } else {
                    ""
                };
                Some((
                    "modified",
                    format!(
                        "the event's content does not match its hash: it was changed after it was written{how}"
                    ),
                ))
            } else if r.seq != expected_seq {
                Some((
                    "sequence_gap",
                    format!(
                        "expected event #{expected_seq} but found #{}: events before this one were removed or inserted",
                        r.seq
                    ),
                ))
            } else if r.prev_hash != prev {
                Some(("broken_link", "prev_hash does not match the previous event's hash: an earlier event was removed, inserted, replaced or reordered".to_string()))
            } else {
                None
            };
            if let Some((kind, detail)) = problem {
                return Ok(Verification {
                    ok: false,
                    events_checked: checked,
                    legacy_events: legacy,
                    last_seq: expected_seq - 1,
                    last_hash: prev,
                    problem: Some(Problem {
                        seq: r.seq,
                        event_id: r.id,
                        kind,
                        detail,
                    }),
                    starts_after,
                });
            }
            checked += 1;
            legacy += u64::from(r.encoding == LEGACY_ENCODING);
            expected_seq += 1;
            prev = r.hash;
        }
    }
    // An anchor counts only if the chain itself records the purge that set
    // it; otherwise someone deleted history and wrote their own starting point.
    if let Some(a) = anchor {
        let vouched = match store.audit_event(&a.purge_event_id).await {
            Ok(e) => {
                e.seq > a.anchor_seq
                    && e.action == "audit.purge"
                    && e.payload["input"]["anchor_seq"] == a.anchor_seq
                    && e.payload["input"]["anchor_hash"] == a.anchor_hash.as_str()
            }
            Err(StoreError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        if !vouched {
            return Ok(Verification {
                ok: false,
                events_checked: checked,
                legacy_events: legacy,
                last_seq: expected_seq - 1,
                last_hash: prev,
                problem: Some(Problem {
                    seq: a.anchor_seq,
                    event_id: a.purge_event_id,
                    kind: "unvouched_anchor",
                    detail: "the retention anchor is not recorded by an audit.purge event in the chain: events were removed outside a purge".into(),
                }),
                starts_after,
            });
        }
    }
    Ok(Verification {
        ok: true,
        events_checked: checked,
        legacy_events: legacy,
        last_seq: expected_seq - 1,
        last_hash: prev,
        problem: None,
        starts_after,
    })
}
