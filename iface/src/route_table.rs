//! An IPv6 forwarding table: longest-prefix match over a bounded, preallocated arena.
//!
//! [`RouteTable`] maps IPv6 prefixes ([`Ipv6Cidr`]) to a value `T` the caller chooses (a next
//! hop, a link id) and answers "which route does this destination take" with the longest
//! matching prefix: prefixes of any bit length as in RFC 4291 §2.5, chosen by the longest-match
//! rule of RFC 1812 §5.2.4.3, which IPv6 forwarding uses as well.
//!
//! # Design
//!
//! The table is a path-compressed binary trie (a PATRICIA trie) over the 128-bit address. Nodes
//! live in one `Vec` arena and refer to each other by index. Every node holds a prefix; a node
//! holds either a route, or no route and exactly two children (a branch point). Inserting a
//! route adds at most two nodes, so a table of at most `max_routes` routes never needs more
//! than `2 * max_routes + 1` nodes (the `+ 1` is the root, the `::/0` node).
//!
//! - **Lookup** walks from the root towards the address, one node per branch point on the way;
//!   each node's prefix is strictly longer than its parent's, so a lookup visits at most
//!   `min(129, routes + branch points on that path)` nodes — it is bounded by the prefix length,
//!   not by the number of routes elsewhere in the table. It never allocates.
//! - **Memory** is allocated once, by [`RouteTable::with_capacity`], for `2 * max_routes + 1`
//!   nodes (about 48 bytes each for a small `T`). [`insert`](RouteTable::insert) and
//!   [`remove`](RouteTable::remove) never allocate; inserting a new prefix into a full table is
//!   an error ([`TableFull`]) and leaves the table unchanged. Replacing the value of an existing
//!   prefix always succeeds.
//! - **Prefix bits past the length are ignored**: `2001:db8::1/32` is stored, reported and
//!   matched as `2001:db8::/32`.
//!
//! The module needs feature `std` (for the arena `Vec`).
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

/// Marks an absent child.
const NIL: u32 = u32::MAX;

/// The error of inserting a new prefix into a table that already holds its `max_routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

impl fmt::Display for TableFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("route table full")
    }
}

impl core::error::Error for TableFull {}

/// One trie node: a prefix, maybe a route, and two children by index.
#[derive(Debug, Clone, Copy)]
struct Node<T> {
    /// The prefix, with the bits past `len` zero.
    key: u128,
    /// Prefix length, 0..=128.
    len: u8,
    /// Children: `child[b]` continues with bit `b` at position `len`; `NIL` when absent.
    child: [u32; 2],
    /// The route's value, if this prefix is a route (and not only a branch point).
    value: Option<T>,
}

/// An IPv6 longest-prefix-match table of at most `max_routes` routes; see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct RouteTable<T: Copy> {
    /// The arena; index 0 is the root (`::/0`), which is never freed.
    nodes: Vec<Node<T>>,
    /// Freed node indices, reused before the arena grows.
    free: Vec<u32>,
    /// Number of routes (nodes with a value).
    routes: usize,
    /// The most routes this table will hold.
    max_routes: usize,
}

/// `len` leading one bits.
fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Bit `i` (0 = most significant) of `key`, as a child index; `i` must be below 128.
fn bit(key: u128, i: u8) -> usize {
    ((key >> (127 - u32::from(i))) & 1) as usize
}

/// The masked key and length of a CIDR.
fn key_of(cidr: &Ipv6Cidr) -> (u128, u8) {
    let len = cidr.prefix_len().min(128);
    (u128::from(cidr.address()) & mask(len), len)
}

fn cidr_of(key: u128, len: u8) -> Ipv6Cidr {
    Ipv6Cidr::new(Ipv6Address::from(key), len)
}

impl<T: Copy> RouteTable<T> {
    /// An empty table for at most `max_routes` routes.
    ///
    /// Allocates room for `2 * max_routes + 1` nodes now, and nothing afterwards.
    ///
    /// # Panics
    ///
    /// If `max_routes` exceeds `(u32::MAX - 1) / 2` (node indices are `u32`).
    pub fn with_capacity(max_routes: usize) -> Self {
        assert!(
            max_routes <= (NIL as usize - 1) / 2,
            "RouteTable: max_routes too large"
        );
        let mut nodes = Vec::with_capacity(2 * max_routes + 1);
        nodes.push(Node {
            key: 0,
            len: 0,
            child: [NIL; 2],
            value: None,
        });
        RouteTable {
            nodes,
            free: Vec::with_capacity(2 * max_routes),
            routes: 0,
            max_routes,
        }
    }

    /// The number of routes in the table.
    pub fn len(&self) -> usize {
        self.routes
    }

    /// Whether the table holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes == 0
    }

    /// The most routes the table holds (the `max_routes` it was made with).
    pub fn capacity(&self) -> usize {
        self.max_routes
    }

    /// Removes every route; keeps the allocation.
    pub fn clear(&mut self) {
        self.nodes.truncate(1);
        self.nodes[0].child = [NIL; 2];
        self.nodes[0].value = None;
        self.free.clear();
        self.routes = 0;
    }

    /// Adds a route for `cidr` (bits past its prefix length ignored), or replaces the value of
    /// the existing route for exactly that prefix.
    ///
    /// Returns the replaced value, if any. A new prefix in a table already holding
    /// [`capacity`](Self::capacity) routes is refused with [`TableFull`], leaving the table
    /// unchanged; replacing a value never fails.
    pub fn insert(&mut self, cidr: Ipv6Cidr, value: T) -> Result<Option<T>, TableFull> {
        let (key, len) = key_of(&cidr);
        let mut cur = 0usize;
        loop {
            // Invariant: nodes[cur] is a prefix of (key, len), and nodes[cur].len <= len.
            let node = self.nodes[cur];
            if node.len == len {
                if node.value.is_none() {
                    self.check_room()?;
                    self.routes += 1;
                }
                return Ok(self.nodes[cur].value.replace(value));
            }
            let b = bit(key, node.len);
            let c = node.child[b];
            if c == NIL {
                self.check_room()?;
                let leaf = self.alloc(key, len, Some(value))?;
                self.nodes[cur].child[b] = leaf;
                self.routes += 1;
                return Ok(None);
            }
            let next = self.nodes[c as usize];
            let common = next
                .len
                .min(len)
                .min((next.key ^ key).leading_zeros() as u8);
            if common == next.len {
                cur = c as usize;
                continue;
            }
            if common == len {
                // The new prefix sits between `cur` and `next`.
                self.check_room()?;
                let mid = self.alloc(key, len, Some(value))?;
                self.nodes[mid as usize].child[bit(next.key, len)] = c;
                self.nodes[cur].child[b] = mid;
                self.routes += 1;
                return Ok(None);
            }
            // The new prefix and `next` diverge at bit `common`: add a branch point there.
            self.check_room()?;
            // Two new nodes; the node bound guarantees room, checked so a broken bound
            // refuses instead of leaving a half-made change.
            if self.nodes.capacity() - self.nodes.len() + self.free.len() < 2 {
                return Err(TableFull);
            }
            let leaf = self.alloc(key, len, Some(value))?;
            let branch = self.alloc(key & mask(common), common, None)?;
            let bn = &mut self.nodes[branch as usize];
            bn.child[bit(key, common)] = leaf;
            bn.child[bit(next.key, common)] = c;
            self.nodes[cur].child[b] = branch;
            self.routes += 1;
            return Ok(None);
        }
    }

    /// Removes the route for exactly `cidr` (bits past its prefix length ignored), returning
    /// its value; `None` if there was no such route. Lookups then fall back to the next
    /// shorter matching prefix.
    pub fn remove(&mut self, cidr: Ipv6Cidr) -> Option<T> {
        let (key, len) = key_of(&cidr);
        // (grandparent, parent, node)
        let mut grand = NIL;
        let mut parent = NIL;
        let mut cur = 0u32;
        loop {
            let node = &self.nodes[cur as usize];
            if node.len == len {
                break;
            }
            let c = node.child[bit(key, node.len)];
            if c == NIL {
                return None;
            }
            let next = &self.nodes[c as usize];
            if next.len > len || (next.key ^ key) & mask(next.len) != 0 {
                return None;
            }
            grand = parent;
            parent = cur;
            cur = c;
        }
        let old = self.nodes[cur as usize].value.take()?;
        self.routes -= 1;
        if cur != 0 {
            let node = self.nodes[cur as usize];
            match node.child {
                [NIL, NIL] => {
                    self.unlink(parent, cur, NIL);
                    // The parent may now be a valueless branch point with one child.
                    let p = self.nodes[parent as usize];
                    if parent != 0 && p.value.is_none() {
                        let only = if p.child[0] == NIL {
                            p.child[1]
                        } else {
                            p.child[0]
                        };
                        self.unlink(grand, parent, only);
                    }
                }
                [only, NIL] | [NIL, only] => self.unlink(parent, cur, only),
                _ => {} // stays as a branch point
            }
        }
        Some(old)
    }

    /// The longest-prefix route covering `addr`: its prefix and value.
    pub fn lookup(&self, addr: Ipv6Address) -> Option<(Ipv6Cidr, T)> {
        let a = u128::from(addr);
        let mut cur = 0usize;
        let mut best = NIL;
        if self.nodes[0].value.is_some() {
            best = 0;
        }
        loop {
            let node = &self.nodes[cur];
            if node.len == 128 {
                break;
            }
            let c = node.child[bit(a, node.len)];
            if c == NIL {
                break;
            }
            let next = &self.nodes[c as usize];
            if (next.key ^ a) & mask(next.len) != 0 {
                break;
            }
            if next.value.is_some() {
                best = c;
            }
            cur = c as usize;
        }
        if best == NIL {
            return None;
        }
        let n = &self.nodes[best as usize];
        n.value.map(|v| (cidr_of(n.key, n.len), v))
    }

    /// The value of the route for exactly `cidr` (bits past its prefix length ignored).
    pub fn get(&self, cidr: Ipv6Cidr) -> Option<T> {
        let (key, len) = key_of(&cidr);
        let mut cur = 0usize;
        loop {
            let node = &self.nodes[cur];
            if node.len == len {
                return node.value;
            }
            let c = node.child[bit(key, node.len)];
            if c == NIL {
                return None;
            }
            let next = &self.nodes[c as usize];
            if next.len > len || (next.key ^ key) & mask(next.len) != 0 {
                return None;
            }
            cur = c as usize;
        }
    }

    /// Every route, as (prefix, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Cidr, T)> + '_ {
        self.nodes
            .iter()
            .filter_map(|n| n.value.map(|v| (cidr_of(n.key, n.len), v)))
    }

    /// Refuses work once the table holds `max_routes` routes.
    fn check_room(&self) -> Result<(), TableFull> {
        if self.routes >= self.max_routes {
            Err(TableFull)
        } else {
            Ok(())
        }
    }

    /// A fresh node, from the free list or the preallocated arena (never beyond it).
    fn alloc(&mut self, key: u128, len: u8, value: Option<T>) -> Result<u32, TableFull> {
        let node = Node {
            key,
            len,
            child: [NIL; 2],
            value,
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            return Ok(i);
        }
        if self.nodes.len() == self.nodes.capacity() {
            return Err(TableFull);
        }
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as u32)
    }

    /// Replaces `parent`'s link to `node` by `with` (maybe `NIL`) and frees `node`.
    fn unlink(&mut self, parent: u32, node: u32, with: u32) {
        let p = &mut self.nodes[parent as usize];
        if p.child[0] == node {
            p.child[0] = with;
        } else {
            p.child[1] = with;
        }
        let n = &mut self.nodes[node as usize];
        n.value = None;
        n.child = [NIL; 2];
        self.free.push(node);
    }

    /// Number of arena nodes in use (root included), for tests of the node bound.
    #[cfg(test)]
    fn nodes_in_use(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv6Cidr {
        let (a, l) = s.split_once('/').unwrap();
        Ipv6Cidr::new(a.parse().unwrap(), l.parse().unwrap())
    }

    fn a(s: &str) -> Ipv6Address {
        s.parse().unwrap()
    }

    #[test]
    fn masks_on_insert() {
        let mut t = RouteTable::with_capacity(4);
        t.insert(c("2001:db8::1/32"), 1).unwrap();
        assert_eq!(t.get(c("2001:db8::/32")), Some(1));
        assert_eq!(t.iter().next(), Some((c("2001:db8::/32"), 1)));
        assert_eq!(
            t.lookup(a("2001:db8:ffff::9")),
            Some((c("2001:db8::/32"), 1))
        );
    }

    #[test]
    fn node_bound_holds_under_churn() {
        let mut t = RouteTable::with_capacity(8);
        let cidrs = [
            "2001:db8::/32",
            "2001:db8:1::/48",
            "2001:db8:2::/48",
            "2001:db8:1:2::/64",
            "fd00::/8",
            "fd00::1/128",
            "::/0",
            "2001:db8:8000::/33",
        ];
        for round in 0..3 {
            for (i, s) in cidrs.iter().enumerate() {
                assert_eq!(t.insert(c(s), i + round).unwrap(), None);
                assert!(t.nodes_in_use() <= 2 * t.len() + 1);
            }
            assert_eq!(t.insert(c("fe80::/10"), 0), Err(TableFull));
            for s in cidrs.iter().rev() {
                assert!(t.remove(c(s)).is_some());
                assert!(t.nodes_in_use() <= 2 * t.len() + 1);
            }
            assert_eq!(t.nodes_in_use(), 1);
            assert!(t.is_empty());
        }
    }

    #[test]
    fn branch_point_is_not_a_route() {
        let mut t = RouteTable::with_capacity(4);
        t.insert(c("2001:db8:1::/48"), 1).unwrap();
        t.insert(c("2001:db8:2::/48"), 2).unwrap();
        // A branch point exists at 2001:db8::/46 but holds no route.
        assert_eq!(t.get(c("2001:db8::/46")), None);
        assert_eq!(t.remove(c("2001:db8::/46")), None);
        assert_eq!(t.lookup(a("2001:db8:3::1")), None);
        assert_eq!(t.len(), 2);
        // Making the branch point a route, then removing it, keeps both children reachable.
        t.insert(c("2001:db8::/46"), 3).unwrap();
        assert_eq!(t.lookup(a("2001:db8:3::1")).unwrap().1, 3);
        assert_eq!(t.remove(c("2001:db8::/46")), Some(3));
        assert_eq!(t.lookup(a("2001:db8:1::1")).unwrap().1, 1);
        assert_eq!(t.lookup(a("2001:db8:2::1")).unwrap().1, 2);
    }

    #[test]
    fn clear_empties() {
        let mut t = RouteTable::with_capacity(2);
        t.insert(c("::/0"), 1).unwrap();
        t.insert(c("::1/128"), 2).unwrap();
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.lookup(a("::1")), None);
        t.insert(c("::1/128"), 2).unwrap();
        t.insert(c("::2/128"), 3).unwrap();
        assert_eq!(t.len(), 2);
    }
}
