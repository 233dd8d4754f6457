//! The point-to-point `Host` driven by a sequence of actions: arbitrary frames and well-formed
//! Router Advertisements, MLD queries, UDP datagrams and TCP segments injected from the peer
//! end of a `MemoryLink`, time advanced the way an event loop advances it (waking at every
//! `poll_at`), groups joined and left, the link going up and down.
//!
//! Invariants checked after every poll:
//! - nothing panics;
//! - every frame the host sends parses with `bridgeless_wire::frame::parse`, is never a
//!   Neighbor Solicitation, Neighbor Advertisement or Redirect (ICMPv6 135-137), and never
//!   comes from `::` (the host has a link-local address from the start, so even MLD reports
//!   have one, RFC 3810 §5.2.13);
//! - MLD reports never name a group of scope 0 or 1, nor ff02::1 (RFC 3810 §6);
//! - the host does not ask to be polled again "now" forever: polling repeatedly at one
//!   instant, with a link that always has room, reaches a `poll_at` later than that instant
//!   (or none) within a few polls. (smoltcp's own `poll_at` says "now" as `Instant` 0, so a
//!   single `poll_at` in the past is legitimate; a busy loop is not.)
//! - counters (host, filter, router discovery, MLD, link) never decrease.
//!
//! To see what an input does: `HOST_FUZZ_TRACE=1 cargo fuzz run -s none host FILE` prints
//! every action and every frame the host sends.
#![no_main]

use arbitrary::Arbitrary;
use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, AddressMode, StableIid};
use bridgeless_wire::frame;
use bridgeless_wire::mld::{self, MldMessage, MldRepr, QueryRepr};
use bridgeless_wire::ndp::{
    self, NdpOptionRepr, NdpRepr, Preference, PrefixInformation, RouteInformation,
    RouterAdvertisementRepr,
};
use bridgeless_wire::summary::Summary;
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{ChecksumCapabilities, Device, RxToken, TxToken};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv6Address, Ipv6Packet, Ipv6Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};

type Link = MemoryLink<ChaCha8Rng, 32, 1500>;

const MAX_ACTIONS: usize = 64;
/// Polls at one instant after which the host must have stopped asking for "now".
const MAX_POLLS_AT_ONE_INSTANT: usize = 8;
/// Polls per `Advance` at most (timers are many but bounded; this only caps fuzzing time).
const MAX_POLLS_PER_ADVANCE: usize = 512;
const ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const REMOTE: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 9);
const UDP_PORT: u16 = 5683;
const TCP_PORT: u16 = 7;

#[derive(Debug, Arbitrary)]
struct Input {
    /// 0 stable, 1 temporary, 2 both.
    address_mode: u8,
    solicitation_backoff: bool,
    actions: Vec<Action>,
}

#[derive(Debug, Arbitrary)]
enum Action {
    /// A frame from the peer, as is.
    Receive(Vec<u8>),
    /// A well-formed Router Advertisement.
    ReceiveRa {
        /// Source: the router, or another link-local address.
        router: u8,
        router_lifetime: u16,
        hop_limit: u8,
        prefixes: Vec<Prefix>,
        /// 0 for none.
        mtu: u16,
        route: Option<(u8, u32)>,
        rdnss: Option<u32>,
    },
    /// A well-formed MLD query (v1 or v2, general or group-specific).
    ReceiveMldQuery {
        v1: bool,
        /// `None` for a general query.
        group: Option<u8>,
        max_response_delay: u16,
        qrv: u8,
        query_interval: u8,
        sources: u8,
    },
    /// A UDP datagram to one of the host's addresses (a socket echoes port 5683).
    ReceiveUdp {
        address: u8,
        to_bound_port: bool,
        payload: Vec<u8>,
    },
    /// A TCP segment to one of the host's addresses (a listener echoes port 7), numbered
    /// relative to the peer's next sequence number and the host's.
    ReceiveTcp {
        address: u8,
        control: u8,
        seq_delta: i8,
        ack: bool,
        ack_delta: i8,
        window: u16,
        payload: Vec<u8>,
    },
    /// Time passes, in milliseconds.
    Advance(u16),
    /// Time passes, in seconds (to reach lifetimes).
    Sleep(u16),
    Join(u8),
    Leave(u8),
    LinkUp,
    LinkDown,
}

#[derive(Debug, Arbitrary)]
struct Prefix {
    /// Selects among a few /64s (and a link-local, a multicast, a /48).
    which: u8,
    autonomous: bool,
    on_link: bool,
    valid_lifetime: u32,
    preferred_lifetime: u32,
}

/// A multicast group from a byte: scopes 1, 2, 5 and 14, low 6 bits as group ID, so that
/// ff01::1, ff02::1 and ff02::2 come up.
fn group(g: u8) -> Ipv6Address {
    let scope = [0x1, 0x2, 0x5, 0xe][usize::from(g >> 6)];
    Ipv6Address::new(0xff00 | scope, 0, 0, 0, 0, 0, 0, u16::from(g & 0x3f))
}

fn prefix(which: u8) -> (Ipv6Address, u8) {
    match which % 8 {
        0..=3 => (
            Ipv6Address::new(0x2001, 0xdb8, u16::from(which % 4), 0, 0, 0, 0, 0),
            64,
        ),
        4 => (Ipv6Address::new(0xfd00, 0, 0, 1, 0, 0, 0, 0), 64),
        5 => (Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64),
        6 => (Ipv6Address::new(0xff0e, 0, 0, 0, 0, 0, 0, 0), 64),
        _ => (Ipv6Address::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 48),
    }
}

/// Every integer in a `Debug` rendering, in order: all counter structs here are plain
/// (possibly nested) structs of `u64`, so this compares them field by field.
fn numbers(debug: &str) -> Vec<u64> {
    debug
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect()
}

struct World {
    link: Box<Link>,
    host: Host,
    rng: ChaCha8Rng,
    now: Instant,
    udp: SocketHandle,
    tcp: SocketHandle,
    /// Next sequence number the peer uses, and the next it expects from the host.
    peer_seq: TcpSeqNumber,
    host_seq: TcpSeqNumber,
    counters: Vec<u64>,
    trace: bool,
}

impl World {
    fn new(input: &Input, sockets: &mut SocketSet<'_>) -> World {
        let mut link = Box::new(Link::new(
            MemoryLinkConfig::default(),
            ChaCha8Rng::seed_from_u64(1),
        ));
        let iid = StableIid::new([42; 32], b"ptp0").unwrap();
        let mut rd_config = rd::Config::new(iid, 1500);
        rd_config.address_mode = match input.address_mode % 3 {
            0 => AddressMode::Stable,
            1 => AddressMode::Temporary,
            _ => AddressMode::StableAndTemporary,
        };
        rd_config.solicitation_backoff = input.solicitation_backoff;
        let now = Instant::ZERO;
        let host = Host::new(HostConfig::new(rd_config, 7), &mut link.end(Side::A), now);

        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
        );
        socket.bind(UDP_PORT).unwrap();
        let udp = sockets.add(socket);
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 2048]),
            tcp::SocketBuffer::new(vec![0; 2048]),
        );
        socket.listen(TCP_PORT).unwrap();
        let tcp = sockets.add(socket);
        let mut world = World {
            link,
            host,
            rng: ChaCha8Rng::seed_from_u64(2),
            now,
            udp,
            tcp,
            peer_seq: TcpSeqNumber(1000),
            host_seq: TcpSeqNumber(0),
            counters: Vec::new(),
            trace: std::env::var_os("HOST_FUZZ_TRACE").is_some(),
        };
        world.counters = world.all_counters();
        world
    }

    fn all_counters(&self) -> Vec<u64> {
        let debug = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?}",
            self.host.counters(),
            self.host.filter_counters(),
            self.host.router_discovery().counters(),
            self.host.mld().counters(),
            self.link.counters(Side::A),
            self.link.counters(Side::B),
        );
        numbers(&debug)
    }

    /// The peer sends `frame` to the host.
    fn inject(&mut self, frame: &[u8]) {
        if frame.len() > self.link.mtu() {
            return;
        }
        let mut b = self.link.end(Side::B);
        if let Some(tx) = b.transmit(self.now) {
            tx.consume(frame.len(), |buf| buf.copy_from_slice(frame));
        }
    }

    /// One poll of the host at `self.now`, then the checks on what it sent.
    fn poll(&mut self, sockets: &mut SocketSet<'_>) {
        self.host.poll(
            self.now,
            &mut self.link.end(Side::A),
            sockets,
            &mut self.rng,
        );
        self.serve(sockets);
        let mut b = self.link.end(Side::B);
        let mut sent = Vec::new();
        while let Some((rx, _)) = b.receive(self.now) {
            rx.consume(|f| sent.push(f.to_vec()));
        }
        for f in &sent {
            self.check_sent(f);
        }
        let counters = self.all_counters();
        assert_eq!(counters.len(), self.counters.len());
        for (i, (new, old)) in counters.iter().zip(&self.counters).enumerate() {
            assert!(new >= old, "counter #{i} went down from {old} to {new}");
        }
        self.counters = counters;
        // Every group MLD reports, smoltcp delivers.
        for g in self.host.mld().groups() {
            assert!(
                self.host.interface().has_multicast_group(g),
                "MLD reports {g} but smoltcp would drop its traffic"
            );
        }
    }

    /// The applications: UDP and TCP echo.
    fn serve(&mut self, sockets: &mut SocketSet<'_>) {
        let socket = sockets.get_mut::<udp::Socket<'_>>(self.udp);
        let mut buf = [0u8; 1500];
        while socket.can_send() {
            let Ok((n, meta)) = socket.recv_slice(&mut buf) else {
                break;
            };
            let _ = socket.send_slice(&buf[..n], meta.endpoint);
        }
        let socket = sockets.get_mut::<tcp::Socket<'_>>(self.tcp);
        if !socket.is_open() {
            socket.listen(TCP_PORT).unwrap();
        }
        while socket.can_recv() && socket.can_send() {
            let room = (socket.send_capacity() - socket.send_queue()).min(buf.len());
            match socket.recv_slice(&mut buf[..room]) {
                Ok(n) if n > 0 => {
                    let _ = socket.send_slice(&buf[..n]);
                }
                _ => break,
            }
        }
        if socket.state() == tcp::State::CloseWait {
            socket.close();
        }
    }

    fn check_sent(&mut self, f: &[u8]) {
        if self.trace {
            eprintln!("{} sent {}", self.now, Summary::new(f));
        }
        let info = frame::parse(f).expect("the host sends well-formed IP");
        let std::net::IpAddr::V6(src) = info.src() else {
            panic!("the host sent IPv4");
        };
        assert!(!src.is_unspecified(), "sent from :: ({f:02x?})");
        if let Some((t, _)) = info.icmp() {
            assert!(!(135..=137).contains(&t), "sent NS/NA/Redirect ({t})");
            if t == 143 {
                if let Ok(MldMessage::ReportV2(report)) = MldMessage::parse(info.upper_layer()) {
                    for record in report.records() {
                        check_reported_group(record.multicast_address);
                    }
                }
            }
            if t == 131 || t == 132 {
                if let Ok(MldMessage::ReportV1(m) | MldMessage::Done(m)) =
                    MldMessage::parse(info.upper_layer())
                {
                    check_reported_group(m.multicast_address());
                }
            }
        }
        // Follow the host's TCP sequence numbers so that injected segments can acknowledge.
        if info.protocol() == IpProtocol::Tcp
            && info.ports().is_some_and(|(s, _)| s == TCP_PORT)
            && let Ok(tcp) = TcpPacket::new_checked(info.upper_layer())
        {
            let mut len = tcp.payload().len();
            if tcp.syn() {
                len += 1;
            }
            if tcp.fin() {
                len += 1;
            }
            self.host_seq = tcp.seq_number() + len;
        }
    }

    /// Runs the host's event loop from `self.now` to `target`, waking at each `poll_at`.
    fn advance_to(&mut self, target: Instant, sockets: &mut SocketSet<'_>) {
        let mut polls = 0;
        loop {
            self.settle(sockets);
            polls += 1;
            if polls >= MAX_POLLS_PER_ADVANCE {
                self.now = target;
                self.settle(sockets);
                return;
            }
            match self.host.poll_at(self.now, sockets) {
                Some(at) if at <= target => {
                    // `settle` guarantees `at > now` or the loop would not have ended.
                    self.now = at.max(self.now + Duration::from_micros(1));
                }
                _ => {
                    self.now = target;
                    self.settle(sockets);
                    return;
                }
            }
        }
    }

    /// Polls at `self.now` until the host no longer asks for an immediate poll; it must get
    /// there within a few polls (no busy loop).
    fn settle(&mut self, sockets: &mut SocketSet<'_>) {
        for _ in 0..MAX_POLLS_AT_ONE_INSTANT {
            self.poll(sockets);
            match self.host.poll_at(self.now, sockets) {
                Some(at) if at <= self.now => continue,
                _ => return,
            }
        }
        panic!(
            "still asks to be polled at {} after {MAX_POLLS_AT_ONE_INSTANT} polls: {:?}",
            self.now,
            self.host.poll_at(self.now, sockets)
        );
    }

    /// The host's address number `i` (cycling), the link-local one when there is no other.
    fn address(&self, i: u8) -> Ipv6Address {
        let addrs: Vec<Ipv6Address> = self
            .host
            .interface()
            .ip_addrs()
            .iter()
            .filter_map(|c| match c.address() {
                IpAddress::Ipv6(a) => Some(a),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect();
        if addrs.is_empty() {
            self.host.router_discovery().link_local()
        } else {
            addrs[usize::from(i) % addrs.len()]
        }
    }

    fn act(&mut self, action: Action, sockets: &mut SocketSet<'_>) {
        if self.trace {
            eprintln!("{} {action:?}", self.now);
        }
        match action {
            Action::Receive(frame) => self.inject(&frame),
            Action::ReceiveRa {
                router,
                router_lifetime,
                hop_limit,
                prefixes,
                mtu,
                route,
                rdnss,
            } => {
                let mut options: Vec<NdpOptionRepr<'_>> = prefixes
                    .iter()
                    .take(4)
                    .map(|p| {
                        let (prefix, prefix_len) = prefix(p.which);
                        NdpOptionRepr::PrefixInformation(PrefixInformation {
                            prefix_len,
                            on_link: p.on_link,
                            autonomous: p.autonomous,
                            valid_lifetime: p.valid_lifetime,
                            preferred_lifetime: p.preferred_lifetime,
                            prefix,
                        })
                    })
                    .collect();
                if mtu != 0 {
                    options.push(NdpOptionRepr::Mtu(u32::from(mtu)));
                }
                if let Some((which, lifetime)) = route {
                    let (prefix, _) = prefix(which);
                    options.push(NdpOptionRepr::RouteInformation(RouteInformation {
                        prefix_len: [0, 48, 64, 128][usize::from(which % 4)],
                        preference: Preference::Medium,
                        lifetime,
                        prefix,
                    }));
                }
                let servers = [REMOTE];
                if let Some(lifetime) = rdnss {
                    options.push(NdpOptionRepr::Rdnss {
                        lifetime,
                        addresses: &servers,
                    });
                }
                let ra = RouterAdvertisementRepr {
                    cur_hop_limit: hop_limit,
                    managed: false,
                    other: false,
                    preference: Preference::Medium,
                    router_lifetime,
                    reachable_time: 0,
                    retrans_timer: 0,
                    options: &options,
                };
                let src = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1 + u16::from(router % 3));
                let mut buf = [0u8; 1500];
                if let Ok(n) = ndp::emit_ipv6(
                    &src,
                    &mld::ALL_NODES,
                    &NdpRepr::RouterAdvertisement(ra),
                    &mut buf,
                ) {
                    self.inject(&buf[..n]);
                }
            }
            Action::ReceiveMldQuery {
                v1,
                group: g,
                max_response_delay,
                qrv,
                query_interval,
                sources,
            } => {
                let multicast_address = g.map_or(Ipv6Address::UNSPECIFIED, group);
                let source_list: Vec<Ipv6Address> = (0..sources % 4)
                    .map(|i| Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i) + 1))
                    .collect();
                let query = if v1 {
                    QueryRepr::V1 {
                        max_response_delay,
                        multicast_address,
                    }
                } else {
                    QueryRepr::V2 {
                        max_response_delay: u32::from(max_response_delay),
                        multicast_address,
                        suppress_router_processing: qrv & 0x80 != 0,
                        qrv: qrv & 7,
                        query_interval: u32::from(query_interval),
                        sources: if multicast_address.is_unspecified() {
                            &[]
                        } else {
                            &source_list
                        },
                    }
                };
                let repr = MldRepr::Query(query);
                let mut buf = [0u8; 256];
                if let Ok(n) = mld::emit_ipv6(&ROUTER, &repr.destination(), &repr, &mut buf) {
                    self.inject(&buf[..n]);
                }
            }
            Action::ReceiveUdp {
                address,
                to_bound_port,
                payload,
            } => {
                let dst = self.address(address);
                let header = frame::Ipv6Header {
                    src: if dst.is_unicast_link_local() {
                        ROUTER
                    } else {
                        REMOTE
                    },
                    dst,
                    next_header: IpProtocol::Udp,
                    payload_len: 0,
                    hop_limit: 64,
                    traffic_class: 0,
                    flow_label: 0,
                };
                let port = if to_bound_port { UDP_PORT } else { 9 };
                let mut buf = [0u8; 1500];
                if let Ok(n) = frame::emit_udp_v6(&header, 40000, port, &payload, &mut buf) {
                    self.inject(&buf[..n]);
                }
            }
            Action::ReceiveTcp {
                address,
                control,
                seq_delta,
                ack,
                ack_delta,
                window,
                payload,
            } => {
                let dst = self.address(address);
                let src = if dst.is_unicast_link_local() {
                    ROUTER
                } else {
                    REMOTE
                };
                let control = match control % 8 {
                    0 => TcpControl::Syn,
                    1 => TcpControl::Fin,
                    2 => TcpControl::Rst,
                    3 => TcpControl::Psh,
                    _ => TcpControl::None,
                };
                let payload = &payload[..payload.len().min(512)];
                let repr = TcpRepr {
                    src_port: 40000,
                    dst_port: TCP_PORT,
                    control,
                    seq_number: TcpSeqNumber(self.peer_seq.0.wrapping_add(i32::from(seq_delta))),
                    ack_number: ack
                        .then(|| TcpSeqNumber(self.host_seq.0.wrapping_add(i32::from(ack_delta)))),
                    window_len: window,
                    window_scale: None,
                    max_seg_size: (control == TcpControl::Syn).then_some(1400),
                    sack_permitted: false,
                    sack_ranges: [None; 3],
                    timestamp: None,
                    payload,
                };
                if seq_delta == 0 {
                    self.peer_seq = self.peer_seq + repr.segment_len();
                }
                let ip = Ipv6Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: IpProtocol::Tcp,
                    payload_len: repr.buffer_len(),
                    hop_limit: 64,
                };
                let mut buf = vec![0u8; ip.buffer_len() + repr.buffer_len()];
                let mut packet = Ipv6Packet::new_unchecked(&mut buf[..]);
                ip.emit(&mut packet);
                repr.emit(
                    &mut TcpPacket::new_unchecked(packet.payload_mut()),
                    &IpAddress::Ipv6(src),
                    &IpAddress::Ipv6(dst),
                    &ChecksumCapabilities::default(),
                );
                self.inject(&buf);
            }
            Action::Advance(ms) => {
                let target = self.now + Duration::from_millis(u64::from(ms));
                self.advance_to(target, sockets);
            }
            Action::Sleep(s) => {
                let target = self.now + Duration::from_secs(u64::from(s));
                self.advance_to(target, sockets);
            }
            Action::Join(g) => {
                let _ = self
                    .host
                    .join_multicast_group(self.now, group(g), &mut self.rng);
            }
            Action::Leave(g) => {
                let _ = self
                    .host
                    .leave_multicast_group(self.now, group(g), &mut self.rng);
            }
            Action::LinkUp => self.host.link_up(self.now, &mut self.rng),
            Action::LinkDown => self.host.link_down(self.now),
        }
        // Whatever happened is handled before the next action, as an event loop would.
        self.settle(sockets);
    }
}

/// RFC 3810 §6: "MLD messages are never sent for multicast addresses whose scope is 0
/// (reserved) or 1 (node-local)", nor for the link-scope all-nodes address.
fn check_reported_group(g: Ipv6Address) {
    let scope = g.octets()[1] & 0x0f;
    assert!(scope > 1, "MLD message for group {g} of scope {scope}");
    assert_ne!(g, mld::ALL_NODES, "MLD message for ff02::1");
}

fuzz_target!(|input: Input| {
    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut world = World::new(&input, &mut sockets);
    world.settle(&mut sockets);
    for action in input.actions.into_iter().take(MAX_ACTIONS) {
        world.act(action, &mut sockets);
    }
});
