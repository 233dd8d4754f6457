//! Shared by the integration tests: every IPv6 packet a test emits is also appended to a
//! pcap file under `target/tmp/emitted/`, which the test command hands to tshark to check
//! that an independent dissector finds no malformed frame and no bad checksum.
#![allow(dead_code)]

use std::fs::{self, File};
use std::process::Command;
use std::sync::Mutex;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

static WRITER: Mutex<Option<PcapWriter<File>>> = Mutex::new(None);

/// Appends one bare IP packet (LINKTYPE_RAW) to this test binary's capture of emitted packets.
pub fn record_emitted(packet: &[u8]) {
    let mut guard = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    let writer = guard.get_or_insert_with(|| {
        let dir = concat!(env!("CARGO_TARGET_TMPDIR"), "/emitted");
        fs::create_dir_all(dir).expect("create emitted-packet directory");
        let exe = std::env::current_exe().expect("test binary path");
        let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let file = File::create(format!("{dir}/{stem}.pcap")).expect("create emitted pcap");
        let header = PcapHeader {
            datalink: DataLink::RAW,
            endianness: Endianness::Little,
            ts_resolution: TsResolution::MicroSecond,
            ..Default::default()
        };
        PcapWriter::with_header(file, header).expect("write pcap header")
    });
    let packet = PcapPacket::new(std::time::Duration::ZERO, packet.len() as u32, packet);
    writer.write_packet(&packet).expect("write emitted packet");
}

/// A capture of a test's own, written at once and checked by tshark if it is installed.
pub struct Tshark {
    path: String,
}

impl Tshark {
    /// Writes `packets` (bare IP, LINKTYPE_RAW) to `<name>-tshark-check.pcap` under the test
    /// target directory; `None`, with a note on stderr, if tshark is not installed.
    pub fn new(name: &str, packets: &[Vec<u8>]) -> Option<Tshark> {
        if Command::new("tshark").arg("--version").output().is_err() {
            eprintln!("tshark is not installed (apt-get install tshark): skipping its check");
            return None;
        }
        let path = format!("{}/{name}-tshark-check.pcap", env!("CARGO_TARGET_TMPDIR"));
        let file = File::create(&path).unwrap();
        let header = PcapHeader {
            datalink: DataLink::RAW,
            endianness: Endianness::Little,
            ts_resolution: TsResolution::MicroSecond,
            ..Default::default()
        };
        let mut writer = PcapWriter::with_header(file, header).unwrap();
        for p in packets {
            let packet = PcapPacket::new(std::time::Duration::ZERO, p.len() as u32, p);
            writer.write_packet(&packet).unwrap();
        }
        Some(Tshark { path })
    }

    /// Runs tshark on the capture with `args` and returns what it prints.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Frames tshark finds malformed or with an expert warning (bad checksums are).
    pub fn problems(&self) -> String {
        self.run(&[
            "-Y",
            "_ws.malformed || _ws.expert.severity >= \"warning\"",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.message",
        ])
    }

    /// The given fields of every frame, one line a frame, tab-separated.
    pub fn fields(&self, fields: &[&str]) -> String {
        let mut args = vec!["-T", "fields"];
        for f in fields {
            args.push("-e");
            args.push(f);
        }
        self.run(&args)
    }
}
