//! A deterministic virtual-time network simulator.
//!
//! A [`Sim`] holds **nodes** (your objects, implementing [`Node`]), their **ports** (network
//! attachments) and point-to-point **links** between ports. A node sees each of its ports as
//! a smoltcp [`Device`](smoltcp::phy::Device) with `Medium::Ip` and the MTU of its link
//! ([`Port`]), so nodes that wrap a smoltcp `Interface`, a bridgeless `Host` or `Router` run
//! unmodified. Time is virtual: it jumps from one event to the next and never reads the
//! wall clock, and all randomness derives from one seed, so the same seed and script give
//! byte-identical runs.
//!
//! ```
//! use bridgeless_sim::{LinkParams, Node, Ports, Sim};
//! use core::time::Duration;
//! use smoltcp::time::Instant;
//!
//! /// Sends one frame at start, counts what it receives.
//! struct Pinger { sent: bool, received: usize }
//!
//! impl Node for Pinger {
//!     fn poll(&mut self, _now: Instant, ports: &mut Ports<'_>) {
//!         if !self.sent {
//!             // A bare IPv6 header: version 6, no next header (59), hop limit 64.
//!             let mut frame = [0u8; 40];
//!             frame[0] = 0x60;
//!             frame[6] = 59;
//!             frame[7] = 64;
//!             ports[0].send(&frame);
//!             self.sent = true;
//!         }
//!         while ports[0].recv(|_frame| ()).is_some() {
//!             self.received += 1;
//!         }
//!     }
//! }
//!
//! let mut sim = Sim::new(42);
//! let a = sim.add_node("a", Pinger { sent: false, received: 0 });
//! let b = sim.add_node("b", Pinger { sent: false, received: 0 });
//! let (pa, pb) = (sim.add_port(a), sim.add_port(b));
//! let link = sim.connect(pa, pb, LinkParams::with_latency(Duration::from_millis(5))).unwrap();
//! sim.run_for(Duration::from_millis(4));
//! assert_eq!(sim.node::<Pinger>(b).unwrap().received, 0);
//! sim.run_for(Duration::from_millis(1));
//! assert_eq!(sim.node::<Pinger>(b).unwrap().received, 1);
//! assert_eq!(sim.link_counters(link).total().delivered, 2);
//! ```
//!
//! # Model
//!
//! - **Events.** One queue (a binary heap, O(log n)) orders frame deliveries, node wake-ups
//!   and scripted actions by time, then by the order they were scheduled. A node is polled
//!   when a frame arrives for it (once per instant, however many arrive), when the time its
//!   [`Node::poll_at`] asked for comes, when its link changes, and after [`Sim::node_mut`].
//!   After a poll that read or sent a frame, a node is polled again at the same instant if
//!   frames are still waiting or it asks for it (smoltcp's "poll now"); after a poll that did
//!   nothing, "now" means the next microsecond, so that a node cannot stop time.
//! - **Time.** Nodes see smoltcp `Instant`s (microseconds); links
//!   compute in nanoseconds, so that a 10 Gbit/s link serializes a 100-byte frame in 80 ns
//!   rather than a rounded microsecond.
//! - **Links** ([`LinkParams`]). A frame sent is dropped if the link is down, larger than its
//!   MTU, or its far end is vacant; otherwise it waits in a FIFO transmit queue per direction
//!   (drop-tail at `queue_frames`) and takes `8 * len / bandwidth_bps` to serialize, then
//!   `latency` to propagate. Loss, holding back (reorder) and duplication are drawn for each
//!   frame from the direction's own random stream. Frames in flight are lost when the link
//!   goes down or an end is detached. Every frame not delivered is counted by reason
//!   ([`DirectionCounters`], [`PortCounters`]).
//! - **Moving.** A port can be detached and attached to a vacant end of another link, at
//!   once ([`Sim::attach`], [`Sim::detach`]) or at a scripted time ([`Sim::schedule`] with
//!   an [`Action`]). Scripts can also call any closure ([`Sim::schedule_fn`]).
//! - **Randomness.** Each direction of each link draws from ChaCha8 keyed by the seed, on a
//!   stream of its own (`2 * link + direction`); nodes get streams of their own from
//!   [`Sim::rng`]. Adding a link or a node never changes another's randomness.
//! - **Captures.** Per link ([`Sim::capture_link`], [`Sim::capture_link_in_memory`]) or for
//!   every link ([`Sim::capture_all`]): a `LINKTYPE_RAW` pcap of the frames the link
//!   delivered, both directions, at their arrival times (nanosecond timestamps from the
//!   start of the simulation), as the receiving end would capture them. Frames lost or
//!   dropped are not in it; the counters have them.
//!
//! # Cost
//!
//! Frames live in a pool of buffers that grows to the largest number ever in flight at once
//! and is then reused: in steady state nothing is allocated per frame. A frame costs a copy
//! into the pool (the node writes it there directly), three random draws when the link has
//! faults, and a push and pop of the event queue; receiving hands the node a slice of the
//! pooled buffer. Measured with `examples/two_hosts.rs` (frames relayed along a chain of 8
//! links with loss, about 650 frames in flight): about 1,100 instructions per frame and hop
//! under callgrind, 200 to 350 ns on the 2-core development machine, a quarter of it in the
//! event queue. A smoltcp TCP transfer costs about 1.8 µs per frame, smoltcp included.
//!
//! # Design notes
//!
//! Ports share the network's state with the simulator through an `Rc<RefCell<_>>`, so that a
//! node can hold several ports as devices at once (a router drives all its links in one
//! poll) and a transmit token can put its frame on the link at once; the borrow is never
//! held while node code runs. This makes [`Sim`] `!Send`: a simulation runs on one thread,
//! which is what deterministic replay wants anyway. [`Node::poll_at`] takes `&mut self`
//! because smoltcp's `Interface::poll_at` does.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capture;
mod device;
mod link;
mod net;
mod sim;

use core::fmt;

pub use device::{Port, PortRx, PortTx, Ports};
pub use link::{DirectionCounters, Drops, LinkCounters, LinkParams, NodeCounters, PortCounters};
pub use sim::{Action, MAX_POLLS_PER_INSTANT, Sim, SimCounters};

use smoltcp::time::Instant;

/// Frames a port's receive queue holds by default ([`Sim::set_rx_queue_limit`]).
pub const DEFAULT_RX_QUEUE: usize = 1024;

/// A participant in the simulation: a host, a router, a test driver.
///
/// The simulator owns it (get it back with [`Sim::node`] / [`Sim::node_mut`]) and polls it
/// with its ports; everything it sends goes through them.
pub trait Node: core::any::Any {
    /// Does what is due at `now`: reads the frames waiting on `ports`, runs timers, sends.
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>);

    /// When the node next needs a poll if no frame arrives before; `None` if only a frame
    /// will give it something to do. A time at or before `now` means "as soon as
    /// possible" (see the [crate documentation](crate) for how that is bounded).
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
}

/// A node of a [`Sim`], numbered from 0 in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

/// A port (network attachment) of a [`Sim`], numbered from 0 in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub(crate) u32);

/// A link of a [`Sim`], numbered from 0 in the order added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub(crate) u32);

macro_rules! id_index {
    ($($t:ty),*) => {$(
        impl $t {
            /// The number, as an index.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    )*};
}
id_index!(NodeId, PortId, LinkId);

/// Why a change to the network could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The port is attached to a link already.
    AlreadyAttached {
        /// The port.
        port: PortId,
        /// Its link.
        link: LinkId,
    },
    /// Both ends of the link have a port.
    NoVacantEnd(LinkId),
    /// The port is not attached to a link.
    NotAttached(PortId),
    /// A link from a port to itself.
    SamePort(PortId),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::AlreadyAttached { port, link } => {
                write!(f, "port {} is attached to link {} already", port.0, link.0)
            }
            SimError::NoVacantEnd(link) => write!(f, "link {} has no vacant end", link.0),
            SimError::NotAttached(port) => write!(f, "port {} is not attached", port.0),
            SimError::SamePort(port) => write!(f, "cannot link port {} to itself", port.0),
        }
    }
}

impl core::error::Error for SimError {}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
