//! The host's receive filter computes the TCP and UDP checksums in smoltcp's place: every
//! frame the host sends carries a correct one, a frame with a wrong one is dropped and
//! counted before smoltcp sees it, and a device that offloads checksums itself is left to do so.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::filter::DropReason;
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::{Checksum, Device, DeviceCapabilities, RxToken, TxToken};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr, IpProtocol, Ipv6Address, Ipv6Packet, TcpPacket, UdpPacket};

type Link = MemoryLink<ChaCha8Rng, 64, 1500>;

const ADDR_A: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const ADDR_B: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const UDP_PORT: u16 = 5683;
const TCP_PORT: u16 = 7;

/// A device that keeps a copy of every frame sent through it and, with `offload`, reports
/// TCP and UDP checksum offload, as Linux loopback and veth devices do.
struct Tap<'t, D> {
    inner: D,
    sent: &'t mut Vec<Vec<u8>>,
    offload: bool,
}

struct TapTx<'t, T> {
    inner: T,
    sent: &'t mut Vec<Vec<u8>>,
}

impl<T: TxToken> TxToken for TapTx<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let sent = self.sent;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            sent.push(buf.to_vec());
            r
        })
    }
}

impl<D: Device> Device for Tap<'_, D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TapTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        Some((
            rx,
            TapTx {
                inner: tx,
                sent: self.sent,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TapTx {
            inner: self.inner.transmit(now)?,
            sent: self.sent,
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

/// Two hosts on one link, fd00::1 and fd00::2, and every frame each has sent.
struct Pair {
    link: Box<Link>,
    hosts: [Host; 2],
    sent: [Vec<Vec<u8>>; 2],
    offload: bool,
    rng: ChaCha8Rng,
    now: Instant,
}

impl Pair {
    fn new(offload: bool) -> Pair {
        let mut link = Box::new(Link::new(
            MemoryLinkConfig::default(),
            ChaCha8Rng::seed_from_u64(1),
        ));
        let mut host = |side, name: &[u8], addr| {
            let iid = StableIid::new([5; 32], name).unwrap();
            let config = HostConfig::new(rd::Config::new(iid, 1500), name.len() as u64);
            assert!(config.software_checksums, "on by default");
            let mut device = Tap {
                inner: link.end(side),
                sent: &mut vec![],
                offload,
            };
            let mut host = Host::new(config, &mut device, Instant::ZERO);
            host.interface_mut().update_ip_addrs(|addrs| {
                addrs.push(IpCidr::new(IpAddress::Ipv6(addr), 64)).unwrap();
            });
            host
        };
        let hosts = [host(Side::A, b"a", ADDR_A), host(Side::B, b"b", ADDR_B)];
        Pair {
            link,
            hosts,
            sent: [vec![], vec![]],
            offload,
            rng: ChaCha8Rng::seed_from_u64(2),
            now: Instant::ZERO,
        }
    }

    fn poll(&mut self, side: Side, sockets: &mut SocketSet<'_>) {
        let i = match side {
            Side::A => 0,
            Side::B => 1,
        };
        let mut device = Tap {
            inner: self.link.end(side),
            sent: &mut self.sent[i],
            offload: self.offload,
        };
        self.hosts[i].poll(self.now, &mut device, sockets, &mut self.rng);
    }

    /// Side B plays the peer by hand: `frame` goes to host A.
    fn inject(&mut self, frame: &[u8]) {
        let mut b = self.link.end(Side::B);
        let tx = b.transmit(self.now).expect("room on the link");
        tx.consume(frame.len(), |buf| buf.copy_from_slice(frame));
    }

    /// Drains what host A sent towards B, unread by host B.
    fn drain_to_b(&mut self) {
        let mut b = self.link.end(Side::B);
        while let Some((rx, _)) = b.receive(self.now) {
            rx.consume(|_| ());
        }
    }
}

/// Checks the transport checksum of an IPv6 TCP or UDP frame with smoltcp's own
/// `verify_checksum`. Returns the protocol, or `None` for other frames.
fn checksum_ok(frame: &[u8]) -> Option<(IpProtocol, bool)> {
    let ip = Ipv6Packet::new_checked(frame).ok()?;
    let (src, dst) = (
        IpAddress::Ipv6(ip.src_addr()),
        IpAddress::Ipv6(ip.dst_addr()),
    );
    match ip.next_header() {
        IpProtocol::Tcp => {
            let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
            Some((IpProtocol::Tcp, tcp.verify_checksum(&src, &dst)))
        }
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(ip.payload()).ok()?;
            // smoltcp accepts 0 ("no checksum"); IPv6 does not (RFC 8200 §8.1).
            let ok = udp.checksum() != 0 && udp.verify_checksum(&src, &dst);
            Some((IpProtocol::Udp, ok))
        }
        _ => None,
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 32 * 1024]),
        tcp::SocketBuffer::new(vec![0; 32 * 1024]),
    )
}

fn udp_socket(port: u16) -> udp::Socket<'static> {
    let meta = || vec![udp::PacketMetadata::EMPTY; 8];
    let mut s = udp::Socket::new(
        udp::PacketBuffer::new(meta(), vec![0; 8192]),
        udp::PacketBuffer::new(meta(), vec![0; 8192]),
    );
    s.bind(port).unwrap();
    s
}

fn pattern(i: usize) -> u8 {
    (i * 13 + i / 509) as u8
}

/// A TCP transfer both ways and UDP datagrams of every size class: every TCP and UDP frame
/// either host sent has a checksum smoltcp's `verify_checksum` accepts, none was dropped for
/// its checksum, and the data arrived intact.
#[test]
fn every_frame_sent_has_a_correct_checksum() {
    let mut p = Pair::new(false);
    let (mut sa, mut sb) = (SocketSet::new(vec![]), SocketSet::new(vec![]));
    let mut server = tcp_socket();
    server.listen(TCP_PORT).unwrap();
    let hb: SocketHandle = sb.add(server);
    let mut client = tcp_socket();
    client
        .connect(
            p.hosts[0].interface_mut().context(),
            (ADDR_B, TCP_PORT),
            49_152,
        )
        .unwrap();
    let ha = sa.add(client);
    let ua = sa.add(udp_socket(UDP_PORT));
    let ub = sb.add(udp_socket(UDP_PORT));

    const BYTES: usize = 200_000;
    let (mut sent, mut received, mut echoed) = (0, 0, 0);
    let mut datagrams = 0;
    for _ in 0..20_000 {
        p.poll(Side::A, &mut sa);
        let c = sa.get_mut::<tcp::Socket<'_>>(ha);
        if c.can_send() && sent < BYTES {
            let chunk: Vec<u8> = (sent..BYTES.min(sent + 4096)).map(pattern).collect();
            sent += c.send_slice(&chunk).unwrap();
        }
        // The reply stream B → A, read back here.
        while c.can_recv() {
            let mut buf = [0u8; 4096];
            echoed += c.recv_slice(&mut buf).unwrap();
        }
        if datagrams < 40 {
            // 0 to 1452 payload bytes: the largest datagram fitting the 1500-byte MTU.
            let len = (datagrams * 37) % 1453;
            let data: Vec<u8> = (0..len).map(pattern).collect();
            let s = sa.get_mut::<udp::Socket<'_>>(ua);
            if s.send_slice(&data, (ADDR_B, UDP_PORT)).is_ok() {
                datagrams += 1;
            }
        }
        p.poll(Side::B, &mut sb);
        let s = sb.get_mut::<tcp::Socket<'_>>(hb);
        while s.can_recv() {
            let mut buf = [0u8; 4096];
            let n = s.recv_slice(&mut buf).unwrap();
            for (k, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, pattern(received + k), "stream byte {}", received + k);
            }
            received += n;
            // Echo a tenth of it back, so that B sends data too, not only acknowledgements.
            if s.can_send() {
                s.send_slice(&buf[..n / 10]).unwrap();
            }
        }
        let u = sb.get_mut::<udp::Socket<'_>>(ub);
        while let Ok((data, meta)) = u.recv() {
            let echo = data.to_vec();
            let _ = u.send_slice(&echo, meta.endpoint); // a full buffer: one echo fewer
        }
        while sa.get_mut::<udp::Socket<'_>>(ua).recv().is_ok() {}
        if received == BYTES && echoed > 0 && datagrams == 40 {
            break;
        }
        p.now += Duration::from_millis(1);
    }
    assert_eq!(received, BYTES);
    assert!(echoed > 0);
    let mut seen = [[0usize; 2]; 2];
    for (i, frames) in p.sent.iter().enumerate() {
        for f in frames {
            if let Some((proto, ok)) = checksum_ok(f) {
                assert!(
                    ok,
                    "host {i} sent a {proto} frame with a bad checksum: {f:02x?}"
                );
                seen[i][usize::from(proto == IpProtocol::Udp)] += 1;
            }
        }
    }
    // Both hosts sent TCP (data, acknowledgements) and UDP (datagrams and their echoes).
    assert!(seen.iter().flatten().all(|&n| n >= 20), "{seen:?}");
    for h in &p.hosts {
        assert_eq!(h.filter_counters().dropped(DropReason::Checksum), 0);
    }
}

/// A UDP datagram from the peer, as its stack would send it (checksum computed by smoltcp).
fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 48 + payload.len()];
    f[0] = 0x60;
    f[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f[6] = 17;
    f[7] = 64;
    f[8..24].copy_from_slice(&ADDR_B.octets());
    f[24..40].copy_from_slice(&ADDR_A.octets());
    let mut udp = UdpPacket::new_unchecked(&mut f[40..]);
    udp.set_src_port(40_000);
    udp.set_dst_port(UDP_PORT);
    udp.set_len((8 + payload.len()) as u16);
    udp.payload_mut().copy_from_slice(payload);
    udp.fill_checksum(&ADDR_B.into(), &ADDR_A.into());
    f
}

/// A TCP SYN from the peer to `TCP_PORT`.
fn syn_frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0] = 0x60;
    f[4..6].copy_from_slice(&20u16.to_be_bytes());
    f[6] = 6;
    f[7] = 64;
    f[8..24].copy_from_slice(&ADDR_B.octets());
    f[24..40].copy_from_slice(&ADDR_A.octets());
    let mut tcp = TcpPacket::new_unchecked(&mut f[40..]);
    tcp.set_src_port(40_001);
    tcp.set_dst_port(TCP_PORT);
    tcp.set_seq_number(smoltcp::wire::TcpSeqNumber(1000));
    tcp.set_header_len(20);
    tcp.set_syn(true);
    tcp.set_window_len(8192);
    tcp.fill_checksum(&ADDR_B.into(), &ADDR_A.into());
    f
}

/// Whether host A answered with a SYN-ACK since the last drain.
fn answered_syn(p: &Pair) -> bool {
    p.sent[0].iter().any(|f| {
        Ipv6Packet::new_checked(&f[..])
            .ok()
            .filter(|ip| ip.next_header() == IpProtocol::Tcp)
            .and_then(|ip| TcpPacket::new_checked(ip.payload().to_vec()).ok())
            .is_some_and(|t| t.syn() && t.ack())
    })
}

/// Host A receives datagrams and SYNs from a peer played by hand: `damage` spoils each one.
/// Returns (datagrams delivered, SYNs answered, checksum drops).
fn receive_from_peer(offload: bool, damage: impl Fn(&mut Vec<u8>)) -> (usize, bool, u64) {
    let mut p = Pair::new(offload);
    let mut sa = SocketSet::new(vec![]);
    let u = sa.add(udp_socket(UDP_PORT));
    let mut listener = tcp_socket();
    listener.listen(TCP_PORT).unwrap();
    sa.add(listener);
    p.poll(Side::A, &mut sa);
    p.drain_to_b();
    p.sent[0].clear();
    for payload in [&b""[..], b"a", b"odd-length payload", &[0x5a; 1000]] {
        let mut f = udp_frame(payload);
        damage(&mut f);
        p.inject(&f);
    }
    let mut syn = syn_frame();
    damage(&mut syn);
    p.inject(&syn);
    p.poll(Side::A, &mut sa);
    let mut delivered = 0;
    while sa.get_mut::<udp::Socket<'_>>(u).recv().is_ok() {
        delivered += 1;
    }
    let drops = p.hosts[0].filter_counters().dropped(DropReason::Checksum);
    (delivered, answered_syn(&p), drops)
}

#[test]
fn correct_checksums_are_delivered() {
    assert_eq!(receive_from_peer(false, |_| ()), (4, true, 0));
}

#[test]
fn a_wrong_checksum_is_dropped_and_counted() {
    // One bit of the last byte (payload, or the TCP window/urgent pointer of the SYN).
    let flip = |f: &mut Vec<u8>| *f.last_mut().unwrap() ^= 0x10;
    assert_eq!(receive_from_peer(false, flip), (0, false, 5));
    // A spoilt checksum field itself.
    let field = |f: &mut Vec<u8>| {
        let at = if f[6] == 6 { 40 + 16 } else { 40 + 6 };
        f[at] ^= 0x80;
    };
    assert_eq!(receive_from_peer(false, field), (0, false, 5));
}

#[test]
fn udp_over_ipv6_without_a_checksum_is_dropped_and_counted() {
    // RFC 8200 §8.1: an IPv6 receiver discards a UDP packet with a zero checksum.
    let zero = |f: &mut Vec<u8>| {
        if f[6] == 17 {
            f[46..48].copy_from_slice(&[0, 0]);
        }
    };
    assert_eq!(receive_from_peer(false, zero), (0, true, 4));
}

/// A device that verifies checksums itself (it says so in its capabilities) is trusted: the
/// host neither checks again nor lets smoltcp check, as smoltcp alone would do.
#[test]
fn a_device_that_offloads_checksums_is_left_to_do_so() {
    let flip = |f: &mut Vec<u8>| *f.last_mut().unwrap() ^= 0x10;
    assert_eq!(receive_from_peer(true, flip), (4, true, 0));
}

/// With the filter's software checksums off, smoltcp checks as it always did: it drops a bad
/// checksum silently (no filter counter).
#[test]
fn without_software_checksums_smoltcp_checks() {
    let mut link = Box::new(Link::new(
        MemoryLinkConfig::default(),
        ChaCha8Rng::seed_from_u64(1),
    ));
    let iid = StableIid::new([5; 32], b"a").unwrap();
    let mut config = HostConfig::new(rd::Config::new(iid, 1500), 1);
    config.software_checksums = false;
    let mut host = Host::new(config, &mut link.end(Side::A), Instant::ZERO);
    host.interface_mut().update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv6(ADDR_A), 64))
            .unwrap();
    });
    let mut sockets = SocketSet::new(vec![]);
    let u = sockets.add(udp_socket(UDP_PORT));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (damage, expected) in [(false, true), (true, false)] {
        let mut f = udp_frame(b"hello");
        if damage {
            *f.last_mut().unwrap() ^= 1;
        }
        let mut b = link.end(Side::B);
        let tx = b.transmit(Instant::ZERO).unwrap();
        tx.consume(f.len(), |buf| buf.copy_from_slice(&f));
        host.poll(
            Instant::ZERO,
            &mut link.end(Side::A),
            &mut sockets,
            &mut rng,
        );
        assert_eq!(
            sockets.get_mut::<udp::Socket<'_>>(u).recv().is_ok(),
            expected
        );
    }
    assert_eq!(host.filter_counters().dropped(DropReason::Checksum), 0);
    // The filter delivered both; smoltcp dropped the bad one.
    assert!(host.filter_counters().delivered >= 2);
}
