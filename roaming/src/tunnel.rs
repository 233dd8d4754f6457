//! IPv6 over a session: a smoltcp [`Device`] whose frames are the datagrams of one session.
//!
//! A [`Tunnel`] joins one session of an [`Endpoint`] to a smoltcp [`Interface`] on
//! `Medium::Ip`. The interface owns the local [identity address](crate::identity) (a `/128`)
//! and routes the peer's identity address into the tunnel, so ordinary TCP and UDP sockets
//! talk between the two identities while the session carries their packets between whatever
//! addresses the peers have at the moment: the connections outlive every move.
//!
//! ```text
//!  smoltcp TCP/UDP sockets             identity 2001:2f:..:a  <->  2001:2f:..:b
//!  smoltcp Interface (Medium::Ip, MTU = max_datagram_size)
//!  Tunnel: IPv6 packet <-> compressed frame <-> send_datagram / recv_datagram
//!  Endpoint: session packets over UDP    locator [2001:db8:1::10]:5000 -> [..]:4433 -> ...
//! ```
//!
//! # Frames
//!
//! Each datagram of the session is one IPv6 packet, either bare or compressed with
//! [`bridgeless_wire::compressed`] (IPHC after RFC 6282). No extra byte says which: the first
//! byte does (`0110 xxxx` a bare IPv6 packet, `100x xxxx` a compressed one, as on any
//! bridgeless point-to-point link). The compression context is built by both ends from the two
//! identity addresses, which both know once the handshake has named the keys:
//!
//! - interface identifiers: each identity's low 64 bits (local and peer, mirrored at the
//!   other end);
//! - prefixes: the two identities' top 64 bits, the smaller as context 0 and the larger as
//!   context 1, so both ends hold the same table whichever side they are.
//!
//! A packet between the two identities, hop limit 64, traffic class and flow label zero (what
//! smoltcp sends) then carries 4 bytes of IPv6 header instead of 40 (IPHC 2, context ids 1,
//! next header 1), and a UDP packet 10 bytes of IPv6 and UDP header instead of 48. A packet that
//! would not get shorter is sent bare. So the tunnel's 36-byte saving on every TCP segment
//! pays for the session's own header (1 + 16 + 1..4 + 16 bytes) almost entirely.
//!
//! # What is accepted
//!
//! A received packet is handed to smoltcp only if it decompresses, is IPv6, comes *from the
//! peer's identity address* and goes *to ours*: the peer's identity is the hash of the key
//! the handshake authenticated, so an inner source address cannot be forged by the peer
//! either. Everything else is counted ([`TunnelCounters`]) and dropped.
//!
//! # Back-pressure
//!
//! A packet smoltcp sends is queued with [`Endpoint::send_datagram`]. When the session's send
//! queue is full, the frame is held in the tunnel (one frame, [`Tunnel::has_backlog`]) and the
//! device refuses transmit tokens until the driver has called [`Endpoint::poll_transmit`] and
//! the frame went in: smoltcp then keeps its data in the socket buffers instead of losing it.
//! A reply smoltcp sends with the token paired to a received packet while a frame is held is
//! dropped (counted as `tx_dropped_full`).
//!
//! # Replaying the tail after a move
//!
//! A move loses what is in flight on the old path: the packets on the link the mover left,
//! and what the stationary peer sends to the old address in the half RTT before it hears
//! from the new one. The session does not send datagrams twice, so for a TCP connection in
//! the tunnel with its window in flight, either the window or its acknowledgment is gone.
//! Then nothing reaches the receiver after the move, no duplicate acknowledgment can start a
//! fast retransmit (three are needed, RFC 5681 §3.2), and the sender waits for its
//! retransmission timeout, at least 1 s (RFC 6298 (2.4); smoltcp's minimum too) whatever the
//! RTT, then goes back N.
//!
//! So the tunnel keeps copies of the last TCP segments it handed to the session (a ring of
//! [`ReplayConfig::packets`] slots of one MTU, allocated once: nothing per packet) and hands
//! them to the session once more when the session's path changes: our own address changed
//! ([`Endpoint::local_address_changed`]), the peer's did ([`Event::PeerAddressChanged`]), or a
//! failed validation went back ([`Event::PathReverted`]). The tunnel does not need to be told:
//! it reads the count of those changes ([`SessionStats`]' `local_moves`, `migrations` and
//! `reverts`) each time [`Tunnel::device`] is called, and replays during that poll once
//! smoltcp has read what the session received (so the acknowledgments in it count) or
//! before it sends. The mover replays at its move (its copies follow the packet that tells
//! the peer, on the new path); the stationary peer replays when it switches its sending to
//! the new address (the poll after the packet that moved it). What it brings:
//!
//! - on the sending side of a stream, the segments lost in flight arrive after all, in
//!   order: the receiver delivers them at once and acknowledges the lot;
//! - on the receiving side, its newest acknowledgment, if the move lost it, reaches the
//!   sender; and a replayed segment the receiver already had draws an immediate
//!   acknowledgment from it (RFC 9293 §3.10.7.4: a segment outside the window is answered
//!   with an acknowledgment), so a lost acknowledgment is repaired from either side.
//!
//! In the simulator (`tests/sim_handover.rs`, BENCHMARKS.md) a bulk stream resumes within
//! 0 to 1.5 RTT of the new path instead of about 1 s.
//!
//! What is replayed, and why it is safe:
//!
//! - only TCP segments without SYN or RST (a UDP application may not expect a duplicate);
//!   TCP copes with duplicates from any network (RFC 9293 §3.4, §3.10.7.4): a duplicate data
//!   segment costs one acknowledgment; a replayed acknowledgment the sender already had
//!   counts as one duplicate acknowledgment, and a replay sends at most one per connection,
//!   so it alone never makes a fast retransmit (and one spurious fast retransmit costs one
//!   segment);
//! - a data segment until the peer acknowledged it (the tunnel reads the acknowledgments it
//!   receives), and only if the ring holds the connection's whole unacknowledged flight:
//!   a replay that filled only the end of a lost window would make the receiver's duplicate
//!   acknowledgments trigger the retransmission of one segment, whose partial
//!   acknowledgment restarts smoltcp's retransmission timer: the rest of the window would
//!   then wait for the timeout anyway, later than without the replay. Size
//!   [`ReplayConfig::packets`] to the window in segments;
//! - a pure acknowledgment only while it is the newest segment of its connection (an older
//!   one is ignored by the sender);
//! - nothing older than [`ReplayConfig::max_age`], nothing sent after the change was seen,
//!   and no segment twice: whatever path changes an attacker provokes (an on-path copy of a
//!   packet sent from elsewhere moves the session there, and the next genuine packet moves
//!   it back), the replays at most double what the tunnel sends.
//!
//! RTT estimates are not made shorter: smoltcp times the first new sequence number it sends
//! until its acknowledgment (Karn's rule, no timestamps), and an acknowledgment of a replayed
//! copy comes at least one RTT after the original was sent, so the sample can only be
//! longer. With TCP timestamps (RFC 7323, in a stack that uses them), a replayed segment
//! carries its original TSval: not older than what the peer has seen unless the peer
//! already had the segment (which PAWS drops and acknowledges), and an RTT measured from an
//! echoed older TSval is longer, not shorter.
//!
//! To the session the replayed segments are ordinary datagrams: to an address not yet
//! validated it sends no more than 3x what came from there (RFC 9000 §8), and the rest waits
//! in its send queue for the validation (or the revert); a segment the full queue refuses is
//! dropped and counted (`tx_replay_dropped`). Counted too: the path changes seen
//! (`path_changes`) and the segments replayed (`tx_replayed`). [`Tunnel::set_replay`] with
//! [`ReplayConfig::OFF`] turns it off.
//!
//! # Driving it
//!
//! Per iteration of the driver's loop: feed received UDP datagrams to the endpoint, poll the
//! interface on [`Tunnel::device`], then move [`Endpoint::poll_transmit`]'s datagrams to the
//! socket; wake up at the earliest of the interface's `poll_at`, the endpoint's
//! `poll_timeout`, and now if [`has_backlog`](Tunnel::has_backlog). The drivers in this crate
//! ([`UdpDriver`](crate::driver::UdpDriver), [`SmoltcpDriver`](crate::driver::SmoltcpDriver),
//! [`RoamingStream`](crate::stream::RoamingStream)) do exactly that.

mod tail;

use bridgeless_wire::compressed::{self, Context, FrameKind, Ipv6Cidr};
use smoltcp::iface::{Config as IfaceConfig, Interface, Route};
use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv6Address, Ipv6Packet};

use crate::identity::identity_address;
use crate::{Endpoint, SendError, SessionHandle};
#[cfg(doc)]
use crate::{Event, SessionStats};
use tail::{Ring, Segment};

/// Largest packet the tunnel's buffers hold (a UDP payload can be no larger).
const MAX_PACKET: usize = 65_535;

/// What a [`Tunnel`] did with every packet, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    /// Packets smoltcp sent that went into the session.
    pub tx_packets: u64,
    /// Of those, sent compressed.
    pub tx_compressed: u64,
    /// Header bytes compression saved.
    pub tx_bytes_saved: u64,
    /// Packets held back because the session's send queue was full (sent later).
    pub tx_deferred: u64,
    /// Packets dropped because a frame was already held back (see the module docs).
    pub tx_dropped_full: u64,
    /// Packets dropped because the session is gone or refused them.
    pub tx_dropped_session: u64,
    /// Packets handed to smoltcp.
    pub rx_packets: u64,
    /// Of those, received compressed.
    pub rx_compressed: u64,
    /// Datagrams that did not decompress or are not IPv6.
    pub rx_malformed: u64,
    /// Packets whose source is not the peer's identity address.
    pub rx_wrong_source: u64,
    /// Packets whose destination is not our identity address.
    pub rx_wrong_destination: u64,
    /// Changes of the session's path the tunnel saw (the peer's address changed, the session
    /// went back to the last validated one, or our own address changed): each makes one
    /// replay of the tail (see the module docs).
    pub path_changes: u64,
    /// TCP segments sent again after a path change.
    pub tx_replayed: u64,
    /// Of the segments to send again, those the session refused (its send queue was full):
    /// dropped.
    pub tx_replay_dropped: u64,
}

/// How a [`Tunnel`] replays its tail after a path change (see the module docs):
/// [`Tunnel::set_replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Most TCP segments kept (default 32; 0 turns replaying off). Each takes a slot of the
    /// tunnel's MTU, allocated once, when the tunnel is made or reconfigured: 32 slots are
    /// about 45 KB. To recover a lost window without a retransmission timeout this must hold
    /// a window's worth of segments (16 KiB: 13, 64 KiB: 46).
    pub packets: usize,
    /// Segments sent longer ago than this are not replayed (default 1 s, the minimum TCP
    /// retransmission timeout of RFC 6298 (2.4), and smoltcp's: what has waited that long
    /// for an acknowledgment is the sender's timer's business, not the move's).
    pub max_age: Duration,
}

impl ReplayConfig {
    /// No replaying.
    pub const OFF: ReplayConfig = ReplayConfig {
        packets: 0,
        max_age: Duration::ZERO,
    };
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            packets: 32,
            max_age: Duration::from_secs(1),
        }
    }
}

/// The transmit half: what a transmit token needs.
struct TxSide {
    handle: SessionHandle,
    context: Context,
    compress: bool,
    packet: Vec<u8>,
    frame: Vec<u8>,
    /// Length of the frame held back in `stash`, if any, and what the ring keeps of it.
    stashed: Option<(usize, Option<Segment>)>,
    stash: Vec<u8>,
    /// Copies of the last TCP segments handed to the session.
    ring: Ring,
    counters: TunnelCounters,
}

impl TxSide {
    /// Try to hand the held-back frame to the session; true when nothing is held any more.
    fn flush(&mut self, now: Instant, endpoint: &mut Endpoint) -> bool {
        let Some((len, segment)) = self.stashed else {
            return true;
        };
        match endpoint.send_datagram(self.handle, &self.stash[..len]) {
            Ok(()) => {
                if let Some(segment) = segment {
                    self.ring.push(now, &self.stash[..len], segment);
                }
                self.stashed = None;
                true
            }
            Err(SendError::QueueFull) => false,
            Err(_) => {
                self.counters.tx_dropped_session += 1;
                self.stashed = None;
                true
            }
        }
    }

    /// Replay the tail if a path change is waiting for it.
    fn replay(&mut self, now: Instant, endpoint: &mut Endpoint) {
        if !self.ring.is_due() {
            return;
        }
        let handle = self.handle;
        let done = self
            .ring
            .replay(now, |frame| endpoint.send_datagram(handle, frame).is_ok());
        self.counters.tx_replayed += done.sent;
        self.counters.tx_replay_dropped += done.refused;
    }
}

/// One session as an IPv6 link between two identity addresses (see the module docs).
pub struct Tunnel {
    local: Ipv6Address,
    peer: Ipv6Address,
    mtu: usize,
    checksums: bool,
    rx_frame: Vec<u8>,
    rx_packet: Vec<u8>,
    tx: TxSide,
    replay: ReplayConfig,
    /// The session's path changes so far (`migrations + reverts + local_moves`).
    path_epoch: u64,
}

impl Tunnel {
    /// A tunnel over session `handle` of `endpoint`. `None` if there is no such session.
    ///
    /// The peer's static key is known from the start (the server's, named by `connect`; the
    /// client's, from its initiation), so the tunnel can be built at once; packets flow when
    /// the session is established.
    pub fn new(endpoint: &Endpoint, handle: SessionHandle) -> Option<Tunnel> {
        let peer_key = endpoint.peer_static(handle)?;
        let local = identity_address(&endpoint.public_key());
        let peer = identity_address(&peer_key);
        let mtu = endpoint.max_datagram_size();
        let replay = ReplayConfig::default();
        Some(Tunnel {
            local,
            peer,
            mtu,
            checksums: true,
            rx_frame: vec![0; MAX_PACKET],
            rx_packet: vec![0; MAX_PACKET + compressed::MAX_REBUILT_HEADER_LEN],
            tx: TxSide {
                handle,
                context: context(local, peer),
                compress: true,
                packet: vec![0; MAX_PACKET],
                frame: vec![0; MAX_PACKET],
                stashed: None,
                stash: vec![0; MAX_PACKET],
                ring: Ring::new(replay.packets, mtu, replay.max_age),
                counters: TunnelCounters::default(),
            },
            replay,
            path_epoch: path_epoch(endpoint, handle).unwrap_or(0),
        })
    }

    /// The session this tunnel carries.
    pub fn session(&self) -> SessionHandle {
        self.tx.handle
    }

    /// Our identity address.
    pub fn local_address(&self) -> Ipv6Address {
        self.local
    }

    /// The peer's identity address.
    pub fn peer_address(&self) -> Ipv6Address {
        self.peer
    }

    /// The IP MTU of the device: the session's largest datagram.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The compression context both ends use (see the module docs).
    pub fn context(&self) -> &Context {
        &self.tx.context
    }

    /// Send every packet bare (default: compressed where that is shorter). Received frames
    /// are understood either way.
    pub fn set_compression(&mut self, on: bool) {
        self.tx.compress = on;
    }

    /// Let smoltcp skip IP, TCP, UDP and ICMP checksums (default: computed and checked).
    ///
    /// The session's AEAD already authenticates every byte end to end, so the checksums
    /// guard nothing here; skipping them saves smoltcp's largest per-packet cost. Only do
    /// this when both ends are smoltcp interfaces on tunnels: a peer that checks checksums
    /// (an operating system's stack behind a TUN device) would drop the packets.
    pub fn set_checksum_offload(&mut self, skip: bool) {
        self.checksums = !skip;
    }

    /// Replay the tail after path changes as `config` says (default: on, see
    /// [`ReplayConfig`] and the module docs); [`ReplayConfig::OFF`] turns it off. The ring is
    /// allocated here, once, and starts empty.
    pub fn set_replay(&mut self, config: ReplayConfig) {
        self.replay = config;
        self.tx.ring = Ring::new(config.packets, self.mtu, config.max_age);
    }

    /// How the tail is replayed.
    pub fn replay_config(&self) -> ReplayConfig {
        self.replay
    }

    /// What the tunnel did so far.
    pub fn counters(&self) -> TunnelCounters {
        self.tx.counters
    }

    /// A frame is held back waiting for room in the session's send queue: poll the
    /// endpoint's transmissions, then the interface again.
    pub fn has_backlog(&self) -> bool {
        self.tx.stashed.is_some()
    }

    /// The device to poll a smoltcp interface on, for now. If the session's path changed
    /// since the last call, the tail is replayed during this poll (see the module docs).
    pub fn device<'a>(&'a mut self, endpoint: &'a mut Endpoint) -> TunnelDevice<'a> {
        self.watch_path(endpoint);
        TunnelDevice {
            endpoint,
            tunnel: self,
        }
    }

    /// Notice a change of the session's path: the tail sent until now is replayed once,
    /// when this poll has read what the session received (so that the acknowledgments in it
    /// count) or before its first transmission.
    fn watch_path(&mut self, endpoint: &Endpoint) {
        let Some(epoch) = path_epoch(endpoint, self.tx.handle) else {
            return;
        };
        if epoch != self.path_epoch {
            self.path_epoch = epoch;
            self.tx.counters.path_changes += 1;
            self.tx.ring.path_changed();
        }
    }

    /// A smoltcp interface for this tunnel: `Medium::Ip`, our identity address as a `/128`,
    /// and a route to the peer's identity ([`configure`](Self::configure)).
    pub fn interface(
        &mut self,
        endpoint: &mut Endpoint,
        now: Instant,
        random_seed: u64,
    ) -> Interface {
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, &mut self.device(endpoint), now);
        self.configure(&mut iface);
        iface
    }

    /// Give `iface` our identity address (`/128`) and a route to the peer's identity; its
    /// other addresses and routes are removed.
    pub fn configure(&self, iface: &mut Interface) {
        let local = IpCidr::new(IpAddress::Ipv6(self.local), 128);
        iface.update_ip_addrs(|addrs| {
            addrs.clear();
            // The table holds at least one address.
            let _ = addrs.push(local);
        });
        let route = Route {
            cidr: IpCidr::new(IpAddress::Ipv6(self.peer), 128),
            via_router: IpAddress::Ipv6(self.peer),
            preferred_until: None,
            expires_at: None,
        };
        iface.routes_mut().update(|routes| {
            routes.clear();
            let _ = routes.push(route);
        });
    }

    /// The next acceptable packet of the session into `rx_packet`; its length.
    fn next_packet(&mut self, endpoint: &mut Endpoint) -> Option<usize> {
        let c = &mut self.tx.counters;
        loop {
            let n = endpoint.recv_datagram(self.tx.handle, &mut self.rx_frame)?;
            let Some(frame) = self.rx_frame.get(..n) else {
                c.rx_malformed += 1;
                continue;
            };
            let was_compressed = compressed::kind(frame) == Ok(FrameKind::Compressed);
            let Ok(len) = compressed::decompress(&self.tx.context, frame, &mut self.rx_packet)
            else {
                c.rx_malformed += 1;
                continue;
            };
            let Ok(packet) = Ipv6Packet::new_checked(&self.rx_packet[..len]) else {
                c.rx_malformed += 1;
                continue;
            };
            if packet.version() != 6 {
                c.rx_malformed += 1;
            } else if packet.src_addr() != self.peer {
                c.rx_wrong_source += 1;
            } else if packet.dst_addr() != self.local {
                c.rx_wrong_destination += 1;
            } else {
                c.rx_packets += 1;
                c.rx_compressed += u64::from(was_compressed);
                if self.tx.ring.capacity() > 0
                    && let Some((ports, ack)) = Segment::incoming_ack(&self.rx_packet[..len])
                {
                    self.tx.ring.acked(ports, ack);
                }
                return Some(len);
            }
        }
    }
}

/// Changes of the session's path so far: the peer moved (or was followed back), a failed
/// validation reverted, or we moved.
fn path_epoch(endpoint: &Endpoint, handle: SessionHandle) -> Option<u64> {
    let s = endpoint.session_stats(handle)?;
    Some(s.migrations + s.reverts + s.local_moves)
}

/// The compression context for the link between identities `local` and `peer`.
fn context(local: Ipv6Address, peer: Ipv6Address) -> Context {
    let (l, p) = (local.octets(), peer.octets());
    let iid = |a: &[u8; 16]| -> [u8; 8] { a[8..].try_into().unwrap_or([0; 8]) };
    let top = |a: &[u8; 16]| -> Ipv6Address {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&a[..8]);
        Ipv6Address::from(t)
    };
    let mut ctx = Context::new(iid(&l), iid(&p));
    let (mut a, mut b) = (top(&l), top(&p));
    if b < a {
        core::mem::swap(&mut a, &mut b);
    }
    // 64-bit prefixes with ids 0 and 1 always fit the table.
    let _ = ctx.set_prefix(0, Ipv6Cidr::new(a, 64));
    if b != a {
        let _ = ctx.set_prefix(1, Ipv6Cidr::new(b, 64));
    }
    ctx
}

/// A [`Tunnel`] with its endpoint, as a smoltcp device (see [`Tunnel::device`]).
pub struct TunnelDevice<'a> {
    endpoint: &'a mut Endpoint,
    tunnel: &'a mut Tunnel,
}

/// A received packet.
pub struct TunnelRxToken<'a> {
    packet: &'a [u8],
}

/// Room to send one packet into the session.
pub struct TunnelTxToken<'a> {
    endpoint: &'a mut Endpoint,
    tx: &'a mut TxSide,
    now: Instant,
}

impl Device for TunnelDevice<'_> {
    type RxToken<'a>
        = TunnelRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TunnelTxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.tunnel.tx.flush(now, self.endpoint);
        let Some(len) = self.tunnel.next_packet(self.endpoint) else {
            // Everything received has been read (its acknowledgments marked the ring): the
            // tail goes now if the path changed.
            self.tunnel.tx.replay(now, self.endpoint);
            return None;
        };
        let Tunnel { rx_packet, tx, .. } = &mut *self.tunnel;
        Some((
            TunnelRxToken {
                packet: &rx_packet[..len],
            },
            TunnelTxToken {
                endpoint: self.endpoint,
                tx,
                now,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.tunnel.tx.replay(now, self.endpoint);
        if !self.tunnel.tx.flush(now, self.endpoint) {
            return None;
        }
        Some(TunnelTxToken {
            endpoint: self.endpoint,
            tx: &mut self.tunnel.tx,
            now,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.tunnel.mtu;
        if !self.tunnel.checksums {
            caps.checksum.ipv4 = Checksum::None;
            caps.checksum.udp = Checksum::None;
            caps.checksum.tcp = Checksum::None;
            caps.checksum.icmpv6 = Checksum::None;
        }
        caps
    }
}

impl phy::RxToken for TunnelRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.packet)
    }
}

impl phy::TxToken for TunnelTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        let len = len.min(tx.packet.len());
        let r = f(&mut tx.packet[..len]);
        let packet = &tx.packet[..len];
        let segment = if tx.ring.capacity() > 0 {
            Segment::outgoing(packet)
        } else {
            None
        };
        let outcome = if tx.compress {
            compressed::compress(&tx.context, packet, &mut tx.frame)
        } else {
            Err(bridgeless_wire::Error::Unsupported)
        };
        let frame_len = match outcome {
            Ok(o) => {
                if let compressed::Outcome::Compressed { header_saved, .. } = o {
                    tx.counters.tx_compressed += 1;
                    tx.counters.tx_bytes_saved += header_saved as u64;
                }
                o.len()
            }
            // Not compressible (or compression off): the packet as it is.
            Err(_) => {
                tx.frame[..len].copy_from_slice(packet);
                len
            }
        };
        match self
            .endpoint
            .send_datagram(tx.handle, &tx.frame[..frame_len])
        {
            Ok(()) => {
                tx.counters.tx_packets += 1;
                if let Some(segment) = segment {
                    tx.ring.push(self.now, &tx.frame[..frame_len], segment);
                }
            }
            Err(SendError::QueueFull) if tx.stashed.is_none() => {
                tx.stash[..frame_len].copy_from_slice(&tx.frame[..frame_len]);
                tx.stashed = Some((frame_len, segment));
                tx.counters.tx_packets += 1;
                tx.counters.tx_deferred += 1;
            }
            Err(SendError::QueueFull) => tx.counters.tx_dropped_full += 1,
            Err(_) => tx.counters.tx_dropped_session += 1,
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridgeless_wire::compressed::decompress;

    fn ids() -> (Ipv6Address, Ipv6Address) {
        (identity_address(&[1; 32]), identity_address(&[2; 32]))
    }

    /// An IPv6 packet between identities with a 20-byte TCP header and `payload` bytes.
    fn tcp_packet(src: Ipv6Address, dst: Ipv6Address, payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 40 + 20 + payload];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
        p[6] = 6; // TCP
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p[40] = 0xc0;
        p[52] = 0x50; // data offset 5
        p
    }

    #[test]
    fn both_ends_build_mirrored_contexts() {
        let (a, b) = ids();
        let ca = context(a, b);
        let cb = context(b, a);
        assert_eq!(ca.mirrored(), cb);
    }

    #[test]
    fn tcp_header_shrinks_by_36_bytes_and_comes_back() {
        let (a, b) = ids();
        let (ca, cb) = (context(a, b), context(b, a));
        let p = tcp_packet(a, b, 1000);
        let mut frame = vec![0u8; 2000];
        let o = compressed::compress(&ca, &p, &mut frame).unwrap();
        assert_eq!(
            o,
            compressed::Outcome::Compressed {
                len: p.len() - 36,
                header_saved: 36
            },
            "IPHC 2 + context ids 1 + next header 1 = 4 bytes instead of 40"
        );
        let mut back = vec![0u8; 2000];
        let n = decompress(&cb, &frame[..o.len()], &mut back).unwrap();
        assert_eq!(back[..n], p[..]);
    }

    #[test]
    fn other_addresses_are_sent_bare() {
        let (a, b) = ids();
        let ca = context(a, b);
        let other = Ipv6Address::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6);
        let p = tcp_packet(
            other,
            Ipv6Address::new(0x2001, 0xdb8, 7, 8, 9, 10, 11, 12),
            10,
        );
        let mut frame = vec![0u8; 2000];
        let o = compressed::compress(&ca, &p, &mut frame).unwrap();
        // Both addresses inline: 2 + 1 + 16 + 16 = 35 < 40, still compressed, and exact.
        let mut back = vec![0u8; 2000];
        let n = decompress(&context(b, a), &frame[..o.len()], &mut back).unwrap();
        assert_eq!(back[..n], p[..]);
    }
}
