//! Unit tests: the state tables of RFC 3810 §7.4, the timers of §7.5, the queries of §7.6.3,
//! election (§7.6.2), MLDv1 compatibility (§8.3.2), MLDv1 mode (§8.3.1), capacity, and a
//! proptest over random record sequences in both modes. `iface/tests/mld_router.rs` has our hosts against the querier.

use bridgeless_wire::mld::{
    self, AddressRecordRepr, DoneRepr, MldMessage, MldRepr, QueryRepr, QueryVersion, RecordType,
    ReportV1Repr, ReportV2Repr,
};
use proptest::prelude::*;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

use super::*;

const ME: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x10);
const LOWER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x01);
const HIGHER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x20);
const HOST: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99);
const G: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 1);

type Q = MldQuerier<4, 4>;

fn s(i: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
}

fn t(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

fn packet(from: Ipv6Address, repr: MldRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let len = mld::emit_ipv6(&from, &repr.destination(), &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn report(record_type: RecordType, group: Ipv6Address, sources: &[Ipv6Address]) -> Vec<u8> {
    let records = [AddressRecordRepr {
        record_type,
        multicast_address: group,
        sources,
    }];
    packet(HOST, MldRepr::ReportV2(ReportV2Repr { records: &records }))
}

fn querier() -> Q {
    let mut q = Q::new(QuerierConfig::default(), ME, t(0)).unwrap();
    drain(&mut q, t(0));
    q
}

fn v1_config() -> QuerierConfig {
    QuerierConfig {
        version: MldVersion::V1,
        ..QuerierConfig::default()
    }
}

/// A querier in MLDv1 mode, its first General Query sent.
fn querier_v1() -> Q {
    let mut q = Q::new(v1_config(), ME, t(0)).unwrap();
    drain(&mut q, t(0));
    q
}

fn v1_report(group: Ipv6Address) -> Vec<u8> {
    packet(
        HOST,
        MldRepr::ReportV1(ReportV1Repr {
            multicast_address: group,
        }),
    )
}

fn v1_done(group: Ipv6Address) -> Vec<u8> {
    packet(
        HOST,
        MldRepr::Done(DoneRepr {
            multicast_address: group,
        }),
    )
}

/// An MLDv1 General Query from `from`.
fn v1_general(from: Ipv6Address) -> Vec<u8> {
    packet(
        from,
        MldRepr::Query(QueryRepr::V1 {
            max_response_delay: 10_000,
            multicast_address: Ipv6Address::UNSPECIFIED,
        }),
    )
}

/// An MLDv2 General Query from `from`, with QRV 3 and a Query Interval of 60 s.
fn v2_general(from: Ipv6Address) -> Vec<u8> {
    packet(
        from,
        MldRepr::Query(QueryRepr::V2 {
            max_response_delay: 10_000,
            multicast_address: Ipv6Address::UNSPECIFIED,
            suppress_router_processing: false,
            qrv: 3,
            query_interval: 60,
            sources: &[],
        }),
    )
}

/// Every query due at `now`: (group, S flag, sources). Each is checked to be of the
/// querier's version: an MLDv1 query in MLDv1 mode is 24 octets, with no sources.
fn drain(q: &mut Q, now: Instant) -> Vec<(Ipv6Address, bool, Vec<Ipv6Address>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(len) = q.poll_transmit(now, &mut buf) {
        let received = mld::parse_ipv6(&buf[..len]).unwrap();
        assert_eq!(received.src_addr, ME);
        let MldMessage::Query(query) = received.message else {
            panic!("not a query")
        };
        match q.version() {
            MldVersion::V1 => {
                assert_eq!(query.version(), QueryVersion::V1);
                assert_eq!(len, 40 + mld::HOP_BY_HOP_LEN + mld::QUERY_V1_LEN);
            }
            MldVersion::V2 => assert_eq!(query.version(), QueryVersion::V2),
        }
        out.push((
            query.multicast_address(),
            query.suppress_router_processing(),
            query.sources().collect(),
        ));
        assert!(out.len() < 100, "poll_transmit does not stop");
    }
    out
}

fn state(q: &Q) -> (FilterMode, Vec<(Ipv6Address, bool)>) {
    let g = q.group(&G).expect("a record for G");
    (
        g.filter_mode(),
        g.sources().map(|s| (s.addr, s.timer.is_some())).collect(),
    )
}

#[test]
fn startup_queries_then_query_interval() {
    let mut q = Q::new(QuerierConfig::default(), ME, t(0)).unwrap();
    assert_eq!(
        drain(&mut q, t(0)),
        vec![(Ipv6Address::UNSPECIFIED, false, vec![])]
    );
    assert_eq!(q.poll_timeout(), Some(t(31_250)));
    assert_eq!(drain(&mut q, t(31_250)).len(), 1);
    assert_eq!(q.poll_timeout(), Some(t(31_250 + 125_000)));
    assert_eq!(q.counters().general_queries_sent, 2);
}

#[test]
fn include_transitions_of_7_4() {
    let mut q = querier();
    // INCLUDE {} + ALLOW (s1, s2) → INCLUDE (s1, s2).
    q.handle_packet(t(1), &report(RecordType::AllowNewSources, G, &[s(1), s(2)]));
    assert_eq!(
        state(&q),
        (FilterMode::Include, vec![(s(1), true), (s(2), true)])
    );
    assert!(q.wants(&G, &s(1)) && !q.wants(&G, &s(3)));
    // BLOCK (s2) → INCLUDE (s1, s2); Send Q(G, s2), which lowers s2 to LLQT.
    q.handle_packet(t(2), &report(RecordType::BlockOldSources, G, &[s(2), s(3)]));
    assert_eq!(drain(&mut q, t(2)), vec![(G, false, vec![s(2)])]);
    assert_eq!(drain(&mut q, t(1002)), vec![(G, false, vec![s(2)])]);
    q.handle_timeout(t(2002));
    assert_eq!(state(&q), (FilterMode::Include, vec![(s(1), true)]));
    assert!(!q.wants(&G, &s(2)));
    // TO_EX (s1, s4) → EXCLUDE (s1 ; s4): s4 excluded, Send Q(G, s1).
    q.handle_packet(
        t(3000),
        &report(RecordType::ChangeToExcludeMode, G, &[s(1), s(4)]),
    );
    assert_eq!(
        state(&q),
        (FilterMode::Exclude, vec![(s(1), true), (s(4), false)])
    );
    assert_eq!(drain(&mut q, t(3000)), vec![(G, false, vec![s(1)])]);
    assert!(q.wants(&G, &s(9)) && q.wants(&G, &s(1)) && !q.wants(&G, &s(4)));
}

#[test]
fn exclude_transitions_of_7_4() {
    let mut q = querier();
    // IS_EX (s1) from nothing → EXCLUDE ({}, s1).
    q.handle_packet(t(1), &report(RecordType::ModeIsExclude, G, &[s(1)]));
    assert_eq!(state(&q), (FilterMode::Exclude, vec![(s(1), false)]));
    // IS_IN (s1) → EXCLUDE (s1, {}).
    q.handle_packet(t(2), &report(RecordType::ModeIsInclude, G, &[s(1)]));
    assert_eq!(state(&q), (FilterMode::Exclude, vec![(s(1), true)]));
    // BLOCK (s2): (A-X-Y) = Filter Timer; Send Q(G, A-Y) = s2.
    q.handle_packet(t(3), &report(RecordType::BlockOldSources, G, &[s(2)]));
    assert_eq!(
        state(&q),
        (FilterMode::Exclude, vec![(s(1), true), (s(2), true)])
    );
    // s2's timer (the filter timer, MALI) is above LLQT... lowered to LLQT by the query.
    assert_eq!(drain(&mut q, t(3)), vec![(G, false, vec![s(2)])]);
    // IS_EX (s2, s3) → EXCLUDE (A-Y, Y*A): s1 deleted, s3 new with MALI.
    q.handle_packet(t(4), &report(RecordType::ModeIsExclude, G, &[s(2), s(3)]));
    assert_eq!(
        state(&q),
        (FilterMode::Exclude, vec![(s(2), true), (s(3), true)])
    );
    // TO_IN {} → Send Q(G, X) and Q(G); with no answer, the group goes after LLQT.
    q.handle_packet(t(10), &report(RecordType::ChangeToIncludeMode, G, &[]));
    // Both source timers are now at most LLQT: the source query has the S flag clear.
    assert_eq!(
        drain(&mut q, t(10)),
        vec![(G, false, vec![]), (G, false, vec![s(2), s(3)])]
    );
    drain(&mut q, t(1010));
    q.handle_timeout(t(2010));
    assert!(q.group(&G).is_none(), "{:?}", q.group(&G));
    assert_eq!(q.counters().groups_expired, 1);
}

#[test]
fn group_times_out_without_reports() {
    let mut q = querier();
    q.handle_packet(t(0), &report(RecordType::ChangeToExcludeMode, G, &[]));
    let mali = q.multicast_address_listening_interval();
    assert_eq!(mali, Duration::from_secs(260));
    q.handle_timeout(t(0) + mali - Duration::from_millis(1));
    assert!(q.wants(&G, &s(1)));
    q.handle_timeout(t(0) + mali);
    assert!(q.group(&G).is_none());
}

#[test]
fn v1_report_and_done() {
    let mut q = querier();
    let v1 = packet(
        HOST,
        MldRepr::ReportV1(ReportV1Repr {
            multicast_address: G,
        }),
    );
    assert_eq!(q.handle_packet(t(0), &v1), Handled::ReportV1(true));
    let record = q.group(&G).unwrap();
    assert_eq!(record.compatibility(), GroupCompatibility::V1);
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    // §8.3.2: BLOCK ignored, TO_EX sources ignored.
    q.handle_packet(t(1), &report(RecordType::BlockOldSources, G, &[s(1)]));
    q.handle_packet(t(1), &report(RecordType::ChangeToExcludeMode, G, &[s(1)]));
    assert!(q.wants(&G, &s(1)));
    assert_eq!(q.counters().dropped.block_in_v1_mode, 1);
    let done = packet(
        HOST,
        MldRepr::Done(DoneRepr {
            multicast_address: G,
        }),
    );
    assert_eq!(q.handle_packet(t(2), &done), Handled::Done(true));
    assert_eq!(drain(&mut q, t(2)), vec![(G, false, vec![])]);
    drain(&mut q, t(1002));
    q.handle_timeout(t(2002));
    assert!(q.group(&G).is_none());
}

#[test]
fn lower_address_wins_the_election() {
    let mut q = querier();
    let general = |from| {
        packet(
            from,
            MldRepr::Query(QueryRepr::V2 {
                max_response_delay: 10_000,
                multicast_address: Ipv6Address::UNSPECIFIED,
                suppress_router_processing: false,
                qrv: 3,
                query_interval: 60,
                sources: &[],
            }),
        )
    };
    let h = q.handle_packet(t(5), &general(HIGHER));
    assert!(matches!(
        h,
        Handled::Query {
            from_querier: false,
            ..
        }
    ));
    assert!(q.is_querier());
    let h = q.handle_packet(t(6), &general(LOWER));
    assert!(matches!(
        h,
        Handled::Query {
            querier_changed: true,
            ..
        }
    ));
    assert!(!q.is_querier());
    assert_eq!(q.other_querier(), Some(LOWER));
    assert_eq!(
        (q.robustness(), q.query_interval()),
        (3, Duration::from_secs(60))
    );
    // A non-querier sends nothing but still tracks listeners.
    q.handle_packet(t(7), &report(RecordType::ChangeToExcludeMode, G, &[]));
    assert!(q.wants(&G, &s(1)));
    assert_eq!(drain(&mut q, t(100_000)), vec![]);
    // Other Querier Present Timeout = 3 × 60 s + 5 s: then querier again, query at once.
    let oqpt = q.other_querier_present_timeout();
    assert_eq!(oqpt, Duration::from_secs(185));
    assert_eq!(drain(&mut q, t(6) + oqpt).len(), 1);
    assert!(q.is_querier());
}

#[test]
fn non_querier_follows_the_queriers_specific_query() {
    let mut q = querier();
    q.handle_packet(t(0), &report(RecordType::ChangeToExcludeMode, G, &[]));
    let specific = packet(
        LOWER,
        MldRepr::Query(QueryRepr::V2 {
            max_response_delay: 1000,
            multicast_address: G,
            suppress_router_processing: false,
            qrv: 2,
            query_interval: 125,
            sources: &[],
        }),
    );
    q.handle_packet(t(10), &specific);
    assert_eq!(q.group(&G).unwrap().filter_timer(), Some(t(2010)));
    q.handle_timeout(t(2010));
    assert!(q.group(&G).is_none());
}

#[test]
fn full_tables_are_counted() {
    let mut q = querier();
    for i in 0..5 {
        let group = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 10 + i);
        q.handle_packet(t(0), &report(RecordType::ChangeToExcludeMode, group, &[]));
    }
    assert_eq!(q.len(), 4);
    assert_eq!(q.counters().dropped.group_table_full, 1);
    let mut q = querier();
    let many: Vec<_> = (1..=6).map(s).collect();
    q.handle_packet(t(0), &report(RecordType::AllowNewSources, G, &many));
    // Full INCLUDE list: forward everything rather than lose a requested source.
    assert_eq!(q.group(&G).unwrap().filter_mode(), FilterMode::Exclude);
    assert!(q.wants(&G, &s(6)));
    assert_eq!(q.counters().dropped.source_table_full, 2);
    // Never reported addresses are not tracked.
    let all_nodes = mld::ALL_NODES;
    q.handle_packet(
        t(0),
        &report(RecordType::ChangeToExcludeMode, all_nodes, &[]),
    );
    assert_eq!(q.counters().dropped.not_reportable, 1);
}

/// A source requested while the record is in EXCLUDE mode with a full table is forwarded
/// (EXCLUDE forwards what it does not exclude), and must stay forwarded when the filter
/// timer runs out: the record may not fall back to an INCLUDE list that lacks it.
#[test]
fn a_requested_source_that_did_not_fit_is_never_cut_off() {
    let mut q = querier();
    q.handle_packet(
        t(0),
        &report(RecordType::ChangeToExcludeMode, G, &[s(1), s(2), s(3)]),
    );
    // TO_IN(A) in EXCLUDE mode: (X+A, Y-A), A = GMI, Q(G) lowers the filter timer to LLQT
    // (§7.4.2). The table holds 4 sources: s(5), s(6), s(7) do not fit.
    q.handle_packet(
        t(0),
        &report(
            RecordType::ChangeToIncludeMode,
            G,
            &[s(4), s(5), s(6), s(7)],
        ),
    );
    assert_eq!(q.counters().dropped.source_table_full, 3);
    let lowered = q.group(&G).unwrap().filter_timer().unwrap();
    assert!(
        lowered <= t(2_000),
        "Q(G) lowered the filter timer: {lowered}"
    );
    // Long after the lowered filter timer, nobody having answered Q(G) in EXCLUDE mode.
    let mut now = t(0);
    while now < t(60_000) {
        drain(&mut q, now);
        q.handle_timeout(now);
        now += Duration::from_millis(100);
    }
    for i in 4..=7 {
        assert!(q.wants(&G, &s(i)), "requested source {i} still forwarded");
    }
    assert!(!q.wants(&G, &s(1)), "an excluded source stays excluded");
    q.group(&G).unwrap().check_invariants().unwrap();
    // Once the requested sources' timers (GMI, 260 s) have run out, the record ends.
    while now < t(265_000) {
        drain(&mut q, now);
        q.handle_timeout(now);
        now += Duration::from_millis(500);
    }
    assert!(q.group(&G).is_none() || !q.wants(&G, &s(5)));
}

#[test]
fn invalid_packets_are_counted() {
    let mut q = querier();
    let mut bad = report(RecordType::ChangeToExcludeMode, G, &[]);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(q.handle_packet(t(0), &bad), Handled::Invalid(_)));
    assert_eq!(q.counters().invalid.checksum, 1);
    assert!(q.is_empty());
}

#[test]
fn v1_mode_sends_a_24_octet_mldv1_general_query() {
    let mut q = Q::new(v1_config(), ME, t(0)).unwrap();
    assert_eq!(q.version(), MldVersion::V1);
    let mut buf = [0u8; 1500];
    let len = q
        .poll_transmit(t(0), &mut buf)
        .expect("the first General Query");
    // IPv6 header, Hop-by-Hop Options with the Router Alert, then 24 octets of query.
    assert_eq!(len, 40 + 8 + 24);
    assert_eq!(
        u16::from_be_bytes([buf[4], buf[5]]),
        8 + 24,
        "payload length"
    );
    let icmp = &buf[48..len];
    assert_eq!(icmp[0], mld::TYPE_QUERY);
    // §8.3.1: the Maximum Response Delay is written as it is, in milliseconds (10 s), not as
    // the exponential code of §5.1.3.
    assert_eq!(u16::from_be_bytes([icmp[4], icmp[5]]), 10_000);
    assert_eq!(&icmp[8..24], &[0u8; 16], "the unspecified address: general");
    let received = mld::parse_ipv6(&buf[..len]).unwrap();
    assert_eq!(received.dst_addr, mld::ALL_NODES);
    let MldMessage::Query(query) = received.message else {
        panic!("not a query")
    };
    assert_eq!(query.version(), QueryVersion::V1);
    assert!(query.is_general());
    assert_eq!(query.max_response_delay(), 10_000);
    let mut sources = [Ipv6Address::UNSPECIFIED; 1];
    assert_eq!(
        QueryRepr::parse(&query, &mut sources).unwrap(),
        QueryRepr::V1 {
            max_response_delay: 10_000,
            multicast_address: Ipv6Address::UNSPECIFIED,
        }
    );
    // The startup queries and the Query Interval are those of MLDv2 mode.
    assert_eq!(q.poll_timeout(), Some(t(31_250)));
    assert_eq!(q.counters().general_queries_sent, 1);
}

#[test]
fn v1_mode_caps_response_delays_at_what_mldv1_can_say() {
    let config = QuerierConfig {
        query_interval: Duration::from_secs(300),
        query_response_interval: Duration::from_secs(100),
        last_listener_query_interval: Duration::from_secs(70),
        ..v1_config()
    };
    let mut q = Q::new(config, ME, t(0)).unwrap();
    let max = Duration::from_millis(65_535);
    assert_eq!(q.config().query_response_interval, max);
    assert_eq!(q.config().last_listener_query_interval, max);
    let mut buf = [0u8; 1500];
    let len = q.poll_transmit(t(0), &mut buf).unwrap();
    assert_eq!(u16::from_be_bytes([buf[52], buf[53]]), u16::MAX);
    assert_eq!(len, 72);
    // MLDv2 mode keeps them: its code reaches 8,387 s.
    let q = Q::new(
        QuerierConfig {
            version: MldVersion::V2,
            ..config
        },
        ME,
        t(0),
    )
    .unwrap();
    assert_eq!(q.config().query_response_interval, Duration::from_secs(100));
}

#[test]
fn v1_mode_report_and_done_bring_mldv1_specific_queries() {
    let mut q = querier_v1();
    assert_eq!(
        q.handle_packet(t(10), &v1_report(G)),
        Handled::ReportV1(true)
    );
    let record = q.group(&G).expect("a listener");
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    assert_eq!(record.compatibility(), GroupCompatibility::V1);
    assert_eq!(record.sources().count(), 0);
    assert!(q.wants(&G, &s(1)) && q.wants(&G, &s(2)), "every source");
    // Without reports the listener lasts the Multicast Address Listening Interval.
    let mali = q.multicast_address_listening_interval();
    let mut silent = q.clone();
    silent.handle_timeout(t(10) + mali - Duration::from_millis(1));
    assert!(silent.wants(&G, &s(1)));
    silent.handle_timeout(t(10) + mali);
    assert!(silent.group(&G).is_none());

    // The Done: [Last Listener Query Count] = 2 MLDv1 Multicast Address Specific Queries,
    // [Last Listener Query Interval] = 1 s apart, with a Maximum Response Delay of 1 s.
    assert_eq!(q.handle_packet(t(1000), &v1_done(G)), Handled::Done(true));
    let mut buf = [0u8; 1500];
    let mut sent = Vec::new();
    for at in [1000, 1500, 2000, 2999] {
        while let Some(len) = q.poll_transmit(t(at), &mut buf) {
            sent.push((at, buf[..len].to_vec()));
        }
    }
    assert_eq!(sent.len(), 2, "{sent:?}");
    for (i, (at, bytes)) in sent.iter().enumerate() {
        assert_eq!(*at, [1000, 2000][i]);
        assert_eq!(bytes.len(), 72);
        let received = mld::parse_ipv6(bytes).unwrap();
        assert_eq!(received.dst_addr, G, "sent to the group");
        let MldMessage::Query(query) = received.message else {
            panic!("not a query")
        };
        assert_eq!(query.version(), QueryVersion::V1);
        assert_eq!(query.multicast_address(), G);
        assert_eq!(query.max_response_delay(), 1000);
    }
    assert!(q.wants(&G, &s(1)), "still there before LLQT");
    q.handle_timeout(t(2999));
    assert!(q.group(&G).is_some());
    q.handle_timeout(t(3000));
    assert!(q.group(&G).is_none(), "gone LLQT after the Done");
    let c = q.counters();
    assert_eq!((c.group_queries_sent, c.source_queries_sent), (2, 0));
    assert_eq!(c.dropped.done_in_v2_mode, 0);
    assert_eq!(
        q.poll_timeout(),
        Some(t(31_250)),
        "only the next General Query"
    );

    // A Report answering a specific query keeps the listener.
    q.handle_packet(t(4000), &v1_report(G));
    q.handle_packet(t(4001), &v1_done(G));
    drain(&mut q, t(4001));
    q.handle_packet(t(4500), &v1_report(G));
    q.handle_timeout(t(7000));
    assert!(q.wants(&G, &s(1)));
}

#[test]
fn v1_mode_ignores_mldv2_reports_and_never_queries_sources() {
    let mut q = querier_v1();
    let types = [
        RecordType::ChangeToExcludeMode,
        RecordType::AllowNewSources,
        RecordType::ModeIsInclude,
        RecordType::BlockOldSources,
    ];
    for (i, record_type) in types.into_iter().enumerate() {
        let h = q.handle_packet(t(i as i64), &report(record_type, G, &[s(1), s(2)]));
        assert_eq!(
            h,
            Handled::Report {
                applied: 0,
                ignored: 1
            }
        );
    }
    assert!(q.is_empty());
    assert_eq!(q.counters().dropped.report_v2_in_v1_mode, 4);
    assert_eq!(q.counters().reports_v2, 4);
    // With an MLDv1 listener, a v2 leave changes nothing either: no query of any kind.
    q.handle_packet(t(10), &v1_report(G));
    q.handle_packet(t(11), &report(RecordType::ChangeToIncludeMode, G, &[s(1)]));
    assert_eq!(drain(&mut q, t(11)), vec![]);
    assert!(q.wants(&G, &s(9)));
    assert_eq!(q.check_invariants(), Ok(()));
}

#[test]
fn v2_mode_counts_mldv1_queries_and_still_elects() {
    let mut q = querier();
    // From a higher address: counted (an MLDv1 router is on the link), still the querier.
    let h = q.handle_packet(t(5), &v1_general(HIGHER));
    assert_eq!(
        h,
        Handled::Query {
            version: QueryVersion::V1,
            from_querier: false,
            querier_changed: false,
        }
    );
    assert!(q.is_querier());
    assert_eq!(q.counters().other_version_queries, 1);
    assert_eq!(q.counters().queries_v1_received, 1);
    // The warning is rate-limited; the counter is not.
    assert_eq!(q.version_warned, Some(t(5)));
    q.handle_packet(t(6), &v1_general(HIGHER));
    assert_eq!(q.version_warned, Some(t(5)));
    assert_eq!(q.counters().other_version_queries, 2);
    // An MLDv2 query is no mismatch.
    q.handle_packet(t(7), &v2_general(HIGHER));
    assert_eq!(q.counters().other_version_queries, 2);
    // From a lower address: the MLDv1 router is the querier now.
    let h = q.handle_packet(t(8), &v1_general(LOWER));
    assert_eq!(
        h,
        Handled::Query {
            version: QueryVersion::V1,
            from_querier: true,
            querier_changed: true,
        }
    );
    assert!(!q.is_querier());
    assert_eq!(q.other_querier(), Some(LOWER));
    assert_eq!(q.counters().other_version_queries, 3);
    assert_eq!(drain(&mut q, t(100_000)), vec![]);
    let later = t(8) + VERSION_WARNING_INTERVAL;
    q.handle_packet(later, &v1_general(LOWER));
    assert_eq!(
        q.version_warned,
        Some(later),
        "warned again after the interval"
    );
}

#[test]
fn v1_mode_counts_mldv2_queries_and_keeps_its_own_variables() {
    let mut q = querier_v1();
    q.handle_packet(t(5), &v1_general(HIGHER));
    assert_eq!(q.counters().other_version_queries, 0);
    q.handle_packet(t(6), &v2_general(HIGHER));
    assert_eq!(q.counters().other_version_queries, 1);
    assert!(q.is_querier());
    // An MLDv2 router with a lower address wins the election, but its QRV and Query
    // Interval are not adopted: an MLDv1 router has neither.
    q.handle_packet(t(7), &v2_general(LOWER));
    assert!(!q.is_querier());
    assert_eq!(
        (q.robustness(), q.query_interval()),
        (2, Duration::from_secs(125))
    );
    assert_eq!(q.counters().other_version_queries, 2);
    // An MLDv1 querier with a lower address: a non-querier follows its specific queries.
    let mut q = querier_v1();
    q.handle_packet(t(0), &v1_report(G));
    q.handle_packet(t(5), &v1_general(LOWER));
    assert!(!q.is_querier());
    let specific = packet(
        LOWER,
        MldRepr::Query(QueryRepr::V1 {
            max_response_delay: 1000,
            multicast_address: G,
        }),
    );
    q.handle_packet(t(10), &specific);
    assert_eq!(q.group(&G).unwrap().filter_timer(), Some(t(2010)));
    q.handle_timeout(t(2010));
    assert!(q.group(&G).is_none());
    assert_eq!(q.counters().other_version_queries, 0);
}

fn record_type() -> impl Strategy<Value = RecordType> {
    (1u8..=7).prop_map(RecordType::from)
}

proptest! {
    /// Random record sequences (with v1 reports, dones, queries and time passing) never
    /// panic and keep every record consistent; a record that EXCLUDEs a source is not
    /// forwarding it, and after MALI with no reports nothing is left.
    #[test]
    fn random_records_keep_the_invariants(
        v1_mode in any::<bool>(),
        steps in proptest::collection::vec(
            (0u8..5, record_type(), 0u16..3, proptest::collection::vec(0u16..7, 0..6), 0i64..3000),
            1..60,
        )
    ) {
        let mut q = if v1_mode { querier_v1() } else { querier() };
        let mut now = 0;
        for (kind, rt, group, sources, dt) in steps {
            now += dt;
            let group = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, group);
            let sources: Vec<_> = sources.into_iter().map(s).collect();
            let p = match kind {
                0 | 1 => report(rt, group, &sources),
                2 => packet(HOST, MldRepr::ReportV1(ReportV1Repr { multicast_address: group })),
                3 => packet(HOST, MldRepr::Done(DoneRepr { multicast_address: group })),
                _ => packet(LOWER, MldRepr::Query(QueryRepr::V2 {
                    max_response_delay: 1000, multicast_address: group,
                    suppress_router_processing: false, qrv: 2, query_interval: 125,
                    sources: &sources,
                })),
            };
            q.handle_packet(t(now), &p);
            // `drain` checks every query is of the querier's version.
            let sent = drain(&mut q, t(now));
            if v1_mode {
                prop_assert!(sent.iter().all(|(_, _, s)| s.is_empty()));
                prop_assert_eq!(q.counters().source_queries_sent, 0);
            }
            prop_assert_eq!(q.check_invariants(), Ok(()));
            for g in q.groups() {
                for src in g.sources() {
                    prop_assert_eq!(g.wants(&src.addr), src.timer.is_some());
                }
            }
            if let Some(at) = q.poll_timeout() {
                prop_assert!(at >= t(now) || at == t(now));
            }
        }
        let end = t(now) + q.multicast_address_listening_interval() + Duration::from_secs(200);
        while let Some(at) = q.poll_timeout().filter(|&at| at <= end) {
            q.handle_timeout(at);
            drain(&mut q, at);
        }
        prop_assert!(q.is_empty(), "{:?}", q.groups().collect::<Vec<_>>());
    }
}
