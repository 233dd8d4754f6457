//! Multicast Listener Discovery as a host: MLDv2 (RFC 3810) with MLDv1 (RFC 2710)
//! compatibility, as a sans-IO state machine.
//!
//! smoltcp 0.14's `multicast` feature sends a join as CHANGE_TO_INCLUDE_MODE with no sources,
//! which RFC 3810 reads as a leave (and a leave as CHANGE_TO_EXCLUDE_MODE, a join), so a
//! router believes the opposite of what the host wants. [`MldHost`] runs MLD at the device
//! layer instead:
//!
//! - [`MldHost::listen`] sets a group's source filter (RFC 3810 §3, §4.2): INCLUDE (A)
//!   receives only from the sources in A, EXCLUDE (A) from all others. [`MldHost::join`]
//!   (EXCLUDE {}, every source) and [`MldHost::leave`] (INCLUDE {}) are its any-source
//!   shorthands. Each change is reported at once in a State Change Report (RFC 3810 §6.1)
//!   and retransmitted [Robustness Variable] - 1 more times at random intervals in
//!   [0, Unsolicited Report Interval]: CHANGE_TO_INCLUDE/EXCLUDE_MODE for a filter mode
//!   change, ALLOW_NEW_SOURCES/BLOCK_OLD_SOURCES for a source list change, changes made
//!   while earlier ones are still being retransmitted merged as §6.1 says;
//! - [`MldHost::handle_packet`] validates a received IPv6 packet with
//!   [`bridgeless_wire::mld::parse_ipv6`], counts what it drops by reason, answers queries
//!   with Current State Reports after a random delay (RFC 3810 §6.2, §6.3), adopts the
//!   querier's Robustness Variable and Query Interval, and switches to MLDv1 compatibility
//!   mode when it hears an MLDv1 query (RFC 3810 §8.2.1);
//! - [`MldHost::poll_transmit`] writes whole IPv6 packets (hop limit 1, Router Alert) with
//!   [`bridgeless_wire::mld::emit_ipv6`]; [`MldHost::poll_timeout`] and
//!   [`MldHost::handle_timeout`] drive the timers.
//!
//! Queries are answered from the filter (RFC 3810 §6.3): MODE_IS_INCLUDE (A) or
//! MODE_IS_EXCLUDE (A) for a General or Multicast Address Specific Query, MODE_IS_INCLUDE
//! with the queried sources the interface receives for a Multicast Address and Source
//! Specific Query (nothing if none). In MLDv1 compatibility mode source filters cannot be
//! expressed: a group whose filter is not INCLUDE {} is reported as listened to.
//!
//! Source-specific listening (INCLUDE {S} of G, as for SSM):
//!
//! ```
//! use bridgeless_iface::mld::{Config, FilterMode, MldHost};
//! use bridgeless_wire::mld::{MldMessage, RecordType};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//! use smoltcp::time::Instant;
//! use smoltcp::wire::Ipv6Address;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let mut mld = MldHost::new(Config::default());
//! mld.set_link_local(Some(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2))).unwrap();
//! let (group, source) = (
//!     Ipv6Address::new(0xff3e, 0, 0, 0, 0, 0, 0, 0x1234),
//!     Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
//! );
//! let now = Instant::from_secs(1);
//! mld.listen(now, group, FilterMode::Include, &[source], &mut rng).unwrap();
//! assert!(mld.accepts(&group, &source));
//! let mut buf = [0u8; 1500];
//! let len = mld.poll_transmit(now, &mut buf).unwrap();
//! let report = bridgeless_wire::mld::parse_ipv6(&buf[..len]).unwrap();
//! let MldMessage::ReportV2(report) = report.message else { unreachable!() };
//! let record = report.records().next().unwrap();
//! assert_eq!(record.record_type, RecordType::AllowNewSources);
//! assert_eq!(record.sources.collect::<Vec<_>>(), [source]);
//! ```
//!
//! Randomness: `listen`, `join`, `leave` and `handle_packet` take the caller's `RngCore`; the host
//! reseeds a small internal generator (splitmix64) from it at every such call, so that
//! `poll_transmit`, which takes no RNG, can still draw the retransmission intervals. Runs
//! are deterministic for a seeded caller RNG.
//!
//! ```
//! use bridgeless_iface::mld::{Config, MldHost};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//! use smoltcp::time::Instant;
//! use smoltcp::wire::Ipv6Address;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let mut mld = MldHost::new(Config::default());
//! mld.set_link_local(Some(Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2))).unwrap();
//! let now = Instant::from_secs(1);
//! mld.join(now, Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x1234), &mut rng).unwrap();
//! let mut buf = [0u8; 1500];
//! let len = mld.poll_transmit(now, &mut buf).expect("the first report goes at once");
//! let report = bridgeless_wire::mld::parse_ipv6(&buf[..len]).unwrap();
//! assert_eq!(report.dst_addr, bridgeless_wire::mld::ALL_MLDV2_ROUTERS);
//! ```

mod host;
#[cfg(feature = "std")]
pub mod proxy;
pub mod querier;
#[cfg(test)]
mod tests;

use core::fmt;

use bridgeless_wire::mld::ValidationError;
use smoltcp::time::Duration;
use smoltcp::wire::Ipv6Address;

pub use host::MldHost;
pub use querier::FilterMode;

/// How many groups [`MldHost::new`] can hold; [`MldHost::with_capacity`] picks another.
pub const DEFAULT_CAPACITY: usize = 16;

/// How many sources one group's filter can hold in [`MldHost::new`]'s host: the `S` of
/// [`MldHost`]; [`MldHost::with_capacity`] picks another.
pub const DEFAULT_SOURCES: usize = 8;

/// How many queried sources one group's pending response to Multicast Address and Source
/// Specific Queries remembers. A query that would take the list past this is answered as a
/// Multicast Address Specific Query instead (MODE_IS_EXCLUDE {}, the full state), counted
/// in [`Counters::query_sources_overflow`].
pub const MAX_QUERY_SOURCES: usize = 8;

/// The smallest MTU an IPv6 link may have (RFC 8200 §5); [`Config::mtu`] is raised to it.
pub const MIN_MTU: usize = 1280;

/// Protocol variables (RFC 3810 §9) and the link MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// [Robustness Variable] (RFC 3810 §9.1), default 2: a State Change Report is sent this
    /// many times in all. Replaced by a querier's non-zero QRV. 0 is taken as 1.
    pub robustness: u8,
    /// [Unsolicited Report Interval] (RFC 3810 §9.11), default 1 s: retransmissions of a
    /// State Change Report (and of an MLDv1 unsolicited Report) are spread at random over
    /// [0, this].
    pub unsolicited_report_interval: Duration,
    /// [Query Interval] (RFC 3810 §9.2), default 125 s, until a querier's QQIC says otherwise.
    /// Used for the Older Version Querier Present Timeout (§9.12).
    pub query_interval: Duration,
    /// Link MTU, default 1280: Current State Records are packed into reports no longer than
    /// this (RFC 3810 §6.3), in several packets if needed. Values under [`MIN_MTU`] are raised
    /// to it.
    pub mtu: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            robustness: 2,
            unsolicited_report_interval: Duration::from_secs(1),
            query_interval: Duration::from_secs(125),
            mtu: MIN_MTU,
        }
    }
}

/// Which protocol the host speaks on the link (RFC 3810 §8.2.1, Host Compatibility Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompatibilityMode {
    /// MLDv2: State Change and Current State Reports to `ff02::16`.
    V2,
    /// MLDv1, while an MLDv1 querier was heard within the Older Version Querier Present
    /// Timeout: Reports to the group, Done to `ff02::2`.
    V1,
}

/// Why [`MldHost::listen`], [`MldHost::join`], [`MldHost::leave`] or
/// [`MldHost::set_link_local`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MldError {
    /// The group is not a multicast address.
    NotMulticast,
    /// The group table is full. Groups being left occupy their slot until their last
    /// CHANGE_TO_INCLUDE_MODE retransmission (or MLDv1 Done) is sent, at most
    /// [Robustness Variable] × [Unsolicited Report Interval] after the leave.
    TableFull,
    /// `leave` of a group that is not joined (or is already being left).
    NotJoined,
    /// `set_link_local` with an address that is not unicast link-local (`fe80::/10`): MLD
    /// messages MUST be sent from a link-local address (RFC 3810 §5.2.13).
    NotLinkLocal,
    /// `listen` with more distinct sources than the host's per-group bound
    /// ([`MldHost::max_sources`]).
    TooManySources,
    /// `listen` with a multicast or unspecified address as a source: sources are unicast
    /// senders (RFC 3810 §5.2.14).
    InvalidSource,
}

impl fmt::Display for MldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MldError::NotMulticast => "not a multicast address",
            MldError::TableFull => "multicast group table is full",
            MldError::NotJoined => "group is not joined",
            MldError::NotLinkLocal => "not a unicast link-local address",
            MldError::TooManySources => "too many sources for the group's filter",
            MldError::InvalidSource => "source is not a unicast address",
        })
    }
}

impl core::error::Error for MldError {}

/// Whether MLD reports `group` at all.
///
/// RFC 3810 §6: listening to the link-scope all-nodes address `ff02::1` is permanently
/// enabled, and "No MLD messages are ever sent regarding neither the link-scope all-nodes
/// multicast address, nor any multicast address of scope 0 (reserved) or 1 (node-local)."
/// A group that is not reported can still be passed to [`MldHost::join`] or
/// [`MldHost::listen`]: it succeeds and sends nothing.
pub fn is_reportable(group: &Ipv6Address) -> bool {
    let scope = group.octets()[1] & 0x0f;
    group.is_multicast() && *group != bridgeless_wire::mld::ALL_NODES && scope > 1
}

/// What [`MldHost::handle_packet`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// A query was processed; responses (if any) are scheduled.
    Query {
        /// MLDv1 (24 octets) or MLDv2.
        version: bridgeless_wire::mld::QueryVersion,
        /// A General Query (multicast address `::`).
        general: bool,
    },
    /// A Multicast Address (and Source) Specific Query for a group this host does not
    /// listen to: nothing to answer.
    QueryNotListening,
    /// A report (MLDv1 or MLDv2) from another host. MLDv2 has no report suppression; in
    /// MLDv1 mode a pending Report for the same group was cancelled if `suppressed`.
    ReportFromOther {
        /// Our pending MLDv1 Report for that group was cancelled (RFC 2710 §4).
        suppressed: bool,
    },
    /// An MLDv1 Done from another host (only routers act on it).
    DoneFromOther,
    /// A report or done from our own link-local address (a looped-back copy): ignored.
    OwnMessage,
    /// The packet failed validation and was dropped.
    Invalid(ValidationError),
}

/// Reports sent, by kind (packets, not records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReportCounters {
    /// MLDv2 reports carrying State Change Records (CHANGE_TO_EXCLUDE/INCLUDE_MODE,
    /// ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES).
    pub state_change: u64,
    /// MLDv2 reports carrying Current State Records (answers to queries).
    pub current_state: u64,
    /// MLDv1 Reports (unsolicited or answers).
    pub v1_report: u64,
    /// MLDv1 Done messages.
    pub v1_done: u64,
}

/// Received packets dropped by [`bridgeless_wire::mld::parse_ipv6`], by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct InvalidCounters {
    /// The packet or a header ends early.
    pub truncated: u64,
    /// Not IPv6.
    pub not_ipv6: u64,
    /// An extension header the packet must be dropped for.
    pub extension_header: u64,
    /// A fragment (MLD messages are never fragmented).
    pub fragmented: u64,
    /// Not ICMPv6.
    pub not_icmpv6: u64,
    /// ICMPv6 but not MLD.
    pub not_mld: u64,
    /// Hop limit not 1 (RFC 3810 §5, RFC 2710 §3).
    pub hop_limit: u64,
    /// Bad ICMPv6 checksum.
    pub checksum: u64,
    /// Source not link-local (RFC 3810 §5.1.14, §5.2.13).
    pub source_address: u64,
    /// No Router Alert option with value 0 (RFC 3810 §5).
    pub router_alert: u64,
    /// A length the message format does not allow (RFC 3810 §8.1).
    pub malformed: u64,
    /// Any other validation failure.
    pub other: u64,
}

impl InvalidCounters {
    fn count(&mut self, error: ValidationError) {
        let counter = match error {
            ValidationError::Truncated => &mut self.truncated,
            ValidationError::NotIpv6 => &mut self.not_ipv6,
            ValidationError::ExtensionHeader(_) => &mut self.extension_header,
            ValidationError::Fragmented => &mut self.fragmented,
            ValidationError::NotIcmpv6 => &mut self.not_icmpv6,
            ValidationError::NotMld => &mut self.not_mld,
            ValidationError::HopLimit => &mut self.hop_limit,
            ValidationError::Checksum => &mut self.checksum,
            ValidationError::SourceAddress => &mut self.source_address,
            ValidationError::RouterAlert => &mut self.router_alert,
            ValidationError::Malformed => &mut self.malformed,
            _ => &mut self.other,
        };
        *counter += 1;
    }

    /// All invalid packets.
    pub fn total(&self) -> u64 {
        self.truncated
            + self.not_ipv6
            + self.extension_header
            + self.fragmented
            + self.not_icmpv6
            + self.not_mld
            + self.hop_limit
            + self.checksum
            + self.source_address
            + self.router_alert
            + self.malformed
            + self.other
    }
}

/// What the host sent, received and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Reports sent, by kind.
    pub reports_sent: ReportCounters,
    /// MLDv1 queries received (valid ones).
    pub queries_v1: u64,
    /// MLDv2 queries received (valid ones).
    pub queries_v2: u64,
    /// Specific queries for groups this host does not listen to (nothing to answer).
    pub queries_not_listening: u64,
    /// Source-specific queries whose sources did not fit [`MAX_QUERY_SOURCES`]: answered with
    /// the full state instead.
    pub query_sources_overflow: u64,
    /// Multicast Address and Source Specific Queries left unanswered because the
    /// interface receives none of the queried sources (RFC 3810 §6.3).
    pub source_queries_unanswered: u64,
    /// Source list changes whose retransmission state did not fit (`S` sources per kind,
    /// or one report): reported as CHANGE_TO_INCLUDE/EXCLUDE_MODE with the whole state
    /// instead of ALLOW/BLOCK records (same resulting router state, RFC 3810 §7.4.2).
    pub source_changes_escalated: u64,
    /// Reports from other hosts (ignored, apart from MLDv1 suppression).
    pub reports_from_others: u64,
    /// MLDv1 Done messages from other hosts (ignored).
    pub dones_from_others: u64,
    /// Reports or dones from our own address (ignored).
    pub own_messages: u64,
    /// Our MLDv1 Reports cancelled because another host reported the group (RFC 2710 §4).
    pub suppressed: u64,
    /// Invalid packets, by reason.
    pub invalid: InvalidCounters,
    /// Times the host entered MLDv1 compatibility mode.
    pub v1_mode_entered: u64,
    /// `poll_transmit` calls whose buffer could not hold the packet due (nothing was
    /// written; the packet stays due).
    pub buffer_too_small: u64,
}

/// A small deterministic generator (splitmix64) that draws the random delays `poll_transmit`
/// needs, reseeded from the caller's RNG at every call that takes one.
#[derive(Debug, Clone, Copy)]
struct Jitter(u64);

impl Jitter {
    fn reseed<R: rand_core::RngCore + ?Sized>(&mut self, rng: &mut R) {
        self.0 = self.0.rotate_left(29) ^ rng.next_u64();
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay uniform in [0, max], in whole milliseconds (a zero `max` gives zero).
    fn delay(&mut self, max: Duration) -> Duration {
        let max = max.total_millis();
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_u64() % (max + 1))
    }
}
