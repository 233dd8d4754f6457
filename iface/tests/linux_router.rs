//! Linux hosts at the edges of a tree of three bridgeless routers, all in one process:
//!
//! ```text
//!  ns1: Linux host H1                                   ns2: Linux host H2
//!       tun0 ─── R_a ──memory── R_core ──memory── R_b ─── tun0
//! ```
//!
//! Each Linux host sits in a network namespace the test creates, on the kernel side of a TUN
//! device whose other side is one of our routers' links. The routers run on a thread of
//! their own; the test runs the kernel's tools in the namespaces.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::router::{
    Forwarder, ForwarderConfig, LinkConfig, LinkId, LinkIo, Route, Router,
};
use common::Netns;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::Instant;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

type Link = MemoryLink<ChaCha8Rng, 64, 1500>;

fn addr(s: &str) -> Ipv6Address {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Ipv6Cidr {
    let (a, l) = s.split_once('/').unwrap();
    Ipv6Cidr::new(addr(a), l.parse().unwrap())
}

fn ready(test: &str) -> bool {
    common::ready(test, &["ip", "ping", "traceroute6"])
}

/// A router with links of the given (MTU, link-local, global address) and routes.
fn router(links: &[(usize, &str, &str)], routes: &[(&str, u16)]) -> Router {
    let mut f = Forwarder::new(ForwarderConfig::default());
    for (mtu, link_local, global) in links {
        f.add_link(LinkConfig {
            mtu: *mtu,
            link_local: addr(link_local),
            address: Some(addr(global)),
        })
        .unwrap();
    }
    for (prefix, link) in routes {
        f.routes_mut()
            .insert(cidr(prefix), Route::Link(LinkId(*link)))
            .unwrap();
    }
    Router::new(f)
}

/// The three routers and their links, running on a thread until dropped.
struct World {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl World {
    fn start(ns1: &Netns, ns2: &Netns) -> World {
        let mut tun1 = Tun::open_in_namespace(ns1.path(), "tun0").expect("tun0 in ns1");
        let mut tun2 = Tun::open_in_namespace(ns2.path(), "tun0").expect("tun0 in ns2");
        for ns in [ns1, ns2] {
            ns.run("ip", &["link", "set", "tun0", "up"]);
        }
        let mtu = tun1.mtu();
        let mut r_a = router(
            &[
                (mtu, "fe80::1", "fd00:a::1"),
                (1500, "fe80::2", "fd00:1::2"),
            ],
            &[("fd00:a::/64", 0), ("::/0", 1)],
        );
        let mut r_core = router(
            &[
                (1500, "fe80::1", "fd00:1::1"),
                (1500, "fe80::1", "fd00:2::1"),
            ],
            &[
                ("fd00:1::/64", 0),
                ("fd00:a::/64", 0),
                ("fd00:2::/64", 1),
                ("fd00:b::/64", 1),
            ],
        );
        let mut r_b = router(
            &[
                (mtu, "fe80::1", "fd00:b::1"),
                (1500, "fe80::2", "fd00:2::2"),
            ],
            &[("fd00:b::/64", 0), ("::/0", 1)],
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut l_a = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(1));
            let mut l_b = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(2));
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let start = StdInstant::now();
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::from_micros(start.elapsed().as_micros() as i64);
                let mut moved = 0;
                {
                    let mut up = l_a.end(Side::A);
                    let mut links: [&mut dyn LinkIo; 2] = [&mut tun1, &mut up];
                    moved += r_a.poll(now, &mut links, &mut rng);
                }
                {
                    let (mut a, mut b) = (l_a.end(Side::B), l_b.end(Side::A));
                    let mut links: [&mut dyn LinkIo; 2] = [&mut a, &mut b];
                    moved += r_core.poll(now, &mut links, &mut rng);
                }
                {
                    let mut up = l_b.end(Side::B);
                    let mut links: [&mut dyn LinkIo; 2] = [&mut tun2, &mut up];
                    moved += r_b.poll(now, &mut links, &mut rng);
                }
                if moved == 0 {
                    let _ = tun1.wait(Some(smoltcp::time::Duration::from_millis(1)));
                }
            }
        });
        World {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// H1 (fd00:a::2) and H2 (fd00:b::2), configured by hand with a default route into the TUN.
fn static_hosts(ns1: &Netns, ns2: &Netns) {
    for (ns, address) in [(ns1, "fd00:a::2/64"), (ns2, "fd00:b::2/64")] {
        ns.run(
            "ip",
            &["-6", "addr", "add", address, "dev", "tun0", "nodad"],
        );
        ns.run("ip", &["-6", "route", "add", "default", "dev", "tun0"]);
    }
}

#[test]
fn linux_hosts_ping_and_traceroute_through_three_routers() {
    if !ready("linux_hosts_ping_and_traceroute_through_three_routers") {
        return;
    }
    let (ns1, ns2) = (Netns::new("br1"), Netns::new("br2"));
    let world = World::start(&ns1, &ns2);
    static_hosts(&ns1, &ns2);

    let out = ns1.run(
        "ping",
        &["-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00:b::2"],
    );
    assert!(out.contains("3 received"), "{out}");

    let started = StdInstant::now();
    let out = ns1.run(
        "traceroute6",
        &["-n", "-q", "1", "-w", "2", "-m", "8", "fd00:b::2"],
    );
    let hops: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        hops,
        ["fd00:a::1", "fd00:1::1", "fd00:2::2", "fd00:b::2"],
        "every router names itself from its arrival link:\n{out}"
    );
    assert!(started.elapsed() < StdDuration::from_secs(20), "{out}");
    drop(world);
}
