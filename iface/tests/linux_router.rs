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

// ---------------------------------------------------------------------------------------
// The address tree: nothing configured but the core's prefix
// ---------------------------------------------------------------------------------------

/// What the router thread tells the test about the tree.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// R_a's and R_b's host-link prefixes.
    host_links: [Option<Ipv6Cidr>; 2],
    /// The core's addresses on its links to R_a and R_b.
    core_links: [Option<Ipv6Address>; 2],
    /// R_b's upstream address.
    r_b_upstream: Option<Ipv6Address>,
    /// R_a's host-link address.
    r_a_host_link: Option<Ipv6Address>,
    /// Prefixes the core delegated on its link to H3 (dhcpcd).
    delegated_to_h3: Vec<Ipv6Cidr>,
}

const CORE_PREFIX: &str = "fd00:7::/48";

/// The tree: core (fd00:7::/48; links to R_a, R_b and H3's TUN), R_a (upstream, H1's TUN), R_b
/// (upstream, H2's TUN). Routers advertise every 4 s at most.
struct Tree {
    stop: Arc<AtomicBool>,
    snapshot: Arc<std::sync::Mutex<Snapshot>>,
    thread: Option<JoinHandle<()>>,
}

impl Tree {
    fn start(ns1: &Netns, ns2: &Netns, ns3: &Netns) -> Tree {
        use bridgeless_iface::router::{LinkRole, RouterConfig, RouterLink, TreeEvent};
        let open = |ns: &Netns| {
            let tun = Tun::open_in_namespace(ns.path(), "tun0").expect("tun0");
            ns.run("sysctl", &["-q", "-w", "net.ipv6.conf.tun0.accept_ra=2"]);
            ns.run("ip", &["link", "set", "lo", "up"]);
            ns.run("ip", &["link", "set", "tun0", "up"]);
            tun
        };
        let (mut tun1, mut tun2, mut tun3) = (open(ns1), open(ns2), open(ns3));
        let now = Instant::ZERO;
        let config = |name: &str, prefix: Option<&str>| {
            let mut c = RouterConfig::new(name, [name.len() as u8; 32]);
            c.prefix = prefix.map(cidr);
            c.ra_interval = smoltcp::time::Duration::from_secs(4);
            c
        };
        let down = |mtu| RouterLink {
            role: LinkRole::Downstream,
            mtu,
        };
        let up = RouterLink {
            role: LinkRole::Upstream,
            mtu: 1500,
        };
        let mtu = tun1.mtu();
        let mut core = Router::build(
            config("core", Some(CORE_PREFIX)),
            &[down(1500), down(1500), down(tun3.mtu())],
            now,
        )
        .unwrap();
        let mut r_a = Router::build(config("r_a", None), &[up, down(mtu)], now).unwrap();
        let mut r_b = Router::build(config("r_b", None), &[up, down(tun2.mtu())], now).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(std::sync::Mutex::new(Snapshot::default()));
        let (flag, shared) = (stop.clone(), snapshot.clone());
        let thread = std::thread::spawn(move || {
            let mut l_a = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(1));
            let mut l_b = Link::new(MemoryLinkConfig::default(), ChaCha8Rng::seed_from_u64(2));
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let start = StdInstant::now();
            let mut snap = Snapshot::default();
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::from_micros(start.elapsed().as_micros() as i64);
                let mut moved = 0;
                {
                    let (mut a, mut b) = (l_a.end(Side::A), l_b.end(Side::A));
                    let mut links: [&mut dyn LinkIo; 3] = [&mut a, &mut b, &mut tun3];
                    moved += core.poll(now, &mut links, &mut rng);
                }
                {
                    let mut upl = l_a.end(Side::B);
                    let mut links: [&mut dyn LinkIo; 2] = [&mut upl, &mut tun1];
                    moved += r_a.poll(now, &mut links, &mut rng);
                }
                {
                    let mut upl = l_b.end(Side::B);
                    let mut links: [&mut dyn LinkIo; 2] = [&mut upl, &mut tun2];
                    moved += r_b.poll(now, &mut links, &mut rng);
                }
                while let Some(event) = core.poll_event() {
                    if let TreeEvent::Delegated {
                        link: LinkId(2),
                        prefix,
                    } = event
                    {
                        snap.delegated_to_h3.push(prefix);
                    }
                }
                while r_a.poll_event().is_some() || r_b.poll_event().is_some() {}
                snap.host_links = [
                    r_a.tree().unwrap().link_prefix(LinkId(1)),
                    r_b.tree().unwrap().link_prefix(LinkId(1)),
                ];
                snap.core_links = [0, 1].map(|i| core.forwarder().link(LinkId(i)).unwrap().address);
                snap.r_b_upstream = r_b.forwarder().link(LinkId(0)).unwrap().address;
                snap.r_a_host_link = r_a.forwarder().link(LinkId(1)).unwrap().address;
                *shared.lock().unwrap() = snap.clone();
                if moved == 0 {
                    let _ = tun1.wait(Some(smoltcp::time::Duration::from_millis(1)));
                }
            }
        });
        Tree {
            stop,
            snapshot,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().unwrap().clone()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits up to `limit` for `f` to say something.
fn wait_for<T>(limit: StdDuration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = StdInstant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(StdInstant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

/// The global address the kernel formed on tun0 from our advertisement, inside `prefix`.
fn kernel_address(ns: &Netns, prefix: Ipv6Cidr) -> Option<Ipv6Address> {
    common::addresses(ns, "tun0")
        .into_iter()
        .find(|a| prefix.contains_addr(a))
}

#[test]
fn a_tree_configured_by_one_prefix_serves_linux_hosts_and_a_linux_dhcp_client() {
    if !common::ready(
        "a_tree_configured_by_one_prefix_serves_linux_hosts_and_a_linux_dhcp_client",
        &["ip", "ping", "traceroute6", "sysctl", "mount", "dhcpcd"],
    ) {
        return;
    }
    let (ns1, ns2, ns3) = (Netns::new("brt1"), Netns::new("brt2"), Netns::new("brt3"));
    let tree = Tree::start(&ns1, &ns2, &ns3);
    // H3: Linux's DHCPv6 client asks the core for a prefix (and for an address, refused).
    let dhcpcd = common::Dhcpcd::start(
        &ns3,
        "tun0",
        "duid\nipv6only\nnoipv6rs\nallowinterfaces tun0\ninterface tun0\nipv6rs\nia_na 1\nia_pd 2 lo/0/64\n",
    );

    // (a) H1 and H2 configure themselves from the Router Advertisements of R_a and R_b,
    // whose prefixes came down the tree by prefix delegation.
    let [link_a, link_b] = wait_for(StdDuration::from_secs(20), "delegated prefixes", || {
        let s = tree.snapshot();
        Some([s.host_links[0]?, s.host_links[1]?])
    });
    let core = cidr(CORE_PREFIX);
    for link in [link_a, link_b] {
        assert!(
            core.contains_addr(&link.address()) && link.prefix_len() == 64,
            "{link}"
        );
    }
    let h1 = wait_for(StdDuration::from_secs(20), "H1's address", || {
        kernel_address(&ns1, link_a)
    });
    let h2 = wait_for(StdDuration::from_secs(20), "H2's address", || {
        kernel_address(&ns2, link_b)
    });
    let route = ns1.run("ip", &["-6", "route", "show", "default"]);
    assert!(
        route.contains("proto ra"),
        "H1's default route comes from our RA: {route}"
    );
    let out = ns1.run(
        "ping",
        &["-6", "-c", "3", "-i", "0.2", "-W", "2", &h2.to_string()],
    );
    assert!(out.contains("3 received"), "{out}");

    // (b) traceroute names every router: R_a on H1's link, the core on its link to R_a, R_b
    // on its upstream link (an address it formed from the core's advertisement), then H2.
    let s = tree.snapshot();
    let out = ns1.run(
        "traceroute6",
        &["-n", "-q", "1", "-w", "2", "-m", "8", &h2.to_string()],
    );
    let hops: Vec<String> = out
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let expected: Vec<String> = [
        s.r_a_host_link.unwrap(),
        s.core_links[0].unwrap(),
        s.r_b_upstream.unwrap(),
        h2,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    assert_eq!(hops, expected, "{out}");
    let _ = h1;

    // (d) dhcpcd obtained a prefix from the core and put an address of it on lo.
    let prefix = wait_for(StdDuration::from_secs(30), "a delegation to dhcpcd", || {
        tree.snapshot().delegated_to_h3.first().copied()
    });
    assert!(core.contains_addr(&prefix.address()) && prefix.prefix_len() == 52);
    wait_for(StdDuration::from_secs(10), "dhcpcd's address on lo", || {
        common::addresses(&ns3, "lo")
            .into_iter()
            .find(|a| prefix.contains_addr(a))
    });
    drop(dhcpcd);
    drop(tree);
}

// ---------------------------------------------------------------------------------------
// Multicast through the tree
// ---------------------------------------------------------------------------------------

/// Joins ff05::1234 on tun0, counts the datagrams to port 5000 for argv[1] seconds, prints the
/// count, leaves.
const RECEIVER: &str = r#"
import select, socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 5000))
mreq = socket.inet_pton(socket.AF_INET6, "ff05::1234") + struct.pack("@I", socket.if_nametoindex("tun0"))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
print("joined", flush=True)
n, end = 0, time.time() + float(sys.argv[1])
while time.time() < end:
    if select.select([s], [], [], 0.1)[0]:
        s.recv(2000)
        n += 1
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)
print(n, flush=True)
time.sleep(0.5)
"#;

/// Counts the packets to ff05::1234 that arrive on tun0 (whatever the sockets want) for
/// argv[1] seconds: what the link delivered, seen below the kernel's group filter.
const SNIFFER: &str = r#"
import select, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86dd))
s.bind(("tun0", 0))
group = socket.inet_pton(socket.AF_INET6, "ff05::1234")
print("ready", flush=True)
n, end = 0, time.time() + float(sys.argv[1])
while time.time() < end:
    if select.select([s], [], [], 0.1)[0]:
        if s.recv(4000)[24:40] == group:
            n += 1
print(n, flush=True)
"#;

/// Sends 20 datagrams to ff05::1234 port 5000 out of tun0 with hop limit 8.
const SENDER: &str = r#"
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("tun0"))
for i in range(20):
    s.sendto(b"datagram %d" % i, ("ff05::1234", 5000))
    time.sleep(0.05)
"#;

/// Starts `script` with python3 in `ns` and waits for its first line (`joined`/`ready`).
fn python(
    ns: &Netns,
    script: &str,
    seconds: &str,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut child = common::spawn(ns.command("python3").args(["-c", script, seconds]));
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("read it");
    assert!(first == "joined" || first == "ready", "{first}");
    (child, lines)
}

/// The count the script prints last.
fn count(
    (mut child, mut lines): (
        std::process::Child,
        std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    ),
) -> usize {
    let n = lines
        .next()
        .expect("a count")
        .expect("read it")
        .trim()
        .parse()
        .expect("a number");
    let _ = child.wait();
    n
}

#[test]
fn a_group_reaches_exactly_the_linux_host_that_joined_and_stops_after_the_leave() {
    if !common::ready(
        "a_group_reaches_exactly_the_linux_host_that_joined_and_stops_after_the_leave",
        &["ip", "python3", "sysctl"],
    ) {
        return;
    }
    let (ns1, ns2, ns3) = (Netns::new("brm1"), Netns::new("brm2"), Netns::new("brm3"));
    let tree = Tree::start(&ns1, &ns2, &ns3);
    let [link_a, _] = wait_for(StdDuration::from_secs(20), "delegated prefixes", || {
        let s = tree.snapshot();
        Some([s.host_links[0]?, s.host_links[1]?])
    });
    // H1 sends from a global address (a link-local source never leaves its link).
    wait_for(StdDuration::from_secs(20), "H1's address", || {
        kernel_address(&ns1, link_a)
    });

    // H2 joins; H3 (on the core's third link) does not, and watches its link.
    let receiver = python(&ns2, RECEIVER, "4");
    let bystander = python(&ns3, SNIFFER, "4");
    std::thread::sleep(StdDuration::from_millis(500)); // H2's report climbs the tree
    ns1.run("python3", &["-c", SENDER]);
    assert_eq!(count(receiver), 20, "H2 got every datagram");
    assert_eq!(
        count(bystander),
        0,
        "nothing reached the link of H3, which did not join"
    );

    // H2 left when its receiver ended. R_b's querier asks twice, 1 s apart (Last Listener
    // Query Count x Interval), then stops copying the group onto H2's link.
    std::thread::sleep(StdDuration::from_millis(2500));
    let watcher = python(&ns2, SNIFFER, "2");
    ns1.run("python3", &["-c", SENDER]);
    assert_eq!(count(watcher), 0, "delivery stopped after the leave");
    drop(tree);
}
