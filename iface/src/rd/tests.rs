//! Unit tests of the parts integration tests cannot reach: the two-hour rule, the backoff
//! jitter, temporary addresses whose preferred lifetime the prefix limits, and a full event
//! queue.

use bridgeless_wire::ndp::{
    self, NdpOptionRepr, NdpRepr, Preference, PrefixInformation, RouteInformation,
    RouterAdvertisementRepr,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::process::two_hour_rule;
use super::*;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PREFIX: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0);

fn s(secs: u64) -> Instant {
    Instant::from_secs(secs as i64)
}

fn host(mode: AddressMode) -> RouterDiscovery {
    let mut config = Config::new(StableIid::new([3; 32], b"ppp0").unwrap(), 1500);
    config.address_mode = mode;
    RouterDiscovery::new(config, Instant::ZERO)
}

fn ra(router_lifetime: u16, options: &[NdpOptionRepr<'_>]) -> Vec<u8> {
    let repr = RouterAdvertisementRepr {
        cur_hop_limit: 0,
        managed: false,
        other: false,
        preference: Preference::Medium,
        router_lifetime,
        reachable_time: 0,
        retrans_timer: 0,
        options,
    };
    let mut buf = vec![0u8; 1500];
    let repr = NdpRepr::RouterAdvertisement(repr);
    let len = ndp::emit_ipv6(&ROUTER, &ndp::ALL_NODES, &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn pio(valid: u32, preferred: u32) -> NdpOptionRepr<'static> {
    NdpOptionRepr::PrefixInformation(PrefixInformation {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: valid,
        preferred_lifetime: preferred,
        prefix: PREFIX,
    })
}

#[test]
fn two_hour_rule_cases() {
    let now = s(1_000);
    let two_hours = Some(s(1_000 + 7_200));
    // (current end, advertised seconds) -> (new end, overruled)
    let cases = [
        (None, u32::MAX, None, false),
        (None, 60, two_hours, true),
        (None, 7_201, Some(s(1_000 + 7_201)), false),
        (Some(s(1_000 + 3_600)), 60, Some(s(1_000 + 3_600)), true),
        (Some(s(1_000 + 3_600)), 3_601, Some(s(1_000 + 3_601)), false),
        (Some(s(1_000 + 3_600)), 3_600, Some(s(1_000 + 3_600)), false),
        (Some(s(1_000 + 86_400)), 0, two_hours, true),
        (Some(s(1_000 + 86_400)), 7_200, two_hours, false),
        (Some(s(1_000 + 86_400)), u32::MAX, None, false),
        // Already expired (a late call): anything advertised is longer.
        (Some(s(500)), 10, Some(s(1_010)), false),
    ];
    for (current, secs, end, overruled) in cases {
        assert_eq!(
            two_hour_rule(now, current, secs),
            (end, overruled),
            "{current:?} {secs}"
        );
    }
}

#[test]
fn backoff_interval_is_doubled_with_ten_percent_of_the_previous() {
    let mut rd = host(AddressMode::Stable);
    for seed in 0..200 {
        rd.jitter_seed = seed;
        let next = rd.backoff_interval(Duration::from_secs(100), 3);
        assert!(next >= Duration::from_secs(190) && next <= Duration::from_secs(210));
        let capped = rd.backoff_interval(Duration::from_secs(3_000), 3);
        assert!(capped >= Duration::from_secs(3_240) && capped <= Duration::from_secs(3_960));
    }
}

#[test]
fn temporary_address_limited_by_the_prefix_follows_its_renewals() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut rd = host(AddressMode::Temporary);
    rd.handle_ra(s(0), &ra(0, &[pio(7_200, 3_600)]), &mut rng)
        .unwrap();
    let temps = |rd: &RouterDiscovery| {
        rd.addresses()
            .filter(|a| a.kind == AddressKind::Temporary)
            .copied()
            .collect::<Vec<_>>()
    };
    let first = temps(&rd)[0];
    assert_eq!(first.preferred_until, Some(s(3_600)));
    // Renewed before the successor was due: the address is simply preferred for longer.
    rd.handle_ra(s(3_000), &ra(0, &[pio(7_200, 3_600)]), &mut rng)
        .unwrap();
    assert_eq!(temps(&rd)[0].preferred_until, Some(s(6_600)));
    // The successor is due 2 s before, when the prefix itself has only 2 s left: none is made.
    rd.handle_timeout(s(6_598), &mut rng);
    assert_eq!(rd.counters().temporary_too_short, 1);
    assert_eq!(temps(&rd).len(), 1);
    // Renewed again: the address stays, preferred, and a successor is due again later.
    rd.handle_ra(s(6_599), &ra(0, &[pio(7_200, 3_600)]), &mut rng)
        .unwrap();
    let now = temps(&rd);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].cidr, first.cidr);
    assert!(!now[0].deprecated);
    assert_eq!(rd.poll_timeout(), Some(s(6_599 + 3_600 - 2)));
    // The prefix is withdrawn: deprecated now, and no successor can be preferred.
    rd.handle_ra(s(7_000), &ra(0, &[pio(0, 0)]), &mut rng)
        .unwrap();
    assert!(temps(&rd).iter().all(|a| a.deprecated));
    assert_eq!(temps(&rd).len(), 1);
}

#[test]
fn full_event_queue_drops_and_counts_but_state_stays_right() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut rd = host(AddressMode::Stable);
    let route = |i: u16, lifetime: u32| {
        NdpOptionRepr::RouteInformation(RouteInformation {
            prefix_len: 48,
            preference: Preference::Medium,
            lifetime,
            prefix: Ipv6Address::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0),
        })
    };
    for round in 0..12u32 {
        let lifetime = if round % 2 == 0 { 600 } else { 0 };
        let options: Vec<_> = (0..8).map(|i| route(i, lifetime)).collect();
        rd.handle_ra(s(u64::from(round)), &ra(0, &options), &mut rng)
            .unwrap();
    }
    assert_eq!(rd.events.len(), MAX_EVENTS);
    assert_eq!(rd.counters().events_dropped, 1 + 12 * 8 - MAX_EVENTS as u64);
    assert_eq!(
        rd.routes().count(),
        0,
        "the last round withdrew every route"
    );
}
