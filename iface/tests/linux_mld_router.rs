//! Interop of our MLD querier with the Linux kernel as the MLD host, over a TUN device in a
//! network namespace the test creates:
//!
//! - our querier sends General Queries; the kernel answers them with Current State Reports,
//!   so it reads our queries;
//! - a python3 socket in the namespace joins a group on tun0: the querier's listener table
//!   shows it (EXCLUDE, MLDv2); after the socket leaves, the querier's Multicast Address
//!   Specific Queries go unanswered and the listener disappears within the Last Listener
//!   Query Time;
//! - with `force_mld_version=1` the kernel reports with MLDv1 and the querier records the
//!   group in MLDv1 compatibility mode; the MLDv1 Done removes it the same way;
//! - with our querier configured for MLDv1 (RFC 3810 §8.3.1) and the kernel left to choose,
//!   the kernel hears our MLDv1 queries, falls back to MLDv1 (§8.2.1) and joins with MLDv1
//!   Reports, which the querier records; its Done removes the group;
//! - tshark dissects every query we sent as a query of the querier's version, none
//!   malformed and no expert errors (checksums included).
//!
//! The tests need root, /dev/net/tun, `ip`, `python3` and `tshark`; without them they fail
//! under `CI=true` and otherwise print a note and pass. Captures go to
//! `CARGO_TARGET_TMPDIR/linux_mld_router-NAME-{sent,link}.pcap`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use bridgeless_iface::device::tun::Tun;
use bridgeless_iface::mld::querier::{
    FilterMode, GroupCompatibility, MldQuerier, MldVersion, QuerierConfig,
};
use bridgeless_wire::mld::{self, MldMessage, RecordType};
use bridgeless_wire::pcap::{self, LinkType};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

mod common;
use common::{Netns, Observer, RecordingLink, spawn, timestamp};

/// Our querier's address: lower than any address the kernel forms, so we stay the querier.
const OUR_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// The group the kernel's socket joins.
const GROUP: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x5151);
const TOOLS: [&str; 3] = ["ip", "python3", "tshark"];

/// Every frame both ways: received ones in memory, and two captures.
struct Log {
    received: Vec<Vec<u8>>,
    sent: usize,
    link: pcap::Writer<BufWriter<File>>,
    sent_capture: pcap::Writer<BufWriter<File>>,
    sent_path: PathBuf,
}

impl Observer for Log {
    fn on_received(&mut self, bytes: &[u8]) {
        self.link.write(timestamp(), bytes).unwrap();
        self.received.push(bytes.to_vec());
    }

    fn on_sent(&mut self, bytes: &[u8]) {
        self.link.write(timestamp(), bytes).unwrap();
        self.sent_capture.write(timestamp(), bytes).unwrap();
        self.sent += 1;
    }
}

struct Rig {
    querier: MldQuerier<16, 8>,
    link: RecordingLink<Log>,
    start: StdInstant,
    children: Vec<Child>,
    /// Last: deleted after the device is closed and the children are gone.
    ns: Netns,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Queries every 4 s with a 1 s response interval, so the kernel answers within a test.
fn config() -> QuerierConfig {
    QuerierConfig {
        query_interval: Duration::from_secs(4),
        query_response_interval: Duration::from_secs(1),
        startup_query_interval: Duration::from_secs(1),
        ..QuerierConfig::default()
    }
}

impl Rig {
    fn new(name: &str, mld_version: u8) -> Rig {
        Rig::with_querier(name, mld_version, config())
    }

    /// A rig whose kernel runs `force_mld_version=mld_version` (0: the kernel chooses) and
    /// whose querier is configured with `querier`.
    fn with_querier(name: &str, mld_version: u8, querier: QuerierConfig) -> Rig {
        let ns = Netns::new("bl-mldr");
        let tun = Tun::open_in_namespace(ns.path(), "tun0")
            .unwrap_or_else(|e| panic!("cannot open tun0 in {}: {e}", ns.name));
        let version = format!("net.ipv6.conf.tun0.force_mld_version={mld_version}");
        ns.run("sysctl", &["-qw", &version]);
        ns.run("ip", &["link", "set", "tun0", "up"]);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let sent_path = dir.join(format!("linux_mld_router-{name}-sent.pcap"));
        let link_path = dir.join(format!("linux_mld_router-{name}-link.pcap"));
        let log = Log {
            received: Vec::new(),
            sent: 0,
            link: pcap::Writer::create(&link_path, LinkType::Raw).unwrap(),
            sent_capture: pcap::Writer::create(&sent_path, LinkType::Raw).unwrap(),
            sent_path,
        };
        let querier = MldQuerier::new(querier, OUR_LL, Instant::ZERO).unwrap();
        Rig {
            querier,
            link: RecordingLink::new(tun, log),
            start: StdInstant::now(),
            children: Vec::new(),
            ns,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// One round: everything received goes to the querier, everything due is sent.
    fn poll(&mut self) {
        let now = self.now();
        while let Some((rx, _)) = self.link.receive(now) {
            let querier = &mut self.querier;
            rx.consume(|frame| querier.handle_packet(now, frame));
        }
        self.querier.handle_timeout(now);
        let mut buf = [0u8; 1500];
        while let Some(len) = self.querier.poll_transmit(now, &mut buf) {
            let tx = self.link.transmit(now).expect("the TUN device can send");
            tx.consume(len, |out| out.copy_from_slice(&buf[..len]));
        }
    }

    /// Polls until `done` holds, for at most `timeout`.
    fn run_until(&mut self, what: &str, timeout: StdDuration, done: impl Fn(&Rig) -> bool) {
        let deadline = StdInstant::now() + timeout;
        loop {
            self.poll();
            if done(self) {
                return;
            }
            assert!(
                StdInstant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}\nquerier {:?}\ngroups {:?}",
                self.querier.counters(),
                self.querier.groups().collect::<Vec<_>>(),
            );
            let now = self.now();
            let wait = self
                .querier
                .poll_timeout()
                .map_or(20_000, |at| (at - now.min(at)).total_micros().min(20_000));
            let wait = Duration::from_micros(wait);
            self.link.tun.wait(Some(wait)).expect("poll(2) on the TUN");
        }
    }

    /// Starts a python3 socket in the namespace that joins GROUP on tun0, holds it for
    /// `hold` seconds and leaves.
    fn join_for(&mut self, hold: u32) {
        let child = spawn(self.ns.command("python3").args([
            "-c",
            JOIN_AND_LEAVE,
            &GROUP.to_string(),
            "tun0",
            &hold.to_string(),
        ]));
        self.children.push(child);
    }

    /// MLD records (type, group) of the MLDv2 reports the kernel sent, and the MLDv1
    /// messages as type 131 (Report) or 132 (Done).
    fn kernel_messages(&self) -> Vec<(u8, RecordType, Ipv6Address)> {
        let log = self.link.recorder.borrow();
        let mut out = Vec::new();
        for bytes in &log.received {
            let Ok(received) = mld::parse_ipv6(bytes) else {
                continue;
            };
            match received.message {
                MldMessage::ReportV2(r) => out.extend(
                    r.records()
                        .map(|r| (143, r.record_type, r.multicast_address)),
                ),
                MldMessage::ReportV1(r) => {
                    out.push((131, RecordType::Unknown(0), r.multicast_address()))
                }
                MldMessage::Done(r) => {
                    out.push((132, RecordType::Unknown(0), r.multicast_address()))
                }
                MldMessage::Query(_) => {}
            }
        }
        out
    }

    /// tshark: every frame we sent is a query of the querier's version, none malformed, no
    /// expert errors.
    fn assert_queries_well_formed(&self) {
        let mut log = self.link.recorder.borrow_mut();
        log.link.flush().unwrap();
        log.sent_capture.flush().unwrap();
        let path = log.sent_path.clone();
        let sent = log.sent;
        assert!(sent > 0, "we sent nothing");
        let fields = |filter: &str| {
            common::run(Command::new("tshark").arg("-r").arg(&path).args([
                "-Y",
                filter,
                "-T",
                "fields",
                "-e",
                "frame.number",
            ]))
        };
        let malformed = fields("_ws.malformed || _ws.expert.severity >= \"error\"");
        assert_eq!(malformed.trim(), "", "bad frames in {}", path.display());
        // MLDv1: 24 octets after the 8 of the Hop-by-Hop Options, the delay in milliseconds.
        let version = match self.querier.version() {
            MldVersion::V1 => "ipv6.plen == 32 && icmpv6.mld.maximum_response_delay == 1000",
            MldVersion::V2 => "icmpv6.mld.flag.qrv == 2",
        };
        let queries = fields(&format!(
            "icmpv6.type == 130 && icmpv6.checksum.status == \"Good\" && {version} \
             && ipv6.hlim == 1 && ipv6.opt.router_alert == 0"
        ));
        assert_eq!(queries.lines().count(), sent, "{}", path.display());
    }
}

/// Joins a group on an interface, holds it, leaves it, and waits to be killed.
const JOIN_AND_LEAVE: &str = r#"
import socket, struct, sys, time
group, ifname, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", socket.if_nametoindex(ifname))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
time.sleep(hold)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)
time.sleep(60)
"#;

#[test]
fn linux_listener_appears_answers_queries_and_disappears_after_leaving() {
    if !common::ready(
        "linux_listener_appears_answers_queries_and_disappears",
        &TOOLS,
    ) {
        return;
    }
    let mut rig = Rig::new("v2", 2);
    rig.run_until("the startup queries", StdDuration::from_secs(3), |rig| {
        rig.querier.counters().general_queries_sent >= 2
    });
    rig.join_for(8);
    rig.run_until("the kernel's join", StdDuration::from_secs(5), |rig| {
        rig.querier.group(&GROUP).is_some()
    });
    let record = rig.querier.group(&GROUP).unwrap();
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    assert_eq!(record.compatibility(), GroupCompatibility::V2);
    assert!(rig.querier.is_querier());
    // The kernel answers our General Queries with MODE_IS_EXCLUDE for the group.
    rig.run_until("a Current State Report", StdDuration::from_secs(7), |rig| {
        rig.kernel_messages()
            .contains(&(143, RecordType::ModeIsExclude, GROUP))
    });
    // The leave: CHANGE_TO_INCLUDE_MODE {}, our specific queries, then gone in LLQT.
    rig.run_until("the kernel's leave", StdDuration::from_secs(8), |rig| {
        rig.kernel_messages()
            .contains(&(143, RecordType::ChangeToIncludeMode, GROUP))
    });
    let left = StdInstant::now();
    let llqt = rig.querier.last_listener_query_time();
    rig.run_until("the listener to go", StdDuration::from_secs(4), |rig| {
        rig.querier.group(&GROUP).is_none()
    });
    let took = left.elapsed();
    assert!(
        took <= StdDuration::from_micros(llqt.total_micros()) + StdDuration::from_millis(500),
        "gone {took:?} after the leave, LLQT is {llqt}"
    );
    let counters = *rig.querier.counters();
    assert!(counters.group_queries_sent >= 2, "{counters:?}");
    assert_eq!(counters.invalid.checksum, 0, "{counters:?}");
    assert_eq!(counters.invalid.malformed, 0, "{counters:?}");
    assert_eq!(counters.reports_v1, 0, "{counters:?}");
    rig.assert_queries_well_formed();
}

#[test]
fn linux_forced_to_mldv1_puts_the_group_in_v1_compatibility() {
    if !common::ready(
        "linux_forced_to_mldv1_puts_the_group_in_v1_compatibility",
        &TOOLS,
    ) {
        return;
    }
    let mut rig = Rig::new("v1", 1);
    rig.run_until("the startup queries", StdDuration::from_secs(3), |rig| {
        rig.querier.counters().general_queries_sent >= 1
    });
    rig.join_for(5);
    rig.run_until(
        "the kernel's MLDv1 Report",
        StdDuration::from_secs(5),
        |rig| rig.querier.group(&GROUP).is_some(),
    );
    let record = rig.querier.group(&GROUP).unwrap();
    assert_eq!(record.compatibility(), GroupCompatibility::V1);
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    assert!(rig.querier.counters().reports_v1 >= 1);
    assert!(rig.querier.counters().v1_compat_entered >= 1);
    // The Done is applied as TO_IN ({}): specific queries, then the group goes.
    rig.run_until("the kernel's Done", StdDuration::from_secs(8), |rig| {
        rig.kernel_messages()
            .iter()
            .any(|m| m.0 == 132 && m.2 == GROUP)
    });
    rig.run_until("the listener to go", StdDuration::from_secs(4), |rig| {
        rig.querier.group(&GROUP).is_none()
    });
    let counters = *rig.querier.counters();
    assert!(counters.dones_v1 >= 1, "{counters:?}");
    assert_eq!(counters.dropped.done_in_v2_mode, 0, "{counters:?}");
    assert_eq!(counters.invalid.checksum, 0, "{counters:?}");
    rig.assert_queries_well_formed();
}

#[test]
fn our_querier_in_mldv1_mode_turns_linux_to_mldv1() {
    if !common::ready("our_querier_in_mldv1_mode_turns_linux_to_mldv1", &TOOLS) {
        return;
    }
    let v1 = QuerierConfig {
        version: MldVersion::V1,
        ..config()
    };
    let mut rig = Rig::with_querier("v1-querier", 0, v1);
    rig.run_until("the startup queries", StdDuration::from_secs(3), |rig| {
        rig.querier.counters().general_queries_sent >= 2
    });
    rig.join_for(5);
    rig.run_until(
        "the kernel's MLDv1 Report",
        StdDuration::from_secs(5),
        |rig| rig.querier.group(&GROUP).is_some(),
    );
    let record = rig.querier.group(&GROUP).unwrap();
    assert_eq!(record.compatibility(), GroupCompatibility::V1);
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    // Having heard our MLDv1 queries, the kernel speaks MLDv1 only for the group.
    let messages = rig.kernel_messages();
    assert!(
        messages.contains(&(131, RecordType::Unknown(0), GROUP)),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.0 == 143 && m.2 == GROUP),
        "{messages:?}"
    );
    rig.run_until("the kernel's Done", StdDuration::from_secs(8), |rig| {
        rig.kernel_messages()
            .iter()
            .any(|m| m.0 == 132 && m.2 == GROUP)
    });
    rig.run_until("the listener to go", StdDuration::from_secs(4), |rig| {
        rig.querier.group(&GROUP).is_none()
    });
    let counters = *rig.querier.counters();
    assert!(counters.group_queries_sent >= 2, "{counters:?}");
    assert_eq!(counters.source_queries_sent, 0, "{counters:?}");
    assert_eq!(counters.invalid.checksum, 0, "{counters:?}");
    rig.assert_queries_well_formed();
}
