use super::*;
use crate::ParameterProblem;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const HOST: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const DNS: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);

/// A Router Advertisement from fe80::1 to ff02::1 with, in order, a Source Link-Layer
/// Address option (to be skipped), Prefix Information, MTU, Route Information and RDNSS.
#[rustfmt::skip]
const RA_PACKET: [u8; 144] = [
    // IPv6: version 6, traffic class 0, flow label 0
    0x60, 0x00, 0x00, 0x00,
    // payload length 104, next header 58 (ICMPv6), hop limit 255
    0x00, 0x68, 0x3a, 0xff,
    // source fe80::1
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    // destination ff02::1
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    // ICMPv6 type 134, code 0, checksum
    0x86, 0x00, 0x14, 0x44,
    // cur hop limit 64, flags M=1 O=0 Prf=01 (high), router lifetime 1800 s
    0x40, 0x88, 0x07, 0x08,
    // reachable time 0, retrans timer 0
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    // SLLAO: type 1, length 1, a 6-octet address that means nothing on this link
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    // Prefix Information: type 3, length 4, /64, L=1 A=1
    0x03, 0x04, 0x40, 0xc0,
    // valid lifetime 2592000 s, preferred lifetime 604800 s, reserved
    0x00, 0x27, 0x8d, 0x00,
    0x00, 0x09, 0x3a, 0x80,
    0x00, 0x00, 0x00, 0x00,
    // prefix 2001:db8:1::
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    // MTU: type 5, length 1, reserved, 1500
    0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc,
    // Route Information: type 24, length 2, /48, Prf=01 (high), lifetime 3600 s
    0x18, 0x02, 0x30, 0x08,
    0x00, 0x00, 0x0e, 0x10,
    // prefix 2001:db8:2::, first 8 octets
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0x00, 0x00,
    // RDNSS: type 25, length 3, reserved, lifetime 3600 s
    0x19, 0x03, 0x00, 0x00,
    0x00, 0x00, 0x0e, 0x10,
    // 2001:db8::53
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
];

/// A Router Solicitation from fe80::2 to ff02::2 with no options.
#[rustfmt::skip]
const RS_PACKET: [u8; 48] = [
    // IPv6: version 6, payload length 8, next header 58, hop limit 255
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0xff,
    // source fe80::2
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    // destination ff02::2
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    // ICMPv6 type 133, code 0, checksum, reserved
    0x85, 0x00, 0x7d, 0x35, 0x00, 0x00, 0x00, 0x00,
];

fn prefix() -> PrefixInformation {
    PrefixInformation {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: 2_592_000,
        preferred_lifetime: 604_800,
        prefix: Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0),
    }
}

fn route() -> RouteInformation {
    RouteInformation {
        prefix_len: 48,
        preference: Preference::High,
        lifetime: 3600,
        prefix: Ipv6Address::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0),
    }
}

/// Rewrites the checksum after a test changed the ICMPv6 message of a packet.
fn refresh_checksum(packet: &mut [u8]) {
    let end = packet.len();
    ipv6::refresh_checksum(packet, 40, end);
}

#[test]
fn router_advertisement_is_read_and_its_link_layer_option_skipped() {
    let received = parse_ipv6(&RA_PACKET).unwrap();
    assert_eq!(received.src_addr, ROUTER);
    assert_eq!(received.dst_addr, ALL_NODES);
    let NdpMessage::RouterAdvertisement(ra) = received.message else {
        panic!("not an RA: {:?}", received.message);
    };
    assert_eq!(ra.cur_hop_limit(), 64);
    assert!(ra.managed());
    assert!(!ra.other());
    assert_eq!(ra.preference(), Preference::High);
    assert_eq!(ra.router_lifetime(), 1800);
    assert_eq!(ra.reachable_time(), 0);
    assert_eq!(ra.retrans_timer(), 0);

    let mut options = ra.options();
    assert_eq!(
        options.next(),
        Some(NdpOption::LinkLayerAddress {
            kind: LinkLayerKind::Source
        })
    );
    assert_eq!(options.next(), Some(NdpOption::PrefixInformation(prefix())));
    assert_eq!(options.next(), Some(NdpOption::Mtu(1500)));
    assert_eq!(options.next(), Some(NdpOption::RouteInformation(route())));
    let Some(NdpOption::Rdnss(rdnss)) = options.next() else {
        panic!("no RDNSS");
    };
    assert_eq!(rdnss.lifetime, 3600);
    assert!(rdnss.addresses.eq([DNS]));
    assert_eq!(options.next(), None);

    let mut storage = [NdpOptionRepr::Mtu(0); 8];
    let mut addresses = [Ipv6Address::UNSPECIFIED; 4];
    let repr = RouterAdvertisementRepr::parse(&ra, &mut storage, &mut addresses).unwrap();
    assert_eq!(repr.mtu(), Some(1500));
    assert_eq!(
        repr.options,
        &[
            NdpOptionRepr::PrefixInformation(prefix()),
            NdpOptionRepr::Mtu(1500),
            NdpOptionRepr::RouteInformation(route()),
            NdpOptionRepr::Rdnss {
                lifetime: 3600,
                addresses: &[DNS]
            },
        ]
    );

    // Emitting it again gives the same packet without the SLLAO.
    let mut buf = [0xa5u8; 200];
    let len = emit_ipv6(
        &ROUTER,
        &ALL_NODES,
        &NdpRepr::RouterAdvertisement(repr),
        &mut buf,
    )
    .unwrap();
    let mut expected = [0u8; 136];
    expected[..56].copy_from_slice(&RA_PACKET[..56]);
    expected[56..].copy_from_slice(&RA_PACKET[64..]);
    expected[5] = 96; // payload length without the SLLAO
    refresh_checksum(&mut expected);
    assert_eq!(&buf[..len], &expected[..]);
    assert!(parse_ipv6(&buf[..len]).is_ok());
}

#[test]
fn router_solicitation_round_trips() {
    let received = parse_ipv6(&RS_PACKET).unwrap();
    let NdpMessage::RouterSolicitation(rs) = received.message else {
        panic!("not an RS");
    };
    assert_eq!(rs.options().count(), 0);
    let repr = RouterSolicitationRepr::parse(&rs).unwrap();
    let mut buf = [0xffu8; 64];
    let len = emit_ipv6(
        &HOST,
        &ALL_ROUTERS,
        &NdpRepr::RouterSolicitation(repr),
        &mut buf,
    )
    .unwrap();
    assert_eq!(&buf[..len], &RS_PACKET[..]);
}

#[test]
fn solicitation_from_unspecified_with_sllao_is_refused() {
    #[rustfmt::skip]
    let mut packet: [u8; 56] = [
        // IPv6: payload length 16, next header 58, hop limit 255
        0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x3a, 0xff,
        // source ::
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        // destination ff02::2
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
        // RS, checksum filled below, reserved
        0x85, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // SLLAO
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    refresh_checksum(&mut packet);
    assert_eq!(parse_ipv6(&packet), Err(ValidationError::SourceAddress));
    // The same from a link-local source is fine; the option is just reported.
    packet[23] = 2;
    packet[8] = 0xfe;
    packet[9] = 0x80;
    refresh_checksum(&mut packet);
    assert!(parse_ipv6(&packet).is_ok());
}

#[test]
fn validity_checks_of_rfc4861_section_6_1_2() {
    let mut p = RA_PACKET;
    p[7] = 64; // hop limit: forwarded by a router
    assert_eq!(parse_ipv6(&p), Err(ValidationError::HopLimit));

    let mut p = RA_PACKET;
    p[42] ^= 1;
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Checksum));

    let mut p = RA_PACKET;
    p[41] = 1;
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Code));

    let mut p = RA_PACKET;
    p[8] = 0x20; // source 2080::1, not link-local
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::SourceAddress));

    let mut p = RA_PACKET;
    p[57] = 0; // SLLAO of length zero
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::OptionLength));
    assert_eq!(
        RouterAdvertisement::new_checked(&p[40..]),
        Err(Error::Malformed)
    );

    let mut p = RA_PACKET;
    p[121] = 4; // RDNSS claims 32 octets where 24 remain
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Truncated));

    // An RA shorter than 16 octets.
    let mut p = RS_PACKET;
    p[40] = TYPE_ROUTER_ADVERTISEMENT;
    p[8..24].copy_from_slice(&ROUTER.octets());
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Truncated));

    // Payload length beyond the buffer.
    assert_eq!(
        parse_ipv6(&RA_PACKET[..100]),
        Err(ValidationError::Truncated)
    );
    // Trailing link padding after the payload is ignored.
    let mut padded = [0u8; 150];
    padded[..144].copy_from_slice(&RA_PACKET);
    assert!(parse_ipv6(&padded).is_ok());
}

#[test]
fn invalid_options_are_reported_not_fatal() {
    #[rustfmt::skip]
    let options: [u8; 48] = [
        // MTU of length 2 (must be 1)
        0x05, 0x02, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0,
        // Route Information /80 with length 2 (must be 3)
        0x18, 0x02, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
        // Route Information ::/0 with the reserved preference 10
        0x18, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
        // an unknown option type 200
        0xc8, 0x01, 1, 2, 3, 4, 5, 6,
    ];
    check_options(&options).unwrap();
    let kinds: [u8; 4] = [5, 24, 24, 200];
    let mut n = 0;
    for (option, kind) in OptionsIter::new(&options).zip(kinds) {
        match option {
            NdpOption::Invalid { kind: k, data } if kind != 200 => {
                assert_eq!(k, kind);
                assert!(!data.is_empty());
            }
            NdpOption::Unknown { kind: 200, data } => assert_eq!(data, &[1, 2, 3, 4, 5, 6]),
            other => panic!("unexpected {other:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 4);

    // RDNSS of even length, Prefix Information of length 3.
    #[rustfmt::skip]
    let more: [u8; 40] = [
        0x19, 0x02, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        0x03, 0x03, 64, 0xc0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert!(OptionsIter::new(&more).all(|o| matches!(o, NdpOption::Invalid { kind: 25 | 3, .. })));
}

#[test]
fn route_information_of_every_length() {
    #[rustfmt::skip]
    let options: [u8; 48] = [
        // ::/0, length 1, low preference, lifetime 60
        0x18, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00, 0x3c,
        // 2001:db8:ff00::/40 carried in length 3 (allowed); bits past /40 are ignored
        0x18, 0x03, 0x28, 0x00, 0x00, 0x00, 0x00, 0x3c,
        0x20, 0x01, 0x0d, 0xb8, 0xff, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        // 2001:db8::/32 in length 2
        0x18, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x3c,
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    ];
    let routes: [RouteInformation; 3] = [
        RouteInformation {
            prefix_len: 0,
            preference: Preference::Low,
            lifetime: 60,
            prefix: Ipv6Address::UNSPECIFIED,
        },
        RouteInformation {
            prefix_len: 40,
            preference: Preference::Medium,
            lifetime: 60,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 0xff00, 0, 0, 0, 0, 0),
        },
        RouteInformation {
            prefix_len: 32,
            preference: Preference::Medium,
            lifetime: 60,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        },
    ];
    assert!(OptionsIter::new(&options).eq(routes.iter().copied().map(NdpOption::RouteInformation)));
    // Emitted in their shortest form: 8 + 16 + 16 octets.
    let lens: [usize; 3] = routes.map(|r| NdpOptionRepr::RouteInformation(r).buffer_len());
    assert_eq!(lens, [8, 16, 16]);
}

#[test]
fn router_preference_edge_cases() {
    let mut p = RA_PACKET;
    p[45] = 0x10; // Prf = 10, reserved: read as medium (RFC 4191 §2.2)
    let ra = RouterAdvertisement::new_checked(&p[40..]).unwrap();
    assert_eq!(ra.preference(), Preference::Medium);
    let mut p = RA_PACKET;
    p[46] = 0;
    p[47] = 0; // router lifetime 0: preference is meaningless
    let ra = RouterAdvertisement::new_checked(&p[40..]).unwrap();
    assert_eq!(ra.preference(), Preference::Medium);
    let repr = RouterAdvertisementRepr {
        cur_hop_limit: 0,
        managed: false,
        other: false,
        preference: Preference::High,
        router_lifetime: 0,
        reachable_time: 0,
        retrans_timer: 0,
        options: &[],
    };
    let mut buf = [0u8; 16];
    repr.emit(&mut buf).unwrap();
    assert_eq!(buf[5], 0, "a non-default router sends preference medium");
}

#[test]
fn neighbor_messages_are_recognised_for_counting() {
    assert_eq!(classify(135), Some(NdpKind::NeighborSolicitation));
    assert_eq!(classify(136), Some(NdpKind::NeighborAdvertisement));
    assert_eq!(classify(137), Some(NdpKind::Redirect));
    assert_eq!(classify(128), None);
    let mut p = RS_PACKET;
    p[40] = TYPE_NEIGHBOR_SOLICITATION;
    refresh_checksum(&mut p);
    assert_eq!(
        parse_ipv6(&p).unwrap().message,
        NdpMessage::NeighborSolicitation
    );
    let mut p = RS_PACKET;
    p[40] = 128; // Echo Request
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::NotNdp));
}

/// [`RS_PACKET`] behind one 8-octet extension header `ext`, named by `next_header` in the
/// IPv6 header; payload length 16, checksum refreshed.
fn rs_behind(next_header: u8, ext: [u8; 8]) -> [u8; 56] {
    let mut packet = [0u8; 56];
    packet[..40].copy_from_slice(&RS_PACKET[..40]);
    packet[5] = 16;
    packet[6] = next_header;
    packet[40..48].copy_from_slice(&ext);
    packet[48..].copy_from_slice(&RS_PACKET[40..]);
    ipv6::refresh_checksum(&mut packet, 48, 56);
    packet
}

#[test]
fn extension_headers_are_walked() {
    // RS behind a Destination Options header (60) with one unknown skippable option.
    #[rustfmt::skip]
    let mut packet = rs_behind(60, [
        // next header 58, length 0; option type 0x1e (skip if unknown), 2 octets; Pad1, Pad1
        0x3a, 0x00, 0x1e, 0x02, 0xaa, 0xbb, 0x00, 0x00,
    ]);
    assert!(parse_ipv6(&packet).is_ok());
    // Option type 0x9e: discard and send Parameter Problem code 2 pointing at it (octet 42).
    packet[42] = 0x9e;
    assert_eq!(
        parse_ipv6(&packet),
        Err(ValidationError::ExtensionHeader(Error::ParameterProblem(
            ParameterProblem {
                code: crate::ParamProblemCode::UnrecognizedOption,
                pointer: 42
            }
        )))
    );
    // Option type 0xde to a multicast destination: discard without an answer.
    packet[42] = 0xde;
    assert_eq!(
        parse_ipv6(&packet),
        Err(ValidationError::ExtensionHeader(Error::Unsupported))
    );
    // A fragment header.
    packet[6] = 44;
    assert_eq!(parse_ipv6(&packet), Err(ValidationError::Fragmented));
    // UDP, with a UDP Length that fits (the frame walk checks it).
    packet[6] = 17;
    packet[44..46].copy_from_slice(&16u16.to_be_bytes());
    assert_eq!(parse_ipv6(&packet), Err(ValidationError::NotIcmpv6));
    // Version 4.
    packet[0] = 0x45;
    assert_eq!(parse_ipv6(&packet), Err(ValidationError::NotIpv6));
}

#[test]
fn extension_header_decisions_are_the_frame_walks() {
    // Routing header with Segments Left 1: RFC 8200 §4.4, Parameter Problem code 0 at the
    // Routing Type (octet 42).
    #[rustfmt::skip]
    let routing = rs_behind(43, [
        // next header 58, length 0, routing type 4, segments left 1, reserved
        0x3a, 0x00, 0x04, 0x01, 0, 0, 0, 0,
    ]);
    assert_eq!(
        parse_ipv6(&routing),
        Err(ValidationError::ExtensionHeader(Error::ParameterProblem(
            ParameterProblem {
                code: crate::ParamProblemCode::ErroneousHdrField,
                pointer: 42
            }
        )))
    );
    // The same with Segments Left 0 is skipped.
    let mut skipped = routing;
    skipped[43] = 0;
    assert!(parse_ipv6(&skipped).is_ok());
    // An Authentication Header is walked but cannot be verified here (RFC 4861 §6.1.1).
    #[rustfmt::skip]
    let ah = rs_behind(51, [
        // next header 58, payload len 0 (8 octets), reserved, SPI
        0x3a, 0x00, 0x00, 0x00, 0, 0, 0, 1,
    ]);
    assert_eq!(
        parse_ipv6(&ah),
        Err(ValidationError::ExtensionHeader(Error::Unsupported))
    );
    // An atomic fragment (offset 0, M clear) is a fragment too (RFC 6980 §5).
    #[rustfmt::skip]
    let atomic = rs_behind(44, [
        // next header 58, reserved, offset 0 and M 0, identification
        0x3a, 0x00, 0x00, 0x00, 0, 0, 0, 7,
    ]);
    assert_eq!(parse_ipv6(&atomic), Err(ValidationError::Fragmented));
    // UDP whose Length runs past the packet: the frame walk refuses it before the upper
    // layer is looked at.
    #[rustfmt::skip]
    let mut udp = rs_behind(17, [
        // ports 1 and 2, length 0xffff, checksum
        0, 1, 0, 2, 0xff, 0xff, 0, 0,
    ]);
    assert_eq!(parse_ipv6(&udp), Err(ValidationError::Truncated));
    udp[44..46].copy_from_slice(&16u16.to_be_bytes());
    assert_eq!(parse_ipv6(&udp), Err(ValidationError::NotIcmpv6));
}

#[test]
fn emit_refuses_what_cannot_be_encoded() {
    let too_many = [DNS; 128];
    let mut buf = [0u8; 4096];
    for bad in [
        NdpOptionRepr::Rdnss {
            lifetime: 1,
            addresses: &[],
        },
        NdpOptionRepr::Rdnss {
            lifetime: 1,
            addresses: &too_many,
        },
        NdpOptionRepr::PrefixInformation(PrefixInformation {
            prefix_len: 129,
            ..prefix()
        }),
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 200,
            ..route()
        }),
    ] {
        assert_eq!(bad.emit(&mut buf), Err(Error::Malformed), "{bad:?}");
    }
    let repr = NdpRepr::RouterSolicitation(RouterSolicitationRepr);
    assert_eq!(
        emit_ipv6(&HOST, &ALL_ROUTERS, &repr, &mut buf[..47]),
        Err(Error::BufferTooSmall)
    );
}

#[test]
fn parse_storage_too_small() {
    let ra = RouterAdvertisement::new_checked(&RA_PACKET[40..]).unwrap();
    let mut storage = [NdpOptionRepr::Mtu(0); 3];
    let mut addresses = [Ipv6Address::UNSPECIFIED; 4];
    assert_eq!(
        RouterAdvertisementRepr::parse(&ra, &mut storage, &mut addresses),
        Err(Error::BufferTooSmall)
    );
    let mut storage = [NdpOptionRepr::Mtu(0); 4];
    let mut addresses = [];
    assert_eq!(
        RouterAdvertisementRepr::parse(&ra, &mut storage, &mut addresses),
        Err(Error::BufferTooSmall)
    );
}
