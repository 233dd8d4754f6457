//! The trie below the direct array: 6-bit-stride nodes with popcount-indexed children and
//! compressed, leaf-pushed leaves, and their updates and compaction.

use super::arch::prefetch;
use super::{BATCH_LANES, NODE, NONE, Route, RouteTable, mask};

/// Slots per node.
const STRIDE: u8 = 6;
/// Garbage tolerated in an arena beyond the live entries before it is compacted.
const SLACK: usize = 64;

/// A trie node at depth `depth`: addresses with the first `depth` bits of its key (kept
/// beside it in `RouteTable::keys`) continue through slot `address bits depth..depth + 6`
/// (bits past 128 read as zero); other addresses take its inherited route. 32 bytes, two per
/// cache line. The last [`FRAG_BITS`] bits of its key above `depth` are kept in the node
/// too, so that a lookup checks a node that skipped up to four levels without reading the
/// key.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(32))]
pub(super) struct Node {
    /// Slots that continue in a child node.
    pub(super) vector: u64,
    /// Among the other slots, those that start a run of equal leaves.
    pub(super) leafvec: u64,
    /// Index in the node arena of the first child (children are contiguous, in slot order).
    pub(super) base0: u32,
    /// Index in the leaf arena of the inherited route, followed by one route per leaf run.
    pub(super) base1: u32,
    /// The routes whose length is in `depth + 1..=depth + 6`, as a list through the slab.
    pub(super) own: u32,
    /// Bits fixed above this node: `k + 6j`, below 128.
    pub(super) depth: u8,
    /// Key bits `depth - 24..depth` ([`fragment`]), little-endian.
    pub(super) frag: [u8; 3],
}

// Two nodes per cache line.
const _: () = assert!(size_of::<Node>() == 32);

/// Key bits a node holds itself: a node that skipped at most this many bits is checked
/// against them alone.
const FRAG_BITS: u8 = 24;

/// Bits `depth - 24..depth` of `a` (fewer when `depth` is below 24), as the low bits.
#[inline(always)]
pub(super) fn fragment(a: u128, depth: u8) -> u32 {
    ((a >> (128 - u32::from(depth))) as u32) & ((1 << FRAG_BITS) - 1)
}

impl Node {
    /// Whether `a`, which matches this node's key in the bits above `expect` (the depth it
    /// would have without skipping), leaves the node's compressed path; `key` is read only for
    /// a skip longer than [`FRAG_BITS`].
    #[inline(always)]
    fn off_path(&self, a: u128, expect: u8, key: impl FnOnce() -> u128) -> bool {
        if self.depth == expect {
            false
        } else if self.depth - expect <= FRAG_BITS {
            let [x, y, z] = self.frag;
            fragment(a, self.depth) != u32::from_le_bytes([x, y, z, 0])
        } else {
            (a ^ key()).leading_zeros() < u32::from(self.depth)
        }
    }
}

/// The 6 address bits from bit `depth` (0 = most significant; `depth` below 128).
#[inline]
fn slot(a: u128, depth: u8) -> u32 {
    ((a << depth) >> (128 - u32::from(STRIDE))) as u32
}

/// Makes room for `extra` more entries in an arena, growing it by half when it must grow
/// (not doubling), so that its allocation stays within 1.5 times its length plus one update.
fn room<X>(v: &mut Vec<X>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 2));
    }
}

/// The index among a node's children of the child at slot `s` (set in `vector`): the set
/// bits below it. A full node (64 children, common where routes are dense) needs no count,
/// which matters where `count_ones` is not one instruction (x86-64 before v2).
#[inline]
fn child_rank(vector: u64, s: u32) -> u32 {
    if vector == u64::MAX {
        s
    } else {
        (vector & ((1u64 << s) - 1)).count_ones()
    }
}

/// Set bits of `v` strictly below bit `s`.
fn rank(v: u64, s: u32) -> usize {
    (v & ((1u64 << s) - 1)).count_ones() as usize
}

impl<T: Copy> RouteTable<T> {
    /// The index in the leaf arena of the route for `a` below node `i`; the lookup's inner
    /// loop. Inlined into its callers, which compile it with `popcnt` where they can
    /// ([`with_popcnt`](super::arch::with_popcnt)).
    #[inline(always)]
    pub(super) fn descend(&self, a: u128, mut i: usize) -> usize {
        // The depth node `i` has if it skips no level; the bits above it are checked.
        let mut expect = self.k;
        loop {
            let n = &self.nodes[i];
            if n.off_path(a, expect, || self.keys[i]) {
                // Off the node's compressed path: what the parent's slot held.
                return n.base1 as usize;
            }
            let s = slot(a, n.depth);
            let bit = 1u64 << s;
            if n.vector & bit != 0 {
                i = n.base0 as usize + child_rank(n.vector, s) as usize;
                expect = n.depth + STRIDE;
                continue;
            }
            let run = (n.leafvec & (bit | (bit - 1))).count_ones() as usize;
            return n.base1 as usize + run;
        }
    }

    /// Starts loading node `i`.
    #[inline(always)]
    fn prefetch_node(&self, i: u32) {
        prefetch(&self.nodes, i as usize);
    }

    /// The route indices for the first `n` addresses of `a` into `found`: the direct array,
    /// then [`descend`](Self::descend) of every address still in a node, one level at a time
    /// across the addresses, then the leaves. Within a level, the node reads of different
    /// addresses are independent, so the processor overlaps their cache misses; each read is
    /// also asked for (prefetched) as soon as its index is known, a whole level before it is
    /// made. Inlined like [`descend`](Self::descend).
    #[inline(always)]
    pub(super) fn resolve_lanes(
        &self,
        a: &[u128; BATCH_LANES],
        n: usize,
        found: &mut [u32; BATCH_LANES],
    ) {
        const LANE: usize = BATCH_LANES - 1;
        // Per lane: the node it is at (while walking), then its leaf index.
        let mut at = [0u32; BATCH_LANES];
        let mut expect = [self.k; BATCH_LANES];
        // The lanes still walking (the first `walking` entries), and the lanes in a leaf.
        let mut active = [0u8; BATCH_LANES];
        let mut walking = 0;
        let mut in_leaf = 0u32;
        for j in 0..n.min(BATCH_LANES) {
            let e = self.dir[self.dir_slot(a[j])];
            if e & NODE == 0 {
                found[j] = e;
            } else {
                at[j] = e & !NODE;
                self.prefetch_node(at[j]);
                active[walking & LANE] = j as u8;
                walking += 1;
                in_leaf |= 1 << j;
            }
        }
        while walking > 0 {
            let mut still = 0;
            for t in 0..walking {
                let j = usize::from(active[t & LANE]) & LANE;
                let i = at[j] as usize;
                let node = &self.nodes[i];
                if node.off_path(a[j], expect[j], || self.keys[i]) {
                    at[j] = node.base1;
                    prefetch(&self.leaves, at[j] as usize);
                    continue;
                }
                let s = slot(a[j], node.depth);
                let bit = 1u64 << s;
                if node.vector & bit != 0 {
                    at[j] = node.base0 + child_rank(node.vector, s);
                    expect[j] = node.depth + STRIDE;
                    self.prefetch_node(at[j]);
                    active[still & LANE] = j as u8;
                    still += 1;
                } else {
                    at[j] = node.base1 + (node.leafvec & (bit | (bit - 1))).count_ones();
                    prefetch(&self.leaves, at[j] as usize);
                }
            }
            walking = still;
        }
        while in_leaf != 0 {
            let j = in_leaf.trailing_zeros() as usize & LANE;
            in_leaf &= in_leaf - 1;
            found[j] = self.leaves[at[j] as usize];
        }
    }

    /// The depth of the node that holds routes of `len` bits (`len > k`).
    fn level(&self, len: u8) -> u8 {
        self.floor_level(len - 1)
    }

    /// The deepest node depth (`k + 6j`) at most `x` (`x >= k`).
    fn floor_level(&self, x: u8) -> u8 {
        self.k + (x - self.k) / STRIDE * STRIDE
    }

    /// The index of node `i`'s child at slot `s`, if that slot has one.
    fn child(&self, i: usize, s: u32) -> Option<usize> {
        let n = &self.nodes[i];
        (n.vector >> s & 1 == 1).then(|| n.base0 as usize + rank(n.vector, s))
    }

    /// The leaf value of node `i`'s slot `s`, which has no child.
    fn leaf(&self, i: usize, s: u32) -> u32 {
        let n = &self.nodes[i];
        self.leaves[n.base1 as usize + (n.leafvec & (u64::MAX >> (63 - s))).count_ones() as usize]
    }

    /// The node holding the route list for routes of `len > k` bits with prefix `key`, with
    /// the parent node and slot it hangs from (`None` for a direct entry).
    pub(super) fn owner(&self, key: u128, len: u8) -> Option<(usize, Option<(usize, u32)>)> {
        let e = self.dir[self.dir_slot(key)];
        if e & NODE == 0 {
            return None;
        }
        let mut i = (e & !NODE) as usize;
        let mut parent = None;
        loop {
            let n = &self.nodes[i];
            if (key ^ self.keys[i]).leading_zeros() < u32::from(n.depth) || len <= n.depth {
                return None;
            }
            if len <= n.depth + STRIDE {
                return Some((i, parent));
            }
            let s = slot(key, n.depth);
            parent = Some((i, s));
            i = self.child(i, s)?;
        }
    }

    /// A node at `depth` with prefix `key`, route list `own` and a fresh leaf block holding
    /// only `inherited`; [`refresh`](Self::refresh) fills in its leaves once it is placed.
    /// Returns the node and its key.
    fn new_node(&mut self, key: u128, depth: u8, own: u32, inherited: u32) -> (Node, u128) {
        room(&mut self.leaves, 1);
        let base1 = self.leaves.len() as u32;
        self.leaves.push(inherited);
        let key = key & mask(depth);
        let [x, y, z, _] = fragment(key, depth).to_le_bytes();
        let node = Node {
            vector: 0,
            leafvec: 0,
            base0: 0,
            base1,
            own,
            depth,
            frag: [x, y, z],
        };
        (node, key)
    }

    /// Appends nodes `range` (with their keys) to the node arena.
    fn copy_nodes(&mut self, range: core::ops::Range<usize>) {
        self.nodes.extend_from_within(range.clone());
        self.keys.extend_from_within(range);
    }

    /// Appends one node and its key to the node arena.
    fn push_node(&mut self, (node, key): (Node, u128)) {
        self.nodes.push(node);
        self.keys.push(key);
    }

    /// Makes room for `extra` more nodes.
    fn node_room(&mut self, extra: usize) {
        room(&mut self.nodes, extra);
        room(&mut self.keys, extra);
    }

    /// Recomputes node `i`'s leaves from its own routes and its inherited route (the first
    /// word of its leaf block), then pushes changed slot values into the children they
    /// reach. Costs 64 slots plus the slots its routes cover, per node whose inherited route
    /// changes.
    pub(super) fn refresh(&mut self, i: usize) {
        let n = self.nodes[i];
        let inherited = self.leaves[n.base1 as usize];
        let mut value = [inherited; 64];
        let mut best = [0u8; 64];
        let mut r = n.own;
        while r != NONE {
            let Route { key, len, next, .. } = self.routes[r as usize];
            // An own route has depth < len <= depth + 6: it fixes `len - depth` slot bits.
            let span = 1usize << (n.depth + STRIDE - len);
            let start = slot(key, n.depth) as usize & !(span - 1);
            for s in start..start + span {
                if len > best[s] {
                    best[s] = len;
                    value[s] = r;
                }
            }
            r = next;
        }
        let mut leafvec = 0u64;
        let mut runs = [0u32; 64];
        let mut nruns = 0;
        let mut prev = None;
        for (s, &v) in value.iter().enumerate() {
            if n.vector >> s & 1 == 0 && prev != Some(v) {
                leafvec |= 1 << s;
                runs[nruns] = v;
                nruns += 1;
                prev = Some(v);
            }
        }
        let old_len = 1 + n.leafvec.count_ones() as usize;
        let base1 = if old_len == 1 + nruns {
            n.base1 as usize
        } else {
            self.garbage_leaves += old_len;
            room(&mut self.leaves, 1 + nruns);
            self.leaves.push(inherited);
            self.leaves.extend_from_slice(&runs[..nruns]);
            self.leaves.len() - 1 - nruns
        };
        self.leaves[base1 + 1..base1 + 1 + nruns].copy_from_slice(&runs[..nruns]);
        let node = &mut self.nodes[i];
        node.leafvec = leafvec;
        node.base1 = base1 as u32;
        let mut v = n.vector;
        let mut c = n.base0 as usize;
        while v != 0 {
            let s = v.trailing_zeros() as usize;
            v &= v - 1;
            let b = self.nodes[c].base1 as usize;
            if self.leaves[b] != value[s] {
                self.leaves[b] = value[s];
                self.refresh(c);
            }
            c += 1;
        }
    }

    /// Hangs `child` from node `p`'s slot `s` (which has none), copying `p`'s children into
    /// a block one larger. Returns the child's index. `p`'s leaves are left to refresh.
    fn add_child(&mut self, p: usize, s: u32, child: (Node, u128)) -> usize {
        let n = self.nodes[p];
        let count = n.vector.count_ones() as usize;
        let at = rank(n.vector, s);
        self.node_room(count + 1);
        let base0 = self.nodes.len();
        let old = n.base0 as usize;
        self.copy_nodes(old..old + at);
        self.push_node(child);
        self.copy_nodes(old + at..old + count);
        self.garbage_nodes += count;
        let node = &mut self.nodes[p];
        node.vector |= 1 << s;
        node.base0 = base0 as u32;
        base0 + at
    }

    /// Drops node `p`'s child at slot `s` (whose own block is already accounted as garbage),
    /// copying the rest into a block one smaller. `p`'s leaves are left to refresh.
    fn remove_child(&mut self, p: usize, s: u32) {
        let n = self.nodes[p];
        let count = n.vector.count_ones() as usize;
        let at = rank(n.vector, s);
        let old = n.base0 as usize;
        self.node_room(count - 1);
        let base0 = self.nodes.len();
        self.copy_nodes(old..old + at);
        self.copy_nodes(old + at + 1..old + count);
        self.garbage_nodes += count;
        let node = &mut self.nodes[p];
        node.vector &= !(1 << s);
        node.base0 = if count > 1 { base0 as u32 } else { 0 };
    }

    /// Replaces node `i`, which holds no route and has one child, by that child, which
    /// inherits what `i` inherited (path compression).
    fn collapse(&mut self, i: usize) {
        let n = self.nodes[i];
        let inherited = self.leaves[n.base1 as usize];
        self.garbage_leaves += 1 + n.leafvec.count_ones() as usize;
        self.garbage_nodes += 1;
        let child = self.nodes[n.base0 as usize];
        self.nodes[i] = child;
        self.keys[i] = self.keys[n.base0 as usize];
        self.leaves[child.base1 as usize] = inherited;
        self.refresh(i);
    }

    /// Adds route `r` of more than `k` bits (not yet in the table).
    pub(super) fn insert_long(&mut self, r: u32) {
        let Route { key, len, .. } = self.routes[r as usize];
        let s0 = self.dir_slot(key);
        let e = self.dir[s0];
        if e & NODE == 0 {
            // The direct entry becomes a node holding just this route.
            let node = self.new_node(key, self.level(len), r, e);
            self.node_room(1);
            let i = self.nodes.len();
            self.push_node(node);
            self.dir[s0] = NODE | i as u32;
            self.refresh(i);
            return;
        }
        let mut i = (e & !NODE) as usize;
        loop {
            let n = self.nodes[i];
            let nkey = self.keys[i];
            let common = (key ^ nkey).leading_zeros() as u8;
            if common >= n.depth && len > n.depth {
                if len <= n.depth + STRIDE {
                    // One of this node's routes.
                    self.routes[r as usize].next = n.own;
                    self.nodes[i].own = r;
                    self.refresh(i);
                    return;
                }
                let s = slot(key, n.depth);
                if let Some(c) = self.child(i, s) {
                    i = c;
                    continue;
                }
                // A leaf slot: a new child node holding just this route.
                let inherited = self.leaf(i, s);
                let child = self.new_node(key, self.level(len), r, inherited);
                let c = self.add_child(i, s, child);
                self.refresh(c);
                self.refresh(i);
                return;
            }
            // The route leaves node `i`'s compressed path, or ends above it: a new node `m`
            // at the deepest level above `i` shared by both takes `i`'s place, with `i` as
            // one child and the route as its own or in a second child. `d` is at least the
            // depth where `i`'s parent slot ends, as both agree on the bits down to there.
            let d = self.floor_level(common.min(len - 1).min(n.depth - 1));
            let inherited = self.leaves[n.base1 as usize];
            let (mut m, mkey) = self.new_node(key, d, NONE, inherited);
            let si = slot(nkey, d);
            self.node_room(2);
            m.base0 = self.nodes.len() as u32;
            if len <= d + STRIDE {
                m.own = r;
                m.vector = 1 << si;
                self.push_node((n, nkey));
            } else {
                // Different slots, or a deeper `d` would have been shared by both.
                let sr = slot(key, d);
                let new = self.new_node(key, self.level(len), r, inherited);
                m.vector = (1 << si) | (1 << sr);
                let (first, second) = if si < sr {
                    ((n, nkey), new)
                } else {
                    (new, (n, nkey))
                };
                self.push_node(first);
                self.push_node(second);
                self.refresh(m.base0 as usize + usize::from(sr > si));
            }
            self.nodes[i] = m;
            self.keys[i] = mkey;
            self.refresh(i);
            return;
        }
    }

    /// Removes the route (key, len) of more than `k` bits, returning its slab index; nodes
    /// left with no route and fewer than two children are merged away.
    pub(super) fn remove_long(&mut self, key: u128, len: u8) -> Option<u32> {
        let (i, parent) = self.owner(key, len)?;
        let (r, prev) = self.find_in_list(self.nodes[i].own, key, len)?;
        let next = self.routes[r as usize].next;
        if prev == NONE {
            self.nodes[i].own = next;
        } else {
            self.routes[prev as usize].next = next;
        }
        let n = self.nodes[i];
        let children = n.vector.count_ones();
        if n.own != NONE || children >= 2 {
            self.refresh(i);
        } else if children == 1 {
            self.collapse(i);
        } else {
            self.garbage_leaves += 1 + n.leafvec.count_ones() as usize;
            match parent {
                None => {
                    self.garbage_nodes += 1;
                    let s0 = self.dir_slot(key);
                    self.dir[s0] = self.leaves[n.base1 as usize];
                }
                Some((p, s)) => {
                    self.remove_child(p, s);
                    self.refresh(p);
                    let pn = self.nodes[p];
                    if pn.own == NONE && pn.vector.count_ones() == 1 {
                        self.collapse(p);
                    }
                }
            }
        }
        Some(r)
    }

    /// Compacts the arenas when their garbage exceeds half their live entries (plus
    /// [`SLACK`]): amortised, each update pays for copying twice what it made garbage.
    pub(super) fn maybe_compact(&mut self) {
        let live_nodes = self.nodes.len() - self.garbage_nodes;
        let live_leaves = self.leaves.len() - self.garbage_leaves;
        if self.garbage_nodes > live_nodes / 2 + SLACK
            || self.garbage_leaves > live_leaves / 2 + SLACK
        {
            self.compact();
        }
    }

    /// Copies every live node and leaf block into fresh arenas, depth first from the direct
    /// array, so a node's children and leaves sit near it.
    pub(super) fn compact(&mut self) {
        let live_nodes = self.nodes.len() - self.garbage_nodes;
        let live_leaves = self.leaves.len() - self.garbage_leaves;
        let mut nodes = Vec::with_capacity(live_nodes + live_nodes / 8 + SLACK);
        let mut keys = Vec::with_capacity(live_nodes + live_nodes / 8 + SLACK);
        let mut leaves = Vec::with_capacity(live_leaves + live_leaves / 8 + SLACK);
        let mut stack = Vec::new();
        for e in self.dir.iter_mut() {
            if *e & NODE != 0 {
                stack.push(nodes.len());
                nodes.push(self.nodes[(*e & !NODE) as usize]);
                keys.push(self.keys[(*e & !NODE) as usize]);
                *e = NODE | (nodes.len() - 1) as u32;
            }
            while let Some(i) = stack.pop() {
                let n: Node = nodes[i];
                let base1 = leaves.len();
                let l = n.base1 as usize;
                let end = l + 1 + n.leafvec.count_ones() as usize;
                leaves.extend_from_slice(&self.leaves[l..end]);
                let count = n.vector.count_ones() as usize;
                let base0 = nodes.len();
                let c = n.base0 as usize;
                nodes.extend_from_slice(&self.nodes[c..c + count]);
                keys.extend_from_slice(&self.keys[c..c + count]);
                stack.extend(base0..base0 + count);
                nodes[i].base0 = if count > 0 { base0 as u32 } else { 0 };
                nodes[i].base1 = base1 as u32;
            }
        }
        self.nodes = nodes;
        self.keys = keys;
        self.leaves = leaves;
        self.garbage_nodes = 0;
        self.garbage_leaves = 0;
    }
}
