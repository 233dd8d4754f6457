//! Nodes shared by the integration tests: a scripted sender and a recording sink.
#![allow(dead_code)]

pub mod tcp_host;

use bridgeless_sim::{Node, Ports};
use smoltcp::time::Instant;

/// A valid IPv6 packet of `len` bytes (at least 48): No Next Header, the sequence number in
/// the first 8 payload bytes.
pub fn packet(seq: u64, len: usize) -> Vec<u8> {
    assert!(len >= 48);
    let mut p = vec![0u8; len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p[6] = 59; // No Next Header
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = 1;
    p[24] = 0xfd;
    p[39] = 2;
    p[40..48].copy_from_slice(&seq.to_be_bytes());
    p
}

/// The sequence number [`packet`] put in a frame.
pub fn seq_of(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[40..48].try_into().unwrap())
}

/// Sends `count` frames of `len` bytes on port 0, one every `interval_us` (all at once when
/// 0), starting at `start_us`; records what it receives like a [`Sink`].
#[derive(Debug, Default)]
pub struct Sender {
    pub start_us: i64,
    pub interval_us: i64,
    pub count: u64,
    pub len: usize,
    pub sent: u64,
    pub received: Vec<(Instant, u64)>,
}

impl Sender {
    pub fn new(count: u64, len: usize, start_us: i64, interval_us: i64) -> Self {
        Sender {
            start_us,
            interval_us,
            count,
            len,
            ..Sender::default()
        }
    }

    fn next_at(&self) -> Option<Instant> {
        (self.sent < self.count)
            .then(|| Instant::from_micros(self.start_us + self.sent as i64 * self.interval_us))
    }
}

impl Node for Sender {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        while let Some(at) = self.next_at() {
            if at > now {
                break;
            }
            ports[0].send(&packet(self.sent, self.len));
            self.sent += 1;
        }
        while let Some(seq) = ports[0].recv(seq_of) {
            self.received.push((now, seq));
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.next_at()
    }
}

/// Records every frame received on any port: when and which sequence number.
#[derive(Debug, Default)]
pub struct Sink {
    pub received: Vec<(Instant, u64)>,
}

impl Node for Sink {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        for port in ports.iter_mut() {
            while let Some(seq) = port.recv(seq_of) {
                self.received.push((now, seq));
            }
        }
    }
}
