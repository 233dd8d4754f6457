//! A blocking TCP stream over a roaming session, for std users: [`RoamingStream`].
//!
//! ```text
//!  Read / Write                         RoamingStream
//!  smoltcp TCP socket                   identity:49152 <-> identity:StreamConfig::port
//!  smoltcp Interface on a Tunnel        (crate::tunnel)
//!  Endpoint on a std UdpSocket          (crate::driver::UdpDriver), IPv4 or IPv6
//! ```
//!
//! # Design: an internal loop, no thread
//!
//! The stream owns everything: the UDP socket, the [`Endpoint`], the [`Tunnel`], a smoltcp
//! `Interface` and one TCP socket. Every blocking call (`connect`, `accept`, `read`,
//! `write`, `flush`, `shutdown`) runs the loop itself until it can return: poll the
//! interface on the tunnel, send what the endpoint has, then wait in the UDP socket until a
//! datagram arrives or the earliest timer (smoltcp's or the endpoint's) is due.
//!
//! So there are no threads, locks or channels, and a stream is `Send` (move it to the thread
//! that uses it). The price: nothing happens while no call is running. A peer that stays
//! silent for longer than the session's idle timeout (60 s by default) between calls loses
//! the session; TCP acknowledgments and keepalives go out only during calls. Programs that
//! compute for long between reads should call [`poll`](RoamingStream::poll) now and then,
//! or drive the pieces themselves ([`UdpDriver`], [`Tunnel`]) from their own event loop.
//!
//! One stream per UDP socket: [`accept`](RoamingStream::accept) takes the first session
//! that connects and refuses others (an endpoint serving many sessions on one port is the
//! [`Endpoint`]'s job; put a tunnel per session on it).
//!
//! # Moving
//!
//! The stream survives every change of address: [`rebind`](RoamingStream::rebind) moves it
//! to a new UDP socket (a new network, a new port) and tells the peer at once; a NAT that
//! rebinds the port behind its back is followed by the peer by itself (see
//! [`UdpDriver::replace_socket`]).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration as StdDuration;

use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, Ipv6Address};

use crate::driver::UdpDriver;
use crate::tunnel::{ReplayConfig, Tunnel};
use crate::{CloseReason, Config, Endpoint, Event, SessionHandle, SessionStats, StaticKeypair};

/// The local TCP port of the connecting side (inside the tunnel nothing else uses ports).
const CLIENT_PORT: u16 = 49_152;

/// How a [`RoamingStream`] is set up.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The session layer's configuration.
    pub roaming: Config,
    /// Seed of the endpoint's random generator (identifiers, ephemeral keys, challenges):
    /// draw it from the operating system ([`os_seed`] on Unix).
    pub rng_seed: [u8; 32],
    /// Bytes of each of the TCP socket's buffers (default 256 KiB).
    pub tcp_buffer: usize,
    /// The TCP port inside the tunnel (default 443); both ends must agree.
    pub port: u16,
    /// Longest `connect` and `accept` wait (default 30 s).
    pub connect_timeout: Option<StdDuration>,
    /// Longest a `read`, `write` or `flush` waits (default: no limit).
    pub io_timeout: Option<StdDuration>,
    /// Compute and check TCP/IP checksums inside the tunnel (default: no, see
    /// [`Tunnel::set_checksum_offload`]: the session's AEAD authenticates every byte, and both
    /// ends of a stream are this crate's).
    pub checksums: bool,
    /// Replay the tail of what the tunnel sent when the session's path changes (default:
    /// yes), with a ring that holds a whole window of `tcp_buffer` bytes, so a window lost
    /// in a move is sent again at once instead of after TCP's retransmission timeout (see
    /// [`Tunnel::set_replay`] and the tunnel's module docs).
    pub replay: bool,
}

impl StreamConfig {
    /// Defaults, with this random seed.
    pub fn new(rng_seed: [u8; 32]) -> StreamConfig {
        StreamConfig {
            roaming: Config::default(),
            rng_seed,
            tcp_buffer: 256 * 1024,
            port: 443,
            connect_timeout: Some(StdDuration::from_secs(30)),
            io_timeout: None,
            checksums: false,
            replay: true,
        }
    }
}

/// 32 bytes from the operating system's random source (`/dev/urandom`).
#[cfg(unix)]
pub fn os_seed() -> io::Result<[u8; 32]> {
    use std::io::Read as _;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

/// A blocking, bidirectional byte stream between two static keys, carried by TCP between
/// their identity addresses over a roaming session (see the module docs).
pub struct RoamingStream {
    driver: UdpDriver,
    session: SessionHandle,
    tunnel: Tunnel,
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    closed: Option<CloseReason>,
    io_timeout: Option<StdDuration>,
}

fn error(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

fn close_error(reason: CloseReason) -> io::Error {
    let kind = match reason {
        CloseReason::IdleTimeout | CloseReason::HandshakeTimeout => io::ErrorKind::TimedOut,
        CloseReason::Peer(_) | CloseReason::Local => io::ErrorKind::ConnectionAborted,
        CloseReason::ProtocolViolation | CloseReason::Exhausted => io::ErrorKind::ConnectionReset,
    };
    io::Error::new(kind, format!("session closed: {reason:?}"))
}

/// A deadline `timeout` from now.
fn deadline(timeout: Option<StdDuration>) -> Option<std::time::Instant> {
    timeout.map(|t| std::time::Instant::now() + t)
}

/// Time left until `deadline`; `Err(TimedOut)` once it passed.
fn remaining(deadline: Option<std::time::Instant>) -> io::Result<Option<StdDuration>> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let now = std::time::Instant::now();
            if now >= d {
                Err(error(io::ErrorKind::TimedOut, "timed out"))
            } else {
                Ok(Some(d - now))
            }
        }
    }
}

impl RoamingStream {
    /// Connect from `socket` to the server at `server`, whose static public key is
    /// `server_key`, and open the TCP connection inside the session.
    pub fn connect(
        socket: UdpSocket,
        keypair: StaticKeypair,
        server: SocketAddr,
        server_key: [u8; 32],
        config: StreamConfig,
    ) -> io::Result<RoamingStream> {
        let mut roaming = config.roaming.clone();
        roaming.accept_incoming = false;
        let endpoint = Endpoint::new(roaming, keypair, config.rng_seed)
            .map_err(|e| error(io::ErrorKind::InvalidInput, &e.to_string()))?;
        let mut driver = UdpDriver::new(socket, endpoint)?;
        let now = driver.now();
        let session = driver
            .endpoint_mut()
            .connect(now, server, server_key)
            .map_err(|e| error(io::ErrorKind::InvalidInput, &e.to_string()))?;
        let mut stream = RoamingStream::build(driver, session, &config)?;
        let peer = IpAddress::Ipv6(stream.tunnel.peer_address());
        let socket = stream.sockets.get_mut::<tcp::Socket<'_>>(stream.tcp);
        socket
            .connect(stream.iface.context(), (peer, config.port), CLIENT_PORT)
            .map_err(|e| error(io::ErrorKind::InvalidInput, &e.to_string()))?;
        stream.wait_established(deadline(config.connect_timeout))?;
        Ok(stream)
    }

    /// Wait on `socket` for a session (any key allowed by `config.roaming.allowed_peers`)
    /// and the TCP connection inside it.
    pub fn accept(
        socket: UdpSocket,
        keypair: StaticKeypair,
        config: StreamConfig,
    ) -> io::Result<RoamingStream> {
        let mut roaming = config.roaming.clone();
        roaming.accept_incoming = true;
        let endpoint = Endpoint::new(roaming, keypair, config.rng_seed)
            .map_err(|e| error(io::ErrorKind::InvalidInput, &e.to_string()))?;
        let mut driver = UdpDriver::new(socket, endpoint)?;
        let until = deadline(config.connect_timeout);
        let session = loop {
            let connected = core::iter::from_fn(|| driver.endpoint_mut().poll_event())
                .find_map(|(h, e)| matches!(e, Event::Connected { .. }).then_some(h));
            if let Some(h) = connected {
                break h;
            }
            driver.run_once(remaining(until)?)?;
        };
        // One session per stream: later initiations are not answered.
        let mut stream = RoamingStream::build(driver, session, &config)?;
        let socket = stream.sockets.get_mut::<tcp::Socket<'_>>(stream.tcp);
        socket
            .listen(config.port)
            .map_err(|e| error(io::ErrorKind::InvalidInput, &e.to_string()))?;
        stream.wait_established(until)?;
        Ok(stream)
    }

    fn build(
        mut driver: UdpDriver,
        session: SessionHandle,
        config: &StreamConfig,
    ) -> io::Result<RoamingStream> {
        let mut tunnel = Tunnel::new(driver.endpoint(), session)
            .ok_or_else(|| error(io::ErrorKind::NotConnected, "no session"))?;
        tunnel.set_checksum_offload(!config.checksums);
        tunnel.set_replay(if config.replay {
            // A slot per full-sized segment of a window (MTU less the IPv6 and TCP headers).
            let segment = tunnel.mtu().saturating_sub(60).max(1);
            ReplayConfig {
                packets: config.tcp_buffer.div_ceil(segment),
                ..ReplayConfig::default()
            }
        } else {
            ReplayConfig::OFF
        });
        let now = driver.now();
        let seed = u64::from_le_bytes(config.rng_seed[..8].try_into().unwrap_or([0; 8]));
        let iface = tunnel.interface(driver.endpoint_mut(), now, seed ^ 0x7463_705f_7365_6564);
        let mut sockets = SocketSet::new(Vec::new());
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; config.tcp_buffer]),
            tcp::SocketBuffer::new(vec![0; config.tcp_buffer]),
        );
        // No Nagle: a stream's last small segment would otherwise wait for the
        // acknowledgment of everything before it, and after a move that acknowledgment may
        // be the one thing lost (sent to the old address), leaving both sides waiting on
        // timers; `write` already hands TCP whole buffers, so small segments are rare.
        let mut socket = socket;
        socket.set_nagle_enabled(false);
        let tcp = sockets.add(socket);
        Ok(RoamingStream {
            driver,
            session,
            tunnel,
            iface,
            sockets,
            tcp,
            closed: None,
            io_timeout: config.io_timeout,
        })
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'static>>(self.tcp)
    }

    fn wait_established(&mut self, until: Option<std::time::Instant>) -> io::Result<()> {
        loop {
            self.check_session()?;
            match self.socket().state() {
                tcp::State::Established | tcp::State::CloseWait => return Ok(()),
                tcp::State::Closed => {
                    return Err(error(
                        io::ErrorKind::ConnectionRefused,
                        "TCP connection refused",
                    ));
                }
                _ => {}
            }
            self.drive(remaining(until)?)?;
        }
    }

    /// An error if the session is gone.
    fn check_session(&self) -> io::Result<()> {
        match self.closed {
            Some(reason) => Err(close_error(reason)),
            None => Ok(()),
        }
    }

    /// Poll the interface on the tunnel and read the endpoint's events.
    fn poll_inner(&mut self) {
        let now = self.driver.now();
        for _ in 0..8 {
            let endpoint = self.driver.endpoint_mut();
            self.iface
                .poll(now, &mut self.tunnel.device(endpoint), &mut self.sockets);
            self.driver.transmit();
            if !self.tunnel.has_backlog() {
                break;
            }
        }
        while let Some((h, e)) = self.driver.endpoint_mut().poll_event() {
            if h != self.session {
                // Not ours (a second client on a server's socket): refuse it.
                self.driver.endpoint_mut().close(h);
                continue;
            }
            if let Event::Closed(reason) = e {
                self.closed = Some(reason);
            }
        }
    }

    /// One turn of the loop: poll, then wait at most `max_wait` (and at most until the next
    /// timer) for datagrams, then poll again.
    fn drive(&mut self, max_wait: Option<StdDuration>) -> io::Result<()> {
        self.poll_inner();
        let now = self.driver.now();
        let inner = if self.tunnel.has_backlog() || self.driver.has_more() {
            Some(StdDuration::ZERO)
        } else {
            self.iface
                .poll_delay(now, &self.sockets)
                .map(|d| StdDuration::from_micros(d.total_micros()))
        };
        let wait = match (inner, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.driver.run_once(wait)?;
        self.poll_inner();
        // A burst larger than a batch: read the session between batches.
        while self.driver.has_more() {
            self.driver.poll()?;
            self.poll_inner();
        }
        Ok(())
    }

    /// Run the loop once without blocking: receive, run timers, send acknowledgments and
    /// keepalives. Call it now and then when not reading or writing for a while.
    pub fn poll(&mut self) -> io::Result<()> {
        self.drive(Some(StdDuration::ZERO))
    }

    /// Move to another UDP socket (a new address or port) and tell the peer at once; returns
    /// the old socket. The TCP connection goes on.
    pub fn rebind(&mut self, socket: UdpSocket) -> io::Result<UdpSocket> {
        let old = self.driver.replace_socket(socket)?;
        self.driver.local_address_changed();
        self.poll()?;
        Ok(old)
    }

    /// Wait until everything written has been acknowledged by the peer.
    fn wait_sent(&mut self) -> io::Result<()> {
        let until = deadline(self.io_timeout);
        while self.socket().send_queue() > 0 {
            self.check_session()?;
            if !self.socket().is_active() {
                return Err(error(io::ErrorKind::BrokenPipe, "connection closed"));
            }
            self.drive(remaining(until)?)?;
        }
        Ok(())
    }

    /// Close the stream: once everything written is acknowledged, send FIN, wait until the
    /// peer has closed its side too (its FIN; at most the I/O timeout, or 10 s), then close
    /// the session. Read what the peer still sends before calling this.
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.wait_sent()?;
        self.socket().close();
        let until = deadline(self.io_timeout.or(Some(StdDuration::from_secs(10))));
        loop {
            let state = self.socket().state();
            if matches!(state, tcp::State::TimeWait | tcp::State::Closed) {
                break;
            }
            if let Some(reason) = self.closed {
                // The peer ended the session after both FINs were sent: nothing more comes.
                if matches!(state, tcp::State::FinWait2 | tcp::State::LastAck) {
                    break;
                }
                return Err(close_error(reason));
            }
            self.drive(remaining(until)?)?;
        }
        if self.closed.is_none() {
            self.driver.endpoint_mut().close(self.session);
            self.driver.transmit();
        }
        Ok(())
    }

    /// Set the longest `read`, `write` or `flush` waits (`None`: no limit).
    pub fn set_timeout(&mut self, timeout: Option<StdDuration>) {
        self.io_timeout = timeout;
    }

    /// The peer's static public key (authenticated by the handshake).
    pub fn peer_public_key(&self) -> Option<[u8; 32]> {
        self.driver.endpoint().peer_static(self.session)
    }

    /// Our identity address.
    pub fn local_identity(&self) -> Ipv6Address {
        self.tunnel.local_address()
    }

    /// The peer's identity address.
    pub fn peer_identity(&self) -> Ipv6Address {
        self.tunnel.peer_address()
    }

    /// The session's state (current peer address, migrations, validations, RTT).
    pub fn session_stats(&self) -> Option<SessionStats> {
        self.driver.endpoint().session_stats(self.session)
    }

    /// The tunnel (its counters).
    pub fn tunnel(&self) -> &Tunnel {
        &self.tunnel
    }

    /// The UDP driver (socket, counters).
    pub fn driver(&self) -> &UdpDriver {
        &self.driver
    }

    /// The UDP driver, to change sockets without telling the peer (a NAT rebinding, as the
    /// peer sees it) or to reach the endpoint.
    pub fn driver_mut(&mut self) -> &mut UdpDriver {
        &mut self.driver
    }
}

impl io::Read for RoamingStream {
    /// Blocks until at least one byte is there; `Ok(0)` once the peer has closed its side.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = deadline(self.io_timeout);
        loop {
            let socket = self.socket();
            if socket.can_recv() {
                let n = socket
                    .recv_slice(buf)
                    .map_err(|e| error(io::ErrorKind::ConnectionReset, &e.to_string()))?;
                // Let the peer know the window opened once a good part was read.
                if socket.recv_queue() < socket.recv_capacity() / 2 {
                    self.poll_inner();
                }
                return Ok(n);
            }
            if !socket.may_recv() {
                return match socket.state() {
                    // The peer sent FIN: end of stream.
                    tcp::State::CloseWait
                    | tcp::State::LastAck
                    | tcp::State::TimeWait
                    | tcp::State::Closing => Ok(0),
                    _ => match self.closed {
                        Some(reason) => Err(close_error(reason)),
                        None => Ok(0),
                    },
                };
            }
            self.check_session()?;
            self.drive(remaining(until)?)?;
        }
    }
}

impl io::Write for RoamingStream {
    /// Blocks until the socket's buffer takes at least one byte.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = deadline(self.io_timeout);
        loop {
            self.check_session()?;
            let socket = self.socket();
            if !socket.may_send() {
                return Err(error(io::ErrorKind::BrokenPipe, "connection closed"));
            }
            if socket.can_send() {
                let n = socket
                    .send_slice(buf)
                    .map_err(|e| error(io::ErrorKind::BrokenPipe, &e.to_string()))?;
                self.poll_inner();
                return Ok(n);
            }
            self.drive(remaining(until)?)?;
        }
    }

    /// Blocks until everything written was acknowledged by the peer.
    fn flush(&mut self) -> io::Result<()> {
        self.wait_sent()
    }
}

impl Drop for RoamingStream {
    /// Without [`shutdown`](RoamingStream::shutdown): reset the TCP connection and close
    /// the session, sending what that takes once, without waiting.
    fn drop(&mut self) {
        if self.closed.is_none() && self.socket().is_open() {
            self.socket().abort();
            self.poll_inner();
            self.driver.endpoint_mut().close(self.session);
            self.driver.transmit();
        }
    }
}
