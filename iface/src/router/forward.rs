//! The data plane: what happens to each packet that arrives on a router link.
//!
//! [`Forwarder::route`] looks at the fixed IPv6 header (and at the extension headers only when
//! a Hop-by-Hop header is present), looks the destination up in the [`RouteTable`] and returns
//! a [`Verdict`]: forward to a link, deliver to the router itself, replicate as multicast, or
//! drop — counted by [`DropReason`] and, where RFC 4443 asks for it, answered with an ICMPv6
//! error written into the caller's buffer. It never allocates and never copies the packet;
//! [`Forwarder::forward_into`] copies it once into the outgoing frame and decrements the hop
//! limit there, leaving every other byte (traffic class, flow label, extension headers)
//! unchanged. [`Forwarder::route_batch`] decides many frames at once with the same rules,
//! looking their destinations up together so that the route table's cache misses overlap.
//!
//! The rules, in the order they are applied:
//!
//! 1. Shorter than its Payload Length says, or not IPv6: dropped (`Truncated`, `NotIpv6`).
//! 2. A multicast, unspecified or loopback source is never forwarded nor answered
//!    (RFC 4291 §2.5.2, §2.5.3, §2.7) (`InvalidSource`).
//! 3. Multicast destinations go to [`Forwarder::route`]'s multicast branch: link scope and
//!    below stay on the link (RFC 4291 §2.7: they are never forwarded), the router's MLD and
//!    the caller's replication decide the rest.
//! 4. A Hop-by-Hop header is checked; an option the router must not skip is answered with
//!    Parameter Problem (RFC 8200 §4.2).
//! 5. The destination is looked up: one of the router's addresses is delivered locally; a
//!    link-local destination that is not the router's is never forwarded (RFC 4291 §2.5.6).
//! 6. A link-local source is not forwarded beyond its link: Destination Unreachable code 2,
//!    beyond scope of source address (RFC 4443 §3.1, RFC 4007 §9).
//! 7. Hop limit 1 or 0: Time Exceeded code 0 (RFC 8200 §3, RFC 4443 §3.3).
//! 8. No route: Destination Unreachable code 0; a prohibit route: code 1; a reject route (part
//!    of the router's own prefix that is not assigned): code 6; the route points back to the
//!    point-to-point link the packet came from: code 3, and the packet is not sent back
//!    (RFC 4443 §3.1); the link is down: code 3.
//! 9. Larger than the outgoing link's MTU: Packet Too Big with that MTU (RFC 4443 §3.2).
//!
//! ICMPv6 errors are never sent about an ICMPv6 error, nor about a packet to a multicast
//! address except Packet Too Big and Parameter Problem code 2 (RFC 4443 §2.4 (e)); they are
//! rate limited by a token bucket (§2.4 (f)) and come from the address of the link the packet
//! arrived on (§2.2), so `traceroute` names every hop.

use bridgeless_wire::frame::{self, Icmpv6Error, emit_icmpv6_error, is_icmpv6_error};
use bridgeless_wire::{Error as WireError, ParamProblemCode};
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use crate::route_table::{BATCH_LANES, RouteTable, TableFull};

/// Identifies one of a router's links: its index, in the order the links were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u16);

impl LinkId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Out of this link (the far end of a point-to-point link is the next hop).
    Link(LinkId),
    /// To the router itself (its own addresses, as /128 routes).
    Local,
    /// Nowhere, answered with Destination Unreachable code 6, reject route (RFC 4443 §3.1):
    /// the parts of the router's own prefix it has not assigned, so that they do not follow
    /// the default route back up the tree.
    Reject,
    /// Nowhere, answered with Destination Unreachable code 1, administratively prohibited.
    Prohibit,
}

/// One link as the data plane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// The link MTU: the largest IPv6 packet sent on it.
    pub mtu: usize,
    /// The router's link-local address on this link.
    pub link_local: Ipv6Address,
    /// The router's global address on this link, the source of ICMPv6 errors about packets
    /// that arrive on it; without one, [`ForwarderConfig::source`] is used.
    pub address: Option<Ipv6Address>,
}

/// The ICMPv6 error rate limit: a token bucket (RFC 4443 §2.4 (f)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpRateLimit {
    /// Errors per second in the long run; 0 sends none.
    pub per_second: u32,
    /// Errors that may be sent back to back.
    pub burst: u32,
}

impl Default for IcmpRateLimit {
    /// 100 per second with bursts of 64: enough for `traceroute`'s parallel probes, little
    /// enough that a flood of bad packets cannot turn the router into an amplifier.
    fn default() -> Self {
        IcmpRateLimit {
            per_second: 100,
            burst: 64,
        }
    }
}

/// Data-plane settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwarderConfig {
    /// Capacity of the route table, fixed at construction.
    pub max_routes: usize,
    /// The ICMPv6 error rate limit.
    pub icmp_rate: IcmpRateLimit,
    /// Source of ICMPv6 errors about packets from links without a global address of their
    /// own (RFC 4443 §2.2 (c): any of the router's unicast addresses).
    pub source: Option<Ipv6Address>,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        ForwarderConfig {
            max_routes: 1024,
            icmp_rate: IcmpRateLimit::default(),
            source: None,
        }
    }
}

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $name:ident => $text:literal, )*) => {
        /// Why the data plane dropped a packet; every reason has a counter
        /// ([`DropCounters`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason { $( $(#[$doc])* $name, )* }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name),*];

            /// A short description.
            pub fn as_str(self) -> &'static str {
                match self { $( DropReason::$name => $text, )* }
            }
        }
    };
}

drop_reasons! {
    /// Arrived on a link the forwarder does not know.
    UnknownLink => "unknown link",
    /// Shorter than 40 octets or than its Payload Length says.
    Truncated => "truncated",
    /// Not an IPv6 packet.
    NotIpv6 => "not IPv6",
    /// A Hop-by-Hop header that does not parse.
    Malformed => "malformed extension headers",
    /// A multicast, unspecified or loopback source address.
    InvalidSource => "invalid source address",
    /// A link-local source with a destination beyond the link.
    BeyondScope => "link-local source beyond its link",
    /// A link-local destination that is not the router's.
    LinkLocalDestination => "link-local destination",
    /// A multicast destination of interface-local or reserved scope.
    MulticastScope => "multicast scope",
    /// Hop limit exhausted.
    HopLimit => "hop limit exceeded",
    /// No route to the destination.
    NoRoute => "no route",
    /// A prohibit route.
    Prohibited => "administratively prohibited",
    /// A reject route (unassigned part of the router's prefix).
    Rejected => "reject route",
    /// The route leads back out of the point-to-point link the packet came from.
    SameLink => "route back to the arrival link",
    /// The outgoing link is down.
    LinkDown => "outgoing link down",
    /// Larger than the outgoing link's MTU.
    TooBig => "packet too big",
    /// A Hop-by-Hop option the router must not skip.
    ParameterProblem => "parameter problem",
}

/// Packets dropped, per [`DropReason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::ALL.len()])
    }
}

impl DropCounters {
    /// Packets dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Every reason with its count.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    fn count(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }
}

/// What became of ICMPv6 errors the data plane wanted to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcmpCounters {
    /// Sent, by type: Destination Unreachable, Packet Too Big, Time Exceeded, Parameter
    /// Problem.
    pub sent: [u64; 4],
    /// Not sent because the invoking packet was an ICMPv6 error or went to a multicast
    /// address (RFC 4443 §2.4 (e)).
    pub suppressed: u64,
    /// Not sent because of the rate limit.
    pub rate_limited: u64,
    /// Not sent because the router has no address to send it from.
    pub no_source: u64,
    /// Not sent because the caller's buffer could not hold one.
    pub buffer_too_small: u64,
}

/// Per-link counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Packets that arrived on the link.
    pub rx_packets: u64,
    /// Their octets.
    pub rx_bytes: u64,
    /// Packets forwarded out of the link.
    pub tx_packets: u64,
    /// Their octets.
    pub tx_bytes: u64,
    /// Packets that arrived on the link and were dropped.
    pub dropped: u64,
    /// ICMPv6 errors sent about packets that arrived on the link.
    pub icmp_errors: u64,
}

/// Data-plane counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Unicast packets forwarded.
    pub forwarded: u64,
    /// Packets for the router itself.
    pub local: u64,
    /// Multicast packets handed to replication.
    pub multicast: u64,
    /// Dropped packets by reason (each arriving packet is counted once: forwarded, local,
    /// multicast or dropped).
    pub dropped: DropCounters,
    /// Copies of multicast packets not sent to one of the links that wanted them
    /// ([`Forwarder::replicate`]), by reason: too big for that link, link down.
    pub copies_dropped: DropCounters,
    /// ICMPv6 errors.
    pub icmp: IcmpCounters,
}

/// What to do with a packet; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the packet's first `len` octets out of `link` with [`Forwarder::forward_into`].
    Forward {
        /// The outgoing link.
        link: LinkId,
        /// The packet's length (octets past it in the frame are not part of the packet).
        len: usize,
    },
    /// The packet (first `len` octets) is for the router itself: one of its addresses, or a
    /// multicast group of link scope (Router Solicitations, MLD, DHCPv6).
    Local {
        /// The packet's length.
        len: usize,
    },
    /// A multicast packet (first `len` octets) that may be forwarded: ask the multicast
    /// routing state which links want it and call [`Forwarder::replicate`] for each.
    Multicast {
        /// The packet's length.
        len: usize,
    },
    /// Dropped and counted.
    Drop(DropReason),
    /// Dropped and counted, and the first `len` octets of the caller's ICMPv6 buffer hold an
    /// error message to send out of `link`.
    Error {
        /// Why the packet was dropped.
        reason: DropReason,
        /// Where the error goes (towards the invoking packet's source).
        link: LinkId,
        /// The error packet's length.
        len: usize,
    },
}

#[derive(Debug, Clone)]
struct Link {
    config: LinkConfig,
    up: bool,
    counters: LinkCounters,
}

/// The token bucket of RFC 4443 §2.4 (f), counted in microseconds of credit: every error
/// costs `1 s / per_second`, and credit accrues with time up to `burst` errors' worth.
#[derive(Debug, Clone)]
struct TokenBucket {
    cost_us: u64,
    cap_us: u64,
    credit_us: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    fn new(limit: IcmpRateLimit) -> Self {
        let cost_us = 1_000_000 / u64::from(limit.per_second.max(1));
        TokenBucket {
            cost_us: if limit.per_second == 0 {
                u64::MAX
            } else {
                cost_us
            },
            cap_us: cost_us.saturating_mul(u64::from(limit.burst.max(1))),
            credit_us: cost_us.saturating_mul(u64::from(limit.burst.max(1))),
            last: None,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = if now > last {
                (now - last).total_micros()
            } else {
                0
            };
            self.credit_us = self.credit_us.saturating_add(elapsed).min(self.cap_us);
        }
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
        if self.credit_us >= self.cost_us {
            self.credit_us -= self.cost_us;
            true
        } else {
            false
        }
    }
}

/// The router's data plane; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Forwarder {
    links: Vec<Link>,
    routes: RouteTable<Route>,
    config: ForwarderConfig,
    bucket: TokenBucket,
    counters: Counters,
}

/// Offsets in the fixed IPv6 header (RFC 8200 §3).
mod field {
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: core::ops::Range<usize> = 8..24;
    pub const DST: core::ops::Range<usize> = 24..40;
    pub const HEADER_LEN: usize = 40;
}

/// fe80::/10 (RFC 4291 §2.5.6), on an address read as a big-endian `u128`.
#[inline]
/// An ICMPv6 MLD message (query, MLDv1 Report or Done, MLDv2 Report) behind a Hop-by-Hop
/// Options header with the MLD Router Alert (RFC 2710 §3, RFC 3810 §5).
fn is_mld(packet: &[u8]) -> bool {
    frame::parse(packet).is_ok_and(|info| {
        info.router_alert() == Some(0) && matches!(info.icmp(), Some((130 | 131 | 132 | 143, _)))
    })
}

fn is_link_local(addr: u128) -> bool {
    addr >> 118 == 0xfe80 >> 6
}

/// ff00::/8 (RFC 4291 §2.7).
#[inline]
fn is_multicast(addr: u128) -> bool {
    addr >> 120 == 0xff
}

/// The address at `range` of a fixed header, as a big-endian `u128`.
#[inline]
fn addr_at(h: &[u8; field::HEADER_LEN], range: core::ops::Range<usize>) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[range]);
    u128::from_be_bytes(a)
}

/// The destination a lookup for `frame` would use: where the route table may be consulted
/// (a whole fixed header with a unicast destination), its destination address; otherwise
/// the unspecified address, whose lookup is cheap and whose result is unused.
#[inline]
fn lookup_key(frame: &[u8]) -> u128 {
    match frame.first_chunk::<{ field::HEADER_LEN }>() {
        Some(h) if !is_multicast(addr_at(h, field::DST)) => addr_at(h, field::DST),
        _ => 0,
    }
}

impl Forwarder {
    /// A forwarder with no links and an empty route table of `config.max_routes` routes.
    pub fn new(config: ForwarderConfig) -> Self {
        Forwarder {
            links: Vec::new(),
            routes: RouteTable::with_capacity(config.max_routes),
            bucket: TokenBucket::new(config.icmp_rate),
            config,
            counters: Counters::default(),
        }
    }

    /// Adds a link (up) and installs its addresses as local /128 routes; returns its id.
    ///
    /// # Errors
    /// [`TableFull`] if the route table cannot take the addresses.
    pub fn add_link(&mut self, config: LinkConfig) -> Result<LinkId, TableFull> {
        let id = LinkId(u16::try_from(self.links.len()).map_err(|_| TableFull)?);
        self.routes
            .insert(Ipv6Cidr::new(config.link_local, 128), Route::Local)?;
        if let Some(addr) = config.address {
            self.routes.insert(Ipv6Cidr::new(addr, 128), Route::Local)?;
        }
        self.links.push(Link {
            config,
            up: true,
            counters: LinkCounters::default(),
        });
        Ok(id)
    }

    /// Gives a link a (new) global address, or removes it; the local routes follow.
    ///
    /// # Errors
    /// [`TableFull`] if the route table cannot take the address.
    pub fn set_link_address(
        &mut self,
        link: LinkId,
        address: Option<Ipv6Address>,
    ) -> Result<(), TableFull> {
        let Some(entry) = self.links.get_mut(link.index()) else {
            return Ok(());
        };
        if let Some(old) = entry.config.address.take() {
            self.routes.remove(Ipv6Cidr::new(old, 128));
        }
        if let Some(new) = address {
            self.routes.insert(Ipv6Cidr::new(new, 128), Route::Local)?;
        }
        if let Some(entry) = self.links.get_mut(link.index()) {
            entry.config.address = address;
        }
        Ok(())
    }

    /// Sets the source of ICMPv6 errors for links without a global address.
    pub fn set_source(&mut self, source: Option<Ipv6Address>) {
        self.config.source = source;
    }

    /// Marks a link up or down; packets routed to a link that is down are answered with
    /// Destination Unreachable code 3.
    pub fn set_link_up(&mut self, link: LinkId, up: bool) {
        if let Some(entry) = self.links.get_mut(link.index()) {
            entry.up = up;
        }
    }

    /// A link's settings.
    pub fn link(&self, link: LinkId) -> Option<&LinkConfig> {
        self.links.get(link.index()).map(|l| &l.config)
    }

    /// How many links there are.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// A link's counters.
    pub fn link_counters(&self, link: LinkId) -> Option<&LinkCounters> {
        self.links.get(link.index()).map(|l| &l.counters)
    }

    /// Data-plane counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The route table, to add and remove routes.
    pub fn routes_mut(&mut self) -> &mut RouteTable<Route> {
        &mut self.routes
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable<Route> {
        &self.routes
    }

    /// Decides what to do with `frame`, which arrived on `in_link`. An ICMPv6 error, if one is
    /// due, is written into `icmp` (1280 octets are enough for any). See the
    /// [module documentation](self) for the rules.
    pub fn route(
        &mut self,
        now: Instant,
        in_link: LinkId,
        frame: &[u8],
        icmp: &mut [u8],
    ) -> Verdict {
        self.route_with(now, in_link, frame, icmp, RouteTable::lookup_value)
    }

    /// Decides what to do with each of `frames`, which arrived on `in_link`, into the
    /// `verdicts` of the same index: the same verdicts, counters, ICMPv6 errors and rate
    /// limiting as calling [`route`](Self::route) for each frame in order, but with the route
    /// lookups of up to 16 frames at a time walked together
    /// ([`RouteTable::lookup_batch`]), so that their memory reads overlap.
    ///
    /// ICMPv6 errors are built in `icmp` (1280 octets are enough for any) and handed to
    /// `on_error` as soon as each is built (the next one overwrites it), with the frame's
    /// index and the link the error goes out of; the frame's verdict is then
    /// [`Verdict::Error`], whose `link` and `len` are those handed over.
    ///
    /// # Panics
    ///
    /// If `verdicts` is shorter than `frames`.
    pub fn route_batch(
        &mut self,
        now: Instant,
        in_link: LinkId,
        frames: &[&[u8]],
        verdicts: &mut [Verdict],
        icmp: &mut [u8],
        mut on_error: impl FnMut(usize, LinkId, &[u8]),
    ) {
        assert!(
            verdicts.len() >= frames.len(),
            "route_batch: too few verdicts"
        );
        let mut dsts = [0u128; BATCH_LANES];
        let mut found = [None; BATCH_LANES];
        for (c, chunk) in frames.chunks(BATCH_LANES).enumerate() {
            let n = chunk.len();
            for (dst, frame) in dsts.iter_mut().zip(chunk) {
                *dst = lookup_key(frame);
            }
            self.routes.lookup_values(&dsts[..n], &mut found[..n]);
            for (j, frame) in chunk.iter().enumerate() {
                let at = c * BATCH_LANES + j;
                let route = found[j];
                let verdict = self.route_with(now, in_link, frame, icmp, |_, _| route);
                if let Verdict::Error { link, len, .. } = verdict {
                    on_error(at, link, &icmp[..len]);
                }
                verdicts[at] = verdict;
            }
        }
    }

    /// [`route`](Self::route) with the route lookup of the destination left to `lookup`, which
    /// is called at most once, and only where the rules consult the route table.
    #[inline(always)]
    fn route_with(
        &mut self,
        now: Instant,
        in_link: LinkId,
        frame: &[u8],
        icmp: &mut [u8],
        lookup: impl FnOnce(&RouteTable<Route>, u128) -> Option<Route>,
    ) -> Verdict {
        let Some(link) = self.links.get_mut(in_link.index()) else {
            self.counters.dropped.count(DropReason::UnknownLink);
            return Verdict::Drop(DropReason::UnknownLink);
        };
        link.counters.rx_packets += 1;
        link.counters.rx_bytes += frame.len() as u64;
        let verdict = self.decide(now, in_link, frame, icmp, lookup);
        match verdict {
            Verdict::Forward { .. } => self.counters.forwarded += 1,
            Verdict::Local { .. } => self.counters.local += 1,
            Verdict::Multicast { .. } => self.counters.multicast += 1,
            Verdict::Drop(reason) | Verdict::Error { reason, .. } => {
                self.counters.dropped.count(reason);
                if let Some(link) = self.links.get_mut(in_link.index()) {
                    link.counters.dropped += 1;
                }
            }
        }
        verdict
    }

    #[inline(always)]
    fn decide(
        &mut self,
        now: Instant,
        in_link: LinkId,
        frame: &[u8],
        icmp: &mut [u8],
        lookup: impl FnOnce(&RouteTable<Route>, u128) -> Option<Route>,
    ) -> Verdict {
        let Some(h) = frame.first_chunk::<{ field::HEADER_LEN }>() else {
            return Verdict::Drop(DropReason::Truncated);
        };
        if h[0] >> 4 != 6 {
            return Verdict::Drop(DropReason::NotIpv6);
        }
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let len = field::HEADER_LEN + payload_len;
        if len > frame.len() {
            return Verdict::Drop(DropReason::Truncated);
        }
        let packet = &frame[..len];
        let src = addr_at(h, field::SRC);
        let dst = addr_at(h, field::DST);
        // Multicast (ff00::/8), unspecified (::) or loopback (::1).
        if is_multicast(src) || src <= 1 {
            return Verdict::Drop(DropReason::InvalidSource);
        }
        if is_multicast(dst) {
            return self.multicast(now, in_link, packet, src, dst, icmp);
        }
        if h[field::NEXT_HEADER] == 0 {
            match frame::parse(packet) {
                Ok(_) => {}
                Err(WireError::ParameterProblem(p)) => {
                    return self.error(
                        now,
                        in_link,
                        DropReason::ParameterProblem,
                        Icmpv6Error::ParameterProblem(p),
                        packet,
                        icmp,
                    );
                }
                Err(_) => return Verdict::Drop(DropReason::Malformed),
            }
        }
        let route = lookup(&self.routes, dst);
        if route == Some(Route::Local) {
            return Verdict::Local { len };
        }
        if is_link_local(dst) {
            return Verdict::Drop(DropReason::LinkLocalDestination);
        }
        let (reason, error) = if is_link_local(src) {
            (DropReason::BeyondScope, Icmpv6Error::DstUnreachable(2))
        } else if h[field::HOP_LIMIT] <= 1 {
            (DropReason::HopLimit, Icmpv6Error::TimeExceeded(0))
        } else {
            match route {
                None => (DropReason::NoRoute, Icmpv6Error::DstUnreachable(0)),
                Some(Route::Prohibit) => (DropReason::Prohibited, Icmpv6Error::DstUnreachable(1)),
                Some(Route::Reject) => (DropReason::Rejected, Icmpv6Error::DstUnreachable(6)),
                Some(Route::Local) => return Verdict::Local { len },
                Some(Route::Link(out)) => match self.check_out(in_link, out, len) {
                    Ok(()) => return Verdict::Forward { link: out, len },
                    Err(pair) => pair,
                },
            }
        };
        self.error(now, in_link, reason, error, packet, icmp)
    }

    /// Whether a unicast packet of `len` octets may leave by `out`.
    fn check_out(
        &self,
        in_link: LinkId,
        out: LinkId,
        len: usize,
    ) -> Result<(), (DropReason, Icmpv6Error)> {
        let Some(link) = self.links.get(out.index()) else {
            return Err((DropReason::NoRoute, Icmpv6Error::DstUnreachable(0)));
        };
        if out == in_link {
            // RFC 4443 §3.1: a packet from a point-to-point link to an address of the subnet
            // assigned to that same link gets code 3 and must not go back onto the link.
            return Err((DropReason::SameLink, Icmpv6Error::DstUnreachable(3)));
        }
        if !link.up {
            return Err((DropReason::LinkDown, Icmpv6Error::DstUnreachable(3)));
        }
        if len > link.config.mtu {
            return Err((
                DropReason::TooBig,
                Icmpv6Error::PacketTooBig(link.config.mtu as u32),
            ));
        }
        Ok(())
    }

    fn multicast(
        &mut self,
        now: Instant,
        in_link: LinkId,
        packet: &[u8],
        src: u128,
        dst: u128,
        icmp: &mut [u8],
    ) -> Verdict {
        let len = packet.len();
        match (dst >> 112) & 0x0f {
            // Reserved and interface-local scope never appear on a link (RFC 4291 §2.7).
            0 | 1 => Verdict::Drop(DropReason::MulticastScope),
            // Link-local scope: for the router's own protocols, never forwarded.
            2 => Verdict::Local { len },
            // An MLD message addressed to a group of wider scope (an MLDv1 Report, RFC 2710
            // §3.7, or a query specific to the group, RFC 3810 §5.1.15) is for the router's
            // own MLD: it carries a Router Alert (RFC 2711) and hop limit 1 and never leaves
            // its link.
            _ if packet[field::NEXT_HEADER] == 0 && is_mld(packet) => Verdict::Local { len },
            _ if is_link_local(src) => Verdict::Drop(DropReason::BeyondScope),
            _ if packet[field::HOP_LIMIT] <= 1 => Verdict::Drop(DropReason::HopLimit),
            _ if packet[field::NEXT_HEADER] == 0 => match frame::parse(packet) {
                Ok(_) => Verdict::Multicast { len },
                Err(WireError::ParameterProblem(p)) => self.error(
                    now,
                    in_link,
                    DropReason::ParameterProblem,
                    Icmpv6Error::ParameterProblem(p),
                    packet,
                    icmp,
                ),
                Err(_) => Verdict::Drop(DropReason::Malformed),
            },
            _ => Verdict::Multicast { len },
        }
    }

    /// For a [`Verdict::Multicast`] packet, decides whether a copy may leave by `out`:
    /// [`Verdict::Forward`], or Packet Too Big if it does not fit that link's MTU (the one
    /// error RFC 4443 §2.4 (e.2) allows about a multicast packet), or a drop. The arrival
    /// link is never a destination. Counts per outgoing link are kept by
    /// [`forward_into`](Self::forward_into).
    pub fn replicate(
        &mut self,
        now: Instant,
        in_link: LinkId,
        out: LinkId,
        packet: &[u8],
        icmp: &mut [u8],
    ) -> Verdict {
        let verdict = match self.check_out(in_link, out, packet.len()) {
            Ok(()) => {
                return Verdict::Forward {
                    link: out,
                    len: packet.len(),
                };
            }
            Err((DropReason::TooBig, error)) => {
                self.error(now, in_link, DropReason::TooBig, error, packet, icmp)
            }
            Err((reason, _)) => Verdict::Drop(reason),
        };
        if let Verdict::Drop(reason) | Verdict::Error { reason, .. } = verdict {
            self.counters.copies_dropped.count(reason);
        }
        verdict
    }

    /// Copies a packet the forwarder said to forward into `out` (the outgoing frame, at least
    /// `packet.len()` octets), decrements its hop limit (RFC 8200 §3) and counts it on `link`.
    /// Returns the octets written, or `None` if `out` is too short or the packet has no IPv6
    /// header.
    #[inline]
    pub fn forward_into(&mut self, link: LinkId, packet: &[u8], out: &mut [u8]) -> Option<usize> {
        let out = out.get_mut(..packet.len())?;
        if packet.len() < field::HEADER_LEN {
            return None;
        }
        out.copy_from_slice(packet);
        out[field::HOP_LIMIT] = out[field::HOP_LIMIT].saturating_sub(1);
        if let Some(entry) = self.links.get_mut(link.index()) {
            entry.counters.tx_packets += 1;
            entry.counters.tx_bytes += packet.len() as u64;
        }
        Some(packet.len())
    }

    /// Builds an ICMPv6 error about `packet` into `buf` if RFC 4443 §2.4 allows one and the
    /// rate limit has room; the packet is dropped for `reason` either way.
    fn error(
        &mut self,
        now: Instant,
        in_link: LinkId,
        reason: DropReason,
        error: Icmpv6Error,
        packet: &[u8],
        buf: &mut [u8],
    ) -> Verdict {
        let Some(h) = packet.first_chunk::<{ field::HEADER_LEN }>() else {
            return Verdict::Drop(reason);
        };
        let invoking_src = addr_at(h, field::SRC);
        let to_multicast = is_multicast(addr_at(h, field::DST));
        let multicast_allowed = matches!(
            error,
            Icmpv6Error::PacketTooBig(_)
                | Icmpv6Error::ParameterProblem(bridgeless_wire::ParameterProblem {
                    code: ParamProblemCode::UnrecognizedOption,
                    ..
                })
        );
        if (to_multicast && !multicast_allowed) || is_icmpv6_error(packet) {
            self.counters.icmp.suppressed += 1;
            return Verdict::Drop(reason);
        }
        let link = &self.links[in_link.index()].config;
        let source = if is_link_local(invoking_src) {
            Some(link.link_local)
        } else {
            link.address.or(self.config.source)
        };
        let Some(source) = source else {
            self.counters.icmp.no_source += 1;
            return Verdict::Drop(reason);
        };
        if !self.bucket.take(now) {
            self.counters.icmp.rate_limited += 1;
            return Verdict::Drop(reason);
        }
        let to = Ipv6Address::from(invoking_src);
        let Ok(len) = emit_icmpv6_error(source, to, error, packet, buf) else {
            self.counters.icmp.buffer_too_small += 1;
            return Verdict::Drop(reason);
        };
        // Towards the invoking packet's source: by the route table, else back where it came.
        let out = match self.routes.lookup(to) {
            Some((_, Route::Link(out))) if !is_link_local(invoking_src) => out,
            _ => in_link,
        };
        self.counters.icmp.sent[usize::from(error.message_type() - 1)] += 1;
        self.links[in_link.index()].counters.icmp_errors += 1;
        Verdict::Error {
            reason,
            link: out,
            len,
        }
    }
}

#[cfg(test)]
mod tests;
