//! `zhishu serve` end to end: health, readiness, metrics, OpenAPI, errors,
//! request ids, logs and graceful shutdown, over real HTTP.

mod common;

use common::{Server, get, get_text, post_raw};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn operational_endpoints_of_a_started_server() {
    let server = Server::start();

    let (status, health) = get(&server.url("/healthz"));
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "all");

    let ready = server.wait_ready(200);
    assert_eq!(ready["status"], "ready");
    let names: Vec<_> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "database",
            "audit",
            "embedder",
            "vectors",
            "lexical",
            "documents",
            "engine"
        ]
    );
    // The document readers say which engines run.
    let documents = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "documents")
        .unwrap();
    let detail = documents["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("PDF: pdfium; OCR: tesseract (chi_sim+eng)"),
        "{detail}"
    );
    assert!(
        ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{ready}"
    );
    assert!(
        server.dir.path().join("data/zhishu.db").exists(),
        "SQLite file under data_dir"
    );

    let (status, headers, text) = get_text(&server.url("/metrics"), &[]);
    assert_eq!(status, 200);
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert!(
        content_type.unwrap_or_default().starts_with("text/plain"),
        "{content_type:?}"
    );
    assert!(
        text.contains(
            r#"zhishu_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"zhishu_readiness{check="database"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("zhishu_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("zhishu_build_info"), "{text}");

    let (status, doc) = get(&server.url("/openapi.json"));
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/readyz",
        "/v1/auth/login",
        "/v1/audit/verify",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "{doc}"
    );
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
}

#[test]
fn errors_are_json_and_requests_carry_ids() {
    let server = Server::start();

    let (status, headers, body) = get_text(&server.url("/v1/nothing-here"), &[]);
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing-here")
    );
    let generated = headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let (_, headers, _) = get_text(
        &server.url("/healthz"),
        &[("x-request-id", "trace-abc.123")],
    );
    assert!(headers.contains(&("x-request-id".into(), "trace-abc.123".into())));
    // An id that could forge log lines is replaced, not echoed.
    let (_, headers, _) = get_text(
        &server.url("/healthz"),
        &[("x-request-id", "bad id\twith spaces")],
    );
    let id = headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_ne!(id, "bad id\twith spaces");

    let (status, body) = post_raw(&server.url("/healthz"), "application/json", "{not json");
    assert_eq!(status, 404, "only GET is routed: {body}");
    assert_eq!(body["error"]["code"], "not_found");

    // The access log line carries the request id inside the request span.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("request_id=trace-abc.123") && l.contains("request finished"))
    );
}

#[test]
fn json_logs_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(dir, &url, &[("ZHISHU_LOGGING__FORMAT", "json")]);
    get_text(&server.url("/healthz"), &[("x-request-id", "json-log-1")]);
    std::thread::sleep(Duration::from_millis(200));
    let logs = server.logs();
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "json-log-1")
        .unwrap_or_else(|| panic!("no access line with the request id: {logs:?}"));
    assert_eq!(access["fields"]["status"], 200);
    assert_eq!(access["level"], "INFO");
}

/// A TCP listener that accepts connections and never answers: a database
/// that hangs.
fn black_hole() -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            if flag.load(Ordering::Relaxed) {
                break;
            }
            if let Ok(c) = conn {
                held.push(c);
            }
        }
    });
    (addr, stop)
}

#[test]
fn readiness_fails_when_the_database_is_unreachable() {
    // Nothing listens on port 1.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir, "postgres://zhishu@127.0.0.1:1/zhishu", &[]);
    let (status, health) = get(&server.url("/healthz"));
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "liveness does not depend on the database"
    );
    let body = server.wait_ready(503);
    assert_eq!(body["status"], "not_ready");
    let checks = body["checks"].as_array().unwrap();
    let db = checks.iter().find(|c| c["name"] == "database").unwrap();
    assert_eq!(db["ok"], false);
    let detail = db["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("postgres: the database is unavailable"),
        "{detail}"
    );
    let audit = checks.iter().find(|c| c["name"] == "audit").unwrap();
    assert_eq!(
        audit["ok"], false,
        "the audit store is the database: {audit}"
    );
    // The local stores are fine; only the database-backed checks fail (the
    // embedder may still be loading, so it is not asserted here).
    for other in checks
        .iter()
        .filter(|c| c["name"] == "vectors" || c["name"] == "lexical")
    {
        assert_eq!(other["ok"], true, "{other}");
    }
    let (_, _, metrics) = get_text(&server.url("/metrics"), &[]);
    assert!(
        metrics.contains(r#"zhishu_readiness{check="database"} 0"#),
        "{metrics}"
    );
}

#[test]
fn readiness_follows_postgres_going_away() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL not set: skipping");
        return;
    };
    // postgres://user@host:port/db → route host:port through the proxy.
    let (scheme_user, rest) = admin.split_once('@').expect("URL with user@host");
    let (hostport, db) = rest.split_once('/').expect("URL with a database");
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let addr = common::cuttable_proxy(hostport, stop.clone());
    let url = format!("{scheme_user}@{addr}/{db}");

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir, &url, &[]);
    let ready = server.wait_ready(200);
    assert!(
        ready["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("postgres: reachable"),
        "{ready}"
    );

    stop.store(true, Ordering::Relaxed);
    // The proxy drops its connections within a few milliseconds; until then
    // a pooled connection may still answer one check.
    std::thread::sleep(Duration::from_millis(300));
    let mut down = server.wait_ready(503);
    for _ in 0..20 {
        if down["checks"][0]["ok"] == false {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        down = server.wait_ready(503);
    }
    let db = &down["checks"][0];
    assert_eq!(
        (db["name"].as_str(), db["ok"].as_bool()),
        (Some("database"), Some(false)),
        "{down}"
    );
}

#[test]
fn sigterm_and_sigint_finish_in_flight_requests() {
    for signal in ["TERM", "INT"] {
        let (hole, _stop) = black_hole();
        let dir = tempfile::tempdir().unwrap();
        // The readiness check waits on a database that never answers, so
        // /readyz stays in flight for readiness_timeout_secs (2 s).
        let mut server = Server::start_with(
            dir,
            &format!("postgres://zhishu@{hole}/zhishu"),
            &[("ZHISHU_DATABASE__CONNECT_TIMEOUT_SECS", "30")],
        );
        let url = server.url("/readyz");
        let started = Instant::now();
        let request = std::thread::spawn(move || get(&url));
        std::thread::sleep(Duration::from_millis(500));
        server.signal(signal);
        let (status, body) = request.join().unwrap();
        assert_eq!(
            status, 503,
            "SIG{signal}: the in-flight request got its answer: {body}"
        );
        assert!(
            body["checks"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("no answer within 2 s"),
            "{body}"
        );
        assert!(started.elapsed() >= Duration::from_secs(2));
        let exit = server.wait_exit(Duration::from_secs(15));
        assert!(exit.success(), "SIG{signal}: clean exit, got {exit:?}");
        let logs = server.logs().join("\n");
        assert!(
            logs.contains(&format!("signal=\"SIG{signal}\""))
                || logs.contains(&format!("signal=SIG{signal}")),
            "{logs}"
        );
        assert!(logs.contains("shutdown complete"), "{logs}");
    }
}
