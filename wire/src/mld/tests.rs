use super::*;

const HOST: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x3456);
const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const MDNS: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
const GROUP: Ipv6Address = Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, 0x101);
const S1: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const S2: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// An MLDv2 report joining ff02::fb (mDNS) as Linux sends it when a socket joins the group.
#[rustfmt::skip]
const LINUX_JOIN: [u8; 76] = [
    // IPv6: version 6, payload length 36, next header 0 (Hop-by-Hop), hop limit 1
    0x60, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x01,
    // source fe80::5054:ff:fe12:3456
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56,
    // destination ff02::16 (all MLDv2-capable routers)
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16,
    // Hop-by-Hop: next header 58, length 0 (8 octets)
    0x3a, 0x00,
    // Router Alert: type 5, length 2, value 0 (MLD)
    0x05, 0x02, 0x00, 0x00,
    // PadN with no data
    0x01, 0x00,
    // ICMPv6 type 143, reserved, checksum
    0x8f, 0x00, 0xeb, 0x53,
    // reserved, 1 record
    0x00, 0x00, 0x00, 0x01,
    // record: CHANGE_TO_EXCLUDE_MODE, aux data len 0, 0 sources
    0x04, 0x00, 0x00, 0x00,
    // ff02::fb
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb,
];

/// A general MLDv1 query (24 octets) from fe80::1 to ff02::1.
#[rustfmt::skip]
const QUERY_V1: [u8; 24] = [
    // type 130, code 0, checksum (for fe80::1 -> ff02::1)
    0x82, 0x00, 0x59, 0x17,
    // maximum response delay 10000 ms, reserved
    0x27, 0x10, 0x00, 0x00,
    // multicast address :: (general query)
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A group-and-source-specific MLDv2 query for ff0e::101 with two sources.
#[rustfmt::skip]
const QUERY_V2: [u8; 60] = [
    // type 130, code 0, checksum (for fe80::1 -> ff0e::101)
    0x82, 0x00, 0x97, 0xc3,
    // maximum response code 0x8123: exp 0, mant 0x123 -> (0x1123 << 3) = 35096 ms; reserved
    0x81, 0x23, 0x00, 0x00,
    // multicast address ff0e::101
    0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
    // resv 0, S=1, QRV=2; QQIC 0x89: exp 0, mant 9 -> 25 << 3 = 200 s; 2 sources
    0x0a, 0x89, 0x00, 0x02,
    // 2001:db8::1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    // 2001:db8::2
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
];

#[test]
fn linux_join_is_read_and_reproduced() {
    let received = parse_ipv6(&LINUX_JOIN).unwrap();
    assert_eq!(received.src_addr, HOST);
    assert_eq!(received.dst_addr, ALL_MLDV2_ROUTERS);
    let MldMessage::ReportV2(report) = received.message else {
        panic!("not a v2 report");
    };
    assert_eq!(report.number_of_records(), 1);
    let records: [AddressRecord<'_>; 1] = [report.records().next().unwrap()];
    assert_eq!(records[0].record_type, RecordType::ChangeToExcludeMode);
    assert_eq!(records[0].aux_data_len, 0);
    assert_eq!(records[0].multicast_address, MDNS);
    assert_eq!(records[0].sources.len(), 0);
    assert_eq!(report.records().count(), 1);

    let join = [AddressRecordRepr::join(MDNS)];
    let repr = MldRepr::ReportV2(ReportV2Repr { records: &join });
    assert_eq!(repr.destination(), ALL_MLDV2_ROUTERS);
    let mut buf = [0x55u8; 128];
    let len = emit_ipv6(&HOST, &repr.destination(), &repr, &mut buf).unwrap();
    assert_eq!(&buf[..len], &LINUX_JOIN[..]);

    let mut records = [AddressRecordRepr::leave(GROUP); 2];
    let mut sources = [];
    let parsed = ReportV2Repr::parse(&report, &mut records, &mut sources).unwrap();
    assert_eq!(parsed.records, &join);
}

#[test]
fn join_and_leave_are_the_rfc3810_records() {
    let join = AddressRecordRepr::join(GROUP);
    assert_eq!(join.record_type, RecordType::ChangeToExcludeMode);
    assert_eq!(u8::from(join.record_type), 4);
    assert!(join.sources.is_empty());
    let leave = AddressRecordRepr::leave(GROUP);
    assert_eq!(leave.record_type, RecordType::ChangeToIncludeMode);
    assert_eq!(u8::from(leave.record_type), 3);
    assert!(leave.sources.is_empty());
    for value in 0..=255u8 {
        assert_eq!(u8::from(RecordType::from(value)), value);
    }
}

#[test]
fn mldv1_query() {
    let query = Query::new_checked(&QUERY_V1[..]).unwrap();
    assert_eq!(query.version(), QueryVersion::V1);
    assert!(query.verify_checksum(&ROUTER, &ALL_NODES));
    assert_eq!(query.max_response_delay(), 10_000);
    assert!(query.is_general());
    assert_eq!(query.qrv(), 0);
    assert_eq!(query.sources().count(), 0);
    let repr = QueryRepr::parse(&query, &mut []).unwrap();
    assert_eq!(
        repr,
        QueryRepr::V1 {
            max_response_delay: 10_000,
            multicast_address: Ipv6Address::UNSPECIFIED
        }
    );
    let mut buf = [0xeeu8; 24];
    repr.emit(&mut buf).unwrap();
    emit_icmpv6_checksum(&ROUTER, &ALL_NODES, &mut buf);
    assert_eq!(buf, QUERY_V1);
}

#[test]
fn mldv2_query() {
    let query = Query::new_checked(&QUERY_V2[..]).unwrap();
    assert_eq!(query.version(), QueryVersion::V2);
    assert!(query.verify_checksum(&ROUTER, &GROUP));
    assert_eq!(query.max_response_code(), 0x8123);
    assert_eq!(query.max_response_delay(), 35_096);
    assert_eq!(query.multicast_address(), GROUP);
    assert!(query.suppress_router_processing());
    assert_eq!(query.qrv(), 2);
    assert_eq!(query.qqic(), 0x89);
    assert_eq!(query.query_interval(), 200);
    assert!(query.sources().eq([S1, S2]));

    let mut sources = [Ipv6Address::UNSPECIFIED; 2];
    let repr = QueryRepr::parse(&query, &mut sources).unwrap();
    assert_eq!(
        repr,
        QueryRepr::V2 {
            max_response_delay: 35_096,
            multicast_address: GROUP,
            suppress_router_processing: true,
            qrv: 2,
            query_interval: 200,
            sources: &[S1, S2],
        }
    );
    let mut buf = [0u8; 60];
    repr.emit(&mut buf).unwrap();
    emit_icmpv6_checksum(&ROUTER, &GROUP, &mut buf);
    assert_eq!(buf, QUERY_V2);
    assert_eq!(MldRepr::Query(repr).destination(), GROUP);

    let mut one = [Ipv6Address::UNSPECIFIED; 1];
    assert_eq!(
        QueryRepr::parse(&query, &mut one),
        Err(Error::BufferTooSmall)
    );
}

#[test]
fn query_lengths_of_rfc3810_section_8_1() {
    assert_eq!(Query::new_checked(&QUERY_V2[..23]), Err(Error::Truncated));
    for len in 25..28 {
        assert_eq!(Query::new_checked(&QUERY_V2[..len]), Err(Error::Malformed));
    }
    // 28 octets announcing 2 sources.
    assert_eq!(Query::new_checked(&QUERY_V2[..59]), Err(Error::Truncated));
    // Additional data after the sources is ignored (RFC 3810 §5.1.12).
    let mut longer = [0u8; 64];
    longer[..60].copy_from_slice(&QUERY_V2);
    let query = Query::new_checked(&longer[..]).unwrap();
    assert_eq!(query.sources().count(), 2);
}

#[test]
fn exponential_codes() {
    // RFC 3810 §5.1.3
    assert_eq!(decode_max_response_code(0), 0);
    assert_eq!(decode_max_response_code(32767), 32767);
    assert_eq!(decode_max_response_code(0x8000), 32768);
    assert_eq!(decode_max_response_code(0xffff), 0x1fff << 10);
    assert_eq!(encode_max_response_code(32767), 32767);
    assert_eq!(encode_max_response_code(32768), 0x8000);
    assert_eq!(encode_max_response_code(35_096), 0x8123);
    assert_eq!(encode_max_response_code(35_097), 0x8123, "rounds down");
    assert_eq!(encode_max_response_code(u32::MAX), 0xffff);
    // RFC 3810 §5.1.9
    assert_eq!(decode_qqic(125), 125);
    assert_eq!(decode_qqic(0x80), 128);
    assert_eq!(decode_qqic(0xff), 31 << 10);
    assert_eq!(encode_qqic(127), 127);
    assert_eq!(encode_qqic(128), 0x80);
    assert_eq!(encode_qqic(200), 0x89);
    assert_eq!(encode_qqic(u32::MAX), 0xff);
    for code in 0..=u16::MAX {
        assert_eq!(
            encode_max_response_code(decode_max_response_code(code)),
            code
        );
    }
    for code in 0..=u8::MAX {
        assert_eq!(encode_qqic(decode_qqic(code)), code);
    }
}

#[test]
fn v1_report_and_done() {
    let mut buf = [0u8; 72];
    let report = MldRepr::ReportV1(ReportV1Repr {
        multicast_address: GROUP,
    });
    let len = emit_ipv6(&HOST, &report.destination(), &report, &mut buf).unwrap();
    assert_eq!(len, 72);
    let received = parse_ipv6(&buf[..len]).unwrap();
    assert_eq!(received.dst_addr, GROUP);
    let MldMessage::ReportV1(v1) = received.message else {
        panic!("not a v1 report");
    };
    assert_eq!(
        ReportV1Repr::parse(&v1),
        Ok(ReportV1Repr {
            multicast_address: GROUP
        })
    );
    assert_eq!(DoneRepr::parse(&v1), Err(Error::Malformed));

    let done = MldRepr::Done(DoneRepr {
        multicast_address: GROUP,
    });
    assert_eq!(done.destination(), ALL_ROUTERS);
    let len = emit_ipv6(&HOST, &ALL_ROUTERS, &done, &mut buf).unwrap();
    let MldMessage::Done(v1) = parse_ipv6(&buf[..len]).unwrap().message else {
        panic!("not a done");
    };
    assert_eq!(v1.multicast_address(), GROUP);
}

#[test]
fn receive_checks() {
    // Reports may come from :: (RFC 3810 §5.2.13).
    let mut p = LINUX_JOIN;
    p[8..24].fill(0);
    refresh_checksum(&mut p);
    assert!(parse_ipv6(&p).is_ok());
    // but not from a global address.
    p[8] = 0x20;
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::SourceAddress));

    let mut p = LINUX_JOIN;
    p[7] = 255;
    assert_eq!(parse_ipv6(&p), Err(ValidationError::HopLimit));

    let mut p = LINUX_JOIN;
    p[44] = 1; // Router Alert value 1 (RSVP)
    assert_eq!(parse_ipv6(&p), Err(ValidationError::RouterAlert));

    let mut p = LINUX_JOIN;
    p[42] = 0x1e; // an unknown skippable option instead of the Router Alert
    assert_eq!(parse_ipv6(&p), Err(ValidationError::RouterAlert));

    let mut p = LINUX_JOIN;
    p[56] = 3; // record type changed, checksum not
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Checksum));

    // A record announcing a source the message does not hold.
    let mut p = LINUX_JOIN;
    p[59] = 1;
    refresh_checksum(&mut p);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::Truncated));

    // No Hop-by-Hop header at all: the ICMPv6 message right after the fixed header.
    let mut p = [0u8; 68];
    p[..40].copy_from_slice(&LINUX_JOIN[..40]);
    p[5] = 28;
    p[6] = 58;
    p[40..].copy_from_slice(&LINUX_JOIN[48..]);
    emit_icmpv6_checksum(&HOST, &ALL_MLDV2_ROUTERS, &mut p[40..]);
    assert_eq!(parse_ipv6(&p), Err(ValidationError::RouterAlert));

    // Queries must come from a link-local address, never ::.
    let query = MldRepr::Query(QueryRepr::general_v2());
    let mut buf = [0u8; 128];
    let len = emit_ipv6(&ROUTER, &ALL_NODES, &query, &mut buf).unwrap();
    assert!(parse_ipv6(&buf[..len]).is_ok());
    let len = emit_ipv6(&Ipv6Address::UNSPECIFIED, &ALL_NODES, &query, &mut buf).unwrap();
    assert_eq!(parse_ipv6(&buf[..len]), Err(ValidationError::SourceAddress));

    // A 26-octet query is ignored.
    let mut q = [0u8; 76];
    let len = emit_ipv6(&ROUTER, &ALL_NODES, &query, &mut q).unwrap();
    assert_eq!(len, 76);
    q[5] -= 2;
    ipv6::refresh_checksum(&mut q, 48, 74);
    assert_eq!(parse_ipv6(&q[..74]), Err(ValidationError::Malformed));

    // Something else than MLD.
    let mut p = LINUX_JOIN;
    p[48] = 128;
    assert_eq!(parse_ipv6(&p), Err(ValidationError::NotMld));
}

/// Rewrites the ICMPv6 checksum of a packet laid out as [`emit_ipv6`] writes it.
fn refresh_checksum(packet: &mut [u8]) {
    let len = packet.len();
    ipv6::refresh_checksum(packet, 48, len);
}

#[test]
fn records_with_sources_and_aux_data() {
    #[rustfmt::skip]
    let msg: [u8; 84] = [
        // type 143, reserved, checksum (not checked here), reserved, 2 records
        0x8f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
        // ALLOW_NEW_SOURCES, aux data len 1 (4 octets), 1 source, ff0e::101
        0x05, 0x01, 0x00, 0x01,
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        // auxiliary data, ignored
        0xde, 0xad, 0xbe, 0xef,
        // type 9 (not defined), no aux data, 1 source, ff0e::101
        0x09, 0x00, 0x00, 0x01,
        0xff, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    ];
    let MldMessage::ReportV2(report) = MldMessage::parse(&msg).unwrap() else {
        panic!("not a v2 report");
    };
    let mut records = report.records();
    let first = records.next().unwrap();
    assert_eq!(first.record_type, RecordType::AllowNewSources);
    assert_eq!(first.aux_data_len, 1);
    assert!(first.sources.eq([S1]));
    let second = records.next().unwrap();
    assert_eq!(second.record_type, RecordType::Unknown(9));
    assert!(second.sources.eq([S2]));
    assert!(records.next().is_none());

    let mut storage = [AddressRecordRepr::join(GROUP); 2];
    let mut sources = [Ipv6Address::UNSPECIFIED; 1];
    assert_eq!(
        ReportV2Repr::parse(&report, &mut storage, &mut sources),
        Err(Error::BufferTooSmall)
    );
    let mut sources = [Ipv6Address::UNSPECIFIED; 2];
    let repr = ReportV2Repr::parse(&report, &mut storage, &mut sources).unwrap();
    assert_eq!(repr.records[0].sources, &[S1]);
    assert_eq!(repr.records[1].sources, &[S2]);
    // Re-emitted without the auxiliary data.
    assert_eq!(repr.buffer_len(), 80);
    // One record too many announced.
    let mut short = msg;
    short[7] = 3;
    assert_eq!(ReportV2::new_checked(&short[..]), Err(Error::Truncated));
}
