//! Router discovery as a host: solicitation timing and bytes, address formation, lifetimes,
//! renumbering, validation, and (proptest) that arbitrary advertisements and time sequences
//! keep the state bounded and the events consistent with it.

use std::collections::BTreeSet;

use bridgeless_iface::rd::{
    AddressKind, AddressMode, Config, Dropped, Event, MAX_DNS_SERVERS, MAX_PREFIXES, MAX_ROUTES,
    RTR_SOLICITATION_INTERVAL, RouterDiscovery, StableIid, TEMP_PREFERRED_LIFETIME,
    TEMP_VALID_LIFETIME,
};
use bridgeless_wire::ndp::{
    self, NdpMessage, NdpOptionRepr, NdpRepr, Preference, PrefixInformation, RouteInformation,
    RouterAdvertisementRepr, ValidationError,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

#[path = "rd/props.rs"]
mod props;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PREFIX_A: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0xa, 0, 0, 0, 0);
const PREFIX_B: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0xb, 0, 0, 0, 0);
const INFINITE: u32 = u32::MAX;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn generator() -> StableIid {
    StableIid::new([0x5e; 32], b"tun0").unwrap()
}

fn config(mode: AddressMode) -> Config {
    let mut c = Config::new(generator(), 1500);
    c.address_mode = mode;
    c
}

fn host(mode: AddressMode) -> RouterDiscovery {
    RouterDiscovery::new(config(mode), Instant::ZERO)
}

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs as i64)
}

fn pio(prefix: Ipv6Address, valid: u32, preferred: u32) -> NdpOptionRepr<'static> {
    NdpOptionRepr::PrefixInformation(PrefixInformation {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: valid,
        preferred_lifetime: preferred,
        prefix,
    })
}

fn ra_from(src: Ipv6Address, router_lifetime: u16, options: &[NdpOptionRepr<'_>]) -> Vec<u8> {
    emit_ra(src, 64, router_lifetime, options)
}

/// An IPv6 Router Advertisement from `src` to all nodes, with the given fields and options.
fn emit_ra(
    src: Ipv6Address,
    cur_hop_limit: u8,
    router_lifetime: u16,
    options: &[NdpOptionRepr<'_>],
) -> Vec<u8> {
    let repr = RouterAdvertisementRepr {
        cur_hop_limit,
        managed: false,
        other: false,
        preference: Preference::Medium,
        router_lifetime,
        reachable_time: 0,
        retrans_timer: 0,
        options,
    };
    let mut buf = vec![0u8; 4096];
    let len = ndp::emit_ipv6(
        &src,
        &ndp::ALL_NODES,
        &NdpRepr::RouterAdvertisement(repr),
        &mut buf,
    )
    .unwrap();
    buf.truncate(len);
    buf
}

fn ra(router_lifetime: u16, options: &[NdpOptionRepr<'_>]) -> Vec<u8> {
    ra_from(ROUTER, router_lifetime, options)
}

fn events(rd: &mut RouterDiscovery) -> Vec<Event> {
    std::iter::from_fn(|| rd.poll_event()).collect()
}

fn address_of(rd: &RouterDiscovery, kind: AddressKind, prefix: Ipv6Address) -> Option<Ipv6Cidr> {
    let net = Ipv6Cidr::new(prefix, 64);
    rd.addresses()
        .find(|a| a.kind == kind && net.contains_addr(&a.cidr.address()))
        .map(|a| a.cidr)
}

fn expected_stable(prefix: Ipv6Address) -> Ipv6Address {
    let iid = generator().iid(prefix).unwrap();
    Ipv6Address::from(u128::from(prefix) | u128::from(iid))
}

/// Drives `rd` to `now` the way a caller does.
fn advance(rd: &mut RouterDiscovery, now: Instant, rng: &mut ChaCha8Rng) {
    while let Some(t) = rd.poll_timeout().filter(|&t| t <= now) {
        rd.handle_timeout(t, rng);
        let mut buf = [0u8; 64];
        while rd.poll_transmit(t, &mut buf).is_some() {}
    }
    rd.handle_timeout(now, rng);
}

#[test]
fn solicitations_follow_rfc4861_timing() {
    let mut delays = BTreeSet::new();
    for seed in 0..32 {
        let mut rd = host(AddressMode::Stable);
        let start = at(100);
        rd.link_up(start, &mut rng(seed));
        let first = rd.poll_timeout().unwrap();
        assert!(first >= start && first <= start + Duration::from_secs(1));
        delays.insert(first.total_micros());
        let mut buf = [0u8; 128];
        if first > start {
            assert_eq!(
                rd.poll_transmit(start, &mut buf),
                None,
                "nothing before the delay"
            );
        }
        let mut sent = vec![];
        let mut now = first;
        while let Some(t) = rd.poll_timeout() {
            assert!(t >= now);
            now = t;
            if let Some(len) = rd.poll_transmit(now, &mut buf) {
                assert_eq!(len, 48);
                sent.push(now);
            }
            assert!(sent.len() <= 3);
        }
        assert_eq!(sent.len(), 3, "MAX_RTR_SOLICITATIONS");
        assert_eq!(sent[1] - sent[0], RTR_SOLICITATION_INTERVAL);
        assert_eq!(sent[2] - sent[1], RTR_SOLICITATION_INTERVAL);
        assert_eq!(rd.poll_transmit(at(100_000), &mut buf), None);
        assert!(!rd.is_soliciting());
        assert_eq!(rd.counters().solicitations_sent, 3);
    }
    assert!(delays.len() > 20, "the delay is random");
}

#[test]
fn solicitation_bytes() {
    let mut rd = host(AddressMode::Stable);
    rd.link_up(Instant::ZERO, &mut rng(1));
    let mut buf = [0u8; 100];
    let len = rd.poll_transmit(at(1), &mut buf).unwrap();
    let packet = &buf[..len];
    assert_eq!(packet[7], 255, "hop limit");
    let received = ndp::parse_ipv6(packet).unwrap();
    assert_eq!(received.src_addr, rd.link_local());
    assert!(received.src_addr.is_unicast_link_local());
    assert_eq!(received.dst_addr, ndp::ALL_ROUTERS);
    let NdpMessage::RouterSolicitation(rs) = received.message else {
        panic!("not an RS: {:?}", received.message);
    };
    assert_eq!(
        rs.options().count(),
        0,
        "never a Source Link-Layer Address option"
    );
    assert!(rs.options_bytes().is_empty());
}

#[test]
fn small_buffer_is_counted_and_retried() {
    let mut rd = host(AddressMode::Stable);
    rd.link_up(Instant::ZERO, &mut rng(1));
    assert_eq!(rd.poll_transmit(at(1), &mut [0u8; 47]), None);
    assert_eq!(rd.counters().transmit_buffer_too_small, 1);
    assert_eq!(rd.poll_transmit(at(1), &mut [0u8; 48]), Some(48));
}

#[test]
fn advertisement_with_router_lifetime_stops_solicitations() {
    let mut r = rng(2);
    let mut rd = host(AddressMode::Stable);
    rd.link_up(Instant::ZERO, &mut r);
    let mut buf = [0u8; 64];
    assert!(rd.poll_transmit(at(1), &mut buf).is_some());
    // Router lifetime 0: not a default router, keep soliciting (RFC 4861 §6.3.7).
    rd.handle_ra(at(2), &ra(0, &[]), &mut r).unwrap();
    assert!(rd.is_soliciting());
    rd.handle_ra(at(2), &ra(1800, &[]), &mut r).unwrap();
    assert!(!rd.is_soliciting());
    for s in 2..60 {
        assert_eq!(rd.poll_transmit(at(s), &mut buf), None);
    }
    assert_eq!(rd.counters().solicitations_sent, 1);
}

#[test]
fn backoff_continues_with_doubling_intervals() {
    let mut c = config(AddressMode::Stable);
    c.solicitation_backoff = true;
    let mut rd = RouterDiscovery::new(c, Instant::ZERO);
    rd.link_up(Instant::ZERO, &mut rng(3));
    let mut buf = [0u8; 64];
    let mut sent = vec![];
    while sent.len() < 16 {
        let t = rd.poll_timeout().unwrap();
        if rd.poll_transmit(t, &mut buf).is_some() {
            sent.push(t);
        }
    }
    let gaps: Vec<f64> = sent
        .windows(2)
        .map(|w| (w[1] - w[0]).total_millis() as f64 / 1000.0)
        .collect();
    assert_eq!(&gaps[..2], &[4.0, 4.0]);
    // RFC 7559 §2: RT = 2*RTprev + RAND*RTprev with RAND in [-0.1, 0.1]; past MRT (3600 s),
    // RT = MRT + RAND*MRT.
    let mut previous = 4.0f64;
    for &gap in &gaps[2..] {
        let doubled = (
            2.0 * previous - 0.1 * previous,
            2.0 * previous + 0.1 * previous,
        );
        let capped = (3240.0, 3960.0);
        let within = |(lo, hi): (f64, f64)| gap >= lo - 0.001 && gap <= hi + 0.001;
        assert!(within(doubled) || within(capped), "{gaps:?}");
        previous = gap;
    }
    assert!(
        gaps[gaps.len() - 3..]
            .iter()
            .all(|&g| (3240.0..=3960.0).contains(&g)),
        "{gaps:?}"
    );
}

#[test]
fn link_local_is_stable_and_available_at_once() {
    let mut r = rng(4);
    let mut rd = host(AddressMode::Stable);
    let ll = rd.link_local();
    assert_eq!(
        ll,
        expected_stable(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0))
    );
    assert_eq!(
        events(&mut rd),
        vec![Event::AddressAdded {
            addr: Ipv6Cidr::new(ll, 64),
            kind: AddressKind::LinkLocal,
            preferred_until: None,
            valid_until: None,
        }]
    );
    // Link flaps change nothing: RFC 7217 identifiers are stable.
    for i in 0..3 {
        rd.link_up(at(i * 10), &mut r);
        rd.link_down(at(i * 10 + 5));
    }
    assert_eq!(rd.link_local(), ll);
    assert_eq!(
        host(AddressMode::Temporary).link_local(),
        ll,
        "same secret and name"
    );
    let other = RouterDiscovery::new(
        Config::new(StableIid::new([0x5e; 32], b"tun1").unwrap(), 1500),
        Instant::ZERO,
    );
    assert_ne!(other.link_local(), ll);

    let mut c = config(AddressMode::Stable);
    c.link_local_iid = Some(0x2);
    assert_eq!(
        RouterDiscovery::new(c.clone(), Instant::ZERO).link_local(),
        Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)
    );
    c.link_local_iid = Some(0); // reserved: the stable one is used
    assert_eq!(RouterDiscovery::new(c, Instant::ZERO).link_local(), ll);
}

#[test]
fn advertisement_configures_address_router_mtu_hop_limit() {
    let mut r = rng(5);
    let mut rd = host(AddressMode::Stable);
    events(&mut rd);
    let packet = ra(
        1800,
        &[pio(PREFIX_A, 86_400, 14_400), NdpOptionRepr::Mtu(1400)],
    );
    rd.handle_ra(at(10), &packet, &mut r).unwrap();
    let addr = Ipv6Cidr::new(expected_stable(PREFIX_A), 64);
    let got = events(&mut rd);
    assert!(got.contains(&Event::AddressAdded {
        addr,
        kind: AddressKind::Stable,
        preferred_until: Some(at(10 + 14_400)),
        valid_until: Some(at(10 + 86_400)),
    }));
    assert!(got.contains(&Event::DefaultRouter {
        router: ROUTER,
        preference: Preference::Medium,
        valid_until: at(1810),
    }));
    assert!(got.contains(&Event::MtuChanged(1400)));
    assert!(got.contains(&Event::HopLimit(64)));
    assert_eq!(rd.mtu(), 1400);
    assert_eq!(rd.default_router().unwrap().addr, ROUTER);
    assert_eq!(rd.addresses().count(), 2);

    // The same advertisement again changes nothing: no events.
    rd.handle_ra(at(20), &packet, &mut r).unwrap();
    assert_eq!(events(&mut rd), vec![]);
    assert_eq!(rd.addresses().count(), 2);
}

#[test]
fn stable_identifiers_are_per_prefix_and_reproducible() {
    let mut r = rng(6);
    let mut one = host(AddressMode::Stable);
    let mut two = host(AddressMode::Stable);
    let packet = ra(
        1800,
        &[
            pio(PREFIX_A, INFINITE, INFINITE),
            pio(PREFIX_B, INFINITE, INFINITE),
        ],
    );
    one.handle_ra(at(1), &packet, &mut r).unwrap();
    two.handle_ra(at(500), &packet, &mut r).unwrap();
    let a1 = address_of(&one, AddressKind::Stable, PREFIX_A).unwrap();
    let b1 = address_of(&one, AddressKind::Stable, PREFIX_B).unwrap();
    assert_eq!(Some(a1), address_of(&two, AddressKind::Stable, PREFIX_A));
    assert_eq!(Some(b1), address_of(&two, AddressKind::Stable, PREFIX_B));
    let iid = |c: Ipv6Cidr| u128::from(c.address()) as u64;
    assert_ne!(
        iid(a1),
        iid(b1),
        "different prefixes, unrelated identifiers"
    );
    // Across a link flap and a fresh instance (a reboot) the address is the same.
    one.link_down(at(2));
    one.link_up(at(3), &mut r);
    one.handle_ra(at(4), &packet, &mut r).unwrap();
    assert_eq!(address_of(&one, AddressKind::Stable, PREFIX_A), Some(a1));
}

#[test]
fn lifetimes_expire_in_virtual_time() {
    let mut r = rng(7);
    let mut rd = host(AddressMode::Stable);
    events(&mut rd);
    let packet = ra(
        1000,
        &[
            pio(PREFIX_A, 600, 300),
            NdpOptionRepr::RouteInformation(RouteInformation {
                prefix_len: 48,
                preference: Preference::High,
                lifetime: 900,
                prefix: Ipv6Address::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0),
            }),
            NdpOptionRepr::Rdnss {
                lifetime: 1200,
                addresses: &[Ipv6Address::new(0x2001, 0xdb8, 0, 0xa, 0, 0, 0, 0x53)],
            },
        ],
    );
    rd.handle_ra(Instant::ZERO, &packet, &mut r).unwrap();
    let addr = address_of(&rd, AddressKind::Stable, PREFIX_A).unwrap();
    assert_eq!(rd.routes().count(), 1);
    assert_eq!(rd.dns_servers().count(), 1);
    events(&mut rd);

    let expected = [
        (300, Event::AddressDeprecated { addr }),
        (600, Event::AddressRemoved { addr }),
        (
            900,
            Event::RouteRemoved {
                cidr: Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0), 48),
                router: ROUTER,
            },
        ),
        (1000, Event::DefaultRouterLost { router: ROUTER }),
        (
            1200,
            Event::DnsServerRemoved {
                addr: Ipv6Address::new(0x2001, 0xdb8, 0, 0xa, 0, 0, 0, 0x53),
            },
        ),
    ];
    for (secs, event) in expected {
        assert_eq!(rd.poll_timeout(), Some(at(secs)));
        // Early and spurious calls are no-ops.
        rd.handle_timeout(at(secs) - Duration::from_millis(1), &mut r);
        assert_eq!(events(&mut rd), vec![]);
        rd.handle_timeout(at(secs), &mut r);
        assert_eq!(events(&mut rd), vec![event]);
        rd.handle_timeout(at(secs), &mut r);
        assert_eq!(events(&mut rd), vec![]);
    }
    assert_eq!(rd.poll_timeout(), None);
    assert_eq!(
        rd.addresses().count(),
        1,
        "only the link-local address is left"
    );
    assert!(rd.default_router().is_none());
}

#[test]
fn two_hour_rule() {
    let mut r = rng(8);
    let mut rd = host(AddressMode::Stable);
    rd.handle_ra(
        Instant::ZERO,
        &ra(1800, &[pio(PREFIX_A, DAY as u32, 3600)]),
        &mut r,
    )
    .unwrap();
    let valid = |rd: &RouterDiscovery| {
        let a = address_of(rd, AddressKind::Stable, PREFIX_A).unwrap();
        rd.addresses().find(|x| x.cidr == a).unwrap().valid_until
    };
    // Remaining is a day: a 60 s advertisement only cuts it to two hours.
    rd.handle_ra(at(100), &ra(1800, &[pio(PREFIX_A, 60, 60)]), &mut r)
        .unwrap();
    assert_eq!(valid(&rd), Some(at(100 + 2 * HOUR)));
    assert_eq!(rd.counters().two_hour_rule, 1);
    // Remaining is now two hours or less: a shorter advertisement is ignored.
    rd.handle_ra(at(200), &ra(1800, &[pio(PREFIX_A, 0, 0)]), &mut r)
        .unwrap();
    assert_eq!(valid(&rd), Some(at(100 + 2 * HOUR)));
    assert_eq!(rd.counters().two_hour_rule, 2);
    // A longer one than what remains is taken, even under two hours.
    rd.handle_ra(at(300), &ra(1800, &[pio(PREFIX_A, 7_100, 60)]), &mut r)
        .unwrap();
    assert_eq!(valid(&rd), Some(at(300 + 7_100)));
    // Over two hours is always taken.
    rd.handle_ra(at(400), &ra(1800, &[pio(PREFIX_A, 7_201, 60)]), &mut r)
        .unwrap();
    assert_eq!(valid(&rd), Some(at(400 + 7_201)));
}

#[test]
fn renumbering_adds_the_new_prefix_and_retires_the_old() {
    let mut r = rng(9);
    let mut rd = host(AddressMode::Stable);
    rd.handle_ra(
        Instant::ZERO,
        &ra(1800, &[pio(PREFIX_A, DAY as u32, DAY as u32)]),
        &mut r,
    )
    .unwrap();
    let old = address_of(&rd, AddressKind::Stable, PREFIX_A).unwrap();
    events(&mut rd);
    // The router renumbers: the old prefix with zero lifetimes, the new one.
    let packet = ra(
        1800,
        &[pio(PREFIX_A, 0, 0), pio(PREFIX_B, DAY as u32, DAY as u32)],
    );
    rd.handle_ra(at(1000), &packet, &mut r).unwrap();
    let new = address_of(&rd, AddressKind::Stable, PREFIX_B).unwrap();
    let got = events(&mut rd);
    assert!(
        got.contains(&Event::AddressDeprecated { addr: old }),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|e| matches!(e, Event::AddressAdded { addr, .. } if *addr == new))
    );
    assert!(rd.addresses().any(|a| a.cidr == old && a.deprecated));
    // The old address goes two hours later (RFC 4862 §5.5.3 e).
    advance(
        &mut rd,
        at(1000 + 2 * HOUR) - Duration::from_secs(1),
        &mut r,
    );
    assert!(rd.addresses().any(|a| a.cidr == old));
    advance(&mut rd, at(1000 + 2 * HOUR), &mut r);
    assert!(!rd.addresses().any(|a| a.cidr == old));
    assert!(events(&mut rd).contains(&Event::AddressRemoved { addr: old }));
    assert!(rd.addresses().any(|a| a.cidr == new && !a.deprecated));
}

#[test]
fn mtu_option_bounds() {
    let mut r = rng(10);
    let mut rd = host(AddressMode::Stable);
    for (mtu, accepted) in [
        (1279, false),
        (1280, true),
        (1500, true),
        (1501, false),
        (9000, false),
    ] {
        let before = rd.mtu();
        rd.handle_ra(at(1), &ra(1800, &[NdpOptionRepr::Mtu(mtu)]), &mut r)
            .unwrap();
        assert_eq!(rd.mtu(), if accepted { mtu } else { before }, "{mtu}");
    }
    assert_eq!(rd.counters().mtu_ignored, 3);
}

#[test]
fn invalid_advertisements_are_dropped_and_counted() {
    let mut r = rng(11);
    let mut rd = host(AddressMode::Stable);
    events(&mut rd);
    let good = ra(1800, &[pio(PREFIX_A, INFINITE, INFINITE)]);

    let mut hop_limit = good.clone();
    hop_limit[7] = 254;
    assert_eq!(
        rd.handle_ra(at(1), &hop_limit, &mut r),
        Err(Dropped::Invalid(ValidationError::HopLimit))
    );
    let mut checksum = good.clone();
    let last = checksum.len() - 1;
    checksum[last] ^= 1;
    assert_eq!(
        rd.handle_ra(at(1), &checksum, &mut r),
        Err(Dropped::Invalid(ValidationError::Checksum))
    );
    let global = ra_from(
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        1800,
        &[pio(PREFIX_A, INFINITE, INFINITE)],
    );
    assert_eq!(
        rd.handle_ra(at(1), &global, &mut r),
        Err(Dropped::Invalid(ValidationError::SourceAddress))
    );
    assert!(matches!(
        rd.handle_ra(at(1), &good[..30], &mut r),
        Err(Dropped::Invalid(_))
    ));
    assert!(matches!(
        rd.handle_ra(at(1), &[], &mut r),
        Err(Dropped::Invalid(_))
    ));
    let c = *rd.counters();
    assert_eq!(
        (
            c.invalid.hop_limit,
            c.invalid.checksum,
            c.invalid.source,
            c.invalid.truncated
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(c.advertisements, 0);
    assert_eq!(events(&mut rd), vec![]);
    assert_eq!(rd.addresses().count(), 1);

    // A solicitation from another host is valid ND but not for a host to process.
    let mut buf = [0u8; 64];
    let len = ndp::emit_ipv6(
        &ROUTER,
        &ndp::ALL_ROUTERS,
        &NdpRepr::RouterSolicitation(Default::default()),
        &mut buf,
    )
    .unwrap();
    assert!(matches!(
        rd.handle_ra(at(1), &buf[..len], &mut r),
        Err(Dropped::NotAdvertisement(_))
    ));
    assert_eq!(rd.counters().not_advertisement, 1);

    rd.handle_ra(at(1), &good, &mut r).unwrap();
    assert_eq!(rd.addresses().count(), 2);
}

#[test]
fn prefix_information_that_cannot_form_addresses_is_ignored() {
    let mut r = rng(12);
    let mut rd = host(AddressMode::Stable);
    let mut not_a = PrefixInformation {
        prefix_len: 64,
        on_link: true,
        autonomous: false,
        valid_lifetime: 100,
        preferred_lifetime: 100,
        prefix: PREFIX_A,
    };
    let mut options = vec![NdpOptionRepr::PrefixInformation(not_a)];
    not_a.autonomous = true;
    not_a.prefix_len = 48;
    options.push(NdpOptionRepr::PrefixInformation(not_a));
    not_a.prefix_len = 64;
    not_a.preferred_lifetime = 200;
    options.push(NdpOptionRepr::PrefixInformation(not_a));
    options.push(pio(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 100, 100));
    options.push(pio(PREFIX_B, 0, 0)); // new prefix with zero valid lifetime
    rd.handle_ra(at(1), &ra(1800, &options), &mut r).unwrap();
    let c = rd.counters();
    assert_eq!(
        (
            c.prefix_not_autonomous,
            c.prefix_length,
            c.prefix_lifetimes,
            c.prefix_scope
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(rd.addresses().count(), 1);
}

#[test]
fn temporary_addresses_differ_are_capped_and_rotate() {
    let mut r = rng(13);
    let mut rd = host(AddressMode::StableAndTemporary);
    let packet = ra(1800, &[pio(PREFIX_A, INFINITE, INFINITE)]);
    rd.handle_ra(Instant::ZERO, &packet, &mut r).unwrap();
    let stable = address_of(&rd, AddressKind::Stable, PREFIX_A).unwrap();
    let temp = *rd
        .addresses()
        .find(|a| a.kind == AddressKind::Temporary)
        .unwrap();
    assert_ne!(temp.cidr, stable);
    assert!(Ipv6Cidr::new(PREFIX_A, 64).contains_addr(&temp.cidr.address()));
    assert_eq!(temp.valid_until, Some(Instant::ZERO + TEMP_VALID_LIFETIME));
    let preferred = temp.preferred_until.unwrap();
    assert!(preferred <= Instant::ZERO + TEMP_PREFERRED_LIFETIME);
    assert!(
        preferred >= Instant::ZERO + Duration::from_secs(DAY * 6 / 10),
        "desync <= 0.4 day"
    );

    // Another host with another RNG gets another temporary identifier.
    let mut other = host(AddressMode::StableAndTemporary);
    other
        .handle_ra(Instant::ZERO, &packet, &mut rng(99))
        .unwrap();
    let other_temp = other
        .addresses()
        .find(|a| a.kind == AddressKind::Temporary)
        .unwrap();
    assert_ne!(other_temp.cidr, temp.cidr);
    assert_eq!(
        address_of(&other, AddressKind::Stable, PREFIX_A),
        Some(stable)
    );

    // Run ten days with an advertisement every ten minutes.
    events(&mut rd);
    let mut seen = BTreeSet::from([temp.cidr]);
    let mut now = Instant::ZERO;
    let end = at(10 * DAY);
    while now < end {
        now += Duration::from_secs(600);
        advance(&mut rd, now, &mut r);
        rd.handle_ra(now, &packet, &mut r).unwrap();
        let temps: Vec<_> = rd
            .addresses()
            .filter(|a| a.kind == AddressKind::Temporary)
            .collect();
        assert!(
            temps.iter().filter(|a| !a.deprecated).count() >= 1,
            "always a preferred one"
        );
        assert!(temps.len() <= 4, "{temps:?}");
        for t in &temps {
            assert!(t.valid_until.unwrap() <= t.created + TEMP_VALID_LIFETIME);
            assert!(t.preferred_until.unwrap() <= t.created + TEMP_PREFERRED_LIFETIME);
            seen.insert(t.cidr);
        }
    }
    assert!(
        seen.len() >= 10,
        "a new temporary address at least every day: {}",
        seen.len()
    );
    assert!(
        !seen
            .iter()
            .any(|&c| c == temp.cidr && rd.addresses().any(|a| a.cidr == c))
    );
    assert_eq!(address_of(&rd, AddressKind::Stable, PREFIX_A), Some(stable));
    assert_eq!(rd.counters().address_table_full, 0);
}

#[test]
fn temporary_successor_appears_before_deprecation() {
    let mut r = rng(14);
    let mut rd = host(AddressMode::Temporary);
    // Router lifetime 0, so that only the address's deadlines are pending.
    rd.handle_ra(
        Instant::ZERO,
        &ra(0, &[pio(PREFIX_A, INFINITE, INFINITE)]),
        &mut r,
    )
    .unwrap();
    assert_eq!(address_of(&rd, AddressKind::Stable, PREFIX_A), None);
    let first = *rd
        .addresses()
        .find(|a| a.kind == AddressKind::Temporary)
        .unwrap();
    events(&mut rd);
    let end = first.preferred_until.unwrap();
    // RFC 8981 §3.5: the successor is made REGEN_ADVANCE (2 s) before deprecation.
    assert_eq!(rd.poll_timeout(), Some(end - Duration::from_secs(2)));
    rd.handle_timeout(end - Duration::from_secs(2), &mut r);
    let got = events(&mut rd);
    assert!(
        matches!(
            got[..],
            [Event::AddressAdded {
                kind: AddressKind::Temporary,
                ..
            }]
        ),
        "{got:?}"
    );
    assert_eq!(rd.poll_timeout(), Some(end));
    rd.handle_timeout(end, &mut r);
    assert_eq!(
        events(&mut rd),
        vec![Event::AddressDeprecated { addr: first.cidr }]
    );
}

#[test]
fn tables_are_bounded() {
    let mut r = rng(15);
    let mut rd = host(AddressMode::Stable);
    let prefixes: Vec<_> = (0..MAX_PREFIXES as u16 + 2)
        .map(|i| {
            pio(
                Ipv6Address::new(0x2001, 0xdb8, 1, i, 0, 0, 0, 0),
                1000,
                1000,
            )
        })
        .collect();
    let routes: Vec<_> = (0..MAX_ROUTES as u16 + 3)
        .map(|i| {
            NdpOptionRepr::RouteInformation(RouteInformation {
                prefix_len: 48,
                preference: Preference::Medium,
                lifetime: 1000,
                prefix: Ipv6Address::new(0x2001, 0xdb8, 0x100 + i, 0, 0, 0, 0, 0),
            })
        })
        .collect();
    let servers: Vec<_> = (1..=MAX_DNS_SERVERS as u16 + 1)
        .map(|i| Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
        .collect();
    let mut options = prefixes;
    options.extend(routes);
    options.push(NdpOptionRepr::Rdnss {
        lifetime: 1000,
        addresses: &servers,
    });
    rd.handle_ra(at(1), &ra(1800, &options), &mut r).unwrap();
    let c = *rd.counters();
    assert_eq!(c.prefix_table_full, 2);
    assert_eq!(c.route_table_full, 3);
    assert_eq!(c.dns_table_full, 1);
    assert_eq!(rd.addresses().count(), 1 + MAX_PREFIXES);
    assert_eq!(rd.routes().count(), MAX_ROUTES);
    assert_eq!(rd.dns_servers().count(), MAX_DNS_SERVERS);
    // A zero lifetime withdraws a route and a server at once.
    let withdraw = [
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 48,
            preference: Preference::Medium,
            lifetime: 0,
            prefix: Ipv6Address::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
        }),
        NdpOptionRepr::Rdnss {
            lifetime: 0,
            addresses: &servers[..1],
        },
    ];
    events(&mut rd);
    rd.handle_ra(at(2), &ra(1800, &withdraw), &mut r).unwrap();
    assert_eq!(
        events(&mut rd),
        vec![
            Event::RouteRemoved {
                cidr: Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 48),
                router: ROUTER,
            },
            Event::DnsServerRemoved { addr: servers[0] },
        ]
    );
}

#[test]
fn zero_router_lifetime_withdraws_the_default_router() {
    let mut r = rng(16);
    let mut rd = host(AddressMode::Stable);
    rd.handle_ra(at(1), &ra(1800, &[]), &mut r).unwrap();
    events(&mut rd);
    rd.handle_ra(at(2), &ra(0, &[]), &mut r).unwrap();
    assert_eq!(
        events(&mut rd),
        vec![Event::DefaultRouterLost { router: ROUTER }]
    );
    assert!(rd.default_router().is_none());
}

/// The Router Solicitations we send, as tshark (an independent dissector) reads them. The
/// capture also lands in `target/tmp/emitted/`, which the test command checks with tshark.
#[test]
fn solicitations_dissected_by_tshark() {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::{DataLink, Endianness, TsResolution};

    let mut rd = host(AddressMode::Stable);
    rd.link_up(Instant::ZERO, &mut rng(17));
    let mut packets = vec![];
    while let Some(t) = rd.poll_timeout() {
        let mut buf = [0u8; 64];
        if let Some(len) = rd.poll_transmit(t, &mut buf) {
            packets.push((t, buf[..len].to_vec()));
        }
    }
    let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/emitted");
    std::fs::create_dir_all(dir).unwrap();
    let path = format!("{dir}/rd.pcap");
    let header = PcapHeader {
        datalink: DataLink::RAW,
        endianness: Endianness::Little,
        ts_resolution: TsResolution::MicroSecond,
        ..Default::default()
    };
    let mut writer =
        PcapWriter::with_header(std::fs::File::create(&path).unwrap(), header).unwrap();
    for (t, p) in &packets {
        let ts = std::time::Duration::from_micros(t.total_micros() as u64);
        writer
            .write_packet(&PcapPacket::new(ts, p.len() as u32, p))
            .unwrap();
    }
    drop(writer);
    let Ok(out) = std::process::Command::new("tshark")
        .args(["-r", &path, "-T", "fields", "-E", "separator=,"])
        .args(["-e", "ipv6.hlim", "-e", "ipv6.dst", "-e", "icmpv6.type"])
        .args([
            "-e",
            "icmpv6.checksum.status",
            "-e",
            "icmpv6.opt.type",
            "-e",
            "_ws.malformed",
        ])
        .output()
    else {
        eprintln!("tshark is not installed (apt-get install tshark): skipping its check");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        // Hop limit 255, to all-routers, type 133, checksum good (1), no option, not malformed.
        assert_eq!(line, "255,ff02::2,133,1,,", "{text}");
    }
}
