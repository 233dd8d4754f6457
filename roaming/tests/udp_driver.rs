//! `UdpDriver` on real sockets, IPv4 and IPv6 loopback, one thread: connect, datagrams both
//! ways, and a socket swap that the peer follows.

use std::net::UdpSocket;
use std::time::Duration;

use bridgeless_roaming::driver::UdpDriver;
use bridgeless_roaming::{Config, Endpoint, Event, SessionHandle, StaticKeypair};

fn driver(loopback: &str, key: u8) -> UdpDriver {
    let socket = UdpSocket::bind(format!("{loopback}:0")).unwrap();
    let ep = Endpoint::new(
        Config::default(),
        StaticKeypair::from_private([key; 32]),
        [key; 32],
    )
    .unwrap();
    UdpDriver::new(socket, ep).unwrap()
}

/// Run both drivers until `done` or two seconds passed.
fn run(
    a: &mut UdpDriver,
    b: &mut UdpDriver,
    mut done: impl FnMut(&mut UdpDriver, &mut UdpDriver) -> bool,
) {
    let start = std::time::Instant::now();
    while !done(a, b) {
        assert!(start.elapsed() < Duration::from_secs(2), "timed out");
        a.run_once(Some(Duration::from_millis(1))).unwrap();
        b.run_once(Some(Duration::from_millis(1))).unwrap();
    }
}

fn received(d: &mut UdpDriver, into: &mut Vec<Vec<u8>>) -> Option<SessionHandle> {
    let mut connected = None;
    let mut buf = [0u8; 2000];
    while let Some((h, e)) = d.endpoint_mut().poll_event() {
        match e {
            Event::Connected { .. } => connected = Some(h),
            Event::DatagramsReadable => {
                while let Some(n) = d.endpoint_mut().recv_datagram(h, &mut buf) {
                    into.push(buf[..n].to_vec());
                }
            }
            _ => {}
        }
    }
    connected
}

fn exchange(loopback: &str) {
    let mut client = driver(loopback, 1);
    let mut server = driver(loopback, 2);
    let server_at = server.socket().local_addr().unwrap();
    let server_key = server.endpoint().public_key();
    let now = client.now();
    let hc = client
        .endpoint_mut()
        .connect(now, server_at, server_key)
        .unwrap();
    let (mut at_client, mut at_server) = (Vec::new(), Vec::new());
    let mut hs = None;
    let mut hc_up = false;
    run(&mut client, &mut server, |c, s| {
        hc_up |= received(c, &mut at_client).is_some();
        hs = hs.or(received(s, &mut at_server));
        hc_up && hs.is_some()
    });
    let hs = hs.unwrap();
    for i in 0..20u8 {
        client.endpoint_mut().send_datagram(hc, &[i; 300]).unwrap();
        server.endpoint_mut().send_datagram(hs, &[i; 200]).unwrap();
    }
    run(&mut client, &mut server, |c, s| {
        received(c, &mut at_client);
        received(s, &mut at_server);
        at_client.len() == 20 && at_server.len() == 20
    });
    assert!(
        at_server
            .iter()
            .enumerate()
            .all(|(i, d)| *d == vec![i as u8; 300])
    );
    assert!(
        at_client
            .iter()
            .enumerate()
            .all(|(i, d)| *d == vec![i as u8; 200])
    );

    // The client takes a new socket (a new port) and says so; the server follows.
    let new = UdpSocket::bind(format!("{loopback}:0")).unwrap();
    let new_at = new.local_addr().unwrap();
    drop(client.replace_socket(new).unwrap());
    client.local_address_changed();
    client
        .endpoint_mut()
        .send_datagram(hc, b"from the new port")
        .unwrap();
    run(&mut client, &mut server, |c, s| {
        received(c, &mut at_client);
        received(s, &mut at_server);
        let st = s.endpoint().session_stats(hs).unwrap();
        st.remote == new_at && st.remote_validated
    });
    assert_eq!(at_server.last().unwrap(), b"from the new port");
    assert_eq!(client.counters().address_changes, 1);
    assert_eq!(
        client.counters().send_errors + server.counters().send_errors,
        0
    );
}

#[test]
fn ipv4() {
    exchange("127.0.0.1");
}

#[test]
fn ipv6() {
    exchange("[::1]");
}
