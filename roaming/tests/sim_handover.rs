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
//! after the client received a segment: just after it sent a window (the move catches the
//! window in flight), or while the acknowledgment of that window is on its way back (the
//! move catches the acknowledgment). Measured: *handover* from the first frame at the
//! stationary peer from the new address to the first stream bytes delivered to the server's
//! application after it; *caught up*, from that frame until the server has read a whole
//! window more than the client had sent at the move (the stream is back at full speed); the
//! *stall* (the gap in delivery around the move); the payload bytes the client's TCP sent
//! more than once after the move (a device tap on the client's inner interface tracks the
//! highest sequence number sent), and how many of them the server had already read; the
//! segments each tunnel replayed after the path change (`TunnelCounters::tx_replayed`: the
//! tail of what it sent, see `bridgeless_roaming::tunnel`).
//!
//! What holds, and is asserted: in datagram mode the handover is within 1 RTT of the new path
//! in every run (exactly 0.5 RTT plus the wait for the stationary application's next
//! datagram, which goes straight to the new address: the anti-amplification limit never holds
//! it), the mover's first packet leaves at the move, the stationary peer switches on it and
//! validates the new address 1 RTT later, and the session repeats no frame and has no probe
//! timeout. In TCP mode, with the tunnels replaying their tail (the default), the handover is
//! within 2 RTT of the new path in every run, exactly: 0 when the client moves with its window
//! in flight (the replayed window follows its first packet on the new path), 1 RTT when it
//! moves with the acknowledgment in flight (the acknowledgment of the replayed duplicates
//! opens its window), 1.5 RTT when the server moves (the client may send its window, the
//! replayed one or a new one, to the server's unvalidated new address only once the address
//! is validated, 1 RTT after it heard from it: RFC 9000 §8's 3x limit); caught up 1 RTT later
//! when the window itself had been lost, at once otherwise; TCP retransmits nothing; each
//! tunnel sees the path change once and the session refuses nothing it replays. Without the
//! replay (one comparison at 50 ms, replay off and with a ring of 4 segments, smaller than the
//! window): the stream resumes when the client's retransmission timeout fires, 1 s (smoltcp's
//! minimum RTO, as RFC 6298 asks) after the last segment it received before the move, i.e.
//! about 1 s after the move whatever the RTT. Whichever side moves, the window in flight or its
//! acknowledgment is lost: on the link the mover left, or sent to the old address during the
//! half RTT before the stationary peer hears from the new one. The client may send nothing new
//! until acknowledged, so no segment reaches the server after the move, no duplicate
//! acknowledgment can start a fast retransmit, and TCP hears nothing until its timer. smoltcp
//! then goes back N and sends the whole window again (all of it spurious when only the
//! acknowledgment was lost, which then costs one more RTT before new data). Asserted there:
//! the retransmission comes exactly one minimum RTO after the last segment received, new data
//! is delivered 0.5 or 1.5 RTT after it, one window is sent again; with the 4-segment ring a
//! lost window takes exactly as long as without replay (the ring does not hold the flight, so
//! only acknowledgments are replayed), a lost acknowledgment 1.5 or 2 RTT. In every run: not a
//! byte lost, altered or reordered, the stream continues, the session and the connection
//! survive.

mod simnet;
#[path = "sim_handover/tap.rs"]
mod tap;
#[path = "sim_handover/world.rs"]
mod world;

use std::io::Cursor;
use std::net::SocketAddr;

use bridgeless_roaming::tunnel::{ReplayConfig, TunnelCounters};
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
    let mut w = world(Mode::Datagrams, rtt, SEED, ReplayConfig::default());
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
    replay: ReplayConfig,
    /// The first delivery of stream bytes to the server's application at or after the
    /// stationary peer first heard from the new address, and the last one before it.
    resumed_at: Instant,
    last_before: Instant,
    /// When the server's application had read a whole window more than the client had sent
    /// at the move: the stream has caught up.
    caught_up_at: Instant,
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
    first_resend: Option<Resent>,
    /// The tunnels' counters since the move: the client's and the server's.
    tunnels: (TunnelCounters, TunnelCounters),
    /// Full-sized segments in a window (the tunnel's MTU less the IPv6 and TCP headers).
    window_segments: u64,
}

impl TcpRun {
    fn handover(&self) -> Duration {
        since(self.m.first_at_new, self.resumed_at)
    }

    fn stall(&self) -> Duration {
        since(self.last_before, self.resumed_at)
    }

    fn caught_up(&self) -> Duration {
        since(self.m.first_at_new, self.caught_up_at)
    }

    /// From the last segment the client received before it retransmitted to the
    /// retransmission: its retransmission timeout (if it retransmitted).
    fn rto(&self) -> Option<Duration> {
        self.first_resend.map(|r| since(r.last_rx.unwrap(), r.at))
    }

    fn replayed(&self) -> u64 {
        self.tunnels.0.tx_replayed + self.tunnels.1.tx_replayed
    }
}

fn counters_since(now: TunnelCounters, before: TunnelCounters) -> TunnelCounters {
    TunnelCounters {
        path_changes: now.path_changes - before.path_changes,
        tx_replayed: now.tx_replayed - before.tx_replayed,
        tx_replay_dropped: now.tx_replay_dropped - before.tx_replay_dropped,
        tx_packets: now.tx_packets - before.tx_packets,
        tx_dropped_full: now.tx_dropped_full - before.tx_dropped_full,
        tx_dropped_session: now.tx_dropped_session - before.tx_dropped_session,
        ..now
    }
}

fn tcp_run(rtt: Duration, mover: Mover, phase: Duration, replay: ReplayConfig) -> TcpRun {
    let mut w = world(Mode::Tcp, rtt, SEED, replay);
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
    let tunnels_before = (
        c.tunnel.counters(),
        w.peer(w.server).tcp.as_ref().unwrap().tunnel.counters(),
    );
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
    let caught_up_at = s
        .deliveries
        .iter()
        .find(|d| d.1 >= sent_at_move + TCP_RX_WINDOW as u64)
        .unwrap()
        .0;
    TcpRun {
        m,
        replay,
        resumed_at: s.deliveries[i].0,
        last_before: s.deliveries[i - 1].0,
        caught_up_at,
        sent_at_move,
        acked_at_move,
        read_at_move,
        resent_bytes: tap.resent_bytes_since(at),
        resent_segments: tap.resent_segments_since(at),
        resent_delivered,
        first_resend: tap.resent.iter().find(|r| r.at >= at).copied(),
        window_segments: (TCP_RX_WINDOW as u64).div_ceil(c.tunnel.mtu() as u64 - 40 - 20),
        tunnels: (
            counters_since(c.tunnel.counters(), tunnels_before.0),
            counters_since(s.tunnel.counters(), tunnels_before.1),
        ),
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

/// What the move of a TCP run catches in flight: the client's window (the move comes 1.25 ms
/// after the client received an acknowledgment and sent a window on it), or the
/// acknowledgment of that window (0.6 RTT later: the server has the window and its
/// acknowledgment is on the way back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    Window,
    Ack,
}

impl Lost {
    fn phase(self, rtt: Duration) -> Duration {
        match self {
            Lost::Window => Duration::from_micros(1_250),
            Lost::Ack => rtt * 3 / 5,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lost::Window => "window",
            Lost::Ack => "its ACK",
        }
    }
}

fn tcp_table_header() -> String {
    String::from(
        "| RTT | mover | in flight at the move | replay | handover: first packet at new address → first new bytes delivered | caught up: → a window past the move's data delivered | stall (delivery gap) | TCP retransmissions after the move: bytes (segments; bytes the server had read already), first one after the last segment received | segments replayed by the mover / the stationary peer |\n|---|---|---|---|---|---|---|---|---|\n",
    )
}

fn tcp_row(r: &TcpRun, lost: Lost) -> String {
    let m = &r.m;
    let (mover, stationary) = match m.mover {
        Mover::Client => (r.tunnels.0, r.tunnels.1),
        Mover::Server => (r.tunnels.1, r.tunnels.0),
    };
    let replay = if r.replay.packets == 0 {
        "off".to_string()
    } else {
        format!("{} segments", r.replay.packets)
    };
    let resent = match (r.first_resend, r.rto()) {
        (Some(_), Some(rto)) => format!(
            "{} ({}; {} B of them already read), {}",
            r.resent_bytes,
            r.resent_segments,
            r.resent_delivered,
            cell(rto, m)
        ),
        _ => "none".to_string(),
    };
    format!(
        "| {} ms | {} | {} | {replay} | **{}** | {} | {} | {resent} | {} / {} |\n",
        ms(m.rtt),
        m.mover.name(),
        lost.name(),
        cell(r.handover(), m),
        cell(r.caught_up(), m),
        cell(r.stall(), m),
        mover.tx_replayed,
        stationary.tx_replayed,
    )
}

/// What every TCP run shows, whatever the replay: the move itself as in datagram mode, and
/// the run caught what it was meant to catch.
fn check_tcp_run(r: &TcpRun, lost: Lost) {
    let ctx = format!("{r:?}");
    check_move(&r.m);
    let window = TCP_RX_WINDOW as u64;
    assert_eq!(r.sent_at_move - r.acked_at_move, window, "{ctx}");
    match lost {
        Lost::Window => assert_eq!(r.read_at_move, r.acked_at_move, "{ctx}"),
        Lost::Ack => assert_eq!(r.read_at_move, r.sent_at_move, "{ctx}"),
    }
    // The tunnels saw the one path change each, and the session refused nothing replayed.
    for t in [r.tunnels.0, r.tunnels.1] {
        assert_eq!(t.path_changes, 1, "{ctx}");
        assert_eq!(t.tx_replay_dropped, 0, "{ctx}");
        assert_eq!((t.tx_dropped_full, t.tx_dropped_session), (0, 0), "{ctx}");
    }
}

#[test]
fn tcp_handover_with_the_tail_replayed_is_within_two_rtt_of_the_new_path() {
    let wall = std::time::Instant::now();
    let mut table = tcp_table_header();
    for rtt_ms in RTTS_MS {
        let rtt = Duration::from_millis(rtt_ms);
        for mover in [Mover::Client, Mover::Server] {
            for lost in [Lost::Window, Lost::Ack] {
                let r = tcp_run(rtt, mover, lost.phase(rtt), ReplayConfig::default());
                let ctx = format!("{r:?}");
                check_tcp_run(&r, lost);
                // TCP itself retransmitted nothing: the replayed copies did all of it, and no
                // replayed acknowledgment set off a fast retransmit.
                assert_eq!(r.resent_bytes, 0, "{ctx}");
                assert!(r.first_resend.is_none(), "{ctx}");
                // The target: within 2 RTT of the new path. Exactly:
                // - the client moves with its window in flight: its replayed window follows
                //   its first packet on the new path and is delivered with it (0); the
                //   server acknowledges it, a new window is delivered 1 RTT later;
                // - the client moves with the acknowledgment in flight: the server has the
                //   window, its acknowledgment of the replayed copies opens the client's
                //   window, new data is delivered 1 RTT after the first packet;
                // - the server moves: the client hears of it from the server's first packet
                //   (with the server's last acknowledgment, replayed), and must not send more
                //   than 3x what it received to the unvalidated address: its replayed window
                //   (when that was lost) or its new one waits for the path's validation
                //   (1 RTT), then takes half an RTT (1.5); when the window itself was lost,
                //   new data follows 1 RTT later (2.5).
                let (handover, caught_up) = match (mover, lost) {
                    (Mover::Client, Lost::Window) => (Duration::ZERO, rtt),
                    (Mover::Client, Lost::Ack) => (rtt, rtt),
                    (Mover::Server, Lost::Window) => (rtt * 3 / 2, rtt * 5 / 2),
                    (Mover::Server, Lost::Ack) => (rtt * 3 / 2, rtt * 3 / 2),
                };
                assert!(r.handover() <= rtt * 2, "{ctx}");
                assert_eq!(r.handover(), handover, "{ctx}");
                assert_eq!(r.caught_up(), caught_up, "{ctx}");
                // What was replayed: the unacknowledged window by its sender, the newest
                // acknowledgment by the receiver, except what the other side's replay made
                // useless before it was sent (the receiver's acknowledgments of the replayed
                // duplicates supersede its own replay; the server's replayed acknowledgment
                // marks the client's window acknowledged).
                let w = r.window_segments;
                let (client, server) = (r.tunnels.0.tx_replayed, r.tunnels.1.tx_replayed);
                let expected = match (mover, lost) {
                    (Mover::Client, Lost::Window) => (w, 1),
                    (Mover::Client, Lost::Ack) => (w, 0),
                    (Mover::Server, Lost::Window) => (w, 1),
                    (Mover::Server, Lost::Ack) => (0, 1),
                };
                assert_eq!((client, server), expected, "{ctx}");
                table += &tcp_row(&r, lost);
            }
        }
    }
    eprintln!(
        "\nTCP mode (bulk, client → server, 16 KiB window), replaying the tail (default):\n\n{table}\n({:.1} s wall)",
        wall.elapsed().as_secs_f64()
    );
}

#[test]
fn tcp_handover_without_the_whole_flight_replayed_waits_for_the_retransmission_timeout() {
    let wall = std::time::Instant::now();
    let mut table = tcp_table_header();
    let rtt = Duration::from_millis(50);
    for mover in [Mover::Client, Mover::Server] {
        for lost in [Lost::Window, Lost::Ack] {
            let off = tcp_run(rtt, mover, lost.phase(rtt), ReplayConfig::OFF);
            let ctx = format!("{off:?}");
            check_tcp_run(&off, lost);
            // Without the replay the stream resumes with the client's retransmission
            // timeout, smoltcp's minimum, counted from the last segment it received before the
            // move. The retransmission is delivered one way later, or, when the server had it
            // already (only the acknowledgment was lost), its acknowledgment opens the window
            // and new data is delivered 1.5 RTT later. Go-back-N: one window is sent again.
            assert_eq!(off.replayed(), 0, "{ctx}");
            let first = off.first_resend.expect("the client retransmitted");
            assert_eq!(off.rto(), Some(TCP_MIN_RTO), "{ctx}");
            assert!(first.last_rx.unwrap() <= off.m.at, "{ctx}");
            let after = since(first.at, off.resumed_at);
            let expected = match lost {
                Lost::Window => rtt / 2,
                Lost::Ack => rtt * 3 / 2,
            };
            assert_eq!(after, expected, "{ctx}");
            assert_eq!(off.resent_bytes, TCP_RX_WINDOW as u64, "{ctx}");
            table += &tcp_row(&off, lost);
            // A ring smaller than the window in flight: the window is not replayed (it could
            // only fill the end of a lost flight, which makes smoltcp's recovery later, see
            // `tunnel::tail`), so a lost window waits for the timeout as without the replay;
            // a lost acknowledgment is replayed by the receiver, and the stream resumes
            // within 2 RTT (the stationary server's replayed acknowledgment waits for the
            // validation of the client's new address: nothing from the client made the 3x
            // budget large enough for it).
            let small = ReplayConfig {
                packets: 4,
                ..ReplayConfig::default()
            };
            let k = tcp_run(rtt, mover, lost.phase(rtt), small);
            let ctx = format!("{k:?}");
            check_tcp_run(&k, lost);
            assert!(
                k.tunnels.0.tx_replayed + k.tunnels.1.tx_replayed <= 1,
                "{ctx}"
            );
            match lost {
                Lost::Window => {
                    assert_eq!(k.handover(), off.handover(), "{ctx}");
                    assert_eq!(k.caught_up(), off.caught_up(), "{ctx}");
                    assert_eq!(k.resent_bytes, TCP_RX_WINDOW as u64, "{ctx}");
                }
                Lost::Ack => {
                    let expected = match mover {
                        Mover::Client => rtt * 2,
                        Mover::Server => rtt * 3 / 2,
                    };
                    assert_eq!(k.handover(), expected, "{ctx}");
                    assert_eq!(k.resent_bytes, 0, "{ctx}");
                }
            }
            table += &tcp_row(&k, lost);
        }
    }
    eprintln!(
        "\nTCP mode at 50 ms RTT, replay off and with a 4-segment ring:\n\n{table}\n({:.1} s wall)",
        wall.elapsed().as_secs_f64()
    );
}
