//! Late interaction in a real search: multilingual-e5-small embeds the
//! passages and the questions, Tantivy and Edge hold them, and the fused
//! top hits are rescored token against token. What a user sees: the
//! answering page first for a question phrased unlike the page, in either
//! language over English pages; every rescored hit carrying its MaxSim;
//! the pass off when configured off; Chinese pages rescored alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use zhishu_core::config::RetrievalConfig;
use zhishu_encoders::{Embedder, EncoderWorker, TextKind, WorkerConfig};
use zhishu_retrieval::synthetic::chunk;
use zhishu_retrieval::{
    HybridSearcher, LexicalIndex, Mode, Scope, SearchFilter, SearchOptions, SearchResults,
    open_vectors_for_tests,
};

fn e5() -> EncoderWorker {
    let assets = std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    );
    let embedder = Embedder::load(&assets.join("models/multilingual-e5-small"))
        .expect("multilingual-e5-small (scripts/fetch-assets.sh)");
    EncoderWorker::start(
        embedder,
        WorkerConfig {
            query_prefix: "query: ".into(),
            passage_prefix: "passage: ".into(),
            ..Default::default()
        },
    )
    .unwrap()
}

const ENGLISH: [&str; 8] = [
    "pg_dump is a utility for backing up a PostgreSQL database. It makes consistent backups even if the database is being used concurrently. The custom archive format is compressed by default and can be restored selectively with pg_restore.",
    "createdb creates a new PostgreSQL database. Normally, the database user who executes this command becomes the owner of the new database.",
    "CREATE DATABASE creates a new database. To create a database, you must be a superuser or have the special CREATEDB privilege.",
    "dropdb destroys an existing PostgreSQL database. The user who executes this command must be a database superuser or the owner of the database.",
    "VACUUM reclaims storage occupied by dead tuples. In normal operation, tuples that are deleted or obsoleted by an update are not physically removed from their table.",
    "pg_basebackup is used to take a base backup of a running PostgreSQL database cluster, not of a single database.",
    "The COPY command moves data between tables and standard file-system files. COPY TO copies the contents of a table to a file.",
    "ALTER DATABASE changes the attributes of a database, such as its name, owner, or default tablespace.",
];

const CHINESE: [&str; 4] = [
    "员工出差住宿标准：一线城市每晚不超过六百元，其他城市每晚不超过四百元，超出部分由个人承担。",
    "报销流程：员工在系统中提交报销申请，附上发票原件，由部门经理审批后交财务部复核。",
    "年假规定：员工工作满一年后享有五天带薪年假，满十年后享有十天带薪年假。",
    "加班管理：工作日加班按一点五倍工资计算，休息日加班可以安排调休。",
];

async fn searcher(texts: &[&str], fusion: RetrievalConfig) -> (tempfile::TempDir, HybridSearcher) {
    searcher_keeping(texts, fusion, false).await
}

/// [`searcher`]; with `keep`, each chunk also keeps its token vectors in
/// the lexical index, packed from the embedding pass as ingestion keeps
/// them.
async fn searcher_keeping(
    texts: &[&str],
    fusion: RetrievalConfig,
    keep: bool,
) -> (tempfile::TempDir, HybridSearcher) {
    let dir = tempfile::tempdir().unwrap();
    let encoder = e5();
    let vectors = open_vectors_for_tests(&dir.path().join("qdrant"), encoder.dimensions()).unwrap();
    let lexical = Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap());
    let mut chunks: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| chunk(i, 1, "public", (*t).to_owned(), 0))
        .collect();
    if keep {
        let read = chunks.iter().map(|c| c.embedding_text()).collect();
        let (_, tokens) = encoder.embed_passages_with_tokens(read).await.unwrap();
        for (c, t) in chunks.iter_mut().zip(tokens) {
            c.token_vectors = Some(Arc::new(t));
        }
    }
    let embedded = encoder
        .embed(
            texts.iter().map(|t| (*t).to_owned()).collect(),
            TextKind::Passage,
        )
        .await
        .unwrap();
    lexical.upsert(&chunks).unwrap();
    lexical.commit().unwrap();
    vectors
        .upsert(chunks.into_iter().zip(embedded.vectors).collect())
        .await
        .unwrap();
    vectors.commit().await.unwrap();
    let searcher = HybridSearcher {
        vectors,
        lexical: lexical.into(),
        encoder,
        reranker: None,
        fusion,
    };
    (dir, searcher)
}

/// A hybrid search of the "public" group, as the API runs one.
async fn search(s: &HybridSearcher, question: &str, k: usize) -> SearchResults {
    let options = SearchOptions {
        mode: Mode::Hybrid,
        neighbours: 0,
        query_vector: None,
    };
    let scope = Scope::of_groups(["public"]);
    s.search_with(question, k, &scope, &SearchFilter::default(), &options)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_page_comes_first_in_either_language() {
    let (_dir, s) = searcher(&ENGLISH, RetrievalConfig::default()).await;
    for question in [
        "how do I back up one database into a compressed file",
        "如何把一个数据库备份成压缩文件",
    ] {
        let r = search(&s, question, 5).await;
        assert!(
            r.hits[0].chunk.text.starts_with("pg_dump"),
            "{question}: {:?}",
            r.hits
                .iter()
                .map(|h| &h.chunk.text[..20])
                .collect::<Vec<_>>()
        );
        // Every returned hit was rescored, and the order is the blend's.
        assert!(r.hits.iter().all(|h| h.scores.late.is_some()), "{question}");
        assert!(r.hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(r.timings.late_ms > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_is_off_when_weighted_zero_and_reads_chinese_pages_too() {
    let off = RetrievalConfig {
        late_weight: 0.0,
        ..RetrievalConfig::default()
    };
    let (_dir, s) = searcher(&ENGLISH, off).await;
    let r = search(&s, "back up a database", 5).await;
    assert!(r.hits.iter().all(|h| h.scores.late.is_none()));
    assert!(
        r.hits
            .iter()
            .all(|h| (h.score - h.scores.fused).abs() < 1e-6)
    );

    // The pass rescores `late_top` hits, whatever k is; the rest keep
    // their fused order and scores.
    let shallow = RetrievalConfig {
        late_top: 3,
        ..RetrievalConfig::default()
    };
    let (_dir, s) = searcher(&ENGLISH, shallow).await;
    let r = search(&s, "back up a database", 6).await;
    assert_eq!(r.hits.len(), 6);
    assert!(r.hits[..3].iter().all(|h| h.scores.late.is_some()));
    assert!(r.hits[3..].iter().all(|h| h.scores.late.is_none()));
    assert!(
        r.hits[3..]
            .windows(2)
            .all(|w| w[0].scores.fused >= w[1].scores.fused)
    );

    let (_dir, s) = searcher(&CHINESE, RetrievalConfig::default()).await;
    let r = search(&s, "出差住宿每晚上限", 3).await;
    assert!(r.hits[0].chunk.text.starts_with("员工出差住宿标准"));
    assert!(r.hits.iter().all(|h| h.scores.late.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_token_vectors_spare_the_forward_pass_and_score_as_computed() {
    let (_a, computed) = searcher(&ENGLISH, RetrievalConfig::default()).await;
    let (_b, kept) = searcher_keeping(&ENGLISH, RetrievalConfig::default(), true).await;
    assert!(kept.wants_token_vectors());
    let texts = |s: &HybridSearcher| s.encoder.stats().texts.load(Ordering::Relaxed);
    for question in [
        "how do I back up one database into a compressed file",
        "如何把一个数据库备份成压缩文件",
    ] {
        let (before_c, before_k) = (texts(&computed), texts(&kept));
        let c = search(&computed, question, 8).await;
        let k = search(&kept, question, 8).await;
        let (ran_c, ran_k) = (texts(&computed) - before_c, texts(&kept) - before_k);
        // The kept searcher runs the question only (dense search, then
        // the pass); the other reads every rescored passage as well
        // (the first question: later ones find them in its cache).
        assert_eq!(ran_k, 2, "{question}");
        if question.starts_with("how") {
            assert_eq!(ran_c, 2 + c.hits.len() as u64, "{question}");
        }
        let order = |r: &SearchResults| {
            r.hits
                .iter()
                .map(|h| h.chunk.chunk_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&k), order(&c), "{question}");
        for (a, b) in k.hits.iter().zip(&c.hits) {
            let (a, b) = (a.scores.late.unwrap(), b.scores.late.unwrap());
            assert!((a - b).abs() < 1e-3, "{question}: kept {a}, computed {b}");
        }
        assert!(k.hits[0].chunk.text.starts_with("pg_dump"), "{question}");
        // What was kept serves the pass only: hits do not carry it on.
        assert!(k.hits.iter().all(|h| h.chunk.token_vectors.is_none()));
    }

    // Nothing is kept for a searcher that would not read it.
    for fusion in [
        RetrievalConfig {
            late_weight: 0.0,
            ..RetrievalConfig::default()
        },
        RetrievalConfig {
            late_tokens: 256,
            ..RetrievalConfig::default()
        },
        RetrievalConfig {
            late_keep: false,
            ..RetrievalConfig::default()
        },
    ] {
        let (_c, s) = searcher(&ENGLISH[..2], fusion).await;
        assert!(!s.wants_token_vectors());
    }
}
