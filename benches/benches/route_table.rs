//! IPv6 longest-prefix-match lookup cost in bridgeless-iface's
//! [`RouteTable`](bridgeless_iface::route_table::RouteTable) (a Poptrie-style multibit trie)
//! with 10, 10,000 and 100,000 routes, against what a user would write instead: one std
//! `HashMap<u128, u32>` per prefix length present, keyed by the masked address and probed from
//! the longest length down (and, at 10 routes, a linear scan of a `Vec`).
//!
//! Two route sets:
//! - `random`: distinct random prefixes of lengths 16..=64 anywhere in the address space;
//! - `delegation`: what a tree of routers that delegates prefixes holds: a few /32s, /48s
//!   under them, /56s under those and /64s under those (about 1 : 10 : 30 : 60).
//!
//! Seven of every eight probed addresses fall inside a random route (random host bits), the
//! eighth is a random address (almost always a miss). Each iteration is one lookup, so
//! criterion's time per iteration is the per-lookup cost. All implementations are checked to
//! agree on every probe before anything is timed. Heap bytes per route of the trie and (an
//! estimate from the hash maps' capacities) of the hash maps are printed to stderr.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use bridgeless_iface::route_table::RouteTable;
use criterion::{Criterion, criterion_group, criterion_main};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

/// Addresses probed, cycled through.
const PROBES: usize = 1024;

/// SplitMix64: a small deterministic generator, so runs are comparable.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Routes as (masked prefix, length, value).
type Routes = Vec<(u128, u8, u32)>;

/// `n` distinct random prefixes of lengths 16..=64.
fn random_routes(n: usize, rng: &mut SplitMix) -> Routes {
    let mut seen = HashSet::new();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let len = 16 + rng.below(49) as u8;
        let bits = rng.u128() & mask(len);
        if seen.insert((bits, len)) {
            v.push((bits, len, v.len() as u32));
        }
    }
    v
}

/// `n` distinct prefixes of a delegation tree: /32s, /48s under them, /56s under those,
/// /64s under those; shorter prefixes first, as routers learn them.
fn delegation_routes(n: usize, rng: &mut SplitMix) -> Routes {
    let n32 = (n / 2000).clamp(1, 8);
    let n48 = ((n - n32) / 10).max(1);
    let n56 = ((n - n32 - n48) / 3).max(1);
    let mut seen = HashSet::new();
    let mut v: Routes = Vec::with_capacity(n);
    let mut add = |v: &mut Routes, bits: u128, len: u8| {
        if seen.insert((bits, len)) {
            v.push((bits, len, v.len() as u32));
        }
    };
    while v.len() < n32 {
        // Global unicast 2000::/3.
        let bits = ((0x2000_0000 | (rng.next() & 0x1fff_ffff)) as u128) << 96;
        add(&mut v, bits, 32);
    }
    for (count, parent_len, len) in [(n48, 32, 48), (n56, 48, 56), (usize::MAX, 56, 64)] {
        let parents: Vec<u128> = v
            .iter()
            .filter(|r| r.1 == parent_len)
            .map(|r| r.0)
            .collect();
        let goal = v.len().saturating_add(count).min(n);
        while v.len() < goal {
            let parent = parents[rng.below(parents.len())];
            let bits = (parent | (rng.u128() >> parent_len)) & mask(len);
            add(&mut v, bits, len);
        }
    }
    v
}

fn probes(routes: &Routes, rng: &mut SplitMix) -> Vec<Ipv6Address> {
    (0..PROBES)
        .map(|i| {
            let r = rng.u128();
            if i % 8 == 7 {
                Ipv6Address::from(r)
            } else {
                let (bits, len, _) = routes[rng.below(routes.len())];
                Ipv6Address::from(bits | (r & !mask(len)))
            }
        })
        .collect()
}

/// What a user would write: a hash map per prefix length present, probed longest first.
struct ByLength(Vec<(u8, HashMap<u128, u32>)>);

impl ByLength {
    fn new(routes: &Routes) -> Self {
        let mut maps: Vec<(u8, HashMap<u128, u32>)> = Vec::new();
        for &(bits, len, v) in routes {
            match maps.iter_mut().find(|(l, _)| *l == len) {
                Some((_, m)) => {
                    m.insert(bits, v);
                }
                None => maps.push((len, HashMap::from([(bits, v)]))),
            }
        }
        maps.sort_by_key(|(l, _)| core::cmp::Reverse(*l));
        ByLength(maps)
    }

    fn lookup(&self, addr: Ipv6Address) -> Option<(Ipv6Cidr, u32)> {
        let a = u128::from(addr);
        self.0.iter().find_map(|(len, m)| {
            let key = a & mask(*len);
            m.get(&key)
                .map(|&v| (Ipv6Cidr::new(Ipv6Address::from(key), *len), v))
        })
    }

    /// Heap bytes, estimated from capacities: buckets (7/8 load) of (key, value) plus one
    /// control byte each.
    fn memory_bytes(&self) -> usize {
        self.0
            .iter()
            .map(|(_, m)| {
                let buckets = (m.capacity() * 8 / 7).next_power_of_two();
                buckets * (size_of::<(u128, u32)>() + 1)
            })
            .sum()
    }
}

/// The linear scan a user might write for a handful of routes.
fn scan_lookup(routes: &Routes, addr: Ipv6Address) -> Option<(Ipv6Cidr, u32)> {
    let a = u128::from(addr);
    let mut best: Option<(u128, u8, u32)> = None;
    for &(bits, len, v) in routes {
        if a & mask(len) == bits && best.is_none_or(|b| len > b.1) {
            best = Some((bits, len, v));
        }
    }
    best.map(|(bits, len, v)| (Ipv6Cidr::new(Ipv6Address::from(bits), len), v))
}

fn bench(c: &mut Criterion) {
    eprintln!("| route set | routes | trie bytes/route | hash maps bytes/route (est.) |");
    eprintln!("|---|---:|---:|---:|");
    type Gen = fn(usize, &mut SplitMix) -> Routes;
    let sets: [(&str, Gen); 2] = [("random", random_routes), ("delegation", delegation_routes)];
    for (name, generate) in sets {
        let mut group = c.benchmark_group(format!("route_lookup_{name}"));
        for n in [10usize, 10_000, 100_000] {
            let mut rng = SplitMix(n as u64);
            let list = generate(n, &mut rng);
            let addrs = probes(&list, &mut rng);
            let mut table = RouteTable::with_capacity(n);
            for &(bits, len, v) in &list {
                let cidr = Ipv6Cidr::new(Ipv6Address::from(bits), len);
                assert_eq!(table.insert(cidr, v), Ok(None));
            }
            let by_len = ByLength::new(&list);
            let mut hits = 0;
            for &a in &addrs {
                let got = table.lookup(a);
                assert_eq!(got, by_len.lookup(a), "{a}");
                if n <= 10_000 {
                    assert_eq!(got, scan_lookup(&list, a), "{a}");
                }
                hits += usize::from(got.is_some());
            }
            assert!(hits >= PROBES * 7 / 8, "{name}/{n}: {hits} hits");
            eprintln!(
                "| {name} | {n} | {} | {} |",
                table.memory_bytes() / n,
                by_len.memory_bytes() / n
            );

            let mut i = 0;
            group.bench_function(format!("trie/{n}"), |b| {
                b.iter(|| {
                    i = (i + 1) % PROBES;
                    black_box(table.lookup(black_box(addrs[i])))
                })
            });
            let mut i = 0;
            group.bench_function(format!("hashmap_per_len/{n}"), |b| {
                b.iter(|| {
                    i = (i + 1) % PROBES;
                    black_box(by_len.lookup(black_box(addrs[i])))
                })
            });
            if n == 10 {
                let mut i = 0;
                group.bench_function(format!("vec_scan/{n}"), |b| {
                    b.iter(|| {
                        i = (i + 1) % PROBES;
                        black_box(scan_lookup(&list, black_box(addrs[i])))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
