//! The simulator nodes: routers of the tree, hosts with their sessions, and echo servers.

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV6};

use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_iface::router::{LinkIo, Router, TreeEvent};
use bridgeless_roaming::driver::{RECEIVE_BATCH, SmoltcpDriver};
use bridgeless_roaming::{Config, DropReason, Endpoint, Event, SessionHandle, StaticKeypair};
use bridgeless_sim::{Node, Port, Ports};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use serde::Serialize;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv6Address};

use super::ledger::{MoveLog, SessionMoveLog, Shared};

/// The first mobility port of a server; its endpoints use this port and the ones above.
pub const SERVER_PORT: u16 = 4433;
/// The hosts' mobility port.
pub const HOST_PORT: u16 = 4433;
/// Bytes of each datagram: session, sequence number, move count, send time, padding.
pub const PAYLOAD: usize = 64;
/// Largest UDP payload the endpoints send. The datagrams are small, and a smaller value
/// lets the UDP sockets' buffers be small: the driver only hands a packet to the socket
/// while twice this much room is left.
pub const MAX_UDP_PAYLOAD: usize = 512;
/// Datagram slots of a host's UDP socket (each way); the payload ring is 128 bytes a slot.
const HOST_SOCKET_SLOTS: usize = 64;
/// Datagram slots of each server UDP socket (each way).
const SERVER_SOCKET_SLOTS: usize = 128;
/// Bytes a session queues each way (`Config::datagram_queue_bytes`): 15 of this benchmark's
/// datagrams (a session sends one per interval, and a move holds them back for under a
/// second), instead of the default 64 KiB per session and direction, which the queues
/// allocate up front: 2.6 GB for the 20,000 session ends of the full run.
const SESSION_QUEUE: usize = 1024;
/// How often a host retries a connection it could not start yet (no address, or the
/// server's address not known yet).
const RETRY: Duration = Duration::from_millis(100);

/// The endpoint configuration of every node: the defaults, with small queues.
pub fn endpoint_config(max_sessions: usize) -> Config {
    Config {
        max_udp_payload: MAX_UDP_PAYLOAD,
        datagram_queue_bytes: SESSION_QUEUE,
        max_sessions: max_sessions.max(Config::default().max_sessions),
        ..Config::default()
    }
}

/// A datagram of the benchmark.
pub fn encode(session: u32, seq: u32, epoch: u32, sent_at: Instant) -> [u8; PAYLOAD] {
    let mut b = [0u8; PAYLOAD];
    b[0..4].copy_from_slice(&session.to_be_bytes());
    b[4..8].copy_from_slice(&seq.to_be_bytes());
    b[8..12].copy_from_slice(&epoch.to_be_bytes());
    b[16..24].copy_from_slice(&sent_at.total_micros().to_be_bytes());
    b
}

/// Session and move count of a datagram.
pub fn decode(b: &[u8]) -> Option<(u32, u32)> {
    let session = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
    let epoch = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
    Some((session, epoch))
}

/// The interface's first global unicast address.
fn global_address(iface: &Interface) -> Option<Ipv6Address> {
    iface.ip_addrs().iter().find_map(|c| match c.address() {
        IpAddress::Ipv6(a) if !a.is_unicast_link_local() && !a.is_multicast() => Some(a),
        #[allow(unreachable_patterns)]
        _ => None,
    })
}

/// Whether the driver stopped moving datagrams into the socket for want of room (then the
/// endpoint still holds some: drive again once the interface has sent what is queued).
fn tx_full(sockets: &SocketSet<'_>, socket: SocketHandle) -> bool {
    let s = sockets.get::<udp::Socket<'_>>(socket);
    !s.can_send() || s.payload_send_capacity() - s.send_queue() < 2 * MAX_UDP_PAYLOAD
}

/// Clock reads for profiling, only when asked for.
fn clock(profile: bool) -> Option<std::time::Instant> {
    profile.then(std::time::Instant::now)
}

fn elapsed(since: Option<std::time::Instant>) -> std::time::Duration {
    since.map_or(std::time::Duration::ZERO, |t| t.elapsed())
}

/// Endpoints' own view of their sessions, summed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointTotals {
    /// Endpoints.
    pub endpoints: usize,
    /// Sessions in their tables at the end.
    pub sessions: usize,
    /// Of which established.
    pub established: usize,
    /// Peer address changes (`SessionStats::migrations`).
    pub migrations: u64,
    /// Paths validated.
    pub validations: u64,
    /// Failed validations.
    pub reverts: u64,
    /// Path state resets.
    pub path_resets: u64,
    /// Moves that had to reuse an identifier (the peer had issued no fresh one).
    pub id_reuses: u64,
    /// Key updates.
    pub key_updates: u64,
    /// Packets sent and received (authenticated).
    pub packets_sent: u64,
    /// See `packets_sent`.
    pub packets_received: u64,
    /// Packets that failed authentication under a session's keys.
    pub auth_failures: u64,
    /// Datagrams the endpoints dropped, by reason (only reasons that occurred).
    pub dropped: BTreeMap<String, u64>,
    /// Datagrams the UDP sockets refused (driver counters).
    pub send_errors: u64,
}

impl EndpointTotals {
    /// Adds another's numbers.
    pub fn add(&mut self, o: &EndpointTotals) {
        self.endpoints += o.endpoints;
        self.sessions += o.sessions;
        self.established += o.established;
        self.migrations += o.migrations;
        self.validations += o.validations;
        self.reverts += o.reverts;
        self.path_resets += o.path_resets;
        self.id_reuses += o.id_reuses;
        self.key_updates += o.key_updates;
        self.packets_sent += o.packets_sent;
        self.packets_received += o.packets_received;
        self.auth_failures += o.auth_failures;
        for (k, v) in &o.dropped {
            *self.dropped.entry(k.clone()).or_default() += v;
        }
        self.send_errors += o.send_errors;
    }

    fn of(endpoint: &Endpoint, send_errors: u64) -> EndpointTotals {
        let mut t = EndpointTotals {
            endpoints: 1,
            send_errors,
            ..EndpointTotals::default()
        };
        for h in endpoint.sessions() {
            let Some(s) = endpoint.session_stats(h) else {
                continue;
            };
            t.sessions += 1;
            t.established += usize::from(s.established);
            t.migrations += s.migrations;
            t.validations += s.validations;
            t.reverts += s.reverts;
            t.path_resets += s.path_resets;
            t.id_reuses += s.id_reuses;
            t.key_updates += s.key_updates;
            t.packets_sent += s.packets_sent;
            t.packets_received += s.packets_received;
            t.auth_failures += s.auth_failures;
        }
        for &reason in DropReason::ALL {
            let n = endpoint.dropped(reason);
            if n > 0 {
                *t.dropped.entry(reason.to_string()).or_default() += n;
            }
        }
        t
    }
}

// ---------------------------------------------------------------------------------------
// Routers
// ---------------------------------------------------------------------------------------

/// A router of the tree on all its ports, link `i` being port `i`.
pub struct RouterNode {
    router: Router,
    rng: ChaCha8Rng,
    ledger: Shared,
    profile: bool,
}

impl RouterNode {
    /// A node for `router`.
    pub fn new(router: Router, rng: ChaCha8Rng, ledger: Shared, profile: bool) -> Self {
        RouterNode {
            router,
            rng,
            ledger,
            profile,
        }
    }
}

impl Node for RouterNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let t = clock(self.profile);
        let mut links: Vec<&mut dyn LinkIo> =
            ports.iter_mut().map(|p| p as &mut dyn LinkIo).collect();
        self.router.poll(now, &mut links, &mut self.rng);
        while let Some(event) = self.router.poll_event() {
            let mut ledger = self.ledger.borrow_mut();
            match event {
                TreeEvent::PrefixAcquired { .. } => ledger.prefixes_acquired += 1,
                TreeEvent::PoolExhausted { .. } => ledger.pools_exhausted += 1,
                _ => {}
            }
        }
        if self.profile {
            let mut ledger = self.ledger.borrow_mut();
            ledger.profile.routers += elapsed(t);
            ledger.profile.router_polls += 1;
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.router.poll_timeout()
    }
}

// ---------------------------------------------------------------------------------------
// Hosts
// ---------------------------------------------------------------------------------------

/// Where one of a host's sessions goes, and when it starts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPlan {
    /// The session's number.
    pub id: u32,
    /// The server.
    pub server: usize,
    /// The server's endpoint (port `SERVER_PORT + port`).
    pub port: u16,
    /// When to connect.
    pub connect_at: Instant,
}

/// One of a host's sessions as it runs.
#[derive(Debug)]
struct Slot {
    plan: SessionPlan,
    handle: Option<SessionHandle>,
    established: bool,
    closed: bool,
    next_send: Instant,
    seq: u32,
    /// Since the last move: the session-move entry, and the session's authenticated
    /// packets received at the move; cleared once one more has arrived.
    awaiting: Option<(usize, u64)>,
}

/// What the sessions send.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// One datagram per session this often.
    pub interval: Duration,
    /// No datagram is sent from then on.
    pub send_until: Instant,
}

/// A host: a bridgeless `Host` on its port, an endpoint on a UDP socket with its sessions,
/// and the application that sends a datagram per session per interval.
pub struct HostNode {
    index: u32,
    /// The access router the host is at.
    ap: u16,
    host: Host,
    sockets: SocketSet<'static>,
    driver: SmoltcpDriver,
    endpoint: Endpoint,
    rng: ChaCha8Rng,
    slots: Vec<Slot>,
    traffic: Traffic,
    /// The port's attachment count at the last look.
    attachments: Option<u64>,
    /// Moves so far: carried in every datagram.
    epoch: u32,
    /// The move waiting for its new address ([`super::ledger::Ledger::moves`]).
    awaiting_address: Option<usize>,
    more: bool,
    tx_full: bool,
    retry_at: Option<Instant>,
    ledger: Shared,
    profile: bool,
}

impl HostNode {
    /// Host number `index` on `port`, which will be attached to a link of access router
    /// `ap`, opening `sessions`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: u32,
        ap: u16,
        port: &mut Port,
        mut rng: ChaCha8Rng,
        sessions: Vec<SessionPlan>,
        traffic: Traffic,
        ledger: Shared,
        profile: bool,
    ) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let iid = StableIid::new(secret, b"radio0").expect("a short interface name");
        let config = HostConfig::new(rd::Config::new(iid, port.mtu() as u32), rng.next_u64());
        let mut host = Host::new(config, port, Instant::ZERO);
        host.link_up(Instant::ZERO, &mut rng);
        let mut sockets = SocketSet::new(Vec::new());
        let driver = SmoltcpDriver::new(&mut sockets, HOST_PORT, HOST_SOCKET_SLOTS, 128);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let endpoint = Endpoint::with_rng(
            endpoint_config(sessions.len()),
            StaticKeypair::from_private(key),
            &mut rng,
        )
        .expect("a valid endpoint configuration");
        let slots = sessions
            .into_iter()
            .map(|plan| Slot {
                plan,
                handle: None,
                established: false,
                closed: false,
                next_send: Instant::ZERO,
                seq: 0,
                awaiting: None,
            })
            .collect();
        HostNode {
            index,
            ap,
            host,
            sockets,
            driver,
            endpoint,
            rng,
            slots,
            traffic,
            attachments: None,
            epoch: 0,
            awaiting_address: None,
            more: false,
            tx_full: false,
            retry_at: None,
            ledger,
            profile,
        }
    }

    /// The endpoint's view of its sessions.
    pub fn totals(&self) -> EndpointTotals {
        EndpointTotals::of(&self.endpoint, self.driver.counters().send_errors)
    }

    /// Notices a move (the port's attachment changed) and starts afresh on the new link, as
    /// a phone does when it associates with another access point: a new `Host` (the same
    /// stable identifiers) that forgets the old link's addresses and router, and a Router
    /// Solicitation at once (RFC 4861 §6.3.7's random delay of up to a second is meant for
    /// hosts powered up together on a shared link; the demo's phone skips it the same way).
    /// The sockets, the endpoint and its sessions stay.
    fn check_move(&mut self, now: Instant, port: &mut Port) {
        let changes = port.attachment_changes();
        let Some(seen) = self.attachments else {
            self.attachments = Some(changes);
            return;
        };
        if changes == seen || !port.is_attached() {
            return;
        }
        self.attachments = Some(changes);
        self.epoch += 1;
        {
            let mut ledger = self.ledger.borrow_mut();
            let ap_of = |link: Option<usize>| {
                link.and_then(|l| ledger.link_ap.get(l).copied().flatten())
                    .unwrap_or(u16::MAX)
            };
            let to_ap = ap_of(port.link().map(|l| l.index()));
            let move_index = ledger.moves.len();
            ledger.moves.push(MoveLog {
                host: self.index,
                at: now,
                from_ap: self.ap,
                to_ap,
                address_at: None,
            });
            self.ap = to_ap;
            self.awaiting_address = Some(move_index);
            for slot in &mut self.slots {
                let entry = ledger.session_moves.len();
                ledger.session_moves.push(SessionMoveLog {
                    move_index: move_index as u32,
                    restored_at: None,
                    up_gap: None,
                    down_gap: None,
                });
                ledger.sessions[slot.plan.id as usize]
                    .moves
                    .push(entry as u32);
                slot.awaiting = slot.handle.filter(|_| slot.established).map(|h| {
                    let received = self
                        .endpoint
                        .session_stats(h)
                        .map_or(0, |s| s.packets_received);
                    (entry, received)
                });
            }
        }
        // The old link's addresses go at once and a solicitation leaves now.
        self.host.moved(now, &mut self.rng);
    }

    /// Moves datagrams between the socket and the endpoint, runs its timers. Without a
    /// global address (between links) only the timers run: smoltcp would send the
    /// session's packets from the link-local address; they wait in the endpoint instead.
    fn drive(&mut self, now: Instant, has_global: bool) {
        if !has_global {
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            return;
        }
        let iface = self.host.interface();
        self.more |= self
            .driver
            .poll(now, iface, &mut self.sockets, &mut self.endpoint);
        self.tx_full |= tx_full(&self.sockets, self.driver.socket());
    }

    fn slot_of(&mut self, h: SessionHandle) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.handle == Some(h))
    }

    fn read_events(&mut self, now: Instant) {
        let mut buf = [0u8; MAX_UDP_PAYLOAD];
        while let Some((h, event)) = self.endpoint.poll_event() {
            match event {
                Event::Connected { .. } => {
                    let phase = self.rng.next_u64() % self.traffic.interval.total_micros();
                    if let Some(slot) = self.slot_of(h) {
                        slot.established = true;
                        slot.next_send = now + Duration::from_micros(phase);
                        let id = slot.plan.id as usize;
                        self.ledger.borrow_mut().sessions[id].established_at = Some(now);
                    }
                }
                Event::DatagramsReadable => {
                    while let Some(n) = self.endpoint.recv_datagram(h, &mut buf) {
                        if let Some((session, epoch)) = decode(&buf[..n]) {
                            self.ledger.borrow_mut().down(now, session, epoch);
                        }
                    }
                }
                Event::Closed(reason) => {
                    if let Some(slot) = self.slot_of(h) {
                        slot.closed = true;
                        let id = slot.plan.id as usize;
                        self.ledger.borrow_mut().sessions[id].closed_host =
                            Some(format!("{reason:?}"));
                    }
                }
                _ => {}
            }
        }
    }

    /// Opens the sessions whose time has come.
    fn connect_due(&mut self, now: Instant, has_global: bool) {
        self.retry_at = None;
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.handle.is_some() || slot.closed || now < slot.plan.connect_at {
                continue;
            }
            let (server, key) = {
                let ledger = self.ledger.borrow();
                (
                    ledger.servers[slot.plan.server],
                    ledger.server_keys[slot.plan.server],
                )
            };
            let (Some(server), true) = (server, has_global) else {
                self.retry_at = Some(now + RETRY);
                continue;
            };
            let remote = SocketAddr::V6(SocketAddrV6::new(
                server,
                SERVER_PORT + slot.plan.port,
                0,
                0,
            ));
            match self.endpoint.connect(now, remote, key) {
                Ok(h) => self.slots[i].handle = Some(h),
                Err(e) => {
                    self.slots[i].closed = true;
                    let id = self.slots[i].plan.id as usize;
                    self.ledger.borrow_mut().sessions[id].closed_host =
                        Some(format!("connect: {e}"));
                }
            }
        }
    }

    /// Queues the datagrams that are due.
    fn send_due(&mut self, now: Instant) {
        if now >= self.traffic.send_until {
            return;
        }
        for slot in &mut self.slots {
            let Some(h) = slot.handle else { continue };
            if !slot.established || slot.closed || now < slot.next_send {
                continue;
            }
            let payload = encode(slot.plan.id, slot.seq, self.epoch, now);
            let result = self.endpoint.send_datagram(h, &payload);
            let mut ledger = self.ledger.borrow_mut();
            let log = &mut ledger.sessions[slot.plan.id as usize];
            match result {
                Ok(()) => {
                    log.sent += 1;
                    slot.seq += 1;
                }
                Err(_) => log.refused += 1,
            }
            slot.next_send += self.traffic.interval;
            if slot.next_send <= now {
                slot.next_send = now + self.traffic.interval;
            }
        }
    }

    /// Notes the sessions that have heard from their server since the last move.
    fn check_restored(&mut self, now: Instant) {
        for slot in &mut self.slots {
            let (Some((entry, before)), Some(h)) = (slot.awaiting, slot.handle) else {
                continue;
            };
            let received = self
                .endpoint
                .session_stats(h)
                .map_or(0, |s| s.packets_received);
            if received > before {
                slot.awaiting = None;
                self.ledger.borrow_mut().session_moves[entry].restored_at = Some(now);
            }
        }
    }
}

impl Node for HostNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let t = clock(self.profile);
        let port = &mut ports[0];
        self.check_move(now, port);
        self.host.poll(now, port, &mut self.sockets, &mut self.rng);
        let has_global = global_address(self.host.interface()).is_some();
        if has_global && let Some(m) = self.awaiting_address.take() {
            self.ledger.borrow_mut().moves[m].address_at = Some(now);
        }
        self.more = false;
        self.tx_full = false;
        // The application first (new sessions, datagrams due), then one pass of the driver:
        // what arrived goes in, what is queued goes out together with the acknowledgments,
        // and the endpoint's sessions are visited once (see `ServerNode::run_port`).
        self.connect_due(now, has_global);
        self.send_due(now);
        let t_ep = clock(self.profile);
        self.drive(now, has_global);
        let in_endpoint = elapsed(t_ep);
        self.read_events(now);
        self.check_restored(now);
        for _ in 0..16 {
            self.host.poll(now, port, &mut self.sockets, &mut self.rng);
            if !(has_global && self.tx_full) {
                break;
            }
            self.tx_full = false;
            self.drive(now, has_global);
        }
        if self.profile {
            let mut ledger = self.ledger.borrow_mut();
            ledger.profile.hosts += elapsed(t);
            ledger.profile.host_endpoints += in_endpoint;
            ledger.profile.host_polls += 1;
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more || self.tx_full {
            return Some(now);
        }
        let sends = self
            .slots
            .iter()
            .filter(|s| s.established && !s.closed)
            .map(|s| s.next_send)
            .filter(|&t| t < self.traffic.send_until)
            .min();
        let connects = self
            .slots
            .iter()
            .filter(|s| s.handle.is_none() && !s.closed)
            .map(|s| s.plan.connect_at)
            .min();
        [
            self.host.poll_at(now, &self.sockets),
            self.endpoint.poll_timeout(),
            sends,
            connects.map(|c| c.max(self.retry_at.unwrap_or(c))),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

/// One endpoint of a server, on its own UDP port.
struct ServerPort {
    endpoint: Endpoint,
    socket: SocketHandle,
    /// `endpoint.poll_timeout()` after the last time the endpoint was touched: the endpoint
    /// changes only when this node drives it, so the cached value stays right.
    timeout: Option<Instant>,
    /// Session number by the endpoint's handle (learnt from the first datagram).
    ids: Vec<u32>,
    /// Datagrams were left in the socket at the last run.
    more: bool,
    /// The socket had no room for the endpoint's next packet at the last run.
    tx_full: bool,
    /// Packets the socket refused.
    send_errors: u64,
}

/// A server: a bridgeless `Host` on one of the core's links, and endpoints that echo every
/// datagram.
pub struct ServerNode {
    index: usize,
    host: Host,
    sockets: SocketSet<'static>,
    rng: ChaCha8Rng,
    ports: Vec<ServerPort>,
    buf: Vec<u8>,
    address: Option<Ipv6Address>,
    ledger: Shared,
    profile: bool,
}

/// No session number known for a handle.
const UNKNOWN: u32 = u32::MAX;

impl ServerNode {
    /// Server number `index` on `port`, with `ports` endpoints of `sessions_per_port`
    /// sessions at most and the static key `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        port: &mut Port,
        mut rng: ChaCha8Rng,
        key: StaticKeypair,
        endpoints: usize,
        sessions_per_port: usize,
        ledger: Shared,
        profile: bool,
    ) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let iid = StableIid::new(secret, b"eth0").expect("a short interface name");
        let config = HostConfig::new(rd::Config::new(iid, port.mtu() as u32), rng.next_u64());
        let mut host = Host::new(config, port, Instant::ZERO);
        host.link_up(Instant::ZERO, &mut rng);
        let mut sockets = SocketSet::new(Vec::new());
        let ports = (0..endpoints)
            .map(|k| {
                let buffer = || {
                    udp::PacketBuffer::new(
                        vec![udp::PacketMetadata::EMPTY; SERVER_SOCKET_SLOTS],
                        vec![0; SERVER_SOCKET_SLOTS * 128],
                    )
                };
                let mut socket = udp::Socket::new(buffer(), buffer());
                socket
                    .bind(SERVER_PORT + k as u16)
                    .expect("a fresh socket binds");
                let endpoint =
                    Endpoint::with_rng(endpoint_config(sessions_per_port), key.clone(), &mut rng)
                        .expect("a valid endpoint configuration");
                ServerPort {
                    endpoint,
                    socket: sockets.add(socket),
                    timeout: None,
                    ids: Vec::new(),
                    more: false,
                    tx_full: false,
                    send_errors: 0,
                }
            })
            .collect();
        ServerNode {
            index,
            host,
            sockets,
            rng,
            ports,
            buf: vec![0; MAX_UDP_PAYLOAD],
            address: None,
            ledger,
            profile,
        }
    }

    /// The endpoints' view of their sessions.
    pub fn totals(&self) -> EndpointTotals {
        let mut t = EndpointTotals::default();
        for p in &self.ports {
            t.add(&EndpointTotals::of(&p.endpoint, p.send_errors));
        }
        t
    }

    /// Runs endpoint `k`: datagrams in, due timers, events (the echoes), datagrams out.
    ///
    /// Not through `SmoltcpDriver` (which the hosts use): a server's address never changes,
    /// and the order matters for the cost. `Endpoint::poll_transmit` visits every session of
    /// the endpoint on the call that finds nothing more to send, and `poll_timeout` and
    /// `handle_timeout` visit them all too, so a run here makes one transmit pass after the
    /// echoes are queued, runs timers only when the cached deadline has passed, and asks
    /// for the next deadline once; the driver would make two transmit passes (one before the
    /// application has read the events, one after) and three deadline passes.
    fn run_port(&mut self, now: Instant, k: usize) -> (std::time::Duration, std::time::Duration) {
        let Some(local) = self.address else {
            return Default::default();
        };
        let p = &mut self.ports[k];
        let socket = self.sockets.get_mut::<udp::Socket<'_>>(p.socket);
        let t = clock(self.profile);
        let mut n = 0;
        while n < RECEIVE_BATCH
            && let Ok((data, meta)) = socket.recv()
        {
            n += 1;
            #[allow(unreachable_patterns)]
            let IpAddress::Ipv6(ip) = meta.endpoint.addr else {
                continue;
            };
            let from = SocketAddr::V6(SocketAddrV6::new(ip, meta.endpoint.port, 0, 0));
            p.endpoint.handle(now, from, data);
        }
        p.more = socket.can_recv();
        if p.timeout.is_some_and(|t| t <= now) {
            p.endpoint.handle_timeout(now);
        }
        let mut in_endpoint = elapsed(t);
        let t = clock(self.profile);
        echo(now, p, &self.ledger);
        let in_app = elapsed(t);
        let t = clock(self.profile);
        p.tx_full = false;
        loop {
            // Room for a whole packet even where the ring wraps, as the driver does.
            if !socket.can_send()
                || socket.payload_send_capacity() - socket.send_queue() < 2 * MAX_UDP_PAYLOAD
            {
                p.tx_full = true;
                break;
            }
            let Some(tx) = p.endpoint.poll_transmit(now, &mut self.buf) else {
                break;
            };
            let SocketAddr::V6(dst) = tx.destination else {
                p.send_errors += 1;
                continue;
            };
            let meta = udp::UdpMetadata {
                endpoint: IpEndpoint::new(IpAddress::Ipv6(*dst.ip()), dst.port()),
                local_address: Some(IpAddress::Ipv6(local)),
                meta: Default::default(),
            };
            if socket.send_slice(&self.buf[..tx.len], meta).is_err() {
                p.send_errors += 1;
            }
        }
        p.timeout = p.endpoint.poll_timeout();
        in_endpoint += elapsed(t);
        (in_endpoint, in_app)
    }
}

/// Reads endpoint `p`'s events: echoes every datagram, records session events. Returns
/// whether anything was echoed.
fn echo(now: Instant, p: &mut ServerPort, ledger: &Shared) -> bool {
    let mut buf = [0u8; MAX_UDP_PAYLOAD];
    let mut echoed = false;
    while let Some((h, event)) = p.endpoint.poll_event() {
        let slot = h.0 as usize;
        if p.ids.len() <= slot {
            p.ids.resize(slot + 1, UNKNOWN);
        }
        let mut ledger = ledger.borrow_mut();
        let known = |ledger: &mut super::ledger::Ledger, id: u32| {
            if id == UNKNOWN {
                ledger.unattributed_events += 1;
                None
            } else {
                Some(id as usize)
            }
        };
        match event {
            Event::DatagramsReadable => {
                while let Some(n) = p.endpoint.recv_datagram(h, &mut buf) {
                    let Some((session, epoch)) = decode(&buf[..n]) else {
                        continue;
                    };
                    p.ids[slot] = session;
                    ledger.up(now, session, epoch);
                    if p.endpoint.send_datagram(h, &buf[..n]).is_ok() {
                        ledger.sessions[session as usize].echoed += 1;
                        echoed = true;
                    }
                }
            }
            Event::PeerAddressChanged { .. } => {
                if let Some(id) = known(&mut ledger, p.ids[slot]) {
                    ledger.sessions[id].migrations += 1;
                }
            }
            Event::PathValidated { .. } => {
                if let Some(id) = known(&mut ledger, p.ids[slot]) {
                    ledger.sessions[id].validations += 1;
                }
            }
            Event::PathReverted { .. } => {
                if let Some(id) = known(&mut ledger, p.ids[slot]) {
                    ledger.sessions[id].reverts += 1;
                }
            }
            Event::Closed(reason) => {
                if let Some(id) = known(&mut ledger, p.ids[slot]) {
                    ledger.sessions[id].closed_server = Some(format!("{reason:?}"));
                }
            }
            Event::Connected { .. } => {}
        }
    }
    echoed
}

impl Node for ServerNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let t = clock(self.profile);
        let port = &mut ports[0];
        self.host.poll(now, port, &mut self.sockets, &mut self.rng);
        if self.address.is_none() {
            self.address = global_address(self.host.interface());
            if let Some(a) = self.address {
                self.ledger.borrow_mut().servers[self.index] = Some(a);
            }
        }
        let mut in_endpoint = std::time::Duration::ZERO;
        let mut in_app = std::time::Duration::ZERO;
        let mut runs = 0;
        if self.address.is_some() {
            for k in 0..self.ports.len() {
                let p = &self.ports[k];
                let waiting = self.sockets.get::<udp::Socket<'_>>(p.socket).can_recv();
                if waiting || p.more || p.timeout.is_some_and(|t| t <= now) {
                    let (e, a) = self.run_port(now, k);
                    in_endpoint += e;
                    in_app += a;
                    runs += 1;
                }
            }
        }
        for _ in 0..16 {
            self.host.poll(now, port, &mut self.sockets, &mut self.rng);
            let full: Vec<usize> = (0..self.ports.len())
                .filter(|&k| self.ports[k].tx_full)
                .collect();
            if full.is_empty() {
                break;
            }
            for k in full {
                let (e, a) = self.run_port(now, k);
                in_endpoint += e;
                in_app += a;
                runs += 1;
            }
        }
        if self.profile {
            let mut ledger = self.ledger.borrow_mut();
            ledger.profile.servers += elapsed(t);
            ledger.profile.server_endpoints += in_endpoint;
            ledger.profile.server_app += in_app;
            ledger.profile.server_polls += 1;
            ledger.profile.server_endpoint_runs += runs;
        }
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.ports.iter().any(|p| p.more || p.tx_full) {
            return Some(now);
        }
        self.ports
            .iter()
            .filter_map(|p| p.timeout)
            .chain(self.host.poll_at(now, &self.sockets))
            .min()
    }
}
