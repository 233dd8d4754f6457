//! Building packets: handshake messages, probes, responses and the main packet.

use std::net::SocketAddr;

use smoltcp::time::Instant;

use super::{Ctx, Delivery, PN_LIMIT, Phase, SENT_HISTORY, SentPacket, Session};
use crate::packet::data::{DataHeaderRepr, PROTECTED_BITS, SAMPLE_LEN, pn};
use crate::packet::frame::{AckFrame, Frame, FrameIter, MAX_ACK_RANGES, ty};
use crate::packet::handshake::InitiationRepr;
use crate::packet::{ConnectionId, TAG_LEN, varint};
use crate::{CloseReason, Transmit};

/// How far back ACK frames describe received packets.
const ACK_DEPTH: u64 = 256;

/// Which path a packet goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Current,
    Previous,
    /// An address that is no path of ours (a probe from the peer); with a byte budget.
    Other(SocketAddr, u64),
}

impl Session {
    /// The next datagram this session wants to send, written into `buf`.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> Option<Transmit> {
        if self.dead.is_some() {
            return None;
        }
        let t = match &mut self.phase {
            Phase::Initiating {
                msg1,
                local_id,
                token,
                due,
                last_sent,
                ..
            } => {
                if !*due {
                    return None;
                }
                let repr = InitiationRepr {
                    sender_id: *local_id,
                    token: *token,
                    noise: &msg1[..],
                };
                let len = repr.emit(buf).ok()?;
                *due = false;
                *last_sent = Some(now);
                Some(Transmit {
                    destination: self.path.remote,
                    len,
                })
            }
            Phase::HalfOpen {
                response,
                response_len,
                due,
            } => {
                let len = *response_len;
                // Never more than 3x what the initiator's address sent (responses are smaller
                // than initiations, so this holds by construction; checked anyway).
                if !*due || buf.len() < len || self.path.budget() < len as u64 {
                    return None;
                }
                buf[..len].copy_from_slice(&response[..len]);
                *due = false;
                self.path.bytes_sent += len as u64;
                Some(Transmit {
                    destination: self.path.remote,
                    len,
                })
            }
            Phase::Established => self.poll_established(now, buf, ctx),
        };
        if t.is_some() {
            self.last_sent = now;
        }
        self.rearm_at(ctx.config, now);
        t
    }

    fn poll_established(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> Option<Transmit> {
        if self.next_pn >= PN_LIMIT {
            self.dead = Some(CloseReason::Exhausted);
            return None;
        }
        self.maybe_update_keys(now, ctx);
        if let Some(code) = self.close_pending.take() {
            let t = self.build(now, buf, Target::Current, ctx, |b, _| {
                let f = Frame::Close { code };
                f.emit(b).ok()
            });
            self.dead = Some(CloseReason::Local);
            return t;
        }
        // Probe the previous path (RFC 9000 §9.3.3).
        if let Some(p) = &self.prev
            && p.challenge_due
            && let Some(data) = p.challenge
            && let Some(t) = self.build(now, buf, Target::Previous, ctx, |b, _| {
                Frame::PathChallenge(data).emit(b).ok()
            })
        {
            if let Some(p) = &mut self.prev {
                p.challenge_due = false;
            }
            return Some(t);
        }
        // Answer challenges that came from addresses other than the current one, on the
        // path they came from (RFC 9000 §8.2.2).
        if let Some(i) = self.responses.iter().position(|r| r.0 != self.path.remote) {
            let (to, data, budget) = self.responses[i];
            let target = match &self.prev {
                Some(p) if p.remote == to => Target::Previous,
                _ => Target::Other(to, budget),
            };
            let t = self.build(now, buf, target, ctx, |b, _| {
                Frame::PathResponse(data).emit(b).ok()
            });
            self.responses.remove(i);
            if t.is_some() {
                return t;
            }
        }
        self.build_main(now, buf, ctx)
    }

    /// Update the send key when the packet count or the time says so and RFC 9001 §6.1
    /// allows it.
    fn maybe_update_keys(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let largest_acked = self.largest_acked;
        if let Some(k) = &mut self.keys
            && k.send_count >= ctx.config.rekey_after_packets
            && k.may_update(largest_acked)
        {
            k.update_send(now);
        }
    }

    /// The main packet on the current path: ACK, PATH_RESPONSE, PATH_CHALLENGE, identifiers,
    /// PING and datagrams, as much as fits.
    fn build_main(&mut self, now: Instant, buf: &mut [u8], ctx: &mut Ctx<'_>) -> Option<Transmit> {
        let ack_due = self.ack_deadline.is_some_and(|d| d <= now);
        let has_control = self.path.challenge_due
            || self.responses.iter().any(|r| r.0 == self.path.remote)
            || self.retiring.iter().any(|r| r.1 == Delivery::Pending)
            || self
                .local_ids
                .iter()
                .any(|l| l.delivery == Delivery::Pending)
            || self.ping_pending;
        if !ack_due && !has_control && self.send_q.is_empty() {
            return None;
        }
        self.build(now, buf, Target::Current, ctx, |b, s| {
            s.write_main_frames(b, now)
        })
    }

    fn write_main_frames(&mut self, b: &mut [u8], now: Instant) -> Option<usize> {
        let mut at = 0;
        let put = |f: Frame<'_>, b: &mut [u8], at: &mut usize| -> bool {
            match f.emit(&mut b[*at..]) {
                Ok(n) => {
                    *at += n;
                    true
                }
                Err(_) => false,
            }
        };
        if self.ack_pending
            && let Some(ack) = self.ack_frame(now)
            && put(Frame::Ack(ack), b, &mut at)
        {
            self.ack_pending = false;
            self.unacked_eliciting = 0;
            self.ack_deadline = None;
        }
        let here = self.path.remote;
        while let Some(i) = self.responses.iter().position(|r| r.0 == here) {
            if !put(Frame::PathResponse(self.responses[i].1), b, &mut at) {
                break;
            }
            self.responses.remove(i);
        }
        if self.path.challenge_due
            && let Some(data) = self.path.challenge
            && put(Frame::PathChallenge(data), b, &mut at)
        {
            self.path.challenge_due = false;
        }
        // Identifier frames, until acknowledged (see `loss`): this packet will be number `pn`.
        let pn = self.next_pn;
        for r in self
            .retiring
            .iter_mut()
            .filter(|r| r.1 == Delivery::Pending)
        {
            if !put(Frame::RetireId { seq: r.0 }, b, &mut at) {
                break;
            }
            r.1 = Delivery::InFlight(pn);
        }
        for l in self
            .local_ids
            .iter_mut()
            .filter(|l| l.delivery == Delivery::Pending)
        {
            if !put(
                Frame::NewId {
                    seq: l.seq,
                    id: l.id,
                },
                b,
                &mut at,
            ) {
                break;
            }
            l.delivery = Delivery::InFlight(pn);
        }
        if self.ping_pending && put(Frame::Ping, b, &mut at) {
            self.ping_pending = false;
        }
        // Datagrams: with a length while more may follow, the last one to the end.
        while let Some(len) = self.send_q.front_len() {
            let room = b.len() - at;
            if 1 + len > room {
                break;
            }
            let framed = 1 + varint::len(len as u64) + len;
            if self.send_q.len() > 1 && framed < room {
                b[at] = ty::DATAGRAM;
                let n = varint::write(len as u64, &mut b[at + 1..]).ok()?;
                self.send_q.pop(&mut b[at + 1 + n..at + 1 + n + len]);
                at += framed;
            } else {
                b[at] = ty::DATAGRAM_LAST;
                self.send_q.pop(&mut b[at + 1..at + 1 + len]);
                at += 1 + len;
                break;
            }
        }
        Some(at)
    }

    /// An ACK frame for what the replay window holds.
    fn ack_frame(&self, now: Instant) -> Option<AckFrame> {
        let mut intervals = self.replay.intervals(ACK_DEPTH);
        let (lo, hi) = intervals.next()?;
        let delay = (now.max(self.largest_recv_time) - self.largest_recv_time).total_micros();
        let mut ack = AckFrame::new(hi, delay, hi - lo);
        let mut prev_lo = lo;
        for (lo, hi) in intervals.take(MAX_ACK_RANGES) {
            ack.push_range(prev_lo - hi - 2, hi - lo);
            prev_lo = lo;
        }
        Some(ack)
    }

    /// Protect and emit one packet to `target`, with frames written by `frames` into the
    /// payload area (which it may fill up to the slice's end). `None` if nothing was written
    /// or the path's anti-amplification budget does not allow it.
    fn build(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        target: Target,
        ctx: &mut Ctx<'_>,
        frames: impl FnOnce(&mut [u8], &mut Session) -> Option<usize>,
    ) -> Option<Transmit> {
        let (destination, peer_seq, budget) = match target {
            Target::Current => (self.path.remote, self.path.peer_seq, self.path.budget()),
            Target::Previous => {
                let p = self.prev.as_ref()?;
                (p.remote, p.peer_seq, p.budget())
            }
            Target::Other(to, budget) => (to, self.path.peer_seq, budget),
        };
        let dst_id: ConnectionId = self.peer_id(peer_seq)?;
        let limit = buf
            .len()
            .min(ctx.config.max_udp_payload)
            .min(usize::try_from(budget).unwrap_or(usize::MAX));
        let pn = self.next_pn;
        let pn_len = pn::encode_len(pn, self.largest_acked);
        let keys = self.keys.as_ref()?;
        let header = DataHeaderRepr {
            dst_id,
            key_phase: keys.send_phase(),
            pn_len,
            truncated_pn: pn::truncate(pn, pn_len),
        };
        let header_len = header.buffer_len();
        // Room for the header, at least the sample's worth of ciphertext, and the tag.
        let min_payload = (4 + SAMPLE_LEN).saturating_sub(pn_len + TAG_LEN);
        if limit < header_len + min_payload.max(1) + TAG_LEN {
            return None;
        }
        header.emit(buf).ok()?;
        let payload_end = limit - TAG_LEN;
        let mut n = frames(&mut buf[header_len..payload_end], self)?;
        if n == 0 {
            return None;
        }
        let (eliciting, reliable) = frame_kinds(&buf[header_len..header_len + n]);
        if n < min_payload {
            buf[header_len + n..header_len + min_payload].fill(0); // PADDING
            n = min_payload;
        }
        let end = header_len + n;
        let keys = self.keys.as_mut()?;
        let (hdr, rest) = buf.split_at_mut(header_len);
        let tag = keys.seal(pn, hdr, &mut rest[..n]);
        buf[end..end + TAG_LEN].copy_from_slice(&tag);
        // Header protection (RFC 9001 §5.4.1): sample 4 bytes after the packet number starts.
        let pn_offset = 1 + dst_id.len();
        let mut sample = [0u8; SAMPLE_LEN];
        sample.copy_from_slice(&buf[pn_offset + 4..pn_offset + 4 + SAMPLE_LEN]);
        let mask = keys.send_hp.mask(&sample);
        buf[0] ^= mask[0] & PROTECTED_BITS;
        for i in 0..pn_len {
            buf[pn_offset + i] ^= mask[1 + i];
        }
        let size = end + TAG_LEN;
        self.next_pn += 1;
        self.counters.packets_sent += 1;
        match target {
            Target::Current => self.path.bytes_sent += size as u64,
            Target::Previous => {
                if let Some(p) = &mut self.prev {
                    p.bytes_sent += size as u64;
                }
            }
            Target::Other(..) => {}
        }
        if eliciting && target == Target::Current {
            if self.sent.len() == SENT_HISTORY
                && let Some(old) = self.sent.pop_front()
            {
                // Forgotten: counted lost, not a congestion event; its frames go again.
                self.packet_lost(old, now, false);
            }
            self.sent.push_back(SentPacket {
                pn,
                time: now,
                size,
                generation: self.path.state.generation,
                reliable,
            });
            self.path.state.congestion.on_sent(size);
        }
        self.last_sent = now;
        Some(Transmit {
            destination,
            len: size,
        })
    }
}

/// Whether plaintext frames `plain` elicit an acknowledgment, and whether they include frames
/// that must arrive (NEW_ID, RETIRE_ID).
fn frame_kinds(plain: &[u8]) -> (bool, bool) {
    let mut eliciting = false;
    let mut reliable = false;
    for f in FrameIter::new(plain).flatten() {
        eliciting |= f.is_ack_eliciting();
        reliable |= matches!(f, Frame::NewId { .. } | Frame::RetireId { .. });
    }
    (eliciting, reliable)
}
