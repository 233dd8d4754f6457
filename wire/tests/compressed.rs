//! Property tests of the compressed frame format: every valid IPv6 packet comes back byte for
//! byte, frames are never longer than the bare packet, the header sizes the documentation
//! states hold, and no input makes the decompressor panic.

mod support;

use bridgeless_wire::Error;
use bridgeless_wire::compressed::{
    Context, FrameKind, MAX_REBUILT_HEADER_LEN, NextHeader, Outcome, Repr, compress, decompress,
    decompressed_header, kind,
};
use proptest::prelude::*;
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Cidr, checksum};

/// One end of a link: its context, the other end's, and the prefixes in the table.
#[derive(Debug, Clone)]
struct Link {
    sender: Context,
    receiver: Context,
    /// (id, top 64 bits, length) of each prefix in the table.
    prefixes: Vec<(u8, [u8; 8], u8)>,
}

fn link() -> impl Strategy<Value = Link> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        prop::collection::vec((0u8..16, any::<[u8; 8]>(), 1u8..=64), 1..4),
    )
        .prop_map(|(local, peer, entries)| {
            let mut sender = Context::new(local, peer);
            for &(id, top, len) in &entries {
                let mut o = [0u8; 16];
                o[..8].copy_from_slice(&top);
                sender.set_prefix(id, Ipv6Cidr::new(o.into(), len)).unwrap();
            }
            let prefixes = (0..16)
                .filter_map(|id| {
                    let p = sender.prefix(id)?;
                    let mut top = [0u8; 8];
                    top.copy_from_slice(&p.address().octets()[..8]);
                    Some((id, top, p.prefix_len()))
                })
                .collect();
            Link {
                receiver: sender.mirrored(),
                sender,
                prefixes,
            }
        })
}

/// The shapes of address the generator draws from.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// fe80:: + the sender's IID.
    LinkLocalSender,
    /// fe80:: + the receiver's IID.
    LinkLocalReceiver,
    /// fe80:: + a random IID.
    LinkLocalRandom,
    /// fe80::ff:fe00:XXXX.
    LinkLocalShort,
    /// A context prefix + (sender's, receiver's, random or short IID).
    Context(u8),
    /// A random global unicast address (2000::/3).
    Global,
    /// ::
    Unspecified,
    /// ff02::XX
    McastLinkByte,
    /// ffXX::00XX:XXXX
    Mcast32,
    /// ffXX::00XX:XXXX:XXXX
    Mcast48,
    /// ffXX:XXLL:<context prefix>:XXXX:XXXX (RFC 3306)
    McastPrefix,
    /// Any ffXX:: address.
    McastRandom,
}

fn shape(destination: bool) -> impl Strategy<Value = Shape> {
    let unicast = prop_oneof![
        Just(Shape::LinkLocalSender),
        Just(Shape::LinkLocalReceiver),
        Just(Shape::LinkLocalRandom),
        Just(Shape::LinkLocalShort),
        (0u8..4).prop_map(Shape::Context),
        Just(Shape::Global),
        Just(Shape::Unspecified),
    ];
    if destination {
        prop_oneof![
            3 => unicast,
            1 => prop_oneof![
                Just(Shape::McastLinkByte),
                Just(Shape::Mcast32),
                Just(Shape::Mcast48),
                Just(Shape::McastPrefix),
                Just(Shape::McastRandom),
            ],
        ]
        .boxed()
    } else {
        unicast.boxed()
    }
}

/// Builds an address of `shape` on `link`, with `r` as the random bits.
fn address(link: &Link, shape: Shape, r: [u8; 16]) -> Ipv6Address {
    let mut o = r;
    let ll = |o: &mut [u8; 16]| o[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
    let (_, top, len) = link.prefixes[usize::from(r[0]) % link.prefixes.len()];
    match shape {
        Shape::LinkLocalSender => {
            ll(&mut o);
            o[8..].copy_from_slice(&link.sender.local_iid());
        }
        Shape::LinkLocalReceiver => {
            ll(&mut o);
            o[8..].copy_from_slice(&link.sender.peer_iid());
        }
        Shape::LinkLocalRandom => ll(&mut o),
        Shape::LinkLocalShort => {
            ll(&mut o);
            o[8..14].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0]);
        }
        Shape::Context(iid) => {
            o[..8].copy_from_slice(&top);
            match iid {
                0 => o[8..].copy_from_slice(&link.sender.local_iid()),
                1 => o[8..].copy_from_slice(&link.sender.peer_iid()),
                2 => o[8..14].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0]),
                _ => {}
            }
        }
        Shape::Global => o[0] = 0x20 | (o[0] & 0x1f),
        Shape::Unspecified => o = [0; 16],
        Shape::McastLinkByte => {
            o[..15].copy_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        Shape::Mcast32 => {
            o[0] = 0xff;
            o[2..13].fill(0);
        }
        Shape::Mcast48 => {
            o[0] = 0xff;
            o[2..11].fill(0);
        }
        Shape::McastPrefix => {
            o[0] = 0xff;
            o[3] = len;
            o[4..12].copy_from_slice(&top);
        }
        Shape::McastRandom => o[0] = 0xff,
    }
    o.into()
}

/// An extension header carried raw: its type and its body after the Next Header byte.
#[derive(Debug, Clone)]
struct Ext {
    kind: u8,
    /// Everything after the Next Header byte.
    body: Vec<u8>,
}

/// Options padding of `len` bytes (Pad1 when 1, PadN otherwise), as RFC 8200 §4.2 defines them.
fn padding(len: usize) -> Vec<u8> {
    match len {
        0 => vec![],
        1 => vec![0],
        _ => {
            let mut v = vec![1, (len - 2) as u8];
            v.resize(len, 0);
            v
        }
    }
}

/// Hop-by-Hop or Destination Options with only padding, `8 * (n + 1)` bytes long.
fn options(kind: u8, n: u8) -> Ext {
    let mut body = vec![n];
    body.extend(padding(6 + 8 * usize::from(n)));
    Ext { kind, body }
}

/// A chain in the order RFC 8200 §4.1 recommends: Hop-by-Hop, Destination Options, Routing,
/// Fragment. The fragment is atomic (offset 0, M 0) and the routing header an experimental type
/// (RFC 4727) with no segments left, so the final destination stays the IPv6 destination.
fn ext_chain() -> impl Strategy<Value = Vec<Ext>> {
    (
        prop::option::of(0u8..3),
        prop::option::of(0u8..3),
        prop::option::of((0u8..3, prop_oneof![Just(253u8), Just(254u8)])),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(hbh, dst, routing, frag)| {
            let mut chain = vec![];
            if let Some(n) = hbh {
                chain.push(options(0, n));
            }
            if let Some(n) = dst {
                chain.push(options(60, n));
            }
            if let Some((n, typ)) = routing {
                let mut body = vec![n, typ, 0, 0, 0, 0, 0];
                body.resize(7 + 8 * usize::from(n), 0);
                chain.push(Ext { kind: 43, body });
            }
            if let Some(id) = frag {
                let mut body = vec![0, 0, 0];
                body.extend(id.to_be_bytes());
                chain.push(Ext { kind: 44, body });
            }
            chain
        })
}

/// The upper layer of a generated packet.
#[derive(Debug, Clone)]
enum Upper {
    Udp {
        src: u16,
        dst: u16,
        data: Vec<u8>,
    },
    Tcp {
        src: u16,
        dst: u16,
        seq: u32,
        data: Vec<u8>,
    },
    EchoRequest {
        id: u16,
        seq: u16,
        data: Vec<u8>,
    },
    NoNext,
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![0xf0b0u16..=0xf0bf, 0xf000u16..=0xf0ff, 49152u16..=65535]
}

/// Payload bytes a dissector will not mistake for some protocol.
fn data() -> impl Strategy<Value = Vec<u8>> {
    (0usize..48).prop_map(|n| b"bridgeless compressed frame test payload........"[..n].to_vec())
}

fn upper() -> impl Strategy<Value = Upper> {
    prop_oneof![
        (port(), port(), data()).prop_map(|(src, dst, data)| Upper::Udp { src, dst, data }),
        (port(), port(), any::<u32>(), data()).prop_map(|(src, dst, seq, data)| Upper::Tcp {
            src,
            dst,
            seq,
            data
        }),
        (any::<u16>(), any::<u16>(), data()).prop_map(|(id, seq, data)| Upper::EchoRequest {
            id,
            seq,
            data
        }),
        Just(Upper::NoNext),
    ]
}

/// Fills in a transport checksum at `at` in `seg` (RFC 8200 §8.1).
fn set_checksum(
    src: &Ipv6Address,
    dst: &Ipv6Address,
    proto: IpProtocol,
    seg: &mut [u8],
    at: usize,
) {
    seg[at..at + 2].fill(0);
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(src, dst, proto, seg.len() as u32),
        checksum::data(seg),
    ]);
    let mut c = !sum;
    if c == 0 && proto == IpProtocol::Udp {
        c = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// A whole IPv6 packet as fields.
#[derive(Debug, Clone)]
struct Fields {
    tc: u8,
    fl: u32,
    hop_limit: u8,
    src: Ipv6Address,
    dst: Ipv6Address,
    chain: Vec<Ext>,
    upper: Upper,
}

fn build(f: &Fields) -> Vec<u8> {
    let (proto, mut seg) = match &f.upper {
        Upper::Udp { src, dst, data } => {
            let mut s = vec![];
            s.extend(src.to_be_bytes());
            s.extend(dst.to_be_bytes());
            s.extend(((8 + data.len()) as u16).to_be_bytes());
            s.extend([0, 0]);
            s.extend(data);
            set_checksum(&f.src, &f.dst, IpProtocol::Udp, &mut s, 6);
            (17u8, s)
        }
        Upper::Tcp {
            src,
            dst,
            seq,
            data,
        } => {
            let mut s = vec![];
            s.extend(src.to_be_bytes());
            s.extend(dst.to_be_bytes());
            s.extend(seq.to_be_bytes());
            s.extend([0, 0, 0, 0]); // acknowledgment number
            s.extend([0x50, 0x02]); // data offset 5, SYN
            s.extend([0xfa, 0xf0]); // window
            s.extend([0, 0, 0, 0]); // checksum, urgent pointer
            s.extend(data);
            set_checksum(&f.src, &f.dst, IpProtocol::Tcp, &mut s, 16);
            (6, s)
        }
        Upper::EchoRequest { id, seq, data } => {
            let mut s = vec![128, 0, 0, 0];
            s.extend(id.to_be_bytes());
            s.extend(seq.to_be_bytes());
            s.extend(data);
            set_checksum(&f.src, &f.dst, IpProtocol::Icmpv6, &mut s, 2);
            (58, s)
        }
        Upper::NoNext => (59, vec![]),
    };
    let mut payload = vec![];
    let mut first = proto;
    for e in f.chain.iter().rev() {
        let mut h = vec![first];
        h.extend(&e.body);
        h.append(&mut payload);
        payload = h;
        first = e.kind;
    }
    payload.append(&mut seg);
    let fl = f.fl.to_be_bytes();
    let pl = (payload.len() as u16).to_be_bytes();
    let mut p = vec![
        0x60 | f.tc >> 4,
        f.tc << 4 | fl[1],
        fl[2],
        fl[3],
        pl[0],
        pl[1],
    ];
    p.extend([first, f.hop_limit]);
    p.extend(f.src.octets());
    p.extend(f.dst.octets());
    p.extend(payload);
    p
}

fn flow_label() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 0u32..0x10_0000]
}

fn hop_limit() -> impl Strategy<Value = u8> {
    prop_oneof![Just(1u8), Just(64u8), Just(255u8), any::<u8>()]
}

fn packet() -> impl Strategy<Value = (Link, Vec<u8>)> {
    (
        link(),
        (
            shape(false),
            any::<[u8; 16]>(),
            shape(true),
            any::<[u8; 16]>(),
        ),
        (
            prop_oneof![Just(0u8), any::<u8>()],
            flow_label(),
            hop_limit(),
        ),
        ext_chain(),
        upper(),
    )
        .prop_map(
            |(link, (ss, sr, ds, dr), (tc, fl, hop_limit), chain, upper)| {
                let f = Fields {
                    tc,
                    fl,
                    hop_limit,
                    src: address(&link, ss, sr),
                    dst: address(&link, ds, dr),
                    chain,
                    upper,
                };
                let p = build(&f);
                (link, p)
            },
        )
}

/// Compresses on one end and decompresses on the other; checks the round trip and returns the
/// frame.
fn round_trip(link: &Link, packet: &[u8]) -> (Outcome, Vec<u8>) {
    let mut frame = vec![0u8; packet.len()];
    let outcome = compress(&link.sender, packet, &mut frame).unwrap();
    frame.truncate(outcome.len());
    assert!(frame.len() <= packet.len());
    match outcome {
        Outcome::Compressed { len, header_saved } => {
            assert_eq!(len + header_saved, packet.len());
            assert!(header_saved > 0);
            assert_eq!(kind(&frame), Ok(FrameKind::Compressed));
        }
        Outcome::Bare { .. } => assert_eq!(frame, packet),
    }
    let mut back = vec![0u8; packet.len()];
    let n = decompress(&link.receiver, &frame, &mut back).unwrap();
    assert_eq!(&back[..n], packet);
    // Zero-copy receive rebuilds the same packet from a header and a slice of the frame.
    let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
    let r = decompressed_header(&link.receiver, &frame, &mut hdr).unwrap();
    let mut joined = hdr[..r.header_len].to_vec();
    joined.extend(&frame[r.payload_offset..]);
    assert_eq!(joined, packet);
    // A buffer one byte short is refused, not overrun.
    let mut short = vec![0u8; packet.len() - 1];
    assert_eq!(
        decompress(&link.receiver, &frame, &mut short),
        Err(Error::BufferTooSmall)
    );
    (outcome, frame)
}

/// Bytes of compressed header in a frame: the frame less the bytes carried unchanged.
fn header_bytes(frame: &[u8], packet: &[u8], bare_header: usize) -> usize {
    frame.len() - (packet.len() - bare_header)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn valid_packets_round_trip((link, packet) in packet()) {
        let (outcome, _) = round_trip(&link, &packet);
        // Every valid packet built here is either compressed or has nothing to save.
        if !outcome.is_compressed() {
            prop_assert!(packet[6] != 17);
        }
        let mut back = vec![0u8; packet.len()];
        let mut frame = vec![0u8; packet.len()];
        let n = compress(&link.sender, &packet, &mut frame).unwrap().len();
        let m = decompress(&link.receiver, &frame[..n], &mut back).unwrap();
        support::record_emitted(&back[..m]);
    }

    #[test]
    fn steady_tcp_flow_at_most_six_bytes(
        link in link(),
        context in any::<bool>(),
        ecn in 0u8..4,
        fl in flow_label(),
        seq in any::<u32>(),
        data in data(),
    ) {
        // A steady TCP flow between the two ends, as Linux sends it: DSCP 0, any ECN, a flow
        // label, hop limit 64, on link-local addresses or context-0 prefix addresses.
        let mut link = link;
        let mut o = [0u8; 16];
        o[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);
        link.sender.set_prefix(0, Ipv6Cidr::new(o.into(), 64)).unwrap();
        link.receiver = link.sender.mirrored();
        link.prefixes = vec![(0, o[..8].try_into().unwrap(), 64)];
        let (src, dst) = if context {
            (Shape::Context(0), Shape::Context(1))
        } else {
            (Shape::LinkLocalSender, Shape::LinkLocalReceiver)
        };
        let src = address(&link, src, [0; 16]);
        let dst = address(&link, dst, [0; 16]);
        let f = Fields {
            tc: ecn,
            fl,
            hop_limit: 64,
            src,
            dst,
            chain: vec![],
            upper: Upper::Tcp { src: 50000, dst: 443, seq, data },
        };
        let packet = build(&f);
        let (outcome, frame) = round_trip(&link, &packet);
        prop_assert!(outcome.is_compressed());
        let header = header_bytes(&frame, &packet, 40);
        prop_assert!(header <= 6, "{} bytes of IPv6 header", header);
        if ecn == 0 && fl == 0 {
            prop_assert_eq!(header, 3);
        }
        support::record_emitted(&packet);
    }

    #[test]
    fn steady_udp_flow_sizes(
        link in link(),
        src in port(),
        dst in port(),
        data in data(),
    ) {
        let f = Fields {
            tc: 0,
            fl: 0,
            hop_limit: 64,
            src: address(&link, Shape::LinkLocalSender, [0; 16]),
            dst: address(&link, Shape::LinkLocalReceiver, [0; 16]),
            chain: vec![],
            upper: Upper::Udp { src, dst, data },
        };
        let packet = build(&f);
        let (_, frame) = round_trip(&link, &packet);
        // IPHC 2 + NHC 1 + ports + checksum 2, replacing 48 bytes of IPv6 and UDP header.
        let ports = if src & 0xfff0 == 0xf0b0 && dst & 0xfff0 == 0xf0b0 {
            1
        } else if src & 0xff00 == 0xf000 || dst & 0xff00 == 0xf000 {
            3
        } else {
            4
        };
        prop_assert_eq!(header_bytes(&frame, &packet, 48), 2 + 1 + ports + 2);
        support::record_emitted(&packet);
    }

    #[test]
    fn any_ipv6_bytes_round_trip(
        link in link(),
        header in any::<[u8; 40]>(),
        payload in prop::collection::vec(any::<u8>(), 0..80),
        fix_length in any::<bool>(),
        udp_length in any::<bool>(),
    ) {
        // Not necessarily valid: random fields, Payload Length right or wrong, a UDP header
        // whose Length may or may not match.
        let mut packet = header.to_vec();
        packet[0] = 0x60 | (packet[0] & 0x0f);
        packet.extend(&payload);
        if fix_length {
            packet[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        if udp_length && payload.len() >= 8 {
            packet[6] = 17;
            packet[44..46].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        round_trip(&link, &packet);
    }

    #[test]
    fn repr_emit_then_parse(
        (link, packet) in packet(),
        udp in prop::option::of((any::<u16>(), any::<u16>(), any::<u16>())),
    ) {
        let mut src = [0u8; 16];
        src.copy_from_slice(&packet[8..24]);
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&packet[24..40]);
        let repr = Repr {
            traffic_class: packet[0] << 4 | packet[1] >> 4,
            flow_label: u32::from_be_bytes([0, packet[1] & 0x0f, packet[2], packet[3]]),
            hop_limit: packet[7],
            src_addr: src.into(),
            dst_addr: dst.into(),
            next: match udp {
                Some((src_port, dst_port, checksum)) => {
                    NextHeader::Udp { src_port, dst_port, checksum }
                }
                None => NextHeader::Inline(IpProtocol::from(packet[6])),
            },
        };
        let mut buf = [0u8; 64];
        let n = repr.emit(&link.sender, &mut buf).unwrap();
        prop_assert_eq!(n, repr.buffer_len(&link.sender));
        prop_assert_eq!(Repr::parse(&link.receiver, &buf[..n]), Ok((repr, n)));
        // Every shorter buffer is refused.
        for short in 0..n {
            prop_assert_eq!(repr.emit(&link.sender, &mut buf[..short]), Err(Error::BufferTooSmall));
        }
    }

    #[test]
    fn arbitrary_frames_never_panic(
        link in link(),
        mut frame in prop::collection::vec(any::<u8>(), 0..96),
        iphc in any::<bool>(),
    ) {
        if iphc && !frame.is_empty() {
            frame[0] = 0x80 | (frame[0] & 0x1f);
        }
        let mut out = vec![0u8; frame.len() + MAX_REBUILT_HEADER_LEN];
        if let Ok(n) = decompress(&link.receiver, &frame, &mut out) {
            // Whatever decompresses goes round again unchanged.
            let packet = out[..n].to_vec();
            let mut again = vec![0u8; packet.len()];
            if let Ok(outcome) = compress(&link.receiver.mirrored(), &packet, &mut again) {
                let mut back = vec![0u8; packet.len()];
                let m = decompress(&link.receiver, &again[..outcome.len()], &mut back).unwrap();
                prop_assert_eq!(&back[..m], &packet[..]);
            }
        }
        let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
        let _ = decompressed_header(&link.receiver, &frame, &mut hdr);
        let _ = Repr::parse(&link.receiver, &frame);
        let _ = kind(&frame);
    }
}

/// The header sizes the module documentation states, one by one.
#[test]
fn documented_sizes() {
    let local = [2, 0, 0, 0, 0, 0, 0, 1];
    let peer = [2, 0, 0, 0, 0, 0, 0, 2];
    let mut sender = Context::new(local, peer);
    let mut o = [0u8; 16];
    o[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);
    sender.set_prefix(0, Ipv6Cidr::new(o.into(), 64)).unwrap();
    sender.set_prefix(5, Ipv6Cidr::new(o.into(), 64)).unwrap();
    let mut ll_src = [0u8; 16];
    ll_src[..2].copy_from_slice(&[0xfe, 0x80]);
    let mut ll_dst = ll_src;
    ll_src[8..].copy_from_slice(&local);
    ll_dst[8..].copy_from_slice(&peer);
    let base = Repr {
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        src_addr: ll_src.into(),
        dst_addr: ll_dst.into(),
        next: NextHeader::Inline(IpProtocol::Tcp),
    };
    let len = |r: Repr| r.buffer_len(&sender);
    let udp = |s, d| NextHeader::Udp {
        src_port: s,
        dst_port: d,
        checksum: 0,
    };
    assert_eq!(len(base), 3);
    assert_eq!(
        len(Repr {
            next: udp(0xf0b1, 0xf0b2),
            ..base
        }),
        6
    );
    assert_eq!(
        len(Repr {
            next: udp(0xf001, 443),
            ..base
        }),
        8
    );
    assert_eq!(
        len(Repr {
            next: udp(5000, 443),
            ..base
        }),
        9
    );
    assert_eq!(
        len(Repr {
            traffic_class: 1,
            ..base
        }),
        4
    );
    assert_eq!(
        len(Repr {
            traffic_class: 0xb8,
            ..base
        }),
        4
    );
    assert_eq!(
        len(Repr {
            flow_label: 7,
            ..base
        }),
        6
    );
    assert_eq!(
        len(Repr {
            flow_label: 7,
            traffic_class: 0xb8,
            ..base
        }),
        7
    );
    assert_eq!(
        len(Repr {
            hop_limit: 63,
            ..base
        }),
        4
    );
    let mut other = ll_dst;
    other[15] = 9;
    assert_eq!(
        len(Repr {
            dst_addr: other.into(),
            ..base
        }),
        3 + 8
    );
    let mut short = ll_dst;
    short[8..].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0, 0x12, 0x34]);
    assert_eq!(
        len(Repr {
            dst_addr: short.into(),
            ..base
        }),
        3 + 2
    );
    let all_nodes: Ipv6Address = "ff02::1".parse().unwrap();
    assert_eq!(
        len(Repr {
            dst_addr: all_nodes,
            ..base
        }),
        3 + 1
    );
    let global: Ipv6Address = "2001:db8:ffff::1".parse().unwrap();
    assert_eq!(
        len(Repr {
            dst_addr: global,
            ..base
        }),
        3 + 16
    );
    // Context 0 addresses cost what link-local ones do; another id adds the CID byte.
    let mut ctx_src = o;
    ctx_src[8..].copy_from_slice(&local);
    let mut ctx_dst = o;
    ctx_dst[8..].copy_from_slice(&peer);
    let in_ctx = Repr {
        src_addr: ctx_src.into(),
        dst_addr: ctx_dst.into(),
        ..base
    };
    assert_eq!(len(in_ctx), 3);
    sender.remove_prefix(0);
    assert_eq!(in_ctx.buffer_len(&sender), 4);
}
