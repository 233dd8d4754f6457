//! The phone case, in the simulator: a bridgeless `Host` takes its address from Router
//! Advertisements; the `SmoltcpDriver` on its UDP socket notices when the phone walks to
//! another access link and forms a new address there, tells the endpoint, and sends from the
//! new address; the server follows, validates, and the session goes on.
//!
//! ```text
//!  phone ─A0 (2001:db8:1::/64, RAs)─┐
//!        ─A1 (2001:db8:2::/64, RAs)─┴─ router ─S (2001:db8:100::/64)─ server
//! ```

use std::net::{SocketAddr, SocketAddrV6};

use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use bridgeless_iface::router::advertiser::{AdvertiserConfig, PrefixConfig, RouterAdvertiser};
use bridgeless_iface::router::{
    Forwarder, ForwarderConfig, LinkConfig, LinkId as RouterLink, LinkIo, Route, Router,
};
use bridgeless_roaming::driver::SmoltcpDriver;
use bridgeless_roaming::{Config, Endpoint, Event, SessionHandle, StaticKeypair};
use bridgeless_sim::{Action, LinkParams, Node, NodeId, Ports, Sim};
use core::time::Duration;
use rand_chacha::ChaCha8Rng;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpProtocol, Ipv6Address, Ipv6Cidr, Ipv6Packet, UdpPacket,
};

const ROUTER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const UDP_PORT: u16 = 4433;

fn net(n: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 0)
}

fn in_net(a: Ipv6Address, n: u16) -> bool {
    Ipv6Cidr::new(net(n), 64).contains_addr(&a)
}

/// A router with two access links that advertise a prefix each, and a server link.
struct AccessRouter {
    router: Router,
    advertisers: Vec<RouterAdvertiser>,
    rng: ChaCha8Rng,
    buf: Vec<u8>,
}

impl AccessRouter {
    fn new(rng: ChaCha8Rng) -> AccessRouter {
        let mut f = Forwarder::new(ForwarderConfig::default());
        let mut advertisers = Vec::new();
        for (i, n) in [1u16, 2, 100].into_iter().enumerate() {
            f.add_link(LinkConfig {
                mtu: 1500,
                link_local: ROUTER_LL,
                address: Some(Ipv6Address::new(0x2001, 0xdb8, n, 0, 0, 0, 0, 1)),
            })
            .unwrap();
            f.routes_mut()
                .insert(Ipv6Cidr::new(net(n), 64), Route::Link(RouterLink(i as u16)))
                .unwrap();
            if n < 100 {
                let config = AdvertiserConfig::new(ROUTER_LL)
                    .with_max_interval(smoltcp::time::Duration::from_secs(4));
                let mut ra = RouterAdvertiser::new(config, Instant::ZERO).unwrap();
                ra.add_prefix(Instant::ZERO, PrefixConfig::new(Ipv6Cidr::new(net(n), 64)))
                    .unwrap();
                advertisers.push(ra);
            }
        }
        AccessRouter {
            router: Router::new(f),
            advertisers,
            rng,
            buf: vec![0; 1500],
        }
    }
}

impl Node for AccessRouter {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let mut links: Vec<&mut dyn LinkIo> =
            ports.iter_mut().map(|p| p as &mut dyn LinkIo).collect();
        self.router.poll(now, &mut links, &mut self.rng);
        for (i, ra) in self.advertisers.iter_mut().enumerate() {
            if ra.poll_timeout().is_some_and(|t| t <= now) {
                ra.handle_timeout(now, &mut self.rng);
            }
            while let Some(len) = ra.poll_transmit(now, &mut self.buf) {
                ports[i].send(&self.buf[..len]);
            }
        }
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.advertisers
            .iter()
            .filter_map(RouterAdvertiser::poll_timeout)
            .chain(self.router.poll_timeout())
            .min()
    }
}

/// The phone: a Host with the driver's UDP socket, an endpoint, a datagram every 100 ms.
struct Phone {
    host: Host,
    sockets: SocketSet<'static>,
    driver: SmoltcpDriver,
    ep: Endpoint,
    rng: ChaCha8Rng,
    attachments: u64,
    server: (SocketAddr, [u8; 32]),
    session: Option<SessionHandle>,
    established: bool,
    next_send: Instant,
    sent: Vec<(Instant, u32)>,
    echoed: Vec<u32>,
    closed: bool,
    more: bool,
    /// Open the session at once, before the host has a global address.
    connect_early: bool,
    /// (when, source address) of every datagram the phone sent to the mobility port.
    sources: Vec<(Instant, Ipv6Address)>,
}

/// A port that notes the source address of every UDP datagram sent to the mobility port.
struct Recording<'a> {
    port: &'a mut bridgeless_sim::Port,
    sources: &'a mut Vec<(Instant, Ipv6Address)>,
    now: Instant,
}

struct RecordingTx<'a> {
    token: <bridgeless_sim::Port as smoltcp::phy::Device>::TxToken<'a>,
    sources: &'a mut Vec<(Instant, Ipv6Address)>,
    now: Instant,
}

impl smoltcp::phy::TxToken for RecordingTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (sources, now) = (self.sources, self.now);
        self.token.consume(len, |buf| {
            let r = f(buf);
            if let Ok(ip) = Ipv6Packet::new_checked(&*buf)
                && ip.next_header() == IpProtocol::Udp
                && let Ok(udp) = UdpPacket::new_checked(ip.payload())
                && udp.dst_port() == UDP_PORT
            {
                sources.push((now, ip.src_addr()));
            }
            r
        })
    }
}

impl smoltcp::phy::Device for Recording<'_> {
    type RxToken<'a>
        = <bridgeless_sim::Port as smoltcp::phy::Device>::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = RecordingTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.port.receive(now)?;
        let tx = RecordingTx {
            token: tx,
            sources: self.sources,
            now: self.now,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let token = self.port.transmit(now)?;
        Some(RecordingTx {
            token,
            sources: self.sources,
            now: self.now,
        })
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        self.port.capabilities()
    }
}

impl Phone {
    fn step(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        if port.attachment_changes() != self.attachments {
            self.attachments = port.attachment_changes();
            // A new link: the old link's addresses are no longer on-link here (what
            // detecting network attachment, RFC 6059, concludes); solicit the new router.
            self.host.interface_mut().update_ip_addrs(|a| {
                a.retain(
                    |c| !matches!(c.address(), IpAddress::Ipv6(a) if !a.is_unicast_link_local()),
                )
            });
            self.host.link_up(now, &mut self.rng);
        }
        let mut device = Recording {
            port,
            sources: &mut self.sources,
            now,
        };
        self.more = self.driver.poll_host(
            now,
            &mut self.host,
            &mut device,
            &mut self.sockets,
            &mut self.ep,
            &mut self.rng,
        );
        if self.session.is_none() && (self.connect_early || self.driver.local_address().is_some()) {
            let (at, key) = self.server;
            self.session = Some(self.ep.connect(now, at, key).unwrap());
        }
        let mut buf = [0u8; 1500];
        while let Some((h, e)) = self.ep.poll_event() {
            match e {
                Event::Connected { .. } => self.established = true,
                Event::DatagramsReadable => {
                    while let Some(n) = self.ep.recv_datagram(h, &mut buf) {
                        self.echoed
                            .push(u32::from_be_bytes(buf[..n.min(4)].try_into().unwrap()));
                    }
                }
                Event::Closed(_) => self.closed = true,
                _ => {}
            }
        }
        if let Some(h) = self.session
            && self.established
            && now >= self.next_send
        {
            let seq = self.sent.len() as u32;
            self.ep.send_datagram(h, &seq.to_be_bytes()).unwrap();
            self.sent.push((now, seq));
            self.next_send = now + smoltcp::time::Duration::from_millis(100);
        }
        let mut device = Recording {
            port,
            sources: &mut self.sources,
            now,
        };
        self.more |= self.driver.poll_host(
            now,
            &mut self.host,
            &mut device,
            &mut self.sockets,
            &mut self.ep,
            &mut self.rng,
        );
    }
}

impl Node for Phone {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        self.step(now, ports);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more {
            return Some(now);
        }
        [
            self.host.poll_at(now, &self.sockets),
            self.ep.poll_timeout(),
            self.established.then_some(self.next_send),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The server: a static address, an endpoint that echoes every datagram.
struct Server {
    iface: Interface,
    sockets: SocketSet<'static>,
    driver: SmoltcpDriver,
    ep: Endpoint,
    closed: bool,
    session: Option<SessionHandle>,
    more: bool,
}

impl Node for Server {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        let port = &mut ports[0];
        self.iface.poll(now, port, &mut self.sockets);
        self.more = self
            .driver
            .poll(now, &self.iface, &mut self.sockets, &mut self.ep);
        let mut buf = [0u8; 1500];
        while let Some((h, e)) = self.ep.poll_event() {
            match e {
                Event::Connected { .. } => self.session = Some(h),
                Event::DatagramsReadable => {
                    while let Some(n) = self.ep.recv_datagram(h, &mut buf) {
                        self.ep.send_datagram(h, &buf[..n]).unwrap();
                    }
                }
                Event::Closed(_) => self.closed = true,
                _ => {}
            }
        }
        self.more |= self
            .driver
            .poll(now, &self.iface, &mut self.sockets, &mut self.ep);
        self.iface.poll(now, port, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.more {
            return Some(now);
        }
        [
            self.iface.poll_at(now, &self.sockets),
            self.ep.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[test]
fn the_phone_moves_to_another_access_link_and_the_session_follows() {
    moves(false);
}

/// The phone opens its session before it has any global address, and keeps sending while it
/// has none after the move: the driver holds every datagram until an address exists (never
/// from the link-local address, which routers answer with "beyond scope" errors, nor from the
/// address left behind), then tells the endpoint once, which switches to fresh identifiers.
#[test]
fn without_a_global_address_the_driver_holds_its_datagrams() {
    let sources = moves(true);
    let moved_at = Instant::from_secs(30);
    for &(t, src) in &sources {
        assert!(!src.is_unicast_link_local(), "sent from {src} at {t}");
        if t >= moved_at {
            assert!(in_net(src, 2), "sent from {src} at {t}, after the move");
        }
    }
}

/// The phone's walk from the first access link to the second; `connect_early`: open the
/// session before the first address exists. Returns the phone's datagrams' source addresses.
fn moves(connect_early: bool) -> Vec<(Instant, Ipv6Address)> {
    let mut sim = Sim::new(11);
    let r = sim.add_node("router", AccessRouter::new(sim.rng(1)));
    let rp: Vec<_> = (0..3).map(|_| sim.add_port(r)).collect();
    let params = LinkParams::with_latency(Duration::from_millis(5));
    let links: Vec<_> = (0..3)
        .map(|i| {
            let l = sim.add_link(params);
            sim.attach(rp[i], l).unwrap();
            l
        })
        .collect();

    let server_key = StaticKeypair::from_private([2; 32]);
    let server_public = server_key.public();
    let server_addr = Ipv6Address::new(0x2001, 0xdb8, 100, 0, 0, 0, 0, 0x10);
    let server: NodeId = sim.add_node_with("server", 1, |p| {
        let mut iface = Interface::new(
            IfaceConfig::new(HardwareAddress::Ip),
            &mut p[0],
            Instant::ZERO,
        );
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::Ipv6(Ipv6Cidr::new(server_addr, 64)))
                .unwrap()
        });
        iface
            .routes_mut()
            .add_default_ipv6_route(Ipv6Address::new(0x2001, 0xdb8, 100, 0, 0, 0, 0, 1))
            .unwrap();
        let mut sockets = SocketSet::new(Vec::new());
        let driver = SmoltcpDriver::new(&mut sockets, UDP_PORT, 64, 1452);
        Server {
            iface,
            sockets,
            driver,
            ep: Endpoint::new(Config::default(), server_key, [2; 32]).unwrap(),
            closed: false,
            session: None,
            more: false,
        }
    });
    let phone_rng = sim.rng(2);
    let phone: NodeId = sim.add_node_with("phone", 1, |p| {
        let iid = StableIid::new([7; 32], b"wlan0").unwrap();
        let host = Host::new(
            HostConfig::new(rd::Config::new(iid, 1500), 5),
            &mut p[0],
            Instant::ZERO,
        );
        let mut sockets = SocketSet::new(Vec::new());
        let driver = SmoltcpDriver::new(&mut sockets, 5000, 64, 1452);
        Phone {
            host,
            sockets,
            driver,
            ep: Endpoint::new(
                Config::default(),
                StaticKeypair::from_private([1; 32]),
                [1; 32],
            )
            .unwrap(),
            rng: phone_rng,
            attachments: 0,
            server: (
                SocketAddr::V6(SocketAddrV6::new(server_addr, UDP_PORT, 0, 0)),
                server_public,
            ),
            session: None,
            established: false,
            next_send: Instant::ZERO,
            sent: Vec::new(),
            echoed: Vec::new(),
            closed: false,
            more: false,
            connect_early,
            sources: Vec::new(),
        }
    });
    sim.attach(sim.node_ports(server)[0], links[2]).unwrap();
    let radio = sim.node_ports(phone)[0];
    sim.attach(radio, links[0]).unwrap();

    sim.run_until(Instant::from_secs(30));
    let p = sim.node::<Phone>(phone).unwrap();
    let first = p
        .driver
        .local_address()
        .expect("an address from the first router");
    assert!(in_net(first, 1), "{first}");
    assert!(p.established, "connected from {first}");
    if connect_early {
        assert!(
            p.driver.counters().held_no_address > 0,
            "held until the first address: {:?}",
            p.driver.counters()
        );
    }
    let held_before_move = p.driver.counters().held_no_address;
    let before_move = p.echoed.len();
    assert!(before_move > 50, "{before_move} echoes before the move");
    assert_eq!(p.driver.counters().address_changes, 0);

    sim.schedule(Instant::from_secs(30), Action::Move(radio, links[1]));
    sim.run_until(Instant::from_secs(60));
    let p = sim.node::<Phone>(phone).unwrap();
    let second = p
        .driver
        .local_address()
        .expect("an address from the second router");
    assert!(in_net(second, 2), "{second}");
    assert_eq!(
        p.driver.counters().address_changes,
        1,
        "the driver noticed the move"
    );
    assert!(!p.closed);
    // Everything sent from 10 s after the move on came back (the new router advertises
    // within its 4 s interval).
    let late: Vec<u32> = p
        .sent
        .iter()
        .filter(|(t, _)| *t >= Instant::from_secs(40) && *t < Instant::from_secs(59))
        .map(|(_, s)| *s)
        .collect();
    assert!(late.len() > 150);
    for s in &late {
        assert!(p.echoed.contains(s), "echo of {s} after the move");
    }
    let srv = sim.node::<Server>(server).unwrap();
    assert!(!srv.closed);
    let stats = srv.ep.session_stats(srv.session.unwrap()).unwrap();
    assert_eq!(
        stats.remote,
        SocketAddr::V6(SocketAddrV6::new(second, 5000, 0, 0)),
        "the server sends to the phone's new address"
    );
    assert!(stats.remote_validated && stats.migrations >= 1 && stats.validations >= 1);
    let p = sim.node::<Phone>(phone).unwrap();
    assert!(
        p.driver.counters().held_no_address > held_before_move,
        "held between the links: {:?}",
        p.driver.counters()
    );
    assert_eq!(
        srv.ep
            .session_stats(srv.session.unwrap())
            .unwrap()
            .id_reuses,
        0
    );
    p.sources.clone()
}
