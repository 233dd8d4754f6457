//! Replays the pcap fixtures recorded from the Linux kernel over a TUN device (see
//! `tests/fixtures/README.md`) and checks every packet three ways:
//!
//! 1. our parse agrees with tshark's dissection of the same packet, column by column, as
//!    recorded in the golden `X.tshark.tsv` files;
//! 2. where the kernel refused a packet we injected with a Parameter Problem, our parser refuses
//!    the same packet with the same code and pointer;
//! 3. every packet's one-line summary (what `bridgeless inspect` prints) matches `X.summary`.
//!
//! When tshark is installed (and always under `CI=true`) the golden files are also regenerated
//! live and compared, so they cannot drift from what tshark says. Set `BLESS=1` to rewrite the
//! `.summary` files after a deliberate format change (then review the diff).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use bridgeless_wire::frame::{self, FrameInfo};
use bridgeless_wire::mld::{MldMessage, RecordType};
use bridgeless_wire::pcap;
use bridgeless_wire::summary::Summary;
use bridgeless_wire::{Error, ParamProblemCode};

const FIXTURES: [&str; 6] = [
    "linkup-rs",
    "ping",
    "mld",
    "tcp-syn",
    "udp-tclass-hlim",
    "kernel-answers",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One row of a golden file: tshark field name -> value ("" when tshark printed nothing).
struct Row(HashMap<String, String>);

impl Row {
    fn get(&self, field: &str) -> &str {
        self.0
            .get(field)
            .unwrap_or_else(|| panic!("golden file lacks column {field}"))
    }
    /// The outermost value of a field (ICMPv6 errors repeat fields for the embedded packet).
    fn first(&self, field: &str) -> Option<&str> {
        let v = self.get(field);
        (!v.is_empty()).then(|| v.split(',').next().unwrap())
    }
    fn num(&self, field: &str) -> Option<u64> {
        self.first(field).map(|v| match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => v.parse().unwrap(),
        })
    }
    fn all(&self, field: &str) -> Vec<&str> {
        let v = self.get(field);
        if v.is_empty() {
            vec![]
        } else {
            v.split(',').collect()
        }
    }
}

fn golden(name: &str) -> (String, Vec<Row>) {
    let text = std::fs::read_to_string(dir().join(format!("{name}.tshark.tsv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            Row(header
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect())
        })
        .collect();
    (text, rows)
}

fn packets(name: &str) -> Vec<Vec<u8>> {
    pcap::replay(dir().join(format!("{name}.pcap")))
        .unwrap()
        .map(|r| {
            r.unwrap()
                .ip()
                .expect("fixtures hold only IP packets")
                .to_vec()
        })
        .collect()
}

fn v6(addr: IpAddr) -> String {
    addr.to_string()
}

/// Checks our parse of one packet against tshark's columns.
fn check_against_tshark(name: &str, n: usize, bytes: &[u8], info: &FrameInfo<'_>, row: &Row) {
    let at = format!("{name} #{n}");
    assert_eq!(
        bytes.len() as u64,
        row.num("frame.len").unwrap(),
        "{at}: length"
    );
    assert_eq!(
        v6(info.src()),
        row.first("ipv6.src").unwrap(),
        "{at}: source"
    );
    assert_eq!(
        v6(info.dst()),
        row.first("ipv6.dst").unwrap(),
        "{at}: destination"
    );
    assert_eq!(
        u64::from(info.hop_limit()),
        row.num("ipv6.hlim").unwrap(),
        "{at}: hop limit"
    );
    assert_eq!(
        u64::from(info.traffic_class()),
        row.num("ipv6.tclass").unwrap(),
        "{at}: tclass"
    );
    assert_eq!(
        u64::from(info.flow_label()),
        row.num("ipv6.flow").unwrap(),
        "{at}: flow label"
    );
    assert_eq!(
        u64::from(info.payload_len()),
        row.num("ipv6.plen").unwrap(),
        "{at}: payload len"
    );
    assert_eq!(info.trailing(), 0, "{at}: trailing bytes");

    // The first Next Header, and the one each extension header names.
    let first_next = info
        .ext_headers()
        .next()
        .map_or(u8::from(info.protocol()), |h| u8::from(h.kind().protocol()));
    assert_eq!(
        u64::from(first_next),
        row.num("ipv6.nxt").unwrap(),
        "{at}: next header"
    );
    for h in info.ext_headers() {
        let named_next = u64::from(h.bytes()[0]);
        let column = match h.kind() {
            frame::ExtHeaderKind::HopByHop => "ipv6.hopopts.nxt",
            frame::ExtHeaderKind::DestinationOptions => "ipv6.dstopts.nxt",
            frame::ExtHeaderKind::Fragment => "ipv6.fraghdr.nxt",
            other => panic!("{at}: fixtures hold no {other:?} header"),
        };
        assert_eq!(Some(named_next), row.num(column), "{at}: {column}");
    }

    match info.fragment() {
        Some(f) => {
            assert_eq!(
                u64::from(f.offset),
                row.num("ipv6.fraghdr.offset").unwrap() * 8,
                "{at}"
            );
            assert_eq!(
                f.more,
                row.first("ipv6.fraghdr.more") == Some("1"),
                "{at}: M flag"
            );
            assert_eq!(
                u64::from(f.ident),
                row.num("ipv6.fraghdr.ident").unwrap(),
                "{at}: ident"
            );
        }
        None => assert_eq!(row.first("ipv6.fraghdr.offset"), None, "{at}: fragment"),
    }

    // Ports belong to the outermost packet only when it is TCP or UDP itself (an ICMPv6 error
    // shows the embedded packet's ports in the same columns).
    let proto = u8::from(info.protocol());
    let tshark_ports = |s, d| Some((row.num(s)? as u16, row.num(d)? as u16));
    match proto {
        6 => assert_eq!(
            info.ports(),
            tshark_ports("tcp.srcport", "tcp.dstport"),
            "{at}: TCP"
        ),
        17 => assert_eq!(
            info.ports(),
            tshark_ports("udp.srcport", "udp.dstport"),
            "{at}: UDP"
        ),
        _ => assert_eq!(info.ports(), None, "{at}: ports"),
    }
    if proto == 58 && info.has_upper_header() {
        let (t, c) = info.icmp().expect("ICMPv6 type and code");
        assert_eq!(
            u64::from(t),
            row.num("icmpv6.type").unwrap(),
            "{at}: ICMPv6 type"
        );
        assert_eq!(
            u64::from(c),
            row.num("icmpv6.code").unwrap(),
            "{at}: ICMPv6 code"
        );
    } else {
        assert_eq!(info.icmp(), None, "{at}: ICMPv6 fields without ICMPv6");
    }

    // MLDv2 reports: record types and groups, through our MLD parser.
    if info.icmp().map(|(t, _)| t) == Some(143) {
        let Ok(MldMessage::ReportV2(report)) = MldMessage::parse(info.upper_layer()) else {
            panic!("{at}: MLDv2 report does not parse");
        };
        assert_eq!(
            u64::from(report.number_of_records()),
            row.num("icmpv6.mldr.nb_mcast_records").unwrap()
        );
        let ours: Vec<(String, String)> = report
            .records()
            .map(|r| {
                (
                    u8::from(r.record_type).to_string(),
                    r.multicast_address.to_string(),
                )
            })
            .collect();
        let theirs: Vec<(String, String)> = row
            .all("icmpv6.mldr.mar.record_type")
            .into_iter()
            .zip(row.all("icmpv6.mldr.mar.multicast_address"))
            .map(|(t, a)| (t.to_string(), a.to_string()))
            .collect();
        assert_eq!(ours, theirs, "{at}: MLDv2 records");
        assert!(matches!(
            report.records().next().unwrap().record_type,
            RecordType::ChangeToExcludeMode | RecordType::ChangeToIncludeMode
        ));
    }
}

#[test]
fn every_fixture_packet_parses_as_tshark_dissects_it() {
    for name in FIXTURES {
        let (_, rows) = golden(name);
        let packets = packets(name);
        assert_eq!(packets.len(), rows.len(), "{name}: packet count");
        assert!(!packets.is_empty(), "{name}: empty fixture");
        for (i, (bytes, row)) in packets.iter().zip(&rows).enumerate() {
            let n = i + 1;
            assert_eq!(row.num("frame.number"), Some(n as u64));
            match frame::parse(bytes) {
                Ok(info) => check_against_tshark(name, n, bytes, &info, row),
                Err(Error::ParameterProblem(_)) => {} // checked against the kernel below
                Err(e) => panic!("{name} #{n}: {e}"),
            }
        }
    }
}

/// The kernel answered two of the packets we injected with Parameter Problem; our parser must
/// refuse the same packets with the same code and pointer (RFC 8200 §4, RFC 4443 §3.4).
#[test]
fn parameter_problems_match_the_kernels() {
    let packets = packets("kernel-answers");
    let (_, rows) = golden("kernel-answers");
    let mut seen = 0;
    for (i, row) in rows.iter().enumerate() {
        if row.first("icmpv6.type") != Some("4") {
            continue;
        }
        let code = row.num("icmpv6.code").unwrap() as u8;
        let pointer = row.num("icmpv6.pointer").unwrap() as u32;
        // The kernel's answer directly follows the packet it refused.
        let invoking = &packets[i - 1];
        let ours = match frame::parse(invoking) {
            Err(Error::ParameterProblem(p)) => (u8::from(p.code), p.pointer),
            // An upper-layer protocol the host does not implement is not a wire error: the
            // parse succeeds and names where to point (RFC 8200 §4: "unrecognized Next Header").
            Ok(info) => {
                let p = info.unrecognized_next_header();
                assert_eq!(p.code, ParamProblemCode::UnrecognizedNxtHdr);
                (u8::from(p.code), p.pointer)
            }
            Err(e) => panic!("packet {i}: unexpected {e}"),
        };
        assert_eq!(ours, (code, pointer), "kernel-answers #{}", i);
        seen += 1;
    }
    assert_eq!(seen, 2, "the fixture holds two Parameter Problems");
}

#[test]
fn every_fixture_packet_has_its_expected_summary() {
    let bless = std::env::var_os("BLESS").is_some();
    for name in FIXTURES {
        let lines: String = packets(name)
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:>3}  {}\n", i + 1, Summary::new(p)))
            .collect();
        let path = dir().join(format!("{name}.summary"));
        if bless {
            std::fs::write(&path, &lines).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            lines, expected,
            "{name}: summaries differ (BLESS=1 rewrites them)"
        );
    }
}

/// The golden files are what tshark prints today, not hand-edited.
#[test]
fn golden_files_are_tsharks_output() {
    let have_tshark = Command::new("tshark").arg("--version").output().is_ok();
    if !have_tshark {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is required under CI=true"
        );
        eprintln!("note: tshark not installed; golden files not re-checked");
        return;
    }
    for name in FIXTURES {
        let (text, _) = golden(name);
        let fields: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(dir().join(format!("{name}.pcap")));
        cmd.args([
            "-o",
            "ipv6.defragment:FALSE",
            "-T",
            "fields",
            "-E",
            "header=y",
            "-E",
            "separator=/t",
        ]);
        for f in &fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "tshark failed on {name}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            text,
            "{name}: tshark disagrees with the golden file"
        );
    }
}
