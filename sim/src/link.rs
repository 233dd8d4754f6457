//! What a link is made of ([`LinkParams`]) and what it counts ([`LinkCounters`]).

use core::time::Duration;

/// The properties of a point-to-point link, the same in both directions.
///
/// A frame sent on a link goes through, in this order (see the [crate documentation](crate)):
/// the link's state (down: dropped), the MTU (larger: dropped), the peer (vacant end:
/// dropped), the transmit queue and serialization at `bandwidth_bps` (queue full: dropped),
/// loss, reordering (held back by `reorder_delay`) and duplication, then delivery `latency`
/// after its last bit left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Bits per second each direction can carry; 0 means unlimited (no serialization delay and
    /// no transmit queue).
    pub bandwidth_bps: u64,
    /// The largest frame (a whole IP packet) the link carries, in bytes. Also the MTU every
    /// port attached to the link reports to smoltcp.
    pub mtu: usize,
    /// Probability (0.0 to 1.0) that a frame is lost.
    pub loss: f64,
    /// Probability (0.0 to 1.0) that a frame is held back by [`reorder_delay`](Self::reorder_delay),
    /// so that frames sent after it overtake it.
    pub reorder: f64,
    /// How long a frame chosen for reordering is held back, on top of its normal delay.
    pub reorder_delay: Duration,
    /// Probability (0.0 to 1.0) that a delivered frame arrives twice.
    pub duplication: f64,
    /// Frames each direction's transmit queue holds, the one being serialized included, when
    /// `bandwidth_bps` is not 0; a frame arriving at a full queue is dropped (drop-tail).
    /// 0 means unbounded.
    pub queue_frames: usize,
}

impl Default for LinkParams {
    /// 1 ms latency, unlimited bandwidth, MTU 1500, no faults, a 1000-frame queue (Linux's
    /// default `txqueuelen`).
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(1),
            bandwidth_bps: 0,
            mtu: 1500,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(1),
            duplication: 0.0,
            queue_frames: 1000,
        }
    }
}

impl LinkParams {
    /// The default parameters with this latency.
    pub fn with_latency(latency: Duration) -> Self {
        LinkParams {
            latency,
            ..LinkParams::default()
        }
    }

    /// How long `len` bytes take to serialize at this link's bandwidth, in nanoseconds
    /// (rounded up; 0 for unlimited bandwidth).
    pub fn serialization_nanos(&self, len: usize) -> u64 {
        if self.bandwidth_bps == 0 {
            return 0;
        }
        let bits = len as u128 * 8 * 1_000_000_000;
        let bps = u128::from(self.bandwidth_bps);
        u64::try_from(bits.div_ceil(bps)).unwrap_or(u64::MAX)
    }
}

/// A probability as a threshold on a uniformly drawn `u32`: the event happens when the draw
/// is below it. 0 never happens, `1 << 32` always; NaN and negative values count as 0.
pub(crate) fn threshold(p: f64) -> u64 {
    if p.is_nan() || p <= 0.0 {
        0
    } else if p >= 1.0 {
        1 << 32
    } else {
        (p * 4_294_967_296.0) as u64
    }
}

/// Frames dropped, by reason. Every frame a link or port does not deliver is counted under
/// exactly one of these (or as [`DirectionCounters::lost`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Sent while the link was down.
    pub link_down: u64,
    /// Larger than the link MTU.
    pub too_big: u64,
    /// Sent towards a vacant end (the peer port was detached).
    pub no_peer: u64,
    /// The transmit queue was full (drop-tail).
    pub queue_full: u64,
    /// In flight when the link went down or one of its ends was detached.
    pub in_flight: u64,
    /// Arrived at a port whose receive queue was full (the node did not read its frames).
    pub rx_overflow: u64,
}

impl Drops {
    /// All drops together.
    pub fn total(&self) -> u64 {
        self.link_down
            + self.too_big
            + self.no_peer
            + self.queue_full
            + self.in_flight
            + self.rx_overflow
    }
}

/// What happened to the frames sent in one direction of a link.
///
/// Once nothing is in flight, `sent + duplicated == delivered + lost + dropped.total()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionCounters {
    /// Frames handed to the link by the sending port (whatever became of them).
    pub sent: u64,
    /// Bytes of those frames.
    pub sent_bytes: u64,
    /// Frames put into the receiving port's queue (duplicates included).
    pub delivered: u64,
    /// Bytes of those frames.
    pub delivered_bytes: u64,
    /// Frames lost at random ([`LinkParams::loss`]).
    pub lost: u64,
    /// Extra copies made ([`LinkParams::duplication`]).
    pub duplicated: u64,
    /// Frames held back ([`LinkParams::reorder`]).
    pub held_back: u64,
    /// Frames delivered after a frame that was sent after them (reordering as a receiver sees
    /// it).
    pub reordered: u64,
    /// Frames dropped, by reason.
    pub dropped: Drops,
}

/// The counters of both directions of a link: `[0]` from end A to end B, `[1]` from B to A.
/// End A is the first port given to [`Sim::connect`](crate::Sim::connect) (or the first
/// attached to a link made with [`Sim::add_link`](crate::Sim::add_link)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Per direction: A→B, B→A.
    pub directions: [DirectionCounters; 2],
}

impl LinkCounters {
    /// Both directions added together.
    pub fn total(&self) -> DirectionCounters {
        let [a, b] = &self.directions;
        DirectionCounters {
            sent: a.sent + b.sent,
            sent_bytes: a.sent_bytes + b.sent_bytes,
            delivered: a.delivered + b.delivered,
            delivered_bytes: a.delivered_bytes + b.delivered_bytes,
            lost: a.lost + b.lost,
            duplicated: a.duplicated + b.duplicated,
            held_back: a.held_back + b.held_back,
            reordered: a.reordered + b.reordered,
            dropped: Drops {
                link_down: a.dropped.link_down + b.dropped.link_down,
                too_big: a.dropped.too_big + b.dropped.too_big,
                no_peer: a.dropped.no_peer + b.dropped.no_peer,
                queue_full: a.dropped.queue_full + b.dropped.queue_full,
                in_flight: a.dropped.in_flight + b.dropped.in_flight,
                rx_overflow: a.dropped.rx_overflow + b.dropped.rx_overflow,
            },
        }
    }
}

/// What one port (a node's network attachment) sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames the node sent through the port (handed to its link, or dropped if detached).
    pub tx_frames: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames the node read from the port.
    pub rx_frames: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames sent while the port had no link (counted here only: no link saw them).
    pub dropped_detached: u64,
    /// Frames that arrived while the port's receive queue was full (also counted by the link).
    pub dropped_rx_overflow: u64,
}

impl PortCounters {
    pub(crate) fn add(&mut self, other: &PortCounters) {
        self.tx_frames += other.tx_frames;
        self.tx_bytes += other.tx_bytes;
        self.rx_frames += other.rx_frames;
        self.rx_bytes += other.rx_bytes;
        self.dropped_detached += other.dropped_detached;
        self.dropped_rx_overflow += other.dropped_rx_overflow;
    }
}

/// What one node did: its ports' counters added together, and how often it was polled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Times [`Node::poll`](crate::Node::poll) was called.
    pub polls: u64,
    /// The sum of the node's [`PortCounters`].
    pub ports: PortCounters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_delay() {
        let p = LinkParams {
            bandwidth_bps: 10_000_000,
            ..LinkParams::default()
        };
        // 1500 bytes = 12,000 bits at 10 Mbit/s = 1.2 ms.
        assert_eq!(p.serialization_nanos(1500), 1_200_000);
        // 1 byte at 3 bit/s: 8/3 s, rounded up to the nanosecond.
        let slow = LinkParams {
            bandwidth_bps: 3,
            ..p
        };
        assert_eq!(slow.serialization_nanos(1), 2_666_666_667);
        assert_eq!(LinkParams::default().serialization_nanos(9000), 0);
    }

    #[test]
    fn thresholds() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(-1.0), 0);
        assert_eq!(threshold(f64::NAN), 0);
        assert_eq!(threshold(1.0), 1 << 32);
        assert_eq!(threshold(2.0), 1 << 32);
        assert_eq!(threshold(0.5), 1 << 31);
        // A draw of u32::MAX is below the "always" threshold.
        assert!(u64::from(u32::MAX) < threshold(1.0));
    }
}
