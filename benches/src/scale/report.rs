//! The run's results: computed from the ledger, the nodes and the simulator's counters,
//! printed as a table and written as JSON.

use std::io::{self, Write};

use serde::Serialize;
use smoltcp::time::Duration;

use super::Setup;
use super::nodes::{EndpointTotals, HostNode, ServerNode};
use super::world::World;

/// Minimum, percentiles and maximum of a set of durations, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// How many values.
    pub count: usize,
    /// The smallest.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The largest.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Distribution {
    fn of(mut values: Vec<f64>) -> Option<Distribution> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Distribution {
            count: values.len(),
            min: values[0],
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: values[values.len() - 1],
            mean: values.iter().sum::<f64>() / values.len() as f64,
        })
    }

    fn ms(&self) -> String {
        format!(
            "{:.0} / {:.0} / {:.0} / {:.0} ms",
            self.min, self.median, self.p99, self.max
        )
    }
}

fn millis(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

/// The setup, as run.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// Hosts.
    pub hosts: usize,
    /// Routers (core included).
    pub routers: usize,
    /// Access routers.
    pub access_routers: usize,
    /// Host links per access router (occupied or vacant).
    pub links_per_access_router: usize,
    /// Sessions.
    pub sessions: usize,
    /// Servers.
    pub servers: usize,
    /// Endpoints (UDP ports) per server.
    pub ports_per_server: usize,
    /// Minutes of moving.
    pub minutes: u32,
    /// When the moving starts and ends (simulated seconds); sessions connect before.
    pub moving_from_secs: f64,
    /// See `moving_from_secs`.
    pub moving_until_secs: f64,
    /// Fraction of hosts moving per minute.
    pub move_fraction: f64,
    /// Seconds between a session's datagrams.
    pub interval_secs: f64,
    /// Bytes per datagram (the application's payload).
    pub payload_bytes: usize,
    /// The seed.
    pub seed: u64,
}

/// Time and memory.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    /// Building the world (routers, hosts, servers, keys), wall seconds.
    pub build_wall_secs: f64,
    /// Running it, wall seconds.
    pub run_wall_secs: f64,
    /// Simulated seconds (setup, minutes of moving, tail).
    pub simulated_secs: f64,
    /// Simulated seconds per wall second of the run (> 1: faster than real time).
    pub ratio: f64,
    /// CPU time the process spent running, seconds (`/proc/self/schedstat`): less than the
    /// wall time when other processes shared the cores.
    pub run_cpu_secs: Option<f64>,
    /// Simulated seconds per CPU second.
    pub ratio_cpu: Option<f64>,
    /// Peak resident memory of the process (`VmHWM`), KiB.
    pub peak_memory_kib: Option<u64>,
    /// Frames put on links (each hop counts).
    pub frames_sent: u64,
    /// Frames links delivered.
    pub frames_delivered: u64,
    /// Frames not delivered: sent to a vacant end (a host that had moved away).
    pub frames_no_peer: u64,
    /// Frames not delivered: in flight when a host left the link.
    pub frames_in_flight_at_move: u64,
    /// Frames not delivered for any other reason.
    pub frames_dropped_other: u64,
    /// The simulator's events and node polls.
    pub events: u64,
    /// See `events`.
    pub polls: u64,
    /// Frame buffers the simulator's pool needed at most.
    pub frame_pool: usize,
    /// Load average when the run ended (`/proc/loadavg`).
    pub load_average: Option<String>,
}

/// The application's datagrams.
#[derive(Debug, Clone, Serialize)]
pub struct DatagramReport {
    /// Sent by the hosts (accepted by their endpoints).
    pub sent: u64,
    /// Refused by the hosts' endpoints (send queue full).
    pub refused: u64,
    /// Received by the servers.
    pub received_by_servers: u64,
    /// Echoed by the servers.
    pub echoed: u64,
    /// Echoes received by the hosts.
    pub echoes_received: u64,
    /// `sent - received_by_servers`.
    pub lost_up: u64,
    /// `echoed - echoes_received`.
    pub lost_down: u64,
}

/// Moves and what the sessions saw of them.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    /// Moves scripted.
    pub planned: usize,
    /// Moves left out (no vacant link at another access router).
    pub skipped: usize,
    /// Moves the hosts saw.
    pub performed: usize,
    /// Scripted moves the simulator could not apply.
    pub failed: usize,
    /// Hosts that moved at least once.
    pub hosts_moved: usize,
    /// Moves that stayed at the same access router (none are scripted).
    pub same_router: usize,
    /// From the move to a new address on the new link.
    pub address_ms: Option<Distribution>,
    /// Moves after which the host had no new address by the end.
    pub without_address: usize,
    /// Session moves (a host's move, for each of its sessions).
    pub session_moves: usize,
    /// Per session and move: from the move to the first authenticated packet of the session
    /// from the server on the new link (the server has switched to the new address: the
    /// interruption of the session).
    pub interruption_ms: Option<Distribution>,
    /// Session moves after which nothing arrived from the server.
    pub not_restored: usize,
    /// Per session and move, at the server: between the arrival of the last datagram sent
    /// before the move and the first sent after it (the interval when nothing is lost).
    pub up_gap_ms: Option<Distribution>,
    /// Per session and move, at the host: between the last echo before the move and the
    /// first echo of a datagram sent after it.
    pub down_gap_ms: Option<Distribution>,
}

/// Per-session continuity.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// Sessions.
    pub total: usize,
    /// Established (handshake completed).
    pub established: usize,
    /// Closed at the host's end, and why (first few).
    pub closed_at_host: usize,
    /// Closed at the server's end.
    pub closed_at_server: usize,
    /// Reasons of closes (at most 10).
    pub close_reasons: Vec<String>,
    /// Sessions that delivered a datagram sent after each move of their host, both ways.
    pub delivered_after_every_move: usize,
    /// Sessions that did not (their numbers, at most 20).
    pub not_delivered_after_every_move: Vec<u32>,
    /// Largest gap between two datagrams arriving at the server, over all sessions, ms.
    pub max_up_gap_ms: f64,
    /// Largest gap between two echoes arriving at a host, ms.
    pub max_down_gap_ms: f64,
    /// Peer address changes the servers reported (`PeerAddressChanged`).
    pub migrations: u64,
    /// Paths the servers validated (`PathValidated`).
    pub validations: u64,
    /// Failed validations (`PathReverted`).
    pub reverts: u64,
    /// Session events the servers could not attribute (before a session's first datagram).
    pub unattributed_events: u64,
    /// The servers' endpoints, summed: their own view of the sessions.
    pub server_endpoints: EndpointTotals,
    /// The hosts' endpoints, summed.
    pub host_endpoints: EndpointTotals,
}

/// Wall time by kind of node, when profiled.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    /// Router polls, seconds and count.
    pub routers_secs: f64,
    /// See `routers_secs`.
    pub router_polls: u64,
    /// Host polls, seconds (all of it) and count.
    pub hosts_secs: f64,
    /// Of which in the host's endpoint driver.
    pub host_endpoint_secs: f64,
    /// See `hosts_secs`.
    pub host_polls: u64,
    /// Server polls, seconds (all of it) and count.
    pub servers_secs: f64,
    /// Of which in the endpoints' drivers.
    pub server_endpoint_secs: f64,
    /// Of which in the echo application.
    pub server_app_secs: f64,
    /// See `servers_secs`.
    pub server_polls: u64,
    /// Endpoint driver runs on the servers.
    pub server_endpoint_runs: u64,
    /// The rest of the run: the simulator's own work (events, links, frame copies) and the
    /// clock reads of the profile.
    pub simulator_secs: f64,
}

/// Where the run was after each simulated minute.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Simulated seconds.
    pub simulated_secs: f64,
    /// Wall seconds of the run so far.
    pub wall_secs: f64,
    /// CPU seconds of the run so far.
    pub cpu_secs: Option<f64>,
}

/// A pass/fail check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The numbers behind it.
    pub detail: String,
}

/// Everything the run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The setup.
    pub setup: SetupReport,
    /// Time and memory.
    pub cost: CostReport,
    /// The application's datagrams.
    pub datagrams: DatagramReport,
    /// Moves.
    pub moves: MoveReport,
    /// Sessions.
    pub sessions: SessionReport,
    /// Where the wall time went (with `--profile`).
    pub profile: Option<ProfileReport>,
    /// The run minute by minute (the first includes the 10,000 handshakes).
    pub steps: Vec<Step>,
    /// The checks.
    pub checks: Vec<Check>,
    /// Whether every check held.
    pub ok: bool,
}

/// Peak resident memory from `/proc/self/status` (`VmHWM`), in KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of this (single-threaded) process so far, from `/proc/self/schedstat` (its
/// first field: nanoseconds on a CPU).
pub fn cpu_time() -> Option<std::time::Duration> {
    let s = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let nanos: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(nanos))
}

fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

impl Report {
    /// The report of a finished run of `world`.
    pub fn new(
        setup: &Setup,
        world: &World,
        build: std::time::Duration,
        run: std::time::Duration,
        cpu: Option<std::time::Duration>,
    ) -> Report {
        let timeline = setup.timeline();
        let sim = &world.sim;
        let ledger = world.ledger.borrow();

        // Links.
        let (mut sent, mut delivered, mut no_peer, mut in_flight, mut other) = (0, 0, 0, 0, 0);
        for &link in &world.links {
            let c = sim.link_counters(link).total();
            sent += c.sent;
            delivered += c.delivered;
            no_peer += c.dropped.no_peer;
            in_flight += c.dropped.in_flight;
            other += c.dropped.total() - c.dropped.no_peer - c.dropped.in_flight + c.lost;
        }
        let counters = sim.counters();
        let simulated = timeline.end.total_micros() as f64 / 1e6;
        let cost = CostReport {
            build_wall_secs: build.as_secs_f64(),
            run_wall_secs: run.as_secs_f64(),
            simulated_secs: simulated,
            ratio: simulated / run.as_secs_f64().max(1e-9),
            run_cpu_secs: cpu.map(|c| c.as_secs_f64()),
            ratio_cpu: cpu.map(|c| simulated / c.as_secs_f64().max(1e-9)),
            peak_memory_kib: peak_memory_kib(),
            frames_sent: sent,
            frames_delivered: delivered,
            frames_no_peer: no_peer,
            frames_in_flight_at_move: in_flight,
            frames_dropped_other: other,
            events: counters.events,
            polls: counters.polls,
            frame_pool: counters.frame_pool,
            load_average: load_average(),
        };

        // Datagrams.
        let sum = |f: fn(&super::ledger::SessionLog) -> u64| ledger.sessions.iter().map(f).sum();
        let (d_sent, d_up, d_echoed, d_down): (u64, u64, u64, u64) = (
            sum(|s| s.sent),
            sum(|s| s.up_received),
            sum(|s| s.echoed),
            sum(|s| s.down_received),
        );
        let datagrams = DatagramReport {
            sent: d_sent,
            refused: sum(|s| s.refused),
            received_by_servers: d_up,
            echoed: d_echoed,
            echoes_received: d_down,
            lost_up: d_sent.saturating_sub(d_up),
            lost_down: d_echoed.saturating_sub(d_down),
        };

        // Moves.
        let mut hosts_moved: Vec<u32> = ledger.moves.iter().map(|m| m.host).collect();
        hosts_moved.sort_unstable();
        hosts_moved.dedup();
        let address: Vec<f64> = ledger
            .moves
            .iter()
            .filter_map(|m| m.address_at.map(|a| millis(a - m.at)))
            .collect();
        let move_at = |i: u32| ledger.moves[i as usize].at;
        let interruption: Vec<f64> = ledger
            .session_moves
            .iter()
            .filter_map(|m| m.restored_at.map(|r| millis(r - move_at(m.move_index))))
            .collect();
        let up_gap: Vec<f64> = ledger
            .session_moves
            .iter()
            .filter_map(|m| m.up_gap.map(millis))
            .collect();
        let down_gap: Vec<f64> = ledger
            .session_moves
            .iter()
            .filter_map(|m| m.down_gap.map(millis))
            .collect();
        let moves = MoveReport {
            planned: world.planned_moves,
            skipped: world.skipped_moves,
            performed: ledger.moves.len(),
            failed: sim.failures().len(),
            hosts_moved: hosts_moved.len(),
            same_router: ledger.moves.iter().filter(|m| m.from_ap == m.to_ap).count(),
            without_address: ledger
                .moves
                .iter()
                .filter(|m| m.address_at.is_none())
                .count(),
            address_ms: Distribution::of(address),
            session_moves: ledger.session_moves.len(),
            not_restored: ledger
                .session_moves
                .iter()
                .filter(|m| m.restored_at.is_none())
                .count(),
            interruption_ms: Distribution::of(interruption),
            up_gap_ms: Distribution::of(up_gap),
            down_gap_ms: Distribution::of(down_gap),
        };

        // Sessions.
        let mut server_endpoints = EndpointTotals::default();
        for &id in &world.servers {
            if let Some(s) = sim.node::<ServerNode>(id) {
                server_endpoints.add(&s.totals());
            }
        }
        let mut host_endpoints = EndpointTotals::default();
        for &id in &world.hosts {
            if let Some(h) = sim.node::<HostNode>(id) {
                host_endpoints.add(&h.totals());
            }
        }
        let mut close_reasons = Vec::new();
        let mut not_delivered = Vec::new();
        let mut delivered_all = 0;
        for (i, s) in ledger.sessions.iter().enumerate() {
            for r in [&s.closed_host, &s.closed_server].into_iter().flatten() {
                if close_reasons.len() < 10 {
                    close_reasons.push(format!("session {i}: {r}"));
                }
            }
            let epochs = s.moves.len() as u32;
            if s.up_epoch == epochs && s.down_epoch == epochs && s.down_received > 0 {
                delivered_all += 1;
            } else if not_delivered.len() < 20 {
                not_delivered.push(i as u32);
            }
        }
        let max_gap = |f: fn(&super::ledger::SessionLog) -> Duration| {
            ledger.sessions.iter().map(f).max().map_or(0.0, millis)
        };
        let sessions = SessionReport {
            total: ledger.sessions.len(),
            established: ledger
                .sessions
                .iter()
                .filter(|s| s.established_at.is_some())
                .count(),
            closed_at_host: ledger
                .sessions
                .iter()
                .filter(|s| s.closed_host.is_some())
                .count(),
            closed_at_server: ledger
                .sessions
                .iter()
                .filter(|s| s.closed_server.is_some())
                .count(),
            close_reasons,
            delivered_after_every_move: delivered_all,
            not_delivered_after_every_move: not_delivered,
            max_up_gap_ms: max_gap(|s| s.max_up_gap),
            max_down_gap_ms: max_gap(|s| s.max_down_gap),
            migrations: sum(|s| s.migrations),
            validations: sum(|s| s.validations),
            reverts: sum(|s| s.reverts),
            unattributed_events: ledger.unattributed_events,
            server_endpoints,
            host_endpoints,
        };

        let profile = setup.profile.then(|| {
            let p = ledger.profile;
            let nodes = p.routers + p.hosts + p.servers;
            ProfileReport {
                routers_secs: p.routers.as_secs_f64(),
                router_polls: p.router_polls,
                hosts_secs: p.hosts.as_secs_f64(),
                host_endpoint_secs: p.host_endpoints.as_secs_f64(),
                host_polls: p.host_polls,
                servers_secs: p.servers.as_secs_f64(),
                server_endpoint_secs: p.server_endpoints.as_secs_f64(),
                server_app_secs: p.server_app.as_secs_f64(),
                server_polls: p.server_polls,
                server_endpoint_runs: p.server_endpoint_runs,
                simulator_secs: run.saturating_sub(nodes).as_secs_f64(),
            }
        });

        let setup_report = SetupReport {
            hosts: setup.hosts,
            routers: setup.routers,
            access_routers: setup.access_routers(),
            links_per_access_router: world.links_per_ap,
            sessions: setup.sessions,
            servers: setup.servers,
            ports_per_server: setup.ports_per_server(),
            minutes: setup.minutes,
            moving_from_secs: timeline.moves_from.total_micros() as f64 / 1e6,
            moving_until_secs: timeline.moves_until.total_micros() as f64 / 1e6,
            move_fraction: setup.move_fraction,
            interval_secs: setup.interval.total_micros() as f64 / 1e6,
            payload_bytes: super::nodes::PAYLOAD,
            seed: setup.seed,
        };
        let checks = checks(&datagrams, &moves, &sessions, &ledger);
        let ok = checks.iter().all(|c| c.ok);
        Report {
            setup: setup_report,
            cost,
            datagrams,
            moves,
            sessions,
            profile,
            steps: Vec::new(),
            checks,
            ok,
        }
    }

    /// Prints the results as a table.
    #[allow(clippy::print_stdout, reason = "the benchmark's output")]
    pub fn print(&self) {
        let mut out = io::stdout().lock();
        let _ = self.write_table(&mut out);
    }

    fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        let s = &self.setup;
        let c = &self.cost;
        let d = &self.datagrams;
        let m = &self.moves;
        let x = &self.sessions;
        writeln!(
            out,
            "bridgeless scale: {} hosts, {} routers ({} access, {} host links each), {} sessions \
             on {} servers x {} ports, {} min, {:.0} % moving per minute, a {}-byte datagram \
             per session every {} s (echoed), seed {}",
            s.hosts,
            s.routers,
            s.access_routers,
            s.links_per_access_router,
            s.sessions,
            s.servers,
            s.ports_per_server,
            s.minutes,
            s.move_fraction * 100.0,
            s.payload_bytes,
            s.interval_secs,
            s.seed
        )?;
        let dist = |d: &Option<Distribution>| d.as_ref().map_or("-".to_string(), Distribution::ms);
        let rows: Vec<(&str, String)> = vec![
            ("wall time (run)", format!("{:.1} s", c.run_wall_secs)),
            (
                "CPU time (run)",
                c.run_cpu_secs
                    .zip(c.ratio_cpu)
                    .map_or("-".into(), |(s, r)| {
                        format!("{s:.1} s (simulated / CPU {r:.2})")
                    }),
            ),
            ("wall time (build)", format!("{:.1} s", c.build_wall_secs)),
            ("simulated time", format!("{:.0} s", c.simulated_secs)),
            (
                "ratio (simulated / wall)",
                format!(
                    "{:.2} ({})",
                    c.ratio,
                    if c.ratio > 1.0 {
                        "faster than real time"
                    } else {
                        "SLOWER than real time"
                    }
                ),
            ),
            (
                "peak memory (VmHWM)",
                c.peak_memory_kib
                    .map_or("-".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
            ),
            (
                "frames simulated (per hop)",
                format!(
                    "{} sent, {} delivered, {} to vacant links, {} in flight at moves",
                    c.frames_sent, c.frames_delivered, c.frames_no_peer, c.frames_in_flight_at_move
                ),
            ),
            (
                "simulator",
                format!(
                    "{} events, {} polls, frame pool {}",
                    c.events, c.polls, c.frame_pool
                ),
            ),
            (
                "sessions",
                format!(
                    "{} / {} established, {} closed (host), {} closed (server)",
                    x.established, x.total, x.closed_at_host, x.closed_at_server
                ),
            ),
            (
                "delivered after every move",
                format!(
                    "{} / {} sessions (both ways)",
                    x.delivered_after_every_move, x.total
                ),
            ),
            (
                "moves",
                format!(
                    "{} performed ({} planned, {} skipped, {} failed), {} hosts moved",
                    m.performed, m.planned, m.skipped, m.failed, m.hosts_moved
                ),
            ),
            (
                "new address after move (min/med/p99/max)",
                dist(&m.address_ms),
            ),
            (
                "interruption per session move (min/med/p99/max)",
                format!(
                    "{} over {} session moves, {} not restored",
                    dist(&m.interruption_ms),
                    m.session_moves,
                    m.not_restored
                ),
            ),
            ("gap at server across a move", dist(&m.up_gap_ms)),
            ("gap at host across a move (echoes)", dist(&m.down_gap_ms)),
            (
                "migrations / validations / reverts",
                format!(
                    "{} / {} / {} (servers' events; {} session moves)",
                    x.migrations, x.validations, x.reverts, m.session_moves
                ),
            ),
            (
                "datagrams",
                format!(
                    "{} sent, {} received ({} lost), {} echoed, {} echoes received ({} lost), {} refused",
                    d.sent,
                    d.received_by_servers,
                    d.lost_up,
                    d.echoed,
                    d.echoes_received,
                    d.lost_down,
                    d.refused
                ),
            ),
            (
                "load average at the end",
                c.load_average.clone().unwrap_or_else(|| "-".into()),
            ),
        ];
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (k, v) in &rows {
            writeln!(out, "  {k:<width$}  {v}")?;
        }
        if let Some(p) = &self.profile {
            writeln!(
                out,
                "  profile: routers {:.1} s ({} polls), hosts {:.1} s ({} polls; {:.1} s in their \
                 endpoints), servers {:.1} s ({} polls, {} endpoint runs; {:.1} s in endpoints, \
                 {:.1} s echoing), simulator and the rest {:.1} s",
                p.routers_secs,
                p.router_polls,
                p.hosts_secs,
                p.host_polls,
                p.host_endpoint_secs,
                p.servers_secs,
                p.server_polls,
                p.server_endpoint_runs,
                p.server_endpoint_secs,
                p.server_app_secs,
                p.simulator_secs
            )?;
        }
        for check in &self.checks {
            writeln!(
                out,
                "  [{}] {}: {}",
                if check.ok { "ok" } else { "FAIL" },
                check.name,
                check.detail
            )?;
        }
        Ok(())
    }
}

fn checks(
    datagrams: &DatagramReport,
    moves: &MoveReport,
    sessions: &SessionReport,
    ledger: &super::ledger::Ledger,
) -> Vec<Check> {
    let check = |name: &str, ok: bool, detail: String| Check {
        name: name.to_string(),
        ok,
        detail,
    };
    vec![
        check(
            "the tree configured itself",
            ledger.pools_exhausted == 0 && ledger.servers.iter().all(Option::is_some),
            format!(
                "{} prefixes acquired, {} pools exhausted, {} of {} servers addressed",
                ledger.prefixes_acquired,
                ledger.pools_exhausted,
                ledger.servers.iter().filter(|s| s.is_some()).count(),
                ledger.servers.len()
            ),
        ),
        check(
            "every session established",
            sessions.established == sessions.total,
            format!("{} of {}", sessions.established, sessions.total),
        ),
        check(
            "no session closed",
            sessions.closed_at_host == 0 && sessions.closed_at_server == 0,
            format!(
                "{} at hosts, {} at servers {:?}",
                sessions.closed_at_host, sessions.closed_at_server, sessions.close_reasons
            ),
        ),
        check(
            "every scripted move happened",
            moves.performed == moves.planned
                && moves.failed == 0
                && moves.planned > 0
                && moves.same_router == 0,
            format!(
                "{} of {} ({} failed, {} to the same access router)",
                moves.performed, moves.planned, moves.failed, moves.same_router
            ),
        ),
        check(
            "a new address after every move",
            moves.without_address == 0,
            format!("{} moves without one", moves.without_address),
        ),
        check(
            "every session heard from its server after every move",
            moves.not_restored == 0,
            format!(
                "{} of {} session moves not restored",
                moves.not_restored, moves.session_moves
            ),
        ),
        check(
            "every session delivered after every move, both ways",
            sessions.delivered_after_every_move == sessions.total,
            format!(
                "{} of {} sessions; not: {:?}",
                sessions.delivered_after_every_move,
                sessions.total,
                sessions.not_delivered_after_every_move
            ),
        ),
        check(
            "the servers followed every move",
            sessions.migrations >= moves.session_moves as u64
                && sessions.validations >= moves.session_moves as u64
                && sessions.reverts == 0,
            format!(
                "{} migrations, {} validations, {} reverts for {} session moves",
                sessions.migrations, sessions.validations, sessions.reverts, moves.session_moves
            ),
        ),
        check(
            "no datagram refused",
            datagrams.refused == 0,
            format!("{} refused", datagrams.refused),
        ),
    ]
}
