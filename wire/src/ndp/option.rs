//! Neighbor Discovery options (RFC 4861 §4.6) as they matter on links without link-layer
//! addresses: Prefix Information, MTU, Route Information (RFC 4191) and Recursive DNS Server
//! (RFC 8106). Link-layer address options are recognised and reported, never interpreted.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |              ...              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                              ...                              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Length counts units of 8 octets, type and length included.

use smoltcp::wire::Ipv6Address;

use crate::{Error, Result};

/// Option type values (RFC 4861 §4.6, RFC 4191 §2.3, RFC 8106 §5.1).
pub mod option_type {
    /// Source Link-Layer Address.
    pub const SOURCE_LINK_LAYER_ADDRESS: u8 = 1;
    /// Target Link-Layer Address.
    pub const TARGET_LINK_LAYER_ADDRESS: u8 = 2;
    /// Prefix Information.
    pub const PREFIX_INFORMATION: u8 = 3;
    /// Redirected Header.
    pub const REDIRECTED_HEADER: u8 = 4;
    /// MTU.
    pub const MTU: u8 = 5;
    /// Route Information (RFC 4191).
    pub const ROUTE_INFORMATION: u8 = 24;
    /// Recursive DNS Server (RFC 8106).
    pub const RDNSS: u8 = 25;
}

mod field {
    // Prefix Information (RFC 4861 §4.6.2), 32 octets:
    // | Type=3 | Length=4 | Prefix Length |L|A| Reserved1 |
    // | Valid Lifetime | Preferred Lifetime | Reserved2 | Prefix (16) |
    pub const PI_PREFIX_LEN: usize = 2;
    pub const PI_FLAGS: usize = 3;
    pub const PI_VALID: core::ops::Range<usize> = 4..8;
    pub const PI_PREFERRED: core::ops::Range<usize> = 8..12;
    pub const PI_RESERVED2: core::ops::Range<usize> = 12..16;
    pub const PI_PREFIX: core::ops::Range<usize> = 16..32;
    // MTU (RFC 4861 §4.6.4), 8 octets: | Type=5 | Length=1 | Reserved (2) | MTU (4) |
    pub const MTU: core::ops::Range<usize> = 4..8;
    // Route Information (RFC 4191 §2.3), 8, 16 or 24 octets:
    // | Type=24 | Length | Prefix Length |Resvd|Prf|Resvd| Route Lifetime (4) | Prefix (0/8/16) |
    pub const RI_PREFIX_LEN: usize = 2;
    pub const RI_FLAGS: usize = 3;
    pub const RI_LIFETIME: core::ops::Range<usize> = 4..8;
    pub const RI_PREFIX: usize = 8;
    // RDNSS (RFC 8106 §5.1), 8 + 16n octets:
    // | Type=25 | Length | Reserved (2) | Lifetime (4) | Addresses (16 each) |
    pub const RDNSS_LIFETIME: core::ops::Range<usize> = 4..8;
    pub const RDNSS_ADDRESSES: usize = 8;
}

const PI_FLAG_ON_LINK: u8 = 0x80;
const PI_FLAG_AUTONOMOUS: u8 = 0x40;

/// Which link-layer address option was seen (RFC 4861 §4.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkLayerKind {
    /// Source Link-Layer Address (type 1).
    Source,
    /// Target Link-Layer Address (type 2).
    Target,
}

/// A router or route preference (RFC 4191 §2.1), two bits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preference {
    /// `01`.
    High,
    /// `00`, the default.
    #[default]
    Medium,
    /// `11`.
    Low,
}

impl Preference {
    /// Reads the two-bit value; `10` is reserved and gives `None` (RFC 4191 §2.1).
    pub fn from_bits(bits: u8) -> Option<Preference> {
        match bits & 0b11 {
            0b01 => Some(Preference::High),
            0b00 => Some(Preference::Medium),
            0b11 => Some(Preference::Low),
            _ => None,
        }
    }

    /// The two-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Preference::High => 0b01,
            Preference::Medium => 0b00,
            Preference::Low => 0b11,
        }
    }
}

/// Zeroes the bits of `prefix` after its first `len` bits.
pub(crate) fn mask_prefix(prefix: Ipv6Address, len: u8) -> Ipv6Address {
    let bits = u128::from(prefix);
    let mask = match len {
        0 => 0,
        1..=127 => !0u128 << (128 - u32::from(len)),
        _ => !0,
    };
    Ipv6Address::from(bits & mask)
}

fn be32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes);
    u32::from_be_bytes(b)
}

/// A Prefix Information option (RFC 4861 §4.6.2).
///
/// The bits of `prefix` after `prefix_len` are reserved: the sender zeroes them and the
/// receiver ignores them (RFC 4861 §4.6.2), so both parse and emit clear them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixInformation {
    /// Number of leading bits of `prefix` that are valid, 0 to 128.
    pub prefix_len: u8,
    /// L flag: the prefix can be used for on-link determination.
    pub on_link: bool,
    /// A flag: the prefix can be used for stateless address autoconfiguration (RFC 4862).
    pub autonomous: bool,
    /// Seconds the prefix stays valid; all ones means forever.
    pub valid_lifetime: u32,
    /// Seconds addresses made from the prefix stay preferred; all ones means forever.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Address,
}

impl PrefixInformation {
    /// Length of the option on the wire.
    pub const LEN: usize = 32;

    fn parse(opt: &[u8]) -> Option<PrefixInformation> {
        // RFC 4861 §4.6.2 fixes the length at 4 units and the prefix length at 0..=128.
        if opt.len() != Self::LEN || opt[field::PI_PREFIX_LEN] > 128 {
            return None;
        }
        let prefix_len = opt[field::PI_PREFIX_LEN];
        let flags = opt[field::PI_FLAGS];
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&opt[field::PI_PREFIX]);
        Some(PrefixInformation {
            prefix_len,
            on_link: flags & PI_FLAG_ON_LINK != 0,
            autonomous: flags & PI_FLAG_AUTONOMOUS != 0,
            valid_lifetime: be32(&opt[field::PI_VALID]),
            preferred_lifetime: be32(&opt[field::PI_PREFERRED]),
            prefix: mask_prefix(Ipv6Address::from(prefix), prefix_len),
        })
    }

    fn emit(&self, opt: &mut [u8]) -> Result<()> {
        if self.prefix_len > 128 {
            return Err(Error::Malformed);
        }
        opt[0] = option_type::PREFIX_INFORMATION;
        opt[1] = (Self::LEN / 8) as u8;
        opt[field::PI_PREFIX_LEN] = self.prefix_len;
        opt[field::PI_FLAGS] = if self.on_link { PI_FLAG_ON_LINK } else { 0 }
            | if self.autonomous {
                PI_FLAG_AUTONOMOUS
            } else {
                0
            };
        opt[field::PI_VALID].copy_from_slice(&self.valid_lifetime.to_be_bytes());
        opt[field::PI_PREFERRED].copy_from_slice(&self.preferred_lifetime.to_be_bytes());
        opt[field::PI_RESERVED2].fill(0);
        opt[field::PI_PREFIX].copy_from_slice(&mask_prefix(self.prefix, self.prefix_len).octets());
        Ok(())
    }
}

/// A Route Information option (RFC 4191 §2.3): a more specific route through the sender.
///
/// Bits of `prefix` after `prefix_len` are not carried (or are ignored) and read as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteInformation {
    /// Number of leading bits of `prefix` that are valid, 0 to 128.
    pub prefix_len: u8,
    /// Preference of this route over others to the same prefix.
    pub preference: Preference,
    /// Seconds the route stays valid; all ones means forever.
    pub lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Address,
}

impl RouteInformation {
    /// Length of the option on the wire: the shortest that holds `prefix_len` bits
    /// (RFC 4191 §2.3: 8 octets for a zero-length prefix, 16 up to /64, else 24).
    pub fn buffer_len(&self) -> usize {
        match self.prefix_len {
            0 => 8,
            1..=64 => 16,
            _ => 24,
        }
    }

    fn parse(opt: &[u8]) -> Option<RouteInformation> {
        let units = opt.len() / 8;
        let prefix_len = opt[field::RI_PREFIX_LEN];
        // RFC 4191 §2.3 ties the length (1, 2 or 3 units) to the prefix length, and §3.1
        // has the host ignore an option that breaks the rule or has a prefix over 128 bits.
        let length_ok = match prefix_len {
            0 => (1..=3).contains(&units),
            1..=64 => (2..=3).contains(&units),
            65..=128 => units == 3,
            _ => false,
        };
        // RFC 4191 §2.3: an option with the reserved preference `10` is ignored.
        let preference = Preference::from_bits(opt[field::RI_FLAGS] >> 3)?;
        if !length_ok {
            return None;
        }
        let mut prefix = [0u8; 16];
        let carried = opt.get(field::RI_PREFIX..)?;
        prefix[..carried.len()].copy_from_slice(carried);
        Some(RouteInformation {
            prefix_len,
            preference,
            lifetime: be32(&opt[field::RI_LIFETIME]),
            prefix: mask_prefix(Ipv6Address::from(prefix), prefix_len),
        })
    }

    fn emit(&self, opt: &mut [u8]) -> Result<()> {
        if self.prefix_len > 128 {
            return Err(Error::Malformed);
        }
        let len = self.buffer_len();
        opt[0] = option_type::ROUTE_INFORMATION;
        opt[1] = (len / 8) as u8;
        opt[field::RI_PREFIX_LEN] = self.prefix_len;
        opt[field::RI_FLAGS] = self.preference.bits() << 3;
        opt[field::RI_LIFETIME].copy_from_slice(&self.lifetime.to_be_bytes());
        let prefix = mask_prefix(self.prefix, self.prefix_len).octets();
        opt[field::RI_PREFIX..len].copy_from_slice(&prefix[..len - field::RI_PREFIX]);
        Ok(())
    }
}

/// A zero-copy iterator over packed IPv6 addresses (16 octets each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AddressIter<'a> {
    bytes: &'a [u8],
}

impl<'a> AddressIter<'a> {
    /// Iterates over the whole addresses in `bytes`; a trailing partial address is ignored.
    pub fn new(bytes: &'a [u8]) -> AddressIter<'a> {
        let whole = bytes.len() / 16 * 16;
        AddressIter {
            bytes: &bytes[..whole],
        }
    }

    /// The addresses not yet returned, as bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Copies the addresses into the front of `free` and returns that part; `free` keeps the
    /// rest, for the next list a repr's `parse` stores. [`Error::BufferTooSmall`] if they do
    /// not fit.
    pub(crate) fn store_into<'b>(
        self,
        free: &mut &'b mut [Ipv6Address],
    ) -> Result<&'b mut [Ipv6Address]> {
        if free.len() < self.len() {
            return Err(Error::BufferTooSmall);
        }
        let (used, rest) = core::mem::take(free).split_at_mut(self.len());
        *free = rest;
        for (slot, address) in used.iter_mut().zip(self) {
            *slot = address;
        }
        Ok(used)
    }
}

impl Iterator for AddressIter<'_> {
    type Item = Ipv6Address;

    fn next(&mut self) -> Option<Ipv6Address> {
        let (first, rest) = self.bytes.split_first_chunk::<16>()?;
        self.bytes = rest;
        Some(Ipv6Address::from(*first))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / 16;
        (n, Some(n))
    }
}

impl ExactSizeIterator for AddressIter<'_> {}

/// A Recursive DNS Server option (RFC 8106 §5.1), read in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rdnss<'a> {
    /// Seconds the servers may be used; all ones means forever, zero means stop using them.
    pub lifetime: u32,
    /// The servers' addresses (at least one).
    pub addresses: AddressIter<'a>,
}

impl<'a> Rdnss<'a> {
    fn parse(opt: &'a [u8]) -> Option<Rdnss<'a>> {
        // RFC 8106 §5.1: the length is 3 for one address and grows by 2 for each more, so it
        // is odd and at least 3; an option breaking that cannot be read and is ignored.
        let units = opt.len() / 8;
        if units < 3 || units.is_multiple_of(2) {
            return None;
        }
        Some(Rdnss {
            lifetime: be32(&opt[field::RDNSS_LIFETIME]),
            addresses: AddressIter::new(&opt[field::RDNSS_ADDRESSES..]),
        })
    }
}

/// One option of a received Neighbor Discovery message, read in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NdpOption<'a> {
    /// A Source or Target Link-Layer Address option. On a link without link-layer addresses
    /// it means nothing: it is reported so that it can be counted, and otherwise skipped.
    LinkLayerAddress {
        /// Source or target.
        kind: LinkLayerKind,
    },
    /// A Prefix Information option.
    PrefixInformation(PrefixInformation),
    /// An MTU option (RFC 4861 §4.6.4): the link MTU to use.
    Mtu(u32),
    /// A Route Information option (RFC 4191).
    RouteInformation(RouteInformation),
    /// A Recursive DNS Server option (RFC 8106).
    Rdnss(Rdnss<'a>),
    /// An option of a type listed above whose length or contents break its RFC, which says
    /// to ignore the option (not the message).
    Invalid {
        /// The option type.
        kind: u8,
        /// The option's bytes after the type and length octets.
        data: &'a [u8],
    },
    /// An option of another type. RFC 4861 §4.6: unrecognised options are silently ignored
    /// and the message still processed.
    Unknown {
        /// The option type.
        kind: u8,
        /// The option's bytes after the type and length octets.
        data: &'a [u8],
    },
}

impl<'a> NdpOption<'a> {
    /// Reads one whole option (`opt.len()` is its length field times 8, at least 8).
    fn parse(opt: &'a [u8]) -> NdpOption<'a> {
        let kind = opt[0];
        let parsed = match kind {
            option_type::SOURCE_LINK_LAYER_ADDRESS => Some(NdpOption::LinkLayerAddress {
                kind: LinkLayerKind::Source,
            }),
            option_type::TARGET_LINK_LAYER_ADDRESS => Some(NdpOption::LinkLayerAddress {
                kind: LinkLayerKind::Target,
            }),
            option_type::PREFIX_INFORMATION => {
                PrefixInformation::parse(opt).map(NdpOption::PrefixInformation)
            }
            // RFC 4861 §4.6.4: the MTU option is one unit long.
            option_type::MTU if opt.len() == 8 => Some(NdpOption::Mtu(be32(&opt[field::MTU]))),
            option_type::MTU => None,
            option_type::ROUTE_INFORMATION => {
                RouteInformation::parse(opt).map(NdpOption::RouteInformation)
            }
            option_type::RDNSS => Rdnss::parse(opt).map(NdpOption::Rdnss),
            _ => {
                return NdpOption::Unknown {
                    kind,
                    data: &opt[2..],
                };
            }
        };
        parsed.unwrap_or(NdpOption::Invalid {
            kind,
            data: &opt[2..],
        })
    }
}

/// Checks the option area of an ND message: every option has a non-zero length
/// (RFC 4861 §4.6 and §6.1: a message with a zero-length option is discarded, so this is
/// [`Error::Malformed`]) and none runs past the end ([`Error::Truncated`]).
pub fn check_options(mut options: &[u8]) -> Result<()> {
    // Each round consumes at least 8 octets.
    while !options.is_empty() {
        let units = *options.get(1).ok_or(Error::Truncated)?;
        if units == 0 {
            return Err(Error::Malformed);
        }
        options = options
            .get(usize::from(units) * 8..)
            .ok_or(Error::Truncated)?;
    }
    Ok(())
}

/// Iterator over the options of an ND message.
///
/// It stops at the end of the message, and also (defensively) at a zero-length or
/// overrunning option, which [`check_options`] reports as errors.
#[derive(Debug, Clone)]
pub struct OptionsIter<'a> {
    rest: &'a [u8],
}

impl<'a> OptionsIter<'a> {
    /// Iterates over the options in `options`, the message after its fixed part.
    pub fn new(options: &'a [u8]) -> OptionsIter<'a> {
        OptionsIter { rest: options }
    }
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = NdpOption<'a>;

    fn next(&mut self) -> Option<NdpOption<'a>> {
        let len = usize::from(*self.rest.get(1)?) * 8;
        if len == 0 || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let (opt, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(NdpOption::parse(opt))
    }
}

impl core::iter::FusedIterator for OptionsIter<'_> {}

/// An option to emit in a Router Advertisement. Link-layer address options are never
/// emitted on these links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpOptionRepr<'a> {
    /// A Prefix Information option.
    PrefixInformation(PrefixInformation),
    /// An MTU option.
    Mtu(u32),
    /// A Route Information option, in its shortest length.
    RouteInformation(RouteInformation),
    /// A Recursive DNS Server option with 1 to 127 addresses.
    Rdnss {
        /// Seconds the servers may be used.
        lifetime: u32,
        /// The servers.
        addresses: &'a [Ipv6Address],
    },
}

impl NdpOptionRepr<'_> {
    /// Length of the option on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            NdpOptionRepr::PrefixInformation(_) => PrefixInformation::LEN,
            NdpOptionRepr::Mtu(_) => 8,
            NdpOptionRepr::RouteInformation(r) => r.buffer_len(),
            NdpOptionRepr::Rdnss { addresses, .. } => 8 + 16 * addresses.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// [`Error::BufferTooSmall`] if it does not fit; [`Error::Malformed`] for a prefix
    /// length over 128 or an RDNSS option with no address or more than 127 (the length
    /// octet could not say so).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let opt = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        match self {
            NdpOptionRepr::PrefixInformation(p) => p.emit(opt)?,
            NdpOptionRepr::Mtu(mtu) => {
                opt[0] = option_type::MTU;
                opt[1] = 1;
                opt[2] = 0;
                opt[3] = 0;
                opt[field::MTU].copy_from_slice(&mtu.to_be_bytes());
            }
            NdpOptionRepr::RouteInformation(r) => r.emit(opt)?,
            NdpOptionRepr::Rdnss {
                lifetime,
                addresses,
            } => {
                if addresses.is_empty() || addresses.len() > 127 {
                    return Err(Error::Malformed);
                }
                opt[0] = option_type::RDNSS;
                opt[1] = (len / 8) as u8;
                opt[2] = 0;
                opt[3] = 0;
                opt[field::RDNSS_LIFETIME].copy_from_slice(&lifetime.to_be_bytes());
                for (chunk, address) in opt[field::RDNSS_ADDRESSES..]
                    .chunks_exact_mut(16)
                    .zip(addresses.iter())
                {
                    chunk.copy_from_slice(&address.octets());
                }
            }
        }
        Ok(len)
    }
}
