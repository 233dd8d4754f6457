//! A node's ports as smoltcp devices: [`Port`] (one attachment) and [`Ports`] (all of a
//! node's, as handed to [`Node::poll`](crate::Node::poll)).

use core::cell::RefCell;
use core::ops::{Index, IndexMut};
use std::rc::Rc;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::link::PortCounters;
use crate::net::Net;
use crate::{LinkId, PortId};

/// One network attachment of a node, as a smoltcp [`Device`] with `Medium::Ip` and the MTU of
/// the link it is attached to.
///
/// Frames sent through it go onto its link at the current virtual time (not the timestamp
/// smoltcp passes, which the simulator gave it anyway); frames received are those the link
/// delivered, oldest first. A port without a link ([`is_attached`](Self::is_attached) false)
/// still accepts frames, and counts them as
/// [`dropped_detached`](crate::PortCounters::dropped_detached), like an unplugged cable.
///
/// `transmit` always returns a token: the simulator never pushes back on a sender (a full
/// link queue drops frames instead, as a real one does).
pub struct Port {
    id: PortId,
    net: Rc<RefCell<Net>>,
}

impl core::fmt::Debug for Port {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Port {
    pub(crate) fn new(id: PortId, net: Rc<RefCell<Net>>) -> Port {
        Port { id, net }
    }

    /// The port's identifier in its [`Sim`](crate::Sim).
    pub fn id(&self) -> PortId {
        self.id
    }

    /// The link the port is attached to, if any.
    pub fn link(&self) -> Option<LinkId> {
        self.net.borrow().port_link(self.id)
    }

    /// Whether the port is attached to a link.
    pub fn is_attached(&self) -> bool {
        self.link().is_some()
    }

    /// Whether frames sent now can arrive: attached to a link that is up, with a port at its
    /// other end (the simulator's notion of carrier).
    pub fn is_up(&self) -> bool {
        self.net.borrow().port_is_up(self.id)
    }

    /// How many times the port was attached or detached: a node that sees this change knows
    /// it moved (and may, say, solicit a router again).
    pub fn attachment_changes(&self) -> u64 {
        self.net.borrow().port_changes(self.id)
    }

    /// The MTU reported to smoltcp: that of the port's link (of its last link when detached;
    /// 1500 before it was ever attached).
    pub fn mtu(&self) -> usize {
        self.net.borrow().port_mtu(self.id)
    }

    /// Frames waiting to be received.
    pub fn pending(&self) -> usize {
        self.net.borrow().port_pending(self.id)
    }

    /// What the port sent and received so far.
    pub fn counters(&self) -> PortCounters {
        self.net.borrow().port_counters(self.id)
    }

    /// Sends `frame` (a convenience over [`Device::transmit`] for nodes that are not smoltcp
    /// interfaces).
    pub fn send(&mut self, frame: &[u8]) {
        phy::TxToken::consume(
            PortTx {
                net: &self.net,
                port: self.id,
            },
            frame.len(),
            |buf| buf.copy_from_slice(frame),
        );
    }

    /// Receives the next frame, if any, and hands it to `f` (a convenience over
    /// [`Device::receive`]).
    pub fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.pending() == 0 {
            return None;
        }
        Some(phy::RxToken::consume(
            PortRx {
                net: &self.net,
                port: self.id,
            },
            f,
        ))
    }
}

impl Device for Port {
    type RxToken<'a>
        = PortRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = PortTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(PortRx<'_>, PortTx<'_>)> {
        if self.pending() == 0 {
            return None;
        }
        let net = &*self.net;
        Some((PortRx { net, port: self.id }, PortTx { net, port: self.id }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<PortTx<'_>> {
        Some(PortTx {
            net: &self.net,
            port: self.id,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu();
        caps
    }
}

/// Receives one frame from a [`Port`]. The frame leaves the port's queue when the token is
/// consumed (a token dropped unused leaves it there).
pub struct PortRx<'a> {
    net: &'a RefCell<Net>,
    port: PortId,
}

impl phy::RxToken for PortRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // The buffer is taken out of the pool while `f` runs, because smoltcp sends its
        // answer (through the paired transmit token) from inside `f`.
        let taken = self.net.borrow_mut().rx_begin(self.port);
        match taken {
            Some((slot, buf)) => {
                let result = f(&buf);
                self.net.borrow_mut().rx_end(self.port, slot, buf);
                result
            }
            // Only when a second token for the same frame was consumed first.
            None => f(&[]),
        }
    }
}

/// Sends one frame through a [`Port`], into a buffer of the simulator's pool.
pub struct PortTx<'a> {
    net: &'a RefCell<Net>,
    port: PortId,
}

impl phy::TxToken for PortTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let (slot, mut buf) = self.net.borrow_mut().tx_begin(len);
        let result = f(&mut buf);
        self.net.borrow_mut().tx_end(self.port, slot, buf);
        result
    }
}

/// All ports of one node, in the order they were added ([`Sim::add_port`](crate::Sim::add_port)):
/// `ports[0]` is the first. Index it, or take the slice to hand several devices at once to a
/// router.
#[derive(Debug)]
pub struct Ports<'a> {
    pub(crate) ports: &'a mut [Port],
}

impl<'a> Ports<'a> {
    /// How many ports the node has.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether the node has no port.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// The `i`-th port.
    pub fn get(&mut self, i: usize) -> Option<&mut Port> {
        self.ports.get_mut(i)
    }

    /// The ports as a slice.
    pub fn as_mut_slice(&mut self) -> &mut [Port] {
        self.ports
    }

    /// Iterates over the ports.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, Port> {
        self.ports.iter_mut()
    }
}

impl Index<usize> for Ports<'_> {
    type Output = Port;
    fn index(&self, i: usize) -> &Port {
        &self.ports[i]
    }
}

impl IndexMut<usize> for Ports<'_> {
    fn index_mut(&mut self, i: usize) -> &mut Port {
        &mut self.ports[i]
    }
}

#[cfg(test)]
mod tests {
    use smoltcp::phy::{Device, RxToken, TxToken};
    use smoltcp::time::Instant;

    use crate::{LinkParams, Node, Ports, Sim};

    struct Idle;
    impl Node for Idle {
        fn poll(&mut self, _: Instant, _: &mut Ports<'_>) {}
    }

    /// smoltcp answers a packet from inside the receive token's closure, through the paired
    /// transmit token: that must work, and the answer must go out on the link.
    #[test]
    fn reply_from_inside_receive() {
        let mut sim = Sim::new(0);
        let a = sim.add_node("a", Idle);
        let b = sim.add_node("b", Idle);
        let (pa, pb) = (sim.add_port(a), sim.add_port(b));
        let link = sim.connect(pa, pb, LinkParams::default()).unwrap();
        let (mut da, mut db) = (sim.device(pa), sim.device(pb));
        assert!(db.receive(Instant::ZERO).is_none());
        da.transmit(Instant::ZERO)
            .unwrap()
            .consume(4, |buf| buf.copy_from_slice(b"\x60req"));
        sim.run_until(Instant::from_millis(1));
        assert_eq!(db.pending(), 1);
        let (rx, tx) = db.receive(sim.now()).unwrap();
        let len = rx.consume(|frame| {
            tx.consume(frame.len() + 1, |out| {
                out[..frame.len()].copy_from_slice(frame);
                out[frame.len()] = b'!';
            });
            frame.len()
        });
        assert_eq!(len, 4);
        sim.run_until(Instant::from_millis(2));
        assert_eq!(da.recv(|f| f.to_vec()), Some(b"\x60req!".to_vec()));
        assert_eq!(da.recv(|f| f.to_vec()), None);
        let c = sim.link_counters(link);
        assert_eq!(
            (c.directions[0].delivered, c.directions[1].delivered),
            (1, 1)
        );
        assert_eq!(db.counters().rx_bytes, 4);
        assert_eq!(db.counters().tx_bytes, 5);
        assert_eq!(
            sim.counters().frame_pool,
            2,
            "the pool holds what was in flight at once"
        );
    }
}
