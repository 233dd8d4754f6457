//! The network of `sim_attacks.rs`: frames, nodes (endpoints on smoltcp, the router, the
//! attacker) and the topology.

use std::collections::HashMap;

use super::simnet::outer_stack;
pub use super::simnet::{RouterNode, router};
use std::io::Cursor;
use std::net::{SocketAddr, SocketAddrV6};

use bridgeless_iface::router::{DropReason as RouterDrop, LinkId as RouterLink, Router};
use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::{DropReason, Endpoint, Event, SessionHandle, SessionStats, StaticKeypair};
use bridgeless_sim::{LinkId, LinkParams, Node, NodeId, PortId, Ports, Sim};
use bridgeless_wire::pcap::Reader;
use core::time::Duration;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Instant;
use smoltcp::wire::{
    IpAddress, IpCidr, IpProtocol, Ipv6Address, Ipv6Cidr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};

pub const UDP_PORT: u16 = 4433;
pub const ATTACKER_PORT: u16 = 31337;
pub const FLOOD: u64 = 100_000;
/// Frames per burst, and one burst per millisecond.
pub const BURST: u64 = 50;
pub const BURST_EVERY: Duration = Duration::from_millis(1);
/// Bytes of an IPv6 and a UDP header: a frame's length less its UDP payload.
pub const IPV6_UDP_HEADERS: u64 = 40 + 8;

pub fn net(n: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0)
}

pub fn host(n: u16, h: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, h)
}

/// The router's links, in order: the client's first access link (behind the tap), the
/// server's, the attacker's, the second access link.
pub const ROUTER_NETS: [u16; 4] = [1, 0x100, 0xbad, 2];
pub const R_ACCESS_A: u16 = 0;
pub const R_SERVER: u16 = 1;
pub const R_ATTACKER: u16 = 2;

pub fn v6(ip: Ipv6Address, port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
}

pub fn keypair(n: u8) -> StaticKeypair {
    StaticKeypair::from_private([n; 32])
}

// ----- frames -----

/// An IPv6/UDP frame with a correct checksum.
pub fn udp_frame(src: SocketAddrV6, dst: SocketAddrV6, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(40 + 8 + payload.len(), 0);
    let ip = Ipv6Repr {
        src_addr: *src.ip(),
        dst_addr: *dst.ip(),
        next_header: IpProtocol::Udp,
        payload_len: 8 + payload.len(),
        hop_limit: 64,
    };
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
    UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    }
    .emit(
        &mut UdpPacket::new_unchecked(&mut out[40..]),
        &IpAddress::Ipv6(*src.ip()),
        &IpAddress::Ipv6(*dst.ip()),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
}

/// Source, destination and payload of an IPv6/UDP frame.
pub fn parse_udp(frame: &[u8]) -> Option<(SocketAddrV6, SocketAddrV6, &[u8])> {
    let ip = Ipv6Packet::new_checked(frame).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let payload = &frame[40..40 + usize::from(ip.payload_len())];
    let udp = UdpPacket::new_checked(payload).ok()?;
    Some((
        SocketAddrV6::new(src, udp.src_port(), 0, 0),
        SocketAddrV6::new(dst, udp.dst_port(), 0, 0),
        &payload[8..usize::from(udp.len())],
    ))
}

/// The UDP datagrams a link delivered (both directions), from its in-memory capture.
pub fn captured_udp(sim: &Sim, link: LinkId) -> Vec<(SocketAddrV6, SocketAddrV6, Vec<u8>)> {
    let pcap = sim.captured(link).expect("link captured");
    Reader::new(Cursor::new(pcap))
        .unwrap()
        .filter_map(|r| {
            let r = r.unwrap();
            let (s, d, p) = parse_udp(r.ip()?)?;
            Some((s, d, p.to_vec()))
        })
        .collect()
}

/// A random global unicast address (2000::/3, outside 2001:db8::/32 where the simulated
/// hosts are) and port.
pub fn spoofed(rng: &mut ChaCha8Rng) -> SocketAddrV6 {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[0] = 0x20 | (b[0] & 0x1f);
    if b[..4] == [0x20, 0x01, 0x0d, 0xb8] {
        b[2] ^= 0x80;
    }
    let port = (rng.next_u32() % 65_535 + 1) as u16;
    SocketAddrV6::new(Ipv6Address::from(b), port, 0, 0)
}

// ----- nodes -----

/// An endpoint on an outer smoltcp stack, exchanging datagrams only (no tunnel).
pub struct Peer {
    pub outer: Interface,
    pub sockets: SocketSet<'static>,
    pub driver: SmoltcpDriver,
    pub ep: Endpoint,
    /// Outer address and gateway for each link the port may be on.
    pub addresses: HashMap<LinkId, (Ipv6Address, Ipv6Address)>,
    pub link: Option<LinkId>,
    /// Connect to this server at the next poll.
    pub connect_to: Option<(SocketAddr, [u8; 32])>,
    /// The session `connect` made.
    pub session: Option<SessionHandle>,
    pub events: Vec<(SessionHandle, Event)>,
    /// When each session connected.
    pub connected_at: Vec<(SessionHandle, Instant)>,
    pub received: Vec<(SessionHandle, Vec<u8>)>,
    /// Datagrams are still waiting in the UDP socket.
    pub more: bool,
}

impl Peer {
    pub fn new(
        port: &mut bridgeless_sim::Port,
        key: StaticKeypair,
        seed: u64,
        addresses: HashMap<LinkId, (Ipv6Address, Ipv6Address)>,
    ) -> Peer {
        let (outer, sockets, driver, ep) = outer_stack(port, key, seed, UDP_PORT);
        Peer {
            outer,
            sockets,
            driver,
            ep,
            addresses,
            link: None,
            connect_to: None,
            session: None,
            events: Vec::new(),
            connected_at: Vec::new(),
            received: Vec::new(),
            more: false,
        }
    }

    /// The port moved: take the new link's address (as a host would from its router).
    pub fn follow_link(&mut self, port: &bridgeless_sim::Port) {
        if port.link() == self.link {
            return;
        }
        self.link = port.link();
        let Some(&(addr, gw)) = self.link.and_then(|l| self.addresses.get(&l)) else {
            return;
        };
        self.outer.update_ip_addrs(|a| {
            a.clear();
            a.push(IpCidr::Ipv6(Ipv6Cidr::new(addr, 64))).unwrap();
        });
        self.outer.routes_mut().remove_default_ipv6_route();
        self.outer.routes_mut().add_default_ipv6_route(gw).unwrap();
    }

    pub fn drain_events(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while let Some((h, e)) = self.ep.poll_event() {
            if e == Event::DatagramsReadable {
                while let Some(n) = self.ep.recv_datagram(h, &mut buf) {
                    self.received.push((h, buf[..n].to_vec()));
                }
                continue;
            }
            if matches!(e, Event::Connected { .. }) {
                self.connected_at.push((h, now));
            }
            self.events.push((h, e));
        }
    }

    pub fn connected(&self) -> Vec<SessionHandle> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Connected { .. }))
            .map(|(h, _)| *h)
            .collect()
    }

    pub fn received(&self, h: SessionHandle) -> Vec<Vec<u8>> {
        self.received
            .iter()
            .filter(|(x, _)| *x == h)
            .map(|(_, d)| d.clone())
            .collect()
    }

    pub fn closed(&self) -> Vec<Event> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Closed(_)))
            .map(|(_, e)| *e)
            .collect()
    }

    pub fn events_of(&self, h: SessionHandle) -> Vec<Event> {
        self.events
            .iter()
            .filter(|(x, _)| *x == h)
            .map(|(_, e)| *e)
            .collect()
    }

    pub fn drops(&self) -> Drops {
        Drops(
            DropReason::ALL
                .iter()
                .map(|r| self.ep.dropped(*r))
                .collect(),
        )
    }
}

impl Node for Peer {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        self.follow_link(port);
        if let Some((server, key)) = self.connect_to.take() {
            self.session = Some(self.ep.connect(now, server, key).unwrap());
        }
        // Until the socket is drained and the endpoint has nothing more to send: every
        // `outer.poll` sends all the socket holds (a simulator port never refuses a frame).
        loop {
            self.outer.poll(now, port, &mut self.sockets);
            let sent = self.driver.counters().sent;
            self.more = self
                .driver
                .poll(now, &self.outer, &mut self.sockets, &mut self.ep);
            self.drain_events(now);
            if !self.more && self.driver.counters().sent == sent {
                break;
            }
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more || self.connect_to.is_some() {
            return Some(now);
        }
        [
            self.outer.poll_at(now, &self.sockets),
            self.ep.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The endpoint's drop counters, by [`DropReason::ALL`] index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drops(pub Vec<u64>);

impl Drops {
    pub fn get(&self, r: DropReason) -> u64 {
        self.0[DropReason::ALL.iter().position(|x| *x == r).unwrap()]
    }

    pub fn since(&self, before: &Drops) -> Drops {
        Drops(self.0.iter().zip(&before.0).map(|(a, b)| a - b).collect())
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn nonzero(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Writes the payload of flood packet `i` into the buffer.
pub type Generator = Box<dyn FnMut(u64, &mut ChaCha8Rng, &mut Vec<u8>)>;

/// Spoofed packets to send, `BURST` per `BURST_EVERY`, from random sources.
pub struct Flood {
    pub to: SocketAddrV6,
    pub total: u64,
    pub sent: u64,
    pub next_at: Instant,
    pub rng: ChaCha8Rng,
    pub make: Generator,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
}

/// What the tap does with the next client packet to the server.
#[derive(Debug, Clone, Copy)]
pub struct ReplayPlan {
    /// Drop the original and every client packet to the server for this long.
    pub suppress: Option<Duration>,
}

/// The attacker: a tap between the client's first access link and the router (ports 0 and
/// 1), and an address of its own on L3 (port 2).
pub struct Mallory {
    pub me: SocketAddrV6,
    pub server: SocketAddrV6,
    pub flood: Option<Flood>,
    pub replay: Option<ReplayPlan>,
    pub suppress_until: Option<Instant>,
    /// The client packet copied, as the tap saw it.
    pub replayed: Option<Vec<u8>>,
    pub tap_forwarded: u64,
    pub tap_suppressed: u64,
    /// UDP datagrams sent from `me` (port 2), and their payload bytes.
    pub own_tx: (u64, u64),
    /// UDP datagrams received at `me` from the server, and their payload bytes.
    pub own_rx: (u64, u64),
    /// Frames received on port 2 that were anything else.
    pub own_rx_other: u64,
    buf: Vec<u8>,
}

impl Mallory {
    pub fn new(me: SocketAddrV6, server: SocketAddrV6) -> Mallory {
        Mallory {
            me,
            server,
            flood: None,
            replay: None,
            suppress_until: None,
            replayed: None,
            tap_forwarded: 0,
            tap_suppressed: 0,
            own_tx: (0, 0),
            own_rx: (0, 0),
            own_rx_other: 0,
            buf: Vec::new(),
        }
    }

    /// A frame from the client's side of the tap.
    fn upstream(&mut self, now: Instant, frame: &[u8], ports: &mut Ports<'_>) {
        let to_server = parse_udp(frame).filter(|(_, dst, _)| *dst == self.server);
        if let Some((_, _, payload)) = to_server {
            if self.suppress_until.is_some_and(|t| now < t) {
                self.tap_suppressed += 1;
                return;
            }
            if payload[0] & 0xc0 == 0x40
                && let Some(plan) = self.replay.take()
            {
                // The copy, from our own address, over our own (faster) link.
                self.replayed = Some(payload.to_vec());
                let mut copy = Vec::new();
                udp_frame(self.me, self.server, payload, &mut copy);
                ports[2].send(&copy);
                self.own_tx.0 += 1;
                self.own_tx.1 += payload.len() as u64;
                if let Some(d) = plan.suppress {
                    self.suppress_until = Some(now + d.into());
                    self.tap_suppressed += 1;
                    return;
                }
            }
        }
        ports[1].send(frame);
        self.tap_forwarded += 1;
    }
}

impl Node for Mallory {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        while let Some(frame) = ports[0].recv(<[u8]>::to_vec) {
            self.upstream(now, &frame, ports);
        }
        while let Some(frame) = ports[1].recv(<[u8]>::to_vec) {
            ports[0].send(&frame);
            self.tap_forwarded += 1;
        }
        let (me, server) = (self.me, self.server);
        while let Some(udp) = ports[2].recv(|f| {
            parse_udp(f)
                .filter(|(src, dst, _)| *src == server && *dst == me)
                .map(|(_, _, p)| p.len() as u64)
        }) {
            match udp {
                Some(len) => {
                    self.own_rx.0 += 1;
                    self.own_rx.1 += len;
                }
                None => self.own_rx_other += 1,
            }
        }
        if let Some(f) = &mut self.flood
            && f.sent < f.total
            && f.next_at <= now
        {
            f.started.get_or_insert(now);
            let mut payload = Vec::new();
            for _ in 0..BURST.min(f.total - f.sent) {
                (f.make)(f.sent, &mut f.rng, &mut payload);
                let from = spoofed(&mut f.rng);
                udp_frame(from, f.to, &payload, &mut self.buf);
                ports[2].send(&self.buf);
                f.sent += 1;
            }
            f.next_at = now + BURST_EVERY.into();
            if f.sent == f.total {
                f.finished = Some(now);
            }
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.flood
            .as_ref()
            .filter(|f| f.sent < f.total)
            .map(|f| f.next_at)
    }
}

// ----- the network -----

pub struct World {
    pub sim: Sim,
    pub router: NodeId,
    pub server: NodeId,
    pub client: NodeId,
    /// A second client on the second access link (test (c)).
    pub second: Option<NodeId>,
    pub mallory: NodeId,
    pub client_port: PortId,
    /// The client's first access link (client to tap).
    pub l1: LinkId,
    /// The server's link.
    pub l2: LinkId,
    /// The attacker's own link.
    pub l3: LinkId,
    /// The second access link.
    pub l4: LinkId,
    pub server_at: SocketAddr,
    pub server_key: [u8; 32],
    pub attacker_at: SocketAddrV6,
}

pub fn world(seed: u64, second_client: bool) -> World {
    let mut sim = Sim::new(seed);
    let r = sim.add_node("router", router(sim.rng(3), ROUTER_NETS.map(net)));
    let router_ports: Vec<PortId> = ROUTER_NETS.iter().map(|_| sim.add_port(r)).collect();
    let wire = LinkParams::with_latency(Duration::from_millis(1));
    let fast = LinkParams::with_latency(Duration::from_micros(200));

    let server_at = SocketAddrV6::new(host(0x100, 0x10), UDP_PORT, 0, 0);
    let attacker_at = SocketAddrV6::new(host(0xbad, 0x66), ATTACKER_PORT, 0, 0);
    let m = sim.add_node_with("mallory", 3, |_| Mallory::new(attacker_at, server_at));
    let mp = sim.node_ports(m);

    let server_key = keypair(2);
    let server_public = server_key.public();
    let seed_s = sim.rng(2).next_u64();
    let server = sim.add_node_with("server", 1, |p| {
        Peer::new(&mut p[0], server_key, seed_s, HashMap::new())
    });
    let ps = sim.node_ports(server)[0];
    let l2 = sim
        .connect(router_ports[usize::from(R_SERVER)], ps, wire)
        .unwrap();
    let l3 = sim
        .connect(mp[2], router_ports[usize::from(R_ATTACKER)], fast)
        .unwrap();
    sim.connect(mp[1], router_ports[usize::from(R_ACCESS_A)], wire)
        .unwrap();
    let l4 = sim.add_link(wire);
    sim.attach(router_ports[3], l4).unwrap();
    let l1 = sim.add_link(wire);
    sim.attach(mp[0], l1).unwrap();

    let seed_c = sim.rng(1).next_u64();
    let client_addrs = HashMap::from([
        (l1, (host(1, 0x10), host(1, 1))),
        (l4, (host(2, 0x10), host(2, 1))),
    ]);
    let client = sim.add_node_with("client", 1, |p| {
        Peer::new(&mut p[0], keypair(1), seed_c, client_addrs)
    });
    let client_port = sim.node_ports(client)[0];
    sim.attach(client_port, l1).unwrap();
    let second = second_client.then(|| {
        let seed = sim.rng(4).next_u64();
        let addrs = HashMap::from([(l4, (host(2, 0x20), host(2, 1)))]);
        let n = sim.add_node_with("second", 1, |p| {
            Peer::new(&mut p[0], keypair(3), seed, addrs)
        });
        sim.attach(sim.node_ports(n)[0], l4).unwrap();
        n
    });
    // The server is on L2 from the start.
    {
        let s = sim.node_mut::<Peer>(server).unwrap();
        s.addresses.insert(l2, (host(0x100, 0x10), host(0x100, 1)));
    }
    World {
        sim,
        router: r,
        server,
        client,
        second,
        mallory: m,
        client_port,
        l1,
        l2,
        l3,
        l4,
        server_at: SocketAddr::V6(server_at),
        server_key: server_public,
        attacker_at,
    }
}

impl World {
    pub fn peer(&self, n: NodeId) -> &Peer {
        self.sim.node::<Peer>(n).unwrap()
    }

    pub fn mallory(&self) -> &Mallory {
        self.sim.node::<Mallory>(self.mallory).unwrap()
    }

    pub fn mallory_mut(&mut self) -> &mut Mallory {
        self.sim.node_mut::<Mallory>(self.mallory).unwrap()
    }

    pub fn router(&self) -> &Router {
        &self.sim.node::<RouterNode>(self.router).unwrap().router
    }

    pub fn server_stats(&self, h: SessionHandle) -> SessionStats {
        self.peer(self.server).ep.session_stats(h).unwrap()
    }

    pub fn client_addr(&self, n: NodeId) -> SocketAddr {
        let p = self.peer(n);
        let (a, _) = p.addresses[&p.link.unwrap()];
        v6(a, UDP_PORT)
    }

    /// Node `c` connects to the server; returns (client handle, server handle).
    pub fn connect(&mut self, c: NodeId) -> (SessionHandle, SessionHandle) {
        let before = self.peer(self.server).connected().len();
        let (at, key) = (self.server_at, self.server_key);
        self.sim.node_mut::<Peer>(c).unwrap().connect_to = Some((at, key));
        let (server, deadline) = (self.server, self.sim.now() + Duration::from_secs(5).into());
        let done = self.sim.run_until_done(deadline, |sim| {
            let c = sim.node::<Peer>(c).unwrap();
            c.session.is_some_and(|h| c.connected().contains(&h))
                && sim.node::<Peer>(server).unwrap().connected().len() > before
        });
        assert!(done, "connected");
        (
            self.peer(c).session.unwrap(),
            self.peer(self.server).connected()[before],
        )
    }

    /// A datagram each way between client node `c` and the server.
    pub fn datagrams_flow(&mut self, c: NodeId, hc: SessionHandle, hs: SessionHandle, tag: &str) {
        let (nc, ns) = (
            self.peer(c).received(hc).len(),
            self.peer(self.server).received(hs).len(),
        );
        // The client first, so that a server datagram is not sent to an address the client
        // left.
        let from_client = format!("c {tag}").into_bytes();
        let from_server = format!("s {tag}").into_bytes();
        let peer = self.sim.node_mut::<Peer>(c).unwrap();
        peer.ep.send_datagram(hc, &from_client).unwrap();
        self.sim.run_for(Duration::from_millis(50));
        let server = self.server;
        let peer = self.sim.node_mut::<Peer>(server).unwrap();
        peer.ep.send_datagram(hs, &from_server).unwrap();
        self.sim.run_for(Duration::from_millis(100));
        assert_eq!(
            self.peer(self.server).received(hs)[ns..],
            [from_client],
            "server receives ({tag})"
        );
        assert_eq!(
            self.peer(c).received(hc)[nc..],
            [from_server],
            "client receives ({tag})"
        );
    }

    /// Starts a flood of `FLOOD` packets at the server, made by `make`.
    pub fn flood(&mut self, rng: ChaCha8Rng, make: Generator) {
        let now = self.sim.now();
        let to = self.mallory().server;
        self.mallory_mut().flood = Some(Flood {
            to,
            total: FLOOD,
            sent: 0,
            next_at: now,
            rng,
            make,
            started: None,
            finished: None,
        });
    }

    pub fn flood_sent(&self) -> u64 {
        self.mallory().flood.as_ref().map_or(0, |f| f.sent)
    }

    /// Runs until the flood is sent, then `settle` more.
    pub fn run_flood(&mut self, settle: Duration) {
        let m = self.mallory;
        let deadline = self.sim.now() + Duration::from_secs(10).into();
        let done = self.sim.run_until_done(deadline, |sim| {
            let f = sim.node::<Mallory>(m).unwrap().flood.as_ref().unwrap();
            f.sent == f.total
        });
        assert!(done, "flood sent");
        self.sim.run_for(settle);
    }

    /// Frames the simulator dropped on the attacker's way to the server (queues, receive
    /// queues, anything), on the attacker's and the server's links, both ways.
    pub fn frames_dropped_on_the_way(&self) -> u64 {
        [self.l2, self.l3]
            .iter()
            .map(|l| {
                let c = self.sim.link_counters(*l).total();
                c.dropped.total() + c.lost
            })
            .sum()
    }

    /// Packets the router took in from the attacker's link, packets it found no route for,
    /// and all its drops.
    pub fn router_view(&self) -> (u64, u64, u64) {
        let f = self.router().forwarder();
        (
            f.link_counters(RouterLink(R_ATTACKER)).unwrap().rx_packets,
            f.counters().dropped.get(RouterDrop::NoRoute),
            f.counters().dropped.total(),
        )
    }
}
