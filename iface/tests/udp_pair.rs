//! The `udp_pair` example, run in-process: a server and a client, each with its own smoltcp
//! interface, joined by two `UdpLink`s over loopback, exchange a TCP echo.
//!
//! The example's functions are compiled into this test (rather than its binary spawned) so
//! that the test needs no free fixed ports, no `cargo run` inside `cargo test`, and fails
//! with a message within a bounded time.

#[path = "../examples/udp_pair.rs"]
#[allow(dead_code)]
mod udp_pair;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use bridgeless_iface::device::udp::UdpLink;

/// Two links on 127.0.0.1 with ports chosen by the system, each the other's peer.
fn pair() -> (UdpLink, UdpLink) {
    let mut server = UdpLink::bind("127.0.0.1:0", "127.0.0.1:9", udp_pair::LINK_MTU).unwrap();
    let mut client = UdpLink::bind("127.0.0.1:0", "127.0.0.1:9", udp_pair::LINK_MTU).unwrap();
    server.set_peer(client.local_addr().unwrap());
    client.set_peer(server.local_addr().unwrap());
    (server, client)
}

/// Runs the server in a thread and the client here with `lines`; returns what the client
/// printed. The server is stopped whatever happens.
fn echo(lines: &[&str]) -> Result<String, String> {
    let (server_link, client_link) = pair();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || udp_pair::serve(server_link, &stop).map_err(|e| e.to_string()))
    };
    let (tx, rx) = mpsc::channel();
    for line in lines {
        tx.send(line.to_string()).unwrap();
    }
    drop(tx);
    let mut output = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = udp_pair::connect(client_link, rx, &mut output, Some(deadline));
    stop.store(true, Ordering::Relaxed);
    server.join().expect("server thread")?;
    result.map_err(|e| e.to_string())?;
    Ok(String::from_utf8(output).expect("utf-8 echo"))
}

#[test]
fn a_message_comes_back_over_tcp_over_the_udp_link() {
    assert_eq!(echo(&["hello over udp"]).unwrap(), "hello over udp\n");
}

#[test]
fn many_lines_larger_than_a_segment_come_back_in_order() {
    let long = "x".repeat(5000);
    let lines: Vec<String> = (0..20).map(|i| format!("{i} {long}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let expected: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(echo(&refs).unwrap(), expected);
}

#[test]
fn without_a_server_the_client_gives_up_at_its_deadline() {
    let (server_link, client_link) = pair();
    drop(server_link); // nobody answers
    let (tx, rx) = mpsc::channel();
    tx.send("anyone?".to_string()).unwrap();
    drop(tx);
    let started = Instant::now();
    let deadline = started + Duration::from_millis(500);
    let err = udp_pair::connect(client_link, rx, &mut Vec::new(), Some(deadline)).unwrap_err();
    assert!(err.to_string().contains("in time"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
