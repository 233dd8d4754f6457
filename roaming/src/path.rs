//! Per-path state: RTT estimation (RFC 9002 §5) and a congestion record (RFC 9002 §7).
//!
//! A [`PathState`] belongs to the path, not the session: RFC 9000 §9.4 says "an endpoint MUST
//! NOT restore [congestion state] on a new path ... unless the only change in the peer's
//! address is its port number", because a port-only change is a NAT rebinding on the same
//! network path. The session keeps the record on such a change and starts a fresh one
//! otherwise, for IPv4 and IPv6 alike.

use smoltcp::time::{Duration, Instant};

/// Timer granularity (RFC 9002 §6.1.2, kGranularity).
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed round-trip time estimator (RFC 9002 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Option<Duration>,
    samples: u64,
}

impl RttEstimator {
    /// An estimator that starts from `initial` (RFC 9002 §6.2.2 suggests 333 ms).
    pub fn new(initial: Duration) -> RttEstimator {
        RttEstimator {
            latest: initial,
            smoothed: initial,
            var: initial / 2,
            min: None,
            samples: 0,
        }
    }

    /// Take a sample: `latest` from sending to acknowledgment, `ack_delay` as the peer
    /// reported it (already capped at max_ack_delay by the caller).
    pub fn update(&mut self, latest: Duration, ack_delay: Duration) {
        self.latest = latest;
        let min = self.min.map_or(latest, |m| m.min(latest));
        self.min = Some(min);
        if self.samples == 0 {
            self.smoothed = latest;
            self.var = latest / 2;
        } else {
            // "adjusted_rtt = latest_rtt; if (latest_rtt >= min_rtt + ack_delay):
            //  adjusted_rtt = latest_rtt - ack_delay"
            let adjusted = if latest >= min + ack_delay {
                latest - ack_delay
            } else {
                latest
            };
            let diff = if self.smoothed > adjusted {
                self.smoothed - adjusted
            } else {
                adjusted - self.smoothed
            };
            self.var =
                Duration::from_micros((3 * self.var.total_micros() + diff.total_micros()) / 4);
            self.smoothed = Duration::from_micros(
                (7 * self.smoothed.total_micros() + adjusted.total_micros()) / 8,
            );
        }
        self.samples += 1;
    }

    /// Smoothed RTT.
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// RTT variation.
    pub fn var(&self) -> Duration {
        self.var
    }

    /// Minimum RTT seen, if any sample.
    pub fn min(&self) -> Option<Duration> {
        self.min
    }

    /// Latest sample (or the initial RTT).
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// Number of samples taken.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Probe timeout (RFC 9002 §6.2.1): smoothed_rtt + max(4*rttvar, kGranularity) + max_ack_delay.
    pub fn pto(&self, max_ack_delay: Duration) -> Duration {
        self.smoothed + (self.var * 4).max(GRANULARITY) + max_ack_delay
    }
}

/// NewReno congestion record (RFC 9002 §7), fed by acknowledgments and losses.
///
/// Datagrams are unreliable, so nothing is retransmitted; the window is exposed to drivers
/// (see [`crate::SessionStats`]) that want to pace what they hand to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Congestion {
    /// Congestion window in bytes.
    pub window: u64,
    /// Slow-start threshold.
    pub ssthresh: u64,
    /// Bytes sent in ack-eliciting packets and neither acknowledged nor declared lost.
    pub in_flight: u64,
    recovery_start: Option<Instant>,
    mss: u64,
}

impl Congestion {
    /// A fresh record for packets of at most `mss` bytes (RFC 9002 §7.2 initial window).
    pub fn new(mss: usize) -> Congestion {
        let mss = mss as u64;
        Congestion {
            window: (10 * mss).min((2 * mss).max(14_720)),
            ssthresh: u64::MAX,
            in_flight: 0,
            recovery_start: None,
            mss,
        }
    }

    pub(crate) fn on_sent(&mut self, bytes: usize) {
        self.in_flight += bytes as u64;
    }

    pub(crate) fn on_acked(&mut self, bytes: usize, sent: Instant) {
        let bytes = bytes as u64;
        self.in_flight = self.in_flight.saturating_sub(bytes);
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        if self.window < self.ssthresh {
            self.window += bytes;
        } else {
            self.window += self.mss * bytes / self.window.max(1);
        }
    }

    /// `bytes` declared lost (or forgotten); a congestion event if sent after recovery began.
    pub(crate) fn on_lost(&mut self, bytes: usize, sent: Instant, now: Instant, congestion: bool) {
        self.in_flight = self.in_flight.saturating_sub(bytes as u64);
        if congestion && self.recovery_start.is_none_or(|r| sent > r) {
            self.recovery_start = Some(now);
            self.window = (self.window / 2).max(2 * self.mss);
            self.ssthresh = self.window;
        }
    }
}

/// The state a path carries: kept on a port-only change of the peer's address, reset on any
/// other change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathState {
    /// Round-trip time estimator.
    pub rtt: RttEstimator,
    /// Congestion record.
    pub congestion: Congestion,
    /// Identifies this record: RTT samples count only for packets sent under it.
    pub(crate) generation: u32,
}

impl PathState {
    pub(crate) fn new(initial_rtt: Duration, mss: usize, generation: u32) -> PathState {
        PathState {
            rtt: RttEstimator::new(initial_rtt),
            congestion: Congestion::new(mss),
            generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_follows_rfc9002() {
        let mut r = RttEstimator::new(Duration::from_millis(333));
        assert_eq!(
            r.pto(Duration::from_millis(25)),
            Duration::from_micros(333_000 + 4 * 166_500 + 25_000)
        );
        r.update(Duration::from_millis(100), Duration::from_millis(0));
        assert_eq!(
            (r.smoothed(), r.var(), r.min()),
            (
                Duration::from_millis(100),
                Duration::from_millis(50),
                Some(Duration::from_millis(100))
            )
        );
        // Ack delay is subtracted only when the sample stays above min_rtt.
        r.update(Duration::from_millis(120), Duration::from_millis(10));
        assert_eq!(
            r.smoothed(),
            Duration::from_micros((7 * 100_000 + 110_000) / 8)
        );
        assert_eq!(r.var(), Duration::from_micros((3 * 50_000 + 10_000) / 4));
    }

    #[test]
    fn congestion_halves_once_per_recovery() {
        let mut c = Congestion::new(1200);
        assert_eq!(c.window, 12_000);
        let t0 = Instant::from_millis(0);
        c.on_sent(2400);
        c.on_acked(1200, t0);
        assert_eq!(c.window, 13_200);
        c.on_lost(1200, t0, Instant::from_millis(10), true);
        assert_eq!(c.window, 6_600);
        c.on_sent(1200);
        c.on_lost(1200, t0, Instant::from_millis(11), true);
        assert_eq!(
            c.window, 6_600,
            "a packet sent before recovery began does not halve again"
        );
    }
}
