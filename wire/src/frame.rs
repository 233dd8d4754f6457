//! Bare IP frames: on a point-to-point link the frame *is* the IP packet.
//!
//! This is the receive fast path. [`parse`] looks at the version nibble, validates the IPv4
//! or IPv6 header and its lengths, walks the IPv6 extension-header chain (Hop-by-Hop,
//! Routing, Fragment, Destination Options, Authentication) by the headers' length fields, and
//! reports the upper-layer protocol, where it starts, and its ports or ICMP type and code
//! through [`FrameInfo`], a small `Copy` view of the validated frame. It neither allocates nor
//! copies the packet: parsing keeps only what the walk computed, and the accessors read the
//! header fields from the frame itself. It looks at an option only where a decision needs it
//! (the action bits of an option with a non-zero action, the Router Alert value, the Jumbo
//! Payload option).
//!
//! Errors say what a receiver must do: [`Error::ParameterProblem`](crate::Error) carries the
//! ICMPv6 Parameter Problem code and pointer to send back (RFC 8200 §4, RFC 4443 §3.4);
//! [`Error::Unsupported`](crate::Error) means "discard silently"; [`Error::Truncated`] and
//! [`Error::Malformed`] mean "discard"; [`Error::Checksum`] is a bad IPv4 header checksum.
//! Bytes after the length the IP header declares are not an error: they are reported by
//! [`FrameInfo::trailing`].
//!
//! For the emit path, [`Ipv6Header`] is an owned IPv6 header that keeps what
//! `smoltcp::wire::Ipv6Repr` drops (traffic class, flow label, payload length), and
//! [`emit_udp_v6`] writes a complete IPv6 + UDP packet with its checksum.
//!
//! The walker stops at [`MAX_EXT_HEADERS`] extension headers; a packet with more is refused
//! with Parameter Problem code 8, "too many extension headers" (RFC 8883 §3), pointing at the
//! first header beyond the limit. Senders that need longer chains are rare; a user who meets
//! one can tell the sender with that ICMPv6 error.
//!
//! Extension headers other than Hop-by-Hop are for the packet's destination (RFC 8200 §4):
//! a forwarder that is not the destination should act only on the errors that concern the
//! IPv6 header and the Hop-by-Hop Options header.
//!
//! [`Error::Truncated`]: crate::Error::Truncated
//! [`Error::Malformed`]: crate::Error::Malformed
//! [`Error::Checksum`]: crate::Error::Checksum
//!
//! # Example
//!
//! ```
//! use bridgeless_wire::frame::{self, Ipv6Header, IpVersion};
//! use smoltcp::wire::IpProtocol;
//!
//! let header = Ipv6Header {
//!     src: "fd00::1".parse().unwrap(),
//!     dst: "fd00::2".parse().unwrap(),
//!     next_header: IpProtocol::Udp, // replaced by emit_udp_v6
//!     payload_len: 0,               // replaced by emit_udp_v6
//!     hop_limit: 64,
//!     traffic_class: 0xb8,
//!     flow_label: 0x12345,
//! };
//! let mut buf = [0u8; 128];
//! let len = frame::emit_udp_v6(&header, 5353, 53, b"hello", &mut buf)?;
//!
//! let info = frame::parse(&buf[..len])?;
//! assert_eq!(info.version(), IpVersion::V6);
//! assert_eq!(info.protocol(), IpProtocol::Udp);
//! assert_eq!(info.ports(), Some((5353, 53)));
//! assert_eq!(info.flow_label(), 0x12345);
//! assert_eq!(info.upper_layer(), &buf[40..len]);
//! assert_eq!(info.ext_headers().len(), 0);
//! # Ok::<(), bridgeless_wire::Error>(())
//! ```

use core::net::{IpAddr, Ipv6Addr};

use smoltcp::wire::IpProtocol;

use crate::{Error, ParamProblemCode, ParameterProblem, Result};

mod header;
mod icmp_error;

/// Offsets in the IPv6 fixed header (RFC 8200 §3), shared by the parser and the emitter.
///
/// ```text
/// +-------+---------------+--------------------------------------+
/// |Version| Traffic Class |              Flow Label              |  0..4
/// +-------+---------------+-------+--------------+---------------+
/// |         Payload Length        |  Next Header |   Hop Limit   |  4..8
/// +-------------------------------+--------------+---------------+
/// |                       Source Address                         |  8..24
/// |                     Destination Address                      |  24..40
/// +--------------------------------------------------------------+
/// ```
mod v6_fixed {
    #![allow(dead_code)]
    use core::ops::Range;

    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const HEADER_LEN: usize = 40;
}
mod ipv4;
mod ipv6;
#[cfg(test)]
mod tests;

pub use header::{Ipv6Header, emit_udp_v6};
pub use icmp_error::{
    ICMPV6_ERROR_HOP_LIMIT, ICMPV6_ERROR_MAX_LEN, Icmpv6Error, emit_icmpv6_error, is_icmpv6_error,
};
pub use ipv4::parse_ipv4;
pub use ipv6::parse_ipv6;

/// How many extension headers [`parse_ipv6`] walks before it gives up with Parameter Problem
/// code 8 (RFC 8883 §3, "too many extension headers"), pointing at the first header beyond
/// this limit.
pub const MAX_EXT_HEADERS: usize = 8;

/// The IP version of a frame, from the high nibble of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (RFC 791).
    V4,
    /// IPv6 (RFC 8200).
    V6,
}

/// Tells IPv4 from IPv6 by the version nibble, which both put in the high four bits of the
/// first byte.
///
/// An empty frame is [`Error::Truncated`]; any other version is [`Error::Unsupported`].
#[inline(always)]
pub fn classify(frame: &[u8]) -> Result<IpVersion> {
    match frame.first().map(|b| b >> 4) {
        None => Err(Error::Truncated),
        Some(4) => Ok(IpVersion::V4),
        Some(6) => Ok(IpVersion::V6),
        Some(_) => Err(Error::Unsupported),
    }
}

/// Parses a bare IP frame of either version: [`classify`], then [`parse_ipv4`] or
/// [`parse_ipv6`].
#[inline(always)]
pub fn parse(frame: &[u8]) -> Result<FrameInfo<'_>> {
    // IPv6 first, with one look at the version nibble: the common case on our links.
    if frame.first().is_some_and(|b| b >> 4 == 6) {
        return parse_ipv6(frame);
    }
    match classify(frame)? {
        IpVersion::V4 => parse_ipv4(frame),
        IpVersion::V6 => parse_ipv6(frame),
    }
}

/// What [`parse`] found in a frame: a zero-copy view of the validated frame.
///
/// Parsing stores only what the walk computed (where the upper layer starts, its protocol,
/// where the first Fragment header is, the Router Alert value, how many extension headers
/// there are); every other accessor reads the frame's own octets, which parsing has already
/// bounds-checked. Offsets are in octets from the start of the frame (which is the start of
/// the IP header).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo<'a> {
    frame: &'a [u8],
    packet_len: u32,
    upper_offset: u16,
    /// IPv6: offset of the first Fragment header, 0 if none (it can never be at 0).
    fragment_at: u16,
    router_alert: Option<u16>,
    protocol: u8,
    ext_count: u8,
    /// The upper-layer header starts at `upper_offset` and was checked.
    upper_header: bool,
    /// TCP or UDP source and destination ports (source in the high half), read while
    /// checking the upper-layer header; meaningful when `has_ports`.
    ports: u32,
    has_ports: bool,
}

impl<'a> FrameInfo<'a> {
    #[inline]
    fn octet(&self, at: usize) -> u8 {
        self.frame.get(at).copied().unwrap_or(0)
    }

    #[inline]
    fn be16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.octet(at), self.octet(at + 1)])
    }

    #[inline]
    fn be32(&self, at: usize) -> u32 {
        (u32::from(self.be16(at)) << 16) | u32::from(self.be16(at + 2))
    }

    #[inline]
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        self.frame
            .get(at..)
            .and_then(|rest| rest.first_chunk::<N>())
            .copied()
            .unwrap_or([0; N])
    }

    /// The whole frame this was parsed from, trailing octets included.
    #[inline]
    pub fn frame(&self) -> &'a [u8] {
        self.frame
    }

    /// The packet: the frame without its trailing octets.
    #[inline]
    pub fn packet(&self) -> &'a [u8] {
        self.frame.get(..self.packet_len()).unwrap_or(&[])
    }

    /// IP version.
    #[inline]
    pub fn version(&self) -> IpVersion {
        if self.octet(0) >> 4 == 6 {
            IpVersion::V6
        } else {
            IpVersion::V4
        }
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> IpAddr {
        match self.version() {
            IpVersion::V6 => IpAddr::from(self.array::<16>(8)),
            IpVersion::V4 => IpAddr::from(self.array::<4>(12)),
        }
    }

    /// Destination address (for IPv6, as in the IPv6 header: a Routing header with Segments
    /// Left 0 does not change it).
    #[inline]
    pub fn dst(&self) -> IpAddr {
        match self.version() {
            IpVersion::V6 => IpAddr::from(self.array::<16>(24)),
            IpVersion::V4 => IpAddr::from(self.array::<4>(16)),
        }
    }

    /// The IPv6 source and destination addresses, for callers that know the frame is IPv6
    /// (the octets at those offsets otherwise).
    #[inline]
    pub(crate) fn ipv6_addrs(&self) -> (Ipv6Addr, Ipv6Addr) {
        (
            Ipv6Addr::from(self.array::<16>(8)),
            Ipv6Addr::from(self.array::<16>(24)),
        )
    }

    /// IPv6 Hop Limit or IPv4 Time to Live.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        match self.version() {
            IpVersion::V6 => self.octet(7),
            IpVersion::V4 => self.octet(8),
        }
    }

    /// IPv6 Traffic Class or IPv4 Type of Service octet: DSCP in the high six bits, ECN in the
    /// low two.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        match self.version() {
            IpVersion::V6 => (self.be16(0) >> 4) as u8,
            IpVersion::V4 => self.octet(1),
        }
    }

    /// IPv6 Flow Label (20 bits); 0 for IPv4.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        match self.version() {
            IpVersion::V6 => self.be32(0) & 0x000f_ffff,
            IpVersion::V4 => 0,
        }
    }

    /// IPv6 Payload Length: everything after the 40-octet header, extension headers
    /// included. For IPv4, Total Length minus the header length (options included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        match self.version() {
            IpVersion::V6 => self.be16(4),
            IpVersion::V4 => self
                .be16(2)
                .wrapping_sub(u16::from(self.octet(0) & 0x0f) * 4),
        }
    }

    /// Length of the packet as its IP header declares it: `frame().len() - trailing()`.
    #[inline]
    pub fn packet_len(&self) -> usize {
        self.packet_len as usize
    }

    /// Octets in the frame after the declared packet length. Reported, not an error: the
    /// upper layer must ignore them.
    #[inline]
    pub fn trailing(&self) -> usize {
        self.frame.len().saturating_sub(self.packet_len())
    }

    /// The upper-layer protocol: the last Next Header of the chain
    /// ([`IpProtocol::Ipv6NoNxt`] when the chain ends with "No Next Header", RFC 8200 §4.7).
    /// For a fragment that is not the first, the Next Header of the Fragment header, which
    /// may even name an extension header, since the fragment's data is not parsed.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.protocol)
    }

    /// [`protocol`](Self::protocol) as the raw Next Header (or IPv4 Protocol) number, for
    /// dispatch tables and counters indexed by protocol number.
    #[inline]
    pub fn protocol_number(&self) -> u8 {
        self.protocol
    }

    /// Where the upper-layer header starts (for a non-first fragment: where the fragment data
    /// starts; after "No Next Header": where the ignored octets start).
    #[inline]
    pub fn upper_offset(&self) -> usize {
        self.upper_offset.into()
    }

    /// The upper-layer octets (header and payload): from [`upper_offset`](Self::upper_offset)
    /// to the declared end of the packet.
    #[inline]
    pub fn upper_layer(&self) -> &'a [u8] {
        self.frame
            .get(self.upper_offset()..self.packet_len())
            .unwrap_or(&[])
    }

    /// Whether the packet carries the start of its upper-layer header, checked: it is not a
    /// fragment other than the first, and its chain does not end with "No Next Header".
    #[inline]
    pub fn has_upper_header(&self) -> bool {
        self.upper_header
    }

    /// TCP or UDP source and destination ports, when the packet carries the start of the
    /// upper-layer header (not in a non-first fragment).
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.has_ports
            .then_some(((self.ports >> 16) as u16, self.ports as u16))
    }

    /// ICMPv6 (or, for IPv4, ICMP) type and code, when the packet carries them.
    #[inline]
    pub fn icmp(&self) -> Option<(u8, u8)> {
        let icmp = match self.version() {
            IpVersion::V6 => 58,
            IpVersion::V4 => 1,
        };
        if !self.upper_header || self.protocol != icmp {
            return None;
        }
        let p = self.frame.get(self.upper_offset()..)?.first_chunk::<2>()?;
        Some((p[0], p[1]))
    }

    /// The first Fragment header of an IPv6 packet, or the IPv4 fragment fields when the
    /// packet is a fragment (More Fragments set or a non-zero offset).
    #[inline]
    pub fn fragment(&self) -> Option<FragmentInfo> {
        match self.version() {
            IpVersion::V6 => {
                let at = usize::from(self.fragment_at);
                (at != 0).then(|| fragment_v6(self.be16(at + 2), self.be32(at + 4)))
            }
            IpVersion::V4 => {
                let flags_offset = self.be16(6);
                let info = FragmentInfo {
                    offset: (flags_offset & 0x1fff) << 3,
                    more: flags_offset & 0x2000 != 0,
                    ident: self.be16(4).into(),
                };
                (info.more || info.offset != 0).then_some(info)
            }
        }
    }

    /// The value of a Router Alert option (RFC 2711) in the Hop-by-Hop Options header: 0 for
    /// MLD. Only IPv6.
    #[inline]
    pub fn router_alert(&self) -> Option<u16> {
        self.router_alert
    }

    /// The IPv6 extension headers walked, in order (none for IPv4): at most
    /// [`MAX_EXT_HEADERS`]. Parsing already checked them; this reads their Next Header and
    /// length octets again rather than storing a list.
    #[inline]
    pub fn ext_headers(&self) -> ExtHeaders<'a> {
        ExtHeaders {
            frame: self.frame,
            next: self.octet(6),
            offset: 40,
            left: self.ext_count,
        }
    }

    /// The Parameter Problem a host sends when it has no handler for [`protocol`](Self::protocol):
    /// code 1 (unrecognized Next Header), pointing at the Next Header field that named it —
    /// the IPv6 header's (octet 6) or the last extension header's first octet (RFC 8200 §4,
    /// RFC 4443 §3.4). For IPv4 the pointer is the Protocol field (octet 9).
    ///
    /// Parsing does not refuse unknown upper-layer protocols itself, since a router forwards
    /// them untouched; which protocols a host serves is the host's decision.
    pub fn unrecognized_next_header(&self) -> ParameterProblem {
        let pointer = match self.version() {
            IpVersion::V4 => 9,
            IpVersion::V6 => self.ext_headers().last().map_or(6, |h| h.offset()),
        };
        ParameterProblem {
            code: ParamProblemCode::UnrecognizedNxtHdr,
            pointer: pointer as u32,
        }
    }

    /// The IPv6 fixed header as an owned [`Ipv6Header`]; `None` for IPv4.
    #[inline]
    pub fn ipv6_header(&self) -> Option<Ipv6Header> {
        match self.version() {
            IpVersion::V6 => Ipv6Header::parse(self.frame).ok(),
            IpVersion::V4 => None,
        }
    }
}

impl core::fmt::Debug for FrameInfo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameInfo")
            .field("version", &self.version())
            .field("src", &self.src())
            .field("dst", &self.dst())
            .field("packet_len", &self.packet_len())
            .field("trailing", &self.trailing())
            .field("protocol", &self.protocol())
            .field("upper_offset", &self.upper_offset())
            .field("ports", &self.ports())
            .field("icmp", &self.icmp())
            .field("fragment", &self.fragment())
            .field("router_alert", &self.router_alert())
            .field("ext_headers", &self.ext_headers())
            .finish()
    }
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The fields of an IPv6 Fragment header from its offset/flags word and identification.
#[inline]
fn fragment_v6(offset_flags: u16, ident: u32) -> FragmentInfo {
    FragmentInfo {
        offset: offset_flags & !7,
        more: offset_flags & 1 != 0,
        ident,
    }
}

/// The fields of an IPv6 Fragment header (RFC 8200 §4.5) or of an IPv4 fragment (RFC 791).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Offset of this fragment's data in the original packet's fragmentable part, in octets
    /// (a multiple of 8).
    pub offset: u16,
    /// The M flag: more fragments follow.
    pub more: bool,
    /// The Identification field (16 bits for IPv4).
    pub ident: u32,
}

impl FragmentInfo {
    /// An atomic fragment (offset 0, no more fragments) is a whole packet carrying a Fragment
    /// header, to be processed as such (RFC 6946 §4).
    #[inline]
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// The IPv6 extension headers [`parse_ipv6`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtHeaderKind {
    /// Hop-by-Hop Options (Next Header 0, RFC 8200 §4.3).
    HopByHop,
    /// Routing (43, RFC 8200 §4.4).
    Routing,
    /// Fragment (44, RFC 8200 §4.5).
    Fragment,
    /// Destination Options (60, RFC 8200 §4.6).
    DestinationOptions,
    /// IP Authentication Header (51, RFC 4302), skipped by its length.
    Authentication,
}

impl ExtHeaderKind {
    /// The kind of extension header a Next Header value names, if this crate walks it.
    #[inline]
    pub fn from_next_header(next_header: u8) -> Option<Self> {
        match next_header {
            0 => Some(ExtHeaderKind::HopByHop),
            43 => Some(ExtHeaderKind::Routing),
            44 => Some(ExtHeaderKind::Fragment),
            60 => Some(ExtHeaderKind::DestinationOptions),
            51 => Some(ExtHeaderKind::Authentication),
            _ => None,
        }
    }

    /// The Next Header value that names this header.
    pub fn protocol(self) -> IpProtocol {
        match self {
            ExtHeaderKind::HopByHop => IpProtocol::HopByHop,
            ExtHeaderKind::Routing => IpProtocol::Ipv6Route,
            ExtHeaderKind::Fragment => IpProtocol::Ipv6Frag,
            ExtHeaderKind::DestinationOptions => IpProtocol::Ipv6Opts,
            ExtHeaderKind::Authentication => IpProtocol::IpSecAh,
        }
    }

    /// The length of a header of this kind whose length octet (its second) is `len_octet`:
    /// 8-octet units not counting the first for most (RFC 8200 §4.3-4.6), always 8 for a
    /// Fragment header (whose second octet is reserved), 4-octet units not counting the
    /// first two for AH (RFC 4302 §2.2).
    #[inline]
    pub fn header_len(self, len_octet: u8) -> usize {
        match self {
            ExtHeaderKind::Fragment => 8,
            ExtHeaderKind::Authentication => (usize::from(len_octet) + 2) * 4,
            _ => (usize::from(len_octet) + 1) * 8,
        }
    }
}

/// One extension header of a frame: its kind, where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtHeader<'a> {
    kind: ExtHeaderKind,
    offset: usize,
    bytes: &'a [u8],
}

impl<'a> ExtHeader<'a> {
    /// The kind of header.
    #[inline]
    pub fn kind(&self) -> ExtHeaderKind {
        self.kind
    }

    /// Where the header starts, in octets from the start of the frame.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The header's length in octets, from its own length field.
    #[inline]
    #[allow(clippy::len_without_is_empty)] // a header is never empty
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The header's octets, Next Header first.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The extension headers of a parsed frame, in order (see [`FrameInfo::ext_headers`]).
#[derive(Clone, Copy)]
pub struct ExtHeaders<'a> {
    frame: &'a [u8],
    next: u8,
    offset: usize,
    left: u8,
}

impl<'a> Iterator for ExtHeaders<'a> {
    type Item = ExtHeader<'a>;

    #[inline]
    fn next(&mut self) -> Option<ExtHeader<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let kind = ExtHeaderKind::from_next_header(self.next)?;
        let rest = self.frame.get(self.offset..)?;
        let len = kind.header_len(*rest.get(1)?);
        let bytes = rest.get(..len)?;
        let header = ExtHeader {
            kind,
            offset: self.offset,
            bytes,
        };
        self.next = *bytes.first()?;
        self.offset += len;
        Some(header)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for ExtHeaders<'_> {}

impl core::fmt::Debug for ExtHeaders<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

/// Why the upper-layer header could not be read.
#[derive(Clone, Copy)]
enum UpperError {
    /// It does not fit in the packet.
    Short,
    /// A length field is impossible.
    Malformed,
}

/// Checks the fixed part of the upper-layer header in `rest` (the packet from the
/// upper-layer header to its declared end): UDP and TCP lengths, and 4 octets of ICMP
/// (`icmp` is 58 for IPv6, 1 for IPv4). `whole` says `rest` is the complete upper-layer
/// datagram (not a first fragment), so the UDP Length can be checked against it. Returns the
/// TCP or UDP ports.
#[inline(always)]
fn check_upper_layer(
    rest: &[u8],
    protocol: u8,
    icmp: u8,
    whole: bool,
) -> core::result::Result<Option<u32>, UpperError> {
    let ports = |h: &[u8; 4]| Some(u32::from_be_bytes(*h));
    if protocol == UDP {
        let h = rest.first_chunk::<8>().ok_or(UpperError::Short)?;
        // RFC 768: Length counts the UDP header and data, so it is at least 8.
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if whole && len < 8 {
            return Err(UpperError::Malformed);
        }
        if whole && len > rest.len() {
            return Err(UpperError::Short);
        }
        Ok(ports(h.first_chunk::<4>().ok_or(UpperError::Short)?))
    } else if protocol == TCP {
        let h = rest.first_chunk::<20>().ok_or(UpperError::Short)?;
        // RFC 9293 §3.1: Data Offset counts 32-bit words of header, at least 5.
        let data_offset = usize::from(h[12] >> 4) * 4;
        if data_offset < 20 {
            return Err(UpperError::Malformed);
        }
        if data_offset > rest.len() {
            return Err(UpperError::Short);
        }
        Ok(ports(h.first_chunk::<4>().ok_or(UpperError::Short)?))
    } else if protocol == icmp && rest.len() < 4 {
        // Type, Code and Checksum (RFC 4443 §2.1, RFC 792).
        Err(UpperError::Short)
    } else {
        Ok(None)
    }
}

/// A Parameter Problem error with `code` at `pointer`.
#[inline]
fn param_problem(code: ParamProblemCode, pointer: usize) -> Error {
    Error::ParameterProblem(ParameterProblem {
        code,
        // Pointers stay within the declared packet, at most 40 + 65535 octets.
        pointer: pointer as u32,
    })
}
