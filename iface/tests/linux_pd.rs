//! Interop with Linux's DHCPv6 client: dhcpcd, on the kernel side of a TUN device in a
//! network namespace, obtains a prefix from our `PrefixDelegator`.
//!
//! The test loop reads frames from our `Tun`, hands UDP port 547 payloads to the server, and
//! writes its replies back as IPv6/UDP from fe80::1 port 547. dhcpcd asks for an IA_NA and an
//! IA_PD (as it does by default); the test checks that
//!
//! - the server delegates a /56 of fd00:1::/48 (and refuses the IA_NA with NoAddrsAvail);
//! - dhcpcd takes it: it assigns an address from the prefix to `lo` (`ia_pd 2 lo/0/64`);
//! - dhcpcd renews it at T1 (a few seconds here) and keeps the same prefix;
//! - the server found nothing malformed or out of place in what dhcpcd sent.
//!
//! Hygiene (GUIDE §4): dhcpcd's hooks rewrite /etc/resolv.conf, so the namespace gets its own
//! (`/etc/netns/NS/resolv.conf`, bind-mounted by `ip netns exec`) and dhcpcd runs with
//! `-C resolv.conf`; its state directories /var/lib/dhcpcd and /run/dhcpcd are bind-mounted
//! from the test's own directory inside the mount namespace `ip netns exec` creates, so its
//! DUID, leases, pid file and control socket never touch the host's; every process in the
//! namespace is killed and the namespace deleted when the test ends, pass or fail.
//!
//! Needs root, /dev/net/tun, `ip`, `mount` and `dhcpcd` (Debian: `iproute2`, `mount`,
//! `dhcpcd-base`). Without them the test fails when `CI=true` and otherwise prints a note
//! and passes.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::pd::{Duid, PrefixDelegator, ServerConfig, ServerEvent};
use bridgeless_wire::dhcpv6::{CLIENT_PORT, SERVER_PORT};
use bridgeless_wire::frame::{self, Ipv6Header};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Cidr};

mod common;
use common::Netns;

const OUR_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const TEST_DEADLINE: StdDuration = StdDuration::from_secs(60);

/// Our end of the link: the Tun and the server.
struct Rig {
    tun: Tun,
    server: PrefixDelegator,
    start: StdInstant,
    events: Vec<ServerEvent>,
    /// The type of every message dhcpcd sent.
    received: Vec<u8>,
}

impl Rig {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Reads every waiting frame, hands DHCPv6 messages to the server, sends its replies and
    /// runs its timers.
    fn poll(&mut self) {
        let _ = self
            .tun
            .wait(Some(smoltcp::time::Duration::from_millis(20)));
        let now = self.now();
        let mut frames = Vec::new();
        while let Some((rx, _tx)) = self.tun.receive(now) {
            rx.consume(|f| frames.push(f.to_vec()));
        }
        for f in &frames {
            let Ok(info) = frame::parse(f) else { continue };
            let (std::net::IpAddr::V6(src), Some((_, SERVER_PORT))) = (info.src(), info.ports())
            else {
                continue;
            };
            if info.protocol() != IpProtocol::Udp {
                continue;
            }
            let Some(payload) = info.upper_layer().get(8..) else {
                continue;
            };
            self.received.push(payload.first().copied().unwrap_or(0));
            let result = self.server.handle(now, 0, src, payload);
            eprintln!("dhcpcd -> us: type {} from {src}: {result:?}", payload[0]);
        }
        let mut buf = [0u8; 1500];
        while let Some(t) = self.server.poll_transmit(now, &mut buf) {
            let header = Ipv6Header {
                src: OUR_LL,
                dst: t.dst,
                next_header: IpProtocol::Udp,
                payload_len: 0,
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
            };
            let mut packet = [0u8; 1500];
            let len = frame::emit_udp_v6(
                &header,
                SERVER_PORT,
                CLIENT_PORT,
                &buf[..t.len],
                &mut packet,
            )
            .expect("emit UDP");
            eprintln!("us -> dhcpcd: type {} to {}", buf[0], t.dst);
            let tx = self.tun.transmit(now).expect("TUN transmit");
            tx.consume(len, |out| out.copy_from_slice(&packet[..len]));
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        while let Some(e) = self.server.poll_event() {
            eprintln!("server event: {e:?}");
            self.events.push(e);
        }
    }
}

#[test]
fn dhcpcd_obtains_and_renews_a_delegated_prefix() {
    if !common::ready(
        "dhcpcd_obtains_and_renews_a_delegated_prefix",
        &["ip", "mount", "dhcpcd"],
    ) {
        return;
    }
    let ns = Netns::new("pd");
    let tun = Tun::open_in_namespace(ns.path(), "tun0")
        .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
    ns.run("ip", &["link", "set", "lo", "up"]);
    ns.run("ip", &["link", "set", "tun0", "up"]);

    let mut dhcpcd = common::Dhcpcd::start(
        &ns,
        "tun0",
        "duid\nipv6only\nnoipv6rs\nallowinterfaces tun0\ninterface tun0\nipv6rs\nia_na 1\nia_pd 2 lo/0/64\n",
    );

    // Short timers so that a Renew comes within the test.
    let mut config = ServerConfig::new(
        Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 48),
        56,
        Duid::uuid(*b"bridgeless-pd-01"),
    );
    config.t1 = 4;
    config.t2 = 6;
    config.preferred_lifetime = 20;
    config.valid_lifetime = 40;
    let mut rig = Rig {
        tun,
        server: PrefixDelegator::new(config).unwrap(),
        start: StdInstant::now(),
        events: Vec::new(),
        received: Vec::new(),
    };

    let deadline = StdInstant::now() + TEST_DEADLINE;

    let mut delegated = None;
    let mut on_lo = None;
    let mut renewed = false;
    let mut last_check = StdInstant::now();
    while !(on_lo.is_some() && renewed) {
        assert!(
            StdInstant::now() < deadline,
            "dhcpcd did not obtain and renew a prefix in time (delegated {delegated:?}, on lo \
             {on_lo:?}, renewed {renewed}); counters {:?}; dhcpcd said:\n{}",
            rig.server.counters(),
            dhcpcd.log()
        );
        if let Ok(Some(status)) = dhcpcd.child.try_wait() {
            panic!("dhcpcd exited ({status}):\n{}", dhcpcd.log());
        }
        rig.poll();
        for e in rig.events.drain(..) {
            match e {
                ServerEvent::Delegated {
                    prefix, link: 0, ..
                } => delegated = Some(prefix),
                ServerEvent::Renewed { prefix, .. } if Some(prefix) == delegated => renewed = true,
                ServerEvent::Expired { .. } | ServerEvent::Released { .. } => {
                    panic!("lost the lease: {e:?}\n{}", dhcpcd.log())
                }
                _ => {}
            }
        }
        if let Some(prefix) = delegated
            && on_lo.is_none()
            && last_check.elapsed() > StdDuration::from_millis(300)
        {
            last_check = StdInstant::now();
            on_lo = common::addresses(&ns, "lo")
                .into_iter()
                .find(|a| prefix.contains_addr(a));
        }
    }
    // The Renew's Reply settles it: dhcpcd does not fall back to Request (which it would
    // on a NoBinding status for its IA_NA, RFC 8415 §18.2.10.1).
    let settle = StdInstant::now() + StdDuration::from_millis(1500);
    while StdInstant::now() < settle {
        rig.poll();
    }
    let requests = rig.received.iter().filter(|&&t| t == 3).count();
    assert!(rig.received.contains(&5), "no Renew: {:?}", rig.received);
    assert_eq!(
        requests,
        1,
        "types received: {:?}\n{}",
        rig.received,
        dhcpcd.log()
    );
    let prefix = delegated.unwrap();
    assert_eq!(prefix.prefix_len(), 56);
    assert_eq!(rig.server.leases().count(), 1);
    assert_eq!(rig.server.leases().next().unwrap().prefix, prefix);
    let c = *rig.server.counters();
    assert_eq!(c.malformed, 0, "{c:?}");
    assert_eq!(
        c.missing_client_id + c.other_server + c.missing_server_id,
        0
    );
    assert!(
        c.ia_na_refused >= 1,
        "dhcpcd's IA_NA was not refused: {c:?}"
    );
    eprintln!(
        "dhcpcd got {prefix} and put {} on lo; counters {c:?}",
        on_lo.unwrap()
    );
    eprintln!("dhcpcd said:\n{}", dhcpcd.log());
}

// ---------------------------------------------------------------------------------------
// Our PrefixRequester against ISC Kea
// ---------------------------------------------------------------------------------------

const CLIENT_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

/// Kea's configuration: fd00:5::/48 delegated in /56s on tun0, with short timers so that a
/// Renew comes within the test; leases in memory only.
const KEA_CONFIG: &str = r#"{
  "Dhcp6": {
    "interfaces-config": { "interfaces": [ "tun0" ] },
    "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "0102030405", "persist": false },
    "lease-database": { "type": "memfile", "persist": false },
    "renew-timer": 3,
    "rebind-timer": 5,
    "preferred-lifetime": 10,
    "valid-lifetime": 20,
    "subnet6": [ {
      "id": 1,
      "subnet": "fd00:4::/64",
      "interface": "tun0",
      "pd-pools": [ { "prefix": "fd00:5::", "prefix-len": 48, "delegated-len": 56 } ]
    } ],
    "loggers": [ {
      "name": "kea-dhcp6",
      "output_options": [ { "output": "stdout" } ],
      "severity": "INFO"
    } ]
  }
}"#;

#[test]
fn our_requester_obtains_renews_and_releases_a_prefix_from_kea() {
    use bridgeless_iface::pd::{ClientConfig, ClientEvent, ClientState, PrefixRequester};
    use bridgeless_wire::dhcpv6::ALL_DHCP_RELAY_AGENTS_AND_SERVERS;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    if !common::ready(
        "our_requester_obtains_renews_and_releases_a_prefix_from_kea",
        &["ip", "kea-dhcp6"],
    ) {
        return;
    }
    let ns = Netns::new("pdkea");
    let mut tun = Tun::open_in_namespace(ns.path(), "tun0")
        .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
    ns.run("ip", &["link", "set", "lo", "up"]);
    ns.run("ip", &["link", "set", "tun0", "up"]);

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("linux_pd-{}", ns.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("kea-dhcp6.conf");
    std::fs::write(&conf, KEA_CONFIG).unwrap();
    let log_path = dir.join("kea.log");
    let log = File::create(&log_path).unwrap();
    let mut kea = ns
        .command("kea-dhcp6")
        .arg("-c")
        .arg(&conf)
        // Kea's pid and lock files in the test's directory, not /run/kea.
        .env("KEA_PIDFILE_DIR", &dir)
        .env("KEA_LOCKFILE_DIR", &dir)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start kea-dhcp6");

    let mut rng = ChaCha8Rng::seed_from_u64(0x6b6561);
    let mut config = ClientConfig::new(Duid::uuid(*b"bridgeless-pd-c1"), 7);
    config.prefix_len_hint = Some(56);
    let mut client = PrefixRequester::new(config);
    let start = StdInstant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as i64);
    client.start(now(), &mut rng);

    let show_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = StdInstant::now() + TEST_DEADLINE;
    let pool = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 5, 0, 0, 0, 0, 0, 0), 48);
    let mut bound = None;
    let mut renewed = false;
    let mut released = false;
    let mut sent = Vec::new();
    while !released {
        assert!(
            StdInstant::now() < deadline,
            "no prefix bound, renewed and released in time (bound {bound:?}, renewed \
             {renewed}, state {:?}); counters {:?}; Kea said:\n{}",
            client.state(),
            client.counters(),
            show_log()
        );
        if let Ok(Some(status)) = kea.try_wait() {
            panic!("kea-dhcp6 exited ({status}):\n{}", show_log());
        }
        let _ = tun.wait(Some(smoltcp::time::Duration::from_millis(20)));
        let t = now();
        let mut frames = Vec::new();
        while let Some((rx, _tx)) = tun.receive(t) {
            rx.consume(|f| frames.push(f.to_vec()));
        }
        for f in &frames {
            let Ok(info) = frame::parse(f) else { continue };
            if let (std::net::IpAddr::V6(src), Some((SERVER_PORT, CLIENT_PORT))) =
                (info.src(), info.ports())
                && let Some(payload) = info.upper_layer().get(8..)
            {
                client.handle(t, src, payload, &mut rng);
            }
        }
        if client.poll_timeout().is_some_and(|at| at <= t) {
            client.handle_timeout(t, &mut rng);
        }
        let mut buf = [0u8; 1500];
        while let Some(len) = client.poll_transmit(t, &mut buf) {
            sent.push(buf[0]);
            let header = Ipv6Header {
                src: CLIENT_LL,
                dst: ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
                next_header: IpProtocol::Udp,
                payload_len: 0,
                hop_limit: 1,
                traffic_class: 0,
                flow_label: 0,
            };
            let mut packet = [0u8; 1500];
            let n = frame::emit_udp_v6(&header, CLIENT_PORT, SERVER_PORT, &buf[..len], &mut packet)
                .expect("emit UDP");
            let tx = tun.transmit(t).expect("TUN transmit");
            tx.consume(n, |out| out.copy_from_slice(&packet[..n]));
        }
        while let Some(e) = client.poll_event() {
            eprintln!("client event: {e:?}");
            match e {
                ClientEvent::Bound { prefix, .. } => {
                    assert!(bound.is_none(), "bound twice: {e:?}");
                    bound = Some(prefix);
                }
                ClientEvent::Renewed { prefix, .. } => {
                    assert_eq!(Some(prefix), bound, "renewed another prefix");
                    renewed = true;
                    // Give it back once renewed.
                    client.release(t, &mut rng);
                }
                ClientEvent::Lost { .. } => {}
            }
        }
        if renewed && client.state() == ClientState::Idle {
            released = true;
        }
    }
    let prefix = bound.unwrap();
    assert_eq!(prefix.prefix_len(), 56);
    assert!(pool.contains_subnet(&prefix), "{prefix} is not from {pool}");
    let c = *client.counters();
    assert_eq!(
        c.malformed + c.wrong_client_id + c.missing_server_id,
        0,
        "{c:?}"
    );
    // Solicit, Request, Renew, Release (1, 3, 5, 8), each answered at the first try.
    assert_eq!(sent, [1, 3, 5, 8], "{c:?}\n{}", show_log());
    let log = show_log();
    assert!(log.contains("DHCP6_PD_LEASE_ALLOC"), "{log}");
    assert!(log.contains("DHCP6_PD_LEASE_RENEW"), "{log}");
    assert!(log.contains("DHCP6_RELEASE_PD"), "{log}");
    let _ = kea.kill();
    let _ = kea.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
