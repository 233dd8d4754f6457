//! What Neighbor Discovery and MLD share around their ICMPv6 messages: the ICMPv6 checksum,
//! the common accessors of their message views, the whole IPv6 packet on emit, and on
//! receive the reduction of a packet to its ICMPv6 message with the errors both count.
//!
//! The IPv6 side is [`crate::frame`]'s: [`Ipv6Header::emit`] writes the fixed header and
//! [`frame::parse_ipv6`] walks the extension headers (RFC 8200 §4 option actions, the Router
//! Alert value, fragments), so ND and MLD accept exactly the chains the receive path does.

use core::fmt;

use smoltcp::wire::{IpProtocol, Ipv6Address, checksum};

use crate::frame::{self, ExtHeaderKind, Ipv6Header};
use crate::{Error, Result};

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

/// The accessors every ND and MLD message view shares: construction, the buffer, and the
/// ICMPv6 header of RFC 4443 §2.1 (type, code, checksum). `$field` names the caller's field
/// module, which has `TYPE`, `CODE` and `CHECKSUM`. `new_checked` calls the view's own
/// `check_len`.
macro_rules! icmpv6_accessors {
    ($field:ident) => {
        /// Wraps a buffer without checking it; accessors may panic until
        /// [`check_len`](Self::check_len) succeeds.
        pub const fn new_unchecked(buffer: T) -> Self {
            Self { buffer }
        }

        /// Wraps a buffer after [`check_len`](Self::check_len).
        pub fn new_checked(buffer: T) -> $crate::Result<Self> {
            let packet = Self::new_unchecked(buffer);
            packet.check_len()?;
            Ok(packet)
        }

        /// Returns the underlying buffer.
        pub fn into_inner(self) -> T {
            self.buffer
        }

        /// The ICMPv6 type.
        pub fn msg_type(&self) -> u8 {
            self.buffer.as_ref()[$field::TYPE]
        }

        /// The ICMPv6 code: 0 in a valid ND message (RFC 4861 §6.1); sent as zero and
        /// ignored on receipt in MLD (RFC 3810 §5.1.2, §5.2.2, where it is "Reserved").
        pub fn code(&self) -> u8 {
            self.buffer.as_ref()[$field::CODE]
        }

        /// The ICMPv6 checksum field.
        pub fn checksum(&self) -> u16 {
            let b = &self.buffer.as_ref()[$field::CHECKSUM];
            u16::from_be_bytes([b[0], b[1]])
        }

        /// Checks the ICMPv6 checksum of the whole buffer against the pseudo-header of `src`
        /// and `dst`.
        pub fn verify_checksum(
            &self,
            src: &::core::net::Ipv6Addr,
            dst: &::core::net::Ipv6Addr,
        ) -> bool {
            $crate::ndp::ipv6::icmpv6_checksum(src, dst, self.buffer.as_ref()) == 0
        }
    };
}

/// The setters of the ICMPv6 header (RFC 4443 §2.1) for a view with a mutable buffer, and
/// `fill_checksum`. `$field` as for `icmpv6_accessors`.
macro_rules! icmpv6_setters {
    ($field:ident) => {
        /// Sets the ICMPv6 type.
        pub fn set_msg_type(&mut self, value: u8) {
            self.buffer.as_mut()[$field::TYPE] = value;
        }

        /// Sets the ICMPv6 code.
        pub fn set_code(&mut self, value: u8) {
            self.buffer.as_mut()[$field::CODE] = value;
        }

        /// Sets the checksum field.
        pub fn set_checksum(&mut self, value: u16) {
            self.buffer.as_mut()[$field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
        }

        /// Computes and writes the ICMPv6 checksum over the whole buffer.
        pub fn fill_checksum(&mut self, src: &::core::net::Ipv6Addr, dst: &::core::net::Ipv6Addr) {
            self.set_checksum(0);
            let sum = $crate::ndp::ipv6::icmpv6_checksum(src, dst, self.buffer.as_ref());
            self.set_checksum(sum);
        }
    };
}

pub(crate) use {icmpv6_accessors, icmpv6_setters};

/// Writes a whole IPv6 packet at the start of `buf` and returns its length: the fixed header
/// (traffic class and flow label zero, `hop_limit`), then `hop_by_hop` (empty, or a whole
/// Hop-by-Hop Options header whose Next Header is 58), then the ICMPv6 message of `msg_len`
/// octets that `emit_msg` writes, whose checksum is then filled in.
///
/// [`Error::Malformed`] if the payload is longer than a Payload Length can say,
/// [`Error::BufferTooSmall`] if `buf` is too short, or an error of `emit_msg`.
pub(crate) fn emit_icmpv6_packet(
    src: &Ipv6Address,
    dst: &Ipv6Address,
    hop_limit: u8,
    hop_by_hop: &[u8],
    msg_len: usize,
    emit_msg: impl FnOnce(&mut [u8]) -> Result<usize>,
    buf: &mut [u8],
) -> Result<usize> {
    let payload_len = u16::try_from(hop_by_hop.len() + msg_len).map_err(|_| Error::Malformed)?;
    let total = Ipv6Header::LEN + usize::from(payload_len);
    let buf = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
    let (header, rest) = buf.split_at_mut(Ipv6Header::LEN);
    let (ext, msg) = rest.split_at_mut(hop_by_hop.len());
    emit_msg(msg)?;
    super::emit_icmpv6_checksum(src, dst, msg);
    ext.copy_from_slice(hop_by_hop);
    let next_header = if hop_by_hop.is_empty() {
        IpProtocol::Icmpv6
    } else {
        IpProtocol::HopByHop
    };
    Ipv6Header {
        src: *src,
        dst: *dst,
        next_header,
        payload_len,
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(header)?;
    Ok(total)
}

/// Why a received ND or MLD packet fails the validity checks (RFC 4861 §6.1 for ND;
/// RFC 3810 §5.1.14, §5.2.13, §7.4 and RFC 2710 §5 for MLD), or is not one. Each is a
/// reason to drop the packet silently, and worth its own counter.
///
/// [`ndp::parse_ipv6`](crate::ndp::parse_ipv6) and [`mld::parse_ipv6`](crate::mld::parse_ipv6)
/// share the IPv6 checks and so this type; the variants that only one of them returns say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationError {
    /// The packet, an extension header, the ICMPv6 message's fixed part or (ND) an option
    /// ends early.
    Truncated,
    /// The IP version is not 6.
    NotIpv6,
    /// An extension header or option that the packet must be dropped for; the error says
    /// how, and carries the Parameter Problem to answer with where RFC 8200 §4 asks for one.
    ExtensionHeader(Error),
    /// The packet is a fragment: RFC 6980 §5 has nodes ignore fragmented ND messages, and
    /// MLD messages are never fragmented either.
    Fragmented,
    /// The upper layer is not ICMPv6.
    NotIcmpv6,
    /// (ND) The ICMPv6 type is not an ND message (133 to 137).
    NotNdp,
    /// (MLD) The ICMPv6 type is not an MLD message (130, 131, 132, 143).
    NotMld,
    /// The IPv6 hop limit is not the one the protocol requires: 255 for ND (RFC 4861
    /// §6.1), 1 for MLD (RFC 3810 §5, RFC 2710 §3).
    HopLimit,
    /// The ICMPv6 checksum is wrong.
    Checksum,
    /// (ND) The ICMPv6 code is not 0.
    Code,
    /// The source address is not allowed. ND: an advertisement not from a link-local
    /// address (§6.1.2), or a solicitation from `::` with a source link-layer address
    /// option (§6.1.1). MLD: not link-local (`::` is allowed for reports and done,
    /// RFC 3810 §5.2.13; never for queries, §5.1.14).
    SourceAddress,
    /// (ND) An option has length zero.
    OptionLength,
    /// (MLD) No Router Alert option with value 0 in a Hop-by-Hop Options header.
    RouterAlert,
    /// (MLD) A length the message format does not allow, such as a 26-octet query
    /// (RFC 3810 §8.1).
    Malformed,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationError::Truncated => f.write_str("truncated"),
            ValidationError::NotIpv6 => f.write_str("not IPv6"),
            ValidationError::ExtensionHeader(e) => write!(f, "extension header: {e}"),
            ValidationError::Fragmented => f.write_str("fragmented ND or MLD message"),
            ValidationError::NotIcmpv6 => f.write_str("not ICMPv6"),
            ValidationError::NotNdp => f.write_str("not a Neighbor Discovery message"),
            ValidationError::NotMld => f.write_str("not an MLD message"),
            ValidationError::HopLimit => f.write_str("wrong hop limit"),
            ValidationError::Checksum => f.write_str("bad ICMPv6 checksum"),
            ValidationError::Code => f.write_str("ICMPv6 code is not 0"),
            ValidationError::SourceAddress => f.write_str("source address not allowed"),
            ValidationError::OptionLength => f.write_str("option of length zero"),
            ValidationError::RouterAlert => f.write_str("no MLD Router Alert option"),
            ValidationError::Malformed => f.write_str("malformed MLD message"),
        }
    }
}

impl core::error::Error for ValidationError {}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Error {
        match e {
            ValidationError::Truncated => Error::Truncated,
            ValidationError::ExtensionHeader(e) => e,
            ValidationError::Checksum => Error::Checksum,
            ValidationError::NotIpv6
            | ValidationError::Fragmented
            | ValidationError::NotIcmpv6
            | ValidationError::NotNdp
            | ValidationError::NotMld => Error::Unsupported,
            ValidationError::HopLimit
            | ValidationError::Code
            | ValidationError::SourceAddress
            | ValidationError::OptionLength
            | ValidationError::RouterAlert
            | ValidationError::Malformed => Error::Malformed,
        }
    }
}

/// A received ND or MLD packet that passed validation: its addresses and its message
/// ([`ReceivedNdp`](crate::ndp::ReceivedNdp), [`ReceivedMld`](crate::mld::ReceivedMld)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<M> {
    /// The IPv6 source address.
    pub src_addr: Ipv6Address,
    /// The IPv6 destination address.
    pub dst_addr: Ipv6Address,
    /// The message.
    pub message: M,
}

/// A received IPv6 packet reduced to what ND and MLD validation needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Icmpv6InIpv6<'a> {
    pub src: Ipv6Address,
    pub dst: Ipv6Address,
    pub hop_limit: u8,
    /// The value of the Router Alert option of the Hop-by-Hop Options header, if any.
    pub router_alert: Option<u16>,
    /// The ICMPv6 type, code and checksum (the message is at least 4 octets).
    pub header: [u8; 4],
    /// The ICMPv6 message, bounded by the IPv6 Payload Length.
    pub message: &'a [u8],
}

/// Reads a bare IPv6 packet (fixed header first) with [`frame::parse_ipv6`] down to its
/// ICMPv6 message.
///
/// The frame walk does the IPv6 checks: lengths ([`ValidationError::Truncated`]; octets past
/// the Payload Length are link padding and ignored), the version
/// ([`ValidationError::NotIpv6`]), the extension headers and their options
/// ([`ValidationError::ExtensionHeader`] with the walk's error, which carries the Parameter
/// Problem where RFC 8200 §4 asks for one), and at least the 4 octets of the ICMPv6 header.
/// On top of it this refuses:
/// - any Fragment header, atomic ones included: RFC 6980 §5 has ND messages that carry one
///   ignored, and MLD messages are small enough never to be fragmented
///   ([`ValidationError::Fragmented`]);
/// - an Authentication Header: RFC 4861 §6.1.1 and §6.1.2 accept one only if it
///   authenticates, and no AH is verified here (`ExtensionHeader(Error::Unsupported)`);
/// - an upper layer other than ICMPv6 ([`ValidationError::NotIcmpv6`]).
///
/// [`frame::parse_ipv6`] rather than [`frame::parse`]: an IPv4 packet is
/// [`ValidationError::NotIpv6`] here, not a frame to read.
pub(crate) fn icmpv6_in_ipv6(
    packet: &[u8],
) -> core::result::Result<Icmpv6InIpv6<'_>, ValidationError> {
    let info = frame::parse_ipv6(packet).map_err(|e| match e {
        Error::Truncated => ValidationError::Truncated,
        // The walk says Malformed for a version other than 6, and for impossible fields
        // inside an IPv6 packet, which stay extension-header errors.
        Error::Malformed if packet.first().is_some_and(|b| b >> 4 != 6) => ValidationError::NotIpv6,
        e => ValidationError::ExtensionHeader(e),
    })?;
    if info.fragment().is_some() {
        return Err(ValidationError::Fragmented);
    }
    if info
        .ext_headers()
        .any(|h| h.kind() == ExtHeaderKind::Authentication)
    {
        return Err(ValidationError::ExtensionHeader(Error::Unsupported));
    }
    if info.protocol() != IpProtocol::Icmpv6 || !info.has_upper_header() {
        return Err(ValidationError::NotIcmpv6);
    }
    let message = info.upper_layer();
    // The walk checked the ICMPv6 header's 4 octets; this cannot fail.
    let header = *message
        .first_chunk::<4>()
        .ok_or(ValidationError::Truncated)?;
    let (src, dst) = info.ipv6_addrs();
    Ok(Icmpv6InIpv6 {
        src,
        dst,
        hop_limit: info.hop_limit(),
        router_alert: info.router_alert(),
        header,
        message,
    })
}

/// Rewrites the ICMPv6 checksum of a test packet whose message is `packet[at..end]`, over
/// the addresses of its IPv6 header.
#[cfg(test)]
pub(crate) fn refresh_checksum(packet: &mut [u8], at: usize, end: usize) {
    let src = Ipv6Address::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let dst = Ipv6Address::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    super::emit_icmpv6_checksum(&src, &dst, &mut packet[at..end]);
}
