//! The ICMPv6 error messages a router sends (RFC 4443 §3), built around the invoking packet's
//! bytes.
//!
//! ```text
//! ICMPv6 error message (RFC 4443 §2.1, §3):
//! +--------+--------+-----------------+
//! |  Type  |  Code  |    Checksum     |  0..4
//! +--------+--------+-----------------+
//! |  MTU / Pointer / unused (32 bits) |  4..8
//! +-----------------------------------+
//! | As much of the invoking packet as |  8..
//! | fits in the minimum IPv6 MTU      |
//! +-----------------------------------+
//! ```
//!
//! smoltcp's `Icmpv6Repr` re-emits the invoking packet's header from an `Ipv6Repr`, which has
//! no traffic class or flow label; a router must return the bytes it received, so this emitter
//! copies them.

use core::net::Ipv6Addr;

use smoltcp::wire::{IpProtocol, checksum};

use super::header::Ipv6Header;
use crate::{Error, ParameterProblem, Result};

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const PARAM: Range<usize> = 4..8;
    pub const HEADER_LEN: usize = 8;
}

/// The minimum link MTU of IPv6 (RFC 8200 §5): an error message never exceeds it
/// (RFC 4443 §2.4 (c)).
pub const ICMPV6_ERROR_MAX_LEN: usize = 1280;

/// The hop limit of the error messages [`emit_icmpv6_error`] writes (Linux's default too).
pub const ICMPV6_ERROR_HOP_LIMIT: u8 = 64;

/// Which ICMPv6 error message to send (RFC 4443 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Error {
    /// Destination Unreachable, type 1, with its code (RFC 4443 §3.1): 0 no route,
    /// 1 administratively prohibited, 2 beyond scope of source address, 3 address
    /// unreachable, 4 port unreachable, 5 source address failed ingress/egress policy,
    /// 6 reject route to destination.
    DstUnreachable(u8),
    /// Packet Too Big, type 2, carrying the MTU of the next-hop link (RFC 4443 §3.2).
    PacketTooBig(u32),
    /// Time Exceeded, type 3 (RFC 4443 §3.3): code 0 hop limit exceeded in transit, 1
    /// fragment reassembly time exceeded.
    TimeExceeded(u8),
    /// Parameter Problem, type 4, with its code and pointer (RFC 4443 §3.4).
    ParameterProblem(ParameterProblem),
}

impl Icmpv6Error {
    /// The message's Type field.
    pub fn message_type(&self) -> u8 {
        match self {
            Icmpv6Error::DstUnreachable(_) => 1,
            Icmpv6Error::PacketTooBig(_) => 2,
            Icmpv6Error::TimeExceeded(_) => 3,
            Icmpv6Error::ParameterProblem(_) => 4,
        }
    }

    /// The message's Code field.
    pub fn code(&self) -> u8 {
        match self {
            Icmpv6Error::DstUnreachable(code) | Icmpv6Error::TimeExceeded(code) => *code,
            Icmpv6Error::PacketTooBig(_) => 0,
            Icmpv6Error::ParameterProblem(p) => p.code.into(),
        }
    }

    /// The 32-bit field after the checksum: the MTU, the pointer, or zero ("unused").
    fn parameter(&self) -> u32 {
        match self {
            Icmpv6Error::PacketTooBig(mtu) => *mtu,
            Icmpv6Error::ParameterProblem(p) => p.pointer,
            Icmpv6Error::DstUnreachable(_) | Icmpv6Error::TimeExceeded(_) => 0,
        }
    }
}

/// Writes a complete IPv6 packet carrying the ICMPv6 error `error` about `invoking` (the
/// offending packet, from its IPv6 header on) at the start of `buf`, and returns its length.
///
/// The message holds as much of `invoking` as fits in [`ICMPV6_ERROR_MAX_LEN`] octets and in
/// `buf` (RFC 4443 §2.4 (c)); traffic class and flow label are zero, the hop limit is
/// [`ICMPV6_ERROR_HOP_LIMIT`] and the checksum covers the pseudo-header (RFC 4443 §2.3).
/// Whether an error may be sent at all (§2.4 (e), (f)) is the caller's decision.
///
/// [`Error::BufferTooSmall`] if `buf` cannot hold the two headers (48 octets).
pub fn emit_icmpv6_error(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    error: Icmpv6Error,
    invoking: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    let headers = Ipv6Header::LEN + field::HEADER_LEN;
    let limit = buf.len().min(ICMPV6_ERROR_MAX_LEN);
    let Some(room) = limit.checked_sub(headers) else {
        return Err(Error::BufferTooSmall);
    };
    let quoted = &invoking[..invoking.len().min(room)];
    let icmp_len = field::HEADER_LEN + quoted.len();
    let total = Ipv6Header::LEN + icmp_len;
    // Infallible: `total <= limit <= buf.len()` and `icmp_len < 1280` fits in 16 bits.
    let packet = &mut buf[..total];
    let ip = Ipv6Header {
        src,
        dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp_len as u16,
        hop_limit: ICMPV6_ERROR_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    ip.emit(packet)?;
    let icmp = &mut packet[Ipv6Header::LEN..];
    icmp[field::TYPE] = error.message_type();
    icmp[field::CODE] = error.code();
    icmp[field::CHECKSUM].copy_from_slice(&[0, 0]);
    icmp[field::PARAM].copy_from_slice(&error.parameter().to_be_bytes());
    icmp[field::HEADER_LEN..].copy_from_slice(quoted);
    let sum = !checksum::combine(&[
        checksum::pseudo_header_v6(&src, &dst, IpProtocol::Icmpv6, icmp_len as u32),
        checksum::data(icmp),
    ]);
    icmp[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    Ok(total)
}

/// Whether `packet` (from its IPv6 header on) is itself an ICMPv6 error message, to which no
/// error may be sent (RFC 4443 §2.4 (e.1)). Walks extension headers with the frame parser; a
/// packet that does not parse is not known to be an error message (`false`).
pub fn is_icmpv6_error(packet: &[u8]) -> bool {
    match super::parse(packet) {
        Ok(info) => matches!(info.icmp(), Some((kind, _)) if kind < 128),
        Err(_) => false,
    }
}
