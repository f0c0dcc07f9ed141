//! The vector store's contract, checked on whichever backend the
//! environment names: Qdrant Edge in a temporary folder, or a collection
//! on the Qdrant server at `QDRANT_URL` when that is set. Both must keep
//! the caller's scope inside the query, replace a document's old version
//! without leaving a duplicate, and survive being reopened.
//!
//! A server that is down is checked without one: its errors must say so,
//! name the address, and be the retryable kind.

use zhishu_core::config::{VectorBackend, VectorsConfig};
use zhishu_retrieval::synthetic::{chunk, unit_vector};
use zhishu_retrieval::{
    ChunkDoc, RetrievalError, Scope, SearchFilter, open_vectors, open_vectors_for_tests,
};

const DIMS: usize = 32;

/// Chunk `i` of document `doc`, version `version`, visible to `group`.
fn piece(doc: &str, version: i64, i: usize, group: &str, path: &str, modified: i64) -> ChunkDoc {
    let mut c = chunk(i, 1, group, format!("passage {i} of {doc}"), 3);
    c.document_id = doc.to_owned();
    c.version = version;
    c.ordinal = i as i64;
    c.chunk_id = zhishu_retrieval::chunk_id(doc, version, i as i64);
    c.path = path.to_owned();
    c.collection = if path.starts_with("/finance") {
        "finance".into()
    } else {
        "hr".into()
    };
    c.modified_at = modified;
    c
}

fn ids(hits: &[ChunkDoc]) -> Vec<String> {
    hits.iter().map(|c| c.chunk_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_filters_replacement_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qdrant");
    let store = open_vectors_for_tests(&path, DIMS).unwrap();
    assert_eq!(store.dimensions(), DIMS);

    let mut points = Vec::new();
    for i in 0..6 {
        points.push((
            piece("fin-a", 1, i, "finance", "/finance/a.pdf", 1_000),
            unit_vector(i, DIMS),
        ));
    }
    for i in 6..10 {
        points.push((
            piece("hr-b", 1, i, "hr", "/hr/people/b.md", 5_000),
            unit_vector(i, DIMS),
        ));
    }
    points.push((
        piece("pub-c", 1, 10, "public", "/finance/public/c.md", 9_000),
        unit_vector(10, DIMS),
    ));
    store.upsert(points).await.unwrap();
    store.commit().await.unwrap();
    store.optimize().await.unwrap();

    let all = SearchFilter::default();
    let finance = Scope::of_groups(["finance", "public"]);
    let hr = Scope::of_groups(["hr"]);
    let nobody = Scope::of_groups(Vec::<String>::new());

    // The scope is part of the query: an HR query vector finds only what
    // finance may see, and k is filled from inside the scope.
    let hits = store
        .search(unit_vector(7, DIMS), 5, &finance, &all, true)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter().all(|h| h.chunk.access_groups[0] != "hr"),
        "{:?}",
        hits.iter()
            .map(|h| &h.chunk.document_id)
            .collect::<Vec<_>>()
    );
    let top = store
        .search(unit_vector(7, DIMS), 1, &hr, &all, false)
        .await
        .unwrap();
    assert_eq!(
        top[0].chunk.chunk_id,
        zhishu_retrieval::chunk_id("hr-b", 1, 7)
    );
    assert!((top[0].score - 1.0).abs() < 1e-4, "{}", top[0].score);
    assert_eq!(store.count(&finance, &all).await.unwrap(), 7);
    assert_eq!(store.count(&hr, &all).await.unwrap(), 4);
    assert_eq!(store.count(&nobody, &all).await.unwrap(), 0);
    assert!(
        store
            .search(unit_vector(1, DIMS), 5, &nobody, &all, false)
            .await
            .unwrap()
            .is_empty()
    );

    // Filters narrow the scope and never widen it: asking for HR's document
    // or collection from the finance scope finds nothing.
    let crafted = SearchFilter {
        document_ids: vec!["hr-b".into()],
        collections: vec!["hr".into(), "finance".into()],
        ..Default::default()
    };
    assert_eq!(store.count(&finance, &crafted).await.unwrap(), 0);
    let under = SearchFilter {
        path_prefix: Some("/finance/public/".into()),
        ..Default::default()
    };
    let found = store
        .search(unit_vector(0, DIMS), 10, &finance, &under, false)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].chunk.document_id, "pub-c");
    let recent = SearchFilter {
        modified_after: Some(4_000),
        ..Default::default()
    };
    assert_eq!(store.count(&finance, &recent).await.unwrap(), 1);
    assert_eq!(store.count(&hr, &recent).await.unwrap(), 4);

    // Ids come back with scores and no payload; `get` returns them in the
    // order asked, leaves out unknown ids and re-checks the scope.
    let fused = store
        .search_ids(unit_vector(2, DIMS), 3, &finance, &all)
        .await
        .unwrap();
    assert_eq!(fused[0].0, zhishu_retrieval::chunk_id("fin-a", 1, 2));
    let wanted = vec![
        zhishu_retrieval::chunk_id("pub-c", 1, 10),
        zhishu_retrieval::chunk_id("nope", 1, 0),
        zhishu_retrieval::chunk_id("fin-a", 1, 3),
        zhishu_retrieval::chunk_id("hr-b", 1, 6),
    ];
    let got = store.get(&wanted, &finance).await.unwrap();
    assert_eq!(ids(&got), vec![wanted[0].clone(), wanted[2].clone()]);
    assert_eq!(got[0].text, "passage 10 of pub-c");

    // A new version replaces the old one: written first, then the old one
    // deleted, with no moment where the document is missing.
    let v2: Vec<_> = (0..2)
        .map(|i| {
            (
                piece("fin-a", 2, i, "finance", "/finance/a.pdf", 2_000),
                unit_vector(100 + i, DIMS),
            )
        })
        .collect();
    store.upsert(v2).await.unwrap();
    assert_eq!(store.document_versions("fin-a").await.unwrap().len(), 8);
    store.delete_document("fin-a", Some(2)).await.unwrap();
    store.commit().await.unwrap();
    let mut versions = store.document_versions("fin-a").await.unwrap();
    versions.sort_unstable();
    assert_eq!(versions, vec![2, 2]);
    assert_eq!(store.count(&finance, &all).await.unwrap(), 3);

    // Vectors of another size are refused with the sizes named.
    let err = store
        .search(vec![0.5; DIMS + 1], 3, &finance, &all, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RetrievalError::Dimensions { want: DIMS, got } if got == DIMS + 1),
        "{err}"
    );

    // Reopened, as the next process would, everything is still there; a
    // store of another size is refused.
    drop(store);
    let again = open_vectors_for_tests(&path, DIMS).unwrap();
    assert_eq!(again.count(&finance, &all).await.unwrap(), 3);
    assert_eq!(again.count(&hr, &all).await.unwrap(), 4);
    drop(again);
    let wrong = match open_vectors_for_tests(&path, DIMS * 2) {
        Ok(s) => s.count(&finance, &all).await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(
        matches!(
            wrong,
            Err(RetrievalError::Dimensions { want: DIMS, got }) if got == DIMS * 2
        ),
        "{wrong:?}"
    );

    // Deleting every version leaves nothing behind.
    let again = open_vectors_for_tests(&path, DIMS).unwrap();
    again.delete_document("fin-a", None).await.unwrap();
    again.delete_document("hr-b", None).await.unwrap();
    again.commit().await.unwrap();
    assert!(again.document_versions("fin-a").await.unwrap().is_empty());
    assert_eq!(again.count(&finance, &all).await.unwrap(), 1);
    assert_eq!(again.count(&hr, &all).await.unwrap(), 0);
}

/// A Qdrant server that does not answer: every call fails at once with
/// the retryable error, naming the address, and a later call tries again
/// rather than remembering the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_reported_as_unavailable() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let config = VectorsConfig {
        backend: VectorBackend::Qdrant,
        path: None,
        url: Some(url.clone()),
        api_key: None,
        collection: "zhishu_down".into(),
        cluster: Default::default(),
    };
    let store = open_vectors(&config, std::path::Path::new("/nonexistent"), DIMS).unwrap();
    let scope = Scope::of_groups(["public"]);
    let all = SearchFilter::default();
    for attempt in 0..2 {
        let err = store
            .search(unit_vector(1, DIMS), 3, &scope, &all, false)
            .await
            .unwrap_err();
        match &err {
            RetrievalError::Unavailable(m) => {
                assert!(m.contains(&url), "attempt {attempt}: {m}");
                assert!(m.contains("vectors.url"), "says what to check: {m}");
            }
            other => panic!("attempt {attempt}: not reported as unavailable: {other}"),
        }
    }
    let point = (piece("d", 1, 0, "public", "/p.md", 0), unit_vector(0, DIMS));
    assert!(matches!(
        store.upsert(vec![point]).await,
        Err(RetrievalError::Unavailable(_))
    ));
    assert!(matches!(
        store.count(&scope, &all).await,
        Err(RetrievalError::Unavailable(_))
    ));

    // A URL that is not one is an error naming it, not a hang.
    let bad = VectorsConfig {
        url: Some("not a url".into()),
        ..config
    };
    let err = match open_vectors(&bad, std::path::Path::new("/nonexistent"), DIMS) {
        Ok(s) => s.count(&scope, &all).await.map(|_| ()).unwrap_err(),
        Err(e) => e,
    };
    assert!(err.to_string().contains("not a url"), "{err}");
}

/// A long write checkpoints the embedded store: the points written so far
/// move out of the growing appendable segment into an indexed one, and
/// nothing a reader relies on changes: the scope, filters on the document,
/// replacing a version that spans both segments, and reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_move_points_out_of_the_growing_segment() {
    use zhishu_retrieval::{EdgeIndex, VectorIndex};
    // 1024-d so that 3,000 points pass Qdrant's 10 MB indexing threshold.
    const WIDE: usize = 1024;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qdrant");
    let store = EdgeIndex::open(&path, WIDE).unwrap();
    let batch = |doc: &'static str, version: i64, range: std::ops::Range<usize>| {
        range
            .map(|i| {
                let group = if i % 2 == 0 { "finance" } else { "hr" };
                (
                    piece(doc, version, i, group, "/finance/big.pdf", 1_000),
                    unit_vector(i, WIDE),
                )
            })
            .collect::<Vec<_>>()
    };
    for start in (0..3_000).step_by(500) {
        store
            .upsert(batch("big", 1, start..start + 500))
            .await
            .unwrap();
    }
    store.commit().await.unwrap();
    assert_eq!(store.indexed_points(), (3_000, 0));

    store.checkpoint().await.unwrap();
    assert_eq!(store.indexed_points(), (3_000, 3_000));

    // Written after the checkpoint: a new version of part of the document
    // lands in the fresh appendable segment, whose payload indexes must
    // exist for the replacement's filter to find the old version there and
    // in the indexed segment.
    store.upsert(batch("big", 2, 0..10)).await.unwrap();
    store.delete_document("big", Some(2)).await.unwrap();
    store.commit().await.unwrap();
    let finance = Scope::of_groups(["finance"]);
    let all = SearchFilter::default();
    assert_eq!(store.count(&finance, &all).await.unwrap(), 5);
    let mut versions = store.document_versions("big").await.unwrap();
    versions.dedup();
    assert_eq!(versions, vec![2]);
    let top = store
        .search(unit_vector(4, WIDE), 1, &finance, &all, false)
        .await
        .unwrap();
    assert_eq!(
        top[0].chunk.chunk_id,
        zhishu_retrieval::chunk_id("big", 2, 4)
    );
    let hidden = store
        .search(unit_vector(5, WIDE), 3, &finance, &all, false)
        .await
        .unwrap();
    assert!(hidden.iter().all(|h| h.chunk.access_groups[0] == "finance"));

    drop(store);
    let again = EdgeIndex::open(&path, WIDE).unwrap();
    assert_eq!(again.count(&finance, &all).await.unwrap(), 5);
    assert_eq!(
        again.count(&Scope::of_groups(["hr"]), &all).await.unwrap(),
        5
    );
}
