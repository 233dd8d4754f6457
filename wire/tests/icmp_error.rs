//! ICMPv6 error messages (RFC 4443 §3) built around invoking packets: smoltcp's parser reads
//! back what we wrote, the invoking bytes come back unchanged, and tshark checks every packet.

mod support;

use bridgeless_wire::frame::{
    ICMPV6_ERROR_MAX_LEN, Icmpv6Error, Ipv6Header, emit_icmpv6_error, emit_udp_v6, is_icmpv6_error,
};
use bridgeless_wire::{Error, ParamProblemCode, ParameterProblem};
use core::net::Ipv6Addr;
use proptest::prelude::*;
use smoltcp::wire::{Icmpv6Packet, IpProtocol, Ipv6Packet};

const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);
const HOST: Ipv6Addr = Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 2);
const FAR: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 9);

/// A UDP datagram from HOST to FAR with `len` payload bytes, traffic class and flow label set.
fn invoking(len: usize) -> Vec<u8> {
    let header = Ipv6Header {
        src: HOST,
        dst: FAR,
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 1,
        traffic_class: 0xb8,
        flow_label: 0x12345,
    };
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut buf = vec![0; 48 + len];
    let n = emit_udp_v6(&header, 33434, 33434, &payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn all_errors() -> [Icmpv6Error; 6] {
    [
        Icmpv6Error::DstUnreachable(0),
        Icmpv6Error::DstUnreachable(3),
        Icmpv6Error::PacketTooBig(1400),
        Icmpv6Error::TimeExceeded(0),
        Icmpv6Error::ParameterProblem(ParameterProblem {
            code: ParamProblemCode::UnrecognizedNxtHdr,
            pointer: 6,
        }),
        Icmpv6Error::ParameterProblem(ParameterProblem {
            code: ParamProblemCode::UnrecognizedOption,
            pointer: 42,
        }),
    ]
}

/// Parses `packet` with smoltcp and checks the checksum, type, code, parameter and quote.
fn check(packet: &[u8], error: Icmpv6Error, invoking: &[u8], limit: usize) {
    let ip = Ipv6Packet::new_checked(packet).expect("a whole IPv6 packet");
    assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
    assert_eq!((ip.src_addr(), ip.dst_addr()), (ROUTER, HOST));
    let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("an ICMPv6 message");
    assert!(icmp.verify_checksum(&ROUTER, &HOST));
    assert_eq!(u8::from(icmp.msg_type()), error.message_type());
    assert_eq!(icmp.msg_code(), error.code());
    let param = u32::from_be_bytes(ip.payload()[4..8].try_into().unwrap());
    match error {
        Icmpv6Error::PacketTooBig(mtu) => assert_eq!(param, mtu),
        Icmpv6Error::ParameterProblem(p) => assert_eq!(param, p.pointer),
        _ => assert_eq!(param, 0),
    }
    let quoted = &ip.payload()[8..];
    assert_eq!(
        quoted,
        &invoking[..quoted.len()],
        "the invoking bytes come back unchanged"
    );
    assert_eq!(
        quoted.len(),
        invoking.len().min(limit.min(ICMPV6_ERROR_MAX_LEN) - 48),
        "as much as fits in 1280 octets"
    );
}

#[test]
fn every_error_type_parses_back_and_quotes_the_invoking_packet() {
    for len in [0, 100, 1232 - 48, 1400, 9000] {
        let invoking = invoking(len);
        for error in all_errors() {
            let mut buf = [0u8; 2000];
            let n = emit_icmpv6_error(ROUTER, HOST, error, &invoking, &mut buf).unwrap();
            assert!(n <= ICMPV6_ERROR_MAX_LEN);
            check(&buf[..n], error, &invoking, buf.len());
            assert!(is_icmpv6_error(&buf[..n]), "our error is recognised as one");
            support::record_emitted(&buf[..n]);
        }
        assert!(
            !is_icmpv6_error(&invoking),
            "a UDP datagram is not an error"
        );
    }
}

#[test]
fn a_small_buffer_truncates_the_quote_or_is_refused() {
    let invoking = invoking(500);
    let mut buf = [0u8; 100];
    let n = emit_icmpv6_error(
        ROUTER,
        HOST,
        Icmpv6Error::TimeExceeded(0),
        &invoking,
        &mut buf,
    )
    .unwrap();
    assert_eq!(n, 100);
    check(&buf[..n], Icmpv6Error::TimeExceeded(0), &invoking, 100);
    let mut tiny = [0u8; 47];
    assert_eq!(
        emit_icmpv6_error(
            ROUTER,
            HOST,
            Icmpv6Error::TimeExceeded(0),
            &invoking,
            &mut tiny
        ),
        Err(Error::BufferTooSmall)
    );
}

proptest! {
    /// Emit then parse: type, code, parameter and the quoted bytes survive, for any invoking
    /// bytes (even ones that are not IPv6).
    #[test]
    fn emit_then_parse(
        invoking in proptest::collection::vec(any::<u8>(), 0..1600),
        which in 0usize..6,
        mtu in any::<u32>(),
        pointer in any::<u32>(),
    ) {
        let error = match all_errors()[which] {
            Icmpv6Error::PacketTooBig(_) => Icmpv6Error::PacketTooBig(mtu),
            Icmpv6Error::ParameterProblem(p) => {
                Icmpv6Error::ParameterProblem(ParameterProblem { pointer, ..p })
            }
            other => other,
        };
        let mut buf = [0u8; 1500];
        let n = emit_icmpv6_error(ROUTER, HOST, error, &invoking, &mut buf).unwrap();
        check(&buf[..n], error, &invoking, buf.len());
    }
}
