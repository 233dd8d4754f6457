//! The roaming layer's memory and wire figures, checked as a user would rely on them (issue 5):
//! the `roaming-memory` binary, run with a hundred sessions, must find idle sessions small
//! enough for 10,000 of them to fit in 40 MB (it exits non-zero otherwise), also after each
//! carried a datagram each way; and a packet carrying one datagram must cost the bytes the
//! roaming README's Overhead table states. Timings are never asserted.

use std::process::Command;

use bridgeless_benches::roaming::{ours, quinn};
use bridgeless_roaming::Config;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roaming-memory"))
        .args(args)
        .output()
        .expect("the roaming-memory binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "roaming-memory {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("target met"), "{stdout}");
    stdout
}

#[test]
fn idle_sessions_fit_the_target() {
    run(&["--sessions", "100", "--no-quinn", "--no-wire"]);
}

#[test]
fn idle_sessions_give_back_what_their_traffic_grew() {
    run(&[
        "--sessions",
        "300",
        "--no-quinn",
        "--no-wire",
        "--traffic",
        "1200",
    ]);
}

/// The README's Overhead table: 1 + 16 + 1..2 + 16 + 1 = 35-36 bytes with 16-byte ids,
/// 27-28 with 8-byte ids; QUIC's short header with an 8-byte connection ID and a DATAGRAM
/// frame 27-30 (quinn-proto always writes the frame's length field).
#[test]
fn overhead_per_datagram_matches_the_readme() {
    for len in [64, 1200] {
        for (id_len, expect) in [(16, 35), (8, 27)] {
            let mut p = ours::Pair::connected(Config {
                id_len,
                ..Config::default()
            });
            let (shortest, _) = p.datagram_packet_len(len, 8);
            assert_eq!(
                shortest - len,
                expect,
                "{id_len}-byte ids, {len}-byte datagram"
            );
        }
        let mut q = quinn::Pair::connected(quinn::Suite::ChaCha20Poly1305);
        let (shortest, _) = q.datagram_packet_len(len, 8);
        assert!(
            (27..=30).contains(&(shortest - len)),
            "quinn-proto: {} bytes for a {len}-byte datagram",
            shortest - len
        );
    }
}
