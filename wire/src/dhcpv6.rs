//! DHCPv6 messages for prefix delegation on a point-to-point link (RFC 8415, the IA_PD subset).
//!
//! A client/server message (RFC 8415 §8) is a one-octet message type, a three-octet
//! transaction ID and options:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    msg-type   |               transaction-id                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! .                            options                            .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Every option (RFC 8415 §21.1) is a code, a length counting the octets of data after it,
//! and the data; IA_NA, IA_PD and IA Prefix carry further options inside their data:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          option-code          |           option-len          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! .                  option-data (option-len octets)              .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`OptionsIter`] walks options lazily: nested options are read only within their parent's
//! data, an option running past its parent is [`Error::Truncated`], a length impossible for
//! the option's code is [`Error::Malformed`], and every step consumes at least four octets.
//! [`MessageRepr`] holds what prefix delegation needs; its `parse` fills storage the caller
//! provides. Relay messages (RELAY-FORW, RELAY-REPL, §9) have another header and are not
//! parsed here: a point-to-point link has no relay.

use core::net::Ipv6Addr;

use crate::{Error, Result};

/// The UDP port clients listen on (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// The UDP port servers and relay agents listen on (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers, ff02::1:2 (RFC 8415 §7.1): where a client sends.
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// Octets of the client/server message header (RFC 8415 §8).
pub const HEADER_LEN: usize = 4;
/// Octets of an option header (RFC 8415 §21.1).
pub const OPTION_HEADER_LEN: usize = 4;
/// The shortest DUID: its two-octet type (RFC 8415 §11.1).
pub const MIN_DUID_LEN: usize = 2;
/// The longest DUID: the type and at most 128 octets (RFC 8415 §11.1).
pub const MAX_DUID_LEN: usize = 130;
/// The largest transaction ID, which is three octets (RFC 8415 §8).
pub const MAX_TRANSACTION_ID: u32 = 0x00ff_ffff;

mod field {
    use core::ops::Range;
    // Message header (RFC 8415 §8): | msg-type | transaction-id (3) | options |
    pub const MSG_TYPE: usize = 0;
    pub const TRANSACTION_ID: Range<usize> = 1..4;
    pub const OPTIONS: usize = 4;
    // Option header (§21.1): | option-code (2) | option-len (2) | option-data |
    pub const OPTION_CODE: Range<usize> = 0..2;
    pub const OPTION_LEN: Range<usize> = 2..4;
    pub const OPTION_DATA: usize = 4;
    // IA_NA (§21.4) and IA_PD (§21.21) data: | IAID (4) | T1 (4) | T2 (4) | options |
    pub const IA_IAID: Range<usize> = 0..4;
    pub const IA_T1: Range<usize> = 4..8;
    pub const IA_T2: Range<usize> = 8..12;
    pub const IA_OPTIONS: usize = 12;
    // IA Prefix data (§21.22):
    // | preferred-lifetime (4) | valid-lifetime (4) | prefix-length | prefix (16) | options |
    pub const IAP_PREFERRED: Range<usize> = 0..4;
    pub const IAP_VALID: Range<usize> = 4..8;
    pub const IAP_PREFIX_LEN: usize = 8;
    pub const IAP_PREFIX: Range<usize> = 9..25;
    pub const IAP_OPTIONS: usize = 25;
    // Status Code data (§21.13): | status-code (2) | status-message (UTF-8) |
    pub const STATUS_CODE: Range<usize> = 0..2;
    pub const STATUS_MESSAGE: usize = 2;
}

/// Option codes (RFC 8415 §21, IANA "DHCPv6 Option Codes").
pub mod option_code {
    /// Client Identifier (§21.2).
    pub const CLIENTID: u16 = 1;
    /// Server Identifier (§21.3).
    pub const SERVERID: u16 = 2;
    /// Identity Association for Non-temporary Addresses (§21.4).
    pub const IA_NA: u16 = 3;
    /// Option Request (§21.7).
    pub const ORO: u16 = 6;
    /// Preference (§21.8).
    pub const PREFERENCE: u16 = 7;
    /// Elapsed Time (§21.9).
    pub const ELAPSED_TIME: u16 = 8;
    /// Status Code (§21.13).
    pub const STATUS_CODE: u16 = 13;
    /// Rapid Commit (§21.14).
    pub const RAPID_COMMIT: u16 = 14;
    /// Identity Association for Prefix Delegation (§21.21).
    pub const IA_PD: u16 = 25;
    /// IA Prefix (§21.22).
    pub const IA_PREFIX: u16 = 26;
}

/// Status codes (RFC 8415 §21.13).
pub mod status_code {
    /// Success.
    pub const SUCCESS: u16 = 0;
    /// Failure, reason unspecified.
    pub const UNSPEC_FAIL: u16 = 1;
    /// The server has no addresses available to assign to the IA(s).
    pub const NO_ADDRS_AVAIL: u16 = 2;
    /// Client record (binding) unavailable.
    pub const NO_BINDING: u16 = 3;
    /// The prefix is not appropriate for the link.
    pub const NOT_ON_LINK: u16 = 4;
    /// The client must use the multicast address.
    pub const USE_MULTICAST: u16 = 5;
    /// The server has no prefixes available to delegate to the IA_PD(s).
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// A DHCPv6 message type (RFC 8415 §7.3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $($(#[$doc])* $name,)*
            /// Any other value.
            Unknown(u8),
        }

        impl From<u8> for MessageType {
            fn from(value: u8) -> MessageType {
                match value {
                    $($value => MessageType::$name,)*
                    other => MessageType::Unknown(other),
                }
            }
        }

        impl From<MessageType> for u8 {
            fn from(value: MessageType) -> u8 {
                match value {
                    $(MessageType::$name => $value,)*
                    MessageType::Unknown(other) => other,
                }
            }
        }
    };
}

message_types! {
    /// SOLICIT (1).
    Solicit = 1,
    /// ADVERTISE (2).
    Advertise = 2,
    /// REQUEST (3).
    Request = 3,
    /// CONFIRM (4).
    Confirm = 4,
    /// RENEW (5).
    Renew = 5,
    /// REBIND (6).
    Rebind = 6,
    /// REPLY (7).
    Reply = 7,
    /// RELEASE (8).
    Release = 8,
    /// DECLINE (9).
    Decline = 9,
    /// RECONFIGURE (10).
    Reconfigure = 10,
    /// INFORMATION-REQUEST (11).
    InformationRequest = 11,
    /// RELAY-FORW (12).
    RelayForw = 12,
    /// RELAY-REPL (13).
    RelayRepl = 13,
}

impl MessageType {
    /// Whether this is RELAY-FORW or RELAY-REPL, whose header (RFC 8415 §9) this module
    /// does not read.
    pub fn is_relay(self) -> bool {
        matches!(self, MessageType::RelayForw | MessageType::RelayRepl)
    }
}

fn be16(bytes: &[u8], range: core::ops::Range<usize>) -> u16 {
    bytes
        .get(range)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_be_bytes)
}

fn be32(bytes: &[u8], range: core::ops::Range<usize>) -> u32 {
    bytes
        .get(range)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

/// A read/write view of a client/server message (RFC 8415 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors then read missing fields as zero.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len); a relay message (§9) is
    /// [`Error::Unsupported`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        if packet.msg_type().is_relay() {
            return Err(Error::Unsupported);
        }
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the four-octet header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type.
    pub fn msg_type(&self) -> MessageType {
        MessageType::from(
            self.buffer
                .as_ref()
                .get(field::MSG_TYPE)
                .copied()
                .unwrap_or(0),
        )
    }

    /// The 24-bit transaction ID.
    pub fn transaction_id(&self) -> u32 {
        match self.buffer.as_ref().get(field::TRANSACTION_ID) {
            Some(&[a, b, c]) => u32::from_be_bytes([0, a, b, c]),
            _ => 0,
        }
    }

    /// The octets after the header.
    pub fn options_bytes(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }

    /// The options after the header, in order.
    pub fn options(&self) -> OptionsIter<'_> {
        OptionsIter::new(self.options_bytes())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type; does nothing on a buffer too short for it.
    pub fn set_msg_type(&mut self, value: MessageType) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::MSG_TYPE) {
            *b = value.into();
        }
    }

    /// Sets the transaction ID from its low 24 bits; does nothing on a short buffer.
    pub fn set_transaction_id(&mut self, value: u32) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::TRANSACTION_ID) {
            b.copy_from_slice(&value.to_be_bytes()[1..]);
        }
    }

    /// The octets after the header, writable.
    pub fn options_bytes_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::OPTIONS..)
            .unwrap_or(&mut [])
    }
}

/// An IA_NA (RFC 8415 §21.4) or IA_PD (§21.21): the IAID, T1, T2 and nested options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityAssociation<'a> {
    /// The identity association's ID, unique among the client's IAs of its type.
    pub iaid: u32,
    /// Seconds until the client contacts the delegating server to extend lifetimes.
    pub t1: u32,
    /// Seconds until the client contacts any server to extend lifetimes.
    pub t2: u32,
    /// The options inside, read within this option's data only.
    pub options: OptionsIter<'a>,
}

/// An IA Prefix option (RFC 8415 §21.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPrefix<'a> {
    /// Preferred lifetime, seconds.
    pub preferred_lifetime: u32,
    /// Valid lifetime, seconds.
    pub valid_lifetime: u32,
    /// Length of the prefix in bits, at most 128.
    pub prefix_len: u8,
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// The options inside, read within this option's data only.
    pub options: OptionsIter<'a>,
}

/// The option codes an Option Request option lists (RFC 8415 §21.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionCodes<'a> {
    bytes: &'a [u8],
}

impl<'a> OptionCodes<'a> {
    /// The raw list, two octets per code.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl Iterator for OptionCodes<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let (code, rest) = self.bytes.split_first_chunk::<2>()?;
        self.bytes = rest;
        Some(u16::from_be_bytes(*code))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bytes.len() / 2;
        (n, Some(n))
    }
}

impl ExactSizeIterator for OptionCodes<'_> {}

/// A Status Code option (RFC 8415 §21.13), read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRepr<'a> {
    /// The status (see [`status_code`]).
    pub code: u16,
    /// The message for humans, UTF-8 and not NUL-terminated (§21.13); not checked on parse.
    pub message: &'a [u8],
}

impl<'a> StatusRepr<'a> {
    /// The message as text, if it is valid UTF-8.
    pub fn message_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.message).ok()
    }

    fn data_len(&self) -> usize {
        field::STATUS_MESSAGE + self.message.len()
    }
}

/// One DHCPv6 option, as [`OptionsIter`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpOption<'a> {
    /// Client Identifier (§21.2): the client's DUID.
    ClientId(&'a [u8]),
    /// Server Identifier (§21.3): the server's DUID.
    ServerId(&'a [u8]),
    /// IA_NA (§21.4), recognised but not otherwise used for prefix delegation.
    IaNa(IdentityAssociation<'a>),
    /// Option Request (§21.7).
    Oro(OptionCodes<'a>),
    /// Preference (§21.8).
    Preference(u8),
    /// Elapsed Time (§21.9), hundredths of a second.
    ElapsedTime(u16),
    /// Status Code (§21.13).
    StatusCode(StatusRepr<'a>),
    /// Rapid Commit (§21.14).
    RapidCommit,
    /// IA_PD (§21.21).
    IaPd(IdentityAssociation<'a>),
    /// IA Prefix (§21.22).
    IaPrefix(IaPrefix<'a>),
    /// Any other option.
    Unknown {
        /// The option code.
        code: u16,
        /// The option data.
        data: &'a [u8],
    },
}

impl<'a> DhcpOption<'a> {
    /// Reads the option with `code` from its `data`: [`Error::Malformed`] if the length is
    /// impossible for the code.
    pub fn parse(code: u16, data: &'a [u8]) -> Result<DhcpOption<'a>> {
        use option_code::*;
        let option = match code {
            // §11.1: a DUID is a two-octet type and at most 128 octets more.
            CLIENTID | SERVERID => {
                if !(MIN_DUID_LEN..=MAX_DUID_LEN).contains(&data.len()) {
                    return Err(Error::Malformed);
                }
                if code == CLIENTID {
                    DhcpOption::ClientId(data)
                } else {
                    DhcpOption::ServerId(data)
                }
            }
            // §21.4 and §21.21: IAID, T1 and T2 take 12 octets before any options.
            IA_NA | IA_PD => {
                let options = data.get(field::IA_OPTIONS..).ok_or(Error::Malformed)?;
                let ia = IdentityAssociation {
                    iaid: be32(data, field::IA_IAID),
                    t1: be32(data, field::IA_T1),
                    t2: be32(data, field::IA_T2),
                    options: OptionsIter::new(options),
                };
                if code == IA_NA {
                    DhcpOption::IaNa(ia)
                } else {
                    DhcpOption::IaPd(ia)
                }
            }
            // §21.7: a list of two-octet codes.
            ORO if data.len().is_multiple_of(2) => DhcpOption::Oro(OptionCodes { bytes: data }),
            // §21.8: one octet.
            PREFERENCE => match data {
                &[value] => DhcpOption::Preference(value),
                _ => return Err(Error::Malformed),
            },
            // §21.9: two octets.
            ELAPSED_TIME => match data {
                &[a, b] => DhcpOption::ElapsedTime(u16::from_be_bytes([a, b])),
                _ => return Err(Error::Malformed),
            },
            // §21.13: two octets of code, then the message.
            STATUS_CODE => {
                let message = data.get(field::STATUS_MESSAGE..).ok_or(Error::Malformed)?;
                DhcpOption::StatusCode(StatusRepr {
                    code: be16(data, field::STATUS_CODE),
                    message,
                })
            }
            // §21.14: no data.
            RAPID_COMMIT if data.is_empty() => DhcpOption::RapidCommit,
            // §21.22: 25 octets before any options; a prefix is at most 128 bits.
            IA_PREFIX => {
                let options = data.get(field::IAP_OPTIONS..).ok_or(Error::Malformed)?;
                let prefix_len = data
                    .get(field::IAP_PREFIX_LEN)
                    .copied()
                    .ok_or(Error::Malformed)?;
                if prefix_len > 128 {
                    return Err(Error::Malformed);
                }
                let prefix: [u8; 16] = data
                    .get(field::IAP_PREFIX)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(Error::Malformed)?;
                DhcpOption::IaPrefix(IaPrefix {
                    preferred_lifetime: be32(data, field::IAP_PREFERRED),
                    valid_lifetime: be32(data, field::IAP_VALID),
                    prefix_len,
                    prefix: Ipv6Addr::from(prefix),
                    options: OptionsIter::new(options),
                })
            }
            ORO | RAPID_COMMIT => return Err(Error::Malformed),
            code => DhcpOption::Unknown { code, data },
        };
        Ok(option)
    }
}

/// The options in a message or in one option's data (RFC 8415 §21.1), in order.
///
/// Yields `Err` once on the first bad option and then stops: [`Error::Truncated`] if an
/// option header or data runs past the end, [`Error::Malformed`] from
/// [`DhcpOption::parse`]. Each step consumes at least four octets, so iteration is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsIter<'a> {
    bytes: &'a [u8],
    failed: bool,
}

impl<'a> OptionsIter<'a> {
    /// Iterates over the options in `bytes`.
    pub fn new(bytes: &'a [u8]) -> OptionsIter<'a> {
        OptionsIter {
            bytes,
            failed: false,
        }
    }

    /// The octets not yet read.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<DhcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.bytes.is_empty() {
            return None;
        }
        let result = (|| {
            let header = self
                .bytes
                .get(..OPTION_HEADER_LEN)
                .ok_or(Error::Truncated)?;
            let code = be16(header, field::OPTION_CODE);
            let len = usize::from(be16(header, field::OPTION_LEN));
            let end = field::OPTION_DATA + len;
            let data = self
                .bytes
                .get(field::OPTION_DATA..end)
                .ok_or(Error::Truncated)?;
            self.bytes = self.bytes.get(end..).unwrap_or(&[]);
            DhcpOption::parse(code, data)
        })();
        if result.is_err() {
            self.failed = true;
            self.bytes = &[];
        }
        Some(result)
    }
}

impl core::iter::FusedIterator for OptionsIter<'_> {}

/// An IA Prefix to emit or as parsed (RFC 8415 §21.22).
///
/// RFC 8415 §21.22 has the client discard a prefix whose preferred lifetime exceeds its
/// valid lifetime; that is for the client to judge, so both are kept as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IaPrefixRepr<'a> {
    /// Preferred lifetime, seconds.
    pub preferred_lifetime: u32,
    /// Valid lifetime, seconds.
    pub valid_lifetime: u32,
    /// Prefix length in bits, at most 128.
    pub prefix_len: u8,
    /// The prefix (in a Solicit, a hint; may be `::` with only a length).
    pub prefix: Ipv6Addr,
    /// A Status Code inside the IA Prefix, if any.
    pub status: Option<StatusRepr<'a>>,
}

impl Default for IaPrefixRepr<'_> {
    fn default() -> Self {
        IaPrefixRepr {
            preferred_lifetime: 0,
            valid_lifetime: 0,
            prefix_len: 0,
            prefix: Ipv6Addr::UNSPECIFIED,
            status: None,
        }
    }
}

impl<'a> IaPrefixRepr<'a> {
    /// Takes the fields and Status Code of a parsed IA Prefix; other options inside are
    /// skipped. [`Error::Malformed`] on a second Status Code; errors of nested options.
    pub fn parse(prefix: &IaPrefix<'a>) -> Result<IaPrefixRepr<'a>> {
        let mut status = None;
        for option in prefix.options.clone() {
            if let DhcpOption::StatusCode(s) = option? {
                set_once(&mut status, s)?;
            }
        }
        Ok(IaPrefixRepr {
            preferred_lifetime: prefix.preferred_lifetime,
            valid_lifetime: prefix.valid_lifetime,
            prefix_len: prefix.prefix_len,
            prefix: prefix.prefix,
            status,
        })
    }

    fn data_len(&self) -> usize {
        field::IAP_OPTIONS + status_len(&self.status)
    }
}

/// An IA_PD to emit or as parsed (RFC 8415 §21.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IaPdRepr<'a> {
    /// The IAID.
    pub iaid: u32,
    /// T1, seconds.
    pub t1: u32,
    /// T2, seconds.
    pub t2: u32,
    /// The IA Prefix options inside, in order.
    pub prefixes: &'a [IaPrefixRepr<'a>],
    /// A Status Code inside the IA_PD, if any.
    pub status: Option<StatusRepr<'a>>,
}

impl IaPdRepr<'_> {
    fn data_len(&self) -> usize {
        field::IA_OPTIONS
            + self
                .prefixes
                .iter()
                .map(|p| OPTION_HEADER_LEN + p.data_len())
                .sum::<usize>()
            + status_len(&self.status)
    }
}

fn status_len(status: &Option<StatusRepr<'_>>) -> usize {
    status.map_or(0, |s| OPTION_HEADER_LEN + s.data_len())
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::Malformed);
    }
    *slot = Some(value);
    Ok(())
}

/// A client/server message as prefix delegation uses it (RFC 8415 §8, §18).
///
/// [`emit`](Self::emit) writes the options in the order the fields are listed; `parse` takes
/// them in any order and skips IA_NA, IA Prefix outside an IA_PD and unknown options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageRepr<'a> {
    /// The message type; not a relay type.
    pub msg_type: MessageType,
    /// The transaction ID, at most [`MAX_TRANSACTION_ID`].
    pub transaction_id: u32,
    /// The Client Identifier's DUID.
    pub client_id: Option<&'a [u8]>,
    /// The Server Identifier's DUID.
    pub server_id: Option<&'a [u8]>,
    /// Elapsed Time, hundredths of a second; §21.9 has a client send it in every message.
    pub elapsed_time: Option<u16>,
    /// The option codes of an Option Request option; empty for none.
    pub requested_options: &'a [u16],
    /// The server's Preference.
    pub preference: Option<u8>,
    /// Whether Rapid Commit is present (§18.2.1 / §18.3.1: two-message exchange).
    pub rapid_commit: bool,
    /// A top-level Status Code.
    pub status: Option<StatusRepr<'a>>,
    /// The IA_PD options, in order.
    pub ia_pd: &'a [IaPdRepr<'a>],
}

impl<'a> MessageRepr<'a> {
    /// Reads a message into caller-provided storage: one slot in `ia_pd` per IA_PD, one in
    /// `prefixes` per IA Prefix of all of them, and one in `requested_options` per ORO code
    /// ([`Error::BufferTooSmall`] if any runs short).
    ///
    /// [`Error::Unsupported`] for relay messages; errors of any option visited;
    /// [`Error::Malformed`] if an option that may occur once (§21: Client and Server
    /// Identifier, Elapsed Time, ORO, Preference, Rapid Commit, Status Code) repeats.
    pub fn parse<'b: 'a, T: AsRef<[u8]>>(
        packet: &'b Packet<T>,
        ia_pd: &'a mut [IaPdRepr<'b>],
        prefixes: &'b mut [IaPrefixRepr<'b>],
        requested_options: &'b mut [u16],
    ) -> Result<MessageRepr<'a>> {
        packet.check_len()?;
        let msg_type = packet.msg_type();
        if msg_type.is_relay() {
            return Err(Error::Unsupported);
        }
        let mut client_id = None;
        let mut server_id = None;
        let mut elapsed_time = None;
        let mut oro: Option<&'b [u16]> = None;
        let mut preference = None;
        let mut rapid_commit = None;
        let mut status = None;
        let mut ia_pd_count = 0;
        let mut free_prefixes = prefixes;
        let mut free_codes = requested_options;
        for option in packet.options() {
            match option? {
                DhcpOption::ClientId(duid) => set_once(&mut client_id, duid)?,
                DhcpOption::ServerId(duid) => set_once(&mut server_id, duid)?,
                DhcpOption::ElapsedTime(t) => set_once(&mut elapsed_time, t)?,
                DhcpOption::Preference(p) => set_once(&mut preference, p)?,
                DhcpOption::RapidCommit => set_once(&mut rapid_commit, ())?,
                DhcpOption::StatusCode(s) => set_once(&mut status, s)?,
                DhcpOption::Oro(codes) => {
                    if oro.is_some() {
                        return Err(Error::Malformed);
                    }
                    if codes.len() > free_codes.len() {
                        return Err(Error::BufferTooSmall);
                    }
                    let (used, rest) = core::mem::take(&mut free_codes).split_at_mut(codes.len());
                    for (slot, code) in used.iter_mut().zip(codes) {
                        *slot = code;
                    }
                    free_codes = rest;
                    oro = Some(used);
                }
                DhcpOption::IaPd(ia) => {
                    let mut count = 0;
                    let mut ia_status = None;
                    for inner in ia.options {
                        match inner? {
                            DhcpOption::IaPrefix(p) => {
                                let slot =
                                    free_prefixes.get_mut(count).ok_or(Error::BufferTooSmall)?;
                                *slot = IaPrefixRepr::parse(&p)?;
                                count += 1;
                            }
                            DhcpOption::StatusCode(s) => set_once(&mut ia_status, s)?,
                            _ => {}
                        }
                    }
                    let (used, rest) = core::mem::take(&mut free_prefixes).split_at_mut(count);
                    free_prefixes = rest;
                    let slot = ia_pd.get_mut(ia_pd_count).ok_or(Error::BufferTooSmall)?;
                    *slot = IaPdRepr {
                        iaid: ia.iaid,
                        t1: ia.t1,
                        t2: ia.t2,
                        prefixes: used,
                        status: ia_status,
                    };
                    ia_pd_count += 1;
                }
                _ => {}
            }
        }
        let (ia_pd, _) = ia_pd.split_at_mut(ia_pd_count);
        Ok(MessageRepr {
            msg_type,
            transaction_id: packet.transaction_id(),
            client_id,
            server_id,
            elapsed_time,
            requested_options: oro.unwrap_or(&[]),
            preference,
            rapid_commit: rapid_commit.is_some(),
            status,
            ia_pd,
        })
    }

    /// Octets [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let opt = |present: bool, len: usize| {
            if present { OPTION_HEADER_LEN + len } else { 0 }
        };
        HEADER_LEN
            + self.client_id.map_or(0, |d| OPTION_HEADER_LEN + d.len())
            + self.server_id.map_or(0, |d| OPTION_HEADER_LEN + d.len())
            + opt(self.elapsed_time.is_some(), 2)
            + opt(
                !self.requested_options.is_empty(),
                2 * self.requested_options.len(),
            )
            + opt(self.preference.is_some(), 1)
            + opt(self.rapid_commit, 0)
            + status_len(&self.status)
            + self
                .ia_pd
                .iter()
                .map(|ia| OPTION_HEADER_LEN + ia.data_len())
                .sum::<usize>()
    }

    /// Writes the message into the first [`buffer_len`](Self::buffer_len) octets of `buf`,
    /// every one of them, and returns that length.
    ///
    /// [`Error::BufferTooSmall`] if `buf` is short; [`Error::Unsupported`] for a relay type
    /// or an option longer than 65535 octets; [`Error::Malformed`] for a transaction ID over
    /// 24 bits, a DUID not 2 to 130 octets long (§11.1) or a prefix length over 128.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        if self.msg_type.is_relay() {
            return Err(Error::Unsupported);
        }
        if self.transaction_id > MAX_TRANSACTION_ID {
            return Err(Error::Malformed);
        }
        let duid_ok =
            |d: Option<&[u8]>| d.is_none_or(|d| (MIN_DUID_LEN..=MAX_DUID_LEN).contains(&d.len()));
        if !duid_ok(self.client_id) || !duid_ok(self.server_id) {
            return Err(Error::Malformed);
        }
        if self
            .ia_pd
            .iter()
            .flat_map(|ia| ia.prefixes)
            .any(|p| p.prefix_len > 128)
        {
            return Err(Error::Malformed);
        }
        let mut w = Writer { buf, pos: 0 };
        w.bytes(&[self.msg_type.into()])?;
        w.bytes(&self.transaction_id.to_be_bytes()[1..])?;
        if let Some(duid) = self.client_id {
            w.option(option_code::CLIENTID, duid.len())?;
            w.bytes(duid)?;
        }
        if let Some(duid) = self.server_id {
            w.option(option_code::SERVERID, duid.len())?;
            w.bytes(duid)?;
        }
        if let Some(t) = self.elapsed_time {
            w.option(option_code::ELAPSED_TIME, 2)?;
            w.bytes(&t.to_be_bytes())?;
        }
        if !self.requested_options.is_empty() {
            w.option(option_code::ORO, 2 * self.requested_options.len())?;
            for code in self.requested_options {
                w.bytes(&code.to_be_bytes())?;
            }
        }
        if let Some(p) = self.preference {
            w.option(option_code::PREFERENCE, 1)?;
            w.bytes(&[p])?;
        }
        if self.rapid_commit {
            w.option(option_code::RAPID_COMMIT, 0)?;
        }
        w.status(&self.status)?;
        for ia in self.ia_pd {
            w.option(option_code::IA_PD, ia.data_len())?;
            w.bytes(&ia.iaid.to_be_bytes())?;
            w.bytes(&ia.t1.to_be_bytes())?;
            w.bytes(&ia.t2.to_be_bytes())?;
            for p in ia.prefixes {
                w.option(option_code::IA_PREFIX, p.data_len())?;
                w.bytes(&p.preferred_lifetime.to_be_bytes())?;
                w.bytes(&p.valid_lifetime.to_be_bytes())?;
                w.bytes(&[p.prefix_len])?;
                w.bytes(&p.prefix.octets())?;
                w.status(&p.status)?;
            }
            w.status(&ia.status)?;
        }
        Ok(w.pos)
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.pos + bytes.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// An option header; §21.1 gives option-len two octets.
    fn option(&mut self, code: u16, len: usize) -> Result<()> {
        let len = u16::try_from(len).map_err(|_| Error::Unsupported)?;
        self.bytes(&code.to_be_bytes())?;
        self.bytes(&len.to_be_bytes())
    }

    fn status(&mut self, status: &Option<StatusRepr<'_>>) -> Result<()> {
        if let Some(s) = status {
            self.option(option_code::STATUS_CODE, s.data_len())?;
            self.bytes(&s.code.to_be_bytes())?;
            self.bytes(s.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Solicit asking for a /56.
    #[rustfmt::skip]
    const SOLICIT: [u8; 69] = [
        // msg-type SOLICIT (1), transaction-id 0x123456
        0x01, 0x12, 0x34, 0x56,
        // CLIENTID (1), length 10: DUID-LL (3), hardware type 1, 02:00:00:00:00:01
        0x00, 0x01, 0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        // ELAPSED_TIME (8), length 2: 0
        0x00, 0x08, 0x00, 0x02, 0x00, 0x00,
        // IA_PD (25), length 41: IAID 1, T1 0, T2 0
        0x00, 0x19, 0x00, 0x29, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        //   IA Prefix (26), length 25: preferred 0, valid 0, prefix length 56, prefix ::
        0x00, 0x1a, 0x00, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x38,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    /// A Reply delegating 2001:db8:1::/48.
    #[rustfmt::skip]
    const REPLY: [u8; 90] = [
        // msg-type REPLY (7), transaction-id 0x123456
        0x07, 0x12, 0x34, 0x56,
        // CLIENTID (1), length 10: DUID-LL (3), hardware type 1, 02:00:00:00:00:01
        0x00, 0x01, 0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        // SERVERID (2), length 10: DUID-LL (3), hardware type 1, 02:00:00:00:00:02
        0x00, 0x02, 0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
        // STATUS_CODE (13), length 9: Success (0), "success"
        0x00, 0x0d, 0x00, 0x09, 0x00, 0x00, b's', b'u', b'c', b'c', b'e', b's', b's',
        // IA_PD (25), length 41: IAID 1, T1 3600, T2 5760
        0x00, 0x19, 0x00, 0x29, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x00, 0x16, 0x80,
        //   IA Prefix (26), length 25: preferred 7200, valid 7500, prefix length 48
        0x00, 0x1a, 0x00, 0x19, 0x00, 0x00, 0x1c, 0x20, 0x00, 0x00, 0x1d, 0x4c, 0x30,
        //   prefix 2001:db8:1::
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    const CLIENT_DUID: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0x01];
    const SERVER_DUID: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0x02];

    fn solicit_repr<'a>(ia_pd: &'a [IaPdRepr<'a>]) -> MessageRepr<'a> {
        MessageRepr {
            msg_type: MessageType::Solicit,
            transaction_id: 0x123456,
            client_id: Some(&CLIENT_DUID),
            server_id: None,
            elapsed_time: Some(0),
            requested_options: &[],
            preference: None,
            rapid_commit: false,
            status: None,
            ia_pd,
        }
    }

    fn check_emit(repr: &MessageRepr<'_>, expected: &[u8]) {
        assert_eq!(repr.buffer_len(), expected.len());
        // Not a zeroed buffer: emit must write every octet.
        let mut buf = [0xa5u8; 128];
        assert_eq!(repr.emit(&mut buf), Ok(expected.len()));
        assert_eq!(&buf[..expected.len()], expected);
        assert_eq!(
            repr.emit(&mut buf[..expected.len() - 1]),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn solicit() {
        let packet = Packet::new_checked(&SOLICIT[..]).unwrap();
        assert_eq!(packet.msg_type(), MessageType::Solicit);
        assert_eq!(packet.transaction_id(), 0x123456);
        let mut options = packet.options();
        assert_eq!(options.next(), Some(Ok(DhcpOption::ClientId(&CLIENT_DUID))));
        assert_eq!(options.next(), Some(Ok(DhcpOption::ElapsedTime(0))));
        let Some(Ok(DhcpOption::IaPd(ia))) = options.next() else {
            panic!("no IA_PD");
        };
        assert_eq!((ia.iaid, ia.t1, ia.t2), (1, 0, 0));
        assert_eq!(options.next(), None);
        let mut inner = ia.options;
        let Some(Ok(DhcpOption::IaPrefix(p))) = inner.next() else {
            panic!("no IA Prefix");
        };
        assert_eq!((p.prefix_len, p.prefix), (56, Ipv6Addr::UNSPECIFIED));
        assert_eq!(inner.next(), None);

        let hint = [IaPrefixRepr {
            prefix_len: 56,
            ..IaPrefixRepr::default()
        }];
        let ia_pd = [IaPdRepr {
            iaid: 1,
            prefixes: &hint,
            ..IaPdRepr::default()
        }];
        let expected = solicit_repr(&ia_pd);
        let mut pds = [IaPdRepr::default(); 2];
        let mut prefixes = [IaPrefixRepr::default(); 2];
        let mut codes = [0u16; 2];
        let parsed = MessageRepr::parse(&packet, &mut pds, &mut prefixes, &mut codes).unwrap();
        assert_eq!(parsed, expected);
        check_emit(&expected, &SOLICIT);
    }

    #[test]
    fn reply() {
        let packet = Packet::new_checked(&REPLY[..]).unwrap();
        let mut pds = [IaPdRepr::default(); 1];
        let mut prefixes = [IaPrefixRepr::default(); 1];
        let parsed = MessageRepr::parse(&packet, &mut pds, &mut prefixes, &mut []).unwrap();
        let delegated = [IaPrefixRepr {
            preferred_lifetime: 7200,
            valid_lifetime: 7500,
            prefix_len: 48,
            prefix: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0),
            status: None,
        }];
        let ia_pd = [IaPdRepr {
            iaid: 1,
            t1: 3600,
            t2: 5760,
            prefixes: &delegated,
            status: None,
        }];
        let expected = MessageRepr {
            msg_type: MessageType::Reply,
            server_id: Some(&SERVER_DUID),
            elapsed_time: None,
            status: Some(StatusRepr {
                code: status_code::SUCCESS,
                message: b"success",
            }),
            ..solicit_repr(&ia_pd)
        };
        assert_eq!(parsed, expected);
        assert_eq!(parsed.status.unwrap().message_str(), Some("success"));
        check_emit(&expected, &REPLY);
    }
}
