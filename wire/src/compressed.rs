//! Compressed IPv6 and UDP headers for links whose two ends both opt in.
//!
//! On a point-to-point link most of a 40-byte IPv6 header repeats from packet to packet, and
//! much of it is known to both ends anyway: the two interface identifiers, the prefixes in use.
//! This module compresses the IPv6 header (and a UDP header that directly follows it) against
//! such per-link [`Context`], after the IPHC and UDP NHC encodings of RFC 6282, which RFC 7668
//! already applies to Bluetooth LE point-to-point links.
//!
//! # Frames stay self-describing
//!
//! The first byte of every frame says what it is, so a compressed frame and a bare packet can be
//! mixed freely on the same link and a bare packet is always valid:
//!
//! ```text
//!  first byte    frame                                        kind()
//!  0100 xxxx     bare IPv4 packet (RFC 791)                   FrameKind::Ipv4
//!  0110 xxxx     bare IPv6 packet (RFC 8200)                  FrameKind::Ipv6
//!  100x xxxx     compressed IPv6 packet (this module)         FrameKind::Compressed
//!  101x xxxx     reserved for a future compressed dispatch   Err(Unsupported)
//!  other         reserved                                     Err(Unsupported)
//! ```
//!
//! # Compressed frame format
//!
//! ```text
//!    0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15
//!  +---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//!  | 1 | 0 | 0 |  TF   |NH | HLIM  |CID|SAC|  SAM  | M |DAC|  DAM  |  IPHC, 2 bytes
//!  +---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//!  |      SCI      |      DCI      |  context ids, only when CID = 1
//!  +---------------+---------------+
//!  | traffic class and flow label  |  0, 1, 3 or 4 bytes (TF)
//!  | next header                   |  1 byte when NH = 0
//!  | hop limit                     |  1 byte when HLIM = 00
//!  | source address                |  0, 2, 8 or 16 bytes (SAC, SAM)
//!  | destination address           |  0, 1, 2, 4, 6, 8 or 16 bytes (M, DAC, DAM)
//!  +-------------------------------+
//!  | 1 1 1 1 0 | C | P P |  UDP NHC byte, only when NH = 1 (C must be 0)
//!  | ports                         |  1, 3 or 4 bytes (PP)
//!  | UDP checksum                  |  2 bytes, always
//!  +-------------------------------+
//!  | payload: extension headers, upper-layer header and data, byte for byte |
//!  +------------------------------------------------------------------------+
//! ```
//!
//! The fields mean what RFC 6282 §3.1.1 says they mean:
//!
//! - **TF**: `11` traffic class and flow label both zero, elided; `10` flow label zero, one byte
//!   `ECN(2) DSCP(6)`; `01` DSCP zero, three bytes `ECN(2) pad(2) flow label(20)`; `00` four bytes
//!   `ECN(2) DSCP(6) pad(4) flow label(20)`. ECN comes first, as in RFC 6282 §3.1.1. Pad bits are
//!   zero.
//! - **NH**: `0` the Next Header byte is inline; `1` a UDP header follows the IPv6 header and is
//!   compressed with the UDP NHC (RFC 6282 §4.3.3).
//! - **HLIM**: `01` = 1, `10` = 64, `11` = 255, `00` inline byte.
//! - **SAC/SAM** (source) and **DAC/DAM** (unicast destination), with `IID` the sender's (source)
//!   or receiver's (destination) interface identifier from the [`Context`]:
//!
//! ```text
//!  AC AM  address                                   inline bytes
//!  0  00  anything                                  16
//!  0  01  fe80::/64 + inline IID                    8
//!  0  10  fe80::/64 + 0000:00ff:fe00:XXXX           2
//!  0  11  fe80::/64 + IID                           0
//!  1  00  :: (source only; reserved for destination) 0
//!  1  01  context prefix + inline IID               8
//!  1  10  context prefix + 0000:00ff:fe00:XXXX      2
//!  1  11  context prefix + IID                      0
//! ```
//!
//! - **M = 1** (multicast destination): DAC `0` DAM `00` 16 bytes inline; `01`
//!   `ffXX::00XX:XXXX:XXXX` 6 bytes; `10` `ffXX::00XX:XXXX` 4 bytes; `11` `ff02::00XX` 1 byte.
//!   DAC `1` DAM `00`: a unicast-prefix-based address (RFC 3306) `ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:
//!   XXXX:XXXX` whose `LL`/`P` are the context prefix's length and bits, 6 bytes inline. Other DAC
//!   `1` modes are reserved.
//! - **UDP NHC PP**: `00` both ports inline (4 bytes); `01` source inline, destination
//!   `0xF0XX` (3 bytes); `10` source `0xF0XX`, destination inline (3 bytes); `11` both
//!   `0xF0BX` (1 byte, source in the high nibble). The UDP length is elided and rebuilt from the
//!   frame length; the checksum is always carried.
//!
//! The IPv6 Payload Length is never carried: it is rebuilt from the frame length, as RFC 6282
//! §3.1.1 rebuilds it from the link layer.
//!
//! # Header sizes
//!
//! Bytes of IPv6 (and UDP) header on the link, for a steady flow between link-local addresses
//! of the two ends (or addresses of context prefix 0 with the two ends' interface identifiers),
//! traffic class and flow label zero, hop limit 64. These are the figures the benchmark table
//! cites; the tests in `wire/tests/compressed.rs` assert them.
//!
//! ```text
//!  flow                                   bare      compressed
//!  TCP, ICMPv6, any inline next header    40        3   (IPHC 2 + next header 1)
//!  UDP, both ports in 0xF0B0-0xF0BF       40 + 8    6   (IPHC 2 + NHC 1 + ports 1 + checksum 2)
//!  UDP, one port in 0xF000-0xF0FF         40 + 8    8   (IPHC 2 + NHC 1 + ports 3 + checksum 2)
//!  UDP, any other ports                   40 + 8    9   (IPHC 2 + NHC 1 + ports 4 + checksum 2)
//!
//!  add for:  a context id other than 0 (CID byte)                   +1
//!            non-zero ECN or DSCP, flow label zero                  +1
//!            non-zero flow label, DSCP zero (Linux's default)       +3
//!            non-zero flow label and DSCP                           +4
//!            hop limit other than 1, 64, 255                        +1
//!            link-local or context address, other IID               +8 (+2 for 0000:00ff:fe00:XXXX)
//!            multicast destination instead of the peer              +1 (ff02::XX), +4, +6 or +16
//!            any other address                                      +16
//! ```
//!
//! So a TCP flow whose sender sets a flow label (as Linux does) still carries 6 bytes of IPv6
//! header instead of 40. A header that does not get shorter is not compressed: the packet is
//! sent bare instead, so a frame is never longer than the bare packet.
//!
//! # Where this departs from RFC 6282, and why
//!
//! - **Dispatch**: RFC 6282's IPHC dispatch `011xxxxx` collides with a bare IPv6 packet's first
//!   byte `0x6X`. We use `100xxxxx` (RFC 4944's mesh-header space, which a point-to-point link never
//!   needs) and keep `101xxxxx` and the other non-IP values free for future dispatches.
//! - **Interface identifiers** for SAM/DAM `11` come from the [`Context`] (each end's own and
//!   peer IID) instead of from link-layer addresses, which a bare-IP link does not have.
//! - **UDP checksum** is always carried: a receiver answers C = 1 with `Unsupported`. RFC 6282
//!   §4.3.2 lets the checksum be elided only when an upper layer vouches for integrity; carrying it
//!   keeps every packet rebuildable byte for byte.
//! - **Extension headers** are carried inline, uncompressed, behind an inline Next Header (NH = 0),
//!   instead of with the IPv6 extension header NHC of RFC 6282 §4.2, whose Pad1/PadN elision rules
//!   would make byte-exact reconstruction conditional on the option layout.
//! - **Context prefixes** are at most 64 bits long (RFC 6282 allows up to 128). As in RFC 6282
//!   §3.1.1, bits of the top 64 that a shorter prefix does not cover are zero.
//! - **Byte-exact fallbacks**: a packet whose Payload Length does not match its length (trailing
//!   bytes, or a Jumbo Payload with Payload Length 0) cannot be rebuilt from the frame length and
//!   is sent bare; a UDP header whose Length field differs from the IPv6 Payload Length is carried
//!   inline (NH = 0) rather than compressed. Hence `decompress(compress(p)) == p` for every
//!   packet [`compress`] accepts (version nibble 4 or 6), valid IPv6 or not.
//! - **Pad bits** of the TF field must be zero; a frame with any of them set is `Malformed`.
//!
//! # The context is the caller's to agree on
//!
//! Both ends must hold the same prefix table, and mirror-image interface identifiers: what one
//! end calls its local IID the other calls its peer IID ([`Context::mirrored`]). This module does
//! not negotiate either; the layer that turns compression on for a link must agree on them (for
//! example from the addresses each end configured and the prefixes a Router Advertisement
//! announced) and must change a prefix on both ends before using it. A frame that names a context
//! id the receiver does not hold is answered with `Malformed`.
//!
//! # Zero-copy receive
//!
//! [`decompressed_header`] rebuilds only the IPv6 (and UDP) header into a 48-byte buffer and says
//! where the rest of the packet starts in the frame, so a receiver can hand the packet on as two
//! slices without copying the payload. [`decompress`] does the copy for callers that want one
//! contiguous packet.

use smoltcp::wire::{IpProtocol, Ipv6Address};

/// The prefix type of the context table, re-exported so that callers need not name smoltcp.
pub use smoltcp::wire::Ipv6Cidr;

use crate::{Error, Result};

mod addr;

/// The length of a bare IPv6 header.
const IPV6_HEADER_LEN: usize = 40;
/// The length of a UDP header.
const UDP_HEADER_LEN: usize = 8;

/// The most header bytes [`decompressed_header`] rebuilds: an IPv6 header and a UDP header.
pub const MAX_REBUILT_HEADER_LEN: usize = IPV6_HEADER_LEN + UDP_HEADER_LEN;

/// How many prefixes a [`Context`] holds: context ids are 4 bits (RFC 6282 §3.1.1, SCI/DCI).
pub const CONTEXT_TABLE_LEN: usize = 16;

/// The longest prefix a [`Context`] accepts, in bits.
pub const MAX_CONTEXT_PREFIX_LEN: u8 = 64;

/// The first byte of a compressed frame with its IPHC fields zero: the top three bits `100`.
pub const DISPATCH_IPHC: u8 = 0b1000_0000;

/// Bit positions of the IPHC header (see the diagram in the module documentation).
mod field {
    /// The dispatch bits of the first byte.
    pub const DISPATCH_MASK: u8 = 0b1110_0000;
    /// Byte 0: traffic class and flow label mode.
    pub const TF_SHIFT: u8 = 3;
    /// Byte 0: next header compressed with NHC.
    pub const NH: u8 = 0b0000_0100;
    /// Byte 0: hop limit mode (the low two bits).
    pub const HLIM_MASK: u8 = 0b0000_0011;
    /// Byte 1: a context id byte follows.
    pub const CID: u8 = 0b1000_0000;
    /// Byte 1: source address compression is stateful.
    pub const SAC: u8 = 0b0100_0000;
    /// Byte 1: source address mode.
    pub const SAM_SHIFT: u8 = 4;
    /// Byte 1: destination is multicast.
    pub const M: u8 = 0b0000_1000;
    /// Byte 1: destination address compression is stateful.
    pub const DAC: u8 = 0b0000_0100;
    /// Byte 1: destination address mode (the low two bits).
    pub const DAM_MASK: u8 = 0b0000_0011;

    /// UDP NHC: the five identifying bits `11110`.
    pub const NHC_UDP_MASK: u8 = 0b1111_1000;
    /// UDP NHC: the identifying value.
    pub const NHC_UDP: u8 = 0b1111_0000;
    /// UDP NHC: the checksum is elided (we never send it; we refuse it).
    pub const NHC_UDP_C: u8 = 0b0000_0100;
    /// UDP NHC: port compression mode.
    pub const NHC_UDP_PP_MASK: u8 = 0b0000_0011;
}

/// What the first byte of a frame says it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A bare IPv4 packet (version nibble 4).
    Ipv4,
    /// A bare IPv6 packet (version nibble 6).
    Ipv6,
    /// A compressed IPv6 packet (dispatch `100xxxxx`).
    Compressed,
}

/// Tells a compressed frame from a bare IPv4 or IPv6 packet by its first byte.
///
/// Returns `Truncated` for an empty frame and `Unsupported` for a reserved first byte.
pub fn kind(frame: &[u8]) -> Result<FrameKind> {
    let first = *frame.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => Ok(FrameKind::Ipv4),
        6 => Ok(FrameKind::Ipv6),
        _ if first & field::DISPATCH_MASK == DISPATCH_IPHC => Ok(FrameKind::Compressed),
        _ => Err(Error::Unsupported),
    }
}

/// A prefix in the context table, stored as its top 64 bits with the bits past its length zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ContextPrefix {
    bits: [u8; 8],
    len: u8,
}

/// The per-link state both ends compress against: the two interface identifiers and a table
/// of up to [`CONTEXT_TABLE_LEN`] prefixes indexed by 4-bit context id.
///
/// Each end holds its own `Context`; the two are mirror images ([`Context::mirrored`]): the
/// sender's local IID is the receiver's peer IID. Agreeing on the identifiers and on the prefix
/// table is the caller's job (see the module documentation). No allocation: the table is a fixed
/// array.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Context {
    local_iid: [u8; 8],
    peer_iid: [u8; 8],
    prefixes: [Option<ContextPrefix>; CONTEXT_TABLE_LEN],
}

impl Context {
    /// A context for the end whose own interface identifier is `local_iid` and whose peer's is
    /// `peer_iid`, with an empty prefix table.
    ///
    /// The compressor elides a source address built from `local_iid` and a destination built
    /// from `peer_iid`; the decompressor rebuilds an elided source from `peer_iid` and an elided
    /// destination from `local_iid`. The other end must therefore hold the mirrored context.
    pub const fn new(local_iid: [u8; 8], peer_iid: [u8; 8]) -> Context {
        Context {
            local_iid,
            peer_iid,
            prefixes: [None; CONTEXT_TABLE_LEN],
        }
    }

    /// The context the other end of the link must hold: local and peer identifiers swapped, the
    /// same prefix table.
    pub fn mirrored(&self) -> Context {
        Context {
            local_iid: self.peer_iid,
            peer_iid: self.local_iid,
            prefixes: self.prefixes,
        }
    }

    /// This end's interface identifier.
    pub const fn local_iid(&self) -> [u8; 8] {
        self.local_iid
    }

    /// The other end's interface identifier.
    pub const fn peer_iid(&self) -> [u8; 8] {
        self.peer_iid
    }

    /// Puts `prefix` in the table under context `id` (0 to 15), replacing what was there.
    ///
    /// Bits of the address past the prefix length are cleared. Both ends must make the same
    /// change before either sends a frame that uses it. Returns `Unsupported` for an id past 15
    /// or a prefix longer than 64 bits.
    pub fn set_prefix(&mut self, id: u8, prefix: Ipv6Cidr) -> Result<()> {
        let len = prefix.prefix_len();
        if len > MAX_CONTEXT_PREFIX_LEN {
            return Err(Error::Unsupported);
        }
        let slot = self
            .prefixes
            .get_mut(usize::from(id))
            .ok_or(Error::Unsupported)?;
        let octets = prefix.address().octets();
        let mut bits = [0u8; 8];
        for (i, (b, o)) in bits.iter_mut().zip(octets.iter()).enumerate() {
            let covered = usize::from(len).saturating_sub(i * 8).min(8);
            // `covered` is 0..=8; a shift by 8 of a u16 keeps the mask well defined.
            let mask = (0xff00u16 >> covered) as u8;
            *b = o & mask;
        }
        *slot = Some(ContextPrefix { bits, len });
        Ok(())
    }

    /// Removes the prefix under context `id` and returns it, if there was one.
    pub fn remove_prefix(&mut self, id: u8) -> Option<Ipv6Cidr> {
        let slot = self.prefixes.get_mut(usize::from(id))?;
        slot.take().map(ContextPrefix::cidr)
    }

    /// The prefix under context `id` (with bits past its length cleared), if there is one.
    pub fn prefix(&self, id: u8) -> Option<Ipv6Cidr> {
        self.entry(id).map(ContextPrefix::cidr)
    }

    fn entry(&self, id: u8) -> Option<ContextPrefix> {
        self.prefixes.get(usize::from(id)).copied().flatten()
    }

    /// The lowest context id whose prefix covers the top 64 bits `top`, if any.
    fn find(&self, top: &[u8]) -> Option<(u8, ContextPrefix)> {
        (0u8..)
            .zip(self.prefixes.iter())
            .find_map(|(id, p)| p.filter(|p| p.bits[..] == *top).map(|p| (id, p)))
    }
}

impl ContextPrefix {
    fn cidr(self) -> Ipv6Cidr {
        let mut octets = [0u8; 16];
        octets[..8].copy_from_slice(&self.bits);
        Ipv6Cidr::new(Ipv6Address::from(octets), self.len)
    }
}

/// What follows the compressed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHeader {
    /// The Next Header value is carried inline and the payload follows byte for byte
    /// (extension headers, TCP, ICMPv6, or a UDP header that could not be compressed).
    Inline(IpProtocol),
    /// A UDP header, compressed with UDP NHC; its length is rebuilt from the frame length.
    Udp {
        /// UDP source port.
        src_port: u16,
        /// UDP destination port.
        dst_port: u16,
        /// UDP checksum, carried as is.
        checksum: u16,
    },
}

/// The fields of a compressed IPv6 header, decoded.
///
/// The Payload Length (and the UDP Length) are not here: they come from the frame length.
/// There is no zero-copy `Packet` view for this header because where each field sits depends
/// on the modes of the fields before it; [`Repr::parse`] decodes them in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// IPv6 Traffic Class (DSCP in the high six bits, ECN in the low two).
    pub traffic_class: u8,
    /// IPv6 Flow Label (20 bits).
    pub flow_label: u32,
    /// IPv6 Hop Limit.
    pub hop_limit: u8,
    /// IPv6 source address.
    pub src_addr: Ipv6Address,
    /// IPv6 destination address.
    pub dst_addr: Ipv6Address,
    /// The Next Header, or the compressed UDP header.
    pub next: NextHeader,
}

/// A bounds-checked reading cursor over a frame.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
}

/// A bounds-checked writing cursor over an output buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(Error::BufferTooSmall)?;
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

/// How the traffic class and flow label are encoded (RFC 6282 §3.1.1, TF).
fn tf_mode(traffic_class: u8, flow_label: u32) -> u8 {
    let dscp = traffic_class >> 2;
    match (traffic_class, flow_label) {
        (0, 0) => 0b11,
        (_, 0) => 0b10,
        _ if dscp == 0 => 0b01,
        _ => 0b00,
    }
}

/// Inline length of each TF mode.
const TF_LEN: [usize; 4] = [4, 3, 1, 0];

/// How the hop limit is encoded (RFC 6282 §3.1.1, HLIM).
fn hlim_mode(hop_limit: u8) -> u8 {
    match hop_limit {
        1 => 0b01,
        64 => 0b10,
        255 => 0b11,
        _ => 0b00,
    }
}

/// Inline length of the ports for each UDP NHC port mode (RFC 6282 §4.3.3).
const PORTS_LEN: [usize; 4] = [4, 3, 3, 1];

/// How a pair of UDP ports is encoded (RFC 6282 §4.3.3, P).
fn ports_mode(src: u16, dst: u16) -> u8 {
    if src & 0xfff0 == 0xf0b0 && dst & 0xfff0 == 0xf0b0 {
        0b11
    } else if dst & 0xff00 == 0xf000 {
        0b01
    } else if src & 0xff00 == 0xf000 {
        0b10
    } else {
        0b00
    }
}

impl Repr {
    /// Decodes the compressed header at the start of `frame` against `ctx`.
    ///
    /// Returns the fields and the number of frame bytes the compressed header took: the
    /// payload starts there. `Truncated` if the frame ends inside the header, `Malformed` for a
    /// reserved mode, set pad bits, a first byte that is not the IPHC dispatch, or a context
    /// id `ctx` does not hold; `Unsupported` for an NHC other than UDP or an elided UDP checksum.
    pub fn parse(ctx: &Context, frame: &[u8]) -> Result<(Repr, usize)> {
        let mut r = Reader { buf: frame, pos: 0 };
        let b0 = r.u8()?;
        if b0 & field::DISPATCH_MASK != DISPATCH_IPHC {
            return Err(Error::Malformed);
        }
        let b1 = r.u8()?;
        let (sci, dci) = if b1 & field::CID != 0 {
            let ids = r.u8()?;
            (ids >> 4, ids & 0x0f)
        } else {
            (0, 0)
        };

        // TF (RFC 6282 §3.1.1): inline ECN comes before DSCP, the reverse of the IPv6 header.
        let (traffic_class, flow_label) = match (b0 >> field::TF_SHIFT) & 0b11 {
            0b00 => {
                let s = r.take(4)?;
                if s[1] & 0xf0 != 0 {
                    return Err(Error::Malformed);
                }
                let fl = u32::from(s[1]) << 16 | u32::from(s[2]) << 8 | u32::from(s[3]);
                (s[0].rotate_left(2), fl)
            }
            0b01 => {
                let s = r.take(3)?;
                if s[0] & 0b0011_0000 != 0 {
                    return Err(Error::Malformed);
                }
                let fl = u32::from(s[0] & 0x0f) << 16 | u32::from(s[1]) << 8 | u32::from(s[2]);
                (s[0] >> 6, fl)
            }
            0b10 => (r.u8()?.rotate_left(2), 0),
            _ => (0, 0),
        };

        let next_inline = if b0 & field::NH == 0 {
            Some(r.u8()?)
        } else {
            None
        };

        let hop_limit = match b0 & field::HLIM_MASK {
            0b01 => 1,
            0b10 => 64,
            0b11 => 255,
            _ => r.u8()?,
        };

        let src_addr = addr::decode_src(
            ctx,
            b1 & field::SAC != 0,
            (b1 >> field::SAM_SHIFT) & 0b11,
            sci,
            &mut r,
        )?;
        let dst_addr = addr::decode_dst(
            ctx,
            b1 & field::M != 0,
            b1 & field::DAC != 0,
            b1 & field::DAM_MASK,
            dci,
            &mut r,
        )?;

        let next = match next_inline {
            Some(nh) => NextHeader::Inline(IpProtocol::from(nh)),
            None => {
                let nhc = r.u8()?;
                if nhc & field::NHC_UDP_MASK != field::NHC_UDP {
                    // Extension-header NHC (RFC 6282 §4.2) and other NHC ids: not used here.
                    return Err(Error::Unsupported);
                }
                if nhc & field::NHC_UDP_C != 0 {
                    // We never elide the checksum, so we cannot rebuild one that was elided.
                    return Err(Error::Unsupported);
                }
                let (src_port, dst_port) = match nhc & field::NHC_UDP_PP_MASK {
                    0b00 => (r.u16()?, r.u16()?),
                    0b01 => (r.u16()?, 0xf000 | u16::from(r.u8()?)),
                    0b10 => (0xf000 | u16::from(r.u8()?), r.u16()?),
                    _ => {
                        let p = r.u8()?;
                        (0xf0b0 | u16::from(p >> 4), 0xf0b0 | u16::from(p & 0x0f))
                    }
                };
                let checksum = r.u16()?;
                NextHeader::Udp {
                    src_port,
                    dst_port,
                    checksum,
                }
            }
        };

        let repr = Repr {
            traffic_class,
            flow_label,
            hop_limit,
            src_addr,
            dst_addr,
            next,
        };
        Ok((repr, r.pos))
    }

    /// The number of bytes [`Repr::emit`] writes for this header against `ctx`.
    pub fn buffer_len(&self, ctx: &Context) -> usize {
        let src = addr::encode_src(ctx, &self.src_addr);
        let dst = addr::encode_dst(ctx, &self.dst_addr);
        let cid = usize::from(src.ctx_id != 0 || dst.ctx_id != 0);
        let tf = TF_LEN[usize::from(tf_mode(self.traffic_class, self.flow_label))];
        let hlim = usize::from(hlim_mode(self.hop_limit) == 0);
        let next = match self.next {
            NextHeader::Inline(_) => 1,
            NextHeader::Udp {
                src_port, dst_port, ..
            } => 1 + PORTS_LEN[usize::from(ports_mode(src_port, dst_port))] + 2,
        };
        2 + cid + tf + next + hlim + src.len + dst.len
    }

    /// Writes the compressed header into the start of `buf` and returns its length.
    ///
    /// Every field is chosen for the shortest encoding against `ctx`. `Malformed` for a flow
    /// label wider than 20 bits, `BufferTooSmall` if `buf` is shorter than
    /// [`Repr::buffer_len`].
    pub fn emit(&self, ctx: &Context, buf: &mut [u8]) -> Result<usize> {
        if self.flow_label > 0x000f_ffff {
            return Err(Error::Malformed);
        }
        let src = addr::encode_src(ctx, &self.src_addr);
        let dst = addr::encode_dst(ctx, &self.dst_addr);
        let tf = tf_mode(self.traffic_class, self.flow_label);
        let hlim = hlim_mode(self.hop_limit);
        let cid = src.ctx_id != 0 || dst.ctx_id != 0;

        let mut b0 = DISPATCH_IPHC | tf << field::TF_SHIFT | hlim;
        if matches!(self.next, NextHeader::Udp { .. }) {
            b0 |= field::NH;
        }
        let mut b1 = src.mode << field::SAM_SHIFT | dst.mode;
        if cid {
            b1 |= field::CID;
        }
        if src.stateful {
            b1 |= field::SAC;
        }
        if dst.stateful {
            b1 |= field::DAC;
        }
        if dst.multicast {
            b1 |= field::M;
        }

        let mut w = Writer { buf, pos: 0 };
        w.put(&[b0, b1])?;
        if cid {
            w.put(&[src.ctx_id << 4 | dst.ctx_id])?;
        }
        let ecn_dscp = self.traffic_class.rotate_right(2);
        let fl = self.flow_label.to_be_bytes();
        match tf {
            0b00 => w.put(&[ecn_dscp, fl[1], fl[2], fl[3]])?,
            0b01 => w.put(&[(self.traffic_class & 0b11) << 6 | fl[1], fl[2], fl[3]])?,
            0b10 => w.put(&[ecn_dscp])?,
            _ => {}
        }
        if let NextHeader::Inline(nh) = self.next {
            w.put(&[u8::from(nh)])?;
        }
        if hlim == 0 {
            w.put(&[self.hop_limit])?;
        }
        w.put(src.inline())?;
        w.put(dst.inline())?;
        if let NextHeader::Udp {
            src_port,
            dst_port,
            checksum,
        } = self.next
        {
            let pp = ports_mode(src_port, dst_port);
            w.put(&[field::NHC_UDP | pp])?;
            let (s, d) = (src_port.to_be_bytes(), dst_port.to_be_bytes());
            match pp {
                0b00 => w.put(&[s[0], s[1], d[0], d[1]])?,
                0b01 => w.put(&[s[0], s[1], d[1]])?,
                0b10 => w.put(&[s[1], d[0], d[1]])?,
                _ => w.put(&[(s[1] & 0x0f) << 4 | (d[1] & 0x0f)])?,
            }
            w.put(&checksum.to_be_bytes())?;
        }
        Ok(w.pos)
    }

    /// Reads the fields of a bare IPv6 packet that can be rebuilt from its compressed form byte
    /// for byte. Returns them with the number of packet bytes they cover (40, or 48 with a UDP
    /// header), or `None` when the packet must be sent bare.
    fn from_packet(packet: &[u8]) -> Option<(Repr, usize)> {
        let h = packet.get(..IPV6_HEADER_LEN)?;
        if h[0] >> 4 != 6 {
            return None;
        }
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        // The Payload Length is rebuilt from the frame length: it must match exactly. This also
        // rules out Jumbo Payloads (Payload Length 0 with a non-empty payload, RFC 2675 §3).
        if packet.len() != IPV6_HEADER_LEN + payload_len {
            return None;
        }
        let mut src = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&h[24..40]);
        let mut repr = Repr {
            traffic_class: h[0] << 4 | h[1] >> 4,
            flow_label: u32::from(h[1] & 0x0f) << 16 | u32::from(h[2]) << 8 | u32::from(h[3]),
            hop_limit: h[7],
            src_addr: Ipv6Address::from(src),
            dst_addr: Ipv6Address::from(dst),
            next: NextHeader::Inline(IpProtocol::from(h[6])),
        };
        if h[6] == u8::from(IpProtocol::Udp)
            && let Some(u) = packet.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + UDP_HEADER_LEN)
            && usize::from(u16::from_be_bytes([u[4], u[5]])) == payload_len
        {
            // The UDP Length is elided and rebuilt from the frame length (RFC 6282 §4.3.3), so
            // only a UDP header whose Length equals the IPv6 Payload Length is compressed.
            repr.next = NextHeader::Udp {
                src_port: u16::from_be_bytes([u[0], u[1]]),
                dst_port: u16::from_be_bytes([u[2], u[3]]),
                checksum: u16::from_be_bytes([u[6], u[7]]),
            };
            return Some((repr, IPV6_HEADER_LEN + UDP_HEADER_LEN));
        }
        Some((repr, IPV6_HEADER_LEN))
    }

    /// Writes the bare IPv6 header (and UDP header) for a packet whose remaining payload, after
    /// the compressed header, is `rest` bytes long. Returns the number of bytes written.
    fn rebuild(&self, rest: usize, hdr: &mut [u8; MAX_REBUILT_HEADER_LEN]) -> Result<usize> {
        let (next_header, header_len) = match self.next {
            NextHeader::Inline(nh) => (u8::from(nh), IPV6_HEADER_LEN),
            NextHeader::Udp { .. } => (u8::from(IpProtocol::Udp), MAX_REBUILT_HEADER_LEN),
        };
        let payload_len = rest
            .checked_add(header_len - IPV6_HEADER_LEN)
            .and_then(|n| u16::try_from(n).ok())
            // A frame too long for the Payload Length field: no IPv6 packet compresses to it.
            .ok_or(Error::Malformed)?;
        if self.flow_label > 0x000f_ffff {
            return Err(Error::Malformed);
        }
        let fl = self.flow_label.to_be_bytes();
        let pl = payload_len.to_be_bytes();
        hdr[0] = 0x60 | self.traffic_class >> 4;
        hdr[1] = self.traffic_class << 4 | fl[1];
        hdr[2] = fl[2];
        hdr[3] = fl[3];
        hdr[4] = pl[0];
        hdr[5] = pl[1];
        hdr[6] = next_header;
        hdr[7] = self.hop_limit;
        hdr[8..24].copy_from_slice(&self.src_addr.octets());
        hdr[24..40].copy_from_slice(&self.dst_addr.octets());
        if let NextHeader::Udp {
            src_port,
            dst_port,
            checksum,
        } = self.next
        {
            hdr[40..42].copy_from_slice(&src_port.to_be_bytes());
            hdr[42..44].copy_from_slice(&dst_port.to_be_bytes());
            hdr[44..46].copy_from_slice(&pl);
            hdr[46..48].copy_from_slice(&checksum.to_be_bytes());
        }
        Ok(header_len)
    }
}

/// What [`compress`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A compressed frame of `len` bytes, `header_saved` bytes shorter than the packet.
    Compressed {
        /// Length of the frame written.
        len: usize,
        /// How many bytes shorter than the bare packet the frame is (always at least 1).
        header_saved: usize,
    },
    /// The packet was copied unchanged (a bare frame), because compressing it would not
    /// rebuild it byte for byte or would not make it shorter.
    Bare {
        /// Length of the frame written (the packet's length).
        len: usize,
    },
}

impl Outcome {
    /// Length of the frame written.
    pub const fn len(&self) -> usize {
        match *self {
            Outcome::Compressed { len, .. } | Outcome::Bare { len } => len,
        }
    }

    /// Whether nothing was written (an empty frame never is: this is always `false`).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the frame written is compressed.
    pub const fn is_compressed(&self) -> bool {
        matches!(self, Outcome::Compressed { .. })
    }
}

/// Writes the frame that carries `packet` into `out`: compressed against `ctx` when that gives
/// a shorter frame that rebuilds the packet byte for byte, otherwise the bare packet.
///
/// `packet` is a bare IPv4 or IPv6 packet; an IPv4 packet, and anything starting with version
/// 6 that does not compress (too short, Payload Length not matching the length, no saving), is
/// copied as a bare frame, which is always valid. `Truncated` for an empty packet, `Malformed`
/// for one whose version nibble is neither 4 nor 6 (its frame would be misread), and
/// `BufferTooSmall` when `out` cannot hold the frame.
pub fn compress(ctx: &Context, packet: &[u8], out: &mut [u8]) -> Result<Outcome> {
    let first = *packet.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {}
        6 => {
            if let Some((repr, covered)) = Repr::from_packet(packet) {
                let header_len = repr.buffer_len(ctx);
                if header_len < covered {
                    let payload = packet.get(covered..).ok_or(Error::Truncated)?;
                    let len = header_len + payload.len();
                    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
                    let written = repr.emit(ctx, out)?;
                    out.get_mut(written..)
                        .filter(|o| o.len() == payload.len())
                        .ok_or(Error::BufferTooSmall)?
                        .copy_from_slice(payload);
                    return Ok(Outcome::Compressed {
                        len,
                        header_saved: covered - header_len,
                    });
                }
            }
        }
        _ => return Err(Error::Malformed),
    }
    out.get_mut(..packet.len())
        .ok_or(Error::BufferTooSmall)?
        .copy_from_slice(packet);
    Ok(Outcome::Bare { len: packet.len() })
}

/// Where the pieces of a received packet are: see [`decompressed_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rebuilt {
    /// How many bytes at the start of the header buffer begin the packet (0 for a bare frame).
    pub header_len: usize,
    /// Where in the frame the rest of the packet starts (0 for a bare frame).
    pub payload_offset: usize,
}

impl Rebuilt {
    /// The length of the whole packet carried by a frame of `frame_len` bytes.
    pub const fn packet_len(&self, frame_len: usize) -> usize {
        self.header_len + frame_len.saturating_sub(self.payload_offset)
    }
}

/// Rebuilds the bare header of the packet a frame carries, without touching its payload.
///
/// The packet is `hdr[..header_len]` followed by `frame[payload_offset..]`. For a compressed
/// frame the header is the IPv6 header (40 bytes) or the IPv6 and UDP headers (48 bytes); a
/// bare IPv4 or IPv6 frame is the packet itself (`header_len` and `payload_offset` 0) and is not
/// validated here. Errors as [`kind`] and [`Repr::parse`]; `Malformed` also for a frame whose
/// payload is too long for the IPv6 Payload Length field.
pub fn decompressed_header(
    ctx: &Context,
    frame: &[u8],
    hdr: &mut [u8; MAX_REBUILT_HEADER_LEN],
) -> Result<Rebuilt> {
    match kind(frame)? {
        FrameKind::Ipv4 | FrameKind::Ipv6 => Ok(Rebuilt {
            header_len: 0,
            payload_offset: 0,
        }),
        FrameKind::Compressed => {
            let (repr, payload_offset) = Repr::parse(ctx, frame)?;
            let rest = frame.len().saturating_sub(payload_offset);
            let header_len = repr.rebuild(rest, hdr)?;
            Ok(Rebuilt {
                header_len,
                payload_offset,
            })
        }
    }
}

/// Writes the packet a frame carries into `out` and returns its length.
///
/// A bare IPv4 or IPv6 frame is copied unchanged; a compressed frame is rebuilt against `ctx`.
/// Errors as [`decompressed_header`], and `BufferTooSmall` when `out` cannot hold the packet.
pub fn decompress(ctx: &Context, frame: &[u8], out: &mut [u8]) -> Result<usize> {
    let mut hdr = [0u8; MAX_REBUILT_HEADER_LEN];
    let rebuilt = decompressed_header(ctx, frame, &mut hdr)?;
    let payload = frame
        .get(rebuilt.payload_offset..)
        .ok_or(Error::Truncated)?;
    let len = rebuilt.header_len + payload.len();
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let (head, tail) = out.split_at_mut(rebuilt.header_len);
    head.copy_from_slice(&hdr[..rebuilt.header_len]);
    tail.copy_from_slice(payload);
    Ok(len)
}

#[cfg(test)]
mod tests;
