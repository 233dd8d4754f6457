//! Same seed and script, same bytes: captures and counters of a run are a function of the
//! seed, and one link's randomness does not depend on the others.

mod common;

use core::time::Duration;

use bridgeless_sim::{Action, LinkCounters, LinkId, LinkParams, Sim};
use common::{Sender, Sink};
use smoltcp::time::Instant;

fn faulty() -> LinkParams {
    LinkParams {
        latency: Duration::from_micros(1_500),
        bandwidth_bps: 20_000_000,
        loss: 0.05,
        reorder: 0.05,
        reorder_delay: Duration::from_micros(400),
        duplication: 0.05,
        queue_frames: 8,
        ..LinkParams::default()
    }
}

/// Three senders into one sink over faulty links, one of them moving and one flapping;
/// `extra` adds a fourth, independent pair of nodes and link.
fn run(seed: u64, extra: bool) -> (Vec<Vec<u8>>, Vec<LinkCounters>) {
    let mut sim = Sim::new(seed);
    let sink = sim.add_node("sink", Sink::default());
    let mut links = Vec::new();
    for i in 0..3 {
        let s = sim.add_node(
            format!("s{i}"),
            Sender::new(400, 100 + 300 * i, 0, 50 + 20 * i as i64),
        );
        let (ps, pk) = (sim.add_port(s), sim.add_port(sink));
        let link = sim.connect(ps, pk, faulty()).unwrap();
        sim.capture_link_in_memory(link);
        links.push(link);
    }
    if extra {
        let a = sim.add_node("x", Sender::new(1000, 64, 0, 10));
        let b = sim.add_node("y", Sink::default());
        let (pa, pb) = (sim.add_port(a), sim.add_port(b));
        let link = sim.connect(pa, pb, faulty()).unwrap();
        sim.capture_link_in_memory(link);
    }
    // Sender 2 leaves its link at 10 ms and comes back at 15; link 1 flaps.
    let mover = sim.link_ends(links[2])[0].unwrap();
    sim.schedule(Instant::from_millis(10), Action::Detach(mover));
    sim.schedule(Instant::from_millis(15), Action::Attach(mover, links[2]));
    sim.schedule(Instant::from_millis(8), Action::LinkDown(links[1]));
    sim.schedule(Instant::from_millis(9), Action::LinkUp(links[1]));
    sim.run_until(Instant::from_secs(1));
    assert!(sim.failures().is_empty());
    (
        links.iter().map(|&l| sim.captured(l).unwrap()).collect(),
        links.iter().map(|&l| sim.link_counters(l)).collect(),
    )
}

#[test]
fn same_seed_same_bytes() {
    let (pcaps, counters) = run(11, false);
    let again = run(11, false);
    assert_eq!(pcaps, again.0);
    assert_eq!(counters, again.1);
    for c in &counters {
        let d = c.directions[0];
        assert!(d.lost > 0 && d.duplicated > 0 && d.held_back > 0, "{d:?}");
    }
    assert!(counters[1].directions[0].dropped.link_down > 0);
    assert!(counters[2].directions[0].dropped.in_flight > 0);
    assert!(pcaps.iter().all(|p| p.len() > 24 + 100 * 300));
}

#[test]
fn another_seed_other_bytes() {
    let (pcaps, counters) = run(11, false);
    let (other, other_counters) = run(12, false);
    for i in 0..3 {
        assert_ne!(pcaps[i], other[i], "link {i}");
        assert_ne!(counters[i], other_counters[i], "link {i}");
    }
}

#[test]
fn adding_a_link_leaves_the_others_alone() {
    assert_eq!(run(11, false), run(11, true));
}

#[test]
fn capture_all_names_files_after_the_link_and_its_nodes() {
    let dir = std::env::temp_dir().join(format!("bridgeless-sim-all-{}", std::process::id()));
    let mut sim = Sim::new(1);
    let a = sim.add_node("a", Sender::new(3, 64, 0, 0));
    let b = sim.add_node("b/1", Sink::default());
    let (pa, pb) = (sim.add_port(a), sim.add_port(b));
    sim.capture_all(&dir).unwrap();
    let link: LinkId = sim.connect(pa, pb, LinkParams::default()).unwrap();
    let vacant = sim.add_link(LinkParams::default());
    sim.run_until(Instant::from_millis(10));
    sim.flush_captures().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["link-0000-a-b_1.pcap", "link-0001-none-none.pcap"]);
    let records = bridgeless_wire::pcap::replay(dir.join(&names[0]))
        .unwrap()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].timestamp, Duration::from_millis(1));
    assert_eq!(records[0].ip().unwrap(), &common::packet(0, 64)[..]);
    assert_eq!(sim.link_counters(link).total().delivered, 3);
    assert_eq!(sim.link_counters(vacant).total().sent, 0);
    std::fs::remove_dir_all(&dir).ok();
}
