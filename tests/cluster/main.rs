//! The scale-out harness: three Qdrant nodes in distributed mode (the
//! server binary named by `QDRANT_BIN`), PostgreSQL (`DATABASE_URL`), two
//! ingest and two query `zhishu` processes over them, BM25 inside Qdrant.
//! It ingests a folder through one node and searches through another;
//! kills the ingest node running the job (SIGKILL) and one Qdrant node;
//! then checks that the job finishes on the other ingest node, that no
//! chunk is lost or duplicated, that searches and answers still come back
//! from both query nodes, and that the audit chain the four nodes wrote
//! verifies.
//!
//! Without `QDRANT_BIN` (and `DATABASE_URL`) it says that it skipped.

#[path = "../common/mod.rs"]
mod common;

use common::{Server, call, fresh_database, write_reports};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zhishu_store::{DocumentRegistry, DocumentStatus, SqlStore};

const FILES: usize = 120;

/// A free local port.
fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One Qdrant node; killed on drop.
struct Qdrant {
    child: Child,
    http: u16,
    grpc: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Qdrant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qdrant {
    /// Starts a node; the first starts the cluster, the others join it
    /// through the first's peer-to-peer port.
    fn start(bin: &Path, first_p2p: Option<u16>) -> (Self, u16) {
        let dir = tempfile::tempdir().unwrap();
        let (http, grpc, p2p) = (port(), port(), port());
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path())
            .env("QDRANT__CLUSTER__ENABLED", "true")
            .env("QDRANT__CLUSTER__P2P__PORT", p2p.to_string())
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.path().join("storage"))
            .env(
                "QDRANT__STORAGE__SNAPSHOTS_PATH",
                dir.path().join("snapshots"),
            )
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .arg("--uri")
            .arg(format!("http://127.0.0.1:{p2p}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("qdrant.log")).unwrap());
        if let Some(first) = first_p2p {
            cmd.arg("--bootstrap")
                .arg(format!("http://127.0.0.1:{first}"));
        }
        let child = cmd.spawn().expect("start QDRANT_BIN");
        let node = Self {
            child,
            http,
            grpc,
            _dir: dir,
        };
        node.wait_ready();
        (node, p2p)
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            // Not listening yet is not an answer.
            let up = std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok();
            if up && common::get(&format!("http://127.0.0.1:{}/readyz", self.http)).0 == 200 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Qdrant on {} did not become ready: {}",
                self.http,
                std::fs::read_to_string(self._dir.path().join("qdrant.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Peers the node knows.
    fn peers(&self) -> usize {
        let (_, body) = common::get(&format!("http://127.0.0.1:{}/cluster", self.http));
        body["result"]["peers"].as_object().map_or(0, |p| p.len())
    }
}

#[test]
fn two_tiers_over_a_qdrant_cluster_survive_a_dead_worker_and_a_dead_qdrant_node() {
    let (Some(bin), Ok(admin)) = (
        std::env::var_os("QDRANT_BIN").map(PathBuf::from),
        std::env::var("DATABASE_URL"),
    ) else {
        eprintln!(
            "SKIPPED: the cluster harness needs QDRANT_BIN (a Qdrant server binary) and \
             DATABASE_URL (PostgreSQL); set both to run it"
        );
        return;
    };

    // Three Qdrant nodes in one cluster.
    let (first, p2p) = Qdrant::start(&bin, None);
    let (second, _) = Qdrant::start(&bin, Some(p2p));
    let (third, _) = Qdrant::start(&bin, Some(p2p));
    let started = Instant::now();
    while first.peers() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the cluster did not form"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let url = fresh_database(&admin, &format!("zhishu_cluster_{}", std::process::id()));
    let docs_dir = tempfile::tempdir().unwrap();
    let docs = docs_dir.path().join("reports");
    write_reports(&docs, FILES);
    let roots = format!("[\"{}\"]", docs.display());
    let qdrant_url = format!("http://127.0.0.1:{}", first.grpc);
    let collection = format!("cluster_{}", std::process::id());
    let env = [
        ("ZHISHU_VECTORS__BACKEND", "qdrant"),
        ("ZHISHU_VECTORS__URL", qdrant_url.as_str()),
        ("ZHISHU_VECTORS__COLLECTION", collection.as_str()),
        ("ZHISHU_VECTORS__CLUSTER__SHARD_NUMBER", "3"),
        ("ZHISHU_VECTORS__CLUSTER__REPLICATION_FACTOR", "2"),
        ("ZHISHU_LEXICAL__BACKEND", "qdrant"),
        ("ZHISHU_INGEST__ROOTS", roots.as_str()),
        ("ZHISHU_INGEST__JOB_LEASE_SECS", "6"),
    ];
    let node = |service: &str| {
        let s = Server::start_args(
            tempfile::tempdir().unwrap(),
            &url,
            &env,
            &["serve", "--service", service],
        );
        s.wait_ready(200);
        s
    };
    let ingest = [node("ingest"), node("ingest")];
    let query = [node("query"), node("query")];
    let key = ingest[0].user_with_key(
        "operator",
        &["knowledge_admin", "employee", "compliance_officer"],
        &["staff"],
    );

    // Ingest through the first ingest node.
    let (status, body) = call(
        &ingest[0],
        "POST",
        "/v1/ingest/jobs",
        &key,
        Some(json!({"path": docs.display().to_string(), "access_groups": ["staff"]})),
    );
    assert_eq!(status, 202, "{body}");
    let job = format!("/v1/ingest/jobs/{}", body["job_id"].as_str().unwrap());

    // Once some files are committed, kill the node that runs the job, and
    // a Qdrant node the Zhishu nodes do not talk to.
    let started = Instant::now();
    let running = loop {
        let (_, j) = call(&ingest[1], "GET", &job, &key, None);
        if j["files_done"].as_u64().unwrap_or(0) >= 3 {
            break j;
        }
        assert!(j["status"] != "succeeded", "finished before the kill: {j}");
        assert!(started.elapsed() < Duration::from_secs(600), "{j}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let worker = running["worker"].as_str().unwrap().to_owned();
    let victim = ingest
        .iter()
        .position(|n| worker.contains(&format!("#{}", n.child.id())))
        .expect("the worker is one of the two ingest nodes");
    ingest[victim].signal("KILL");
    drop(third);
    let survivor = &ingest[1 - victim];

    // The survivor resumes it once the lease runs out.
    let started = Instant::now();
    let done = loop {
        let (_, j) = call(survivor, "GET", &job, &key, None);
        if ["succeeded", "failed", "cancelled"].contains(&j["status"].as_str().unwrap_or("")) {
            break j;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "{j}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "{done}");

    // Every document once, in the registry and in the collection.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqlStore::connect(&zhishu_store::testing::config(&url))
            .await
            .unwrap();
        let all = store.list_documents(None, 1000, 0).await.unwrap();
        assert_eq!(all.len(), FILES);
        let vectors = zhishu_retrieval::open_vectors(
            &zhishu_core::config::VectorsConfig {
                backend: zhishu_core::config::VectorBackend::Qdrant,
                path: None,
                url: Some(qdrant_url.clone()),
                api_key: None,
                collection: collection.clone(),
                cluster: Default::default(),
            },
            Path::new("/nonexistent"),
            384,
        )
        .unwrap();
        for d in &all {
            assert_eq!(d.status, DocumentStatus::Indexed, "{}", d.source_path);
            let chunks = store.chunks(&d.id).await.unwrap().len();
            let stored = vectors.document_versions(&d.id).await.unwrap();
            assert_eq!(
                stored.len(),
                chunks,
                "{}: no chunk lost or twice",
                d.source_path
            );
            assert!(stored.iter().all(|&v| v == d.version));
        }
    });

    // Both query nodes search and answer, with a Qdrant node down.
    for (i, q) in query.iter().enumerate() {
        let (status, hits) = call(
            q,
            "POST",
            "/v1/search",
            &key,
            Some(json!({"query": "第7号报告 区域收入", "k": 5})),
        );
        assert_eq!(status, 200, "query node {i}: {hits}");
        assert!(!hits["hits"].as_array().unwrap().is_empty(), "{hits}");
        let (status, answer) = call(
            q,
            "POST",
            "/v1/chat/completions",
            &key,
            Some(json!({
                "model": "zhishu",
                "messages": [{"role": "user", "content": "How much did region 3 grow?"}],
                "max_tokens": 16, "temperature": 0,
            })),
        );
        assert_eq!(status, 200, "query node {i}: {answer}");
    }
    // Readiness stays green while every shard has an active replica, and
    // names the replicas on the dead node.
    let started = Instant::now();
    loop {
        let (status, ready) = common::get(&query[0].url("/readyz"));
        assert_eq!(status, 200, "{ready}");
        if ready.to_string().contains("not active") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "readiness does not name the dead node's replicas: {ready}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // One audit chain across the four nodes, intact.
    let (status, verified) = call(&query[1], "GET", "/v1/audit/verify", &key, None);
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["ok"], true, "{verified}");
    drop(second);
}
