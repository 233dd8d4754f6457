//! A pair of bridgeless-roaming endpoints in memory.

use std::net::{Ipv6Addr, SocketAddr};

use bridgeless_roaming::{
    Config, Duration, Endpoint, Event, Instant, Received, SessionHandle, StaticKeypair,
};

use super::Driver;

/// The server's address.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    4433,
);

/// Client number `i`'s address (distinct for every `i`).
pub fn client_addr(i: u32) -> SocketAddr {
    let ip = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (i >> 16) as u16, i as u16);
    SocketAddr::new(ip.into(), 5000)
}

/// Static private key number `i` (distinct for every `i`; 0 is the server's).
pub fn private_key(i: u32) -> [u8; 32] {
    let mut k = [0x5a; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// A distinct RNG seed for endpoint number `i`.
pub fn seed(i: u32) -> [u8; 32] {
    let mut k = [0xc3; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// Every packet `from` has to send now, into `to` if it is addressed to `to_addr` (others
/// are discarded: they are for clients that have gone). Returns how many were delivered.
pub fn pump(
    now: Instant,
    from: &mut Endpoint,
    from_addr: SocketAddr,
    to: &mut Endpoint,
    to_addr: SocketAddr,
    buf: &mut [u8],
) -> usize {
    pump_clocks(now, from, from_addr, now, to, to_addr, buf)
}

/// [`pump`] between endpoints with clocks of their own (`from` at `from_now`, `to` at
/// `to_now`).
pub fn pump_clocks(
    from_now: Instant,
    from: &mut Endpoint,
    from_addr: SocketAddr,
    to_now: Instant,
    to: &mut Endpoint,
    to_addr: SocketAddr,
    buf: &mut [u8],
) -> usize {
    let mut n = 0;
    while let Some(t) = from.poll_transmit(from_now, buf) {
        if t.destination == to_addr {
            let r = to.handle(to_now, from_addr, &buf[..t.len]);
            debug_assert!(!matches!(r, Received::Dropped(_)), "{r:?}");
            n += 1;
        }
    }
    n
}

/// Run `ep`'s timers if one is due.
pub fn run_timers(ep: &mut Endpoint, now: Instant) {
    if ep.poll_timeout().is_some_and(|t| t <= now) {
        ep.handle_timeout(now);
    }
}

/// Client and server endpoints, the time, and (once [`Pair::handshake`] ran) a session.
pub struct Pair {
    /// The client's endpoint.
    pub client: Endpoint,
    /// The server's endpoint.
    pub server: Endpoint,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// The virtual time.
    pub now: Instant,
    /// The client's session.
    pub c: SessionHandle,
    /// The server's session.
    pub s: SessionHandle,
    server_public: [u8; 32],
    buf: Vec<u8>,
    rx: Vec<u8>,
}

impl Pair {
    /// Two endpoints with `config`, client number 1 and the server, not yet connected.
    pub fn new(config: Config) -> Pair {
        let server_key = StaticKeypair::from_private(private_key(0));
        let server_public = server_key.public();
        let client = Endpoint::new(
            config.clone(),
            StaticKeypair::from_private(private_key(1)),
            seed(1),
        )
        .expect("valid config");
        let server = Endpoint::new(config, server_key, seed(0)).expect("valid config");
        Pair {
            client,
            server,
            client_addr: client_addr(1),
            now: Instant::from_millis(0),
            c: SessionHandle(u64::MAX),
            s: SessionHandle(u64::MAX),
            server_public,
            buf: vec![0; 2048],
            rx: vec![0; 65_536],
        }
    }

    /// Every packet the client has to send now, into the server.
    fn c2s(&mut self) -> usize {
        pump(
            self.now,
            &mut self.client,
            self.client_addr,
            &mut self.server,
            SERVER_ADDR,
            &mut self.buf,
        )
    }

    /// Every packet the server has to send now, into the client.
    fn s2c(&mut self) -> usize {
        pump(
            self.now,
            &mut self.server,
            SERVER_ADDR,
            &mut self.client,
            self.client_addr,
            &mut self.buf,
        )
    }

    /// Two endpoints with `config` and an established, quiet session between them.
    pub fn connected(config: Config) -> Pair {
        let mut p = Pair::new(config);
        p.handshake();
        p.settle();
        p
    }

    /// Open a session: the client's initiation, the server's response, the client's first
    /// packet (which confirms the keys to the server), the server's identifiers; until both
    /// sides reported `Connected` and neither has anything left to send now. Sets `c` and `s`.
    pub fn handshake(&mut self) -> (SessionHandle, SessionHandle) {
        let c = self
            .client
            .connect(self.now, SERVER_ADDR, self.server_public)
            .expect("connect");
        let (mut c_up, mut s) = (false, None);
        for _ in 0..16 {
            let moved = self.c2s() + self.s2c();
            while let Some((h, e)) = self.client.poll_event() {
                c_up |= h == c && matches!(e, Event::Connected { .. });
            }
            while let Some((h, e)) = self.server.poll_event() {
                if matches!(e, Event::Connected { .. }) {
                    s = Some(h);
                }
            }
            if let (true, Some(s), 0) = (c_up, s, moved) {
                self.c = c;
                self.s = s;
                return (c, s);
            }
        }
        panic!("handshake did not complete");
    }

    /// Close the client's session `c` and deliver the CLOSE: both tables are empty again.
    pub fn close(&mut self, c: SessionHandle) {
        self.client.close(c);
        self.c2s();
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
    }

    /// Let delayed acknowledgments go out until neither side has anything to send or
    /// acknowledge: the session is idle.
    pub fn settle(&mut self) {
        for _ in 0..4 {
            self.c2s();
            self.s2c();
            self.now += Duration::from_millis(30);
            run_timers(&mut self.client, self.now);
            run_timers(&mut self.server, self.now);
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
    }

    /// The bytes on the wire of packets carrying one datagram of `len` bytes: the client
    /// sends `count` datagrams one at a time, each packet (and whatever the server answers)
    /// delivered before the next; returns the shortest and the longest UDP payload of the
    /// packets that carried them (the longer ones have an ACK frame riding along).
    pub fn datagram_packet_len(&mut self, len: usize, count: usize) -> (usize, usize) {
        self.settle();
        let (mut lo, mut hi) = (usize::MAX, 0);
        let data = vec![0xab; len];
        for _ in 0..count {
            self.client.send_datagram(self.c, &data).expect("send");
            // Any other packet (an ACK alone) is shorter than the datagram.
            let mut carried = 0;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                let n = t.len;
                if n > len {
                    carried += 1;
                    lo = lo.min(n);
                    hi = hi.max(n);
                }
                self.server
                    .handle(self.now, self.client_addr, &self.buf[..n]);
            }
            assert_eq!(carried, 1, "one packet carried the datagram");
            let got = self.server.recv_datagram(self.s, &mut self.rx);
            assert_eq!(got, Some(len), "the datagram arrived whole");
            self.s2c();
            self.now += Duration::from_millis(1);
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        (lo, hi)
    }
}

impl Driver for Pair {
    fn send(&mut self, datagram: &[u8]) -> bool {
        self.client.send_datagram(self.c, datagram).is_ok()
    }

    fn client_to_server(&mut self) -> usize {
        self.c2s()
    }

    fn server_receive(&mut self, on: &mut dyn FnMut(&[u8])) {
        while self.server.poll_event().is_some() {}
        while let Some(n) = self.server.recv_datagram(self.s, &mut self.rx) {
            on(&self.rx[..n]);
        }
    }

    fn server_to_client(&mut self) -> usize {
        let n = self.s2c();
        while self.client.poll_event().is_some() {}
        n
    }

    fn tick(&mut self, micros: u64) {
        self.now += Duration::from_micros(micros);
        run_timers(&mut self.client, self.now);
        run_timers(&mut self.server, self.now);
    }
}
