//! The MLD host state machine: per-group filters and their State Change Reports here,
//! query handling in `query`, report emission in `transmit`, one group's state in `entry`.

mod entry;
mod query;
mod transmit;

use bridgeless_wire::mld::{self, MldMessage, RECORD_HEADER_LEN, REPORT_V2_HEADER_LEN};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::{
    CompatibilityMode, Config, Counters, DEFAULT_CAPACITY, DEFAULT_SOURCES, FilterMode, Handled,
    Jitter, MIN_MTU, MldError, is_reportable,
};
use entry::{Changed, Entry, SourceList};

/// IPv6 header, the Hop-by-Hop header `emit_ipv6` writes, and the MLDv2 report header.
const REPORT_V2_OVERHEAD: usize = 40 + mld::HOP_BY_HOP_LEN + REPORT_V2_HEADER_LEN;

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn is_due(at: Option<Instant>, now: Instant) -> bool {
    at.is_some_and(|at| at <= now)
}

/// MLD as a host on one interface: MLDv2 (RFC 3810 §6) with source filters (§3, §4) and
/// MLDv1 compatibility (§8.2.1, RFC 2710 §4), sans-IO.
///
/// Holds at most `N` groups ([`DEFAULT_CAPACITY`] unless built with
/// [`with_capacity`](MldHost::with_capacity)); [`listen`](MldHost::listen) and
/// [`join`](MldHost::join) return [`MldError::TableFull`] beyond that. Each group's filter
/// has at most `S` sources ([`DEFAULT_SOURCES`]); more is [`MldError::TooManySources`].
/// See the [module documentation](super).
#[derive(Debug, Clone)]
pub struct MldHost<const N: usize = DEFAULT_CAPACITY, const S: usize = DEFAULT_SOURCES> {
    config: Config,
    /// The [Robustness Variable] in use: the configured one, or the querier's QRV.
    robustness: u8,
    /// The [Query Interval] in use: the configured one, or the querier's QQIC.
    query_interval: Duration,
    link_local: Option<Ipv6Address>,
    entries: [Option<Entry<S>>; N],
    /// The Interface Timer: when the answer to a General Query is due (RFC 3810 §6.2).
    general_due: Option<Instant>,
    /// The Older Version Querier Present timer: MLDv1 mode while it runs (RFC 3810 §8.2.1).
    v1_until: Option<Instant>,
    jitter: Jitter,
    counters: Counters,
}

impl MldHost<DEFAULT_CAPACITY, DEFAULT_SOURCES> {
    /// A host with no groups joined, room for [`DEFAULT_CAPACITY`] groups of
    /// [`DEFAULT_SOURCES`] sources, in MLDv2 mode, sending from `::` until
    /// [`set_link_local`](MldHost::set_link_local).
    pub fn new(config: Config) -> Self {
        MldHost::with_capacity(config)
    }
}

impl<const N: usize, const S: usize> MldHost<N, S> {
    /// Like [`MldHost::new`], with room for `N` groups of `S` sources.
    pub fn with_capacity(config: Config) -> Self {
        let config = Config {
            robustness: config.robustness.max(1),
            mtu: config.mtu.max(MIN_MTU),
            ..config
        };
        MldHost {
            config,
            robustness: config.robustness,
            query_interval: config.query_interval,
            link_local: None,
            entries: [None; N],
            general_due: None,
            v1_until: None,
            jitter: Jitter(0),
            counters: Counters::default(),
        }
    }

    /// The configuration, with `robustness` and `mtu` as raised by the constructor.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the link-local address reports are sent from; `None` sends from `::`, which
    /// RFC 3810 §5.2.13 allows only while the interface has no valid link-local address.
    /// [`MldError::NotLinkLocal`] (and no change) for an address outside `fe80::/10`.
    pub fn set_link_local(&mut self, addr: Option<Ipv6Address>) -> Result<(), MldError> {
        if addr.is_some_and(|a| !a.is_unicast_link_local()) {
            return Err(MldError::NotLinkLocal);
        }
        self.link_local = addr;
        Ok(())
    }

    /// The source address of our reports, if set.
    pub fn link_local(&self) -> Option<Ipv6Address> {
        self.link_local
    }

    /// MLDv2, or MLDv1 while an MLDv1 querier was heard recently.
    pub fn mode(&self) -> CompatibilityMode {
        if self.v1_until.is_some() {
            CompatibilityMode::V1
        } else {
            CompatibilityMode::V2
        }
    }

    /// The [Robustness Variable] in use (the querier's QRV once one was heard).
    pub fn robustness(&self) -> u8 {
        self.robustness
    }

    /// The [Query Interval] in use (the querier's QQIC once one was heard).
    pub fn query_interval(&self) -> Duration {
        self.query_interval
    }

    /// The groups with reception state (any filter but INCLUDE {}), in table order. Groups
    /// being left and groups that are never reported (see [`is_reportable`]) are not listed.
    pub fn groups(&self) -> impl Iterator<Item = Ipv6Address> + '_ {
        self.entries
            .iter()
            .flatten()
            .filter(|e| e.has_state())
            .map(|e| e.group)
    }

    /// The filter of `group` (RFC 3810 §4.2): its mode and source list, `None` for INCLUDE {}
    /// (not listening, or being left) and for groups never reported.
    pub fn filter(&self, group: &Ipv6Address) -> Option<(FilterMode, &[Ipv6Address])> {
        self.entry(group)
            .filter(|e| e.has_state())
            .map(|e| (e.mode, e.list.as_slice()))
    }

    /// Whether packets from `source` to `group` are received (RFC 3810 §4.2: INCLUDE with
    /// `source` listed, or EXCLUDE without it).
    pub fn accepts(&self, group: &Ipv6Address, source: &Ipv6Address) -> bool {
        self.entry(group).is_some_and(|e| e.accepts(source))
    }

    /// Whether `group` is listened to from some source (and reported).
    pub fn is_joined(&self, group: &Ipv6Address) -> bool {
        self.entry(group).is_some_and(Entry::has_state)
    }

    /// Table slots in use: groups listened to plus groups still being left.
    pub fn slots_in_use(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    /// How many groups the table holds.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The longest source list [`listen`](MldHost::listen) takes: `S`, or fewer if a
    /// record with `S` sources would not fit one report of [`Config::mtu`] octets
    /// (RFC 3810 §5.2.15 would make a router see a truncated list).
    pub fn max_sources(&self) -> usize {
        S.min((self.config.mtu - REPORT_V2_OVERHEAD - RECORD_HEADER_LEN) / 16)
    }

    /// What was sent, received and dropped.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn entry(&self, group: &Ipv6Address) -> Option<&Entry<S>> {
        self.entries.iter().flatten().find(|e| e.group == *group)
    }

    fn entry_mut(&mut self, group: &Ipv6Address) -> Option<&mut Entry<S>> {
        self.entries
            .iter_mut()
            .flatten()
            .find(|e| e.group == *group)
    }

    /// Starts listening to `group` from every source: filter mode EXCLUDE {}, the same as
    /// [`listen`](MldHost::listen)`(now, group, FilterMode::Exclude, &[], rng)`.
    ///
    /// MLDv2: a State Change Report with CHANGE_TO_EXCLUDE_MODE {} is due at once and
    /// retransmitted [Robustness Variable] - 1 more times (RFC 3810 §6.1). MLDv1: a Report
    /// to the group is due at once and repeated [Robustness Variable] - 1 times (RFC 2710
    /// §4: "repeated once or twice after short delays").
    ///
    /// Joining a group already joined as EXCLUDE {} does nothing (no reference counting); a
    /// group with a source filter changes to EXCLUDE {}. `ff02::1` and groups of scope 0 or
    /// 1 are accepted and never reported ([`is_reportable`]). [`MldError::NotMulticast`] or
    /// [`MldError::TableFull`] otherwise.
    pub fn join<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        self.listen(now, group, FilterMode::Exclude, &[], rng)
    }

    /// Stops listening to `group`: filter mode back to INCLUDE {}, the same as
    /// [`listen`](MldHost::listen)`(now, group, FilterMode::Include, &[], rng)` except that
    /// a group not listened to is an error.
    ///
    /// MLDv2: a State Change Report with CHANGE_TO_INCLUDE_MODE {} is due at once and
    /// retransmitted [Robustness Variable] - 1 more times (RFC 3810 §6.1); pending answers
    /// to queries are cancelled. The slot is freed after the last retransmission. MLDv1: a
    /// Done to `ff02::2` is due at once if we were the last to report the group; RFC 2710
    /// §4: "If the node's most recent Report message was suppressed by hearing another
    /// Report message, it MAY send nothing", and this host then sends nothing.
    ///
    /// Groups never reported ([`is_reportable`]) return `Ok`. [`MldError::NotMulticast`], or
    /// [`MldError::NotJoined`] if the group is not listened to.
    pub fn leave<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        if is_reportable(&group) && !self.is_joined(&group) {
            return Err(MldError::NotJoined);
        }
        self.listen(now, group, FilterMode::Include, &[], rng)
    }

    /// Sets the filter of `group` to `mode` with `sources` (RFC 3810 §3, §4.2): INCLUDE (A)
    /// receives only from the sources in A, EXCLUDE (A) from all but those in A. INCLUDE {}
    /// stops listening; EXCLUDE {} listens to every source. Duplicate sources count once.
    ///
    /// MLDv2: the difference from the previous filter is reported at once in a State Change
    /// Report and retransmitted [Robustness Variable] - 1 more times at random intervals in
    /// [0, Unsolicited Report Interval] (RFC 3810 §6.1):
    ///
    /// | old state    | new state    | records sent                  |
    /// |--------------|--------------|-------------------------------|
    /// | INCLUDE (A)  | INCLUDE (B)  | ALLOW (B-A), BLOCK (A-B)      |
    /// | EXCLUDE (A)  | EXCLUDE (B)  | ALLOW (A-B), BLOCK (B-A)      |
    /// | INCLUDE (A)  | EXCLUDE (B)  | TO_EX (B)                     |
    /// | EXCLUDE (A)  | INCLUDE (B)  | TO_IN (B)                     |
    ///
    /// (empty ALLOW or BLOCK records are left out). A change while earlier retransmissions
    /// are pending is merged with them as §6.1 says: after a filter mode change the next
    /// [Robustness Variable] reports carry TO_IN/TO_EX with the current state, "even if any
    /// number of source list changes occur in that period", and source list changes made
    /// meanwhile follow as ALLOW/BLOCK; each source changed keeps retransmission state for
    /// [Robustness Variable] reports. Retransmission state is bounded by `S` sources per
    /// kind: a change beyond that is reported with TO_IN/TO_EX of the whole state instead
    /// (counted in [`Counters::source_changes_escalated`]).
    ///
    /// MLDv1 (RFC 3810 §8.2.1, where source lists cannot be expressed): a group whose
    /// filter is not INCLUDE {} is reported as listened to from every source: a change from
    /// INCLUDE {} sends Reports as [`join`](MldHost::join) does, a change to INCLUDE {}
    /// sends a Done as [`leave`](MldHost::leave) does, and other changes send nothing.
    ///
    /// Setting the filter it already has does nothing; INCLUDE {} for a group not listened
    /// to does nothing. Groups never reported ([`is_reportable`]) return `Ok` and are not
    /// stored. Errors, with nothing changed: [`MldError::NotMulticast`];
    /// [`MldError::InvalidSource`] for a multicast or unspecified source;
    /// [`MldError::TooManySources`] for more than [`max_sources`](MldHost::max_sources)
    /// distinct sources; [`MldError::TableFull`] for a new group when all `N` slots are
    /// used.
    pub fn listen<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        mode: FilterMode,
        sources: &[Ipv6Address],
        rng: &mut R,
    ) -> Result<(), MldError> {
        self.jitter.reseed(rng);
        self.advance(now);
        if !group.is_multicast() {
            return Err(MldError::NotMulticast);
        }
        if sources
            .iter()
            .any(|s| s.is_multicast() || s.is_unspecified())
        {
            return Err(MldError::InvalidSource);
        }
        let list = SourceList::<S>::from_distinct(sources)
            .filter(|l| l.len() <= self.max_sources())
            .ok_or(MldError::TooManySources)?;
        if !is_reportable(&group) {
            log::debug!("mld: {group} is never reported (RFC 3810 §6)");
            return Ok(());
        }
        let listening = mode == FilterMode::Exclude || !list.is_empty();
        let existing = self
            .entries
            .iter()
            .position(|e| e.is_some_and(|e| e.group == group));
        let i = match existing {
            Some(i) => i,
            None if !listening => return Ok(()),
            None => match self.entries.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    log::debug!("mld: cannot listen to {group}: table full ({N} groups)");
                    return Err(MldError::TableFull);
                }
            },
        };
        let (compat, robustness) = (self.mode(), self.robustness);
        let max_records_len = self.config.mtu - REPORT_V2_OVERHEAD;
        let slot = &mut self.entries[i];
        let entry = slot.get_or_insert(Entry::new(group));
        let was_listening = entry.has_state();
        if !listening {
            // Nothing left to answer for (RFC 3810 §6.3: INCLUDE {} has no record).
            entry.response_due = None;
            entry.query_len = 0;
        }
        match compat {
            CompatibilityMode::V2 => {
                match entry.set_filter(mode, list, robustness, max_records_len) {
                    Changed::No => return Ok(()),
                    Changed::Escalated => self.counters.source_changes_escalated += 1,
                    Changed::Mode | Changed::Sources => {}
                }
                log::debug!("mld: {group} now {mode:?} {:?}", entry.list.as_slice());
                // §6.1: each change "triggers the immediate transmission of a new State
                // Change Report".
                entry.change_due = Some(now);
            }
            CompatibilityMode::V1 => {
                entry.set_filter_quietly(mode, list);
                match (was_listening, listening) {
                    (false, true) => {
                        log::debug!("mld: join {group} (MLDv1)");
                        entry.done_due = None;
                        entry.response_due = Some(now);
                        entry.v1_left = robustness - 1;
                    }
                    (true, false) if entry.last_reporter => {
                        log::debug!("mld: leave {group} (MLDv1)");
                        entry.v1_left = 0;
                        entry.done_due = Some(now);
                    }
                    (true, false) => *slot = None,
                    (false, false) if entry.done_due.is_none() => *slot = None,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Handles a received IPv6 packet (fixed header first) that may carry an MLD message.
    ///
    /// It is validated with [`mld::parse_ipv6`] (link-local source, hop limit 1, Router
    /// Alert, checksum, length; RFC 3810 §5 and §6.2: a query failing these checks is
    /// ignored); failures are counted in [`Counters::invalid`]. Queries are answered after a
    /// random delay (RFC 3810 §6.2; RFC 2710 §4 in MLDv1 mode); an MLDv1 query switches the
    /// host to MLDv1 mode. Reports and dones of other hosts are counted and otherwise ignored,
    /// except that in MLDv1 mode another host's Report cancels ours for the same group
    /// (RFC 2710 §4).
    pub fn handle_packet<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        packet: &[u8],
        rng: &mut R,
    ) -> Handled {
        self.jitter.reseed(rng);
        self.advance(now);
        let received = match mld::parse_ipv6(packet) {
            Ok(received) => received,
            Err(error) => {
                log::debug!("mld: dropped a packet: {error}");
                self.counters.invalid.count(error);
                return Handled::Invalid(error);
            }
        };
        let own = self.link_local == Some(received.src_addr);
        match received.message {
            MldMessage::Query(query) => self.handle_query(now, &query),
            _ if own => {
                self.counters.own_messages += 1;
                Handled::OwnMessage
            }
            MldMessage::ReportV1(report) => {
                self.counters.reports_from_others += 1;
                let suppressed = self.mode() == CompatibilityMode::V1
                    && self.suppress(&report.multicast_address());
                Handled::ReportFromOther { suppressed }
            }
            MldMessage::ReportV2(_) => {
                // RFC 3810 §6: there is no report suppression in MLDv2.
                self.counters.reports_from_others += 1;
                Handled::ReportFromOther { suppressed: false }
            }
            MldMessage::Done(_) => {
                self.counters.dones_from_others += 1;
                Handled::DoneFromOther
            }
        }
    }

    /// MLDv2 → MLDv1 (RFC 3810 §8.2.1): the host "acts in MLDv1 compatibility mode, using
    /// only the MLDv1 protocol". Pending MLDv2 retransmissions and answers are cancelled and
    /// groups being left are dropped, as Linux does (`mld_process_v1`: stop the general
    /// query and interface change timers, clear the deleted records). Source filters stay;
    /// MLDv1 reports them as any-source.
    fn enter_v1(&mut self) {
        log::info!("mld: MLDv1 querier heard, switching to MLDv1 compatibility mode");
        self.counters.v1_mode_entered += 1;
        self.general_due = None;
        for slot in self.entries.iter_mut() {
            match slot {
                Some(entry) if entry.has_state() => {
                    entry.clear_v2_changes();
                    entry.response_due = None;
                    entry.query_len = 0;
                }
                _ => *slot = None,
            }
        }
    }

    /// MLDv1 → MLDv2 when the Older Version Querier Present timer expires (RFC 3810 §8.2.1).
    /// Pending MLDv1 Reports and Dones are cancelled; the next MLDv2 query is answered in
    /// MLDv2, with the source filters.
    fn leave_v1(&mut self) {
        log::info!("mld: no MLDv1 querier heard for the timeout, back to MLDv2");
        self.v1_until = None;
        for slot in self.entries.iter_mut() {
            match slot {
                Some(entry) if entry.has_state() => {
                    entry.response_due = None;
                    entry.v1_left = 0;
                }
                _ => *slot = None,
            }
        }
    }

    /// Runs the timers that change state rather than send: the Older Version Querier
    /// Present timer, and the Interface Timer, whose expiry makes a Current State Record
    /// due for every group listened to (RFC 3810 §6.3).
    fn advance(&mut self, now: Instant) {
        if is_due(self.v1_until, now) {
            self.leave_v1();
        }
        if let Some(general) = self.general_due.filter(|&g| g <= now) {
            self.general_due = None;
            for entry in self.entries.iter_mut().flatten() {
                if entry.has_state() {
                    // The full state supersedes any source-specific answer.
                    entry.response_due = earliest(entry.response_due, Some(general));
                    entry.query_len = 0;
                }
            }
        }
    }

    /// Runs expired timers; a spurious or early call does nothing. Reports that became due
    /// are then written by [`poll_transmit`](MldHost::poll_transmit).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// When [`handle_timeout`](MldHost::handle_timeout) or
    /// [`poll_transmit`](MldHost::poll_transmit) next has something to do; a time not after
    /// `now` means a packet is due now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = earliest(self.v1_until, self.general_due);
        for entry in self.entries.iter().flatten() {
            next = earliest(next, entry.change_due);
            next = earliest(next, entry.response_due);
            next = earliest(next, entry.done_due);
        }
        next
    }
}
