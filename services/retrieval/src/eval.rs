//! Retrieval evaluation: BEIR datasets and the standard ranking metrics.
//!
//! Why BEIR: it is the format every public retrieval benchmark ships in
//! (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), so a customer can
//! measure Zhishu on their own judged queries with the same files they
//! would give any other tool. The metrics follow `trec_eval` (as BEIR's
//! `pytrec_eval` does): nDCG with linear gain and a log2 discount, recall
//! over the judged-relevant documents, reciprocal rank of the first
//! relevant hit.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use thiserror::Error;

/// A dataset that cannot be read.
#[derive(Debug, Error)]
pub enum DatasetError {
    /// A file is missing or unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not what the format requires.
    #[error("{path}, line {line}: {message}")]
    Format {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// One corpus document.
#[derive(Debug, Clone, Deserialize)]
pub struct CorpusDoc {
    /// Document id (`_id`).
    #[serde(rename = "_id")]
    pub id: String,
    /// Title; may be empty.
    #[serde(default)]
    pub title: String,
    /// Text.
    pub text: String,
}

/// One query.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalQuery {
    /// Query id (`_id`).
    #[serde(rename = "_id")]
    pub id: String,
    /// Query text.
    pub text: String,
    /// What kind of query it is (a free label some datasets carry, e.g.
    /// `zh-question`); reports break results down by it.
    #[serde(default)]
    pub kind: Option<String>,
}

/// The language a query is reported under: `zh` when it holds a Chinese
/// character (CJK unified ideographs, extension A or compatibility), `en`
/// otherwise. Mixed queries ("VPN 连接失败") count as Chinese: a Chinese
/// speaker typed them.
pub fn query_language(text: &str) -> &'static str {
    if text.chars().any(crate::lexical::is_han) {
        "zh"
    } else {
        "en"
    }
}

/// A BEIR dataset: corpus, queries and the judgements of one split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The corpus, in file order.
    pub corpus: Vec<CorpusDoc>,
    /// Queries that have at least one judgement, in file order.
    pub queries: Vec<EvalQuery>,
    /// query id → document id → relevance (> 0 is relevant).
    pub qrels: HashMap<String, HashMap<String, u32>>,
}

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, DatasetError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line).map_err(|e| DatasetError::Format {
                path: path.display().to_string(),
                line: i + 1,
                message: format!("{e} (each line must be a JSON object with \"_id\" and \"text\")"),
            })?,
        );
    }
    Ok(out)
}

impl Dataset {
    /// Reads `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv` from
    /// `dir`. Queries without judgements are dropped (as BEIR does); a
    /// judgement naming an unknown query or document is an error, since it
    /// would silently lower every score.
    ///
    /// # Errors
    /// [`DatasetError`] naming the file and line.
    pub fn load(dir: &Path, split: &str) -> Result<Self, DatasetError> {
        let corpus: Vec<CorpusDoc> = jsonl(&dir.join("corpus.jsonl"))?;
        let queries: Vec<EvalQuery> = jsonl(&dir.join("queries.jsonl"))?;
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let text = read(&qrels_path)?;
        let doc_ids: HashSet<&str> = corpus.iter().map(|d| d.id.as_str()).collect();
        let query_ids: HashSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
        let format = |line: usize, message: String| DatasetError::Format {
            path: qrels_path.display().to_string(),
            line,
            message,
        };
        for (i, line) in text.lines().enumerate() {
            let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
            if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
                continue;
            }
            let [q, d, score] = cols[..] else {
                return Err(format(
                    i + 1,
                    "expected three tab-separated columns: query-id, corpus-id, score".into(),
                ));
            };
            let score: i64 = score
                .parse()
                .map_err(|_| format(i + 1, format!("score `{score}` is not an integer")))?;
            if !query_ids.contains(q) {
                return Err(format(
                    i + 1,
                    format!("query `{q}` is not in queries.jsonl"),
                ));
            }
            if !doc_ids.contains(d) {
                return Err(format(
                    i + 1,
                    format!("document `{d}` is not in corpus.jsonl"),
                ));
            }
            qrels
                .entry(q.to_owned())
                .or_default()
                .insert(d.to_owned(), score.max(0) as u32);
        }
        let queries = queries
            .into_iter()
            .filter(|q| qrels.get(&q.id).is_some_and(|j| j.values().any(|&r| r > 0)))
            .collect();
        Ok(Self {
            corpus,
            queries,
            qrels,
        })
    }
}

/// nDCG@k with linear gain (trec_eval's `ndcg_cut`).
pub fn ndcg_at(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| f64::from(judged.get(d).copied().unwrap_or(0)) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| f64::from(r) / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// Share of the relevant documents found in the top k.
pub fn recall_at(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&r| r > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|&r| r > 0))
        .count();
    found as f64 / relevant as f64
}

/// 1 / rank of the first relevant document in the top k, else 0.
pub fn mrr_at(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|&r| r > 0))
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
}

/// The value below which `p` of the sorted samples fall (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The scores of one retrieval mode over a dataset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModeReport {
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean Recall@10.
    pub recall_at_10: f64,
    /// Mean Recall@100.
    pub recall_at_100: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
    /// Median search latency, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile search latency, ms.
    pub latency_p95_ms: f64,
    /// Queries scored.
    pub queries: usize,
}

/// Accumulates one mode's per-query rankings into a [`ModeReport`].
#[derive(Debug, Default)]
pub struct ModeScorer {
    sums: [f64; 4],
    latencies: Vec<f64>,
}

impl ModeScorer {
    /// Adds one query's ranked document ids (best first, no repeats) and
    /// its latency.
    pub fn add(&mut self, ranked: &[String], judged: &HashMap<String, u32>, latency_ms: f64) {
        self.sums[0] += ndcg_at(ranked, judged, 10);
        self.sums[1] += recall_at(ranked, judged, 10);
        self.sums[2] += recall_at(ranked, judged, 100);
        self.sums[3] += mrr_at(ranked, judged, 10);
        self.latencies.push(latency_ms);
    }

    /// The means and latency percentiles.
    pub fn report(mut self) -> ModeReport {
        let n = self.latencies.len();
        let mean = |s: f64| if n == 0 { 0.0 } else { s / n as f64 };
        self.latencies.sort_by(f64::total_cmp);
        ModeReport {
            ndcg_at_10: mean(self.sums[0]),
            recall_at_10: mean(self.sums[1]),
            recall_at_100: mean(self.sums[2]),
            mrr_at_10: mean(self.sums[3]),
            latency_p50_ms: percentile(&self.latencies, 50.0),
            latency_p95_ms: percentile(&self.latencies, 95.0),
            queries: n,
        }
    }
}

/// A whole evaluation: one report per mode, in a stable order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    /// Dataset folder.
    pub dataset: String,
    /// Corpus documents indexed.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Judged queries.
    pub queries: usize,
    /// Seconds spent indexing the corpus.
    pub index_seconds: f64,
    /// Mode name → scores.
    pub modes: BTreeMap<String, ModeReport>,
    /// Query language ([`query_language`]) → mode name → scores.
    pub languages: BTreeMap<String, BTreeMap<String, ModeReport>>,
    /// Query kind (queries that carry one) → mode name → scores.
    pub kinds: BTreeMap<String, BTreeMap<String, ModeReport>>,
    /// Modes that were not run, with the reason.
    pub skipped: BTreeMap<String, String>,
    /// The average terms per field this corpus measured, by language: what
    /// `lexical.average_terms` should say for BM25 inside Qdrant to
    /// normalise lengths as Tantivy does over this corpus (a language the
    /// corpus lacks keeps the configured figures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_terms: Option<zhishu_core::config::AverageTermsConfig>,
    /// How the run used a late-interaction score file
    /// (`ZHISHU_EVAL_LATE_CACHE`), when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_cache: Option<LateCacheReport>,
}

/// A run's use of its late-interaction score file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LateCacheReport {
    /// Scores read from the file.
    pub read: usize,
    /// Scores computed for pairs the file did not hold (added to it).
    pub computed: usize,
    /// Pairs the file held, computed afresh and compared with the record.
    pub checked: usize,
    /// The largest difference a check met.
    pub largest_difference: f64,
}

impl EvalReport {
    /// nDCG@10 of every mode, and of every mode per language and per kind,
    /// keyed `mode`, `language/mode` and `kind:KIND/mode`: the figures a
    /// quality gate records ([`Gate`]).
    pub fn figures(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = self
            .modes
            .iter()
            .map(|(m, r)| (m.clone(), r.ndcg_at_10))
            .collect();
        for (lang, modes) in &self.languages {
            for (m, r) in modes {
                out.insert(format!("{lang}/{m}"), r.ndcg_at_10);
            }
        }
        for (kind, modes) in &self.kinds {
            for (m, r) in modes {
                out.insert(format!("kind:{kind}/{m}"), r.ndcg_at_10);
            }
        }
        out
    }
}

/// Recorded nDCG@10 figures and how far below them a run may fall: the
/// regression gate `zhishu eval --gate FILE` applies in CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Largest allowed drop below a recorded figure.
    pub tolerance: f64,
    /// Figure name ([`EvalReport::figures`]) → recorded nDCG@10.
    pub ndcg_at_10: BTreeMap<String, f64>,
}

/// One figure that fell below its recorded value by more than the
/// tolerance, or that the run no longer produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The figure's name.
    pub figure: String,
    /// What was recorded.
    pub recorded: f64,
    /// What this run measured; `None` when it measured nothing under that
    /// name (a mode skipped, a kind gone).
    pub measured: Option<f64>,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.measured {
            Some(m) => write!(
                f,
                "{}: nDCG@10 {m:.4}, recorded {:.4} ({:+.4})",
                self.figure,
                self.recorded,
                m - self.recorded
            ),
            None => write!(
                f,
                "{}: not measured by this run, recorded {:.4}",
                self.figure, self.recorded
            ),
        }
    }
}

impl Gate {
    /// A gate recording a run's figures with a tolerance.
    pub fn record(report: &EvalReport, tolerance: f64) -> Self {
        Self {
            tolerance,
            ndcg_at_10: report.figures(),
        }
    }

    /// The recorded figures the report falls short of, in name order.
    /// Figures the report has and the gate does not are new, not failures.
    pub fn check(&self, report: &EvalReport) -> Vec<Regression> {
        let measured = report.figures();
        self.ndcg_at_10
            .iter()
            .filter_map(|(figure, &recorded)| {
                let m = measured.get(figure).copied();
                // A tiny epsilon keeps a figure recorded from this very run
                // from failing on float noise at the boundary.
                let low = m.is_none_or(|m| m < recorded - self.tolerance - 1e-9);
                low.then(|| Regression {
                    figure: figure.clone(),
                    recorded,
                    measured: m,
                })
            })
            .collect()
    }
}

/// Turns chunk hits into a ranking of documents: the first (best) chunk of
/// each document counts, later chunks of the same document are dropped.
pub fn rank_documents<'a>(document_ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    document_ids
        .into_iter()
        .filter(|d| seen.insert(*d))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(d, r)| ((*d).to_owned(), *r)).collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let j = judged(&[("a", 1), ("b", 1)]);
        assert!((ndcg_at(&ids(&["a", "b", "c"]), &j, 10) - 1.0).abs() < 1e-12);
        assert!((recall_at(&ids(&["a", "b"]), &j, 10) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at(&[], &j, 10), 0.0);
        assert_eq!(mrr_at(&ids(&["x", "y"]), &j, 10), 0.0);
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        // Relevant doc at rank 2 of one: DCG = 1/log2(3), IDCG = 1.
        let j = judged(&[("a", 1)]);
        let r = ids(&["x", "a"]);
        assert!((ndcg_at(&r, &j, 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert!((mrr_at(&r, &j, 10) - 0.5).abs() < 1e-12);
        // Graded: rel 2 at rank 2, rel 1 at rank 1 → DCG = 1 + 2/log2 3;
        // IDCG = 2 + 1/log2 3.
        let j = judged(&[("a", 2), ("b", 1)]);
        let got = ndcg_at(&ids(&["b", "a"]), &j, 10);
        let want = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!((got - want).abs() < 1e-12);
        // A relevant document beyond the cut does not count.
        let j = judged(&[("a", 1), ("b", 1)]);
        let r = ids(&["a", "x", "b"]);
        assert!((recall_at(&r, &j, 2) - 0.5).abs() < 1e-12);
        assert!((recall_at(&r, &j, 3) - 1.0).abs() < 1e-12);
    }

    fn report_with(hybrid: f64, zh: f64) -> EvalReport {
        let mode = |n: f64| ModeReport {
            ndcg_at_10: n,
            ..Default::default()
        };
        let mut r = EvalReport::default();
        r.modes.insert("hybrid".into(), mode(hybrid));
        r.languages
            .entry("zh".into())
            .or_default()
            .insert("hybrid".into(), mode(zh));
        r
    }

    #[test]
    fn the_gate_fails_a_drop_beyond_the_tolerance_and_a_missing_figure() {
        let recorded = Gate::record(&report_with(0.80, 0.70), 0.02);
        assert_eq!(
            recorded.ndcg_at_10.keys().collect::<Vec<_>>(),
            ["hybrid", "zh/hybrid"]
        );
        assert!(recorded.check(&report_with(0.80, 0.70)).is_empty());
        assert!(recorded.check(&report_with(0.781, 0.90)).is_empty());
        let failed = recorded.check(&report_with(0.85, 0.67));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].figure, "zh/hybrid");
        assert!(failed[0].to_string().contains("-0.03"), "{}", failed[0]);
        let mut gone = report_with(0.8, 0.7);
        gone.languages.clear();
        assert_eq!(recorded.check(&gone)[0].measured, None);
    }

    #[test]
    fn queries_with_chinese_characters_count_as_chinese() {
        assert_eq!(query_language("VPN 连接失败 809"), "zh");
        assert_eq!(query_language("how do I reset my password"), "en");
        assert_eq!(query_language("年假"), "zh");
        assert_eq!(query_language("ＡＢＣ"), "en");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
    }

    #[test]
    fn documents_rank_by_their_best_chunk() {
        assert_eq!(rank_documents(["a", "b", "a", "c"]), ids(&["a", "b", "c"]));
    }

    #[test]
    fn dataset_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("qrels")).unwrap();
        std::fs::write(p.join("corpus.jsonl"), "{\"_id\":\"d1\",\"text\":\"x\"}\n").unwrap();
        std::fs::write(p.join("queries.jsonl"), "{\"_id\":\"q1\",\"text\":\"x\"}\n").unwrap();
        std::fs::write(
            p.join("qrels/test.tsv"),
            "query-id\tcorpus-id\tscore\nq1\td2\t1\n",
        )
        .unwrap();
        let e = Dataset::load(p, "test").unwrap_err().to_string();
        assert!(e.contains("test.tsv, line 2") && e.contains("`d2`"), "{e}");
        std::fs::write(p.join("qrels/test.tsv"), "q1\td1\t1\n").unwrap();
        let d = Dataset::load(p, "test").unwrap();
        assert_eq!(d.queries.len(), 1);
        std::fs::write(p.join("queries.jsonl"), "not json\n").unwrap();
        let e = Dataset::load(p, "test").unwrap_err().to_string();
        assert!(e.contains("queries.jsonl, line 1"), "{e}");
        let e = Dataset::load(&p.join("missing"), "test")
            .unwrap_err()
            .to_string();
        assert!(e.contains("corpus.jsonl"), "{e}");
    }
}
