//! Multicast Listener Discovery: MLDv1 (RFC 2710) and MLDv2 (RFC 3810) queries and reports.
//!
//! smoltcp 0.14 does not parse MLDv1, and its `multicast` feature sends a join as
//! CHANGE_TO_INCLUDE_MODE with no sources, which RFC 3810 reads as a leave (and the reverse
//! for a leave). This module has:
//!
//! - views: [`Query`] (v1 or v2 by length, RFC 3810 §8.1), [`V1Message`] (Report, Done) and
//!   [`ReportV2`] with a [`RecordsIter`] over [`AddressRecord`]s;
//! - reprs to emit: [`QueryRepr`], [`ReportV1Repr`], [`DoneRepr`], [`ReportV2Repr`] with
//!   [`AddressRecordRepr::join`] and [`AddressRecordRepr::leave`];
//! - [`emit_ipv6`], which writes the whole packet MLD requires (hop limit 1, Hop-by-Hop
//!   Router Alert, checksum), and [`parse_ipv6`], which checks a received one;
//! - the exponential encodings of Maximum Response Code and QQIC (RFC 3810 §5.1.3, §5.1.9).

mod query;
mod report;
#[cfg(test)]
mod tests;

use smoltcp::wire::Ipv6Address;

use crate::ndp::ipv6;
use crate::{Error, Result};

pub use crate::ndp::{
    AddressIter, Received, ValidationError, emit_icmpv6_checksum, verify_icmpv6_checksum,
};
pub use query::{QUERY_V1_LEN, QUERY_V2_LEN, Query, QueryRepr, QueryVersion};
pub use report::{
    AddressRecord, AddressRecordRepr, DoneRepr, RECORD_HEADER_LEN, REPORT_V2_HEADER_LEN,
    RecordType, RecordsIter, ReportV1Repr, ReportV2, ReportV2Repr, V1_LEN, V1Message,
};

/// ICMPv6 type of a Multicast Listener Query (both versions).
pub const TYPE_QUERY: u8 = 130;
/// ICMPv6 type of an MLDv1 Multicast Listener Report.
pub const TYPE_REPORT_V1: u8 = 131;
/// ICMPv6 type of an MLDv1 Multicast Listener Done.
pub const TYPE_DONE: u8 = 132;
/// ICMPv6 type of an MLDv2 Multicast Listener Report.
pub const TYPE_REPORT_V2: u8 = 143;

/// The hop limit MLD messages are sent with and must arrive with (RFC 2710 §3, RFC 3810 §5).
pub const HOP_LIMIT: u8 = 1;
/// The Router Alert value that means "MLD message" (RFC 2711 §2.1).
pub const ROUTER_ALERT_MLD: u16 = 0;
/// Length of the Hop-by-Hop Options header [`emit_ipv6`] writes: Router Alert and a PadN.
pub const HOP_BY_HOP_LEN: usize = 8;

/// The Hop-by-Hop Options header [`emit_ipv6`] writes (RFC 8200 §4.3): the Router Alert
/// option of RFC 2711 §2.1 with the MLD value, then a PadN to fill 8 octets.
const HOP_BY_HOP: [u8; HOP_BY_HOP_LEN] = {
    let [alert_hi, alert_lo] = ROUTER_ALERT_MLD.to_be_bytes();
    [
        58, // Next Header: ICMPv6
        0,  // Hdr Ext Len: 8 octets in all
        5,  // Router Alert
        2,  // with two data octets
        alert_hi, alert_lo, 1, // PadN
        0, // with no data octets
    ]
};

/// All-nodes address `ff02::1`, where general queries go.
pub const ALL_NODES: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// All-routers address `ff02::2`, where MLDv1 Done messages go (RFC 2710 §4).
pub const ALL_ROUTERS: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// All MLDv2-capable routers `ff02::16`, where MLDv2 reports go (RFC 3810 §5.2.14).
pub const ALL_MLDV2_ROUTERS: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// RFC 3810 §5.1.3 and §5.1.9 encode time the same way: a code below `1 << (mant_bits + 3)`
/// is the value itself; otherwise it is a float `1|exp(3)|mant(mant_bits)` worth
/// `(mant | 1 << mant_bits) << (exp + 3)`.
fn decode_exponential(code: u32, mant_bits: u32) -> u32 {
    if code < 1 << (mant_bits + 3) {
        return code;
    }
    let exp = (code >> mant_bits) & 0x7;
    let mant = code & ((1 << mant_bits) - 1);
    (mant | 1 << mant_bits) << (exp + 3)
}

/// The code of [`decode_exponential`] for `value`, rounding down to the nearest value the
/// code can express and saturating at the all-ones code.
fn encode_exponential(value: u32, mant_bits: u32) -> u32 {
    let float = 1 << (mant_bits + 3);
    if value < float {
        return value;
    }
    for exp in 0..8u32 {
        let mant = value >> (exp + 3);
        // The implicit leading one is bit `mant_bits`: the first exponent that brings the
        // value under it fits.
        if mant < 1 << (mant_bits + 1) {
            return float | exp << mant_bits | (mant & ((1 << mant_bits) - 1));
        }
    }
    (float << 1) - 1
}

/// Decodes a Maximum Response Code to milliseconds (RFC 3810 §5.1.3): below 32768 it is the
/// value itself, otherwise a float `1|exp(3)|mant(12)` worth `(mant | 0x1000) << (exp + 3)`.
pub fn decode_max_response_code(code: u16) -> u32 {
    decode_exponential(code.into(), 12)
}

/// Encodes milliseconds as a Maximum Response Code (RFC 3810 §5.1.3), rounding down to the
/// nearest value the code can express and saturating at 8,387,584 ms (code 0xffff).
pub fn encode_max_response_code(millis: u32) -> u16 {
    // At most 0xffff with 12 mantissa bits.
    encode_exponential(millis, 12) as u16
}

/// Decodes a QQIC to seconds (RFC 3810 §5.1.9): below 128 it is the value itself, otherwise a
/// float `1|exp(3)|mant(4)` worth `(mant | 0x10) << (exp + 3)`.
pub fn decode_qqic(qqic: u8) -> u32 {
    decode_exponential(qqic.into(), 4)
}

/// Encodes seconds as a QQIC (RFC 3810 §5.1.9), rounding down to the nearest value the code
/// can express and saturating at 31,744 s (code 0xff).
pub fn encode_qqic(secs: u32) -> u8 {
    // At most 0xff with 4 mantissa bits.
    encode_exponential(secs, 4) as u8
}

/// An MLD message, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MldMessage<'a> {
    /// A query, MLDv1 or MLDv2.
    Query(Query<&'a [u8]>),
    /// An MLDv1 report.
    ReportV1(V1Message<&'a [u8]>),
    /// An MLDv1 done.
    Done(V1Message<&'a [u8]>),
    /// An MLDv2 report.
    ReportV2(ReportV2<&'a [u8]>),
}

impl<'a> MldMessage<'a> {
    /// Reads an ICMPv6 message by its type and checks its length (see each view's
    /// `check_len`). Does not check the checksum.
    ///
    /// [`Error::Unsupported`] if it is not an MLD message.
    pub fn parse(msg: &'a [u8]) -> Result<MldMessage<'a>> {
        match *msg.first().ok_or(Error::Truncated)? {
            TYPE_QUERY => Ok(MldMessage::Query(Query::new_checked(msg)?)),
            TYPE_REPORT_V1 => Ok(MldMessage::ReportV1(V1Message::new_checked(msg)?)),
            TYPE_DONE => Ok(MldMessage::Done(V1Message::new_checked(msg)?)),
            TYPE_REPORT_V2 => Ok(MldMessage::ReportV2(ReportV2::new_checked(msg)?)),
            _ => Err(Error::Unsupported),
        }
    }
}

/// An MLD message to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MldRepr<'a> {
    /// A query.
    Query(QueryRepr<'a>),
    /// An MLDv1 report.
    ReportV1(ReportV1Repr),
    /// An MLDv1 done.
    Done(DoneRepr),
    /// An MLDv2 report.
    ReportV2(ReportV2Repr<'a>),
}

impl MldRepr<'_> {
    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        match self {
            MldRepr::Query(r) => r.buffer_len(),
            MldRepr::ReportV1(r) => r.buffer_len(),
            MldRepr::Done(r) => r.buffer_len(),
            MldRepr::ReportV2(r) => r.buffer_len(),
        }
    }

    /// Writes the ICMPv6 message with a zero checksum and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            MldRepr::Query(r) => r.emit(buf),
            MldRepr::ReportV1(r) => r.emit(buf),
            MldRepr::Done(r) => r.emit(buf),
            MldRepr::ReportV2(r) => r.emit(buf),
        }
    }

    /// The destination the RFCs give for the message: a general query goes to
    /// [`ALL_NODES`] and a specific one to its group (RFC 3810 §5.1.15, RFC 2710 §4); an
    /// MLDv1 report to its group and a done to [`ALL_ROUTERS`] (RFC 2710 §4); an MLDv2
    /// report to [`ALL_MLDV2_ROUTERS`] (RFC 3810 §5.2.14).
    pub fn destination(&self) -> Ipv6Address {
        match self {
            MldRepr::Query(q) if q.multicast_address().is_unspecified() => ALL_NODES,
            MldRepr::Query(q) => q.multicast_address(),
            MldRepr::ReportV1(r) => r.multicast_address,
            MldRepr::Done(_) => ALL_ROUTERS,
            MldRepr::ReportV2(_) => ALL_MLDV2_ROUTERS,
        }
    }
}

/// Writes a whole IPv6 packet carrying `repr` as RFC 3810 §5 and RFC 2710 §3 require: hop
/// limit 1, a Hop-by-Hop Options header with a Router Alert option (RFC 2711, value 0 for
/// MLD) padded to 8 octets, then the ICMPv6 message with its checksum (whose pseudo-header
/// uses `dst` and the ICMPv6 length). Returns the packet's length.
///
/// `src` is the link-local address of the interface, or `::` for a report sent before the
/// interface has one (RFC 3810 §5.2.13); [`MldRepr::destination`] gives the usual `dst`.
///
/// [`Error::BufferTooSmall`] if `buf` is too short, [`Error::Malformed`] if the message is
/// longer than an IPv6 payload can be, or an error of the message's own `emit`.
pub fn emit_ipv6(
    src: &Ipv6Address,
    dst: &Ipv6Address,
    repr: &MldRepr<'_>,
    buf: &mut [u8],
) -> Result<usize> {
    ipv6::emit_icmpv6_packet(
        src,
        dst,
        HOP_LIMIT,
        &HOP_BY_HOP,
        repr.buffer_len(),
        |msg| repr.emit(msg),
        buf,
    )
}

/// A received MLD packet that passed [`parse_ipv6`]; its source is link-local, or `::` for
/// a report or done.
pub type ReceivedMld<'a> = Received<MldMessage<'a>>;

/// Validates a received IPv6 packet (fixed header first) carrying an MLD message and reads
/// it.
///
/// Checks (RFC 3810 §5 and §7.4, RFC 2710 §3 and §5): the source is link-local (queries,
/// §5.1.14) or link-local or `::` (reports and done, §5.2.13); the hop limit is 1; a
/// Hop-by-Hop Options header carries a Router Alert with value 0; the checksum is right; the
/// length fits the type (a query of 25 to 27 octets is ignored, §8.1). The IPv6 header and
/// its extension headers are read by [`frame::parse_ipv6`](crate::frame::parse_ipv6), in
/// place, and must pass its checks; fragments are refused.
pub fn parse_ipv6(packet: &[u8]) -> core::result::Result<ReceivedMld<'_>, ValidationError> {
    let ip = ipv6::icmpv6_in_ipv6(packet)?;
    let msg = ip.message;
    let may_be_unspecified = match ip.header[0] {
        TYPE_QUERY => false,
        TYPE_REPORT_V1 | TYPE_DONE | TYPE_REPORT_V2 => true,
        _ => return Err(ValidationError::NotMld),
    };
    if !(ip.src.is_unicast_link_local() || may_be_unspecified && ip.src.is_unspecified()) {
        return Err(ValidationError::SourceAddress);
    }
    if ip.hop_limit != HOP_LIMIT {
        return Err(ValidationError::HopLimit);
    }
    if ip.router_alert != Some(ROUTER_ALERT_MLD) {
        return Err(ValidationError::RouterAlert);
    }
    if !verify_icmpv6_checksum(&ip.src, &ip.dst, msg) {
        return Err(ValidationError::Checksum);
    }
    let message = MldMessage::parse(msg).map_err(|e| match e {
        Error::Truncated => ValidationError::Truncated,
        _ => ValidationError::Malformed,
    })?;
    Ok(Received {
        src_addr: ip.src,
        dst_addr: ip.dst,
        message,
    })
}
