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

/// Longest word, in bytes: the index drops longer terms.
const MAX_WORD_BYTES: usize = 60;

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
#[derive(Debug, Default)]
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
        let mut words = Vec::new();
        let mut synonyms: Vec<Vec<String>> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
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
                synonyms.push(members);
            } else {
                let word: String = line.chars().map(super::fold_width).collect();
                if word.len() > MAX_WORD_BYTES {
                    return Err(bad(
                        i + 1,
                        format!(
                            "`{line}` is longer than a term the index keeps ({MAX_WORD_BYTES} bytes, 20 Chinese characters)"
                        ),
                    ));
                }
                words.push(word);
            }
        }
        words.sort();
        words.dedup();
        let matcher = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&words)
                    .map_err(|e| bad(0, format!("the words cannot be compiled: {e}")))?,
            )
        };
        let words_only = Arc::new(Self {
            words,
            matcher,
            groups: Vec::new(),
        });
        // Members are analysed as questions are, words included.
        let fixed = Words::Fixed(words_only.clone());
        let groups = synonyms
            .iter()
            .map(|members| {
                members
                    .iter()
                    .map(|m| analyze_with(m, Some(fixed.clone())))
                    .collect()
            })
            .collect();
        drop(fixed);
        let mut vocabulary = Arc::try_unwrap(words_only).unwrap_or_else(|shared| Self {
            words: shared.words.clone(),
            matcher: shared.matcher.clone(),
            groups: Vec::new(),
        });
        vocabulary.groups = groups;
        Ok(vocabulary)
    }

    /// How many words and synonym groups it holds.
    pub fn len(&self) -> (usize, usize) {
        (self.words.len(), self.groups.len())
    }

    /// Byte spans of every word in `text` (overlapping ones included).
    pub(super) fn word_spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.matcher.as_ref().map_or_else(Vec::new, |m| {
            m.find_overlapping_iter(text)
                .map(|found| (found.start(), found.end()))
                .collect()
        })
    }

    /// The terms a question's synonyms add: for every group with a member
    /// all of whose terms the question holds, the other members' terms,
    /// less those it already has. Sorted, without repeats.
    pub(super) fn expand(&self, terms: &[String]) -> Vec<String> {
        let mut added: Vec<String> = Vec::new();
        for group in &self.groups {
            let hit = group
                .iter()
                .any(|m| !m.is_empty() && m.iter().all(|t| terms.contains(t)));
            if hit {
                for t in group.iter().flatten() {
                    if !terms.contains(t) {
                        added.push(t.clone());
                    }
                }
            }
        }
        added.sort();
        added.dedup();
        added
    }
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
    /// passed since the last look.
    pub fn current(&self) -> Arc<Vocabulary> {
        let due = self
            .seen
            .lock()
            .map(|seen| seen.0.elapsed() >= RECHECK)
            .unwrap_or(false);
        if due && let Err(e) = self.reload() {
            tracing::warn!(error = %e, "the vocabulary keeps its last good version");
        }
        self.current.read().map(|v| v.clone()).unwrap_or_default()
    }

    /// Looks at the file now and re-reads it if it changed: `Ok(true)` when
    /// a new version took effect.
    ///
    /// # Errors
    /// When the changed file cannot be read or has a wrong line; the last
    /// good version stays in use.
    pub fn reload(&self) -> Result<bool, VocabularyError> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        {
            let Ok(mut seen) = self.seen.lock() else {
                return Ok(false);
            };
            let changed = modified != seen.1;
            *seen = (Instant::now(), if changed { seen.1 } else { modified });
            if !changed {
                return Ok(false);
            }
        }
        let (vocabulary, modified) = read(&self.path)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.1 = modified;
        }
        let (words, groups) = vocabulary.len();
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(vocabulary);
        }
        tracing::info!(path = %self.path.display(), words, groups, "vocabulary re-read");
        Ok(true)
    }
}

/// The file's vocabulary and modification time.
fn read(path: &Path) -> Result<(Vocabulary, Option<SystemTime>), VocabularyError> {
    let io = |source| VocabularyError::Io {
        path: path.display().to_string(),
        source,
    };
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(io)?;
    Ok((
        Vocabulary::parse(&text, &path.display().to_string())?,
        modified,
    ))
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
        let long = "长".repeat(21);
        let msg = Vocabulary::parse(&long, "v.txt").unwrap_err().to_string();
        assert!(
            msg.starts_with("v.txt:1: ") && msg.contains("20 Chinese characters"),
            "{msg}"
        );
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
        let added = v.expand(&terms);
        assert!(added.contains(&"报销".to_string()), "{added:?}");
        assert!(added.contains(&"reimburs".to_string()), "{added:?}");
        assert!(!added.iter().any(|t| t.contains("专用")), "{added:?}");
        assert!(added.iter().all(|t| !terms.contains(t)));
        assert!(v.expand(&analyze_with("出差住宿标准", None)).is_empty());
    }
}
