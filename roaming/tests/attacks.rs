//! Attackers: off-path guessing, on-path replay from another address, handshake floods.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bridgeless_roaming::packet::handshake::NOISE_MSG1_LEN;
use bridgeless_roaming::{Config, DropReason, Duration, Event, SessionHandle, SessionStats};
use common::{Net, Wire, addr, keypair};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

fn pair() -> Net {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(
        Config::default(),
        keypair(1),
        1,
        addr("[2001:db8:1::10]:5000"),
    );
    net.add(Config::default(), keypair(2), 2, addr("[2001:db8::2]:4433"));
    net
}

fn spoofed(rng: &mut ChaCha20Rng) -> SocketAddr {
    let port = (rng.next_u32() % 65_535 + 1) as u16;
    if rng.next_u32().is_multiple_of(2) {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(rng.next_u32())), port)
    }
}

fn datagrams_flow(net: &mut Net, hc: SessionHandle, hs: SessionHandle, tag: &str) {
    let (c, s) = (net.received(0, hc).len(), net.received(1, hs).len());
    // The client first, so that a server datagram is not sent to an address the client left.
    net.nodes[0]
        .ep
        .send_datagram(hc, format!("c {tag}").as_bytes())
        .unwrap();
    net.run(Duration::from_millis(50));
    net.nodes[1]
        .ep
        .send_datagram(hs, format!("s {tag}").as_bytes())
        .unwrap();
    net.run(Duration::from_millis(100));
    assert_eq!(
        net.received(1, hs)[s..],
        [format!("c {tag}").into_bytes()],
        "server receives ({tag})"
    );
    assert_eq!(
        net.received(0, hc)[c..],
        [format!("s {tag}").into_bytes()],
        "client receives ({tag})"
    );
}

fn client_data_packets(net: &Net, from: SocketAddr) -> Vec<Wire> {
    net.captured
        .iter()
        .filter(|w| w.from == from && w.bytes[0] & 0xc0 == 0x40)
        .cloned()
        .collect()
}

/// Session state an attacker must not move (counters of rejected packets aside).
fn protocol_state(s: SessionStats) -> SessionStats {
    SessionStats {
        auth_failures: 0,
        ..s
    }
}

#[test]
fn off_path_attacker_with_guessed_or_stale_ids_never_moves_the_session() {
    let mut net = pair();
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    datagrams_flow(&mut net, hc, hs, "before the move");
    let old_client = net.nodes[0].addr;
    // The client moves once: the identifiers of the old path become stale (retired).
    net.nodes[0].addr = addr("[2001:db8:2::10]:5000");
    net.nodes[0].ep.local_address_changed(net.now);
    datagrams_flow(&mut net, hc, hs, "after the move");
    let stale: Vec<Wire> = client_data_packets(&net, old_client);
    assert!(!stale.is_empty());

    let before = net.nodes[1].ep.session_stats(hs).unwrap();
    let ids_before = net.nodes[1].ep.id_count();
    let mut rng = ChaCha20Rng::from_seed([42; 32]);
    let mut buf = [0u8; 1500];
    let mut received = 0u64;
    for i in 0..100_000u32 {
        let from = spoofed(&mut rng);
        let len = 40 + (rng.next_u32() % 100) as usize;
        let pkt = &mut buf[..len];
        rng.fill_bytes(pkt);
        match i % 4 {
            // A guessed identifier with a data header.
            0 => pkt[0] = 0x40 | (pkt[0] & 0x3f),
            // A stale identifier with random contents.
            1 => {
                let w = &stale[i as usize % stale.len()];
                pkt[..17].copy_from_slice(&w.bytes[..17]);
            }
            // An old packet replayed verbatim.
            2 => {
                let w = &stale[i as usize % stale.len()];
                let r = net.nodes[1].ep.handle(net.now, from, &w.bytes);
                assert!(matches!(r, bridgeless_roaming::Received::Dropped(_)));
                received += 1;
                continue;
            }
            // Anything at all.
            _ => {}
        }
        let r = net.nodes[1].ep.handle(net.now, from, pkt);
        assert!(
            matches!(r, bridgeless_roaming::Received::Dropped(_)),
            "{r:?}"
        );
        received += 1;
    }
    assert_eq!(received, 100_000);
    let after = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(
        protocol_state(after),
        protocol_state(before),
        "nothing moved"
    );
    assert_eq!(after.remote, addr("[2001:db8:2::10]:5000"));
    assert_eq!(net.nodes[1].ep.id_count(), ids_before);
    let dropped: u64 = DropReason::ALL
        .iter()
        .map(|r| net.nodes[1].ep.dropped(*r))
        .sum();
    assert!(dropped >= 100_000);
    assert!(
        net.nodes[1].ep.dropped(DropReason::UnknownId) >= 50_000,
        "stale and guessed identifiers"
    );
    // Nothing was sent to any spoofed address.
    let sent_before = net.captured.len();
    net.flush();
    assert!(
        net.captured[sent_before..]
            .iter()
            .all(|w| w.to == net.nodes[0].addr)
    );
    datagrams_flow(&mut net, hc, hs, "after the attack");
}

/// The attacker sits on the path, copies the client's latest packet and delivers the copy
/// from its own address before the original arrives.
fn replay_from_attacker(suppress_client: bool) {
    let mut net = pair();
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    datagrams_flow(&mut net, hc, hs, "before");
    let client = net.nodes[0].addr;
    let server = net.nodes[1].addr;
    let attacker = addr("[2001:db8:bad::66]:31337");

    net.nodes[0].ep.send_datagram(hc, b"captured").unwrap();
    let n = net.captured.len();
    net.flush();
    let captured = net.captured[n..]
        .iter()
        .find(|w| w.from == client)
        .expect("a packet")
        .clone();
    // The copy, from the attacker's address, arrives first.
    net.deliver(attacker, server, &captured.bytes);
    let st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(
        st.remote, attacker,
        "an authenticated packet with the highest number moves the sending"
    );
    assert!(!st.remote_validated);
    // The server wants to send a lot meanwhile.
    for i in 0..50 {
        net.nodes[1].ep.send_datagram(hs, &[i; 1000]).unwrap();
    }
    if suppress_client {
        // The attacker also drops everything the client sends for 5 s, so that nothing but
        // the failed validation brings the server back.
        net.blackhole.push(server);
        net.run(Duration::from_secs(5));
        net.blackhole.clear();
    } else {
        net.run(Duration::from_millis(500));
    }
    let to_attacker = net.sink.get(&attacker).copied().unwrap_or(0);
    let from_attacker = captured.bytes.len() as u64;
    assert!(
        to_attacker > 0,
        "the server kept sending at once (a challenge, at least)"
    );
    assert!(
        to_attacker <= 3 * from_attacker,
        "at most 3x to the unvalidated address: sent {to_attacker}, received {from_attacker}"
    );
    let events: Vec<Event> = net.nodes[1]
        .events
        .iter()
        .filter(|(h, _)| *h == hs)
        .map(|(_, e)| *e)
        .collect();
    assert!(events.contains(&Event::PeerAddressChanged {
        from: client,
        to: attacker
    }));
    assert!(
        !events.contains(&Event::PathValidated { remote: attacker }),
        "never validated"
    );
    if suppress_client {
        assert!(
            events.contains(&Event::PathReverted {
                from: attacker,
                to: client
            }),
            "{events:?}"
        );
        assert_eq!(net.nodes[1].ep.session_stats(hs).unwrap().reverts, 1);
    } else {
        // The client answered the challenge on the old path with its next packet, which
        // moved the server back at once.
        assert!(
            events.contains(&Event::PeerAddressChanged {
                from: attacker,
                to: client
            }),
            "{events:?}"
        );
    }
    let st = net.nodes[1].ep.session_stats(hs).unwrap();
    assert_eq!(st.remote, client, "not a hijack");
    assert!(st.remote_validated);
    net.run(Duration::from_secs(1));
    // The server's queued datagrams reach the client, and the session goes on.
    let got = net.received(0, hc);
    assert!(
        got.iter().filter(|d| d.len() == 1000).count() >= 40,
        "queued datagrams delivered after the revert"
    );
    datagrams_flow(&mut net, hc, hs, "after");
    assert!(net.closed(0).is_empty() && net.closed(1).is_empty());
}

#[test]
fn on_path_replay_from_another_address_fails_validation_and_reverts() {
    replay_from_attacker(true);
}

#[test]
fn on_path_replay_is_undone_by_the_real_peer_next_packet() {
    replay_from_attacker(false);
}

#[test]
fn spoofed_handshake_flood_leaves_the_table_unchanged_and_a_real_client_connects() {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(
        Config::default(),
        keypair(1),
        1,
        addr("[2001:db8:1::10]:5000"),
    );
    net.add(Config::default(), keypair(2), 2, addr("[2001:db8::2]:4433"));
    net.add(Config::default(), keypair(3), 3, addr("192.0.2.33:5000"));
    net.capture = true;
    let (_hc, hs) = net.connect(0, 1);
    let real_init = net
        .captured
        .iter()
        .find(|w| w.bytes[0] == 0x81)
        .unwrap()
        .bytes
        .clone();
    net.capture = false;
    let table_before: Vec<SessionHandle> = net.nodes[1].ep.sessions().collect();
    assert_eq!(table_before, vec![hs]);
    let stats_before = net.nodes[1].ep.session_stats(hs).unwrap();

    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let server = net.nodes[1].addr;
    let server_key = net.nodes[1].ep.public_key();
    let mut junk = vec![0u8; 2 + 16 + 1 + NOISE_MSG1_LEN];
    let mut real_client = None;
    for i in 0..100_000u32 {
        let from = spoofed(&mut rng);
        if i % 2 == 0 {
            // A well-formed initiation with random keys and ciphertext.
            rng.fill_bytes(&mut junk);
            junk[0] = 0x81;
            junk[1] = 16;
            junk[18] = 0;
            net.nodes[1].ep.handle(net.now, from, &junk);
        } else {
            // The real client's captured initiation, replayed from everywhere.
            net.nodes[1].ep.handle(net.now, from, &real_init);
        }
        if i == 30_000 {
            real_client = Some(
                net.nodes[2]
                    .ep
                    .connect(net.now, server, server_key)
                    .unwrap(),
            );
        }
        if i % 50 == 0 {
            // 1 ms of virtual time per 50 packets: a flood of 50,000 initiations per second.
            net.run(Duration::from_millis(1));
        }
    }
    net.run(Duration::from_millis(300));
    let hr = real_client.unwrap();
    assert!(
        net.connected(2).contains(&hr),
        "the real client connected during the flood"
    );
    let new: Vec<SessionHandle> = net.nodes[1]
        .ep
        .sessions()
        .filter(|h| !table_before.contains(h))
        .collect();
    assert_eq!(new.len(), 1, "exactly one new session: the real client's");
    assert_eq!(
        net.nodes[1].ep.peer_static(new[0]),
        Some(keypair(3).public())
    );
    assert_eq!(
        net.nodes[1].ep.half_open_count(),
        0,
        "no half-open state from the flood"
    );
    assert_eq!(net.nodes[1].ep.session_count(), 2);
    let ep = &net.nodes[1].ep;
    let (cookies, auth, replays) = (
        ep.dropped(DropReason::CookieRequired),
        ep.dropped(DropReason::AuthFailed),
        ep.dropped(DropReason::ReplayedInitiation),
    );
    assert_eq!(replays, 50_000);
    // The flood lasted 2 s of virtual time: a burst of 32, then 100 per second.
    assert!(
        auth <= 32 + 2 * 100 + 1,
        "Diffie-Hellman work only within the rate limit: {auth}"
    );
    let flood_drops = cookies + auth + replays + ep.dropped(DropReason::ReplyQueueFull);
    // Every flood packet was dropped (and the real client's first try, if it met an empty bucket).
    assert!((100_000..=100_001).contains(&flood_drops), "{flood_drops}");
    let st = protocol_state(ep.session_stats(hs).unwrap());
    assert_eq!(
        SessionStats {
            packets_sent: 0,
            packets_received: 0,
            largest_received: None,
            rtt: st.rtt,
            congestion: st.congestion,
            ..st
        },
        SessionStats {
            packets_sent: 0,
            packets_received: 0,
            largest_received: None,
            rtt: st.rtt,
            congestion: st.congestion,
            ..protocol_state(stats_before)
        },
        "the established session is untouched (only its keepalive traffic went on)"
    );
    assert!(net.closed(0).is_empty());
}

#[test]
fn under_load_a_client_gets_through_with_a_cookie() {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(
        Config::default(),
        keypair(1),
        1,
        addr("[2001:db8:1::10]:5000"),
    );
    // Always under load: every initiation without a token gets a cookie reply.
    let loaded = Config {
        max_half_open: 0,
        ..Config::default()
    };
    net.add(loaded, keypair(2), 2, addr("[2001:db8::2]:4433"));
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    let kinds: Vec<(u8, usize)> = net
        .captured
        .iter()
        .filter(|w| w.bytes[0] & 0x80 != 0)
        .map(|w| (w.bytes[0], w.bytes.len()))
        .collect();
    // Initiation (no token), cookie reply, initiation with token, response: never larger
    // than the initiation that caused it.
    assert_eq!(
        kinds,
        vec![(0x81, 115), (0x83, 34), (0x81, 131), (0x82, 83)]
    );
    assert_eq!(net.nodes[1].ep.dropped(DropReason::CookieRequired), 1);
    datagrams_flow(&mut net, hc, hs, "through");
    // A token is bound to the address it was sent to.
    let with_token = net
        .captured
        .iter()
        .find(|w| w.bytes[0] == 0x81 && w.bytes.len() == 131)
        .unwrap()
        .bytes
        .clone();
    let mut fresh = with_token.clone();
    fresh[40] ^= 1; // another ephemeral key, so it is no repeat
    let r = net.nodes[1]
        .ep
        .handle(net.now, addr("[2001:db8:1::11]:5000"), &fresh);
    assert_eq!(
        r,
        bridgeless_roaming::Received::Stateless,
        "the token does not work from another address"
    );
}
