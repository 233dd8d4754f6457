//! The MLD host state machine.

use bridgeless_wire::mld::{
    self, AddressRecordRepr, DoneRepr, MldMessage, MldRepr, Query, QueryVersion,
    REPORT_V2_HEADER_LEN, RecordType, ReportV1Repr, ReportV2Repr,
};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::{
    CompatibilityMode, Config, Counters, DEFAULT_CAPACITY, Handled, Jitter, MAX_QUERY_SOURCES,
    MIN_MTU, MldError, is_reportable,
};

/// IPv6 header, the Hop-by-Hop header `emit_ipv6` writes, and the MLDv2 report header.
const REPORT_V2_OVERHEAD: usize = 40 + mld::HOP_BY_HOP_LEN + REPORT_V2_HEADER_LEN;

/// One group's state on the interface (RFC 3810 §4, with the retransmission and response
/// state of §6.1 to §6.3, and the MLDv1 flag of RFC 2710 §4).
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: Ipv6Address,
    /// EXCLUDE {} (listening to every source) when true; INCLUDE {} (being left, slot kept
    /// until the leave is fully reported) when false.
    listening: bool,
    /// MLDv2: when the next State Change Record for this group is due.
    change_due: Option<Instant>,
    /// MLDv2: State Change Records still to send, the due one included. MLDv1: unsolicited
    /// Reports still to repeat after the due one.
    change_left: u8,
    /// MLDv2: when the Current State Record answering a query is due. MLDv1: when the next
    /// Report is due (the single per-group timer of RFC 2710 §4).
    response_due: Option<Instant>,
    /// Sources recorded for a pending answer to Multicast Address and Source Specific
    /// Queries (RFC 3810 §6.2 rules 3 and 5); none means a group answer.
    sources: [Ipv6Address; MAX_QUERY_SOURCES],
    source_count: u8,
    /// RFC 2710 §4: "a flag indicating whether or not this node was the last one to send a
    /// Report for this address".
    last_reporter: bool,
    /// MLDv1: when the Done for a group being left is due.
    done_due: Option<Instant>,
}

impl Entry {
    fn new(group: Ipv6Address) -> Entry {
        Entry {
            group,
            listening: false,
            change_due: None,
            change_left: 0,
            response_due: None,
            sources: [Ipv6Address::UNSPECIFIED; MAX_QUERY_SOURCES],
            source_count: 0,
            last_reporter: false,
            done_due: None,
        }
    }

    fn recorded_sources(&self) -> &[Ipv6Address] {
        &self.sources[..usize::from(self.source_count)]
    }

    /// Adds queried sources to the pending answer (RFC 3810 §6.2 rule 5). Returns false, and
    /// leaves the list empty (a group answer), if they do not fit.
    fn add_sources(&mut self, sources: impl Iterator<Item = Ipv6Address>) -> bool {
        for source in sources {
            if self.recorded_sources().contains(&source) {
                continue;
            }
            let Some(slot) = self.sources.get_mut(usize::from(self.source_count)) else {
                self.source_count = 0;
                return false;
            };
            *slot = source;
            self.source_count += 1;
        }
        true
    }
}

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

/// One kind of packet `poll_transmit` may write: `(host, now, buf, limit)`.
type TxStep<const N: usize> = fn(&mut MldHost<N>, Instant, &mut [u8], usize) -> Tx;

/// What one emission step did.
enum Tx {
    /// Nothing of this kind is due.
    Idle,
    /// A packet of this many octets was written.
    Sent(usize),
    /// Something is due but the buffer cannot hold it.
    TooSmall,
}

/// MLD as a host on one interface: MLDv2 (RFC 3810 §6) with MLDv1 compatibility (§8.2.1,
/// RFC 2710 §4), sans-IO.
///
/// Holds at most `N` groups ([`DEFAULT_CAPACITY`] unless built with
/// [`with_capacity`](MldHost::with_capacity)); [`join`](MldHost::join) returns
/// [`MldError::TableFull`] beyond that. See the [module documentation](super).
#[derive(Debug, Clone)]
pub struct MldHost<const N: usize = DEFAULT_CAPACITY> {
    config: Config,
    /// The [Robustness Variable] in use: the configured one, or the querier's QRV.
    robustness: u8,
    /// The [Query Interval] in use: the configured one, or the querier's QQIC.
    query_interval: Duration,
    link_local: Option<Ipv6Address>,
    entries: [Option<Entry>; N],
    /// The Interface Timer: when the answer to a General Query is due (RFC 3810 §6.2).
    general_due: Option<Instant>,
    /// The Older Version Querier Present timer: MLDv1 mode while it runs (RFC 3810 §8.2.1).
    v1_until: Option<Instant>,
    jitter: Jitter,
    counters: Counters,
}

impl MldHost<DEFAULT_CAPACITY> {
    /// A host with no groups joined, room for [`DEFAULT_CAPACITY`] groups, in MLDv2 mode,
    /// sending from `::` until [`set_link_local`](MldHost::set_link_local).
    pub fn new(config: Config) -> Self {
        MldHost::with_capacity(config)
    }
}

impl<const N: usize> MldHost<N> {
    /// Like [`MldHost::new`], with room for `N` groups.
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

    /// The groups listened to (EXCLUDE {}), in table order. Groups being left and groups that
    /// are never reported (see [`is_reportable`]) are not listed.
    pub fn groups(&self) -> impl Iterator<Item = Ipv6Address> + '_ {
        self.entries
            .iter()
            .flatten()
            .filter(|e| e.listening)
            .map(|e| e.group)
    }

    /// Whether `group` is listened to (and reported).
    pub fn is_joined(&self, group: &Ipv6Address) -> bool {
        self.entry(group).is_some_and(|e| e.listening)
    }

    /// Table slots in use: groups listened to plus groups still being left.
    pub fn slots_in_use(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    /// How many groups the table holds.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// What was sent, received and dropped.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn entry(&self, group: &Ipv6Address) -> Option<&Entry> {
        self.entries.iter().flatten().find(|e| e.group == *group)
    }

    fn entry_mut(&mut self, group: &Ipv6Address) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .flatten()
            .find(|e| e.group == *group)
    }

    /// The common start of [`join`](MldHost::join) and [`leave`](MldHost::leave): reseeds the
    /// jitter, brings the timers up to `now` and checks `group`. `Ok(false)` for a group that
    /// is never reported ([`is_reportable`]).
    fn begin_change<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<bool, MldError> {
        self.jitter.reseed(rng);
        self.advance(now);
        if !group.is_multicast() {
            return Err(MldError::NotMulticast);
        }
        Ok(is_reportable(&group))
    }

    /// Starts listening to `group` from every source (filter mode EXCLUDE {}).
    ///
    /// MLDv2: a State Change Report with CHANGE_TO_EXCLUDE_MODE {} is due at once and
    /// retransmitted [Robustness Variable] - 1 more times (RFC 3810 §6.1); a pending leave of
    /// the group is replaced. MLDv1: a Report to the group is due at once and repeated
    /// [Robustness Variable] - 1 times (RFC 2710 §4: "repeated once or twice after short
    /// delays").
    ///
    /// Joining a group already joined does nothing (no reference counting). `ff02::1` and
    /// groups of scope 0 or 1 are accepted and never reported ([`is_reportable`]).
    /// [`MldError::NotMulticast`] or [`MldError::TableFull`] otherwise.
    pub fn join<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        if !self.begin_change(now, group, rng)? {
            log::debug!("mld: {group} is never reported (RFC 3810 §6)");
            return Ok(());
        }
        let (mode, robustness) = (self.mode(), self.robustness);
        let existing = self
            .entries
            .iter()
            .position(|e| e.is_some_and(|e| e.group == group));
        let Some(i) = existing.or_else(|| self.entries.iter().position(Option::is_none)) else {
            log::debug!("mld: cannot join {group}: table full ({N} groups)");
            return Err(MldError::TableFull);
        };
        let entry = self.entries[i].get_or_insert(Entry::new(group));
        if entry.listening {
            return Ok(());
        }
        log::debug!("mld: join {group} ({mode:?})");
        entry.listening = true;
        entry.done_due = None;
        match mode {
            CompatibilityMode::V2 => {
                entry.change_due = Some(now);
                entry.change_left = robustness;
            }
            CompatibilityMode::V1 => {
                entry.response_due = Some(now);
                entry.change_left = robustness - 1;
            }
        }
        Ok(())
    }

    /// Stops listening to `group` (filter mode back to INCLUDE {}).
    ///
    /// MLDv2: a State Change Report with CHANGE_TO_INCLUDE_MODE {} is due at once and
    /// retransmitted [Robustness Variable] - 1 more times (RFC 3810 §6.1); pending
    /// retransmissions of the join and pending answers to queries are cancelled. The slot is
    /// freed after the last retransmission. MLDv1: a Done to `ff02::2` is due at once if we
    /// were the last to report the group; RFC 2710 §4: "If the node's most recent Report
    /// message was suppressed by hearing another Report message, it MAY send nothing", and
    /// this host then sends nothing.
    ///
    /// Groups never reported ([`is_reportable`]) return `Ok`. [`MldError::NotMulticast`], or
    /// [`MldError::NotJoined`] if the group is not listened to.
    pub fn leave<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        if !self.begin_change(now, group, rng)? {
            return Ok(());
        }
        let (mode, robustness) = (self.mode(), self.robustness);
        let Some(slot) = self
            .entries
            .iter_mut()
            .find(|e| e.is_some_and(|e| e.group == group && e.listening))
        else {
            return Err(MldError::NotJoined);
        };
        let Some(entry) = slot.as_mut() else {
            return Err(MldError::NotJoined); // unreachable: `find` checked it
        };
        log::debug!("mld: leave {group} ({mode:?})");
        entry.listening = false;
        entry.response_due = None;
        entry.source_count = 0;
        match mode {
            CompatibilityMode::V2 => {
                entry.change_due = Some(now);
                entry.change_left = robustness;
            }
            CompatibilityMode::V1 if entry.last_reporter => {
                entry.change_left = 0;
                entry.done_due = Some(now);
            }
            CompatibilityMode::V1 => *slot = None,
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

    /// RFC 2710 §4: "If a node receives another node's Report from an interface for a
    /// multicast address while it has a timer running for that same address on that
    /// interface, it stops its timer and does not send a Report for that address, thus
    /// suppressing duplicate reports on the link", and clears its last-reporter flag.
    fn suppress(&mut self, group: &Ipv6Address) -> bool {
        let Some(entry) = self.entry_mut(group) else {
            return false;
        };
        if !entry.listening || entry.response_due.is_none() {
            return false;
        }
        entry.response_due = None;
        entry.change_left = 0;
        entry.last_reporter = false;
        self.counters.suppressed += 1;
        log::debug!("mld: report for {group} suppressed by another listener");
        true
    }

    fn handle_query(&mut self, now: Instant, query: &Query<&[u8]>) -> Handled {
        let max_delay = Duration::from_millis(query.max_response_delay().into());
        let version = query.version();
        match version {
            QueryVersion::V1 => {
                self.counters.queries_v1 += 1;
                if self.v1_until.is_none() {
                    self.enter_v1();
                }
                // RFC 3810 §8.2.1 and §9.12: the Older Version Querier Present Timeout is
                // [Robustness Variable] × [Query Interval] + [Query Response Interval]; the
                // last is the query's own Maximum Response Delay (as Linux does).
                let timeout = self.query_interval * u32::from(self.robustness) + max_delay;
                self.v1_until = Some(now + timeout);
            }
            QueryVersion::V2 => {
                self.counters.queries_v2 += 1;
                // RFC 3810 §5.1.8, §9.1: a non-zero QRV is the querier's Robustness Variable
                // (0 means it is over 7: keep ours). §5.1.9, §9.2: likewise the QQIC.
                if query.qrv() != 0 {
                    self.robustness = query.qrv();
                }
                if query.query_interval() != 0 {
                    self.query_interval = Duration::from_secs(query.query_interval().into());
                }
            }
        }
        let group = query.multicast_address();
        let general = group.is_unspecified();
        let answered = match self.mode() {
            // RFC 3810 §8.2.1: in MLDv1 mode the host uses only MLDv1, so an MLDv2 query is
            // answered as an MLDv1 one (Linux does the same).
            CompatibilityMode::V1 => self.v1_query(now, general, &group, max_delay),
            CompatibilityMode::V2 => self.v2_query(now, general, &group, max_delay, query),
        };
        if answered {
            Handled::Query { version, general }
        } else {
            self.counters.queries_not_listening += 1;
            Handled::QueryNotListening
        }
    }

    /// RFC 2710 §4: on a query, a listener starts a timer for each address it listens to (or
    /// the one queried) at a random value in [0, Maximum Response Delay]; "If a timer for
    /// the address is already running, it is reset to the random value only if the requested
    /// Maximum Response Delay is less than the remaining value of the running timer."
    /// Returns whether a listened group matched (always true for a general query).
    fn v1_query(
        &mut self,
        now: Instant,
        general: bool,
        group: &Ipv6Address,
        max_delay: Duration,
    ) -> bool {
        let mut matched = general;
        for entry in self.entries.iter_mut().flatten() {
            if !entry.listening || !(general || entry.group == *group) {
                continue;
            }
            matched = true;
            let keep = entry
                .response_due
                .is_some_and(|due| due <= now || due - now <= max_delay);
            if !keep {
                entry.response_due = Some(now + self.jitter.delay(max_delay));
            }
        }
        matched
    }

    /// RFC 3810 §6.2: schedules the answer to an MLDv2 query at a random delay in
    /// [0, Maximum Response Delay], following its five rules. Returns whether the query
    /// concerns this host (always true for a general query).
    fn v2_query(
        &mut self,
        now: Instant,
        general: bool,
        group: &Ipv6Address,
        max_delay: Duration,
        query: &Query<&[u8]>,
    ) -> bool {
        let due = now + self.jitter.delay(max_delay);
        let listening = general || self.entry(group).is_some_and(|e| e.listening);
        // Rule 1: "If there is a pending response to a previous General Query scheduled
        // sooner than the selected delay, no additional response needs to be scheduled."
        if self.general_due.is_some_and(|g| g <= due) || !listening {
            return listening;
        }
        if general {
            // Rule 2: the Interface Timer; "Any previously pending response to a General
            // Query is canceled."
            self.general_due = Some(due);
            return true;
        }
        let Some(entry) = self.entry_mut(group) else {
            return false;
        };
        let has_sources = query.number_of_sources() > 0;
        let fits = match entry.response_due {
            // Rule 3: no pending response for the group: schedule one, recording the sources
            // of a source-specific query.
            None => {
                entry.response_due = Some(due);
                entry.source_count = 0;
                !has_sources || entry.add_sources(query.sources())
            }
            // Rule 4: a pending response, and a group-specific query or no recorded sources:
            // a single group answer at the earlier time.
            Some(pending) if !has_sources || entry.source_count == 0 => {
                entry.response_due = Some(pending.min(due));
                entry.source_count = 0;
                true
            }
            // Rule 5: add the sources to the recorded list, answer at the earlier time.
            Some(pending) => {
                entry.response_due = Some(pending.min(due));
                entry.add_sources(query.sources())
            }
        };
        if !fits {
            self.counters.query_sources_overflow += 1;
        }
        true
    }

    /// MLDv2 → MLDv1 (RFC 3810 §8.2.1): the host "acts in MLDv1 compatibility mode, using
    /// only the MLDv1 protocol". Pending MLDv2 retransmissions and answers are cancelled and
    /// groups being left are dropped, as Linux does (`mld_process_v1`: stop the general
    /// query and interface change timers, clear the deleted records).
    fn enter_v1(&mut self) {
        log::info!("mld: MLDv1 querier heard, switching to MLDv1 compatibility mode");
        self.counters.v1_mode_entered += 1;
        self.general_due = None;
        for slot in self.entries.iter_mut() {
            match slot {
                Some(entry) if entry.listening => {
                    entry.change_due = None;
                    entry.change_left = 0;
                    entry.response_due = None;
                    entry.source_count = 0;
                }
                _ => *slot = None,
            }
        }
    }

    /// MLDv1 → MLDv2 when the Older Version Querier Present timer expires (RFC 3810 §8.2.1).
    /// Pending MLDv1 Reports and Dones are cancelled; the next MLDv2 query is answered in
    /// MLDv2.
    fn leave_v1(&mut self) {
        log::info!("mld: no MLDv1 querier heard for the timeout, back to MLDv2");
        self.v1_until = None;
        for slot in self.entries.iter_mut() {
            match slot {
                Some(entry) if entry.listening => {
                    entry.response_due = None;
                    entry.change_left = 0;
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
                if entry.listening {
                    // The full state supersedes any source-specific answer.
                    entry.response_due = earliest(entry.response_due, Some(general));
                    entry.source_count = 0;
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

    /// Writes the next due MLD packet into `buf` as a whole IPv6 packet and returns its
    /// length, or `None` if nothing is due (or `buf` is too small:
    /// [`Counters::buffer_too_small`]; the packet stays due). Call until it returns `None`.
    ///
    /// Packets are at most [`Config::mtu`] long: MLDv2 records that do not fit wait for the
    /// next call. The source is the link-local address, or `::` when none is set
    /// (RFC 3810 §5.2.13); hop limit 1 and a Router Alert (RFC 3810 §5, RFC 2710 §3).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        let limit = buf.len().min(self.config.mtu);
        let steps: [TxStep<N>; 2] = match self.mode() {
            CompatibilityMode::V2 => [Self::transmit_state_change, Self::transmit_current_state],
            CompatibilityMode::V1 => [Self::transmit_done, Self::transmit_v1_report],
        };
        for step in steps {
            match step(self, now, buf, limit) {
                Tx::Idle => continue,
                Tx::Sent(len) => return Some(len),
                Tx::TooSmall => {
                    self.counters.buffer_too_small += 1;
                    return None;
                }
            }
        }
        None
    }

    fn source(&self) -> Ipv6Address {
        self.link_local.unwrap_or(Ipv6Address::UNSPECIFIED)
    }

    fn emit(&self, repr: &MldRepr<'_>, buf: &mut [u8]) -> Tx {
        match mld::emit_ipv6(&self.source(), &repr.destination(), repr, buf) {
            Ok(len) => Tx::Sent(len),
            Err(_) => Tx::TooSmall,
        }
    }

    /// Packs the records `record` makes of the entries `due` picks into one MLDv2 report of
    /// at most `limit` octets; the indices of the entries sent go to `picked`.
    fn emit_records(
        &self,
        buf: &mut [u8],
        limit: usize,
        picked: &mut [usize; N],
        due: impl Fn(&Entry) -> bool,
        record: impl for<'e> Fn(&'e Entry) -> AddressRecordRepr<'e>,
    ) -> (Tx, usize) {
        let mut records = [AddressRecordRepr::join(Ipv6Address::UNSPECIFIED); N];
        let (mut count, mut len, mut left_out) = (0, REPORT_V2_OVERHEAD, false);
        for (i, entry) in self.entries.iter().enumerate() {
            let Some(entry) = entry.as_ref().filter(|e| due(e)) else {
                continue;
            };
            let rec = record(entry);
            if len + rec.buffer_len() > limit {
                left_out = true; // waits for the next packet
                continue;
            }
            len += rec.buffer_len();
            records[count] = rec;
            picked[count] = i;
            count += 1;
        }
        match (count, left_out) {
            (0, true) => return (Tx::TooSmall, 0),
            (0, false) => return (Tx::Idle, 0),
            _ => {}
        }
        let repr = MldRepr::ReportV2(ReportV2Repr {
            records: &records[..count],
        });
        (self.emit(&repr, buf), count)
    }

    /// MLDv2 State Change Reports (RFC 3810 §6.1): one CHANGE_TO_EXCLUDE_MODE {} or
    /// CHANGE_TO_INCLUDE_MODE {} record per group with a change due.
    fn transmit_state_change(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        let mut picked = [0; N];
        let (tx, count) = self.emit_records(
            buf,
            limit,
            &mut picked,
            |e| is_due(e.change_due, now),
            |e| {
                if e.listening {
                    AddressRecordRepr::join(e.group)
                } else {
                    AddressRecordRepr::leave(e.group)
                }
            },
        );
        if !matches!(tx, Tx::Sent(_)) {
            return tx;
        }
        self.counters.reports_sent.state_change += 1;
        for &i in &picked[..count] {
            let slot = &mut self.entries[i];
            let Some(entry) = slot.as_mut() else { continue };
            entry.change_left = entry.change_left.saturating_sub(1);
            if entry.change_left > 0 {
                // "retransmitted [Robustness Variable] - 1 more times, at intervals chosen
                // at random from the range (0, [Unsolicited Report Interval])" (§6.1).
                entry.change_due =
                    Some(now + self.jitter.delay(self.config.unsolicited_report_interval));
            } else {
                entry.change_due = None;
                if !entry.listening {
                    *slot = None;
                }
            }
            if let Some(entry) = slot.as_mut() {
                entry.last_reporter = entry.listening;
            }
        }
        tx
    }

    /// MLDv2 Current State Reports (RFC 3810 §6.3): MODE_IS_EXCLUDE {} for a group (or
    /// general) answer; for a source-specific one the table of §6.3 gives, for interface
    /// state EXCLUDE (A) and queried sources B, IS_IN (B-A), that is IS_IN (B) for A = {}.
    fn transmit_current_state(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        let mut picked = [0; N];
        let (tx, count) = self.emit_records(
            buf,
            limit,
            &mut picked,
            |e| e.listening && is_due(e.response_due, now),
            |e| AddressRecordRepr {
                record_type: if e.source_count == 0 {
                    RecordType::ModeIsExclude
                } else {
                    RecordType::ModeIsInclude
                },
                multicast_address: e.group,
                sources: e.recorded_sources(),
            },
        );
        if !matches!(tx, Tx::Sent(_)) {
            return tx;
        }
        self.counters.reports_sent.current_state += 1;
        for &i in &picked[..count] {
            if let Some(entry) = self.entries[i].as_mut() {
                entry.response_due = None;
                entry.source_count = 0;
                entry.last_reporter = true;
            }
        }
        tx
    }

    /// Writes the MLDv1 message `repr` makes for the first group whose entry is `due`, and
    /// returns that entry's index with what was done ([`Tx::Idle`], index 0, if none is due).
    fn emit_v1(
        &self,
        buf: &mut [u8],
        due: impl Fn(&Entry) -> bool,
        repr: impl Fn(Ipv6Address) -> MldRepr<'static>,
    ) -> (usize, Tx) {
        let Some((i, group)) = self
            .entries
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.filter(&due).map(|e| (i, e.group)))
        else {
            return (0, Tx::Idle);
        };
        (i, self.emit(&repr(group), buf))
    }

    /// MLDv1 Done (RFC 2710 §4), sent to `ff02::2`; the slot is freed.
    fn transmit_done(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        let (i, tx) = self.emit_v1(
            &mut buf[..limit],
            |e| is_due(e.done_due, now),
            |group| {
                MldRepr::Done(DoneRepr {
                    multicast_address: group,
                })
            },
        );
        if matches!(tx, Tx::Sent(_)) {
            self.counters.reports_sent.v1_done += 1;
            self.entries[i] = None;
        }
        tx
    }

    /// MLDv1 Report (RFC 2710 §4), sent to the group; sets the last-reporter flag.
    fn transmit_v1_report(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        let (i, tx) = self.emit_v1(
            &mut buf[..limit],
            |e| e.listening && is_due(e.response_due, now),
            |group| {
                MldRepr::ReportV1(ReportV1Repr {
                    multicast_address: group,
                })
            },
        );
        if !matches!(tx, Tx::Sent(_)) {
            return tx;
        }
        self.counters.reports_sent.v1_report += 1;
        let interval = self.config.unsolicited_report_interval;
        let delay = self.jitter.delay(interval);
        if let Some(entry) = self.entries[i].as_mut() {
            entry.last_reporter = true;
            if entry.change_left > 0 {
                entry.change_left -= 1;
                entry.response_due = Some(now + delay);
            } else {
                entry.response_due = None;
            }
        }
        tx
    }
}
