//! The router: forwarding between point-to-point links, Router Advertisements on host links,
//! prefix delegation down the tree and MLD-driven multicast.

pub mod advertiser;
pub mod forward;

pub use forward::{
    Counters, DropCounters, DropReason, Forwarder, ForwarderConfig, IcmpCounters, IcmpRateLimit,
    LinkConfig, LinkCounters, LinkId, Route, Verdict,
};
