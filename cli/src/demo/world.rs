//! The demo's network in the simulator, and its script.
//!
//! ```text
//!                       core 2001:db8::/48
//!            ┌───────────┬──────┴─────┬───────────────┐
//!           ap1         ap2          ap3  ...       server
//!            │ radio     │ radio │ laptop  │ radio
//!          phone ──walks──> ──────walks────>
//! ```
//!
//! The core has a downstream link per access point and one to the server's link. Each access
//! point has its upstream link to the core, a radio link for the phone (vacant until the
//! phone arrives) and a link per other host: the laptop on the second access point, and
//! `--hosts` extra hosts on each (every other one listens to the group). Every link is
//! point-to-point: one router at one end, one node at the other.

use core::cell::RefCell;
use core::time::Duration as StdDuration;
use std::rc::Rc;

use bridgeless_iface::router::{LinkRole, Router, RouterConfig, RouterLink};
use bridgeless_sim::{Action, LinkId, LinkParams, NodeId, Sim};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::nodes::{Phone, PlainHost, RouterNode, Server, Station};
use super::record::Recorder;
use super::transport::Transport;

/// The core's prefix: the documentation prefix (RFC 3849).
pub const CORE_PREFIX: Ipv6Cidr =
    Ipv6Cidr::new(Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 48);
/// The phone's stream, in bits per second.
pub const STREAM_RATE_BPS: u64 = 1_000_000;
/// When the phone starts streaming (the tree and the hosts configure themselves before).
pub const STREAM_FROM: Duration = Duration::from_secs(5);
/// How long the phone stays at each access point while streaming.
pub const DWELL: Duration = Duration::from_secs(8);
/// When the server starts sending the group.
pub const GROUP_FROM: Duration = Duration::from_secs(3);
/// Time after the stream for the last bytes and the close, at least.
pub const TAIL: Duration = Duration::from_secs(3);
/// Time after the stream after which the run stops even if the stream has not ended.
pub const TAIL_LIMIT: Duration = Duration::from_secs(30);

/// What the world is made of.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The seed of every random choice.
    pub seed: u64,
    /// Access points (at least 2).
    pub access_points: usize,
    /// Extra hosts per access point.
    pub hosts: usize,
    /// Frame loss probability on radio links.
    pub loss: f64,
}

/// What a link is, for the report.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkKind {
    /// Core to access point `ap`.
    Uplink {
        /// The access point (0-based).
        ap: usize,
    },
    /// Core to the server.
    ServerLink,
    /// The phone's radio link at access point `ap`.
    Radio {
        /// The access point (0-based).
        ap: usize,
    },
    /// A host's link at access point `ap`.
    HostLink {
        /// The access point.
        ap: usize,
        /// The host's name.
        host: String,
        /// Whether the host listens to the group.
        listens: bool,
    },
}

/// One link of the world.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The simulator's link.
    pub id: LinkId,
    /// A name ("core-ap1", "ap2-radio", "ap2-laptop").
    pub name: String,
    /// What it is.
    pub kind: LinkKind,
}

/// The world, built and scripted.
pub struct World {
    /// The simulator.
    pub sim: Sim,
    /// What the nodes record.
    pub recorder: Rc<RefCell<Recorder>>,
    /// The setup.
    pub setup: Setup,
    /// The access points.
    pub aps: Vec<NodeId>,
    /// The server.
    pub server: NodeId,
    /// The phone.
    pub phone: NodeId,
    /// The laptop.
    pub laptop: NodeId,
    /// Extra hosts.
    pub extras: Vec<NodeId>,
    /// Every link.
    pub links: Vec<LinkInfo>,
    /// When the phone is moved, and to which access point.
    pub moves: Vec<(Instant, usize)>,
    /// When the phone stops writing.
    pub stream_until: Instant,
}

fn wired() -> LinkParams {
    LinkParams {
        latency: StdDuration::from_millis(1),
        bandwidth_bps: 100_000_000,
        ..LinkParams::default()
    }
}

fn radio(loss: f64) -> LinkParams {
    LinkParams {
        latency: StdDuration::from_millis(2),
        bandwidth_bps: 20_000_000,
        loss,
        ..LinkParams::default()
    }
}

fn router_config(name: &str, secret: [u8; 32], prefix: Option<Ipv6Cidr>) -> RouterConfig {
    let mut config = RouterConfig::new(name, secret);
    config.prefix = prefix;
    config.ra_interval = Duration::from_secs(30);
    config.multicast = true;
    config
}

const DOWN: RouterLink = RouterLink {
    role: LinkRole::Downstream,
    mtu: 1500,
};
const UP: RouterLink = RouterLink {
    role: LinkRole::Upstream,
    mtu: 1500,
};

impl World {
    /// Builds the world; `client` and `server` make the stream's two ends (their sockets go
    /// into the socket set given).
    pub fn build(
        setup: Setup,
        client: impl FnOnce(&mut Station) -> Box<dyn Transport>,
        server: impl FnOnce(&mut Station) -> Box<dyn Transport>,
    ) -> World {
        let n = setup.access_points;
        let mut sim = Sim::new(setup.seed);
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let streams = core::cell::Cell::new(0u64);
        let next_rng = |sim: &Sim| {
            streams.set(streams.get() + 1);
            sim.rng(streams.get())
        };
        let secret = |sim: &Sim| {
            let mut s = [0u8; 32];
            next_rng(sim).fill_bytes(&mut s);
            s
        };

        // The core: downstream links 0..n to the access points, n to the server.
        let core_router = Router::build(
            router_config("core", secret(&sim), Some(CORE_PREFIX)),
            &vec![DOWN; n + 1],
            Instant::ZERO,
        )
        .expect("the core's configuration is valid");
        let core = sim.add_node(
            "core",
            RouterNode::new("core", core_router, next_rng(&sim), recorder.clone()),
        );
        let core_ports: Vec<_> = (0..=n).map(|_| sim.add_port(core)).collect();

        let mut links = Vec::new();
        let mut aps = Vec::new();
        let mut radio_links = Vec::new();
        let mut laptop = None;
        let mut extras = Vec::new();
        for (ap, &core_port) in core_ports.iter().enumerate().take(n) {
            let name = format!("ap{}", ap + 1);
            let mut hosts: Vec<(String, bool)> = Vec::new();
            if ap == 1 {
                hosts.push(("laptop".to_string(), false));
            }
            for j in 0..setup.hosts {
                hosts.push((format!("ap{}-host{}", ap + 1, j + 1), j % 2 == 0));
            }
            let mut roles = vec![UP, DOWN];
            roles.extend(hosts.iter().map(|_| DOWN));
            let router = Router::build(
                router_config(&name, secret(&sim), None),
                &roles,
                Instant::ZERO,
            )
            .expect("an access point's configuration is valid");
            let id = sim.add_node(
                name.clone(),
                RouterNode::new(&name, router, next_rng(&sim), recorder.clone()),
            );
            let ports: Vec<_> = (0..roles.len()).map(|_| sim.add_port(id)).collect();
            let up = sim
                .connect(core_port, ports[0], wired())
                .expect("fresh ports");
            links.push(LinkInfo {
                id: up,
                name: format!("core-{name}"),
                kind: LinkKind::Uplink { ap },
            });
            let radio_link = sim.add_link(radio(setup.loss));
            sim.attach(ports[1], radio_link).expect("a vacant end");
            radio_links.push(radio_link);
            links.push(LinkInfo {
                id: radio_link,
                name: format!("{name}-radio"),
                kind: LinkKind::Radio { ap },
            });
            for (k, (host, listens)) in hosts.into_iter().enumerate() {
                let rng = next_rng(&sim);
                let rec = recorder.clone();
                let host_id = sim.add_node_with(host.clone(), 1, |p| {
                    PlainHost::new(Station::new(&host, &mut p[0], rng, rec), listens)
                });
                let port = sim.node_ports(host_id)[0];
                let link = sim
                    .connect(ports[2 + k], port, radio(setup.loss))
                    .expect("fresh ports");
                links.push(LinkInfo {
                    id: link,
                    name: format!("{name}-{}", host.trim_start_matches(&format!("{name}-"))),
                    kind: LinkKind::HostLink {
                        ap,
                        host: host.clone(),
                        listens,
                    },
                });
                if host == "laptop" {
                    laptop = Some(host_id);
                } else {
                    extras.push(host_id);
                }
            }
            aps.push(id);
        }

        let stream_from = Instant::ZERO + STREAM_FROM;
        let stream_until = stream_from + DWELL * n as u32;

        // The server, on the core's last link.
        let rng = next_rng(&sim);
        let rec = recorder.clone();
        let server_id = sim.add_node_with("server", 1, |p| {
            let mut station = Station::new("server", &mut p[0], rng, rec);
            let transport = server(&mut station);
            Server::new(station, transport, Instant::ZERO + GROUP_FROM, stream_until)
        });
        let server_port = sim.node_ports(server_id)[0];
        let server_link = sim
            .connect(core_ports[n], server_port, wired())
            .expect("fresh ports");
        links.push(LinkInfo {
            id: server_link,
            name: "core-server".to_string(),
            kind: LinkKind::ServerLink,
        });

        // The phone, at the first access point.
        let rng = next_rng(&sim);
        let rec = recorder.clone();
        let ap_of_link: Vec<(usize, usize)> = radio_links
            .iter()
            .enumerate()
            .map(|(ap, l)| (l.index(), ap))
            .collect();
        let phone = sim.add_node_with("phone", 1, |p| {
            let mut station = Station::new("phone", &mut p[0], rng, rec);
            let transport = client(&mut station);
            Phone::new(
                station,
                transport,
                ap_of_link,
                stream_from,
                stream_until,
                STREAM_RATE_BPS,
            )
        });
        let phone_port = sim.node_ports(phone)[0];
        sim.attach(phone_port, radio_links[0])
            .expect("a vacant end");
        let mut moves = Vec::new();
        for (ap, &link) in radio_links.iter().enumerate().skip(1) {
            let at = stream_from + DWELL * ap as u32;
            sim.schedule(at, Action::Move(phone_port, link));
            moves.push((at, ap));
        }
        links.sort_by_key(|l| l.id);

        World {
            sim,
            recorder,
            setup,
            aps,
            server: server_id,
            phone,
            laptop: laptop.expect("at least two access points"),
            extras,
            links,
            moves,
            stream_until,
        }
    }

    /// Whether the server has read the whole stream and seen it closed.
    pub fn stream_done(&self) -> bool {
        self.sim
            .node::<Server>(self.server)
            .is_some_and(|s| s.read.eof)
    }

    /// The time at which the run stops at the latest.
    pub fn deadline(&self) -> Instant {
        self.stream_until + TAIL_LIMIT
    }

    /// The time at which the run stops if the stream ended.
    pub fn planned_end(&self) -> Instant {
        self.stream_until + TAIL
    }
}
