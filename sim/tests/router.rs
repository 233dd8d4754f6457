//! A bridgeless `Router` (the iface crate's, unmodified) between two smoltcp hosts:
//!
//! ```text
//! client fd00:1::10 ─L0─ fd00:1::1 router fd00:2::1 ─L1─ fd00:2::10 server
//! ```
//!
//! L1 is slower (10 Mbit/s) than L0: the router's link towards the server queues.

mod common;

use core::time::Duration;

use bridgeless_iface::router::{
    Forwarder, ForwarderConfig, LinkConfig, LinkId as RouterLink, LinkIo, Route, Router,
};
use bridgeless_sim::{LinkParams, Node, Ports, Sim};
use common::tcp_host::TcpHost;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

fn addr(net: u16, host: u16) -> Ipv6Address {
    Ipv6Address::new(0xfd00, net, 0, 0, 0, 0, 0, host)
}

/// The router, driving both of its ports as its links 0 and 1.
struct RouterNode {
    router: Router,
    rng: ChaCha8Rng,
}

impl Node for RouterNode {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let [a, b] = ports.as_mut_slice() else {
            return;
        };
        let mut links: [&mut dyn LinkIo; 2] = [a, b];
        self.router.poll(now, &mut links, &mut self.rng);
    }
}

fn router(rng: ChaCha8Rng) -> RouterNode {
    let mut f = Forwarder::new(ForwarderConfig::default());
    for net in 1..=2 {
        f.add_link(LinkConfig {
            mtu: 1500,
            link_local: Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            address: Some(addr(net, 1)),
        })
        .unwrap();
        f.routes_mut()
            .insert(
                Ipv6Cidr::new(addr(net, 0), 64),
                Route::Link(RouterLink(net - 1)),
            )
            .unwrap();
    }
    RouterNode {
        router: Router::new(f),
        rng,
    }
}

#[test]
fn tcp_through_a_router() {
    const SIZE: usize = 256 * 1024;
    let mut sim = Sim::new(3);
    let mut data = vec![0u8; SIZE];
    sim.rng(100).fill_bytes(&mut data);
    let (seed_c, seed_s) = (sim.rng(1).next_u64(), sim.rng(2).next_u64());
    let sent = data.clone();
    let client = sim.add_node_with("client", 1, |p| {
        TcpHost::new(
            &mut p[0],
            seed_c,
            addr(1, 10),
            Some(addr(1, 1)),
            Some(addr(2, 10)),
            sent,
        )
    });
    let server = sim.add_node_with("server", 1, |p| {
        TcpHost::new(
            &mut p[0],
            seed_s,
            addr(2, 10),
            Some(addr(2, 1)),
            None,
            Vec::new(),
        )
    });
    let r = sim.add_node("router", router(sim.rng(3)));
    let (r0, r1) = (sim.add_port(r), sim.add_port(r));
    let fast = LinkParams {
        latency: Duration::from_millis(1),
        bandwidth_bps: 100_000_000,
        ..LinkParams::default()
    };
    let slow = LinkParams {
        latency: Duration::from_millis(3),
        bandwidth_bps: 10_000_000,
        queue_frames: 64,
        ..LinkParams::default()
    };
    let l0 = sim.connect(sim.node_ports(client)[0], r0, fast).unwrap();
    let l1 = sim.connect(r1, sim.node_ports(server)[0], slow).unwrap();
    let done = sim.run_until_done(Instant::from_secs(120), |sim| {
        sim.node::<TcpHost>(server).unwrap().received.len() == SIZE
    });
    assert!(
        done,
        "transfer finished; link counters {:?} {:?}",
        sim.link_counters(l0),
        sim.link_counters(l1)
    );
    assert!(sim.node::<TcpHost>(server).unwrap().received == data);
    // At 10 Mbit/s, 256 KiB takes at least 210 ms.
    assert!(sim.now() > Instant::from_millis(210), "{}", sim.now());
    let forwarded = sim
        .node::<RouterNode>(r)
        .unwrap()
        .router
        .forwarder()
        .counters()
        .forwarded;
    let towards_server = sim.link_counters(l1).directions[0];
    let towards_client = sim.link_counters(l0).directions[1];
    // Everything the router sent was forwarded, and is what its links carried.
    assert_eq!(forwarded, towards_server.sent + towards_client.sent);
    assert!(towards_server.sent > SIZE as u64 / 1500);
}
