//! The forwarding table as a router uses it: longest-prefix match, replacement, removal,
//! capacity, and agreement with a naive reference on random tables up to 100,000 routes.
#![cfg(feature = "std")]

use std::collections::HashMap;

use bridgeless_iface::route_table::{RouteTable, TableFull};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

fn c(s: &str) -> Ipv6Cidr {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Cidr::new(a.parse().unwrap(), l.parse().unwrap())
}

fn a(s: &str) -> Ipv6Address {
    s.parse().unwrap()
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// The masked form of a CIDR, as the table reports it.
fn canon(cidr: Ipv6Cidr) -> Ipv6Cidr {
    let bits = u128::from(cidr.address()) & mask(cidr.prefix_len());
    Ipv6Cidr::new(Ipv6Address::from(bits), cidr.prefix_len())
}

/// What a user would write: a list scanned for the longest matching prefix.
#[derive(Default)]
struct Naive(Vec<(Ipv6Cidr, u32)>);

impl Naive {
    fn insert(&mut self, cidr: Ipv6Cidr, v: u32) -> Option<u32> {
        let cidr = canon(cidr);
        match self.0.iter_mut().find(|(c, _)| *c == cidr) {
            Some((_, old)) => Some(core::mem::replace(old, v)),
            None => {
                self.0.push((cidr, v));
                None
            }
        }
    }
    fn remove(&mut self, cidr: Ipv6Cidr) -> Option<u32> {
        let cidr = canon(cidr);
        let i = self.0.iter().position(|(c, _)| *c == cidr)?;
        Some(self.0.swap_remove(i).1)
    }
    fn lookup(&self, addr: Ipv6Address) -> Option<(Ipv6Cidr, u32)> {
        self.0
            .iter()
            .filter(|(c, _)| c.contains_addr(&addr))
            .max_by_key(|(c, _)| c.prefix_len())
            .copied()
    }
}

#[test]
fn default_route_matches_everything() {
    let mut t = RouteTable::with_capacity(4);
    assert_eq!(t.lookup(a("2001:db8::1")), None);
    t.insert(c("::/0"), 7).unwrap();
    for addr in [
        "::",
        "::1",
        "2001:db8::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ] {
        assert_eq!(t.lookup(a(addr)), Some((c("::/0"), 7)));
    }
}

#[test]
fn host_routes_match_only_their_address() {
    let mut t = RouteTable::with_capacity(4);
    t.insert(c("2001:db8::1/128"), 1).unwrap();
    t.insert(c("2001:db8::2/128"), 2).unwrap();
    assert_eq!(t.lookup(a("2001:db8::1")), Some((c("2001:db8::1/128"), 1)));
    assert_eq!(t.lookup(a("2001:db8::2")), Some((c("2001:db8::2/128"), 2)));
    assert_eq!(t.lookup(a("2001:db8::3")), None);
    assert_eq!(t.get(c("2001:db8::1/128")), Some(1));
}

#[test]
fn overlapping_prefixes_pick_the_longest_and_remove_restores_the_shorter() {
    let mut t = RouteTable::with_capacity(8);
    t.insert(c("::/0"), 0).unwrap();
    t.insert(c("2001:db8::/32"), 32).unwrap();
    t.insert(c("2001:db8:1::/48"), 48).unwrap();
    t.insert(c("2001:db8:1:2::/64"), 64).unwrap();
    let dst = a("2001:db8:1:2::99");
    assert_eq!(t.lookup(dst), Some((c("2001:db8:1:2::/64"), 64)));
    assert_eq!(t.lookup(a("2001:db8:1:3::1")).unwrap().1, 48);
    assert_eq!(t.lookup(a("2001:db8:2::1")).unwrap().1, 32);
    assert_eq!(t.lookup(a("fd00::1")).unwrap().1, 0);

    assert_eq!(t.remove(c("2001:db8:1:2::/64")), Some(64));
    assert_eq!(t.lookup(dst).unwrap().1, 48);
    assert_eq!(t.remove(c("2001:db8:1::/48")), Some(48));
    assert_eq!(t.lookup(dst).unwrap().1, 32);
    assert_eq!(t.remove(c("2001:db8::/32")), Some(32));
    assert_eq!(t.lookup(dst).unwrap().1, 0);
    assert_eq!(t.remove(c("2001:db8::/32")), None);
    assert_eq!(t.len(), 1);
}

#[test]
fn replacing_a_prefix_returns_the_old_value() {
    let mut t = RouteTable::with_capacity(1);
    assert_eq!(t.insert(c("2001:db8::/32"), 1), Ok(None));
    // Same prefix, different host bits: still the same route, and allowed when full.
    assert_eq!(t.insert(c("2001:db8::5/32"), 2), Ok(Some(1)));
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(a("2001:db8::1")).unwrap().1, 2);
}

#[test]
fn full_table_refuses_new_prefixes_unchanged() {
    let mut t = RouteTable::with_capacity(2);
    t.insert(c("2001:db8::/32"), 1).unwrap();
    t.insert(c("2001:db8:1::/48"), 2).unwrap();
    assert_eq!(t.insert(c("2001:db8:2::/48"), 3), Err(TableFull));
    assert_eq!(t.insert(c("::/0"), 3), Err(TableFull));
    assert_eq!(t.len(), 2);
    assert_eq!(t.lookup(a("2001:db8:2::1")).unwrap().1, 1);
    assert_eq!(t.lookup(a("fd00::1")), None);
    // Room again after a removal.
    t.remove(c("2001:db8:1::/48")).unwrap();
    assert_eq!(t.insert(c("2001:db8:2::/48"), 3), Ok(None));
    let mut routes: Vec<_> = t.iter().collect();
    routes.sort_by_key(|(c, _)| c.prefix_len());
    assert_eq!(
        routes,
        vec![(c("2001:db8::/32"), 1), (c("2001:db8:2::/48"), 3)]
    );
}

#[test]
fn zero_capacity_holds_nothing() {
    let mut t = RouteTable::with_capacity(0);
    assert_eq!(t.insert(c("::/0"), 1), Err(TableFull));
    assert!(t.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Ipv6Cidr, u32),
    Remove(Ipv6Cidr),
    Lookup(Ipv6Address),
}

/// Addresses from a small space (few distinct values in a few bit fields on both sides of the
/// table's stride boundaries, few distinct low bits), so that random prefixes overlap, share
/// trie nodes and split them, and lookups hit them often.
fn addr() -> impl Strategy<Value = Ipv6Address> {
    (
        (0u16..4, 0u16..4, 0u16..4),
        (0u16..4, 0u64..8, any::<u64>(), 0u8..3),
    )
        .prop_map(|((h, t, m), (x, l, r, mode))| {
            let low = match mode {
                0 => l,
                1 => r,
                _ => r & 0xff,
            };
            let bits = (u128::from(h) << 126)
                | (u128::from(t) << 110)
                | (u128::from(m) << 64)
                | (u128::from(x) << 40)
                | u128::from(low);
            Ipv6Address::from(bits)
        })
}

fn cidr() -> impl Strategy<Value = Ipv6Cidr> {
    let len = prop_oneof![
        0u8..=4,
        14u8..=24,
        60u8..=68,
        86u8..=90,
        124u8..=128,
        0u8..=128
    ];
    (addr(), len).prop_map(|(a, l)| Ipv6Cidr::new(a, l))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (cidr(), any::<u32>()).prop_map(|(c, v)| Op::Insert(c, v)),
        1 => cidr().prop_map(Op::Remove),
        3 => addr().prop_map(Op::Lookup),
    ]
}

proptest! {
    /// Every insert, remove, exact get and lookup agrees with the naive reference, for table
    /// sizes that give the trie different first strides.
    #[test]
    fn agrees_with_naive_reference(
        cap in prop_oneof![Just(1usize), Just(24), Just(300), Just(5000)],
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut t = RouteTable::with_capacity(cap);
        let mut naive = Naive::default();
        for op in ops {
            match op {
                Op::Insert(c, v) => {
                    let is_new = naive.0.iter().all(|(n, _)| *n != canon(c));
                    if is_new && naive.0.len() == cap {
                        prop_assert_eq!(t.insert(c, v), Err(TableFull));
                    } else {
                        prop_assert_eq!(t.insert(c, v), Ok(naive.insert(c, v)));
                    }
                }
                Op::Remove(c) => prop_assert_eq!(t.remove(c), naive.remove(c)),
                Op::Lookup(a) => prop_assert_eq!(t.lookup(a), naive.lookup(a)),
            }
            prop_assert_eq!(t.len(), naive.0.len());
            // Every route is still found exactly and is the longest match of its own prefix,
            // and addresses just past either end of it fall to the right route.
            for &(c, v) in &naive.0 {
                prop_assert_eq!(t.get(c), Some(v));
                let lo = u128::from(c.address());
                let hi = lo | !mask(c.prefix_len());
                for p in [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)] {
                    let p = Ipv6Address::from(p);
                    prop_assert_eq!(t.lookup(p), naive.lookup(p));
                }
            }
        }
        // The batched lookup gives the same answers, for batches shorter and longer than
        // the lanes it walks together: every route's ends and the addresses around them.
        let probes: Vec<Ipv6Address> = naive
            .0
            .iter()
            .flat_map(|&(c, _)| {
                let lo = u128::from(c.address());
                let hi = lo | !mask(c.prefix_len());
                [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]
            })
            .map(Ipv6Address::from)
            .collect();
        let mut batch = vec![None; probes.len()];
        t.lookup_batch(&probes, &mut batch);
        for (p, got) in probes.iter().zip(&batch) {
            prop_assert_eq!(*got, naive.lookup(*p));
        }
        let mut listed: Vec<_> = t.iter().collect();
        let mut expected = naive.0.clone();
        listed.sort_by_key(|(c, _)| (u128::from(c.address()), c.prefix_len()));
        expected.sort_by_key(|(c, _)| (u128::from(c.address()), c.prefix_len()));
        prop_assert_eq!(listed, expected);
    }
}

#[test]
fn every_prefix_length_of_one_address_nests() {
    // 129 routes, one per length, all prefixes of one address: lengths on and off every
    // stride boundary, for a small and a large first stride.
    for cap in [129, 100_000] {
        let base = u128::from(a("2001:db8:aaaa:5555:f0f0:0f0f:1234:5678"));
        let mut t = RouteTable::with_capacity(cap);
        let mut naive = Naive::default();
        for len in (0..=128u8).rev() {
            let cidr = Ipv6Cidr::new(Ipv6Address::from(base), len);
            assert_eq!(t.insert(cidr, u32::from(len)), Ok(None));
            naive.insert(cidr, u32::from(len));
        }
        // An address that leaves `base` right after bit `len` matches the /len route.
        let probe = |len: u8| Ipv6Address::from(base ^ (1u128 << (127 - u32::from(len))));
        for len in 0..128u8 {
            assert_eq!(t.lookup(probe(len)).unwrap().1, u32::from(len), "{len}");
        }
        assert_eq!(t.lookup(Ipv6Address::from(base)).unwrap().1, 128);
        // Removing a route hands its addresses to the next shorter one.
        for len in [128u8, 64, 65, 63, 16, 17, 15, 0, 1, 127, 100] {
            let cidr = Ipv6Cidr::new(Ipv6Address::from(base), len);
            assert_eq!(t.remove(cidr), Some(u32::from(len)));
            naive.remove(cidr);
            for l in 0..128u8 {
                assert_eq!(t.lookup(probe(l)), naive.lookup(probe(l)), "{len} {l}");
            }
            assert_eq!(
                t.lookup(Ipv6Address::from(base)),
                naive.lookup(Ipv6Address::from(base))
            );
        }
        // Re-inserting replaces nothing; inserting again replaces the value.
        let cidr = Ipv6Cidr::new(Ipv6Address::from(base), 64);
        assert_eq!(t.insert(cidr, 1), Ok(None));
        assert_eq!(t.insert(cidr, 2), Ok(Some(1)));
        assert_eq!(t.lookup(probe(64)).unwrap(), (canon(cidr), 2));
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
        assert_eq!(t.lookup(Ipv6Address::from(base)), None);
        assert_eq!(t.insert(cidr, 3), Ok(None));
        assert_eq!(t.lookup(Ipv6Address::from(base)).unwrap().1, 3);
    }
}

/// A fast exact reference for large tables: one hash map per prefix length, probed from /128
/// down to /0.
struct ByLength(Vec<HashMap<u128, u32>>);

impl ByLength {
    fn lookup(&self, addr: Ipv6Address) -> Option<(Ipv6Cidr, u32)> {
        let bits = u128::from(addr);
        (0..=128u8).rev().find_map(|len| {
            let key = bits & mask(len);
            self.0[usize::from(len)]
                .get(&key)
                .map(|&v| (Ipv6Cidr::new(Ipv6Address::from(key), len), v))
        })
    }
}

#[test]
fn hundred_thousand_routes_agree_with_reference() {
    const ROUTES: usize = 100_000;
    let mut rng = ChaCha8Rng::seed_from_u64(0x1b_7ab1e);
    let mut t = RouteTable::with_capacity(ROUTES);
    let mut naive = Naive::default();
    let mut by_len = ByLength(vec![HashMap::new(); 129]);
    let rand_u128 =
        |rng: &mut ChaCha8Rng| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());

    t.insert(c("::/0"), 0).unwrap();
    naive.0.push((c("::/0"), 0));
    by_len.0[0].insert(0, 0);
    // Mostly /32-/64 under a few /16s (so that they nest and overlap), some anywhere.
    while t.len() < ROUTES {
        let len = match rng.next_u32() % 10 {
            0 => (rng.next_u32() % 129) as u8,
            1 => 128,
            _ => 32 + (rng.next_u32() % 33) as u8,
        };
        let top = u128::from(0x2001u16 + (rng.next_u32() % 4) as u16) << 112;
        let bits = (top | (rand_u128(&mut rng) >> 16)) & mask(len);
        let v = rng.next_u32();
        let cidr = Ipv6Cidr::new(Ipv6Address::from(bits), len);
        let old = t.insert(cidr, v).unwrap();
        assert_eq!(old, by_len.0[usize::from(len)].insert(bits, v));
        if old.is_none() {
            naive.0.push((cidr, v));
        } else {
            naive.0.iter_mut().find(|(c, _)| *c == cidr).unwrap().1 = v;
        }
    }
    assert_eq!(t.insert(c("fd00::/8"), 1), Err(TableFull));

    // Half the probes fall inside a route (random host bits under a random route's prefix).
    let probe = |rng: &mut ChaCha8Rng| {
        let r = rand_u128(rng);
        if rng.next_u32().is_multiple_of(2) {
            let (c, _) = naive.0[rng.next_u32() as usize % naive.0.len()];
            let m = mask(c.prefix_len());
            Ipv6Address::from((u128::from(c.address()) & m) | (r & !m))
        } else {
            Ipv6Address::from(
                (u128::from(0x2001u16 + (rng.next_u32() % 5) as u16) << 112) | (r >> 16),
            )
        }
    };
    let probes: Vec<Ipv6Address> = (0..10_000).map(|_| probe(&mut rng)).collect();
    let mut non_default = 0;
    for &p in &probes {
        let got = t.lookup(p);
        assert_eq!(got, by_len.lookup(p), "lookup {p}");
        non_default += usize::from(got.is_some_and(|(c, _)| c.prefix_len() > 0));
    }
    assert!(
        non_default > 4_000,
        "probes mostly exercise real routes: {non_default}"
    );
    // The naive scan (100,000 routes per lookup) on a sample.
    for &p in probes.iter().step_by(50) {
        assert_eq!(t.lookup(p), naive.lookup(p), "lookup {p}");
    }

    // Remove a third of the routes; lookups fall back as the reference says.
    for i in (0..naive.0.len()).step_by(3) {
        let (c, v) = naive.0[i];
        assert_eq!(t.remove(c), Some(v));
        by_len.0[usize::from(c.prefix_len())].remove(&(u128::from(c.address())));
    }
    for &p in probes.iter().step_by(5) {
        assert_eq!(t.lookup(p), by_len.lookup(p), "lookup {p} after removals");
    }
}
