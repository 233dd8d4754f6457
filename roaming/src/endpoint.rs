//! The endpoint: one UDP socket (the mobility port), every session.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::ops::Bound::{Excluded, Unbounded};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use smoltcp::time::Instant;

use crate::config::{Config, ConfigError};
use crate::crypto::{CookieKey, StaticKeypair};
use crate::packet::data::DataPacket;
use crate::packet::handshake::{CookieReplyRepr, InitiationPacket, ResponseRepr};
use crate::packet::{ConnectionId, PacketType, TAG_LEN};
use crate::session::{Ctx, Session};
use crate::{
    ConnectError, DropReason, Event, Received, SendError, SessionHandle, SessionStats, Transmit,
};

/// Hashes identifiers by folding their bytes. Identifiers are random and chosen by us, and an
/// attacker can only look keys up, never insert them, so no keyed hash is needed against
/// collision flooding — and none is wanted, since a keyed `RandomState` reads the OS RNG.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// Identifier → session, O(1).
pub(crate) type IdMap = HashMap<ConnectionId, SessionHandle, BuildHasherDefault<IdHasher>>;

/// The session context from an endpoint's fields, borrowed field by field so the session
/// table stays usable beside it.
macro_rules! ctx {
    ($ep:ident) => {
        Ctx {
            config: &$ep.config,
            rng: &mut $ep.rng,
            ids: &mut $ep.ids,
            events: &mut $ep.events,
        }
    };
}

/// Most stateless replies (cookie replies) waiting to be sent.
const STATELESS_QUEUE: usize = 64;
/// Largest datagram the endpoint looks at.
const MAX_DATAGRAM: usize = 65_535;
/// One initiation's worth of rate-limit credit, in micro-tokens.
const TOKEN: u64 = 1_000_000;

/// A stateless reply waiting to be sent.
struct StatelessReply {
    to: SocketAddr,
    bytes: [u8; 2 + crate::packet::MAX_ID_LEN + crate::packet::TOKEN_LEN],
    len: usize,
}

/// The sans-IO endpoint: all sessions on one UDP port.
///
/// Drive it with [`handle`](Self::handle) for every datagram received,
/// [`poll_transmit`](Self::poll_transmit) until it returns `None` after every call,
/// [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout)'s instant
/// passes, and read [`poll_event`](Self::poll_event).
pub struct Endpoint {
    config: Config,
    keypair: StaticKeypair,
    rng: ChaCha20Rng,
    cookie: CookieKey,
    /// Boxed: a `Session` is about 2 KiB, and B-tree nodes filled in handle order are about
    /// half full, so inline sessions would cost nearly twice their size.
    sessions: BTreeMap<SessionHandle, Box<Session>>,
    ids: IdMap,
    /// Responder sessions by the initiator's ephemeral key: repeats of an initiation.
    initiations: HashMap<[u8; 32], SessionHandle, BuildHasherDefault<IdHasher>>,
    half_open: usize,
    events: VecDeque<(SessionHandle, Event)>,
    drops: [u64; DropReason::ALL.len()],
    stateless: VecDeque<StatelessReply>,
    next_handle: u64,
    rate_tokens: u64,
    rate_time: Option<Instant>,
    cursor: Option<SessionHandle>,
    /// Sessions that may have something to send: every session the endpoint changed since
    /// it last found it with nothing to send. `poll_transmit` visits only these, so its cost
    /// does not grow with the idle sessions in the table.
    ready: BTreeSet<SessionHandle>,
    /// Every session's earliest timer, ordered by time (`poll_timeout` reads the first), and
    /// the instant each session is filed under.
    timers: BTreeSet<(Instant, SessionHandle)>,
    timer_of: HashMap<SessionHandle, Instant, BuildHasherDefault<IdHasher>>,
    scratch: Vec<u8>,
}

impl Endpoint {
    /// An endpoint with this configuration and identity. Every random choice it makes
    /// (identifiers, ephemeral keys, challenges, the cookie secret) comes from a ChaCha20 RNG
    /// seeded with `rng_seed`: draw the seed from the OS in production, fix it in tests.
    pub fn new(
        config: Config,
        keypair: StaticKeypair,
        rng_seed: [u8; 32],
    ) -> Result<Endpoint, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Ok(Endpoint {
            rate_tokens: u64::from(config.handshake_burst) * TOKEN,
            config,
            keypair,
            rng,
            cookie: CookieKey::new(secret),
            sessions: BTreeMap::new(),
            ids: IdMap::default(),
            initiations: HashMap::default(),
            half_open: 0,
            events: VecDeque::new(),
            drops: [0; DropReason::ALL.len()],
            stateless: VecDeque::with_capacity(STATELESS_QUEUE),
            next_handle: 0,
            rate_time: None,
            cursor: None,
            ready: BTreeSet::new(),
            timers: BTreeSet::new(),
            timer_of: HashMap::default(),
            scratch: vec![0; MAX_DATAGRAM],
        })
    }

    /// An endpoint seeded from `rng`.
    pub fn with_rng<R: RngCore + ?Sized>(
        config: Config,
        keypair: StaticKeypair,
        rng: &mut R,
    ) -> Result<Endpoint, ConfigError> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Endpoint::new(config, keypair, seed)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This endpoint's static public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.keypair.public()
    }

    /// Open a session to `remote`, whose static public key is `server_public_key`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        server_public_key: [u8; 32],
    ) -> Result<SessionHandle, ConnectError> {
        if self.sessions.len() >= self.config.max_sessions {
            return Err(ConnectError::TableFull);
        }
        let handle = SessionHandle(self.next_handle);
        self.next_handle += 1;
        let keypair = self.keypair.clone();
        let mut ctx = ctx!(self);
        let sessions = &mut self.sessions;
        let s = Session::connect(handle, now, remote, server_public_key, &keypair, &mut ctx)
            .ok_or(ConnectError::InvalidKey)?;
        sessions.insert(handle, Box::new(s));
        self.touch(handle);
        Ok(handle)
    }

    fn drop(&mut self, reason: DropReason) -> Received {
        if let Some(i) = DropReason::ALL.iter().position(|r| *r == reason) {
            self.drops[i] += 1;
        }
        log::trace!("dropped a datagram: {reason}");
        Received::Dropped(reason)
    }

    /// Datagrams dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.drops[i])
    }

    /// Process one datagram that arrived on the mobility port from `from`. Any bytes are
    /// safe: nothing unauthenticated changes a session.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Received {
        let r = match PacketType::of(datagram) {
            Err(bridgeless_wire::Error::Truncated) => self.drop(DropReason::Truncated),
            Err(_) => self.drop(DropReason::UnknownType),
            Ok(_) if datagram.len() > MAX_DATAGRAM => self.drop(DropReason::Malformed),
            Ok(PacketType::Data) => self.handle_data(now, from, datagram),
            Ok(PacketType::Initiation) => self.handle_initiation(now, from, datagram),
            Ok(PacketType::Response) => self.handle_response(now, from, datagram),
            Ok(PacketType::CookieReply) => self.handle_cookie(from, datagram),
        };
        if let Received::Session(h) = r {
            self.touch(h);
        }
        r
    }

    fn handle_data(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Received {
        let id_len = self.config.id_len;
        let packet = match DataPacket::new_checked(datagram, id_len) {
            Ok(p) => p,
            Err(bridgeless_wire::Error::Truncated) => return self.drop(DropReason::Truncated),
            Err(_) => return self.drop(DropReason::Malformed),
        };
        let Some(&handle) = ConnectionId::new(packet.dst_id())
            .ok()
            .and_then(|id| self.ids.get(&id))
        else {
            return self.drop(DropReason::UnknownId);
        };
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch[..datagram.len()].copy_from_slice(datagram);
        let mut ctx = ctx!(self);
        let sessions = &mut self.sessions;
        let Some(s) = sessions.get_mut(&handle) else {
            self.scratch = scratch;
            return self.drop(DropReason::UnknownId);
        };
        let was_half_open = s.is_half_open();
        let r = s.handle_data(now, from, &mut scratch[..datagram.len()], &mut ctx);
        if was_half_open && !s.is_half_open() {
            self.half_open -= 1;
        }
        self.scratch = scratch;
        // A protocol violation or a CLOSE may have ended it.
        self.touch(handle);
        match r {
            Ok(()) => Received::Session(handle),
            Err(reason) => self.drop(reason),
        }
    }

    /// The time bucket retry tokens are made for.
    fn bucket(&self, now: Instant) -> u64 {
        let ms = now.total_millis().max(0) as u64;
        ms / self.config.token_lifetime.total_millis().max(1)
    }

    fn refill(&mut self, now: Instant) {
        let last = *self.rate_time.get_or_insert(now);
        if now > last {
            let add = (now - last)
                .total_micros()
                .saturating_mul(u64::from(self.config.handshake_rate));
            let cap = u64::from(self.config.handshake_burst) * TOKEN;
            self.rate_tokens = self.rate_tokens.saturating_add(add).min(cap);
            self.rate_time = Some(now);
        }
    }

    fn handle_initiation(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Received {
        if !self.config.accept_incoming {
            return self.drop(DropReason::NotAccepted);
        }
        let packet = match InitiationPacket::new_checked(datagram) {
            Ok(p) => p,
            Err(bridgeless_wire::Error::Truncated) => return self.drop(DropReason::Truncated),
            Err(_) => return self.drop(DropReason::Malformed),
        };
        // A repeat of an initiation we processed: its response was lost (answer again, to
        // the same address only), or a replay (drop: no new state).
        if let Some(&h) = self.initiations.get(&packet.ephemeral()) {
            let repeated = self
                .sessions
                .get_mut(&h)
                .is_some_and(|s| s.repeat_response(from, datagram.len()));
            self.touch(h);
            if repeated {
                return Received::Session(h);
            }
            return self.drop(DropReason::ReplayedInitiation);
        }
        let token_ok = packet
            .token()
            .is_some_and(|t| self.cookie.verify(&from, self.bucket(now), t));
        self.refill(now);
        let loaded = self.half_open >= self.config.max_half_open || self.rate_tokens < TOKEN;
        if !token_ok {
            if loaded {
                // Under load: answer with a cookie and keep nothing.
                return self.send_cookie(now, from, packet.sender_id());
            }
            self.rate_tokens -= TOKEN;
        }
        if self.sessions.len() >= self.config.max_sessions {
            return self.drop(DropReason::TableFull);
        }
        let handle = SessionHandle(self.next_handle);
        let keypair = self.keypair.clone();
        let mut ctx = ctx!(self);
        let sessions = &mut self.sessions;
        match Session::accept(handle, now, from, &packet, &keypair, &mut ctx) {
            Ok(s) => {
                self.next_handle += 1;
                let mut s = s;
                s.initiation = Some(packet.ephemeral());
                sessions.insert(handle, Box::new(s));
                self.initiations.insert(packet.ephemeral(), handle);
                self.half_open += 1;
                Received::Session(handle)
            }
            Err(reason) => self.drop(reason),
        }
    }

    fn send_cookie(&mut self, now: Instant, to: SocketAddr, receiver_id: ConnectionId) -> Received {
        if self.stateless.len() >= STATELESS_QUEUE {
            return self.drop(DropReason::ReplyQueueFull);
        }
        let token = self.cookie.token(&to, self.bucket(now));
        let mut reply = StatelessReply {
            to,
            bytes: [0; 2 + crate::packet::MAX_ID_LEN + crate::packet::TOKEN_LEN],
            len: 0,
        };
        match (CookieReplyRepr { receiver_id, token }).emit(&mut reply.bytes) {
            Ok(len) => reply.len = len,
            Err(_) => return self.drop(DropReason::Malformed),
        }
        self.stateless.push_back(reply);
        self.drop(DropReason::CookieRequired);
        Received::Stateless
    }

    fn handle_response(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Received {
        let repr = match ResponseRepr::parse(datagram) {
            Ok(r) => r,
            Err(bridgeless_wire::Error::Truncated) => return self.drop(DropReason::Truncated),
            Err(_) => return self.drop(DropReason::Malformed),
        };
        let Some(&handle) = self.ids.get(&repr.receiver_id) else {
            return self.drop(DropReason::UnknownId);
        };
        let mut ctx = ctx!(self);
        let sessions = &mut self.sessions;
        let Some(s) = sessions.get_mut(&handle) else {
            return self.drop(DropReason::UnknownId);
        };
        let r = s.handle_response(now, from, &repr, &mut ctx);
        self.touch(handle);
        match r {
            Ok(()) => Received::Session(handle),
            Err(reason) => self.drop(reason),
        }
    }

    fn handle_cookie(&mut self, from: SocketAddr, datagram: &[u8]) -> Received {
        let repr = match CookieReplyRepr::parse(datagram) {
            Ok(r) => r,
            Err(bridgeless_wire::Error::Truncated) => return self.drop(DropReason::Truncated),
            Err(_) => return self.drop(DropReason::Malformed),
        };
        let Some(&handle) = self.ids.get(&repr.receiver_id) else {
            return self.drop(DropReason::UnknownId);
        };
        let Some(s) = self.sessions.get_mut(&handle) else {
            return self.drop(DropReason::UnknownId);
        };
        let r = s.handle_cookie(from, repr.token);
        self.touch(handle);
        match r {
            Ok(()) => Received::Session(handle),
            Err(reason) => self.drop(reason),
        }
    }

    /// The next datagram to send, written into `buf` (give it at least
    /// [`Config::max_udp_payload`] bytes). Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(r) = self.stateless.pop_front()
            && buf.len() >= r.len
        {
            buf[..r.len].copy_from_slice(&r.bytes[..r.len]);
            return Some(Transmit {
                destination: r.to,
                len: r.len,
            });
        }
        // Round robin over the sessions that may have something to send, starting after
        // the one that sent last. One that has nothing leaves the ready set until the
        // endpoint changes it again (a datagram in or out, a timer): nothing else can give
        // it something to send. With a buffer below `max_udp_payload` a session may have
        // failed only for room, so none leaves then (one pass, as before).
        let keep = buf.len() < self.config.max_udp_payload;
        let mut passed = 0;
        while passed < self.ready.len() {
            let next = match self.cursor {
                Some(c) => self.ready.range((Excluded(c), Unbounded)).next(),
                None => None,
            };
            let &h = next.or_else(|| self.ready.first())?;
            self.cursor = Some(h);
            let mut ctx = ctx!(self);
            let sent = match self.sessions.get_mut(&h) {
                Some(s) => s.poll_transmit(now, buf, &mut ctx),
                None => None,
            };
            if let Some(t) = sent {
                self.touch(h);
                return Some(t);
            }
            if keep {
                passed += 1;
            } else {
                self.ready.remove(&h);
                self.schedule(h);
            }
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Run expired timers. Calling it early or twice is harmless. Visits only the sessions
    /// whose timers expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SessionHandle> = self
            .timers
            .range(..=(now, SessionHandle(u64::MAX)))
            .map(|&(_, h)| h)
            .collect();
        for h in due {
            let mut ctx = ctx!(self);
            if let Some(s) = self.sessions.get_mut(&h) {
                s.handle_timeout(now, &mut ctx);
            }
            self.touch(h);
        }
    }

    /// Session `h` was changed: it may have something to send, its timers may have moved,
    /// and it may have finished.
    fn touch(&mut self, h: SessionHandle) {
        if self.reap(h) {
            return;
        }
        self.ready.insert(h);
        self.schedule(h);
    }

    /// Files session `h` under its earliest timer.
    fn schedule(&mut self, h: SessionHandle) {
        let at = self.sessions.get(&h).and_then(|s| s.poll_timeout());
        if self.timer_of.get(&h).copied() == at {
            return;
        }
        if let Some(old) = self.timer_of.remove(&h) {
            self.timers.remove(&(old, h));
        }
        if let Some(at) = at {
            self.timers.insert((at, h));
            self.timer_of.insert(h, at);
        }
    }

    /// Remove session `h` if it has finished, with its identifiers and its place in the
    /// ready set and the timers; returns whether it did. Sessions finish only while the
    /// endpoint works on them, so checking the one just touched is enough (and keeps
    /// per-packet work independent of the table size).
    fn reap(&mut self, h: SessionHandle) -> bool {
        if self.sessions.get(&h).is_none_or(|s| s.dead.is_none()) {
            return false;
        }
        let Some(s) = self.sessions.remove(&h) else {
            return false;
        };
        self.ready.remove(&h);
        if let Some(at) = self.timer_of.remove(&h) {
            self.timers.remove(&(at, h));
        }
        for id in s.local_ids() {
            self.ids.remove(&id);
        }
        if let Some(e) = s.initiation
            && self.initiations.get(&e) == Some(&h)
        {
            self.initiations.remove(&e);
        }
        if s.is_half_open() {
            self.half_open -= 1;
        }
        if s.announced
            && let Some(reason) = s.dead
        {
            self.events.push_back((h, Event::Closed(reason)));
        }
        true
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<(SessionHandle, Event)> {
        self.events.pop_front()
    }

    /// Queue a datagram for the session.
    pub fn send_datagram(&mut self, handle: SessionHandle, data: &[u8]) -> Result<(), SendError> {
        let max = self.max_datagram_size();
        let s = self
            .sessions
            .get_mut(&handle)
            .ok_or(SendError::UnknownSession)?;
        if data.len() > max {
            return Err(SendError::TooLarge);
        }
        if s.send_datagram(data) {
            self.touch(handle);
            Ok(())
        } else {
            Err(SendError::QueueFull)
        }
    }

    /// Take the next datagram the session received, into `out`; returns its length (bytes
    /// beyond `out.len()` are lost).
    pub fn recv_datagram(&mut self, handle: SessionHandle, out: &mut [u8]) -> Option<usize> {
        // Taking a datagram changes nothing a session sends or waits for: no touch.
        self.sessions.get_mut(&handle)?.recv_datagram(out)
    }

    /// Largest datagram [`send_datagram`](Self::send_datagram) accepts: what fits in one
    /// packet of `max_udp_payload` bytes with the largest header.
    pub fn max_datagram_size(&self) -> usize {
        let header = 1 + crate::packet::MAX_ID_LEN + 4;
        let frame = 1;
        self.config.max_udp_payload - header - TAG_LEN - frame
    }

    /// Close a session: a CLOSE frame is sent, then the session is removed.
    pub fn close(&mut self, handle: SessionHandle) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.close(0);
        }
        self.touch(handle);
    }

    /// This endpoint's own address changed (new network, new interface): every session
    /// switches to fresh identifiers and tells its peer at once.
    pub fn local_address_changed(&mut self, now: Instant) {
        let mut ctx = ctx!(self);
        let sessions = &mut self.sessions;
        for s in sessions.values_mut() {
            s.local_address_changed(now, &mut ctx);
        }
        let all: Vec<SessionHandle> = self.sessions.keys().copied().collect();
        for h in all {
            self.touch(h);
        }
    }

    /// A snapshot of a session.
    pub fn session_stats(&self, handle: SessionHandle) -> Option<SessionStats> {
        self.sessions.get(&handle).map(|s| s.stats())
    }

    /// The static key of the session's peer (the server's for a session we opened).
    pub fn peer_static(&self, handle: SessionHandle) -> Option<[u8; 32]> {
        self.sessions.get(&handle).map(|s| s.peer_static())
    }

    /// Sessions in the table (established and half-open).
    pub fn sessions(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.sessions.keys().copied()
    }

    /// Sessions in the table.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Responder sessions waiting for the initiator's first packet.
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Identifiers of ours currently routed to sessions.
    pub fn id_count(&self) -> usize {
        self.ids.len()
    }

    /// Whether a handshake of ours is still waiting for its response.
    pub fn is_connecting(&self, handle: SessionHandle) -> bool {
        self.sessions
            .get(&handle)
            .is_some_and(|s| s.is_initiating())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    /// The earliest timer of any session, found the slow way.
    fn earliest(ep: &Endpoint) -> Option<Instant> {
        ep.sessions.values().filter_map(|s| s.poll_timeout()).min()
    }

    /// Asserts that no session of `ep` has anything to send, asking every one (after
    /// `poll_transmit` returned `None`, the ready set must not have missed any); returns
    /// how many it asked.
    fn nothing_left(ep: &mut Endpoint, now: Instant, buf: &mut [u8]) -> usize {
        let mut ctx = ctx!(ep);
        for s in ep.sessions.values_mut() {
            assert!(s.poll_transmit(now, buf, &mut ctx).is_none());
        }
        ep.sessions.len()
    }

    /// One server and twenty clients in memory, with random loss, datagrams and time steps:
    /// after every step the endpoint's timer index gives what a scan of every session gives,
    /// and once `poll_transmit` has returned `None`, no session has anything to send (the
    /// ready set missed none).
    #[test]
    fn ready_set_and_timer_index_agree_with_a_scan_of_every_session() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let server_key = StaticKeypair::from_private([1; 32]);
        let server_pub = server_key.public();
        let server_addr: SocketAddr = "[2001:db8::1]:4433".parse().unwrap();
        let mut server = Endpoint::new(Config::default(), server_key, [2; 32]).unwrap();
        let mut clients: Vec<(Endpoint, SocketAddr, Option<SessionHandle>)> = (0..20u8)
            .map(|i| {
                let key = StaticKeypair::from_private([10 + i; 32]);
                let ep = Endpoint::new(Config::default(), key, [20 + i; 32]).unwrap();
                let addr = format!("[2001:db8:1::{}]:5000", i + 1).parse().unwrap();
                (ep, addr, None)
            })
            .collect();
        let mut now = Instant::ZERO;
        let mut buf = vec![0u8; 2048];
        let mut checked_idle = 0;
        for step in 0..3_000 {
            let i = (rng.next_u32() % 20) as usize;
            let (ep, addr, handle) = &mut clients[i];
            if handle.is_none() && step % 7 == 0 {
                *handle = Some(ep.connect(now, server_addr, server_pub).unwrap());
            }
            if let Some(h) = *handle
                && rng.next_u32() % 3 == 0
            {
                let _ = ep.send_datagram(h, b"ping");
            }
            // Client → server, server → clients, with 10 % loss.
            while let Some(t) = ep.poll_transmit(now, &mut buf) {
                if rng.next_u32() % 10 != 0 {
                    server.handle(now, *addr, &buf[..t.len]);
                }
            }
            checked_idle += nothing_left(ep, now, &mut buf);
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                if let Some((c, _, _)) = clients.iter_mut().find(|(_, a, _)| *a == t.destination)
                    && rng.next_u32() % 10 != 0
                {
                    c.handle(now, server_addr, &buf[..t.len]);
                }
            }
            for s in server.sessions().collect::<Vec<_>>() {
                let mut out = [0u8; 64];
                while server.recv_datagram(s, &mut out).is_some() {}
            }
            checked_idle += nothing_left(&mut server, now, &mut buf);
            assert_eq!(server.poll_timeout(), earliest(&server), "step {step}");
            for (c, _, _) in &clients {
                assert_eq!(c.poll_timeout(), earliest(c), "step {step}");
            }
            now += smoltcp::time::Duration::from_millis(u64::from(rng.next_u32() % 200));
            server.handle_timeout(now);
            for (c, _, _) in &mut clients {
                c.handle_timeout(now);
            }
        }
        let established = clients
            .iter()
            .filter(|(c, _, h)| {
                h.is_some_and(|h| c.session_stats(h).is_some_and(|s| s.established))
            })
            .count();
        assert!(
            server.session_count() >= 15,
            "most clients connected: {} on the server, {established} clients",
            server.session_count()
        );
        assert!(checked_idle > 10_000);
    }
}
