//! Interop with the Linux kernel over a TUN device: our [`Host`] (smoltcp's `Interface` on
//! `Medium::Ip` with the receive filter, router discovery and MLD) on our `Tun`, with the static
//! address fd00::2/64 and a default route via fd00::1, talks to the kernel's end of the link
//! (fd00::1/64). The host is never brought up (`Host::link_up`), so it solicits no router:
//! everything it sends is the tests' own traffic.
//!
//! - the kernel's `ping -6` is answered;
//! - a kernel TCP client (python3) sends 10 MB to a smoltcp TCP server and gets them back,
//!   both ends checking every byte against the same pseudo-random pattern;
//! - a capture of what we sent holds only IPv6 packets from fd00::2: no Neighbor Solicitation
//!   or Advertisement, no duplicate-address detection, no ARP;
//! - in every test, the host's receive filter found nothing malformed in what the kernel sent,
//!   and the host sent no control packet of its own (no solicitation, no report).
//!
//! Each test makes its own network namespace (named from the pid and a counter, since cargo
//! runs tests in parallel), opens the TUN device inside it (`Tun::open_in_namespace`, which
//! enters the namespace from a short-lived thread), configures the kernel's end with
//! `ip netns exec`, and deletes the namespace, after killing whatever still runs in it, when
//! the test ends, pass or fail. All traffic stays inside the namespace. Every wait has a
//! deadline.
//!
//! The tests need root, /dev/net/tun, `ip`, `ping` and `python3`. Without them they fail when
//! `CI=true` and otherwise print a note and pass.
//!
//! Echo replies: this crate does not enable smoltcp's `auto-icmp-echo-reply` feature, so the
//! tests answer ping the way an application on smoltcp can: a raw ICMPv6 socket receives every
//! echo request addressed to us and sends the reply. (An `icmp` socket will not do: it binds
//! to one identifier, and ping picks its own.)

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::{self, Tun};
use bridgeless_iface::filter::DropReason;
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_wire::frame;
use bridgeless_wire::pcap::{self, LinkType};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use smoltcp::iface::{SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{raw, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpAddress, IpCidr, IpProtocol, IpVersion, Ipv6Address, Ipv6Packet,
    Ipv6Repr,
};

mod common;
use common::{Netns, Observer, finish, leak, spawn, timestamp};

/// A link whose frames a [`Recorder`] sees.
type RecordingLink = common::RecordingLink<Recorder>;

const OUR_ADDR: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const KERNEL_ADDR: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const TCP_PORT: u16 = 7000;
/// How long one test may take before it fails.
const TEST_DEADLINE: StdDuration = StdDuration::from_secs(60);
/// The longest the poll loop sleeps, so that child processes are noticed promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------
// Prerequisites
// ---------------------------------------------------------------------------------------

/// Whether the test can run; if not, fails under `CI=true` or prints why and says no.
fn ready(test: &str) -> bool {
    common::ready(test, &["ip", "ping", "python3"])
}

// ---------------------------------------------------------------------------------------
// The recording link: our Tun, with every frame checked and (optionally) captured
// ---------------------------------------------------------------------------------------

/// What the test loop saw cross the link.
#[derive(Default)]
struct Recorder {
    /// Both directions.
    link: Option<pcap::Writer<BufWriter<File>>>,
    /// Only what we sent.
    sent_capture: Option<pcap::Writer<BufWriter<File>>>,
    sent: usize,
    received: usize,
    /// Frames we sent that a neighbor-free point-to-point host must never send.
    violations: Vec<String>,
}

impl Recorder {
    fn capturing(name: &str) -> (Recorder, PathBuf) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let sent_path = dir.join(format!("linux_tun-{name}-sent.pcap"));
        let link_path = dir.join(format!("linux_tun-{name}-link.pcap"));
        let recorder = Recorder {
            link: Some(pcap::Writer::create(&link_path, LinkType::Raw).unwrap()),
            sent_capture: Some(pcap::Writer::create(&sent_path, LinkType::Raw).unwrap()),
            ..Recorder::default()
        };
        (recorder, sent_path)
    }

    fn flush(&mut self) {
        for w in [&mut self.link, &mut self.sent_capture]
            .into_iter()
            .flatten()
        {
            w.flush().unwrap();
        }
    }
}

impl Observer for Recorder {
    fn on_received(&mut self, frame: &[u8]) {
        self.received += 1;
        if let Some(w) = &mut self.link {
            w.write(timestamp(), frame).unwrap();
        }
    }

    fn on_sent(&mut self, frame: &[u8]) {
        self.sent += 1;
        if let Some(problem) = neighbor_free_violation(frame)
            && self.violations.len() < 16
        {
            self.violations.push(problem);
        }
        for w in [&mut self.link, &mut self.sent_capture]
            .into_iter()
            .flatten()
        {
            w.write(timestamp(), frame).unwrap();
        }
    }
}

/// Why a frame we sent should not have been sent, if it should not: it must be an IPv6 packet
/// (so not ARP), from our address (so not duplicate-address detection, whose probes come from
/// ::, nor a link-local neighbor message), and not Neighbor Discovery.
fn neighbor_free_violation(bytes: &[u8]) -> Option<String> {
    let info = match frame::parse(bytes) {
        Ok(info) => info,
        Err(e) => {
            return Some(format!(
                "a frame that is not an IP packet ({e}): {bytes:02x?}"
            ));
        }
    };
    if info.protocol() == IpProtocol::Icmpv6
        && let Some((ty @ 133..=137, _)) = info.icmp()
    {
        return Some(format!("ICMPv6 type {ty} (Neighbor Discovery): {info:?}"));
    }
    if info.src() != core::net::IpAddr::V6(OUR_ADDR) {
        return Some(format!(
            "a packet from {} rather than {OUR_ADDR}: {info:?}",
            info.src()
        ));
    }
    None
}

// ---------------------------------------------------------------------------------------
// The rig: our Host on the link, answering ping
// ---------------------------------------------------------------------------------------

struct Rig {
    host: Host,
    sockets: SocketSet<'static>,
    link: RecordingLink,
    rng: ChaCha8Rng,
    ping: SocketHandle,
    echo_replies: usize,
    start: StdInstant,
}

impl Rig {
    /// Opens tun0 in `ns`, gives the kernel's end fd00::1/64, brings it up, and puts our Host
    /// (fd00::2/64 besides its link-local address, default route via fd00::1) with a ping
    /// responder on it.
    fn new(ns: &Netns, recorder: Recorder) -> Rig {
        let tun = Tun::open_in_namespace(ns.path(), "tun0")
            .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
        ns.run(
            "ip",
            &["-6", "addr", "add", "fd00::1/64", "dev", "tun0", "nodad"],
        );
        ns.run("ip", &["link", "set", "tun0", "up"]);

        let mut link = RecordingLink::new(tun, recorder);
        let start = StdInstant::now();
        let iid = StableIid::new([0x42; 32], b"tun0").unwrap();
        let mtu = link.tun.mtu() as u32;
        let config = HostConfig::new(rd::Config::new(iid, mtu), 0x5eed);
        let mut host = Host::new(config, &mut link, Instant::ZERO);
        // The static address next to the link-local one the host formed: smoltcp's table
        // (IFACE_MAX_ADDR_COUNT, 2 by default) holds both.
        host.interface_mut().update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv6(OUR_ADDR), 64))
                .expect("room for fd00::2 next to the link-local address");
        });
        host.interface_mut()
            .routes_mut()
            .add_default_ipv6_route(KERNEL_ADDR)
            .unwrap();

        let mut sockets = SocketSet::new(Vec::leak((0..4).map(|_| SocketStorage::EMPTY).collect()));
        let ping = sockets.add(raw::Socket::new(
            Some(IpVersion::Ipv6),
            Some(IpProtocol::Icmpv6),
            raw::PacketBuffer::new(leak(raw::PacketMetadata::EMPTY, 16), leak(0u8, 16 * 1024)),
            raw::PacketBuffer::new(leak(raw::PacketMetadata::EMPTY, 16), leak(0u8, 16 * 1024)),
        ));
        Rig {
            host,
            sockets,
            link,
            rng: ChaCha8Rng::seed_from_u64(0x11),
            ping,
            echo_replies: 0,
            start,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Runs the interface until `step` returns `Some`, at most until the test's deadline.
    /// `step` runs after every poll: it is where the test's application logic goes.
    fn run_until<T>(&mut self, what: &str, mut step: impl FnMut(&mut Rig) -> Option<T>) -> T {
        loop {
            let now = self.now();
            self.host
                .poll(now, &mut self.link, &mut self.sockets, &mut self.rng);
            self.answer_pings();
            if let Some(done) = step(self) {
                return done;
            }
            if self.start.elapsed() > TEST_DEADLINE {
                panic!(
                    "timed out after {TEST_DEADLINE:?} waiting for {what}; device {:?}; \
                     filter {:?}; host {:?}",
                    self.link.tun,
                    self.host.filter_counters(),
                    self.host.counters()
                );
            }
            // Poll again at once if the application queued something; otherwise sleep on
            // the descriptor until a packet comes or the host has a timer to serve.
            let now = self.now();
            let delay = self
                .host
                .poll_delay(now, &self.sockets)
                .map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
            self.link.tun.wait(Some(delay)).expect("poll(2) on the TUN");
        }
    }

    /// Asserts that the host's receive filter found nothing the kernel sent malformed, and
    /// that the host sent no control packet of its own: no Router Solicitation (it was never
    /// brought up), no MLD report (it joined nothing), and so nothing neighbor-related. (The
    /// host has no way to build a Neighbor Solicitation or Advertisement at all; the captures
    /// check that none went out.)
    fn assert_host_quiet(&self) {
        let filter = self.host.filter_counters();
        assert_eq!(filter.dropped(DropReason::Malformed), 0, "{filter:?}");
        assert!(filter.delivered > 0, "nothing reached smoltcp: {filter:?}");
        let counters = self.host.counters();
        assert_eq!(counters.control_sent, 0, "{counters:?}");
        let rd = self.host.router_discovery().counters();
        assert_eq!(rd.solicitations_sent, 0, "{rd:?}");
        let mld = self.host.mld().counters();
        assert_eq!(mld.reports_sent, Default::default(), "{mld:?}");
    }

    /// Answers every ICMPv6 echo request to our address that the raw socket holds.
    fn answer_pings(&mut self) {
        let socket = self.sockets.get_mut::<raw::Socket<'_>>(self.ping);
        let mut request = [0u8; 2048];
        while socket.can_recv() && socket.can_send() {
            let Ok(len) = socket.recv_slice(&mut request) else {
                continue; // longer than our buffer: dropped
            };
            if let Some(replied) = echo_reply(&request[..len], socket) {
                self.echo_replies += usize::from(replied);
            }
        }
    }
}

/// Parses an IPv6 packet; if it is an echo request to us, queues the reply on `socket`.
fn echo_reply(packet: &[u8], socket: &mut raw::Socket<'_>) -> Option<bool> {
    let caps = ChecksumCapabilities::default();
    let ip = Ipv6Packet::new_checked(packet).ok()?;
    let ip_repr = Ipv6Repr::parse(&ip).ok()?;
    if ip_repr.dst_addr != OUR_ADDR {
        return Some(false);
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload()).ok()?;
    let Icmpv6Repr::EchoRequest {
        ident,
        seq_no,
        data,
    } = Icmpv6Repr::parse(&ip_repr.src_addr, &ip_repr.dst_addr, &icmp, &caps).ok()?
    else {
        return Some(false);
    };
    // RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.
    let reply = Icmpv6Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let reply_ip = Ipv6Repr {
        src_addr: OUR_ADDR,
        dst_addr: ip_repr.src_addr,
        next_header: IpProtocol::Icmpv6,
        payload_len: reply.buffer_len(),
        hop_limit: 64,
    };
    let buf = socket
        .send(reply_ip.buffer_len() + reply.buffer_len())
        .ok()?;
    let mut out = Ipv6Packet::new_unchecked(&mut *buf);
    reply_ip.emit(&mut out);
    reply.emit(
        &reply_ip.src_addr,
        &reply_ip.dst_addr,
        &mut Icmpv6Packet::new_unchecked(out.payload_mut()),
        &caps,
    );
    Some(true)
}

// ---------------------------------------------------------------------------------------
// Kernel-side programs
// ---------------------------------------------------------------------------------------

/// `ping -6 -c COUNT fd00::2` in the namespace (giving up after 20 s).
fn kernel_ping(ns: &Netns, count: u32) -> Child {
    spawn(ns.command("ping").args([
        "-6",
        "-n",
        "-c",
        &count.to_string(),
        "-i",
        "0.2",
        "-w",
        "20",
        "fd00::2",
    ]))
}

/// The test pattern: SHA-256 of the 8-octet big-endian block number, block after block.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = 0u64;
    while out.len() < len {
        out.extend_from_slice(&Sha256::digest(block.to_be_bytes()));
        block += 1;
    }
    out.truncate(len);
    out
}

/// A kernel TCP client: sends `len` octets of [`pattern`] to [fd00::2]:7000 while reading
/// the echo, checks the echo and prints "OK".
const TCP_CLIENT: &str = r#"
import hashlib, socket, sys, threading
n, port = int(sys.argv[1]), int(sys.argv[2])
out = bytearray()
k = 0
while len(out) < n:
    out += hashlib.sha256(k.to_bytes(8, "big")).digest()
    k += 1
data = bytes(out[:n])
s = socket.create_connection(("fd00::2", port), timeout=30)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
sender = threading.Thread(target=send)
sender.start()
echo = bytearray()
while len(echo) < n:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    echo += chunk
sender.join()
s.close()
if echo == data:
    print("OK", len(echo))
else:
    first = next((i for i in range(min(len(echo), n)) if echo[i] != data[i]), min(len(echo), n))
    print("MISMATCH: got", len(echo), "octets, first difference at", first)
    sys.exit(1)
"#;

fn kernel_tcp_client(ns: &Netns, len: usize) -> Child {
    spawn(
        ns.command("python3")
            .args(["-c", TCP_CLIENT, &len.to_string(), &TCP_PORT.to_string()]),
    )
}

/// A smoltcp TCP echo server that checks what it receives against [`pattern`].
struct EchoServer {
    handle: SocketHandle,
    expected: Vec<u8>,
    received: usize,
}

impl EchoServer {
    fn new(rig: &mut Rig, len: usize) -> EchoServer {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(leak(0u8, 256 * 1024)),
            tcp::SocketBuffer::new(leak(0u8, 256 * 1024)),
        );
        socket.listen(TCP_PORT).unwrap();
        EchoServer {
            handle: rig.sockets.add(socket),
            expected: pattern(len),
            received: 0,
        }
    }

    /// Moves what arrived to the send buffer (only as much as fits), checking every octet,
    /// and closes once the client has closed and everything went back.
    fn serve(&mut self, rig: &mut Rig) {
        let socket = rig.sockets.get_mut::<tcp::Socket<'_>>(self.handle);
        let mut chunk = [0u8; 16 * 1024];
        while socket.can_recv() && socket.can_send() {
            let room = socket.send_capacity() - socket.send_queue();
            let want = room.min(chunk.len());
            let n = socket.recv_slice(&mut chunk[..want]).unwrap();
            if n == 0 {
                break;
            }
            let want = self.expected.get(self.received..self.received + n);
            assert!(
                want == Some(&chunk[..n]),
                "the server received wrong data at offset {} ({} octets expected in all)",
                self.received,
                self.expected.len()
            );
            self.received += n;
            assert_eq!(socket.send_slice(&chunk[..n]).unwrap(), n);
        }
        if socket.state() == tcp::State::CloseWait && socket.send_queue() == 0 {
            socket.close();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[test]
fn kernel_ping_is_answered() {
    if !ready("kernel_ping_is_answered") {
        return;
    }
    let ns = Netns::new("bl-tun");
    let mut rig = Rig::new(&ns, Recorder::default());
    assert_eq!(rig.link.tun.name(), "tun0");
    assert_eq!(
        rig.link.tun.mtu(),
        tun::DEFAULT_MTU,
        "a new TUN device's MTU"
    );
    let addrs: Vec<IpCidr> = rig.host.interface().ip_addrs().to_vec();
    assert_eq!(addrs.len(), 2, "link-local and fd00::2: {addrs:?}");
    assert!(
        matches!(addrs[0].address(), IpAddress::Ipv6(a) if a.is_unicast_link_local()),
        "{addrs:?}"
    );
    assert_eq!(addrs[1], IpCidr::new(IpAddress::Ipv6(OUR_ADDR), 64));

    let mut ping = Some(kernel_ping(&ns, 3));
    let (status, output) = rig.run_until("ping -6 -c 3 fd00::2", |_| {
        let exited = ping.as_mut()?.try_wait().expect("wait for ping");
        exited.map(|_| finish(ping.take().unwrap()))
    });
    assert!(status.success(), "ping failed ({status}):\n{output}");
    assert!(output.contains("3 received"), "ping output:\n{output}");
    assert_eq!(rig.echo_replies, 3, "echo replies we sent");

    let stats = rig.link.tun.stats();
    assert!(stats.rx_packets >= 3 && stats.tx_packets >= 3, "{stats:?}");
    assert_eq!((stats.rx_errors, stats.tx_errors), (0, 0), "{stats:?}");
    assert!(rig.link.tun.last_error().is_none());
    assert_eq!(rig.link.recorder.borrow().violations, Vec::<String>::new());
    rig.assert_host_quiet();
}

#[test]
fn kernel_tcp_client_exchanges_10_mb_with_a_smoltcp_server() {
    if !ready("kernel_tcp_client_exchanges_10_mb_with_a_smoltcp_server") {
        return;
    }
    const LEN: usize = 10 * 1024 * 1024;
    let ns = Netns::new("bl-tun");
    let mut rig = Rig::new(&ns, Recorder::default());
    let mut server = EchoServer::new(&mut rig, LEN);

    let mut client = Some(kernel_tcp_client(&ns, LEN));
    let (status, output) = rig.run_until("the TCP client to finish", |rig| {
        server.serve(rig);
        let exited = client.as_mut()?.try_wait().expect("wait for the client");
        exited.map(|_| finish(client.take().unwrap()))
    });
    assert!(
        status.success(),
        "the TCP client failed ({status}):\n{output}"
    );
    assert_eq!(output.trim(), format!("OK {LEN}"), "client output");
    assert_eq!(
        server.received, LEN,
        "octets the server received and checked"
    );

    let stats = rig.link.tun.stats();
    assert_eq!((stats.rx_errors, stats.tx_errors), (0, 0), "{stats:?}");
    assert_eq!(rig.link.recorder.borrow().violations, Vec::<String>::new());
    rig.assert_host_quiet();
}

#[test]
fn capture_shows_no_neighbor_discovery_from_us() {
    if !ready("capture_shows_no_neighbor_discovery_from_us") {
        return;
    }
    let ns = Netns::new("bl-tun");
    let (recorder, sent_path) = Recorder::capturing("capture");
    let mut rig = Rig::new(&ns, recorder);
    let mut server = EchoServer::new(&mut rig, 64 * 1024);

    // Ping and a TCP exchange at the same time: the kernel's first packets to a new
    // destination are where a host with neighbor discovery would solicit.
    let mut ping = Some(kernel_ping(&ns, 2));
    let mut client = Some(kernel_tcp_client(&ns, 64 * 1024));
    let mut results = Vec::new();
    rig.run_until("ping and the TCP client to finish", |rig| {
        server.serve(rig);
        for child in [&mut ping, &mut client] {
            let exited = match child {
                Some(c) => c.try_wait().expect("wait for a child").is_some(),
                None => false,
            };
            if exited {
                results.push(finish(child.take().unwrap()));
            }
        }
        (ping.is_none() && client.is_none()).then_some(())
    });
    for (status, output) in &results {
        assert!(status.success(), "a kernel-side program failed:\n{output}");
    }
    rig.assert_host_quiet();
    let mut recorder = rig.link.recorder.borrow_mut();
    recorder.flush();
    assert_eq!(recorder.violations, Vec::<String>::new());

    // The capture of what we sent, read back: every record is an IPv6 packet from fd00::2
    // that is not Neighbor Discovery, and the echo replies and TCP segments are there.
    let mut records = 0;
    let (mut echo_replies, mut tcp_segments) = (0, 0);
    for record in pcap::Reader::open(&sent_path).unwrap() {
        let record = record.unwrap();
        let packet = record.ip().expect("an IP record");
        assert_eq!(
            neighbor_free_violation(packet),
            None,
            "record {}",
            record.number
        );
        let info = frame::parse(packet).unwrap();
        echo_replies += usize::from(info.icmp() == Some((129, 0)));
        tcp_segments += usize::from(info.ports().is_some_and(|(src, _)| src == TCP_PORT));
        records += 1;
    }
    assert_eq!(records, recorder.sent, "records in {}", sent_path.display());
    assert_eq!(echo_replies, 2, "echo replies in the capture");
    assert!(
        tcp_segments > 10,
        "{tcp_segments} TCP segments in the capture"
    );
}
