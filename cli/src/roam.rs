//! `bridgeless roam`: a netcat-like byte stream over a roaming session, between two machines.
//!
//! ```text
//!  machine A                                        machine B
//!  bridgeless roam serve --listen [::]:7443 \       bridgeless roam connect \
//!      --key server.key > received.bin                  --server A:7443 --server-key HEX < file
//! ```
//!
//! The stream is a [`RoamingStream`]: TCP between the two peers' identity addresses, inside a
//! Noise IK session over one UDP socket. The session is named by random identifiers, not by
//! addresses and ports, so it survives the client's (or the server's) address changing: a
//! new network, a NAT that rebinds the port. The server must be reachable at the address the
//! client was given when the session starts; after that either side may move.
//!
//! - `keygen [--out FILE]`: a static key pair. With `--out`, the private key goes to FILE
//!   (mode 0600, never overwritten) and the public key is printed as hex; without, the private
//!   key is printed (like `wg genkey`). `pubkey --key FILE` prints a key file's public key.
//! - `serve --listen ADDR:PORT --key FILE [--allow HEX]... [--keep-open]`: waits for one
//!   session, copies the stream to stdout and stdin to the stream, and exits when the stream
//!   ends (both directions closed) or the session ends. One session at a time: with
//!   `--keep-open` it then waits for the next (stdin, once at end of file, stays there). A
//!   second client while one is connected is refused. Without `--allow` ANY client key is
//!   accepted (the Noise handshake still authenticates it: its key is logged).
//! - `connect --server ADDR:PORT --server-key HEX [--key FILE] [--bind ADDR[:PORT]]`: copies
//!   stdin to the stream and the stream to stdout; at end of stdin it sends everything, closes
//!   its sending side (TCP FIN) and waits for the peer to close its side. Without `--key` it
//!   uses a fresh key for the run.
//!
//! Both ends half-close: end of stdin closes the sending direction only, and a program exits
//! once both directions are closed (`serve ... < /dev/null` only receives).
//!
//! # Moving
//!
//! The session follows the peer's address by itself (after a path validation). When a socket
//! is bound to a specific address (`--bind`, `--listen`) and that address disappears from the
//! host, the program moves the stream to a new socket on the unspecified address and tells
//! the peer ([`RoamingStream::rebind`]); see [`pump`]. Events are logged to stderr: the peer's
//! address changed, a path was validated or reverted, the local address was lost.
//!
//! # Exit codes
//!
//! 0: the stream ended cleanly both ways. 1: the stream failed after it was established (the
//! session timed out or was closed, stdin or stdout failed). 2: bad arguments or key file, or
//! the socket could not be bound. 3: no stream could be established (handshake timeout,
//! server key wrong, client not allowed, refused). 130: stopped by SIGINT or SIGTERM (the
//! peer is told: the connection is reset and the session closed).

mod keys;
pub mod pump;

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bridgeless_roaming::StaticKeypair;
use bridgeless_roaming::stream::{RoamingStream, StreamConfig, os_seed};

use pump::{Failure, Stdin, Stdout, Watch};

/// The stream ended cleanly both ways (or keygen/pubkey succeeded).
const EXIT_OK: u8 = 0;
/// The stream failed once established.
const EXIT_STREAM: u8 = 1;
/// Bad arguments, key file or local address.
const EXIT_USAGE: u8 = 2;
/// No stream could be established.
const EXIT_CONNECT: u8 = 3;
/// Stopped by a signal.
const EXIT_SIGNAL: u8 = 130;

/// The subcommands of `bridgeless roam`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum RoamCommand {
    /// Make a static key pair. With --out, write the private key to FILE (mode 0600, never
    /// overwritten) and print the public key as hex; without, print the private key.
    Keygen {
        /// Where to write the private key.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the public key (hex) of a private key file.
    Pubkey {
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Wait for a client, then copy the stream to stdout and stdin to the stream (like
    /// `nc -l`). WITHOUT --allow, ANY CLIENT KEY IS ACCEPTED. Exit codes: 0 the stream ended
    /// both ways, 1 it failed, 2 bad arguments, 3 no stream, 130 signal.
    Serve {
        /// Local address and UDP port, IPv4 or IPv6 (`[::]:7443` for any).
        #[arg(long)]
        listen: SocketAddr,
        /// The server's private key file (from `keygen --out`).
        #[arg(long)]
        key: PathBuf,
        /// Accept only this client public key (64 hex digits); repeat for several. Default:
        /// ANY client key is accepted.
        #[arg(long, value_name = "HEX", value_parser = keys::parse_key)]
        allow: Vec<[u8; 32]>,
        /// After a stream ends, wait for the next client instead of exiting (one at a time).
        #[arg(long)]
        keep_open: bool,
    },
    /// Connect to a server and copy stdin to the stream and the stream to stdout; at end of
    /// stdin close the sending side and wait for the server's end. Exit codes: 0 the stream
    /// ended both ways, 1 it failed, 2 bad arguments, 3 no stream, 130 signal.
    Connect {
        /// The server's address and UDP port (`HOST:PORT`, `[IPv6]:PORT`).
        #[arg(long)]
        server: String,
        /// The server's public key (64 hex digits, from `keygen`).
        #[arg(long, value_name = "HEX", value_parser = keys::parse_key)]
        server_key: [u8; 32],
        /// The client's private key file (default: a fresh key for this run).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Local address (and port) to send from (default: any, port chosen by the system).
        #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_bind)]
        bind: Option<SocketAddr>,
        /// Give up establishing the stream after this many seconds.
        #[arg(long, default_value_t = 30)]
        connect_timeout: u64,
    },
}

/// `ADDR` or `ADDR:PORT` (`[V6]:PORT`).
fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .map_err(|_| format!("\"{text}\" is not an address or address:port"))
}

/// Log lines to stderr with the time since start.
pub struct Log {
    start: Instant,
}

impl Log {
    fn new() -> Log {
        Log {
            start: Instant::now(),
        }
    }

    /// One line: `bridgeless roam: [   1.234s] message`.
    pub fn say(&self, message: fmt::Arguments<'_>) {
        let t = self.start.elapsed();
        eprintln!(
            "bridgeless roam: [{:>4}.{:03}s] {message}",
            t.as_secs(),
            t.subsec_millis()
        );
    }
}

/// Runs `bridgeless roam ...`.
pub fn run(command: RoamCommand) -> ExitCode {
    let code = match command {
        RoamCommand::Keygen { out } => keygen(out),
        RoamCommand::Pubkey { key } => match keys::read(&key) {
            Ok(private) => print_line(&keys::hex(&keys::public(&private))),
            Err(e) => usage(&e),
        },
        RoamCommand::Serve {
            listen,
            key,
            allow,
            keep_open,
        } => serve(listen, &key, allow, keep_open),
        RoamCommand::Connect {
            server,
            server_key,
            key,
            bind,
            connect_timeout,
        } => connect(
            &server,
            server_key,
            key,
            bind,
            Duration::from_secs(connect_timeout),
        ),
    };
    ExitCode::from(code)
}

fn usage(message: &str) -> u8 {
    eprintln!("bridgeless roam: {message}");
    EXIT_USAGE
}

fn print_line(line: &str) -> u8 {
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => usage(&format!("stdout: {e}")),
    }
}

fn keygen(out: Option<PathBuf>) -> u8 {
    let private = match keys::generate() {
        Ok(k) => k,
        Err(e) => return usage(&format!("no random source: {e}")),
    };
    match out {
        None => print_line(&keys::hex(&private)),
        Some(path) => match keys::write_new(&path, &private) {
            Ok(()) => print_line(&keys::hex(&keys::public(&private))),
            Err(e) => usage(&format!(
                "{}: {e} (an existing key file is never overwritten)",
                path.display()
            )),
        },
    }
}

/// SIGINT and SIGTERM: outside a stream they end the process at once; inside, they set
/// `stop` so that the peer is told (and a second one ends the process at once).
struct Signals {
    stop: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let stop = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(true));
        for signal in [SIGINT, SIGTERM] {
            flag::register_conditional_shutdown(signal, EXIT_SIGNAL.into(), stop.clone())?;
            flag::register_conditional_shutdown(signal, EXIT_SIGNAL.into(), idle.clone())?;
            flag::register(signal, stop.clone())?;
        }
        Ok(Signals { stop, idle })
    }

    /// Copies one stream with signals deferred.
    fn copy(
        &self,
        stream: &mut RoamingStream,
        stdin: &mut Stdin,
        stdout: &Stdout,
        watch: &mut Watch<'_>,
    ) -> Result<(), Failure> {
        self.idle.store(false, Ordering::SeqCst);
        let result = pump::copy(stream, stdin, stdout, watch, &self.stop);
        self.idle.store(true, Ordering::SeqCst);
        result
    }
}

fn stream_config(allowed: Option<Vec<[u8; 32]>>) -> io::Result<StreamConfig> {
    let mut config = StreamConfig::new(os_seed()?);
    config.roaming.allowed_peers = allowed;
    Ok(config)
}

/// Reports how copying ended; returns the exit code.
fn finish(log: &Log, result: Result<(), Failure>) -> u8 {
    match result {
        Ok(()) => {
            log.say(format_args!("stream closed both ways"));
            EXIT_OK
        }
        Err(Failure::Stream(e)) => {
            log.say(format_args!("stream failed: {e}"));
            EXIT_STREAM
        }
        Err(Failure::Stdin(e)) => {
            log.say(format_args!("stdin: {e}"));
            EXIT_STREAM
        }
        Err(Failure::Stdout) => {
            log.say(format_args!("stdout closed"));
            EXIT_STREAM
        }
        Err(Failure::Interrupted) => {
            log.say(format_args!("interrupted: resetting the stream"));
            EXIT_SIGNAL
        }
    }
}

fn serve(listen: SocketAddr, key: &std::path::Path, allow: Vec<[u8; 32]>, keep_open: bool) -> u8 {
    let private = match keys::read(key) {
        Ok(k) => k,
        Err(e) => return usage(&e),
    };
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => return usage(&format!("signals: {e}")),
    };
    let log = Log::new();
    if allow.is_empty() {
        log.say(format_args!(
            "WARNING: no --allow given: ANY client key is accepted"
        ));
    }
    let allowed = (!allow.is_empty()).then_some(allow);
    let (mut stdin, mut stdout) = (Stdin::spawn(), Stdout::spawn());
    let mut code;
    loop {
        let socket = match UdpSocket::bind(listen) {
            Ok(s) => s,
            Err(e) => return usage(&format!("cannot bind {listen}: {e}")),
        };
        pump::enlarge_buffers(&socket);
        let local = socket.local_addr().map_or(listen, |a| a);
        log.say(format_args!(
            "listening on {local}, server key {}",
            keys::hex(&keys::public(&private))
        ));
        let mut config = match stream_config(allowed.clone()) {
            Ok(c) => c,
            Err(e) => return usage(&format!("no random source: {e}")),
        };
        // A server waits for its client as long as it takes.
        config.connect_timeout = None;
        let mut stream =
            match RoamingStream::accept(socket, StaticKeypair::from_private(private), config) {
                Ok(s) => s,
                Err(e) => {
                    log.say(format_args!("no stream: {e}"));
                    if keep_open {
                        continue;
                    }
                    return EXIT_CONNECT;
                }
            };
        let stats = stream.session_stats();
        log.say(format_args!(
            "session from {}, client key {}",
            stats.map_or_else(|| "?".to_string(), |s| s.remote.to_string()),
            stream
                .peer_public_key()
                .map_or_else(|| "?".to_string(), |k| keys::hex(&k))
        ));
        let mut watch = Watch::new(&log, &stream);
        code = finish(
            &log,
            signals.copy(&mut stream, &mut stdin, &stdout, &mut watch),
        );
        log.say(format_args!("{}", watch.summary(&stream)));
        drop(stream);
        if !keep_open || code == EXIT_SIGNAL {
            break;
        }
    }
    if stdout.finish().is_err() && code == EXIT_OK {
        code = EXIT_STREAM;
    }
    code
}

fn connect(
    server: &str,
    server_key: [u8; 32],
    key: Option<PathBuf>,
    bind: Option<SocketAddr>,
    timeout: Duration,
) -> u8 {
    let private = match key.map(|path| keys::read(&path)) {
        Some(Ok(k)) => k,
        Some(Err(e)) => return usage(&e),
        None => match keys::generate() {
            Ok(k) => k,
            Err(e) => return usage(&format!("no random source: {e}")),
        },
    };
    // The server's address, of the bind address's family when one is given.
    let candidates: Vec<SocketAddr> = match server.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return usage(&format!("--server {server}: {e}")),
    };
    let Some(server_addr) = candidates
        .iter()
        .find(|a| bind.is_none_or(|b| b.is_ipv4() == a.is_ipv4()))
        .copied()
    else {
        return usage(&format!(
            "--server {server}: no address of the --bind address's family"
        ));
    };
    let local = bind.unwrap_or_else(|| {
        let any = if server_addr.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        SocketAddr::new(any, 0)
    });
    let socket = match UdpSocket::bind(local) {
        Ok(s) => s,
        Err(e) => return usage(&format!("cannot bind {local}: {e}")),
    };
    pump::enlarge_buffers(&socket);
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => return usage(&format!("signals: {e}")),
    };
    let log = Log::new();
    let mut config = match stream_config(None) {
        Ok(c) => c,
        Err(e) => return usage(&format!("no random source: {e}")),
    };
    config.connect_timeout = Some(timeout);
    log.say(format_args!(
        "connecting from {} to {server_addr}, client key {}",
        socket.local_addr().map_or(local, |a| a),
        keys::hex(&keys::public(&private))
    ));
    let keypair = StaticKeypair::from_private(private);
    let mut stream = match RoamingStream::connect(socket, keypair, server_addr, server_key, config)
    {
        Ok(s) => s,
        Err(e) => {
            log.say(format_args!(
                "no stream: {e} (is the server key right, and is this client allowed?)"
            ));
            return EXIT_CONNECT;
        }
    };
    log.say(format_args!("connected"));
    let (mut stdin, mut stdout) = (Stdin::spawn(), Stdout::spawn());
    let mut watch = Watch::new(&log, &stream);
    let mut code = finish(
        &log,
        signals.copy(&mut stream, &mut stdin, &stdout, &mut watch),
    );
    log.say(format_args!("{}", watch.summary(&stream)));
    drop(stream);
    if stdout.finish().is_err() && code == EXIT_OK {
        code = EXIT_STREAM;
    }
    code
}
