//! Prompt token ids put together from pieces instead of tokenising the
//! prompt: the step that makes a 128K-token prompt cheap to assemble.
//!
//! Why it is exact: a byte-level BPE tokenizer first cuts text into
//! pre-tokens with a regular expression and never merges across those
//! cuts. Qwen's expression always cuts before `[` after a newline, around
//! every digit, and after a newline that is followed by `<`; a source
//! block ([`prompt::block`]) is made of pieces that meet only at such
//! places, and the template's special tokens (`<|im_start|>`, …) are cut
//! out before anything else. So the prompt's ids are the ids of its pieces
//! one after another, and the pieces that are long (a chunk's text and
//! label) were tokenised once, at ingestion ([`ChunkDoc::prompt_ids`]).
//!
//! Why it is safe: that property belongs to the tokenizer, not to Zhishu,
//! so a [`Composer`] is only made after checking it on probe prompts with
//! the model's own template and tokenizer (SmolLM2's GPT-2 style
//! expression, for one, fails: it splits `\n\n[` differently), stored ids
//! are only used when their tokenizer fingerprint is the model's, and a
//! piece whose text differs from what was stored (defanged source text) is
//! tokenised afresh. Debug builds check every composed prompt against a
//! full tokenisation.

use crate::QueryError;
use crate::prompt::{self, Measure, PackInput, Packed, Piece, QUESTION_HEAD, SOURCES_HEAD, pack};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use zhishu_engine::{ChatMessage, Engine};
use zhishu_retrieval::{ChunkDoc, tokenizer_fingerprint};

/// Marks the user message's place in a rendered template; a private-use
/// character no document or question is expected to hold (if one does,
/// the prompt is tokenised whole).
const SENTINEL: &str = "\u{10FFFD}zhishu-user-message\u{10FFFD}";

/// The ids of the fixed pieces of a source block, for one tokenizer.
pub struct Composer {
    fingerprint: String,
    fixed: HashMap<&'static str, Vec<u32>>,
    digits: [Vec<u32>; 10],
}

impl Composer {
    /// A composer for `engine`'s tokenizer and template, or `None` when
    /// composition would not give the ids of a full tokenisation (checked
    /// on probe prompts) or the model has no chat template.
    pub fn new(engine: &Engine) -> Option<Self> {
        let encode = |t: &str| engine.encode(t).ok();
        let mut fixed = HashMap::new();
        for t in ["[", "]", "<source id=\"", "\">\n", "</source>\n\n"] {
            fixed.insert(t, encode(t)?);
        }
        let mut digits: [Vec<u32>; 10] = Default::default();
        for (d, ids) in digits.iter_mut().enumerate() {
            *ids = encode(&d.to_string())?;
        }
        let mut composer = Self {
            fingerprint: String::new(),
            fixed,
            digits,
        };
        if !composer.probe(engine) {
            tracing::info!(
                model = engine.name(),
                "prompts are tokenised whole: this tokenizer does not split where composition needs"
            );
            return None;
        }
        composer.fingerprint = tokenizer_fingerprint(engine.tokenizer());
        Some(composer)
    }

    /// The fingerprint of the tokenizer this composer is for.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether composing agrees with tokenising on prompts that try the
    /// boundaries: text ending in letters, digits, `.`, `。`, `)`, `!!`, an
    /// emoji, titles that start with digits or punctuation, no section or
    /// page, multi-digit numbers.
    fn probe(&self, engine: &Engine) -> bool {
        let texts = [
            (
                "Expense policy",
                "Claims > Travel",
                Some(3),
                "Claims above 500 yuan need approval.",
            ),
            (
                "差旅政策",
                "报销 > 审批",
                Some(12),
                "差旅费用须在出差结束后10个工作日内提交报销。",
            ),
            (
                "(Draft) 2024 report",
                "",
                None,
                "Revenue grew 12% (see table 4)",
            ),
            ("", "A", Some(1), "ends with a number 42"),
            (
                "Q&A: \"quotes\"",
                "x > y > z",
                None,
                "Wow!! 😀\tTabs\u{301} and caf\u{e9}",
            ),
            (
                "Title.",
                "Section:",
                Some(100),
                "Line one.\nLine two\n\n- item\n- item 2",
            ),
            ("数字2024", "第3章", Some(7), "中文结尾"),
        ];
        let chunks: Vec<ChunkDoc> = texts
            .iter()
            .map(|(title, section, page, text)| probe_chunk(title, section, *page, text))
            .collect();
        let measure = EngineMeasure::new(engine, None, false);
        for numbers in [[1u32, 2, 3, 4, 5, 6, 7], [9, 10, 11, 99, 100, 1234, 2000]] {
            let sources = chunks
                .iter()
                .zip(numbers)
                .map(|(c, n)| prompt::Source {
                    n,
                    chunk: c.clone(),
                    score: 1.0,
                    rank: n as usize,
                })
                .collect();
            let packed = probe_packed(sources);
            let Ok(whole) = engine
                .chat_prompt(&packed.messages, false)
                .and_then(|t| engine.encode(&t))
            else {
                return false;
            };
            match self.compose(&measure, &packed) {
                Some(Ok((_, ids))) if ids == whole => {}
                _ => return false,
            }
        }
        true
    }

    fn number(&self, n: u32, out: &mut Vec<u32>) {
        for d in n.to_string().bytes() {
            out.extend_from_slice(&self.digits[usize::from(d - b'0')]);
        }
    }

    /// The prompt of `packed` as text and ids, composed; `None` when it
    /// cannot be (not a grounded message with sources, or the template
    /// does not show the user message verbatim).
    fn compose(
        &self,
        measure: &EngineMeasure<'_>,
        packed: &Packed,
    ) -> Option<Result<(String, Vec<u32>), QueryError>> {
        if !packed.sourced {
            return None;
        }
        let (last, rest) = packed.messages.split_last()?;
        let mut messages = rest.to_vec();
        messages.push(ChatMessage::new(&last.role, SENTINEL));
        let rendered = match measure.engine.chat_prompt(&messages, measure.thinking) {
            Ok(r) => r,
            Err(e) => return Some(Err(e.into())),
        };
        let mut parts = rendered.split(SENTINEL);
        let (Some(before), Some(after), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let run = || -> Result<(String, Vec<u32>), QueryError> {
            let mut ids = measure.engine.encode(&format!("{before}{SOURCES_HEAD}"))?;
            for s in &packed.sources {
                measure.block_ids(self, s.n, &s.chunk, &mut ids);
            }
            let question = format!("{QUESTION_HEAD}{}{after}", packed.question);
            ids.extend(measure.engine.encode(&question)?);
            let mut text = String::with_capacity(before.len() + last.content.len() + after.len());
            text.push_str(before);
            text.push_str(&last.content);
            text.push_str(after);
            Ok((text, ids))
        };
        Some(run())
    }
}

fn probe_chunk(title: &str, section: &str, page: Option<i64>, text: &str) -> ChunkDoc {
    ChunkDoc {
        chunk_id: format!("probe-{title}-{page:?}"),
        title: title.into(),
        section_path: section.into(),
        page,
        text: text.into(),
        ..ChunkDoc::default()
    }
}

fn probe_packed(sources: Vec<prompt::Source>) -> Packed {
    let input = PackInput {
        system: Some(prompt::SYSTEM_PROMPT.into()),
        history: vec![
            ChatMessage::new("user", "Earlier question?"),
            ChatMessage::new("assistant", "An earlier answer [1]."),
        ],
        question: "Who approves claims? 谁批准？".into(),
        candidates: Vec::new(),
        grounded: true,
        limits: prompt::Limits {
            context: usize::MAX,
            answer: 0,
            per_document: usize::MAX,
            history_share: 1.0,
        },
    };
    prompt::assemble_with_sources(&input, sources)
}

/// The ids of a chunk's label and of its text.
type LabelAndText = (Vec<u32>, Vec<u32>);

/// Measures with the engine's template and tokenizer, composing grounded
/// prompts when it has a [`Composer`], and keeping the last prompt it
/// measured with its ids: packing's final exact check is the prompt that
/// is sent, so it is never tokenised a second time.
pub(crate) struct EngineMeasure<'a> {
    engine: &'a Engine,
    composer: Option<&'a Composer>,
    thinking: bool,
    /// Ids of labels and texts tokenised here (chunks without usable
    /// stored ids), by chunk id, so each is tokenised once per assembly.
    fresh: RefCell<HashMap<String, LabelAndText>>,
    /// The last prompt measured, its ids, and whether they were composed.
    last: RefCell<Option<(String, Vec<u32>, bool)>>,
}

impl<'a> EngineMeasure<'a> {
    pub(crate) fn new(engine: &'a Engine, composer: Option<&'a Composer>, thinking: bool) -> Self {
        Self {
            engine,
            composer,
            thinking,
            fresh: Default::default(),
            last: Default::default(),
        }
    }

    /// Whether `c`'s stored ids are this tokenizer's and of the text and
    /// label as they go into the prompt.
    fn stored_usable(composer: &Composer, c: &ChunkDoc) -> bool {
        c.prompt_ids
            .as_ref()
            .is_some_and(|p| p.tokenizer == composer.fingerprint)
            && prompt::label(c).1
            && prompt::body(c).1
    }

    /// Runs `f` with the ids of `c`'s label and text: stored ones when they
    /// are usable, fresh ones otherwise.
    fn with_ids<T>(
        &self,
        composer: &Composer,
        c: &ChunkDoc,
        f: impl FnOnce(&[u32], &[u32]) -> T,
    ) -> T {
        if let Some(p) = c.prompt_ids.as_ref()
            && Self::stored_usable(composer, c)
        {
            return f(&p.label, &p.ids);
        }
        let mut fresh = self.fresh.borrow_mut();
        let (l, b) = fresh.entry(c.chunk_id.clone()).or_insert_with(|| {
            let encode = |t: &str| self.engine.encode(t).unwrap_or_default();
            (encode(&prompt::label(c).0), encode(&prompt::body(c).0))
        });
        f(l, b)
    }

    fn block_ids(&self, composer: &Composer, n: u32, c: &ChunkDoc, out: &mut Vec<u32>) {
        self.with_ids(composer, c, |label, body| {
            for piece in prompt::block(n, c) {
                match piece {
                    Piece::Fixed(t) => out.extend_from_slice(&composer.fixed[t]),
                    Piece::Number(n) => composer.number(n, out),
                    Piece::Label(_) => out.extend_from_slice(label),
                    Piece::Text(_) => out.extend_from_slice(body),
                }
            }
        });
    }

    fn whole(&self, messages: &[ChatMessage]) -> Result<(String, Vec<u32>), QueryError> {
        let text = self.engine.chat_prompt(messages, self.thinking)?;
        let ids = self.engine.encode(&text)?;
        Ok((text, ids))
    }
}

impl Measure for EngineMeasure<'_> {
    fn count(&self, text: &str) -> usize {
        self.engine
            .encode(text)
            .map(|t| t.len())
            .unwrap_or(text.len())
    }

    fn prompt_tokens(&self, packed: &Packed) -> Result<usize, QueryError> {
        let composed = self.composer.and_then(|c| c.compose(self, packed));
        let (text, ids, composed) = match composed {
            Some(result) => {
                let (text, ids) = result?;
                debug_assert!(
                    self.engine.encode(&text).ok().as_ref() == Some(&ids),
                    "composed prompt ids differ from the prompt's tokenisation"
                );
                (text, ids, true)
            }
            None => {
                let (text, ids) = self.whole(&packed.messages)?;
                (text, ids, false)
            }
        };
        let n = ids.len();
        *self.last.borrow_mut() = Some((text, ids, composed));
        Ok(n)
    }

    fn source_tokens(&self, n: u32, chunk: &ChunkDoc) -> Option<usize> {
        let composer = self.composer?;
        // The block's own pieces, so the cost follows the block's layout.
        let mut ids = Vec::new();
        self.block_ids(composer, n, chunk, &mut ids);
        Some(ids.len())
    }
}

/// A packed prompt, rendered with the model's template and tokenised.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// What was packed: the messages, the sources by label.
    pub packed: Packed,
    /// The rendered prompt.
    pub prompt: String,
    /// Its token ids, exactly what the engine will prefill.
    pub prompt_ids: Vec<u32>,
    /// Whether the ids were composed from pieces (else the prompt was
    /// tokenised whole).
    pub composed: bool,
    /// Sources whose stored ids were used, of `packed.sources`.
    pub stored_sources: usize,
}

/// Prompt assembly for one model: packing, rendering and token ids,
/// composed from stored ids where the model's tokenizer allows it.
pub struct Assembler {
    engine: Arc<Engine>,
    composer: Option<Composer>,
}

impl Assembler {
    /// An assembler for `engine` (probes its tokenizer once).
    pub fn new(engine: Arc<Engine>) -> Self {
        let composer = Composer::new(&engine);
        Self { engine, composer }
    }

    /// An assembler that always tokenises the prompt whole, as a tool
    /// without stored ids does (for comparisons).
    pub fn tokenising_whole(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            composer: None,
        }
    }

    /// Whether prompts are composed from stored ids (else tokenised whole).
    pub fn composes(&self) -> bool {
        self.composer.is_some()
    }

    /// The fingerprint stored ids must carry to be used, when composing.
    pub fn fingerprint(&self) -> Option<&str> {
        self.composer.as_ref().map(Composer::fingerprint)
    }

    /// Packs `input` into the model's budget and renders and tokenises the
    /// result: the whole of prompt assembly after retrieval, on the calling
    /// thread (it is CPU work; async callers run it on a blocking thread).
    ///
    /// # Errors
    /// [`QueryError::TooLong`] when even the question does not fit;
    /// template or tokenizer failures.
    pub fn assemble(&self, input: &PackInput, thinking: bool) -> Result<Assembled, QueryError> {
        let measure = EngineMeasure::new(&self.engine, self.composer.as_ref(), thinking);
        let packed = pack(input, &measure)?;
        // `pack` measures the messages it returns last.
        let last = measure.last.borrow_mut().take();
        let (prompt, prompt_ids, composed) = match last {
            Some(last) => last,
            None => {
                let (text, ids) = measure.whole(&packed.messages)?;
                (text, ids, false)
            }
        };
        let stored_sources = match &self.composer {
            Some(c) if composed => packed
                .sources
                .iter()
                .filter(|s| EngineMeasure::stored_usable(c, &s.chunk))
                .count(),
            _ => 0,
        };
        Ok(Assembled {
            packed,
            prompt,
            prompt_ids,
            composed,
            stored_sources,
        })
    }
}
