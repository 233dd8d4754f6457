//! A smoltcp device wrapper that watches the TCP segments the inner stack sends (which
//! stream bytes went out, and which of them had gone out before: retransmissions) and when
//! it last received one.

use std::cell::RefCell;

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv6Packet, TcpPacket};

/// A retransmitted range of the stream, as the sender put it on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Resent {
    pub at: Instant,
    /// Stream offsets (byte 0 is the one after the SYN).
    pub start: u64,
    pub end: u64,
    /// When the stack had last received a TCP segment (an acknowledgment, for a sender).
    pub last_rx: Option<Instant>,
}

/// What the sender sent, in stream offsets.
#[derive(Debug, Default)]
pub struct SeqTap {
    /// The initial sequence number (from our SYN).
    isn: Option<u32>,
    /// One past the highest stream byte sent so far.
    pub high: u64,
    /// Payload bytes sent, first transmissions and retransmissions.
    pub bytes_sent: u64,
    /// Segments with payload that carried bytes already sent once, and when.
    pub resent: Vec<Resent>,
    /// When the stack last received a TCP segment.
    pub last_rx: Option<Instant>,
}

impl SeqTap {
    fn record(&mut self, now: Instant, packet: &[u8]) {
        let Ok(ip) = Ipv6Packet::new_checked(packet) else {
            return;
        };
        if ip.next_header() != IpProtocol::Tcp {
            return;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            return;
        };
        let seq = tcp.seq_number().0 as u32;
        if tcp.syn() {
            self.isn = Some(seq);
            return;
        }
        let Some(isn) = self.isn else { return };
        let len = tcp.payload().len() as u64;
        if len == 0 {
            return;
        }
        let start = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
        let end = start + len;
        self.bytes_sent += len;
        if start < self.high {
            self.resent.push(Resent {
                at: now,
                start,
                end: end.min(self.high),
                last_rx: self.last_rx,
            });
        }
        self.high = self.high.max(end);
    }

    fn received(&mut self, now: Instant, packet: &[u8]) {
        if Ipv6Packet::new_checked(packet).is_ok_and(|ip| ip.next_header() == IpProtocol::Tcp) {
            self.last_rx = Some(now);
        }
    }

    /// Bytes sent more than once, in segments sent at or after `from`.
    pub fn resent_bytes_since(&self, from: Instant) -> u64 {
        self.resent
            .iter()
            .filter(|r| r.at >= from)
            .map(|r| r.end - r.start)
            .sum()
    }

    /// Retransmitted segments sent at or after `from`.
    pub fn resent_segments_since(&self, from: Instant) -> usize {
        self.resent.iter().filter(|r| r.at >= from).count()
    }
}

/// `inner` with every packet shown to `tap`.
pub struct Tap<'t, D> {
    pub inner: D,
    pub tap: &'t RefCell<SeqTap>,
    pub now: Instant,
}

pub struct TapRx<'t, T> {
    inner: T,
    tap: &'t RefCell<SeqTap>,
    now: Instant,
}

pub struct TapTx<'t, T> {
    inner: T,
    tap: &'t RefCell<SeqTap>,
    now: Instant,
}

impl<D: Device> Device for Tap<'_, D> {
    type RxToken<'a>
        = TapRx<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = TapTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        Some((
            TapRx {
                inner: rx,
                tap: self.tap,
                now: self.now,
            },
            TapTx {
                inner: tx,
                tap: self.tap,
                now: self.now,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(now)?;
        Some(TapTx {
            inner: tx,
            tap: self.tap,
            now: self.now,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<T: phy::RxToken> phy::RxToken for TapRx<'_, T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let TapRx { inner, tap, now } = self;
        inner.consume(|buf| {
            tap.borrow_mut().received(now, buf);
            f(buf)
        })
    }
}

impl<T: phy::TxToken> phy::TxToken for TapTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let TapTx { inner, tap, now } = self;
        inner.consume(len, |buf| {
            let r = f(buf);
            tap.borrow_mut().record(now, buf);
            r
        })
    }
}
