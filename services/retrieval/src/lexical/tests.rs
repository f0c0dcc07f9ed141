//! The lexical store's search checked against Tantivy's exhaustive
//! collector, and the opening of older and foreign indexes.

use super::*;
use std::collections::HashSet;

/// splitmix64, for a reproducible corpus.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const WORDS: [&str; 12] = [
    "hotel", "travel", "报销", "发票", "policy", "audit", "合同", "server", "budget", "差旅",
    "network", "审计",
];
const GROUPS: [&str; 3] = ["public", "finance", "hr"];

fn chunk(i: usize, state: &mut u64) -> ChunkDoc {
    let len = 3 + (next(state) % 20) as usize;
    let text: Vec<&str> = (0..len)
        .map(|_| {
            // Skewed towards the first words, as real term frequencies are.
            let r = next(state) % 78;
            WORDS[((r as f64).sqrt() as usize).min(WORDS.len() - 1)]
        })
        .collect();
    ChunkDoc {
        chunk_id: crate::chunk_id(&format!("d{}", i / 3), 1, (i % 3) as i64),
        document_id: format!("d{}", i / 3),
        version: 1,
        ordinal: (i % 3) as i64,
        collection: if i.is_multiple_of(5) { "legal" } else { "main" }.into(),
        path: format!("/docs/{}.md", i / 3),
        title: text[..2].join(" "),
        access_groups: vec![GROUPS[i % GROUPS.len()].into()],
        text: text.join(" "),
        ..ChunkDoc::default()
    }
}

/// What the search must equal: the whole `text AND restriction`
/// query scored exhaustively by Tantivy's own collector.
fn exhaustive(
    index: &LexicalIndex,
    query: &str,
    k: usize,
    scope: &Scope,
    filter: &SearchFilter,
) -> Vec<(Score, String)> {
    let searcher = index.reader.searcher();
    let Some(text) = index.text_query(query) else {
        return Vec::new();
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(text))];
    clauses.extend(index.restriction(scope, filter));
    let top = searcher
        .search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(k).order_by_score(),
        )
        .unwrap();
    top.into_iter()
        .map(|(score, addr)| {
            (
                score,
                index.decode(&searcher, addr, false).unwrap().chunk_id,
            )
        })
        .collect()
}

#[test]
fn pruned_search_equals_exhaustive_search_within_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let mut state = 7;
    let mut all = Vec::new();
    // Several commits make several segments; deletions leave dead
    // documents inside them.
    for batch in 0..4 {
        let chunks: Vec<ChunkDoc> = (batch * 300..(batch + 1) * 300)
            .map(|i| chunk(i, &mut state))
            .collect();
        index.upsert(&chunks).unwrap();
        index.commit().unwrap();
        all.extend(chunks);
    }
    for d in (0..400).step_by(7) {
        index.delete_document(&format!("d{d}"), None).unwrap();
    }
    index.commit().unwrap();
    assert!(index.reader.searcher().segment_readers().len() > 1);

    let scopes = [
        Scope::of_groups(["public"]),
        Scope::of_groups(["finance", "hr"]),
        Scope::of_groups(GROUPS),
    ];
    let filters = [
        SearchFilter::default(),
        SearchFilter {
            collections: vec!["legal".into()],
            ..SearchFilter::default()
        },
    ];
    let queries = [
        "hotel 报销",
        "审计 network budget",
        "travel",
        "差旅 policy 发票 合同",
    ];
    let mut compared = 0;
    for q in queries {
        for scope in &scopes {
            for filter in &filters {
                for k in [1, 10, 50] {
                    let want = exhaustive(&index, q, k, scope, filter);
                    let got: Vec<(Score, String)> = index
                        .search_ids(q, k, scope, filter, 0.0)
                        .unwrap()
                        .hits()
                        .map(|(id, s)| (s, id.to_owned()))
                        .collect();
                    // The same scores, up to the order in which a union and
                    // an intersection add up their terms' floats.
                    let close = |a: Score, b: Score| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
                    assert_eq!(got.len(), want.len(), "{q} k={k}");
                    for (i, ((g, id), (w, wid))) in got.iter().zip(&want).enumerate() {
                        assert!(close(*g, *w), "{q} k={k} rank {i}: {g} vs {w}");
                        // Ids agree wherever the score does not tie.
                        let ties = want.iter().filter(|(s, _)| close(*s, *w)).count();
                        if ties == 1 {
                            assert_eq!(id, wid, "{q} k={k} rank {i}");
                        }
                    }
                    let visible: HashSet<&str> = all
                        .iter()
                        .filter(|c| c.access_groups.iter().any(|g| scope.groups().contains(g)))
                        .map(|c| c.chunk_id.as_str())
                        .collect();
                    assert!(got.iter().all(|(_, id)| visible.contains(id.as_str())));
                    compared += got.len();
                }
            }
        }
    }
    assert!(compared > 500, "the queries must match something");
}

#[test]
fn get_by_id_finds_exactly_the_live_chunks_the_scope_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let mut state = 11;
    let mut all = Vec::new();
    for batch in 0..3 {
        let chunks: Vec<ChunkDoc> = (batch * 200..(batch + 1) * 200)
            .map(|i| chunk(i, &mut state))
            .collect();
        index.upsert(&chunks).unwrap();
        index.commit().unwrap();
        all.extend(chunks);
    }
    let deleted: HashSet<String> = (0..200).step_by(5).map(|d| format!("d{d}")).collect();
    for d in &deleted {
        index.delete_document(d, None).unwrap();
    }
    index.commit().unwrap();
    assert!(index.reader.searcher().segment_readers().len() > 1);

    // Every other chunk, from every segment, plus ids that never existed.
    let mut ids: Vec<String> = all.iter().step_by(2).map(|c| c.chunk_id.clone()).collect();
    ids.push(crate::chunk_id("nowhere", 1, 0));
    ids.push(String::new());
    for scope in [
        Scope::of_groups(["public"]),
        Scope::of_groups(["finance", "hr"]),
        Scope::of_groups(GROUPS),
        Scope::of_groups(["nobody"]),
    ] {
        let want: HashSet<&str> = all
            .iter()
            .step_by(2)
            .filter(|c| !deleted.contains(&c.document_id))
            .filter(|c| c.access_groups.iter().any(|g| scope.groups().contains(g)))
            .map(|c| c.chunk_id.as_str())
            .collect();
        let got = index.get(&ids, &scope).unwrap();
        let got_ids: HashSet<&str> = got.iter().map(|c| c.chunk_id.as_str()).collect();
        assert_eq!(got.len(), got_ids.len(), "no chunk twice");
        assert_eq!(got_ids, want, "{:?}", scope.groups());
    }
}

#[test]
fn an_index_made_before_the_id_column_still_searches() {
    let dir = tempfile::tempdir().unwrap();
    let directory = MmapDirectory::open(dir.path()).unwrap();
    Index::create(
        directory,
        schema(false, false).0,
        tantivy::IndexSettings::default(),
    )
    .unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    assert!(!index.fast_ids);
    let mut state = 1;
    let chunks: Vec<ChunkDoc> = (0..30).map(|i| chunk(i, &mut state)).collect();
    index.upsert(&chunks).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(GROUPS);
    let hits = index
        .search_ids("hotel", 5, &scope, &SearchFilter::default(), 1.0)
        .unwrap();
    assert!(!hits.is_empty());
    let want = exhaustive(&index, "hotel", 5, &scope, &SearchFilter::default());
    let got: Vec<String> = hits.hits().map(|(id, _)| id.to_owned()).collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter()
            .all(|id| chunks.iter().any(|c| &c.chunk_id == id))
    );
}

#[test]
fn an_index_with_a_foreign_schema_is_refused_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Schema::builder();
    b.add_text_field("something_else", STRING);
    let directory = MmapDirectory::open(dir.path()).unwrap();
    Index::create(directory, b.build(), tantivy::IndexSettings::default()).unwrap();
    let err = LexicalIndex::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("zhishu ingest"), "{err}");
}

#[test]
fn full_width_text_meets_its_ascii_twin() {
    assert_eq!(analyze("ＶＰＮ　错误８０９"), analyze("VPN 错误809"));
    assert_eq!(analyze("Ｐｏｓｔｇｒｅｓ"), vec!["postgr".to_string()]);
}

#[test]
fn a_chunk_is_found_by_its_document_title_and_section() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let with_title = ChunkDoc {
        chunk_id: crate::chunk_id("d1", 1, 3),
        document_id: "d1".into(),
        version: 1,
        ordinal: 3,
        title: "pg_dump".into(),
        section_path: "Options".into(),
        access_groups: vec!["public".into()],
        text: "Compress the output at the given level.".into(),
        ..ChunkDoc::default()
    };
    index.upsert(&[with_title]).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(["public"]);
    let hits = index
        .search("pg_dump options", 5, &scope, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk.document_id, "d1");
}

/// A question is searched for what it is about: "how do I … my …" asks
/// for the layer and its transparency, not for every page written as a
/// first-person how-to.
#[test]
fn a_question_is_searched_for_its_subject_not_its_framing() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let framing = page_chunk(
        "faq",
        0,
        "FAQ",
        "public",
        "How do I ask? Where do I go, and who do I write to when my mail should have come?",
    );
    let answer = page_chunk(
        "alpha",
        0,
        "Alpha channel",
        "public",
        "Add an alpha channel to make a layer transparent.",
    );
    index.upsert(&[framing, answer]).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(["public"]);
    let hits = index
        .search(
            "How do I make my layer transparent?",
            2,
            &scope,
            &SearchFilter::default(),
        )
        .unwrap();
    assert_eq!(hits.len(), 1, "the framing words alone find nothing");
    assert_eq!(hits[0].chunk.document_id, "alpha");
    // A page is still indexed with them, and a query of nothing else
    // still asks for them.
    let hits = index
        .search("who do I write to", 2, &scope, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits[0].chunk.document_id, "faq");
    assert!(!terms_with(None, "How do I").0.is_empty());
    assert_eq!(
        terms_with(None, "What's wrong with my layer? Why doesn't it work?").0,
        terms_with(None, "wrong layer work").0
    );
    // Chinese framing words go with the bigrams inside them; the
    // subject's words and bigrams stay.
    let (terms, _) = terms_with(None, "请问怎么锁定软件包的版本？");
    let full = analyze("请问怎么锁定软件包的版本？");
    for gone in ["请问", "怎么", "\u{2082}请问", "\u{2082}怎么"] {
        assert!(full.iter().any(|t| t == gone), "{gone} in {full:?}");
        assert!(!terms.iter().any(|t| t == gone), "{gone} in {terms:?}");
    }
    for kept in ["锁定", "软件包", "版本", "\u{2082}锁定"] {
        assert!(terms.iter().any(|t| t == kept), "{kept} in {terms:?}");
    }
}

proptest::proptest! {
    /// Leaving the framing words out only ever removes terms, and leaves
    /// a query with terms whenever its full analysis has any.
    #[test]
    fn question_terms_are_a_non_empty_part_of_the_full_terms(
        words in proptest::collection::vec(
            proptest::sample::select(vec![
                "how", "do", "I", "my", "What's", "doesn't", "layer", "transparent",
                "the", "of", "VPN", "报账", "出差住宿", "Who", "am", "can", "backup", "?", "，",
                "怎么", "为什么", "能不能", "请问", "锁定版本", "吗",
            ]),
            0..12,
        )
    ) {
        let text = words.join(" ");
        let full: HashSet<String> = analyze(&text).into_iter().collect();
        let asked = terms_with(None, &text).0;
        proptest::prop_assert!(asked.iter().all(|t| full.contains(t)), "{asked:?} ⊄ {full:?}");
        proptest::prop_assert_eq!(asked.is_empty(), full.is_empty());
    }
}

fn page_chunk(doc: &str, ordinal: i64, title: &str, group: &str, text: &str) -> ChunkDoc {
    ChunkDoc {
        chunk_id: crate::chunk_id(doc, 1, ordinal),
        document_id: doc.into(),
        version: 1,
        ordinal,
        title: title.into(),
        access_groups: vec![group.into()],
        text: text.into(),
        ..ChunkDoc::default()
    }
}

/// A manual's pages: the one that answers spreads the question's words
/// over three chunks; another repeats two of them in one paragraph.
fn manual() -> Vec<ChunkDoc> {
    let mut chunks = vec![
        page_chunk(
            "dump",
            0,
            "pg_dump",
            "public",
            "pg_dump backs up one database.",
        ),
        page_chunk("dump", 1, "pg_dump", "public", "It writes an archive file."),
        page_chunk(
            "dump",
            2,
            "pg_dump",
            "public",
            "The custom format is compressed.",
        ),
        page_chunk(
            "dump",
            3,
            "pg_dump",
            "public",
            "pg_restore reads the compressed archive file back into one database.",
        ),
        page_chunk(
            "create",
            0,
            "Creating a Database",
            "public",
            "A database is created with createdb; back up each database.",
        ),
    ];
    for (i, topic) in ["roles", "vacuum", "indexes", "replication", "locale"]
        .iter()
        .enumerate()
    {
        chunks.push(page_chunk(
            &format!("other{i}"),
            0,
            topic,
            "public",
            &format!("About {topic}: settings, views and the server's behaviour."),
        ));
    }
    chunks
}

#[test]
fn a_page_that_answers_outranks_a_chunk_that_repeats_the_words() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    index.upsert(&manual()).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(["public"]);
    let question = "back up one database into a compressed file";
    let first = |weight: f32| -> String {
        let hits = index
            .search_ids(question, 5, &scope, &SearchFilter::default(), weight)
            .unwrap();
        let chunks = index.load(&hits, &[0]).unwrap();
        chunks[0].document_id.clone()
    };
    assert_eq!(
        first(0.0),
        "create",
        "chunks alone favour the repeated words"
    );
    assert_eq!(first(1.0), "dump", "the page that answers comes first");
}

#[test]
fn a_page_brings_its_best_chunk_when_none_of_its_chunks_ranked() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    index.upsert(&manual()).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(["public"]);
    // k = 1: the chunks' own top hit is `create`; the page `dump` ranks
    // first among pages and brings its best chunk, which then wins.
    let hits = index
        .search_ids(
            "back up one database into a compressed file",
            1,
            &scope,
            &SearchFilter::default(),
            1.0,
        )
        .unwrap();
    let chunks = index.load(&hits, &[0]).unwrap();
    assert_eq!(chunks[0].document_id, "dump");
}

#[test]
fn page_evidence_stays_inside_the_scope_and_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let mut state = 11;
    // Documents' chunks share their groups, as ingestion writes them.
    let chunks: Vec<ChunkDoc> = (0..900)
        .map(|i| {
            let mut c = chunk(i, &mut state);
            c.access_groups = vec![GROUPS[(i / 3) % GROUPS.len()].into()];
            c.collection = if (i / 3).is_multiple_of(5) {
                "legal"
            } else {
                "main"
            }
            .into();
            c
        })
        .collect();
    index.upsert(&chunks).unwrap();
    index.commit().unwrap();
    let filters = [
        SearchFilter::default(),
        SearchFilter {
            collections: vec!["legal".into()],
            ..SearchFilter::default()
        },
    ];
    let mut seen = 0;
    for q in ["hotel 报销", "审计 network budget", "差旅 policy 发票 合同"] {
        for groups in [&["public"][..], &["finance", "hr"][..]] {
            let scope = Scope::of_groups(groups.iter().copied());
            for filter in &filters {
                let hits = index.search_ids(q, 20, &scope, filter, 1.0).unwrap();
                let ids: Vec<usize> = (0..hits.len()).collect();
                for c in index.load(&hits, &ids).unwrap() {
                    assert!(c.access_groups.iter().any(|g| groups.contains(&g.as_str())));
                    assert!(filter.collections.is_empty() || filter.collections == [c.collection]);
                    seen += 1;
                }
            }
        }
    }
    assert!(seen > 100);
}

#[test]
fn pages_follow_their_documents_and_are_rebuilt_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let question = "back up one database into a compressed file";
    let scope = Scope::of_groups(["public"]);
    let ranking = |index: &LexicalIndex| -> Vec<String> {
        index
            .search_ids(question, 5, &scope, &SearchFilter::default(), 1.0)
            .unwrap()
            .hits()
            .map(|(id, _)| id.to_owned())
            .collect()
    };
    let before = {
        let index = LexicalIndex::open(dir.path()).unwrap();
        index.upsert(&manual()).unwrap();
        index.commit().unwrap();
        let pages = index.pages.as_deref().unwrap();
        assert_eq!(pages.num_chunks(), 7, "one page per document");
        index.delete_document("other0", None).unwrap();
        index.commit().unwrap();
        assert_eq!(index.pages.as_deref().unwrap().num_chunks(), 6);
        ranking(&index)
    };
    // An index made before pages existed: its pages are written at open.
    std::fs::remove_dir_all(dir.path().join(PAGES_DIR)).unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    assert_eq!(index.pages.as_deref().unwrap().num_chunks(), 6);
    assert_eq!(ranking(&index), before);
    // A new version replaces its page.
    let mut v2 = page_chunk("dump", 0, "pg_dump", "public", "Nothing about it now.");
    v2.version = 2;
    v2.chunk_id = crate::chunk_id("dump", 2, 0);
    index.upsert(&[v2]).unwrap();
    index.delete_document("dump", Some(2)).unwrap();
    index.commit().unwrap();
    assert_eq!(index.pages.as_deref().unwrap().num_chunks(), 6);
    assert!(
        !ranking(&index)
            .iter()
            .any(|id| id == &crate::chunk_id("dump", 1, 2))
    );
}

#[test]
fn an_incomplete_page_index_gives_no_evidence_until_an_open_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let question = "back up one database into a compressed file";
    let scope = Scope::of_groups(["public"]);
    let first = |index: &LexicalIndex| -> String {
        let hits = index
            .search_ids(question, 5, &scope, &SearchFilter::default(), 1.0)
            .unwrap();
        index.load(&hits, &[0]).unwrap()[0].document_id.clone()
    };
    {
        let index = LexicalIndex::open(dir.path()).unwrap();
        index.upsert(&manual()).unwrap();
        index.commit().unwrap();
        assert_eq!(first(&index), "dump");
    }
    // Pages lost, and another process holds their writer: the rebuild
    // cannot run, and page evidence stays off rather than half there.
    std::fs::remove_dir_all(dir.path().join(PAGES_DIR)).unwrap();
    let blocker = LexicalIndex::open_one(&dir.path().join(PAGES_DIR), None).unwrap();
    blocker.with_writer(|_, _| Ok(())).unwrap();
    {
        let index = LexicalIndex::open(dir.path()).unwrap();
        assert_eq!(
            first(&index),
            "create",
            "chunks alone while pages are incomplete"
        );
    }
    drop(blocker);
    let index = LexicalIndex::open(dir.path()).unwrap();
    assert_eq!(first(&index), "dump", "the next open completes the pages");
}

#[test]
fn the_enterprise_vocabulary_keeps_words_whole_expands_synonyms_and_is_re_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vocabulary.txt");
    std::fs::write(&file, "# company words\n知枢平台\n").unwrap();
    let vocabulary = VocabularyFile::open(&file).unwrap();
    let index =
        LexicalIndex::open_with(&dir.path().join("tantivy"), Some(vocabulary.clone())).unwrap();
    let word = "知枢平台".to_string();
    assert!(index.terms("知枢平台上线了").0.contains(&word));
    assert!(
        !analyze("知枢平台上线了").contains(&word),
        "jieba alone cuts it"
    );

    let policy = ChunkDoc {
        chunk_id: crate::chunk_id("travel", 1, 0),
        document_id: "travel".into(),
        version: 1,
        title: "差旅管理办法".into(),
        access_groups: vec!["public".into()],
        text: "差旅报销标准：一线城市住宿每晚不超过800元，凭发票报销。".into(),
        ..ChunkDoc::default()
    };
    index.upsert(&[policy]).unwrap();
    index.commit().unwrap();
    let scope = Scope::of_groups(["public"]);
    let found = |q: &str| {
        index
            .search_ids(q, 5, &scope, &SearchFilter::default(), 1.0)
            .unwrap()
            .len()
    };
    assert_eq!(found("报账"), 0, "the policy never says 报账");
    assert_eq!(index.coverage("报账").unwrap(), 0.0);

    // An administrator adds a synonym: the next look at the file takes it.
    std::fs::write(&file, "知枢平台\n报销 = 报账 = reimbursement\n").unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .append(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(vocabulary.reload().unwrap());
    assert_eq!(found("报账"), 1, "报账 asks for 报销 too");
    assert_eq!(found("how is a reimbursement made"), 1);
    assert_eq!(index.coverage("报账").unwrap(), 1.0);

    // A broken edit is refused, naming the line; the last good one stays.
    std::fs::write(&file, "知枢平台\n报销 =\n").unwrap();
    let later = later + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .append(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let err = vocabulary.reload().unwrap_err().to_string();
    assert!(err.contains("vocabulary.txt:2"), "{err}");
    assert_eq!(found("报账"), 1);
    assert!(
        VocabularyFile::open(&file).is_err(),
        "a broken file does not open"
    );
}

/// A question asked again on a thread is answered from the last analysis,
/// and only with the same vocabulary version: a synonym added by a new
/// version is never missed, nor kept once a version drops it.
#[test]
fn a_question_analysed_again_follows_the_vocabulary_version() {
    let plain = terms_with(None, "报账 hotel");
    assert_eq!(plain, terms_with(None, "报账 hotel"));
    assert!(plain.1.added.is_empty());
    let with = Words::Fixed(Arc::new(
        vocabulary::Vocabulary::parse("报销 = 报账\n", "v.txt").unwrap(),
    ));
    let (terms, synonyms) = terms_with(Some(&with), "报账 hotel");
    assert_eq!(terms, plain.0);
    assert!(
        synonyms.added.iter().any(|(t, _)| t == "报销"),
        "{synonyms:?}"
    );
    // The same text with another version (none): no synonyms again.
    assert!(terms_with(None, "报账 hotel").1.added.is_empty());
    let other = Words::Fixed(Arc::new(
        vocabulary::Vocabulary::parse("出差 = 差旅\n", "v.txt").unwrap(),
    ));
    assert!(terms_with(Some(&other), "报账 hotel").1.added.is_empty());
}

/// A chunk with `kept` token vectors, found by "hotel".
fn kept_chunk(ordinal: i64, kept: &Arc<PackedTokens>) -> ChunkDoc {
    ChunkDoc {
        chunk_id: crate::chunk_id("d1", 1, ordinal),
        document_id: "d1".into(),
        version: 1,
        ordinal,
        title: "Hotels".into(),
        access_groups: vec!["public".into()],
        text: format!("The hotel limit, part {ordinal}."),
        token_vectors: Some(kept.clone()),
        ..ChunkDoc::default()
    }
}

/// The payload text a chunk is stored with.
fn payload_of(index: &LexicalIndex, chunk_id: &str) -> String {
    let searcher = index.reader.searcher();
    let q = TermQuery::new(
        Term::from_field_text(index.fields.chunk_id, chunk_id),
        IndexRecordOption::Basic,
    );
    let top = searcher
        .search(&q, &TopDocs::with_limit(1).order_by_score())
        .unwrap();
    let doc: TantivyDocument = searcher.doc(top[0].1).unwrap();
    let payload = doc.get_first(index.fields.payload).unwrap();
    payload.as_str().unwrap().to_owned()
}

/// `ids` read back with their kept token vectors, as the late pass reads
/// hits.
fn with_vectors(index: &LexicalIndex, ids: &[String]) -> Vec<ChunkDoc> {
    let scope = Scope::of_groups(["public"]);
    index.get_with_vectors(ids, &scope).unwrap()
}

#[test]
fn kept_token_vectors_have_their_own_field_and_older_indexes_keep_theirs() {
    let rows: Vec<f32> = (0..5 * 8)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let kept = Arc::new(PackedTokens::pack(
        zhishu_encoders::TokenForm::Int8,
        &rows,
        8,
    ));
    let scope = Scope::of_groups(["public"]);

    // A new index: in their own field, none in the payload's JSON; read
    // for the late pass's hits only.
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    assert!(index.fields.token_vectors.is_some());
    let fresh = kept_chunk(0, &kept);
    index.upsert(std::slice::from_ref(&fresh)).unwrap();
    index.commit().unwrap();
    let ids = [fresh.chunk_id.clone()];
    assert_eq!(
        with_vectors(&index, &ids)[0].token_vectors.as_deref(),
        Some(&*kept)
    );
    let found = index
        .search_ids("hotel", 5, &scope, &SearchFilter::default(), 1.0)
        .unwrap();
    let by_hit = index.load_with(&found, &[0], &[], &scope, true).unwrap();
    assert_eq!(by_hit[0].token_vectors.as_deref(), Some(&*kept));
    // Every other read is spared them.
    assert!(index.load(&found, &[0]).unwrap()[0].token_vectors.is_none());
    assert!(index.get(&ids, &scope).unwrap()[0].token_vectors.is_none());
    let hits = index
        .search("hotel", 5, &scope, &SearchFilter::default())
        .unwrap();
    assert!(hits[0].chunk.token_vectors.is_none());
    assert_eq!(hits[0].chunk.text, fresh.text);
    assert!(!payload_of(&index, &fresh.chunk_id).contains("token_vectors"));
    drop(index);
    // Reopened, the field is found again.
    let index = LexicalIndex::open(dir.path()).unwrap();
    assert_eq!(
        with_vectors(&index, &ids)[0].token_vectors.as_deref(),
        Some(&*kept)
    );

    // An index made before the field: it opens, reads the vectors its
    // chunks carry in the payload, and writes new ones there too.
    let dir = tempfile::tempdir().unwrap();
    let directory = MmapDirectory::open(dir.path()).unwrap();
    Index::create(
        directory,
        schema(true, false).0,
        tantivy::IndexSettings::default(),
    )
    .unwrap();
    let older = LexicalIndex::open(dir.path()).unwrap();
    assert!(older.fields.token_vectors.is_none());
    let old = kept_chunk(1, &kept);
    older.upsert(std::slice::from_ref(&old)).unwrap();
    older.commit().unwrap();
    assert!(payload_of(&older, &old.chunk_id).contains("token_vectors"));
    let ids = [old.chunk_id.clone()];
    assert_eq!(
        with_vectors(&older, &ids)[0].token_vectors.as_deref(),
        Some(&*kept)
    );
    assert!(older.get(&ids, &scope).unwrap()[0].token_vectors.is_none());
}

#[test]
fn unreadable_kept_vectors_lose_the_vectors_not_the_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, fields) = schema(true, true);
    let field = fields.token_vectors.unwrap();
    let index = Index::create(
        MmapDirectory::open(dir.path()).unwrap(),
        schema,
        tantivy::IndexSettings::default(),
    )
    .unwrap();
    index.tokenizers().register(ANALYZER, analyzer(None));
    let mut writer: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
    let rows = [0.5f32; 16];
    let good = PackedTokens::pack(zhishu_encoders::TokenForm::Int8, &rows, 8).to_stored();
    let mut unknown_form = good.clone();
    unknown_form[4] = 99;
    let torn = good[..good.len() - 3].to_vec();
    let damaged = [
        B64.encode(unknown_form),
        B64.encode(torn),
        B64.encode(b"not vectors"),
        String::new(),
        "not base64: 向量".to_owned(),
    ];
    let mut ids = Vec::new();
    for (i, text) in damaged.iter().enumerate() {
        let c = ChunkDoc {
            token_vectors: None,
            ..kept_chunk(
                i as i64,
                &Arc::new(PackedTokens::pack(
                    zhishu_encoders::TokenForm::Int8,
                    &rows,
                    8,
                )),
            )
        };
        let mut doc = TantivyDocument::new();
        doc.add_text(fields.chunk_id, &c.chunk_id);
        doc.add_text(fields.access_groups, "public");
        doc.add_text(fields.body, &c.text);
        doc.add_text(fields.payload, c.stored_json().unwrap().to_string());
        doc.add_text(field, text);
        writer.add_document(doc).unwrap();
        ids.push(c.chunk_id);
    }
    writer.commit().unwrap();
    drop(writer);
    drop(index);
    let index = LexicalIndex::open(dir.path()).unwrap();
    let got = with_vectors(&index, &ids);
    assert_eq!(got.len(), damaged.len(), "every chunk is read");
    assert!(got.iter().all(|c| c.token_vectors.is_none()));
    assert!(got.iter().all(|c| c.text.starts_with("The hotel limit")));
}

/// Late interaction's weights for a question's pieces, from the index:
/// framing words and punctuation nothing, a word most chunks hold less
/// than a word few hold, a Chinese piece by its bigrams.
#[test]
fn a_question_piece_weighs_by_how_rare_its_word_is() {
    let dir = tempfile::tempdir().unwrap();
    let index = LexicalIndex::open(dir.path()).unwrap();
    let chunks: Vec<ChunkDoc> = (0..8)
        .map(|i| {
            let text = if i == 0 {
                "Back up the database with pg_dump. 数据库备份用 pg_dump。".to_owned()
            } else {
                format!("The database server {i} starts at boot. 数据库服务器第 {i} 号。")
            };
            page_chunk(&format!("d{i}"), 0, "Manual", "public", &text)
        })
        .collect();
    index.upsert(&chunks).unwrap();
    index.commit().unwrap();
    let q = "How do I back up a database with pg_dump? 怎么备份数据库";
    let span = |piece: &str| {
        let start = q.find(piece).unwrap();
        (start, start + piece.len())
    };
    let pieces = [
        "How",
        "do",
        "?",
        "database",
        "dump",
        "怎么",
        "备份",
        "数据库",
    ];
    let spans: Vec<(usize, usize)> = pieces.iter().map(|p| span(p)).collect();
    let w = index.piece_weights(q, &spans).unwrap();
    let of = |p: &str| w[pieces.iter().position(|x| *x == p).unwrap()];
    for framing in ["How", "do", "?", "怎么"] {
        assert_eq!(of(framing), 0.0, "{framing}: {w:?}");
    }
    // pg_dump is in one chunk of eight, database in all of them.
    assert!(of("dump") > 2.0 * of("database"), "{w:?}");
    assert!(of("database") > 0.0, "{w:?}");
    // 备份 in one chunk, 数据库's bigrams in all.
    assert!(of("备份") > 2.0 * of("数据库"), "{w:?}");
    // Without an index (BM25 inside the vector store): framing 0, the
    // rest alike.
    let alike = weights::subject_weights(q, &spans);
    assert_eq!(alike, vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
}
