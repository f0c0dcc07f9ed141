//! The lexical store: BM25 over Tantivy, with Chinese and English in one
//! analyzer.
//!
//! Why one analyzer for both languages: documents and queries mix them
//! ("报销 policy for 一线城市 hotels"), so a field cannot pick a language.
//! jieba segments Chinese (search mode, so compounds also yield their
//! parts) and passes Latin words through whole; lower-casing and the
//! English Snowball stemmer then normalise the Latin words and leave the
//! Chinese ones untouched; tokens with no letter or digit (spaces,
//! punctuation) are dropped.
//!
//! Queries are not parsed as a query language: a user's `C++ "draft"` is
//! text, not syntax. The query is run through the same analyzer, less the
//! words that only frame a question ("how do I", "怎么", "能不能": they
//! would favour pages written as how-tos over pages about the subject),
//! and every term is looked up in title, section path and body with
//! per-field boosts.

use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter, ancestors};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery,
    Weight,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Score, TERMINATED,
    TantivyDocument, Term,
};
use zhishu_encoders::PackedTokens;

mod in_store;
mod pages;
pub mod sparse;
mod top_k;
pub mod vocabulary;
mod weights;

pub use in_store::Lexical;
pub(crate) use pages::pages_of;
use top_k::TopK;
use vocabulary::{VocabularyFile, Words};

/// Name of the Chinese + English analyzer in the index.
const ANALYZER: &str = "zh_en";
/// Memory of the index writer.
const WRITER_HEAP: usize = 64 << 20;
/// Per-field boosts: a term in a title says more than one in the body.
const BOOSTS: [f32; 3] = [2.0, 1.5, 1.0]; // title, section, body

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    document_id: Field,
    version: Field,
    collection: Field,
    dirs: Field,
    access_groups: Field,
    modified_at: Field,
    title: Field,
    section: Field,
    body: Field,
    payload: Field,
    /// Kept token vectors ([`ChunkDoc::token_vectors`]): base64 of
    /// [`PackedTokens::to_stored`], beside the payload, decoded only for
    /// the reads that ask for them. `None` in an index made before the
    /// field existed, whose chunks carry them in the payload instead.
    token_vectors: Option<Field>,
}

/// The index schema. `fast_ids` stores chunk ids in a fast-field column
/// as well, so that a search reads its hits' ids from a column instead of
/// decompressing their stored documents; `kept` stores kept token vectors
/// in a field of their own, so that reading a chunk for anything but the
/// late pass (a BM25 or dense hit, a neighbour, a consistency check)
/// parses its JSON without them and never decodes them. Indexes made
/// before either existed open without it (see `LexicalIndex::open_one`).
///
/// The vectors are base64 text, not a bytes field: Tantivy 0.27 reads a
/// stored bytes value back one byte at a time (its generic `Vec<T>`
/// deserializer), which made every BM25 search over chunks with kept
/// vectors 3.4× slower (docs/benchmarks.md); a stored text is one copy.
fn schema(fast_ids: bool, kept: bool) -> (Schema, Fields) {
    let mut b = Schema::builder();
    let chunk_id = if fast_ids {
        STRING | STORED | FAST
    } else {
        STRING | STORED
    };
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let int = NumericOptions::default().set_indexed().set_fast();
    let fields = Fields {
        chunk_id: b.add_text_field("chunk_id", chunk_id),
        document_id: b.add_text_field("document_id", STRING),
        version: b.add_i64_field("version", int.clone()),
        collection: b.add_text_field("collection", STRING),
        dirs: b.add_text_field("dirs", STRING),
        access_groups: b.add_text_field("access_groups", STRING),
        modified_at: b.add_i64_field("modified_at", int | INDEXED),
        title: b.add_text_field("title", text.clone()),
        section: b.add_text_field("section", text.clone()),
        body: b.add_text_field("body", text),
        payload: b.add_text_field("payload", STORED),
        token_vectors: kept.then(|| b.add_text_field(TOKEN_VECTORS, STORED)),
    };
    (b.build(), fields)
}

/// The stored field of kept token vectors (base64 text).
const TOKEN_VECTORS: &str = "token_vectors";

/// English function words left out of the index and of queries: Lucene's
/// English analyzer's list. Without it "What is the hotel limit for trips?"
/// matches every English page on "the" and "is", even where no content
/// word of the question occurs, and that ranking then votes in fusion.
/// Indexes made with them still answer (queries just stop asking for them).
const ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// English words that frame a question rather than say what it is about,
/// left out of queries only (pages keep them): interrogatives, personal
/// pronouns, auxiliary and modal verbs, and the pieces of contractions
/// ("what's", "doesn't"). "How do I make my layer transparent?" asks for
/// `layer` and `transparent`; with `how`, `do`, `i` and `my` it also
/// favours any chunk that happens to be written as a how-to in the first
/// person, since each such word still scores something. A query made of
/// nothing else keeps them (see [`terms_with`]).
const QUESTION_WORDS: [&str; 60] = [
    "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "whether", "do",
    "does", "did", "doing", "i", "me", "my", "myself", "we", "our", "you", "your", "he", "him",
    "his", "she", "her", "its", "them", "am", "were", "been", "being", "has", "have", "had",
    "having", "can", "could", "should", "would", "shall", "might", "must", "s", "t", "d", "ll",
    "m", "re", "ve", "don", "doesn", "didn", "isn", "aren", "wasn", "couldn", "shouldn", "wouldn",
];

/// Chinese words that frame a question ("怎么", "为什么", "能不能",
/// "有没有", "请问"): left out of queries as [`QUESTION_WORDS`] are, with
/// the bigrams inside them, when jieba finds them as words. Only words of
/// two characters or more: a single character such as 我 or 吗 is part of
/// too many real words.
const CHINESE_QUESTION_WORDS: [&str; 29] = [
    "为什么",
    "为何",
    "怎么",
    "怎么样",
    "怎么办",
    "怎样",
    "如何",
    "什么",
    "哪个",
    "哪些",
    "哪里",
    "哪儿",
    "哪种",
    "哪一个",
    "哪一项",
    "能不能",
    "能否",
    "可不可以",
    "是否",
    "是不是",
    "会不会",
    "要不要",
    "有没有",
    "请问",
    "我们",
    "我的",
    "你们",
    "咱们",
    "应该",
];

/// The Chinese + English analyzer (see the module documentation), with
/// the enterprise vocabulary's words when there is one.
fn analyzer(words: Option<Words>) -> TextAnalyzer {
    analyzer_for(words, false)
}

/// [`analyzer`], or with `question` the analyzer of a question: it also
/// leaves out the words that only frame one ([`QUESTION_WORDS`], before
/// stemming, as typed but lower-cased; [`CHINESE_QUESTION_WORDS`]).
fn analyzer_for(words: Option<Words>, question: bool) -> TextAnalyzer {
    let more: &[&str] = if question { &QUESTION_WORDS } else { &[] };
    TextAnalyzer::builder(ZhEn::new(words, question))
        .filter(WordsOnly)
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            ENGLISH_STOP_WORDS
                .iter()
                .chain(more)
                .map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms the index sees for a text: what a query is matched on.
pub fn analyze(text: &str) -> Vec<String> {
    analyze_with(text, None)
}

/// [`analyze`] with an enterprise vocabulary's words.
fn analyze_with(text: &str, words: Option<Words>) -> Vec<String> {
    run_analyzer(analyzer(words), text)
}

/// The terms of a question: [`analyze_with`] less the words that only
/// frame it ([`QUESTION_WORDS`], [`CHINESE_QUESTION_WORDS`]), unless
/// nothing else is left ("how do I", "Who am I" are then searched as
/// typed).
fn analyze_question(text: &str, words: Option<Words>) -> Vec<String> {
    let terms = run_analyzer(analyzer_for(words.clone(), true), text);
    if terms.is_empty() {
        analyze_with(text, words)
    } else {
        terms
    }
}

fn run_analyzer(mut a: TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// A BM25 hit.
#[derive(Debug, Clone)]
pub struct LexicalHit {
    /// BM25 score (with field boosts).
    pub score: f32,
    /// The chunk.
    pub chunk: ChunkDoc,
}

/// BM25 hits as chunk ids and scores, best first. From Tantivy they hold
/// the index snapshot they came from, so that the few hits fusion keeps can
/// be loaded afterwards ([`LexicalIndex::load`]) without searching again
/// and without parsing the payloads of those it drops; from the vector
/// store (`lexical.backend = "qdrant"`) they are ids alone, loaded from it.
pub struct LexicalIds {
    hits: Vec<(String, f32)>,
    /// The Tantivy snapshot and each hit's address in it.
    snapshot: Option<(tantivy::Searcher, Vec<tantivy::DocAddress>)>,
}

impl LexicalIds {
    /// Hits from the vector store's BM25.
    pub(crate) fn from_store(hits: Vec<(String, f32)>) -> Self {
        Self {
            hits,
            snapshot: None,
        }
    }

    /// Whether the hits came from a Tantivy snapshot they can be loaded
    /// from.
    pub fn from_tantivy(&self) -> bool {
        self.snapshot.is_some()
    }

    /// `(chunk id, BM25 score)`, best first.
    pub fn hits(&self) -> impl Iterator<Item = (&str, f32)> {
        self.hits.iter().map(|(id, score)| (id.as_str(), *score))
    }

    /// How many hits.
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// The Tantivy index of chunks, with its page index beside it (itself a
/// `LexicalIndex` whose entries are whole documents).
pub struct LexicalIndex {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Whether chunk ids have a fast-field column (indexes made by this
    /// version) or only their stored documents (older indexes).
    fast_ids: bool,
    /// Taken on the first write and held until [`LexicalIndex::release`]:
    /// Tantivy allows one writer per index, across processes.
    writer: Mutex<Option<IndexWriter>>,
    /// What every commit records in the index's metadata: which embedder
    /// the chunks written alongside it were embedded with (see
    /// [`crate::open_searcher`]).
    stamp: Mutex<Option<String>>,
    /// The page index beside the chunks (see the `pages` module), in the
    /// `pages/` folder; `None` in the page index itself.
    pages: Option<Box<LexicalIndex>>,
    /// Whether this is a page index (its entries are whole documents).
    page_entries: bool,
    /// Whether the page index holds every document's page, so that page
    /// evidence may be used (see the `pages` module).
    pages_ready: pages::Readiness,
    /// The enterprise vocabulary, when one is configured.
    words: Option<Words>,
}

/// A search's text weight (scoring) and restriction weight (not scoring).
type SearchWeights = (Box<dyn Weight>, Box<dyn Weight>);

/// The page index's folder inside the chunk index's.
const PAGES_DIR: &str = "pages";

impl LexicalIndex {
    /// Opens the index in `dir`, creating it when absent, with its page
    /// index in `dir/pages`. An index whose pages are not complete (made
    /// before page entries existed, or whose rebuild was cut short) gets
    /// them now, from its stored chunks (see the `pages` module).
    ///
    /// # Errors
    /// When the folder cannot be created or holds something else.
    pub fn open(dir: &Path) -> Result<Self, RetrievalError> {
        Self::open_with(dir, None)
    }

    /// [`LexicalIndex::open`] with an enterprise vocabulary (the `vocabulary`
    /// module): its words are kept whole in what is indexed and asked, its
    /// synonyms expand questions.
    ///
    /// # Errors
    /// When the folder cannot be created or holds something else.
    pub fn open_with(
        dir: &Path,
        vocabulary: Option<Arc<VocabularyFile>>,
    ) -> Result<Self, RetrievalError> {
        let words = vocabulary.map(Words::File);
        let mut index = Self::open_one(dir, words.clone())?;
        let pages_dir = dir.join(PAGES_DIR);
        // Two nodes opening a new index at once race to create the page
        // index; the one that loses finds it made a moment later.
        let mut pages = Self::open_one(&pages_dir, words.clone()).or_else(|_| {
            std::thread::sleep(std::time::Duration::from_millis(250));
            Self::open_one(&pages_dir, words)
        })?;
        pages.page_entries = true;
        index.pages = Some(Box::new(pages));
        index.prepare_pages();
        Ok(index)
    }

    /// One Tantivy index of chunks (or of pages) in `dir`.
    fn open_one(dir: &Path, words: Option<Words>) -> Result<Self, RetrievalError> {
        std::fs::create_dir_all(dir).map_err(|source| RetrievalError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let (schema, mut fields) = schema(true, true);
        let directory = MmapDirectory::open(dir)
            .map_err(|e| RetrievalError::Lexical(format!("{}: {e}", dir.display())))?;
        let index = if Index::exists(&directory)
            .map_err(|e| RetrievalError::Lexical(format!("{}: {e}", dir.display())))?
        {
            let index = Index::open(directory)?;
            // An index made before chunk ids had their column, or before
            // kept token vectors had their field, is read as it is: its ids
            // come from the stored documents, its vectors from the payload.
            let earlier = [self::schema(true, false).0, self::schema(false, false).0];
            if index.schema() != schema && !earlier.contains(&index.schema()) {
                return Err(RetrievalError::Lexical(format!(
                    "{}: this Tantivy index has another schema than this version of Zhishu \
                     writes; move the folder away and run `zhishu ingest` again to rebuild it",
                    dir.display()
                )));
            }
            index
        } else {
            Index::create(directory, schema, tantivy::IndexSettings::default())?
        };
        let fast_ids = index.schema().get_field_entry(fields.chunk_id).is_fast();
        fields.token_vectors = index.schema().get_field(TOKEN_VECTORS).ok();
        index
            .tokenizers()
            .register(ANALYZER, analyzer(words.clone()));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(Self {
            path: dir.to_path_buf(),
            index,
            reader,
            fields,
            fast_ids,
            writer: Mutex::new(None),
            stamp: Mutex::new(None),
            pages: None,
            page_entries: false,
            pages_ready: pages::Readiness::default(),
            words,
        })
    }

    /// The stamp the last commit recorded ([`LexicalIndex::set_stamp`]),
    /// `None` for an index committed without one (made by an earlier
    /// version, or never written).
    ///
    /// # Errors
    /// When the index metadata cannot be read.
    pub fn stamp(&self) -> Result<Option<String>, RetrievalError> {
        Ok(self.index.load_metas()?.payload)
    }

    /// Sets what every later commit records as the index's stamp.
    pub fn set_stamp(&self, stamp: String) {
        if let Ok(mut slot) = self.stamp.lock() {
            *slot = Some(stamp);
        }
    }

    /// The index's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut IndexWriter, &Fields) -> Result<T, RetrievalError>,
    ) -> Result<T, RetrievalError> {
        let mut slot = self
            .writer
            .lock()
            .map_err(|_| RetrievalError::Lexical("writer lock poisoned".into()))?;
        if slot.is_none() {
            let w = self
                .index
                .writer_with_num_threads(1, WRITER_HEAP)
                .map_err(|e| match e {
                    tantivy::TantivyError::LockFailure(..) => {
                        RetrievalError::Locked(self.path.display().to_string())
                    }
                    other => other.into(),
                })?;
            *slot = Some(w);
        }
        match slot.as_mut() {
            Some(w) => f(w, &self.fields),
            None => Err(RetrievalError::Lexical("no writer".into())),
        }
    }

    /// Adds chunks, replacing any chunk with the same id. Visible after
    /// [`LexicalIndex::commit`].
    ///
    /// # Errors
    /// When the writer cannot be taken or a document cannot be added.
    pub fn upsert(&self, chunks: &[ChunkDoc]) -> Result<(), RetrievalError> {
        self.take_writers()?;
        self.with_writer(|w, f| {
            for c in chunks {
                w.delete_term(Term::from_field_text(f.chunk_id, &c.chunk_id));
                let mut doc = TantivyDocument::new();
                doc.add_text(f.chunk_id, &c.chunk_id);
                doc.add_text(f.document_id, &c.document_id);
                doc.add_i64(f.version, c.version);
                doc.add_text(f.collection, &c.collection);
                for d in ancestors(&c.path) {
                    doc.add_text(f.dirs, &d);
                }
                for g in &c.access_groups {
                    doc.add_text(f.access_groups, g);
                }
                doc.add_i64(f.modified_at, c.modified_at);
                doc.add_text(f.title, &c.title);
                doc.add_text(f.section, &c.section_path);
                // The body field also holds the document title and section
                // path, so a chunk is scored with the words that say what
                // it is about, under one length norm (see BOOSTS).
                doc.add_text(f.body, &c.title);
                doc.add_text(f.body, &c.section_path);
                doc.add_text(f.body, &c.text);
                // A page is only ever searched for its id and score: its
                // text is not stored a second time.
                if !self.page_entries {
                    let payload = match (f.token_vectors, &c.token_vectors) {
                        (Some(field), Some(kept)) => {
                            doc.add_text(field, B64.encode(kept.to_stored()));
                            c.stored_json()
                        }
                        (Some(_), None) => c.stored_json(),
                        // An index made before the field: as that version
                        // wrote them, in the payload.
                        (None, _) => c.lexical_json(),
                    };
                    let payload = payload.map_err(|e| RetrievalError::Lexical(e.to_string()))?;
                    doc.add_text(f.payload, payload.to_string());
                }
                w.add_document(doc)?;
            }
            Ok(())
        })?;
        match self.pages.as_deref() {
            Some(pages) => pages.upsert(&pages::pages_of(chunks)),
            None => Ok(()),
        }
    }

    /// Deletes a document's chunks: all of them, or all but those of
    /// `keep_version`. Effective at the next commit.
    ///
    /// # Errors
    /// When the writer cannot be taken.
    pub fn delete_document(
        &self,
        document_id: &str,
        keep_version: Option<i64>,
    ) -> Result<(), RetrievalError> {
        self.take_writers()?;
        if let Some(pages) = self.pages.as_deref() {
            pages.delete_document(document_id, keep_version)?;
        }
        self.with_writer(|w, f| {
            let doc = Term::from_field_text(f.document_id, document_id);
            match keep_version {
                None => {
                    w.delete_term(doc);
                }
                Some(v) => {
                    let q = BooleanQuery::new(vec![
                        (
                            Occur::Must,
                            Box::new(TermQuery::new(doc, IndexRecordOption::Basic))
                                as Box<dyn Query>,
                        ),
                        (
                            Occur::MustNot,
                            Box::new(TermQuery::new(
                                Term::from_field_i64(f.version, v),
                                IndexRecordOption::Basic,
                            )),
                        ),
                    ]);
                    w.delete_query(Box::new(q))?;
                }
            }
            Ok(())
        })
    }

    /// Makes every change since the last commit durable and visible.
    ///
    /// # Errors
    /// When the commit fails (the changes are then rolled back).
    pub fn commit(&self) -> Result<(), RetrievalError> {
        // Pages first: should they fail, the chunks' changes are rolled
        // back too, so no chunk is ever committed without its page; should
        // the chunks' commit then fail, a page whose chunks are missing
        // only finds no chunk to lift.
        if let Some(pages) = self.pages.as_deref()
            && let Err(e) = pages.commit()
        {
            self.rollback();
            return Err(e);
        }
        let committed = {
            let mut slot = self
                .writer
                .lock()
                .map_err(|_| RetrievalError::Lexical("writer lock poisoned".into()))?;
            let stamp = self.stamp.lock().ok().and_then(|s| s.clone());
            match slot.as_mut() {
                Some(w) => {
                    let done = w.prepare_commit().and_then(|mut p| {
                        if let Some(stamp) = &stamp {
                            p.set_payload(stamp);
                        }
                        p.commit()
                    });
                    if let Err(e) = done {
                        let _ = w.rollback();
                        return Err(e.into());
                    }
                    true
                }
                None => false,
            }
        };
        if committed {
            self.reader.reload()?;
        }
        Ok(())
    }

    /// Takes the writers of both indexes before anything is queued, so that
    /// a writer held elsewhere fails a write before either index changes.
    fn take_writers(&self) -> Result<(), RetrievalError> {
        if let Some(pages) = self.pages.as_deref() {
            pages.with_writer(|_, _| Ok(()))?;
        }
        self.with_writer(|_, _| Ok(()))
    }

    /// Drops the changes queued since the last commit.
    fn rollback(&self) {
        if let Ok(mut slot) = self.writer.lock()
            && let Some(w) = slot.as_mut()
        {
            let _ = w.rollback();
        }
    }

    /// Drops the writer (uncommitted changes are lost), freeing the index
    /// for another process.
    pub fn release(&self) {
        if let Some(pages) = self.pages.as_deref() {
            pages.release();
        }
        if let Ok(mut slot) = self.writer.lock() {
            *slot = None;
        }
    }

    /// Re-reads the index now (another process committed).
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn refresh(&self) -> Result<(), RetrievalError> {
        if let Some(pages) = self.pages.as_deref() {
            pages.reader.reload()?;
            self.pages_ready.check_now(pages);
        }
        Ok(self.reader.reload()?)
    }

    /// `scope AND filter` as a query that scores nothing.
    fn restriction(&self, scope: &Scope, filter: &SearchFilter) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
        let any_of = |field: Field, values: &[String]| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                values
                    .iter()
                    .map(|v| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(
                                Term::from_field_text(field, v),
                                IndexRecordOption::Basic,
                            )) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            ))
        };
        let mut parts = vec![any_of(f.access_groups, scope.groups())];
        if !filter.collections.is_empty() {
            parts.push(any_of(f.collection, &filter.collections));
        }
        if !filter.document_ids.is_empty() {
            parts.push(any_of(f.document_id, &filter.document_ids));
        }
        if let Some(prefix) = filter.normalised_prefix() {
            parts.push(any_of(f.dirs, &[prefix]));
        }
        if let Some(after) = filter.modified_after {
            parts.push(Box::new(RangeQuery::new(
                Bound::Excluded(Term::from_field_i64(f.modified_at, after)),
                Bound::Unbounded,
            )));
        }
        parts
            .into_iter()
            .map(|q| {
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(q, 0.0)) as Box<dyn Query>,
                )
            })
            .collect()
    }

    /// The `k` best chunks for a query that the scope may see, narrowed by
    /// the filter.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Vec<LexicalHit>, RetrievalError> {
        let searcher = self.reader.searcher();
        self.top_k(&searcher, query, k, scope, filter)?
            .into_iter()
            .map(|(score, addr)| {
                let chunk = self.decode(&searcher, addr, false)?;
                Ok(LexicalHit { score, chunk })
            })
            .collect()
    }

    /// The `k` best chunk ids and scores for a query that the scope may
    /// see, narrowed by the filter; chunks are loaded with
    /// [`LexicalIndex::load`] for the hits that are kept. With a positive
    /// `page_weight`, each chunk's score also counts its page's (see the
    /// `pages` module): scores are then on the combined scale, the best
    /// about `1 + page_weight`.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn search_ids(
        &self,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        page_weight: f32,
    ) -> Result<LexicalIds, RetrievalError> {
        let searcher = self.reader.searcher();
        let top = self.top_k_with_pages(&searcher, query, k, scope, filter, page_weight)?;
        let mut hits = Vec::with_capacity(top.len());
        let mut addresses = Vec::with_capacity(top.len());
        let mut column: Option<(u32, Option<StrColumn>)> = None;
        let mut id = String::new();
        for (score, addr) in top {
            id.clear();
            if self.fast_ids {
                if column
                    .as_ref()
                    .is_none_or(|(seg, _)| *seg != addr.segment_ord)
                {
                    let reader = searcher.segment_reader(addr.segment_ord);
                    column = Some((addr.segment_ord, reader.fast_fields().str("chunk_id")?));
                }
                if let Some((_, Some(ids))) = &column
                    && let Some(ord) = ids.term_ords(addr.doc_id).next()
                {
                    ids.ord_to_str(ord, &mut id)
                        .map_err(|e| RetrievalError::Lexical(format!("a chunk id: {e}")))?;
                }
            }
            if id.is_empty() {
                let doc: TantivyDocument = searcher.doc(addr)?;
                doc.get_first(self.fields.chunk_id)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| RetrievalError::Lexical("a chunk has no id".into()))?
                    .clone_into(&mut id);
            }
            hits.push((id.clone(), score));
            addresses.push(addr);
        }
        Ok(LexicalIds {
            hits,
            snapshot: Some((searcher, addresses)),
        })
    }

    /// The chunks of the hits at positions `which` of `ids`, in that order,
    /// without kept token vectors (those only [`LexicalIndex::load_with`]
    /// reads, for the late pass).
    ///
    /// # Errors
    /// When a stored chunk cannot be read.
    /// Hits that did not come from this index's snapshots have nothing to
    /// load here.
    pub fn load(&self, ids: &LexicalIds, which: &[usize]) -> Result<Vec<ChunkDoc>, RetrievalError> {
        self.load_in(ids, which, false)
    }

    /// [`LexicalIndex::load`], with kept token vectors when `vectors`.
    fn load_in(
        &self,
        ids: &LexicalIds,
        which: &[usize],
        vectors: bool,
    ) -> Result<Vec<ChunkDoc>, RetrievalError> {
        let Some((searcher, addresses)) = &ids.snapshot else {
            return Ok(Vec::new());
        };
        which
            .iter()
            .filter_map(|&i| addresses.get(i))
            .map(|addr| self.decode(searcher, *addr, vectors))
            .collect()
    }

    /// The BM25 query over title, section and body: one union of boosted
    /// term queries, nothing else, because that is the shape Tantivy runs
    /// with block-max WAND (whole blocks of postings that cannot reach the
    /// current top k are skipped). `None` when the text has no terms.
    fn text_query(&self, query: &str) -> Option<BooleanQuery> {
        let weighted = weighted_terms(self.words.as_ref(), query);
        if weighted.is_empty() {
            return None;
        }
        let f = &self.fields;
        let mut text: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [f.title, f.section, f.body].into_iter().zip(BOOSTS) {
            // A page is scored on its body alone, which holds its title
            // once: the title boost lifted every page whose title holds a
            // common word of the question (docs-zh page BM25 0.686 with
            // it, 0.760 without; the module `pages`).
            if self.page_entries && field != f.body {
                continue;
            }
            for (t, weight) in &weighted {
                let tq = TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                text.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(tq), boost * *weight)),
                ));
            }
        }
        Some(BooleanQuery::new(text))
    }

    /// The `k` best-scoring addresses for `query` among the chunks the
    /// scope may see, narrowed by the filter, best first.
    ///
    /// Why not `text AND restriction` as one Boolean query: a required
    /// clause turns the union into an intersection that scores every
    /// matching document, which made BM25 over 100,000 chunks several
    /// times slower than the same union alone. Instead the union runs with
    /// block-max WAND, and every document it would admit to the top k is
    /// first checked against the restriction (scope and filter), walked
    /// forward in step: the check happens inside the index, before a
    /// document can enter the top k or raise the pruning threshold, so a
    /// chunk the caller may not see affects neither results nor pruning.
    fn top_k(
        &self,
        searcher: &tantivy::Searcher,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Vec<(Score, DocAddress)>, RetrievalError> {
        if k == 0 || scope.is_empty() {
            return Ok(Vec::new());
        }
        let Some((text, allowed)) = self.weights(searcher, query, scope, filter)? else {
            return Ok(Vec::new());
        };
        let mut top = TopK::new(k);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let mut allowed = allowed.scorer(segment, 1.0)?;
            if allowed.doc() == TERMINATED {
                continue;
            }
            let alive = segment.alive_bitset();
            let mut threshold = top.threshold();
            text.for_each_pruning(threshold, segment, &mut |doc, score| {
                if alive.is_some_and(|a| a.is_deleted(doc)) {
                    return threshold;
                }
                // Documents arrive in increasing order, so the restriction
                // only ever moves forward.
                let mut at = allowed.doc();
                if at < doc {
                    at = allowed.seek(doc);
                }
                if at == doc {
                    top.push(score, DocAddress::new(ord as u32, doc));
                    threshold = top.threshold();
                }
                threshold
            })?;
        }
        Ok(top.into_sorted())
    }

    /// The text query's weight (scoring) and the scope and filter's (not
    /// scoring) for one search; `None` when the query has no terms.
    fn weights(
        &self,
        searcher: &tantivy::Searcher,
        query: &str,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Option<SearchWeights>, RetrievalError> {
        let Some(text) = self.text_query(query) else {
            return Ok(None);
        };
        let text = text.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let allowed = BooleanQuery::new(self.restriction(scope, filter))
            .weight(EnableScoring::disabled_from_searcher(searcher))?;
        Ok(Some((text, allowed)))
    }

    /// The stored chunk behind a document address, with its kept token
    /// vectors when `vectors` asks for them (only the late pass reads
    /// them: anything else is spared decoding ~150 KB a chunk). Vectors
    /// that cannot be read back (torn, a form this build does not know)
    /// are none: the late pass computes them, and the chunk is not lost
    /// over them.
    fn decode(
        &self,
        searcher: &tantivy::Searcher,
        addr: tantivy::DocAddress,
        vectors: bool,
    ) -> Result<ChunkDoc, RetrievalError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let payload = doc
            .get_first(self.fields.payload)
            .and_then(|v| v.as_str())
            .ok_or_else(|| RetrievalError::Lexical("a chunk has no payload".into()))?;
        let mut chunk: ChunkDoc = serde_json::from_str(payload)
            .map_err(|e| RetrievalError::Lexical(format!("a chunk's payload: {e}")))?;
        if !vectors {
            // An index made before the field: the payload's are dropped.
            chunk.token_vectors = None;
        } else if let Some(kept) = self
            .fields
            .token_vectors
            .and_then(|field| doc.get_first(field))
            .and_then(|v| v.as_str())
        {
            chunk.token_vectors = B64
                .decode(kept)
                .ok()
                .and_then(|bytes| PackedTokens::from_stored(&bytes).ok())
                .map(Arc::new);
        }
        Ok(chunk)
    }

    /// The chunks with these ids that the scope may see (any order; ids
    /// that do not exist or are out of scope are left out). Used to attach
    /// neighbouring chunks, whose ids follow from the hit's document,
    /// version and ordinal. Without kept token vectors.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn get(&self, ids: &[String], scope: &Scope) -> Result<Vec<ChunkDoc>, RetrievalError> {
        self.get_in(&self.reader.searcher(), ids, scope, false)
    }

    /// [`LexicalIndex::get`] with each chunk's kept token vectors, as the
    /// late pass reads its hits.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn get_with_vectors(
        &self,
        ids: &[String],
        scope: &Scope,
    ) -> Result<Vec<ChunkDoc>, RetrievalError> {
        self.get_in(&self.reader.searcher(), ids, scope, true)
    }

    /// [`LexicalIndex::load`] for the hits at positions `which`, and
    /// [`LexicalIndex::get`] for `more` ids (another retriever's hits),
    /// both from the snapshot `ids` was found in: every hit a search
    /// returns then comes from one consistent view of the index. With
    /// their kept token vectors when `vectors` (hits the late pass may
    /// rescore).
    ///
    /// # Errors
    /// When a stored chunk cannot be read.
    pub fn load_with(
        &self,
        ids: &LexicalIds,
        which: &[usize],
        more: &[String],
        scope: &Scope,
        vectors: bool,
    ) -> Result<Vec<ChunkDoc>, RetrievalError> {
        let mut chunks = self.load_in(ids, which, vectors)?;
        let current;
        let searcher = match &ids.snapshot {
            Some((searcher, _)) => searcher,
            None => {
                current = self.reader.searcher();
                &current
            }
        };
        chunks.extend(self.get_in(searcher, more, scope, vectors)?);
        Ok(chunks)
    }

    /// Looks each id up in the id field's postings, segment by segment
    /// (ids are unique terms: a dictionary lookup each, not a scored
    /// Boolean query over all of them), and keeps the live chunks whose
    /// access groups meet the scope. The groups are checked on the stored
    /// chunk, which holds the very groups the index was given: building the
    /// scope's query for a handful of ids cost more than loading them.
    fn get_in(
        &self,
        searcher: &tantivy::Searcher,
        ids: &[String],
        scope: &Scope,
        vectors: bool,
    ) -> Result<Vec<ChunkDoc>, RetrievalError> {
        if scope.is_empty() || ids.is_empty() {
            return Ok(Vec::new());
        }
        let terms: Vec<Term> = ids
            .iter()
            .map(|id| Term::from_field_text(self.fields.chunk_id, id))
            .collect();
        let mut found = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let postings = segment.inverted_index(self.fields.chunk_id)?;
            let alive = segment.alive_bitset();
            for term in &terms {
                let read = postings.read_postings(term, IndexRecordOption::Basic);
                let read = read.map_err(|e| RetrievalError::Lexical(format!("an id: {e}")))?;
                if let Some(mut p) = read {
                    while p.doc() != TERMINATED {
                        if alive.is_none_or(|a| a.is_alive(p.doc())) {
                            found.push(DocAddress::new(ord as u32, p.doc()));
                        }
                        p.advance();
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let mut chunks = Vec::with_capacity(found.len());
        for addr in found {
            let chunk = self.decode(searcher, addr, vectors)?;
            if chunk
                .access_groups
                .iter()
                .any(|g| scope.groups().contains(g))
            {
                chunks.push(chunk);
            }
        }
        Ok(chunks)
    }

    /// Chunks the scope may see, narrowed by the filter.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn count(&self, scope: &Scope, filter: &SearchFilter) -> Result<usize, RetrievalError> {
        if scope.is_empty() {
            return Ok(0);
        }
        let query = BooleanQuery::new(self.restriction(scope, filter));
        Ok(self.reader.searcher().search(&query, &Count)?)
    }

    /// Every chunk of a document, all versions (consistency checks).
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn document_versions(&self, document_id: &str) -> Result<Vec<i64>, RetrievalError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.document_id, document_id),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&q, &TopDocs::with_limit(100_000).order_by_score())?;
        let mut versions = Vec::new();
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(p) = doc.get_first(self.fields.payload).and_then(|v| v.as_str())
                && let Ok(c) = serde_json::from_str::<ChunkDoc>(p)
            {
                versions.push(c.version);
            }
        }
        Ok(versions)
    }

    /// The share of a query's distinct terms that occur in the index at all
    /// (1 for a query without terms): how much of the question BM25 can
    /// match. An English question over Chinese pages, or the reverse,
    /// leaves most of its terms unmatched; fusion then trusts BM25 less.
    /// Counted over the whole index, as BM25's IDF is, not per scope.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn coverage(&self, query: &str) -> Result<f32, RetrievalError> {
        let (terms, synonyms) = self.terms(query);
        if terms.is_empty() {
            return Ok(1.0);
        }
        let searcher = self.reader.searcher();
        let known = |t: &String| -> Result<bool, RetrievalError> {
            Ok(searcher.doc_freq(&Term::from_field_text(self.fields.body, t))? > 0)
        };
        // A question's words that a synonym the index holds in full stands
        // for ("报账" over pages that say "报销") are covered as well as if
        // the index held them.
        let mut stood_for: Vec<&String> = Vec::new();
        for (own, other) in &synonyms.alternatives {
            let mut all_known = true;
            for t in other {
                all_known &= known(t)?;
            }
            if all_known {
                stood_for.extend(own);
            }
        }
        let mut covered = 0;
        for t in &terms {
            if stood_for.contains(&t) || known(t)? {
                covered += 1;
            }
        }
        Ok(covered as f32 / terms.len() as f32)
    }

    /// A query's distinct terms, and what its synonyms add (the enterprise
    /// vocabulary's; nothing without one), from one version of it.
    fn terms(&self, query: &str) -> (Vec<String>, vocabulary::Expansion) {
        terms_with(self.words.as_ref(), query)
    }

    /// Pages in the page index (one per document version with chunks):
    /// for consistency checks and tests.
    pub fn num_pages(&self) -> u64 {
        self.pages.as_deref().map_or(0, LexicalIndex::num_chunks)
    }

    /// Chunks in the index (all scopes; pages, in a page index): for
    /// metrics and tests.
    pub fn num_chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// A query's distinct terms, and what its synonyms add (the enterprise
/// vocabulary's; nothing without one), from one version of it: what both
/// lexical backends ask for.
///
/// One search asks for its question's terms three or four times (the chunk
/// query, the page query, a ranked page's best chunk, the coverage for
/// fusion), on one thread: the last question analysed on each thread is
/// kept with the vocabulary version it was analysed with (held, so a
/// reloaded vocabulary is never mistaken for it), and asked again it is
/// not analysed again.
fn terms_with(words: Option<&Words>, query: &str) -> (Vec<String>, vocabulary::Expansion) {
    type Analysed = (
        String,
        Option<Arc<vocabulary::Vocabulary>>,
        Vec<String>,
        vocabulary::Expansion,
    );
    thread_local! {
        static LAST: std::cell::RefCell<Option<Analysed>> = const { std::cell::RefCell::new(None) };
    }
    let current = words.map(Words::current);
    let same = |v: &Option<Arc<vocabulary::Vocabulary>>| match (v, &current) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    };
    let hit = LAST.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|(q, v, _, _)| q == query && same(v))
            .map(|(_, _, terms, synonyms)| (terms.clone(), synonyms.clone()))
    });
    if let Some(hit) = hit {
        return hit;
    }
    let fixed = current.clone().map(Words::Fixed);
    let mut terms = analyze_question(query, fixed);
    terms.sort();
    terms.dedup();
    let synonyms = current
        .clone()
        .map(|v| v.expand(&terms))
        .unwrap_or_default();
    LAST.with(|last| {
        *last.borrow_mut() = Some((query.to_owned(), current, terms.clone(), synonyms.clone()));
    });
    (terms, synonyms)
}

/// A question's distinct terms at weight 1, then the terms its synonyms
/// add at theirs: what both lexical backends ask for. Empty when the
/// question has no terms (synonyms alone never make a query).
fn weighted_terms(words: Option<&Words>, query: &str) -> Vec<(String, f32)> {
    let (terms, synonyms) = terms_with(words, query);
    if terms.is_empty() {
        return Vec::new();
    }
    terms
        .into_iter()
        .map(|t| (t, 1.0))
        .chain(synonyms.added)
        .collect()
}

/// The tokenizer under the analyzer: full-width forms folded to ASCII,
/// jieba's words (search mode), then the character bigrams of every run of
/// Chinese characters.
///
/// Why both: jieba finds words, but a word it does not know, or segments
/// differently in a question than in the page ("数据库备份" vs "备份数据库"),
/// would not match at all; overlapping bigrams, the classic CJK indexing
/// unit, always overlap where the text does. Bigrams are their own terms
/// (prefixed [`BIGRAM`]), so a two-character word counts once as a word
/// and once as a bigram, never twice as one term. An index written before
/// bigrams existed still answers: its queries' bigrams just match nothing.
///
/// Full-width folding (`ＶＰＮ　８０９` → `VPN 809`), as Chinese input
/// methods type them: a query and a document then meet whichever width each
/// was typed in.
#[derive(Clone)]
struct ZhEn {
    jieba: tantivy_jieba::JiebaTokenizer,
    /// The enterprise vocabulary's words, kept whole.
    words: Option<Words>,
    /// Analysing a question: Chinese framing words are left out.
    question: bool,
    folded: String,
    tokens: Vec<Token>,
}

/// What marks a bigram term.
const BIGRAM: char = '\u{2082}'; // subscript two, in no real word

impl ZhEn {
    fn new(words: Option<Words>, question: bool) -> Self {
        Self {
            jieba: tantivy_jieba::JiebaTokenizer::new(),
            words,
            question,
            folded: String::new(),
            tokens: Vec::new(),
        }
    }
}

/// The ASCII twin of a full-width form (U+FF01–FF5E) or of the ideographic
/// space; the character itself otherwise.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Whether a character is a Chinese character (CJK unified ideographs,
/// extension A, compatibility ideographs).
pub(crate) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// Appends the bigrams of every run of Chinese characters in `text`.
fn push_bigrams(text: &str, tokens: &mut Vec<Token>) {
    let mut position = tokens.last().map_or(0, |t| t.position + 1);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, pair) in chars.windows(2).enumerate() {
        let ((a, x), (_, y)) = (pair[0], pair[1]);
        if is_han(x) && is_han(y) {
            let end = chars.get(i + 2).map_or(text.len(), |(b, _)| *b);
            let mut term = String::with_capacity(7);
            term.push(BIGRAM);
            term.push(x);
            term.push(y);
            tokens.push(Token {
                offset_from: a,
                offset_to: end,
                position,
                text: term,
                position_length: 1,
            });
            position += 1;
        }
    }
}

impl Tokenizer for ZhEn {
    type TokenStream<'a> = VecTokens<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokens<'a> {
        // Offsets then refer to the folded text; nothing reads them (the
        // index keeps positions, and snippets come from the stored chunk).
        self.folded.clear();
        self.folded.extend(text.chars().map(fold_width));
        self.tokens.clear();
        let mut words = self.jieba.token_stream(&self.folded);
        while words.advance() {
            self.tokens.push(words.token().clone());
        }
        push_bigrams(&self.folded, &mut self.tokens);
        if self.question {
            drop_framing(&mut self.tokens);
        }
        if let Some(words) = &self.words {
            // After every position used so far (jieba's are character
            // offsets, and in search mode a word's pieces come first).
            let first = self
                .tokens
                .iter()
                .map(|t| t.position + t.position_length)
                .max()
                .unwrap_or(0);
            let spans: Vec<(usize, usize)> = words
                .current()
                .word_spans(&self.folded)
                .into_iter()
                // A word jieba found itself is not counted twice.
                .filter(|&(from, to)| {
                    !self
                        .tokens
                        .iter()
                        .any(|t| t.offset_from == from && t.offset_to == to)
                })
                .collect();
            for (position, (from, to)) in (first..).zip(spans) {
                self.tokens.push(Token {
                    offset_from: from,
                    offset_to: to,
                    position,
                    text: self.folded[from..to].to_owned(),
                    position_length: 1,
                });
            }
        }
        VecTokens {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// Leaves out the Chinese words that frame a question, as jieba found
/// them, and every piece or bigram inside one (search mode also emits a
/// long word's pieces: "能不能" brings "不能").
fn drop_framing(tokens: &mut Vec<Token>) {
    let spans: Vec<(usize, usize)> = tokens
        .iter()
        .filter(|t| CHINESE_QUESTION_WORDS.contains(&t.text.as_str()))
        .map(|t| (t.offset_from, t.offset_to))
        .collect();
    if spans.is_empty() {
        return;
    }
    tokens.retain(|t| {
        !spans
            .iter()
            .any(|&(from, to)| from <= t.offset_from && t.offset_to <= to)
    });
}

/// A token stream over tokens already made.
struct VecTokens<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokens<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Drops tokens with no letter or digit (jieba emits spaces and
/// punctuation as tokens).
#[derive(Clone)]
struct WordsOnly;

impl TokenFilter for WordsOnly {
    type Tokenizer<T: Tokenizer> = WordsOnlyWrapper<T>;
    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordsOnlyWrapper<T> {
        WordsOnlyWrapper(tokenizer)
    }
}

#[derive(Clone)]
struct WordsOnlyWrapper<T>(T);

impl<T: Tokenizer> Tokenizer for WordsOnlyWrapper<T> {
    type TokenStream<'a> = WordsOnlyStream<T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordsOnlyStream(self.0.token_stream(text))
    }
}

struct WordsOnlyStream<S>(S);

impl<S: TokenStream> TokenStream for WordsOnlyStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if self.0.token().text.chars().any(char::is_alphanumeric) {
                return true;
            }
        }
        false
    }
    fn token(&self) -> &Token {
        self.0.token()
    }
    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

#[cfg(test)]
mod tests;
