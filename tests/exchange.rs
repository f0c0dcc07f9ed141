//! One exchange service under both front ends, and the audit life of every
//! exchange: an `exchange.started` event before the first byte of an
//! answer, a closing event whatever the client does (streaming or not),
//! `interrupted` after a `kill -9`, refusals recorded, error bodies that
//! show nothing of the server's insides, and the CLI and HTTP recording
//! the same fields for the same question.

mod common;

use common::{Server, bearer, request};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn post(server: &Server, key: &str, path: &str, body: &str) -> (u16, Value) {
    let auth = bearer(key);
    let (status, _, text) = request(
        "POST",
        &server.url(path),
        &[("authorization", auth.as_str())],
        Some(body),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn events(server: &Server, key: &str, query: &str) -> Vec<Value> {
    let auth = bearer(key);
    let (status, _, text) = request(
        "GET",
        &server.url(&format!("/v1/audit/events?limit=1000&{query}")),
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["events"].as_array().unwrap().clone()
}

/// Polls the audit trail until an event matches.
fn wait_for(server: &Server, key: &str, query: &str, what: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some(e) = events(server, key, query).into_iter().find(|e| what(e)) {
            return e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no audit event with {query} matched; the trail: {:#}",
            Value::Array(events(server, key, ""))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Opens a raw HTTP/1.1 connection, sends a chat request and returns the
/// stream once the first line of the body (or of the head, `head_only`)
/// arrived.
fn open_chat(server: &Server, key: &str, body: &Value, until: &str) -> BufReader<TcpStream> {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let body = body.to_string();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(tcp);
    if until.is_empty() {
        return reader;
    }
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if line.contains(until) {
            return reader;
        }
    }
}

fn long_question(question: &str, stream: bool) -> Value {
    json!({"messages": [{"role": "user", "content": question}], "stream": stream,
        "max_tokens": 3000, "zhishu": {"retrieval": false}})
}

#[test]
fn every_exchange_is_recorded_before_it_answers_and_closed_whatever_happens() {
    let mut server = Server::start();
    let alice = server.user_with_key("alice", &["employee"], &["hr"]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);

    // Streaming: when the first byte of the answer arrives, the trail
    // already holds the exchange; the client leaving closes it.
    let q1 = "Write a very long story about a lighthouse.";
    let stream = open_chat(&server, &alice, &long_question(q1, true), "data: ");
    let started = events(&server, &officer, "action=exchange.started")
        .into_iter()
        .find(|e| e["event"]["question"] == q1)
        .expect("exchange.started is committed before the first byte");
    assert_eq!(started["actor"], "alice");
    let exchange = started["event"]["exchange_id"].as_str().unwrap().to_owned();
    assert_eq!(
        started["event"]["input"]["scope"],
        json!(["hr", "public"]),
        "{started}"
    );
    drop(stream);
    let closed = wait_for(
        &server,
        &officer,
        "action=chat.completion&outcome=cancelled",
        |e| e["event"]["exchange_id"] == exchange.as_str(),
    );
    assert!(
        closed["event"]["error"]
            .as_str()
            .unwrap()
            .contains("closed the connection"),
        "{closed}"
    );

    // Not streaming: a client that gives up waiting is recorded too (it
    // used to leave no record at all), and the engine is freed.
    let q2 = "Write a very long story about a windmill.";
    let waiting = open_chat(&server, &alice, &long_question(q2, false), "");
    wait_for(&server, &officer, "action=exchange.started", |e| {
        e["event"]["question"] == q2
    });
    drop(waiting);
    wait_for(
        &server,
        &officer,
        "action=chat.completion&outcome=cancelled",
        |e| e["event"]["question"] == q2,
    );

    // Refusals are recorded: a 400 leaves an event with its reason.
    for (body, code) in [
        (r#"{"messages": []}"#, "invalid_request"),
        (r#"{"messages": [}"#, "invalid_json"),
        (
            r#"{"messages": [{"role": "user", "content": "hi"}], "zhishu": {"k": 0}}"#,
            "invalid_k",
        ),
    ] {
        let (status, err) = post(&server, &alice, "/v1/chat/completions", body);
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some(code)),
            "{err}"
        );
        let message = err["error"]["message"].as_str().unwrap().to_owned();
        wait_for(
            &server,
            &officer,
            "action=chat.completion&outcome=error",
            |e| e["event"]["error"].as_str() == Some(message.as_str()),
        );
    }
    let (status, err) = post(&server, &alice, "/v1/search", r#"{"query": "  "}"#);
    assert_eq!(status, 400, "{err}");
    wait_for(&server, &officer, "action=search&outcome=error", |e| {
        e["event"]["error"] == "`query` is empty"
    });

    // kill -9 while answering: the next start closes the exchange as
    // interrupted, and the chain verifies.
    let q3 = "Write a very long story about a harbour.";
    let stream = open_chat(&server, &alice, &long_question(q3, true), "data: ");
    let started = wait_for(&server, &officer, "action=exchange.started", |e| {
        e["event"]["question"] == q3
    });
    let exchange = started["event"]["exchange_id"].as_str().unwrap().to_owned();
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));
    drop(stream);
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    drop(server);
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(dir, &url, &[]);
    server.wait_ready(200);
    let interrupted = wait_for(&server, &officer, "outcome=interrupted", |e| {
        e["event"]["exchange_id"] == exchange.as_str()
    });
    assert_eq!(interrupted["action"], "chat.completion");
    assert_eq!(interrupted["actor"], "alice");
    let auth = bearer(&officer);
    let (status, _, text) = request(
        "GET",
        &server.url("/v1/audit/verify"),
        &[("authorization", auth.as_str())],
        None,
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    // Every started exchange has exactly one closing event.
    let all = events(&server, &officer, "");
    for s in all.iter().filter(|e| e["action"] == "exchange.started") {
        let id = &s["event"]["exchange_id"];
        let closings = all
            .iter()
            .filter(|e| e["action"] != "exchange.started" && &e["event"]["exchange_id"] == id)
            .count();
        assert_eq!(closings, 1, "exchange {id}");
    }
}

#[test]
fn error_bodies_show_nothing_of_the_servers_insides() {
    // A server whose model and stores cannot load, and whose database is
    // reachable: every failure must be a fixed, public sentence.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(
        dir,
        &url,
        &[("ZHISHU_ENGINE__MODEL", "/nonexistent/secret-model.gguf")],
    );
    // Never ready (no model); wait until the database is migrated.
    server.wait_ready(503);
    std::thread::sleep(Duration::from_secs(2));
    let alice = server.user_with_key("alice", &["employee"], &[]);
    let leaks = [
        "/nonexistent",
        "secret-model",
        "sqlx",
        "SELECT",
        "Error(",
        "zhishu_",
        "::",
    ];
    let cases = [
        (
            "POST",
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
        ),
        (
            "POST",
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "hi"}], "stream": true}"#,
        ),
        ("GET", "/v1/models", ""),
        ("GET", "/v1/conversations/nope", ""),
        ("POST", "/v1/search", r#"{"query": "hi", "k": 1000}"#),
    ];
    let auth = bearer(&alice);
    for (method, path, body) in cases {
        let (status, headers, text) = request(
            method,
            &server.url(path),
            &[("authorization", auth.as_str())],
            (!body.is_empty()).then_some(body),
        );
        assert!(status >= 400, "{method} {path}: {status} {text}");
        for leak in leaks {
            assert!(
                !text.contains(leak),
                "{method} {path} leaks {leak:?}: {text}"
            );
        }
        let v: Value = serde_json::from_str(&text).unwrap();
        let id = common::header(&headers, "x-request-id").unwrap();
        assert_eq!(v["error"]["request_id"], id, "{text}");
    }
}

#[test]
fn the_cli_and_http_record_the_same_fields_for_the_same_question() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("handbook.md"),
        "# Handbook\n\nThe office opens at nine in the morning. 办公室早上九点开门。\n",
    )
    .unwrap();
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let config = dir.path().join("zhishu.toml");
    std::fs::write(&config, common::config_text(dir.path(), &url)).unwrap();
    let config = config.display().to_string();
    let question = "When does the office open?";
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        let (code, out, err) = common::run_cli(&all, &[], dir.path());
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    cli(&[
        "ingest",
        &docs.display().to_string(),
        "--collection",
        "company",
    ]);
    let out = cli(&["ask", question, "--max-tokens", "8", "--json"]);
    let cli_id = serde_json::from_str::<Value>(&out).unwrap()["audit_event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let server = Server::start_with(dir, &url, &[]);
    server.wait_ready(200);
    let alice = server.user_with_key("alice", &["employee"], &[]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);
    let (status, a) = post(
        &server,
        &alice,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": question}], "max_tokens": 8}).to_string(),
    );
    assert_eq!(status, 200, "{a}");
    let http_id = a["zhishu"]["audit_event_id"].as_str().unwrap();

    let all = events(&server, &officer, "");
    let by_id = |id: &str| all.iter().find(|e| e["id"] == id).unwrap()["event"].clone();
    let started_of = |closing: &Value| {
        all.iter()
            .find(|e| {
                e["action"] == "exchange.started"
                    && e["event"]["exchange_id"] == closing["exchange_id"]
            })
            .unwrap()["event"]
            .clone()
    };
    let (from_cli, from_http) = (by_id(&cli_id), by_id(http_id));
    // Who and where differ (system:cli, no address or request id); the
    // record of the exchange is the same. Citations follow the sampled
    // answer (unseeded here): an answer that cites nothing has none.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !["actor", "client_addr", "request_id", "citations"].contains(&k.as_str()))
            .cloned()
            .collect();
        k.sort();
        k
    };
    for (c, h) in [
        (from_cli.clone(), from_http.clone()),
        (started_of(&from_cli), started_of(&from_http)),
        (from_cli["input"].clone(), from_http["input"].clone()),
    ] {
        assert_eq!(keys(&c), keys(&h), "CLI {c}\nHTTP {h}");
    }
    for field in ["question", "retrieved", "prompt", "model"] {
        assert_eq!(from_cli[field], from_http[field], "{field}");
    }
    for field in [
        "k",
        "filters",
        "scope",
        "retrieval",
        "search_query",
        "sources_in_prompt",
    ] {
        assert_eq!(
            from_cli["input"][field], from_http["input"][field],
            "input.{field}"
        );
    }
    assert_eq!(
        (
            from_cli["input"]["via"].as_str(),
            from_http["input"]["via"].as_str()
        ),
        (Some("cli"), Some("http"))
    );
    assert!(!from_cli["retrieved"].as_array().unwrap().is_empty());
}

#[test]
fn questions_can_be_kept_as_hashes_only() {
    use sha2::Digest;
    let server = Server::start_env(&[("ZHISHU_AUDIT__STORE_QUESTIONS", "false")]);
    let alice = server.user_with_key("alice", &["employee"], &[]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);
    let question = "我的工资条在哪里？ Where is my payslip?";
    let (status, a) = post(
        &server,
        &alice,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": question}], "max_tokens": 2,
            "zhishu": {"retrieval": false}})
        .to_string(),
    );
    assert_eq!(status, 200, "{a}");
    let (status, hits) = post(
        &server,
        &alice,
        "/v1/search",
        &json!({"query": question}).to_string(),
    );
    assert_eq!(status, 200, "{hits}");
    let hash: String = sha2::Sha256::digest(question.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let all = events(&server, &officer, "");
    let kept: Vec<&Value> = all
        .iter()
        .filter(|e| {
            ["exchange.started", "chat.completion", "search"]
                .contains(&e["action"].as_str().unwrap())
        })
        .collect();
    assert_eq!(kept.len(), 3, "{all:?}");
    for e in kept {
        assert!(e["event"].get("question").is_none(), "{e}");
        assert_eq!(e["event"]["question_sha256"], hash.as_str(), "{e}");
        assert!(!e.to_string().contains("payslip"), "{e}");
    }
    // The asker's own conversation keeps the question.
    let conversation = a["zhishu"]["conversation_id"].as_str().unwrap();
    let auth = bearer(&alice);
    let (_, _, text) = request(
        "GET",
        &server.url(&format!("/v1/conversations/{conversation}")),
        &[("authorization", auth.as_str())],
        None,
    );
    assert!(text.contains("payslip"), "{text}");
}
