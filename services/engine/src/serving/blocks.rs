//! The block manager: which fixed-size KV blocks each sequence holds, and
//! which full blocks are remembered as a shared prompt prefix.
//!
//! Why blocks: a sequence's keys and values live in `block_size`-token
//! blocks listed in its block table, so memory is taken as a sequence grows
//! instead of reserved for the longest answer it might give, and many
//! sequences fit where one maximum-length reservation would.
//!
//! Why a hash chain: a full block is identified by the hash of its tokens
//! *and* of every token before it (the parent block's hash), because its
//! keys and values depend on the whole prefix. Two prompts that start with
//! the same system text and sources map their first blocks to the same
//! hashes and share those blocks, reference-counted, without recomputing
//! them. When nobody holds a cached block any more it is not freed at once
//! but kept, least recently used first out, until its memory is needed.
//!
//! This is bookkeeping only: no tensors here. The storage the block ids
//! index is [`super::paged::PagedKv`].

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Index of a block in the KV pool.
pub type BlockId = u32;

/// Identity of a full block: the hash of its tokens and of all before it.
pub type BlockHash = [u8; 16];

/// The hash of the full block `tokens` that follows the block `parent`.
/// 128 bits of SHA-256: a collision would hand one prompt another's keys,
/// so a 64-bit hash is not enough for a cache shared by every user.
pub fn block_hash(parent: Option<&BlockHash>, tokens: &[u32]) -> BlockHash {
    let mut h = Sha256::new();
    h.update(parent.map_or(&[0u8; 16][..], |p| &p[..]));
    for t in tokens {
        h.update(t.to_le_bytes());
    }
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// The hashes of the full blocks of `tokens`, chained.
pub fn chain_hashes(tokens: &[u32], block_size: usize) -> Vec<BlockHash> {
    chain_hashes_from(None, tokens, block_size)
}

/// [`chain_hashes`] with the first block chained from `root` (a LoRA
/// adapter's, see [`adapter_root`]) rather than from nothing.
pub fn chain_hashes_from(
    root: Option<&BlockHash>,
    tokens: &[u32],
    block_size: usize,
) -> Vec<BlockHash> {
    let mut out: Vec<BlockHash> = Vec::with_capacity(tokens.len() / block_size);
    for chunk in tokens.chunks_exact(block_size) {
        let h = block_hash(out.last().or(root), chunk);
        out.push(h);
    }
    out
}

/// The root a LoRA adapter's chains start from: the keys and values of
/// the same tokens differ under each adapter (its q/k/v products), so a
/// block cached for one must never be found for another or for the model
/// itself.
pub fn adapter_root(adapter: usize) -> BlockHash {
    let mut h = Sha256::new();
    h.update(b"zhishu lora adapter\0");
    h.update((adapter as u64).to_le_bytes());
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Counts of the prefix cache since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixStats {
    /// Prompt tokens looked up in the cache (full blocks only).
    pub queried_tokens: u64,
    /// Of those, tokens found cached (not recomputed).
    pub hit_tokens: u64,
}

/// Allocation, sharing and eviction of KV blocks.
#[derive(Debug)]
pub struct BlockManager {
    block_size: usize,
    /// Holders of each block.
    refs: Vec<u32>,
    /// The hash a block is cached under, when it is.
    hash: Vec<Option<BlockHash>>,
    /// Blocks with no holder and no cached content.
    free: Vec<BlockId>,
    /// Cached full blocks by hash (held or not).
    cached: HashMap<BlockHash, BlockId>,
    /// Cached blocks nobody holds, by when they were last released: the
    /// first entry is evicted first.
    evictable: BTreeMap<u64, BlockId>,
    /// The `evictable` key of each block in it.
    released_at: Vec<u64>,
    clock: u64,
    stats: PrefixStats,
}

impl BlockManager {
    /// A manager of `blocks` blocks of `block_size` tokens each.
    pub fn new(blocks: usize, block_size: usize) -> Self {
        Self {
            block_size: block_size.max(1),
            refs: vec![0; blocks],
            hash: vec![None; blocks],
            // Popped from the end: low ids first, which keeps tests readable.
            free: (0..blocks as BlockId).rev().collect(),
            cached: HashMap::new(),
            evictable: BTreeMap::new(),
            released_at: vec![0; blocks],
            clock: 0,
            stats: PrefixStats::default(),
        }
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn total(&self) -> usize {
        self.refs.len()
    }

    /// Blocks that can be handed out now (free or evictable).
    pub fn available(&self) -> usize {
        self.free.len() + self.evictable.len()
    }

    /// Blocks held by at least one sequence.
    pub fn used(&self) -> usize {
        self.total() - self.available()
    }

    /// Prefix-cache counts since start.
    pub fn prefix_stats(&self) -> PrefixStats {
        self.stats
    }

    /// Blocks needed to hold `tokens` tokens.
    pub fn blocks_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.block_size)
    }

    /// Takes one block for a new holder: a free one, or else the least
    /// recently released cached one (forgetting its content).
    pub fn allocate(&mut self) -> Option<BlockId> {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let (_, id) = self.evictable.pop_first()?;
                if let Some(h) = self.hash[id as usize].take() {
                    self.cached.remove(&h);
                }
                id
            }
        };
        self.refs[id as usize] = 1;
        Some(id)
    }

    /// Holds the cached blocks that start `tokens`, at most `limit` tokens
    /// of them, and returns them in order (empty on a miss). The caller
    /// owns one reference to each.
    pub fn lookup_prefix(&mut self, tokens: &[u32], limit: usize) -> Vec<BlockId> {
        self.lookup_prefix_from(None, tokens, limit)
    }

    /// [`BlockManager::lookup_prefix`] for chains that start at `root`
    /// (see [`chain_hashes_from`]).
    pub fn lookup_prefix_from(
        &mut self,
        root: Option<&BlockHash>,
        tokens: &[u32],
        limit: usize,
    ) -> Vec<BlockId> {
        let usable = &tokens[..limit.min(tokens.len())];
        let hashes = chain_hashes_from(root, usable, self.block_size);
        let mut out = Vec::new();
        for h in &hashes {
            let Some(&id) = self.cached.get(h) else { break };
            let r = &mut self.refs[id as usize];
            if *r == 0 {
                self.evictable.remove(&self.released_at[id as usize]);
            }
            *r += 1;
            out.push(id);
        }
        out
    }

    /// Counts one admitted sequence's lookup: `queried` prompt tokens in
    /// full blocks, `hit` of them found. (Counted at admission, not per
    /// lookup, so a sequence that waits and looks again counts once.)
    pub fn record_lookup(&mut self, queried: usize, hit: usize) {
        self.stats.queried_tokens += queried as u64;
        self.stats.hit_tokens += hit as u64;
    }

    /// Records that `block` is full and holds the tokens whose chain hash
    /// is `hash`, so later prompts can share it. A block with that content
    /// already cached stays the one found; this one is then not cached.
    pub fn register(&mut self, block: BlockId, hash: BlockHash) {
        if self.hash[block as usize].is_some() || self.cached.contains_key(&hash) {
            return;
        }
        self.hash[block as usize] = Some(hash);
        self.cached.insert(hash, block);
    }

    /// Drops one reference to each block. Blocks nobody holds become free,
    /// or evictable when they are cached (the last released are evicted
    /// last: release a sequence's table in order, so its first blocks,
    /// the most shareable, outlive its tail).
    pub fn release(&mut self, blocks: &[BlockId]) {
        for &id in blocks.iter().rev() {
            let r = &mut self.refs[id as usize];
            debug_assert!(*r > 0, "block {id} released more often than held");
            *r = r.saturating_sub(1);
            if *r == 0 {
                if self.hash[id as usize].is_some() {
                    self.clock += 1;
                    self.released_at[id as usize] = self.clock;
                    self.evictable.insert(self.clock, id);
                } else {
                    self.free.push(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Chains under different adapters (or none) never share a block
        /// hash, whatever the tokens; the model's own chain is the one it
        /// always was.
        #[test]
        fn chains_under_different_adapters_never_meet(
            tokens in proptest::collection::vec(0u32..50, 4..40),
            a in 0usize..8, b in 0usize..8,
        ) {
            let bs = 4;
            proptest::prop_assert_eq!(chain_hashes_from(None, &tokens, bs), chain_hashes(&tokens, bs));
            let ra = adapter_root(a);
            let rb = adapter_root(b);
            let ha = chain_hashes_from(Some(&ra), &tokens, bs);
            let hb = chain_hashes_from(Some(&rb), &tokens, bs);
            let base = chain_hashes(&tokens, bs);
            for h in &ha {
                proptest::prop_assert!(!base.contains(h));
                if a != b {
                    proptest::prop_assert!(!hb.contains(h));
                }
            }
            if a == b {
                proptest::prop_assert_eq!(ha, hb);
            }
        }
    }

    fn full_table(m: &mut BlockManager, tokens: &[u32]) -> Vec<BlockId> {
        let hashes = chain_hashes(tokens, m.block_size());
        let mut table = Vec::new();
        for h in hashes {
            let b = m.allocate().unwrap();
            m.register(b, h);
            table.push(b);
        }
        table
    }

    #[test]
    fn shared_prefixes_are_found_counted_and_kept_until_needed() {
        let mut m = BlockManager::new(4, 4);
        let a: Vec<u32> = (0..12).collect();
        let table = full_table(&mut m, &a);
        assert_eq!(m.used(), 3);
        // Same first 8 tokens, then different: two blocks shared.
        let mut b = a[..8].to_vec();
        b.extend([90, 91, 92, 93, 94]);
        let hit = m.lookup_prefix(&b, b.len() - 1);
        assert_eq!(hit, table[..2]);
        assert_eq!(m.used(), 3, "shared, not copied");
        // The first sequence ends: its blocks stay cached, b keeps two.
        m.release(&table);
        assert_eq!(m.used(), 2);
        assert_eq!(m.available(), 2);
        // A different prefix misses.
        assert!(m.lookup_prefix(&[7; 8], 8).is_empty());
        // Needing every free block evicts the unheld cached block.
        let x = m.allocate().unwrap();
        let y = m.allocate().unwrap();
        assert!(m.allocate().is_none(), "two are held by b");
        assert!(!table[..2].contains(&x) && !table[..2].contains(&y));
        // The evicted block is no longer found; the held ones still are.
        m.release(&[x, y]);
        assert_eq!(m.lookup_prefix(&a, a.len()).len(), 2);
    }

    #[test]
    fn a_prefix_is_looked_up_only_in_whole_blocks_within_the_limit() {
        let mut m = BlockManager::new(8, 4);
        let a: Vec<u32> = (0..8).collect();
        let t = full_table(&mut m, &a);
        m.release(&t);
        // The whole prompt is cached, but its last token must be computed
        // again for its logits: the limit leaves the last block out.
        assert_eq!(m.lookup_prefix(&a, a.len() - 1).len(), 1);
        // Hash chains: the same block after a different one is a miss.
        let mut c = vec![100, 101, 102, 103];
        c.extend(&a[4..]);
        assert!(m.lookup_prefix(&c, c.len()).is_empty());
    }

    #[test]
    fn least_recently_released_blocks_are_evicted_first() {
        let mut m = BlockManager::new(2, 2);
        let a = full_table(&mut m, &[1, 2]);
        let b = full_table(&mut m, &[3, 4]);
        m.release(&a);
        m.release(&b);
        let x = m.allocate().unwrap();
        assert_eq!(x, a[0]);
        assert_eq!(m.lookup_prefix(&[3, 4, 5], 3), b);
        assert!(m.lookup_prefix(&[1, 2, 5], 3).is_empty());
    }
}
