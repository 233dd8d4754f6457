use super::*;
use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
use bridgeless_wire::mld;
use proptest::prelude::*;
use smoltcp::wire::{Icmpv6Packet, IpProtocol, Ipv6Packet};

const A: LinkId = LinkId(0);
const B: LinkId = LinkId(1);
const C: LinkId = LinkId(2);

fn addr(s: &str) -> Ipv6Address {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Ipv6Cidr {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Cidr::new(addr(a), l.parse().unwrap())
}

/// Three links: A (fd00:a::/64, global address fd00:a::1), B (fd00:b::/64, MTU 1280, no global
/// address: errors come from the router's source fd00:ff::1), C (fd00:c::/64).
fn forwarder() -> Forwarder {
    forwarder_with(IcmpRateLimit::default())
}

/// [`forwarder`] with the ICMPv6 error rate limit `icmp_rate`.
fn forwarder_with(icmp_rate: IcmpRateLimit) -> Forwarder {
    let mut f = Forwarder::new(ForwarderConfig {
        source: Some(addr("fd00:ff::1")),
        icmp_rate,
        ..ForwarderConfig::default()
    });
    for (i, (mtu, global)) in [
        (1500, Some("fd00:a::1")),
        (1280, None),
        (9000, Some("fd00:c::1")),
    ]
    .into_iter()
    .enumerate()
    {
        let id = f
            .add_link(LinkConfig {
                mtu,
                link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1 + i as u16),
                address: global.map(addr),
            })
            .unwrap();
        assert_eq!(id.index(), i);
    }
    let routes = f.routes_mut();
    routes.insert(cidr("fd00:a::/64"), Route::Link(A)).unwrap();
    routes.insert(cidr("fd00:b::/64"), Route::Link(B)).unwrap();
    routes.insert(cidr("fd00:c::/64"), Route::Link(C)).unwrap();
    routes.insert(cidr("fd00::/16"), Route::Reject).unwrap();
    routes
        .insert(cidr("fd00:bad::/32"), Route::Prohibit)
        .unwrap();
    f
}

/// A UDP packet with a traffic class and flow label, so that they can be checked unchanged.
fn udp(src: &str, dst: &str, hop_limit: u8, payload: usize) -> Vec<u8> {
    let header = Ipv6Header {
        src: addr(src),
        dst: addr(dst),
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit,
        traffic_class: 0x2e,
        flow_label: 0xabcde,
    };
    let mut buf = vec![0; 48 + payload];
    let n = emit_udp_v6(&header, 4000, 5000, &vec![7; payload], &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Checks an ICMPv6 error: addresses, checksum, type, code, parameter, quoted packet.
fn assert_error(icmp: &[u8], from: &str, to: &str, kind: u8, code: u8, param: u32, quoted: &[u8]) {
    let ip = Ipv6Packet::new_checked(icmp).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (addr(from), addr(to)));
    let msg = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(msg.verify_checksum(&addr(from), &addr(to)));
    assert_eq!((u8::from(msg.msg_type()), msg.msg_code()), (kind, code));
    assert_eq!(
        u32::from_be_bytes(ip.payload()[4..8].try_into().unwrap()),
        param
    );
    let q = &ip.payload()[8..];
    assert_eq!(q, &quoted[..q.len()]);
}

#[test]
fn forwards_by_longest_prefix_and_changes_only_the_hop_limit() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let packet = udp("fd00:a::2", "fd00:c::2", 64, 100);
    let mut frame = packet.clone();
    frame.extend_from_slice(&[0xee; 3]); // trailing octets past Payload Length
    let v = f.route(Instant::ZERO, A, &frame, &mut icmp);
    assert_eq!(
        v,
        Verdict::Forward {
            link: C,
            len: packet.len()
        }
    );
    let mut out = [0u8; 2000];
    let n = f.forward_into(C, &frame[..packet.len()], &mut out).unwrap();
    assert_eq!(out[7], 63);
    assert_eq!(out[..7], packet[..7]);
    assert_eq!(out[8..n], packet[8..]);
    assert_eq!(f.counters().forwarded, 1);
    assert_eq!(f.link_counters(C).unwrap().tx_packets, 1);
    assert_eq!(f.link_counters(A).unwrap().rx_packets, 1);
}

#[test]
fn hop_limit_one_is_answered_with_time_exceeded_from_the_arrival_link() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let packet = udp("fd00:a::2", "fd00:c::2", 1, 20);
    let v = f.route(Instant::ZERO, A, &packet, &mut icmp);
    let Verdict::Error { reason, link, len } = v else {
        panic!("{v:?}")
    };
    assert_eq!((reason, link), (DropReason::HopLimit, A));
    assert_error(&icmp[..len], "fd00:a::1", "fd00:a::2", 3, 0, 0, &packet);
    assert_eq!(f.counters().dropped.get(DropReason::HopLimit), 1);
    assert_eq!(f.counters().icmp.sent, [0, 0, 1, 0]);
    // A link without a global address answers from the router's configured source.
    let packet = udp("fd00:b::2", "fd00:c::2", 0, 20);
    let Verdict::Error { len, .. } = f.route(Instant::ZERO, B, &packet, &mut icmp) else {
        panic!()
    };
    assert_error(&icmp[..len], "fd00:ff::1", "fd00:b::2", 3, 0, 0, &packet);
}

#[test]
fn unreachable_codes_follow_rfc_4443() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    f.set_link_up(C, false);
    let cases = [
        ("2001:db8::1", DropReason::NoRoute, 0),
        ("fd00:bad::1", DropReason::Prohibited, 1),
        ("fd00:1234::1", DropReason::Rejected, 6),
        ("fd00:a::9", DropReason::SameLink, 3),
        ("fd00:c::9", DropReason::LinkDown, 3),
    ];
    for (dst, expected, code) in cases {
        let packet = udp("fd00:a::2", dst, 64, 10);
        let Verdict::Error { reason, link, len } = f.route(Instant::ZERO, A, &packet, &mut icmp)
        else {
            panic!("{dst}")
        };
        assert_eq!((reason, link), (expected, A), "{dst}");
        assert_error(&icmp[..len], "fd00:a::1", "fd00:a::2", 1, code, 0, &packet);
        assert_eq!(f.counters().dropped.get(expected), 1);
    }
}

#[test]
fn too_big_for_the_next_link_is_answered_with_its_mtu() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let packet = udp("fd00:c::2", "fd00:b::2", 64, 1300);
    let Verdict::Error { reason, link, len } = f.route(Instant::ZERO, C, &packet, &mut icmp) else {
        panic!()
    };
    assert_eq!((reason, link), (DropReason::TooBig, C));
    assert_error(&icmp[..len], "fd00:c::1", "fd00:c::2", 2, 0, 1280, &packet);
    assert_eq!(len, 1280, "the quote is cut at the minimum MTU");
}

#[test]
fn link_local_is_never_forwarded() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    // Link-local source to a global destination: beyond scope, answered from our link-local.
    let packet = udp("fe80::2", "fd00:c::2", 64, 10);
    let Verdict::Error { reason, link, len } = f.route(Instant::ZERO, A, &packet, &mut icmp) else {
        panic!()
    };
    assert_eq!((reason, link), (DropReason::BeyondScope, A));
    assert_error(&icmp[..len], "fe80::1", "fe80::2", 1, 2, 0, &packet);
    // A link-local destination that is not ours: dropped without an error.
    let packet = udp("fd00:a::2", "fe80::99", 64, 10);
    assert_eq!(
        f.route(Instant::ZERO, A, &packet, &mut icmp),
        Verdict::Drop(DropReason::LinkLocalDestination)
    );
    // Ours (on any link, and a global address of the router): local.
    for dst in ["fe80::1", "fe80::3", "fd00:a::1", "fd00:c::1"] {
        let packet = udp("fe80::2", dst, 64, 10);
        assert!(matches!(
            f.route(Instant::ZERO, A, &packet, &mut icmp),
            Verdict::Local { .. }
        ));
    }
}

#[test]
fn multicast_scopes() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let cases = [
        ("fd00:a::2", "ff02::1:2", 1, "local"),
        ("fe80::2", "ff02::16", 1, "local"),
        ("fd00:a::2", "ff01::1", 1, "drop"),
        ("fd00:a::2", "ff05::1234", 8, "multicast"),
        ("fd00:a::2", "ff0e::1234", 1, "drop"), // hop limit: no error about multicast
        ("fe80::2", "ff05::1234", 8, "drop"),
    ];
    for (src, dst, hop, expected) in cases {
        let packet = udp(src, dst, hop, 10);
        let v = f.route(Instant::ZERO, A, &packet, &mut icmp);
        let got = match v {
            Verdict::Local { .. } => "local",
            Verdict::Multicast { .. } => "multicast",
            Verdict::Drop(_) => "drop",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, expected, "{src} -> {dst}");
    }
    assert_eq!(f.counters().icmp.sent, [0; 4]);
    // MLD to a wider group (an MLDv1 Report, a group-specific query) is the router's own,
    // though its source is link-local and its hop limit 1.
    let group = addr("ff05::1234");
    for repr in [
        mld::MldRepr::ReportV1(mld::ReportV1Repr {
            multicast_address: group,
        }),
        mld::MldRepr::Query(mld::QueryRepr::V1 {
            max_response_delay: 1000,
            multicast_address: group,
        }),
    ] {
        let mut packet = [0u8; 100];
        let n = mld::emit_ipv6(&addr("fe80::2"), &group, &repr, &mut packet).unwrap();
        assert!(matches!(
            f.route(Instant::ZERO, A, &packet[..n], &mut icmp),
            Verdict::Local { .. }
        ));
    }
    // Replication: too big for B is answered with Packet Too Big even though the destination
    // is multicast (RFC 4443 §2.4 (e.2)); never back to the arrival link.
    let packet = udp("fd00:a::2", "ff05::1234", 8, 1300);
    assert!(matches!(
        f.replicate(Instant::ZERO, A, C, &packet, &mut icmp),
        Verdict::Forward { link: C, .. }
    ));
    let Verdict::Error { reason, len, .. } = f.replicate(Instant::ZERO, A, B, &packet, &mut icmp)
    else {
        panic!()
    };
    assert_eq!(reason, DropReason::TooBig);
    assert_error(&icmp[..len], "fd00:a::1", "fd00:a::2", 2, 0, 1280, &packet);
    assert_eq!(
        f.replicate(Instant::ZERO, A, A, &packet, &mut icmp),
        Verdict::Drop(DropReason::SameLink)
    );
    // Copies that were not sent are counted apart from arriving packets.
    assert_eq!(f.counters().copies_dropped.get(DropReason::TooBig), 1);
    assert_eq!(f.counters().copies_dropped.get(DropReason::SameLink), 1);
    assert_eq!(f.counters().dropped.get(DropReason::TooBig), 0);
}

#[test]
fn no_error_about_an_error_and_invalid_sources_are_silent() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let invoking = udp("fd00:c::2", "fd00:a::2", 64, 10);
    let mut error = [0u8; 1280];
    let n = emit_icmpv6_error(
        addr("fd00:c::1"),
        addr("fd00:a::2"),
        Icmpv6Error::DstUnreachable(4),
        &invoking,
        &mut error,
    )
    .unwrap();
    let mut packet = error[..n].to_vec();
    packet[7] = 1; // expires here
    assert_eq!(
        f.route(Instant::ZERO, C, &packet, &mut icmp),
        Verdict::Drop(DropReason::HopLimit)
    );
    assert_eq!(f.counters().icmp.suppressed, 1);
    for src in ["::", "::1", "ff02::1"] {
        let packet = udp(src, "fd00:c::2", 64, 10);
        assert_eq!(
            f.route(Instant::ZERO, A, &packet, &mut icmp),
            Verdict::Drop(DropReason::InvalidSource)
        );
    }
}

#[test]
fn errors_are_rate_limited_by_a_token_bucket() {
    let mut f = Forwarder::new(ForwarderConfig {
        icmp_rate: IcmpRateLimit {
            per_second: 10,
            burst: 3,
        },
        ..ForwarderConfig::default()
    });
    f.add_link(LinkConfig {
        mtu: 1500,
        link_local: addr("fe80::1"),
        address: Some(addr("fd00:a::1")),
    })
    .unwrap();
    let mut icmp = [0u8; 1280];
    let packet = udp("fd00:a::2", "2001:db8::1", 64, 10);
    let mut sent_at = |f: &mut Forwarder, ms: u64| {
        matches!(
            f.route(Instant::from_millis(ms as i64), A, &packet, &mut icmp),
            Verdict::Error { .. }
        )
    };
    let burst: Vec<bool> = (0..5).map(|_| sent_at(&mut f, 1000)).collect();
    assert_eq!(burst, [true, true, true, false, false]);
    assert!(!sent_at(&mut f, 1050), "half a token is not enough");
    assert!(sent_at(&mut f, 1100), "one token after 100 ms");
    assert!(!sent_at(&mut f, 1100));
    assert_eq!(f.counters().icmp.rate_limited, 4);
    assert_eq!(f.counters().dropped.get(DropReason::NoRoute), 8);
}

#[rustfmt::skip]
fn hop_by_hop(option_type: u8, dst: &str) -> Vec<u8> {
    let mut p = vec![
        0x60, 0, 0, 0,          // version 6
        0, 8,                   // payload length: the 8-octet Hop-by-Hop header
        0,                      // next header: Hop-by-Hop
        64,                     // hop limit
    ];
    p.extend_from_slice(&addr("fd00:a::2").octets());
    p.extend_from_slice(&addr(dst).octets());
    p.extend_from_slice(&[
        59, 0,                  // next header: none; length 0 (8 octets)
        option_type, 4,         // option type, 4 octets of data
        0, 0, 0, 0,
    ]);
    p
}

#[test]
fn hop_by_hop_options_that_must_not_be_skipped_are_answered() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    // Type 0x1e: action 00, skip: forwarded unchanged.
    let packet = hop_by_hop(0x1e, "fd00:c::2");
    assert!(matches!(
        f.route(Instant::ZERO, A, &packet, &mut icmp),
        Verdict::Forward { link: C, .. }
    ));
    // Type 0x9e: action 10, discard and send Parameter Problem code 2 pointing at it, even to
    // a multicast destination (RFC 8200 §4.2, RFC 4443 §2.4 (e.3)).
    for dst in ["fd00:c::2", "ff05::1"] {
        let packet = hop_by_hop(0x9e, dst);
        let Verdict::Error { reason, len, .. } = f.route(Instant::ZERO, A, &packet, &mut icmp)
        else {
            panic!("{dst}")
        };
        assert_eq!(reason, DropReason::ParameterProblem);
        assert_error(&icmp[..len], "fd00:a::1", "fd00:a::2", 4, 2, 42, &packet);
    }
}

#[test]
fn short_and_foreign_frames_are_counted() {
    let mut f = forwarder();
    let mut icmp = [0u8; 1280];
    let packet = udp("fd00:a::2", "fd00:c::2", 64, 10);
    assert_eq!(
        f.route(Instant::ZERO, A, &packet[..packet.len() - 1], &mut icmp),
        Verdict::Drop(DropReason::Truncated)
    );
    assert_eq!(
        f.route(Instant::ZERO, A, &packet[..39], &mut icmp),
        Verdict::Drop(DropReason::Truncated)
    );
    let mut v4 = packet.clone();
    v4[0] = 0x45;
    assert_eq!(
        f.route(Instant::ZERO, A, &v4, &mut icmp),
        Verdict::Drop(DropReason::NotIpv6)
    );
    assert_eq!(
        f.route(Instant::ZERO, LinkId(9), &packet, &mut icmp),
        Verdict::Drop(DropReason::UnknownLink)
    );
    let c = f.counters();
    assert_eq!(c.dropped.total(), 4);
    assert_eq!(f.link_counters(A).unwrap().dropped, 3);
}

proptest! {
    /// Arbitrary frames never panic, and every verdict is consistent with the frame.
    #[test]
    fn arbitrary_frames(frame in proptest::collection::vec(any::<u8>(), 0..200), link in 0u16..4) {
        let mut f = forwarder();
        let mut icmp = [0u8; 1280];
        match f.route(Instant::ZERO, LinkId(link), &frame, &mut icmp) {
            Verdict::Forward { link: out, len } => {
                prop_assert!(len <= frame.len());
                prop_assert_ne!(out, LinkId(link));
                let mut buf = [0u8; 300];
                prop_assert_eq!(f.forward_into(out, &frame[..len], &mut buf), Some(len));
                prop_assert_eq!(buf[7], frame[7] - 1);
            }
            Verdict::Local { len } | Verdict::Multicast { len } => prop_assert!(len <= frame.len()),
            Verdict::Error { len, .. } => {
                let ip = Ipv6Packet::new_checked(&icmp[..len]).unwrap();
                prop_assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
            }
            Verdict::Drop(_) => {}
        }
        let c = f.counters();
        prop_assert_eq!(c.forwarded + c.local + c.multicast + c.dropped.total(), 1);
    }
}

/// A frame for the batch property test: a UDP packet between addresses that exercise every
/// rule (local, link-local, multicast of each scope, invalid sources, every kind of route),
/// with hop limits around 1 and sizes around link B's 1280-octet MTU, or a Hop-by-Hop packet,
/// an ICMPv6 error, a cut or damaged frame, or noise.
fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    const SOURCES: &[&str] = &["fd00:a::2", "fd00:c::7", "fe80::2", "::", "::1", "ff02::1"];
    const DESTINATIONS: &[&str] = &[
        "fd00:a::1",
        "fd00:a::9",
        "fd00:b::2",
        "fd00:c::2",
        "fd00:bad::1",
        "fd00:1234::1",
        "2001:db8::1",
        "fe80::1",
        "fe80::99",
        "ff02::1",
        "ff05::1234",
        "ff01::1",
        "ff00::1",
    ];
    let udp_frame = (
        0..SOURCES.len(),
        0..DESTINATIONS.len(),
        prop_oneof![Just(0u8), Just(1), Just(2), Just(64)],
        prop_oneof![0usize..64, 1230usize..1300],
    )
        .prop_map(|(s, d, hop, size)| udp(SOURCES[s], DESTINATIONS[d], hop, size));
    let error_frame =
        (0..DESTINATIONS.len(), prop_oneof![Just(1u8), Just(64)]).prop_map(|(d, hop)| {
            let invoking = udp("fd00:c::2", "fd00:a::2", 64, 10);
            let mut error = [0u8; 1280];
            let n = emit_icmpv6_error(
                addr("fd00:c::1"),
                addr(DESTINATIONS[d]),
                Icmpv6Error::DstUnreachable(4),
                &invoking,
                &mut error,
            )
            .unwrap();
            let mut packet = error[..n].to_vec();
            packet[7] = hop;
            packet
        });
    prop_oneof![
        6 => udp_frame.clone(),
        1 => (prop_oneof![Just(0x1eu8), Just(0x9e), Just(0xde)], 0..DESTINATIONS.len())
            .prop_map(|(option, d)| hop_by_hop(option, DESTINATIONS[d])),
        1 => error_frame,
        1 => (udp_frame, any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(
            |(mut frame, at, byte, cut)| {
                let i = at.index(frame.len());
                if cut {
                    frame.truncate(i);
                } else {
                    frame[i] = byte;
                }
                frame
            }
        ),
        1 => proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

proptest! {
    /// `route_batch` is `route` per frame: the same verdicts, the same ICMPv6 errors (bytes
    /// and order, under a rate limit small enough to bite) and the same counters, for batches
    /// of every length around the lookup lanes, at advancing times, on every link.
    #[test]
    fn route_batch_is_route_per_frame(
        batches in proptest::collection::vec(
            (0u64..300, 0u16..4, proptest::collection::vec(any_frame(), 0..40)),
            1..6,
        ),
    ) {
        let rate = IcmpRateLimit { per_second: 10, burst: 4 };
        let mut single = forwarder_with(rate);
        let mut batched = forwarder_with(rate);
        let mut ms = 1000;
        for (step, (dt, link, frames)) in batches.into_iter().enumerate() {
            ms += dt;
            let now = Instant::from_millis(ms as i64);
            let link = LinkId(link);
            if step == 3 {
                // A link that goes down between batches: code 3 in both.
                single.set_link_up(B, false);
                batched.set_link_up(B, false);
            }
            let mut icmp = [0u8; 1280];
            let mut expected = Vec::new();
            let mut expected_errors = Vec::new();
            for (i, frame) in frames.iter().enumerate() {
                let v = single.route(now, link, frame, &mut icmp);
                if let Verdict::Error { link: out, len, .. } = v {
                    expected_errors.push((i, out, icmp[..len].to_vec()));
                }
                expected.push(v);
            }
            let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let mut verdicts = vec![Verdict::Drop(DropReason::NoRoute); frames.len()];
            let mut errors = Vec::new();
            batched.route_batch(now, link, &slices, &mut verdicts, &mut icmp, |i, out, bytes| {
                errors.push((i, out, bytes.to_vec()));
            });
            prop_assert_eq!(&verdicts, &expected);
            prop_assert_eq!(&errors, &expected_errors);
            prop_assert_eq!(batched.counters(), single.counters());
            for l in 0..3 {
                prop_assert_eq!(batched.link_counters(LinkId(l)), single.link_counters(LinkId(l)));
            }
        }
    }
}
