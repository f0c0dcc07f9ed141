//! Sensitive-word lexicons: files an administrator edits, compiled into one
//! automaton.
//!
//! # File format
//!
//! One UTF-8 file per list, `NAME.txt` (the rule id is `lexicon.NAME`):
//!
//! ```text
//! # a comment; blank lines are ignored
//! 内幕消息
//! 代开发票
//! 大麻 | word
//! insider tip
//! ```
//!
//! An entry is matched on folded text ([`crate::normalize`]): case, width,
//! traditional characters and look-alike letters do not matter, and up to
//! [`MAX_GAP`] separators may stand between its characters (`内 幕*消 息`).
//! Punctuation inside an entry is ignored. `| word` makes an entry
//! whole-word: it must not start or end inside a word — for Latin letters
//! next to another letter, for Chinese inside a word as jieba segments the
//! sentence (`大麻 | word` does not match `大麻烦`).
//!
//! A file with a line that does not parse is refused whole, with its name
//! and line; the lists in force stay in force.

use crate::GuardError;
use crate::automaton::Automaton;
use crate::normalize::{Folded, is_han, is_separator, skeleton_of};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Longest entry, in letters and digits.
pub const MAX_ENTRY_CHARS: usize = 64;
/// Most separators between two characters of a match.
pub const MAX_GAP: usize = 3;
/// Largest lexicon file.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// One entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As written in the file.
    pub term: String,
    /// Whole-word only.
    pub whole_word: bool,
}

/// One list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexicon {
    /// The name (`lexicon.NAME`).
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// Whether `name` may name a lexicon.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Lexicon {
    /// Parses a list; `file` names it in errors.
    ///
    /// # Errors
    /// [`GuardError::Lexicon`] with the first bad line.
    pub fn parse(name: &str, text: &str, file: &Path) -> Result<Self, GuardError> {
        if !valid_name(name) {
            return Err(GuardError::BadName(name.to_owned()));
        }
        let bad = |line: usize, message: String| GuardError::Lexicon {
            file: file.to_path_buf(),
            line,
            message,
        };
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_start_matches('\u{FEFF}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(c) = line.chars().find(|c| c.is_control()) {
                return Err(bad(
                    n,
                    format!("control character U+{:04X} in an entry", c as u32),
                ));
            }
            let (term, flags) = match line.split_once('|') {
                Some((t, f)) => (t.trim(), Some(f.trim())),
                None => (line, None),
            };
            let whole_word = match flags {
                None => false,
                Some("word") => true,
                Some(other) => {
                    return Err(bad(
                        n,
                        format!(
                            "unknown flag `{other}` after `|`: the only flag is `word` (whole-word match)"
                        ),
                    ));
                }
            };
            if term.contains('|') {
                return Err(bad(
                    n,
                    "more than one `|` in a line: write `ENTRY | word`".into(),
                ));
            }
            let skeleton = skeleton_of(term);
            if skeleton.is_empty() {
                return Err(bad(
                    n,
                    format!("`{term}` has no letter or digit to match (punctuation is ignored)"),
                ));
            }
            if skeleton.len() > MAX_ENTRY_CHARS {
                return Err(bad(
                    n,
                    format!("the entry is longer than {MAX_ENTRY_CHARS} letters and digits"),
                ));
            }
            entries.push(Entry {
                term: term.to_owned(),
                whole_word,
            });
        }
        Ok(Self {
            name: name.to_owned(),
            entries,
        })
    }

    /// The file text of this list (comments are not kept).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            s.push_str(&e.term);
            if e.whole_word {
                s.push_str(" | word");
            }
            s.push('\n');
        }
        s
    }
}

/// Reads and parses `dir/NAME.txt`.
///
/// # Errors
/// I/O errors, oversize files, and parse errors naming file and line.
pub fn read_file(path: &Path) -> Result<Lexicon, GuardError> {
    let io = |source| GuardError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(GuardError::Lexicon {
            file: path.to_path_buf(),
            line: 0,
            message: format!("the file is larger than {} MiB", MAX_FILE_BYTES >> 20),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        GuardError::Lexicon {
            file: path.to_path_buf(),
            line,
            message: "not UTF-8: save the file as UTF-8".into(),
        }
    })?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    Lexicon::parse(name, &text, path)
}

/// The `*.txt` files of a folder, sorted.
///
/// # Errors
/// When the folder cannot be read.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, GuardError> {
    let rd = std::fs::read_dir(dir).map_err(|source| GuardError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// One match of a lexicon entry, at original character offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexiconMatch {
    /// The list (`lexicon.NAME`).
    pub lexicon: usize,
    /// Start, in characters of the original text.
    pub start: usize,
    /// End (exclusive).
    pub end: usize,
    /// The letters and digits matched, folded (for stable placeholders).
    pub value: String,
}

/// Every list, compiled into one automaton.
#[derive(Debug, Clone)]
pub struct Compiled {
    lexicons: Vec<Lexicon>,
    automaton: Automaton,
    /// For each pattern: (lexicon, whole word).
    owners: Vec<(usize, bool)>,
}

impl Compiled {
    /// Compiles the lists.
    pub fn new(lexicons: Vec<Lexicon>) -> Self {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        for (l, lex) in lexicons.iter().enumerate() {
            for e in &lex.entries {
                patterns.push(skeleton_of(&e.term));
                owners.push((l, e.whole_word));
            }
        }
        Self {
            automaton: Automaton::new(&patterns),
            lexicons,
            owners,
        }
    }

    /// The lists.
    pub fn lexicons(&self) -> &[Lexicon] {
        &self.lexicons
    }

    /// Entries across all lists.
    pub fn entries(&self) -> usize {
        self.owners.len()
    }

    /// Every match in `f`, and, for a stream, the original character from
    /// which a match might still be forming if more text came.
    pub fn scan(&self, f: &Folded) -> (Vec<LexiconMatch>, usize) {
        let (skel, at) = f.skeleton();
        let mut found: Vec<LexiconMatch> = Vec::new();
        let mut pending = f.original_len;
        let mut s = self.automaton.start();
        for (i, &c) in skel.iter().enumerate() {
            s = self.automaton.step(s, c);
            for &p in self.automaton.matches(s) {
                let len = self.automaton.len_of(p);
                let first = i + 1 - len;
                let (lexicon, whole) = self.owners[p as usize];
                let (from, to) = (at[first] as usize, at[i] as usize + 1);
                // Characters too far apart are not one word.
                if at[first..=i]
                    .windows(2)
                    .any(|w| (w[1] - w[0]) as usize > MAX_GAP + 1)
                {
                    continue;
                }
                if whole {
                    if to == f.chars.len() {
                        // The next character decides; a stream waits.
                        pending = pending.min(f.origin[from] as usize);
                    }
                    if !whole_word(f, from, to) {
                        continue;
                    }
                }
                let (start, end) = f.span(from, to);
                if found
                    .last()
                    .is_some_and(|m| m.lexicon == lexicon && m.start <= start && m.end >= end)
                {
                    continue;
                }
                found.push(LexiconMatch {
                    lexicon,
                    start,
                    end,
                    value: skel[first..=i].iter().collect(),
                });
            }
        }
        let d = self.automaton.depth(s);
        if d > 0 {
            pending = pending.min(f.origin[at[skel.len() - d] as usize] as usize);
        }
        (found, pending)
    }
}

/// Whether the folded span `[from, to)` starts and ends at word
/// boundaries.
fn whole_word(f: &Folded, from: usize, to: usize) -> bool {
    let c = &f.chars;
    let boundary = |a: Option<char>, b: Option<char>| match (a, b) {
        (None, _) | (_, None) => true,
        (Some(a), Some(b)) if is_separator(a) || is_separator(b) => true,
        (Some(a), Some(b)) if is_han(a) && is_han(b) => false, // decided below
        (Some(a), Some(b)) => is_han(a) != is_han(b),
    };
    let han_pair = |i: usize| i > 0 && i < c.len() && is_han(c[i - 1]) && is_han(c[i]);
    let left = boundary(from.checked_sub(1).map(|i| c[i]), c.get(from).copied());
    let right = boundary(to.checked_sub(1).map(|i| c[i]), c.get(to).copied());
    if (!left && !han_pair(from)) || (!right && !han_pair(to)) {
        return false;
    }
    if !han_pair(from) && !han_pair(to) {
        return true;
    }
    // Segment the Han run around the match (a bounded window: linear in
    // the text overall).
    let lo = (0..from)
        .rev()
        .take(24)
        .take_while(|&i| is_han(c[i]))
        .last()
        .unwrap_or(from);
    let hi = (to..c.len())
        .take(24)
        .take_while(|&i| is_han(c[i]))
        .last()
        .map_or(to, |i| i + 1);
    let window: String = c[lo..hi].iter().collect();
    let mut cuts = vec![lo];
    cuts.extend(jieba().cut(&window, true).iter().map(|t| lo + t.end));
    (!han_pair(from) || cuts.contains(&from)) && (!han_pair(to) || cuts.contains(&to))
}

fn jieba() -> &'static jieba_rs::Jieba {
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    JIEBA.get_or_init(jieba_rs::Jieba::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Depth;

    fn compiled(text: &str) -> Compiled {
        Compiled::new(vec![Lexicon::parse("t", text, Path::new("t.txt")).unwrap()])
    }

    fn spans(c: &Compiled, text: &str) -> Vec<(usize, usize)> {
        c.scan(&Folded::new(text, Depth::Full))
            .0
            .iter()
            .map(|m| (m.start, m.end))
            .collect()
    }

    #[test]
    fn separators_width_and_traditional_forms_still_match() {
        let c = compiled("敏感词\nInsider Tip\n");
        assert_eq!(spans(&c, "这是敏 感 词吗"), vec![(2, 7)]);
        assert_eq!(spans(&c, "敏*感*詞"), vec![(0, 5)]);
        assert_eq!(spans(&c, "an ＩＮＳＩＤＥＲ-tip"), vec![(3, 14)]);
        // Too far apart is not a word.
        assert!(spans(&c, "敏     感词").is_empty());
    }

    #[test]
    fn whole_word_entries_respect_segmentation_and_letters() {
        let c = compiled("大麻 | word\ntip | word\n");
        assert_eq!(spans(&c, "他携带大麻被抓"), vec![(3, 5)]);
        assert!(spans(&c, "这是一个大麻烦").is_empty());
        assert!(spans(&c, "multiple tips").is_empty());
        assert_eq!(spans(&c, "a tip."), vec![(2, 5)]);
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let e = Lexicon::parse("t", "ok\n\n*** \n", Path::new("x/t.txt")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x/t.txt:3: `***` has no letter or digit to match (punctuation is ignored)"
        );
        let e = Lexicon::parse("t", "a | whole\n", Path::new("t.txt")).unwrap_err();
        assert!(
            e.to_string().starts_with("t.txt:1: unknown flag `whole`"),
            "{e}"
        );
        assert!(matches!(
            Lexicon::parse("Bad Name", "", Path::new("x")),
            Err(GuardError::BadName(_))
        ));
    }

    #[test]
    fn the_open_prefix_is_pending() {
        let c = compiled("敏感词\n");
        let (_, pending) = c.scan(&Folded::new("好的，敏感", Depth::Full));
        assert_eq!(pending, 3);
        let (_, pending) = c.scan(&Folded::new("好的", Depth::Full));
        assert_eq!(pending, 2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// An entry is found with up to three separators between any
            /// of its characters, and its span covers exactly the spread
            /// entry in the text.
            #[test]
            fn separated_entries_are_found_where_they_are(
                entry in "[敏感词代开发票]{2,6}",
                gaps in prop::collection::vec(prop::sample::select(vec!["", " ", "*", " . ", "-- "]), 6),
                before in "[好的 ]{0,6}",
            ) {
                let c = compiled(&format!("{entry}\n"));
                let chars: Vec<char> = entry.chars().collect();
                let mut spread = String::new();
                for (i, ch) in chars.iter().enumerate() {
                    if i > 0 {
                        spread.push_str(gaps[i]);
                    }
                    spread.push(*ch);
                }
                let text = format!("{before}{spread}");
                let start = before.chars().count();
                let found = spans(&c, &text);
                prop_assert!(
                    found.contains(&(start, start + spread.chars().count())),
                    "{:?} in {}", found, text
                );
            }
        }
    }
}
