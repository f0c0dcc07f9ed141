//! The top k of a pruned search.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use tantivy::{DocAddress, Score};

/// The `k` best `(score, address)` pairs seen so far: a min-heap whose
/// root is the score a new hit must beat, which is the threshold block-max
/// WAND prunes with. It is exact after every push (a buffered top-k would
/// hand WAND a stale, lower bound and prune less). Hits arrive in address
/// order and must beat the root strictly, so among equal scores the lower
/// address wins, as in Tantivy's own collector.
pub(super) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
}

/// A hit ordered by score, then by lower address first.
struct Ranked(Score, DocAddress);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl TopK {
    pub(super) fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The score a hit must exceed to enter.
    pub(super) fn threshold(&self) -> Score {
        match self.heap.peek() {
            Some(Reverse(Ranked(score, _))) if self.heap.len() >= self.k => *score,
            _ => Score::MIN,
        }
    }

    pub(super) fn push(&mut self, score: Score, addr: DocAddress) {
        if self.heap.len() < self.k {
            self.heap.push(Reverse(Ranked(score, addr)));
        } else if score > self.threshold() {
            self.heap.pop();
            self.heap.push(Reverse(Ranked(score, addr)));
        }
    }

    /// Best first.
    pub(super) fn into_sorted(self) -> Vec<(Score, DocAddress)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(Ranked(score, addr))| (score, addr))
            .collect()
    }
}
