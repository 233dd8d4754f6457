//! Multicast instead of broadcast: the router's MLD proxy (RFC 4605) mapped onto its links.
//!
//! Every downstream link has an MLD querier (RFC 3810 §7) that tracks its listeners per group
//! and source: MLDv2 with MLDv1 compatibility per group, or MLDv1 where the router is
//! configured for it ([`RouterConfig::mld_version`](super::tree::RouterConfig::mld_version),
//! RFC 3810 §8.3.1); the upstream link has an MLD host that
//! reports the merged memberships of the whole subtree, so the router above forwards a group
//! down this branch only if someone below listens. A multicast packet is copied to exactly the
//! links whose listeners want it (plus upstream when it came from below); link-scope and
//! smaller groups never leave their link, and nothing is ever flooded.

use rand_core::RngCore;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

use super::forward::LinkId;
use super::tree::{BuildError, LinkRole};
use crate::mld::proxy::{Link, LinkConfig, MldProxy, NotForwarded};
use crate::mld::querier::{MldVersion, QuerierConfig};
use crate::mld::{Config as HostConfig, MIN_MTU};

/// The most downstream links whose multicast a router serves.
pub const MAX_MULTICAST_LINKS: usize = crate::mld::proxy::MAX_DOWNSTREAM;
/// Groups each link's querier tracks.
pub const MAX_GROUPS: usize = 32;
/// Sources tracked per group.
pub const MAX_SOURCES: usize = 8;

/// The router's MLD proxy type.
pub type RouterMldProxy = MldProxy<MAX_GROUPS, MAX_SOURCES>;

/// The proxy and the mapping between router links and proxy links.
#[derive(Debug)]
pub(super) struct Multicast {
    proxy: RouterMldProxy,
    /// Router link index → proxy link.
    to_proxy: Vec<Link>,
    /// Proxy downstream index → router link.
    downstream: Vec<LinkId>,
    upstream: Option<LinkId>,
}

impl Multicast {
    /// A proxy for links of these roles, link-local addresses and MTUs, whose downstream
    /// queriers run MLD version `version`.
    pub(super) fn new(
        links: &[(LinkRole, Ipv6Address, usize)],
        version: MldVersion,
        now: Instant,
    ) -> Result<Multicast, BuildError> {
        let mut to_proxy = Vec::with_capacity(links.len());
        let mut downstream = Vec::new();
        let mut configs = Vec::new();
        let mut upstream = None;
        let mut upstream_config = None;
        let mut mtu = usize::MAX;
        for (i, &(role, link_local, link_mtu)) in links.iter().enumerate() {
            let id = LinkId(i as u16);
            mtu = mtu.min(link_mtu);
            match role {
                LinkRole::Upstream => {
                    upstream = Some(id);
                    upstream_config = Some(LinkConfig::new(link_local));
                    to_proxy.push(Link::Upstream);
                }
                LinkRole::Downstream => {
                    to_proxy.push(Link::Downstream(downstream.len()));
                    downstream.push(id);
                    configs.push(LinkConfig::new(link_local));
                }
            }
        }
        if downstream.len() > MAX_MULTICAST_LINKS {
            return Err(BuildError::TooManyMulticastLinks);
        }
        let mtu = mtu.clamp(MIN_MTU, 9000);
        let querier = QuerierConfig {
            version,
            mtu,
            ..QuerierConfig::default()
        };
        let host = HostConfig {
            mtu,
            ..HostConfig::default()
        };
        let proxy = RouterMldProxy::new(querier, host, upstream_config, &configs, now)
            .map_err(|_| BuildError::Config)?;
        Ok(Multicast {
            proxy,
            to_proxy,
            downstream,
            upstream,
        })
    }

    /// The proxy, for its counters and membership state.
    pub(super) fn proxy(&self) -> &RouterMldProxy {
        &self.proxy
    }

    fn proxy_link(&self, link: LinkId) -> Option<Link> {
        self.to_proxy.get(link.index()).copied()
    }

    fn router_link(&self, link: Link) -> Option<LinkId> {
        match link {
            Link::Upstream => self.upstream,
            Link::Downstream(n) => self.downstream.get(n).copied(),
        }
    }

    /// An MLD message (whole IPv6 packet) received on `link`.
    pub(super) fn handle_mld<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        link: LinkId,
        packet: &[u8],
        rng: &mut R,
    ) -> bool {
        let Some(link) = self.proxy_link(link) else {
            return false;
        };
        !matches!(
            self.proxy.handle_packet(now, link, packet, rng),
            crate::mld::proxy::ProxyHandled::UnknownLink
        )
    }

    /// The links a packet from `source` to `group` that arrived on `in_link` goes out of,
    /// written into `out` (cleared first).
    pub(super) fn forward(
        &mut self,
        in_link: LinkId,
        group: &Ipv6Address,
        source: &Ipv6Address,
        out: &mut Vec<LinkId>,
    ) -> Result<(), NotForwarded> {
        out.clear();
        let link = self.proxy_link(in_link).ok_or(NotForwarded::UnknownLink)?;
        let set = self.proxy.forward(link, group, source)?;
        out.extend(set.iter().filter_map(|l| self.router_link(l)));
        Ok(())
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.proxy.poll_timeout()
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        self.proxy.handle_timeout(now);
    }

    pub(super) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(LinkId, usize)> {
        let (link, len) = self.proxy.poll_transmit(now, buf)?;
        Some((self.router_link(link)?, len))
    }
}
