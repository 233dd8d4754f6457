//! An in-memory point-to-point link with fault injection, for tests and simulations.
//!
//! A [`MemoryLink`] holds both directions of one link: the frames [`Side::A`] sent towards
//! [`Side::B`] and those B sent towards A. Each side is a smoltcp [`Device`] obtained with
//! [`MemoryLink::end`], which borrows the link for as long as it is used, so the two
//! interfaces are polled in turn from one thread:
//!
//! ```
//! use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
//! use rand_core::RngCore;
//! use smoltcp::phy::{Device, RxToken, TxToken};
//! use smoltcp::time::Instant;
//!
//! # struct Counter(u64);
//! # impl RngCore for Counter {
//! #     fn next_u32(&mut self) -> u32 { self.0 += 1; self.0 as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 += 1; self.0 }
//! #     fn fill_bytes(&mut self, dst: &mut [u8]) { dst.fill(self.0 as u8) }
//! # }
//! // Any `rand_core::RngCore` drives the fault injection; tests use a seeded ChaCha8Rng.
//! let mut link: MemoryLink<_, 8, 1500> = MemoryLink::new(MemoryLinkConfig::default(), Counter(0));
//! let now = Instant::ZERO;
//! link.end(Side::A).transmit(now).unwrap().consume(3, |buf| buf.copy_from_slice(b"\x60ab"));
//! let mut b = link.end(Side::B);
//! let (rx, _tx) = b.receive(now).unwrap();
//! assert_eq!(rx.consume(|frame| frame.to_vec()), b"\x60ab");
//! assert_eq!(link.counters(Side::A).delivered, 1);
//! ```
//!
//! (With smoltcp: `iface_a.poll(now, &mut link.end(Side::A), &mut sockets_a)`, then the same
//! for B, and advance `now` yourself.)
//!
//! # Faults
//!
//! Every frame a side transmits goes through, in this order, with the probabilities of
//! [`Faults`] drawn from the caller's RNG:
//!
//! 1. frames longer than the link MTU are refused and counted as `too_big`;
//! 2. loss: the frame vanishes (`lost`);
//! 3. corruption: one random bit of the frame is flipped (`corrupted`); the frame is still
//!    delivered, and the receiver's checksums are what catches it;
//! 4. reorder: if no frame is held back already, this one is (`reordered`), and delivered right
//!    after the next frame sent in the same direction, or once
//!    [`MemoryLinkConfig::reorder_hold`] has passed (a frame held back is not also
//!    duplicated);
//! 5. duplication: the frame is queued twice (`duplicated`);
//! 6. the frame (each copy) is queued, to be delivered at `now + latency`. A queue holds at most
//!    [`MemoryLinkConfig::capacity`] frames (and never more than `N`); frames arriving at a
//!    full queue are dropped (`dropped_full`), as a real link's transmit queue does.
//!
//! The counters of one direction always satisfy
//! `sent - lost + duplicated == delivered + dropped_full + queued + held`
//! ([`LinkCounters::accounted`]). Nothing is dropped without being counted.
//!
//! # Memory
//!
//! Storage is fixed: each direction holds `N` frame slots of `MTU` bytes plus two more frames
//! (one held back for reordering and one being written), so a link takes about
//! `2 * (N + 2) * MTU` bytes — 198 kB with the defaults (`N = 64`, `MTU = 1500`). Box it when
//! it would not fit on the stack.
//!
//! # Copies
//!
//! None of its own: the receiver reads a frame in its slot, and while no fault can happen
//! (every probability of [`Faults`] is 0), no frame is held back and the queue has room, the
//! sender builds its frame straight in the slot it will be read from. Otherwise the frame is
//! built in a scratch buffer that fault injection works on, then copied into its slot.

use core::fmt;

use rand_core::RngCore;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::{Duration, Instant};

use super::util::ip_capabilities;

/// One end of a [`MemoryLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first end.
    A,
    /// The second end.
    B,
}

impl Side {
    /// The other end of the link.
    pub const fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// Index of the queue of frames sent by this side.
    const fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Probabilities (each from 0.0 to 1.0) of the faults applied to every frame sent over a
/// [`MemoryLink`], in both directions. A value of 0 or below, or NaN, never happens; 1 or above
/// always does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// The frame is lost.
    pub loss: f64,
    /// One random bit of the frame is flipped.
    pub corruption: f64,
    /// The frame is delivered twice.
    pub duplication: f64,
    /// The frame is held back and delivered after the next one.
    pub reorder: f64,
}

impl Faults {
    /// No faults: every frame is delivered once, intact and in order (queue space permitting).
    pub const NONE: Faults = Faults {
        loss: 0.0,
        corruption: 0.0,
        duplication: 0.0,
        reorder: 0.0,
    };

    /// Whether no fault can ever happen: every probability is 0 or below, or NaN (the
    /// values [`chance`] answers `false` to without drawing a number).
    fn never(&self) -> bool {
        let never = |p: f64| p.is_nan() || p <= 0.0;
        never(self.loss) && never(self.corruption) && never(self.duplication) && never(self.reorder)
    }
}

/// How a [`MemoryLink`] behaves. The same settings apply to both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryLinkConfig {
    /// The link MTU: the largest frame (a whole IP packet) it carries, reported to smoltcp as
    /// `max_transmission_unit`. Capped at the link's `MTU` parameter. IPv6 needs at least
    /// 1280 (RFC 8200 §5). Default: 1500.
    pub mtu: usize,
    /// The largest number of frames queued in one direction; capped at the link's `N`
    /// parameter. Default: `usize::MAX`, that is `N`.
    pub capacity: usize,
    /// One-way delay: a frame sent at `t` can be received from `t + latency` on. Default: 0.
    pub latency: Duration,
    /// The longest a frame held back for reordering waits for a later frame to overtake it
    /// before it is delivered anyway. Default: 5 ms.
    pub reorder_hold: Duration,
    /// Fault probabilities. Default: [`Faults::NONE`].
    pub faults: Faults,
}

impl Default for MemoryLinkConfig {
    fn default() -> Self {
        MemoryLinkConfig {
            mtu: 1500,
            capacity: usize::MAX,
            latency: Duration::ZERO,
            reorder_hold: Duration::from_millis(5),
            faults: Faults::NONE,
        }
    }
}

/// What happened to the frames sent in one direction of a [`MemoryLink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LinkCounters {
    /// Frames accepted for sending (within the MTU).
    pub sent: u64,
    /// Frames (copies included) the other side received.
    pub delivered: u64,
    /// Frames lost by fault injection.
    pub lost: u64,
    /// Frames with a bit flipped by fault injection (still delivered).
    pub corrupted: u64,
    /// Extra copies queued by fault injection.
    pub duplicated: u64,
    /// Frames held back to be delivered after a later one.
    pub reordered: u64,
    /// Frames (copies included) dropped because the queue was full.
    pub dropped_full: u64,
    /// Frames refused because they were longer than the link MTU (not counted in `sent`).
    pub too_big: u64,
}

impl LinkCounters {
    /// Whether every frame is accounted for, given the frames still `queued` and `held` in
    /// this direction: `sent - lost + duplicated == delivered + dropped_full + queued + held`.
    pub fn accounted(&self, queued: usize, held: usize) -> bool {
        let entered = u128::from(self.sent) + u128::from(self.duplicated);
        let left = u128::from(self.lost)
            + u128::from(self.delivered)
            + u128::from(self.dropped_full)
            + queued as u128
            + held as u128;
        entered == left
    }
}

/// Returns `true` with probability `p`.
fn chance<R: RngCore>(rng: &mut R, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    // `as` saturates; p < 1 keeps the threshold below 2^32.
    let threshold = (p * 4_294_967_296.0) as u64;
    u64::from(rng.next_u32()) < threshold
}

/// `now + d`, saturating instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    let d = i64::try_from(d.total_micros()).unwrap_or(i64::MAX);
    Instant::from_micros(now.total_micros().saturating_add(d))
}

/// The frames sent by one side: a ring of fixed slots, the frame held back for reordering and
/// the frame being written.
struct Queue<const N: usize, const MTU: usize> {
    slots: [[u8; MTU]; N],
    lens: [usize; N],
    due: [Instant; N],
    head: usize,
    len: usize,
    held: [u8; MTU],
    held_len: Option<usize>,
    held_since: Instant,
    scratch: [u8; MTU],
    counters: LinkCounters,
}

impl<const N: usize, const MTU: usize> Queue<N, MTU> {
    fn new() -> Self {
        Queue {
            slots: [[0; MTU]; N],
            lens: [0; N],
            due: [Instant::ZERO; N],
            head: 0,
            len: 0,
            held: [0; MTU],
            held_len: None,
            held_since: Instant::ZERO,
            scratch: [0; MTU],
            counters: LinkCounters::default(),
        }
    }

    /// Queues a copy of `frame` (one of this queue's own buffers is passed by index to keep
    /// the borrow checker content), or counts it as dropped when the queue is full.
    fn push(&mut self, from_held: bool, len: usize, due: Instant, capacity: usize) {
        if self.len >= capacity.min(N) {
            self.counters.dropped_full += 1;
            return;
        }
        let index = (self.head + self.len) % N;
        let source = if from_held { &self.held } else { &self.scratch };
        let (Some(slot), Some(frame)) = (self.slots.get_mut(index), source.get(..len)) else {
            // Unreachable: index < N and len <= MTU. Count rather than panic.
            self.counters.dropped_full += 1;
            return;
        };
        if let Some(dst) = slot.get_mut(..len) {
            dst.copy_from_slice(frame);
        }
        self.lens[index] = len;
        self.due[index] = due;
        self.len += 1;
    }

    /// Delivers the held frame if it has waited `hold` already.
    fn release_expired(&mut self, now: Instant, config: &MemoryLinkConfig) {
        if let Some(len) = self.held_len
            && now >= later(self.held_since, config.reorder_hold)
        {
            self.held_len = None;
            self.push(true, len, later(now, config.latency), config.capacity);
        }
    }

    /// When the next frame can be received: the head's due time, or the held frame's release.
    fn next_delivery(&self, config: &MemoryLinkConfig) -> Option<Instant> {
        let head = (self.len > 0).then(|| self.due[self.head % N.max(1)]);
        let held = self
            .held_len
            .map(|_| later(later(self.held_since, config.reorder_hold), config.latency));
        match (head, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn ready(&self, now: Instant) -> bool {
        self.len > 0 && self.due[self.head % N.max(1)] <= now
    }

    /// Puts the frame of `len` bytes in `scratch` on the link, applying the faults.
    fn send<R: RngCore>(
        &mut self,
        len: usize,
        now: Instant,
        config: &MemoryLinkConfig,
        rng: &mut R,
    ) {
        self.counters.sent += 1;
        let due = later(now, config.latency);
        let faults = &config.faults;
        if chance(rng, faults.loss) {
            self.counters.lost += 1;
        } else {
            if len > 0 && chance(rng, faults.corruption) {
                let bit = rng.next_u64() % (len as u64 * 8);
                if let Some(byte) = self.scratch.get_mut((bit / 8) as usize) {
                    *byte ^= 1 << (bit % 8);
                }
                self.counters.corrupted += 1;
            }
            if self.held_len.is_none() && chance(rng, faults.reorder) {
                if let (Some(held), Some(frame)) =
                    (self.held.get_mut(..len), self.scratch.get(..len))
                {
                    held.copy_from_slice(frame);
                }
                self.held_len = Some(len);
                self.held_since = now;
                self.counters.reordered += 1;
                return;
            }
            self.push(false, len, due, config.capacity);
            if chance(rng, faults.duplication) {
                self.counters.duplicated += 1;
                self.push(false, len, due, config.capacity);
            }
        }
        // The frame held back is overtaken by this one: it goes right after it.
        if let Some(held) = self.held_len.take() {
            self.push(true, held, due, config.capacity);
        }
    }
}

/// Both directions of an in-memory point-to-point link carrying bare IP frames
/// (`Medium::Ip`), with fault injection driven by the caller's RNG.
///
/// `N` is the number of frame slots per direction and `MTU` the size of each slot: the largest
/// MTU the link can be configured with. See the [module documentation](self).
pub struct MemoryLink<R: RngCore, const N: usize = 64, const MTU: usize = 1500> {
    queues: [Queue<N, MTU>; 2],
    config: MemoryLinkConfig,
    rng: R,
}

impl<R: RngCore, const N: usize, const MTU: usize> fmt::Debug for MemoryLink<R, N, MTU> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLink")
            .field("config", &self.config)
            .field("a_to_b", &self.queues[0].counters)
            .field("b_to_a", &self.queues[1].counters)
            .finish_non_exhaustive()
    }
}

impl<R: RngCore, const N: usize, const MTU: usize> MemoryLink<R, N, MTU> {
    /// Creates an empty link. `rng` decides every fault; seed it for reproducible runs.
    pub fn new(config: MemoryLinkConfig, rng: R) -> Self {
        MemoryLink {
            queues: [Queue::new(), Queue::new()],
            config,
            rng,
        }
    }

    /// The device at `side` of the link, borrowing the link while it is used.
    pub fn end(&mut self, side: Side) -> MemoryEnd<'_, R, N, MTU> {
        MemoryEnd { link: self, side }
    }

    /// The link's settings.
    pub fn config(&self) -> &MemoryLinkConfig {
        &self.config
    }

    /// Changes the fault probabilities from now on (frames already queued are not affected).
    pub fn set_faults(&mut self, faults: Faults) {
        self.config.faults = faults;
    }

    /// The link MTU as reported to smoltcp: the configured MTU, capped at `MTU`.
    pub fn mtu(&self) -> usize {
        self.config.mtu.min(MTU)
    }

    /// What happened to the frames sent by `sender`.
    pub fn counters(&self, sender: Side) -> LinkCounters {
        self.queues[sender.index()].counters
    }

    /// Frames sent by `sender` waiting in the queue to be received.
    pub fn queued(&self, sender: Side) -> usize {
        self.queues[sender.index()].len
    }

    /// Frames sent by `sender` held back for reordering (0 or 1).
    pub fn held(&self, sender: Side) -> usize {
        usize::from(self.queues[sender.index()].held_len.is_some())
    }

    /// The earliest instant at which `receiver` can receive a frame already on the link, if
    /// any: a driver of virtual time should not sleep past it.
    pub fn next_delivery(&self, receiver: Side) -> Option<Instant> {
        self.queues[receiver.peer().index()].next_delivery(&self.config)
    }

    /// Splits the queues into (sent by `side`, sent by its peer) with the RNG and settings.
    fn parts(
        &mut self,
        side: Side,
    ) -> (
        &mut Queue<N, MTU>,
        &mut Queue<N, MTU>,
        &mut R,
        &MemoryLinkConfig,
    ) {
        let [a, b] = &mut self.queues;
        let (tx, rx) = match side {
            Side::A => (a, b),
            Side::B => (b, a),
        };
        (tx, rx, &mut self.rng, &self.config)
    }
}

/// One end of a [`MemoryLink`]: a smoltcp [`Device`] (`Medium::Ip`).
pub struct MemoryEnd<'a, R: RngCore, const N: usize = 64, const MTU: usize = 1500> {
    link: &'a mut MemoryLink<R, N, MTU>,
    side: Side,
}

impl<R: RngCore, const N: usize, const MTU: usize> fmt::Debug for MemoryEnd<'_, R, N, MTU> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEnd")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl<R: RngCore, const N: usize, const MTU: usize> MemoryEnd<'_, R, N, MTU> {
    /// Which end this is.
    pub fn side(&self) -> Side {
        self.side
    }
}

impl<R: RngCore, const N: usize, const MTU: usize> Device for MemoryEnd<'_, R, N, MTU> {
    type RxToken<'t>
        = MemoryRxToken<'t, N, MTU>
    where
        Self: 't;
    type TxToken<'t>
        = MemoryTxToken<'t, R, N, MTU>
    where
        Self: 't;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (tx, rx, rng, config) = self.link.parts(self.side);
        rx.release_expired(timestamp, config);
        if !rx.ready(timestamp) {
            return None;
        }
        Some((
            MemoryRxToken { queue: rx },
            MemoryTxToken {
                queue: tx,
                rng,
                config,
                now: timestamp,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let (tx, _, rng, config) = self.link.parts(self.side);
        Some(MemoryTxToken {
            queue: tx,
            rng,
            config,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        ip_capabilities(self.link.mtu())
    }
}

/// Receives the frame at the head of a [`MemoryLink`] queue. The frame leaves the queue only
/// when the token is consumed.
pub struct MemoryRxToken<'a, const N: usize, const MTU: usize> {
    queue: &'a mut Queue<N, MTU>,
}

impl<const N: usize, const MTU: usize> phy::RxToken for MemoryRxToken<'_, N, MTU> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        let queue = self.queue;
        let index = queue.head;
        let len = queue.lens.get(index).copied().unwrap_or(0);
        let frame = queue
            .slots
            .get(index)
            .and_then(|slot| slot.get(..len))
            .unwrap_or_default();
        let result = f(frame);
        queue.head = (queue.head + 1) % N.max(1);
        queue.len = queue.len.saturating_sub(1);
        queue.counters.delivered += 1;
        result
    }
}

/// Sends one frame over a [`MemoryLink`], through its fault injection.
pub struct MemoryTxToken<'a, R: RngCore, const N: usize, const MTU: usize> {
    queue: &'a mut Queue<N, MTU>,
    rng: &'a mut R,
    config: &'a MemoryLinkConfig,
    now: Instant,
}

impl<R: RngCore, const N: usize, const MTU: usize> phy::TxToken for MemoryTxToken<'_, R, N, MTU> {
    /// Builds the frame and puts it on the link. A frame longer than the link MTU is refused
    /// and counted as `too_big`.
    ///
    /// # Panics
    ///
    /// Without the `std` feature, if `len` exceeds the slot size `MTU` (there is no buffer to
    /// build it in). smoltcp never asks for more than the MTU it was given.
    fn consume<T, F>(self, len: usize, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        let queue = self.queue;
        let config = self.config;
        // No fault to apply, nothing held back, room in the queue: build the frame in the
        // slot it will be read from. (`send` would queue it there unchanged and draw no
        // random number, so the outcome and the counters are the same.)
        if len <= config.mtu.min(MTU)
            && queue.held_len.is_none()
            && queue.len < config.capacity.min(N)
            && config.faults.never()
        {
            let index = (queue.head + queue.len) % N;
            if let (Some(slot), Some(len_at), Some(due_at)) = (
                queue.slots.get_mut(index),
                queue.lens.get_mut(index),
                queue.due.get_mut(index),
            ) && let Some(buffer) = slot.get_mut(..len)
            {
                let result = f(buffer);
                *len_at = len;
                *due_at = later(self.now, config.latency);
                queue.len += 1;
                queue.counters.sent += 1;
                return result;
            }
        }
        let Some(buffer) = queue.scratch.get_mut(..len) else {
            log::debug!("memory link: refused a {len}-byte frame over the slot size {MTU}");
            queue.counters.too_big += 1;
            return oversize(len, f);
        };
        let result = f(buffer);
        if len > self.config.mtu.min(MTU) {
            log::debug!("memory link: refused a {len}-byte frame over the MTU");
            queue.counters.too_big += 1;
        } else {
            queue.send(len, self.now, self.config, self.rng);
        }
        result
    }
}

/// Lets `f` build a frame too long for the link's buffers, which is then thrown away.
#[cfg(feature = "std")]
fn oversize<T, F: FnOnce(&mut [u8]) -> T>(len: usize, f: F) -> T {
    f(&mut vec![0; len])
}

/// Without an allocator there is no buffer for a frame longer than the slots.
#[cfg(not(feature = "std"))]
fn oversize<T, F: FnOnce(&mut [u8]) -> T>(len: usize, _f: F) -> T {
    panic!("memory link: a {len}-byte frame does not fit the link's frame slots")
}

#[cfg(test)]
mod tests {
    use super::*;
    use phy::{RxToken, TxToken};
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    type Link = MemoryLink<ChaCha8Rng, 8, 64>;

    fn link(config: MemoryLinkConfig) -> Link {
        MemoryLink::new(config, ChaCha8Rng::seed_from_u64(7))
    }

    fn send(link: &mut Link, side: Side, now: Instant, frame: &[u8]) {
        link.end(side)
            .transmit(now)
            .unwrap()
            .consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    fn recv(link: &mut Link, side: Side, now: Instant) -> Option<Vec<u8>> {
        let mut end = link.end(side);
        let (rx, _) = end.receive(now)?;
        Some(rx.consume(|f| f.to_vec()))
    }

    #[test]
    fn delivers_in_order_both_ways() {
        let mut l = link(MemoryLinkConfig::default());
        let t = Instant::ZERO;
        send(&mut l, Side::A, t, b"a1");
        send(&mut l, Side::A, t, b"a2");
        send(&mut l, Side::B, t, b"b1");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"a1");
        assert_eq!(recv(&mut l, Side::A, t).unwrap(), b"b1");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"a2");
        assert_eq!(recv(&mut l, Side::B, t), None);
        assert_eq!(l.counters(Side::A).delivered, 2);
        assert!(l.counters(Side::A).accounted(0, 0));
    }

    #[test]
    fn mtu_is_capped_and_oversize_counted() {
        let mut l = link(MemoryLinkConfig {
            mtu: 32,
            ..Default::default()
        });
        assert_eq!(l.end(Side::A).capabilities().max_transmission_unit, 32);
        send(&mut l, Side::A, Instant::ZERO, &[0x60; 33]);
        send(&mut l, Side::A, Instant::ZERO, &[0x60; 100]);
        assert_eq!(l.counters(Side::A).too_big, 2);
        assert_eq!(l.counters(Side::A).sent, 0);
        assert_eq!(recv(&mut l, Side::B, Instant::ZERO), None);
        let big = link(MemoryLinkConfig {
            mtu: 9000,
            ..Default::default()
        });
        assert_eq!(big.mtu(), 64);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let mut l = link(MemoryLinkConfig {
            capacity: 3,
            ..Default::default()
        });
        for i in 0..5u8 {
            send(&mut l, Side::A, Instant::ZERO, &[i]);
        }
        let c = l.counters(Side::A);
        assert_eq!((c.sent, c.dropped_full), (5, 2));
        assert_eq!(l.queued(Side::A), 3);
        assert!(c.accounted(3, 0));
        // The ring wraps around correctly after draining.
        for _ in 0..3 {
            recv(&mut l, Side::B, Instant::ZERO).unwrap();
        }
        for round in 0..20u8 {
            send(&mut l, Side::A, Instant::ZERO, &[round]);
            assert_eq!(recv(&mut l, Side::B, Instant::ZERO).unwrap(), [round]);
        }
    }

    #[test]
    fn latency_delays_delivery() {
        let mut l = link(MemoryLinkConfig {
            latency: Duration::from_millis(10),
            ..Default::default()
        });
        send(&mut l, Side::A, Instant::from_millis(5), b"x");
        assert_eq!(l.next_delivery(Side::B), Some(Instant::from_millis(15)));
        assert_eq!(recv(&mut l, Side::B, Instant::from_millis(14)), None);
        assert_eq!(
            recv(&mut l, Side::B, Instant::from_millis(15)).unwrap(),
            b"x"
        );
        assert_eq!(l.next_delivery(Side::B), None);
    }

    #[test]
    fn certain_faults() {
        let mut l = link(MemoryLinkConfig {
            faults: Faults {
                corruption: 1.0,
                duplication: 1.0,
                ..Faults::NONE
            },
            ..Default::default()
        });
        let frame = [0u8; 16];
        send(&mut l, Side::A, Instant::ZERO, &frame);
        let first = recv(&mut l, Side::B, Instant::ZERO).unwrap();
        let second = recv(&mut l, Side::B, Instant::ZERO).unwrap();
        assert_eq!(first, second);
        let flipped: u32 = first.iter().map(|b| b.count_ones()).sum();
        assert_eq!(flipped, 1, "exactly one bit flipped");
        let c = l.counters(Side::A);
        assert_eq!((c.corrupted, c.duplicated, c.delivered), (1, 1, 2));

        l.set_faults(Faults {
            loss: 1.0,
            ..Faults::NONE
        });
        send(&mut l, Side::A, Instant::ZERO, &frame);
        assert_eq!(recv(&mut l, Side::B, Instant::ZERO), None);
        assert_eq!(l.counters(Side::A).lost, 1);
        assert!(l.counters(Side::A).accounted(0, 0));
    }

    #[test]
    fn reorder_swaps_with_next_or_releases_after_hold() {
        let mut l = link(MemoryLinkConfig {
            faults: Faults {
                reorder: 1.0,
                ..Faults::NONE
            },
            ..Default::default()
        });
        let t = Instant::ZERO;
        send(&mut l, Side::A, t, b"1");
        send(&mut l, Side::A, t, b"2");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"2");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"1");
        send(&mut l, Side::A, t, b"3");
        assert_eq!(l.held(Side::A), 1);
        assert_eq!(recv(&mut l, Side::B, t), None);
        assert_eq!(l.next_delivery(Side::B), Some(Instant::from_millis(5)));
        assert_eq!(
            recv(&mut l, Side::B, Instant::from_millis(5)).unwrap(),
            b"3"
        );
        let c = l.counters(Side::A);
        assert_eq!((c.reordered, c.delivered), (2, 3));
        assert!(c.accounted(0, 0));
    }

    #[test]
    fn frame_held_back_before_faults_stop_still_follows_the_next_one() {
        let mut l = link(MemoryLinkConfig {
            faults: Faults {
                reorder: 1.0,
                ..Faults::NONE
            },
            ..Default::default()
        });
        let t = Instant::ZERO;
        send(&mut l, Side::A, t, b"held");
        l.set_faults(Faults::NONE);
        // Built in place would overtake nothing: this frame goes through `send`, which
        // releases the held one right behind it.
        send(&mut l, Side::A, t, b"next");
        send(&mut l, Side::A, t, b"last");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"next");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"held");
        assert_eq!(recv(&mut l, Side::B, t).unwrap(), b"last");
        let c = l.counters(Side::A);
        assert_eq!((c.sent, c.reordered, c.delivered), (3, 1, 3));
        assert!(c.accounted(0, 0));
    }

    #[test]
    fn frames_built_in_place_overwrite_whatever_the_slot_held() {
        let mut l = link(MemoryLinkConfig::default());
        let t = Instant::ZERO;
        // Fill every slot with a long frame, drain, then send short ones into the same slots.
        for _ in 0..8 {
            send(&mut l, Side::A, t, &[0xee; 64]);
        }
        while recv(&mut l, Side::B, t).is_some() {}
        for i in 0..8u8 {
            send(&mut l, Side::A, t, &[i; 3]);
            assert_eq!(recv(&mut l, Side::B, t).unwrap(), [i; 3]);
        }
        // A full queue still counts the frame it cannot take, in place or not.
        for _ in 0..9 {
            send(&mut l, Side::A, t, b"x");
        }
        assert_eq!(l.counters(Side::A).dropped_full, 1);
        assert!(l.counters(Side::A).accounted(8, 0));
    }

    #[test]
    fn undropped_rx_token_keeps_frame() {
        let mut l = link(MemoryLinkConfig::default());
        send(&mut l, Side::A, Instant::ZERO, b"keep");
        assert!(l.end(Side::B).receive(Instant::ZERO).is_some());
        assert_eq!(recv(&mut l, Side::B, Instant::ZERO).unwrap(), b"keep");
    }

    #[test]
    fn probabilities_are_roughly_right() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let hits = (0..100_000).filter(|_| chance(&mut rng, 0.1)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        assert!(!chance(&mut rng, f64::NAN));
        assert!(!chance(&mut rng, -1.0));
        assert!(chance(&mut rng, 2.0));
    }

    /// What a property test does to a link.
    #[derive(Debug, Clone)]
    enum Action {
        Send(Side, usize),
        Receive(Side),
        Advance(u64),
        /// Switches between the test's faults and none (frames built in place).
        ToggleFaults,
    }

    fn action() -> impl proptest::strategy::Strategy<Value = Action> {
        use proptest::prelude::*;
        let side = prop_oneof![Just(Side::A), Just(Side::B)];
        prop_oneof![
            (side.clone(), 0usize..80).prop_map(|(s, n)| Action::Send(s, n)),
            side.prop_map(Action::Receive),
            (0u64..4000).prop_map(Action::Advance),
            Just(Action::ToggleFaults),
        ]
    }

    proptest::proptest! {
        /// Whatever the faults and the order of events, every frame is accounted for, nothing
        /// panics, and what arrives is what was sent, up to one flipped bit.
        #[test]
        fn every_frame_accounted(
            seed: u64,
            loss in 0.0..1.0f64,
            corruption in 0.0..1.0f64,
            duplication in 0.0..1.0f64,
            reorder in 0.0..1.0f64,
            capacity in 0usize..10,
            latency in 0u64..3000,
            actions in proptest::collection::vec(action(), 0..200),
        ) {
            let config = MemoryLinkConfig {
                mtu: 60,
                capacity,
                latency: Duration::from_micros(latency),
                reorder_hold: Duration::from_micros(1000),
                faults: Faults { loss, corruption, duplication, reorder },
            };
            let mut l: Link = MemoryLink::new(config, ChaCha8Rng::seed_from_u64(seed));
            let mut now = Instant::ZERO;
            let mut faulty = true;
            for action in actions {
                match action {
                    // Every byte of a frame is its length, so damage shows.
                    Action::Send(side, len) => send(&mut l, side, now, &vec![len as u8; len]),
                    Action::Receive(side) => {
                        if let Some(frame) = recv(&mut l, side, now) {
                            let len = frame.len() as u8;
                            let flipped: u32 = frame.iter().map(|b| (b ^ len).count_ones()).sum();
                            proptest::prop_assert!(flipped <= 1);
                            proptest::prop_assert!(frame.len() <= 60);
                        }
                    }
                    Action::Advance(us) => now += Duration::from_micros(us),
                    Action::ToggleFaults => {
                        faulty = !faulty;
                        l.set_faults(if faulty { config.faults } else { Faults::NONE });
                    }
                }
                for side in [Side::A, Side::B] {
                    let c = l.counters(side);
                    proptest::prop_assert!(c.accounted(l.queued(side), l.held(side)), "{:?}", c);
                    proptest::prop_assert!(l.queued(side) <= capacity.min(8));
                }
            }
        }

        /// Without faults and with room in the queue, frames arrive once each, intact and in
        /// order.
        #[test]
        fn faultless_link_is_fifo(lens in proptest::collection::vec(1usize..=64, 0..8)) {
            let mut l = link(MemoryLinkConfig { mtu: 64, ..Default::default() });
            for (i, &len) in lens.iter().enumerate() {
                send(&mut l, Side::B, Instant::ZERO, &vec![i as u8; len]);
            }
            for (i, &len) in lens.iter().enumerate() {
                proptest::prop_assert_eq!(recv(&mut l, Side::A, Instant::ZERO), Some(vec![i as u8; len]));
            }
            proptest::prop_assert_eq!(recv(&mut l, Side::A, Instant::ZERO), None);
        }
    }
}
