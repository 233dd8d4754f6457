//! What the simulator tests share: the iface crate's `Router` as a simulator node.

use bridgeless_iface::router::{
    Forwarder, ForwarderConfig, LinkConfig, LinkId as RouterLink, LinkIo, Route, Router,
};
use bridgeless_sim::{Node, Ports};
use rand_chacha::ChaCha8Rng;
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

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
