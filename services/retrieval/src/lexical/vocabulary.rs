//! The enterprise vocabulary: words the analyzer keeps whole, and synonyms.
//!
//! Why: jieba's dictionary does not know a company's product names, project
//! code names or jargon ("知枢平台", "差旅通", "OA审批"), and cuts them into
//! pieces. Bigrams still match them, but a whole-word term gives BM25 the
//! word's own rarity, as a jieba user dictionary would. And employees ask
//! with words their documents do not use: "报账" where the policy says
//! "报销", "VPN" where the IT guide says "虚拟专用网".
//!
//! The file (`lexical.vocabulary`), UTF-8, one entry per line:
//!
//! ```text
//! # words kept whole, in documents and questions
//! 知枢平台
//! 差旅通
//! # synonyms: a question with any of them also asks for the others
//! 报销 = 报账 = reimbursement
//! VPN = 虚拟专用网
//! ```
//!
//! Words apply to text analysed after they are read: questions at once,
//! documents when they are next ingested (`zhishu ingest --force` applies
//! them everywhere; until then bigrams still match those documents).
//! Synonyms are expanded in questions only, as Elasticsearch advises for
//! synonyms that change, so they apply at once to every document.
//!
//! The file is looked at again at most every [`RECHECK`] and re-read when
//! it changed; a broken version is logged and the last good one kept. At
//! start-up a broken file stops the start, naming the file and line.

use super::analyze_with;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often the file's modification time is looked at.
pub const RECHECK: Duration = Duration::from_secs(10);

/// Longest word, in bytes: the index drops terms of 64 bytes or more.
const MAX_WORD_BYTES: usize = 63;
/// Most members in one synonym group, and longest member, in bytes: a
/// question that hits a group asks for every member's terms.
const MAX_MEMBERS: usize = 16;
const MAX_MEMBER_BYTES: usize = 200;
/// Largest vocabulary file read.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// Why a vocabulary file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    /// The file cannot be read.
    #[error("the vocabulary {path} cannot be read: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line is not a word or a synonym group.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to mend it.
        message: String,
    },
    /// The file as a whole cannot be used (not a file, too large, not
    /// UTF-8).
    #[error("the vocabulary {path} {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong and how to mend it.
        message: String,
    },
}

/// Where an analyzer takes its words from: a file that may change, or one
/// fixed version (a vocabulary analysing its own synonyms).
#[derive(Clone, Debug)]
pub(super) enum Words {
    /// The configured file.
    File(Arc<VocabularyFile>),
    /// One version.
    Fixed(Arc<Vocabulary>),
}

impl Words {
    /// The version in use now.
    pub(super) fn current(&self) -> Arc<Vocabulary> {
        match self {
            Self::File(f) => f.current(),
            Self::Fixed(v) => v.clone(),
        }
    }
}

/// One version of the vocabulary, ready to use.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    /// The words kept whole, as written.
    words: Vec<String>,
    /// Finds the words in (width-folded) text, ASCII case ignored.
    matcher: Option<AhoCorasick>,
    /// Each synonym group: every member as the terms it analyses to.
    groups: Vec<Vec<Vec<String>>>,
}

impl Vocabulary {
    /// Reads the file's text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`VocabularyError::Line`] for the first line that is not a word or
    /// a synonym group of at least two non-empty members.
    pub fn parse(text: &str, origin: &str) -> Result<Self, VocabularyError> {
        let bad = |line: usize, message: String| VocabularyError::Line {
            path: origin.to_owned(),
            line,
            message,
        };
        let mut words: Vec<(String, usize)> = Vec::new();
        let mut synonyms: Vec<(Vec<String>, usize)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            // `#` starts a comment anywhere: no word or synonym holds one.
            let line = raw.split('#').next().unwrap_or("");
            let line = line.trim_start_matches('\u{feff}').trim();
            if line.is_empty() {
                continue;
            }
            if line.contains('=') {
                let members: Vec<String> = line.split('=').map(|m| m.trim().to_owned()).collect();
                if members.iter().any(String::is_empty) {
                    return Err(bad(
                        i + 1,
                        format!("`{line}` has an empty synonym; write `word = other = …`"),
                    ));
                }
                if members.len() > MAX_MEMBERS || members.iter().any(|m| m.len() > MAX_MEMBER_BYTES)
                {
                    return Err(bad(
                        i + 1,
                        format!(
                            "`{line}` is too large a group (at most {MAX_MEMBERS} members of {MAX_MEMBER_BYTES} bytes)"
                        ),
                    ));
                }
                synonyms.push((members, i + 1));
            } else {
                let word: String = line.chars().map(super::fold_width).collect();
                if word.len() > MAX_WORD_BYTES {
                    return Err(bad(
                        i + 1,
                        format!(
                            "`{line}` is longer than a term the index keeps ({MAX_WORD_BYTES} bytes, 21 Chinese characters)"
                        ),
                    ));
                }
                words.push((word, i + 1));
            }
        }
        // One pattern per word, ASCII case ignored (the matcher ignores it).
        words.sort_by_key(|(w, _)| w.to_ascii_lowercase());
        words.dedup_by_key(|(w, _)| w.to_ascii_lowercase());
        for (word, line) in &words {
            if analyze_with(word, None).is_empty() {
                return Err(bad(
                    *line,
                    format!("`{word}` is a word the index leaves out (an English stop word?)"),
                ));
            }
        }
        let words: Vec<String> = words.into_iter().map(|(w, _)| w).collect();
        let matcher = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&words)
                    .map_err(|e| VocabularyError::File {
                        path: origin.to_owned(),
                        message: format!("has words that cannot be compiled: {e}"),
                    })?,
            )
        };
        let words_only = Arc::new(Self {
            words,
            matcher,
            groups: Vec::new(),
        });
        // Members are analysed as questions are, words included.
        let fixed = Some(Words::Fixed(words_only.clone()));
        let mut groups = Vec::with_capacity(synonyms.len());
        for (members, line) in &synonyms {
            let mut group = Vec::with_capacity(members.len());
            for m in members {
                let terms = analyze_with(m, fixed.clone());
                if terms.is_empty() {
                    return Err(bad(
                        *line,
                        format!("`{m}` is a word the index leaves out (an English stop word?)"),
                    ));
                }
                group.push(terms);
            }
            groups.push(group);
        }
        drop(fixed);
        let mut vocabulary = Arc::unwrap_or_clone(words_only);
        vocabulary.groups = groups;
        Ok(vocabulary)
    }

    /// How many words and synonym groups it holds.
    pub fn len(&self) -> (usize, usize) {
        (self.words.len(), self.groups.len())
    }

    /// Byte spans of every word in `text` (overlapping ones included). A
    /// word that begins or ends with a Latin letter or digit must not
    /// continue one there ("AI" is not in "email").
    pub(super) fn word_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        self.matcher.as_ref().map_or_else(Vec::new, |m| {
            m.find_overlapping_iter(text)
                .map(|found| (found.start(), found.end()))
                .filter(|&(from, to)| {
                    let word = &text[from..to];
                    let before = text[..from].chars().next_back();
                    let after = text[to..].chars().next();
                    !(alnum(word.chars().next()) && alnum(before)
                        || alnum(word.chars().next_back()) && alnum(after))
                })
                .collect()
        })
    }

    /// What a question's synonyms add. For every group with a member all
    /// of whose terms the question holds, the other members' terms, each
    /// weighted `1 / (terms of its member)` so that a member counts about
    /// as much as one word of the question whatever it analyses to (虚拟专用网
    /// is five terms with its pieces and bigrams); the question's own terms
    /// are left out. Also the question's terms a group covers: those of the
    /// member it matched, for [`super::LexicalIndex::coverage`] to count as
    /// covered when another member is known to the index.
    pub(super) fn expand(&self, terms: &[String]) -> Expansion {
        let mut out = Expansion::default();
        for group in &self.groups {
            let Some(hit) = group
                .iter()
                .position(|m| m.iter().all(|t| terms.contains(t)))
            else {
                continue;
            };
            for (i, member) in group.iter().enumerate() {
                if i == hit {
                    continue;
                }
                let weight = 1.0 / member.len().max(1) as f32;
                for t in member {
                    if terms.contains(t) {
                        continue;
                    }
                    match out.added.iter_mut().find(|(u, _)| u == t) {
                        Some((_, w)) => *w = w.max(weight),
                        None => out.added.push((t.clone(), weight)),
                    }
                }
                out.alternatives.push((group[hit].clone(), member.clone()));
            }
        }
        out.added.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// What synonyms add to a question ([`Vocabulary::expand`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Expansion {
    /// Terms added, with their weights.
    pub added: Vec<(String, f32)>,
    /// (terms of the member the question holds, terms of another member).
    pub alternatives: Vec<(Vec<String>, Vec<String>)>,
}

/// A vocabulary file, re-read when it changes.
#[derive(Debug)]
pub struct VocabularyFile {
    path: PathBuf,
    current: RwLock<Arc<Vocabulary>>,
    /// When the file was last looked at, and the modification time then.
    seen: Mutex<(Instant, Option<SystemTime>)>,
}

impl VocabularyFile {
    /// Reads the file.
    ///
    /// # Errors
    /// When it cannot be read or a line is wrong (named by number).
    pub fn open(path: &Path) -> Result<Arc<Self>, VocabularyError> {
        let (vocabulary, modified) = read(path)?;
        let (words, groups) = vocabulary.len();
        tracing::info!(path = %path.display(), words, groups, "vocabulary read");
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(vocabulary)),
            seen: Mutex::new((Instant::now(), modified)),
        }))
    }

    /// The current version, looking at the file first when [`RECHECK`] has
    /// passed since the last look (one caller looks; the others go on with
    /// the version in use meanwhile).
    pub fn current(&self) -> Arc<Vocabulary> {
        if let Ok(mut seen) = self.seen.try_lock()
            && seen.0.elapsed() >= RECHECK
            && let Err(e) = self.reload_locked(&mut seen)
        {
            tracing::warn!(error = %e, "the vocabulary keeps its last good version");
        }
        self.current
            .read()
            .map(|v| v.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Looks at the file now and re-reads it if it changed: `Ok(true)` when
    /// a new version took effect.
    ///
    /// # Errors
    /// When the changed file cannot be read or has a wrong line; the last
    /// good version stays in use (and the file is read again at the next
    /// look, until it is mended). A file that is gone keeps the last
    /// version too.
    pub fn reload(&self) -> Result<bool, VocabularyError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        self.reload_locked(&mut seen)
    }

    /// [`VocabularyFile::reload`] under the look's lock, which is held
    /// until the new version is in place: versions take effect in order.
    fn reload_locked(
        &self,
        seen: &mut (Instant, Option<SystemTime>),
    ) -> Result<bool, VocabularyError> {
        seen.0 = Instant::now();
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified == seen.1 {
            return Ok(false);
        }
        let (vocabulary, modified) = read(&self.path)?;
        seen.1 = modified;
        let (words, groups) = vocabulary.len();
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(vocabulary),
            Err(p) => *p.into_inner() = Arc::new(vocabulary),
        }
        tracing::info!(path = %self.path.display(), words, groups, "vocabulary re-read");
        Ok(true)
    }
}

/// The file's vocabulary and modification time. Only a regular file of at
/// most [`MAX_FILE_BYTES`] is read (a FIFO would block, a device never end).
fn read(path: &Path) -> Result<(Vocabulary, Option<SystemTime>), VocabularyError> {
    let shown = path.display().to_string();
    let io = |source| VocabularyError::Io {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let refuse = |message: String| VocabularyError::File {
        path: shown.clone(),
        message,
    };
    if !meta.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "is {} bytes, over the {MAX_FILE_BYTES} a vocabulary may have",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| refuse("is not UTF-8 text; save it as UTF-8 (not GBK or UTF-16)".into()))?;
    Ok((Vocabulary::parse(&text, &shown)?, meta.modified().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_line_is_named_with_what_to_do() {
        let err = Vocabulary::parse("# words\n知枢平台\n报销 = = 报账\n", "v.txt").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("v.txt:3: "), "{msg}");
        assert!(msg.contains("empty synonym"), "{msg}");
        let long = "长".repeat(22);
        let msg = Vocabulary::parse(&long, "v.txt").unwrap_err().to_string();
        assert!(
            msg.starts_with("v.txt:1: ") && msg.contains("21 Chinese characters"),
            "{msg}"
        );
        let msg = Vocabulary::parse("知枢平台\n\nIT\n", "v.txt")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("v.txt:3: ") && msg.contains("stop word"),
            "{msg}"
        );
        let msg = Vocabulary::parse("the = 这个\n", "v.txt")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("v.txt:1: ") && msg.contains("stop word"),
            "{msg}"
        );
        // A comment may follow an entry.
        let v = Vocabulary::parse("知枢平台  # 产品名\n", "v.txt").unwrap();
        assert_eq!(v.words, vec!["知枢平台".to_string()]);
    }

    #[test]
    fn words_are_found_anywhere_ignoring_ascii_case_and_width() {
        let v = Vocabulary::parse("知枢平台\nOA审批\n", "v").unwrap();
        assert_eq!(v.len(), (2, 0));
        let text = "新的知枢平台和oa审批流程";
        let spans: Vec<&str> = v
            .word_spans(text)
            .iter()
            .map(|&(a, b)| &text[a..b])
            .collect();
        assert_eq!(spans, vec!["知枢平台", "oa审批"]);
        // A full-width word in the file is stored as the analyzer folds it.
        let v = Vocabulary::parse("ＯＡ审批", "v").unwrap();
        assert_eq!(v.word_spans("OA审批").len(), 1);
    }

    #[test]
    fn a_synonym_adds_its_group_and_nothing_else() {
        let v = Vocabulary::parse("报销 = 报账 = reimbursement\nVPN = 虚拟专用网\n", "v").unwrap();
        let terms = analyze_with("怎么报账", None);
        let found = v.expand(&terms);
        let added: Vec<&str> = found.added.iter().map(|(t, _)| t.as_str()).collect();
        assert!(added.contains(&"报销"), "{added:?}");
        assert!(added.contains(&"reimburs"), "{added:?}");
        assert!(!added.iter().any(|t| t.contains("专用")), "{added:?}");
        assert!(added.iter().all(|t| !terms.iter().any(|u| u == t)));
        assert!(
            v.expand(&analyze_with("出差住宿标准", None))
                .added
                .is_empty()
        );
        // A member of many terms weighs about one word in all.
        let vpn = v.expand(&analyze_with("VPN 连不上", None));
        let total: f32 = vpn.added.iter().map(|(_, w)| w).sum();
        assert!((0.9..=1.1).contains(&total), "{vpn:?}");
    }

    #[test]
    fn a_latin_word_is_not_found_inside_another() {
        let v = Vocabulary::parse("AI\nOA审批\n", "v").unwrap();
        assert!(v.word_spans("send an email about the main plan").is_empty());
        assert_eq!(v.word_spans("AI助手 and ai tools").len(), 2);
        assert_eq!(v.word_spans("走OA审批流程").len(), 1);
        assert!(v.word_spans("LOA审批").is_empty());
    }
}
