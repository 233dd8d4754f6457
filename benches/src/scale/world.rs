//! The benchmark's network in the simulator, and its script of moves.

use core::cell::RefCell;
use core::time::Duration as StdDuration;
use std::rc::Rc;

use bridgeless_iface::router::{LinkRole, Router, RouterConfig, RouterLink};
use bridgeless_roaming::StaticKeypair;
use bridgeless_sim::{Action, LinkId, LinkParams, NodeId, Sim};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::Setup;
use super::ledger::{Ledger, SessionLog, Shared};
use super::nodes::{HostNode, RouterNode, ServerNode, SessionPlan, Traffic};

/// The core's prefix: the documentation prefix (RFC 3849).
pub const CORE_PREFIX: Ipv6Cidr =
    Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 48);

/// The RNG stream of the move plan; nodes use streams 1 and up.
const PLAN_STREAM: u64 = 0;

/// Core to access routers and servers.
fn wired() -> LinkParams {
    LinkParams {
        latency: StdDuration::from_millis(1),
        bandwidth_bps: 1_000_000_000,
        ..LinkParams::default()
    }
}

/// Access router to host.
fn access() -> LinkParams {
    LinkParams {
        latency: StdDuration::from_millis(2),
        bandwidth_bps: 50_000_000,
        ..LinkParams::default()
    }
}

const DOWN: RouterLink = RouterLink {
    role: LinkRole::Downstream,
    mtu: 1500,
};
const UP: RouterLink = RouterLink {
    role: LinkRole::Upstream,
    mtu: 1500,
};

fn router_config(
    name: &str,
    secret: [u8; 32],
    prefix: Option<Ipv6Cidr>,
    delegation_bits: u8,
) -> RouterConfig {
    let mut config = RouterConfig::new(name, secret);
    config.prefix = prefix;
    config.delegation_bits = delegation_bits;
    config.multicast = false;
    config
}

/// The world, built and scripted.
pub struct World {
    /// The simulator.
    pub sim: Sim,
    /// What the nodes record.
    pub ledger: Shared,
    /// The hosts.
    pub hosts: Vec<NodeId>,
    /// The servers.
    pub servers: Vec<NodeId>,
    /// Every link.
    pub links: Vec<LinkId>,
    /// Host links per access router.
    pub links_per_ap: usize,
    /// Moves scripted.
    pub planned_moves: usize,
    /// Moves left out because no other access router had a vacant link.
    pub skipped_moves: usize,
}

impl World {
    /// Builds the world for `setup` and scripts its moves.
    pub fn build(setup: &Setup) -> World {
        let a = setup.access_routers();
        let timeline = setup.timeline();
        let mut sim = Sim::new(setup.seed);
        let ledger: Shared = Rc::new(RefCell::new(Ledger::default()));
        let mut stream = PLAN_STREAM;
        let mut next_rng = |sim: &Sim| -> ChaCha8Rng {
            stream += 1;
            sim.rng(stream)
        };
        let secret = |rng: &mut ChaCha8Rng| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            s
        };
        let mut links = Vec::new();

        // The core: a link per access router, then one per server. It delegates a prefix to
        // each access router: enough bits for all of them (block 0 is its own links').
        let bits = (usize::BITS - a.leading_zeros()) as u8; // 2^bits > a
        let mut rng = next_rng(&sim);
        let core_router = Router::build(
            router_config("core", secret(&mut rng), Some(CORE_PREFIX), bits),
            &vec![DOWN; a + setup.servers],
            Instant::ZERO,
        )
        .expect("the core's configuration is valid");
        let core = sim.add_node(
            "core",
            RouterNode::new(core_router, rng, ledger.clone(), setup.profile),
        );
        let core_ports: Vec<_> = (0..a + setup.servers).map(|_| sim.add_port(core)).collect();

        // Access routers: an uplink, and host links (half as many again as their share of
        // the hosts, so that movers find vacant ones). Delegation bits 0: an access router
        // keeps its whole prefix for its own links (2^11 /64s under a /53).
        let links_per_ap = {
            let share = setup.hosts.div_ceil(a);
            share + share.div_ceil(2) + 2
        };
        let mut host_links: Vec<Vec<LinkId>> = Vec::with_capacity(a);
        let mut link_ap: Vec<(LinkId, u16)> = Vec::new();
        for (ap, &core_port) in core_ports.iter().enumerate().take(a) {
            let name = format!("ap{}", ap + 1);
            let mut roles = vec![UP];
            roles.extend(core::iter::repeat_n(DOWN, links_per_ap));
            let mut rng = next_rng(&sim);
            let router = Router::build(
                router_config(&name, secret(&mut rng), None, 0),
                &roles,
                Instant::ZERO,
            )
            .expect("an access router's configuration is valid");
            let id = sim.add_node(
                name,
                RouterNode::new(router, rng, ledger.clone(), setup.profile),
            );
            let ports: Vec<_> = (0..roles.len()).map(|_| sim.add_port(id)).collect();
            links.push(
                sim.connect(core_port, ports[0], wired())
                    .expect("fresh ports"),
            );
            let mut mine = Vec::with_capacity(links_per_ap);
            for &port in &ports[1..] {
                let link = sim.add_link(access());
                sim.attach(port, link).expect("a vacant end");
                mine.push(link);
                links.push(link);
                link_ap.push((link, ap as u16));
            }
            host_links.push(mine);
        }

        // Servers, on the core's last links.
        let ports_per_server = setup.ports_per_server();
        let mut servers = Vec::new();
        let mut server_keys = Vec::new();
        for s in 0..setup.servers {
            let mut rng = next_rng(&sim);
            let key = StaticKeypair::from_private(secret(&mut rng));
            server_keys.push(key.public());
            let l = ledger.clone();
            let id = sim.add_node_with(format!("server{}", s + 1), 1, |p| {
                ServerNode::new(
                    s,
                    &mut p[0],
                    rng,
                    key,
                    ports_per_server,
                    setup.sessions_per_port,
                    l,
                    setup.profile,
                )
            });
            let port = sim.node_ports(id)[0];
            links.push(
                sim.connect(core_ports[a + s], port, wired())
                    .expect("fresh ports"),
            );
            servers.push(id);
        }

        // The ledger's tables.
        {
            let mut l = ledger.borrow_mut();
            l.servers = vec![None; setup.servers];
            l.server_keys = server_keys;
            let link_count = links.iter().map(|l| l.index() + 1).max().unwrap_or(0);
            l.link_ap = vec![None; link_count];
            for &(link, ap) in &link_ap {
                l.link_ap[link.index()] = Some(ap);
            }
            l.sessions = vec![SessionLog::default(); setup.sessions];
        }

        // Sessions: session i belongs to host i % hosts, goes to server i % servers and to
        // its endpoint (i / servers) % ports; the handshakes are spread over the connect
        // window in session order.
        let mut plans: Vec<Vec<SessionPlan>> = vec![Vec::new(); setup.hosts];
        let spread = timeline.connect_spread.total_micros();
        for i in 0..setup.sessions {
            let offset = spread * i as u64 / setup.sessions as u64;
            plans[i % setup.hosts].push(SessionPlan {
                id: i as u32,
                server: i % setup.servers,
                port: ((i / setup.servers) % ports_per_server) as u16,
                connect_at: timeline.connect_from + Duration::from_micros(offset),
            });
        }
        let traffic = Traffic {
            interval: setup.interval,
            send_until: timeline.send_until,
        };

        // Hosts, spread round-robin over the access routers' links.
        let mut hosts = Vec::with_capacity(setup.hosts);
        let mut host_ports = Vec::with_capacity(setup.hosts);
        let mut occupant: Vec<Vec<Option<usize>>> = vec![vec![None; links_per_ap]; a];
        let mut position = Vec::with_capacity(setup.hosts);
        for (h, plan) in plans.into_iter().enumerate() {
            let (ap, slot) = (h % a, h / a);
            let rng = next_rng(&sim);
            let l = ledger.clone();
            let id = sim.add_node_with(format!("h{}", h + 1), 1, |p| {
                HostNode::new(
                    h as u32,
                    ap as u16,
                    &mut p[0],
                    rng,
                    plan,
                    traffic,
                    l,
                    setup.profile,
                )
            });
            let port = sim.node_ports(id)[0];
            sim.attach(port, host_links[ap][slot])
                .expect("a vacant end");
            occupant[ap][slot] = Some(h);
            position.push((ap, slot));
            hosts.push(id);
            host_ports.push(port);
        }

        // The moves: in each minute, `movers` distinct hosts chosen at random, each at a
        // random instant of the minute, to a random vacant link of another access router.
        let mut plan_rng = sim.rng(PLAN_STREAM);
        let movers = setup.movers_per_minute().min(setup.hosts);
        let mut planned = 0;
        let mut skipped = 0;
        let mut order: Vec<usize> = (0..setup.hosts).collect();
        let below = |rng: &mut ChaCha8Rng, n: usize| (rng.next_u64() % n as u64) as usize;
        for minute in 0..setup.minutes {
            let start = timeline.moves_from + Duration::from_secs(60 * u64::from(minute));
            for i in 0..movers {
                let j = i + below(&mut plan_rng, setup.hosts - i);
                order.swap(i, j);
            }
            let mut moves: Vec<(u64, usize)> = order[..movers]
                .iter()
                .map(|&h| (plan_rng.next_u64() % 60_000_000, h))
                .collect();
            moves.sort_unstable();
            for (offset, h) in moves {
                let (ap, slot) = position[h];
                let candidates: Vec<usize> = (0..a)
                    .filter(|&x| x != ap && occupant[x].iter().any(Option::is_none))
                    .collect();
                if candidates.is_empty() {
                    skipped += 1;
                    continue;
                }
                let to = candidates[below(&mut plan_rng, candidates.len())];
                let vacant: Vec<usize> = (0..links_per_ap)
                    .filter(|&s| occupant[to][s].is_none())
                    .collect();
                let to_slot = vacant[below(&mut plan_rng, vacant.len())];
                occupant[ap][slot] = None;
                occupant[to][to_slot] = Some(h);
                position[h] = (to, to_slot);
                sim.schedule(
                    start + Duration::from_micros(offset),
                    Action::Move(host_ports[h], host_links[to][to_slot]),
                );
                planned += 1;
            }
        }

        World {
            sim,
            ledger,
            hosts,
            servers,
            links,
            links_per_ap,
            planned_moves: planned,
            skipped_moves: skipped,
        }
    }
}
