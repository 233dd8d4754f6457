//! The delegating router: [`PrefixDelegator`], a DHCPv6 server for IA_PD only (RFC 8415 §18.3).

use std::collections::VecDeque;

use bridgeless_wire::Error as WireError;
use bridgeless_wire::dhcpv6::{
    DhcpOption, IaPdRepr, IaPrefixRepr, MAX_DUID_LEN, MessageRepr, MessageType, Packet, StatusRepr,
    option_code, status_code,
};
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::pool::{PoolError, PrefixPool};
use super::{Duid, MAX_IAS, MAX_MESSAGE_LEN, MAX_ORO, MAX_PREFIXES, after};

/// IA Prefix options per IA_PD in a reply: the delegated one and up to three the client
/// listed that are no longer its own, sent back with lifetimes 0 (RFC 8415 §18.3.4).
const REPLY_PREFIXES: usize = 4;

/// How the server is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The prefix to delegate from (for the core router, the one configured by hand; for a
    /// downstream router, the one it was delegated).
    pub prefix: Ipv6Cidr,
    /// The length of the prefixes handed out.
    pub delegated_len: u8,
    /// The first this-many blocks of `prefix` are kept for the router's own links and never
    /// delegated (see [`PrefixDelegator::reserved_block`]).
    pub reserved_blocks: u64,
    /// Preferred lifetime of delegated prefixes, seconds.
    pub preferred_lifetime: u32,
    /// Valid lifetime of delegated prefixes, seconds; a lease ends this long after the last
    /// Request, Renew or Rebind.
    pub valid_lifetime: u32,
    /// T1 sent to clients, seconds (RFC 8415 §14.2 recommends 0.5 × preferred lifetime).
    pub t1: u32,
    /// T2 sent to clients, seconds (RFC 8415 §14.2 recommends 0.8 × preferred lifetime).
    pub t2: u32,
    /// The server's DUID, sent in every Server Identifier.
    pub server_duid: Duid,
    /// The most leases held at once; more clients get NoPrefixAvail.
    pub max_leases: usize,
    /// The most replies waiting for [`PrefixDelegator::poll_transmit`]; a message that
    /// arrives when the queue is full is dropped and counted.
    pub max_pending: usize,
    /// Answer a Solicit that carries Rapid Commit with a committing Reply (RFC 8415 §18.3.1).
    pub rapid_commit: bool,
    /// A Preference option for Advertise messages (RFC 8415 §21.8), if any.
    pub preference: Option<u8>,
}

impl ServerConfig {
    /// Delegates `/delegated_len` blocks of `prefix` with these defaults: block 0 reserved,
    /// preferred lifetime 1 h, valid 2 h, T1 30 min, T2 48 min, 64 leases, 16 pending
    /// replies, no Rapid Commit, no Preference.
    pub fn new(prefix: Ipv6Cidr, delegated_len: u8, server_duid: Duid) -> ServerConfig {
        ServerConfig {
            prefix,
            delegated_len,
            reserved_blocks: 1,
            preferred_lifetime: 3600,
            valid_lifetime: 7200,
            t1: 1800,
            t2: 2880,
            server_duid,
            max_leases: 64,
            max_pending: 16,
            rapid_commit: false,
            preference: None,
        }
    }
}

/// A reply for the caller to send: `len` octets of UDP payload, from port 547 to port 546 of
/// `dst` on `link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The link the request came from.
    pub link: usize,
    /// The client's address (the source of its message).
    pub dst: Ipv6Address,
    /// Octets written to the buffer.
    pub len: usize,
}

/// A delegated prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The prefix.
    pub prefix: Ipv6Cidr,
    /// The link the client is on: route `prefix` there.
    pub link: usize,
    /// The client's address, as its last message came from.
    pub client: Ipv6Address,
    /// The client's DUID.
    pub duid: Duid,
    /// The client's IAID for this IA_PD.
    pub iaid: u32,
    /// When the prefix stops being preferred.
    pub preferred_until: Instant,
    /// When the lease expires unless renewed.
    pub valid_until: Instant,
}

/// What the router must do about its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// A prefix was delegated: route it to `link`.
    Delegated {
        /// The link to route it to.
        link: usize,
        /// The prefix.
        prefix: Ipv6Cidr,
        /// The client.
        client: Ipv6Address,
        /// When it expires unless renewed.
        valid_until: Instant,
    },
    /// A lease was extended (Request, Renew or Rebind of a known binding).
    Renewed {
        /// The link it is routed to.
        link: usize,
        /// The prefix.
        prefix: Ipv6Cidr,
        /// The client.
        client: Ipv6Address,
        /// The new expiry.
        valid_until: Instant,
    },
    /// The client released the prefix: remove its route; it is back in the pool.
    Released {
        /// The link it was routed to.
        link: usize,
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// The lease expired: remove its route; the prefix is back in the pool.
    Expired {
        /// The link it was routed to.
        link: usize,
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// A client asked for a prefix and none was left (it was told NoPrefixAvail).
    PoolExhausted {
        /// The link it asked on.
        link: usize,
        /// The client.
        client: Ipv6Address,
    },
}

/// Why a message got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Not a well-formed client/server message (RFC 8415 §16: discard).
    Malformed,
    /// A relay message: a point-to-point link has no relay agent.
    Relay,
    /// More IA_PDs, IA Prefixes or requested options than the server reads at once.
    TooManyOptions,
    /// A message only servers send (Advertise, Reply, Reconfigure), or an unknown type
    /// (RFC 8415 §16).
    NotForServer,
    /// No Client Identifier where RFC 8415 §16 requires one.
    MissingClientId,
    /// A Server Identifier in a Solicit, Confirm or Rebind (RFC 8415 §16.2, §16.5, §16.7).
    UnexpectedServerId,
    /// No Server Identifier in a Request, Renew, Release or Decline (§16.4, §16.6, §16.8,
    /// §16.9).
    MissingServerId,
    /// A Server Identifier that is not ours: the message is for another server.
    OtherServer,
    /// A Confirm: it checks addresses, and a server that assigns none cannot perform the
    /// test, so it "MUST NOT send a Reply" (RFC 8415 §18.3.3).
    Confirm,
    /// A Rebind for which the server has no binding and nothing to say (RFC 8415 §18.3.5).
    RebindUnknown,
    /// The source address is not one a reply can be sent to (unspecified or multicast).
    BadSource,
    /// The reply queue was full.
    QueueFull,
    /// The reply did not fit in [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN).
    ReplyTooLarge,
}

/// What the server received, sent and ignored, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerCounters {
    /// Messages handed to [`PrefixDelegator::handle`].
    pub received: u64,
    /// Replies (Advertise and Reply) handed out by `poll_transmit`.
    pub sent: u64,
    /// `poll_transmit` buffers too small (the reply stays queued).
    pub transmit_buffer_too_small: u64,
    /// See [`Dropped::Malformed`].
    pub malformed: u64,
    /// See [`Dropped::Relay`].
    pub relay: u64,
    /// See [`Dropped::TooManyOptions`].
    pub too_many_options: u64,
    /// See [`Dropped::NotForServer`].
    pub not_for_server: u64,
    /// See [`Dropped::MissingClientId`].
    pub missing_client_id: u64,
    /// See [`Dropped::UnexpectedServerId`].
    pub unexpected_server_id: u64,
    /// See [`Dropped::MissingServerId`].
    pub missing_server_id: u64,
    /// See [`Dropped::OtherServer`].
    pub other_server: u64,
    /// See [`Dropped::Confirm`].
    pub confirm: u64,
    /// See [`Dropped::RebindUnknown`].
    pub rebind_unknown: u64,
    /// See [`Dropped::BadSource`].
    pub bad_source: u64,
    /// See [`Dropped::QueueFull`].
    pub queue_full: u64,
    /// See [`Dropped::ReplyTooLarge`].
    pub reply_too_large: u64,
    /// IA_PD or IA_NA options beyond [`MAX_IAS`](super::MAX_IAS) in one message, ignored.
    pub ias_ignored: u64,
    /// IA_NA options answered with NoAddrsAvail (Solicit, Request, Renew, Rebind) or
    /// NoBinding (Release, Decline): this server assigns no addresses.
    pub ia_na_refused: u64,
    /// IA_PDs answered with NoPrefixAvail because the pool was exhausted.
    pub pool_exhausted: u64,
    /// Prefix hints not honoured (outside the pool, wrong length, reserved or in use).
    pub hints_ignored: u64,
    /// IA_PDs in Renew or Release with no binding, answered NoBinding.
    pub no_binding: u64,
    /// Leases that expired.
    pub expired: u64,
    /// Events lost because the event queue was full.
    pub events_lost: u64,
}

impl ServerCounters {
    fn count(&mut self, reason: Dropped) {
        let c = match reason {
            Dropped::Malformed => &mut self.malformed,
            Dropped::Relay => &mut self.relay,
            Dropped::TooManyOptions => &mut self.too_many_options,
            Dropped::NotForServer => &mut self.not_for_server,
            Dropped::MissingClientId => &mut self.missing_client_id,
            Dropped::UnexpectedServerId => &mut self.unexpected_server_id,
            Dropped::MissingServerId => &mut self.missing_server_id,
            Dropped::OtherServer => &mut self.other_server,
            Dropped::Confirm => &mut self.confirm,
            Dropped::RebindUnknown => &mut self.rebind_unknown,
            Dropped::BadSource => &mut self.bad_source,
            Dropped::QueueFull => &mut self.queue_full,
            Dropped::ReplyTooLarge => &mut self.reply_too_large,
        };
        *c += 1;
    }
}

/// The answer for one IA_PD.
#[derive(Clone, Copy)]
struct IaAnswer {
    iaid: u32,
    prefixes: [IaPrefixRepr<'static>; REPLY_PREFIXES],
    count: usize,
    status: Option<StatusRepr<'static>>,
}

impl IaAnswer {
    fn new(iaid: u32) -> IaAnswer {
        IaAnswer {
            iaid,
            prefixes: [IaPrefixRepr::default(); REPLY_PREFIXES],
            count: 0,
            status: None,
        }
    }

    fn push(&mut self, prefix: Ipv6Cidr, preferred: u32, valid: u32) {
        if let Some(slot) = self.prefixes.get_mut(self.count) {
            *slot = IaPrefixRepr {
                preferred_lifetime: preferred,
                valid_lifetime: valid,
                prefix_len: prefix.prefix_len(),
                prefix: prefix.address(),
                status: None,
            };
            self.count += 1;
        }
    }
}

const fn status(code: u16, message: &'static str) -> StatusRepr<'static> {
    StatusRepr {
        code,
        message: message.as_bytes(),
    }
}

const SUCCESS: StatusRepr<'static> = status(status_code::SUCCESS, "success");
const NO_PREFIX_AVAIL: StatusRepr<'static> =
    status(status_code::NO_PREFIX_AVAIL, "no prefix available");
const NO_ADDRS_AVAIL: StatusRepr<'static> = status(
    status_code::NO_ADDRS_AVAIL,
    "this server delegates prefixes only",
);
const NO_BINDING: StatusRepr<'static> = status(status_code::NO_BINDING, "no binding");

/// The reply queue: `max_pending` buffers allocated once.
#[derive(Debug)]
struct Queue {
    slots: Vec<[u8; MAX_MESSAGE_LEN]>,
    free: Vec<usize>,
    pending: VecDeque<(usize, Transmit)>,
}

/// The delegating router: a DHCPv6 server that delegates prefixes (IA_PD) from a
/// [`PrefixPool`] and assigns no addresses (RFC 8415 §18.3).
///
/// Driving it: hand every UDP datagram received on port 547 to [`handle`](Self::handle)
/// with the link it came in on and its source address; send what
/// [`poll_transmit`](Self::poll_transmit) writes from port 547 to port 546 of the given
/// address on the given link (from a link-local address of the router's); call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout); apply
/// each [`poll_event`](Self::poll_event) to the routing table.
///
/// # Policy
///
/// - Every delegated prefix has the configured length. A client's hint is honoured only when
///   it names a free, unreserved block of the pool of exactly that length; a length-only
///   hint (prefix `::`) of another length is ignored (RFC 8415 §18.3.1 leaves hints to
///   server policy), and both are counted in [`ServerCounters::hints_ignored`].
/// - Solicit does not commit anything (RFC 8415 §18.3.1), unless Rapid Commit is enabled and
///   asked for: the Advertise names the block the client would get, chosen stably from its
///   DUID and IAID.
/// - Bindings are keyed by link, DUID and IAID. A Renew or Rebind for a binding the server
///   lost (after a restart) re-creates it if the prefix is a free block of the pool.
/// - The destination of a message is not checked: on a point-to-point link unicast and
///   multicast reach only this server.
#[derive(Debug)]
pub struct PrefixDelegator {
    config: ServerConfig,
    pool: PrefixPool,
    leases: Vec<Lease>,
    queue: Queue,
    events: VecDeque<ServerEvent>,
    max_events: usize,
    counters: ServerCounters,
}

impl PrefixDelegator {
    /// A server with `config`. [`PoolError::InvalidConfig`] if the pool cannot be built,
    /// lifetimes are out of order (T1 > T2, preferred > valid), or `max_leases` or
    /// `max_pending` is 0.
    pub fn new(config: ServerConfig) -> Result<PrefixDelegator, PoolError> {
        if config.preferred_lifetime > config.valid_lifetime
            || config.t1 > config.t2
            || config.max_leases == 0
            || config.max_pending == 0
        {
            return Err(PoolError::InvalidConfig);
        }
        let pool = PrefixPool::new(
            config.prefix,
            config.delegated_len,
            config.reserved_blocks,
            config.max_leases,
        )?;
        let queue = Queue {
            slots: vec![[0; MAX_MESSAGE_LEN]; config.max_pending],
            free: (0..config.max_pending).rev().collect(),
            pending: VecDeque::with_capacity(config.max_pending),
        };
        let max_events = 2 * config.max_leases + 16;
        Ok(PrefixDelegator {
            leases: Vec::with_capacity(config.max_leases),
            events: VecDeque::with_capacity(max_events),
            max_events,
            pool,
            queue,
            config,
            counters: ServerCounters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The pool prefixes are delegated from.
    pub fn pool(&self) -> &PrefixPool {
        &self.pool
    }

    /// Reserved block `index` (below `reserved_blocks`) for the router's own links.
    pub fn reserved_block(&self, index: u64) -> Option<Ipv6Cidr> {
        self.pool.reserved_block(index)
    }

    /// The leases held now.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.iter()
    }

    /// What was received, sent and dropped.
    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    /// Handles one DHCPv6 message (a UDP payload to port 547) from `src` on `link`, queueing
    /// the answer, if any, for [`poll_transmit`](Self::poll_transmit). Returns why it was
    /// dropped, if it was (also counted).
    pub fn handle(
        &mut self,
        now: Instant,
        link: usize,
        src: Ipv6Address,
        payload: &[u8],
    ) -> Result<(), Dropped> {
        self.counters.received += 1;
        let result = self.process(now, link, src, payload);
        if let Err(reason) = result {
            log::debug!("dhcpv6 server: dropped a message from {src} on link {link}: {reason:?}");
            self.counters.count(reason);
        }
        result
    }

    fn process(
        &mut self,
        now: Instant,
        link: usize,
        src: Ipv6Address,
        payload: &[u8],
    ) -> Result<(), Dropped> {
        let packet = Packet::new_checked(payload).map_err(|e| match e {
            WireError::Unsupported => Dropped::Relay,
            _ => Dropped::Malformed,
        })?;
        let mut ia_storage = [IaPdRepr::default(); MAX_IAS];
        let mut prefix_storage = [IaPrefixRepr::default(); MAX_PREFIXES];
        let mut oro_storage = [0u16; MAX_ORO];
        let msg = MessageRepr::parse(
            &packet,
            &mut ia_storage,
            &mut prefix_storage,
            &mut oro_storage,
        )
        .map_err(|e| match e {
            WireError::BufferTooSmall => Dropped::TooManyOptions,
            WireError::Unsupported => Dropped::Relay,
            _ => Dropped::Malformed,
        })?;
        // IA_NA options, which `MessageRepr` skips: their IAIDs, to refuse them.
        let mut ia_na = [0u32; MAX_IAS];
        let mut ia_na_count = 0;
        for option in packet.options().flatten() {
            if let DhcpOption::IaNa(ia) = option {
                if let Some(slot) = ia_na.get_mut(ia_na_count) {
                    *slot = ia.iaid;
                    ia_na_count += 1;
                } else {
                    self.counters.ias_ignored += 1;
                }
            }
        }
        let ia_na = &ia_na[..ia_na_count];

        use MessageType::*;
        let our_id = self.config.server_duid;
        // RFC 8415 §16: which messages carry which identifiers.
        let (needs_client_id, server_id_rule) = match msg.msg_type {
            Solicit | Rebind | Confirm => (true, Some(false)),
            Request | Renew | Release | Decline => (true, Some(true)),
            InformationRequest => (false, None),
            _ => return Err(Dropped::NotForServer),
        };
        if needs_client_id && msg.client_id.is_none() {
            return Err(Dropped::MissingClientId);
        }
        match (server_id_rule, msg.server_id) {
            (Some(false), Some(_)) => return Err(Dropped::UnexpectedServerId),
            (Some(true), None) => return Err(Dropped::MissingServerId),
            (_, Some(id)) if id != our_id.as_bytes() => return Err(Dropped::OtherServer),
            _ => {}
        }
        if msg.msg_type == Confirm {
            return Err(Dropped::Confirm);
        }
        if src.is_unspecified() || src.is_multicast() {
            return Err(Dropped::BadSource);
        }
        if self.queue.free.is_empty() {
            return Err(Dropped::QueueFull);
        }
        // Infallible for every type but Information-request, checked above.
        let duid = msg.client_id.and_then(Duid::new);

        let rapid = msg.msg_type == Solicit && msg.rapid_commit && self.config.rapid_commit;
        let reply_type = if msg.msg_type == Solicit && !rapid {
            Advertise
        } else {
            Reply
        };
        let mut answers = [IaAnswer::new(0); MAX_IAS];
        let mut answered = 0;
        let mut delegated_any = false;
        if let Some(duid) = duid {
            for ia in msg.ia_pd {
                let mut answer = IaAnswer::new(ia.iaid);
                let say = match msg.msg_type {
                    Solicit => self.offer(now, link, src, duid, ia, rapid, &mut answer),
                    Request => self.offer(now, link, src, duid, ia, true, &mut answer),
                    Renew => self.extend(now, link, src, duid, ia, false, &mut answer),
                    Rebind => self.extend(now, link, src, duid, ia, true, &mut answer),
                    Release => self.release(link, duid, ia, &mut answer),
                    // Decline names addresses (§18.3.8); an IA_PD in it is not ours to judge.
                    _ => false,
                };
                delegated_any |= answer.count > 0 && answer.prefixes[0].valid_lifetime > 0;
                if say {
                    answers[answered] = answer;
                    answered += 1;
                }
            }
        }
        if msg.msg_type == Rebind && answered == 0 {
            // §18.3.5: without a binding or a prefix to judge, the server stays silent.
            return Err(Dropped::RebindUnknown);
        }

        // IA_NA: this server assigns no addresses. §18.3.2 / §18.3.9: NoAddrsAvail for
        // Solicit and Request. For Renew and Rebind, §18.3.4 / §18.3.5: a server that
        // creates bindings on Renew (this one does, for prefixes lost in a restart) "but will
        // not assign any leases to an IA" answers NoAddrsAvail; NoBinding would make the
        // client send a Request at every renewal (§18.2.10.1), as dhcpcd does. §18.3.7 and
        // §18.3.8: NoBinding for Release and Decline.
        let na_status = match msg.msg_type {
            Solicit | Request | Renew | Rebind => Some(NO_ADDRS_AVAIL),
            Release | Decline => Some(NO_BINDING),
            _ => None,
        };
        let mut top_status = match msg.msg_type {
            // §18.3.7, §18.3.8: a Reply to Release or Decline carries Success.
            Release | Decline => Some(SUCCESS),
            _ => None,
        };
        let mut include_na = na_status.is_some();
        if reply_type == Advertise && !delegated_any {
            // §18.3.9: an Advertise offering nothing carries only a Status Code.
            top_status = Some(if msg.ia_pd.is_empty() && !ia_na.is_empty() {
                NO_ADDRS_AVAIL
            } else {
                NO_PREFIX_AVAIL
            });
            answered = 0;
            include_na = false;
            if msg.ia_pd.is_empty() && ia_na.is_empty() {
                top_status = None;
            }
        }

        let mut ia_pd = [IaPdRepr::default(); MAX_IAS];
        for (slot, answer) in ia_pd.iter_mut().zip(&answers[..answered]) {
            *slot = IaPdRepr {
                iaid: answer.iaid,
                t1: if answer.status.is_some() {
                    0
                } else {
                    self.config.t1
                },
                t2: if answer.status.is_some() {
                    0
                } else {
                    self.config.t2
                },
                prefixes: &answer.prefixes[..answer.count],
                status: answer.status,
            };
        }
        let reply = MessageRepr {
            msg_type: reply_type,
            transaction_id: msg.transaction_id,
            client_id: msg.client_id,
            server_id: Some(our_id.as_bytes()),
            elapsed_time: None,
            requested_options: &[],
            preference: self.config.preference.filter(|_| reply_type == Advertise),
            // §18.3.1: a committing Reply to a Solicit carries Rapid Commit.
            rapid_commit: rapid,
            status: top_status,
            ia_pd: &ia_pd[..answered],
        };
        let slot = self.queue.free.pop().ok_or(Dropped::QueueFull)?;
        let buf = &mut self.queue.slots[slot];
        let mut len = match reply.emit(buf) {
            Ok(len) => len,
            Err(_) => {
                self.queue.free.push(slot);
                return Err(Dropped::ReplyTooLarge);
            }
        };
        if include_na && let Some(na_status) = na_status {
            for &iaid in ia_na {
                match emit_ia_na(&mut buf[len..], iaid, na_status) {
                    Some(n) => len += n,
                    None => {
                        self.queue.free.push(slot);
                        return Err(Dropped::ReplyTooLarge);
                    }
                }
                self.counters.ia_na_refused += 1;
            }
        }
        let transmit = Transmit {
            link,
            dst: src,
            len,
        };
        self.queue.pending.push_back((slot, transmit));
        Ok(())
    }

    /// Solicit or Request (§18.3.1, §18.3.2): the client's binding if it has one, else a
    /// block from the pool (its hint if that fits policy). Commits when `commit`.
    #[allow(clippy::too_many_arguments)]
    fn offer(
        &mut self,
        now: Instant,
        link: usize,
        src: Ipv6Address,
        duid: Duid,
        ia: &IaPdRepr<'_>,
        commit: bool,
        answer: &mut IaAnswer,
    ) -> bool {
        if let Some(i) = self.find(link, &duid, ia.iaid) {
            let prefix = self.leases[i].prefix;
            if commit {
                self.refresh(now, i, src);
            }
            answer.push(
                prefix,
                self.config.preferred_lifetime,
                self.config.valid_lifetime,
            );
            return true;
        }
        let hint = ia.prefixes.iter().find_map(|p| {
            let exact = p.prefix_len == self.config.delegated_len && !p.prefix.is_unspecified();
            let cidr = Ipv6Cidr::new(p.prefix, p.prefix_len.min(128));
            (exact && self.pool.is_delegable(cidr) && !self.pool.is_allocated(cidr)).then_some(cidr)
        });
        let hinted = ia
            .prefixes
            .iter()
            .any(|p| p.prefix_len != 0 || !p.prefix.is_unspecified());
        let exact_len_only = ia
            .prefixes
            .iter()
            .all(|p| p.prefix.is_unspecified() && p.prefix_len == self.config.delegated_len);
        if hinted && hint.is_none() && !exact_len_only {
            self.counters.hints_ignored += 1;
        }
        let (key, key_len) = pool_key(&duid, ia.iaid);
        let key = &key[..key_len];
        let chosen = match (hint, commit) {
            (Some(h), true) => self.pool.allocate_exact(h),
            (Some(h), false) if self.pool.available() > 0 => Ok(h),
            (Some(_), false) => Err(PoolError::Exhausted),
            (None, true) => self.pool.allocate(key),
            (None, false) => self.pool.peek(key),
        };
        match chosen {
            Ok(prefix) => {
                if commit {
                    self.add_lease(now, link, src, duid, ia.iaid, prefix);
                }
                answer.push(
                    prefix,
                    self.config.preferred_lifetime,
                    self.config.valid_lifetime,
                );
            }
            Err(_) => {
                // §18.3.2 / §18.3.9: the IA_PD comes back with NoPrefixAvail.
                log::info!("dhcpv6 server: no prefix left for {src} on link {link}");
                self.counters.pool_exhausted += 1;
                self.push_event(ServerEvent::PoolExhausted { link, client: src });
                answer.status = Some(NO_PREFIX_AVAIL);
            }
        }
        true
    }

    /// Renew or Rebind (§18.3.4, §18.3.5): extend the binding; prefixes the client lists
    /// that are not its binding go back with lifetimes 0. Returns whether to include the IA.
    #[allow(clippy::too_many_arguments)]
    fn extend(
        &mut self,
        now: Instant,
        link: usize,
        src: Ipv6Address,
        duid: Duid,
        ia: &IaPdRepr<'_>,
        rebind: bool,
        answer: &mut IaAnswer,
    ) -> bool {
        let mut bound = self.find(link, &duid, ia.iaid);
        if bound.is_none() {
            // A binding lost (server restart): re-create it if the prefix is free and ours.
            let lost = ia.prefixes.iter().find_map(|p| {
                let cidr = Ipv6Cidr::new(p.prefix, p.prefix_len.min(128));
                (p.valid_lifetime > 0 && self.pool.allocate_exact(cidr).is_ok()).then_some(cidr)
            });
            if let Some(prefix) = lost {
                self.add_lease(now, link, src, duid, ia.iaid, prefix);
                bound = self.find(link, &duid, ia.iaid);
            }
        } else if let Some(i) = bound {
            self.refresh(now, i, src);
        }
        let Some(i) = bound else {
            if !rebind {
                // §18.3.4: "the server returns the IA containing no addresses or delegated
                // prefixes with a Status Code option set to NoBinding".
                answer.status = Some(NO_BINDING);
                self.counters.no_binding += 1;
                return true;
            }
            // §18.3.5: prefixes the server knows are not the client's go back with lifetimes
            // 0; with none to judge, the server says nothing about this IA.
            for p in ia.prefixes {
                answer.push(Ipv6Cidr::new(p.prefix, p.prefix_len.min(128)), 0, 0);
            }
            return answer.count > 0;
        };
        let prefix = self.leases[i].prefix;
        answer.push(
            prefix,
            self.config.preferred_lifetime,
            self.config.valid_lifetime,
        );
        for p in ia.prefixes {
            let cidr = Ipv6Cidr::new(p.prefix, p.prefix_len.min(128));
            if cidr != prefix {
                answer.push(cidr, 0, 0);
            }
        }
        true
    }

    /// Release (§18.3.7): free the binding; an IA without one comes back with NoBinding.
    fn release(
        &mut self,
        link: usize,
        duid: Duid,
        ia: &IaPdRepr<'_>,
        answer: &mut IaAnswer,
    ) -> bool {
        match self.find(link, &duid, ia.iaid) {
            Some(i) => {
                let lease = self.leases.swap_remove(i);
                let _ = self.pool.free(lease.prefix);
                log::info!("dhcpv6 server: {} released", lease.prefix);
                self.push_event(ServerEvent::Released {
                    link: lease.link,
                    prefix: lease.prefix,
                });
                false
            }
            None => {
                self.counters.no_binding += 1;
                answer.status = Some(NO_BINDING);
                true
            }
        }
    }

    fn find(&self, link: usize, duid: &Duid, iaid: u32) -> Option<usize> {
        self.leases
            .iter()
            .position(|l| l.link == link && l.iaid == iaid && l.duid == *duid)
    }

    fn refresh(&mut self, now: Instant, i: usize, src: Ipv6Address) {
        let lease = &mut self.leases[i];
        lease.client = src;
        lease.preferred_until = after(now, self.config.preferred_lifetime);
        lease.valid_until = after(now, self.config.valid_lifetime);
        let event = ServerEvent::Renewed {
            link: lease.link,
            prefix: lease.prefix,
            client: src,
            valid_until: lease.valid_until,
        };
        self.push_event(event);
    }

    fn add_lease(
        &mut self,
        now: Instant,
        link: usize,
        src: Ipv6Address,
        duid: Duid,
        iaid: u32,
        prefix: Ipv6Cidr,
    ) {
        let lease = Lease {
            prefix,
            link,
            client: src,
            duid,
            iaid,
            preferred_until: after(now, self.config.preferred_lifetime),
            valid_until: after(now, self.config.valid_lifetime),
        };
        log::info!("dhcpv6 server: delegated {prefix} to {src} on link {link}");
        // The pool's capacity is max_leases, so this never grows past it.
        self.leases.push(lease);
        self.push_event(ServerEvent::Delegated {
            link,
            prefix,
            client: src,
            valid_until: lease.valid_until,
        });
    }

    fn push_event(&mut self, event: ServerEvent) {
        if self.events.len() >= self.max_events {
            self.counters.events_lost += 1;
        } else {
            self.events.push_back(event);
        }
    }

    /// Writes the next queued reply into `buf` and says where to send it. A buffer shorter
    /// than the reply is counted and the reply stays queued.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let &(slot, transmit) = self.queue.pending.front()?;
        let Some(out) = buf.get_mut(..transmit.len) else {
            self.counters.transmit_buffer_too_small += 1;
            return None;
        };
        out.copy_from_slice(&self.queue.slots[slot][..transmit.len]);
        self.queue.pending.pop_front();
        self.queue.free.push(slot);
        self.counters.sent += 1;
        Some(transmit)
    }

    /// When the next lease expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.leases.iter().map(|l| l.valid_until).min()
    }

    /// Expires the leases whose valid lifetime is over, returning their prefixes to the pool.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.leases.len() {
            if self.leases[i].valid_until <= now {
                let lease = self.leases.swap_remove(i);
                let _ = self.pool.free(lease.prefix);
                self.counters.expired += 1;
                log::info!("dhcpv6 server: lease of {} expired", lease.prefix);
                self.push_event(ServerEvent::Expired {
                    link: lease.link,
                    prefix: lease.prefix,
                });
            } else {
                i += 1;
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }
}

/// The pool's key for a client's IA_PD: its DUID and IAID.
fn pool_key(duid: &Duid, iaid: u32) -> ([u8; MAX_DUID_LEN + 4], usize) {
    let mut key = [0u8; MAX_DUID_LEN + 4];
    let d = duid.as_bytes();
    key[..d.len()].copy_from_slice(d);
    key[d.len()..d.len() + 4].copy_from_slice(&iaid.to_be_bytes());
    (key, d.len() + 4)
}

/// Writes an IA_NA (RFC 8415 §21.4) with IAID `iaid`, T1 = T2 = 0 and a Status Code, which
/// `MessageRepr` does not emit; returns its length or `None` if `buf` is short.
fn emit_ia_na(buf: &mut [u8], iaid: u32, status: StatusRepr<'_>) -> Option<usize> {
    let status_len = 2 + status.message.len();
    let data_len = 12 + 4 + status_len;
    let out = buf.get_mut(..4 + data_len)?;
    out[0..2].copy_from_slice(&option_code::IA_NA.to_be_bytes());
    out[2..4].copy_from_slice(&(data_len as u16).to_be_bytes());
    out[4..8].copy_from_slice(&iaid.to_be_bytes());
    out[8..16].fill(0);
    out[16..18].copy_from_slice(&option_code::STATUS_CODE.to_be_bytes());
    out[18..20].copy_from_slice(&(status_len as u16).to_be_bytes());
    out[20..22].copy_from_slice(&status.code.to_be_bytes());
    out[22..].copy_from_slice(status.message);
    Some(4 + data_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridgeless_wire::dhcpv6::IdentityAssociation;

    #[test]
    fn ia_na_refusal_parses_back() {
        let mut buf = [0xa5u8; 64];
        let n = emit_ia_na(&mut buf, 7, NO_ADDRS_AVAIL).unwrap();
        let mut options = bridgeless_wire::dhcpv6::OptionsIter::new(&buf[..n]);
        let Some(Ok(DhcpOption::IaNa(IdentityAssociation {
            iaid,
            t1,
            t2,
            options: inner,
            ..
        }))) = options.next()
        else {
            panic!("no IA_NA");
        };
        assert_eq!((iaid, t1, t2), (7, 0, 0));
        let inner: Vec<_> = inner.collect();
        assert_eq!(inner, [Ok(DhcpOption::StatusCode(NO_ADDRS_AVAIL))]);
        assert_eq!(options.next(), None);
        assert!(emit_ia_na(&mut buf[..20], 7, NO_ADDRS_AVAIL).is_none());
    }
}
