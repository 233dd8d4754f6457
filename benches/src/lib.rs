//! Packet shapes shared by the benchmarks, so that every competitor parses the same bytes.
//!
//! The benchmarks themselves live in `benches/` and run with `cargo bench -p bridgeless-benches`.
#![forbid(unsafe_code)]

pub mod roaming;

use core::net::Ipv6Addr;

/// The Ethernet header a LAN adds in front of the same IPv6 packet (destination MAC, source MAC,
/// EtherType 0x86DD).
pub const ETHERNET_HEADER: [u8; 14] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination MAC
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source MAC
    0x86, 0xdd, // EtherType IPv6
];

/// A named test packet: a bare IPv6 frame as it travels on a point-to-point link.
pub struct Shape {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// The IPv6 packet.
    pub bare: Vec<u8>,
}

impl Shape {
    /// The same packet behind an Ethernet header.
    pub fn ethernet(&self) -> Vec<u8> {
        let mut v = ETHERNET_HEADER.to_vec();
        v.extend_from_slice(&self.bare);
        v
    }
}

fn ipv6_header(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    hop_limit: u8,
    payload_len: usize,
) -> Vec<u8> {
    let mut h = vec![0x60, 0x00, 0x00, 0x00];
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.push(next);
    h.push(hop_limit);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h
}

/// Link-local address of the sending end in every shape.
pub const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// Link-local address of the receiving end in every shape.
pub const DST: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

/// UDP datagram with 64 bytes of payload: 112 bytes of IPv6.
pub fn udp_112() -> Shape {
    let payload = [0x5au8; 64];
    let mut udp = Vec::new();
    udp.extend_from_slice(&5683u16.to_be_bytes());
    udp.extend_from_slice(&4433u16.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]); // checksum (not verified on this path)
    udp.extend_from_slice(&payload);
    let mut bare = ipv6_header(SRC, DST, 17, 64, udp.len());
    bare.extend_from_slice(&udp);
    Shape {
        name: "udp_112",
        bare,
    }
}

/// MLDv2 report behind a Hop-by-Hop header with Router Alert: 76 bytes of IPv6.
pub fn mld_hbh_76() -> Shape {
    let hbh = [58u8, 0, 5, 2, 0, 0, 1, 0]; // next ICMPv6, len 0, Router Alert (MLD), PadN(0)
    let mut mld = vec![143, 0, 0, 0, 0, 0, 0, 1]; // type, code, checksum, reserved, 1 record
    mld.extend_from_slice(&[4, 0, 0, 0]); // CHANGE_TO_EXCLUDE_MODE, no aux data, no sources
    mld.extend_from_slice(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb).octets());
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
    let mut bare = ipv6_header(SRC, dst, 0, 1, hbh.len() + mld.len());
    bare.extend_from_slice(&hbh);
    bare.extend_from_slice(&mld);
    Shape {
        name: "hbh_mld_76",
        bare,
    }
}

/// TCP SYN with MSS, SACK-permitted, timestamps and window-scale options: 80 bytes of IPv6.
pub fn tcp_syn_80() -> Shape {
    #[rustfmt::skip]
    let tcp = [
        0xc0, 0x01, 0x00, 0x50,             // ports 49153 -> 80
        0x12, 0x34, 0x56, 0x78,             // sequence number
        0x00, 0x00, 0x00, 0x00,             // acknowledgement
        0xa0, 0x02, 0xfd, 0x20,             // data offset 10 words, SYN, window
        0x00, 0x00, 0x00, 0x00,             // checksum, urgent pointer
        0x02, 0x04, 0x05, 0xa0,             // MSS 1440
        0x04, 0x02, 0x08, 0x0a,             // SACK permitted, timestamps ...
        0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,             // NOP, window scale 7
    ];
    let mut bare = ipv6_header(SRC, DST, 6, 64, tcp.len());
    bare.extend_from_slice(&tcp);
    Shape {
        name: "tcp_syn_80",
        bare,
    }
}

/// The receive paths compared, each from the bytes of one frame to (upper-layer protocol,
/// source port, destination port). Shared by the criterion benchmark and the instruction
/// counter (`src/bin/receive-instructions.rs`).
pub mod receive {
    use std::hint::black_box;

    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, IpProtocol, Ipv6ExtHeader, Ipv6ExtHeaderRepr,
        Ipv6HopByHopHeader, Ipv6HopByHopRepr, Ipv6Packet, Ipv6Repr, TcpPacket, UdpPacket,
    };

    /// What every receive path must produce: upper-layer protocol and ports (0, 0 without ports).
    pub type Outcome = (u8, u16, u16);

    /// smoltcp's receive path as its `Interface` walks it, from the IPv6 header on.
    #[inline(never)]
    pub fn smoltcp_ipv6(bytes: &[u8]) -> Option<Outcome> {
        let packet = Ipv6Packet::new_checked(bytes).ok()?;
        let repr = Ipv6Repr::parse(&packet).ok()?;
        let mut next = repr.next_header;
        let mut payload = packet.payload();
        if next == IpProtocol::HopByHop {
            let ext = Ipv6ExtHeader::new_checked(payload).ok()?;
            let ext_repr = Ipv6ExtHeaderRepr::parse(&ext).ok()?;
            let hbh = Ipv6HopByHopHeader::new_checked(ext_repr.data).ok()?;
            let hbh_repr = Ipv6HopByHopRepr::parse(&hbh).ok()?;
            black_box(&hbh_repr);
            next = ext_repr.next_header;
            payload = &payload[ext_repr.header_len() + ext_repr.data.len()..];
        }
        match next {
            IpProtocol::Udp => {
                let udp = UdpPacket::new_checked(payload).ok()?;
                Some((17, udp.src_port(), udp.dst_port()))
            }
            IpProtocol::Tcp => {
                let tcp = TcpPacket::new_checked(payload).ok()?;
                Some((6, tcp.src_port(), tcp.dst_port()))
            }
            other => Some((other.into(), 0, 0)),
        }
    }

    /// The MAC address of the receiving interface in the Ethernet shapes.
    pub const OUR_MAC: smoltcp::wire::EthernetAddress =
        smoltcp::wire::EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);

    /// smoltcp behind Ethernet, as its `Interface` does on `Medium::Ethernet`
    /// (`iface/interface/ethernet.rs`, `process_ethernet`): check the frame, keep it only if it
    /// is addressed to our MAC, to broadcast or to a multicast MAC, dispatch on EtherType.
    #[inline(never)]
    pub fn smoltcp_ethernet(bytes: &[u8]) -> Option<Outcome> {
        let frame = EthernetFrame::new_checked(bytes).ok()?;
        let dst = frame.dst_addr();
        if !dst.is_broadcast() && !dst.is_multicast() && dst != OUR_MAC {
            return None;
        }
        if frame.ethertype() != EthernetProtocol::Ipv6 {
            return None;
        }
        smoltcp_ipv6(frame.payload())
    }

    /// etherparse's sliced parser on the bare IP packet.
    #[inline(never)]
    pub fn etherparse_ip(bytes: &[u8]) -> Option<Outcome> {
        use etherparse::{SlicedPacket, TransportSlice};
        let sliced = SlicedPacket::from_ip(bytes).ok()?;
        match sliced.transport {
            Some(TransportSlice::Udp(u)) => Some((17, u.source_port(), u.destination_port())),
            Some(TransportSlice::Tcp(t)) => Some((6, t.source_port(), t.destination_port())),
            Some(TransportSlice::Icmpv6(_)) => Some((58, 0, 0)),
            _ => None,
        }
    }

    /// bridgeless-wire on the bare frame.
    #[inline(never)]
    pub fn bridgeless(bytes: &[u8]) -> Option<Outcome> {
        let info = bridgeless_wire::frame::parse(bytes).ok()?;
        let (s, d) = info.ports().unwrap_or((0, 0));
        Some((info.protocol_number(), s, d))
    }
}

/// Every shape, in the order the benchmark reports them.
pub fn shapes() -> Vec<Shape> {
    vec![udp_112(), mld_hbh_76(), tcp_syn_80()]
}

/// The compression context of the sending end of the link the shapes travel on: its own
/// interface identifier is `::1` and its peer's `::2`, matching [`SRC`] and [`DST`].
pub fn sender_context() -> bridgeless_wire::compressed::Context {
    let iid = |last: u8| [0, 0, 0, 0, 0, 0, 0, last];
    bridgeless_wire::compressed::Context::new(iid(1), iid(2))
}

/// Per-frame bytes a link adds around an IPv6 packet, and what it costs on the medium.
pub struct LinkOverhead {
    /// Name of the link framing.
    pub name: &'static str,
    /// Bytes in front of and behind the packet (headers and frame check sequence).
    pub bytes: usize,
}

/// Ethernet II: destination and source MAC, EtherType (14), frame check sequence (4).
pub const ETHERNET: LinkOverhead = LinkOverhead {
    name: "Ethernet + IPv6",
    bytes: 14 + 4,
};
/// IEEE 802.11 QoS data frame with three addresses (24 + 2 QoS control), LLC/SNAP (8), FCS (4).
pub const WIFI: LinkOverhead = LinkOverhead {
    name: "802.11 QoS data + LLC/SNAP + IPv6",
    bytes: 26 + 8 + 4,
};

/// The table of bytes per packet recorded in BENCHMARKS.md: every shape on Ethernet, on Wi-Fi,
/// bare on a point-to-point link, compressed, and COBS-framed on a byte stream, as Markdown.
pub fn size_table() -> String {
    use bridgeless_wire::{compressed, stream};
    let ctx = sender_context();
    let mut out = String::from(
        "| packet | Ethernet + IPv6 | 802.11 + LLC/SNAP + IPv6 | bare IPv6 | compressed | compressed, COBS stream |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let mut all = shapes();
    all.push(tcp_ack_60());
    for shape in &all {
        let bare = shape.bare.len();
        let mut buf = vec![0u8; bare + 64];
        let compressed = compressed::compress(&ctx, &shape.bare, &mut buf)
            .expect("compress")
            .len();
        let mut framed = vec![0u8; stream::encoded_len_max(compressed)];
        let streamed = stream::encode(&buf[..compressed], &mut framed).expect("encode");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            shape.name,
            bare + ETHERNET.bytes,
            bare + WIFI.bytes,
            bare,
            compressed,
            streamed
        ));
    }
    out
}

/// A bare TCP acknowledgement without options (60 bytes of IPv6): the most common packet on
/// the return path of a bulk transfer.
pub fn tcp_ack_60() -> Shape {
    #[rustfmt::skip]
    let tcp = [
        0xc0, 0x01, 0x00, 0x50,             // ports 49153 -> 80
        0x12, 0x34, 0x56, 0x79,             // sequence number
        0x00, 0x00, 0x10, 0x01,             // acknowledgement
        0x50, 0x10, 0x01, 0xf5,             // data offset 5 words, ACK, window
        0x00, 0x00, 0x00, 0x00,             // checksum, urgent pointer
    ];
    let mut bare = ipv6_header(SRC, DST, 6, 64, tcp.len());
    bare.extend_from_slice(&tcp);
    Shape {
        name: "tcp_ack_60",
        bare,
    }
}

/// SplitMix64: a small deterministic generator, so that benchmark inputs are the same in
/// every run.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 128 random bits.
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes are what their names say, and every compressed frame round-trips and saves
    /// at least the 34 bytes the issue targets (40-byte header down to at most 6).
    #[test]
    fn shapes_are_valid_and_compress() {
        let ctx = sender_context();
        let peer = ctx.mirrored();
        let mut all = shapes();
        all.push(tcp_ack_60());
        for shape in &all {
            let len: usize = shape.name.rsplit('_').next().unwrap().parse().unwrap();
            assert_eq!(shape.bare.len(), len, "{}", shape.name);
            let mut buf = vec![0u8; 256];
            let n = bridgeless_wire::compressed::compress(&ctx, &shape.bare, &mut buf)
                .unwrap()
                .len();
            assert!(
                n + 34 <= shape.bare.len(),
                "{}: {n} bytes compressed",
                shape.name
            );
            let mut back = vec![0u8; 256];
            let m = bridgeless_wire::compressed::decompress(&peer, &buf[..n], &mut back).unwrap();
            assert_eq!(&back[..m], &shape.bare[..], "{}", shape.name);
        }
        let table = size_table();
        assert_eq!(table.lines().count(), 2 + all.len());
    }
}
