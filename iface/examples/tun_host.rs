//! A host on a TUN device that answers ping and serves TCP echo (RFC 862) on port 7.
//!
//! ```text
//! tun_host NAME ADDRESS/PREFIX [GATEWAY]
//! ```
//!
//! It opens the TUN device NAME (creating it if it does not exist), puts a smoltcp interface
//! with the IPv6 address ADDRESS/PREFIX on it (and a default route via GATEWAY, without which
//! it answers only addresses inside PREFIX), and runs forever: it answers ICMPv6 echo
//! requests and echoes back whatever up to four TCP clients at a time send to port 7.
//!
//! Try it. Create the device for your user (then the example needs no root), give the
//! kernel's end of the link an address, bring it up, and start the host:
//!
//! ```text
//! sudo ip tuntap add dev tun0 mode tun user $USER
//! sudo ip -6 addr add fd00::1/64 dev tun0
//! sudo ip link set tun0 up
//! cargo run -p bridgeless-iface --example tun_host -- tun0 fd00::2/64
//! ```
//!
//! In another terminal, the kernel is the peer:
//!
//! ```text
//! ping -6 -c 3 fd00::2
//! nc fd00::2 7                 # each line you type comes back
//! sudo ip tuntap del dev tun0 mode tun
//! ```
//!
//! (smoltcp answers echo requests by itself only with its `auto-icmp-echo-reply` feature,
//! which this crate does not enable; here a raw ICMPv6 socket answers them, as any
//! application on smoltcp can.)

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant as StdInstant;

use bridgeless_iface::device::tun::Tun;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{raw, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, Icmpv6Packet, Icmpv6Repr, IpCidr, IpProtocol, IpVersion, Ipv6Address,
    Ipv6Cidr, Ipv6Packet, Ipv6Repr,
};

const ECHO_PORT: u16 = 7;
/// TCP connections served at once.
const ECHO_SOCKETS: usize = 4;
const TCP_BUFFER: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=3).contains(&args.len()) {
        eprintln!(
            "usage: tun_host NAME ADDRESS/PREFIX [GATEWAY]   (e.g. tun_host tun0 fd00::2/64)"
        );
        return ExitCode::from(2);
    }
    match run(&args[0], &args[1], args.get(2).map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tun_host: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, cidr: &str, gateway: Option<&str>) -> Result<(), Box<dyn Error>> {
    let cidr: Ipv6Cidr = cidr
        .parse()
        .map_err(|()| format!("{cidr:?} is not an IPv6 address/prefix"))?;
    let gateway: Option<Ipv6Address> = gateway
        .map(|g| {
            g.parse()
                .map_err(|_| format!("{g:?} is not an IPv6 address"))
        })
        .transpose()?;

    let mut tun = Tun::open(name).map_err(|e| format!("cannot open TUN device {name:?}: {e}"))?;
    eprintln!("{}: mtu {}, address {cidr}", tun.name(), tun.mtu());

    let start = StdInstant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as i64);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut tun, now());
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::Ipv6(cidr))
            .expect("room for one address");
    });
    if let Some(gateway) = gateway {
        iface.routes_mut().add_default_ipv6_route(gateway)?;
    }

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
    loop {
        let timestamp = now();
        iface.poll(timestamp, &mut tun, &mut sockets);
        pings_answered += answer_pings(
            sockets.get_mut::<raw::Socket<'_>>(ping),
            cidr.address(),
            &mut request,
        );
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
        let delay = iface
            .poll_delay(now(), &sockets)
            .unwrap_or(Duration::from_secs(1));
        tun.wait(Some(delay))?;
    }
}

/// Answers the echo requests to `ours` that `socket` holds, reading each into `request`;
/// returns how many.
fn answer_pings(socket: &mut raw::Socket<'_>, ours: Ipv6Address, request: &mut [u8]) -> u64 {
    let mut answered = 0;
    while socket.can_recv() && socket.can_send() {
        // A request longer than `request` is dropped (recv_slice has dequeued it).
        if let Ok(len) = socket.recv_slice(request) {
            answered += u64::from(echo_reply(&request[..len], ours, socket));
        }
    }
    answered
}

/// If `packet` is an ICMPv6 echo request to `ours`, queues the reply on `socket`.
fn echo_reply(packet: &[u8], ours: Ipv6Address, socket: &mut raw::Socket<'_>) -> bool {
    let caps = ChecksumCapabilities::default();
    let Ok(ip) = Ipv6Packet::new_checked(packet) else {
        return false;
    };
    let Ok(ip_repr) = Ipv6Repr::parse(&ip) else {
        return false;
    };
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
    if ip_repr.dst_addr != ours {
        return false;
    }
    // RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.
    let reply = Icmpv6Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let reply_ip = Ipv6Repr {
        src_addr: ours,
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
