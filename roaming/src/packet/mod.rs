//! Wire formats of the roaming session layer, in the manner of `smoltcp::wire`.
//!
//! Every datagram on the mobility port starts with one byte that says what it is:
//!
//! ```text
//!  first byte   packet                                   module
//!  0b01xx_xxxx  data packet (protected header, AEAD)     [`data`]
//!  0x81         handshake initiation (Noise IK msg 1)    [`handshake`]
//!  0x82         handshake response   (Noise IK msg 2)    [`handshake`]
//!  0x83         cookie reply (stateless retry token)     [`handshake`]
//! ```
//!
//! Inside a data packet, after decryption, come [`frame`]s.
//!
//! Views (`Packet<T: AsRef<[u8]>>`) never panic once `new_checked` succeeded; `Repr`s have
//! `parse`, `buffer_len` and `emit`, and `emit` writes every byte it owns.

pub mod data;
pub mod frame;
pub mod handshake;

pub use bridgeless_wire::{Error, Result};

use core::fmt;

/// Shortest identifier this crate accepts (64 bits: below that, guessing becomes cheap).
pub const MIN_ID_LEN: usize = 8;
/// Longest identifier (as QUIC's connection IDs, RFC 9000 §17.2).
pub const MAX_ID_LEN: usize = 20;
/// Length of a stateless retry token.
pub const TOKEN_LEN: usize = 16;
/// Length of an AEAD tag (ChaCha20-Poly1305).
pub const TAG_LEN: usize = 16;

/// What the first byte of a datagram says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// A data packet (`0b01xx_xxxx`).
    Data,
    /// A handshake initiation (`0x81`).
    Initiation,
    /// A handshake response (`0x82`).
    Response,
    /// A cookie reply (`0x83`).
    CookieReply,
}

impl PacketType {
    /// First byte of an initiation.
    pub const INITIATION: u8 = 0x81;
    /// First byte of a response.
    pub const RESPONSE: u8 = 0x82;
    /// First byte of a cookie reply.
    pub const COOKIE_REPLY: u8 = 0x83;

    /// Classify a datagram by its first byte.
    pub fn of(datagram: &[u8]) -> Result<PacketType> {
        match datagram.first() {
            None => Err(Error::Truncated),
            Some(&b) if b & 0xc0 == 0x40 => Ok(PacketType::Data),
            Some(&Self::INITIATION) => Ok(PacketType::Initiation),
            Some(&Self::RESPONSE) => Ok(PacketType::Response),
            Some(&Self::COOKIE_REPLY) => Ok(PacketType::CookieReply),
            Some(_) => Err(Error::Unsupported),
        }
    }
}

/// A session identifier: chosen at random by the side that receives packets carrying it.
///
/// Between [`MIN_ID_LEN`] and [`MAX_ID_LEN`] bytes; 16 (128 bits) by default.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; MAX_ID_LEN],
}

impl ConnectionId {
    /// An identifier with these bytes, or `Malformed` if the length is out of range.
    pub fn new(bytes: &[u8]) -> Result<ConnectionId> {
        if !(MIN_ID_LEN..=MAX_ID_LEN).contains(&bytes.len()) {
            return Err(Error::Malformed);
        }
        let mut id = ConnectionId {
            len: bytes.len() as u8,
            bytes: [0; MAX_ID_LEN],
        };
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(id)
    }

    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Its length in bytes.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// QUIC variable-length integers (RFC 9000 §16): 1, 2, 4 or 8 bytes, values below 2^62.
pub mod varint {
    use super::{Error, Result};

    /// Largest encodable value.
    pub const MAX: u64 = (1 << 62) - 1;

    /// Bytes needed to encode `v` (values above [`MAX`] are not encodable; callers check).
    pub fn len(v: u64) -> usize {
        match v {
            0..=63 => 1,
            64..=16_383 => 2,
            16_384..=1_073_741_823 => 4,
            _ => 8,
        }
    }

    /// Decode one integer from the front of `buf`: `(value, bytes consumed)`.
    pub fn read(buf: &[u8]) -> Result<(u64, usize)> {
        let first = *buf.first().ok_or(Error::Truncated)?;
        let n = 1usize << (first >> 6);
        let bytes = buf.get(..n).ok_or(Error::Truncated)?;
        let mut v = u64::from(first & 0x3f);
        for &b in &bytes[1..] {
            v = (v << 8) | u64::from(b);
        }
        Ok((v, n))
    }

    /// Encode `v` at the front of `buf`, returning the bytes written.
    pub fn write(v: u64, buf: &mut [u8]) -> Result<usize> {
        if v > MAX {
            return Err(Error::Malformed);
        }
        let n = len(v);
        let out = buf.get_mut(..n).ok_or(Error::BufferTooSmall)?;
        let tag: u8 = match n {
            1 => 0,
            2 => 1,
            4 => 2,
            _ => 3,
        };
        for (i, b) in out.iter_mut().enumerate() {
            *b = (v >> (8 * (n - 1 - i))) as u8;
        }
        out[0] |= tag << 6;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_rfc9000_examples() {
        // RFC 9000 §A.1 sample encodings.
        assert_eq!(
            varint::read(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]).unwrap(),
            (151_288_809_941_952_652, 8)
        );
        assert_eq!(
            varint::read(&[0x9d, 0x7f, 0x3e, 0x7d]).unwrap(),
            (494_878_333, 4)
        );
        assert_eq!(varint::read(&[0x7b, 0xbd]).unwrap(), (15_293, 2));
        assert_eq!(varint::read(&[0x25]).unwrap(), (37, 1));
        assert_eq!(varint::read(&[0x40, 0x25]).unwrap(), (37, 2));
        assert_eq!(varint::read(&[0x40]), Err(Error::Truncated));
    }

    #[test]
    fn packet_types() {
        assert_eq!(PacketType::of(&[0x40]), Ok(PacketType::Data));
        assert_eq!(PacketType::of(&[0x7f]), Ok(PacketType::Data));
        assert_eq!(PacketType::of(&[0x81]), Ok(PacketType::Initiation));
        assert_eq!(PacketType::of(&[0x82]), Ok(PacketType::Response));
        assert_eq!(PacketType::of(&[0x83]), Ok(PacketType::CookieReply));
        assert_eq!(PacketType::of(&[0x00]), Err(Error::Unsupported));
        assert_eq!(PacketType::of(&[]), Err(Error::Truncated));
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in 0..=varint::MAX) {
            let mut buf = [0u8; 8];
            let n = varint::write(v, &mut buf).unwrap();
            prop_assert_eq!(n, varint::len(v));
            prop_assert_eq!(varint::read(&buf[..n]).unwrap(), (v, n));
        }

        #[test]
        fn varint_read_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..10)) {
            let _ = varint::read(&bytes);
        }

        #[test]
        fn connection_id_lengths(bytes in proptest::collection::vec(any::<u8>(), 0..30)) {
            let r = ConnectionId::new(&bytes);
            prop_assert_eq!(r.is_ok(), (MIN_ID_LEN..=MAX_ID_LEN).contains(&bytes.len()));
            if let Ok(id) = r {
                prop_assert_eq!(id.as_bytes(), &bytes[..]);
            }
        }
    }
}
