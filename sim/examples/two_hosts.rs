//! Two smoltcp hosts, unmodified, send a file over TCP across a simulated link with loss;
//! then a chain of relays measures what the simulator itself costs per frame.
//!
//! ```text
//! cargo run --release -p bridgeless-sim --example two_hosts -- [--mb 4] [--loss 0.01] [--pcap DIR] [--relay-frames 200000]
//! ```
//!
//! With `--pcap DIR` every link is captured to `DIR/link-*.pcap` (open them in Wireshark:
//! the timestamps are virtual time from the start). Wall-clock timings are printed for
//! information only; they vary from run to run.
#![allow(clippy::print_stdout)] // an example prints its results

use std::error::Error;
use std::time::Instant as WallClock;

use bridgeless_sim::{LinkParams, Node, Port, Ports, Sim};
use core::time::Duration;
use rand_core::RngCore;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv6Address};

const PORT: u16 = 5000;

/// A smoltcp `Interface` with one TCP socket: a server that reads everything, or a client
/// that writes `data` and closes.
struct TcpHost {
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    data: Option<Vec<u8>>,
    written: usize,
    received: usize,
}

impl TcpHost {
    fn new(
        device: &mut Port,
        seed: u64,
        me: Ipv6Address,
        peer: Option<(Ipv6Address, Vec<u8>)>,
    ) -> Self {
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, device, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(IpAddress::Ipv6(me), 64)).unwrap();
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
        );
        let data = match peer {
            Some((peer, data)) => {
                socket
                    .connect(iface.context(), (IpAddress::Ipv6(peer), PORT), 49_152)
                    .unwrap();
                Some(data)
            }
            None => {
                socket.listen(PORT).unwrap();
                None
            }
        };
        let mut sockets = SocketSet::new(Vec::new());
        let tcp = sockets.add(socket);
        TcpHost {
            iface,
            sockets,
            tcp,
            data,
            written: 0,
            received: 0,
        }
    }
}

impl Node for TcpHost {
    fn poll(&mut self, now: Instant, ports: &mut Ports<'_>) {
        self.iface.poll(now, &mut ports[0], &mut self.sockets);
        let socket = self.sockets.get_mut::<tcp::Socket<'_>>(self.tcp);
        match &self.data {
            None => {
                while let Ok(n) = socket.recv(|buf| (buf.len(), buf.len())) {
                    if n == 0 {
                        break;
                    }
                    self.received += n;
                }
            }
            Some(data) => {
                if socket.can_send() && self.written < data.len() {
                    self.written += socket.send_slice(&data[self.written..]).unwrap();
                    if self.written == data.len() {
                        socket.close();
                    }
                }
            }
        }
        self.iface.poll(now, &mut ports[0], &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(now, &self.sockets)
    }
}

/// Passes every frame from one port to the other; the first relay of a chain also makes
/// `remaining` frames, the last one counts what arrives.
struct Relay {
    remaining: u64,
    frame: Vec<u8>,
    arrived: u64,
}

impl Node for Relay {
    fn poll(&mut self, _now: Instant, ports: &mut Ports<'_>) {
        // Sends in bursts of 8 per poll, 10 µs apart (see poll_at): 0.8 frames per µs.
        for _ in 0..self.remaining.min(8) {
            ports[0].send(&self.frame);
            self.remaining -= 1;
        }
        let [a, b] = ports.as_mut_slice() else {
            // An end of the chain: count.
            while ports[0].recv(|_| ()).is_some() {
                self.arrived += 1;
            }
            return;
        };
        while a.recv(|f| b.send(f)).is_some() {}
        while b.recv(|f| a.send(f)).is_some() {}
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        (self.remaining > 0).then(|| now + smoltcp::time::Duration::from_micros(10))
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut mb = 4usize;
    let mut loss = 0.01;
    let mut pcap = None;
    let mut relay_frames = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mb" => mb = args.next().ok_or("--mb N")?.parse()?,
            "--loss" => loss = args.next().ok_or("--loss P")?.parse()?,
            "--pcap" => pcap = Some(args.next().ok_or("--pcap DIR")?),
            "--relay-frames" => relay_frames = args.next().ok_or("--relay-frames N")?.parse()?,
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }

    // --- A TCP transfer between two unmodified smoltcp interfaces. ---
    let mut sim = Sim::new(1);
    if let Some(dir) = &pcap {
        sim.capture_all(dir)?;
    }
    let mut data = vec![0u8; mb << 20];
    sim.rng(0).fill_bytes(&mut data);
    let (server_addr, client_addr) = (
        Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
    );
    let (seed_s, seed_c) = (sim.rng(1).next_u64(), sim.rng(2).next_u64());
    let server = sim.add_node_with("server", 1, |p| {
        TcpHost::new(&mut p[0], seed_s, server_addr, None)
    });
    let client = sim.add_node_with("client", 1, |p| {
        TcpHost::new(&mut p[0], seed_c, client_addr, Some((server_addr, data)))
    });
    let link = sim.connect(
        sim.node_ports(client)[0],
        sim.node_ports(server)[0],
        LinkParams {
            latency: Duration::from_millis(10),
            bandwidth_bps: 50_000_000,
            loss,
            queue_frames: 200,
            ..LinkParams::default()
        },
    )?;
    let total = mb << 20;
    let wall = WallClock::now();
    let done = sim.run_until_done(Instant::from_secs(3_600), |sim| {
        sim.node::<TcpHost>(server).unwrap().received == total
    });
    let elapsed = wall.elapsed();
    let c = sim.link_counters(link).total();
    let virtual_secs = sim.now().total_micros() as f64 / 1e6;
    println!(
        "TCP: {mb} MiB {} in {virtual_secs:.3} s of virtual time ({:.1} Mbit/s) over a 50 Mbit/s, 10 ms link with {:.1} % loss",
        if done { "arrived" } else { "did NOT arrive" },
        total as f64 * 8.0 / virtual_secs / 1e6,
        loss * 100.0,
    );
    println!(
        "     frames: {} sent, {} delivered, {} lost, {} dropped (queue full {})",
        c.sent,
        c.delivered,
        c.lost,
        c.dropped.total(),
        c.dropped.queue_full
    );
    println!(
        "     wall clock: {:.3} s, {:.0}x real time, {:.0} ns per frame (smoltcp included)",
        elapsed.as_secs_f64(),
        virtual_secs / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / c.sent as f64
    );
    sim.flush_captures()?;
    if let Some(dir) = &pcap {
        println!("     capture: {dir}/");
    }

    // --- The simulator's own cost: frames relayed along a chain of nodes. ---
    const HOPS: usize = 8;
    let frames: u64 = if relay_frames == 0 {
        200_000
    } else {
        relay_frames
    };
    let mut sim = Sim::new(2);
    let mut frame = vec![0u8; 100];
    frame[0] = 0x60;
    frame[6] = 59;
    let mut nodes = Vec::new();
    for i in 0..=HOPS {
        let relay = Relay {
            remaining: if i == 0 { frames } else { 0 },
            frame: frame.clone(),
            arrived: 0,
        };
        nodes.push(sim.add_node(format!("r{i}"), relay));
    }
    let mut links = Vec::new();
    for pair in nodes.windows(2) {
        let (a, b) = (sim.add_port(pair[0]), sim.add_port(pair[1]));
        let params = LinkParams {
            loss: 0.001,
            ..LinkParams::with_latency(Duration::from_micros(100))
        };
        links.push(sim.connect(a, b, params)?);
    }
    let wall = WallClock::now();
    run_chain(&mut sim);
    let elapsed = wall.elapsed();
    let arrived = sim.node::<Relay>(nodes[HOPS]).unwrap().arrived;
    let hops: u64 = links
        .iter()
        .map(|&l| sim.link_counters(l).total().sent)
        .sum();
    let counters = sim.counters();
    println!(
        "sim overhead: {frames} frames over {HOPS} hops ({arrived} arrived, {hops} frame-hops, {} events): {:.0} ns per frame-hop; frame pool {} buffers",
        counters.events,
        elapsed.as_nanos() as f64 / hops as f64,
        counters.frame_pool,
    );
    Ok(())
}

/// Runs the relay chain (a function of its own so that `valgrind --tool=callgrind
/// --toggle-collect=two_hosts::run_chain` counts only this part).
#[inline(never)]
fn run_chain(sim: &mut Sim) {
    sim.run_until(Instant::from_secs(60));
}
