//! The error type shared by every parser and emitter in this crate.

use core::fmt;

pub use smoltcp::wire::Icmpv6ParamProblem as ParamProblemCode;

/// Why a buffer could not be parsed or a representation could not be emitted.
///
/// Small and `Copy`, in the manner of `smoltcp::wire::Error`, but with enough detail for a
/// receiver to act on: [`Error::ParameterProblem`] carries the ICMPv6 code and pointer that
/// RFC 4443 §3.4 asks the receiver to send back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a length field or a fixed header says it should.
    Truncated,
    /// A field holds a value the format does not allow.
    Malformed,
    /// The input is well formed but uses a version, type or mode this crate does not implement.
    Unsupported,
    /// A checksum does not match the data it covers.
    Checksum,
    /// The output buffer is too small for what is being emitted.
    BufferTooSmall,
    /// The packet must be discarded and answered with an ICMPv6 Parameter Problem message
    /// (RFC 8200 §4, RFC 4443 §3.4).
    ParameterProblem(ParameterProblem),
}

/// The contents of an ICMPv6 Parameter Problem message a receiver should send
/// (RFC 4443 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParameterProblem {
    /// Code 0 (erroneous header field), 1 (unrecognized Next Header) or 2 (unrecognized option).
    pub code: ParamProblemCode,
    /// Offset, in octets from the start of the invoking packet's IPv6 header, of the byte
    /// where the problem was found.
    pub pointer: u32,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated"),
            Error::Malformed => f.write_str("malformed"),
            Error::Unsupported => f.write_str("unsupported"),
            Error::Checksum => f.write_str("bad checksum"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::ParameterProblem(p) => {
                write!(f, "parameter problem: {} at octet {}", p.code, p.pointer)
            }
        }
    }
}

impl core::error::Error for Error {}

/// The result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;
