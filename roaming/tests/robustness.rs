//! `Endpoint::handle` takes any bytes from any address: no panic, and an established
//! session does not change.

mod common;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

use bridgeless_roaming::{Config, Duration, SessionStats};
use common::{Net, addr, keypair};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

/// What an arbitrary datagram is made from.
#[derive(Debug, Clone)]
enum Input {
    /// Any bytes.
    Bytes(Vec<u8>),
    /// A first byte of one of our packet types, then anything.
    Typed(u8, Vec<u8>),
    /// A data packet for the session's real identifier, then anything.
    ForSession(Vec<u8>),
    /// A real packet of the session with a bit flipped, or cut short, or as it was (a replay).
    Mutated(usize, Option<usize>, Option<usize>),
}

fn input() -> impl Strategy<Value = Input> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        bytes.clone().prop_map(Input::Bytes),
        (
            prop_oneof![
                Just(0x40u8),
                Just(0x45),
                Just(0x7f),
                Just(0x81),
                Just(0x82),
                Just(0x83)
            ],
            bytes.clone()
        )
            .prop_map(|(t, b)| Input::Typed(t, b)),
        bytes.prop_map(Input::ForSession),
        (
            any::<usize>(),
            any::<Option<usize>>(),
            any::<Option<usize>>()
        )
            .prop_map(|(i, f, c)| Input::Mutated(i, f, c)),
    ]
}

fn source() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), any::<u32>(), any::<u16>(), any::<bool>()).prop_map(
        |(v6, v4, port, six)| {
            let ip = if six {
                IpAddr::from(v6)
            } else {
                IpAddr::from(v4.to_be_bytes())
            };
            SocketAddr::new(ip, port)
        },
    )
}

fn protocol_state(s: SessionStats) -> SessionStats {
    SessionStats {
        auth_failures: 0,
        ..s
    }
}

#[test]
fn arbitrary_datagrams_never_panic_nor_change_an_established_session() {
    let mut net = Net::new(Duration::from_millis(10));
    net.add(
        Config::default(),
        keypair(1),
        1,
        addr("[2001:db8:1::10]:5000"),
    );
    net.add(Config::default(), keypair(2), 2, addr("[2001:db8::2]:4433"));
    net.capture = true;
    let (hc, hs) = net.connect(0, 1);
    for i in 0..5u8 {
        net.nodes[0].ep.send_datagram(hc, &[i; 100]).unwrap();
        net.nodes[1].ep.send_datagram(hs, &[i; 100]).unwrap();
        net.run(Duration::from_millis(50));
    }
    let client = net.nodes[0].addr;
    let real: Vec<Vec<u8>> = net
        .captured
        .iter()
        .filter(|w| w.from == client)
        .map(|w| w.bytes.clone())
        .collect();
    let session_id = real.iter().find(|p| p[0] & 0xc0 == 0x40).unwrap()[1..17].to_vec();
    let before = protocol_state(net.nodes[1].ep.session_stats(hs).unwrap());
    let sessions_before = net.nodes[1].ep.session_count();
    let now = net.now;
    let net = RefCell::new(net);

    let mut runner = TestRunner::new(RunnerConfig {
        cases: 5_000,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&(input(), source()), |(input, from)| {
            let bytes = match input {
                Input::Bytes(b) => b,
                Input::Typed(t, mut b) => {
                    b.insert(0, t);
                    b
                }
                Input::ForSession(tail) => {
                    let mut b = vec![0x40];
                    b.extend_from_slice(&session_id);
                    b.extend_from_slice(&tail);
                    b
                }
                Input::Mutated(i, flip, cut) => {
                    let mut b = real[i % real.len()].clone();
                    if let Some(f) = flip {
                        let bit = f % (b.len() * 8);
                        b[bit / 8] ^= 1 << (bit % 8);
                    }
                    if let Some(c) = cut {
                        b.truncate(c % (b.len() + 1));
                    }
                    b
                }
            };
            let mut net = net.borrow_mut();
            let ep = &mut net.nodes[1].ep;
            ep.handle(now, from, &bytes);
            // Whatever it answers (at most a cookie reply), the session is as it was.
            let mut buf = [0u8; 1500];
            while let Some(t) = ep.poll_transmit(now, &mut buf) {
                prop_assert!(
                    t.len <= bytes.len(),
                    "no amplification: {} for {}",
                    t.len,
                    bytes.len()
                );
            }
            prop_assert_eq!(protocol_state(ep.session_stats(hs).unwrap()), before);
            prop_assert_eq!(ep.session_count(), sessions_before);
            Ok(())
        })
        .unwrap();
    // And the session still works.
    let mut net = net.into_inner();
    net.nodes[0].ep.send_datagram(hc, b"still here").unwrap();
    net.run(Duration::from_millis(100));
    assert_eq!(
        net.received(1, hs).last().map(Vec::as_slice),
        Some(&b"still here"[..])
    );
}
