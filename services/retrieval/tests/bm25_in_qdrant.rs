//! BM25 inside Qdrant (`lexical.backend = "qdrant"`), on Qdrant Edge, or
//! on the Qdrant server at `QDRANT_URL` when that is set: the same rankings
//! as Tantivy on real Chinese and English documentation, the same scope
//! inside the store (pages included), deletes that reach pages, coverage
//! that agrees with Tantivy's, and a clear refusal for a store made without
//! BM25 vectors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhishu_retrieval::eval::{Dataset, ndcg_at, rank_documents};
use zhishu_retrieval::{
    AverageTerms, Bm25Encoder, ChunkDoc, FieldAverages, Lexical, LexicalIndex, Scope, SearchFilter,
    VectorIndex, analyze, chunk_id, open_vectors_with, vectors_config_for_tests,
};

/// The store in `path` (Edge), or a collection of its own on the server at
/// `QDRANT_URL`.
fn store(path: &Path, encoder: Option<Bm25Encoder>) -> Arc<dyn VectorIndex> {
    open_vectors_with(&vectors_config_for_tests(path), path, DIMS, encoder).unwrap()
}

const DIMS: usize = 4;
/// The page weight searches use by default (`retrieval.page_weight`).
const PAGE_WEIGHT: f32 = 1.0;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn encoder() -> Bm25Encoder {
    Bm25Encoder::new(None, AverageTerms::default())
}

/// An encoder whose averages are those a one-language corpus measured, as
/// an operator sets them from `zhishu eval`'s report.
fn encoder_for(title: f32, body: f32, page: f32) -> Bm25Encoder {
    let f = FieldAverages {
        title: title.max(1.0),
        section: 1.0,
        body,
        page,
    };
    Bm25Encoder::new(
        None,
        AverageTerms {
            chinese: f,
            english: f,
        },
    )
}

/// A chunk of a document: its paragraphs packed into pieces of about
/// `size` characters, as a plain chunker would.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for para in text.split('\n').filter(|p| !p.trim().is_empty()) {
        let last = out.last_mut().expect("one piece");
        if !last.is_empty() && last.chars().count() + para.chars().count() > size {
            out.push(String::new());
        }
        let last = out.last_mut().expect("one piece");
        if !last.is_empty() {
            last.push('\n');
        }
        last.push_str(para);
    }
    out
}

fn chunk(document: &str, title: &str, ordinal: usize, group: &str, text: String) -> ChunkDoc {
    ChunkDoc {
        chunk_id: chunk_id(document, 1, ordinal as i64),
        document_id: document.to_owned(),
        version: 1,
        ordinal: ordinal as i64,
        collection: "docs".into(),
        path: format!("/docs/{document}.md"),
        title: title.to_owned(),
        section_path: String::new(),
        page: None,
        access_groups: vec![group.to_owned()],
        content_hash: String::new(),
        modified_at: 0,
        char_start: 0,
        char_end: text.chars().count() as i64,
        qwen_tokens: 0,
        text,
        prompt_ids: None,
        token_vectors: None,
    }
}

/// Both backends over the same chunks.
struct Both {
    tantivy: Lexical,
    qdrant: Lexical,
    vectors: Arc<dyn VectorIndex>,
    _dir: tempfile::TempDir,
}

async fn index(docs: &[Vec<ChunkDoc>], encoder: Bm25Encoder) -> Both {
    let dir = tempfile::tempdir().unwrap();
    let tantivy = Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap());
    let vectors = store(&dir.path().join("qdrant"), Some(encoder));
    for chunks in docs {
        tantivy.upsert(chunks).unwrap();
        let points = chunks
            .iter()
            .map(|c| (c.clone(), vec![1.0, 0.0, 0.0, 0.0]))
            .collect();
        vectors.upsert(points).await.unwrap();
    }
    tantivy.commit().unwrap();
    vectors.commit().await.unwrap();
    Both {
        tantivy: Lexical::Tantivy(tantivy),
        qdrant: Lexical::in_vectors(vectors.clone()).unwrap(),
        vectors,
        _dir: dir,
    }
}

async fn ranked(lexical: &Lexical, query: &str, scope: &Scope) -> Vec<(String, f32)> {
    lexical
        .search_ids(query, 50, scope, &SearchFilter::default(), PAGE_WEIGHT)
        .await
        .unwrap()
        .hits()
        .map(|(id, s)| (id.to_owned(), s))
        .collect()
}

/// nDCG@10 of BM25 over a shipped set of real documentation, for both
/// backends, with the averages the corpus measures: Qdrant's must stay
/// within 0.02 of Tantivy's (the goal), and the question's
/// coverage must be the same in both. (The shipped defaults are checked on
/// the same sets, chunked for real, by `zhishu eval`'s `bm25 (qdrant)` rows
/// in tests/eval.rs.)
async fn same_quality(set: &str) {
    let data = Dataset::load(&repo_root().join("tests/data").join(set), "test").unwrap();
    let public = Scope::of_groups(["public"]);
    let mut docs = Vec::new();
    let mut document_of: HashMap<String, String> = HashMap::new();
    let (mut body_terms, mut title_terms, mut page_terms, mut chunks) = (0, 0, 0, 0);
    for d in &data.corpus {
        let parts: Vec<ChunkDoc> = pieces(&d.text, 700)
            .into_iter()
            .enumerate()
            .map(|(i, text)| chunk(&d.id, &d.title, i, "public", text))
            .collect();
        for c in &parts {
            document_of.insert(c.chunk_id.clone(), d.id.clone());
            body_terms += analyze(&format!("{} {}", c.title, c.text)).len();
            title_terms += analyze(&c.title).len();
            chunks += 1;
        }
        page_terms += analyze(&format!("{} {}", d.title, d.text)).len();
        docs.push(parts);
    }
    let (title, body, page) = (
        title_terms as f32 / chunks as f32,
        body_terms as f32 / chunks as f32,
        page_terms as f32 / data.corpus.len() as f32,
    );
    eprintln!(
        "{set}: {chunks} chunks; average terms: title {title:.1}, body {body:.1}, page {page:.1}"
    );
    let both = index(&docs, encoder_for(title, body, page)).await;
    let (mut tantivy, mut qdrant) = (0.0, 0.0);
    for q in &data.queries {
        let judged = &data.qrels[&q.id];
        let mut scores = [0.0; 2];
        for (i, lexical) in [&both.tantivy, &both.qdrant].into_iter().enumerate() {
            let hits = ranked(lexical, &q.text, &public).await;
            let documents = rank_documents(hits.iter().map(|(id, _)| document_of[id].as_str()));
            scores[i] = ndcg_at(&documents, judged, 10);
        }
        tantivy += scores[0];
        qdrant += scores[1];
        let coverage = [
            both.tantivy.coverage(&q.text).await.unwrap(),
            both.qdrant.coverage(&q.text).await.unwrap(),
        ];
        assert!(
            (coverage[0] - coverage[1]).abs() < 1e-6,
            "{set} {:?}: coverage {coverage:?}",
            q.text
        );
    }
    let n = data.queries.len() as f64;
    let (tantivy, qdrant) = (tantivy / n, qdrant / n);
    eprintln!("{set}: BM25 nDCG@10 tantivy {tantivy:.4}, qdrant {qdrant:.4}");
    assert!(
        qdrant >= tantivy - 0.02,
        "{set}: BM25 in Qdrant {qdrant:.4} vs Tantivy {tantivy:.4}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bm25_in_qdrant_ranks_chinese_documentation_like_tantivy() {
    same_quality("docs-zh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bm25_in_qdrant_ranks_english_documentation_like_tantivy() {
    same_quality("docs-en").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_filters_pages_and_deletes_hold_inside_qdrant() {
    let travel = vec![
        chunk(
            "travel",
            "差旅费用报销管理办法",
            0,
            "public",
            "出差结束后三十日内提交报销单，附发票原件。".into(),
        ),
        chunk(
            "travel",
            "差旅费用报销管理办法",
            1,
            "public",
            "一线城市住宿标准每晚不超过六百元。".into(),
        ),
    ];
    // The best match for every question below, in a group the caller
    // lacks: neither its chunks nor its page may count.
    let salaries = vec![chunk(
        "salaries",
        "薪酬 报销 住宿 标准",
        0,
        "hr",
        "高管住宿标准与报销时限：每晚一千二百元，报销时限六十日。".into(),
    )];
    // Its words are spread over two chunks: only its page holds both.
    let vpn = vec![
        chunk(
            "vpn",
            "Remote access",
            0,
            "public",
            "Install the client first.".into(),
        ),
        chunk(
            "vpn",
            "Remote access",
            1,
            "public",
            "Tokens rotate every ninety days.".into(),
        ),
    ];
    let both = index(&[travel, salaries, vpn], encoder()).await;
    let public = Scope::of_groups(["public"]);

    for lexical in [&both.tantivy, &both.qdrant] {
        let hits = ranked(lexical, "住宿标准 报销时限", &public).await;
        assert!(!hits.is_empty());
        assert!(
            hits.iter().all(|(id, _)| id != &chunk_id("salaries", 1, 0)),
            "{hits:?}"
        );
        let hr = ranked(lexical, "住宿标准 报销时限", &Scope::of_groups(["hr"])).await;
        assert_eq!(
            hr.first().map(|h| h.0.clone()),
            Some(chunk_id("salaries", 1, 0))
        );
        // A filter narrows inside the store.
        let none = lexical
            .search_ids(
                "住宿标准",
                10,
                &public,
                &SearchFilter {
                    collections: vec!["elsewhere".into()],
                    ..SearchFilter::default()
                },
                PAGE_WEIGHT,
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        // A question whose words are spread over two chunks of one page
        // finds both, before anything else.
        let vpn = ranked(lexical, "client tokens", &public).await;
        let top: Vec<&str> = vpn.iter().take(2).map(|(id, _)| id.as_str()).collect();
        assert!(top.contains(&chunk_id("vpn", 1, 0).as_str()), "{vpn:?}");
        assert!(top.contains(&chunk_id("vpn", 1, 1).as_str()), "{vpn:?}");
    }

    // The two backends order the travel chunks alike.
    let t = ranked(&both.tantivy, "一线城市住宿", &public).await;
    let q = ranked(&both.qdrant, "一线城市住宿", &public).await;
    assert_eq!(t[0].0, q[0].0);

    // Deleting a document removes its chunks and its page.
    both.vectors.delete_document("vpn", None).await.unwrap();
    both.vectors.commit().await.unwrap();
    assert!(
        ranked(&both.qdrant, "client tokens", &public)
            .await
            .is_empty()
    );
    assert_eq!(both.qdrant.coverage("client tokens").await.unwrap(), 0.0);
    // Loading hits goes through the vector store, still in scope.
    let ids = vec![chunk_id("salaries", 1, 0), chunk_id("travel", 1, 0)];
    let loaded = both.qdrant.get(&ids, &public).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].document_id, "travel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_made_without_bm25_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qdrant");
    // A server store is made by its first call; the embedded one at open.
    store(&path, None)
        .count(&Scope::of_groups(["public"]), &SearchFilter::default())
        .await
        .unwrap();
    let opened = open_vectors_with(
        &vectors_config_for_tests(&path),
        &path,
        DIMS,
        Some(encoder()),
    );
    let e = match opened {
        Err(e) => e,
        Ok(v) => match v
            .count(&Scope::of_groups(["public"]), &SearchFilter::default())
            .await
        {
            Err(e) => e,
            Ok(_) => panic!("a store without BM25 vectors opened for lexical.backend = \"qdrant\""),
        },
    };
    let message = e.to_string();
    assert!(
        message.contains("without BM25") && message.contains("zhishu ingest"),
        "{message}"
    );
    // And one made with them opens again, either way.
    let path = dir.path().join("with");
    let count = |v: Arc<dyn VectorIndex>| async move {
        v.count(&Scope::of_groups(["public"]), &SearchFilter::default())
            .await
            .unwrap()
    };
    assert_eq!(count(store(&path, Some(encoder()))).await, 0);
    assert_eq!(count(store(&path, Some(encoder()))).await, 0);
    assert_eq!(count(store(&path, None)).await, 0);
}
