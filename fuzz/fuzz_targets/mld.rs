//! MLD parsers on arbitrary bytes, read both as a whole IPv6 packet and as a bare ICMPv6
//! message. Every record and source is visited; whatever parses into a repr is emitted and
//! parsed again, and the two reprs must agree.
#![no_main]

use std::hint::black_box;
use std::net::Ipv6Addr as Ipv6Address;

use bridgeless_wire::mld::{
    self, AddressRecordRepr, DoneRepr, MldMessage, MldRepr, Query, QueryRepr, ReportV1Repr,
    ReportV2, ReportV2Repr, V1Message,
};
use libfuzzer_sys::fuzz_target;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    if let Ok(received) = black_box(mld::parse_ipv6(black_box(data))) {
        check(received.message);
    }
    if let Ok(message) = black_box(MldMessage::parse(black_box(data))) {
        check(message);
    }
});

/// Emits `repr` as a whole packet and reads it back through the receive-side validation.
fn emit_packet(repr: &MldRepr<'_>) -> Vec<u8> {
    let mut packet = vec![0u8; 48 + repr.buffer_len()];
    mld::emit_ipv6(&ROUTER, &repr.destination(), repr, &mut packet).expect("emit packet");
    let received = mld::parse_ipv6(&packet).expect("validate emitted packet");
    assert_eq!(received.dst_addr, repr.destination());
    packet
}

fn check(message: MldMessage<'_>) {
    match message {
        MldMessage::Query(query) => {
            black_box((
                query.max_response_delay(),
                query.query_interval(),
                query.qrv(),
            ));
            for source in query.sources() {
                black_box(source);
            }
            let mut sources =
                vec![Ipv6Address::UNSPECIFIED; usize::from(query.number_of_sources())];
            let Ok(repr) = QueryRepr::parse(&query, &mut sources) else {
                return;
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("emit query");
            let again = Query::new_checked(&buf[..]).expect("re-read query");
            let mut sources2 =
                vec![Ipv6Address::UNSPECIFIED; usize::from(query.number_of_sources())];
            assert_eq!(QueryRepr::parse(&again, &mut sources2), Ok(repr));
            let packet = emit_packet(&MldRepr::Query(repr));
            let MldMessage::Query(view) = mld::MldMessage::parse(&packet[48..]).unwrap() else {
                panic!("query read back as something else");
            };
            let mut sources3 =
                vec![Ipv6Address::UNSPECIFIED; usize::from(query.number_of_sources())];
            assert_eq!(QueryRepr::parse(&view, &mut sources3), Ok(repr));
        }
        MldMessage::ReportV1(v1) => {
            let repr = ReportV1Repr::parse(&v1).expect("v1 report");
            let packet = emit_packet(&MldRepr::ReportV1(repr));
            let again = V1Message::new_checked(&packet[48..]).unwrap();
            assert_eq!(ReportV1Repr::parse(&again), Ok(repr));
        }
        MldMessage::Done(v1) => {
            let repr = DoneRepr::parse(&v1).expect("done");
            let packet = emit_packet(&MldRepr::Done(repr));
            let again = V1Message::new_checked(&packet[48..]).unwrap();
            assert_eq!(DoneRepr::parse(&again), Ok(repr));
        }
        MldMessage::ReportV2(report) => {
            let mut total_sources = 0;
            for record in report.records() {
                black_box((
                    record.record_type,
                    record.aux_data_len,
                    record.multicast_address,
                ));
                for source in record.sources {
                    total_sources += 1;
                    black_box(source);
                }
            }
            let n = usize::from(report.number_of_records());
            let mut records = vec![AddressRecordRepr::join(ROUTER); n];
            let mut sources = vec![Ipv6Address::UNSPECIFIED; total_sources];
            let repr = ReportV2Repr::parse(&report, &mut records, &mut sources)
                .expect("a checked report fits storage sized from it");
            let packet = emit_packet(&MldRepr::ReportV2(repr));
            let again = ReportV2::new_checked(&packet[48..]).expect("re-read report");
            let mut records2 = vec![AddressRecordRepr::join(ROUTER); n];
            let mut sources2 = vec![Ipv6Address::UNSPECIFIED; total_sources];
            assert_eq!(
                ReportV2Repr::parse(&again, &mut records2, &mut sources2),
                Ok(repr)
            );
        }
    }
}
