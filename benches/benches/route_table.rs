//! IPv6 longest-prefix-match lookup cost in bridgeless-iface's
//! [`RouteTable`](bridgeless_iface::route_table::RouteTable) with 10, 10,000 and 100,000
//! routes, against the naive linear scan a user might write (a `Vec` of routes scanned for the
//! longest match) at 10 and 10,000 routes.
//!
//! Tables hold a default route plus random /32-/64 prefixes under four /16s (so that prefixes
//! nest); half of the probed addresses fall inside a random route, half are random under five
//! /16s. Each iteration is one lookup, so criterion's time per iteration is the per-lookup cost.
//! Both implementations are checked to agree on every probe before anything is timed.

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
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// A default route plus `n - 1` distinct random /32-/64 prefixes.
fn routes(n: usize, rng: &mut SplitMix) -> Vec<(Ipv6Cidr, u32)> {
    let mut v = vec![(Ipv6Cidr::new(Ipv6Address::UNSPECIFIED, 0), 0)];
    let mut seen = std::collections::HashSet::new();
    while v.len() < n {
        let len = 32 + (rng.next() % 33) as u8;
        let top = u128::from(0x2001 + (rng.next() % 4) as u16) << 112;
        let bits = (top | (rng.u128() >> 16)) & mask(len);
        if seen.insert((bits, len)) {
            v.push((Ipv6Cidr::new(Ipv6Address::from(bits), len), v.len() as u32));
        }
    }
    v
}

fn probes(routes: &[(Ipv6Cidr, u32)], rng: &mut SplitMix) -> Vec<Ipv6Address> {
    (0..PROBES)
        .map(|i| {
            let r = rng.u128();
            if i % 2 == 0 {
                let (c, _) = routes[rng.next() as usize % routes.len()];
                let m = mask(c.prefix_len());
                Ipv6Address::from((u128::from(c.address()) & m) | (r & !m))
            } else {
                Ipv6Address::from((u128::from(0x2001 + (rng.next() % 5) as u16) << 112) | (r >> 16))
            }
        })
        .collect()
}

/// The linear scan a user would write.
fn naive_lookup(routes: &[(Ipv6Cidr, u32)], addr: Ipv6Address) -> Option<(Ipv6Cidr, u32)> {
    let mut best: Option<(Ipv6Cidr, u32)> = None;
    for &(c, v) in routes {
        if c.contains_addr(&addr) && best.is_none_or(|(b, _)| c.prefix_len() > b.prefix_len()) {
            best = Some((c, v));
        }
    }
    best
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_table_lookup");
    for n in [10usize, 10_000, 100_000] {
        let mut rng = SplitMix(n as u64);
        let list = routes(n, &mut rng);
        let addrs = probes(&list, &mut rng);
        let mut table = RouteTable::with_capacity(n);
        for &(cidr, v) in &list {
            table.insert(cidr, v).unwrap();
        }
        let with_naive = n <= 10_000;
        if with_naive {
            for &a in &addrs {
                assert_eq!(table.lookup(a), naive_lookup(&list, a), "{a}");
            }
        }
        let mut i = 0;
        group.bench_function(format!("trie/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % PROBES;
                black_box(table.lookup(black_box(addrs[i])))
            })
        });
        if with_naive {
            let mut i = 0;
            group.bench_function(format!("naive_scan/{n}"), |b| {
                b.iter(|| {
                    i = (i + 1) % PROBES;
                    black_box(naive_lookup(&list, black_box(addrs[i])))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
