//! A TCP connection over a roaming session, in the deterministic simulator: 10 MB from client
//! to server while the client moves to a new access link (and address) five times and the
//! server once, over links that lose, reorder and duplicate 10 % of the frames.
//!
//! ```text
//!  client ─C0..C5─┐                 ┌─S0/S1─ server
//!  (moves C0→C5)  └──── router ─────┘        (moves S0→S1)
//!  2001:db8:k::10/64                2001:db8:10k::10/64
//! ```
//!
//! Each peer is an unmodified smoltcp stack twice over: an outer `Interface` on its simulator
//! port with a UDP socket ([`SmoltcpDriver`]), and an inner `Interface` on a [`Tunnel`] with a
//! TCP socket between the two identity addresses. The router is the iface crate's.

mod simnet;

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV6};

use simnet::{outer_stack, router};

use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::tunnel::Tunnel;
use bridgeless_roaming::{
    CloseReason, Endpoint, Event, SessionHandle, SessionStats, StaticKeypair,
};
use bridgeless_sim::{Action, LinkId, LinkParams, Node, NodeId, Port, Ports, Sim};
use core::time::Duration;
use rand_core::RngCore;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpCidr, Ipv6Address, Ipv6Cidr};

const SIZE: usize = 10 * 1000 * 1000;
const TCP_PORT: u16 = 443;
const UDP_PORT: u16 = 4433;
/// The server's receive window. smoltcp's TCP goes back N on every retransmission, keeps
/// at most 4 out-of-order ranges, and doubles its retransmission timeout for as long as it
/// only retransmits (Karn's rule): with 10 % loss, a window of hundreds of segments holds
/// more holes than it can track and the timeout backs off to a minute. A window of about
/// dozen segments keeps the holes per window within reach of fast retransmit (measured:
/// 16 KiB finishes in 1,873 s of virtual time and 26 s of wall time in a debug build, 32 KiB
/// in 7,092 s and 32 s, 64 KiB in 10,822 s and 41 s; 512 KiB had not finished after 3,600 s).
const RX_WINDOW: usize = 16 * 1024;
const CLIENT_LINKS: u16 = 6;
const SERVER_LINKS: u16 = 2;

/// The byte at offset `i` of the stream: depends on the position, so a duplicated, missing or
/// reordered byte shows.
fn pattern(i: usize) -> u8 {
    let x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (i / 1000) as u8
}

fn net(n: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0)
}

fn host(n: u16, h: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, h)
}

/// Router link `i`: client access links are nets 1..=6, server links 101..=102.
fn link_net(i: u16) -> u16 {
    if i < CLIENT_LINKS {
        1 + i
    } else {
        101 + i - CLIENT_LINKS
    }
}

/// A peer: outer stack, endpoint, tunnel, inner stack, and the application.
struct Peer {
    outer: Interface,
    outer_sockets: SocketSet<'static>,
    driver: SmoltcpDriver,
    ep: Endpoint,
    /// Outer address and gateway for each link the port may be on.
    addresses: HashMap<LinkId, (Ipv6Address, Ipv6Address)>,
    link: Option<LinkId>,
    /// For the client: the server's locator and key, until connected.
    server: Option<(SocketAddr, [u8; 32])>,
    session: Option<SessionHandle>,
    tunnel: Option<Tunnel>,
    inner: Option<Interface>,
    inner_sockets: SocketSet<'static>,
    tcp: Option<SocketHandle>,
    seed: u64,
    // Application.
    written: usize,
    received: usize,
    mismatches: usize,
    eof: bool,
    events: Vec<Event>,
    closed: Option<CloseReason>,
    final_stats: Option<SessionStats>,
    /// Datagrams are still waiting in the outer UDP socket.
    more: bool,
}

impl Peer {
    fn new(
        port: &mut Port,
        key: StaticKeypair,
        seed: u64,
        addresses: HashMap<LinkId, (Ipv6Address, Ipv6Address)>,
        server: Option<(SocketAddr, [u8; 32])>,
    ) -> Peer {
        let (outer, outer_sockets, driver, ep) = outer_stack(port, key, seed, UDP_PORT);
        Peer {
            outer,
            outer_sockets,
            driver,
            ep,
            addresses,
            link: None,
            server,
            session: None,
            tunnel: None,
            inner: None,
            inner_sockets: SocketSet::new(Vec::new()),
            tcp: None,
            seed,
            written: 0,
            received: 0,
            mismatches: 0,
            eof: false,
            events: Vec::new(),
            closed: None,
            final_stats: None,
            more: false,
        }
    }

    fn is_client(&self) -> bool {
        self.tcp.is_some() && self.server.is_some()
    }

    /// The port moved: take the new link's address (as a host would from its router).
    fn follow_link(&mut self, port: &Port) {
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

    /// Build the tunnel, the inner interface and the TCP socket for session `h`.
    fn open_tunnel(&mut self, now: Instant, h: SessionHandle, client: bool) {
        let mut tunnel = Tunnel::new(&self.ep, h).unwrap();
        let mut inner = tunnel.interface(&mut self.ep, now, self.seed ^ 0x5a5a);
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; RX_WINDOW]),
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
        );
        socket.set_nagle_enabled(false);
        if client {
            let peer = IpAddress::Ipv6(tunnel.peer_address());
            socket
                .connect(inner.context(), (peer, TCP_PORT), 49_152)
                .unwrap();
        } else {
            socket.listen(TCP_PORT).unwrap();
        }
        self.tcp = Some(self.inner_sockets.add(socket));
        self.session = Some(h);
        self.tunnel = Some(tunnel);
        self.inner = Some(inner);
    }

    fn events(&mut self, now: Instant) {
        while let Some((h, e)) = self.ep.poll_event() {
            match e {
                Event::Connected { .. } if self.session.is_none() => {
                    self.open_tunnel(now, h, false);
                }
                Event::Closed(reason) => {
                    self.closed = Some(reason);
                }
                Event::DatagramsReadable => continue, // the tunnel reads them
                _ => {}
            }
            self.events.push(e);
        }
    }

    fn inner_poll(&mut self, now: Instant) {
        if let (Some(t), Some(i)) = (&mut self.tunnel, &mut self.inner) {
            i.poll(now, &mut t.device(&mut self.ep), &mut self.inner_sockets);
        }
    }

    fn app(&mut self) {
        let Some(h) = self.tcp else { return };
        let client = self.is_client();
        let socket = self.inner_sockets.get_mut::<tcp::Socket<'_>>(h);
        if client {
            while socket.can_send() && self.written < SIZE {
                let start = self.written;
                let n = socket
                    .send(|buf| {
                        let n = buf.len().min(SIZE - start);
                        for (i, b) in buf[..n].iter_mut().enumerate() {
                            *b = pattern(start + i);
                        }
                        (n, n)
                    })
                    .unwrap();
                self.written += n;
                if n == 0 {
                    break;
                }
            }
            if self.written == SIZE {
                socket.close();
            }
        } else {
            while socket.can_recv() {
                let start = self.received;
                let mut bad = 0;
                let n = socket
                    .recv(|buf| {
                        for (i, b) in buf.iter().enumerate() {
                            bad += usize::from(*b != pattern(start + i));
                        }
                        (buf.len(), buf.len())
                    })
                    .unwrap();
                self.mismatches += bad;
                self.received += n;
            }
            if !socket.may_recv() && self.received > 0 {
                self.eof = true;
            }
        }
    }
}

impl Node for Peer {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        self.follow_link(port);
        self.outer.poll(now, port, &mut self.outer_sockets);
        if self.session.is_none()
            && let Some((server, key)) = self.server
        {
            let h = self.ep.connect(now, server, key).unwrap();
            self.open_tunnel(now, h, true);
        }
        self.more = self
            .driver
            .poll(now, &self.outer, &mut self.outer_sockets, &mut self.ep);
        self.events(now);
        for _ in 0..4 {
            self.inner_poll(now);
            self.app();
            self.inner_poll(now);
            self.more = self
                .driver
                .poll(now, &self.outer, &mut self.outer_sockets, &mut self.ep);
            self.events(now);
            self.outer.poll(now, port, &mut self.outer_sockets);
            if !self.more && !self.tunnel.as_ref().is_some_and(Tunnel::has_backlog) {
                break;
            }
        }
        if let Some(s) = self.session.and_then(|h| self.ep.session_stats(h)) {
            self.final_stats = Some(s);
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more || self.tunnel.as_ref().is_some_and(Tunnel::has_backlog) {
            return Some(now);
        }
        let inner = self
            .inner
            .as_mut()
            .and_then(|i| i.poll_at(now, &self.inner_sockets));
        [
            self.outer.poll_at(now, &self.outer_sockets),
            inner,
            self.ep.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What a run left behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    received: usize,
    mismatches: usize,
    eof: bool,
    finished_at: Instant,
    client_closed: Option<CloseReason>,
    server_closed: Option<CloseReason>,
    client_stats: SessionStats,
    server_stats: SessionStats,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    client_tunnel: bridgeless_roaming::tunnel::TunnelCounters,
    server_tunnel: bridgeless_roaming::tunnel::TunnelCounters,
    client_moves: u64,
    server_moves: u64,
    lost: u64,
    duplicated: u64,
}

fn run(seed: u64) -> Outcome {
    let wall = std::time::Instant::now();
    let mut sim = Sim::new(seed);
    let nets = (0..CLIENT_LINKS + SERVER_LINKS).map(|i| net(link_net(i)));
    let r = sim.add_node("router", router(sim.rng(3), nets));
    let router_ports: Vec<_> = (0..CLIENT_LINKS + SERVER_LINKS)
        .map(|_| sim.add_port(r))
        .collect();
    let lossy = LinkParams {
        latency: Duration::from_millis(5),
        bandwidth_bps: 100_000_000,
        loss: 0.10,
        reorder: 0.10,
        reorder_delay: Duration::from_millis(3),
        duplication: 0.10,
        ..LinkParams::default()
    };
    let clean = LinkParams {
        latency: Duration::from_millis(5),
        bandwidth_bps: 1_000_000_000,
        ..LinkParams::default()
    };
    let links: Vec<LinkId> = (0..CLIENT_LINKS + SERVER_LINKS)
        .map(|i| {
            let l = sim.add_link(if i < CLIENT_LINKS { lossy } else { clean });
            sim.attach(router_ports[usize::from(i)], l).unwrap();
            l
        })
        .collect();
    let addresses = |range: core::ops::Range<u16>| -> HashMap<LinkId, (Ipv6Address, Ipv6Address)> {
        range
            .map(|i| {
                let n = link_net(i);
                (links[usize::from(i)], (host(n, 0x10), host(n, 1)))
            })
            .collect()
    };
    let server_key = StaticKeypair::from_private([2; 32]);
    let server_public = server_key.public();
    let server_at = SocketAddr::V6(SocketAddrV6::new(host(101, 0x10), UDP_PORT, 0, 0));
    let (seed_c, seed_s) = (sim.rng(1).next_u64(), sim.rng(2).next_u64());
    let server_addrs = addresses(CLIENT_LINKS..CLIENT_LINKS + SERVER_LINKS);
    let server: NodeId = sim.add_node_with("server", 1, |p| {
        Peer::new(&mut p[0], server_key, seed_s, server_addrs, None)
    });
    let client_addrs = addresses(0..CLIENT_LINKS);
    let client: NodeId = sim.add_node_with("client", 1, |p| {
        Peer::new(
            &mut p[0],
            StaticKeypair::from_private([1; 32]),
            seed_c,
            client_addrs,
            Some((server_at, server_public)),
        )
    });
    let (pc, ps) = (sim.node_ports(client)[0], sim.node_ports(server)[0]);
    sim.attach(pc, links[0]).unwrap();
    sim.attach(ps, links[usize::from(CLIENT_LINKS)]).unwrap();

    // Moves at fixed points of the transfer: the client at 1/7, 2/7, 3/7, 5/7 and 6/7 of
    // the data, the server at 4/7.
    let mut client_link = 0usize;
    // Virtual time is free: smoltcp's retransmission timeout backs off to a minute at times.
    let deadline = Instant::from_secs(100_000);
    for k in 1..7 {
        let done = sim.run_until_done(deadline, |sim| {
            sim.node::<Peer>(server).unwrap().received >= SIZE * k / 7
        });
        assert!(
            done,
            "{} bytes by {}\n{}",
            sim.node::<Peer>(server).unwrap().received,
            sim.now(),
            dump(&sim, client, server)
        );
        let action = if k == 4 {
            Action::Move(ps, links[usize::from(CLIENT_LINKS) + 1])
        } else {
            client_link += 1;
            Action::Move(pc, links[client_link])
        };
        sim.apply(action).unwrap();
    }
    let finished = sim.run_until_done(deadline, |sim| {
        let s = sim.node::<Peer>(server).unwrap();
        s.eof && s.received >= SIZE
    });
    assert!(finished, "transfer finished by {}", sim.now());
    let finished_at = sim.now();
    // Let the last acknowledgments and the FIN exchange settle.
    sim.run_for(Duration::from_millis(500));
    let mut lost = 0;
    let mut duplicated = 0;
    for l in &links[..usize::from(CLIENT_LINKS)] {
        let c = sim.link_counters(*l).total();
        lost += c.lost;
        duplicated += c.duplicated;
    }
    let c = sim.node::<Peer>(client).unwrap();
    let s = sim.node::<Peer>(server).unwrap();
    let outcome = Outcome {
        received: s.received,
        mismatches: s.mismatches,
        eof: s.eof,
        finished_at,
        client_closed: c.closed,
        server_closed: s.closed,
        client_stats: c.final_stats.unwrap(),
        server_stats: s.final_stats.unwrap(),
        client_events: c.events.clone(),
        server_events: s.events.clone(),
        client_tunnel: c.tunnel.as_ref().unwrap().counters(),
        server_tunnel: s.tunnel.as_ref().unwrap().counters(),
        client_moves: c.driver.counters().address_changes,
        server_moves: s.driver.counters().address_changes,
        lost,
        duplicated,
    };
    eprintln!(
        "seed {seed}: {:.1} s wall time",
        wall.elapsed().as_secs_f64()
    );
    outcome
}

fn dump(sim: &Sim, client: NodeId, server: NodeId) -> String {
    let mut out = String::new();
    for (name, id) in [("client", client), ("server", server)] {
        let p = sim.node::<Peer>(id).unwrap();
        let tcp = p.tcp.map(|h| {
            let s = p.inner_sockets.get::<tcp::Socket<'_>>(h);
            format!(
                "{:?} send_queue {} recv_queue {} backlog {:?}\n{s:?}",
                s.state(),
                s.send_queue(),
                s.recv_queue(),
                p.tunnel.as_ref().map(Tunnel::has_backlog)
            )
        });
        let drops: Vec<_> = bridgeless_roaming::DropReason::ALL
            .iter()
            .map(|r| (*r, p.ep.dropped(*r)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out += &format!(
            "{name} port {:?}\n drops {drops:?}\n",
            sim.port_counters(sim.node_ports(id)[0])
        );
        out += &format!(
            "{name}: closed {:?} tcp {tcp:?}\n stats {:?}\n tunnel {:?}\n driver {:?} outer {:?}\n events {:?}\n",
            p.closed,
            p.final_stats,
            p.tunnel.as_ref().map(Tunnel::counters),
            p.driver.counters(),
            p.outer.ip_addrs(),
            &p.events[p.events.len().saturating_sub(12)..],
        );
    }
    out
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[test]
fn ten_megabytes_survive_six_moves_over_lossy_links() {
    let o = run(7);
    eprintln!(
        "finished at {} (virtual); link faults: {} lost, {} duplicated",
        o.finished_at, o.lost, o.duplicated
    );
    eprintln!("client session: {:?}", o.client_stats);
    eprintln!("server session: {:?}", o.server_stats);
    eprintln!("client tunnel: {:?}", o.client_tunnel);
    eprintln!("server tunnel: {:?}", o.server_tunnel);
    assert_eq!(o.received, SIZE, "every byte arrived once");
    assert_eq!(o.mismatches, 0, "in order, none duplicated or altered");
    assert!(o.eof, "and the stream ended where it should");
    assert_eq!(o.client_closed, None, "no session error at the client");
    assert_eq!(o.server_closed, None, "no session error at the server");
    assert!(o.lost > 1000 && o.duplicated > 1000, "the links were lossy");
    // The client told its endpoint about each of its 5 moves, the server about its one.
    assert_eq!(o.client_moves, 5);
    assert_eq!(o.server_moves, 1);
    // The server followed the client 5 times, the client followed the server once; every new
    // address was validated.
    assert!(o.server_stats.migrations >= 5, "{:?}", o.server_stats);
    assert!(o.client_stats.migrations >= 1, "{:?}", o.client_stats);
    assert!(o.server_stats.validations >= 5, "{:?}", o.server_stats);
    assert!(o.client_stats.validations >= 1, "{:?}", o.client_stats);
    assert!(o.client_stats.remote_validated && o.server_stats.remote_validated);
    // Every path had fresh identifiers in both directions (RFC 9000 §9.5): NEW_ID and
    // RETIRE_ID frames lost on the way were sent again until acknowledged.
    assert_eq!(o.client_stats.id_reuses, 0, "{:?}", o.client_stats);
    assert_eq!(o.server_stats.id_reuses, 0, "{:?}", o.server_stats);
    assert!(o.client_stats.frames_repeated + o.server_stats.frames_repeated > 0);
    assert_eq!(
        count(&o.server_events, |e| matches!(
            e,
            Event::PeerAddressChanged { .. }
        )) as u64,
        o.server_stats.migrations
    );
    // The inner packets went compressed, and all were accepted.
    assert!(o.client_tunnel.tx_compressed * 10 > o.client_tunnel.tx_packets * 9);
    assert_eq!(
        o.server_tunnel.rx_malformed + o.server_tunnel.rx_wrong_source,
        0
    );
    assert_eq!(o.client_tunnel.tx_dropped_session, 0);
}
