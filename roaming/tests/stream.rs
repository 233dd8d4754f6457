//! `RoamingStream` between two threads over loopback, IPv4 and IPv6: connect, accept, a
//! transfer in each direction, and the client moving to a new UDP port mid-stream, announced
//! (`rebind`) or behind its back (a NAT rebinding).

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bridgeless_roaming::StaticKeypair;
use bridgeless_roaming::identity::identity_address;
use bridgeless_roaming::stream::{RoamingStream, StreamConfig};

const SIZE: usize = 2 * 1024 * 1024;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Generous I/O timeouts: on a loaded machine the debug-built receiver falls behind and the
/// kernel drops datagrams at its UDP socket's receive buffer (about 200 KB by default, below
/// the 256 KiB TCP window; seen: 12 % of one transfer's packets), so TCP recovers by
/// retransmission timeouts that back off. Slow, never wrong: every byte is still checked.
fn config(seed: u8) -> StreamConfig {
    let mut c = StreamConfig::new([seed; 32]);
    c.connect_timeout = Some(Duration::from_secs(20));
    c.io_timeout = Some(Duration::from_secs(180));
    c
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Move {
    None,
    /// `rebind`: a new socket, and the peer is told.
    Announced,
    /// `replace_socket` only: the peer finds out from the next packet.
    Nat,
}

/// The server reads `SIZE` bytes, checks them, answers with their count, reads EOF. The
/// client writes them, moving to a new socket half way, then reads the answer.
fn transfer(loopback: &str, how: Move) {
    let server_socket = UdpSocket::bind(format!("{loopback}:0")).unwrap();
    let server_at = server_socket.local_addr().unwrap();
    let server_key = StaticKeypair::from_private([2; 32]);
    let server_public = server_key.public();
    let client_key = StaticKeypair::from_private([1; 32]);
    let client_public = client_key.public();
    let (tx, rx) = mpsc::channel();

    let server = thread::spawn(move || {
        let mut s = RoamingStream::accept(server_socket, server_key, config(8)).unwrap();
        assert_eq!(s.peer_public_key(), Some(client_public));
        assert_eq!(s.peer_identity(), identity_address(&client_public));
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0usize;
        let mut bad = 0usize;
        while got < SIZE {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "early EOF at {got}");
            bad += buf[..n]
                .iter()
                .enumerate()
                .filter(|(i, b)| **b != pattern(got + i))
                .count();
            got += n;
        }
        s.write_all(format!("{got} {bad}").as_bytes()).unwrap();
        s.flush().unwrap();
        // The client closes after reading the answer.
        assert_eq!(s.read(&mut buf).unwrap(), 0, "EOF");
        let stats = s.session_stats().unwrap();
        // Bursts were read between batches: nothing was dropped for a full receive queue.
        assert_eq!(
            s.driver()
                .endpoint()
                .dropped(bridgeless_roaming::DropReason::ReceiveQueueFull),
            0
        );
        assert_eq!(s.tunnel().counters().rx_malformed, 0);
        tx.send(stats).unwrap();
        s.shutdown().unwrap();
    });

    let socket = UdpSocket::bind(format!("{loopback}:0")).unwrap();
    let first_port = socket.local_addr().unwrap().port();
    let mut c =
        RoamingStream::connect(socket, client_key, server_at, server_public, config(7)).unwrap();
    assert_eq!(c.peer_identity(), identity_address(&server_public));
    let data: Vec<u8> = (0..SIZE).map(pattern).collect();
    c.write_all(&data[..SIZE / 2]).unwrap();
    let new_socket = UdpSocket::bind(format!("{loopback}:0")).unwrap();
    let new_port = new_socket.local_addr().unwrap().port();
    match how {
        Move::None => drop(new_socket),
        Move::Announced => drop(c.rebind(new_socket).unwrap()),
        Move::Nat => drop(c.driver_mut().replace_socket(new_socket).unwrap()),
    }
    c.write_all(&data[SIZE / 2..]).unwrap();
    c.flush().unwrap();
    let mut answer = String::new();
    let mut buf = [0u8; 64];
    while !answer.contains(' ') || answer.split(' ').nth(1).is_none_or(str::is_empty) {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        answer.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    assert_eq!(answer, format!("{SIZE} 0"), "all bytes, none wrong");
    c.shutdown().unwrap();
    let client_stats = c.session_stats();
    let server_stats = rx.recv_timeout(Duration::from_secs(200)).unwrap();
    server.join().unwrap();
    drop(c);

    let remote: SocketAddr = server_stats.remote;
    match how {
        Move::None => {
            assert_eq!(remote.port(), first_port);
            assert_eq!(server_stats.migrations, 0);
        }
        Move::Announced | Move::Nat => {
            assert_ne!(first_port, new_port);
            assert_eq!(remote.port(), new_port, "the server follows the client");
            assert!(server_stats.migrations >= 1);
            assert!(server_stats.remote_validated);
            // Only the port changed: the path state was kept (RFC 9000 §9.4).
            assert_eq!(server_stats.path_resets, 0, "{server_stats:?}");
        }
    }
    if let Some(s) = client_stats {
        assert!(s.established, "{s:?}");
    }
}

#[test]
fn ipv4_stream() {
    transfer("127.0.0.1", Move::None);
}

#[test]
fn ipv6_stream() {
    transfer("[::1]", Move::None);
}

#[test]
fn ipv4_stream_survives_an_announced_rebinding() {
    transfer("127.0.0.1", Move::Announced);
}

#[test]
fn ipv6_stream_survives_a_nat_rebinding() {
    transfer("[::1]", Move::Nat);
}

#[test]
fn ipv4_stream_survives_a_nat_rebinding() {
    transfer("127.0.0.1", Move::Nat);
}

#[test]
fn connect_to_nobody_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut c = config(3);
    c.connect_timeout = Some(Duration::from_millis(300));
    let r = RoamingStream::connect(
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        StaticKeypair::from_private([1; 32]),
        silent.local_addr().unwrap(),
        StaticKeypair::from_private([2; 32]).public(),
        c,
    );
    assert_eq!(
        r.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::TimedOut)
    );
}
