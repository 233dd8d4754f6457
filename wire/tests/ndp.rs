//! Router discovery: property tests of every parse/emit pair, robustness on arbitrary bytes,
//! a Router Solicitation as the Linux kernel sends it, and an independent check with tshark
//! of every packet emitted.

mod support;

use bridgeless_wire::Error;
use bridgeless_wire::ndp::{
    self, ALL_NODES, ALL_ROUTERS, NdpMessage, NdpOption, NdpOptionRepr, NdpRepr, Preference,
    PrefixInformation, RouteInformation, RouterAdvertisement, RouterAdvertisementRepr,
    RouterSolicitationRepr,
};
use proptest::prelude::*;
use smoltcp::wire::Ipv6Address;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// The Router Solicitation Linux 6.18 sends at link-up of a TUN device (fixture
/// `linkup-rs.pcap`, packet 1): no options, since the device has no link-layer address.
#[rustfmt::skip]
const LINUX_RS: [u8; 48] = [
    // version 6, traffic class 0, flow label 0; payload length 8; next header 58; hop limit 255
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0xff,
    // source fe80::56a:ca05:307d:3ae7 (random interface identifier)
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x05, 0x6a, 0xca, 0x05, 0x30, 0x7d, 0x3a, 0xe7,
    // destination ff02::2
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    // type 133, code 0, checksum 0x4263, reserved
    0x85, 0x00, 0x42, 0x63, 0x00, 0x00, 0x00, 0x00,
];

fn address() -> impl Strategy<Value = Ipv6Address> {
    any::<u128>().prop_map(Ipv6Address::from)
}

fn masked(prefix: Ipv6Address, len: u8) -> Ipv6Address {
    let mask = if len == 0 {
        0
    } else {
        !0u128 << (128 - u32::from(len))
    };
    Ipv6Address::from(u128::from(prefix) & mask)
}

fn preference() -> impl Strategy<Value = Preference> {
    prop_oneof![
        Just(Preference::High),
        Just(Preference::Medium),
        Just(Preference::Low)
    ]
}

fn prefix_information() -> impl Strategy<Value = PrefixInformation> {
    (
        0..=128u8,
        any::<bool>(),
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
        address(),
    )
        .prop_map(|(len, l, a, valid, preferred, prefix)| PrefixInformation {
            prefix_len: len,
            on_link: l,
            autonomous: a,
            valid_lifetime: valid,
            preferred_lifetime: preferred,
            prefix: masked(prefix, len),
        })
}

fn route_information() -> impl Strategy<Value = RouteInformation> {
    (0..=128u8, preference(), any::<u32>(), address()).prop_map(|(len, pref, lifetime, prefix)| {
        RouteInformation {
            prefix_len: len,
            preference: pref,
            lifetime,
            prefix: masked(prefix, len),
        }
    })
}

/// Options as owned data; the test turns RDNSS address lists into borrowed slices.
#[derive(Debug, Clone)]
enum OwnedOption {
    Prefix(PrefixInformation),
    Mtu(u32),
    Route(RouteInformation),
    Rdnss(u32, Vec<Ipv6Address>),
}

fn owned_option() -> impl Strategy<Value = OwnedOption> {
    prop_oneof![
        prefix_information().prop_map(OwnedOption::Prefix),
        any::<u32>().prop_map(OwnedOption::Mtu),
        route_information().prop_map(OwnedOption::Route),
        (any::<u32>(), prop::collection::vec(address(), 1..6))
            .prop_map(|(l, a)| OwnedOption::Rdnss(l, a)),
    ]
}

fn borrow(options: &[OwnedOption]) -> Vec<NdpOptionRepr<'_>> {
    options
        .iter()
        .map(|o| match o {
            OwnedOption::Prefix(p) => NdpOptionRepr::PrefixInformation(*p),
            OwnedOption::Mtu(m) => NdpOptionRepr::Mtu(*m),
            OwnedOption::Route(r) => NdpOptionRepr::RouteInformation(*r),
            OwnedOption::Rdnss(lifetime, addresses) => NdpOptionRepr::Rdnss {
                lifetime: *lifetime,
                addresses,
            },
        })
        .collect()
}

#[derive(Debug, Clone)]
struct OwnedRa {
    cur_hop_limit: u8,
    managed: bool,
    other: bool,
    preference: Preference,
    router_lifetime: u16,
    reachable_time: u32,
    retrans_timer: u32,
    options: Vec<OwnedOption>,
}

fn owned_ra() -> impl Strategy<Value = OwnedRa> {
    (
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        preference(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(owned_option(), 0..8),
    )
        .prop_map(
            |(hl, m, o, pref, lifetime, reach, retrans, options)| OwnedRa {
                cur_hop_limit: hl,
                managed: m,
                other: o,
                // RFC 4191 §2.2: a router with lifetime 0 sends (and is read as) medium.
                preference: if lifetime == 0 {
                    Preference::Medium
                } else {
                    pref
                },
                router_lifetime: lifetime,
                reachable_time: reach,
                retrans_timer: retrans,
                options,
            },
        )
}

fn repr<'a>(ra: &OwnedRa, options: &'a [NdpOptionRepr<'a>]) -> RouterAdvertisementRepr<'a> {
    RouterAdvertisementRepr {
        cur_hop_limit: ra.cur_hop_limit,
        managed: ra.managed,
        other: ra.other,
        preference: ra.preference,
        router_lifetime: ra.router_lifetime,
        reachable_time: ra.reachable_time,
        retrans_timer: ra.retrans_timer,
        options,
    }
}

proptest! {
    #[test]
    fn router_advertisement_round_trips(ra in owned_ra(), dst in address()) {
        let options = borrow(&ra.options);
        let repr = repr(&ra, &options);
        let mut buf = vec![0xa5u8; 40 + repr.buffer_len()];
        let len = ndp::emit_ipv6(&ROUTER, &dst, &NdpRepr::RouterAdvertisement(repr), &mut buf)
            .unwrap();
        prop_assert_eq!(len, buf.len());
        support::record_emitted(&buf);

        let received = ndp::parse_ipv6(&buf).unwrap();
        prop_assert_eq!(received.src_addr, ROUTER);
        prop_assert_eq!(received.dst_addr, dst);
        let NdpMessage::RouterAdvertisement(view) = received.message else {
            panic!("not an RA");
        };
        prop_assert_eq!(view.options().count(), ra.options.len());
        let mut storage = [NdpOptionRepr::Mtu(0); 8];
        let mut addresses = [Ipv6Address::UNSPECIFIED; 40];
        let parsed = RouterAdvertisementRepr::parse(&view, &mut storage, &mut addresses).unwrap();
        prop_assert_eq!(parsed, repr);

        // parse then emit gives the same bytes: the format is canonical for what we emit.
        let mut again = vec![0u8; len - 40];
        parsed.emit(&mut again).unwrap();
        ndp::emit_icmpv6_checksum(&ROUTER, &dst, &mut again);
        prop_assert_eq!(&again[..], &buf[40..]);
    }

    #[test]
    fn single_options_round_trip(option in owned_option()) {
        let options = borrow(std::slice::from_ref(&option));
        let mut buf = vec![0u8; options[0].buffer_len()];
        prop_assert_eq!(options[0].emit(&mut buf), Ok(buf.len()));
        let mut iter = ndp::OptionsIter::new(&buf);
        let parsed = iter.next().unwrap();
        prop_assert!(iter.next().is_none());
        match (&option, parsed) {
            (OwnedOption::Prefix(p), NdpOption::PrefixInformation(q)) => prop_assert_eq!(*p, q),
            (OwnedOption::Mtu(m), NdpOption::Mtu(n)) => prop_assert_eq!(*m, n),
            (OwnedOption::Route(r), NdpOption::RouteInformation(s)) => prop_assert_eq!(*r, s),
            (OwnedOption::Rdnss(l, a), NdpOption::Rdnss(r)) => {
                prop_assert_eq!(*l, r.lifetime);
                prop_assert_eq!(a.clone(), r.addresses.collect::<Vec<_>>());
            }
            (o, p) => prop_assert!(false, "{:?} came back as {:?}", o, p),
        }
    }

    #[test]
    fn arbitrary_messages_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
        // Also as the ICMPv6 message of a well-formed IPv6 packet, and with an RA type.
        let mut packet = vec![0u8; 40];
        packet[0] = 0x60;
        packet[4..6].copy_from_slice(&(bytes.len() as u16).to_be_bytes());
        packet[6] = 58;
        packet[7] = 255;
        packet[8..24].copy_from_slice(&ROUTER.octets());
        packet[24..40].copy_from_slice(&ALL_NODES.octets());
        packet.extend_from_slice(&bytes);
        exercise(&packet);
        if bytes.len() >= 4 {
            packet[40] = 133 + bytes[0] % 2;
            packet[41] = 0;
            ndp::emit_icmpv6_checksum(&ROUTER, &ALL_NODES, &mut packet[40..]);
            exercise(&packet);
        }
    }

    #[test]
    fn parsed_advertisements_reemit_to_an_equal_parse(body in prop::collection::vec(any::<u8>(), 12..160)) {
        let mut msg = vec![134u8, 0, 0, 0];
        msg.extend_from_slice(&body);
        if let Ok(view) = RouterAdvertisement::new_checked(&msg[..]) {
            let mut storage = [NdpOptionRepr::Mtu(0); 32];
            let mut addresses = [Ipv6Address::UNSPECIFIED; 64];
            if let Ok(repr) = RouterAdvertisementRepr::parse(&view, &mut storage, &mut addresses) {
                let mut out = vec![0u8; repr.buffer_len()];
                repr.emit(&mut out).unwrap();
                let view2 = RouterAdvertisement::new_checked(&out[..]).unwrap();
                let mut storage2 = [NdpOptionRepr::Mtu(0); 32];
                let mut addresses2 = [Ipv6Address::UNSPECIFIED; 64];
                let repr2 =
                    RouterAdvertisementRepr::parse(&view2, &mut storage2, &mut addresses2).unwrap();
                prop_assert_eq!(repr, repr2);
            }
        }
    }
}

/// Reads bytes every way the crate offers, touching every option.
fn exercise(bytes: &[u8]) {
    let message = match ndp::parse_ipv6(bytes) {
        Ok(received) => Some(received.message),
        Err(e) => {
            let _ = Error::from(e);
            NdpMessage::parse(bytes).ok()
        }
    };
    let options = match message {
        Some(NdpMessage::RouterSolicitation(rs)) => rs.options().count(),
        Some(NdpMessage::RouterAdvertisement(ra)) => {
            let _ = (ra.preference(), ra.router_lifetime(), ra.retrans_timer());
            ra.options()
                .map(|o| match o {
                    NdpOption::Rdnss(r) => r.addresses.count(),
                    _ => 1,
                })
                .sum()
        }
        _ => 0,
    };
    assert!(options <= bytes.len());
}

#[test]
fn linux_router_solicitation_is_read_and_reproduced() {
    let received = ndp::parse_ipv6(&LINUX_RS).unwrap();
    assert_eq!(received.dst_addr, ALL_ROUTERS);
    let NdpMessage::RouterSolicitation(rs) = received.message else {
        panic!("not an RS");
    };
    assert_eq!(rs.options().count(), 0);
    let repr = RouterSolicitationRepr::parse(&rs).unwrap();
    let mut buf = [0u8; 48];
    let len = ndp::emit_ipv6(
        &received.src_addr,
        &ALL_ROUTERS,
        &NdpRepr::RouterSolicitation(repr),
        &mut buf,
    )
    .unwrap();
    assert_eq!(buf[..len], LINUX_RS);
    support::record_emitted(&buf);
}

/// Emits an RS and an RA with every option kind, writes them to a capture of their own and
/// asks tshark whether any frame is malformed or has a bad checksum.
#[test]
fn tshark_dissects_what_we_emit() {
    let dns = [
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53),
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x54),
    ];
    let options = [
        NdpOptionRepr::PrefixInformation(PrefixInformation {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 86_400,
            preferred_lifetime: 14_400,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 0),
        }),
        NdpOptionRepr::Mtu(1280),
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 0,
            preference: Preference::Low,
            lifetime: 600,
            prefix: Ipv6Address::UNSPECIFIED,
        }),
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 48,
            preference: Preference::High,
            lifetime: 600,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 0),
        }),
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 96,
            preference: Preference::Medium,
            lifetime: 600,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 7, 1, 2, 3, 0, 0),
        }),
        NdpOptionRepr::Rdnss {
            lifetime: 1200,
            addresses: &dns,
        },
    ];
    let ra = RouterAdvertisementRepr {
        cur_hop_limit: 64,
        managed: false,
        other: true,
        preference: Preference::High,
        router_lifetime: 1800,
        reachable_time: 30_000,
        retrans_timer: 1000,
        options: &options,
    };
    let host = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
    let mut packets = Vec::new();
    for (src, dst, repr) in [
        (
            host,
            ALL_ROUTERS,
            NdpRepr::RouterSolicitation(RouterSolicitationRepr),
        ),
        (
            Ipv6Address::UNSPECIFIED,
            ALL_ROUTERS,
            NdpRepr::RouterSolicitation(RouterSolicitationRepr),
        ),
        (ROUTER, ALL_NODES, NdpRepr::RouterAdvertisement(ra)),
        (ROUTER, host, NdpRepr::RouterAdvertisement(ra)),
    ] {
        let mut buf = vec![0u8; 40 + repr.buffer_len()];
        ndp::emit_ipv6(&src, &dst, &repr, &mut buf).unwrap();
        assert!(ndp::parse_ipv6(&buf).is_ok());
        support::record_emitted(&buf);
        packets.push(buf);
    }
    let Some(tshark) = support::Tshark::new("ndp", &packets) else {
        return;
    };
    assert_eq!(tshark.problems(), "", "tshark found problems");
    assert_eq!(
        tshark.fields(&["icmpv6.type", "icmpv6.checksum.status"]),
        "133\t1\n133\t1\n134\t1\n134\t1\n"
    );
    assert_eq!(
        tshark.fields(&["icmpv6.opt.type"]).lines().nth(2),
        Some("3,5,24,24,24,25")
    );
    assert_eq!(
        tshark.fields(&["icmpv6.opt.prefix"]).lines().nth(2),
        // Prefix Information first; the ::/0 route carries no prefix octets at all.
        Some("2001:db8:1:2::,2001:db8:7::,2001:db8:7:1:2:3::")
    );
    assert_eq!(
        tshark
            .fields(&["icmpv6.opt.rdnss", "icmpv6.opt.mtu"])
            .lines()
            .nth(3),
        Some("2001:db8::53,2001:db8::54\t1280")
    );
}
