//! The host's receive filter on real kernel traffic and on a queue-backed device.

use std::collections::VecDeque;
use std::path::Path;

use bridgeless_iface::filter::{self, ControlKind, Disposition, DropReason, ReceiveFilter};
use bridgeless_wire::pcap;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

fn fixture(name: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/tests/fixtures")
        .join(name);
    pcap::replay(path)
        .unwrap()
        .map(|r| r.unwrap().ip().unwrap().to_vec())
        .collect()
}

fn classify(p: &[u8]) -> Disposition {
    filter::classify(p, 1500)
}

#[test]
fn kernel_traffic_is_sorted_as_a_host_needs() {
    for p in fixture("linkup-rs.pcap") {
        assert_eq!(
            classify(&p),
            Disposition::Drop(DropReason::RouterSolicitation)
        );
    }
    for p in fixture("mld.pcap") {
        assert_eq!(classify(&p), Disposition::Control(ControlKind::Mld));
    }
    // Pings, fragments included, TCP and UDP go to smoltcp.
    for name in ["ping.pcap", "tcp-syn.pcap", "udp-tclass-hlim.pcap"] {
        for p in fixture(name) {
            assert_eq!(classify(&p), Disposition::Deliver, "{name}");
        }
    }
    // The packet with an unrecognised option is smoltcp's to answer (Parameter Problem).
    let answers = fixture("kernel-answers.pcap");
    assert_eq!(classify(&answers[6]), Disposition::Deliver);
    // Over the MTU: dropped and counted, never handed on.
    assert_eq!(
        filter::classify(&answers[0], 40),
        Disposition::Drop(DropReason::TooBig)
    );
}

#[test]
fn neighbor_messages_and_garbage_are_dropped_by_reason() {
    // The kernel's Router Solicitation with its ICMPv6 type changed.
    let mut msg = fixture("linkup-rs.pcap")[0].clone();
    let cases = [
        (135, Disposition::Drop(DropReason::NeighborSolicitation)),
        (136, Disposition::Drop(DropReason::NeighborAdvertisement)),
        (137, Disposition::Drop(DropReason::Redirect)),
        (134, Disposition::Control(ControlKind::RouterAdvertisement)),
        (128, Disposition::Deliver),
    ];
    for (icmp_type, expected) in cases {
        msg[40] = icmp_type;
        assert_eq!(classify(&msg), expected, "type {icmp_type}");
    }
    assert_eq!(
        classify(&msg[..30]),
        Disposition::Drop(DropReason::Malformed)
    );
    assert_eq!(classify(&[]), Disposition::Drop(DropReason::Malformed));
}

/// A device that hands out queued frames; transmit tokens are rationed.
struct Queue {
    rx: VecDeque<Vec<u8>>,
    tx_tokens: usize,
}

struct Rx(Vec<u8>);
struct Tx;

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        f(&mut vec![0; len])
    }
}

impl Device for Queue {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx)> {
        Some((Rx(self.rx.pop_front()?), Tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx> {
        self.tx_tokens = self.tx_tokens.checked_sub(1)?;
        Some(Tx)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

#[test]
fn filtered_device_passes_only_frames_for_smoltcp() {
    let mut frames = VecDeque::new();
    frames.extend(fixture("linkup-rs.pcap")); // 2 RS: dropped
    frames.extend(fixture("mld.pcap")); // 4 MLD: control
    frames.extend(fixture("ping.pcap")); // 10: delivered
    let mut queue = Queue {
        rx: frames,
        tx_tokens: 100,
    };
    let mut filter = ReceiveFilter::new(1500);
    let mut control = Vec::new();
    let mut seen = Vec::new();
    {
        let mut dev = filter.device(&mut queue, |kind, _, f: &[u8]| {
            control.push((kind, f.len()))
        });
        while let Some((rx, _tx)) = dev.receive(Instant::ZERO) {
            phy::RxToken::consume(rx, |f| seen.push(f.to_vec()));
        }
    }
    // smoltcp sees every ping, in order; the others arrive empty, which it discards.
    let delivered: Vec<Vec<u8>> = seen.iter().filter(|f| !f.is_empty()).cloned().collect();
    assert_eq!(delivered, fixture("ping.pcap"));
    assert_eq!(seen.len(), 16);
    assert_eq!(control, vec![(ControlKind::Mld, 76); 4]);
    let c = filter.counters();
    assert_eq!((c.delivered, c.mld, c.dropped_total()), (10, 4, 2));
    assert_eq!(c.dropped(DropReason::RouterSolicitation), 2);
}
