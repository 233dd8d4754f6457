//! Interop of our [`RouterAdvertiser`] with the Linux kernel over a TUN device: the kernel's
//! end of the link is a host with `accept_ra=2`, our end is the router.
//!
//! - from our advertisements alone the kernel configures an address in our prefix
//!   (2001:db8:1::/64), a default route via our link-local address fe80::1, the link MTU we
//!   advertise (1400) and the route of our Route Information option; `ip -6 route get` to an
//!   address behind us says "via fe80::1 ... mtu 1400", and a `ping` to it reaches us from
//!   the new address (the test answers it, standing in for the host behind the router);
//! - `rdisc6` (Debian `ndisc6`) solicits, and our answer — to its address, within 500 ms —
//!   prints our prefix, MTU, DNS server, route and router lifetime;
//! - after our final advertisements (shutdown) the kernel removes its default route;
//! - tshark finds nothing malformed in what we sent, and our advertiser counted no invalid
//!   packet from the kernel.
//!
//! Each test makes its own network namespace, opens tun0 in it, and on every exit path kills
//! what it started there and deletes it; every wait has a deadline. Captures of both
//! directions go to `CARGO_TARGET_TMPDIR/linux_ra-NAME-link.pcap`.
//!
//! The tests need root, /dev/net/tun, `ip`, `ping`, `sysctl`, `rdisc6` and `tshark`. Without
//! them they fail when `CI=true` and otherwise print a note and pass.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::router::advertiser::{
    AdvertiserConfig, MAX_RA_LEN, PrefixConfig, RouteConfig, RouterAdvertiser, State,
};
use bridgeless_wire::frame;
use bridgeless_wire::ndp;
use bridgeless_wire::pcap::{self, LinkType};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpProtocol, Ipv6Address, Ipv6Cidr};

mod common;
use common::{Netns, Observer, RecordingLink, finish, spawn, timestamp};

const ROUTER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const PREFIX: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0);
const DNS: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53);
const ROUTE: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0);
/// An address behind us, reached through the default route.
const BEYOND: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 1);
const MTU: u32 = 1400;
/// The longest the loop sleeps, so that child processes are noticed promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

fn ready(test: &str) -> bool {
    common::ready(test, &["ip", "ping", "sysctl", "rdisc6", "tshark"])
}

/// Every frame both ways, captured.
struct Log {
    link: pcap::Writer<BufWriter<File>>,
    path: PathBuf,
    sent: usize,
}

impl Observer for Log {
    fn on_received(&mut self, frame: &[u8]) {
        self.link.write(timestamp(), frame).unwrap();
    }

    fn on_sent(&mut self, frame: &[u8]) {
        self.sent += 1;
        self.link.write(timestamp(), frame).unwrap();
    }
}

/// A namespace whose tun0 is a Linux host with `accept_ra=2`, and our advertiser on our end.
struct Rig {
    link: RecordingLink<Log>,
    ra: RouterAdvertiser,
    rng: ChaCha8Rng,
    start: StdInstant,
    /// Echo requests to [`BEYOND`] that we answered, by source.
    echoed: Vec<Ipv6Address>,
    /// Frames received that are neither ND nor an echo to BEYOND.
    other: usize,
    ns: Netns,
}

impl Rig {
    fn new(name: &str) -> Rig {
        let ns = Netns::new("bl-ra");
        let tun = Tun::open_in_namespace(ns.path(), "tun0")
            .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
        // A host that takes its configuration from advertisements even if it forwarded
        // (accept_ra=2), and routes from Route Information up to /64.
        for setting in [
            "net.ipv6.conf.tun0.accept_ra=2",
            "net.ipv6.conf.tun0.accept_ra_rt_info_max_plen=64",
        ] {
            ns.run("sysctl", &["-qw", setting]);
        }
        ns.run("ip", &["link", "set", "tun0", "up"]);
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("linux_ra-{name}-link.pcap"));
        let log = Log {
            link: pcap::Writer::create(&path, LinkType::Raw).unwrap(),
            path,
            sent: 0,
        };
        let config = AdvertiserConfig {
            link_mtu: Some(MTU),
            ..AdvertiserConfig::new(ROUTER_LL).with_max_interval(Duration::from_secs(30))
        };
        let mut ra = RouterAdvertiser::new(config, Instant::ZERO).unwrap();
        ra.add_prefix(Instant::ZERO, PrefixConfig::new(Ipv6Cidr::new(PREFIX, 64)))
            .unwrap();
        ra.set_dns_servers(Instant::ZERO, &[DNS], 600).unwrap();
        ra.add_route(
            Instant::ZERO,
            RouteConfig::new(Ipv6Cidr::new(ROUTE, 48), 600),
        )
        .unwrap();
        Rig {
            link: RecordingLink::new(tun, log),
            ra,
            rng: ChaCha8Rng::seed_from_u64(0x4a),
            start: StdInstant::now(),
            echoed: vec![],
            other: 0,
            ns,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Reads every frame the kernel sent, runs the advertiser's timers and sends what it
    /// has (and our echo replies).
    fn poll(&mut self) {
        let now = self.now();
        let mut replies = vec![];
        while let Some((rx, _)) = self.link.receive(now) {
            let (ra, rng) = (&mut self.ra, &mut self.rng);
            let mut other = false;
            rx.consume(|frame| {
                if let Some(reply) = echo_reply(frame) {
                    replies.push(reply);
                } else if is_nd(frame) {
                    let _ = ra.handle_packet(now, frame, rng);
                } else {
                    other = true;
                }
            });
            self.other += usize::from(other);
        }
        self.ra.handle_timeout(now, &mut self.rng);
        let mut buf = [0u8; MAX_RA_LEN];
        while let Some(len) = self.ra.poll_transmit(now, &mut buf) {
            replies.push(buf[..len].to_vec());
        }
        for packet in replies {
            if packet[40] == 129 {
                self.echoed.push(Ipv6Address::from(
                    <[u8; 16]>::try_from(&packet[24..40]).unwrap(),
                ));
            }
            let tx = self.link.transmit(now).expect("TUN transmit token");
            tx.consume(packet.len(), |b| b.copy_from_slice(&packet));
        }
    }

    /// Polls until `step` returns `Some`, for at most `timeout`.
    fn run_until<T>(
        &mut self,
        what: &str,
        timeout: StdDuration,
        mut step: impl FnMut(&mut Rig) -> Option<T>,
    ) -> T {
        let deadline = StdInstant::now() + timeout;
        loop {
            self.poll();
            if let Some(done) = step(self) {
                return done;
            }
            assert!(
                StdInstant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.describe()
            );
            let now = self.now();
            let delay = self.ra.poll_timeout().map_or(MAX_SLEEP, |at| {
                if at > now {
                    (at - now).min(MAX_SLEEP)
                } else {
                    Duration::ZERO
                }
            });
            self.link.tun.wait(Some(delay)).expect("poll(2) on the TUN");
        }
    }

    fn ip(&self, args: &[&str]) -> String {
        self.ns.run("ip", args)
    }

    fn describe(&self) -> String {
        format!(
            "addresses:\n{}routes:\n{}advertiser: {:?}\n{:?}",
            self.ip(&["-6", "addr", "show", "dev", "tun0"]),
            self.ip(&["-6", "route", "show", "table", "all"]),
            self.ra.state(),
            self.ra.counters()
        )
    }

    /// The kernel's address in our prefix, once it has one.
    fn kernel_global(&self) -> Option<Ipv6Address> {
        let out = self.ip(&["-6", "-o", "addr", "show", "dev", "tun0", "scope", "global"]);
        out.split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next()?.parse().ok())
            .filter(|a| Ipv6Cidr::new(PREFIX, 64).contains_addr(a))
    }

    fn default_route(&self) -> String {
        self.ip(&["-6", "route", "show", "default"])
    }

    /// tshark finds nothing malformed or with a bad checksum in what crossed the link, and
    /// the advertiser counted nothing invalid from the kernel.
    fn assert_clean(&mut self) {
        let c = *self.ra.counters();
        let invalid = c.invalid.truncated
            + c.invalid.not_nd
            + c.invalid.extension_header
            + c.invalid.hop_limit
            + c.invalid.checksum
            + c.invalid.code
            + c.invalid.source
            + c.invalid.option_length;
        assert_eq!(invalid, 0, "{c:?}");
        let log = self.link.recorder.get_mut();
        log.link.flush().unwrap();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&log.path)
            .args(["-o", "ipv6.defragment:FALSE"])
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= \"error\""])
            .args([
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "_ws.expert.message",
            ])
            .output()
            .expect("run tshark");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "{}",
            log.path.display()
        );
        assert!(log.sent > 0);
    }
}

/// Whether `frame` is an ICMPv6 ND message (types 133 to 137), for the advertiser.
fn is_nd(frame: &[u8]) -> bool {
    frame::parse(frame).is_ok_and(|info| {
        info.protocol() == IpProtocol::Icmpv6
            && info.icmp().is_some_and(|(t, _)| ndp::classify(t).is_some())
    })
}

/// The echo reply to an echo request for [`BEYOND`]: the host behind the router answers.
fn echo_reply(frame: &[u8]) -> Option<Vec<u8>> {
    let info = frame::parse(frame).ok()?;
    let is_request = info.protocol() == IpProtocol::Icmpv6
        && info.icmp().is_some_and(|(t, _)| t == 128)
        && info.dst() == std::net::IpAddr::V6(BEYOND)
        && frame.get(6) == Some(&58);
    if !is_request {
        return None;
    }
    let len = 40 + usize::from(u16::from_be_bytes([frame[4], frame[5]]));
    let mut reply = frame.get(..len)?.to_vec();
    reply.copy_within(8..24, 24); // destination := the request's source
    reply[8..24].copy_from_slice(&BEYOND.octets());
    reply[7] = 64;
    reply[40] = 129;
    let src = BEYOND;
    let dst = Ipv6Address::from(<[u8; 16]>::try_from(&reply[24..40]).ok()?);
    ndp::emit_icmpv6_checksum(&src, &dst, &mut reply[40..]);
    Some(reply)
}

#[test]
fn linux_configures_address_default_route_and_mtu_from_our_advertisements() {
    if !ready("linux_configures_address_default_route_and_mtu_from_our_advertisements") {
        return;
    }
    let mut rig = Rig::new("configure");
    let addr = rig.run_until(
        "an address from our prefix",
        StdDuration::from_secs(20),
        |r| r.kernel_global(),
    );
    let route = rig.run_until("a default route via us", StdDuration::from_secs(10), |r| {
        let route = r.default_route();
        route.contains("via fe80::1 dev tun0").then_some(route)
    });
    assert!(route.contains("proto ra"), "{route}");
    let mtu = rig.ns.run("sysctl", &["-n", "net.ipv6.conf.tun0.mtu"]);
    assert_eq!(mtu.trim(), MTU.to_string(), "the kernel's IPv6 MTU on tun0");
    let get = rig.ip(&["-6", "route", "get", &BEYOND.to_string()]);
    assert!(get.contains("via fe80::1 dev tun0"), "{get}");
    assert!(get.contains(&format!("mtu {MTU}")), "{get}");
    assert!(get.contains(&format!("src {addr}")), "{get}");
    // Route Information (RFC 4191) became a route via us.
    let rio = rig.ip(&["-6", "route", "show", &format!("{ROUTE}/48")]);
    assert!(rio.contains("via fe80::1 dev tun0"), "{rio}");

    // The kernel reaches a host behind us, from its new address.
    let mut ping = rig
        .ns
        .command("ping")
        .args(["-6", "-c", "1", "-W", "5", &BEYOND.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ping");
    let status = rig.run_until("ping to finish", StdDuration::from_secs(10), |_| {
        ping.try_wait().unwrap()
    });
    assert!(status.success(), "ping {BEYOND} failed\n{}", rig.describe());
    assert_eq!(rig.echoed, [addr]);
    assert_eq!(rig.other, 0, "only ND and the ping crossed the link");
    rig.assert_clean();
}

#[test]
fn rdisc6_prints_our_solicited_advertisement() {
    if !ready("rdisc6_prints_our_solicited_advertisement") {
        return;
    }
    let mut rig = Rig::new("rdisc6");
    rig.run_until(
        "an address from our prefix",
        StdDuration::from_secs(20),
        |r| r.kernel_global(),
    );
    let before = *rig.ra.counters();
    let child = spawn(rig.ns.command("rdisc6").args(["-1", "-w", "2000", "tun0"]));
    let mut child = Some(child);
    let (status, out) = rig.run_until("rdisc6 to finish", StdDuration::from_secs(15), |_| {
        let done = child.as_mut().unwrap().try_wait().unwrap().is_some();
        done.then(|| finish(child.take().unwrap()))
    });
    assert!(status.success(), "rdisc6 failed: {out}\n{}", rig.describe());
    // rdisc6 aligns its columns with spaces: compare with runs of white space as one.
    let words = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Hop limit : 64",
        "Router lifetime : 90 (0x0000005a) seconds",
        "Prefix : 2001:db8:1::/64 On-link : Yes Autonomous address conf.: Yes",
        "Valid time : 2592000 (0x00278d00) seconds Pref. time : 604800 (0x00093a80) seconds",
        "MTU : 1400 bytes (valid)",
        "Recursive DNS server : 2001:db8::53 DNS server lifetime : 600 (0x00000258) seconds",
        "Route : 2001:db8:100::/48 Route preference : medium Route lifetime : 600",
        "from fe80::1",
    ] {
        assert!(
            words.contains(expected),
            "rdisc6 printed no {expected:?}:\n{out}"
        );
    }
    // Its solicitation was valid and answered to its address (unicast, RFC 4861 §6.2.6).
    let after = *rig.ra.counters();
    assert!(after.solicitations > before.solicitations, "{after:?}");
    assert!(
        after.solicited_sent() > before.solicited_sent()
            || after.solicitations_merged > before.solicitations_merged,
        "{after:?}"
    );
    rig.assert_clean();
}

#[test]
fn linux_drops_the_default_route_after_our_final_advertisements() {
    if !ready("linux_drops_the_default_route_after_our_final_advertisements") {
        return;
    }
    let mut rig = Rig::new("shutdown");
    rig.run_until("a default route via us", StdDuration::from_secs(20), |r| {
        r.default_route().contains("via fe80::1").then_some(())
    });
    let now = rig.now();
    rig.ra.shutdown(now);
    rig.run_until("the default route to go", StdDuration::from_secs(10), |r| {
        (!r.default_route().contains("via fe80::1")).then_some(())
    });
    rig.run_until(
        "the final advertisements",
        StdDuration::from_secs(15),
        |r| (r.ra.state() == State::Stopped).then_some(()),
    );
    assert_eq!(rig.ra.counters().final_sent, 3);
    // The address stays: the prefix is still on the link.
    assert!(rig.kernel_global().is_some());
    rig.assert_clean();
}
