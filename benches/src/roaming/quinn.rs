//! A pair of quinn-proto endpoints in memory, driven as [`super::ours`] drives ours.
//!
//! Configuration: rustls on *ring*, TLS 1.3 only, a self-signed ECDSA P-256 certificate from
//! rcgen that the client verifies against itself as the only root (webpki). quinn-proto's own
//! defaults otherwise (Cubic, 8-byte connection IDs, acknowledgment of every second
//! ack-eliciting packet), except the packet size: 1452 bytes of UDP payload from the start
//! and no MTU discovery, as ours (`Config::max_udp_payload` = 1452), so that both put the
//! same payload sizes in packets of the same limit. quinn-proto is built without its `bloom`
//! feature, so the server issues no address-validation tokens (ours issues none either).
//!
//! Each packet goes through quinn-proto's `Endpoint::handle` as an owned `BytesMut` copied
//! from the sender's buffer, which is what quinn's own socket driver does with every
//! datagram it receives.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn_proto::{
    ClientConfig, Connection, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig,
    Event, ServerConfig, StreamEvent, StreamId, TransportConfig, VarInt,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::Driver;

/// The server's address.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    4433,
);

/// Client number `i`'s address (distinct for every `i`).
pub fn client_addr(i: u32) -> SocketAddr {
    super::ours::client_addr(i)
}

/// The TLS 1.3 cipher suite for the connections' packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// TLS13_CHACHA20_POLY1305_SHA256 only (ours uses ChaCha20-Poly1305): like for like.
    ChaCha20Poly1305,
    /// rustls' default order on *ring*: the client offers AES-256-GCM first and the server
    /// follows the client's order, so TLS13_AES_256_GCM_SHA384.
    Default,
}

/// Server and client configurations (QUIC Initial packets always use AES-128-GCM, as
/// RFC 9001 §5.2 requires).
pub fn configs(suite: Suite) -> (ServerConfig, ClientConfig) {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));

    let mut provider = rustls::crypto::ring::default_provider();
    if suite == Suite::ChaCha20Poly1305 {
        provider.cipher_suites =
            vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    }
    let provider = Arc::new(provider);
    let initial = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .expect("AES-128-GCM for Initial packets");

    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], private)
        .expect("server certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut transport = TransportConfig::default();
    transport
        .initial_mtu(1452)
        .min_mtu(1452)
        .mtu_discovery_config(None);
    let transport = Arc::new(transport);

    let server_crypto =
        QuicServerConfig::with_initial(Arc::new(server_tls), initial).expect("server crypto");
    let mut server = ServerConfig::with_crypto(Arc::new(server_crypto));
    server.transport_config(transport.clone());
    let client_crypto =
        QuicClientConfig::with_initial(Arc::new(client_tls), initial).expect("client crypto");
    let mut client = ClientConfig::new(Arc::new(client_crypto));
    client.transport_config(transport);
    (server, client)
}

/// One quinn-proto endpoint and its connections, by handle.
pub struct Side {
    /// The endpoint.
    pub ep: Endpoint,
    /// Connections, indexed by `ConnectionHandle.0` (boxed, as quinn's driver holds each in
    /// its own allocation, so that the memory benchmark counts exactly one per connection).
    pub conns: Vec<Option<Box<Connection>>>,
    /// This side's address.
    pub addr: SocketAddr,
    /// Connections that received something or ran a timer since they were last polled for
    /// packets (quinn's driver wakes exactly those).
    touched: Vec<ConnectionHandle>,
    /// Whether a connection is in `touched` already (by `ConnectionHandle.0`).
    dirty: Vec<bool>,
    /// Stateless replies of the endpoint (resets, version negotiation, refusals).
    responses: Vec<(SocketAddr, Vec<u8>)>,
    /// Connections accepted since last asked.
    pub accepted: Vec<ConnectionHandle>,
    buf: Vec<u8>,
}

impl Side {
    /// An endpoint at `addr`, a server if `server` is given.
    pub fn new(addr: SocketAddr, server: Option<ServerConfig>, seed: u32) -> Side {
        let mut config = EndpointConfig::default();
        config.rng_seed(Some(super::ours::seed(seed)));
        Side {
            ep: Endpoint::new(Arc::new(config), server.map(Arc::new), false, None),
            conns: Vec::new(),
            addr,
            touched: Vec::new(),
            dirty: Vec::new(),
            responses: Vec::new(),
            accepted: Vec::new(),
            buf: Vec::with_capacity(2048),
        }
    }

    /// The connection `ch`.
    pub fn conn(&mut self, ch: ConnectionHandle) -> &mut Connection {
        self.conns[ch.0].as_mut().expect("live connection")
    }

    fn insert(&mut self, ch: ConnectionHandle, conn: Connection) {
        if self.conns.len() <= ch.0 {
            self.conns.resize_with(ch.0 + 1, || None);
            self.dirty.resize(ch.0 + 1, false);
        }
        self.conns[ch.0] = Some(Box::new(conn));
        self.touch(ch);
    }

    /// Open a connection to `server` (this side is a client).
    pub fn connect(
        &mut self,
        now: std::time::Instant,
        config: ClientConfig,
        server: SocketAddr,
    ) -> ConnectionHandle {
        let (ch, conn) = self
            .ep
            .connect(now, config, server, "localhost")
            .expect("connect");
        self.insert(ch, conn);
        ch
    }

    /// Pass connection `ch`'s requests to the endpoint and its answers back; forget the
    /// connection once it is drained.
    fn endpoint_events(&mut self, ch: ConnectionHandle) {
        let Some(conn) = self.conns.get_mut(ch.0).and_then(Option::as_mut) else {
            return;
        };
        while let Some(e) = conn.poll_endpoint_events() {
            let drained = e.is_drained();
            if let Some(ce) = self.ep.handle_event(ch, e) {
                conn.handle_event(ce);
            }
            if drained {
                self.conns[ch.0] = None;
                return;
            }
        }
    }

    /// A datagram from `from` arrived.
    pub fn handle(&mut self, now: std::time::Instant, from: SocketAddr, data: &[u8]) {
        match self
            .ep
            .handle(now, from, None, None, BytesMut::from(data), &mut self.buf)
        {
            Some(DatagramEvent::ConnectionEvent(ch, event)) => {
                if let Some(conn) = self.conns.get_mut(ch.0).and_then(Option::as_mut) {
                    conn.handle_event(event);
                    self.endpoint_events(ch);
                    self.touch(ch);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                self.buf.clear();
                match self.ep.accept(incoming, now, &mut self.buf, None) {
                    Ok((ch, conn)) => {
                        self.insert(ch, conn);
                        self.accepted.push(ch);
                    }
                    Err(e) => {
                        if let Some(t) = e.response {
                            self.responses
                                .push((t.destination, self.buf[..t.size].to_vec()));
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(t)) => {
                self.responses
                    .push((t.destination, self.buf[..t.size].to_vec()));
            }
            None => {}
        }
        self.buf.clear();
    }

    /// Every packet this side has to send now, handed to `out(destination, bytes)`. Returns
    /// how many.
    pub fn transmit(
        &mut self,
        now: std::time::Instant,
        out: &mut dyn FnMut(SocketAddr, &[u8]),
    ) -> usize {
        let mut n = 0;
        for (to, bytes) in self.responses.drain(..) {
            out(to, &bytes);
            n += 1;
        }
        while let Some(ch) = self.touched.pop() {
            self.dirty[ch.0] = false;
            let Some(conn) = self.conns.get_mut(ch.0).and_then(Option::as_mut) else {
                continue;
            };
            self.buf.clear();
            while let Some(t) = conn.poll_transmit(now, 1, &mut self.buf) {
                out(t.destination, &self.buf[..t.size]);
                self.buf.clear();
                n += 1;
            }
            self.endpoint_events(ch);
        }
        n
    }

    /// Mark connection `ch` as having something to send (the application wrote to it).
    pub fn touch(&mut self, ch: ConnectionHandle) {
        if !self.dirty[ch.0] {
            self.dirty[ch.0] = true;
            self.touched.push(ch);
        }
    }

    /// Run every due timer.
    pub fn run_timers(&mut self, now: std::time::Instant) {
        for i in 0..self.conns.len() {
            let Some(conn) = self.conns[i].as_mut() else {
                continue;
            };
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
                let ch = ConnectionHandle(i);
                self.endpoint_events(ch);
                self.touch(ch);
            }
        }
    }

    /// Live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.iter().flatten().count()
    }
}

/// Every packet `from` has to send now, into `to` if addressed to it (others are for
/// clients that have gone and are discarded). Returns how many were delivered.
pub fn pump(now: std::time::Instant, from: &mut Side, to: &mut Side) -> usize {
    pump_clocks(now, from, now, to)
}

/// [`pump`] between sides with clocks of their own (`from` at `from_now`, `to` at `to_now`).
pub fn pump_clocks(
    from_now: std::time::Instant,
    from: &mut Side,
    to_now: std::time::Instant,
    to: &mut Side,
) -> usize {
    let (from_addr, to_addr) = (from.addr, to.addr);
    let mut n = 0;
    from.transmit(from_now, &mut |dst, bytes| {
        if dst == to_addr {
            to.handle(to_now, from_addr, bytes);
            n += 1;
        }
    });
    n
}

/// Client and server sides, the virtual time, and a connection between them.
pub struct Pair {
    /// The client.
    pub client: Side,
    /// The server.
    pub server: Side,
    /// The client's configuration (for more connections).
    pub client_config: ClientConfig,
    epoch: std::time::Instant,
    /// Virtual time since `epoch`.
    pub elapsed: Duration,
    /// The client's connection.
    pub c: ConnectionHandle,
    /// The server's connection.
    pub s: ConnectionHandle,
    /// For the stream variant: the client's stream, and bytes of the current record not
    /// yet accepted by it.
    stream: Option<StreamId>,
    pending: Vec<u8>,
    /// For the stream variant: the server's stream and the record being reassembled.
    recv_stream: Option<StreamId>,
    record: Vec<u8>,
    /// Record length of the stream variant (0: datagrams).
    record_len: usize,
}

impl Pair {
    /// Two endpoints with configurations for `suite`, not yet connected.
    pub fn new(suite: Suite) -> Pair {
        let (server, client_config) = configs(suite);
        Pair {
            client: Side::new(client_addr(1), None, 1),
            server: Side::new(SERVER_ADDR, Some(server), 2),
            client_config,
            epoch: std::time::Instant::now(),
            elapsed: Duration::ZERO,
            c: ConnectionHandle(usize::MAX),
            s: ConnectionHandle(usize::MAX),
            stream: None,
            pending: Vec::new(),
            recv_stream: None,
            record: Vec::new(),
            record_len: 0,
        }
    }

    /// Two endpoints with an established, quiet connection.
    pub fn connected(suite: Suite) -> Pair {
        let mut p = Pair::new(suite);
        p.handshake();
        p.settle();
        p
    }

    /// The virtual time.
    pub fn now(&self) -> std::time::Instant {
        self.epoch + self.elapsed
    }

    /// Every packet the client has to send now, into the server.
    fn c2s(&mut self) -> usize {
        pump(self.now(), &mut self.client, &mut self.server)
    }

    /// Every packet the server has to send now, into the client.
    fn s2c(&mut self) -> usize {
        pump(self.now(), &mut self.server, &mut self.client)
    }

    /// A full handshake (TLS 1.3 over QUIC: Initial, Handshake, 1-RTT; the server's
    /// HANDSHAKE_DONE and new connection IDs) until both sides reported `Connected` and
    /// neither has anything left to send now. Sets `c` and `s`.
    pub fn handshake(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let now = self.now();
        let c = self
            .client
            .connect(now, self.client_config.clone(), SERVER_ADDR);
        let (mut c_up, mut s_up, mut s) = (false, false, None);
        for _ in 0..16 {
            let moved = self.c2s() + self.s2c();
            while let Some(e) = self.client.conn(c).poll() {
                c_up |= matches!(e, Event::Connected);
            }
            if s.is_none() {
                s = self.server.accepted.pop();
            }
            if let Some(s) = s {
                while let Some(e) = self.server.conn(s).poll() {
                    s_up |= matches!(e, Event::Connected);
                }
            }
            if c_up && s_up && moved == 0 {
                let s = s.expect("accepted");
                self.c = c;
                self.s = s;
                return (c, s);
            }
        }
        panic!("handshake did not complete");
    }

    /// Close the client's connection `c` (CONNECTION_CLOSE to the server) and run time on
    /// until both sides have drained and forgotten it.
    pub fn close(&mut self, c: ConnectionHandle) {
        let now = self.now();
        self.client
            .conn(c)
            .close(now, VarInt::from_u32(0), Bytes::new());
        self.client.touch(c);
        for _ in 0..64 {
            self.c2s();
            self.s2c();
            for side in [&mut self.client, &mut self.server] {
                for conn in side.conns.iter_mut().flatten() {
                    while conn.poll().is_some() {}
                }
            }
            if self.client.connection_count() == 0 && self.server.connection_count() == 0 {
                return;
            }
            self.elapsed += Duration::from_millis(500);
            let now = self.now();
            self.client.run_timers(now);
            self.server.run_timers(now);
        }
        panic!("connections did not drain");
    }

    /// Let delayed acknowledgments go out until neither side has anything to send.
    pub fn settle(&mut self) {
        for _ in 0..4 {
            self.c2s();
            self.s2c();
            self.elapsed += Duration::from_millis(30);
            let now = self.now();
            self.client.run_timers(now);
            self.server.run_timers(now);
        }
        while self.client.conn(self.c).poll().is_some() {}
        while self.server.conn(self.s).poll().is_some() {}
    }

    /// Largest datagram the client may send.
    pub fn max_datagram_size(&mut self) -> usize {
        self.client
            .conn(self.c)
            .datagrams()
            .max_size()
            .expect("datagrams enabled")
    }

    /// The bytes on the wire of packets carrying one datagram of `len` bytes: the client
    /// sends `count` datagrams one at a time, each packet (and whatever the server answers)
    /// delivered before the next; returns the shortest and the longest UDP payload of the
    /// packets that carried them (the longer ones have an ACK frame riding along).
    pub fn datagram_packet_len(&mut self, len: usize, count: usize) -> (usize, usize) {
        self.settle();
        let (mut lo, mut hi) = (usize::MAX, 0);
        let mut buf = Vec::new();
        for _ in 0..count {
            let now = self.now();
            let from = self.client.addr;
            let conn = self.client.conn(self.c);
            conn.datagrams()
                .send(Bytes::from(vec![0xab; len]), false)
                .expect("send");
            // Any other packet (an ACK alone) is shorter than the datagram.
            let mut carried = 0;
            while let Some(t) = conn.poll_transmit(now, 1, &mut buf) {
                let n = t.size;
                if n > len {
                    carried += 1;
                    lo = lo.min(n);
                    hi = hi.max(n);
                }
                self.server.handle(now, from, &buf[..n]);
                buf.clear();
            }
            assert_eq!(carried, 1, "one packet carried the datagram");
            let got = self.server.conn(self.s).datagrams().recv();
            assert_eq!(
                got.map(|d| d.len()),
                Some(len),
                "the datagram arrived whole"
            );
            self.s2c();
            self.elapsed += Duration::from_millis(1);
        }
        (lo, hi)
    }

    /// Switch this pair to the reliable variant: records of `len` bytes on one
    /// unidirectional stream instead of datagrams.
    pub fn use_stream(&mut self, len: usize) {
        let id = self
            .client
            .conn(self.c)
            .streams()
            .open(Dir::Uni)
            .expect("a stream");
        self.stream = Some(id);
        self.record_len = len;
        self.record = Vec::with_capacity(len);
    }
}

impl Driver for Pair {
    fn send(&mut self, datagram: &[u8]) -> bool {
        let c = self.c;
        self.client.touch(c);
        let conn = self.client.conn(c);
        let Some(id) = self.stream else {
            // What a quinn user with bytes in hand does: one owned buffer per datagram.
            return conn
                .datagrams()
                .send(Bytes::copy_from_slice(datagram), false)
                .is_ok();
        };
        let mut stream = conn.send_stream(id);
        if !self.pending.is_empty() {
            match stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(_) => return false,
            }
            if !self.pending.is_empty() {
                return false;
            }
        }
        match stream.write(datagram) {
            Ok(n) => {
                self.pending.extend_from_slice(&datagram[n..]);
                true
            }
            Err(_) => false,
        }
    }

    fn client_to_server(&mut self) -> usize {
        self.c2s()
    }

    fn server_receive(&mut self, on: &mut dyn FnMut(&[u8])) {
        let s = self.s;
        let conn = self.server.conn(s);
        while let Some(e) = conn.poll() {
            if let Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) = e {
                self.recv_stream = conn.streams().accept(Dir::Uni);
            }
        }
        if self.record_len == 0 {
            while let Some(d) = conn.datagrams().recv() {
                on(&d);
            }
            return;
        }
        let Some(id) = self.recv_stream else { return };
        let mut recv = conn.recv_stream(id);
        let Ok(mut chunks) = recv.read(true) else {
            return;
        };
        while let Ok(Some(chunk)) = chunks.next(usize::MAX) {
            let mut bytes: &[u8] = &chunk.bytes;
            while !bytes.is_empty() {
                let take = (self.record_len - self.record.len()).min(bytes.len());
                self.record.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.record.len() == self.record_len {
                    on(&self.record);
                    self.record.clear();
                }
            }
        }
        if chunks.finalize().should_transmit() {
            self.server.touch(s);
        }
    }

    fn server_to_client(&mut self) -> usize {
        let n = self.s2c();
        let c = self.c;
        while self.client.conn(c).poll().is_some() {}
        n
    }

    fn tick(&mut self, micros: u64) {
        self.elapsed += Duration::from_micros(micros);
        let now = self.now();
        self.client.run_timers(now);
        self.server.run_timers(now);
    }
}
