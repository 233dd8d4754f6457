//! The timeline on stdout.
#![allow(
    clippy::print_stdout,
    reason = "the demo's timeline is its output, printed to the user on stdout"
)]

use super::record::{Event, EventKind};
use super::report::{INTERRUPTION_BOUND_WHY, Report, ethernet_model};
use super::world::{CORE_PREFIX, STREAM_RATE_BPS};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"))
}

fn human_bytes(n: u64) -> String {
    if n >= 10_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else if n >= 10_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{n} B")
    }
}

/// Prints the timeline of events, then the report's tables.
pub fn timeline(report: &Report, events: &[Event], transport: &str) {
    println!(
        "bridgeless demo: seed {}, {} access points, {} extra host(s) per access point, radio loss {:.1} %",
        report.seed,
        report.access_points,
        report.hosts,
        report.loss * 100.0
    );
    println!(
        "The core holds {CORE_PREFIX}; every other router obtains its prefix by delegation. The phone streams \
         {} Mbit/s to the server over a {transport}, listens to {}, and walks from ap1 to ap{}; the laptop \
         (at ap2) never joins the group.",
        STREAM_RATE_BPS / 1_000_000,
        report.multicast.group,
        report.access_points
    );
    println!();
    println!("{:>10}  {:<10} event", "time", "node");
    for e in events {
        let mark = match e.kind {
            EventKind::Move => "» ",
            _ => "",
        };
        println!(
            "{:>8.3} s  {:<10} {mark}{}",
            e.at.total_micros() as f64 / 1e6,
            e.who,
            e.text
        );
    }

    println!();
    println!(
        "Handovers (interruption: last stream byte at the server before the move to the first after)"
    );
    println!(
        "  {:<10} {:<10} {:>12} {:>14} {:>11} {:>11}  old address -> new address",
        "time", "move", "new address", "interruption", "RTT before", "RTT after"
    );
    for h in &report.handovers {
        println!(
            "  {:>8.3} s ap{} -> ap{:<3} {:>12} {:>14} {:>11} {:>11}  {} -> {}",
            h.at_s,
            h.from_ap,
            h.to_ap,
            ms(h.address_after_ms),
            h.interruption_ms
                .map_or_else(|| "never resumed".to_string(), |v| format!("{v:.1} ms")),
            ms(h.rtt_before_ms),
            ms(h.rtt_after_ms),
            h.old_address.as_deref().unwrap_or("-"),
            h.new_address.as_deref().unwrap_or("-"),
        );
    }

    let s = &report.stream;
    println!();
    println!("Stream ({})", s.transport);
    println!(
        "  written {} ({} B), delivered {} ({} B), pattern mismatches {}, end seen {}",
        human_bytes(s.bytes_written),
        s.bytes_written,
        human_bytes(s.bytes_delivered),
        s.bytes_delivered,
        s.pattern_mismatches,
        s.end_seen
    );
    println!(
        "  session established {}, closed {}, migrations seen by the server {}, paths validated {}",
        s.established, s.closed, s.migrations, s.validations
    );
    println!(
        "  TCP segments {}, retransmitted {} ({} B)",
        s.tcp_segments, s.tcp_retransmitted_segments, s.tcp_retransmitted_bytes
    );
    let l = &report.losses;
    println!(
        "  frames not delivered: {} lost on radio links, {} in flight at a move, {} sent while detached, \
         {} sent towards a vacant end, {} other",
        l.lost, l.in_flight, l.detached, l.no_peer, l.other
    );

    println!();
    println!(
        "Links (group {}: {} packets sent, {} received by the phone, {} by the laptop)",
        report.multicast.group,
        report.multicast.sent,
        report.multicast.phone_received,
        report.multicast.laptop_received
    );
    println!(
        "  {:<14} {:<7} {:>8} {:>11} {:>6} {:>9} {:>7} {:>17}  pcap",
        "link", "kind", "packets", "bytes", "lost", "dropped", "group", "group first..last"
    );
    for l in &report.links {
        let span = match (l.group_first_s, l.group_last_s) {
            (Some(a), Some(b)) => format!("{a:.3}..{b:.3} s"),
            _ => "-".to_string(),
        };
        println!(
            "  {:<14} {:<7} {:>8} {:>11} {:>6} {:>9} {:>7} {:>17}  {}",
            l.name,
            l.kind,
            l.packets,
            l.bytes,
            l.lost,
            l.dropped_in_flight + l.dropped_no_peer + l.dropped_other,
            l.group_packets,
            span,
            l.pcap
        );
    }

    let e = &report.ethernet;
    println!();
    println!(
        "The same traffic on bridged Ethernet (SLAAC, DHCPv6, neighbor discovery, no MLD snooping)"
    );
    println!(
        "  {:<44} {:>12}",
        "bare IPv6 packets on our links", e.bare_bytes
    );
    println!(
        "  {:<44} {:>12}",
        "+ Ethernet header and FCS (18 B a frame)", e.framing_bytes
    );
    println!(
        "  {:<44} {:>12}",
        "+ DAD, MLD, address resolution, DHCPv6", e.attachment_bytes
    );
    println!(
        "  {:<44} {:>12}",
        "+ group stream flooded to every station", e.flooding_bytes
    );
    println!("  {:<44} {:>12}", "= Ethernet", e.ethernet_bytes);
    println!(
        "  saved: {} ({:.1} % of the Ethernet total)",
        human_bytes(e.saved_bytes),
        e.saved_percent
    );
    println!("  per host attachment on Ethernet (IPv6 bytes x count; multicast ones flooded):");
    for (what, len, multicast, count) in ethernet_model() {
        println!(
            "    {what:<44} {len:>4} B x {count}{}",
            if *multicast { "  (multicast)" } else { "" }
        );
    }

    println!();
    println!(
        "Checks (interruption bound {:.0} ms: {INTERRUPTION_BOUND_WHY})",
        report.interruption_bound_ms
    );
    for c in &report.checks {
        println!(
            "  {}  {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
}

/// One line for `--quiet`.
pub fn summary(report: &Report, out: &std::path::Path) {
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    println!(
        "bridgeless demo: {} handovers, {} of {} bytes delivered, {} check(s) failed; outputs in {}",
        report.handovers.len(),
        report.stream.bytes_delivered,
        report.stream.bytes_written,
        failed,
        out.display()
    );
}

/// Where the outputs are.
pub fn outputs(out: &std::path::Path, pcaps: usize) {
    println!();
    println!(
        "Outputs in {}: report.json, timeline.svg, {pcaps} pcap files (one per link)",
        out.display()
    );
}
