//! A multi-pattern matcher over characters (Aho–Corasick).
//!
//! One pass over the text finds every occurrence of every pattern, in time
//! linear in the text plus the matches, whatever the text: a 1 MB question
//! built to be slow is no slower than any 1 MB question. Written here
//! rather than taken from a crate because the stream guard needs what
//! general matchers do not expose: the *depth* of the state after the text
//! read so far, i.e. the length of the longest suffix that could still
//! grow into a match, which is exactly what must be held back.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hasher for the `(state, char)` transition keys (the
/// keys are not attacker-chosen in a way that matters: the table is built
/// from the lexicon, lookups only probe it).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Transitions = HashMap<u64, u32, BuildHasherDefault<KeyHasher>>;

fn key(state: u32, c: char) -> u64 {
    (u64::from(state) << 32) | u64::from(c)
}

/// The automaton over a fixed set of patterns.
#[derive(Debug, Clone)]
pub struct Automaton {
    goto: Transitions,
    fail: Vec<u32>,
    depth: Vec<u32>,
    /// Patterns ending at each state, including those ending at its
    /// failure states (longest first).
    out: Vec<Vec<u32>>,
    lens: Vec<u32>,
}

const ROOT: u32 = 0;

impl Automaton {
    /// Builds the automaton. Empty patterns never match.
    pub fn new<P: AsRef<[char]>>(patterns: &[P]) -> Self {
        let mut goto = Transitions::default();
        let mut depth = vec![0u32];
        let mut out: Vec<Vec<u32>> = vec![Vec::new()];
        let mut lens = Vec::with_capacity(patterns.len());
        for (id, p) in patterns.iter().enumerate() {
            let p = p.as_ref();
            lens.push(p.len() as u32);
            if p.is_empty() {
                continue;
            }
            let mut s = ROOT;
            for &c in p {
                s = match goto.get(&key(s, c)) {
                    Some(&n) => n,
                    None => {
                        let n = depth.len() as u32;
                        depth.push(depth[s as usize] + 1);
                        out.push(Vec::new());
                        goto.insert(key(s, c), n);
                        n
                    }
                };
            }
            out[s as usize].push(id as u32);
        }
        // Children of each state, to walk the trie breadth first.
        let mut children: Vec<Vec<(char, u32)>> = vec![Vec::new(); depth.len()];
        for (&k, &to) in &goto {
            let from = (k >> 32) as usize;
            let c = char::from_u32(k as u32).expect("keys are built from chars; this is a bug");
            children[from].push((c, to));
        }
        let mut fail = vec![ROOT; depth.len()];
        let mut queue = std::collections::VecDeque::new();
        for &(_, s) in &children[ROOT as usize] {
            queue.push_back(s);
        }
        while let Some(s) = queue.pop_front() {
            let kids = std::mem::take(&mut children[s as usize]);
            for &(c, t) in &kids {
                let mut f = fail[s as usize];
                let target = loop {
                    if let Some(&n) = goto.get(&key(f, c)) {
                        break n;
                    }
                    if f == ROOT {
                        break ROOT;
                    }
                    f = fail[f as usize];
                };
                fail[t as usize] = target;
                let inherited = out[target as usize].clone();
                out[t as usize].extend(inherited);
                queue.push_back(t);
            }
        }
        Self {
            goto,
            fail,
            depth,
            out,
            lens,
        }
    }

    /// The state before any text.
    pub fn start(&self) -> u32 {
        ROOT
    }

    /// The state after reading `c` in `state`.
    pub fn step(&self, mut state: u32, c: char) -> u32 {
        loop {
            if let Some(&n) = self.goto.get(&key(state, c)) {
                return n;
            }
            if state == ROOT {
                return ROOT;
            }
            state = self.fail[state as usize];
        }
    }

    /// The patterns that end at `state`.
    pub fn matches(&self, state: u32) -> &[u32] {
        &self.out[state as usize]
    }

    /// How many characters the longest pattern prefix ending at `state`
    /// spans: what a stream must hold back.
    pub fn depth(&self, state: u32) -> usize {
        self.depth[state as usize] as usize
    }

    /// Length of pattern `id`, in characters.
    pub fn len_of(&self, id: u32) -> usize {
        self.lens[id as usize] as usize
    }

    /// Every occurrence in `text`: `(pattern, start, end)`, ordered by
    /// end, then longest first.
    pub fn find_all(&self, text: &[char]) -> Vec<(u32, usize, usize)> {
        let mut found = Vec::new();
        let mut s = self.start();
        for (i, &c) in text.iter().enumerate() {
            s = self.step(s, c);
            for &p in self.matches(s) {
                let len = self.len_of(p);
                found.push((p, i + 1 - len, i + 1));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn naive(patterns: &[Vec<char>], text: &[char]) -> Vec<(u32, usize, usize)> {
        let mut v = Vec::new();
        for (id, p) in patterns.iter().enumerate() {
            if p.is_empty() || p.len() > text.len() {
                continue;
            }
            for s in 0..=text.len() - p.len() {
                if text[s..s + p.len()] == p[..] {
                    v.push((id as u32, s, s + p.len()));
                }
            }
        }
        v.sort();
        v
    }

    #[test]
    fn overlapping_and_nested_patterns_are_all_found() {
        let pats = vec![
            chars("he"),
            chars("she"),
            chars("his"),
            chars("hers"),
            chars("敏感词"),
        ];
        let a = Automaton::new(&pats);
        let mut got = a.find_all(&chars("ushers 敏感词"));
        got.sort();
        assert_eq!(got, vec![(0, 2, 4), (1, 1, 4), (3, 2, 6), (4, 7, 10)]);
    }

    #[test]
    fn depth_is_the_longest_open_prefix() {
        let a = Automaton::new(&[chars("敏感词"), chars("感冒")]);
        let mut s = a.start();
        for c in chars("好敏感") {
            s = a.step(s, c);
        }
        assert_eq!(a.depth(s), 2);
        s = a.step(s, '了');
        assert_eq!(a.depth(s), 0);
    }

    proptest! {
        /// The automaton finds exactly what a naive scan finds, over a
        /// small alphabet where overlaps are the rule.
        #[test]
        fn finds_exactly_what_a_naive_scan_finds(
            patterns in prop::collection::vec("[ab敏感]{0,5}", 1..12),
            text in "[ab敏感x]{0,60}",
        ) {
            let pats: Vec<Vec<char>> = patterns.iter().map(|p| chars(p)).collect();
            let a = Automaton::new(&pats);
            let text = chars(&text);
            let mut got = a.find_all(&text);
            got.sort();
            prop_assert_eq!(got, naive(&pats, &text));
        }

        /// After any text, the depth is the longest suffix that is a
        /// prefix of some pattern.
        #[test]
        fn depth_matches_the_longest_suffix_prefix(
            patterns in prop::collection::vec("[ab]{1,5}", 1..8),
            text in "[abx]{0,30}",
        ) {
            let pats: Vec<Vec<char>> = patterns.iter().map(|p| chars(p)).collect();
            let a = Automaton::new(&pats);
            let text = chars(&text);
            let mut s = a.start();
            for &c in &text { s = a.step(s, c); }
            let want = (0..=text.len()).rev().find(|&k| {
                let suffix = &text[text.len() - k..];
                pats.iter().any(|p| p.len() >= k && p[..k] == *suffix)
            }).unwrap_or(0);
            prop_assert_eq!(a.depth(s), want);
        }
    }
}
