//! The network of `sim_handover.rs`: two access links for the client, two links for the server,
//! one router between them, every link with the same latency (a quarter of the path RTT) and
//! no loss, no bandwidth limit.
//!
//! ```text
//!  client ─CA (2001:db8:1::/64)─┐          ┌─SA (2001:db8:101::/64)─ server
//!         ─CB (2001:db8:2::/64)─┴─ router ─┴─SB (2001:db8:102::/64)─
//! ```
//!
//! Each peer has one static address per link (`::10`, gateway `::1`), configured the instant
//! its port is attached: no router discovery, no duplicate address detection, so a move costs
//! the session only what the session itself does (`host_driver.rs` shows the phone that
//! forms its address from Router Advertisements; there the new router's random 0-500 ms
//! answer delay comes first).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV6};

use super::simnet::{outer_stack, router};
use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::tunnel::{ReplayConfig, Tunnel};
use bridgeless_roaming::{Endpoint, Event, SessionHandle, SessionStats, StaticKeypair};
use bridgeless_sim::{LinkId, LinkParams, Node, NodeId, PortId, Ports, Sim};
use core::time::Duration;
use rand_core::RngCore;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant};
use smoltcp::wire::{IpAddress, IpCidr, Ipv6Address, Ipv6Cidr};

use crate::tap::{SeqTap, Tap};

pub const UDP_PORT: u16 = 4433;
pub const TCP_PORT: u16 = 443;
/// Application datagrams: this many bytes (a sequence number, then filler)...
pub const DATAGRAM_LEN: usize = 100;
/// ... every this long, each way, on a grid from time 0.
pub const DATAGRAM_EVERY: SmolDuration = SmolDuration::from_millis(5);
/// The TCP receiver's window (and buffer): the bulk stream runs at this much per RTT.
pub const TCP_RX_WINDOW: usize = 16 * 1024;
pub const TCP_TX_BUFFER: usize = 64 * 1024;

/// The router's links, in order: client access A and B, server links A and B.
pub const NETS: [u16; 4] = [1, 2, 0x101, 0x102];
pub const CLIENT_A: usize = 0;
pub const CLIENT_B: usize = 1;
pub const SERVER_A: usize = 2;
pub const SERVER_B: usize = 3;

pub fn net(n: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0)
}

pub fn host(n: u16, h: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, h)
}

/// A peer's address on router link `i`.
pub fn peer_addr(i: usize) -> Ipv6Address {
    host(NETS[i], 0x10)
}

/// The byte at offset `i` of the TCP stream: depends on the position, so a duplicated,
/// missing or reordered byte shows.
pub fn pattern(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (i / 1000) as u8
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Application datagrams both ways, no tunnel.
    Datagrams,
    /// A bulk TCP stream client → server between identities, inside the session's tunnel.
    Tcp,
}

/// A datagram the application queued.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub seq: u64,
    pub at: Instant,
    /// Where the session was sending at that moment.
    pub to: SocketAddr,
}

/// A datagram the application received.
#[derive(Debug, Clone, Copy)]
pub struct Got {
    pub seq: u64,
    pub at: Instant,
    /// The link the receiver's port was on.
    pub link: Option<LinkId>,
}

/// The inner TCP stack of a peer in [`Mode::Tcp`].
pub struct TcpSide {
    pub tunnel: Tunnel,
    pub inner: Interface,
    pub sockets: SocketSet<'static>,
    pub socket: SocketHandle,
    /// What the stack sent and received (read the client's).
    pub tap: RefCell<SeqTap>,
    pub written: u64,
    pub read: u64,
    pub mismatches: u64,
    /// (when, bytes read so far) at each read that returned data (the server's).
    pub deliveries: Vec<(Instant, u64)>,
}

/// An endpoint on an outer smoltcp stack, with the application of its [`Mode`].
pub struct Peer {
    mode: Mode,
    /// How the tunnel replays its tail after a path change (TCP mode).
    replay: ReplayConfig,
    client: bool,
    pub outer: Interface,
    pub outer_sockets: SocketSet<'static>,
    pub driver: SmoltcpDriver,
    pub ep: Endpoint,
    /// Our address on each link the port may be on (the gateway is `::1` there).
    addresses: HashMap<LinkId, Ipv6Address>,
    pub link: Option<LinkId>,
    connect_to: Option<(SocketAddr, [u8; 32])>,
    pub session: Option<SessionHandle>,
    pub events: Vec<(Instant, Event)>,
    seed: u64,
    /// Datagrams are still waiting in the outer UDP socket.
    more: bool,
    // Datagram mode: the next send on the grid, from the first grid point after connecting.
    next_send: Option<Instant>,
    pub sent: Vec<Sent>,
    pub got: Vec<Got>,
    // TCP mode.
    pub tcp: Option<TcpSide>,
}

impl Peer {
    fn new(
        port: &mut bridgeless_sim::Port,
        mode: Mode,
        replay: ReplayConfig,
        key: StaticKeypair,
        seed: u64,
        addresses: HashMap<LinkId, Ipv6Address>,
        connect_to: Option<(SocketAddr, [u8; 32])>,
    ) -> Peer {
        let (outer, outer_sockets, driver, ep) = outer_stack(port, key, seed, UDP_PORT);
        Peer {
            mode,
            replay,
            client: connect_to.is_some(),
            outer,
            outer_sockets,
            driver,
            ep,
            addresses,
            link: None,
            connect_to,
            session: None,
            events: Vec::new(),
            seed,
            more: false,
            next_send: None,
            sent: Vec::new(),
            got: Vec::new(),
            tcp: None,
        }
    }

    /// The port moved: take the new link's address at once (static addressing).
    fn follow_link(&mut self, port: &bridgeless_sim::Port) {
        if port.link() == self.link {
            return;
        }
        self.link = port.link();
        let Some(&addr) = self.link.and_then(|l| self.addresses.get(&l)) else {
            return;
        };
        let mut gw = addr.octets();
        gw[15] = 1;
        self.outer.update_ip_addrs(|a| {
            a.clear();
            a.push(IpCidr::Ipv6(Ipv6Cidr::new(addr, 64))).unwrap();
        });
        self.outer.routes_mut().remove_default_ipv6_route();
        self.outer
            .routes_mut()
            .add_default_ipv6_route(Ipv6Address::from(gw))
            .unwrap();
    }

    pub fn stats(&self) -> Option<SessionStats> {
        self.session.and_then(|h| self.ep.session_stats(h))
    }

    pub fn connected(&self) -> bool {
        self.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Connected { .. }))
    }

    fn open_tunnel(&mut self, now: Instant, h: SessionHandle) {
        let mut tunnel = Tunnel::new(&self.ep, h).unwrap();
        // The session's AEAD covers every byte: skip smoltcp's checksums (both ends are smoltcp).
        tunnel.set_checksum_offload(true);
        tunnel.set_replay(self.replay);
        let mut inner = tunnel.interface(&mut self.ep, now, self.seed ^ 0x5a5a);
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_RX_WINDOW]),
            tcp::SocketBuffer::new(vec![0; TCP_TX_BUFFER]),
        );
        socket.set_nagle_enabled(false);
        if self.client {
            let peer = IpAddress::Ipv6(tunnel.peer_address());
            socket
                .connect(inner.context(), (peer, TCP_PORT), 49_152)
                .unwrap();
        } else {
            socket.listen(TCP_PORT).unwrap();
        }
        let mut sockets = SocketSet::new(Vec::new());
        let socket = sockets.add(socket);
        self.tcp = Some(TcpSide {
            tunnel,
            inner,
            sockets,
            socket,
            tap: RefCell::default(),
            written: 0,
            read: 0,
            mismatches: 0,
            deliveries: Vec::new(),
        });
    }

    fn events(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        while let Some((h, e)) = self.ep.poll_event() {
            match e {
                Event::DatagramsReadable => {
                    // In TCP mode the tunnel reads them.
                    if self.mode == Mode::Datagrams {
                        while let Some(n) = self.ep.recv_datagram(h, &mut buf) {
                            let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
                            assert_eq!(n, DATAGRAM_LEN);
                            self.got.push(Got {
                                seq,
                                at: now,
                                link: self.link,
                            });
                        }
                    }
                    continue;
                }
                Event::Connected { .. } => {
                    self.session.get_or_insert(h);
                    if self.mode == Mode::Tcp && self.tcp.is_none() {
                        self.open_tunnel(now, h);
                    }
                }
                _ => {}
            }
            self.events.push((now, e));
        }
    }

    /// Datagram mode: queue the datagrams that are due (on the grid, once connected).
    fn send_datagrams(&mut self, now: Instant) {
        let Some(h) = self.session.filter(|_| self.connected()) else {
            return;
        };
        let every = DATAGRAM_EVERY.total_micros();
        let next = self.next_send.get_or_insert_with(|| {
            let t = now.total_micros() as u64;
            Instant::from_micros((t.div_ceil(every) * every) as i64)
        });
        while *next <= now {
            let seq = self.sent.len() as u64;
            let mut d = [0x5au8; DATAGRAM_LEN];
            d[..8].copy_from_slice(&seq.to_be_bytes());
            self.ep.send_datagram(h, &d).unwrap();
            let to = self.ep.session_stats(h).unwrap().remote;
            self.sent.push(Sent { seq, at: now, to });
            *next += DATAGRAM_EVERY;
        }
    }

    fn inner_poll(&mut self, now: Instant) {
        if let Some(t) = &mut self.tcp {
            let mut dev = Tap {
                inner: t.tunnel.device(&mut self.ep),
                tap: &t.tap,
                now,
            };
            t.inner.poll(now, &mut dev, &mut t.sockets);
        }
    }

    /// TCP mode: the client keeps its send buffer full, the server reads and checks.
    fn tcp_app(&mut self, now: Instant) {
        let client = self.client;
        let Some(t) = &mut self.tcp else { return };
        let socket = t.sockets.get_mut::<tcp::Socket<'_>>(t.socket);
        if client {
            while socket.can_send() {
                let start = t.written;
                let n = socket
                    .send(|buf| {
                        for (i, b) in buf.iter_mut().enumerate() {
                            *b = pattern(start + i as u64);
                        }
                        (buf.len(), buf.len())
                    })
                    .unwrap();
                if n == 0 {
                    break;
                }
                t.written += n as u64;
            }
        } else {
            let mut got = 0;
            while socket.can_recv() {
                let start = t.read;
                let mut bad = 0;
                let n = socket
                    .recv(|buf| {
                        for (i, &b) in buf.iter().enumerate() {
                            bad += u64::from(b != pattern(start + i as u64));
                        }
                        (buf.len(), buf.len())
                    })
                    .unwrap();
                if n == 0 {
                    break;
                }
                t.read += n as u64;
                t.mismatches += bad;
                got += n;
            }
            if got > 0 {
                t.deliveries.push((now, t.read));
            }
        }
    }

    fn has_backlog(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.tunnel.has_backlog())
    }

    pub fn tcp_state(&self) -> Option<tcp::State> {
        let t = self.tcp.as_ref()?;
        Some(t.sockets.get::<tcp::Socket<'_>>(t.socket).state())
    }
}

impl Node for Peer {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        self.follow_link(port);
        if let Some((server, key)) = self.connect_to.take() {
            let h = self.ep.connect(now, server, key).unwrap();
            self.session = Some(h);
        }
        // Until the socket is drained and nothing more goes out: every `outer.poll` sends all
        // the UDP socket holds (a simulator port never refuses a frame).
        for _ in 0..16 {
            self.outer.poll(now, port, &mut self.outer_sockets);
            let before = self.driver.counters();
            self.more = self
                .driver
                .poll(now, &self.outer, &mut self.outer_sockets, &mut self.ep);
            self.events(now);
            if self.mode == Mode::Datagrams {
                self.send_datagrams(now);
            }
            self.inner_poll(now);
            self.tcp_app(now);
            self.inner_poll(now);
            self.more |= self
                .driver
                .poll(now, &self.outer, &mut self.outer_sockets, &mut self.ep);
            self.events(now);
            self.outer.poll(now, port, &mut self.outer_sockets);
            if !self.more && !self.has_backlog() && self.driver.counters() == before {
                break;
            }
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more || self.has_backlog() || self.connect_to.is_some() {
            return Some(now);
        }
        let send = self.next_send;
        let inner = self
            .tcp
            .as_mut()
            .and_then(|t| t.inner.poll_at(now, &t.sockets));
        [
            self.outer.poll_at(now, &self.outer_sockets),
            inner,
            self.ep.poll_timeout(),
            send,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

pub struct World {
    pub sim: Sim,
    pub client: NodeId,
    pub server: NodeId,
    /// Router link `i` (see [`NETS`]).
    pub links: [LinkId; 4],
    pub client_port: PortId,
    pub server_port: PortId,
}

/// The network with every link at `rtt / 4` one way; the client on CA connects to the
/// server on SA at once. Tunnels replay their tail as `replay` says (TCP mode).
pub fn world(mode: Mode, rtt: Duration, seed: u64, replay: ReplayConfig) -> World {
    let mut sim = Sim::new(seed);
    let r = sim.add_node("router", router(sim.rng(3), NETS.map(net)));
    let params = LinkParams {
        latency: rtt / 4,
        // Unlimited: the path RTT is the propagation delay alone, and no queue forms.
        bandwidth_bps: 0,
        ..LinkParams::default()
    };
    let links: [LinkId; 4] = core::array::from_fn(|_| {
        let port = sim.add_port(r);
        let l = sim.add_link(params);
        sim.attach(port, l).unwrap();
        l
    });
    let addresses = |ix: [usize; 2]| -> HashMap<LinkId, Ipv6Address> {
        ix.into_iter().map(|i| (links[i], peer_addr(i))).collect()
    };
    let server_key = StaticKeypair::from_private([2; 32]);
    let server_public = server_key.public();
    let server_at = SocketAddr::V6(SocketAddrV6::new(peer_addr(SERVER_A), UDP_PORT, 0, 0));
    let (seed_c, seed_s) = (sim.rng(1).next_u64(), sim.rng(2).next_u64());
    let server_addrs = addresses([SERVER_A, SERVER_B]);
    let server = sim.add_node_with("server", 1, |p| {
        Peer::new(
            &mut p[0],
            mode,
            replay,
            server_key,
            seed_s,
            server_addrs,
            None,
        )
    });
    let client_addrs = addresses([CLIENT_A, CLIENT_B]);
    let client = sim.add_node_with("client", 1, |p| {
        Peer::new(
            &mut p[0],
            mode,
            replay,
            StaticKeypair::from_private([1; 32]),
            seed_c,
            client_addrs,
            Some((server_at, server_public)),
        )
    });
    let (client_port, server_port) = (sim.node_ports(client)[0], sim.node_ports(server)[0]);
    sim.attach(client_port, links[CLIENT_A]).unwrap();
    sim.attach(server_port, links[SERVER_A]).unwrap();
    World {
        sim,
        client,
        server,
        links,
        client_port,
        server_port,
    }
}

impl World {
    pub fn peer(&self, n: NodeId) -> &Peer {
        self.sim.node::<Peer>(n).unwrap()
    }
}
