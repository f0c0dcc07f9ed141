//! The scheduler: which sequences run in the next step, and how many of
//! their tokens.
//!
//! Every step has a token budget (`max_batch_tokens`). Running sequences
//! are served first, oldest first: a decoding sequence takes one token, a
//! sequence still in its prompt takes the next chunk of it (chunked
//! prefill), so a long prompt never stalls the others' answers for more
//! than one step. What is left of the budget admits waiting sequences,
//! first come first served, while they fit in free KV blocks; a cached
//! prefix is looked up first so only the rest is computed.
//!
//! When a running sequence needs a block and none is free, the newest
//! running sequence is preempted: its blocks are released and it waits
//! again at its place in arrival order, to be recomputed (prompt and what
//! it generated so far) when there is room — as vLLM does by default. Its
//! full blocks stay in the prefix cache while memory allows, so the
//! recomputation is often mostly a cache hit.
//!
//! Bookkeeping only: the model runner executes the plan.

use super::blocks::{
    BlockHash, BlockId, BlockManager, adapter_root, block_hash, chain_hashes_from,
};
use std::collections::VecDeque;

/// A sequence and the caller's data `T` about it.
#[derive(Debug)]
pub struct Seq<T> {
    /// Arrival order (FCFS key).
    pub arrival: u64,
    /// Prompt and generated tokens.
    pub tokens: Vec<u32>,
    /// Tokens whose keys and values are in the cache.
    pub computed: usize,
    /// The block table.
    pub blocks: Vec<BlockId>,
    /// Chain hashes of the full blocks registered in the prefix cache.
    hashes: Vec<BlockHash>,
    /// The LoRA adapter it runs with (`None`: the model itself).
    pub adapter: Option<usize>,
    /// What its first block's hash chains from: none for the model itself,
    /// the adapter's own root otherwise, so blocks computed with one
    /// adapter are never found for another.
    root: Option<BlockHash>,
    /// The caller's data.
    pub data: T,
}

impl<T> Seq<T> {
    /// A new sequence holding nothing yet.
    pub fn new(arrival: u64, tokens: Vec<u32>, data: T) -> Self {
        Self {
            arrival,
            tokens,
            computed: 0,
            blocks: Vec::new(),
            hashes: Vec::new(),
            adapter: None,
            root: None,
            data,
        }
    }

    /// The same sequence run with LoRA adapter `adapter`.
    pub fn with_adapter(mut self, adapter: Option<usize>) -> Self {
        self.adapter = adapter;
        self.root = adapter.map(adapter_root);
        self
    }

    /// Whether the next step's tokens end the known tokens, so the step
    /// yields a token to sample.
    pub fn samples_after(&self, n: usize) -> bool {
        self.computed + n == self.tokens.len()
    }
}

/// One sequence's share of a step: `tokens` new tokens of `running[index]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`Scheduler::running`].
    pub index: usize,
    /// Tokens computed in this step.
    pub tokens: usize,
}

/// Limits of one step.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tokens per step over all sequences.
    pub max_batch_tokens: usize,
    /// Sequences running at once.
    pub max_running: usize,
    /// Whether full prompt blocks are shared between sequences.
    pub prefix_caching: bool,
}

/// Queues, blocks and the per-step plan.
#[derive(Debug)]
pub struct Scheduler<T> {
    blocks: BlockManager,
    limits: Limits,
    waiting: VecDeque<Seq<T>>,
    running: Vec<Seq<T>>,
    preemptions: u64,
}

impl<T> Scheduler<T> {
    /// A scheduler over `blocks`.
    pub fn new(blocks: BlockManager, limits: Limits) -> Self {
        Self {
            blocks,
            limits,
            waiting: VecDeque::new(),
            running: Vec::new(),
            preemptions: 0,
        }
    }

    /// The block manager.
    pub fn blocks(&self) -> &BlockManager {
        &self.blocks
    }

    /// Sequences waiting (new or preempted).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Running sequences, oldest first.
    pub fn running(&self) -> &[Seq<T>] {
        &self.running
    }

    /// Mutable access to a running sequence.
    pub fn running_mut(&mut self, index: usize) -> &mut Seq<T> {
        &mut self.running[index]
    }

    /// Preemptions since start.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// Whether nothing waits or runs.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Puts `seq` in the waiting queue at its place in arrival order (a new
    /// sequence, or a preempted one going back).
    pub fn add(&mut self, seq: Seq<T>) {
        let at = self.waiting.partition_point(|s| s.arrival < seq.arrival);
        self.waiting.insert(at, seq);
    }

    fn release(&mut self, seq: &mut Seq<T>) {
        self.blocks.release(&seq.blocks);
        seq.blocks.clear();
        seq.hashes.clear();
        seq.computed = 0;
    }

    fn preempt(&mut self, index: usize) {
        let mut seq = self.running.remove(index);
        self.release(&mut seq);
        self.preemptions += 1;
        self.add(seq);
    }

    /// Removes every sequence (waiting or running) `gone` says goes,
    /// releasing its blocks; returns them.
    pub fn remove_where(&mut self, mut gone: impl FnMut(&Seq<T>) -> bool) -> Vec<Seq<T>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.running.len() {
            if gone(&self.running[i]) {
                let mut s = self.running.remove(i);
                self.release(&mut s);
                out.push(s);
            } else {
                i += 1;
            }
        }
        let (keep, drop): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|s| !gone(s));
        self.waiting = keep;
        for mut s in drop {
            self.release(&mut s);
            out.push(s);
        }
        out
    }

    /// Removes the running sequences at `indices`, releasing their blocks.
    pub fn finish(&mut self, mut indices: Vec<usize>) -> Vec<Seq<T>> {
        indices.sort_unstable();
        indices.dedup();
        let mut out = Vec::with_capacity(indices.len());
        for i in indices.into_iter().rev() {
            let mut s = self.running.remove(i);
            self.release(&mut s);
            out.push(s);
        }
        out.reverse();
        out
    }

    /// Takes blocks until `seq` can hold `tokens` tokens. All or nothing.
    fn grow(blocks: &mut BlockManager, seq: &mut Seq<T>, tokens: usize) -> bool {
        let want = blocks.blocks_for(tokens).saturating_sub(seq.blocks.len());
        if blocks.available() < want {
            return false;
        }
        for _ in 0..want {
            match blocks.allocate() {
                Some(b) => seq.blocks.push(b),
                None => return false,
            }
        }
        true
    }

    /// Plans the next step (see the module's documentation). An empty plan
    /// with sequences waiting and none running means the first waiting one
    /// can never fit.
    pub fn schedule(&mut self) -> Vec<Slot> {
        let mut budget = self.limits.max_batch_tokens.max(1);
        let mut plan = Vec::new();
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let seq = &self.running[i];
            let n = (seq.tokens.len() - seq.computed).min(budget);
            let need = seq.computed + n;
            loop {
                let seq = &mut self.running[i];
                if Self::grow(&mut self.blocks, seq, need) {
                    plan.push(Slot {
                        index: i,
                        tokens: n,
                    });
                    budget -= n;
                    i += 1;
                    break;
                }
                // Out of blocks: the newest running sequence waits again
                // (this one itself when it is the newest).
                let victim = self.running.len() - 1;
                self.preempt(victim);
                if victim == i {
                    break;
                }
            }
        }
        while budget > 0 && self.running.len() < self.limits.max_running {
            let Some(mut seq) = self.waiting.pop_front() else {
                break;
            };
            let mut hit = 0;
            if self.limits.prefix_caching && seq.blocks.is_empty() {
                // The last token is always computed: its logits are needed.
                let found = self.blocks.lookup_prefix_from(
                    seq.root.as_ref(),
                    &seq.tokens,
                    seq.tokens.len() - 1,
                );
                hit = found.len();
                seq.computed = hit * self.blocks.block_size();
                seq.hashes = chain_hashes_from(
                    seq.root.as_ref(),
                    &seq.tokens[..seq.computed],
                    self.blocks.block_size(),
                );
                seq.blocks = found;
            }
            let n = (seq.tokens.len() - seq.computed).min(budget);
            let need = seq.computed + n;
            if !Self::grow(&mut self.blocks, &mut seq, need) {
                self.release(&mut seq);
                self.waiting.push_front(seq);
                break;
            }
            if self.limits.prefix_caching {
                let bs = self.blocks.block_size();
                let full = (seq.tokens.len() - 1) / bs;
                self.blocks.record_lookup(full * bs, hit * bs);
            }
            plan.push(Slot {
                index: self.running.len(),
                tokens: n,
            });
            budget -= n;
            self.running.push(seq);
        }
        plan
    }

    /// Records that the planned `slot` ran: its tokens are in the cache,
    /// and its newly full blocks join the prefix cache.
    pub fn computed(&mut self, slot: Slot) {
        let bs = self.blocks.block_size();
        let seq = &mut self.running[slot.index];
        seq.computed += slot.tokens;
        if !self.limits.prefix_caching {
            return;
        }
        let full = seq.computed / bs;
        for b in seq.hashes.len()..full {
            let parent = seq.hashes.last().or(seq.root.as_ref());
            let h = block_hash(parent, &seq.tokens[b * bs..(b + 1) * bs]);
            self.blocks.register(seq.blocks[b], h);
            seq.hashes.push(h);
        }
    }

    /// Removes and returns the first waiting sequence (one that can never
    /// fit, see [`Scheduler::schedule`]).
    pub fn pop_waiting(&mut self) -> Option<Seq<T>> {
        self.waiting.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(blocks: usize, budget: usize) -> Scheduler<&'static str> {
        Scheduler::new(
            BlockManager::new(blocks, 4),
            Limits {
                max_batch_tokens: budget,
                max_running: 8,
                prefix_caching: true,
            },
        )
    }

    /// Runs the plan as a model would: computed, then a sampled token for
    /// every sequence whose prompt is done.
    fn step(s: &mut Scheduler<&'static str>) -> Vec<(&'static str, usize)> {
        let plan = s.schedule();
        let mut out = Vec::new();
        for slot in &plan {
            let samples = s.running()[slot.index].samples_after(slot.tokens);
            s.computed(*slot);
            let seq = s.running_mut(slot.index);
            if samples {
                seq.tokens.push(7);
            }
            out.push((seq.data, slot.tokens));
        }
        out
    }

    #[test]
    fn decodes_go_first_and_long_prompts_are_chunked() {
        let mut s = sched(64, 10);
        s.add(Seq::new(0, vec![1; 3], "short"));
        assert_eq!(step(&mut s), [("short", 3)]);
        s.add(Seq::new(1, vec![2; 25], "long"));
        // The short one decodes (1 token); the long prompt gets the rest.
        assert_eq!(step(&mut s), [("short", 1), ("long", 9)]);
        assert_eq!(step(&mut s), [("short", 1), ("long", 9)]);
        assert_eq!(step(&mut s), [("short", 1), ("long", 7)]);
        assert_eq!(step(&mut s), [("short", 1), ("long", 1)]);
    }

    #[test]
    fn a_shared_prefix_is_not_computed_twice() {
        let mut s = sched(64, 100);
        let system: Vec<u32> = (0..12).collect();
        let mut a = system.clone();
        a.extend([50, 51]);
        s.add(Seq::new(0, a, "a"));
        assert_eq!(step(&mut s), [("a", 14)]);
        let mut b = system.clone();
        b.extend([60, 61, 62]);
        s.add(Seq::new(1, b, "b"));
        // Twelve tokens (three blocks) come from the cache.
        assert_eq!(step(&mut s), [("a", 1), ("b", 3)]);
        let st = s.blocks().prefix_stats();
        assert_eq!((st.queried_tokens, st.hit_tokens), (24, 12));
        assert_eq!(s.running()[1].blocks[..3], s.running()[0].blocks[..3]);
    }

    #[test]
    fn running_out_of_blocks_preempts_the_newest_and_it_resumes() {
        // 4 blocks of 4 tokens: two 7-token prompts fit (2 blocks each)
        // until both need a third block.
        let mut s = Scheduler::new(
            BlockManager::new(4, 4),
            Limits {
                max_batch_tokens: 64,
                max_running: 8,
                prefix_caching: false,
            },
        );
        s.add(Seq::new(0, vec![1; 7], "old"));
        s.add(Seq::new(1, vec![2; 7], "new"));
        assert_eq!(step(&mut s), [("old", 7), ("new", 7)]);
        // Each now holds 8 tokens' worth; the 9th needs a block each.
        assert_eq!(step(&mut s), [("old", 1), ("new", 1)]);
        assert_eq!(step(&mut s), [("old", 1)], "the newest waits");
        assert_eq!(s.preemptions(), 1);
        assert_eq!(s.waiting(), 1);
        let old = s.finish(vec![0]);
        assert_eq!(old[0].data, "old");
        // It comes back and recomputes prompt + its generated tokens.
        assert_eq!(step(&mut s), [("new", 9)]);
    }

    #[test]
    fn cancelled_sequences_free_their_blocks() {
        let mut s = sched(8, 64);
        s.add(Seq::new(0, vec![1; 9], "a"));
        s.add(Seq::new(1, vec![2; 9], "b"));
        step(&mut s);
        assert_eq!(s.blocks().used(), 6);
        let gone = s.remove_where(|q| q.data == "a");
        assert_eq!(gone.len(), 1);
        assert_eq!(s.running().len(), 1);
        assert_eq!(s.blocks().used(), 3);
    }
}
