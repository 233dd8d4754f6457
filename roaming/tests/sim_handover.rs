//! Issue 5's handover benchmark, in the deterministic simulator: how soon after one peer moves
//! to another link (and address) the session delivers application data again, in RTTs of the
//! new path, and what was lost or sent twice on the way. The nodes and the topology are in
//! `sim_handover/world.rs`.
//!
//! ```text
//!  client ─CA─┐          ┌─SA─ server        every link: RTT/4 one way, no loss,
//!         ─CB─┴─ router ─┴─SB─               no bandwidth limit (RTT = propagation)
//! ```
//!
//! The client starts on CA, the server on SA. At time T the mover's port is moved from its
//! link to the other one (the client CA → CB, or the server SA → SB); the mover takes its
//! static address on the new link at once (no router discovery or DAD: `host_driver.rs` has
//! that case), its `SmoltcpDriver` notices and calls `local_address_changed`, and the session
//! does the rest. Frames in flight on the link the mover left are lost, and so is whatever
//! the stationary peer still sends to the old address. Both peers use `Config::default()`.
//! Every time is virtual and deterministic, so the assertions on it are exact, not wall-clock.
//!
//! **Datagram mode.** Both applications queue a 100-byte datagram every 5 ms (on a common grid
//! from time 0); the move happens at T = 0.2 s + 2 RTT plus a phase (0.25, 1.5, 2.75 or 4 ms
//! past a tick), so the stationary application's next tick falls at a different point of the
//! handover in each run. Measured:
//! - *handover*: from the first frame the stationary peer receives from the mover's new
//!   address (its link's capture) to the first datagram the mover's application receives on
//!   its new link. It includes up to 5 ms spent waiting for the stationary application's next
//!   datagram (shown apart); what is left is the one-way trip.
//! - *move → delivery*: from the move to that delivery.
//! - datagrams lost each way (never delivered): the session does not retransmit datagrams, so
//!   these are gone, and no byte of a datagram is ever sent twice. What the session layer
//!   does repeat is counted from `SessionStats` (`probe_timeouts`, `frames_repeated`: NEW_ID
//!   and RETIRE_ID frames sent again) and from the capture: the PATH_CHALLENGE probes of the
//!   old path (RFC 9000 §9.3.3) that the stationary peer sends to the old address until the
//!   new path is validated. `packets_lost` counts session packets declared lost (those sent to
//!   the old address); nothing in them is sent again but NEW_ID/RETIRE_ID frames.
//!
//! **TCP mode.** A bulk TCP stream from client to server between the identity addresses,
//! inside the session's tunnel (as `sim_roaming.rs`), with a 16 KiB receive window (smoltcp
//! without a congestion controller: the window is the limit, and it is always all in
//! flight). The move happens once the stream runs (after 0.2 s + 3 RTT), 1.25 ms or 0.6 RTT
//! after the client received a segment (just after it sent a window, or while the
//! acknowledgment of that window is on its way back). Measured: *handover* from the first
//! frame at the stationary peer from the new address to the first stream bytes delivered to
//! the server's application after it; the *stall* (the gap in delivery around the move); the
//! payload bytes the client's TCP sent more than once after the move (a device tap on the
//! client's inner interface tracks the highest sequence number sent), and how many of them
//! the server had already read.
//!
//! What holds, and is asserted: in datagram mode the handover is within 1 RTT of the new path
//! in every run (exactly 0.5 RTT plus the wait for the stationary application's next
//! datagram, which goes straight to the new address: the anti-amplification limit never holds
//! it), the mover's first packet leaves at the move, the stationary peer switches on it and
//! validates the new address 1 RTT later, and the session repeats no frame and has no probe
//! timeout. In TCP mode the handover is not within 1 RTT: the stream resumes when the
//! client's retransmission timeout fires, 1 s (smoltcp's minimum RTO, as RFC 6298 asks) after
//! the last segment it received before the move, i.e. about 1 s after the move whatever the
//! RTT. Whichever side moves, the window in flight or its acknowledgment is lost: on the link
//! the mover left, or sent to the old address during the half RTT before the stationary peer
//! hears from the new one. The client may send nothing new until acknowledged, so no segment
//! reaches the server after the move, no duplicate acknowledgment can start a fast
//! retransmit, and TCP hears nothing until its timer. smoltcp then goes back N and sends the
//! whole window again (all of it spurious when only the acknowledgment was lost, which then
//! costs one more RTT before new data). What is asserted for TCP: not a byte lost, altered or
//! reordered, the stream continues, the session and the connection survive, the
//! retransmission comes exactly one minimum RTO after the last segment received, new data is
//! delivered 0.5 or 1.5 RTT after it, and at most one window is sent again.

#[path = "sim_handover/tap.rs"]
mod tap;
#[path = "sim_handover/world.rs"]
mod world;

use std::io::Cursor;
use std::net::SocketAddr;

use bridgeless_roaming::{Event, SessionStats};
use bridgeless_sim::{Action, LinkId};
use bridgeless_wire::pcap::Reader;
use core::time::Duration;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Packet};

use tap::Resent;
use world::{
    CLIENT_A, CLIENT_B, DATAGRAM_EVERY, Mode, SERVER_A, SERVER_B, TCP_RX_WINDOW, World, peer_addr,
    world,
};

const RTTS_MS: [u64; 3] = [10, 50, 100];
const SEED: u64 = 5;
/// smoltcp's minimum (and initial) TCP retransmission timeout.
const TCP_MIN_RTO: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mover {
    Client,
    Server,
}

impl Mover {
    fn name(self) -> &'static str {
        match self {
            Mover::Client => "client",
            Mover::Server => "server",
        }
    }

    /// Router links: (the mover's old link, its new link, the stationary peer's link).
    fn links(self) -> (usize, usize, usize) {
        match self {
            Mover::Client => (CLIENT_A, CLIENT_B, SERVER_A),
            Mover::Server => (SERVER_A, SERVER_B, CLIENT_A),
        }
    }
}

/// What the session layer sent again, or gave up on, both peers together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Repeats {
    packets_lost: u64,
    probe_timeouts: u64,
    frames_repeated: u64,
    reverts: u64,
}

impl Repeats {
    fn of(s: &SessionStats) -> Repeats {
        Repeats {
            packets_lost: s.packets_lost,
            probe_timeouts: s.probe_timeouts,
            frames_repeated: s.frames_repeated,
            reverts: s.reverts,
        }
    }

    fn since(self, before: Repeats) -> Repeats {
        Repeats {
            packets_lost: self.packets_lost - before.packets_lost,
            probe_timeouts: self.probe_timeouts - before.probe_timeouts,
            frames_repeated: self.frames_repeated - before.frames_repeated,
            reverts: self.reverts - before.reverts,
        }
    }

    fn plus(self, o: Repeats) -> Repeats {
        Repeats {
            packets_lost: self.packets_lost + o.packets_lost,
            probe_timeouts: self.probe_timeouts + o.probe_timeouts,
            frames_repeated: self.frames_repeated + o.frames_repeated,
            reverts: self.reverts + o.reverts,
        }
    }
}

/// What every run measures about the move itself.
#[derive(Debug, Clone, Copy)]
struct Move {
    rtt: Duration,
    mover: Mover,
    at: Instant,
    /// The first frame the stationary peer received from the mover's new address.
    first_at_new: Instant,
    /// The stationary peer's PeerAddressChanged and PathValidated events for the new address.
    migrated_at: Instant,
    validated_at: Option<Instant>,
    /// The stationary peer's smallest RTT sample on the new path.
    new_path_min_rtt: Option<Duration>,
    /// Session-level repeats from the move to the end of the run.
    repeats: Repeats,
    /// Frames the stationary peer sent to the mover's old address after it had heard from
    /// the new one (old-path probes), and their bytes.
    to_old_after: u64,
    to_old_after_bytes: u64,
}

impl Move {
    fn rtts(&self, d: Duration) -> f64 {
        d.as_secs_f64() / self.rtt.as_secs_f64()
    }
}

fn since(from: Instant, to: Instant) -> Duration {
    Duration::from_micros((to - from).total_micros())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The UDP frames the link delivered in its capture: (arrival, source, destination, length).
fn captured(w: &World, link: LinkId) -> Vec<(Instant, Ipv6Address, Ipv6Address, usize)> {
    let pcap = w.sim.captured(link).expect("link captured");
    Reader::new(Cursor::new(pcap))
        .unwrap()
        .filter_map(|r| {
            let r = r.unwrap();
            let bytes = r.ip()?;
            let ip = Ipv6Packet::new_checked(bytes).ok()?;
            (ip.next_header() == IpProtocol::Udp).then(|| {
                (
                    Instant::from_micros(r.timestamp.as_micros() as i64),
                    ip.src_addr(),
                    ip.dst_addr(),
                    bytes.len(),
                )
            })
        })
        .collect()
}

/// The first of `events` at or after `from` that `f` selects, and when.
fn event_at(
    events: &[(Instant, Event)],
    from: Instant,
    f: impl Fn(&Event) -> bool,
) -> Option<Instant> {
    events
        .iter()
        .find(|(t, e)| *t >= from && f(e))
        .map(|(t, _)| *t)
}

/// Start capturing the stationary peer's link, note the counters, and move.
fn do_move(w: &mut World, mover: Mover) -> (Repeats, Repeats) {
    let (_, new, stationary) = mover.links();
    w.sim.capture_link_in_memory(w.links[stationary]);
    let (m, s) = match mover {
        Mover::Client => (w.client, w.server),
        Mover::Server => (w.server, w.client),
    };
    let before = (
        Repeats::of(&w.peer(m).stats().unwrap()),
        Repeats::of(&w.peer(s).stats().unwrap()),
    );
    let port = match mover {
        Mover::Client => w.client_port,
        Mover::Server => w.server_port,
    };
    w.sim.apply(Action::Move(port, w.links[new])).unwrap();
    before
}

/// After the run: the move's common measurements.
fn move_outcome(
    w: &World,
    rtt: Duration,
    mover: Mover,
    at: Instant,
    before: (Repeats, Repeats),
) -> Move {
    let (old, new, stationary) = mover.links();
    let (m, s) = match mover {
        Mover::Client => (w.client, w.server),
        Mover::Server => (w.server, w.client),
    };
    let (mp, sp) = (w.peer(m), w.peer(s));
    let frames = captured(w, w.links[stationary]);
    let (first_at_new, ..) = *frames
        .iter()
        .find(|f| f.1 == peer_addr(new) && f.2 == peer_addr(stationary))
        .expect("a frame from the new address reached the stationary peer");
    // Frames to the old address, by the time they left the stationary peer (the capture
    // has them as they reached the router, a link latency later).
    let to_old: Vec<_> = frames
        .iter()
        .filter(|f| {
            f.2 == peer_addr(old)
                && f.0 - Into::<smoltcp::time::Duration>::into(rtt / 4) >= first_at_new
        })
        .collect();
    let new_addr = |a: &SocketAddr| *a == SocketAddr::from((peer_addr(new), world::UDP_PORT));
    let migrated_at = event_at(
        &sp.events,
        at,
        |e| matches!(e, Event::PeerAddressChanged { to, .. } if new_addr(to)),
    )
    .expect("the stationary peer followed");
    let validated_at = event_at(
        &sp.events,
        at,
        |e| matches!(e, Event::PathValidated { remote } if new_addr(remote)),
    );
    let s_stats = sp.stats().unwrap();
    assert!(new_addr(&s_stats.remote), "{s_stats:?}");
    let repeats = Repeats::of(&mp.stats().unwrap())
        .since(before.0)
        .plus(Repeats::of(&s_stats).since(before.1));
    Move {
        rtt,
        mover,
        at,
        first_at_new,
        migrated_at,
        validated_at,
        new_path_min_rtt: s_stats
            .rtt
            .min()
            .map(|d| Duration::from_micros(d.total_micros())),
        repeats,
        to_old_after: to_old.len() as u64,
        to_old_after_bytes: to_old.iter().map(|f| f.3 as u64).sum(),
    }
}

/// What holds for every move, datagrams or TCP: the mover's first packet leaves at once and
/// takes the one-way trip; the stationary peer switches on it, and its challenge is answered
/// one RTT later; the new path's RTT is the configured one; nothing reverts.
fn check_move(m: &Move) {
    let ctx = format!("{} move at {} ms RTT: {m:?}", m.mover.name(), ms(m.rtt));
    assert_eq!(since(m.at, m.first_at_new), m.rtt / 2, "{ctx}");
    assert_eq!(m.migrated_at, m.first_at_new, "{ctx}");
    assert_eq!(
        m.validated_at.map(|v| since(m.first_at_new, v)),
        Some(m.rtt),
        "{ctx}"
    );
    assert_eq!(m.new_path_min_rtt, Some(m.rtt), "{ctx}");
    assert_eq!(m.repeats.reverts, 0, "{ctx}");
    assert_eq!(m.repeats.probe_timeouts, 0, "{ctx}");
    assert_eq!(m.repeats.frames_repeated, 0, "{ctx}");
}

// ----- datagram mode -----

#[derive(Debug, Clone, Copy)]
struct DatagramRun {
    m: Move,
    /// The first datagram the mover received on its new link, and when the stationary
    /// peer's application had queued it.
    delivered_at: Instant,
    queued_at: Instant,
    /// Where the session was sending when the stationary application queued it, and how
    /// many datagrams that application queued between the first packet from the new address
    /// and this one.
    queued_to: SocketAddr,
    queued_before: usize,
    /// Datagrams never delivered, towards the mover and from it.
    lost_to_mover: u64,
    lost_from_mover: u64,
    duplicates: u64,
}

impl DatagramRun {
    fn handover(&self) -> Duration {
        since(self.m.first_at_new, self.delivered_at)
    }

    /// The part of the handover spent waiting for the stationary application's next datagram.
    fn app_wait(&self) -> Duration {
        since(self.m.first_at_new, self.queued_at)
    }
}

fn datagram_run(rtt: Duration, mover: Mover, phase: Duration) -> DatagramRun {
    let mut w = world(Mode::Datagrams, rtt, SEED);
    let at = Instant::from_millis(200) + (rtt * 2 + phase).into();
    w.sim.run_until(at);
    for p in [w.client, w.server] {
        let s = w.peer(p).stats().unwrap();
        assert!(s.established && s.fresh_peer_ids > 0, "{s:?}");
    }
    let before = do_move(&mut w, mover);
    // The new path is validated after 1 RTT (which ends the old path's probes), and
    // everything sent until 2 RTT after the move has arrived by 3 RTT.
    w.sim.run_for(rtt * 3 + Duration::from_millis(50));
    let m = move_outcome(&w, rtt, mover, at, before);
    let (mp, sp) = match mover {
        Mover::Client => (w.peer(w.client), w.peer(w.server)),
        Mover::Server => (w.peer(w.server), w.peer(w.client)),
    };
    let new_link = w.links[mover.links().1];
    let first = mp
        .got
        .iter()
        .find(|g| g.link == Some(new_link))
        .expect("a datagram reached the mover on its new link");
    let lost = |sent: &[world::Sent], got: &[world::Got]| -> (u64, u64) {
        let mut seen = vec![0u32; sent.len()];
        for g in got {
            seen[g.seq as usize] += 1;
        }
        // Datagrams sent in the last RTT may still be on their way: not counted.
        let settled = |s: &world::Sent| s.at + rtt.into() < w.sim.now();
        let lost = sent
            .iter()
            .filter(|s| settled(s) && seen[s.seq as usize] == 0)
            .count() as u64;
        let dup = seen.iter().filter(|&&n| n > 1).count() as u64;
        (lost, dup)
    };
    let (lost_to_mover, dup1) = lost(&sp.sent, &mp.got);
    let (lost_from_mover, dup2) = lost(&mp.sent, &sp.got);
    let queued = sp.sent[first.seq as usize];
    DatagramRun {
        m,
        delivered_at: first.at,
        queued_at: queued.at,
        queued_to: queued.to,
        queued_before: sp
            .sent
            .iter()
            .filter(|s| s.at >= m.first_at_new && s.seq < first.seq)
            .count(),
        lost_to_mover,
        lost_from_mover,
        duplicates: dup1 + dup2,
    }
}

// ----- TCP mode -----

#[derive(Debug, Clone, Copy)]
struct TcpRun {
    m: Move,
    /// The first delivery of stream bytes to the server's application at or after the
    /// stationary peer first heard from the new address, and the last one before it.
    resumed_at: Instant,
    last_before: Instant,
    /// Stream bytes the client had sent and had seen acknowledged, and the server had read,
    /// at the move.
    sent_at_move: u64,
    acked_at_move: u64,
    read_at_move: u64,
    resent_bytes: u64,
    resent_segments: usize,
    /// Of the bytes retransmitted, those the server's application had already read when
    /// they were sent again (only their acknowledgment had been lost).
    resent_delivered: u64,
    /// The client's first retransmission after the move.
    first_resend: Resent,
}

impl TcpRun {
    fn handover(&self) -> Duration {
        since(self.m.first_at_new, self.resumed_at)
    }

    fn stall(&self) -> Duration {
        since(self.last_before, self.resumed_at)
    }

    /// From the last segment the client received before it retransmitted to the
    /// retransmission: its retransmission timeout.
    fn rto(&self) -> Duration {
        since(self.first_resend.last_rx.unwrap(), self.first_resend.at)
    }
}

fn tcp_run(rtt: Duration, mover: Mover, phase: Duration) -> TcpRun {
    let mut w = world(Mode::Tcp, rtt, SEED);
    // Once the stream runs at full window, `phase` after the client received a segment.
    let start = Instant::from_millis(200) + (rtt * 3).into();
    w.sim.run_until(start);
    let client = w.client;
    let last_rx = |sim: &bridgeless_sim::Sim| -> Option<Instant> {
        let c = sim.node::<world::Peer>(client).unwrap();
        c.tcp.as_ref().and_then(|t| t.tap.borrow().last_rx)
    };
    let deadline = start + Duration::from_secs(1).into();
    assert!(
        w.sim
            .run_until_done(deadline, |sim| last_rx(sim) > Some(start))
    );
    let at = last_rx(&w.sim).unwrap() + phase.into();
    w.sim.run_until(at);
    let (sent_at_move, acked_at_move, read_at_move) = {
        let c = w.peer(w.client).tcp.as_ref().unwrap();
        let s = w.peer(w.server).tcp.as_ref().unwrap();
        let socket = c.sockets.get::<tcp::Socket<'_>>(c.socket);
        let acked = c.written - socket.send_queue() as u64;
        (c.tap.borrow().high, acked, s.read)
    };
    assert!(read_at_move > 0, "the stream runs before the move");
    let c = w.peer(w.client).tcp.as_ref().unwrap();
    assert!(c.tap.borrow().resent.is_empty(), "no retransmission before");
    let before = do_move(&mut w, mover);
    // Until everything sent before the move, and four windows more, have been read.
    let target = sent_at_move + 4 * TCP_RX_WINDOW as u64;
    let server = w.server;
    let done = w
        .sim
        .run_until_done(at + Duration::from_secs(20).into(), |sim| {
            let s = sim.node::<world::Peer>(server).unwrap();
            s.tcp.as_ref().unwrap().read >= target
        });
    let ctx = format!("{} move at {} ms RTT", mover.name(), ms(rtt));
    assert!(done, "{ctx}: the stream continued after the move");
    let m = move_outcome(&w, rtt, mover, at, before);
    let (cp, sp) = (w.peer(w.client), w.peer(w.server));
    let (c, s) = (cp.tcp.as_ref().unwrap(), sp.tcp.as_ref().unwrap());
    assert_eq!(s.mismatches, 0, "{ctx}: every byte in order, none altered");
    for p in [cp, sp] {
        assert_eq!(p.tcp_state(), Some(tcp::State::Established), "{ctx}");
        assert!(
            !p.events.iter().any(|(_, e)| matches!(e, Event::Closed(_))),
            "{ctx}"
        );
    }
    let i = s
        .deliveries
        .iter()
        .position(|(t, _)| *t >= m.first_at_new)
        .unwrap();
    let tap = c.tap.borrow();
    let read_by = |t: Instant| -> u64 {
        s.deliveries
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |d| d.1)
    };
    let resent_delivered = tap
        .resent
        .iter()
        .filter(|r| r.at >= at)
        .map(|r| r.end.min(read_by(r.at)).saturating_sub(r.start))
        .sum();
    TcpRun {
        m,
        resumed_at: s.deliveries[i].0,
        last_before: s.deliveries[i - 1].0,
        sent_at_move,
        acked_at_move,
        read_at_move,
        resent_bytes: tap.resent_bytes_since(at),
        resent_segments: tap.resent_segments_since(at),
        resent_delivered,
        first_resend: *tap
            .resent
            .iter()
            .find(|r| r.at >= at)
            .expect("the client retransmitted"),
    }
}

// ----- the tests -----

fn cell(d: Duration, m: &Move) -> String {
    format!("{:.2} ms ({:.2} RTT)", ms(d), m.rtts(d))
}

fn range(ds: &[Duration], m: &Move) -> String {
    let (lo, hi) = (ds.iter().min().unwrap(), ds.iter().max().unwrap());
    if lo == hi {
        return cell(*lo, m);
    }
    format!(
        "{:.2}-{:.2} ms ({:.2}-{:.2} RTT)",
        ms(*lo),
        ms(*hi),
        m.rtts(*lo),
        m.rtts(*hi)
    )
}

#[test]
fn datagram_handover_is_within_one_rtt_of_the_new_path() {
    let wall = std::time::Instant::now();
    let mut table = String::from(
        "| RTT | mover | move → first packet at new address | handover: that packet → first datagram at the mover | of which waiting for the next datagram | move → first datagram at the mover | path validated (after that packet) | datagrams lost to / from the mover | session packets declared lost | repeated by the session: frames, probe timeouts; old-path probes (bytes) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for rtt_ms in RTTS_MS {
        let rtt = Duration::from_millis(rtt_ms);
        for mover in [Mover::Client, Mover::Server] {
            let runs: Vec<DatagramRun> = (0..4)
                .map(|k| datagram_run(rtt, mover, Duration::from_micros(250 + 1250 * k)))
                .collect();
            for r in &runs {
                let ctx = format!("{r:?}");
                check_move(&r.m);
                // The target: the handover is within 1 RTT of the new path.
                assert!(r.handover() <= rtt, "{ctx}");
                // Exactly: the stationary application's next datagram, sent at once to the
                // new address (the anti-amplification limit did not hold it), then the
                // one-way trip.
                assert!(r.app_wait() < DATAGRAM_EVERY.into(), "{ctx}");
                assert_eq!(r.queued_before, 0, "{ctx}");
                let (_, new, _) = mover.links();
                assert_eq!(
                    r.queued_to.ip(),
                    std::net::IpAddr::V6(peer_addr(new)),
                    "{ctx}"
                );
                assert_eq!(r.handover(), r.app_wait() + rtt / 2, "{ctx}");
                // Lost: what was sent to the old address (half an RTT before the move to
                // half an RTT after it) and what was on the link the mover left.
                let every = DATAGRAM_EVERY.total_micros();
                let per = |d: Duration| d.as_micros() as u64 / every;
                assert!(r.lost_to_mover <= per(rtt) + 1, "{ctx}");
                assert!(r.lost_from_mover <= per(rtt / 4) + 1, "{ctx}");
                assert_eq!(r.duplicates, 0, "{ctx}");
            }
            let m = &runs[0].m;
            let collect = |f: &dyn Fn(&DatagramRun) -> Duration| -> Vec<Duration> {
                runs.iter().map(f).collect()
            };
            let lost = |f: &dyn Fn(&DatagramRun) -> u64| -> String {
                let v: Vec<u64> = runs.iter().map(f).collect();
                let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
                if lo == hi {
                    format!("{lo}")
                } else {
                    format!("{lo}-{hi}")
                }
            };
            let total = |f: &dyn Fn(&Move) -> u64| -> u64 { runs.iter().map(|r| f(&r.m)).sum() };
            table += &format!(
                "| {rtt_ms} ms | {} | {} | **{}** | {} | {} | {} | {} / {} | {} | {}, {}; {} ({} B) |\n",
                mover.name(),
                range(&collect(&|r| since(r.m.at, r.m.first_at_new)), m),
                range(&collect(&|r| r.handover()), m),
                range(&collect(&|r| r.app_wait()), m),
                range(&collect(&|r| since(r.m.at, r.delivered_at)), m),
                range(
                    &collect(&|r| since(r.m.first_at_new, r.m.validated_at.unwrap())),
                    m
                ),
                lost(&|r| r.lost_to_mover),
                lost(&|r| r.lost_from_mover),
                lost(&|r| r.m.repeats.packets_lost),
                total(&|m| m.repeats.frames_repeated),
                total(&|m| m.repeats.probe_timeouts),
                lost(&|r| r.m.to_old_after),
                lost(&|r| r.m.to_old_after_bytes),
            );
        }
    }
    eprintln!(
        "\nDatagram mode (4 move phases per row, ranges over them):\n\n{table}\n({:.1} s wall)",
        wall.elapsed().as_secs_f64()
    );
}

#[test]
fn tcp_handover_follows_the_retransmission_timeout_and_loses_nothing() {
    let wall = std::time::Instant::now();
    let mut table = String::from(
        "| RTT | mover | handover: first packet at new address → first new bytes delivered | stall (delivery gap) | client's RTO (last segment received → first retransmission) | bytes retransmitted (segments) | of which the server had already read | unacknowledged at the move (of which the server had read) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for rtt_ms in RTTS_MS {
        let rtt = Duration::from_millis(rtt_ms);
        for mover in [Mover::Client, Mover::Server] {
            // Just after the client sent a window, and 0.6 RTT later (its acknowledgment on
            // the way back).
            let phases = [Duration::from_micros(1_250), rtt * 3 / 5];
            let runs: Vec<TcpRun> = phases.iter().map(|p| tcp_run(rtt, mover, *p)).collect();
            for r in &runs {
                let ctx = format!("{r:?}");
                check_move(&r.m);
                // The stream resumes with the client's retransmission timeout, smoltcp's
                // minimum, counted from the last segment it received before the move. The
                // retransmission is delivered one way later, or, when the server had it
                // already (only the acknowledgment was lost), its acknowledgment opens the
                // window and new data is delivered 1.5 RTT later.
                assert_eq!(r.rto(), TCP_MIN_RTO, "{ctx}");
                assert!(r.first_resend.last_rx.unwrap() <= r.m.at, "{ctx}");
                let after = since(r.first_resend.at, r.resumed_at);
                assert!(after == rtt / 2 || after == rtt * 3 / 2, "{ctx}");
                // Go-back-N: at most one window is sent again.
                assert!(r.resent_bytes <= TCP_RX_WINDOW as u64, "{ctx}");
            }
            let m = &runs[0].m;
            let collect =
                |f: &dyn Fn(&TcpRun) -> Duration| -> Vec<Duration> { runs.iter().map(f).collect() };
            let counts = |f: &dyn Fn(&TcpRun) -> u64| -> String {
                let v: Vec<u64> = runs.iter().map(f).collect();
                let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
                if lo == hi {
                    format!("{lo}")
                } else {
                    format!("{lo}-{hi}")
                }
            };
            table += &format!(
                "| {rtt_ms} ms | {} | **{}** | {} | {} | {} ({}) | {} | {} B ({} B) |\n",
                mover.name(),
                range(&collect(&|r| r.handover()), m),
                range(&collect(&|r| r.stall()), m),
                range(&collect(&|r| r.rto()), m),
                counts(&|r| r.resent_bytes),
                counts(&|r| r.resent_segments as u64),
                counts(&|r| r.resent_delivered),
                counts(&|r| r.sent_at_move - r.acked_at_move),
                counts(&|r| r.read_at_move - r.acked_at_move),
            );
        }
    }
    eprintln!(
        "\nTCP mode (bulk, client → server, 16 KiB window; 2 move phases per row):\n\n{table}\n({:.1} s wall)",
        wall.elapsed().as_secs_f64()
    );
}
