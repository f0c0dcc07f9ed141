//! The chain under concurrent writers, several processes, tampering and a
//! store that is down — on SQLite and PostgreSQL.

mod common;

use common::{disarm, raw};
use sqlx::Executor;
use std::sync::Arc;
use zhishu_audit::*;
use zhishu_store::testing::TestDb;
use zhishu_store::{Repository, SqlStore, both_backends};

both_backends! {
    concurrent_writers_keep_one_chain;
    three_processes_share_one_chain;
    tampering_is_detected_at_the_first_bad_event;
    retention_purges_and_keeps_the_chain_verifiable;
}

fn cli() -> Actor {
    Actor {
        user: "system:cli".into(),
        auth: "cli".into(),
        ..Default::default()
    }
}

async fn retention_purges_and_keeps_the_chain_verifiable(db: &TestDb) {
    let store: Arc<dyn Repository> = Arc::new(db.store.clone());
    let log = AuditLog::start(store.clone(), 16);
    for i in 0..5 {
        log.record(event("old", i)).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = zhishu_store::now_ms();
    for i in 0..5 {
        log.record(event("new", i)).await.unwrap();
    }
    let report = purge(store.as_ref(), &log, cli(), cutoff, 30)
        .await
        .unwrap();
    assert_eq!(report.removed, 5);
    let anchor = report.anchor.unwrap();
    assert_eq!(anchor.anchor_seq, 5);
    assert!(
        store
            .audit_after(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|r| r.seq > 5)
    );
    let v = verify(store.as_ref()).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(
        (v.starts_after, v.events_checked, v.last_seq),
        (5, 6, 11),
        "5 new events and the purge event"
    );
    // Nothing to purge a second time; later events keep chaining.
    assert_eq!(
        purge(store.as_ref(), &log, cli(), cutoff, 30)
            .await
            .unwrap()
            .removed,
        0
    );
    log.record(event("later", 0)).await.unwrap();
    assert!(verify(store.as_ref()).await.unwrap().ok);

    // Events above the anchor still cannot be deleted.
    let mut conn = raw(db).await;
    assert!(
        conn.execute("DELETE FROM audit_events WHERE seq = 8")
            .await
            .is_err()
    );
    assert!(
        conn.execute("DELETE FROM audit_anchors").await.is_err(),
        "anchors are append-only"
    );

    // Someone writes their own anchor to delete history: verify notices.
    conn.execute(
        "INSERT INTO audit_anchors (anchor_seq, anchor_hash, purge_event_id, created_at) \
                   SELECT seq, hash, 'forged', 0 FROM audit_events WHERE seq = 8",
    )
    .await
    .unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq <= 8")
        .await
        .unwrap();
    let v = verify(store.as_ref()).await.unwrap();
    let p = v.problem.unwrap();
    assert_eq!((p.kind, p.seq), ("unvouched_anchor", 8), "{p:?}");
}

async fn purge_refuses_to_hide_a_broken_chain(db: &TestDb) {
    let store = fresh_chain(db, 6).await;
    let mut conn = raw(db).await;
    disarm(db, &mut conn).await;
    conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
        .await
        .unwrap();
    let log = AuditLog::start(store.clone(), 4);
    let err = purge(
        store.as_ref(),
        &log,
        cli(),
        zhishu_store::now_ms() + 1000,
        1,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PurgeError::Broken(2)), "{err}");
    assert_eq!(
        store.audit_after(0, 100).await.unwrap().len(),
        6,
        "nothing removed"
    );
}

both_backends! {
    purge_refuses_to_hide_a_broken_chain;
}

fn event(user: &str, i: usize) -> AuditEvent {
    let mut e = AuditEvent::new(
        Actor {
            user: user.into(),
            auth: "api_key".into(),
            ..Default::default()
        },
        "search",
        Outcome::Ok,
    );
    e.question = Some(format!("第{i}个问题 question {i}"));
    e.retrieved = vec![RetrievedSource {
        chunk_id: format!("c{i}"),
        document_id: format!("d{}", i % 3),
        document_version: 1,
        score: 0.5 + i as f64 / 1000.0,
        title: None,
        path: None,
        page: None,
        section: None,
    }];
    e
}

async fn concurrent_writers_keep_one_chain(db: &TestDb) {
    let store: Arc<dyn Repository> = Arc::new(db.store.clone());
    let log = AuditLog::start(store.clone(), 64);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                seqs.push(log.record(event(&format!("user{w}"), i)).await.unwrap().seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=200).collect::<Vec<i64>>(),
        "every event got its own place, no gaps"
    );
    let v = verify(store.as_ref()).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!((v.events_checked, v.last_seq), (200, 200));
    assert_eq!(v.last_hash, store.last_audit().await.unwrap().unwrap().hash);
}

async fn three_processes_share_one_chain(db: &TestDb) {
    // Three writers with their own pools and their own idea of the tail, as
    // three server processes on one database have.
    let a: Arc<dyn Repository> = Arc::new(db.store.clone());
    let mut logs = vec![AuditLog::start(a.clone(), 16)];
    for _ in 0..2 {
        let other: Arc<dyn Repository> = Arc::new(
            SqlStore::connect(&zhishu_store::testing::config(&db.url))
                .await
                .unwrap(),
        );
        logs.push(AuditLog::start(other, 16));
    }
    let mut tasks = Vec::new();
    for (n, log) in logs.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                log.record(event(&format!("proc{n}"), i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = verify(a.as_ref()).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.events_checked, 300);
}

async fn fresh_chain(db: &TestDb, n: usize) -> Arc<dyn Repository> {
    let store: Arc<dyn Repository> = Arc::new(db.store.clone());
    let log = AuditLog::start(store.clone(), 16);
    for i in 0..n {
        log.record(event("alice", i)).await.unwrap();
    }
    store
}

async fn tampering_is_detected_at_the_first_bad_event(db: &TestDb) {
    let mut conn = raw(db).await;
    let store = fresh_chain(db, 10).await;
    assert!(verify(store.as_ref()).await.unwrap().ok);
    disarm(db, &mut conn).await;

    // Each case tampers, checks the report, then restores the table from a copy.
    conn.execute("CREATE TABLE audit_backup AS SELECT * FROM audit_events")
        .await
        .unwrap();
    let restore = "DELETE FROM audit_events; INSERT INTO audit_events SELECT * FROM audit_backup";
    let cases: [(&str, &str, i64); 5] = [
        (
            "UPDATE audit_events SET payload = REPLACE(payload, 'question 4', 'question X') WHERE seq = 5",
            "modified",
            5,
        ),
        (
            "UPDATE audit_events SET outcome = 'refused' WHERE seq = 2",
            "modified",
            2,
        ),
        ("DELETE FROM audit_events WHERE seq = 7", "sequence_gap", 8),
        // Swap two events' positions.
        (
            "UPDATE audit_events SET seq = -1 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 4; \
             UPDATE audit_events SET seq = 4 WHERE seq = -1",
            "modified",
            3,
        ),
        // A forged event appended with a made-up link.
        (
            "INSERT INTO audit_events (seq, id, occurred_at, actor, action, outcome, client_addr, payload, prev_hash, hash, search_text, document_ids) \
             VALUES (11, 'forged', 0, 'mallory', 'search', 'ok', NULL, '{}', 'x', 'y', '', '')",
            "modified",
            11,
        ),
    ];
    for (sql, kind, seq) in cases {
        for stmt in restore.split("; ") {
            conn.execute(stmt).await.unwrap();
        }
        for stmt in sql.split("; ") {
            conn.execute(stmt).await.unwrap();
        }
        let v = verify(store.as_ref()).await.unwrap();
        let p = v
            .problem
            .clone()
            .unwrap_or_else(|| panic!("not detected: {sql}"));
        assert!(!v.ok);
        assert_eq!((p.kind, p.seq), (kind, seq), "{sql}: {p:?}");
        assert!(
            v.last_seq < seq,
            "everything before the first bad event checked out"
        );
    }

    // A forged event whose hash is computed correctly still cannot be
    // slipped into the middle: the next event's link breaks.
    for stmt in restore.split("; ") {
        conn.execute(stmt).await.unwrap();
    }
    let mut middle = store.audit_after(5, 1).await.unwrap().remove(0);
    conn.execute("DELETE FROM audit_events WHERE seq = 6")
        .await
        .unwrap();
    middle.id = "forged".into();
    middle.payload["question"] = "rewritten".into();
    middle.payload_json = canonical_json(&middle.payload);
    middle.hash = link_hash(&middle);
    store.append_audit(&middle).await.unwrap();
    let p = verify(store.as_ref()).await.unwrap().problem.unwrap();
    assert_eq!((p.kind, p.seq), ("broken_link", 7), "{p:?}");
}

#[tokio::test]
async fn an_unreachable_store_fails_closed() {
    let mut cfg = zhishu_store::testing::config("postgres://zhishu@127.0.0.1:1/zhishu");
    cfg.connect_timeout_secs = 1;
    let store: Arc<dyn Repository> = Arc::new(SqlStore::connect_lazy(&cfg).unwrap());
    let log = AuditLog::start(store, 4);
    let err = log.record(event("alice", 1)).await.unwrap_err();
    assert!(matches!(err, AuditError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the audit store is unavailable"),
        "{err}"
    );
}
