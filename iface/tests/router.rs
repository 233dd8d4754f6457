//! Three routers in a line over memory links, with raw packets injected at both ends:
//!
//! ```text
//! host A ─L1─ R1 ─L2─ R2 ─L3─ R3 ─L4─ host B
//! fd00:1::/64  fd00:2::/64  fd00:3::/64  fd00:4::/64
//! ```
//!
//! Each router's address on a link is ::1 on the link's left end and ::2 on its right end.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::router::{
    DropReason, Forwarder, ForwarderConfig, LinkConfig, LinkId, LinkIo, Route, Router,
};
use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{Icmpv6Packet, IpProtocol, Ipv6Address, Ipv6Cidr, Ipv6Packet};

type Link = MemoryLink<ChaCha8Rng, 16, 1500>;

fn addr(s: &str) -> Ipv6Address {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Ipv6Cidr {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Cidr::new(addr(a), l.parse().unwrap())
}

struct Line {
    links: Vec<Link>,
    routers: Vec<Router>,
    rng: ChaCha8Rng,
}

/// Router `i` (0..3) joins link `i` (its link 0) and link `i + 1` (its link 1).
fn line() -> Line {
    let links = (0..4)
        .map(|i| Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(i)))
        .collect();
    let routes: [&[(&str, u16)]; 3] = [
        &[("fd00:1::/64", 0), ("::/0", 1)],
        &[
            ("fd00:1::/64", 0),
            ("fd00:2::/64", 0),
            ("fd00:3::/64", 1),
            ("fd00:4::/64", 1),
        ],
        &[("fd00:4::/64", 1), ("::/0", 0)],
    ];
    let routers = routes
        .iter()
        .enumerate()
        .map(|(i, table)| {
            let mut f = Forwarder::new(ForwarderConfig::default());
            let n = i as u16 + 1;
            f.add_link(LinkConfig {
                mtu: 1500,
                link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
                address: Some(Ipv6Address::new(0xfd00, n, 0, 0, 0, 0, 0, 2)),
            })
            .unwrap();
            f.add_link(LinkConfig {
                mtu: 1500,
                link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
                address: Some(Ipv6Address::new(0xfd00, n + 1, 0, 0, 0, 0, 0, 1)),
            })
            .unwrap();
            for (prefix, link) in table.iter() {
                f.routes_mut()
                    .insert(cidr(prefix), Route::Link(LinkId(*link)))
                    .unwrap();
            }
            Router::new(f)
        })
        .collect();
    Line {
        links,
        routers,
        rng: ChaCha8Rng::seed_from_u64(7),
    }
}

impl Line {
    /// Host A is the A side of link 0; host B is the B side of link 3.
    fn send(&mut self, from_a: bool, packet: &[u8]) {
        let (link, side) = if from_a { (0, Side::A) } else { (3, Side::B) };
        let mut end = self.links[link].end(side);
        let tx = end.transmit(Instant::ZERO).unwrap();
        tx.consume(packet.len(), |buf| buf.copy_from_slice(packet));
    }

    fn receive(&mut self, at_a: bool) -> Vec<Vec<u8>> {
        let (link, side) = if at_a { (0, Side::A) } else { (3, Side::B) };
        let mut end = self.links[link].end(side);
        let mut got = Vec::new();
        while let Some((rx, _)) = end.receive(Instant::ZERO) {
            got.push(rx.consume(|f| f.to_vec()));
        }
        got
    }

    /// Polls every router until none moves a frame.
    fn settle(&mut self) {
        for _ in 0..32 {
            let mut moved = 0;
            for i in 0..3 {
                let (left, right) = self.links.split_at_mut(i + 1);
                let mut l = left[i].end(Side::B);
                let mut r = right[0].end(Side::A);
                let mut ios: [&mut dyn LinkIo; 2] = [&mut l, &mut r];
                moved += self.routers[i].poll(Instant::ZERO, &mut ios, &mut self.rng);
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the routers never settled");
    }
}

fn udp(src: &str, dst: &str, hop_limit: u8) -> Vec<u8> {
    let header = Ipv6Header {
        src: addr(src),
        dst: addr(dst),
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit,
        traffic_class: 0x48,
        flow_label: 0x54321,
    };
    let mut buf = vec![0; 100];
    let n = emit_udp_v6(&header, 40000, 33434, b"probe", &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// (source, type, code) of an ICMPv6 message.
fn icmp(packet: &[u8]) -> (Ipv6Address, u8, u8) {
    let ip = Ipv6Packet::new_checked(packet).unwrap();
    assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
    let msg = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(msg.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    (ip.src_addr(), u8::from(msg.msg_type()), msg.msg_code())
}

#[test]
fn a_packet_crosses_three_routers_with_only_its_hop_limit_changed() {
    let mut line = line();
    let packet = udp("fd00:1::99", "fd00:4::99", 64);
    line.send(true, &packet);
    line.settle();
    let got = line.receive(false);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][7], 61);
    assert_eq!(got[0][..7], packet[..7]);
    assert_eq!(got[0][8..], packet[8..]);
    for r in &line.routers {
        assert_eq!(r.forwarder().counters().forwarded, 1);
    }
}

#[test]
fn every_hop_answers_a_traceroute_probe_from_its_arrival_link() {
    let mut line = line();
    let hops = ["fd00:1::2", "fd00:2::2", "fd00:3::2"];
    for (i, hop) in hops.iter().enumerate() {
        line.send(true, &udp("fd00:1::99", "fd00:4::99", i as u8 + 1));
        line.settle();
        let got = line.receive(true);
        assert_eq!(got.len(), 1, "hop {}", i + 1);
        assert_eq!(icmp(&got[0]), (addr(hop), 3, 0), "hop {}", i + 1);
    }
    assert!(line.receive(false).is_empty());
}

#[test]
fn no_route_and_echo() {
    let mut line = line();
    line.send(true, &udp("fd00:1::99", "fd00:9::1", 64));
    line.settle();
    let got = line.receive(true);
    assert_eq!(
        icmp(&got[0]),
        (addr("fd00:2::2"), 1, 0),
        "R2 has no default route"
    );
    assert_eq!(
        line.routers[1]
            .forwarder()
            .counters()
            .dropped
            .get(DropReason::NoRoute),
        1
    );
    // An Echo Request to R2's far address is answered by R2 from that address.
    let mut echo = udp("fd00:4::99", "fd00:3::1", 64);
    echo[6] = 58;
    let body = &mut echo[40..];
    body[..8].copy_from_slice(&[128, 0, 0, 0, 0x12, 0x34, 0, 1]);
    let sum = !smoltcp::wire::checksum::combine(&[
        smoltcp::wire::checksum::pseudo_header_v6(
            &addr("fd00:4::99"),
            &addr("fd00:3::1"),
            IpProtocol::Icmpv6,
            body.len() as u32,
        ),
        smoltcp::wire::checksum::data(body),
    ]);
    body[2..4].copy_from_slice(&sum.to_be_bytes());
    line.send(false, &echo);
    line.settle();
    let got = line.receive(false);
    assert_eq!(got.len(), 1);
    assert_eq!(icmp(&got[0]), (addr("fd00:3::1"), 129, 0));
    assert_eq!(
        got[0][40 + 4..],
        echo[40 + 4..],
        "identifier, sequence and data"
    );
    assert_eq!(line.routers[1].local_counters().echo_replies, 1);
}
