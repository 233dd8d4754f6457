//! Router Advertisements sent by a router on one of its links (RFC 4861 §6.2), as a sans-IO
//! state machine: [`RouterAdvertiser`], one per link.
//!
//! Each host link gets its /64 (or several) announced with Prefix Information, the link MTU,
//! optionally recursive DNS servers (RFC 8106) and more-specific routes (Route Information,
//! RFC 4191), so that a host on the other end — ours ([`crate::rd`]) or the Linux kernel with
//! `accept_ra` — configures an address, a default route and its MTU from them.
//!
//! # Timing
//!
//! - **Unsolicited advertisements** (RFC 4861 §6.2.4) go to all-nodes `ff02::1`. The first
//!   is due as soon as the advertiser exists; the first [`MAX_INITIAL_RTR_ADVERTISEMENTS`]
//!   are at most [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] apart, and after that each interval is
//!   drawn uniformly from [`min_interval`, `max_interval`] (`MinRtrAdvInterval`,
//!   `MaxRtrAdvInterval`, [`AdvertiserConfig`]).
//! - **Solicited advertisements** (RFC 4861 §6.2.6): a valid Router Solicitation (§6.1.1,
//!   checked by [`ndp::parse_ipv6`]; failures are counted by reason) is answered after a
//!   random delay in [0, [`MAX_RA_DELAY_TIME`]]; a solicitation that arrives while an answer is
//!   already scheduled is answered by it.
//! - **Multicast rate limit**: two advertisements to `ff02::1` are never less than
//!   [`MIN_DELAY_BETWEEN_RAS`] apart (§6.2.6), whatever caused them.
//!
//! # Answering solicitations: unicast on a point-to-point link
//!
//! With [`SolicitedReply::Unicast`] (the default) a solicitation from an address is answered
//! to that address, which §6.2.6 allows ("A router MAY choose to unicast the response
//! directly to the soliciting host's address"); one from `::` is answered to `ff02::1`, as it
//! must be. Why: on a point-to-point link the solicitor is the only other node, so a
//! multicast answer reaches nobody else, but it falls under the multicast rate limit — a
//! host whose link comes up just after an unsolicited advertisement would wait up to
//! [`MIN_DELAY_BETWEEN_RAS`] plus the random delay instead of at most [`MAX_RA_DELAY_TIME`].
//! No neighbor cache is involved (the link has no link-layer addresses). Unicast answers get
//! their own limit of one per [`MIN_DELAY_BETWEEN_RAS`], so a peer flooding solicitations
//! gets no more than that; and when an advertisement to `ff02::1` is due before the unicast
//! one would be, that one answers the solicitation. [`SolicitedReply::Multicast`] answers
//! every solicitation to `ff02::1` (the "usual case" of §6.2.6), resetting the periodic
//! timer as §6.2.6 says.
//!
//! # Configuration changes and renumbering
//!
//! Any change of what is advertised ([`set_config`](RouterAdvertiser::set_config),
//! [`add_prefix`](RouterAdvertiser::add_prefix),
//! [`remove_prefix`](RouterAdvertiser::remove_prefix), routes, DNS servers) restarts the
//! initial schedule, as §6.2.4 allows (when its advertised information changes, a router
//! MAY send up to MAX_INITIAL_RTR_ADVERTISEMENTS unsolicited advertisements by the rules for
//! an interface that has just become an advertising interface): a fresh advertisement goes
//! out now, or as soon as the rate limit allows, then two more at most 16 s apart.
//!
//! A **removed prefix is not simply dropped**: hosts would keep using addresses from it until
//! their valid lifetime ran out. It is advertised with preferred lifetime 0, so hosts
//! deprecate their addresses at once and use the new prefix for new connections, and a valid
//! lifetime of the smaller of what remained and [`AdvertiserConfig::deprecation_period`]
//! (two hours by default: a host does not let an unauthenticated advertisement cut a valid
//! lifetime below two hours anyway, RFC 4862 §5.5.3 e), counting down in real time; when it
//! reaches zero the prefix is withdrawn from the advertisements. This is what RFC 9096 asks
//! of CE routers whose delegated prefix changes. Removed routes and DNS servers are
//! advertised with lifetime 0 (RFC 4191 §2.3, RFC 8106 §5.1: "A value of zero means that the
//! RDNSS addresses MUST no longer be used") in the next [`MAX_INITIAL_RTR_ADVERTISEMENTS`]
//! multicast advertisements, then dropped.
//!
//! # Lifetimes from a delegation
//!
//! A prefix (or route) delegated with DHCPv6 has an absolute end: [`PrefixConfig::valid_until`]
//! and [`PrefixConfig::preferred_until`]. Its advertised lifetimes are then the time that
//! remains, in whole seconds rounded down, decreasing from one advertisement to the next
//! (RFC 4861 §6.2.1 `AdvValidLifetime` may be "decrementing in real time"; RFC 8415
//! §18.2.10.1 has a requesting router pass on no more than the delegation's remaining
//! lifetimes), never more than the configured lifetimes. When `valid_until` passes the
//! prefix is gone and no longer advertised (counted in [`Counters::prefixes_expired`]).
//!
//! # Shutting down
//!
//! [`shutdown`](RouterAdvertiser::shutdown) sends [`MAX_FINAL_RTR_ADVERTISEMENTS`] multicast
//! advertisements with router lifetime 0 (RFC 4861 §6.2.5), [`MIN_DELAY_BETWEEN_RAS`] apart;
//! solicitations meanwhile are answered with router lifetime 0 too. Then the advertiser is
//! [`State::Stopped`]: it sends nothing and counts solicitations as ignored.
//!
//! # Driving it
//!
//! 1. [`RouterAdvertiser::new`] with a validated [`AdvertiserConfig`], then prefixes, routes
//!    and DNS servers;
//! 2. every received ND packet (whole IPv6 packet) goes to
//!    [`handle_packet`](RouterAdvertiser::handle_packet);
//! 3. at [`poll_timeout`](RouterAdvertiser::poll_timeout), call
//!    [`handle_timeout`](RouterAdvertiser::handle_timeout);
//! 4. after either, [`poll_transmit`](RouterAdvertiser::poll_transmit) until `None`, sending
//!    each packet (source: our link-local address, hop limit 255).
//!
//! Tables are fixed: [`MAX_PREFIXES`] prefixes, [`MAX_ROUTES`] routes and
//! [`MAX_DNS_SERVERS`] servers being advertised, and as many again being withdrawn. Adding to
//! a full table is refused ([`ConfigError::TableFull`]); a withdrawal that finds no room
//! pushes out the withdrawal closest to its end (counted in
//! [`Counters::withdrawals_evicted`]). Every advertisement fits in [`MAX_RA_LEN`] octets.

mod config;
#[cfg(test)]
mod tests;

use bridgeless_wire::ndp::{
    self, NdpKind, NdpMessage, NdpOption, NdpOptionRepr, NdpRepr, PrefixInformation,
    RouteInformation, RouterAdvertisement, RouterAdvertisementRepr,
};
use log::{debug, trace, warn};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

pub use config::{
    AdvertiserConfig, ConfigError, Counters, Dropped, PrefixConfig, RouteConfig, SolicitedReply,
    State,
};

/// RFC 4861 §10: the longest interval between the first advertisements (§6.2.4).
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
/// RFC 4861 §10: how many first advertisements are sent at the shorter intervals.
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u32 = 3;
/// RFC 4861 §10: how many final advertisements a shutdown sends (§6.2.5).
pub const MAX_FINAL_RTR_ADVERTISEMENTS: u32 = 3;
/// RFC 4861 §10: the least time between two advertisements to all-nodes (§6.2.6).
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
/// RFC 4861 §10: the longest random delay before answering a solicitation (§6.2.6).
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);
/// RFC 4861 §6.2.1: the default `MaxRtrAdvInterval`.
pub const DEFAULT_MAX_RTR_ADV_INTERVAL: Duration = Duration::from_secs(600);
/// RFC 4861 §6.2.1: `MaxRtrAdvInterval` is at least 4 s.
pub const MIN_MAX_RTR_ADV_INTERVAL: Duration = Duration::from_secs(4);
/// RFC 8319 (updating RFC 4861 §6.2.1): `MaxRtrAdvInterval` is at most 65535 s.
pub const MAX_MAX_RTR_ADV_INTERVAL: Duration = Duration::from_secs(65_535);
/// RFC 4861 §6.2.1: `MinRtrAdvInterval` is at least 3 s.
pub const MIN_MIN_RTR_ADV_INTERVAL: Duration = Duration::from_secs(3);
/// RFC 4861 §6.2.1: `AdvReachableTime` is at most 3,600,000 ms.
pub const MAX_REACHABLE_TIME_MS: u32 = 3_600_000;
/// RFC 4861 §6.2.1: the default `AdvValidLifetime`, 30 days.
pub const DEFAULT_VALID_LIFETIME: u32 = 2_592_000;
/// RFC 4861 §6.2.1: the default `AdvPreferredLifetime`, 7 days.
pub const DEFAULT_PREFERRED_LIFETIME: u32 = 604_800;
/// RFC 4861 §6.2.1: the default `AdvCurHopLimit` (the IANA default TTL).
pub const DEFAULT_CUR_HOP_LIMIT: u8 = 64;
/// The default [`AdvertiserConfig::deprecation_period`]: two hours, the shortest valid
/// lifetime a host accepts from an unauthenticated advertisement (RFC 4862 §5.5.3 e).
pub const DEFAULT_DEPRECATION_PERIOD: Duration = Duration::from_secs(7_200);
/// RFC 8200 §5: the smallest link MTU of IPv6, and so the smallest MTU option.
pub const MIN_LINK_MTU: u32 = 1_280;
/// A lifetime of all ones: forever (RFC 4861 §4.6.2, RFC 4191 §2.3, RFC 8106 §5.1).
pub const INFINITE: u32 = u32::MAX;
/// Prefixes advertised at once (as many more may be being withdrawn).
pub const MAX_PREFIXES: usize = 4;
/// Route Information entries advertised at once (as many more may be being withdrawn).
pub const MAX_ROUTES: usize = 4;
/// DNS servers advertised at once (as many more may be being withdrawn).
pub const MAX_DNS_SERVERS: usize = 4;

const PREFIX_SLOTS: usize = 2 * MAX_PREFIXES;
const ROUTE_SLOTS: usize = 2 * MAX_ROUTES;
const DNS_SLOTS: usize = 2 * MAX_DNS_SERVERS;
/// Prefix Information for every slot, MTU, two RDNSS options (servers in use and servers
/// withdrawn), Route Information for every slot.
const MAX_OPTIONS: usize = PREFIX_SLOTS + 1 + 2 + ROUTE_SLOTS;

/// The longest advertisement this module writes, as a whole IPv6 packet: the IPv6 header,
/// the advertisement's 16 octets, and every option at its longest. Below the IPv6 minimum
/// MTU, so it is never fragmented.
pub const MAX_RA_LEN: usize = 40
    + 16
    + PREFIX_SLOTS * PrefixInformation::LEN
    + 8
    + 2 * (8 + 16 * MAX_DNS_SERVERS)
    + ROUTE_SLOTS * 24;

/// Why the next multicast advertisement is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Unsolicited,
    Solicited,
    Final,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PrefixEntry {
    config: PrefixConfig,
    /// Being withdrawn: advertised deprecated until then.
    withdraw_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RouteEntry {
    config: RouteConfig,
    /// Being withdrawn: multicast advertisements left that carry lifetime 0.
    withdrawals_left: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DnsEntry {
    addr: Ipv6Address,
    withdrawals_left: Option<u32>,
}

/// Router Advertisements on one link (see the module docs).
#[derive(Debug, Clone)]
pub struct RouterAdvertiser {
    config: AdvertiserConfig,
    state: State,
    prefixes: [Option<PrefixEntry>; PREFIX_SLOTS],
    routes: [Option<RouteEntry>; ROUTE_SLOTS],
    dns: [Option<DnsEntry>; DNS_SLOTS],
    dns_lifetime: u32,
    /// When the next multicast advertisement is due, and why.
    next_multicast: Option<(Instant, Cause)>,
    /// Multicast advertisements left at the initial (short) intervals.
    initial_left: u32,
    /// Final advertisements left to send.
    finals_left: u32,
    last_multicast: Option<Instant>,
    /// A unicast answer due at a time.
    pending_unicast: Option<(Instant, Ipv6Address)>,
    last_unicast: Option<Instant>,
    /// Advertisements due and waiting for `poll_transmit`, and since when.
    ready_multicast: Option<Cause>,
    ready_unicast: Option<Ipv6Address>,
    ready_since: Instant,
    counters: Counters,
}

impl RouterAdvertiser {
    /// An advertiser whose first advertisement is due at `now` (RFC 4861 §6.2.4), with no
    /// prefix yet. Add prefixes before the first [`handle_timeout`](Self::handle_timeout) to
    /// have them in it.
    pub fn new(config: AdvertiserConfig, now: Instant) -> Result<RouterAdvertiser, ConfigError> {
        config.validate()?;
        debug!("ra: advertising from {}", config.source);
        Ok(RouterAdvertiser {
            config,
            state: State::Advertising,
            prefixes: [None; PREFIX_SLOTS],
            routes: [None; ROUTE_SLOTS],
            dns: [None; DNS_SLOTS],
            dns_lifetime: 0,
            next_multicast: Some((now, Cause::Unsolicited)),
            initial_left: MAX_INITIAL_RTR_ADVERTISEMENTS,
            finals_left: 0,
            last_multicast: None,
            pending_unicast: None,
            last_unicast: None,
            ready_multicast: None,
            ready_unicast: None,
            ready_since: now,
            counters: Counters::default(),
        })
    }

    /// Replaces the link's parameters. The source address cannot change
    /// ([`ConfigError::Source`]). A change of what is advertised sends a fresh advertisement
    /// soon (see the module docs); a shorter `max_interval` brings the next periodic one
    /// forward to at most `now + max_interval`.
    pub fn set_config(
        &mut self,
        now: Instant,
        config: AdvertiserConfig,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        if config.source != self.config.source {
            return Err(ConfigError::Source);
        }
        let old = core::mem::replace(&mut self.config, config);
        if let Some((at, cause)) = self.next_multicast
            && self.state == State::Advertising
        {
            let latest = later(now, config.max_interval);
            if at > latest {
                self.next_multicast = Some((latest, cause));
            }
        }
        let advertised = |c: &AdvertiserConfig| {
            (
                c.router_lifetime,
                c.preference,
                c.cur_hop_limit,
                c.reachable_time,
                c.retrans_timer,
                c.managed,
                c.other,
                c.link_mtu,
            )
        };
        if advertised(&old) != advertised(&config) {
            self.changed(now);
        }
        Ok(())
    }

    /// Advertises a prefix, or updates the one with the same prefix and length (a withdrawn
    /// one is advertised again). Sends a fresh advertisement soon.
    pub fn add_prefix(&mut self, now: Instant, prefix: PrefixConfig) -> Result<(), ConfigError> {
        prefix.validate(now)?;
        let prefix = PrefixConfig {
            prefix: network(prefix.prefix),
            ..prefix
        };
        let entry = PrefixEntry {
            config: prefix,
            withdraw_until: None,
        };
        let same = |e: &PrefixEntry| e.config.prefix == prefix.prefix;
        let end = |e: &PrefixEntry| e.withdraw_until;
        if !upsert(
            &mut self.prefixes,
            MAX_PREFIXES,
            entry,
            same,
            end,
            &mut self.counters,
        )? {
            return Ok(());
        }
        debug!("ra: advertising prefix {}", prefix.prefix);
        self.changed(now);
        Ok(())
    }

    /// Stops advertising a prefix (given as added): it is advertised deprecated, its valid
    /// lifetime counting down from at most [`AdvertiserConfig::deprecation_period`], then
    /// withdrawn (see the module docs). Sends a fresh advertisement soon. `false` if no such
    /// prefix is advertised.
    pub fn remove_prefix(&mut self, now: Instant, prefix: Ipv6Cidr) -> bool {
        let prefix = network(prefix);
        let period = self.config.deprecation_period;
        let Some(entry) = self
            .prefixes
            .iter_mut()
            .flatten()
            .find(|e| e.config.prefix == prefix && e.withdraw_until.is_none())
        else {
            return false;
        };
        let (valid, _) = entry.config.lifetimes(now);
        let left = Duration::from_secs(valid.into()).min(period);
        entry.withdraw_until = Some(later(now, left));
        debug!("ra: withdrawing prefix {prefix} over {left}");
        self.changed(now);
        true
    }

    /// Advertises a route, or updates the one with the same prefix. Sends a fresh
    /// advertisement soon.
    pub fn add_route(&mut self, now: Instant, route: RouteConfig) -> Result<(), ConfigError> {
        let net = network(route.prefix);
        if net.prefix_len() > 0
            && (net.address().is_multicast() || net.address().is_unicast_link_local())
        {
            return Err(ConfigError::PrefixScope);
        }
        if route.valid_until.is_some_and(|t| t <= now) {
            return Err(ConfigError::Expired);
        }
        let entry = RouteEntry {
            config: RouteConfig {
                prefix: net,
                ..route
            },
            withdrawals_left: None,
        };
        let same = |e: &RouteEntry| e.config.prefix == net;
        let end = |e: &RouteEntry| e.withdrawals_left;
        if !upsert(
            &mut self.routes,
            MAX_ROUTES,
            entry,
            same,
            end,
            &mut self.counters,
        )? {
            return Ok(());
        }
        self.changed(now);
        Ok(())
    }

    /// Stops advertising a route: it is advertised with lifetime 0 in the next
    /// [`MAX_INITIAL_RTR_ADVERTISEMENTS`] multicast advertisements. `false` if no such route.
    pub fn remove_route(&mut self, now: Instant, prefix: Ipv6Cidr) -> bool {
        let net = network(prefix);
        let Some(entry) = self
            .routes
            .iter_mut()
            .flatten()
            .find(|e| e.config.prefix == net && e.withdrawals_left.is_none())
        else {
            return false;
        };
        entry.withdrawals_left = Some(MAX_INITIAL_RTR_ADVERTISEMENTS);
        self.changed(now);
        true
    }

    /// Sets the recursive DNS servers (RFC 8106), at most [`MAX_DNS_SERVERS`], and their
    /// lifetime in seconds. RFC 8106 §5.1 recommends a lifetime of at least 3 ×
    /// `max_interval`. Servers no longer listed are advertised with lifetime 0 in the next
    /// [`MAX_INITIAL_RTR_ADVERTISEMENTS`] multicast advertisements. An empty list stops the
    /// option. Sends a fresh advertisement soon if anything changed.
    pub fn set_dns_servers(
        &mut self,
        now: Instant,
        servers: &[Ipv6Address],
        lifetime: u32,
    ) -> Result<(), ConfigError> {
        if servers.len() > MAX_DNS_SERVERS {
            return Err(ConfigError::TableFull);
        }
        if servers
            .iter()
            .any(|s| s.is_unspecified() || s.is_loopback() || s.is_multicast())
        {
            return Err(ConfigError::DnsServer);
        }
        let mut changed = lifetime != self.dns_lifetime && !servers.is_empty();
        self.dns_lifetime = lifetime;
        for entry in self.dns.iter_mut().flatten() {
            let listed = servers.contains(&entry.addr);
            if listed && entry.withdrawals_left.is_some() {
                entry.withdrawals_left = None;
                changed = true;
            } else if !listed && entry.withdrawals_left.is_none() {
                entry.withdrawals_left = Some(MAX_INITIAL_RTR_ADVERTISEMENTS);
                changed = true;
            }
        }
        for &addr in servers {
            if self.dns.iter().flatten().any(|e| e.addr == addr) {
                continue;
            }
            let i = free_slot(&mut self.dns, |e| e.withdrawals_left, &mut self.counters);
            self.dns[i] = Some(DnsEntry {
                addr,
                withdrawals_left: None,
            });
            changed = true;
        }
        if changed {
            self.changed(now);
        }
        Ok(())
    }

    /// Starts the shutdown of RFC 4861 §6.2.5: [`MAX_FINAL_RTR_ADVERTISEMENTS`]
    /// advertisements with router lifetime 0, the first as soon as the rate limit allows.
    /// Nothing happens if already shutting down or stopped.
    pub fn shutdown(&mut self, now: Instant) {
        if self.state != State::Advertising {
            return;
        }
        debug!("ra: shutting down");
        self.state = State::ShuttingDown;
        self.finals_left = MAX_FINAL_RTR_ADVERTISEMENTS;
        self.next_multicast = Some((self.rate_limited_from(now), Cause::Final));
    }

    /// Handles a received packet (a whole IPv6 packet). A valid Router Solicitation schedules
    /// an answer (see the module docs) using `rng` for its delay; anything else is counted
    /// and dropped.
    pub fn handle_packet<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        packet: &[u8],
        rng: &mut R,
    ) -> Result<(), Dropped> {
        let received = match ndp::parse_ipv6(packet) {
            Ok(r) => r,
            Err(e) => {
                trace!("ra: dropped invalid packet: {e}");
                self.counters.invalid.count(e);
                return Err(Dropped::Invalid(e));
            }
        };
        match received.message {
            NdpMessage::RouterSolicitation(rs) => {
                let link_layer = rs
                    .options()
                    .filter(|o| matches!(o, NdpOption::LinkLayerAddress { .. }))
                    .count();
                self.counters.link_layer_options += link_layer as u64;
                if self.state == State::Stopped {
                    self.counters.solicitations_after_stop += 1;
                    return Err(Dropped::Stopped);
                }
                self.counters.solicitations += 1;
                self.solicited(now, received.src_addr, rng);
                Ok(())
            }
            NdpMessage::RouterAdvertisement(ra) => {
                self.counters.advertisements_received += 1;
                self.check_consistency(&ra, received.src_addr);
                Err(Dropped::NotSolicitation(NdpKind::RouterAdvertisement))
            }
            other => {
                self.counters.other_nd += 1;
                Err(Dropped::NotSolicitation(other.kind()))
            }
        }
    }

    /// RFC 4861 §6.2.7: routers SHOULD check the advertisements of others for consistency
    /// and log what differs; nothing else is done with them.
    fn check_consistency(&mut self, ra: &RouterAdvertisement<&[u8]>, from: Ipv6Address) {
        let c = &self.config;
        let differs = |ours: u32, theirs: u32| ours != 0 && theirs != 0 && ours != theirs;
        let mtu_differs = ra.options().any(|o| match o {
            NdpOption::Mtu(m) => c.link_mtu.is_some_and(|ours| ours != m),
            _ => false,
        });
        if differs(c.cur_hop_limit.into(), ra.cur_hop_limit().into())
            || ra.managed() != c.managed
            || ra.other() != c.other
            || differs(c.reachable_time, ra.reachable_time())
            || differs(c.retrans_timer, ra.retrans_timer())
            || mtu_differs
        {
            warn!("ra: advertisement from {from} disagrees with ours (RFC 4861 §6.2.7)");
            self.counters.inconsistent_advertisements += 1;
        }
    }

    /// RFC 4861 §6.2.6: schedules the answer to a solicitation from `src`.
    fn solicited<R: RngCore + ?Sized>(&mut self, now: Instant, src: Ipv6Address, rng: &mut R) {
        let delay = random_between(rng, Duration::ZERO, MAX_RA_DELAY_TIME);
        let unicast =
            self.config.solicited_reply == SolicitedReply::Unicast && !src.is_unspecified();
        let multicast_at = self.next_multicast.map(|(at, _)| at);
        if unicast {
            // "If a single advertisement is sent in response to multiple solicitations, the
            // delay is relative to the first solicitation."
            if self.pending_unicast.is_some() || self.ready_unicast.is_some() {
                self.counters.solicitations_merged += 1;
                return;
            }
            let mut at = later(now, delay);
            if let Some(last) = self.last_unicast
                && now < later(last, MIN_DELAY_BETWEEN_RAS)
            {
                at = later(later(last, MIN_DELAY_BETWEEN_RAS), delay);
                self.counters.rate_limited += 1;
            }
            if multicast_at.is_some_and(|m| m <= at) || self.ready_multicast.is_some() {
                // An advertisement to all-nodes reaches the solicitor first.
                self.counters.solicitations_merged += 1;
                return;
            }
            trace!("ra: answering {src} at {at}");
            self.pending_unicast = Some((at, src));
            return;
        }
        let mut at = later(now, delay);
        // "If the router sent a multicast RA (solicited or unsolicited) within the last
        // MIN_DELAY_BETWEEN_RAS seconds, schedule the advertisement to be sent at a time
        // corresponding to MIN_DELAY_BETWEEN_RAS plus the random value after the previous
        // advertisement was sent."
        if let Some(last) = self.last_multicast
            && now < later(last, MIN_DELAY_BETWEEN_RAS)
        {
            at = later(later(last, MIN_DELAY_BETWEEN_RAS), delay);
            self.counters.rate_limited += 1;
        }
        // "If the computed value corresponds to a time later than the time the next
        // multicast RA is scheduled to be sent, ignore the random delay and send the
        // advertisement at the already-scheduled time."
        if multicast_at.is_some_and(|m| m <= at) || self.ready_multicast.is_some() {
            self.counters.solicitations_merged += 1;
            return;
        }
        let cause = match self.state {
            State::Advertising => Cause::Solicited,
            _ => Cause::Final,
        };
        self.next_multicast = Some((at, cause));
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout) has something to
    /// do (a time already past when an advertisement waits for
    /// [`poll_transmit`](Self::poll_transmit)); `None` once stopped.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ready_multicast.is_some() || self.ready_unicast.is_some() {
            return Some(self.ready_since);
        }
        let multicast = self.next_multicast.map(|(at, _)| at);
        let unicast = self.pending_unicast.map(|(at, _)| at);
        [multicast, unicast].into_iter().flatten().min()
    }

    /// Runs what is due at `now`: an advertisement whose time has come is made ready for
    /// [`poll_transmit`](Self::poll_transmit), and the next one scheduled with `rng`;
    /// prefixes and routes past their `valid_until` are dropped. A call before anything is
    /// due changes nothing.
    pub fn handle_timeout<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.prune(now);
        if self.ready_multicast.is_none()
            && let Some((at, cause)) = self.next_multicast
            && at <= now
        {
            self.ready_multicast = Some(cause);
            self.ready_since = now;
            self.last_multicast = Some(now);
            self.next_multicast = self.after_multicast(now, rng);
            // A unicast answer still pending is served by this advertisement.
            if self.pending_unicast.take().is_some() {
                self.counters.solicitations_merged += 1;
            }
        }
        if self.ready_unicast.is_none()
            && let Some((at, dst)) = self.pending_unicast
            && at <= now
        {
            self.pending_unicast = None;
            self.ready_unicast = Some(dst);
            self.ready_since = now;
            self.last_unicast = Some(now);
        }
    }

    /// When the multicast advertisement after one sent at `now` is due (RFC 4861 §6.2.4,
    /// §6.2.5).
    fn after_multicast<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Option<(Instant, Cause)> {
        match self.state {
            State::Advertising => {
                // "Whenever a multicast advertisement is sent from an interface, the timer is
                // reset to a uniformly distributed random value between the interface's
                // configured MinRtrAdvInterval and MaxRtrAdvInterval".
                let mut interval =
                    random_between(rng, self.config.min_interval, self.config.max_interval);
                self.initial_left = self.initial_left.saturating_sub(1);
                if self.initial_left > 0 {
                    // "... if the randomly chosen interval is greater than
                    // MAX_INITIAL_RTR_ADVERT_INTERVAL, the timer SHOULD be set to
                    // MAX_INITIAL_RTR_ADVERT_INTERVAL instead."
                    interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
                }
                Some((later(now, interval), Cause::Unsolicited))
            }
            State::ShuttingDown => {
                self.finals_left = self.finals_left.saturating_sub(1);
                if self.finals_left == 0 {
                    self.state = State::Stopped;
                    self.pending_unicast = None;
                    debug!("ra: final advertisements scheduled, stopped");
                    None
                } else {
                    Some((later(now, MIN_DELAY_BETWEEN_RAS), Cause::Final))
                }
            }
            State::Stopped => None,
        }
    }

    /// Writes the next advertisement due into `buf` as a whole IPv6 packet (source our
    /// link-local address, destination `ff02::1` or the solicitor, hop limit 255, checksum
    /// filled) and returns its length; `None` if nothing is due. A `buf` shorter than the
    /// advertisement (at most [`MAX_RA_LEN`]) gives `None`, is counted, and the
    /// advertisement waits for the next call.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(cause) = self.ready_multicast {
            let len = self.emit(now, ndp::ALL_NODES, buf)?;
            self.ready_multicast = None;
            match cause {
                Cause::Unsolicited => self.counters.unsolicited_sent += 1,
                Cause::Solicited => self.counters.solicited_multicast_sent += 1,
                Cause::Final => self.counters.final_sent += 1,
            }
            self.after_multicast_sent();
            trace!("ra: sent {cause:?} advertisement to all-nodes");
            return Some(len);
        }
        if let Some(dst) = self.ready_unicast {
            let len = self.emit(now, dst, buf)?;
            self.ready_unicast = None;
            self.counters.solicited_unicast_sent += 1;
            trace!("ra: sent solicited advertisement to {dst}");
            return Some(len);
        }
        None
    }

    /// Counts down the withdrawals carried by multicast advertisements.
    fn after_multicast_sent(&mut self) {
        for slot in self.routes.iter_mut() {
            if let Some(RouteEntry {
                withdrawals_left: Some(n),
                ..
            }) = slot
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    *slot = None;
                }
            }
        }
        for slot in self.dns.iter_mut() {
            if let Some(DnsEntry {
                withdrawals_left: Some(n),
                ..
            }) = slot
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    *slot = None;
                }
            }
        }
    }

    /// Builds the advertisement as of `now` and writes it for `dst`.
    fn emit(&mut self, now: Instant, dst: Ipv6Address, buf: &mut [u8]) -> Option<usize> {
        let mut options = [NdpOptionRepr::Mtu(0); MAX_OPTIONS];
        let mut n = 0;
        let fixed = self
            .advertised_prefixes(now)
            .map(NdpOptionRepr::PrefixInformation)
            .chain(self.config.link_mtu.map(NdpOptionRepr::Mtu))
            .chain(
                self.advertised_routes(now)
                    .map(NdpOptionRepr::RouteInformation),
            );
        for (slot, option) in options.iter_mut().zip(fixed) {
            *slot = option;
            n += 1;
        }
        let mut in_use = [Ipv6Address::UNSPECIFIED; DNS_SLOTS];
        let mut withdrawn = [Ipv6Address::UNSPECIFIED; DNS_SLOTS];
        let (mut u, mut w) = (0, 0);
        for e in self.dns.iter().flatten() {
            if e.withdrawals_left.is_some() {
                withdrawn[w] = e.addr;
                w += 1;
            } else {
                in_use[u] = e.addr;
                u += 1;
            }
        }
        if u > 0 {
            options[n] = NdpOptionRepr::Rdnss {
                lifetime: self.dns_lifetime,
                addresses: &in_use[..u],
            };
            n += 1;
        }
        if w > 0 {
            options[n] = NdpOptionRepr::Rdnss {
                lifetime: 0,
                addresses: &withdrawn[..w],
            };
            n += 1;
        }
        let router_lifetime = match self.state {
            State::Advertising => self.config.router_lifetime,
            // RFC 4861 §6.2.5: final advertisements have a Router Lifetime of zero.
            State::ShuttingDown | State::Stopped => 0,
        };
        let repr = RouterAdvertisementRepr {
            cur_hop_limit: self.config.cur_hop_limit,
            managed: self.config.managed,
            other: self.config.other,
            preference: self.config.preference,
            router_lifetime,
            reachable_time: self.config.reachable_time,
            retrans_timer: self.config.retrans_timer,
            options: &options[..n],
        };
        match ndp::emit_ipv6(
            &self.config.source,
            &dst,
            &NdpRepr::RouterAdvertisement(repr),
            buf,
        ) {
            Ok(len) => Some(len),
            Err(e) => {
                trace!("ra: cannot write advertisement: {e}");
                self.counters.transmit_buffer_too_small += 1;
                None
            }
        }
    }

    /// Drops prefixes and routes whose `valid_until` passed and prefixes whose withdrawal
    /// ended.
    fn prune(&mut self, now: Instant) {
        for slot in self.prefixes.iter_mut() {
            let Some(e) = slot else { continue };
            if reached(e.withdraw_until, now) {
                debug!("ra: prefix {} withdrawn", e.config.prefix);
                *slot = None;
            } else if reached(e.config.valid_until, now) {
                debug!("ra: prefix {} expired", e.config.prefix);
                self.counters.prefixes_expired += 1;
                *slot = None;
            }
        }
        for slot in self.routes.iter_mut() {
            if slot.is_some_and(|e| reached(e.config.valid_until, now)) {
                self.counters.prefixes_expired += 1;
                *slot = None;
            }
        }
    }

    /// The Prefix Information options an advertisement sent at `now` carries: lifetimes
    /// capped by `valid_until`/`preferred_until`, counting down; withdrawn prefixes with
    /// preferred lifetime 0.
    pub fn advertised_prefixes(&self, now: Instant) -> impl Iterator<Item = PrefixInformation> {
        self.prefixes.iter().flatten().filter_map(move |e| {
            let (mut valid, mut preferred) = e.config.lifetimes(now);
            if let Some(until) = e.withdraw_until {
                valid = valid.min(secs_until(until, now));
                preferred = 0;
            }
            (valid > 0).then_some(PrefixInformation {
                prefix_len: e.config.prefix.prefix_len(),
                on_link: e.config.on_link,
                autonomous: e.config.autonomous,
                valid_lifetime: valid,
                preferred_lifetime: preferred,
                prefix: e.config.prefix.address(),
            })
        })
    }

    /// The Route Information options an advertisement sent at `now` carries (withdrawn
    /// routes with lifetime 0).
    pub fn advertised_routes(&self, now: Instant) -> impl Iterator<Item = RouteInformation> {
        self.routes.iter().flatten().filter_map(move |e| {
            let lifetime = match e.withdrawals_left {
                Some(_) => 0,
                None => cap(e.config.lifetime, e.config.valid_until, now),
            };
            (lifetime > 0 || e.withdrawals_left.is_some()).then_some(RouteInformation {
                prefix_len: e.config.prefix.prefix_len(),
                preference: e.config.preference,
                lifetime,
                prefix: e.config.prefix.address(),
            })
        })
    }

    /// The DNS servers advertised with a non-zero lifetime.
    pub fn dns_servers(&self) -> impl Iterator<Item = Ipv6Address> + '_ {
        self.dns
            .iter()
            .flatten()
            .filter(|e| e.withdrawals_left.is_none())
            .map(|e| e.addr)
    }

    /// Where the advertiser stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The link's parameters.
    pub fn config(&self) -> &AdvertiserConfig {
        &self.config
    }

    /// What was sent, received and ignored.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Something advertised changed: restart the initial schedule (RFC 4861 §6.2.4) with a
    /// fresh advertisement as soon as the rate limit allows.
    fn changed(&mut self, now: Instant) {
        if self.state != State::Advertising {
            return;
        }
        self.initial_left = MAX_INITIAL_RTR_ADVERTISEMENTS;
        let at = self.rate_limited_from(now);
        match self.next_multicast {
            Some((next, _)) if next <= at => {}
            _ => self.next_multicast = Some((at, Cause::Unsolicited)),
        }
    }

    /// The earliest time from `now` a multicast advertisement may go (§6.2.6 rate limit).
    fn rate_limited_from(&self, now: Instant) -> Instant {
        match self.last_multicast {
            Some(last) => now.max(later(last, MIN_DELAY_BETWEEN_RAS)),
            None => now,
        }
    }
}

/// Entries being advertised (not withdrawn) in a table.
fn active<T: Withdrawable>(table: &[Option<T>]) -> usize {
    table
        .iter()
        .flatten()
        .filter(|e| !e.is_withdrawing())
        .count()
}

/// Puts `entry` in `table` (of at most `max` entries not being withdrawn): in place of the
/// entry it is the `same` as, which may be being withdrawn (its withdrawal then ends), or in
/// a free slot (see [`free_slot`]; `end` orders withdrawals). Returns whether the table
/// changed; [`ConfigError::TableFull`] if the entry would be one too many.
fn upsert<T: Copy + PartialEq + Withdrawable, K: Ord>(
    table: &mut [Option<T>],
    max: usize,
    entry: T,
    same: impl Fn(&T) -> bool,
    end: impl Fn(&T) -> Option<K>,
    counters: &mut Counters,
) -> Result<bool, ConfigError> {
    let full = active(table) >= max;
    if let Some(slot) = table.iter_mut().flatten().find(|e| same(e)) {
        if *slot == entry {
            return Ok(false);
        }
        if slot.is_withdrawing() && full {
            return Err(ConfigError::TableFull);
        }
        *slot = entry;
    } else {
        if full {
            return Err(ConfigError::TableFull);
        }
        let i = free_slot(table, end, counters);
        table[i] = Some(entry);
    }
    Ok(true)
}

/// Something a table holds that can be in the middle of its withdrawal.
trait Withdrawable {
    fn is_withdrawing(&self) -> bool;
}

impl Withdrawable for PrefixEntry {
    fn is_withdrawing(&self) -> bool {
        self.withdraw_until.is_some()
    }
}

impl Withdrawable for RouteEntry {
    fn is_withdrawing(&self) -> bool {
        self.withdrawals_left.is_some()
    }
}

/// A free slot of `table`; if there is none, the withdrawal whose `end` is soonest is cut
/// short and counted. Callers keep fewer active entries than half the slots, so a
/// withdrawing entry always exists when the table is full.
fn free_slot<T: Copy, K: Ord>(
    table: &mut [Option<T>],
    end: impl Fn(&T) -> Option<K>,
    counters: &mut Counters,
) -> usize {
    if let Some(i) = table.iter().position(Option::is_none) {
        return i;
    }
    let victim = table
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().and_then(&end).map(|k| (k, i)))
        .min()
        .map(|(_, i)| i)
        .unwrap_or(0);
    counters.withdrawals_evicted += 1;
    victim
}

/// `prefix` with the bits past its length cleared.
fn network(prefix: Ipv6Cidr) -> Ipv6Cidr {
    let len = u32::from(prefix.prefix_len());
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    Ipv6Cidr::new(
        Ipv6Address::from(u128::from(prefix.address()) & mask),
        prefix.prefix_len(),
    )
}

/// A uniformly distributed duration in `[lo, hi]`, to the microsecond.
fn random_between<R: RngCore + ?Sized>(rng: &mut R, lo: Duration, hi: Duration) -> Duration {
    let span = hi.total_micros().saturating_sub(lo.total_micros());
    let offset = rng.next_u64() % span.saturating_add(1);
    Duration::from_micros(lo.total_micros() + offset)
}

/// `now + d`, saturating instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    let micros = i64::try_from(d.total_micros()).unwrap_or(i64::MAX);
    Instant::from_micros(now.total_micros().saturating_add(micros))
}

/// Whole seconds from `now` until `t`, rounded down (0 once passed); never [`INFINITE`].
fn secs_until(t: Instant, now: Instant) -> u32 {
    if t <= now {
        return 0;
    }
    let secs = (t - now).total_micros() / 1_000_000;
    u32::try_from(secs)
        .unwrap_or(INFINITE - 1)
        .min(INFINITE - 1)
}

/// A configured lifetime capped by the time left until `until`.
fn cap(lifetime: u32, until: Option<Instant>, now: Instant) -> u32 {
    match until {
        Some(t) => lifetime.min(secs_until(t, now)),
        None => lifetime,
    }
}

/// Whether the end `t` has come at `now`.
fn reached(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}
