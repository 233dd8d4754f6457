//! MLD as a router: the querier that tracks listeners on one link (RFC 3810 §7), with MLDv1
//! compatibility per multicast address (§8.3.2) and an MLDv1 mode for links shared with an
//! MLDv1 router (§8.3.1), as a sans-IO state machine.
//!
//! [`MldQuerier`] takes whole IPv6 packets like [`MldHost`](super::MldHost):
//!
//! - [`MldQuerier::handle_packet`] validates a packet with
//!   [`bridgeless_wire::mld::parse_ipv6`] and applies it: a report's records change the
//!   per-address state by the tables of §7.4 (IS_IN, IS_EX, TO_IN, TO_EX, ALLOW, BLOCK), an
//!   MLDv1 Report or Done is translated (§8.3.2), a query from a router with a lower address
//!   makes this one a non-querier (§7.6.2) that still tracks listeners and follows the
//!   querier's timer updates (§7.6.1);
//! - [`MldQuerier::poll_transmit`] writes the General Queries (first [Startup Query Count]
//!   of them [Startup Query Interval] apart, §7.6.2, then every [Query Interval]), and the
//!   Multicast Address Specific and Multicast Address and Source Specific Queries that
//!   leaves and blocks call for, [Last Listener Query Count] times [Last Listener Query
//!   Interval] apart (§7.6.3);
//! - [`MldQuerier::poll_timeout`] and [`MldQuerier::handle_timeout`] run the filter, source,
//!   Other Querier Present and Older Version Host Present timers (§7.5, §7.6.2, §8.3.2);
//! - [`MldQuerier::wants`] is the data-plane question of §7.2.1: should a packet from
//!   `source` to `group` go onto this link?
//!
//! The querier draws no random numbers (its timers are fixed by RFC 3810 §7 and §9), so,
//! unlike [`MldHost`](super::MldHost), its calls take no RNG.
//!
//! # MLD versions
//!
//! [`QuerierConfig::version`] says which version the querier runs; it is set by hand, since
//! RFC 3810 §8.3.1 leaves it to the administrator (no router can tell reliably that an MLDv1
//! router shares the link).
//!
//! - [`MldVersion::V2`], the default: queries are MLDv2 queries. MLDv1 listeners read them
//!   as MLDv1 queries (RFC 3810 §8.2.1 and RFC 2710 §3.7 let them ignore the extra octets;
//!   Linux in MLDv1 mode does), so an address whose listeners speak MLDv1 needs no other
//!   query: it is only put in MLDv1 compatibility mode (§8.3.2, [`GroupCompatibility`]). An
//!   MLDv1 query from another router means an MLDv1 router is on the link, which §8.3.1
//!   says this router should be configured for: it is counted in
//!   [`Counters::other_version_queries`] and logged with `log::warn!` (at most once every
//!   [`VERSION_WARNING_INTERVAL`], §8.3.1: the warnings "MUST be rate-limited"), and it
//!   still takes part in the querier election.
//! - [`MldVersion::V1`], for a link with an MLDv1 router (§8.3.1: then every router there
//!   must act as an MLDv1 router, and the querier uses the lowest version): General and
//!   Multicast Address Specific Queries are MLDv1 queries, 24 octets long, whose Maximum
//!   Response Delay is written in milliseconds as it is, not as the code of §5.1.3 (so the
//!   Query Response Interval and Last Listener Query Interval are capped at 65,535 ms).
//!   There are no source-specific queries. MLDv1 Reports and Dones are handled as an MLDv1
//!   router handles them (RFC 2710 §4), by the translation of §8.3.2: a Report makes a
//!   listener of all sources for the Multicast Address Listening Interval, a Done brings
//!   [Last Listener Query Count] Multicast Address Specific Queries and the address is
//!   gone after the Last Listener Query Time unless a Report answers. MLDv2 Reports are
//!   ignored as the MLDv1 router ignores them (so both keep the same listener state) and
//!   counted in [`DropCounters::report_v2_in_v1_mode`]: a host answers an MLDv1 query with
//!   MLDv1 Reports (§8.2.1), so after our first query the link's hosts speak MLDv1. The
//!   querier does not adopt the QRV or QQIC of another router's queries (MLDv1 has none),
//!   and an MLDv2 query from another router is counted and warned about like an MLDv1 one
//!   in MLDv2 mode (§8.3.1: it "SHOULD also warn about receiving an MLDv2 Query").
//!
//! ```
//! use bridgeless_iface::mld::querier::{MldQuerier, QuerierConfig};
//! use smoltcp::time::Instant;
//! use smoltcp::wire::Ipv6Address;
//!
//! let me = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
//! let mut querier = MldQuerier::<16, 8>::new(QuerierConfig::default(), me, Instant::ZERO).unwrap();
//! let mut buf = [0u8; 1280];
//! let len = querier.poll_transmit(Instant::ZERO, &mut buf).expect("a startup General Query");
//! let query = bridgeless_wire::mld::parse_ipv6(&buf[..len]).unwrap();
//! assert_eq!(query.dst_addr, bridgeless_wire::mld::ALL_NODES);
//! assert!(querier.is_querier());
//! ```

mod group;
#[cfg(test)]
mod tests;

use bridgeless_wire::mld::{
    self, MldMessage, MldRepr, Query, QueryRepr, QueryVersion, RecordType, ValidationError,
};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::{InvalidCounters, MIN_MTU, MldError, is_reportable};
use group::{Change, Timing, earliest};
pub use group::{FilterMode, GroupCompatibility, GroupCounters, GroupRecord, SourceRecord};

/// The MLD version a querier runs (RFC 3810 §8.3.1); see the [module
/// documentation](self#mld-versions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MldVersion {
    /// MLDv1 (RFC 2710), for a link shared with an MLDv1 router: MLDv1 queries, MLDv1
    /// listeners only.
    V1,
    /// MLDv2 (RFC 3810), with MLDv1 compatibility per multicast address (§8.3.2). The
    /// default: §8.3.1 has MLDv1 mode configured by hand.
    #[default]
    V2,
}

impl MldVersion {
    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            MldVersion::V1 => 1,
            MldVersion::V2 => 2,
        }
    }
}

impl core::fmt::Display for MldVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MLDv{}", self.number())
    }
}

/// How often, at most, the querier warns that a router of the other MLD version is on the
/// link (RFC 3810 §8.3.1: these warnings "MUST be rate-limited"). Every such query is
/// counted in [`Counters::other_version_queries`] regardless.
pub const VERSION_WARNING_INTERVAL: Duration = Duration::from_secs(300);

/// The largest Maximum Response Delay an MLDv1 query can carry: 16 bits of milliseconds
/// (RFC 2710 §3.4).
const MAX_V1_RESPONSE_DELAY: Duration = Duration::from_millis(u16::MAX as u64);

/// Router protocol variables (RFC 3810 §9) and the MLD version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerierConfig {
    /// The MLD version the querier runs, default [`MldVersion::V2`]. [`MldVersion::V1`] only
    /// on a link with an MLDv1 router, where RFC 3810 §8.3.1 requires every router to be
    /// configured for MLDv1.
    pub version: MldVersion,
    /// [Robustness Variable] (§9.1), default 2; 0 is taken as 1. Sent as the QRV (0 in the
    /// query if over 7, §5.1.8). A non-querier adopts the querier's non-zero QRV.
    pub robustness: u8,
    /// [Query Interval] (§9.2), default 125 s: between General Queries. A non-querier adopts
    /// the querier's QQIC.
    pub query_interval: Duration,
    /// [Query Response Interval] (§9.3), default 10 s: the Maximum Response Delay of General
    /// Queries. Lowered to the Query Interval if above it (§9.3: it must be less), and in
    /// MLDv1 mode to 65,535 ms (the most an MLDv1 query can say, RFC 2710 §3.4).
    pub query_response_interval: Duration,
    /// [Startup Query Interval] (§9.6), default a quarter of the Query Interval.
    pub startup_query_interval: Duration,
    /// [Startup Query Count] (§9.7), default the Robustness Variable; at least 1.
    pub startup_query_count: u8,
    /// [Last Listener Query Interval] (§9.8), default 1 s: the Maximum Response Delay of
    /// specific queries and the time between their retransmissions. In MLDv1 mode at most
    /// 65,535 ms, as the Query Response Interval.
    pub last_listener_query_interval: Duration,
    /// [Last Listener Query Count] (§9.9), default the Robustness Variable; at least 1.
    pub last_listener_query_count: u8,
    /// Link MTU, default 1280 (raised to it if lower): a source-specific query with more
    /// sources than fit is split over several packets.
    pub mtu: usize,
}

impl Default for QuerierConfig {
    fn default() -> QuerierConfig {
        QuerierConfig {
            version: MldVersion::V2,
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            startup_query_interval: Duration::from_millis(125_000 / 4),
            startup_query_count: 2,
            last_listener_query_interval: Duration::from_secs(1),
            last_listener_query_count: 2,
            mtu: MIN_MTU,
        }
    }
}

/// Why the querier ignored (part of) a valid packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DropCounters {
    /// Records or MLDv1 messages whose address is not multicast.
    pub not_multicast: u64,
    /// Records or MLDv1 messages for an address MLD never reports (`ff02::1`, scope 0 or 1;
    /// RFC 3810 §6): no state is kept for them.
    pub not_reportable: u64,
    /// Records of an unknown type (RFC 3810 §5.2.12: "silently ignored").
    pub unknown_record_type: u64,
    /// Records for a new address when the group table was full: the address is not tracked
    /// (its traffic is not forwarded onto the link) until a slot frees.
    pub group_table_full: u64,
    /// Sources that did not fit a group record. An excluded source is then forgotten (its
    /// traffic is forwarded); a requested one in INCLUDE mode turns the record into
    /// EXCLUDE {} (everything forwarded) until the filter timer runs out.
    pub source_table_full: u64,
    /// BLOCK records for an address in MLDv1 compatibility mode (§8.3.2: ignored).
    pub block_in_v1_mode: u64,
    /// MLDv1 Dones for an address not in MLDv1 compatibility mode: no MLDv1 listener was
    /// heard, so the Done cannot stand for one; ignored.
    pub done_in_v2_mode: u64,
    /// MLDv1 Dones for an address with no state.
    pub done_unknown_group: u64,
    /// Queries from routers with a higher address than the querier's (§7.6.2: ignored).
    pub query_from_higher_address: u64,
    /// Reports or queries from our own address (looped back).
    pub own_message: u64,
    /// MLDv2 Reports received in MLDv1 mode: ignored, as the MLDv1 router on the link ignores
    /// them (RFC 3810 §8.3.1; see the [module documentation](self#mld-versions)).
    pub report_v2_in_v1_mode: u64,
}

/// What the querier sent, received and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// General Queries sent.
    pub general_queries_sent: u64,
    /// Multicast Address Specific Queries sent.
    pub group_queries_sent: u64,
    /// Multicast Address and Source Specific Queries sent (packets).
    pub source_queries_sent: u64,
    /// Valid MLDv1 queries received from other routers.
    pub queries_v1_received: u64,
    /// Valid MLDv2 queries received from other routers.
    pub queries_v2_received: u64,
    /// Queries from other routers of the version this querier does not run (also counted in
    /// `queries_v1_received` or `queries_v2_received`): in MLDv2 mode an MLDv1 query, which
    /// means an MLDv1 router is on the link and this router should be configured for MLDv1
    /// (RFC 3810 §8.3.1); in MLDv1 mode an MLDv2 query, from a router not so configured.
    /// Each is logged with `log::warn!`, at most once every [`VERSION_WARNING_INTERVAL`].
    pub other_version_queries: u64,
    /// MLDv2 reports received.
    pub reports_v2: u64,
    /// Address records in them.
    pub records: u64,
    /// MLDv1 Reports received.
    pub reports_v1: u64,
    /// MLDv1 Dones received.
    pub dones_v1: u64,
    /// Times this router stopped being the querier on hearing a lower address (§7.6.2).
    pub querier_lost: u64,
    /// Times it became the querier again when the Other Querier Present timer expired.
    pub querier_regained: u64,
    /// Times an address entered MLDv1 compatibility mode.
    pub v1_compat_entered: u64,
    /// Group records deleted because their state ran out (§7.5).
    pub groups_expired: u64,
    /// Valid input ignored, by reason.
    pub dropped: DropCounters,
    /// Packets that failed validation, by reason.
    pub invalid: InvalidCounters,
    /// `poll_transmit` calls whose buffer could not hold the due query (it stays due).
    pub buffer_too_small: u64,
}

/// What [`MldQuerier::handle_packet`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// An MLDv2 report: `applied` records changed (or refreshed) state, `ignored` did not
    /// (see [`DropCounters`]).
    Report {
        /// Records applied.
        applied: u16,
        /// Records ignored.
        ignored: u16,
    },
    /// An MLDv1 Report, applied as IS_EX ({}) (§8.3.2), or ignored if `false`.
    ReportV1(bool),
    /// An MLDv1 Done, applied as TO_IN ({}) (§8.3.2), or ignored if `false`.
    Done(bool),
    /// A query from another router. `querier_changed`: we stopped being the querier.
    Query {
        /// MLDv1 or MLDv2.
        version: QueryVersion,
        /// Whether the sender has a lower address than ours (it is the querier).
        from_querier: bool,
        /// We were the querier and are not any more.
        querier_changed: bool,
    },
    /// Our own message (looped back): ignored.
    OwnMessage,
    /// The packet failed validation and was dropped.
    Invalid(ValidationError),
}

/// Whether the record for `group` should exist at all on the link.
fn trackable(group: &Ipv6Address, c: &mut Counters) -> bool {
    if !group.is_multicast() {
        c.dropped.not_multicast += 1;
        false
    } else if !is_reportable(group) {
        c.dropped.not_reportable += 1;
        false
    } else {
        true
    }
}

fn change_of(record_type: RecordType) -> Option<Change> {
    Some(match record_type {
        RecordType::ModeIsInclude => Change::IsIn,
        RecordType::ModeIsExclude => Change::IsEx,
        RecordType::ChangeToIncludeMode => Change::ToIn,
        RecordType::ChangeToExcludeMode => Change::ToEx,
        RecordType::AllowNewSources => Change::Allow,
        RecordType::BlockOldSources => Change::Block,
        _ => return None,
    })
}

/// The record of `group` in `groups`; if there is none and `create`, a new one (INCLUDE {},
/// which the caller then changes) if there is room, else counted in
/// [`DropCounters::group_table_full`].
fn lookup<'a, const G: usize, const S: usize>(
    groups: &'a mut [Option<GroupRecord<S>>; G],
    group: Ipv6Address,
    create: bool,
    counters: &mut Counters,
) -> Option<&'a mut GroupRecord<S>> {
    let i = groups
        .iter()
        .position(|g| g.as_ref().is_some_and(|g| g.group() == group));
    let i = match i {
        Some(i) => i,
        None if !create => return None,
        None => {
            let Some(free) = groups.iter().position(Option::is_none) else {
                counters.dropped.group_table_full += 1;
                log::debug!("mld querier: group table full ({G}), {group} not tracked");
                return None;
            };
            free
        }
    };
    Some(groups[i].get_or_insert_with(|| GroupRecord::new(group)))
}

/// IPv6 header, the Hop-by-Hop Options header and an MLDv2 query's fixed part.
const QUERY_OVERHEAD: usize = 40 + mld::HOP_BY_HOP_LEN + mld::QUERY_V2_LEN;

/// The MLD router part on one link (RFC 3810 §7): querier election, queries, and the
/// listener state of up to `GROUPS` multicast addresses with up to `SOURCES` sources each.
/// See the [module documentation](self).
///
/// When the group table is full, records for new addresses are ignored and counted in
/// [`DropCounters::group_table_full`]; see [`DropCounters::source_table_full`] for a full
/// source list.
#[derive(Debug, Clone)]
pub struct MldQuerier<const GROUPS: usize, const SOURCES: usize> {
    config: QuerierConfig,
    link_local: Ipv6Address,
    /// The [Robustness Variable] and [Query Interval] in use: configured, or adopted from
    /// the querier while not being it (§5.1.8, §5.1.9).
    robustness: u8,
    query_interval: Duration,
    /// The Other Querier Present timer (§7.6.2): we are a non-querier while it runs.
    other_querier_until: Option<Instant>,
    /// The address of the querier when it is not us.
    other_querier: Option<Ipv6Address>,
    /// When the next General Query is due (querier only).
    general_due: Option<Instant>,
    /// Startup queries still to send after the due one.
    startup_left: u8,
    groups: [Option<GroupRecord<SOURCES>>; GROUPS],
    counters: Counters,
    /// When a query of the other MLD version was last logged (the rate limit of §8.3.1).
    version_warned: Option<Instant>,
}

impl<const GROUPS: usize, const SOURCES: usize> MldQuerier<GROUPS, SOURCES> {
    /// A querier that sends from `link_local` (queries MUST come from a link-local address,
    /// RFC 3810 §5.1.14). It starts as the querier (§7.6.2: "all MLDv2 routers start up as
    /// Queriers"; so do MLDv1 routers, RFC 2710 §4) with its first startup General Query due
    /// at `now`. [`MldError::NotLinkLocal`] for an address outside `fe80::/10`.
    pub fn new(
        config: QuerierConfig,
        link_local: Ipv6Address,
        now: Instant,
    ) -> Result<Self, MldError> {
        if !link_local.is_unicast_link_local() {
            return Err(MldError::NotLinkLocal);
        }
        let robustness = config.robustness.max(1);
        // An MLDv1 query carries its Maximum Response Delay as 16 bits of milliseconds.
        let max_delay = match config.version {
            MldVersion::V1 => MAX_V1_RESPONSE_DELAY,
            MldVersion::V2 => Duration::MAX,
        };
        let config = QuerierConfig {
            robustness,
            query_response_interval: config
                .query_response_interval
                .min(config.query_interval)
                .min(max_delay),
            last_listener_query_interval: config.last_listener_query_interval.min(max_delay),
            startup_query_count: config.startup_query_count.max(1),
            last_listener_query_count: config.last_listener_query_count.max(1),
            mtu: config.mtu.max(MIN_MTU),
            ..config
        };
        Ok(MldQuerier {
            config,
            link_local,
            robustness,
            query_interval: config.query_interval,
            other_querier_until: None,
            other_querier: None,
            general_due: Some(now),
            startup_left: config.startup_query_count - 1,
            groups: core::array::from_fn(|_| None),
            counters: Counters::default(),
            version_warned: None,
        })
    }

    /// The configuration, as adjusted by [`new`](MldQuerier::new).
    pub fn config(&self) -> &QuerierConfig {
        &self.config
    }

    /// Our link-local address.
    pub fn link_local(&self) -> Ipv6Address {
        self.link_local
    }

    /// The MLD version this querier runs ([`QuerierConfig::version`]).
    pub fn version(&self) -> MldVersion {
        self.config.version
    }

    /// Whether this router is the querier on the link (§7.6.2).
    pub fn is_querier(&self) -> bool {
        self.other_querier_until.is_none()
    }

    /// The other router that is the querier, while we are not.
    pub fn other_querier(&self) -> Option<Ipv6Address> {
        self.other_querier
    }

    /// The [Robustness Variable] in use.
    pub fn robustness(&self) -> u8 {
        self.robustness
    }

    /// The [Query Interval] in use.
    pub fn query_interval(&self) -> Duration {
        self.query_interval
    }

    /// Multicast Address Listening Interval (§9.4): [Robustness Variable] × [Query
    /// Interval] + [Query Response Interval]; a listener not heard from for this long is
    /// gone.
    pub fn multicast_address_listening_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.config.query_response_interval
    }

    /// Last Listener Query Time (§9.14): [Last Listener Query Count] × [Last Listener Query
    /// Interval]; after a leave, a group or source with no listener left is gone this long
    /// after the first specific query.
    pub fn last_listener_query_time(&self) -> Duration {
        self.config.last_listener_query_interval * u32::from(self.config.last_listener_query_count)
    }

    /// Other Querier Present Timeout (§9.5): [Robustness Variable] × [Query Interval] +
    /// [Query Response Interval] / 2.
    pub fn other_querier_present_timeout(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.config.query_response_interval / 2
    }

    fn timing(&self, now: Instant) -> Timing {
        Timing {
            now,
            mali: self.multicast_address_listening_interval(),
            llqt: self.last_listener_query_time(),
            llqc: self.config.last_listener_query_count,
            // §9.13: Older Version Host Present Timeout = [Robustness Variable] × [Query
            // Interval] + [Query Response Interval].
            ovhpt: self.multicast_address_listening_interval(),
            querier: self.is_querier(),
        }
    }

    /// The listener state of every tracked multicast address, in table order.
    pub fn groups(&self) -> impl Iterator<Item = &GroupRecord<SOURCES>> + '_ {
        self.groups.iter().flatten()
    }

    /// The listener state of `group`, if any listener is known.
    pub fn group(&self, group: &Ipv6Address) -> Option<&GroupRecord<SOURCES>> {
        self.groups.iter().flatten().find(|g| g.group() == *group)
    }

    /// Group records in use.
    pub fn len(&self) -> usize {
        self.groups.iter().flatten().count()
    }

    /// Whether no listener is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What was sent, received and dropped.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// RFC 3810 §7.2.1: whether a packet from `source` to `group` is wanted on this link:
    /// the address has a record, and it is INCLUDE with `source` listed or EXCLUDE without
    /// `source` in the Exclude List. A scan of at most `GROUPS` addresses and `SOURCES`
    /// sources, no allocation.
    ///
    /// Timers are those of the last [`handle_timeout`](MldQuerier::handle_timeout) (or other
    /// call taking `now`): a listener whose timer ran out since is still reported until then.
    pub fn wants(&self, group: &Ipv6Address, source: &Ipv6Address) -> bool {
        self.group(group).is_some_and(|g| g.wants(source))
    }

    /// [`wants`](MldQuerier::wants), counting the packet in its group's
    /// [`GroupCounters::packets_permitted`] or [`GroupCounters::packets_withheld`].
    pub fn admit(&mut self, group: &Ipv6Address, source: &Ipv6Address) -> bool {
        let Some(record) = self.group_mut(group) else {
            return false;
        };
        let wanted = record.wants(source);
        if wanted {
            record.counters.packets_permitted += 1;
        } else {
            record.counters.packets_withheld += 1;
        }
        wanted
    }

    fn group_mut(&mut self, group: &Ipv6Address) -> Option<&mut GroupRecord<SOURCES>> {
        self.groups
            .iter_mut()
            .flatten()
            .find(|g| g.group() == *group)
    }

    /// Handles a received IPv6 packet (fixed header first) that may carry an MLD message.
    ///
    /// It is validated with [`mld::parse_ipv6`] (link-local source, hop limit 1, Router
    /// Alert, checksum, length; RFC 3810 §5 and §7.4: invalid messages are ignored), failures
    /// counted in [`Counters::invalid`]. Reports change the listener state (§7.4, §8.3.2),
    /// also on a non-querier; queries take part in the election (§7.6.2).
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) -> Handled {
        self.advance(now);
        let received = match mld::parse_ipv6(packet) {
            Ok(received) => received,
            Err(error) => {
                log::debug!("mld querier: dropped a packet: {error}");
                self.counters.invalid.count(error);
                return Handled::Invalid(error);
            }
        };
        if received.src_addr == self.link_local {
            self.counters.dropped.own_message += 1;
            return Handled::OwnMessage;
        }
        let t = self.timing(now);
        let handled = match received.message {
            MldMessage::Query(query) => self.handle_query(now, received.src_addr, &query),
            MldMessage::ReportV2(report) if self.config.version == MldVersion::V1 => {
                // §8.3.1: the link runs MLDv1, whose routers do not know MLDv2 Reports.
                self.counters.reports_v2 += 1;
                self.counters.dropped.report_v2_in_v1_mode += 1;
                log::debug!(
                    "mld querier: MLDv2 Report from {} ignored in MLDv1 mode",
                    received.src_addr
                );
                let records = report.records().count();
                Handled::Report {
                    applied: 0,
                    ignored: u16::try_from(records).unwrap_or(u16::MAX),
                }
            }
            MldMessage::ReportV2(report) => {
                self.counters.reports_v2 += 1;
                let (mut applied, mut ignored) = (0u16, 0u16);
                for record in report.records() {
                    self.counters.records += 1;
                    let group = record.multicast_address;
                    let Some(change) = change_of(record.record_type) else {
                        self.counters.dropped.unknown_record_type += 1;
                        ignored = ignored.saturating_add(1);
                        continue;
                    };
                    if !trackable(&group, &mut self.counters) {
                        ignored = ignored.saturating_add(1);
                        continue;
                    }
                    // A record that leaves an unknown address at INCLUDE {} needs no slot.
                    let empty = record.sources.clone().next().is_none();
                    let create = match change {
                        Change::IsEx | Change::ToEx => true,
                        Change::Block => false,
                        Change::IsIn | Change::Allow | Change::ToIn => !empty,
                    };
                    match lookup(&mut self.groups, group, create, &mut self.counters) {
                        Some(state) => {
                            state.apply(change, record.sources, &t, &mut self.counters);
                            applied = applied.saturating_add(1);
                        }
                        None if create => ignored = ignored.saturating_add(1),
                        None => applied = applied.saturating_add(1),
                    }
                }
                Handled::Report { applied, ignored }
            }
            MldMessage::ReportV1(report) => {
                self.counters.reports_v1 += 1;
                let group = report.multicast_address();
                let state = if trackable(&group, &mut self.counters) {
                    lookup(&mut self.groups, group, true, &mut self.counters)
                } else {
                    None
                };
                let applied = state.map(|s| s.v1_report(&t, &mut self.counters)).is_some();
                Handled::ReportV1(applied)
            }
            MldMessage::Done(done) => {
                self.counters.dones_v1 += 1;
                let group = done.multicast_address();
                let c = &mut self.counters;
                // In MLDv1 mode every listener speaks MLDv1 (§8.3.1), whatever the Older
                // Version Host Present timer says.
                let v1_mode = self.config.version == MldVersion::V1;
                let applied = match lookup(&mut self.groups, group, false, c) {
                    Some(state) if v1_mode || state.compatibility() == GroupCompatibility::V1 => {
                        state.apply(Change::ToIn, core::iter::empty(), &t, c);
                        true
                    }
                    Some(_) => {
                        c.dropped.done_in_v2_mode += 1;
                        false
                    }
                    None => {
                        c.dropped.done_unknown_group += 1;
                        false
                    }
                };
                Handled::Done(applied)
            }
        };
        // A record may have left a group empty (TO_IN {} in INCLUDE mode).
        self.expire(now);
        handled
    }

    /// A query from another router (§7.6.1, §7.6.2).
    fn handle_query(&mut self, now: Instant, from: Ipv6Address, query: &Query<&[u8]>) -> Handled {
        let version = query.version();
        match version {
            QueryVersion::V1 => self.counters.queries_v1_received += 1,
            QueryVersion::V2 => self.counters.queries_v2_received += 1,
        }
        let ours = match self.config.version {
            MldVersion::V1 => QueryVersion::V1,
            MldVersion::V2 => QueryVersion::V2,
        };
        if version != ours {
            self.other_version_query(now, from, version);
        }
        // §7.6.2: "If it is a Querier and it receives a Query from a router with a lower
        // IPv6 address, it MUST become a Non-Querier"; a non-querier hearing a query from a
        // router with a lower address than its own restarts the Other Querier Present timer.
        if from.octets() >= self.link_local.octets() {
            self.counters.dropped.query_from_higher_address += 1;
            return Handled::Query {
                version,
                from_querier: false,
                querier_changed: false,
            };
        }
        let was_querier = self.is_querier();
        // §5.1.8, §5.1.9: adopt the querier's Robustness Variable and Query Interval.
        // An MLDv1 router has neither variable to adopt: it keeps its configured ones.
        let adopt = self.config.version == MldVersion::V2;
        if adopt && query.qrv() != 0 {
            self.robustness = query.qrv();
        }
        if adopt && version == QueryVersion::V2 && query.query_interval() != 0 {
            self.query_interval = Duration::from_secs(query.query_interval().into());
        }
        self.other_querier_until = Some(now + self.other_querier_present_timeout());
        self.other_querier = Some(from);
        if was_querier {
            log::info!("mld querier: {from} has a lower address, no longer querier");
            self.counters.querier_lost += 1;
            self.general_due = None;
            self.startup_left = 0;
            for g in self.groups.iter_mut().flatten() {
                g.cancel_queries();
            }
        }
        // §7.6.1: a specific query without the S flag lowers the timers to LLQT.
        let group = query.multicast_address();
        if !group.is_unspecified() && !query.suppress_router_processing() {
            let t = self.timing(now);
            if let Some(state) = self.group_mut(&group) {
                state.heard_query(query.sources(), &t);
            }
        }
        Handled::Query {
            version,
            from_querier: true,
            querier_changed: was_querier,
        }
    }

    /// A query of the MLD version we do not run, from `from` (§8.3.1): counted, and logged
    /// at most once every [`VERSION_WARNING_INTERVAL`].
    fn other_version_query(&mut self, now: Instant, from: Ipv6Address, version: QueryVersion) {
        self.counters.other_version_queries += 1;
        if self
            .version_warned
            .is_some_and(|at| now < at + VERSION_WARNING_INTERVAL)
        {
            return;
        }
        self.version_warned = Some(now);
        let (heard, fix) = match version {
            QueryVersion::V1 => ("an MLDv1", "configure every router on it for MLDv1"),
            QueryVersion::V2 => ("an MLDv2", "configure that router for MLDv1 too"),
        };
        log::warn!(
            "mld querier {}: {heard} query from {from}: a router of the other MLD version is \
             on the link, {fix} (RFC 3810 §8.3.1); {} such queries so far",
            self.link_local,
            self.counters.other_version_queries
        );
    }

    /// Runs the state timers (§7.5, §7.6.2, §8.3.2) up to `now`.
    fn advance(&mut self, now: Instant) {
        if self.other_querier_until.is_some_and(|at| at <= now) {
            log::info!("mld querier: other querier gone, querier again");
            self.other_querier_until = None;
            self.other_querier = None;
            self.counters.querier_regained += 1;
            self.robustness = self.config.robustness;
            self.query_interval = self.config.query_interval;
            self.general_due = Some(now);
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        for slot in self.groups.iter_mut() {
            if let Some(g) = slot
                && g.expire(now)
            {
                log::debug!("mld querier: no listener left for {}", g.group());
                self.counters.groups_expired += 1;
                *slot = None;
            }
        }
    }

    /// Runs expired timers; a spurious or early call does nothing. Queries that became due
    /// are written by [`poll_transmit`](MldQuerier::poll_transmit).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// When [`handle_timeout`](MldQuerier::handle_timeout) or
    /// [`poll_transmit`](MldQuerier::poll_transmit) next has something to do; a time not
    /// after `now` means a query is due now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let querier = self.is_querier();
        let mut next = earliest(self.other_querier_until, self.general_due);
        for g in self.groups.iter().flatten() {
            next = earliest(next, g.next_timer(querier));
        }
        next
    }

    /// Writes the next due query into `buf` as a whole IPv6 packet (hop limit 1, Router
    /// Alert, from our link-local address) and returns its length, or `None` if nothing is
    /// due (or `buf` is too small: [`Counters::buffer_too_small`]; the query stays due).
    /// Call until it returns `None`. Only the querier sends.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        if !self.is_querier() {
            return None;
        }
        let limit = buf.len().min(self.config.mtu);
        let buf = &mut buf[..limit];
        if self.general_due.is_some_and(|at| at <= now) {
            let len = self.emit_query(Ipv6Address::UNSPECIFIED, false, &[], buf)?;
            self.counters.general_queries_sent += 1;
            // §7.6.2 and §9.6, §9.7: [Startup Query Count] queries [Startup Query Interval]
            // apart, then one every [Query Interval].
            let interval = if self.startup_left > 0 {
                self.startup_left -= 1;
                self.config.startup_query_interval
            } else {
                self.query_interval
            };
            self.general_due = Some(now + interval);
            return Some(len);
        }
        let llqt = self.last_listener_query_time();
        let llqi = self.config.last_listener_query_interval;
        // Multicast Address Specific Queries (§7.6.3.1): "if the Filter Timer is larger
        // than LLQT, the 'Suppress Router-Side Processing' bit is set".
        let due = self.groups.iter().flatten().find_map(|g| {
            let pending = g.group_query_left > 0 && g.group_query_due.is_some_and(|at| at <= now);
            pending.then(|| {
                (
                    g.group(),
                    g.filter_timer().is_some_and(|at| at > now + llqt),
                )
            })
        });
        if let Some((group, suppress)) = due {
            let len = self.emit_query(group, suppress, &[], buf)?;
            self.counters.group_queries_sent += 1;
            if let Some(g) = self.group_mut(&group) {
                g.counters.group_queries += 1;
                g.group_query_left -= 1;
                g.group_query_due = (g.group_query_left > 0).then_some(now + llqi);
            }
            return Some(len);
        }
        match self.config.version {
            // MLDv1 has no source-specific query; nor does an MLDv1-mode record hold sources.
            MldVersion::V1 => None,
            MldVersion::V2 => self.transmit_source_query(now, buf),
        }
    }

    /// Multicast Address and Source Specific Queries (§7.6.3.2): of the due sources of one
    /// address, first those whose timers are above LLQT with the S flag set, then the rest
    /// without it, as many as fit the packet.
    fn transmit_source_query(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let llqt = self.last_listener_query_time();
        let llqi = self.config.last_listener_query_interval;
        let room = buf.len().saturating_sub(QUERY_OVERHEAD) / 16;
        let is_due =
            |s: &group::Source| s.query_left > 0 && s.query_due.is_some_and(|at| at <= now);
        let above = |s: &group::Source| s.timer.is_some_and(|at| at > now + llqt);
        let index = self
            .groups
            .iter()
            .position(|g| g.as_ref().is_some_and(|g| g.list().iter().any(is_due)))?;
        let g = self.groups[index].as_ref()?;
        let suppress = g.list().iter().any(|s| is_due(s) && above(s));
        let mut sources = [Ipv6Address::UNSPECIFIED; SOURCES];
        let mut n = 0;
        for s in g.list() {
            if is_due(s) && above(s) == suppress && n < room.min(SOURCES) {
                sources[n] = s.addr;
                n += 1;
            }
        }
        if n == 0 {
            self.counters.buffer_too_small += 1;
            return None;
        }
        let group = g.group();
        let len = self.emit_query(group, suppress, &sources[..n], buf)?;
        self.counters.source_queries_sent += 1;
        let g = self.groups[index].as_mut()?;
        g.counters.source_queries += 1;
        for s in g.list_mut() {
            if sources[..n].contains(&s.addr) {
                s.query_left -= 1;
                s.query_due = (s.query_left > 0).then_some(now + llqi);
            }
        }
        Some(len)
    }

    /// Writes a query: general (`group` unspecified, Maximum Response Delay [Query Response
    /// Interval], to `ff02::1`) or specific ([Last Listener Query Interval], to the group).
    /// In MLDv1 mode it is an MLDv1 query (§8.3.1): 24 octets, the delay in milliseconds,
    /// neither S flag nor sources.
    fn emit_query(
        &mut self,
        group: Ipv6Address,
        suppress: bool,
        sources: &[Ipv6Address],
        buf: &mut [u8],
    ) -> Option<usize> {
        let max_delay = if group.is_unspecified() {
            self.config.query_response_interval
        } else {
            self.config.last_listener_query_interval
        };
        let repr = match self.config.version {
            // `new` capped both delays at 65,535 ms.
            MldVersion::V1 => MldRepr::Query(QueryRepr::V1 {
                max_response_delay: u16::try_from(max_delay.total_millis()).unwrap_or(u16::MAX),
                multicast_address: group,
            }),
            MldVersion::V2 => self.query_v2(group, max_delay, suppress, sources),
        };
        match mld::emit_ipv6(&self.link_local, &repr.destination(), &repr, buf) {
            Ok(len) => Some(len),
            Err(_) => {
                self.counters.buffer_too_small += 1;
                None
            }
        }
    }

    /// An MLDv2 query (§5.1) with our Robustness Variable and Query Interval.
    fn query_v2<'a>(
        &self,
        group: Ipv6Address,
        max_delay: Duration,
        suppress: bool,
        sources: &'a [Ipv6Address],
    ) -> MldRepr<'a> {
        MldRepr::Query(QueryRepr::V2 {
            max_response_delay: u32::try_from(max_delay.total_millis()).unwrap_or(u32::MAX),
            multicast_address: group,
            suppress_router_processing: suppress,
            // §5.1.8: "If the querier's [Robustness Variable] exceeds 7 ... the QRV field is
            // set to zero."
            qrv: if self.robustness > 7 {
                0
            } else {
                self.robustness
            },
            query_interval: u32::try_from(self.query_interval.secs()).unwrap_or(u32::MAX),
            sources,
        })
    }

    /// Checks every record's invariants (for tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), &'static str> {
        for (i, g) in self.groups.iter().enumerate() {
            let Some(g) = g else { continue };
            g.check_invariants()?;
            if self.config.version == MldVersion::V1 && !g.list().is_empty() {
                return Err("a source record in MLDv1 mode");
            }
            if g.list().is_empty() && g.filter_mode() == FilterMode::Include {
                return Err("an empty INCLUDE record was kept");
            }
            if self.groups[..i]
                .iter()
                .flatten()
                .any(|o| o.group() == g.group())
            {
                return Err("duplicate group record");
            }
        }
        Ok(())
    }
}
