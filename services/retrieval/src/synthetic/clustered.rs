//! A corpus for measuring stores at scale: chunks of Zipf-distributed
//! English-like and Chinese pseudo-words, 384-d vectors drawn around
//! cluster centres (uniform random vectors have no neighbourhood
//! structure, which makes any ANN index look worse than on real
//! embeddings), every chunk readable by one of four access groups.
//! Seeded, so that runs compare.

use crate::{ChunkDoc, chunk_id};

/// The access groups chunks are spread over, in turn.
pub const GROUPS: [&str; 4] = ["public", "finance", "hr", "engineering"];

/// splitmix64: small, seedable, good enough for synthetic data.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-7), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A Zipf-ish index in 0..n (rank ∝ 1/u²), as word frequencies are.
    pub fn zipf(&mut self, n: usize) -> usize {
        let u = self.unit().max(1e-4);
        ((1.0 / u).powf(1.2) as usize).clamp(1, n) - 1
    }
}

/// Scales `v` to unit length.
pub fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// 6,000 pseudo-words: English-like syllable strings and two-character
/// Chinese words from the common CJK block.
pub fn vocabulary(rng: &mut Rng) -> Vec<String> {
    const SYL: [&str; 20] = [
        "ra", "po", "li", "cy", "ex", "pen", "se", "tra", "vel", "ho", "tel", "con", "tract", "au",
        "dit", "ser", "ver", "net", "work", "plan",
    ];
    let mut words = Vec::new();
    for _ in 0..4000 {
        let n = 2 + rng.below(3);
        words.push((0..n).map(|_| SYL[rng.below(SYL.len())]).collect());
    }
    for _ in 0..2000 {
        let a = char::from_u32(0x4E00 + rng.below(0x1000) as u32).unwrap_or('中');
        let b = char::from_u32(0x4E00 + rng.below(0x1000) as u32).unwrap_or('文');
        words.push(format!("{a}{b}"));
    }
    words
}

/// `count` random unit vectors of `dims` dimensions: the clusters'
/// centres.
pub fn centres(rng: &mut Rng, count: usize, dims: usize) -> Vec<Vec<f32>> {
    (0..count)
        .map(|_| {
            let mut c: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
            normalise(&mut c);
            c
        })
        .collect()
}

/// Chunks and their vectors, in the same order.
pub struct Corpus {
    /// The chunks.
    pub chunks: Vec<ChunkDoc>,
    /// Their vectors.
    pub vectors: Vec<Vec<f32>>,
}

/// Chunks `first..first + n` of the corpus (four per document): ids are
/// unique across batches, so that batches add chunks rather than replace
/// the previous batch's.
pub fn corpus(
    first: usize,
    n: usize,
    rng: &mut Rng,
    words: &[String],
    centres: &[Vec<f32>],
) -> Corpus {
    let dims = centres.first().map_or(0, Vec::len);
    let mut chunks = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n);
    for i in first..first + n {
        let len = 40 + rng.below(40);
        let text: Vec<&str> = (0..len)
            .map(|_| words[rng.zipf(words.len())].as_str())
            .collect();
        let doc = format!("doc-{}", i / 4);
        chunks.push(ChunkDoc {
            chunk_id: chunk_id(&doc, 1, (i % 4) as i64),
            document_id: doc,
            version: 1,
            ordinal: (i % 4) as i64,
            collection: "bench".into(),
            path: format!("/bench/{}.md", i / 4),
            title: text[..4].join(" "),
            section_path: String::new(),
            page: None,
            access_groups: vec![GROUPS[i % GROUPS.len()].into()],
            content_hash: String::new(),
            modified_at: 0,
            char_start: 0,
            char_end: 0,
            qwen_tokens: len as i64,
            text: text.join(" "),
            prompt_ids: None,
            token_vectors: None,
        });
        let c = &centres[rng.below(centres.len())];
        let mut v: Vec<f32> = c
            .iter()
            .map(|x| x + 0.35 * rng.normal() / (dims as f32).sqrt())
            .collect();
        normalise(&mut v);
        vectors.push(v);
    }
    Corpus { chunks, vectors }
}

/// A query near chunk `i` of `c`: four consecutive words of its text, and
/// its vector perturbed.
pub fn query_near(c: &Corpus, i: usize, rng: &mut Rng) -> (String, Vec<f32>) {
    let ws: Vec<&str> = c.chunks[i].text.split(' ').collect();
    let from = rng.below(ws.len().saturating_sub(4).max(1));
    let text = ws[from..(from + 4).min(ws.len())].join(" ");
    let dims = c.vectors[i].len();
    let mut v: Vec<f32> = c.vectors[i]
        .iter()
        .map(|x| x + 0.2 * rng.normal() / (dims as f32).sqrt())
        .collect();
    normalise(&mut v);
    (text, v)
}
