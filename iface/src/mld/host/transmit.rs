//! Writing reports: MLDv2 State Change Reports (RFC 3810 §6.1) and Current State Reports
//! (§6.3), MLDv1 Reports and Dones (RFC 2710 §4).

use bridgeless_wire::mld::{
    self, AddressRecordRepr, DoneRepr, MldRepr, RecordType, ReportV1Repr, ReportV2Repr,
};
use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

use super::super::{CompatibilityMode, FilterMode};
use super::entry::Entry;
use super::{MldHost, REPORT_V2_OVERHEAD, is_due};

/// One kind of packet `poll_transmit` may write: `(host, now, buf, limit)`.
type TxStep<const N: usize, const S: usize> =
    fn(&mut MldHost<N, S>, Instant, &mut [u8], usize) -> Tx;

/// What one emission step did.
enum Tx {
    /// Nothing of this kind is due.
    Idle,
    /// A packet of this many octets was written.
    Sent(usize),
    /// Something is due but the buffer cannot hold it.
    TooSmall,
}

/// Up to two records for one group (ALLOW and BLOCK go together), and how many are used.
type GroupRecords<'e> = ([AddressRecordRepr<'e>; 2], usize);

const NO_RECORD: AddressRecordRepr<'static> = AddressRecordRepr::join(Ipv6Address::UNSPECIFIED);

fn one(record: AddressRecordRepr<'_>) -> GroupRecords<'_> {
    ([record, NO_RECORD], 1)
}

fn record(
    record_type: RecordType,
    group: Ipv6Address,
    sources: &[Ipv6Address],
) -> AddressRecordRepr<'_> {
    AddressRecordRepr {
        record_type,
        multicast_address: group,
        sources,
    }
}

/// The records of the next State Change Report for `e` (RFC 3810 §6.1): "If the report
/// should contain a Filter Mode Change Record, then if the current filter mode of the
/// interface is INCLUDE, a TO_IN record is included in the report; otherwise a TO_EX record
/// is included", with the sources of the current state; otherwise an ALLOW record with the
/// sources whose retransmission state says forward and a BLOCK record with those it says
/// block. "If the computed source list for either an ALLOW or a BLOCK record is empty, that
/// record is omitted from the State Change Report."
fn state_change_records<const S: usize>(e: &Entry<S>) -> GroupRecords<'_> {
    if e.mode_change_left > 0 {
        let record_type = match e.mode {
            FilterMode::Include => RecordType::ChangeToIncludeMode,
            FilterMode::Exclude => RecordType::ChangeToExcludeMode,
        };
        return one(record(record_type, e.group, e.list.as_slice()));
    }
    let mut records = [NO_RECORD; 2];
    let mut count = 0;
    for (record_type, pending) in [
        (RecordType::AllowNewSources, &e.allow),
        (RecordType::BlockOldSources, &e.block),
    ] {
        if !pending.is_empty() {
            records[count] = record(record_type, e.group, pending.as_slice());
            count += 1;
        }
    }
    (records, count)
}

/// The Current State Record answering a query (RFC 3810 §6.3): for a General or Multicast
/// Address Specific Query, MODE_IS_INCLUDE (A) or MODE_IS_EXCLUDE (A) with the interface
/// state; for a Multicast Address and Source Specific Query, MODE_IS_INCLUDE with the
/// queried sources the interface receives (narrowed before by
/// [`Entry::narrow_query_sources`]).
fn current_state_record<const S: usize>(e: &Entry<S>) -> GroupRecords<'_> {
    if e.query_len > 0 {
        return one(record(
            RecordType::ModeIsInclude,
            e.group,
            e.query_sources(),
        ));
    }
    let record_type = match e.mode {
        FilterMode::Include => RecordType::ModeIsInclude,
        FilterMode::Exclude => RecordType::ModeIsExclude,
    };
    one(record(record_type, e.group, e.list.as_slice()))
}

impl<const N: usize, const S: usize> MldHost<N, S> {
    /// Writes the next due MLD packet into `buf` as a whole IPv6 packet and returns its
    /// length, or `None` if nothing is due (or `buf` is too small:
    /// [`Counters::buffer_too_small`](super::super::Counters::buffer_too_small); the packet
    /// stays due). Call until it returns `None`.
    ///
    /// Packets are at most [`Config::mtu`](super::super::Config::mtu) long: MLDv2 records
    /// that do not fit wait for the next call. The source is the link-local address, or
    /// `::` when none is set (RFC 3810 §5.2.13); hop limit 1 and a Router Alert (RFC 3810
    /// §5, RFC 2710 §3).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.advance(now);
        let limit = buf.len().min(self.config.mtu);
        let steps: [TxStep<N, S>; 2] = match self.mode() {
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

    /// Packs the records `make` makes of the entries `due` picks into one MLDv2 report of at
    /// most `limit` octets, a group's records always together; the indices of the entries
    /// sent go to `picked`, their number is returned.
    fn emit_records(
        &self,
        buf: &mut [u8],
        limit: usize,
        picked: &mut [usize; N],
        due: impl Fn(&Entry<S>) -> bool,
        make: impl for<'e> Fn(&'e Entry<S>) -> GroupRecords<'e>,
    ) -> (Tx, usize) {
        // At most two records a group: room for all of them.
        let mut storage = [[NO_RECORD; 2]; N];
        let records = storage.as_flattened_mut();
        let (mut groups, mut count, mut len, mut left_out) = (0, 0, REPORT_V2_OVERHEAD, false);
        for (i, entry) in self.entries.iter().enumerate() {
            let Some(entry) = entry.as_ref().filter(|e| due(e)) else {
                continue;
            };
            let (recs, n) = make(entry);
            let recs = &recs[..n];
            let recs_len: usize = recs.iter().map(AddressRecordRepr::buffer_len).sum();
            if len + recs_len > limit {
                left_out = true; // waits for the next packet
                continue;
            }
            len += recs_len;
            records[count..count + n].copy_from_slice(recs);
            count += n;
            picked[groups] = i;
            groups += 1;
        }
        match (groups, left_out) {
            (0, true) => return (Tx::TooSmall, 0),
            (0, false) => return (Tx::Idle, 0),
            _ => {}
        }
        let repr = MldRepr::ReportV2(ReportV2Repr {
            records: &records[..count],
        });
        (self.emit(&repr, buf), groups)
    }

    /// MLDv2 State Change Reports (RFC 3810 §6.1), for the groups with a change due.
    fn transmit_state_change(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        // A due entry with nothing left to say (cannot happen, but it must not stay due).
        for slot in self.entries.iter_mut() {
            if let Some(e) = slot.as_mut().filter(|e| is_due(e.change_due, now))
                && !e.change_pending()
            {
                e.change_due = None;
                if !e.has_state() {
                    *slot = None;
                }
            }
        }
        let mut picked = [0; N];
        let (tx, count) = self.emit_records(
            buf,
            limit,
            &mut picked,
            |e| is_due(e.change_due, now),
            state_change_records,
        );
        if !matches!(tx, Tx::Sent(_)) {
            return tx;
        }
        self.counters.reports_sent.state_change += 1;
        let interval = self.config.unsolicited_report_interval;
        for &i in &picked[..count] {
            // "retransmitted [Robustness Variable] - 1 more times, at intervals chosen at
            // random from the range (0, [Unsolicited Report Interval])" (§6.1).
            let delay = self.jitter.delay(interval);
            let slot = &mut self.entries[i];
            let Some(entry) = slot.as_mut() else { continue };
            entry.change_sent();
            if entry.change_pending() {
                entry.change_due = Some(now + delay);
            } else {
                entry.change_due = None;
                if !entry.has_state() {
                    *slot = None;
                    continue;
                }
            }
            entry.last_reporter = entry.has_state();
        }
        tx
    }

    /// MLDv2 Current State Reports (RFC 3810 §6.3) for the groups with an answer due.
    fn transmit_current_state(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        for e in self.entries.iter_mut().flatten() {
            if e.has_state()
                && is_due(e.response_due, now)
                && e.query_len > 0
                && !e.narrow_query_sources()
            {
                // "If the resulting Current State Record has an empty set of source
                // addresses, then no response is sent."
                e.response_due = None;
                self.counters.source_queries_unanswered += 1;
            }
        }
        let mut picked = [0; N];
        let (tx, count) = self.emit_records(
            buf,
            limit,
            &mut picked,
            |e| e.has_state() && is_due(e.response_due, now),
            current_state_record,
        );
        if !matches!(tx, Tx::Sent(_)) {
            return tx;
        }
        self.counters.reports_sent.current_state += 1;
        for &i in &picked[..count] {
            if let Some(entry) = self.entries[i].as_mut() {
                entry.response_due = None;
                entry.query_len = 0;
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
        due: impl Fn(&Entry<S>) -> bool,
        repr: impl Fn(Ipv6Address) -> MldRepr<'static>,
    ) -> (usize, Tx) {
        let Some((i, group)) = self
            .entries
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.as_ref().filter(|e| due(e)).map(|e| (i, e.group)))
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

    /// MLDv1 Report (RFC 2710 §4), sent to the group; sets the last-reporter flag. RFC 3810
    /// §8.2.1: a group whose filter is not INCLUDE {} is reported, whatever its sources.
    fn transmit_v1_report(&mut self, now: Instant, buf: &mut [u8], limit: usize) -> Tx {
        let (i, tx) = self.emit_v1(
            &mut buf[..limit],
            |e| e.has_state() && is_due(e.response_due, now),
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
            if entry.v1_left > 0 {
                entry.v1_left -= 1;
                entry.response_due = Some(now + delay);
            } else {
                entry.response_due = None;
            }
        }
        tx
    }
}
