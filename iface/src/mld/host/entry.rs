//! One multicast address's per-interface state on a host (RFC 3810 §4.2: filter mode and
//! source list) with the retransmission state of its State Change Reports (§6.1), its
//! pending answers to queries (§6.2, §6.3) and the MLDv1 flags (RFC 2710 §4).

use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

use super::super::{FilterMode, MAX_QUERY_SOURCES};

/// A set of at most `S` source addresses, in insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SourceList<const S: usize> {
    addrs: [Ipv6Address; S],
    len: usize,
}

impl<const S: usize> SourceList<S> {
    pub(super) const EMPTY: SourceList<S> = SourceList {
        addrs: [Ipv6Address::UNSPECIFIED; S],
        len: 0,
    };

    /// The distinct addresses of `sources` (duplicates dropped), or `None` if more than `S`
    /// are distinct.
    pub(super) fn from_distinct(sources: &[Ipv6Address]) -> Option<SourceList<S>> {
        let mut list = SourceList::EMPTY;
        for source in sources {
            if !list.contains(source) && !list.push(*source) {
                return None;
            }
        }
        Some(list)
    }

    pub(super) fn as_slice(&self) -> &[Ipv6Address] {
        &self.addrs[..self.len]
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn contains(&self, addr: &Ipv6Address) -> bool {
        self.as_slice().contains(addr)
    }

    /// Appends `addr` (the caller checks it is not present); false if full.
    fn push(&mut self, addr: Ipv6Address) -> bool {
        let Some(slot) = self.addrs.get_mut(self.len) else {
            return false;
        };
        *slot = addr;
        self.len += 1;
        true
    }

    /// Whether both hold the same addresses, in any order.
    fn same_set(&self, other: &SourceList<S>) -> bool {
        self.len == other.len && self.as_slice().iter().all(|a| other.contains(a))
    }
}

/// Sources with retransmission state (RFC 3810 §6.1): each is in the next `left` State
/// Change Reports' ALLOW (or BLOCK) record. At most `S`; the sources are kept contiguous so
/// a record can borrow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pending<const S: usize> {
    addrs: [Ipv6Address; S],
    left: [u8; S],
    len: usize,
}

impl<const S: usize> Pending<S> {
    const EMPTY: Pending<S> = Pending {
        addrs: [Ipv6Address::UNSPECIFIED; S],
        left: [0; S],
        len: 0,
    };

    pub(super) fn as_slice(&self) -> &[Ipv6Address] {
        &self.addrs[..self.len]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Gives `addr` `count` more reports (resetting its count if present); false if full.
    fn insert(&mut self, addr: Ipv6Address, count: u8) -> bool {
        if let Some(i) = self.as_slice().iter().position(|a| *a == addr) {
            self.left[i] = count;
            return true;
        }
        if self.len == S {
            return false;
        }
        self.addrs[self.len] = addr;
        self.left[self.len] = count;
        self.len += 1;
        true
    }

    fn remove(&mut self, addr: &Ipv6Address) {
        if let Some(i) = self.as_slice().iter().position(|a| a == addr) {
            self.addrs.copy_within(i + 1..self.len, i);
            self.left.copy_within(i + 1..self.len, i);
            self.len -= 1;
        }
    }

    /// One report carrying every source was sent: counts down, dropping those at zero.
    fn sent(&mut self) {
        let mut kept = 0;
        for i in 0..self.len {
            let left = self.left[i].saturating_sub(1);
            if left > 0 {
                self.addrs[kept] = self.addrs[i];
                self.left[kept] = left;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// What [`Entry::set_filter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Changed {
    /// The filter was already that.
    No,
    /// The filter mode changed: filter mode change records are due (§6.1).
    Mode,
    /// Only the source list changed: source list change records are due.
    Sources,
    /// The source list changed, but the sources with retransmission state did not fit their
    /// table (or one report): filter mode change records carrying the whole state are due
    /// instead.
    Escalated,
}

/// One group's state on the interface.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<const S: usize> {
    pub(super) group: Ipv6Address,
    /// RFC 3810 §4.2: "filter mode" and "source list". INCLUDE {} is no reception state:
    /// such an entry only waits for its last report (or MLDv1 Done) to be sent.
    pub(super) mode: FilterMode,
    pub(super) list: SourceList<S>,
    /// MLDv2: State Change Reports still to carry a filter mode change record (TO_IN or
    /// TO_EX with the current state); while any are, source list changes wait (§6.1).
    pub(super) mode_change_left: u8,
    /// MLDv2: sources with retransmission state that must be forwarded (ALLOW) and blocked
    /// (BLOCK). In INCLUDE mode `allow` ⊆ `list` and `block` ∩ `list` = ∅; in EXCLUDE
    /// mode the other way round.
    pub(super) allow: Pending<S>,
    pub(super) block: Pending<S>,
    /// MLDv2: when the next State Change Report for this group is due.
    pub(super) change_due: Option<Instant>,
    /// MLDv1: unsolicited Reports still to repeat after the due one.
    pub(super) v1_left: u8,
    /// MLDv2: when the Current State Record answering a query is due. MLDv1: when the next
    /// Report is due (the single per-group timer of RFC 2710 §4).
    pub(super) response_due: Option<Instant>,
    /// Sources recorded for a pending answer to Multicast Address and Source Specific
    /// Queries (RFC 3810 §6.2 rules 3 and 5); none means a group answer.
    pub(super) query: [Ipv6Address; MAX_QUERY_SOURCES],
    pub(super) query_len: u8,
    /// RFC 2710 §4: "a flag indicating whether or not this node was the last one to send a
    /// Report for this address".
    pub(super) last_reporter: bool,
    /// MLDv1: when the Done for a group being left is due.
    pub(super) done_due: Option<Instant>,
}

impl<const S: usize> Entry<S> {
    /// No reception state: INCLUDE {}.
    pub(super) fn new(group: Ipv6Address) -> Entry<S> {
        Entry {
            group,
            mode: FilterMode::Include,
            list: SourceList::EMPTY,
            mode_change_left: 0,
            allow: Pending::EMPTY,
            block: Pending::EMPTY,
            change_due: None,
            v1_left: 0,
            response_due: None,
            query: [Ipv6Address::UNSPECIFIED; MAX_QUERY_SOURCES],
            query_len: 0,
            last_reporter: false,
            done_due: None,
        }
    }

    /// Whether the interface listens to the group at all (the state is not INCLUDE {}).
    pub(super) fn has_state(&self) -> bool {
        self.mode == FilterMode::Exclude || !self.list.is_empty()
    }

    /// RFC 3810 §4.2 / §6.3: whether packets from `source` are received.
    pub(super) fn accepts(&self, source: &Ipv6Address) -> bool {
        self.list.contains(source) == (self.mode == FilterMode::Include)
    }

    /// Whether a State Change Report still has something to carry.
    pub(super) fn change_pending(&self) -> bool {
        self.mode_change_left > 0 || !self.allow.is_empty() || !self.block.is_empty()
    }

    /// Sets the filter to `mode` and `list`, and computes the retransmission state of the
    /// State Change Reports that express the difference (RFC 3810 §6.1):
    ///
    /// - a filter mode change: "the next [Robustness Variable] State Change Reports will
    ///   include a Filter Mode Change Record"; the source retransmission state is dropped
    ///   (as Linux does: those records carry the whole new state);
    /// - a source list change: "Each time a source is included in the difference report
    ///   calculated above, retransmission state for that source needs to be maintained
    ///   until [Robustness Variable] State Change Reports have been sent by the host." A
    ///   source added to an INCLUDE list (or removed from an EXCLUDE list) gets ALLOW state,
    ///   the opposite BLOCK state, replacing any state of the other kind it had.
    ///
    /// When the sources with retransmission state do not fit their table of `S`, or their
    /// ALLOW and BLOCK records would together be longer than `max_records_len` octets, the
    /// change is escalated: filter mode change records (TO_IN or TO_EX of the whole current
    /// state) are sent [Robustness Variable] times instead, which a router reads to the same
    /// state (RFC 3810 §7.4.2).
    pub(super) fn set_filter(
        &mut self,
        mode: FilterMode,
        list: SourceList<S>,
        robustness: u8,
        max_records_len: usize,
    ) -> Changed {
        if mode != self.mode {
            self.mode = mode;
            self.list = list;
            self.allow.clear();
            self.block.clear();
            self.mode_change_left = robustness;
            return Changed::Mode;
        }
        if self.list.same_set(&list) {
            return Changed::No;
        }
        let (listed, unlisted) = match mode {
            FilterMode::Include => (&mut self.allow, &mut self.block),
            FilterMode::Exclude => (&mut self.block, &mut self.allow),
        };
        let mut fits = true;
        for gone in self.list.as_slice().iter().filter(|a| !list.contains(a)) {
            listed.remove(gone);
            fits &= unlisted.insert(*gone, robustness);
        }
        for new in list.as_slice().iter().filter(|a| !self.list.contains(a)) {
            unlisted.remove(new);
            // Cannot fail: `listed` stays a subset of `list`, which has at most `S`.
            fits &= listed.insert(*new, robustness);
        }
        self.list = list;
        let changed = self.allow.len + self.block.len;
        let records_len = 2 * bridgeless_wire::mld::RECORD_HEADER_LEN + 16 * changed;
        if fits && records_len <= max_records_len {
            return Changed::Sources;
        }
        self.allow.clear();
        self.block.clear();
        self.mode_change_left = robustness;
        Changed::Escalated
    }

    /// Sets the filter without any MLDv2 retransmission state (MLDv1 mode, where source
    /// filters are not reported).
    pub(super) fn set_filter_quietly(&mut self, mode: FilterMode, list: SourceList<S>) {
        self.mode = mode;
        self.list = list;
        self.clear_v2_changes();
    }

    pub(super) fn clear_v2_changes(&mut self) {
        self.mode_change_left = 0;
        self.allow.clear();
        self.block.clear();
        self.change_due = None;
    }

    /// A State Change Report carrying this group's records was sent.
    pub(super) fn change_sent(&mut self) {
        if self.mode_change_left > 0 {
            self.mode_change_left -= 1;
        } else {
            self.allow.sent();
            self.block.sent();
        }
    }

    pub(super) fn query_sources(&self) -> &[Ipv6Address] {
        &self.query[..usize::from(self.query_len)]
    }

    /// Adds queried sources to the pending answer (RFC 3810 §6.2 rule 5). Returns false, and
    /// leaves the list empty (a group answer), if they do not fit.
    pub(super) fn add_query_sources(&mut self, sources: impl Iterator<Item = Ipv6Address>) -> bool {
        for source in sources {
            if self.query_sources().contains(&source) {
                continue;
            }
            let Some(slot) = self.query.get_mut(usize::from(self.query_len)) else {
                self.query_len = 0;
                return false;
            };
            *slot = source;
            self.query_len += 1;
        }
        true
    }

    /// RFC 3810 §6.3: the answer to a Multicast Address and Source Specific Query with
    /// queried sources B is IS_IN (A*B) for INCLUDE (A) and IS_IN (B-A) for EXCLUDE (A):
    /// keeps in the recorded sources those the interface receives. Returns whether any
    /// remain ("If the resulting Current State Record has an empty set of source addresses,
    /// then no response is sent").
    pub(super) fn narrow_query_sources(&mut self) -> bool {
        let mut kept = 0;
        for i in 0..usize::from(self.query_len) {
            if self.accepts(&self.query[i]) {
                self.query[kept] = self.query[i];
                kept += 1;
            }
        }
        // `kept` <= `query_len`, a u8.
        self.query_len = kept as u8;
        kept > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u16) -> Ipv6Address {
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
    }

    fn list(ids: &[u16]) -> SourceList<4> {
        let addrs: Vec<_> = ids.iter().map(|&i| a(i)).collect();
        SourceList::from_distinct(&addrs).unwrap()
    }

    fn ids(p: &Pending<4>) -> Vec<u16> {
        p.as_slice().iter().map(|s| s.segments()[7]).collect()
    }

    const G: Ipv6Address = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 1);

    #[test]
    fn source_lists_drop_duplicates_and_refuse_overflow() {
        assert_eq!(list(&[1, 1, 2]).len(), 2);
        let five: Vec<_> = (1..=5).map(a).collect();
        assert!(SourceList::<4>::from_distinct(&five).is_none());
        assert!(list(&[1, 2]).same_set(&list(&[2, 1])));
    }

    #[test]
    fn source_changes_move_between_allow_and_block() {
        let mut e = Entry::<4>::new(G);
        // INCLUDE {} to INCLUDE (A) is a source list change: ALLOW (A).
        assert_eq!(
            e.set_filter(FilterMode::Include, list(&[1, 2]), 2, 1000),
            Changed::Sources
        );
        assert_eq!((ids(&e.allow), ids(&e.block)), (vec![1, 2], vec![]));
        e.set_filter(FilterMode::Include, list(&[2, 3]), 2, 1000);
        assert_eq!((ids(&e.allow), ids(&e.block)), (vec![2, 3], vec![1]));
        e.change_sent();
        e.change_sent();
        // 1 comes back: its BLOCK state becomes ALLOW state.
        e.set_filter(FilterMode::Include, list(&[2, 3]), 2, 1000);
        e.set_filter(FilterMode::Include, list(&[3]), 2, 1000);
        assert_eq!((ids(&e.allow), ids(&e.block)), (vec![], vec![2]));
        e.set_filter(FilterMode::Include, list(&[1, 2, 3]), 2, 1000);
        assert_eq!((ids(&e.allow), ids(&e.block)), (vec![1, 2], vec![]));
        e.change_sent();
        e.change_sent();
        assert!(!e.change_pending());
        assert_eq!(
            e.set_filter(FilterMode::Include, list(&[1, 2, 3]), 2, 1000),
            Changed::No
        );
        // EXCLUDE: a source added to the list is blocked.
        assert_eq!(
            e.set_filter(FilterMode::Exclude, list(&[1]), 2, 1000),
            Changed::Mode
        );
        assert_eq!((e.mode_change_left, ids(&e.allow)), (2, vec![]));
        e.mode_change_left = 0;
        e.set_filter(FilterMode::Exclude, list(&[4]), 2, 1000);
        assert_eq!((ids(&e.allow), ids(&e.block)), (vec![1], vec![4]));
    }

    #[test]
    fn overflowing_retransmission_state_escalates_to_a_mode_change_record() {
        let mut e = Entry::<4>::new(G);
        e.set_filter(FilterMode::Include, list(&[1, 2, 3, 4]), 2, 1000);
        e.set_filter(FilterMode::Include, list(&[5, 6, 7, 8]), 2, 1000);
        assert_eq!(
            e.set_filter(FilterMode::Include, list(&[9]), 2, 1000),
            Changed::Escalated
        );
        assert_eq!(e.mode_change_left, 2);
        assert!(e.allow.is_empty() && e.block.is_empty());
        // Records that would not fit one report escalate too.
        e.mode_change_left = 0;
        assert_eq!(
            e.set_filter(FilterMode::Include, list(&[10, 11]), 2, 40 + 16 * 2),
            Changed::Escalated
        );
    }

    #[test]
    fn source_specific_answers_keep_only_received_sources() {
        let mut e = Entry::<4>::new(G);
        e.set_filter(FilterMode::Exclude, list(&[1]), 2, 1000);
        assert!(e.add_query_sources([a(1), a(2)].into_iter()));
        assert!(e.narrow_query_sources());
        assert_eq!(e.query_sources(), [a(2)]);
        e.set_filter(FilterMode::Include, list(&[1]), 2, 1000);
        assert!(!e.narrow_query_sources());
    }
}
