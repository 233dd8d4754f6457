//! Reading and writing packet captures of point-to-point links (feature `std`).
//!
//! [`Writer`] writes classic pcap files (`tcpdump`, Wireshark and every other tool read them)
//! with link type `LINKTYPE_RAW` (101: each record is an IPv4 or IPv6 packet) or `LINKTYPE_IPV6`
//! (229) / `LINKTYPE_IPV4` (228). [`Reader`] reads classic pcap and pcapng files (told apart by
//! their magic number; `tshark` and `dumpcap` write pcapng by default) and yields one [`Record`]
//! per captured packet, with the IP packet extracted from these link types:
//!
//! | link type                  | value | what is removed                                   |
//! |----------------------------|-------|---------------------------------------------------|
//! | `LINKTYPE_RAW`             | 101   | nothing                                           |
//! | `LINKTYPE_IPV4` / `_IPV6`  | 228 / 229 | nothing                                       |
//! | `LINKTYPE_ETHERNET`        | 1     | 14-byte header, 802.1Q / 802.1ad VLAN tags, padding |
//! | `LINKTYPE_LINUX_SLL`       | 113   | 16-byte "cooked" header (`tcpdump -i any`), tags, padding |
//! | `LINKTYPE_LINUX_SLL2`      | 276   | 20-byte "cooked" header, tags, padding            |
//!
//! Link types carrying a header say which protocol follows; frames whose EtherType is neither
//! IPv4 (`0x0800`) nor IPv6 (`0x86DD`), such as ARP, are yielded as
//! [`RecordPayload::NotIp`] so that the caller can count them, and records of any other link
//! type as [`RecordPayload::Unsupported`]. Nothing is skipped silently. Ethernet pads frames to
//! 60 bytes: when a link-layer header was removed, bytes after the end given by the IP header's
//! length field are removed too (not for jumbograms, whose Payload Length is 0).
//!
//! Link types and the file formats: <https://www.tcpdump.org/linktypes.html>, the pcap and
//! pcapng drafts of the IETF OPSAWG (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng).
//!
//! # Bounds
//!
//! The reader never panics on a damaged or hostile file and its memory is bounded: the
//! `pcap-file` crate reads through a fixed 8 MB buffer; a record is copied out only if its
//! captured length is at most [`MAX_RECORD_LEN`] (otherwise the record is reported as
//! [`PcapError::RecordTooLong`] and skipped); a pcapng file may describe at most
//! [`MAX_INTERFACES`] interfaces per section.
//!
//! ```no_run
//! use bridgeless_wire::pcap::{replay, RecordPayload};
//!
//! for record in replay("tests/fixtures/ra.pcap")? {
//!     let record = record?;
//!     if let RecordPayload::Ip(packet) = &record.payload {
//!         // feed `packet` to the code under test
//!     }
//! }
//! # Ok::<(), bridgeless_wire::pcap::PcapError>(())
//! ```

use core::fmt;
use core::time::Duration;
use std::fs::File;
use std::io::{self, BufWriter, Chain, Cursor, Read, Write};
use std::path::Path;
use std::vec::Vec;

use pcap_file::pcap::{PcapHeader, PcapReader};
use pcap_file::pcapng::PcapNgReader;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{DataLink, Endianness, TsResolution};

/// The largest captured length of a record the reader accepts and the writer writes:
/// 256 KiB, libpcap's `MAXIMUM_SNAPLEN`. Larger records are reported as
/// [`PcapError::RecordTooLong`] instead of being allocated.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// The largest number of interfaces a pcapng section may describe before the reader gives up
/// with [`PcapError::TooManyInterfaces`].
pub const MAX_INTERFACES: usize = 1024;

/// VLAN tags removed at most in front of an Ethernet payload (802.1ad double tagging needs 2).
const MAX_VLAN_TAGS: usize = 4;

/// EtherType values that matter here (IEEE registry).
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service VLAN tag (Q-in-Q).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard Q-in-Q tag still seen in captures.
    pub const QINQ_OLD: u16 = 0x9100;
}

/// pcapng block types read here (draft-ietf-opsawg-pcapng §4, §11.1).
mod block {
    pub const SECTION_HEADER: u32 = 0x0A0D_0D0A;
    pub const INTERFACE_DESCRIPTION: u32 = 0x0000_0001;
    pub const PACKET: u32 = 0x0000_0002;
    pub const SIMPLE_PACKET: u32 = 0x0000_0003;
    pub const ENHANCED_PACKET: u32 = 0x0000_0006;
}

/// The link type of a capture or pcapng interface: what each record starts with.
///
/// Values are the `LINKTYPE_*` numbers of <https://www.tcpdump.org/linktypes.html>. Every value
/// has exactly one representation: [`LinkType::from_u32`] never returns [`LinkType::Other`] for a
/// value that has its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1): IEEE 802.3 Ethernet.
    Ethernet,
    /// `LINKTYPE_RAW` (101): an IPv4 or IPv6 packet, told apart by its version field.
    Raw,
    /// `LINKTYPE_LINUX_SLL` (113): Linux "cooked" capture, version 1.
    LinuxSll,
    /// `LINKTYPE_IPV4` (228): an IPv4 packet.
    Ipv4,
    /// `LINKTYPE_IPV6` (229): an IPv6 packet.
    Ipv6,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux "cooked" capture, version 2.
    LinuxSll2,
    /// Any other link type, by number.
    Other(u32),
}

impl LinkType {
    /// The link type with number `value`.
    pub const fn from_u32(value: u32) -> Self {
        match value {
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The link type's number.
    pub const fn to_u32(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(other) => other,
        }
    }
}

impl From<u32> for LinkType {
    fn from(value: u32) -> Self {
        LinkType::from_u32(value)
    }
}

impl From<LinkType> for u32 {
    fn from(link_type: LinkType) -> Self {
        link_type.to_u32()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkType::Ethernet => f.write_str("LINKTYPE_ETHERNET (1)"),
            LinkType::Raw => f.write_str("LINKTYPE_RAW (101)"),
            LinkType::LinuxSll => f.write_str("LINKTYPE_LINUX_SLL (113)"),
            LinkType::Ipv4 => f.write_str("LINKTYPE_IPV4 (228)"),
            LinkType::Ipv6 => f.write_str("LINKTYPE_IPV6 (229)"),
            LinkType::LinuxSll2 => f.write_str("LINKTYPE_LINUX_SLL2 (276)"),
            LinkType::Other(n) => write!(f, "link type {n}"),
        }
    }
}

/// What a captured packet holds, once the link-layer header is removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordPayload {
    /// An IPv4 or IPv6 packet (as captured: it may be cut short, see [`Record::original_len`]).
    Ip(Vec<u8>),
    /// A frame carrying another protocol (ARP, LLDP, ...): its EtherType, or for an IEEE 802.3
    /// frame without one, its length field (a value of at most 1500).
    NotIp {
        /// The EtherType after any VLAN tags.
        ethertype: u16,
    },
    /// A record of a link type this module does not take apart ([`Record::link_type`]), with
    /// its captured bytes.
    Unsupported(Vec<u8>),
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Position of the packet in the file, from 1 (as Wireshark's frame number). Records that
    /// could not be read count too.
    pub number: u64,
    /// When it was captured, since the Unix epoch.
    pub timestamp: Duration,
    /// Its length on the wire, link-layer header included, which may exceed what was captured.
    pub original_len: u32,
    /// The link type it was captured on.
    pub link_type: LinkType,
    /// The pcapng interface it was captured on (0 in a classic pcap file).
    pub interface: u32,
    /// What it holds.
    pub payload: RecordPayload,
}

impl Record {
    /// The IP packet, if the record holds one.
    pub fn ip(&self) -> Option<&[u8]> {
        match &self.payload {
            RecordPayload::Ip(packet) => Some(packet),
            _ => None,
        }
    }
}

/// Why a capture could not be read or written.
///
/// Errors about one record ([`PcapError::RecordTooLong`], [`PcapError::TruncatedRecord`],
/// [`PcapError::BadTimestamp`], [`PcapError::UnknownInterface`]) leave the [`Reader`] able to go
/// on with the next record; after any other error it yields nothing more
/// ([`PcapError::is_fatal`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum PcapError {
    /// Reading or writing failed, or the file ended in the middle of a header or record.
    Io(io::Error),
    /// The file's structure is invalid (as found by the `pcap-file` crate).
    Format(pcap_file::PcapError),
    /// The file starts with neither a pcap nor a pcapng magic number.
    NotACapture {
        /// The file's first four bytes.
        magic: [u8; 4],
    },
    /// A record's captured length exceeds [`MAX_RECORD_LEN`]; it was skipped, or not written.
    RecordTooLong {
        /// The record's number (0 when writing).
        number: u64,
        /// Its captured length.
        len: u64,
    },
    /// A record is shorter than its own header or link-layer header says.
    TruncatedRecord {
        /// The record's number.
        number: u64,
    },
    /// A record's timestamp cannot be represented (bad pcapng resolution or offset).
    BadTimestamp {
        /// The record's number.
        number: u64,
    },
    /// A pcapng packet refers to an interface the section has not described.
    UnknownInterface {
        /// The record's number.
        number: u64,
        /// The interface it names.
        interface: u32,
    },
    /// A pcapng section describes more than [`MAX_INTERFACES`] interfaces.
    TooManyInterfaces,
    /// The writer only writes `LINKTYPE_RAW`, `LINKTYPE_IPV4` and `LINKTYPE_IPV6`.
    UnsupportedLinkType(LinkType),
    /// A packet given to the writer is not an IP packet of the version its link type holds
    /// (`version` is the high nibble of its first byte, `None` if it is empty).
    WrongIpVersion {
        /// The writer's link type.
        link_type: LinkType,
        /// The packet's version field.
        version: Option<u8>,
    },
    /// A timestamp given to the writer is beyond the year 2106 (pcap holds 32-bit seconds).
    TimestampOutOfRange,
}

impl PcapError {
    /// Whether the reader stops after this error; otherwise only one record was lost.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            PcapError::RecordTooLong { .. }
                | PcapError::TruncatedRecord { .. }
                | PcapError::BadTimestamp { .. }
                | PcapError::UnknownInterface { .. }
        )
    }
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "capture I/O error: {e}"),
            PcapError::Format(e) => write!(f, "invalid capture file: {e}"),
            PcapError::NotACapture { magic } => {
                write!(f, "not a pcap or pcapng file (magic {magic:02x?})")
            }
            PcapError::RecordTooLong { number, len } => write!(
                f,
                "record {number}: captured length {len} exceeds {MAX_RECORD_LEN}"
            ),
            PcapError::TruncatedRecord { number } => write!(f, "record {number} is truncated"),
            PcapError::BadTimestamp { number } => {
                write!(f, "record {number}: timestamp cannot be represented")
            }
            PcapError::UnknownInterface { number, interface } => {
                write!(
                    f,
                    "record {number}: no interface {interface} in this section"
                )
            }
            PcapError::TooManyInterfaces => {
                write!(
                    f,
                    "more than {MAX_INTERFACES} interfaces in a pcapng section"
                )
            }
            PcapError::UnsupportedLinkType(t) => write!(f, "cannot write captures of {t}"),
            PcapError::WrongIpVersion { link_type, version } => match version {
                Some(v) => write!(f, "packet of IP version {v} does not belong in {link_type}"),
                None => write!(f, "empty packet does not belong in {link_type}"),
            },
            PcapError::TimestampOutOfRange => f.write_str("timestamp beyond pcap's 32-bit seconds"),
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            PcapError::Format(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

impl From<pcap_file::PcapError> for PcapError {
    fn from(e: pcap_file::PcapError) -> Self {
        match e {
            pcap_file::PcapError::IoError(e) => PcapError::Io(e),
            other => PcapError::Format(other),
        }
    }
}

/// The reader's input: the four bytes read to tell the formats apart, then the rest.
type Prefixed<R> = Chain<Cursor<[u8; 4]>, R>;

/// How a pcapng interface's timestamps are read (draft-ietf-opsawg-pcapng §4.2, `if_tsresol`
/// and `if_tsoffset`).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second; `None` if `if_tsresol` gives a resolution finer than
    /// `u64` can count.
    units_per_second: Option<u64>,
    /// Seconds to add to every timestamp (`if_tsoffset`, signed).
    offset: i64,
}

impl Interface {
    fn from_block(idb: &InterfaceDescriptionBlock<'_>) -> Self {
        // Without if_tsresol, timestamps count microseconds (§4.2).
        let mut units_per_second = Some(1_000_000);
        let mut offset = 0;
        for option in &idb.options {
            match option {
                // The most significant bit selects a power of 2, otherwise of 10 (§4.2).
                InterfaceDescriptionOption::IfTsResol(v) if v & 0x80 != 0 => {
                    units_per_second = 1u64.checked_shl(u32::from(v & 0x7F));
                }
                InterfaceDescriptionOption::IfTsResol(v) => {
                    units_per_second = 10u64.checked_pow(u32::from(*v));
                }
                InterfaceDescriptionOption::IfTsOffset(o) => offset = *o as i64,
                _ => {}
            }
        }
        Interface {
            link_type: LinkType::from_u32(u32::from(idb.linktype)),
            units_per_second,
            offset,
        }
    }

    fn timestamp(&self, units: u64) -> Option<Duration> {
        let per_second = self.units_per_second.filter(|&u| u != 0)?;
        let nanos = u128::from(units % per_second) * 1_000_000_000 / u128::from(per_second);
        let since = Duration::new(units / per_second, u32::try_from(nanos).ok()?);
        let offset = Duration::from_secs(self.offset.unsigned_abs());
        if self.offset >= 0 {
            since.checked_add(offset)
        } else {
            since.checked_sub(offset)
        }
    }
}

enum Format<R: Read> {
    Pcap {
        reader: PcapReader<Prefixed<R>>,
        link_type: LinkType,
        nanosecond: bool,
    },
    PcapNg {
        reader: PcapNgReader<Prefixed<R>>,
        interfaces: Vec<Interface>,
    },
}

/// Reads the records of a pcap or pcapng capture, one [`Record`] per captured packet.
///
/// An `Iterator<Item = Result<Record, PcapError>>`: it ends at the end of the file, or after
/// the first error for which [`PcapError::is_fatal`] holds (a truncated file, a broken block).
/// The records of a pcapng file with several interfaces or sections come in file order, each
/// with its own interface's link type and timestamp resolution.
pub struct Reader<R: Read = File> {
    format: Format<R>,
    /// Number of the last packet record seen.
    number: u64,
    done: bool,
}

impl<R: Read> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match &self.format {
            Format::Pcap { .. } => "pcap",
            Format::PcapNg { .. } => "pcapng",
        };
        f.debug_struct("Reader")
            .field("format", &format)
            .field("number", &self.number)
            .field("done", &self.done)
            .finish()
    }
}

impl Reader<File> {
    /// Opens the capture at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PcapError> {
        Reader::new(File::open(path)?)
    }
}

/// Opens the capture at `path` to replay its packets, for instance a fixture in a test:
/// the same as [`Reader::open`].
pub fn replay(path: impl AsRef<Path>) -> Result<Reader<File>, PcapError> {
    Reader::open(path)
}

impl<R: Read> Reader<R> {
    /// Reads the file header of the capture in `input` and tells pcap from pcapng by its magic
    /// number.
    pub fn new(mut input: R) -> Result<Self, PcapError> {
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic)?;
        let input = Cursor::new(magic).chain(input);
        let format = match u32::from_be_bytes(magic) {
            // Microsecond and nanosecond pcap, in either byte order.
            0xA1B2_C3D4 | 0xD4C3_B2A1 | 0xA1B2_3C4D | 0x4D3C_B2A1 => {
                let reader = PcapReader::new(input)?;
                let header = reader.header();
                Format::Pcap {
                    link_type: LinkType::from_u32(u32::from(header.datalink)),
                    nanosecond: header.ts_resolution == TsResolution::NanoSecond,
                    reader,
                }
            }
            block::SECTION_HEADER => Format::PcapNg {
                reader: PcapNgReader::new(input)?,
                interfaces: Vec::new(),
            },
            _ => return Err(PcapError::NotACapture { magic }),
        };
        Ok(Reader {
            format,
            number: 0,
            done: false,
        })
    }

    /// The link type of a classic pcap file; `None` for pcapng, where each interface has its own.
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.format {
            Format::Pcap { link_type, .. } => Some(*link_type),
            Format::PcapNg { .. } => None,
        }
    }

    fn next_record(&mut self) -> Option<Result<Record, PcapError>> {
        match &mut self.format {
            Format::Pcap {
                reader,
                link_type,
                nanosecond,
            } => {
                let packet = match reader.next_raw_packet()? {
                    Ok(packet) => packet,
                    Err(e) => return Some(Err(e.into())),
                };
                self.number += 1;
                let number = self.number;
                // Fractions out of range carry into the seconds, as most readers do.
                let frac = if *nanosecond {
                    u64::from(packet.ts_frac)
                } else {
                    u64::from(packet.ts_frac) * 1_000
                };
                let timestamp =
                    Duration::from_secs(u64::from(packet.ts_sec)) + Duration::from_nanos(frac);
                let captured = Captured {
                    number,
                    timestamp,
                    original_len: packet.orig_len,
                    interface: 0,
                    data: &packet.data,
                };
                Some(captured.into_record(*link_type))
            }
            Format::PcapNg { reader, interfaces } => {
                next_pcapng(reader, interfaces, &mut self.number)
            }
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_record();
        match &item {
            None => self.done = true,
            Some(Err(e)) if e.is_fatal() => self.done = true,
            _ => {}
        }
        item
    }
}

impl<R: Read> core::iter::FusedIterator for Reader<R> {}

/// A packet as found in the file, before its link-layer header is taken apart.
struct Captured<'a> {
    number: u64,
    timestamp: Duration,
    original_len: u32,
    interface: u32,
    data: &'a [u8],
}

impl Captured<'_> {
    fn into_record(self, link_type: LinkType) -> Result<Record, PcapError> {
        let number = self.number;
        if self.data.len() > MAX_RECORD_LEN as usize {
            return Err(PcapError::RecordTooLong {
                number,
                len: self.data.len() as u64,
            });
        }
        let payload =
            payload_of(link_type, self.data).ok_or(PcapError::TruncatedRecord { number })?;
        Ok(Record {
            number,
            timestamp: self.timestamp,
            original_len: self.original_len,
            link_type,
            interface: self.interface,
            payload,
        })
    }
}

/// Reads pcapng blocks up to the next packet, keeping track of sections and interfaces.
fn next_pcapng<R: Read>(
    reader: &mut PcapNgReader<Prefixed<R>>,
    interfaces: &mut Vec<Interface>,
    number: &mut u64,
) -> Option<Result<Record, PcapError>> {
    // Each pass consumes one block of at least 12 bytes: the loop ends with the input.
    loop {
        let endianness = reader.section().endianness;
        let block = match reader.next_raw_block()? {
            Ok(block) => block,
            Err(e) => return Some(Err(e.into())),
        };
        let body: &[u8] = &block.body;
        let field = |offset: usize| read_u32(body, offset, endianness);
        let (interface, ticks, caplen, original_len, data_at) = match block.type_ {
            block::SECTION_HEADER => {
                // A new section describes its interfaces afresh (§4.1).
                interfaces.clear();
                continue;
            }
            block::INTERFACE_DESCRIPTION => {
                if interfaces.len() >= MAX_INTERFACES {
                    return Some(Err(PcapError::TooManyInterfaces));
                }
                if let Some(idb) = reader.interfaces().last() {
                    interfaces.push(Interface::from_block(idb));
                }
                continue;
            }
            // Enhanced Packet Block (§4.3): interface, timestamp high and low, captured and
            // original length, data.
            block::ENHANCED_PACKET => {
                *number += 1;
                let (Some(interface), Some(high), Some(low), Some(caplen), Some(orig)) =
                    (field(0), field(4), field(8), field(12), field(16))
                else {
                    return Some(Err(PcapError::TruncatedRecord { number: *number }));
                };
                let ticks = u64::from(high) << 32 | u64::from(low);
                (interface, Some(ticks), caplen, orig, 20)
            }
            // Obsolete Packet Block (appendix): 16-bit interface and drop count, then as EPB.
            block::PACKET => {
                *number += 1;
                let (Some(first), Some(high), Some(low), Some(caplen), Some(orig)) =
                    (field(0), field(4), field(8), field(12), field(16))
                else {
                    return Some(Err(PcapError::TruncatedRecord { number: *number }));
                };
                let interface = match endianness {
                    Endianness::Big => first >> 16,
                    Endianness::Little => first & 0xFFFF,
                };
                let ticks = u64::from(high) << 32 | u64::from(low);
                (interface, Some(ticks), caplen, orig, 20)
            }
            // Simple Packet Block (§4.4): original length, then data (captured up to the
            // interface's snaplen, padded to 32 bits); no timestamp; interface 0.
            block::SIMPLE_PACKET => {
                *number += 1;
                let Some(orig) = field(0) else {
                    return Some(Err(PcapError::TruncatedRecord { number: *number }));
                };
                let available = body.len().saturating_sub(4);
                let caplen = u32::try_from(available).unwrap_or(u32::MAX).min(orig);
                (0, None, caplen, orig, 4)
            }
            _ => continue,
        };
        let number = *number;
        if caplen > MAX_RECORD_LEN {
            return Some(Err(PcapError::RecordTooLong {
                number,
                len: u64::from(caplen),
            }));
        }
        let Some(data) = body.get(data_at..data_at + caplen as usize) else {
            return Some(Err(PcapError::TruncatedRecord { number }));
        };
        let Some(described) = interfaces.get(interface as usize) else {
            return Some(Err(PcapError::UnknownInterface { number, interface }));
        };
        let timestamp = match ticks {
            None => Duration::ZERO,
            Some(ticks) => match described.timestamp(ticks) {
                Some(t) => t,
                None => return Some(Err(PcapError::BadTimestamp { number })),
            },
        };
        let captured = Captured {
            number,
            timestamp,
            original_len,
            interface,
            data,
        };
        return Some(captured.into_record(described.link_type));
    }
}

fn read_u32(bytes: &[u8], offset: usize, endianness: Endianness) -> Option<u32> {
    let field: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
    Some(match endianness {
        Endianness::Big => u32::from_be_bytes(field),
        Endianness::Little => u32::from_le_bytes(field),
    })
}

fn be_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    let field: [u8; 2] = bytes.get(offset..offset + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(field))
}

/// Takes the link-layer header off `data`; `None` if it is cut short.
fn payload_of(link_type: LinkType, data: &[u8]) -> Option<RecordPayload> {
    match link_type {
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Some(RecordPayload::Ip(data.to_vec())),
        // Destination and source address, then the EtherType (IEEE 802.3 §3.2.6).
        LinkType::Ethernet => by_ethertype(be_u16(data, 12)?, data.get(14..)?),
        // Packet type, ARPHRD type, address length, 8 address bytes, protocol.
        LinkType::LinuxSll => by_ethertype(be_u16(data, 14)?, data.get(16..)?),
        // Protocol, reserved, interface index, ARPHRD type, packet type, address length and
        // 8 address bytes: 20 bytes.
        LinkType::LinuxSll2 => by_ethertype(be_u16(data, 0)?, data.get(20..)?),
        LinkType::Other(_) => Some(RecordPayload::Unsupported(data.to_vec())),
    }
}

/// Classifies what follows an EtherType, removing VLAN tags (each a 2-byte tag control field
/// and the next EtherType, IEEE 802.1Q §9.6) and Ethernet padding.
fn by_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<RecordPayload> {
    for _ in 0..MAX_VLAN_TAGS {
        if !matches!(
            ethertype,
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD
        ) {
            break;
        }
        ethertype = be_u16(rest, 2)?;
        rest = rest.get(4..)?;
    }
    match ethertype {
        ethertype::IPV4 | ethertype::IPV6 => {
            Some(RecordPayload::Ip(without_padding(rest).to_vec()))
        }
        ethertype => Some(RecordPayload::NotIp { ethertype }),
    }
}

/// Drops bytes after the end of the IP packet given by its header: Ethernet pads frames to
/// 60 bytes, and some captures include the frame check sequence.
fn without_padding(packet: &[u8]) -> &[u8] {
    let end = match packet.first().map(|b| b >> 4) {
        // IPv4 Total Length, header included (RFC 791 §3.1).
        Some(4) => be_u16(packet, 2).map(usize::from).filter(|&n| n >= 20),
        // IPv6 Payload Length, after the 40-byte header; 0 for a jumbogram (RFC 8200 §3,
        // RFC 2675 §2), whose length this cannot tell.
        Some(6) => be_u16(packet, 4)
            .filter(|&n| n != 0)
            .map(|n| 40 + usize::from(n)),
        _ => None,
    };
    match end {
        Some(end) => packet.get(..end).unwrap_or(packet),
        None => packet,
    }
}

/// Writes a classic pcap capture (little-endian) of bare IP packets.
///
/// The file header declares [`MAX_RECORD_LEN`] as its snapshot length; every packet is
/// written whole (captured length = original length).
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    link_type: LinkType,
    nanosecond: bool,
}

impl Writer<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes a microsecond pcap header.
    pub fn create(path: impl AsRef<Path>, link_type: LinkType) -> Result<Self, PcapError> {
        Writer::new(BufWriter::new(File::create(path)?), link_type)
    }
}

impl<W: Write> Writer<W> {
    /// Writes the header of a capture with microsecond timestamps to `out`. `link_type` must be
    /// [`LinkType::Raw`], [`LinkType::Ipv6`] or [`LinkType::Ipv4`].
    pub fn new(out: W, link_type: LinkType) -> Result<Self, PcapError> {
        Writer::with_resolution(out, link_type, false)
    }

    /// Like [`Writer::new`], with nanosecond timestamps (magic `0xA1B23C4D`), which keep a
    /// simulated clock's times exactly. Older tools read only microsecond files.
    pub fn with_nanosecond_timestamps(out: W, link_type: LinkType) -> Result<Self, PcapError> {
        Writer::with_resolution(out, link_type, true)
    }

    fn with_resolution(
        mut out: W,
        link_type: LinkType,
        nanosecond: bool,
    ) -> Result<Self, PcapError> {
        if !matches!(link_type, LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6) {
            return Err(PcapError::UnsupportedLinkType(link_type));
        }
        let header = PcapHeader {
            snaplen: MAX_RECORD_LEN,
            datalink: DataLink::from(link_type.to_u32()),
            endianness: Endianness::Little,
            ts_resolution: if nanosecond {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            ..Default::default()
        };
        header.write_to(&mut out)?;
        Ok(Writer {
            out,
            link_type,
            nanosecond,
        })
    }

    /// The link type this writer declared.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// Appends one packet captured at `timestamp` (since the Unix epoch; microsecond files drop
    /// the sub-microsecond part).
    ///
    /// The packet's version field must match the link type (4 or 6 for `LINKTYPE_RAW`), so
    /// that a frame with a link-layer header cannot slip into a capture of bare IP.
    pub fn write(&mut self, timestamp: Duration, packet: &[u8]) -> Result<(), PcapError> {
        let version = packet.first().map(|b| b >> 4);
        let fits = match self.link_type {
            LinkType::Ipv4 => version == Some(4),
            LinkType::Ipv6 => version == Some(6),
            _ => matches!(version, Some(4 | 6)),
        };
        if !fits {
            return Err(PcapError::WrongIpVersion {
                link_type: self.link_type,
                version,
            });
        }
        let len = u32::try_from(packet.len())
            .ok()
            .filter(|&n| n <= MAX_RECORD_LEN)
            .ok_or(PcapError::RecordTooLong {
                number: 0,
                len: packet.len() as u64,
            })?;
        let seconds =
            u32::try_from(timestamp.as_secs()).map_err(|_| PcapError::TimestampOutOfRange)?;
        let fraction = if self.nanosecond {
            timestamp.subsec_nanos()
        } else {
            timestamp.subsec_micros()
        };
        // Record header (draft-ietf-opsawg-pcap §5): seconds, fraction, captured length,
        // original length, in the byte order of the file header.
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&seconds.to_le_bytes());
        header[4..8].copy_from_slice(&fraction.to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(packet)?;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        Ok(self.out.flush()?)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn ethernet_ipv4_padding_removed() {
        let frame = [
            0x02, 0, 0, 0, 0, 0x01,       // destination
            0x02, 0, 0, 0, 0, 0x02,       // source
            0x08, 0x00,                   // EtherType IPv4
            0x45, 0x00, 0x00, 0x14,       // version 4, IHL 5, total length 20
            0, 0, 0, 0, 64, 17, 0, 0,     // id, flags, TTL, protocol, checksum (not checked)
            192, 0, 2, 1, 192, 0, 2, 2,   // addresses
            0, 0, 0, 0, 0, 0,             // padding to 46 bytes of payload (part of it)
        ];
        let payload = payload_of(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(payload, RecordPayload::Ip(frame[14..34].to_vec()));
    }

    #[rustfmt::skip]
    #[test]
    fn double_tagged_ipv6() {
        let frame = [
            0x33, 0x33, 0, 0, 0, 0x01,    // destination
            0x02, 0, 0, 0, 0, 0x02,       // source
            0x88, 0xA8, 0x00, 0x64,       // 802.1ad S-tag, VLAN 100
            0x81, 0x00, 0x00, 0x0A,       // 802.1Q C-tag, VLAN 10
            0x86, 0xDD,                   // EtherType IPv6
            0x60, 0, 0, 0,                // version 6
            0x00, 0x00, 59, 64,           // payload length 0 (jumbogram form: kept whole), no next header
        ];
        let payload = payload_of(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(payload, RecordPayload::Ip(frame[22..].to_vec()));
    }

    #[rustfmt::skip]
    #[test]
    fn arp_and_truncated() {
        let frame = [
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // broadcast
            0x02, 0, 0, 0, 0, 0x02,             // source
            0x08, 0x06,                         // EtherType ARP
            0x00, 0x01,                         // hardware type (rest omitted)
        ];
        assert_eq!(payload_of(LinkType::Ethernet, &frame),
                   Some(RecordPayload::NotIp { ethertype: 0x0806 }));
        // 13 bytes: the EtherType is cut.
        assert_eq!(payload_of(LinkType::Ethernet, &frame[..13]), None);
        // A VLAN tag cut in the middle.
        let tagged = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0x00, 0x0A, 0x86];
        assert_eq!(payload_of(LinkType::Ethernet, &tagged), None);
    }

    #[rustfmt::skip]
    #[test]
    fn linux_cooked_headers() {
        let sll = [
            0x00, 0x04,                   // packet type: sent by us
            0xFF, 0xFE,                   // ARPHRD_NONE (a TUN device)
            0x00, 0x00,                   // address length 0
            0, 0, 0, 0, 0, 0, 0, 0,       // address (unused)
            0x86, 0xDD,                   // protocol IPv6
            0x60, 0, 0, 0, 0, 0, 59, 64,  // IPv6 header start
        ];
        assert_eq!(payload_of(LinkType::LinuxSll, &sll),
                   Some(RecordPayload::Ip(sll[16..].to_vec())));
        let sll2 = [
            0x08, 0x00,                   // protocol IPv4
            0x00, 0x00,                   // reserved
            0x00, 0x00, 0x00, 0x03,       // interface index 3
            0xFF, 0xFE,                   // ARPHRD_NONE
            0x00,                         // packet type: to us
            0x00,                         // address length 0
            0, 0, 0, 0, 0, 0, 0, 0,       // address (unused)
            0x45, 0, 0, 20,               // IPv4 start
        ];
        assert_eq!(payload_of(LinkType::LinuxSll2, &sll2),
                   Some(RecordPayload::Ip(sll2[20..].to_vec())));
        assert_eq!(payload_of(LinkType::LinuxSll2, &sll2[..19]), None);
    }

    #[test]
    fn link_type_numbers() {
        for n in [0, 1, 101, 113, 228, 229, 276, 12345] {
            assert_eq!(LinkType::from_u32(n).to_u32(), n);
        }
        assert_eq!(LinkType::from(101), LinkType::Raw);
        assert_eq!(LinkType::from_u32(1_000), LinkType::Other(1_000));
    }

    #[test]
    fn interface_timestamps() {
        let micro = Interface {
            link_type: LinkType::Raw,
            units_per_second: Some(1_000_000),
            offset: 0,
        };
        assert_eq!(
            micro.timestamp(1_500_000),
            Some(Duration::from_millis(1_500))
        );
        let binary = Interface {
            units_per_second: Some(1 << 10),
            offset: -1,
            ..micro
        };
        assert_eq!(
            binary.timestamp(3 * 1024 + 512),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(binary.timestamp(0), None, "before the epoch");
        let bad = Interface {
            units_per_second: None,
            ..micro
        };
        assert_eq!(bad.timestamp(1), None);
    }
}
