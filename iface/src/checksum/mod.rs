//! The Internet checksum (RFC 1071), fast, and the TCP and UDP checksums built on it.
//!
//! [`data`] computes what `smoltcp::wire::checksum::data` computes — the one's-complement sum
//! of the data as 16-bit big-endian words, folded to 16 bits, not complemented — bit for bit,
//! in about half the time on a processor with AVX2 or AVX-512. It uses the freedoms RFC 1071
//! §2 grants the sum:
//!
//! - **byte order independence** (§2 (B)): the words are summed in the processor's own byte
//!   order and the result is swapped once at the end;
//! - **parallel summation** (§2 (C)): the data is read as 64-bit words, each counting as four
//!   16-bit words, since 2^16 ≡ 1 modulo 2^16 − 1;
//! - **deferred carries** (§2 (D)): a 64-bit word is split into its two 32-bit halves, whose
//!   sums cannot overflow 64 bits for any slice of less than 32 GiB, and the carries are
//!   folded back once at the end. The split needs no shuffle: the high halves are summed
//!   shifted down (`w >> 32`), the whole words are summed wrapping, and the low halves' sum is
//!   the wrapped sum less the high halves' sum shifted back.
//!
//! The loop is plain Rust that the compiler vectorizes; with the `std` feature on x86-64 it is
//! also compiled for AVX2 and AVX-512 and the build the processor supports is chosen at run
//! time ([`Isa`]). Without `std`, or on another architecture, the portable build runs.
//!
//! [`verify`] and [`fill`] apply it to the TCP and UDP checksums of a bare IP packet, with the
//! pseudo-header of RFC 8200 §8.1 (IPv6) or RFC 9293 §3.1 and RFC 768 (IPv4): the receive
//! filter uses them to take the checksums over from smoltcp
//! ([`ReceiveFilter::offload_checksums`](crate::filter::ReceiveFilter::offload_checksums)).
//!
//! ```
//! use bridgeless_iface::checksum;
//!
//! // RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
//! let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::data(&bytes), 0xddf2);
//! assert_eq!(checksum::combine(&[checksum::data(&bytes[..4]), checksum::data(&bytes[4..])]), 0xddf2);
//! ```

mod arch;
mod transport;

pub use arch::Isa;
pub use transport::{Protocols, Verdict, fill, verify};

/// The one's-complement sum of `bytes` as 16-bit big-endian words (an odd last byte padded with
/// a zero byte), folded to 16 bits and not complemented (RFC 1071): the same value as
/// `smoltcp::wire::checksum::data`, computed with the widest vector instructions available.
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    finish(arch::accumulate(bytes))
}

/// [`data`] computed with `isa`, or `None` if this processor or build cannot run it: for
/// comparing the builds.
pub fn data_using(isa: Isa, bytes: &[u8]) -> Option<u16> {
    arch::accumulate_with(isa, bytes).map(finish)
}

/// [`data`] as the crate was compiled, without run-time selection.
pub fn data_portable(bytes: &[u8]) -> u16 {
    finish(accumulate(bytes))
}

/// The one's-complement sum of partial sums (each a [`data`] of a slice starting at an even
/// offset), folded to 16 bits: `smoltcp::wire::checksum::combine`.
pub fn combine(sums: &[u16]) -> u16 {
    let s = sums.iter().fold(0u64, |s, &w| s + u64::from(w));
    fold(s)
}

/// Slices are summed in blocks of this many bytes, so that the sum of the 32-bit high halves
/// of a block's 64-bit words never overflows 64 bits (it stays below 2^27 · 2^32).
const BLOCK: usize = 1 << 30;

/// The one's-complement sum of `bytes` read as 16-bit words in the processor's byte order,
/// not yet folded: congruent modulo 2^16 − 1 to the sum of the words, and zero only if every
/// byte is. `bytes` is taken to start at an even offset of the checksummed data.
#[inline(always)]
fn accumulate(bytes: &[u8]) -> u64 {
    let mut sum = 0;
    for block in bytes.chunks(BLOCK) {
        sum = add(sum, accumulate_block(block));
    }
    sum
}

/// [`accumulate`] for at most [`BLOCK`] bytes. The compiler vectorizes the loop: one load,
/// one shift and two additions per vector of words, no shuffle.
#[inline(always)]
fn accumulate_block(bytes: &[u8]) -> u64 {
    let (words, tail) = bytes.as_chunks::<8>();
    let mut sum = 0u64;
    if words.len() < SHORT_WORDS {
        // A header or an acknowledgement: one add-with-carry per word costs less than
        // setting up and reducing vector registers.
        for w in words {
            sum = add(sum, u64::from_ne_bytes(*w));
        }
    } else {
        let mut total = 0u64; // every word, wrapping
        let mut high = 0u64; // the high halves, exact: fewer than 2^32 of them
        for w in words {
            let w = u64::from_ne_bytes(*w);
            total = total.wrapping_add(w);
            high = high.wrapping_add(w >> 32);
        }
        // The low halves' sum, exact: it is below 2^64, and congruent to this modulo 2^64.
        sum = add(total.wrapping_sub(high << 32), high);
    }
    // The tail starts at a multiple of 8, so its 4-, 2- and 1-byte pieces start at even
    // offsets: each read in the processor's byte order is a sum of whole 16-bit words (the
    // last byte the high-order byte of a word padded with zero).
    let mut rest = tail;
    let mut t = 0u64;
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        t += u64::from(u32::from_ne_bytes(*w));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        t += u64::from(u16::from_ne_bytes(*w));
        rest = r;
    }
    if let Some(&b) = rest.first() {
        t += u64::from(u16::from_ne_bytes([b, 0]));
    }
    add(sum, t)
}

/// Slices of fewer 64-bit words than this are summed one word at a time.
const SHORT_WORDS: usize = 16;

/// One's-complement addition of 64-bit words (2^64 ≡ 1 modulo 2^16 − 1, so the carry comes
/// back in at the bottom). Zero only if both are.
#[inline(always)]
fn add(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// Folds a sum to 16 bits with end-around carries: 0 only for 0, otherwise the value in
/// 1..=0xffff congruent to it modulo 2^16 − 1 — exactly what smoltcp's `propagate_carries`
/// returns for the same sum.
#[inline(always)]
fn fold(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// [`fold`] a sum of words in the processor's byte order and return it as a big-endian
/// word's value (RFC 1071 §2 (B): swapping the bytes of the folded sum is the sum of the
/// swapped words).
#[inline(always)]
fn finish(s: u64) -> u16 {
    u16::from_be(fold(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::wire::checksum as smoltcp;

    /// Every build this machine can run.
    fn builds() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_available())
    }

    #[test]
    fn rfc1071_example_and_edges() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 → 2ddf0 → ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        // Zero only for all-zero data; 0xffff for a sum congruent to zero otherwise.
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0; 999]), 0);
        assert_eq!(data(&[0xff, 0xff]), 0xffff);
        assert_eq!(data(&[0xff; 4096]), 0xffff);
        assert_eq!(data(&[0x12]), 0x1200);
        for isa in builds() {
            assert_eq!(data_using(isa, &bytes), Some(0xddf2), "{isa:?}");
        }
        assert_eq!(data_using(Isa::Portable, &[0xab]), Some(0xab00));
        assert!(Isa::best().is_available());
    }

    #[test]
    fn every_length_and_alignment_agrees_with_smoltcp() {
        let bytes: Vec<u8> = (0..700u32).map(|i| (i * 151 + 7) as u8).collect();
        for start in 0..8 {
            for len in 0..=bytes.len() - 8 {
                let d = &bytes[start..start + len];
                let expected = smoltcp::data(d);
                for isa in builds() {
                    assert_eq!(data_using(isa, d), Some(expected), "{isa:?} {start} {len}");
                }
                assert_eq!(data(d), expected);
            }
        }
    }

    #[test]
    fn large_slices_carry_correctly() {
        // All ones: every 64-bit addition carries; 1 MiB exercises the high-half sums.
        let ones = vec![0xffu8; 1 << 20];
        assert_eq!(data(&ones), 0xffff);
        let mut v = vec![0u8; (1 << 20) + 3];
        v.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i % 251) as u8);
        // smoltcp's 32-bit accumulator holds up to 65,537 words of 0xffff; compare by halves.
        let halves = v.chunks(64 << 10).map(smoltcp::data).collect::<Vec<_>>();
        assert_eq!(data(&v), smoltcp::combine(&halves));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Equal to smoltcp's on any bytes, any length (odd ones included), and every
        /// alignment of the slice start, in every build this machine can run.
        #[test]
        fn equals_smoltcp(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            start in 0usize..64,
            cut in any::<prop::sample::Index>(),
        ) {
            let start = start.min(bytes.len());
            let end = start + cut.index(bytes.len() - start + 1);
            let d = &bytes[start..end];
            let expected = smoltcp::data(d);
            prop_assert_eq!(data(d), expected);
            prop_assert_eq!(data_portable(d), expected);
            for isa in builds() {
                prop_assert_eq!(data_using(isa, d), Some(expected));
            }
        }

        /// Partial sums of pieces starting at even offsets combine to the whole's, as with
        /// smoltcp's `combine`.
        #[test]
        fn combine_equals_smoltcp(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            at in any::<prop::sample::Index>(),
        ) {
            let at = at.index(bytes.len() / 2 + 1) * 2;
            let parts = [data(&bytes[..at]), data(&bytes[at..])];
            prop_assert_eq!(combine(&parts), smoltcp::combine(&parts));
            prop_assert_eq!(combine(&parts), smoltcp::data(&bytes));
        }
    }
}
