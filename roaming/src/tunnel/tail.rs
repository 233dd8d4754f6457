//! The tail a [`Tunnel`](super::Tunnel) replays after its session's path changed: copies of
//! the last TCP segments it sent, in a ring of preallocated slots (see the tunnel's module
//! docs, "Replaying the tail after a move", for why).
//!
//! What is kept, and what of it is replayed:
//!
//! - only TCP segments without SYN or RST (a duplicate of anything else is not what a
//!   network duplicate of TCP looks like to the peer: UDP applications may not expect one);
//! - a segment that carries sequence space (payload or FIN) is replayed until the peer has
//!   acknowledged its last byte (the acknowledgments the tunnel receives mark it), and only
//!   if the ring holds the whole unacknowledged flight of its connection: the byte the
//!   peer's latest acknowledgment asks for is in an unacknowledged segment of the ring. A
//!   replay that would fill only the end of a lost flight does harm with a sender such as
//!   smoltcp's: the peer's duplicate acknowledgments make it retransmit the first missing
//!   segment alone, the partial acknowledgment of that restarts its retransmission timer,
//!   and the rest waits for the timeout anyway, one or two RTTs later than without the
//!   replay (measured in `tests/sim_handover.rs`);
//! - a pure acknowledgment is replayed only while it is the newest segment of its
//!   connection in the ring: any later segment carries the same or newer acknowledgment, and
//!   an older acknowledgment is ignored by the sender (it is below SND.UNA);
//! - nothing older than `max_age`, nothing sent after the path change was seen (it went to
//!   the new path already), and no entry ever twice.

use smoltcp::time::{Duration, Instant};

/// What a kept segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Sequence space (payload or FIN) from `start` to before `end`: worth replaying until
    /// the peer acknowledges `end`.
    Data { start: u32, end: u32 },
    /// An acknowledgment alone.
    Ack,
}

/// The TCP facts the ring keeps about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The connection, as (our port, the peer's port): the addresses are the two identities.
    pub(crate) ports: (u16, u16),
    pub(crate) kind: Kind,
}

const IPV6_HEADER: usize = 40;
const TCP_HEADER: usize = 20;
const TCP: u8 = 6;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The TCP header of an IPv6 packet (no extension headers: smoltcp sends none), and the
/// TCP payload length the IPv6 header gives.
fn tcp_header(packet: &[u8]) -> Option<(&[u8], usize)> {
    if packet.len() < IPV6_HEADER + TCP_HEADER || packet[0] >> 4 != 6 || packet[6] != TCP {
        return None;
    }
    let tcp = &packet[IPV6_HEADER..];
    let ip_payload = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let header = usize::from(tcp[12] >> 4) * 4;
    if header < TCP_HEADER {
        return None;
    }
    Some((tcp, ip_payload.saturating_sub(header)))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// `a` is at or after `b` in sequence space (RFC 9293 §3.4 arithmetic modulo 2^32).
fn seq_ge(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) as i32 >= 0
}

impl Segment {
    /// What an IPv6 packet we send carries, if the ring keeps it: TCP without SYN or RST.
    pub(crate) fn outgoing(packet: &[u8]) -> Option<Segment> {
        let (tcp, payload) = tcp_header(packet)?;
        let flags = tcp[13];
        if flags & (SYN | RST) != 0 || flags & ACK == 0 {
            return None;
        }
        let ports = (be16(&tcp[0..]), be16(&tcp[2..]));
        let space = payload as u32 + u32::from(flags & FIN != 0);
        let start = be32(&tcp[4..]);
        let kind = if space == 0 {
            Kind::Ack
        } else {
            Kind::Data {
                start,
                end: start.wrapping_add(space),
            }
        };
        Some(Segment { ports, kind })
    }

    /// The acknowledgment a received IPv6 packet carries: the connection as (our port, the
    /// peer's port), and the acknowledgment number.
    pub(crate) fn incoming_ack(packet: &[u8]) -> Option<((u16, u16), u32)> {
        let (tcp, _) = tcp_header(packet)?;
        if tcp[13] & ACK == 0 {
            return None;
        }
        Some(((be16(&tcp[2..]), be16(&tcp[0..])), be32(&tcp[8..])))
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    len: usize,
    at: Instant,
    segment: Segment,
}

/// Connections whose latest acknowledgment the ring remembers (the least recently
/// acknowledged is forgotten first; a forgotten one has no data replayed).
const FLOWS: usize = 8;

/// The latest acknowledgment the peer sent on one connection.
#[derive(Debug, Clone, Copy)]
struct Flow {
    ports: (u16, u16),
    ack: u32,
    /// When it was last updated, in acknowledgments seen.
    touched: u64,
}

/// What one replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Segments handed to the session again.
    pub(crate) sent: u64,
    /// Segments the session refused (its send queue was full): dropped.
    pub(crate) refused: u64,
}

/// The last `capacity` segments sent, in fixed slots of `slot` bytes (all allocated once).
#[derive(Debug)]
pub(crate) struct Ring {
    slot: usize,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Entries pushed so far; entry `n` lives in slot `n % capacity`.
    next: u64,
    /// Entries below this number are never replayed (again).
    replayed: u64,
    /// A path change was seen when `next` was this: replay the entries before it.
    due: Option<u64>,
    max_age: Duration,
    flows: Vec<Flow>,
    acks_seen: u64,
}

impl Ring {
    /// A ring of `capacity` slots of `slot` bytes (0 slots: replay off).
    pub(crate) fn new(capacity: usize, slot: usize, max_age: Duration) -> Ring {
        let blank = Entry {
            len: 0,
            at: Instant::ZERO,
            segment: Segment {
                ports: (0, 0),
                kind: Kind::Ack,
            },
        };
        Ring {
            slot,
            bytes: vec![0; capacity * slot],
            entries: vec![blank; capacity],
            next: 0,
            replayed: 0,
            due: None,
            max_age,
            flows: Vec::with_capacity(if capacity > 0 { FLOWS } else { 0 }),
            acks_seen: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    fn cap(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The numbers of the entries still held.
    fn held(&self) -> core::ops::Range<u64> {
        self.next.saturating_sub(self.cap())..self.next
    }

    fn index(&self, n: u64) -> usize {
        (n % self.cap()) as usize
    }

    /// Keep a copy of `frame`, as handed to the session at `now`, evicting the oldest entry
    /// when the ring is full. A frame larger than a slot is not kept.
    pub(crate) fn push(&mut self, now: Instant, frame: &[u8], segment: Segment) {
        if self.entries.is_empty() || frame.len() > self.slot {
            return;
        }
        let i = self.index(self.next);
        self.bytes[i * self.slot..i * self.slot + frame.len()].copy_from_slice(frame);
        self.entries[i] = Entry {
            len: frame.len(),
            at: now,
            segment,
        };
        self.next += 1;
    }

    /// The peer acknowledged everything before `ack` on connection `ports` (ours, theirs).
    pub(crate) fn acked(&mut self, ports: (u16, u16), ack: u32) {
        if self.entries.is_empty() {
            return;
        }
        self.acks_seen += 1;
        let touched = self.acks_seen;
        if let Some(f) = self.flows.iter_mut().find(|f| f.ports == ports) {
            // A reordered, older acknowledgment does not take it back.
            if seq_ge(ack, f.ack) {
                f.ack = ack;
            }
            f.touched = touched;
        } else {
            let flow = Flow {
                ports,
                ack,
                touched,
            };
            if self.flows.len() < FLOWS {
                self.flows.push(flow);
            } else if let Some(f) = self.flows.iter_mut().min_by_key(|f| f.touched) {
                *f = flow;
            }
        }
    }

    /// The latest acknowledgment of connection `ports`, if the ring remembers it.
    fn ack_of(&self, ports: (u16, u16)) -> Option<u32> {
        self.flows.iter().find(|f| f.ports == ports).map(|f| f.ack)
    }

    /// Whether the peer has acknowledged all of a data segment `e` (derived from its
    /// connection's latest acknowledgment, so an acknowledgment costs no walk of the ring).
    fn is_acked(&self, e: &Entry) -> bool {
        match e.segment.kind {
            Kind::Data { end, .. } => self.ack_of(e.segment.ports).is_some_and(|a| seq_ge(a, end)),
            Kind::Ack => true,
        }
    }

    /// The ring holds the whole unacknowledged flight of connection `ports`: the byte the
    /// peer's latest acknowledgment asks for is in an unacknowledged data segment.
    fn holds_flight(&self, ports: (u16, u16)) -> bool {
        let Some(ack) = self.ack_of(ports) else {
            return false;
        };
        self.held().any(|n| {
            let e = &self.entries[self.index(n)];
            match e.segment.kind {
                Kind::Data { start, end } => {
                    e.segment.ports == ports && seq_ge(ack, start) && !seq_ge(ack, end)
                }
                Kind::Ack => false,
            }
        })
    }

    /// The session's path changed: what was sent until now is replayed at the next
    /// [`replay`](Self::replay). Several changes before that make one replay.
    pub(crate) fn path_changed(&mut self) {
        if !self.entries.is_empty() {
            self.due = Some(self.next);
        }
    }

    /// A replay is waiting.
    pub(crate) fn is_due(&self) -> bool {
        self.due.is_some()
    }

    /// If a path change is waiting: hand every entry worth replaying (see the module docs) to
    /// `send`, oldest first; `send` returns false when the session refused it.
    pub(crate) fn replay(&mut self, now: Instant, mut send: impl FnMut(&[u8]) -> bool) -> Replayed {
        let mut done = Replayed::default();
        let Some(mark) = self.due.take() else {
            return done;
        };
        let from = self.replayed.max(self.held().start);
        for n in from..mark {
            let e = self.entries[self.index(n)];
            if now > e.at && now - e.at > self.max_age {
                continue;
            }
            let worth = match e.segment.kind {
                Kind::Data { .. } => !self.is_acked(&e) && self.holds_flight(e.segment.ports),
                Kind::Ack => !(n + 1..self.next)
                    .any(|m| self.entries[self.index(m)].segment.ports == e.segment.ports),
            };
            if !worth {
                continue;
            }
            let i = self.index(n) * self.slot;
            if send(&self.bytes[i..i + e.len]) {
                done.sent += 1;
            } else {
                done.refused += 1;
            }
        }
        self.replayed = self.replayed.max(mark);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: (u16, u16) = (49_152, 443);

    /// 100 bytes of data ending before `end`.
    fn data(end: u32) -> Segment {
        Segment {
            ports: CONN,
            kind: Kind::Data {
                start: end.wrapping_sub(100),
                end,
            },
        }
    }

    /// A ring whose connection `CONN` has its flight starting at `ack`.
    fn ring(capacity: usize, slot: usize, ack: u32) -> Ring {
        let mut r = Ring::new(capacity, slot, Duration::from_secs(1));
        r.acked(CONN, ack);
        r
    }

    fn ack() -> Segment {
        Segment {
            ports: CONN,
            kind: Kind::Ack,
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms as i64)
    }

    /// Replays into a list of the frames' first bytes.
    fn replay(r: &mut Ring, now: Instant) -> (Vec<u8>, Replayed) {
        let mut out = Vec::new();
        let done = r.replay(now, |f| {
            out.push(f[0]);
            true
        });
        (out, done)
    }

    #[test]
    fn bounded_keeps_the_last_k_and_allocates_once() {
        let mut r = ring(4, 8, 0);
        let (bytes, entries) = (r.bytes.as_ptr(), r.entries.as_ptr());
        for i in 0..10u8 {
            r.push(at(1), &[i; 8], data(u32::from(i) * 100 + 100));
        }
        // A frame larger than a slot is not kept (and evicts nothing).
        r.push(at(1), &[99; 9], data(5000));
        assert_eq!(r.capacity(), 4);
        assert_eq!((r.bytes.len(), r.entries.len()), (32, 4));
        assert_eq!((r.bytes.as_ptr(), r.entries.as_ptr()), (bytes, entries));
        // The peer has the first 600 bytes: the ring holds the rest of the flight.
        r.acked(CONN, 600);
        r.path_changed();
        assert_eq!(replay(&mut r, at(2)).0, vec![6, 7, 8, 9]);
    }

    #[test]
    fn at_most_once_per_change_and_never_an_entry_twice() {
        let mut r = ring(4, 4, 0);
        r.push(at(0), &[1], data(100));
        r.push(at(0), &[2], data(200));
        // Nothing happens without a path change.
        assert_eq!(replay(&mut r, at(1)).0, Vec::<u8>::new());
        // Two changes before the replay: one replay.
        r.path_changed();
        r.path_changed();
        assert!(r.is_due());
        let (out, done) = replay(&mut r, at(1));
        assert_eq!(out, vec![1, 2]);
        assert_eq!(
            done,
            Replayed {
                sent: 2,
                refused: 0
            }
        );
        assert!(!r.is_due());
        assert_eq!(replay(&mut r, at(1)).0, Vec::<u8>::new(), "once per change");
        // The next change replays only what was sent since the last replay.
        r.push(at(2), &[3], data(300));
        r.path_changed();
        assert_eq!(replay(&mut r, at(3)).0, vec![3]);
        r.path_changed();
        assert_eq!(replay(&mut r, at(3)).0, Vec::<u8>::new());
    }

    #[test]
    fn nothing_sent_after_the_change_was_seen() {
        let mut r = ring(4, 4, 0);
        r.push(at(0), &[1], data(100));
        r.path_changed();
        // Sent on the new path between the change and the replay: not replayed.
        r.push(at(1), &[2], data(200));
        assert_eq!(replay(&mut r, at(1)).0, vec![1]);
        r.path_changed();
        assert_eq!(replay(&mut r, at(1)).0, vec![2]);
    }

    #[test]
    fn acknowledged_data_stale_acks_and_old_entries_are_skipped() {
        let mut r = ring(8, 4, 0);
        let other = |p: u16| Segment {
            ports: (p, 443),
            kind: Kind::Ack,
        };
        r.push(at(0), &[1], other(49_154)); // too old by then
        r.push(at(500), &[2], data(200)); // acknowledged
        r.push(at(500), &[3], ack()); // superseded by [5]
        r.push(at(500), &[4], data(300));
        r.push(at(500), &[5], ack());
        r.push(at(500), &[6], other(49_153));
        // Another connection's acknowledgment, and an older one for ours, change nothing.
        r.acked((49_153, 443), 1000);
        r.acked(CONN, 200);
        r.acked(CONN, 150);
        r.path_changed();
        assert_eq!(replay(&mut r, at(1200)).0, vec![4, 5, 6]);
    }

    #[test]
    fn a_flight_larger_than_the_ring_is_not_replayed() {
        let mut r = ring(4, 4, 0);
        for i in 1..=6u8 {
            r.push(at(0), &[i], data(u32::from(i) * 100));
        }
        // Bytes 0..200 are not in the ring any more: the data is not replayed, the
        // acknowledgment is.
        r.push(at(0), &[7], ack());
        r.path_changed();
        assert_eq!(replay(&mut r, at(0)).0, vec![7]);
        // Had the peer acknowledged the first 300 bytes, the rest would have been.
        let mut r = ring(4, 4, 0);
        for i in 1..=6u8 {
            r.push(at(0), &[i], data(u32::from(i) * 100));
        }
        r.acked(CONN, 300);
        r.path_changed();
        assert_eq!(replay(&mut r, at(0)).0, vec![4, 5, 6]);
    }

    #[test]
    fn connections_not_acknowledged_lately_are_forgotten() {
        let mut r = ring(4, 4, 0);
        r.push(at(0), &[1], data(100));
        for p in 0..FLOWS as u16 {
            r.acked((p, 443), 0);
        }
        r.path_changed();
        assert_eq!(replay(&mut r, at(0)).0, Vec::<u8>::new());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = ring(4, 4, u32::MAX - 110);
        r.push(at(0), &[1], data(u32::MAX - 10));
        r.push(at(0), &[2], data(20));
        r.acked(CONN, 5); // past the first (modulo 2^32), not the second
        r.path_changed();
        assert_eq!(replay(&mut r, at(0)).0, vec![2]);
    }

    #[test]
    fn refused_segments_are_counted() {
        let mut r = ring(4, 4, 0);
        for i in 1..=3u8 {
            r.push(at(0), &[i], data(u32::from(i) * 100));
        }
        r.path_changed();
        let mut n = 0;
        let done = r.replay(at(0), |_| {
            n += 1;
            n == 1
        });
        assert_eq!(
            done,
            Replayed {
                sent: 1,
                refused: 2
            }
        );
    }

    #[test]
    fn off_keeps_nothing() {
        let mut r = ring(0, 1400, 0);
        r.push(at(0), &[1], data(100));
        r.acked(CONN, 50);
        r.path_changed();
        assert!(!r.is_due());
        assert_eq!(replay(&mut r, at(0)).0, Vec::<u8>::new());
        assert!(r.bytes.is_empty() && r.flows.is_empty());
    }

    /// An IPv6 packet with a TCP header: `flags`, `seq`, `ack`, `payload` bytes.
    fn packet(flags: u8, seq: u32, ack: u32, payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 40 + 20 + payload];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
        p[6] = TCP;
        p[40..42].copy_from_slice(&49_152u16.to_be_bytes());
        p[42..44].copy_from_slice(&443u16.to_be_bytes());
        p[44..48].copy_from_slice(&seq.to_be_bytes());
        p[48..52].copy_from_slice(&ack.to_be_bytes());
        p[52] = 0x50;
        p[53] = flags;
        p
    }

    #[test]
    fn parses_what_to_keep() {
        assert_eq!(
            Segment::outgoing(&packet(ACK, 1000, 7, 100)),
            Some(data(1100))
        );
        assert_eq!(
            Segment::outgoing(&packet(ACK | FIN, 1000, 7, 0)),
            Some(Segment {
                ports: CONN,
                kind: Kind::Data {
                    start: 1000,
                    end: 1001
                }
            })
        );
        assert_eq!(Segment::outgoing(&packet(ACK, 1000, 7, 0)), Some(ack()));
        assert_eq!(Segment::outgoing(&packet(SYN, 1000, 0, 0)), None);
        assert_eq!(Segment::outgoing(&packet(SYN | ACK, 1000, 7, 0)), None);
        assert_eq!(Segment::outgoing(&packet(RST | ACK, 1000, 7, 0)), None);
        let mut udp = packet(ACK, 1000, 7, 100);
        udp[6] = 17;
        assert_eq!(Segment::outgoing(&udp), None);
        assert_eq!(Segment::outgoing(&udp[..50]), None);
        // Received: the connection seen from our side.
        assert_eq!(
            Segment::incoming_ack(&packet(ACK, 7, 1100, 0)),
            Some(((443, 49_152), 1100))
        );
        assert_eq!(Segment::incoming_ack(&packet(SYN, 7, 0, 0)), None);
    }
}
