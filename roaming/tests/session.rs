//! Sessions in memory: handshake, datagrams, moves of either side, NAT rebinding, timers.

mod common;

use std::collections::{HashMap, HashSet};

use bridgeless_roaming::{CloseReason, Config, Duration, Event, SessionHandle};
use common::{Net, addr, keypair};

fn pair(client_at: &str, server_at: &str) -> Net {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(Config::default(), keypair(1), 1, addr(client_at));
    net.add(Config::default(), keypair(2), 2, addr(server_at));
    net
}

/// Send `n` datagrams each way, run, and check they all arrived.
fn exchange(net: &mut Net, hc: SessionHandle, hs: SessionHandle, tag: &str, n: usize) {
    let before_c = net.received(0, hc).len();
    let before_s = net.received(1, hs).len();
    for i in 0..n {
        net.nodes[0]
            .ep
            .send_datagram(hc, format!("c->s {tag} {i}").as_bytes())
            .unwrap();
        net.nodes[1]
            .ep
            .send_datagram(hs, format!("s->c {tag} {i}").as_bytes())
            .unwrap();
        net.run(Duration::from_millis(20));
    }
    net.run(Duration::from_millis(100));
    let got_s: Vec<_> = net.received(1, hs)[before_s..].to_vec();
    let got_c: Vec<_> = net.received(0, hc)[before_c..].to_vec();
    let want_s: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("c->s {tag} {i}").into_bytes())
        .collect();
    let want_c: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("s->c {tag} {i}").into_bytes())
        .collect();
    assert_eq!(got_s, want_s, "server received every datagram ({tag})");
    assert_eq!(got_c, want_c, "client received every datagram ({tag})");
}

#[test]
fn connect_and_exchange_datagrams() {
    let mut net = pair("[2001:db8::1]:5000", "[2001:db8::2]:4433");
    let (hc, hs) = net.connect(0, 1);
    assert_eq!(net.nodes[0].ep.peer_static(hc), Some(keypair(2).public()));
    assert!(
        net.nodes[1].events.contains(&(
            hs,
            Event::Connected {
                peer_static: keypair(1).public()
            }
        )),
        "the server learns the client's static key"
    );
    exchange(&mut net, hc, hs, "first", 20);
    // A full-size datagram fits.
    let max = net.nodes[0].ep.max_datagram_size();
    let big = vec![0xab; max];
    net.nodes[0].ep.send_datagram(hc, &big).unwrap();
    assert!(
        net.nodes[0]
            .ep
            .send_datagram(hc, &vec![0; max + 1])
            .is_err()
    );
    net.run(Duration::from_millis(100));
    assert_eq!(net.received(1, hs).last(), Some(&big));
    let st = net.nodes[0].ep.session_stats(hc).unwrap();
    assert!(st.rtt.samples() > 0);
    // 10 ms each way.
    assert!(
        st.rtt.min().unwrap() >= Duration::from_millis(20),
        "{:?}",
        st.rtt
    );
    assert!(
        st.rtt.min().unwrap() <= Duration::from_millis(50),
        "{:?}",
        st.rtt
    );
}

/// Data packets' destination identifiers, by the (from, to) path they were sent on.
fn ids_by_path(net: &Net, id_len: usize) -> HashMap<Vec<u8>, HashSet<(String, String)>> {
    let mut m: HashMap<Vec<u8>, HashSet<(String, String)>> = HashMap::new();
    for w in &net.captured {
        if w.bytes[0] & 0xc0 == 0x40 {
            let id = w.bytes[1..1 + id_len].to_vec();
            // A path is the pair of addresses, whichever direction.
            let (a, b) = (w.from.to_string(), w.to.to_string());
            m.entry(id)
                .or_default()
                .insert(if a < b { (a, b) } else { (b, a) });
        }
    }
    m
}

#[test]
fn client_moves_five_times_server_once() {
    let mut net = pair("[2001:db8:1::10]:5000", "[2001:db8::2]:4433");
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    exchange(&mut net, hc, hs, "start", 5);
    let moves = [
        "[2001:db8:2::10]:5000",
        "192.0.2.10:6000",
        "[2001:db8:3::10]:7000",
        "198.51.100.7:5000",
        "[2001:db8:4::10]:5001",
    ];
    for (i, to) in moves.iter().enumerate() {
        let from = net.nodes[0].addr;
        net.nodes[0].addr = addr(to);
        // The driver tells the endpoint, which switches to fresh identifiers. (A driver that
        // does not know, as behind a NAT rebinding, just sends: see the rebinding tests.)
        net.nodes[0].ep.local_address_changed(net.now);
        // Datagrams the server sent to the old address meanwhile are lost with it; the
        // client's first datagram from the new address moves the server at once.
        net.nodes[0]
            .ep
            .send_datagram(hc, b"hello from here")
            .unwrap();
        net.run(Duration::from_millis(15));
        assert_eq!(
            net.received(1, hs).last().map(Vec::as_slice),
            Some(&b"hello from here"[..])
        );
        assert_eq!(
            net.nodes[1].ep.session_stats(hs).unwrap().remote,
            addr(to),
            "switched at once"
        );
        exchange(&mut net, hc, hs, &format!("client move {i}"), 5);
        let st = net.nodes[1].ep.session_stats(hs).unwrap();
        assert_eq!(st.remote, addr(to), "server follows the client");
        assert!(st.remote_validated, "and validated the new address");
        assert!(
            net.nodes[1]
                .events
                .contains(&(hs, Event::PeerAddressChanged { from, to: addr(to) })),
            "move {i} reported"
        );
    }
    // The server moves.
    net.nodes[1].addr = addr("[2001:db8:99::2]:4433");
    net.nodes[1].ep.local_address_changed(net.now);
    net.run(Duration::from_millis(50));
    exchange(&mut net, hc, hs, "server move", 5);
    let st = net.nodes[0].ep.session_stats(hc).unwrap();
    assert_eq!(
        st.remote,
        addr("[2001:db8:99::2]:4433"),
        "client follows the server"
    );
    assert!(st.remote_validated);
    assert_eq!(net.nodes[1].ep.session_stats(hs).unwrap().validations, 5);
    assert_eq!(st.validations, 1);
    assert!(
        net.closed(0).is_empty() && net.closed(1).is_empty(),
        "no session error"
    );
    assert!(net.nodes.iter().all(|n| n.ep.session_count() == 1));

    // Unlinkability: no identifier was used on two different paths, in either direction.
    for (id, paths) in ids_by_path(&net, 16) {
        assert_eq!(paths.len(), 1, "identifier {id:02x?} seen on {paths:?}");
    }
    let st_c = net.nodes[0].ep.session_stats(hc).unwrap();
    let st_s = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!((st_c.id_reuses, st_s.id_reuses), (0, 0));
}

fn rebinding(client_at: &str, rebound: &str, moved: &str) {
    let mut net = pair(
        client_at,
        if client_at.starts_with('[') {
            "[2001:db8::2]:4433"
        } else {
            "203.0.113.2:4433"
        },
    );
    let (hc, hs) = net.connect(0, 1);
    exchange(&mut net, hc, hs, "warm up", 20);
    let before = net.nodes[1].ep.session_stats(hs).unwrap();
    assert!(before.rtt.samples() >= 10);

    // A NAT rebinding: same IP, new port. The client does not even know.
    net.nodes[0].addr = addr(rebound);
    net.nodes[0]
        .ep
        .send_datagram(hc, b"from the new port")
        .unwrap();
    net.run(Duration::from_millis(50));
    exchange(&mut net, hc, hs, "rebound", 5);
    let after = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(after.remote, addr(rebound));
    assert!(after.remote_validated, "a rebinding is still validated");
    assert_eq!(
        after.path_resets, before.path_resets,
        "port-only change keeps the path state"
    );
    assert!(
        after.rtt.samples() > before.rtt.samples(),
        "the RTT estimator goes on"
    );
    assert!(
        after.rtt.min() <= before.rtt.min(),
        "the minimum RTT carries over"
    );
    assert!(
        after.congestion.window >= before.congestion.window,
        "congestion window kept"
    );

    // A real move: new IP. State starts over.
    net.nodes[0].addr = addr(moved);
    net.nodes[0]
        .ep
        .send_datagram(hc, b"from the new network")
        .unwrap();
    net.run(Duration::from_millis(5));
    net.run(Duration::from_millis(10)); // the packet has arrived, nothing acknowledged yet
    let moved_st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(moved_st.remote, addr(moved));
    assert_eq!(
        moved_st.path_resets,
        before.path_resets + 1,
        "an address change resets the path state"
    );
    assert_eq!(moved_st.rtt.samples(), 0);
    assert_eq!(
        moved_st.rtt.smoothed(),
        Duration::from_millis(333),
        "back to the initial RTT"
    );
    exchange(&mut net, hc, hs, "moved", 5);
    assert!(net.nodes[1].ep.session_stats(hs).unwrap().rtt.samples() > 0);
}

#[test]
fn nat_rebinding_keeps_path_state_ipv6() {
    rebinding(
        "[2001:db8:1::10]:5000",
        "[2001:db8:1::10]:61000",
        "[2001:db8:7::10]:61000",
    );
}

#[test]
fn nat_rebinding_keeps_path_state_ipv4() {
    rebinding("192.0.2.10:5000", "192.0.2.10:61000", "198.51.100.10:61000");
}

#[test]
fn keepalives_hold_an_idle_session_and_idle_timeout_ends_a_dead_one() {
    let mut net = pair("[2001:db8::1]:5000", "[2001:db8::2]:4433");
    let (hc, hs) = net.connect(0, 1);
    // No user traffic for 3 minutes: keepalives (every 15 s) keep it alive (idle timeout 60 s).
    net.run(Duration::from_secs(180));
    assert!(net.closed(0).is_empty() && net.closed(1).is_empty());
    let sent = net.nodes[0].ep.session_stats(hc).unwrap().packets_sent;
    assert!(
        (180 / 15..=3 * 180 / 15).contains(&(sent as usize)),
        "a few keepalives, not a storm: {sent}"
    );
    // The client vanishes: the server closes after the idle timeout.
    net.blackhole.push(net.nodes[1].addr);
    net.run(Duration::from_secs(61));
    assert_eq!(
        net.closed(1),
        vec![(hs, Event::Closed(CloseReason::IdleTimeout))]
    );
    assert_eq!(net.nodes[1].ep.session_count(), 0);
    assert_eq!(net.nodes[1].ep.id_count(), 0, "identifiers unregistered");
}

#[test]
fn keys_update_after_the_configured_time_and_traffic_goes_on() {
    let config = Config {
        rekey_after_time: Duration::from_secs(5),
        ..Config::default()
    };
    let mut net = Net::new(Duration::from_millis(10));
    net.add(config.clone(), keypair(1), 1, addr("[2001:db8::1]:5000"));
    net.add(config, keypair(2), 2, addr("[2001:db8::2]:4433"));
    let (hc, hs) = net.connect(0, 1);
    for round in 0..4 {
        exchange(&mut net, hc, hs, &format!("round {round}"), 3);
        net.run(Duration::from_secs(6));
    }
    let c = net.nodes[0].ep.session_stats(hc).unwrap().key_updates;
    let s = net.nodes[1].ep.session_stats(hs).unwrap().key_updates;
    assert!(c >= 3 && s >= 3, "key updates: client {c}, server {s}");
    assert!(net.closed(0).is_empty() && net.closed(1).is_empty());
}

#[test]
fn rekey_after_packet_count() {
    let config = Config {
        rekey_after_packets: 10,
        ..Config::default()
    };
    let mut net = Net::new(Duration::from_millis(10));
    net.add(config.clone(), keypair(1), 1, addr("[2001:db8::1]:5000"));
    net.add(config, keypair(2), 2, addr("[2001:db8::2]:4433"));
    let (hc, hs) = net.connect(0, 1);
    exchange(&mut net, hc, hs, "many", 60);
    let c = net.nodes[0].ep.session_stats(hc).unwrap().key_updates;
    assert!(c >= 3, "client key updates: {c}");
}

#[test]
fn close_reaches_the_peer() {
    let mut net = pair("[2001:db8::1]:5000", "[2001:db8::2]:4433");
    let (hc, hs) = net.connect(0, 1);
    net.nodes[0].ep.close(hc);
    net.run(Duration::from_millis(100));
    assert_eq!(net.closed(0), vec![(hc, Event::Closed(CloseReason::Local))]);
    assert_eq!(
        net.closed(1),
        vec![(hs, Event::Closed(CloseReason::Peer(0)))]
    );
    assert_eq!(net.nodes[1].ep.session_count(), 0);
}

#[test]
fn handshake_times_out_without_a_server() {
    let mut net = pair("[2001:db8::1]:5000", "[2001:db8::2]:4433");
    let h = net.nodes[0]
        .ep
        .connect(net.now, addr("[2001:db8::99]:4433"), keypair(2).public())
        .unwrap();
    net.run(Duration::from_secs(11));
    assert_eq!(
        net.closed(0),
        vec![(h, Event::Closed(CloseReason::HandshakeTimeout))]
    );
    // One initiation per second, no more.
    assert!(net.sink[&addr("[2001:db8::99]:4433")] <= 11 * 115);
}

#[test]
fn only_allowed_peers_connect() {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(Config::default(), keypair(1), 1, addr("[2001:db8::1]:5000"));
    let strict = Config {
        allowed_peers: Some(vec![keypair(7).public()]),
        ..Config::default()
    };
    net.add(strict, keypair(2), 2, addr("[2001:db8::2]:4433"));
    let key = net.nodes[1].ep.public_key();
    net.nodes[0]
        .ep
        .connect(net.now, addr("[2001:db8::2]:4433"), key)
        .unwrap();
    net.run(Duration::from_millis(500));
    assert!(net.connected(0).is_empty());
    assert_eq!(net.nodes[1].ep.session_count(), 0);
    assert!(
        net.nodes[1]
            .ep
            .dropped(bridgeless_roaming::DropReason::NotAccepted)
            >= 1
    );
}

#[test]
fn per_packet_overhead_is_35_to_38_bytes_with_128_bit_ids() {
    let mut net = pair("[2001:db8::1]:5000", "[2001:db8::2]:4433");
    let (hc, _hs) = net.connect(0, 1);
    net.run(Duration::from_secs(1)); // everything acknowledged, nothing pending
    net.capture = true;
    net.nodes[0].ep.send_datagram(hc, &[7; 100]).unwrap();
    net.flush();
    let sizes: Vec<usize> = net.captured.iter().map(|w| w.bytes.len()).collect();
    assert_eq!(sizes.len(), 1);
    // 1 (flags) + 16 (identifier) + 1..4 (packet number) + 1 (DATAGRAM) + 16 (tag)
    assert!((100 + 35..=100 + 38).contains(&sizes[0]), "{sizes:?}");
}

fn is_data(w: &common::Wire) -> bool {
    w.bytes[0] & 0xc0 == 0x40
}

/// The client moves to `to`, tells its endpoint, and datagrams flow both ways.
fn client_moves(net: &mut Net, hc: SessionHandle, hs: SessionHandle, to: &str, tag: &str) {
    net.nodes[0].addr = addr(to);
    net.nodes[0].ep.local_address_changed(net.now);
    // The endpoint's PING from the new address goes alone; if it is lost, the next datagram
    // moves the server; then datagrams flow both ways.
    net.run(Duration::from_millis(50));
    net.nodes[0].ep.send_datagram(hc, b"here").unwrap();
    net.run(Duration::from_millis(50));
    exchange(net, hc, hs, tag, 5);
    let st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(st.remote, addr(to), "server follows the client ({tag})");
    assert!(st.remote_validated, "and validated the new address ({tag})");
}

/// No identifier on two paths, none reused, no session error.
fn assert_unlinkable(net: &Net, hc: SessionHandle, hs: SessionHandle) {
    for (id, paths) in ids_by_path(net, 16) {
        assert_eq!(paths.len(), 1, "identifier {id:02x?} seen on {paths:?}");
    }
    let st_c = net.nodes[0].ep.session_stats(hc).unwrap();
    let st_s = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!((st_c.id_reuses, st_s.id_reuses), (0, 0));
    assert!(net.closed(0).is_empty() && net.closed(1).is_empty());
}

const MOVES: [&str; 4] = [
    "[2001:db8:2::10]:5000",
    "[2001:db8:3::10]:5000",
    "[2001:db8:4::10]:5000",
    "[2001:db8:5::10]:5000",
];

/// The server's first data packet, right after the handshake, carries the NEW_ID frames that
/// give the client its three fresh identifiers. It is lost, and traffic goes on: the loss is
/// detected from later acknowledgments and the frames are sent again (RFC 9000 §13.3), so the
/// client's three moves each use a fresh identifier.
#[test]
fn a_lost_new_id_is_sent_again() {
    let mut net = pair("[2001:db8:1::10]:5000", "[2001:db8::2]:4433");
    net.capture = true;
    let server = net.nodes[1].addr;
    let mut done = false;
    net.lose = Some(Box::new(move |w| {
        let lose = !done && w.from == server && is_data(w);
        done |= lose;
        lose
    }));
    let (hc, hs) = net.connect(0, 1);
    exchange(&mut net, hc, hs, "start", 10);
    assert_eq!(net.lost.len(), 1, "the packet with the NEW_IDs was lost");
    // Header 18, tag 16, three NEW_ID frames of 19 bytes (an ACK alone would be ~40 bytes).
    assert!(
        net.lost[0].bytes.len() >= 18 + 16 + 3 * 19,
        "{:?}",
        net.lost[0]
    );
    let st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert!(st.packets_lost >= 1, "{st:?}");
    assert!(
        st.frames_repeated >= 3,
        "the three NEW_IDs went again: {st:?}"
    );
    assert_eq!(net.nodes[0].ep.session_stats(hc).unwrap().fresh_peer_ids, 3);
    for (i, to) in MOVES[..3].iter().enumerate() {
        client_moves(&mut net, hc, hs, to, &format!("move {i}"));
    }
    assert_unlinkable(&net, hc, hs);
}

/// The same packet is lost and nothing else is sent: no later acknowledgment can reveal the
/// loss, only the probe timeout (RFC 9002 §6.2). Two seconds later the client moves, and has a
/// fresh identifier for the new path.
#[test]
fn a_lost_new_id_is_repeated_on_the_probe_timeout() {
    let mut net = pair("[2001:db8:1::10]:5000", "[2001:db8::2]:4433");
    net.capture = true;
    let server = net.nodes[1].addr;
    let mut done = false;
    net.lose = Some(Box::new(move |w| {
        let lose = !done && w.from == server && is_data(w);
        done |= lose;
        lose
    }));
    let (hc, hs) = net.connect(0, 1);
    net.run(Duration::from_secs(2));
    assert_eq!(net.lost.len(), 1);
    let st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert!(st.probe_timeouts >= 1, "{st:?}");
    assert!(st.frames_repeated >= 3, "{st:?}");
    assert_eq!(net.nodes[0].ep.session_stats(hc).unwrap().fresh_peer_ids, 3);
    client_moves(&mut net, hc, hs, MOVES[0], "move");
    assert_unlinkable(&net, hc, hs);
}

/// After each of its first three moves, the client's first packet from the new address, which
/// retires the old path's identifier (RETIRE_ID), is lost. Without a repeat the server would
/// never issue replacements, and the fourth move would have to reuse an identifier.
#[test]
fn lost_retire_ids_are_sent_again() {
    let mut net = pair("[2001:db8:1::10]:5000", "[2001:db8::2]:4433");
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    exchange(&mut net, hc, hs, "start", 5);
    let targets: Vec<_> = MOVES[..3].iter().map(|a| addr(a)).collect();
    let mut seen = Vec::new();
    net.lose = Some(Box::new(move |w| {
        let lose = is_data(w) && targets.contains(&w.from) && !seen.contains(&w.from);
        if lose {
            seen.push(w.from);
        }
        lose
    }));
    for (i, to) in MOVES.iter().enumerate() {
        client_moves(&mut net, hc, hs, to, &format!("move {i}"));
    }
    assert_eq!(
        net.lost.len(),
        3,
        "one packet lost after each of three moves"
    );
    assert_unlinkable(&net, hc, hs);
    let st = net.nodes[0].ep.session_stats(hc).unwrap();
    assert!(st.frames_repeated >= 3, "{st:?}");
    assert_eq!(
        st.fresh_peer_ids, 3,
        "the server replaced every retired identifier"
    );
}
