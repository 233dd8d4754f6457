//! The point-to-point host: smoltcp's `Interface` on `Medium::Ip`, made complete.
//!
//! [`Host`] owns a smoltcp [`Interface`] and the sans-IO parts smoltcp lacks on a link without
//! link-layer addresses, and is driven the way smoltcp is — [`Host::poll`] and
//! [`Host::poll_at`] — with the caller's clock, device, sockets and randomness:
//!
//! - the [receive filter](crate::filter): Router Advertisements go to [router
//!   discovery](crate::rd), MLD to the [MLD host](crate::mld); Neighbor Solicitations and
//!   Advertisements, Redirects and Router Solicitations are counted and dropped; smoltcp's own
//!   (inverted) MLD reports are withheld;
//! - router discovery: Router Solicitations at link-up, addresses from Prefix Information,
//!   default route, link MTU, lifetimes, applied to the smoltcp interface as they change;
//! - MLD: joins and leaves as correct MLDv2 state-change reports, answers to queries, MLDv1
//!   compatibility; the group is also joined in smoltcp so that it delivers the traffic;
//! - TCP and UDP checksums, unless the device offloads them: the filter verifies and fills
//!   them in smoltcp's place with [`checksum`](crate::checksum), about twice as fast as
//!   smoltcp's own ([`HostConfig::software_checksums`]).
//!
//! The host never sends Neighbor Solicitations, Neighbor Advertisements, ARP or duplicate
//! address detection probes: nothing on a point-to-point link needs resolving.
//!
//! ```
//! use bridgeless_iface::device::memory::{MemoryLink, MemoryLinkConfig, Side};
//! use bridgeless_iface::host::{Host, HostConfig};
//! use bridgeless_iface::rd::{self, StableIid};
//! use rand_core::{RngCore, impls};
//! use smoltcp::iface::{SocketSet, SocketStorage};
//! use smoltcp::time::{Duration, Instant};
//!
//! # struct Counter(u64);
//! # impl RngCore for Counter {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15); self.0 }
//! #     fn fill_bytes(&mut self, dst: &mut [u8]) { impls::fill_bytes_via_next(self, dst) }
//! # }
//! let mut rng = Counter(1);
//! let mut link = MemoryLink::<_, 8, 1500>::new(MemoryLinkConfig::default(), Counter(2));
//! let iid = StableIid::new([7; 32], b"ptp0").unwrap();
//! let config = HostConfig::new(rd::Config::new(iid, 1500), rng.next_u64());
//! let mut host = Host::new(config, &mut link.end(Side::A), Instant::ZERO);
//! host.link_up(Instant::ZERO, &mut rng);
//! let mut storage = [SocketStorage::EMPTY; 1];
//! let mut sockets = SocketSet::new(&mut storage[..]);
//! host.poll(Instant::ZERO, &mut link.end(Side::A), &mut sockets, &mut rng);
//! // A link-local address at once, without any link-layer address.
//! assert!(host.interface().ipv6_addr().unwrap().is_unicast_link_local());
//! ```

use rand_core::RngCore;
use smoltcp::iface::{Config, Interface, PollResult, Route, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, RxToken, TxToken};
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpCidr, IpEndpoint, Ipv6Address};

#[cfg(doc)]
use crate::filter::DropReason;
use crate::filter::{COMPRESSION_MAX_MTU, ControlKind, FilterCounters, ReceiveFilter};
use crate::mld::{self, MldError, MldHost};
use crate::negotiate::CompressionNegotiator;
use crate::rd::{self, Event, RouterDiscovery};

/// Room for one control packet (a Router Solicitation, an MLD report of at most the IPv6
/// minimum MTU).
const CONTROL_LEN: usize = 1280;

/// How a [`Host`] is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Router discovery and address formation (secret, interface name, link MTU, modes).
    pub rd: rd::Config,
    /// MLD timers and robustness.
    pub mld: mld::Config,
    /// Seed for smoltcp's own randomness (TCP initial sequence numbers, ephemeral ports):
    /// draw it from a good source.
    pub random_seed: u64,
    /// Offer compressed frames ([`crate::negotiate`]) to the peer. Off by default: a peer
    /// that does not speak the link hello (a Linux TUN device) receives and drops a few
    /// hellos at link-up. Compression is used only once the peer has agreed, and only on links
    /// whose MTU is at most [`COMPRESSION_MAX_MTU`].
    pub compression: bool,
    /// Compute the TCP and UDP checksums the device does not offload in the host's receive
    /// filter instead of in smoltcp ([`ReceiveFilter::offload_checksums`]): the same checks,
    /// the same drops (counted as [`DropReason::Checksum`]), about
    /// half the cost per packet. On by default. Turn it off if the final binary enables
    /// smoltcp's `proto-ipv4-fragmentation` and must receive fragmented IPv4 TCP or UDP.
    pub software_checksums: bool,
}

impl HostConfig {
    /// A configuration with default MLD settings.
    pub fn new(rd: rd::Config, random_seed: u64) -> HostConfig {
        let mld = mld::Config {
            mtu: rd.link_mtu as usize,
            ..mld::Config::default()
        };
        HostConfig {
            rd,
            mld,
            random_seed,
            compression: false,
            software_checksums: true,
        }
    }
}

/// What the host did beyond smoltcp, for the user to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Router discovery events applied to the smoltcp interface.
    pub events_applied: u64,
    /// Addresses router discovery formed that smoltcp's fixed address table
    /// (`IFACE_MAX_ADDR_COUNT`, 2 by default; raise it with `SMOLTCP_IFACE_MAX_ADDR_COUNT` in
    /// the final binary) could not hold: they are not used.
    pub addresses_not_installed: u64,
    /// Routes smoltcp's fixed route table could not hold.
    pub routes_not_installed: u64,
    /// Control packets (Router Solicitations, MLD reports) sent.
    pub control_sent: u64,
    /// Times a control packet had to wait because the device had no transmit token.
    pub control_deferred: u64,
    /// Times the smoltcp interface was rebuilt to take a new link MTU (see
    /// [`Host::interface_mut`]).
    pub interface_rebuilds: u64,
}

/// Why [`Host::send_udp`] refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The datagram does not fit the link MTU in one packet. smoltcp does not fragment IPv6
    /// and would drop it without a word; at most `max` payload bytes fit.
    TooBig {
        /// The largest UDP payload that fits.
        max: usize,
    },
    /// The socket refused it (buffer full, unaddressable endpoint).
    Socket(udp::SendError),
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::TooBig { max } => {
                write!(
                    f,
                    "datagram larger than the link allows ({max} payload bytes at most)"
                )
            }
            SendError::Socket(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for SendError {}

/// A host on a point-to-point link: smoltcp's [`Interface`] with router discovery, MLD and a
/// receive filter (see the module docs).
pub struct Host {
    iface: Interface,
    filter: ReceiveFilter,
    rd: RouterDiscovery,
    mld: MldHost,
    negotiator: Option<CompressionNegotiator>,
    counters: HostCounters,
    control: [u8; CONTROL_LEN],
    /// The earliest of the cores' `poll_timeout`s, kept current by every call that changes
    /// a core, so that a poll with nothing due skips them.
    deadline: Option<Instant>,
    /// A core was changed outside a poll (link up or down, join, leave): the next poll runs
    /// them whatever the deadline.
    dirty: bool,
    /// The link MTU changed since the smoltcp interface was built: rebuild it at the end of
    /// this poll, when the device is at hand.
    mtu_changed: bool,
}

/// A device that only reports capabilities, to build a smoltcp interface with the filtered
/// device's capabilities ([`Host::new`], and [`Host::rebuild_interface`] for a link whose MTU
/// changed): `Interface::new` reads nothing else.
struct CapabilitiesOnly(DeviceCapabilities);

impl Device for CapabilitiesOnly {
    type RxToken<'a> = NoToken;
    type TxToken<'a> = NoToken;

    fn receive(&mut self, _: Instant) -> Option<(NoToken, NoToken)> {
        None
    }

    fn transmit(&mut self, _: Instant) -> Option<NoToken> {
        None
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.0.clone()
    }
}

/// A smoltcp interface on `Medium::Ip` for a device with `caps` — the filtered device's
/// (the link MTU a Router Advertisement gave, the checksums the filter took over reported as
/// offloaded), since smoltcp reads capabilities only here.
fn smoltcp_interface(caps: DeviceCapabilities, seed: u64, now: Instant) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = seed;
    Interface::new(config, &mut CapabilitiesOnly(caps), now)
}

/// The tokens [`CapabilitiesOnly`] never hands out.
enum NoToken {}

impl RxToken for NoToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, _: F) -> R {
        match self {}
    }
}

impl TxToken for NoToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, _: usize, _: F) -> R {
        match self {}
    }
}

/// The interface identifier of an address: its low 64 bits.
fn iid(addr: Ipv6Address) -> [u8; 8] {
    let mut iid = [0u8; 8];
    iid.copy_from_slice(&addr.octets()[8..]);
    iid
}

impl Host {
    /// A host on `device` (which must be `Medium::Ip`). Its link-local address is formed at
    /// once; call [`link_up`](Self::link_up) to start soliciting routers.
    pub fn new<D: Device + ?Sized>(config: HostConfig, device: &mut D, now: Instant) -> Host {
        let caps = device.capabilities();
        let mtu = caps.max_transmission_unit;
        let mut filter = ReceiveFilter::new(mtu);
        if config.software_checksums {
            filter.offload_checksums(&caps.checksum);
        }
        let iface = smoltcp_interface(filter.capabilities(caps), config.random_seed, now);
        let compression = config.compression && mtu <= COMPRESSION_MAX_MTU;
        let mut host = Host {
            iface,
            filter,
            rd: RouterDiscovery::new(config.rd, now),
            mld: MldHost::new(config.mld),
            negotiator: None,
            counters: HostCounters::default(),
            control: [0; CONTROL_LEN],
            deadline: None,
            dirty: true,
            mtu_changed: false,
        };
        host.apply_events(now);
        let link_local = host.rd.link_local();
        let _ = host.mld.set_link_local(Some(link_local));
        if compression {
            host.negotiator = Some(CompressionNegotiator::new(iid(link_local)));
        }
        host.refresh_deadline();
        host
    }

    /// The link came up: solicit routers (RFC 4861 §6.3.7).
    pub fn link_up<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.rd.link_up(now, rng);
        if let Some(n) = &mut self.negotiator {
            n.link_up(now);
            self.filter.set_compression(None, None);
        }
        self.changed();
    }

    /// The host was attached to a different link (it walked to another access point): the
    /// old link's addresses, routes and default router are removed from the interface at
    /// once ([`RouterDiscovery::moved`]), a Router Solicitation goes out now, and the groups
    /// the host listens to are reported again to the new link's router (RFC 3810 §6.1 state
    /// change reports, as after a join), so that their traffic follows the host.
    pub fn moved<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.rd.moved(now);
        let mut groups = [Ipv6Address::UNSPECIFIED; mld::DEFAULT_CAPACITY];
        let mut count = 0;
        for (slot, group) in groups.iter_mut().zip(self.mld.groups()) {
            *slot = group;
            count += 1;
        }
        for &group in &groups[..count] {
            // Leave then join: the join's CHANGE_TO_EXCLUDE_MODE {} report is what a router
            // that never heard of us needs; no report of the leave reaches the new link.
            let _ = self.mld.leave(now, group, rng);
            let _ = self.mld.join(now, group, rng);
        }
        if let Some(n) = &mut self.negotiator {
            n.link_up(now);
            self.filter.set_compression(None, None);
        }
        self.apply_events(now);
        self.changed();
    }

    /// The link went down: stop soliciting; addresses run out on their own lifetimes.
    pub fn link_down(&mut self, now: Instant) {
        self.rd.link_down(now);
        self.changed();
    }

    /// Joins a multicast group: MLD reports it (CHANGE_TO_EXCLUDE_MODE {}, RFC 3810 §6.1) and
    /// smoltcp delivers its traffic to sockets.
    pub fn join_multicast_group<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        // smoltcp's group table first: a group MLD reports but smoltcp does not deliver would
        // draw the group's traffic to this link only to drop it.
        self.iface
            .join_multicast_group(group)
            .map_err(|_| MldError::TableFull)?;
        let joined = self.mld.join(now, group, rng);
        self.changed();
        if let Err(e) = joined {
            let _ = self.iface.leave_multicast_group(group);
            return Err(e);
        }
        Ok(())
    }

    /// Leaves a multicast group (CHANGE_TO_INCLUDE_MODE {}).
    pub fn leave_multicast_group<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        group: Ipv6Address,
        rng: &mut R,
    ) -> Result<(), MldError> {
        let left = self.mld.leave(now, group, rng);
        self.changed();
        left?;
        let _ = self.iface.leave_multicast_group(group);
        Ok(())
    }

    /// Runs everything that is due: timers, received frames (filtered), smoltcp's sockets,
    /// router discovery changes, and the control packets to send. Returns what smoltcp's
    /// `poll` returns.
    ///
    /// Router discovery, MLD and the compression negotiation run only when one of their
    /// timers is due, a control frame arrived, or a call since the last poll changed them:
    /// a poll that only moves data costs what smoltcp's own `poll` does, plus one look at
    /// each received frame.
    pub fn poll<D: Device, R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        sockets: &mut SocketSet<'_>,
        rng: &mut R,
    ) -> PollResult {
        let due = self.dirty || self.deadline.is_some_and(|t| t <= now);
        if due {
            self.rd.handle_timeout(now, rng);
            self.mld.handle_timeout(now);
        }
        let mut control = false;
        let Host {
            iface,
            filter,
            rd,
            mld,
            negotiator,
            ..
        } = self;
        let result = {
            let mut filtered = filter.device(device, |kind, now, frame: &[u8]| {
                control = true;
                match kind {
                    ControlKind::RouterAdvertisement => {
                        let _ = rd.handle_ra(now, frame, rng);
                    }
                    ControlKind::Mld => {
                        let _ = mld.handle_packet(now, frame, rng);
                    }
                    ControlKind::Hello => {
                        if let Some(n) = negotiator.as_mut() {
                            n.handle_hello(now, frame);
                        }
                    }
                }
            });
            iface.poll(now, &mut filtered, sockets)
        };
        if due || control {
            self.dirty = false;
            self.apply_events(now);
            if self.mtu_changed {
                self.rebuild_interface(now, device, rng.next_u64());
            }
            if let Some(n) = &self.negotiator {
                self.filter
                    .set_compression(n.compress_context(), n.decompress_context());
            }
            self.send_control(now, device);
            self.refresh_deadline();
        }
        result
    }

    /// When [`poll`](Self::poll) is next needed: the earliest of smoltcp's, router
    /// discovery's, MLD's and the negotiation's timers.
    pub fn poll_at(&mut self, now: Instant, sockets: &SocketSet<'_>) -> Option<Instant> {
        debug_assert_eq!(self.deadline, self.cores_timeout(), "stale deadline");
        let smoltcp = self.iface.poll_at(now, sockets);
        match (smoltcp, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest timer of router discovery, MLD and the negotiation.
    fn cores_timeout(&self) -> Option<Instant> {
        [
            self.rd.poll_timeout(),
            self.mld.poll_timeout(),
            self.negotiator.as_ref().and_then(|n| n.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Recomputes the cached deadline after a core changed.
    fn refresh_deadline(&mut self) {
        self.deadline = self.cores_timeout();
    }

    /// A core changed outside a poll: refresh the deadline and run the cores at the next poll.
    fn changed(&mut self) {
        self.dirty = true;
        self.refresh_deadline();
    }

    /// How long until [`poll`](Self::poll) is next needed, from `now`: zero when it is
    /// already due. (smoltcp reports "poll now" as an instant in the past, and subtracting
    /// instants gives an absolute difference, so `poll_at(now) - now` would be wrong.)
    pub fn poll_delay(&mut self, now: Instant, sockets: &SocketSet<'_>) -> Option<Duration> {
        self.poll_at(now, sockets)
            .map(|at| if at <= now { Duration::ZERO } else { at - now })
    }

    /// Sends the control packets that are due, one transmit token each. A packet is only
    /// taken from its state machine once a token is in hand, so none is lost.
    fn send_control<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        while due(self.rd.poll_timeout())
            || due(self.mld.poll_timeout())
            || due(self.negotiator.as_ref().and_then(|n| n.poll_timeout()))
        {
            let Some(token) = device.transmit(now) else {
                self.counters.control_deferred += 1;
                return;
            };
            let control = &mut self.control;
            let negotiator = &mut self.negotiator;
            let len = self
                .rd
                .poll_transmit(now, control)
                .or_else(|| self.mld.poll_transmit(now, control))
                .or_else(|| negotiator.as_mut()?.poll_transmit(now, control));
            let Some(len) = len else {
                return; // timers only, nothing to send
            };
            let packet = &self.control[..len];
            token.consume(len, |buf| buf.copy_from_slice(packet));
            self.counters.control_sent += 1;
        }
    }

    /// Applies router discovery's changes to the smoltcp interface.
    fn apply_events(&mut self, now: Instant) {
        while let Some(event) = self.rd.poll_event() {
            self.counters.events_applied += 1;
            match event {
                Event::AddressAdded { addr, .. } => {
                    let mut full = false;
                    self.iface.update_ip_addrs(|addrs| {
                        full = addrs.push(IpCidr::Ipv6(addr)).is_err();
                    });
                    if full {
                        self.counters.addresses_not_installed += 1;
                    }
                    if addr.address().is_unicast_link_local() {
                        let _ = self.mld.set_link_local(Some(addr.address()));
                        if let Some(n) = &mut self.negotiator {
                            // A new identifier: the peer's context is stale (re-negotiate).
                            n.set_own_iid(now, iid(addr.address()));
                        }
                    }
                }
                Event::AddressRemoved { addr } => self
                    .iface
                    .update_ip_addrs(|addrs| addrs.retain(|a| *a != IpCidr::Ipv6(addr))),
                // smoltcp has no deprecated state: connections using the address go on.
                Event::AddressDeprecated { .. } | Event::AddressPreferred { .. } => {}
                Event::DefaultRouter { router, .. } => {
                    if self
                        .iface
                        .routes_mut()
                        .add_default_ipv6_route(router)
                        .is_err()
                    {
                        self.counters.routes_not_installed += 1;
                    }
                }
                Event::DefaultRouterLost { .. } => {
                    self.iface.routes_mut().remove_default_ipv6_route();
                }
                Event::RouteAdded { cidr, router, .. } => {
                    let mut full = false;
                    self.iface.routes_mut().update(|routes| {
                        let route = Route {
                            cidr: cidr.into(),
                            via_router: router.into(),
                            preferred_until: None,
                            expires_at: None,
                        };
                        full = routes.push(route).is_err();
                    });
                    if full {
                        self.counters.routes_not_installed += 1;
                    }
                }
                Event::RouteRemoved { cidr, router } => self.iface.routes_mut().update(|routes| {
                    routes.retain(|r| r.cidr != cidr.into() || r.via_router != router.into())
                }),
                // The link MTU from the RA caps what smoltcp sends (RFC 4861 §6.3.4): the
                // filter reports it in the device's capabilities, which smoltcp reads only
                // when an interface is built.
                Event::MtuChanged(mtu) => {
                    self.filter.set_tx_mtu(Some(mtu as usize));
                    self.mtu_changed = true;
                }
                // Per-socket in smoltcp: read it from `router_discovery().hop_limit()`.
                Event::HopLimit(_) => {}
                Event::DnsServerAdded { .. } | Event::DnsServerRemoved { .. } => {}
            }
        }
    }

    /// Replaces the smoltcp interface by one built with the present link MTU, carrying over
    /// its addresses, routes, multicast groups and settings. smoltcp reads a device's MTU
    /// only in `Interface::new` and sizes every TCP segment and checks every packet by it;
    /// it keeps no connection state in the interface (that is in the sockets), so open
    /// connections go on, and their next segments fit the new MTU. `seed` seeds the new
    /// interface's generator (TCP initial sequence numbers, ports), so that it does not
    /// repeat the old one's.
    fn rebuild_interface<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D, seed: u64) {
        self.mtu_changed = false;
        let caps = self.filter.capabilities(device.capabilities());
        let mut iface = smoltcp_interface(caps, seed, now);
        let old = &mut self.iface;
        iface.update_ip_addrs(|addrs| {
            for a in old.ip_addrs() {
                let _ = addrs.push(*a); // the same capacity as the old table
            }
        });
        let mut routes = None;
        old.routes_mut().update(|r| routes = Some(r.clone()));
        if let Some(routes) = routes {
            iface.routes_mut().update(|r| *r = routes);
        }
        iface.set_any_ip(old.any_ip());
        for group in self.mld.groups() {
            // It fitted the old table, of the same capacity.
            let _ = iface.join_multicast_group(group);
        }
        self.iface = iface;
        self.counters.interface_rebuilds += 1;
    }

    /// The largest UDP payload one IPv6 packet carries on this link: the link MTU (the
    /// device's, or a lower one from a Router Advertisement) less the IPv6 and UDP headers.
    pub fn max_udp_payload(&self) -> usize {
        self.filter.tx_mtu().saturating_sub(40 + 8)
    }

    /// Sends `data` on the UDP socket `handle` to `endpoint`, refusing with
    /// [`SendError::TooBig`] a datagram that exceeds the link MTU: smoltcp does not fragment
    /// IPv6 and would drop it silently at transmission.
    pub fn send_udp(
        &self,
        sockets: &mut SocketSet<'_>,
        handle: SocketHandle,
        data: &[u8],
        endpoint: IpEndpoint,
    ) -> Result<(), SendError> {
        let max = self.max_udp_payload();
        if data.len() > max {
            return Err(SendError::TooBig { max });
        }
        sockets
            .get_mut::<udp::Socket<'_>>(handle)
            .send_slice(data, endpoint)
            .map_err(SendError::Socket)
    }

    /// The smoltcp interface (addresses, routes).
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The smoltcp interface, to change what router discovery does not manage.
    ///
    /// When a Router Advertisement changes the link MTU, the host replaces the interface by
    /// one built for the new MTU (smoltcp reads a device's MTU only when an interface is
    /// built), carrying over the addresses, routes, multicast groups and `any_ip`; open
    /// connections go on (see [`HostCounters::interface_rebuilds`]).
    /// Other changes made here (a hardware address on a medium that has one) would have to
    /// be made again.
    pub fn interface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// Router discovery: addresses, default router, routes, DNS servers, link MTU, counters.
    pub fn router_discovery(&self) -> &RouterDiscovery {
        &self.rd
    }

    /// The MLD host: groups, compatibility mode, counters.
    pub fn mld(&self) -> &MldHost {
        &self.mld
    }

    /// What the receive filter did with every frame, by reason.
    pub fn filter_counters(&self) -> FilterCounters {
        self.filter.counters()
    }

    /// The compression negotiation, when [`HostConfig::compression`] is on.
    pub fn negotiator(&self) -> Option<&CompressionNegotiator> {
        self.negotiator.as_ref()
    }

    /// What the host did beyond smoltcp.
    pub fn counters(&self) -> HostCounters {
        self.counters
    }
}
