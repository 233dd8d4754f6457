//! Two processes joined by a point-to-point link carried over UDP ([`UdpLink`]): one serves TCP
//! echo (RFC 862) on port 7, the other connects to it and prints what comes back.
//!
//! ```text
//! udp_pair serve   LOCAL PEER                 # fd00::1, echo on port 7, runs until killed
//! udp_pair connect LOCAL PEER [--message M]   # fd00::2, sends M or the lines of stdin
//! ```
//!
//! LOCAL and PEER are the UDP socket addresses of this end and of the other end. Try it in two
//! terminals (no root needed, nothing to configure):
//!
//! ```text
//! cargo run -p bridgeless-iface --example udp_pair -- serve 127.0.0.1:7001 127.0.0.1:7002
//! cargo run -p bridgeless-iface --example udp_pair -- connect 127.0.0.1:7002 127.0.0.1:7001
//! ```
//!
//! Each line typed in the second terminal comes back from the first over a smoltcp TCP
//! connection between fd00::2 and fd00::1, whose IPv6 packets travel one per UDP datagram. End
//! the input (Ctrl-D) to close the connection. With `--message TEXT` the client sends TEXT,
//! prints the echo and exits.
//!
//! The two ends may run on different machines: give each one's reachable address as the
//! other's PEER. Datagrams from any other address are dropped (see [`UdpLink`]).

use std::error::Error;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::udp::UdpLink;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpCidr, Ipv6Address, Ipv6Cidr};

/// The server's address on the link.
pub const SERVER: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// The client's address on the link.
pub const CLIENT: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// The TCP echo port (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// The link MTU: a 1500-byte path less the IPv6 and UDP headers of the carrier (40 + 8), so
/// that no frame is fragmented on the way, whichever IP version carries it.
pub const LINK_MTU: usize = 1452;
/// TCP connections the server serves at once.
const ECHO_SOCKETS: usize = 2;
const TCP_BUFFER: usize = 16 * 1024;
/// The longest the client sleeps without looking at its input.
const INPUT_CHECK: StdDuration = StdDuration::from_millis(20);
/// How long the client waits before connecting again when refused.
const RETRY: StdDuration = StdDuration::from_millis(500);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", local, peer] => link(local, peer).and_then(|link| {
            let never = AtomicBool::new(false);
            serve(link, &never)
        }),
        ["connect", local, peer] => link(local, peer).and_then(|link| {
            let (lines, input) = mpsc::channel();
            // A thread reads stdin, so that the network is served while the user types.
            std::thread::spawn(move || {
                for line in io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if lines.send(line).is_err() {
                        break;
                    }
                }
            });
            connect(link, input, &mut io::stdout().lock(), None)
        }),
        ["connect", local, peer, "--message", message] => link(local, peer).and_then(|link| {
            let (lines, input) = mpsc::channel();
            lines.send(message.to_string())?;
            drop(lines);
            let deadline = StdInstant::now() + StdDuration::from_secs(30);
            connect(link, input, &mut io::stdout().lock(), Some(deadline))
        }),
        _ => {
            eprintln!(
                "usage: udp_pair serve LOCAL PEER\n       udp_pair connect LOCAL PEER [--message TEXT]\n\
                 (e.g. udp_pair serve 127.0.0.1:7001 127.0.0.1:7002)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("udp_pair: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Binds the UDP socket `local` and makes a link to `peer`.
fn link(local: &str, peer: &str) -> Result<UdpLink, Box<dyn Error>> {
    let local: SocketAddr = local
        .parse()
        .map_err(|_| format!("{local:?} is not a socket address (such as 127.0.0.1:7001)"))?;
    let peer: SocketAddr = peer
        .parse()
        .map_err(|_| format!("{peer:?} is not a socket address (such as 127.0.0.1:7002)"))?;
    Ok(UdpLink::bind(local, peer, LINK_MTU).map_err(|e| format!("cannot bind {local}: {e}"))?)
}

/// A clock for smoltcp: time since `start`.
fn now(start: StdInstant) -> Instant {
    Instant::from_micros(start.elapsed().as_micros() as i64)
}

/// A smoltcp interface on `link` with the one address `address`/64.
pub fn interface(link: &mut UdpLink, address: Ipv6Address, start: StdInstant) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    // Seeds TCP initial sequence numbers: good enough for an example, not for the Internet.
    config.random_seed = u64::from(std::process::id()) ^ start.elapsed().as_nanos() as u64;
    let mut iface = Interface::new(config, link, now(start));
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::Ipv6(Ipv6Cidr::new(address, 64)))
            .expect("room for one address");
    });
    iface
}

/// Waits until the link's socket has a datagram or `timeout` has passed.
///
/// [`UdpLink`] keeps its socket non-blocking; this switches it to blocking for one `peek`
/// with a timeout and back, which needs no `unsafe` and no poll(2) of our own.
pub fn wait(link: &UdpLink, timeout: StdDuration) -> io::Result<()> {
    let socket = link.socket();
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(timeout.max(StdDuration::from_micros(1))))?;
    // Errors (timeout, a datagram longer than one byte on some systems) only end the wait.
    let _ = socket.peek_from(&mut [0u8; 1]);
    socket.set_nonblocking(true)
}

/// Serves TCP echo on `SERVER` port 7 over `link` until `stop` is set.
pub fn serve(mut link: UdpLink, stop: &AtomicBool) -> Result<(), Box<dyn Error>> {
    let start = StdInstant::now();
    let mut iface = interface(&mut link, SERVER, start);
    let mut storage: Vec<SocketStorage<'_>> =
        (0..ECHO_SOCKETS).map(|_| SocketStorage::EMPTY).collect();
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut echo: Vec<SocketHandle> = Vec::new();
    for _ in 0..ECHO_SOCKETS {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        );
        // Listening before the first poll: a SYN already waiting is accepted, not reset.
        socket.listen(ECHO_PORT)?;
        echo.push(sockets.add(socket));
    }
    log::info!("serving TCP echo on [{SERVER}]:{ECHO_PORT} over {link:?}");
    while !stop.load(Ordering::Relaxed) {
        iface.poll(now(start), &mut link, &mut sockets);
        for &handle in &echo {
            serve_echo(sockets.get_mut::<tcp::Socket<'_>>(handle))?;
        }
        let delay = iface
            .poll_delay(now(start), &sockets)
            .unwrap_or(Duration::from_millis(100))
            // Look at `stop` now and then.
            .min(Duration::from_millis(100));
        wait(&link, StdDuration::from_micros(delay.total_micros()))?;
    }
    Ok(())
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

/// Connects from `CLIENT` to the echo server over `link`, sends each line `input` yields
/// (newline-terminated), writes each line echoed back to `output`, and closes the connection
/// once `input` is finished (its senders dropped) and everything came back.
///
/// A refused connection (no server yet) is tried again every half second. Fails if an
/// established connection is reset, if the echo differs from what was sent, or at `deadline`.
pub fn connect(
    mut link: UdpLink,
    input: Receiver<String>,
    output: &mut dyn Write,
    deadline: Option<StdInstant>,
) -> Result<(), Box<dyn Error>> {
    let start = StdInstant::now();
    let mut iface = interface(&mut link, CLIENT, start);
    let mut storage = [SocketStorage::EMPTY];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    ));
    let mut local_port = 49152 + (start.elapsed().as_nanos() % 16384) as u16;
    sockets.get_mut::<tcp::Socket<'_>>(handle).connect(
        iface.context(),
        (SERVER, ECHO_PORT),
        local_port,
    )?;
    // When the connection was refused (the server not started yet): when to try again.
    let mut retry_at: Option<StdInstant> = None;

    let mut to_send: Vec<u8> = Vec::new(); // queued, not yet in the socket
    let mut sent: Vec<u8> = Vec::new(); // in the socket, not yet echoed
    let mut received: Vec<u8> = Vec::new(); // echoed, not yet a whole line
    let mut input_done = false;
    let mut closing = false;
    let mut connected = false;
    loop {
        if deadline.is_some_and(|d| StdInstant::now() >= d) {
            return Err(format!(
                "no complete echo in time ({} bytes outstanding, {:?})",
                sent.len() + to_send.len(),
                link.counters()
            )
            .into());
        }
        loop {
            match input.try_recv() {
                Ok(line) => {
                    to_send.extend_from_slice(line.as_bytes());
                    to_send.push(b'\n');
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    input_done = true;
                    break;
                }
            }
        }

        if retry_at.is_some_and(|t| StdInstant::now() >= t) {
            retry_at = None;
            local_port = if local_port == u16::MAX {
                49152
            } else {
                local_port + 1
            };
            sockets.get_mut::<tcp::Socket<'_>>(handle).connect(
                iface.context(),
                (SERVER, ECHO_PORT),
                local_port,
            )?;
        }
        iface.poll(now(start), &mut link, &mut sockets);
        let socket = sockets.get_mut::<tcp::Socket<'_>>(handle);
        if socket.is_active() && socket.may_send() {
            connected = true;
        }
        if socket.can_send() && !to_send.is_empty() {
            let n = socket.send_slice(&to_send)?;
            sent.extend(to_send.drain(..n));
        }
        while socket.can_recv() {
            let mut chunk = [0u8; 4096];
            let n = socket.recv_slice(&mut chunk)?;
            if n == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..n]);
        }
        // Every byte that came back must be the next one sent.
        let echoed = received.len().min(sent.len());
        if received[..echoed] != sent[..echoed] {
            return Err("the echo differs from what was sent".into());
        }
        while let Some(end) = received.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = received.drain(..=end).collect();
            sent.drain(..=end);
            output.write_all(&line)?;
            output.flush()?;
        }
        if input_done && to_send.is_empty() && sent.is_empty() && !closing {
            socket.close();
            closing = true;
        }
        if !socket.is_open() {
            if closing {
                return Ok(());
            }
            if connected {
                return Err("the server closed or reset the connection".into());
            }
            if retry_at.is_none() {
                log::info!("connection refused: is the server running? trying again");
                retry_at = Some(StdInstant::now() + RETRY);
            }
        }
        let delay = iface
            .poll_delay(now(start), &sockets)
            .unwrap_or(Duration::from_secs(1));
        let delay = StdDuration::from_micros(delay.total_micros()).min(INPUT_CHECK);
        wait(&link, delay)?;
    }
}
