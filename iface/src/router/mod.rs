//! The router: forwarding between point-to-point links, Router Advertisements on host links,
//! prefix delegation down the tree and MLD-driven multicast.

pub mod advertiser;
pub mod forward;
pub mod io;
pub mod multicast;
mod node;
pub mod tree;

pub use forward::{
    Counters, DropCounters, DropReason, Forwarder, ForwarderConfig, IcmpCounters, IcmpRateLimit,
    LinkConfig, LinkCounters, LinkId, Route, Verdict,
};
pub use io::LinkIo;
pub use multicast::{MAX_MULTICAST_LINKS, RouterMldProxy};
pub use node::{FrameSink, Links, LocalCounters, MAX_FRAME, RX_BUDGET, Router};
pub use tree::{BuildError, LinkRole, RouterConfig, RouterLink, Tree, TreeEvent};
