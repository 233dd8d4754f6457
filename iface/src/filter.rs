//! The receive filter of a point-to-point host: which frames smoltcp sees, which go to our own
//! control-plane cores, and which are dropped — each drop counted by reason.
//!
//! smoltcp's `Medium::Ip` silently drops every Neighbor Discovery message, Router
//! Advertisements included, and parses MLD only partly. A host on a point-to-point link needs
//! the opposite: Router Advertisements and MLD go to [`rd`](crate::rd) and [`mld`](crate::mld);
//! Neighbor Solicitation, Neighbor Advertisement and Redirect mean nothing without link-layer
//! addresses and are counted and dropped; everything else goes to smoltcp. Decisions are data
//! ([`Disposition`]), so the same filter serves the host interface, tests and fuzzing.

use bridgeless_wire::frame::{self, FrameInfo};
use bridgeless_wire::{Error, ndp};
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::IpProtocol;

/// Where a received frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// To smoltcp's `Interface`.
    Deliver,
    /// To our control plane: a Router Advertisement or an MLD message.
    Control(ControlKind),
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
    /// The frame is larger than the link MTU the interface was configured with.
    TooBig,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 7] = [
        DropReason::Malformed,
        DropReason::NeighborSolicitation,
        DropReason::NeighborAdvertisement,
        DropReason::Redirect,
        DropReason::RouterSolicitation,
        DropReason::SmoltcpMldReport,
        DropReason::TooBig,
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
            Disposition::Drop(r) => self.dropped[r.index()] += 1,
        }
    }
}

/// Decides what a host does with one received frame of at most `mtu` bytes.
///
/// Frames refused by the wire parser with a Parameter Problem (an unrecognised option, say)
/// are delivered: smoltcp answers them as RFC 8200 §4 asks. Everything the parser calls
/// malformed is dropped here, where it can be counted, instead of silently inside smoltcp.
pub fn classify(frame: &[u8], mtu: usize) -> Disposition {
    if frame.len() > mtu {
        return Disposition::Drop(DropReason::TooBig);
    }
    match frame::parse(frame) {
        Ok(info) => classify_parsed(&info),
        Err(Error::ParameterProblem(_)) | Err(Error::Unsupported) => Disposition::Deliver,
        Err(_) => Disposition::Drop(DropReason::Malformed),
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
}

#[derive(Debug, Clone)]
struct TxState {
    mtu: Option<usize>,
    bounce: [u8; BOUNCE_LEN],
    mld_withheld: u64,
}

/// Frames smoltcp transmits that are at most this long pass through a small buffer first, so
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
            },
            tx: TxState {
                mtu: None,
                bounce: [0; BOUNCE_LEN],
                mld_withheld: 0,
            },
        }
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

    /// What the filter has decided so far, both directions.
    pub fn counters(&self) -> FilterCounters {
        let mut c = self.rx.counters;
        c.dropped[DropReason::SmoltcpMldReport.index()] = self.tx.mld_withheld;
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
/// [`ReceiveFilter::device`]) and withholds smoltcp's own MLD reports.
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
    fn consume<R, G: FnOnce(&[u8]) -> R>(self, f: G) -> R {
        let FilteredRx {
            inner,
            on_control,
            state,
            now,
        } = self;
        inner.consume(|frame| {
            let disposition = classify(frame, state.mtu);
            state.counters.count(disposition);
            match disposition {
                Disposition::Deliver => f(frame),
                Disposition::Control(kind) => {
                    on_control(kind, now, frame);
                    f(&[])
                }
                Disposition::Drop(_) => f(&[]),
            }
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}

/// A transmit token that withholds smoltcp's own MLD reports (see [`BOUNCE_LEN`]).
pub struct FilteredTx<'a, T> {
    inner: T,
    state: &'a mut TxState,
}

impl<T: phy::TxToken> phy::TxToken for FilteredTx<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let FilteredTx { inner, state } = self;
        if len > BOUNCE_LEN {
            return inner.consume(len, f);
        }
        let frame = &mut state.bounce[..len];
        let result = f(frame);
        let mld = frame::parse(frame)
            .ok()
            .filter(|info| info.protocol() == IpProtocol::Icmpv6)
            .and_then(|info| info.icmp())
            .is_some_and(|(t, _)| matches!(t, 131 | 132 | 143));
        if mld {
            // Dropping the inner token unconsumed sends nothing.
            state.mld_withheld += 1;
        } else {
            inner.consume(len, |buf| buf.copy_from_slice(frame));
        }
        result
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta)
    }
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

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.inner.capabilities();
        if let Some(mtu) = self.filter.tx.mtu {
            caps.max_transmission_unit = caps.max_transmission_unit.min(mtu);
        }
        caps
    }
}
