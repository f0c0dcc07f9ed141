//! Separating a reasoning model's `<think>…</think>` from its answer while
//! the text streams, so clients can fold the thinking away (and citations
//! are only read from the answer).

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace seen yet: the answer may open with `<think>`.
    Start,
    /// Inside the thinking.
    Thinking,
    /// The answer.
    Answer,
}

/// A piece of streamed output, routed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routed {
    /// Thinking text.
    pub reasoning: String,
    /// Answer text.
    pub content: String,
}

/// Routes streamed text to thinking or answer.
#[derive(Debug)]
pub struct ThinkSplitter {
    state: State,
    pending: String,
}

/// The longest suffix of `s` that is a proper prefix of `tag`.
fn partial_suffix(s: &str, tag: &str) -> usize {
    (1..tag.len().min(s.len() + 1))
        .rev()
        .find(|&n| s.is_char_boundary(s.len() - n) && tag.starts_with(&s[s.len() - n..]))
        .unwrap_or(0)
}

impl ThinkSplitter {
    /// A splitter. `open`: the prompt already opened the thinking (some
    /// templates end the prompt with `<think>\n`).
    pub fn new(open: bool) -> Self {
        Self {
            state: if open { State::Thinking } else { State::Start },
            pending: String::new(),
        }
    }

    /// Feeds text; returns what can be routed now.
    pub fn push(&mut self, text: &str) -> Routed {
        self.pending.push_str(text);
        let mut out = Routed::default();
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.pending.trim_start();
                    if trimmed.is_empty() {
                        return out;
                    }
                    if let Some(rest) = trimmed.strip_prefix(OPEN) {
                        self.pending = rest.trim_start().to_owned();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(trimmed) {
                        return out;
                    } else {
                        self.pending = trimmed.to_owned();
                        self.state = State::Answer;
                    }
                }
                State::Thinking => {
                    if let Some(at) = self.pending.find(CLOSE) {
                        out.reasoning.push_str(self.pending[..at].trim_end());
                        let rest = self.pending[at + CLOSE.len()..].trim_start().to_owned();
                        self.pending = rest;
                        self.state = State::Answer;
                    } else {
                        let keep = partial_suffix(&self.pending, CLOSE);
                        let cut = self.pending.len() - keep;
                        out.reasoning.push_str(&self.pending[..cut]);
                        self.pending.drain(..cut);
                        return out;
                    }
                }
                State::Answer => {
                    out.content.push_str(&self.pending);
                    self.pending.clear();
                    return out;
                }
            }
        }
    }

    /// Routes what is left at the end.
    pub fn finish(&mut self) -> Routed {
        let rest = std::mem::take(&mut self.pending);
        match self.state {
            State::Thinking => Routed {
                reasoning: rest,
                content: String::new(),
            },
            _ => Routed {
                reasoning: String::new(),
                content: rest,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(open: bool, pieces: &[&str]) -> Routed {
        let mut s = ThinkSplitter::new(open);
        let mut all = Routed::default();
        for p in pieces {
            let r = s.push(p);
            all.reasoning.push_str(&r.reasoning);
            all.content.push_str(&r.content);
        }
        let r = s.finish();
        all.reasoning.push_str(&r.reasoning);
        all.content.push_str(&r.content);
        all
    }

    #[test]
    fn thinking_is_split_from_the_answer_across_pieces() {
        let r = run(
            false,
            &[
                "<thi",
                "nk>\nLet me see",
                " the sources.</th",
                "ink>\n\nIt is 5 days [1].",
            ],
        );
        assert_eq!(r.reasoning, "Let me see the sources.");
        assert_eq!(r.content, "It is 5 days [1].");
    }

    #[test]
    fn an_answer_without_thinking_is_all_content() {
        let r = run(false, &["  It is", " 5 days."]);
        assert_eq!(r.content, "It is 5 days.");
        assert!(r.reasoning.is_empty());
    }

    #[test]
    fn a_prompt_that_opened_thinking_routes_to_reasoning_first() {
        let r = run(true, &["hmm, 报销…", "</think>答案"]);
        assert_eq!(r.reasoning, "hmm, 报销…");
        assert_eq!(r.content, "答案");
    }
}
