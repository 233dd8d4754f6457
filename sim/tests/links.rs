//! Link behaviour a user relies on: delay arithmetic, queueing, MTU, faults, link state,
//! ports that move, and the accounting of every frame.

mod common;

use core::time::Duration;

use bridgeless_sim::{Action, LinkId, LinkParams, NodeId, Sim, SimError};
use common::{Sender, Sink};
use proptest::prelude::*;
use smoltcp::phy::Device;
use smoltcp::time::Instant;

fn ms(n: i64) -> Instant {
    Instant::from_millis(n)
}

/// A sender and a sink joined by one link.
fn pair(seed: u64, sender: Sender, params: LinkParams) -> (Sim, NodeId, NodeId, LinkId) {
    let mut sim = Sim::new(seed);
    let a = sim.add_node("sender", sender);
    let b = sim.add_node("sink", Sink::default());
    let (pa, pb) = (sim.add_port(a), sim.add_port(b));
    let link = sim.connect(pa, pb, params).unwrap();
    (sim, a, b, link)
}

fn received(sim: &Sim, sink: NodeId) -> &[(Instant, u64)] {
    &sim.node::<Sink>(sink).unwrap().received
}

/// Every frame sent is delivered, lost or dropped for a reason.
fn assert_accounted(sim: &Sim, link: LinkId) {
    assert_eq!(sim.counters().frames_in_flight, 0, "run until idle first");
    for d in sim.link_counters(link).directions {
        assert_eq!(
            d.sent + d.duplicated,
            d.delivered + d.lost + d.dropped.total(),
            "{d:?}"
        );
    }
}

#[test]
fn latency_is_exact() {
    let params = LinkParams::with_latency(Duration::from_micros(5_250));
    let (mut sim, _, b, link) = pair(1, Sender::new(3, 100, 1_000, 1_000), params);
    sim.run_until(ms(100));
    let times: Vec<_> = received(&sim, b)
        .iter()
        .map(|r| r.0.total_micros())
        .collect();
    assert_eq!(times, [6_250, 7_250, 8_250]);
    assert_eq!(sim.now(), ms(100));
    assert_accounted(&sim, link);
}

#[test]
fn bandwidth_serializes_frames_one_after_another() {
    // 1250 bytes = 10,000 bits at 1 Mbit/s: 10 ms each; then 2 ms of propagation.
    let params = LinkParams {
        latency: Duration::from_millis(2),
        bandwidth_bps: 1_000_000,
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(1, Sender::new(5, 1250, 0, 0), params);
    sim.run_until(ms(1_000));
    let got: Vec<_> = received(&sim, b)
        .iter()
        .map(|&(t, s)| (t.total_millis(), s))
        .collect();
    assert_eq!(got, [(12, 0), (22, 1), (32, 2), (42, 3), (52, 4)]);
    let c = sim.link_counters(link).directions[0];
    assert_eq!((c.sent, c.delivered, c.delivered_bytes), (5, 5, 6250));
    assert_accounted(&sim, link);
}

#[test]
fn a_full_queue_drops_the_tail() {
    let params = LinkParams {
        bandwidth_bps: 1_000_000,
        queue_frames: 4,
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(1, Sender::new(10, 1250, 0, 0), params);
    sim.run_until(ms(1_000));
    let seqs: Vec<_> = received(&sim, b).iter().map(|r| r.1).collect();
    assert_eq!(
        seqs,
        [0, 1, 2, 3],
        "the first four fit, the rest are dropped"
    );
    assert_eq!(sim.link_counters(link).directions[0].dropped.queue_full, 6);
    assert_accounted(&sim, link);

    // Once the queue drains, frames fit again: one frame every 10 ms never queues.
    let params = LinkParams {
        bandwidth_bps: 1_000_000,
        queue_frames: 1,
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(1, Sender::new(10, 1250, 0, 10_000), params);
    sim.run_until(ms(1_000));
    assert_eq!(received(&sim, b).len(), 10);
    assert_eq!(sim.link_counters(link).total().dropped.total(), 0);
}

#[test]
fn frames_over_the_mtu_are_dropped_and_counted() {
    let params = LinkParams {
        mtu: 1280,
        ..LinkParams::default()
    };
    let (mut sim, a, b, link) = pair(1, Sender::new(3, 1281, 0, 0), params);
    let port = sim.node_ports(a)[0];
    assert_eq!(sim.device(port).capabilities().max_transmission_unit, 1280);
    sim.run_until(ms(100));
    assert!(received(&sim, b).is_empty());
    assert_eq!(sim.link_counters(link).directions[0].dropped.too_big, 3);
    assert_eq!(sim.node_counters(a).ports.tx_frames, 3);

    // Exactly the MTU passes.
    let (mut sim, _, b, _) = pair(1, Sender::new(3, 1280, 0, 0), params);
    sim.run_until(ms(100));
    assert_eq!(received(&sim, b).len(), 3);
}

#[test]
fn fault_rates_stay_within_bounds() {
    const N: u64 = 20_000;
    let params = LinkParams {
        latency: Duration::from_millis(1),
        loss: 0.10,
        duplication: 0.05,
        reorder: 0.02,
        reorder_delay: Duration::from_micros(550),
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(7, Sender::new(N, 64, 0, 100), params);
    sim.run_until(ms(10_000));
    let c = sim.link_counters(link).directions[0];
    assert_eq!(c.sent, N);
    // Binomial: mean ± about 4 standard deviations.
    assert!((1_830..=2_170).contains(&c.lost), "lost {}", c.lost);
    let kept = N - c.lost;
    let dup_mean = kept as f64 * 0.05;
    assert!(
        (c.duplicated as f64 - dup_mean).abs() < 4.0 * (dup_mean * 0.95).sqrt(),
        "duplicated {}",
        c.duplicated
    );
    let held_mean = kept as f64 * 0.02;
    assert!(
        (c.held_back as f64 - held_mean).abs() < 4.0 * (held_mean * 0.98).sqrt(),
        "held back {}",
        c.held_back
    );
    // A frame held back 550 µs is overtaken by the next five (one every 100 µs), unless
    // those are all lost or held back too.
    assert!(c.reordered <= c.held_back + c.duplicated);
    assert!(c.reordered + 10 >= c.held_back, "{c:?}");
    // What the sink saw agrees with the counters.
    let seen = received(&sim, b);
    assert_eq!(seen.len() as u64, c.delivered);
    let mut max = 0;
    let mut out_of_order = 0;
    for &(_, seq) in seen {
        if seq < max {
            out_of_order += 1;
        }
        max = max.max(seq);
    }
    assert_eq!(out_of_order, c.reordered);
    assert_accounted(&sim, link);
}

#[test]
fn certain_loss_and_duplication() {
    let lossy = LinkParams {
        loss: 1.0,
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(3, Sender::new(50, 64, 0, 10), lossy);
    sim.run_until(ms(100));
    assert!(received(&sim, b).is_empty());
    assert_eq!(sim.link_counters(link).directions[0].lost, 50);

    let doubled = LinkParams {
        duplication: 1.0,
        ..LinkParams::default()
    };
    let (mut sim, _, b, link) = pair(3, Sender::new(50, 64, 0, 10), doubled);
    sim.run_until(ms(100));
    let seqs: Vec<_> = received(&sim, b).iter().map(|r| r.1).collect();
    let expected: Vec<_> = (0..50).flat_map(|s| [s, s]).collect();
    assert_eq!(seqs, expected, "each copy right after its original");
    assert_eq!(sim.link_counters(link).directions[0].reordered, 0);
    assert_accounted(&sim, link);
}

#[test]
fn link_down_drops_in_flight_and_new_frames() {
    // One frame every millisecond for 100 ms, 5 ms latency, down from 30 to 60 ms.
    let params = LinkParams::with_latency(Duration::from_millis(5));
    let (mut sim, a, b, link) = pair(1, Sender::new(100, 100, 0, 1_000), params);
    sim.schedule(ms(30), Action::LinkDown(link));
    sim.schedule(ms(60), Action::LinkUp(link));
    let port = sim.node_ports(a)[0];
    sim.schedule_fn(ms(45), move |sim| {
        assert!(!sim.link_is_up(link));
        assert!(!sim.device(port).is_up());
    });
    sim.run_until(ms(1_000));
    let c = sim.link_counters(link).directions[0];
    // Scripted actions run before frames at the same instant: the frame sent at 30 ms is
    // dropped, the one sent at 60 ms goes through; frames sent at 25..=29 ms were in flight.
    assert_eq!(c.dropped.link_down, 30);
    assert_eq!(c.dropped.in_flight, 5);
    assert_eq!(c.delivered, 65);
    let seqs: Vec<_> = received(&sim, b).iter().map(|r| r.1).collect();
    let expected: Vec<_> = (0..25).chain(60..100).collect();
    assert_eq!(seqs, expected);
    assert!(sim.link_is_up(link));
    assert!(sim.failures().is_empty());
    assert_accounted(&sim, link);
}

#[test]
fn a_port_moves_between_links() {
    // A phone sending every millisecond walks from access point 1 to access point 2 at
    // 50 ms; both access points have a link with a vacant end waiting for it.
    let mut sim = Sim::new(9);
    let phone = sim.add_node("phone", Sender::new(100, 80, 0, 1_000));
    let ap1 = sim.add_node("ap1", Sink::default());
    let ap2 = sim.add_node("ap2", Sink::default());
    let radio = sim.add_port(phone);
    let (p1, p2) = (sim.add_port(ap1), sim.add_port(ap2));
    let params = LinkParams::with_latency(Duration::from_micros(2_500));
    let l1 = sim.add_link(params);
    let l2 = sim.add_link(params);
    sim.attach(p1, l1).unwrap();
    sim.attach(p2, l2).unwrap();
    sim.attach(radio, l1).unwrap();
    assert_eq!(sim.link_ends(l1), [Some(p1), Some(radio)]);
    sim.schedule(ms(50), Action::Move(radio, l2));
    // Attaching to a link whose ends are taken fails, and the failure is reported.
    sim.schedule(ms(70), Action::Attach(p1, l2));
    sim.run_until(ms(1_000));

    let at1: Vec<_> = received(&sim, ap1).iter().map(|r| r.1).collect();
    let at2: Vec<_> = received(&sim, ap2).iter().map(|r| r.1).collect();
    // Frames sent at 48 and 49 ms were in the air when the phone left.
    assert_eq!(at1, (0..48).collect::<Vec<_>>());
    assert_eq!(at2, (50..100).collect::<Vec<_>>());
    assert_eq!(sim.link_counters(l1).directions[1].dropped.in_flight, 2);
    assert_eq!(sim.link_ends(l1), [Some(p1), None]);
    assert_eq!(sim.port_link(radio), Some(l2));
    assert_eq!(sim.device(radio).attachment_changes(), 3);
    assert_eq!(
        sim.failures(),
        &[(
            ms(70),
            Action::Attach(p1, l2),
            SimError::AlreadyAttached { port: p1, link: l1 }
        )]
    );
    assert_accounted(&sim, l1);
    assert_accounted(&sim, l2);
}

#[test]
fn a_detached_port_drops_what_it_sends() {
    let mut sim = Sim::new(1);
    let a = sim.add_node("lonely", Sender::new(4, 64, 0, 0));
    let port = sim.add_port(a);
    sim.run_until(ms(10));
    let c = sim.port_counters(port);
    assert_eq!((c.tx_frames, c.dropped_detached), (4, 4));
    assert!(!sim.device(port).is_attached());
    assert_eq!(sim.detach(port), Err(SimError::NotAttached(port)));
}

#[test]
fn frames_to_a_vacant_end_are_counted() {
    let mut sim = Sim::new(1);
    let a = sim.add_node("a", Sender::new(4, 64, 0, 0));
    let port = sim.add_port(a);
    let link = sim.add_link(LinkParams::default());
    sim.attach(port, link).unwrap();
    assert!(!sim.device(port).is_up(), "no peer: no carrier");
    sim.run_until(ms(10));
    assert_eq!(sim.link_counters(link).directions[0].dropped.no_peer, 4);
}

#[test]
fn an_unread_receive_queue_overflows() {
    /// A node that never reads.
    struct Deaf;
    impl bridgeless_sim::Node for Deaf {
        fn poll(&mut self, _: Instant, _: &mut bridgeless_sim::Ports<'_>) {}
    }
    let mut sim = Sim::new(1);
    sim.set_rx_queue_limit(10);
    let a = sim.add_node("a", Sender::new(25, 64, 0, 0));
    let b = sim.add_node("deaf", Deaf);
    let (pa, pb) = (sim.add_port(a), sim.add_port(b));
    let link = sim.connect(pa, pb, LinkParams::default()).unwrap();
    sim.run_until(ms(10));
    assert_eq!(
        sim.link_counters(link).directions[0].dropped.rx_overflow,
        15
    );
    assert_eq!(sim.port_counters(pb).dropped_rx_overflow, 15);
    assert_eq!(sim.device(pb).pending(), 10);
}

#[test]
fn connect_refuses_attached_ports() {
    let mut sim = Sim::new(1);
    let a = sim.add_node("a", Sink::default());
    let (p, q, r) = (sim.add_port(a), sim.add_port(a), sim.add_port(a));
    let link = sim.connect(p, q, LinkParams::default()).unwrap();
    assert_eq!(
        sim.connect(p, r, LinkParams::default()),
        Err(SimError::AlreadyAttached { port: p, link })
    );
    assert_eq!(
        sim.connect(r, r, LinkParams::default()),
        Err(SimError::SamePort(r))
    );
    assert_eq!(sim.attach(r, link), Err(SimError::NoVacantEnd(link)));
}

#[test]
fn changing_params_changes_the_mtu_seen() {
    let (mut sim, a, _, link) = pair(1, Sender::new(0, 64, 0, 0), LinkParams::default());
    let port = sim.node_ports(a)[0];
    sim.schedule(
        ms(5),
        Action::SetParams(
            link,
            LinkParams {
                mtu: 9000,
                ..LinkParams::default()
            },
        ),
    );
    sim.run_until(ms(4));
    assert_eq!(sim.device(port).mtu(), 1500);
    sim.run_until(ms(5));
    assert_eq!(sim.device(port).mtu(), 9000);
    assert_eq!(sim.link_params(link).mtu, 9000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the parameters, every frame is accounted for and the run is reproducible.
    #[test]
    fn every_frame_is_accounted_for(
        seed in any::<u64>(),
        latency_us in 0u64..5_000,
        bandwidth in prop_oneof![Just(0u64), 100_000u64..100_000_000],
        loss in 0.0f64..0.5,
        dup in 0.0f64..0.5,
        reorder in 0.0f64..0.5,
        queue in 0usize..20,
        count in 1u64..300,
        len in 48usize..1600,
        interval in 0i64..2_000,
    ) {
        let params = LinkParams {
            latency: Duration::from_micros(latency_us),
            bandwidth_bps: bandwidth,
            mtu: 1500,
            loss,
            reorder,
            reorder_delay: Duration::from_micros(700),
            duplication: dup,
            queue_frames: queue,
        };
        let run = || {
            let (mut sim, _, b, link) = pair(seed, Sender::new(count, len, 0, interval), params);
            sim.run_until(Instant::from_secs(3_600));
            let got = received(&sim, b).to_vec();
            assert_accounted(&sim, link);
            (got, sim.link_counters(link))
        };
        let first = run();
        prop_assert_eq!(first.1.directions[0].sent, count);
        prop_assert_eq!(first.0.len() as u64, first.1.directions[0].delivered);
        prop_assert_eq!(first, run());
    }
}
