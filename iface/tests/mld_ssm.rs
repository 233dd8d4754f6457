//! Source-specific multicast through an MLD proxy (RFC 4605 §4.1, RFC 3810 source filters),
//! in memory with virtual time. One proxy with two downstream links and an upstream link to
//! an upstream router (our [`MldQuerier`]):
//!
//! - a downstream MLDv2 report INCLUDE {S1} of G makes the proxy's upstream host report
//!   ALLOW {S1} for G, so the upstream router wants only S1's packets on the link; a second
//!   downstream listener with EXCLUDE {S2} changes the upstream report to TO_EX {S2}; when
//!   the listeners go, TO_IN {S1} and then BLOCK {S1} follow, and the upstream router's
//!   state follows each time;
//! - packets from upstream reach exactly the downstream links whose listeners want their
//!   source;
//! - (proptest) for random downstream states, over several changes, the filter the proxy
//!   reports upstream equals the RFC 3810 §4.2 merge computed with sets (or EXCLUDE {} when
//!   the INCLUDE union does not fit), it accepts exactly the sources some downstream link
//!   wants, and the upstream router ends up wanting exactly those sources too;
//! - every packet emitted is written to `target/tmp/emitted/mld_ssm.pcap`, and one capture
//!   is dissected by tshark here.

use std::collections::BTreeSet;

use bridgeless_iface::mld::proxy::{Link, LinkConfig, MldProxy};
use bridgeless_iface::mld::querier::{MldQuerier, QuerierConfig};
use bridgeless_iface::mld::{Config, FilterMode, MldHost};
use bridgeless_wire::mld::{
    self, AddressRecordRepr, MldMessage, MldRepr, RecordType, ReportV2Repr,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

#[path = "../../wire/tests/support/mod.rs"]
mod support;
use support::{Tshark, record_emitted};

/// Up to 8 groups of up to `S` sources per link.
type Proxy<const S: usize> = MldProxy<8, S>;
/// The upstream router tracks up to 16 sources per group, more than the proxy reports, so
/// that its own bound (its transitions can hold a requested list plus an exclude list)
/// never decides a test: with a full table a querier forwards more than asked (never less,
/// see `querier::tests::a_requested_source_that_did_not_fit_is_never_cut_off`), and this
/// test wants the exact set.
type Router = MldQuerier<8, 16>;

const G: Ipv6Address = Ipv6Address::new(0xff3e, 0, 0, 0, 0, 0, 0, 0x42);
const UPSTREAM_ROUTER: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100);
const PROXY_UP: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fn s(i: u16) -> Ipv6Address {
    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
}

fn ll(i: u16) -> Ipv6Address {
    Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, i)
}

/// The address of the host on downstream link `n` (hand-made reports come from
/// `fe80::2n` instead).
fn listener(n: usize) -> Ipv6Address {
    ll(0x10 + n as u16)
}

/// An MLDv2 report with one record for G, from `from`.
fn report(from: Ipv6Address, record_type: RecordType, sources: &[Ipv6Address]) -> Vec<u8> {
    let records = [AddressRecordRepr {
        record_type,
        multicast_address: G,
        sources,
    }];
    let repr = MldRepr::ReportV2(ReportV2Repr { records: &records });
    let mut buf = vec![0u8; 1500];
    let len = mld::emit_ipv6(&from, &repr.destination(), &repr, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// A record of an upstream report: type and sources (the group is always G here).
type Record = (RecordType, Vec<Ipv6Address>);

/// A Current State Record sent upstream, with the proxy's upstream filter at the time.
type Answer = (Record, Option<(FilterMode, Vec<Ipv6Address>)>);

/// The proxy, the router above it, hosts below, and every packet sent.
struct World<const S: usize> {
    proxy: Proxy<S>,
    router: Router,
    /// `hosts[n]` listens on downstream link `n`.
    hosts: Vec<MldHost>,
    rng: ChaCha8Rng,
    now: Instant,
    /// State Change Records of the proxy's upstream reports, in order.
    upstream_records: Vec<Record>,
    /// Current State Records (answers to the upstream router's queries), with the
    /// proxy's upstream filter when they were sent.
    upstream_answers: Vec<Answer>,
    /// Every packet any node sent.
    emitted: Vec<Vec<u8>>,
}

impl<const S: usize> World<S> {
    fn new(links: usize) -> World<S> {
        let now = Instant::from_secs(1);
        let downstream: Vec<_> = (0..links)
            .map(|n| LinkConfig::new(ll(2 + n as u16)))
            .collect();
        let proxy = Proxy::new(
            QuerierConfig::default(),
            Config::default(),
            Some(LinkConfig::new(PROXY_UP)),
            &downstream,
            now,
        )
        .unwrap();
        let router = Router::new(QuerierConfig::default(), UPSTREAM_ROUTER, now).unwrap();
        let hosts = (0..links)
            .map(|n| {
                let mut host = MldHost::new(Config::default());
                host.set_link_local(Some(listener(n))).unwrap();
                host
            })
            .collect();
        World {
            proxy,
            router,
            hosts,
            rng: ChaCha8Rng::seed_from_u64(9),
            now,
            upstream_records: Vec::new(),
            upstream_answers: Vec::new(),
            emitted: Vec::new(),
        }
    }

    fn record(&mut self, packet: &[u8]) {
        record_emitted(packet);
        self.emitted.push(packet.to_vec());
    }

    /// A hand-made report from a listener on downstream link `n`.
    fn listener_reports(&mut self, n: usize, record_type: RecordType, sources: &[Ipv6Address]) {
        let packet = report(ll(0x20 + n as u16), record_type, sources);
        self.record(&packet);
        self.proxy
            .handle_packet(self.now, Link::Downstream(n), &packet, &mut self.rng);
    }

    /// Sends and delivers everything due now.
    fn exchange(&mut self) {
        let mut buf = [0u8; 1500];
        loop {
            let mut progress = false;
            while let Some((link, len)) = self.proxy.poll_transmit(self.now, &mut buf) {
                progress = true;
                let packet = buf[..len].to_vec();
                self.record(&packet);
                match link {
                    Link::Upstream => {
                        let parsed = mld::parse_ipv6(&packet).unwrap();
                        let MldMessage::ReportV2(r) = parsed.message else {
                            panic!("upstream sends MLDv2 reports only: {parsed:?}");
                        };
                        let filter = self.proxy.upstream_filter(&G).map(|(m, s)| (m, s.to_vec()));
                        for rec in r.records() {
                            assert_eq!(rec.multicast_address, G);
                            let record = (rec.record_type, rec.sources.collect());
                            match rec.record_type {
                                RecordType::ModeIsInclude | RecordType::ModeIsExclude => {
                                    self.upstream_answers.push((record, filter.clone()))
                                }
                                _ => self.upstream_records.push(record),
                            }
                        }
                        self.router.handle_packet(self.now, &packet);
                    }
                    Link::Downstream(n) => {
                        if let Some(host) = self.hosts.get_mut(n) {
                            host.handle_packet(self.now, &packet, &mut self.rng);
                        }
                    }
                }
            }
            while let Some(len) = self.router.poll_transmit(self.now, &mut buf) {
                progress = true;
                let packet = buf[..len].to_vec();
                self.record(&packet);
                self.proxy
                    .handle_packet(self.now, Link::Upstream, &packet, &mut self.rng);
            }
            for n in 0..self.hosts.len() {
                while let Some(len) = self.hosts[n].poll_transmit(self.now, &mut buf) {
                    progress = true;
                    let packet = buf[..len].to_vec();
                    self.record(&packet);
                    self.proxy
                        .handle_packet(self.now, Link::Downstream(n), &packet, &mut self.rng);
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        loop {
            self.exchange();
            let next = [self.proxy.poll_timeout(), self.router.poll_timeout()]
                .into_iter()
                .chain(self.hosts.iter().map(|h| h.poll_timeout()))
                .flatten()
                .min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.proxy.handle_timeout(self.now);
                    self.router.handle_timeout(self.now);
                    for h in &mut self.hosts {
                        h.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// The upstream records since the last call.
    fn take_upstream(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.upstream_records)
    }

    /// Which downstream links a packet from `source` to G arriving from upstream goes to.
    fn delivered_from_upstream(&mut self, source: Ipv6Address) -> Vec<usize> {
        let set = self.proxy.forward(Link::Upstream, &G, &source).unwrap();
        set.iter()
            .map(|l| match l {
                Link::Downstream(n) => n,
                Link::Upstream => unreachable!("never back upstream"),
            })
            .collect()
    }
}

fn twice(record: Record) -> Vec<Record> {
    vec![record.clone(), record]
}

#[test]
fn a_source_specific_listener_below_makes_the_upstream_report_source_specific() {
    let mut w = World::<4>::new(2);
    w.run_for(Duration::from_secs(2));
    assert!(w.take_upstream().is_empty());

    // A listener on link 0 reports INCLUDE {S1} of G.
    w.listener_reports(0, RecordType::ModeIsInclude, &[s(1)]);
    w.run_for(Duration::from_secs(3));
    assert_eq!(
        w.take_upstream(),
        twice((RecordType::AllowNewSources, vec![s(1)])),
        "INCLUDE {{}} -> INCLUDE {{S1}} is ALLOW {{S1}} (RFC 3810 §6.1), sent twice"
    );
    assert_eq!(
        w.proxy.upstream_filter(&G),
        Some((FilterMode::Include, &[s(1)][..]))
    );
    // The upstream router now sends only S1 down to the proxy.
    assert!(w.router.wants(&G, &s(1)));
    assert!(!w.router.wants(&G, &s(2)) && !w.router.wants(&G, &s(3)));
    assert_eq!(w.delivered_from_upstream(s(1)), [0]);
    assert_eq!(w.delivered_from_upstream(s(2)), Vec::<usize>::new());

    // A host on link 1 listens to everything but S2: the merge is EXCLUDE ({S2} - {S1}).
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    w.hosts[1]
        .listen(w.now, G, FilterMode::Exclude, &[s(2)], &mut rng)
        .unwrap();
    w.run_for(Duration::from_secs(3));
    assert_eq!(
        w.take_upstream(),
        twice((RecordType::ChangeToExcludeMode, vec![s(2)]))
    );
    assert_eq!(
        w.proxy.upstream_filter(&G),
        Some((FilterMode::Exclude, &[s(2)][..]))
    );
    assert_eq!(w.proxy.counters().upstream_filter_changes, 1);
    // The upstream router's requested list times out into the exclude list: after the
    // Last Listener Query Time it wants every source but S2.
    assert!(w.router.wants(&G, &s(1)) && w.router.wants(&G, &s(3)));
    assert!(!w.router.wants(&G, &s(2)));
    assert_eq!(w.delivered_from_upstream(s(1)), [0, 1]);
    assert_eq!(w.delivered_from_upstream(s(3)), [1]);
    assert_eq!(
        w.delivered_from_upstream(s(2)),
        Vec::<usize>::new(),
        "S2 is wanted by no downstream link"
    );

    // Link 0's listener also excludes S2 (TO_EX {S2}): nothing changes upstream.
    w.listener_reports(0, RecordType::ChangeToExcludeMode, &[s(2)]);
    w.run_for(Duration::from_secs(5));
    assert!(w.take_upstream().is_empty());

    // ... then goes back to INCLUDE {S1}; link 1's host leaves: the merge is INCLUDE {S1}
    // again once the downstream querier has run its Last Listener Queries.
    w.listener_reports(0, RecordType::ChangeToIncludeMode, &[s(1)]);
    w.hosts[1].leave(w.now, G, &mut rng).unwrap();
    w.run_for(Duration::from_secs(5));
    assert_eq!(
        w.take_upstream(),
        twice((RecordType::ChangeToIncludeMode, vec![s(1)]))
    );
    assert!(w.router.wants(&G, &s(1)));
    assert!(
        !w.router.wants(&G, &s(3)),
        "the upstream router dropped the other sources"
    );

    // Link 0's listener leaves: BLOCK {S1}, and the upstream router forgets G.
    w.listener_reports(0, RecordType::BlockOldSources, &[s(1)]);
    w.run_for(Duration::from_secs(5));
    assert_eq!(
        w.take_upstream(),
        twice((RecordType::BlockOldSources, vec![s(1)]))
    );
    assert_eq!(w.proxy.upstream_filter(&G), None);
    assert_eq!(w.proxy.counters().upstream_joins, 1);
    assert_eq!(w.proxy.counters().upstream_leaves, 1);
    assert!(w.router.group(&G).is_none());

    // The upstream router's queries were answered from the filter of the moment (RFC 3810
    // §6.3): IS_EX with the exclude list, IS_IN with sources the filter accepts.
    assert!(!w.upstream_answers.is_empty());
    for ((kind, sources), filter) in &w.upstream_answers {
        let (mode, list) = filter.clone().expect("answers only while listening");
        match kind {
            RecordType::ModeIsExclude => {
                assert_eq!((mode, sources), (FilterMode::Exclude, &list))
            }
            _ => assert!(
                sources
                    .iter()
                    .all(|a| list.contains(a) == (mode == FilterMode::Include))
            ),
        }
    }

    if let Some(tshark) = Tshark::new("mld_ssm", &w.emitted) {
        assert_eq!(tshark.problems(), "");
        let fields = tshark.fields(&[
            "icmpv6.mldr.mar.record_type",
            "icmpv6.mldr.mar.source_address",
        ]);
        // ALLOW_NEW_SOURCES (5) with S1, CHANGE_TO_EXCLUDE_MODE (4) with S2.
        assert!(fields.contains("5\t2001:db8::1"), "{fields}");
        assert!(fields.contains("4\t2001:db8::2"), "{fields}");
    }
}

#[test]
fn a_union_too_large_for_the_upstream_host_is_reported_as_every_source() {
    let mut w = World::<4>::new(2);
    w.listener_reports(0, RecordType::ModeIsInclude, &[s(1), s(2), s(3)]);
    w.listener_reports(1, RecordType::ModeIsInclude, &[s(4), s(5)]);
    w.run_for(Duration::from_secs(3));
    // Five sources do not fit S = 4: EXCLUDE {}, a superset, never a subset.
    assert_eq!(
        w.proxy.upstream_filter(&G),
        Some((FilterMode::Exclude, &[][..]))
    );
    assert_eq!(w.proxy.counters().upstream_source_overflow, 1);
    assert!((1..=6).all(|i| w.router.wants(&G, &s(i))));
    // Downstream still gets exactly what each link asked for.
    assert_eq!(w.delivered_from_upstream(s(1)), [0]);
    assert_eq!(w.delivered_from_upstream(s(5)), [1]);
    assert_eq!(w.delivered_from_upstream(s(6)), Vec::<usize>::new());
}

/// Sources S1..S10 make the states; S11 is never listed.
const POOL: u16 = 10;

/// The proxy's sources per group in the proptest: an INCLUDE union of three links' lists
/// of up to 4 may not fit, and a downstream record (INCLUDE (A) + TO_IN (B), at most 8)
/// always does.
const PROP_S: usize = 8;

/// A downstream link's wanted state: no listener, or INCLUDE/EXCLUDE with sources (by
/// index into the pool).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LinkState {
    None,
    Include(BTreeSet<u16>),
    Exclude(BTreeSet<u16>),
}

fn link_state() -> impl Strategy<Value = LinkState> {
    let set = proptest::collection::btree_set(1u16..=POOL, 0..=4);
    prop_oneof![
        Just(LinkState::None),
        set.clone().prop_map(LinkState::Include),
        set.prop_map(LinkState::Exclude),
    ]
}

/// The reference merge with sets (RFC 3810 §4.2): `None` if not reported.
fn reference(states: &[LinkState]) -> Option<(FilterMode, BTreeSet<u16>)> {
    let includes: BTreeSet<u16> = states
        .iter()
        .filter_map(|s| match s {
            LinkState::Include(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let excludes: Vec<&BTreeSet<u16>> = states
        .iter()
        .filter_map(|s| match s {
            LinkState::Exclude(a) => Some(a),
            _ => None,
        })
        .collect();
    if let Some((first, rest)) = excludes.split_first() {
        let common = rest.iter().fold((*first).clone(), |acc, y| &acc & *y);
        Some((FilterMode::Exclude, &common - &includes))
    } else if includes.is_empty() {
        None
    } else if includes.len() > PROP_S {
        Some((FilterMode::Exclude, BTreeSet::new())) // the documented fallback
    } else {
        Some((FilterMode::Include, includes))
    }
}

fn addrs(ids: &BTreeSet<u16>) -> Vec<Ipv6Address> {
    ids.iter().map(|&i| s(i)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_upstream_filter_is_the_merge_of_the_downstream_states(
        steps in proptest::collection::vec(proptest::collection::vec(link_state(), 3), 1..4)
    ) {
        // No hosts take part: the links' states come from hand-made reports.
        let mut w = World::<PROP_S>::new(3);
        w.hosts.clear();
        for states in &steps {
            for (n, state) in states.iter().enumerate() {
                // TO_IN / TO_EX set a link's state once the querier's Last Listener Queries
                // for the sources and group no longer listed have gone unanswered.
                let (kind, ids) = match state {
                    LinkState::None => (RecordType::ChangeToIncludeMode, BTreeSet::new()),
                    LinkState::Include(a) => (RecordType::ChangeToIncludeMode, a.clone()),
                    LinkState::Exclude(a) => (RecordType::ChangeToExcludeMode, a.clone()),
                };
                w.listener_reports(n, kind, &addrs(&ids));
            }
            w.run_for(Duration::from_secs(10));
            // The downstream queriers hold the intended states.
            for (n, state) in states.iter().enumerate() {
                let q = w.proxy.querier(n).unwrap();
                for i in 1..=POOL + 1 {
                    let wanted = match state {
                        LinkState::None => false,
                        LinkState::Include(a) => a.contains(&i),
                        LinkState::Exclude(a) => !a.contains(&i),
                    };
                    prop_assert_eq!(q.wants(&G, &s(i)), wanted, "link {} source {}", n, i);
                }
            }
            let expected = reference(states);
            let reported = w.proxy.upstream_filter(&G).map(|(m, src)| {
                (m, src.iter().map(|a| a.segments()[7]).collect::<BTreeSet<u16>>())
            });
            prop_assert_eq!(&reported, &expected);
            let overflow = expected == Some((FilterMode::Exclude, BTreeSet::new()))
                && !states.iter().any(|s| matches!(s, LinkState::Exclude(_)));
            let host = w.proxy.upstream_host().unwrap();
            for i in 1..=POOL + 1 {
                let below = (0..3).any(|n| w.proxy.querier(n).unwrap().wants(&G, &s(i)));
                let accepted = host.accepts(&G, &s(i));
                if overflow {
                    prop_assert!(accepted, "the fallback accepts every source");
                } else {
                    prop_assert_eq!(accepted, below, "source {}", i);
                }
                // The upstream router, told by the proxy's reports and answers, wants the
                // same sources the proxy's filter accepts.
                prop_assert_eq!(w.router.wants(&G, &s(i)), accepted, "upstream, source {}", i);
            }
        }
    }
}

#[test]
fn hosts_below_reach_the_proxy_too() {
    // The same with MldHost listeners: INCLUDE {S1} on link 0 and INCLUDE {S1, S3} on link
    // 1 merge into INCLUDE {S1, S3}.
    let mut w = World::<4>::new(2);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    w.hosts[0]
        .listen(w.now, G, FilterMode::Include, &[s(1)], &mut rng)
        .unwrap();
    w.hosts[1]
        .listen(w.now, G, FilterMode::Include, &[s(1), s(3)], &mut rng)
        .unwrap();
    w.run_for(Duration::from_secs(3));
    let (mode, sources) = w.proxy.upstream_filter(&G).unwrap();
    assert_eq!(mode, FilterMode::Include);
    assert_eq!(
        sources.iter().collect::<BTreeSet<_>>(),
        [s(1), s(3)].iter().collect()
    );
    // General Queries from upstream are answered with MODE_IS_INCLUDE {S1, S3}.
    w.upstream_answers.clear();
    w.run_for(Duration::from_secs(130));
    assert!(!w.upstream_answers.is_empty());
    for ((kind, sources), _) in &w.upstream_answers {
        assert_eq!(*kind, RecordType::ModeIsInclude);
        assert_eq!(
            sources.iter().collect::<BTreeSet<_>>(),
            [s(1), s(3)].iter().collect()
        );
    }
}
