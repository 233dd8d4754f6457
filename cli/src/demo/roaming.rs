//! The stream over a roaming session: [`RoamingTransport`].
//!
//! Each end is two smoltcp stacks, as in `bridgeless-roaming`'s own simulator test: the outer
//! one is the node's bridgeless `Host`, with the session's UDP socket (the mobility port,
//! driven by [`SmoltcpDriver`]); the inner one is an `Interface` on a [`Tunnel`] over the
//! session, holding the stream's TCP socket between the two identity addresses. The phone's
//! outer address changes at every move; the identities never do, so the TCP connection
//! outlives the moves while the session migrates underneath.

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV6};

use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::tunnel::Tunnel;
use bridgeless_roaming::{Config, Endpoint, Event, SessionHandle, StaticKeypair};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, Ipv6Address};

use super::transport::{TCP_PORT, Transport, TransportStats, tcp_socket};
use super::watch::{TcpSent, Watch};

/// The mobility port (UDP) of both ends.
pub const ROAMING_PORT: u16 = 4433;
/// Datagrams the session's UDP socket buffers each way.
const UDP_DATAGRAMS: usize = 64;

/// One end of the stream over a roaming session (see the module docs).
pub struct RoamingTransport {
    endpoint: Endpoint,
    driver: SmoltcpDriver,
    /// The server's public key, for the client.
    server_key: Option<[u8; 32]>,
    session: Option<SessionHandle>,
    tunnel: Option<Tunnel>,
    inner: Option<Interface>,
    inner_sockets: SocketSet<'static>,
    tcp: Option<SocketHandle>,
    seed: u64,
    events: VecDeque<String>,
    established: bool,
    closed: bool,
    /// The outer address last seen, and the driver's count of address changes then.
    tcp_sent: TcpSent,
}

impl RoamingTransport {
    /// A client that will open a session to the server with public key `server_key`.
    pub fn client(
        sockets: &mut SocketSet<'static>,
        key: StaticKeypair,
        server_key: [u8; 32],
        seed: u64,
    ) -> Self {
        Self::new(sockets, key, Some(server_key), seed)
    }

    /// A server that accepts sessions.
    pub fn server(sockets: &mut SocketSet<'static>, key: StaticKeypair, seed: u64) -> Self {
        Self::new(sockets, key, None, seed)
    }

    fn new(
        sockets: &mut SocketSet<'static>,
        key: StaticKeypair,
        server_key: Option<[u8; 32]>,
        seed: u64,
    ) -> Self {
        let config = Config::default();
        let driver =
            SmoltcpDriver::new(sockets, ROAMING_PORT, UDP_DATAGRAMS, config.max_udp_payload);
        let mut rng_seed = [0u8; 32];
        rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
        rng_seed[8] = u8::from(server_key.is_some());
        RoamingTransport {
            endpoint: Endpoint::new(config, key, rng_seed).expect("the default configuration"),
            driver,
            server_key,
            session: None,
            tunnel: None,
            inner: None,
            inner_sockets: SocketSet::new(Vec::new()),
            tcp: None,
            seed,
            events: VecDeque::new(),
            established: false,
            closed: false,
            tcp_sent: TcpSent::default(),
        }
    }

    /// Builds the tunnel, the inner interface and the TCP socket for session `h`.
    fn open_tunnel(&mut self, now: Instant, h: SessionHandle, client: bool) {
        let Some(mut tunnel) = Tunnel::new(&self.endpoint, h) else {
            return;
        };
        // Both ends are smoltcp on tunnels: the session's AEAD authenticates every byte, so the
        // inner checksums guard nothing (see `Tunnel::set_checksum_offload`).
        tunnel.set_checksum_offload(true);
        let mut inner = tunnel.interface(&mut self.endpoint, now, self.seed ^ 0x5a5a);
        let mut socket = tcp_socket();
        let ok = if client {
            let peer = IpAddress::Ipv6(tunnel.peer_address());
            socket
                .connect(inner.context(), (peer, TCP_PORT), 49_152)
                .is_ok()
        } else {
            socket.listen(TCP_PORT).is_ok()
        };
        if !ok {
            self.events
                .push_back("cannot open the inner TCP socket".into());
        }
        self.events.push_back(format!(
            "tunnel {} -> {} (identity addresses)",
            tunnel.local_address(),
            tunnel.peer_address()
        ));
        self.tcp = Some(self.inner_sockets.add(socket));
        self.session = Some(h);
        self.tunnel = Some(tunnel);
        self.inner = Some(inner);
    }

    fn handle_events(&mut self, now: Instant) {
        while let Some((h, event)) = self.endpoint.poll_event() {
            let text = match event {
                Event::Connected { .. } => {
                    self.established = true;
                    if self.session.is_none() {
                        self.open_tunnel(now, h, false);
                    }
                    "session established (Noise IK handshake)".to_string()
                }
                Event::DatagramsReadable => continue, // the tunnel reads them
                Event::PeerAddressChanged { from, to } => {
                    format!("peer moved: {} -> {}", from.ip(), to.ip())
                }
                Event::PathValidated { remote } => format!("path to {} validated", remote.ip()),
                Event::PathReverted { from, to } => {
                    format!("path to {} failed, back to {}", from.ip(), to.ip())
                }
                Event::Closed(reason) => {
                    self.closed = true;
                    format!("session closed: {reason:?}")
                }
            };
            self.events.push_back(text);
        }
    }

    fn inner_poll(&mut self, now: Instant) {
        if let (Some(t), Some(i)) = (&mut self.tunnel, &mut self.inner) {
            let mut device = t.device(&mut self.endpoint);
            let mut watched = Watch::new(&mut device, now).tcp(&mut self.tcp_sent);
            i.poll(now, &mut watched, &mut self.inner_sockets);
        }
    }

    /// Moves datagrams between the UDP socket and the endpoint. The driver itself holds
    /// them while the phone has no global address (between leaving one link and forming its
    /// address on the next) and tells the endpoint when the address changes, so that the
    /// session switches to fresh identifiers on the new path.
    fn drive(&mut self, now: Instant, iface: &Interface, sockets: &mut SocketSet<'static>) {
        // `true`: more datagrams wait than one call moves (a receive batch); a few calls
        // drain a burst, and the next wake-up takes the rest.
        for _ in 0..8 {
            if !self.driver.poll(now, iface, sockets, &mut self.endpoint) {
                break;
            }
        }
    }
}

impl Transport for RoamingTransport {
    fn name(&self) -> &'static str {
        "roaming session"
    }

    fn connect(
        &mut self,
        now: Instant,
        _iface: &mut Interface,
        _sockets: &mut SocketSet<'static>,
        server: Ipv6Address,
    ) {
        let Some(key) = self.server_key else {
            return;
        };
        let remote = SocketAddr::V6(SocketAddrV6::new(server, ROAMING_PORT, 0, 0));
        match self.endpoint.connect(now, remote, key) {
            Ok(h) => self.open_tunnel(now, h, true),
            Err(e) => self.events.push_back(format!("cannot connect: {e}")),
        }
    }

    fn receive(&mut self, now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>) {
        self.drive(now, iface, sockets);
        self.handle_events(now);
        self.inner_poll(now);
    }

    fn stream<'a>(
        &'a mut self,
        _sockets: &'a mut SocketSet<'static>,
    ) -> Option<&'a mut tcp::Socket<'static>> {
        let h = self.tcp?;
        Some(self.inner_sockets.get_mut::<tcp::Socket<'static>>(h))
    }

    fn transmit(&mut self, now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>) {
        // A frame held back by a full session queue goes in once the endpoint has sent: a few
        // rounds at most per poll.
        for _ in 0..4 {
            self.inner_poll(now);
            self.drive(now, iface, sockets);
            if !self.tunnel.as_ref().is_some_and(Tunnel::has_backlog) {
                break;
            }
        }
        self.handle_events(now);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.tunnel.as_ref().is_some_and(Tunnel::has_backlog) {
            return Some(now);
        }
        let inner = self
            .inner
            .as_mut()
            .and_then(|i| i.poll_at(now, &self.inner_sockets));
        [inner, self.endpoint.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn stats(&self) -> TransportStats {
        let stats = self.session.and_then(|h| self.endpoint.session_stats(h));
        TransportStats {
            established: self.established,
            closed: self.closed,
            rtt_ms: stats
                .filter(|s| s.established)
                .map(|s| s.rtt.smoothed().total_micros() as f64 / 1000.0),
            migrations: stats.map_or(0, |s| s.migrations),
            validations: stats.map_or(0, |s| s.validations),
        }
    }

    fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    fn tcp_sent(&self) -> TcpSent {
        self.tcp_sent
    }
}
