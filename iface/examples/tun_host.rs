//! A host on a TUN device that configures itself from a router's advertisements, answers
//! ping and serves TCP echo (RFC 862) on port 7.
//!
//! ```text
//! tun_host NAME
//! ```
//!
//! It opens the TUN device NAME (creating it if it does not exist) and puts a
//! [`Host`](bridgeless_iface::host::Host) on it: a smoltcp interface with a link-local
//! address at once, Router Solicitations at link-up, and addresses, a default route and the
//! link MTU from the Router Advertisements it receives — without any neighbor discovery, which
//! a link with no link-layer addresses does not need. It runs forever: it prints what it
//! learns, answers ICMPv6 echo requests to any of its addresses and echoes back whatever up
//! to four TCP clients at a time send to port 7.
//!
//! Try it with radvd as the router on the kernel's end of the link. Create the device for
//! your user (then the example needs no root), give the kernel's end an address in the prefix
//! to advertise, and bring it up:
//!
//! ```text
//! sudo ip tuntap add dev tun0 mode tun user $USER
//! sudo ip -6 addr add 2001:db8:42::1/64 dev tun0
//! sudo ip link set tun0 up
//! cargo run -p bridgeless-iface --example tun_host -- tun0
//! ```
//!
//! and in another terminal start radvd (it wants forwarding on, and refuses intervals below
//! these):
//!
//! ```text
//! cat > radvd-tun0.conf <<EOF
//! interface tun0 {
//!     AdvSendAdvert on;
//!     MinRtrAdvInterval 3;
//!     MaxRtrAdvInterval 4;
//!     AdvLinkMTU 1400;
//!     prefix 2001:db8:42::/64 { };
//! };
//! EOF
//! sudo sysctl -w net.ipv6.conf.all.forwarding=1
//! sudo radvd --nodaemon --config radvd-tun0.conf --pidfile /tmp/radvd-tun0.pid
//! ```
//!
//! The host prints the address it formed in 2001:db8:42::/64 and its default router (the
//! kernel's link-local address). Then:
//!
//! ```text
//! ping -6 -c 3 2001:db8:42:0:...    # the address the host printed
//! nc 2001:db8:42:0:... 7            # each line you type comes back
//! sudo ip tuntap del dev tun0 mode tun
//! ```
//!
//! Without a router the host keeps only its link-local address, which answers too:
//! `ping -6 fe80::...%tun0`.
//!
//! The stable address is derived from a secret (RFC 7217); this example draws a new secret
//! at each start, so the address changes from run to run. A real host stores its secret.
//!
//! (smoltcp answers echo requests by itself only with its `auto-icmp-echo-reply` feature,
//! which this crate does not enable; here a raw ICMPv6 socket answers them, as any
//! application on smoltcp can.)

use std::error::Error;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant as StdInstant;

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::host::{Host, HostConfig};
use bridgeless_iface::rd::{self, StableIid};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::iface::{SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{raw, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpAddress, IpCidr, IpProtocol, IpVersion, Ipv6Packet, Ipv6Repr,
};

const ECHO_PORT: u16 = 7;
/// TCP connections served at once.
const ECHO_SOCKETS: usize = 4;
const TCP_BUFFER: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 1 {
        eprintln!("usage: tun_host NAME   (e.g. tun_host tun0)");
        return ExitCode::from(2);
    }
    match run(&args[0]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tun_host: {err}");
            ExitCode::FAILURE
        }
    }
}

/// 32 octets from the kernel's random number generator.
fn random_seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

fn run(name: &str) -> Result<(), Box<dyn Error>> {
    let mut tun = Tun::open(name).map_err(|e| format!("cannot open TUN device {name:?}: {e}"))?;
    eprintln!("{}: mtu {}", tun.name(), tun.mtu());

    let mut rng = ChaCha8Rng::from_seed(random_seed()?);
    let iid = StableIid::new(random_seed()?, tun.name().as_bytes())
        .ok_or("the interface name is too long for a stable identifier")?;
    let config = HostConfig::new(
        rd::Config::new(iid, tun.mtu() as u32),
        rand_core::RngCore::next_u64(&mut rng),
    );

    let start = StdInstant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as i64);
    let mut host = Host::new(config, &mut tun, now());
    host.link_up(now(), &mut rng);

    let mut storage: Vec<SocketStorage<'_>> = (0..ECHO_SOCKETS + 1)
        .map(|_| SocketStorage::EMPTY)
        .collect();
    let mut sockets = SocketSet::new(&mut storage[..]);

    let mut ping_meta = [raw::PacketMetadata::EMPTY; 16];
    let mut ping_data = vec![0u8; 64 * 1024];
    let mut reply_meta = [raw::PacketMetadata::EMPTY; 16];
    let mut reply_data = vec![0u8; 64 * 1024];
    let ping = sockets.add(raw::Socket::new(
        Some(IpVersion::Ipv6),
        Some(IpProtocol::Icmpv6),
        raw::PacketBuffer::new(&mut ping_meta[..], &mut ping_data[..]),
        raw::PacketBuffer::new(&mut reply_meta[..], &mut reply_data[..]),
    ));

    let mut tcp_buffers = vec![0u8; 2 * TCP_BUFFER * ECHO_SOCKETS];
    let mut echo: Vec<SocketHandle> = Vec::new();
    for buffers in tcp_buffers.chunks_mut(2 * TCP_BUFFER) {
        let (rx, tx) = buffers.split_at_mut(TCP_BUFFER);
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
        echo.push(sockets.add(socket));
    }

    let mut request = vec![0u8; 64 * 1024];
    let mut pings_answered = 0u64;
    let mut shown = Shown::default();
    loop {
        let timestamp = now();
        host.poll(timestamp, &mut tun, &mut sockets, &mut rng);
        shown.update(&host);
        let ours = host.interface().ip_addrs();
        pings_answered +=
            answer_pings(sockets.get_mut::<raw::Socket<'_>>(ping), ours, &mut request);
        for &handle in &echo {
            serve_echo(sockets.get_mut::<tcp::Socket<'_>>(handle))?;
        }
        if let Some(err) = tun.take_last_error() {
            let stats = tun.stats();
            eprintln!(
                "{}: I/O error: {err} ({} read errors, {} write errors, {} pings answered)",
                tun.name(),
                stats.rx_errors,
                stats.tx_errors,
                pings_answered
            );
        }
        let timestamp = now();
        let delay = host
            .poll_at(timestamp, &sockets)
            .map_or(Duration::from_secs(1), |at| {
                if at > timestamp {
                    at - timestamp
                } else {
                    Duration::ZERO
                }
            });
        tun.wait(Some(delay))?;
    }
}

/// What the host has learned, as last printed.
#[derive(Default)]
struct Shown {
    addrs: Vec<IpCidr>,
    default_router: Option<IpAddress>,
    mtu: u32,
}

impl Shown {
    /// Prints the addresses, default router and link MTU when they change.
    fn update(&mut self, host: &Host) {
        let addrs = host.interface().ip_addrs();
        if addrs != self.addrs.as_slice() {
            for cidr in addrs.iter().filter(|c| !self.addrs.contains(c)) {
                eprintln!("address {cidr}");
            }
            for cidr in self.addrs.iter().filter(|c| !addrs.contains(c)) {
                eprintln!("address {cidr} removed");
            }
            self.addrs = addrs.to_vec();
        }
        let router = host
            .interface()
            .routes()
            .get_default_ipv6_route()
            .map(|r| r.via_router);
        if router != self.default_router {
            match router {
                Some(r) => eprintln!("default router {r}"),
                None => eprintln!("no default router"),
            }
            self.default_router = router;
        }
        let mtu = host.router_discovery().mtu();
        if mtu != self.mtu {
            eprintln!("link mtu {mtu}");
            self.mtu = mtu;
        }
    }
}

/// Answers the echo requests to any of `ours` that `socket` holds, reading each into
/// `request`; returns how many.
fn answer_pings(socket: &mut raw::Socket<'_>, ours: &[IpCidr], request: &mut [u8]) -> u64 {
    let mut answered = 0;
    while socket.can_recv() && socket.can_send() {
        // A request longer than `request` is dropped (recv_slice has dequeued it).
        if let Ok(len) = socket.recv_slice(request) {
            answered += u64::from(echo_reply(&request[..len], ours, socket));
        }
    }
    answered
}

/// If `packet` is an ICMPv6 echo request to one of `ours`, queues the reply (from that
/// address) on `socket`.
fn echo_reply(packet: &[u8], ours: &[IpCidr], socket: &mut raw::Socket<'_>) -> bool {
    let caps = ChecksumCapabilities::default();
    let Ok(ip) = Ipv6Packet::new_checked(packet) else {
        return false;
    };
    let Ok(ip_repr) = Ipv6Repr::parse(&ip) else {
        return false;
    };
    if !ours
        .iter()
        .any(|c| c.address() == IpAddress::Ipv6(ip_repr.dst_addr))
    {
        return false;
    }
    let Ok(icmp) = Icmpv6Packet::new_checked(ip.payload()) else {
        return false;
    };
    let Ok(Icmpv6Repr::EchoRequest {
        ident,
        seq_no,
        data,
    }) = Icmpv6Repr::parse(&ip_repr.src_addr, &ip_repr.dst_addr, &icmp, &caps)
    else {
        return false;
    };
    // RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.
    let reply = Icmpv6Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let reply_ip = Ipv6Repr {
        src_addr: ip_repr.dst_addr,
        dst_addr: ip_repr.src_addr,
        next_header: IpProtocol::Icmpv6,
        payload_len: reply.buffer_len(),
        hop_limit: 64,
    };
    let Ok(buf) = socket.send(reply_ip.buffer_len() + reply.buffer_len()) else {
        return false;
    };
    let mut out = Ipv6Packet::new_unchecked(&mut *buf);
    reply_ip.emit(&mut out);
    reply.emit(
        &reply_ip.src_addr,
        &reply_ip.dst_addr,
        &mut Icmpv6Packet::new_unchecked(out.payload_mut()),
        &caps,
    );
    true
}

/// Echoes what arrived on `socket` (as much as its send buffer takes), closes when the client
/// has closed and all went back, and listens again once the connection is over.
fn serve_echo(socket: &mut tcp::Socket<'_>) -> Result<(), Box<dyn Error>> {
    if !socket.is_open() {
        socket.listen(ECHO_PORT)?;
    }
    let mut chunk = [0u8; 4096];
    while socket.can_recv() && socket.can_send() {
        let room = (socket.send_capacity() - socket.send_queue()).min(chunk.len());
        let n = socket.recv_slice(&mut chunk[..room])?;
        if n == 0 {
            break;
        }
        socket.send_slice(&chunk[..n])?;
    }
    if socket.state() == tcp::State::CloseWait && socket.send_queue() == 0 {
        socket.close();
    }
    Ok(())
}
