//! Two smoltcp interfaces (`Medium::Ip`, fd00::1/64 and fd00::2/64) talking over each of our
//! devices: UDP datagrams and a TCP transfer whose content is checked byte for byte.
//!
//! Memory links run in virtual time (the driver jumps to the next instant anything is due);
//! UDP and stream links use real sockets, the real clock and bounded loops.

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use bridgeless_iface::device::memory::{Faults, MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::device::pcap_tap::PcapRecorder;
use bridgeless_iface::device::stream::{StreamLink, StreamLinkConfig};
use bridgeless_iface::device::udp::UdpLink;
use bridgeless_wire::frame::{self, Ipv6Header};
use bridgeless_wire::pcap::{LinkType, Reader, Writer};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpProtocol, Ipv6Address};

const TCP_PORT: u16 = 5000;
const UDP_PORT: u16 = 7;

fn addr(n: u16) -> Ipv6Address {
    Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, n)
}

fn leak<T: Clone>(value: T, n: usize) -> &'static mut [T] {
    vec![value; n].leak()
}

/// One host: an interface with one address, a TCP socket and a UDP socket bound to port 7.
struct Node {
    iface: Interface,
    sockets: SocketSet<'static>,
    addr: Ipv6Address,
    tcp: SocketHandle,
    udp: SocketHandle,
}

impl Node {
    fn new(device: &mut impl Device, n: u16, now: Instant) -> Node {
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from(n);
        let mut iface = Interface::new(config, device, now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv6(addr(n)), 64))
                .unwrap()
        });
        let storage: &'static mut [SocketStorage<'static>] =
            Box::leak(Box::new([SocketStorage::EMPTY, SocketStorage::EMPTY]));
        let mut sockets = SocketSet::new(storage);
        let tcp = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(leak(0u8, 64 * 1024)),
            tcp::SocketBuffer::new(leak(0u8, 64 * 1024)),
        ));
        let mut udp = udp::Socket::new(
            udp::PacketBuffer::new(leak(udp::PacketMetadata::EMPTY, 64), leak(0u8, 64 * 1024)),
            udp::PacketBuffer::new(leak(udp::PacketMetadata::EMPTY, 64), leak(0u8, 64 * 1024)),
        );
        udp.bind(UDP_PORT).unwrap();
        let udp = sockets.add(udp);
        Node {
            iface,
            sockets,
            addr: addr(n),
            tcp,
            udp,
        }
    }

    fn poll(&mut self, now: Instant, device: &mut impl Device) -> bool {
        self.iface.poll(now, device, &mut self.sockets) == PollResult::SocketStateChanged
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(now, &self.sockets)
    }

    fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket<'_>>(self.tcp)
    }

    fn udp(&mut self) -> &mut udp::Socket<'static> {
        self.sockets.get_mut::<udp::Socket<'_>>(self.udp)
    }
}

/// What the test waits for: it moves data in and out of sockets between polls and says when
/// it is done.
trait Goal {
    fn pump(&mut self, a: &mut Node, b: &mut Node) -> bool;
}

/// `a` sends `data` over TCP to `b`, then closes; done when `b` has all of it and the FIN.
struct TcpTransfer {
    data: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
}

impl TcpTransfer {
    fn start(a: &mut Node, b: &mut Node, len: usize, seed: u64) -> Self {
        let mut data = vec![0u8; len];
        ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
        b.tcp().listen(TCP_PORT).unwrap();
        let remote = IpEndpoint::new(IpAddress::Ipv6(b.addr), TCP_PORT);
        let cx = a.iface.context();
        a.sockets
            .get_mut::<tcp::Socket<'_>>(a.tcp)
            .connect(cx, remote, 49152)
            .unwrap();
        TcpTransfer {
            data,
            sent: 0,
            received: Vec::with_capacity(len),
            closed: false,
        }
    }

    fn check(&self) {
        assert_eq!(self.received.len(), self.data.len(), "length");
        assert!(self.received == self.data, "content differs");
    }
}

impl Goal for TcpTransfer {
    fn pump(&mut self, a: &mut Node, b: &mut Node) -> bool {
        let tx = a.tcp();
        if tx.can_send() && self.sent < self.data.len() {
            self.sent += tx.send_slice(&self.data[self.sent..]).unwrap();
        }
        if self.sent == self.data.len() && !self.closed {
            tx.close();
            self.closed = true;
        }
        let rx = b.tcp();
        while rx.can_recv() {
            let received = &mut self.received;
            rx.recv(|buf| {
                received.extend_from_slice(buf);
                (buf.len(), ())
            })
            .unwrap();
        }
        self.received.len() == self.data.len() && !rx.may_recv()
    }
}

/// `a` sends `count` numbered UDP datagrams to `b`, which echoes each one; done when `a` has
/// every echo back.
struct UdpEcho {
    count: usize,
    sent: usize,
    echoed: Vec<Vec<u8>>,
}

impl UdpEcho {
    fn datagram(i: usize) -> Vec<u8> {
        format!("datagram {i:04} ").repeat(1 + i % 50).into_bytes()
    }
}

impl Goal for UdpEcho {
    fn pump(&mut self, a: &mut Node, b: &mut Node) -> bool {
        let to_b = IpEndpoint::new(IpAddress::Ipv6(b.addr), UDP_PORT);
        while self.sent < self.count && a.udp().can_send() {
            a.udp()
                .send_slice(&Self::datagram(self.sent), to_b)
                .unwrap();
            self.sent += 1;
        }
        while let Ok((data, meta)) = b.udp().recv() {
            let (data, from) = (data.to_vec(), meta.endpoint);
            b.udp().send_slice(&data, from).unwrap();
        }
        while let Ok((data, _)) = a.udp().recv() {
            self.echoed.push(data.to_vec());
        }
        self.echoed.len() == self.count
    }
}

/// Polls both nodes over a memory link in virtual time until the goal is met, jumping to the
/// next instant an interface timer or a frame on the link is due. Returns the virtual time
/// taken.
fn drive_memory<const N: usize, const M: usize>(
    link: &mut MemoryLink<ChaCha8Rng, N, M>,
    a: &mut Node,
    b: &mut Node,
    goal: &mut impl Goal,
    limit: Duration,
) -> Duration {
    drive_memory_tapped(link, a, b, goal, limit, None::<&PcapRecorder<Vec<u8>>>)
}

fn drive_memory_tapped<const N: usize, const M: usize, W: Write>(
    link: &mut MemoryLink<ChaCha8Rng, N, M>,
    a: &mut Node,
    b: &mut Node,
    goal: &mut impl Goal,
    limit: Duration,
    recorders: Option<&PcapRecorder<W>>,
) -> Duration {
    let start = Instant::ZERO;
    let mut now = start;
    let mut rounds_at_now = 0;
    while now < start + limit {
        if let Some(recorder) = recorders {
            a.poll(now, &mut recorder.tap(link.end(Side::A)));
            b.poll(now, &mut recorder.tap(link.end(Side::B)));
        } else {
            a.poll(now, &mut link.end(Side::A));
            b.poll(now, &mut link.end(Side::B));
        }
        if goal.pump(a, b) {
            return now - start;
        }
        let next = next_event(link, a, b, now);
        rounds_at_now += 1;
        match next {
            Some(t) if t > now => {
                now = t;
                rounds_at_now = 0;
            }
            // Work due now: poll again at the same instant, but never spin on it.
            Some(_) if rounds_at_now < 100 => {}
            _ => {
                now += Duration::from_millis(1);
                rounds_at_now = 0;
            }
        }
    }
    panic!("goal not met within {limit} of virtual time");
}

/// The earliest instant either node or the link in either direction wants attention.
fn next_event<const N: usize, const M: usize>(
    link: &MemoryLink<ChaCha8Rng, N, M>,
    a: &mut Node,
    b: &mut Node,
    now: Instant,
) -> Option<Instant> {
    [
        a.poll_at(now),
        b.poll_at(now),
        link.next_delivery(Side::A),
        link.next_delivery(Side::B),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Polls both nodes over real devices with the real clock until the goal is met or
/// `limit` passes.
fn drive_real(
    da: &mut impl Device,
    db: &mut impl Device,
    a: &mut Node,
    b: &mut Node,
    goal: &mut impl Goal,
    limit: std::time::Duration,
) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        let now = Instant::from_micros(start.elapsed().as_micros() as i64);
        let busy = a.poll(now, da) | b.poll(now, db);
        if goal.pump(a, b) {
            return;
        }
        if !busy {
            // Nothing moved: give the kernel a moment rather than spinning.
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }
    panic!("goal not met within {limit:?}");
}

fn memory_link(config: MemoryLinkConfig, seed: u64) -> Box<MemoryLink<ChaCha8Rng>> {
    Box::new(MemoryLink::new(config, ChaCha8Rng::seed_from_u64(seed)))
}

fn memory_nodes(link: &mut MemoryLink<ChaCha8Rng>) -> (Node, Node) {
    let a = Node::new(&mut link.end(Side::A), 1, Instant::ZERO);
    let b = Node::new(&mut link.end(Side::B), 2, Instant::ZERO);
    (a, b)
}

/// Sends `bytes` over TCP from node 1 to node 2 across a memory link made with `config` and
/// `link_seed`, checks they arrived intact, and returns the link with the virtual time taken.
fn memory_tcp_transfer(
    config: MemoryLinkConfig,
    link_seed: u64,
    bytes: usize,
    data_seed: u64,
    limit: Duration,
) -> (Box<MemoryLink<ChaCha8Rng>>, Duration) {
    let mut link = memory_link(config, link_seed);
    let (mut a, mut b) = memory_nodes(&mut link);
    let mut transfer = TcpTransfer::start(&mut a, &mut b, bytes, data_seed);
    let took = drive_memory(&mut link, &mut a, &mut b, &mut transfer, limit);
    transfer.check();
    (link, took)
}

fn assert_accounted(link: &MemoryLink<ChaCha8Rng>) {
    for side in [Side::A, Side::B] {
        let c = link.counters(side);
        assert!(
            c.accounted(link.queued(side), link.held(side)),
            "{side:?}: {c:?} queued {} held {}",
            link.queued(side),
            link.held(side)
        );
    }
}

#[test]
fn memory_udp_echo() {
    let mut link = memory_link(MemoryLinkConfig::default(), 1);
    let (mut a, mut b) = memory_nodes(&mut link);
    let mut goal = UdpEcho {
        count: 40,
        sent: 0,
        echoed: Vec::new(),
    };
    drive_memory(&mut link, &mut a, &mut b, &mut goal, Duration::from_secs(5));
    let expected: Vec<_> = (0..40).map(UdpEcho::datagram).collect();
    assert_eq!(goal.echoed, expected, "in order, intact, once each");
    assert_eq!(link.counters(Side::A).delivered, 40);
    assert_eq!(link.counters(Side::B).delivered, 40);
    assert_accounted(&link);
}

#[test]
fn memory_tcp_megabyte_through_loss_reorder_duplication() {
    let config = MemoryLinkConfig {
        latency: Duration::from_millis(5),
        faults: Faults {
            loss: 0.10,
            reorder: 0.05,
            duplication: 0.05,
            corruption: 0.0,
        },
        ..Default::default()
    };
    let (link, took) = memory_tcp_transfer(config, 2, 1 << 20, 3, Duration::from_secs(3600));
    let c = link.counters(Side::A);
    eprintln!(
        "1 MB in {took} of virtual time; A->B {c:?}; B->A {:?}",
        link.counters(Side::B)
    );
    assert!(c.lost > 0 && c.reordered > 0 && c.duplicated > 0, "{c:?}");
    assert_eq!(c.too_big, 0);
    assert_accounted(&link);
}

#[test]
fn memory_tcp_survives_corruption() {
    // Checksums catch every single-bit flip; TCP retransmits the segments they cost.
    let config = MemoryLinkConfig {
        faults: Faults {
            corruption: 0.05,
            ..Faults::NONE
        },
        ..Default::default()
    };
    let (link, _) = memory_tcp_transfer(config, 4, 256 * 1024, 5, Duration::from_secs(600));
    assert!(link.counters(Side::A).corrupted > 0);
    assert_accounted(&link);
}

#[test]
fn memory_small_queue_drops_are_counted() {
    let config = MemoryLinkConfig {
        capacity: 4,
        ..Default::default()
    };
    let (link, _) = memory_tcp_transfer(config, 6, 128 * 1024, 7, Duration::from_secs(600));
    assert!(link.counters(Side::A).dropped_full > 0);
    assert_accounted(&link);
}

/// A pair of connected non-blocking Unix stream sockets.
fn unix_pair() -> (UnixStream, UnixStream) {
    let (x, y) = UnixStream::pair().unwrap();
    x.set_nonblocking(true).unwrap();
    y.set_nonblocking(true).unwrap();
    (x, y)
}

#[test]
fn stream_udp_and_tcp() {
    let (x, y) = unix_pair();
    let mut da = StreamLink::new(x, StreamLinkConfig::default());
    let mut db = StreamLink::new(y, StreamLinkConfig::default());
    let mut a = Node::new(&mut da, 1, Instant::ZERO);
    let mut b = Node::new(&mut db, 2, Instant::ZERO);
    let limit = std::time::Duration::from_secs(60);
    let mut echo = UdpEcho {
        count: 100,
        sent: 0,
        echoed: Vec::new(),
    };
    drive_real(&mut da, &mut db, &mut a, &mut b, &mut echo, limit);
    let expected: Vec<_> = (0..100).map(UdpEcho::datagram).collect();
    assert_eq!(echo.echoed, expected);

    let mut transfer = TcpTransfer::start(&mut a, &mut b, 1 << 20, 8);
    drive_real(&mut da, &mut db, &mut a, &mut b, &mut transfer, limit);
    transfer.check();
    for link in [&da, &db] {
        let c = link.counters();
        assert_eq!(c.decoder.errors(), 0, "{c:?}");
        assert_eq!(
            (c.too_big, c.dropped_full, c.read_errors, c.write_errors),
            (0, 0, 0, 0)
        );
    }
    assert_eq!(da.counters().tx_frames, db.counters().rx_frames);
}

#[test]
fn stream_corrupted_byte_costs_one_frame() {
    // The far end writes three encoded UDP datagrams by hand; the second one has a byte
    // flipped on the "line". Only that one is lost.
    let (x, mut y) = unix_pair();
    let mut da = StreamLink::new(x, StreamLinkConfig::default());
    let mut a = Node::new(&mut da, 1, Instant::ZERO);
    let header = Ipv6Header {
        src: addr(2),
        dst: addr(1),
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut line = Vec::new();
    for (i, payload) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
        let mut packet = [0u8; 128];
        let n = frame::emit_udp_v6(&header, 1234, UDP_PORT, payload, &mut packet).unwrap();
        let mut encoded = [0u8; 256];
        let m = bridgeless_wire::stream::encode(&packet[..n], &mut encoded).unwrap();
        if i == 1 {
            encoded[m / 2] ^= 0x10;
        }
        line.extend_from_slice(&encoded[..m]);
    }
    y.write_all(&line).unwrap();
    let mut got = Vec::new();
    for round in 0..1000 {
        a.poll(Instant::from_millis(round), &mut da);
        while let Ok((data, _)) = a.udp().recv() {
            got.push(data.to_vec());
        }
        if da.counters().decoder.bytes == line.len() as u64 {
            break;
        }
    }
    assert_eq!(got, [b"one".to_vec(), b"three".to_vec()]);
    let c = da.counters();
    assert_eq!((c.rx_frames, c.decoder.errors()), (2, 1), "{c:?}");
}

/// Two UDP links over real sockets bound to `ip` on ephemeral ports.
fn udp_pair(ip: &str, mtu: usize) -> Option<(UdpLink, UdpLink)> {
    let any: SocketAddr = format!("{ip}:0").parse().unwrap();
    let (Ok(x), Ok(y)) = (UdpSocket::bind(any), UdpSocket::bind(any)) else {
        return None;
    };
    let (xa, ya) = (x.local_addr().unwrap(), y.local_addr().unwrap());
    Some((
        UdpLink::new(x, ya, mtu).unwrap(),
        UdpLink::new(y, xa, mtu).unwrap(),
    ))
}

fn udp_megabyte(ip: &str) {
    let Some((mut da, mut db)) = udp_pair(ip, 1400) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot bind UDP sockets on {ip}"
        );
        eprintln!("skipping: no {ip} on this machine");
        return;
    };
    let mut a = Node::new(&mut da, 1, Instant::ZERO);
    let mut b = Node::new(&mut db, 2, Instant::ZERO);
    let mut transfer = TcpTransfer::start(&mut a, &mut b, 1 << 20, 9);
    let limit = std::time::Duration::from_secs(120);
    drive_real(&mut da, &mut db, &mut a, &mut b, &mut transfer, limit);
    transfer.check();
    for link in [&da, &db] {
        let c = link.counters();
        assert_eq!(
            (c.too_big, c.wrong_source, c.oversize_rx),
            (0, 0, 0),
            "{c:?}"
        );
    }
    assert!(da.counters().tx_frames > 700);
}

#[test]
fn udp_tcp_megabyte_over_ipv4_loopback() {
    udp_megabyte("127.0.0.1");
}

#[test]
fn udp_tcp_megabyte_over_ipv6_loopback() {
    udp_megabyte("[::1]");
}

/// The frames of a capture with the given source address, in order.
fn frames_from(capture: &[u8], src: Ipv6Address) -> Vec<Vec<u8>> {
    let reader = Reader::new(capture).unwrap();
    assert_eq!(reader.link_type(), Some(LinkType::Raw));
    reader
        .map(|r| r.unwrap().ip().unwrap().to_vec())
        .filter(|f| frame::parse(f).unwrap().src() == std::net::IpAddr::V6(src))
        .collect()
}

fn tshark_check(path: &PathBuf) {
    let have_tshark = Command::new("tshark").arg("--version").output().is_ok();
    if !have_tshark {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is required under CI=true (apt-get install tshark)"
        );
        eprintln!("skipping the tshark check: tshark is not installed");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/tshark-check");
    let out = Command::new(script).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "tshark-check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn pcap_tap_records_what_crossed() {
    let config = MemoryLinkConfig {
        latency: Duration::from_millis(10),
        ..Default::default()
    };
    let mut link = memory_link(config, 10);
    let (mut a, mut b) = memory_nodes(&mut link);
    // One capture per end, as a capture on each host would be.
    let rec_a = PcapRecorder::new(Writer::new(Vec::new(), LinkType::Raw).unwrap());
    let rec_b = PcapRecorder::new(Writer::new(Vec::new(), LinkType::Raw).unwrap());
    let mut echo = UdpEcho {
        count: 10,
        sent: 0,
        echoed: Vec::new(),
    };
    let mut transfer = TcpTransfer::start(&mut a, &mut b, 20_000, 11);
    struct Both<'g>(&'g mut UdpEcho, &'g mut TcpTransfer);
    impl Goal for Both<'_> {
        fn pump(&mut self, a: &mut Node, b: &mut Node) -> bool {
            let udp = self.0.pump(a, b);
            self.1.pump(a, b) && udp
        }
    }
    // Each end is tapped with its own recorder on every poll.
    let limit = Duration::from_secs(60);
    let mut now = Instant::ZERO;
    let mut goal = Both(&mut echo, &mut transfer);
    loop {
        assert!(now < Instant::ZERO + limit, "exchange did not finish");
        a.poll(now, &mut rec_a.tap(link.end(Side::A)));
        b.poll(now, &mut rec_b.tap(link.end(Side::B)));
        if goal.pump(&mut a, &mut b) {
            break;
        }
        let next = next_event(&link, &mut a, &mut b, now).unwrap_or(now + Duration::from_millis(1));
        now = next.max(now + Duration::from_micros(1));
    }
    transfer.check();

    let (ca, cb) = (rec_a.counters(), rec_b.counters());
    assert_eq!(
        (ca.write_errors, ca.not_ip, cb.write_errors, cb.not_ip),
        (0, 0, 0, 0)
    );
    let (la, lb) = (link.counters(Side::A), link.counters(Side::B));
    assert_eq!(ca.transmitted, la.sent);
    assert_eq!(cb.received, la.delivered);
    assert_eq!(cb.transmitted, lb.sent);
    assert_eq!(ca.received, lb.delivered);

    let cap_a = rec_a.into_writer().into_inner().unwrap();
    let cap_b = rec_b.into_writer().into_inner().unwrap();
    // What A sent is what B received, frame for frame, and the other way round (minus frames
    // still on the link when the exchange ended).
    let (a_sent, b_got) = (frames_from(&cap_a, addr(1)), frames_from(&cap_b, addr(1)));
    let (b_sent, a_got) = (frames_from(&cap_b, addr(2)), frames_from(&cap_a, addr(2)));
    assert_eq!(a_sent[..b_got.len()], b_got[..]);
    assert_eq!(b_sent[..a_got.len()], a_got[..]);
    assert!(
        b_got.len() > 20 && a_got.len() > 10,
        "{} {}",
        b_got.len(),
        a_got.len()
    );

    // Timestamps are the virtual times of the polls: non-decreasing, and a frame arrives no
    // earlier than the link latency after it was sent.
    let times = |cap: &[u8], src: Ipv6Address| -> Vec<std::time::Duration> {
        Reader::new(cap)
            .unwrap()
            .map(Result::unwrap)
            .filter(|r| frame::parse(r.ip().unwrap()).unwrap().src() == std::net::IpAddr::V6(src))
            .map(|r| r.timestamp)
            .collect()
    };
    let (sent_at, got_at) = (times(&cap_a, addr(1)), times(&cap_b, addr(1)));
    assert!(sent_at.windows(2).all(|w| w[0] <= w[1]));
    for (s, g) in sent_at.iter().zip(&got_at) {
        assert!(
            *g >= *s + std::time::Duration::from_millis(10),
            "{s:?} -> {g:?}"
        );
    }

    let dir = std::env::temp_dir().join(format!("bridgeless-devices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("memory-link-a.pcap");
    std::fs::write(&path, &cap_a).unwrap();
    tshark_check(&path);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pcap_tap_write_failure_does_not_stop_traffic() {
    /// Accepts the file header, then fails every write.
    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 >= 24 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut link = memory_link(MemoryLinkConfig::default(), 12);
    let (mut a, mut b) = memory_nodes(&mut link);
    let recorder = PcapRecorder::new(Writer::new(Full(0), LinkType::Raw).unwrap());
    let mut transfer = TcpTransfer::start(&mut a, &mut b, 50_000, 13);
    drive_memory_tapped(
        &mut link,
        &mut a,
        &mut b,
        &mut transfer,
        Duration::from_secs(60),
        Some(&recorder),
    );
    transfer.check();
    let c = recorder.counters();
    assert!(
        c.write_errors > 0 && c.received + c.transmitted == 0,
        "{c:?}"
    );
    assert!(recorder.take_error().is_some());
}
