//! The receive filter of a point-to-point host: which frames smoltcp sees, which go to our own
//! control-plane cores, and which are dropped — each drop counted by reason.
//!
//! smoltcp's `Medium::Ip` silently drops every Neighbor Discovery message, Router
//! Advertisements included, and parses MLD only partly. A host on a point-to-point link needs
//! the opposite: Router Advertisements and MLD go to [`rd`](crate::rd) and [`mld`](crate::mld);
//! Neighbor Solicitation, Neighbor Advertisement and Redirect mean nothing without link-layer
//! addresses and are counted and dropped; everything else goes to smoltcp. Decisions are data
//! ([`Disposition`]), so the same filter serves the host interface, tests and fuzzing.
//!
//! The filter can also take the TCP and UDP checksums over from smoltcp
//! ([`ReceiveFilter::offload_checksums`]): it then reports them offloaded in the device's
//! capabilities, verifies them on every packet it passes to smoltcp and fills them in on every
//! packet smoltcp sends, with [`checksum`], about twice as fast as smoltcp's.

use bridgeless_wire::compressed::{self, Context, FrameKind};
use bridgeless_wire::frame::{self, FrameInfo};
use bridgeless_wire::{Error, ndp, negotiation};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::IpProtocol;

use crate::checksum::{self, Protocols};

/// Where a received frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// To smoltcp's `Interface`.
    Deliver,
    /// To our control plane: a Router Advertisement, an MLD message or a link hello.
    Control(ControlKind),
    /// A compressed frame ([`bridgeless_wire::compressed`]): decompressed with the context
    /// both ends agreed on, then classified again.
    Compressed,
    /// Dropped, counted under this reason.
    Drop(DropReason),
}

/// A control-plane message the host handles itself instead of smoltcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// ICMPv6 type 134 (RFC 4861 §4.2).
    RouterAdvertisement,
    /// ICMPv6 types 130, 131, 132, 143 (RFC 2710, RFC 3810).
    Mld,
    /// A link hello ([`bridgeless_wire::negotiation`]): the peer offers compressed frames.
    Hello,
}

/// Why a received frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The frame did not parse: truncated, inconsistent lengths, bad header fields.
    Malformed,
    /// Neighbor Solicitation (135): nothing to resolve on a link without link-layer addresses.
    NeighborSolicitation,
    /// Neighbor Advertisement (136).
    NeighborAdvertisement,
    /// Redirect (137): on a point-to-point link the peer is the only first hop.
    Redirect,
    /// Router Solicitation (133): a host does not answer them (RFC 4861 §6.2.6 is for routers).
    RouterSolicitation,
    /// An MLD report smoltcp tried to send: smoltcp 0.14 inverts join and leave, so the
    /// host's own MLD speaks instead.
    SmoltcpMldReport,
    /// A compressed frame from a peer with which no compression was agreed, or one that
    /// does not decompress.
    NotNegotiated,
    /// Neither IPv4, IPv6, a compressed frame nor a link hello.
    NotIp,
    /// The frame is larger than the link MTU the interface was configured with.
    TooBig,
    /// A TCP or UDP packet with a wrong checksum (RFC 9293 §3.1, RFC 768), or UDP over IPv6
    /// with a zero checksum (RFC 8200 §8.1): what smoltcp would drop, counted here when the
    /// filter verifies checksums in its place ([`ReceiveFilter::offload_checksums`]).
    Checksum,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 10] = [
        DropReason::Malformed,
        DropReason::NeighborSolicitation,
        DropReason::NeighborAdvertisement,
        DropReason::Redirect,
        DropReason::RouterSolicitation,
        DropReason::SmoltcpMldReport,
        DropReason::NotNegotiated,
        DropReason::NotIp,
        DropReason::TooBig,
        DropReason::Checksum,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Frames dropped by the receive filter, by reason; and frames passed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterCounters {
    /// Frames handed to smoltcp.
    pub delivered: u64,
    /// Router Advertisements handed to router discovery.
    pub router_advertisements: u64,
    /// MLD messages handed to the MLD host.
    pub mld: u64,
    /// Link hellos handed to the compression negotiation.
    pub hellos: u64,
    /// Compressed frames received (each is also counted again once decompressed).
    pub compressed: u64,
    /// Frames smoltcp sent that went out compressed.
    pub compressed_sent: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl FilterCounters {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Frames dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Counts one decision.
    fn count(&mut self, d: Disposition) {
        match d {
            Disposition::Deliver => self.delivered += 1,
            Disposition::Control(ControlKind::RouterAdvertisement) => {
                self.router_advertisements += 1
            }
            Disposition::Control(ControlKind::Mld) => self.mld += 1,
            Disposition::Control(ControlKind::Hello) => self.hellos += 1,
            Disposition::Compressed => self.compressed += 1,
            Disposition::Drop(r) => self.dropped[r.index()] += 1,
        }
    }
}

/// Decides what a host does with one received frame of at most `mtu` bytes.
///
/// Frames refused by the wire parser with a Parameter Problem (an unrecognised option, say)
/// are delivered: smoltcp answers them as RFC 8200 §4 asks. Everything the parser calls
/// malformed is dropped here, where it can be counted, instead of silently inside smoltcp.
///
/// The common case — an IPv6 packet with TCP or UDP right after the fixed header and a
/// Payload Length that matches the frame — is decided by [`is_plain_transport`] without the
/// full parse; it is delivered either way, and the fast path accepts only frames the full
/// parse accepts too.
#[inline]
pub fn classify(frame: &[u8], mtu: usize) -> Disposition {
    if frame.len() <= mtu && is_plain_transport(frame) {
        return Disposition::Deliver;
    }
    classify_parsed_frame(frame, mtu)
}

/// Whether `frame` is an IPv6 packet carrying TCP or UDP right after the fixed header, with a
/// Payload Length equal to the octets that follow the header and a well-formed transport
/// header: TCP with a Data Offset from 5 words to the octets present (RFC 9293 §3.1), UDP
/// with a Length from 8 to the octets present (RFC 768).
///
/// Such a frame can never be control traffic (which is ICMPv6) nor malformed:
/// [`frame::parse`] accepts every frame this accepts, and [`classify`] delivers it. Anything
/// else — extension headers, ICMPv6, trailing octets, IPv4, damage — returns `false` and is
/// left to the full parse, which counts it precisely.
#[inline(always)]
pub fn is_plain_transport(frame: &[u8]) -> bool {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    let Some((h, rest)) = frame.split_first_chunk::<40>() else {
        return false;
    };
    if h[0] >> 4 != 6 || usize::from(u16::from_be_bytes([h[4], h[5]])) != rest.len() {
        return false;
    }
    match h[6] {
        TCP => rest.get(12).is_some_and(|&b| {
            let data_offset = usize::from(b >> 4) * 4;
            data_offset >= 20 && data_offset <= rest.len()
        }),
        UDP => rest.first_chunk::<8>().is_some_and(|u| {
            let len = usize::from(u16::from_be_bytes([u[4], u[5]]));
            len >= 8 && len <= rest.len()
        }),
        _ => false,
    }
}

/// [`classify`] without the fast path: every frame through [`frame::parse`].
#[inline(never)]
fn classify_parsed_frame(frame: &[u8], mtu: usize) -> Disposition {
    if frame.len() > mtu {
        return Disposition::Drop(DropReason::TooBig);
    }
    match frame.first().map(|b| b >> 4) {
        Some(4 | 6) => match frame::parse(frame) {
            Ok(info) => classify_parsed(&info),
            Err(Error::ParameterProblem(_)) | Err(Error::Unsupported) => Disposition::Deliver,
            Err(_) => Disposition::Drop(DropReason::Malformed),
        },
        None => Disposition::Drop(DropReason::Malformed),
        _ if negotiation::is_hello(frame) => Disposition::Control(ControlKind::Hello),
        _ if compressed::kind(frame) == Ok(FrameKind::Compressed) => Disposition::Compressed,
        _ => Disposition::Drop(DropReason::NotIp),
    }
}

fn classify_parsed(info: &FrameInfo<'_>) -> Disposition {
    if info.protocol() != IpProtocol::Icmpv6 {
        return Disposition::Deliver;
    }
    let Some((icmp_type, _)) = info.icmp() else {
        return Disposition::Deliver; // a later fragment: smoltcp drops it (no reassembly)
    };
    match icmp_type {
        ndp::TYPE_ROUTER_ADVERTISEMENT => Disposition::Control(ControlKind::RouterAdvertisement),
        ndp::TYPE_ROUTER_SOLICITATION => Disposition::Drop(DropReason::RouterSolicitation),
        ndp::TYPE_NEIGHBOR_SOLICITATION => Disposition::Drop(DropReason::NeighborSolicitation),
        ndp::TYPE_NEIGHBOR_ADVERTISEMENT => Disposition::Drop(DropReason::NeighborAdvertisement),
        ndp::TYPE_REDIRECT => Disposition::Drop(DropReason::Redirect),
        130..=132 | 143 => Disposition::Control(ControlKind::Mld),
        _ => Disposition::Deliver,
    }
}

/// The filter's state, owned by the host across polls: its counters, the largest frame it
/// accepts, and the transmit side's small buffer.
#[derive(Debug, Clone)]
pub struct ReceiveFilter {
    rx: RxState,
    tx: TxState,
}

#[derive(Debug, Clone)]
struct RxState {
    mtu: usize,
    counters: FilterCounters,
    /// Set once the peer's identifier is known (see [`crate::negotiate`]).
    decompress: Option<Context>,
    /// Transport checksums verified here instead of by smoltcp.
    checksums: Protocols,
    buf: [u8; COMPRESSION_BUF_LEN],
}

#[derive(Debug, Clone)]
struct TxState {
    mtu: Option<usize>,
    mld_withheld: u64,
    compressed_sent: u64,
    /// Set once the peer confirmed it can decompress.
    compress: Option<Context>,
    /// Transport checksums filled in here instead of by smoltcp.
    checksums: Protocols,
    /// The packet smoltcp writes (small frames, or every frame when compressing).
    packet: [u8; COMPRESSION_BUF_LEN],
    /// The compressed frame.
    frame: [u8; COMPRESSION_BUF_LEN],
}

/// Compression is used only on links whose MTU is at most this: the filter holds fixed
/// buffers of this size to rebuild and compress packets (it saves at most a few dozen bytes
/// per packet, which matters on slow links, and those have small MTUs).
pub const COMPRESSION_MAX_MTU: usize = 2000;
const COMPRESSION_BUF_LEN: usize = COMPRESSION_MAX_MTU + compressed::MAX_REBUILT_HEADER_LEN;

/// Frames smoltcp transmits that are at most this long pass through a buffer first, so
/// that the MLD reports smoltcp's `multicast` feature would send (inverted: smoltcp 0.14 sends
/// a join as CHANGE_TO_INCLUDE_MODE {}, which RFC 3810 reads as a leave) can be withheld;
/// longer frames are written straight into the device.
pub const BOUNCE_LEN: usize = 512;

impl ReceiveFilter {
    /// A filter that accepts frames of at most `mtu` bytes (the link MTU); longer frames are
    /// dropped as [`DropReason::TooBig`].
    pub fn new(mtu: usize) -> Self {
        ReceiveFilter {
            rx: RxState {
                mtu,
                counters: FilterCounters::default(),
                decompress: None,
                checksums: Protocols::NONE,
                buf: [0; COMPRESSION_BUF_LEN],
            },
            tx: TxState {
                mtu: None,
                mld_withheld: 0,
                compressed_sent: 0,
                compress: None,
                checksums: Protocols::NONE,
                packet: [0; COMPRESSION_BUF_LEN],
                frame: [0; COMPRESSION_BUF_LEN],
            },
        }
    }

    /// Sets the compression contexts agreed with the peer (see [`crate::negotiate`]):
    /// `decompress` as soon as the peer's identifier is known, `compress` once the peer has
    /// confirmed it holds the mirror context. Both stay off when the link MTU exceeds
    /// [`COMPRESSION_MAX_MTU`].
    pub fn set_compression(&mut self, compress: Option<Context>, decompress: Option<Context>) {
        let allowed = self.rx.mtu <= COMPRESSION_MAX_MTU;
        self.tx.compress = compress.filter(|_| allowed);
        self.rx.decompress = decompress.filter(|_| allowed);
    }

    /// The largest frame accepted.
    pub fn mtu(&self) -> usize {
        self.rx.mtu
    }

    /// Changes the largest frame accepted.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.rx.mtu = mtu;
    }

    /// Caps the MTU smoltcp is told about (the device's own when `None`): a link MTU learnt
    /// from a Router Advertisement, lower than the device's (RFC 4861 §6.3.4).
    pub fn set_tx_mtu(&mut self, mtu: Option<usize>) {
        self.tx.mtu = mtu;
    }

    /// The largest IP packet smoltcp may send: the device MTU, capped by
    /// [`set_tx_mtu`](Self::set_tx_mtu).
    pub fn tx_mtu(&self) -> usize {
        self.tx.mtu.map_or(self.rx.mtu, |m| m.min(self.rx.mtu))
    }

    /// Takes over from smoltcp the TCP and UDP checksums that a device with checksum
    /// capabilities `device` leaves to software: from now on the filter verifies them on
    /// receive (dropping a bad one as [`DropReason::Checksum`]) and fills them in on transmit,
    /// with [`checksum`], and [`capabilities`](Self::capabilities) reports TCP and UDP as
    /// offloaded (`Checksum::None`). What the device does itself is left to it.
    ///
    /// smoltcp reads a device's capabilities once, when an `Interface` is built: build it
    /// from [`capabilities`](Self::capabilities) after this call, or smoltcp and the filter
    /// will both do the work (harmless but slow) — or, if the filter takes over only after
    /// the interface was built with `Checksum::None`, neither.
    ///
    /// What changes for smoltcp's users: a segment with a bad checksum is dropped before
    /// smoltcp sees it, so a raw socket no longer receives it either; and a TCP or UDP packet
    /// sent through a raw socket gets its checksum recomputed. ICMPv6 checksums stay with
    /// smoltcp (control traffic, rare). The crate's smoltcp has no IPv4 reassembly and
    /// processes an IPv4 fragment as a whole datagram, so fragments are verified as such;
    /// a build that enables smoltcp's `proto-ipv4-fragmentation` should not use this, or
    /// fragmented IPv4 TCP and UDP datagrams are dropped.
    pub fn offload_checksums(&mut self, device: &ChecksumCapabilities) {
        self.rx.checksums = Protocols {
            tcp: device.tcp.rx(),
            udp: device.udp.rx(),
        };
        self.tx.checksums = Protocols {
            tcp: device.tcp.tx(),
            udp: device.udp.tx(),
        };
    }

    /// The transport checksums the filter verifies on receive and fills in on transmit in
    /// smoltcp's place (none unless [`offload_checksums`](Self::offload_checksums) was called).
    pub fn software_checksums(&self) -> (Protocols, Protocols) {
        (self.rx.checksums, self.tx.checksums)
    }

    /// The capabilities smoltcp must see for a device with capabilities `device`: its MTU
    /// capped by [`set_tx_mtu`](Self::set_tx_mtu), and TCP and UDP checksums offloaded where
    /// the filter [took them over](Self::offload_checksums). [`FilteredDevice`] reports
    /// these; build smoltcp's `Interface` from them.
    #[inline]
    pub fn capabilities(&self, device: DeviceCapabilities) -> DeviceCapabilities {
        let mut caps = device;
        if let Some(mtu) = self.tx.mtu {
            caps.max_transmission_unit = caps.max_transmission_unit.min(mtu);
        }
        let (rx, tx) = (self.rx.checksums, self.tx.checksums);
        if rx.tcp || tx.tcp {
            caps.checksum.tcp = Checksum::None;
        }
        if rx.udp || tx.udp {
            caps.checksum.udp = Checksum::None;
        }
        caps
    }

    /// What the filter has decided so far, both directions.
    pub fn counters(&self) -> FilterCounters {
        let mut c = self.rx.counters;
        c.dropped[DropReason::SmoltcpMldReport.index()] = self.tx.mld_withheld;
        c.compressed_sent = self.tx.compressed_sent;
        c
    }

    /// Wraps `inner` for one poll of smoltcp's `Interface`: smoltcp sees only frames to
    /// deliver, control frames go to `on_control`, the rest are counted and dropped.
    pub fn device<'d, D: Device, F: FnMut(ControlKind, Instant, &[u8])>(
        &'d mut self,
        inner: &'d mut D,
        on_control: F,
    ) -> FilteredDevice<'d, D, F> {
        FilteredDevice {
            inner,
            on_control,
            filter: self,
        }
    }
}

/// A `Device` wrapper that applies [`classify`] to every received frame (see
/// [`ReceiveFilter::device`]) and withholds smoltcp's own MLD reports. Where the filter took
/// the transport checksums over ([`ReceiveFilter::offload_checksums`]), it also verifies them
/// on every frame it delivers and fills them in on every frame smoltcp sends, and reports them
/// offloaded in [`capabilities`](Device::capabilities).
///
/// Zero-copy on receive: the frame is classified inside the inner token's `consume`. A frame
/// smoltcp must not see is replaced by an empty one, which smoltcp discards before parsing
/// anything; the filter has already counted it (or handed it to `on_control`), so nothing
/// goes uncounted.
pub struct FilteredDevice<'d, D: Device, F> {
    inner: &'d mut D,
    on_control: F,
    filter: &'d mut ReceiveFilter,
}

/// A received frame, classified when smoltcp consumes it.
pub struct FilteredRx<'a, T, F> {
    inner: T,
    on_control: &'a mut F,
    state: &'a mut RxState,
    now: Instant,
}

impl<T: phy::RxToken, F: FnMut(ControlKind, Instant, &[u8])> phy::RxToken for FilteredRx<'_, T, F> {
    #[inline(always)]
    fn consume<R, G: FnOnce(&[u8]) -> R>(self, f: G) -> R {
        let FilteredRx {
            inner,
            on_control,
            state,
            now,
        } = self;
        inner.consume(|frame| {
            // The bulk of the traffic: one look at the fixed and transport headers, and the
            // checksum when smoltcp left it to us.
            if frame.len() <= state.mtu && is_plain_transport(frame) {
                if state.checksums.any() && checksum::verify(frame, state.checksums).is_bad() {
                    state.counters.dropped[DropReason::Checksum.index()] += 1;
                    return f(&[]);
                }
                state.counters.delivered += 1;
                return f(frame);
            }
            receive_slow(frame, state, on_control, now, f)
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}

/// Everything [`FilteredRx`] receives that is not plain TCP or UDP: the full
/// classification, decompression, control frames and drops.
#[inline(never)]
fn receive_slow<R, G: FnOnce(&[u8]) -> R, F: FnMut(ControlKind, Instant, &[u8])>(
    frame: &[u8],
    state: &mut RxState,
    on_control: &mut F,
    now: Instant,
    f: G,
) -> R {
    let RxState {
        mtu,
        counters,
        decompress,
        checksums,
        buf,
    } = state;
    let mut disposition = classify_parsed_frame(frame, *mtu);
    let mut packet = frame;
    if disposition == Disposition::Compressed {
        counters.count(disposition);
        let rebuilt = decompress
            .as_ref()
            .and_then(|ctx| compressed::decompress(ctx, frame, &mut buf[..]).ok());
        match rebuilt {
            Some(n) => {
                packet = &buf[..n];
                // A bare frame would carry the rebuilt packet: classify it as one,
                // against the MTU plus what compression saved.
                disposition = classify(packet, usize::MAX);
            }
            None => disposition = Disposition::Drop(DropReason::NotNegotiated),
        }
    }
    // Whatever smoltcp is given, it would have checked (a compressed frame carries the
    // checksum as sent, so the rebuilt packet is checked like a bare one).
    if disposition == Disposition::Deliver
        && checksums.any()
        && checksum::verify(packet, *checksums).is_bad()
    {
        disposition = Disposition::Drop(DropReason::Checksum);
    }
    counters.count(disposition);
    match disposition {
        Disposition::Deliver => f(packet),
        Disposition::Control(kind) => {
            on_control(kind, now, packet);
            f(&[])
        }
        Disposition::Compressed | Disposition::Drop(_) => f(&[]),
    }
}

/// Whether a frame of `len` bytes may be one of smoltcp's MLD reports: an MLDv2 report with
/// records and no sources behind an 8-byte Hop-by-Hop header is 40 + 8 + 8 + 20·n bytes
/// (RFC 3810 §5.2), so only those lengths need a look. Everything else (TCP segments and
/// acknowledgements, most of the traffic) goes straight to the device.
#[inline(always)]
fn smoltcp_mld_len(len: usize) -> bool {
    (76..=BOUNCE_LEN).contains(&len) && (len - 56).is_multiple_of(20)
}

/// A transmit token that withholds smoltcp's own MLD reports (see [`BOUNCE_LEN`]) and fills
/// in the transport checksums the filter took over from smoltcp.
pub struct FilteredTx<'a, T> {
    inner: T,
    state: &'a mut TxState,
}

impl<T: phy::TxToken> phy::TxToken for FilteredTx<'_, T> {
    #[inline(always)]
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let FilteredTx { inner, state } = self;
        // Most frames (every TCP segment and acknowledgement) go straight to the device.
        if (!smoltcp_mld_len(len) && state.compress.is_none()) || len > state.packet.len() {
            let checksums = state.checksums;
            if !checksums.any() {
                return inner.consume(len, f);
            }
            return inner.consume(len, |frame| {
                let result = f(frame);
                checksum::fill(frame, checksums);
                result
            });
        }
        transmit_slow(inner, state, len, f)
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta)
    }
}

/// What [`FilteredTx`] does with a frame that may be one of smoltcp's MLD reports, or when
/// compressing: build it in the filter's buffer, withhold it or compress it, then send it.
#[inline(never)]
fn transmit_slow<T: phy::TxToken, R, F: FnOnce(&mut [u8]) -> R>(
    inner: T,
    state: &mut TxState,
    len: usize,
    f: F,
) -> R {
    let maybe_mld = smoltcp_mld_len(len);
    let packet = &mut state.packet[..len];
    let result = f(packet);
    // Before compressing: the compressed frame carries the checksum as is.
    checksum::fill(packet, state.checksums);
    let mld = maybe_mld
        && frame::parse(packet)
            .ok()
            .filter(|info| info.protocol() == IpProtocol::Icmpv6)
            .and_then(|info| info.icmp())
            .is_some_and(|(t, _)| matches!(t, 131 | 132 | 143));
    if mld {
        // Dropping the inner token unconsumed sends nothing.
        state.mld_withheld += 1;
        return result;
    }
    let compressed = state
        .compress
        .as_ref()
        .and_then(|ctx| compressed::compress(ctx, packet, &mut state.frame[..]).ok())
        .filter(|outcome| outcome.is_compressed());
    match compressed {
        Some(outcome) => {
            state.compressed_sent += 1;
            let frame = &state.frame[..outcome.len()];
            inner.consume(frame.len(), |buf| buf.copy_from_slice(frame));
        }
        None => inner.consume(len, |buf| buf.copy_from_slice(packet)),
    }
    result
}

impl<D, F> Device for FilteredDevice<'_, D, F>
where
    D: Device,
    F: FnMut(ControlKind, Instant, &[u8]),
{
    type RxToken<'a>
        = FilteredRx<'a, D::RxToken<'a>, F>
    where
        Self: 'a;
    type TxToken<'a>
        = FilteredTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        let ReceiveFilter {
            rx: rx_state,
            tx: tx_state,
        } = &mut *self.filter;
        let rx = FilteredRx {
            inner: rx,
            on_control: &mut self.on_control,
            state: rx_state,
            now,
        };
        Some((
            rx,
            FilteredTx {
                inner: tx,
                state: tx_state,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let inner = self.inner.transmit(now)?;
        Some(FilteredTx {
            inner,
            state: &mut self.filter.tx,
        })
    }

    #[inline]
    fn capabilities(&self) -> DeviceCapabilities {
        self.filter.capabilities(self.inner.capabilities())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An IPv6 packet with `next` right after the fixed header and `payload` octets after it,
    /// with a TCP or UDP header that the full parse accepts.
    fn packet(next: u8, payload: usize) -> Vec<u8> {
        let mut p = vec![0u8; 40 + payload];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 2;
        match next {
            6 if payload >= 20 => p[40 + 12] = 5 << 4,
            17 if payload >= 8 => {
                p[40 + 4..40 + 6].copy_from_slice(&(payload as u16).to_be_bytes())
            }
            _ => {}
        }
        p
    }

    #[test]
    fn tcp_and_udp_take_the_fast_path() {
        assert!(is_plain_transport(&packet(6, 20)));
        assert!(is_plain_transport(&packet(6, 1460)));
        assert!(is_plain_transport(&packet(17, 8)));
        // ICMPv6 is the control plane's: never on the fast path.
        assert!(!is_plain_transport(&packet(58, 8)));
        // Trailing octets, a short TCP header, a UDP Length past the packet: full parse.
        let mut trailing = packet(6, 20);
        trailing.push(0);
        assert!(!is_plain_transport(&trailing));
        assert!(!is_plain_transport(&packet(6, 19)));
        let mut udp = packet(17, 8);
        udp[45] = 9;
        assert!(!is_plain_transport(&udp));
        assert_eq!(
            classify(&udp, 1500),
            Disposition::Drop(DropReason::Malformed)
        );
        // Over the MTU is still too big, however plain.
        assert_eq!(
            classify(&packet(6, 1460), 1400),
            Disposition::Drop(DropReason::TooBig)
        );
    }

    /// A frame to classify: a plain TCP or UDP packet (or ICMPv6, or an extension header
    /// first), then damaged at random.
    fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
        let next = prop_oneof![
            Just(6u8),
            Just(17u8),
            Just(58u8),
            Just(0u8),
            Just(60u8),
            any::<u8>()
        ];
        (
            next,
            0usize..120,
            proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
            prop_oneof![Just(0isize), -50isize..50],
        )
            .prop_map(|(next, payload, edits, resize)| {
                let mut p = packet(next, payload);
                for (at, value) in edits {
                    let at = at % (p.len() + 1);
                    if let Some(b) = p.get_mut(at) {
                        *b = value;
                    }
                }
                let len = p.len().saturating_add_signed(resize);
                p.resize(len, 0xa5);
                p
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The fast path accepts only what the full parse accepts and delivers, and never
        /// changes a decision: every frame is classified (and so counted) exactly as the full
        /// parse would.
        #[test]
        fn fast_path_agrees_with_full_parse(
            frame in prop_oneof![mutated_frame(), proptest::collection::vec(any::<u8>(), 0..100)],
            mtu in prop_oneof![Just(1500usize), 0usize..200],
        ) {
            if is_plain_transport(&frame) {
                prop_assert!(frame::parse(&frame).is_ok());
                prop_assert_eq!(classify_parsed_frame(&frame, usize::MAX), Disposition::Deliver);
            }
            prop_assert_eq!(classify(&frame, mtu), classify_parsed_frame(&frame, mtu));
        }
    }
}
