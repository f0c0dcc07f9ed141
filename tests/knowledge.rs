//! The knowledge APIs over real HTTP: ingest jobs (with progress, events
//! and path checks), hybrid search within access groups, documents.

mod common;

use common::{Server, bearer, call, get_bytes, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn wait_job(server: &Server, key: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, job) = call(server, "GET", &format!("/v1/ingest/jobs/{id}"), key, None);
        assert_eq!(status, 200, "{job}");
        if ["succeeded", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job did not finish: {job}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ingest(server: &Server, key: &str, path: &str, groups: &[&str]) -> Value {
    let (status, body) = call(
        server,
        "POST",
        "/v1/ingest/jobs",
        key,
        Some(json!({"path": path, "collection": "company", "access_groups": groups})),
    );
    assert_eq!(status, 202, "{body}");
    wait_job(server, key, body["job_id"].as_str().unwrap())
}

const BOUNDARY: &str = "zhishu-test-boundary";

/// A multipart form: (name, filename, content) parts.
fn form(parts: &[(&str, Option<&str>, &str)]) -> String {
    let mut body = String::new();
    for (name, file, content) in parts {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        if let Some(f) = file {
            body.push_str(&format!(
                "; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            ));
        }
        body.push_str(&format!("\r\n\r\n{content}\r\n"));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

fn upload(server: &Server, key: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(&server.url("/v1/documents"))
        .header("authorization", &bearer(key))
        .header(
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .send(body.as_bytes())
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn paths(results: &Value) -> Vec<String> {
    results["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chunk"]["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ingest_jobs_search_and_documents_respect_roots_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    for (p, text) in [
        (
            "hr/salaries.md",
            "# Salary bands\n\nThe salary band for senior engineers is confidential: 薪资等级保密。\n",
        ),
        (
            "eng/oncall.md",
            "# On-call\n\nThe on-call engineer answers pages within fifteen minutes.\n",
        ),
        (
            "public/handbook.md",
            "# Handbook\n\nThe office opens at nine. 办公室九点开门。\n",
        ),
    ] {
        let path = docs.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::os::unix::fs::symlink("/etc", docs.join("escape")).unwrap();
    let server = Server::start_over(dir, &docs, &[("ZHISHU_INGEST__MAX_FILE_BYTES", "4096")]);
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["hr"]);
    let bob = server.user_with_key("bob", &["employee"], &["eng"]);
    let root = docs.display().to_string();

    // Paths outside the roots, however spelled, are refused.
    for (path, want) in [
        ("/etc".to_owned(), 403),
        (format!("{root}/../../../etc"), 403),
        (format!("{root}/escape"), 403),
        ("docs/hr".to_owned(), 400),
        (format!("{root}/missing"), 404),
    ] {
        let (status, body) = call(
            &server,
            "POST",
            "/v1/ingest/jobs",
            &admin,
            Some(json!({"path": path})),
        );
        assert_eq!(status, want, "{path}: {body}");
    }
    let (status, _) = call(
        &server,
        "POST",
        "/v1/ingest/jobs",
        &alice,
        Some(json!({"path": root})),
    );
    assert_eq!(status, 403, "employees cannot ingest");
    let (status, body) = call(
        &server,
        "POST",
        "/v1/ingest/jobs",
        &admin,
        Some(json!({"path": root, "colour": "red"})),
    );
    assert_eq!(status, 400, "unknown fields are refused: {body}");

    let hr = ingest(&server, &admin, &format!("{root}/hr"), &["hr"]);
    assert_eq!(hr["files_done"], 1, "{hr}");
    assert_eq!(hr["summary"]["indexed"], 1);
    ingest(&server, &admin, &format!("{root}/eng"), &["eng"]);
    let public = ingest(&server, &admin, &format!("{root}/public"), &["public"]);

    // The event stream of a finished job replays it and ends.
    let id = public["id"].as_str().unwrap();
    let (status, _, text) = request(
        "GET",
        &server.url(&format!("/v1/ingest/jobs/{id}/events")),
        &[("authorization", &bearer(&admin))],
        None,
    );
    assert_eq!(status, 200);
    assert!(
        text.contains("event: scanned")
            && text.contains("event: indexed")
            && text.contains("event: finished"),
        "{text}"
    );

    // Each employee finds their own group's and public documents only.
    for (key, own, other) in [
        (&alice, "salaries.md", "oncall.md"),
        (&bob, "oncall.md", "salaries.md"),
    ] {
        for query in [
            "salary band engineers",
            "on-call engineer pages",
            "薪资",
            "office opens",
        ] {
            let (status, res) = call(
                &server,
                "POST",
                "/v1/search",
                key,
                Some(json!({"query": query, "k": 10})),
            );
            assert_eq!(status, 200, "{res}");
            assert!(
                paths(&res).iter().all(|p| !p.ends_with(other)),
                "{query}: {res}"
            );
        }
        let (_, res) = call(
            &server,
            "POST",
            "/v1/search",
            key,
            Some(json!({"query": "salary on-call engineer", "k": 10})),
        );
        assert!(paths(&res).iter().any(|p| p.ends_with(own)), "{res}");
    }
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "办公室 几点 开门", "k": 3})),
    );
    assert!(
        paths(&res)[0].ends_with("handbook.md"),
        "Chinese query finds the public handbook: {res}"
    );

    // A filter cannot name access groups, nor reach another group's document.
    let (status, body) = call(
        &server,
        "POST",
        "/v1/search",
        &bob,
        Some(json!({"query": "salary", "filters": {"access_groups": ["hr"]}})),
    );
    assert_eq!(status, 400, "{body}");
    let (_, list) = call(&server, "GET", "/v1/documents", &alice, None);
    let docs = list["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2, "alice sees hr and public documents: {list}");
    let salaries = docs
        .iter()
        .find(|d| d["source_path"].as_str().unwrap().ends_with("salaries.md"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &bob,
        Some(json!({"query": "salary", "filters": {"document_ids": [salaries]}})),
    );
    assert!(res["hits"].as_array().unwrap().is_empty(), "{res}");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/documents/{salaries}"),
        &bob,
        None,
    );
    assert_eq!(
        status, 404,
        "another group's document does not exist for bob"
    );
    let (status, doc) = call(
        &server,
        "GET",
        &format!("/v1/documents/{salaries}"),
        &alice,
        None,
    );
    assert_eq!(status, 200);
    assert!(
        doc["chunks"][0]["qwen_tokens"].as_i64().unwrap() > 0,
        "{doc}"
    );

    // Bad search requests.
    for body in [
        json!({"query": ""}),
        json!({"query": "x", "k": 0}),
        json!({"query": "x", "k": 1000}),
        json!({"query": "x", "neighbours": 9}),
    ] {
        let (status, _) = call(&server, "POST", "/v1/search", &alice, Some(body.clone()));
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "x", "rerank": true})),
    );
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "rerank_unavailable", "{body}");

    // Deleting a document removes it from search.
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/documents/{salaries}"),
        &alice,
        None,
    );
    assert_eq!(status, 403, "employees cannot delete");
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/documents/{salaries}"),
        &admin,
        None,
    );
    assert_eq!(status, 204);
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "salary band", "k": 10})),
    );
    assert!(
        paths(&res).iter().all(|p| !p.ends_with("salaries.md")),
        "{res}"
    );
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/documents/{salaries}"),
        &alice,
        None,
    );
    assert_eq!(status, 404);

    // Every search is in the audit trail, with the question and the hits.
    let carol = server.user_with_key("carol", &["compliance_officer"], &[]);
    let (status, page) = call(
        &server,
        "GET",
        "/v1/audit/events?action=search&user=alice",
        &carol,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert!(events.len() >= 6, "{page}");
    assert!(page.to_string().contains("salary band"), "{page}");

    // An uploaded file is stored under its own name only and ingested.
    let body = form(&[
        ("collection", None, "company"),
        ("access_group", None, "hr"),
        (
            "file",
            Some("../../evil/leave.md"),
            "# Leave\n\nParental leave is sixteen weeks, 产假十六周。\n",
        ),
    ]);
    let (status, _) = upload(&server, &alice, &body);
    assert_eq!(status, 403, "employees cannot upload");
    let (status, up) = upload(&server, &admin, &body);
    assert_eq!(status, 202, "{up}");
    assert!(
        up["path"]
            .as_str()
            .unwrap()
            .ends_with("uploads/company/leave.md"),
        "{up}"
    );
    wait_job(&server, &admin, up["job_id"].as_str().unwrap());
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "parental leave weeks", "k": 3})),
    );
    assert!(paths(&res)[0].ends_with("leave.md"), "{res}");
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &bob,
        Some(json!({"query": "parental leave weeks", "k": 10})),
    );
    assert!(
        paths(&res).iter().all(|p| !p.ends_with("leave.md")),
        "{res}"
    );
    let (_, list) = call(
        &server,
        "GET",
        "/v1/documents?collection=company",
        &alice,
        None,
    );
    let leave = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source_path"] == up["path"])
        .cloned();
    assert_eq!(
        leave.expect("the upload is registered")["status"],
        "indexed",
        "{list}"
    );

    // Too large, unsupported, or malformed uploads are refused and leave nothing.
    let big = "x".repeat(5000);
    let (status, body) = upload(&server, &admin, &form(&[("file", Some("big.txt"), &big)]));
    assert_eq!(status, 413, "{body}");
    let (status, _) = upload(&server, &admin, &form(&[("file", Some("tool.exe"), "MZ")]));
    assert_eq!(status, 400);
    let (status, _) = upload(&server, &admin, &form(&[("collection", None, "company")]));
    assert_eq!(status, 400, "no file part");
    let uploads = server.dir.path().join("data/uploads");
    let leftovers: Vec<_> = std::fs::read_dir(&uploads)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("company")],
        "no partial files remain"
    );
}

#[test]
fn search_attaches_neighbours_and_reranks_with_the_configured_cross_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    // Twelve short sections: with 40-token chunks each becomes its own chunk.
    let mut text = String::from("# Security handbook\n\n");
    for i in 0..12 {
        text.push_str(&format!(
            "## Rule {i}\n\nRule number {i} of the handbook concerns topic{i} and asks staff to report topic{i} incidents to the desk within {i} hours.\n\n"
        ));
    }
    std::fs::write(docs.join("handbook.md"), text).unwrap();
    let reranker = common::repo_root().join("services/encoders/tests/fixtures/tiny-cross-encoder");
    let server = Server::start_over(
        dir,
        &docs,
        &[
            ("ZHISHU_INGEST__CHUNK_TOKENS", "40"),
            ("ZHISHU_INGEST__CHUNK_OVERLAP_TOKENS", "0"),
            ("ZHISHU_RERANKER__MODEL", reranker.to_str().unwrap()),
        ],
    );
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["public"]);
    let job = ingest(&server, &admin, &docs.display().to_string(), &["public"]);
    assert_eq!(job["summary"]["indexed"], 1, "{job}");

    let (status, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "topic5 incidents", "k": 1, "neighbours": 1, "mode": "bm25"})),
    );
    assert_eq!(status, 200, "{res}");
    let hit = &res["hits"][0];
    assert!(
        hit["chunk"]["text"].as_str().unwrap().contains("topic5"),
        "{res}"
    );
    let ordinal = hit["chunk"]["ordinal"].as_i64().unwrap();
    let neighbours = hit["neighbours"].as_array().expect("neighbours attached");
    let ordinals: Vec<i64> = neighbours
        .iter()
        .map(|n| n["ordinal"].as_i64().unwrap())
        .collect();
    assert_eq!(ordinals, vec![ordinal - 1, ordinal + 1], "{res}");
    for n in neighbours {
        assert_eq!(n["document_id"], hit["chunk"]["document_id"]);
        assert_eq!(n["version"], hit["chunk"]["version"]);
    }
    assert!(
        neighbours[0]["text"].as_str().unwrap().contains("topic4"),
        "{res}"
    );
    assert!(
        neighbours[1]["text"].as_str().unwrap().contains("topic6"),
        "{res}"
    );

    // Without `neighbours` none are attached (the configured default is 0).
    let (_, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "topic5 incidents", "k": 1})),
    );
    assert!(res["hits"][0].get("neighbours").is_none(), "{res}");

    // With the cross-encoder configured, `rerank` rescoring is reported per hit.
    let (status, res) = call(
        &server,
        "POST",
        "/v1/search",
        &alice,
        Some(json!({"query": "report incidents to the desk", "k": 5, "rerank": true})),
    );
    assert_eq!(status, 200, "{res}");
    let hits = res["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5, "{res}");
    for h in hits {
        let r = h["scores"]["rerank"].as_f64().expect("rerank score");
        assert!((h["score"].as_f64().unwrap() - r).abs() < 1e-6, "{h}");
    }
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(res["timings"]["rerank_ms"].as_f64().unwrap() > 0.0);
}

/// A Qdrant server that is down: readiness names it, and a search gets a
/// 503 that says the vector store is down (with the request id; the
/// server's address stays in the log and readiness), instead of a 500 or a
/// hang.
#[test]
fn search_with_the_qdrant_server_down_is_503_and_readiness_names_it() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let qdrant = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let server = Server::start_with(
        dir,
        &url,
        &[
            ("ZHISHU_VECTORS__BACKEND", "qdrant"),
            ("ZHISHU_VECTORS__URL", qdrant.as_str()),
        ],
    );
    // Before and after the stores are opened, readiness probes the server.
    let ready = server.wait_ready(503);
    let vectors = |ready: &Value| {
        let checks = ready["checks"].as_array().unwrap();
        checks
            .iter()
            .find(|c| c["name"] == "vectors")
            .unwrap()
            .clone()
    };
    assert_eq!(vectors(&ready)["ok"], false, "{ready}");

    let key = server.user_with_key("ann", &["employee"], &["public"]);
    let started = Instant::now();
    loop {
        let (status, res) = call(
            &server,
            "POST",
            "/v1/search",
            &key,
            Some(json!({"query": "office hours", "k": 3})),
        );
        assert_eq!(status, 503, "{res}");
        let text = res.to_string();
        // Until the embedder has loaded, the 503 says so; then it says the
        // vector store is down, without the server's address (an internal
        // detail: the log and readiness name it).
        let address = qdrant.trim_start_matches("http://");
        assert!(!text.contains(address), "{text}");
        if text.contains("vector store is unavailable")
            || text.contains("document stores are not available")
        {
            assert!(res["error"]["request_id"].is_string(), "{text}");
            let (status, ready) = common::get(&server.url("/readyz"));
            assert_eq!(status, 503, "{ready}");
            let v = vectors(&ready);
            assert_eq!(v["ok"], false, "{ready}");
            assert!(v["detail"].as_str().unwrap().contains(address), "{v}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the 503 never said the vector store is down: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// With the default multilingual embedder, a question in one language finds
/// the page written in the other, over HTTP as an employee searches: no
/// word of the question occurs in the page it finds.
#[test]
fn a_chinese_question_finds_the_english_page_and_the_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let pages = [
        (
            "backup.md",
            "# Backups\n\nTo back up a single database into a compressed archive, run the dump utility with the custom format; restore it later with the restore tool.\n",
        ),
        (
            "printer.md",
            "# Printers\n\nThe colour printer on the third floor needs a badge to release jobs; toner is ordered through the facilities desk.\n",
        ),
        (
            "年假.md",
            "# 年假制度\n\n员工入职满一年后每年享有十五天带薪年假，未休完的天数可以顺延到次年三月底。\n",
        ),
        (
            "报销.md",
            "# 差旅报销\n\n出差住宿费用按城市等级报销，一线城市每晚上限六百元，须在返回后十个工作日内提交发票。\n",
        ),
    ];
    for (name, text) in pages {
        std::fs::write(docs.join(name), text).unwrap();
    }
    let server = Server::start_over(
        dir,
        &docs,
        &[
            ("ZHISHU_EMBEDDER__MODEL", "multilingual-e5-small"),
            ("ZHISHU_EMBEDDER__QUERY_PREFIX", "query: "),
            ("ZHISHU_EMBEDDER__PASSAGE_PREFIX", "passage: "),
        ],
    );
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["public"]);
    let job = ingest(&server, &admin, &docs.display().to_string(), &["public"]);
    assert_eq!(job["summary"]["indexed"], 4, "{job}");
    for (question, page) in [
        ("怎么把一个数据库备份成压缩文件？", "backup.md"),
        (
            "How many days of paid annual leave do employees get?",
            "年假.md",
        ),
        (
            "What is the hotel limit per night for business trips?",
            "报销.md",
        ),
    ] {
        let (status, res) = call(
            &server,
            "POST",
            "/v1/search",
            &alice,
            Some(json!({"query": question, "k": 1})),
        );
        assert_eq!(status, 200, "{res}");
        let found = paths(&res);
        assert!(
            found.first().is_some_and(|p| p.ends_with(page)),
            "{question} → {found:?}, want {page}"
        );
    }
}

#[test]
fn citations_show_the_page_and_downloads_follow_groups_and_the_collection_switch() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("finance")).unwrap();
    let pdf = docs.join("finance/policy-zh.pdf");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdf/policy-zh.pdf");
    std::fs::copy(&fixture, &pdf).unwrap();
    let server = Server::start_over(dir, &docs, &[]);
    let admin = server.user_with_key("kadmin", &["knowledge_admin"], &[]);
    let alice = server.user_with_key("alice", &["employee"], &["finance"]);
    let bob = server.user_with_key("bob", &["employee"], &["eng"]);
    let job = ingest(
        &server,
        &admin,
        &docs.join("finance").display().to_string(),
        &["finance"],
    );
    assert_eq!(job["files_done"], 1, "{job}");

    let (_, list) = call(&server, "GET", "/v1/documents", &alice, None);
    let id = list["documents"][0]["id"].as_str().unwrap().to_owned();
    let (status, doc) = call(&server, "GET", &format!("/v1/documents/{id}"), &alice, None);
    assert_eq!(status, 200, "{doc}");
    // The chunk citing the hotel limits has its lines' boxes on page 1.
    let chunk = doc["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["section_path"]
                .as_str()
                .unwrap_or("")
                .ends_with("2 住宿标准")
        })
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(chunk["page"], 1);
    let boxes = chunk["boxes"].as_array().unwrap();
    assert!(boxes.len() >= 3, "{chunk}");
    let chunk_id = chunk["id"].as_str().unwrap();

    // The page, rendered on the server with the passage marked.
    let view = format!("/v1/documents/{id}/pages/1?chunk={chunk_id}&width=800");
    let (status, headers, marked) = get_bytes(&server, &view, &alice);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&marked));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "image/png")
    );
    assert!(marked.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(
        u32::from_be_bytes(marked[16..20].try_into().unwrap()),
        800,
        "width"
    );
    let (_, _, plain) = get_bytes(
        &server,
        &format!("/v1/documents/{id}/pages/1?width=800"),
        &alice,
    );
    assert!(
        plain.starts_with(b"\x89PNG") && plain != marked,
        "the mark changes the image"
    );
    // Wrong page for the chunk, a page the PDF lacks.
    let (status, _, _) = get_bytes(
        &server,
        &format!("/v1/documents/{id}/pages/2?chunk={chunk_id}"),
        &alice,
    );
    assert_eq!(status, 400);
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{id}/pages/9"), &alice);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // Outside the document's groups it does not exist.
    for path in [view.clone(), format!("/v1/documents/{id}/file")] {
        let (status, _, _) = get_bytes(&server, &path, &bob);
        assert_eq!(status, 404, "{path}");
    }

    // The original, byte for byte, as an attachment.
    let (status, headers, file) = get_bytes(&server, &format!("/v1/documents/{id}/file"), &alice);
    assert_eq!(status, 200);
    assert_eq!(file, std::fs::read(&fixture).unwrap());
    assert!(
        headers.iter().any(|(k, v)| k == "content-disposition"
            && v.starts_with("attachment")
            && v.contains("policy-zh.pdf")),
        "{headers:?}"
    );

    // An administrator turns downloads off for the collection: the file is
    // refused, the cited page still shows.
    let (status, body) = call(
        &server,
        "PUT",
        "/v1/collections/company/settings",
        &alice,
        Some(json!({"downloads": false})),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &server,
        "PUT",
        "/v1/collections/company/settings",
        &admin,
        Some(json!({"downloads": "no"})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = call(
        &server,
        "PUT",
        "/v1/collections/company/settings",
        &admin,
        Some(json!({"downloads": false})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["downloads"], false);
    assert_eq!(body["updated_by"], "kadmin");
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{id}/file"), &alice);
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("turned off downloads"));
    let (status, _, _) = get_bytes(&server, &view, &alice);
    assert_eq!(status, 200);

    // A file changed since indexing is never served as the indexed one.
    call(
        &server,
        "PUT",
        "/v1/collections/company/settings",
        &admin,
        Some(json!({"downloads": true})),
    );
    std::fs::write(&pdf, b"%PDF-1.4 replaced").unwrap();
    let (status, _, body) = get_bytes(&server, &format!("/v1/documents/{id}/file"), &alice);
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));

    // Every view and download, allowed or refused, is in the audit trail.
    for (action, want) in [("document.page_view", 3), ("document.download", 2)] {
        let (_, out, _) = server.cli(&["audit", "search", "--action", action, "--json"], "");
        assert_eq!(out.lines().count(), want, "{action}: {out}");
    }
    let (_, out, _) = server.cli(
        &[
            "audit",
            "search",
            "--action",
            "collection.settings",
            "--json",
        ],
        "",
    );
    assert_eq!(out.lines().count(), 2, "{out}");
}
