//! Forwarding rate of bridgeless-iface's router data plane
//! ([`Forwarder`](bridgeless_iface::router::Forwarder)) on one core, for IPv6/UDP packets with
//! 64-byte payloads (112 octets on the link), with 10, 10,000 and 100,000 routes, against a
//! plain copy of the same frames as the floor; and the cost of each extra link a multicast
//! packet is replicated to.
//!
//! One iteration handles a batch of [`BATCH`] frames, each to a different destination inside a
//! random route: decide ([`Forwarder::route`]), then copy into the outgoing frame with the hop
//! limit decremented ([`Forwarder::forward_into`]) — what the router driver does between a
//! device's receive and transmit tokens. The floor copies each frame and decrements its hop
//! limit, nothing else. Routes form a delegation tree under 2001:db8::/32: /48s, /56s, /60s and
//! /64s, as a tree of routers that delegate prefixes holds. Criterion's throughput is in
//! packets. Results and the command are recorded in BENCHMARKS.md.

use std::hint::black_box;

use bridgeless_benches::SplitMix;
use bridgeless_iface::route_table::BATCH_LANES;
use bridgeless_iface::router::{
    DropReason, Forwarder, ForwarderConfig, LinkConfig, LinkId, Route, Verdict,
};
use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Cidr};

/// Frames per iteration.
const BATCH: usize = 1024;
/// Links of the router: 0 receives, the rest send.
const LINKS: u16 = 9;
/// UDP payload octets per packet.
const PAYLOAD: usize = 64;

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Distinct destinations (and frames) of the two destination sets.
const DESTINATIONS: [usize; 2] = [1024, 65_536];

/// A forwarder with `routes` routes and `frames` packets, each to a random address inside a
/// random route.
fn setup(routes: usize, frames: usize) -> (Forwarder, Vec<Vec<u8>>) {
    let mut f = Forwarder::new(ForwarderConfig {
        max_routes: routes + 2 * usize::from(LINKS) + 8,
        ..ForwarderConfig::default()
    });
    for i in 0..LINKS {
        f.add_link(LinkConfig {
            mtu: 1500,
            link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1 + i),
            address: None,
        })
        .unwrap();
    }
    let base: u128 = 0x2001_0db8 << 96;
    let mut rng = SplitMix(routes as u64);
    let mut prefixes = Vec::with_capacity(routes);
    while prefixes.len() < routes {
        let len = [48u8, 56, 60, 64][prefixes.len() % 4];
        let bits = (base | (rng.next_u128() & !mask(32))) & mask(len);
        let link = LinkId(1 + (prefixes.len() % usize::from(LINKS - 1)) as u16);
        let cidr = Ipv6Cidr::new(Ipv6Address::from(bits), len);
        if f.routes_mut()
            .insert(cidr, Route::Link(link))
            .unwrap()
            .is_none()
        {
            prefixes.push((bits, len));
        }
    }
    let frames = (0..frames)
        .map(|i| {
            let (bits, len) = prefixes[(rng.next_u64() as usize) % prefixes.len()];
            let dst = bits | (rng.next_u128() & !mask(len));
            let header = Ipv6Header {
                src: Ipv6Address::new(0xfd00, 0xa, 0, 0, 0, 0, 0, 2),
                dst: Ipv6Address::from(dst),
                next_header: IpProtocol::Udp,
                payload_len: 0,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: i as u32,
            };
            let mut buf = vec![0; 48 + PAYLOAD];
            emit_udp_v6(&header, 4000, 5000, &[0x5a; PAYLOAD], &mut buf).unwrap();
            buf
        })
        .collect();
    (f, frames)
}

#[inline(never)]
fn per_packet(f: &mut Forwarder, frames: &[&[u8]], out: &mut [u8], icmp: &mut [u8]) -> usize {
    let mut sent = 0;
    for frame in frames {
        if let Verdict::Forward { link, len } = f.route(Instant::ZERO, LinkId(0), frame, icmp) {
            sent += f.forward_into(link, &frame[..len], out).unwrap_or(0);
        }
    }
    sent
}

#[inline(never)]
fn batched(f: &mut Forwarder, frames: &[&[u8]], out: &mut [u8], icmp: &mut [u8]) -> usize {
    let mut sent = 0;
    let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BATCH_LANES];
    for chunk in frames.chunks(BATCH_LANES) {
        f.route_batch(
            Instant::ZERO,
            LinkId(0),
            chunk,
            &mut verdicts,
            icmp,
            |_, _, _| {},
        );
        for (frame, verdict) in chunk.iter().zip(&verdicts) {
            if let Verdict::Forward { link, len } = *verdict {
                sent += f.forward_into(link, &frame[..len], out).unwrap_or(0);
            }
        }
    }
    sent
}

#[inline(never)]
fn copy_batch(frames: &[&[u8]], out: &mut [u8]) -> usize {
    let mut sent = 0;
    for frame in frames {
        let out = &mut out[..frame.len()];
        out.copy_from_slice(frame);
        out[7] -= 1;
        sent += black_box(out).len();
    }
    sent
}

/// The next `BATCH` frames of `all`, cycling.
fn next_batch<'a, 'b>(all: &'a [&'b [u8]], at: &mut usize) -> &'a [&'b [u8]] {
    let batch = &all[*at..*at + BATCH];
    *at = (*at + BATCH) % all.len();
    batch
}

fn forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_64B_payload");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut out = vec![0u8; 2048];
    let mut icmp = vec![0u8; 1280];
    for dsts in DESTINATIONS {
        let (_, frames) = setup(10, dsts);
        let all: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let mut at = 0;
        group.bench_function(format!("copy_floor/dst_{dsts}"), |b| {
            b.iter(|| copy_batch(black_box(next_batch(&all, &mut at)), &mut out))
        });
    }
    for routes in [10, 10_000, 100_000] {
        for dsts in DESTINATIONS {
            let (mut f, frames) = setup(routes, dsts);
            let all: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let expected: usize = frames.iter().map(Vec::len).sum();
            assert_eq!(per_packet(&mut f, &all, &mut out, &mut icmp), expected);
            assert_eq!(batched(&mut f, &all, &mut out, &mut icmp), expected);
            let mut at = 0;
            group.bench_function(format!("per_packet/{routes}_routes/dst_{dsts}"), |b| {
                b.iter(|| {
                    let frames = black_box(next_batch(&all, &mut at));
                    per_packet(&mut f, frames, &mut out, &mut icmp)
                })
            });
            let mut at = 0;
            group.bench_function(format!("batched/{routes}_routes/dst_{dsts}"), |b| {
                b.iter(|| {
                    let frames = black_box(next_batch(&all, &mut at));
                    batched(&mut f, frames, &mut out, &mut icmp)
                })
            });
        }
    }
    group.finish();
}

/// A multicast packet (ff05::1234) handed to `fanout` links: decide once, then one
/// `replicate` + `forward_into` per link.
fn multicast(c: &mut Criterion) {
    let mut group = c.benchmark_group("multicast_replicate");
    group.throughput(Throughput::Elements(BATCH as u64));
    let (mut f, mut frames) = setup(10, BATCH);
    for frame in &mut frames {
        frame[24..40].copy_from_slice(&Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x1234).octets());
    }
    let mut out = vec![0u8; 2048];
    let mut icmp = vec![0u8; 1280];
    for fanout in [1u16, 2, 4, 8] {
        group.bench_function(format!("links_{fanout}"), |b| {
            b.iter(|| {
                let mut sent = 0;
                for frame in black_box(&frames) {
                    let Verdict::Multicast { len } =
                        f.route(Instant::ZERO, LinkId(0), frame, &mut icmp)
                    else {
                        continue;
                    };
                    for l in 1..=fanout {
                        if let Verdict::Forward { link, len } = f.replicate(
                            Instant::ZERO,
                            LinkId(0),
                            LinkId(l),
                            &frame[..len],
                            &mut icmp,
                        ) {
                            sent += f.forward_into(link, &frame[..len], &mut out).unwrap_or(0);
                        }
                    }
                }
                sent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forwarding, multicast);
criterion_main!(benches);
