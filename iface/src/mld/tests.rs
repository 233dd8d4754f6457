//! Unit tests: the corners of the state machine (RFC 3810 §6.2 rules, capacity, counters,
//! mode switches). `iface/tests/mld_host.rs` has the end-to-end behaviour.

use bridgeless_wire::mld::{self, MldMessage, MldRepr, QueryRepr, RecordType, ValidationError};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::*;

const OUR_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const ROUTER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const G1: Ipv6Address = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 1);
const G2: Ipv6Address = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, 2);

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

fn t(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

fn host() -> MldHost {
    let mut host = MldHost::new(Config::default());
    host.set_link_local(Some(OUR_LL)).unwrap();
    host
}

fn source(i: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
}

fn query(repr: QueryRepr<'_>) -> Vec<u8> {
    let repr = MldRepr::Query(repr);
    let mut buf = vec![0u8; 1500];
    let len = mld::emit_ipv6(&ROUTER_LL, &repr.destination(), &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn v2_query(group: Ipv6Address, max_delay: u32, sources: &[Ipv6Address]) -> Vec<u8> {
    query(QueryRepr::V2 {
        max_response_delay: max_delay,
        multicast_address: group,
        suppress_router_processing: false,
        qrv: 0,
        query_interval: 0,
        sources,
    })
}

fn v1_query(group: Ipv6Address, max_delay: u16) -> Vec<u8> {
    query(QueryRepr::V1 {
        max_response_delay: max_delay,
        multicast_address: group,
    })
}

/// Every packet sent up to `until`, with its time, as (time, ICMPv6 type, records or the v1
/// group). Runs timers the way an event loop does.
type Record = (RecordType, Ipv6Address, Vec<Ipv6Address>);

fn run(host: &mut MldHost, from: Instant, until: Instant) -> Vec<(Instant, Vec<Record>)> {
    let mut out = Vec::new();
    let mut now = from;
    let mut buf = [0u8; 1500];
    loop {
        while let Some(len) = host.poll_transmit(now, &mut buf) {
            let received = mld::parse_ipv6(&buf[..len]).unwrap();
            let records = match received.message {
                MldMessage::ReportV2(r) => r
                    .records()
                    .map(|r| (r.record_type, r.multicast_address, r.sources.collect()))
                    .collect(),
                MldMessage::ReportV1(r) => {
                    vec![(RecordType::Unknown(131), r.multicast_address(), vec![])]
                }
                MldMessage::Done(d) => {
                    vec![(RecordType::Unknown(132), d.multicast_address(), vec![])]
                }
                MldMessage::Query(_) => unreachable!(),
            };
            out.push((now, records));
        }
        match host.poll_timeout() {
            Some(at) if at <= until => {
                now = now.max(at);
                host.handle_timeout(now);
            }
            _ => return out,
        }
    }
}

fn joined(groups: &[Ipv6Address]) -> MldHost {
    let mut host = host();
    for g in groups {
        host.join(t(0), *g, &mut rng()).unwrap();
    }
    run(&mut host, t(0), t(10_000));
    host
}

#[test]
fn jitter_stays_in_range_and_is_deterministic() {
    let mut a = Jitter(0);
    let mut b = Jitter(0);
    a.reseed(&mut rng());
    b.reseed(&mut rng());
    let max = Duration::from_millis(1000);
    let mut seen_low = false;
    let mut seen_high = false;
    for _ in 0..2000 {
        let d = a.delay(max);
        assert_eq!(d, b.delay(max));
        assert!(d <= max);
        seen_low |= d < Duration::from_millis(100);
        seen_high |= d > Duration::from_millis(900);
    }
    assert!(seen_low && seen_high, "spread over the whole range");
    assert_eq!(a.delay(Duration::ZERO), Duration::ZERO);
}

#[test]
fn reportable_groups() {
    assert!(!is_reportable(&mld::ALL_NODES));
    assert!(!is_reportable(&Ipv6Address::new(
        0xff01, 0, 0, 0, 0, 0, 0, 2
    )));
    assert!(!is_reportable(&Ipv6Address::new(
        0xff10, 0, 0, 0, 0, 0, 0, 2
    )));
    assert!(!is_reportable(&ROUTER_LL));
    assert!(is_reportable(&mld::ALL_ROUTERS));
    assert!(is_reportable(&Ipv6Address::new(
        0xff02, 0, 0, 0, 0, 1, 0xff00, 2
    )));
    assert!(is_reportable(&G1));
}

#[test]
fn config_is_clamped() {
    let host: MldHost = MldHost::new(Config {
        robustness: 0,
        mtu: 576,
        ..Config::default()
    });
    assert_eq!(host.robustness(), 1);
    assert_eq!(host.config().mtu, MIN_MTU);
}

#[test]
fn api_errors() {
    let mut host = host();
    let mut rng = rng();
    assert_eq!(
        host.join(t(0), ROUTER_LL, &mut rng),
        Err(MldError::NotMulticast)
    );
    assert_eq!(host.leave(t(0), G1, &mut rng), Err(MldError::NotJoined));
    assert_eq!(
        host.set_link_local(Some(source(1))),
        Err(MldError::NotLinkLocal)
    );
    assert_eq!(host.link_local(), Some(OUR_LL), "unchanged after the error");
    for i in 0..DEFAULT_CAPACITY as u16 {
        host.join(
            t(0),
            Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 1, i),
            &mut rng,
        )
        .unwrap();
    }
    assert_eq!(host.join(t(0), G1, &mut rng), Err(MldError::TableFull));
    // A group being left keeps its slot until its leave is reported.
    let first = Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 1, 0);
    host.leave(t(0), first, &mut rng).unwrap();
    assert_eq!(host.leave(t(0), first, &mut rng), Err(MldError::NotJoined));
    assert_eq!(host.join(t(0), G1, &mut rng), Err(MldError::TableFull));
    run(&mut host, t(0), t(10_000));
    assert_eq!(host.slots_in_use(), DEFAULT_CAPACITY - 1);
    host.join(t(10_000), G1, &mut rng).unwrap();
    assert_eq!(host.groups().count(), DEFAULT_CAPACITY);
}

#[test]
fn joining_twice_sends_nothing_more() {
    let mut host = joined(&[G1]);
    host.join(t(10_000), G1, &mut rng()).unwrap();
    assert!(run(&mut host, t(10_000), t(20_000)).is_empty());
}

#[test]
fn rejoining_during_a_leave_sends_change_to_exclude_again() {
    let mut host = joined(&[G1]);
    host.leave(t(10_000), G1, &mut rng()).unwrap();
    host.join(t(10_000), G1, &mut rng()).unwrap();
    let sent = run(&mut host, t(10_000), t(20_000));
    assert_eq!(sent.len(), 2);
    for (_, records) in sent {
        assert_eq!(records, [(RecordType::ChangeToExcludeMode, G1, vec![])]);
    }
}

#[test]
fn changes_due_together_share_a_report() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    host.join(t(0), G2, &mut rng()).unwrap();
    let sent = run(&mut host, t(0), t(0));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.len(), 2);
}

#[test]
fn a_spurious_or_early_timeout_does_nothing() {
    let mut host = joined(&[G1]);
    host.handle_packet(t(10_000), &v2_query(G1, 5000, &[]), &mut rng());
    let due = host.poll_timeout().unwrap();
    let before = format!("{host:?}");
    host.handle_timeout(t(10_000));
    host.handle_timeout(due - Duration::from_millis(1));
    assert_eq!(format!("{host:?}"), before);
    let mut buf = [0u8; 1500];
    assert_eq!(
        host.poll_transmit(due - Duration::from_millis(1), &mut buf),
        None
    );
    assert!(host.poll_transmit(due, &mut buf).is_some());
}

#[test]
fn a_pending_general_answer_due_sooner_absorbs_a_specific_query() {
    // Rule 1 of RFC 3810 §6.2.
    let mut host = joined(&[G1, G2]);
    host.handle_packet(
        t(10_000),
        &v2_query(Ipv6Address::UNSPECIFIED, 0, &[]),
        &mut rng(),
    );
    host.handle_packet(t(10_000), &v2_query(G1, 10_000, &[source(1)]), &mut rng());
    let sent = run(&mut host, t(10_000), t(30_000));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, t(10_000));
    assert_eq!(sent[0].1.len(), 2);
    assert!(sent[0].1.iter().all(|r| r.0 == RecordType::ModeIsExclude));
}

#[test]
fn a_group_query_after_a_source_query_answers_the_whole_group() {
    // Rule 4 of RFC 3810 §6.2.
    let mut host = joined(&[G1]);
    host.handle_packet(t(10_000), &v2_query(G1, 5000, &[source(1)]), &mut rng());
    host.handle_packet(t(10_000), &v2_query(G1, 5000, &[]), &mut rng());
    host.handle_packet(t(10_000), &v2_query(G1, 5000, &[source(2)]), &mut rng());
    let sent = run(&mut host, t(10_000), t(30_000));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, [(RecordType::ModeIsExclude, G1, vec![])]);
}

#[test]
fn too_many_queried_sources_are_answered_with_the_full_state() {
    let mut host = joined(&[G1]);
    let sources: Vec<_> = (0..MAX_QUERY_SOURCES as u16 + 1).map(source).collect();
    host.handle_packet(t(10_000), &v2_query(G1, 1000, &sources), &mut rng());
    assert_eq!(host.counters().query_sources_overflow, 1);
    let sent = run(&mut host, t(10_000), t(30_000));
    assert_eq!(sent[0].1, [(RecordType::ModeIsExclude, G1, vec![])]);
}

#[test]
fn source_specific_query_for_a_group_being_left_gets_no_answer() {
    let mut host = joined(&[G1]);
    host.leave(t(10_000), G1, &mut rng()).unwrap();
    let handled = host.handle_packet(t(10_000), &v2_query(G1, 1000, &[source(1)]), &mut rng());
    assert_eq!(handled, Handled::QueryNotListening);
    let sent = run(&mut host, t(10_000), t(30_000));
    assert!(
        sent.iter()
            .all(|(_, r)| r[0].0 == RecordType::ChangeToIncludeMode)
    );
}

#[test]
fn a_small_buffer_is_counted_and_the_packet_stays_due() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    let mut small = [0u8; 60];
    assert_eq!(host.poll_transmit(t(0), &mut small), None);
    assert_eq!(host.counters().buffer_too_small, 1);
    assert_eq!(host.poll_timeout(), Some(t(0)));
    let mut buf = [0u8; 1500];
    assert_eq!(host.poll_transmit(t(0), &mut buf), Some(76));
}

#[test]
fn looped_back_own_reports_and_others_dones_are_counted() {
    let mut host = joined(&[G1]);
    let mut buf = [0u8; 200];
    let repr = MldRepr::ReportV1(mld::ReportV1Repr {
        multicast_address: G1,
    });
    let len = mld::emit_ipv6(&OUR_LL, &G1, &repr, &mut buf).unwrap();
    assert_eq!(
        host.handle_packet(t(1), &buf[..len], &mut rng()),
        Handled::OwnMessage
    );
    let repr = MldRepr::Done(mld::DoneRepr {
        multicast_address: G1,
    });
    let len = mld::emit_ipv6(&ROUTER_LL, &mld::ALL_ROUTERS, &repr, &mut buf).unwrap();
    assert_eq!(
        host.handle_packet(t(1), &buf[..len], &mut rng()),
        Handled::DoneFromOther
    );
    let counters = host.counters();
    assert_eq!((counters.own_messages, counters.dones_from_others), (1, 1));
}

#[test]
fn a_26_octet_query_is_ignored_as_malformed() {
    // RFC 3810 §8.1: only 24 (v1) and 28 or more (v2) are queries.
    let mut packet = v1_query(Ipv6Address::UNSPECIFIED, 1000);
    packet.extend_from_slice(&[0, 0]);
    packet[5] += 2; // payload length
    let (src, dst) = (ROUTER_LL, mld::ALL_NODES);
    let msg = &mut packet[48..];
    msg[2..4].fill(0);
    mld::emit_icmpv6_checksum(&src, &dst, msg);
    let mut host = joined(&[G1]);
    assert_eq!(
        host.handle_packet(t(1), &packet, &mut rng()),
        Handled::Invalid(ValidationError::Malformed)
    );
    assert_eq!(host.counters().invalid.malformed, 1);
}

#[test]
fn switching_to_v1_cancels_v2_retransmissions_and_pending_leaves() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    host.join(t(0), G2, &mut rng()).unwrap();
    run(&mut host, t(0), t(0));
    host.leave(t(1), G2, &mut rng()).unwrap();
    host.handle_packet(t(1), &v1_query(G2, 1000), &mut rng());
    assert_eq!(host.mode(), CompatibilityMode::V1);
    assert_eq!(host.slots_in_use(), 1);
    // Only the MLDv1 timeout is left.
    assert_eq!(host.poll_timeout(), Some(t(1 + 251_000)));
    assert!(run(&mut host, t(1), t(100_000)).is_empty());
    assert_eq!(host.counters().v1_mode_entered, 1);
}

#[test]
fn in_v1_mode_a_v2_query_is_answered_with_a_v1_report() {
    let mut host = joined(&[G1]);
    host.handle_packet(t(10_000), &v1_query(G2, 1000), &mut rng());
    assert_eq!(host.counters().queries_not_listening, 1);
    host.handle_packet(t(20_000), &v2_query(G1, 1000, &[source(1)]), &mut rng());
    let sent = run(&mut host, t(20_000), t(30_000));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, [(RecordType::Unknown(131), G1, vec![])]);
}

#[test]
fn v1_timer_is_reset_only_by_a_shorter_max_response_delay() {
    // RFC 2710 §4.
    let mut host = joined(&[G1]);
    host.handle_packet(t(10_000), &v1_query(G1, 10_000), &mut rng());
    let first = host.poll_timeout().unwrap();
    host.handle_packet(t(10_000), &v1_query(G1, 20_000), &mut rng());
    assert_eq!(
        host.poll_timeout(),
        Some(first),
        "a longer delay keeps the timer"
    );
    host.handle_packet(t(10_000), &v1_query(G1, 0), &mut rng());
    assert_eq!(
        host.poll_timeout(),
        Some(t(10_000)),
        "a zero delay answers at once"
    );
}

// Source filters (RFC 3810 §4.2, §6.1, §6.3, §8.2.1).

use FilterMode::{Exclude, Include};

const ALLOW: RecordType = RecordType::AllowNewSources;
const BLOCK: RecordType = RecordType::BlockOldSources;
const TO_IN: RecordType = RecordType::ChangeToIncludeMode;
const TO_EX: RecordType = RecordType::ChangeToExcludeMode;
const IS_IN: RecordType = RecordType::ModeIsInclude;
const IS_EX: RecordType = RecordType::ModeIsExclude;

fn sources(ids: &[u16]) -> Vec<Ipv6Address> {
    ids.iter().map(|&i| source(i)).collect()
}

/// A filter transition and the records it sends.
type Transition = (
    FilterMode,
    &'static [u16],
    FilterMode,
    &'static [u16],
    Vec<Record>,
);

/// A filter, the sources queried, and the answer.
type QueryCase = (FilterMode, &'static [u16], &'static [u16], Option<Record>);

fn rec(kind: RecordType, ids: &[u16]) -> Record {
    (kind, G1, sources(ids))
}

/// The records of every report sent from `from` on, without their times.
fn reports(host: &mut MldHost, from: Instant) -> Vec<Vec<Record>> {
    run(host, from, from + Duration::from_secs(10))
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// A host whose filter for G1 is `mode` `ids`, all reports of it sent.
fn listening(mode: FilterMode, ids: &[u16]) -> MldHost {
    let mut host = host();
    host.listen(t(0), G1, mode, &sources(ids), &mut rng())
        .unwrap();
    run(&mut host, t(0), t(10_000));
    host
}

/// Sets G1's filter at 10 s and returns the State Change Reports that follow.
fn change_to(host: &mut MldHost, mode: FilterMode, ids: &[u16]) -> Vec<Vec<Record>> {
    host.listen(t(10_000), G1, mode, &sources(ids), &mut rng())
        .unwrap();
    reports(host, t(10_000))
}

#[test]
fn each_filter_transition_sends_the_records_of_the_rfc_3810_table() {
    // RFC 3810 §6.1, each report sent [Robustness Variable] = 2 times.
    let twice = |records: Vec<Record>| vec![records.clone(), records];
    let cases: [Transition; 7] = [
        (Include, &[], Include, &[1, 2], vec![rec(ALLOW, &[1, 2])]),
        (
            Include,
            &[1, 2],
            Include,
            &[2, 3],
            vec![rec(ALLOW, &[3]), rec(BLOCK, &[1])],
        ),
        (Include, &[1, 2], Include, &[2], vec![rec(BLOCK, &[1])]),
        (Include, &[1], Exclude, &[2], vec![rec(TO_EX, &[2])]),
        (Exclude, &[2], Include, &[1], vec![rec(TO_IN, &[1])]),
        (
            Exclude,
            &[1],
            Exclude,
            &[2],
            vec![rec(ALLOW, &[1]), rec(BLOCK, &[2])],
        ),
        (Exclude, &[1], Include, &[], vec![rec(TO_IN, &[])]),
    ];
    for (from_mode, from, to_mode, to, expected) in cases {
        let mut host = listening(from_mode, from);
        let sent = change_to(&mut host, to_mode, to);
        assert_eq!(
            sent,
            twice(expected),
            "{from_mode:?} {from:?} -> {to_mode:?} {to:?}"
        );
        assert_eq!(host.poll_timeout(), None);
    }
}

#[test]
fn the_filter_is_kept_and_shown() {
    let mut host = listening(Include, &[1, 2, 1]);
    assert_eq!(host.filter(&G1), Some((Include, &sources(&[1, 2])[..])));
    assert!(host.accepts(&G1, &source(2)) && !host.accepts(&G1, &source(3)));
    assert!(host.is_joined(&G1));
    assert_eq!(host.groups().collect::<Vec<_>>(), [G1]);
    // The same filter again (any order) sends nothing.
    assert!(change_to(&mut host, Include, &[2, 1]).is_empty());
    host.listen(t(20_000), G1, Include, &[], &mut rng())
        .unwrap();
    assert_eq!(host.filter(&G1), None);
    assert!(!host.accepts(&G1, &source(1)));
    run(&mut host, t(20_000), t(30_000));
    assert_eq!(
        host.slots_in_use(),
        0,
        "the slot is freed after the last BLOCK"
    );
    // INCLUDE {} of a group not listened to: nothing to do, nothing sent.
    host.listen(t(30_000), G2, Include, &[], &mut rng())
        .unwrap();
    assert_eq!((host.slots_in_use(), host.poll_timeout()), (0, None));
}

#[test]
fn listen_refuses_bad_source_lists_and_changes_nothing() {
    let mut host = listening(Include, &[1]);
    let nine = sources(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(host.max_sources(), DEFAULT_SOURCES);
    let mut r = rng();
    assert_eq!(
        host.listen(t(10_000), G1, Exclude, &nine, &mut r),
        Err(MldError::TooManySources)
    );
    for bad in [G2, Ipv6Address::UNSPECIFIED] {
        assert_eq!(
            host.listen(t(10_000), G1, Include, &[bad], &mut r),
            Err(MldError::InvalidSource)
        );
    }
    assert_eq!(
        host.listen(t(10_000), source(1), Include, &[], &mut r),
        Err(MldError::NotMulticast)
    );
    assert_eq!(host.filter(&G1), Some((Include, &sources(&[1])[..])));
    assert_eq!(host.poll_timeout(), None);
    // A large S is bounded by what one report of the MTU holds (RFC 3810 §5.2.15).
    let big: MldHost<1, 100> = MldHost::with_capacity(Config::default());
    assert_eq!(big.max_sources(), (1280 - 40 - 8 - 8 - 20) / 16);
}

#[test]
fn source_changes_during_a_mode_change_follow_its_retransmissions() {
    // RFC 3810 §6.1: after a filter mode change "the next [Robustness Variable] State
    // Change Reports will include a Filter Mode Change Record. This applies even if any
    // number of source list changes occur in that period"; the source changes follow.
    let mut host = listening(Include, &[1]);
    let mut r = rng();
    host.listen(t(10_000), G1, Exclude, &sources(&[1]), &mut r)
        .unwrap();
    let mut buf = [0u8; 1500];
    assert!(host.poll_transmit(t(10_000), &mut buf).is_some());
    host.listen(t(10_001), G1, Exclude, &sources(&[1, 2]), &mut r)
        .unwrap();
    assert_eq!(host.poll_timeout(), Some(t(10_001)), "a new report at once");
    let sent = reports(&mut host, t(10_001));
    assert_eq!(
        sent,
        [
            vec![rec(TO_EX, &[1, 2])],
            vec![rec(BLOCK, &[2])],
            vec![rec(BLOCK, &[2])]
        ]
    );
}

#[test]
fn a_mode_change_replaces_pending_source_changes() {
    let mut host = listening(Include, &[1]);
    let mut r = rng();
    host.listen(t(10_000), G1, Include, &sources(&[1, 2]), &mut r)
        .unwrap();
    host.listen(t(10_000), G1, Exclude, &[], &mut r).unwrap();
    let sent = reports(&mut host, t(10_000));
    assert_eq!(sent, [vec![rec(TO_EX, &[])], vec![rec(TO_EX, &[])]]);
}

#[test]
fn successive_source_changes_keep_each_source_for_robustness_reports() {
    let mut host = listening(Include, &[1]);
    let mut r = rng();
    host.listen(t(10_000), G1, Include, &sources(&[1, 2]), &mut r)
        .unwrap();
    let mut buf = [0u8; 1500];
    host.poll_transmit(t(10_000), &mut buf).unwrap(); // ALLOW {2}, one left
    host.listen(t(10_001), G1, Include, &sources(&[2, 3]), &mut r)
        .unwrap();
    let sent = reports(&mut host, t(10_001));
    assert_eq!(
        sent,
        [
            vec![rec(ALLOW, &[2, 3]), rec(BLOCK, &[1])],
            vec![rec(ALLOW, &[3]), rec(BLOCK, &[1])]
        ]
    );
}

#[test]
fn retransmission_state_that_does_not_fit_is_sent_as_the_whole_state() {
    let mut host: MldHost<2, 2> = MldHost::with_capacity(Config::default());
    host.set_link_local(Some(OUR_LL)).unwrap();
    let mut r = rng();
    for ids in [&[1, 2][..], &[3, 4], &[5]] {
        host.listen(t(0), G1, Include, &sources(ids), &mut r)
            .unwrap();
    }
    assert_eq!(host.counters().source_changes_escalated, 1);
    let mut buf = [0u8; 1500];
    let mut sent = Vec::new();
    let mut now = t(0);
    while let Some(at) = host.poll_timeout() {
        now = now.max(at);
        while let Some(len) = host.poll_transmit(now, &mut buf) {
            let MldMessage::ReportV2(report) = mld::parse_ipv6(&buf[..len]).unwrap().message else {
                panic!("not a v2 report");
            };
            for r in report.records() {
                sent.push((r.record_type, r.sources.collect::<Vec<_>>()));
            }
        }
    }
    assert_eq!(sent, [(TO_IN, sources(&[5])), (TO_IN, sources(&[5]))]);
}

#[test]
fn the_robustness_variable_sets_the_number_of_reports() {
    let mut host: MldHost = MldHost::new(Config {
        robustness: 3,
        ..Config::default()
    });
    host.set_link_local(Some(OUR_LL)).unwrap();
    host.listen(t(0), G1, Include, &sources(&[1]), &mut rng())
        .unwrap();
    let sent = run(&mut host, t(0), t(10_000));
    assert_eq!(sent.len(), 3);
    for pair in sent.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap <= Duration::from_secs(1), "{gap}");
    }
}

#[test]
fn queries_are_answered_with_the_filter() {
    // RFC 3810 §6.3.
    let cases: [QueryCase; 6] = [
        (Include, &[1, 2], &[], Some(rec(IS_IN, &[1, 2]))),
        (Exclude, &[1], &[], Some(rec(IS_EX, &[1]))),
        // Source-specific: INCLUDE (A) answers IS_IN (A*B), EXCLUDE (A) IS_IN (B-A).
        (Include, &[1, 2], &[2, 3], Some(rec(IS_IN, &[2]))),
        (Exclude, &[1], &[1, 3], Some(rec(IS_IN, &[3]))),
        (Include, &[1], &[3], None),
        (Exclude, &[1], &[1], None),
    ];
    for (mode, ids, queried, expected) in cases {
        for general in [false, true] {
            if general && !queried.is_empty() {
                continue;
            }
            let mut host = listening(mode, ids);
            let group = if general {
                Ipv6Address::UNSPECIFIED
            } else {
                G1
            };
            let handled = host.handle_packet(
                t(10_000),
                &v2_query(group, 1000, &sources(queried)),
                &mut rng(),
            );
            assert!(matches!(handled, Handled::Query { .. }));
            let sent = reports(&mut host, t(10_000));
            let expected: Vec<_> = expected.iter().map(|r| vec![r.clone()]).collect();
            assert_eq!(sent, expected, "{mode:?} {ids:?} queried {queried:?}");
            let unanswered = u64::from(expected.is_empty());
            assert_eq!(host.counters().source_queries_unanswered, unanswered);
        }
    }
}

#[test]
fn a_general_query_reports_every_filter_and_no_include_nothing() {
    let mut host = listening(Include, &[1]);
    host.listen(t(0), G2, Exclude, &sources(&[2]), &mut rng())
        .unwrap();
    run(&mut host, t(0), t(10_000));
    host.handle_packet(
        t(10_000),
        &v2_query(Ipv6Address::UNSPECIFIED, 0, &[]),
        &mut rng(),
    );
    let sent = reports(&mut host, t(10_000));
    assert_eq!(sent, [vec![rec(IS_IN, &[1]), (IS_EX, G2, sources(&[2]))]]);
}

#[test]
fn in_v1_mode_a_source_filter_is_reported_as_the_group() {
    // RFC 3810 §8.2.1: MLDv1 cannot say which sources; a filter other than INCLUDE {} is
    // reported, source-only changes send nothing, INCLUDE {} sends a Done.
    let mut host = host();
    host.handle_packet(t(0), &v1_query(Ipv6Address::UNSPECIFIED, 1000), &mut rng());
    assert_eq!(host.mode(), CompatibilityMode::V1);
    run(&mut host, t(0), t(1));
    host.listen(t(1), G1, Include, &sources(&[1]), &mut rng())
        .unwrap();
    let sent = run(&mut host, t(1), t(10_000));
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(_, r)| r == &[(RecordType::Unknown(131), G1, vec![])])
    );
    host.listen(t(10_000), G1, Exclude, &sources(&[2]), &mut rng())
        .unwrap();
    assert!(run(&mut host, t(10_000), t(20_000)).is_empty());
    assert_eq!(host.filter(&G1), Some((Exclude, &sources(&[2])[..])));
    // A v1 query is answered with a Report for the group.
    host.handle_packet(t(20_000), &v1_query(G1, 1000), &mut rng());
    let sent = run(&mut host, t(20_000), t(30_000));
    assert_eq!(sent[0].1, [(RecordType::Unknown(131), G1, vec![])]);
    host.listen(t(30_000), G1, Include, &[], &mut rng())
        .unwrap();
    let sent = run(&mut host, t(30_000), t(40_000));
    assert_eq!(sent[0].1, [(RecordType::Unknown(132), G1, vec![])]);
    assert_eq!(host.slots_in_use(), 0);
}

#[test]
fn back_in_v2_mode_the_filter_is_reported_again_on_query() {
    let mut host = host();
    host.handle_packet(t(0), &v1_query(Ipv6Address::UNSPECIFIED, 1000), &mut rng());
    host.listen(t(1), G1, Include, &sources(&[1]), &mut rng())
        .unwrap();
    run(&mut host, t(1), t(10_000));
    // The Older Version Querier Present Timeout: 2 × 125 s + 1 s.
    host.handle_timeout(t(252_000));
    assert_eq!(host.mode(), CompatibilityMode::V2);
    host.handle_packet(t(252_000), &v2_query(G1, 0, &[]), &mut rng());
    let sent = reports(&mut host, t(252_000));
    assert_eq!(sent, [vec![rec(IS_IN, &[1])]]);
}
