//! The requesting router: [`PrefixRequester`], a DHCPv6 client for one IA_PD (RFC 8415 §18.2).

use std::collections::VecDeque;

use bridgeless_wire::dhcpv6::{
    IaPdRepr, IaPrefixRepr, MessageRepr, MessageType, Packet, status_code,
};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::{Duid, INFINITY, MAX_IAS, MAX_ORO, MAX_PREFIXES, after};

/// SOL_MAX_RT option code (RFC 8415 §21.24), requested in every message as §18.2.1 asks.
const OPTION_SOL_MAX_RT: u16 = 82;
const ORO: [u16; 1] = [OPTION_SOL_MAX_RT];

/// Transmission and retransmission parameters (RFC 8415 §7.6).
mod params {
    use smoltcp::time::Duration;
    pub const SOL_MAX_DELAY: Duration = Duration::from_secs(1);
    pub const SOL_TIMEOUT: Duration = Duration::from_secs(1);
    pub const SOL_MAX_RT: Duration = Duration::from_secs(3600);
    pub const REQ_TIMEOUT: Duration = Duration::from_secs(1);
    pub const REQ_MAX_RT: Duration = Duration::from_secs(30);
    pub const REQ_MAX_RC: u32 = 10;
    pub const REN_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REN_MAX_RT: Duration = Duration::from_secs(600);
    pub const REB_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REB_MAX_RT: Duration = Duration::from_secs(600);
    pub const REL_TIMEOUT: Duration = Duration::from_secs(1);
    pub const REL_MAX_RC: u32 = 4;
}

/// How the requesting router identifies itself and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client's DUID (a [`Duid::uuid`] or [`Duid::enterprise`]: the link has no
    /// link-layer address).
    pub duid: Duid,
    /// The IAID of its one IA_PD.
    pub iaid: u32,
    /// A prefix length to ask for (an IA Prefix of `::` with this length, RFC 8415 §18.2.1),
    /// if any; the server decides.
    pub prefix_len_hint: Option<u8>,
    /// Ask for the two-message exchange (Rapid Commit, RFC 8415 §18.2.1).
    pub rapid_commit: bool,
}

impl ClientConfig {
    /// A client with `duid` and `iaid`, no hint, no Rapid Commit.
    pub fn new(duid: Duid, iaid: u32) -> ClientConfig {
        ClientConfig {
            duid,
            iaid,
            prefix_len_hint: None,
            rapid_commit: false,
        }
    }
}

/// Why the client no longer holds its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LostReason {
    /// Its valid lifetime ran out without a Renew or Rebind being answered (RFC 8415 §18.2.5).
    Expired,
    /// [`PrefixRequester::release`] gave it back.
    Released,
    /// The server sent it back with a valid lifetime of 0, or delegated another one instead.
    Withdrawn,
}

/// What the requesting router must do with its delegated prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// A prefix was delegated: use it (for example, run a [`PrefixDelegator`] over it).
    ///
    /// [`PrefixDelegator`]: super::PrefixDelegator
    Bound {
        /// The prefix.
        prefix: Ipv6Cidr,
        /// When it stops being preferred.
        preferred_until: Instant,
        /// When it must no longer be used unless renewed.
        valid_until: Instant,
    },
    /// The prefix's lifetimes were extended.
    Renewed {
        /// The prefix.
        prefix: Ipv6Cidr,
        /// When it stops being preferred.
        preferred_until: Instant,
        /// When it must no longer be used unless renewed.
        valid_until: Instant,
    },
    /// The prefix must no longer be used.
    Lost {
        /// The prefix.
        prefix: Ipv6Cidr,
        /// Why.
        reason: LostReason,
    },
}

/// Where the client is in RFC 8415 §18.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Not started, or released.
    Idle,
    /// Sending Solicit and collecting Advertise (§18.2.1).
    Soliciting,
    /// Sending Request to the chosen server (§18.2.2).
    Requesting,
    /// Holding a prefix, waiting for T1.
    Bound,
    /// Sending Renew to the delegating server, between T1 and T2 (§18.2.4).
    Renewing,
    /// Sending Rebind to any server, between T2 and the end of the valid lifetime (§18.2.5).
    Rebinding,
    /// Sending Release (§18.2.7).
    Releasing,
}

/// What the client received, sent and ignored, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientCounters {
    /// Messages handed to [`PrefixRequester::handle`].
    pub received: u64,
    /// Messages written by `poll_transmit`.
    pub sent: u64,
    /// Retransmissions among them (RFC 8415 §15).
    pub retransmissions: u64,
    /// `poll_transmit` buffers too small (the message stays due).
    pub transmit_buffer_too_small: u64,
    /// Not a well-formed message, or more options than the client reads.
    pub malformed: u64,
    /// Not Advertise or Reply (client messages, relay messages, Reconfigure: this client
    /// does not do Reconfigure's authentication, RFC 8415 §18.2.11).
    pub not_for_client: u64,
    /// A transaction ID that is not the current exchange's, or no exchange running.
    pub wrong_transaction_id: u64,
    /// No Client Identifier, or not ours (RFC 8415 §16.3, §16.10).
    pub wrong_client_id: u64,
    /// No Server Identifier (RFC 8415 §16.3, §16.10).
    pub missing_server_id: u64,
    /// An Advertise while not soliciting, or a Reply to a Solicit without Rapid Commit.
    pub unexpected_type: u64,
    /// Advertises that offered no usable prefix (RFC 8415 §18.2.9: ignored).
    pub advertise_without_prefix: u64,
    /// Replies with a top-level status other than Success, ignored (the exchange goes on).
    pub error_status: u64,
    /// Replies without our IA_PD, or with T1 > T2 (RFC 8415 §21.21), ignored.
    pub invalid_ia: u64,
    /// IA Prefixes with a preferred lifetime over the valid one (RFC 8415 §21.22), skipped.
    pub invalid_prefix: u64,
    /// Replies with NoPrefixAvail: the client starts over with Solicit.
    pub no_prefix_avail: u64,
    /// Replies with NoBinding to a Renew or Rebind: the client sends Request (§18.2.10.1).
    pub no_binding: u64,
    /// Exchanges that ran out of retransmissions (MRC) and failed.
    pub exchanges_failed: u64,
}

/// One message exchange with its retransmission state (RFC 8415 §15).
#[derive(Debug, Clone, Copy)]
struct Exchange {
    kind: MessageType,
    xid: u32,
    /// When the first message was sent (for Elapsed Time), once it was.
    started: Option<Instant>,
    /// The current retransmission timeout.
    rt: Duration,
    /// When the next message is due.
    send_at: Instant,
    /// A message is due now (set by the timer, cleared by `poll_transmit`).
    due: bool,
    /// Messages sent.
    count: u32,
    irt: Duration,
    mrt: Duration,
    /// 0: unlimited.
    mrc: u32,
    /// For a Solicit: the end of the first RT, after which any Advertise is taken at once.
    collect_until: Option<Instant>,
}

/// The chosen server's offer.
#[derive(Debug, Clone, Copy)]
struct Offer {
    server: Duid,
    preference: u8,
    prefix: Ipv6Cidr,
}

/// The delegated prefix and its timers.
#[derive(Debug, Clone, Copy)]
struct Binding {
    server: Duid,
    prefix: Ipv6Cidr,
    t1_at: Instant,
    t2_at: Instant,
    preferred_until: Instant,
    valid_until: Instant,
}

/// The requesting router: a DHCPv6 client that obtains and keeps one delegated prefix
/// (RFC 8415 §18.2, IA_PD only).
///
/// Driving it: [`start`](Self::start); send what [`poll_transmit`](Self::poll_transmit)
/// writes from port 546 to ff02::1:2 port 547 (RFC 8415 §7.1) on the upstream link; hand
/// every UDP datagram received on port 546 to [`handle`](Self::handle); call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout); act on
/// each [`poll_event`](Self::poll_event). Messages are retransmitted as RFC 8415 §15 says,
/// with the randomness the caller passes in.
#[derive(Debug)]
pub struct PrefixRequester {
    config: ClientConfig,
    state: ClientState,
    exchange: Option<Exchange>,
    offer: Option<Offer>,
    binding: Option<Binding>,
    /// The server a Release goes to, and the prefix it names.
    releasing: Option<(Duid, Ipv6Cidr)>,
    events: VecDeque<ClientEvent>,
    counters: ClientCounters,
}

/// At most this many events wait for `poll_event`; older ones are dropped first.
const MAX_EVENTS: usize = 16;

impl PrefixRequester {
    /// A client with `config`, idle until [`start`](Self::start).
    pub fn new(config: ClientConfig) -> PrefixRequester {
        PrefixRequester {
            config,
            state: ClientState::Idle,
            exchange: None,
            offer: None,
            binding: None,
            releasing: None,
            events: VecDeque::with_capacity(MAX_EVENTS),
            counters: ClientCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Where the client is.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The delegated prefix, while the client holds one.
    pub fn prefix(&self) -> Option<Ipv6Cidr> {
        self.binding.map(|b| b.prefix)
    }

    /// When the delegated prefix stops being preferred and stops being valid, while the
    /// client holds one.
    pub fn lifetimes(&self) -> Option<(Instant, Instant)> {
        self.binding.map(|b| (b.preferred_until, b.valid_until))
    }

    /// The DUID of the server that delegated the prefix.
    pub fn server(&self) -> Option<Duid> {
        self.binding.map(|b| b.server)
    }

    /// What was received, sent and ignored.
    pub fn counters(&self) -> &ClientCounters {
        &self.counters
    }

    /// Starts (or starts over) soliciting: the first Solicit is sent after a random delay of
    /// up to SOL_MAX_DELAY (RFC 8415 §18.2.1). A prefix held is kept until it expires or a
    /// new one is bound.
    pub fn start<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        let delay =
            Duration::from_micros(rng.next_u64() % (params::SOL_MAX_DELAY.total_micros() + 1));
        self.begin(now + delay, rng, MessageType::Solicit);
    }

    /// Releases the prefix (RFC 8415 §18.2.7): it is [`Lost`](ClientEvent::Lost) at once and
    /// a Release is sent to the server, up to REL_MAX_RC times; the client is then idle.
    /// Without a prefix the client just stops.
    pub fn release<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.offer = None;
        match self.binding.take() {
            Some(b) => {
                self.push_event(ClientEvent::Lost {
                    prefix: b.prefix,
                    reason: LostReason::Released,
                });
                self.releasing = Some((b.server, b.prefix));
                self.begin(now, rng, MessageType::Release);
                self.handle_timeout(now, rng);
            }
            None => {
                self.exchange = None;
                self.state = ClientState::Idle;
            }
        }
    }

    /// Starts an exchange of `kind` whose first message is due at `at`.
    fn begin<R: RngCore + ?Sized>(&mut self, at: Instant, rng: &mut R, kind: MessageType) {
        use params::*;
        let (state, irt, mrt, mrc) = match kind {
            MessageType::Solicit => (ClientState::Soliciting, SOL_TIMEOUT, SOL_MAX_RT, 0),
            MessageType::Request => (ClientState::Requesting, REQ_TIMEOUT, REQ_MAX_RT, REQ_MAX_RC),
            MessageType::Renew => (ClientState::Renewing, REN_TIMEOUT, REN_MAX_RT, 0),
            MessageType::Rebind => (ClientState::Rebinding, REB_TIMEOUT, REB_MAX_RT, 0),
            _ => (
                ClientState::Releasing,
                REL_TIMEOUT,
                Duration::ZERO,
                REL_MAX_RC,
            ),
        };
        if kind == MessageType::Solicit {
            self.offer = None;
        }
        self.state = state;
        self.exchange = Some(Exchange {
            kind,
            // §16.1: "The transaction ID MUST be chosen randomly", 24 bits.
            xid: rng.next_u32() & 0x00ff_ffff,
            started: None,
            rt: Duration::ZERO,
            send_at: at,
            due: false,
            count: 0,
            irt,
            mrt,
            mrc,
            collect_until: None,
        });
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let exchange = self.exchange.filter(|e| !e.due).map(|e| e.send_at);
        let binding = self.binding.map(|b| match self.state {
            ClientState::Bound => b.t1_at.min(b.valid_until),
            ClientState::Renewing => b.t2_at.min(b.valid_until),
            _ => b.valid_until,
        });
        match (exchange, binding) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers: lifetimes, T1 and T2, and retransmissions. Early calls do nothing.
    pub fn handle_timeout<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        if let Some(b) = self.binding {
            if now >= b.valid_until {
                // §18.2.5 / §14.2: the prefix must no longer be used; start over.
                log::info!("dhcpv6 client: {} expired", b.prefix);
                self.binding = None;
                self.push_event(ClientEvent::Lost {
                    prefix: b.prefix,
                    reason: LostReason::Expired,
                });
                if matches!(
                    self.state,
                    ClientState::Bound | ClientState::Renewing | ClientState::Rebinding
                ) {
                    self.begin(now, rng, MessageType::Solicit);
                }
            } else if self.state == ClientState::Bound && now >= b.t1_at {
                // §18.2.4: at T1 the client sends Renew to the server that delegated.
                self.begin(now, rng, MessageType::Renew);
            } else if matches!(self.state, ClientState::Bound | ClientState::Renewing)
                && now >= b.t2_at
            {
                // §18.2.5: at T2, with no Reply to Renew, the client sends Rebind to any server.
                self.begin(now, rng, MessageType::Rebind);
            }
        }
        let Some(mut e) = self.exchange else {
            return;
        };
        if e.due || now < e.send_at {
            return;
        }
        if e.kind == MessageType::Solicit
            && e.collect_until.is_some_and(|t| now >= t)
            && self.offer.is_some()
        {
            // §18.2.1: when the first RT has elapsed the client takes the best Advertise.
            self.begin(now, rng, MessageType::Request);
            self.handle_timeout(now, rng);
            return;
        }
        if e.mrc != 0 && e.count >= e.mrc {
            self.counters.exchanges_failed += 1;
            self.exchange_failed(now, rng, e.kind);
            return;
        }
        // §15: RT = IRT + RAND*IRT first, then 2*RTprev + RAND*RTprev, capped near MRT.
        e.rt = if e.count == 0 {
            let rand = if e.kind == MessageType::Solicit {
                // §15: "the first RT MUST be selected to be strictly greater than IRT".
                i64::from(rng.next_u32() % 100) + 1
            } else {
                rand_permille(rng)
            };
            jitter(e.irt, e.irt, rand)
        } else {
            let rt = jitter(e.rt * 2, e.rt, rand_permille(rng));
            if e.mrt != Duration::ZERO && rt > e.mrt {
                jitter(e.mrt, e.mrt, rand_permille(rng))
            } else {
                rt
            }
        };
        if e.count == 0 {
            e.started = Some(now);
            if e.kind == MessageType::Solicit {
                e.collect_until = Some(now + e.rt);
            }
        } else {
            self.counters.retransmissions += 1;
        }
        e.count += 1;
        e.due = true;
        e.send_at = now + e.rt;
        self.exchange = Some(e);
    }

    /// What to do when an exchange runs out of retransmissions (§18.2.2, §18.2.7).
    fn exchange_failed<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        kind: MessageType,
    ) {
        self.exchange = None;
        match kind {
            MessageType::Release => {
                self.releasing = None;
                self.state = ClientState::Idle;
            }
            // A Request unanswered: start over with Solicit.
            _ => self.begin(now, rng, MessageType::Solicit),
        }
    }

    /// Writes the message due, if any, into `buf` and returns its length: a UDP payload for
    /// ff02::1:2 port 547.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mut e = self.exchange.filter(|e| e.due)?;
        let elapsed = e.started.map_or(0, |s| {
            // §21.9: hundredths of a second since the exchange began, 0xffff at most.
            u16::try_from((now - s.min(now)).total_millis() / 10).unwrap_or(u16::MAX)
        });
        let elapsed = if e.count <= 1 { 0 } else { elapsed };
        let hint;
        let server_id;
        match e.kind {
            MessageType::Solicit => {
                hint = self.config.prefix_len_hint.map(|len| IaPrefixRepr {
                    prefix_len: len.min(128),
                    ..IaPrefixRepr::default()
                });
                server_id = None;
            }
            MessageType::Request => {
                let offer = self.offer?;
                hint = Some(prefix_repr(offer.prefix));
                server_id = Some(offer.server);
            }
            MessageType::Renew | MessageType::Rebind => {
                let b = self.binding?;
                hint = Some(prefix_repr(b.prefix));
                server_id = (e.kind == MessageType::Renew).then_some(b.server);
            }
            _ => {
                let (server, prefix) = self.releasing?;
                hint = Some(prefix_repr(prefix));
                server_id = Some(server);
            }
        }
        let storage = hint.map(|h| [h]);
        let prefixes: &[IaPrefixRepr<'_>] = storage.as_ref().map_or(&[], |s| &s[..]);
        let ia_pd = [IaPdRepr {
            iaid: self.config.iaid,
            t1: 0,
            t2: 0,
            prefixes,
            status: None,
        }];
        let msg = MessageRepr {
            msg_type: e.kind,
            transaction_id: e.xid,
            client_id: Some(self.config.duid.as_bytes()),
            server_id: server_id.as_ref().map(|d| d.as_bytes()),
            elapsed_time: Some(elapsed),
            requested_options: if e.kind == MessageType::Release {
                &[]
            } else {
                &ORO
            },
            preference: None,
            rapid_commit: e.kind == MessageType::Solicit && self.config.rapid_commit,
            status: None,
            ia_pd: &ia_pd,
        };
        match msg.emit(buf) {
            Ok(len) => {
                e.due = false;
                self.exchange = Some(e);
                self.counters.sent += 1;
                Some(len)
            }
            Err(_) => {
                self.counters.transmit_buffer_too_small += 1;
                None
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    fn push_event(&mut self, event: ClientEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Handles one DHCPv6 message (a UDP payload to port 546) from `src`.
    pub fn handle<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        src: Ipv6Address,
        payload: &[u8],
        rng: &mut R,
    ) {
        self.counters.received += 1;
        let Ok(packet) = Packet::new_checked(payload) else {
            self.counters.malformed += 1;
            return;
        };
        let mut ia_storage = [IaPdRepr::default(); MAX_IAS];
        let mut prefix_storage = [IaPrefixRepr::default(); MAX_PREFIXES];
        let mut oro_storage = [0u16; MAX_ORO];
        let Ok(msg) = MessageRepr::parse(
            &packet,
            &mut ia_storage,
            &mut prefix_storage,
            &mut oro_storage,
        ) else {
            self.counters.malformed += 1;
            return;
        };
        if !matches!(msg.msg_type, MessageType::Advertise | MessageType::Reply) {
            self.counters.not_for_client += 1;
            return;
        }
        let Some(e) = self
            .exchange
            .filter(|e| e.xid == msg.transaction_id && e.count > 0)
        else {
            self.counters.wrong_transaction_id += 1;
            return;
        };
        // §16.3 / §16.10: discard without a Client Identifier matching ours or without a
        // Server Identifier.
        if msg.client_id != Some(self.config.duid.as_bytes()) {
            self.counters.wrong_client_id += 1;
            return;
        }
        let Some(server) = msg.server_id.and_then(Duid::new) else {
            self.counters.missing_server_id += 1;
            return;
        };
        log::debug!("dhcpv6 client: {:?} from {src}", msg.msg_type);
        match (msg.msg_type, e.kind) {
            (MessageType::Advertise, MessageType::Solicit) => {
                self.advertise(now, rng, &msg, server, e)
            }
            (MessageType::Reply, MessageType::Release) => {
                // §18.2.10.2: any Reply ends the Release exchange.
                self.exchange = None;
                self.releasing = None;
                self.state = ClientState::Idle;
            }
            (MessageType::Reply, MessageType::Solicit)
                if self.config.rapid_commit && msg.rapid_commit =>
            {
                self.reply(now, rng, &msg, server, e.kind)
            }
            (
                MessageType::Reply,
                MessageType::Request | MessageType::Renew | MessageType::Rebind,
            ) => self.reply(now, rng, &msg, server, e.kind),
            _ => self.counters.unexpected_type += 1,
        }
    }

    /// Our IA_PD's first usable prefix, if the message has one.
    /// (prefix, preferred lifetime, valid lifetime).
    fn usable_prefix(&mut self, msg: &MessageRepr<'_>) -> Option<(Ipv6Cidr, u32, u32)> {
        let ia = msg.ia_pd.iter().find(|ia| ia.iaid == self.config.iaid)?;
        let mut found = None;
        for p in ia.prefixes {
            if p.preferred_lifetime > p.valid_lifetime {
                // §21.22: "The client MUST discard any prefixes for which the preferred
                // lifetime is greater than the valid lifetime."
                self.counters.invalid_prefix += 1;
            } else if p.valid_lifetime > 0 && found.is_none() {
                found = Some(*p);
            }
        }
        found.map(|p: IaPrefixRepr<'_>| {
            (
                Ipv6Cidr::new(p.prefix, p.prefix_len),
                p.preferred_lifetime,
                p.valid_lifetime,
            )
        })
    }

    /// §18.2.9: keep the best Advertise; take it at once if its preference is 255 or the
    /// first RT has elapsed.
    fn advertise<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        msg: &MessageRepr<'_>,
        server: Duid,
        e: Exchange,
    ) {
        let no_prefix = msg.status.is_some_and(|s| s.code != status_code::SUCCESS);
        let Some((prefix, _, _)) = self.usable_prefix(msg).filter(|_| !no_prefix) else {
            // §18.2.9: "The client MUST ignore any Advertise message that contains no
            // addresses ... and no delegated prefixes".
            self.counters.advertise_without_prefix += 1;
            return;
        };
        let preference = msg.preference.unwrap_or(0);
        if self.offer.is_none_or(|o| preference > o.preference) {
            self.offer = Some(Offer {
                server,
                preference,
                prefix,
            });
        }
        if preference == 255 || e.collect_until.is_some_and(|t| now >= t) {
            self.begin(now, rng, MessageType::Request);
            self.handle_timeout(now, rng);
        }
    }

    /// §18.2.10: a Reply to Request, Renew, Rebind or a Rapid Commit Solicit.
    fn reply<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        msg: &MessageRepr<'_>,
        server: Duid,
        kind: MessageType,
    ) {
        if let Some(s) = msg.status.filter(|s| s.code != status_code::SUCCESS) {
            if s.code == status_code::NOT_ON_LINK && kind == MessageType::Request {
                // §18.2.10.1: NotOnLink to a Request: start over with Solicit.
                self.begin(now, rng, MessageType::Solicit);
                self.handle_timeout(now, rng);
            }
            // UnspecFail, UseMulticast (this client always multicasts) and the like: the
            // exchange goes on retransmitting.
            self.counters.error_status += 1;
            return;
        }
        let Some(ia) = msg
            .ia_pd
            .iter()
            .find(|ia| ia.iaid == self.config.iaid)
            .copied()
        else {
            self.counters.invalid_ia += 1;
            return;
        };
        if ia.t1 > ia.t2 && ia.t2 > 0 {
            // §21.21: "the client discards the IA_PD option".
            self.counters.invalid_ia += 1;
            return;
        }
        match ia.status.map(|s| s.code) {
            Some(status_code::NO_PREFIX_AVAIL) => {
                // §18.2.10.1: try again with Solicit (its backoff paces the retries).
                self.counters.no_prefix_avail += 1;
                self.begin(now, rng, MessageType::Solicit);
                return;
            }
            Some(status_code::NO_BINDING) if kind != MessageType::Request => {
                // §18.2.10.1: "the client sends a Request to reinstate its bindings".
                self.counters.no_binding += 1;
                if let Some(b) = self.binding {
                    self.offer = Some(Offer {
                        server,
                        preference: 0,
                        prefix: b.prefix,
                    });
                    self.begin(now, rng, MessageType::Request);
                    self.handle_timeout(now, rng);
                }
                return;
            }
            Some(code) if code != status_code::SUCCESS => {
                self.counters.error_status += 1;
                return;
            }
            _ => {}
        }
        let mut old = self.binding.map(|b| b.prefix);
        // Our prefix sent back with valid lifetime 0 is withdrawn (§18.2.10.1).
        if let Some(withdrawn) = old
            && ia.prefixes.iter().any(|p| {
                p.valid_lifetime == 0 && Ipv6Cidr::new(p.prefix, p.prefix_len) == withdrawn
            })
        {
            self.binding = None;
            old = None;
            self.push_event(ClientEvent::Lost {
                prefix: withdrawn,
                reason: LostReason::Withdrawn,
            });
        }
        let Some((prefix, preferred, valid)) = self.usable_prefix(msg) else {
            self.counters.invalid_ia += 1;
            if self.binding.is_none() {
                self.begin(now, rng, MessageType::Solicit);
            }
            return;
        };
        let preferred_until = after(now, preferred);
        let valid_until = after(now, valid);
        // §21.21 / §14.2: with T1 or T2 of 0 the client picks them, 0.5 and 0.8 of the
        // preferred lifetime; an infinite preferred lifetime means no renewal.
        let (t1, t2) = match (ia.t1, ia.t2) {
            (0, _) | (_, 0) if preferred == INFINITY => (INFINITY, INFINITY),
            (0, _) | (_, 0) => (preferred / 2, preferred / 5 * 4),
            (t1, t2) => (t1, t2),
        };
        self.binding = Some(Binding {
            server,
            prefix,
            t1_at: after(now, t1),
            t2_at: after(now, t2),
            preferred_until,
            valid_until,
        });
        self.exchange = None;
        self.offer = None;
        self.state = ClientState::Bound;
        let event = match old {
            Some(old) if old == prefix => ClientEvent::Renewed {
                prefix,
                preferred_until,
                valid_until,
            },
            other => {
                if let Some(old) = other {
                    self.push_event(ClientEvent::Lost {
                        prefix: old,
                        reason: LostReason::Withdrawn,
                    });
                }
                log::info!("dhcpv6 client: bound {prefix}");
                ClientEvent::Bound {
                    prefix,
                    preferred_until,
                    valid_until,
                }
            }
        };
        self.push_event(event);
    }
}

fn prefix_repr(prefix: Ipv6Cidr) -> IaPrefixRepr<'static> {
    IaPrefixRepr {
        prefix_len: prefix.prefix_len(),
        prefix: prefix.address(),
        ..IaPrefixRepr::default()
    }
}

/// RAND of RFC 8415 §15 in thousandths: uniform in -100..=100 (±0.1).
fn rand_permille<R: RngCore + ?Sized>(rng: &mut R) -> i64 {
    i64::from(rng.next_u32() % 201) - 100
}

/// `base + rand/1000 * scale`.
fn jitter(base: Duration, scale: Duration, rand_permille: i64) -> Duration {
    let micros = scale.total_micros() as i64 * rand_permille / 1000;
    Duration::from_micros((base.total_micros() as i64 + micros).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_bounds() {
        let s = Duration::from_secs(1);
        assert_eq!(jitter(s, s, 100), Duration::from_millis(1100));
        assert_eq!(jitter(s, s, -100), Duration::from_millis(900));
        assert_eq!(jitter(s * 2, s, 0), Duration::from_secs(2));
    }
}
