//! A link over any byte stream — a serial line, a pipe, a TCP connection — with the wire
//! crate's stream framing (feature `std`).
//!
//! [`StreamLink`] is a smoltcp [`Device`] (`Medium::Ip`) that puts each transmitted frame on
//! the stream as `0x00 COBS(frame || CRC-32C) 0x00` ([`bridgeless_wire::stream`]) and decodes
//! frames from the bytes it reads. A damaged frame (noise, lost or flipped bytes, a cut) fails
//! its check and is counted in [`StreamLinkCounters::decoder`]; the next delimiter
//! resynchronises, so one damaged frame costs that frame only. Frames longer than the MTU are
//! refused on transmit and, on receive, skipped by the decoder (counted as `too_long`).
//!
//! # Blocking
//!
//! The link never waits on purpose, so the stream should be **non-blocking**
//! (`set_nonblocking(true)` on sockets and pipes) or **blocking with a short timeout** (a
//! serial port opened with a read/write timeout, `TcpStream::set_read_timeout`): `WouldBlock`
//! and `TimedOut` mean "nothing more for now". With a fully blocking stream,
//! [`Device::receive`] blocks until bytes arrive, which stalls the interface's timers.
//!
//! # Queues
//!
//! Encoded frames go to a bounded outgoing byte queue ([`StreamLinkConfig::tx_queue_bytes`])
//! that is written out whenever the device is used and whenever [`StreamLink::poll_flush`] is
//! called, so a stream that accepts only part of a write loses nothing. When the queue cannot
//! take a frame of the full MTU, [`Device::transmit`] returns `None` (counted as `deferred`):
//! smoltcp keeps the data in its socket buffers and tries again at the next poll, which is
//! what TCP wants on a slow serial line. The transmit token that smoltcp gets together with a
//! received frame cannot be refused that way; if the queue is full then, the frame is dropped
//! and counted as `dropped_full`.
#![cfg(feature = "std")]

use std::io::{self, ErrorKind, Read, Write};
use std::vec::Vec;

use bridgeless_wire::stream::{Decoder, DecoderStats, decoder_buffer_len, encode, encoded_len_max};
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

use super::util::{PendingFrame, ip_capabilities, refuse_too_big};

/// At most this many reads per [`Device::receive`] call looking for a complete frame, so that
/// a stream that never stops delivering noise cannot hold the caller forever.
const MAX_READS_PER_RECEIVE: usize = 16;

/// At most this many writes per flush (a write may be interrupted or partial).
const MAX_WRITES_PER_FLUSH: usize = 16;

/// Settings of a [`StreamLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLinkConfig {
    /// The link MTU: the largest frame sent or accepted. Both ends must agree. IPv6 needs at
    /// least 1280 (RFC 8200 §5). Default: 1500.
    pub mtu: usize,
    /// The most encoded bytes waiting to be written to the stream; raised to at least one
    /// frame of the full MTU. Default: 64 KiB.
    pub tx_queue_bytes: usize,
    /// How many bytes one read asks for. Default: 4096.
    pub read_chunk: usize,
}

impl Default for StreamLinkConfig {
    fn default() -> Self {
        StreamLinkConfig {
            mtu: 1500,
            tx_queue_bytes: 64 * 1024,
            read_chunk: 4096,
        }
    }
}

/// What a [`StreamLink`] has done. Every frame not carried is counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StreamLinkCounters {
    /// Frames encoded onto the outgoing queue.
    pub tx_frames: u64,
    /// Bytes written to the stream.
    pub tx_bytes: u64,
    /// Frames decoded intact and handed to the interface.
    pub rx_frames: u64,
    /// Bytes read from the stream.
    pub rx_bytes: u64,
    /// Frames refused on transmit because they were longer than the MTU.
    pub too_big: u64,
    /// Frames dropped on transmit because the outgoing queue was full.
    pub dropped_full: u64,
    /// Times [`Device::transmit`] said "not now" because the outgoing queue was full.
    pub deferred: u64,
    /// Reads that failed (other than "would block" or "timed out").
    pub read_errors: u64,
    /// Writes that failed (other than "would block" or "timed out"), or wrote nothing.
    pub write_errors: u64,
    /// What the decoder saw, frames lost by reason included (FCS, COBS, too long, short).
    pub decoder: DecoderStats,
}

/// The receiving half: the decoder and the frame it delivered last.
struct RxState {
    decoder: Decoder<Vec<u8>>,
    input: Vec<u8>,
    in_pos: usize,
    in_len: usize,
    frame: Vec<u8>,
    /// Length of the decoded frame in `frame` not yet consumed by the interface.
    pending: Option<usize>,
    closed: bool,
    rx_frames: u64,
    rx_bytes: u64,
    read_errors: u64,
}

/// The sending half: the frame being built and the outgoing byte queue.
struct TxState {
    mtu: usize,
    frame: Vec<u8>,
    /// Encoded bytes; those before `start` have been written already.
    out: Vec<u8>,
    start: usize,
    capacity: usize,
    tx_frames: u64,
    tx_bytes: u64,
    too_big: u64,
    dropped_full: u64,
    deferred: u64,
    write_errors: u64,
    last_error: Option<ErrorKind>,
}

impl TxState {
    fn queued(&self) -> usize {
        self.out.len() - self.start
    }

    fn has_room_for(&self, frame_len: usize) -> bool {
        self.queued() + encoded_len_max(frame_len) <= self.capacity
    }

    /// Writes as much of the queue as the stream takes now.
    fn flush<S: Write>(&mut self, stream: &mut S) {
        let mut wrote = false;
        for _ in 0..MAX_WRITES_PER_FLUSH {
            let Some(rest) = self.out.get(self.start..).filter(|r| !r.is_empty()) else {
                break;
            };
            match stream.write(rest) {
                Ok(0) => {
                    self.write_error(ErrorKind::WriteZero);
                    break;
                }
                Ok(n) => {
                    self.start += n;
                    self.tx_bytes += n as u64;
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_not_now(&e) => break,
                Err(e) => {
                    self.write_error(e.kind());
                    break;
                }
            }
        }
        if wrote {
            match stream.flush() {
                Ok(()) => {}
                Err(e) if is_not_now(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.write_error(e.kind()),
            }
        }
        if self.start == self.out.len() {
            self.out.clear();
            self.start = 0;
        } else if self.start > self.out.len() / 2 {
            self.out.drain(..self.start);
            self.start = 0;
        }
    }

    fn write_error(&mut self, kind: ErrorKind) {
        log::debug!("stream link: write failed: {kind}");
        self.write_errors += 1;
        self.last_error = Some(kind);
    }

    /// Encodes the first `len` bytes of `frame` onto the queue, or counts the drop.
    fn enqueue(&mut self, len: usize) {
        if !self.has_room_for(len) {
            self.dropped_full += 1;
            return;
        }
        let old = self.out.len();
        self.out.resize(old + encoded_len_max(len), 0);
        let (Some(frame), Some(space)) = (self.frame.get(..len), self.out.get_mut(old..)) else {
            self.out.truncate(old);
            return;
        };
        match encode(frame, space) {
            Ok(n) => {
                self.out.truncate(old + n);
                self.tx_frames += 1;
            }
            Err(e) => {
                // Unreachable: the space reserved is encoded_len_max(len). Count, not panic.
                log::warn!("stream link: encoding failed: {e}");
                self.out.truncate(old);
                self.dropped_full += 1;
            }
        }
    }
}

/// `WouldBlock` and `TimedOut` both mean "no more for now" (see the module documentation).
fn is_not_now(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A smoltcp [`Device`] carrying bare IP frames over a byte stream. See the
/// [module documentation](self).
pub struct StreamLink<S: Read + Write> {
    stream: S,
    rx: RxState,
    tx: TxState,
}

impl<S: Read + Write> core::fmt::Debug for StreamLink<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamLink")
            .field("mtu", &self.tx.mtu)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> StreamLink<S> {
    /// Makes a link over `stream`, which should be non-blocking or have timeouts (see the
    /// module documentation).
    pub fn new(stream: S, config: StreamLinkConfig) -> Self {
        let mtu = config.mtu;
        StreamLink {
            stream,
            rx: RxState {
                decoder: Decoder::new(vec![0; decoder_buffer_len(mtu)]),
                input: vec![0; config.read_chunk.max(1)],
                in_pos: 0,
                in_len: 0,
                frame: vec![0; mtu],
                pending: None,
                closed: false,
                rx_frames: 0,
                rx_bytes: 0,
                read_errors: 0,
            },
            tx: TxState {
                mtu,
                frame: vec![0; mtu],
                out: Vec::new(),
                start: 0,
                capacity: config.tx_queue_bytes.max(encoded_len_max(mtu)),
                tx_frames: 0,
                tx_bytes: 0,
                too_big: 0,
                dropped_full: 0,
                deferred: 0,
                write_errors: 0,
                last_error: None,
            },
        }
    }

    /// The link MTU.
    pub fn mtu(&self) -> usize {
        self.tx.mtu
    }

    /// What the link has done so far.
    pub fn counters(&self) -> StreamLinkCounters {
        StreamLinkCounters {
            tx_frames: self.tx.tx_frames,
            tx_bytes: self.tx.tx_bytes,
            rx_frames: self.rx.rx_frames,
            rx_bytes: self.rx.rx_bytes,
            too_big: self.tx.too_big,
            dropped_full: self.tx.dropped_full,
            deferred: self.tx.deferred,
            read_errors: self.rx.read_errors,
            write_errors: self.tx.write_errors,
            decoder: self.rx.decoder.stats(),
        }
    }

    /// The kind of the last read or write error, if any.
    pub fn last_error(&self) -> Option<ErrorKind> {
        self.tx.last_error
    }

    /// Whether the stream has reached its end (a read returned 0 bytes): no frame will arrive.
    pub fn is_closed(&self) -> bool {
        self.rx.closed
    }

    /// Encoded bytes waiting to be written to the stream.
    pub fn pending_tx_bytes(&self) -> usize {
        self.tx.queued()
    }

    /// Writes queued bytes as far as the stream takes them now; returns whether the queue is
    /// empty. Call it when the stream becomes writable if the interface has nothing to send.
    pub fn poll_flush(&mut self) -> bool {
        self.tx.flush(&mut self.stream);
        self.tx.queued() == 0
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream. Reading or writing it directly corrupts the framing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives the stream back; queued outgoing bytes and partly read frames are lost.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Reads and decodes until a frame is complete, the stream has nothing more for now, or
    /// the read budget is spent. Returns whether a frame is pending.
    fn fill_frame(&mut self) -> bool {
        let rx = &mut self.rx;
        if rx.pending.is_some() {
            return true;
        }
        let mut reads = 0;
        loop {
            while rx.in_pos < rx.in_len {
                let input = rx.input.get(rx.in_pos..rx.in_len).unwrap_or_default();
                let (used, event) = rx.decoder.feed(input);
                rx.in_pos += used.max(1);
                match event {
                    Some(Ok(frame)) => {
                        if let Some(dst) = rx.frame.get_mut(..frame.len()) {
                            dst.copy_from_slice(frame);
                            rx.pending = Some(frame.len());
                            rx.rx_frames += 1;
                            return true;
                        }
                    }
                    Some(Err(e)) => log::debug!("stream link: frame lost: {e}"),
                    None => {}
                }
            }
            if rx.closed || reads >= MAX_READS_PER_RECEIVE {
                return false;
            }
            reads += 1;
            match self.stream.read(&mut rx.input) {
                Ok(0) => {
                    log::debug!("stream link: end of stream");
                    rx.closed = true;
                    return false;
                }
                Ok(n) => {
                    rx.in_pos = 0;
                    rx.in_len = n.min(rx.input.len());
                    rx.rx_bytes += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_not_now(&e) => return false,
                Err(e) => {
                    log::debug!("stream link: read failed: {e}");
                    rx.read_errors += 1;
                    self.tx.last_error = Some(e.kind());
                    return false;
                }
            }
        }
    }
}

impl<S: Read + Write> Device for StreamLink<S> {
    type RxToken<'a>
        = StreamRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = StreamTxToken<'a, S>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.tx.flush(&mut self.stream);
        if !self.fill_frame() {
            return None;
        }
        Some((
            StreamRxToken(PendingFrame::new(&self.rx.frame, &mut self.rx.pending)?),
            StreamTxToken {
                stream: &mut self.stream,
                tx: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.tx.flush(&mut self.stream);
        if !self.tx.has_room_for(self.tx.mtu) {
            self.tx.deferred += 1;
            return None;
        }
        Some(StreamTxToken {
            stream: &mut self.stream,
            tx: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        ip_capabilities(self.tx.mtu)
    }
}

/// A frame decoded from a [`StreamLink`].
pub struct StreamRxToken<'a>(PendingFrame<'a>);

impl phy::RxToken for StreamRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        self.0.consume(f)
    }
}

/// Sends one frame over a [`StreamLink`].
pub struct StreamTxToken<'a, S: Write> {
    stream: &'a mut S,
    tx: &'a mut TxState,
}

impl<S: Write> phy::TxToken for StreamTxToken<'_, S> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        let Some(buffer) = tx.frame.get_mut(..len) else {
            return refuse_too_big("stream link", len, &mut tx.too_big, f);
        };
        let result = f(buffer);
        tx.enqueue(len);
        tx.flush(self.stream);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phy::{RxToken, TxToken};
    use std::collections::VecDeque;

    /// A stream whose reads come from `input` and whose writes go to `output`, accepting at
    /// most `write_limit` bytes per write and `room` bytes in all before "would block".
    #[derive(Default)]
    struct Pipe {
        input: VecDeque<u8>,
        output: Vec<u8>,
        write_limit: usize,
        room: usize,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.input.len());
            for (slot, byte) in buf.iter_mut().zip(self.input.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.write_limit).min(self.room);
            if n == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.room -= n;
            self.output.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn config(mtu: usize) -> StreamLinkConfig {
        StreamLinkConfig {
            mtu,
            tx_queue_bytes: 0,
            read_chunk: 7,
        }
    }

    #[test]
    fn partial_writes_lose_nothing_and_full_queue_defers() {
        let pipe = Pipe {
            write_limit: 5,
            room: 0,
            ..Default::default()
        };
        let mut link = StreamLink::new(pipe, config(100));
        link.transmit(Instant::ZERO)
            .unwrap()
            .consume(100, |b| b.fill(0x61));
        assert!(link.pending_tx_bytes() > 0);
        // The queue holds one full-MTU frame only: the next transmit must wait.
        assert!(link.transmit(Instant::ZERO).is_none());
        assert_eq!(link.counters().deferred, 1);
        link.get_mut().room = usize::MAX;
        while !link.poll_flush() {}
        let wire = link.get_ref().output.clone();
        let mut decoder = Decoder::new(vec![0u8; 200]);
        let mut frames = 0;
        decoder.feed_all(&wire, |f| {
            assert_eq!(f.unwrap(), [0x61; 100]);
            frames += 1;
        });
        assert_eq!(frames, 1);
        assert_eq!(link.counters().tx_bytes, wire.len() as u64);
    }

    #[test]
    fn frames_split_across_reads_and_errors_counted() {
        let mut wire = vec![0u8; 512];
        let mut input = Vec::new();
        let mut starts = Vec::new();
        for frame in [&b"\x60first"[..], b"\x60second", b"\x60third"] {
            let n = encode(frame, &mut wire).unwrap();
            starts.push(input.len());
            input.extend_from_slice(&wire[..n]);
        }
        // Damage one byte inside the second frame.
        input[starts[1] + 4] ^= 0x40;
        let pipe = Pipe {
            input: input.into(),
            ..Default::default()
        };
        let mut link = StreamLink::new(pipe, config(64));
        let mut got = Vec::new();
        while let Some((rx, _)) = link.receive(Instant::ZERO) {
            got.push(rx.consume(|f| f.to_vec()));
        }
        assert_eq!(got, [b"\x60first".to_vec(), b"\x60third".to_vec()]);
        let c = link.counters();
        assert_eq!((c.rx_frames, c.decoder.errors()), (2, 1));
    }

    #[test]
    fn oversize_transmit_refused_and_end_of_stream_seen() {
        let pipe = Pipe {
            write_limit: usize::MAX,
            room: usize::MAX,
            ..Default::default()
        };
        let mut link = StreamLink::new(pipe, config(32));
        link.transmit(Instant::ZERO)
            .unwrap()
            .consume(33, |b| b.fill(1));
        assert_eq!(link.counters().too_big, 1);
        assert_eq!(link.counters().tx_frames, 0);
        assert!(link.get_ref().output.is_empty());

        let mut closed = StreamLink::new(io::Cursor::new(Vec::<u8>::new()), config(32));
        assert!(closed.receive(Instant::ZERO).is_none());
        assert!(closed.is_closed());
    }

    proptest::proptest! {
        /// Frames cross a stream that takes writes in pieces of any size and is read in
        /// chunks of any size, intact and in order.
        #[test]
        fn frames_survive_partial_writes_and_reads(
            frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..=80), 0..20),
            write_limit in 1usize..50,
            read_chunk in 1usize..50,
        ) {
            let pipe = Pipe { write_limit, room: usize::MAX, ..Default::default() };
            let mut tx = StreamLink::new(pipe, StreamLinkConfig { mtu: 80, tx_queue_bytes: 0, read_chunk });
            let mut sent = Vec::new();
            for frame in &frames {
                // The queue takes one full frame at a time: flush until it has room.
                for _ in 0..1000 {
                    if tx.transmit(Instant::ZERO).is_some() {
                        break;
                    }
                }
                tx.transmit(Instant::ZERO)
                    .expect("queue never drained")
                    .consume(frame.len(), |b| b.copy_from_slice(frame));
                sent.push(frame.clone());
            }
            while !tx.poll_flush() {}
            let wire = core::mem::take(&mut tx.get_mut().output);
            let mut rx = StreamLink::new(
                Pipe { input: wire.into(), ..Default::default() },
                StreamLinkConfig { mtu: 80, tx_queue_bytes: 0, read_chunk },
            );
            let mut got = Vec::new();
            for _ in 0..100_000 {
                let frame = rx
                    .receive(Instant::ZERO)
                    .map(|(token, _)| token.consume(|f| f.to_vec()));
                match frame {
                    Some(frame) => got.push(frame),
                    None if rx.get_ref().input.is_empty() => break,
                    None => {}
                }
            }
            proptest::prop_assert_eq!(got, sent);
            proptest::prop_assert_eq!(rx.counters().decoder.errors(), 0);
        }
    }
}
