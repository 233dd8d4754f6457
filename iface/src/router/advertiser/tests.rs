//! Unit tests of the advertiser's configuration and helpers; behaviour over time is tested in
//! `iface/tests/advertiser.rs`.

use super::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

const LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const P: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);

fn at(secs: i64) -> Instant {
    Instant::from_secs(secs)
}

#[test]
fn defaults_follow_rfc4861_and_validate() {
    let c = AdvertiserConfig::new(LL);
    assert_eq!(c.max_interval, Duration::from_secs(600));
    assert_eq!(c.min_interval, Duration::from_secs(198));
    assert_eq!(c.router_lifetime, 1800);
    assert_eq!(c.cur_hop_limit, 64);
    assert_eq!(c.validate(), Ok(()));
    // Short intervals: 0.75 x Max below 9 s, never under 3 s above it.
    let c = AdvertiserConfig::new(LL).with_max_interval(Duration::from_secs(4));
    assert_eq!(c.min_interval, Duration::from_secs(3));
    assert_eq!(c.router_lifetime, 12);
    assert_eq!(c.validate(), Ok(()));
    let c = AdvertiserConfig::new(LL).with_max_interval(Duration::from_secs(9));
    assert_eq!(c.min_interval, Duration::from_secs(3));
    assert_eq!(c.validate(), Ok(()));
    let c = AdvertiserConfig::new(LL).with_max_interval(Duration::from_secs(65_535));
    assert_eq!(c.router_lifetime, 65_535);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn validation_refuses_what_rfc4861_forbids() {
    let ok = AdvertiserConfig::new(LL);
    let cases = [
        (AdvertiserConfig { source: P, ..ok }, ConfigError::Source),
        (
            ok.with_max_interval(Duration::from_secs(3)),
            ConfigError::MaxInterval,
        ),
        (
            ok.with_max_interval(Duration::from_secs(65_536)),
            ConfigError::MaxInterval,
        ),
        (
            AdvertiserConfig {
                min_interval: Duration::from_millis(2_999),
                ..ok
            },
            ConfigError::MinInterval,
        ),
        (
            AdvertiserConfig {
                min_interval: Duration::from_millis(450_001),
                ..ok
            },
            ConfigError::MinInterval,
        ),
        (
            AdvertiserConfig {
                router_lifetime: 599,
                ..ok
            },
            ConfigError::RouterLifetime,
        ),
        (
            AdvertiserConfig {
                reachable_time: 3_600_001,
                ..ok
            },
            ConfigError::ReachableTime,
        ),
        (
            AdvertiserConfig {
                link_mtu: Some(1279),
                ..ok
            },
            ConfigError::Mtu,
        ),
    ];
    for (config, error) in cases {
        assert_eq!(config.validate(), Err(error), "{config:?}");
        assert_eq!(
            RouterAdvertiser::new(config, at(0)).err(),
            Some(error),
            "{config:?}"
        );
    }
    let not_default = AdvertiserConfig {
        router_lifetime: 0,
        min_interval: Duration::from_secs(450),
        ..ok
    };
    assert_eq!(not_default.validate(), Ok(()));
}

#[test]
fn prefix_validation() {
    let mut ra = RouterAdvertiser::new(AdvertiserConfig::new(LL), at(0)).unwrap();
    let bad = [
        (
            PrefixConfig::new(Ipv6Cidr::new(LL, 64)),
            ConfigError::PrefixScope,
        ),
        (
            PrefixConfig::new(Ipv6Cidr::new(P, 48)),
            ConfigError::PrefixLength,
        ),
        (
            PrefixConfig {
                preferred_lifetime: 10,
                valid_lifetime: 9,
                ..PrefixConfig::new(Ipv6Cidr::new(P, 64))
            },
            ConfigError::PrefixLifetimes,
        ),
        (
            PrefixConfig::delegated(Ipv6Cidr::new(P, 64), at(5), at(10)),
            ConfigError::Expired,
        ),
    ];
    for (p, e) in bad {
        assert_eq!(ra.add_prefix(at(10), p), Err(e), "{p:?}");
    }
    // An on-link-only prefix of another length is fine; host bits are cleared.
    let on_link = PrefixConfig {
        autonomous: false,
        ..PrefixConfig::new(Ipv6Cidr::new(
            Ipv6Address::new(0x2001, 0xdb8, 2, 3, 0, 0, 0, 9),
            48,
        ))
    };
    assert_eq!(ra.add_prefix(at(10), on_link), Ok(()));
    let pio: Vec<_> = ra.advertised_prefixes(at(10)).collect();
    assert_eq!(
        pio[0].prefix,
        Ipv6Address::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0)
    );
    for i in 1..MAX_PREFIXES as u16 {
        let p = Ipv6Address::new(0x2001, 0xdb8, 0x10 + i, 0, 0, 0, 0, 0);
        ra.add_prefix(at(10), PrefixConfig::new(Ipv6Cidr::new(p, 64)))
            .unwrap();
    }
    assert_eq!(
        ra.add_prefix(at(10), PrefixConfig::new(Ipv6Cidr::new(P, 64))),
        Err(ConfigError::TableFull)
    );
}

#[test]
fn lifetimes_count_down_to_a_delegations_end() {
    let p = PrefixConfig {
        valid_lifetime: 1000,
        preferred_lifetime: INFINITE,
        ..PrefixConfig::delegated(Ipv6Cidr::new(P, 64), at(3600), at(7200))
    };
    assert_eq!(p.lifetimes(at(0)), (1000, 1000));
    assert_eq!(p.lifetimes(at(6500)), (700, 0));
    assert_eq!(
        p.lifetimes(Instant::from_millis(6_999_500)),
        (200, 0),
        "rounded down"
    );
    assert_eq!(p.lifetimes(at(7200)), (0, 0));
    let forever = PrefixConfig {
        valid_lifetime: INFINITE,
        preferred_lifetime: INFINITE,
        ..PrefixConfig::new(Ipv6Cidr::new(P, 64))
    };
    assert_eq!(forever.lifetimes(at(1)), (INFINITE, INFINITE));
}

#[test]
fn random_between_stays_in_bounds() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..1000 {
        let d = random_between(&mut rng, Duration::from_secs(3), Duration::from_secs(4));
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_secs(4));
    }
    assert_eq!(
        random_between(&mut rng, Duration::from_secs(3), Duration::from_secs(3)),
        Duration::from_secs(3)
    );
}

#[test]
fn network_clears_host_bits() {
    let a = Ipv6Address::new(0x2001, 0xdb8, 0xffff, 0xffff, 1, 2, 3, 4);
    assert_eq!(
        network(Ipv6Cidr::new(a, 40)).address(),
        Ipv6Address::new(0x2001, 0xdb8, 0xff00, 0, 0, 0, 0, 0)
    );
    assert_eq!(
        network(Ipv6Cidr::new(a, 0)).address(),
        Ipv6Address::UNSPECIFIED
    );
    assert_eq!(network(Ipv6Cidr::new(a, 128)).address(), a);
}

#[test]
fn a_full_advertisement_fits_max_ra_len() {
    let config = AdvertiserConfig {
        link_mtu: Some(1500),
        ..AdvertiserConfig::new(LL)
    };
    let mut ra = RouterAdvertiser::new(config, at(0)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let addr = |a: u16, b: u16| Ipv6Address::new(0x2001, 0xdb8, a, b, 0, 0, 0, 0);
    // Fill every slot: advertised entries, then withdraw them and add as many again.
    for round in 0..2u16 {
        for i in 0..MAX_PREFIXES as u16 {
            let c = Ipv6Cidr::new(addr(round, i), 64);
            ra.add_prefix(at(0), PrefixConfig::new(c)).unwrap();
            ra.add_route(
                at(0),
                RouteConfig::new(Ipv6Cidr::new(addr(0x100 + round, i), 128), 60),
            )
            .unwrap();
        }
        let dns: Vec<_> = (0..MAX_DNS_SERVERS as u16)
            .map(|i| addr(0x200 + round, i))
            .collect();
        ra.set_dns_servers(at(0), &dns, 1800).unwrap();
        if round == 0 {
            for i in 0..MAX_PREFIXES as u16 {
                assert!(ra.remove_prefix(at(0), Ipv6Cidr::new(addr(0, i), 64)));
                assert!(ra.remove_route(at(0), Ipv6Cidr::new(addr(0x100, i), 128)));
            }
        }
    }
    ra.handle_timeout(at(0), &mut rng);
    let mut buf = [0u8; MAX_RA_LEN];
    let len = ra.poll_transmit(at(0), &mut buf).unwrap();
    assert_eq!(len, MAX_RA_LEN);
    const { assert!(MAX_RA_LEN <= 1280) };
    assert!(ndp::parse_ipv6(&buf[..len]).is_ok());
    assert_eq!(ra.counters().withdrawals_evicted, 0);
}

#[test]
fn small_buffer_is_counted_and_retried() {
    let mut ra = RouterAdvertiser::new(AdvertiserConfig::new(LL), at(0)).unwrap();
    ra.handle_timeout(at(0), &mut ChaCha8Rng::seed_from_u64(3));
    let mut small = [0u8; 40];
    assert_eq!(ra.poll_transmit(at(0), &mut small), None);
    assert_eq!(ra.counters().transmit_buffer_too_small, 1);
    let mut buf = [0u8; MAX_RA_LEN];
    assert_eq!(ra.poll_transmit(at(0), &mut buf), Some(56));
    assert_eq!(ra.counters().unsolicited_sent, 1);
}
