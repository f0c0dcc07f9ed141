//! Text as the guards read it.
//!
//! Evasion works on the surface of text: full-width letters (`ｉｇｎｏｒｅ`),
//! traditional characters (`敏感詞`), Cyrillic look-alikes (`іgnоrе`),
//! zero-width characters inside a word, spaces or stars between characters
//! (`敏 感 词`, `敏*感*词`). Every check therefore runs on a *folded* copy —
//! NFKC (width, compatibility forms), look-alikes to Latin, lower case,
//! traditional to simplified, format characters removed — in which each
//! character remembers the original character it came from, so a finding
//! is reported (and masked) at the offsets of the text as written.
//!
//! The *skeleton* drops what separates characters (anything that is not a
//! letter or a digit), for matching across inserted separators; it keeps
//! each character's place in the folded text so a match can be checked for
//! how far apart its characters were.

use std::collections::HashMap;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// A folded text: characters and where each came from.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    /// The folded characters.
    pub chars: Vec<char>,
    /// For each folded character, the index of the original character
    /// (in `char`s) it came from.
    pub origin: Vec<u32>,
    /// Length of the original text, in characters.
    pub original_len: usize,
    /// Original indices of the invisible format characters removed
    /// (zero-width spaces and joiners, BOM, soft hyphen, word joiner).
    pub hidden: Vec<u32>,
    /// Original indices of letters of another script folded to a Latin
    /// look-alike (Cyrillic `о`, Greek `ο`).
    pub homoglyphs: Vec<u32>,
}

/// How much folding: the PII scanner needs case and script kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// NFKC (width) and format characters only.
    Width,
    /// Everything: NFKC, look-alikes, lower case, simplified Chinese.
    Full,
}

/// Whether `c` is an invisible format character used to hide text.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Whether `c` separates rather than spells: not a letter, not a digit.
pub fn is_separator(c: char) -> bool {
    !c.is_alphanumeric()
}

/// Whether `c` is a Han character (CJK ideographs and their extensions).
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3134F}')
}

/// The Latin letter a Cyrillic or Greek look-alike stands for.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'а' | 'А' | 'α' | 'Α' | 'ɑ' => 'a',
        'в' | 'В' | 'Β' | 'ь' => 'b',
        'с' | 'С' | 'ϲ' | 'Ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ё' | 'Ё' | 'ε' | 'Ε' => 'e',
        'ɡ' => 'g',
        'һ' | 'Н' | 'Η' => 'h',
        'і' | 'І' | 'ι' | 'Ι' | 'ı' | 'ӏ' | 'Ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'М' | 'Μ' => 'm',
        'Ν' | 'η' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'σ' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'υ' | 'μ' => 'u',
        'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'У' | 'Υ' | 'γ' => 'y',
        'Ζ' => 'z',
        _ => return None,
    })
}

/// Traditional → simplified, one character at a time (the guards need a
/// character-for-character fold to keep offsets; phrase-level conversion
/// is not needed to match a simplified lexicon entry).
fn simplified(c: char) -> char {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    if !is_han(c) {
        return c;
    }
    let table = TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        let ranges = [
            '\u{3400}'..='\u{4DBF}',
            '\u{4E00}'..='\u{9FFF}',
            '\u{F900}'..='\u{FAFF}',
        ];
        let mut buf = [0u8; 4];
        for r in ranges {
            for ch in r {
                let s = fast2s::convert(ch.encode_utf8(&mut buf));
                let mut it = s.chars();
                if let (Some(to), None) = (it.next(), it.next())
                    && to != ch
                {
                    t.insert(ch, to);
                }
            }
        }
        t
    });
    table.get(&c).copied().unwrap_or(c)
}

/// Folds one original character, calling `emit` for each folded one.
fn fold_char(c: char, depth: Depth, emit: &mut impl FnMut(char, bool)) {
    if c.is_ascii() {
        let c = if depth == Depth::Full {
            c.to_ascii_lowercase()
        } else {
            c
        };
        return emit(c, false);
    }
    if depth == Depth::Full
        && let Some(l) = homoglyph(c)
    {
        return emit(l, true);
    }
    for n in std::iter::once(c).nfkc() {
        if is_hidden(n) {
            continue;
        }
        if depth == Depth::Width {
            emit(n, false);
            continue;
        }
        if let Some(l) = homoglyph(n) {
            emit(l, true);
            continue;
        }
        for l in n.to_lowercase() {
            emit(simplified(l), false);
        }
    }
}

impl Folded {
    /// Folds `text`.
    pub fn new(text: &str, depth: Depth) -> Self {
        let mut f = Folded {
            chars: Vec::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
            ..Folded::default()
        };
        let mut n = 0u32;
        for c in text.chars() {
            if is_hidden(c) {
                f.hidden.push(n);
            } else {
                let (chars, origin, homo) = (&mut f.chars, &mut f.origin, &mut f.homoglyphs);
                fold_char(c, depth, &mut |x, lookalike| {
                    chars.push(x);
                    origin.push(n);
                    if lookalike {
                        homo.push(n);
                    }
                });
            }
            n += 1;
        }
        f.homoglyphs.dedup();
        f.original_len = n as usize;
        f
    }

    /// The folded text as a string.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The original character span `[start, end)` of folded span
    /// `[from, to)` (`to > from`).
    pub fn span(&self, from: usize, to: usize) -> (usize, usize) {
        (self.origin[from] as usize, self.origin[to - 1] as usize + 1)
    }

    /// The letters and digits, each with its index in [`Folded::chars`].
    pub fn skeleton(&self) -> (Vec<char>, Vec<u32>) {
        let mut chars = Vec::with_capacity(self.chars.len());
        let mut at = Vec::with_capacity(self.chars.len());
        for (i, &c) in self.chars.iter().enumerate() {
            if !is_separator(c) {
                chars.push(c);
                at.push(i as u32);
            }
        }
        (chars, at)
    }
}

/// Folds a lexicon entry or pattern the way text is folded, keeping only
/// letters and digits.
pub fn skeleton_of(text: &str) -> Vec<char> {
    let f = Folded::new(text, Depth::Full);
    f.chars.into_iter().filter(|c| !is_separator(*c)).collect()
}

/// Byte offsets of each character of `text`, plus its length: slice with
/// `&text[b[i]..b[j]]` for the characters `[i, j)`.
pub fn char_bytes(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_case_script_and_traditional_fold_to_one_form() {
        let f = Folded::new("ＩＧＮＯＲＥ іgnоrе 敏感詞 Ⓐ", Depth::Full);
        assert_eq!(f.text(), "ignore ignore 敏感词 a");
        assert_eq!(f.homoglyphs.len(), 3);
    }

    #[test]
    fn hidden_characters_are_dropped_and_remembered() {
        let f = Folded::new("ig\u{200B}no\u{200D}re", Depth::Full);
        assert_eq!(f.text(), "ignore");
        assert_eq!(f.hidden, vec![2, 5]);
        // Offsets point into the original text.
        assert_eq!(f.span(0, 6), (0, 8));
    }

    #[test]
    fn width_depth_keeps_case_and_script() {
        let f = Folded::new("ＡＢ１２ Пр", Depth::Width);
        assert_eq!(f.text(), "AB12 Пр");
    }

    #[test]
    fn skeleton_skips_separators() {
        assert_eq!(skeleton_of("敏 * 感 . 词"), vec!['敏', '感', '词']);
    }
}
