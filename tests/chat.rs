//! RAG chat over real HTTP with the small real model (SmolLM2-135M, GGUF):
//! grounded answers within the caller's access groups, OpenAI's wire format
//! (JSON and SSE), conversations per user, the audit record, bad input,
//! the official `openai` Python client, and `zhishu ask`.

mod common;

use common::{Server, bearer, ingest, repo_root, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A request with time for the CPU model to answer (a debug build of the
/// engine on two cores takes seconds per answer).
fn call(server: &Server, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let url = server.url(path);
    let auth = bearer(key);
    let mut res = match (method, body) {
        ("GET", _) => agent.get(&url).header("authorization", &auth).call(),
        (_, body) => agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(body.map(|b| b.to_string()).unwrap_or_default()),
    }
    .expect("HTTP request");
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn write_docs(root: &std::path::Path) {
    for (p, text) in [
        (
            "hr/salaries.md",
            "# Salary bands\n\nThe salary band for senior engineers is confidential: 薪资等级保密。\n",
        ),
        (
            "public/handbook.md",
            "# Handbook\n\nThe office opens at nine in the morning. 办公室早上九点开门。\n\n## Weekends\n\nOn weekends the office is closed. 周末办公室关闭。\n",
        ),
    ] {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn start() -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    write_docs(&docs);
    let server = Server::start_over(dir, &docs, &[]);
    let root = docs.display().to_string();
    (server, root)
}

/// The `data:` payloads of an SSE body.
fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

fn source_paths(answer: &Value) -> Vec<String> {
    answer["zhishu"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn chat_answers_from_the_callers_documents_streams_and_keeps_conversations() {
    let (server, root) = start();
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["hr"]);
    let bob = server.user_with_key("bob", &["employee"], &["eng"]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);
    ingest(&server, &admin, &format!("{root}/hr"), &["hr"]);
    ingest(&server, &admin, &format!("{root}/public"), &["public"]);

    let (status, models) = call(&server, "GET", "/v1/models", &bob, None);
    assert_eq!(status, 200, "{models}");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "zhishu");

    // A grounded answer: sources are the caller's documents only.
    let ask = |key: &str, q: &str, extra: Value| {
        let mut body = json!({
            "model": "zhishu",
            "messages": [{"role": "user", "content": q}],
            "max_tokens": 24,
            "temperature": 0,
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        call(&server, "POST", "/v1/chat/completions", key, Some(body))
    };
    let (status, a) = ask(
        &bob,
        "What is the salary band, and when does the office open?",
        json!({}),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["object"], "chat.completion");
    assert_eq!(a["choices"][0]["message"]["role"], "assistant");
    assert!(
        !a["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty(),
        "{a}"
    );
    let usage = &a["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 24);
    let titles = source_paths(&a);
    assert!(titles.contains(&"Handbook".to_owned()), "{titles:?}");
    assert!(
        !titles.contains(&"Salary bands".to_owned()),
        "bob is not in hr: {titles:?}"
    );
    let cited: Vec<u64> = a["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["n"].as_u64().unwrap())
        .collect();
    let labelled = a["zhishu"]["sources"].as_array().unwrap().len() as u64;
    assert!(cited.iter().all(|n| (1..=labelled).contains(n)), "{a}");
    let bob_first = a["zhishu"]["conversation_id"].as_str().unwrap().to_owned();

    // Alice (hr) does get the salary document.
    let (status, a) = ask(
        &alice,
        "What is the salary band for senior engineers?",
        json!({}),
    );
    assert_eq!(status, 200, "{a}");
    assert!(source_paths(&a).contains(&"Salary bands".to_owned()), "{a}");

    // Streaming: a role chunk, text deltas, a final chunk with the finish
    // reason, usage, citations and the conversation; then [DONE].
    let auth = bearer(&bob);
    let (status, headers, body) = {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let mut res = agent
            .post(&server.url("/v1/chat/completions"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(json!({"messages": [{"role": "user", "content": "办公室几点开门？"}], "stream": true, "max_tokens": 24, "temperature": 0}).to_string())
            .unwrap();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        (
            res.status().as_u16(),
            headers,
            res.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(status, 200, "{body}");
    assert!(
        common::header(&headers, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{body}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let last = chunks.last().unwrap();
    assert!(
        ["stop", "length"].contains(&last["choices"][0]["finish_reason"].as_str().unwrap()),
        "{last}"
    );
    assert!(
        last["citations"].is_array() && last["usage"]["completion_tokens"].as_u64().unwrap() > 0
    );
    let streamed_conversation = last["zhishu"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The stream was stored as the conversation's answer, and only bob
    // sees it.
    let (status, conv) = call(
        &server,
        "GET",
        &format!("/v1/conversations/{streamed_conversation}"),
        &bob,
        None,
    );
    assert_eq!(status, 200, "{conv}");
    let messages = conv["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"], "办公室几点开门？");
    assert_eq!(messages[1]["content"].as_str().unwrap(), streamed.trim());
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/conversations/{streamed_conversation}"),
        &alice,
        None,
    );
    assert_eq!(
        status, 404,
        "another user's conversation does not exist for alice"
    );
    let (_, list) = call(&server, "GET", "/v1/conversations", &bob, None);
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    let (_, list) = call(&server, "GET", "/v1/conversations", &alice, None);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");

    // A follow-up in the same conversation is rewritten before retrieval
    // and appended to it.
    let (status, a) = call(
        &server,
        "POST",
        "/v1/chat/completions",
        &bob,
        Some(json!({
            "messages": [
                {"role": "user", "content": "When does the office open?"},
                {"role": "assistant", "content": "At nine [1]."},
                {"role": "user", "content": "And on weekends?"},
            ],
            "max_tokens": 16, "temperature": 0,
            "zhishu": {"conversation_id": bob_first},
        })),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["zhishu"]["conversation_id"], bob_first.as_str());
    assert!(
        !a["zhishu"]["search_query"].as_str().unwrap().is_empty(),
        "{a}"
    );
    let (_, conv) = call(
        &server,
        "GET",
        &format!("/v1/conversations/{bob_first}"),
        &bob,
        None,
    );
    assert_eq!(conv["messages"].as_array().unwrap().len(), 4, "{conv}");
    // A thin client sends only the new question: the stored turns are the
    // history.
    let (status, a) = ask(
        &bob,
        "What about Sundays?",
        json!({"max_tokens": 8, "zhishu": {"conversation_id": bob_first}}),
    );
    assert_eq!(status, 200, "{a}");
    let (_, conv) = call(
        &server,
        "GET",
        &format!("/v1/conversations/{bob_first}"),
        &bob,
        None,
    );
    assert_eq!(conv["messages"].as_array().unwrap().len(), 6, "{conv}");
    let (status, _) = ask(
        &alice,
        "hi",
        json!({"zhishu": {"conversation_id": bob_first}}),
    );
    assert_eq!(status, 404, "alice cannot write into bob's conversation");

    // Plain chat without documents.
    let (status, a) = ask(&bob, "Say hello.", json!({"zhishu": {"retrieval": false}}));
    assert_eq!(status, 200, "{a}");
    assert!(a["zhishu"]["sources"].as_array().unwrap().is_empty());

    // Every exchange is in the audit trail, with what retrieval returned.
    let (status, events) = call(
        &server,
        "GET",
        "/v1/audit/events?action=chat.completion&limit=50",
        &officer,
        None,
    );
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().unwrap();
    assert!(events.len() >= 5, "{events:?}");
    let streamed_event = &events
        .iter()
        .find(|e| e["event"]["question"] == "办公室几点开门？")
        .expect("the streamed exchange is audited")["event"];
    assert_eq!(streamed_event["answer"].as_str().unwrap(), streamed.trim());
    assert!(!streamed_event["retrieved"].as_array().unwrap().is_empty());
    assert!(streamed_event["prompt"]["sha256"].as_str().unwrap().len() == 64);
    assert_eq!(streamed_event["actor"]["user"], "bob");
    // The officer sees where each source sat (title, path, page), as it was
    // then, and can read the passage itself, only for chunks the exchange
    // retrieved.
    let streamed_id = events
        .iter()
        .find(|e| e["event"]["question"] == "办公室几点开门？")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = &streamed_event["retrieved"][0];
    assert!(
        source["title"].is_string() && source["path"].is_string(),
        "{source}"
    );
    let chunk = source["chunk_id"].as_str().unwrap();
    let passage_url = format!("/v1/audit/events/{streamed_id}/passages/{chunk}");
    let (status, passage) = call(&server, "GET", &passage_url, &officer, None);
    assert_eq!(status, 200, "{passage}");
    assert_eq!(passage["chunk_id"], chunk);
    assert_eq!(passage["title"], source["title"]);
    assert!(!passage["text"].as_str().unwrap().is_empty(), "{passage}");
    let (status, _) = call(&server, "GET", &passage_url, &bob, None);
    assert_eq!(status, 403, "employees cannot read the trail");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/audit/events/{streamed_id}/passages/not-retrieved"),
        &officer,
        None,
    );
    assert_eq!(status, 404);
    let thin = &events
        .iter()
        .find(|e| e["event"]["question"] == "What about Sundays?")
        .expect("audited")["event"];
    assert_eq!(
        thin["input"]["messages"], 5,
        "the stored four turns came first: {thin}"
    );

    // A client that goes away mid-stream: generation stops and the
    // exchange is audited with the partial answer.
    {
        use std::io::Read;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent
            .post(&server.url("/v1/chat/completions"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(json!({"messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
                "stream": true, "max_tokens": 3000, "zhishu": {"retrieval": false}}).to_string())
            .unwrap();
        let mut reader = res.body_mut().as_reader();
        let mut buf = [0u8; 256];
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0);
    }
    let started = Instant::now();
    loop {
        let (_, events) = call(
            &server,
            "GET",
            "/v1/audit/events?action=chat.completion&outcome=cancelled&limit=10",
            &officer,
            None,
        );
        let found = events["events"].as_array().unwrap().iter().any(|e| {
            e["outcome"] == "cancelled"
                && e["event"]["question"] == "Write a very long story about a dragon."
                && e["event"]["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("closed the connection")
        });
        if found {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "abandoned stream not audited: {events}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The engine is free again for the next question.
    let (status, a) = ask(
        &bob,
        "Say hi.",
        json!({"max_tokens": 4, "zhishu": {"retrieval": false}}),
    );
    assert_eq!(status, 200, "{a}");

    // Bad input gets a clear error.
    for (body, want, code) in [
        (json!({"messages": []}), 400, "invalid_request"),
        (
            json!({"messages": [{"role": "assistant", "content": "hi"}]}),
            400,
            "invalid_request",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": -1}),
            400,
            "invalid_request",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}),
            400,
            "invalid_request",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000}),
            400,
            "invalid_request",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "zhishu": {"groups": ["hr"]}}),
            400,
            "invalid_json",
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
            404,
            "not_found",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "hi"}]}),
            400,
            "invalid_request",
        ),
    ] {
        let (status, err) = call(
            &server,
            "POST",
            "/v1/chat/completions",
            &bob,
            Some(body.clone()),
        );
        assert_eq!(status, want, "{body} → {err}");
        assert_eq!(err["error"]["code"], code, "{body} → {err}");
    }
    let (status, _, text) = request(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        Some("{\"messages\": [}"),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid_json"), "{text}");
    let (status, _) = call(
        &server,
        "GET",
        "/v1/conversations/not-a-conversation",
        &bob,
        None,
    );
    assert_eq!(status, 404);

    // Regression: the audit trail of all of the above (ingestion, answers
    // streamed, not streamed and abandoned, refusals, a search, sampling
    // parameters and retrieval scores that are floats of every kind) verifies
    // as intact. Floats that did not survive a parse used to make ordinary
    // chat events verify as "modified".
    let (status, hits) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "salary band 薪资", "k": 5})),
    );
    assert_eq!(status, 200, "{hits}");
    let (status, a) = ask(
        &alice,
        "When does the office open? 😀 \u{0} 「周末」",
        json!({"temperature": 0.7, "top_p": 0.95, "max_tokens": 6, "seed": 9_007_199_254_740_993u64}),
    );
    assert_eq!(status, 200, "{a}");
    let (status, v) = call(&server, "GET", "/v1/audit/verify", &officer, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["legacy_events"], 0, "{v}");
    let (_, events) = call(
        &server,
        "GET",
        "/v1/audit/events?limit=1000",
        &officer,
        None,
    );
    let events = events["events"].as_array().unwrap();
    // Every event up to the verification was checked; the verification's
    // own event (and this search's) came after.
    let last_seq = v["last_seq"].as_i64().unwrap();
    let before = events
        .iter()
        .filter(|e| e["seq"].as_i64().unwrap() <= last_seq)
        .count();
    assert_eq!(v["events_checked"].as_u64().unwrap(), before as u64, "{v}");
    let verify_event = events
        .iter()
        .find(|e| e["action"] == "audit.verify")
        .unwrap();
    assert_eq!(verify_event["seq"].as_i64().unwrap(), last_seq + 1, "{v}");
    let fractional_scores = events
        .iter()
        .flat_map(|e| {
            e["event"]["retrieved"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|r| r["score"].as_f64().is_some_and(|s| s.fract() != 0.0))
        .count();
    assert!(
        fractional_scores >= 5,
        "the trail carries real float scores"
    );
    for action in ["chat.completion", "search", "ingest.job"] {
        assert!(
            events
                .iter()
                .any(|e| e["action"].as_str().unwrap_or("").starts_with(action)),
            "{action} events are part of the verified trail"
        );
    }
}

/// The Python interpreter with the `openai` package: `ZHISHU_TEST_PYTHON`
/// (scripts/test.sh makes a virtual environment with it), else `python3`.
fn python() -> String {
    std::env::var("ZHISHU_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn the_official_openai_client_works_unchanged() {
    let (server, root) = start();
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let user = server.user_with_key("erin", &["employee"], &[]);
    ingest(&server, &admin, &format!("{root}/public"), &["public"]);
    let out = std::process::Command::new(python())
        .arg(repo_root().join("tests/openai_client.py"))
        .env("OPENAI_BASE_URL", server.url("/v1"))
        .env("OPENAI_API_KEY", &user)
        .output()
        .expect("run python (set ZHISHU_TEST_PYTHON to an interpreter with `openai`; scripts/test.sh does)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openai client script failed (needs `pip install openai`; scripts/test.sh provides it):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("openai client: ok"), "{stdout}");
}

#[test]
fn zhishu_ask_streams_a_cited_answer_and_lists_sources() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    write_docs(&docs);
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let config = dir.path().join("zhishu.toml");
    std::fs::write(&config, common::config_text(dir.path(), &url)).unwrap();
    let config = config.display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        common::run_cli(&all, &[], dir.path())
    };
    let public = format!("{}/public", docs.display());
    let (code, out, err) = run(&["ingest", &public, "--collection", "company"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["ask", "When does the office open?", "--max-tokens", "24"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Sources ("), "{out}");
    assert!(out.contains("Handbook"), "{out}");
    let (code, out, err) = run(&[
        "ask",
        "When does the office open?",
        "--max-tokens",
        "8",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["title"] == "Handbook"),
        "{v}"
    );
    let audit_id = v["audit_event_id"].as_str().unwrap().to_owned();
    // A group that may see nothing gets no source, and is told so.
    let (code, out, err) = run(&[
        "ask",
        "When does the office open?",
        "--group",
        "nobody-here",
        "--max-tokens",
        "8",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No source"), "{out}");
    // The answers are in the audit trail.
    let (code, out, err) = run(&["audit", "search", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&audit_id), "{out}");
}

/// Streams a chat completion and returns the answer text and the final
/// chunk (finish reason, usage, citations, `zhishu` extension).
fn stream(server: &Server, key: &str, body: Value) -> (String, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut res = agent
        .post(&server.url("/v1/chat/completions"))
        .header("authorization", &bearer(key))
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("HTTP");
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let answer = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    (answer, chunks.last().cloned().unwrap_or(Value::Null))
}

#[test]
fn a_planted_fact_is_answered_and_cited_to_its_page() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    common::write_pdf(
        &docs.join("security/kestrel-manual.pdf"),
        &common::KESTREL_PAGES,
    );
    std::fs::write(
        docs.join("security/canteen.md"),
        "# Canteen\n\nThe canteen serves lunch from noon to two.\n",
    )
    .unwrap();
    let server = Server::start_over(dir, &docs, &[]);
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let sam = server.user_with_key("sam", &["employee"], &["security"]);
    let eve = server.user_with_key("eve", &["employee"], &["sales"]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);
    ingest(
        &server,
        &admin,
        &format!("{}/security", docs.display()),
        &["security"],
    );

    let question = "What is the emergency vault code for Project Kestrel?";
    let body = json!({
        "messages": [{"role": "user", "content": question}],
        "stream": true, "max_tokens": 48, "temperature": 0,
    });
    let (answer, last) = stream(&server, &sam, body.clone());
    assert!(
        answer.contains("4471-ZETA"),
        "the fact is in the answer: {answer}"
    );
    // The passage with the fact is cited, to its page: by the model's own
    // marker, or (a 135M model rarely writes markers) by matching the
    // sentence that states it.
    let citations = last["citations"].as_array().unwrap();
    let cited = citations
        .iter()
        .find(|c| c["snippet"].as_str().unwrap_or("").contains("4471-ZETA"))
        .unwrap_or_else(|| panic!("the answer cites the passage with the fact: {answer} {last}"));
    assert_eq!(cited["page"], 2, "{cited}");
    assert!(
        cited["text"].as_str().unwrap().contains("4471-ZETA"),
        "the whole passage: {cited}"
    );
    assert!(
        cited["title"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("kestrel"),
        "{cited}"
    );
    let document_id = cited["document_id"].as_str().unwrap().to_owned();
    let n = cited["n"].as_u64().unwrap();
    match cited["origin"].as_str().unwrap() {
        "marker" => assert!(answer.contains(&format!("[{n}]")), "{answer}"),
        "overlap" => assert!(!answer.contains(&format!("[{n}]")), "{answer}"),
        other => panic!("origin {other}"),
    }
    // Nothing is cited that the answer does not state: the contacts page
    // and the canteen are not.
    assert!(
        citations
            .iter()
            .all(|c| c["page"] != 3 && c["title"] != "Canteen"
                || answer.contains(&format!("[{}]", c["n"]))),
        "{last}"
    );

    // The audit event holds the whole exchange.
    let audit_id = last["zhishu"]["audit_event_id"].as_str().unwrap();
    let (status, e) = call(
        &server,
        "GET",
        &format!("/v1/audit/events/{audit_id}"),
        &officer,
        None,
    );
    assert_eq!(status, 200, "{e}");
    let ev = &e["event"];
    assert_eq!(e["outcome"], "ok", "{e}");
    assert_eq!(ev["question"], question);
    assert_eq!(ev["answer"].as_str().unwrap(), answer.trim());
    assert!(
        ev["retrieved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["document_id"] == document_id.as_str() && r["score"].as_f64().unwrap() > 0.0),
        "{ev}"
    );
    assert!(ev["prompt"]["tokens"].as_u64().unwrap() > 0, "{ev}");
    assert_eq!(ev["prompt"]["sha256"].as_str().unwrap().len(), 64, "{ev}");
    assert!(
        ev["citations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["document_id"] == document_id.as_str() && c["page"] == 2),
        "{ev}"
    );
    assert!(!ev["model"]["name"].as_str().unwrap().is_empty(), "{ev}");
    assert_eq!(ev["model"]["parameters"]["max_new_tokens"], 48, "{ev}");
    assert_eq!(ev["model"]["parameters"]["temperature"], 0.0, "{ev}");
    assert!(
        ev["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{ev}"
    );
    assert_eq!(ev["usage"]["prompt_tokens"], ev["prompt"]["tokens"], "{ev}");
    assert!(ev["latency_ms"].as_u64().is_some(), "{ev}");
    assert_eq!(ev["actor"]["user"], "sam");

    // Eve is not in the security group: no chunk of the manual reaches her
    // prompt, her answer or her citations.
    let (answer, last) = stream(&server, &eve, body);
    assert!(!answer.contains("4471"), "{answer}");
    assert!(
        last["zhishu"]["sources"].as_array().unwrap().is_empty(),
        "{last}"
    );
    assert!(last["citations"].as_array().unwrap().is_empty(), "{last}");
    let eve_event = last["zhishu"]["audit_event_id"].as_str().unwrap();
    let (_, e) = call(
        &server,
        "GET",
        &format!("/v1/audit/events/{eve_event}"),
        &officer,
        None,
    );
    assert_eq!(e["event"]["question"], question, "{e}");
    assert!(
        e["event"]["retrieved"].as_array().is_none_or(Vec::is_empty),
        "nothing of the manual was retrieved for eve: {e}"
    );
}

/// Several employees at once over HTTP: answered together by the serving
/// engine (its metrics show steps holding several sequences), and when the
/// engine's queue is full the next request gets 503 at once instead of a
/// silent wait; a client that leaves lets the queued one run.
#[test]
fn concurrent_questions_are_batched_and_a_full_queue_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(
        dir,
        &url,
        &[
            ("ZHISHU_ENGINE__MAX_RUNNING", "4"),
            ("ZHISHU_CHAT__QUEUE", "1"),
        ],
    );
    server.wait_ready(200);
    let key = server.user_with_key("carol", &["employee"], &[]);
    let plain = |q: &str, max: u32| {
        json!({"messages": [{"role": "user", "content": q}], "max_tokens": max,
               "temperature": 0, "zhishu": {"retrieval": false}})
    };
    // Four at once: all answered, and in shared steps.
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = [
            "Say hello.",
            "Name a colour.",
            "Count to three.",
            "Name a fruit.",
        ]
        .into_iter()
        .map(|q| {
            let (server, key, body) = (&server, &key, plain(q, 12));
            s.spawn(move || call(server, "POST", "/v1/chat/completions", key, Some(body)))
        })
        .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (status, a) in &answers {
        assert_eq!(*status, 200, "{a}");
        assert!(a["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{a}");
    }
    let metrics = |name: &str| -> f64 {
        let (_, text) = call(&server, "GET", "/metrics", &key, None);
        let text = text.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
    };
    let per_step =
        metrics("zhishu_engine_step_sequences_sum") / metrics("zhishu_engine_step_sequences_count");
    assert!(per_step > 1.0, "{per_step} sequences per step");
    assert!(metrics("zhishu_engine_kv_blocks_total") > 0.0);
    assert!(metrics("zhishu_engine_time_to_first_token_seconds_count") >= 4.0);

    // Fill the engine: four long streams run, one more waits, the next is
    // refused with 503 and a retry hint.
    use std::io::Read;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut long = Vec::new();
    for i in 0..4 {
        let mut res = agent
            .post(&server.url("/v1/chat/completions"))
            .header("authorization", &bearer(&key))
            .header("content-type", "application/json")
            .send(
                json!({"messages": [{"role": "user", "content": format!("Write a very long story number {i}.")}],
                       "stream": true, "max_tokens": 2000, "zhishu": {"retrieval": false}})
                .to_string(),
            )
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let mut buf = [0u8; 64];
        assert!(res.body_mut().as_reader().read(&mut buf).unwrap() > 0);
        long.push(res);
    }
    let (waiting, refused) = std::thread::scope(|s| {
        let waiting = s.spawn(|| {
            call(
                &server,
                "POST",
                "/v1/chat/completions",
                &key,
                Some(plain("Say yes.", 4)),
            )
        });
        // The first extra request is queued (or the second is): exactly one
        // of the two is refused.
        std::thread::sleep(Duration::from_millis(500));
        let refused = call(
            &server,
            "POST",
            "/v1/chat/completions",
            &key,
            Some(plain("Say no.", 4)),
        );
        // A stream's client leaves: the queued request runs.
        drop(long.pop());
        (waiting.join().unwrap(), refused)
    });
    let statuses = [waiting.0, refused.0];
    assert!(
        statuses.contains(&503) && statuses.contains(&200),
        "{waiting:?} {refused:?}"
    );
    let body = if waiting.0 == 503 {
        &waiting.1
    } else {
        &refused.1
    };
    assert!(body.to_string().contains("busy"), "{body}");
    drop(long);
}

/// LoRA adapters configured under `[engine.adapters]` (here through the
/// environment): listed by `/v1/models` beside the model, picked by a
/// request's `model`, answered in the response's `model`, recorded in the
/// audit event, and an unknown name answers 404 listing what is served.
#[test]
fn lora_adapters_are_listed_picked_by_model_and_audited() {
    let adapters = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(python())
        .arg(repo_root().join("scripts/lora_fixtures.py"))
        .args([
            "--shape",
            "576,30,9,3,64,1536",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        ])
        .arg(adapters.path())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let (x, y) = (adapters.path().join("x"), adapters.path().join("y"));
    let server = Server::start_env(&[
        ("ZHISHU_ENGINE__ADAPTERS__LEGAL", x.to_str().unwrap()),
        ("ZHISHU_ENGINE__ADAPTERS__SUPPORT-ZH", y.to_str().unwrap()),
    ]);
    let bob = server.user_with_key("bob", &["employee"], &["eng"]);
    let officer = server.user_with_key("olga", &["compliance_officer"], &[]);

    let (status, models) = call(&server, "GET", "/v1/models", &bob, None);
    assert_eq!(status, 200, "{models}");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["zhishu", "legal", "support-zh"]);
    assert_eq!(models["data"][1]["parent"], "zhishu");

    let ask = |model: &str| {
        call(
            &server,
            "POST",
            "/v1/chat/completions",
            &bob,
            Some(json!({
                "model": model,
                "messages": [{"role": "user", "content": "Say hello to the new colleague."}],
                "max_tokens": 12,
                "temperature": 0,
                "zhishu": {"retrieval": false},
            })),
        )
    };
    let (status, base) = ask("zhishu");
    assert_eq!(status, 200, "{base}");
    let (status, legal) = ask("legal");
    assert_eq!(status, 200, "{legal}");
    assert_eq!(legal["model"], "legal");
    let text = |a: &Value| {
        a["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(text(&legal), text(&base), "the adapter changes the answer");

    let (status, e) = ask("legal-v2");
    assert_eq!(status, 404, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("legal-v2") && message.contains("support-zh"),
        "{message}"
    );

    for (answer, adapter) in [(&legal, Some("legal")), (&base, None)] {
        let id = answer["zhishu"]["audit_event_id"].as_str().unwrap();
        let (status, e) = call(
            &server,
            "GET",
            &format!("/v1/audit/events/{id}"),
            &officer,
            None,
        );
        assert_eq!(status, 200, "{e}");
        assert_eq!(e["event"]["model"]["name"], "zhishu", "{e}");
        assert_eq!(e["event"]["model"]["adapter"].as_str(), adapter, "{e}");
        // The weights that answered, by content.
        let want = adapter.map(|_| {
            use sha2::Digest;
            let bytes = std::fs::read(x.join("adapter_model.safetensors")).unwrap();
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        });
        assert_eq!(
            e["event"]["model"]["adapter_sha256"].as_str(),
            want.as_deref(),
            "{e}"
        );
    }
    let (_, ready) = common::get(&server.url("/readyz"));
    assert!(
        ready
            .to_string()
            .contains("LoRA adapters: legal, support-zh"),
        "{ready}"
    );
    let (status, v) = call(&server, "GET", "/v1/audit/verify", &officer, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
}

/// An adapter that cannot be served keeps the model from being ready, and
/// readiness says which file and why (no answer is ever given with a
/// silently missing adapter).
#[test]
fn an_adapter_that_does_not_fit_is_named_by_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-adapter");
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(
        dir,
        &url,
        &[("ZHISHU_ENGINE__ADAPTERS__LEGAL", missing.to_str().unwrap())],
    );
    // Not ready while loading, then not ready with the reason.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, ready) = common::get(&server.url("/readyz"));
        let engine = ready["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "engine"))
            .map(|c| c["detail"].to_string())
            .unwrap_or_default();
        if engine.contains("adapter_config.json") {
            assert_eq!(status, 503, "{ready}");
            assert!(engine.contains("no-such-adapter"), "{engine}");
            break;
        }
        assert!(Instant::now() < deadline, "{ready}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
