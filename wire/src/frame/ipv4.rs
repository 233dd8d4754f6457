//! The IPv4 header (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options (IHL > 5)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use smoltcp::wire::checksum;

use super::{FrameInfo, UpperError, check_upper_layer};
use crate::{Error, Result};

mod field {
    #![allow(dead_code)]
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const HEADER_LEN: usize = 20;

    /// More Fragments flag in the flags/offset word.
    pub const MORE_FRAGMENTS: u16 = 0x2000;
    /// Fragment offset, in 8-octet units, in the flags/offset word.
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// ICMP's protocol number.
const ICMP: u8 = 1;

/// Parses an IPv4 frame: the header, its checksum, and the start of the upper-layer header.
///
/// - fewer than 20 octets or a Total Length past the frame: [`Error::Truncated`]; a version
///   other than 4, an IHL under 5 or a Total Length under the header length:
///   [`Error::Malformed`]; octets past Total Length are reported by [`FrameInfo::trailing`];
/// - a header checksum that does not verify: [`Error::Checksum`] (RFC 791 §3.1);
/// - options are skipped, not interpreted;
/// - fragments are reported by [`FrameInfo::fragment`]; a fragment other than the first
///   carries no upper-layer header, so it has no ports; in a first fragment the upper-layer
///   header must be whole (RFC 1858 §3.1 warns against tiny first fragments);
/// - the upper-layer header must hold its fixed part: UDP 8 octets and a valid Length, TCP 20
///   octets and a valid Data Offset, ICMP 4 octets ([`Error::Truncated`] or
///   [`Error::Malformed`]).
#[inline]
pub fn parse_ipv4(frame: &[u8]) -> Result<FrameInfo<'_>> {
    let Some(h) = frame.first_chunk::<{ field::HEADER_LEN }>() else {
        return Err(Error::Truncated);
    };
    if h[field::VER_IHL] >> 4 != 4 {
        return Err(Error::Malformed);
    }
    let header_len = usize::from(h[field::VER_IHL] & 0x0f) * 4;
    let end = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if header_len < field::HEADER_LEN || end < header_len {
        return Err(Error::Malformed);
    }
    let Some(packet) = frame.get(..end) else {
        return Err(Error::Truncated);
    };
    let (header, rest) = packet.split_at_checked(header_len).unwrap_or((&[], &[]));
    // RFC 791 §3.1: the one's complement sum of the whole header, checksum included, is
    // all ones when the checksum is right.
    if checksum::data(header) != !0 {
        return Err(Error::Checksum);
    }
    let flags_frag = u16::from_be_bytes([h[6], h[7]]);
    let more = flags_frag & field::MORE_FRAGMENTS != 0;
    let first = flags_frag & field::OFFSET_MASK == 0;
    let protocol = h[field::PROTOCOL];
    let mut ports = None;
    if first {
        match check_upper_layer(rest, protocol, ICMP, !more) {
            Ok(p) => ports = p,
            Err(UpperError::Short) => return Err(Error::Truncated),
            Err(UpperError::Malformed) => return Err(Error::Malformed),
        }
    }
    Ok(FrameInfo {
        frame,
        packet_len: end as u32,
        upper_offset: header_len as u16,
        fragment_at: 0,
        router_alert: None,
        protocol,
        ext_count: 0,
        upper_header: first,
        ports: ports.unwrap_or(0),
        has_ports: ports.is_some(),
    })
}
