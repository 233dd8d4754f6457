//! Parses arbitrary bytes as a bare IP frame. Nothing may panic; when an IPv6 frame parses,
//! re-emitting its fixed header must give the same octets and the same parse. Its summary
//! line is formatted too.
#![no_main]
use std::hint::black_box;

use bridgeless_wire::frame::{self, IpVersion, Ipv6Header};
use bridgeless_wire::summary::Summary;
use libfuzzer_sys::fuzz_target;

/// Discards what it is given: formatting is exercised without allocating per input.
struct Sink;

impl std::fmt::Write for Sink {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        black_box(s);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // The one-line summary (what `bridgeless inspect` prints) reads every message type on top
    // of the parse: it must not panic either.
    let _ = std::fmt::Write::write_fmt(&mut Sink, format_args!("{}", Summary::new(data)));
    let parsed = black_box(frame::parse(black_box(data)));
    let _ = black_box(frame::parse_ipv4(black_box(data)));
    let _ = black_box(frame::parse_ipv6(black_box(data)));
    let Ok(info) = parsed else {
        return;
    };
    // The accessors read the frame again: none may panic, and they must agree with the walk.
    let _ = black_box((
        info.src(),
        info.dst(),
        info.hop_limit(),
        info.traffic_class(),
    ));
    let _ = black_box((
        info.flow_label(),
        info.payload_len(),
        info.icmp(),
        info.fragment(),
    ));
    assert_eq!(info.packet_len() + info.trailing(), data.len());
    assert!(info.upper_offset() <= info.packet_len());
    let mut at = if info.version() == IpVersion::V6 {
        40
    } else {
        info.upper_offset()
    };
    for ext in info.ext_headers() {
        assert_eq!(ext.offset(), at);
        at += ext.len();
    }
    assert_eq!(at, info.upper_offset());
    if info.ports().is_some() {
        assert!(info.upper_layer().len() >= 8);
    }
    if info.version() == IpVersion::V6 {
        let header = Ipv6Header::parse(data).expect("a parsed IPv6 frame has a header");
        let mut copy = data.to_vec();
        header.emit(&mut copy).expect("emit into the same length");
        assert_eq!(copy, data, "the fixed header is canonical");
        assert_eq!(
            frame::parse_ipv6(&copy),
            Ok(info),
            "parse after emit agrees"
        );
    }
});
