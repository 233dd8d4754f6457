//! A smoltcp device wrapper that watches the frames going through it: the group's packets
//! received (per link, into the [`Recorder`]) and the TCP segments sent (to count
//! retransmissions, which smoltcp does not report).

use core::cell::RefCell;

use smoltcp::phy::{Device, DeviceCapabilities, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

use super::record::Recorder;

/// TCP segments with payload that one side sent, by sequence number.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpSent {
    /// One past the highest sequence number sent so far.
    highest_end: Option<u32>,
    /// Segments that carried payload.
    pub segments: u64,
    /// Of those, segments that carried no new byte or only part new (a retransmission).
    pub retransmitted_segments: u64,
    /// Payload bytes sent again.
    pub retransmitted_bytes: u64,
}

impl TcpSent {
    /// Looks at one IPv6 packet sent: a TCP segment with payload (no extension headers, as
    /// smoltcp sends them) is counted.
    fn observe(&mut self, packet: &[u8]) {
        if packet.len() < 60 || packet[0] >> 4 != 6 || packet[6] != 6 {
            return;
        }
        let payload_len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
        let tcp = &packet[40..];
        let header_len = usize::from(tcp[12] >> 4) * 4;
        let Some(data) = payload_len.checked_sub(header_len).filter(|&n| n > 0) else {
            return;
        };
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let end = seq.wrapping_add(data as u32);
        self.segments += 1;
        match self.highest_end {
            Some(high) if (high.wrapping_sub(seq) as i32) > 0 => {
                // Starts below what was sent already: some or all of it is a repeat.
                self.retransmitted_segments += 1;
                let repeated = high.wrapping_sub(seq).min(data as u32);
                self.retransmitted_bytes += u64::from(repeated);
                if (end.wrapping_sub(high) as i32) > 0 {
                    self.highest_end = Some(end);
                }
            }
            _ => self.highest_end = Some(end),
        }
    }
}

/// What to watch for.
pub struct Watch<'a, D: Device> {
    inner: &'a mut D,
    /// Counts group packets received into the recorder, under this link index.
    group: Option<(&'a RefCell<Recorder>, usize, Ipv6Address)>,
    /// Counts TCP segments sent.
    tcp: Option<&'a mut TcpSent>,
    now: Instant,
}

impl<'a, D: Device> Watch<'a, D> {
    /// Watches nothing yet.
    pub fn new(inner: &'a mut D, now: Instant) -> Self {
        Watch {
            inner,
            group: None,
            tcp: None,
            now,
        }
    }

    /// Counts the packets to `group` received over link `link` (if attached).
    pub fn group(
        mut self,
        recorder: &'a RefCell<Recorder>,
        link: Option<usize>,
        group: Ipv6Address,
    ) -> Self {
        self.group = link.map(|l| (recorder, l, group));
        self
    }

    /// Counts the TCP segments sent into `tcp`.
    pub fn tcp(mut self, tcp: &'a mut TcpSent) -> Self {
        self.tcp = Some(tcp);
        self
    }
}

/// A received frame, looked at before the stack gets it.
pub struct WatchRx<'a, R: RxToken> {
    inner: R,
    group: Option<(&'a RefCell<Recorder>, usize, Ipv6Address)>,
    now: Instant,
}

/// A frame to send, looked at after the stack wrote it.
pub struct WatchTx<'a, T: TxToken> {
    inner: T,
    tcp: Option<&'a mut TcpSent>,
}

impl<D: Device> Device for Watch<'_, D> {
    type RxToken<'b>
        = WatchRx<'b, D::RxToken<'b>>
    where
        Self: 'b;
    type TxToken<'b>
        = WatchTx<'b, D::TxToken<'b>>
    where
        Self: 'b;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            WatchRx {
                inner: rx,
                group: self.group,
                now: self.now,
            },
            WatchTx {
                inner: tx,
                tcp: self.tcp.as_deref_mut(),
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(timestamp)?;
        Some(WatchTx {
            inner: tx,
            tcp: self.tcp.as_deref_mut(),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<R: RxToken> RxToken for WatchRx<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        let (group, now) = (self.group, self.now);
        self.inner.consume(|frame| {
            if let Some((recorder, link, group)) = group
                && frame.len() >= 40
                && frame[0] >> 4 == 6
                && frame[24..40] == group.octets()
            {
                recorder.borrow_mut().group_packet(link, now);
            }
            f(frame)
        })
    }
}

impl<T: TxToken> TxToken for WatchTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tcp = self.tcp;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            if let Some(tcp) = tcp {
                tcp.observe(buf);
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TcpSent;

    /// An IPv6 packet with a 20-byte TCP header, `seq` and `len` payload bytes.
    fn segment(seq: u32, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; 60 + len];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + len) as u16).to_be_bytes());
        p[6] = 6;
        p[44..48].copy_from_slice(&seq.to_be_bytes());
        p[52] = 0x50;
        p
    }

    #[test]
    fn retransmissions_are_segments_that_start_below_the_highest_sent() {
        let mut t = TcpSent::default();
        t.observe(&segment(u32::MAX - 99, 100)); // wraps to 0
        t.observe(&segment(0, 100));
        t.observe(&segment(50, 100)); // half repeated
        t.observe(&segment(0, 100)); // all repeated
        t.observe(&segment(150, 0)); // a pure ACK: not counted
        assert_eq!(t.segments, 4);
        assert_eq!(t.retransmitted_segments, 2);
        assert_eq!(t.retransmitted_bytes, 150);
    }
}
