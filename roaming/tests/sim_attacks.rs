//! The attacks of `attacks.rs`, in the deterministic simulator: every packet, the attacker's
//! included, is a real IPv6/UDP frame that crosses the iface crate's `Router` and reaches the
//! server through its smoltcp stack and `SmoltcpDriver`, as on a real network. The nodes and
//! the topology are in `sim_attacks/world.rs`.
//!
//! ```text
//!  client ──L1── mallory ──L1'─┐                        (client: 2001:db8:1::10, then
//!  (key 1)      (the tap)      │                         2001:db8:2::10 after a move)
//!                 │            ├── router ──L2── server (2001:db8:100::10, key 2)
//!                 └────L3──────┤    (one /64 per link)
//!            (its own address  │
//!             2001:db8:bad::66)└──L4── second access link: where the client moves in (a),
//!                                      where a second client (key 3) sits in (c)
//! ```
//!
//! `mallory` is one node with three ports: two for the tap, an on-path box between the
//! client's first access link and the router that forwards frames both ways unchanged, and one
//! on a link of its own (L3, with a shorter latency: 0.2 ms against 1 ms) from which it sends
//! frames with any source address it likes (the router forwards by destination only).
//!
//! - (a) **Off-path guessing.** The client talks to the server, then moves from L1 to L4,
//!   which retires the identifiers of its first path. From a capture of L1 (taken by anyone
//!   who was on the client's old network) the attacker learns those now stale identifiers
//!   and sends 100,000 packets from random global source addresses: guessed identifiers
//!   with a well-formed data header, stale identifiers with random contents, the old packets
//!   replayed verbatim, and random bytes. Every one reaches the server's endpoint and is
//!   dropped (counted by reason); the session does not move, nothing goes to a spoofed
//!   address, and datagrams still flow both ways.
//! - (b) **On-path replay from the attacker's address.** The tap takes a client packet and
//!   sends a copy from the attacker's own address on L3, which wins the race to the server
//!   (L3 is faster). The server moves to the attacker's address (the copy is authenticated
//!   and has the highest packet number) and challenges it; the attacker cannot answer. With
//!   the client's packets suppressed by the tap for 5 s, validation fails and the server
//!   reverts; with them let through, the client's answer to the server's challenge of the
//!   old path moves the server back at once. Either way the session is not hijacked, and the
//!   UDP payload bytes the server sent to the attacker's address, seen on L3, are at most 3x
//!   those it received from there.
//! - (c) **Handshake flood.** 100,000 spoofed initiations (half of them well-formed with
//!   random keys, half the first client's captured initiation replayed from everywhere)
//!   while a second client connects mid-flood: the server keeps no state for any of them,
//!   answers under load only with cookie replies (which go nowhere: the router has no route
//!   to the spoofed sources), does Diffie-Hellman only within its rate limit, and the real
//!   client gets through with a cookie.
//!
//! The flood goes 50 frames per millisecond of virtual time (50,000 packets per second), in
//! bursts of 50: the links have no bandwidth limit (hence no transmit queue to overflow), the
//! router takes up to 64 frames per link per poll, and the server's UDP socket holds 64
//! datagrams, so a burst fits every queue on its way and the tests can demand that every
//! packet reached the endpoint: the simulator's link counters, the router's counters and the
//! server endpoint's drop counters (by reason) account for each of the 100,000.
//!
//! The outcomes asserted are exact. In (a) the server must drop each packet for the very
//! reason an endpoint without any session drops it (a reference endpoint is shown every
//! packet as it is made): stale identifiers are as unknown as guessed ones. In (a) and (c)
//! the session's statistics before and after the flood must be equal (rejected-packet
//! counters aside). Each test runs one seed; everything random derives from it.

mod simnet;
#[path = "sim_attacks/world.rs"]
mod world;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bridgeless_roaming::packet::handshake::NOISE_MSG1_LEN;
use bridgeless_roaming::{Config, DropReason, Endpoint, Event, SessionHandle, SessionStats};
use bridgeless_sim::{Action, Sim};
use core::time::Duration;
use rand_core::RngCore;
use smoltcp::time::Instant;
use world::*;

/// Session state an attacker must not move (counters of rejected packets aside).
fn protocol_state(s: SessionStats) -> SessionStats {
    SessionStats {
        auth_failures: 0,
        ..s
    }
}

/// An endpoint without any session, keeping no state for what it is handed: the reference
/// for what the server should make of a spoofed packet.
fn oracle() -> Rc<RefCell<Endpoint>> {
    Rc::new(RefCell::new(
        Endpoint::new(Config::default(), keypair(9), [9; 32]).unwrap(),
    ))
}

fn oracle_drops(o: &Rc<RefCell<Endpoint>>) -> Drops {
    let o = o.borrow();
    Drops(DropReason::ALL.iter().map(|r| o.dropped(*r)).collect())
}

fn deadline(sim: &Sim, d: Duration) -> Instant {
    sim.now() + d.into()
}

// ----- (a) -----

#[test]
fn off_path_attacker_with_guessed_or_stale_ids_never_moves_the_session() {
    let wall = std::time::Instant::now();
    let mut w = world(11, false);
    w.sim.capture_link_in_memory(w.l1);
    let client = w.client;
    let (hc, hs) = w.connect(client);
    w.datagrams_flow(client, hc, hs, "before the move");
    let old_client = w.client_addr(client);
    // The client moves once: the identifiers of the old path become stale (retired).
    w.sim.apply(Action::Move(w.client_port, w.l4)).unwrap();
    w.datagrams_flow(client, hc, hs, "after the move");
    let new_client = w.client_addr(client);
    assert_ne!(new_client, old_client);
    w.sim.run_for(Duration::from_secs(1));
    let st = w.server_stats(hs);
    assert_eq!(st.remote, new_client);
    assert!(st.remote_validated);
    assert_eq!(w.peer(client).driver.counters().address_changes, 1);

    // What anyone on the old access link saw: the client's data packets to the server.
    let SocketAddr::V6(old_v6) = old_client else {
        unreachable!()
    };
    let stale: Vec<Vec<u8>> = captured_udp(&w.sim, w.l1)
        .into_iter()
        .filter(|(src, _, p)| *src == old_v6 && p[0] & 0xe0 == 0x40)
        .map(|(_, _, p)| p)
        .collect();
    assert!(stale.len() >= 2, "{} stale packets", stale.len());

    let before = w.server_stats(hs);
    let ids_before = w.peer(w.server).ep.id_count();
    let drops_before = w.peer(w.server).drops();
    let received_before = w.peer(w.server).driver.counters().received;
    let sent_before = w.peer(w.server).driver.counters().sent;
    let router_before = w.router_view();
    let l3_before = w.sim.link_counters(w.l3).directions[0];

    // Kinds of packet, by i % 4: a guessed identifier with a well-formed data header; a
    // stale identifier with random contents; an old packet verbatim; anything at all. Each
    // is also shown to an endpoint without sessions, for reference.
    let reference = oracle();
    let o = reference.clone();
    let n_stale = stale.len();
    let make: Generator = Box::new(move |i, rng, buf| {
        let stale_packet = &stale[(i / 4) as usize % stale.len()];
        if i % 4 == 2 {
            buf.clear();
            buf.extend_from_slice(stale_packet);
        } else {
            let len = 40 + (rng.next_u32() % 100) as usize;
            buf.resize(len, 0);
            rng.fill_bytes(buf);
            match i % 4 {
                0 => buf[0] = 0x40 | (buf[0] & 0x1f),
                1 => buf[..17].copy_from_slice(&stale_packet[..17]),
                _ => {}
            }
        }
        let any: SocketAddr = "[2001:db8:ffff::1]:1".parse().unwrap();
        o.borrow_mut().handle(Instant::ZERO, any, buf);
    });
    w.flood(w.sim.rng(42), make);
    w.run_flood(Duration::from_millis(100));
    let flood = w.mallory().flood.as_ref().unwrap();
    let (started, finished) = (flood.started.unwrap(), flood.finished.unwrap());
    assert_eq!(w.flood_sent(), FLOOD);

    // Every packet crossed the attacker's link and the router, and reached the endpoint.
    let l3 = w.sim.link_counters(w.l3).directions[0];
    assert_eq!(l3.delivered - l3_before.delivered, FLOOD, "{l3:?}");
    let router_after = w.router_view();
    assert_eq!(
        router_after.0 - router_before.0,
        FLOOD,
        "router took them in"
    );
    assert_eq!(w.frames_dropped_on_the_way(), 0, "no queue overflowed");
    assert_eq!(
        router_after.2, router_before.2,
        "the router dropped none of them, and nothing the server sent"
    );
    let server = w.peer(w.server);
    let drops = server.drops().since(&drops_before);
    let expected = oracle_drops(&reference);
    eprintln!(
        "(a) {n_stale} stale packets captured; flood {started}..{finished}; server dropped {:?}",
        drops.nonzero()
    );
    assert_eq!(
        drops.total(),
        FLOOD,
        "every packet reached the endpoint and was dropped"
    );
    assert!(server.driver.counters().received - received_before >= FLOOD);
    assert_eq!(
        drops, expected,
        "each dropped for the reason an endpoint without sessions drops it"
    );
    assert!(
        drops.get(DropReason::UnknownId) >= FLOOD / 4 * 3,
        "stale and guessed identifiers"
    );
    assert_eq!(drops.get(DropReason::AuthFailed), 0);
    assert_eq!(drops.get(DropReason::Replay), 0);

    let after = w.server_stats(hs);
    assert_eq!(after.remote, new_client, "not moved");
    assert_eq!(
        protocol_state(after),
        protocol_state(before),
        "nothing moved"
    );
    assert_eq!(server.ep.id_count(), ids_before);
    assert_eq!(server.ep.session_count(), 1);
    // Nothing was sent to a spoofed address (the router would have found no route for it).
    assert_eq!(
        router_after.1, router_before.1,
        "no reply to a spoofed source"
    );
    assert_eq!(server.driver.counters().sent, sent_before);
    w.datagrams_flow(client, hc, hs, "after the attack");
    let events = w.peer(w.server).events_of(hs);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::PeerAddressChanged { .. }))
            .count(),
        1,
        "only the client's own move: {events:?}"
    );
    assert!(w.peer(client).closed().is_empty() && w.peer(w.server).closed().is_empty());
    eprintln!("(a): {:.1} s wall", wall.elapsed().as_secs_f64());
}

// ----- (b) -----

/// The tap copies the client's next packet and sends the copy from the attacker's own
/// address; with `suppress_client`, it also drops the original and every client packet to
/// the server for 5 s.
fn replay_from_attacker(seed: u64, suppress_client: bool) {
    let wall = std::time::Instant::now();
    let mut w = world(seed, false);
    let client = w.client;
    let (hc, hs) = w.connect(client);
    w.datagrams_flow(client, hc, hs, "before");
    let client_at = w.client_addr(client);
    let attacker = SocketAddr::V6(w.attacker_at);
    let replays_before = w.peer(w.server).ep.dropped(DropReason::Replay);

    w.mallory_mut().replay = Some(ReplayPlan {
        suppress: suppress_client.then_some(Duration::from_secs(5)),
    });
    let peer = w.sim.node_mut::<Peer>(client).unwrap();
    peer.ep.send_datagram(hc, b"captured").unwrap();
    let server = w.server;
    let moved = w
        .sim
        .run_until_done(deadline(&w.sim, Duration::from_secs(1)), |sim| {
            let s = sim.node::<Peer>(server).unwrap();
            s.ep.session_stats(hs).unwrap().remote == attacker
        });
    assert!(
        moved,
        "an authenticated packet with the highest number moves the sending"
    );
    assert!(!w.server_stats(hs).remote_validated);
    let replayed = w.mallory().replayed.clone().expect("a packet copied");
    // The server wants to send a lot meanwhile.
    let peer = w.sim.node_mut::<Peer>(server).unwrap();
    for i in 0..50 {
        peer.ep.send_datagram(hs, &[i; 1000]).unwrap();
    }
    if suppress_client {
        w.sim.run_for(Duration::from_secs(5));
        assert!(w.mallory().tap_suppressed > 0);
    } else {
        w.sim.run_for(Duration::from_millis(500));
    }

    // What crossed the attacker's link, each way, as the attacker counted it and as the
    // link did.
    let m = w.mallory();
    let (from_attacker, to_attacker) = (m.own_tx.1, m.own_rx.1);
    let l3 = w.sim.link_counters(w.l3).directions;
    assert_eq!(m.own_tx, (1, replayed.len() as u64));
    assert_eq!(l3[0].delivered, 1);
    assert_eq!(l3[0].delivered_bytes, from_attacker + IPV6_UDP_HEADERS);
    assert_eq!(m.own_rx_other, 0);
    assert_eq!(l3[1].delivered, m.own_rx.0);
    assert_eq!(
        l3[1].delivered_bytes,
        to_attacker + IPV6_UDP_HEADERS * m.own_rx.0
    );
    eprintln!(
        "(b) suppress {suppress_client}: received from the attacker {from_attacker} bytes, sent to it {to_attacker} bytes in {} datagrams",
        m.own_rx.0
    );
    assert!(
        to_attacker > 0,
        "the server kept sending at once (a challenge, at least)"
    );
    assert!(
        to_attacker <= 3 * from_attacker,
        "at most 3x to the unvalidated address: sent {to_attacker}, received {from_attacker}"
    );
    let events = w.peer(server).events_of(hs);
    assert!(
        events.contains(&Event::PeerAddressChanged {
            from: client_at,
            to: attacker
        }),
        "{events:?}"
    );
    assert!(
        !events.contains(&Event::PathValidated { remote: attacker }),
        "never validated"
    );
    if suppress_client {
        assert!(
            events.contains(&Event::PathReverted {
                from: attacker,
                to: client_at
            }),
            "{events:?}"
        );
        assert_eq!(w.server_stats(hs).reverts, 1);
    } else {
        // The client answered the challenge on the old path with its next packet, which
        // moved the server back at once; the original, behind the copy, was a duplicate.
        assert!(
            events.contains(&Event::PeerAddressChanged {
                from: attacker,
                to: client_at
            }),
            "{events:?}"
        );
        assert_eq!(w.server_stats(hs).reverts, 0);
        assert_eq!(
            w.peer(server).ep.dropped(DropReason::Replay) - replays_before,
            1,
            "the original arrived after its copy"
        );
    }
    let st = w.server_stats(hs);
    assert_eq!(st.remote, client_at, "not a hijack");
    assert!(st.remote_validated);
    w.sim.run_for(Duration::from_secs(1));
    // The server's queued datagrams reach the client, and the session goes on.
    let got = w.peer(client).received(hc);
    let big = got.iter().filter(|d| d.len() == 1000).count();
    eprintln!("(b) the client received {big} of the 50 datagrams queued during the attack");
    assert!(big >= 40, "queued datagrams delivered after the revert");
    w.datagrams_flow(client, hc, hs, "after");
    assert!(w.peer(client).closed().is_empty() && w.peer(server).closed().is_empty());
    eprintln!("(b): {:.1} s wall", wall.elapsed().as_secs_f64());
}

#[test]
fn on_path_replay_from_another_address_fails_validation_and_reverts() {
    replay_from_attacker(21, true);
}

#[test]
fn on_path_replay_is_undone_by_the_real_peer_next_packet() {
    replay_from_attacker(22, false);
}

// ----- (c) -----

#[test]
fn spoofed_handshake_flood_leaves_the_table_unchanged_and_a_real_client_connects() {
    let wall = std::time::Instant::now();
    let mut w = world(31, true);
    w.sim.capture_link_in_memory(w.l1);
    w.sim.capture_link_in_memory(w.l4);
    let (client, second) = (w.client, w.second.unwrap());
    let (hc, hs) = w.connect(client);
    let client_at = w.client_addr(client);
    let real_init = captured_udp(&w.sim, w.l1)
        .into_iter()
        .find(|(src, _, p)| SocketAddr::V6(*src) == client_at && p[0] == 0x81)
        .expect("the client's initiation")
        .2;
    // Quiet before the flood: the handshake's last acknowledgments are in.
    w.datagrams_flow(client, hc, hs, "before the flood");
    w.sim.run_for(Duration::from_millis(500));
    let server = w.server;
    let table_before: Vec<SessionHandle> = w.peer(server).ep.sessions().collect();
    assert_eq!(table_before, vec![hs]);
    let stats_before = w.server_stats(hs);
    let drops_before = w.peer(server).drops();
    let router_before = w.router_view();

    let init_len = real_init.len();
    let make: Generator = Box::new(move |i, rng, buf| {
        if i % 2 == 0 {
            // A well-formed initiation with random keys and ciphertext.
            buf.resize(2 + 16 + 1 + NOISE_MSG1_LEN, 0);
            rng.fill_bytes(buf);
            buf[0] = 0x81;
            buf[1] = 16;
            buf[18] = 0;
        } else {
            // The real client's captured initiation, replayed from everywhere.
            buf.clear();
            buf.extend_from_slice(&real_init);
        }
    });
    w.flood(w.sim.rng(7), make);
    // The second client connects 30,000 packets into the flood.
    let m = w.mallory;
    let reached = w
        .sim
        .run_until_done(deadline(&w.sim, Duration::from_secs(5)), |sim| {
            sim.node::<Mallory>(m).unwrap().flood.as_ref().unwrap().sent >= 30_000
        });
    assert!(reached);
    let (at, key) = (w.server_at, w.server_key);
    w.sim.node_mut::<Peer>(second).unwrap().connect_to = Some((at, key));
    w.run_flood(Duration::from_millis(300));
    let flood = w.mallory().flood.as_ref().unwrap();
    let (started, finished) = (flood.started.unwrap(), flood.finished.unwrap());

    let hr = w.peer(second).session.unwrap();
    let connected_at = w
        .peer(second)
        .connected_at
        .iter()
        .find(|(h, _)| *h == hr)
        .map(|(_, t)| *t)
        .expect("the real client connected");
    eprintln!("(c) flood {started}..{finished}; the second client connected at {connected_at}");
    assert!(connected_at < finished, "during the flood");

    let s = w.peer(server);
    let new: Vec<SessionHandle> =
        s.ep.sessions()
            .filter(|h| !table_before.contains(h))
            .collect();
    assert_eq!(new.len(), 1, "exactly one new session: the real client's");
    assert_eq!(s.ep.peer_static(new[0]), Some(keypair(3).public()));
    assert_eq!(
        s.ep.half_open_count(),
        0,
        "no half-open state from the flood"
    );
    assert_eq!(s.ep.session_count(), 2);

    let drops = s.drops().since(&drops_before);
    let (cookies, auth, replays) = (
        drops.get(DropReason::CookieRequired),
        drops.get(DropReason::AuthFailed),
        drops.get(DropReason::ReplayedInitiation),
    );
    eprintln!("(c) server dropped {:?}", drops.nonzero());
    assert_eq!(
        replays,
        FLOOD / 2,
        "the replayed initiation, from everywhere"
    );
    // A burst of 32, then 100 per second.
    let secs = (finished - started).total_millis().div_ceil(1000);
    assert!(
        auth <= 32 + secs * 100 + 1,
        "Diffie-Hellman work only within the rate limit: {auth}"
    );
    let flood_drops = cookies + auth + replays + drops.get(DropReason::ReplyQueueFull);
    assert_eq!(drops.total(), flood_drops, "dropped for no other reason");
    // Every flood packet was dropped (and the real client's first try, if it met an empty
    // bucket).
    assert!((FLOOD..=FLOOD + 1).contains(&flood_drops), "{flood_drops}");
    assert!(
        cookies >= FLOOD / 2 - 32 - secs * 100,
        "the cookie path engaged"
    );

    // Cookie replies went to the spoofed sources, where the router found no route, and to
    // the real client, which came back with its token.
    let SocketAddr::V6(second_at) = w.client_addr(second) else {
        unreachable!()
    };
    let l4 = captured_udp(&w.sim, w.l4);
    let cookies_to_second = l4
        .iter()
        .filter(|(_, dst, p)| *dst == second_at && p[0] == 0x83)
        .count() as u64;
    let inits_with_token = l4
        .iter()
        .filter(|(src, _, p)| *src == second_at && p[0] == 0x81 && p.len() > init_len)
        .count() as u64;
    eprintln!(
        "(c) cookie replies to the real client: {cookies_to_second}, its initiations with a token: {inits_with_token}"
    );
    assert_eq!(flood_drops - FLOOD, cookies_to_second.min(1));
    assert_eq!(inits_with_token, cookies_to_second);
    let router_after = w.router_view();
    assert_eq!(
        router_after.0 - router_before.0,
        FLOOD,
        "router took them in"
    );
    assert_eq!(w.frames_dropped_on_the_way(), 0, "no queue overflowed");
    assert_eq!(
        router_after.1 - router_before.1,
        cookies - cookies_to_second,
        "cookie replies to spoofed sources go nowhere"
    );

    assert_eq!(
        protocol_state(w.server_stats(hs)),
        protocol_state(stats_before),
        "the established session is untouched"
    );
    w.datagrams_flow(client, hc, hs, "first client after the flood");
    w.datagrams_flow(second, hr, new[0], "second client after the flood");
    assert!(w.peer(client).closed().is_empty() && w.peer(server).closed().is_empty());
    eprintln!("(c): {:.1} s wall", wall.elapsed().as_secs_f64());
}
