//! `bridgeless demo` as a user runs it: the binary with a fixed seed, its report checked
//! number by number, its captures dissected by tshark, its plot looked at, and a second run
//! with the same seed compared byte for byte.
//!
//! tshark is needed for the capture check: without it the test prints a note and skips that
//! part, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bridgeless");

/// The longest interruption a handover may cause, in ms: the new access point answers the
/// phone's Router Solicitation within 500 ms (RFC 4861 §6.2.6 MAX_RA_DELAY_TIME), the phone
/// forms its address at once (no duplicate address detection on a point-to-point link), and
/// TCP inside the session resends what the move lost when its retransmission timer fires, at
/// least 1 s after the last acknowledgement (smoltcp's minimum RTO) and so after the new
/// address exists: one timeout suffices. 1 s + 0.5 s, and a second for round trips, path
/// validation and radio loss.
const INTERRUPTION_BOUND_MS: f64 = 2500.0;

/// A fresh output folder for one run.
fn out_dir(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(args: &[&str], out: &Path) -> Output {
    let output = Command::new(BIN)
        .arg("demo")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "bridgeless demo {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("an integer: {v}"))
}

/// Where the phone was: (access point index from 1, from, until) in s.
fn presence(r: &Value) -> Vec<(u64, f64, f64)> {
    let mut spans = Vec::new();
    let (mut ap, mut from) = (1, 0.0);
    for h in r["handovers"].as_array().unwrap() {
        spans.push((ap, from, f(&h["at_s"])));
        ap = u(&h["to_ap"]);
        from = f(&h["at_s"]);
    }
    spans.push((ap, from, f(&r["virtual_time_s"])));
    spans
}

/// Checks what the demo claims, from the numbers in its report.
fn check_report(r: &Value, access_points: u64) {
    // Every handover happened, the phone formed a new address, and the stream resumed within
    // the bound.
    let handovers = r["handovers"].as_array().unwrap();
    assert_eq!(handovers.len() as u64, access_points - 1, "{handovers:?}");
    for (i, h) in handovers.iter().enumerate() {
        assert_eq!(u(&h["from_ap"]), i as u64 + 1);
        assert_eq!(u(&h["to_ap"]), i as u64 + 2);
        assert!(h["new_address"].is_string(), "a new address: {h}");
        assert_ne!(h["new_address"], h["old_address"]);
        let ms = f(&h["interruption_ms"]);
        assert!(
            ms > 0.0 && ms <= INTERRUPTION_BOUND_MS,
            "handover {i}: interruption {ms} ms"
        );
    }
    // Zero bytes lost: the server read every byte once, in order (a byte out of place breaks
    // the pattern), and the end of the stream.
    let s = &r["stream"];
    assert!(u(&s["bytes_written"]) > 1_000_000, "{s}");
    assert_eq!(s["bytes_delivered"], s["bytes_written"], "{s}");
    assert_eq!(u(&s["pattern_mismatches"]), 0, "{s}");
    assert_eq!(s["end_seen"], true, "{s}");
    // The session carried it all: established, never closed, and it followed every move.
    assert_eq!(s["established"], true, "{s}");
    assert_eq!(s["closed"], false, "{s}");
    assert!(u(&s["migrations"]) >= access_points - 1, "{s}");

    // Multicast went to the links with a listener only: the phone's link while it was there,
    // never the laptop's.
    let m = &r["multicast"];
    assert!(u(&m["sent"]) > 100, "{m}");
    assert!(u(&m["phone_received"]) > 0, "{m}");
    assert_eq!(u(&m["laptop_received"]), 0, "{m}");
    assert_eq!(u(&m["laptop_link_packets"]), 0, "{m}");
    let spans = presence(r);
    for l in r["links"].as_array().unwrap() {
        let packets = u(&l["group_packets"]);
        match l["kind"].as_str().unwrap() {
            "radio" => {
                let ap = u(&l["ap"]);
                let visits: Vec<_> = spans.iter().filter(|s| s.0 == ap).collect();
                assert!(!visits.is_empty(), "the phone visited every access point");
                assert!(packets > 0, "the group reached the phone at ap{ap}: {l}");
                for t in [f(&l["group_first_s"]), f(&l["group_last_s"])] {
                    assert!(
                        visits.iter().any(|&&(_, a, b)| t >= a && t <= b + 0.05),
                        "group packet at {t} s on {l} while the phone was elsewhere"
                    );
                }
            }
            "host" => assert_eq!(
                packets > 0,
                l["listener"] == true,
                "group packets on a host link exactly when its host listens: {l}"
            ),
            _ => {}
        }
    }
    // Every check of the demo's own held.
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
}

/// tshark finds no malformed frame (and no error-level expert item: bad checksums) in any
/// capture, and every capture has frames.
fn check_captures(out: &Path) {
    let pcaps: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    assert!(pcaps.len() >= 8, "a capture per link: {pcaps:?}");
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is not installed (apt-get install tshark)"
        );
        eprintln!("note: tshark not installed; captures not dissected");
        return;
    }
    // Checksums checked; UDP payloads (the session's encrypted datagrams, the group's bytes)
    // as plain data, except DHCPv6 (546, 547), which tshark dissects.
    let opts = [
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-d",
        "udp.port==1-545,data",
        "-d",
        "udp.port==548-65535,data",
    ];
    for pcap in &pcaps {
        let tshark = |filter: Option<&str>| -> String {
            let mut cmd = Command::new("tshark");
            cmd.arg("-r").arg(pcap).args(opts);
            if let Some(filter) = filter {
                cmd.args(["-Y", filter]);
            }
            let o = cmd
                .args([
                    "-T",
                    "fields",
                    "-e",
                    "frame.number",
                    "-e",
                    "_ws.expert.message",
                ])
                .output()
                .expect("tshark runs");
            assert!(o.status.success(), "tshark on {}: {o:?}", pcap.display());
            String::from_utf8(o.stdout).unwrap()
        };
        let frames = tshark(None).lines().count();
        let bad = tshark(Some("_ws.malformed || _ws.expert.severity >= \"error\""));
        assert!(frames > 0, "{} has frames", pcap.display());
        assert!(
            bad.is_empty(),
            "{}: malformed frames:\n{bad}",
            pcap.display()
        );
    }
}

#[test]
fn the_phone_walks_through_three_access_points_and_loses_nothing() {
    let out = out_dir("seed7");
    let output = run(&["--seed", "7", "--quiet"], &out);
    let r = report(&out);
    assert_eq!(u(&r["seed"]), 7);
    check_report(&r, 3);
    check_captures(&out);
    let svg = std::fs::read_to_string(out.join("timeline.svg")).expect("timeline.svg written");
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..50.min(svg.len())]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("ap1 → ap2") && svg.contains("ap2 → ap3"),
        "handovers labelled"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 check(s) failed"));

    // The same seed gives the same run: the same report and the same captures, byte for byte.
    let again = out_dir("seed7-again");
    run(&["--seed", "7", "--quiet"], &again);
    for name in [
        "report.json",
        "ap1-radio.pcap",
        "ap2-radio.pcap",
        "core-server.pcap",
    ] {
        assert!(
            std::fs::read(out.join(name)).unwrap() == std::fs::read(again.join(name)).unwrap(),
            "{name} differs between two runs with the same seed"
        );
    }
    let _ = std::fs::remove_dir_all(&again);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn more_access_points_extra_hosts_and_radio_loss() {
    let out = out_dir("four");
    let output = run(
        &[
            "--seed",
            "3",
            "--access-points",
            "4",
            "--hosts",
            "2",
            "--loss",
            "0.01",
        ],
        &out,
    );
    let r = report(&out);
    check_report(&r, 4);
    // Radio loss was there, and TCP made up for it.
    assert!(u(&r["losses"]["lost"]) > 0, "{}", r["losses"]);
    assert!(
        u(&r["stream"]["tcp_retransmitted_segments"]) > 0,
        "{}",
        r["stream"]
    );
    // Of each access point's two extra hosts, the first listens and the second does not.
    let host_links: Vec<_> = r["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "host" && l["host"] != "laptop")
        .collect();
    assert_eq!(host_links.len(), 8);
    assert_eq!(
        host_links.iter().filter(|l| l["listener"] == true).count(),
        4
    );
    // The timeline a user reads.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "holds 2001:db8::/48",
        "moved from ap1 to ap2",
        "moved from ap3 to ap4",
        "Handovers",
        "saved:",
    ] {
        assert!(stdout.contains(line), "{line:?} in the timeline:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
