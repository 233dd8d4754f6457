//! MLD host behaviour a user relies on: what goes on the wire after a join, a leave, a query,
//! in MLDv2 and in MLDv1 compatibility mode. Every packet the host writes is parsed again with
//! `bridgeless_wire::mld::parse_ipv6`, and the captures are checked by tshark when it is
//! installed (always under `CI=true`).

use std::process::Command;

use bridgeless_iface::mld::{CompatibilityMode, Config, Handled, MldError, MldHost};
use bridgeless_wire::mld::{
    self, ALL_MLDV2_ROUTERS, ALL_NODES, ALL_ROUTERS, MldMessage, MldRepr, QueryRepr, RecordType,
    ValidationError,
};
use bridgeless_wire::pcap::{LinkType, Writer};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

const OUR_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const ROUTER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const OTHER_HOST_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 3);
const G1: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x1234);
const G2: Ipv6Address = Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x101);
const G3: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0x3810)
}

fn host() -> MldHost {
    let mut host = MldHost::new(Config::default());
    host.set_link_local(Some(OUR_LL)).unwrap();
    host
}

fn t(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

/// One packet the host sent, parsed again.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    bytes: Vec<u8>,
}

impl Sent {
    fn parsed(&self) -> mld::ReceivedMld<'_> {
        mld::parse_ipv6(&self.bytes).expect("every packet we emit is valid MLD")
    }

    fn dst(&self) -> Ipv6Address {
        self.parsed().dst_addr
    }

    /// (record type, group, sources) of an MLDv2 report.
    fn records(&self) -> Vec<(RecordType, Ipv6Address, Vec<Ipv6Address>)> {
        match self.parsed().message {
            MldMessage::ReportV2(r) => r
                .records()
                .map(|r| (r.record_type, r.multicast_address, r.sources.collect()))
                .collect(),
            other => panic!("not an MLDv2 report: {other:?}"),
        }
    }

    fn v1(&self) -> (u8, Ipv6Address) {
        match self.parsed().message {
            MldMessage::ReportV1(r) => (mld::TYPE_REPORT_V1, r.multicast_address()),
            MldMessage::Done(d) => (mld::TYPE_DONE, d.multicast_address()),
            other => panic!("not an MLDv1 report or done: {other:?}"),
        }
    }
}

/// Drains what is due at `now`.
fn drain(host: &mut MldHost, now: Instant, out: &mut Vec<Sent>) {
    let mut buf = [0u8; 1500];
    while let Some(len) = host.poll_transmit(now, &mut buf) {
        assert!(len <= host.config().mtu);
        out.push(Sent {
            at: now,
            bytes: buf[..len].to_vec(),
        });
        mld::parse_ipv6(&buf[..len]).expect("every packet we emit is valid MLD");
    }
}

/// Runs the host's timers from `from` up to `until`, the way an event loop would, and
/// returns every packet sent.
fn run(host: &mut MldHost, from: Instant, until: Instant) -> Vec<Sent> {
    let mut out = Vec::new();
    let mut now = from;
    drain(host, now, &mut out);
    while let Some(at) = host.poll_timeout() {
        if at > until {
            break;
        }
        now = now.max(at);
        host.handle_timeout(now);
        drain(host, now, &mut out);
    }
    out
}

fn query_packet(src: Ipv6Address, repr: QueryRepr<'_>) -> Vec<u8> {
    let repr = MldRepr::Query(repr);
    let mut buf = vec![0u8; 1500];
    let len = mld::emit_ipv6(&src, &repr.destination(), &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn v2_query(group: Ipv6Address, max_delay_ms: u32, sources: &[Ipv6Address]) -> Vec<u8> {
    query_packet(
        ROUTER_LL,
        QueryRepr::V2 {
            max_response_delay: max_delay_ms,
            multicast_address: group,
            suppress_router_processing: false,
            qrv: 2,
            query_interval: 125,
            sources,
        },
    )
}

fn v1_query(group: Ipv6Address, max_delay_ms: u16) -> Vec<u8> {
    query_packet(
        ROUTER_LL,
        QueryRepr::V1 {
            max_response_delay: max_delay_ms,
            multicast_address: group,
        },
    )
}

fn v1_report_from(src: Ipv6Address, group: Ipv6Address) -> Vec<u8> {
    let repr = MldRepr::ReportV1(mld::ReportV1Repr {
        multicast_address: group,
    });
    let mut buf = vec![0u8; 200];
    let len = mld::emit_ipv6(&src, &group, &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// Writes `sent` to a pcap under the test target directory with
/// `bridgeless_wire::pcap::Writer`; when tshark is installed, checks it finds no malformed
/// frame and no bad checksum, and returns what it prints for `fields`. Fails under `CI=true`
/// if tshark is missing.
fn tshark_fields(name: &str, sent: &[Sent], fields: &[&str]) -> Option<Vec<String>> {
    let path = format!("{}/mld-host-{name}.pcap", env!("CARGO_TARGET_TMPDIR"));
    let mut writer = Writer::create(&path, LinkType::Raw).unwrap();
    for s in sent {
        let ts = std::time::Duration::from_micros(s.at.total_micros().unsigned_abs());
        writer.write(ts, &s.bytes).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is required under CI=true (apt-get install tshark)"
        );
        eprintln!("tshark is not installed: skipping its check of {path}");
        return None;
    }
    let tshark = |args: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let problems = tshark(&[
        "-Y",
        "_ws.malformed || icmpv6.checksum.status != 1",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert_eq!(problems.trim(), "", "tshark finds problems in {path}");
    let mut args = vec!["-T", "fields"];
    for f in fields {
        args.extend(["-e", f]);
    }
    Some(tshark(&args).lines().map(str::to_owned).collect())
}

/// Checks the retransmission pattern of RFC 3810 §6.1: one report at `start`, then exactly
/// `robustness - 1` more, each within [0, 1 s] of the previous one.
fn assert_retransmitted(sent: &[Sent], start: Instant, robustness: usize) {
    assert_eq!(sent.len(), robustness, "{sent:#?}");
    assert_eq!(sent[0].at, start, "the first report goes at once");
    for pair in sent.windows(2) {
        assert!(pair[1].at >= pair[0].at);
        assert!(pair[1].at - pair[0].at <= Duration::from_secs(1));
    }
}

#[test]
fn join_sends_change_to_exclude_at_once_then_robustness_minus_one_retransmissions() {
    let mut host = host();
    host.join(t(1000), G1, &mut rng()).unwrap();
    let sent = run(&mut host, t(1000), t(60_000));
    assert_retransmitted(&sent, t(1000), 2);
    for s in &sent {
        assert_eq!(s.dst(), ALL_MLDV2_ROUTERS);
        assert_eq!(s.parsed().src_addr, OUR_LL);
        assert_eq!(
            s.records(),
            vec![(RecordType::ChangeToExcludeMode, G1, vec![])]
        );
    }
    assert_eq!(host.counters().reports_sent.state_change, 2);
    assert_eq!(host.poll_timeout(), None, "nothing more to do");
    if let Some(lines) = tshark_fields("join", &sent, &["icmpv6.mldr.mar.record_type"]) {
        assert_eq!(lines, ["4", "4"]);
    }
}

#[test]
fn leave_sends_change_to_include_at_once_then_retransmissions_and_frees_the_slot() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    host.leave(t(10_000), G1, &mut rng()).unwrap();
    assert!(!host.is_joined(&G1));
    let sent = run(&mut host, t(10_000), t(60_000));
    assert_retransmitted(&sent, t(10_000), 2);
    for s in &sent {
        assert_eq!(
            s.records(),
            vec![(RecordType::ChangeToIncludeMode, G1, vec![])]
        );
    }
    assert_eq!(host.slots_in_use(), 0);
    if let Some(lines) = tshark_fields("leave", &sent, &["icmpv6.mldr.mar.record_type"]) {
        assert_eq!(lines, ["3", "3"]);
    }
}

#[test]
fn leave_during_join_retransmissions_cancels_them() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    let mut sent = Vec::new();
    drain(&mut host, t(0), &mut sent);
    assert_eq!(sent.len(), 1);
    host.leave(t(1), G1, &mut rng()).unwrap();
    let sent = run(&mut host, t(1), t(60_000));
    assert_retransmitted(&sent, t(1), 2);
    assert!(
        sent.iter()
            .all(|s| s.records()[0].0 == RecordType::ChangeToIncludeMode)
    );
}

#[test]
fn a_querier_robustness_is_adopted() {
    let mut host = host();
    let query = query_packet(
        ROUTER_LL,
        QueryRepr::V2 {
            max_response_delay: 1000,
            multicast_address: Ipv6Address::UNSPECIFIED,
            suppress_router_processing: false,
            qrv: 4,
            query_interval: 60,
            sources: &[],
        },
    );
    host.handle_packet(t(0), &query, &mut rng());
    assert_eq!(host.robustness(), 4);
    assert_eq!(host.query_interval(), Duration::from_secs(60));
    host.join(t(5000), G1, &mut rng()).unwrap();
    let sent = run(&mut host, t(5000), t(60_000));
    assert_retransmitted(&sent, t(5000), 4);
}

#[test]
fn general_query_gets_one_mode_is_exclude_report_listing_all_groups_within_the_delay() {
    let mut host = host();
    for g in [G1, G2, G3] {
        host.join(t(0), g, &mut rng()).unwrap();
    }
    run(&mut host, t(0), t(10_000));
    let handled = host.handle_packet(
        t(20_000),
        &v2_query(Ipv6Address::UNSPECIFIED, 3000, &[]),
        &mut rng(),
    );
    assert!(matches!(handled, Handled::Query { general: true, .. }));
    let sent = run(&mut host, t(20_000), t(100_000));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].at <= t(23_000));
    let mut records = sent[0].records();
    records.sort_by_key(|r| r.1);
    let mut expected: Vec<_> = [G1, G2, G3]
        .into_iter()
        .map(|g| (RecordType::ModeIsExclude, g, vec![]))
        .collect();
    expected.sort_by_key(|r| r.1);
    assert_eq!(records, expected);
    assert_eq!(host.counters().reports_sent.current_state, 1);
    assert_eq!(host.counters().queries_v2, 1);
    if let Some(lines) = tshark_fields("general", &sent, &["icmpv6.mldr.mar.record_type"]) {
        assert_eq!(lines, ["2,2,2"]);
    }
}

#[test]
fn a_general_answer_too_long_for_the_mtu_is_split_into_several_reports() {
    let mut host: MldHost<64> = MldHost::with_capacity(Config::default());
    host.set_link_local(Some(OUR_LL)).unwrap();
    let mut rng = rng();
    for i in 0..64 {
        host.join(
            t(0),
            Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 1, i),
            &mut rng,
        )
        .unwrap();
    }
    assert_eq!(
        host.join(
            t(0),
            Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 2, 0),
            &mut rng
        ),
        Err(MldError::TableFull)
    );
    let mut buf = [0u8; 1500];
    // The state change records of 64 joins need two packets too.
    let mut lens = Vec::new();
    while let Some(len) = host.poll_transmit(t(0), &mut buf) {
        lens.push(len);
    }
    assert_eq!(lens.len(), 2);
    // Let the retransmissions go.
    let mut now = t(0);
    while let Some(at) = host.poll_timeout() {
        now = at;
        while host.poll_transmit(now, &mut buf).is_some() {}
    }
    host.handle_packet(
        now,
        &v2_query(Ipv6Address::UNSPECIFIED, 1000, &[]),
        &mut rng,
    );
    let mut groups = Vec::new();
    let mut packets = 0;
    while let Some(at) = host.poll_timeout() {
        now = now.max(at);
        while let Some(len) = host.poll_transmit(now, &mut buf) {
            assert!(len <= 1280, "{len} octets");
            packets += 1;
            let received = mld::parse_ipv6(&buf[..len]).unwrap();
            let MldMessage::ReportV2(report) = received.message else {
                panic!()
            };
            groups.extend(report.records().map(|r| r.multicast_address));
        }
    }
    assert_eq!(
        packets, 2,
        "64 records of 20 octets do not fit in 1280 - 56"
    );
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), 64);
}

#[test]
fn group_specific_query_is_answered_only_for_joined_groups() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    assert_eq!(
        host.handle_packet(t(10_000), &v2_query(G2, 1000, &[]), &mut rng()),
        Handled::QueryNotListening
    );
    assert!(run(&mut host, t(10_000), t(20_000)).is_empty());
    assert_eq!(host.counters().queries_not_listening, 1);
    host.handle_packet(t(20_000), &v2_query(G1, 1000, &[]), &mut rng());
    let sent = run(&mut host, t(20_000), t(30_000));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].at <= t(21_000));
    assert_eq!(
        sent[0].records(),
        vec![(RecordType::ModeIsExclude, G1, vec![])]
    );
}

#[test]
fn source_specific_query_is_answered_with_mode_is_include_of_the_queried_sources() {
    let s1 = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let s2 = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    host.handle_packet(t(10_000), &v2_query(G1, 1000, &[s1]), &mut rng());
    host.handle_packet(t(10_001), &v2_query(G1, 1000, &[s2, s1]), &mut rng());
    let sent = run(&mut host, t(10_001), t(20_000));
    assert_eq!(sent.len(), 1);
    // RFC 3810 §6.3: EXCLUDE (A = {}) with queried sources B = {s1, s2} answers IS_IN (B-A).
    assert_eq!(
        sent[0].records(),
        vec![(RecordType::ModeIsInclude, G1, vec![s1, s2])]
    );
    if let Some(lines) = tshark_fields("source-specific", &sent, &["icmpv6.mldr.mar.record_type"]) {
        assert_eq!(lines, ["1"]);
    }
}

#[test]
fn mldv1_query_switches_to_v1_reports_and_done_then_back_to_v2_after_the_timeout() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    let handled = host.handle_packet(
        t(10_000),
        &v1_query(Ipv6Address::UNSPECIFIED, 2000),
        &mut rng(),
    );
    assert!(matches!(
        handled,
        Handled::Query {
            version: mld::QueryVersion::V1,
            general: true
        }
    ));
    assert_eq!(host.mode(), CompatibilityMode::V1);
    assert_eq!(host.counters().queries_v1, 1);
    // The answer to the v1 query is a v1 Report to the group within 2 s.
    let answer = run(&mut host, t(10_000), t(12_000));
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].v1(), (mld::TYPE_REPORT_V1, G1));
    assert_eq!(answer[0].dst(), G1);

    // A join in v1 mode: a Report to the group at once, repeated once within 1 s.
    host.join(t(20_000), G2, &mut rng()).unwrap();
    let join = run(&mut host, t(20_000), t(30_000));
    assert_retransmitted(&join, t(20_000), 2);
    for s in &join {
        assert_eq!(s.v1(), (mld::TYPE_REPORT_V1, G2));
        assert_eq!(s.dst(), G2);
    }
    // A leave in v1 mode: one Done to ff02::2.
    host.leave(t(30_000), G2, &mut rng()).unwrap();
    let leave = run(&mut host, t(30_000), t(40_000));
    assert_eq!(leave.len(), 1);
    assert_eq!(leave[0].v1(), (mld::TYPE_DONE, G2));
    assert_eq!(leave[0].dst(), ALL_ROUTERS);
    let mut all = answer.clone();
    all.extend(join.iter().cloned());
    all.extend(leave.iter().cloned());
    if let Some(lines) = tshark_fields("v1", &all, &["icmpv6.type", "ipv6.dst"]) {
        assert_eq!(
            lines,
            [
                "131\tff15::1234",
                "131\tff0e::101",
                "131\tff0e::101",
                "132\tff02::2"
            ]
        );
    }

    // Older Version Querier Present Timeout: 2 × 125 s + 2 s after the v1 query.
    let back = t(10_000 + 252_000);
    assert_eq!(host.poll_timeout(), Some(back));
    host.handle_timeout(back - Duration::from_millis(1));
    assert_eq!(
        host.mode(),
        CompatibilityMode::V1,
        "an early timeout does nothing"
    );
    host.handle_timeout(back);
    assert_eq!(host.mode(), CompatibilityMode::V2);
    host.join(back, G3, &mut rng()).unwrap();
    let sent = run(&mut host, back, back + Duration::from_secs(10));
    assert_eq!(
        sent[0].records(),
        vec![(RecordType::ChangeToExcludeMode, G3, vec![])]
    );
}

#[test]
fn mldv1_report_from_another_host_suppresses_ours_and_then_no_done_is_sent() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    host.handle_packet(
        t(10_000),
        &v1_query(Ipv6Address::UNSPECIFIED, 10_000),
        &mut rng(),
    );
    let handled = host.handle_packet(t(10_000), &v1_report_from(OTHER_HOST_LL, G1), &mut rng());
    assert_eq!(handled, Handled::ReportFromOther { suppressed: true });
    assert_eq!(host.counters().suppressed, 1);
    assert!(
        run(&mut host, t(10_000), t(30_000)).is_empty(),
        "our report was suppressed"
    );
    // RFC 2710 §4: not the last reporter, so the leave sends nothing.
    host.leave(t(30_000), G1, &mut rng()).unwrap();
    assert!(run(&mut host, t(30_000), t(40_000)).is_empty());
    assert_eq!(host.slots_in_use(), 0);
}

#[test]
fn mldv2_reports_from_others_suppress_nothing() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    host.handle_packet(t(10_000), &v2_query(G1, 5000, &[]), &mut rng());
    let handled = host.handle_packet(t(10_000), &v1_report_from(OTHER_HOST_LL, G1), &mut rng());
    assert_eq!(handled, Handled::ReportFromOther { suppressed: false });
    assert_eq!(run(&mut host, t(10_000), t(20_000)).len(), 1);
}

#[test]
fn all_nodes_and_interface_local_groups_are_never_reported() {
    let mut host = host();
    let interface_local = Ipv6Address::new(0xff01, 0, 0, 0, 0, 0, 0, 1);
    let reserved_scope = Ipv6Address::new(0xff00, 0, 0, 0, 0, 0, 0, 0x42);
    for g in [ALL_NODES, interface_local, reserved_scope] {
        host.join(t(0), g, &mut rng()).unwrap();
    }
    assert!(run(&mut host, t(0), t(10_000)).is_empty());
    host.handle_packet(
        t(10_000),
        &v2_query(Ipv6Address::UNSPECIFIED, 1000, &[]),
        &mut rng(),
    );
    host.handle_packet(t(10_000), &v2_query(ALL_NODES, 1000, &[]), &mut rng());
    assert!(run(&mut host, t(10_000), t(20_000)).is_empty());
    for g in [ALL_NODES, interface_local, reserved_scope] {
        host.leave(t(20_000), g, &mut rng()).unwrap();
    }
    assert!(run(&mut host, t(20_000), t(30_000)).is_empty());
    assert_eq!(host.slots_in_use(), 0);
}

#[test]
fn queries_with_a_wrong_hop_limit_or_source_are_ignored_and_counted() {
    let mut host = host();
    host.join(t(0), G1, &mut rng()).unwrap();
    run(&mut host, t(0), t(10_000));
    let mut hop_64 = v2_query(Ipv6Address::UNSPECIFIED, 1000, &[]);
    hop_64[7] = 64; // the hop limit is not covered by the checksum
    assert_eq!(
        host.handle_packet(t(10_000), &hop_64, &mut rng()),
        Handled::Invalid(ValidationError::HopLimit)
    );
    let global = query_packet(
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        QueryRepr::general_v2(),
    );
    assert_eq!(
        host.handle_packet(t(10_000), &global, &mut rng()),
        Handled::Invalid(ValidationError::SourceAddress)
    );
    let mut bad_sum = v2_query(Ipv6Address::UNSPECIFIED, 1000, &[]);
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    assert_eq!(
        host.handle_packet(t(10_000), &bad_sum, &mut rng()),
        Handled::Invalid(ValidationError::Checksum)
    );
    assert!(run(&mut host, t(10_000), t(20_000)).is_empty());
    let invalid = host.counters().invalid;
    assert_eq!(
        (invalid.hop_limit, invalid.source_address, invalid.checksum),
        (1, 1, 1)
    );
    assert_eq!(host.counters().queries_v2, 0);
}

#[test]
fn reports_are_sent_from_the_unspecified_address_without_a_link_local_one() {
    let mut host = MldHost::new(Config::default());
    host.join(t(0), G1, &mut rng()).unwrap();
    let sent = run(&mut host, t(0), t(0));
    assert_eq!(sent[0].parsed().src_addr, Ipv6Address::UNSPECIFIED);
}

/// The Linux kernel's MLDv2 reports for a join and a leave of ff15::1234, recorded over TUN:
/// reports from another node, counted and ignored.
#[test]
fn linux_kernel_reports_are_counted_as_reports_from_others() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wire/tests/fixtures/mld.pcap"
    );
    let mut host = host();
    host.join(
        t(0),
        Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x1234),
        &mut rng(),
    )
    .unwrap();
    run(&mut host, t(0), t(10_000));
    let mut n = 0;
    for record in bridgeless_wire::pcap::Reader::open(fixture).unwrap() {
        let record = record.unwrap();
        let packet = record.ip().unwrap();
        let handled = host.handle_packet(t(10_000), packet, &mut rng());
        assert_eq!(handled, Handled::ReportFromOther { suppressed: false });
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(host.counters().reports_from_others, 4);
    assert_eq!(host.counters().invalid.total(), 0);
    assert!(
        run(&mut host, t(10_000), t(20_000)).is_empty(),
        "MLDv2 answers no report"
    );
}

#[derive(Debug, Clone)]
enum Action {
    Join(u8),
    Leave(u8),
    GeneralV2(u16),
    SpecificV2(u8, u16, u8),
    QueryV1(Option<u8>, u16),
    ReportV1(u8),
    Garbage(Vec<u8>),
    Advance(u16),
}

fn group(i: u8) -> Ipv6Address {
    // Mostly reportable groups, sometimes ff02::1 or an interface-local one.
    match i % 24 {
        20 => ALL_NODES,
        21 => Ipv6Address::new(0xff01, 0, 0, 0, 0, 0, 0, 5),
        _ => Ipv6Address::new(0xff05, 0, 0, 0, 0, 0, 0, u16::from(i % 24)),
    }
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        any::<u8>().prop_map(Action::Join),
        any::<u8>().prop_map(Action::Leave),
        any::<u16>().prop_map(Action::GeneralV2),
        (any::<u8>(), any::<u16>(), 0u8..12).prop_map(|(g, d, s)| Action::SpecificV2(g, d, s)),
        (proptest::option::of(any::<u8>()), any::<u16>()).prop_map(|(g, d)| Action::QueryV1(g, d)),
        any::<u8>().prop_map(Action::ReportV1),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Action::Garbage),
        any::<u16>().prop_map(Action::Advance),
    ]
}

proptest! {
    #[test]
    fn random_sequences_never_panic_overflow_or_emit_invalid_packets(
        actions in proptest::collection::vec(action(), 1..80),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut host = host();
        let mut now = t(0);
        let mut buf = [0u8; 1500];
        for action in actions {
            match action {
                Action::Join(g) => {
                    let r = host.join(now, group(g), &mut rng);
                    prop_assert!(r.is_ok() || r == Err(MldError::TableFull));
                }
                Action::Leave(g) => {
                    let r = host.leave(now, group(g), &mut rng);
                    prop_assert!(r.is_ok() || r == Err(MldError::NotJoined));
                }
                Action::GeneralV2(d) => {
                    host.handle_packet(now, &v2_query(Ipv6Address::UNSPECIFIED, d.into(), &[]), &mut rng);
                }
                Action::SpecificV2(g, d, s) => {
                    let sources: Vec<_> = (0..u16::from(s))
                        .map(|i| Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i % 10))
                        .collect();
                    host.handle_packet(now, &v2_query(group(g), d.into(), &sources), &mut rng);
                }
                Action::QueryV1(g, d) => {
                    let g = g.map_or(Ipv6Address::UNSPECIFIED, group);
                    host.handle_packet(now, &v1_query(g, d), &mut rng);
                }
                Action::ReportV1(g) => {
                    host.handle_packet(now, &v1_report_from(OTHER_HOST_LL, group(g)), &mut rng);
                }
                Action::Garbage(bytes) => {
                    prop_assert!(matches!(
                        host.handle_packet(now, &bytes, &mut rng),
                        Handled::Invalid(_)
                    ));
                }
                Action::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms) * 8);
                    host.handle_timeout(now);
                }
            }
            prop_assert!(host.slots_in_use() <= host.capacity());
            if let Some(at) = host.poll_timeout() {
                // Never a timer in the past that poll_transmit would not clear.
                if at <= now {
                    host.handle_timeout(now);
                }
            }
            let mut sent = 0;
            while let Some(len) = host.poll_transmit(now, &mut buf) {
                prop_assert!(len <= 1280);
                let received = mld::parse_ipv6(&buf[..len]);
                prop_assert!(received.is_ok(), "{:?}", received);
                let received = received.unwrap();
                prop_assert_eq!(received.src_addr, OUR_LL);
                match received.message {
                    MldMessage::ReportV2(r) => {
                        prop_assert_eq!(host.mode(), CompatibilityMode::V2);
                        prop_assert_eq!(received.dst_addr, ALL_MLDV2_ROUTERS);
                        for r in r.records() {
                            prop_assert!(bridgeless_iface::mld::is_reportable(&r.multicast_address));
                        }
                    }
                    MldMessage::ReportV1(r) => {
                        prop_assert_eq!(host.mode(), CompatibilityMode::V1);
                        prop_assert_eq!(received.dst_addr, r.multicast_address());
                        prop_assert!(bridgeless_iface::mld::is_reportable(&r.multicast_address()));
                    }
                    MldMessage::Done(_) => prop_assert_eq!(received.dst_addr, ALL_ROUTERS),
                    MldMessage::Query(_) => prop_assert!(false, "a host never queries"),
                }
                sent += 1;
                prop_assert!(sent < 100, "poll_transmit must run dry");
            }
            // After draining, nothing is due now.
            prop_assert!(host.poll_timeout().is_none_or(|at| at > now));
        }
    }
}
