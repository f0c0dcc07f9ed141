//! `zhishu eval` as a user runs it: the shipped Chinese + English BEIR set,
//! the real embedder, a cross-encoder, scratch stores; and the errors a
//! broken dataset gets.

mod common;

use common::{config_text, repo_root, run_cli};
use std::path::Path;

fn sandbox() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/zhishu.db", dir.path().display());
    let config = dir.path().join("zhishu.toml");
    std::fs::write(&config, config_text(dir.path(), &url)).unwrap();
    (dir, config.display().to_string())
}

fn eval(config: &str, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let dataset = repo_root().join("tests/data/eval-zh-en");
    let mut args = vec![
        "--config",
        config,
        "eval",
        "--dataset",
        dataset.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_cli(&args, &[], dir)
}

#[test]
fn eval_scores_every_mode_on_the_shipped_bilingual_set() {
    let (dir, config) = sandbox();
    let reranker = repo_root().join("services/encoders/tests/fixtures/tiny-cross-encoder");
    let out = dir.path().join("report.json");
    let (code, stdout, stderr) = eval(
        &config,
        dir.path(),
        &[
            "--json",
            "--reranker",
            reranker.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report, written, "--output holds the same report");

    let queries = report["queries"].as_u64().unwrap();
    assert!(queries >= 50, "{report}");
    assert!(report["chunks"].as_u64().unwrap() >= report["documents"].as_u64().unwrap());
    let modes = report["modes"].as_object().unwrap();
    for name in ["bm25", "dense", "hybrid", "hybrid+rerank"] {
        let m = &modes[name];
        assert_eq!(m["queries"].as_u64(), Some(queries), "{name}");
        for metric in ["ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"] {
            let v = m[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{name} {metric} = {v}");
        }
        assert!(m["recall_at_100"].as_f64() >= m["recall_at_10"].as_f64());
        assert!(m["latency_p95_ms"].as_f64() >= m["latency_p50_ms"].as_f64());
    }
    let ndcg = |name: &str| modes[name]["ndcg_at_10"].as_f64().unwrap();
    // The set is built so that exact-term queries are solvable lexically and
    // paraphrases need the dense side: each retriever alone finds most
    // passages, and fusion is at least as good as the weaker one.
    assert!(ndcg("bm25") > 0.6, "bm25 {}", ndcg("bm25"));
    assert!(ndcg("dense") > 0.3, "dense {}", ndcg("dense"));
    assert!(
        ndcg("hybrid") >= ndcg("bm25").min(ndcg("dense")),
        "hybrid {} vs bm25 {} / dense {}",
        ndcg("hybrid"),
        ndcg("bm25"),
        ndcg("dense")
    );
    assert!(report["skipped"].as_object().unwrap().is_empty());

    // The scratch stores are gone and the live ones were never created.
    assert!(!dir.path().join("data/qdrant").exists());
    assert!(!dir.path().join("data/tantivy").exists());
}

#[test]
fn eval_prints_a_table_and_skips_rerank_without_a_cross_encoder() {
    let (dir, config) = sandbox();
    let (code, stdout, stderr) = eval(&config, dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("nDCG@10") && stdout.contains("Recall@100"),
        "{stdout}"
    );
    for name in ["bm25", "dense", "hybrid"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name} row: {stdout}"
        );
    }
    assert!(
        stdout.contains("hybrid+rerank  skipped: no cross-encoder configured"),
        "{stdout}"
    );
}

#[test]
fn a_broken_dataset_is_reported_with_file_and_line() {
    let (dir, config) = sandbox();
    let data = dir.path().join("broken");
    std::fs::create_dir_all(data.join("qrels")).unwrap();
    std::fs::write(
        data.join("corpus.jsonl"),
        "{\"_id\":\"d1\",\"title\":\"\",\"text\":\"hello\"}\n",
    )
    .unwrap();
    std::fs::write(
        data.join("queries.jsonl"),
        "{\"_id\":\"q1\",\"text\":\"hi\"}\n",
    )
    .unwrap();
    std::fs::write(
        data.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\tnope\t1\n",
    )
    .unwrap();
    let (code, _, stderr) = run_cli(
        &[
            "--config",
            &config,
            "eval",
            "--dataset",
            data.to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("test.tsv, line 2") && stderr.contains("`nope` is not in corpus.jsonl"),
        "{stderr}"
    );
    let (code, _, stderr) = run_cli(
        &[
            "--config",
            &config,
            "eval",
            "--dataset",
            dir.path().join("missing").to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("corpus.jsonl"), "{stderr}");
}
