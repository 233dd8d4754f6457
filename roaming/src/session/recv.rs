//! Receiving data packets: header protection, replay window, AEAD, frames, address rules.

use std::net::SocketAddr;

use smoltcp::time::Instant;

use super::{Ctx, INTEGRITY_LIMIT, Phase, Session};
use crate::packet::data::{DataPacket, PROTECTED_BITS, pn};
use crate::packet::frame::{Frame, FrameIter};
use crate::packet::{ConnectionId, TAG_LEN};
use crate::{CloseReason, DropReason, Event};

impl Session {
    /// A data packet for one of our identifiers. `buf` is a scratch copy the session may
    /// modify (header protection and decryption work in place).
    pub(crate) fn handle_data(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), DropReason> {
        let Some(keys) = self.keys.as_mut() else {
            return Err(DropReason::Unexpected);
        };
        let id_len = ctx.config.id_len;
        let len = buf.len();
        let packet = DataPacket::new_checked(&*buf, id_len).map_err(|_| DropReason::Truncated)?;
        let pn_offset = packet.pn_offset();
        // Remove header protection (RFC 9001 §5.4.1).
        let mask = keys.recv_hp.mask(&packet.sample());
        buf[0] ^= mask[0] & PROTECTED_BITS;
        let pn_len = usize::from(buf[0] & 0x03) + 1;
        for i in 0..pn_len {
            buf[pn_offset + i] ^= mask[1 + i];
        }
        let packet = DataPacket::new_unchecked(&*buf, id_len);
        let full_pn = pn::decode(self.replay.largest(), packet.truncated_pn(), pn_len);
        let phase = packet.key_phase();
        let reserved_ok = buf[0] & 0x18 == 0;
        self.replay.check(full_pn).map_err(|_| DropReason::Replay)?;
        let header_len = pn_offset + pn_len;
        let (header, rest) = buf.split_at_mut(header_len);
        let (payload, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| DropReason::Truncated)?;
        if keys
            .open(full_pn, phase, header, payload, tag, now)
            .is_err()
        {
            self.counters.auth_failures += 1;
            if self.counters.auth_failures >= INTEGRITY_LIMIT {
                self.dead = Some(CloseReason::Exhausted);
            }
            return Err(DropReason::AuthFailed);
        }
        // Authenticated from here on.
        if !reserved_ok {
            // "An endpoint MUST treat receipt of a packet that has a non-zero value for these
            // bits, after removing both packet and header protection, as a connection error
            // of type PROTOCOL_VIOLATION" (RFC 9000 §17.3.1).
            self.dead = Some(CloseReason::ProtocolViolation);
            return Err(DropReason::Malformed);
        }
        let is_largest = self.replay.largest().is_none_or(|l| full_pn > l);
        self.replay.insert(full_pn);
        if is_largest {
            self.largest_recv_time = now;
        }

        // First pass: are the frames well formed, ack-eliciting, probing only?
        let mut eliciting = false;
        let mut probing_only = true;
        for f in FrameIter::new(payload) {
            match f {
                Ok(f) => {
                    eliciting |= f.is_ack_eliciting();
                    probing_only &= f.is_probing();
                }
                Err(_) => {
                    self.dead = Some(CloseReason::ProtocolViolation);
                    return Err(DropReason::Malformed);
                }
            }
        }
        self.counters.packets_received += 1;
        self.last_recv = now;

        if let Phase::HalfOpen { .. } = self.phase {
            // The first authenticated packet confirms the keys: the initiator received
            // message 2 at the address it was sent to.
            self.phase = Phase::Established;
            self.path.validated = true;
            self.issue_ids(ctx);
            self.announced = true;
            ctx.events.push_back((
                self.handle,
                Event::Connected {
                    peer_static: self.peer_static,
                },
            ));
        }

        // Address rules.
        if from == self.path.remote {
            self.path.bytes_recv += len as u64;
        } else if !probing_only && is_largest {
            self.migrate(now, from, ctx);
            self.path.bytes_recv += len as u64;
        } else if let Some(p) = self.prev.as_mut().filter(|p| p.remote == from) {
            p.bytes_recv += len as u64;
        }

        // Second pass: act.
        let mut queue_full = false;
        for f in FrameIter::new(payload).flatten() {
            match f {
                Frame::Padding(_) | Frame::Ping => {}
                Frame::Ack(ack) => self.on_ack(&ack, now, ctx),
                Frame::PathChallenge(data) => {
                    // "An endpoint MUST NOT send more than one PATH_RESPONSE frame in response
                    // to one PATH_CHALLENGE frame" (RFC 9000 §8.2.2); keep the newest few.
                    if self.responses.len() == super::MAX_RESPONSES {
                        self.responses.pop_front();
                    }
                    self.responses.push_back((from, data, 3 * len as u64));
                }
                Frame::PathResponse(data) => self.on_path_response(from, data, ctx),
                Frame::NewId { seq, id } => self.on_new_id(seq, id, ctx),
                Frame::RetireId { seq } => self.on_retire_id(seq, ctx),
                Frame::Close { code } => {
                    self.dead = Some(CloseReason::Peer(code));
                    return Ok(());
                }
                Frame::Datagram(d) | Frame::DatagramLast(d) => {
                    let was_empty = self.recv_q.is_empty();
                    if !self.recv_q.push(d) {
                        // The rest of the packet still counts; the drop is reported below.
                        queue_full = true;
                        continue;
                    }
                    if was_empty {
                        ctx.events
                            .push_back((self.handle, Event::DatagramsReadable));
                    }
                }
            }
        }

        // Acknowledge within max_ack_delay ("An endpoint MUST acknowledge all ack-eliciting
        // ... packets within its advertised max_ack_delay", RFC 9000 §13.2.1), riding on
        // whatever packet goes out first; at once after `ack_eliciting_threshold` of them
        // (RFC 9000 §13.2.2 suggests 2: see `Config::ack_eliciting_threshold`).
        self.ack_pending = true;
        if eliciting {
            self.unacked_eliciting += 1;
            let deadline = if self.unacked_eliciting >= ctx.config.ack_eliciting_threshold {
                now
            } else {
                now + ctx.config.max_ack_delay
            };
            self.ack_deadline = Some(self.ack_deadline.map_or(deadline, |d| d.min(deadline)));
        }
        self.rearm_at(ctx.config, now);
        if queue_full {
            Err(DropReason::ReceiveQueueFull)
        } else {
            Ok(())
        }
    }

    fn on_path_response(&mut self, from: SocketAddr, data: [u8; 8], ctx: &mut Ctx<'_>) {
        // Stricter than RFC 9000 §8.2.3 (which accepts a response on any path): a response
        // validates an address only when it comes from that address, so an attacker cannot
        // relay a challenge to the real peer to validate an address of its own.
        if self.path.challenge == Some(data) && from == self.path.remote {
            self.path.challenge = None;
            self.path.challenge_due = false;
            self.path.deadline = None;
            self.path.resend = None;
            if !self.path.validated {
                self.path.validated = true;
                self.counters.validations += 1;
                ctx.events
                    .push_back((self.handle, Event::PathValidated { remote: from }));
                // The new path is good: the old one is no longer needed.
                if let Some(prev) = self.prev.take() {
                    self.retire_peer_id(prev.peer_seq);
                }
            }
        } else if let Some(p) = self
            .prev
            .as_mut()
            .filter(|p| p.challenge == Some(data) && p.remote == from)
        {
            p.challenge = None;
            p.challenge_due = false;
            p.deadline = None;
            p.resend = None;
            p.validated = true;
        }
    }

    fn on_new_id(&mut self, seq: u64, id: ConnectionId, ctx: &mut Ctx<'_>) {
        // A repeat (NEW_ID is sent again until acknowledged), perhaps of an identifier
        // already retired: never take it back.
        if self.peer_seqs.check(seq).is_err() {
            return;
        }
        // Bounded: beyond twice the limit, further identifiers are ignored.
        if self.peer_ids.len() < 2 * ctx.config.active_id_limit {
            self.peer_ids.push(super::PeerId {
                seq,
                id,
                used: false,
            });
            self.peer_seqs.insert(seq);
        }
    }

    fn on_retire_id(&mut self, seq: u64, ctx: &mut Ctx<'_>) {
        if let Some(i) = self.local_ids.iter().position(|l| l.seq == seq) {
            let l = self.local_ids.swap_remove(i);
            ctx.ids.remove(&l.id);
            self.issue_ids(ctx);
        }
    }
}
