//! Queries: MLDv2 answers scheduled by the rules of RFC 3810 §6.2, MLDv1 timers of RFC 2710
//! §4, the switch to MLDv1 compatibility mode (§8.2.1), and MLDv1 report suppression.

use bridgeless_wire::mld::{Query, QueryVersion};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::super::{CompatibilityMode, Handled};
use super::MldHost;

impl<const N: usize, const S: usize> MldHost<N, S> {
    /// RFC 2710 §4: "If a node receives another node's Report from an interface for a
    /// multicast address while it has a timer running for that same address on that
    /// interface, it stops its timer and does not send a Report for that address, thus
    /// suppressing duplicate reports on the link", and clears its last-reporter flag.
    pub(super) fn suppress(&mut self, group: &Ipv6Address) -> bool {
        let Some(entry) = self.entry_mut(group) else {
            return false;
        };
        if !entry.has_state() || entry.response_due.is_none() {
            return false;
        }
        entry.response_due = None;
        entry.v1_left = 0;
        entry.last_reporter = false;
        self.counters.suppressed += 1;
        log::debug!("mld: report for {group} suppressed by another listener");
        true
    }

    pub(super) fn handle_query(&mut self, now: Instant, query: &Query<&[u8]>) -> Handled {
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
            if !entry.has_state() || !(general || entry.group == *group) {
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
    /// concerns this host (always true for a general query). What the answer says is worked
    /// out when it is sent, from the state then (§6.3).
    fn v2_query(
        &mut self,
        now: Instant,
        general: bool,
        group: &Ipv6Address,
        max_delay: Duration,
        query: &Query<&[u8]>,
    ) -> bool {
        let due = now + self.jitter.delay(max_delay);
        let listening = general || self.is_joined(group);
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
                entry.query_len = 0;
                !has_sources || entry.add_query_sources(query.sources())
            }
            // Rule 4: a pending response, and a group-specific query or no recorded sources:
            // a single group answer at the earlier time.
            Some(pending) if !has_sources || entry.query_len == 0 => {
                entry.response_due = Some(pending.min(due));
                entry.query_len = 0;
                true
            }
            // Rule 5: add the sources to the recorded list, answer at the earlier time.
            Some(pending) => {
                entry.response_due = Some(pending.min(due));
                entry.add_query_sources(query.sources())
            }
        };
        if !fits {
            self.counters.query_sources_overflow += 1;
        }
        true
    }
}
