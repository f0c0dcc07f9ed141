//! Late interaction on the embedder's worker: MaxSim of a question's
//! words against passages' token vectors, kept (from ingestion, from an
//! earlier search) or computed in a forward pass.

use super::EncoderWorker;
use crate::{Embedder, EncoderError, Output, PackedTokens, row_maxima, weighted_max_sim};
use std::sync::Arc;

impl EncoderWorker {
    /// Late interaction ([`max_sim`](crate::max_sim)): how well each passage matches the
    /// query, token against token, in the passages' order. The query's
    /// own words are compared (its special tokens and its prefix's pieces
    /// left out: they match any passage alike); the passages' every
    /// token, with the passage prefix, up to `passage_tokens` tokens of
    /// each (special tokens included; [`EncoderWorker::max_tokens`] or
    /// more reads whole passages as the model takes them), packed in the
    /// worker's [`TokenForm`](crate::TokenForm) and read back. One
    /// request, batched with everyone else's; tokenising and the products
    /// run on a blocking thread, not the caller's runtime. With a
    /// [`LateScoreStore`](crate::LateScoreStore)
    /// ([`EncoderWorker::with_late_scores`]), the scores it holds are
    /// taken from it and only the others computed (and recorded there).
    ///
    /// # Errors
    /// [`EncoderError`] from the tokenizer or the model, or
    /// [`EncoderError::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request.
    pub async fn late_scores(
        &self,
        query: &str,
        passages: Vec<String>,
        passage_tokens: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        let kept = vec![None; passages.len()];
        self.late_scores_kept(query, passages, kept, passage_tokens)
            .await
    }

    /// [`EncoderWorker::late_scores`], with the passages' token vectors
    /// where they were kept at ingestion (`kept[i]` for `passages[i]`, as
    /// [`EncoderWorker::embed_passages_with_tokens`] packed them): a kept
    /// passage runs no forward pass. Kept vectors are used when they are
    /// in this worker's form and width and the pass reads whole passages
    /// (they are the whole passage's); the others are computed, as are
    /// passages with none.
    ///
    /// # Errors
    /// As [`EncoderWorker::late_scores`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request.
    pub async fn late_scores_kept(
        &self,
        query: &str,
        passages: Vec<String>,
        kept: Vec<Option<Arc<PackedTokens>>>,
        passage_tokens: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        self.late_scores_weighted(query, None, passages, kept, passage_tokens)
            .await
    }

    /// [`EncoderWorker::late_scores_kept`] with the question's pieces
    /// ([`EncoderWorker::question_pieces`]) weighted: each passage scores
    /// [`weighted_max_sim`]. `None`, or weights that do not fit the
    /// pieces, average them alike. A [`LateScoreStore`](crate::LateScoreStore)
    /// is asked for the query with its weights, so scores under other
    /// weights are never mixed up.
    ///
    /// # Errors
    /// As [`EncoderWorker::late_scores`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request.
    pub async fn late_scores_weighted(
        &self,
        query: &str,
        weights: Option<Vec<f32>>,
        passages: Vec<String>,
        kept: Vec<Option<Arc<PackedTokens>>>,
        passage_tokens: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        if passages.is_empty() {
            return Ok(Vec::new());
        }
        let whole = passage_tokens >= self.max_tokens();
        let mut kept: Vec<Option<Arc<PackedTokens>>> = kept
            .into_iter()
            .map(|k| {
                k.filter(|p| {
                    whole && p.form() == self.form && p.width() == self.dimensions && p.rows() > 0
                })
            })
            .collect();
        kept.resize(passages.len(), None);
        let query = format!("{}{query}", self.query_prefix);
        let reader = self.clone();
        let keys: Vec<String> = tokio::task::spawn_blocking(move || {
            passages
                .iter()
                .map(|p| reader.late_text(p, passage_tokens))
                .collect::<Result<_, _>>()
        })
        .await
        .map_err(|e| EncoderError::Model(format!("late interaction: {e}")))??;
        let Some(store) = &self.scores else {
            return self.max_sims(query, weights, keys, kept).await;
        };
        // The store's key: the query, with its weights where it has any
        // (their bits, so equal weights are one key).
        let asked = match &weights {
            None => query.clone(),
            Some(w) => {
                let bits: String = w.iter().map(|x| format!("{:08x}", x.to_bits())).collect();
                format!("{query}\u{1f}{bits}")
            }
        };
        let mut scores: Vec<Option<f32>> = keys.iter().map(|k| store.get(&asked, k)).collect();
        let (todo, todo_kept): (Vec<String>, Vec<_>) = keys
            .into_iter()
            .zip(kept)
            .zip(&scores)
            .filter(|(_, s)| s.is_none())
            .map(|(pair, _)| pair)
            .unzip();
        if !todo.is_empty() {
            let fresh = self
                .max_sims(query.clone(), weights, todo.clone(), todo_kept)
                .await?;
            for (key, score) in todo.iter().zip(&fresh) {
                store.put(&asked, key, *score);
            }
            let mut fresh = fresh.into_iter();
            for s in scores.iter_mut().filter(|s| s.is_none()) {
                *s = fresh.next();
            }
        }
        Ok(scores.into_iter().map(|s| s.unwrap_or(0.0)).collect())
    }

    /// Late interaction's MaxSim of the (prefixed) `query` against each
    /// of `keys` (passages as [`EncoderWorker::late_text`] reads them),
    /// from their `kept` vectors, the token cache or a forward pass.
    async fn max_sims(
        &self,
        query: String,
        weights: Option<Vec<f32>>,
        keys: Vec<String>,
        kept: Vec<Option<Arc<PackedTokens>>>,
    ) -> Result<Vec<f32>, EncoderError> {
        let (words, stored) = self.late_vectors(query, keys, kept).await?;
        let width = self.dimensions;
        let weights = weights.unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            stored
                .into_iter()
                .map(|p| {
                    p.map_or(0.0, |p| {
                        weighted_max_sim(&words, &p.unpack(), width, &weights)
                    })
                })
                .collect()
        })
        .await
        .map_err(|e| EncoderError::Model(format!("late interaction: {e}")))
    }

    /// The question's word pieces as late interaction compares them
    /// (its prefix and special tokens left out), with their byte spans in
    /// `query`: what [`EncoderWorker::late_scores_weighted`]'s weights
    /// are for, one each, in order.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn question_pieces(&self, query: &str) -> Result<Vec<LatePiece>, EncoderError> {
        let prefixed = format!("{}{query}", self.query_prefix);
        self.word_pieces(&prefixed, self.query_prefix.len())
    }

    /// What [`EncoderWorker::late_scores`] averages, laid out for study:
    /// the question's word pieces (as the pass compares them, with their
    /// byte spans in `query`, unprefixed) and, for each passage, each
    /// piece's best cosine against it. Computed afresh (a
    /// [`LateScoreStore`](crate::LateScoreStore) is not read); the token
    /// cache serves passages read before. `zhishu eval --candidates`
    /// writes it, for weighing a question's words offline.
    ///
    /// # Errors
    /// As [`EncoderWorker::late_scores`].
    pub async fn late_detail(
        &self,
        query: &str,
        passages: Vec<String>,
        passage_tokens: usize,
    ) -> Result<LateDetail, EncoderError> {
        let prefixed = format!("{}{query}", self.query_prefix);
        let pieces = self.question_pieces(query)?;
        let keys = passages
            .iter()
            .map(|p| self.late_text(p, passage_tokens))
            .collect::<Result<Vec<_>, _>>()?;
        let kept = vec![None; keys.len()];
        let (words, stored) = self.late_vectors(prefixed, keys, kept).await?;
        let width = self.dimensions;
        let maxima = tokio::task::spawn_blocking(move || {
            stored
                .into_iter()
                .map(|p| p.map_or_else(Vec::new, |p| row_maxima(&words, &p.unpack(), width)))
                .collect()
        })
        .await
        .map_err(|e| EncoderError::Model(format!("late interaction: {e}")))?;
        Ok(LateDetail { pieces, maxima })
    }

    /// The (prefixed) query's word rows and each passage's packed token
    /// vectors: `kept`, from the token cache, or from one forward pass
    /// with the query (and then cached).
    async fn late_vectors(
        &self,
        query: String,
        keys: Vec<String>,
        kept: Vec<Option<Arc<PackedTokens>>>,
    ) -> Result<(Vec<f32>, Vec<Option<Arc<PackedTokens>>>), EncoderError> {
        let words = self.word_rows(&query)?;
        let mut stored: Vec<Option<Arc<PackedTokens>>> = keys
            .iter()
            .zip(kept)
            .map(|(k, kept)| kept.or_else(|| self.tokens.as_ref().and_then(|c| c.get(k.as_str()))))
            .collect();
        let mut inputs = vec![(query, Output::Tokens)];
        inputs.extend(
            keys.iter()
                .zip(&stored)
                .filter(|(_, s)| s.is_none())
                .map(|(k, _)| (k.clone(), Output::Tokens)),
        );
        let mut out = self.inner.submit(inputs).await?.outputs.into_iter();
        let mut query = out.next().unwrap_or_default();
        let (width, form) = (self.dimensions, self.form);
        let missing = stored.iter_mut().zip(keys).filter(|(s, _)| s.is_none());
        for ((slot, key), vectors) in missing.zip(out) {
            // Scored from the packed form whether kept, cached or computed
            // now, so a passage scores the same on every search.
            let vectors = Arc::new(PackedTokens::pack(form, &vectors, width));
            if let Some(cache) = &self.tokens {
                cache.insert(key, vectors.clone());
            }
            *slot = Some(vectors);
        }
        let rows = query.len() / width.max(1);
        let (from, to) = if words.0 < words.1 && words.1 <= rows {
            words
        } else {
            (0, rows)
        };
        query.truncate(to * width);
        query.drain(..from * width);
        Ok((query, stored))
    }

    /// What late interaction reads of a passage given `passage_tokens`:
    /// the passage prefix and the passage, cut after the last word piece
    /// that fits in `passage_tokens` tokens with the special tokens; whole
    /// when it fits or `passage_tokens` reaches the model's limit (which
    /// truncates as for any input).
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn late_text(&self, passage: &str, passage_tokens: usize) -> Result<String, EncoderError> {
        let text = format!("{}{passage}", self.passage_prefix);
        if passage_tokens >= self.max_tokens() {
            return Ok(text);
        }
        cut(&self.tokenizer, text, passage_tokens)
    }

    /// The rows of a (prefixed) query's token vectors that are its own
    /// words: after its leading special tokens and the prefix's pieces,
    /// before its trailing special tokens, as the model's tokenizer cuts
    /// it. Empty when the query has no words of its own (the caller then
    /// compares every row).
    fn word_rows(&self, query: &str) -> Result<(usize, usize), EncoderError> {
        let encoding = self
            .tokenizer
            .encode(query, true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        let special = encoding.get_special_tokens_mask();
        let leading = special.iter().take_while(|&&m| m == 1).count();
        let trailing = special.iter().rev().take_while(|&&m| m == 1).count();
        let from = leading + self.prefix_pieces;
        let to = special.len().saturating_sub(trailing);
        Ok((from, to.max(from)))
    }

    /// The (prefixed) query's word pieces as [`EncoderWorker::word_rows`]
    /// selects them, each with its byte span in the query less its first
    /// `prefix` bytes (the unprefixed question; a piece that reaches into
    /// the prefix starts at 0).
    fn word_pieces(&self, query: &str, prefix: usize) -> Result<Vec<LatePiece>, EncoderError> {
        let (from, to) = self.word_rows(query)?;
        let encoding = self
            .tokenizer
            .encode(query, true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        let tokens = encoding.get_tokens();
        let offsets = encoding.get_offsets();
        Ok((from..to.min(tokens.len()))
            .map(|i| LatePiece {
                piece: tokens[i].clone(),
                start: offsets[i].0.saturating_sub(prefix),
                end: offsets[i].1.saturating_sub(prefix),
            })
            .collect())
    }
}

/// The beginning of `text` that tokenises to at most `tokens` tokens,
/// special tokens included: cut where a word piece ends, so the model
/// reads it with its closing special token as it would a short passage.
/// A text that fits is returned whole. The cut is tokenised again, since
/// a word cut short may split into other pieces; each retry keeps one
/// piece fewer.
fn cut(
    tokenizer: &tokenizers::Tokenizer,
    text: String,
    tokens: usize,
) -> Result<String, EncoderError> {
    let encode = |t: &str| {
        tokenizer
            .encode(t, true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    };
    let encoding = encode(&text)?;
    let fits = |e: &tokenizers::Encoding| e.len() <= tokens && e.get_overflowing().is_empty();
    if fits(&encoding) {
        return Ok(text);
    }
    let special = encoding.get_special_tokens_mask();
    let trailing = special.iter().rev().take_while(|&&m| m == 1).count();
    // Byte offsets into `text`, as `encode` gives them: where each word
    // piece ends, in order.
    let ends: Vec<usize> = encoding
        .get_offsets()
        .iter()
        .zip(special)
        .filter(|&(_, &m)| m == 0)
        .map(|(o, _)| o.1)
        .collect();
    let leading = special.iter().take_while(|&&m| m == 1).count();
    let mut keep = tokens.saturating_sub(trailing + leading).min(ends.len());
    while keep > 0 {
        let end = ends[..keep].iter().copied().max().unwrap_or(0);
        let Some(head) = text.get(..end) else { break };
        if fits(&encode(head)?) {
            return Ok(head.to_owned());
        }
        keep -= 1;
    }
    Ok(String::new())
}

/// How many pieces the query prefix itself takes. It is tokenised without
/// its trailing space, which a SentencePiece tokenizer leaves as a bare
/// `▁` that the question's first word absorbs (e5's `query: ` is `▁que`,
/// `ry`, `:`); special tokens are not counted.
pub(super) fn prefix_pieces(embedder: &Embedder, prefix: &str) -> Result<usize, EncoderError> {
    let encoding = embedder
        .tokenizer()
        .encode(prefix.trim_end(), true)
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    Ok(encoding
        .get_special_tokens_mask()
        .iter()
        .filter(|&&m| m == 0)
        .count())
}

/// One word piece of a question, as late interaction compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatePiece {
    /// The tokenizer's piece (`▁back`, `up`, `数据`).
    pub piece: String,
    /// Byte span in the question (unprefixed).
    pub start: usize,
    /// End of that span (exclusive).
    pub end: usize,
}

/// [`EncoderWorker::late_detail`]: what MaxSim averages.
#[derive(Debug, Clone, Default)]
pub struct LateDetail {
    /// The question's word pieces, in order.
    pub pieces: Vec<LatePiece>,
    /// For each passage, each piece's best cosine against it (the
    /// pieces' order); their mean, weighted as the pass weighs them, is its score.
    pub maxima: Vec<Vec<f32>>,
}
