//! The demo's simulator nodes: routers of the address tree, and hosts (the server, the phone,
//! the laptop and any extra hosts), each a bridgeless `Host` on its port.

use core::cell::RefCell;
use std::rc::Rc;

use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_iface::router::{LinkIo, Router};
use bridgeless_sim::{Node, Port, Ports};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv6Address};

use super::record::{EventKind, MoveSeen, Recorder};
use super::transport::Transport;
use super::watch::{TcpSent, Watch};

/// The group the server streams to: site scope, so routers forward it (RFC 7346).
pub const GROUP: Ipv6Address = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0xdb8, 1);
/// The UDP port of the group stream.
pub const GROUP_PORT: u16 = 5000;
/// The group stream's packet rate.
pub const GROUP_INTERVAL: Duration = Duration::from_millis(100);
/// Payload bytes of each group packet.
pub const GROUP_PAYLOAD: usize = 200;
/// How often the phone samples the session's RTT.
const RTT_SAMPLE: Duration = Duration::from_millis(100);
/// The application's write interval on the phone.
const WRITE_TICK: Duration = Duration::from_millis(10);

type Shared = Rc<RefCell<Recorder>>;

/// The simulator link a port is on, as an index.
fn link_of(port: &Port) -> Option<usize> {
    port.link().map(|l| l.index())
}

/// The byte at offset `i` of the phone's stream: depends on the position, so a missing,
/// duplicated or reordered byte shows at the server.
pub fn pattern(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (i / 1000) as u8
}

// ---------------------------------------------------------------------------------------
// Routers
// ---------------------------------------------------------------------------------------

/// A router of the tree driving all its ports, link `i` being port `i`.
pub struct RouterNode {
    name: String,
    /// The router.
    pub router: Router,
    rng: ChaCha8Rng,
    recorder: Shared,
}

impl RouterNode {
    /// A node for `router`.
    pub fn new(name: &str, router: Router, rng: ChaCha8Rng, recorder: Shared) -> Self {
        RouterNode {
            name: name.to_string(),
            router,
            rng,
            recorder,
        }
    }
}

impl Node for RouterNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let recorder = &*self.recorder;
        let links: Vec<Option<usize>> = ports.iter_mut().map(|p| link_of(p)).collect();
        let mut watched: Vec<Watch<'_, Port>> = ports
            .iter_mut()
            .zip(&links)
            .map(|(p, &l)| Watch::new(p, now).group(recorder, l, GROUP))
            .collect();
        let mut ios: Vec<&mut dyn LinkIo> =
            watched.iter_mut().map(|w| w as &mut dyn LinkIo).collect();
        self.router.poll(now, &mut ios, &mut self.rng);
        drop(ios);
        drop(watched);
        while let Some(event) = self.router.poll_event() {
            self.recorder
                .borrow_mut()
                .event(now, &self.name, EventKind::Prefix, event.to_string());
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.router.poll_timeout()
    }
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

/// A bridgeless `Host` on a port, with its sockets, its randomness, and the global addresses
/// it reported.
pub struct Station {
    name: String,
    /// The host.
    pub host: Host,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
    rng: ChaCha8Rng,
    recorder: Shared,
    /// Global addresses seen at the last look.
    globals: Vec<Ipv6Address>,
}

impl Station {
    /// A host named `name` on `port`, its secret and seeds drawn from `rng`; soliciting.
    pub fn new(name: &str, port: &mut Port, mut rng: ChaCha8Rng, recorder: Shared) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let iid = StableIid::new(secret, b"radio0").expect("a short interface name");
        let config = HostConfig::new(rd::Config::new(iid, port.mtu() as u32), rng.next_u64());
        let mut host = Host::new(config, port, Instant::ZERO);
        host.link_up(Instant::ZERO, &mut rng);
        Station {
            name: name.to_string(),
            host,
            sockets: SocketSet::new(Vec::new()),
            rng,
            recorder,
            globals: Vec::new(),
        }
    }

    /// The host's newest global address.
    pub fn global(&self) -> Option<Ipv6Address> {
        self.globals.last().copied()
    }

    /// Polls the host on `port` (watched for the group), then notes new global addresses.
    fn poll_host(&mut self, now: Instant, port: &mut Port, tcp: Option<&mut TcpSent>) {
        let link = link_of(port);
        let recorder = &*self.recorder;
        let mut device = Watch::new(port, now).group(recorder, link, GROUP);
        if let Some(tcp) = tcp {
            device = device.tcp(tcp);
        }
        self.host
            .poll(now, &mut device, &mut self.sockets, &mut self.rng);
        self.note_addresses(now);
    }

    fn note_addresses(&mut self, now: Instant) {
        let globals: Vec<Ipv6Address> = self
            .host
            .interface()
            .ip_addrs()
            .iter()
            .filter_map(|c| match c.address() {
                IpAddress::Ipv6(a) if !a.is_unicast_link_local() => Some(a),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect();
        for a in &globals {
            if !self.globals.contains(a) {
                self.recorder.borrow_mut().event(
                    now,
                    &self.name,
                    EventKind::Address,
                    format!("address {a}"),
                );
            }
        }
        self.globals = globals;
    }

    /// The port is on a new link, as when a phone associates with another access point:
    /// [`Host::moved`] drops the old link's addresses and routes, solicits at once and
    /// reports the host's groups to the new router; the sockets stay.
    fn reattach(&mut self, now: Instant) {
        self.host.moved(now, &mut self.rng);
        self.globals.clear();
    }

    /// When the host next needs a poll.
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.host.poll_at(now, &self.sockets)
    }

    fn event(&self, now: Instant, kind: EventKind, text: String) {
        self.recorder
            .borrow_mut()
            .event(now, &self.name, kind, text);
    }
}

/// A UDP socket for the group stream, bound to its port.
fn group_socket(sockets: &mut SocketSet<'static>, packets: usize) -> SocketHandle {
    let buffer = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; packets],
            vec![0; packets * GROUP_PAYLOAD],
        )
    };
    let mut socket = udp::Socket::new(buffer(), buffer());
    let _ = socket.bind(GROUP_PORT);
    sockets.add(socket)
}

/// The earliest of some instants.
fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

/// A host that only autoconfigures, and listens to the group if told to (the laptop never
/// does).
pub struct PlainHost {
    /// The host.
    pub station: Station,
    listen: bool,
    joined: bool,
    socket: Option<SocketHandle>,
    /// Group packets its application received.
    pub group_received: u64,
}

impl PlainHost {
    /// A host that joins the group at start when `listen`.
    pub fn new(station: Station, listen: bool) -> Self {
        PlainHost {
            station,
            listen,
            joined: false,
            socket: None,
            group_received: 0,
        }
    }
}

impl Node for PlainHost {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        if self.listen && !self.joined {
            self.joined = true;
            self.socket = Some(group_socket(&mut self.station.sockets, 16));
            let s = &mut self.station;
            let _ = s.host.join_multicast_group(now, GROUP, &mut s.rng);
        }
        self.station.poll_host(now, &mut ports[0], None);
        if let Some(h) = self.socket {
            let socket = self.station.sockets.get_mut::<udp::Socket<'static>>(h);
            while socket.recv().is_ok() {
                self.group_received += 1;
            }
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.station.poll_at(now)
    }
}

/// What the server's application read of the stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamRead {
    /// Bytes read.
    pub bytes: u64,
    /// Bytes that differed from the pattern at their offset.
    pub mismatches: u64,
    /// The client closed the stream (FIN) after its last byte.
    pub eof: bool,
}

/// The server: the stream's sink and the group's source.
pub struct Server {
    /// The host.
    pub station: Station,
    /// The stream's transport.
    pub transport: Box<dyn Transport>,
    group: SocketHandle,
    group_start: Instant,
    group_end: Instant,
    group_next: Instant,
    group_seq: u32,
    announced: bool,
    /// What was read.
    pub read: StreamRead,
}

impl Server {
    /// A server that sends the group stream from `group_start` to `group_end`.
    pub fn new(
        mut station: Station,
        transport: Box<dyn Transport>,
        group_start: Instant,
        group_end: Instant,
    ) -> Self {
        let group = group_socket(&mut station.sockets, 16);
        Server {
            station,
            transport,
            group,
            group_start,
            group_end,
            group_next: group_start,
            group_seq: 0,
            announced: false,
            read: StreamRead::default(),
        }
    }

    fn send_group(&mut self, now: Instant) {
        if self.station.global().is_none() {
            return;
        }
        while self.group_next <= now && self.group_next < self.group_end {
            let mut payload = [0u8; GROUP_PAYLOAD];
            payload[..4].copy_from_slice(&self.group_seq.to_be_bytes());
            payload[4..12].copy_from_slice(&now.total_micros().to_be_bytes());
            let endpoint = IpEndpoint::new(IpAddress::Ipv6(GROUP), GROUP_PORT);
            let s = &mut self.station;
            if s.host
                .send_udp(&mut s.sockets, self.group, &payload, endpoint)
                .is_ok()
            {
                self.group_seq += 1;
                s.recorder.borrow_mut().group_sent += 1;
            }
            self.group_next += GROUP_INTERVAL;
        }
    }

    fn read_stream(&mut self, now: Instant) {
        let Some(socket) = self.transport.stream(&mut self.station.sockets) else {
            return;
        };
        let read = &mut self.read;
        let mut got = 0;
        while socket.can_recv() {
            let n = socket
                .recv(|buf| {
                    for (i, &b) in buf.iter().enumerate() {
                        if b != pattern(read.bytes + i as u64) {
                            read.mismatches += 1;
                        }
                    }
                    read.bytes += buf.len() as u64;
                    (buf.len(), buf.len())
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            got += n;
        }
        if !read.eof && read.bytes > 0 && !socket.may_recv() {
            read.eof = true;
            socket.close();
            self.station.event(
                now,
                EventKind::Session,
                format!("stream ended: {} bytes received", read.bytes),
            );
        }
        if got > 0 {
            self.station
                .recorder
                .borrow_mut()
                .deliveries
                .push((now, got));
        }
    }
}

impl Node for Server {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        self.station.poll_host(now, &mut ports[0], None);
        if !self.announced
            && let Some(a) = self.station.global()
        {
            self.announced = true;
            self.station.recorder.borrow_mut().server_address = Some(a);
        }
        let s = &mut self.station;
        let iface = s.host.interface_mut();
        self.transport.receive(now, iface, &mut s.sockets);
        self.read_stream(now);
        self.send_group(now);
        let s = &mut self.station;
        self.transport
            .transmit(now, s.host.interface_mut(), &mut s.sockets);
        while let Some(e) = self.transport.poll_event() {
            self.station.event(now, EventKind::Session, e);
        }
        self.station.poll_host(now, &mut ports[0], None);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let group = (self.group_next < self.group_end).then_some(self.group_next);
        earliest([
            self.station.poll_at(now),
            self.transport.poll_at(now),
            group.map(|g| g.max(self.group_start)),
        ])
    }
}

/// The phone: streams to the server at a fixed rate, listens to the group, walks.
pub struct Phone {
    /// The host.
    pub station: Station,
    /// The stream's transport.
    pub transport: Box<dyn Transport>,
    group: Option<SocketHandle>,
    /// Link index → access point index, for the phone's radio links.
    ap_of_link: Vec<(usize, usize)>,
    attachment_changes: Option<u64>,
    current_ap: Option<usize>,
    /// When to start streaming, and when to stop writing.
    stream_from: Instant,
    stream_until: Instant,
    rate_bytes_per_sec: u64,
    started: Option<Instant>,
    /// Bytes the application handed to TCP.
    pub written: u64,
    closed: bool,
    next_tick: Instant,
    next_rtt: Instant,
    /// TCP segments sent on the outer stack (the direct transport's).
    pub outer_tcp: TcpSent,
    /// Group packets the application received.
    pub group_received: u64,
}

impl Phone {
    /// A phone streaming `rate_bps` bits per second from `stream_from` to `stream_until`;
    /// `ap_of_link` names the access point of each radio link it may be on.
    pub fn new(
        station: Station,
        transport: Box<dyn Transport>,
        ap_of_link: Vec<(usize, usize)>,
        stream_from: Instant,
        stream_until: Instant,
        rate_bps: u64,
    ) -> Self {
        Phone {
            station,
            transport,
            group: None,
            ap_of_link,
            attachment_changes: None,
            current_ap: None,
            stream_from,
            stream_until,
            rate_bytes_per_sec: rate_bps / 8,
            started: None,
            written: 0,
            closed: false,
            next_tick: stream_from,
            next_rtt: Instant::ZERO,
            outer_tcp: TcpSent::default(),
            group_received: 0,
        }
    }

    fn ap_of(&self, link: Option<usize>) -> Option<usize> {
        let link = link?;
        self.ap_of_link
            .iter()
            .find(|(l, _)| *l == link)
            .map(|&(_, ap)| ap)
    }

    /// Notices a move (the port's attachment changed) and starts afresh on the new link.
    fn check_move(&mut self, now: Instant, port: &mut Port) {
        let changes = port.attachment_changes();
        let Some(seen) = self.attachment_changes else {
            self.attachment_changes = Some(changes);
            self.current_ap = self.ap_of(link_of(port));
            return;
        };
        if changes == seen {
            return;
        }
        self.attachment_changes = Some(changes);
        let to = self.ap_of(link_of(port));
        if let (Some(from_ap), Some(to_ap)) = (self.current_ap, to) {
            let old_address = self.station.global();
            self.station.event(
                now,
                EventKind::Move,
                format!("moved from ap{} to ap{}", from_ap + 1, to_ap + 1),
            );
            self.station.recorder.borrow_mut().moves.push(MoveSeen {
                at: now,
                from_ap,
                to_ap,
                old_address,
                new_address: None,
            });
        }
        self.current_ap = to;
        if port.is_attached() {
            self.station.reattach(now);
        }
    }

    /// Fills in the new address of the latest move once the phone has one.
    fn note_new_address(&mut self, now: Instant) {
        let Some(a) = self.station.global() else {
            return;
        };
        let mut recorder = self.station.recorder.borrow_mut();
        if let Some(m) = recorder.moves.last_mut()
            && m.new_address.is_none()
            && Some(a) != m.old_address
        {
            m.new_address = Some((now, a));
        }
    }

    /// The application: writes the pattern at the stream's rate, closes at the end.
    fn write_stream(&mut self, now: Instant) {
        if self.started.is_none() {
            if now < self.stream_from {
                return;
            }
            let Some(server) = self.station.recorder.borrow().server_address else {
                return;
            };
            if self.station.global().is_none() {
                return;
            }
            self.started = Some(now);
            let s = &mut self.station;
            self.transport
                .connect(now, s.host.interface_mut(), &mut s.sockets, server);
            s.event(
                now,
                EventKind::Session,
                format!("stream to {server} over {} starts", self.transport.name()),
            );
        }
        let Some(started) = self.started else {
            return;
        };
        let until = now.min(self.stream_until);
        let elapsed = until
            .total_micros()
            .saturating_sub(started.total_micros())
            .max(0) as u64;
        let target = self.rate_bytes_per_sec * elapsed / 1_000_000;
        let Some(socket) = self.transport.stream(&mut self.station.sockets) else {
            return;
        };
        let mut chunk = [0u8; 4096];
        while self.written < target && socket.can_send() {
            let n = ((target - self.written) as usize).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(self.written + i as u64);
            }
            match socket.send_slice(&chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(sent) => self.written += sent as u64,
            }
        }
        if now >= self.stream_until && self.written >= target && !self.closed {
            self.closed = true;
            socket.close();
            self.station.event(
                now,
                EventKind::Session,
                format!("stream written: {} bytes, closing", self.written),
            );
        }
    }

    fn sample_rtt(&mut self, now: Instant) {
        if now < self.next_rtt {
            return;
        }
        self.next_rtt = now + RTT_SAMPLE;
        if let Some(rtt) = self.transport.stats().rtt_ms {
            self.station.recorder.borrow_mut().rtt.push((now, rtt));
        }
    }
}

impl Node for Phone {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        if self.group.is_none() {
            self.group = Some(group_socket(&mut self.station.sockets, 16));
            let s = &mut self.station;
            let _ = s.host.join_multicast_group(now, GROUP, &mut s.rng);
        }
        self.check_move(now, port);
        self.station.poll_host(now, port, Some(&mut self.outer_tcp));
        self.note_new_address(now);
        let s = &mut self.station;
        self.transport
            .receive(now, s.host.interface_mut(), &mut s.sockets);
        self.write_stream(now);
        let s = &mut self.station;
        self.transport
            .transmit(now, s.host.interface_mut(), &mut s.sockets);
        while let Some(e) = self.transport.poll_event() {
            self.station.event(now, EventKind::Session, e);
        }
        self.station.poll_host(now, port, Some(&mut self.outer_tcp));
        if let Some(h) = self.group {
            let socket = self.station.sockets.get_mut::<udp::Socket<'static>>(h);
            while socket.recv().is_ok() {
                self.group_received += 1;
            }
        }
        self.sample_rtt(now);
        if now >= self.next_tick {
            self.next_tick = now + WRITE_TICK;
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let tick = (!self.closed).then_some(self.next_tick.max(self.stream_from));
        let rtt = self.started.map(|_| self.next_rtt);
        earliest([
            self.station.poll_at(now),
            self.transport.poll_at(now),
            tick,
            rtt,
        ])
    }
}
