//! Ingest jobs under a lease, with real processes over real HTTP: a node
//! killed (SIGKILL) half-way through a job has it resumed by the next node
//! once the lease runs out, without redoing committed files or indexing
//! anything twice; progress of a job this node does not run streams from
//! the registry; a job cancelled on another node's queue stops.

mod common;

use common::{Server, bearer, call, write_reports};
use serde_json::json;
use std::time::{Duration, Instant};
use zhishu_store::SqlStore;

const FILES: usize = 150;

/// The whole body of a server-sent event stream, read until it ends.
fn read_events(server: &Server, path: &str, key: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut res = agent
        .get(&server.url(path))
        .header("authorization", &bearer(key))
        .call()
        .expect("events");
    assert_eq!(res.status().as_u16(), 200);
    res.body_mut().read_to_string().expect("event stream")
}

#[test]
fn a_node_killed_mid_job_has_it_resumed_by_the_next_with_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("reports");
    write_reports(&docs, FILES);
    let db = dir.path().join("data/zhishu.db");
    let lease = [("ZHISHU_INGEST__JOB_LEASE_SECS", "6")];
    let a = Server::start_over(dir, &docs, &lease);
    let key = a.user_with_key("lease-admin", &["knowledge_admin"], &["staff"]);
    let path = docs.display().to_string();
    let (status, body) = call(
        &a,
        "POST",
        "/v1/ingest/jobs",
        &key,
        Some(json!({"path": path, "access_groups": ["staff"]})),
    );
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_owned();
    let job = format!("/v1/ingest/jobs/{id}");

    // Kill node A once some files are committed, well before the end.
    let started = Instant::now();
    let before = loop {
        let (status, j) = call(&a, "GET", &job, &key, None);
        assert_eq!(status, 200, "{j}");
        let done = j["files_done"].as_u64().unwrap_or(0);
        if done >= 3 {
            break j;
        }
        assert!(
            j["status"] != "succeeded",
            "finished before it could be killed: {j}"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    };
    a.signal("KILL");
    assert!(
        before["files_done"].as_u64().unwrap() < FILES as u64,
        "{before}"
    );

    // Node B starts on the same database and stores while A's lease still
    // holds: the job is not B's yet, so its events come from the registry,
    // and they follow it through B's takeover to the end.
    let b = a.restart_over(&docs, &lease);
    let (_, queued) = call(
        &b,
        "POST",
        "/v1/ingest/jobs",
        &key,
        Some(json!({"path": path, "access_groups": ["staff"]})),
    );
    let second = queued["job_id"].as_str().unwrap().to_owned();
    // B is free (the first job is still A's) and takes this one at once;
    // cancelled, it stops.
    let (status, c) = call(
        &b,
        "DELETE",
        &format!("/v1/ingest/jobs/{second}"),
        &key,
        None,
    );
    assert_eq!(status, 202, "{c}");
    let events = read_events(&b, &format!("{job}/events"), &key);
    assert!(events.contains("event: progress"), "{events}");
    assert!(events.trim_end().contains("event: finished"), "{events}");

    let (_, done) = call(&b, "GET", &job, &key, None);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "resumed once: {done}");
    assert_ne!(
        done["worker"], before["worker"],
        "another node finished it: {done}"
    );
    // Files A committed were not redone: B found them unchanged.
    let summary = &done["summary"];
    let unchanged = summary["unchanged"].as_u64().unwrap_or(0);
    assert!(
        unchanged >= 1,
        "committed files are not indexed again: {done}"
    );
    let (_, cancelled) = call(&b, "GET", &format!("/v1/ingest/jobs/{second}"), &key, None);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");

    // Stop B and compare the stores with the registry: every document
    // once, at its version, no orphan chunk.
    let root = b.dir.path().to_path_buf();
    let mut b = b;
    b.signal("TERM");
    b.wait_exit(Duration::from_secs(30));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let store = SqlStore::connect(&zhishu_store::testing::config(&url))
            .await
            .unwrap();
        common::assert_stores_match_the_registry(&store, &root, FILES, "staff").await;
    });
}
