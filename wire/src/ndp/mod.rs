//! Router discovery (RFC 4861 §4.1, §4.2, §6) for links without link-layer addresses.
//!
//! smoltcp's `NdiscRepr` exists only with its Ethernet or 802.15.4 features, and its
//! `Medium::Ip` interface drops every ND message. This module reads and writes what a
//! point-to-point link needs:
//!
//! - [`RouterSolicitation`] and [`RouterAdvertisement`] views with an [`OptionsIter`] over
//!   Prefix Information, MTU, Route Information (RFC 4191) and RDNSS (RFC 8106) options;
//!   link-layer address options are reported (to be counted) and otherwise skipped;
//! - [`RouterSolicitationRepr`] and [`RouterAdvertisementRepr`] to emit them, and
//!   [`emit_ipv6`] to write a whole IPv6 packet (hop limit 255, checksum filled);
//! - [`parse_ipv6`], the receive-side validity checks of RFC 4861 §6.1.1 and §6.1.2 on a whole
//!   IPv6 packet, each failure a [`ValidationError`] a caller can count;
//! - [`classify`], which also recognises Neighbor Solicitation, Neighbor Advertisement and
//!   Redirect, so that an interface can count and drop them.

pub(crate) mod ipv6;
mod option;
mod router;
#[cfg(test)]
mod tests;

use smoltcp::wire::Ipv6Address;

use crate::{Error, Result};

pub use ipv6::{Received, ValidationError};
pub use option::{
    AddressIter, LinkLayerKind, NdpOption, NdpOptionRepr, OptionsIter, Preference,
    PrefixInformation, Rdnss, RouteInformation, check_options, option_type,
};
pub use router::{
    RouterAdvertisement, RouterAdvertisementRepr, RouterSolicitation, RouterSolicitationRepr,
};

/// ICMPv6 type of a Router Solicitation.
pub const TYPE_ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement.
pub const TYPE_ROUTER_ADVERTISEMENT: u8 = 134;
/// ICMPv6 type of a Neighbor Solicitation.
pub const TYPE_NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const TYPE_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// ICMPv6 type of a Redirect.
pub const TYPE_REDIRECT: u8 = 137;

/// The hop limit every ND message is sent with and must arrive with (RFC 4861 §6.1): a
/// router would have decremented it, so 255 proves the sender is on the link.
pub const HOP_LIMIT: u8 = 255;

/// All-nodes multicast address `ff02::1`, where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers multicast address `ff02::2`, where solicitations go.
pub const ALL_ROUTERS: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// The Neighbor Discovery message types (RFC 4861 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpKind {
    /// Router Solicitation (133).
    RouterSolicitation,
    /// Router Advertisement (134).
    RouterAdvertisement,
    /// Neighbor Solicitation (135).
    NeighborSolicitation,
    /// Neighbor Advertisement (136).
    NeighborAdvertisement,
    /// Redirect (137).
    Redirect,
}

/// Which ND message an ICMPv6 type is, if any.
pub fn classify(icmp_type: u8) -> Option<NdpKind> {
    match icmp_type {
        TYPE_ROUTER_SOLICITATION => Some(NdpKind::RouterSolicitation),
        TYPE_ROUTER_ADVERTISEMENT => Some(NdpKind::RouterAdvertisement),
        TYPE_NEIGHBOR_SOLICITATION => Some(NdpKind::NeighborSolicitation),
        TYPE_NEIGHBOR_ADVERTISEMENT => Some(NdpKind::NeighborAdvertisement),
        TYPE_REDIRECT => Some(NdpKind::Redirect),
        _ => None,
    }
}

/// Writes the ICMPv6 checksum (RFC 4443 §2.3) into `msg`, a whole ICMPv6 message whose
/// checksum field is at octets 2..4, over the pseudo-header of `src` and `dst`.
///
/// Does nothing if `msg` is shorter than 4 octets.
pub fn emit_icmpv6_checksum(src: &Ipv6Address, dst: &Ipv6Address, msg: &mut [u8]) {
    if let Some(field) = msg.get_mut(2..4) {
        field.fill(0);
        let sum = ipv6::icmpv6_checksum(src, dst, msg);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
    }
}

/// Whether the ICMPv6 checksum of `msg` is right for `src` and `dst`.
pub fn verify_icmpv6_checksum(src: &Ipv6Address, dst: &Ipv6Address, msg: &[u8]) -> bool {
    ipv6::icmpv6_checksum(src, dst, msg) == 0
}

/// An ND message, read in place. Router messages carry a checked view; the others are only
/// recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpMessage<'a> {
    /// A Router Solicitation.
    RouterSolicitation(RouterSolicitation<&'a [u8]>),
    /// A Router Advertisement.
    RouterAdvertisement(RouterAdvertisement<&'a [u8]>),
    /// A Neighbor Solicitation, not parsed.
    NeighborSolicitation,
    /// A Neighbor Advertisement, not parsed.
    NeighborAdvertisement,
    /// A Redirect, not parsed.
    Redirect,
}

impl<'a> NdpMessage<'a> {
    /// Reads an ICMPv6 message: its type, and for router messages the fixed part and options
    /// (see [`RouterSolicitation::check_len`]). Checks neither the checksum nor the code.
    ///
    /// [`Error::Truncated`] if shorter than 4 octets or than its fixed part;
    /// [`Error::Unsupported`] if it is not an ND message.
    pub fn parse(msg: &'a [u8]) -> Result<NdpMessage<'a>> {
        let icmp_type = *msg.first().ok_or(Error::Truncated)?;
        if msg.len() < 4 {
            return Err(Error::Truncated);
        }
        Ok(match classify(icmp_type).ok_or(Error::Unsupported)? {
            NdpKind::RouterSolicitation => {
                NdpMessage::RouterSolicitation(RouterSolicitation::new_checked(msg)?)
            }
            NdpKind::RouterAdvertisement => {
                NdpMessage::RouterAdvertisement(RouterAdvertisement::new_checked(msg)?)
            }
            NdpKind::NeighborSolicitation => NdpMessage::NeighborSolicitation,
            NdpKind::NeighborAdvertisement => NdpMessage::NeighborAdvertisement,
            NdpKind::Redirect => NdpMessage::Redirect,
        })
    }

    /// Which message this is.
    pub fn kind(&self) -> NdpKind {
        match self {
            NdpMessage::RouterSolicitation(_) => NdpKind::RouterSolicitation,
            NdpMessage::RouterAdvertisement(_) => NdpKind::RouterAdvertisement,
            NdpMessage::NeighborSolicitation => NdpKind::NeighborSolicitation,
            NdpMessage::NeighborAdvertisement => NdpKind::NeighborAdvertisement,
            NdpMessage::Redirect => NdpKind::Redirect,
        }
    }
}

/// A router discovery message to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpRepr<'a> {
    /// A Router Solicitation.
    RouterSolicitation(RouterSolicitationRepr),
    /// A Router Advertisement.
    RouterAdvertisement(RouterAdvertisementRepr<'a>),
}

impl NdpRepr<'_> {
    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        match self {
            NdpRepr::RouterSolicitation(r) => r.buffer_len(),
            NdpRepr::RouterAdvertisement(r) => r.buffer_len(),
        }
    }

    /// Writes the ICMPv6 message with a zero checksum and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            NdpRepr::RouterSolicitation(r) => r.emit(buf),
            NdpRepr::RouterAdvertisement(r) => r.emit(buf),
        }
    }
}

/// Writes a whole IPv6 packet carrying `repr`: the fixed header (hop limit 255 as RFC 4861
/// §4.1/§4.2 require, next header 58), then the ICMPv6 message with its checksum. Returns
/// the packet's length.
///
/// Solicitations go from a link-local address (or `::` before one exists, RFC 4861 §4.1) to
/// [`ALL_ROUTERS`]; advertisements from the router's link-local address (§4.2) to
/// [`ALL_NODES`] or the soliciting host.
///
/// [`Error::BufferTooSmall`] if `buf` is too short, [`Error::Malformed`] if the message is
/// longer than an IPv6 payload can be, or an error of the message's own `emit`.
pub fn emit_ipv6(
    src: &Ipv6Address,
    dst: &Ipv6Address,
    repr: &NdpRepr<'_>,
    buf: &mut [u8],
) -> Result<usize> {
    ipv6::emit_icmpv6_packet(
        src,
        dst,
        HOP_LIMIT,
        &[],
        repr.buffer_len(),
        |msg| repr.emit(msg),
        buf,
    )
}

fn options_error(e: Error) -> ValidationError {
    match e {
        Error::Malformed => ValidationError::OptionLength,
        _ => ValidationError::Truncated,
    }
}

/// A received ND packet that passed [`parse_ipv6`].
pub type ReceivedNdp<'a> = Received<NdpMessage<'a>>;

/// Validates a received IPv6 packet (fixed header first, as on a bare-IP link) carrying an
/// ND message and reads it.
///
/// Checks, for every ND type (RFC 4861 §6.1.1, §6.1.2, §7.1, §8.1): the IPv6 header and its
/// extension headers pass [`frame::parse_ipv6`](crate::frame::parse_ipv6), the packet is not
/// a fragment (RFC 6980 §5), the IPv6 hop limit is 255, the ICMPv6 checksum is right and the
/// code is 0. For a Router Solicitation also (§6.1.1): at least 8 octets, no option of
/// length zero, and no source link-layer address option if the source is `::`. For a Router
/// Advertisement (§6.1.2): the source is link-local, at least 16 octets, no option of
/// length zero. Neighbor Solicitation, Neighbor Advertisement and Redirect are returned
/// unparsed so that they can be counted and dropped.
pub fn parse_ipv6(packet: &[u8]) -> core::result::Result<ReceivedNdp<'_>, ValidationError> {
    let ip = ipv6::icmpv6_in_ipv6(packet)?;
    let msg = ip.message;
    let [icmp_type, code, ..] = ip.header;
    let kind = classify(icmp_type).ok_or(ValidationError::NotNdp)?;
    if ip.hop_limit != HOP_LIMIT {
        return Err(ValidationError::HopLimit);
    }
    if !verify_icmpv6_checksum(&ip.src, &ip.dst, msg) {
        return Err(ValidationError::Checksum);
    }
    if code != 0 {
        return Err(ValidationError::Code);
    }
    let message = match kind {
        NdpKind::RouterSolicitation => {
            let rs = RouterSolicitation::new_checked(msg).map_err(options_error)?;
            if ip.src.is_unspecified()
                && rs.options().any(|o| {
                    o == NdpOption::LinkLayerAddress {
                        kind: LinkLayerKind::Source,
                    }
                })
            {
                return Err(ValidationError::SourceAddress);
            }
            NdpMessage::RouterSolicitation(rs)
        }
        NdpKind::RouterAdvertisement => {
            if !ip.src.is_unicast_link_local() {
                return Err(ValidationError::SourceAddress);
            }
            NdpMessage::RouterAdvertisement(
                RouterAdvertisement::new_checked(msg).map_err(options_error)?,
            )
        }
        NdpKind::NeighborSolicitation => NdpMessage::NeighborSolicitation,
        NdpKind::NeighborAdvertisement => NdpMessage::NeighborAdvertisement,
        NdpKind::Redirect => NdpMessage::Redirect,
    };
    Ok(Received {
        src_addr: ip.src,
        dst_addr: ip.dst,
        message,
    })
}
