//! DHCPv6 parsers on arbitrary bytes: every option, nested ones included, is visited; whatever
//! parses into a repr is emitted and parsed again, and the two reprs must agree, as must the
//! bytes emitted from each.
#![no_main]

use std::hint::black_box;

use bridgeless_wire::dhcpv6::{
    DhcpOption, IaPdRepr, IaPrefixRepr, MessageRepr, OptionsIter, Packet,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let packet = Packet::new_unchecked(data);
    black_box((packet.msg_type(), packet.transaction_id()));
    visit(packet.options(), 0);
    let _ = black_box(Packet::new_checked(black_box(data)));

    let mut pds = vec![IaPdRepr::default(); data.len() / 16];
    let mut prefixes = vec![IaPrefixRepr::default(); data.len() / 29];
    let mut codes = vec![0u16; data.len() / 2];
    let Ok(repr) = black_box(MessageRepr::parse(
        &packet,
        &mut pds,
        &mut prefixes,
        &mut codes,
    )) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
    let again = Packet::new_checked(&buf[..]).expect("re-read emitted message");
    let mut pds2 = vec![IaPdRepr::default(); buf.len() / 16];
    let mut prefixes2 = vec![IaPrefixRepr::default(); buf.len() / 29];
    let mut codes2 = vec![0u16; buf.len() / 2];
    let repr2 = MessageRepr::parse(&again, &mut pds2, &mut prefixes2, &mut codes2)
        .expect("re-parse emitted message");
    assert_eq!(repr, repr2);
    let mut buf2 = vec![0u8; repr2.buffer_len()];
    assert_eq!(repr2.emit(&mut buf2), Ok(buf2.len()));
    assert_eq!(buf, buf2);
});

fn visit(options: OptionsIter<'_>, depth: usize) {
    for option in options {
        match black_box(option) {
            Ok(DhcpOption::IaPd(ia) | DhcpOption::IaNa(ia)) if depth < 8 => {
                visit(ia.options, depth + 1)
            }
            Ok(DhcpOption::IaPrefix(p)) if depth < 8 => visit(p.options, depth + 1),
            Ok(DhcpOption::Oro(codes)) => {
                for code in codes {
                    black_box(code);
                }
            }
            Ok(DhcpOption::StatusCode(s)) => {
                black_box(s.message_str());
            }
            _ => {}
        }
    }
}
