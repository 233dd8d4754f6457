//! The IPv6 header and the extension-header walk.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Source Address (16 octets)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Destination Address (16 octets)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Every extension header starts with Next Header and a length octet:
//! Hop-by-Hop, Routing, Destination Options: (Hdr Ext Len + 1) * 8 octets (RFC 8200 §4.3-4.6);
//! Fragment: always 8 octets (the second octet is reserved, RFC 8200 §4.5);
//! Authentication: (Payload Len + 2) * 4 octets (RFC 4302 §2.2).
//!
//! Routing header:                       Fragment header:
//! +--------+--------+--------+--------+ +--------+--------+-----------------+-+-+
//! |Next Hdr|Hdr Len |  Type  |Seg Left| |Next Hdr|Reserved| Fragment Offset |R|M|
//! +--------+--------+--------+--------+ +--------+--------+-----------------+-+-+
//! |       type-specific data ...      | |           Identification            |
//! +-----------------------------------+ +-------------------------------------+
//!
//! Options (Hop-by-Hop and Destination Options, RFC 8200 §4.2): Pad1 is one zero octet;
//! every other option is Type, Opt Data Len, Opt Data. The two high bits of Type say what
//! to do with an option the node does not recognize.
//! ```

use super::{
    ExtHeaderKind, FragmentInfo, FrameInfo, MAX_EXT_HEADERS, UpperError, check_upper_layer,
    fragment_v6, param_problem,
};
use crate::{Error, ParamProblemCode, Result};

mod field {
    #![allow(dead_code)]
    use core::ops::Range;

    pub use super::super::v6_fixed::*;

    // Offsets within an extension header.
    pub const EXT_NEXT_HEADER: usize = 0;
    pub const EXT_LEN: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEGMENTS_LEFT: usize = 3;
    pub const FRAG_OFFSET: Range<usize> = 2..4;
    pub const FRAG_IDENT: Range<usize> = 4..8;
    pub const FRAG_LEN: usize = 8;
}

/// Next Header values of the extension headers this module walks, or refuses.
mod nh {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const ICMPV6: u8 = 58;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// Mobility (RFC 6275), HIP (RFC 7401), Shim6 (RFC 5533): extension headers in the IANA
    /// registry that this module cannot skip, so they are "unrecognized" (RFC 8200 §4).
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Option types this module acts on.
mod opt {
    pub const PAD1: u8 = 0;
    pub const ROUTER_ALERT: u8 = 5;
    pub const JUMBO: u8 = 0xc2;
}

/// Parses an IPv6 frame: the fixed header, the extension-header chain and the start of the
/// upper-layer header.
///
/// Checks, in the order a receiver processes the packet (RFC 8200 §4):
/// - at least 40 octets, version 6, Payload Length within the frame, else
///   [`Error::Truncated`] (or [`Error::Malformed`] for a version other than 6); octets past
///   the Payload Length are reported by [`FrameInfo::trailing`];
/// - Payload Length 0 with a Hop-by-Hop header is a jumbogram (RFC 2675): [`Error::Unsupported`]
///   if it carries a Jumbo Payload option, else Parameter Problem code 0 at the Payload
///   Length field;
/// - each extension header must fit in the packet, else [`Error::Truncated`]; in a first
///   fragment (offset 0, M set) Parameter Problem code 3 with pointer 0 instead: the first
///   fragment must hold the whole header chain (RFC 8200 §4.5, RFC 7112);
/// - Hop-by-Hop anywhere but right after the IPv6 header, and the extension headers this
///   crate cannot skip (Mobility 135, HIP 139, Shim6 140): Parameter Problem code 1 pointing
///   at the Next Header field that names them (RFC 8200 §4). Every other Next Header value
///   ends the chain and is reported as the upper-layer protocol (ESP, 253 and 254 included);
/// - options (RFC 8200 §4.2): an option running past its header is Parameter Problem code 0
///   at its length octet (at its type octet if the length octet is missing); an unrecognized
///   option is skipped (action 00), discarded silently ([`Error::Unsupported`], action 01, or
///   action 11 with a multicast destination) or answered with Parameter Problem code 2 at its
///   type octet (action 10, or 11 with a unicast destination). A Jumbo Payload option with a
///   non-zero Payload Length is Parameter Problem code 0 at the option (RFC 2675 §3); a
///   Router Alert whose length is not 2 is [`Error::Malformed`];
/// - Routing header with Segments Left non-zero: this crate implements no routing type (type 0
///   is deprecated by RFC 5095), so Parameter Problem code 0 at the Routing Type field
///   (RFC 8200 §4.4); with Segments Left 0 the header is skipped;
/// - Fragment header: with M set, a fragment whose length is not a multiple of 8 is Parameter
///   Problem code 0 at the Payload Length field; a fragment that would reassemble past 65,535
///   octets is Parameter Problem code 0 at the Fragment Offset field (RFC 8200 §4.5). The walk
///   stops after the Fragment header of a non-first fragment;
/// - more than [`MAX_EXT_HEADERS`](super::MAX_EXT_HEADERS) extension headers: Parameter
///   Problem code 8 at the first header beyond it (RFC 8883 §3);
/// - the upper-layer header must hold its fixed part: UDP 8 octets and a Length from 8 to the
///   octets left; TCP 20 octets and a Data Offset from 5 words to the octets left (else
///   [`Error::Malformed`] for impossible values); ICMPv6 4 octets. Too short is
///   [`Error::Truncated`] (code 3 in a first fragment). Other protocols are not looked into.
///
/// Transport checksums are not verified.
#[inline(always)]
pub fn parse_ipv6(frame: &[u8]) -> Result<FrameInfo<'_>> {
    // Fast path: TCP, UDP or ICMPv6 right after the fixed header, as in most packets.
    // Everything else, errors included, goes to the full walk.
    let Some(h) = frame.first_chunk::<{ field::HEADER_LEN }>() else {
        return Err(Error::Truncated);
    };
    let end = field::HEADER_LEN + usize::from(u16::from_be_bytes([h[4], h[5]]));
    if h[0] >> 4 == 6
        && let Some(rest) = frame.get(field::HEADER_LEN..end)
    {
        let next = h[field::NEXT_HEADER];
        // One dispatch on Next Header; anything unusual (errors included) takes the full
        // walk, which reports it precisely.
        let ports = match next {
            nh::UDP | nh::TCP => match check_upper_layer(rest, next, nh::ICMPV6, true) {
                Ok(ports) => ports,
                Err(_) => return walk(frame),
            },
            nh::ICMPV6 if rest.len() >= 4 => None,
            _ => return walk(frame),
        };
        return Ok(FrameInfo {
            frame,
            packet_len: end as u32,
            upper_offset: field::HEADER_LEN as u16,
            fragment_at: 0,
            router_alert: None,
            protocol: next,
            ext_count: 0,
            upper_header: true,
            ports: ports.unwrap_or(0),
            has_ports: ports.is_some(),
        });
    }
    walk(frame)
}

/// The full parse: fixed header checks and the extension-header walk.
#[inline(never)]
fn walk(frame: &[u8]) -> Result<FrameInfo<'_>> {
    let Some(h) = frame.first_chunk::<{ field::HEADER_LEN }>() else {
        return Err(Error::Truncated);
    };
    if h[0] >> 4 != 6 {
        return Err(Error::Malformed);
    }
    let payload_len = u16::from_be_bytes([h[4], h[5]]);
    let mut next = h[field::NEXT_HEADER];
    if payload_len == 0 && next == nh::HOP_BY_HOP {
        return Err(jumbogram(frame));
    }
    let end = field::HEADER_LEN + usize::from(payload_len);
    let Some(packet) = frame.get(..end) else {
        return Err(Error::Truncated);
    };
    let dst_multicast = h[field::DST_ADDR.start] == 0xff;

    let mut ext_count = 0u8;
    let mut router_alert = None;
    // Offset of the Next Header field that named the header at `offset`.
    let mut named_at = field::NEXT_HEADER;
    let mut offset = field::HEADER_LEN;

    // RFC 8200 §4.3: Hop-by-Hop may only come right after the IPv6 header.
    if next == nh::HOP_BY_HOP {
        let (next_header, header) = ext_header(packet, offset, ExtHeaderKind::HopByHop, false)?;
        router_alert = options(header, offset, true, dst_multicast)?;
        ext_count = 1;
        named_at = offset;
        next = next_header;
        offset += header.len();
    }

    let mut fragment_at = 0usize;
    // Set inside a first fragment that has more to come: a short header there means the
    // sender split the header chain (RFC 7112), which has its own error.
    let mut split_chain = false;
    // Every turn consumes one header of at least 8 octets, and at most MAX_EXT_HEADERS
    // turns get past the count check, so the loop runs at most MAX_EXT_HEADERS + 1 times.
    loop {
        let kind = match next {
            nh::ROUTING => ExtHeaderKind::Routing,
            nh::FRAGMENT => ExtHeaderKind::Fragment,
            nh::DEST_OPTS => ExtHeaderKind::DestinationOptions,
            nh::AUTH => ExtHeaderKind::Authentication,
            // RFC 8200 §4: a Next Header of 0 in any header but the IPv6 header is treated
            // as an unrecognized Next Header (§4.3: Hop-by-Hop must come first).
            nh::HOP_BY_HOP | nh::MOBILITY | nh::HIP | nh::SHIM6 => {
                return Err(param_problem(
                    ParamProblemCode::UnrecognizedNxtHdr,
                    named_at,
                ));
            }
            _ => break,
        };
        if usize::from(ext_count) == MAX_EXT_HEADERS {
            // RFC 8883 §3: "too many extension headers", pointing at the first header past
            // the limit.
            return Err(param_problem(ParamProblemCode::Unknown(8), offset));
        }
        let (next_header, header) = ext_header(packet, offset, kind, split_chain)?;
        ext_count += 1;
        match kind {
            ExtHeaderKind::DestinationOptions => {
                options(header, offset, false, dst_multicast)?;
            }
            ExtHeaderKind::Routing => {
                // RFC 8200 §4.4: a node that does not recognize the Routing Type ignores the
                // header if Segments Left is zero, else it discards the packet and answers
                // with code 0 pointing at the Routing Type. RFC 5095 §3: type 0 is to be
                // treated as unrecognized.
                if header
                    .get(field::SEGMENTS_LEFT)
                    .is_some_and(|&left| left != 0)
                {
                    return Err(param_problem(
                        ParamProblemCode::ErroneousHdrField,
                        offset + field::ROUTING_TYPE,
                    ));
                }
            }
            ExtHeaderKind::Fragment => {
                let fragment = fragment_header(header, offset, end)?;
                if fragment_at == 0 {
                    fragment_at = offset;
                }
                if fragment.offset != 0 {
                    // The rest is fragment data, not headers.
                    return Ok(FrameInfo {
                        frame,
                        packet_len: end as u32,
                        upper_offset: (offset + header.len()) as u16,
                        fragment_at: fragment_at as u16,
                        router_alert,
                        protocol: next_header,
                        ext_count,
                        upper_header: false,
                        ports: 0,
                        has_ports: false,
                    });
                }
                split_chain |= fragment.more;
            }
            ExtHeaderKind::HopByHop | ExtHeaderKind::Authentication => {}
        }
        named_at = offset;
        next = next_header;
        offset += header.len();
    }

    // RFC 8200 §4.7: whatever follows "No Next Header" is ignored.
    let upper_header = next != nh::NO_NEXT;
    let mut ports = None;
    if upper_header {
        let rest = packet.get(offset..).unwrap_or(&[]);
        match check_upper_layer(rest, next, nh::ICMPV6, !split_chain) {
            Ok(p) => ports = p,
            Err(UpperError::Short) => return Err(short(split_chain)),
            Err(UpperError::Malformed) => return Err(Error::Malformed),
        }
    }
    // The casts are lossless: a packet is at most 40 + 65,535 octets, and the upper layer
    // starts after at most MAX_EXT_HEADERS headers of at most 2048 octets each.
    Ok(FrameInfo {
        frame,
        packet_len: end as u32,
        upper_offset: offset as u16,
        fragment_at: fragment_at as u16,
        router_alert,
        protocol: next,
        ext_count,
        upper_header,
        ports: ports.unwrap_or(0),
        has_ports: ports.is_some(),
    })
}

/// The extension header of `kind` at `offset` in `packet`: its Next Header and its octets.
/// A header past the packet's end is [`short`].
#[inline(always)]
fn ext_header(
    packet: &[u8],
    offset: usize,
    kind: ExtHeaderKind,
    split_chain: bool,
) -> Result<(u8, &[u8])> {
    let rest = packet.get(offset..).unwrap_or(&[]);
    let Some(&[next_header, len_octet]) = rest.first_chunk() else {
        return Err(short(split_chain));
    };
    match rest.get(..kind.header_len(len_octet)) {
        Some(header) => Ok((next_header, header)),
        None => Err(short(split_chain)),
    }
}

/// The error for a header that does not fit in the packet.
#[inline]
fn short(split_chain: bool) -> Error {
    if split_chain {
        // RFC 8200 §4.5: a first fragment without every header through the upper-layer
        // header is discarded, with Parameter Problem code 3 and a pointer of zero
        // (code 3 is from RFC 7112).
        param_problem(ParamProblemCode::Unknown(3), 0)
    } else {
        Error::Truncated
    }
}

/// Reads and checks a Fragment header at `offset` (8 octets in `header`) of a packet that
/// ends at `end`.
#[inline]
fn fragment_header(header: &[u8], offset: usize, end: usize) -> Result<FragmentInfo> {
    let Some(h) = header.first_chunk::<8>() else {
        return Err(Error::Truncated);
    };
    let info = fragment_v6(
        u16::from_be_bytes([h[2], h[3]]),
        u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
    );
    let data_len = end - (offset + field::FRAG_LEN);
    // RFC 8200 §4.5: with M set, a fragment whose length is not a multiple of 8 octets is
    // discarded, with code 0 pointing at the Payload Length field.
    if info.more && !data_len.is_multiple_of(8) {
        return Err(param_problem(
            ParamProblemCode::ErroneousHdrField,
            field::PAYLOAD_LEN.start,
        ));
    }
    // RFC 8200 §4.5: a fragment that would make the reassembled Payload Length exceed
    // 65,535 octets is discarded, with code 0 pointing at the Fragment Offset field.
    let unfragmentable = offset - field::HEADER_LEN;
    if unfragmentable + usize::from(info.offset) + data_len > usize::from(u16::MAX) {
        return Err(param_problem(
            ParamProblemCode::ErroneousHdrField,
            offset + field::FRAG_OFFSET.start,
        ));
    }
    Ok(info)
}

/// Walks the options of a Hop-by-Hop or Destination Options header (`header`, starting at
/// `base` in the frame) and returns the Router Alert value if there is one (Hop-by-Hop only).
///
/// Bounded: every turn moves at least one octet forward in a header of at most 2048 octets.
#[inline]
fn options(
    header: &[u8],
    base: usize,
    hop_by_hop: bool,
    dst_multicast: bool,
) -> Result<Option<u16>> {
    // The Hop-by-Hop header that MLD (RFC 3810 §5) and most Router Alert users send: the
    // option and a two-octet PadN, nothing else.
    if let Some(&[_, 0, opt::ROUTER_ALERT, 2, hi, lo, 1, 0]) = header.first_chunk::<8>()
        && hop_by_hop
        && header.len() == 8
    {
        return Ok(Some(u16::from_be_bytes([hi, lo])));
    }
    let mut router_alert = None;
    let mut i = 2;
    while let Some(&kind) = header.get(i) {
        if kind == opt::PAD1 {
            i += 1;
            continue;
        }
        let Some(&len) = header.get(i + 1) else {
            // The type is the header's last octet: its length octet would lie past the
            // header.
            return Err(param_problem(ParamProblemCode::ErroneousHdrField, base + i));
        };
        let next = i + 2 + usize::from(len);
        if next > header.len() {
            return Err(param_problem(
                ParamProblemCode::ErroneousHdrField,
                base + i + 1,
            ));
        }
        if kind == opt::ROUTER_ALERT && hop_by_hop {
            // RFC 2711 §2.1: the option carries a two-octet value.
            if len != 2 {
                return Err(Error::Malformed);
            }
            let Some(&[hi, lo]) = header.get(i + 2..).and_then(|d| d.first_chunk()) else {
                return Err(Error::Malformed);
            };
            router_alert = Some(u16::from_be_bytes([hi, lo]));
        } else if kind & 0xc0 != 0 {
            unrecognized_option(kind, base + i, hop_by_hop, dst_multicast)?;
        }
        i = next;
    }
    Ok(router_alert)
}

/// Decides what to do with an option whose action bits are not 00 (RFC 8200 §4.2). Its
/// type octet is at `pointer`.
#[cold]
fn unrecognized_option(
    kind: u8,
    pointer: usize,
    hop_by_hop: bool,
    dst_multicast: bool,
) -> Result<()> {
    if kind == opt::JUMBO && hop_by_hop {
        // RFC 2675 §3: a Jumbo Payload option with a non-zero Payload Length (the only kind
        // that gets here) is an error at the option's type octet.
        return Err(param_problem(ParamProblemCode::ErroneousHdrField, pointer));
    }
    match kind >> 6 {
        // 01: discard the packet, say nothing.
        1 => Err(Error::Unsupported),
        // 10: discard and send Parameter Problem code 2, pointing at the option type, even
        // to a multicast destination.
        2 => Err(param_problem(ParamProblemCode::UnrecognizedOption, pointer)),
        // 11: the same, but only if the destination was not multicast.
        3 if !dst_multicast => Err(param_problem(ParamProblemCode::UnrecognizedOption, pointer)),
        3 => Err(Error::Unsupported),
        // 00: skip the option.
        _ => Ok(()),
    }
}

/// Payload Length 0 with a Hop-by-Hop header: a jumbogram if that header has a Jumbo Payload
/// option (RFC 2675 §2), which this crate does not support; else an error at the Payload
/// Length field (RFC 2675 §3).
#[cold]
fn jumbogram(frame: &[u8]) -> Error {
    let no_jumbo = param_problem(
        ParamProblemCode::ErroneousHdrField,
        field::PAYLOAD_LEN.start,
    );
    let Some(&len) = frame.get(field::HEADER_LEN + field::EXT_LEN) else {
        return no_jumbo;
    };
    let end = field::HEADER_LEN + (usize::from(len) + 1) * 8;
    let Some(header) = frame.get(field::HEADER_LEN..end) else {
        return no_jumbo;
    };
    let mut i = 2;
    while let Some(&kind) = header.get(i) {
        if kind == opt::PAD1 {
            i += 1;
            continue;
        }
        if kind == opt::JUMBO {
            return Error::Unsupported;
        }
        let Some(&len) = header.get(i + 1) else {
            break;
        };
        i += 2 + usize::from(len);
    }
    no_jumbo
}
