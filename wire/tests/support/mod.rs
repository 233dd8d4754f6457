//! Shared by the integration tests: every IPv6 packet a test emits is also appended to a
//! pcap file under `target/tmp/emitted/`, which the test command hands to tshark to check
//! that an independent dissector finds no malformed frame and no bad checksum.
#![allow(dead_code)]

use std::fs::{self, File};
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
