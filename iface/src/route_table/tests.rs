//! Unit tests of the trie's structure: path compression, leaf pushing, arena bounds.

use proptest::prelude::*;

use super::node::Node;
use super::*;

fn c(s: &str) -> Ipv6Cidr {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Cidr::new(a.parse().unwrap(), l.parse().unwrap())
}

fn a(s: &str) -> Ipv6Address {
    s.parse().unwrap()
}

/// The longest of `routes` covering every address with prefix (`prefix`, `plen`), among
/// those no longer than `plen`.
fn longest_covering<T: Copy>(t: &RouteTable<T>, routes: &[u32], prefix: u128, plen: u8) -> u32 {
    routes
        .iter()
        .copied()
        .filter(|&r| {
            let route = &t.routes[r as usize];
            route.len <= plen && prefix & mask(route.len) == route.key
        })
        .max_by_key(|&r| t.routes[r as usize].len)
        .unwrap_or(NONE)
}

/// Checks every structural invariant of the table against brute force over its routes.
fn check<T: Copy + PartialEq>(t: &RouteTable<T>) {
    let live: Vec<u32> = (0..t.routes.len() as u32)
        .filter(|&r| t.routes[r as usize].len != FREE)
        .collect();
    assert_eq!(live.len(), t.count);
    let mut short_routes = 0;
    for (s, &head) in t.short.iter().enumerate() {
        let mut r = head;
        while r != NONE {
            let route = &t.routes[r as usize];
            assert!(route.len <= t.k);
            assert_eq!(t.dir_slot(route.key), s);
            short_routes += 1;
            r = route.next;
        }
    }
    let mut stats = (0usize, 0usize, 0usize);
    let shift = 128 - u32::from(t.k);
    for s in 0..t.dir.len() {
        let prefix = (s as u128) << shift;
        assert_eq!(t.best_at(s), longest_covering(t, &live, prefix, t.k));
        if t.dir[s] & NODE != 0 {
            stats.0 += 1;
            check_node(
                t,
                &live,
                (t.dir[s] & !NODE) as usize,
                t.k,
                prefix,
                &mut stats,
            );
        }
    }
    let (nodes, leaves, long_routes) = stats;
    assert_eq!(short_routes + long_routes, t.count);
    assert_eq!(nodes, t.nodes.len() - t.garbage_nodes);
    assert_eq!(t.nodes.len(), t.keys.len());
    assert_eq!(leaves, t.leaves.len() - t.garbage_leaves);
    // Every node holds a route or branches.
    assert!(nodes <= 2 * long_routes);
    assert!(leaves <= 2 * nodes + 2 * long_routes);
    // Between updates, compaction keeps each arena's garbage within half its live entries.
    assert!(
        t.garbage_nodes <= nodes / 2 + 64,
        "{} {nodes}",
        t.garbage_nodes
    );
    assert!(
        t.garbage_leaves <= leaves / 2 + 64,
        "{} {leaves}",
        t.garbage_leaves
    );
}

fn check_node<T: Copy + PartialEq>(
    t: &RouteTable<T>,
    live: &[u32],
    i: usize,
    base: u8,
    prefix: u128,
    stats: &mut (usize, usize, usize),
) {
    let n: Node = t.nodes[i];
    let key = t.keys[i];
    let d = n.depth;
    let [x, y, z] = n.frag;
    assert_eq!(u32::from_le_bytes([x, y, z, 0]), node::fragment(key, d));
    assert!(
        d >= base && d < 128 && (d - t.k).is_multiple_of(6),
        "depth {d} base {base}"
    );
    assert_eq!(key & !mask(d), 0);
    assert_eq!(key & mask(base), prefix);
    let mut own = 0;
    let mut r = n.own;
    while r != NONE {
        let route = &t.routes[r as usize];
        assert!(route.len > d && route.len <= d + 6);
        assert_eq!(route.key & mask(d), key);
        own += 1;
        r = route.next;
    }
    stats.2 += own;
    let children = n.vector.count_ones() as usize;
    assert!(
        own > 0 || children >= 2,
        "node at {d} with {own} routes, {children} children"
    );
    stats.0 += children;
    stats.1 += 1 + n.leafvec.count_ones() as usize;
    let inherited = t.leaves[n.base1 as usize];
    // The inherited route is the longest route above this node covering its prefix.
    let above: Vec<u32> = live
        .iter()
        .copied()
        .filter(|&r| t.routes[r as usize].len <= base)
        .collect();
    assert_eq!(inherited, longest_covering(t, &above, key, base));
    // Routes of lengths between the parent's slot and this node's depth: none (compression).
    assert!(live.iter().all(|&r| {
        let route = &t.routes[r as usize];
        !(route.len > base && route.len <= d && key & mask(route.len) == route.key)
    }));
    for s in 0..64u32 {
        let slot_prefix = key | (u128::from(s) << 122 >> d);
        let plen = (d + 6).min(128);
        let expect = longest_covering(t, live, slot_prefix & mask(plen), plen);
        if n.vector >> s & 1 == 1 {
            let c = n.base0 as usize + (n.vector & ((1 << s) - 1)).count_ones() as usize;
            assert_eq!(t.leaves[t.nodes[c].base1 as usize], expect);
            check_node(t, live, c, d + 6, slot_prefix, stats);
        } else {
            let run = (n.leafvec & (u64::MAX >> (63 - s))).count_ones() as usize;
            assert!(run >= 1);
            assert_eq!(
                t.leaves[n.base1 as usize + run],
                expect,
                "node {d} slot {s}"
            );
        }
    }
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
    check(&t);
}

#[test]
fn lone_long_route_is_one_node() {
    let mut t = RouteTable::with_capacity(100_000);
    assert_eq!(t.k, 16);
    t.insert(c("2001:db8:1:2:3:4:5:6/128"), 1).unwrap();
    assert_eq!(t.nodes.len(), 1);
    assert_eq!(t.nodes[0].depth, 124);
    assert_eq!(t.lookup(a("2001:db8:1:2:3:4:5:6")).unwrap().1, 1);
    assert_eq!(t.lookup(a("2001:db8:1:2:3:4:5:7")), None);
    assert_eq!(t.lookup(a("2001:db8:1:2:3:4:5:4")), None);
    t.insert(c("2001:db8::/32"), 2).unwrap();
    assert_eq!(t.lookup(a("2001:db8:1:2:3:4:5:7")).unwrap().1, 2);
    check(&t);
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
            check(&t);
        }
        assert_eq!(t.insert(c("fe80::/10"), 0), Err(TableFull));
        for s in cidrs.iter().rev() {
            assert!(t.remove(c(s)).is_some());
            check(&t);
        }
        assert!(t.is_empty());
        assert_eq!(t.nodes.len(), t.garbage_nodes);
    }
}

#[test]
fn branch_point_is_not_a_route() {
    let mut t = RouteTable::with_capacity(4);
    t.insert(c("2001:db8:1::/48"), 1).unwrap();
    t.insert(c("2001:db8:2::/48"), 2).unwrap();
    assert_eq!(t.get(c("2001:db8::/46")), None);
    assert_eq!(t.remove(c("2001:db8::/46")), None);
    assert_eq!(t.lookup(a("2001:db8:3::1")), None);
    assert_eq!(t.len(), 2);
    t.insert(c("2001:db8::/46"), 3).unwrap();
    assert_eq!(t.lookup(a("2001:db8:3::1")).unwrap().1, 3);
    assert_eq!(t.remove(c("2001:db8::/46")), Some(3));
    assert_eq!(t.lookup(a("2001:db8:1::1")).unwrap().1, 1);
    assert_eq!(t.lookup(a("2001:db8:2::1")).unwrap().1, 2);
    check(&t);
}

#[test]
fn clear_empties() {
    let mut t = RouteTable::with_capacity(2);
    t.insert(c("::/0"), 1).unwrap();
    t.insert(c("::1/128"), 2).unwrap();
    t.clear();
    assert!(t.is_empty());
    assert_eq!(t.lookup(a("::1")), None);
    check(&t);
    t.insert(c("::1/128"), 2).unwrap();
    t.insert(c("::2/128"), 3).unwrap();
    assert_eq!(t.len(), 2);
    check(&t);
}

#[test]
fn direct_bits_follow_capacity() {
    assert_eq!(direct_bits(0), 6);
    assert_eq!(direct_bits(10), 6);
    assert_eq!(direct_bits(24), 7);
    assert_eq!(direct_bits(1000), 12);
    assert_eq!(direct_bits(10_000), 16);
    assert_eq!(direct_bits(MAX_ROUTES), 16);
}

#[test]
fn churn_compacts_and_stays_exact() {
    // SplitMix64, so the test needs no RNG crate.
    let mut state = 7u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut t = RouteTable::with_capacity(600);
    let mut present: Vec<(u128, u8)> = Vec::new();
    let mut compactions = 0;
    for round in 0..6000 {
        let before = t.nodes.len();
        if present.len() < 500 && (present.len() < 300 || next() % 2 == 0) {
            let len = (16 + next() % 60) as u8;
            let key = ((u128::from(0x2001u64 + next() % 3) << 112) | (u128::from(next()) << 48))
                & mask(len);
            if t.insert(cidr_of(key, len), round).unwrap().is_none() {
                present.push((key, len));
            }
        } else {
            let (key, len) = present.swap_remove(next() as usize % present.len());
            assert!(t.remove(cidr_of(key, len)).is_some());
        }
        compactions += usize::from(t.nodes.len() < before);
        if round % 500 == 0 {
            check(&t);
        }
    }
    check(&t);
    assert!(compactions > 5, "{compactions}");
    for &(key, len) in &present {
        let (got, _) = t.lookup(Ipv6Address::from(key | 1)).unwrap();
        assert!(got.prefix_len() >= len);
    }
}

/// Addresses from a small space so that random prefixes nest, share nodes and split them.
fn addr() -> impl Strategy<Value = u128> {
    (
        0u128..4,
        0u128..4,
        0u128..4,
        0u128..4,
        any::<u128>(),
        0u8..4,
    )
        .prop_map(|(a, b, c, d, r, mode)| {
            let base = (a << 126) | (b << 100) | (c << 64) | (d << 20);
            match mode {
                0 => base,
                1 => base | (r & 0xff),
                2 => base ^ (r >> 64),
                _ => r,
            }
        })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u128, u8),
    Remove(u128, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![0u8..=128, 0u8..=8, 12u8..=30, 60u8..=70, 118u8..=128];
    prop_oneof![
        3 => (addr(), len.clone()).prop_map(|(a, l)| Op::Insert(a, l)),
        2 => (addr(), len).prop_map(|(a, l)| Op::Remove(a, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// The structure stays canonical, leaf-pushed and bounded through any update sequence,
    /// whatever the direct-array size.
    #[test]
    fn invariants_hold(cap in prop_oneof![Just(3usize), Just(24), Just(40), Just(1000)],
                       ops in proptest::collection::vec(op(), 1..120),
                       probes in proptest::collection::vec(addr(), 0..40)) {
        let mut t = RouteTable::with_capacity(cap);
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert(a, l) => {
                    let _ = t.insert(cidr_of(a & mask(l), l), n);
                }
                Op::Remove(a, l) => {
                    t.remove(cidr_of(a & mask(l), l));
                }
            }
            check(&t);
        }
        // Batched lookups agree with single ones, lane for lane, at every batch length, and
        // single ones with the longest covering route found by a scan.
        let probes: Vec<Ipv6Address> = probes.into_iter().map(Ipv6Address::from).collect();
        for p in &probes {
            let best = t
                .iter()
                .filter(|(c, _)| c.contains_addr(p))
                .max_by_key(|(c, _)| c.prefix_len());
            prop_assert_eq!(t.lookup(*p), best);
        }
        for n in [0, 1, 15, 16, 17, probes.len()].map(|n| n.min(probes.len())) {
            let mut batch = vec![None; n];
            t.lookup_batch(&probes[..n], &mut batch);
            for (p, got) in probes.iter().zip(&batch) {
                prop_assert_eq!(*got, t.lookup(*p));
            }
        }
    }
}
