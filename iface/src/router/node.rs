//! [`Router`]: the data plane, the router's own protocols, and the driver loop over its links.

use bridgeless_wire::frame::{self, Ipv6Header};
use rand_core::RngCore;
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv6Address, checksum};

use super::forward::{DropReason, Forwarder, LinkId, Verdict};
use super::io::LinkIo;
use super::multicast::{Multicast, RouterMldProxy};
use super::tree::{BuildError, RouterConfig, RouterLink, Tree, TreeEvent};
use crate::route_table::BATCH_LANES;

/// The largest frame the router handles: the largest IPv6 packet without a jumbogram.
pub const MAX_FRAME: usize = 40 + 65_535;

/// Frames taken from one link per [`Router::poll`] before moving on to the next, so that a busy
/// link cannot starve the others.
pub const RX_BUDGET: usize = 64;

/// The receive buffer: a batch of frames packed one after another, with room for a whole
/// [`MAX_FRAME`] at every receive (typical frames leave room for [`BATCH_LANES`] of them).
const RX_ROOM: usize = BATCH_LANES * 2048 + MAX_FRAME;

/// What the router did with the packets addressed to itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalCounters {
    /// Echo Requests answered (RFC 4443 §4.2).
    pub echo_replies: u64,
    /// Packets for the router that no protocol of it handles (counted, dropped).
    pub unhandled: u64,
    /// Multicast packets not forwarded because the router has no multicast routing.
    pub multicast_unrouted: u64,
    /// Multicast packets the MLD proxy refused (scope, boundary, link-local source).
    pub multicast_refused: u64,
    /// Frames a device refused to send (its queue was full).
    pub tx_refused: u64,
}

/// The sink through which [`Router::handle_frame`] sends frames: the driver's links.
pub trait FrameSink {
    /// Sends a `len`-octet frame on `link`, written by `fill`; `false` if it could not.
    fn send(&mut self, link: LinkId, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool;
}

/// A [`FrameSink`] over a router's links: `links[i]` is `LinkId(i)`.
pub struct Links<'a, 'b> {
    /// The links.
    pub links: &'a mut [&'b mut dyn LinkIo],
    /// The time handed to the devices.
    pub now: Instant,
}

impl FrameSink for Links<'_, '_> {
    fn send(&mut self, link: LinkId, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        match self.links.get_mut(link.index()) {
            Some(io) => io.transmit_frame(self.now, len, fill),
            None => false,
        }
    }
}

/// A router: see the [module documentation](super).
#[derive(Debug)]
pub struct Router {
    forwarder: Forwarder,
    tree: Option<Tree>,
    multicast: Option<Multicast>,
    /// Scratch list of the links a multicast packet is copied to.
    fanout: Vec<LinkId>,
    local: LocalCounters,
    rx: Vec<u8>,
    icmp: Vec<u8>,
    tx: Vec<u8>,
    scratch: Vec<u8>,
}

impl Router {
    /// A router with static routes only: `forwarder` with its links and routes set up, and no
    /// protocol of the address tree.
    pub fn new(forwarder: Forwarder) -> Self {
        Router {
            forwarder,
            tree: None,
            multicast: None,
            fanout: Vec::new(),
            local: LocalCounters::default(),
            rx: vec![0; RX_ROOM],
            icmp: vec![0; 1280],
            tx: vec![0; 1500],
            scratch: vec![0; 1500],
        }
    }

    /// A router of the address tree (see [`Tree`]) over `links` (`LinkId(i)` is `links[i]`):
    /// the core when `config.prefix` is set, otherwise a router that requests its prefix over
    /// its upstream link. Its protocols start at the first [`poll`](Self::poll) or
    /// [`handle_timeout`](Self::handle_timeout).
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn build(
        config: RouterConfig,
        links: &[RouterLink],
        now: Instant,
    ) -> Result<Self, BuildError> {
        let (multicast, mld_version) = (config.multicast, config.mld_version);
        let (tree, forwarder) = Tree::build(config, links, now)?;
        let mut router = Router::new(forwarder);
        if multicast {
            let described: Vec<_> = links
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let link = router.forwarder.link(LinkId(i as u16))?;
                    Some((l.role, link.link_local, l.mtu))
                })
                .collect();
            router.multicast = Some(Multicast::new(&described, mld_version, now)?);
        }
        router.tree = Some(tree);
        Ok(router)
    }

    /// The address tree's control plane, for a router made with [`build`](Self::build).
    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// The MLD proxy (queriers per downstream link, upstream host) of a router built with
    /// multicast routing on: listeners per group and source, counters per group and link.
    pub fn multicast(&self) -> Option<&RouterMldProxy> {
        self.multicast.as_ref().map(Multicast::proxy)
    }

    /// The next event of the address tree.
    pub fn poll_event(&mut self) -> Option<TreeEvent> {
        self.tree.as_mut()?.poll_event()
    }

    /// Starts an orderly shutdown: final Router Advertisements (router lifetime 0) on every
    /// downstream link and a Release of the delegated prefix upstream. Keep polling for a
    /// moment (or call [`poll_transmit`](Self::poll_transmit) until it returns `None`) to send
    /// them.
    pub fn shutdown<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        if let Some(tree) = self.tree.as_mut() {
            tree.shutdown(now, rng);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tree = self.tree.as_ref().and_then(Tree::poll_timeout);
        let multicast = self.multicast.as_ref().and_then(Multicast::poll_timeout);
        tree.into_iter().chain(multicast).min()
    }

    /// Serves the protocol timers that are due.
    pub fn handle_timeout<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        if let Some(tree) = self.tree.as_mut() {
            tree.handle_timeout(now, rng, &mut self.forwarder);
        }
        if let Some(multicast) = self.multicast.as_mut() {
            multicast.handle_timeout(now);
        }
    }

    /// Writes the router's next control packet (Router Advertisement, Router Solicitation,
    /// DHCPv6, MLD query or report) into `buf` and says which link it goes out of.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(LinkId, usize)> {
        if let Some(tree) = self.tree.as_mut()
            && let Some(sent) = tree.poll_transmit(now, buf, &mut self.scratch, &self.forwarder)
        {
            return Some(sent);
        }
        self.multicast.as_mut()?.poll_transmit(now, buf)
    }

    /// The data plane.
    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// The data plane, to change links and routes.
    pub fn forwarder_mut(&mut self) -> &mut Forwarder {
        &mut self.forwarder
    }

    /// Counters of the router's own packets.
    pub fn local_counters(&self) -> &LocalCounters {
        &self.local
    }

    /// Handles one frame that arrived on `link`: forwards it, answers it, or drops it (counted),
    /// sending whatever results through `sink`.
    pub fn handle_frame<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        frame: &[u8],
        sink: &mut dyn FrameSink,
        rng: &mut R,
    ) {
        let verdict = self.forwarder.route(now, link, frame, &mut self.icmp);
        match verdict {
            Verdict::Forward { link: out, len } => self.send_copy(out, &frame[..len], sink),
            Verdict::Error { link: out, len, .. } => {
                let icmp = &self.icmp[..len];
                if !sink.send(out, len, &mut |buf| buf.copy_from_slice(icmp)) {
                    self.local.tx_refused += 1;
                }
            }
            Verdict::Local { len } => self.handle_local(now, link, &frame[..len], sink, rng),
            Verdict::Multicast { len } => self.replicate(now, link, &frame[..len], sink),
            Verdict::Drop(_) => {}
        }
    }

    /// Handles frames that arrived on `link` together, packed in `rx` and ending at `ends`:
    /// decides them with one [`Forwarder::route_batch`] (so that their route lookups
    /// overlap), sending ICMPv6 errors as they are built, then acts on each verdict in
    /// order. The same as [`handle_frame`](Self::handle_frame) on each, except that a frame
    /// for the router that changes routes (a delegation) affects the next batch, not the
    /// rest of this one.
    fn handle_batch<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        rx: &[u8],
        ends: &[usize],
        links: &mut [&mut dyn LinkIo],
        rng: &mut R,
    ) {
        let mut frames: [&[u8]; BATCH_LANES] = [&[]; BATCH_LANES];
        let mut start = 0;
        for (frame, &end) in frames.iter_mut().zip(ends) {
            *frame = &rx[start..end];
            start = end;
        }
        let frames = &frames[..ends.len().min(BATCH_LANES)];
        let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BATCH_LANES];
        let mut sink = Links { links, now };
        let tx_refused = &mut self.local.tx_refused;
        self.forwarder.route_batch(
            now,
            link,
            frames,
            &mut verdicts,
            &mut self.icmp,
            |_, out, icmp| {
                if !sink.send(out, icmp.len(), &mut |buf| buf.copy_from_slice(icmp)) {
                    *tx_refused += 1;
                }
            },
        );
        for (frame, verdict) in frames.iter().zip(verdicts) {
            match verdict {
                Verdict::Forward { link: out, len } => {
                    self.send_copy(out, &frame[..len], &mut sink)
                }
                Verdict::Local { len } => {
                    self.handle_local(now, link, &frame[..len], &mut sink, rng)
                }
                Verdict::Multicast { len } => self.replicate(now, link, &frame[..len], &mut sink),
                // Errors were sent as they were built.
                Verdict::Error { .. } | Verdict::Drop(_) => {}
            }
        }
    }

    /// Copies a multicast packet to the links whose listeners want it (RFC 4605 §4.2).
    fn replicate(
        &mut self,
        now: Instant,
        in_link: LinkId,
        packet: &[u8],
        sink: &mut dyn FrameSink,
    ) {
        let Some(multicast) = self.multicast.as_mut() else {
            self.local.multicast_unrouted += 1;
            return;
        };
        let (Ok(src), Ok(dst)) = (
            <[u8; 16]>::try_from(&packet[8..24]),
            <[u8; 16]>::try_from(&packet[24..40]),
        ) else {
            return;
        };
        let mut fanout = core::mem::take(&mut self.fanout);
        let routed = multicast.forward(
            in_link,
            &Ipv6Address::from(dst),
            &Ipv6Address::from(src),
            &mut fanout,
        );
        if routed.is_err() {
            self.local.multicast_refused += 1;
        }
        for &out in &fanout {
            match self
                .forwarder
                .replicate(now, in_link, out, packet, &mut self.icmp)
            {
                Verdict::Forward { link, .. } => self.send_copy(link, packet, sink),
                Verdict::Error { link, len, .. } => {
                    let icmp = &self.icmp[..len];
                    if !sink.send(link, len, &mut |buf| buf.copy_from_slice(icmp)) {
                        self.local.tx_refused += 1;
                    }
                }
                _ => {}
            }
        }
        self.fanout = fanout;
    }

    fn send_copy(&mut self, out: LinkId, packet: &[u8], sink: &mut dyn FrameSink) {
        let forwarder = &mut self.forwarder;
        let sent = sink.send(out, packet.len(), &mut |buf| {
            forwarder.forward_into(out, packet, buf);
        });
        if !sent {
            self.local.tx_refused += 1;
        }
    }

    /// A packet for the router itself.
    fn handle_local<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        packet: &[u8],
        sink: &mut dyn FrameSink,
        rng: &mut R,
    ) {
        let (Ok(info), Ok(header)) = (frame::parse(packet), Ipv6Header::parse(packet)) else {
            self.local.unhandled += 1;
            return;
        };
        let handled = match (info.icmp(), info.ports()) {
            (Some((128, 0)), _) if !header.dst.is_multicast() => {
                let body = &packet[info.upper_offset()..];
                if header.next_header == IpProtocol::Icmpv6 && body.len() >= 8 {
                    self.echo_reply(link, &header, body, sink);
                    true
                } else {
                    false
                }
            }
            (Some((130 | 131 | 132 | 143, _)), _) => match self.multicast.as_mut() {
                Some(multicast) => multicast.handle_mld(now, link, packet, rng),
                None => false,
            },
            (Some((133 | 134, _)), _) => match self.tree.as_mut() {
                Some(tree) => tree.handle_nd(now, link, packet, rng, &mut self.forwarder),
                None => false,
            },
            (
                _,
                Some((
                    _,
                    port @ (bridgeless_wire::dhcpv6::CLIENT_PORT
                    | bridgeless_wire::dhcpv6::SERVER_PORT),
                )),
            ) => match (self.tree.as_mut(), info.upper_layer().get(8..)) {
                (Some(tree), Some(payload)) => tree.handle_dhcp(
                    now,
                    link,
                    (header.src, port, payload),
                    rng,
                    &mut self.forwarder,
                ),
                _ => false,
            },
            _ => false,
        };
        if !handled {
            self.local.unhandled += 1;
        }
    }

    /// Answers an Echo Request with an Echo Reply carrying the same identifier, sequence number
    /// and data (RFC 4443 §4.2), from the address it was sent to.
    fn echo_reply(
        &mut self,
        link: LinkId,
        request: &Ipv6Header,
        body: &[u8],
        sink: &mut dyn FrameSink,
    ) {
        let reply = Ipv6Header {
            src: request.dst,
            dst: request.src,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            ..*request
        };
        let len = Ipv6Header::LEN + body.len();
        let out = self.out_link(request.src).unwrap_or(link);
        let sent = sink.send(out, len, &mut |buf| {
            let _ = reply.emit(buf);
            let icmp = &mut buf[Ipv6Header::LEN..len];
            icmp.copy_from_slice(body);
            icmp[0] = 129;
            icmp[2..4].copy_from_slice(&[0, 0]);
            let sum = !checksum::combine(&[
                checksum::pseudo_header_v6(
                    &reply.src,
                    &reply.dst,
                    IpProtocol::Icmpv6,
                    body.len() as u32,
                ),
                checksum::data(icmp),
            ]);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        });
        if sent {
            self.local.echo_replies += 1;
        } else {
            self.local.tx_refused += 1;
        }
    }

    /// The link the route table sends `dst` out of, for the router's own packets.
    fn out_link(&self, dst: Ipv6Address) -> Option<LinkId> {
        if dst.is_unicast_link_local() {
            return None;
        }
        match self.forwarder.routes().lookup(dst) {
            Some((_, super::Route::Link(link))) => Some(link),
            _ => None,
        }
    }

    /// The driver: takes up to [`RX_BUDGET`] frames from each link in turn and handles them.
    /// `links[i]` is link `LinkId(i)`. Returns how many frames arrived.
    pub fn poll<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        links: &mut [&mut dyn LinkIo],
        rng: &mut R,
    ) -> usize {
        let mut handled = 0;
        let mut rx = core::mem::take(&mut self.rx);
        for i in 0..links.len() {
            let link = LinkId(i as u16);
            let mut budget = RX_BUDGET;
            let mut more = true;
            while more && budget > 0 {
                // Up to BATCH_LANES frames, packed, each received with MAX_FRAME of room.
                let mut ends = [0usize; BATCH_LANES];
                let (mut n, mut used) = (0, 0);
                while n < BATCH_LANES.min(budget) && rx.len() - used >= MAX_FRAME {
                    let Some(len) = links[i].receive_frame(now, &mut rx[used..used + MAX_FRAME])
                    else {
                        more = false;
                        break;
                    };
                    used += len;
                    ends[n] = used;
                    n += 1;
                }
                budget -= n;
                handled += n;
                if n > 0 {
                    self.handle_batch(now, link, &rx, &ends[..n], links, rng);
                }
            }
        }
        self.rx = rx;
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.handle_timeout(now, rng);
        }
        let mut tx = core::mem::take(&mut self.tx);
        let mut sink = Links { links, now };
        while let Some((link, len)) = self.poll_transmit(now, &mut tx) {
            let packet = &tx[..len];
            if !sink.send(link, len, &mut |buf| buf.copy_from_slice(packet)) {
                self.local.tx_refused += 1;
            }
        }
        self.tx = tx;
        handled
    }
}
