//! The roaming session layer (bridgeless-roaming) against quinn-proto 0.11, both in memory on
//! one core, in one run (issue 5):
//!
//! - **bulk throughput**, client → server, of unreliable datagrams of 64, 1200 and 1350 bytes:
//!   ours (`send_datagram` / `recv_datagram`, ChaCha20-Poly1305) against quinn-proto's QUIC
//!   DATAGRAM frames (`Connection::datagrams`) with TLS13_CHACHA20_POLY1305_SHA256 forced
//!   (like for like) and with rustls' default suite (AES-256-GCM); and quinn's reliable
//!   variant, the same records on one unidirectional stream. Both pairs are moved by the same
//!   loop (`bridgeless_benches::roaming::transfer`): every datagram is checked at the receiver
//!   (length, sequence number, every byte), and criterion's bytes are payload bytes the
//!   receiver's user got.
//! - **per-packet crypto** alone (`roaming_packet_crypto`, `roaming_header_mask`): the AEAD
//!   and header-protection calls each side makes per packet, RustCrypto's (ours) against
//!   *ring*'s (quinn's), which is where the bulk figures differ.
//! - **handshakes per second**: a fresh session (connection) per iteration on an endpoint pair
//!   kept across iterations, timed from `connect` until both sides reported `Connected` and
//!   neither has anything left to send; closing and draining it afterwards is not timed.
//!
//! Before criterion's figures it prints what each path put on the wire (packets each way per
//! datagram; the bytes of each packet are measured by the `roaming-memory` binary) and an
//! interleaved timing, so that load
//! from other processes falls on every path alike. Results, machine and command are recorded
//! in BENCHMARKS.md.
//!
//! `BRIDGELESS_ROAMING_PROFILE=<path>/<size>` (e.g. `ours/1200`, `quinn_chacha/1200`) only runs
//! that path on 64 MiB, and `BRIDGELESS_ROAMING_PROFILE=handshake/<path>` (`handshake/ours`,
//! `handshake/quinn_chacha`) 2,000 handshakes, for `perf record` or callgrind.

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_benches::roaming::{Driver, TransferStats, ours, payload, quinn, transfer};
use bridgeless_roaming::{Config, Duration};
use criterion::{Criterion, Throughput, criterion_group};

/// Datagram payload sizes.
const SIZES: [usize; 3] = [64, 1200, 1350];
/// Payload bytes per criterion iteration (rounded down to whole datagrams).
const ITER_BYTES: usize = 1 << 20;
/// Payload bytes per transfer in the interleaved timing.
const INTERLEAVED_BYTES: usize = 8 << 20;
/// Rounds of the interleaved timing.
const INTERLEAVED_ROUNDS: usize = 5;
/// Handshakes per path per round of the interleaved handshake timing.
const INTERLEAVED_HANDSHAKES: usize = 200;

/// The bulk paths.
const PATHS: [&str; 5] = [
    "ours",
    "ours_id8",
    "quinn_chacha",
    "quinn_default",
    "quinn_stream_chacha",
];

fn ours_config(id_len: usize) -> Config {
    Config {
        id_len,
        ..Config::default()
    }
}

/// A connected pair for bulk path `name` and datagrams of `len` bytes.
fn make(name: &str, len: usize) -> Box<dyn Driver> {
    match name {
        "ours" => Box::new(ours::Pair::connected(ours_config(16))),
        "ours_id8" => Box::new(ours::Pair::connected(ours_config(8))),
        "quinn_chacha" => Box::new(quinn::Pair::connected(quinn::Suite::ChaCha20Poly1305)),
        "quinn_default" => Box::new(quinn::Pair::connected(quinn::Suite::Default)),
        "quinn_stream_chacha" => {
            let mut p = quinn::Pair::connected(quinn::Suite::ChaCha20Poly1305);
            p.use_stream(len);
            Box::new(p)
        }
        _ => panic!("unknown path {name}"),
    }
}

fn count_for(len: usize, bytes: usize) -> u64 {
    (bytes / len) as u64
}

/// Moves `bytes` of `len`-byte datagrams over `d`; returns the payload bytes delivered.
#[inline(never)]
fn run(d: &mut dyn Driver, template: &mut [u8], bytes: usize, stats: &mut TransferStats) -> u64 {
    let count = count_for(template.len(), bytes);
    let got = transfer(d, template, count, stats);
    assert_eq!(got.bytes, count * template.len() as u64);
    got.bytes
}

/// Checks every path once and prints what it put on the wire.
fn check_and_report() {
    eprintln!("What each path put on the wire for 4 MiB of payload (checked at the receiver):");
    eprintln!(
        "| path | size | datagrams | rounds | packets c→s | per datagram | packets s→c (acks) | per c→s packet |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for len in SIZES {
        for name in PATHS {
            let mut d = make(name, len);
            let mut template = payload::new(len);
            let mut stats = TransferStats::default();
            let bytes = run(d.as_mut(), &mut template, 4 << 20, &mut stats);
            let count = bytes / len as u64;
            eprintln!(
                "| {name} | {len} | {count} | {} | {} | {:.3} | {} | {:.3} |",
                stats.rounds,
                stats.forward_packets,
                stats.forward_packets as f64 / count as f64,
                stats.reverse_packets,
                stats.reverse_packets as f64 / stats.forward_packets.max(1) as f64,
            );
        }
    }
    eprintln!();
    let mut q = quinn::Pair::connected(quinn::Suite::ChaCha20Poly1305);
    let o = ours::Pair::connected(ours_config(16));
    eprintln!(
        "Largest datagram: ours {} bytes, quinn {} bytes (both in 1452-byte UDP payloads).",
        o.client.max_datagram_size(),
        q.max_datagram_size()
    );
    eprintln!();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times the bulk paths in alternation (one transfer each per round); prints each path's
/// median and range, and the median per-round ratio to `quinn_chacha`.
fn interleaved_bulk() {
    eprintln!(
        "Interleaved bulk timing: {INTERLEAVED_ROUNDS} rounds of one {} MiB transfer per path:",
        INTERLEAVED_BYTES >> 20
    );
    eprintln!("| size | path | median Gbit/s | min-max Gbit/s | ours / this (median of rounds) |");
    eprintln!("|---:|---|---:|---:|---:|");
    for len in SIZES {
        let mut pairs: Vec<Box<dyn Driver>> = PATHS.iter().map(|n| make(n, len)).collect();
        let mut template = payload::new(len);
        let mut times = vec![Vec::new(); PATHS.len()];
        for _ in 0..INTERLEAVED_ROUNDS {
            for (d, times) in pairs.iter_mut().zip(&mut times) {
                let start = StdInstant::now();
                let bytes = run(
                    d.as_mut(),
                    &mut template,
                    INTERLEAVED_BYTES,
                    &mut TransferStats::default(),
                );
                let t = start.elapsed().as_secs_f64();
                times.push(bytes as f64 * 8.0 / t / 1e9);
            }
        }
        let ours_rates = times[0].clone();
        for (name, rates) in PATHS.iter().zip(&mut times) {
            let mut ratios: Vec<f64> = ours_rates
                .iter()
                .zip(rates.iter())
                .map(|(o, r)| o / r)
                .collect();
            let lo = rates.iter().copied().fold(f64::MAX, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            eprintln!(
                "| {len} | {name} | {:.2} | {lo:.2}-{hi:.2} | {:.2}x |",
                median(rates),
                median(&mut ratios)
            );
        }
    }
    eprintln!();
}

/// One timed handshake on a kept pair, then an untimed close.
trait Handshaker {
    fn once(&mut self) -> StdDuration;
}

impl Handshaker for ours::Pair {
    fn once(&mut self) -> StdDuration {
        // A second between handshakes: the endpoint's initiation rate limit (100/s, bursts
        // of 32) refills, as it would for clients arriving at a realistic rate.
        self.now += Duration::from_secs(1);
        let start = StdInstant::now();
        let (c, _) = black_box(self.handshake());
        let t = start.elapsed();
        self.close(c);
        assert_eq!(self.server.session_count(), 0);
        assert_eq!(self.client.session_count(), 0);
        t
    }
}

impl Handshaker for quinn::Pair {
    fn once(&mut self) -> StdDuration {
        self.elapsed += StdDuration::from_secs(1);
        let start = StdInstant::now();
        let (c, _) = black_box(self.handshake());
        let t = start.elapsed();
        self.close(c);
        t
    }
}

const HANDSHAKE_PATHS: [&str; 3] = ["ours", "quinn_chacha", "quinn_default"];

fn make_handshaker(name: &str) -> Box<dyn Handshaker> {
    match name {
        "ours" => Box::new(ours::Pair::new(Config::default())),
        "quinn_chacha" => Box::new(quinn::Pair::new(quinn::Suite::ChaCha20Poly1305)),
        "quinn_default" => Box::new(quinn::Pair::new(quinn::Suite::Default)),
        _ => panic!("unknown path {name}"),
    }
}

fn interleaved_handshakes() {
    eprintln!(
        "Interleaved handshake timing: {INTERLEAVED_ROUNDS} rounds of {INTERLEAVED_HANDSHAKES} handshakes per path:"
    );
    eprintln!("| path | median handshakes/s | min-max | µs per handshake (median) |");
    eprintln!("|---|---:|---:|---:|");
    let mut pairs: Vec<Box<dyn Handshaker>> =
        HANDSHAKE_PATHS.iter().map(|n| make_handshaker(n)).collect();
    let mut rates = vec![Vec::new(); pairs.len()];
    for _ in 0..INTERLEAVED_ROUNDS {
        for (p, rates) in pairs.iter_mut().zip(&mut rates) {
            let total: StdDuration = (0..INTERLEAVED_HANDSHAKES).map(|_| p.once()).sum();
            rates.push(INTERLEAVED_HANDSHAKES as f64 / total.as_secs_f64());
        }
    }
    for (name, rates) in HANDSHAKE_PATHS.iter().zip(&mut rates) {
        let lo = rates.iter().copied().fold(f64::MAX, f64::min);
        let hi = rates.iter().copied().fold(0.0, f64::max);
        let m = median(rates);
        eprintln!("| {name} | {m:.0} | {lo:.0}-{hi:.0} | {:.1} |", 1e6 / m);
    }
    eprintln!();
}

fn bulk(c: &mut Criterion) {
    check_and_report();
    interleaved_bulk();
    for len in SIZES {
        let mut group = c.benchmark_group(format!("roaming_bulk/{len}"));
        let count = count_for(len, ITER_BYTES);
        group.throughput(Throughput::Bytes(count * len as u64));
        group.sample_size(20);
        for name in PATHS {
            let mut d = make(name, len);
            let mut template = payload::new(len);
            let mut stats = TransferStats::default();
            group.bench_function(name, |b| {
                b.iter(|| black_box(run(d.as_mut(), &mut template, ITER_BYTES, &mut stats)))
            });
        }
        group.finish();
    }
}

fn handshakes(c: &mut Criterion) {
    interleaved_handshakes();
    let mut group = c.benchmark_group("roaming_handshake");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    for name in HANDSHAKE_PATHS {
        let mut p = make_handshaker(name);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| p.once()).sum())
        });
    }
    group.finish();
}

/// The per-packet crypto alone, what dominates the bulk figures: seal then open one packet's
/// payload (`len` bytes, 18 bytes of header as associated data, a fresh nonce each time)
/// with the ChaCha20-Poly1305 ours used before it moved to *ring* (RustCrypto
/// `chacha20poly1305` 0.10; the `_ours` ids are kept for comparison with earlier runs), its
/// successor 0.11, and *ring*'s (quinn-proto's through rustls, and ours now); and one
/// header-protection mask (RFC 9001 §5.4.4) with RustCrypto `chacha20` 0.9 (ours before) and
/// *ring*.
fn packet_crypto(c: &mut Criterion) {
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305_next::aead::{AeadInOut, KeyInit as KeyInitNext};

    const KEY: [u8; 32] = [7; 32];
    let aad = [0x42u8; 18];
    let nonce = |n: u64| {
        let mut b = [0u8; 12];
        b[4..].copy_from_slice(&n.to_le_bytes());
        b
    };
    for len in [64, 1200] {
        let mut group = c.benchmark_group(format!("roaming_packet_crypto/{len}"));
        group.throughput(Throughput::Bytes(len as u64));
        let mut buf = vec![0x5au8; len];

        let ours = chacha20poly1305::ChaCha20Poly1305::new(&KEY.into());
        let mut n = 0u64;
        group.bench_function("rustcrypto_0.10_ours", |b| {
            b.iter(|| {
                n += 1;
                let tag = ours
                    .encrypt_in_place_detached(&nonce(n).into(), &aad, &mut buf)
                    .expect("seal");
                ours.decrypt_in_place_detached(&nonce(n).into(), &aad, &mut buf, &tag)
                    .expect("open");
            })
        });

        let next = chacha20poly1305_next::ChaCha20Poly1305::new(&KEY.into());
        group.bench_function("rustcrypto_0.11", |b| {
            b.iter(|| {
                n += 1;
                let tag = next
                    .encrypt_inout_detached(&nonce(n).into(), &aad, buf.as_mut_slice().into())
                    .expect("seal");
                next.decrypt_inout_detached(
                    &nonce(n).into(),
                    &aad,
                    buf.as_mut_slice().into(),
                    &tag,
                )
                .expect("open");
            })
        });

        let ring_key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &KEY).expect("key"),
        );
        group.bench_function("ring", |b| {
            b.iter(|| {
                n += 1;
                let tag = ring_key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce(n)),
                        ring::aead::Aad::from(&aad),
                        &mut buf,
                    )
                    .expect("seal");
                ring_key
                    .open_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce(n)),
                        ring::aead::Aad::from(&aad),
                        tag,
                        &mut buf,
                        0..,
                    )
                    .expect("open");
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group("roaming_header_mask");
    let sample = [0x33u8; 16];
    group.bench_function("rustcrypto_chacha20_0.9_ours", |b| {
        b.iter(|| {
            let s = black_box(&sample);
            let counter = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            let mut iv = [0u8; 12];
            iv.copy_from_slice(&s[4..]);
            let mut c = chacha20::ChaCha20::new(&KEY.into(), &iv.into());
            c.seek(u64::from(counter) * 64);
            let mut mask = [0u8; 5];
            c.apply_keystream(&mut mask);
            mask
        })
    });
    let hp =
        ring::aead::quic::HeaderProtectionKey::new(&ring::aead::quic::CHACHA20, &KEY).expect("key");
    group.bench_function("ring", |b| {
        b.iter(|| hp.new_mask(black_box(&sample)).expect("mask"))
    });
    group.finish();
}

criterion_group!(benches, bulk, handshakes, packet_crypto);

fn main() {
    if let Ok(spec) = std::env::var("BRIDGELESS_ROAMING_PROFILE") {
        let (name, len) = spec
            .split_once('/')
            .expect("BRIDGELESS_ROAMING_PROFILE=<path>/<size>");
        if name == "handshake" {
            let mut p = make_handshaker(len);
            let t: StdDuration = (0..2000).map(|_| p.once()).sum();
            eprintln!(
                "{spec}: 2000 handshakes, {:.1} µs each",
                t.as_secs_f64() * 1e6 / 2000.0
            );
            return;
        }
        let len: usize = len.parse().expect("a datagram size");
        let mut d = make(name, len);
        let mut template = payload::new(len);
        let bytes = run(
            d.as_mut(),
            &mut template,
            64 << 20,
            &mut TransferStats::default(),
        );
        eprintln!("{name}/{len}: {bytes} bytes delivered");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
