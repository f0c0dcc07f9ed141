//! A real `zhishu` process for end-to-end tests: its own config file and data
//! folder, a free port, real HTTP.
#![allow(dead_code)]

pub mod idp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_zhishu");

/// A three-page manual with a planted fact on page 2 (the vault code
/// `4471-ZETA`), for the end-to-end chat tests.
pub const KESTREL_PAGES: [&str; 3] = [
    "Project Kestrel: overview\nProject Kestrel builds the new data centre in Suzhou.\nThe building has four floors and two server halls.",
    "Vault access\nThe emergency vault code for Project Kestrel is 4471-ZETA.\nThe security office changes the code every quarter.",
    "Contacts\nThe security office is on the third floor, room 301.\nCall extension 5100 outside office hours.",
];

/// The offline test assets (`scripts/fetch-assets.sh`):
/// `ZHISHU_ASSETS_DIR`, else `~/.cache/zhishu/assets`.
pub fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

/// A minimal single-box configuration rooted in `dir`.
pub fn config_text(dir: &Path, database_url: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1
shutdown_timeout_secs = 10
readiness_timeout_secs = 2

[storage]
data_dir = "{data}"

[database]
url = "{database_url}"
connect_timeout_secs = 1

{vectors}

[embedder]
model = "all-MiniLM-L6-v2"

[engine]
model = "SmolLM2-135M-Instruct.Q4_1.gguf"
"#,
        data = dir.join("data").display(),
        vectors = vectors_section(dir),
    )
}

/// The `[vectors]` section of [`config_text`]: Qdrant Edge under the data
/// folder, or a collection of its own on the Qdrant server at `QDRANT_URL`
/// when that is set, so every test of the stores also runs against a
/// server.
pub fn vectors_section(dir: &Path) -> String {
    let c = zhishu_retrieval::vectors_config_for_tests(&dir.join("data").join("qdrant"));
    match c.url {
        Some(url) => format!(
            "[vectors]\nbackend = \"qdrant\"\nurl = \"{url}\"\ncollection = \"{}\"\n{}",
            c.collection,
            c.api_key
                .map(|k| format!("api_key = \"{k}\"\n"))
                .unwrap_or_default()
        ),
        None => "[vectors]\nbackend = \"edge\"\n".into(),
    }
}

/// The vector store a [`config_text`] configuration rooted in `dir` names,
/// opened as the next Zhishu process would.
pub fn open_vectors(dir: &Path) -> std::sync::Arc<dyn zhishu_retrieval::VectorIndex> {
    let path = dir.join("data").join("qdrant");
    zhishu_retrieval::open_vectors_for_tests(&path, 384).expect("open the vector store")
}

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `zhishu serve` on a fresh SQLite database.
    pub fn start() -> Server {
        Self::start_env(&[])
    }

    /// Starts `zhishu serve` on a fresh SQLite database with extra
    /// environment, and waits until it is ready (schema applied, embedder
    /// loaded): until then requests are refused, as they must be.
    pub fn start_env(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
        let server = Self::start_with(dir, &url, env);
        server.wait_ready(200);
        server
    }

    /// Starts `zhishu serve` on a fresh SQLite database in `dir`, with
    /// `docs` as the one folder ingestion may read, and extra environment;
    /// waits until it is ready.
    #[allow(dead_code)]
    pub fn start_over(dir: tempfile::TempDir, docs: &Path, env: &[(&str, &str)]) -> Server {
        let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
        let roots = format!("[\"{}\"]", docs.display());
        let mut all = vec![("ZHISHU_INGEST__ROOTS", roots.as_str())];
        all.extend_from_slice(env);
        let server = Self::start_with(dir, &url, &all);
        server.wait_ready(200);
        server
    }

    /// Starts `zhishu serve` with this database URL and extra environment.
    pub fn start_with(dir: tempfile::TempDir, database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_args(dir, database_url, env, &["serve"])
    }

    /// Starts `zhishu` with these arguments (`serve` and its options) on
    /// this database URL with extra environment.
    pub fn start_args(
        dir: tempfile::TempDir,
        database_url: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        let config = dir.path().join("zhishu.toml");
        std::fs::write(&config, config_text(dir.path(), database_url)).expect("write config");
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(dir.path())
            .env_remove("ZHISHU_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn zhishu serve");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on http://".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; logs:\n{}",
                    logs.lock().expect("log lock").join("\n")
                );
            }
        };
        Server {
            child,
            base: format!("http://{addr}"),
            dir,
            logs,
        }
    }

    /// Starts `zhishu serve` again over this server's folder (its database,
    /// stores and configuration), as the next node would after this one
    /// stopped or was killed; waits until it is ready.
    #[allow(dead_code)]
    pub fn restart_over(mut self, docs: &Path, env: &[(&str, &str)]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        drop(self);
        Self::start_over(dir, docs, env)
    }

    /// Runs a `zhishu` command against this server's configuration and
    /// database, feeding `stdin`.
    pub fn cli(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let config = self.dir.path().join("zhishu.toml");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ZHISHU_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zhishu");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("zhishu output");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Creates a user with these roles (and a password) and an API key
    /// granting all of them; returns the key.
    pub fn user_with_key(&self, name: &str, roles: &[&str], groups: &[&str]) -> String {
        let mut args = vec!["users", "add", name];
        for r in roles {
            args.extend(["--role", r]);
        }
        for g in groups {
            args.extend(["--group", g]);
        }
        let (code, _, err) = self.cli(&args, "password-of-test\n");
        assert_eq!(code, 0, "users add: {err}");
        let mut args = vec!["keys", "create", "--user", name];
        for r in roles {
            args.extend(["--role", r]);
        }
        let (code, out, err) = self.cli(&args, "");
        assert_eq!(code, 0, "keys create: {err}");
        out.trim().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server wrote to stderr so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("log lock").clone()
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, with a limit.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `/readyz` until it answers `want`.
    pub fn wait_ready(&self, want: u16) -> serde_json::Value {
        let mut last = None;
        for _ in 0..100 {
            let (status, body) = get(&self.url("/readyz"));
            if status == want {
                return body;
            }
            last = Some((status, body));
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("/readyz never answered {want}; last: {last:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GET returning status and JSON body (Null when the body is not JSON).
pub fn get(url: &str) -> (u16, serde_json::Value) {
    let (status, _, text) = get_text(url, &[]);
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// GET with headers, returning status, headers and body text.
pub fn get_text(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut res = req.call().expect("HTTP request");
    let status = res.status().as_u16();
    let hdrs = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (status, hdrs, text)
}

/// POST a raw body with a content type.
pub fn post_raw(url: &str, content_type: &str, body: &str) -> (u16, serde_json::Value) {
    let mut res = agent()
        .post(url)
        .header("content-type", content_type)
        .send(body)
        .expect("HTTP request");
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary to completion with arguments and environment.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).env_remove("ZHISHU_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run zhishu");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Any request: method, headers, optional JSON body; returns status,
/// headers (lower-case names) and body text.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let agent = agent();
    let res = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        (m, body) => {
            let mut r = match m {
                "POST" => agent.post(url),
                "PUT" => agent.put(url),
                "PATCH" => agent.patch(url),
                "DELETE" => {
                    let mut d = agent.delete(url);
                    for (k, v) in headers {
                        d = d.header(*k, *v);
                    }
                    return finish(d.call().expect("HTTP request"));
                }
                other => panic!("method {other}"),
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.header("content-type", "application/json")
                .send(body.unwrap_or(""))
        }
    }
    .expect("HTTP request");
    finish(res)
}

fn finish(mut res: ureq::http::Response<ureq::Body>) -> (u16, Vec<(String, String)>, String) {
    let status = res.status().as_u16();
    let hdrs = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (status, hdrs, text)
}

/// A header's value.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Authorization: Bearer <key>`.
pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A TCP proxy to `target` on a free local port; when `cut` is set it drops
/// every connection and refuses new ones: a database that went away.
pub fn cuttable_proxy(target: String, cut: Arc<std::sync::atomic::AtomicBool>) -> String {
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::Ordering;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        while !cut.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((client, _)) => {
                    let Ok(upstream) = TcpStream::connect(&target) else {
                        continue;
                    };
                    let _ = client.set_nonblocking(false);
                    let (Ok(c1), Ok(u1), Ok(c2), Ok(u2)) = (
                        client.try_clone(),
                        upstream.try_clone(),
                        client.try_clone(),
                        upstream.try_clone(),
                    ) else {
                        continue;
                    };
                    open.push(client);
                    open.push(upstream);
                    std::thread::spawn(move || {
                        let (mut c, mut u) = (c1, u1);
                        std::io::copy(&mut c, &mut u)
                    });
                    std::thread::spawn(move || {
                        let (mut u, mut c) = (u2, c2);
                        std::io::copy(&mut u, &mut c)
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for s in open {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    });
    addr
}

/// Writes a PDF with one page per entry of `pages` (Helvetica, one text line
/// per `\n`), as a word processor's "save as PDF" would lay out plain text.
pub fn write_pdf(path: &Path, pages: &[&str]) {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut kids = Vec::new();
    for text in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![15.into()]),
            Operation::new("Td", vec![60.into(), 780.into()]),
        ];
        for line in text.lines() {
            ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops }.encode().expect("encode page");
        let stream = doc.add_object(Stream::new(dictionary! {}, content));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    doc.save(path).expect("write PDF");
}

/// Ingests a folder into the collection `company` for `groups` through
/// `POST /v1/ingest/jobs`, and waits until the job succeeds; the finished
/// job's view.
#[allow(dead_code)]
pub fn ingest(server: &Server, key: &str, path: &str, groups: &[&str]) -> serde_json::Value {
    let body = serde_json::json!({"path": path, "collection": "company", "access_groups": groups});
    let auth = bearer(key);
    let headers = [("authorization", auth.as_str())];
    let (status, _, text) = request(
        "POST",
        &server.url("/v1/ingest/jobs"),
        &headers,
        Some(&body.to_string()),
    );
    assert_eq!(status, 202, "{text}");
    let job: serde_json::Value = serde_json::from_str(&text).expect("a job");
    let id = job["job_id"].as_str().expect("a job id").to_owned();
    let started = std::time::Instant::now();
    loop {
        let (_, _, text) = request(
            "GET",
            &server.url(&format!("/v1/ingest/jobs/{id}")),
            &headers,
            None,
        );
        let job: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        match job["status"].as_str().unwrap_or("") {
            "succeeded" => return job,
            "failed" | "cancelled" => panic!("job: {job}"),
            _ => {}
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{job}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An API call with a bearer key and an optional JSON body; the answer's
/// status and JSON (a string when the body is not JSON).
pub fn call(
    server: &Server,
    method: &str,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let auth = bearer(key);
    let body = body.map(|b| b.to_string());
    let (status, _, text) = request(
        method,
        &server.url(path),
        &[("authorization", &auth)],
        body.as_deref(),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A database of its own (dropped first if a run left it) on the
/// PostgreSQL server whose URL `admin` is; its URL.
pub fn fresh_database(admin: &str, name: &str) -> String {
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        let ok = Command::new("psql")
            .args([admin, "-qc", &sql])
            .status()
            .expect("run psql")
            .success();
        assert!(ok, "{sql}");
    }
    format!(
        "{}/{name}",
        admin.rsplit_once('/').expect("a URL with a database").0
    )
}

/// `files` bilingual Markdown reports (`report-NNNN.md`) under `root`: a
/// folder big enough for an ingest job to be interrupted half-way.
pub fn write_reports(root: &Path, files: usize) {
    std::fs::create_dir_all(root).expect("create the folder");
    for i in 0..files {
        let mut text = format!("# Report {i}\n\n");
        for p in 0..6 {
            text.push_str(&format!(
                "Paragraph {p} of report {i}: quarterly figures for region {r} grew by {g} percent, driven by enterprise renewals and new accounts. 第{i}号报告第{p}段：本季度区域收入增长。\n\n",
                r = i % 7,
                g = (i * 7 + p) % 23
            ));
        }
        std::fs::write(root.join(format!("report-{i:04}.md")), text).expect("write a report");
    }
}

/// Compares the stores in `dir` (Qdrant Edge or the test server's
/// collection, and Tantivy) with the registry, as the next process would
/// open them: `documents` documents, every one indexed, each chunk exactly
/// once and at its document's version, and no chunk the registry does not
/// know (counted as `group` sees them).
pub async fn assert_stores_match_the_registry(
    store: &zhishu_store::SqlStore,
    dir: &Path,
    documents: usize,
    group: &str,
) {
    use zhishu_store::DocumentRegistry;
    let vectors = open_vectors(dir);
    let lexical = zhishu_retrieval::LexicalIndex::open(&dir.join("data/tantivy")).unwrap();
    let all = store.list_documents(None, 1000, 0).await.unwrap();
    assert_eq!(all.len(), documents);
    let mut total = 0;
    for d in &all {
        assert_eq!(
            d.status,
            zhishu_store::DocumentStatus::Indexed,
            "{}",
            d.source_path
        );
        let chunks = store.chunks(&d.id).await.unwrap().len();
        total += chunks;
        let v = vectors.document_versions(&d.id).await.unwrap();
        let l = lexical.document_versions(&d.id).unwrap();
        assert_eq!((v.len(), l.len()), (chunks, chunks), "{}", d.source_path);
        assert!(v.iter().chain(&l).all(|&x| x == d.version));
    }
    let scope = zhishu_retrieval::Scope::of_groups([group]);
    let all_of = zhishu_retrieval::SearchFilter::default();
    assert_eq!(vectors.count(&scope, &all_of).await.unwrap(), total);
    assert_eq!(lexical.num_chunks() as usize, total);
}

/// GET with a bearer key: the status, the headers and the body as bytes.
#[allow(dead_code)]
pub fn get_bytes(server: &Server, path: &str, key: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .get(&server.url(path))
        .header("authorization", &bearer(key))
        .call()
        .expect("the server answers");
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let status = res.status().as_u16();
    let body = res.body_mut().read_to_vec().unwrap_or_default();
    (status, headers, body)
}
