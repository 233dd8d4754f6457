//! Unit tests: one per header kind and per error path, on hand-written packets.

extern crate std;

use std::vec::Vec;

use smoltcp::wire::{IpProtocol, Ipv6Packet, UdpPacket};

use super::*;
use crate::{Error, ParamProblemCode as Code, ParameterProblem};

const HOP_BY_HOP: u8 = 0;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const ESP: u8 = 50;
const AUTH: u8 = 51;
const ICMPV6: u8 = 58;
const NO_NEXT: u8 = 59;
const DEST_OPTS: u8 = 60;

const UNICAST: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const MULTICAST: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];

/// An IPv6 packet fd00::1 -> `dst` whose payload is `rest`.
#[rustfmt::skip]
fn v6_to(dst: [u8; 16], next: u8, rest: &[u8]) -> Vec<u8> {
    let len = rest.len() as u16;
    let mut p = std::vec![
        0x6b, 0x81, 0x23, 0x45,        // version 6, traffic class 0xb8, flow label 0x12345
        (len >> 8) as u8, len as u8,   // payload length
        next, 64,                      // next header, hop limit
        0xfd, 0, 0, 0, 0, 0, 0, 0,     // source fd00::1
        0, 0, 0, 0, 0, 0, 0, 1,
    ];
    p.extend_from_slice(&dst);         // destination
    p.extend_from_slice(rest);
    p
}

/// An IPv6 packet fd00::1 -> fd00::2 whose payload is `rest`.
fn v6(next: u8, rest: &[u8]) -> Vec<u8> {
    v6_to(UNICAST, next, rest)
}

/// Concatenates byte strings.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn pp(code: Code, pointer: u32) -> Error {
    Error::ParameterProblem(ParameterProblem { code, pointer })
}

#[rustfmt::skip]
const UDP_DGRAM: [u8; 12] = [
    0x13, 0x88, 0x00, 0x35,  // source port 5000, destination port 53
    0x00, 0x0c, 0x00, 0x00,  // length 12, checksum (not checked)
    b'a', b'b', b'c', b'd',  // data
];

#[rustfmt::skip]
const TCP_SYN: [u8; 24] = [
    0xc0, 0x00, 0x00, 0x50,  // source port 49152, destination port 80
    0, 0, 0, 1, 0, 0, 0, 0,  // sequence, acknowledgment
    0x60, 0x02, 0xff, 0xff,  // data offset 6 words, SYN, window
    0x00, 0x00, 0x00, 0x00,  // checksum, urgent pointer
    0x02, 0x04, 0x05, 0xb4,  // MSS 1460
];

#[rustfmt::skip]
const ECHO_REQUEST: [u8; 8] = [
    0x80, 0x00, 0x00, 0x00,  // type 128, code 0, checksum
    0x12, 0x34, 0x00, 0x01,  // identifier, sequence
];

#[test]
fn classify_by_version_nibble() {
    assert_eq!(classify(&[]), Err(Error::Truncated));
    assert_eq!(classify(&[0x45]), Ok(IpVersion::V4));
    assert_eq!(classify(&[0x60]), Ok(IpVersion::V6));
    assert_eq!(classify(&[0x50]), Err(Error::Unsupported));
    assert_eq!(parse(&[0x00]), Err(Error::Unsupported));
    assert_eq!(parse(&[0x60]), Err(Error::Truncated));
}

#[test]
fn ipv6_udp() {
    let p = v6(UDP, &UDP_DGRAM);
    let info = parse(&p).unwrap();
    assert_eq!(info.version(), IpVersion::V6);
    assert_eq!(info.src(), "fd00::1".parse::<IpAddr>().unwrap());
    assert_eq!(info.dst(), "fd00::2".parse::<IpAddr>().unwrap());
    assert_eq!(info.hop_limit(), 64);
    assert_eq!(info.traffic_class(), 0xb8);
    assert_eq!(info.flow_label(), 0x12345);
    assert_eq!(info.payload_len(), 12);
    assert_eq!(info.packet_len(), 52);
    assert_eq!(info.trailing(), 0);
    assert_eq!(info.protocol(), IpProtocol::Udp);
    assert_eq!(info.upper_offset(), 40);
    assert_eq!(info.ports(), Some((5000, 53)));
    assert_eq!(info.icmp(), None);
    assert_eq!(info.fragment(), None);
    assert_eq!(info.router_alert(), None);
    assert!(info.ext_headers().len() == 0);
    assert!(info.has_upper_header());
    assert_eq!(info.upper_layer(), &UDP_DGRAM);
    // smoltcp reads the same header.
    let smol = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!(IpAddr::V6(smol.src_addr()), info.src());
    assert_eq!(smol.flow_label(), info.flow_label());
}

#[test]
fn ipv6_trailing_octets_are_reported() {
    let mut p = v6(UDP, &UDP_DGRAM);
    p.extend_from_slice(&[0xee; 3]);
    let info = parse_ipv6(&p).unwrap();
    assert_eq!(info.trailing(), 3);
    assert_eq!(info.packet_len(), 52);
    assert_eq!(info.upper_layer(), &UDP_DGRAM);
}

#[test]
fn ipv6_too_short() {
    let p = v6(UDP, &UDP_DGRAM);
    assert_eq!(parse_ipv6(&p[..39]), Err(Error::Truncated));
    // Payload Length 12 but only 11 octets follow.
    assert_eq!(parse_ipv6(&p[..51]), Err(Error::Truncated));
    // Wrong version.
    assert_eq!(parse_ipv6(&[0x45; 40]), Err(Error::Malformed));
}

#[test]
fn ipv6_upper_layer_minimums() {
    // UDP: 7 octets.
    assert_eq!(parse(&v6(UDP, &UDP_DGRAM[..7])), Err(Error::Truncated));
    // UDP Length 4 (under the header) and 13 (past the packet).
    let mut udp = UDP_DGRAM;
    udp[5] = 4;
    assert_eq!(parse(&v6(UDP, &udp)), Err(Error::Malformed));
    udp[5] = 13;
    assert_eq!(parse(&v6(UDP, &udp)), Err(Error::Truncated));
    // TCP: 19 octets, Data Offset 4, Data Offset 7 (28 octets) in 24.
    assert_eq!(parse(&v6(TCP, &TCP_SYN[..19])), Err(Error::Truncated));
    let mut tcp = TCP_SYN;
    tcp[12] = 0x40;
    assert_eq!(parse(&v6(TCP, &tcp)), Err(Error::Malformed));
    tcp[12] = 0x70;
    assert_eq!(parse(&v6(TCP, &tcp)), Err(Error::Truncated));
    // ICMPv6: 3 octets.
    assert_eq!(
        parse(&v6(ICMPV6, &ECHO_REQUEST[..3])),
        Err(Error::Truncated)
    );
}

#[test]
fn ipv6_tcp_and_icmpv6() {
    let packet = v6(TCP, &TCP_SYN);
    let info = parse(&packet).unwrap();
    assert_eq!(info.protocol(), IpProtocol::Tcp);
    assert_eq!(info.ports(), Some((49152, 80)));
    let packet = v6(ICMPV6, &ECHO_REQUEST);
    let info = parse(&packet).unwrap();
    assert_eq!(info.protocol(), IpProtocol::Icmpv6);
    assert_eq!(info.icmp(), Some((128, 0)));
    assert_eq!(info.ports(), None);
}

#[test]
fn ipv6_other_upper_layers_are_reported() {
    // ESP and experimental 253 end the chain; nothing in them is read.
    let packet = v6(ESP, &[0xab; 16]);
    let info = parse(&packet).unwrap();
    assert_eq!(info.protocol(), IpProtocol::IpSecEsp);
    assert_eq!((info.upper_offset(), info.ports()), (40, None));
    let packet = v6(253, &[]);
    let info = parse(&packet).unwrap();
    assert_eq!(info.protocol(), IpProtocol::Unknown(253));
}

#[test]
fn ipv6_no_next_header_ends_the_chain() {
    #[rustfmt::skip]
    let dest = [
        NO_NEXT, 0,              // next header: none, length 8
        0x01, 0x04, 0, 0, 0, 0,  // PadN
        0xde, 0xad,              // ignored octets after "No Next Header"
    ];
    let packet = v6(DEST_OPTS, &dest);
    let info = parse(&packet).unwrap();
    assert_eq!(info.protocol(), IpProtocol::Ipv6NoNxt);
    assert_eq!(info.upper_offset(), 48);
    assert!(!info.has_upper_header());
    assert_eq!(info.ext_headers().len(), 1);
    assert_eq!(parse(&v6(NO_NEXT, &[])).unwrap().upper_offset(), 40);
}

#[test]
fn hop_by_hop_router_alert_for_mld() {
    #[rustfmt::skip]
    let p = v6_to(MULTICAST, HOP_BY_HOP, &[
        ICMPV6, 0,                // next header ICMPv6, length 8
        0x05, 0x02, 0x00, 0x00,   // Router Alert, MLD
        0x01, 0x00,               // PadN, no data
        0x8f, 0x00, 0x00, 0x00,   // MLDv2 report: type 143, code 0, checksum
        0x00, 0x00, 0x00, 0x00,   // reserved, no records
    ]);
    let info = parse(&p).unwrap();
    assert_eq!(info.router_alert(), Some(0));
    assert_eq!(info.icmp(), Some((143, 0)));
    assert_eq!(info.upper_offset(), 48);
    let ext = info.ext_headers().next().unwrap();
    assert_eq!(
        (ext.kind(), ext.offset(), ext.len()),
        (ExtHeaderKind::HopByHop, 40, 8)
    );
    assert_eq!(ext.bytes(), &p[40..48]);
    assert_eq!(ext.kind().protocol(), IpProtocol::HopByHop);
}

#[test]
fn router_alert_of_wrong_length() {
    #[rustfmt::skip]
    let p = v6(HOP_BY_HOP, &[
        NO_NEXT, 0,               // next header, length 8
        0x05, 0x01, 0x00,         // Router Alert with one octet
        0x01, 0x01, 0x00,         // PadN, one octet
    ]);
    assert_eq!(parse(&p), Err(Error::Malformed));
}

#[test]
fn hop_by_hop_must_come_first() {
    #[rustfmt::skip]
    let p = v6(DEST_OPTS, &[
        HOP_BY_HOP, 0,            // Destination Options naming Hop-by-Hop
        0x01, 0x04, 0, 0, 0, 0,   // PadN
        NO_NEXT, 0, 0x01, 0x04, 0, 0, 0, 0, // Hop-by-Hop
    ]);
    // Pointer at the Next Header field of the Destination Options header.
    assert_eq!(parse(&p), Err(pp(Code::UnrecognizedNxtHdr, 40)));
}

#[test]
fn unrecognized_next_headers() {
    // Mobility header named by the IPv6 header: pointer at its Next Header field.
    assert_eq!(
        parse(&v6(135, &[59, 0, 0, 0, 0, 0, 0, 0])),
        Err(pp(Code::UnrecognizedNxtHdr, 6))
    );
    // HIP named by a Routing header at 40.
    #[rustfmt::skip]
    let p = v6(ROUTING, &[
        139, 0,                   // next header HIP, length 8
        253, 0,                   // routing type 253, segments left 0
        0, 0, 0, 0,               // type-specific data
    ]);
    assert_eq!(parse(&p), Err(pp(Code::UnrecognizedNxtHdr, 40)));
}

#[test]
fn option_actions() {
    fn dest_with(dst: [u8; 16], option_type: u8) -> Result<()> {
        #[rustfmt::skip]
        let p = v6_to(dst, DEST_OPTS, &[
            NO_NEXT, 0,               // next header, length 8
            option_type, 0x01, 0xaa,  // option with one octet of data
            0x01, 0x01, 0x00,         // PadN
        ]);
        parse(&p).map(drop)
    }
    // 00: skip. 01: discard silently.
    assert!(dest_with(UNICAST, 0x1e).is_ok());
    assert_eq!(dest_with(UNICAST, 0x5e), Err(Error::Unsupported));
    // 10: code 2 at the type octet, whatever the destination.
    assert_eq!(
        dest_with(UNICAST, 0x9e),
        Err(pp(Code::UnrecognizedOption, 42))
    );
    assert_eq!(
        dest_with(MULTICAST, 0x9e),
        Err(pp(Code::UnrecognizedOption, 42))
    );
    // 11: code 2 for unicast, silent for multicast.
    assert_eq!(
        dest_with(UNICAST, 0xde),
        Err(pp(Code::UnrecognizedOption, 42))
    );
    assert_eq!(dest_with(MULTICAST, 0xde), Err(Error::Unsupported));
    // The Home Address option (0xc9) is not implemented either.
    assert_eq!(
        dest_with(UNICAST, 0xc9),
        Err(pp(Code::UnrecognizedOption, 42))
    );
}

#[test]
fn options_after_pad1() {
    #[rustfmt::skip]
    let p = v6(HOP_BY_HOP, &[
        UDP, 0,                   // next header, length 8
        0x00, 0x00,               // Pad1, Pad1
        0x9e, 0x00,               // unrecognized option, action 10, at 44
        0x00, 0x00,               // Pad1, Pad1
    ]);
    assert_eq!(parse(&p), Err(pp(Code::UnrecognizedOption, 44)));
}

#[test]
fn option_overrunning_its_header() {
    #[rustfmt::skip]
    let p = v6(DEST_OPTS, &[
        NO_NEXT, 0,               // next header, length 8
        0x01, 0x05, 0, 0, 0, 0,   // PadN claiming 5 octets where 4 remain
    ]);
    // Pointer at the length octet.
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 43)));
    #[rustfmt::skip]
    let p = v6(DEST_OPTS, &[
        NO_NEXT, 0,               // next header, length 8
        0x01, 0x03, 0, 0, 0,      // PadN
        0x1e,                     // an option type in the last octet, no length
    ]);
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 47)));
}

#[test]
fn jumbo_payload() {
    #[rustfmt::skip]
    let jumbo = [
        UDP, 0,                   // next header, length 8
        0xc2, 0x04,               // Jumbo Payload option
        0x00, 0x01, 0x00, 0x00,   // jumbo payload length 65536
    ];
    // Payload Length 0: a jumbogram, which is not supported.
    let mut p = v6(HOP_BY_HOP, &jumbo);
    p[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(parse(&p), Err(Error::Unsupported));
    // Payload Length 0 without the option: error at the Payload Length field.
    #[rustfmt::skip]
    let mut p = v6(HOP_BY_HOP, &[UDP, 0, 0x01, 0x04, 0, 0, 0, 0]);
    p[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 4)));
    assert_eq!(parse(&p[..40]), Err(pp(Code::ErroneousHdrField, 4)));
    // A non-zero Payload Length with the option: error at the option's type.
    let p = v6(HOP_BY_HOP, &cat(&[&jumbo, &UDP_DGRAM]));
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 42)));
}

#[test]
fn routing_header() {
    for routing_type in [0, 2, 3, 4, 253] {
        #[rustfmt::skip]
        let mut p = v6(ROUTING, &cat(&[&[
            UDP, 2,                   // next header, length 24
            routing_type, 0,          // routing type, segments left 0
            0, 0, 0, 0,               // reserved
        ], &UNICAST, &UDP_DGRAM]));
        // Segments Left 0: skipped, whatever the type.
        let info = parse(&p).unwrap();
        assert_eq!((info.upper_offset(), info.ports()), (64, Some((5000, 53))));
        assert_eq!(
            info.ext_headers().next().unwrap().kind(),
            ExtHeaderKind::Routing
        );
        assert_eq!(info.ext_headers().next().unwrap().len(), 24);
        // Segments Left 1: no type is implemented (type 0 is deprecated, RFC 5095), so
        // code 0 at the Routing Type.
        p[43] = 1;
        assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 42)));
    }
}

#[test]
fn atomic_fragment() {
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[
        UDP, 0,                   // next header, reserved
        0x00, 0x00,               // offset 0, M = 0
        0xde, 0xad, 0xbe, 0xef,   // identification
    ], &UDP_DGRAM]));
    let info = parse(&p).unwrap();
    let fragment = info.fragment().unwrap();
    assert!(fragment.is_atomic());
    assert_eq!(fragment.ident, 0xdead_beef);
    assert_eq!(info.ports(), Some((5000, 53)));
    assert_eq!(info.upper_offset(), 48);
}

#[test]
fn first_fragment() {
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[
        UDP, 0,                   // next header, reserved
        0x00, 0x01,               // offset 0, M = 1
        0, 0, 0, 7,               // identification
    ], &UDP_DGRAM[..8], &[0x55; 8]]));
    let info = parse(&p).unwrap();
    assert_eq!(
        info.fragment(),
        Some(FragmentInfo {
            offset: 0,
            more: true,
            ident: 7
        })
    );
    // The UDP Length (12) speaks of the reassembled datagram: not checked here.
    assert_eq!(info.ports(), Some((5000, 53)));
}

#[test]
fn first_fragment_without_the_upper_layer_header() {
    // Fragment data of 8 octets: a TCP header needs 20.
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[
        TCP, 0,                   // next header, reserved
        0x00, 0x01,               // offset 0, M = 1
        0, 0, 0, 7,               // identification
    ], &TCP_SYN[..8]]));
    assert_eq!(parse(&p), Err(pp(Code::Unknown(3), 0)));
    // The same with a Destination Options header cut by the fragment boundary.
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &[
        DEST_OPTS, 0, 0x00, 0x01, 0, 0, 0, 7, // fragment header, M = 1
        UDP, 1, 0x01, 0x0c, 0, 0, 0, 0,       // Destination Options claiming 16 octets
    ]);
    assert_eq!(parse(&p), Err(pp(Code::Unknown(3), 0)));
    // An atomic fragment cut short is just truncated.
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[TCP, 0, 0x00, 0x00, 0, 0, 0, 7], &TCP_SYN[..8]]));
    assert_eq!(parse(&p), Err(Error::Truncated));
}

#[test]
fn later_fragment() {
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[
        UDP, 0,                   // next header, reserved
        0x05, 0x38,               // offset 167 * 8 = 1336, M = 0
        0, 0, 0, 7,               // identification
    ], &[0x55; 5]]));
    let info = parse(&p).unwrap();
    assert_eq!(
        info.fragment(),
        Some(FragmentInfo {
            offset: 1336,
            more: false,
            ident: 7
        })
    );
    assert_eq!(info.protocol(), IpProtocol::Udp);
    assert_eq!((info.upper_offset(), info.ports()), (48, None));
    assert!(!info.has_upper_header());
}

#[test]
fn fragment_lengths() {
    // M = 1 and 5 octets of data: not a multiple of 8, code 0 at Payload Length.
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[UDP, 0, 0x05, 0x39, 0, 0, 0, 7], &[0x55; 5]]));
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 4)));
    // Offset 65528 + 16 octets: past 65,535, code 0 at the Fragment Offset.
    #[rustfmt::skip]
    let p = v6(FRAGMENT, &cat(&[&[UDP, 0, 0xff, 0xf8, 0, 0, 0, 7], &[0x55; 16]]));
    assert_eq!(parse(&p), Err(pp(Code::ErroneousHdrField, 42)));
}

#[test]
fn authentication_header_is_skipped_by_length() {
    #[rustfmt::skip]
    let p = v6(AUTH, &cat(&[&[
        UDP, 4,                   // next header, payload len 4: (4 + 2) * 4 = 24 octets
        0, 0,                     // reserved
        0, 0, 0x10, 0x00,         // SPI
        0, 0, 0, 1,               // sequence number
    ], &[0xcc; 12], &UDP_DGRAM])); // ICV (96 bits)
    let info = parse(&p).unwrap();
    assert_eq!(info.upper_offset(), 64);
    assert_eq!(info.ports(), Some((5000, 53)));
    assert_eq!(
        info.ext_headers().next().unwrap().kind(),
        ExtHeaderKind::Authentication
    );
    assert_eq!(info.ext_headers().next().unwrap().len(), 24);
}

#[test]
fn extension_header_past_the_payload() {
    // A Destination Options header claiming 16 octets in 8.
    #[rustfmt::skip]
    let p = v6(DEST_OPTS, &[UDP, 1, 0x01, 0x04, 0, 0, 0, 0]);
    assert_eq!(parse(&p), Err(Error::Truncated));
    // A header whose first two octets are missing.
    assert_eq!(parse(&v6(ROUTING, &[UDP])), Err(Error::Truncated));
}

#[test]
fn chain_of_every_kind() {
    #[rustfmt::skip]
    let p = v6(HOP_BY_HOP, &cat(&[
        &[DEST_OPTS, 0, 0x01, 0x04, 0, 0, 0, 0],          // 40 Hop-by-Hop
        &[ROUTING, 0, 0x1e, 0x02, 0, 0, 0x01, 0x00],       // 48 Destination Options
        &[FRAGMENT, 0, 253, 0, 0, 0, 0, 0],                // 56 Routing
        &[AUTH, 0, 0x00, 0x00, 0, 0, 0, 9],                // 64 Fragment (atomic)
        &[DEST_OPTS, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],     // 72 AH, 12 octets
        &[TCP, 0, 0x01, 0x04, 0, 0, 0, 0],                 // 84 Destination Options
        &TCP_SYN,                                          // 92 TCP
    ]));
    let info = parse(&p).unwrap();
    let walked: Vec<_> = info
        .ext_headers()
        .map(|e| (e.kind(), e.offset(), e.len()))
        .collect();
    use ExtHeaderKind::*;
    assert_eq!(
        walked,
        [
            (HopByHop, 40, 8),
            (DestinationOptions, 48, 8),
            (Routing, 56, 8),
            (Fragment, 64, 8),
            (Authentication, 72, 12),
            (DestinationOptions, 84, 8),
        ]
    );
    assert_eq!(
        (info.protocol(), info.upper_offset()),
        (IpProtocol::Tcp, 92)
    );
    assert_eq!(info.ports(), Some((49152, 80)));
}

#[test]
fn too_many_extension_headers() {
    let dest = |next| [next, 0, 0x01, 0x04, 0, 0, 0, 0];
    let mut chain = Vec::new();
    for _ in 0..MAX_EXT_HEADERS {
        chain.extend_from_slice(&dest(DEST_OPTS));
    }
    // Eight Destination Options headers and UDP are fine.
    let len = chain.len();
    chain[len - 8] = UDP;
    let p = v6(DEST_OPTS, &cat(&[&chain, &UDP_DGRAM]));
    assert_eq!(parse(&p).unwrap().ext_headers().len(), MAX_EXT_HEADERS);
    // A ninth: code 8 (RFC 8883) at the ninth header.
    chain[len - 8] = DEST_OPTS;
    let p = v6(DEST_OPTS, &cat(&[&chain, &dest(UDP), &UDP_DGRAM]));
    assert_eq!(parse(&p), Err(pp(Code::Unknown(8), 40 + 8 * 8)));
}

/// An IPv4 header 192.0.2.1 -> 198.51.100.7 with a correct checksum, then `rest`.
#[rustfmt::skip]
fn v4(protocol: u8, flags_frag: u16, options: &[u8], rest: &[u8]) -> Vec<u8> {
    let header_len = 20 + options.len();
    let total = (header_len + rest.len()) as u16;
    let mut p = std::vec![
        0x40 | (header_len / 4) as u8, 0x10,  // version 4, IHL, TOS
        (total >> 8) as u8, total as u8,      // total length
        0x12, 0x34,                           // identification
        (flags_frag >> 8) as u8, flags_frag as u8,
        63, protocol,                         // TTL, protocol
        0, 0,                                 // checksum, set below
        192, 0, 2, 1,                         // source
        198, 51, 100, 7,                      // destination
    ];
    p.extend_from_slice(options);
    let sum = !smoltcp::wire::checksum::data(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(rest);
    p
}

#[test]
fn ipv4_udp() {
    let mut p = v4(UDP, 0x4000, &[], &UDP_DGRAM);
    p.push(0);
    let info = parse(&p).unwrap();
    assert_eq!(info.version(), IpVersion::V4);
    assert_eq!(info.src(), "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(info.dst(), "198.51.100.7".parse::<IpAddr>().unwrap());
    assert_eq!(
        (info.hop_limit(), info.traffic_class(), info.flow_label()),
        (63, 0x10, 0)
    );
    assert_eq!(
        (info.payload_len(), info.packet_len(), info.trailing()),
        (12, 32, 1)
    );
    assert_eq!(
        (info.protocol(), info.upper_offset()),
        (IpProtocol::Udp, 20)
    );
    assert_eq!(info.ports(), Some((5000, 53)));
    assert_eq!(info.fragment(), None);
    assert!(info.ext_headers().len() == 0);
}

#[test]
fn ipv4_options_are_skipped() {
    // Router Alert option (RFC 2113): type 148, length 4, value 0.
    let p = v4(TCP, 0, &[148, 4, 0, 0], &TCP_SYN);
    let info = parse(&p).unwrap();
    assert_eq!((info.upper_offset(), info.ports()), (24, Some((49152, 80))));
}

#[test]
fn ipv4_icmp_and_other_protocols() {
    let packet = v4(1, 0, &[], &[8, 0, 0, 0, 0, 1, 0, 1]);
    let info = parse(&packet).unwrap();
    assert_eq!(info.icmp(), Some((8, 0)));
    let packet = v4(47, 0, &[], &[0; 4]);
    let info = parse(&packet).unwrap();
    assert_eq!(
        (info.protocol(), info.ports(), info.icmp()),
        (IpProtocol::Unknown(47), None, None)
    );
}

#[test]
fn ipv4_fragments() {
    // First fragment (MF) with the UDP header: ports, Length not checked.
    let packet = v4(UDP, 0x2000, &[], &UDP_DGRAM[..8]);
    let info = parse(&packet).unwrap();
    assert_eq!(
        info.fragment(),
        Some(FragmentInfo {
            offset: 0,
            more: true,
            ident: 0x1234
        })
    );
    assert_eq!(info.ports(), Some((5000, 53)));
    // A first fragment too short for the TCP header.
    assert_eq!(
        parse(&v4(TCP, 0x2000, &[], &TCP_SYN[..8])),
        Err(Error::Truncated)
    );
    // Offset 185 * 8: no ports.
    let packet = v4(UDP, 185, &[], &[0; 4]);
    let info = parse(&packet).unwrap();
    assert_eq!(
        info.fragment(),
        Some(FragmentInfo {
            offset: 1480,
            more: false,
            ident: 0x1234
        })
    );
    assert_eq!(info.ports(), None);
}

#[test]
fn ipv4_errors() {
    let good = v4(UDP, 0, &[], &UDP_DGRAM);
    assert_eq!(parse_ipv4(&good[..19]), Err(Error::Truncated));
    assert_eq!(parse_ipv4(&good[..31]), Err(Error::Truncated));
    assert_eq!(parse_ipv4(&v6(UDP, &UDP_DGRAM)), Err(Error::Malformed));
    let mut p = good.clone();
    p[11] ^= 1;
    assert_eq!(parse(&p), Err(Error::Checksum));
    // IHL 4.
    let mut p = good.clone();
    p[0] = 0x44;
    assert_eq!(parse(&p), Err(Error::Malformed));
    // Total Length 16, under the header.
    let mut p = good.clone();
    p[2..4].copy_from_slice(&[0, 16]);
    assert_eq!(parse(&p), Err(Error::Malformed));
    // IHL 15 and Total Length 60 in a 32-octet frame.
    let mut p = good;
    p[0] = 0x4f;
    p[2..4].copy_from_slice(&[0, 60]);
    assert_eq!(parse(&p), Err(Error::Truncated));
    // Upper-layer minimums.
    assert_eq!(
        parse(&v4(UDP, 0, &[], &UDP_DGRAM[..7])),
        Err(Error::Truncated)
    );
    assert_eq!(parse(&v4(1, 0, &[], &[8, 0, 0])), Err(Error::Truncated));
}

fn header() -> Ipv6Header {
    Ipv6Header {
        src: "fd00::1".parse().unwrap(),
        dst: "fd00::2".parse().unwrap(),
        next_header: IpProtocol::Udp,
        payload_len: 12,
        hop_limit: 64,
        traffic_class: 0xb8,
        flow_label: 0x12345,
    }
}

#[test]
fn ipv6_header_parse_and_emit() {
    let p = v6(UDP, &UDP_DGRAM);
    assert_eq!(Ipv6Header::parse(&p), Ok(header()));
    // emit writes every octet, whatever the buffer held.
    let mut buf = [0xaa; 40];
    header().emit(&mut buf).unwrap();
    assert_eq!(&buf[..], &p[..40]);
    assert_eq!(header().buffer_len(), 40);
    assert_eq!(header().emit(&mut [0; 39]), Err(Error::BufferTooSmall));
    let bad = Ipv6Header {
        flow_label: 0x10_0000,
        ..header()
    };
    assert_eq!(bad.emit(&mut buf), Err(Error::Malformed));
    assert_eq!(Ipv6Header::parse(&p[..39]), Err(Error::Truncated));
    assert_eq!(Ipv6Header::parse(&[0x45; 40]), Err(Error::Malformed));
}

#[test]
fn emit_udp_v6_checksum_verifies_with_smoltcp() {
    let mut buf = [0x5a; 64];
    let len = emit_udp_v6(&header(), 5000, 53, b"abcd", &mut buf).unwrap();
    assert_eq!(len, 52);
    let ip = Ipv6Packet::new_checked(&buf[..len]).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
    assert!(udp.verify_checksum(&src, &dst));
    assert_eq!(udp.payload(), b"abcd");
    // Same octets as the hand-written packet, apart from the checksum.
    let expected = v6(UDP, &UDP_DGRAM);
    assert_eq!(&buf[..46], &expected[..46]);
    assert_eq!(&buf[48..len], &expected[48..]);
    assert_eq!(parse(&buf[..len]).unwrap().ports(), Some((5000, 53)));
}

#[test]
fn emit_udp_v6_buffer_and_size_limits() {
    let mut buf = [0; 51];
    assert_eq!(
        emit_udp_v6(&header(), 1, 2, b"abcd", &mut buf),
        Err(Error::BufferTooSmall)
    );
    let big = std::vec![0; 65536 - 8];
    let mut out = std::vec![0; 70000];
    assert_eq!(
        emit_udp_v6(&header(), 1, 2, &big, &mut out),
        Err(Error::Unsupported)
    );
    assert_eq!(
        emit_udp_v6(&header(), 1, 2, &big[1..], &mut out),
        Ok(40 + 65535)
    );
}
