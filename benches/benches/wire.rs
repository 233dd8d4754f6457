//! Receive and emit paths of bridgeless-wire against the alternatives a user would pick, in one
//! run: smoltcp 0.14 (with and without an Ethernet header) and etherparse 0.21, with a plain copy
//! of the packet as the physical floor. Results and the command are recorded in BENCHMARKS.md.

use std::hint::black_box;

use bridgeless_benches::receive::{
    Outcome, bridgeless, etherparse_ip, smoltcp_ethernet, smoltcp_ipv6,
};
use bridgeless_benches::{Shape, shapes};
use criterion::{Criterion, criterion_group, criterion_main};
use smoltcp::wire::{IpProtocol, Ipv6Packet, Ipv6Repr, UdpPacket};

#[inline(never)]
fn copy_floor(bytes: &[u8], out: &mut [u8]) -> usize {
    out[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

fn receive(c: &mut Criterion) {
    eprintln!(
        "Bytes per packet on each kind of link:\n{}",
        bridgeless_benches::size_table()
    );
    let mut group = c.benchmark_group("receive");
    for shape in shapes() {
        let Shape { name, bare } = &shape;
        let eth = shape.ethernet();
        // Every path must agree before we time it.
        let expected = smoltcp_ipv6(bare).expect("smoltcp parses the shape");
        assert_eq!(bridgeless(bare), Some(expected), "{name}: bridgeless");
        assert_eq!(
            smoltcp_ethernet(&eth),
            Some(expected),
            "{name}: smoltcp ethernet"
        );
        assert_eq!(etherparse_ip(bare), Some(expected), "{name}: etherparse");

        group.bench_function(format!("{name}/bridgeless_bare"), |b| {
            b.iter(|| bridgeless(black_box(bare)))
        });
        group.bench_function(format!("{name}/smoltcp_ethernet"), |b| {
            b.iter(|| smoltcp_ethernet(black_box(&eth)))
        });
        group.bench_function(format!("{name}/smoltcp_ip"), |b| {
            b.iter(|| smoltcp_ipv6(black_box(bare)))
        });
        group.bench_function(format!("{name}/etherparse_ip"), |b| {
            b.iter(|| etherparse_ip(black_box(bare)))
        });
        let mut out = vec![0u8; 2048];
        group.bench_function(format!("{name}/memcpy_floor"), |b| {
            b.iter(|| copy_floor(black_box(bare), black_box(&mut out)))
        });
    }
    group.finish();
}

/// A receive burst, as a driver drains a ring: 64 frames per iteration, so the per-call cost
/// of the harness is amortised and what remains is the per-packet work. `mixed` cycles
/// through every shape; the others repeat one shape in 64 separate buffers.
fn receive_burst(c: &mut Criterion) {
    const BURST: usize = 64;
    let mut group = c.benchmark_group("receive_burst");
    group.throughput(criterion::Throughput::Elements(BURST as u64));
    let all = shapes();
    let mut sets: Vec<(&str, Vec<Vec<u8>>)> = all
        .iter()
        .map(|s| (s.name, (0..BURST).map(|_| s.bare.clone()).collect()))
        .collect();
    sets.push((
        "mixed",
        (0..BURST)
            .map(|i| all[i % all.len()].bare.clone())
            .collect(),
    ));
    for (name, bare) in &sets {
        let eth: Vec<Vec<u8>> = bare
            .iter()
            .map(|b| [&bridgeless_benches::ETHERNET_HEADER[..], b].concat())
            .collect();
        let run = |frames: &[Vec<u8>], parse: fn(&[u8]) -> Option<Outcome>| {
            let mut acc = 0u32;
            for f in frames {
                if let Some((p, s, d)) = parse(black_box(f)) {
                    acc = acc.wrapping_add(u32::from(p) ^ u32::from(s) ^ u32::from(d));
                }
            }
            acc
        };
        assert_eq!(run(bare, bridgeless), run(&eth, smoltcp_ethernet));
        group.bench_function(format!("{name}/bridgeless_bare"), |b| {
            b.iter(|| run(bare, bridgeless))
        });
        group.bench_function(format!("{name}/smoltcp_ethernet"), |b| {
            b.iter(|| run(&eth, smoltcp_ethernet))
        });
        group.bench_function(format!("{name}/smoltcp_ip"), |b| {
            b.iter(|| run(bare, smoltcp_ipv6))
        });
        group.bench_function(format!("{name}/etherparse_ip"), |b| {
            b.iter(|| run(bare, etherparse_ip))
        });
    }
    group.finish();
}

/// Emit a complete UDP/IPv6 packet with its checksum, 64 bytes of payload.
fn emit(c: &mut Criterion) {
    use bridgeless_benches::{DST, SRC};
    use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
    let payload = [0x5au8; 64];
    let mut group = c.benchmark_group("emit_udp_64");
    let mut buf = vec![0u8; 2048];

    let header = Ipv6Header {
        src: SRC,
        dst: DST,
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    group.bench_function("bridgeless", |b| {
        b.iter(|| {
            emit_udp_v6(
                black_box(&header),
                5683,
                4433,
                black_box(&payload),
                &mut buf,
            )
            .unwrap()
        })
    });

    let caps = smoltcp::phy::ChecksumCapabilities::default();
    group.bench_function("smoltcp", |b| {
        b.iter(|| {
            let udp = smoltcp::wire::UdpRepr {
                src_port: 5683,
                dst_port: 4433,
            };
            let ip = Ipv6Repr {
                src_addr: black_box(SRC),
                dst_addr: DST,
                next_header: IpProtocol::Udp,
                payload_len: udp.header_len() + payload.len(),
                hop_limit: 64,
            };
            let mut packet = Ipv6Packet::new_unchecked(&mut buf[..40 + 8 + payload.len()]);
            ip.emit(&mut packet);
            let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
            udp.emit(
                &mut datagram,
                &SRC.into(),
                &DST.into(),
                payload.len(),
                |p| p.copy_from_slice(black_box(&payload)),
                &caps,
            );
            black_box(&buf[0]);
        })
    });

    group.bench_function("etherparse", |b| {
        b.iter(|| {
            let builder =
                etherparse::PacketBuilder::ipv6(black_box(SRC.octets()), DST.octets(), 64)
                    .udp(5683, 4433);
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            builder.write(&mut cursor, black_box(&payload)).unwrap();
        })
    });
    group.finish();
}

/// Header compression: compress at the sender, rebuild the header at the receiver (zero-copy:
/// only the header is written) and the whole packet (a copy).
fn compression(c: &mut Criterion) {
    use bridgeless_wire::compressed::{self, MAX_REBUILT_HEADER_LEN};
    let ctx = bridgeless_benches::sender_context();
    let peer = ctx.mirrored();
    let mut group = c.benchmark_group("compression");
    for shape in shapes() {
        let Shape { name, bare } = &shape;
        let mut frame = vec![0u8; 2048];
        let n = compressed::compress(&ctx, bare, &mut frame).unwrap().len();
        let frame = &frame[..n];
        let mut out = vec![0u8; 2048];
        group.bench_function(format!("{name}/compress"), |b| {
            b.iter(|| compressed::compress(&ctx, black_box(bare), &mut out).unwrap())
        });
        group.bench_function(format!("{name}/decompress_header"), |b| {
            let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
            b.iter(|| compressed::decompressed_header(&peer, black_box(frame), &mut hdr).unwrap())
        });
        group.bench_function(format!("{name}/decompress"), |b| {
            b.iter(|| compressed::decompress(&peer, black_box(frame), &mut out).unwrap())
        });
    }
    group.finish();
}

/// The Internet checksum (RFC 1071) over the sizes a link carries: a bare TCP header (20), a
/// small packet, a full TCP segment at MTU 1500 (1,460), what the host sums for one
/// (addresses + segment, 1,492) and a jumbo frame — smoltcp's `checksum::data` against
/// bridgeless-iface's in each build this processor runs; then the whole TCP checksum of a
/// 1,500-byte packet, verified and filled, smoltcp's way (pseudo-header and data) and ours.
/// An interleaved timing is printed first (see [`checksum_interleaved`]).
fn checksum(c: &mut Criterion) {
    use bridgeless_iface::checksum::{self as ours, Isa};
    let bytes: Vec<u8> = (0..9001u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.is_available()).collect();
    checksum_interleaved(&bytes, &isas);
    let mut group = c.benchmark_group("checksum");
    for len in [20usize, 64, 576, 1460, 1492, 9000] {
        // Start one byte in, as a slice of a frame need not be aligned.
        let d = &bytes[1..1 + len];
        group.throughput(criterion::Throughput::Bytes(len as u64));
        group.bench_function(format!("{len}/smoltcp"), |b| {
            b.iter(|| smoltcp::wire::checksum::data(black_box(d)))
        });
        for &isa in &isas {
            assert_eq!(
                ours::data_using(isa, d),
                Some(smoltcp::wire::checksum::data(d))
            );
            group.bench_function(format!("{len}/bridgeless_{isa:?}"), |b| {
                b.iter(|| ours::data_using(isa, black_box(d)))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("tcp_checksum_1500");
    let mut packet = tcp_packet_1500(&bytes);
    let (src, dst) = (
        smoltcp::wire::IpAddress::Ipv6(bridgeless_benches::SRC),
        smoltcp::wire::IpAddress::Ipv6(bridgeless_benches::DST),
    );
    let protocols = ours::Protocols::ALL;
    assert_eq!(ours::verify(&packet, protocols), ours::Verdict::Valid);
    group.bench_function("verify/smoltcp", |b| {
        b.iter(|| {
            smoltcp::wire::TcpPacket::new_unchecked(&black_box(&packet[..])[40..])
                .verify_checksum(&src, &dst)
        })
    });
    group.bench_function("verify/bridgeless", |b| {
        b.iter(|| ours::verify(black_box(&packet), protocols))
    });
    group.bench_function("fill/smoltcp", |b| {
        b.iter(|| {
            smoltcp::wire::TcpPacket::new_unchecked(&mut black_box(&mut packet[..])[40..])
                .fill_checksum(&src, &dst)
        })
    });
    group.bench_function("fill/bridgeless", |b| {
        b.iter(|| ours::fill(black_box(&mut packet), protocols))
    });
    group.finish();
}

/// A 1,500-byte IPv6 packet: a TCP segment of 1,440 payload bytes (as in the iface bench),
/// its checksum filled by smoltcp.
fn tcp_packet_1500(bytes: &[u8]) -> Vec<u8> {
    use smoltcp::wire::{IpAddress, TcpPacket};
    let (src, dst) = (bridgeless_benches::SRC, bridgeless_benches::DST);
    let mut p = vec![0u8; 1500];
    let mut ip = Ipv6Packet::new_unchecked(&mut p[..]);
    ip.set_version(6);
    ip.set_payload_len(1460);
    ip.set_next_header(IpProtocol::Tcp);
    ip.set_hop_limit(64);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    p[60..].copy_from_slice(&bytes[..1440]);
    let mut tcp = TcpPacket::new_unchecked(&mut p[40..]);
    tcp.set_src_port(49152);
    tcp.set_dst_port(5001);
    tcp.set_header_len(20);
    tcp.set_ack(true);
    tcp.set_window_len(65535);
    tcp.fill_checksum(&IpAddress::Ipv6(src), &IpAddress::Ipv6(dst));
    p
}

/// The checksum of 1,492 bytes (what the host sums for a full segment), timed in alternation:
/// 31 rounds, each timing 200,000 calls of every implementation in turn, so that other
/// processes' load falls on all alike. Prints the median ns per call and its ratio to smoltcp.
fn checksum_interleaved(bytes: &[u8], isas: &[bridgeless_iface::checksum::Isa]) {
    use bridgeless_iface::checksum as ours;
    const ROUNDS: usize = 31;
    const CALLS: u32 = 200_000;
    let d = &bytes[1..1 + 1492];
    type Sum = Box<dyn Fn(&[u8]) -> u16>;
    let mut impls: Vec<(String, Sum)> =
        vec![("smoltcp".into(), Box::new(smoltcp::wire::checksum::data))];
    for &isa in isas {
        impls.push((
            format!("bridgeless_{isa:?}"),
            Box::new(move |d| ours::data_using(isa, d).unwrap_or(0)),
        ));
    }
    impls.push(("bridgeless (auto)".into(), Box::new(ours::data)));
    let mut times = vec![Vec::with_capacity(ROUNDS); impls.len()];
    for _ in 0..ROUNDS {
        for ((_, f), t) in impls.iter().zip(&mut times) {
            let start = std::time::Instant::now();
            let mut x = 0u16;
            for _ in 0..CALLS {
                x = x.wrapping_add(f(black_box(d)));
            }
            black_box(x);
            t.push(start.elapsed().as_secs_f64() * 1e9 / f64::from(CALLS));
        }
    }
    let mut medians = vec![];
    for t in &mut times {
        t.sort_by(f64::total_cmp);
        medians.push(t[ROUNDS / 2]);
    }
    eprintln!("Checksum of 1492 bytes, interleaved, {ROUNDS} rounds of {CALLS} calls:");
    eprintln!("| implementation | median ns | speed-up over smoltcp |");
    eprintln!("|---|---:|---:|");
    for ((name, _), m) in impls.iter().zip(&medians) {
        eprintln!("| {name} | {m:.1} | {:.2}x |", medians[0] / m);
    }
}

criterion_group!(benches, receive, receive_burst, emit, compression, checksum);
criterion_main!(benches);
