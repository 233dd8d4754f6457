//! Interop of our [`Host`] with Linux over a TUN device: the kernel's end of the link is a
//! router (radvd, from Debian) or an MLDv2 listener, and tshark checks what we send.
//!
//! - radvd answers our first Router Solicitation; from its advertisement the host forms an
//!   address in 2001:db8:42::/64, a default route via the kernel's link-local address and a
//!   link MTU of 1400, and a UDP exchange from that address with a kernel socket on
//!   2001:db8:42::1 succeeds;
//! - the kernel's MLDv2 reports (a python3 socket joining and leaving a group on tun0) are
//!   parsed and counted by our MLD host, none as invalid;
//! - our own join and leave reports are dissected by tshark as CHANGE_TO_EXCLUDE_MODE and
//!   CHANGE_TO_INCLUDE_MODE records, and nothing we send is malformed;
//! - in every test, nothing we send is Neighbor Discovery (NS, NA, Redirect), a duplicate
//!   address detection probe (source ::) or ARP: everything is IPv6.
//!
//! Each test makes its own network namespace (pid and counter in the name, since cargo runs
//! tests in parallel), opens tun0 in it, configures the kernel's end with `ip netns exec`,
//! and on every exit path kills what it started there (radvd included) and deletes the
//! namespace. Every wait has a deadline. Captures are written under `CARGO_TARGET_TMPDIR`:
//! `linux_host-NAME-sent.pcap` (what we sent) and `linux_host-NAME-link.pcap` (both ways).
//!
//! The tests need root, /dev/net/tun, `ip`, `python3`, `tshark` and (for the router test)
//! `radvd`. Without them they fail when `CI=true` and otherwise print a note and pass.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_wire::frame;
use bridgeless_wire::mld::{self, MldMessage, RecordType};
use bridgeless_wire::pcap::{self, LinkType};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::phy::{Device, RxToken};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint, IpProtocol, Ipv6Address};

mod common;
use common::{Netns, Observer, RecordingLink, spawn, timestamp};

/// The prefix radvd advertises.
const PREFIX: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0x42, 0, 0, 0, 0, 0);
/// The kernel's global address on the link.
const KERNEL_GLOBAL: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0x42, 0, 0, 0, 0, 1);
/// The link MTU radvd advertises (the TUN device's is 1500).
const RA_MTU: u32 = 1400;
/// The kernel's UDP echo server port.
const ECHO_PORT: u16 = 7001;
/// The group our host joins and leaves.
const OUR_GROUP: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0xabcd);
/// The group the kernel's socket joins and leaves.
const KERNEL_GROUP: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x4242);
/// The longest the poll loop sleeps, so that child processes are noticed promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------
// What crossed the link
// ---------------------------------------------------------------------------------------

/// A frame and when it crossed the link (since the rig started).
struct Frame {
    at: StdDuration,
    bytes: Vec<u8>,
}

impl Frame {
    fn icmp_type(&self) -> Option<u8> {
        let info = frame::parse(&self.bytes).ok()?;
        (info.protocol() == IpProtocol::Icmpv6)
            .then(|| info.icmp().map(|(t, _)| t))
            .flatten()
    }

    fn dst(&self) -> Option<Ipv6Address> {
        match frame::parse(&self.bytes).ok()?.dst() {
            std::net::IpAddr::V6(a) => Some(a),
            std::net::IpAddr::V4(_) => None,
        }
    }
}

/// Every frame both ways, in memory and in two captures.
struct Log {
    start: StdInstant,
    sent: Vec<Frame>,
    received: Vec<Frame>,
    link: pcap::Writer<BufWriter<File>>,
    sent_capture: pcap::Writer<BufWriter<File>>,
    sent_path: PathBuf,
}

impl Log {
    fn new(name: &str, start: StdInstant) -> Log {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let sent_path = dir.join(format!("linux_host-{name}-sent.pcap"));
        let link_path = dir.join(format!("linux_host-{name}-link.pcap"));
        Log {
            start,
            sent: Vec::new(),
            received: Vec::new(),
            link: pcap::Writer::create(&link_path, LinkType::Raw).unwrap(),
            sent_capture: pcap::Writer::create(&sent_path, LinkType::Raw).unwrap(),
            sent_path,
        }
    }

    fn flush(&mut self) {
        self.link.flush().unwrap();
        self.sent_capture.flush().unwrap();
    }
}

impl Observer for Log {
    fn on_received(&mut self, bytes: &[u8]) {
        self.link.write(timestamp(), bytes).unwrap();
        self.received.push(Frame {
            at: self.start.elapsed(),
            bytes: bytes.to_vec(),
        });
    }

    fn on_sent(&mut self, bytes: &[u8]) {
        self.link.write(timestamp(), bytes).unwrap();
        self.sent_capture.write(timestamp(), bytes).unwrap();
        self.sent.push(Frame {
            at: self.start.elapsed(),
            bytes: bytes.to_vec(),
        });
    }
}

/// Why a frame we sent should not have been sent, if it should not: a host on a
/// point-to-point link sends only IPv6 (so no ARP), never from `::` (so no duplicate address
/// detection probe) and no Neighbor Solicitation, Advertisement or Redirect.
fn neighbor_free_violation(bytes: &[u8]) -> Option<String> {
    let info = match frame::parse(bytes) {
        Ok(info) => info,
        Err(e) => return Some(format!("not an IP packet ({e}): {bytes:02x?}")),
    };
    let std::net::IpAddr::V6(src) = info.src() else {
        return Some(format!("not IPv6: {info:?}"));
    };
    if src.is_unspecified() {
        return Some(format!("from :: (duplicate address detection?): {info:?}"));
    }
    if info.protocol() == IpProtocol::Icmpv6
        && let Some((ty @ 135..=137, _)) = info.icmp()
    {
        return Some(format!("ICMPv6 type {ty} (neighbor discovery): {info:?}"));
    }
    None
}

// ---------------------------------------------------------------------------------------
// The rig: a namespace, tun0 in it, our Host on it
// ---------------------------------------------------------------------------------------

struct Rig {
    host: Host,
    link: RecordingLink<Log>,
    sockets: SocketSet<'static>,
    rng: ChaCha8Rng,
    start: StdInstant,
    /// The kernel's link-local address on tun0.
    kernel_ll: Ipv6Address,
    /// Programs started in the namespace: killed and reaped first when the rig goes.
    children: Vec<Child>,
    /// The test's name, in the names of its files.
    name: String,
    /// radvd's log and pid file, if it runs.
    radvd_log: Option<PathBuf>,
    radvd_pid: Option<PathBuf>,
    /// Last, so that it is dropped after the device is closed and the children are gone.
    ns: Netns,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A killed radvd leaves its pid file behind.
        if let Some(pid) = &self.radvd_pid {
            let _ = std::fs::remove_file(pid);
        }
    }
}

impl Rig {
    /// A namespace with tun0 (kernel's end 2001:db8:42::1/64, MLDv2 forced, forwarding on if
    /// `router`), and our Host on our end.
    fn new(name: &str, router: bool) -> Rig {
        let ns = Netns::new("bl-host");
        if router {
            // radvd refuses to advertise unless the node forwards.
            ns.run("sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"]);
        }
        let tun = Tun::open_in_namespace(ns.path(), "tun0")
            .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
        ns.run("sysctl", &["-qw", "net.ipv6.conf.tun0.force_mld_version=2"]);
        ns.run(
            "ip",
            &[
                "-6",
                "addr",
                "add",
                "2001:db8:42::1/64",
                "dev",
                "tun0",
                "nodad",
            ],
        );
        ns.run("ip", &["link", "set", "tun0", "up"]);
        let kernel_ll = kernel_link_local(&ns);

        let start = StdInstant::now();
        let mut link = RecordingLink::new(tun, Log::new(name, start));
        let iid = StableIid::new([0x42; 32], b"tun0").unwrap();
        let mtu = link.tun.mtu() as u32;
        let config = HostConfig::new(rd::Config::new(iid, mtu), 0x5eed);
        let host = Host::new(config, &mut link, Instant::ZERO);
        let storage = Vec::leak((0..4).map(|_| SocketStorage::EMPTY).collect());
        Rig {
            host,
            link,
            sockets: SocketSet::new(storage),
            rng: ChaCha8Rng::seed_from_u64(0x11),
            start,
            kernel_ll,
            children: Vec::new(),
            name: name.to_string(),
            radvd_log: None,
            radvd_pid: None,
            ns,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    fn link_up(&mut self) {
        let now = self.now();
        self.host.link_up(now, &mut self.rng);
    }

    /// Polls the host until `step` returns `Some`, for at most `timeout`. `step` runs after
    /// every poll: it is where the test's application logic goes.
    fn run_until<T>(
        &mut self,
        what: &str,
        timeout: StdDuration,
        mut step: impl FnMut(&mut Rig) -> Option<T>,
    ) -> T {
        let deadline = StdInstant::now() + timeout;
        loop {
            let now = self.now();
            self.host
                .poll(now, &mut self.link, &mut self.sockets, &mut self.rng);
            if let Some(done) = step(self) {
                return done;
            }
            if StdInstant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.describe()
                );
            }
            let now = self.now();
            let delay = self
                .host
                .poll_at(now, &self.sockets)
                .map_or(MAX_SLEEP, |at| {
                    if at > now {
                        (at - now).min(MAX_SLEEP)
                    } else {
                        Duration::ZERO
                    }
                });
            self.link.tun.wait(Some(delay)).expect("poll(2) on the TUN");
        }
    }

    /// Polls the host for `d`.
    fn run_for(&mut self, d: StdDuration) {
        let end = StdInstant::now() + d;
        self.run_until("nothing", d + StdDuration::from_secs(1), |_| {
            (StdInstant::now() >= end).then_some(())
        });
    }

    /// The state of everything, for failure messages.
    fn describe(&self) -> String {
        let log = self.link.recorder.borrow();
        let radvd = self.radvd_log();
        format!(
            "addresses {:?}\ndefault route {:?}\nrd {:?}\nfilter {:?}\nmld {:?}\nhost {:?}\n\
             {} frames sent, {} received; tun {:?}\nradvd log:\n{radvd}",
            self.host.interface().ip_addrs(),
            self.host.interface().routes().get_default_ipv6_route(),
            self.host.router_discovery().counters(),
            self.host.filter_counters(),
            self.host.mld().counters(),
            self.host.counters(),
            log.sent.len(),
            log.received.len(),
            self.link.tun.stats(),
        )
    }

    /// The address router discovery formed in 2001:db8:42::/64, once installed in smoltcp.
    fn global(&self) -> Option<Ipv6Address> {
        self.host
            .interface()
            .ip_addrs()
            .iter()
            .find_map(|c| match c.address() {
                IpAddress::Ipv6(a) if a.segments()[..4] == PREFIX.segments()[..4] => Some(a),
                _ => None,
            })
    }

    /// Starts radvd on tun0, advertising 2001:db8:42::/64 and an MTU of 1400 every 3 to 4
    /// seconds, and waits until it has advertised once (so that it is ready for
    /// solicitations). Its configuration, pid file and log are the test's own.
    fn start_radvd(&mut self) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let base = dir.join(format!("linux_host-{}-radvd", self.name));
        let conf = base.with_extension("conf");
        let pid = base.with_extension("pid");
        let log = base.with_extension("log");
        std::fs::write(
            &conf,
            "interface tun0 {\n\
             \tAdvSendAdvert on;\n\
             \tMinRtrAdvInterval 3;\n\
             \tMaxRtrAdvInterval 4;\n\
             \tAdvLinkMTU 1400;\n\
             \tprefix 2001:db8:42::/64 {\n\
             \t\tAdvOnLink on;\n\
             \t\tAdvAutonomous on;\n\
             \t};\n\
             };\n",
        )
        .unwrap();
        let _ = std::fs::remove_file(&pid);
        let child = self
            .ns
            .command("radvd")
            .args(["--nodaemon", "--debug", "5", "--logmethod", "stderr"])
            .arg("--config")
            .arg(&conf)
            .arg("--pidfile")
            .arg(&pid)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start radvd: {e}"));
        self.children.push(child);
        self.radvd_log = Some(log);
        self.radvd_pid = Some(pid);
    }

    /// radvd's log so far.
    fn radvd_log(&self) -> String {
        self.radvd_log
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Asserts that nothing we sent is neighbor discovery, DAD or ARP, and that every frame
    /// came from an address of ours.
    fn assert_neighbor_free(&self) {
        let log = self.link.recorder.borrow();
        let ours: Vec<IpAddress> = self
            .host
            .interface()
            .ip_addrs()
            .iter()
            .map(|c| c.address())
            .collect();
        let mut problems: Vec<String> = log
            .sent
            .iter()
            .filter_map(|f| neighbor_free_violation(&f.bytes))
            .collect();
        for f in &log.sent {
            if let Ok(info) = frame::parse(&f.bytes)
                && let std::net::IpAddr::V6(src) = info.src()
                && !ours.contains(&IpAddress::Ipv6(src))
            {
                problems.push(format!("from {src}, not one of our addresses {ours:?}"));
            }
        }
        assert!(!log.sent.is_empty(), "we sent nothing");
        assert_eq!(problems, Vec::<String>::new(), "frames we sent");
    }

    /// Flushes the captures; asserts that tshark finds nothing malformed in what we sent.
    fn assert_capture_well_formed(&self) -> PathBuf {
        let mut log = self.link.recorder.borrow_mut();
        log.flush();
        let path = log.sent_path.clone();
        let malformed = tshark(&path, "_ws.malformed", &["-e", "frame.number"]);
        assert_eq!(
            malformed.trim(),
            "",
            "malformed frames in {}",
            path.display()
        );
        let errors = tshark(
            &path,
            "_ws.expert.severity == error",
            &["-e", "frame.number", "-e", "_ws.expert.message"],
        );
        assert_eq!(errors.trim(), "", "expert errors in {}", path.display());
        path
    }
}

/// The kernel's link-local address on tun0, once it has one (it forms it at link-up).
fn kernel_link_local(ns: &Netns) -> Ipv6Address {
    let deadline = StdInstant::now() + StdDuration::from_secs(5);
    loop {
        let out = ns.run(
            "ip",
            &["-6", "-o", "addr", "show", "dev", "tun0", "scope", "link"],
        );
        let found = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next()?.parse().ok());
        if let Some(addr) = found {
            return addr;
        }
        assert!(
            StdInstant::now() < deadline,
            "the kernel formed no link-local address on tun0 in 5 s: {out:?}"
        );
        std::thread::sleep(StdDuration::from_millis(20));
    }
}

/// `tshark -r PATH -Y FILTER -T fields FIELDS...`, its standard output.
fn tshark(path: &Path, filter: &str, fields: &[&str]) -> String {
    let mut command = Command::new("tshark");
    command
        .arg("-r")
        .arg(path)
        .args(["-Y", filter, "-T", "fields"])
        .args(fields);
    common::run(&mut command)
}

/// One of the kernel's IPv6 and ICMPv6 counters for tun0 (`/proc/net/dev_snmp6/tun0`).
fn kernel_ip6_stat(ns: &Netns, name: &str) -> u64 {
    let out = ns.run("cat", &["/proc/net/dev_snmp6/tun0"]);
    out.lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} in /proc/net/dev_snmp6/tun0:\n{out}"))
}

/// The MLDv2 address records in `bytes`, if it is a valid MLDv2 report.
fn mldv2_records(bytes: &[u8]) -> Vec<(RecordType, Ipv6Address)> {
    match mld::parse_ipv6(bytes) {
        Ok(received) => match received.message {
            MldMessage::ReportV2(report) => report
                .records()
                .map(|r| (r.record_type, r.multicast_address))
                .collect(),
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    }
}

/// What the MLD tests run; the router test also runs radvd.
const TOOLS: [&str; 3] = ["ip", "python3", "tshark"];

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// A UDP echo server on the kernel's side: answers each datagram with "echo: DATA from
/// SOURCE-ADDRESS".
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(4096)
    s.sendto(b"echo: " + data + b" from " + peer[0].encode(), peer)
"#;

#[test]
fn radvd_configures_our_host_which_then_reaches_the_kernel() {
    if !common::ready(
        "radvd_configures_our_host_which_then_reaches_the_kernel",
        &["ip", "python3", "tshark", "radvd"],
    ) {
        return;
    }
    let mut rig = Rig::new("radvd", true);
    rig.start_radvd();
    // Let radvd get going: it has advertised once it says when the next RA is due. Its first,
    // unsolicited advertisement is already queued in the device: throw it away, as if the
    // host had come up just after it, since an advertisement before the host's first
    // solicitation would (rightly, RFC 4861 §6.3.7) stop the host from soliciting at all.
    let deadline = StdInstant::now() + StdDuration::from_secs(5);
    while !rig.radvd_log().contains("next scheduled RA") {
        assert!(
            StdInstant::now() < deadline,
            "radvd did not start in 5 s:\n{}",
            rig.radvd_log()
        );
        std::thread::sleep(StdDuration::from_millis(20));
    }
    let now = rig.now();
    let mut discarded = 0;
    while let Some((rx, _)) = rig.link.tun.receive(now) {
        rx.consume(|_| discarded += 1);
    }
    assert!(discarded >= 1, "radvd's first advertisement");
    let link_up_at = rig.start.elapsed();
    rig.link_up();
    let our_ll = rig.host.router_discovery().link_local();

    // The host solicits; radvd answers the solicitation with a unicast advertisement (its
    // AdvRASolicitedUnicast default, RFC 7772 §5.1), which configures the host.
    rig.run_until(
        "radvd's answer to our solicitation, and the configuration from it",
        StdDuration::from_secs(15),
        |rig| {
            let solicited = rig
                .link
                .recorder
                .borrow()
                .received
                .iter()
                .any(|f| f.icmp_type() == Some(134) && f.dst() == Some(our_ll));
            let configured = rig.global().is_some()
                && rig
                    .host
                    .interface()
                    .routes()
                    .get_default_ipv6_route()
                    .is_some();
            (solicited && configured).then_some(())
        },
    );
    {
        let log = rig.link.recorder.borrow();
        let solicitations: Vec<&Frame> = log
            .sent
            .iter()
            .filter(|f| f.icmp_type() == Some(133))
            .collect();
        let first_rs = solicitations[0];
        let answer = log
            .received
            .iter()
            .find(|f| f.icmp_type() == Some(134) && f.dst() == Some(our_ll))
            .unwrap();
        eprintln!(
            "link up at {link_up_at:?}; first RS at {:?}; solicited RA at {:?}; RAs received: {:?}",
            first_rs.at,
            answer.at,
            log.received
                .iter()
                .filter(|f| f.icmp_type() == Some(134))
                .map(|f| (f.at, f.dst()))
                .collect::<Vec<_>>()
        );
        assert!(
            first_rs.at - link_up_at <= StdDuration::from_millis(1100),
            "first solicitation {:?} after link-up (RFC 4861 §6.3.7: at most 1 s)",
            first_rs.at - link_up_at
        );
        assert_eq!(
            solicitations.len(),
            1,
            "one solicitation: the first was answered"
        );
        assert!(
            answer.at > first_rs.at && answer.at - first_rs.at < StdDuration::from_millis(1000),
            "radvd answered our first solicitation (sent at {:?}) at {:?}",
            first_rs.at,
            answer.at
        );
    }
    assert!(
        rig.radvd_log()
            .contains(&format!("received RS from: {our_ll}")),
        "radvd's log:\n{}",
        rig.radvd_log()
    );

    let global = rig.global().unwrap();
    let route = rig
        .host
        .interface()
        .routes()
        .get_default_ipv6_route()
        .unwrap();
    assert_eq!(
        route.via_router,
        IpAddress::Ipv6(rig.kernel_ll),
        "default route via the kernel's link-local address"
    );
    assert_eq!(
        rig.host.router_discovery().default_router().map(|r| r.addr),
        Some(rig.kernel_ll)
    );
    assert_eq!(rig.host.router_discovery().mtu(), RA_MTU, "link MTU");
    assert!(rig.host.filter_counters().router_advertisements >= 1);

    // UDP from our global address to the kernel's, and back.
    let server = spawn(rig.ns.command("python3").args([
        "-c",
        UDP_ECHO,
        &KERNEL_GLOBAL.to_string(),
        &ECHO_PORT.to_string(),
    ]));
    rig.children.push(server);
    let mut socket = udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]),
    );
    socket
        .bind(IpListenEndpoint {
            addr: Some(IpAddress::Ipv6(global)),
            port: 40_000,
        })
        .unwrap();
    let handle = rig.sockets.add(socket);
    let kernel = IpEndpoint::new(IpAddress::Ipv6(KERNEL_GLOBAL), ECHO_PORT);
    let mut last_send: Option<StdInstant> = None;
    let (echo, from) = rig.run_until("the kernel's UDP echo", StdDuration::from_secs(10), |rig| {
        let socket = rig.sockets.get_mut::<udp::Socket<'_>>(handle);
        if let Ok((data, meta)) = socket.recv() {
            return Some((data.to_vec(), meta.endpoint));
        }
        // The server may not be listening yet: send again every 200 ms.
        if last_send.is_none_or(|t| t.elapsed() > StdDuration::from_millis(200)) {
            socket.send_slice(b"hello from smoltcp", kernel).unwrap();
            last_send = Some(StdInstant::now());
        }
        None
    });
    assert_eq!(from, kernel);
    assert_eq!(
        String::from_utf8_lossy(&echo),
        format!("echo: hello from smoltcp from {global}"),
        "the kernel saw our global address as the source"
    );

    // The kernel took our solicitation as valid ICMPv6.
    assert!(kernel_ip6_stat(&rig.ns, "Icmp6InRouterSolicits") >= 1);
    assert_eq!(kernel_ip6_stat(&rig.ns, "Icmp6InErrors"), 0);
    assert_eq!(kernel_ip6_stat(&rig.ns, "Icmp6InCsumErrors"), 0);

    rig.assert_neighbor_free();
    rig.assert_capture_well_formed();
}

/// Joins a group on tun0 (MLDv2 is forced on it), leaves it 3 s later, and waits.
const JOIN_AND_LEAVE: &str = r#"
import socket, struct, sys, time
group, ifname = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(ifname))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
time.sleep(3)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)
time.sleep(60)
"#;

#[test]
fn linux_mldv2_reports_are_parsed_by_our_host() {
    if !ready("linux_mldv2_reports_are_parsed_by_our_host") {
        return;
    }
    let mut rig = Rig::new("mld-kernel", false);
    rig.link_up();
    let listener = spawn(rig.ns.command("python3").args([
        "-c",
        JOIN_AND_LEAVE,
        &KERNEL_GROUP.to_string(),
        "tun0",
    ]));
    rig.children.push(listener);

    // The kernel reports the join (CHANGE_TO_EXCLUDE_MODE) and the leave
    // (CHANGE_TO_INCLUDE_MODE), each robustness (2) times.
    let records_of = |rig: &Rig, ty: RecordType| {
        rig.link
            .recorder
            .borrow()
            .received
            .iter()
            .flat_map(|f| mldv2_records(&f.bytes))
            .filter(|&r| r == (ty, KERNEL_GROUP))
            .count()
    };
    rig.run_until(
        "the kernel's reports of joining and leaving ff15::4242",
        StdDuration::from_secs(15),
        |rig| {
            (records_of(rig, RecordType::ChangeToExcludeMode) >= 2
                && records_of(rig, RecordType::ChangeToIncludeMode) >= 2)
                .then_some(())
        },
    );

    let reports = rig
        .link
        .recorder
        .borrow()
        .received
        .iter()
        .filter(|f| matches!(f.icmp_type(), Some(131 | 143)))
        .count();
    let counters = *rig.host.mld().counters();
    assert_eq!(
        counters.reports_from_others, reports as u64,
        "every report the kernel sent counted as another host's: {counters:?}"
    );
    assert_eq!(counters.invalid.total(), 0, "{counters:?}");
    assert_eq!(counters.own_messages, 0, "{counters:?}");
    assert_eq!(rig.host.filter_counters().mld, reports as u64);
    assert_eq!(
        counters.reports_sent,
        Default::default(),
        "we joined nothing, so we reported nothing"
    );

    rig.assert_neighbor_free();
    rig.assert_capture_well_formed();
}

#[test]
fn our_join_and_leave_reports_dissect_as_change_to_exclude_and_include() {
    if !ready("our_join_and_leave_reports_dissect_as_change_to_exclude_and_include") {
        return;
    }
    let mut rig = Rig::new("mld-ours", false);
    rig.link_up();
    let robustness = u64::from(rig.host.mld().robustness());
    let sent_state_changes = |rig: &Rig| rig.host.mld().counters().reports_sent.state_change;
    let before = kernel_ip6_stat(&rig.ns, "Ip6InMcastPkts");

    let now = rig.now();
    rig.host
        .join_multicast_group(now, OUR_GROUP, &mut rig.rng)
        .unwrap();
    rig.run_until("the join's reports", StdDuration::from_secs(5), |rig| {
        (sent_state_changes(rig) >= robustness).then_some(())
    });
    let now = rig.now();
    rig.host
        .leave_multicast_group(now, OUR_GROUP, &mut rig.rng)
        .unwrap();
    rig.run_until("the leave's reports", StdDuration::from_secs(5), |rig| {
        (sent_state_changes(rig) >= 2 * robustness).then_some(())
    });
    // Time for anything more we might (wrongly) send.
    rig.run_for(StdDuration::from_millis(1500));
    assert_eq!(sent_state_changes(&rig), 2 * robustness);

    let path = rig.assert_capture_well_formed();
    let records = tshark(
        &path,
        "icmpv6.type == 143",
        &[
            "-e",
            "icmpv6.mldr.mar.record_type",
            "-e",
            "icmpv6.mldr.mar.multicast_address",
        ],
    );
    let records: Vec<&str> = records.lines().collect();
    let join = format!("4\t{OUR_GROUP}");
    let leave = format!("3\t{OUR_GROUP}");
    let mut expected = vec![join.as_str(); robustness as usize];
    expected.extend(vec![leave.as_str(); robustness as usize]);
    assert_eq!(
        records,
        expected,
        "tshark's reading of our reports in {}",
        path.display()
    );

    // The kernel received every multicast packet we sent (our solicitations and reports)
    // without a header error (the reports' Hop-by-Hop Options header with its Router Alert
    // included). It keeps no state for other hosts' memberships and does not hand their
    // reports to ICMPv6 (its Icmp6InMLDv2Reports stays 0): that takes a multicast router,
    // so there is nothing more of the kernel's to check.
    let multicast_sent = rig
        .link
        .recorder
        .borrow()
        .sent
        .iter()
        .filter(|f| f.dst().is_some_and(|d| d.is_multicast()))
        .count() as u64;
    let after = kernel_ip6_stat(&rig.ns, "Ip6InMcastPkts");
    assert_eq!(
        after - before,
        multicast_sent,
        "multicast packets the kernel received"
    );
    assert_eq!(kernel_ip6_stat(&rig.ns, "Ip6InHdrErrors"), 0);

    rig.assert_neighbor_free();
}

/// Whether the tests can run; if not, fails under `CI=true` or prints why and says no.
fn ready(test: &str) -> bool {
    common::ready(test, &TOOLS)
}
