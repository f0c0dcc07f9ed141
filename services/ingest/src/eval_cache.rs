//! What `zhishu eval` may keep between runs, for maintainers comparing
//! retrieval changes that leave the embedder alone (and for the quality
//! gates in CI): passage vectors (`ZHISHU_EVAL_CACHE`) and late-interaction
//! scores (`ZHISHU_EVAL_LATE_CACHE`). Both are off by default: a run then
//! computes everything, as ingestion and search would.
//!
//! Why files and not a faster model: a 3,000-chunk set takes 25 minutes of
//! two cores to embed, and its late pass a forward pass per (query's top
//! passage) more, while the embedder is pinned by its own parity tests
//! against the reference implementations. What a gate must catch are
//! changes to chunking, BM25, fusion and ranking, and those still run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use zhishu_encoders::{EncoderWorker, LateScoreStore, TextKind, TokenForm};

/// The SHA-256 of `parts` joined by zero bytes (the vector files already
/// written hash `model 0 text`).
fn key(parts: &[&str]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0]);
        }
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// Passage vectors kept between evaluation runs, for maintainers comparing
/// retrieval changes that leave the embedder alone: with
/// `ZHISHU_EVAL_CACHE=FILE`, vectors are looked up by the SHA-256 of the
/// model's stamp and the passage text, and new ones are added to the file.
/// Off by default: a run then embeds everything, as ingestion would.
pub(crate) struct VectorCache {
    path: Option<std::path::PathBuf>,
    /// What the vectors depend on besides the text.
    model: String,
    vectors: std::collections::HashMap<[u8; 32], Vec<f32>>,
    added: usize,
}

impl VectorCache {
    pub(crate) fn open(encoder: &EncoderWorker) -> Self {
        let path = std::env::var_os("ZHISHU_EVAL_CACHE").map(std::path::PathBuf::from);
        let dims = encoder.dimensions();
        let mut vectors = std::collections::HashMap::new();
        if let Some(bytes) = path.as_ref().and_then(|p| std::fs::read(p).ok()) {
            for record in bytes.chunks_exact(32 + 4 * dims) {
                let (key, values) = record.split_at(32);
                let mut k = [0u8; 32];
                k.copy_from_slice(key);
                let v = values
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                vectors.insert(k, v);
            }
        }
        let model = format!(
            "{}|{}|{}",
            encoder.name(),
            dims,
            encoder.prefix(TextKind::Passage)
        );
        Self {
            path,
            model,
            vectors,
            added: 0,
        }
    }

    fn key(&self, text: &str) -> [u8; 32] {
        key(&[&self.model, text])
    }

    /// The texts' passage vectors, embedding only those not cached.
    pub(crate) async fn embed(
        &mut self,
        encoder: &EncoderWorker,
        texts: Vec<String>,
    ) -> Result<Vec<Vec<f32>>, zhishu_encoders::EncoderError> {
        if self.path.is_none() {
            return Ok(encoder.embed(texts, TextKind::Passage).await?.vectors);
        }
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| self.key(t)).collect();
        let (missing_keys, missing): (Vec<[u8; 32]>, Vec<String>) = keys
            .iter()
            .zip(texts)
            .filter(|(k, _)| !self.vectors.contains_key(*k))
            .map(|(k, t)| (*k, t))
            .unzip();
        if !missing.is_empty() {
            let embedded = encoder.embed(missing, TextKind::Passage).await?.vectors;
            self.added += embedded.len();
            self.vectors.extend(missing_keys.into_iter().zip(embedded));
        }
        Ok(keys
            .iter()
            .map(|k| self.vectors.get(k).cloned().unwrap_or_default())
            .collect())
    }

    pub(crate) fn save(&self) {
        let Some(path) = &self.path else { return };
        if self.added == 0 {
            return;
        }
        // Sorted by key: the same vectors make the same file.
        let mut entries: Vec<_> = self.vectors.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| **k);
        let mut bytes = Vec::new();
        for (k, v) in entries {
            bytes.extend_from_slice(k);
            v.iter()
                .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        if let Err(e) = std::fs::write(path, bytes) {
            tracing::warn!(error = %e, path = %path.display(), "could not write the eval vector cache");
        }
    }
}

/// One record of the late-score file: key and score.
const LATE_RECORD: usize = 32 + 4;
/// Of the pairs the file holds, those whose key's first byte is below this
/// (one in 32) are computed afresh and compared, so a file made by another
/// model or another late-interaction code is caught, not trusted.
const LATE_CHECK: u8 = 8;
/// How far a checked score may be from its record: MaxSim is a mean of
/// cosines in [-1, 1]; the same model and code land within ~1e-6 (batches
/// packed differently), and a changed model or cut moves scores by 1e-2
/// or more.
const LATE_TOLERANCE: f32 = 1e-3;

/// Late-interaction scores kept between evaluation runs, with
/// `ZHISHU_EVAL_LATE_CACHE=FILE`: looked up by the SHA-256 of the model's
/// stamp, the prefixed query and the passage as the pass reads it; the
/// scores computed are added to the file. One in 32 of the pairs it holds
/// is computed afresh and checked against its record
/// ([`LateScores::verdict`]).
pub(crate) struct LateScores {
    path: PathBuf,
    model: String,
    state: Mutex<LateState>,
}

#[derive(Default)]
struct LateState {
    scores: HashMap<[u8; 32], f32>,
    /// Scores computed for pairs the file did not hold.
    added: usize,
    /// Scores read from the file.
    read: usize,
    /// Pairs the file held, computed afresh and compared.
    checked: usize,
    /// Of those, the ones further than [`LATE_TOLERANCE`] from the record.
    disagreed: usize,
    /// The largest difference met in a check.
    largest: f32,
}

impl LateScores {
    /// The file named by `ZHISHU_EVAL_LATE_CACHE` for `encoder`'s model,
    /// or `None` when the variable is unset. A missing file starts empty;
    /// a file whose length is not whole records is ignored (and
    /// rewritten).
    pub(crate) fn open(encoder: &EncoderWorker) -> Option<Self> {
        let path = PathBuf::from(std::env::var_os("ZHISHU_EVAL_LATE_CACHE")?);
        // The form the passages' token vectors are packed in moves every
        // score: scores of another form are never read as this one's
        // (f16's stamp is the one from before there were forms).
        let mut model = format!("late-v1|{}|{}", encoder.name(), encoder.dimensions());
        if encoder.token_form() != TokenForm::F16 {
            model = format!("{model}|{}", encoder.token_form().as_str());
        }
        Some(Self::at(path, model))
    }

    /// The file at `path` for the model stamped `model`.
    fn at(path: PathBuf, model: String) -> Self {
        let mut scores = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() % LATE_RECORD == 0 => {
                for record in bytes.chunks_exact(LATE_RECORD) {
                    let (k, v) = record.split_at(32);
                    let mut key = [0u8; 32];
                    key.copy_from_slice(k);
                    scores.insert(key, f32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                }
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "the late-score cache is not whole records; starting it afresh");
            }
            Err(_) => {}
        }
        Self {
            path,
            model,
            state: Mutex::new(LateState {
                scores,
                ..LateState::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LateState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run's use of the file: scores read, computed, checked, and
    /// the largest difference a check met.
    pub(crate) fn summary(&self) -> zhishu_retrieval::eval::LateCacheReport {
        let s = self.state();
        zhishu_retrieval::eval::LateCacheReport {
            read: s.read,
            computed: s.added,
            checked: s.checked,
            largest_difference: f64::from(s.largest),
        }
    }

    /// `Err` naming the file when a checked score was further than
    /// [`LATE_TOLERANCE`] from its record: the file was made with another
    /// model or another late-interaction code, and its scores would stand
    /// in for ones this code does not give.
    pub(crate) fn verdict(&self) -> Result<(), String> {
        let s = self.state();
        if s.disagreed == 0 {
            return Ok(());
        }
        Err(format!(
            "the late-interaction scores in {} disagree with this model and code on {} of the {} pairs checked (largest difference {:.4}): delete the file and run again to make it afresh",
            self.path.display(),
            s.disagreed,
            s.checked,
            s.largest
        ))
    }

    /// Writes the file back when scores were added, sorted by key (the
    /// same scores make the same file). Not when a check disagreed.
    pub(crate) fn save(&self) {
        let s = self.state();
        if s.added == 0 || s.disagreed > 0 {
            return;
        }
        let mut entries: Vec<_> = s.scores.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| **k);
        let mut bytes = Vec::with_capacity(entries.len() * LATE_RECORD);
        for (k, v) in entries {
            bytes.extend_from_slice(k);
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        if let Err(e) = std::fs::write(&self.path, bytes) {
            tracing::warn!(error = %e, path = %self.path.display(), "could not write the late-score cache");
        }
    }
}

impl LateScoreStore for LateScores {
    fn get(&self, query: &str, passage: &str) -> Option<f32> {
        let k = key(&[&self.model, query, passage]);
        if k[0] < LATE_CHECK {
            return None;
        }
        let mut s = self.state();
        let score = s.scores.get(&k).copied();
        s.read += usize::from(score.is_some());
        score
    }

    fn put(&self, query: &str, passage: &str, score: f32) {
        let k = key(&[&self.model, query, passage]);
        let mut s = self.state();
        match s.scores.get(&k).copied() {
            Some(recorded) => {
                let difference = (recorded - score).abs();
                s.checked += 1;
                s.largest = s.largest.max(difference);
                // A NaN on either side disagrees.
                if difference.is_nan() || difference > LATE_TOLERANCE {
                    s.disagreed += 1;
                }
            }
            None => {
                s.scores.insert(k, score);
                s.added += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_checked(store: &LateScores, q: &str, p: &str) -> bool {
        key(&[&store.model, q, p])[0] < LATE_CHECK
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Scores written are read back bit for bit by the same model,
        /// except the pairs set aside for checking, which agree with
        /// themselves and disagree with a moved score; another model
        /// reads nothing.
        #[test]
        fn scores_round_trip_and_checks_catch_a_moved_score(
            pairs in prop::collection::hash_map(
                ("[a-z 中文]{0,12}", "[a-z 文档]{0,24}"),
                -1.0f32..=1.0,
                1..80,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("late-scores.bin");
            let first = LateScores::at(path.clone(), "m".into());
            for ((q, p), s) in &pairs {
                prop_assert_eq!(first.get(q, p), None);
                first.put(q, p, *s);
            }
            prop_assert_eq!(first.summary().computed, pairs.len());
            first.save();
            prop_assert_eq!(
                std::fs::metadata(&path).unwrap().len() as usize,
                pairs.len() * LATE_RECORD
            );

            let again = LateScores::at(path.clone(), "m".into());
            let mut checks = 0;
            for ((q, p), s) in &pairs {
                if is_checked(&again, q, p) {
                    prop_assert_eq!(again.get(q, p), None);
                    again.put(q, p, *s + 1e-6);
                    checks += 1;
                } else {
                    prop_assert_eq!(again.get(q, p).map(f32::to_bits), Some(s.to_bits()));
                }
            }
            let summary = again.summary();
            prop_assert_eq!(summary.read, pairs.len() - checks);
            prop_assert_eq!((summary.checked, summary.computed), (checks, 0));
            prop_assert!(again.verdict().is_ok());

            let moved = LateScores::at(path.clone(), "m".into());
            for ((q, p), s) in &pairs {
                if is_checked(&moved, q, p) {
                    moved.put(q, p, *s + 0.01);
                }
            }
            prop_assert_eq!(moved.verdict().is_err(), checks > 0);

            let other = LateScores::at(path, "another model".into());
            for (q, p) in pairs.keys() {
                prop_assert_eq!(other.get(q, p), None);
            }
        }
    }

    #[test]
    fn a_disagreeing_check_names_the_file_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late-scores.bin");
        let store = LateScores::at(path.clone(), "m".into());
        // Find a pair set aside for checking, record it, then check it
        // against another score (and a NaN).
        let (q, p) = (0..)
            .map(|i| (format!("q{i}"), "passage".to_owned()))
            .find(|(q, p)| is_checked(&store, q, p))
            .unwrap();
        store.put(&q, &p, 0.5);
        store.save();
        let bytes = std::fs::read(&path).unwrap();
        for fresh in [0.6, f32::NAN] {
            let store = LateScores::at(path.clone(), "m".into());
            store.put(&q, &p, fresh);
            store.put("a new query", &p, 0.1);
            let e = store.verdict().unwrap_err();
            assert!(
                e.contains("late-scores.bin") && e.contains("1 of the 1 pairs"),
                "{e}"
            );
            store.save();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes,
                "a disagreeing run writes nothing"
            );
        }
    }

    #[test]
    fn a_torn_file_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late-scores.bin");
        std::fs::write(&path, vec![7u8; LATE_RECORD + 3]).unwrap();
        let store = LateScores::at(path.clone(), "m".into());
        assert_eq!(store.get("q", "p"), None);
        store.put("q", "p", 0.25);
        store.save();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            LATE_RECORD
        );
    }
}
