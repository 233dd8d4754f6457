//! A tree of three routers in memory, configured by nothing but the core's prefix:
//!
//! ```text
//!                  core (fd00:1::/48)
//!                 /                  \
//!        R_a (upstream: link 0)    R_b (upstream: link 0)
//!            |                          |
//!        host link A                host link B
//! ```
//!
//! The access routers solicit, form an upstream address from the core's advertisement,
//! request a prefix by DHCPv6 prefix delegation, announce a /64 on their host link, and a
//! packet from host link A reaches host link B. Multicast: a group reaches host link B only
//! while it listens, and a router configured for MLDv1 queries its host links in MLDv1.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::rd::{self, RouterDiscovery, StableIid};
use bridgeless_iface::router::{
    LinkId, LinkIo, LinkRole, Router, RouterConfig, RouterLink, TreeEvent,
};
use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Cidr};

type Link = MemoryLink<ChaCha8Rng, 64, 1500>;

const DOWN: RouterLink = RouterLink {
    role: LinkRole::Downstream,
    mtu: 1500,
};
const UP: RouterLink = RouterLink {
    role: LinkRole::Upstream,
    mtu: 1500,
};

fn core_prefix() -> Ipv6Cidr {
    Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 48)
}

fn config(name: &str, prefix: Option<Ipv6Cidr>) -> RouterConfig {
    let mut c = RouterConfig::new(name, [name.len() as u8; 32]);
    c.prefix = prefix;
    c.ra_interval = Duration::from_secs(4);
    c
}

/// links[0]: core–R_a, links[1]: core–R_b, links[2]: R_a–host A, links[3]: R_b–host B.
struct World {
    links: Vec<Link>,
    core: Router,
    r_a: Router,
    r_b: Router,
    rng: ChaCha8Rng,
    now: Instant,
}

impl World {
    fn new() -> World {
        let now = Instant::ZERO;
        World {
            links: (0..4)
                .map(|i| Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(i)))
                .collect(),
            core: Router::build(config("core", Some(core_prefix())), &[DOWN, DOWN], now).unwrap(),
            r_a: Router::build(config("r_a", None), &[UP, DOWN], now).unwrap(),
            r_b: Router::build(config("r_b", None), &[UP, DOWN], now).unwrap(),
            rng: ChaCha8Rng::seed_from_u64(5),
            now,
        }
    }

    fn poll(&mut self) -> usize {
        let [l0, l1, l2, l3] = &mut self.links[..] else {
            unreachable!()
        };
        let mut moved = 0;
        {
            let (mut a, mut b) = (l0.end(Side::A), l1.end(Side::A));
            let mut ios: [&mut dyn LinkIo; 2] = [&mut a, &mut b];
            moved += self.core.poll(self.now, &mut ios, &mut self.rng);
        }
        {
            let (mut up, mut down) = (l0.end(Side::B), l2.end(Side::A));
            let mut ios: [&mut dyn LinkIo; 2] = [&mut up, &mut down];
            moved += self.r_a.poll(self.now, &mut ios, &mut self.rng);
        }
        {
            let (mut up, mut down) = (l1.end(Side::B), l3.end(Side::A));
            let mut ios: [&mut dyn LinkIo; 2] = [&mut up, &mut down];
            moved += self.r_b.poll(self.now, &mut ios, &mut self.rng);
        }
        moved
    }

    /// Runs until `done` or `limit` of virtual time, in 10 ms steps.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) {
        let end = self.now + limit;
        while self.now < end {
            while self.poll() > 0 {}
            if done(self) {
                return;
            }
            self.now += Duration::from_millis(10);
        }
        panic!("not done after {limit}");
    }

    /// Frames that reached a host end (links[2] or links[3], side B).
    fn host_frames(&mut self, link: usize) -> Vec<Vec<u8>> {
        let mut end = self.links[link].end(Side::B);
        let mut got = Vec::new();
        while let Some((rx, _)) = end.receive(self.now) {
            got.push(rx.consume(|f| f.to_vec()));
        }
        got
    }
}

fn contains(outer: Ipv6Cidr, inner: Ipv6Cidr) -> bool {
    inner.prefix_len() >= outer.prefix_len() && outer.contains_addr(&inner.address())
}

#[test]
fn prefixes_are_handed_down_and_packets_cross_the_tree() {
    let mut w = World::new();
    w.run_until(Duration::from_secs(30), |w| {
        w.r_a.tree().unwrap().prefix().is_some() && w.r_b.tree().unwrap().prefix().is_some()
    });
    let (pa, pb) = (
        w.r_a.tree().unwrap().prefix().unwrap(),
        w.r_b.tree().unwrap().prefix().unwrap(),
    );
    assert_eq!((pa.prefix_len(), pb.prefix_len()), (52, 52));
    assert!(contains(core_prefix(), pa) && contains(core_prefix(), pb));
    assert_ne!(pa, pb);
    let own_block = Ipv6Cidr::new(core_prefix().address(), 52);
    assert!(!contains(own_block, pa), "block 0 is the core's own");
    // The core routes each delegated prefix to the link it was delegated on.
    let routes = w.core.forwarder().routes();
    assert_eq!(
        routes.lookup(pa.address()).map(|r| r.1),
        Some(bridgeless_iface::router::Route::Link(LinkId(0)))
    );
    assert_eq!(
        routes.lookup(pb.address()).map(|r| r.1),
        Some(bridgeless_iface::router::Route::Link(LinkId(1)))
    );
    // Events tell the story.
    let mut core_events = Vec::new();
    while let Some(e) = w.core.poll_event() {
        core_events.push(e);
    }
    assert!(core_events.contains(&TreeEvent::PrefixAcquired {
        prefix: core_prefix()
    }));
    assert!(core_events.contains(&TreeEvent::Delegated {
        link: LinkId(0),
        prefix: pa
    }));

    // Each access router's upstream link has an address from the core's /64 for that link.
    w.run_until(Duration::from_secs(10), |w| {
        w.r_a.forwarder().link(LinkId(0)).unwrap().address.is_some()
    });
    let up_a = w.r_a.forwarder().link(LinkId(0)).unwrap().address.unwrap();
    let core_link0 = w.core.tree().unwrap().link_prefix(LinkId(0)).unwrap();
    assert!(core_link0.contains_addr(&up_a), "{up_a} in {core_link0}");

    // A host on R_b's host link configures itself from R_b's advertisements.
    let host_b_link = w.r_b.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    assert!(contains(pb, host_b_link));
    let iid = StableIid::new([9; 32], b"host-b").unwrap();
    let mut host_b = RouterDiscovery::new(rd::Config::new(iid, 1500), w.now);
    host_b.link_up(w.now, &mut w.rng);
    let mut host_address = None;
    w.run_until(Duration::from_secs(10), |_| true);
    for _ in 0..2000 {
        for frame in w.host_frames(3) {
            let _ = host_b.handle_ra(w.now, &frame, &mut w.rng);
        }
        let mut buf = [0u8; 1500];
        while let Some(n) = host_b.poll_transmit(w.now, &mut buf) {
            let mut end = w.links[3].end(Side::B);
            end.transmit(w.now)
                .unwrap()
                .consume(n, |b| b.copy_from_slice(&buf[..n]));
        }
        host_address = host_b
            .addresses()
            .find(|a| a.kind == rd::AddressKind::Stable)
            .map(|a| a.cidr.address());
        if host_address.is_some() {
            break;
        }
        while w.poll() > 0 {}
        w.now += Duration::from_millis(10);
        host_b.handle_timeout(w.now, &mut w.rng);
    }
    let host_address = host_address.expect("host B formed an address");
    assert!(host_b_link.contains_addr(&host_address));
    assert_eq!(host_b.mtu(), 1500);

    // A packet from host link A to host B crosses R_a, the core and R_b.
    let host_a_link = w.r_a.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    let src = Ipv6Address::from(
        (u128::from_be_bytes(host_a_link.address().octets()) | 0x42).to_be_bytes(),
    );
    let header = Ipv6Header {
        src,
        dst: host_address,
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 7,
    };
    let mut packet = [0u8; 100];
    let n = emit_udp_v6(&header, 1000, 2000, b"through the tree", &mut packet).unwrap();
    {
        let mut end = w.links[2].end(Side::B);
        end.transmit(w.now)
            .unwrap()
            .consume(n, |b| b.copy_from_slice(&packet[..n]));
    }
    while w.poll() > 0 {}
    let arrived: Vec<_> = w
        .host_frames(3)
        .into_iter()
        .filter(|f| f.len() == n && f[8..24] == src.octets())
        .collect();
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0][7], 61, "three routers");
}

#[test]
fn an_address_of_the_prefix_that_nobody_was_given_is_rejected() {
    let mut w = World::new();
    w.run_until(Duration::from_secs(30), |w| {
        w.r_a.tree().unwrap().prefix().is_some()
    });
    // fd00:1:0:ff0::1 is in the core's own block but on none of its links: reject route, code 6,
    // instead of bouncing back up a default route.
    let pa = w.r_a.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    let src = Ipv6Address::from((u128::from_be_bytes(pa.address().octets()) | 9).to_be_bytes());
    let header = Ipv6Header {
        src,
        dst: Ipv6Address::new(0xfd00, 1, 0, 0x0ff0, 0, 0, 0, 1),
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut packet = [0u8; 100];
    let n = emit_udp_v6(&header, 1000, 2000, b"x", &mut packet).unwrap();
    {
        let mut end = w.links[2].end(Side::B);
        end.transmit(w.now)
            .unwrap()
            .consume(n, |b| b.copy_from_slice(&packet[..n]));
    }
    while w.poll() > 0 {}
    let errors: Vec<_> = w
        .host_frames(2)
        .into_iter()
        .filter(|f| f[6] == 58 && f[40] == 1)
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0][41], 6, "reject route");
}

/// A UDP datagram from host link A to `group`, hop limit 8.
fn multicast_from_a(w: &World, group: Ipv6Address, n: u32) -> Vec<u8> {
    let link_a = w.r_a.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    let src = Ipv6Address::from((u128::from_be_bytes(link_a.address().octets()) | 5).to_be_bytes());
    let header = Ipv6Header {
        src,
        dst: group,
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 8,
        traffic_class: 0,
        flow_label: n,
    };
    let mut packet = vec![0u8; 100];
    let len = emit_udp_v6(&header, 1000, 5000, &n.to_be_bytes(), &mut packet).unwrap();
    packet.truncate(len);
    packet
}

/// Sends `packet` from host A and returns the copies of it that reached host B.
fn send_from_a(w: &mut World, packet: &[u8]) -> usize {
    {
        let mut end = w.links[2].end(Side::B);
        end.transmit(w.now)
            .unwrap()
            .consume(packet.len(), |b| b.copy_from_slice(packet));
    }
    while w.poll() > 0 {}
    w.host_frames(3)
        .iter()
        .filter(|f| f.len() == packet.len() && f[8..] == packet[8..])
        .count()
}

#[test]
fn a_group_reaches_host_b_only_while_it_listens() {
    use bridgeless_iface::mld::{Config as MldConfig, MldHost};
    let group = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x1234);
    let mut w = World::new();
    w.run_until(Duration::from_secs(30), |w| {
        w.r_a.tree().unwrap().prefix().is_some() && w.r_b.tree().unwrap().prefix().is_some()
    });
    assert_eq!(
        {
            let p = multicast_from_a(&w, group, 1);
            send_from_a(&mut w, &p)
        },
        0,
        "nobody listens"
    );

    // Host B joins: its report reaches R_b's querier, R_b's proxy reports upstream to the core.
    let mut host = MldHost::new(MldConfig::default());
    host.set_link_local(Some(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xb)))
        .unwrap();
    host.join(w.now, group, &mut w.rng).unwrap();
    let drive = |w: &mut World, host: &mut MldHost, until: Duration| {
        let end = w.now + until;
        while w.now < end {
            let mut buf = [0u8; 1500];
            while let Some(n) = host.poll_transmit(w.now, &mut buf) {
                let mut link = w.links[3].end(Side::B);
                link.transmit(w.now)
                    .unwrap()
                    .consume(n, |b| b.copy_from_slice(&buf[..n]));
            }
            while w.poll() > 0 {}
            for frame in w.host_frames(3) {
                if frame[6] == 0 {
                    // Hop-by-Hop first: MLD queries from R_b.
                    host.handle_packet(w.now, &frame, &mut w.rng);
                }
            }
            w.now += Duration::from_millis(10);
            host.handle_timeout(w.now);
        }
    };
    drive(&mut w, &mut host, Duration::from_millis(100));
    let got = {
        let p = multicast_from_a(&w, group, 2);
        send_from_a(&mut w, &p)
    };
    assert_eq!(got, 1, "one copy, through R_a, the core and R_b");
    let proxy = w.r_b.multicast().unwrap();
    assert!(
        proxy
            .querier(0)
            .unwrap()
            .wants(&group, &Ipv6Address::UNSPECIFIED)
    );
    assert!(
        w.core
            .multicast()
            .unwrap()
            .subscribed(&group, &Ipv6Address::UNSPECIFIED)
    );
    // Link-scope groups never leave their link, even with a listener.
    let link_scope = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 0x1234);
    assert_eq!(
        {
            let p = multicast_from_a(&w, link_scope, 3);
            send_from_a(&mut w, &p)
        },
        0
    );

    // After the leave, delivery to host B stops within the Last Listener Query Time (2 s by
    // default) of R_b's querier; the core stops sending the group down to R_b one Last
    // Listener Query Time after R_b's own leave report reaches it.
    host.leave(w.now, group, &mut w.rng).unwrap();
    drive(&mut w, &mut host, Duration::from_millis(2100));
    assert_eq!(
        {
            let p = multicast_from_a(&w, group, 4);
            send_from_a(&mut w, &p)
        },
        0
    );
    drive(&mut w, &mut host, Duration::from_millis(2100));
    assert!(
        !w.core
            .multicast()
            .unwrap()
            .subscribed(&group, &Ipv6Address::UNSPECIFIED)
    );
}

#[test]
fn a_host_that_walks_to_another_access_router_is_readdressed_and_keeps_its_group() {
    use bridgeless_iface::host::{Host, HostConfig};
    use smoltcp::iface::{SocketSet, SocketStorage};
    use smoltcp::wire::IpAddress;
    let group = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x77);
    let mut w = World::new();
    w.run_until(Duration::from_secs(30), |w| {
        w.r_a.tree().unwrap().prefix().is_some() && w.r_b.tree().unwrap().prefix().is_some()
    });
    let iid = StableIid::new([4; 32], b"phone").unwrap();
    let config = HostConfig::new(rd::Config::new(iid, 1500), 9);
    let mut host = Host::new(config, &mut w.links[2].end(Side::B), w.now);
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    host.link_up(w.now, &mut w.rng);
    host.join_multicast_group(w.now, group, &mut w.rng).unwrap();
    let global = |host: &Host| {
        host.interface()
            .ip_addrs()
            .iter()
            .filter_map(|c| match c.address() {
                IpAddress::Ipv6(a) if !a.is_unicast_link_local() => Some(a),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // Runs the world with the host on host link `link` for `d`.
    let run =
        |w: &mut World, host: &mut Host, sockets: &mut SocketSet<'_>, link: usize, d: Duration| {
            let end = w.now + d;
            while w.now < end {
                host.poll(w.now, &mut w.links[link].end(Side::B), sockets, &mut w.rng);
                while w.poll() > 0 {
                    host.poll(w.now, &mut w.links[link].end(Side::B), sockets, &mut w.rng);
                }
                w.now += Duration::from_millis(10);
            }
        };
    run(&mut w, &mut host, &mut sockets, 2, Duration::from_secs(2));
    let link_a = w.r_a.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    let link_b = w.r_b.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    let before = global(&host);
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(link_a.contains_addr(&before[0]));
    assert!(
        w.r_a
            .multicast()
            .unwrap()
            .querier(0)
            .unwrap()
            .wants(&group, &Ipv6Address::UNSPECIFIED)
    );

    // The host walks to R_b's host link. Within one round trip of its immediate solicitation
    // and R_b's answer (at most 500 ms, RFC 4861 §6.2.6) it has an address there and none
    // from the old link, and R_b's querier has heard its group.
    host.moved(w.now, &mut w.rng);
    assert!(
        global(&host).is_empty(),
        "the old link's address is gone at once"
    );
    run(
        &mut w,
        &mut host,
        &mut sockets,
        3,
        Duration::from_millis(600),
    );
    let after = global(&host);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(link_b.contains_addr(&after[0]), "{} in {link_b}", after[0]);
    assert!(
        w.r_b
            .multicast()
            .unwrap()
            .querier(0)
            .unwrap()
            .wants(&group, &Ipv6Address::UNSPECIFIED)
    );
}

#[test]
fn delegation_recurses_down_three_levels_of_routers() {
    // core (/48) ── R_a (/52 from the core) ── R_c (/56 from R_a), each with a host link.
    let now = Instant::ZERO;
    let mut links: Vec<Link> = (0..3)
        .map(|i| {
            Link::new(
                MemoryLinkConfig::default(),
                ChaCha8Rng::seed_from_u64(10 + i),
            )
        })
        .collect();
    // Only the core is told of a DNS server; it travels down with the advertisements.
    let dns = Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x53);
    let mut core_config = config("core", Some(core_prefix()));
    core_config.dns_servers = vec![dns];
    let mut core = Router::build(core_config, &[DOWN], now).unwrap();
    let mut r_a = Router::build(config("r_a", None), &[UP, DOWN, DOWN], now).unwrap();
    let mut r_c = Router::build(config("r_c", None), &[UP, DOWN], now).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut t = now;
    let announced = |r: &Router| {
        r.tree()
            .unwrap()
            .advertiser(LinkId(1))
            .is_some_and(|a| a.dns_servers().any(|s| s == dns))
    };
    while t < Instant::from_secs(30) && (r_c.tree().unwrap().prefix().is_none() || !announced(&r_c))
    {
        let [l0, l1, l2] = &mut links[..] else {
            unreachable!()
        };
        let mut a = l0.end(Side::A);
        core.poll(t, &mut [&mut a as &mut dyn LinkIo], &mut rng);
        let (mut up, mut down, mut hosts) = (l0.end(Side::B), l1.end(Side::A), l2.end(Side::A));
        r_a.poll(
            t,
            &mut [&mut up as &mut dyn LinkIo, &mut down, &mut hosts],
            &mut rng,
        );
        let mut up = l1.end(Side::B);
        // R_c's host link has nobody on it: a link with no peer.
        let mut idle = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(0));
        let mut idle_end = idle.end(Side::A);
        r_c.poll(
            t,
            &mut [&mut up as &mut dyn LinkIo, &mut idle_end],
            &mut rng,
        );
        t += Duration::from_millis(10);
    }
    let pa = r_a.tree().unwrap().prefix().expect("R_a got a prefix");
    let pc = r_c
        .tree()
        .unwrap()
        .prefix()
        .expect("R_c got a prefix from R_a");
    assert_eq!((pa.prefix_len(), pc.prefix_len()), (52, 56));
    assert!(
        contains(core_prefix(), pa) && contains(pa, pc),
        "{pc} inside {pa}"
    );
    assert!(
        !contains(Ipv6Cidr::new(pa.address(), 56), pc),
        "not R_a's own block"
    );
    // R_a routes R_c's prefix to the link it was delegated on; the core reaches it through
    // R_a's /52.
    assert_eq!(
        r_a.forwarder().routes().lookup(pc.address()).map(|r| r.1),
        Some(bridgeless_iface::router::Route::Link(LinkId(1)))
    );
    assert_eq!(
        core.forwarder().routes().lookup(pc.address()).map(|r| r.1),
        Some(bridgeless_iface::router::Route::Link(LinkId(0)))
    );
    let host_link = r_c.tree().unwrap().link_prefix(LinkId(1)).unwrap();
    assert!(contains(pc, host_link) && host_link.prefix_len() == 64);
    // R_a learnt the DNS server from the core's advertisements, R_c from R_a's, and both
    // announce it on their host links (RFC 8106).
    assert!(announced(&r_a) && announced(&r_c));
    assert_eq!(
        r_c.tree()
            .unwrap()
            .router_discovery()
            .unwrap()
            .dns_servers()
            .map(|d| d.addr)
            .collect::<Vec<_>>(),
        [dns]
    );
}

/// A router configured with `mld_version: V1` (RFC 3810 §8.3.1) sends MLDv1 queries on its
/// host links and records MLDv1 listeners.
#[test]
fn a_router_configured_for_mldv1_queries_its_links_in_mldv1() {
    use bridgeless_iface::mld::querier::{GroupCompatibility, MldVersion};
    use bridgeless_wire::mld::{self, MldMessage, MldRepr, QueryVersion, ReportV1Repr};
    let group = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 0x1);
    let mut c = config("core", Some(core_prefix()));
    c.mld_version = MldVersion::V1;
    let mut router = Router::build(c, &[DOWN], Instant::ZERO).unwrap();
    let mut link = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(1));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut poll = |router: &mut Router, link: &mut Link, now: Instant| {
        let mut end = link.end(Side::A);
        let mut ios: [&mut dyn LinkIo; 1] = [&mut end];
        while router.poll(now, &mut ios, &mut rng) > 0 {}
    };
    poll(&mut router, &mut link, Instant::ZERO);
    let mut queries = Vec::new();
    let mut host = link.end(Side::B);
    while let Some((rx, _)) = host.receive(Instant::ZERO) {
        rx.consume(|frame| {
            if let Ok(received) = mld::parse_ipv6(frame)
                && let MldMessage::Query(q) = received.message
            {
                queries.push((q.version(), q.is_general(), frame.len()));
            }
        });
    }
    assert_eq!(queries, vec![(QueryVersion::V1, true, 40 + 8 + 24)]);

    // An MLDv1 Report from the host link makes a listener. It is addressed to the group
    // (site scope) from a link-local address with hop limit 1: the forwarder hands it to the
    // router's MLD instead of dropping it as a link-local source beyond its link.
    let report = MldRepr::ReportV1(ReportV1Repr {
        multicast_address: group,
    });
    let mut buf = [0u8; 200];
    let from = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99);
    let n = mld::emit_ipv6(&from, &group, &report, &mut buf).unwrap();
    let now = Instant::from_millis(10);
    link.end(Side::B)
        .transmit(now)
        .unwrap()
        .consume(n, |b| b.copy_from_slice(&buf[..n]));
    poll(&mut router, &mut link, now);
    let querier = router.multicast().unwrap().querier(0).unwrap();
    assert_eq!(querier.version(), MldVersion::V1);
    let record = querier.group(&group).unwrap_or_else(|| {
        let dropped = &router.forwarder().counters().dropped;
        panic!(
            "no listener: {:?}, forwarder {dropped:?}",
            querier.counters()
        )
    });
    assert_eq!(record.compatibility(), GroupCompatibility::V1);
}
