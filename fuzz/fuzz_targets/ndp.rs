//! Router discovery parsers on arbitrary bytes, read both as a whole IPv6 packet and as a bare
//! ICMPv6 message. Every option and address is visited; whatever parses into a repr is
//! emitted and parsed again, and the two reprs must agree.
#![no_main]

use std::hint::black_box;

use bridgeless_wire::ndp::{
    self, NdpMessage, NdpOption, NdpOptionRepr, NdpRepr, RouterAdvertisement,
    RouterAdvertisementRepr, RouterSolicitation, RouterSolicitationRepr,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr as Ipv6Address;

const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    if let Ok(received) = black_box(ndp::parse_ipv6(black_box(data))) {
        check(received.message);
    }
    if let Ok(message) = black_box(NdpMessage::parse(black_box(data))) {
        check(message);
    }
});

fn visit_options(options: ndp::OptionsIter<'_>) {
    for option in options {
        if let NdpOption::Rdnss(rdnss) = black_box(option) {
            for address in rdnss.addresses {
                black_box(address);
            }
        }
    }
}

fn check(message: NdpMessage<'_>) {
    match message {
        NdpMessage::RouterSolicitation(rs) => {
            visit_options(rs.options());
            if let Ok(repr) = RouterSolicitationRepr::parse(&rs) {
                let mut buf = vec![0u8; repr.buffer_len()];
                repr.emit(&mut buf).expect("emit RS");
                let again = RouterSolicitation::new_checked(&buf[..]).expect("re-read RS");
                assert_eq!(RouterSolicitationRepr::parse(&again), Ok(repr));
            }
        }
        NdpMessage::RouterAdvertisement(ra) => {
            black_box((
                ra.preference(),
                ra.managed(),
                ra.other(),
                ra.router_lifetime(),
            ));
            visit_options(ra.options());
            let len = ra.options_bytes().len();
            let mut options = vec![NdpOptionRepr::Mtu(0); len / 8];
            let mut addresses = vec![Ipv6Address::UNSPECIFIED; len / 16];
            let Ok(repr) = RouterAdvertisementRepr::parse(&ra, &mut options, &mut addresses) else {
                return;
            };
            // As a message.
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf).expect("emit RA");
            let again = RouterAdvertisement::new_checked(&buf[..]).expect("re-read RA");
            let mut options2 = vec![NdpOptionRepr::Mtu(0); len / 8];
            let mut addresses2 = vec![Ipv6Address::UNSPECIFIED; len / 16];
            let repr2 = RouterAdvertisementRepr::parse(&again, &mut options2, &mut addresses2)
                .expect("re-parse RA");
            assert_eq!(repr, repr2);
            // As a whole packet, through the receive-side validation.
            let mut packet = vec![0u8; 40 + repr.buffer_len()];
            ndp::emit_ipv6(
                &ROUTER,
                &ndp::ALL_NODES,
                &NdpRepr::RouterAdvertisement(repr),
                &mut packet,
            )
            .expect("emit RA packet");
            let received = ndp::parse_ipv6(&packet).expect("validate emitted RA");
            let NdpMessage::RouterAdvertisement(view) = received.message else {
                panic!("emitted RA read back as {:?}", received.message);
            };
            let mut options3 = vec![NdpOptionRepr::Mtu(0); len / 8];
            let mut addresses3 = vec![Ipv6Address::UNSPECIFIED; len / 16];
            let repr3 = RouterAdvertisementRepr::parse(&view, &mut options3, &mut addresses3)
                .expect("re-parse RA packet");
            assert_eq!(repr, repr3);
        }
        other => {
            black_box(other.kind());
        }
    }
}
