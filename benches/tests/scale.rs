//! The `scale` benchmark in small (50 hosts under 4 routers, 200 sessions, 2 simulated
//! minutes), run as a user runs it: every session must survive every move of its host and
//! keep delivering both ways, and the JSON report must be written. Timings are reported by
//! the binary, never asserted here.

use std::process::Command;

use serde_json::Value;

/// Runs the binary with `args`, checks that it succeeded, returns its JSON report.
fn run(dir: &std::path::Path, name: &str, args: &[&str]) -> Value {
    let json = dir.join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("the scale binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scale failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delivered after every move"), "{stdout}");
    let text = std::fs::read_to_string(&json).expect("the JSON report is written");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

#[test]
fn every_session_survives_every_move() {
    let dir = std::env::temp_dir().join(format!("bridgeless-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = run(
        &dir,
        "small",
        &[
            "--hosts",
            "50",
            "--routers",
            "4",
            "--sessions",
            "200",
            "--minutes",
            "2",
            "--move-fraction",
            "0.1",
            "--seed",
            "7",
            // Three endpoints per server: the sessions are sharded over ports.
            "--sessions-per-port",
            "20",
        ],
    );

    let setup = &r["setup"];
    assert_eq!(n(&setup["hosts"]), 50);
    assert_eq!(n(&setup["access_routers"]), 3);
    assert_eq!(n(&setup["ports_per_server"]), 3);

    // Every session established, none closed, at either end.
    let s = &r["sessions"];
    assert_eq!(n(&s["total"]), 200);
    assert_eq!(n(&s["established"]), 200);
    assert_eq!(n(&s["closed_at_host"]), 0, "{}", s["close_reasons"]);
    assert_eq!(n(&s["closed_at_server"]), 0, "{}", s["close_reasons"]);
    assert_eq!(n(&s["server_endpoints"]["established"]), 200);
    assert_eq!(n(&s["host_endpoints"]["established"]), 200);

    // A tenth of the hosts moved each minute, each to another access router.
    let m = &r["moves"];
    assert_eq!(n(&m["planned"]), 10);
    assert_eq!(n(&m["performed"]), 10);
    assert_eq!(n(&m["failed"]), 0);
    assert_eq!(n(&m["same_router"]), 0);
    assert_eq!(n(&m["without_address"]), 0);

    // Every session of a moving host heard from its server on the new link, delivered a
    // datagram sent after the move to the server and got its echo back.
    let session_moves = n(&m["session_moves"]);
    assert_eq!(session_moves, 10 * 4, "4 sessions per host");
    assert_eq!(n(&m["not_restored"]), 0);
    assert_eq!(n(&m["interruption_ms"]["count"]), session_moves);
    assert_eq!(n(&m["up_gap_ms"]["count"]), session_moves);
    assert_eq!(n(&m["down_gap_ms"]["count"]), session_moves);
    assert_eq!(n(&s["delivered_after_every_move"]), 200);
    assert!(n(&s["migrations"]) >= session_moves);
    assert!(n(&s["validations"]) >= session_moves);
    assert_eq!(n(&s["reverts"]), 0);

    // Datagrams: the moves lose a handful at most (those in flight on the old link).
    let d = &r["datagrams"];
    let sent = n(&d["sent"]);
    assert!(sent > 200 * 20, "{sent} datagrams sent");
    assert_eq!(n(&d["refused"]), 0);
    assert!(
        n(&d["lost_up"]) + n(&d["lost_down"]) <= session_moves,
        "{d}"
    );

    // The costs are reported (not asserted: timings belong in BENCHMARKS.md).
    let c = &r["cost"];
    assert!(c["ratio"].as_f64().is_some_and(|x| x > 0.0));
    assert!(
        n(&c["frames_sent"]) > sent * 3,
        "each datagram crosses three links"
    );
    assert!(r["ok"].as_bool().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let dir = std::env::temp_dir().join(format!("bridgeless-scale-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = [
        "--hosts",
        "12",
        "--routers",
        "3",
        "--sessions",
        "24",
        "--minutes",
        "1",
        "--move-fraction",
        "0.25",
        "--seed",
        "3",
    ];
    let a = run(&dir, "a", &args);
    let b = run(&dir, "b", &args);
    assert_eq!(n(&a["moves"]["performed"]), 3);
    assert_eq!(a["datagrams"], b["datagrams"]);
    assert_eq!(a["moves"], b["moves"]);
    assert_eq!(a["sessions"]["migrations"], b["sessions"]["migrations"]);
    assert_eq!(n(&a["cost"]["frames_sent"]), n(&b["cost"]["frames_sent"]));
    assert_eq!(n(&a["cost"]["events"]), n(&b["cost"]["events"]));
    let _ = std::fs::remove_dir_all(&dir);
}
