//! TCP inside the tunnel over a lossy radio link, against the same TCP without the tunnel.
//!
//! The `bridgeless demo` setup (`cli/src/demo`), reduced to what matters: a phone on a radio
//! link (2 ms, 20 Mbit/s, 2 % loss) streams 1 Mbit/s to a server behind a router (1 ms,
//! 100 Mbit/s), writing what the rate allows whenever it is polled and at least every 10 ms,
//! with 128 KiB TCP buffers and Nagle off. The phone and the server poll their stacks in the
//! demo's order: outer interface, driver, inner interface, application, inner interface and
//! driver again, outer interface.
//!
//! ```text
//!  phone ─radio (2 % loss)─ router ─wired─ server
//!  2001:db8:1::10                          2001:db8:2::10
//! ```
//!
//! The same stream runs once as TCP between identity addresses over a roaming session and
//! once as plain smoltcp TCP between the outer addresses: the tunnel must not stall where
//! plain TCP does not.

mod simnet;

use std::net::{SocketAddr, SocketAddrV6};

use simnet::router;

use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::tunnel::{Tunnel, TunnelCounters};
use bridgeless_roaming::{Config, DropReason, Endpoint, Event, SessionHandle, StaticKeypair};
use bridgeless_sim::{LinkParams, Node, NodeId, Ports, Sim};
use core::time::Duration;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SmolDuration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv6Address, Ipv6Cidr};

const TCP_PORT: u16 = 443;
const UDP_PORT: u16 = 4433;
const TCP_BUFFER: usize = 128 * 1024;
const RATE_BYTES_PER_SEC: u64 = 1_000_000 / 8;
const WRITE_TICK: SmolDuration = SmolDuration::from_millis(10);
const STREAM_FROM: Instant = Instant::from_millis_const(1000);
const STREAM_FOR: SmolDuration = SmolDuration::from_secs(20);

fn pattern(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (i / 1000) as u8
}

fn addr(n: u16, h: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, h)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// TCP between identities inside a roaming session.
    Tunnel,
    /// TCP between the outer addresses.
    Direct,
}

/// The roaming part of a peer.
struct Roaming {
    ep: Endpoint,
    driver: SmoltcpDriver,
    session: Option<SessionHandle>,
    tunnel: Option<Tunnel>,
    inner: Option<Interface>,
    inner_sockets: SocketSet<'static>,
    seed: u64,
}

struct Peer {
    mode: Mode,
    client: bool,
    outer: Interface,
    outer_sockets: SocketSet<'static>,
    roaming: Option<Roaming>,
    server_key: [u8; 32],
    tcp: Option<SocketHandle>,
    // Application.
    started: bool,
    written: u64,
    read: u64,
    mismatches: u64,
    next_tick: Instant,
    /// (when, bytes) read by the server.
    deliveries: Vec<(Instant, usize)>,
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    s.set_nagle_enabled(false);
    s
}

impl Peer {
    fn new(
        port: &mut bridgeless_sim::Port,
        mode: Mode,
        client: bool,
        key: StaticKeypair,
        server_key: [u8; 32],
        seed: u64,
    ) -> Peer {
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut outer = Interface::new(config, port, Instant::ZERO);
        let (me, gw) = if client {
            (addr(1, 0x10), addr(1, 1))
        } else {
            (addr(2, 0x10), addr(2, 1))
        };
        outer.update_ip_addrs(|a| {
            a.push(IpCidr::Ipv6(Ipv6Cidr::new(me, 64))).unwrap();
        });
        outer.routes_mut().add_default_ipv6_route(gw).unwrap();
        let mut outer_sockets = SocketSet::new(Vec::new());
        let mut tcp = None;
        let roaming = match mode {
            Mode::Tunnel => {
                let config = Config::default();
                let driver =
                    SmoltcpDriver::new(&mut outer_sockets, UDP_PORT, 64, config.max_udp_payload);
                let mut rng_seed = [0u8; 32];
                rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
                Some(Roaming {
                    ep: Endpoint::new(config, key, rng_seed).unwrap(),
                    driver,
                    session: None,
                    tunnel: None,
                    inner: None,
                    inner_sockets: SocketSet::new(Vec::new()),
                    seed,
                })
            }
            Mode::Direct => {
                let mut s = tcp_socket();
                if !client {
                    s.listen(TCP_PORT).unwrap();
                }
                tcp = Some(outer_sockets.add(s));
                None
            }
        };
        Peer {
            mode,
            client,
            outer,
            outer_sockets,
            roaming,
            server_key,
            tcp,
            started: false,
            written: 0,
            read: 0,
            mismatches: 0,
            next_tick: STREAM_FROM,
            deliveries: Vec::new(),
        }
    }

    fn socket(&mut self) -> Option<&mut tcp::Socket<'static>> {
        let h = self.tcp?;
        Some(match &mut self.roaming {
            Some(r) => r.inner_sockets.get_mut::<tcp::Socket<'static>>(h),
            None => self.outer_sockets.get_mut::<tcp::Socket<'static>>(h),
        })
    }

    fn open_tunnel(&mut self, now: Instant, h: SessionHandle) {
        let Some(r) = &mut self.roaming else { return };
        let mut tunnel = Tunnel::new(&r.ep, h).unwrap();
        tunnel.set_checksum_offload(true);
        let mut inner = tunnel.interface(&mut r.ep, now, r.seed ^ 0x5a5a);
        let mut socket = tcp_socket();
        if self.client {
            let peer = IpAddress::Ipv6(tunnel.peer_address());
            socket
                .connect(inner.context(), (peer, TCP_PORT), 49_152)
                .unwrap();
        } else {
            socket.listen(TCP_PORT).unwrap();
        }
        self.tcp = Some(r.inner_sockets.add(socket));
        r.session = Some(h);
        r.tunnel = Some(tunnel);
        r.inner = Some(inner);
    }

    fn events(&mut self, now: Instant) {
        let Some(r) = &mut self.roaming else { return };
        let mut connected = None;
        while let Some((h, e)) = r.ep.poll_event() {
            if matches!(e, Event::Connected { .. }) && r.session.is_none() {
                connected = Some(h);
            }
        }
        if let Some(h) = connected {
            self.open_tunnel(now, h);
        }
    }

    fn inner_poll(&mut self, now: Instant) {
        if let Some(r) = &mut self.roaming
            && let (Some(t), Some(i)) = (&mut r.tunnel, &mut r.inner)
        {
            i.poll(now, &mut t.device(&mut r.ep), &mut r.inner_sockets);
        }
    }

    fn drive(&mut self, now: Instant) {
        if let Some(r) = &mut self.roaming {
            r.driver
                .poll(now, &self.outer, &mut self.outer_sockets, &mut r.ep);
        }
    }

    fn start(&mut self, now: Instant) {
        if self.started || !self.client || now < STREAM_FROM {
            return;
        }
        self.started = true;
        let server = addr(2, 0x10);
        match self.mode {
            Mode::Tunnel => {
                let remote = SocketAddr::V6(SocketAddrV6::new(server, UDP_PORT, 0, 0));
                let key = self.server_key;
                let r = self.roaming.as_mut().unwrap();
                let h = r.ep.connect(now, remote, key).unwrap();
                self.open_tunnel(now, h);
            }
            Mode::Direct => {
                let cx = self.outer.context();
                let h = self.tcp.unwrap();
                self.outer_sockets
                    .get_mut::<tcp::Socket<'static>>(h)
                    .connect(cx, (IpAddress::Ipv6(server), TCP_PORT), 49_152)
                    .unwrap();
            }
        }
    }

    /// The phone writes what the rate allows; the server reads and checks.
    fn app(&mut self, now: Instant) {
        if self.client {
            if !self.started {
                return;
            }
            if now < self.next_tick {
                return;
            }
            let until = now.min(STREAM_FROM + STREAM_FOR);
            let target = RATE_BYTES_PER_SEC * (until - STREAM_FROM).total_micros() / 1_000_000;
            let mut written = self.written;
            let Some(socket) = self.socket() else { return };
            let mut chunk = [0u8; 4096];
            while written < target && socket.can_send() {
                let n = ((target - written) as usize).min(chunk.len());
                for (i, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern(written + i as u64);
                }
                match socket.send_slice(&chunk[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(sent) => written += sent as u64,
                }
            }
            self.written = written;
        } else {
            let (mut read, mut bad) = (self.read, 0);
            let Some(socket) = self.socket() else { return };
            let mut got = 0;
            while socket.can_recv() {
                let n = socket
                    .recv(|buf| {
                        for (i, &b) in buf.iter().enumerate() {
                            bad += u64::from(b != pattern(read + i as u64));
                        }
                        (buf.len(), buf.len())
                    })
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                read += n as u64;
                got += n;
            }
            self.read = read;
            self.mismatches += bad;
            if got > 0 {
                self.deliveries.push((now, got));
            }
        }
    }

    fn has_backlog(&self) -> bool {
        self.roaming
            .as_ref()
            .and_then(|r| r.tunnel.as_ref())
            .is_some_and(Tunnel::has_backlog)
    }
}

impl Node for Peer {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        self.outer.poll(now, port, &mut self.outer_sockets);
        self.start(now);
        // Receive.
        self.drive(now);
        self.events(now);
        self.inner_poll(now);
        self.app(now);
        // Transmit: a frame held back by a full session queue goes in once the endpoint sent.
        for _ in 0..4 {
            self.inner_poll(now);
            self.drive(now);
            if !self.has_backlog() {
                break;
            }
        }
        self.events(now);
        self.outer.poll(now, port, &mut self.outer_sockets);
        if now >= self.next_tick {
            self.next_tick = now + WRITE_TICK;
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.has_backlog() {
            return Some(now);
        }
        let tick = (self.client && now < STREAM_FROM + STREAM_FOR).then_some(self.next_tick);
        let (inner, ep) = match &mut self.roaming {
            Some(r) => (
                r.inner
                    .as_mut()
                    .and_then(|i| i.poll_at(now, &r.inner_sockets)),
                r.ep.poll_timeout(),
            ),
            None => (None, None),
        };
        [
            self.outer.poll_at(now, &self.outer_sockets),
            inner,
            ep,
            tick,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What a run showed.
#[derive(Debug)]
struct Run {
    written: u64,
    read: u64,
    mismatches: u64,
    /// Longest time between two deliveries to the server's application while streaming.
    longest_gap: SmolDuration,
    /// Bytes read by the end of the stream plus one second.
    read_in_time: u64,
    endpoint_drops: Vec<(DropReason, u64)>,
    tunnel: Option<TunnelCounters>,
}

fn run(mode: Mode, seed: u64, loss: f64) -> Run {
    let mut sim = Sim::new(seed);
    let r = sim.add_node("router", router(sim.rng(3), [addr(1, 0), addr(2, 0)]));
    let (radio_port, wired_port) = (sim.add_port(r), sim.add_port(r));
    let radio = LinkParams {
        latency: Duration::from_millis(2),
        bandwidth_bps: 20_000_000,
        loss,
        ..LinkParams::default()
    };
    let wired = LinkParams {
        latency: Duration::from_millis(1),
        bandwidth_bps: 100_000_000,
        ..LinkParams::default()
    };
    let server_key = StaticKeypair::from_private([2; 32]);
    let server_public = server_key.public();
    let server: NodeId = sim.add_node_with("server", 1, |p| {
        Peer::new(&mut p[0], mode, false, server_key, [0; 32], 2)
    });
    let phone: NodeId = sim.add_node_with("phone", 1, |p| {
        Peer::new(
            &mut p[0],
            mode,
            true,
            StaticKeypair::from_private([1; 32]),
            server_public,
            1,
        )
    });
    let (pp, ps) = (sim.node_ports(phone)[0], sim.node_ports(server)[0]);
    sim.connect(pp, radio_port, radio).unwrap();
    sim.connect(ps, wired_port, wired).unwrap();
    let end = STREAM_FROM + STREAM_FOR;
    sim.run_until(end + SmolDuration::from_secs(1));
    let read_in_time = sim.node::<Peer>(server).unwrap().read;
    sim.run_until(end + SmolDuration::from_secs(10));

    let p = sim.node::<Peer>(phone).unwrap();
    let s = sim.node::<Peer>(server).unwrap();
    let mut longest_gap = SmolDuration::ZERO;
    let mut last = STREAM_FROM;
    for &(t, _) in s.deliveries.iter().filter(|(t, _)| *t <= end) {
        longest_gap = longest_gap.max(t - last);
        last = t;
    }
    if s.read < p.written {
        longest_gap = longest_gap.max(end - last);
    }
    let mut endpoint_drops = Vec::new();
    let mut tunnel = None;
    for peer in [p, s] {
        if let Some(r) = &peer.roaming {
            for &reason in DropReason::ALL {
                if r.ep.dropped(reason) > 0 {
                    endpoint_drops.push((reason, r.ep.dropped(reason)));
                }
            }
            if peer.client {
                tunnel = r.tunnel.as_ref().map(Tunnel::counters);
            }
        }
    }
    Run {
        written: p.written,
        read: s.read,
        mismatches: s.mismatches,
        longest_gap,
        read_in_time,
        endpoint_drops,
        tunnel,
    }
}

/// Seeds whose loss patterns stalled the stream inside the tunnel for 3 to 4 s while the
/// session acknowledged every other packet at once (before `Config::ack_eliciting_threshold`);
/// plain TCP over the same link never paused longer than one retransmission timeout.
const SEEDS: [u64; 2] = [22, 31];

#[test]
fn tcp_in_the_tunnel_does_not_stall_at_two_percent_loss() {
    for seed in SEEDS {
        let direct = run(Mode::Direct, seed, 0.02);
        let tunnel = run(Mode::Tunnel, seed, 0.02);
        eprintln!("seed {seed}\n direct: {direct:?}\n tunnel: {tunnel:?}");
        assert_eq!(direct.read, direct.written, "plain TCP delivers everything");
        assert_eq!(tunnel.mismatches, 0);
        assert_eq!(tunnel.read, tunnel.written, "every byte through the tunnel");
        assert!(
            tunnel.read_in_time * 100 >= direct.read_in_time * 98,
            "seed {seed}: goodput within 2 % of plain TCP's: {} vs {} bytes",
            tunnel.read_in_time,
            direct.read_in_time
        );
        // One retransmission timeout (smoltcp's minimum: 1 s) is what plain TCP shows too.
        assert!(
            tunnel.longest_gap < SmolDuration::from_millis(1500),
            "seed {seed}: no stall: longest gap {} (plain TCP: {})",
            tunnel.longest_gap,
            direct.longest_gap
        );
        // Nothing was lost inside our stack: every drop is the radio's.
        assert!(
            tunnel.endpoint_drops.is_empty(),
            "{:?}",
            tunnel.endpoint_drops
        );
        let t = tunnel.tunnel.expect("a tunnel");
        assert_eq!((t.tx_dropped_full, t.tx_dropped_session), (0, 0), "{t:?}");
        assert_eq!(
            t.rx_malformed + t.rx_wrong_source + t.rx_wrong_destination,
            0
        );
    }
}
