//! An IPv6 forwarding table: longest-prefix match in a few memory reads, over bounded memory.
//!
//! [`RouteTable`] maps IPv6 prefixes ([`Ipv6Cidr`]) to a value `T` the caller chooses (a next
//! hop, a link id) and answers "which route does this destination take" with the longest
//! matching prefix: prefixes of any bit length as in RFC 4291 §2.5, chosen by the longest-match
//! rule of RFC 1812 §5.2.4.3, which IPv6 forwarding uses as well.
//!
//! # Design
//!
//! The table is a multibit trie in the style of Poptrie (Asai and Ohara, "Poptrie: A Compressed
//! Trie with Population Count for Fast and Scalable Software IP Routing Table Lookup",
//! SIGCOMM 2015), with path compression added for the sparse IPv6 address space:
//!
//! - **A direct-pointing array** indexed by the first `k` address bits (`k` = 16 for tables of
//!   8,192 routes or more, fewer for small tables so that a ten-route table does not carry a
//!   256 KiB array). Each entry is either the longest route of at most `k` bits covering it, or
//!   a trie node.
//! - **Nodes with 6-bit strides.** A node at depth `d` (its first `d` bits are fixed) resolves
//!   address bits `d..d + 6` with two 64-bit bitmaps: `vector` marks the 64 slots that continue
//!   in a child node, `leafvec` marks where a run of equal leaf values starts among the others.
//!   Children are stored next to each other and leaf runs next to each other, so a slot's child
//!   or leaf is found by counting the set bits below it ([`u64::count_ones`]).
//! - **Leaf pushing.** A leaf holds the longest route covering its whole slot, including routes
//!   of shorter nodes above, so a lookup stops at the first leaf and never backtracks. Each
//!   node also holds the route its parent's slot would have given (`inherited`).
//! - **Path compression.** Node depths are `k + 6j`, but a child skips every level in which
//!   none of its routes ends and all of them agree (a lone /64 under a /16 is one node, not
//!   eight). A node that skipped levels has its prefix compared with the address (the prefix
//!   is kept beside the node, so the 32-byte nodes of unskipped paths stay two to a cache
//!   line); an address that leaves the prefix takes the node's inherited route. So every
//!   node holds a route of its own or has two children or more.
//!
//! Poptrie was chosen over Tree Bitmap (Eatherton, Varghese and Dittia, 2004) because leaf
//! pushing lets a lookup finish at the first leaf with one node read per level, while Tree
//! Bitmap must also test each node's internal-prefix bitmap on the way down, remember the best
//! match, and read its result array afterwards. Poptrie pays for it on updates (a route change
//! must be pushed into the nodes below it); routers look up far more often than they change
//! routes.
//!
//! # Costs
//!
//! With `n` routes (at most `max_routes`):
//!
//! - **Lookup** reads the direct array, one node per level on the address's path (at most
//!   `ceil((128 - k) / 6)`, so 19; path compression makes it the number of levels in which
//!   the routes on that path branch or end: a /64 under a /32 with /48s and /56s around it
//!   is about six), one leaf word and the route. It depends on the prefix lengths on the
//!   address's path, not on the number of routes elsewhere; it never allocates and cannot
//!   panic. In a table larger than the caches each of these reads can miss, and each
//!   depends on the one before; [`lookup_batch`](RouteTable::lookup_batch) walks up to
//!   [`BATCH_LANES`] addresses together, one level at a time, and asks the processor to
//!   start loading each lane's next node (and its key) as soon as its index is known, so
//!   that the misses of different addresses overlap instead of waiting for each other. Bit
//!   counts use the `popcnt` instruction where the processor has it (detected at run time;
//!   Rust's default x86-64 target does not assume it). See BENCHMARKS.md for the router
//!   benchmark at 100,000 routes and 65,536 destinations.
//! - **Insert and remove** walk the same path, rebuild the leaves of the one node the route
//!   belongs to (64 slots) and, where the route changes what a child node inherits, push the
//!   change down into that child's subtree (leaf pushing); adding or dropping a child copies
//!   the parent's block of at most 64 children. A route of at most `k` bits also rewrites the
//!   `2^(k - len)` direct entries it covers. So an update costs `O(64 × nodes whose inherited
//!   route changes)`: a few nodes for a typical /48 or /64, the whole covered part of the
//!   table for a short route such as a new default route. Exact-prefix
//!   [`get`](RouteTable::get) and replacing a value walk the path and scan the at most 126
//!   routes of one node (or the at most `k + 1` short routes of one direct entry).
//! - **Memory** (all in `Vec`s; [`RouteTable::memory_bytes`] reports the total):
//!   - allocated by [`with_capacity`](RouteTable::with_capacity) and never grown: the route
//!     slab, `max_routes × 32` bytes (a route is a `u128` prefix, a `u32` link and a `u8`
//!     length, aligned to 32), the values beside it, `max_routes × size_of::<T>()` (apart,
//!     so that a lookup reads a dense array), and two arrays of `2^k` `u32`s
//!     (`64 ≤ 2^k ≤ 8 × max_routes` and `2^k ≤ 65,536`);
//!   - grown on demand: live nodes, `N ≤ 2n` of 48 bytes (every node holds a route or
//!     branches), and live leaf words, `L ≤ 2N + 2n ≤ 6n` of 4 bytes (per node its
//!     inherited route and its leaf runs, at most one plus two per route of the node).
//!     Nodes and leaf blocks an update replaces become garbage; after any update that leaves
//!     an arena with more garbage than half its live entries plus 64, both arenas are copied
//!     into compact ones (each update pays, amortised, for copying twice what it made
//!     garbage). So between updates an arena's length is at most `1.5 × live + 64`, and its
//!     allocation at most 1.5 times the longest it has been since it was last compacted.
//!
//!   Measured (the route table benchmark): 110-165 bytes per route at 10,000-100,000
//!   routes. The worst case, from the bounds above, is about
//!   `(32 + size_of::<T>()) × max_routes + 8 × 2^k + 4.5 × (96 + 24) × n` bytes, since an update that rewrites
//!   every node's leaves (a new default route, say) can briefly grow an arena to three times
//!   its live entries.
//! - **Full**: inserting a new prefix into a table that holds `max_routes` routes is an error
//!   ([`TableFull`]) and leaves the table unchanged. Replacing the value of an existing prefix
//!   always succeeds.
//! - **Prefix bits past the length are ignored**: `2001:db8::1/32` is stored, reported and
//!   matched as `2001:db8::/32`.
//!
//! The module needs feature `std` (for the `Vec`s).
//!
//! ```
//! use bridgeless_iface::route_table::RouteTable;
//! use smoltcp::wire::{Ipv6Address, Ipv6Cidr};
//!
//! let mut table = RouteTable::with_capacity(16);
//! table.insert(Ipv6Cidr::new(Ipv6Address::UNSPECIFIED, 0), 1).unwrap(); // default route
//! table.insert(Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), 2).unwrap();
//! let (cidr, link) = table.lookup(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)).unwrap();
//! assert_eq!((cidr.prefix_len(), link), (32, 2));
//! assert_eq!(table.lookup(Ipv6Address::LOCALHOST).unwrap().1, 1);
//! ```
#![cfg(feature = "std")]

use core::fmt;

use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

mod arch;
mod node;
#[cfg(test)]
mod tests;

use node::Node;

/// "No route": a leaf or direct entry that no route covers, and the end of a route list.
const NONE: u32 = 0x7fff_ffff;
/// Set in a direct entry that holds a node index rather than a route index.
const NODE: u32 = 1 << 31;
/// The `len` of a free route slot.
const FREE: u8 = u8::MAX;
/// The most lookups [`RouteTable::lookup_batch`] walks together: enough independent reads
/// in flight to cover the latency of the caches beyond the first level, few enough that
/// their state stays in registers and the first-level cache.
pub const BATCH_LANES: usize = 16;
/// The most routes a table may be made for (2^26), so that every internal index fits in 31 bits.
pub const MAX_ROUTES: usize = 1 << 26;

/// The error of inserting a new prefix into a table that already holds its `max_routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

impl fmt::Display for TableFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("route table full")
    }
}

impl core::error::Error for TableFull {}

/// One route, or a free slot (`len == FREE`, `next` links the free list); its value is in
/// `RouteTable::values` at the same index. Aligned so that a route sits in one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(align(32))]
struct Route {
    /// The prefix, with the bits past `len` zero.
    key: u128,
    /// The next route of the same node's (or direct entry's) list, or the next free slot.
    next: u32,
    /// Prefix length 0..=128, or [`FREE`].
    len: u8,
}

/// An IPv6 longest-prefix-match table of at most `max_routes` routes; see the
/// [module documentation](self).
#[derive(Clone)]
pub struct RouteTable<T: Copy> {
    /// Bits resolved by the direct array (6..=16).
    k: u8,
    /// `2^k` entries: a route index (maybe [`NONE`]) or `NODE | node index`.
    dir: Vec<u32>,
    /// Per direct entry, the list of routes of at most `k` bits whose prefix starts there.
    short: Vec<u32>,
    /// Node arena: a node's children are contiguous, from its `base0`.
    nodes: Vec<Node>,
    /// Each node's prefix (bits past its depth zero), beside `nodes`: read by a lookup only
    /// at a node that skips levels (path compression).
    keys: Vec<u128>,
    /// Leaf arena: from a node's `base1`, its inherited route, then one route per leaf run.
    leaves: Vec<u32>,
    /// Route slab, preallocated for `max_routes`.
    routes: Vec<Route>,
    /// Each route's value, at its slab index: apart from the slab, so that the data plane
    /// (which needs only the value) reads a dense array of `T`s — 400 KB for 100,000 routes
    /// of a 4-byte `T`, where the slab is 3.2 MB — that stays in the processor's caches.
    values: Vec<T>,
    /// Head of the free list of route slots.
    free_route: u32,
    /// Number of routes.
    count: usize,
    /// The most routes this table will hold.
    max_routes: usize,
    /// Entries of `nodes` no longer referenced.
    garbage_nodes: usize,
    /// Entries of `leaves` no longer referenced.
    garbage_leaves: usize,
}

impl<T: Copy> fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("len", &self.count)
            .field("capacity", &self.max_routes)
            .field("direct_bits", &self.k)
            .field("nodes", &(self.nodes.len() - self.garbage_nodes))
            .field("leaf_words", &(self.leaves.len() - self.garbage_leaves))
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

/// `len` leading one bits.
fn mask(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// The masked key and length of a CIDR.
fn key_of(cidr: &Ipv6Cidr) -> (u128, u8) {
    let len = cidr.prefix_len().min(128);
    (u128::from(cidr.address()) & mask(len), len)
}

fn cidr_of(key: u128, len: u8) -> Ipv6Cidr {
    Ipv6Cidr::new(Ipv6Address::from(key), len)
}

/// Direct-array bits for a table of `max_routes`: about `4 × max_routes` entries, 64 to 65,536.
fn direct_bits(max_routes: usize) -> u8 {
    let bits = usize::BITS - max_routes.leading_zeros();
    (bits + 2).clamp(6, 16) as u8
}

impl<T: Copy> RouteTable<T> {
    /// An empty table for at most `max_routes` routes.
    ///
    /// Allocates the route slab and the direct array now; nodes are allocated as routes
    /// arrive, within the bound given in the [module documentation](self).
    ///
    /// # Panics
    ///
    /// If `max_routes` exceeds [`MAX_ROUTES`] (2^26; indices are `u32`).
    pub fn with_capacity(max_routes: usize) -> Self {
        assert!(max_routes <= MAX_ROUTES, "RouteTable: max_routes too large");
        let k = direct_bits(max_routes);
        RouteTable {
            k,
            dir: vec![NONE; 1 << k],
            short: vec![NONE; 1 << k],
            nodes: Vec::new(),
            keys: Vec::new(),
            leaves: Vec::new(),
            routes: Vec::with_capacity(max_routes),
            values: Vec::with_capacity(max_routes),
            free_route: NONE,
            count: 0,
            max_routes,
            garbage_nodes: 0,
            garbage_leaves: 0,
        }
    }

    /// The number of routes in the table.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the table holds no route.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The most routes the table holds (the `max_routes` it was made with).
    pub fn capacity(&self) -> usize {
        self.max_routes
    }

    /// Bytes of heap memory the table holds now (allocated, not only used).
    pub fn memory_bytes(&self) -> usize {
        self.dir.capacity() * 4
            + self.short.capacity() * 4
            + self.nodes.capacity() * size_of::<Node>()
            + self.keys.capacity() * size_of::<u128>()
            + self.leaves.capacity() * 4
            + self.routes.capacity() * size_of::<Route>()
            + self.values.capacity() * size_of::<T>()
    }

    /// Removes every route; keeps the allocation.
    pub fn clear(&mut self) {
        self.dir.fill(NONE);
        self.short.fill(NONE);
        self.nodes.clear();
        self.keys.clear();
        self.leaves.clear();
        self.routes.clear();
        self.values.clear();
        self.free_route = NONE;
        self.count = 0;
        self.garbage_nodes = 0;
        self.garbage_leaves = 0;
    }

    /// Adds a route for `cidr` (bits past its prefix length ignored), or replaces the value of
    /// the existing route for exactly that prefix.
    ///
    /// Returns the replaced value, if any. A new prefix in a table already holding
    /// [`capacity`](Self::capacity) routes is refused with [`TableFull`], leaving the table
    /// unchanged; replacing a value never fails.
    pub fn insert(&mut self, cidr: Ipv6Cidr, value: T) -> Result<Option<T>, TableFull> {
        let (key, len) = key_of(&cidr);
        if let Some(r) = self.find(key, len) {
            return Ok(Some(core::mem::replace(
                &mut self.values[r as usize],
                value,
            )));
        }
        if self.count >= self.max_routes {
            return Err(TableFull);
        }
        let r = self.alloc_route(key, len, value);
        if len <= self.k {
            self.insert_short(r);
        } else {
            self.insert_long(r);
        }
        self.count += 1;
        self.maybe_compact();
        Ok(None)
    }

    /// Removes the route for exactly `cidr` (bits past its prefix length ignored), returning
    /// its value; `None` if there was no such route. Lookups then fall back to the next
    /// shorter matching prefix.
    pub fn remove(&mut self, cidr: Ipv6Cidr) -> Option<T> {
        let (key, len) = key_of(&cidr);
        let r = if len <= self.k {
            self.remove_short(key, len)?
        } else {
            self.remove_long(key, len)?
        };
        self.count -= 1;
        self.maybe_compact();
        let route = &mut self.routes[r as usize];
        route.len = FREE;
        route.next = self.free_route;
        self.free_route = r;
        Some(self.values[r as usize])
    }

    /// The longest-prefix route covering `addr`: its prefix and value.
    #[inline]
    pub fn lookup(&self, addr: Ipv6Address) -> Option<(Ipv6Cidr, T)> {
        self.route_at(self.resolve(u128::from(addr)))
    }

    /// [`lookup`](Self::lookup) of each of `addrs` into the `out` entry of the same index.
    ///
    /// The same answers as one `lookup` per address, found faster when the table is larger
    /// than the processor's caches: up to [`BATCH_LANES`] lookups walk the trie together, one
    /// level at a time, so that the memory reads of different addresses, which do not depend
    /// on each other, overlap instead of waiting for each other (as DPDK's
    /// `rte_lpm_lookupx4` and VPP's vectors of packets do).
    ///
    /// # Panics
    ///
    /// If `out` is shorter than `addrs`.
    pub fn lookup_batch(&self, addrs: &[Ipv6Address], out: &mut [Option<(Ipv6Cidr, T)>]) {
        self.batch(addrs, out, |&a| u128::from(a), Self::route_at);
    }

    /// The value of the longest-prefix route covering `addr` (big-endian): [`lookup`]
    /// without building the prefix, for the data plane.
    ///
    /// [`lookup`]: Self::lookup
    #[inline]
    pub(crate) fn lookup_value(&self, addr: u128) -> Option<T> {
        self.value_at(self.resolve(addr))
    }

    /// [`lookup_batch`](Self::lookup_batch) of values only, for the data plane.
    pub(crate) fn lookup_values(&self, addrs: &[u128], out: &mut [Option<T>]) {
        self.batch(addrs, out, |&a| a, Self::value_at);
    }

    /// The route index for `a`: the direct entry, or the leaf its node path ends in.
    #[inline]
    fn resolve(&self, a: u128) -> u32 {
        let e = self.dir[self.dir_slot(a)];
        if e & NODE == 0 {
            e
        } else {
            arch::with_popcnt(
                #[inline(always)]
                || self.leaves[self.descend(a, (e & !NODE) as usize)],
            )
        }
    }

    /// Resolves `addrs` [`BATCH_LANES`] at a time ([`resolve_lanes`](Self::resolve_lanes))
    /// and writes `answer` of each route index into `out`.
    #[inline]
    fn batch<A, O>(
        &self,
        addrs: &[A],
        out: &mut [O],
        key: impl Fn(&A) -> u128,
        answer: impl Fn(&Self, u32) -> O,
    ) {
        assert!(out.len() >= addrs.len(), "lookup_batch: output too short");
        let mut keys = [0u128; BATCH_LANES];
        let mut found = [NONE; BATCH_LANES];
        for (addrs, out) in addrs.chunks(BATCH_LANES).zip(out.chunks_mut(BATCH_LANES)) {
            let n = addrs.len();
            for (k, a) in keys.iter_mut().zip(addrs) {
                *k = key(a);
            }
            arch::with_popcnt(
                #[inline(always)]
                || self.resolve_lanes(&keys, n, &mut found),
            );
            for (out, &r) in out.iter_mut().zip(&found[..n]) {
                *out = answer(self, r);
            }
        }
    }

    /// The route at slab index `r` ([`NONE`] for none), as a lookup reports it.
    #[inline]
    fn route_at(&self, r: u32) -> Option<(Ipv6Cidr, T)> {
        let route = self.routes.get(r as usize)?; // NONE is past the slab's end
        Some((cidr_of(route.key, route.len), self.values[r as usize]))
    }

    /// The value of the route at slab index `r` ([`NONE`] for none).
    #[inline]
    fn value_at(&self, r: u32) -> Option<T> {
        self.values.get(r as usize).copied()
    }

    /// The value of the route for exactly `cidr` (bits past its prefix length ignored).
    pub fn get(&self, cidr: Ipv6Cidr) -> Option<T> {
        let (key, len) = key_of(&cidr);
        self.find(key, len).map(|r| self.values[r as usize])
    }

    /// Every route, as (prefix, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Cidr, T)> + '_ {
        self.routes
            .iter()
            .zip(&self.values)
            .filter(|(r, _)| r.len != FREE)
            .map(|(r, &v)| (cidr_of(r.key, r.len), v))
    }

    /// The direct entry whose first address `key` is in.
    #[inline]
    fn dir_slot(&self, key: u128) -> usize {
        (key >> (128 - u32::from(self.k))) as usize
    }

    /// The route index of exactly (key, len), `key` masked.
    fn find(&self, key: u128, len: u8) -> Option<u32> {
        let head = if len <= self.k {
            self.short[self.dir_slot(key)]
        } else {
            self.nodes[self.owner(key, len)?.0].own
        };
        self.find_in_list(head, key, len).map(|(r, _)| r)
    }

    /// The route (key, len) in the list from `head`, and its predecessor (or [`NONE`]).
    fn find_in_list(&self, head: u32, key: u128, len: u8) -> Option<(u32, u32)> {
        let mut prev = NONE;
        let mut r = head;
        while r != NONE {
            let route = &self.routes[r as usize];
            if route.key == key && route.len == len {
                return Some((r, prev));
            }
            prev = r;
            r = route.next;
        }
        None
    }

    /// A slot for a new route; the caller has checked `count < max_routes`, so the slab
    /// preallocated for `max_routes` never grows.
    fn alloc_route(&mut self, key: u128, len: u8, value: T) -> u32 {
        let route = Route {
            key,
            next: NONE,
            len,
        };
        if self.free_route != NONE {
            let r = self.free_route;
            self.free_route = self.routes[r as usize].next;
            self.routes[r as usize] = route;
            self.values[r as usize] = value;
            r
        } else {
            self.routes.push(route);
            self.values.push(value);
            (self.routes.len() - 1) as u32
        }
    }

    /// The longest route of at most `k` bits covering direct entry `s`.
    fn best_at(&self, s: usize) -> u32 {
        let e = self.dir[s];
        if e & NODE == 0 {
            e
        } else {
            self.leaves[self.nodes[(e & !NODE) as usize].base1 as usize]
        }
    }

    /// Makes `r` the longest short route covering direct entry `s`, pushing it into the
    /// entry's node if it has one.
    fn set_best(&mut self, s: usize, r: u32) {
        let e = self.dir[s];
        if e & NODE == 0 {
            self.dir[s] = r;
        } else {
            let i = (e & !NODE) as usize;
            let b = self.nodes[i].base1 as usize;
            if self.leaves[b] != r {
                self.leaves[b] = r;
                self.refresh(i);
            }
        }
    }

    /// Adds route `r` of at most `k` bits: to its direct entry's list, and as the best route
    /// of every direct entry it covers where it is longer than the present one.
    fn insert_short(&mut self, r: u32) {
        let Route { key, len, .. } = self.routes[r as usize];
        let s0 = self.dir_slot(key);
        self.routes[r as usize].next = self.short[s0];
        self.short[s0] = r;
        for s in s0..s0 + (1usize << (self.k - len)) {
            let best = self.best_at(s);
            if best == NONE || self.routes[best as usize].len < len {
                self.set_best(s, r);
            }
        }
    }

    /// Removes the route (key, len) of at most `k` bits; the direct entries it was best for
    /// fall back to the longest shorter route covering it.
    fn remove_short(&mut self, key: u128, len: u8) -> Option<u32> {
        let s0 = self.dir_slot(key);
        let (r, prev) = self.find_in_list(self.short[s0], key, len)?;
        let next = self.routes[r as usize].next;
        if prev == NONE {
            self.short[s0] = next;
        } else {
            self.routes[prev as usize].next = next;
        }
        let fallback = (0..len)
            .rev()
            .find_map(|l| {
                let k = key & mask(l);
                self.find_in_list(self.short[self.dir_slot(k)], k, l)
            })
            .map_or(NONE, |(f, _)| f);
        for s in s0..s0 + (1usize << (self.k - len)) {
            if self.best_at(s) == r {
                self.set_best(s, fallback);
            }
        }
        Some(r)
    }
}
