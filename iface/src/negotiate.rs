//! Agreeing on compressed frames with the peer, as a sans-IO state machine.
//!
//! An end sends link hellos ([`bridgeless_wire::negotiation`]) carrying its interface
//! identifier and, once known, the peer's. It compresses toward the peer only after a hello
//! from the peer has echoed its own identifier correctly — proof that the peer speaks the
//! protocol and holds the same context — and it accepts compressed frames once it knows the
//! peer's identifier. A peer that never answers (a Linux TUN device drops the hellos as
//! receive errors) is offered [`MAX_OFFERS`] hellos, one per [`OFFER_INTERVAL`], and then left
//! alone: it only ever sees bare IP. An identifier change on either side (renumbering, a new
//! link-local address) starts over, so the two contexts can never silently disagree.

use bridgeless_wire::compressed::Context;
use bridgeless_wire::negotiation::{HELLO_LEN, HelloRepr};
use smoltcp::time::{Duration, Instant};

/// Hellos sent before giving up on a silent peer.
pub const MAX_OFFERS: u8 = 4;
/// Time between hellos while the peer has not confirmed.
pub const OFFER_INTERVAL: Duration = Duration::from_secs(1);

/// What the negotiation has seen and done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NegotiationCounters {
    /// Hellos sent.
    pub hellos_sent: u64,
    /// Valid hellos received.
    pub hellos_received: u64,
    /// Frames that looked like hellos but did not parse (another version, truncated).
    pub hellos_invalid: u64,
    /// Times the agreement was reset by an identifier change.
    pub resets: u64,
}

/// The negotiation of compressed frames on one link.
#[derive(Debug, Clone)]
pub struct CompressionNegotiator {
    own_iid: [u8; 8],
    peer_iid: Option<[u8; 8]>,
    /// The peer echoed our identifier: it can decompress what we compress.
    confirmed: bool,
    /// A hello is due at this time.
    next_hello: Option<Instant>,
    offers_left: u8,
    counters: NegotiationCounters,
}

impl CompressionNegotiator {
    /// A negotiator for an end whose interface identifier is `own_iid` (the low 64 bits of its
    /// link-local address). Nothing is sent until [`link_up`](Self::link_up).
    pub fn new(own_iid: [u8; 8]) -> Self {
        CompressionNegotiator {
            own_iid,
            peer_iid: None,
            confirmed: false,
            next_hello: None,
            offers_left: 0,
            counters: NegotiationCounters::default(),
        }
    }

    /// The link came up (or back): forget the peer and offer again at once.
    pub fn link_up(&mut self, now: Instant) {
        self.peer_iid = None;
        self.confirmed = false;
        self.offers_left = MAX_OFFERS;
        self.next_hello = Some(now);
    }

    /// Our own identifier changed: the peer's context is stale, start over.
    pub fn set_own_iid(&mut self, now: Instant, iid: [u8; 8]) {
        if iid != self.own_iid {
            self.own_iid = iid;
            self.counters.resets += 1;
            self.link_up(now);
        }
    }

    /// Handles a received link hello (a frame for which
    /// [`negotiation::is_hello`](bridgeless_wire::negotiation::is_hello) is true).
    pub fn handle_hello(&mut self, now: Instant, frame: &[u8]) {
        let Ok(hello) = HelloRepr::parse(frame) else {
            self.counters.hellos_invalid += 1;
            return;
        };
        self.counters.hellos_received += 1;
        if self.peer_iid.is_some_and(|known| known != hello.sender_iid) {
            // The peer's identifier changed under us: both contexts must be rebuilt.
            self.counters.resets += 1;
            self.confirmed = false;
        }
        self.peer_iid = Some(hello.sender_iid);
        let was_confirmed = self.confirmed;
        self.confirmed = hello.receiver_iid == Some(self.own_iid);
        if !self.confirmed || !was_confirmed {
            // The peer does not know our identifier yet, or has just learnt it: answer at once
            // so that it can confirm too (bounded by the peer's own rate of hellos).
            self.offers_left = self.offers_left.max(1);
            self.next_hello = Some(now);
        }
    }

    /// The next hello to send, written into `buf`; `None` when nothing is due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let due = self.next_hello.is_some_and(|t| t <= now) && self.offers_left > 0;
        if !due {
            return None;
        }
        let hello = HelloRepr {
            sender_iid: self.own_iid,
            receiver_iid: self.peer_iid,
        };
        let len = hello.emit(buf).ok()?;
        debug_assert_eq!(len, HELLO_LEN);
        self.counters.hellos_sent += 1;
        self.offers_left -= 1;
        // Keep offering while the peer has not confirmed; a confirmed peer that already knows
        // us needs nothing more.
        self.next_hello = (self.offers_left > 0 && !(self.confirmed && self.peer_iid.is_some()))
            .then(|| now + OFFER_INTERVAL);
        Some(len)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_hello.filter(|_| self.offers_left > 0)
    }

    /// Timers are carried by [`poll_transmit`](Self::poll_transmit); this is a no-op kept for
    /// the uniform sans-IO interface.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The context to compress with, once the peer has confirmed it can decompress.
    pub fn compress_context(&self) -> Option<Context> {
        self.confirmed
            .then(|| self.peer_iid.map(|peer| Context::new(self.own_iid, peer)))
            .flatten()
    }

    /// The context to decompress the peer's frames with, once its identifier is known.
    pub fn decompress_context(&self) -> Option<Context> {
        self.peer_iid.map(|peer| Context::new(self.own_iid, peer))
    }

    /// What has happened so far.
    pub fn counters(&self) -> NegotiationCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
    const B: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 2];

    /// Runs both ends over a lossless link until neither has anything to send.
    fn exchange(a: &mut CompressionNegotiator, b: &mut CompressionNegotiator, now: Instant) {
        let mut buf = [0u8; HELLO_LEN];
        for _ in 0..16 {
            let mut quiet = true;
            if let Some(n) = a.poll_transmit(now, &mut buf) {
                b.handle_hello(now, &buf[..n]);
                quiet = false;
            }
            if let Some(n) = b.poll_transmit(now, &mut buf) {
                a.handle_hello(now, &buf[..n]);
                quiet = false;
            }
            if quiet {
                return;
            }
        }
        panic!("the hello exchange did not settle");
    }

    #[test]
    fn two_ends_agree_and_hold_mirrored_contexts() {
        let (mut a, mut b) = (CompressionNegotiator::new(A), CompressionNegotiator::new(B));
        a.link_up(Instant::ZERO);
        b.link_up(Instant::ZERO);
        exchange(&mut a, &mut b, Instant::ZERO);
        let (ca, cb) = (a.compress_context().unwrap(), b.compress_context().unwrap());
        assert_eq!(ca.local_iid(), A);
        assert_eq!(ca.peer_iid(), B);
        assert_eq!(cb.local_iid(), ca.peer_iid());
        assert_eq!(b.decompress_context().unwrap().peer_iid(), A);
        // Settled: no more hellos, no timer.
        assert!(a.poll_timeout().is_none() && b.poll_timeout().is_none());
        assert!(a.counters().hellos_sent <= 3 && b.counters().hellos_sent <= 3);
    }

    #[test]
    fn a_silent_peer_gets_a_few_hellos_and_only_bare_frames() {
        let mut a = CompressionNegotiator::new(A);
        a.link_up(Instant::ZERO);
        let mut buf = [0u8; HELLO_LEN];
        let mut now = Instant::ZERO;
        let mut sent = 0;
        for _ in 0..100 {
            if a.poll_transmit(now, &mut buf).is_some() {
                sent += 1;
            }
            now += Duration::from_millis(250);
        }
        assert_eq!(sent, MAX_OFFERS);
        assert!(a.compress_context().is_none());
        assert!(a.poll_timeout().is_none());
    }

    #[test]
    fn a_hello_that_does_not_echo_us_is_not_a_confirmation() {
        let mut a = CompressionNegotiator::new(A);
        a.link_up(Instant::ZERO);
        let mut buf = [0u8; HELLO_LEN];
        let wrong = HelloRepr {
            sender_iid: B,
            receiver_iid: Some([7; 8]),
        };
        let n = wrong.emit(&mut buf).unwrap();
        a.handle_hello(Instant::ZERO, &buf[..n]);
        assert!(
            a.compress_context().is_none(),
            "the peer holds a wrong context"
        );
        assert!(a.decompress_context().is_some());
        a.handle_hello(Instant::ZERO, &buf[..5]);
        assert_eq!(a.counters().hellos_invalid, 1);
    }

    #[test]
    fn an_identifier_change_stops_compression_until_agreed_again() {
        let (mut a, mut b) = (CompressionNegotiator::new(A), CompressionNegotiator::new(B));
        a.link_up(Instant::ZERO);
        b.link_up(Instant::ZERO);
        exchange(&mut a, &mut b, Instant::ZERO);
        let later = Instant::from_secs(10);
        b.set_own_iid(later, [3; 8]);
        assert!(b.compress_context().is_none());
        // b's next hello tells a of the change; a stops compressing at once.
        let mut buf = [0u8; HELLO_LEN];
        let n = b.poll_transmit(later, &mut buf).unwrap();
        a.handle_hello(later, &buf[..n]);
        assert!(a.compress_context().is_none());
        exchange(&mut a, &mut b, later);
        assert_eq!(a.compress_context().unwrap().peer_iid(), [3; 8]);
        assert_eq!(b.compress_context().unwrap().peer_iid(), A);
    }
}
