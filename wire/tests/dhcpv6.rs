//! DHCPv6 prefix delegation messages: length and duplicate checks, property tests of the
//! parse/emit pair, robustness on arbitrary bytes, and an independent check with tshark of a
//! Solicit/Advertise/Request/Reply exchange emitted inside UDP/IPv6.

mod support;

use bridgeless_wire::Error;
use bridgeless_wire::dhcpv6::{
    self, DhcpOption, IaPdRepr, IaPrefixRepr, MessageRepr, MessageType, OptionsIter, Packet,
    StatusRepr, status_code,
};
use bridgeless_wire::frame::{Ipv6Header, emit_udp_v6};
use proptest::prelude::*;
use smoltcp::wire::{IpProtocol, Ipv6Address};

const CLIENT_DUID: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0x01];
const SERVER_DUID: [u8; 10] = [0x00, 0x03, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0x02];
const CLIENT: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const SERVER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const HINT: [IaPrefixRepr<'static>; 1] = [IaPrefixRepr {
    preferred_lifetime: 0,
    valid_lifetime: 0,
    prefix_len: 56,
    prefix: Ipv6Address::UNSPECIFIED,
    status: None,
}];
const DELEGATED: [IaPrefixRepr<'static>; 1] = [IaPrefixRepr {
    preferred_lifetime: 7200,
    valid_lifetime: 7500,
    prefix_len: 48,
    prefix: Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0),
    status: None,
}];

/// A Solicit with CLIENTID, ELAPSED_TIME and the IA_PDs given.
fn solicit<'a>(ia_pd: &'a [IaPdRepr<'a>]) -> MessageRepr<'a> {
    MessageRepr {
        msg_type: MessageType::Solicit,
        transaction_id: 0x123456,
        client_id: Some(&CLIENT_DUID),
        server_id: None,
        elapsed_time: Some(0),
        requested_options: &[],
        preference: None,
        rapid_commit: false,
        status: None,
        ia_pd,
    }
}

fn emit(repr: &MessageRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
    buf
}

fn solicit_bytes() -> Vec<u8> {
    let ia_pd = [IaPdRepr {
        iaid: 1,
        prefixes: &HINT,
        ..IaPdRepr::default()
    }];
    emit(&solicit(&ia_pd))
}

fn reply_bytes() -> Vec<u8> {
    let ia_pd = [IaPdRepr {
        iaid: 1,
        t1: 3600,
        t2: 5760,
        prefixes: &DELEGATED,
        status: None,
    }];
    emit(&MessageRepr {
        msg_type: MessageType::Reply,
        server_id: Some(&SERVER_DUID),
        elapsed_time: None,
        status: Some(StatusRepr {
            code: status_code::SUCCESS,
            message: b"success",
        }),
        ..solicit(&ia_pd)
    })
}

#[test]
fn storage_too_small() {
    let bytes = reply_bytes();
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let mut pds = [IaPdRepr::default(); 1];
    assert_eq!(
        MessageRepr::parse(&packet, &mut pds, &mut [], &mut []),
        Err(Error::BufferTooSmall)
    );
    let mut prefixes = [IaPrefixRepr::default(); 1];
    assert_eq!(
        MessageRepr::parse(&packet, &mut [], &mut prefixes, &mut []),
        Err(Error::BufferTooSmall)
    );
}

fn parse_err(bytes: &[u8]) -> Error {
    let packet = Packet::new_unchecked(bytes);
    let mut pds = [IaPdRepr::default(); 4];
    let mut prefixes = [IaPrefixRepr::default(); 4];
    let mut codes = [0u16; 4];
    MessageRepr::parse(&packet, &mut pds, &mut prefixes, &mut codes).unwrap_err()
}

#[test]
fn bad_lengths() {
    // Header cut short.
    assert_eq!(parse_err(&[0x01, 0x00, 0x00]), Error::Truncated);
    // Option header cut short.
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x08, 0x00]),
        Error::Truncated
    );
    // ELAPSED_TIME claiming 2 octets with 1 left.
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x08, 0x00, 0x02, 0x00]),
        Error::Truncated
    );
    // ELAPSED_TIME of 1 octet.
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x08, 0x00, 0x01, 0x00]),
        Error::Malformed
    );
    // IA_PD of 11 octets.
    #[rustfmt::skip]
    let short_ia = [0x01, 0, 0, 0, 0x00, 0x19, 0x00, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(parse_err(&short_ia), Error::Malformed);
    // An IA Prefix inside an IA_PD running past the IA_PD (but not the message).
    let mut overrun = solicit_bytes();
    overrun[27] = 0x28; // IA_PD length 40 instead of 41
    assert_eq!(parse_err(&overrun), Error::Truncated);
    // Prefix length 129.
    let mut long_prefix = solicit_bytes();
    long_prefix[52] = 129;
    assert_eq!(parse_err(&long_prefix), Error::Malformed);
    // DUID of one octet.
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x01, 0x00, 0x01, 0x00]),
        Error::Malformed
    );
    // Rapid Commit with data; ORO of odd length.
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x0e, 0x00, 0x01, 0x00]),
        Error::Malformed
    );
    assert_eq!(
        parse_err(&[0x01, 0, 0, 0, 0x00, 0x06, 0x00, 0x01, 0x00]),
        Error::Malformed
    );
    // Two Elapsed Time options.
    #[rustfmt::skip]
    let twice = [0x01, 0, 0, 0, 0x00, 0x08, 0x00, 0x02, 0, 0, 0x00, 0x08, 0x00, 0x02, 0, 0];
    assert_eq!(parse_err(&twice), Error::Malformed);
    // A relay message.
    assert_eq!(parse_err(&[12, 0, 0, 0]), Error::Unsupported);
    assert_eq!(
        Packet::new_checked(&[13u8, 0, 0, 0][..]),
        Err(Error::Unsupported)
    );
}

#[test]
fn iterator_stops_after_error() {
    let bytes = [0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x00, 0x00];
    let mut options = OptionsIter::new(&bytes);
    assert_eq!(options.next(), Some(Err(Error::Malformed)));
    assert_eq!(options.next(), None);
}

#[test]
fn oro_and_unknown() {
    #[rustfmt::skip]
    let bytes = [
        // msg-type REQUEST (3), transaction-id 1
        0x03, 0x00, 0x00, 0x01,
        // ORO (6), length 4: DNS servers (23), domain list (24)
        0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x18,
        // unknown option 999, length 1
        0x03, 0xe7, 0x00, 0x01, 0xaa,
        // RAPID_COMMIT (14), PREFERENCE (7) 255
        0x00, 0x0e, 0x00, 0x00, 0x00, 0x07, 0x00, 0x01, 0xff,
    ];
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let unknown = packet.options().nth(1).unwrap().unwrap();
    assert_eq!(
        unknown,
        DhcpOption::Unknown {
            code: 999,
            data: &[0xaa]
        }
    );
    let mut codes = [0u16; 1];
    assert_eq!(
        MessageRepr::parse(&packet, &mut [], &mut [], &mut codes),
        Err(Error::BufferTooSmall)
    );
    let mut codes = [0u16; 2];
    let repr = MessageRepr::parse(&packet, &mut [], &mut [], &mut codes).unwrap();
    assert_eq!(repr.requested_options, &[23, 24]);
    assert!(repr.rapid_commit);
    assert_eq!(repr.preference, Some(255));
}

#[test]
fn emit_rejects() {
    let mut buf = [0u8; 128];
    let base = solicit(&[]);
    let too_big_id = MessageRepr {
        transaction_id: 0x0100_0000,
        ..base
    };
    assert_eq!(too_big_id.emit(&mut buf), Err(Error::Malformed));
    let relay = MessageRepr {
        msg_type: MessageType::RelayForw,
        ..base
    };
    assert_eq!(relay.emit(&mut buf), Err(Error::Unsupported));
    let bad_duid = MessageRepr {
        client_id: Some(&[1]),
        ..base
    };
    assert_eq!(bad_duid.emit(&mut buf), Err(Error::Malformed));
    let long = [IaPrefixRepr {
        prefix_len: 129,
        ..IaPrefixRepr::default()
    }];
    let ia_pd = [IaPdRepr {
        prefixes: &long,
        ..IaPdRepr::default()
    }];
    assert_eq!(solicit(&ia_pd).emit(&mut buf), Err(Error::Malformed));
}

/// Owned data behind a [`MessageRepr`], as proptest generates it.
#[derive(Debug, Clone)]
struct Owned {
    msg_type: u8,
    transaction_id: u32,
    client_id: Option<Vec<u8>>,
    server_id: Option<Vec<u8>>,
    elapsed_time: Option<u16>,
    requested_options: Vec<u16>,
    preference: Option<u8>,
    rapid_commit: bool,
    status: Option<(u16, Vec<u8>)>,
    ia_pd: Vec<OwnedIaPd>,
}

type OwnedPrefix = (u32, u32, u8, u128, Option<(u16, Vec<u8>)>);

#[derive(Debug, Clone)]
struct OwnedIaPd {
    iaid: u32,
    t1: u32,
    t2: u32,
    prefixes: Vec<OwnedPrefix>,
    status: Option<(u16, Vec<u8>)>,
}

fn status() -> impl Strategy<Value = Option<(u16, Vec<u8>)>> {
    proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..20)))
}

fn duid() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 2..=130))
}

fn ia_pd() -> impl Strategy<Value = OwnedIaPd> {
    let prefix = (
        any::<u32>(),
        any::<u32>(),
        0..=128u8,
        any::<u128>(),
        status(),
    );
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(prefix, 0..4),
        status(),
    )
        .prop_map(|(iaid, t1, t2, prefixes, status)| OwnedIaPd {
            iaid,
            t1,
            t2,
            prefixes,
            status,
        })
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        (
            any::<u8>().prop_filter("relay", |t| !MessageType::from(*t).is_relay()),
            0..=dhcpv6::MAX_TRANSACTION_ID,
            duid(),
            duid(),
            proptest::option::of(any::<u16>()),
        ),
        (
            proptest::collection::vec(any::<u16>(), 0..6),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            status(),
            proptest::collection::vec(ia_pd(), 0..4),
        ),
    )
        .prop_map(
            |(
                (msg_type, transaction_id, client_id, server_id, elapsed_time),
                (requested_options, preference, rapid_commit, status, ia_pd),
            )| Owned {
                msg_type,
                transaction_id,
                client_id,
                server_id,
                elapsed_time,
                requested_options,
                preference,
                rapid_commit,
                status,
                ia_pd,
            },
        )
}

fn status_repr(s: &Option<(u16, Vec<u8>)>) -> Option<StatusRepr<'_>> {
    s.as_ref().map(|(code, message)| StatusRepr {
        code: *code,
        message,
    })
}

/// Emits the message `owned` describes.
fn emit_owned(owned: &Owned) -> Vec<u8> {
    let prefixes: Vec<Vec<IaPrefixRepr<'_>>> = owned
        .ia_pd
        .iter()
        .map(|ia| {
            ia.prefixes
                .iter()
                .map(|(preferred, valid, len, prefix, status)| IaPrefixRepr {
                    preferred_lifetime: *preferred,
                    valid_lifetime: *valid,
                    prefix_len: *len,
                    prefix: Ipv6Address::from(*prefix),
                    status: status_repr(status),
                })
                .collect()
        })
        .collect();
    let ia_pd: Vec<IaPdRepr<'_>> = owned
        .ia_pd
        .iter()
        .zip(&prefixes)
        .map(|(ia, prefixes)| IaPdRepr {
            iaid: ia.iaid,
            t1: ia.t1,
            t2: ia.t2,
            prefixes,
            status: status_repr(&ia.status),
        })
        .collect();
    let repr = MessageRepr {
        msg_type: MessageType::from(owned.msg_type),
        transaction_id: owned.transaction_id,
        client_id: owned.client_id.as_deref(),
        server_id: owned.server_id.as_deref(),
        elapsed_time: owned.elapsed_time,
        requested_options: &owned.requested_options,
        preference: owned.preference,
        rapid_commit: owned.rapid_commit,
        status: status_repr(&owned.status),
        ia_pd: &ia_pd,
    };
    let bytes = emit(&repr);
    // parse∘emit is the identity on reprs.
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let (mut pds, mut pfx, mut codes) = storage(&bytes);
    let parsed = MessageRepr::parse(&packet, &mut pds, &mut pfx, &mut codes).unwrap();
    assert_eq!(parsed, repr);
    bytes
}

/// Storage enough for any message of `bytes`' length.
fn storage(bytes: &[u8]) -> (Vec<IaPdRepr<'static>>, Vec<IaPrefixRepr<'static>>, Vec<u16>) {
    (
        vec![IaPdRepr::default(); bytes.len() / 16],
        vec![IaPrefixRepr::default(); bytes.len() / 29],
        vec![0; bytes.len() / 2],
    )
}

/// Visits every option, nested ones included.
fn visit(options: OptionsIter<'_>, depth: usize) {
    for option in options {
        match option {
            Ok(DhcpOption::IaPd(ia) | DhcpOption::IaNa(ia)) if depth < 8 => {
                visit(ia.options, depth + 1)
            }
            Ok(DhcpOption::IaPrefix(p)) if depth < 8 => visit(p.options, depth + 1),
            Ok(DhcpOption::Oro(codes)) => {
                let n = codes.len();
                assert_eq!(codes.count(), n);
            }
            Ok(DhcpOption::StatusCode(s)) => {
                let _ = s.message_str();
            }
            _ => {}
        }
    }
}

proptest! {
    #[test]
    fn round_trip(owned in owned()) {
        let bytes = emit_owned(&owned);
        // emit∘parse is the identity on bytes: the emitted form is canonical.
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let (mut pds, mut pfx, mut codes) = storage(&bytes);
        let parsed = MessageRepr::parse(&packet, &mut pds, &mut pfx, &mut codes).unwrap();
        prop_assert_eq!(emit(&parsed), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let packet = Packet::new_unchecked(&bytes[..]);
        let _ = (packet.msg_type(), packet.transaction_id());
        visit(packet.options(), 0);
        let (mut pds, mut pfx, mut codes) = storage(&bytes);
        if let Ok(repr) = MessageRepr::parse(&packet, &mut pds, &mut pfx, &mut codes) {
            let again = emit(&repr);
            let packet2 = Packet::new_checked(&again[..]).unwrap();
            let (mut pds2, mut pfx2, mut codes2) = storage(&again);
            let repr2 = MessageRepr::parse(&packet2, &mut pds2, &mut pfx2, &mut codes2);
            prop_assert_eq!(repr2, Ok(repr));
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        owned in owned(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = emit_owned(&owned);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let packet = Packet::new_unchecked(&bytes[..]);
        visit(packet.options(), 0);
        let (mut pds, mut pfx, mut codes) = storage(&bytes);
        let _ = MessageRepr::parse(&packet, &mut pds, &mut pfx, &mut codes);
    }
}

fn udp(src: Ipv6Address, dst: Ipv6Address, sport: u16, dport: u16, msg: &[u8]) -> Vec<u8> {
    let header = Ipv6Header {
        src,
        dst,
        next_header: IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 1,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut packet = vec![0u8; 48 + msg.len()];
    assert_eq!(
        emit_udp_v6(&header, sport, dport, msg, &mut packet),
        Ok(packet.len())
    );
    packet
}

/// A whole exchange (RFC 8415 §18): Solicit, Advertise, Request, Reply, in UDP/IPv6 on
/// ports 546/547, checked by tshark's DHCPv6 dissector if it is installed.
#[test]
fn exchange_in_udp() {
    let hint = [IaPdRepr {
        iaid: 1,
        prefixes: &HINT,
        ..IaPdRepr::default()
    }];
    let offer = [IaPdRepr {
        iaid: 1,
        t1: 3600,
        t2: 5760,
        prefixes: &DELEGATED,
        status: None,
    }];
    let advertise = MessageRepr {
        msg_type: MessageType::Advertise,
        server_id: Some(&SERVER_DUID),
        elapsed_time: None,
        preference: Some(255),
        ..solicit(&offer)
    };
    let request = MessageRepr {
        msg_type: MessageType::Request,
        transaction_id: 0xabcdef,
        server_id: Some(&SERVER_DUID),
        requested_options: &[23],
        ..solicit(&offer)
    };
    let messages = [
        udp(
            CLIENT,
            dhcpv6::ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
            546,
            547,
            &emit(&solicit(&hint)),
        ),
        udp(SERVER, CLIENT, 547, 546, &emit(&advertise)),
        udp(
            CLIENT,
            dhcpv6::ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
            546,
            547,
            &emit(&request),
        ),
        udp(SERVER, CLIENT, 547, 546, &{
            let mut r = reply_bytes();
            r[1..4].copy_from_slice(&[0xab, 0xcd, 0xef]);
            r
        }),
    ];
    for m in &messages {
        support::record_emitted(m);
    }
    let Some(tshark) = support::Tshark::new("dhcpv6", &messages) else {
        return;
    };
    assert_eq!(tshark.problems(), "");
    let fields = tshark.fields(&["dhcpv6.msgtype", "dhcpv6.iaprefix.pref_addr"]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(
        lines,
        [
            "1\t::",
            "2\t2001:db8:1::",
            "3\t2001:db8:1::",
            "7\t2001:db8:1::"
        ]
    );
}
