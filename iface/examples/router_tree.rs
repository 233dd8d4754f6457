//! A tree of three routers in memory, configured by nothing but the core's prefix: the two
//! access routers request prefixes by DHCPv6 prefix delegation and announce a /64 each on
//! their host links. Prints what happened, in virtual time.
//!
//! ```sh
//! cargo run -p bridgeless-iface --example router_tree
//! ```

#![allow(clippy::print_stdout)] // an example prints its timeline

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::router::{LinkId, LinkIo, LinkRole, Router, RouterConfig, RouterLink};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

type Link = MemoryLink<ChaCha8Rng, 64, 1500>;

fn main() {
    let down = RouterLink {
        role: LinkRole::Downstream,
        mtu: 1500,
    };
    let up = RouterLink {
        role: LinkRole::Upstream,
        mtu: 1500,
    };
    let prefix = Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 48);
    let now = Instant::ZERO;

    // The core holds the /48 and has two downstream links; each access router has an upstream
    // link and a host link. That is all the configuration there is.
    let mut core = Router::build(
        RouterConfig::core("core", [1; 32], prefix),
        &[down, down],
        now,
    )
    .expect("a valid core");
    let mut access = [
        Router::build(RouterConfig::new("ap1", [2; 32]), &[up, down], now).expect("ap1"),
        Router::build(RouterConfig::new("ap2", [3; 32]), &[up, down], now).expect("ap2"),
    ];
    // links[0] and links[1] join the core to ap1 and ap2; links[2] and links[3] are the host
    // links (nobody on them in this example).
    let mut links: Vec<Link> = (0..4)
        .map(|i| Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(i)))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(42);

    let mut t = now;
    while t < Instant::from_secs(5) {
        let [l0, l1, l2, l3] = &mut links[..] else {
            unreachable!()
        };
        let (mut a, mut b) = (l0.end(Side::A), l1.end(Side::A));
        core.poll(t, &mut [&mut a as &mut dyn LinkIo, &mut b], &mut rng);
        for (router, (uplink, host)) in access.iter_mut().zip([(l0, l2), (l1, l3)]) {
            let (mut u, mut h) = (uplink.end(Side::B), host.end(Side::A));
            router.poll(t, &mut [&mut u as &mut dyn LinkIo, &mut h], &mut rng);
        }
        let [ap1, ap2] = &mut access;
        for (name, router) in [("core", &mut core), ("ap1", ap1), ("ap2", ap2)] {
            while let Some(event) = router.poll_event() {
                println!(
                    "{:>7.3} s  {name}: {event}",
                    t.total_millis() as f64 / 1000.0
                );
            }
        }
        t += Duration::from_millis(10);
    }
    for (name, router) in [("ap1", &access[0]), ("ap2", &access[1])] {
        let tree = router.tree().expect("built as a tree router");
        if let (Some(prefix), Some(host_link)) = (tree.prefix(), tree.link_prefix(LinkId(1))) {
            println!("{name}: holds {prefix}, announces {host_link} on its host link");
        }
    }
}
