//! Router discovery and stateless address autoconfiguration as a host on a point-to-point
//! link, as a sans-IO state machine: [`RouterDiscovery`].
//!
//! smoltcp's `Medium::Ip` interface drops every Router Advertisement, and its
//! `proto-ipv6-slaac` feature needs Ethernet or 802.15.4. This module does what a host needs
//! on a link that carries bare IP packets and has no link-layer addresses:
//!
//! - a **link-local address** `fe80::/64` + a stable interface identifier (RFC 7217 with the
//!   link-local prefix as `Prefix`, as RFC 8064 §3 recommends for every stable address), or one
//!   the caller gives, available at once;
//! - **Router Solicitations** at link-up with the timing of RFC 4861 §6.3.7 (a random delay
//!   of up to [`MAX_RTR_SOLICITATION_DELAY`], then up to [`MAX_RTR_SOLICITATIONS`] at
//!   [`RTR_SOLICITATION_INTERVAL`], none once an advertisement names a default router), and
//!   optionally the exponential backoff of RFC 7559 after that;
//! - **Router Advertisements** (RFC 4861 §6.3.4): default router and its lifetime, hop
//!   limit, reachable time and retransmission timer, link MTU; Prefix Information forms
//!   addresses (RFC 4862 §5.5.3, two-hour rule included) with stable identifiers (RFC 7217)
//!   and/or temporary ones (RFC 8981); Route Information (RFC 4191) and RDNSS (RFC 8106)
//!   are kept with their lifetimes. Lifetimes run out in the caller's time: addresses are
//!   deprecated, then removed; routers, routes and DNS servers are removed.
//!
//! # No duplicate address detection
//!
//! Addresses are used as soon as they are formed, without DAD (RFC 4862 §5.4). DAD sends
//! Neighbor Solicitations and listens for answers, which needs neighbor discovery; a link
//! without link-layer addresses has none, and smoltcp's `Medium::Ip` drops ND anyway. On a
//! point-to-point link the only other node is the peer, the router: a clash needs the router
//! to hold the very address our 64-bit identifier names, which for an identifier from
//! HMAC-SHA256 or a random number happens with probability about 2^-64 per address. The
//! trade-off: a router configured by hand with exactly that address would not be detected
//! (Linux makes the same choice on `NOARP` TUN devices, which send no DAD). RFC 4862 §5.4
//! allows `DupAddrDetectTransmits` = 0.
//!
//! # Driving it
//!
//! The caller owns the clock, the randomness and the link:
//!
//! 1. [`RouterDiscovery::new`], then [`link_up`](RouterDiscovery::link_up) when the link comes
//!    up (and [`link_down`](RouterDiscovery::link_down) when it goes down);
//! 2. every received ICMPv6 packet of type 133 to 137 goes, whole (IPv6 header first), to
//!    [`handle_ra`](RouterDiscovery::handle_ra);
//! 3. [`poll_transmit`](RouterDiscovery::poll_transmit) until `None`, sending each packet;
//! 4. sleep until [`poll_timeout`](RouterDiscovery::poll_timeout), then
//!    [`handle_timeout`](RouterDiscovery::handle_timeout);
//! 5. after each of these, [`poll_event`](RouterDiscovery::poll_event) until `None`, and apply
//!    each [`Event`] to the interface.
//!
//! Events report changes only: a refreshed lifetime is not an event, since this state
//! machine removes what expires and says so. Hand no expiry times to smoltcp.
//!
//! # Applying the events to smoltcp
//!
//! ```
//! use bridgeless_iface::rd::Event;
//! use smoltcp::iface::{Interface, Route};
//! use smoltcp::wire::IpCidr;
//!
//! /// What the host interface does with each event; `mtu` and `hop_limit` are read by
//! /// whatever builds packets and sockets.
//! fn apply(iface: &mut Interface, mtu: &mut u32, hop_limit: &mut u8, event: Event) {
//!     match event {
//!         Event::AddressAdded { addr, .. } => iface.update_ip_addrs(|addrs| {
//!             // smoltcp's table is fixed (IFACE_MAX_ADDR_COUNT); when it is full the
//!             // address cannot be used: log it.
//!             let _ = addrs.push(IpCidr::Ipv6(addr));
//!         }),
//!         Event::AddressRemoved { addr } => {
//!             iface.update_ip_addrs(|addrs| addrs.retain(|a| *a != IpCidr::Ipv6(addr)))
//!         }
//!         // smoltcp has no deprecated state: keep the address so that connections using it
//!         // go on, and prefer other addresses when opening new ones.
//!         Event::AddressDeprecated { .. } | Event::AddressPreferred { .. } => {}
//!         Event::DefaultRouter { router, .. } => {
//!             let _ = iface.routes_mut().add_default_ipv6_route(router);
//!         }
//!         Event::DefaultRouterLost { .. } => {
//!             iface.routes_mut().remove_default_ipv6_route();
//!         }
//!         Event::RouteAdded { cidr, router, .. } => iface.routes_mut().update(|routes| {
//!             let route = Route {
//!                 cidr: cidr.into(),
//!                 via_router: router.into(),
//!                 preferred_until: None,
//!                 expires_at: None,
//!             };
//!             let _ = routes.push(route);
//!         }),
//!         Event::RouteRemoved { cidr, router } => iface.routes_mut().update(|routes| {
//!             routes.retain(|r| r.cidr != cidr.into() || r.via_router != router.into())
//!         }),
//!         Event::MtuChanged(new) => *mtu = new,
//!         Event::HopLimit(new) => *hop_limit = new, // for sockets' `set_hop_limit`
//!         // Hand these to the resolver.
//!         Event::DnsServerAdded { .. } | Event::DnsServerRemoved { .. } => {}
//!     }
//! }
//! ```
//!
//! The getters ([`addresses`](RouterDiscovery::addresses),
//! [`default_router`](RouterDiscovery::default_router), [`routes`](RouterDiscovery::routes),
//! [`dns_servers`](RouterDiscovery::dns_servers), [`mtu`](RouterDiscovery::mtu)) give the
//! whole state, for a caller that would rather resynchronise than apply changes, or that
//! lost events ([`Counters::events_dropped`]).

mod iid;
mod process;
mod table;
#[cfg(test)]
mod tests;

use bridgeless_wire::ndp::{
    self, NdpKind, NdpRepr, Preference, RouterSolicitationRepr, ValidationError,
};
use log::{debug, trace};
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

pub use iid::{IDGEN_RETRIES, MAX_NET_IFACE_LEN, StableIid, is_reserved_iid};
use table::{Queue, Table};

/// RFC 4861 §10: the first solicitation waits a random time up to this long (§6.3.7).
pub const MAX_RTR_SOLICITATION_DELAY: Duration = Duration::from_secs(1);
/// RFC 4861 §10: time between solicitations.
pub const RTR_SOLICITATION_INTERVAL: Duration = Duration::from_secs(4);
/// RFC 4861 §10: solicitations sent at link-up before giving up (or backing off).
pub const MAX_RTR_SOLICITATIONS: u32 = 3;
/// RFC 7559 §2: the longest time between backed-off solicitations.
pub const MAX_RTR_SOLICITATION_INTERVAL: Duration = Duration::from_secs(3600);
/// RFC 8981 §3.8: the longest valid lifetime of a temporary address (2 days).
pub const TEMP_VALID_LIFETIME: Duration = Duration::from_secs(2 * 86_400);
/// RFC 8981 §3.8: the longest preferred lifetime of a temporary address (1 day).
pub const TEMP_PREFERRED_LIFETIME: Duration = Duration::from_secs(86_400);
/// RFC 8981 §3.8: how long before a temporary address is deprecated its successor is made:
/// `2 + TEMP_IDGEN_RETRIES * DupAddrDetectTransmits * RetransTimer / 1000` seconds, which is
/// 2 s here since no DAD is done.
pub const REGEN_ADVANCE: Duration = Duration::from_secs(2);
/// RFC 8981 §3.8: the largest random amount taken off a temporary address's preferred
/// lifetime, `0.4 * TEMP_PREFERRED_LIFETIME`, so that hosts do not renew in step.
pub const MAX_DESYNC_FACTOR: Duration = Duration::from_secs(34_560);
/// RFC 4862 §5.5.3 e): a valid lifetime is not cut below two hours by an unauthenticated
/// advertisement.
pub const TWO_HOURS: Duration = Duration::from_secs(7_200);
/// RFC 8200 §5: the smallest link MTU of IPv6.
pub const MIN_LINK_MTU: u32 = 1_280;
/// The prefix length addresses are formed for: 64-bit interface identifiers (RFC 4291
/// §2.5.1), so RFC 4862 §5.5.3 d) ignores Prefix Information of any other length.
pub const SLAAC_PREFIX_LEN: u8 = 64;

/// Addresses kept (the link-local one included). A new address beyond this is not formed
/// and counted in [`Counters::address_table_full`].
pub const MAX_ADDRESSES: usize = 8;
/// Autoconfiguration prefixes kept. More are ignored and counted.
pub const MAX_PREFIXES: usize = 4;
/// Routers kept in the default router list. More are ignored and counted.
pub const MAX_ROUTERS: usize = 2;
/// Routes from Route Information options kept. More are ignored and counted.
pub const MAX_ROUTES: usize = 8;
/// DNS servers kept. More are ignored and counted.
pub const MAX_DNS_SERVERS: usize = 4;
/// Events waiting for [`RouterDiscovery::poll_event`]. More are dropped and counted; the
/// getters still give the whole state.
pub const MAX_EVENTS: usize = 64;

/// The link-local prefix `fe80::/64` (RFC 4291 §2.5.6).
pub const LINK_LOCAL_PREFIX: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0);

/// Which addresses are formed from a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressMode {
    /// One stable address per prefix (RFC 7217).
    #[default]
    Stable,
    /// Temporary addresses only (RFC 8981), renewed every [`TEMP_PREFERRED_LIFETIME`] less a
    /// random desynchronisation.
    Temporary,
    /// Both: a stable address for incoming connections and temporary ones for outgoing.
    StableAndTemporary,
}

impl AddressMode {
    fn stable(self) -> bool {
        matches!(self, AddressMode::Stable | AddressMode::StableAndTemporary)
    }

    fn temporary(self) -> bool {
        matches!(
            self,
            AddressMode::Temporary | AddressMode::StableAndTemporary
        )
    }
}

/// How a [`RouterDiscovery`] behaves.
///
/// The RFC 7217 generator is here rather than in [`AddressMode`] because the link-local
/// address always needs a stable identifier, even when global addresses are temporary.
#[derive(Debug, Clone)]
pub struct Config {
    /// The stable identifier generator (secret key and `Net_Iface`).
    pub stable_iid: StableIid,
    /// Which addresses are formed from advertised prefixes.
    pub address_mode: AddressMode,
    /// An interface identifier for the link-local address instead of the RFC 7217 one (for
    /// example one agreed with the peer). A reserved identifier is refused by
    /// [`RouterDiscovery::new`] and the RFC 7217 one used.
    pub link_local_iid: Option<u64>,
    /// The link MTU the device supports: MTU options above it are ignored (RFC 4861 §6.3.4),
    /// and it is the MTU until an advertisement says otherwise.
    pub link_mtu: u32,
    /// After [`MAX_RTR_SOLICITATIONS`] unanswered solicitations, go on soliciting with the
    /// exponential backoff of RFC 7559 (up to [`MAX_RTR_SOLICITATION_INTERVAL`] apart)
    /// instead of stopping. RFC 7559 makes this optional; off by default.
    pub solicitation_backoff: bool,
}

impl Config {
    /// Stable addresses, no backoff, the link-local identifier from `stable_iid`.
    pub fn new(stable_iid: StableIid, link_mtu: u32) -> Config {
        Config {
            stable_iid,
            address_mode: AddressMode::Stable,
            link_local_iid: None,
            link_mtu,
            solicitation_backoff: false,
        }
    }
}

/// How an address was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// The link-local address.
    LinkLocal,
    /// A stable address from a prefix (RFC 7217).
    Stable,
    /// A temporary address from a prefix (RFC 8981).
    Temporary,
}

/// An address of the interface and its lifetimes. `None` means forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The address with its prefix length (64).
    pub cidr: Ipv6Cidr,
    /// How it was formed.
    pub kind: AddressKind,
    /// When it was formed.
    pub created: Instant,
    /// When it becomes deprecated (RFC 4862 §5.5.4).
    pub preferred_until: Option<Instant>,
    /// When it is removed.
    pub valid_until: Option<Instant>,
    /// Whether it is deprecated: kept for existing communication, not to be chosen for new.
    pub deprecated: bool,
}

/// A router of the default router list (RFC 4861 §6.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    /// Its link-local address, the advertisement's source.
    pub addr: Ipv6Address,
    /// Its default router preference (RFC 4191 §2.2).
    pub preference: Preference,
    /// When it stops being a default router (router lifetimes are never infinite).
    pub valid_until: Instant,
}

/// A route from a Route Information option (RFC 4191 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    /// The destination prefix.
    pub cidr: Ipv6Cidr,
    /// The router to send through.
    pub router: Ipv6Address,
    /// The route's preference.
    pub preference: Preference,
    /// When it is removed; `None` is forever.
    pub valid_until: Option<Instant>,
}

/// A recursive DNS server (RFC 8106 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsServer {
    /// Its address.
    pub addr: Ipv6Address,
    /// When it is removed; `None` is forever.
    pub valid_until: Option<Instant>,
}

/// A change for the caller to apply to its interface (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An address was formed; it is deprecated at once if `preferred_until` is now.
    AddressAdded {
        /// The address, with prefix length 64.
        addr: Ipv6Cidr,
        /// How it was formed.
        kind: AddressKind,
        /// When it becomes deprecated; `None` is never.
        preferred_until: Option<Instant>,
        /// When it is removed; `None` is never.
        valid_until: Option<Instant>,
    },
    /// An address's preferred lifetime ran out (RFC 4862 §5.5.4): keep it for existing
    /// communication, use others for new.
    AddressDeprecated {
        /// The address.
        addr: Ipv6Cidr,
    },
    /// A deprecated address was given a preferred lifetime again by an advertisement.
    AddressPreferred {
        /// The address.
        addr: Ipv6Cidr,
    },
    /// An address's valid lifetime ran out: remove it.
    AddressRemoved {
        /// The address.
        addr: Ipv6Cidr,
    },
    /// This router is now the default router.
    DefaultRouter {
        /// The router's link-local address.
        router: Ipv6Address,
        /// Its preference.
        preference: Preference,
        /// When it expires unless advertised again.
        valid_until: Instant,
    },
    /// There is no default router any more.
    DefaultRouterLost {
        /// The router that was the default.
        router: Ipv6Address,
    },
    /// The link MTU changed (RFC 4861 §6.3.4).
    MtuChanged(u32),
    /// The hop limit for outgoing packets changed (RFC 4861 §6.3.4 `CurHopLimit`).
    HopLimit(u8),
    /// A route was learned (RFC 4191).
    RouteAdded {
        /// The destination prefix.
        cidr: Ipv6Cidr,
        /// The router to send through.
        router: Ipv6Address,
        /// The route's preference.
        preference: Preference,
    },
    /// A route expired or was withdrawn.
    RouteRemoved {
        /// The destination prefix.
        cidr: Ipv6Cidr,
        /// The router it went through.
        router: Ipv6Address,
    },
    /// A DNS server was learned (RFC 8106).
    DnsServerAdded {
        /// Its address.
        addr: Ipv6Address,
    },
    /// A DNS server expired or was withdrawn.
    DnsServerRemoved {
        /// Its address.
        addr: Ipv6Address,
    },
}

/// Why [`RouterDiscovery::handle_ra`] dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// It failed the validity checks of RFC 4861 §6.1.2.
    Invalid(ValidationError),
    /// It is a valid ND message but not an advertisement: hosts discard Router
    /// Solicitations (RFC 4861 §6.2.6), and Neighbor Solicitations, Neighbor Advertisements
    /// and Redirects mean nothing without link-layer addresses.
    NotAdvertisement(NdpKind),
}

/// What was received, sent and ignored, by reason. Every dropped packet and ignored option
/// is counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Router Solicitations sent.
    pub solicitations_sent: u64,
    /// `poll_transmit` buffers too small for a solicitation (it is sent at the next call).
    pub transmit_buffer_too_small: u64,
    /// Advertisements accepted and processed.
    pub advertisements: u64,
    /// Packets that failed ND validation, by reason.
    pub invalid: NdInvalidCounters,
    /// Valid ND messages other than advertisements (see [`Dropped::NotAdvertisement`]).
    pub not_advertisement: u64,
    /// Link-layer address options, meaningless here and skipped.
    pub link_layer_options: u64,
    /// Options of a known type whose length or contents break their RFC, ignored.
    pub invalid_options: u64,
    /// Options of unknown types, ignored (RFC 4861 §4.6).
    pub unknown_options: u64,
    /// MTU options below 1280 or above the configured link MTU (RFC 4861 §6.3.4).
    pub mtu_ignored: u64,
    /// Prefix Information without the A flag: nothing to autoconfigure.
    pub prefix_not_autonomous: u64,
    /// Prefix Information for the link-local prefix (RFC 4862 §5.5.3 b) or a multicast one.
    pub prefix_scope: u64,
    /// Prefix Information with preferred lifetime above valid lifetime (RFC 4862 §5.5.3 c).
    pub prefix_lifetimes: u64,
    /// Prefix Information with a prefix length other than 64 (RFC 4862 §5.5.3 d).
    pub prefix_length: u64,
    /// Valid lifetimes not shortened as advertised because of the two-hour rule
    /// (RFC 4862 §5.5.3 e).
    pub two_hour_rule: u64,
    /// Temporary addresses not formed because their preferred lifetime would not exceed
    /// [`REGEN_ADVANCE`] (RFC 8981 §3.4).
    pub temporary_too_short: u64,
    /// Addresses not formed because every identifier tried was reserved or in use.
    pub iid_exhausted: u64,
    /// Addresses not formed: [`MAX_ADDRESSES`] reached.
    pub address_table_full: u64,
    /// Prefixes ignored: [`MAX_PREFIXES`] reached.
    pub prefix_table_full: u64,
    /// Routers ignored: [`MAX_ROUTERS`] reached.
    pub router_table_full: u64,
    /// Routes ignored: [`MAX_ROUTES`] reached.
    pub route_table_full: u64,
    /// Route Information for a link-local or multicast prefix, ignored.
    pub route_invalid: u64,
    /// DNS servers ignored: [`MAX_DNS_SERVERS`] reached.
    pub dns_table_full: u64,
    /// RDNSS addresses that cannot be a server (unspecified, loopback, multicast), ignored.
    pub dns_invalid: u64,
    /// Events dropped: [`MAX_EVENTS`] were waiting.
    pub events_dropped: u64,
}

/// Neighbor Discovery packets that failed validation ([`ndp::parse_ipv6`], RFC 4861 §6.1),
/// by reason: shared by the host's router discovery and the router's advertiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NdInvalidCounters {
    /// Packets cut short.
    pub truncated: u64,
    /// Not IPv6, not ICMPv6, or not an ND message at all.
    pub not_nd: u64,
    /// Refused extension headers, Authentication Header or fragments (RFC 6980 §5).
    pub extension_header: u64,
    /// Hop limit other than 255 (RFC 4861 §6.1): sent from off the link.
    pub hop_limit: u64,
    /// Wrong ICMPv6 checksum.
    pub checksum: u64,
    /// ICMPv6 code other than 0.
    pub code: u64,
    /// A source address the message may not have: an advertisement not from a link-local
    /// address, a solicitation from `::` with a link-layer address option (RFC 4861 §6.1).
    pub source: u64,
    /// An option of length zero, or one running past the message.
    pub option_length: u64,
}

impl NdInvalidCounters {
    /// Counts one packet that failed validation with `e`.
    pub fn count(&mut self, e: ValidationError) {
        let counter = match e {
            ValidationError::Truncated => &mut self.truncated,
            ValidationError::ExtensionHeader(_) | ValidationError::Fragmented => {
                &mut self.extension_header
            }
            ValidationError::HopLimit => &mut self.hop_limit,
            ValidationError::Checksum => &mut self.checksum,
            ValidationError::Code => &mut self.code,
            ValidationError::SourceAddress => &mut self.source,
            ValidationError::OptionLength => &mut self.option_length,
            // ND validation returns none of the MLD reasons; count them with "not ND".
            ValidationError::NotIpv6
            | ValidationError::NotIcmpv6
            | ValidationError::NotNdp
            | ValidationError::NotMld
            | ValidationError::RouterAlert
            | ValidationError::Malformed => &mut self.not_nd,
        };
        *counter += 1;
    }

    /// All invalid packets.
    pub fn total(&self) -> u64 {
        self.truncated
            + self.not_nd
            + self.extension_header
            + self.hop_limit
            + self.checksum
            + self.code
            + self.source
            + self.option_length
    }
}

/// Where the solicitation schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Solicit {
    /// Not soliciting.
    Idle,
    /// The next solicitation is due at `at`; `sent` were sent since link-up and the last
    /// interval was `interval`.
    Due {
        at: Instant,
        sent: u32,
        interval: Duration,
    },
}

/// An autoconfiguration prefix (RFC 4862 §5.5.3) and its lifetimes as advertised, the
/// two-hour rule applied. A stable address has exactly these lifetimes; temporary ones are
/// capped further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PrefixEntry {
    prefix: Ipv6Address,
    preferred_until: Option<Instant>,
    valid_until: Option<Instant>,
}

/// An address and what the state machine needs beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddressEntry {
    address: Address,
    /// RFC 8981 DESYNC_FACTOR of a temporary address.
    desync: Duration,
    /// Whether a temporary address's successor was made (or given up on).
    regenerated: bool,
}

impl AddressEntry {
    fn prefix(&self) -> Ipv6Address {
        self.address.cidr.address().mask_prefix64()
    }

    /// When a temporary address's successor is due (RFC 8981 §3.5), if it still is.
    fn regenerate_at(&self) -> Option<Instant> {
        let a = &self.address;
        if a.kind != AddressKind::Temporary || self.regenerated || a.deprecated {
            return None;
        }
        a.preferred_until.map(|p| p - REGEN_ADVANCE)
    }
}

/// Keeps the high 64 bits of an address.
trait MaskPrefix64 {
    fn mask_prefix64(self) -> Ipv6Address;
}

impl MaskPrefix64 for Ipv6Address {
    fn mask_prefix64(self) -> Ipv6Address {
        iid::join(self, 0)
    }
}

/// Router discovery and address autoconfiguration for one point-to-point interface, as a
/// host. See the module docs for how to drive it.
#[derive(Debug, Clone)]
pub struct RouterDiscovery {
    config: Config,
    link_local: Ipv6Address,
    solicit: Solicit,
    /// Seed of the RFC 7559 jitter, drawn at link-up.
    jitter_seed: u64,
    addresses: Table<AddressEntry, MAX_ADDRESSES>,
    prefixes: Table<PrefixEntry, MAX_PREFIXES>,
    routers: Table<Router, MAX_ROUTERS>,
    routes: Table<RouteEntry, MAX_ROUTES>,
    dns: Table<DnsServer, MAX_DNS_SERVERS>,
    default_router: Option<Ipv6Address>,
    mtu: u32,
    hop_limit: Option<u8>,
    reachable_time: Option<Duration>,
    retrans_timer: Option<Duration>,
    events: Queue<Event, MAX_EVENTS>,
    counters: Counters,
}

impl RouterDiscovery {
    /// A host with its link-local address formed (and reported as the first event) and the
    /// link down. `now` stamps the link-local address's creation.
    pub fn new(config: Config, now: Instant) -> RouterDiscovery {
        let iid = config
            .link_local_iid
            .filter(|&iid| !is_reserved_iid(iid))
            .or_else(|| config.stable_iid.iid(LINK_LOCAL_PREFIX))
            // Unreachable in practice (see StableIid::iid); any non-reserved value will do.
            .unwrap_or(1);
        let link_local = iid::join(LINK_LOCAL_PREFIX, iid);
        let mut rd = RouterDiscovery {
            mtu: config.link_mtu,
            config,
            link_local,
            solicit: Solicit::Idle,
            jitter_seed: 0,
            addresses: Table::new(),
            prefixes: Table::new(),
            routers: Table::new(),
            routes: Table::new(),
            dns: Table::new(),
            default_router: None,
            hop_limit: None,
            reachable_time: None,
            retrans_timer: None,
            events: Queue::new(),
            counters: Counters::default(),
        };
        let address = Address {
            cidr: Ipv6Cidr::new(link_local, SLAAC_PREFIX_LEN),
            kind: AddressKind::LinkLocal,
            created: now,
            preferred_until: None,
            valid_until: None,
            deprecated: false,
        };
        rd.add_address(address, Duration::ZERO);
        rd
    }

    /// The link came up: solicit routers (RFC 4861 §6.3.7), the first solicitation after a
    /// random delay in [0, [`MAX_RTR_SOLICITATION_DELAY`]] drawn from `rng`. Calling it again
    /// restarts the schedule. Addresses are kept: identifiers are stable across link flaps.
    pub fn link_up<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        let max = MAX_RTR_SOLICITATION_DELAY.total_micros();
        let delay = Duration::from_micros(rng.next_u64() % (max + 1));
        self.jitter_seed = rng.next_u64();
        self.solicit = Solicit::Due {
            at: later(now, delay),
            sent: 0,
            interval: RTR_SOLICITATION_INTERVAL,
        };
        debug!("rd: link up, first solicitation in {delay}");
    }

    /// The link went down: stop soliciting. Addresses, routers and routes are kept and
    /// expire with their lifetimes; the next [`link_up`](Self::link_up) solicits again.
    pub fn link_down(&mut self, _now: Instant) {
        self.solicit = Solicit::Idle;
    }

    /// The host now sits on a different link (a phone that walked to another access point):
    /// everything learned on the old link goes — global addresses, prefixes, routers and the
    /// default router, routes, DNS servers — each with its removal event, so the caller's
    /// interface drops them too; the link-local address stays (its identifier is stable). A
    /// Router Solicitation goes out at once: RFC 4861 §6.3.7's random initial delay spreads
    /// the solicitations of many hosts that start together on one link, and a
    /// point-to-point link has one. Retransmissions follow the usual schedule.
    pub fn moved(&mut self, now: Instant) {
        for i in 0..MAX_ADDRESSES {
            if let Some(e) = self.addresses.get_mut(i)
                && e.address.kind != AddressKind::LinkLocal
            {
                let addr = e.address.cidr;
                self.addresses.remove(i);
                self.push_event(Event::AddressRemoved { addr });
            }
        }
        self.prefixes.remove_where(|_| true);
        self.routers.remove_where(|_| true);
        if let Some(router) = self.default_router.take() {
            self.push_event(Event::DefaultRouterLost { router });
        }
        for i in 0..MAX_ROUTES {
            if let Some(r) = self.routes.get_mut(i) {
                let (cidr, router) = (r.cidr, r.router);
                self.routes.remove(i);
                self.push_event(Event::RouteRemoved { cidr, router });
            }
        }
        for i in 0..MAX_DNS_SERVERS {
            if let Some(d) = self.dns.get_mut(i) {
                let addr = d.addr;
                self.dns.remove(i);
                self.push_event(Event::DnsServerRemoved { addr });
            }
        }
        self.solicit = Solicit::Due {
            at: now,
            sent: 0,
            interval: RTR_SOLICITATION_INTERVAL,
        };
        debug!("rd: moved to another link, soliciting now");
    }

    /// Whether Router Solicitations are still scheduled.
    pub fn is_soliciting(&self) -> bool {
        matches!(self.solicit, Solicit::Due { .. })
    }

    /// Writes the next packet to send, a whole IPv6 packet, into `buf` and returns its
    /// length; `None` if nothing is due.
    ///
    /// The only packet is a Router Solicitation (RFC 4861 §4.1) from the link-local address
    /// to `ff02::2`, hop limit 255, without a Source Link-Layer Address option (there is no
    /// link-layer address). 8 + 40 octets; a shorter `buf` gives `None` and is counted.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let Solicit::Due { at, sent, interval } = self.solicit else {
            return None;
        };
        if now < at {
            return None;
        }
        // RFC 4861 §6.3.7 sends from `::` only when no address is assigned; a link-local
        // address always is, and needs no DAD here.
        let repr = NdpRepr::RouterSolicitation(RouterSolicitationRepr);
        let Ok(len) = ndp::emit_ipv6(&self.link_local, &ndp::ALL_ROUTERS, &repr, buf) else {
            self.counters.transmit_buffer_too_small += 1;
            return None;
        };
        let sent = sent + 1;
        self.counters.solicitations_sent += 1;
        self.solicit = if sent < MAX_RTR_SOLICITATIONS {
            Solicit::Due {
                at: later(now, RTR_SOLICITATION_INTERVAL),
                sent,
                interval: RTR_SOLICITATION_INTERVAL,
            }
        } else if self.config.solicitation_backoff {
            let next = self.backoff_interval(interval, sent);
            Solicit::Due {
                at: later(now, next),
                sent,
                interval: next,
            }
        } else {
            Solicit::Idle
        };
        trace!("rd: sent solicitation {sent}");
        Some(len)
    }

    /// RFC 7559 §2: `RT = 2*RTprev + RAND*RTprev`, and `MRT + RAND*MRT` once past `MRT`,
    /// with RAND uniform in [-0.1, 0.1]; the randomness comes from the seed drawn at
    /// link-up, mixed with the solicitation count.
    fn backoff_interval(&self, previous: Duration, sent: u32) -> Duration {
        let mut z = self
            .jitter_seed
            .wrapping_add(u64::from(sent).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // SplitMix64 finaliser: spreads the bits of the seed and count.
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let permille = i64::try_from(z % 201).unwrap_or(0) - 100; // RAND in -0.1..=0.1
        let micros = |d: Duration| i64::try_from(d.total_micros()).unwrap_or(i64::MAX);
        let jittered = |twice: i64, base: i64| {
            let rt = twice.saturating_add(base / 1000 * permille);
            Duration::from_micros(u64::try_from(rt).unwrap_or(0))
        };
        let previous = micros(previous);
        let next = jittered(previous.saturating_mul(2), previous);
        if next > MAX_RTR_SOLICITATION_INTERVAL {
            let mrt = micros(MAX_RTR_SOLICITATION_INTERVAL);
            jittered(mrt, mrt)
        } else {
            next
        }
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout) or
    /// [`poll_transmit`](Self::poll_transmit) has something to do; `None` if nothing ever
    /// will without input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let solicit = match self.solicit {
            Solicit::Due { at, .. } => Some(at),
            Solicit::Idle => None,
        };
        let addresses = self.addresses.iter().flat_map(|e| {
            let a = &e.address;
            [
                a.valid_until,
                a.preferred_until.filter(|_| !a.deprecated),
                e.regenerate_at(),
            ]
        });
        let prefixes = self.prefixes.iter().map(|p| p.valid_until);
        let routers = self.routers.iter().map(|r| Some(r.valid_until));
        let routes = self.routes.iter().map(|r| r.valid_until);
        let dns = self.dns.iter().map(|d| d.valid_until);
        core::iter::once(solicit)
            .chain(addresses)
            .chain(prefixes)
            .chain(routers)
            .chain(routes)
            .chain(dns)
            .flatten()
            .min()
    }

    /// Runs what is due at `now`: deprecations, removals, temporary address renewal (random
    /// identifiers from `rng`). A call before anything is due changes nothing.
    pub fn handle_timeout<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.reconcile(now, rng);
    }

    /// The next change to apply, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The link-local address.
    pub fn link_local(&self) -> Ipv6Address {
        self.link_local
    }

    /// Every address, the link-local one included, deprecated ones too.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.addresses.iter().map(|e| &e.address)
    }

    /// The default router, if any: the highest-preference router of the default router
    /// list (RFC 4191 §3.2), the one already chosen among equals.
    pub fn default_router(&self) -> Option<Router> {
        let addr = self.default_router?;
        self.routers.find(|r| r.addr == addr).copied()
    }

    /// The default router list.
    pub fn routers(&self) -> impl Iterator<Item = &Router> {
        self.routers.iter()
    }

    /// Routes learned from Route Information options.
    pub fn routes(&self) -> impl Iterator<Item = &RouteEntry> {
        self.routes.iter()
    }

    /// DNS servers learned from RDNSS options.
    pub fn dns_servers(&self) -> impl Iterator<Item = &DnsServer> {
        self.dns.iter()
    }

    /// The link MTU: the configured one, or the last acceptable MTU option.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// The last non-zero Cur Hop Limit advertised.
    pub fn hop_limit(&self) -> Option<u8> {
        self.hop_limit
    }

    /// The last non-zero Reachable Time advertised (recorded only: there is no neighbor
    /// unreachability detection without neighbor discovery).
    pub fn reachable_time(&self) -> Option<Duration> {
        self.reachable_time
    }

    /// The last non-zero Retrans Timer advertised (recorded only).
    pub fn retrans_timer(&self) -> Option<Duration> {
        self.retrans_timer
    }

    /// What was received, sent and ignored.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn push_event(&mut self, event: Event) {
        trace!("rd: {event:?}");
        if self.events.push(event).is_err() {
            self.counters.events_dropped += 1;
        }
    }

    /// Stores an address and reports it; counts a full table.
    fn add_address(&mut self, address: Address, desync: Duration) {
        let entry = AddressEntry {
            address,
            desync,
            regenerated: false,
        };
        if self.addresses.insert(entry).is_err() {
            self.counters.address_table_full += 1;
            return;
        }
        debug!("rd: address {} ({:?})", address.cidr, address.kind);
        self.push_event(Event::AddressAdded {
            addr: address.cidr,
            kind: address.kind,
            preferred_until: address.preferred_until,
            valid_until: address.valid_until,
        });
    }
}

/// `now + d`, saturating instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    let micros = i64::try_from(d.total_micros()).unwrap_or(i64::MAX);
    Instant::from_micros(now.total_micros().saturating_add(micros))
}

/// When a lifetime of `secs` seconds from `now` ends; all ones is forever (RFC 4861
/// §4.6.2, RFC 4191 §2.3, RFC 8106 §5.1).
fn until(now: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| later(now, Duration::from_secs(u64::from(secs))))
}

/// The earlier of two ends, `None` being forever.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Whether the end `t` has come at `now`.
fn reached(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}
