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
    let candidates = dir.path().join("candidates.jsonl");
    let (code, stdout, stderr) = eval(
        &config,
        dir.path(),
        &[
            "--json",
            "--reranker",
            reranker.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--candidates",
            candidates.to_str().unwrap(),
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
    for name in [
        "bm25",
        "dense",
        "hybrid",
        "hybrid+rerank",
        "bm25 (qdrant)",
        "hybrid (qdrant)",
    ] {
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

    // --candidates: every chunk, then every query with both rankings as
    // [document, ordinal, score], best first, and its votes.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&candidates)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |t: &'static str| lines.iter().filter(move |l| l["type"] == t);
    assert_eq!(
        of("chunk").count() as u64,
        report["chunks"].as_u64().unwrap()
    );
    assert_eq!(of("query").count() as u64, queries);
    let documents: std::collections::HashSet<&str> = of("chunk")
        .map(|c| c["document"].as_str().unwrap())
        .collect();
    for q in of("query") {
        assert!(q["lexical_vote"].as_f64().is_some() && q["dense_vote"].as_f64().is_some());
        let dense = q["dense"].as_array().unwrap();
        assert!(!dense.is_empty() && dense.len() <= 100, "{q}");
        for list in ["bm25", "dense"] {
            let hits = q[list].as_array().unwrap();
            for w in hits.windows(2) {
                assert!(
                    w[0][2].as_f64() >= w[1][2].as_f64(),
                    "{list} best first: {q}"
                );
            }
            for h in hits {
                assert!(documents.contains(h[0].as_str().unwrap()), "{h}");
            }
        }
        // The fused top 20 before late interaction, best first, each with
        // its MaxSim (a mean of cosines).
        let late = q["late"].as_array().unwrap();
        assert!(!late.is_empty() && late.len() <= 20, "{q}");
        for w in late.windows(2) {
            assert!(
                w[0][2].as_f64() >= w[1][2].as_f64(),
                "fused best first: {q}"
            );
        }
        // The question's pieces lie within its text, and each hit's
        // MaxSim is the weighted mean of their best cosines against it.
        let text = q["text"].as_str().unwrap();
        let pieces = q["late_pieces"].as_array().unwrap();
        assert!(!pieces.is_empty(), "{q}");
        for p in pieces {
            let (start, end) = (p[1].as_u64().unwrap(), p[2].as_u64().unwrap());
            assert!(start <= end && end as usize <= text.len(), "{p} in {text}");
        }
        // One weight a piece: what the pass averaged them by.
        let weights: Vec<f64> = q["late_weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        assert_eq!(weights.len(), pieces.len(), "{q}");
        assert!(weights.iter().all(|w| *w >= 0.0), "{q}");
        for h in late {
            assert!(documents.contains(h[0].as_str().unwrap()), "{h}");
            let max_sim = h[3].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&max_sim), "{h}");
            let maxima: Vec<f64> = h[4]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_f64().unwrap())
                .collect();
            assert_eq!(maxima.len(), pieces.len(), "{h}");
            let total: f64 = weights.iter().sum();
            let mean = if total > 0.0 {
                maxima.iter().zip(&weights).map(|(m, w)| m * w).sum::<f64>() / total
            } else {
                maxima.iter().sum::<f64>() / maxima.len() as f64
            };
            assert!(
                (mean - max_sim).abs() < 1e-4,
                "{mean} against {max_sim}: {h}"
            );
        }
    }

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

/// The single-box default embedder (multilingual-e5-small, with its
/// prefixes) in place of the test configuration's all-MiniLM.
fn default_embedder(config: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replace(
        "model = \"all-MiniLM-L6-v2\"",
        "model = \"multilingual-e5-small\"\nquery_prefix = \"query: \"\npassage_prefix = \"passage: \"",
    );
    std::fs::write(config, text).unwrap();
}

/// Runs `zhishu eval --gate` on a shipped set of real documentation with
/// the default models, and checks the rule on top of the recorded
/// figures: fusion never makes things worse than the better retriever
/// (within 0.01 nDCG@10), overall and per language.
///
/// The sets' passage vectors come from `passage-vectors.bin` beside them
/// (`ZHISHU_EVAL_CACHE`; copied, since a run adds what it misses):
/// embedding their 3,000-odd chunks takes 25 minutes of this machine's two
/// cores, and the embedder itself is pinned by the e5 parity test in
/// services/encoders. Likewise the late pass's MaxSims come from
/// `late-scores.bin` (`ZHISHU_EVAL_LATE_CACHE`), one in 32 of them
/// recomputed and checked (the pass itself is pinned by
/// services/encoders/tests/late.rs, and runs uncached in
/// `eval_scores_every_mode_on_the_shipped_bilingual_set`). Chunking, BM25,
/// query embedding, fusion, blending and ranking all run for real; a
/// chunk or a top passage whose text changed is computed afresh.
fn gate(set: &str) {
    let (dir, config) = sandbox();
    default_embedder(&config);
    let data = repo_root().join("tests/data").join(set);
    let gate = data.join("gate.json");
    let cache = dir.path().join("passage-vectors.bin");
    std::fs::copy(data.join("passage-vectors.bin"), &cache).unwrap();
    let late = dir.path().join("late-scores.bin");
    std::fs::copy(data.join("late-scores.bin"), &late).unwrap();
    let (code, stdout, stderr) = run_cli(
        &[
            "--config",
            &config,
            "eval",
            "--dataset",
            data.to_str().unwrap(),
            "--json",
            "--gate",
            gate.to_str().unwrap(),
        ],
        &[
            ("ZHISHU_EVAL_CACHE", cache.to_str().unwrap()),
            ("ZHISHU_EVAL_LATE_CACHE", late.to_str().unwrap()),
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{set}: {stderr}");
    assert!(stderr.contains("within 0.02 of the recorded"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // The late pass ran, mostly from the file, and the pairs set aside
    // were recomputed and agreed (a disagreement fails the run).
    let used = &report["late_cache"];
    let count = |k: &str| used[k].as_u64().unwrap();
    println!("{set}: late scores {used}");
    assert!(
        count("read") > 10 * count("computed"),
        "{set}: most late scores were computed, not read ({used}): refresh tests/data/{set}/late-scores.bin as docs/retrieval.md says"
    );
    assert!(count("checked") > 0, "{set}: {used}");
    assert!(
        used["largest_difference"].as_f64().unwrap() <= 1e-3,
        "{set}: {used}"
    );
    assert!(
        stderr.contains(&format!(
            "{} scores read from ZHISHU_EVAL_LATE_CACHE",
            count("read")
        )),
        "{stderr}"
    );
    let mut groups = vec![("all".to_string(), report["modes"].clone())];
    for (lang, modes) in report["languages"].as_object().unwrap() {
        groups.push((lang.clone(), modes.clone()));
    }
    // BM25 inside Qdrant (lexical.backend = "qdrant", the shipped average
    // lengths) within 0.02 of Tantivy's, alone and fused.
    let modes = &report["modes"];
    for (qdrant, tantivy) in [("bm25 (qdrant)", "bm25"), ("hybrid (qdrant)", "hybrid")] {
        let ndcg = |m: &str| modes[m]["ndcg_at_10"].as_f64().unwrap();
        assert!(
            ndcg(qdrant) >= ndcg(tantivy) - 0.02,
            "{set}: {qdrant} {:.4} vs {tantivy} {:.4}",
            ndcg(qdrant),
            ndcg(tantivy)
        );
    }
    assert!(
        report["average_terms"]["chinese"]["body"].as_f64().unwrap() > 0.0,
        "the measured averages are reported: {report}"
    );
    // Every group, with either BM25 backend: fusion within 0.01 of the
    // better retriever (the synthetic set's English queries were 0.025
    // short under rank fusion; score fusion closed it).
    for (name, modes) in groups {
        let ndcg = |m: &str| modes[m]["ndcg_at_10"].as_f64().unwrap();
        for (hybrid, bm25) in [("hybrid", "bm25"), ("hybrid (qdrant)", "bm25 (qdrant)")] {
            let best = ndcg(bm25).max(ndcg("dense"));
            assert!(
                ndcg(hybrid) >= best - 0.01,
                "{set} {name}: {hybrid} {:.4} below the better retriever {best:.4}",
                ndcg(hybrid)
            );
        }
    }
}

#[test]
fn quality_gate_english_documentation() {
    gate("docs-en");
}

#[test]
fn quality_gate_chinese_documentation() {
    gate("docs-zh");
}

#[test]
fn quality_gate_bilingual_knowledge_base() {
    gate("eval-zh-en");
}

/// The injection goals of the guard issue, on the labelled set's `test`
/// split (the built-in model was trained on `dev` only), as `zhishu guard
/// eval` measures them with the default embedder: per language, recall
/// over every attack category of questions at or above 0.9 with at most
/// 2 % false positives on benign questions and hard negatives.
#[test]
fn the_question_guard_meets_its_injection_goals_on_the_held_out_split() {
    let (dir, config) = sandbox();
    default_embedder(&config);
    let data = repo_root().join("tests/data/guard");
    let (code, stdout, stderr) = run_cli(
        &[
            "--config",
            &config,
            "guard",
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--split",
            "test",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    println!("{stdout}");
    let rate = |lang: &str, row: &str| -> (f64, usize) {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {lang} | {row} |")))
            .unwrap_or_else(|| panic!("no row {lang}/{row}:\n{stdout}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        (cells[4].parse().unwrap(), cells[5].parse().unwrap())
    };
    for lang in ["en", "zh"] {
        let (recall, attacks) = rate(lang, "all attack questions");
        let (fp, benign) = rate(lang, "all benign questions");
        assert!(
            attacks >= 120 && benign >= 120,
            "{lang}: {attacks}/{benign}"
        );
        assert!(recall >= 0.9, "{lang}: recall {recall} below 0.9");
        assert!(fp <= 0.02, "{lang}: {fp} false positives above 0.02");
    }
}
