//! A roaming `Endpoint` (the server) with an established session, driven by a sequence of
//! actions: arbitrary datagrams from arbitrary addresses (raw bytes, bytes behind one of our
//! packet types, bytes behind the session's real identifier, real packets of the session
//! bit-flipped, cut short or replayed), time advanced the way an event loop advances it
//! (waking at every timer, the two ends exchanging what they send), and the real client
//! moving to another address and talking from there.
//!
//! Invariants:
//! - nothing panics;
//! - a datagram that is not an authentic packet of the client changes nothing of the
//!   established session (address, validation, migrations, packet numbers, keys) nor the
//!   number of established sessions: only the client's own packets may move it (a replayed
//!   initiation whose session is gone may open a half-open one again: a documented limit,
//!   bounded by `max_half_open`);
//! - nothing is sent to an address that only sent unauthenticated bytes beyond what it sent
//!   (no amplification toward spoofed sources);
//! - the client's packets from its new address, when it moves, do move the session there.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use arbitrary::Arbitrary;
use bridgeless_roaming::{
    Config, Duration, Endpoint, Instant, SessionHandle, SessionStats, StaticKeypair,
};
use libfuzzer_sys::fuzz_target;

const MAX_ACTIONS: usize = 48;

#[derive(Debug, Arbitrary, Clone, Copy)]
struct Source {
    v6: bool,
    addr: [u8; 16],
    port: u16,
}

impl Source {
    fn addr(self) -> SocketAddr {
        let ip = if self.v6 {
            IpAddr::from(self.addr)
        } else {
            IpAddr::from([self.addr[0], self.addr[1], self.addr[2], self.addr[3]])
        };
        SocketAddr::new(ip, self.port)
    }
}

#[derive(Debug, Arbitrary)]
enum Action {
    /// Any bytes.
    Bytes(Source, Vec<u8>),
    /// A packet type byte (data with any flags, initiation, response, cookie), then anything.
    Typed(Source, u8, Vec<u8>),
    /// A data packet for the session's real identifier, then anything.
    ForSession(Source, Vec<u8>),
    /// A real packet of the client, with a bit flipped and/or cut short, or as it was.
    Mutated {
        from: Source,
        index: u8,
        flip: Option<u16>,
        cut: Option<u16>,
    },
    /// Time passes (milliseconds); timers run.
    Advance(u16),
    /// The client moves to `to` and sends a datagram from there (an authentic move).
    ClientMoves(Source),
}

#[derive(Debug, PartialEq)]
struct Protected {
    established: bool,
    remote: SocketAddr,
    remote_validated: bool,
    path_resets: u64,
    migrations: u64,
    validations: u64,
    reverts: u64,
    key_updates: u64,
    packets_received: u64,
    largest_received: Option<u64>,
    id_reuses: u64,
}

struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    hc: SessionHandle,
    hs: SessionHandle,
    client_at: SocketAddr,
    server_at: SocketAddr,
    /// Every packet the client sent (all delivered already).
    real: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl World {
    fn new() -> World {
        let server_key = StaticKeypair::from_private([2; 32]);
        let server_public = server_key.public();
        let mut client = Endpoint::new(
            Config::default(),
            StaticKeypair::from_private([1; 32]),
            [1; 32],
        )
        .unwrap();
        let server = Endpoint::new(Config::default(), server_key, [2; 32]).unwrap();
        let client_at: SocketAddr = "[2001:db8:1::10]:5000".parse().unwrap();
        let server_at: SocketAddr = "[2001:db8:2::10]:4433".parse().unwrap();
        let now = Instant::from_secs(1);
        let hc = client.connect(now, server_at, server_public).unwrap();
        let mut w = World {
            now,
            client,
            server,
            hc,
            hs: SessionHandle(0),
            client_at,
            server_at,
            real: Vec::new(),
            buf: vec![0; 2048],
        };
        for i in 0..4u8 {
            w.exchange();
            if i > 0 {
                let _ = w.client.send_datagram(w.hc, &[i; 100]);
            }
        }
        w.hs = w.server.sessions().next().unwrap();
        w
    }

    /// Move every datagram between the two until both are quiet (bounded).
    fn exchange(&mut self) {
        for _ in 0..8 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                moved = true;
                let bytes = self.buf[..t.len].to_vec();
                if t.destination == self.server_at {
                    self.server.handle(self.now, self.client_at, &bytes);
                }
                self.real.push(bytes);
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                moved = true;
                if t.destination == self.client_at {
                    let bytes = self.buf[..t.len].to_vec();
                    self.client.handle(self.now, self.server_at, &bytes);
                }
            }
            while self.client.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
        if self.real.len() > 64 {
            self.real.drain(..self.real.len() - 64);
        }
    }

    /// Let `d` pass the way an event loop does: wake at every timer, exchange what it sends.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1000 {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .filter(|t| *t <= end);
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.exchange();
        }
        self.now = end;
        self.exchange();
    }

    /// What no unauthenticated datagram may change.
    fn state(&self) -> (Option<Protected>, usize) {
        let s = self
            .server
            .session_stats(self.hs)
            .map(|s: SessionStats| Protected {
                established: s.established,
                remote: s.remote,
                remote_validated: s.remote_validated,
                path_resets: s.path_resets,
                migrations: s.migrations,
                validations: s.validations,
                reverts: s.reverts,
                key_updates: s.key_updates,
                packets_received: s.packets_received,
                largest_received: s.largest_received,
                id_reuses: s.id_reuses,
            });
        // A replayed initiation whose session is gone makes a half-open session again (a
        // documented limit, bounded by `max_half_open`): not counted here.
        let established = self.server.session_count() - self.server.half_open_count();
        (s, established)
    }
}

fuzz_target!(|actions: Vec<Action>| {
    let mut w = World::new();
    let session_id = w
        .real
        .iter()
        .rev()
        .find(|p| p[0] & 0xc0 == 0x40)
        .map(|p| p[1..17].to_vec())
        .unwrap();
    for action in actions.into_iter().take(MAX_ACTIONS) {
        let (from, bytes) = match action {
            Action::Bytes(from, b) => (from.addr(), b),
            Action::Typed(from, t, mut b) => {
                let t = match t % 4 {
                    0 => 0x40 | (t >> 2) & 0x3f,
                    1 => 0x81,
                    2 => 0x82,
                    _ => 0x83,
                };
                b.insert(0, t);
                (from.addr(), b)
            }
            Action::ForSession(from, tail) => {
                let mut b = vec![0x40];
                b.extend_from_slice(&session_id);
                b.extend_from_slice(&tail);
                (from.addr(), b)
            }
            Action::Mutated {
                from,
                index,
                flip,
                cut,
            } => {
                let mut b = w.real[usize::from(index) % w.real.len()].clone();
                if let Some(f) = flip {
                    let bit = usize::from(f) % (b.len() * 8);
                    b[bit / 8] ^= 1 << (bit % 8);
                }
                if let Some(c) = cut {
                    b.truncate(usize::from(c) % (b.len() + 1));
                }
                (from.addr(), b)
            }
            Action::Advance(ms) => {
                w.advance(Duration::from_millis(u64::from(ms)));
                continue;
            }
            Action::ClientMoves(to) => {
                let to = to.addr();
                if to == w.server_at
                    || w.server.session_stats(w.hs).is_none()
                    || w.client.session_stats(w.hc).is_none()
                {
                    continue;
                }
                w.client_at = to;
                w.client.local_address_changed(w.now);
                let _ = w.client.send_datagram(w.hc, b"from the new address");
                w.exchange();
                if let Some(s) = w.server.session_stats(w.hs) {
                    assert_eq!(
                        s.remote, to,
                        "an authentic packet from the new address moves the session"
                    );
                }
                continue;
            }
        };
        let before = w.state();
        w.server.handle(w.now, from, &bytes);
        let mut sent_to_source = 0usize;
        while let Some(t) = w.server.poll_transmit(w.now, &mut w.buf) {
            if t.destination == from && from != w.client_at {
                sent_to_source += t.len;
            } else if t.destination == w.client_at {
                // A legitimate packet (a pending ACK or keepalive): the client gets it.
                let bytes = w.buf[..t.len].to_vec();
                w.client.handle(w.now, w.server_at, &bytes);
            }
        }
        assert!(
            sent_to_source <= bytes.len(),
            "{sent_to_source} bytes sent to a source that sent {}",
            bytes.len()
        );
        assert_eq!(
            w.state(),
            before,
            "unauthenticated input changed the session"
        );
        assert!(w.server.half_open_count() <= Config::default().max_half_open);
    }
});
