//! Identity addresses: stable IPv6 addresses derived from static public keys, in the manner
//! of ORCHIDv2 (RFC 7343).
//!
//! A session carries IPv6 packets between two *identity addresses*, one per peer, computed
//! from the peers' static public keys. The addresses in the outer UDP datagrams (the
//! *locators*) change whenever a peer moves; the identity addresses never do, so a TCP
//! connection between them outlives every move. This is the identifier/locator split of HIP,
//! whose Host Identity Tags are ORCHIDs.
//!
//! # Construction
//!
//! RFC 7343 §2 defines
//!
//! ```text
//! ORCHID := Prefix | OGA ID | Encode_96( Hash( Context ID | Input ) )
//! ```
//!
//! and this module computes it with
//!
//! ```text
//!  0                   28      32                                                 128
//! +---------------------+-------+---------------------------------------------------+
//! | 2001:20::/28 prefix | OGA 15| bits 80..176 of BLAKE2s-256(Context ID | key)      |
//! +---------------------+-------+---------------------------------------------------+
//! ```
//!
//! - **Prefix**: `2001:20::/28`, the ORCHIDv2 prefix (RFC 7343 §6, IANA IPv6 Special-Purpose
//!   Address Registry).
//! - **OGA ID**: 15. OGA IDs belong to the protocol that uses ORCHIDs (HIP keeps its own
//!   registry, the HIT Suite IDs, and uses the low values); 15 sits at the other end of the
//!   4-bit space. The context ID, not the OGA ID, is what keeps our addresses apart from
//!   HIP's: the same key hashed under HIP's context would give another address.
//! - **Hash**: BLAKE2s-256 (the `blake2` crate, already the hash of our Noise suite).
//! - **Context ID**: [`CONTEXT_ID`], the first 16 bytes of
//!   `BLAKE2s-256("bridgeless-roaming ORCHID context")`: a 128-bit value that nobody chose
//!   (RFC 7343 asks for a random one per usage context).
//! - **Input**: the 32-byte X25519 static public key the Noise handshake authenticates.
//! - **Encode_96**: "extracting the middle 96-bit-long bitstring" (RFC 7343 §2): bits 80 to
//!   175 of the 256-bit digest.
//!
//! It is *in the manner of* ORCHIDv2, not an ORCHID of any registered protocol: the OGA ID
//! and the context ID are ours. Finding a second key with the same identity address takes
//! about 2^96 hash computations (RFC 7343 §5: "ORCHIDs have a limited length, so collisions
//! are possible"); the tunnel accepts an inner packet only from the identity of the key the
//! handshake authenticated, so a forged identity would also need the key's private half.
//!
//! # Why 2001:20::/28 and not a ULA
//!
//! A unique local address (`fd00::/8`, RFC 4193) would carry 120 bits of hash instead of 96,
//! but sites use ULAs for real networks: handed to an operating system (a TUN device), an
//! identity address could shadow a route to a real site. `2001:20::/28` is reserved for
//! identifiers that "are not routable at the IP layer" (RFC 7343 §1): it can never be a
//! locator, so an identity and an address are never confused, and no site uses it.

use blake2::{Blake2s256, Digest};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

/// The ORCHIDv2 prefix, `2001:20::/28` (RFC 7343 §6).
pub const ORCHID_PREFIX: Ipv6Cidr =
    Ipv6Cidr::new(Ipv6Address::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28);

/// The ORCHID Generation Algorithm identifier of our construction (see the module docs).
pub const OGA_ID: u8 = 15;

/// The context ID hashed in front of every key: the first 16 bytes of
/// `BLAKE2s-256("bridgeless-roaming ORCHID context")`.
pub const CONTEXT_ID: [u8; 16] = [
    0x3b, 0xd9, 0xae, 0x1f, 0xa4, 0xef, 0x1a, 0xdc, 0x94, 0x91, 0xf3, 0x57, 0xaf, 0x81, 0x48, 0xa9,
];

/// The identity address of a static public key (see the module docs for the construction).
pub fn identity_address(public_key: &[u8; 32]) -> Ipv6Address {
    let mut h = Blake2s256::new();
    h.update(CONTEXT_ID);
    h.update(public_key);
    let digest = h.finalize();
    let mut a = [0u8; 16];
    // 28 prefix bits, then the 4-bit OGA ID: 2001:002 | F.
    a[..4].copy_from_slice(&(0x2001_0020u32 | u32::from(OGA_ID)).to_be_bytes());
    // Encode_96: bits 80..176 of the digest are its bytes 10..22.
    a[4..].copy_from_slice(&digest[10..22]);
    Ipv6Address::from(a)
}

/// Whether `addr` lies in the ORCHIDv2 prefix with our OGA ID (it may be an identity
/// address; only hashing the key tells).
pub fn is_identity_address(addr: Ipv6Address) -> bool {
    ORCHID_PREFIX.contains_addr(&addr) && addr.octets()[3] & 0x0f == OGA_ID
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticKeypair;

    #[test]
    fn context_id_is_the_hash_of_its_label() {
        let d = Blake2s256::digest(b"bridgeless-roaming ORCHID context");
        assert_eq!(d[..16], CONTEXT_ID);
    }

    #[test]
    fn known_answer() {
        // Computed independently (Python hashlib.blake2s):
        // BLAKE2s-256(CONTEXT_ID | 01*32) = e5e2f553e4597d4179de f9c34012ad0c7523e5a8cef7 394c...
        //                                   bytes 10..22 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        let a = identity_address(&[1; 32]);
        assert_eq!(
            a,
            Ipv6Address::new(
                0x2001, 0x002f, 0xf9c3, 0x4012, 0xad0c, 0x7523, 0xe5a8, 0xcef7
            )
        );
    }

    #[test]
    fn stable_distinct_and_inside_the_prefix() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..=255u8 {
            let key = StaticKeypair::from_private([n; 32]).public();
            let a = identity_address(&key);
            assert_eq!(a, identity_address(&key), "stable");
            assert!(ORCHID_PREFIX.contains_addr(&a), "{a} inside 2001:20::/28");
            assert!(is_identity_address(a));
            assert!(!a.is_unicast_link_local() && !a.is_multicast());
            assert!(seen.insert(a), "distinct");
        }
        // A single bit of the key changes the address.
        let mut key = [9u8; 32];
        let a = identity_address(&key);
        key[31] ^= 1;
        assert_ne!(a, identity_address(&key));
        assert!(!is_identity_address(Ipv6Address::new(
            0x2001, 0x20, 0, 0, 0, 0, 0, 1
        )));
        assert!(!is_identity_address(Ipv6Address::new(
            0xfd00, 0, 0, 0, 0, 0, 0, 1
        )));
    }
}
