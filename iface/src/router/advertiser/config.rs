//! The advertiser's configuration, its errors and its counters.

use bridgeless_wire::ndp::{NdpKind, Preference, ValidationError};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::{
    DEFAULT_CUR_HOP_LIMIT, DEFAULT_DEPRECATION_PERIOD, DEFAULT_MAX_RTR_ADV_INTERVAL,
    DEFAULT_PREFERRED_LIFETIME, DEFAULT_VALID_LIFETIME, INFINITE, MAX_MAX_RTR_ADV_INTERVAL,
    MAX_REACHABLE_TIME_MS, MIN_LINK_MTU, MIN_MAX_RTR_ADV_INTERVAL, MIN_MIN_RTR_ADV_INTERVAL, cap,
    network,
};
#[cfg(doc)]
use super::{MIN_DELAY_BETWEEN_RAS, RouterAdvertiser};

/// How solicitations from an address are answered (see the [module docs](super)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SolicitedReply {
    /// To the solicitor's address, not delayed by the multicast rate limit (RFC 4861 §6.2.6
    /// "MAY"); solicitations from `::` are still answered to all-nodes.
    #[default]
    Unicast,
    /// Always to all-nodes `ff02::1`, within the multicast rate limit.
    Multicast,
}

/// The link's advertising parameters (RFC 4861 §6.2.1). Prefixes, routes and DNS servers are
/// set on the [`RouterAdvertiser`] itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertiserConfig {
    /// Our link-local address on the link: the source of every advertisement (RFC 4861
    /// §4.2; hosts drop advertisements from other sources, §6.1.2) and the hosts' default
    /// router.
    pub source: Ipv6Address,
    /// `MinRtrAdvInterval`: at least [`MIN_MIN_RTR_ADV_INTERVAL`], at most 0.75 ×
    /// `max_interval`.
    pub min_interval: Duration,
    /// `MaxRtrAdvInterval`: from [`MIN_MAX_RTR_ADV_INTERVAL`] to [`MAX_MAX_RTR_ADV_INTERVAL`].
    pub max_interval: Duration,
    /// `AdvDefaultLifetime` in seconds: 0 (not a default router) or at least
    /// `max_interval`. Default 3 × `max_interval`.
    pub router_lifetime: u16,
    /// Default router preference (RFC 4191 §2.2).
    pub preference: Preference,
    /// `AdvCurHopLimit`; 0 means unspecified.
    pub cur_hop_limit: u8,
    /// `AdvReachableTime` in milliseconds, at most [`MAX_REACHABLE_TIME_MS`]; 0 unspecified.
    pub reachable_time: u32,
    /// `AdvRetransTimer` in milliseconds; 0 unspecified.
    pub retrans_timer: u32,
    /// `AdvManagedFlag` (M): addresses are available from DHCPv6.
    pub managed: bool,
    /// `AdvOtherConfigFlag` (O): other configuration is available from DHCPv6.
    pub other: bool,
    /// `AdvLinkMTU`: sent in an MTU option if `Some`, at least [`MIN_LINK_MTU`].
    pub link_mtu: Option<u32>,
    /// How solicitations are answered.
    pub solicited_reply: SolicitedReply,
    /// How long at most a removed prefix is still advertised, deprecated, before it is
    /// withdrawn (see the [module docs](super)). Default [`DEFAULT_DEPRECATION_PERIOD`].
    pub deprecation_period: Duration,
}

impl AdvertiserConfig {
    /// The defaults of RFC 4861 §6.2.1 (with [`DEFAULT_MAX_RTR_ADV_INTERVAL`]), advertising
    /// from `source`, no MTU option.
    pub fn new(source: Ipv6Address) -> AdvertiserConfig {
        AdvertiserConfig {
            source,
            min_interval: Duration::ZERO,
            max_interval: Duration::ZERO,
            router_lifetime: 0,
            preference: Preference::Medium,
            cur_hop_limit: DEFAULT_CUR_HOP_LIMIT,
            reachable_time: 0,
            retrans_timer: 0,
            managed: false,
            other: false,
            link_mtu: None,
            solicited_reply: SolicitedReply::Unicast,
            deprecation_period: DEFAULT_DEPRECATION_PERIOD,
        }
        .with_max_interval(DEFAULT_MAX_RTR_ADV_INTERVAL)
    }

    /// Sets `max_interval` and the RFC 4861 §6.2.1 defaults that follow from it:
    /// `min_interval` 0.33 × `max_interval` (at least 3 s) when it is 9 s or more, else
    /// 0.75 × `max_interval`; `router_lifetime` 3 × `max_interval` (at most 65535 s).
    ///
    /// The RFC's default for a short `MaxRtrAdvInterval` is `MaxRtrAdvInterval` itself,
    /// which breaks its own upper bound of 0.75 × `MaxRtrAdvInterval`; 0.75 × is what radvd
    /// uses.
    pub fn with_max_interval(mut self, max: Duration) -> AdvertiserConfig {
        self.max_interval = max;
        let max_ms = max.total_millis();
        self.min_interval = if max >= Duration::from_secs(9) {
            Duration::from_millis(max_ms * 33 / 100).max(MIN_MIN_RTR_ADV_INTERVAL)
        } else {
            Duration::from_millis(max_ms * 3 / 4)
        };
        self.router_lifetime = u16::try_from((max.secs() * 3).min(65_535)).unwrap_or(u16::MAX);
        self
    }

    /// Checks the limits of RFC 4861 §6.2.1 (as updated by RFC 8319).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.source.is_unicast_link_local() {
            return Err(ConfigError::Source);
        }
        if self.max_interval < MIN_MAX_RTR_ADV_INTERVAL
            || self.max_interval > MAX_MAX_RTR_ADV_INTERVAL
        {
            return Err(ConfigError::MaxInterval);
        }
        if self.min_interval < MIN_MIN_RTR_ADV_INTERVAL
            || self.min_interval.total_micros() * 4 > self.max_interval.total_micros() * 3
        {
            return Err(ConfigError::MinInterval);
        }
        if self.router_lifetime != 0
            && Duration::from_secs(self.router_lifetime.into()) < self.max_interval
        {
            return Err(ConfigError::RouterLifetime);
        }
        if self.reachable_time > MAX_REACHABLE_TIME_MS {
            return Err(ConfigError::ReachableTime);
        }
        if self.link_mtu.is_some_and(|m| m < MIN_LINK_MTU) {
            return Err(ConfigError::Mtu);
        }
        Ok(())
    }
}

/// A prefix to advertise in Prefix Information (RFC 4861 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixConfig {
    /// The prefix; bits past its length are ignored. Autonomous prefixes are /64 (RFC 4862
    /// §5.5.3 d, with the 64-bit interface identifiers of RFC 4291).
    pub prefix: Ipv6Cidr,
    /// L flag: the prefix is on-link.
    pub on_link: bool,
    /// A flag: hosts form addresses from it.
    pub autonomous: bool,
    /// `AdvValidLifetime` in seconds ([`INFINITE`] is forever).
    pub valid_lifetime: u32,
    /// `AdvPreferredLifetime` in seconds, at most `valid_lifetime`.
    pub preferred_lifetime: u32,
    /// The absolute end of the prefix (a delegation's valid lifetime): the advertised valid
    /// lifetime is at most the time left, and the prefix is dropped when it comes.
    pub valid_until: Option<Instant>,
    /// The absolute end of the prefix's preferred lifetime (a delegation's).
    pub preferred_until: Option<Instant>,
}

impl PrefixConfig {
    /// An on-link, autonomous prefix with the RFC 4861 §6.2.1 default lifetimes.
    pub fn new(prefix: Ipv6Cidr) -> PrefixConfig {
        PrefixConfig {
            prefix,
            on_link: true,
            autonomous: true,
            valid_lifetime: DEFAULT_VALID_LIFETIME,
            preferred_lifetime: DEFAULT_PREFERRED_LIFETIME,
            valid_until: None,
            preferred_until: None,
        }
    }

    /// An on-link, autonomous prefix from a delegation: advertised with the time that
    /// remains until `preferred_until` and `valid_until`.
    pub fn delegated(
        prefix: Ipv6Cidr,
        preferred_until: Instant,
        valid_until: Instant,
    ) -> PrefixConfig {
        PrefixConfig {
            valid_lifetime: INFINITE,
            preferred_lifetime: INFINITE,
            valid_until: Some(valid_until),
            preferred_until: Some(preferred_until),
            ..PrefixConfig::new(prefix)
        }
    }

    pub(super) fn validate(&self, now: Instant) -> Result<(), ConfigError> {
        let net = network(self.prefix);
        if net.address().is_multicast() || net.address().is_unicast_link_local() {
            // RFC 4861 §6.2.1: "the link-local prefix SHOULD NOT be included"; hosts ignore
            // it (RFC 4862 §5.5.3 b).
            return Err(ConfigError::PrefixScope);
        }
        if self.autonomous && net.prefix_len() != 64 {
            return Err(ConfigError::PrefixLength);
        }
        if self.preferred_lifetime > self.valid_lifetime {
            // RFC 4862 §5.5.3 c: hosts ignore such an option.
            return Err(ConfigError::PrefixLifetimes);
        }
        if self.valid_until.is_some_and(|t| t <= now) {
            return Err(ConfigError::Expired);
        }
        Ok(())
    }

    /// The lifetimes to advertise at `now`: the configured ones, capped by the time left.
    pub(super) fn lifetimes(&self, now: Instant) -> (u32, u32) {
        let valid = cap(self.valid_lifetime, self.valid_until, now);
        let preferred = cap(self.preferred_lifetime, self.preferred_until, now).min(valid);
        (valid, preferred)
    }
}

/// A more-specific route to advertise in Route Information (RFC 4191 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// The destination prefix (bits past its length are ignored); `::/0` is a default route.
    pub prefix: Ipv6Cidr,
    /// The route's preference.
    pub preference: Preference,
    /// Route lifetime in seconds ([`INFINITE`] is forever).
    pub lifetime: u32,
    /// The absolute end of the route (a delegation's), as for [`PrefixConfig::valid_until`].
    pub valid_until: Option<Instant>,
}

impl RouteConfig {
    /// A medium-preference route whose lifetime is `lifetime` seconds.
    pub fn new(prefix: Ipv6Cidr, lifetime: u32) -> RouteConfig {
        RouteConfig {
            prefix,
            preference: Preference::Medium,
            lifetime,
            valid_until: None,
        }
    }
}

/// Why a configuration was refused; nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// The source is not a link-local unicast address (RFC 4861 §6.1.2), or
    /// [`RouterAdvertiser::set_config`] tried to change it (make a new advertiser instead,
    /// after [`shutdown`](RouterAdvertiser::shutdown) of the old one).
    Source,
    /// `max_interval` outside 4..=65535 s (RFC 4861 §6.2.1, RFC 8319).
    MaxInterval,
    /// `min_interval` below 3 s or above 0.75 × `max_interval` (RFC 4861 §6.2.1).
    MinInterval,
    /// Router lifetime neither 0 nor at least `max_interval` (RFC 4861 §6.2.1).
    RouterLifetime,
    /// Reachable time above [`MAX_REACHABLE_TIME_MS`] (RFC 4861 §6.2.1).
    ReachableTime,
    /// MTU below [`MIN_LINK_MTU`] (RFC 8200 §5).
    Mtu,
    /// A link-local or multicast prefix or route.
    PrefixScope,
    /// An autonomous prefix that is not a /64 (RFC 4862 §5.5.3 d).
    PrefixLength,
    /// Preferred lifetime above valid lifetime (RFC 4862 §5.5.3 c).
    PrefixLifetimes,
    /// The prefix's or route's `valid_until` has passed.
    Expired,
    /// A DNS server that is unspecified, loopback or multicast.
    DnsServer,
    /// The table already holds its maximum of entries being advertised.
    TableFull,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::Source => "source must be our (unchanged) link-local address",
            ConfigError::MaxInterval => "MaxRtrAdvInterval must be 4..=65535 s",
            ConfigError::MinInterval => "MinRtrAdvInterval must be 3 s..=0.75*MaxRtrAdvInterval",
            ConfigError::RouterLifetime => "router lifetime must be 0 or >= MaxRtrAdvInterval",
            ConfigError::ReachableTime => "reachable time must be at most 3600000 ms",
            ConfigError::Mtu => "link MTU must be at least 1280",
            ConfigError::PrefixScope => "link-local or multicast prefix",
            ConfigError::PrefixLength => "an autonomous prefix must be a /64",
            ConfigError::PrefixLifetimes => "preferred lifetime above valid lifetime",
            ConfigError::Expired => "already expired",
            ConfigError::DnsServer => "not a usable DNS server address",
            ConfigError::TableFull => "table full",
        })
    }
}

impl core::error::Error for ConfigError {}

/// Why [`RouterAdvertiser::handle_packet`] did nothing with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// It failed the validity checks of RFC 4861 §6.1 (for a solicitation, §6.1.1).
    Invalid(ValidationError),
    /// A valid ND message other than a Router Solicitation (an advertisement from another
    /// router is still checked for consistency, §6.2.7).
    NotSolicitation(NdpKind),
    /// A solicitation after the final advertisements: we are no longer a router here.
    Stopped,
}

/// Where the advertiser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Advertising.
    Advertising,
    /// Sending final advertisements with router lifetime 0 (RFC 4861 §6.2.5).
    ShuttingDown,
    /// Done: nothing more is sent.
    Stopped,
}

/// What was sent, received and ignored, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Unsolicited advertisements to all-nodes (initial, periodic, after a change).
    pub unsolicited_sent: u64,
    /// Solicited advertisements to all-nodes.
    pub solicited_multicast_sent: u64,
    /// Solicited advertisements to the solicitor's address.
    pub solicited_unicast_sent: u64,
    /// Final advertisements (router lifetime 0) of a shutdown.
    pub final_sent: u64,
    /// Valid Router Solicitations received.
    pub solicitations: u64,
    /// Solicitations answered by an advertisement already scheduled.
    pub solicitations_merged: u64,
    /// Solicited answers put off by the rate limit of one per [`MIN_DELAY_BETWEEN_RAS`].
    pub rate_limited: u64,
    /// Solicitations ignored because the advertiser has stopped.
    pub solicitations_after_stop: u64,
    /// Solicitations that failed ND validation, by reason.
    pub invalid: crate::rd::NdInvalidCounters,
    /// Source link-layer address options in solicitations: meaningless here, skipped.
    pub link_layer_options: u64,
    /// Valid advertisements from other routers on the link.
    pub advertisements_received: u64,
    /// Of those, advertisements that disagree with ours (RFC 4861 §6.2.7): logged.
    pub inconsistent_advertisements: u64,
    /// Valid Neighbor Solicitations, Neighbor Advertisements and Redirects, ignored.
    pub other_nd: u64,
    /// `poll_transmit` buffers too small for the advertisement (sent at the next call).
    pub transmit_buffer_too_small: u64,
    /// Prefixes and routes dropped because their `valid_until` passed.
    pub prefixes_expired: u64,
    /// Withdrawals cut short because the table had no room for them.
    pub withdrawals_evicted: u64,
}

impl Counters {
    /// Solicited advertisements sent, to all-nodes or to the solicitor.
    pub fn solicited_sent(&self) -> u64 {
        self.solicited_multicast_sent + self.solicited_unicast_sent
    }
}
