//! Fuzzes the compressed frame format. The first byte picks the mode:
//!
//! - 0: the rest is a received frame. Decompressing must not panic, and a packet it yields must
//!   come back unchanged through compress and decompress.
//! - 1: the rest is a packet handed to the compressor, version nibble forced to 6.
//! - 2: as 1, with the Payload Length (and, if the next byte says so, a UDP Length) made to
//!   match so the compressed path is taken.
//!
//! In modes 1 and 2, whenever compress succeeds, decompress must give the packet back byte for
//! byte, and the frame must not be longer than the packet.
#![no_main]

use std::hint::black_box;

use arbitrary::Unstructured;
use bridgeless_wire::compressed::{
    Context, Ipv6Cidr, MAX_REBUILT_HEADER_LEN, compress, decompress, decompressed_header, kind,
};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;

/// The compressing end's context: the same IIDs and prefixes as the unit tests, so their
/// frames make good seeds.
fn sender() -> Context {
    let mut c = Context::new([2, 0, 0, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 0, 0, 0x0b]);
    let p1: Ipv6Addr = "2001:db8:1::".parse().unwrap();
    let p2: Ipv6Addr = "2001:db8:2::".parse().unwrap();
    c.set_prefix(0, Ipv6Cidr::new(p1, 64)).unwrap();
    c.set_prefix(3, Ipv6Cidr::new(p2, 48)).unwrap();
    c
}

/// Compresses with `tx`, decompresses with `tx.mirrored()`, and checks the packet comes back.
fn round_trip(tx: &Context, packet: &[u8]) {
    let mut frame = vec![0u8; packet.len()];
    let Ok(outcome) = compress(tx, packet, &mut frame) else {
        return;
    };
    let frame = &frame[..outcome.len()];
    assert!(frame.len() <= packet.len());
    let rx = tx.mirrored();
    let mut back = vec![0u8; packet.len()];
    let n = decompress(&rx, frame, &mut back).expect("a frame we compressed decompresses");
    assert_eq!(&back[..n], packet);
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.arbitrary::<u8>() else {
        return;
    };
    let tx = sender();
    let rx = tx.mirrored();
    match mode % 3 {
        0 => {
            let frame = u.take_rest();
            let _ = black_box(kind(black_box(frame)));
            let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
            let _ = black_box(decompressed_header(&rx, black_box(frame), &mut hdr));
            let mut out = vec![0u8; frame.len() + MAX_REBUILT_HEADER_LEN];
            if let Ok(n) = decompress(&rx, black_box(frame), &mut out) {
                // The packet came from the peer, so it goes round again from the peer's side.
                round_trip(&tx, &out[..n]);
            }
        }
        m => {
            let fix = u.arbitrary::<u8>().unwrap_or(0);
            let mut packet = u.take_rest().to_vec();
            let Some(first) = packet.first_mut() else {
                return;
            };
            *first = 0x60 | (*first & 0x0f);
            if m == 2 && packet.len() >= 40 {
                let payload = (packet.len() - 40).min(0xffff) as u16;
                packet.truncate(40 + usize::from(payload));
                packet[4..6].copy_from_slice(&payload.to_be_bytes());
                if fix & 1 != 0 && payload >= 8 {
                    packet[6] = 17;
                    packet[44..46].copy_from_slice(&payload.to_be_bytes());
                }
            }
            round_trip(&tx, black_box(&packet));
        }
    }
});
