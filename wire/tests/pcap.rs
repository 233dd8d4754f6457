//! Captures written by our `Writer`, by the `pcap-file` crate (classic pcap in both byte
//! orders, pcapng) and by hand (Ethernet with VLAN tags and ARP, Linux cooked captures) read
//! back through our `Reader`; damaged files fail cleanly; tshark reads what we write.
#![cfg(feature = "std")]

mod support;

use std::borrow::Cow;
use std::io::Cursor;
use std::time::Duration;

use bridgeless_wire::pcap::{
    LinkType, MAX_RECORD_LEN, PcapError, Reader, Record, RecordPayload, Writer, replay,
};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::RawBlock;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
use pcap_file::{DataLink, Endianness};
use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    Ipv6Address, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};

const A: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const B: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

/// A complete ICMPv6 Echo Request from A to B (checksum filled in), also handed to the tshark
/// sink of emitted packets.
fn echo_request(seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv6Repr::EchoRequest {
        ident: 0x4242,
        seq_no,
        data,
    };
    let ip = Ipv6Repr {
        src_addr: A,
        dst_addr: B,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let mut buffer = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
    let mut packet = Ipv6Packet::new_unchecked(&mut buffer[..]);
    ip.emit(&mut packet);
    let mut message = Icmpv6Packet::new_unchecked(packet.payload_mut());
    icmp.emit(&A, &B, &mut message, &ChecksumCapabilities::default());
    support::record_emitted(&buffer);
    buffer
}

/// A complete UDP/IPv6 datagram from A port 5000 to B port 6000.
fn udp6(payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: 5000,
        dst_port: 6000,
    };
    let ip = Ipv6Repr {
        src_addr: A,
        dst_addr: B,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut buffer = vec![0u8; ip.buffer_len() + ip.payload_len];
    let mut packet = Ipv6Packet::new_unchecked(&mut buffer[..]);
    ip.emit(&mut packet);
    let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
    udp.emit(
        &mut datagram,
        &IpAddress::Ipv6(A),
        &IpAddress::Ipv6(B),
        payload.len(),
        |p| p.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    support::record_emitted(&buffer);
    buffer
}

/// A short UDP/IPv4 datagram (28 bytes: Ethernet pads it).
fn udp4() -> Vec<u8> {
    let src = Ipv4Address::new(192, 0, 2, 1);
    let dst = Ipv4Address::new(192, 0, 2, 2);
    let udp = UdpRepr {
        src_port: 53,
        dst_port: 53,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len(),
        hop_limit: 64,
    };
    let mut buffer = vec![0u8; ip.buffer_len() + ip.payload_len];
    let mut packet = Ipv4Packet::new_unchecked(&mut buffer[..]);
    ip.emit(&mut packet, &ChecksumCapabilities::default());
    let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
    udp.emit(
        &mut datagram,
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        0,
        |_| {},
        &ChecksumCapabilities::default(),
    );
    buffer
}

fn fixtures() -> Vec<(Duration, Vec<u8>)> {
    vec![
        (
            Duration::new(1_700_000_000, 1_000),
            echo_request(1, b"ping"),
        ),
        (Duration::new(1_700_000_000, 250_000_000), udp6(b"hello")),
        (
            Duration::new(1_700_000_001, 999_999_000),
            echo_request(2, &[0xAB; 1200]),
        ),
        (Duration::new(1_700_000_002, 0), udp6(&[])),
    ]
}

fn read_all(bytes: Vec<u8>) -> Vec<Result<Record, PcapError>> {
    Reader::new(Cursor::new(bytes))
        .unwrap()
        .take(10_000)
        .collect()
}

fn ok(items: Vec<Result<Record, PcapError>>) -> Vec<Record> {
    items.into_iter().map(|r| r.unwrap()).collect()
}

fn write_capture(link_type: LinkType, packets: &[(Duration, Vec<u8>)]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new(), link_type).unwrap();
    for (t, p) in packets {
        writer.write(*t, p).unwrap();
    }
    writer.into_inner().unwrap()
}

#[test]
fn writer_output_reads_back_raw_and_ipv6() {
    for link_type in [LinkType::Raw, LinkType::Ipv6] {
        let packets = fixtures();
        let bytes = write_capture(link_type, &packets);
        // A little-endian microsecond pcap header of our link type.
        assert_eq!(&bytes[..4], &[0xD4, 0xC3, 0xB2, 0xA1]);
        assert_eq!(&bytes[20..24], &link_type.to_u32().to_le_bytes());
        let reader = Reader::new(Cursor::new(bytes.clone())).unwrap();
        assert_eq!(reader.link_type(), Some(link_type));
        let records = ok(read_all(bytes));
        assert_eq!(records.len(), packets.len());
        for (i, (record, (t, p))) in records.iter().zip(&packets).enumerate() {
            assert_eq!(record.number, i as u64 + 1);
            assert_eq!(record.timestamp, *t);
            assert_eq!(record.original_len as usize, p.len());
            assert_eq!(record.link_type, link_type);
            assert_eq!(record.interface, 0);
            assert_eq!(record.ip(), Some(&p[..]));
        }
    }
}

#[test]
fn replay_from_a_file() {
    let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/pcap-replay.pcap");
    let mut writer = Writer::create(path, LinkType::Raw).unwrap();
    for (t, p) in fixtures() {
        writer.write(t, &p).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let packets: Vec<Vec<u8>> = replay(path)
        .unwrap()
        .map(|r| r.unwrap().ip().unwrap().to_vec())
        .collect();
    let expected: Vec<Vec<u8>> = fixtures().into_iter().map(|(_, p)| p).collect();
    assert_eq!(packets, expected);
}

#[test]
fn nanosecond_writer() {
    let t = Duration::new(12, 345_678_901);
    let mut writer = Writer::with_nanosecond_timestamps(Vec::new(), LinkType::Ipv6).unwrap();
    writer.write(t, &udp6(b"ns")).unwrap();
    let bytes = writer.into_inner().unwrap();
    assert_eq!(&bytes[..4], &[0x4D, 0x3C, 0xB2, 0xA1]);
    assert_eq!(ok(read_all(bytes))[0].timestamp, t);
    // Microsecond files drop the nanoseconds.
    let bytes = write_capture(LinkType::Ipv6, &[(t, udp6(b"us"))]);
    assert_eq!(
        ok(read_all(bytes))[0].timestamp,
        Duration::new(12, 345_678_000)
    );
}

#[test]
fn writer_refuses_what_does_not_belong() {
    assert!(matches!(
        Writer::new(Vec::new(), LinkType::Ethernet),
        Err(PcapError::UnsupportedLinkType(LinkType::Ethernet))
    ));
    let mut writer = Writer::new(Vec::new(), LinkType::Ipv6).unwrap();
    assert!(matches!(
        writer.write(Duration::ZERO, &udp4()),
        Err(PcapError::WrongIpVersion {
            version: Some(4),
            ..
        })
    ));
    assert!(matches!(
        writer.write(Duration::ZERO, &[]),
        Err(PcapError::WrongIpVersion { version: None, .. })
    ));
    let mut huge = vec![0u8; MAX_RECORD_LEN as usize + 1];
    huge[0] = 0x60;
    assert!(matches!(
        writer.write(Duration::ZERO, &huge),
        Err(PcapError::RecordTooLong { .. })
    ));
    assert!(matches!(
        writer.write(Duration::from_secs(1 << 32), &udp6(b"")),
        Err(PcapError::TimestampOutOfRange)
    ));
    let mut raw = Writer::new(Vec::new(), LinkType::Raw).unwrap();
    raw.write(Duration::ZERO, &udp4()).unwrap();
    raw.write(Duration::ZERO, &udp6(b"")).unwrap();
    // Nothing of the refused packets was written.
    assert_eq!(writer.into_inner().unwrap().len(), 24);
}

/// Ethernet header: destination, source, then the given EtherType/tag words.
fn ethernet(words: &[u16], payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for w in words {
        frame.extend_from_slice(&w.to_be_bytes());
    }
    frame.extend_from_slice(payload);
    frame
}

/// Writes a big-endian microsecond capture with pcap-file (its default header).
fn pcap_file_capture(datalink: DataLink, frames: &[Vec<u8>]) -> Vec<u8> {
    let header = PcapHeader {
        datalink,
        snaplen: u32::MAX,
        ..Default::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let t = Duration::from_secs(i as u64);
        let len = frame.len() as u32;
        writer
            .write_packet(&PcapPacket::new(t, len, frame))
            .unwrap();
    }
    writer.into_writer()
}

#[test]
fn ethernet_capture_is_stripped() {
    let v6 = echo_request(7, b"lan");
    let v4 = udp4();
    let mut padded_v4 = v4.clone();
    padded_v4.resize(46, 0); // minimum Ethernet payload
    let arp = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01];
    let frames = vec![
        ethernet(&[0x86DD], &v6),
        ethernet(&[0x0800], &padded_v4),
        ethernet(&[0x8100, 0x0064, 0x86DD], &v6), // 802.1Q, VLAN 100
        ethernet(&[0x88A8, 0x0001, 0x8100, 0x0064, 0x86DD], &v6), // 802.1ad + 802.1Q
        ethernet(&[0x0806], &arp),
        ethernet(&[0x002E], &[0x42; 46]), // 802.3 length field (LLC frame)
        ethernet(&[], &[]),               // 12 bytes: no EtherType
        ethernet(&[0x86DD], &v6),
    ];
    let bytes = pcap_file_capture(DataLink::ETHERNET, &frames);
    let items = read_all(bytes);
    assert_eq!(items.len(), frames.len());
    let payload = |i: usize| items[i].as_ref().unwrap().payload.clone();
    assert_eq!(payload(0), RecordPayload::Ip(v6.clone()));
    assert_eq!(
        payload(1),
        RecordPayload::Ip(v4),
        "Ethernet padding removed"
    );
    assert_eq!(payload(2), RecordPayload::Ip(v6.clone()));
    assert_eq!(payload(3), RecordPayload::Ip(v6.clone()));
    assert_eq!(payload(4), RecordPayload::NotIp { ethertype: 0x0806 });
    assert_eq!(payload(5), RecordPayload::NotIp { ethertype: 0x002E });
    assert!(matches!(
        items[6],
        Err(PcapError::TruncatedRecord { number: 7 })
    ));
    // The reader went on after the damaged record.
    let last = items[7].as_ref().unwrap();
    assert_eq!((last.number, last.timestamp), (8, Duration::from_secs(7)));
    assert_eq!(last.link_type, LinkType::Ethernet);
    assert_eq!(last.original_len as usize, 14 + v6.len());
    assert_eq!(last.ip(), Some(&v6[..]));
}

#[rustfmt::skip]
#[test]
fn linux_cooked_captures() {
    let v6 = udp6(b"any");
    let mut sll = vec![
        0x00, 0x00,             // packet type: to us
        0xFF, 0xFE,             // ARPHRD_NONE (TUN)
        0x00, 0x00,             // address length
        0, 0, 0, 0, 0, 0, 0, 0, // address
        0x86, 0xDD,             // protocol
    ];
    sll.extend_from_slice(&v6);
    let arp_sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x06, 0, 1];
    let records = ok(read_all(pcap_file_capture(DataLink::LINUX_SLL, &[sll, arp_sll.to_vec()])));
    assert_eq!(records[0].ip(), Some(&v6[..]));
    assert_eq!(records[0].link_type, LinkType::LinuxSll);
    assert_eq!(records[1].payload, RecordPayload::NotIp { ethertype: 0x0806 });

    let mut sll2 = vec![
        0x86, 0xDD,             // protocol
        0x00, 0x00,             // reserved
        0x00, 0x00, 0x00, 0x05, // interface index
        0xFF, 0xFE,             // ARPHRD_NONE
        0x04,                   // packet type: sent by us
        0x00,                   // address length
        0, 0, 0, 0, 0, 0, 0, 0, // address
    ];
    sll2.extend_from_slice(&v6);
    let records = ok(read_all(pcap_file_capture(DataLink::LINUX_SLL2, &[sll2])));
    assert_eq!(records[0].ip(), Some(&v6[..]));
}

#[test]
fn other_link_types_are_unsupported_not_dropped() {
    let frames = vec![vec![1, 2, 3], vec![]];
    let records = ok(read_all(pcap_file_capture(DataLink::NULL, &frames)));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].link_type, LinkType::Other(0));
    assert_eq!(
        records[0].payload,
        RecordPayload::Unsupported(vec![1, 2, 3])
    );
}

#[test]
fn overlong_record_is_reported_and_skipped() {
    let mut big = vec![0u8; MAX_RECORD_LEN as usize + 1];
    big[0] = 0x60;
    let small = udp6(b"after");
    let bytes = pcap_file_capture(DataLink::RAW, &[big, small.clone()]);
    let items = read_all(bytes);
    assert!(matches!(
        items[0],
        Err(PcapError::RecordTooLong { number: 1, len }) if len == u64::from(MAX_RECORD_LEN) + 1
    ));
    assert_eq!(items[1].as_ref().unwrap().ip(), Some(&small[..]));
    assert_eq!(items[1].as_ref().unwrap().number, 2);
}

/// A little-endian Enhanced Packet Block body (the writer checks interface ids, so blocks
/// naming unknown interfaces are built by hand).
fn raw_epb(interface: u32, ticks: u64, data: &[u8]) -> RawBlock<'static> {
    let mut body = Vec::new();
    for word in [
        interface,
        (ticks >> 32) as u32,
        ticks as u32,
        data.len() as u32,
        data.len() as u32,
    ] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    body.extend_from_slice(data);
    body.resize(body.len().next_multiple_of(4), 0);
    let len = body.len() as u32 + 12;
    RawBlock {
        type_: 6,
        initial_len: len,
        body: Cow::Owned(body),
        trailer_len: len,
    }
}

#[test]
fn pcapng_is_read() {
    for endianness in [Endianness::Little, Endianness::Big] {
        let v6 = echo_request(9, b"pcapng");
        let v4 = udp4();
        let mut writer = PcapNgWriter::with_endianness(Vec::new(), endianness).unwrap();
        // Interface 0: bare IP, nanosecond timestamps (if_tsresol 9).
        writer
            .write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::RAW,
                snaplen: 0,
                options: vec![InterfaceDescriptionOption::IfTsResol(9)],
            })
            .unwrap();
        // Interface 1: Ethernet, default (microsecond) timestamps, 10 s offset.
        writer
            .write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: 0,
                options: vec![InterfaceDescriptionOption::IfTsOffset(10)],
            })
            .unwrap();
        // pcap-file writes `timestamp.as_nanos()` as the raw tick count whatever the
        // interface's resolution: give it ticks.
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_nanos(1_700_000_000_123_456_789),
                original_len: v6.len() as u32,
                data: Cow::Borrowed(&v6),
                options: vec![],
            })
            .unwrap();
        let frame = ethernet(&[0x0800], &v4);
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 1,
                timestamp: Duration::from_nanos(2_500_000), // 2.5 s in microseconds
                original_len: frame.len() as u32 + 100,     // cut short by a snaplen
                data: Cow::Borrowed(&frame),
                options: vec![],
            })
            .unwrap();
        writer
            .write_pcapng_block(SimplePacketBlock {
                original_len: v6.len() as u32,
                data: Cow::Borrowed(&v6),
            })
            .unwrap();
        let bytes = writer.into_inner();
        let items = read_all(bytes.clone());
        let records = ok(items);
        assert_eq!(records.len(), 3, "{endianness:?}");

        assert_eq!(records[0].number, 1);
        assert_eq!(records[0].link_type, LinkType::Raw);
        assert_eq!(records[0].interface, 0);
        assert_eq!(
            records[0].timestamp,
            Duration::new(1_700_000_000, 123_456_789)
        );
        assert_eq!(records[0].ip(), Some(&v6[..]));

        assert_eq!(records[1].link_type, LinkType::Ethernet);
        assert_eq!(records[1].interface, 1);
        assert_eq!(records[1].timestamp, Duration::new(12, 500_000_000));
        assert_eq!(records[1].original_len as usize, frame.len() + 100);
        assert_eq!(records[1].ip(), Some(&v4[..]));

        assert_eq!(records[2].number, 3);
        assert_eq!(records[2].timestamp, Duration::ZERO);
        assert_eq!(records[2].ip(), Some(&v6[..]));
        assert!(
            Reader::new(Cursor::new(bytes))
                .unwrap()
                .link_type()
                .is_none()
        );
    }
}

#[test]
fn pcapng_unknown_interface_and_new_section() {
    let v6 = udp6(b"ng");
    let mut writer = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::IPV6, 0))
        .unwrap();
    writer.write_raw_block(&raw_epb(3, 1, &v6)).unwrap();
    writer.write_raw_block(&raw_epb(0, 2, &v6)).unwrap();
    let mut bytes = writer.into_inner();
    // A second section: its interfaces start from zero again, and it has none.
    let second = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
    bytes.extend_from_slice(&second.into_inner());
    let mut tail = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
    tail.write_raw_block(&raw_epb(0, 3, &v6)).unwrap();
    bytes.extend_from_slice(&tail.into_inner()[28..]); // the EPB only, not its SHB

    let items = read_all(bytes);
    assert_eq!(items.len(), 3);
    assert!(matches!(
        items[0],
        Err(PcapError::UnknownInterface {
            number: 1,
            interface: 3
        })
    ));
    let second = items[1].as_ref().unwrap();
    assert_eq!((second.number, second.link_type), (2, LinkType::Ipv6));
    assert_eq!(second.timestamp, Duration::from_micros(2));
    assert!(matches!(
        items[2],
        Err(PcapError::UnknownInterface {
            number: 3,
            interface: 0
        })
    ));
}

#[test]
fn not_a_capture() {
    assert!(matches!(
        Reader::new(Cursor::new(b"GIF89a....".to_vec())),
        Err(PcapError::NotACapture { magic }) if &magic == b"GIF8"
    ));
    assert!(matches!(
        Reader::new(Cursor::new(vec![0xD4, 0xC3])),
        Err(PcapError::Io(_))
    ));
}

/// Every prefix of a valid file either fails to open, or reads a prefix of its records and
/// ends (a cut inside a record is an error, after which nothing more comes).
#[test]
fn truncated_files_fail_cleanly() {
    let pcap = write_capture(LinkType::Raw, &fixtures());
    let mut ng = PcapNgWriter::with_endianness(Vec::new(), Endianness::Big).unwrap();
    ng.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 0))
        .unwrap();
    for (t, p) in fixtures() {
        ng.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: t,
            original_len: p.len() as u32,
            data: Cow::Owned(p),
            options: vec![],
        })
        .unwrap();
    }
    let ng = ng.into_inner();
    for file in [pcap, ng] {
        let complete = ok(read_all(file.clone()));
        assert_eq!(complete.len(), 4);
        for cut in 0..file.len() {
            let Ok(reader) = Reader::new(Cursor::new(file[..cut].to_vec())) else {
                continue;
            };
            let items: Vec<_> = reader.take(100).collect();
            let good = items.iter().take_while(|r| r.is_ok()).count();
            assert!(good < complete.len(), "cut at {cut}");
            for (item, expected) in items.iter().zip(&complete) {
                if let Ok(record) = item {
                    assert_eq!(record, expected);
                }
            }
            if let Some(Err(e)) = items.last() {
                assert!(e.is_fatal(), "cut at {cut}: {e}");
                assert_eq!(items.len(), good + 1);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary IP-versioned packets and timestamps round-trip through Writer and Reader.
    #[test]
    fn writer_reader_round_trip(
        packets in prop::collection::vec(
            (
                0u64..=u64::from(u32::MAX),
                0u32..1_000_000,
                prop_oneof![Just(0x40u8), Just(0x60u8)],
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..1500),
            ),
            0..20,
        ),
        ipv6_only in any::<bool>(),
        nanosecond in any::<bool>(),
    ) {
        let link_type = if ipv6_only { LinkType::Ipv6 } else { LinkType::Raw };
        let expected: Vec<(Duration, Vec<u8>)> = packets
            .into_iter()
            .map(|(secs, micros, version, low, rest)| {
                let mut p = vec![if ipv6_only { 0x60 } else { version } | (low & 0x0F)];
                p.extend(rest);
                let t = if nanosecond {
                    Duration::new(secs, micros * 1_000 + u32::from(low))
                } else {
                    Duration::new(secs, micros * 1_000)
                };
                (t, p)
            })
            .collect();
        let mut writer = if nanosecond {
            Writer::with_nanosecond_timestamps(Vec::new(), link_type).unwrap()
        } else {
            Writer::new(Vec::new(), link_type).unwrap()
        };
        for (t, p) in &expected {
            writer.write(*t, p).unwrap();
        }
        let records = ok(read_all(writer.into_inner().unwrap()));
        prop_assert_eq!(records.len(), expected.len());
        for (i, (record, (t, p))) in records.iter().zip(&expected).enumerate() {
            prop_assert_eq!(record.number, i as u64 + 1);
            prop_assert_eq!(record.timestamp, *t);
            prop_assert_eq!(record.original_len as usize, p.len());
            prop_assert_eq!(record.link_type, link_type);
            prop_assert_eq!(&record.payload, &RecordPayload::Ip(p.clone()));
        }
    }

    /// Garbage after a valid header never panics and the reader always ends.
    #[test]
    fn garbage_records_never_panic(tail in prop::collection::vec(any::<u8>(), 0..600), ng in any::<bool>()) {
        let mut bytes = if ng {
            let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
            w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0)).unwrap();
            w.into_inner()
        } else {
            write_capture(LinkType::Raw, &[])
        };
        bytes.extend(tail);
        if let Ok(reader) = Reader::new(Cursor::new(bytes)) {
            let n = reader.take(1_000).count();
            prop_assert!(n < 1_000);
        }
    }
}

/// tshark, an independent reader, finds every frame we write with its length.
#[test]
fn tshark_reads_our_captures() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!ci, "tshark is not installed (apt-get install tshark)");
        eprintln!("note: tshark not installed; skipping tshark_reads_our_captures");
        return;
    }
    let packets = fixtures();
    for (name, link_type, nanosecond) in [
        ("raw", LinkType::Raw, false),
        ("ipv6", LinkType::Ipv6, false),
        ("raw-ns", LinkType::Raw, true),
    ] {
        let path = format!("{}/pcap-tshark-{name}.pcap", env!("CARGO_TARGET_TMPDIR"));
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = if nanosecond {
            Writer::with_nanosecond_timestamps(file, link_type).unwrap()
        } else {
            Writer::new(file, link_type).unwrap()
        };
        for (t, p) in &packets {
            writer.write(*t, p).unwrap();
        }
        writer.into_inner().unwrap();
        let output = std::process::Command::new("tshark")
            .args([
                "-r",
                &path,
                "-T",
                "fields",
                "-e",
                "frame.len",
                "-e",
                "ipv6.plen",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let rows: Vec<(usize, usize)> = stdout
            .lines()
            .map(|l| {
                let mut f = l.split('\t').map(|v| v.parse::<usize>().unwrap());
                (f.next().unwrap(), f.next().unwrap())
            })
            .collect();
        let expected: Vec<(usize, usize)> = packets
            .iter()
            .map(|(_, p)| (p.len(), p.len() - 40))
            .collect();
        assert_eq!(rows, expected, "{name}");
    }
}
