//! Router Solicitation and Router Advertisement messages (RFC 4861 §4.1, §4.2), with the
//! default router preference of RFC 4191 §2.2.

use smoltcp::wire::Ipv6Address;

use super::option::{NdpOption, NdpOptionRepr, OptionsIter, Preference, check_options};
use super::{TYPE_ROUTER_ADVERTISEMENT, TYPE_ROUTER_SOLICITATION, ipv6};
use crate::{Error, Result};

/// Field offsets.
///
/// Router Solicitation (RFC 4861 §4.1):
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type = 133   |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Reserved                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
/// Router Advertisement (RFC 4861 §4.2, RFC 4191 §2.2):
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type = 134   |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Cur Hop Limit |M|O|H|Prf|Resvd|       Router Lifetime         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Reachable Time                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Retrans Timer                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Options ...
/// ```
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const RS_RESERVED: Range<usize> = 4..8;
    pub const RS_OPTIONS: usize = 8;
    pub const CUR_HOP_LIMIT: usize = 4;
    pub const FLAGS: usize = 5;
    pub const ROUTER_LIFETIME: Range<usize> = 6..8;
    pub const REACHABLE_TIME: Range<usize> = 8..12;
    pub const RETRANS_TIMER: Range<usize> = 12..16;
    pub const RA_OPTIONS: usize = 16;
}

const FLAG_MANAGED: u8 = 0x80;
const FLAG_OTHER: u8 = 0x40;
const PREFERENCE_SHIFT: u8 = 3;

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The accessors both router messages have: the ICMPv6 ones, and their options after a fixed
/// part of `$options` octets.
macro_rules! router_accessors {
    ($options:expr) => {
        ipv6::icmpv6_accessors!(field);

        /// Checks that the fixed part is present ([`Error::Truncated`] otherwise) and that
        /// every option has a non-zero length ([`Error::Malformed`]) and ends inside the
        /// message ([`Error::Truncated`]). After it succeeds no accessor panics.
        pub fn check_len(&self) -> Result<()> {
            let options = self
                .buffer
                .as_ref()
                .get($options..)
                .ok_or(Error::Truncated)?;
            check_options(options)
        }

        /// The raw option bytes.
        pub fn options_bytes(&self) -> &[u8] {
            &self.buffer.as_ref()[$options..]
        }

        /// The options, read in place.
        pub fn options(&self) -> OptionsIter<'_> {
            OptionsIter::new(self.options_bytes())
        }
    };
}

/// A read/write view of a Router Solicitation message (ICMPv6 type 133).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterSolicitation<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouterSolicitation<T> {
    /// Length of the fixed part.
    pub const HEADER_LEN: usize = field::RS_OPTIONS;

    router_accessors!(field::RS_OPTIONS);
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RouterSolicitation<T> {
    ipv6::icmpv6_setters!(field);

    /// Zeroes the reserved field.
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[field::RS_RESERVED].fill(0);
    }
}

/// A read/write view of a Router Advertisement message (ICMPv6 type 134).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterAdvertisement<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouterAdvertisement<T> {
    /// Length of the fixed part.
    pub const HEADER_LEN: usize = field::RA_OPTIONS;

    router_accessors!(field::RA_OPTIONS);

    /// Hop limit the router suggests for outgoing packets; 0 means unspecified.
    pub fn cur_hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::CUR_HOP_LIMIT]
    }

    /// The whole flags octet (M, O, H, Prf and reserved bits).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// M flag: addresses are available from DHCPv6.
    pub fn managed(&self) -> bool {
        self.flags() & FLAG_MANAGED != 0
    }

    /// O flag: other configuration is available from DHCPv6.
    pub fn other(&self) -> bool {
        self.flags() & FLAG_OTHER != 0
    }

    /// Default router preference (RFC 4191 §2.2). The reserved value `10` reads as
    /// [`Preference::Medium`], as §2.2 tells the receiver. When the router lifetime is zero
    /// the value means nothing (§2.2) and also reads as medium.
    pub fn preference(&self) -> Preference {
        if self.router_lifetime() == 0 {
            return Preference::Medium;
        }
        Preference::from_bits(self.flags() >> PREFERENCE_SHIFT).unwrap_or(Preference::Medium)
    }

    /// Seconds the sender may serve as default router; 0 means not a default router.
    pub fn router_lifetime(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ROUTER_LIFETIME])
    }

    /// Milliseconds of reachable time; 0 means unspecified.
    pub fn reachable_time(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::REACHABLE_TIME])
    }

    /// Milliseconds between retransmitted Neighbor Solicitations; 0 means unspecified.
    pub fn retrans_timer(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::RETRANS_TIMER])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RouterAdvertisement<T> {
    ipv6::icmpv6_setters!(field);

    /// Sets the current hop limit.
    pub fn set_cur_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::CUR_HOP_LIMIT] = value;
    }

    /// Sets the flags octet from M, O and the preference; the other bits become zero.
    pub fn set_flags(&mut self, managed: bool, other: bool, preference: Preference) {
        self.buffer.as_mut()[field::FLAGS] = if managed { FLAG_MANAGED } else { 0 }
            | if other { FLAG_OTHER } else { 0 }
            | preference.bits() << PREFERENCE_SHIFT;
    }

    /// Sets the router lifetime.
    pub fn set_router_lifetime(&mut self, value: u16) {
        self.buffer.as_mut()[field::ROUTER_LIFETIME].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the reachable time.
    pub fn set_reachable_time(&mut self, value: u32) {
        self.buffer.as_mut()[field::REACHABLE_TIME].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the retransmission timer.
    pub fn set_retrans_timer(&mut self, value: u32) {
        self.buffer.as_mut()[field::RETRANS_TIMER].copy_from_slice(&value.to_be_bytes());
    }
}

/// A Router Solicitation to emit or as parsed. We never send the Source Link-Layer Address
/// option, and options of a received solicitation carry nothing we use, so it has no fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RouterSolicitationRepr;

impl RouterSolicitationRepr {
    /// Parses a checked view: type 133 and code 0, else [`Error::Malformed`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &RouterSolicitation<&T>,
    ) -> Result<RouterSolicitationRepr> {
        packet.check_len()?;
        if packet.msg_type() != TYPE_ROUTER_SOLICITATION || packet.code() != 0 {
            return Err(Error::Malformed);
        }
        Ok(RouterSolicitationRepr)
    }

    /// Length of the ICMPv6 message.
    pub const fn buffer_len(&self) -> usize {
        field::RS_OPTIONS
    }

    /// Writes the ICMPv6 message with a zero checksum (see
    /// [`emit_icmpv6_checksum`](super::emit_icmpv6_checksum)) and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let mut packet =
            RouterSolicitation::new_unchecked(buf.get_mut(..len).ok_or(Error::BufferTooSmall)?);
        packet.set_msg_type(TYPE_ROUTER_SOLICITATION);
        packet.set_code(0);
        packet.set_checksum(0);
        packet.clear_reserved();
        Ok(len)
    }
}

/// A Router Advertisement to emit or as parsed.
///
/// `options` holds the options this crate emits, in order. A parsed advertisement leaves out
/// link-layer address, unknown and invalid options (iterate
/// [`RouterAdvertisement::options`] to count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterAdvertisementRepr<'a> {
    /// Suggested hop limit; 0 means unspecified.
    pub cur_hop_limit: u8,
    /// M flag.
    pub managed: bool,
    /// O flag.
    pub other: bool,
    /// Default router preference. RFC 4191 §2.2: with a zero router lifetime the sender
    /// sends medium, so [`emit`](Self::emit) writes medium then.
    pub preference: Preference,
    /// Seconds as default router; 0 means not a default router.
    pub router_lifetime: u16,
    /// Reachable time in milliseconds; 0 means unspecified.
    pub reachable_time: u32,
    /// Retransmission timer in milliseconds; 0 means unspecified.
    pub retrans_timer: u32,
    /// The options, in order.
    pub options: &'a [NdpOptionRepr<'a>],
}

impl<'a> RouterAdvertisementRepr<'a> {
    /// Parses a view, storing its options in `options` and the addresses of its RDNSS
    /// options in `addresses`. `options` can be reused once the repr is dropped;
    /// `addresses` stays borrowed as long as `options` holds what was stored.
    ///
    /// [`Error::Malformed`] if the type is not 134 or the code not 0; the view's own
    /// [`check_len`](RouterAdvertisement::check_len) errors; [`Error::BufferTooSmall`] if the
    /// storage is too short.
    pub fn parse<'b: 'a, T: AsRef<[u8]> + ?Sized>(
        packet: &RouterAdvertisement<&T>,
        options: &'a mut [NdpOptionRepr<'b>],
        addresses: &'b mut [Ipv6Address],
    ) -> Result<RouterAdvertisementRepr<'a>> {
        packet.check_len()?;
        if packet.msg_type() != TYPE_ROUTER_ADVERTISEMENT || packet.code() != 0 {
            return Err(Error::Malformed);
        }
        let mut count = 0;
        let mut free_addresses = addresses;
        for option in packet.options() {
            let repr = match option {
                NdpOption::PrefixInformation(p) => NdpOptionRepr::PrefixInformation(p),
                NdpOption::Mtu(mtu) => NdpOptionRepr::Mtu(mtu),
                NdpOption::RouteInformation(r) => NdpOptionRepr::RouteInformation(r),
                NdpOption::Rdnss(rdnss) => NdpOptionRepr::Rdnss {
                    lifetime: rdnss.lifetime,
                    addresses: rdnss.addresses.store_into(&mut free_addresses)?,
                },
                NdpOption::LinkLayerAddress { .. }
                | NdpOption::Invalid { .. }
                | NdpOption::Unknown { .. } => continue,
            };
            *options.get_mut(count).ok_or(Error::BufferTooSmall)? = repr;
            count += 1;
        }
        let (options, _) = options.split_at_mut(count);
        Ok(RouterAdvertisementRepr {
            cur_hop_limit: packet.cur_hop_limit(),
            managed: packet.managed(),
            other: packet.other(),
            preference: packet.preference(),
            router_lifetime: packet.router_lifetime(),
            reachable_time: packet.reachable_time(),
            retrans_timer: packet.retrans_timer(),
            options,
        })
    }

    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        field::RA_OPTIONS
            + self
                .options
                .iter()
                .map(NdpOptionRepr::buffer_len)
                .sum::<usize>()
    }

    /// The MTU option's value, if there is one.
    pub fn mtu(&self) -> Option<u32> {
        self.options.iter().find_map(|o| match o {
            NdpOptionRepr::Mtu(mtu) => Some(*mtu),
            _ => None,
        })
    }

    /// Writes the ICMPv6 message with a zero checksum (see
    /// [`emit_icmpv6_checksum`](super::emit_icmpv6_checksum)) and returns its length.
    ///
    /// [`Error::BufferTooSmall`] if `buf` is too short; an option's
    /// [`emit`](NdpOptionRepr::emit) errors.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let (header, mut rest) = buf.split_at_mut(field::RA_OPTIONS);
        let mut packet = RouterAdvertisement::new_unchecked(header);
        packet.set_msg_type(TYPE_ROUTER_ADVERTISEMENT);
        packet.set_code(0);
        packet.set_checksum(0);
        packet.set_cur_hop_limit(self.cur_hop_limit);
        // RFC 4191 §2.2: a router that is not a default router sends preference medium.
        let preference = if self.router_lifetime == 0 {
            Preference::Medium
        } else {
            self.preference
        };
        packet.set_flags(self.managed, self.other, preference);
        packet.set_router_lifetime(self.router_lifetime);
        packet.set_reachable_time(self.reachable_time);
        packet.set_retrans_timer(self.retrans_timer);
        for option in self.options {
            let n = option.emit(rest)?;
            rest = &mut core::mem::take(&mut rest)[n..];
        }
        Ok(len)
    }
}
