//! One suite for the [`Repository`] contract, run on SQLite and PostgreSQL.

mod common;

use zhishu_store::both_backends;

use common::TestDb;
use sqlx::Executor;
use zhishu_core::Role;
use zhishu_store::*;

both_backends! {
    migrations_are_applied_once;
    documents_are_versioned_by_content;
    chunks_follow_their_document_version;
    jobs_record_their_lifecycle;
    jobs_are_claimed_once_under_a_lease_and_resumed_when_it_runs_out;
    rate_buckets_are_one_across_nodes_and_refill;
    a_job_whose_workers_keep_dying_is_given_up;
    users_and_keys;
    audit_trail_is_append_only;
    audit_search_filters_are_parameters;
    sessions_expire_and_revoke;
    conversations_belong_to_their_owner;
    open_exchanges_are_noted_and_cleared;
    collection_downloads_default_on_and_switch;
}

async fn collection_downloads_default_on_and_switch(db: &TestDb) {
    let s = &db.store;
    let d = s.collection_settings("合同").await.unwrap();
    assert!(d.downloads && d.updated_by.is_empty());
    let off = s
        .set_collection_downloads("合同", false, "admin")
        .await
        .unwrap();
    assert!(!off.downloads);
    assert_eq!(off.updated_by, "admin");
    assert!(!s.collection_settings("合同").await.unwrap().downloads);
    // Another collection is untouched; switching back works.
    assert!(s.collection_settings("handbook").await.unwrap().downloads);
    assert!(
        s.set_collection_downloads("合同", true, "root")
            .await
            .unwrap()
            .downloads
    );
}

async fn open_exchanges_are_noted_and_cleared(db: &TestDb) {
    let s = &db.store;
    assert!(s.open_exchanges().await.unwrap().is_empty());
    let open = |id: &str, node: &str, at: i64| OpenExchange {
        exchange_id: id.into(),
        node: node.into(),
        action: "chat.completion".into(),
        actor: "张伟".into(),
        started_at: at,
    };
    s.open_exchange(&open("x2", "host-b:8080", 20))
        .await
        .unwrap();
    s.open_exchange(&open("x1", "host-a:8080", 10))
        .await
        .unwrap();
    assert!(
        s.open_exchange(&open("x1", "host-a:8080", 30))
            .await
            .is_err(),
        "an exchange opens once"
    );
    assert_eq!(
        s.open_exchanges().await.unwrap(),
        vec![open("x1", "host-a:8080", 10), open("x2", "host-b:8080", 20)],
        "oldest first"
    );
    assert!(
        s.close_exchange("x1").await.unwrap(),
        "the first close wins"
    );
    assert!(
        !s.close_exchange("x1").await.unwrap(),
        "a second finds nothing"
    );
    assert_eq!(
        s.open_exchanges().await.unwrap(),
        vec![open("x2", "host-b:8080", 20)]
    );
}

async fn audit_search_filters_are_parameters(db: &TestDb) {
    let s = &db.store;
    let mut batch = Vec::new();
    let mut prev = "genesis".to_string();
    for seq in 1..=6 {
        let mut r = link(seq, &prev);
        r.actor = if seq % 2 == 0 {
            "bob".into()
        } else {
            "alice".into()
        };
        r.action = if seq <= 3 {
            "search".into()
        } else {
            "auth.login".into()
        };
        r.outcome = if seq == 5 {
            "refused".into()
        } else {
            "ok".into()
        };
        r.search_text = format!("question {seq} 差旅 100%_done");
        r.document_ids = if seq == 2 {
            " doc-7 ".into()
        } else {
            String::new()
        };
        prev = r.hash.clone();
        batch.push(r);
    }
    s.append_audit_batch(&batch).await.unwrap();
    let seqs = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    let f = |mutate: &dyn Fn(&mut AuditFilter)| {
        let mut f = AuditFilter {
            limit: 100,
            ..Default::default()
        };
        mutate(&mut f);
        f
    };
    assert_eq!(
        seqs(s.search_audit(&f(&|_| {})).await.unwrap()),
        vec![6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.actor = Some("bob".into())))
                .await
                .unwrap()
        ),
        vec![6, 4, 2]
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.action = Some("auth.".into())))
                .await
                .unwrap()
        ),
        vec![6, 5, 4]
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.outcome = Some("refused".into())))
                .await
                .unwrap()
        ),
        vec![5]
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.text = Some("差旅".into())))
                .await
                .unwrap()
        )
        .len(),
        6
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.text = Some("QUESTION 3".into())))
                .await
                .unwrap()
        ),
        vec![3]
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.text = Some("100%_".into())))
                .await
                .unwrap()
        )
        .len(),
        6
    );
    assert!(
        s.search_audit(&f(&|f| f.text = Some("0%x".into())))
            .await
            .unwrap()
            .is_empty(),
        "% is literal"
    );
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| f.document_id = Some("doc-7".into())))
                .await
                .unwrap()
        ),
        vec![2]
    );
    assert!(
        s.search_audit(&f(&|f| f.document_id = Some("doc".into())))
            .await
            .unwrap()
            .is_empty()
    );
    let t0 = 1_700_000_000_000;
    assert_eq!(
        seqs(
            s.search_audit(&f(&|f| {
                f.from_ms = Some(t0 + 2);
                f.to_ms = Some(t0 + 4)
            }))
            .await
            .unwrap()
        ),
        vec![3, 2]
    );
    // Cursor pagination: pages of 4, newest first, no overlap.
    let page1 = seqs(s.search_audit(&f(&|f| f.limit = 4)).await.unwrap());
    let page2 = seqs(
        s.search_audit(&f(&|f| {
            f.limit = 4;
            f.before_seq = Some(3)
        }))
        .await
        .unwrap(),
    );
    assert_eq!((page1, page2), (vec![6, 5, 4, 3], vec![2, 1]));
    // Injection attempts are just text.
    let evil = "' OR 1=1 --";
    assert!(
        s.search_audit(&f(&|f| f.actor = Some(evil.into())))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.audit_event("ev4").await.unwrap().seq, 4);
    assert!(matches!(
        s.audit_event("nope").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn sessions_expire_and_revoke(db: &TestDb) {
    let s = &db.store;
    let u = s
        .create_user(&NewUser {
            username: "li".into(),
            display_name: "Li".into(),
            password_hash: None,
            roles: vec![Role::Employee],
            access_groups: vec![],
        })
        .await
        .unwrap();
    assert_eq!(s.user_by_id(&u.id).await.unwrap().username, "li");
    let rec = SessionRecord {
        token_hash: "th".into(),
        user_id: u.id.clone(),
        created_at: 1,
        expires_at: 2,
        revoked_at: None,
        client_addr: Some("127.0.0.1".into()),
    };
    s.create_session(&rec).await.unwrap();
    assert_eq!(s.session("th").await.unwrap(), rec);
    s.revoke_session("th").await.unwrap();
    assert!(s.session("th").await.unwrap().revoked_at.is_some());
    assert!(matches!(
        s.session("other").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn migrations_are_applied_once(db: &TestDb) {
    assert_eq!(
        db.store.applied_migrations().await.unwrap(),
        vec![
            "initial",
            "identity and audit search",
            "audit retention",
            "conversations",
            "audit encoding",
            "open exchanges",
            "document guard",
            "citations",
            "job leases",
            "rate buckets"
        ]
    );
    // Connecting again (a restart) applies nothing new and loses nothing.
    let again = SqlStore::connect(&common::config(&db.url)).await.unwrap();
    assert_eq!(
        again.applied_migrations().await.unwrap(),
        vec![
            "initial",
            "identity and audit search",
            "audit retention",
            "conversations",
            "audit encoding",
            "open exchanges",
            "document guard",
            "citations",
            "job leases",
            "rate buckets"
        ]
    );
    again.ping().await.unwrap();
    again.close().await;
}

fn doc(path: &str, hash: &str) -> NewDocument {
    NewDocument {
        collection: "handbook".into(),
        source_path: path.into(),
        title: "差旅政策 Travel policy".into(),
        mime_type: "application/pdf".into(),
        content_hash: hash.into(),
        size_bytes: 1234,
        modified_at: 1_700_000_000_000,
        access_groups: vec!["hr".into(), "all".into()],
    }
}

async fn documents_are_versioned_by_content(db: &TestDb) {
    let s = &db.store;
    let (d1, o1) = s.upsert_document(&doc("a/travel.pdf", "h1")).await.unwrap();
    assert_eq!(
        (o1, d1.version, d1.status),
        (Upsert::Created, 1, DocumentStatus::Pending)
    );
    assert_eq!(d1.access_groups, vec!["hr", "all"]);
    assert_eq!(d1.title, "差旅政策 Travel policy");

    let (same, o2) = s.upsert_document(&doc("a/travel.pdf", "h1")).await.unwrap();
    assert_eq!(
        (o2, same.id.as_str(), same.version),
        (Upsert::Unchanged, d1.id.as_str(), 1)
    );

    s.set_document_status(&d1.id, DocumentStatus::Indexed, None)
        .await
        .unwrap();
    let (d2, o3) = s.upsert_document(&doc("a/travel.pdf", "h2")).await.unwrap();
    assert_eq!(
        (o3, d2.id.as_str(), d2.version),
        (Upsert::Updated, d1.id.as_str(), 2)
    );
    assert_eq!(
        d2.status,
        DocumentStatus::Pending,
        "a new version must be re-indexed"
    );

    s.upsert_document(&doc("b/other.pdf", "h3")).await.unwrap();
    let listed = s.list_documents(Some("handbook"), 10, 0).await.unwrap();
    let paths: Vec<_> = listed.iter().map(|d| d.source_path.as_str()).collect();
    assert_eq!(paths, vec!["a/travel.pdf", "b/other.pdf"]);
    assert_eq!(
        s.list_documents(Some("handbook"), 1, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.list_documents(Some("nope"), 10, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // What the document guard found is kept with the document.
    assert!(s.document(&d1.id).await.unwrap().guard.is_empty());
    let notes = vec![zhishu_store::GuardNote {
        rule: "injection.indirect".into(),
        action: "flag".into(),
        count: 2,
    }];
    s.set_document_guard(&d1.id, &notes).await.unwrap();
    assert_eq!(s.document(&d1.id).await.unwrap().guard, notes);
    assert!(s.set_document_guard("no-such-id", &notes).await.is_err());

    s.set_document_status(&d1.id, DocumentStatus::Failed, Some("encrypted PDF"))
        .await
        .unwrap();
    assert_eq!(
        s.document(&d1.id).await.unwrap().error.as_deref(),
        Some("encrypted PDF")
    );

    s.delete_document(&d1.id).await.unwrap();
    assert!(matches!(
        s.document(&d1.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_document(&d1.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn chunk(doc: &DocumentRecord, ordinal: i64) -> ChunkRecord {
    ChunkRecord {
        id: format!("{}:{}:{ordinal}", doc.id, doc.version),
        document_id: doc.id.clone(),
        document_version: doc.version,
        ordinal,
        page: Some(ordinal + 1),
        section_path: "政策 > 住宿".into(),
        char_start: ordinal * 100,
        char_end: ordinal * 100 + 100,
        embed_tokens: 90,
        qwen_tokens: 80,
        content_hash: format!("c{ordinal}"),
        boxes: vec![[0.1, 0.2, 0.9, 0.25]],
    }
}

async fn chunks_follow_their_document_version(db: &TestDb) {
    let s = &db.store;
    let (v1, _) = s.upsert_document(&doc("x.pdf", "h1")).await.unwrap();
    s.replace_chunks(&v1.id, 1, &[chunk(&v1, 0), chunk(&v1, 1), chunk(&v1, 2)])
        .await
        .unwrap();
    assert_eq!(s.chunks(&v1.id).await.unwrap().len(), 3);

    let (v2, _) = s.upsert_document(&doc("x.pdf", "h2")).await.unwrap();
    // A writer still holding version 1 must not overwrite version 2.
    let stale = s.replace_chunks(&v1.id, 1, &[chunk(&v1, 0)]).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    s.replace_chunks(&v2.id, 2, &[chunk(&v2, 0)]).await.unwrap();
    let now = s.chunks(&v2.id).await.unwrap();
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].document_version, 2);
    assert_eq!(now[0], chunk(&v2, 0));

    s.delete_document(&v2.id).await.unwrap();
    assert!(s.chunks(&v2.id).await.unwrap().is_empty());
}

async fn jobs_record_their_lifecycle(db: &TestDb) {
    let s = &db.store;
    let job = s
        .create_job("/srv/docs", "handbook", &["hr".into()], "alice")
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert!(job.started_at.is_none() && job.finished_at.is_none());

    let mut p = JobProgress {
        files_total: 10,
        ..Default::default()
    };
    let running = s
        .update_job(&job.id, None, JobStatus::Running, &p, None)
        .await
        .unwrap();
    assert!(running.started_at.is_some() && running.finished_at.is_none());
    p.files_done = 8;
    p.files_failed = 1;
    p.files_skipped = 1;
    p.chunks_written = 321;
    let done = s
        .update_job(&job.id, None, JobStatus::Succeeded, &p, None)
        .await
        .unwrap();
    assert_eq!(
        (
            done.files_total,
            done.files_done,
            done.files_failed,
            done.files_skipped,
            done.chunks_written
        ),
        (10, 8, 1, 1, 321)
    );
    assert_eq!(done.started_at, running.started_at);
    assert!(done.finished_at.is_some());

    let second = s
        .create_job("/srv/more", "handbook", &[], "bob")
        .await
        .unwrap();
    let ids: Vec<_> = s
        .list_jobs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert!(ids.contains(&job.id) && ids.contains(&second.id));
    assert!(matches!(
        s.job("missing").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn jobs_are_claimed_once_under_a_lease_and_resumed_when_it_runs_out(db: &TestDb) {
    let s = &db.store;
    // A job made without a spec (the CLI's own runs) is never claimed.
    s.create_job("/srv/cli", "handbook", &[], "cli")
        .await
        .unwrap();
    let first = s
        .enqueue_job("/srv/a", "handbook", &["hr".into()], "alice", "{\"a\":1}")
        .await
        .unwrap();
    let second = s
        .enqueue_job("/srv/b", "handbook", &[], "bob", "{\"b\":2}")
        .await
        .unwrap();
    assert_eq!((first.status, first.attempts), (JobStatus::Queued, 0));

    // Two workers asking at once get different jobs, oldest first.
    let (a, b) = tokio::join!(s.claim_job("node-a", 60_000), s.claim_job("node-b", 60_000));
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_ne!(a.record.id, b.record.id);
    let mut ids = [a.record.id.clone(), b.record.id.clone()];
    ids.sort();
    let mut want = [first.id.clone(), second.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let by_a = if a.record.id == first.id { &a } else { &b };
    assert_eq!(by_a.spec, "{\"a\":1}");
    assert_eq!(a.record.status, JobStatus::Running);
    assert_eq!(a.record.attempts, 1);
    assert!(s.claim_job("node-c", 60_000).await.unwrap().is_none());

    // Renewing keeps it; a worker that does not hold it is told so.
    let (held, other) = (&a.record.id, &b.record.id);
    let worker_of = |c: &ClaimedJob| c.record.worker.clone().unwrap();
    assert_eq!(
        s.renew_job(held, &worker_of(&a), 60_000).await.unwrap(),
        Lease::Held { cancel: false }
    );
    assert_eq!(
        s.renew_job(held, "node-c", 60_000).await.unwrap(),
        Lease::Lost
    );

    // A cancel request reaches the running job's worker at its renewal.
    let asked = s.request_cancel(other).await.unwrap();
    assert!(asked.cancel_requested && asked.status == JobStatus::Running);
    assert_eq!(
        s.renew_job(other, &worker_of(&b), 60_000).await.unwrap(),
        Lease::Held { cancel: true }
    );

    // The worker of `held` stops renewing (it died): once its lease has
    // run out, another node takes the job over, and the old worker can
    // neither renew nor write any more.
    s.renew_job(held, &worker_of(&a), -1).await.unwrap();
    let resumed = s.claim_job("node-c", 60_000).await.unwrap().unwrap();
    assert_eq!(resumed.record.id, *held);
    assert_eq!(resumed.record.attempts, 2);
    assert_eq!(resumed.record.worker.as_deref(), Some("node-c"));
    assert_eq!(resumed.record.started_at, a.record.started_at);
    assert_eq!(
        s.renew_job(held, &worker_of(&a), 60_000).await.unwrap(),
        Lease::Lost
    );
    let p = JobProgress::default();
    assert!(matches!(
        s.update_job(held, Some(&worker_of(&a)), JobStatus::Cancelled, &p, None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let done = s
        .update_job(held, Some("node-c"), JobStatus::Succeeded, &p, None)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    // A finished job is not claimed again, even with its lease long gone.
    assert!(s.claim_job("node-d", 60_000).await.unwrap().is_none());

    // A queued job that is cancelled never starts.
    let queued = s
        .enqueue_job("/srv/c", "handbook", &[], "carol", "{}")
        .await
        .unwrap();
    let cancelled = s.request_cancel(&queued.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(s.claim_job("node-d", 60_000).await.unwrap().is_none());
    assert!(matches!(
        s.request_cancel("missing").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_job_whose_workers_keep_dying_is_given_up(db: &TestDb) {
    let s = &db.store;
    let job = s
        .enqueue_job("/srv/crash", "handbook", &[], "alice", "{}")
        .await
        .unwrap();
    // Three workers claim it and die (their leases run out at once).
    for attempt in 1..=3 {
        let claimed = s.claim_job(&format!("node-{attempt}"), -1).await.unwrap();
        let claimed = claimed.expect("claimed again while attempts remain");
        assert_eq!(
            (claimed.record.id.as_str(), claimed.record.attempts),
            (job.id.as_str(), attempt)
        );
    }
    // The next look fails it, saying why, instead of crashing a fourth node.
    assert!(s.claim_job("node-4", 60_000).await.unwrap().is_none());
    let failed = s.job(&job.id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.error.unwrap_or_default().contains("stopped 3 times"));
}

async fn rate_buckets_are_one_across_nodes_and_refill(db: &TestDb) {
    // Two nodes: two pools on one database.
    let a = &db.store;
    let b = SqlStore::connect(&common::config(&db.url)).await.unwrap();
    let key = format!("key:{}", uuid_like());
    // A burst of 3 at 60 a minute, taken from both nodes in turn.
    for (i, node) in [a, &b, a].into_iter().enumerate() {
        assert_eq!(
            node.take_token(&key, 60, 3).await.unwrap(),
            None,
            "token {i}"
        );
    }
    let wait = b
        .take_token(&key, 60, 3)
        .await
        .unwrap()
        .expect("the fourth is refused");
    assert!(
        wait > std::time::Duration::ZERO && wait <= std::time::Duration::from_secs(1),
        "{wait:?}"
    );
    assert!(
        a.take_token(&key, 60, 3).await.unwrap().is_some(),
        "on either node"
    );
    // Another key has its own bucket; a limit of 0 grants everything.
    assert_eq!(a.take_token("other", 60, 3).await.unwrap(), None);
    assert_eq!(a.take_token(&key, 0, 3).await.unwrap(), None);
    // A second later one token is back, and only one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(b.take_token(&key, 60, 3).await.unwrap(), None);
    assert!(a.take_token(&key, 60, 3).await.unwrap().is_some());
}

/// A key no other run of the suite uses (the PostgreSQL database is
/// shared between runs).
fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn users_and_keys(db: &TestDb) {
    let s = &db.store;
    let new = NewUser {
        username: "张伟".into(),
        display_name: "Zhang Wei".into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
        roles: vec![Role::Employee, Role::KnowledgeAdmin],
        access_groups: vec!["finance".into()],
    };
    let u = s.create_user(&new).await.unwrap();
    assert_eq!(u.roles, vec![Role::Employee, Role::KnowledgeAdmin]);
    assert!(u.disabled_at.is_none());
    let dup = s.create_user(&new).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(ref m)) if m.contains("张伟")),
        "{dup:?}"
    );

    let synced = s
        .set_user_access(
            "张伟",
            &[Role::ComplianceOfficer],
            &["法务".into(), "legal".into()],
        )
        .await
        .unwrap();
    assert_eq!(synced.roles, vec![Role::ComplianceOfficer]);
    assert_eq!(
        synced.access_groups,
        vec!["法务".to_string(), "legal".into()]
    );
    assert_eq!(
        synced.password_hash, u.password_hash,
        "nothing else changes"
    );
    assert!(matches!(
        s.set_user_access("nobody", &[Role::Employee], &[]).await,
        Err(StoreError::NotFound { .. })
    ));

    let disabled = s.disable_user("张伟").await.unwrap();
    assert!(disabled.disabled_at.is_some());
    assert_eq!(s.list_users().await.unwrap().len(), 1);
    assert!(matches!(
        s.disable_user("nobody").await,
        Err(StoreError::NotFound { .. })
    ));

    let key = NewApiKey {
        user_id: u.id.clone(),
        name: "ci bot".into(),
        prefix: "zk_ab12cd34".into(),
        key_hash: "hash".into(),
        roles: vec![Role::Employee],
    };
    let k = s.create_api_key(&key).await.unwrap();
    assert_eq!(s.api_key_by_prefix("zk_ab12cd34").await.unwrap().id, k.id);
    assert!(matches!(
        s.create_api_key(&key).await,
        Err(StoreError::Conflict(_))
    ));
    s.revoke_api_key(&k.id).await.unwrap();
    assert!(
        s.api_key_by_prefix("zk_ab12cd34")
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );
}

fn link(seq: i64, prev: &str) -> AuditRecord {
    AuditRecord {
        seq,
        id: format!("ev{seq}"),
        occurred_at: 1_700_000_000_000 + seq,
        actor: "alice".into(),
        action: "search".into(),
        outcome: "ok".into(),
        client_addr: Some("10.0.0.7".into()),
        payload: serde_json::json!({"hits": [1, 2], "query": "报销流程 reimbursement"}),
        payload_json: r#"{"hits":[1,2],"query":"报销流程 reimbursement"}"#.into(),
        encoding: 2,
        prev_hash: prev.into(),
        hash: format!("h{seq}"),
        search_text: "报销流程 reimbursement".into(),
        document_ids: " d1 d2 ".into(),
    }
}

async fn audit_trail_is_append_only(db: &TestDb) {
    let s = &db.store;
    assert!(s.last_audit().await.unwrap().is_none());
    s.append_audit(&link(1, "genesis")).await.unwrap();
    s.append_audit(&link(2, "h1")).await.unwrap();
    assert_eq!(s.last_audit().await.unwrap(), Some(link(2, "h1")));
    assert_eq!(
        s.audit_after(0, 10).await.unwrap(),
        vec![link(1, "genesis"), link(2, "h1")]
    );
    assert_eq!(s.audit_after(1, 10).await.unwrap().len(), 1);

    // A second writer that read the same tail loses, instead of forking the chain.
    let mut fork = link(2, "h1");
    fork.id = "other".into();
    fork.hash = "other".into();
    assert!(matches!(
        s.append_audit(&fork).await,
        Err(StoreError::Conflict(_))
    ));

    // Not even raw SQL can rewrite or remove history.
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let update = conn
        .execute("UPDATE audit_events SET outcome = 'refused' WHERE seq = 1")
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM audit_events WHERE seq = 1").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(s.audit_after(0, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let store = SqlStore::connect_lazy(&DatabaseConfigExt::unreachable()).unwrap();
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("the database is unavailable"),
        "{err}"
    );
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = SqlStore::connect_lazy(&common::config("mysql://root:pw@localhost/x")).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidUrl(ref m) if !m.contains("pw")),
        "{err}"
    );
}

struct DatabaseConfigExt;
impl DatabaseConfigExt {
    fn unreachable() -> zhishu_core::config::DatabaseConfig {
        let mut c = common::config("postgres://zhishu@127.0.0.1:1/zhishu");
        c.connect_timeout_secs = 2;
        c
    }
}

async fn conversations_belong_to_their_owner(db: &TestDb) {
    let s = &db.store;
    let c = s.create_conversation("alice", "报销流程?").await.unwrap();
    let msg = |role: &str, text: &str| NewMessage {
        role: role.into(),
        content: text.into(),
        reasoning: None,
        citations: serde_json::json!([{"n": 1, "document_id": "d1"}]),
        audit_event_id: Some("ev-1".into()),
    };
    s.append_messages(
        "alice",
        &c.id,
        &[msg("user", "报销流程?"), msg("assistant", "See [1].")],
    )
    .await
    .unwrap();
    s.append_messages("alice", &c.id, &[msg("user", "and abroad?")])
        .await
        .unwrap();
    let m = s.messages("alice", &c.id).await.unwrap();
    assert_eq!(
        m.iter()
            .map(|m| (m.seq, m.role.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "user"), (2, "assistant"), (3, "user")]
    );
    assert_eq!(m[1].citations[0]["document_id"], "d1");
    assert_eq!(m[0].content, "报销流程?");

    // Bob knows the id but reaches nothing, and cannot write into it.
    assert!(matches!(
        s.conversation("bob", &c.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.messages("bob", &c.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.append_messages("bob", &c.id, &[msg("user", "hi")]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.messages("alice", &c.id).await.unwrap().len(), 3);
    s.create_conversation("bob", "mine").await.unwrap();
    let alice = s.list_conversations("alice", 50, 0).await.unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].title, "报销流程?");
    assert_eq!(s.list_conversations("bob", 50, 0).await.unwrap().len(), 1);
}
