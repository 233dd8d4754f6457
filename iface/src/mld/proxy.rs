//! MLD proxying (RFC 4605): a router with one upstream link and `L` downstream links that
//! aggregates its subtree's memberships upstream and forwards multicast by them, sans-IO.
//!
//! - Each downstream link runs an [`MldQuerier`] (the router part of MLD, RFC 4605 §4: "A
//!   router performing IGMP/MLD-based forwarding ... performs the router portion of the
//!   IGMP or MLD protocol on each downstream interface").
//! - The upstream link runs an [`MldHost`] (§4: "the host portion ... on the upstream
//!   interface"). The membership database (§4.1) holds, per group, the merge of the
//!   downstream queriers' records (filter mode and sources, RFC 3810 §7.2), merged by the
//!   rules for several memberships of one interface (RFC 4605 §4.1 refers to RFC 3810
//!   §4.2):
//!   - if any link's record is EXCLUDE, the merge is EXCLUDE with the intersection of the
//!     EXCLUDE records' Exclude Lists minus the union of the INCLUDE records' lists;
//!   - if all are INCLUDE, the merge is INCLUDE with the union of their lists.
//!
//!   The merged filter receives exactly the sources some downstream link wants
//!   ([`MldQuerier::wants`]). It is given to the upstream host with [`MldHost::listen`]
//!   whenever downstream state changes (a report, a timer), and the host reports it
//!   upstream with ALLOW/BLOCK or TO_IN/TO_EX records (RFC 3810 §6.1), so the upstream
//!   router sends down the link only the sources this subtree wants. If the merge does
//!   not fit the host's bounds (an INCLUDE union of more than `S` sources, or more than
//!   [`MldHost::max_sources`]), the group is reported as EXCLUDE {} instead: a superset of
//!   what the subtree wants, never a subset, so no listener misses traffic; counted in
//!   [`ProxyCounters::upstream_source_overflow`]. The upstream link may then carry sources
//!   nobody below wants; [`MldProxy::forward`] still sends each downstream link only what
//!   its listeners asked for. Groups of scope 2 or less, and groups whose scope cannot
//!   cross the upstream link's boundary, are never reported upstream.
//! - [`MldProxy::forward`] is the forwarding decision of §4.2: a packet from upstream goes to
//!   each downstream link that wants its (source, group) and on which this router is the
//!   querier (a source the merged upstream filter excludes is wanted by no downstream link,
//!   so it goes nowhere, counted in [`LinkCounters::withheld_no_listeners`]); a packet
//!   from a downstream link goes upstream and to the other downstream links that want it;
//!   never back to the link it came from. Nothing of scope 0, 1, 2 or 15 is forwarded
//!   (RFC 4291 §2.7: interface- and link-local scopes never leave their link; 0 and 15 are
//!   reserved), nor a packet from a link-local or unspecified source (RFC 4291 §2.5.6,
//!   §2.5.2), and each link's [`LinkConfig::min_scope`] is a zone boundary (RFC 4007 §9):
//!   a packet of a smaller scope neither enters nor leaves through it. The root of a tree
//!   has no upstream link.
//!
//! Every decision is counted per link ([`LinkCounters`]) and per group
//! ([`GroupTraffic`]), and each downstream querier counts per group
//! ([`GroupCounters`](super::querier::GroupCounters)).

use rand_core::RngCore;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

use super::querier::{self, FilterMode, GroupRecord, MldQuerier, QuerierConfig};
use super::{Config, Handled, MldError, MldHost};

/// The largest number of downstream links a proxy has (the size of [`LinkSet`]).
pub const MAX_DOWNSTREAM: usize = 64;

/// A link of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// The upstream link, towards the root.
    Upstream,
    /// Downstream link number `n` (from 0).
    Downstream(usize),
}

/// A set of links: where a packet goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LinkSet {
    upstream: bool,
    downstream: u64,
}

impl LinkSet {
    /// Whether `link` is in the set.
    pub fn contains(&self, link: Link) -> bool {
        match link {
            Link::Upstream => self.upstream,
            Link::Downstream(n) => n < MAX_DOWNSTREAM && self.downstream & 1 << n != 0,
        }
    }

    fn insert(&mut self, link: Link) {
        match link {
            Link::Upstream => self.upstream = true,
            Link::Downstream(n) if n < MAX_DOWNSTREAM => self.downstream |= 1 << n,
            Link::Downstream(_) => {}
        }
    }

    /// The links in the set: upstream first, then downstream in order.
    pub fn iter(&self) -> impl Iterator<Item = Link> + '_ {
        let upstream = self.upstream.then_some(Link::Upstream);
        upstream.into_iter().chain(
            (0..MAX_DOWNSTREAM)
                .filter(|n| self.downstream & 1 << n != 0)
                .map(Link::Downstream),
        )
    }

    /// How many links.
    pub fn len(&self) -> usize {
        usize::from(self.upstream) + self.downstream.count_ones() as usize
    }

    /// Whether the set is empty (the packet goes nowhere).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why [`MldProxy::forward`] forwards a packet nowhere at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotForwarded {
    /// The destination is not a multicast address.
    NotMulticast,
    /// Scope 0 or 15 (reserved, RFC 4291 §2.7).
    ReservedScope,
    /// Scope 1 or 2: interface- or link-local, never forwarded (RFC 4291 §2.7).
    LinkScope,
    /// A link-local or unspecified source: "Routers must not forward any packets with
    /// Link-Local source or destination addresses to other links" (RFC 4291 §2.5.6).
    LinkLocalSource,
    /// The scope is below the arrival link's [`LinkConfig::min_scope`]: the packet's zone
    /// ends there (RFC 4007 §9).
    ScopeBoundary,
    /// No such link (or no upstream link on the root).
    UnknownLink,
}

/// One link's addresses and boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Our link-local address on the link: the source of our queries (downstream) or
    /// reports (upstream).
    pub link_local: Ipv6Address,
    /// The smallest multicast scope that may cross this link (RFC 4007 §9 zone boundary);
    /// default 3 (realm-local). 5 stops site-local traffic at a site's edge, and so on.
    /// Values below 3 act as 3: link-local traffic never crosses.
    pub min_scope: u8,
}

impl LinkConfig {
    /// A link with address `link_local` and the default boundary (scope 3 and above cross).
    pub fn new(link_local: Ipv6Address) -> LinkConfig {
        LinkConfig {
            link_local,
            min_scope: 3,
        }
    }
}

/// Per-link forwarding counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LinkCounters {
    /// Multicast packets that arrived on this link to be forwarded.
    pub received: u64,
    /// Arrived packets forwarded nowhere, by reason (summed over [`NotForwarded`]).
    pub dropped_on_arrival: u64,
    /// Copies forwarded out of this link.
    pub forwarded: u64,
    /// Copies not sent out of this link: no listener wants the group and source.
    pub withheld_no_listeners: u64,
    /// Copies not sent: a listener wants it, but another router is the querier on the
    /// link and forwards it (RFC 4605 §4.2).
    pub withheld_not_querier: u64,
    /// Copies not sent: the scope cannot cross this link's boundary.
    pub withheld_scope_boundary: u64,
}

/// Packets forwarded nowhere, by reason, over all links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DropCounters {
    /// [`NotForwarded::NotMulticast`].
    pub not_multicast: u64,
    /// [`NotForwarded::ReservedScope`].
    pub reserved_scope: u64,
    /// [`NotForwarded::LinkScope`].
    pub link_scope: u64,
    /// [`NotForwarded::LinkLocalSource`].
    pub link_local_source: u64,
    /// [`NotForwarded::ScopeBoundary`].
    pub scope_boundary: u64,
    /// [`NotForwarded::UnknownLink`].
    pub unknown_link: u64,
}

/// Proxy-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProxyCounters {
    /// Packets forwarded nowhere, by reason.
    pub dropped: DropCounters,
    /// Groups joined upstream (the membership database gained them).
    pub upstream_joins: u64,
    /// Groups left upstream (their last downstream listener went).
    pub upstream_leaves: u64,
    /// Changes of the upstream filter of a group that stays joined (sources or filter
    /// mode).
    pub upstream_filter_changes: u64,
    /// Merged filters that did not fit the upstream host's bounds and were reported as
    /// EXCLUDE {} (every source) instead: a superset of what downstream wants.
    pub upstream_source_overflow: u64,
    /// Joins the upstream host refused because its table was full: the group is not
    /// reported upstream (retried at every later membership update).
    pub upstream_table_full: u64,
    /// Packets of a group not counted per group because the per-group table was full.
    pub group_traffic_untracked: u64,
    /// Packets handed in for a link that does not exist.
    pub unknown_link_packets: u64,
}

/// Per-group forwarding counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GroupTraffic {
    /// Packets of the group [`MldProxy::forward`] decided on.
    pub packets: u64,
    /// Copies sent (over all out links).
    pub copies: u64,
    /// Packets that went nowhere.
    pub unforwarded: u64,
}

/// What [`MldProxy::handle_packet`] did with an MLD packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHandled {
    /// Handled by the upstream host.
    Upstream(Handled),
    /// Handled by a downstream querier.
    Downstream(querier::Handled),
    /// No such link; counted in [`ProxyCounters::unknown_link_packets`].
    UnknownLink,
}

/// The scope of a multicast address (RFC 4291 §2.7).
pub fn scope(group: &Ipv6Address) -> u8 {
    group.octets()[1] & 0x0f
}

/// A small generator (splitmix64) that stands in for the caller's RNG in calls that take
/// none ([`MldProxy::handle_timeout`]), reseeded from it at every call that takes one.
#[derive(Debug, Clone, Copy)]
struct Reseeded(u64);

impl RngCore for Reseeded {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[derive(Debug, Clone)]
struct Upstream<const G: usize, const S: usize> {
    host: MldHost<G, S>,
    min_scope: u8,
    counters: LinkCounters,
}

#[derive(Debug, Clone)]
struct Downstream<const G: usize, const S: usize> {
    querier: MldQuerier<G, S>,
    min_scope: u8,
    counters: LinkCounters,
}

/// An MLD proxy (RFC 4605) with `L` downstream links, tracking up to `G` groups with up to
/// `S` sources each per link. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct MldProxy<const G: usize, const S: usize> {
    upstream: Option<Upstream<G, S>>,
    /// Downstream link `n` is `downstream[n]`; at most [`MAX_DOWNSTREAM`].
    downstream: Vec<Downstream<G, S>>,
    rng: Reseeded,
    traffic: [Option<(Ipv6Address, GroupTraffic)>; G],
    counters: ProxyCounters,
}

impl<const G: usize, const S: usize> MldProxy<G, S> {
    /// A proxy whose downstream queriers start at `now` (each sends its startup General
    /// Queries) and whose upstream host, if any, reports from `upstream.link_local`.
    /// `upstream` is `None` at the root of a tree. [`MldError::NotLinkLocal`] if an address
    /// is not link-local. Downstream link `n` is `downstream[n]`; more than
    /// [`MAX_DOWNSTREAM`] links is [`MldError::TableFull`].
    pub fn new(
        querier: QuerierConfig,
        host: Config,
        upstream: Option<LinkConfig>,
        downstream: &[LinkConfig],
        now: Instant,
    ) -> Result<Self, MldError> {
        if downstream.len() > MAX_DOWNSTREAM {
            return Err(MldError::TableFull);
        }
        let upstream = match upstream {
            Some(link) => {
                let mut host = MldHost::with_capacity(host);
                host.set_link_local(Some(link.link_local))?;
                Some(Upstream {
                    host,
                    min_scope: link.min_scope.max(3),
                    counters: LinkCounters::default(),
                })
            }
            None => None,
        };
        for link in downstream {
            if !link.link_local.is_unicast_link_local() {
                return Err(MldError::NotLinkLocal);
            }
        }
        let mut links = Vec::with_capacity(downstream.len());
        for link in downstream {
            links.push(Downstream {
                querier: MldQuerier::new(querier, link.link_local, now)?,
                min_scope: link.min_scope.max(3),
                counters: LinkCounters::default(),
            });
        }
        Ok(MldProxy {
            upstream,
            downstream: links,
            rng: Reseeded(0),
            traffic: [None; G],
            counters: ProxyCounters::default(),
        })
    }

    /// The querier on downstream link `n`.
    pub fn querier(&self, n: usize) -> Option<&MldQuerier<G, S>> {
        self.downstream.get(n).map(|d| &d.querier)
    }

    /// The host on the upstream link (`None` at the root).
    pub fn upstream_host(&self) -> Option<&MldHost<G, S>> {
        self.upstream.as_ref().map(|u| &u.host)
    }

    /// Proxy-wide counters.
    pub fn counters(&self) -> &ProxyCounters {
        &self.counters
    }

    /// Forwarding counters of `link`.
    pub fn link_counters(&self, link: Link) -> Option<&LinkCounters> {
        match link {
            Link::Upstream => self.upstream.as_ref().map(|u| &u.counters),
            Link::Downstream(n) => self.downstream.get(n).map(|d| &d.counters),
        }
    }

    /// Forwarding counters of `group` (kept for up to `G` groups at a time).
    pub fn group_traffic(&self, group: &Ipv6Address) -> Option<&GroupTraffic> {
        self.traffic
            .iter()
            .flatten()
            .find(|(g, _)| g == group)
            .map(|(_, t)| t)
    }

    /// The membership database (RFC 4605 §4.1) asked per source: whether any downstream
    /// link wants `source`'s packets to `group`. This is the merge of §4.1 (an EXCLUDE
    /// record on any link makes the merge EXCLUDE with the intersection of the exclude
    /// lists minus the union of the include lists; otherwise INCLUDE with the union).
    pub fn subscribed(&self, group: &Ipv6Address, source: &Ipv6Address) -> bool {
        self.downstream
            .iter()
            .any(|d| d.querier.wants(group, source))
    }

    /// The groups of the membership database, as reported upstream (those whose merged
    /// filter is not INCLUDE {}).
    pub fn upstream_groups(&self) -> impl Iterator<Item = Ipv6Address> + '_ {
        self.upstream.iter().flat_map(|u| u.host.groups())
    }

    /// The filter reported upstream for `group`: the merge of the downstream records (see
    /// the [module documentation](self)), or EXCLUDE {} if that did not fit. `None` if the
    /// group is not reported upstream (no downstream listener, a scope that does not cross
    /// the upstream boundary, or the root).
    pub fn upstream_filter(&self, group: &Ipv6Address) -> Option<(FilterMode, &[Ipv6Address])> {
        self.upstream.as_ref().and_then(|u| u.host.filter(group))
    }

    /// Handles an MLD packet (a whole IPv6 packet) received on `link`: downstream by that
    /// link's querier, upstream by the host. Then brings the upstream reports in line with
    /// the membership database.
    pub fn handle_packet<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: Link,
        packet: &[u8],
        rng: &mut R,
    ) -> ProxyHandled {
        self.rng.0 = self.rng.0.rotate_left(29) ^ rng.next_u64();
        let handled = match link {
            Link::Upstream => match self.upstream.as_mut() {
                Some(up) => ProxyHandled::Upstream(up.host.handle_packet(now, packet, rng)),
                None => ProxyHandled::UnknownLink,
            },
            Link::Downstream(n) => match self.downstream.get_mut(n) {
                Some(d) => ProxyHandled::Downstream(d.querier.handle_packet(now, packet)),
                None => ProxyHandled::UnknownLink,
            },
        };
        if handled == ProxyHandled::UnknownLink {
            self.counters.unknown_link_packets += 1;
        }
        self.sync_upstream(now);
        handled
    }

    /// Brings the upstream host's filters in line with the membership database: for each
    /// group some downstream link has a record for, the merge of the records (RFC 4605
    /// §4.1) is given to [`MldHost::listen`] if it differs from what is reported; groups no
    /// downstream link has a record for any more are left. No allocation; a scan per group
    /// of every link's table (MLD messages and timers only, not the data path).
    fn sync_upstream(&mut self, now: Instant) {
        let MldProxy {
            upstream,
            downstream,
            rng,
            counters,
            ..
        } = self;
        let Some(up) = upstream.as_mut() else {
            return;
        };
        let min_scope = up.min_scope;
        let reportable = |g: &Ipv6Address| scope(g) > 2 && scope(g) >= min_scope;
        for (n, d) in downstream.iter().enumerate() {
            for record in d.querier.groups() {
                let group = record.group();
                // Each group once: at the first link that has a record for it.
                if !reportable(&group)
                    || downstream[..n]
                        .iter()
                        .any(|e| e.querier.group(&group).is_some())
                {
                    continue;
                }
                let records = downstream.iter().filter_map(|d| d.querier.group(&group));
                let mut sources = [Ipv6Address::UNSPECIFIED; S];
                let (mode, len, overflow) = match merge(records, &mut sources) {
                    Some((mode, len)) if len <= up.host.max_sources() => (mode, len, false),
                    // Too many sources for the host: every source, a superset.
                    _ => (FilterMode::Exclude, 0, true),
                };
                let sources = &sources[..len];
                if same_filter(up.host.filter(&group), mode, sources) {
                    continue;
                }
                let was_joined = up.host.is_joined(&group);
                if up.host.listen(now, group, mode, sources, rng).is_err() {
                    counters.upstream_table_full += 1;
                    continue;
                }
                log::debug!("mld proxy: upstream {group} now {mode:?} {sources:?}");
                match (was_joined, up.host.is_joined(&group)) {
                    (false, true) => counters.upstream_joins += 1,
                    (true, false) => counters.upstream_leaves += 1,
                    _ => counters.upstream_filter_changes += 1,
                }
                counters.upstream_source_overflow += u64::from(overflow);
            }
        }
        let mut gone = [Ipv6Address::UNSPECIFIED; G];
        let mut n = 0;
        for group in up.host.groups() {
            let wanted = downstream.iter().any(|d| d.querier.group(&group).is_some());
            if !wanted && n < G {
                gone[n] = group;
                n += 1;
            }
        }
        for group in &gone[..n] {
            if up.host.leave(now, *group, rng).is_ok() {
                counters.upstream_leaves += 1;
            }
        }
    }

    /// Runs every link's timers; a spurious or early call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(up) = self.upstream.as_mut() {
            up.host.handle_timeout(now);
        }
        for d in self.downstream.iter_mut() {
            d.querier.handle_timeout(now);
        }
        self.sync_upstream(now);
    }

    /// The earliest time any link has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let up = self.upstream.as_ref().and_then(|u| u.host.poll_timeout());
        self.downstream
            .iter()
            .filter_map(|d| d.querier.poll_timeout())
            .chain(up)
            .min()
    }

    /// Writes the next due MLD packet (a report upstream or a query downstream) into `buf`
    /// and returns the link it goes out on and its length. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Link, usize)> {
        // Timer expiries may have changed the membership database.
        self.handle_timeout(now);
        if let Some(up) = self.upstream.as_mut()
            && let Some(len) = up.host.poll_transmit(now, buf)
        {
            return Some((Link::Upstream, len));
        }
        self.downstream.iter_mut().enumerate().find_map(|(n, d)| {
            d.querier
                .poll_transmit(now, buf)
                .map(|len| (Link::Downstream(n), len))
        })
    }

    /// The forwarding decision (RFC 4605 §4.2) for a multicast data packet from `source` to
    /// `group` that arrived on `in_link`: the links to send a copy out of, never `in_link`.
    /// Counted per link, per group and, for the downstream links' state, per group in each
    /// querier ([`MldQuerier::admit`]). No allocation; a scan of each downstream link's
    /// table.
    pub fn forward(
        &mut self,
        in_link: Link,
        group: &Ipv6Address,
        source: &Ipv6Address,
    ) -> Result<LinkSet, NotForwarded> {
        let result = self.decide(in_link, group, source);
        if let Some(c) = self.link_counters_mut(in_link) {
            c.received += 1;
            if result.is_err() {
                c.dropped_on_arrival += 1;
            }
        }
        let d = &mut self.counters.dropped;
        match result {
            Err(NotForwarded::NotMulticast) => d.not_multicast += 1,
            Err(NotForwarded::ReservedScope) => d.reserved_scope += 1,
            Err(NotForwarded::LinkScope) => d.link_scope += 1,
            Err(NotForwarded::LinkLocalSource) => d.link_local_source += 1,
            Err(NotForwarded::ScopeBoundary) => d.scope_boundary += 1,
            Err(NotForwarded::UnknownLink) => d.unknown_link += 1,
            Ok(set) => {
                self.count_group(group, set.len());
                return Ok(set);
            }
        }
        Err(result.err().unwrap_or(NotForwarded::UnknownLink))
    }

    fn link_counters_mut(&mut self, link: Link) -> Option<&mut LinkCounters> {
        match link {
            Link::Upstream => self.upstream.as_mut().map(|u| &mut u.counters),
            Link::Downstream(n) => self.downstream.get_mut(n).map(|d| &mut d.counters),
        }
    }

    fn count_group(&mut self, group: &Ipv6Address, copies: usize) {
        let i = self
            .traffic
            .iter()
            .position(|e| e.is_some_and(|(g, _)| g == *group))
            .or_else(|| self.traffic.iter().position(Option::is_none))
            .or_else(|| {
                // Full: reuse the slot of a group no link has listeners for any more.
                self.traffic.iter().position(|e| {
                    e.is_some_and(|(g, _)| {
                        !self
                            .downstream
                            .iter()
                            .any(|d| d.querier.group(&g).is_some())
                    })
                })
            });
        let Some(i) = i else {
            self.counters.group_traffic_untracked += 1;
            return;
        };
        let entry = &mut self.traffic[i];
        if entry.is_none_or(|(g, _)| g != *group) {
            *entry = Some((*group, GroupTraffic::default()));
        }
        if let Some((_, t)) = entry.as_mut() {
            t.packets += 1;
            t.copies += copies as u64;
            t.unforwarded += u64::from(copies == 0);
        }
    }

    /// [`forward`](MldProxy::forward)'s decision and its per-out-link counts.
    fn decide(
        &mut self,
        in_link: Link,
        group: &Ipv6Address,
        source: &Ipv6Address,
    ) -> Result<LinkSet, NotForwarded> {
        let in_scope = match in_link {
            Link::Upstream => self.upstream.as_ref().map(|u| u.min_scope),
            Link::Downstream(n) => self.downstream.get(n).map(|d| d.min_scope),
        }
        .ok_or(NotForwarded::UnknownLink)?;
        if !group.is_multicast() {
            return Err(NotForwarded::NotMulticast);
        }
        let scope = scope(group);
        match scope {
            0 | 15 => return Err(NotForwarded::ReservedScope),
            1 | 2 => return Err(NotForwarded::LinkScope),
            _ => {}
        }
        if source.is_unicast_link_local() || source.is_unspecified() {
            return Err(NotForwarded::LinkLocalSource);
        }
        if scope < in_scope {
            return Err(NotForwarded::ScopeBoundary);
        }
        let mut out = LinkSet::default();
        // §4.2: "A router MUST forward packets received on any downstream interface to the
        // upstream interface".
        if in_link != Link::Upstream
            && let Some(up) = self.upstream.as_mut()
        {
            if scope < up.min_scope {
                up.counters.withheld_scope_boundary += 1;
            } else {
                up.counters.forwarded += 1;
                out.insert(Link::Upstream);
            }
        }
        // "... and to each downstream interface other than the incoming interface based upon
        // the downstream interfaces' subscriptions and whether or not this router is the
        // IGMP/MLD querier on each interface."
        for (n, d) in self.downstream.iter_mut().enumerate() {
            if in_link == Link::Downstream(n) {
                continue;
            }
            let c = &mut d.counters;
            if scope < d.min_scope {
                c.withheld_scope_boundary += 1;
            } else if !d.querier.admit(group, source) {
                c.withheld_no_listeners += 1;
            } else if !d.querier.is_querier() {
                c.withheld_not_querier += 1;
            } else {
                c.forwarded += 1;
                out.insert(Link::Downstream(n));
            }
        }
        Ok(out)
    }
}

/// Whether the host's filter `current` (`None`: INCLUDE {}) is `mode` with `sources`, in
/// any order.
fn same_filter(
    current: Option<(FilterMode, &[Ipv6Address])>,
    mode: FilterMode,
    sources: &[Ipv6Address],
) -> bool {
    let (current_mode, current) = current.unwrap_or((FilterMode::Include, &[]));
    current_mode == mode
        && current.len() == sources.len()
        && sources.iter().all(|s| current.contains(s))
}

/// The merge of one group's records on several links (RFC 4605 §4.1 by the rules of
/// RFC 3810 §4.2), written to `out`: its filter mode and how many sources of `out` it has,
/// or `None` if an INCLUDE union has more than `S` sources.
///
/// - Some record EXCLUDE: EXCLUDE with the intersection of the Exclude Lists minus the
///   union of the INCLUDE lists. Worked out as the sources of the first EXCLUDE record's
///   Exclude List that no record wants ([`GroupRecord::wants`]): a source in every Exclude
///   List and no INCLUDE list is wanted by no link, and the other way round. At most `S`
///   (one record's list), so it always fits.
/// - All INCLUDE: INCLUDE with the union of their lists (the sources each record wants).
///
/// Either way the merged filter accepts a source exactly when some record wants it.
fn merge<'a, const S: usize>(
    records: impl Iterator<Item = &'a GroupRecord<S>> + Clone,
    out: &mut [Ipv6Address; S],
) -> Option<(FilterMode, usize)> {
    let mut len = 0;
    let mut add = |source: Ipv6Address, out: &mut [Ipv6Address; S]| {
        if out[..len].contains(&source) {
            return true;
        }
        let Some(slot) = out.get_mut(len) else {
            return false;
        };
        *slot = source;
        len += 1;
        true
    };
    let first_exclude = records
        .clone()
        .find(|r| r.filter_mode() == FilterMode::Exclude);
    if let Some(first) = first_exclude {
        for source in first.sources().filter(|s| s.timer.is_none()) {
            if !records.clone().any(|r| r.wants(&source.addr)) && !add(source.addr, out) {
                // Unreachable: one record has at most `S` sources. A superset is safe.
                return Some((FilterMode::Exclude, 0));
            }
        }
        return Some((FilterMode::Exclude, len));
    }
    for record in records {
        for source in record.sources().filter(|s| record.wants(&s.addr)) {
            if !add(source.addr, out) {
                return None;
            }
        }
    }
    Some((FilterMode::Include, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    fn proxy(upstream: bool) -> MldProxy<4, 2> {
        let link = LinkConfig::new(LL);
        let mut boundary = link;
        boundary.min_scope = 8;
        let up = upstream.then_some(boundary);
        MldProxy::new(
            QuerierConfig::default(),
            Config::default(),
            up,
            &[link; 3],
            Instant::ZERO,
        )
        .unwrap()
    }

    #[test]
    fn scopes_and_sources_that_never_cross() {
        let mut p = proxy(true);
        let src = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let g = |s: u16| Ipv6Address::new(0xff00 | s, 0, 0, 0, 0, 0, 0, 1);
        let up = Link::Upstream;
        assert_eq!(p.forward(up, &g(2), &src), Err(NotForwarded::LinkScope));
        assert_eq!(p.forward(up, &g(1), &src), Err(NotForwarded::LinkScope));
        assert_eq!(p.forward(up, &g(0), &src), Err(NotForwarded::ReservedScope));
        assert_eq!(
            p.forward(up, &g(5), &LL),
            Err(NotForwarded::LinkLocalSource)
        );
        assert_eq!(p.forward(up, &g(5), &src), Err(NotForwarded::ScopeBoundary));
        assert_eq!(p.forward(up, &src, &src), Err(NotForwarded::NotMulticast));
        assert_eq!(
            p.forward(Link::Downstream(3), &g(5), &src),
            Err(NotForwarded::UnknownLink)
        );
        // From downstream: a site-scope packet does not cross the scope-8 upstream boundary.
        let set = p.forward(Link::Downstream(0), &g(5), &src).unwrap();
        assert!(set.is_empty());
        assert_eq!(p.link_counters(up).unwrap().withheld_scope_boundary, 1);
        // Global scope goes upstream (RFC 4605 §4.2) and not back to link 0.
        let set = p.forward(Link::Downstream(0), &g(0xe), &src).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Link::Upstream]);
        assert_eq!(p.counters().dropped.link_scope, 2);
        assert_eq!(p.group_traffic(&g(0xe)).unwrap().copies, 1);
        assert_eq!(
            p.link_counters(Link::Downstream(1))
                .unwrap()
                .withheld_no_listeners,
            2
        );
    }

    #[test]
    fn filters_compare_as_sets() {
        let (a, b) = (
            Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
        );
        let current = Some((FilterMode::Include, &[a, b][..]));
        assert!(same_filter(current, FilterMode::Include, &[b, a]));
        assert!(!same_filter(current, FilterMode::Exclude, &[a, b]));
        assert!(!same_filter(current, FilterMode::Include, &[a]));
        // No state is INCLUDE {}.
        assert!(same_filter(None, FilterMode::Include, &[]));
        assert!(!same_filter(None, FilterMode::Exclude, &[]));
    }

    #[test]
    fn the_root_has_no_upstream() {
        let mut p = proxy(false);
        let src = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let g = Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, 1);
        assert_eq!(
            p.forward(Link::Upstream, &g, &src),
            Err(NotForwarded::UnknownLink)
        );
        assert_eq!(
            p.forward(Link::Downstream(0), &g, &src),
            Ok(LinkSet::default())
        );
    }
}
