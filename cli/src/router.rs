//! `bridgeless router --config FILE`: a router process over TUN devices and UDP links.
//!
//! The process opens the links the file lists, builds a
//! [`bridgeless_iface::router::Router`] of the address tree over them (the core when the file
//! gives a `prefix`, otherwise a router that requests its prefix over its upstream link by
//! DHCPv6 prefix delegation), and forwards between them until SIGINT or SIGTERM.
//!
//! # Configuration
//!
//! ```toml
//! name = "core"                  # the router's name: an input of its stable identifiers
//! secret = "<64 hex digits>"     # or: secret_file = "core.secret"
//! prefix = "2001:db8::/48"       # the core's prefix; leave out to request one upstream
//! delegation_bits = 4            # a /48 delegates /52s, which delegate /56s ... (default 4)
//! ra_interval_secs = 600         # MaxRtrAdvInterval on downstream links, 4..65535 (default 600)
//! multicast = true               # MLD querier per downstream link, MLD proxy upstream (default false)
//! mld_version = 2                # the queriers' MLD version: 2, or 1 beside an MLDv1 router (default 2)
//! dns_servers = ["2001:db8::53"] # DNS servers announced downstream (RDNSS); at most 4 (default none)
//!
//! [[link]]                       # link 0
//! kind = "tun"
//! name = "tun0"                  # the interface (created if it does not exist)
//! role = "downstream"            # "upstream" (towards the core, at most one) or "downstream"
//! # mtu = 1500                  # optional: the MTU assumed and advertised (default: the interface's)
//! # netns = "/var/run/netns/h1"  # optional: create the interface in that network namespace
//!
//! [[link]]                       # link 1
//! kind = "udp"
//! local = "[2001:db8:ffff::1]:7000"
//! remote = "[2001:db8:ffff::2]:7000"
//! mtu = 1452                     # optional, default 1280; leave room for the carrier's headers
//! role = "downstream"
//! ```
//!
//! - Unknown keys are errors, and every error names the file, line and column.
//! - `secret` keys the router's stable interface identifiers (RFC 7217) and DHCP unique
//!   identifiers: keep it stable so the router keeps its addresses and its delegated prefix
//!   across restarts. `secret_file` names a file holding 64 hex digits; if it does not exist
//!   it is created (mode 0600) with 32 random octets on the first run. A relative path is
//!   relative to the configuration file's directory. One of the two is required.
//! - A router needs a `prefix`, or an upstream link to request one from.
//! - Downstream link `k` (counting downstream links only) announces the `k`-th /64 of the
//!   router's own block, with the router at `::1`; see [`bridgeless_iface::router::tree`].
//! - `multicast = true`: an MLDv2 querier on every downstream link tracks listeners per group
//!   and source, and MLD proxying upstream (RFC 4605) reports the subtree's groups, so a
//!   group's packets are copied to exactly the links with listeners (never beyond link scope).
//!   Off, no multicast beyond link scope is forwarded (counted as `multicast_unrouted`).
//! - `mld_version` (with `multicast = true`; 1 or 2, default 2): the MLD version of the
//!   downstream queriers. With 2 they speak MLDv2 and serve MLDv1 hosts per group; an MLDv1
//!   query heard from another router is logged as a warning, since RFC 3810 §8.3.1 wants
//!   every router on a link with an MLDv1 router configured for MLDv1. Set 1 for such links:
//!   the queriers then send MLDv1 queries and track MLDv1 listeners only (any source), as
//!   the MLDv1 router does. See [`bridgeless_iface::mld::querier`].
//!
//! - `dns_servers`: recursive DNS servers announced on every downstream link (RDNSS, RFC
//!   8106). Routers below learn them from these advertisements and announce them in turn, so
//!   only the core lists them.
//!
//! The router configures nothing on the kernel side of a TUN device: bring it up
//! (`ip link set tun0 up`) and, on a Linux host that should take an address from the router's
//! advertisements while forwarding, set `accept_ra=2`.
//!
//! # Running
//!
//! Every received frame is handled at once; between frames the process sleeps in `poll(2)`
//! on all links' descriptors until one is readable or the next protocol timer is due (at most
//! 50 ms). Tree events (prefix acquired, delegations, upstream address) are logged to stderr
//! with the time since start; `RUST_LOG` (e.g. `RUST_LOG=debug`) shows the libraries' logs.
//!
//! - SIGUSR1 prints the counters to stdout (see [`report`]): per link rx/tx and device
//!   counters, forwarded packets, every drop reason, ICMPv6 errors, the prefix, link prefixes
//!   and delegations.
//! - SIGINT or SIGTERM stops the router: it prints the counters once more and exits 0. A
//!   second SIGINT/SIGTERM while stopping kills it at once. On the way out the router sends
//!   final Router Advertisements with router lifetime 0 (RFC 4861 §6.2.5) and releases a
//!   delegated prefix ([`Router::shutdown`]).
//!
//! Exit codes: 0 stopped by a signal, or `--check` found the file valid; 1 a runtime failure
//! (waiting on the devices failed); 2 the configuration is invalid or unreadable; 3 a device
//! or the secret file could not be opened or created.

mod config;
pub mod report;
mod wait;

use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::device::udp::UdpLink;
use bridgeless_iface::router::{LinkIo, Router, RouterConfig, RouterLink, TreeEvent};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};

use config::{Config, LinkKind};
use report::DeviceCounters;

/// Stopped by SIGINT or SIGTERM, or `--check` passed.
const EXIT_OK: u8 = 0;
/// Waiting on the devices failed.
const EXIT_RUNTIME: u8 = 1;
/// The configuration is invalid or unreadable.
const EXIT_CONFIG: u8 = 2;
/// A device or the secret file could not be opened or created.
const EXIT_DEVICE: u8 = 3;

/// The longest sleep between two polls of the router when no timer is due sooner.
const MAX_SLEEP: StdDuration = StdDuration::from_millis(50);

/// One link's device.
enum Device {
    Tun(Tun),
    Udp(UdpLink),
}

impl Device {
    fn open(kind: &LinkKind) -> std::io::Result<Device> {
        Ok(match kind {
            LinkKind::Tun { name, netns, mtu } => {
                let mut tun = match netns {
                    Some(ns) => Tun::open_in_namespace(ns, name)?,
                    None => Tun::open(name)?,
                };
                if let Some(mtu) = mtu {
                    tun.set_mtu(*mtu);
                }
                Device::Tun(tun)
            }
            LinkKind::Udp { local, remote, mtu } => {
                Device::Udp(UdpLink::bind(*local, *remote, *mtu)?)
            }
        })
    }

    fn mtu(&self) -> usize {
        match self {
            Device::Tun(t) => t.mtu(),
            Device::Udp(u) => u.mtu(),
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Device::Tun(t) => t.raw_fd(),
            Device::Udp(u) => u.socket().as_raw_fd(),
        }
    }

    fn io(&mut self) -> &mut dyn LinkIo {
        match self {
            Device::Tun(t) => t,
            Device::Udp(u) => u,
        }
    }

    fn counters(&self) -> DeviceCounters {
        match self {
            Device::Tun(t) => DeviceCounters::Tun(t.stats()),
            Device::Udp(u) => DeviceCounters::Udp(u.counters()),
        }
    }
}

/// Logs to stderr, each line with the seconds since start; `RUST_LOG` overrides the default
/// of this module's messages at info and everything else at warn.
fn init_logging() {
    use std::io::Write;
    let start = StdInstant::now();
    env_logger::Builder::new()
        .parse_filters("warn,router=info")
        .parse_env("RUST_LOG")
        .format(move |buf, record| {
            let t = start.elapsed();
            writeln!(
                buf,
                "[{:>5}.{:03} {:<5} {}] {}",
                t.as_secs(),
                t.subsec_millis(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .init();
}

/// Runs `bridgeless router`; with `check`, only validates the configuration and prints what
/// the router would run.
pub fn run(path: &Path, check: bool) -> ExitCode {
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bridgeless router: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if check {
        return check_only(&config);
    }
    init_logging();
    match serve(&config) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err((code, message)) => {
            log::error!(target: "router", "{message}");
            ExitCode::from(code)
        }
    }
}

#[allow(clippy::print_stdout, reason = "--check reports to the user on stdout")]
fn check_only(config: &Config) -> ExitCode {
    let secret = match config::secret(&config.secret, false) {
        Ok(Some(_)) => "present",
        Ok(None) => "file absent, created on first run",
        Err(e) => {
            eprintln!("bridgeless router: {e}");
            return ExitCode::from(EXIT_DEVICE);
        }
    };
    println!("configuration of router {} is valid", config.name);
    match config.prefix {
        Some(p) => println!("prefix: {p}"),
        None => println!("prefix: requested over the upstream link"),
    }
    println!("secret: {secret}");
    if config.multicast {
        println!("multicast: on, {} queriers", config.mld_version);
    }
    for (i, link) in config.links.iter().enumerate() {
        println!("link {i}: {} ({:?})", link.label(), link.role);
    }
    ExitCode::from(EXIT_OK)
}

/// The signals the router reacts to.
struct Signals {
    stop: Arc<AtomicBool>,
    report: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        use signal_hook::flag;
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // The second one, while stopping, kills the process at once.
            flag::register_conditional_shutdown(signal, 1, stop.clone())?;
            flag::register(signal, stop.clone())?;
        }
        flag::register(SIGUSR1, report.clone())?;
        Ok(Signals { stop, report })
    }
}

/// Prints the report to stdout in one write, so that reports and other output do not mix.
#[allow(
    clippy::print_stdout,
    reason = "the counters report is the command's output"
)]
fn print_report(config: &Config, router: &Router, devices: &[Device], now: Instant, why: &str) {
    use std::io::Write;
    let counters: Vec<DeviceCounters> = devices.iter().map(Device::counters).collect();
    let text = report::render(config, router, &counters, now, why);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn log_event(config: &Config, event: TreeEvent) {
    let link = match event {
        TreeEvent::Delegated { link, .. }
        | TreeEvent::DelegationEnded { link, .. }
        | TreeEvent::PoolExhausted { link } => config.links.get(link.index()),
        _ => None,
    };
    match link {
        Some(link) => {
            log::info!(target: "router", "{}: {event} ({})", config.name, link.label());
        }
        None => log::info!(target: "router", "{}: {event}", config.name),
    }
}

/// Opens the devices, builds the router and runs it until a signal stops it.
fn serve(config: &Config) -> Result<(), (u8, String)> {
    let signals =
        Signals::install().map_err(|e| (EXIT_RUNTIME, format!("cannot handle signals: {e}")))?;
    let secret = match config::secret(&config.secret, true) {
        Ok(Some(secret)) => secret,
        // `secret` creates a missing file, so this is a file that vanished meanwhile.
        Ok(None) => return Err((EXIT_DEVICE, "the secret file could not be read".into())),
        Err(e) => return Err((EXIT_DEVICE, e.to_string())),
    };
    let mut devices = Vec::with_capacity(config.links.len());
    for (i, link) in config.links.iter().enumerate() {
        let device = Device::open(&link.kind)
            .map_err(|e| (EXIT_DEVICE, format!("link {i} ({}): {e}", link.label())))?;
        log::info!(target: "router", "link {i}: {} (mtu {})", link.label(), device.mtu());
        devices.push(device);
    }
    let links: Vec<RouterLink> = config
        .links
        .iter()
        .zip(&devices)
        .map(|(spec, device)| RouterLink {
            role: spec.role,
            mtu: device.mtu(),
        })
        .collect();
    let mut router_config = RouterConfig::new(&config.name, secret);
    router_config.prefix = config.prefix;
    router_config.delegation_bits = config.delegation_bits;
    router_config.ra_interval = Duration::from_secs(config.ra_interval_secs);
    router_config.multicast = config.multicast;
    router_config.mld_version = config.mld_version;
    router_config.dns_servers = config.dns_servers.clone();

    let start = StdInstant::now();
    let clock = || Instant::from_micros(start.elapsed().as_micros() as i64);
    let mut router = Router::build(router_config, &links, clock())
        .map_err(|e| (EXIT_CONFIG, format!("cannot build the router: {e}")))?;
    let mut rng = ChaCha12Rng::from_os_rng();
    log::info!(target: "router", "{}: running with {} links", config.name, devices.len());

    let fds: Vec<RawFd> = devices.iter().map(Device::fd).collect();
    let mut pollfds = Vec::with_capacity(fds.len());
    while !signals.stop.load(Ordering::Relaxed) {
        let now = clock();
        if signals.report.swap(false, Ordering::Relaxed) {
            print_report(config, &router, &devices, now, "SIGUSR1");
        }
        // The slice of links is built once per wake-up (a few pointers), not per frame.
        let mut ios: Vec<&mut dyn LinkIo> = devices.iter_mut().map(Device::io).collect();
        let handled = router.poll(now, &mut ios, &mut rng);
        drop(ios);
        while let Some(event) = router.poll_event() {
            log_event(config, event);
        }
        if handled > 0 {
            // More may be queued than one poll takes from each link: look again at once.
            continue;
        }
        let sleep = router
            .poll_timeout()
            .map_or(MAX_SLEEP, |t| {
                StdDuration::from_micros((t - clock().min(t)).total_micros())
            })
            .min(MAX_SLEEP);
        wait::wait_readable(&fds, &mut pollfds, sleep)
            .map_err(|e| (EXIT_RUNTIME, format!("waiting on the links failed: {e}")))?;
    }
    log::info!(target: "router", "{}: stopping", config.name);
    // Final Router Advertisements and the Release of a delegated prefix go out at once.
    let now = clock();
    router.shutdown(now, &mut rng);
    let mut ios: Vec<&mut dyn LinkIo> = devices.iter_mut().map(Device::io).collect();
    router.poll(now, &mut ios, &mut rng);
    drop(ios);
    print_report(config, &router, &devices, clock(), "stopping");
    Ok(())
}
