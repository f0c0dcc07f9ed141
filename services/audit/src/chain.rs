//! The hash of one link.
//!
//! The hash covers every stored column that carries meaning — sequence
//! number, id, time, actor, action, outcome, client address, the payload and
//! the previous hash — encoded canonically: JSON with object keys sorted at
//! every depth and no insignificant whitespace. Writer and verifier share
//! this one function, so the encoding cannot drift between them.

use serde_json::Value;
use sha2::{Digest, Sha256};
use zhishu_store::AuditRecord;

/// `prev_hash` of the first link.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 (hex) of the link's canonical encoding; `record.hash` itself is
/// not part of it.
pub fn link_hash(record: &AuditRecord) -> String {
    let mut hasher = Sha256::new();
    let mut buf = String::with_capacity(512);
    buf.push_str("zhishu-audit-v1\n");
    let fields = serde_json::json!({
        "seq": record.seq,
        "id": record.id,
        "occurred_at": record.occurred_at,
        "actor": record.actor,
        "action": record.action,
        "outcome": record.outcome,
        "client_addr": record.client_addr,
        "payload": record.payload,
        "prev_hash": record.prev_hash,
    });
    canonical(&fields, &mut buf);
    hasher.update(buf.as_bytes());
    hex::encode(hasher.finalize())
}

/// Writes `value` as JSON with sorted keys, independent of how the map type
/// orders them.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 1,
            id: "e1".into(),
            occurred_at: 1_700_000_000_000,
            actor: "张伟".into(),
            action: "search".into(),
            outcome: "ok".into(),
            client_addr: None,
            payload: serde_json::json!({"b": [1, {"y": 2, "x": 1}], "a": "差旅 \"quoted\"", "score": 0.1 + 0.2}),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
            search_text: String::new(),
            document_ids: String::new(),
        }
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = record();
        let mut b = record();
        b.payload = serde_json::from_str(
            r#"{"score": 0.30000000000000004, "a": "差旅 \"quoted\"", "b": [1, {"x": 1, "y": 2}]}"#,
        )
        .unwrap();
        assert_eq!(link_hash(&a), link_hash(&b));
        assert_eq!(link_hash(&a).len(), 64);
    }

    #[test]
    fn every_meaningful_field_is_covered() {
        let base = link_hash(&record());
        let changes: [fn(&mut AuditRecord); 9] = [
            |r| r.seq = 2,
            |r| r.id = "e2".into(),
            |r| r.occurred_at += 1,
            |r| r.actor = "李".into(),
            |r| r.action = "chat".into(),
            |r| r.outcome = "refused".into(),
            |r| r.client_addr = Some("1.2.3.4".into()),
            |r| r.payload["a"] = "changed".into(),
            |r| r.prev_hash = "1".repeat(64),
        ];
        for change in changes {
            let mut r = record();
            change(&mut r);
            assert_ne!(link_hash(&r), base);
        }
        // Derived search columns and the stored hash are not inputs.
        let mut r = record();
        r.hash = "x".into();
        r.search_text = "x".into();
        assert_eq!(link_hash(&r), base);
    }
}
