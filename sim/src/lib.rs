//! A deterministic virtual-time network simulator.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
