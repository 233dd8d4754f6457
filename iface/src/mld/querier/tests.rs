//! Unit tests: the state tables of RFC 3810 §7.4, the timers of §7.5, the queries of §7.6.3,
//! election (§7.6.2), MLDv1 compatibility (§8.3.2), capacity, and a proptest over random
//! record sequences. `iface/tests/mld_router.rs` has our hosts against the querier.

use bridgeless_wire::mld::{
    self, AddressRecordRepr, DoneRepr, MldMessage, MldRepr, QueryRepr, RecordType, ReportV1Repr,
    ReportV2Repr,
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

/// Every query due at `now`: (group, S flag, sources).
fn drain(q: &mut Q, now: Instant) -> Vec<(Ipv6Address, bool, Vec<Ipv6Address>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(len) = q.poll_transmit(now, &mut buf) {
        let received = mld::parse_ipv6(&buf[..len]).unwrap();
        assert_eq!(received.src_addr, ME);
        let MldMessage::Query(query) = received.message else {
            panic!("not a query")
        };
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

fn record_type() -> impl Strategy<Value = RecordType> {
    (1u8..=7).prop_map(RecordType::from)
}

proptest! {
    /// Random record sequences (with v1 reports, dones, queries and time passing) never
    /// panic and keep every record consistent; a record that EXCLUDEs a source is not
    /// forwarding it, and after MALI with no reports nothing is left.
    #[test]
    fn random_records_keep_the_invariants(
        steps in proptest::collection::vec(
            (0u8..5, record_type(), 0u16..3, proptest::collection::vec(0u16..7, 0..6), 0i64..3000),
            1..60,
        )
    ) {
        let mut q = querier();
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
            drain(&mut q, t(now));
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
