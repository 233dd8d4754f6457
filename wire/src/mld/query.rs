//! Multicast Listener Query (ICMPv6 type 130), MLDv1 (RFC 2710 §3) and MLDv2 (RFC 3810 §5.1).

use smoltcp::wire::Ipv6Address;

use super::{
    TYPE_QUERY, decode_max_response_code, decode_qqic, encode_max_response_code, encode_qqic,
};
use crate::ndp::{AddressIter, ipv6};
use crate::{Error, Result};

/// Field offsets.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type = 130   |      Code     |           Checksum            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |    Maximum Response Code      |           Reserved            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// *                       Multicast Address                       *
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  <- 24: end of MLDv1
/// | Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  <- 28
/// *                       Source Address [1..N]                   *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// In MLDv1 the Maximum Response Code is the Maximum Response Delay in milliseconds.
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const MAX_RESP_CODE: Range<usize> = 4..6;
    pub const RESERVED: Range<usize> = 6..8;
    pub const MCAST_ADDR: Range<usize> = 8..24;
    pub const FLAGS: usize = 24;
    pub const QQIC: usize = 25;
    pub const NUM_SOURCES: Range<usize> = 26..28;
    pub const SOURCES: usize = 28;
}

/// Length of an MLDv1 query.
pub const QUERY_V1_LEN: usize = field::FLAGS;
/// Length of an MLDv2 query without sources.
pub const QUERY_V2_LEN: usize = field::SOURCES;

const FLAG_S: u8 = 0x08;
const QRV_MASK: u8 = 0x07;

/// The MLD version of a query, told by its length (RFC 3810 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryVersion {
    /// 24 octets.
    V1,
    /// 28 octets or more.
    V2,
}

/// A read/write view of a Multicast Listener Query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Query<T> {
    ipv6::icmpv6_accessors!(field);

    /// Checks the length: 24 octets is MLDv1; 28 or more is MLDv2 and must hold the sources
    /// its Number of Sources announces ([`Error::Truncated`] otherwise). RFC 3810 §8.1 has
    /// any other length ignored: under 24 is [`Error::Truncated`], 25 to 27
    /// [`Error::Malformed`]. Octets after the sources are allowed and ignored (RFC 3810
    /// §5.1.12). After it succeeds no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        match buf.len() {
            n if n < QUERY_V1_LEN => Err(Error::Truncated),
            QUERY_V1_LEN => Ok(()),
            n if n < QUERY_V2_LEN => Err(Error::Malformed),
            n => {
                let sources = usize::from(u16::from_be_bytes([
                    buf[field::NUM_SOURCES.start],
                    buf[field::NUM_SOURCES.start + 1],
                ]));
                if n < QUERY_V2_LEN + 16 * sources {
                    Err(Error::Truncated)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// MLDv1 or MLDv2, by length.
    pub fn version(&self) -> QueryVersion {
        if self.buffer.as_ref().len() >= QUERY_V2_LEN {
            QueryVersion::V2
        } else {
            QueryVersion::V1
        }
    }

    /// The raw Maximum Response Code field.
    pub fn max_response_code(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_RESP_CODE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Maximum Response Delay in milliseconds: the field itself in MLDv1 (RFC 2710 §3.4),
    /// decoded per RFC 3810 §5.1.3 in MLDv2.
    pub fn max_response_delay(&self) -> u32 {
        match self.version() {
            QueryVersion::V1 => u32::from(self.max_response_code()),
            QueryVersion::V2 => decode_max_response_code(self.max_response_code()),
        }
    }

    /// The multicast address queried; `::` for a general query.
    pub fn multicast_address(&self) -> Ipv6Address {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[field::MCAST_ADDR]);
        Ipv6Address::from(octets)
    }

    /// Whether this is a general query (multicast address `::`).
    pub fn is_general(&self) -> bool {
        self.multicast_address().is_unspecified()
    }

    fn v2_octet(&self, at: usize) -> u8 {
        match self.version() {
            QueryVersion::V1 => 0,
            QueryVersion::V2 => self.buffer.as_ref()[at],
        }
    }

    /// S flag (RFC 3810 §5.1.7): routers suppress their timer updates. False in MLDv1.
    pub fn suppress_router_processing(&self) -> bool {
        self.v2_octet(field::FLAGS) & FLAG_S != 0
    }

    /// Querier's Robustness Variable (RFC 3810 §5.1.8), 0 to 7; 0 in MLDv1.
    pub fn qrv(&self) -> u8 {
        self.v2_octet(field::FLAGS) & QRV_MASK
    }

    /// The raw QQIC field; 0 in MLDv1.
    pub fn qqic(&self) -> u8 {
        self.v2_octet(field::QQIC)
    }

    /// Querier's Query Interval in seconds, decoded per RFC 3810 §5.1.9; 0 in MLDv1.
    pub fn query_interval(&self) -> u32 {
        decode_qqic(self.qqic())
    }

    /// The Number of Sources field; 0 in MLDv1.
    pub fn number_of_sources(&self) -> u16 {
        u16::from(self.v2_octet(field::NUM_SOURCES.start)) << 8
            | u16::from(self.v2_octet(field::NUM_SOURCES.start + 1))
    }

    /// The source addresses, read in place: as many as Number of Sources says and the buffer
    /// holds.
    pub fn sources(&self) -> AddressIter<'_> {
        let buf = self.buffer.as_ref();
        let n = usize::from(self.number_of_sources());
        let end = buf.len().min(field::SOURCES + 16 * n);
        AddressIter::new(buf.get(field::SOURCES..end).unwrap_or(&[]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Query<T> {
    ipv6::icmpv6_setters!(field);
}

/// A Multicast Listener Query to emit or as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryRepr<'a> {
    /// An MLDv1 query (RFC 2710 §3).
    V1 {
        /// Maximum Response Delay in milliseconds.
        max_response_delay: u16,
        /// The group queried; `::` for a general query.
        multicast_address: Ipv6Address,
    },
    /// An MLDv2 query (RFC 3810 §5.1).
    V2 {
        /// Maximum Response Delay in milliseconds. Emitted as the code of RFC 3810 §5.1.3,
        /// rounded down to a value the code can express (at most 8,387,584 ms).
        max_response_delay: u32,
        /// The group queried; `::` for a general query.
        multicast_address: Ipv6Address,
        /// S flag.
        suppress_router_processing: bool,
        /// Querier's Robustness Variable, 0 to 7 (RFC 3810 §5.1.8: 0 when the variable is
        /// over 7).
        qrv: u8,
        /// Querier's Query Interval in seconds. Emitted as the QQIC of RFC 3810 §5.1.9,
        /// rounded down to a value the code can express (at most 31,744 s).
        query_interval: u32,
        /// Sources of a group-and-source-specific query; empty otherwise.
        sources: &'a [Ipv6Address],
    },
}

impl<'a> QueryRepr<'a> {
    /// A general MLDv2 query with RFC 3810 §9 defaults: 10 s response delay, robustness 2,
    /// query interval 125 s.
    pub fn general_v2() -> QueryRepr<'static> {
        QueryRepr::V2 {
            max_response_delay: 10_000,
            multicast_address: Ipv6Address::UNSPECIFIED,
            suppress_router_processing: false,
            qrv: 2,
            query_interval: 125,
            sources: &[],
        }
    }

    /// Parses a checked view, storing the sources of an MLDv2 query in `sources`.
    ///
    /// [`Error::Malformed`] if the type is not 130; [`Error::BufferTooSmall`] if `sources`
    /// is too short; the view's [`check_len`](Query::check_len) errors.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Query<&T>,
        sources: &'a mut [Ipv6Address],
    ) -> Result<QueryRepr<'a>> {
        packet.check_len()?;
        if packet.msg_type() != TYPE_QUERY {
            return Err(Error::Malformed);
        }
        Ok(match packet.version() {
            QueryVersion::V1 => QueryRepr::V1 {
                max_response_delay: packet.max_response_code(),
                multicast_address: packet.multicast_address(),
            },
            QueryVersion::V2 => {
                let mut free = sources;
                // After check_len the buffer holds every source Number of Sources announces.
                let stored = packet.sources().store_into(&mut free)?;
                QueryRepr::V2 {
                    max_response_delay: packet.max_response_delay(),
                    multicast_address: packet.multicast_address(),
                    suppress_router_processing: packet.suppress_router_processing(),
                    qrv: packet.qrv(),
                    query_interval: packet.query_interval(),
                    sources: stored,
                }
            }
        })
    }

    /// The group queried; `::` for a general query.
    pub fn multicast_address(&self) -> Ipv6Address {
        match self {
            QueryRepr::V1 {
                multicast_address, ..
            }
            | QueryRepr::V2 {
                multicast_address, ..
            } => *multicast_address,
        }
    }

    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        match self {
            QueryRepr::V1 { .. } => QUERY_V1_LEN,
            QueryRepr::V2 { sources, .. } => QUERY_V2_LEN + 16 * sources.len(),
        }
    }

    /// Writes the ICMPv6 message with a zero checksum and returns its length.
    ///
    /// [`Error::BufferTooSmall`] if `buf` is too short; [`Error::Malformed`] if `qrv` is over
    /// 7 or there are more than 65,535 sources.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let (max_resp_code, multicast_address) = match *self {
            QueryRepr::V1 {
                max_response_delay,
                multicast_address,
            } => (max_response_delay, multicast_address),
            QueryRepr::V2 {
                max_response_delay,
                multicast_address,
                suppress_router_processing,
                qrv,
                query_interval,
                sources,
            } => {
                let n = u16::try_from(sources.len()).map_err(|_| Error::Malformed)?;
                if qrv > QRV_MASK {
                    return Err(Error::Malformed);
                }
                buf[field::FLAGS] = if suppress_router_processing {
                    FLAG_S
                } else {
                    0
                } | qrv;
                buf[field::QQIC] = encode_qqic(query_interval);
                buf[field::NUM_SOURCES].copy_from_slice(&n.to_be_bytes());
                for (chunk, source) in buf[field::SOURCES..]
                    .chunks_exact_mut(16)
                    .zip(sources.iter())
                {
                    chunk.copy_from_slice(&source.octets());
                }
                (
                    encode_max_response_code(max_response_delay),
                    multicast_address,
                )
            }
        };
        buf[field::TYPE] = TYPE_QUERY;
        buf[field::CODE] = 0;
        buf[field::CHECKSUM].fill(0);
        buf[field::MAX_RESP_CODE].copy_from_slice(&max_resp_code.to_be_bytes());
        buf[field::RESERVED].fill(0);
        buf[field::MCAST_ADDR].copy_from_slice(&multicast_address.octets());
        Ok(len)
    }
}
