//! `bridgeless inspect` as a user runs it: the binary on real captures and on broken ones.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bridgeless_wire::pcap::{LinkType, Writer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/tests/fixtures")
        .join(name)
}

fn inspect(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bridgeless"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn prints_one_line_per_packet_of_a_kernel_capture() {
    let out = inspect(&[&fixture("kernel-answers.pcap")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10);
    assert!(
        lines[0].starts_with("   1    0.000000  fd00::2 → fd00::1  IPv6 › ICMPv6  echo request")
    );
    assert!(lines[3].contains("destination unreachable (port unreachable)"));
    // Refused, not malformed: the same code and pointer the kernel answered with.
    assert!(lines[6].ends_with("refused: parameter problem (unrecognized option) pointer=42"));
    assert!(lines[7].contains("parameter problem (unrecognized option) pointer=42"));
}

#[test]
fn shows_mld_record_types_and_groups() {
    let out = inspect(&[&fixture("mld.pcap")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.matches("MLDv2 report: CHANGE_TO_EXCLUDE_MODE ff15::1234")
            .count(),
        2
    );
    assert_eq!(
        text.matches("MLDv2 report: CHANGE_TO_INCLUDE_MODE ff15::1234")
            .count(),
        2
    );
}

#[test]
fn malformed_packet_is_reported_and_the_run_goes_on() {
    let path = scratch("broken.pcap");
    let good = std::fs::read(fixture("udp-tclass-hlim.pcap")).unwrap();
    let packets: Vec<Vec<u8>> = bridgeless_wire::pcap::Reader::new(&good[..])
        .unwrap()
        .map(|r| r.unwrap().ip().unwrap().to_vec())
        .collect();
    let mut truncated = packets[0].clone();
    truncated.truncate(50); // Payload Length now says more than the frame holds
    let mut w = Writer::create(&path, LinkType::Raw).unwrap();
    w.write(Duration::from_millis(1), &packets[0]).unwrap();
    w.write(Duration::from_millis(2), &truncated).unwrap();
    w.write(Duration::from_millis(3), &packets[1]).unwrap();
    w.flush().unwrap();
    drop(w);

    let out = inspect(&[&path]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a malformed packet sets exit status 1"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "every packet is listed:\n{text}");
    assert!(lines[1].contains("malformed: truncated"), "{}", lines[1]);
    assert!(
        lines[2].contains("40002 → 50000"),
        "the run continues after the error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 malformed packet"));
}

#[test]
fn unreadable_file_exits_with_status_2() {
    let out = inspect(&[Path::new("/nonexistent/capture.pcap")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));

    let path = scratch("not-a-capture.pcap");
    std::fs::write(&path, b"this is not a capture file").unwrap();
    assert_eq!(inspect(&[&path]).status.code(), Some(2));
}

#[test]
fn several_files_are_named_in_order() {
    let out = inspect(&[&fixture("linkup-rs.pcap"), &fixture("tcp-syn.pcap")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let rs = text.find("linkup-rs.pcap").unwrap();
    let syn = text.find("tcp-syn.pcap").unwrap();
    assert!(rs < syn);
    assert_eq!(text.matches("router solicitation").count(), 2);
    assert_eq!(text.matches("[SYN]").count(), 2);
}
