//! A router of the address tree (a configured /48, an upstream link with its router discovery
//! and prefix-delegation client, three downstream links with Router Advertisements and the
//! delegation server) driven by a sequence of actions: arbitrary frames (and frames built to
//! pass the first checks: IPv6 with a consistent Payload Length to a chosen destination, any
//! next header — Router Solicitations, Advertisements, DHCPv6 and Echo Requests included when
//! the fuzzer finds them) arriving on arbitrary links, routes added and removed, links going
//! down and up, time advanced with the router's timers served and its control packets sent.
//!
//! Invariants checked after every frame:
//! - nothing panics;
//! - every frame the router sends is a whole IPv6 packet no longer than the outgoing link's
//!   MTU (and never longer than 1280 octets if it is an ICMPv6 error);
//! - a forwarded copy differs from what arrived only in the hop limit, which is one less;
//! - nothing is ever sent back out of the point-to-point link a forwarded packet came from;
//! - every frame is accounted for: forwarded, local, multicast or dropped by a reason.
#![no_main]

use arbitrary::Arbitrary;
use bridgeless_iface::router::{
    FrameSink, LinkId, LinkRole, Route, Router, RouterConfig, RouterLink,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

const LINKS: u16 = 4;
const MTUS: [usize; LINKS as usize] = [1280, 1500, 9000, 1400];

#[derive(Debug, Arbitrary)]
enum Action {
    Raw {
        link: u8,
        frame: Vec<u8>,
    },
    Packet {
        link: u8,
        dst: [u8; 16],
        hop_limit: u8,
        next_header: u8,
        body: Vec<u8>,
    },
    AddRoute {
        prefix: [u8; 16],
        len: u8,
        route: u8,
    },
    RemoveRoute {
        prefix: [u8; 16],
        len: u8,
    },
    LinkUp {
        link: u8,
        up: bool,
    },
    Advance {
        millis: u16,
    },
}

/// Collects what the router sends.
struct Sent(Vec<(LinkId, Vec<u8>)>);

impl FrameSink for Sent {
    fn send(&mut self, link: LinkId, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut buf = vec![0; len];
        fill(&mut buf);
        self.0.push((link, buf));
        true
    }
}

fn router() -> Router {
    let mut config = RouterConfig::new("fuzz", [7; 32]);
    config.prefix = Some(Ipv6Cidr::new(
        Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 0),
        48,
    ));
    config.forwarder.max_routes = 64;
    let links: Vec<RouterLink> = MTUS
        .iter()
        .enumerate()
        .map(|(i, &mtu)| RouterLink {
            role: if i == 0 {
                LinkRole::Upstream
            } else {
                LinkRole::Downstream
            },
            mtu,
        })
        .collect();
    Router::build(config, &links, Instant::ZERO).unwrap()
}

/// Checks a frame the router sent on `out`: a whole IPv6 packet within the link's MTU.
fn check_sent(out: LinkId, bytes: &[u8]) {
    assert!(bytes.len() >= 40 && bytes[0] >> 4 == 6, "an IPv6 packet");
    let declared = 40 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    assert_eq!(declared, bytes.len(), "a whole packet");
    assert!(
        bytes.len() <= MTUS[out.index()],
        "within the MTU of link {}",
        out.0
    );
}

fn packet(dst: [u8; 16], hop_limit: u8, next_header: u8, body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min(9100)];
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next_header, hop_limit]);
    p.extend_from_slice(&Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets());
    p.extend_from_slice(&dst);
    p.extend_from_slice(body);
    p
}

fuzz_target!(|actions: Vec<Action>| {
    let mut router = router();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut now = Instant::ZERO;
    let mut frames = 0u64;
    for action in actions.into_iter().take(256) {
        let (link, frame) = match action {
            Action::Raw { link, frame } => (link, frame),
            Action::Packet {
                link,
                dst,
                hop_limit,
                next_header,
                body,
            } => (link, packet(dst, hop_limit, next_header, &body)),
            Action::AddRoute { prefix, len, route } => {
                let cidr = Ipv6Cidr::new(Ipv6Address::from(prefix), len % 129);
                let route = match route % 6 {
                    4 => Route::Reject,
                    5 => Route::Prohibit,
                    l => Route::Link(LinkId(u16::from(l))),
                };
                let _ = router.forwarder_mut().routes_mut().insert(cidr, route);
                continue;
            }
            Action::RemoveRoute { prefix, len } => {
                let cidr = Ipv6Cidr::new(Ipv6Address::from(prefix), len % 129);
                router.forwarder_mut().routes_mut().remove(cidr);
                continue;
            }
            Action::LinkUp { link, up } => {
                router
                    .forwarder_mut()
                    .set_link_up(LinkId(u16::from(link % 5)), up);
                continue;
            }
            Action::Advance { millis } => {
                now += smoltcp::time::Duration::from_millis(u64::from(millis));
                if router.poll_timeout().is_some_and(|t| t <= now) {
                    router.handle_timeout(now, &mut rng);
                }
                let mut buf = [0u8; 1500];
                for _ in 0..64 {
                    let Some((out, len)) = router.poll_transmit(now, &mut buf) else {
                        break;
                    };
                    check_sent(out, &buf[..len]);
                }
                continue;
            }
        };
        let in_link = LinkId(u16::from(link % 5)); // 4 is not a link
        let before = {
            let c = router.forwarder().counters();
            c.forwarded + c.multicast
        };
        let mut sent = Sent(Vec::new());
        router.handle_frame(now, in_link, &frame, &mut sent, &mut rng);
        frames += 1;
        let forwarded = {
            let c = router.forwarder().counters();
            c.forwarded + c.multicast - before
        };
        for (out, bytes) in &sent.0 {
            assert!(bytes.len() >= 40 && bytes[0] >> 4 == 6, "an IPv6 packet");
            let declared = 40 + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
            assert_eq!(declared, bytes.len(), "a whole packet");
            assert!(
                bytes.len() <= MTUS[out.index()],
                "within the MTU of link {}",
                out.0
            );
            let is_copy = forwarded == 1 && bytes[8..24] == frame[8..24];
            if is_copy {
                assert_ne!(*out, in_link, "never back out of the arrival link");
                assert_eq!(bytes[7], frame[7] - 1);
                assert_eq!(bytes[..7], frame[..7]);
                assert_eq!(bytes[8..], frame[8..bytes.len()]);
            } else if bytes[6] == 58 && bytes.get(40).is_some_and(|&t| t < 128) {
                assert!(bytes.len() <= 1280, "errors fit the minimum MTU");
            }
        }
        let c = router.forwarder().counters();
        assert_eq!(
            c.forwarded + c.local + c.multicast + c.dropped.total(),
            frames
        );
    }
});
