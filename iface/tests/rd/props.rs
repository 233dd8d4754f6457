//! Property test: arbitrary advertisements, garbage, link flaps and time sequences never
//! panic, keep every table bounded, leave nothing due behind, and produce events that, applied
//! by a caller, give exactly the state the getters report.

use std::collections::BTreeSet;

use bridgeless_iface::rd::{AddressMode, Event, MAX_ADDRESSES, RouterDiscovery};
use bridgeless_wire::ndp::{NdpOptionRepr, Preference, PrefixInformation, RouteInformation};
use proptest::prelude::*;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::{ROUTER, emit_ra, host, rng};

#[derive(Debug, Clone)]
enum Action {
    Advertise {
        lifetime: u16,
        hop_limit: u8,
        options: Vec<Opt>,
    },
    Garbage(Vec<u8>),
    Advance(u32),
    LinkUp,
    LinkDown,
}

#[derive(Debug, Clone)]
enum Opt {
    Prefix {
        which: u8,
        len: u8,
        a: bool,
        valid: u32,
        preferred: u32,
    },
    Mtu(u32),
    Route {
        which: u8,
        len: u8,
        lifetime: u32,
    },
    Dns {
        which: u8,
        lifetime: u32,
    },
}

fn lifetime() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        Just(7200),
        Just(7201),
        1u32..20_000,
        any::<u32>(),
    ]
}

fn opt() -> impl Strategy<Value = Opt> {
    prop_oneof![
        (
            0u8..8,
            prop_oneof![Just(64u8), 0u8..=128],
            any::<bool>(),
            lifetime(),
            lifetime()
        )
            .prop_map(|(which, len, a, valid, preferred)| Opt::Prefix {
                which,
                len,
                a,
                valid,
                preferred
            }),
        prop_oneof![Just(1280u32), Just(1500), any::<u32>()].prop_map(Opt::Mtu),
        (0u8..16, 0u8..=128, lifetime()).prop_map(|(which, len, lifetime)| Opt::Route {
            which,
            len,
            lifetime
        }),
        (0u8..8, lifetime()).prop_map(|(which, lifetime)| Opt::Dns { which, lifetime }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (prop_oneof![Just(0u16), any::<u16>()], any::<u8>(), proptest::collection::vec(opt(), 0..12))
            .prop_map(|(lifetime, hop_limit, options)| Action::Advertise { lifetime, hop_limit, options }),
        1 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(Action::Garbage),
        4 => prop_oneof![0u32..10, 0u32..10_000, 0u32..400_000].prop_map(Action::Advance),
        1 => Just(Action::LinkUp),
        1 => Just(Action::LinkDown),
    ]
}

fn build(lifetime: u16, hop_limit: u8, options: &[Opt]) -> Vec<u8> {
    let dns: Vec<Ipv6Address> = (0..8u16)
        .map(|i| Ipv6Address::new(0x2001, 0xdb8, 0x53, 0, 0, 0, 0, i + 1))
        .collect();
    let reprs: Vec<NdpOptionRepr<'_>> = options
        .iter()
        .map(|o| match *o {
            Opt::Prefix {
                which,
                len,
                a,
                valid,
                preferred,
            } => NdpOptionRepr::PrefixInformation(PrefixInformation {
                prefix_len: len,
                on_link: true,
                autonomous: a,
                valid_lifetime: valid,
                preferred_lifetime: preferred,
                prefix: Ipv6Address::new(0x2001, 0xdb8, 0, u16::from(which), 0, 0, 0, 0),
            }),
            Opt::Mtu(m) => NdpOptionRepr::Mtu(m),
            Opt::Route {
                which,
                len,
                lifetime,
            } => NdpOptionRepr::RouteInformation(RouteInformation {
                prefix_len: len,
                preference: Preference::Medium,
                lifetime,
                prefix: Ipv6Address::new(0x2001, 0xdb8, 0x100 + u16::from(which), 0, 0, 0, 0, 0),
            }),
            Opt::Dns { which, lifetime } => NdpOptionRepr::Rdnss {
                lifetime,
                addresses: std::slice::from_ref(&dns[usize::from(which)]),
            },
        })
        .collect();
    emit_ra(ROUTER, hop_limit, lifetime, &reprs)
}

/// What a caller that applies every event believes the state is.
#[derive(Debug, Default)]
struct Model {
    addresses: BTreeSet<Ipv6Cidr>,
    deprecated: BTreeSet<Ipv6Cidr>,
    routes: BTreeSet<(Ipv6Cidr, Ipv6Address)>,
    dns: BTreeSet<Ipv6Address>,
    router: Option<Ipv6Address>,
    mtu: u32,
}

impl Model {
    fn apply(&mut self, e: Event, now: Instant) {
        match e {
            Event::AddressAdded {
                addr,
                preferred_until,
                ..
            } => {
                assert!(self.addresses.insert(addr), "added twice: {addr}");
                if preferred_until.is_some_and(|p| p <= now) {
                    self.deprecated.insert(addr);
                }
            }
            Event::AddressDeprecated { addr } => assert!(self.deprecated.insert(addr)),
            Event::AddressPreferred { addr } => assert!(self.deprecated.remove(&addr)),
            Event::AddressRemoved { addr } => {
                assert!(self.addresses.remove(&addr), "removed unknown {addr}");
                self.deprecated.remove(&addr);
            }
            Event::DefaultRouter { router, .. } => self.router = Some(router),
            Event::DefaultRouterLost { router } => {
                assert_eq!(self.router.take(), Some(router));
            }
            Event::MtuChanged(m) => self.mtu = m,
            Event::HopLimit(_) => {}
            Event::RouteAdded { cidr, router, .. } => assert!(self.routes.insert((cidr, router))),
            Event::RouteRemoved { cidr, router } => assert!(self.routes.remove(&(cidr, router))),
            Event::DnsServerAdded { addr } => assert!(self.dns.insert(addr)),
            Event::DnsServerRemoved { addr } => assert!(self.dns.remove(&addr)),
        }
    }

    fn check(&self, rd: &RouterDiscovery, now: Instant) {
        let addresses: BTreeSet<_> = rd.addresses().map(|a| a.cidr).collect();
        assert_eq!(self.addresses, addresses);
        for a in rd.addresses() {
            // Deprecation follows the preferred lifetime, and nothing expired is left.
            assert_eq!(
                a.deprecated,
                a.preferred_until.is_some_and(|p| p <= now),
                "{a:?}"
            );
            assert_eq!(self.deprecated.contains(&a.cidr), a.deprecated);
            assert!(a.valid_until.is_none_or(|v| v > now));
        }
        let routes: BTreeSet<_> = rd.routes().map(|r| (r.cidr, r.router)).collect();
        assert_eq!(self.routes, routes);
        let dns: BTreeSet<_> = rd.dns_servers().map(|d| d.addr).collect();
        assert_eq!(self.dns, dns);
        assert_eq!(self.router, rd.default_router().map(|r| r.addr));
        assert_eq!(self.mtu, rd.mtu());
        assert!(rd.addresses().count() <= MAX_ADDRESSES);
        assert!((1280..=1500).contains(&rd.mtu()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_advertisements_and_time_keep_state_bounded_and_events_consistent(
        seed in any::<u64>(),
        mode in prop_oneof![Just(AddressMode::Stable), Just(AddressMode::Temporary), Just(AddressMode::StableAndTemporary)],
        actions in proptest::collection::vec(action(), 1..40),
    ) {
        let mut r = rng(seed);
        let mut rd = host(mode);
        let mut model = Model { mtu: 1500, ..Model::default() };
        let mut now = Instant::ZERO;
        let mut buf = [0u8; 128];
        for e in std::iter::from_fn(|| rd.poll_event()) { model.apply(e, now); }
        for action in actions {
            match action {
                Action::Advertise { lifetime, hop_limit, options } => {
                    let packet = build(lifetime, hop_limit, &options);
                    prop_assert!(rd.handle_ra(now, &packet, &mut r).is_ok());
                }
                Action::Garbage(bytes) => { let _ = rd.handle_ra(now, &bytes, &mut r); }
                Action::Advance(secs) => {
                    let target = now + Duration::from_secs(u64::from(secs));
                    while let Some(t) = rd.poll_timeout().filter(|&t| t <= target) {
                        prop_assert!(t >= now, "a deadline in the past: {t} < {now}");
                        now = t;
                        rd.handle_timeout(now, &mut r);
                        while rd.poll_transmit(now, &mut buf).is_some() {}
                        for e in std::iter::from_fn(|| rd.poll_event()) { model.apply(e, now); }
                        model.check(&rd, now);
                        // Nothing is left due: no busy loop.
                        prop_assert!(rd.poll_timeout().is_none_or(|t| t > now));
                    }
                    now = target;
                    // A spurious timeout is a no-op.
                    let before: Vec<_> = rd.addresses().copied().collect();
                    rd.handle_timeout(now, &mut r);
                    prop_assert_eq!(rd.poll_event(), None);
                    prop_assert_eq!(before, rd.addresses().copied().collect::<Vec<_>>());
                }
                Action::LinkUp => rd.link_up(now, &mut r),
                Action::LinkDown => rd.link_down(now),
            }
            for e in std::iter::from_fn(|| rd.poll_event()) { model.apply(e, now); }
            model.check(&rd, now);
        }
        prop_assert_eq!(rd.counters().events_dropped, 0);
    }
}
