//! `zhishu ingest` and `zhishu search` as a user runs them: real files,
//! real stores, the real binary; and a job killed with SIGKILL half-way that
//! finishes cleanly when run again.

mod common;

use common::{BIN, assets, config_text};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zhishu_retrieval::{LexicalIndex, Scope, SearchFilter};
use zhishu_store::{DocumentRegistry, DocumentStatus, SqlStore};

struct Sandbox {
    dir: tempfile::TempDir,
    url: String,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/zhishu.db", dir.path().display());
        std::fs::write(
            dir.path().join("zhishu.toml"),
            config_text(dir.path(), &url),
        )
        .unwrap();
        Self { dir, url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.dir.path().join("zhishu.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ZHISHU_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn store(&self) -> SqlStore {
        SqlStore::connect(&zhishu_store::testing::config(&self.url))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn ingest_then_search_from_the_terminal() {
    let b = Sandbox::new();
    let docs = b.dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(
        docs.join("travel.md"),
        "# Travel policy\n\n## Hotels\n\nHotel stays in tier-one cities are reimbursed up to 600 yuan per night.\n\n## 交通\n\n高铁二等座可以报销。\n",
    )
    .unwrap();
    std::fs::copy(
        assets().join("pdfs/03-invalid.pdf"),
        docs.join("sub/broken.pdf"),
    )
    .unwrap();
    std::fs::write(docs.join("sub/archive.7z"), [55u8, 122, 188, 175]).unwrap();
    let path = docs.display().to_string();

    let (code, out, err) = b.run(&[
        "ingest",
        &path,
        "--collection",
        "policies",
        "--group",
        "staff",
    ]);
    assert_eq!(
        code, 1,
        "a failed file makes the exit code say so: {out}{err}"
    );
    assert!(
        out.contains("3 files: 1 indexed, 0 unchanged, 1 skipped, 1 failed"),
        "{out}"
    );
    assert!(
        out.contains("skipped") && out.contains("archive.7z: unsupported file type (.7z)"),
        "{out}"
    );
    assert!(
        out.contains("failed") && out.contains("broken.pdf"),
        "{out}"
    );

    let (code, out, err) = b.run(&[
        "search",
        "hotel limit per night",
        "--group",
        "staff",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let top = &v["hits"][0];
    assert!(
        top["chunk"]["text"].as_str().unwrap().contains("600 yuan"),
        "{out}"
    );
    assert_eq!(top["chunk"]["section_path"], "Travel policy > Hotels");
    assert!(
        top["scores"]["bm25"].is_number() && top["scores"]["dense"].is_number(),
        "{out}"
    );
    assert!(
        top["chunk"].get("prompt_ids").is_none(),
        "stored token ids are not shown: {out}"
    );
    stored_prompt_ids_are_qwen3s(&b.dir.path().join("data")).await;

    let (code, out, _) = b.run(&["search", "高铁 报销", "--group", "staff"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("交通"),
        "Chinese query finds the Chinese section: {out}"
    );

    let (code, out, _) = b.run(&["search", "hotel", "--group", "contractors"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("no results"),
        "another group sees nothing: {out}"
    );

    let (code, out, _) = b.run(&[
        "ingest",
        &path,
        "--collection",
        "policies",
        "--group",
        "staff",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("0 indexed, 1 unchanged, 1 skipped, 1 failed"),
        "the broken file still fails: {out}"
    );
}

/// Every chunk in both stores carries the Qwen3 ids of its prompt label and
/// text, made by the configured tokenizer and marked with its fingerprint,
/// so prompt assembly can compose instead of tokenising.
async fn stored_prompt_ids_are_qwen3s(data: &Path) {
    let tokenizer =
        tokenizers::Tokenizer::from_file(assets().join("tokenizers/qwen3/tokenizer.json")).unwrap();
    let fingerprint = zhishu_retrieval::tokenizer_fingerprint(&tokenizer);
    let encode = |t: &str| tokenizer.encode(t, false).unwrap().get_ids().to_vec();
    let scope = Scope::of_groups(["staff"]);
    let filter = SearchFilter::default();
    let lexical = LexicalIndex::open(&data.join("tantivy")).unwrap();
    let vectors = common::open_vectors(data.parent().unwrap());
    let mut probe = vec![0.0; 384];
    probe[0] = 1.0;
    let from_lexical = lexical
        .search("hotel 高铁 travel", 10, &scope, &filter)
        .unwrap();
    let from_vectors = vectors
        .search(probe, 10, &scope, &filter, true)
        .await
        .unwrap();
    let chunks: Vec<_> = from_lexical
        .into_iter()
        .map(|h| h.chunk)
        .chain(from_vectors.into_iter().map(|h| h.chunk))
        .collect();
    assert!(chunks.len() >= 4, "{}", chunks.len());
    for c in chunks {
        let ids = c.prompt_ids.as_ref().expect("prompt ids stored");
        assert_eq!(ids.tokenizer, fingerprint);
        assert_eq!(ids.ids, encode(&zhishu_retrieval::prompt_piece(&c.text)));
        assert_eq!(c.qwen_tokens as usize, ids.ids.len());
        let label = zhishu_retrieval::prompt_label(&c.title, &c.section_path, c.page);
        assert_eq!(ids.label, encode(&label), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_half_way_finishes_with_no_duplicates_or_orphans() {
    let b = Sandbox::new();
    let docs = b.dir.path().join("reports");
    common::write_reports(&docs, 120);
    let path = docs.display().to_string();
    let store = b.store().await;

    let mut child = b
        .command(&["ingest", &path, "--group", "staff"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut killed_at = None;
    while started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let docs = store
            .list_documents(None, 1000, 0)
            .await
            .unwrap_or_default();
        let indexed = docs
            .iter()
            .filter(|d| d.status == DocumentStatus::Indexed)
            .count();
        if indexed >= 1 {
            child.kill().unwrap();
            killed_at = Some(indexed);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let indexed = killed_at.expect("the job was killed while running");
    let _ = child.wait();
    assert!(indexed < 120, "killed before the end ({indexed} indexed)");

    let (code, out, err) = b.run(&["ingest", &path, "--group", "staff"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("120 files"), "{out}");

    // Open the stores as the next process would and compare with the
    // registry: every document exactly once, at its version, nothing else.
    common::assert_stores_match_the_registry(&store, b.dir.path(), 120, "staff").await;
}
