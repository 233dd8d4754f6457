//! Router Advertisement processing (RFC 4861 §6.3.4, RFC 4862 §5.5.3, RFC 8981 §3.4,
//! RFC 4191 §3.1, RFC 8106 §5.3.1) and the expiry of what they configured.

use bridgeless_wire::ndp::{
    self, AddressIter, NdpMessage, NdpOption, Preference, PrefixInformation, RouteInformation,
};
use log::debug;
use rand_core::RngCore;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use super::iid::{self, random_iid};
use super::{
    Address, AddressKind, DnsServer, Dropped, Event, MAX_ADDRESSES, MAX_DESYNC_FACTOR,
    MAX_DNS_SERVERS, MAX_ROUTES, MIN_LINK_MTU, MaskPrefix64, PrefixEntry, REGEN_ADVANCE,
    RouteEntry, Router, RouterDiscovery, SLAAC_PREFIX_LEN, Solicit, TEMP_PREFERRED_LIFETIME,
    TEMP_VALID_LIFETIME, TWO_HOURS, earlier, later, reached, until,
};

/// RFC 4862 §5.5.3 e): the new end of the valid lifetime of an autoconfigured address (or
/// its prefix) that now ends at `current` (`None`: never), when an advertisement gives a
/// valid lifetime of `secs` seconds. Also says whether the advertised value was overruled.
///
/// 1. "If the received Valid Lifetime is greater than 2 hours or greater than
///    RemainingLifetime, set the valid lifetime ... to the advertised Valid Lifetime."
/// 2. "If RemainingLifetime is less than or equal to 2 hours, ignore the Prefix Information
///    option with regards to the valid lifetime" (no advertisement is authenticated here).
/// 3. "Otherwise, reset the valid lifetime ... to 2 hours."
///
/// This keeps a forged advertisement from removing addresses at once, at the price of
/// renumbering taking up to two hours to remove an old address (it is deprecated at once).
pub(super) fn two_hour_rule(
    now: Instant,
    current: Option<Instant>,
    secs: u32,
) -> (Option<Instant>, bool) {
    let advertised = until(now, secs);
    let advertised_len = (secs != u32::MAX).then(|| Duration::from_secs(u64::from(secs)));
    let remaining = current.map(|c| if c > now { c - now } else { Duration::ZERO });
    let longer_than = |bound: Duration| advertised_len.is_none_or(|a| a > bound);
    if longer_than(TWO_HOURS) || remaining.is_some_and(longer_than) {
        (advertised, false)
    } else if remaining.is_some_and(|r| r <= TWO_HOURS) {
        (current, advertised != current)
    } else {
        let two_hours = Some(later(now, TWO_HOURS));
        (two_hours, two_hours != advertised)
    }
}

/// RFC 4191 §3.2 ranks preferences high, medium, low.
fn rank(p: Preference) -> u8 {
    match p {
        Preference::High => 2,
        Preference::Medium => 1,
        Preference::Low => 0,
    }
}

impl RouterDiscovery {
    /// Validates and processes a received ND packet, a whole IPv6 packet (fixed header
    /// first), at `now`. Random identifiers for temporary addresses come from `rng`.
    ///
    /// The validity checks are those of RFC 4861 §6.1.2 ([`ndp::parse_ipv6`]: hop limit 255,
    /// checksum, code 0, link-local source, option lengths, no fragments). Anything else is
    /// dropped, counted by reason in [`Counters`](super::Counters) and returned as
    /// [`Dropped`]. A valid advertisement updates the state and queues [`Event`]s; options
    /// that cannot be used are ignored and counted, and the rest of the message still
    /// processed (RFC 4861 §4.6).
    pub fn handle_ra<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        packet: &[u8],
        rng: &mut R,
    ) -> Result<(), Dropped> {
        let received = match ndp::parse_ipv6(packet) {
            Ok(received) => received,
            Err(e) => {
                debug!("rd: dropped ND packet: {e}");
                self.counters.invalid.count(e);
                return Err(Dropped::Invalid(e));
            }
        };
        let ra = match received.message {
            NdpMessage::RouterAdvertisement(ra) => ra,
            other => {
                self.counters.not_advertisement += 1;
                return Err(Dropped::NotAdvertisement(other.kind()));
            }
        };
        let router = received.src_addr;
        self.counters.advertisements += 1;
        self.process_router(now, router, ra.router_lifetime(), ra.preference());
        // RFC 4861 §6.3.7: after "a valid Router Advertisement with a non-zero Router
        // Lifetime, the host MUST desist from sending additional solicitations".
        if ra.router_lifetime() != 0 {
            self.solicit = Solicit::Idle;
        }
        // RFC 4861 §6.3.4: "If the received Cur Hop Limit value is non-zero, the host
        // SHOULD set its CurHopLimit variable to the received value."
        let hop_limit = ra.cur_hop_limit();
        if hop_limit != 0 && self.hop_limit != Some(hop_limit) {
            self.hop_limit = Some(hop_limit);
            self.push_event(Event::HopLimit(hop_limit));
        }
        // RFC 4861 §6.3.4: non-zero Reachable Time and Retrans Timer are recorded.
        if ra.reachable_time() != 0 {
            self.reachable_time = Some(Duration::from_millis(u64::from(ra.reachable_time())));
        }
        if ra.retrans_timer() != 0 {
            self.retrans_timer = Some(Duration::from_millis(u64::from(ra.retrans_timer())));
        }
        for option in ra.options() {
            match option {
                NdpOption::Mtu(mtu) => self.process_mtu(mtu),
                NdpOption::PrefixInformation(p) => self.process_prefix(now, p, rng),
                NdpOption::RouteInformation(r) => self.process_route(now, router, r),
                NdpOption::Rdnss(r) => self.process_rdnss(now, r.lifetime, r.addresses),
                NdpOption::LinkLayerAddress { .. } => self.counters.link_layer_options += 1,
                NdpOption::Invalid { .. } => self.counters.invalid_options += 1,
                NdpOption::Unknown { .. } => self.counters.unknown_options += 1,
            }
        }
        self.reconcile(now, rng);
        Ok(())
    }

    /// RFC 4861 §6.3.4: a new router with a non-zero lifetime joins the default router list;
    /// a known one gets the new lifetime, and a zero lifetime times it out at once.
    fn process_router(&mut self, now: Instant, addr: Ipv6Address, lifetime: u16, pref: Preference) {
        if lifetime == 0 {
            self.routers.remove_where(|r| r.addr == addr);
            return;
        }
        let valid_until = later(now, Duration::from_secs(u64::from(lifetime)));
        if let Some(r) = self.routers.find_mut(|r| r.addr == addr) {
            r.valid_until = valid_until;
            r.preference = pref;
        } else if self
            .routers
            .insert(Router {
                addr,
                preference: pref,
                valid_until,
            })
            .is_err()
        {
            self.counters.router_table_full += 1;
        }
    }

    /// RFC 4861 §6.3.4: "hosts SHOULD copy the option's value into LinkMTU so long as the
    /// value is greater than or equal to the minimum link MTU [IPv6] and does not exceed the
    /// maximum LinkMTU value specified in the link-type-specific document" — here the MTU
    /// the caller configured for the device.
    fn process_mtu(&mut self, mtu: u32) {
        if !(MIN_LINK_MTU..=self.config.link_mtu).contains(&mtu) {
            self.counters.mtu_ignored += 1;
            return;
        }
        if mtu != self.mtu {
            self.mtu = mtu;
            self.push_event(Event::MtuChanged(mtu));
        }
    }

    /// RFC 4862 §5.5.3 for one Prefix Information option, and RFC 8981 §3.4 for the
    /// temporary addresses of its prefix.
    fn process_prefix<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        p: PrefixInformation,
        rng: &mut R,
    ) {
        // a) "If the Autonomous flag is not set, silently ignore the Prefix Information
        // option." (The on-link flag means nothing on a point-to-point link: every
        // destination is reached through the peer.)
        if !p.autonomous {
            self.counters.prefix_not_autonomous += 1;
            return;
        }
        // b) "If the prefix is the link-local prefix, silently ignore"; a multicast prefix
        // cannot make unicast addresses either.
        if p.prefix.is_unicast_link_local() || p.prefix.is_multicast() {
            self.counters.prefix_scope += 1;
            return;
        }
        // c) "If the preferred lifetime is greater than the valid lifetime, silently ignore".
        if p.preferred_lifetime > p.valid_lifetime {
            self.counters.prefix_lifetimes += 1;
            return;
        }
        // d) "If the sum of the prefix length and interface identifier length does not
        // equal 128 bits, the Prefix Information option MUST be ignored."
        if p.prefix_len != SLAAC_PREFIX_LEN {
            self.counters.prefix_length += 1;
            return;
        }
        let prefix = p.prefix.mask_prefix64();
        let preferred_until = until(now, p.preferred_lifetime);
        let entry = if let Some(e) = self.prefixes.find_mut(|e| e.prefix == prefix) {
            // e) the prefix is known: reset the preferred lifetime, apply the two-hour rule.
            let (valid_until, overruled) = two_hour_rule(now, e.valid_until, p.valid_lifetime);
            e.preferred_until = preferred_until;
            e.valid_until = valid_until;
            if overruled {
                self.counters.two_hour_rule += 1;
            }
            *e
        } else {
            // d) a new prefix forms addresses unless its valid lifetime is zero.
            if p.valid_lifetime == 0 {
                return;
            }
            let e = PrefixEntry {
                prefix,
                preferred_until,
                valid_until: until(now, p.valid_lifetime),
            };
            if self.prefixes.insert(e).is_err() {
                self.counters.prefix_table_full += 1;
                return;
            }
            e
        };
        if self.config.address_mode.stable() {
            self.update_stable(now, entry);
        }
        if self.config.address_mode.temporary() {
            self.update_temporary(now, entry, rng);
        }
    }

    /// The stable address of a prefix has the prefix's lifetimes; formed if missing.
    fn update_stable(&mut self, now: Instant, entry: PrefixEntry) {
        let existing = self
            .addresses
            .find_mut(|a| a.address.kind == AddressKind::Stable && a.prefix() == entry.prefix);
        if let Some(a) = existing {
            a.address.preferred_until = entry.preferred_until;
            a.address.valid_until = entry.valid_until;
            return;
        }
        let Some(iid) = self.config.stable_iid.iid(entry.prefix) else {
            self.counters.iid_exhausted += 1;
            return;
        };
        let address = Address {
            cidr: Ipv6Cidr::new(iid::join(entry.prefix, iid), SLAAC_PREFIX_LEN),
            kind: AddressKind::Stable,
            created: now,
            preferred_until: entry.preferred_until,
            valid_until: entry.valid_until,
            deprecated: reached(entry.preferred_until, now),
        };
        self.add_address(address, Duration::ZERO);
    }

    /// RFC 8981 §3.4: temporary addresses of the prefix take the prefix's lifetimes, capped
    /// by [`TEMP_VALID_LIFETIME`] and [`TEMP_PREFERRED_LIFETIME`] less their DESYNC_FACTOR
    /// counted from their creation; and a prefix without a preferred temporary address gets
    /// one.
    fn update_temporary<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        entry: PrefixEntry,
        rng: &mut R,
    ) {
        let mut has_preferred = false;
        for e in self.addresses.iter_mut() {
            if e.address.kind != AddressKind::Temporary || e.prefix() != entry.prefix {
                continue;
            }
            let a = &mut e.address;
            a.valid_until = earlier(
                entry.valid_until,
                Some(later(a.created, TEMP_VALID_LIFETIME)),
            );
            let cap = later(a.created, TEMP_PREFERRED_LIFETIME - e.desync);
            a.preferred_until = earlier(entry.preferred_until, Some(cap));
            has_preferred |= !reached(a.preferred_until, now);
            // A successor is due again if the preferred lifetime now ends later.
            if e.regenerated && a.preferred_until.is_some_and(|p| p - REGEN_ADVANCE > now) {
                e.regenerated = false;
            }
        }
        if !has_preferred {
            self.create_temporary(now, entry.prefix, rng);
        }
    }

    /// Forms a temporary address for `prefix` (RFC 8981 §3.4, §3.3.1).
    fn create_temporary<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        prefix: Ipv6Address,
        rng: &mut R,
    ) {
        let Some(entry) = self.prefixes.find(|e| e.prefix == prefix).copied() else {
            return;
        };
        // RFC 8981 §3.8: DESYNC_FACTOR is drawn anew for each temporary address.
        let desync = Duration::from_micros(rng.next_u64() % (MAX_DESYNC_FACTOR.total_micros() + 1));
        let preferred_until = earlier(
            entry.preferred_until,
            Some(later(now, TEMP_PREFERRED_LIFETIME - desync)),
        );
        let valid_until = earlier(entry.valid_until, Some(later(now, TEMP_VALID_LIFETIME)));
        // RFC 8981 §3.4 step 5: "A temporary address is created only if this calculated
        // preferred lifetime is greater than REGEN_ADVANCE time units."
        if reached(preferred_until, later(now, REGEN_ADVANCE)) {
            self.counters.temporary_too_short += 1;
            return;
        }
        let addresses = &self.addresses;
        let in_use = |iid| {
            let addr = iid::join(prefix, iid);
            addresses.iter().any(|a| a.address.cidr.address() == addr)
        };
        let Some(iid) = random_iid(rng, in_use) else {
            self.counters.iid_exhausted += 1;
            return;
        };
        let address = Address {
            cidr: Ipv6Cidr::new(iid::join(prefix, iid), SLAAC_PREFIX_LEN),
            kind: AddressKind::Temporary,
            created: now,
            preferred_until,
            valid_until,
            deprecated: false,
        };
        self.add_address(address, desync);
    }

    /// RFC 4191 §3.1: a Route Information option adds or refreshes a route through the
    /// advertising router; a zero lifetime removes it. A `::/0` route is kept and reported
    /// like any other, beside the default router of the advertisement's header (both go
    /// through the same router, so a caller applying both routes the same way).
    fn process_route(&mut self, now: Instant, router: Ipv6Address, r: RouteInformation) {
        if r.prefix.is_unicast_link_local() || r.prefix.is_multicast() {
            self.counters.route_invalid += 1;
            return;
        }
        let cidr = Ipv6Cidr::new(r.prefix, r.prefix_len);
        let key = |e: &RouteEntry| e.cidr == cidr && e.router == router;
        if r.lifetime == 0 {
            if self.routes.find(key).is_some() {
                self.routes.remove_where(key);
                self.push_event(Event::RouteRemoved { cidr, router });
            }
            return;
        }
        let valid_until = until(now, r.lifetime);
        if let Some(e) = self.routes.find_mut(key) {
            e.valid_until = valid_until;
            e.preference = r.preference;
            return;
        }
        let entry = RouteEntry {
            cidr,
            router,
            preference: r.preference,
            valid_until,
        };
        if self.routes.insert(entry).is_err() {
            self.counters.route_table_full += 1;
            return;
        }
        self.push_event(Event::RouteAdded {
            cidr,
            router,
            preference: r.preference,
        });
    }

    /// RFC 8106 §5.3.1: each server of an RDNSS option is added or refreshed with the
    /// option's lifetime; a zero lifetime removes it. A full list ignores new servers.
    fn process_rdnss(&mut self, now: Instant, lifetime: u32, servers: AddressIter<'_>) {
        for addr in servers {
            if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() {
                self.counters.dns_invalid += 1;
                continue;
            }
            if lifetime == 0 {
                if self.dns.find(|d| d.addr == addr).is_some() {
                    self.dns.remove_where(|d| d.addr == addr);
                    self.push_event(Event::DnsServerRemoved { addr });
                }
                continue;
            }
            let valid_until = until(now, lifetime);
            if let Some(d) = self.dns.find_mut(|d| d.addr == addr) {
                d.valid_until = valid_until;
            } else if self.dns.insert(DnsServer { addr, valid_until }).is_err() {
                self.counters.dns_table_full += 1;
            } else {
                self.push_event(Event::DnsServerAdded { addr });
            }
        }
    }

    /// Brings everything in line with `now`: removes what expired, deprecates and
    /// un-deprecates addresses, renews temporary addresses, picks the default router.
    /// Changes nothing if nothing is due.
    pub(super) fn reconcile<R: RngCore + ?Sized>(&mut self, now: Instant, rng: &mut R) {
        self.routers.remove_where(|r| r.valid_until <= now);
        self.select_default_router();

        // Prefixes whose temporary address needs a successor, with that address's end of
        // preferred lifetime.
        let mut successors: [Option<(Ipv6Address, Option<Instant>)>; MAX_ADDRESSES] =
            [None; MAX_ADDRESSES];
        for (i, successor) in successors.iter_mut().enumerate() {
            let Some(e) = self.addresses.get_mut(i) else {
                continue;
            };
            let a = e.address;
            if reached(a.valid_until, now) {
                self.addresses.remove(i);
                self.push_event(Event::AddressRemoved { addr: a.cidr });
                continue;
            }
            // Before the deprecation below: a late call still renews (RFC 8981 §3.5).
            if e.regenerate_at().is_some_and(|at| at <= now) {
                e.regenerated = true;
                *successor = Some((e.prefix(), a.preferred_until));
            }
            let deprecated = reached(a.preferred_until, now);
            if deprecated != a.deprecated {
                e.address.deprecated = deprecated;
                self.push_event(if deprecated {
                    Event::AddressDeprecated { addr: a.cidr }
                } else {
                    Event::AddressPreferred { addr: a.cidr }
                });
            }
        }
        for (prefix, old_end) in successors.into_iter().flatten() {
            // Another temporary address preferred for longer already does the job.
            let covered = self.addresses.iter().any(|e| {
                e.address.kind == AddressKind::Temporary
                    && e.prefix() == prefix
                    && !e.address.deprecated
                    && e.address.preferred_until > old_end
            });
            if !covered {
                self.create_temporary(now, prefix, rng);
            }
        }

        self.prefixes.remove_where(|p| reached(p.valid_until, now));
        for i in 0..MAX_ROUTES {
            if let Some(r) = self.routes.get_mut(i)
                && reached(r.valid_until, now)
            {
                let (cidr, router) = (r.cidr, r.router);
                self.routes.remove(i);
                self.push_event(Event::RouteRemoved { cidr, router });
            }
        }
        for i in 0..MAX_DNS_SERVERS {
            if let Some(d) = self.dns.get_mut(i)
                && reached(d.valid_until, now)
            {
                let addr = d.addr;
                self.dns.remove(i);
                self.push_event(Event::DnsServerRemoved { addr });
            }
        }
    }

    /// RFC 4191 §3.2 / RFC 4861 §6.3.6: the default router is a router of the highest
    /// preference; the current one stays while it is one of those.
    fn select_default_router(&mut self) {
        let best = self.routers.iter().map(|r| rank(r.preference)).max();
        let current = self
            .default_router
            .and_then(|addr| self.routers.find(|r| r.addr == addr))
            .copied();
        let chosen = match (current, best) {
            (Some(c), Some(b)) if rank(c.preference) == b => Some(c),
            (_, Some(b)) => self.routers.find(|r| rank(r.preference) == b).copied(),
            _ => None,
        };
        if chosen.map(|r| r.addr) == self.default_router {
            return;
        }
        let previous = self.default_router;
        self.default_router = chosen.map(|r| r.addr);
        match (chosen, previous) {
            (Some(r), _) => self.push_event(Event::DefaultRouter {
                router: r.addr,
                preference: r.preference,
                valid_until: r.valid_until,
            }),
            (None, Some(router)) => self.push_event(Event::DefaultRouterLost { router }),
            (None, None) => {}
        }
    }
}
