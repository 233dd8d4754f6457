//! The link hello: how the two ends of a point-to-point link agree to use [`compressed`]
//! frames.
//!
//! Compression needs context both ends share — each end's interface identifier — and a peer
//! that never agreed (a Linux TUN device, say) must only ever see bare IP. So an end that wants
//! compression sends hellos, and compresses only after the peer's hello has echoed its own
//! identifier back: proof that the peer speaks this protocol and knows both identifiers.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Dispatch 0xF0 |   Version 1   |    Flags    |E|   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Sender's interface identifier                  |
//! |                         (8 octets)                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Receiver's interface identifier, as the sender         |
//! |            knows it (8 octets; zero unless E is set)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The dispatch byte's high nibble (0xF) is neither 4 nor 6 and outside the compressed
//! dispatches (`100x xxxx`), so a hello is never mistaken for a packet; a receiver that does
//! not know it drops it (the Linux kernel counts it as a receive error on a TUN device).
//! Flags other than E and the reserved octet are sent as zero and ignored on receipt; a hello
//! of another version is [`Error::Unsupported`]. Octets after the 20 are ignored, leaving
//! room for later versions to append fields.
//!
//! [`compressed`]: crate::compressed

use crate::{Error, Result};

/// The first octet of a link hello.
pub const DISPATCH_HELLO: u8 = 0xf0;
/// The version this module reads and writes.
pub const VERSION: u8 = 1;
/// Length of a version 1 hello.
pub const HELLO_LEN: usize = 20;

mod field {
    use core::ops::Range;

    pub const DISPATCH: usize = 0;
    pub const VERSION: usize = 1;
    pub const FLAGS: usize = 2;
    pub const RESERVED: usize = 3;
    pub const SENDER_IID: Range<usize> = 4..12;
    pub const RECEIVER_IID: Range<usize> = 12..20;
    /// E: the receiver's identifier is known and echoed.
    pub const FLAG_ECHO: u8 = 0x01;
}

/// Whether `frame` is a link hello (by its first octet), without checking the rest.
#[inline]
pub fn is_hello(frame: &[u8]) -> bool {
    frame.first() == Some(&DISPATCH_HELLO)
}

/// A link hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HelloRepr {
    /// The sender's interface identifier: the low 64 bits of its link-local address.
    pub sender_iid: [u8; 8],
    /// The receiver's interface identifier as the sender last saw it in a hello, if any.
    pub receiver_iid: Option<[u8; 8]>,
}

impl HelloRepr {
    /// Reads a hello. [`Error::Truncated`] if shorter than [`HELLO_LEN`];
    /// [`Error::Unsupported`] for another dispatch octet or version.
    pub fn parse(frame: &[u8]) -> Result<HelloRepr> {
        let h = frame.first_chunk::<HELLO_LEN>().ok_or(Error::Truncated)?;
        if h[field::DISPATCH] != DISPATCH_HELLO || h[field::VERSION] != VERSION {
            return Err(Error::Unsupported);
        }
        let mut sender_iid = [0u8; 8];
        sender_iid.copy_from_slice(&h[field::SENDER_IID]);
        let receiver_iid = (h[field::FLAGS] & field::FLAG_ECHO != 0).then(|| {
            let mut iid = [0u8; 8];
            iid.copy_from_slice(&h[field::RECEIVER_IID]);
            iid
        });
        Ok(HelloRepr {
            sender_iid,
            receiver_iid,
        })
    }

    /// The length of the emitted hello.
    pub const fn buffer_len(&self) -> usize {
        HELLO_LEN
    }

    /// Writes the hello into the start of `buf`, every octet of it; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let h = buf
            .first_chunk_mut::<HELLO_LEN>()
            .ok_or(Error::BufferTooSmall)?;
        h[field::DISPATCH] = DISPATCH_HELLO;
        h[field::VERSION] = VERSION;
        h[field::FLAGS] = if self.receiver_iid.is_some() {
            field::FLAG_ECHO
        } else {
            0
        };
        h[field::RESERVED] = 0;
        h[field::SENDER_IID].copy_from_slice(&self.sender_iid);
        h[field::RECEIVER_IID].copy_from_slice(&self.receiver_iid.unwrap_or([0; 8]));
        Ok(HELLO_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const ECHOING: [u8; 20] = [
        0xf0,                                           // dispatch: link hello
        0x01,                                           // version 1
        0x01,                                           // flags: E (receiver known)
        0x00,                                           // reserved
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, // sender IID ::2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // receiver IID ::1
    ];

    #[test]
    fn parses_and_emits_an_echoing_hello() {
        let repr = HelloRepr::parse(&ECHOING).unwrap();
        assert_eq!(repr.sender_iid, [0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(repr.receiver_iid, Some([0, 0, 0, 0, 0, 0, 0, 1]));
        let mut buf = [0xffu8; 24];
        assert_eq!(repr.emit(&mut buf), Ok(HELLO_LEN));
        assert_eq!(buf[..HELLO_LEN], ECHOING);
    }

    #[test]
    fn a_first_hello_knows_no_receiver() {
        let repr = HelloRepr {
            sender_iid: [9; 8],
            receiver_iid: None,
        };
        let mut buf = [0xffu8; HELLO_LEN];
        repr.emit(&mut buf).unwrap();
        assert_eq!(buf[2], 0);
        assert_eq!(buf[12..], [0; 8]);
        assert_eq!(HelloRepr::parse(&buf), Ok(repr));
    }

    #[test]
    fn rejects_short_foreign_and_future_frames() {
        assert_eq!(HelloRepr::parse(&ECHOING[..19]), Err(Error::Truncated));
        let mut v2 = ECHOING;
        v2[1] = 2;
        assert_eq!(HelloRepr::parse(&v2), Err(Error::Unsupported));
        let mut ipv6 = ECHOING;
        ipv6[0] = 0x60;
        assert_eq!(HelloRepr::parse(&ipv6), Err(Error::Unsupported));
        assert!(!is_hello(&ipv6));
        assert_eq!(
            HelloRepr {
                sender_iid: [0; 8],
                receiver_iid: None
            }
            .emit(&mut [0; 19]),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn is_never_a_packet_nor_a_compressed_frame() {
        assert_eq!(crate::compressed::kind(&ECHOING), Err(Error::Unsupported));
        assert!(crate::frame::parse(&ECHOING).is_err());
    }
}
