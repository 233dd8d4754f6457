//! Our MLD hosts against our querier, and a tree of MLD proxies, in memory with virtual time.
//!
//! - a host's join makes it a listener on the querier at once; its leave brings Multicast
//!   Address Specific Queries and the listener is gone exactly [Last Listener Query Count]
//!   × [Last Listener Query Interval] after the leave, unless another host still listens;
//! - a host that goes silent is forgotten after the Multicast Address Listening Interval;
//! - a host in MLDv1 mode puts its group (only its group) in MLDv1 compatibility mode;
//! - a querier configured for MLDv1 (RFC 3810 §8.3.1) sends MLDv1 queries, which turn our
//!   hosts to MLDv1; their Reports and Dones are followed with MLDv1 Multicast Address
//!   Specific Queries, never a source-specific one, and tshark reads every query as a
//!   24-octet MLDv1 query;
//! - of two queriers on a link the lower address wins; the other keeps tracking listeners
//!   and takes over when the winner goes quiet;
//! - in a tree of three proxies (a root and two children, hosts below each), a group's
//!   packets reach exactly the links with listeners, from whichever link they start; after
//!   a leave they stop reaching that link; link-scope packets never leave their link.

use bridgeless_iface::mld::proxy::{Link, LinkConfig, MldProxy};
use bridgeless_iface::mld::querier::{
    FilterMode, GroupCompatibility, MldQuerier, MldVersion, QuerierConfig,
};
use bridgeless_iface::mld::{CompatibilityMode, Config, MldHost};
use bridgeless_wire::mld::{self, MldRepr, QueryRepr};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

#[path = "../../wire/tests/support/mod.rs"]
mod support;
use support::{Tshark, record_emitted};

type Querier = MldQuerier<8, 4>;
type Proxy = MldProxy<8, 4>;

const G: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x42);
const G2: Ipv6Address = Ipv6Address::new(0xff15, 0, 0, 0, 0, 0, 0, 0x43);
const SOURCE: Ipv6Address = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);

fn ll(i: u16) -> Ipv6Address {
    Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, i)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Host(usize),
    Querier(usize),
    Proxy(usize, Link),
}

/// Nodes and the links between them; every packet sent on a link reaches every other end
/// of it at once.
struct Net {
    hosts: Vec<MldHost>,
    queriers: Vec<Querier>,
    proxies: Vec<Proxy>,
    links: Vec<Vec<End>>,
    rng: ChaCha8Rng,
    now: Instant,
    delivered: usize,
    /// Every packet a querier sent, in order.
    from_queriers: Vec<Vec<u8>>,
}

impl Net {
    fn new() -> Net {
        Net {
            hosts: Vec::new(),
            queriers: Vec::new(),
            proxies: Vec::new(),
            links: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(3),
            now: Instant::ZERO,
            delivered: 0,
            from_queriers: Vec::new(),
        }
    }

    fn host(&mut self, addr: Ipv6Address) -> usize {
        let mut host = MldHost::new(Config::default());
        host.set_link_local(Some(addr)).unwrap();
        self.hosts.push(host);
        self.hosts.len() - 1
    }

    fn querier(&mut self, addr: Ipv6Address) -> usize {
        self.querier_with(addr, QuerierConfig::default())
    }

    fn querier_with(&mut self, addr: Ipv6Address, config: QuerierConfig) -> usize {
        let q = Querier::new(config, addr, self.now).unwrap();
        self.queriers.push(q);
        self.queriers.len() - 1
    }

    fn link(&mut self, ends: &[End]) -> usize {
        self.links.push(ends.to_vec());
        self.links.len() - 1
    }

    fn unplug(&mut self, end: End) {
        for link in &mut self.links {
            link.retain(|e| *e != end);
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        let hosts = self.hosts.iter().filter_map(|h| h.poll_timeout());
        let queriers = self.queriers.iter().filter_map(|q| q.poll_timeout());
        let proxies = self.proxies.iter().filter_map(|p| p.poll_timeout());
        hosts.chain(queriers).chain(proxies).min()
    }

    /// Sends and delivers everything due at `self.now`.
    fn exchange(&mut self) {
        let mut buf = [0u8; 1500];
        for _ in 0..1000 {
            let mut sent = None;
            'ends: for (l, link) in self.links.iter().enumerate() {
                for &end in link {
                    let out = match end {
                        End::Host(i) => self.hosts[i].poll_transmit(self.now, &mut buf),
                        End::Querier(i) => self.queriers[i].poll_transmit(self.now, &mut buf),
                        End::Proxy(i, link) => {
                            // A proxy sends on whichever of its links is due: find that link.
                            match self.proxies[i].poll_transmit(self.now, &mut buf) {
                                Some((out_link, len)) => {
                                    let from = End::Proxy(i, out_link);
                                    let l = self.links.iter().position(|k| k.contains(&from));
                                    sent = l.map(|l| (l, from, buf[..len].to_vec()));
                                    let _ = link;
                                    break 'ends;
                                }
                                None => None,
                            }
                        }
                    };
                    if let Some(len) = out {
                        sent = Some((l, end, buf[..len].to_vec()));
                        break 'ends;
                    }
                }
            }
            let Some((l, from, packet)) = sent else {
                self.discard_unplugged();
                return;
            };
            self.delivered += 1;
            record_emitted(&packet);
            if matches!(from, End::Querier(_)) {
                self.from_queriers.push(packet.clone());
            }
            for &end in &self.links[l].clone() {
                if end == from {
                    continue;
                }
                match end {
                    End::Host(i) => {
                        self.hosts[i].handle_packet(self.now, &packet, &mut self.rng);
                    }
                    End::Querier(i) => {
                        self.queriers[i].handle_packet(self.now, &packet);
                    }
                    End::Proxy(i, link) => {
                        self.proxies[i].handle_packet(self.now, link, &packet, &mut self.rng);
                    }
                }
            }
        }
        panic!("the network never goes quiet");
    }

    /// What unplugged nodes send is lost.
    fn discard_unplugged(&mut self) {
        let mut buf = [0u8; 1500];
        let plugged = |end: End| self.links.iter().any(|l| l.contains(&end));
        for i in 0..self.hosts.len() {
            if !plugged(End::Host(i)) {
                while self.hosts[i].poll_transmit(self.now, &mut buf).is_some() {}
            }
        }
        for i in 0..self.queriers.len() {
            if !plugged(End::Querier(i)) {
                while self.queriers[i].poll_transmit(self.now, &mut buf).is_some() {}
            }
        }
    }

    /// Runs timers and exchanges packets until `until`.
    fn run_until(&mut self, until: Instant) {
        self.exchange();
        let mut steps = 0;
        while let Some(at) = self.next_timeout().filter(|&at| at <= until) {
            steps += 1;
            assert!(steps < 1_000_000, "no progress at {at} (now {})", self.now);
            self.now = self.now.max(at);
            for h in &mut self.hosts {
                h.handle_timeout(self.now);
            }
            for q in &mut self.queriers {
                q.handle_timeout(self.now);
            }
            for p in &mut self.proxies {
                p.handle_timeout(self.now);
            }
            self.exchange();
        }
        self.now = until;
        for q in &mut self.queriers {
            q.handle_timeout(until);
        }
        for p in &mut self.proxies {
            p.handle_timeout(until);
        }
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    fn join(&mut self, host: usize, group: Ipv6Address) {
        self.hosts[host]
            .join(self.now, group, &mut self.rng)
            .unwrap();
        self.exchange();
    }

    fn leave(&mut self, host: usize, group: Ipv6Address) {
        self.hosts[host]
            .leave(self.now, group, &mut self.rng)
            .unwrap();
        self.exchange();
    }
}

fn listener(q: &Querier, group: &Ipv6Address) -> bool {
    q.wants(group, &SOURCE)
}

#[test]
fn join_and_leave_within_the_last_listener_query_time() {
    let mut net = Net::new();
    let q = net.querier(ll(1));
    let (a, b) = (net.host(ll(0x10)), net.host(ll(0x11)));
    net.link(&[End::Querier(q), End::Host(a), End::Host(b)]);
    net.run_for(Duration::from_secs(5));

    net.join(a, G);
    assert!(
        listener(&net.queriers[q], &G),
        "a join is a listener at once"
    );
    let record = net.queriers[q].group(&G).unwrap();
    assert_eq!(record.filter_mode(), FilterMode::Exclude);
    assert_eq!(record.compatibility(), GroupCompatibility::V2);

    // Leave: the querier asks, nobody answers, the listener is gone after LLQT exactly.
    let llqt = net.queriers[q].last_listener_query_time();
    assert_eq!(llqt, Duration::from_secs(2));
    let left = net.now;
    net.leave(a, G);
    net.run_until(left + llqt - Duration::from_millis(1));
    assert!(listener(&net.queriers[q], &G), "still there before LLQT");
    net.run_until(left + llqt);
    assert!(!listener(&net.queriers[q], &G), "gone at LLQT");
    assert!(net.queriers[q].counters().group_queries_sent >= 2);

    // With another listener, a leave is answered and the group stays.
    net.join(a, G);
    net.join(b, G);
    net.run_for(Duration::from_secs(3));
    net.leave(a, G);
    net.run_for(Duration::from_secs(10));
    assert!(listener(&net.queriers[q], &G), "b still listens");
    for h in &net.hosts {
        assert_eq!(h.counters().invalid.total(), 0);
    }
    assert_eq!(net.queriers[q].counters().invalid.total(), 0);
}

#[test]
fn a_silent_listener_expires_after_the_listening_interval() {
    let mut net = Net::new();
    let q = net.querier(ll(1));
    let a = net.host(ll(0x10));
    net.link(&[End::Querier(q), End::Host(a)]);
    net.join(a, G);
    // It keeps answering General Queries: still there after many Query Intervals.
    net.run_for(Duration::from_secs(1000));
    assert!(listener(&net.queriers[q], &G));
    let mali = net.queriers[q].multicast_address_listening_interval();
    net.unplug(End::Host(a));
    let unplugged = net.now;
    net.run_for(Duration::from_secs(100));
    assert!(listener(&net.queriers[q], &G), "not yet");
    net.run_until(unplugged + mali);
    assert!(
        !listener(&net.queriers[q], &G),
        "gone within MALI of the last report"
    );
    assert_eq!(net.queriers[q].counters().groups_expired, 1);
}

#[test]
fn a_v1_host_puts_only_its_group_in_v1_compatibility() {
    let mut net = Net::new();
    let q = net.querier(ll(1));
    let (a, b) = (net.host(ll(0x10)), net.host(ll(0x11)));
    net.link(&[End::Querier(q), End::Host(a), End::Host(b)]);
    // An MLDv1 query (from a router with a higher address, so no election change) puts
    // host a in MLDv1 mode.
    let repr = MldRepr::Query(QueryRepr::V1 {
        max_response_delay: 1000,
        multicast_address: Ipv6Address::UNSPECIFIED,
    });
    let mut buf = [0u8; 200];
    let len = mld::emit_ipv6(&ll(0xff), &mld::ALL_NODES, &repr, &mut buf).unwrap();
    net.hosts[a].handle_packet(net.now, &buf[..len], &mut net.rng);
    assert_eq!(net.hosts[a].mode(), CompatibilityMode::V1);
    net.join(a, G);
    net.join(b, G2);
    let querier = &net.queriers[q];
    assert!(querier.is_querier());
    assert_eq!(
        querier.group(&G).unwrap().compatibility(),
        GroupCompatibility::V1
    );
    assert_eq!(
        querier.group(&G2).unwrap().compatibility(),
        GroupCompatibility::V2
    );
    assert_eq!(querier.counters().reports_v1, 1);
    // The v1 Done brings specific queries; the group goes after LLQT.
    let left = net.now;
    net.leave(a, G);
    assert_eq!(net.hosts[a].counters().reports_sent.v1_done, 1);
    net.run_until(left + Duration::from_secs(2));
    assert!(!listener(&net.queriers[q], &G));
    assert!(listener(&net.queriers[q], &G2));
}

#[test]
fn a_querier_in_mldv1_mode_turns_hosts_to_mldv1_and_follows_them() {
    let mut net = Net::new();
    let config = QuerierConfig {
        version: MldVersion::V1,
        ..QuerierConfig::default()
    };
    let q = net.querier_with(ll(1), config);
    let (a, b) = (net.host(ll(0x10)), net.host(ll(0x11)));
    net.link(&[End::Querier(q), End::Host(a), End::Host(b)]);
    // The startup General Query is an MLDv1 one: the hosts fall back to MLDv1 (§8.2.1).
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.hosts[a].mode(), CompatibilityMode::V1);
    assert_eq!(net.hosts[b].mode(), CompatibilityMode::V1);
    net.join(a, G);
    net.join(b, G2);
    let querier = &net.queriers[q];
    for group in [G, G2] {
        let record = querier.group(&group).expect("a listener");
        assert_eq!(record.compatibility(), GroupCompatibility::V1);
        assert_eq!(record.filter_mode(), FilterMode::Exclude);
    }
    assert_eq!(querier.counters().reports_v1, 2);
    // Listeners stay across many Query Intervals, answering MLDv1 General Queries.
    net.run_for(Duration::from_secs(600));
    assert!(listener(&net.queriers[q], &G) && listener(&net.queriers[q], &G2));
    // The Done: MLDv1 specific queries, and G is gone exactly LLQT later; G2 stays.
    let left = net.now;
    net.leave(a, G);
    assert_eq!(net.hosts[a].counters().reports_sent.v1_done, 1);
    net.run_until(left + Duration::from_millis(1999));
    assert!(listener(&net.queriers[q], &G));
    net.run_until(left + Duration::from_secs(2));
    assert!(!listener(&net.queriers[q], &G));
    assert!(listener(&net.queriers[q], &G2));
    let c = *net.queriers[q].counters();
    assert_eq!(
        (c.group_queries_sent, c.source_queries_sent),
        (2, 0),
        "{c:?}"
    );
    assert_eq!(c.reports_v2, 0, "{c:?}");
    assert_eq!(c.invalid.total(), 0, "{c:?}");

    // Every query was a 24-octet MLDv1 query: General ones with a 10 s Maximum Response
    // Delay to ff02::1, specific ones with 1 s to the group. tshark finds the payload of 32
    // octets (Hop-by-Hop Options and the query), a good checksum (status 1), and none of the
    // MLDv2 fields.
    let queries = net.from_queriers.clone();
    assert_eq!(queries.len() as u64, c.general_queries_sent + 2);
    for packet in &queries {
        assert_eq!(packet.len(), 72);
        let received = mld::parse_ipv6(packet).unwrap();
        let mld::MldMessage::Query(query) = received.message else {
            panic!("not a query")
        };
        assert_eq!(query.version(), mld::QueryVersion::V1);
    }
    let Some(tshark) = Tshark::new("mld_router-v1-queries", &queries) else {
        return;
    };
    assert_eq!(tshark.problems(), "", "tshark found problems");
    let fields = tshark.fields(&[
        "ipv6.plen",
        "icmpv6.type",
        "icmpv6.checksum.status",
        "icmpv6.mld.maximum_response_delay",
        "icmpv6.mld.multicast_address",
        "icmpv6.mld.flag.qrv",
        "icmpv6.mld.nb_sources",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), queries.len(), "{fields}");
    let general = "32\t130\t1\t10000\t::\t\t";
    let specific = format!("32\t130\t1\t1000\t{G}\t\t");
    assert!(
        lines.iter().all(|l| *l == general || *l == specific),
        "{fields}"
    );
    assert_eq!(
        lines.iter().filter(|l| **l == specific).count(),
        2,
        "{fields}"
    );
}

#[test]
fn the_lower_address_wins_the_election() {
    let mut net = Net::new();
    let (q1, q2) = (net.querier(ll(1)), net.querier(ll(2)));
    let a = net.host(ll(0x10));
    net.link(&[End::Querier(q2), End::Querier(q1), End::Host(a)]);
    net.run_for(Duration::from_secs(1));
    assert!(net.queriers[q1].is_querier());
    assert!(!net.queriers[q2].is_querier());
    assert_eq!(net.queriers[q2].other_querier(), Some(ll(1)));
    net.join(a, G);
    assert!(listener(&net.queriers[q1], &G) && listener(&net.queriers[q2], &G));
    // Over a long run only the querier queries, and the non-querier keeps up.
    let before = net.queriers[q2].counters().general_queries_sent;
    net.run_for(Duration::from_secs(1000));
    assert_eq!(net.queriers[q2].counters().general_queries_sent, before);
    assert!(listener(&net.queriers[q2], &G));
    // The querier goes away: after the Other Querier Present Timeout q2 takes over.
    net.unplug(End::Querier(q1));
    let oqpt = net.queriers[q2].other_querier_present_timeout();
    net.run_for(oqpt + Duration::from_secs(1));
    assert!(net.queriers[q2].is_querier());
    assert!(listener(&net.queriers[q2], &G));
}

/// The proxy tree:
///
/// ```text
///                 root (no upstream)
///        link 0 /      | link 2   \ link 1
///          child A    host h4     child B
///    link 0 /   \ link 1              \ link 0
///     host h1   host h2             host h3
/// ```
struct Tree {
    net: Net,
    /// The host link of each host: (proxy, downstream link).
    host_link: Vec<(usize, usize)>,
}

const ROOT: usize = 0;
const CHILD_A: usize = 1;
const CHILD_B: usize = 2;

impl Tree {
    fn new() -> Tree {
        let mut net = Net::new();
        let link = |i: u16| LinkConfig::new(ll(i));
        let (qc, hc) = (QuerierConfig::default(), Config::default());
        let root = Proxy::new(qc, hc, None, &[link(1), link(2), link(3)], net.now).unwrap();
        let a = Proxy::new(
            qc,
            hc,
            Some(link(0x21)),
            &[link(4), link(5), link(6)],
            net.now,
        );
        let b = Proxy::new(
            qc,
            hc,
            Some(link(0x22)),
            &[link(7), link(8), link(9)],
            net.now,
        );
        net.proxies = vec![root, a.unwrap(), b.unwrap()];
        let hosts: Vec<usize> = (0..4).map(|i| net.host(ll(0x100 + i))).collect();
        net.link(&[
            End::Proxy(ROOT, Link::Downstream(0)),
            End::Proxy(CHILD_A, Link::Upstream),
        ]);
        net.link(&[
            End::Proxy(ROOT, Link::Downstream(1)),
            End::Proxy(CHILD_B, Link::Upstream),
        ]);
        let host_link = vec![(CHILD_A, 0), (CHILD_A, 1), (CHILD_B, 0), (ROOT, 2)];
        for (h, &(p, l)) in hosts.iter().zip(&host_link) {
            net.link(&[End::Proxy(p, Link::Downstream(l)), End::Host(*h)]);
        }
        // Unused downstream links still run queriers, alone on their link.
        for (p, l) in [(CHILD_A, 2), (CHILD_B, 1), (CHILD_B, 2)] {
            net.link(&[End::Proxy(p, Link::Downstream(l))]);
        }
        Tree { net, host_link }
    }

    /// The hosts a packet from `group`, sent by host `from`, reaches through the tree.
    fn deliver(&mut self, from: usize, group: Ipv6Address) -> Vec<usize> {
        let (p, l) = self.host_link[from];
        let mut reached = Vec::new();
        self.walk(p, Link::Downstream(l), group, &mut reached);
        reached.sort();
        reached
    }

    fn walk(&mut self, p: usize, in_link: Link, group: Ipv6Address, reached: &mut Vec<usize>) {
        let Ok(out) = self.net.proxies[p].forward(in_link, &group, &SOURCE) else {
            return;
        };
        for link in out.iter() {
            assert_ne!(link, in_link, "never back where it came from");
            match (p, link) {
                (CHILD_A, Link::Upstream) => self.walk(ROOT, Link::Downstream(0), group, reached),
                (CHILD_B, Link::Upstream) => self.walk(ROOT, Link::Downstream(1), group, reached),
                (ROOT, Link::Downstream(0)) => self.walk(CHILD_A, Link::Upstream, group, reached),
                (ROOT, Link::Downstream(1)) => self.walk(CHILD_B, Link::Upstream, group, reached),
                (p, Link::Downstream(l)) => {
                    let h = self.host_link.iter().position(|&hl| hl == (p, l));
                    reached.push(h.unwrap_or_else(|| panic!("sent to an empty link {p}/{l}")));
                }
                (_, Link::Upstream) => unreachable!("the root has no upstream"),
            }
        }
    }
}

#[test]
fn a_proxy_tree_delivers_to_exactly_the_links_with_listeners() {
    let mut tree = Tree::new();
    let (h1, h2, h3, h4) = (0, 1, 2, 3);
    tree.net.run_for(Duration::from_secs(5));
    // Nobody listens: nothing reaches any host.
    for from in 0..4 {
        assert_eq!(tree.deliver(from, G), Vec::<usize>::new());
    }
    tree.net.join(h1, G);
    tree.net.join(h3, G);
    tree.net.run_for(Duration::from_secs(5));
    assert_eq!(
        tree.net.proxies[CHILD_A]
            .upstream_groups()
            .collect::<Vec<_>>(),
        vec![G]
    );
    assert!(
        tree.net.proxies[ROOT]
            .querier(0)
            .unwrap()
            .wants(&G, &SOURCE)
    );
    assert!(
        !tree.net.proxies[ROOT]
            .querier(2)
            .unwrap()
            .wants(&G, &SOURCE)
    );
    assert_eq!(tree.deliver(h2, G), vec![h1, h3]);
    assert_eq!(tree.deliver(h4, G), vec![h1, h3]);
    assert_eq!(tree.deliver(h1, G), vec![h3]);
    assert_eq!(tree.deliver(h3, G), vec![h1]);
    assert_eq!(tree.deliver(h4, G2), Vec::<usize>::new());
    // Link-scope traffic never leaves its link, even with listeners elsewhere.
    let link_scope = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 0x42);
    tree.net.join(h1, link_scope);
    tree.net.run_for(Duration::from_secs(5));
    assert_eq!(tree.deliver(h2, link_scope), Vec::<usize>::new());
    assert!(
        !tree.net.proxies[CHILD_A]
            .upstream_groups()
            .any(|g| g == link_scope)
    );

    // h1 leaves: child A leaves upstream after LLQT, and G stops reaching h1's link and
    // child A's uplink.
    tree.net.leave(h1, G);
    tree.net.run_for(Duration::from_secs(3));
    assert_eq!(tree.net.proxies[CHILD_A].upstream_groups().count(), 0);
    tree.net.run_for(Duration::from_secs(3));
    assert!(
        !tree.net.proxies[ROOT]
            .querier(0)
            .unwrap()
            .wants(&G, &SOURCE)
    );
    assert_eq!(tree.deliver(h4, G), vec![h3]);
    assert_eq!(tree.deliver(h2, G), vec![h3]);
    // The state holds over many query intervals.
    tree.net.run_for(Duration::from_secs(2000));
    assert_eq!(tree.deliver(h4, G), vec![h3]);
    let root = &tree.net.proxies[ROOT];
    assert!(
        root.link_counters(Link::Downstream(2))
            .unwrap()
            .withheld_no_listeners
            > 0
    );
    assert!(root.group_traffic(&G).unwrap().copies > 0);
    for p in &tree.net.proxies {
        for l in 0..3 {
            assert_eq!(p.querier(l).unwrap().counters().invalid.total(), 0);
        }
    }
}
