//! Closing the exchanges a dead process left open.

use super::ExchangeError;
use zhishu_audit::{Actor, AuditEvent, AuditLog, Outcome};
use zhishu_store::{ExchangeRegistry, now_ms};

/// How long an exchange of another node may stay open before any node
/// closes it as interrupted: far longer than any answer takes.
pub const ABANDONED_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Closes, as `interrupted`, every exchange that `node` started before
/// `started_at` (this process's start: its previous life died while
/// answering) and every exchange of any node open for longer than
/// [`ABANDONED_AFTER_MS`]. Returns how many were closed.
///
/// # Errors
/// When the store cannot be read, or an event cannot be written (the rest
/// stay open for the next start-up).
pub async fn close_interrupted(
    audit: &AuditLog,
    repo: &dyn ExchangeRegistry,
    node: &str,
    started_at: i64,
) -> Result<usize, ExchangeError> {
    let now = now_ms();
    let mut closed = 0;
    for open in repo.open_exchanges().await? {
        let ours = open.node == node && open.started_at < started_at;
        if !ours && now - open.started_at < ABANDONED_AFTER_MS {
            continue;
        }
        // Claim it first: of several nodes starting at once, one closes it.
        if !repo.close_exchange(&open.exchange_id).await? {
            continue;
        }
        let mut ev = AuditEvent::new(
            Actor {
                user: open.actor.clone(),
                auth: "unknown".into(),
                ..Default::default()
            },
            open.action.clone(),
            Outcome::Interrupted,
        );
        ev.exchange_id = Some(open.exchange_id.clone());
        ev.input = Some(serde_json::json!({
            "node": open.node,
            "started_at": open.started_at,
            "closed_by": node,
        }));
        ev.error = Some(
            "the process answering stopped (crash, kill or power loss) before the exchange ended"
                .into(),
        );
        if let Err(e) = audit.record(ev).await {
            // Put it back for the next start-up.
            repo.open_exchange(&open).await?;
            return Err(e.into());
        }
        tracing::warn!(exchange = %open.exchange_id, node = %open.node, "closed an interrupted exchange");
        closed += 1;
    }
    Ok(closed)
}
