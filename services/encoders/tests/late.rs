//! Late interaction with the real multilingual-e5-small: token vectors as
//! the model computes them, MaxSim's invariants, and the worker's pass
//! (prefixes, the question's own words, the passage cache).

mod common;

use common::e5_small;
use proptest::prelude::*;
use std::sync::LazyLock;
use std::sync::atomic::Ordering::Relaxed;
use zhishu_encoders::{
    Embedder, EncoderWorker, LateScoreStore, WorkerConfig, max_sim, row_maxima, weighted_max_sim,
};

/// Passages read whole (the model's limit).
const WHOLE: usize = 512;

fn worker(cache: u64) -> EncoderWorker {
    EncoderWorker::start(
        Embedder::load(&e5_small()).unwrap(),
        WorkerConfig {
            query_prefix: "query: ".into(),
            passage_prefix: "passage: ".into(),
            token_cache_bytes: cache,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn token_vectors_are_one_unit_row_per_token() {
    let e5 = Embedder::load(&e5_small()).unwrap();
    let texts = [
        "passage: 出差住宿标准",
        "passage: pg_dump writes one database to a file",
    ];
    let encodings = e5.encode(&texts).unwrap();
    let tokens = e5.token_vectors_encodings(&encodings).unwrap();
    let width = e5.dimensions();
    for (enc, rows) in encodings.iter().zip(&tokens) {
        assert_eq!(rows.len(), enc.get_ids().len() * width);
        for row in rows.chunks_exact(width) {
            let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit rows, got {norm}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answering_passage_scores_highest_in_both_languages() {
    let w = worker(64 << 20);
    let passages = vec![
        "pg_dump is a utility for backing up a PostgreSQL database. It writes one database to a script or archive file, which can be compressed.".to_owned(),
        "CREATE DATABASE creates a new PostgreSQL database. To create a database, you must be a superuser or have the CREATEDB privilege.".to_owned(),
        "员工出差住宿标准：一线城市每晚不超过六百元，其他城市每晚不超过四百元。".to_owned(),
        "报销流程：员工在系统中提交报销申请，附上发票，由部门经理审批。".to_owned(),
    ];
    let en = w
        .late_scores(
            "how do I back up one database into a compressed file",
            passages.clone(),
            WHOLE,
        )
        .await
        .unwrap();
    assert_eq!(en.len(), 4);
    assert!(en[0] > en[1] && en[0] > en[2] && en[0] > en[3], "{en:?}");
    let zh = w
        .late_scores("出差住宿每晚上限是多少", passages.clone(), WHOLE)
        .await
        .unwrap();
    assert!(zh[2] > zh[0] && zh[2] > zh[1] && zh[2] > zh[3], "{zh:?}");
    // A Chinese question over English pages: one space for both.
    let cross = w
        .late_scores(
            "如何把一个数据库备份成压缩文件",
            passages[..2].to_vec(),
            WHOLE,
        )
        .await
        .unwrap();
    assert!(cross[0] > cross[1], "{cross:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_passages_score_as_fresh_ones() {
    let cached = worker(64 << 20);
    let fresh = worker(0);
    let passages: Vec<String> = (0..6)
        .map(|i| format!("Passage {i}: expense claims need receipts; 报销需要发票 {i}."))
        .collect();
    let q = "which receipts does an expense claim need";
    let first = cached
        .late_scores(q, passages.clone(), WHOLE)
        .await
        .unwrap();
    // The second call finds every passage in the cache and runs the query
    // alone.
    let before = cached
        .stats()
        .texts
        .load(std::sync::atomic::Ordering::Relaxed);
    let second = cached
        .late_scores(q, passages.clone(), WHOLE)
        .await
        .unwrap();
    let after = cached
        .stats()
        .texts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1, "only the question ran");
    let uncached = fresh.late_scores(q, passages, WHOLE).await.unwrap();
    // The passages' vectors are the same f16 rows either way; the
    // question's own pass may run in another batch, so equal to rounding.
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&first, &second), "{first:?} vs {second:?}");
    assert!(close(&first, &uncached), "{first:?} vs {uncached:?}");
    assert!(
        fresh
            .late_scores(q, Vec::new(), WHOLE)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A score store that holds what it is given, answers for the passages
/// it is told to, and counts the calls.
#[derive(Default)]
struct Recorder {
    scores: std::sync::Mutex<std::collections::HashMap<(String, String), f32>>,
    /// Passages (as read) it pretends not to hold.
    forget: std::sync::Mutex<Vec<String>>,
    puts: std::sync::atomic::AtomicUsize,
}

impl LateScoreStore for Recorder {
    fn get(&self, query: &str, passage: &str) -> Option<f32> {
        if self.forget.lock().unwrap().iter().any(|p| p == passage) {
            return None;
        }
        let key = (query.to_owned(), passage.to_owned());
        self.scores.lock().unwrap().get(&key).copied()
    }

    fn put(&self, query: &str, passage: &str, score: f32) {
        self.puts.fetch_add(1, Relaxed);
        let key = (query.to_owned(), passage.to_owned());
        self.scores.lock().unwrap().insert(key, score);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_score_store_answers_for_the_pairs_it_holds() {
    let store = std::sync::Arc::new(Recorder::default());
    // No token cache: every passage not answered by the store runs.
    let w = worker(0).with_late_scores(store.clone());
    let passages: Vec<String> = (0..5)
        .map(|i| format!("Passage {i}: VPN access needs a ticket; 远程访问需要工单 {i}."))
        .collect();
    let q = "how do I get VPN access";
    let ran = || w.stats().texts.load(Relaxed);

    let before = ran();
    let first = w.late_scores(q, passages.clone(), WHOLE).await.unwrap();
    assert_eq!(ran() - before, 6, "the question and five passages ran");
    assert_eq!(store.puts.load(Relaxed), 5);
    {
        // Keyed by the prefixed question and the passage as read.
        let held = store.scores.lock().unwrap();
        let key = (format!("query: {q}"), format!("passage: {}", passages[2]));
        assert_eq!(held.get(&key).copied(), Some(first[2]), "{:?}", held.keys());
    }

    // Held: nothing runs, the same scores come back.
    let before = ran();
    let second = w.late_scores(q, passages.clone(), WHOLE).await.unwrap();
    assert_eq!(ran(), before, "nothing ran");
    assert_eq!(first, second);

    // Two forgotten: those two and the question run, in their places.
    store
        .forget
        .lock()
        .unwrap()
        .extend([1, 3].map(|i| format!("passage: {}", passages[i])));
    let before = ran();
    let third = w.late_scores(q, passages.clone(), WHOLE).await.unwrap();
    assert_eq!(ran() - before, 3);
    assert_eq!(store.puts.load(Relaxed), 7);
    let uncached = worker(0).late_scores(q, passages, WHOLE).await.unwrap();
    for (got, want) in third.iter().zip(&uncached) {
        assert!((got - want).abs() < 1e-5, "{third:?} vs {uncached:?}");
    }
}

/// The pieces a question's weights are for: its own words, in order,
/// each span inside the question; weights of one alike score as none, a
/// weight on one piece alone scores that piece's best cosine, and a store
/// keeps weighted and unweighted scores apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_count_the_question_pieces_they_are_given() {
    let store = std::sync::Arc::new(Recorder::default());
    let w = worker(64 << 20).with_late_scores(store.clone());
    let q = "How do I restore a pg_dump archive? 怎么恢复备份";
    let pieces = w.question_pieces(q).unwrap();
    assert!(pieces.len() >= 8, "{pieces:?}");
    let mut last = 0;
    for p in &pieces {
        assert!(p.start <= p.end && p.end <= q.len(), "{p:?}");
        assert!(p.start >= last, "in order: {pieces:?}");
        last = p.start;
    }
    let text = |p: &zhishu_encoders::LatePiece| &q[p.start..p.end];
    assert!(
        pieces.iter().any(|p| text(p).contains("archive")),
        "{pieces:?}"
    );
    assert!(
        pieces
            .iter()
            .any(|p| text(p).contains("恢复") || text(p) == "恢"),
        "{pieces:?}"
    );

    let passages: Vec<String> = vec![
        "To restore an archive made by pg_dump, use pg_restore.".into(),
        "How do I do it? You can do it whenever you want.".into(),
    ];
    let kept = || vec![None; passages.len()];
    let plain = w.late_scores(q, passages.clone(), WHOLE).await.unwrap();
    let ones = w
        .late_scores_weighted(
            q,
            Some(vec![1.0; pieces.len()]),
            passages.clone(),
            kept(),
            WHOLE,
        )
        .await
        .unwrap();
    for (a, b) in plain.iter().zip(&ones) {
        assert!((a - b).abs() < 1e-6, "{plain:?} vs {ones:?}");
    }
    // Only "archive" counts: the answering passage holds the very word.
    let archive = pieces
        .iter()
        .position(|p| text(p).contains("archive"))
        .unwrap();
    let mut only = vec![0.0; pieces.len()];
    only[archive] = 1.0;
    let one = w
        .late_scores_weighted(q, Some(only), passages.clone(), kept(), WHOLE)
        .await
        .unwrap();
    assert!(one[0] > 0.95 && one[0] > one[1], "{one:?}");
    // Weights that do not fit the pieces average them alike.
    let wrong = w
        .late_scores_weighted(q, Some(vec![1.0; 2]), passages.clone(), kept(), WHOLE)
        .await
        .unwrap();
    assert_eq!(wrong, ones);
    // The store was asked under four keys: plain, all ones, one piece,
    // and the two weights that did not fit (scored alike, asked apart).
    let held = store.scores.lock().unwrap();
    let queries: std::collections::HashSet<&String> = held.keys().map(|(q, _)| q).collect();
    assert_eq!(queries.len(), 4, "{queries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passage_is_read_up_to_late_tokens() {
    let w = worker(0);
    let filler = "The annual report describes the company's offices, its staff \
        canteen, the parking rules for visitors, the opening hours of the \
        library, the recycling of paper and the schedule of the shuttle bus \
        between the two buildings on weekdays and during public holidays.";
    let answering =
        format!("{filler} To back up one database into a compressed file, run pg_dump -Fc.");
    let q = "how do I back up one database into a compressed file";
    let passages = vec![answering.clone(), filler.to_owned()];
    let whole = w.late_scores(q, passages.clone(), WHOLE).await.unwrap();
    assert!(
        whole[0] > whole[1] + 0.05,
        "read whole, the answer counts: {whole:?}"
    );
    // Cut at 24 tokens both passages are the filler's beginning: the
    // answer at the end is not read, and the model reads 24 tokens each.
    let before = w.stats().real_tokens.load(Relaxed);
    let cut = w.late_scores(q, passages, 24).await.unwrap();
    let read = w.stats().real_tokens.load(Relaxed) - before;
    assert!((cut[0] - cut[1]).abs() < 1e-5, "{cut:?}");
    assert!(cut[0] < whole[0], "{cut:?} vs {whole:?}");
    let question = w.late_text(q, WHOLE).unwrap().len(); // bytes ≥ its tokens
    assert!(read as usize <= 2 * 24 + question, "read {read} tokens");
    assert_eq!(
        w.late_text(&answering, 24).unwrap(),
        w.late_text(filler, 24).unwrap()
    );
}

fn unit_rows(rows: usize, width: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(prop::collection::vec(-1.0f32..1.0, width), rows).prop_map(|rows| {
        rows.into_iter()
            .flat_map(|r| {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-3);
                r.into_iter().map(move |x| x / n)
            })
            .collect()
    })
}

proptest! {
    /// MaxSim of unit rows lies in [-1, 1]; a passage containing every
    /// question token scores 1; more passage tokens never lower a score.
    #[test]
    fn max_sim_is_bounded_exact_and_monotone(
        q in (1usize..6).prop_flat_map(|n| unit_rows(n, 8)),
        p in (1usize..10).prop_flat_map(|n| unit_rows(n, 8)),
        extra in (1usize..5).prop_flat_map(|n| unit_rows(n, 8)),
    ) {
        let s = max_sim(&q, &p, 8);
        prop_assert!((-1.0 - 1e-4..=1.0 + 1e-4).contains(&s));
        let with_q: Vec<f32> = p.iter().chain(&q).copied().collect();
        prop_assert!((max_sim(&q, &with_q, 8) - 1.0).abs() < 1e-3);
        let more: Vec<f32> = p.iter().chain(&extra).copied().collect();
        prop_assert!(max_sim(&q, &more, 8) >= s - 1e-6);
        prop_assert_eq!(max_sim(&q, &[], 8), 0.0);
    }

    /// The blocked computation is the definition: each query row's best
    /// dot product against any passage row, averaged; at any widths and
    /// lengths, rows not unit.
    #[test]
    fn max_sim_is_the_average_best_dot_product(
        (width, q, p) in (1usize..40, 1usize..9, 1usize..70).prop_flat_map(|(w, m, n)| (
            Just(w),
            prop::collection::vec(-1.0f32..1.0, m * w),
            prop::collection::vec(-1.0f32..1.0, n * w),
        )),
    ) {
        let best = |row: &[f32]| {
            p.chunks_exact(width)
                .map(|r| row.iter().zip(r).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let want = q.chunks_exact(width).map(best).sum::<f32>() / (q.len() / width) as f32;
        let got = max_sim(&q, &p, width);
        prop_assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{got} vs {want}");
    }
}

proptest! {
    /// Weighted MaxSim is the weighted mean of the rows' best dot
    /// products: equal weights give MaxSim, a weight on one row that
    /// row's best, and weights that do not fit fall back to MaxSim.
    #[test]
    fn weighted_max_sim_weighs_each_question_row(
        (width, q, p, w, one) in (1usize..24, 1usize..8, 1usize..40).prop_flat_map(|(wd, m, n)| (
            Just(wd),
            prop::collection::vec(-1.0f32..1.0, m * wd),
            prop::collection::vec(-1.0f32..1.0, n * wd),
            prop::collection::vec(0.0f32..4.0, m),
            0..m,
        )),
    ) {
        let rows = q.len() / width;
        let maxima = row_maxima(&q, &p, width);
        prop_assert_eq!(maxima.len(), rows);
        let plain = max_sim(&q, &p, width);
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * (1.0 + b.abs());
        prop_assert!(close(weighted_max_sim(&q, &p, width, &vec![2.5; rows]), plain));
        let mut only = vec![0.0; rows];
        only[one] = 1.0;
        prop_assert!(close(weighted_max_sim(&q, &p, width, &only), maxima[one]));
        let total: f32 = w.iter().sum();
        if total > 0.0 {
            let want = maxima.iter().zip(&w).map(|(m, x)| m * x).sum::<f32>() / total;
            prop_assert!(close(weighted_max_sim(&q, &p, width, &w), want));
        }
        prop_assert_eq!(weighted_max_sim(&q, &p, width, &vec![0.0; rows]), plain);
        prop_assert_eq!(weighted_max_sim(&q, &p, width, &vec![1.0; rows + 1]), plain);
        let mut bad = vec![1.0; rows];
        bad[one] = f32::NAN;
        prop_assert_eq!(weighted_max_sim(&q, &p, width, &bad), plain);
    }
}

/// One worker for the property below (loading the model per case would
/// dominate it); it runs no model, only the tokenizer.
static READER: LazyLock<(EncoderWorker, tokenizers::Tokenizer)> = LazyLock::new(|| {
    let e5 = Embedder::load(&e5_small()).unwrap();
    let tokenizer = e5.tokenizer().clone();
    let w = EncoderWorker::start(
        e5,
        WorkerConfig {
            passage_prefix: "passage: ".into(),
            ..Default::default()
        },
    )
    .unwrap();
    (w, tokenizer)
});

/// Passages in English, Chinese and both, with punctuation and spaces.
fn passage() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-z]{1,12}",
        "[A-Z][a-z]{0,8}",
        "[0-9]{1,5}",
        "[\u{4e00}-\u{9fa5}]{1,6}",
        Just("pg_dump".to_owned()),
        Just("，".to_owned()),
        Just("。".to_owned()),
    ];
    prop::collection::vec((word, prop::bool::ANY), 0..200).prop_map(|words| {
        words
            .into_iter()
            .map(|(w, space)| if space { format!("{w} ") } else { w })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// What late interaction reads of a passage is its beginning, with
    /// the prefix; it fits in the limit with the special tokens; a
    /// passage that fits is read whole; a larger limit reads no less.
    #[test]
    fn late_text_is_a_prefix_that_fits(text in passage(), limit in 16usize..120) {
        let (w, tokenizer) = &*READER;
        let whole = format!("passage: {text}");
        let read = w.late_text(&text, limit).unwrap();
        prop_assert!(whole.starts_with(&read), "{read:?} is not a beginning of {whole:?}");
        let tokens = |t: &str| tokenizer.encode(t, true).unwrap().len();
        prop_assert!(tokens(&read) <= limit, "{} tokens > {limit}", tokens(&read));
        if tokens(&whole) <= limit {
            prop_assert_eq!(&read, &whole);
        }
        let more = w.late_text(&text, limit + 8).unwrap();
        prop_assert!(more.len() >= read.len());
        prop_assert_eq!(w.late_text(&text, WHOLE).unwrap(), whole);
    }
}
