//! The address tree: a router's prefix, the /64 of each of its host links, prefix delegation
//! down the tree and Router Advertisements, as one sans-IO control plane.
//!
//! A router holds one prefix of length `L`: the core is configured with it, every other router
//! requests one from its upstream neighbour by DHCPv6 prefix delegation (RFC 8415). It splits
//! the prefix into blocks of length `D = min(L + delegation_bits, 64)`:
//!
//! - block 0 is its own: downstream link `k` (counting downstream links only) gets the `k`-th
//!   /64 of block 0, announced by Router Advertisements, with the router at `::1` in it;
//! - blocks 1 and up are delegated to downstream routers that ask ([`PrefixDelegator`]); a
//!   delegated prefix is routed out of the link the request came from.
//!
//! The whole prefix is a reject route, so that an address of it that nobody was given is
//! answered with Destination Unreachable instead of following the default route back up. The
//! upstream link carries the default route, a stable address formed from the upstream
//! router's advertisement ([`RouterDiscovery`], RFC 7217) and the prefix-delegation client.

use std::collections::VecDeque;

use rand_core::RngCore;
use sha2::{Digest, Sha256};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::advertiser::{
    AdvertiserConfig, ConfigError, MAX_DNS_SERVERS, PrefixConfig, RouterAdvertiser,
};
use super::forward::{Forwarder, ForwarderConfig, LinkConfig, LinkId, Route};
use crate::mld::querier::MldVersion;
use crate::pd::{
    ClientConfig, ClientEvent, Duid, PrefixDelegator, PrefixRequester, ServerConfig, ServerEvent,
};
use crate::rd::{self, AddressKind, RouterDiscovery, StableIid};

/// What a router link is to the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRole {
    /// Towards the core: the default route, the prefix-delegation client. At most one.
    Upstream,
    /// Away from the core: a host link or a link to a downstream router, given a /64 and
    /// served Router Advertisements and prefix delegation.
    Downstream,
}

/// One link of a router built with [`RouterConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterLink {
    /// Upstream or downstream.
    pub role: LinkRole,
    /// The link MTU.
    pub mtu: usize,
}

/// How a router of the tree is set up. Only the core needs a prefix; every other router needs
/// nothing but its links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// The prefix this router holds (the core's, configured by hand); `None` to request one
    /// upstream.
    pub prefix: Option<Ipv6Cidr>,
    /// Bits added to the prefix length for each delegation down the tree: with 4, a /48 core
    /// delegates /52s, which delegate /56s, and so on down to /64.
    pub delegation_bits: u8,
    /// The secret of the router's stable identifiers (RFC 7217) and DHCP unique identifiers.
    pub secret: [u8; 32],
    /// The router's name: an input of its stable identifiers (at most 32 octets are used).
    pub name: String,
    /// The data plane's settings.
    pub forwarder: ForwarderConfig,
    /// MaxRtrAdvInterval of the Router Advertisements on downstream links (RFC 4861 §6.2.1);
    /// MinRtrAdvInterval and the router lifetime follow from it.
    pub ra_interval: Duration,
    /// Multicast routing: an MLD querier on every downstream link and MLD proxying upstream
    /// (RFC 4605), so that groups reach exactly the links with listeners. Without it no
    /// multicast packet beyond link scope is forwarded.
    pub multicast: bool,
    /// The MLD version of the queriers on the downstream links when `multicast` is on:
    /// [`MldVersion::V2`] (the default), or [`MldVersion::V1`] only where an MLDv1 router
    /// shares those links (RFC 3810 §8.3.1 has every router there configured for MLDv1).
    /// See [`mld::querier`](crate::mld::querier#mld-versions).
    pub mld_version: MldVersion,
    /// Recursive DNS servers announced on every downstream link (RDNSS, RFC 8106), at most
    /// [`MAX_DNS_SERVERS`]. A router also announces those its upstream link's advertisements
    /// announce (the configured ones first, up to the same bound), so only the core needs
    /// them: they travel down the tree as the prefixes do.
    pub dns_servers: Vec<Ipv6Address>,
}

impl RouterConfig {
    /// A router named `name` with secret `secret`, no prefix of its own, delegation by 4 bits,
    /// and Router Advertisements at most 10 minutes apart (the RFC 4861 default).
    pub fn new(name: &str, secret: [u8; 32]) -> RouterConfig {
        RouterConfig {
            prefix: None,
            delegation_bits: 4,
            secret,
            name: name.to_string(),
            forwarder: ForwarderConfig::default(),
            ra_interval: Duration::from_secs(600),
            multicast: true,
            mld_version: MldVersion::V2,
            dns_servers: Vec::new(),
        }
    }

    /// The same with `prefix`: the core of a tree.
    pub fn core(name: &str, secret: [u8; 32], prefix: Ipv6Cidr) -> RouterConfig {
        RouterConfig {
            prefix: Some(prefix),
            ..RouterConfig::new(name, secret)
        }
    }
}

/// Why a router could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// More than one upstream link.
    TwoUpstreams,
    /// Neither a prefix nor an upstream link to request one from.
    NoPrefix,
    /// A prefix longer than /64, or a Router Advertisement interval outside RFC 4861's.
    Config,
    /// The route table is too small for the links' addresses.
    TableFull,
    /// Multicast routing is on and there are more downstream links than
    /// [`MAX_MULTICAST_LINKS`](super::multicast::MAX_MULTICAST_LINKS).
    TooManyMulticastLinks,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BuildError::TwoUpstreams => "more than one upstream link",
            BuildError::NoPrefix => "no prefix and no upstream link to request one from",
            BuildError::Config => "invalid prefix length or advertisement interval",
            BuildError::TableFull => "route table too small for the links",
            BuildError::TooManyMulticastLinks => "too many downstream links for multicast routing",
        })
    }
}

impl std::error::Error for BuildError {}

/// Something the tree's control plane did, for logs and timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeEvent {
    /// The router holds `prefix` (configured, or delegated by its upstream router).
    PrefixAcquired {
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// The router lost its prefix (the delegation expired or was withdrawn).
    PrefixLost {
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// A downstream router on `link` was delegated `prefix`.
    Delegated {
        /// The link.
        link: LinkId,
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// A delegation ended (released or expired) and `prefix` is back in the pool.
    DelegationEnded {
        /// The link.
        link: LinkId,
        /// The prefix.
        prefix: Ipv6Cidr,
    },
    /// The router formed `address` on its upstream link from the upstream advertisement.
    UpstreamAddress {
        /// The address.
        address: Ipv6Address,
    },
    /// The pool of delegable prefixes is exhausted: a downstream router on `link` got none.
    PoolExhausted {
        /// The link.
        link: LinkId,
    },
}

impl core::fmt::Display for TreeEvent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TreeEvent::PrefixAcquired { prefix } => write!(f, "holds {prefix}"),
            TreeEvent::PrefixLost { prefix } => write!(f, "lost {prefix}"),
            TreeEvent::Delegated { link, prefix } => {
                write!(f, "delegated {prefix} on link {}", link.0)
            }
            TreeEvent::DelegationEnded { link, prefix } => {
                write!(f, "delegation of {prefix} on link {} ended", link.0)
            }
            TreeEvent::UpstreamAddress { address } => write!(f, "upstream address {address}"),
            TreeEvent::PoolExhausted { link } => {
                write!(f, "no prefix left for link {}", link.0)
            }
        }
    }
}

/// The link-local address of every downstream link: the router is the only other node there.
pub const DOWNSTREAM_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// The most events kept for [`Tree::poll_event`]; older ones are dropped first.
const MAX_EVENTS: usize = 64;

/// The tree's control plane; see the [module documentation](self).
#[derive(Debug)]
pub struct Tree {
    config: RouterConfig,
    roles: Vec<LinkRole>,
    upstream: Option<LinkId>,
    prefix: Option<Ipv6Cidr>,
    advertisers: Vec<Option<RouterAdvertiser>>,
    server: Option<PrefixDelegator>,
    client: Option<PrefixRequester>,
    rd: Option<RouterDiscovery>,
    events: VecDeque<TreeEvent>,
    started: bool,
    /// The DNS servers the downstream advertisers announce now.
    dns: Vec<Ipv6Address>,
}

/// A DHCP unique identifier derived from the router's secret, name and a role tag.
fn duid(config: &RouterConfig, tag: &[u8]) -> Duid {
    let mut hash = Sha256::new();
    hash.update(config.secret);
    hash.update(config.name.as_bytes());
    hash.update(tag);
    let digest = hash.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    Duid::uuid(uuid)
}

/// The `index`-th /64 inside `block`, if there is one.
fn nth_64(block: Ipv6Cidr, index: u64) -> Option<Ipv6Cidr> {
    let room = 64 - u32::from(block.prefix_len());
    if room < 64 && index >> room != 0 {
        return None;
    }
    let base = u128::from_be_bytes(block.address().octets());
    let addr = base | (u128::from(index) << 64);
    Some(Ipv6Cidr::new(Ipv6Address::from(addr.to_be_bytes()), 64))
}

/// The address `::1` of a /64.
fn router_address(link_prefix: Ipv6Cidr) -> Ipv6Address {
    let base = u128::from_be_bytes(link_prefix.address().octets());
    Ipv6Address::from((base | 1).to_be_bytes())
}

impl Tree {
    /// A control plane for `links` and the forwarder that goes with it (links added, local
    /// and default routes installed).
    pub fn build(
        config: RouterConfig,
        links: &[RouterLink],
        now: Instant,
    ) -> Result<(Tree, Forwarder), BuildError> {
        let upstreams = links
            .iter()
            .filter(|l| l.role == LinkRole::Upstream)
            .count();
        if upstreams > 1 {
            return Err(BuildError::TwoUpstreams);
        }
        if upstreams == 0 && config.prefix.is_none() {
            return Err(BuildError::NoPrefix);
        }
        if config.prefix.is_some_and(|p| p.prefix_len() > 64) {
            return Err(BuildError::Config);
        }
        let mut forwarder = Forwarder::new(config.forwarder);
        let mut tree = Tree {
            roles: links.iter().map(|l| l.role).collect(),
            upstream: None,
            prefix: None,
            advertisers: Vec::with_capacity(links.len()),
            server: None,
            client: None,
            rd: None,
            events: VecDeque::new(),
            started: false,
            dns: Vec::new(),
            config,
        };
        if tree.config.dns_servers.len() > MAX_DNS_SERVERS {
            return Err(BuildError::Config);
        }
        for (i, link) in links.iter().enumerate() {
            let id = LinkId(u16::try_from(i).map_err(|_| BuildError::Config)?);
            let link_local = match link.role {
                LinkRole::Upstream => {
                    let name = tree.config.name.as_bytes();
                    let iid = StableIid::new(tree.config.secret, &name[..name.len().min(32)])
                        .ok_or(BuildError::Config)?;
                    let rd = RouterDiscovery::new(rd::Config::new(iid, link.mtu as u32), now);
                    let link_local = rd.link_local();
                    tree.rd = Some(rd);
                    tree.upstream = Some(id);
                    tree.client = Some(PrefixRequester::new(ClientConfig::new(
                        duid(&tree.config, b"client"),
                        1,
                    )));
                    link_local
                }
                LinkRole::Downstream => DOWNSTREAM_LINK_LOCAL,
            };
            forwarder
                .add_link(LinkConfig {
                    mtu: link.mtu,
                    link_local,
                    address: None,
                })
                .map_err(|_| BuildError::TableFull)?;
            tree.advertisers.push(match link.role {
                LinkRole::Upstream => None,
                LinkRole::Downstream => {
                    let mut ra = AdvertiserConfig::new(link_local)
                        .with_max_interval(tree.config.ra_interval);
                    ra.link_mtu = Some(link.mtu as u32);
                    ra.validate().map_err(|_| BuildError::Config)?;
                    Some(RouterAdvertiser::new(ra, now).map_err(|_| BuildError::Config)?)
                }
            });
        }
        if let Some(up) = tree.upstream {
            let default = Ipv6Cidr::new(Ipv6Address::UNSPECIFIED, 0);
            forwarder
                .routes_mut()
                .insert(default, Route::Link(up))
                .map_err(|_| BuildError::TableFull)?;
        }
        if let Some(prefix) = tree.config.prefix {
            tree.acquire(now, prefix, None, &mut forwarder);
        }
        tree.sync_dns(now).map_err(|_| BuildError::Config)?;
        Ok((tree, forwarder))
    }

    /// The prefix the router holds.
    pub fn prefix(&self) -> Option<Ipv6Cidr> {
        self.prefix
    }

    /// The upstream link.
    pub fn upstream(&self) -> Option<LinkId> {
        self.upstream
    }

    /// What `link` is.
    pub fn role(&self, link: LinkId) -> Option<LinkRole> {
        self.roles.get(link.index()).copied()
    }

    /// The /64 announced on a downstream link.
    pub fn link_prefix(&self, link: LinkId) -> Option<Ipv6Cidr> {
        let prefix = self.prefix?;
        if self.role(link)? != LinkRole::Downstream {
            return None;
        }
        let k = self.roles[..link.index()]
            .iter()
            .filter(|r| **r == LinkRole::Downstream)
            .count();
        nth_64(self.own_block(prefix), k as u64)
    }

    /// The Router Advertisement sender of a downstream link.
    pub fn advertiser(&self, link: LinkId) -> Option<&RouterAdvertiser> {
        self.advertisers.get(link.index())?.as_ref()
    }

    /// The prefix-delegation server (once the router holds a prefix it can split).
    pub fn delegator(&self) -> Option<&PrefixDelegator> {
        self.server.as_ref()
    }

    /// The prefix-delegation client of the upstream link.
    pub fn requester(&self) -> Option<&PrefixRequester> {
        self.client.as_ref()
    }

    /// Router discovery on the upstream link.
    pub fn router_discovery(&self) -> Option<&RouterDiscovery> {
        self.rd.as_ref()
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<TreeEvent> {
        self.events.pop_front()
    }

    fn event(&mut self, event: TreeEvent) {
        log::info!("router {}: {event:?}", self.config.name);
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The length of the blocks the prefix is split into.
    fn delegated_len(&self, prefix: Ipv6Cidr) -> u8 {
        prefix
            .prefix_len()
            .saturating_add(self.config.delegation_bits)
            .min(64)
    }

    /// Block 0: the router's own links.
    fn own_block(&self, prefix: Ipv6Cidr) -> Ipv6Cidr {
        Ipv6Cidr::new(prefix.address(), self.delegated_len(prefix))
    }

    /// Starts using `prefix`: link prefixes, addresses, routes, advertisements, delegation.
    fn acquire(
        &mut self,
        now: Instant,
        prefix: Ipv6Cidr,
        lifetimes: Option<(Instant, Instant)>,
        forwarder: &mut Forwarder,
    ) {
        if self.prefix == Some(prefix) {
            self.refresh(now, lifetimes);
            return;
        }
        if let Some(old) = self.prefix {
            self.release(now, old, forwarder);
        }
        self.prefix = Some(prefix);
        let _ = forwarder.routes_mut().insert(prefix, Route::Reject);
        let mut source = None;
        for i in 0..self.roles.len() {
            let link = LinkId(i as u16);
            let Some(link_prefix) = self.link_prefix(link) else {
                continue;
            };
            let address = router_address(link_prefix);
            source.get_or_insert(address);
            let _ = forwarder.set_link_address(link, Some(address));
            let _ = forwarder
                .routes_mut()
                .insert(link_prefix, Route::Link(link));
            if let Some(ra) = self.advertisers[i].as_mut() {
                let _ = ra.add_prefix(now, prefix_config(link_prefix, lifetimes));
            }
        }
        if forwarder.link(LinkId(0)).is_some() {
            forwarder.set_source(source);
        }
        let delegated = self.delegated_len(prefix);
        if delegated > prefix.prefix_len() {
            let config = ServerConfig::new(prefix, delegated, duid(&self.config, b"server"));
            match PrefixDelegator::new(config) {
                Ok(server) => self.server = Some(server),
                Err(e) => log::warn!("router {}: no delegation: {e:?}", self.config.name),
            }
        }
        self.event(TreeEvent::PrefixAcquired { prefix });
    }

    /// New lifetimes for the prefix held: advertised lifetimes follow.
    fn refresh(&mut self, now: Instant, lifetimes: Option<(Instant, Instant)>) {
        for i in 0..self.roles.len() {
            if let (Some(link_prefix), Some(ra)) = (
                self.link_prefix(LinkId(i as u16)),
                self.advertisers[i].as_mut(),
            ) {
                let _ = ra.add_prefix(now, prefix_config(link_prefix, lifetimes));
            }
        }
    }

    /// Stops using `prefix`: its link prefixes are deprecated, its routes removed.
    fn release(&mut self, now: Instant, prefix: Ipv6Cidr, forwarder: &mut Forwarder) {
        for i in 0..self.roles.len() {
            let link = LinkId(i as u16);
            if let Some(link_prefix) = self.link_prefix(link) {
                forwarder.routes_mut().remove(link_prefix);
                let _ = forwarder.set_link_address(link, None);
                if let Some(ra) = self.advertisers[i].as_mut() {
                    ra.remove_prefix(now, link_prefix);
                }
            }
        }
        if let Some(server) = self.server.take() {
            for lease in server.leases() {
                forwarder.routes_mut().remove(lease.prefix);
            }
        }
        forwarder.routes_mut().remove(prefix);
        self.prefix = None;
        self.event(TreeEvent::PrefixLost { prefix });
    }

    /// Starts the protocols: solicitation and prefix request upstream.
    fn start<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(rd) = self.rd.as_mut() {
            rd.link_up(now, rng);
        }
        if let Some(client) = self.client.as_mut() {
            client.start(now, rng);
        }
    }

    /// Leaves the tree: final Router Advertisements with router lifetime 0 on every
    /// downstream link (RFC 4861 §6.2.5), and the delegated prefix released upstream
    /// (RFC 8415 §18.2.7), so that nobody keeps routing through a router that is gone.
    pub(super) fn shutdown<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        for ra in self.advertisers.iter_mut().flatten() {
            ra.shutdown(now);
        }
        if let Some(client) = self.client.as_mut()
            && client.prefix().is_some()
        {
            client.release(now, rng);
        }
    }

    /// A Router Solicitation or Advertisement for the router (whole IPv6 packet).
    pub(super) fn handle_nd<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        packet: &[u8],
        rng: &mut R,
        forwarder: &mut Forwarder,
    ) -> bool {
        self.start(now, rng);
        if Some(link) == self.upstream {
            let Some(rd) = self.rd.as_mut() else {
                return false;
            };
            let handled = rd.handle_ra(now, packet, rng).is_ok();
            self.upstream_address(forwarder);
            let _ = self.sync_dns(now); // learnt servers were checked by router discovery
            handled
        } else if let Some(Some(ra)) = self.advertisers.get_mut(link.index()) {
            ra.handle_packet(now, packet, rng).is_ok()
        } else {
            false
        }
    }

    /// Gives the upstream link the stable address router discovery formed.
    fn upstream_address(&mut self, forwarder: &mut Forwarder) {
        let (Some(up), Some(rd)) = (self.upstream, self.rd.as_ref()) else {
            return;
        };
        let address = rd
            .addresses()
            .find(|a| a.kind == AddressKind::Stable && !a.deprecated)
            .map(|a| a.cidr.address());
        let current = forwarder.link(up).and_then(|l| l.address);
        if address != current {
            let _ = forwarder.set_link_address(up, address);
            if let Some(address) = address {
                self.event(TreeEvent::UpstreamAddress { address });
            }
        }
    }

    /// A DHCPv6 message from `src` on `link` to UDP `port` (546 or 547): its UDP payload.
    pub(super) fn handle_dhcp<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        (src, port, payload): (Ipv6Address, u16, &[u8]),
        rng: &mut R,
        forwarder: &mut Forwarder,
    ) -> bool {
        self.start(now, rng);
        let handled = match port {
            bridgeless_wire::dhcpv6::SERVER_PORT if Some(link) != self.upstream => {
                match self.server.as_mut() {
                    Some(server) => server.handle(now, link.index(), src, payload).is_ok(),
                    None => false,
                }
            }
            bridgeless_wire::dhcpv6::CLIENT_PORT if Some(link) == self.upstream => {
                match self.client.as_mut() {
                    Some(client) => {
                        client.handle(now, src, payload, rng);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        self.process_events(now, forwarder);
        handled
    }

    /// The earliest time a protocol of the tree needs its timers served
    /// ([`Router::handle_timeout`](super::Router::handle_timeout)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return Some(Instant::ZERO);
        }
        let advertisers = self.advertisers.iter().flatten().map(|a| a.poll_timeout());
        advertisers
            .chain([
                self.server.as_ref().and_then(|s| s.poll_timeout()),
                self.client.as_ref().and_then(|c| c.poll_timeout()),
                self.rd.as_ref().and_then(|r| r.poll_timeout()),
            ])
            .flatten()
            .min()
    }

    /// Serves every timer that is due.
    pub(super) fn handle_timeout<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        forwarder: &mut Forwarder,
    ) {
        self.start(now, rng);
        for ra in self.advertisers.iter_mut().flatten() {
            if ra.poll_timeout().is_some_and(|t| t <= now) {
                ra.handle_timeout(now, rng);
            }
        }
        if let Some(server) = self.server.as_mut() {
            server.handle_timeout(now);
        }
        if let Some(client) = self.client.as_mut() {
            client.handle_timeout(now, rng);
        }
        if let Some(rd) = self.rd.as_mut() {
            rd.handle_timeout(now, rng);
        }
        self.upstream_address(forwarder);
        let _ = self.sync_dns(now);
        self.process_events(now, forwarder);
    }

    /// Announces on every downstream link the configured DNS servers and those the upstream
    /// link's advertisements announce (whose expiry router discovery tracks), when that set
    /// changed. Their lifetime in our advertisements is three times the interval between
    /// them, as RFC 8106 §5.1 recommends; a server that leaves the set is withdrawn.
    fn sync_dns(&mut self, now: Instant) -> Result<(), ConfigError> {
        // Built on the stack: this runs at every timer, and the set rarely changes.
        let mut set = [Ipv6Address::UNSPECIFIED; MAX_DNS_SERVERS];
        let mut n = 0;
        let configured = self.config.dns_servers.iter().copied();
        let learnt = (self.rd.iter().flat_map(|rd| rd.dns_servers()))
            .map(|d| d.addr)
            .filter(|a| !(a.is_unspecified() || a.is_loopback() || a.is_multicast()));
        for addr in configured.chain(learnt) {
            if n < MAX_DNS_SERVERS && !set[..n].contains(&addr) {
                set[n] = addr;
                n += 1;
            }
        }
        let servers = &set[..n];
        if servers == self.dns.as_slice() {
            return Ok(());
        }
        let lifetime = u32::try_from(3 * self.config.ra_interval.secs()).unwrap_or(u32::MAX);
        for ra in self.advertisers.iter_mut().flatten() {
            ra.set_dns_servers(now, servers, lifetime)?;
        }
        self.dns = servers.to_vec();
        Ok(())
    }

    /// Acts on what the delegation server and client report.
    fn process_events(&mut self, now: Instant, forwarder: &mut Forwarder) {
        while let Some(event) = self.client.as_mut().and_then(|c| c.poll_event()) {
            match event {
                ClientEvent::Bound {
                    prefix,
                    preferred_until,
                    valid_until,
                }
                | ClientEvent::Renewed {
                    prefix,
                    preferred_until,
                    valid_until,
                } => self.acquire(now, prefix, Some((preferred_until, valid_until)), forwarder),
                ClientEvent::Lost { prefix, .. } => {
                    if self.prefix == Some(prefix) {
                        self.release(now, prefix, forwarder);
                    }
                }
            }
        }
        while let Some(event) = self.server.as_mut().and_then(|s| s.poll_event()) {
            match event {
                ServerEvent::Delegated { link, prefix, .. } => {
                    let link = LinkId(link as u16);
                    let _ = forwarder.routes_mut().insert(prefix, Route::Link(link));
                    self.event(TreeEvent::Delegated { link, prefix });
                }
                ServerEvent::Renewed { .. } => {}
                ServerEvent::Released { link, prefix } | ServerEvent::Expired { link, prefix } => {
                    // Back to the reject route of the whole prefix.
                    forwarder.routes_mut().remove(prefix);
                    let link = LinkId(link as u16);
                    self.event(TreeEvent::DelegationEnded { link, prefix });
                }
                ServerEvent::PoolExhausted { link, .. } => {
                    self.event(TreeEvent::PoolExhausted {
                        link: LinkId(link as u16),
                    });
                }
            }
        }
    }

    /// Writes the next control packet due into `buf` (a whole IPv6 packet) and says which link
    /// it goes out of. `scratch` holds DHCPv6 payloads on their way into UDP.
    pub(super) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        scratch: &mut [u8],
        forwarder: &Forwarder,
    ) -> Option<(LinkId, usize)> {
        if !self.started {
            return None;
        }
        for (i, ra) in self.advertisers.iter_mut().enumerate() {
            if let Some(len) = ra.as_mut().and_then(|ra| ra.poll_transmit(now, buf)) {
                return Some((LinkId(i as u16), len));
            }
        }
        if let (Some(up), Some(rd)) = (self.upstream, self.rd.as_mut())
            && let Some(len) = rd.poll_transmit(now, buf)
        {
            return Some((up, len));
        }
        if let Some(t) = self
            .server
            .as_mut()
            .and_then(|s| s.poll_transmit(now, scratch))
        {
            let link = LinkId(t.link as u16);
            let src = forwarder.link(link)?.link_local;
            let len = udp(
                src,
                t.dst,
                bridgeless_wire::dhcpv6::SERVER_PORT,
                bridgeless_wire::dhcpv6::CLIENT_PORT,
                &scratch[..t.len],
                buf,
            )?;
            return Some((link, len));
        }
        if let (Some(up), Some(client)) = (self.upstream, self.client.as_mut())
            && let Some(n) = client.poll_transmit(now, scratch)
        {
            let src = forwarder.link(up)?.link_local;
            let len = udp(
                src,
                bridgeless_wire::dhcpv6::ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
                bridgeless_wire::dhcpv6::CLIENT_PORT,
                bridgeless_wire::dhcpv6::SERVER_PORT,
                &scratch[..n],
                buf,
            )?;
            return Some((up, len));
        }
        None
    }
}

/// The Router Advertisement entry of a link prefix: with the delegation's lifetimes when the
/// router's prefix was delegated, the RFC 4861 defaults when it was configured.
fn prefix_config(link_prefix: Ipv6Cidr, lifetimes: Option<(Instant, Instant)>) -> PrefixConfig {
    match lifetimes {
        Some((preferred, valid)) => PrefixConfig::delegated(link_prefix, preferred, valid),
        None => PrefixConfig::new(link_prefix),
    }
}

/// An IPv6/UDP packet from `src` to `dst` (hop limit 255 on the link, as DHCPv6 messages to
/// link-scoped addresses never leave it).
fn udp(
    src: Ipv6Address,
    dst: Ipv6Address,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    buf: &mut [u8],
) -> Option<usize> {
    let header = bridgeless_wire::frame::Ipv6Header {
        src,
        dst,
        next_header: smoltcp::wire::IpProtocol::Udp,
        payload_len: 0,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    bridgeless_wire::frame::emit_udp_v6(&header, src_port, dst_port, payload, buf).ok()
}
