//! The shared encoder worker: concurrent callers, length buckets under a
//! token budget, truncation counted, prefixes applied, same vectors as a
//! direct call.

mod common;

use common::minilm;
use std::sync::atomic::Ordering;
use zhishu_encoders::{Embedder, EncoderWorker, RerankWorker, Reranker, TextKind, WorkerConfig};

fn close(a: &[f32], b: &[f32]) -> bool {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot > 0.99999
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_batched_by_length() {
    let direct = Embedder::load(&minilm()).unwrap();
    let worker = EncoderWorker::start(
        Embedder::load(&minilm()).unwrap(),
        WorkerConfig {
            max_batch_tokens: 600,
            query_prefix: "query: ".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let long = "The reimbursement policy covers hotels, trains and meals. ".repeat(60);
    let texts: Vec<String> = (0..24)
        .map(|i| match i % 4 {
            0 => format!("short text {i}"),
            1 => format!("出差住宿标准 {i} travel hotel limit per night in tier-one cities"),
            2 => long.clone(),
            _ => format!("A medium length passage number {i} about expense claims, receipts and approvals by managers."),
        })
        .collect();
    let mut tasks = Vec::new();
    for chunk in texts.chunks(3) {
        let w = worker.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            (
                chunk.clone(),
                w.embed(chunk, TextKind::Passage).await.unwrap(),
            )
        }));
    }
    for t in tasks {
        let (chunk, got) = t.await.unwrap();
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let want = direct.embed(&refs).unwrap();
        assert_eq!(got.vectors.len(), chunk.len());
        for (g, w) in got.vectors.iter().zip(&want) {
            assert!(close(g, w), "worker and direct call agree");
        }
        assert!(got.tokens > 0);
    }
    let stats = worker.stats();
    assert_eq!(stats.texts.load(Ordering::Relaxed), 24);
    assert_eq!(
        stats.truncated.load(Ordering::Relaxed),
        6,
        "the six long texts were cut at 256 tokens"
    );
    let batches = stats.batches.load(Ordering::Relaxed);
    let padded = stats.padded_tokens.load(Ordering::Relaxed);
    assert!(
        batches >= 4,
        "two 256-token texts fill a 600-token budget: {batches} batches"
    );
    assert!(
        padded <= batches * 600,
        "no batch over budget: {padded} tokens in {batches} batches"
    );
    let real = stats.real_tokens.load(Ordering::Relaxed);
    assert!(
        padded < real * 13 / 10,
        "length buckets keep padding low: {padded} padded for {real} real tokens"
    );

    // Queries get the configured prefix.
    let q = worker
        .embed(vec!["hotel limit".into()], TextKind::Query)
        .await
        .unwrap();
    let want = direct.embed(&["query: hotel limit"]).unwrap();
    assert!(close(&q.vectors[0], &want[0]));
    let p = worker
        .embed(vec!["hotel limit".into()], TextKind::Passage)
        .await
        .unwrap();
    assert!(
        !close(&p.vectors[0], &want[0]),
        "passages get no query prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reranker_worker_scores_like_a_direct_call() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-cross-encoder");
    let direct = Reranker::load(&dir).unwrap();
    let worker = RerankWorker::start(Reranker::load(&dir).unwrap(), 256, 64).unwrap();
    let passages: Vec<String> = vec![
        "Hotels in tier-one cities are reimbursed up to 600 yuan per night.".into(),
        "一线城市住宿标准为每晚六百元。".into(),
        "The cafeteria opens at eight.".into(),
        "Receipts must be submitted within thirty days of travel, with the manager's approval attached to the claim form.".into(),
    ];
    let mut tasks = Vec::new();
    for query in ["hotel limit", "住宿标准", "when does the cafeteria open"] {
        let w = worker.clone();
        let p = passages.clone();
        tasks.push(tokio::spawn(async move {
            (query, w.score(query, p).await.unwrap())
        }));
    }
    for t in tasks {
        let (query, got) = t.await.unwrap();
        let pairs: Vec<(&str, &str)> = passages.iter().map(|p| (query, p.as_str())).collect();
        let want = direct.score(&pairs).unwrap();
        assert_eq!(got.len(), passages.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{query}: worker {g} vs direct {w}");
        }
    }
    assert_eq!(worker.stats().texts.load(Ordering::Relaxed), 12);
    assert!(worker.stats().batches.load(Ordering::Relaxed) >= 1);
}
