//! Frames over byte streams: serial lines, pipes, TCP connections.
//!
//! A byte stream has no frame boundaries of its own, and a serial line adds noise, drops bytes
//! and starts in the middle of whatever the other end was sending. This module puts frames on
//! such a stream with Consistent Overhead Byte Stuffing (COBS, Cheshire and Baker, IEEE/ACM
//! Transactions on Networking 7(2), 1999), using `0x00` as the frame delimiter, and appends a
//! frame check sequence so that a damaged frame is detected: COBS alone finds where frames
//! end, not whether their bytes are right.
//!
//! # Format
//!
//! ```text
//!   one encoded frame on the stream:
//!
//!   +------+--------------------------------------------------+------+
//!   | 0x00 |  COBS( frame bytes || FCS (4 bytes, little end.) ) | 0x00 |
//!   +------+--------------------------------------------------+------+
//!    leading          no 0x00 byte occurs in here              trailing
//!    delimiter                                                 delimiter
//!
//!   COBS splits the input at its zero bytes into blocks; each block is a code byte
//!   n (1..=255) followed by n - 1 non-zero data bytes. A block with n < 255 stands for
//!   its data followed by one 0x00 (except the last block of a frame); a block with
//!   n = 255 stands for its 254 data bytes alone.
//!
//!   frame || FCS   11 22 00 33 f0 f1 f2 f3      (FCS bytes f0..f3 non-zero here)
//!   on the stream  00 | 03 11 22 | 06 33 f0 f1 f2 f3 | 00
//!                  ^    ^          ^                   ^
//!                  |    |          |                   trailing delimiter
//!                  |    |          last block: 5 data bytes, implied zero dropped
//!                  |    block: 2 data bytes, then the zero
//!                  leading delimiter
//! ```
//!
//! The encoder emits `0x00`, `COBS(frame || FCS)`, `0x00`. The leading delimiter flushes any line
//! noise that reached the receiver before the frame, so that noise costs nothing but an error
//! count; the trailing one ends the frame without waiting for the next. The decoder ignores
//! consecutive delimiters (an empty frame between two delimiters is not a frame: the smallest
//! real frame still carries four FCS bytes), so back-to-back frames simply show two delimiters in
//! a row. A stream that carries only trailing delimiters, as most COBS encoders write, decodes
//! the same way.
//!
//! Worst-case size: a frame of `n` bytes becomes at most `n + 4` (FCS) `+ ceil((n + 4) / 254)`
//! (COBS: one code byte per 254 bytes or part thereof) `+ 2` (delimiters) bytes on the stream;
//! see [`encoded_len_max`]. That is 0.4 % plus 7 bytes, whatever the frame contains.
//!
//! # Frame check sequence
//!
//! The FCS is CRC-32C (the Castagnoli polynomial `0x1EDC6F41`, as `crc::CRC_32_ISCSI`), computed
//! over the frame bytes and appended least significant byte first. CRC-32C rather than the
//! IEEE 802.3 polynomial because it detects more error patterns at the frame sizes used on
//! links (RFC 3309 §1 and §3 give this reason for moving SCTP to it, citing Castagnoli et al.
//! 1993), and many processors compute it in hardware (SSE 4.2, ARMv8 CRC32).
//!
//! # Resynchronisation
//!
//! The [`Decoder`] takes bytes in chunks of any size and splits them at the delimiters. Whatever
//! damage a frame suffers (bit errors, lost bytes, noise, a cut), the next delimiter ends it, and
//! the frame after it decodes normally: one damaged frame costs that frame only. A frame that
//! would not fit in the decoder's buffer is reported at once ([`DecodeError::TooLong`]) and the
//! rest of it is skipped up to the next delimiter, so the decoder never holds more than its
//! fixed buffer. Every frame that is not delivered is counted in [`DecoderStats`].
//!
//! ```
//! use bridgeless_wire::stream::{encode, encoded_len_max, Decoder};
//!
//! let mut wire = [0u8; 64];
//! let n = encode(b"hello", &mut wire).unwrap();
//! assert!(n <= encoded_len_max(5));
//!
//! let mut decoder = Decoder::new([0u8; 32]);
//! let mut rest = &wire[..n];
//! while !rest.is_empty() {
//!     let (used, event) = decoder.feed(rest);
//!     rest = &rest[used..];
//!     if let Some(frame) = event {
//!         assert_eq!(frame, Ok(&b"hello"[..]));
//!     }
//! }
//! assert_eq!(decoder.stats().frames, 1);
//! ```

use core::fmt;

use crc::{CRC_32_ISCSI, Crc};

use crate::{Error, Result};

/// The byte that separates frames on the stream. COBS removes it from everything in between.
pub const DELIMITER: u8 = 0x00;

/// Length of the frame check sequence (CRC-32C) appended to every frame before encoding.
pub const FCS_LEN: usize = 4;

/// The frame check sequence: CRC-32C (Castagnoli), see the module documentation.
static FCS: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// The largest number of data bytes a COBS block carries (code byte `0xFF`).
const MAX_BLOCK_DATA: usize = 254;

/// An upper bound on the number of bytes [`encode`] writes for a frame of `frame_len` bytes:
/// two delimiters, the four FCS bytes, and one COBS code byte per 254 bytes or part thereof.
///
/// Saturates at `usize::MAX` instead of overflowing.
pub const fn encoded_len_max(frame_len: usize) -> usize {
    // COBS adds at most ceil(len / 254) code bytes to a non-empty input (Cheshire and Baker
    // §3); with the FCS the input is never empty.
    let body = frame_len.saturating_add(FCS_LEN);
    body.saturating_add(body.div_ceil(MAX_BLOCK_DATA))
        .saturating_add(2)
}

/// The buffer size a [`Decoder`] needs to accept frames of up to `max_frame_len` bytes:
/// the frame plus its FCS. Saturates at `usize::MAX`.
pub const fn decoder_buffer_len(max_frame_len: usize) -> usize {
    max_frame_len.saturating_add(FCS_LEN)
}

/// Writes `out[index] = byte`, or fails with [`Error::BufferTooSmall`].
fn put(out: &mut [u8], index: usize, byte: u8) -> Result<()> {
    match out.get_mut(index) {
        Some(slot) => {
            *slot = byte;
            Ok(())
        }
        None => Err(Error::BufferTooSmall),
    }
}

/// Encodes one frame as `0x00 COBS(frame || FCS) 0x00` into `out` and returns the number of bytes
/// written (at most [`encoded_len_max`]`(frame.len())`).
///
/// Fails with [`Error::BufferTooSmall`] if `out` is too short; `out` may then hold a partial
/// encoding, which must not be sent. The COBS output is canonical (the form in Cheshire and
/// Baker's paper): a block of 254 data bytes at the end of the input is not followed by an
/// empty block.
pub fn encode(frame: &[u8], out: &mut [u8]) -> Result<usize> {
    let fcs = FCS.checksum(frame).to_le_bytes();
    put(out, 0, DELIMITER)?;
    let body = out.get_mut(1..).ok_or(Error::BufferTooSmall)?;
    let written = cobs_encode(frame.iter().chain(fcs.iter()).copied(), body)?;
    put(out, 1 + written, DELIMITER)?;
    Ok(written + 2)
}

/// COBS-encodes `input` into the start of `out` (no delimiters) and returns the length written.
fn cobs_encode(input: impl Iterator<Item = u8>, out: &mut [u8]) -> Result<usize> {
    // Index of the code byte of the block being filled, if one is open. A block is opened
    // at once at the start and after a zero (whose block must exist to carry the implied
    // zero at the end), and lazily after a full block of 254 (which implies no zero), so
    // that input ending in a full block gets no empty block after it.
    let mut write = 1;
    let mut code_at = Some(0);
    let mut code: u8 = 1;
    for byte in input {
        let at = match code_at {
            Some(at) => at,
            None => {
                let at = write;
                write += 1;
                code = 1;
                at
            }
        };
        if byte == 0 {
            // The zero ends this block: the code byte says how far away it is.
            put(out, at, code)?;
            code_at = Some(write);
            write += 1;
            code = 1;
        } else {
            put(out, write, byte)?;
            write += 1;
            code += 1;
            if code == 0xFF {
                put(out, at, code)?;
                code_at = None;
            } else {
                code_at = Some(at);
            }
        }
    }
    if let Some(at) = code_at {
        put(out, at, code)?;
    }
    Ok(write)
}

/// Why a frame read from a stream was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame did not fit in the decoder's buffer. The decoder skips the rest of it up to
    /// the next delimiter and then decodes normally again.
    TooLong,
    /// The frame check sequence does not match the frame's bytes: the frame was damaged.
    Fcs,
    /// The COBS encoding is invalid: a delimiter arrived before the end of a block, as happens
    /// when bytes were lost or a frame was cut.
    Cobs,
    /// The frame decoded to fewer bytes than the frame check sequence alone.
    Short,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::TooLong => "stream frame longer than the decoder's buffer",
            DecodeError::Fcs => "stream frame check sequence mismatch",
            DecodeError::Cobs => "invalid COBS encoding in stream frame",
            DecodeError::Short => "stream frame shorter than its check sequence",
        })
    }
}

impl core::error::Error for DecodeError {}

impl From<DecodeError> for Error {
    /// Maps a stream decoding error onto the crate's shared error type: `TooLong` is
    /// [`Error::BufferTooSmall`], `Fcs` is [`Error::Checksum`], `Cobs` is [`Error::Malformed`] and
    /// `Short` is [`Error::Truncated`].
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLong => Error::BufferTooSmall,
            DecodeError::Fcs => Error::Checksum,
            DecodeError::Cobs => Error::Malformed,
            DecodeError::Short => Error::Truncated,
        }
    }
}

/// What a [`Decoder`] has seen so far. Every frame that was not delivered is counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecoderStats {
    /// Frames delivered intact.
    pub frames: u64,
    /// Frames that did not fit in the buffer ([`DecodeError::TooLong`]).
    pub too_long: u64,
    /// Frames whose check sequence did not match ([`DecodeError::Fcs`]).
    pub fcs_errors: u64,
    /// Frames with an invalid COBS encoding ([`DecodeError::Cobs`]).
    pub cobs_errors: u64,
    /// Frames shorter than the check sequence ([`DecodeError::Short`]).
    pub short: u64,
    /// Bytes consumed from the stream, delimiters and discarded bytes included.
    pub bytes: u64,
}

impl DecoderStats {
    /// The number of frames that were not delivered, whatever the reason.
    pub const fn errors(&self) -> u64 {
        self.too_long + self.fcs_errors + self.cobs_errors + self.short
    }
}

/// An incremental decoder of `0x00`-delimited COBS frames with a CRC-32C check sequence.
///
/// It owns a buffer of fixed size `B` supplied by the caller and never holds more: frames of up
/// to `buffer length - 4` bytes are delivered (see [`decoder_buffer_len`]), longer ones are
/// reported as [`DecodeError::TooLong`] and skipped. Bytes are decoded as they arrive, so chunk
/// boundaries may fall anywhere, even inside a delimiter run or a COBS block.
///
/// Bytes received before the first delimiter are treated as a frame: if the decoder joined the
/// stream in the middle of a frame, that fragment fails the check and is counted as an error.
#[derive(Debug, Clone)]
pub struct Decoder<B: AsMut<[u8]>> {
    buffer: B,
    /// Length of `buffer`, fixed when the decoder was made.
    capacity: usize,
    /// Decoded bytes of the current frame held in `buffer`.
    len: usize,
    /// Data bytes still to come in the current COBS block (0: the next byte is a code byte).
    remaining: u8,
    /// The current block ends with an implied zero, to be stored if another block follows.
    zero_pending: bool,
    /// At least one byte of the current frame has been received.
    started: bool,
    /// The current frame was reported as too long: skip up to the next delimiter.
    skipping: bool,
    stats: DecoderStats,
}

impl<B: AsMut<[u8]>> Decoder<B> {
    /// Creates a decoder that decodes into `buffer`. The largest frame it delivers is
    /// `buffer.len() - 4` bytes (a buffer shorter than 4 bytes delivers nothing).
    pub fn new(mut buffer: B) -> Self {
        let capacity = buffer.as_mut().len();
        Decoder {
            buffer,
            capacity,
            len: 0,
            remaining: 0,
            zero_pending: false,
            started: false,
            skipping: false,
            stats: DecoderStats::default(),
        }
    }

    /// The largest frame this decoder delivers, in bytes.
    pub fn max_frame_len(&self) -> usize {
        self.capacity.saturating_sub(FCS_LEN)
    }

    /// What the decoder has seen so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Forgets the frame in progress (not counted as an error), as if a delimiter had been
    /// received without ending a frame. Counters are kept.
    pub fn reset(&mut self) {
        self.start_frame();
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> B {
        self.buffer
    }

    fn start_frame(&mut self) {
        self.len = 0;
        self.remaining = 0;
        self.zero_pending = false;
        self.started = false;
        self.skipping = false;
    }

    /// Stores one decoded byte; reports [`DecodeError::TooLong`] and starts skipping when the
    /// buffer is full.
    fn push(&mut self, byte: u8) -> core::result::Result<(), DecodeError> {
        match self.buffer.as_mut().get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                Ok(())
            }
            None => {
                self.skipping = true;
                self.stats.too_long += 1;
                Err(DecodeError::TooLong)
            }
        }
    }

    /// Decodes bytes from the start of `input` until a frame is complete or an error is found,
    /// or `input` runs out.
    ///
    /// Returns how many bytes of `input` were consumed and what happened:
    /// - `None`: all of `input` was consumed and no frame ended;
    /// - `Some(Ok(frame))`: a frame was delivered (valid until the next call);
    /// - `Some(Err(e))`: a frame was lost, and counted in [`Decoder::stats`].
    ///
    /// When `input` is not empty at least one byte is consumed, so a caller that loops over the
    /// rest of its chunk until it is empty always finishes. [`Decoder::feed_all`] does that loop.
    pub fn feed<'a>(
        &'a mut self,
        input: &[u8],
    ) -> (usize, Option<core::result::Result<&'a [u8], DecodeError>>) {
        for (index, &byte) in input.iter().enumerate() {
            let consumed = index + 1;
            self.stats.bytes += 1;
            if byte == DELIMITER {
                if self.skipping || !self.started {
                    // The end of a frame already reported as too long, or an empty frame
                    // between consecutive delimiters: nothing to report.
                    self.start_frame();
                    continue;
                }
                let remaining = self.remaining;
                let len = self.len;
                // The last block's implied zero is not part of the data: drop it.
                self.start_frame();
                if remaining != 0 {
                    self.stats.cobs_errors += 1;
                    return (consumed, Some(Err(DecodeError::Cobs)));
                }
                return (consumed, self.check(len));
            }
            if self.skipping {
                continue;
            }
            self.started = true;
            let stored = if self.remaining == 0 {
                // A code byte: it ends the previous block, whose implied zero now is data.
                let stored = if self.zero_pending {
                    self.push(0)
                } else {
                    Ok(())
                };
                self.remaining = byte - 1;
                self.zero_pending = byte != 0xFF;
                stored
            } else {
                self.remaining -= 1;
                self.push(byte)
            };
            if let Err(e) = stored {
                return (consumed, Some(Err(e)));
            }
        }
        (input.len(), None)
    }

    /// Checks the FCS of the `len` decoded bytes at the start of the buffer.
    fn check(&mut self, len: usize) -> Option<core::result::Result<&[u8], DecodeError>> {
        let Some(data_len) = len.checked_sub(FCS_LEN) else {
            self.stats.short += 1;
            return Some(Err(DecodeError::Short));
        };
        let buffer: &[u8] = self.buffer.as_mut();
        let (Some(data), Some(fcs)) = (buffer.get(..data_len), buffer.get(data_len..len)) else {
            // Unreachable: `len` bytes were stored in the buffer. Report rather than panic.
            self.stats.short += 1;
            return Some(Err(DecodeError::Short));
        };
        let mut expected = [0u8; FCS_LEN];
        expected.copy_from_slice(fcs);
        if FCS.checksum(data) != u32::from_le_bytes(expected) {
            self.stats.fcs_errors += 1;
            return Some(Err(DecodeError::Fcs));
        }
        self.stats.frames += 1;
        Some(Ok(data))
    }

    /// Feeds all of `input`, calling `on_frame` for every frame delivered or lost on the way.
    pub fn feed_all<F>(&mut self, mut input: &[u8], mut on_frame: F)
    where
        F: FnMut(core::result::Result<&[u8], DecodeError>),
    {
        while !input.is_empty() {
            let (used, event) = self.feed(input);
            if let Some(event) = event {
                on_frame(event);
            }
            input = input.get(used..).unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one complete encoded frame with a fresh decoder.
    fn decode_one(wire: &[u8], frame_out: &mut [u8]) -> core::result::Result<usize, DecodeError> {
        let mut decoder = Decoder::new([0u8; 600]);
        let mut result = None;
        decoder.feed_all(wire, |event| {
            assert!(result.is_none(), "more than one event");
            result = Some(event.map(|f| {
                frame_out[..f.len()].copy_from_slice(f);
                f.len()
            }));
        });
        result.expect("no frame")
    }

    /// The COBS examples of Cheshire and Baker as tabulated on Wikipedia ("Consistent Overhead
    /// Byte Stuffing", encoding examples 1-6), on the COBS layer alone (no FCS, no delimiters).
    #[rustfmt::skip]
    #[test]
    fn cobs_examples() {
        let cases: &[(&[u8], &[u8])] = &[
            // 1: 00 -> 01 01
            (&[0x00], &[0x01, 0x01]),
            // 2: 00 00 -> 01 01 01
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            // 3: 00 11 00 -> 01 02 11 01
            (&[0x00, 0x11, 0x00], &[0x01, 0x02, 0x11, 0x01]),
            // 4: 11 22 00 33 -> 03 11 22 02 33
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            // 5: 11 22 33 44 -> 05 11 22 33 44
            (&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]),
            // 6: 11 00 00 00 -> 02 11 01 01 01
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (input, expected) in cases {
            let mut out = [0u8; 16];
            let n = cobs_encode(input.iter().copied(), &mut out).unwrap();
            assert_eq!(&out[..n], *expected, "input {input:02x?}");
        }
    }

    /// Wikipedia examples 7-11: runs of 254 and 255 bytes around a full (FF) block.
    #[test]
    fn cobs_long_examples() {
        let mut input = [0u8; 255];
        let mut out = [0u8; 300];
        // 7: 01 02 .. FE (254 bytes) -> FF 01 02 .. FE
        for (i, b) in input.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let n = cobs_encode(input[..254].iter().copied(), &mut out).unwrap();
        assert_eq!((n, out[0]), (255, 0xFF));
        assert_eq!(&out[1..255], &input[..254]);
        // 8: 00 01 02 .. FE (255 bytes) -> 01 FF 01 02 .. FE
        for (i, b) in input.iter_mut().enumerate() {
            *b = i as u8;
        }
        let n = cobs_encode(input.iter().copied(), &mut out).unwrap();
        assert_eq!((n, out[0], out[1]), (256, 0x01, 0xFF));
        assert_eq!(&out[2..256], &input[1..]);
        // 9: 01 02 .. FE FF (255 bytes) -> FF 01 02 .. FE 02 FF
        for (i, b) in input.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let n = cobs_encode(input.iter().copied(), &mut out).unwrap();
        assert_eq!((n, out[0], out[255], out[256]), (257, 0xFF, 0x02, 0xFF));
        // 10: 02 03 .. FF 00 (255 bytes) -> FF 02 03 .. FF 01 01
        for (i, b) in input.iter_mut().enumerate() {
            *b = (i as u8).wrapping_add(2);
        }
        let n = cobs_encode(input.iter().copied(), &mut out).unwrap();
        assert_eq!((n, out[0]), (257, 0xFF));
        assert_eq!(&out[1..255], &input[..254]);
        assert_eq!(&out[255..257], &[0x01, 0x01]);
        // 11: 03 04 .. FF 00 01 (255 bytes) -> FE 03 04 .. FF 02 01
        for (i, b) in input.iter_mut().enumerate() {
            *b = (i as u8).wrapping_add(3);
        }
        let n = cobs_encode(input.iter().copied(), &mut out).unwrap();
        assert_eq!((n, out[0]), (256, 0xFE));
        assert_eq!(&out[1..254], &input[..253]);
        assert_eq!(&out[254..256], &[0x02, 0x01]);
    }

    /// Frames with zeros in every position come back through the decoder.
    #[test]
    fn examples_round_trip() {
        let frames: &[&[u8]] = &[
            &[0x00],
            &[0x00, 0x00],
            &[0x00, 0x11, 0x00],
            &[0x11, 0x22, 0x00, 0x33],
        ];
        for frame in frames {
            let mut out = [0u8; 32];
            let n = encode(frame, &mut out).unwrap();
            assert_eq!((out[0], out[n - 1]), (0x00, 0x00), "delimiters");
            assert!(!out[1..n - 1].contains(&0), "no zero inside");
            let mut back = [0u8; 32];
            let len = decode_one(&out[..n], &mut back).unwrap();
            assert_eq!(&back[..len], *frame);
        }
    }

    /// The FCS of the empty frame: CRC-32C("") = 0, so the frame is four zero bytes,
    /// which COBS writes as five 01 blocks.
    #[rustfmt::skip]
    #[test]
    fn empty_frame() {
        let mut out = [0xAAu8; 16];
        let n = encode(&[], &mut out).unwrap();
        assert_eq!(&out[..n], &[
            0x00,                         // leading delimiter
            0x01, 0x01, 0x01, 0x01, 0x01, // 00 00 00 00: FCS of nothing
            0x00,                         // trailing delimiter
        ]);
        let mut back = [0u8; 4];
        assert_eq!(decode_one(&out[..n], &mut back), Ok(0));
    }

    /// CRC-32C check value ("123456789" -> E3069283, RFC 3720 appendix B.4 / crc catalogue),
    /// appended least significant byte first.
    #[rustfmt::skip]
    #[test]
    fn fcs_is_crc32c_little_endian() {
        let mut out = [0u8; 32];
        let n = encode(b"123456789", &mut out).unwrap();
        assert_eq!(&out[..n], &[
            0x00,                                                  // leading delimiter
            0x0E,                                                  // code: 13 non-zero bytes follow
            b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9', // frame
            0x83, 0x92, 0x06, 0xE3,                                // FCS 0xE3069283, LE
            0x00,                                                  // trailing delimiter
        ]);
    }

    /// 254 non-zero bytes make a full block (code FF) that implies no zero; 255 need a second.
    #[test]
    fn full_blocks() {
        // The frame is chosen so that frame || FCS has no zero byte: 250 bytes of 0x11 and the
        // FCS, checked below.
        let frame = [0x11u8; 250];
        let fcs = FCS.checksum(&frame).to_le_bytes();
        assert!(!fcs.contains(&0));
        let mut out = [0u8; 300];
        let n = encode(&frame, &mut out).unwrap();
        // 00 | FF + 254 bytes | 00: no trailing empty block after the full one.
        assert_eq!(n, 1 + 1 + 254 + 1);
        assert_eq!(out[1], 0xFF);
        assert_eq!(n, encoded_len_max(250)); // the bound is tight
        let mut back = [0u8; 300];
        assert_eq!(decode_one(&out[..n], &mut back), Ok(250));

        // One more byte: 00 | FF + 254 | 02 + 1 | 00.
        let frame = [0x22u8; 251];
        let fcs = FCS.checksum(&frame).to_le_bytes();
        assert!(!fcs.contains(&0));
        let n = encode(&frame, &mut out).unwrap();
        assert_eq!(n, 1 + 255 + 2 + 1);
        assert_eq!((out[1], out[256]), (0xFF, 0x02));
        assert_eq!(n, encoded_len_max(251));
        assert_eq!(decode_one(&out[..n], &mut back), Ok(251));
    }

    /// Decoders accept the non-canonical form some encoders write: an empty block after a full
    /// one at the end of the frame.
    #[test]
    fn non_canonical_trailing_block() {
        let frame = [0x11u8; 250];
        let mut out = [0u8; 300];
        let n = encode(&frame, &mut out).unwrap();
        // Replace the trailing delimiter with an empty block 01 and a delimiter.
        out[n - 1] = 0x01;
        out[n] = 0x00;
        let mut back = [0u8; 300];
        assert_eq!(decode_one(&out[..n + 1], &mut back), Ok(250));
    }

    #[test]
    fn buffer_too_small() {
        let mut out = [0u8; 10];
        assert_eq!(encode(&[1, 2, 3, 4], &mut out), Err(Error::BufferTooSmall));
        let mut out = [0u8; 11];
        assert_eq!(encode(&[1, 2, 3, 4], &mut out), Ok(11));
        assert_eq!(encoded_len_max(4), 11);
        assert_eq!(encoded_len_max(usize::MAX), usize::MAX);
    }

    #[rustfmt::skip]
    #[test]
    fn errors_are_reported_and_counted() {
        let mut decoder = Decoder::new([0u8; 8]);
        let mut events = [None; 8];
        let mut count = 0;
        let stream: &[u8] = &[
            0x00, 0x00, 0x00,             // delimiters only: ignored
            0x03, 0x11, 0x00,             // block cut short by a delimiter: Cobs
            0x02, 0x11, 0x00,             // one byte only: Short
            0x05, 0x11, 0x22, 0x33, 0x44, 0x00, // 4 bytes, no data, bad FCS: Fcs
            0x0A, 1, 2, 3, 4, 5, 6, 7, 8, 9,    // 9 bytes > buffer of 8: TooLong
            0x00,
        ];
        decoder.feed_all(stream, |e| {
            events[count] = Some(e.map(|f| f.len()));
            count += 1;
        });
        assert_eq!(&events[..count], &[
            Some(Err(DecodeError::Cobs)),
            Some(Err(DecodeError::Short)),
            Some(Err(DecodeError::Fcs)),
            Some(Err(DecodeError::TooLong)),
        ]);
        let stats = decoder.stats();
        assert_eq!(stats, DecoderStats {
            frames: 0, too_long: 1, fcs_errors: 1, cobs_errors: 1, short: 1,
            bytes: stream.len() as u64,
        });
        assert_eq!(stats.errors(), 4);

        // After all that, a good frame of exactly the maximum size is delivered.
        assert_eq!(decoder.max_frame_len(), 4);
        let mut wire = [0u8; 16];
        let n = encode(&[9, 8, 7, 6], &mut wire).unwrap();
        let mut got = false;
        decoder.feed_all(&wire[..n], |e| {
            assert_eq!(e, Ok(&[9u8, 8, 7, 6][..]));
            got = true;
        });
        assert!(got);
    }

    #[test]
    fn byte_by_byte() {
        let mut wire = [0u8; 64];
        let n = encode(&[0, 1, 0, 2, 0], &mut wire).unwrap();
        let mut decoder = Decoder::new([0u8; 16]);
        for (i, byte) in wire[..n].iter().enumerate() {
            let (used, event) = decoder.feed(core::slice::from_ref(byte));
            assert_eq!(used, 1);
            if i == n - 1 {
                assert_eq!(event, Some(Ok(&[0u8, 1, 0, 2, 0][..])));
            } else {
                assert_eq!(event, None);
            }
        }
        assert_eq!(Decoder::new([0u8; 2]).max_frame_len(), 0);
    }

    #[test]
    fn decode_error_maps_to_shared_error() {
        assert_eq!(Error::from(DecodeError::Fcs), Error::Checksum);
        assert_eq!(Error::from(DecodeError::TooLong), Error::BufferTooSmall);
        assert_eq!(Error::from(DecodeError::Cobs), Error::Malformed);
        assert_eq!(Error::from(DecodeError::Short), Error::Truncated);
    }
}
