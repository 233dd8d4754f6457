//! The host on a memory link whose other end is played by the test, as a router would:
//! solicitations, advertisements, MLD, neighbor messages, and traffic to the address the host
//! formed.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::filter::DropReason;
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_wire::frame;
use bridgeless_wire::mld::{MldMessage, RecordType};
use bridgeless_wire::ndp::{
    self, NdpOptionRepr, NdpRepr, Preference, PrefixInformation, RouterAdvertisementRepr,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, Ipv6Address};

type Link = MemoryLink<ChaCha8Rng, 32, 1500>;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PREFIX: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);

struct World {
    link: Box<Link>,
    host: Host,
    rng: ChaCha8Rng,
    now: Instant,
    /// Every frame the host sent, in order.
    sent: Vec<Vec<u8>>,
}

impl World {
    fn new() -> World {
        let mut link = Box::new(Link::new(
            MemoryLinkConfig::default(),
            ChaCha8Rng::seed_from_u64(1),
        ));
        let iid = StableIid::new([42; 32], b"ptp0").unwrap();
        let config = HostConfig::new(rd::Config::new(iid, 1500), 7);
        let host = Host::new(config, &mut link.end(Side::A), Instant::ZERO);
        World {
            link,
            host,
            rng: ChaCha8Rng::seed_from_u64(2),
            now: Instant::ZERO,
            sent: vec![],
        }
    }

    /// Polls the host, then collects what it sent.
    fn step(&mut self, sockets: &mut SocketSet<'_>) {
        self.host.poll(
            self.now,
            &mut self.link.end(Side::A),
            sockets,
            &mut self.rng,
        );
        let mut b = self.link.end(Side::B);
        while let Some((rx, _)) = b.receive(self.now) {
            rx.consume(|f| self.sent.push(f.to_vec()));
        }
    }

    /// Runs for `d` in 10 ms steps.
    fn run(&mut self, d: Duration, sockets: &mut SocketSet<'_>) {
        let end = self.now + d;
        while self.now < end {
            self.step(sockets);
            self.now += Duration::from_millis(10);
        }
    }

    /// The router end sends a frame to the host.
    fn inject(&mut self, frame: &[u8]) {
        let mut b = self.link.end(Side::B);
        let tx = b.transmit(self.now).expect("room on the link");
        tx.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }
}

fn advertisement(mtu: u32) -> Vec<u8> {
    let options = [
        NdpOptionRepr::PrefixInformation(PrefixInformation {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 86_400,
            preferred_lifetime: 14_400,
            prefix: PREFIX,
        }),
        NdpOptionRepr::Mtu(mtu),
    ];
    let ra = RouterAdvertisementRepr {
        cur_hop_limit: 64,
        managed: false,
        other: false,
        preference: Preference::Medium,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_timer: 0,
        options: &options,
    };
    let mut buf = vec![0u8; 256];
    let all_nodes = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let n = ndp::emit_ipv6(
        &ROUTER,
        &all_nodes,
        &NdpRepr::RouterAdvertisement(ra),
        &mut buf,
    )
    .unwrap();
    buf.truncate(n);
    buf
}

fn icmp_type(frame: &[u8]) -> Option<u8> {
    frame::parse(frame).ok()?.icmp().map(|(t, _)| t)
}

#[test]
fn host_solicits_configures_from_an_advertisement_and_is_reachable() {
    let mut w = World::new();
    let mut storage = [SocketStorage::EMPTY; 2];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let link_local = w.host.interface().ipv6_addr().unwrap();
    assert!(
        link_local.is_unicast_link_local(),
        "a link-local address before any RA"
    );

    w.host.link_up(w.now, &mut w.rng);
    w.run(Duration::from_millis(1100), &mut sockets);
    let rs: Vec<&Vec<u8>> = w
        .sent
        .iter()
        .filter(|f| icmp_type(f) == Some(133))
        .collect();
    assert_eq!(
        rs.len(),
        1,
        "one Router Solicitation within the first second (RFC 4861 §6.3.7)"
    );
    let info = frame::parse(rs[0]).unwrap();
    assert_eq!(info.hop_limit(), 255);
    assert_eq!(info.src(), std::net::IpAddr::V6(link_local));
    assert_eq!(rs[0].len(), 48, "no Source Link-Layer Address option");

    w.inject(&advertisement(1400));
    w.run(Duration::from_millis(50), &mut sockets);
    let global = w
        .host
        .interface()
        .ip_addrs()
        .iter()
        .find_map(|c| match c.address() {
            IpAddress::Ipv6(a) if !a.is_unicast_link_local() => Some(a),
            _ => None,
        })
        .expect("an address from the advertised prefix");
    assert_eq!(global.segments()[..4], PREFIX.segments()[..4]);
    let route = w
        .host
        .interface()
        .routes()
        .get_default_ipv6_route()
        .expect("default route");
    assert_eq!(route.via_router, IpAddress::Ipv6(ROUTER));
    assert_eq!(w.host.router_discovery().mtu(), 1400);
    assert_eq!(w.host.filter_counters().router_advertisements, 1);

    // No more solicitations once a router is known.
    let before = w.sent.iter().filter(|f| icmp_type(f) == Some(133)).count();
    w.run(Duration::from_secs(10), &mut sockets);
    assert_eq!(
        w.sent.iter().filter(|f| icmp_type(f) == Some(133)).count(),
        before
    );

    // A UDP datagram to the formed address reaches a socket bound on the host.
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]);
    let mut socket = udp::Socket::new(rx, tx);
    socket.bind(5683).unwrap();
    let handle = sockets.add(socket);
    let header = frame::Ipv6Header {
        src: Ipv6Address::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 9),
        dst: global,
        next_header: smoltcp::wire::IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 60,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut buf = [0u8; 128];
    let n = frame::emit_udp_v6(&header, 40000, 5683, b"over the link", &mut buf).unwrap();
    w.inject(&buf[..n]);
    w.run(Duration::from_millis(20), &mut sockets);
    // Too big for the 1400-byte link MTU the router advertised: refused, not lost silently.
    let to = smoltcp::wire::IpEndpoint::new(IpAddress::Ipv6(header.src), 40000);
    assert_eq!(w.host.max_udp_payload(), 1400 - 48);
    assert_eq!(
        w.host.send_udp(&mut sockets, handle, &[0; 1400 - 47], to),
        Err(bridgeless_iface::host::SendError::TooBig { max: 1352 })
    );
    assert_eq!(
        w.host.send_udp(&mut sockets, handle, &[0; 1352], to),
        Ok(())
    );
    let socket = sockets.get_mut::<udp::Socket<'_>>(handle);
    let (data, meta) = socket.recv().expect("the datagram arrived");
    assert_eq!(data, b"over the link");
    assert_eq!(meta.endpoint.port, 40000);
    // The datagram that fits leaves as one 1400-byte packet, via the default router.
    w.sent.clear();
    w.run(Duration::from_millis(20), &mut sockets);
    assert!(
        w.sent.iter().any(|f| f.len() == 1400),
        "the largest datagram was sent"
    );
}

#[test]
fn neighbor_messages_are_counted_and_the_host_never_sends_any() {
    let mut w = World::new();
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    w.host.link_up(w.now, &mut w.rng);
    // A Neighbor Solicitation, as a LAN router would send to resolve us.
    let mut ns = advertisement(1500);
    ns[40] = 135;
    w.inject(&ns);
    w.inject(&advertisement(1500));
    w.run(Duration::from_secs(20), &mut sockets);
    let c = w.host.filter_counters();
    assert_eq!(c.dropped(DropReason::NeighborSolicitation), 1);
    assert_eq!(c.router_advertisements, 1);
    for f in &w.sent {
        let info = frame::parse(f).expect("the host sends well-formed IPv6");
        assert!(
            !matches!(icmp_type(f), Some(135..=137)),
            "no NS, NA or Redirect"
        );
        assert_ne!(
            info.src(),
            std::net::IpAddr::V6(Ipv6Address::UNSPECIFIED),
            "no DAD probe"
        );
    }
}

#[test]
fn joining_sends_our_mld_report_not_smoltcps_inverted_one() {
    let mut w = World::new();
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    w.host.link_up(w.now, &mut w.rng);
    let group = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x1234);
    w.host
        .join_multicast_group(w.now, group, &mut w.rng)
        .unwrap();
    w.run(Duration::from_secs(3), &mut sockets);
    let records: Vec<RecordType> = w
        .sent
        .iter()
        .filter(|f| icmp_type(f) == Some(143))
        .flat_map(|f| {
            let info = frame::parse(f).unwrap();
            let Ok(MldMessage::ReportV2(r)) = MldMessage::parse(info.upper_layer()) else {
                panic!("an MLDv2 report")
            };
            r.records().map(|rec| rec.record_type).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        records,
        vec![RecordType::ChangeToExcludeMode; 2],
        "join + one retransmission"
    );
    assert!(
        w.host
            .filter_counters()
            .dropped(DropReason::SmoltcpMldReport)
            >= 1,
        "smoltcp's was withheld"
    );

    w.sent.clear();
    w.host
        .leave_multicast_group(w.now, group, &mut w.rng)
        .unwrap();
    w.run(Duration::from_secs(3), &mut sockets);
    let leaves = w.sent.iter().filter(|f| icmp_type(f) == Some(143)).count();
    assert_eq!(leaves, 2, "leave + one retransmission");
}

#[test]
fn a_group_smoltcp_cannot_hold_is_refused_and_never_reported() {
    let mut w = World::new();
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut joined = Vec::new();
    for i in 1..=8u16 {
        let group = Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, i);
        match w.host.join_multicast_group(w.now, group, &mut w.rng) {
            Ok(()) => joined.push(group),
            Err(e) => assert_eq!(e, bridgeless_iface::mld::MldError::TableFull),
        }
    }
    assert!(
        !joined.is_empty() && joined.len() < 8,
        "smoltcp's table is smaller than 8"
    );
    w.run(Duration::from_secs(3), &mut sockets);
    for i in 1..=8u16 {
        let group = Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, i);
        let reported = w.host.mld().is_joined(&group);
        assert_eq!(reported, joined.contains(&group), "{group}");
        assert_eq!(
            reported,
            w.host.interface().has_multicast_group(group),
            "{group}"
        );
    }
    // Idle: nothing to wake up for. After link-up, the first solicitation is at most 1 s away.
    assert_eq!(w.host.poll_delay(w.now, &sockets), None);
    w.host.link_up(w.now, &mut w.rng);
    let delay = w
        .host
        .poll_delay(w.now, &sockets)
        .expect("a solicitation is scheduled");
    assert!(delay <= Duration::from_secs(1), "{delay}");
}

#[test]
fn timers_fire_when_announced_though_polls_with_nothing_due_skip_the_cores() {
    let mut w = World::new();
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    w.host.link_up(w.now, &mut w.rng);
    let step = Duration::from_millis(1);
    let mut solicited = vec![];
    while w.now < Instant::from_secs(9) {
        let due = w.host.poll_at(w.now, &sockets);
        let before = w.sent.len();
        w.step(&mut sockets);
        if w.sent[before..].iter().any(|f| icmp_type(f) == Some(133)) {
            // Sent at the first poll at or after the instant `poll_at` announced.
            let due = due.expect("a timer was pending");
            assert!(due <= w.now && w.now < due + step, "{due} vs {}", w.now);
            solicited.push(w.now);
        } else {
            assert!(due.is_none_or(|due| due > w.now), "nothing sent though due");
        }
        w.now += step;
    }
    // RFC 4861 §6.3.7: solicitations RTR_SOLICITATION_INTERVAL (4 s) apart.
    assert_eq!(solicited.len(), 3, "{solicited:?}");
    assert_eq!(solicited[1] - solicited[0], Duration::from_secs(4));
    assert_eq!(solicited[2] - solicited[1], Duration::from_secs(4));

    // A control frame arriving between timers is handled at once.
    w.inject(&advertisement(1400));
    w.step(&mut sockets);
    assert_eq!(w.host.filter_counters().router_advertisements, 1);
    assert_eq!(w.host.router_discovery().mtu(), 1400);
    assert!(
        w.host
            .interface()
            .routes()
            .get_default_ipv6_route()
            .is_some()
    );
}

/// smoltcp reads a device's MTU only when its interface is built and sizes every TCP segment
/// by it: a link MTU lowered by a Router Advertisement must still reach a connection that is
/// already open, or its segments would exceed the link MTU (RFC 4861 §6.3.4).
#[test]
fn a_lower_mtu_from_an_advertisement_resizes_an_open_tcp_connection() {
    use bridgeless_iface::device::pcap_tap::PcapRecorder;
    use bridgeless_wire::pcap::{LinkType, Reader, Writer};
    use smoltcp::iface::{Config as IfaceConfig, Interface};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{HardwareAddress, IpCidr};

    const SIZE: usize = 200_000;
    let peer_global = Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
    let mut w = World::new();
    // The far end: a smoltcp stack holding the router's link-local address and a global one,
    // its frames from the host recorded.
    let recorder = PcapRecorder::new(Writer::new(Vec::new(), LinkType::Raw).unwrap());
    let mut peer = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        &mut recorder.tap(w.link.end(Side::B)),
        Instant::ZERO,
    );
    peer.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv6(ROUTER), 64)).unwrap();
        a.push(IpCidr::new(IpAddress::Ipv6(peer_global), 64))
            .unwrap();
    });
    let tcp_socket = || {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65_536]),
            tcp::SocketBuffer::new(vec![0; 65_536]),
        )
    };
    let mut host_storage = [SocketStorage::EMPTY; 2];
    let mut host_sockets = SocketSet::new(&mut host_storage[..]);
    let client = host_sockets.add(tcp_socket());
    let mut peer_sockets = SocketSet::new(vec![]);
    let server = peer_sockets.add(tcp_socket());
    peer_sockets
        .get_mut::<tcp::Socket<'_>>(server)
        .listen(7)
        .unwrap();

    let step = |w: &mut World,
                host_sockets: &mut SocketSet<'_>,
                peer: &mut Interface,
                peer_sockets: &mut SocketSet<'_>| {
        w.host
            .poll(w.now, &mut w.link.end(Side::A), host_sockets, &mut w.rng);
        peer.poll(w.now, &mut recorder.tap(w.link.end(Side::B)), peer_sockets);
        w.now += Duration::from_millis(1);
    };
    w.host.link_up(w.now, &mut w.rng);
    w.inject(&advertisement(1500));
    for _ in 0..50 {
        step(&mut w, &mut host_sockets, &mut peer, &mut peer_sockets);
    }
    assert_eq!(w.host.router_discovery().mtu(), 1500);
    let local = w
        .host
        .interface()
        .ip_addrs()
        .iter()
        .find_map(|a| match a.address() {
            IpAddress::Ipv6(a) if !a.is_unicast_link_local() => Some(a),
            _ => None,
        })
        .expect("an address from the advertised prefix");
    host_sockets
        .get_mut::<tcp::Socket<'_>>(client)
        .connect(
            w.host.interface_mut().context(),
            (IpAddress::Ipv6(peer_global), 7),
            (IpAddress::Ipv6(local), 40_000),
        )
        .unwrap();

    // Writes the stream; the peer reads it and checks every byte.
    let (mut written, mut read) = (0usize, 0usize);
    let pattern = |i: usize| (i % 251) as u8;
    let mut advertised = None;
    for _ in 0..20_000 {
        let c = host_sockets.get_mut::<tcp::Socket<'_>>(client);
        if c.may_send() && written < SIZE {
            written += c
                .send(|buf| {
                    let n = buf.len().min(SIZE - written);
                    for (i, b) in buf[..n].iter_mut().enumerate() {
                        *b = pattern(written + i);
                    }
                    (n, n)
                })
                .unwrap();
        }
        let s = peer_sockets.get_mut::<tcp::Socket<'_>>(server);
        if s.can_recv() {
            s.recv(|buf| {
                for (i, &b) in buf.iter().enumerate() {
                    assert_eq!(b, pattern(read + i), "byte {}", read + i);
                }
                read += buf.len();
                (buf.len(), ())
            })
            .unwrap();
        }
        // Half way, the router lowers the link MTU.
        if advertised.is_none() && read >= SIZE / 2 {
            w.inject(&advertisement(1400));
            advertised = Some(w.now);
        }
        step(&mut w, &mut host_sockets, &mut peer, &mut peer_sockets);
        if read == SIZE {
            break;
        }
    }
    assert_eq!(read, SIZE, "the whole stream arrived");
    assert_eq!(w.host.router_discovery().mtu(), 1400);
    assert_eq!(w.host.counters().interface_rebuilds, 1);
    assert!(
        w.host.interface().has_ip_addr(local),
        "the address survived the rebuild"
    );
    assert!(
        w.host
            .interface()
            .routes()
            .get_default_ipv6_route()
            .is_some(),
        "the default route survived the rebuild"
    );

    // Every frame the host sent, as the peer received it: full 1,500-octet segments before
    // the advertisement, none larger than 1,400 octets from the poll after the one that
    // received it (in that poll, smoltcp sent what it had to send before the host applied
    // what router discovery learnt).
    let advertised =
        core::time::Duration::from_micros(advertised.expect("advertised").total_micros() as u64);
    let pcap = recorder.into_writer().into_inner().unwrap();
    let (mut before, mut after) = (0usize, 0usize);
    for record in Reader::new(&pcap[..]).unwrap() {
        let record = record.unwrap();
        let frame = record.ip().unwrap();
        if !frame::parse(frame).is_ok_and(|f| f.src() == local) {
            continue;
        }
        if record.timestamp == advertised {
            continue;
        }
        let largest = if record.timestamp < advertised {
            &mut before
        } else {
            &mut after
        };
        *largest = (*largest).max(frame.len());
    }
    assert_eq!(before, 1500, "full-size segments before");
    assert!(
        after > 1300 && after <= 1400,
        "largest segment after: {after}"
    );
}
