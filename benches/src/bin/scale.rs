//! Scale in the simulator: a thousand hosts under thirty routers with ten thousand roaming
//! sessions, a tenth of the hosts moving each simulated minute, for ten simulated minutes.
//! Reports wall time, simulated time, their ratio, peak memory and every session's
//! continuity; prints a table and writes a JSON file.
//!
//! ```sh
//! cargo run --release -p bridgeless-benches --bin scale -- \
//!     [--hosts 1000] [--routers 30] [--sessions 10000] [--minutes 10] \
//!     [--move-fraction 0.1] [--seed N] [--json scale.json]
//! ```
//!
//! Exit status: 0 every continuity check held, 1 a check failed, 2 bad arguments or the JSON
//! file could not be written. See `benches/src/scale/mod.rs` for the world.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use smoltcp::time::Duration;

#[path = "../scale/mod.rs"]
mod scale;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "scale",
    about = "Hosts roaming under a tree of routers in the simulator"
)]
struct Args {
    /// Hosts, spread evenly over the access routers.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Routers: a core and ROUTERS - 1 access routers below it.
    #[arg(long, default_value_t = 30)]
    routers: usize,
    /// Roaming sessions (host i % HOSTS opens session i).
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Simulated minutes of moving.
    #[arg(long, default_value_t = 10)]
    minutes: u32,
    /// Fraction of the hosts that move in each simulated minute.
    #[arg(long, default_value_t = 0.1)]
    move_fraction: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Servers behind the core.
    #[arg(long, default_value_t = 4)]
    servers: usize,
    /// Most sessions per server endpoint (UDP port); a server runs as many as it needs.
    #[arg(long, default_value_t = 25)]
    sessions_per_port: usize,
    /// Milliseconds between two datagrams of a session.
    #[arg(long, default_value_t = 5000)]
    interval_ms: u64,
    /// Where to write the JSON report.
    #[arg(long, default_value = "scale.json")]
    json: PathBuf,
    /// Time the nodes' work by section (routers, hosts, servers' endpoints).
    #[arg(long)]
    profile: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let setup = scale::Setup {
        hosts: args.hosts,
        routers: args.routers,
        sessions: args.sessions,
        minutes: args.minutes,
        move_fraction: args.move_fraction,
        seed: args.seed,
        servers: args.servers,
        sessions_per_port: args.sessions_per_port,
        interval: Duration::from_millis(args.interval_ms),
        profile: args.profile,
    };
    if let Err(e) = setup.validate() {
        eprintln!("scale: {e}");
        return ExitCode::from(2);
    }
    let quiet = args.quiet;
    let report = scale::run(&setup, |t, wall| {
        if !quiet {
            let simulated = t.total_micros() as f64 / 1e6;
            eprintln!(
                "scale: {simulated:>5.0} s simulated in {:>7.1} s wall ({:.2}x)",
                wall.as_secs_f64(),
                simulated / wall.as_secs_f64().max(1e-9)
            );
        }
    });
    report.print();
    let json = match serde_json::to_string_pretty(&report) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("scale: cannot encode the report: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(&args.json, json + "\n") {
        eprintln!("scale: cannot write {}: {e}", args.json.display());
        return ExitCode::from(2);
    }
    if !quiet {
        eprintln!("scale: report written to {}", args.json.display());
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
