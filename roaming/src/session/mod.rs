//! One session: handshake, packet protection, identifiers, paths and timers.
//!
//! The address rules follow RFC 9000 §9 and are symmetric: either side may move.
//! - The peer's address is a cache. It changes only when an authenticated, non-probing packet
//!   with the highest packet number so far arrives from elsewhere (§9.3: "an endpoint only
//!   changes the address to which it sends packets in response to the highest-numbered
//!   non-probing packet").
//! - Sending switches at once; the new address gets a PATH_CHALLENGE of 8 unpredictable
//!   bytes inside encrypted packets, and until it answers from that address at most three
//!   times the bytes received from it are sent there (§8: "an endpoint MUST limit the amount
//!   of data it sends to the unvalidated address to three times the amount of data received
//!   from that address").
//! - The old path is challenged too (§9.3.3), and kept: if the new address has not answered
//!   within 3 PTO (§8.2.4), the session reverts to it (§9.3.2: "an endpoint MUST revert to
//!   using the last validated peer address when validation of a new peer address fails").
//! - Each path uses its own identifiers in both directions (§9.5), so an observer cannot link
//!   the old path to the new one; with header protection hiding the packet number, nothing
//!   in clear is shared between them.
//! - A port-only change keeps the RTT and congestion record; any other resets it (§9.4).

mod loss;
mod recv;
mod send;

use std::collections::VecDeque;
use std::net::SocketAddr;

use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};

use crate::config::Config;
use crate::crypto::{KeySchedule, PROLOGUE_LABEL, StaticKeypair, noise_builder};
use crate::endpoint::IdMap;
use crate::packet::handshake::{
    InitiationPacket, InitiationRepr, NOISE_MSG1_LEN, NOISE_MSG2_MAX_LEN, ResponseRepr,
};
use crate::packet::{ConnectionId, MAX_ID_LEN, TOKEN_LEN};
use crate::path::PathState;
use crate::queue::DatagramQueue;
use crate::replay::ReplayWindow;
use crate::{CloseReason, DropReason, Event, SessionHandle, SessionStats};

/// Most sent packets remembered for acknowledgment; older ones are forgotten (counted lost).
const SENT_HISTORY: usize = 256;
/// Most PATH_RESPONSEs waiting to be sent.
const MAX_RESPONSES: usize = 4;
/// Most cookie replies one handshake follows.
const MAX_COOKIES: u8 = 4;
/// Close a session after this many failed authentications under its keys (RFC 9001 §6.6
/// integrity limit for ChaCha20-Poly1305: 2^36).
const INTEGRITY_LIMIT: u64 = 1 << 36;
/// Packet numbers stop below 2^62 (RFC 9000 §12.3).
const PN_LIMIT: u64 = 1 << 62;

/// What the endpoint lends a session while it works.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) rng: &'a mut rand_chacha::ChaCha20Rng,
    pub(crate) ids: &'a mut IdMap,
    pub(crate) events: &'a mut VecDeque<(SessionHandle, Event)>,
}

impl Ctx<'_> {
    /// A fresh identifier of ours, registered for `handle`.
    fn new_local_id(&mut self, handle: SessionHandle) -> ConnectionId {
        loop {
            let mut b = [0u8; MAX_ID_LEN];
            self.rng.fill_bytes(&mut b[..self.config.id_len]);
            if let Ok(id) = ConnectionId::new(&b[..self.config.id_len])
                && !self.ids.contains_key(&id)
            {
                self.ids.insert(id, handle);
                return id;
            }
        }
    }

    fn random8(&mut self) -> [u8; 8] {
        let mut b = [0; 8];
        self.rng.fill_bytes(&mut b);
        b
    }

    fn seed(&mut self) -> [u8; 32] {
        let mut b = [0; 32];
        self.rng.fill_bytes(&mut b);
        b
    }
}

/// Timers, indexing [`Session::timers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Give up the handshake (initiator) or forget the half-open state (responder).
    HandshakeExpiry,
    /// Resend the initiation.
    HandshakeRetry,
    /// Close: nothing authenticated for the idle timeout.
    Idle,
    /// Send a PING: nothing sent for the keepalive interval.
    Keepalive,
    /// Send a delayed acknowledgment.
    Ack,
    /// The current path's validation failed: revert.
    PathValidation,
    /// Resend the current path's challenge.
    PathChallenge,
    /// Stop probing the previous path / resend its challenge.
    PrevPath,
    /// Update the send key after `rekey_after_time`.
    KeyUpdate,
    /// Loss detection (RFC 9002 §6): declare packets lost by the time threshold, or probe
    /// when nothing was acknowledged for a PTO.
    LossDetection,
}

const TIMER_COUNT: usize = 10;

/// Where the handshake stands.
pub(crate) enum Phase {
    /// Initiator: message 1 sent, waiting for message 2.
    Initiating {
        hs: Box<snow::HandshakeState>,
        msg1: [u8; NOISE_MSG1_LEN],
        local_id: ConnectionId,
        token: Option<[u8; TOKEN_LEN]>,
        cookies: u8,
        due: bool,
        last_sent: Option<Instant>,
    },
    /// Responder: message 2 sent; waiting for the first data packet, which confirms the keys.
    HalfOpen {
        response: [u8; 2 + MAX_ID_LEN + NOISE_MSG2_MAX_LEN],
        response_len: usize,
        due: bool,
    },
    /// Keys confirmed.
    Established,
}

/// One path: a peer address, its validation and the identifier we send to it under.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    pub(crate) remote: SocketAddr,
    pub(crate) validated: bool,
    /// Outstanding challenge data.
    pub(crate) challenge: Option<[u8; 8]>,
    /// Put the challenge in the next packet to this path.
    pub(crate) challenge_due: bool,
    /// When validation is abandoned.
    pub(crate) deadline: Option<Instant>,
    /// When the challenge is sent again.
    pub(crate) resend: Option<Instant>,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_recv: u64,
    pub(crate) state: PathState,
    /// Sequence number of the peer's identifier used as destination on this path.
    pub(crate) peer_seq: u64,
}

impl Path {
    fn new(remote: SocketAddr, state: PathState, peer_seq: u64) -> Path {
        Path {
            remote,
            validated: false,
            challenge: None,
            challenge_due: false,
            deadline: None,
            resend: None,
            bytes_sent: 0,
            bytes_recv: 0,
            state,
            peer_seq,
        }
    }

    /// Bytes that may still be sent here: unlimited once validated, else 3x received.
    pub(crate) fn budget(&self) -> u64 {
        if self.validated {
            u64::MAX
        } else {
            (3 * self.bytes_recv).saturating_sub(self.bytes_sent)
        }
    }

    fn start_challenge(&mut self, data: [u8; 8], now: Instant, max_ack_delay: Duration) {
        let pto = self.state.rtt.pto(max_ack_delay);
        self.challenge = Some(data);
        self.challenge_due = true;
        self.deadline = Some(now + pto * 3);
        self.resend = Some(now + pto);
    }
}

/// An identifier the peer issued to us.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerId {
    seq: u64,
    id: ConnectionId,
    /// Already used on some path (never reused on another).
    used: bool,
}

/// Where a frame that must arrive (NEW_ID, RETIRE_ID) stands. "All other frames MUST be
/// retransmitted in a new packet ... New connection IDs are sent in NEW_CONNECTION_ID frames
/// and retransmitted if the packet containing them is lost ... Likewise, retired connection
/// IDs are sent in RETIRE_CONNECTION_ID frames and retransmitted if the packet containing
/// them is lost" (RFC 9000 §13.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// To be sent (again) in the next packet.
    Pending,
    /// Last sent in the packet with this number, not yet acknowledged.
    InFlight(u64),
    /// A packet carrying it was acknowledged.
    Acked,
}

/// An identifier we issued to the peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalId {
    seq: u64,
    id: ConnectionId,
    /// Its NEW_ID frame.
    delivery: Delivery,
}

/// A sent ack-eliciting packet, until acknowledged or declared lost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SentPacket {
    pn: u64,
    time: Instant,
    size: usize,
    generation: u32,
    /// It carried NEW_ID or RETIRE_ID frames.
    reliable: bool,
}

/// Counters reported in [`SessionStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    path_resets: u64,
    migrations: u64,
    local_moves: u64,
    validations: u64,
    reverts: u64,
    packets_sent: u64,
    packets_received: u64,
    auth_failures: u64,
    id_reuses: u64,
    packets_lost: u64,
    probe_timeouts: u64,
    frames_repeated: u64,
}

/// A session.
pub(crate) struct Session {
    pub(crate) handle: SessionHandle,
    pub(crate) phase: Phase,
    peer_static: [u8; 32],
    keys: Option<KeySchedule>,
    local_ids: Vec<LocalId>,
    next_local_seq: u64,
    peer_ids: Vec<PeerId>,
    /// Sequence numbers of the peer's identifiers already received (repeats of a NEW_ID,
    /// even after the identifier was retired, are known by it).
    peer_seqs: ReplayWindow,
    /// RETIRE_ID frames until acknowledged: (sequence number, delivery).
    retiring: VecDeque<(u64, Delivery)>,
    /// Most entries of `retiring`.
    retire_limit: usize,
    pub(crate) path: Path,
    prev: Option<Path>,
    next_generation: u32,
    next_pn: u64,
    replay: ReplayWindow,
    largest_recv_time: Instant,
    largest_acked: Option<u64>,
    sent: VecDeque<SentPacket>,
    /// When the earliest packet not yet lost passes the time threshold (RFC 9002 §6.1.2).
    loss_time: Option<Instant>,
    /// Probe timeouts in a row without an acknowledgment (RFC 9002 §6.2.1 backoff).
    pto_count: u32,
    /// Ack-eliciting packets received since our last ACK.
    unacked_eliciting: u32,
    /// Any packet received since our last ACK.
    ack_pending: bool,
    ack_deadline: Option<Instant>,
    /// PATH_RESPONSEs to send: (to, data, byte budget when `to` is not a known path).
    responses: VecDeque<(SocketAddr, [u8; 8], u64)>,
    ping_pending: bool,
    close_pending: Option<u64>,
    send_q: DatagramQueue,
    recv_q: DatagramQueue,
    started: Instant,
    last_recv: Instant,
    last_sent: Instant,
    timers: [Option<Instant>; TIMER_COUNT],
    counters: Counters,
    /// Set when the session is over; the endpoint removes it (after a pending CLOSE is sent).
    pub(crate) dead: Option<CloseReason>,
    /// The user has been told about this session (a `Connected` event, or it called connect).
    pub(crate) announced: bool,
    /// When to try a time-triggered key update again after it was not yet allowed.
    key_update_retry: Option<Instant>,
    /// Responder: the initiator's ephemeral key, by which repeats of the initiation are known.
    pub(crate) initiation: Option<[u8; 32]>,
}

impl Session {
    fn blank(
        handle: SessionHandle,
        now: Instant,
        path: Path,
        phase: Phase,
        config: &Config,
    ) -> Session {
        Session {
            handle,
            phase,
            peer_static: [0; 32],
            keys: None,
            local_ids: Vec::with_capacity(config.active_id_limit),
            next_local_seq: 1,
            peer_ids: Vec::with_capacity(config.active_id_limit),
            peer_seqs: ReplayWindow::default(),
            retiring: VecDeque::with_capacity(config.active_id_limit * 2),
            retire_limit: config.active_id_limit * 2,
            path,
            prev: None,
            next_generation: 1,
            next_pn: 0,
            replay: ReplayWindow::default(),
            largest_recv_time: now,
            largest_acked: None,
            // Grows with the packets in flight, up to SENT_HISTORY; an idle session holds none.
            sent: VecDeque::new(),
            loss_time: None,
            pto_count: 0,
            unacked_eliciting: 0,
            ack_pending: false,
            ack_deadline: None,
            responses: VecDeque::with_capacity(MAX_RESPONSES),
            ping_pending: false,
            close_pending: None,
            send_q: DatagramQueue::new(config.datagram_queue_bytes),
            recv_q: DatagramQueue::new(config.datagram_queue_bytes),
            started: now,
            last_recv: now,
            last_sent: now,
            timers: [None; TIMER_COUNT],
            counters: Counters::default(),
            dead: None,
            announced: false,
            initiation: None,
            key_update_retry: None,
        }
    }

    /// Start a handshake to `remote`, whose static key is `server_static`.
    pub(crate) fn connect(
        handle: SessionHandle,
        now: Instant,
        remote: SocketAddr,
        server_static: [u8; 32],
        keypair: &StaticKeypair,
        ctx: &mut Ctx<'_>,
    ) -> Option<Session> {
        let local_id = ctx.new_local_id(handle);
        let mut prologue = [0u8; 64];
        let n = prologue_for(&mut prologue, &local_id);
        let hs = noise_builder(ctx.seed())
            .local_private_key(keypair.private())
            .and_then(|b| b.remote_public_key(&server_static))
            .and_then(|b| b.prologue(&prologue[..n]))
            .and_then(|b| b.build_initiator());
        let Ok(mut hs) = hs else {
            ctx.ids.remove(&local_id);
            return None;
        };
        let mut msg1 = [0u8; NOISE_MSG1_LEN];
        if hs.write_message(&[], &mut msg1) != Ok(NOISE_MSG1_LEN) {
            ctx.ids.remove(&local_id);
            return None;
        }
        let state = PathState::new(ctx.config.initial_rtt, ctx.config.max_udp_payload, 0);
        let mut path = Path::new(remote, state, 0);
        path.validated = true; // we chose to send there; the peer's answers come from it
        let phase = Phase::Initiating {
            hs: Box::new(hs),
            msg1,
            local_id,
            token: None,
            cookies: 0,
            due: true,
            last_sent: None,
        };
        let mut s = Session::blank(handle, now, path, phase, ctx.config);
        s.peer_static = server_static;
        s.local_ids.push(LocalId {
            seq: 0,
            id: local_id,
            delivery: Delivery::Acked, // the handshake carried it
        });
        s.announced = true;
        s.rearm(ctx.config);
        Some(s)
    }

    /// Answer an initiation (the endpoint has already decided it may): Noise message 1 is
    /// read, message 2 written, the transport keys derived.
    pub(crate) fn accept(
        handle: SessionHandle,
        now: Instant,
        from: SocketAddr,
        packet: &InitiationPacket<&[u8]>,
        keypair: &StaticKeypair,
        ctx: &mut Ctx<'_>,
    ) -> Result<Session, DropReason> {
        let repr = InitiationRepr::parse(packet).map_err(|_| DropReason::Malformed)?;
        let mut prologue = [0u8; 64];
        let n = prologue_for(&mut prologue, &repr.sender_id);
        let mut hs = noise_builder(ctx.seed())
            .local_private_key(keypair.private())
            .and_then(|b| b.prologue(&prologue[..n]))
            .and_then(|b| b.build_responder())
            .map_err(|_| DropReason::AuthFailed)?;
        let mut payload = [0u8; NOISE_MSG1_LEN];
        hs.read_message(repr.noise, &mut payload)
            .map_err(|_| DropReason::AuthFailed)?;
        let peer_static: [u8; 32] = hs
            .get_remote_static()
            .and_then(|k| k.try_into().ok())
            .ok_or(DropReason::AuthFailed)?;
        if let Some(allowed) = &ctx.config.allowed_peers
            && !allowed.contains(&peer_static)
        {
            return Err(DropReason::NotAccepted);
        }
        let local_id = ctx.new_local_id(handle);
        let mut body = [0u8; 1 + MAX_ID_LEN];
        body[0] = local_id.len() as u8;
        body[1..1 + local_id.len()].copy_from_slice(local_id.as_bytes());
        let mut msg2 = [0u8; NOISE_MSG2_MAX_LEN];
        let Ok(m) = hs.write_message(&body[..1 + local_id.len()], &mut msg2) else {
            ctx.ids.remove(&local_id);
            return Err(DropReason::AuthFailed);
        };
        let mut response = [0u8; 2 + MAX_ID_LEN + NOISE_MSG2_MAX_LEN];
        let Ok(response_len) = (ResponseRepr {
            receiver_id: repr.sender_id,
            noise: &msg2[..m],
        })
        .emit(&mut response) else {
            ctx.ids.remove(&local_id);
            return Err(DropReason::Malformed);
        };
        let (k_initiator, k_responder) = hs.dangerously_get_raw_split();

        let state = PathState::new(ctx.config.initial_rtt, ctx.config.max_udp_payload, 0);
        let mut path = Path::new(from, state, 0);
        path.bytes_recv = packet.bound_prefix().len() as u64 + 1 + repr.noise.len() as u64;
        let phase = Phase::HalfOpen {
            response,
            response_len,
            due: true,
        };
        let mut s = Session::blank(handle, now, path, phase, ctx.config);
        s.peer_static = peer_static;
        s.keys = Some(KeySchedule::new(k_responder, k_initiator, now));
        s.local_ids.push(LocalId {
            seq: 0,
            id: local_id,
            delivery: Delivery::Acked, // the handshake carried it
        });
        s.peer_ids.push(PeerId {
            seq: 0,
            id: repr.sender_id,
            used: true,
        });
        s.peer_seqs.insert(0);
        s.rearm(ctx.config);
        Ok(s)
    }

    pub(crate) fn is_half_open(&self) -> bool {
        matches!(self.phase, Phase::HalfOpen { .. })
    }

    pub(crate) fn is_initiating(&self) -> bool {
        matches!(self.phase, Phase::Initiating { .. })
    }

    /// A duplicate of the initiation that created this half-open session arrived from `from`:
    /// send the response again if it came from the same address.
    pub(crate) fn repeat_response(&mut self, from: SocketAddr, len: usize) -> bool {
        match &mut self.phase {
            Phase::HalfOpen { due, .. } if from == self.path.remote => {
                *due = true;
                self.path.bytes_recv += len as u64;
                true
            }
            _ => false,
        }
    }

    /// Message 2 arrived.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &ResponseRepr<'_>,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), DropReason> {
        let Phase::Initiating { hs, .. } = &mut self.phase else {
            return Err(DropReason::Unexpected);
        };
        if from != self.path.remote {
            return Err(DropReason::Unexpected);
        }
        let mut payload = [0u8; NOISE_MSG2_MAX_LEN];
        let n = hs
            .read_message(repr.noise, &mut payload)
            .map_err(|_| DropReason::AuthFailed)?;
        let peer_id = match payload[..n].split_first() {
            Some((&l, rest)) if usize::from(l) == rest.len() => {
                ConnectionId::new(rest).map_err(|_| DropReason::Malformed)?
            }
            _ => return Err(DropReason::Malformed),
        };
        let (k_initiator, k_responder) = hs.dangerously_get_raw_split();
        self.keys = Some(KeySchedule::new(k_initiator, k_responder, now));
        self.peer_ids.push(PeerId {
            seq: 0,
            id: peer_id,
            used: true,
        });
        self.peer_seqs.insert(0);
        self.phase = Phase::Established;
        self.path.validated = true;
        self.last_recv = now;
        self.ping_pending = true; // confirms the keys to the responder at once
        self.issue_ids(ctx);
        ctx.events.push_back((
            self.handle,
            Event::Connected {
                peer_static: self.peer_static,
            },
        ));
        self.rearm(ctx.config);
        Ok(())
    }

    /// A cookie reply arrived: repeat the initiation with the token.
    pub(crate) fn handle_cookie(
        &mut self,
        from: SocketAddr,
        token: [u8; TOKEN_LEN],
    ) -> Result<(), DropReason> {
        match &mut self.phase {
            Phase::Initiating {
                token: t,
                cookies,
                due,
                ..
            } if from == self.path.remote && *cookies < MAX_COOKIES => {
                *t = Some(token);
                *cookies += 1;
                *due = true;
                Ok(())
            }
            _ => Err(DropReason::Unexpected),
        }
    }

    /// Issue identifiers until the peer holds `active_id_limit` of ours.
    fn issue_ids(&mut self, ctx: &mut Ctx<'_>) {
        while self.local_ids.len() < ctx.config.active_id_limit {
            let id = ctx.new_local_id(self.handle);
            self.local_ids.push(LocalId {
                seq: self.next_local_seq,
                id,
                delivery: Delivery::Pending,
            });
            self.next_local_seq += 1;
        }
    }

    /// Identifiers of ours that route to this session (for the endpoint to unregister).
    pub(crate) fn local_ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.local_ids
            .iter()
            .map(|l| l.id)
            .chain(match &self.phase {
                Phase::Initiating { local_id, .. } => Some(*local_id),
                _ => None,
            })
    }

    /// A peer identifier never used on any path, marked used.
    fn fresh_peer_id(&mut self) -> Option<u64> {
        let p = self.peer_ids.iter_mut().find(|p| !p.used)?;
        p.used = true;
        Some(p.seq)
    }

    fn peer_id(&self, seq: u64) -> Option<ConnectionId> {
        self.peer_ids.iter().find(|p| p.seq == seq).map(|p| p.id)
    }

    /// Stop using the peer's identifier `seq` (unless a path still uses it) and tell the peer.
    fn retire_peer_id(&mut self, seq: u64) {
        if self.path.peer_seq == seq || self.prev.as_ref().is_some_and(|p| p.peer_seq == seq) {
            return;
        }
        if let Some(i) = self.peer_ids.iter().position(|p| p.seq == seq) {
            self.peer_ids.swap_remove(i);
            // Bounded: the peer issues a replacement only for what we retire, so at most
            // twice the identifier limit can be waiting for acknowledgment.
            if self.retiring.len() < self.retire_limit {
                self.retiring.push_back((seq, Delivery::Pending));
            }
        }
    }

    fn new_path_state(&mut self, config: &Config) -> PathState {
        let g = self.next_generation;
        self.next_generation += 1;
        self.counters.path_resets += 1;
        PathState::new(config.initial_rtt, config.max_udp_payload, g)
    }

    /// This endpoint's own address changed: use a fresh identifier toward the peer (so the
    /// new path cannot be linked to the old), start a fresh path record and tell the peer at
    /// once with a PING; the peer then validates the new address.
    pub(crate) fn local_address_changed(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if !matches!(self.phase, Phase::Established) {
            return;
        }
        let old_seq = self.path.peer_seq;
        match self.fresh_peer_id() {
            Some(seq) => self.path.peer_seq = seq,
            None => self.counters.id_reuses += 1,
        }
        if let Some(prev) = self.prev.take() {
            self.retire_peer_id(prev.peer_seq);
        }
        self.retire_peer_id(old_seq);
        self.path.state = self.new_path_state(ctx.config);
        self.counters.local_moves += 1;
        self.ping_pending = true;
        self.rearm_at(ctx.config, now);
    }

    /// The peer's authenticated, non-probing, highest-numbered packet came from `from`.
    fn migrate(&mut self, now: Instant, from: SocketAddr, ctx: &mut Ctx<'_>) {
        let old_remote = self.path.remote;
        self.counters.migrations += 1;
        if self
            .prev
            .as_ref()
            .is_some_and(|p| p.remote == from && p.validated)
        {
            // Back to the last validated address: no new validation needed.
            let Some(prev) = self.prev.take() else { return };
            let abandoned = core::mem::replace(&mut self.path, prev);
            self.path.challenge = None;
            self.path.challenge_due = false;
            self.path.deadline = None;
            self.path.resend = None;
            self.retire_peer_id(abandoned.peer_seq);
            ctx.events.push_back((
                self.handle,
                Event::PeerAddressChanged {
                    from: old_remote,
                    to: from,
                },
            ));
            return;
        }
        // "an endpoint MUST NOT reuse a connection ID when sending to more than one
        // destination address" (RFC 9000 §9.5).
        let peer_seq = self.fresh_peer_id().unwrap_or_else(|| {
            self.counters.id_reuses += 1;
            self.path.peer_seq
        });
        // "the endpoint MAY ... keep the congestion state if only the port changed"
        // (RFC 9000 §9.4): a NAT rebinding.
        let state = if old_remote.ip() == from.ip() {
            self.path.state
        } else {
            self.new_path_state(ctx.config)
        };
        let mut new = Path::new(from, state, peer_seq);
        new.start_challenge(ctx.random8(), now, ctx.config.max_ack_delay);
        let mut old = core::mem::replace(&mut self.path, new);
        if old.validated {
            // Probe the old path too (§9.3.3) and keep it to revert to.
            if let Some(p) = self.prev.take() {
                self.retire_peer_id(p.peer_seq);
            }
            old.start_challenge(ctx.random8(), now, ctx.config.max_ack_delay);
            self.prev = Some(old);
        } else {
            // Never validated: forget it, keep the last validated path as the fallback.
            self.retire_peer_id(old.peer_seq);
        }
        ctx.events.push_back((
            self.handle,
            Event::PeerAddressChanged {
                from: old_remote,
                to: from,
            },
        ));
    }

    /// The current path failed validation: go back to the last validated one.
    fn revert(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        match self.prev.take() {
            Some(prev) => {
                let failed = core::mem::replace(&mut self.path, prev);
                self.path.challenge = None;
                self.path.challenge_due = false;
                self.path.deadline = None;
                self.path.resend = None;
                self.retire_peer_id(failed.peer_seq);
                self.counters.reverts += 1;
                ctx.events.push_back((
                    self.handle,
                    Event::PathReverted {
                        from: failed.remote,
                        to: self.path.remote,
                    },
                ));
            }
            None => {
                // No validated address to fall back to: keep challenging this one until the
                // idle timeout ends the session.
                let data = ctx.random8();
                self.path
                    .start_challenge(data, now, ctx.config.max_ack_delay);
            }
        }
    }

    /// Queue a datagram.
    pub(crate) fn send_datagram(&mut self, data: &[u8]) -> bool {
        self.send_q.push(data)
    }

    /// Take a received datagram.
    pub(crate) fn recv_datagram(&mut self, out: &mut [u8]) -> Option<usize> {
        self.recv_q.pop(out)
    }

    /// Close: send CLOSE (if established), then the endpoint removes the session.
    pub(crate) fn close(&mut self, code: u64) {
        if matches!(self.phase, Phase::Established) {
            self.close_pending = Some(code);
        } else {
            self.dead = Some(CloseReason::Local);
        }
    }

    pub(crate) fn peer_static(&self) -> [u8; 32] {
        self.peer_static
    }

    pub(crate) fn stats(&self) -> SessionStats {
        SessionStats {
            established: matches!(self.phase, Phase::Established),
            remote: self.path.remote,
            remote_validated: self.path.validated,
            rtt: self.path.state.rtt,
            congestion: self.path.state.congestion,
            path_resets: self.counters.path_resets,
            migrations: self.counters.migrations,
            local_moves: self.counters.local_moves,
            validations: self.counters.validations,
            reverts: self.counters.reverts,
            key_updates: self.keys.as_ref().map_or(0, |k| k.updates),
            packets_sent: self.counters.packets_sent,
            packets_received: self.counters.packets_received,
            auth_failures: self.counters.auth_failures,
            id_reuses: self.counters.id_reuses,
            fresh_peer_ids: self.peer_ids.iter().filter(|p| !p.used).count() as u64,
            packets_lost: self.counters.packets_lost,
            probe_timeouts: self.counters.probe_timeouts,
            frames_repeated: self.counters.frames_repeated,
            largest_received: self.replay.largest(),
        }
    }

    /// Earliest timer.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    fn rearm(&mut self, config: &Config) {
        let now = self.last_sent.max(self.last_recv);
        self.rearm_at(config, now);
    }

    /// Recompute every timer from the state.
    fn rearm_at(&mut self, config: &Config, now: Instant) {
        let mut t = [None; TIMER_COUNT];
        match &self.phase {
            Phase::Initiating { last_sent, due, .. } => {
                t[Timer::HandshakeExpiry as usize] = Some(self.started + config.handshake_timeout);
                if !*due {
                    t[Timer::HandshakeRetry as usize] =
                        last_sent.map(|l| l + config.handshake_retry);
                }
            }
            Phase::HalfOpen { .. } => {
                t[Timer::HandshakeExpiry as usize] = Some(self.started + config.handshake_timeout);
            }
            Phase::Established => {
                t[Timer::Idle as usize] = Some(self.last_recv + config.idle_timeout);
                if !self.ping_pending {
                    t[Timer::Keepalive as usize] = Some(self.last_sent + config.keepalive_interval);
                }
                // A deadline already passed is due now: poll_transmit sends it, no timer needed.
                t[Timer::Ack as usize] = self.ack_deadline.filter(|d| *d > now);
                if !self.path.validated {
                    t[Timer::PathValidation as usize] = self.path.deadline;
                }
                if self.path.challenge.is_some() && !self.path.challenge_due {
                    t[Timer::PathChallenge as usize] = self.path.resend;
                }
                if let Some(p) = &self.prev {
                    t[Timer::PrevPath as usize] = match (p.challenge, p.challenge_due) {
                        (Some(_), false) => p.resend.min(p.deadline),
                        _ => None,
                    };
                }
                if let Some(k) = &self.keys {
                    let due = k.send_installed + config.rekey_after_time;
                    t[Timer::KeyUpdate as usize] =
                        Some(self.key_update_retry.map_or(due, |r| r.max(due)));
                }
                t[Timer::LossDetection as usize] = self.loss_detection_timer(config);
            }
        }
        self.timers = t;
    }

    /// Act on every timer that has expired. Early or spurious calls change nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let expired = |t: Timer, s: &Session| s.timers[t as usize].is_some_and(|at| at <= now);
        if expired(Timer::HandshakeExpiry, self) {
            self.dead = Some(CloseReason::HandshakeTimeout);
            return;
        }
        if expired(Timer::HandshakeRetry, self)
            && let Phase::Initiating { due, .. } = &mut self.phase
        {
            *due = true;
        }
        if expired(Timer::Idle, self) {
            // "the connection is silently closed and its state is discarded" (RFC 9000 §10.1).
            self.dead = Some(CloseReason::IdleTimeout);
            return;
        }
        if expired(Timer::Keepalive, self) {
            self.ping_pending = true;
            // Nothing sent for the keepalive interval: the session is idle. Give back the
            // buffers its traffic grew (they grow again, doubling, when traffic resumes), so
            // that idle sessions cost the same whether or not they once carried data.
            self.send_q.release_if_empty();
            self.recv_q.release_if_empty();
            if self.sent.is_empty() {
                self.sent = VecDeque::new();
            }
        }
        if expired(Timer::Ack, self) {
            self.ack_deadline = Some(now); // stays due until an ACK goes out
        }
        if expired(Timer::PathValidation, self) {
            self.revert(now, ctx);
        }
        if expired(Timer::PathChallenge, self) {
            self.path.challenge_due = true;
            self.path.resend = Some(now + self.path.state.rtt.pto(ctx.config.max_ack_delay));
        }
        if expired(Timer::PrevPath, self)
            && let Some(p) = &mut self.prev
        {
            if p.deadline.is_some_and(|d| d <= now) {
                // The old path did not answer: stop probing it (it stays the fallback).
                p.challenge = None;
            } else {
                p.challenge_due = true;
                p.resend = Some(now + p.state.rtt.pto(ctx.config.max_ack_delay));
            }
        }
        if expired(Timer::LossDetection, self) {
            self.on_loss_detection_timeout(now, ctx.config);
        }
        if expired(Timer::KeyUpdate, self)
            && let Some(k) = &mut self.keys
        {
            if k.may_update(self.largest_acked) {
                k.update_send(now);
            } else {
                // Not yet allowed (RFC 9001 §6.1): try again after a PTO.
                self.key_update_retry =
                    Some(now + self.path.state.rtt.pto(ctx.config.max_ack_delay));
            }
        }
        self.rearm_at(ctx.config, now);
    }
}

/// The Noise prologue: a label, then the initiation's `type | L | identifier`.
fn prologue_for(out: &mut [u8; 64], initiator_id: &ConnectionId) -> usize {
    let l = PROLOGUE_LABEL.len();
    out[..l].copy_from_slice(PROLOGUE_LABEL);
    out[l] = crate::packet::PacketType::INITIATION;
    out[l + 1] = initiator_id.len() as u8;
    out[l + 2..l + 2 + initiator_id.len()].copy_from_slice(initiator_id.as_bytes());
    l + 2 + initiator_id.len()
}
