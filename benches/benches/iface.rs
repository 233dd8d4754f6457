//! TCP bulk throughput between two smoltcp 0.14 stacks in memory, in one run:
//!
//! - **bridgeless**: `Medium::Ip` interfaces over a bridgeless-iface
//!   [`MemoryLink`](bridgeless_iface::device::memory::MemoryLink): bare IPv6 frames, no neighbour
//!   resolution;
//! - **ethernet**: the same stacks on `Medium::Ethernet` over an in-memory Ethernet pair written
//!   here ([`EtherLink`]), built like the `MemoryLink` without faults (bounded rings of
//!   preallocated frame slots; smoltcp builds each frame in its slot and the receiver reads it
//!   there: no copy by the link on either path), so that the medium is the only difference.
//!   smoltcp resolves the peer with NDP first, which is part of what Ethernet costs.
//!
//! Both paths use the same addresses (fd00::1/64 and fd00::2/64), socket buffers, transfer,
//! driver loop ([`transfer`]) and per-frame byte counting ([`Counted`]). Time is virtual: it
//! advances in small steps only when neither stack made progress, and nothing sleeps. Before
//! anything is timed, each path carries a deterministic pattern that the receiver checks byte
//! for byte, and the bytes and frames that crossed each link are printed.
//!
//! Each path is a [`Pair`] (two stacks and their link); [`run_bridgeless`] drives one transfer on
//! path A and returns what crossed the link. To measure bridgeless-iface's `Host` wrapper in
//! place of a bare `Interface`, implement [`Pair`] for it.
//!
//! Path A is measured twice: over a bare smoltcp `Interface` and through bridgeless-iface's
//! `Host` (receive filter, router discovery, MLD), which is what a user of the crate runs. The
//! `Host` computes the TCP checksums itself by default, in place of smoltcp (its receive filter
//! reports them offloaded to smoltcp and verifies and fills them with
//! `bridgeless_iface::checksum`); **`bridgeless_host_mtu1500_smoltcp_checksums`** is the same
//! `Host` with that turned off (`HostConfig::software_checksums = false`), smoltcp computing
//! them as on the other paths, to show what each part is worth.
//!
//! A second configuration, **`csum_offload`**, runs the same three paths with every device
//! reporting TCP/UDP checksum offload (as Linux loopback and veth do); each is compared with the
//! Ethernet path of its own configuration. A last variant, **bridgeless with a jumbo MTU**, shows
//! what a point-to-point link that is not Ethernet may do; it is not part of the like-for-like
//! comparison. Results and the command are recorded in BENCHMARKS.md.

use std::sync::OnceLock;

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use criterion::{Criterion, Throughput, criterion_group};
use smoltcp::iface::{
    Config, Context, Interface, PollResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv6Address};

/// Payload bytes carried per timed transfer.
const TRANSFER: usize = 16 << 20;
/// Receive and transmit buffer of every TCP socket: large enough that the window is never the
/// bottleneck (smoltcp scales the window to match).
const SOCKET_BUFFER: usize = 256 << 10;
/// The IP MTU of the like-for-like comparison.
const IP_MTU: usize = 1500;
/// Frame slots per direction: a whole window of full-size segments (256 KiB / 1440 ≈ 183) plus
/// acknowledgements, since one smoltcp `poll` sends everything the window allows.
const SLOTS: usize = 256;
/// Ethernet header: destination, source, EtherType. The in-memory pair carries no FCS.
const ETHERNET_HEADER: usize = 14;
/// The largest Ethernet frame at IP MTU 1500 (smoltcp's `max_transmission_unit` on Ethernet).
const ETHERNET_FRAME: usize = IP_MTU + ETHERNET_HEADER;
/// Virtual time step taken when neither stack can make progress (delayed ACKs, NDP).
const IDLE_STEP: Duration = Duration::from_micros(100);
/// Gives up on a transfer that makes no progress for this long in virtual time.
const STALL_LIMIT: Duration = Duration::from_secs(30);
/// Rounds of the interleaved timing printed before criterion's.
const INTERLEAVED_ROUNDS: usize = 101;
/// The TCP port the receiver listens on.
const PORT: u16 = 5001;
/// The period of the payload pattern: a prime, so it never lines up with segment boundaries.
const PERIOD: usize = 65_521;

const ADDR_A: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const ADDR_B: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// Two copies of the pattern back to back, so the `PERIOD` bytes from any offset are one slice.
fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let one: Vec<u8> = (0..PERIOD)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
            .collect();
        [one.as_slice(), one.as_slice()].concat()
    })
}

/// The stream bytes from `offset` on (at most `PERIOD` of them).
fn stream_at(offset: usize) -> &'static [u8] {
    let start = offset % PERIOD;
    &pattern()[start..start + PERIOD]
}

/// What crossed one direction of a link during a transfer.
#[derive(Debug, Clone, Copy, Default)]
struct Direction {
    /// Frames handed to the link.
    frames: u64,
    /// Their bytes, as carried by the link (link header included, no FCS).
    bytes: u64,
}

/// What one transfer did.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Payload bytes the receiver read.
    payload: u64,
    /// The sender's direction: A → B (data segments, plus handshake and NDP).
    a_to_b: Direction,
    /// The receiver's direction: B → A (acknowledgements and window updates).
    b_to_a: Direction,
    /// Frames a full queue refused (must be 0: the comparison assumes no loss).
    dropped: u64,
    /// Times the driver advanced virtual time because nothing moved.
    idle_steps: u64,
    /// Virtual time the transfer took.
    elapsed: Duration,
}

impl Tally {
    /// Bytes that crossed the link in both directions.
    fn link_bytes(&self) -> u64 {
        self.a_to_b.bytes + self.b_to_a.bytes
    }
}

/// A device whose transmitted frames and bytes are counted. Both paths wrap their device in it,
/// so the counting costs the same on each. With `offload`, it also reports TCP and UDP checksum
/// offload (`Checksum::None`: smoltcp neither computes nor verifies them), as Linux loopback and
/// veth devices do; the same on every path of that configuration.
struct Counted<'c, D> {
    inner: D,
    counts: &'c mut Direction,
    offload: bool,
}

struct CountedTx<'c, T> {
    inner: T,
    counts: &'c mut Direction,
}

impl<T: phy::TxToken> phy::TxToken for CountedTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.counts.frames += 1;
        self.counts.bytes += len as u64;
        self.inner.consume(len, f)
    }
}

impl<D: Device> Device for Counted<'_, D> {
    type RxToken<'t>
        = D::RxToken<'t>
    where
        Self: 't;
    type TxToken<'t>
        = CountedTx<'t, D::TxToken<'t>>
    where
        Self: 't;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        Some((
            rx,
            CountedTx {
                inner: tx,
                counts: self.counts,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        Some(CountedTx {
            inner: self.inner.transmit(now)?,
            counts: self.counts,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.inner.capabilities();
        if self.offload {
            caps.checksum.tcp = Checksum::None;
            caps.checksum.udp = Checksum::None;
        }
        caps
    }
}

/// Two stacks joined by a link, as the driver loop sees them. A later version of path A can
/// implement this with bridgeless-iface's `Host` in place of a bare `Interface`.
trait Pair {
    /// Starts over: new interfaces (fresh TCP and neighbour state), an empty link and zeroed
    /// counts. The link's storage is kept, so a timed transfer allocates nothing.
    fn reset(&mut self);
    /// Polls the stack at `side` with its sockets; `true` if a socket's state may have changed.
    fn poll(&mut self, side: Side, now: Instant, sockets: &mut SocketSet<'_>) -> bool;
    /// The stack's context, to open a connection.
    fn context(&mut self, side: Side) -> &mut Context;
    /// Frames and bytes sent so far in each direction: (A → B, B → A).
    fn counts(&self) -> (Direction, Direction);
    /// Frames refused or lost by the link since the last reset, both directions.
    fn dropped(&self) -> u64;
}

/// `device` as the interface sees it when it is created: smoltcp 0.14 reads the capabilities
/// (checksum offload included) once, in `Interface::new`, so the offload setting must be
/// visible then, not only in [`Stacks::poll`].
fn at_creation<D: Device, T>(
    device: D,
    offload: bool,
    f: impl FnOnce(&mut Counted<'_, D>) -> T,
) -> T {
    let mut unused = Direction::default();
    f(&mut Counted {
        inner: device,
        counts: &mut unused,
        offload,
    })
}

/// Interface settings shared by both paths; only the hardware address differs.
fn interface<D: Device>(
    hardware: HardwareAddress,
    addr: Ipv6Address,
    device: D,
    offload: bool,
) -> Interface {
    let mut config = Config::new(hardware);
    config.random_seed = 0x5eed;
    let mut iface = at_creation(device, offload, |device| {
        Interface::new(config, device, Instant::ZERO)
    });
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv6(addr), 64))
            .expect("one address fits");
    });
    iface
}

/// The two stacks of a pair, with what each has sent.
struct Stacks {
    ifaces: [Interface; 2],
    counts: [Direction; 2],
    /// Devices report TCP/UDP checksum offload (see [`Counted`]).
    offload: bool,
}

impl Stacks {
    fn new(a: Interface, b: Interface, offload: bool) -> Self {
        Stacks {
            ifaces: [a, b],
            counts: [Direction::default(); 2],
            offload,
        }
    }

    /// Polls the stack at `side` over `device`, counting what it sends in that side's
    /// direction; `true` if a socket's state may have changed.
    fn poll<D: Device>(
        &mut self,
        side: Side,
        device: D,
        now: Instant,
        sockets: &mut SocketSet<'_>,
    ) -> bool {
        let ([a, b], [iface_a, iface_b]) = (&mut self.counts, &mut self.ifaces);
        let (counts, iface) = match side {
            Side::A => (a, iface_a),
            Side::B => (b, iface_b),
        };
        let mut device = Counted {
            inner: device,
            counts,
            offload: self.offload,
        };
        iface.poll(now, &mut device, sockets) == PollResult::SocketStateChanged
    }

    fn context(&mut self, side: Side) -> &mut Context {
        let [a, b] = &mut self.ifaces;
        match side {
            Side::A => a.context(),
            Side::B => b.context(),
        }
    }

    fn counts(&self) -> (Direction, Direction) {
        (self.counts[0], self.counts[1])
    }
}

/// Path A through the crate's `Host` (receive filter, router discovery and MLD around the same
/// smoltcp interface), with the same static addresses: what a user of the crate runs.
struct BridgelessHost {
    link: Box<MemoryLink<NoFaults, SLOTS, IP_MTU>>,
    hosts: [Host; 2],
    counts: [Direction; 2],
    dropped_before: u64,
    offload: bool,
    /// `HostConfig::software_checksums` (on by default).
    software_checksums: bool,
}

fn host_on(
    link: &mut MemoryLink<NoFaults, SLOTS, IP_MTU>,
    side: Side,
    addr: Ipv6Address,
    offload: bool,
    software_checksums: bool,
) -> Host {
    let iid = StableIid::new([1; 32], b"bench").expect("a short name");
    let mut config = HostConfig::new(rd::Config::new(iid, IP_MTU as u32), 0x5eed);
    config.software_checksums = software_checksums;
    let mut host = at_creation(link.end(side), offload, |device| {
        Host::new(config, device, Instant::ZERO)
    });
    host.interface_mut().update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv6(addr), 64))
            .expect("link-local + one address fit");
    });
    host
}

impl BridgelessHost {
    fn new(offload: bool, software_checksums: bool) -> Self {
        let config = MemoryLinkConfig {
            mtu: IP_MTU,
            ..MemoryLinkConfig::default()
        };
        let mut link = Box::new(MemoryLink::new(config, NoFaults));
        let hosts = [
            host_on(&mut link, Side::A, ADDR_A, offload, software_checksums),
            host_on(&mut link, Side::B, ADDR_B, offload, software_checksums),
        ];
        BridgelessHost {
            link,
            hosts,
            counts: [Direction::default(); 2],
            dropped_before: 0,
            offload,
            software_checksums,
        }
    }

    fn dropped_total(&self) -> u64 {
        let (a, b) = (self.link.counters(Side::A), self.link.counters(Side::B));
        a.dropped_full + b.dropped_full + a.too_big + b.too_big + a.lost + b.lost
    }
}

impl Pair for BridgelessHost {
    fn reset(&mut self) {
        let far = Instant::from_secs(1 << 30);
        for side in [Side::A, Side::B] {
            let mut end = self.link.end(side);
            while let Some((rx, _)) = end.receive(far) {
                phy::RxToken::consume(rx, |_| ());
            }
        }
        let software = self.software_checksums;
        self.hosts = [
            host_on(&mut self.link, Side::A, ADDR_A, self.offload, software),
            host_on(&mut self.link, Side::B, ADDR_B, self.offload, software),
        ];
        self.counts = [Direction::default(); 2];
        self.dropped_before = self.dropped_total();
    }

    fn poll(&mut self, side: Side, now: Instant, sockets: &mut SocketSet<'_>) -> bool {
        let i = match side {
            Side::A => 0,
            Side::B => 1,
        };
        let mut device = Counted {
            inner: self.link.end(side),
            counts: &mut self.counts[i],
            offload: self.offload,
        };
        self.hosts[i].poll(now, &mut device, sockets, &mut NoFaults)
            == PollResult::SocketStateChanged
    }

    fn context(&mut self, side: Side) -> &mut Context {
        let i = match side {
            Side::A => 0,
            Side::B => 1,
        };
        self.hosts[i].interface_mut().context()
    }

    fn counts(&self) -> (Direction, Direction) {
        (self.counts[0], self.counts[1])
    }

    fn dropped(&self) -> u64 {
        self.dropped_total() - self.dropped_before
    }
}

/// Path A: two `Medium::Ip` stacks over a bridgeless-iface `MemoryLink`.
struct Bridgeless<const N: usize, const MTU: usize> {
    link: Box<MemoryLink<NoFaults, N, MTU>>,
    stacks: Stacks,
    /// `dropped_total()` at the last reset (the link's counters are cumulative).
    dropped_before: u64,
}

impl<const N: usize, const MTU: usize> Bridgeless<N, MTU> {
    fn new(mtu: usize, offload: bool) -> Self {
        let config = MemoryLinkConfig {
            mtu,
            ..MemoryLinkConfig::default()
        };
        let mut link = Box::new(MemoryLink::new(config, NoFaults));
        let a = interface(HardwareAddress::Ip, ADDR_A, link.end(Side::A), offload);
        let b = interface(HardwareAddress::Ip, ADDR_B, link.end(Side::B), offload);
        Bridgeless {
            link,
            stacks: Stacks::new(a, b, offload),
            dropped_before: 0,
        }
    }

    fn dropped_total(&self) -> u64 {
        let (a, b) = (self.link.counters(Side::A), self.link.counters(Side::B));
        a.dropped_full + b.dropped_full + a.too_big + b.too_big + a.lost + b.lost
    }
}

impl<const N: usize, const MTU: usize> Pair for Bridgeless<N, MTU> {
    fn reset(&mut self) {
        // Drain what the last transfer left in flight (its final acknowledgements).
        let far = Instant::from_secs(1 << 30);
        for side in [Side::A, Side::B] {
            let mut end = self.link.end(side);
            while let Some((rx, _)) = end.receive(far) {
                phy::RxToken::consume(rx, |_| ());
            }
        }
        let offload = self.stacks.offload;
        let a = interface(HardwareAddress::Ip, ADDR_A, self.link.end(Side::A), offload);
        let b = interface(HardwareAddress::Ip, ADDR_B, self.link.end(Side::B), offload);
        self.stacks = Stacks::new(a, b, offload);
        self.dropped_before = self.dropped_total();
    }

    fn poll(&mut self, side: Side, now: Instant, sockets: &mut SocketSet<'_>) -> bool {
        self.stacks.poll(side, self.link.end(side), now, sockets)
    }

    fn context(&mut self, side: Side) -> &mut Context {
        self.stacks.context(side)
    }

    fn counts(&self) -> (Direction, Direction) {
        self.stacks.counts()
    }

    fn dropped(&self) -> u64 {
        self.dropped_total() - self.dropped_before
    }
}

/// The `MemoryLink`'s RNG. With `Faults::NONE` it is never asked for a number.
struct NoFaults;

impl rand_core::RngCore for NoFaults {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0);
    }
}

/// One direction of the Ethernet pair: a ring of preallocated frame slots, as in `MemoryLink`
/// without faults: smoltcp builds each frame straight in the slot it will be read from, and the
/// receiver reads it there (no copy on either side). `scratch` takes a frame only when the ring
/// is full, to be dropped.
struct EtherQueue {
    slots: Vec<[u8; ETHERNET_FRAME]>,
    lens: Vec<usize>,
    head: usize,
    len: usize,
    scratch: Box<[u8; ETHERNET_FRAME]>,
    dropped: u64,
}

impl EtherQueue {
    fn new() -> Self {
        EtherQueue {
            slots: vec![[0; ETHERNET_FRAME]; SLOTS],
            lens: vec![0; SLOTS],
            head: 0,
            len: 0,
            scratch: Box::new([0; ETHERNET_FRAME]),
            dropped: 0,
        }
    }
}

/// Both directions of an in-memory Ethernet link: index 0 holds what A sent.
struct EtherLink {
    queues: [EtherQueue; 2],
}

impl EtherLink {
    fn end(&mut self, side: Side) -> EtherEnd<'_> {
        let [a, b] = &mut self.queues;
        let (tx, rx) = if side == Side::A { (a, b) } else { (b, a) };
        EtherEnd { tx, rx }
    }
}

/// One end of an [`EtherLink`]: a smoltcp `Device` on `Medium::Ethernet`.
struct EtherEnd<'l> {
    tx: &'l mut EtherQueue,
    rx: &'l mut EtherQueue,
}

struct EtherRx<'l> {
    queue: &'l mut EtherQueue,
}

struct EtherTx<'l> {
    queue: &'l mut EtherQueue,
}

impl phy::RxToken for EtherRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let queue = self.queue;
        let index = queue.head;
        let result = f(&queue.slots[index][..queue.lens[index]]);
        queue.head = (index + 1) % SLOTS;
        queue.len -= 1;
        result
    }
}

impl phy::TxToken for EtherTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let queue = self.queue;
        if queue.len == SLOTS {
            queue.dropped += 1;
            return f(&mut queue.scratch[..len]);
        }
        let index = (queue.head + queue.len) % SLOTS;
        let result = f(&mut queue.slots[index][..len]);
        queue.lens[index] = len;
        queue.len += 1;
        result
    }
}

impl Device for EtherEnd<'_> {
    type RxToken<'t>
        = EtherRx<'t>
    where
        Self: 't;
    type TxToken<'t>
        = EtherTx<'t>
    where
        Self: 't;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.rx.len == 0 {
            return None;
        }
        Some((EtherRx { queue: self.rx }, EtherTx { queue: self.tx }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(EtherTx { queue: self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETHERNET_FRAME;
        caps
    }
}

/// A locally administered MAC address.
fn mac(last: u8) -> HardwareAddress {
    HardwareAddress::Ethernet(EthernetAddress([0x02, 0, 0, 0, 0, last]))
}

/// Path B: two `Medium::Ethernet` stacks over an [`EtherLink`].
struct Ethernet {
    link: EtherLink,
    stacks: Stacks,
}

impl Ethernet {
    fn new(offload: bool) -> Self {
        let mut link = EtherLink {
            queues: [EtherQueue::new(), EtherQueue::new()],
        };
        let a = interface(mac(1), ADDR_A, link.end(Side::A), offload);
        let b = interface(mac(2), ADDR_B, link.end(Side::B), offload);
        Ethernet {
            link,
            stacks: Stacks::new(a, b, offload),
        }
    }
}

impl Pair for Ethernet {
    fn reset(&mut self) {
        for queue in &mut self.link.queues {
            queue.head = 0;
            queue.len = 0;
            queue.dropped = 0;
        }
        let offload = self.stacks.offload;
        let a = interface(mac(1), ADDR_A, self.link.end(Side::A), offload);
        let b = interface(mac(2), ADDR_B, self.link.end(Side::B), offload);
        self.stacks = Stacks::new(a, b, offload);
    }

    fn poll(&mut self, side: Side, now: Instant, sockets: &mut SocketSet<'_>) -> bool {
        self.stacks.poll(side, self.link.end(side), now, sockets)
    }

    fn context(&mut self, side: Side) -> &mut Context {
        self.stacks.context(side)
    }

    fn counts(&self) -> (Direction, Direction) {
        self.stacks.counts()
    }

    fn dropped(&self) -> u64 {
        self.link.queues[0].dropped + self.link.queues[1].dropped
    }
}

/// A TCP socket with its own buffers.
fn socket<'b>(rx: &'b mut [u8], tx: &'b mut [u8]) -> tcp::Socket<'b> {
    tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx))
}

/// The memory a transfer uses besides the link: the four socket buffers and the receiving
/// application's buffer. Allocated once per path and reused, so timed transfers allocate
/// nothing and touch only warm memory.
struct Buffers {
    sockets: [Vec<u8>; 4],
    app: Vec<u8>,
}

impl Buffers {
    fn new() -> Self {
        Buffers {
            sockets: std::array::from_fn(|_| vec![0x55; SOCKET_BUFFER]),
            app: vec![0x55; 64 << 10],
        }
    }
}

/// The driver loop, the same for every path: after [`Pair::reset`], A connects to B and writes
/// `bytes` of the pattern; B reads them into a 64 KiB application buffer (checking each byte
/// if `verify`). The stacks are polled in turn; virtual time advances by [`IDLE_STEP`] only when
/// a round moved no frame and no payload byte.
fn transfer(pair: &mut dyn Pair, buffers: &mut Buffers, bytes: usize, verify: bool) -> Tally {
    pair.reset();
    let [a_rx, a_tx, b_rx, b_tx] = &mut buffers.sockets;
    let app = &mut buffers.app;
    let mut storage_a = [SocketStorage::EMPTY];
    let mut storage_b = [SocketStorage::EMPTY];
    let mut sockets_a = SocketSet::new(&mut storage_a[..]);
    let mut sockets_b = SocketSet::new(&mut storage_b[..]);
    let mut listener = socket(b_rx, b_tx);
    listener.listen(PORT).expect("listen");
    let handle_b: SocketHandle = sockets_b.add(listener);
    let mut client = socket(a_rx, a_tx);
    client
        .connect(
            pair.context(Side::A),
            (IpAddress::Ipv6(ADDR_B), PORT),
            49_152,
        )
        .expect("connect");
    let handle_a = sockets_a.add(client);

    let (mut sent, mut received) = (0usize, 0usize);
    let mut now = Instant::ZERO;
    let mut idle_steps = 0u64;
    let mut stalled = Duration::ZERO;
    while received < bytes {
        let before = (pair.counts(), sent, received);
        pair.poll(Side::A, now, &mut sockets_a);
        let client = sockets_a.get_mut::<tcp::Socket<'_>>(handle_a);
        if sent < bytes && client.may_send() {
            let chunk = stream_at(sent);
            let chunk = &chunk[..chunk.len().min(bytes - sent)];
            sent += client.send_slice(chunk).expect("send");
        }
        pair.poll(Side::B, now, &mut sockets_b);
        let server = sockets_b.get_mut::<tcp::Socket<'_>>(handle_b);
        while server.can_recv() {
            let n = server.recv_slice(app).expect("recv");
            if verify {
                let mut checked = 0;
                while checked < n {
                    let expected = stream_at(received + checked);
                    let m = (n - checked).min(expected.len());
                    assert_eq!(
                        &app[checked..checked + m],
                        &expected[..m],
                        "stream differs at byte {}",
                        received + checked
                    );
                    checked += m;
                }
            }
            received += n;
        }
        let after = (pair.counts(), sent, received);
        let moved = (before.0.0.frames, before.0.1.frames, before.1, before.2)
            != (after.0.0.frames, after.0.1.frames, after.1, after.2);
        if !moved {
            now += IDLE_STEP;
            idle_steps += 1;
            stalled += IDLE_STEP;
            assert!(
                stalled < STALL_LIMIT,
                "transfer stalled at {received} of {bytes} bytes"
            );
        } else {
            stalled = Duration::ZERO;
        }
    }
    let (a_to_b, b_to_a) = pair.counts();
    Tally {
        payload: received as u64,
        a_to_b,
        b_to_a,
        dropped: pair.dropped(),
        idle_steps,
        elapsed: now - Instant::ZERO,
    }
}

/// Path A: one transfer of `bytes` between two `Medium::Ip` stacks over a `MemoryLink` with IP
/// MTU 1500, built for the occasion. Returns what crossed the link.
fn run_bridgeless(bytes: usize) -> Tally {
    let mut pair = Bridgeless::<SLOTS, IP_MTU>::new(IP_MTU, false);
    transfer(&mut pair, &mut Buffers::new(), bytes, false)
}

/// One labelled path of the benchmark.
struct Path {
    name: &'static str,
    /// The path its speed-up is measured against: Ethernet with the same checksum settings.
    baseline: &'static str,
    make: fn() -> Box<dyn Pair>,
}

/// The Ethernet path every default-configuration path is compared with.
const ETHERNET: &str = "ethernet_mtu1500";
/// The Ethernet path of the checksum-offload configuration.
const ETHERNET_OFFLOAD: &str = "ethernet_mtu1500_csum_offload";

/// The paths, like-for-like first. `Bridgeless<N, MTU>`: `N` frame slots of `MTU` bytes per
/// direction, enough for a window of full-size segments plus acknowledgements. The
/// `csum_offload` paths are a second configuration in which every device (both media alike)
/// reports TCP/UDP checksum offload, as Linux loopback and veth do; they are compared with
/// each other only.
fn paths() -> [Path; 9] {
    [
        Path {
            name: "bridgeless_ip_mtu1500",
            baseline: ETHERNET,
            make: || Box::new(Bridgeless::<SLOTS, IP_MTU>::new(IP_MTU, false)),
        },
        Path {
            name: "bridgeless_host_mtu1500",
            baseline: ETHERNET,
            make: || Box::new(BridgelessHost::new(false, true)),
        },
        Path {
            name: "bridgeless_host_mtu1500_smoltcp_checksums",
            baseline: ETHERNET,
            make: || Box::new(BridgelessHost::new(false, false)),
        },
        Path {
            name: ETHERNET,
            baseline: ETHERNET,
            make: || Box::new(Ethernet::new(false)),
        },
        Path {
            name: "bridgeless_ip_mtu1500_csum_offload",
            baseline: ETHERNET_OFFLOAD,
            make: || Box::new(Bridgeless::<SLOTS, IP_MTU>::new(IP_MTU, true)),
        },
        Path {
            name: "bridgeless_host_mtu1500_csum_offload",
            baseline: ETHERNET_OFFLOAD,
            make: || Box::new(BridgelessHost::new(true, true)),
        },
        Path {
            name: ETHERNET_OFFLOAD,
            baseline: ETHERNET_OFFLOAD,
            make: || Box::new(Ethernet::new(true)),
        },
        Path {
            name: "bridgeless_ip_mtu9000_jumbo",
            baseline: ETHERNET,
            make: || Box::new(Bridgeless::<64, 9000>::new(9000, false)),
        },
        Path {
            name: "bridgeless_ip_mtu65535_jumbo",
            baseline: ETHERNET,
            make: || Box::new(Bridgeless::<16, 65535>::new(65535, false)),
        },
    ]
}

/// Checks every path carries the stream intact, then prints the bytes per frame of each.
fn check_and_report() {
    eprintln!(
        "TCP bulk transfer of {TRANSFER} bytes, socket buffers {SOCKET_BUFFER} bytes; \
         link bytes include the link header (Ethernet: 14, no FCS; bare IP: none)"
    );
    eprintln!(
        "| path | A→B frames | A→B bytes/frame | B→A frames | B→A bytes/frame | link bytes / payload byte | idle steps | virtual ms |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for path in paths() {
        let mut pair = (path.make)();
        let mut buffers = Buffers::new();
        let tally = transfer(pair.as_mut(), &mut buffers, TRANSFER, true);
        // A second transfer over the same pair and buffers, as timed runs do, gives the same.
        let again = transfer(pair.as_mut(), &mut buffers, TRANSFER, true);
        assert_eq!(
            (again.a_to_b.bytes, again.b_to_a.bytes, again.dropped),
            (tally.a_to_b.bytes, tally.b_to_a.bytes, 0),
            "{}: a reused pair behaves the same",
            path.name
        );
        assert_eq!(tally.payload, TRANSFER as u64, "{}: payload", path.name);
        assert_eq!(tally.dropped, 0, "{}: the link dropped frames", path.name);
        let per_frame = |d: Direction| d.bytes as f64 / d.frames.max(1) as f64;
        eprintln!(
            "| {} | {} | {:.1} | {} | {:.1} | {:.4} | {} | {:.1} |",
            path.name,
            tally.a_to_b.frames,
            per_frame(tally.a_to_b),
            tally.b_to_a.frames,
            per_frame(tally.b_to_a),
            tally.link_bytes() as f64 / tally.payload as f64,
            tally.idle_steps,
            tally.elapsed.total_micros() as f64 / 1000.0,
        );
    }
    // The entry point a later `Host`-based path A replaces must agree with the checked one.
    assert_eq!(run_bridgeless(1 << 20).payload, 1 << 20);
}

/// Times the paths in alternation, one transfer each per round, so that the load other
/// processes put on the machine falls on all of them alike; prints each path's median and the
/// median of the per-round ratios to the Ethernet path. Criterion's figures, which time each path
/// in its own stretch of seconds, follow.
fn interleaved(rounds: usize) {
    let paths = paths();
    let mut pairs: Vec<Box<dyn Pair>> = paths.iter().map(|p| (p.make)()).collect();
    // One set of socket buffers for all, so that alternating evicts only the links' storage.
    let mut buffers = Buffers::new();
    let mut times = vec![Vec::with_capacity(rounds); paths.len()];
    for _ in 0..rounds {
        for (pair, times) in pairs.iter_mut().zip(&mut times) {
            let start = std::time::Instant::now();
            std::hint::black_box(transfer(pair.as_mut(), &mut buffers, TRANSFER, false));
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let unsorted = times.clone();
    eprintln!("Interleaved, {rounds} rounds of one {TRANSFER}-byte transfer per path:");
    eprintln!("| path | median ms | Gbit/s | median per-round speed-up | over |");
    eprintln!("|---|---:|---:|---:|---|");
    for (path, times) in paths.iter().zip(&mut times) {
        let baseline_at = paths
            .iter()
            .position(|p| p.name == path.baseline)
            .expect("the baseline path is measured");
        let mut ratios: Vec<f64> = unsorted[baseline_at]
            .iter()
            .zip(times.iter())
            .map(|(e, t)| e / t)
            .collect();
        let ratio = median(&mut ratios);
        let t = median(times);
        eprintln!(
            "| {} | {:.3} | {:.2} | {:.3}x | {} |",
            path.name,
            t * 1e3,
            TRANSFER as f64 * 8.0 / t / 1e9,
            ratio,
            path.baseline
        );
    }
}

fn tcp_bulk(c: &mut Criterion) {
    check_and_report();
    interleaved(INTERLEAVED_ROUNDS);
    let mut group = c.benchmark_group("tcp_bulk");
    group.throughput(Throughput::Bytes(TRANSFER as u64));
    group.sample_size(20);
    for path in paths() {
        let mut pair = (path.make)();
        let mut buffers = Buffers::new();
        group.bench_function(path.name, |b| {
            b.iter(|| std::hint::black_box(transfer(pair.as_mut(), &mut buffers, TRANSFER, false)))
        });
    }
    group.finish();
}

criterion_group!(benches, tcp_bulk);

/// `criterion_main!`, on a thread with a large stack: `MemoryLink::new` builds the link (2.4 MB
/// for the 64 KiB-MTU variant) on the stack before it is boxed.
///
/// With `BRIDGELESS_IFACE_PROFILE=<path name>` it only runs that path once on 4 MiB, unchecked, for
/// `valgrind --tool=callgrind --toggle-collect='iface::transfer'` (see BENCHMARKS.md).
fn main() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            if let Ok(name) = std::env::var("BRIDGELESS_IFACE_PROFILE") {
                let path = paths()
                    .into_iter()
                    .find(|p| p.name == name)
                    .expect("BRIDGELESS_IFACE_PROFILE names a path");
                let mut pair = (path.make)();
                let mut buffers = Buffers::new();
                let tally = transfer(pair.as_mut(), &mut buffers, 4 << 20, false);
                assert_eq!(std::hint::black_box(tally).payload, 4 << 20);
                return;
            }
            benches();
            Criterion::default().configure_from_args().final_summary();
        })
        .expect("spawn the benchmark thread")
        .join()
        .expect("benchmarks ran");
}
