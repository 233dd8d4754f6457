//! The network's state: links, ports, frames in flight and the event queue. The [`Sim`]
//! (crate::Sim) owns it behind an `Rc<RefCell<_>>` shared with every [`Port`](crate::Port),
//! so that a node's transmit tokens put frames on links directly.

use std::collections::{BinaryHeap, VecDeque};

use bridgeless_wire::pcap::PcapError;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::capture::Capture;
use crate::link::{DirectionCounters, LinkCounters, LinkParams, PortCounters, threshold};
use crate::{LinkId, NodeId, PortId, SimError};

/// RNG streams below this are links' directions (`2 * link + direction`); streams handed to
/// users ([`Sim::rng`](crate::Sim::rng)) have this bit set, so neither can collide.
pub(crate) const USER_STREAM: u64 = 1 << 63;

/// What an event does when its time comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// The frame in this slot reaches the far end of its link.
    Deliver(u32),
    /// The node is due for a poll (stale if the node's `wake_at` differs).
    Wake(u32),
    /// The scripted action in this slot of the [`Sim`](crate::Sim) runs.
    Action(u32),
}

/// An entry of the event queue: earliest time first, then first scheduled first, so that the
/// order of events, and thus the whole run, depends only on the seed and the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) at: u64,
    seq: u64,
    pub(crate) kind: EventKind,
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        // BinaryHeap is a max-heap: reverse.
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A frame buffer of the pool, and where the frame is going.
#[derive(Debug, Default)]
struct Frame {
    buf: Vec<u8>,
    link: u32,
    dir: u8,
    epoch: u32,
    seq: u64,
}

/// One direction of a link.
#[derive(Debug)]
struct Direction {
    /// When the transmitter finishes the last frame queued (ns).
    busy_until: u64,
    /// When each queued frame finishes serializing, oldest first.
    backlog: VecDeque<u64>,
    rng: ChaCha8Rng,
    /// Sequence number of the next frame sent (from 1).
    next_seq: u64,
    /// Highest sequence number delivered so far (0: none).
    max_delivered: u64,
    counters: DirectionCounters,
}

#[derive(Debug)]
struct Link {
    params: LinkParams,
    /// Thresholds of loss, reorder and duplication (see [`threshold`]).
    loss: u64,
    reorder: u64,
    duplication: u64,
    up: bool,
    ends: [Option<u32>; 2],
    /// Changes when frames in flight must be dropped (link down, an end detached).
    epoch: u32,
    dirs: [Direction; 2],
    capture: Option<Capture>,
}

impl Link {
    fn set_params(&mut self, params: LinkParams) {
        self.loss = threshold(params.loss);
        self.reorder = threshold(params.reorder);
        self.duplication = threshold(params.duplication);
        self.params = params;
    }
}

#[derive(Debug)]
struct Port {
    node: u32,
    attachment: Option<(u32, u8)>,
    rx: VecDeque<u32>,
    mtu: usize,
    /// Attachments and detachments so far.
    changes: u64,
    counters: PortCounters,
}

#[derive(Debug, Default)]
pub(crate) struct NodeState {
    /// When the node's pending wake-up event is due (at most one live event per node).
    pub(crate) wake_at: Option<u64>,
    /// Frames the node read or sent: tells whether a poll made progress.
    pub(crate) activity: u64,
    pub(crate) polls: u64,
}

/// The network.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) seed: u64,
    /// Virtual time, in nanoseconds since the start.
    pub(crate) now: u64,
    heap: BinaryHeap<Event>,
    seq: u64,
    frames: Vec<Frame>,
    free: Vec<u32>,
    ports: Vec<Port>,
    links: Vec<Link>,
    pub(crate) nodes: Vec<NodeState>,
    pub(crate) rx_queue_limit: usize,
    pub(crate) capture_errors: u64,
    pub(crate) events: u64,
}

impl Net {
    pub(crate) fn new(seed: u64) -> Net {
        Net {
            seed,
            now: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            frames: Vec::new(),
            free: Vec::new(),
            ports: Vec::new(),
            links: Vec::new(),
            nodes: Vec::new(),
            rx_queue_limit: crate::DEFAULT_RX_QUEUE,
            capture_errors: 0,
            events: 0,
        }
    }

    /// An RNG of its own for `stream`, from the seed: ChaCha8 keyed by the seed, one stream
    /// per use, so that streams never overlap and adding one does not change another.
    pub(crate) fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    pub(crate) fn push(&mut self, at: u64, kind: EventKind) {
        self.seq += 1;
        self.heap.push(Event {
            at,
            seq: self.seq,
            kind,
        });
    }

    pub(crate) fn peek_at(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.at)
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        let event = self.heap.pop()?;
        self.events += 1;
        self.now = self.now.max(event.at);
        Some(event)
    }

    /// Makes sure `node` is polled at `at` (or earlier).
    pub(crate) fn wake(&mut self, node: u32, at: u64) {
        let state = &mut self.nodes[node as usize];
        if state.wake_at.is_none_or(|w| at < w) {
            state.wake_at = Some(at);
            self.push(at, EventKind::Wake(node));
        }
    }

    pub(crate) fn add_node(&mut self) {
        self.nodes.push(NodeState::default());
    }

    pub(crate) fn add_port(&mut self, node: NodeId) -> PortId {
        let id = PortId(self.ports.len() as u32);
        self.ports.push(Port {
            node: node.0,
            attachment: None,
            rx: VecDeque::new(),
            mtu: LinkParams::default().mtu,
            changes: 0,
            counters: PortCounters::default(),
        });
        id
    }

    pub(crate) fn add_link(&mut self, params: LinkParams) -> LinkId {
        let id = self.links.len() as u32;
        let dir = |d: u64| Direction {
            busy_until: 0,
            backlog: VecDeque::new(),
            rng: self.rng(2 * u64::from(id) + d),
            next_seq: 1,
            max_delivered: 0,
            counters: DirectionCounters::default(),
        };
        let dirs = [dir(0), dir(1)];
        let mut link = Link {
            params,
            loss: 0,
            reorder: 0,
            duplication: 0,
            up: true,
            ends: [None, None],
            epoch: 0,
            dirs,
            capture: None,
        };
        link.set_params(params);
        self.links.push(link);
        LinkId(id)
    }

    pub(crate) fn link_count(&self) -> usize {
        self.links.len()
    }

    pub(crate) fn port_count(&self) -> usize {
        self.ports.len()
    }

    // ----- ports and links: state and scripted changes -----

    pub(crate) fn port_node(&self, port: PortId) -> NodeId {
        NodeId(self.ports[port.index()].node)
    }

    pub(crate) fn port_link(&self, port: PortId) -> Option<LinkId> {
        self.ports[port.index()].attachment.map(|(l, _)| LinkId(l))
    }

    pub(crate) fn port_mtu(&self, port: PortId) -> usize {
        self.ports[port.index()].mtu
    }

    pub(crate) fn port_changes(&self, port: PortId) -> u64 {
        self.ports[port.index()].changes
    }

    pub(crate) fn port_pending(&self, port: PortId) -> usize {
        self.ports[port.index()].rx.len()
    }

    pub(crate) fn port_counters(&self, port: PortId) -> PortCounters {
        self.ports[port.index()].counters
    }

    /// Whether the port is attached to a link that is up and has a peer at its other end.
    pub(crate) fn port_is_up(&self, port: PortId) -> bool {
        match self.ports[port.index()].attachment {
            Some((l, end)) => {
                let link = &self.links[l as usize];
                link.up && link.ends[1 - usize::from(end)].is_some()
            }
            None => false,
        }
    }

    pub(crate) fn link_ends(&self, link: LinkId) -> [Option<PortId>; 2] {
        self.links[link.index()].ends.map(|e| e.map(PortId))
    }

    pub(crate) fn link_params(&self, link: LinkId) -> LinkParams {
        self.links[link.index()].params
    }

    pub(crate) fn link_is_up(&self, link: LinkId) -> bool {
        self.links[link.index()].up
    }

    pub(crate) fn link_counters(&self, link: LinkId) -> LinkCounters {
        let l = &self.links[link.index()];
        LinkCounters {
            directions: [l.dirs[0].counters, l.dirs[1].counters],
        }
    }

    /// Wakes the nodes at both ends of `link` now (their link changed).
    fn wake_ends(&mut self, link: u32) {
        let now = self.now;
        for port in self.links[link as usize].ends.into_iter().flatten() {
            let node = self.ports[port as usize].node;
            self.wake(node, now);
        }
    }

    /// Drops what is in flight on `link` (lazily: deliveries of an older epoch are dropped)
    /// and empties its transmit queues.
    fn flush_in_flight(&mut self, link: u32) {
        let l = &mut self.links[link as usize];
        l.epoch = l.epoch.wrapping_add(1);
        for dir in &mut l.dirs {
            dir.busy_until = 0;
            dir.backlog.clear();
        }
    }

    pub(crate) fn attach(&mut self, port: PortId, link: LinkId) -> Result<(), SimError> {
        if let Some((l, _)) = self.ports[port.index()].attachment {
            return Err(SimError::AlreadyAttached {
                port,
                link: LinkId(l),
            });
        }
        let l = &mut self.links[link.index()];
        let end = l
            .ends
            .iter()
            .position(Option::is_none)
            .ok_or(SimError::NoVacantEnd(link))?;
        l.ends[end] = Some(port.0);
        let mtu = l.params.mtu;
        let p = &mut self.ports[port.index()];
        p.attachment = Some((link.0, end as u8));
        p.mtu = mtu;
        p.changes += 1;
        log::debug!("port {} attached to link {} end {end}", port.0, link.0);
        self.wake_ends(link.0);
        Ok(())
    }

    pub(crate) fn detach(&mut self, port: PortId) -> Result<LinkId, SimError> {
        let p = &mut self.ports[port.index()];
        let (link, end) = p.attachment.take().ok_or(SimError::NotAttached(port))?;
        p.changes += 1;
        let node = p.node;
        self.wake_ends(link);
        self.links[link as usize].ends[usize::from(end)] = None;
        self.flush_in_flight(link);
        let now = self.now;
        self.wake(node, now);
        log::debug!("port {} detached from link {link}", port.0);
        Ok(LinkId(link))
    }

    pub(crate) fn set_link_up(&mut self, link: LinkId, up: bool) {
        let l = &mut self.links[link.index()];
        if l.up == up {
            return;
        }
        l.up = up;
        if !up {
            self.flush_in_flight(link.0);
        }
        log::debug!("link {} {}", link.0, if up { "up" } else { "down" });
        self.wake_ends(link.0);
    }

    pub(crate) fn set_link_params(&mut self, link: LinkId, params: LinkParams) {
        let l = &mut self.links[link.index()];
        l.set_params(params);
        for port in l.ends.into_iter().flatten() {
            self.ports[port as usize].mtu = params.mtu;
        }
        self.wake_ends(link.0);
    }

    pub(crate) fn set_capture(
        &mut self,
        link: LinkId,
        capture: Option<Capture>,
    ) -> Option<Capture> {
        core::mem::replace(&mut self.links[link.index()].capture, capture)
    }

    pub(crate) fn captured(&self, link: LinkId) -> Option<Vec<u8>> {
        self.links[link.index()].capture.as_ref()?.bytes()
    }

    pub(crate) fn flush_captures(&mut self) -> Result<(), PcapError> {
        let mut result = Ok(());
        for link in &mut self.links {
            if let Some(capture) = &mut link.capture
                && let Err(e) = capture.flush()
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    // ----- frames -----

    /// Events waiting in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.heap.len()
    }

    /// Frames in flight (in the pool and not free).
    pub(crate) fn frames_in_flight(&self) -> usize {
        self.frames.len() - self.free.len()
    }

    /// Frame buffers the pool holds (its high-water mark).
    pub(crate) fn pool_size(&self) -> usize {
        self.frames.len()
    }

    /// A free slot of the pool and its buffer (taken out while the caller fills it).
    fn alloc(&mut self) -> u32 {
        match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.frames.push(Frame::default());
                (self.frames.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    /// Takes a slot for a frame about to be written; returns it with its buffer, `len` bytes.
    pub(crate) fn tx_begin(&mut self, len: usize) -> (u32, Vec<u8>) {
        let slot = self.alloc();
        let mut buf = core::mem::take(&mut self.frames[slot as usize].buf);
        buf.clear();
        buf.resize(len, 0);
        (slot, buf)
    }

    /// Puts the written frame back in its slot and sends it out of `port`.
    pub(crate) fn tx_end(&mut self, port: PortId, slot: u32, buf: Vec<u8>) {
        self.frames[slot as usize].buf = buf;
        self.transmit(port, slot);
    }

    /// Takes the frame at the head of `port`'s receive queue, with its buffer.
    pub(crate) fn rx_begin(&mut self, port: PortId) -> Option<(u32, Vec<u8>)> {
        let slot = self.ports[port.index()].rx.pop_front()?;
        let buf = core::mem::take(&mut self.frames[slot as usize].buf);
        Some((slot, buf))
    }

    /// Returns a received frame's buffer to the pool.
    pub(crate) fn rx_end(&mut self, port: PortId, slot: u32, buf: Vec<u8>) {
        let p = &mut self.ports[port.index()];
        p.counters.rx_frames += 1;
        p.counters.rx_bytes += buf.len() as u64;
        let node = p.node;
        self.nodes[node as usize].activity += 1;
        self.frames[slot as usize].buf = buf;
        self.release(slot);
    }

    /// Puts the frame in `slot` on the link of `port`, or drops it (counted).
    fn transmit(&mut self, port: PortId, slot: u32) {
        let now = self.now;
        let len = self.frames[slot as usize].buf.len();
        let p = &mut self.ports[port.index()];
        p.counters.tx_frames += 1;
        p.counters.tx_bytes += len as u64;
        self.nodes[p.node as usize].activity += 1;
        let Some((link_id, end)) = p.attachment else {
            p.counters.dropped_detached += 1;
            self.release(slot);
            return;
        };
        let d = usize::from(end);
        let link = &mut self.links[link_id as usize];
        let params = link.params;
        let dir = &mut link.dirs[d];
        dir.counters.sent += 1;
        dir.counters.sent_bytes += len as u64;
        let drop = if !link.up {
            Some(&mut dir.counters.dropped.link_down)
        } else if len > params.mtu {
            Some(&mut dir.counters.dropped.too_big)
        } else if link.ends[1 - d].is_none() {
            Some(&mut dir.counters.dropped.no_peer)
        } else {
            None
        };
        if let Some(counter) = drop {
            *counter += 1;
            self.release(slot);
            return;
        }
        // Transmit queue and serialization.
        let mut departs = now;
        if params.bandwidth_bps != 0 {
            while dir.backlog.front().is_some_and(|&end| end <= now) {
                dir.backlog.pop_front();
            }
            if params.queue_frames != 0 && dir.backlog.len() >= params.queue_frames {
                dir.counters.dropped.queue_full += 1;
                self.release(slot);
                return;
            }
            departs = dir.busy_until.max(now) + params.serialization_nanos(len);
            dir.busy_until = departs;
            dir.backlog.push_back(departs);
        }
        // Faults: three draws per frame whenever any fault is configured, so that the loss
        // pattern does not depend on the duplication or reorder settings.
        let (lost, held, duplicated) = if link.loss | link.reorder | link.duplication != 0 {
            let l = u64::from(dir.rng.next_u32()) < link.loss;
            let r = u64::from(dir.rng.next_u32()) < link.reorder;
            let u = u64::from(dir.rng.next_u32()) < link.duplication;
            (l, r, u)
        } else {
            (false, false, false)
        };
        if lost {
            dir.counters.lost += 1;
            self.release(slot);
            return;
        }
        let mut arrives = departs.saturating_add(params.latency.as_nanos() as u64);
        if held {
            dir.counters.held_back += 1;
            arrives = arrives.saturating_add(params.reorder_delay.as_nanos() as u64);
        }
        let seq = dir.next_seq;
        dir.next_seq += 1;
        let epoch = link.epoch;
        let frame = &mut self.frames[slot as usize];
        frame.link = link_id;
        frame.dir = end;
        frame.epoch = epoch;
        frame.seq = seq;
        self.push(arrives, EventKind::Deliver(slot));
        if duplicated {
            self.links[link_id as usize].dirs[d].counters.duplicated += 1;
            let copy = self.alloc();
            let mut buf = core::mem::take(&mut self.frames[copy as usize].buf);
            buf.clear();
            buf.extend_from_slice(&self.frames[slot as usize].buf);
            self.frames[copy as usize] = Frame {
                buf,
                link: link_id,
                dir: end,
                epoch,
                seq,
            };
            self.push(arrives, EventKind::Deliver(copy));
        }
    }

    /// The frame in `slot` reaches the far end of its link (now).
    pub(crate) fn deliver(&mut self, slot: u32) {
        let now = self.now;
        let frame = &self.frames[slot as usize];
        let (link_id, d, seq, len) = (
            frame.link,
            usize::from(frame.dir),
            frame.seq,
            frame.buf.len(),
        );
        let link = &mut self.links[link_id as usize];
        let dir = &mut link.dirs[d];
        let peer = link.ends[1 - d];
        let (true, Some(peer)) = (frame.epoch == link.epoch, peer) else {
            dir.counters.dropped.in_flight += 1;
            self.release(slot);
            return;
        };
        let port = &mut self.ports[peer as usize];
        if port.rx.len() >= self.rx_queue_limit {
            dir.counters.dropped.rx_overflow += 1;
            port.counters.dropped_rx_overflow += 1;
            self.release(slot);
            return;
        }
        dir.counters.delivered += 1;
        dir.counters.delivered_bytes += len as u64;
        if seq < dir.max_delivered {
            dir.counters.reordered += 1;
        } else {
            dir.max_delivered = seq;
        }
        if let Some(capture) = &mut link.capture
            && let Err(e) = capture.write(now, &frame.buf)
        {
            self.capture_errors += 1;
            if e.is_fatal() && !matches!(e, PcapError::WrongIpVersion { .. }) {
                log::warn!("capture of link {link_id} stopped: {e}");
                link.capture = None;
            } else {
                log::debug!("frame not captured on link {link_id}: {e}");
            }
        }
        port.rx.push_back(slot);
        let node = port.node;
        self.wake(node, now);
    }
}
