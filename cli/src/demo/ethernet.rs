//! What the same traffic would cost on Ethernet: the comparison the demo prints.
//!
//! The model, stated in the output and the README:
//!
//! 1. **Framing.** Every packet our links carried gets an Ethernet header and FCS (14 + 4
//!    bytes), and a packet shorter than 46 bytes is padded to 46. Preamble, start delimiter
//!    and inter-frame gap (20 more bytes of wire time) are left out.
//! 2. **Attachment.** Each time a host attaches to the bridged network (every host once, the
//!    phone again at each move) it does what an Ethernet host with SLAAC and stateful DHCPv6
//!    does, beyond the Router Solicitation and Advertisement that both worlds have:
//!    duplicate address detection for two addresses (2 Neighbor Solicitations, 64-byte
//!    packets), MLDv2 reports joining the two solicited-node groups (2 groups x robustness
//!    2 = 4 reports of 76 bytes), address resolution both ways with the router (2 Neighbor
//!    Solicitations and 2 Neighbor Advertisements of 72 bytes), and DHCPv6 Solicit (94),
//!    Advertise (124), Request (136) and Reply (124).
//! 3. **Flooding.** The access points are bridges, so all stations share one segment with no
//!    MLD snooping: each multicast frame of the attachment exchanges (DAD, MLD reports, the
//!    Neighbor Solicitations for address resolution, DHCPv6 Solicit and Request) is carried by
//!    every station's radio link and every access point's uplink; a unicast frame by the
//!    station's radio link and its access point's uplink. The group stream reaches every
//!    station that is attached, listener or not, and every access point's uplink; what our
//!    links did not carry of that is counted as flooding.
//!
//! Neighbor Unreachability Detection probes, gratuitous traffic, and the control traffic of
//! our world that the bridged world would not have (prefix delegation, Router Advertisements
//! and MLD queries on each access point's links) are not modelled: the figure is the cost of
//! the same packets, framed for Ethernet, plus what Ethernet adds.

use serde::Serialize;

/// Ethernet header (14) and FCS (4).
pub const FRAMING: u64 = 18;
/// The smallest Ethernet payload; shorter ones are padded.
pub const MIN_PAYLOAD: u64 = 46;

/// An exchange an Ethernet host performs at attachment: IPv6 packet size, whether it is
/// multicast (flooded), how many of them.
const ATTACHMENT: &[(&str, u64, bool, u64)] = &[
    ("DAD Neighbor Solicitation", 64, true, 2),
    ("MLDv2 report, solicited-node group", 76, true, 4),
    ("Neighbor Solicitation (address resolution)", 72, true, 2),
    ("Neighbor Advertisement", 72, false, 2),
    ("DHCPv6 Solicit", 94, true, 1),
    ("DHCPv6 Advertise", 124, false, 1),
    ("DHCPv6 Request", 136, true, 1),
    ("DHCPv6 Reply", 124, false, 1),
];

/// The bytes of an IPv6 packet of `len` bytes as an Ethernet frame.
pub fn frame_bytes(len: u64) -> u64 {
    len.max(MIN_PAYLOAD) + FRAMING
}

/// The inputs of the comparison.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Packets our links delivered.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Padding Ethernet would add to the short ones (bytes).
    pub padding: u64,
    /// Host attachments (each host once, the phone once more per move).
    pub attachments: u64,
    /// Stations in the bridged segment (the phone, the laptop, the extra hosts).
    pub stations: u64,
    /// Access points (their uplinks).
    pub access_points: u64,
    /// Group packets the server sent, and their packet size.
    pub group_sent: u64,
    /// Size of a group packet (IPv6).
    pub group_packet_len: u64,
    /// Group packets our radio, host and uplinks delivered.
    pub group_delivered_downstream: u64,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Bytes our links delivered (bare IPv6 packets).
    pub bare_bytes: u64,
    /// Ethernet framing and padding for the same packets.
    pub framing_bytes: u64,
    /// The attachment exchanges (DAD, MLD for solicited-node groups, address resolution,
    /// DHCPv6), on every link they cross.
    pub attachment_bytes: u64,
    /// The group stream flooded to links that did not need it.
    pub flooding_bytes: u64,
    /// The total on Ethernet.
    pub ethernet_bytes: u64,
    /// What bridgeless saves.
    pub saved_bytes: u64,
    /// The same, as a percentage of the Ethernet total.
    pub saved_percent: f64,
}

impl Traffic {
    /// Computes the comparison (see the module docs).
    pub fn compare(&self) -> Comparison {
        let framing_bytes = self.packets * FRAMING + self.padding;
        let flood_links = self.stations + self.access_points;
        let attachment_bytes: u64 = ATTACHMENT
            .iter()
            .map(|&(_, len, multicast, count)| {
                let links = if multicast { flood_links } else { 2 };
                frame_bytes(len) * count * links
            })
            .sum::<u64>()
            * self.attachments;
        let group_everywhere = self.group_sent * flood_links;
        let flooding_bytes = group_everywhere.saturating_sub(self.group_delivered_downstream)
            * frame_bytes(self.group_packet_len);
        let ethernet_bytes = self.bytes + framing_bytes + attachment_bytes + flooding_bytes;
        let saved_bytes = ethernet_bytes - self.bytes;
        Comparison {
            bare_bytes: self.bytes,
            framing_bytes,
            attachment_bytes,
            flooding_bytes,
            ethernet_bytes,
            saved_bytes,
            saved_percent: if ethernet_bytes == 0 {
                0.0
            } else {
                saved_bytes as f64 * 100.0 / ethernet_bytes as f64
            },
        }
    }
}

/// The attachment exchanges, for the printed model: (what, IPv6 bytes, multicast, count).
pub fn attachment_exchanges() -> &'static [(&'static str, u64, bool, u64)] {
    ATTACHMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_padding_and_flooding() {
        assert_eq!(frame_bytes(40), 64, "padded to the 64-byte minimum frame");
        assert_eq!(frame_bytes(1500), 1518);
        let t = Traffic {
            packets: 10,
            bytes: 10_000,
            stations: 2,
            access_points: 3,
            group_sent: 100,
            group_packet_len: 248,
            group_delivered_downstream: 300,
            ..Traffic::default()
        };
        let c = t.compare();
        assert_eq!(c.framing_bytes, 180);
        assert_eq!(c.attachment_bytes, 0);
        // 100 packets x 5 links = 500 copies, 300 carried: 200 flooded frames of 266 bytes.
        assert_eq!(c.flooding_bytes, 200 * 266);
        assert_eq!(c.ethernet_bytes, 10_000 + 180 + 200 * 266);
    }
}
