//! TCP and UDP checksums of a bare IP packet, found where smoltcp 0.14 finds them.
//!
//! smoltcp hands a packet to TCP or UDP when the protocol follows the IPv6 header directly or
//! after one Hop-by-Hop Options header, or follows an IPv4 header (options included). Other
//! IPv6 extension headers, a Fragment header among them, end in a Parameter Problem or a raw
//! socket, never in TCP or UDP. [`verify`] and [`fill`] look exactly there, so that every
//! segment smoltcp would checksum is checksummed here instead.

use super::arch::accumulate;
use super::{add, finish};

const TCP: u8 = 6;
const UDP: u8 = 17;
const HOP_BY_HOP: u8 = 0;

/// Which transport protocols' checksums to handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Protocols {
    /// TCP (RFC 9293 §3.1).
    pub tcp: bool,
    /// UDP (RFC 768; over IPv6, RFC 8200 §8.1).
    pub udp: bool,
}

impl Protocols {
    /// Neither.
    pub const NONE: Protocols = Protocols {
        tcp: false,
        udp: false,
    };
    /// TCP and UDP.
    pub const ALL: Protocols = Protocols {
        tcp: true,
        udp: true,
    };

    /// Whether any protocol is handled.
    #[inline(always)]
    pub fn any(self) -> bool {
        self.tcp | self.udp
    }

    #[inline(always)]
    fn covers(self, protocol: u8) -> bool {
        (protocol == TCP && self.tcp) || (protocol == UDP && self.udp)
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The checksum is right; or the packet is UDP over IPv4 without a checksum (zero, which
    /// RFC 768 allows there).
    Valid,
    /// The checksum is wrong: the packet must be dropped (RFC 9293 §3.1, RFC 768).
    Invalid,
    /// UDP over IPv6 with a zero checksum, which IPv6 receivers must discard (RFC 8200 §8.1).
    ZeroUdpChecksum,
    /// Nothing to verify: not TCP or UDP where smoltcp looks for them, a protocol not asked
    /// for, or a transport header too short or inconsistent for smoltcp to accept anyway.
    NotChecked,
}

impl Verdict {
    /// Whether the packet must be dropped.
    #[inline(always)]
    pub fn is_bad(self) -> bool {
        matches!(self, Verdict::Invalid | Verdict::ZeroUdpChecksum)
    }
}

/// A TCP or UDP segment in a packet, as smoltcp would find it.
struct Segment {
    /// IPv4 or IPv6.
    v6: bool,
    protocol: u8,
    /// Where the source and destination addresses are (adjacent in both IP headers).
    addrs: core::ops::Range<usize>,
    /// Where the transport header starts.
    start: usize,
    /// Where the transport data ends (the packet's declared end; for UDP its Length).
    end: usize,
    /// Offset of the checksum field.
    checksum_at: usize,
}

/// Finds the TCP or UDP segment of `packet` that smoltcp would process, or `None`: another
/// protocol, an IP header smoltcp refuses, or a transport header smoltcp refuses (shorter than
/// the fixed header; a UDP Length below 8 or past the packet). `fragments` says whether an
/// IPv4 fragment counts (smoltcp 0.14 without `proto-ipv4-fragmentation` processes each
/// fragment's payload as a whole datagram; see [`verify`]).
#[inline(always)]
fn locate(packet: &[u8], protocols: Protocols, fragments: bool) -> Option<Segment> {
    let first = *packet.first()?;
    let (v6, protocol, addrs, start, end) = match first >> 4 {
        6 => {
            let (h, _) = packet.split_first_chunk::<40>()?;
            let end = 40 + usize::from(u16::from_be_bytes([h[4], h[5]]));
            let (mut protocol, mut start) = (h[6], 40);
            if protocol == HOP_BY_HOP {
                let e = packet.get(start..end)?.first_chunk::<2>()?;
                protocol = e[0];
                start += (usize::from(e[1]) + 1) * 8;
            }
            (true, protocol, 8..40, start, end)
        }
        4 => {
            let (h, _) = packet.split_first_chunk::<20>()?;
            let start = usize::from(first & 0x0f) * 4;
            let end = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let fragment = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
            if start < 20 || (fragment && !fragments) {
                return None;
            }
            (false, h[9], 12..20, start, end)
        }
        _ => return None,
    };
    if !protocols.covers(protocol) || end > packet.len() {
        return None;
    }
    let segment = packet.get(start..end)?;
    let (end, checksum_at) = if protocol == TCP {
        if segment.len() < 20 {
            return None;
        }
        (end, start + 16)
    } else {
        let h = segment.first_chunk::<8>()?;
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if len < 8 || len > segment.len() {
            return None;
        }
        (start + len, start + 6)
    };
    Some(Segment {
        v6,
        protocol,
        addrs,
        start,
        end,
        checksum_at,
    })
}

/// The one's-complement sum of the pseudo-header and the segment, unfolded, in the
/// processor's byte order (with the checksum field as it is in `packet`).
#[inline(always)]
fn sum(packet: &[u8], s: &Segment) -> u64 {
    let len = (s.end - s.start) as u32;
    // Next Header (or Protocol) and the 32-bit upper-layer length (RFC 8200 §8.1; IPv4's
    // 16-bit length is the same words), as big-endian words read in the processor's order.
    let fixed = u64::from(u16::from_ne_bytes([0, s.protocol]))
        + u64::from(u16::from_ne_bytes(((len >> 16) as u16).to_be_bytes()))
        + u64::from(u16::from_ne_bytes((len as u16).to_be_bytes()));
    let words = if s.addrs.end == s.start {
        // The usual case, no options or extension header: the addresses and the segment are
        // one run of bytes.
        accumulate(&packet[s.addrs.start..s.end])
    } else {
        add(
            accumulate(&packet[s.addrs.clone()]),
            accumulate(&packet[s.start..s.end]),
        )
    };
    add(words, fixed)
}

/// Verifies the TCP or UDP checksum of `packet` (a bare IP packet, as received) for the
/// `protocols` asked, exactly where and as smoltcp 0.14 would (`TcpPacket::verify_checksum`,
/// `UdpPacket::verify_checksum`), and refuses what smoltcp would accept against RFC 8200
/// §8.1: UDP over IPv6 with a zero checksum.
///
/// An IPv4 fragment is verified as if it were the whole datagram, since that is how smoltcp
/// 0.14 built without `proto-ipv4-fragmentation` (as this crate builds it) processes it; with
/// that feature, smoltcp reassembles fragments, and fragmented IPv4 datagrams fail here —
/// dropped, never delivered unverified.
#[inline]
pub fn verify(packet: &[u8], protocols: Protocols) -> Verdict {
    let Some(s) = locate(packet, protocols, true) else {
        return Verdict::NotChecked;
    };
    if s.protocol == UDP && packet[s.checksum_at..s.checksum_at + 2] == [0, 0] {
        return if s.v6 {
            Verdict::ZeroUdpChecksum
        } else {
            Verdict::Valid // RFC 768: no checksum was computed
        };
    }
    if finish(sum(packet, &s)) == 0xffff {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

/// Computes and writes the TCP or UDP checksum of `packet` (a bare IP packet, as smoltcp
/// wrote it) for the `protocols` asked, as smoltcp's `fill_checksum` would: over the
/// pseudo-header and the segment; a UDP checksum that computes to zero is sent as 0xffff
/// (RFC 768, RFC 8200 §8.1). Returns whether it wrote one.
///
/// IPv4 fragments are left alone: only the whole datagram has a checksum (smoltcp sends
/// fragments only with `proto-ipv4-fragmentation`, and then only UDP, whose zero checksum
/// means "none" over IPv4).
#[inline]
pub fn fill(packet: &mut [u8], protocols: Protocols) -> bool {
    let Some(s) = locate(packet, protocols, false) else {
        return false;
    };
    packet[s.checksum_at..s.checksum_at + 2].copy_from_slice(&[0, 0]);
    let mut checksum = !finish(sum(packet, &s));
    if s.protocol == UDP && checksum == 0 {
        checksum = 0xffff;
    }
    packet[s.checksum_at..s.checksum_at + 2].copy_from_slice(&checksum.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::wire::{IpAddress, Ipv4Packet, Ipv6Address, Ipv6Packet, TcpPacket, UdpPacket};

    /// An IPv6 packet: `hbh` inserts an 8-byte Hop-by-Hop header; the transport header is
    /// well formed, its checksum computed by smoltcp.
    fn v6(protocol: u8, payload: &[u8], hbh: bool) -> Vec<u8> {
        let header = if protocol == TCP { 20 } else { 8 };
        let ext = if hbh { 8 } else { 0 };
        let mut p = vec![0u8; 40 + ext + header + payload.len()];
        p[0] = 0x60;
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p[6] = if hbh { HOP_BY_HOP } else { protocol };
        p[7] = 64;
        p[8..24].copy_from_slice(&Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets());
        p[24..40].copy_from_slice(&Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
        if hbh {
            p[40] = protocol;
            p[42] = 1; // PadN, 4 octets of padding
            p[43] = 4;
        }
        let t = 40 + ext;
        p[t..t + 4].copy_from_slice(&[0x12, 0x34, 0x00, 0x50]);
        p[t + header..].copy_from_slice(payload);
        smoltcp_fill(&mut p);
        p
    }

    /// An IPv4 packet without options.
    fn v4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let header = if protocol == TCP { 20 } else { 8 };
        let mut p = vec![0u8; 20 + header + payload.len()];
        p[0] = 0x45;
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        p[20..24].copy_from_slice(&[0x12, 0x34, 0x00, 0x50]);
        p[20 + header..].copy_from_slice(payload);
        smoltcp_fill(&mut p);
        p
    }

    /// Where the transport header of our test packets starts.
    fn transport(p: &[u8]) -> (IpAddress, IpAddress, u8, usize, usize) {
        if p[0] >> 4 == 6 {
            let ip = Ipv6Packet::new_unchecked(p);
            let (proto, start) = if p[6] == HOP_BY_HOP {
                (p[40], 40 + (usize::from(p[41]) + 1) * 8)
            } else {
                (p[6], 40)
            };
            let end = 40 + usize::from(ip.payload_len());
            (
                ip.src_addr().into(),
                ip.dst_addr().into(),
                proto,
                start,
                end,
            )
        } else {
            let ip = Ipv4Packet::new_unchecked(p);
            let start = usize::from(ip.header_len());
            let end = usize::from(ip.total_len());
            (ip.src_addr().into(), ip.dst_addr().into(), p[9], start, end)
        }
    }

    fn smoltcp_fill(p: &mut [u8]) {
        let (src, dst, proto, start, end) = transport(p);
        let seg = &mut p[start..end];
        if proto == TCP {
            seg[12] = 5 << 4;
            TcpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
        } else {
            let len = seg.len() as u16;
            seg[4..6].copy_from_slice(&len.to_be_bytes());
            UdpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
        }
    }

    fn smoltcp_verify(p: &[u8]) -> bool {
        let (src, dst, proto, start, end) = transport(p);
        let seg = &p[start..end];
        if proto == TCP {
            TcpPacket::new_unchecked(seg).verify_checksum(&src, &dst)
        } else {
            let udp = UdpPacket::new_unchecked(seg);
            udp.verify_checksum(&src, &dst)
        }
    }

    #[test]
    fn good_bad_and_zero() {
        for hbh in [false, true] {
            for proto in [TCP, UDP] {
                let mut p = v6(proto, b"hello, world", hbh);
                assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid, "{proto} {hbh}");
                assert_eq!(verify(&p, Protocols::NONE), Verdict::NotChecked);
                let last = p.len() - 1;
                p[last] ^= 0x40;
                assert_eq!(verify(&p, Protocols::ALL), Verdict::Invalid);
                assert!(fill(&mut p, Protocols::ALL));
                assert!(smoltcp_verify(&p));
                assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
            }
        }
        // UDP over IPv6 with checksum 0: invalid (RFC 8200 §8.1); over IPv4: no checksum.
        let mut p = v6(UDP, b"x", false);
        p[46..48].copy_from_slice(&[0, 0]);
        assert_eq!(verify(&p, Protocols::ALL), Verdict::ZeroUdpChecksum);
        assert!(verify(&p, Protocols::ALL).is_bad());
        let mut p = v4(UDP, b"x");
        p[26..28].copy_from_slice(&[0, 0]);
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
        let mut p = v4(TCP, b"abc");
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
        p[40] ^= 1;
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Invalid);
        // ICMPv6 and other extension headers are not TCP or UDP as smoltcp finds them.
        let mut p = v6(TCP, b"", false);
        p[6] = 58;
        assert_eq!(verify(&p, Protocols::ALL), Verdict::NotChecked);
        p[6] = 60;
        assert!(!fill(&mut p, Protocols::ALL));
    }

    #[test]
    fn udp_checksum_zero_is_sent_as_ffff() {
        // A payload whose checksum computes to zero: with a zero data word, the checksum is
        // c = !S for the sum S of the rest; a data word of c makes the sum all ones.
        let mut p = v6(UDP, &[0, 0], false);
        let c = [p[46], p[47]];
        p[48..50].copy_from_slice(&c);
        p[46..48].copy_from_slice(&[0, 0]);
        assert!(fill(&mut p, Protocols::ALL));
        assert_eq!(&p[46..48], &[0xff, 0xff]);
        assert!(smoltcp_verify(&p));
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
    }

    #[test]
    fn ipv4_fragments_are_verified_but_not_filled() {
        let mut p = v4(UDP, b"fragment");
        p[6] = 0x20; // More Fragments
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
        p[26..28].copy_from_slice(&[0x12, 0x34]);
        assert_eq!(verify(&p, Protocols::ALL), Verdict::Invalid);
        assert!(!fill(&mut p, Protocols::ALL));
        assert_eq!(&p[26..28], &[0x12, 0x34]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// On well-formed packets with random damage, the verdict is smoltcp's, except UDP over
        /// IPv6 with a zero checksum, which RFC 8200 §8.1 refuses; after `fill`, smoltcp
        /// finds the checksum right, and `fill` on a packet smoltcp wrote changes nothing.
        #[test]
        fn agrees_with_smoltcp(
            v6_packet in any::<bool>(),
            hbh in any::<bool>(),
            tcp in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 0..3),
        ) {
            let proto = if tcp { TCP } else { UDP };
            let mut p = if v6_packet { v6(proto, &payload, hbh) } else { v4(proto, &payload) };
            let clean = p.clone();
            let mut check = p.clone();
            prop_assert!(fill(&mut check, Protocols::ALL));
            prop_assert_eq!(&check, &clean);
            let (_, _, _, start, _) = transport(&p);
            for (at, x) in flips {
                // Damage the addresses or the segment (not the lengths smoltcp would refuse).
                let span = p.len() - start + 32;
                let i = at.index(span);
                let i = if i < 32 { if v6_packet { 8 + i } else { 12 + i % 8 } } else { start + i - 32 };
                if !tcp && (i == start + 4 || i == start + 5) {
                    continue;
                }
                p[i] ^= x;
            }
            let verdict = verify(&p, Protocols::ALL);
            let zero_v6 = !tcp && v6_packet && p[start + 6..start + 8] == [0, 0];
            if zero_v6 {
                prop_assert_eq!(verdict, Verdict::ZeroUdpChecksum);
            } else {
                prop_assert_eq!(verdict == Verdict::Valid, smoltcp_verify(&p));
                prop_assert_ne!(verdict, Verdict::NotChecked);
            }
            prop_assert!(fill(&mut p, Protocols::ALL));
            prop_assert!(smoltcp_verify(&p));
            prop_assert_eq!(verify(&p, Protocols::ALL), Verdict::Valid);
        }
    }
}
