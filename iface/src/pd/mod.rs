//! DHCPv6 prefix delegation (RFC 8415, the IA_PD subset on a point-to-point link): a server
//! that hands sub-prefixes of a pool to downstream routers and a client that requests one.
//!
//! - [`PrefixPool`]: a configured prefix carved into blocks of one length, the first few kept
//!   for the owner, with a stable choice per client;
//! - [`PrefixDelegator`]: the delegating router (server) as a sans-IO state machine;
//! - [`PrefixRequester`]: the requesting router (client) as a sans-IO state machine.
//!
//! Both work at the level of UDP payloads: the caller receives UDP datagrams on port 547
//! (server) or 546 (client), hands over the payload and its source address, and wraps what
//! `poll_transmit` writes into IPv6/UDP (for example with
//! [`bridgeless_wire::frame::emit_udp_v6`]). Messages are built and read with
//! [`bridgeless_wire::dhcpv6`].
//!
//! A tree of routers is built by chaining the two: the core router runs a
//! [`PrefixDelegator`] over its configured prefix; each downstream router runs a
//! [`PrefixRequester`] on its upstream link and, once bound, a [`PrefixDelegator`] over the
//! delegated prefix on its downstream links.

mod client;
mod pool;
mod server;

pub use client::{
    ClientConfig, ClientCounters, ClientEvent, ClientState, LostReason, PrefixRequester,
};
pub use pool::{PoolError, PrefixPool};
pub use server::{
    Dropped, Lease, PrefixDelegator, ServerConfig, ServerCounters, ServerEvent, Transmit,
};

use bridgeless_wire::dhcpv6::{MAX_DUID_LEN, MIN_DUID_LEN};

/// The longest DHCPv6 message either side writes: the IPv6 minimum MTU (1280) less the IPv6
/// (40) and UDP (8) headers, so that no reply ever needs fragmentation (RFC 8200 §5).
pub const MAX_MESSAGE_LEN: usize = 1232;

/// At most this many IA_PD (and, separately, IA_NA) options of one message are served; more
/// are counted and ignored. RFC 8415 lets a client send several, but a requesting router
/// needs one per downstream need, and the bound keeps every reply under
/// [`MAX_MESSAGE_LEN`].
pub const MAX_IAS: usize = 4;

/// At most this many IA Prefix options are read in one message (storage for
/// `MessageRepr::parse`); a message with more is counted as malformed.
pub const MAX_PREFIXES: usize = 16;

/// At most this many option codes of an Option Request option are read; a message with more
/// is counted as carrying too many options.
pub const MAX_ORO: usize = 64;

/// DUID type DUID-UUID (RFC 6355 §4).
pub const DUID_TYPE_UUID: u16 = 4;

/// DUID type DUID-EN, assigned by vendor based on enterprise number (RFC 8415 §11.3).
pub const DUID_TYPE_EN: u16 = 2;

/// A DHCP Unique Identifier (RFC 8415 §11): 2 to 130 octets, kept inline.
///
/// A point-to-point link has no link-layer address, so the DUID-LL and DUID-LLT types do not
/// fit; [`Duid::uuid`] (RFC 6355) and [`Duid::enterprise`] (RFC 8415 §11.3) do.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duid {
    bytes: [u8; MAX_DUID_LEN],
    len: u8,
}

impl Duid {
    /// A DUID from its octets (type first), or `None` if not 2 to 130 octets long
    /// (RFC 8415 §11.1).
    pub fn new(bytes: &[u8]) -> Option<Duid> {
        if !(MIN_DUID_LEN..=MAX_DUID_LEN).contains(&bytes.len()) {
            return None;
        }
        let mut duid = Duid {
            bytes: [0; MAX_DUID_LEN],
            len: bytes.len() as u8,
        };
        duid.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(duid)
    }

    /// A DUID-UUID (RFC 6355 §4): type 4 and the 16 octets of a UUID.
    pub fn uuid(uuid: [u8; 16]) -> Duid {
        let mut bytes = [0u8; 18];
        bytes[..2].copy_from_slice(&DUID_TYPE_UUID.to_be_bytes());
        bytes[2..].copy_from_slice(&uuid);
        // Infallible: 18 octets.
        Duid::new(&bytes).unwrap_or_else(|| unreachable!())
    }

    /// A DUID-EN (RFC 8415 §11.3): type 2, the vendor's IANA enterprise number and an
    /// identifier of up to 124 octets (longer identifiers are cut to 124).
    pub fn enterprise(enterprise_number: u32, identifier: &[u8]) -> Duid {
        let id = &identifier[..identifier.len().min(MAX_DUID_LEN - 6)];
        let mut bytes = [0u8; MAX_DUID_LEN];
        bytes[..2].copy_from_slice(&DUID_TYPE_EN.to_be_bytes());
        bytes[2..6].copy_from_slice(&enterprise_number.to_be_bytes());
        bytes[6..6 + id.len()].copy_from_slice(id);
        // Infallible: 6 to 130 octets.
        Duid::new(&bytes[..6 + id.len()]).unwrap_or_else(|| unreachable!())
    }

    /// The octets, type first.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for Duid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Duid(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// RFC 8415 §7.7: a lifetime of 0xffffffff means infinity.
pub const INFINITY: u32 = u32::MAX;

/// `now` plus `seconds`; [`INFINITY`] is kept as about 136 years, far beyond any run.
pub(crate) fn after(now: smoltcp::time::Instant, seconds: u32) -> smoltcp::time::Instant {
    now + smoltcp::time::Duration::from_secs(u64::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duids() {
        let d = Duid::uuid([7; 16]);
        assert_eq!(&d.as_bytes()[..2], &[0, 4]);
        assert_eq!(d.as_bytes().len(), 18);
        let e = Duid::enterprise(32473, b"router-1");
        assert_eq!(&e.as_bytes()[..6], &[0, 2, 0, 0, 0x7e, 0xd9]);
        assert_eq!(Duid::enterprise(1, &[0; 200]).as_bytes().len(), 130);
        assert!(Duid::new(&[1]).is_none());
        assert!(Duid::new(&[1; 131]).is_none());
        assert_eq!(format!("{:?}", Duid::new(&[0, 1]).unwrap()), "Duid(0001)");
    }
}
