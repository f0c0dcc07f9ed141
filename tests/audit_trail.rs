//! The compliance officer's view of the audit trail over HTTP: search with
//! filters and cursors, one event, streamed export, verification that
//! catches tampering, and requests refused when the audit store is down.

mod common;

use common::{Server, bearer, header, request};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn search_read_export_and_verify() {
    let server = Server::start();
    let officer = bearer(&server.user_with_key("officer", &["compliance_officer"], &[]));
    let (code, _, _) = server.cli(
        &["users", "add", "李雷", "--role", "employee"],
        "long-enough-pw\n",
    );
    assert_eq!(code, 0);
    let login = server.url("/v1/auth/login");
    for pw in ["wrong-1", "wrong-2", "long-enough-pw"] {
        request(
            "POST",
            &login,
            &[],
            Some(&format!(r#"{{"username":"李雷","password":"{pw}"}}"#)),
        );
    }
    let events = |query: &str| -> serde_json::Value {
        let (status, _, body) = request(
            "GET",
            &server.url(&format!("/v1/audit/events{query}")),
            &[("authorization", &officer)],
            None,
        );
        assert_eq!(status, 200, "{query}: {body}");
        json(&body)
    };

    let page = events("?user=%E6%9D%8E%E9%9B%B7");
    let actions: Vec<(&str, &str)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("auth.login", "ok"),
            ("auth.login", "refused"),
            ("auth.login", "refused")
        ]
    );
    let first = &page["events"][2];
    assert_eq!(first["event"]["error"], "invalid username or password");
    assert_eq!(first["client_addr"], "127.0.0.1");
    assert!(
        first["event"]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);

    assert_eq!(
        events("?outcome=refused&action=auth.login")["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        events("?action=user.")["events"].as_array().unwrap().len(),
        2,
        "user.create twice"
    );
    let (status, _, body) = request(
        "GET",
        &server.url("/v1/audit/events?outcome=maybe"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_outcome"));
    let (status, _, body) = request(
        "GET",
        &server.url("/v1/audit/events?from=yesterday"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!((status, body.contains("YYYY-MM-DD")), (400, true), "{body}");
    let (status, _, body) = request(
        "GET",
        &server.url("/v1/audit/events?secret=1"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 400, "unknown filters are refused: {body}");
    assert!(
        events("?from=2999-01-01")["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Cursor pagination walks everything exactly once, newest first.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = events(&format!("?limit=2{cursor}"));
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "no duplicates, newest first");
    assert_eq!(*seen.last().unwrap(), 1);

    let id = page["events"][0]["id"].as_str().unwrap();
    let (status, _, body) = request(
        "GET",
        &server.url(&format!("/v1/audit/events/{id}")),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(json(&body)["id"], id);
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/audit/events/nope"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 404);

    let (status, headers, body) = request(
        "GET",
        &server.url("/v1/audit/export?format=csv&user=%E6%9D%8E%E9%9B%B7"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("seq,id,time,actor,action,outcome"),
        "{body}"
    );
    assert_eq!(lines.len(), 4, "header and three events: {body}");
    assert!(lines[1].contains("李雷") && lines[1].contains("auth.login"));

    let (status, headers, body) = request(
        "GET",
        &server.url("/v1/audit/export"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/x-ndjson")
    );
    let total = body.lines().map(json).count();
    assert!(total >= 10, "{total}");
    let (status, _, body) = request(
        "GET",
        &server.url("/v1/audit/export?format=xml"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!((status, body.contains("invalid_format")), (400, true));

    let (status, _, body) = request(
        "GET",
        &server.url("/v1/audit/verify"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["ok"], true, "{v}");

    // The compliance officer's own queries are on the record.
    let mine = events("?user=officer&action=audit.");
    let kinds: Vec<&str> = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for k in ["audit.search", "audit.read", "audit.export", "audit.verify"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }

    // Someone with database access rewrites an answer: verify names the event.
    let db = server.dir.path().join("data/zhishu.db");
    let sql = "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET outcome = 'error' WHERE seq = 3;";
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import sqlite3; c = sqlite3.connect({:?}); c.executescript({sql:?}); c.commit()",
                db.display().to_string()
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let (_, _, body) = request(
        "GET",
        &server.url("/v1/audit/verify"),
        &[("authorization", &officer)],
        None,
    );
    let v = json(&body);
    assert_eq!(
        (
            v["ok"].as_bool(),
            v["problem"]["seq"].as_i64(),
            v["problem"]["kind"].as_str()
        ),
        (Some(false), Some(3), Some("modified")),
        "{v}"
    );
    let (code, out, _) = server.cli(&["audit", "verify"], "");
    assert_eq!(code, 1, "the CLI fails on a broken chain: {out}");
    assert!(out.contains("BROKEN at event #3"), "{out}");

    // Retention is off unless configured, and never hides a broken chain.
    let (code, _, err) = server.cli(&["audit", "purge"], "");
    assert_eq!(code, 1);
    assert!(err.contains("retention is not configured"), "{err}");
}

#[test]
fn requests_fail_closed_when_the_audit_store_is_down() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL not set: skipping");
        return;
    };
    // A database of its own, reached through a proxy the test can cut.
    let name = format!("zhishu_fc_{}", std::process::id());
    let base = admin.rsplit_once('/').unwrap().0.to_string();
    let psql = |sql: &str| {
        let ok = std::process::Command::new("psql")
            .args([&admin, "-qc", sql])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{sql}");
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let (scheme_user, rest) = base.split_once('@').unwrap();
    let hostport = if rest.contains(':') {
        rest.to_string()
    } else {
        format!("{rest}:5432")
    };
    let cut = Arc::new(AtomicBool::new(false));
    let addr = common::cuttable_proxy(hostport, cut.clone());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir, &format!("{scheme_user}@{addr}/{name}"), &[]);
    server.wait_ready(200);
    let officer = bearer(&server.user_with_key("officer", &["compliance_officer"], &[]));
    let (status, _, _) = request(
        "GET",
        &server.url("/v1/audit/events"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 200);

    cut.store(true, Ordering::Relaxed);
    // Let the proxy notice and drop the pooled connections.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, headers, body) = request(
        "GET",
        &server.url("/v1/audit/events"),
        &[("authorization", &officer)],
        None,
    );
    assert_eq!(status, 503, "{body}");
    assert!(header(&headers, "retry-after").is_some());
    let err = json(&body);
    assert_eq!(err["error"]["code"], "unavailable");
    assert!(!body.contains("\"events\""), "nothing was answered: {body}");
    let (status, _, body) = request(
        "POST",
        &server.url("/v1/auth/login"),
        &[],
        Some(r#"{"username":"officer","password":"password-of-test"}"#),
    );
    assert_eq!(status, 503, "{body}");
    let ready = server.wait_ready(503);
    assert_eq!(ready["checks"][0]["ok"], false, "{ready}");
    assert_eq!(
        (
            ready["checks"][1]["name"].as_str(),
            ready["checks"][1]["ok"].as_bool()
        ),
        (Some("audit"), Some(false)),
        "{ready}"
    );
    drop(server);
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
