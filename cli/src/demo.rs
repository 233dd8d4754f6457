//! `bridgeless demo`: the whole idea in one simulated run, with no privileges and no network.
//!
//! In the deterministic simulator (`bridgeless-sim`), a core router configured with
//! `2001:db8::/48` hands prefixes down to access-point routers by DHCPv6 prefix delegation;
//! each access point announces a /64 on each of its point-to-point host links. A server
//! behind the core receives a stream from a phone over a roaming session (TCP between
//! identity addresses, inside the session) and sends a multicast group stream; the phone
//! walks from the first access point to the last, forming a new address at each, while the
//! session migrates and the group follows it; a laptop at the second access point never joins
//! the group and never sees it.
//!
//! The run prints a timeline and writes, into the output folder, a pcap per link,
//! `timeline.svg` (throughput over time, handovers marked) and `report.json` (the numbers,
//! with the checks the integration test asserts). See [`world`] for the network, [`nodes`]
//! for what each node does, [`report`] for what is measured and [`ethernet`] for the
//! comparison with Ethernet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant as WallInstant;

use bridgeless_roaming::StaticKeypair;
use indicatif::{ProgressBar, ProgressStyle};
use rand_core::{RngCore, SeedableRng};
use smoltcp::time::Duration;

mod ethernet;
mod nodes;
mod plot;
mod print;
mod record;
mod report;
mod roaming;
mod transport;
mod watch;
mod world;

use world::{Setup, World};

/// Exit code when every check held.
const EXIT_OK: u8 = 0;
/// Exit code when a check failed (the outputs are still written).
const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code when the outputs could not be written or an option is out of range.
const EXIT_IO: u8 = 2;

/// The options of `bridgeless demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Seed of every random choice: the same seed gives the same run, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Access points the phone walks through (2 to 15: the core's /48 delegates 15 /52s).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=15))]
    pub access_points: u64,
    /// Extra hosts on each access point, each on a link of its own; every other one (the
    /// first, the third, ...) listens to the group.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=16))]
    pub hosts: u64,
    /// Probability that a frame is lost on a radio link (0 to 0.2).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Folder for the captures, `timeline.svg` and `report.json` (created if missing).
    #[arg(long, default_value = "bridgeless-demo")]
    pub out: PathBuf,
    /// No progress display and no timeline: one summary line.
    #[arg(long)]
    pub quiet: bool,
    /// How the phone's stream is carried: inside a roaming session, or (to see what the
    /// session is for) as a plain TCP connection between the phone's and the server's
    /// addresses, which breaks at the first move.
    #[arg(long, value_enum, default_value_t = TransportKind::Roaming)]
    pub transport: TransportKind,
}

/// How the phone's stream is carried.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP between identity addresses inside a roaming session.
    Roaming,
    /// TCP between the phone's and the server's addresses.
    Tcp,
}

/// The random stream (xor the seed) of the session keys.
const KEY_STREAM: u64 = 0x6b65_7973;

/// Runs the demo; the exit code says whether every check held.
pub fn run(args: &DemoArgs) -> ExitCode {
    if !(0.0..=0.2).contains(&args.loss) {
        eprintln!("bridgeless demo: --loss must be between 0 and 0.2");
        return ExitCode::from(EXIT_IO);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("bridgeless demo: {}: {e}", args.out.display());
        return ExitCode::from(EXIT_IO);
    }
    let wall = WallInstant::now();
    let setup = Setup {
        seed: args.seed,
        access_points: args.access_points as usize,
        hosts: args.hosts as usize,
        loss: args.loss,
    };
    let mut world = match args.transport {
        TransportKind::Roaming => {
            // The session's keys, from the seed: the phone knows the server's public key, as
            // it would from a name lookup.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ KEY_STREAM);
            let mut private = || {
                let mut k = [0u8; 32];
                rng.fill_bytes(&mut k);
                k
            };
            let (phone_key, server_key) = (private(), private());
            let server_public = StaticKeypair::from_private(server_key).public();
            let seed = args.seed;
            World::build(
                setup,
                move |station| {
                    Box::new(roaming::RoamingTransport::client(
                        &mut station.sockets,
                        StaticKeypair::from_private(phone_key),
                        server_public,
                        seed ^ 1,
                    )) as Box<dyn transport::Transport>
                },
                move |station| {
                    Box::new(roaming::RoamingTransport::server(
                        &mut station.sockets,
                        StaticKeypair::from_private(server_key),
                        seed ^ 2,
                    ))
                },
            )
        }
        TransportKind::Tcp => World::build(
            setup,
            |station| {
                Box::new(transport::DirectTcp::new(&mut station.sockets, true))
                    as Box<dyn transport::Transport>
            },
            |station| Box::new(transport::DirectTcp::new(&mut station.sockets, false)),
        ),
    };
    let mut pcaps = Vec::new();
    for link in &world.links {
        let path = args.out.join(format!("{}.pcap", link.name));
        if let Err(e) = world.sim.capture_link(link.id, &path) {
            eprintln!("bridgeless demo: {}: {e}", path.display());
            return ExitCode::from(EXIT_IO);
        }
        pcaps.push(path);
    }

    simulate(&mut world, args.quiet);
    if let Err(e) = world.sim.flush_captures() {
        eprintln!("bridgeless demo: writing captures: {e}");
        return ExitCode::from(EXIT_IO);
    }
    let report = report::build(&world, |name| format!("{name}.pcap"));
    let json = serde_json::to_string_pretty(&report).expect("the report serializes");
    let json_path = args.out.join("report.json");
    if let Err(e) = std::fs::write(&json_path, json + "\n") {
        eprintln!("bridgeless demo: {}: {e}", json_path.display());
        return ExitCode::from(EXIT_IO);
    }
    if let Err(e) = plot::draw(&report, &args.out.join("timeline.svg")) {
        eprintln!("bridgeless demo: {e}");
        return ExitCode::from(EXIT_IO);
    }
    if args.quiet {
        print::summary(&report, &args.out);
    } else {
        let transport = world
            .sim
            .node::<nodes::Phone>(world.phone)
            .map_or("", |p| p.transport.name());
        print::timeline(&report, &world.recorder.borrow().events, transport);
        print::outputs(&args.out, pcaps.len());
    }
    eprintln!(
        "bridgeless demo: {:.1} s of virtual time in {:.1} s",
        report.virtual_time_s,
        wall.elapsed().as_secs_f64()
    );
    ExitCode::from(if report.ok() {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}

/// Runs the simulation until the stream has ended (or the deadline), with a progress bar
/// over virtual time unless `quiet` (and unless stderr is not a terminal).
fn simulate(world: &mut World, quiet: bool) {
    const STEP: Duration = Duration::from_millis(100);
    let planned = world.planned_end().total_millis() as u64;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(planned)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos:>6}/{len} ms of virtual time {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("simulating");
    loop {
        let next = world.sim.now() + STEP;
        world.sim.run_until(next);
        let now = world.sim.now();
        bar.set_position((now.total_millis() as u64).min(planned));
        if now >= world.planned_end() && world.stream_done() {
            break;
        }
        if now >= world.deadline() {
            break;
        }
        if now >= world.planned_end() {
            bar.set_message("(waiting for the stream's end)");
        }
    }
    bar.finish_and_clear();
}
