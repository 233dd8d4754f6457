//! Drivers: move an [`Endpoint`]'s datagrams between it and a UDP socket, run its timers.
//!
//! - [`UdpDriver`]: a `std::net::UdpSocket` (IPv4 or IPv6), non-blocking, with a
//!   [`run_once`](UdpDriver::run_once) loop that sleeps in the socket until a datagram
//!   arrives or the endpoint's next timer.
//! - [`SmoltcpDriver`]: a smoltcp UDP socket on an outer smoltcp `Interface` (or a
//!   bridgeless [`Host`], whose addresses come from Router Advertisements). It notices when
//!   the interface's address changes (a phone that moved to another access point) and calls
//!   [`Endpoint::local_address_changed`], and it sends from the newest address. While the
//!   interface has no global address it sends nothing (the datagrams wait in the endpoint):
//!   see [`SmoltcpDriver::poll`].
//!
//! Both only carry datagrams: put a [`Tunnel`](crate::tunnel::Tunnel) and a smoltcp
//! interface on top for TCP and UDP between identities, or use
//! [`RoamingStream`](crate::stream::RoamingStream).

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::Duration as StdDuration;

use bridgeless_iface::host::Host;
use rand_core::RngCore;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv6Address};

use crate::{Endpoint, Instant};

/// Largest UDP datagram the drivers receive.
const MAX_UDP: usize = 65_535;

/// Datagrams a driver hands to the endpoint per call by default: 32 full-size datagrams fit
/// a session's default 64 KiB receive queue, so a burst is not dropped before the tunnel (or
/// the user) has read the queue. Between batches the caller reads the sessions.
pub const RECEIVE_BATCH: usize = 32;

/// What a driver did, for users and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Datagrams received and handed to the endpoint.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams the socket refused (buffer full, unreachable, wrong address family): lost,
    /// as on any network; the session recovers.
    pub send_errors: u64,
    /// Receive errors other than "nothing waiting" (ignored, counted).
    pub recv_errors: u64,
    /// Times the local address changed and the endpoint was told.
    pub address_changes: u64,
    /// [`SmoltcpDriver`]: polls in which the endpoint's datagrams were held back because the
    /// interface had no global address to send them from (before the first one, or between
    /// leaving one link and forming an address on the next). They wait in the endpoint,
    /// within its queue limits, and go out from the new address, under the fresh identifiers
    /// [`Endpoint::local_address_changed`] switched to.
    pub held_no_address: u64,
}

/// An [`Endpoint`] on a `std::net::UdpSocket` (IPv4 or IPv6), with a monotonic clock.
///
/// Time is `std::time::Instant` since the driver was made, as a smoltcp `Instant`. The
/// socket is non-blocking; [`run_once`](Self::run_once) blocks in it with a read timeout
/// until a datagram arrives or the endpoint's next timer is due.
pub struct UdpDriver {
    socket: UdpSocket,
    endpoint: Endpoint,
    origin: std::time::Instant,
    buf: Vec<u8>,
    counters: DriverCounters,
    batch: usize,
    /// The last receive stopped at the batch limit: more may be waiting.
    more: bool,
}

impl UdpDriver {
    /// A driver for `endpoint` on `socket` (made non-blocking).
    pub fn new(socket: UdpSocket, endpoint: Endpoint) -> io::Result<UdpDriver> {
        socket.set_nonblocking(true)?;
        Ok(UdpDriver {
            socket,
            endpoint,
            origin: std::time::Instant::now(),
            buf: vec![0; MAX_UDP],
            counters: DriverCounters::default(),
            batch: RECEIVE_BATCH,
            more: false,
        })
    }

    /// Hand at most `n` datagrams (at least 1) to the endpoint per call (default
    /// [`RECEIVE_BATCH`]); read the sessions' datagrams between calls.
    pub fn set_receive_batch(&mut self, n: usize) {
        self.batch = n.max(1);
    }

    /// The last call stopped at the batch limit: call [`poll`](Self::poll) again (after
    /// reading the sessions) before waiting.
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// The driver's clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as i64)
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, to connect, send and read.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// What the driver did so far.
    pub fn counters(&self) -> DriverCounters {
        self.counters
    }

    /// Use another socket from now on (made non-blocking) and return the old one. The
    /// endpoint is not told: to its peer this looks like a NAT rebinding, which it follows
    /// after validating the new address. Call
    /// [`local_address_changed`](Self::local_address_changed) as well when the host knows it
    /// moved, so that fresh identifiers are used and the peer hears at once.
    pub fn replace_socket(&mut self, socket: UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(core::mem::replace(&mut self.socket, socket))
    }

    /// Tell the endpoint its address changed (see [`Endpoint::local_address_changed`]).
    pub fn local_address_changed(&mut self) {
        let now = self.now();
        self.endpoint.local_address_changed(now);
        self.counters.address_changes += 1;
    }

    /// Send everything the endpoint has to send.
    pub fn transmit(&mut self) {
        let now = self.now();
        while let Some(t) = self.endpoint.poll_transmit(now, &mut self.buf) {
            match self.socket.send_to(&self.buf[..t.len], t.destination) {
                Ok(_) => self.counters.sent += 1,
                Err(e) => {
                    log::debug!("send to {} failed: {e}", t.destination);
                    self.counters.send_errors += 1;
                }
            }
        }
    }

    /// Hand one received datagram to the endpoint; false when nothing was waiting.
    fn receive_one(&mut self) -> io::Result<bool> {
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, from)) => {
                let now = self.now();
                self.endpoint.handle(now, canonical(from), &self.buf[..n]);
                self.counters.received += 1;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            // An ICMP error for an earlier send (some systems report it on the next receive).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) =>
            {
                self.counters.recv_errors += 1;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Run expired timers.
    pub fn handle_timeout(&mut self) {
        let now = self.now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    /// Without blocking: receive waiting datagrams (at most a batch, see
    /// [`has_more`](Self::has_more)), run timers, send. Returns how many were received.
    pub fn poll(&mut self) -> io::Result<usize> {
        let mut n = 0;
        while n < self.batch && self.receive_one()? {
            n += 1;
        }
        self.more = n == self.batch;
        self.handle_timeout();
        self.transmit();
        Ok(n)
    }

    /// How long until the endpoint's next timer, at most `limit` (`None`: no limit).
    pub fn wait_time(&self, limit: Option<StdDuration>) -> Option<StdDuration> {
        let now = self.now();
        let timer = self.endpoint.poll_timeout().map(|t| {
            if t <= now {
                StdDuration::ZERO
            } else {
                StdDuration::from_micros((t - now).total_micros())
            }
        });
        match (timer, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Send what is due, then wait in the socket for a datagram, at most until the endpoint's
    /// next timer or `timeout` (`None`: no limit but the timers), then receive what is
    /// waiting (a batch: see [`has_more`](Self::has_more)), run timers and send. Does not
    /// wait when the last call left datagrams waiting. Returns the number received.
    pub fn run_once(&mut self, timeout: Option<StdDuration>) -> io::Result<usize> {
        self.transmit();
        let before = self.counters.received;
        let wait = if self.more {
            Some(StdDuration::ZERO)
        } else {
            self.wait_time(timeout)
        };
        if wait != Some(StdDuration::ZERO) {
            // A zero read timeout means "forever" to std: wait at least a microsecond.
            let wait = wait.map(|w| w.max(StdDuration::from_micros(1)));
            self.socket.set_nonblocking(false)?;
            self.socket.set_read_timeout(wait)?;
            let r = self.receive_one();
            self.socket.set_nonblocking(true)?;
            r?;
        }
        self.poll()?;
        Ok((self.counters.received - before) as usize)
    }
}

/// An IPv4-mapped IPv6 source (a dual-stack socket) as the IPv4 address it is, so that a
/// peer seen on both families is one address.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}

/// An [`Endpoint`] on a smoltcp UDP socket: the caller owns the outer `Interface` (or
/// [`Host`]) and the `SocketSet`; the driver owns the socket's handle.
///
/// Per iteration, after polling the outer interface: [`poll`](Self::poll) (or
/// [`poll_host`](Self::poll_host), which polls a `Host` around it). The outer stack is
/// IPv6 (bridgeless links carry no IPv4).
pub struct SmoltcpDriver {
    udp: SocketHandle,
    /// The address the endpoint is sending from, as far as the driver knows.
    current: Option<Ipv6Address>,
    /// The interface's global addresses at the last look.
    seen: Vec<Ipv6Address>,
    buf: Vec<u8>,
    counters: DriverCounters,
    batch: usize,
}

impl SmoltcpDriver {
    /// A driver with a new UDP socket bound to `port` (any address) in `sockets`, with room
    /// for `datagrams` datagrams of `max_udp_payload` bytes each way.
    pub fn new(
        sockets: &mut SocketSet<'_>,
        port: u16,
        datagrams: usize,
        max_udp_payload: usize,
    ) -> SmoltcpDriver {
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; datagrams],
                vec![0; datagrams * max_udp_payload],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        // Binding a fresh socket to a non-zero port cannot fail.
        let _ = socket.bind(port);
        SmoltcpDriver {
            udp: sockets.add(socket),
            current: None,
            seen: Vec::new(),
            buf: vec![0; MAX_UDP],
            counters: DriverCounters::default(),
            batch: RECEIVE_BATCH,
        }
    }

    /// Hand at most `n` datagrams (at least 1) to the endpoint per [`poll`](Self::poll)
    /// (default [`RECEIVE_BATCH`]).
    pub fn set_receive_batch(&mut self, n: usize) {
        self.batch = n.max(1);
    }

    /// The UDP socket's handle.
    pub fn socket(&self) -> SocketHandle {
        self.udp
    }

    /// The address datagrams are sent from.
    pub fn local_address(&self) -> Option<Ipv6Address> {
        self.current
    }

    /// What the driver did so far.
    pub fn counters(&self) -> DriverCounters {
        self.counters
    }

    /// Whether datagrams can be sent now: the address to send from is one the interface
    /// has (false before the first global address, and between links).
    pub fn can_send(&self) -> bool {
        self.current.is_some_and(|a| self.seen.contains(&a))
    }

    /// Look at the interface's addresses: when a global address appears (the host moved
    /// and formed one on the new link), it becomes the address to send from and the endpoint
    /// is told; when the one in use disappears, another takes its place (or, when none is
    /// left, the next one to appear: a move that passes through "no address" is a change
    /// once the new address exists). Returns whether the address changed.
    pub fn check_address(
        &mut self,
        now: Instant,
        iface: &Interface,
        endpoint: &mut Endpoint,
    ) -> bool {
        let globals = iface.ip_addrs().iter().filter_map(|c| match c.address() {
            IpAddress::Ipv6(a) if !a.is_unicast_link_local() && !a.is_multicast() => Some(a),
            #[allow(unreachable_patterns)]
            _ => None,
        });
        let mut newest = None;
        let mut still_there = false;
        let mut now_seen = Vec::with_capacity(self.seen.len() + 1);
        for a in globals {
            if !self.seen.contains(&a) {
                newest = Some(a);
            }
            still_there |= Some(a) == self.current;
            now_seen.push(a);
        }
        self.seen = now_seen;
        // While no address is there (between two links), keep the last one: the next
        // address to appear is a change from it.
        let next = match newest {
            Some(a) => Some(a),
            None if still_there => self.current,
            None => self.seen.last().copied().or(self.current),
        };
        if next == self.current {
            return false;
        }
        let had = self.current.is_some();
        self.current = next;
        if had && next.is_some() {
            endpoint.local_address_changed(now);
            self.counters.address_changes += 1;
            return true;
        }
        false
    }

    /// Hand the datagrams the UDP socket received to the endpoint (at most a batch), check
    /// the address, run the endpoint's timers and move its datagrams into the socket (while
    /// there is room: the rest wait in the endpoint). Poll the outer interface afterwards to
    /// send them.
    ///
    /// Without a global address to send from ([`can_send`](Self::can_send) false), nothing is
    /// moved: smoltcp would send from the link-local address, which routers rightly answer
    /// with "beyond scope of source address" (RFC 4443 §3.1), or from the address the host
    /// just left, under the old path's identifiers. The datagrams wait in the endpoint (counted
    /// in [`DriverCounters::held_no_address`]) and leave from the new address once it exists,
    /// after the endpoint was told of the change. Returns true when datagrams are still waiting in the socket: read the
    /// sessions, then call again.
    pub fn poll(
        &mut self,
        now: Instant,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        endpoint: &mut Endpoint,
    ) -> bool {
        self.check_address(now, iface, endpoint);
        let socket = sockets.get_mut::<udp::Socket<'_>>(self.udp);
        let mut n = 0;
        while n < self.batch
            && let Ok((data, meta)) = socket.recv()
        {
            n += 1;
            #[allow(unreachable_patterns)]
            let from = match meta.endpoint.addr {
                IpAddress::Ipv6(ip) => {
                    SocketAddr::V6(SocketAddrV6::new(ip, meta.endpoint.port, 0, 0))
                }
                _ => {
                    self.counters.recv_errors += 1;
                    continue;
                }
            };
            endpoint.handle(now, from, data);
            self.counters.received += 1;
        }
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
        }
        if !self.can_send() {
            // No global address: smoltcp would send from the link-local address (routers
            // answer "beyond scope of source address", RFC 4443 §3.1) or from an address
            // this host no longer has, and under identifiers of the old path. Hold
            // everything in the endpoint until an address exists.
            self.counters.held_no_address += 1;
            return socket.can_recv();
        }
        let max = endpoint.config().max_udp_payload;
        loop {
            // Room for a whole datagram even where the ring wraps.
            let room = socket.payload_send_capacity() - socket.send_queue();
            if !socket.can_send() || room < 2 * max {
                break;
            }
            let Some(t) = endpoint.poll_transmit(now, &mut self.buf) else {
                break;
            };
            let SocketAddr::V6(dst) = t.destination else {
                self.counters.send_errors += 1; // no IPv4 on the outer stack
                continue;
            };
            let meta = udp::UdpMetadata {
                endpoint: IpEndpoint::new(IpAddress::Ipv6(*dst.ip()), dst.port()),
                local_address: self.current.map(IpAddress::Ipv6),
                meta: Default::default(),
            };
            match socket.send_slice(&self.buf[..t.len], meta) {
                Ok(()) => self.counters.sent += 1,
                Err(_) => self.counters.send_errors += 1,
            }
        }
        socket.can_recv()
    }

    /// One iteration over a bridgeless [`Host`] (the phone case): poll the host (router
    /// discovery may add or remove addresses), move datagrams ([`poll`](Self::poll)), poll
    /// the host again to send them. Returns whether datagrams are still waiting (as
    /// [`poll`](Self::poll)).
    pub fn poll_host<D: Device, R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        host: &mut Host,
        device: &mut D,
        sockets: &mut SocketSet<'_>,
        endpoint: &mut Endpoint,
        rng: &mut R,
    ) -> bool {
        host.poll(now, device, sockets, rng);
        let more = self.poll(now, host.interface(), sockets, endpoint);
        host.poll(now, device, sockets, rng);
        more
    }
}
