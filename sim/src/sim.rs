//! [`Sim`]: the event loop, the script and access to nodes.

use core::any::Any;
use core::cell::RefCell;
use core::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bridgeless_wire::pcap::PcapError;
use rand_chacha::ChaCha8Rng;
use smoltcp::time::Instant;

use crate::capture::Capture;
use crate::device::{Port, Ports};
use crate::link::{LinkCounters, LinkParams, NodeCounters, PortCounters};
use crate::net::{EventKind, Net, USER_STREAM};
use crate::{LinkId, Node, NodeId, PortId, SimError};

/// Polls of one node at one instant after which the simulator stops believing the node's
/// "poll me now" and moves its next poll to the next microsecond (logged): a node that asks
/// to be polled now forever would otherwise stop virtual time.
pub const MAX_POLLS_PER_INSTANT: u32 = 10_000;

/// A change to the network that a script applies at a virtual time ([`Sim::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Takes the link down: frames in flight are lost, frames sent are dropped.
    LinkDown(LinkId),
    /// Brings the link back up.
    LinkUp(LinkId),
    /// Replaces the link's parameters (frames in flight keep their arrival times).
    SetParams(LinkId, LinkParams),
    /// Unplugs the port from its link; frames in flight on that link are lost.
    Detach(PortId),
    /// Plugs the port into a vacant end of the link.
    Attach(PortId, LinkId),
    /// Unplugs the port (if attached) and plugs it into a vacant end of the link: a device
    /// walking from one access point to the next.
    Move(PortId, LinkId),
    /// Polls the node now.
    Wake(NodeId),
}

/// What runs when a scheduled event comes due.
enum Scheduled {
    Action(Action),
    Call(Box<dyn FnOnce(&mut Sim)>),
}

/// A node and its ports.
struct NodeEntry {
    name: String,
    node: Box<dyn Node>,
    ports: Vec<Port>,
    /// The instant of the last poll, and how many polls in a row happened at it.
    last_poll: u64,
    polls_at_last: u32,
}

/// Counters of the simulator itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Events processed (deliveries, wake-ups, scripted actions, stale wake-ups included).
    pub events: u64,
    /// Events waiting in the queue.
    pub queued_events: usize,
    /// Frames in the pool now: on links (queued, serializing, propagating, held back) or
    /// waiting in ports' receive queues.
    pub frames_in_flight: usize,
    /// Frame buffers the pool has ever needed at once: its memory is about this many frames.
    pub frame_pool: usize,
    /// Node polls.
    pub polls: u64,
    /// Frames that could not be written to a capture (not IP, or an I/O error, which also
    /// stops that link's capture).
    pub capture_errors: u64,
}

/// A deterministic virtual-time network: see the [crate documentation](crate).
pub struct Sim {
    net: Rc<RefCell<Net>>,
    nodes: Vec<NodeEntry>,
    scheduled: Vec<Option<Scheduled>>,
    free_scheduled: Vec<u32>,
    capture_dir: Option<PathBuf>,
    failures: Vec<(Instant, Action, SimError)>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let net = self.net.borrow();
        f.debug_struct("Sim")
            .field("seed", &net.seed)
            .field("now", &self.now())
            .field("nodes", &self.nodes.len())
            .field("links", &net.link_count())
            .finish_non_exhaustive()
    }
}

fn to_instant(nanos: u64) -> Instant {
    Instant::from_micros((nanos / 1000) as i64)
}

fn to_nanos(t: Instant) -> u64 {
    u64::try_from(t.total_micros())
        .unwrap_or(0)
        .saturating_mul(1000)
}

impl Sim {
    /// An empty network at virtual time zero whose randomness all derives from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            net: Rc::new(RefCell::new(Net::new(seed))),
            nodes: Vec::new(),
            scheduled: Vec::new(),
            free_scheduled: Vec::new(),
            capture_dir: None,
            failures: Vec::new(),
        }
    }

    /// The seed the simulator was made with.
    pub fn seed(&self) -> u64 {
        self.net.borrow().seed
    }

    /// The virtual time (what nodes see: microseconds, as smoltcp counts).
    pub fn now(&self) -> Instant {
        to_instant(self.now_nanos())
    }

    /// The virtual time in nanoseconds since the start (links serialize to the nanosecond).
    pub fn now_nanos(&self) -> u64 {
        self.net.borrow().now
    }

    /// A random number generator of its own for `stream`, derived from the seed (ChaCha8,
    /// independent of every link's and of every other stream): give each node its own
    /// stream, e.g. its [`NodeId`] index.
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        self.net.borrow().rng(USER_STREAM | stream)
    }

    /// Frames a port's receive queue holds before further arrivals are dropped (counted as
    /// `rx_overflow`); 1024 unless changed.
    pub fn set_rx_queue_limit(&mut self, frames: usize) {
        self.net.borrow_mut().rx_queue_limit = frames;
    }

    // ----- building -----

    /// Adds a node; it is first polled at the current time.
    pub fn add_node<N: Node>(&mut self, name: impl Into<String>, node: N) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(NodeEntry {
            name: name.into(),
            node: Box::new(node),
            ports: Vec::new(),
            last_poll: u64::MAX,
            polls_at_last: 0,
        });
        let mut net = self.net.borrow_mut();
        net.add_node();
        let now = net.now;
        net.wake(id.0, now);
        id
    }

    /// Adds a node with `ports` ports, built by `build` from them: for nodes that need their
    /// devices to be made, as a smoltcp `Interface` does (`Interface::new(config, &mut
    /// ports[0], now)`). The ports' ids are `ports[i].id()`, or [`node_ports`](Self::node_ports).
    pub fn add_node_with<N: Node>(
        &mut self,
        name: impl Into<String>,
        ports: usize,
        build: impl FnOnce(&mut [Port]) -> N,
    ) -> NodeId {
        /// Stands in for the node while it is built.
        struct Unbuilt;
        impl Node for Unbuilt {
            fn poll(&mut self, _: Instant, _: &mut Ports<'_>) {}
        }
        let id = self.add_node(name, Unbuilt);
        for _ in 0..ports {
            self.add_port(id);
        }
        let entry = &mut self.nodes[id.index()];
        entry.node = Box::new(build(&mut entry.ports));
        id
    }

    /// Adds a port (a network attachment, not yet attached to a link) to `node`. The node's
    /// ports appear in [`Ports`] in the order they were added.
    pub fn add_port(&mut self, node: NodeId) -> PortId {
        let id = self.net.borrow_mut().add_port(node);
        let port = Port::new(id, self.net.clone());
        self.nodes[node.index()].ports.push(port);
        id
    }

    /// Another handle on `port`, e.g. to build a smoltcp `Interface` (which reads the
    /// device's capabilities) before the node exists. Frames sent through it leave at the
    /// current virtual time.
    pub fn device(&self, port: PortId) -> Port {
        assert!(
            port.index() < self.net.borrow().port_count(),
            "no such port"
        );
        Port::new(port, self.net.clone())
    }

    /// A link with both ends vacant, for ports to [`attach`](Self::attach) to (an access
    /// point's radio, say).
    pub fn add_link(&mut self, params: LinkParams) -> LinkId {
        let link = self.net.borrow_mut().add_link(params);
        if let Some(dir) = self.capture_dir.clone() {
            self.open_capture_in(link, &dir);
        }
        link
    }

    /// A link between two ports not attached yet; `a` is end A, `b` end B.
    pub fn connect(
        &mut self,
        a: PortId,
        b: PortId,
        params: LinkParams,
    ) -> Result<LinkId, SimError> {
        if a == b {
            return Err(SimError::SamePort(a));
        }
        let net = self.net.borrow();
        for port in [a, b] {
            if let Some(link) = net.port_link(port) {
                return Err(SimError::AlreadyAttached { port, link });
            }
        }
        drop(net);
        let link = self.net.borrow_mut().add_link(params);
        self.attach(a, link)?;
        self.attach(b, link)?;
        if let Some(dir) = self.capture_dir.clone() {
            self.open_capture_in(link, &dir);
        }
        Ok(link)
    }

    /// Plugs `port` into a vacant end of `link` now (end A first).
    pub fn attach(&mut self, port: PortId, link: LinkId) -> Result<(), SimError> {
        self.net.borrow_mut().attach(port, link)
    }

    /// Unplugs `port` now; returns the link it was attached to. Frames in flight on that
    /// link are lost.
    pub fn detach(&mut self, port: PortId) -> Result<LinkId, SimError> {
        self.net.borrow_mut().detach(port)
    }

    /// Takes `link` down or brings it up now.
    pub fn set_link_up(&mut self, link: LinkId, up: bool) {
        self.net.borrow_mut().set_link_up(link, up);
    }

    /// Replaces `link`'s parameters now.
    pub fn set_link_params(&mut self, link: LinkId, params: LinkParams) {
        self.net.borrow_mut().set_link_params(link, params);
    }

    // ----- the script -----

    /// Applies `action` at virtual time `at` (now, if `at` has passed). An action that
    /// fails then (attaching to a link with no vacant end, say) is logged and listed in
    /// [`failures`](Self::failures).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        self.schedule_item(at, Scheduled::Action(action));
    }

    /// Calls `f` with the simulator at virtual time `at`: to start a transfer, check a
    /// state, or anything [`schedule`](Self::schedule) has no action for.
    pub fn schedule_fn(&mut self, at: Instant, f: impl FnOnce(&mut Sim) + 'static) {
        self.schedule_item(at, Scheduled::Call(Box::new(f)));
    }

    fn schedule_item(&mut self, at: Instant, item: Scheduled) {
        let slot = match self.free_scheduled.pop() {
            Some(slot) => {
                self.scheduled[slot as usize] = Some(item);
                slot
            }
            None => {
                self.scheduled.push(Some(item));
                (self.scheduled.len() - 1) as u32
            }
        };
        let mut net = self.net.borrow_mut();
        let at = to_nanos(at).max(net.now);
        net.push(at, EventKind::Action(slot));
    }

    /// Scripted actions that failed: when, what, and why.
    pub fn failures(&self) -> &[(Instant, Action, SimError)] {
        &self.failures
    }

    /// Applies `action` now.
    pub fn apply(&mut self, action: Action) -> Result<(), SimError> {
        match action {
            Action::LinkDown(link) => self.set_link_up(link, false),
            Action::LinkUp(link) => self.set_link_up(link, true),
            Action::SetParams(link, params) => self.set_link_params(link, params),
            Action::Detach(port) => {
                self.detach(port)?;
            }
            Action::Attach(port, link) => self.attach(port, link)?,
            Action::Move(port, link) => {
                let mut net = self.net.borrow_mut();
                if net.port_link(port).is_some() {
                    net.detach(port)?;
                }
                net.attach(port, link)?;
            }
            Action::Wake(node) => self.wake(node),
        }
        Ok(())
    }

    // ----- running -----

    /// When the next event is due, if any.
    pub fn next_event_at(&self) -> Option<Instant> {
        self.net.borrow().peek_at().map(to_instant)
    }

    /// Processes every event due at the earliest pending time (those it causes at the same
    /// time included) and returns that time; `None` if nothing is pending.
    pub fn step(&mut self) -> Option<Instant> {
        let at = self.net.borrow().peek_at()?;
        while self.net.borrow().peek_at() == Some(at) {
            self.process_one();
        }
        Some(to_instant(at))
    }

    /// Runs every event due up to and including `t`, then sets the clock to `t` (if later
    /// than now).
    pub fn run_until(&mut self, t: Instant) {
        let end = to_nanos(t);
        while self.net.borrow().peek_at().is_some_and(|at| at <= end) {
            self.process_one();
        }
        let mut net = self.net.borrow_mut();
        net.now = net.now.max(end);
    }

    /// Runs for `d` of virtual time (a `core::time::Duration` or a smoltcp one).
    pub fn run_for(&mut self, d: impl Into<core::time::Duration>) {
        let end = self
            .now_nanos()
            .saturating_add(d.into().as_nanos().min(u128::from(u64::MAX)) as u64);
        while self.net.borrow().peek_at().is_some_and(|at| at <= end) {
            self.process_one();
        }
        let mut net = self.net.borrow_mut();
        net.now = net.now.max(end);
    }

    /// Runs until `done` returns true (checked before each instant is processed) or virtual
    /// time `deadline` is reached; returns whether `done` became true. For tests: "run until
    /// the transfer finished, but at most ten minutes".
    pub fn run_until_done(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&mut Sim) -> bool,
    ) -> bool {
        let end = to_nanos(deadline);
        loop {
            if done(self) {
                return true;
            }
            match self.net.borrow().peek_at() {
                Some(at) if at <= end => {}
                _ => break,
            }
            self.step();
        }
        let mut net = self.net.borrow_mut();
        net.now = net.now.max(end);
        drop(net);
        done(self)
    }

    fn process_one(&mut self) {
        let Some(event) = self.net.borrow_mut().pop() else {
            return;
        };
        match event.kind {
            EventKind::Deliver(slot) => self.net.borrow_mut().deliver(slot),
            EventKind::Wake(node) => {
                let due = {
                    let mut net = self.net.borrow_mut();
                    let state = &mut net.nodes[node as usize];
                    if state.wake_at == Some(event.at) {
                        state.wake_at = None;
                        true
                    } else {
                        false
                    }
                };
                if due {
                    self.poll_node(node);
                }
            }
            EventKind::Action(slot) => {
                let item = self.scheduled[slot as usize].take();
                self.free_scheduled.push(slot);
                match item {
                    Some(Scheduled::Action(action)) => {
                        if let Err(e) = self.apply(action) {
                            log::warn!("scripted {action:?} failed: {e}");
                            self.failures.push((self.now(), action, e));
                        }
                    }
                    Some(Scheduled::Call(f)) => f(self),
                    None => {}
                }
            }
        }
    }

    /// Polls `node` now and schedules its next poll.
    fn poll_node(&mut self, node: u32) {
        let now_ns = self.now_nanos();
        let now = to_instant(now_ns);
        let before = self.net.borrow().nodes[node as usize].activity;
        let entry = &mut self.nodes[node as usize];
        entry.node.poll(
            now,
            &mut Ports {
                ports: &mut entry.ports,
            },
        );
        let wanted = entry.node.poll_at(now);
        if entry.last_poll == now_ns {
            entry.polls_at_last += 1;
        } else {
            entry.last_poll = now_ns;
            entry.polls_at_last = 1;
        }
        let mut net = self.net.borrow_mut();
        let state = &mut net.nodes[node as usize];
        state.polls += 1;
        let progressed = state.activity != before;
        let next_micro = (now_ns / 1000 + 1) * 1000;
        // Poll again now only if this poll did something: otherwise a node that keeps asking
        // for "now" (smoltcp's way of saying "as soon as possible") is polled at the next
        // microsecond, the next instant it can tell apart.
        let mut again = progressed && entry.ports.iter().any(|p| net.port_pending(p.id()) > 0);
        let mut next = wanted.map(|t| {
            let t = to_nanos(t);
            if t > now_ns {
                t
            } else if progressed {
                again = true;
                now_ns
            } else {
                next_micro
            }
        });
        if again {
            next = Some(now_ns);
        }
        if next == Some(now_ns) && entry.polls_at_last >= MAX_POLLS_PER_INSTANT {
            if entry.polls_at_last == MAX_POLLS_PER_INSTANT {
                log::warn!(
                    "node {} asked to be polled {MAX_POLLS_PER_INSTANT} times at {now}; deferring",
                    entry.name
                );
            }
            next = Some(next_micro);
        }
        if let Some(at) = next {
            net.wake(node, at);
        }
    }

    /// Polls `node` at the current time (after the events already due now).
    pub fn wake(&mut self, node: NodeId) {
        let mut net = self.net.borrow_mut();
        let now = net.now;
        net.wake(node.0, now);
    }

    // ----- nodes -----

    /// The node with this id, if it is a `T`.
    pub fn node<T: Node>(&self, id: NodeId) -> Option<&T> {
        let node: &dyn Any = &*self.nodes.get(id.index())?.node;
        node.downcast_ref()
    }

    /// The node with this id, if it is a `T`, to inspect or change. The node is polled at
    /// the current time afterwards, since it may have been given something to do.
    pub fn node_mut<T: Node>(&mut self, id: NodeId) -> Option<&mut T> {
        self.wake(id);
        let node: &mut dyn Any = &mut *self.nodes.get_mut(id.index())?.node;
        node.downcast_mut()
    }

    /// The node's name.
    pub fn node_name(&self, id: NodeId) -> &str {
        &self.nodes[id.index()].name
    }

    /// The first node with this name.
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u32))
    }

    /// The node's ports, in the order they were added.
    pub fn node_ports(&self, id: NodeId) -> Vec<PortId> {
        self.nodes[id.index()].ports.iter().map(Port::id).collect()
    }

    /// The node a port belongs to.
    pub fn port_node(&self, port: PortId) -> NodeId {
        self.net.borrow().port_node(port)
    }

    /// The link a port is attached to.
    pub fn port_link(&self, port: PortId) -> Option<LinkId> {
        self.net.borrow().port_link(port)
    }

    /// The ports at a link's ends (A, B); `None` for a vacant end.
    pub fn link_ends(&self, link: LinkId) -> [Option<PortId>; 2] {
        self.net.borrow().link_ends(link)
    }

    /// A link's parameters.
    pub fn link_params(&self, link: LinkId) -> LinkParams {
        self.net.borrow().link_params(link)
    }

    /// Whether a link is up.
    pub fn link_is_up(&self, link: LinkId) -> bool {
        self.net.borrow().link_is_up(link)
    }

    /// How many nodes, ports and links there are.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let net = self.net.borrow();
        (self.nodes.len(), net.port_count(), net.link_count())
    }

    // ----- counters -----

    /// A link's counters.
    pub fn link_counters(&self, link: LinkId) -> LinkCounters {
        self.net.borrow().link_counters(link)
    }

    /// A port's counters.
    pub fn port_counters(&self, port: PortId) -> PortCounters {
        self.net.borrow().port_counters(port)
    }

    /// A node's counters: its polls and the sum of its ports' counters.
    pub fn node_counters(&self, node: NodeId) -> NodeCounters {
        let net = self.net.borrow();
        let mut counters = NodeCounters {
            polls: net.nodes[node.index()].polls,
            ..NodeCounters::default()
        };
        for port in &self.nodes[node.index()].ports {
            counters.ports.add(&net.port_counters(port.id()));
        }
        counters
    }

    /// The simulator's own counters.
    pub fn counters(&self) -> SimCounters {
        let net = self.net.borrow();
        SimCounters {
            events: net.events,
            queued_events: net.queued(),
            frames_in_flight: net.frames_in_flight(),
            frame_pool: net.pool_size(),
            polls: net.nodes.iter().map(|n| n.polls).sum(),
            capture_errors: net.capture_errors,
        }
    }

    // ----- captures -----

    /// Writes every frame `link` delivers, both directions, to a pcap file at `path`
    /// (`LINKTYPE_RAW`, nanosecond timestamps in virtual time since the start), replacing
    /// any capture of that link. Call [`flush_captures`](Self::flush_captures) (or drop the
    /// simulator) before reading it.
    pub fn capture_link(&mut self, link: LinkId, path: impl AsRef<Path>) -> Result<(), PcapError> {
        let capture = Capture::file(path.as_ref())?;
        self.net.borrow_mut().set_capture(link, Some(capture));
        Ok(())
    }

    /// Captures `link` in memory instead; read it with [`captured`](Self::captured).
    pub fn capture_link_in_memory(&mut self, link: LinkId) {
        let capture = Capture::memory().expect("a pcap header always fits in memory");
        self.net.borrow_mut().set_capture(link, Some(capture));
    }

    /// The pcap bytes of an in-memory capture so far.
    pub fn captured(&self, link: LinkId) -> Option<Vec<u8>> {
        self.net.borrow().captured(link)
    }

    /// Stops capturing `link` (flushing and closing its file).
    pub fn stop_capture(&mut self, link: LinkId) -> Result<(), PcapError> {
        match self.net.borrow_mut().set_capture(link, None) {
            Some(mut capture) => capture.flush(),
            None => Ok(()),
        }
    }

    /// Captures every link, those added later included, to files in `dir` (created if
    /// needed) named `link-NNNN-A-B.pcap` after the link's number and the nodes at its ends
    /// when the capture began (`none` for a vacant end). One open file per link: mind the
    /// process's file limit in large simulations.
    pub fn capture_all(&mut self, dir: impl AsRef<Path>) -> Result<(), PcapError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let links = self.net.borrow().link_count();
        for link in 0..links {
            let path = self.capture_path(LinkId(link as u32), &dir);
            self.capture_link(LinkId(link as u32), path)?;
        }
        self.capture_dir = Some(dir);
        Ok(())
    }

    fn capture_path(&self, link: LinkId, dir: &Path) -> PathBuf {
        let ends = self.link_ends(link).map(|end| match end {
            Some(port) => self.node_name(self.port_node(port)).to_string(),
            None => "none".to_string(),
        });
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        dir.join(format!(
            "link-{:04}-{}-{}.pcap",
            link.0,
            clean(&ends[0]),
            clean(&ends[1])
        ))
    }

    fn open_capture_in(&mut self, link: LinkId, dir: &Path) {
        let path = self.capture_path(link, dir);
        if let Err(e) = self.capture_link(link, &path) {
            log::warn!("cannot capture link {} to {}: {e}", link.0, path.display());
            self.net.borrow_mut().capture_errors += 1;
        }
    }

    /// Flushes every capture file.
    pub fn flush_captures(&mut self) -> Result<(), PcapError> {
        self.net.borrow_mut().flush_captures()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Ok(mut net) = self.net.try_borrow_mut() {
            let _ = net.flush_captures();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    /// Records when it was polled; asks for the times in `wake_at`, or "now" forever.
    #[derive(Default)]
    struct Clock {
        polls: Vec<i64>,
        wake_at: Vec<i64>,
        greedy: bool,
    }

    impl Node for Clock {
        fn poll(&mut self, now: Instant, _: &mut Ports<'_>) {
            self.polls.push(now.total_micros());
        }
        fn poll_at(&mut self, now: Instant) -> Option<Instant> {
            if self.greedy {
                return Some(now);
            }
            let t = *self.wake_at.iter().find(|&&t| t > now.total_micros())?;
            Some(Instant::from_micros(t))
        }
    }

    #[test]
    fn nodes_are_polled_when_they_ask() {
        let mut sim = Sim::new(0);
        let id = sim.add_node(
            "clock",
            Clock {
                wake_at: vec![10, 25, 1_000],
                ..Clock::default()
            },
        );
        assert_eq!(
            sim.step(),
            Some(Instant::ZERO),
            "a new node is polled at once"
        );
        sim.run_until(Instant::from_micros(30));
        assert_eq!(sim.node::<Clock>(id).unwrap().polls, [0, 10, 25]);
        assert_eq!(sim.now(), Instant::from_micros(30));
        assert_eq!(sim.next_event_at(), Some(Instant::from_micros(1_000)));
        // node_mut polls the node now, before its own time comes.
        sim.node_mut::<Clock>(id).unwrap();
        sim.run_for(Duration::from_micros(1));
        assert_eq!(sim.node::<Clock>(id).unwrap().polls, [0, 10, 25, 30]);
        assert!(sim.node::<Other>(id).is_none(), "wrong type");
        assert_eq!(sim.node_counters(id).polls, 4);
    }

    /// Any other node type.
    struct Other;
    impl Node for Other {
        fn poll(&mut self, _: Instant, _: &mut Ports<'_>) {}
    }

    #[test]
    fn a_node_asking_for_now_does_not_stop_time() {
        let mut sim = Sim::new(0);
        let id = sim.add_node(
            "greedy",
            Clock {
                greedy: true,
                ..Clock::default()
            },
        );
        sim.run_until(Instant::from_micros(5));
        // No frame moved, so "now" means the next microsecond.
        assert_eq!(sim.node::<Clock>(id).unwrap().polls, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn scripts_run_in_time_order_and_the_past_means_now() {
        use std::cell::RefCell;
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut sim = Sim::new(0);
        for (at, tag) in [(20, "b"), (10, "a"), (20, "c")] {
            let log = log.clone();
            sim.schedule_fn(Instant::from_millis(at), move |sim| {
                log.borrow_mut().push((sim.now().total_millis(), tag));
            });
        }
        sim.run_until(Instant::from_millis(15));
        let late = log.clone();
        sim.schedule_fn(Instant::from_millis(1), move |sim| {
            late.borrow_mut().push((sim.now().total_millis(), "late"));
        });
        assert_eq!(sim.step(), Some(Instant::from_millis(15)));
        sim.run_until(Instant::from_secs(1));
        assert_eq!(
            *log.borrow(),
            [(10, "a"), (15, "late"), (20, "b"), (20, "c")],
            "same time: in the order scheduled"
        );
        assert_eq!(sim.step(), None);
    }

    #[test]
    fn user_streams_are_independent_of_links() {
        use rand_core::RngCore;
        let sim = Sim::new(5);
        assert_eq!(sim.rng(3).next_u64(), Sim::new(5).rng(3).next_u64());
        assert_ne!(sim.rng(3).next_u64(), sim.rng(4).next_u64());
        assert_ne!(sim.rng(3).next_u64(), Sim::new(6).rng(3).next_u64());
        assert_ne!(sim.rng(0).next_u64(), sim.net.borrow().rng(0).next_u64());
    }
}
