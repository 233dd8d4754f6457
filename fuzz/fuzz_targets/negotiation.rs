//! Parses arbitrary bytes as a link hello; whatever parses must re-emit to an equal hello.
#![no_main]
use std::hint::black_box;

use bridgeless_wire::negotiation::{HELLO_LEN, HelloRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = black_box(HelloRepr::parse(black_box(data))) {
        let mut buf = [0u8; HELLO_LEN];
        repr.emit(&mut buf).expect("a hello fits in HELLO_LEN");
        assert_eq!(HelloRepr::parse(&buf), Ok(repr));
        assert_eq!(
            buf[..],
            data[..HELLO_LEN]
                .iter()
                .enumerate()
                .map(|(i, b)| match i {
                    2 => b & 1,
                    3 => 0,
                    12..=19 if data[2] & 1 == 0 => 0,
                    _ => *b,
                })
                .collect::<Vec<u8>>()[..]
        );
    }
});
