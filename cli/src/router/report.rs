//! The counters report the router prints on SIGUSR1 and when it stops.
//!
//! One `key: value` item per line, indented by section, so that people can read it and
//! scripts can `grep` it. It starts with `--- router NAME counters ---` and ends with
//! `--- end ---`. Every drop reason is listed, zeros included.

use std::fmt::Write as _;

use bridgeless_iface::device::tun::TunStats;
use bridgeless_iface::device::udp::UdpLinkCounters;
use bridgeless_iface::mld::querier::MldVersion;
use bridgeless_iface::router::{DropReason, LinkId, LinkRole, Router};
use smoltcp::time::Instant;

use super::config::Config;

/// What a link's device counted, beside the router's own per-link counters.
#[derive(Debug, Clone, Copy)]
pub enum DeviceCounters {
    /// A TUN device.
    Tun(TunStats),
    /// A UDP link.
    Udp(UdpLinkCounters),
}

/// The report, as text.
pub fn render(
    config: &Config,
    router: &Router,
    devices: &[DeviceCounters],
    now: Instant,
    reason: &str,
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, config, router, devices, now, reason);
    out
}

fn secs(t: Instant) -> f64 {
    t.total_millis() as f64 / 1000.0
}

fn write_report(
    out: &mut String,
    config: &Config,
    router: &Router,
    devices: &[DeviceCounters],
    now: Instant,
    reason: &str,
) -> std::fmt::Result {
    let forwarder = router.forwarder();
    let counters = forwarder.counters();
    let tree = router.tree();
    writeln!(out, "--- router {} counters ---", config.name)?;
    writeln!(out, "reason: {reason}")?;
    writeln!(out, "uptime: {:.3} s", secs(now))?;
    writeln!(
        out,
        "multicast: {}",
        match (config.multicast, config.mld_version) {
            (false, _) => "off",
            (true, MldVersion::V2) => "on (MLD querier per downstream link, proxy upstream)",
            (true, MldVersion::V1) => "on (MLDv1 querier per downstream link, proxy upstream)",
        }
    )?;

    writeln!(out, "tree:")?;
    let prefix = tree.and_then(|t| t.prefix());
    match prefix {
        Some(p) => writeln!(out, "  prefix: {p}")?,
        None => writeln!(out, "  prefix: none (requested upstream)")?,
    }
    if let Some(requester) = tree.and_then(|t| t.requester()) {
        writeln!(out, "  delegation client: {:?}", requester.state())?;
    }
    let leases: Vec<_> = tree
        .and_then(|t| t.delegator())
        .map(|d| d.leases().collect())
        .unwrap_or_default();
    writeln!(out, "  delegations: {}", leases.len())?;
    for lease in leases {
        writeln!(
            out,
            "    {} on link {} to {} (valid until {:.0} s)",
            lease.prefix,
            lease.link,
            lease.client,
            secs(lease.valid_until)
        )?;
    }

    writeln!(out, "links:")?;
    for (i, spec) in config.links.iter().enumerate() {
        let id = LinkId(i as u16);
        let role = match spec.role {
            LinkRole::Upstream => "upstream",
            LinkRole::Downstream => "downstream",
        };
        writeln!(out, "  link {i}: {} ({role})", spec.label())?;
        if let Some(link) = forwarder.link(id) {
            writeln!(out, "    mtu: {}", link.mtu)?;
            if let Some(address) = link.address {
                writeln!(out, "    address: {address}")?;
            }
        }
        if let Some(link_prefix) = tree.and_then(|t| t.link_prefix(id)) {
            writeln!(out, "    announces: {link_prefix}")?;
        }
        if let Some(ra) = tree.and_then(|t| t.advertiser(id)) {
            let c = ra.counters();
            writeln!(
                out,
                "    router advertisements: {} sent ({} unsolicited, {} solicited), {} solicitations",
                c.unsolicited_sent + c.solicited_multicast_sent + c.solicited_unicast_sent,
                c.unsolicited_sent,
                c.solicited_multicast_sent + c.solicited_unicast_sent,
                c.solicitations
            )?;
        }
        if let Some(c) = forwarder.link_counters(id) {
            writeln!(
                out,
                "    rx: {} packets, {} bytes; tx: {} packets, {} bytes; dropped: {}; icmp errors: {}",
                c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.dropped, c.icmp_errors
            )?;
        }
        match devices.get(i) {
            Some(DeviceCounters::Tun(s)) => writeln!(
                out,
                "    device: rx {} packets, tx {} packets, rx errors {}, tx errors {}, \
                 tx would block {}, rx truncated {}",
                s.rx_packets,
                s.tx_packets,
                s.rx_errors,
                s.tx_errors,
                s.tx_would_block,
                s.rx_truncated
            )?,
            Some(DeviceCounters::Udp(c)) => writeln!(
                out,
                "    device: rx {} frames, tx {} frames, too big {}, tx would block {}, \
                 send errors {}, oversize rx {}, wrong source {}, recv errors {}",
                c.rx_frames,
                c.tx_frames,
                c.too_big,
                c.tx_would_block,
                c.send_errors,
                c.oversize_rx,
                c.wrong_source,
                c.recv_errors
            )?,
            None => {}
        }
    }

    writeln!(out, "forwarding:")?;
    writeln!(out, "  forwarded: {}", counters.forwarded)?;
    writeln!(out, "  local: {}", counters.local)?;
    writeln!(out, "  multicast: {}", counters.multicast)?;
    let local = router.local_counters();
    writeln!(
        out,
        "  multicast not routed: {}, refused by scope or source: {}",
        local.multicast_unrouted, local.multicast_refused
    )?;
    writeln!(out, "  dropped: {}", counters.dropped.total())?;
    for reason in DropReason::ALL {
        writeln!(
            out,
            "    {}: {}",
            reason.as_str(),
            counters.dropped.get(*reason)
        )?;
    }
    let icmp = &counters.icmp;
    writeln!(out, "icmp errors:")?;
    for (name, n) in [
        "destination unreachable",
        "packet too big",
        "time exceeded",
        "parameter problem",
    ]
    .iter()
    .zip(icmp.sent)
    {
        writeln!(out, "  {name}: {n}")?;
    }
    writeln!(out, "  suppressed: {}", icmp.suppressed)?;
    writeln!(out, "  rate limited: {}", icmp.rate_limited)?;
    writeln!(out, "  no source address: {}", icmp.no_source)?;
    let local = router.local_counters();
    writeln!(out, "router's own packets:")?;
    writeln!(out, "  echo replies: {}", local.echo_replies)?;
    writeln!(out, "  unhandled: {}", local.unhandled)?;
    writeln!(out, "  tx refused: {}", local.tx_refused)?;
    writeln!(out, "--- end ---")
}
