//! Structure-aware chunking within a token budget, for Chinese and English.
//!
//! A chunk never crosses a heading or a page: its section path and page
//! then cite it exactly. Within a section, sentences are packed until the
//! embedding model's budget is full; the next chunk repeats the last
//! sentences (up to the overlap) so a fact cut at a boundary is still whole
//! in one chunk. Sentences end at `。！？；` and at `.!?;` followed by
//! space, with closing quotes and brackets kept on the sentence; a sentence
//! longer than the budget is cut at character boundaries.
//!
//! Token counts come from the embedding model's own tokenizer (the budget
//! is its limit, not a guess in characters), and every chunk also records
//! its Qwen3 token ids (and so their count), so prompt assembly packs by
//! exact counts and composes the prompt without tokenising again.

use crate::parse::table::HEADER_LINES;
use crate::parse::{BlockKind, Parsed, Rect};
use std::path::Path;
use tokenizers::Tokenizer;

/// Counts tokens of a text without special tokens and without truncation.
pub struct TokenCounter {
    tokenizer: Tokenizer,
    fingerprint: std::sync::OnceLock<String>,
}

impl TokenCounter {
    /// Loads `tokenizer.json` (or a folder holding one).
    ///
    /// # Errors
    /// When the file is missing or is not a tokenizer, naming the path.
    pub fn load(path: &Path) -> Result<Self, String> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let mut tokenizer = Tokenizer::from_file(&file)
            .map_err(|e| format!("{}: not a tokenizer ({e})", file.display()))?;
        tokenizer.with_truncation(None).map_err(|e| e.to_string())?;
        tokenizer.with_padding(None);
        Ok(Self {
            tokenizer,
            fingerprint: Default::default(),
        })
    }

    /// Token ids of `text`, without special tokens (empty if the tokenizer
    /// fails, which byte-level vocabularies do not).
    pub fn ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// The tokenizer's fingerprint ([`zhishu_retrieval::tokenizer_fingerprint`]),
    /// computed once.
    pub fn fingerprint(&self) -> &str {
        self.fingerprint
            .get_or_init(|| zhishu_retrieval::tokenizer_fingerprint(&self.tokenizer))
    }

    /// Tokens of `text`, without special tokens.
    pub fn count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map_or_else(|_| text.chars().count(), |e| e.get_ids().len())
    }
}

/// Budget of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkConfig {
    /// Most embedding-model tokens in one chunk.
    pub max_tokens: usize,
    /// Tokens repeated from the end of one chunk at the start of the next.
    pub overlap_tokens: usize,
}

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub ordinal: usize,
    /// The text: a slice of the document's normalised text.
    pub text: String,
    /// Heading path, `A > B > C` (empty before the first heading).
    pub section_path: String,
    /// 1-based page, for paged formats.
    pub page: Option<u32>,
    /// Start offset in the normalised text, in characters.
    pub char_start: usize,
    /// End offset (exclusive), in characters.
    pub char_end: usize,
    /// Embedding-model tokens.
    pub embed_tokens: usize,
    /// Qwen3 tokens of the text as it sits in a prompt (its prompt ids).
    pub qwen_tokens: usize,
    /// Qwen3 token ids of [`zhishu_retrieval::prompt_piece`] of the text.
    pub prompt_ids: Vec<u32>,
    /// Where the chunk's lines sit on its page (PDFs and scans): the boxes
    /// of the lines it covers, as fractions of the page. Empty elsewhere.
    pub boxes: Vec<Rect>,
}

/// A sentence (or piece of one, or a table row), located in the document
/// text.
#[derive(Debug, Clone, Copy)]
struct Unit {
    byte_start: usize,
    byte_end: usize,
    char_start: usize,
    char_end: usize,
    tokens: usize,
    /// For a table's body row: its table's header lines (byte range in the
    /// document text and tokens), repeated at the top of a chunk that
    /// starts at this row.
    header: Option<(usize, usize, usize)>,
    /// The block it comes from, and its character range within the block.
    block: usize,
    in_block: (usize, usize),
}

/// The boxes of the lines a run of units covers. A block's text is its
/// lines joined, so a character range maps to lines in proportion: exact
/// for whole paragraphs, within a line for a paragraph cut between chunks.
fn boxes_of(doc: &Parsed, units: &[Unit]) -> Vec<Rect> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let b = units[i].block;
        let (mut lo, mut hi) = units[i].in_block;
        while i < units.len() && units[i].block == b {
            lo = lo.min(units[i].in_block.0);
            hi = hi.max(units[i].in_block.1);
            i += 1;
        }
        let Some(block) = doc.blocks.get(b) else {
            continue;
        };
        let n = block.boxes.len();
        let len = block.text.chars().count().max(1);
        if n == 0 {
            continue;
        }
        let first = (lo * n / len).min(n - 1);
        let last = (hi * n).div_ceil(len).clamp(first + 1, n);
        out.extend_from_slice(&block.boxes[first..last]);
    }
    out
}

/// Byte ranges of the lines of `text` (a table's rows), without the
/// newline.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            if i > start {
                out.push((start, i));
            }
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// Byte ranges of the sentences of `text`.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    const CLOSERS: &[char] = &['"', '\'', '”', '’', '」', '』', ')', '）', ']', '】', '》'];
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cjk_end = matches!(c, '。' | '！' | '？' | '；' | '…');
        let latin_end = matches!(c, '.' | '!' | '?' | ';')
            && chars
                .peek()
                .is_none_or(|&(_, n)| n.is_whitespace() || CLOSERS.contains(&n));
        if cjk_end || latin_end || c == '\n' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek() {
                if CLOSERS.contains(&n) || (cjk_end && matches!(n, '。' | '！' | '？' | '…')) {
                    end = j + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            if !text[start..end].trim().is_empty() {
                out.push((start, end));
            }
            start = end;
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((start, text.len()));
    }
    // Leading whitespace belongs to no sentence.
    out.into_iter()
        .map(|(s, e)| {
            let trimmed = text[s..e].len() - text[s..e].trim_start().len();
            (s + trimmed, e)
        })
        .collect()
}

/// Cuts a parsed document into chunks. Returns the document's normalised
/// text (blocks joined by blank lines: what offsets index) and the chunks.
pub fn chunk(
    doc: &Parsed,
    config: ChunkConfig,
    embed: &TokenCounter,
    qwen: &TokenCounter,
) -> (String, Vec<Chunk>) {
    let budget = config.max_tokens.max(8);
    let overlap = config.overlap_tokens.min(budget / 2);
    let mut text = String::new();
    let mut chars = 0usize;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut headings: Vec<(u8, String)> = Vec::new();
    let mut current: Vec<Unit> = Vec::new();
    let mut page: Option<u32> = None;
    let mut section = String::new();

    let emit =
        |text: &str, units: &[Unit], section: &str, page: Option<u32>, chunks: &mut Vec<Chunk>| {
            let (Some(first), Some(last)) = (units.first(), units.last()) else {
                return;
            };
            let mut body = String::new();
            if let Some((hs, he, _)) = first.header {
                body.push_str(&text[hs..he]);
                body.push('\n');
            }
            body.push_str(&text[first.byte_start..last.byte_end]);
            let prompt_ids = qwen.ids(&zhishu_retrieval::prompt_piece(&body));
            chunks.push(Chunk {
                ordinal: chunks.len(),
                embed_tokens: embed.count(&body),
                qwen_tokens: prompt_ids.len(),
                prompt_ids,
                text: body,
                section_path: section.to_owned(),
                page,
                char_start: first.char_start,
                char_end: last.char_end,
                boxes: boxes_of(doc, units),
            });
        };

    for (block_index, block) in doc.blocks.iter().enumerate() {
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        let block_start = text.len();
        let block_chars = chars;
        text.push_str(&block.text);
        chars += block.text.chars().count();

        if let BlockKind::Heading(level) = block.kind {
            emit(&text, &current, &section, page, &mut chunks);
            current.clear();
            headings.retain(|(l, _)| *l < level);
            headings.push((level, block.text.clone()));
            section = headings
                .iter()
                .map(|(_, h)| h.as_str())
                .collect::<Vec<_>>()
                .join(" > ");
            continue;
        }
        if block.page != page {
            emit(&text, &current, &section, page, &mut chunks);
            current.clear();
            page = block.page;
        }
        // Sentences of the block, located in the document text.
        let mut cursor_byte = block_start;
        let mut cursor_char = block_chars;
        let mut units = Vec::new();
        let table = block.kind == BlockKind::Table;
        let spans = if table {
            lines(&block.text)
        } else {
            sentences(&block.text)
        };
        // A table's header: its first lines (names and rule).
        let header = if table && spans.len() > HEADER_LINES {
            let (hs, he) = (block_start, block_start + spans[HEADER_LINES - 1].1);
            Some((hs, he, embed.count(&text[hs..he])))
        } else {
            None
        };
        for (i, (s, e)) in spans.into_iter().enumerate() {
            let row_header = header.filter(|_| i >= HEADER_LINES);
            let (bs, be) = (block_start + s, block_start + e);
            let cs = cursor_char + text[cursor_byte..bs].chars().count();
            let ce = cs + text[bs..be].chars().count();
            cursor_byte = be;
            cursor_char = ce;
            let tokens = embed.count(&text[bs..be]);
            if tokens <= budget {
                units.push(Unit {
                    byte_start: bs,
                    byte_end: be,
                    char_start: cs,
                    char_end: ce,
                    tokens,
                    header: row_header,
                    block: block_index,
                    in_block: (cs - block_chars, ce - block_chars),
                });
            } else {
                // Too long for one chunk: cut into pieces of about `budget`
                // tokens at character boundaries.
                let piece_chars = ((ce - cs) * budget / tokens).max(1);
                let mut b = bs;
                let mut c = cs;
                while b < be {
                    let end = text[b..be]
                        .char_indices()
                        .nth(piece_chars)
                        .map_or(be, |(i, _)| b + i);
                    let n = text[b..end].chars().count();
                    units.push(Unit {
                        byte_start: b,
                        byte_end: end,
                        char_start: c,
                        char_end: c + n,
                        tokens: embed.count(&text[b..end]),
                        header: row_header,
                        block: block_index,
                        in_block: (c - block_chars, c + n - block_chars),
                    });
                    b = end;
                    c += n;
                }
            }
        }
        for unit in units {
            // A chunk that starts at a table row carries its header too.
            let header_tokens =
                |first: Option<&Unit>| first.and_then(|u| u.header).map_or(0, |h| h.2);
            let used: usize =
                current.iter().map(|u| u.tokens).sum::<usize>() + header_tokens(current.first());
            if !current.is_empty() && used + unit.tokens > budget {
                emit(&text, &current, &section, page, &mut chunks);
                // Carry the last sentences, up to the overlap, into the next.
                let mut carried = Vec::new();
                let mut n = 0;
                for u in current.iter().rev() {
                    if n + u.tokens > overlap
                        || n + u.tokens + unit.tokens + header_tokens(Some(u)) > budget
                    {
                        break;
                    }
                    n += u.tokens;
                    carried.push(*u);
                }
                carried.reverse();
                current = carried;
            }
            current.push(unit);
        }
    }
    emit(&text, &current, &section, page, &mut chunks);
    (text, chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_in_both_languages() {
        let t = "差旅费用需审批。住宿标准为600元！Is it per night? Yes. See §3.2 for details. \"Quoted.\" 最后一句";
        let got: Vec<&str> = sentences(t).into_iter().map(|(s, e)| &t[s..e]).collect();
        assert_eq!(
            got,
            [
                "差旅费用需审批。",
                "住宿标准为600元！",
                "Is it per night?",
                "Yes.",
                "See §3.2 for details.",
                "\"Quoted.\"",
                "最后一句"
            ]
        );
    }
}
