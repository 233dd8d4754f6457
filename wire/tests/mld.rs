//! MLD: property tests of every parse/emit pair (queries v1 and v2 with the exponential
//! encodings, reports v1 and v2, done), robustness on arbitrary bytes, the join and leave
//! reports as the Linux kernel sends them, and an independent check with tshark.

mod support;

use bridgeless_wire::Error;
use bridgeless_wire::mld::{
    self, ALL_MLDV2_ROUTERS, AddressRecordRepr, DoneRepr, MldMessage, MldRepr, Query, QueryRepr,
    RecordType, ReportV1Repr, ReportV2, ReportV2Repr, V1Message,
};
use proptest::prelude::*;
use smoltcp::wire::Ipv6Address;

/// The kernel's link-local address in the fixtures (random interface identifier of a TUN).
const LINUX: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0x056a, 0xca05, 0x307d, 0x3ae7);
const GROUP: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x1234);
const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// Linux 6.18 joining ff15::1234 (fixture `mld.pcap`, packet 1).
#[rustfmt::skip]
const LINUX_JOIN: [u8; 76] = [
    // version 6, traffic class 0, flow label 0; payload length 36; next header 0; hop limit 1
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01,
    // source fe80::56a:ca05:307d:3ae7
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x05, 0x6a, 0xca, 0x05, 0x30, 0x7d, 0x3a, 0xe7,
    // destination ff02::16
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16,
    // Hop-by-Hop: next header 58, length 0; Router Alert (5, length 2, MLD); PadN (1, length 0)
    0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,
    // type 143, reserved, checksum 0x22f0; reserved, 1 record
    0x8f, 0x00, 0x22, 0xf0, 0x00, 0x00, 0x00, 0x01,
    // CHANGE_TO_EXCLUDE_MODE, no aux data, no sources
    0x04, 0x00, 0x00, 0x00,
    // ff15::1234
    0xff, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34,
];

/// Linux 6.18 leaving ff15::1234 (fixture `mld.pcap`, packet 3).
#[rustfmt::skip]
const LINUX_LEAVE: [u8; 76] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x05, 0x6a, 0xca, 0x05, 0x30, 0x7d, 0x3a, 0xe7,
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16,
    0x3a, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,
    // type 143, reserved, checksum 0x23f0; reserved, 1 record
    0x8f, 0x00, 0x23, 0xf0, 0x00, 0x00, 0x00, 0x01,
    // CHANGE_TO_INCLUDE_MODE, no aux data, no sources
    0x03, 0x00, 0x00, 0x00,
    0xff, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34,
];

fn address() -> impl Strategy<Value = Ipv6Address> {
    any::<u128>().prop_map(Ipv6Address::from)
}

#[derive(Debug, Clone)]
enum OwnedQuery {
    V1(u16, Ipv6Address),
    V2 {
        code: u16,
        group: Ipv6Address,
        s: bool,
        qrv: u8,
        qqic: u8,
        sources: Vec<Ipv6Address>,
    },
}

fn owned_query() -> impl Strategy<Value = OwnedQuery> {
    prop_oneof![
        (any::<u16>(), address()).prop_map(|(d, g)| OwnedQuery::V1(d, g)),
        (
            any::<u16>(),
            address(),
            any::<bool>(),
            0..8u8,
            any::<u8>(),
            prop::collection::vec(address(), 0..5)
        )
            .prop_map(|(code, group, s, qrv, qqic, sources)| OwnedQuery::V2 {
                code,
                group,
                s,
                qrv,
                qqic,
                sources
            }),
    ]
}

fn query_repr(q: &OwnedQuery) -> QueryRepr<'_> {
    match q {
        OwnedQuery::V1(delay, group) => QueryRepr::V1 {
            max_response_delay: *delay,
            multicast_address: *group,
        },
        // Values taken through the decoders, so every one is exactly representable.
        OwnedQuery::V2 {
            code,
            group,
            s,
            qrv,
            qqic,
            sources,
        } => QueryRepr::V2 {
            max_response_delay: mld::decode_max_response_code(*code),
            multicast_address: *group,
            suppress_router_processing: *s,
            qrv: *qrv,
            query_interval: mld::decode_qqic(*qqic),
            sources,
        },
    }
}

fn record_type() -> impl Strategy<Value = RecordType> {
    any::<u8>().prop_map(RecordType::from)
}

type OwnedRecord = (RecordType, Ipv6Address, Vec<Ipv6Address>);

fn owned_records() -> impl Strategy<Value = Vec<OwnedRecord>> {
    prop::collection::vec(
        (
            record_type(),
            address(),
            prop::collection::vec(address(), 0..4),
        ),
        0..6,
    )
}

fn record_reprs(records: &[OwnedRecord]) -> Vec<AddressRecordRepr<'_>> {
    records
        .iter()
        .map(|(t, g, s)| AddressRecordRepr {
            record_type: *t,
            multicast_address: *g,
            sources: s,
        })
        .collect()
}

/// Emits `repr` as a whole packet, records it for tshark, validates it and returns it.
fn emit_and_check(src: &Ipv6Address, repr: &MldRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0x5au8; 48 + repr.buffer_len()];
    let len = mld::emit_ipv6(src, &repr.destination(), repr, &mut buf).unwrap();
    assert_eq!(len, buf.len());
    support::record_emitted(&buf);
    let received = mld::parse_ipv6(&buf).unwrap();
    assert_eq!(received.src_addr, *src);
    assert_eq!(received.dst_addr, repr.destination());
    buf
}

proptest! {
    #[test]
    fn queries_round_trip(q in owned_query()) {
        let repr = query_repr(&q);
        let buf = emit_and_check(&ROUTER, &MldRepr::Query(repr));
        let MldMessage::Query(view) = mld::parse_ipv6(&buf).unwrap().message else {
            panic!("not a query");
        };
        let mut sources = [Ipv6Address::UNSPECIFIED; 8];
        let parsed = QueryRepr::parse(&view, &mut sources).unwrap();
        prop_assert_eq!(parsed, repr);
        // The encoded fields are exactly the codes the values came from.
        if let OwnedQuery::V2 { code, qqic, .. } = q {
            prop_assert_eq!(view.max_response_code(), code);
            prop_assert_eq!(view.qqic(), qqic);
        }
        let mut again = vec![0u8; repr.buffer_len()];
        parsed.emit(&mut again).unwrap();
        mld::emit_icmpv6_checksum(&ROUTER, &MldRepr::Query(repr).destination(), &mut again);
        prop_assert_eq!(&again[..], &buf[48..]);
    }

    #[test]
    fn v2_reports_round_trip(records in owned_records(), unspecified in any::<bool>()) {
        let reprs = record_reprs(&records);
        let repr = ReportV2Repr { records: &reprs };
        let src = if unspecified { Ipv6Address::UNSPECIFIED } else { LINUX };
        let buf = emit_and_check(&src, &MldRepr::ReportV2(repr));
        let MldMessage::ReportV2(view) = mld::parse_ipv6(&buf).unwrap().message else {
            panic!("not a v2 report");
        };
        prop_assert_eq!(usize::from(view.number_of_records()), records.len());
        for (record, (t, g, s)) in view.records().zip(&records) {
            prop_assert_eq!(record.record_type, *t);
            prop_assert_eq!(record.multicast_address, *g);
            prop_assert_eq!(record.sources.collect::<Vec<_>>(), s.clone());
        }
        let mut storage = [AddressRecordRepr::join(GROUP); 8];
        let mut sources = [Ipv6Address::UNSPECIFIED; 32];
        let parsed = ReportV2Repr::parse(&view, &mut storage, &mut sources).unwrap();
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn v1_reports_and_done_round_trip(group in address(), done in any::<bool>()) {
        let repr = if done {
            MldRepr::Done(DoneRepr { multicast_address: group })
        } else {
            MldRepr::ReportV1(ReportV1Repr { multicast_address: group })
        };
        let buf = emit_and_check(&LINUX, &repr);
        let parsed = match mld::parse_ipv6(&buf).unwrap().message {
            MldMessage::Done(v) => MldRepr::Done(DoneRepr::parse(&v).unwrap()),
            MldMessage::ReportV1(v) => MldRepr::ReportV1(ReportV1Repr::parse(&v).unwrap()),
            other => panic!("unexpected {other:?}"),
        };
        prop_assert_eq!(parsed, repr);
    }

    #[test]
    fn exponential_encodings(millis in any::<u32>(), secs in any::<u32>()) {
        // Rounding down: never longer than asked, and the next code would be longer.
        let code = mld::encode_max_response_code(millis);
        let back = mld::decode_max_response_code(code);
        prop_assert!(back <= millis);
        if code < u16::MAX {
            prop_assert!(mld::decode_max_response_code(code + 1) > millis);
        }
        let qqic = mld::encode_qqic(secs);
        let back = mld::decode_qqic(qqic);
        prop_assert!(back <= secs);
        if qqic < u8::MAX {
            prop_assert!(mld::decode_qqic(qqic + 1) > secs);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
        // As the message of a well-formed MLD packet too.
        let mut packet = LINUX_JOIN[..48].to_vec();
        packet[4..6].copy_from_slice(&((8 + bytes.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&bytes);
        exercise(&packet);
        if bytes.len() >= 4 {
            packet[48] = [130, 131, 132, 143][usize::from(bytes[0] % 4)];
            mld::emit_icmpv6_checksum(&LINUX, &ALL_MLDV2_ROUTERS, &mut packet[48..]);
            exercise(&packet);
        }
    }

    #[test]
    fn parsed_reports_reemit_to_an_equal_parse(body in prop::collection::vec(any::<u8>(), 4..200)) {
        let mut msg = vec![143u8, 0, 0, 0];
        msg.extend_from_slice(&body);
        msg[6] = 0;
        msg[7] %= 4;
        if let Ok(view) = ReportV2::new_checked(&msg[..]) {
            let mut storage = [AddressRecordRepr::join(GROUP); 4];
            let mut sources = [Ipv6Address::UNSPECIFIED; 16];
            let repr = ReportV2Repr::parse(&view, &mut storage, &mut sources).unwrap();
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out).unwrap();
            let view2 = ReportV2::new_checked(&out[..]).unwrap();
            let mut storage2 = [AddressRecordRepr::join(GROUP); 4];
            let mut sources2 = [Ipv6Address::UNSPECIFIED; 16];
            let repr2 = ReportV2Repr::parse(&view2, &mut storage2, &mut sources2).unwrap();
            prop_assert_eq!(repr, repr2);
        }
    }
}

/// Reads bytes every way the crate offers, touching every record and source.
fn exercise(bytes: &[u8]) {
    let message = match mld::parse_ipv6(bytes) {
        Ok(received) => Some(received.message),
        Err(e) => {
            let _ = Error::from(e);
            MldMessage::parse(bytes).ok()
        }
    };
    let mut touched = 0usize;
    match message {
        Some(MldMessage::Query(q)) => {
            let _ = (q.max_response_delay(), q.query_interval(), q.qrv());
            touched += q.sources().count();
        }
        Some(MldMessage::ReportV1(v) | MldMessage::Done(v)) => {
            let _ = v.multicast_address();
        }
        Some(MldMessage::ReportV2(r)) => {
            for record in r.records() {
                touched += 1 + record.sources.count();
            }
        }
        None => {}
    }
    assert!(touched <= bytes.len());
    let _ = Query::new_checked(bytes).map(|q| q.sources().count());
    let _ = V1Message::new_checked(bytes).map(|v| v.multicast_address());
}

#[test]
fn linux_join_and_leave_are_read_and_reproduced() {
    for (packet, record, expected_type) in [
        (
            LINUX_JOIN,
            AddressRecordRepr::join(GROUP),
            RecordType::ChangeToExcludeMode,
        ),
        (
            LINUX_LEAVE,
            AddressRecordRepr::leave(GROUP),
            RecordType::ChangeToIncludeMode,
        ),
    ] {
        let received = mld::parse_ipv6(&packet).unwrap();
        assert_eq!(received.src_addr, LINUX);
        let MldMessage::ReportV2(report) = received.message else {
            panic!("not a v2 report");
        };
        let records: Vec<_> = report.records().collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].record_type, expected_type);
        assert_eq!(records[0].multicast_address, GROUP);

        let records = [record];
        let repr = MldRepr::ReportV2(ReportV2Repr { records: &records });
        let mut buf = [0u8; 76];
        mld::emit_ipv6(&LINUX, &ALL_MLDV2_ROUTERS, &repr, &mut buf).unwrap();
        assert_eq!(buf, packet);
    }
}

/// Emits every kind of MLD packet, writes them to a capture of their own, and asks tshark
/// whether any is malformed or has a bad checksum, and what record types it sees.
#[test]
fn tshark_dissects_what_we_emit() {
    let sources = [
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
    ];
    let join = [AddressRecordRepr::join(GROUP)];
    let leave = [AddressRecordRepr::leave(GROUP)];
    let mixed = [
        AddressRecordRepr {
            record_type: RecordType::ModeIsInclude,
            multicast_address: GROUP,
            sources: &sources,
        },
        AddressRecordRepr {
            record_type: RecordType::AllowNewSources,
            multicast_address: GROUP,
            sources: &sources[..1],
        },
        AddressRecordRepr {
            record_type: RecordType::BlockOldSources,
            multicast_address: GROUP,
            sources: &sources[1..],
        },
    ];
    let reprs = [
        (
            ROUTER,
            MldRepr::Query(QueryRepr::V1 {
                max_response_delay: 10_000,
                multicast_address: Ipv6Address::UNSPECIFIED,
            }),
        ),
        (ROUTER, MldRepr::Query(QueryRepr::general_v2())),
        (
            ROUTER,
            MldRepr::Query(QueryRepr::V2 {
                max_response_delay: 40_000,
                multicast_address: GROUP,
                suppress_router_processing: true,
                qrv: 3,
                query_interval: 300,
                sources: &sources,
            }),
        ),
        (
            LINUX,
            MldRepr::ReportV1(ReportV1Repr {
                multicast_address: GROUP,
            }),
        ),
        (
            LINUX,
            MldRepr::Done(DoneRepr {
                multicast_address: GROUP,
            }),
        ),
        (LINUX, MldRepr::ReportV2(ReportV2Repr { records: &join })),
        (LINUX, MldRepr::ReportV2(ReportV2Repr { records: &leave })),
        (
            Ipv6Address::UNSPECIFIED,
            MldRepr::ReportV2(ReportV2Repr { records: &mixed }),
        ),
    ];
    let packets: Vec<Vec<u8>> = reprs
        .iter()
        .map(|(src, repr)| emit_and_check(src, repr))
        .collect();
    let Some(tshark) = support::Tshark::new("mld", &packets) else {
        return;
    };
    assert_eq!(tshark.problems(), "", "tshark found problems");
    assert_eq!(
        tshark.fields(&[
            "icmpv6.type",
            "icmpv6.checksum.status",
            "ipv6.hlim",
            "ipv6.opt.type"
        ]),
        "130\t1\t1\t0x05,0x01\n\
         130\t1\t1\t0x05,0x01\n\
         130\t1\t1\t0x05,0x01\n\
         131\t1\t1\t0x05,0x01\n\
         132\t1\t1\t0x05,0x01\n\
         143\t1\t1\t0x05,0x01\n\
         143\t1\t1\t0x05,0x01\n\
         143\t1\t1\t0x05,0x01\n"
    );
    // tshark names the join CHANGE_TO_EXCLUDE_MODE (4) and the leave CHANGE_TO_INCLUDE_MODE (3).
    assert_eq!(
        tshark.fields(&["icmpv6.mldr.mar.record_type"]),
        "\n\n\n\n\n4\n3\n1,5,6\n"
    );
    assert_eq!(
        tshark
            .fields(&[
                "icmpv6.mld.maximum_response_code",
                "icmpv6.mld.flag.s",
                "icmpv6.mld.flag.qrv",
                "icmpv6.mld.qqi",
                "icmpv6.mld.nb_sources",
            ])
            .lines()
            .nth(2),
        // tshark decodes both codes: 40000 ms is exact, 300 s rounds down to 288 s.
        Some("40000\t1\t3\t288\t2")
    );
    assert_eq!(
        tshark.fields(&["ipv6.dst"]),
        "ff02::1\nff02::1\nff15::1234\nff15::1234\nff02::2\nff02::16\nff02::16\nff02::16\n"
    );
}
