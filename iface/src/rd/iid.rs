//! Interface identifiers: stable ones (RFC 7217) and random ones (RFC 8981 §3.3.1), never one
//! of the reserved identifiers of RFC 5453.

use core::fmt;

use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use smoltcp::wire::Ipv6Address;

/// The longest `Net_Iface` [`StableIid`] accepts, in octets.
pub const MAX_NET_IFACE_LEN: usize = 64;

/// How many identifiers are tried before giving up on one address: RFC 7217 §6 and RFC 8981
/// §3.8 both default their `IDGEN_RETRIES` / `TEMP_IDGEN_RETRIES` to 3.
pub const IDGEN_RETRIES: u8 = 3;

/// Whether `iid`, the low 64 bits of an address, is reserved (RFC 5453 §3, and the IANA
/// "Reserved IPv6 Interface Identifiers" registry): the Subnet-Router anycast identifier (all
/// zeros, RFC 4291 §2.6.1), the identifiers of the IANA Ethernet block
/// (`0200:5EFF:FE00:0000` to `0200:5EFF:FEFF:FFFF`, Proxy Mobile IPv6's included) and the
/// reserved subnet anycast identifiers (`FDFF:FFFF:FFFF:FF80` to `FDFF:FFFF:FFFF:FFFF`,
/// RFC 2526). RFC 7217 §5 and RFC 8981 §3.3.1 both ask for another identifier then.
pub fn is_reserved_iid(iid: u64) -> bool {
    iid == 0
        || (0x0200_5EFF_FE00_0000..=0x0200_5EFF_FEFF_FFFF).contains(&iid)
        || iid >= 0xFDFF_FFFF_FFFF_FF80
}

/// Joins a 64-bit prefix (the high 8 octets of `prefix`) and an interface identifier.
pub fn join(prefix: Ipv6Address, iid: u64) -> Ipv6Address {
    let high = u128::from(prefix) & !u128::from(u64::MAX);
    Ipv6Address::from(high | u128::from(iid))
}

/// The interface identifier (low 64 bits) of an address.
#[cfg(test)]
pub fn iid_of(addr: Ipv6Address) -> u64 {
    // Truncation keeps the low 64 bits, which is the point.
    u128::from(addr) as u64
}

/// Draws a random interface identifier that is not reserved and for which `in_use` says
/// false (RFC 8981 §3.3.1), trying [`IDGEN_RETRIES`] + 1 times; `None` if every draw failed.
pub fn random_iid<R: RngCore + ?Sized>(rng: &mut R, in_use: impl Fn(u64) -> bool) -> Option<u64> {
    (0..=IDGEN_RETRIES)
        .map(|_| rng.next_u64())
        .find(|&iid| !is_reserved_iid(iid) && !in_use(iid))
}

/// The generator of stable, semantically opaque interface identifiers of RFC 7217 §5:
///
/// `RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key)`
///
/// with `F` = HMAC-SHA256 keyed with `secret_key` over the 64-bit prefix, the length of
/// `Net_Iface` (one octet, so that no two inputs concatenate alike), `Net_Iface`, an empty
/// `Network_ID` (optional in §5; a point-to-point link has no SSID-like name) and
/// `DAD_Counter` (one octet). The identifier is the low 64 bits of the RID: §5 takes "as many
/// bits from the RID value ... as necessary, starting from the least significant bit".
///
/// The same secret, interface and prefix always give the same identifier, so an address
/// survives link flaps and reboots (RFC 7217 §1: stable within a subnet), while different
/// prefixes give unrelated identifiers, so a host cannot be followed across networks.
/// The secret must stay the same across reboots and be unknown to others (§5: at least
/// 128 bits; 256 here).
#[derive(Clone, PartialEq, Eq)]
pub struct StableIid {
    secret: [u8; 32],
    net_iface: [u8; MAX_NET_IFACE_LEN],
    net_iface_len: u8,
}

impl fmt::Debug for StableIid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("StableIid")
            .field("net_iface", &self.net_iface())
            .finish_non_exhaustive()
    }
}

impl StableIid {
    /// A generator for the interface named `net_iface` (RFC 7217's `Net_Iface`: an interface
    /// name such as `b"tun0"`, or any other identifier of the interface that stays the same
    /// across reboots). `None` if `net_iface` is longer than [`MAX_NET_IFACE_LEN`].
    pub fn new(secret: [u8; 32], net_iface: &[u8]) -> Option<StableIid> {
        let mut name = [0u8; MAX_NET_IFACE_LEN];
        name.get_mut(..net_iface.len())?.copy_from_slice(net_iface);
        Some(StableIid {
            secret,
            net_iface: name,
            net_iface_len: u8::try_from(net_iface.len()).ok()?,
        })
    }

    /// The `Net_Iface` this generator was made with.
    pub fn net_iface(&self) -> &[u8] {
        &self.net_iface[..usize::from(self.net_iface_len)]
    }

    /// The low 64 bits of `F(prefix, Net_Iface, Network_ID, dad_counter, secret_key)` for the
    /// 64-bit prefix in the high half of `prefix`; reserved values are not filtered here.
    pub fn rid(&self, prefix: Ipv6Address, dad_counter: u8) -> u64 {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return 0;
        };
        mac.update(&prefix.octets()[..8]);
        mac.update(&[self.net_iface_len]);
        mac.update(self.net_iface());
        mac.update(&[dad_counter]);
        let out = mac.finalize().into_bytes();
        let mut low = [0u8; 8];
        low.copy_from_slice(&out[24..32]);
        u64::from_be_bytes(low)
    }

    /// The interface identifier for `prefix`: the first RID, for `DAD_Counter` = 0, 1, ...
    /// up to [`IDGEN_RETRIES`], that is not reserved (RFC 7217 §5 increments the counter and
    /// computes again). `None` only if all of them are reserved, which happens with
    /// probability below 2^-200.
    pub fn iid(&self, prefix: Ipv6Address) -> Option<u64> {
        (0..=IDGEN_RETRIES)
            .map(|counter| self.rid(prefix, counter))
            .find(|&iid| !is_reserved_iid(iid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 0);
    const P2: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 0);

    #[test]
    fn reserved_iids() {
        assert!(is_reserved_iid(0));
        assert!(is_reserved_iid(0x0200_5EFF_FE00_5213));
        assert!(is_reserved_iid(0xFDFF_FFFF_FFFF_FF80));
        assert!(is_reserved_iid(u64::MAX));
        assert!(!is_reserved_iid(1));
        assert!(!is_reserved_iid(0xFDFF_FFFF_FFFF_FF7F));
        assert!(!is_reserved_iid(0x0200_5EFF_FF00_0000));
    }

    #[test]
    fn stable_iid_depends_on_prefix_name_and_secret_only() {
        let a = StableIid::new([7; 32], b"tun0").unwrap();
        let again = StableIid::new([7; 32], b"tun0").unwrap();
        assert_eq!(a.iid(P1), again.iid(P1));
        assert_ne!(a.iid(P1), a.iid(P2));
        // Bits of the prefix beyond 64 do not matter.
        assert_eq!(a.iid(P1), a.iid(join(P1, 0x1234)));
        let other_name = StableIid::new([7; 32], b"tun1").unwrap();
        assert_ne!(a.iid(P1), other_name.iid(P1));
        let other_secret = StableIid::new([8; 32], b"tun0").unwrap();
        assert_ne!(a.iid(P1), other_secret.iid(P1));
        assert_ne!(a.rid(P1, 0), a.rid(P1, 1));
    }

    #[test]
    fn stable_iid_known_answer() {
        // HMAC-SHA256(key = 32 x 0x00, "2001:db8:1:2" || 4 || "tun0" || 0), low 64 bits;
        // computed independently with Python's hmac module.
        let g = StableIid::new([0; 32], b"tun0").unwrap();
        assert_eq!(g.rid(P1, 0), KNOWN_RID);
    }

    const KNOWN_RID: u64 = 0x4c0b_b42c_15b6_e00e;

    #[test]
    fn net_iface_length_limit() {
        assert!(StableIid::new([0; 32], &[b'x'; MAX_NET_IFACE_LEN]).is_some());
        assert!(StableIid::new([0; 32], &[b'x'; MAX_NET_IFACE_LEN + 1]).is_none());
    }

    #[test]
    fn debug_hides_secret() {
        let g = StableIid::new([0xAB; 32], b"tun0").unwrap();
        let s = format!("{g:?}");
        assert!(!s.contains("171"), "{s}");
        assert!(!s.to_lowercase().contains("ab, "), "{s}");
    }

    #[test]
    fn join_and_split() {
        let a = join(P1, 0xdead_beef_0000_0001);
        assert_eq!(
            a,
            Ipv6Address::new(0x2001, 0xdb8, 1, 2, 0xdead, 0xbeef, 0, 1)
        );
        assert_eq!(iid_of(a), 0xdead_beef_0000_0001);
    }
}
