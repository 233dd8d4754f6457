//! Link hellos: parse∘emit round trips, and arbitrary bytes never panic.

use bridgeless_wire::negotiation::{HELLO_LEN, HelloRepr};
use proptest::prelude::*;

proptest! {
    #[test]
    fn emit_then_parse_gives_the_hello_back(sender in any::<[u8; 8]>(), receiver in proptest::option::of(any::<[u8; 8]>())) {
        let repr = HelloRepr { sender_iid: sender, receiver_iid: receiver };
        let mut buf = [0xa5u8; HELLO_LEN + 4];
        prop_assert_eq!(repr.emit(&mut buf), Ok(HELLO_LEN));
        prop_assert_eq!(HelloRepr::parse(&buf), Ok(repr));
    }

    #[test]
    fn parse_of_anything_agrees_with_its_reemission(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(repr) = HelloRepr::parse(&bytes) {
            let mut buf = [0u8; HELLO_LEN];
            repr.emit(&mut buf).unwrap();
            prop_assert_eq!(HelloRepr::parse(&buf), Ok(repr));
        }
    }
}
