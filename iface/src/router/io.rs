//! How the router drives its links: any smoltcp [`Device`] is a [`LinkIo`].

use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::Instant;

/// One of a router's links, as its driver ([`Router::poll`](super::Router::poll)) uses it:
/// frames in, frames out. Every smoltcp [`Device`] of this crate (memory link, TUN, UDP link,
/// byte stream, pcap tap) is one, so a router can join any mix of them.
pub trait LinkIo {
    /// Takes the next received frame, if any, and copies it into `buf`; returns its length.
    /// A frame longer than `buf` is cut to `buf.len()` (the router then finds its Payload
    /// Length too long and counts it as truncated).
    fn receive_frame(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;

    /// Sends a `len`-octet frame that `fill` writes; `false` if the device had no room.
    fn transmit_frame(&mut self, now: Instant, len: usize, fill: &mut dyn FnMut(&mut [u8]))
    -> bool;
}

impl<D: Device> LinkIo for D {
    fn receive_frame(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let (rx, _) = self.receive(now)?;
        Some(rx.consume(|frame| {
            let n = frame.len().min(buf.len());
            buf[..n].copy_from_slice(&frame[..n]);
            n
        }))
    }

    fn transmit_frame(
        &mut self,
        now: Instant,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]),
    ) -> bool {
        match self.transmit(now) {
            Some(tx) => {
                tx.consume(len, |buf| fill(buf));
                true
            }
            None => false,
        }
    }
}
