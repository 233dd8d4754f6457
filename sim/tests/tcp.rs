//! Two smoltcp interfaces (`Medium::Ip`) with TCP sockets, unmodified, over a simulated link
//! with 1 % loss: a megabyte arrives intact, the run is reproducible, and the link's pcap is
//! read back by an independent reader (pcap-file, and tshark when installed).

use core::time::Duration;
use std::path::PathBuf;
use std::process::Command;

mod common;

use bridgeless_sim::{LinkCounters, LinkParams, NodeId, Sim};
use common::tcp_host::TcpHost;
use rand_core::RngCore;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;
const SIZE: usize = 1 << 20;

fn addr(n: u16) -> Ipv6Address {
    Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, n)
}

struct Run {
    finished_at: Option<Instant>,
    received: Vec<u8>,
    data: Vec<u8>,
    counters: LinkCounters,
    pcap: Vec<u8>,
    delivered_file: Option<u64>,
}

fn run(seed: u64, pcap_file: Option<&PathBuf>) -> Run {
    let mut sim = Sim::new(seed);
    let mut data = vec![0u8; SIZE];
    sim.rng(1000).fill_bytes(&mut data);
    // Each host's own random stream seeds its TCP initial sequence numbers and ports.
    let (seed_s, seed_c) = (sim.rng(1).next_u64(), sim.rng(2).next_u64());
    let server: NodeId = sim.add_node_with("server", 1, |ports| {
        TcpHost::new(&mut ports[0], seed_s, addr(1), None, None, Vec::new())
    });
    let sent = data.clone();
    let client = sim.add_node_with("client", 1, |ports| {
        TcpHost::new(&mut ports[0], seed_c, addr(2), None, Some(addr(1)), sent)
    });
    let (ps, pc) = (sim.node_ports(server)[0], sim.node_ports(client)[0]);
    let params = LinkParams {
        latency: Duration::from_millis(5),
        bandwidth_bps: 100_000_000,
        loss: 0.01,
        queue_frames: 100,
        ..LinkParams::default()
    };
    let link = sim.connect(pc, ps, params).unwrap();
    match pcap_file {
        Some(path) => sim.capture_link(link, path).unwrap(),
        None => sim.capture_link_in_memory(link),
    }
    let done = sim.run_until_done(Instant::from_secs(600), |sim| {
        sim.node::<TcpHost>(server).unwrap().received.len() == SIZE
    });
    let finished_at = done.then(|| sim.now());
    sim.flush_captures().unwrap();
    let counters = sim.link_counters(link);
    let pcap = sim.captured(link).unwrap_or_default();
    let received = std::mem::take(&mut sim.node_mut::<TcpHost>(server).unwrap().received);
    Run {
        finished_at,
        received,
        data,
        counters,
        pcap,
        delivered_file: pcap_file.map(|_| counters.total().delivered),
    }
}

#[test]
fn a_megabyte_crosses_a_lossy_link_intact_and_reproducibly() {
    let first = run(2024, None);
    let at = first
        .finished_at
        .expect("transfer finished within 10 simulated minutes");
    assert!(
        first.received == first.data,
        "the bytes arrived intact and in order"
    );
    let c = first.counters.total();
    assert!(c.lost > 0, "the link did lose frames: {c:?}");
    assert!(c.delivered > 700, "{c:?}");
    // At 100 Mbit/s, a megabyte takes at least 84 ms on the wire.
    assert!(at > Instant::from_millis(84), "{at}");

    let again = run(2024, None);
    assert_eq!(again.finished_at, first.finished_at);
    assert_eq!(again.counters, first.counters);
    assert!(
        again.pcap == first.pcap,
        "same seed, same capture, byte for byte"
    );

    let other = run(2025, None);
    assert!(other.received == other.data);
    assert!(other.pcap != first.pcap, "another seed loses other frames");
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("bridgeless-sim-{}-{name}", std::process::id()))
}

#[test]
fn the_capture_reads_back() {
    let path = temp_path("tcp.pcap");
    let run = run(7, Some(&path));
    assert!(run.received == run.data);
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let header = reader.header();
    assert_eq!(header.datalink, pcap_file::DataLink::RAW);
    assert_eq!(header.ts_resolution, pcap_file::TsResolution::NanoSecond);
    let mut count = 0u64;
    let mut last = Duration::ZERO;
    let mut payload_bytes = 0usize;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        assert_eq!(packet.data[0] >> 4, 6, "an IPv6 packet");
        assert_eq!(packet.data.len(), packet.orig_len as usize);
        assert!(packet.timestamp >= last, "in time order");
        last = packet.timestamp;
        payload_bytes += packet.data.len().saturating_sub(40 + 20);
        count += 1;
    }
    assert_eq!(Some(count), run.delivered_file);
    assert!(payload_bytes >= SIZE, "the data went through the link");

    // The payload is random bytes: decode it as data, or tshark's heuristic dissectors
    // mistake some segments for other protocols and call those malformed.
    match Command::new("tshark")
        .args(["-r"])
        .arg(&path)
        .args(["-d", "tcp.port==5000,data", "-Y", "_ws.malformed"])
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let malformed = String::from_utf8_lossy(&out.stdout);
            assert!(malformed.trim().is_empty(), "malformed frames: {malformed}");
            // And tshark sees every frame, as TCP over IPv6.
            let out = Command::new("tshark")
                .arg("-r")
                .arg(&path)
                .args(["-Y", "ipv6 && tcp", "-T", "fields", "-e", "frame.number"])
                .output()
                .unwrap();
            let lines = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
            assert_eq!(lines, count);
        }
        Err(e) => eprintln!("tshark not installed ({e}): skipping its check"),
    }
    if std::env::var_os("KEEP_PCAP").is_none() {
        std::fs::remove_file(&path).ok();
    }
}
