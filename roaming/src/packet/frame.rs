//! Frames carried, encrypted, inside data packets.
//!
//! Each frame starts with a one-byte type; integers are QUIC variable-length integers
//! ([`super::varint`]).
//!
//! ```text
//!  type  frame            body
//!  0x00  PADDING          (none; a run of zero bytes is one frame)
//!  0x01  PING             (none)
//!  0x02  ACK              largest, ack delay (µs), first range, range count,
//!                         then count x (gap, range)                  (RFC 9000 §19.3)
//!  0x03  PATH_CHALLENGE   8 unpredictable bytes                       (RFC 9000 §19.17)
//!  0x04  PATH_RESPONSE    the 8 bytes of the challenge                (RFC 9000 §19.18)
//!  0x05  NEW_ID           sequence, L (1 byte), identifier (L)        (after §19.15)
//!  0x06  RETIRE_ID        sequence                                    (after §19.16)
//!  0x07  CLOSE            code
//!  0x08  DATAGRAM         length, data                                (after RFC 9221)
//!  0x09  DATAGRAM         data to the end of the packet (no length)
//! ```

use super::{ConnectionId, Error, MAX_ID_LEN, MIN_ID_LEN, Result, varint};

/// Frame type bytes.
pub mod ty {
    /// PADDING.
    pub const PADDING: u8 = 0x00;
    /// PING.
    pub const PING: u8 = 0x01;
    /// ACK.
    pub const ACK: u8 = 0x02;
    /// PATH_CHALLENGE.
    pub const PATH_CHALLENGE: u8 = 0x03;
    /// PATH_RESPONSE.
    pub const PATH_RESPONSE: u8 = 0x04;
    /// NEW_ID.
    pub const NEW_ID: u8 = 0x05;
    /// RETIRE_ID.
    pub const RETIRE_ID: u8 = 0x06;
    /// CLOSE.
    pub const CLOSE: u8 = 0x07;
    /// DATAGRAM with a length.
    pub const DATAGRAM: u8 = 0x08;
    /// DATAGRAM to the end of the packet.
    pub const DATAGRAM_LAST: u8 = 0x09;
}

/// Most additional ranges an ACK frame may carry (beyond the first).
pub const MAX_ACK_RANGES: usize = 8;

/// An ACK frame: which packet numbers arrived, and how long the receiver held the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckFrame {
    /// Largest packet number acknowledged.
    pub largest: u64,
    /// Time between receiving `largest` and sending this ACK, in microseconds.
    pub delay_us: u64,
    /// Packets below `largest` also acknowledged, contiguously.
    pub first_range: u64,
    ranges: [(u64, u64); MAX_ACK_RANGES],
    range_count: usize,
}

impl AckFrame {
    /// An ACK of `largest - first_range ..= largest`.
    pub fn new(largest: u64, delay_us: u64, first_range: u64) -> AckFrame {
        AckFrame {
            largest,
            delay_us,
            first_range,
            ranges: [(0, 0); MAX_ACK_RANGES],
            range_count: 0,
        }
    }

    /// Add a range `(gap, length)` (RFC 9000 §19.3.1); false if the frame is full.
    pub fn push_range(&mut self, gap: u64, len: u64) -> bool {
        if self.range_count == MAX_ACK_RANGES {
            return false;
        }
        self.ranges[self.range_count] = (gap, len);
        self.range_count += 1;
        true
    }

    /// The additional `(gap, length)` ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges[..self.range_count]
    }

    /// Acknowledged packet numbers as inclusive `(smallest, largest)` intervals, descending.
    /// `None` if the ranges reach below zero (RFC 9000 §19.3.1: a FRAME_ENCODING_ERROR).
    pub fn intervals(&self) -> Option<impl Iterator<Item = (u64, u64)> + '_> {
        let mut hi = self.largest;
        let mut lo = hi.checked_sub(self.first_range)?;
        let mut out = [(0, 0); MAX_ACK_RANGES + 1];
        out[0] = (lo, hi);
        for (i, &(gap, len)) in self.ranges().iter().enumerate() {
            hi = lo.checked_sub(gap)?.checked_sub(2)?;
            lo = hi.checked_sub(len)?;
            out[i + 1] = (lo, hi);
        }
        Some(out.into_iter().take(self.range_count + 1))
    }

    fn buffer_len(&self) -> usize {
        1 + varint::len(self.largest)
            + varint::len(self.delay_us)
            + varint::len(self.first_range)
            + varint::len(self.range_count as u64)
            + self
                .ranges()
                .iter()
                .map(|&(g, l)| varint::len(g) + varint::len(l))
                .sum::<usize>()
    }
}

/// One frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of this many zero bytes.
    Padding(usize),
    /// Asks for an acknowledgment; keeps NAT bindings and the idle timer alive.
    Ping,
    /// Acknowledgment.
    Ack(AckFrame),
    /// Path validation challenge.
    PathChallenge([u8; 8]),
    /// Path validation response.
    PathResponse([u8; 8]),
    /// A new identifier the sender will accept packets under.
    NewId {
        /// Its sequence number.
        seq: u64,
        /// The identifier.
        id: ConnectionId,
    },
    /// The sender will no longer use the receiver's identifier with this sequence number.
    RetireId {
        /// Sequence number of the retired identifier.
        seq: u64,
    },
    /// The session is closed.
    Close {
        /// Why (0: closed by the application).
        code: u64,
    },
    /// A user datagram, with a length.
    Datagram(&'a [u8]),
    /// A user datagram that runs to the end of the packet.
    DatagramLast(&'a [u8]),
}

impl<'a> Frame<'a> {
    /// Parse one frame from the front of `buf`: `(frame, bytes consumed)`.
    pub fn parse(buf: &'a [u8]) -> Result<(Frame<'a>, usize)> {
        let t = *buf.first().ok_or(Error::Truncated)?;
        let body = &buf[1..];
        let mut at = 0usize;
        let int = |at: &mut usize| -> Result<u64> {
            let (v, n) = varint::read(&body[*at..])?;
            *at += n;
            Ok(v)
        };
        let frame = match t {
            ty::PADDING => {
                let n = buf.iter().take_while(|&&b| b == 0).count();
                return Ok((Frame::Padding(n), n));
            }
            ty::PING => Frame::Ping,
            ty::ACK => {
                let largest = int(&mut at)?;
                let delay_us = int(&mut at)?;
                let first_range = int(&mut at)?;
                let count = int(&mut at)?;
                if count > MAX_ACK_RANGES as u64 {
                    return Err(Error::Unsupported);
                }
                let mut ack = AckFrame::new(largest, delay_us, first_range);
                for _ in 0..count {
                    let gap = int(&mut at)?;
                    let len = int(&mut at)?;
                    ack.push_range(gap, len);
                }
                if ack.intervals().is_none() {
                    return Err(Error::Malformed);
                }
                Frame::Ack(ack)
            }
            ty::PATH_CHALLENGE | ty::PATH_RESPONSE => {
                let data: [u8; 8] = body
                    .get(..8)
                    .ok_or(Error::Truncated)?
                    .try_into()
                    .map_err(|_| Error::Truncated)?;
                at = 8;
                if t == ty::PATH_CHALLENGE {
                    Frame::PathChallenge(data)
                } else {
                    Frame::PathResponse(data)
                }
            }
            ty::NEW_ID => {
                let seq = int(&mut at)?;
                let len = usize::from(*body.get(at).ok_or(Error::Truncated)?);
                if !(MIN_ID_LEN..=MAX_ID_LEN).contains(&len) {
                    return Err(Error::Malformed);
                }
                let id =
                    ConnectionId::new(body.get(at + 1..at + 1 + len).ok_or(Error::Truncated)?)?;
                at += 1 + len;
                Frame::NewId { seq, id }
            }
            ty::RETIRE_ID => Frame::RetireId { seq: int(&mut at)? },
            ty::CLOSE => Frame::Close {
                code: int(&mut at)?,
            },
            ty::DATAGRAM => {
                let len = int(&mut at)?;
                let len = usize::try_from(len).map_err(|_| Error::Truncated)?;
                let data = body
                    .get(at..at.checked_add(len).ok_or(Error::Truncated)?)
                    .ok_or(Error::Truncated)?;
                at += len;
                Frame::Datagram(data)
            }
            ty::DATAGRAM_LAST => {
                at = body.len();
                Frame::DatagramLast(body)
            }
            _ => return Err(Error::Unsupported),
        };
        Ok((frame, 1 + at))
    }

    /// Bytes needed to emit.
    pub fn buffer_len(&self) -> usize {
        match self {
            Frame::Padding(n) => *n,
            Frame::Ping => 1,
            Frame::Ack(a) => a.buffer_len(),
            Frame::PathChallenge(_) | Frame::PathResponse(_) => 9,
            Frame::NewId { seq, id } => 1 + varint::len(*seq) + 1 + id.len(),
            Frame::RetireId { seq } => 1 + varint::len(*seq),
            Frame::Close { code } => 1 + varint::len(*code),
            Frame::Datagram(d) => 1 + varint::len(d.len() as u64) + d.len(),
            Frame::DatagramLast(d) => 1 + d.len(),
        }
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut at = 1;
        let int = |v: u64, buf: &mut [u8], at: &mut usize| -> Result<()> {
            *at += varint::write(v, &mut buf[*at..])?;
            Ok(())
        };
        match self {
            Frame::Padding(0) => return Err(Error::Malformed),
            Frame::Padding(_) => buf.fill(0),
            Frame::Ping => buf[0] = ty::PING,
            Frame::Ack(a) => {
                if a.intervals().is_none() {
                    return Err(Error::Malformed);
                }
                buf[0] = ty::ACK;
                int(a.largest, buf, &mut at)?;
                int(a.delay_us, buf, &mut at)?;
                int(a.first_range, buf, &mut at)?;
                int(a.range_count as u64, buf, &mut at)?;
                for &(g, l) in a.ranges() {
                    int(g, buf, &mut at)?;
                    int(l, buf, &mut at)?;
                }
            }
            Frame::PathChallenge(d) | Frame::PathResponse(d) => {
                buf[0] = if matches!(self, Frame::PathChallenge(_)) {
                    ty::PATH_CHALLENGE
                } else {
                    ty::PATH_RESPONSE
                };
                buf[1..9].copy_from_slice(d);
            }
            Frame::NewId { seq, id } => {
                buf[0] = ty::NEW_ID;
                int(*seq, buf, &mut at)?;
                buf[at] = id.len() as u8;
                buf[at + 1..].copy_from_slice(id.as_bytes());
            }
            Frame::RetireId { seq } => {
                buf[0] = ty::RETIRE_ID;
                int(*seq, buf, &mut at)?;
            }
            Frame::Close { code } => {
                buf[0] = ty::CLOSE;
                int(*code, buf, &mut at)?;
            }
            Frame::Datagram(d) => {
                buf[0] = ty::DATAGRAM;
                int(d.len() as u64, buf, &mut at)?;
                buf[at..].copy_from_slice(d);
            }
            Frame::DatagramLast(d) => {
                buf[0] = ty::DATAGRAM_LAST;
                buf[1..].copy_from_slice(d);
            }
        }
        Ok(len)
    }

    /// Whether receiving this frame calls for an acknowledgment (RFC 9002 §2).
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(
            self,
            Frame::Padding(_) | Frame::Ack(_) | Frame::Close { .. }
        )
    }

    /// Whether this is a probing frame (RFC 9000 §9.1): a packet of only probing frames
    /// from a new address does not move the session there.
    pub fn is_probing(&self) -> bool {
        matches!(
            self,
            Frame::Padding(_)
                | Frame::PathChallenge(_)
                | Frame::PathResponse(_)
                | Frame::NewId { .. }
        )
    }
}

/// Iterate over the frames of a decrypted payload. Stops after the first error.
#[derive(Debug, Clone)]
pub struct FrameIter<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> FrameIter<'a> {
    /// Frames in `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        FrameIter {
            buf: payload,
            failed: false,
        }
    }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        match Frame::parse(self.buf) {
            Ok((f, n)) => {
                self.buf = &self.buf[n..];
                Some(Ok(f))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const ACK: [u8; 7] = [
        0x02,       // ACK
        0x40, 0x64, // largest = 100 (2-byte varint)
        0x19,       // delay = 25 µs
        0x03,       // first range: 97..=100
        0x01,       // one more range
        0x01,       // gap 1: next largest = 97 - 1 - 2 = 94
    ];

    #[test]
    fn ack_bytes() {
        let mut buf = ACK.to_vec();
        buf.push(0x04); // range length 4: 90..=94
        let (f, n) = Frame::parse(&buf).unwrap();
        assert_eq!(n, 8);
        let Frame::Ack(a) = f else {
            panic!("not an ACK")
        };
        assert_eq!(
            a.intervals().unwrap().collect::<Vec<_>>(),
            [(97, 100), (90, 94)]
        );
        let mut out = vec![0xff; 8];
        f.emit(&mut out).unwrap();
        assert_eq!(out, buf);
        assert_eq!(Frame::parse(&ACK), Err(Error::Truncated));
    }

    #[test]
    fn ack_below_zero_is_malformed() {
        assert_eq!(
            Frame::parse(&[0x02, 0x03, 0x00, 0x04, 0x00]),
            Err(Error::Malformed)
        );
    }

    type FrameSeed = (u8, u64, u64, Vec<u8>, Vec<(u64, u64)>);

    fn frame() -> impl Strategy<Value = FrameSeed> {
        (
            0u8..10,
            0..=varint::MAX,
            0u64..1_000_000,
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec((0u64..100, 0u64..100), 0..=MAX_ACK_RANGES),
        )
    }

    fn build<'a>(
        t: u8,
        a: u64,
        b: u64,
        data: &'a [u8],
        ranges: &[(u64, u64)],
    ) -> Option<Frame<'a>> {
        Some(match t {
            0 => Frame::Padding(data.len().max(1)),
            1 => Frame::Ping,
            2 => {
                let mut ack = AckFrame::new(a, b, 0);
                for &(g, l) in ranges {
                    ack.push_range(g, l);
                }
                let _ = ack.intervals()?;
                Frame::Ack(ack)
            }
            3 => Frame::PathChallenge(a.to_le_bytes()),
            4 => Frame::PathResponse(b.to_le_bytes()),
            5 => Frame::NewId {
                seq: a,
                id: ConnectionId::new(data.get(..MIN_ID_LEN)?).ok()?,
            },
            6 => Frame::RetireId { seq: a },
            7 => Frame::Close { code: a },
            8 => Frame::Datagram(data),
            _ => Frame::DatagramLast(data),
        })
    }

    proptest! {
        #[test]
        fn round_trip((t, a, b, data, ranges) in frame()) {
            if let Some(f) = build(t, a, b, &data, &ranges) {
                let mut buf = vec![0x77; f.buffer_len()];
                prop_assert_eq!(f.emit(&mut buf), Ok(buf.len()));
                prop_assert_eq!(Frame::parse(&buf), Ok((f, buf.len())));
            }
        }

        #[test]
        fn sequences_round_trip(frames in proptest::collection::vec(frame(), 1..6)) {
            let built: Vec<Frame<'_>> = frames.iter()
                .filter_map(|(t, a, b, d, r)| build(*t % 9, *a, *b, d, r))
                .filter(|f| !matches!(f, Frame::Padding(_)))
                .collect();
            let mut buf = vec![0u8; built.iter().map(Frame::buffer_len).sum()];
            let mut at = 0;
            for f in &built {
                at += f.emit(&mut buf[at..]).unwrap();
            }
            let parsed: Vec<Frame<'_>> = FrameIter::new(&buf).map(Result::unwrap).collect();
            prop_assert_eq!(parsed, built);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            // parse, emit, parse again: must agree.
            for f in FrameIter::new(&bytes).flatten() {
                let mut out = vec![0; f.buffer_len()];
                if f.emit(&mut out).is_ok() {
                    prop_assert_eq!(Frame::parse(&out), Ok((f, out.len())));
                }
            }
        }
    }
}
