//! What Neighbor Discovery and MLD share below the ICMPv6 message: the ICMPv6 checksum, the
//! IPv6 fixed header on emit, and a walk from a received IPv6 packet to its ICMPv6 message.
//!
//! The walk reads the extension headers by their length and looks at Hop-by-Hop options
//! only for the Router Alert (RFC 2711) that MLD requires; it collects nothing.

use smoltcp::wire::{IpProtocol, Ipv6Address, checksum};

use crate::{Error, ParamProblemCode, ParameterProblem};

/// Length of the IPv6 fixed header (RFC 8200 §3).
pub(crate) const HEADER_LEN: usize = 40;
/// Next Header value of ICMPv6 (RFC 4443 §1).
pub(crate) const NEXT_HEADER_ICMPV6: u8 = 58;
/// Next Header value of the Hop-by-Hop Options header (RFC 8200 §4.3).
pub(crate) const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
const NEXT_HEADER_ROUTING: u8 = 43;
const NEXT_HEADER_FRAGMENT: u8 = 44;
const NEXT_HEADER_DESTINATION: u8 = 60;
/// Option type of the Router Alert option (RFC 2711 §2.1).
pub(crate) const OPTION_ROUTER_ALERT: u8 = 5;
const OPTION_PAD1: u8 = 0;
const OPTION_PADN: u8 = 1;
/// At most this many extension headers are walked before the packet is refused.
const MAX_EXTENSION_HEADERS: usize = 8;

/// Computes the ICMPv6 checksum of `msg` (RFC 4443 §2.3) over the IPv6 pseudo-header of
/// RFC 8200 §8.1, taking the checksum field as it is in `msg`.
///
/// Over a message whose checksum field is zero this is the value to write; over a received
/// message it is zero when the checksum is right.
pub(crate) fn icmpv6_checksum(src: &Ipv6Address, dst: &Ipv6Address, msg: &[u8]) -> u16 {
    // Messages we emit or accept are bounded by the 16-bit Payload Length, so the cast is exact.
    let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, msg.len() as u32);
    !checksum::combine(&[pseudo, checksum::data(msg)])
}

/// Writes the IPv6 fixed header (RFC 8200 §3) with traffic class and flow label zero.
///
/// `buf` must be at least [`HEADER_LEN`] long; the caller checks.
pub(crate) fn emit_header(
    buf: &mut [u8],
    src: &Ipv6Address,
    dst: &Ipv6Address,
    next_header: u8,
    payload_len: u16,
    hop_limit: u8,
) {
    buf[0] = 0x60;
    buf[1] = 0;
    buf[2] = 0;
    buf[3] = 0;
    buf[4..6].copy_from_slice(&payload_len.to_be_bytes());
    buf[6] = next_header;
    buf[7] = hop_limit;
    buf[8..24].copy_from_slice(&src.octets());
    buf[24..40].copy_from_slice(&dst.octets());
}

/// Why [`walk_to_icmpv6`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// Shorter than the fixed header, than its Payload Length, or than an extension header.
    Truncated,
    /// The version field is not 6.
    NotIpv6,
    /// A fragment header: ND and MLD messages are never reassembled (RFC 6980 §5).
    Fragmented,
    /// The chain ends in something other than ICMPv6.
    NotIcmpv6,
    /// An extension header or option that must not be skipped, with the error to report.
    ExtensionHeader(Error),
}

/// A received IPv6 packet reduced to what ND and MLD validation needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Icmpv6InIpv6<'a> {
    pub src: Ipv6Address,
    pub dst: Ipv6Address,
    pub hop_limit: u8,
    /// The value of the Router Alert option of the Hop-by-Hop Options header, if any.
    pub router_alert: Option<u16>,
    /// The ICMPv6 message, bounded by the IPv6 Payload Length.
    pub message: &'a [u8],
}

fn address(bytes: &[u8]) -> Ipv6Address {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(bytes);
    Ipv6Address::from(octets)
}

/// Walks a bare IPv6 packet (fixed header first) to its ICMPv6 message.
///
/// Bytes after the Payload Length are link padding and are ignored. Hop-by-Hop and
/// Destination Options headers are skipped after their options are checked; a Routing header
/// with no segments left is skipped (RFC 8200 §4.4); a Fragment header ends the walk.
pub(crate) fn walk_to_icmpv6(packet: &[u8]) -> Result<Icmpv6InIpv6<'_>, WalkError> {
    let header = packet.get(..HEADER_LEN).ok_or(WalkError::Truncated)?;
    if header[0] >> 4 != 6 {
        return Err(WalkError::NotIpv6);
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let payload = packet
        .get(HEADER_LEN..HEADER_LEN + payload_len)
        .ok_or(WalkError::Truncated)?;
    let dst = address(&header[24..40]);
    let mut walked = Icmpv6InIpv6 {
        src: address(&header[8..24]),
        dst,
        hop_limit: header[7],
        router_alert: None,
        message: &[],
    };
    let mut next_header = header[6];
    // Offset, from the start of the packet, of the Next Header field naming `next_header`.
    let mut next_header_at = 6usize;
    let mut offset = 0usize;
    for index in 0..MAX_EXTENSION_HEADERS {
        match next_header {
            NEXT_HEADER_ICMPV6 => {
                walked.message = &payload[offset..];
                return Ok(walked);
            }
            NEXT_HEADER_FRAGMENT => return Err(WalkError::Fragmented),
            NEXT_HEADER_HOP_BY_HOP | NEXT_HEADER_DESTINATION | NEXT_HEADER_ROUTING => {
                if next_header == NEXT_HEADER_HOP_BY_HOP && index != 0 {
                    // RFC 8200 §4.1: Hop-by-Hop Options may only follow the fixed header.
                    return Err(WalkError::ExtensionHeader(Error::ParameterProblem(
                        ParameterProblem {
                            code: ParamProblemCode::UnrecognizedNxtHdr,
                            pointer: next_header_at as u32,
                        },
                    )));
                }
                let rest = payload.get(offset..).ok_or(WalkError::Truncated)?;
                let len = match rest.get(1) {
                    Some(&units) => (usize::from(units) + 1) * 8,
                    None => return Err(WalkError::Truncated),
                };
                let ext = rest.get(..len).ok_or(WalkError::Truncated)?;
                let at = HEADER_LEN + offset;
                if next_header == NEXT_HEADER_ROUTING {
                    // RFC 8200 §4.4: with Segments Left zero the header is ignored; anything
                    // else would make us a forwarder of ND or MLD, which we refuse.
                    if ext.get(3) != Some(&0) {
                        return Err(WalkError::ExtensionHeader(Error::Unsupported));
                    }
                } else {
                    let alert = walk_options(&ext[2..], at + 2, &dst)?;
                    if next_header == NEXT_HEADER_HOP_BY_HOP {
                        walked.router_alert = alert;
                    }
                }
                next_header = ext[0];
                next_header_at = at;
                offset += len;
            }
            _ => return Err(WalkError::NotIcmpv6),
        }
    }
    Err(WalkError::ExtensionHeader(Error::Unsupported))
}

/// Checks the options of a Hop-by-Hop or Destination Options header (RFC 8200 §4.2) and
/// returns the Router Alert value if one is present. `at` is the offset of `options` in the
/// packet, for Parameter Problem pointers.
fn walk_options(options: &[u8], at: usize, dst: &Ipv6Address) -> Result<Option<u16>, WalkError> {
    let mut alert = None;
    let mut i = 0usize;
    // Each round moves `i` forward by at least one octet.
    while let Some(&kind) = options.get(i) {
        if kind == OPTION_PAD1 {
            i += 1;
            continue;
        }
        let len = match options.get(i + 1) {
            Some(&len) => usize::from(len),
            None => return Err(WalkError::ExtensionHeader(Error::Malformed)),
        };
        let data = options
            .get(i + 2..i + 2 + len)
            .ok_or(WalkError::ExtensionHeader(Error::Malformed))?;
        match kind {
            OPTION_PADN => {}
            OPTION_ROUTER_ALERT => match data {
                [a, b] => alert = Some(u16::from_be_bytes([*a, *b])),
                // RFC 2711 §2.1: the option's data length is always 2.
                _ => return Err(WalkError::ExtensionHeader(Error::Malformed)),
            },
            _ => {
                // RFC 8200 §4.2: the two high-order bits of an unrecognised option's type
                // say whether to skip it, drop the packet, or drop it and answer.
                let problem = Error::ParameterProblem(ParameterProblem {
                    code: ParamProblemCode::UnrecognizedOption,
                    pointer: (at + i) as u32,
                });
                match kind >> 6 {
                    0 => {}
                    1 => return Err(WalkError::ExtensionHeader(Error::Unsupported)),
                    2 => return Err(WalkError::ExtensionHeader(problem)),
                    _ if dst.is_multicast() => {
                        return Err(WalkError::ExtensionHeader(Error::Unsupported));
                    }
                    _ => return Err(WalkError::ExtensionHeader(problem)),
                }
            }
        }
        i += 2 + len;
    }
    Ok(alert)
}
