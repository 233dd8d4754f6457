//! A neighbor-free point-to-point IPv6 interface on smoltcp.
//!
//! A point-to-point link has one station at each end, so nothing ever needs resolving: no ARP,
//! no Neighbor Solicitation, no duplicate-address detection. smoltcp's `Medium::Ip` already
//! sends bare IP, but it drops every Router Advertisement and sends inverted MLD reports; this
//! crate supplies what a host on such a link needs:
//!
//! - [`device`]: smoltcp `Device`s — a [`MemoryLink`](device::memory::MemoryLink) with
//!   fault injection (also without `std`), and with feature `std` a link over any byte stream
//!   (serial lines, pipes), a Linux TUN device, a UDP-carried link and a pcap tap;
//! - [`host`]: [`Host`](host::Host), smoltcp's `Interface` made complete for such a link —
//!   router discovery, MLD, the receive filter and compression negotiation, driven like smoltcp;
//! - [`checksum`]: the Internet checksum (RFC 1071), about twice as fast as smoltcp's, with
//!   which the host takes the TCP and UDP checksums over from smoltcp;
//! - [`filter`]: the receive filter that hands Router Advertisements and MLD to our cores and
//!   counts and drops Neighbor Discovery messages that mean nothing on such a link;
//! - [`negotiate`]: the link hello by which both ends agree to compressed frames;
//! - [`rd`]: router discovery as a host (Router Solicitations, Router Advertisements, address
//!   formation, default route, MTU, lifetimes), as a sans-IO state machine;
//! - [`route_table`] (feature `std`): an IPv6 longest-prefix-match forwarding table;
//! - [`mld`]: MLDv2 (and MLDv1 compatibility) as a host, as a sans-IO state machine.
//!
//! Protocol cores never read the clock or an RNG of their own: time
//! (`smoltcp::time::Instant`) and randomness (`rand_core::RngCore`) come from the caller.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_code)] // allowed only in device::tun, which says why

pub mod checksum;
pub mod device;
pub mod filter;
pub mod host;
pub mod mld;
pub mod negotiate;
#[cfg(feature = "std")]
pub mod pd;
pub mod rd;
#[cfg(feature = "std")]
pub mod route_table;
#[cfg(feature = "std")]
pub mod router;
