//! What the simulator tests share: the iface crate's `Router` as a simulator node, and a
//! peer's outer stack.
#![allow(dead_code)] // each test uses what it needs

use bridgeless_iface::router::{
    Forwarder, ForwarderConfig, LinkConfig, LinkId as RouterLink, LinkIo, Route, Router,
};
use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::{Config, Endpoint, StaticKeypair};
use bridgeless_sim::{Node, Port, Ports};
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, Ipv6Address, Ipv6Cidr};

/// The router, driving all its ports: its link `i` is port `i`.
pub struct RouterNode {
    pub router: Router,
    pub rng: ChaCha8Rng,
}

impl Node for RouterNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let mut links: Vec<&mut dyn LinkIo> =
            ports.iter_mut().map(|p| p as &mut dyn LinkIo).collect();
        self.router.poll(now, &mut links, &mut self.rng);
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.router.poll_timeout()
    }
}

/// A router whose link `i` carries the /64 `prefixes[i]` (MTU 1500), with the router at
/// `::1` of it, and a route to each.
pub fn router(rng: ChaCha8Rng, prefixes: impl IntoIterator<Item = Ipv6Address>) -> RouterNode {
    let mut f = Forwarder::new(ForwarderConfig::default());
    for (i, prefix) in prefixes.into_iter().enumerate() {
        let mut me = prefix.octets();
        me[15] = 1;
        f.add_link(LinkConfig {
            mtu: 1500,
            link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            address: Some(Ipv6Address::from(me)),
        })
        .unwrap();
        let link = RouterLink(u16::try_from(i).unwrap());
        f.routes_mut()
            .insert(Ipv6Cidr::new(prefix, 64), Route::Link(link))
            .unwrap();
    }
    RouterNode {
        router: Router::new(f),
        rng,
    }
}

/// A peer's outer stack on its simulator port: a smoltcp interface, a UDP socket on
/// `udp_port` for the mobility port ([`SmoltcpDriver`]), and the endpoint (default
/// configuration), all seeded from `seed`.
pub fn outer_stack(
    port: &mut Port,
    key: StaticKeypair,
    seed: u64,
    udp_port: u16,
) -> (Interface, SocketSet<'static>, SmoltcpDriver, Endpoint) {
    let mut config = IfaceConfig::new(HardwareAddress::Ip);
    config.random_seed = seed;
    let iface = Interface::new(config, port, Instant::ZERO);
    let mut sockets = SocketSet::new(Vec::new());
    let roaming = Config::default();
    let driver = SmoltcpDriver::new(&mut sockets, udp_port, 64, roaming.max_udp_payload);
    let mut rng_seed = [0u8; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let ep = Endpoint::new(roaming, key, rng_seed).unwrap();
    (iface, sockets, driver, ep)
}
