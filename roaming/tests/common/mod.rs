//! An in-memory network with virtual time: endpoints at addresses, a fixed one-way delay,
//! nodes that move, and a record of what reached addresses where no endpoint listens.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use bridgeless_roaming::{
    Config, Duration, Endpoint, Event, Instant, SessionHandle, StaticKeypair,
};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn keypair(n: u8) -> StaticKeypair {
    StaticKeypair::from_private([n; 32])
}

pub struct Node {
    pub ep: Endpoint,
    pub addr: SocketAddr,
    pub events: Vec<(SessionHandle, Event)>,
    pub received: Vec<(SessionHandle, Vec<u8>)>,
}

/// A datagram on the wire.
#[derive(Clone, Debug)]
pub struct Wire {
    pub at: Instant,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Decides which datagrams a lossy link loses.
pub type LossFilter = Box<dyn FnMut(&Wire) -> bool>;

pub struct Net {
    pub now: Instant,
    pub delay: Duration,
    pub nodes: Vec<Node>,
    in_flight: VecDeque<Wire>,
    /// Every datagram sent, if `capture` is on.
    pub captured: Vec<Wire>,
    pub capture: bool,
    /// Bytes that reached each address where no node listens.
    pub sink: HashMap<SocketAddr, u64>,
    /// Datagrams to these destinations are taken off the wire (and counted in `sink`).
    pub blackhole: Vec<SocketAddr>,
    /// A lossy link: datagrams for which this returns true are lost as they are sent (and
    /// kept in `lost`).
    pub lose: Option<LossFilter>,
    /// Datagrams `lose` took off the wire.
    pub lost: Vec<Wire>,
}

impl Net {
    pub fn new(delay: Duration) -> Net {
        Net {
            now: Instant::from_millis(1_000),
            delay,
            nodes: Vec::new(),
            in_flight: VecDeque::new(),
            captured: Vec::new(),
            capture: false,
            sink: HashMap::new(),
            blackhole: Vec::new(),
            lose: None,
            lost: Vec::new(),
        }
    }

    pub fn add(&mut self, config: Config, key: StaticKeypair, seed: u8, at: SocketAddr) -> usize {
        let ep = Endpoint::new(config, key, [seed; 32]).unwrap();
        self.nodes.push(Node {
            ep,
            addr: at,
            events: Vec::new(),
            received: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Take every datagram the nodes want to send onto the wire.
    pub fn flush(&mut self) {
        let mut buf = vec![0u8; 2048];
        for n in &mut self.nodes {
            while let Some(t) = n.ep.poll_transmit(self.now, &mut buf) {
                let w = Wire {
                    at: self.now + self.delay,
                    from: n.addr,
                    to: t.destination,
                    bytes: buf[..t.len].to_vec(),
                };
                if self.capture {
                    self.captured.push(w.clone());
                }
                if let Some(lose) = &mut self.lose
                    && lose(&w)
                {
                    self.lost.push(w);
                    continue;
                }
                self.in_flight.push_back(w);
            }
        }
    }

    /// Hand a datagram to whatever listens at `to` now (or count it in the sink).
    pub fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if self.blackhole.contains(&to) {
            *self.sink.entry(to).or_default() += bytes.len() as u64;
            return;
        }
        match self.nodes.iter_mut().find(|n| n.addr == to) {
            Some(n) => {
                n.ep.handle(self.now, from, bytes);
            }
            None => *self.sink.entry(to).or_default() += bytes.len() as u64,
        }
    }

    fn drain_events(&mut self) {
        let mut buf = vec![0u8; 2048];
        for n in &mut self.nodes {
            while let Some((h, e)) = n.ep.poll_event() {
                if e == Event::DatagramsReadable {
                    while let Some(len) = n.ep.recv_datagram(h, &mut buf) {
                        n.received.push((h, buf[..len].to_vec()));
                    }
                }
                n.events.push((h, e));
            }
        }
    }

    /// Run the network until `now + d`.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        let mut same_instant = 0;
        loop {
            self.flush();
            self.drain_events();
            let next_wire = self.in_flight.front().map(|w| w.at);
            let next_timer = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
            let next = [next_wire, next_timer].into_iter().flatten().min();
            let Some(next) = next.filter(|t| *t <= end) else {
                self.now = end;
                break;
            };
            if next <= self.now {
                same_instant += 1;
                assert!(same_instant < 10_000, "livelock at {}", self.now);
            } else {
                same_instant = 0;
                self.now = next;
            }
            while self.in_flight.front().is_some_and(|w| w.at <= self.now) {
                let w = self.in_flight.pop_front().unwrap();
                self.deliver(w.from, w.to, &w.bytes);
            }
            for n in &mut self.nodes {
                if n.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.ep.handle_timeout(self.now);
                }
            }
        }
        self.flush();
        self.drain_events();
    }

    pub fn connected(&self, node: usize) -> Vec<SessionHandle> {
        self.nodes[node]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Connected { .. }))
            .map(|(h, _)| *h)
            .collect()
    }

    pub fn closed(&self, node: usize) -> Vec<(SessionHandle, Event)> {
        self.nodes[node]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Closed(_)))
            .copied()
            .collect()
    }

    /// Client `c` connects to server `s`; returns (client handle, server handle).
    pub fn connect(&mut self, c: usize, s: usize) -> (SessionHandle, SessionHandle) {
        let server_key = self.nodes[s].ep.public_key();
        let server_addr = self.nodes[s].addr;
        let before = self.connected(s).len();
        let hc = self.nodes[c]
            .ep
            .connect(self.now, server_addr, server_key)
            .unwrap();
        self.run(Duration::from_millis(200));
        assert!(self.connected(c).contains(&hc), "client connected");
        let hs = *self.connected(s).get(before).expect("server connected");
        (hc, hs)
    }

    /// Datagrams `node` received on session `h` so far.
    pub fn received(&self, node: usize, h: SessionHandle) -> Vec<Vec<u8>> {
        self.nodes[node]
            .received
            .iter()
            .filter(|(x, _)| *x == h)
            .map(|(_, d)| d.clone())
            .collect()
    }
}
