//! The router's Router Advertisements on a host link ([`RouterAdvertiser`]), against our own
//! host side in memory:
//!
//! - a host ([`RouterDiscovery`], and [`Host`] over a [`MemoryLink`]) configures an address
//!   from our prefix, a default route via our link-local address, the MTU, DNS server and
//!   route from our advertisements, its solicitation answered to its address within
//!   `MAX_RA_DELAY_TIME`;
//! - initial advertisements at most 16 s apart, then uniformly in [Min, Max]; multicast
//!   advertisements never closer than 3 s; solicited delays; rate limiting;
//! - renumbering deprecates the old prefix and counts its lifetime down; delegated lifetimes
//!   decrement; shutdown sends three final advertisements with router lifetime 0;
//! - invalid solicitations are counted by reason and answered by nothing;
//! - (proptest) any sequence of solicitations, time steps and changes keeps the rate limits,
//!   answers every solicitation within 3.5 s, and emits only valid advertisements;
//! - every packet emitted is written to `target/tmp/emitted/advertiser.pcap` for tshark,
//!   and one capture is dissected by tshark here.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, AddressKind, Event, RouterDiscovery, StableIid};
use bridgeless_iface::router::advertiser::{
    AdvertiserConfig, Dropped, MAX_RA_DELAY_TIME, MAX_RA_LEN, MIN_DELAY_BETWEEN_RAS, PrefixConfig,
    RouteConfig, RouterAdvertiser, SolicitedReply, State,
};
use bridgeless_wire::ndp::{
    self, NdpMessage, NdpRepr, RouterAdvertisementRepr, RouterSolicitationRepr, ValidationError,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr, Ipv6Address, Ipv6Cidr};

#[path = "../../wire/tests/support/mod.rs"]
mod support;
use support::{Tshark, record_emitted};

const ROUTER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const HOST_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const PREFIX_A: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0);
const PREFIX_B: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 0);
const DNS: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);
const ROUTE: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0);
const MTU: u32 = 1400;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn at(secs: f64) -> Instant {
    Instant::from_micros((secs * 1e6) as i64)
}

fn a64(prefix: Ipv6Address) -> Ipv6Cidr {
    Ipv6Cidr::new(prefix, 64)
}

fn config() -> AdvertiserConfig {
    AdvertiserConfig {
        link_mtu: Some(MTU),
        ..AdvertiserConfig::new(ROUTER_LL)
    }
}

/// An advertiser of PREFIX_A, with MTU, DNS server and a route, starting at `now`.
fn router(config: AdvertiserConfig, now: Instant) -> RouterAdvertiser {
    let mut ra = RouterAdvertiser::new(config, now).unwrap();
    ra.add_prefix(now, PrefixConfig::new(a64(PREFIX_A)))
        .unwrap();
    ra.set_dns_servers(now, &[DNS], 1800).unwrap();
    ra.add_route(now, RouteConfig::new(Ipv6Cidr::new(ROUTE, 48), 1800))
        .unwrap();
    ra
}

/// An advertisement we sent, read back.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    dst: Ipv6Address,
    bytes: Vec<u8>,
}

impl Sent {
    fn router_lifetime(&self) -> u16 {
        self.with_repr(|r| r.router_lifetime)
    }

    /// (prefix, valid, preferred) of each Prefix Information option.
    fn prefixes(&self) -> Vec<(Ipv6Address, u32, u32)> {
        self.with_repr(|r| {
            r.options
                .iter()
                .filter_map(|o| match o {
                    ndp::NdpOptionRepr::PrefixInformation(p) => {
                        Some((p.prefix, p.valid_lifetime, p.preferred_lifetime))
                    }
                    _ => None,
                })
                .collect()
        })
    }

    fn with_repr<T>(&self, f: impl FnOnce(&RouterAdvertisementRepr<'_>) -> T) -> T {
        let rx = ndp::parse_ipv6(&self.bytes).expect("we emit valid advertisements");
        let NdpMessage::RouterAdvertisement(view) = rx.message else {
            panic!("not an advertisement");
        };
        let mut options = [ndp::NdpOptionRepr::Mtu(0); 32];
        let mut addresses = [Ipv6Address::UNSPECIFIED; 16];
        let repr = RouterAdvertisementRepr::parse(&view, &mut options, &mut addresses).unwrap();
        f(&repr)
    }
}

/// Runs `ra` alone until `until`, the way a caller does, and returns what it sent.
fn drive(ra: &mut RouterAdvertiser, until: Instant, rng: &mut ChaCha8Rng) -> Vec<Sent> {
    let mut sent = vec![];
    while let Some(t) = ra.poll_timeout().filter(|&t| t <= until) {
        ra.handle_timeout(t, rng);
        sent.extend(transmit(ra, t));
    }
    sent
}

fn transmit(ra: &mut RouterAdvertiser, now: Instant) -> Vec<Sent> {
    let mut sent = vec![];
    let mut buf = [0u8; MAX_RA_LEN];
    while let Some(len) = ra.poll_transmit(now, &mut buf) {
        let bytes = buf[..len].to_vec();
        record_emitted(&bytes);
        let rx = ndp::parse_ipv6(&bytes).expect("valid advertisement");
        assert_eq!(rx.src_addr, ROUTER_LL);
        assert_eq!(bytes[7], 255, "hop limit");
        sent.push(Sent {
            at: now,
            dst: rx.dst_addr,
            bytes,
        });
    }
    sent
}

fn multicast(sent: &[Sent]) -> Vec<&Sent> {
    sent.iter().filter(|s| s.dst == ndp::ALL_NODES).collect()
}

/// A Router Solicitation from `src`, as a host sends it.
fn solicitation(src: Ipv6Address) -> Vec<u8> {
    let mut buf = vec![0u8; 64];
    let repr = NdpRepr::RouterSolicitation(RouterSolicitationRepr);
    let len = ndp::emit_ipv6(&src, &ndp::ALL_ROUTERS, &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// Router discovery host and advertiser on one lossless link without delay; the host is
/// plugged in (link up) at `plug_in`, or is up already if `None`. Returns what the
/// advertiser sent.
fn run_pair(
    ra: &mut RouterAdvertiser,
    host: &mut RouterDiscovery,
    plug_in: Option<Instant>,
    until: Instant,
    r: &mut ChaCha8Rng,
) -> Vec<Sent> {
    let mut sent = vec![];
    let mut host_up = plug_in.is_none();
    let plug_in = plug_in.unwrap_or(Instant::ZERO);
    loop {
        let next = [
            ra.poll_timeout(),
            host.poll_timeout(),
            (!host_up).then_some(plug_in),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(now) = next.filter(|&t| t <= until) else {
            return sent;
        };
        if !host_up && now >= plug_in {
            host.link_up(now, r);
            host_up = true;
        }
        ra.handle_timeout(now, r);
        for s in transmit(ra, now) {
            if host_up {
                let _ = host.handle_ra(now, &s.bytes, r);
            }
            sent.push(s);
        }
        host.handle_timeout(now, r);
        let mut buf = [0u8; 128];
        while let Some(len) = host.poll_transmit(now, &mut buf) {
            ra.handle_packet(now, &buf[..len], r).unwrap();
        }
    }
}

fn rd_host() -> RouterDiscovery {
    let iid = StableIid::new([0x42; 32], b"ptp0").unwrap();
    let mut c = rd::Config::new(iid, 1500);
    c.link_local_iid = Some(2);
    RouterDiscovery::new(c, Instant::ZERO)
}

fn global_address(host: &RouterDiscovery, prefix: Ipv6Address) -> Option<&rd::Address> {
    host.addresses()
        .find(|a| a.kind == AddressKind::Stable && a64(prefix).contains_addr(&a.cidr.address()))
}

#[test]
fn host_configures_itself_from_our_advertisements() {
    for seed in 0..8 {
        let mut r = rng(seed);
        let mut ra = router(config(), Instant::ZERO);
        let mut host = rd_host();
        assert_eq!(host.link_local(), HOST_LL);
        // The host comes up after our first advertisement: it solicits, and is answered.
        let plug_in = at(5.0);
        let sent = run_pair(&mut ra, &mut host, Some(plug_in), at(60.0), &mut r);

        let address = global_address(&host, PREFIX_A).expect("an address from our prefix");
        assert!(!address.deprecated);
        assert_eq!(host.default_router().unwrap().addr, ROUTER_LL);
        assert_eq!(host.mtu(), MTU);
        assert_eq!(host.hop_limit(), Some(64));
        assert_eq!(
            host.dns_servers().map(|d| d.addr).collect::<Vec<_>>(),
            [DNS]
        );
        let routes: Vec<_> = host.routes().map(|r| (r.cidr, r.router)).collect();
        assert_eq!(routes, [(Ipv6Cidr::new(ROUTE, 48), ROUTER_LL)]);

        // The solicitation (sent within 1 s of link-up) was answered to the host's address
        // within MAX_RA_DELAY_TIME, not held back by the multicast rate limit.
        assert_eq!(
            ra.counters().solicitations,
            1,
            "the host stops after an answer"
        );
        let answer = sent
            .iter()
            .find(|s| s.dst == HOST_LL)
            .expect("unicast answer");
        assert!(answer.at >= plug_in && answer.at <= at(6.0) + MAX_RA_DELAY_TIME);
        assert_eq!(ra.counters().solicited_unicast_sent, 1);
    }
}

#[test]
fn host_over_a_memory_link_gets_address_route_and_mtu() {
    type Link = MemoryLink<ChaCha8Rng, 16, 1500>;
    let mut r = rng(7);
    let mut link = Link::new(MemoryLinkConfig::default(), rng(8));
    let iid = StableIid::new([9; 32], b"ptp0").unwrap();
    let config = HostConfig::new(rd::Config::new(iid, 1500), 99);
    let mut host = Host::new(config, &mut link.end(Side::A), Instant::ZERO);
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    // The router's first advertisement is due at 3 s: the host's solicitation (within 1 s
    // of its link-up) comes first and is answered.
    let mut ra = router(config_with_short_intervals(), at(3.0));
    host.link_up(Instant::ZERO, &mut r);

    let mut now = Instant::ZERO;
    while now < at(30.0) {
        host.poll(now, &mut link.end(Side::A), &mut sockets, &mut r);
        // The router's end: every frame to the advertiser, every advertisement onto the link.
        let mut b = link.end(Side::B);
        while let Some((rx, _)) = b.receive(now) {
            rx.consume(|frame| {
                let _ = ra.handle_packet(now, frame, &mut r);
            });
        }
        ra.handle_timeout(now, &mut r);
        for s in transmit(&mut ra, now) {
            let tx = b.transmit(now).unwrap();
            tx.consume(s.bytes.len(), |buf| buf.copy_from_slice(&s.bytes));
        }
        now += Duration::from_millis(50);
    }

    let iface = host.interface();
    let global = iface
        .ip_addrs()
        .iter()
        .find_map(|c| match c {
            IpCidr::Ipv6(c) if a64(PREFIX_A).contains_addr(&c.address()) => Some(*c),
            _ => None,
        })
        .expect("smoltcp has an address from our prefix");
    assert_eq!(global.prefix_len(), 64);
    let default = iface
        .routes()
        .get_default_ipv6_route()
        .expect("default route");
    assert_eq!(default.via_router, IpAddress::Ipv6(ROUTER_LL));
    assert_eq!(host.router_discovery().mtu(), MTU);
    assert!(ra.counters().solicitations >= 1);
    let filter = host.filter_counters();
    assert_eq!(filter.dropped_total(), 0, "{filter:?}");
    assert!(filter.router_advertisements >= 3);
}

fn config_with_short_intervals() -> AdvertiserConfig {
    config().with_max_interval(Duration::from_secs(30))
}

#[test]
fn initial_advertisements_then_uniform_in_min_max() {
    let mut later_gaps = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let c = config_with_short_intervals();
        let (min, max) = (c.min_interval, c.max_interval);
        assert_eq!(min, Duration::from_millis(9_900));
        let mut ra = router(c, at(10.0));
        let sent = drive(&mut ra, at(3600.0), &mut rng(seed));
        assert!(sent.iter().all(|s| s.dst == ndp::ALL_NODES));
        assert_eq!(sent[0].at, at(10.0), "the first at once");
        let gaps: Vec<Duration> = sent.windows(2).map(|w| w[1].at - w[0].at).collect();
        // RFC 4861 §6.2.4: the first MAX_INITIAL_RTR_ADVERTISEMENTS at most 16 s apart.
        for g in &gaps[..2] {
            assert!(*g >= min && *g <= Duration::from_secs(16), "{g}");
        }
        for g in &gaps[2..] {
            assert!(*g >= min && *g <= max, "{g}");
            later_gaps.insert(g.total_millis());
        }
        assert_eq!(ra.counters().unsolicited_sent, sent.len() as u64);
    }
    assert!(later_gaps.len() > 100, "intervals are random");
}

#[test]
fn solicitations_answered_after_a_random_delay_and_rate_limited() {
    let mut delays = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let mut r = rng(seed);
        let mut ra = router(config(), Instant::ZERO);
        drive(&mut ra, at(100.0), &mut r);
        // One solicitation: answered to the solicitor within [0, 500 ms].
        ra.handle_packet(at(100.0), &solicitation(HOST_LL), &mut r)
            .unwrap();
        // More while the answer is pending are answered by it.
        ra.handle_packet(at(100.1), &solicitation(HOST_LL), &mut r)
            .unwrap();
        let sent = drive(&mut ra, at(101.0), &mut r);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].dst, HOST_LL);
        let delay = sent[0].at - at(100.0);
        assert!(delay <= MAX_RA_DELAY_TIME);
        delays.insert(delay.total_micros());
        assert_eq!(ra.counters().solicitations_merged, 1);
        // Another within 3 s of that answer waits for MIN_DELAY_BETWEEN_RAS.
        ra.handle_packet(at(101.0), &solicitation(HOST_LL), &mut r)
            .unwrap();
        let again = drive(&mut ra, at(110.0), &mut r);
        assert_eq!(again.len(), 1);
        let gap = again[0].at - sent[0].at;
        assert!(gap >= MIN_DELAY_BETWEEN_RAS && gap <= MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME);
        assert_eq!(ra.counters().rate_limited, 1);
        // From `::` the answer must go to all-nodes (RFC 4861 §6.2.6).
        ra.handle_packet(at(200.0), &solicitation(Ipv6Address::UNSPECIFIED), &mut r)
            .unwrap();
        let mc = drive(&mut ra, at(201.0), &mut r);
        assert_eq!(mc.len(), 1);
        assert_eq!(mc[0].dst, ndp::ALL_NODES);
        assert!(mc[0].at - at(200.0) <= MAX_RA_DELAY_TIME);
        assert_eq!(ra.counters().solicited_multicast_sent, 1);
        assert_eq!(ra.counters().solicited_unicast_sent, 2);
    }
    assert!(delays.len() > 25, "delays are random: {delays:?}");
}

#[test]
fn multicast_answers_never_closer_than_three_seconds() {
    let mut r = rng(3);
    let c = AdvertiserConfig {
        solicited_reply: SolicitedReply::Multicast,
        ..config_with_short_intervals()
    };
    let mut ra = router(c, Instant::ZERO);
    let mut sent = vec![];
    // A solicitation every 100 ms for two minutes.
    for step in 0..1200 {
        let now = at(step as f64 * 0.1);
        sent.extend(drive(&mut ra, now, &mut r));
        ra.handle_packet(now, &solicitation(HOST_LL), &mut r)
            .unwrap();
    }
    assert!(sent.iter().all(|s| s.dst == ndp::ALL_NODES));
    for w in sent.windows(2) {
        assert!(
            w[1].at - w[0].at >= MIN_DELAY_BETWEEN_RAS,
            "{:?}",
            (w[0].at, w[1].at)
        );
    }
    let c = ra.counters();
    assert!(
        sent.len() >= 35 && sent.len() <= 41,
        "about one per 3 s: {}",
        sent.len()
    );
    assert!(c.solicited_multicast_sent > 30);
    assert!(c.rate_limited > 0 && c.solicitations_merged > 1000);
}

#[test]
fn renumbering_deprecates_the_old_prefix_then_withdraws_it() {
    let mut r = rng(4);
    let mut ra = router(config(), Instant::ZERO);
    let mut host = rd_host();
    run_pair(&mut ra, &mut host, Some(Instant::ZERO), at(1000.0), &mut r);
    let old = global_address(&host, PREFIX_A).unwrap().cidr;
    while host.poll_event().is_some() {}

    // Renumber: B in, A out.
    let t = at(1000.0);
    ra.add_prefix(t, PrefixConfig::new(a64(PREFIX_B))).unwrap();
    assert!(ra.remove_prefix(t, a64(PREFIX_A)));
    assert!(
        !ra.remove_prefix(t, a64(PREFIX_A)),
        "already being withdrawn"
    );
    let sent = run_pair(&mut ra, &mut host, None, at(1040.0), &mut r);
    // A fresh advertisement at once, and the initial schedule again: three within 32 s.
    assert_eq!(sent[0].at, t);
    assert!(sent.len() >= 3 && sent[2].at - t <= Duration::from_secs(32));
    let prefixes = sent[0].prefixes();
    assert!(prefixes.contains(&(PREFIX_A, 7200, 0)), "{prefixes:?}");
    assert!(prefixes.contains(&(PREFIX_B, 2_592_000, 604_800)));
    // The valid lifetime counts down from one advertisement to the next.
    let a_valid: Vec<u32> = sent.iter().map(|s| s.prefixes()[0].1).collect();
    assert!(a_valid.windows(2).all(|w| w[1] < w[0]), "{a_valid:?}");

    let events: Vec<Event> = std::iter::from_fn(|| host.poll_event()).collect();
    assert!(
        events.contains(&Event::AddressDeprecated { addr: old }),
        "{events:?}"
    );
    let new = global_address(&host, PREFIX_B).unwrap();
    assert!(!new.deprecated);
    assert!(global_address(&host, PREFIX_A).unwrap().deprecated);

    // Two hours on, A is no longer advertised, and the host has dropped its address. (The
    // run goes on for one MaxRtrAdvInterval after the withdrawal to see an advertisement.)
    let end = t + Duration::from_secs(7200 + 600);
    let sent = run_pair(&mut ra, &mut host, None, end, &mut r);
    let last = sent.last().unwrap().prefixes();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].0, PREFIX_B);
    assert!(global_address(&host, PREFIX_A).is_none());
    assert_eq!(ra.advertised_prefixes(end).count(), 1);
}

#[test]
fn delegated_prefix_lifetimes_decrement_to_its_end() {
    let mut r = rng(5);
    let start = at(100.0);
    let mut ra = RouterAdvertiser::new(config_with_short_intervals(), start).unwrap();
    let delegated = PrefixConfig::delegated(a64(PREFIX_A), at(700.0), at(1300.0));
    ra.add_prefix(start, delegated).unwrap();
    let sent = drive(&mut ra, at(1400.0), &mut r);
    for s in &sent {
        let p = s.prefixes();
        if s.at >= at(1300.0) {
            assert!(p.is_empty(), "expired prefixes are not advertised");
            continue;
        }
        let (_, valid, preferred) = p[0];
        let left = |end: f64| ((end * 1e6 - s.at.total_micros() as f64) / 1e6).floor() as u32;
        assert_eq!(valid, left(1300.0));
        assert_eq!(preferred, if s.at >= at(700.0) { 0 } else { left(700.0) });
    }
    assert!(sent.iter().any(|s| s.at > at(1300.0)));
    assert_eq!(ra.counters().prefixes_expired, 1);
}

#[test]
fn shutdown_sends_final_advertisements_with_router_lifetime_zero() {
    let mut r = rng(6);
    let mut ra = router(config(), Instant::ZERO);
    let mut host = rd_host();
    run_pair(&mut ra, &mut host, Some(Instant::ZERO), at(100.0), &mut r);
    assert!(host.default_router().is_some());
    while host.poll_event().is_some() {}

    ra.shutdown(at(100.0));
    assert_eq!(ra.state(), State::ShuttingDown);
    let sent = run_pair(&mut ra, &mut host, None, at(1000.0), &mut r);
    assert_eq!(sent.len(), 3, "MAX_FINAL_RTR_ADVERTISEMENTS");
    assert!(
        sent.iter()
            .all(|s| s.router_lifetime() == 0 && s.dst == ndp::ALL_NODES)
    );
    for w in sent.windows(2) {
        assert!(w[1].at - w[0].at >= MIN_DELAY_BETWEEN_RAS);
    }
    assert_eq!(ra.state(), State::Stopped);
    assert_eq!(ra.poll_timeout(), None);
    assert_eq!(ra.counters().final_sent, 3);
    let events: Vec<Event> = std::iter::from_fn(|| host.poll_event()).collect();
    assert!(events.contains(&Event::DefaultRouterLost { router: ROUTER_LL }));
    // Prefix and address stay: the link is still there, only the router is not.
    assert!(global_address(&host, PREFIX_A).is_some());

    assert_eq!(
        ra.handle_packet(at(1000.0), &solicitation(HOST_LL), &mut r),
        Err(Dropped::Stopped)
    );
    assert_eq!(ra.counters().solicitations_after_stop, 1);
    assert!(drive(&mut ra, at(2000.0), &mut r).is_empty());
}

/// Rewrites the IPv6 payload length and the ICMPv6 checksum of a hand-edited packet.
fn refresh(packet: &mut [u8]) {
    let payload = (packet.len() - 40) as u16;
    packet[4..6].copy_from_slice(&payload.to_be_bytes());
    let src = Ipv6Address::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let dst = Ipv6Address::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    ndp::emit_icmpv6_checksum(&src, &dst, &mut packet[40..]);
}

#[test]
fn invalid_solicitations_are_counted_by_reason_and_not_answered() {
    let mut r = rng(7);
    let mut ra = router(config(), Instant::ZERO);
    drive(&mut ra, at(100.0), &mut r);
    let good = solicitation(HOST_LL);
    let mut hop_limit = good.clone();
    hop_limit[7] = 64;
    let mut checksum = good.clone();
    checksum[43] ^= 1;
    let mut code = good.clone();
    code[41] = 1;
    refresh(&mut code);
    let mut zero_option = good.clone();
    zero_option.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    refresh(&mut zero_option);
    // RFC 4861 §6.1.1: from `::`, no source link-layer address option.
    let mut unspecified_with_slla = solicitation(Ipv6Address::UNSPECIFIED);
    unspecified_with_slla.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    refresh(&mut unspecified_with_slla);
    let truncated = good[..44].to_vec();
    let mut not_nd = good.clone();
    not_nd[40] = 128; // echo request
    refresh(&mut not_nd);
    let cases = [
        (hop_limit, ValidationError::HopLimit),
        (checksum, ValidationError::Checksum),
        (code, ValidationError::Code),
        (zero_option, ValidationError::OptionLength),
        (unspecified_with_slla, ValidationError::SourceAddress),
        (truncated, ValidationError::Truncated),
        (not_nd, ValidationError::NotNdp),
    ];
    for (packet, reason) in &cases {
        assert_eq!(
            ra.handle_packet(at(100.0), packet, &mut r),
            Err(Dropped::Invalid(*reason))
        );
    }
    let c = *ra.counters();
    assert_eq!(
        [
            c.invalid.hop_limit,
            c.invalid.checksum,
            c.invalid.code,
            c.invalid.option_length,
            c.invalid.source,
            c.invalid.truncated,
            c.invalid.not_nd
        ],
        [1; 7]
    );
    assert_eq!(c.solicitations, 0);
    assert!(
        ra.poll_timeout().unwrap() - at(100.0) > MAX_RA_DELAY_TIME,
        "no answer scheduled"
    );
    // A source link-layer address option from an address is allowed, counted and skipped.
    let mut with_slla = good.clone();
    with_slla.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    refresh(&mut with_slla);
    ra.handle_packet(at(100.0), &with_slla, &mut r).unwrap();
    assert_eq!(ra.counters().link_layer_options, 1);
    assert_eq!(ra.counters().solicitations, 1);
}

#[test]
fn advertisements_dissected_by_tshark() {
    let mut r = rng(8);
    let c = AdvertiserConfig {
        managed: true,
        other: true,
        reachable_time: 30_000,
        retrans_timer: 1_000,
        ..config()
    };
    let mut ra = router(c, Instant::ZERO);
    ra.add_prefix(
        Instant::ZERO,
        PrefixConfig::delegated(a64(PREFIX_B), at(50.0), at(100.0)),
    )
    .unwrap();
    let mut sent = drive(&mut ra, at(1.0), &mut r);
    ra.handle_packet(at(2.0), &solicitation(HOST_LL), &mut r)
        .unwrap();
    sent.extend(drive(&mut ra, at(3.0), &mut r));
    ra.shutdown(at(3.0));
    sent.extend(drive(&mut ra, at(100.0), &mut r));
    let packets: Vec<Vec<u8>> = sent.iter().map(|s| s.bytes.clone()).collect();
    let Some(tshark) = Tshark::new("advertiser", &packets) else {
        return;
    };
    assert_eq!(tshark.problems(), "");
    let fields = tshark.fields(&[
        "ipv6.hlim",
        "ipv6.dst",
        "icmpv6.type",
        "icmpv6.checksum.status",
        "icmpv6.nd.ra.router_lifetime",
        "icmpv6.opt.type",
        "icmpv6.opt.mtu",
        "icmpv6.opt.rdnss",
        "icmpv6.opt.prefix",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), 5, "{fields}");
    let first: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        first[..5],
        ["255", "ff02::1", "134", "1", "1800"],
        "{fields}"
    );
    assert_eq!(first[5], "3,3,5,24,25", "{fields}");
    assert_eq!(first[6], "1400");
    assert_eq!(first[7], "2001:db8::53");
    // Prefix Information, then Route Information.
    assert_eq!(first[8], "2001:db8:a::,2001:db8:b::,2001:db8:100::");
    assert!(
        lines[1].starts_with("255\tfe80::2\t134\t1\t1800"),
        "{fields}"
    );
    for final_ra in &lines[2..] {
        assert!(
            final_ra.starts_with("255\tff02::1\t134\t1\t0\t"),
            "{fields}"
        );
    }
}

/// What a proptest run does next.
#[derive(Debug, Clone)]
enum Action {
    /// Time passes (milliseconds).
    Advance(u32),
    /// A solicitation from the host, or from `::`.
    Solicit { unspecified: bool },
    /// A prefix is added (one of four) or removed.
    Prefix { which: u8, add: bool },
    /// The router shuts down.
    Shutdown,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u32..20_000).prop_map(Action::Advance),
        4 => any::<bool>().prop_map(|unspecified| Action::Solicit { unspecified }),
        2 => (0u8..4, any::<bool>()).prop_map(|(which, add)| Action::Prefix { which, add }),
        1 => Just(Action::Shutdown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever happens, multicast advertisements are at least 3 s apart, so are unicast
    /// ones, every solicitation is answered within 3.5 s unless the router stops, and
    /// everything emitted is a valid advertisement with preferred <= valid lifetime.
    #[test]
    fn rate_limits_and_answers_hold(
        seed in any::<u64>(),
        multicast_replies in any::<bool>(),
        actions in prop::collection::vec(action(), 1..80),
    ) {
        let mut r = rng(seed);
        let reply = if multicast_replies { SolicitedReply::Multicast } else { SolicitedReply::Unicast };
        let c = AdvertiserConfig { solicited_reply: reply, ..config_with_short_intervals() };
        let mut ra = router(c, Instant::ZERO);
        let mut now = Instant::ZERO;
        let mut sent: Vec<Sent> = vec![];
        let mut solicited: Vec<(Instant, Ipv6Address)> = vec![];
        for a in actions {
            match a {
                Action::Advance(ms) => {
                    let until = now + Duration::from_millis(ms.into());
                    sent.extend(drive(&mut ra, until, &mut r));
                    now = until;
                }
                Action::Solicit { unspecified } => {
                    let src = if unspecified { Ipv6Address::UNSPECIFIED } else { HOST_LL };
                    if ra.handle_packet(now, &solicitation(src), &mut r).is_ok()
                        && ra.state() == State::Advertising
                    {
                        solicited.push((now, src));
                    }
                }
                Action::Prefix { which, add } => {
                    let p = a64(Ipv6Address::new(0x2001, 0xdb8, 0x10 + u16::from(which), 0, 0, 0, 0, 0));
                    if add {
                        let _ = ra.add_prefix(now, PrefixConfig::new(p));
                    } else {
                        ra.remove_prefix(now, p);
                    }
                }
                Action::Shutdown => ra.shutdown(now),
            }
        }
        let end = now + Duration::from_secs(4);
        sent.extend(drive(&mut ra, end, &mut r));
        let mc = multicast(&sent);
        for w in mc.windows(2) {
            prop_assert!(w[1].at - w[0].at >= MIN_DELAY_BETWEEN_RAS);
        }
        let uc: Vec<&Sent> = sent.iter().filter(|s| s.dst == HOST_LL).collect();
        for w in uc.windows(2) {
            prop_assert!(w[1].at - w[0].at >= MIN_DELAY_BETWEEN_RAS);
        }
        for s in &sent {
            for (_, valid, preferred) in s.prefixes() {
                prop_assert!(preferred <= valid && valid > 0);
            }
        }
        let bound = MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME;
        for (t, src) in solicited {
            let answered = sent.iter().any(|s| {
                s.at >= t && s.at - t <= bound && (s.dst == ndp::ALL_NODES || s.dst == src)
            });
            prop_assert!(answered || ra.state() != State::Advertising, "solicitation at {} unanswered", t);
        }
    }
}
