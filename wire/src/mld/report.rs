//! Multicast Listener Reports: MLDv1 Report and Done (RFC 2710 §3), MLDv2 Report
//! (RFC 3810 §5.2).

use smoltcp::wire::Ipv6Address;

use super::{TYPE_DONE, TYPE_REPORT_V1, TYPE_REPORT_V2};
use crate::ndp::{AddressIter, ipv6};
use crate::{Error, Result};

/// Field offsets.
///
/// MLDv1 message (RFC 2710 §3), 24 octets; Report (131) and Done (132) send a zero delay:
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |     Code      |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Maximum Response Delay    |          Reserved             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// *                       Multicast Address                       *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// MLDv2 Report (RFC 3810 §5.2):
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Type = 143   |    Reserved   |           Checksum            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Reserved            |Nr of Mcast Address Records (M)|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// *                  Multicast Address Record [1..M]              *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// Multicast Address Record (RFC 3810 §5.2.4 to §5.2.10):
/// ```text
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Record Type  |  Aux Data Len |     Number of Sources (N)     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// *                       Multicast Address                       *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// *                       Source Address [1..N]                   *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// *                         Auxiliary Data                        *
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const V1_DELAY: Range<usize> = 4..6;
    pub const V1_RESERVED: Range<usize> = 6..8;
    pub const V1_MCAST_ADDR: Range<usize> = 8..24;
    pub const V1_END: usize = 24;
    pub const V2_RESERVED: Range<usize> = 4..6;
    pub const V2_NUM_RECORDS: Range<usize> = 6..8;
    pub const V2_RECORDS: usize = 8;
    pub const REC_TYPE: usize = 0;
    pub const REC_AUX_LEN: usize = 1;
    pub const REC_NUM_SOURCES: Range<usize> = 2..4;
    pub const REC_MCAST_ADDR: Range<usize> = 4..20;
    pub const REC_SOURCES: usize = 20;
}

/// Length of an MLDv1 message.
pub const V1_LEN: usize = field::V1_END;
/// Length of an MLDv2 report header.
pub const REPORT_V2_HEADER_LEN: usize = field::V2_RECORDS;
/// Length of a multicast address record without sources or auxiliary data.
pub const RECORD_HEADER_LEN: usize = field::REC_SOURCES;

fn address(bytes: &[u8]) -> Ipv6Address {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(bytes);
    Ipv6Address::from(octets)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// A read/write view of a 24-octet MLDv1 message: Report (131), Done (132) or an MLDv1
/// Query (130; read those with [`Query`](super::Query), which tells the versions apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> V1Message<T> {
    ipv6::icmpv6_accessors!(field);

    /// At least 24 octets ([`Error::Truncated`] otherwise). RFC 2710 §3 (Other fields): a
    /// receiver ignores anything past the first 24 octets.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < V1_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Maximum Response Delay in milliseconds (meaningful in queries only).
    pub fn max_response_delay(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::V1_DELAY])
    }

    /// The multicast address reported or left.
    pub fn multicast_address(&self) -> Ipv6Address {
        address(&self.buffer.as_ref()[field::V1_MCAST_ADDR])
    }
}

fn emit_v1(msg_type: u8, group: &Ipv6Address, buf: &mut [u8]) -> Result<usize> {
    let buf = buf.get_mut(..V1_LEN).ok_or(Error::BufferTooSmall)?;
    buf[field::TYPE] = msg_type;
    buf[field::CODE] = 0;
    buf[field::CHECKSUM].fill(0);
    buf[field::V1_DELAY].fill(0);
    buf[field::V1_RESERVED].fill(0);
    buf[field::V1_MCAST_ADDR].copy_from_slice(&group.octets());
    Ok(V1_LEN)
}

/// An MLDv1 Multicast Listener Report (type 131).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportV1Repr {
    /// The group listened to.
    pub multicast_address: Ipv6Address,
}

/// An MLDv1 Multicast Listener Done (type 132).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DoneRepr {
    /// The group left.
    pub multicast_address: Ipv6Address,
}

macro_rules! v1_repr {
    ($repr:ident, $type:expr) => {
        impl $repr {
            /// Parses a checked view; [`Error::Malformed`] if the type is wrong.
            pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &V1Message<&T>) -> Result<$repr> {
                packet.check_len()?;
                if packet.msg_type() != $type {
                    return Err(Error::Malformed);
                }
                Ok($repr {
                    multicast_address: packet.multicast_address(),
                })
            }

            /// Length of the ICMPv6 message.
            pub const fn buffer_len(&self) -> usize {
                V1_LEN
            }

            /// Writes the ICMPv6 message with a zero checksum and returns its length.
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
                emit_v1($type, &self.multicast_address, buf)
            }
        }
    };
}

v1_repr!(ReportV1Repr, TYPE_REPORT_V1);
v1_repr!(DoneRepr, TYPE_DONE);

/// Multicast address record types, named as in RFC 3810 §5.2.12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// MODE_IS_INCLUDE (1): current state, include mode.
    ModeIsInclude,
    /// MODE_IS_EXCLUDE (2): current state, exclude mode.
    ModeIsExclude,
    /// CHANGE_TO_INCLUDE_MODE (3): filter mode changed to include.
    ChangeToIncludeMode,
    /// CHANGE_TO_EXCLUDE_MODE (4): filter mode changed to exclude.
    ChangeToExcludeMode,
    /// ALLOW_NEW_SOURCES (5).
    AllowNewSources,
    /// BLOCK_OLD_SOURCES (6).
    BlockOldSources,
    /// A value RFC 3810 §5.2.12 does not define.
    Unknown(u8),
}

impl From<u8> for RecordType {
    fn from(value: u8) -> RecordType {
        match value {
            1 => RecordType::ModeIsInclude,
            2 => RecordType::ModeIsExclude,
            3 => RecordType::ChangeToIncludeMode,
            4 => RecordType::ChangeToExcludeMode,
            5 => RecordType::AllowNewSources,
            6 => RecordType::BlockOldSources,
            other => RecordType::Unknown(other),
        }
    }
}

impl From<RecordType> for u8 {
    fn from(value: RecordType) -> u8 {
        match value {
            RecordType::ModeIsInclude => 1,
            RecordType::ModeIsExclude => 2,
            RecordType::ChangeToIncludeMode => 3,
            RecordType::ChangeToExcludeMode => 4,
            RecordType::AllowNewSources => 5,
            RecordType::BlockOldSources => 6,
            RecordType::Unknown(other) => other,
        }
    }
}

/// A multicast address record of a received MLDv2 report, read in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressRecord<'a> {
    /// The record type.
    pub record_type: RecordType,
    /// Length of the auxiliary data in 32-bit words. RFC 3810 §5.2.10: sent as zero, and
    /// any auxiliary data received is ignored (it is skipped here).
    pub aux_data_len: u8,
    /// The multicast address the record is about.
    pub multicast_address: Ipv6Address,
    /// The sources, read in place.
    pub sources: AddressIter<'a>,
}

/// Splits the first record off `records`: the record and the bytes after it, or `None` if it
/// does not fit.
fn split_record(records: &[u8]) -> Option<(AddressRecord<'_>, &[u8])> {
    let header = records.get(..RECORD_HEADER_LEN)?;
    let sources = usize::from(be16(&header[field::REC_NUM_SOURCES]));
    let aux = usize::from(header[field::REC_AUX_LEN]) * 4;
    let sources_end = RECORD_HEADER_LEN + 16 * sources;
    let end = sources_end + aux;
    let source_bytes = records.get(RECORD_HEADER_LEN..sources_end)?;
    let rest = records.get(end..)?;
    Some((
        AddressRecord {
            record_type: RecordType::from(header[field::REC_TYPE]),
            aux_data_len: header[field::REC_AUX_LEN],
            multicast_address: address(&header[field::REC_MCAST_ADDR]),
            sources: AddressIter::new(source_bytes),
        },
        rest,
    ))
}

/// Iterator over the multicast address records of an MLDv2 report: as many as the report
/// announces and its bytes hold.
#[derive(Debug, Clone)]
pub struct RecordsIter<'a> {
    rest: &'a [u8],
    remaining: u16,
}

impl<'a> Iterator for RecordsIter<'a> {
    type Item = AddressRecord<'a>;

    fn next(&mut self) -> Option<AddressRecord<'a>> {
        if self.remaining == 0 {
            return None;
        }
        match split_record(self.rest) {
            Some((record, rest)) => {
                self.rest = rest;
                self.remaining -= 1;
                Some(record)
            }
            None => {
                self.remaining = 0;
                None
            }
        }
    }
}

impl core::iter::FusedIterator for RecordsIter<'_> {}

/// A read/write view of an MLDv2 Multicast Listener Report (type 143).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportV2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ReportV2<T> {
    ipv6::icmpv6_accessors!(field);

    /// Checks that the header and every announced record, with its sources and auxiliary
    /// data, are present ([`Error::Truncated`] otherwise). Octets after the last record are
    /// allowed and ignored (RFC 3810 §5.2.11). After it succeeds no accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let mut rest = self
            .buffer
            .as_ref()
            .get(field::V2_RECORDS..)
            .ok_or(Error::Truncated)?;
        // Bounded by the 16-bit record count; each record also consumes 20 octets or more.
        for _ in 0..self.number_of_records() {
            rest = split_record(rest).ok_or(Error::Truncated)?.1;
        }
        Ok(())
    }

    /// Nr of Mcast Address Records.
    pub fn number_of_records(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::V2_NUM_RECORDS])
    }

    /// The records, read in place.
    pub fn records(&self) -> RecordsIter<'_> {
        RecordsIter {
            rest: self.buffer.as_ref().get(field::V2_RECORDS..).unwrap_or(&[]),
            remaining: self.number_of_records(),
        }
    }
}

/// A multicast address record to emit or as parsed. It never carries auxiliary data
/// (RFC 3810 §5.2.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRecordRepr<'a> {
    /// The record type.
    pub record_type: RecordType,
    /// The multicast address.
    pub multicast_address: Ipv6Address,
    /// The sources.
    pub sources: &'a [Ipv6Address],
}

impl AddressRecordRepr<'static> {
    /// The record that joins `group` for any source: CHANGE_TO_EXCLUDE_MODE with no sources.
    ///
    /// RFC 3810 §6.1: a listener moving from INCLUDE {} (not listening) to EXCLUDE {}
    /// (listening to every source) reports TO_EX({}), that is CHANGE_TO_EXCLUDE_MODE with an
    /// empty source list. smoltcp 0.14's `multicast` feature sends CHANGE_TO_INCLUDE_MODE
    /// for a join, which a router reads as the opposite.
    pub const fn join(group: Ipv6Address) -> AddressRecordRepr<'static> {
        AddressRecordRepr {
            record_type: RecordType::ChangeToExcludeMode,
            multicast_address: group,
            sources: &[],
        }
    }

    /// The record that leaves `group`: CHANGE_TO_INCLUDE_MODE with no sources.
    ///
    /// RFC 3810 §6.1: moving from EXCLUDE {} back to INCLUDE {} is reported as TO_IN({}).
    /// smoltcp 0.14 sends CHANGE_TO_EXCLUDE_MODE for a leave, which a router reads as a join.
    pub const fn leave(group: Ipv6Address) -> AddressRecordRepr<'static> {
        AddressRecordRepr {
            record_type: RecordType::ChangeToIncludeMode,
            multicast_address: group,
            sources: &[],
        }
    }
}

impl AddressRecordRepr<'_> {
    /// Length of the record on the wire.
    pub fn buffer_len(&self) -> usize {
        RECORD_HEADER_LEN + 16 * self.sources.len()
    }

    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let n = u16::try_from(self.sources.len()).map_err(|_| Error::Malformed)?;
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        buf[field::REC_TYPE] = self.record_type.into();
        buf[field::REC_AUX_LEN] = 0;
        buf[field::REC_NUM_SOURCES].copy_from_slice(&n.to_be_bytes());
        buf[field::REC_MCAST_ADDR].copy_from_slice(&self.multicast_address.octets());
        for (chunk, source) in buf[field::REC_SOURCES..]
            .chunks_exact_mut(16)
            .zip(self.sources.iter())
        {
            chunk.copy_from_slice(&source.octets());
        }
        Ok(len)
    }
}

/// An MLDv2 Multicast Listener Report to emit or as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportV2Repr<'a> {
    /// The records, in order.
    pub records: &'a [AddressRecordRepr<'a>],
}

impl<'a> ReportV2Repr<'a> {
    /// Parses a view, storing its records in `records` and their sources in `sources`.
    /// Auxiliary data is dropped. `records` can be reused once the repr is dropped;
    /// `sources` stays borrowed as long as `records` holds what was stored.
    ///
    /// [`Error::Malformed`] if the type is not 143; [`Error::BufferTooSmall`] if the storage
    /// is too short; the view's [`check_len`](ReportV2::check_len) errors.
    pub fn parse<'b: 'a, T: AsRef<[u8]> + ?Sized>(
        packet: &ReportV2<&T>,
        records: &'a mut [AddressRecordRepr<'b>],
        sources: &'b mut [Ipv6Address],
    ) -> Result<ReportV2Repr<'a>> {
        packet.check_len()?;
        if packet.msg_type() != TYPE_REPORT_V2 {
            return Err(Error::Malformed);
        }
        let mut count = 0;
        let mut free_sources = sources;
        for record in packet.records() {
            *records.get_mut(count).ok_or(Error::BufferTooSmall)? = AddressRecordRepr {
                record_type: record.record_type,
                multicast_address: record.multicast_address,
                sources: record.sources.store_into(&mut free_sources)?,
            };
            count += 1;
        }
        let (records, _) = records.split_at_mut(count);
        Ok(ReportV2Repr { records })
    }

    /// Length of the ICMPv6 message.
    pub fn buffer_len(&self) -> usize {
        REPORT_V2_HEADER_LEN
            + self
                .records
                .iter()
                .map(AddressRecordRepr::buffer_len)
                .sum::<usize>()
    }

    /// Writes the ICMPv6 message with a zero checksum and returns its length.
    ///
    /// [`Error::BufferTooSmall`] if `buf` is too short; [`Error::Malformed`] if there are
    /// more than 65,535 records or sources in a record.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let n = u16::try_from(self.records.len()).map_err(|_| Error::Malformed)?;
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let (header, mut rest) = buf.split_at_mut(REPORT_V2_HEADER_LEN);
        header[field::TYPE] = TYPE_REPORT_V2;
        header[field::CODE] = 0;
        header[field::CHECKSUM].fill(0);
        header[field::V2_RESERVED].fill(0);
        header[field::V2_NUM_RECORDS].copy_from_slice(&n.to_be_bytes());
        for record in self.records {
            let used = record.emit(rest)?;
            rest = &mut core::mem::take(&mut rest)[used..];
        }
        Ok(len)
    }
}

impl core::fmt::Display for RecordType {
    /// The record type's name as RFC 3810 §5.2.12 spells it, e.g. `CHANGE_TO_EXCLUDE_MODE`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RecordType::ModeIsInclude => "MODE_IS_INCLUDE",
            RecordType::ModeIsExclude => "MODE_IS_EXCLUDE",
            RecordType::ChangeToIncludeMode => "CHANGE_TO_INCLUDE_MODE",
            RecordType::ChangeToExcludeMode => "CHANGE_TO_EXCLUDE_MODE",
            RecordType::AllowNewSources => "ALLOW_NEW_SOURCES",
            RecordType::BlockOldSources => "BLOCK_OLD_SOURCES",
            RecordType::Unknown(t) => return write!(f, "record type {t}"),
        })
    }
}
