//! An owned IPv6 header and the IPv6 + UDP emitter.
//!
//! ```text
//! IPv6 header (RFC 8200 §3):               UDP header (RFC 768):
//! +-------+---------------+-------------+  +----------------+----------------+
//! |Version| Traffic Class | Flow Label  |  |  Source Port   |   Dest Port    |
//! +-------+-------+-------+-------------+  +----------------+----------------+
//! | Payload Length| Next Hdr| Hop Limit |  |     Length     |    Checksum    |
//! +---------------+---------+-----------+  +----------------+----------------+
//! | Source Address (16)                 |
//! | Destination Address (16)            |
//! +-------------------------------------+
//! ```

use core::net::Ipv6Addr;

use smoltcp::wire::{IpProtocol, checksum};

use crate::{Error, Result};

mod field {
    #![allow(dead_code)]
    use core::ops::Range;

    pub use super::super::v6_fixed::*;

    pub const UDP_SRC_PORT: Range<usize> = 0..2;
    pub const UDP_DST_PORT: Range<usize> = 2..4;
    pub const UDP_LEN: Range<usize> = 4..6;
    pub const UDP_CHECKSUM: Range<usize> = 6..8;
    pub const UDP_HEADER_LEN: usize = 8;
}

/// The largest Flow Label (20 bits).
const FLOW_LABEL_MAX: u32 = 0x000f_ffff;

/// An owned IPv6 fixed header with every field, including those `smoltcp::wire::Ipv6Repr`
/// leaves out (traffic class, flow label, payload length). Forwarding and tests need them
/// intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Header {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The Next Header field: the first extension header or the upper-layer protocol.
    pub next_header: IpProtocol,
    /// Octets after the 40-octet header, extension headers included.
    pub payload_len: u16,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class: DSCP in the high six bits, ECN in the low two (RFC 2474, RFC 3168).
    pub traffic_class: u8,
    /// Flow Label, 20 bits (RFC 6437).
    pub flow_label: u32,
}

impl Ipv6Header {
    /// Length of the fixed IPv6 header.
    pub const LEN: usize = field::HEADER_LEN;

    /// Reads the 40-octet fixed header at the start of `bytes`.
    ///
    /// Only the fixed header is checked ([`Error::Truncated`] under 40 octets,
    /// [`Error::Malformed`] for a version other than 6); whether Payload Length fits the
    /// frame is for [`parse_ipv6`](super::parse_ipv6) to say.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let Some(h) = bytes.first_chunk::<{ field::HEADER_LEN }>() else {
            return Err(Error::Truncated);
        };
        if h[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        let word = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        // Infallible: both ranges lie inside the 40-octet array.
        let src: [u8; 16] = h[field::SRC_ADDR].try_into().unwrap_or([0; 16]);
        let dst: [u8; 16] = h[field::DST_ADDR].try_into().unwrap_or([0; 16]);
        Ok(Ipv6Header {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
            next_header: IpProtocol::from(h[field::NEXT_HEADER]),
            payload_len: u16::from_be_bytes([h[4], h[5]]),
            hop_limit: h[field::HOP_LIMIT],
            traffic_class: (word >> 20) as u8,
            flow_label: word & FLOW_LABEL_MAX,
        })
    }

    /// The octets [`emit`](Self::emit) writes: always 40.
    pub const fn buffer_len(&self) -> usize {
        field::HEADER_LEN
    }

    /// Writes all 40 octets of the header at the start of `buf`.
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than 40 octets; [`Error::Malformed`] if
    /// the flow label does not fit in 20 bits.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let Some(h) = buf.first_chunk_mut::<{ field::HEADER_LEN }>() else {
            return Err(Error::BufferTooSmall);
        };
        if self.flow_label > FLOW_LABEL_MAX {
            return Err(Error::Malformed);
        }
        let word = (6 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label;
        h[field::VER_TC_FLOW].copy_from_slice(&word.to_be_bytes());
        h[field::PAYLOAD_LEN].copy_from_slice(&self.payload_len.to_be_bytes());
        h[field::NEXT_HEADER] = self.next_header.into();
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC_ADDR].copy_from_slice(&self.src.octets());
        h[field::DST_ADDR].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}

/// Writes a complete IPv6 + UDP packet at the start of `buf` and returns its length,
/// `40 + 8 + payload.len()`.
///
/// The IPv6 header comes from `header`, except Next Header (UDP) and Payload Length (the UDP
/// length), which are set here. The UDP checksum covers the IPv6 pseudo-header (RFC 8200
/// §8.1); a computed checksum of zero is sent as 0xffff, since zero would mean "no
/// checksum", which IPv6 does not allow for UDP.
///
/// [`Error::BufferTooSmall`] if the packet does not fit in `buf`; [`Error::Unsupported`] if
/// the payload is too large for a UDP Length (a jumbogram); [`Error::Malformed`] for a flow
/// label over 20 bits.
pub fn emit_udp_v6(
    header: &Ipv6Header,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    let udp_len = field::UDP_HEADER_LEN + payload.len();
    let Ok(udp_len16) = u16::try_from(udp_len) else {
        return Err(Error::Unsupported);
    };
    let total = field::HEADER_LEN + udp_len;
    let Some(packet) = buf.get_mut(..total) else {
        return Err(Error::BufferTooSmall);
    };
    let ip = Ipv6Header {
        next_header: IpProtocol::Udp,
        payload_len: udp_len16,
        ..*header
    };
    ip.emit(packet)?;
    let (_, udp) = packet.split_at_mut(field::HEADER_LEN);
    let (udp_header, data) = udp.split_at_mut(field::UDP_HEADER_LEN);
    data.copy_from_slice(payload);
    udp_header[field::UDP_SRC_PORT].copy_from_slice(&src_port.to_be_bytes());
    udp_header[field::UDP_DST_PORT].copy_from_slice(&dst_port.to_be_bytes());
    udp_header[field::UDP_LEN].copy_from_slice(&udp_len16.to_be_bytes());
    udp_header[field::UDP_CHECKSUM].copy_from_slice(&[0, 0]);
    let sum = !checksum::combine(&[
        checksum::pseudo_header_v6(&ip.src, &ip.dst, IpProtocol::Udp, u32::from(udp_len16)),
        checksum::data(udp_header),
        checksum::data(payload),
    ]);
    let sum = if sum == 0 { 0xffff } else { sum };
    udp_header[field::UDP_CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    Ok(total)
}
