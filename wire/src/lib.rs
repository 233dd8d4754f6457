//! Zero-copy wire formats for point-to-point links that carry bare IP packets.
//!
//! On a link with exactly one station at each end, link-layer addresses say nothing: a frame
//! is the IP packet itself. This crate holds every format such a link needs, in the style of
//! `smoltcp::wire` (a `Packet<T: AsRef<[u8]>>` view with `new_checked`, and an owned `Repr`
//! with `parse`, `buffer_len` and `emit`):
//!
//! - [`frame`]: bare IPv4/IPv6 frames, length validation and the IPv6 extension-header walk;
//! - [`compressed`]: IPv6/UDP header compression against per-link context (after RFC 6282);
//! - [`stream`]: frames over byte streams (serial lines, pipes, TCP);
//! - [`ndp`]: Router Solicitation and Advertisement for links without link-layer addresses;
//! - [`mld`]: MLDv1 and MLDv2 queries and reports;
//! - [`negotiation`]: the link hello by which two ends agree to compress;
//! - [`dhcpv6`]: DHCPv6 messages for prefix delegation (RFC 8415, the IA_PD subset);
//! - [`summary`]: one-line descriptions of frames;
//! - `pcap` (feature `std`): reading and writing captures of such links.
//!
//! The crate is `no_std`, does not allocate, and never panics on untrusted input.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod error;

pub mod compressed;
pub mod dhcpv6;
pub mod frame;
pub mod mld;
pub mod ndp;
pub mod negotiation;
#[cfg(feature = "std")]
pub mod pcap;
pub mod stream;
pub mod summary;

pub use error::{Error, ParamProblemCode, ParameterProblem, Result};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
