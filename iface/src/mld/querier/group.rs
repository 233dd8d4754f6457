//! One multicast address's router state on a link (RFC 3810 §7.2) and the state transitions
//! of §7.4 and §7.5, with the MLDv1 compatibility of §8.3.2.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::Counters;

/// The filter mode of a multicast address on a link (RFC 3810 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterMode {
    /// INCLUDE (A): forward only from the sources listed (each with a running timer).
    Include,
    /// EXCLUDE (X, Y): forward from every source except those in the Exclude List Y (the
    /// sources whose timer is zero); the Requested List X holds sources with running timers.
    Exclude,
}

/// A source in a group record (RFC 3810 §7.2): its timer and, on the querier, what is left
/// of its Multicast Address and Source Specific Query retransmissions (§7.6.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Source {
    pub(super) addr: Ipv6Address,
    /// When the source timer expires; `None` is a timer of zero (the Exclude List, only in
    /// EXCLUDE mode).
    pub(super) timer: Option<Instant>,
    /// Queries for this source still to send, the next one at `query_due`.
    pub(super) query_left: u8,
    pub(super) query_due: Option<Instant>,
}

const NO_SOURCE: Source = Source {
    addr: Ipv6Address::UNSPECIFIED,
    timer: None,
    query_left: 0,
    query_due: None,
};

/// A source of a group record as [`GroupRecord::sources`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRecord {
    /// The source address.
    pub addr: Ipv6Address,
    /// When its timer expires; `None` is a timer of zero: the source is in the Exclude
    /// List (EXCLUDE mode only) and its packets are not forwarded.
    pub timer: Option<Instant>,
}

/// Which version the listeners of a group speak (RFC 3810 §8.3.2, Multicast Address
/// Compatibility Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupCompatibility {
    /// MLDv2: source lists are honoured.
    V2,
    /// MLDv1, while an MLDv1 Report was heard within the Older Version Host Present
    /// Timeout: BLOCK records are ignored and TO_EX records lose their sources.
    V1,
}

/// Per-group counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GroupCounters {
    /// Records (MLDv2) and Reports/Dones (MLDv1) received for the group.
    pub reports: u64,
    /// Packets [`MldQuerier::admit`](super::MldQuerier::admit) let onto the link.
    pub packets_permitted: u64,
    /// Packets [`MldQuerier::admit`](super::MldQuerier::admit) kept off the link (a source
    /// not wanted).
    pub packets_withheld: u64,
    /// Multicast Address Specific Queries sent.
    pub group_queries: u64,
    /// Multicast Address and Source Specific Queries sent.
    pub source_queries: u64,
}

/// The timer values a transition needs, worked out from the querier's variables.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub(super) now: Instant,
    /// Multicast Address Listening Interval (RFC 3810 §9.4).
    pub(super) mali: Duration,
    /// Last Listener Query Time (§9.14).
    pub(super) llqt: Duration,
    /// Last Listener Query Count (§9.9).
    pub(super) llqc: u8,
    /// Older Version Host Present Timeout (§9.13).
    pub(super) ovhpt: Duration,
    /// Whether this router is the querier: only the querier carries out "Send Q(...)"
    /// actions (and lowers timers for them); the others wait for its queries (§7.6.1).
    pub(super) querier: bool,
}

/// The record types of RFC 3810 §5.2.12 as the state machine takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Change {
    IsIn,
    IsEx,
    ToIn,
    ToEx,
    Allow,
    Block,
}

/// The state of one multicast address on the link (RFC 3810 §7.2): filter mode, filter
/// timer, source records, MLDv1 compatibility, and the querier's pending Multicast Address
/// Specific Query retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRecord<const S: usize> {
    group: Ipv6Address,
    mode: FilterMode,
    /// EXCLUDE mode only: when the filter timer expires.
    filter_timer: Option<Instant>,
    sources: [Source; S],
    len: usize,
    /// The Older Version Host Present timer (§8.3.2).
    v1_until: Option<Instant>,
    /// A requested source did not fit the source table: until this time (the timer it
    /// would have had) the record stays in EXCLUDE mode, which forwards it, rather than
    /// fall back to an INCLUDE list that lacks it.
    unrecorded_until: Option<Instant>,
    pub(super) group_query_left: u8,
    pub(super) group_query_due: Option<Instant>,
    pub(super) counters: GroupCounters,
}

impl<const S: usize> GroupRecord<S> {
    /// A new record: INCLUDE {}, which `apply` then changes. (An INCLUDE {} record left over
    /// is deleted by `expire`.)
    pub(super) fn new(group: Ipv6Address) -> Self {
        GroupRecord {
            group,
            mode: FilterMode::Include,
            filter_timer: None,
            sources: [NO_SOURCE; S],
            len: 0,
            v1_until: None,
            unrecorded_until: None,
            group_query_left: 0,
            group_query_due: None,
            counters: GroupCounters::default(),
        }
    }

    /// The multicast address.
    pub fn group(&self) -> Ipv6Address {
        self.group
    }

    /// INCLUDE or EXCLUDE.
    pub fn filter_mode(&self) -> FilterMode {
        self.mode
    }

    /// When the filter timer expires (EXCLUDE mode only): then the record falls back to
    /// INCLUDE with the sources whose timers run, or is deleted (§7.5).
    pub fn filter_timer(&self) -> Option<Instant> {
        self.filter_timer
    }

    /// MLDv2, or MLDv1 while an MLDv1 listener was heard recently.
    pub fn compatibility(&self) -> GroupCompatibility {
        if self.v1_until.is_some() {
            GroupCompatibility::V1
        } else {
            GroupCompatibility::V2
        }
    }

    /// When the Older Version Host Present timer expires, if it runs.
    pub fn older_version_host_present(&self) -> Option<Instant> {
        self.v1_until
    }

    /// The source records: in INCLUDE mode the Include List; in EXCLUDE mode the Requested
    /// List (running timers) and the Exclude List (`timer: None`).
    pub fn sources(&self) -> impl Iterator<Item = SourceRecord> + '_ {
        self.list().iter().map(|s| SourceRecord {
            addr: s.addr,
            timer: s.timer,
        })
    }

    /// Per-group counters.
    pub fn counters(&self) -> &GroupCounters {
        &self.counters
    }

    /// RFC 3810 §7.2.1: whether traffic from `source` is wanted on the link. INCLUDE (A):
    /// `source` is in A. EXCLUDE (X, Y): `source` is not in Y.
    pub fn wants(&self, source: &Ipv6Address) -> bool {
        let found = self.list().iter().find(|s| s.addr == *source);
        match self.mode {
            FilterMode::Include => found.is_some(),
            FilterMode::Exclude => found.is_none_or(|s| s.timer.is_some()),
        }
    }

    pub(super) fn list(&self) -> &[Source] {
        &self.sources[..self.len]
    }

    pub(super) fn list_mut(&mut self) -> &mut [Source] {
        &mut self.sources[..self.len]
    }

    /// The record is empty: INCLUDE {} (RFC 3810 §7.5: deleted).
    pub(super) fn is_empty(&self) -> bool {
        self.mode == FilterMode::Include && self.len == 0
    }

    fn find(&self, addr: &Ipv6Address) -> Option<usize> {
        self.list().iter().position(|s| s.addr == *addr)
    }

    /// Sets `addr`'s timer, adding the source if it is new. A source that does not fit is
    /// counted in [`Counters::source_table_full`]. If it was meant to be forwarded (a
    /// running timer), its traffic must still flow: in INCLUDE mode the record falls back to
    /// EXCLUDE {} for a [Multicast Address Listening Interval], and in either mode it stays
    /// in EXCLUDE mode (which forwards every source not excluded) at least until the timer
    /// the source would have had runs out. When full, the querier forwards more than asked,
    /// never less. (An excluded source that does not fit is simply not excluded.)
    fn set_timer(
        &mut self,
        addr: Ipv6Address,
        timer: Option<Instant>,
        t: &Timing,
        c: &mut Counters,
    ) {
        if let Some(i) = self.find(&addr) {
            self.sources[i].timer = timer;
            return;
        }
        if self.len == S {
            c.dropped.source_table_full += 1;
            if timer.is_some() {
                self.unrecorded_until = self.unrecorded_until.max(timer);
            }
            if timer.is_some() && self.mode == FilterMode::Include {
                log::debug!(
                    "mld querier: {}: source table full, forwarding all",
                    self.group
                );
                self.mode = FilterMode::Exclude;
                self.filter_timer = Some(t.now + t.mali);
                for s in self.list_mut() {
                    // Sources with running timers stay requested; none is excluded.
                    s.timer = s.timer.or(Some(t.now + t.mali));
                }
            }
            return;
        }
        self.sources[self.len] = Source {
            addr,
            timer,
            ..NO_SOURCE
        };
        self.len += 1;
    }

    /// Deletes the sources `keep` says no to.
    fn retain(&mut self, mut keep: impl FnMut(&Source) -> bool) {
        let mut j = 0;
        for i in 0..self.len {
            if keep(&self.sources[i]) {
                self.sources[j] = self.sources[i];
                j += 1;
            }
        }
        self.len = j;
    }

    /// "Send Q(MA, A)" (§7.6.3.2) for the sources `pick` chooses: their timers are lowered
    /// to LLQT and [Last Listener Query Count] queries are scheduled, the first at once.
    /// Only the querier does this.
    fn query_sources(&mut self, t: &Timing, mut pick: impl FnMut(&Source) -> bool) {
        if !t.querier {
            return;
        }
        let lowered = t.now + t.llqt;
        for s in self.list_mut() {
            if pick(s) {
                s.timer = s.timer.map(|at| at.min(lowered));
                s.query_left = t.llqc;
                s.query_due = Some(t.now);
            }
        }
    }

    /// "Send Q(MA)" (§7.6.3.1): the filter timer is lowered to LLQT and [Last Listener
    /// Query Count] queries are scheduled, the first at once. Only the querier does this.
    fn query_group(&mut self, t: &Timing) {
        if !t.querier {
            return;
        }
        let lowered = t.now + t.llqt;
        self.filter_timer = self.filter_timer.map(|at| at.min(lowered));
        self.group_query_left = t.llqc;
        self.group_query_due = Some(t.now);
    }

    /// Applies one received record to the state: the tables of RFC 3810 §7.4.1 (Current
    /// State Records) and §7.4.2 (State Change Records). `b` is the record's source list
    /// (duplicates are harmless). In MLDv1 compatibility mode (§8.3.2) BLOCK is ignored and
    /// TO_EX loses its sources.
    pub(super) fn apply<B>(&mut self, change: Change, b: B, t: &Timing, c: &mut Counters)
    where
        B: Iterator<Item = Ipv6Address> + Clone,
    {
        self.counters.reports += 1;
        let v1 = self.v1_until.is_some();
        if v1 && change == Change::Block {
            c.dropped.block_in_v1_mode += 1;
            return;
        }
        let b = b.take(if v1 && change == Change::ToEx {
            0
        } else {
            usize::MAX
        });
        let in_b = |a: &Ipv6Address| b.clone().any(|x| x == *a);
        let mali = Some(t.now + t.mali);
        match (self.mode, change) {
            // INCLUDE (A) IS_IN (B) / ALLOW (B) → INCLUDE (A+B); (B)=MALI.
            // EXCLUDE (X,Y) IS_IN (A) / ALLOW (A) → EXCLUDE (X+A, Y-A); (A)=MALI.
            (_, Change::IsIn | Change::Allow) => {
                for x in b.clone() {
                    self.set_timer(x, mali, t, c);
                }
            }
            // INCLUDE (A) TO_IN (B) → INCLUDE (A+B); (B)=MALI; Send Q(MA, A-B).
            (FilterMode::Include, Change::ToIn) => {
                self.query_sources(t, |s| !in_b(&s.addr));
                for x in b.clone() {
                    self.set_timer(x, mali, t, c);
                }
            }
            // EXCLUDE (X,Y) TO_IN (A) → EXCLUDE (X+A, Y-A); (A)=MALI; Send Q(MA, X-A);
            // Send Q(MA).
            (FilterMode::Exclude, Change::ToIn) => {
                self.query_sources(t, |s| s.timer.is_some() && !in_b(&s.addr));
                for x in b.clone() {
                    self.set_timer(x, mali, t, c);
                }
                self.query_group(t);
            }
            // INCLUDE (A) BLOCK (B) → INCLUDE (A); Send Q(MA, A*B).
            (FilterMode::Include, Change::Block) => {
                self.query_sources(t, |s| in_b(&s.addr));
            }
            // EXCLUDE (X,Y) BLOCK (A) → EXCLUDE (X+(A-Y), Y); (A-X-Y)=Filter Timer;
            // Send Q(MA, A-Y).
            (FilterMode::Exclude, Change::Block) => {
                for x in b.clone() {
                    if self.find(&x).is_none() {
                        self.set_timer(x, self.filter_timer, t, c);
                    }
                }
                self.query_sources(t, |s| s.timer.is_some() && in_b(&s.addr));
            }
            // INCLUDE (A) IS_EX (B) → EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B);
            // Filter Timer=MALI. TO_EX (B) does the same and sends Q(MA, A*B).
            (FilterMode::Include, Change::IsEx | Change::ToEx) => {
                self.retain(|s| in_b(&s.addr));
                self.mode = FilterMode::Exclude;
                self.filter_timer = mali;
                for x in b.clone() {
                    if self.find(&x).is_none() {
                        self.set_timer(x, None, t, c);
                    }
                }
                if change == Change::ToEx {
                    self.query_sources(t, |s| s.timer.is_some());
                }
            }
            // EXCLUDE (X,Y) IS_EX (A) → EXCLUDE (A-Y, Y*A); (A-X-Y)=MALI; Delete (X-A);
            // Delete (Y-A); Filter Timer=MALI.
            // EXCLUDE (X,Y) TO_EX (A) → EXCLUDE (A-Y, Y*A); (A-X-Y)=Filter Timer;
            // Delete (X-A); Delete (Y-A); Send Q(MA, A-Y); Filter Timer=MALI.
            (FilterMode::Exclude, Change::IsEx | Change::ToEx) => {
                self.retain(|s| in_b(&s.addr));
                let new_timer = if change == Change::IsEx {
                    mali
                } else {
                    self.filter_timer
                };
                for x in b.clone() {
                    if self.find(&x).is_none() {
                        self.set_timer(x, new_timer, t, c);
                    }
                }
                if change == Change::ToEx {
                    self.query_sources(t, |s| s.timer.is_some());
                }
                self.filter_timer = mali;
            }
        }
    }

    /// An MLDv1 Report (RFC 3810 §8.3.2): the group enters MLDv1 compatibility mode for the
    /// Older Version Host Present Timeout, and the Report counts as IS_EX ({}).
    pub(super) fn v1_report(&mut self, t: &Timing, c: &mut Counters) {
        if self.v1_until.is_none() {
            c.v1_compat_entered += 1;
            log::debug!(
                "mld querier: {}: MLDv1 listener, compatibility mode",
                self.group
            );
        }
        self.v1_until = Some(t.now + t.ovhpt);
        self.apply(Change::IsEx, core::iter::empty(), t, c);
    }

    /// Non-querier timer updates (§7.6.1): a Multicast Address Specific Query without the S
    /// flag lowers the filter timer to LLQT; with sources, their timers instead.
    pub(super) fn heard_query(
        &mut self,
        sources: impl Iterator<Item = Ipv6Address> + Clone,
        t: &Timing,
    ) {
        let lowered = t.now + t.llqt;
        let mut any = false;
        for x in sources {
            any = true;
            if let Some(i) = self.find(&x) {
                let s = &mut self.sources[i];
                s.timer = s.timer.map(|at| at.min(lowered));
            }
        }
        if !any {
            self.filter_timer = self.filter_timer.map(|at| at.min(lowered));
        }
    }

    /// Stops every pending query retransmission (this router stopped being the querier).
    pub(super) fn cancel_queries(&mut self) {
        self.group_query_left = 0;
        self.group_query_due = None;
        for s in self.list_mut() {
            s.query_left = 0;
            s.query_due = None;
        }
    }

    /// Runs the timers (RFC 3810 §7.5, §8.3.2): expired sources leave an INCLUDE record and
    /// join the Exclude List of an EXCLUDE record; an expired filter timer turns EXCLUDE
    /// into INCLUDE with the sources whose timers still run. Returns whether the record is
    /// now empty and must be deleted.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        if self.v1_until.is_some_and(|at| at <= now) {
            self.v1_until = None;
        }
        if self.unrecorded_until.is_some_and(|at| at <= now) {
            self.unrecorded_until = None;
        }
        if self.mode == FilterMode::Exclude && self.filter_timer.is_some_and(|at| at <= now) {
            if self.unrecorded_until.is_some() {
                // A requested source is not in the table: the INCLUDE list would lack it.
                self.filter_timer = self.unrecorded_until;
            } else {
                self.mode = FilterMode::Include;
                self.filter_timer = None;
                self.retain(|s| s.timer.is_some());
            }
        }
        match self.mode {
            FilterMode::Include => self.retain(|s| s.timer.is_some_and(|at| at > now)),
            FilterMode::Exclude => {
                for s in self.list_mut() {
                    if s.timer.is_some_and(|at| at <= now) {
                        s.timer = None;
                    }
                }
            }
        }
        self.is_empty()
    }

    /// The earliest time `expire` or a query has something to do.
    pub(super) fn next_timer(&self, querier: bool) -> Option<Instant> {
        let mut next = earliest(self.v1_until, self.filter_timer);
        if querier {
            next = earliest(next, self.group_query_due);
        }
        for s in self.list() {
            next = earliest(next, s.timer);
            if querier {
                next = earliest(next, s.query_due);
            }
        }
        next
    }

    /// Checks the invariants a user relies on (for tests): INCLUDE has no filter timer and
    /// no Exclude List, EXCLUDE has a filter timer, sources are distinct and within `S`.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) -> Result<(), &'static str> {
        if self.len > S {
            return Err("more sources than capacity");
        }
        let list = self.list();
        for (i, s) in list.iter().enumerate() {
            if list[..i].iter().any(|o| o.addr == s.addr) {
                return Err("duplicate source");
            }
        }
        match self.mode {
            FilterMode::Include if self.filter_timer.is_some() => {
                Err("INCLUDE with a filter timer")
            }
            FilterMode::Include if list.iter().any(|s| s.timer.is_none()) => {
                Err("INCLUDE with an excluded source")
            }
            FilterMode::Exclude if self.filter_timer.is_none() => {
                Err("EXCLUDE without a filter timer")
            }
            _ => Ok(()),
        }
    }
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
