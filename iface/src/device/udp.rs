//! A point-to-point link carried over UDP: one frame per datagram (feature `std`).
//!
//! Two processes, on one host or on two hosts anywhere on an IP network, each make a
//! [`UdpLink`] naming the other's socket address as its peer, and their smoltcp interfaces
//! then share a point-to-point link. Each frame (a whole IP packet) travels as the payload of
//! one UDP datagram; there is no header of ours, so a capture of the UDP payloads is a capture
//! of the link.
//!
//! It is a **point-to-point** link: datagrams from any address other than the peer's are
//! dropped and counted (`wrong_source`), so a stray or hostile sender cannot inject frames
//! without also forging the peer's address (use the roaming session layer for authentication).
//! The socket is left unconnected so that those datagrams can be counted rather than silently
//! filtered by the kernel.
//!
//! # MTU
//!
//! The link MTU should leave room for the carrier's headers: a path MTU of 1500 leaves 1452
//! bytes of UDP payload over IPv6 (40 + 8 bytes of headers) and 1472 over IPv4. Larger frames
//! still work where the carrier fragments (IPv4, or IPv6 at the sending host), at the cost of
//! losing the whole frame with any fragment. Frames longer than the link MTU are refused on
//! transmit (`too_big`); datagrams longer than the MTU are dropped on receive
//! (`oversize_rx`), detected with a receive buffer one byte longer than the MTU.
//!
//! UDP may lose, duplicate and reorder datagrams; IP above copes, as it must on any link. A
//! send that would block (socket buffer full) drops the frame (`tx_would_block`), as a full
//! transmit queue does on a real interface.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::vec::Vec;

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

use super::util::{PendingFrame, ip_capabilities, refuse_too_big};

/// At most this many datagrams are read per [`Device::receive`] call looking for one from the
/// peer, so that a flood from elsewhere cannot hold the caller forever.
const MAX_READS_PER_RECEIVE: usize = 64;

/// What a [`UdpLink`] has done. Every frame not carried is counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UdpLinkCounters {
    /// Frames sent as datagrams.
    pub tx_frames: u64,
    /// Frames received from the peer and handed to the interface.
    pub rx_frames: u64,
    /// Frames refused on transmit because they were longer than the MTU.
    pub too_big: u64,
    /// Frames dropped because the socket's send buffer was full.
    pub tx_would_block: u64,
    /// Sends that failed otherwise (no route, message too long for the carrier, ...).
    pub send_errors: u64,
    /// Datagrams from the peer longer than the MTU, dropped.
    pub oversize_rx: u64,
    /// Datagrams from an address other than the peer's, dropped.
    pub wrong_source: u64,
    /// Receives that failed (other than "would block").
    pub recv_errors: u64,
}

/// The same address, reading IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a dual-stack
/// socket reports IPv4 senders) as the IPv4 address they map.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    fn canonical(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        }
    }
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

/// A smoltcp [`Device`] (`Medium::Ip`) carrying one frame per UDP datagram to and from one
/// peer. See the [module documentation](self).
pub struct UdpLink {
    socket: UdpSocket,
    peer: SocketAddr,
    mtu: usize,
    /// MTU + 1 bytes, to tell a datagram of exactly the MTU from a longer one.
    rx: Vec<u8>,
    /// Length of the received frame in `rx` not yet consumed by the interface.
    pending: Option<usize>,
    tx: Vec<u8>,
    counters: UdpLinkCounters,
    last_error: Option<ErrorKind>,
}

impl core::fmt::Debug for UdpLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UdpLink")
            .field("local", &self.socket.local_addr().ok())
            .field("peer", &self.peer)
            .field("mtu", &self.mtu)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl UdpLink {
    /// Makes a link over `socket` (switched to non-blocking) to `peer`, with link MTU `mtu`.
    pub fn new(socket: UdpSocket, peer: SocketAddr, mtu: usize) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(UdpLink {
            socket,
            peer,
            mtu,
            rx: vec![0; mtu.saturating_add(1)],
            pending: None,
            tx: vec![0; mtu],
            counters: UdpLinkCounters::default(),
            last_error: None,
        })
    }

    /// Binds a socket to `local` and makes a link over it to `peer` (the first address `peer`
    /// resolves to).
    pub fn bind(
        local: impl ToSocketAddrs,
        peer: impl ToSocketAddrs,
        mtu: usize,
    ) -> io::Result<Self> {
        let peer = peer
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no peer address"))?;
        UdpLink::new(UdpSocket::bind(local)?, peer, mtu)
    }

    /// The local address of the socket (useful after binding to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Changes the peer's address, for instance once it is known after binding to port 0.
    pub fn set_peer(&mut self, peer: SocketAddr) {
        self.peer = peer;
    }

    /// The link MTU.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// What the link has done so far.
    pub fn counters(&self) -> UdpLinkCounters {
        self.counters
    }

    /// The kind of the last send or receive error, if any.
    pub fn last_error(&self) -> Option<ErrorKind> {
        self.last_error
    }

    /// The socket, for instance to wait for it to become readable.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Reads datagrams until one from the peer fits the MTU; returns whether a frame is
    /// pending.
    fn fill_frame(&mut self) -> bool {
        if self.pending.is_some() {
            return true;
        }
        for _ in 0..MAX_READS_PER_RECEIVE {
            match self.socket.recv_from(&mut self.rx) {
                Ok((_, from)) if !same_endpoint(from, self.peer) => {
                    log::debug!("udp link: dropped a datagram from {from}, not the peer");
                    self.counters.wrong_source += 1;
                }
                Ok((n, _)) if n > self.mtu => {
                    log::debug!("udp link: dropped a datagram over the MTU");
                    self.counters.oversize_rx += 1;
                }
                Ok((n, _)) => {
                    self.pending = Some(n);
                    self.counters.rx_frames += 1;
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) => {
                    // For instance an ICMP error reported on some systems: count and go on
                    // at the next poll.
                    log::debug!("udp link: receive failed: {e}");
                    self.counters.recv_errors += 1;
                    self.last_error = Some(e.kind());
                    return false;
                }
            }
        }
        false
    }
}

impl Device for UdpLink {
    type RxToken<'a>
        = UdpRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = UdpTxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.fill_frame() {
            return None;
        }
        Some((
            UdpRxToken(PendingFrame::new(&self.rx, &mut self.pending)?),
            UdpTxToken {
                socket: &self.socket,
                peer: self.peer,
                buffer: &mut self.tx,
                counters: &mut self.counters,
                last_error: &mut self.last_error,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(UdpTxToken {
            socket: &self.socket,
            peer: self.peer,
            buffer: &mut self.tx,
            counters: &mut self.counters,
            last_error: &mut self.last_error,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        ip_capabilities(self.mtu)
    }
}

/// A frame received over a [`UdpLink`].
pub struct UdpRxToken<'a>(PendingFrame<'a>);

impl phy::RxToken for UdpRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        self.0.consume(f)
    }
}

/// Sends one frame over a [`UdpLink`] as one datagram.
pub struct UdpTxToken<'a> {
    socket: &'a UdpSocket,
    peer: SocketAddr,
    buffer: &'a mut Vec<u8>,
    counters: &'a mut UdpLinkCounters,
    last_error: &'a mut Option<ErrorKind>,
}

impl phy::TxToken for UdpTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let Some(frame) = self.buffer.get_mut(..len) else {
            return refuse_too_big("udp link", len, &mut self.counters.too_big, f);
        };
        let result = f(frame);
        let frame = &*frame;
        loop {
            match self.socket.send_to(frame, self.peer) {
                Ok(_) => self.counters.tx_frames += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.counters.tx_would_block += 1,
                Err(e) => {
                    log::debug!("udp link: send to {} failed: {e}", self.peer);
                    self.counters.send_errors += 1;
                    *self.last_error = Some(e.kind());
                }
            }
            break;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phy::{RxToken, TxToken};

    fn pair(mtu: usize) -> (UdpLink, UdpLink) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        (
            UdpLink::new(a, ba, mtu).unwrap(),
            UdpLink::new(b, aa, mtu).unwrap(),
        )
    }

    /// Receives with a bounded number of attempts (loopback delivery is quick but not
    /// guaranteed to be synchronous).
    fn recv(link: &mut UdpLink) -> Option<Vec<u8>> {
        for _ in 0..1000 {
            if let Some((rx, _)) = link.receive(Instant::ZERO) {
                return Some(rx.consume(|f| f.to_vec()));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        None
    }

    #[test]
    fn filters_sources_and_sizes() {
        let (mut a, mut b) = pair(64);
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        stranger
            .send_to(b"\x60nope", b.local_addr().unwrap())
            .unwrap();
        a.socket()
            .send_to(&[0x60; 65], b.local_addr().unwrap())
            .unwrap();
        a.socket()
            .send_to(&[0x60; 64], b.local_addr().unwrap())
            .unwrap();
        assert_eq!(recv(&mut b).unwrap(), [0x60; 64]);
        let c = b.counters();
        assert_eq!((c.wrong_source, c.oversize_rx, c.rx_frames), (1, 1, 1));

        a.transmit(Instant::ZERO)
            .unwrap()
            .consume(65, |f| f.fill(0x60));
        assert_eq!(a.counters().too_big, 1);
        a.transmit(Instant::ZERO)
            .unwrap()
            .consume(3, |f| f.fill(0x60));
        assert_eq!(recv(&mut b).unwrap(), [0x60; 3]);
        assert_eq!(a.counters().tx_frames, 1);
    }

    #[test]
    fn mapped_addresses_match() {
        let v4: SocketAddr = "192.0.2.1:5".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:5".parse().unwrap();
        assert!(same_endpoint(v4, mapped));
        assert!(!same_endpoint(v4, "[::ffff:192.0.2.1]:6".parse().unwrap()));
        assert!(!same_endpoint(v4, "[2001:db8::1]:5".parse().unwrap()));
    }
}
