//! Data packets: a destination identifier, a protected packet number and AEAD frames.
//!
//! ```text
//!   0             1 .. 1+L                1+L .. 1+L+P       ...                  last 16
//! +-+-+-+-+-+-+-+-+-----------------------+-----------------+--------------------+---------+
//! |0|1|0|R R|K|P P| destination identifier| packet number   | encrypted frames   | AEAD tag|
//! +-+-+-+-+-+-+-+-+-----------------------+-----------------+--------------------+---------+
//!  bit 7-6: 01 (data)   bit 5: 0         chosen by the      P = 1..4 bytes, the low bits of
//!  R: reserved, 0       receiver, L bytes a 62-bit counter that never repeats in a session
//!  K: key phase         (16 by default)
//!  PP: P - 1
//!  |<- protected ->|                      |<-- protected -->|
//! ```
//!
//! The five low bits of the first byte and the packet number are hidden by header protection
//! (RFC 9001 §5.4, with ChaCha20 as in §5.4.4): a 16-byte sample of the ciphertext, taken
//! 4 bytes after the start of the packet number, selects a ChaCha20 keystream under a
//! per-direction header key; its first 5 bytes mask those bits. An observer sees only the
//! identifier (fresh on every path) and ciphertext, so the packet numbers, which keep
//! counting across a move, do not link an old path to a new one.
//!
//! The AEAD (ChaCha20-Poly1305) nonce is the full 64-bit packet number in Noise's format
//! (32 zero bits, then the counter little-endian); the associated data is the unprotected
//! header (first byte, identifier, truncated packet number).

use super::{ConnectionId, Error, MAX_ID_LEN, MIN_ID_LEN, Result, TAG_LEN};

/// Bytes of ciphertext sampled for header protection.
pub const SAMPLE_LEN: usize = 16;
/// Mask of the header bits covered by protection.
pub const PROTECTED_BITS: u8 = 0x1f;
const FORM_MASK: u8 = 0xe0;
const FORM_DATA: u8 = 0x40;
const RESERVED: u8 = 0x18;
const KEY_PHASE: u8 = 0x04;
const PN_LEN: u8 = 0x03;

mod field {
    pub const FLAGS: usize = 0;
    pub const ID: usize = 1;
}

/// Shortest data packet for an identifier of `id_len` bytes: the header-protection sample
/// must fit (RFC 9001 §5.4.2: 4 bytes after the packet number's start, then 16 bytes).
pub const fn min_len(id_len: usize) -> usize {
    field::ID + id_len + 4 + SAMPLE_LEN
}

/// A view of a data packet. The identifier's length is not on the wire: the receiver chose
/// it, so it passes it in.
#[derive(Debug, Clone)]
pub struct DataPacket<T: AsRef<[u8]>> {
    buffer: T,
    id_len: usize,
}

impl<T: AsRef<[u8]>> DataPacket<T> {
    /// Wrap a buffer without checking it.
    pub fn new_unchecked(buffer: T, id_len: usize) -> Self {
        DataPacket { buffer, id_len }
    }

    /// Wrap a buffer and check its length, its form bits and the identifier length.
    pub fn new_checked(buffer: T, id_len: usize) -> Result<Self> {
        let p = Self::new_unchecked(buffer, id_len);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the packet is long enough for its header and the protection sample, and
    /// that its unprotected form bits say "data".
    pub fn check_len(&self) -> Result<()> {
        if !(MIN_ID_LEN..=MAX_ID_LEN).contains(&self.id_len) {
            return Err(Error::Malformed);
        }
        let buf = self.buffer.as_ref();
        if buf.len() < min_len(self.id_len) {
            return Err(Error::Truncated);
        }
        if buf[field::FLAGS] & FORM_MASK != FORM_DATA {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Consume the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The first byte (protected or not, as it is in the buffer).
    pub fn first_byte(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The destination identifier's bytes.
    pub fn dst_id(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ID..field::ID + self.id_len]
    }

    /// Offset of the packet number.
    pub fn pn_offset(&self) -> usize {
        field::ID + self.id_len
    }

    /// The header-protection sample.
    pub fn sample(&self) -> [u8; SAMPLE_LEN] {
        let at = self.pn_offset() + 4;
        let mut s = [0; SAMPLE_LEN];
        s.copy_from_slice(&self.buffer.as_ref()[at..at + SAMPLE_LEN]);
        s
    }

    /// Packet-number length from the first byte (meaningful once protection is removed).
    pub fn pn_len(&self) -> usize {
        usize::from(self.first_byte() & PN_LEN) + 1
    }

    /// Key phase bit (meaningful once protection is removed).
    pub fn key_phase(&self) -> bool {
        self.first_byte() & KEY_PHASE != 0
    }

    /// Length of the header: first byte, identifier and packet number.
    pub fn header_len(&self) -> usize {
        self.pn_offset() + self.pn_len()
    }

    /// The truncated packet number (meaningful once protection is removed).
    pub fn truncated_pn(&self) -> u32 {
        let at = self.pn_offset();
        self.buffer.as_ref()[at..at + self.pn_len()]
            .iter()
            .fold(0u32, |v, &b| (v << 8) | u32::from(b))
    }

    /// Ciphertext and tag after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DataPacket<T> {
    /// The whole buffer, mutable (for header protection and in-place decryption).
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
}

/// An owned summary of an unprotected data-packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeaderRepr {
    /// Destination identifier.
    pub dst_id: ConnectionId,
    /// Key phase bit.
    pub key_phase: bool,
    /// Bytes of packet number on the wire, 1 to 4.
    pub pn_len: usize,
    /// Low `8 * pn_len` bits of the packet number.
    pub truncated_pn: u32,
}

impl DataHeaderRepr {
    /// Parse an unprotected header. The reserved bits must be zero (RFC 9000 §17.3.1 treats
    /// non-zero reserved bits, once protection is removed, as a protocol violation).
    pub fn parse<T: AsRef<[u8]>>(p: &DataPacket<T>) -> Result<Self> {
        p.check_len()?;
        if p.first_byte() & RESERVED != 0 {
            return Err(Error::Malformed);
        }
        if p.payload().len() < TAG_LEN {
            return Err(Error::Truncated);
        }
        Ok(DataHeaderRepr {
            dst_id: ConnectionId::new(p.dst_id())?,
            key_phase: p.key_phase(),
            pn_len: p.pn_len(),
            truncated_pn: p.truncated_pn(),
        })
    }

    /// Bytes of header.
    pub fn buffer_len(&self) -> usize {
        field::ID + self.dst_id.len() + self.pn_len
    }

    /// Emit the (unprotected) header into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if !(1..=4).contains(&self.pn_len) {
            return Err(Error::Malformed);
        }
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        buf[field::FLAGS] =
            FORM_DATA | if self.key_phase { KEY_PHASE } else { 0 } | (self.pn_len as u8 - 1);
        let at = field::ID + self.dst_id.len();
        buf[field::ID..at].copy_from_slice(self.dst_id.as_bytes());
        for (i, b) in buf[at..].iter_mut().enumerate() {
            *b = (self.truncated_pn >> (8 * (self.pn_len - 1 - i))) as u8;
        }
        Ok(len)
    }
}

/// Packet-number encoding (RFC 9000 §17.1 and Appendix A).
pub mod pn {
    /// Bytes to send for `full_pn` given the largest packet number the peer acknowledged
    /// (RFC 9000 A.2: twice the distance, rounded up to whole bytes).
    pub fn encode_len(full_pn: u64, largest_acked: Option<u64>) -> usize {
        let unacked = match largest_acked {
            Some(a) => full_pn.saturating_sub(a),
            None => full_pn.saturating_add(1),
        };
        let min_bits = 64 - unacked.leading_zeros() as usize + 1;
        min_bits.div_ceil(8).clamp(1, 4)
    }

    /// The low `8 * len` bits of `full_pn`.
    pub fn truncate(full_pn: u64, len: usize) -> u32 {
        (full_pn & ((1u64 << (8 * len)) - 1)) as u32
    }

    /// Recover the full packet number nearest to the next expected one
    /// (RFC 9000 A.3, `DecodePacketNumber`).
    pub fn decode(largest: Option<u64>, truncated: u32, len: usize) -> u64 {
        let expected = largest.map_or(0, |l| l + 1);
        let win = 1u64 << (8 * len);
        let hwin = win / 2;
        let mask = win - 1;
        let candidate = (expected & !mask) | u64::from(truncated);
        if candidate + hwin <= expected && candidate < (1u64 << 62) - win {
            candidate + win
        } else if candidate > expected + hwin && candidate >= win {
            candidate - win
        } else {
            candidate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const HEADER: [u8; 11] = [
        0x45,                                   // 01 0 00 1 01: data, key phase 1, P = 2
        1, 2, 3, 4, 5, 6, 7, 8,                 // destination identifier (L = 8)
        0x9b, 0x32,                             // packet number, low 16 bits
    ];

    #[test]
    fn header_bytes() {
        let mut buf = [0u8; 40];
        buf[..11].copy_from_slice(&HEADER);
        let p = DataPacket::new_checked(&buf[..], 8).unwrap();
        let r = DataHeaderRepr::parse(&p).unwrap();
        assert_eq!(r.dst_id.as_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(r.key_phase);
        assert_eq!((r.pn_len, r.truncated_pn), (2, 0x9b32));
        let mut out = [0xffu8; 11];
        r.emit(&mut out).unwrap();
        assert_eq!(out, HEADER);
        assert_eq!(
            DataPacket::new_checked(&buf[..min_len(8) - 1], 8).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn rfc9000_pn_examples() {
        // A.3: largest 0xa82f30ea, truncated 0x9b32 (16 bits) decodes to 0xa82f9b32.
        assert_eq!(pn::decode(Some(0xa82f_30ea), 0x9b32, 2), 0xa82f_9b32);
        // A.2: largest acked 0xabe8b3, sending 0xac5c02 needs 16 bits; 0xace8fe needs 24.
        assert_eq!(pn::encode_len(0xac5c02, Some(0xabe8b3)), 2);
        assert_eq!(pn::encode_len(0xace8fe, Some(0xabe8b3)), 3);
    }

    proptest! {
        #[test]
        fn header_round_trip(id in proptest::collection::vec(any::<u8>(), MIN_ID_LEN..=MAX_ID_LEN),
                             key_phase: bool, pn_len in 1usize..=4, pn: u32) {
            let truncated_pn = pn::truncate(u64::from(pn), pn_len);
            let r = DataHeaderRepr { dst_id: ConnectionId::new(&id).unwrap(), key_phase, pn_len, truncated_pn };
            let mut buf = vec![0xa5u8; r.buffer_len() + 4 + SAMPLE_LEN];
            prop_assert_eq!(r.emit(&mut buf), Ok(r.buffer_len()));
            let p = DataPacket::new_checked(&buf[..], id.len()).unwrap();
            prop_assert_eq!(DataHeaderRepr::parse(&p).unwrap(), r);
        }

        #[test]
        fn pn_round_trip(largest in 4000u64..(1 << 40), ahead in 0u64..1000, r in 0u64..1000, behind in 0u64..1000) {
            // A packet ahead of the receiver's largest, encoded against an older acknowledgment.
            let full = largest + ahead;
            let len = pn::encode_len(full, Some(largest - behind));
            prop_assert_eq!(pn::decode(Some(largest), pn::truncate(full, len), len), full);
            // A reordered packet `r` behind the receiver's largest, sent when the sender's
            // largest acknowledged was further behind still.
            let full = largest - r;
            let len = pn::encode_len(full, Some(full - r - 1 - behind));
            prop_assert_eq!(pn::decode(Some(largest), pn::truncate(full, len), len), full);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), id_len in 0usize..30) {
            if let Ok(p) = DataPacket::new_checked(&bytes[..], id_len) {
                let _ = p.sample();
                let _ = p.payload();
                let _ = DataHeaderRepr::parse(&p);
            }
        }
    }
}
