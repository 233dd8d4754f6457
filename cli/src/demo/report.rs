//! The demo's report: computed from the recorder and the simulator's counters after the run,
//! printed as a timeline and written to `report.json`.

use serde::Serialize;
use smoltcp::time::Instant;

use super::ethernet::{self, Comparison, Traffic};
use super::nodes::{GROUP, GROUP_PAYLOAD, Phone, PlainHost, Server};
use super::record::EventKind;
use super::transport::TransportStats;
use super::world::{LinkKind, STREAM_RATE_BPS, World};

/// The longest interruption a handover may cause, in ms (see [`INTERRUPTION_BOUND_WHY`]).
pub const INTERRUPTION_BOUND_MS: f64 = 2500.0;

/// Why [`INTERRUPTION_BOUND_MS`] is what it is.
pub const INTERRUPTION_BOUND_WHY: &str = "the new access point answers the phone's solicitation \
after a random delay of at most 500 ms (RFC 4861 §6.2.6), the phone forms its address at once \
(no duplicate address detection on a point-to-point link), and TCP inside the session resends \
what the move lost when its retransmission timer fires: at least 1 s after the last \
acknowledgement (smoltcp's minimum RTO), which is after the new address exists, so one \
timeout is enough; 1 s + 0.5 s, plus a second of margin for round trips, path validation and \
radio loss";

/// Seconds since the start of the simulation.
fn secs(t: Instant) -> f64 {
    t.total_micros() as f64 / 1e6
}

/// Something a node acquired, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Acquired {
    /// When, in s.
    pub at_s: f64,
    /// The node.
    pub who: String,
    /// What ("holds 2001:db8::/48", "address 2001:db8:...").
    pub what: String,
}

/// One handover of the phone.
#[derive(Debug, Clone, Serialize)]
pub struct Handover {
    /// When the phone arrived at the new access point, in s.
    pub at_s: f64,
    /// The access point it left (1-based).
    pub from_ap: usize,
    /// The access point it reached (1-based).
    pub to_ap: usize,
    /// Its address before.
    pub old_address: Option<String>,
    /// Its address after.
    pub new_address: Option<String>,
    /// From the arrival to the new address, in ms.
    pub address_after_ms: Option<f64>,
    /// From the last stream byte the server received before the move to the first after, in
    /// ms; `None` when the stream never resumed.
    pub interruption_ms: Option<f64>,
    /// When the last byte before arrived, in s.
    pub last_byte_before_s: Option<f64>,
    /// When the first byte after arrived, in s.
    pub first_byte_after_s: Option<f64>,
    /// The session's smoothed RTT just before the move, in ms.
    pub rtt_before_ms: Option<f64>,
    /// The session's smoothed RTT 3 s after the move, in ms.
    pub rtt_after_ms: Option<f64>,
}

/// The phone's stream.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// How the stream was carried.
    pub transport: String,
    /// The application's rate, bits per second.
    pub rate_bps: u64,
    /// Bytes the phone's application wrote.
    pub bytes_written: u64,
    /// Bytes the server's application read.
    pub bytes_delivered: u64,
    /// Bytes read that differed from the pattern at their offset (lost, duplicated or
    /// reordered bytes show here).
    pub pattern_mismatches: u64,
    /// The server saw the stream's end (FIN) after the last byte.
    pub end_seen: bool,
    /// The session (or connection) was established.
    pub established: bool,
    /// The session (or connection) closed before the end of the run.
    pub closed: bool,
    /// Times the server saw the phone's address change.
    pub migrations: u64,
    /// Paths the server validated.
    pub validations: u64,
    /// TCP segments with payload the phone sent.
    pub tcp_segments: u64,
    /// Of those, retransmissions.
    pub tcp_retransmitted_segments: u64,
    /// Bytes sent again.
    pub tcp_retransmitted_bytes: u64,
}

/// One link.
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    /// Its name.
    pub name: String,
    /// "uplink", "server", "radio" or "host".
    pub kind: String,
    /// The access point (1-based), if any.
    pub ap: Option<usize>,
    /// The host at its end, for host links.
    pub host: Option<String>,
    /// Whether a listener of the group was on the link at some time.
    pub listener: bool,
    /// Packets delivered (both directions).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames lost at random.
    pub lost: u64,
    /// Frames in flight when an end was detached.
    pub dropped_in_flight: u64,
    /// Frames sent towards a vacant end.
    pub dropped_no_peer: u64,
    /// Frames dropped for other reasons (queue full, too big, link down, receive overflow).
    pub dropped_other: u64,
    /// Group packets the link delivered.
    pub group_packets: u64,
    /// The first one's arrival, in s.
    pub group_first_s: Option<f64>,
    /// The last one's arrival, in s.
    pub group_last_s: Option<f64>,
    /// The capture file.
    pub pcap: String,
}

/// The group stream.
#[derive(Debug, Clone, Serialize)]
pub struct MulticastReport {
    /// The group.
    pub group: String,
    /// Packets the server sent.
    pub sent: u64,
    /// Packets the phone's application received.
    pub phone_received: u64,
    /// Packets the laptop's application received.
    pub laptop_received: u64,
    /// Group packets on the laptop's link.
    pub laptop_link_packets: u64,
}

/// Frames that did not arrive, over all links.
#[derive(Debug, Clone, Serialize)]
pub struct LossReport {
    /// Lost at random on radio links.
    pub lost: u64,
    /// In flight when the phone left a link.
    pub in_flight: u64,
    /// Sent towards a vacant end (an access point still sending to the phone that left).
    pub no_peer: u64,
    /// Sent by the phone while detached.
    pub detached: u64,
    /// Everything else.
    pub other: u64,
}

/// A check of what the demo shows.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// The numbers behind it.
    pub detail: String,
}

/// Everything the demo reports (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Access points.
    pub access_points: usize,
    /// Extra hosts per access point.
    pub hosts: usize,
    /// Radio loss probability.
    pub loss: f64,
    /// Virtual time simulated, in s.
    pub virtual_time_s: f64,
    /// Prefixes acquired and delegated, routers' upstream addresses.
    pub prefixes: Vec<Acquired>,
    /// Hosts' global addresses.
    pub addresses: Vec<Acquired>,
    /// The phone's handovers.
    pub handovers: Vec<Handover>,
    /// The bound every interruption is checked against, in ms.
    pub interruption_bound_ms: f64,
    /// The stream.
    pub stream: StreamReport,
    /// The group stream.
    pub multicast: MulticastReport,
    /// Frames that did not arrive.
    pub losses: LossReport,
    /// Every link.
    pub links: Vec<LinkReport>,
    /// The comparison with Ethernet.
    pub ethernet: Comparison,
    /// Throughput at the server, bytes per 100 ms bucket from time 0.
    pub throughput_100ms: Vec<u64>,
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check holds.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// The interruption of the stream at a move at `t`: the largest gap between consecutive
/// deliveries at the server that ends after `t` and starts at most 1 s before it, among
/// deliveries up to 10 s after `t` or up to `end` (the next move, or the end of the run):
/// (last before, first after). `None` when the stream did not resume by then although it had
/// not ended (`ended`: when the server read the stream's last byte, if it did).
fn interruption(
    deliveries: &[(Instant, usize)],
    t: Instant,
    end: Instant,
    ended: Option<Instant>,
) -> Option<(Instant, Instant)> {
    let from = t - smoltcp::time::Duration::from_secs(1);
    let mut to = (t + smoltcp::time::Duration::from_secs(10)).min(end);
    if let Some(e) = ended {
        // The stream ended before the window: what follows is not an interruption.
        to = to.min(e.max(t));
    }
    let mut times: Vec<Instant> = deliveries
        .iter()
        .map(|d| d.0)
        .filter(|&d| d >= from && d <= to)
        .collect();
    match ended {
        Some(e) if e <= to => to = e,
        // A stand-in at the window's end: a gap that reaches it never ended.
        _ => times.push(to),
    }
    let (a, b) = times
        .windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(_, b)| b > t && b <= to)
        .max_by_key(|&(a, b)| (b - a).total_micros())?;
    let resumed = ended.is_some_and(|e| e <= to) || b < to || deliveries.iter().any(|d| d.0 == to);
    resumed.then_some((a, b))
}

/// Computes the report of a finished run; `pcap_name` names a link's capture file.
pub fn build(world: &World, pcap_name: impl Fn(&str) -> String) -> Report {
    let sim = &world.sim;
    let recorder = world.recorder.borrow();
    let server = sim.node::<Server>(world.server).expect("the server");
    let phone = sim.node::<Phone>(world.phone).expect("the phone");
    let laptop = sim.node::<PlainHost>(world.laptop).expect("the laptop");
    let end = sim.now();

    let acquired = |kind: EventKind| -> Vec<Acquired> {
        recorder
            .events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| Acquired {
                at_s: secs(e.at),
                who: e.who.clone(),
                what: e.text.clone(),
            })
            .collect()
    };

    let ended = if server.read.eof {
        recorder.deliveries.last().map(|d| d.0)
    } else {
        None
    };
    let handovers: Vec<Handover> = recorder
        .moves
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let next = recorder.moves.get(i + 1).map_or(end, |n| n.at);
            let gap = interruption(&recorder.deliveries, m.at, next, ended);
            Handover {
                at_s: secs(m.at),
                from_ap: m.from_ap + 1,
                to_ap: m.to_ap + 1,
                old_address: m.old_address.map(|a| a.to_string()),
                new_address: m.new_address.map(|(_, a)| a.to_string()),
                address_after_ms: m
                    .new_address
                    .map(|(t, _)| (t - m.at).total_micros() as f64 / 1000.0),
                interruption_ms: gap.map(|(a, b)| (b - a).total_micros() as f64 / 1000.0),
                last_byte_before_s: gap.map(|(a, _)| secs(a)),
                first_byte_after_s: gap.map(|(_, b)| secs(b)),
                rtt_before_ms: recorder.rtt_before(m.at),
                rtt_after_ms: recorder
                    .rtt_at_or_after(m.at + smoltcp::time::Duration::from_secs(3)),
            }
        })
        .collect();

    let server_stats: TransportStats = server.transport.stats();
    let phone_stats: TransportStats = phone.transport.stats();
    let mut tcp = phone.transport.tcp_sent();
    tcp.segments += phone.outer_tcp.segments;
    tcp.retransmitted_segments += phone.outer_tcp.retransmitted_segments;
    tcp.retransmitted_bytes += phone.outer_tcp.retransmitted_bytes;
    let stream = StreamReport {
        transport: phone.transport.name().to_string(),
        rate_bps: STREAM_RATE_BPS,
        bytes_written: phone.written,
        bytes_delivered: server.read.bytes,
        pattern_mismatches: server.read.mismatches,
        end_seen: server.read.eof,
        established: phone_stats.established,
        closed: phone_stats.closed || server_stats.closed,
        migrations: server_stats.migrations,
        validations: server_stats.validations,
        tcp_segments: tcp.segments,
        tcp_retransmitted_segments: tcp.retransmitted_segments,
        tcp_retransmitted_bytes: tcp.retransmitted_bytes,
    };

    // Links.
    let mut links = Vec::new();
    let mut traffic = Traffic::default();
    let mut losses = LossReport {
        lost: 0,
        in_flight: 0,
        no_peer: 0,
        detached: sim
            .port_counters(sim.node_ports(world.phone)[0])
            .dropped_detached,
        other: 0,
    };
    for info in &world.links {
        let c = sim.link_counters(info.id).total();
        let group = recorder
            .group
            .get(&info.id.index())
            .copied()
            .unwrap_or_default();
        let (kind, ap, host, listener) = match &info.kind {
            LinkKind::Uplink { ap } => ("uplink", Some(ap + 1), None, false),
            LinkKind::ServerLink => ("server", None, None, false),
            LinkKind::Radio { ap } => (
                "radio",
                Some(ap + 1),
                Some("phone".to_string()),
                *ap == 0 || world.moves.iter().any(|m| m.1 == *ap),
            ),
            LinkKind::HostLink { ap, host, listens } => {
                ("host", Some(ap + 1), Some(host.clone()), *listens)
            }
        };
        let other = c.dropped.total() - c.dropped.in_flight - c.dropped.no_peer;
        losses.lost += c.lost;
        losses.in_flight += c.dropped.in_flight;
        losses.no_peer += c.dropped.no_peer;
        losses.other += other;
        traffic.packets += c.delivered;
        traffic.bytes += c.delivered_bytes;
        if kind != "server" {
            traffic.group_delivered_downstream += group.packets;
        }
        links.push(LinkReport {
            name: info.name.clone(),
            kind: kind.to_string(),
            ap,
            host,
            listener,
            packets: c.delivered,
            bytes: c.delivered_bytes,
            lost: c.lost,
            dropped_in_flight: c.dropped.in_flight,
            dropped_no_peer: c.dropped.no_peer,
            dropped_other: other,
            group_packets: group.packets,
            group_first_s: group.first.map(secs),
            group_last_s: group.last.map(secs),
            pcap: pcap_name(&info.name),
        });
    }
    let stations = 2 + world.extras.len() as u64;
    traffic.stations = stations;
    traffic.access_points = world.aps.len() as u64;
    traffic.attachments = stations + 1 + recorder.moves.len() as u64; // + the server
    traffic.group_sent = recorder.group_sent;
    traffic.group_packet_len = (40 + 8 + GROUP_PAYLOAD) as u64;
    // Every packet here is at least 46 bytes long (the shortest, a Router Solicitation, is
    // 48): Ethernet pads none of them.
    traffic.padding = 0;
    let ethernet = traffic.compare();

    let multicast = MulticastReport {
        group: GROUP.to_string(),
        sent: recorder.group_sent,
        phone_received: phone.group_received,
        laptop_received: laptop.group_received,
        laptop_link_packets: links
            .iter()
            .filter(|l| l.host.as_deref() == Some("laptop"))
            .map(|l| l.group_packets)
            .sum(),
    };

    // Throughput.
    let buckets = (end.total_micros() / 100_000 + 1) as usize;
    let mut throughput_100ms = vec![0u64; buckets];
    for &(t, n) in &recorder.deliveries {
        let i = (t.total_micros() / 100_000) as usize;
        if let Some(b) = throughput_100ms.get_mut(i) {
            *b += n as u64;
        }
    }

    let mut report = Report {
        seed: world.setup.seed,
        access_points: world.setup.access_points,
        hosts: world.setup.hosts,
        loss: world.setup.loss,
        virtual_time_s: secs(end),
        prefixes: acquired(EventKind::Prefix),
        addresses: acquired(EventKind::Address),
        handovers,
        interruption_bound_ms: INTERRUPTION_BOUND_MS,
        stream,
        multicast,
        losses,
        links,
        ethernet,
        throughput_100ms,
        checks: Vec::new(),
    };
    report.checks = checks(world, &report);
    report
}

/// The phone's presence at each access point: (ap, from, until), in s.
fn presence(world: &World, end: f64) -> Vec<(usize, f64, f64)> {
    let mut spans = Vec::new();
    let mut from = 0.0;
    let mut ap = 0;
    for &(t, next) in &world.moves {
        spans.push((ap, from, secs(t)));
        from = secs(t);
        ap = next;
    }
    spans.push((ap, from, end));
    spans
}

fn checks(world: &World, r: &Report) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(Check {
            name: name.to_string(),
            ok,
            detail,
        })
    };
    let expected_moves = world.moves.len();
    check(
        "every handover happened and the phone formed a new address",
        r.handovers.len() == expected_moves && r.handovers.iter().all(|h| h.new_address.is_some()),
        format!("{} of {expected_moves} handovers", r.handovers.len()),
    );
    for h in &r.handovers {
        check(
            &format!("handover ap{} -> ap{} within bound", h.from_ap, h.to_ap),
            h.interruption_ms
                .is_some_and(|ms| ms <= r.interruption_bound_ms),
            format!(
                "interruption {:?} ms, bound {} ms",
                h.interruption_ms, r.interruption_bound_ms
            ),
        );
    }
    let s = &r.stream;
    check(
        "zero bytes lost: every byte delivered once, in order, and the end seen",
        s.bytes_written > 0
            && s.bytes_delivered == s.bytes_written
            && s.pattern_mismatches == 0
            && s.end_seen,
        format!(
            "written {}, delivered {}, mismatches {}, end seen {}",
            s.bytes_written, s.bytes_delivered, s.pattern_mismatches, s.end_seen
        ),
    );
    check(
        "the session never closed",
        s.established && !s.closed,
        format!("established {}, closed {}", s.established, s.closed),
    );
    let laptop = r.multicast.laptop_link_packets + r.multicast.laptop_received;
    check(
        "the laptop's link saw no group packet",
        laptop == 0,
        format!("{laptop} group packets"),
    );
    let spans = presence(world, r.virtual_time_s);
    for l in r.links.iter().filter(|l| l.kind == "radio") {
        let ap = l.ap.unwrap_or(0) - 1;
        let visits: Vec<_> = spans.iter().filter(|s| s.0 == ap).collect();
        let inside = |t: Option<f64>| {
            t.is_none_or(|t| visits.iter().any(|&&(_, a, b)| t >= a && t <= b + 0.05))
        };
        let ok = if visits.is_empty() {
            l.group_packets == 0
        } else {
            l.group_packets > 0 && inside(l.group_first_s) && inside(l.group_last_s)
        };
        check(
            &format!("group on {} only while the phone was there", l.name),
            ok,
            format!(
                "{} packets, {:?} .. {:?} s",
                l.group_packets, l.group_first_s, l.group_last_s
            ),
        );
    }
    for l in r.links.iter().filter(|l| l.kind == "host") {
        check(
            &format!("group on {} only if its host listens", l.name),
            (l.group_packets > 0) == l.listener,
            format!("{} packets, listener {}", l.group_packets, l.listener),
        );
    }
    // An access point's uplink carries the group only once a listener is below it.
    for l in r.links.iter().filter(|l| l.kind == "uplink") {
        let ap = l.ap.unwrap_or(0) - 1;
        let extra_listener = r
            .links
            .iter()
            .any(|h| h.kind == "host" && h.ap == l.ap && h.listener);
        if extra_listener {
            continue;
        }
        let arrival = spans.iter().find(|s| s.0 == ap).map(|s| s.1);
        let ok = match (arrival, l.group_first_s) {
            (_, None) => true,
            (Some(a), Some(first)) => first >= a,
            (None, Some(_)) => false,
        };
        check(
            &format!("group on {} only after a listener arrived below", l.name),
            ok,
            format!(
                "first at {:?} s, phone arrived at {arrival:?} s",
                l.group_first_s
            ),
        );
    }
    checks
}

/// The attachment exchanges of the Ethernet model, for printing.
pub fn ethernet_model() -> &'static [(&'static str, u64, bool, u64)] {
    ethernet::attachment_exchanges()
}
