//! Compressed frames between two hosts that agreed to them, and only bare IP towards a peer
//! that never did.

use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::negotiate::MAX_OFFERS;
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_wire::negotiation;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::phy::{Device, RxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpAddress;

type Link = MemoryLink<ChaCha8Rng, 64, 1500>;

fn host(name: &[u8], link: &mut Link, side: Side, compression: bool) -> Host {
    let iid = StableIid::new([3; 32], name).unwrap();
    let mut config = HostConfig::new(rd::Config::new(iid, 1500), name.len() as u64);
    config.compression = compression;
    Host::new(config, &mut link.end(side), Instant::ZERO)
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
    )
}

fn pattern(i: usize) -> u8 {
    (i * 7 + i / 251) as u8
}

#[test]
fn two_hosts_agree_and_carry_tcp_in_compressed_frames() {
    let mut link = Box::new(Link::new(
        MemoryLinkConfig::default(),
        ChaCha8Rng::seed_from_u64(1),
    ));
    let mut a = host(b"a", &mut link, Side::A, true);
    let mut b = host(b"b", &mut link, Side::B, true);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (mut sa, mut sb) = (SocketSet::new(vec![]), SocketSet::new(vec![]));
    let mut now = Instant::ZERO;
    a.link_up(now, &mut rng);
    b.link_up(now, &mut rng);
    for _ in 0..100 {
        a.poll(now, &mut link.end(Side::A), &mut sa, &mut rng);
        b.poll(now, &mut link.end(Side::B), &mut sb, &mut rng);
        now += Duration::from_millis(10);
    }
    assert!(
        a.negotiator().unwrap().compress_context().is_some(),
        "a may compress"
    );
    assert!(
        b.negotiator().unwrap().compress_context().is_some(),
        "b may compress"
    );

    // TCP between the two link-local addresses.
    let b_addr = b.interface().ipv6_addr().unwrap();
    let server: SocketHandle = sb.add(tcp_socket());
    sb.get_mut::<tcp::Socket<'_>>(server).listen(7).unwrap();
    let client = sa.add(tcp_socket());
    let local = a.interface().ipv6_addr().unwrap();
    sa.get_mut::<tcp::Socket<'_>>(client)
        .connect(
            a.interface_mut().context(),
            (IpAddress::Ipv6(b_addr), 7),
            (IpAddress::Ipv6(local), 40000),
        )
        .unwrap();
    const TOTAL: usize = 200_000;
    let (mut sent, mut received) = (0usize, 0usize);
    for _ in 0..200_000 {
        a.poll(now, &mut link.end(Side::A), &mut sa, &mut rng);
        b.poll(now, &mut link.end(Side::B), &mut sb, &mut rng);
        let c = sa.get_mut::<tcp::Socket<'_>>(client);
        if c.can_send() && sent < TOTAL {
            sent += c
                .send(|buf| {
                    let n = buf.len().min(TOTAL - sent);
                    for (i, byte) in buf[..n].iter_mut().enumerate() {
                        *byte = pattern(sent + i);
                    }
                    (n, n)
                })
                .unwrap();
        }
        let s = sb.get_mut::<tcp::Socket<'_>>(server);
        if s.can_recv() {
            s.recv(|buf| {
                for (i, byte) in buf.iter().enumerate() {
                    assert_eq!(*byte, pattern(received + i), "byte {}", received + i);
                }
                received += buf.len();
                (buf.len(), ())
            })
            .unwrap();
        }
        if received == TOTAL {
            break;
        }
        now += Duration::from_micros(100);
    }
    assert_eq!(received, TOTAL, "every byte arrived, in order");
    let (fa, fb) = (a.filter_counters(), b.filter_counters());
    assert!(
        fa.compressed_sent > 100,
        "a compressed its segments: {fa:?}"
    );
    assert!(
        fb.compressed > 100 && fb.compressed_sent > 0,
        "b got them and compressed its ACKs: {fb:?}"
    );
    // The only frames b dropped are a's Router Solicitations: a host does not answer them.
    assert_eq!(
        fb.dropped_total(),
        fb.dropped(bridgeless_iface::filter::DropReason::RouterSolicitation),
        "{fb:?}"
    );
}

#[test]
fn a_peer_that_never_agrees_gets_a_few_hellos_then_only_bare_ipv6() {
    let mut link = Box::new(Link::new(
        MemoryLinkConfig::default(),
        ChaCha8Rng::seed_from_u64(1),
    ));
    let mut a = host(b"a", &mut link, Side::A, true);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut sockets = SocketSet::new(vec![]);
    let mut now = Instant::ZERO;
    a.link_up(now, &mut rng);
    let group = smoltcp::wire::Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 7);
    a.join_multicast_group(now, group, &mut rng).unwrap();
    let mut frames = Vec::new();
    for _ in 0..2000 {
        a.poll(now, &mut link.end(Side::A), &mut sockets, &mut rng);
        let mut b = link.end(Side::B);
        while let Some((rx, _)) = b.receive(now) {
            rx.consume(|f| frames.push(f.to_vec()));
        }
        now += Duration::from_millis(10);
    }
    let hellos = frames.iter().filter(|f| negotiation::is_hello(f)).count();
    assert_eq!(hellos, usize::from(MAX_OFFERS));
    let others: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| !negotiation::is_hello(f))
        .collect();
    assert!(!others.is_empty());
    assert!(
        others.iter().all(|f| f[0] >> 4 == 6),
        "everything else is bare IPv6"
    );
    assert!(a.negotiator().unwrap().compress_context().is_none());
}
