//! A roaming session layer: sessions named by identifiers, not addresses.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
