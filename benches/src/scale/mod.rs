//! The `scale` benchmark: a thousand hosts roaming under thirty routers in the simulator.
//!
//! ```text
//!                               core 2001:db8::/48
//!        ┌───────────┬──────────────┼──────────────┬──────────┬──────────┐
//!       ap1         ap2     ...   ap29          server1  ...  server4
//!   ┌────┼────┐  ┌───┼───┐       ┌──┼──┐        (endpoints on ports 4433, 4434, ...)
//!  h1   h30  (vacant links)     ...
//! ```
//!
//! A two-level tree: the core holds the prefix and delegates one to each access router by
//! DHCPv6 prefix delegation; every access router announces a /64 on each of its
//! point-to-point host links (more links than hosts, so that hosts have somewhere to move
//! to). Each host is a bridgeless `Host` (smoltcp `Interface` with router discovery) with one
//! roaming `Endpoint` on a smoltcp UDP socket (`SmoltcpDriver`) holding its sessions; each
//! server is a `Host` on one of the core's links with several endpoints (one UDP port each,
//! see [`Setup::sessions_per_port`]). Sessions carry sequence-numbered datagrams, which the
//! servers echo. Every simulated minute a fraction of the hosts move to a vacant link of
//! another access router, form an address there, and their sessions migrate.
//!
//! [`run`] builds the world, runs it, and returns a [`report::Report`].

pub mod ledger;
pub mod nodes;
pub mod report;
pub mod world;

use smoltcp::time::{Duration, Instant};

/// What the world is made of and how it behaves.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Hosts, spread evenly over the access routers.
    pub hosts: usize,
    /// Routers: the core and `routers - 1` access routers below it.
    pub routers: usize,
    /// Roaming sessions, host `i % hosts` opening session `i`.
    pub sessions: usize,
    /// Simulated minutes of moving.
    pub minutes: u32,
    /// The fraction of the hosts that move in each simulated minute.
    pub move_fraction: f64,
    /// The seed of every random choice.
    pub seed: u64,
    /// Servers on the core's links.
    pub servers: usize,
    /// Sessions one server endpoint (one UDP port) serves at most: a server runs as many
    /// endpoints as its share of the sessions needs. `Endpoint::poll_transmit`,
    /// `poll_timeout` and `handle_timeout` visit every session of the endpoint (measured
    /// here: about 0.16 µs per session for each packet the server handles), so one endpoint
    /// of 10,000 sessions would spend some 1.6 ms per packet and the full run would be
    /// several times slower than real time; a server shards its sessions over ports instead,
    /// as a UDP server shards over `SO_REUSEPORT` sockets.
    pub sessions_per_port: usize,
    /// Each session sends one datagram per interval; the server echoes it.
    pub interval: Duration,
    /// Time the nodes' work by section (costs two clock reads per poll).
    pub profile: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            hosts: 1000,
            routers: 30,
            sessions: 10_000,
            minutes: 10,
            move_fraction: 0.1,
            seed: 1,
            servers: 4,
            sessions_per_port: 25,
            interval: Duration::from_secs(5),
            profile: false,
        }
    }
}

impl Setup {
    /// Checks the numbers; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.routers < 3 {
            return Err("--routers must be at least 3 (a core and two access routers)".into());
        }
        if self.routers > 250 {
            return Err("--routers must be at most 250".into());
        }
        if self.hosts == 0 || self.sessions == 0 || self.servers == 0 {
            return Err("--hosts, --sessions and --servers must be positive".into());
        }
        if self.servers > 64 {
            return Err("--servers must be at most 64".into());
        }
        if self.sessions_per_port == 0 || self.sessions_per_port > 4096 {
            return Err("--sessions-per-port must be 1 to 4096".into());
        }
        if self.ports_per_server() > 1024 {
            return Err("too many ports per server: raise --sessions-per-port or --servers".into());
        }
        if !(0.0..=1.0).contains(&self.move_fraction) {
            return Err("--move-fraction must be between 0 and 1".into());
        }
        if self.interval < Duration::from_millis(100) || self.interval > Duration::from_secs(14) {
            // Above the keepalive interval (15 s) the sessions would send PINGs between
            // datagrams; below 100 ms the run is a load test, not this benchmark.
            return Err("--interval-ms must be 100 to 14000".into());
        }
        Ok(())
    }

    /// Access routers.
    pub fn access_routers(&self) -> usize {
        self.routers - 1
    }

    /// Endpoints (UDP ports) per server.
    pub fn ports_per_server(&self) -> usize {
        self.sessions
            .div_ceil(self.servers)
            .div_ceil(self.sessions_per_port)
    }

    /// Hosts moving in each minute.
    pub fn movers_per_minute(&self) -> usize {
        ((self.hosts as f64) * self.move_fraction).round() as usize
    }

    /// The schedule that follows from the setup.
    pub fn timeline(&self) -> Timeline {
        let connect_from = Instant::from_secs(5);
        let connect_spread = Duration::from_secs(10);
        let moves_from = Instant::from_secs(20);
        let moves_until = moves_from + Duration::from_secs(60 * u64::from(self.minutes));
        // Room after the last move for at least two datagrams of every session, both ways.
        let tail = self.interval * 2 + Duration::from_secs(10);
        let end = moves_until + tail;
        Timeline {
            connect_from,
            connect_spread,
            moves_from,
            moves_until,
            send_until: end - Duration::from_secs(5),
            end,
        }
    }
}

/// When things happen in a run.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Sessions start connecting (the tree and the hosts have configured themselves).
    pub connect_from: Instant,
    /// Over how long the sessions' handshakes are spread.
    pub connect_spread: Duration,
    /// The first minute of moves starts.
    pub moves_from: Instant,
    /// The last minute of moves ends.
    pub moves_until: Instant,
    /// Sessions stop sending (what is in flight arrives before the end).
    pub send_until: Instant,
    /// The run ends.
    pub end: Instant,
}

/// Builds the world for `setup`, runs it to the end and reports. `progress` is called after
/// each simulated minute with the simulated time and the wall time so far.
pub fn run(
    setup: &Setup,
    mut progress: impl FnMut(Instant, std::time::Duration),
) -> report::Report {
    let started = std::time::Instant::now();
    let mut world = world::World::build(setup);
    let built = started.elapsed();
    let timeline = setup.timeline();
    let running = std::time::Instant::now();
    let cpu_before = report::cpu_time();
    let mut t = Instant::ZERO;
    let mut steps = Vec::new();
    while t < timeline.end {
        t = (t + Duration::from_secs(60)).min(timeline.end);
        world.sim.run_until(t);
        let wall = running.elapsed();
        steps.push(report::Step {
            simulated_secs: t.total_micros() as f64 / 1e6,
            wall_secs: wall.as_secs_f64(),
            cpu_secs: report::cpu_time()
                .zip(cpu_before)
                .map(|(a, b)| a.saturating_sub(b).as_secs_f64()),
        });
        progress(t, wall);
    }
    let wall = running.elapsed();
    let cpu = report::cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut report = report::Report::new(setup, &world, built, wall, cpu);
    report.steps = steps;
    report
}
