//! The `bridgeless` command-line tool.
//!
//! `bridgeless inspect FILE...` prints one line per packet of a capture of a point-to-point link
//! (or of an Ethernet LAN, whose headers it strips): number, time, source → destination, the
//! protocol chain, and the key fields of ICMPv6, MLD and Router Discovery messages. The format
//! is documented in the repository's README.
//!
//! `bridgeless router --config FILE` runs a router over TUN devices and UDP links; see the
//! [`router`] module for the file format, signals and exit codes.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bridgeless_wire::pcap::{Reader, RecordPayload};
use bridgeless_wire::summary::{Summary, Verdict};
use clap::{Parser, Subcommand};

mod demo;
mod roam;
mod router;

/// Exit code when every packet of every file parsed.
const EXIT_OK: u8 = 0;
/// Exit code when at least one packet was malformed (the run still covers every packet).
const EXIT_MALFORMED: u8 = 1;
/// Exit code when a file could not be read at all.
const EXIT_IO: u8 = 2;

#[derive(Parser)]
#[command(
    name = "bridgeless",
    version,
    about = "Tools for IPv6 point-to-point links without link-layer addresses"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print one line per packet of pcap or pcapng captures (LINKTYPE_RAW, IPV4, IPV6, Ethernet,
    /// Linux cooked). Exit code 0: all packets parsed; 1: some packet was malformed; 2: a file
    /// could not be read.
    Inspect {
        /// Capture files to decode, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print absolute capture timestamps instead of seconds since the first packet.
        #[arg(long)]
        absolute_time: bool,
    },
    /// Run a router over the TUN devices and UDP links of a TOML configuration file until
    /// SIGINT or SIGTERM; SIGUSR1 prints its counters. Exit code 0: stopped by a signal;
    /// 1: runtime failure; 2: invalid configuration; 3: a device could not be opened.
    Router {
        /// The configuration file (format: see `bridgeless router` in the README).
        #[arg(long, short)]
        config: PathBuf,
        /// Only check the configuration and print what would run.
        #[arg(long)]
        check: bool,
    },
    /// Simulate a tree of routers, a server, a walking phone and a laptop (no root, no
    /// network): print a timeline, write a pcap per link, `timeline.svg` and `report.json`.
    /// Exit code 0: every check held; 1: a check failed; 2: the outputs could not be written.
    Demo(demo::DemoArgs),
    /// A netcat-like byte stream over a roaming session on UDP, which survives address
    /// changes: `keygen`, `serve`, `connect` (see `bridgeless roam help`).
    #[command(subcommand)]
    Roam(roam::RoamCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect {
            files,
            absolute_time,
        } => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let mut code = EXIT_OK;
            for file in &files {
                let status = inspect(file, absolute_time, files.len() > 1, &mut out);
                code = code.max(status);
            }
            if out.flush().is_err() {
                return ExitCode::from(EXIT_IO);
            }
            ExitCode::from(code)
        }
        Command::Router { config, check } => router::run(&config, check),
        Command::Demo(args) => demo::run(&args),
        Command::Roam(command) => roam::run(command),
    }
}

/// Decodes one capture, printing a line per packet; returns the exit code for this file.
fn inspect(path: &PathBuf, absolute_time: bool, show_name: bool, out: &mut impl Write) -> u8 {
    let reader = match Reader::open(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bridgeless: {}: {e}", path.display());
            return EXIT_IO;
        }
    };
    if show_name {
        let _ = writeln!(out, "# {}", path.display());
    }
    let mut code = EXIT_OK;
    let mut first_time = None;
    let mut malformed = 0u64;
    for item in reader {
        let record = match item {
            Ok(record) => record,
            Err(e) if e.is_fatal() => {
                eprintln!("bridgeless: {}: {e}", path.display());
                return EXIT_IO;
            }
            Err(e) => {
                // A single damaged record: say so and go on with the next one.
                let _ = writeln!(out, "   ?  capture record unreadable: {e}");
                malformed += 1;
                code = EXIT_MALFORMED;
                continue;
            }
        };
        let time = if absolute_time {
            record.timestamp
        } else {
            let start = *first_time.get_or_insert(record.timestamp);
            record.timestamp.saturating_sub(start)
        };
        let prefix = format!(
            "{:>4} {:>4}.{:06}",
            record.number,
            time.as_secs(),
            time.subsec_micros()
        );
        let line = match &record.payload {
            RecordPayload::Ip(bytes) => {
                let summary = Summary::new(bytes);
                if summary.verdict() == Verdict::Malformed {
                    malformed += 1;
                    code = EXIT_MALFORMED;
                }
                format!("{prefix}  {summary}")
            }
            RecordPayload::NotIp { ethertype } => {
                format!("{prefix}  not IP (EtherType 0x{ethertype:04x}), skipped")
            }
            RecordPayload::Unsupported(bytes) => format!(
                "{prefix}  link type {} not decoded ({} bytes), skipped",
                record.link_type,
                bytes.len()
            ),
        };
        if writeln!(out, "{line}").is_err() {
            return EXIT_IO; // stdout closed (e.g. piped into head): stop quietly
        }
    }
    if malformed > 0 {
        eprintln!(
            "bridgeless: {}: {malformed} malformed packet(s)",
            path.display()
        );
    }
    code
}
