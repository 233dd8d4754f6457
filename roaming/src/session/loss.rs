//! Acknowledgments, loss detection (RFC 9002 §5, §6) and the frames that must arrive.
//!
//! Datagrams are unreliable: a lost datagram is not sent again (TCP inside the tunnel resends
//! what it needs). Each ack-eliciting packet sent on the current path is remembered with its
//! number, time, size and path generation (for RTT samples and the congestion record), and
//! whether it carried NEW_ID or RETIRE_ID frames. Those must arrive: "New connection IDs are
//! sent in NEW_CONNECTION_ID frames and retransmitted if the packet containing them is lost
//! ... Likewise, retired connection IDs are sent in RETIRE_CONNECTION_ID frames and
//! retransmitted if the packet containing them is lost" (RFC 9000 §13.3). Each such frame
//! records the packet it last went in ([`Delivery`]); it is queued again when that packet is
//! declared lost or a probe timeout expires, and settled when a packet carrying it is
//! acknowledged.
//!
//! - **Lost by acknowledgment** (§6.1): a packet is lost once a later one is acknowledged and
//!   it is kPacketThreshold (3) packet numbers older, or was sent at least
//!   9/8 x max(smoothed RTT, latest RTT) ago.
//! - **Lost by the clock** (§6.1.2): when a packet older than the largest acknowledged is not
//!   yet that old, the loss detection timer fires when it will be, and declares it lost.
//! - **Probe timeout** (§6.2): otherwise, while ack-eliciting packets are in flight, the timer
//!   fires PTO x 2^pto_count after the last one was sent (PTO = smoothed RTT +
//!   max(4 x RTT variation, 1 ms) + max_ack_delay). The frames that must arrive are queued
//!   again and a PING goes with them ("a sender SHOULD send ack-eliciting packets as probes",
//!   §6.2.4), so that an acknowledgment comes back and settles the rest; the count doubles the
//!   next timeout until an acknowledgment arrives. A probe timeout declares nothing lost by
//!   itself.
//! - **Forgotten**: a packet pushed out of the history (256 packets) counts as lost.
//!
//! Other frames: PING and PADDING carry nothing to repair, ACK frames always describe the
//! newest state, PATH_RESPONSE is never repeated (RFC 9000 §8.2.2) and PATH_CHALLENGE has its
//! own timers (path validation). CLOSE is sent once and the session is removed at once (no
//! closing period as in RFC 9000 §10.2): when it is lost, the peer's session ends by its idle
//! timeout.

use smoltcp::time::{Duration, Instant};

use super::{Ctx, Delivery, SentPacket, Session};
use crate::config::Config;
use crate::packet::frame::{AckFrame, MAX_ACK_RANGES};
use crate::path::GRANULARITY;

/// RFC 9002 §6.1.1 kPacketThreshold.
const PACKET_THRESHOLD: u64 = 3;
/// The probe timeout doubles at most this many times (2^6 x PTO: about a minute for a
/// 1-second PTO, the idle timeout's order).
const MAX_PTO_BACKOFF: u32 = 6;

impl Session {
    /// An ACK frame arrived: settle what it acknowledges, take an RTT sample, detect losses.
    pub(super) fn on_ack(&mut self, ack: &AckFrame, now: Instant, ctx: &mut Ctx<'_>) {
        let Some(intervals) = ack.intervals() else {
            return;
        };
        if ack.largest >= self.next_pn {
            return; // acknowledges a packet never sent: ignore the frame
        }
        let mut ranges = [(0u64, 0u64); MAX_ACK_RANGES + 1];
        let mut n = 0;
        for r in intervals {
            ranges[n] = r;
            n += 1;
        }
        let ranges = &ranges[..n];
        let acked = |pn: u64| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&pn));
        self.largest_acked = Some(
            self.largest_acked
                .map_or(ack.largest, |l| l.max(ack.largest)),
        );

        let generation = self.path.state.generation;
        let mut largest_newly: Option<SentPacket> = None;
        let mut newly_acked = false;
        let Session {
            sent,
            path,
            local_ids,
            retiring,
            ..
        } = self;
        let state = &mut path.state;
        sent.retain(|p| {
            if !acked(p.pn) {
                return true;
            }
            newly_acked = true;
            if p.generation == generation {
                state.congestion.on_acked(p.size, p.time);
            }
            if p.reliable {
                // The frames it carried arrived.
                for l in local_ids.iter_mut() {
                    if l.delivery == Delivery::InFlight(p.pn) {
                        l.delivery = Delivery::Acked;
                    }
                }
                retiring.retain(|r| r.1 != Delivery::InFlight(p.pn));
            }
            if p.pn == ack.largest {
                largest_newly = Some(*p);
            }
            false
        });
        // RTT sample: "the largest acknowledged packet number is newly acknowledged and at
        // least one of the newly acknowledged packets was ack-eliciting" (RFC 9002 §5.1).
        if let Some(p) = largest_newly
            && p.generation == generation
        {
            let delay = Duration::from_micros(ack.delay_us).min(ctx.config.max_ack_delay);
            state.rtt.update(now - p.time, delay);
        }
        if newly_acked {
            // "The PTO backoff factor is reset when an acknowledgment is received" (§6.2.1).
            self.pto_count = 0;
        }
        self.detect_lost(now);
    }

    /// Declare lost what is 3 packets or 9/8 RTT older than the largest acknowledged packet,
    /// and note when the next of the others will be (RFC 9002 §6.1).
    fn detect_lost(&mut self, now: Instant) {
        self.loss_time = None;
        let Some(largest_acked) = self.largest_acked else {
            return;
        };
        let rtt = &self.path.state.rtt;
        let loss_delay =
            Duration::from_micros(rtt.smoothed().max(rtt.latest()).total_micros() * 9 / 8)
                .max(GRANULARITY);
        let mut i = 0;
        // `sent` is in packet number order.
        while let Some(&p) = self.sent.get(i) {
            if p.pn >= largest_acked {
                break;
            }
            if p.pn + PACKET_THRESHOLD <= largest_acked || p.time + loss_delay <= now {
                self.sent.remove(i);
                self.packet_lost(p, now, true);
            } else {
                let at = p.time + loss_delay;
                self.loss_time = Some(self.loss_time.map_or(at, |t| t.min(at)));
                i += 1;
            }
        }
    }

    /// Packet `p` is lost (or forgotten): take it out of the congestion record (a congestion
    /// event when `congestion`) and queue its frames that must arrive again.
    pub(super) fn packet_lost(&mut self, p: SentPacket, now: Instant, congestion: bool) {
        self.counters.packets_lost += 1;
        if p.generation == self.path.state.generation {
            self.path
                .state
                .congestion
                .on_lost(p.size, p.time, now, congestion);
        }
        if p.reliable {
            self.repeat_frames(|d| d == Delivery::InFlight(p.pn));
        }
    }

    /// Queue again the frames whose delivery `which` selects.
    fn repeat_frames(&mut self, which: impl Fn(Delivery) -> bool) {
        let mut n = 0;
        for l in self.local_ids.iter_mut().filter(|l| which(l.delivery)) {
            l.delivery = Delivery::Pending;
            n += 1;
        }
        for r in self.retiring.iter_mut().filter(|r| which(r.1)) {
            r.1 = Delivery::Pending;
            n += 1;
        }
        self.counters.frames_repeated += n;
    }

    /// When the loss detection timer fires: the time threshold of a packet not yet lost, or
    /// else the probe timeout after the last ack-eliciting packet, if any is in flight.
    pub(super) fn loss_detection_timer(&self, config: &Config) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        let last = self.sent.back()?;
        let pto = self.path.state.rtt.pto(config.max_ack_delay)
            * (1u32 << self.pto_count.min(MAX_PTO_BACKOFF));
        Some(last.time + pto)
    }

    /// The loss detection timer fired (RFC 9002 §6.2.4 OnLossDetectionTimeout).
    pub(super) fn on_loss_detection_timeout(&mut self, now: Instant, config: &Config) {
        if self.loss_time.is_some() {
            if self.loss_time.is_some_and(|t| t <= now) {
                self.detect_lost(now);
            }
            return;
        }
        if self.loss_detection_timer(config).is_none_or(|t| t > now) {
            return;
        }
        self.pto_count += 1;
        self.counters.probe_timeouts += 1;
        // Probe with what must arrive, and a PING to be sure the probe elicits an ACK.
        self.repeat_frames(|d| matches!(d, Delivery::InFlight(_)));
        self.ping_pending = true;
    }
}
