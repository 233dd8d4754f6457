//! Unit tests: one commented frame per address, TF, HLIM and NHC mode, and the fallbacks.
// Binary literals are grouped by IPHC field (dispatch, TF, NH, HLIM, ...), not by nibble.
#![allow(clippy::unusual_byte_groupings)]

use super::*;

/// This end's interface identifier.
const A: [u8; 8] = [0x02, 0, 0, 0, 0, 0, 0, 0x0a];
/// The peer's interface identifier.
const B: [u8; 8] = [0x02, 0, 0, 0, 0, 0, 0, 0x0b];

/// fe80:: + iid.
fn ll(iid: [u8; 8]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..2].copy_from_slice(&[0xfe, 0x80]);
    o[8..].copy_from_slice(&iid);
    o
}

fn addr(o: [u8; 16]) -> Ipv6Address {
    Ipv6Address::from(o)
}

/// The sender's context: local A, peer B; context 0 = 2001:db8:1::/64, 3 = 2001:db8:2::/48.
fn ctx() -> Context {
    let mut c = Context::new(A, B);
    c.set_prefix(0, Ipv6Cidr::new(addr(pfx(1)), 64)).unwrap();
    c.set_prefix(3, Ipv6Cidr::new(addr(pfx(2)), 48)).unwrap();
    c
}

/// 2001:db8:n::
fn pfx(n: u8) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, n]);
    o
}

/// 2001:db8:n:: + iid.
fn global(n: u8, iid: [u8; 8]) -> [u8; 16] {
    let mut o = pfx(n);
    o[8..].copy_from_slice(&iid);
    o
}

/// Writes an IPv6 packet into `buf` and returns its length.
#[allow(clippy::too_many_arguments)]
fn ipv6(
    buf: &mut [u8],
    tc: u8,
    fl: u32,
    nh: u8,
    hl: u8,
    src: [u8; 16],
    dst: [u8; 16],
    payload: &[u8],
) -> usize {
    let fl = fl.to_be_bytes();
    let pl = (payload.len() as u16).to_be_bytes();
    buf[..8].copy_from_slice(&[
        0x60 | tc >> 4,
        tc << 4 | fl[1],
        fl[2],
        fl[3],
        pl[0],
        pl[1],
        nh,
        hl,
    ]);
    buf[8..24].copy_from_slice(&src);
    buf[24..40].copy_from_slice(&dst);
    buf[40..40 + payload.len()].copy_from_slice(payload);
    40 + payload.len()
}

/// Compresses `packet` with the sender's context, checks the frame is `header ++ payload`, and
/// decompresses it with the receiver's (mirrored) context back to `packet`.
fn check(packet: &[u8], header: &[u8], payload: &[u8]) {
    let sender = ctx();
    let receiver = sender.mirrored();
    let mut frame = [0u8; 256];
    let outcome = compress(&sender, packet, &mut frame).unwrap();
    let len = outcome.len();
    assert_eq!(&frame[..header.len()], header, "compressed header");
    assert_eq!(&frame[header.len()..len], payload, "payload");
    assert_eq!(
        outcome,
        Outcome::Compressed {
            len,
            header_saved: packet.len() - len
        }
    );
    assert_eq!(kind(&frame[..len]), Ok(FrameKind::Compressed));
    let mut back = [0u8; 256];
    let n = decompress(&receiver, &frame[..len], &mut back).unwrap();
    assert_eq!(&back[..n], packet);
    // The header alone, without copying the payload.
    let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
    let r = decompressed_header(&receiver, &frame[..len], &mut hdr).unwrap();
    assert_eq!(r.payload_offset, len - payload.len());
    assert_eq!(
        &hdr[..r.header_len],
        &packet[..packet.len() - payload.len()]
    );
    assert_eq!(r.packet_len(len), packet.len());
}

const TCP: [u8; 4] = [0xde, 0xad, 0xbe, 0xef]; // stands for a TCP header and data

#[test]
fn kind_by_first_byte() {
    assert_eq!(kind(&[0x45]), Ok(FrameKind::Ipv4));
    assert_eq!(kind(&[0x60]), Ok(FrameKind::Ipv6));
    assert_eq!(kind(&[0x80]), Ok(FrameKind::Compressed));
    assert_eq!(kind(&[0x9f]), Ok(FrameKind::Compressed));
    for reserved in [0x00, 0x3f, 0x50, 0x7f, 0xa0, 0xbf, 0xc0, 0xff] {
        assert_eq!(kind(&[reserved]), Err(Error::Unsupported), "{reserved:#x}");
    }
    assert_eq!(kind(&[]), Err(Error::Truncated));
}

#[test]
fn steady_tcp_flow_link_local_is_three_bytes() {
    let mut p = [0u8; 64];
    let n = ipv6(&mut p, 0, 0, 6, 64, ll(A), ll(B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_11_0_10, // dispatch 100, TF 11 (elided), NH 0 (inline), HLIM 10 (64)
        0b0_0_11_0_0_11, // CID 0, SAC 0, SAM 11 (fe80::+A), M 0, DAC 0, DAM 11 (fe80::+B)
        0x06,          // next header: TCP
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn steady_tcp_flow_context_zero_is_three_bytes() {
    let mut p = [0u8; 64];
    let n = ipv6(&mut p, 0, 0, 6, 64, global(1, A), global(1, B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_11_0_10,   // TF 11, NH 0, HLIM 10 (64)
        0b0_1_11_0_1_11, // CID 0, SAC 1, SAM 11 (ctx 0 + A), M 0, DAC 1, DAM 11 (ctx 0 + B)
        0x06,            // next header: TCP
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn udp_ports_f0bx_is_six_bytes() {
    let mut p = [0u8; 64];
    #[rustfmt::skip]
    let udp = [
        0xf0, 0xb1, 0xf0, 0xb2, // ports 0xf0b1 -> 0xf0b2
        0x00, 0x0a, 0x12, 0x34, // length 10, checksum 0x1234
        0xca, 0xfe,             // data
    ];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), ll(B), &udp);
    #[rustfmt::skip]
    let header = [
        0b100_11_1_10,   // TF 11, NH 1 (UDP NHC), HLIM 10
        0b0_0_11_0_0_11, // SAM 11, DAM 11
        0b11110_0_11,    // UDP NHC: checksum inline, ports 4-bit each
        0x12,            // source 0xf0b1, destination 0xf0b2
        0x12, 0x34,      // checksum
    ];
    check(&p[..n], &header, &[0xca, 0xfe]);
}

#[test]
fn udp_port_modes() {
    let mut p = [0u8; 64];
    // Destination 0xf0xx: source inline, destination 8 bits.
    let udp = [0x12, 0x34, 0xf0, 0x42, 0x00, 0x08, 0xab, 0xcd];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), ll(B), &udp);
    #[rustfmt::skip]
    let header = [0x9e, 0x33,
        0b11110_0_01, 0x12, 0x34, 0x42, // PP 01: source 0x1234, destination 0xf042
        0xab, 0xcd,                     // checksum
    ];
    check(&p[..n], &header, &[]);
    // Source 0xf0xx: source 8 bits, destination inline.
    let udp = [0xf0, 0x42, 0x12, 0x34, 0x00, 0x08, 0xab, 0xcd];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), ll(B), &udp);
    #[rustfmt::skip]
    let header = [0x9e, 0x33,
        0b11110_0_10, 0x42, 0x12, 0x34, // PP 10: source 0xf042, destination 0x1234
        0xab, 0xcd,
    ];
    check(&p[..n], &header, &[]);
    // Neither: both inline.
    let udp = [0x02, 0x22, 0x02, 0x23, 0x00, 0x08, 0xab, 0xcd];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), ll(B), &udp);
    #[rustfmt::skip]
    let header = [0x9e, 0x33,
        0b11110_0_00, 0x02, 0x22, 0x02, 0x23, // PP 00: 546 -> 547
        0xab, 0xcd,
    ];
    check(&p[..n], &header, &[]);
}

#[test]
fn udp_length_mismatch_is_carried_inline() {
    let mut p = [0u8; 64];
    // UDP length 8, but the IPv6 payload is 10 bytes: the UDP header stays raw, NH inline.
    let udp = [0xf0, 0xb1, 0xf0, 0xb2, 0x00, 0x08, 0x12, 0x34, 0xca, 0xfe];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), ll(B), &udp);
    let header = [0b100_11_0_10, 0x33, 17];
    check(&p[..n], &header, &udp);
}

#[test]
fn traffic_class_and_flow_label_modes() {
    let mut p = [0u8; 64];
    // DSCP 46 (EF), ECN 0, flow label 0: TF 10, one byte ECN|DSCP.
    let n = ipv6(&mut p, 0xb8, 0, 6, 64, ll(A), ll(B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_10_0_10, 0x33,
        0b00_101110, // ECN 00, DSCP 46
        0x06,
    ];
    check(&p[..n], &header, &TCP);
    // ECN 01, DSCP 0, flow label 0x12345: TF 01, three bytes.
    let n = ipv6(&mut p, 0x01, 0x12345, 6, 64, ll(A), ll(B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_01_0_10, 0x33,
        0b01_00_0001, 0x23, 0x45, // ECN 01, pad 00, flow label 0x12345
        0x06,
    ];
    check(&p[..n], &header, &TCP);
    // ECN 10, DSCP 46, flow label 0xabcde: TF 00, four bytes.
    let n = ipv6(&mut p, 0xba, 0xabcde, 6, 64, ll(A), ll(B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_00_0_10, 0x33,
        0b10_101110,          // ECN 10, DSCP 46
        0x0a, 0xbc, 0xde,     // pad 0000, flow label 0xabcde
        0x06,
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn hop_limit_modes() {
    let mut p = [0u8; 64];
    for (hl, mode) in [(1, 0b01), (64, 0b10), (255, 0b11)] {
        let n = ipv6(&mut p, 0, 0, 6, hl, ll(A), ll(B), &TCP);
        check(&p[..n], &[0b100_11_0_00 | mode, 0x33, 0x06], &TCP);
    }
    let n = ipv6(&mut p, 0, 0, 6, 17, ll(A), ll(B), &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_11_0_00, 0x33, // HLIM 00: inline
        0x06,                // next header (before the hop limit, as in the IPv6 header)
        17,                  // hop limit
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn link_local_address_modes() {
    let mut p = [0u8; 64];
    let other = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    let short = [0, 0, 0, 0xff, 0xfe, 0, 0xbe, 0xef];
    let n = ipv6(&mut p, 0, 0, 6, 64, ll(other), ll(short), &TCP);
    #[rustfmt::skip]
    let header = [
        0x9a,
        0b0_0_01_0_0_10,                                // SAM 01 (IID inline), DAM 10 (16 bits)
        0x06,
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, // source IID
        0xbe, 0xef,                                     // destination fe80::ff:fe00:beef
    ];
    check(&p[..n], &header, &TCP);
    // The peer's IID as source and ours as destination are not elided (we are not the sender).
    let n = ipv6(&mut p, 0, 0, 6, 64, ll(B), ll(A), &TCP);
    let mut header = [0u8; 19];
    header[..3].copy_from_slice(&[0x9a, 0b0_0_01_0_0_01, 0x06]); // SAM 01, DAM 01
    header[3..11].copy_from_slice(&B);
    header[11..].copy_from_slice(&A);
    check(&p[..n], &header, &TCP);
}

#[test]
fn context_address_modes() {
    let mut p = [0u8; 64];
    let short = [0, 0, 0, 0xff, 0xfe, 0, 0x00, 0x01];
    let other = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    // Source in context 3 (2001:db8:2::/48) with our IID, destination in context 0, short IID.
    let n = ipv6(&mut p, 0, 0, 6, 64, global(2, A), global(1, short), &TCP);
    #[rustfmt::skip]
    let header = [
        0x9a,
        0b1_1_11_0_1_10, // CID 1, SAC 1, SAM 11 (ctx + A), M 0, DAC 1, DAM 10 (ctx + 16 bits)
        0x30,            // SCI 3, DCI 0
        0x06,
        0x00, 0x01,      // destination 2001:db8:1::ff:fe00:1
    ];
    check(&p[..n], &header, &TCP);
    // Source in context 0 with another IID, destination inline (no context covers it).
    let mut far = [0u8; 16];
    far[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    far[15] = 1;
    let n = ipv6(&mut p, 0, 0, 6, 64, global(1, other), far, &TCP);
    let mut header = [0u8; 3 + 8 + 16];
    header[..3].copy_from_slice(&[0x9a, 0b0_1_01_0_0_00, 0x06]); // SAC 1 SAM 01, DAM 00
    header[3..11].copy_from_slice(&other);
    header[11..].copy_from_slice(&far);
    check(&p[..n], &header, &TCP);
    // A /48 context covers only the /64 whose subnet bits are zero (RFC 6282 §3.1.1).
    let mut sub = global(2, A);
    sub[7] = 5;
    let n = ipv6(&mut p, 0, 0, 6, 64, sub, ll(B), &TCP);
    let mut header = [0u8; 3 + 16];
    header[..3].copy_from_slice(&[0x9a, 0b0_0_00_0_0_11, 0x06]);
    header[3..].copy_from_slice(&sub);
    check(&p[..n], &header, &TCP);
}

#[test]
fn unspecified_source() {
    let mut p = [0u8; 64];
    let mut all_routers = [0u8; 16];
    all_routers[..2].copy_from_slice(&[0xff, 0x02]);
    all_routers[15] = 2;
    let n = ipv6(&mut p, 0, 0, 58, 255, [0; 16], all_routers, &TCP);
    #[rustfmt::skip]
    let header = [
        0b100_11_0_11,   // HLIM 11 (255)
        0b0_1_00_1_0_11, // SAC 1 SAM 00 (::), M 1, DAC 0, DAM 11 (ff02::XX)
        58,              // ICMPv6
        0x02,            // ff02::2
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn multicast_modes() {
    let mut p = [0u8; 64];
    // ff05::1:3 -> ffXX::00XX:XXXX
    let mut g = [0u8; 16];
    g[..2].copy_from_slice(&[0xff, 0x05]);
    g[13..].copy_from_slice(&[0x01, 0x00, 0x03]);
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), g, &TCP);
    #[rustfmt::skip]
    let header = [0x9a, 0b0_0_11_1_0_10, 17,
        0x05, 0x01, 0x00, 0x03, // DAM 10: scope byte, then the low 24 bits
    ];
    check(&p[..n], &header, &TCP);
    // ff0e::ab:cdef:1234 -> ffXX::00XX:XXXX:XXXX
    let mut g = [0u8; 16];
    g[..2].copy_from_slice(&[0xff, 0x0e]);
    g[11..].copy_from_slice(&[0xab, 0xcd, 0xef, 0x12, 0x34]);
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), g, &TCP);
    #[rustfmt::skip]
    let header = [0x9a, 0b0_0_11_1_0_01, 17,
        0x0e, 0xab, 0xcd, 0xef, 0x12, 0x34, // DAM 01: flags/scope byte, then the low 40 bits
    ];
    check(&p[..n], &header, &TCP);
    // ff3e:40:2001:db8:1:0:1234:5678: unicast-prefix-based on context 0 (RFC 3306).
    #[rustfmt::skip]
    let g = [0xff, 0x3e, 0x00, 0x40, 0x20, 0x01, 0x0d, 0xb8,
             0x00, 0x01, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78];
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), g, &TCP);
    #[rustfmt::skip]
    let header = [0x9a, 0b0_0_11_1_1_00, 17,
        0x3e, 0x00, 0x12, 0x34, 0x56, 0x78, // flags/scope, RIID, group id
    ];
    check(&p[..n], &header, &TCP);
    // ff02::1:ff12:3456 (solicited-node) takes the 48-bit form.
    let mut g = [0u8; 16];
    g[..2].copy_from_slice(&[0xff, 0x02]);
    g[11..].copy_from_slice(&[0x01, 0xff, 0x12, 0x34, 0x56]);
    let n = ipv6(&mut p, 0, 0, 17, 64, ll(A), g, &TCP);
    let header = [
        0x9a,
        0b0_0_11_1_0_01,
        17,
        0x02,
        0x01,
        0xff,
        0x12,
        0x34,
        0x56,
    ];
    check(&p[..n], &header, &TCP);
}

#[test]
fn bare_fallbacks() {
    let c = ctx();
    let mut p = [0u8; 64];
    let mut out = [0u8; 64];
    // Trailing bytes after the Payload Length: sent bare.
    let n = ipv6(&mut p, 0, 0, 6, 64, ll(A), ll(B), &TCP);
    p[5] = 2;
    assert_eq!(
        compress(&c, &p[..n], &mut out),
        Ok(Outcome::Bare { len: n })
    );
    assert_eq!(&out[..n], &p[..n]);
    // Jumbo payload: Payload Length 0 with a Hop-by-Hop header.
    let n = ipv6(
        &mut p,
        0,
        0,
        0,
        64,
        ll(A),
        ll(B),
        &[59, 0, 0xc2, 4, 0, 1, 0, 0],
    );
    p[5] = 0;
    assert_eq!(
        compress(&c, &p[..n], &mut out),
        Ok(Outcome::Bare { len: n })
    );
    // Nothing to save: everything inline costs 40 bytes.
    let g = global(9, A);
    let n = ipv6(&mut p, 0xba, 0xabcde, 6, 7, g, g, &TCP);
    assert_eq!(
        compress(&c, &p[..n], &mut out),
        Ok(Outcome::Bare { len: n })
    );
    // A short IPv6 packet and an IPv4 packet are copied bare.
    assert_eq!(
        compress(&c, &[0x60, 0], &mut out),
        Ok(Outcome::Bare { len: 2 })
    );
    assert_eq!(
        compress(&c, &[0x45; 20], &mut out),
        Ok(Outcome::Bare { len: 20 })
    );
    assert_eq!(decompress(&c, &[0x45; 20], &mut p), Ok(20));
    assert_eq!(&p[..20], &[0x45; 20]);
    // Not IP at all: a bare copy would be misread as something else.
    assert_eq!(compress(&c, &[0x90; 40], &mut out), Err(Error::Malformed));
    assert_eq!(compress(&c, &[], &mut out), Err(Error::Truncated));
}

#[test]
fn buffer_too_small() {
    let c = ctx();
    let mut p = [0u8; 64];
    let n = ipv6(&mut p, 0, 0, 6, 64, ll(A), ll(B), &TCP);
    let mut out = [0u8; 6];
    assert_eq!(compress(&c, &p[..n], &mut out), Err(Error::BufferTooSmall));
    let mut out = [0u8; 7];
    assert!(compress(&c, &p[..n], &mut out).is_ok());
    let mut back = [0u8; 43];
    assert_eq!(
        decompress(&c.mirrored(), &out, &mut back),
        Err(Error::BufferTooSmall)
    );
    let mut out = [0u8; 10];
    assert_eq!(
        compress(&c, &[0x45; 20], &mut out),
        Err(Error::BufferTooSmall)
    );
}

#[test]
fn malformed_frames() {
    let c = ctx();
    let mut out = [0u8; 128];
    // Unknown context id 5.
    #[rustfmt::skip]
    let frame = [0x9a, 0b1_1_11_0_0_11, 0x50, 0x06];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Malformed));
    // Context 0 not set.
    let empty = Context::new(A, B);
    assert_eq!(
        decompress(&empty, &[0x9a, 0b0_1_11_0_0_11, 6], &mut out),
        Err(Error::Malformed)
    );
    // ... but the unspecified source needs no context.
    assert_eq!(
        decompress(&empty, &[0x9a, 0b0_1_00_0_0_11, 6], &mut out),
        Ok(40)
    );
    // M 0, DAC 1, DAM 00 is reserved.
    assert_eq!(
        decompress(&c, &[0x9a, 0b0_0_11_0_1_00, 6], &mut out),
        Err(Error::Malformed)
    );
    // M 1, DAC 1, DAM 01 is reserved.
    let frame = [0x9a, 0b0_0_11_1_1_01, 6, 0, 0, 0, 0, 0, 0];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Malformed));
    // TF pad bits set.
    let frame = [0b100_00_0_10, 0x33, 0, 0x10, 0, 0, 6];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Malformed));
    let frame = [0b100_01_0_10, 0x33, 0x10, 0, 0, 6];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Malformed));
    // UDP NHC with the checksum elided, and a non-UDP NHC.
    let frame = [0x9e, 0x33, 0b11110_1_11, 0x12];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Unsupported));
    let frame = [0x9e, 0x33, 0b1110_000_0, 0x12];
    assert_eq!(decompress(&c, &frame, &mut out), Err(Error::Unsupported));
    // Reserved dispatch, empty frame.
    assert_eq!(
        decompress(&c, &[0xa0, 0x33, 6], &mut out),
        Err(Error::Unsupported)
    );
    assert_eq!(decompress(&c, &[], &mut out), Err(Error::Truncated));
    // A payload too long for the Payload Length field.
    let mut big = [0u8; 65536 + 3];
    big[..3].copy_from_slice(&[0x9a, 0x33, 6]);
    let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
    assert_eq!(
        decompressed_header(&c, &big, &mut hdr),
        Err(Error::Malformed)
    );
    assert!(decompressed_header(&c, &big[..65535 + 3], &mut hdr).is_ok());
}

#[test]
fn every_truncation_is_truncated() {
    #[rustfmt::skip]
    let frame = [
        0b100_00_1_00, 0b1_1_01_1_0_00, 0x30,   // TF 00, NHC, HLIM inline; CID; ctx 3, M inline
        0xae, 0x0a, 0xbc, 0xde,                 // TF
        17,                                     // hop limit
        1, 2, 3, 4, 5, 6, 7, 8,                 // source IID
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb, // destination ff02::fb
        0b11110_0_00, 0x14, 0xe9, 0x14, 0xe9,   // UDP NHC, ports 5353 -> 5353
        0x55, 0xaa,                             // checksum
    ];
    let c = ctx().mirrored();
    let mut out = [0u8; 64];
    assert_eq!(decompress(&c, &frame, &mut out), Ok(48));
    for len in 1..frame.len() {
        assert_eq!(
            decompress(&c, &frame[..len], &mut out),
            Err(Error::Truncated),
            "{len}"
        );
    }
}

#[test]
fn context_table() {
    let mut c = Context::new(A, B);
    assert_eq!(c.local_iid(), A);
    assert_eq!(c.peer_iid(), B);
    assert_eq!(c.mirrored().local_iid(), B);
    assert_eq!(c.prefix(0), None);
    // Bits past the length are cleared.
    let mut o = global(7, A);
    o[6] = 0xff;
    c.set_prefix(15, Ipv6Cidr::new(addr(o), 52)).unwrap();
    let mut want = pfx(7);
    want[6] = 0xf0;
    assert_eq!(c.prefix(15), Some(Ipv6Cidr::new(addr(want), 52)));
    assert_eq!(c.remove_prefix(15), Some(Ipv6Cidr::new(addr(want), 52)));
    assert_eq!(c.remove_prefix(15), None);
    assert_eq!(
        c.set_prefix(16, Ipv6Cidr::new(addr(o), 64)),
        Err(Error::Unsupported)
    );
    assert_eq!(
        c.set_prefix(0, Ipv6Cidr::new(addr(o), 65)),
        Err(Error::Unsupported)
    );
    assert_eq!(c.remove_prefix(200), None);
    assert_eq!(c.prefix(200), None);
}

#[test]
fn lowest_context_id_wins() {
    let mut c = Context::new(A, B);
    c.set_prefix(9, Ipv6Cidr::new(addr(pfx(1)), 64)).unwrap();
    c.set_prefix(4, Ipv6Cidr::new(addr(pfx(1)), 64)).unwrap();
    let repr = Repr {
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 64,
        src_addr: addr(global(1, A)),
        dst_addr: addr(ll(B)),
        next: NextHeader::Inline(IpProtocol::Tcp),
    };
    let mut buf = [0u8; 64];
    let n = repr.emit(&c, &mut buf).unwrap();
    assert_eq!(n, repr.buffer_len(&c));
    assert_eq!(&buf[..n], &[0x9a, 0b1_1_11_0_0_11, 0x40, 6]);
    assert_eq!(Repr::parse(&c.mirrored(), &buf[..n]), Ok((repr, n)));
    let wide = Repr {
        flow_label: 0x10_0000,
        ..repr
    };
    assert_eq!(wide.emit(&c, &mut buf), Err(Error::Malformed));
}
