//! DHCPv6 prefix delegation in memory: our `PrefixDelegator` and `PrefixRequester` talking
//! through a lossy in-memory link with virtual time.
//!
//! - a tree: the root delegates a /56 of its /48 to a child, which runs its own server over
//!   that /56 and delegates a /64 to a grandchild;
//! - renewing keeps the prefix; release and expiry return it to the pool; a client that comes
//!   back gets the same prefix;
//! - an exhausted pool answers NoPrefixAvail, counts it and reports it;
//! - lost messages are retransmitted with the timing of RFC 8415 §15;
//! - the checks of RFC 8415 §16 (identifiers present, absent, ours), IA_NA refusal, Rapid
//!   Commit, Confirm, Rebind and Information-request;
//! - malformed input is counted, never a panic; random message sequences keep the invariants
//!   (no prefix delegated twice, no more leases than allowed).

use bridgeless_iface::pd::{
    ClientConfig, ClientEvent, ClientState, Dropped, Duid, LostReason, PrefixDelegator,
    PrefixRequester, ServerConfig, ServerEvent,
};
use bridgeless_wire::dhcpv6::{
    DhcpOption, IaPdRepr, IaPrefixRepr, MessageRepr, MessageType, Packet, option_code, status_code,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

const SERVER_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const CLIENT_LL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn root_prefix() -> Ipv6Cidr {
    Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 48)
}

fn server_duid(n: u8) -> Duid {
    Duid::uuid([n; 16])
}

fn client(n: u8) -> PrefixRequester {
    let mut config = ClientConfig::new(Duid::enterprise(32473, &[b'c', n]), 1);
    config.prefix_len_hint = Some(56);
    PrefixRequester::new(config)
}

fn root_server() -> PrefixDelegator {
    PrefixDelegator::new(ServerConfig::new(root_prefix(), 56, server_duid(1))).unwrap()
}

/// One server, clients on links 0, 1, ..., and virtual time. Messages pass at once unless
/// the loss counters say to drop them.
struct Net {
    server: PrefixDelegator,
    clients: Vec<PrefixRequester>,
    now: Instant,
    rng: ChaCha8Rng,
    /// Drop this many of the next client→server messages.
    lose_up: usize,
    /// Drop this many of the next server→client messages.
    lose_down: usize,
    /// Drop everything (a client that went away).
    cut: bool,
    /// Times at which clients sent (for retransmission checks).
    sent_at: Vec<Instant>,
    client_events: Vec<(usize, ClientEvent)>,
    server_events: Vec<ServerEvent>,
}

impl Net {
    fn new(server: PrefixDelegator, clients: Vec<PrefixRequester>) -> Net {
        Net {
            server,
            clients,
            now: Instant::ZERO,
            rng: ChaCha8Rng::seed_from_u64(7),
            lose_up: 0,
            lose_down: 0,
            cut: false,
            sent_at: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn start_all(&mut self) {
        for c in &mut self.clients {
            c.start(self.now, &mut self.rng);
        }
    }

    /// Delivers messages until the link is quiet.
    fn exchange(&mut self) {
        let mut buf = [0u8; 1500];
        loop {
            let mut moved = false;
            for (link, c) in self.clients.iter_mut().enumerate() {
                while let Some(len) = c.poll_transmit(self.now, &mut buf) {
                    moved = true;
                    self.sent_at.push(self.now);
                    if self.cut || self.lose_up > 0 {
                        self.lose_up = self.lose_up.saturating_sub(1);
                        continue;
                    }
                    let _ = self.server.handle(self.now, link, CLIENT_LL, &buf[..len]);
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                moved = true;
                assert_eq!(t.dst, CLIENT_LL);
                if self.cut || self.lose_down > 0 {
                    self.lose_down = self.lose_down.saturating_sub(1);
                    continue;
                }
                self.clients[t.link].handle(self.now, SERVER_LL, &buf[..t.len], &mut self.rng);
            }
            if !moved {
                break;
            }
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(e) = c.poll_event() {
                self.client_events.push((i, e));
            }
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Advances to the next timer (no further than `limit`) and runs it.
    fn step(&mut self, limit: Instant) {
        self.exchange();
        let next = self
            .clients
            .iter()
            .filter_map(|c| c.poll_timeout())
            .chain(self.server.poll_timeout())
            .min()
            .unwrap_or(limit)
            .min(limit);
        self.now = next.max(self.now);
        for c in &mut self.clients {
            c.handle_timeout(self.now, &mut self.rng);
        }
        self.server.handle_timeout(self.now);
        self.exchange();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "condition not reached within {limit}");
            self.step(end);
        }
    }

    fn bound(&self, i: usize) -> Option<Ipv6Cidr> {
        self.clients[i].prefix()
    }
}

#[test]
fn tree_of_three_routers() {
    // Root: fd00:1::/48 in /56s, block 0 kept for itself.
    let mut root = Net::new(root_server(), vec![client(1)]);
    root.start_all();
    root.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let child_prefix = root.bound(0).unwrap();
    assert_eq!(child_prefix.prefix_len(), 56);
    assert!(root_prefix().contains_subnet(&child_prefix));
    assert_ne!(Some(child_prefix), root.server.reserved_block(0));
    assert!(matches!(
        root.client_events[..],
        [(0, ClientEvent::Bound { prefix, .. })] if prefix == child_prefix
    ));
    assert!(matches!(
        root.server_events[..],
        [ServerEvent::Delegated { link: 0, prefix, client: CLIENT_LL, .. }] if prefix == child_prefix
    ));
    let lease = root.server.leases().next().unwrap();
    assert_eq!(lease.prefix, child_prefix);

    // The child delegates /64s of its /56 further down, keeping the first for itself.
    let mut config = ServerConfig::new(child_prefix, 64, server_duid(2));
    config.reserved_blocks = 1;
    let child_server = PrefixDelegator::new(config).unwrap();
    let mut grandchild = client(2);
    let mut gc_config = *grandchild.config();
    gc_config.prefix_len_hint = Some(64);
    grandchild = PrefixRequester::new(gc_config);
    let mut child = Net::new(child_server, vec![grandchild]);
    child.start_all();
    child.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let gc_prefix = child.bound(0).unwrap();
    assert_eq!(gc_prefix.prefix_len(), 64);
    assert!(child_prefix.contains_subnet(&gc_prefix));
    assert_ne!(Some(gc_prefix), child.server.reserved_block(0));
    assert_eq!(
        child.server.reserved_block(0).unwrap().to_string(),
        format!("{}/64", child_prefix.address())
    );
    assert_eq!(root.server.counters().malformed, 0);
    assert_eq!(child.clients[0].counters().wrong_client_id, 0);
}

#[test]
fn renew_keeps_the_prefix_for_hours() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let prefix = net.bound(0).unwrap();
    // Valid lifetime is 2 h, T1 30 min: ten hours need many renewals.
    net.run_for(Duration::from_secs(10 * 3600));
    assert_eq!(net.bound(0), Some(prefix));
    assert_eq!(net.clients[0].state(), ClientState::Bound);
    let renewals = net
        .client_events
        .iter()
        .filter(|(_, e)| matches!(e, ClientEvent::Renewed { prefix: p, .. } if *p == prefix))
        .count();
    assert!(renewals >= 19, "{renewals} renewals");
    assert!(
        net.server_events
            .iter()
            .all(|e| !matches!(e, ServerEvent::Expired { .. }))
    );
    let lease = net.server.leases().next().unwrap();
    assert!(lease.valid_until > net.now + Duration::from_secs(3600));
    assert_eq!(net.server.pool().allocated(), 1);
}

#[test]
fn renew_unanswered_falls_back_to_rebind() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let prefix = net.bound(0).unwrap();
    // Drop every Renew: from T1 (30 min) to T2 (48 min) at most about 7 are sent.
    net.lose_up = 1000;
    net.run_until(Duration::from_secs(3600), |n| {
        n.clients[0].state() == ClientState::Rebinding
    });
    net.lose_up = 0;
    net.run_until(Duration::from_secs(700), |n| {
        n.clients[0].state() == ClientState::Bound
    });
    assert_eq!(net.bound(0), Some(prefix));
    assert!(net.clients[0].counters().retransmissions > 2);
}

#[test]
fn release_returns_the_prefix_and_a_returning_client_gets_it_again() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let prefix = net.bound(0).unwrap();
    net.clients[0].release(net.now, &mut net.rng);
    net.exchange();
    assert_eq!(net.clients[0].state(), ClientState::Idle);
    assert_eq!(net.clients[0].prefix(), None);
    assert!(net.client_events.iter().any(|(_, e)| matches!(
        e,
        ClientEvent::Lost { prefix: p, reason: LostReason::Released } if *p == prefix
    )));
    assert!(
        net.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Released { link: 0, prefix: p } if *p == prefix))
    );
    assert_eq!(net.server.pool().allocated(), 0);
    assert_eq!(net.server.leases().count(), 0);

    // The same client, back later, gets the same block.
    net.clients[0].start(net.now, &mut net.rng);
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    assert_eq!(net.bound(0), Some(prefix));
}

#[test]
fn expiry_returns_the_prefix_on_both_sides() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let prefix = net.bound(0).unwrap();
    let (_, valid_until) = net.clients[0].lifetimes().unwrap();
    net.cut = true;
    net.run_until(Duration::from_secs(7300), |n| {
        n.server.leases().count() == 0
    });
    assert!(net.now >= valid_until);
    assert!(
        net.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Expired { link: 0, prefix: p } if *p == prefix))
    );
    assert_eq!(net.server.pool().allocated(), 0);
    assert_eq!(net.server.counters().expired, 1);
    assert!(net.client_events.iter().any(|(_, e)| matches!(
        e,
        ClientEvent::Lost { prefix: p, reason: LostReason::Expired } if *p == prefix
    )));
    assert_eq!(net.clients[0].state(), ClientState::Soliciting);
}

#[test]
fn exhausted_pool_is_reported_not_a_panic() {
    // A /62 in /64s with one reserved: three to hand out, four clients.
    let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 9, 0, 0, 0, 0, 0, 0), 62);
    let server = PrefixDelegator::new(ServerConfig::new(prefix, 64, server_duid(1))).unwrap();
    let clients = (1..=4).map(client).collect();
    let mut net = Net::new(server, clients);
    net.start_all();
    net.run_for(Duration::from_secs(20));
    let bound: Vec<_> = (0..4).filter_map(|i| net.bound(i)).collect();
    assert_eq!(bound.len(), 3);
    let mut distinct = bound.clone();
    distinct.sort_by_key(|p| p.address());
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "a prefix was delegated twice");
    assert!(net.server.counters().pool_exhausted >= 1);
    assert!(
        net.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::PoolExhausted { .. }))
    );
    let unlucky = (0..4).find(|&i| net.bound(i).is_none()).unwrap();
    assert_eq!(net.clients[unlucky].state(), ClientState::Soliciting);
    assert!(net.clients[unlucky].counters().advertise_without_prefix >= 1);
    // Once a prefix is released, the fourth gets it.
    let lucky = (0..4).find(|&i| net.bound(i).is_some()).unwrap();
    let freed = net.bound(lucky).unwrap();
    net.clients[lucky].release(net.now, &mut net.rng);
    net.run_until(Duration::from_secs(300), |n| n.bound(unlucky).is_some());
    assert_eq!(net.bound(unlucky), Some(freed));
}

#[test]
fn lost_messages_are_retransmitted_with_rfc_timing() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.lose_up = 3;
    net.run_until(Duration::from_secs(30), |n| n.bound(0).is_some());
    let c = net.clients[0].counters();
    assert!(c.retransmissions >= 3, "{c:?}");
    // §18.2.1: first Solicit within SOL_MAX_DELAY; §15: RT1 in (1 s, 1.1 s], RT2 in
    // [1.8 s, 2.42 s], RT3 about 4 s.
    let t = &net.sent_at;
    assert!(t[0] <= Instant::from_secs(1));
    let rt1 = t[1] - t[0];
    let rt2 = t[2] - t[1];
    assert!(
        rt1 > Duration::from_secs(1) && rt1 <= Duration::from_millis(1100),
        "{rt1}"
    );
    assert!(
        rt2 >= Duration::from_millis(1800) && rt2 <= Duration::from_millis(2420),
        "{rt2}"
    );

    // Lost replies: the Request is retransmitted with the same transaction and an Elapsed
    // Time that grows.
    let mut net = Net::new(root_server(), vec![client(2)]);
    net.start_all();
    net.lose_down = 2; // the first Advertise and the first Reply
    net.run_until(Duration::from_secs(30), |n| n.bound(0).is_some());
    assert!(net.clients[0].counters().retransmissions >= 2);
    // The server saw a repeated Request of a bound client and kept one lease.
    assert_eq!(net.server.leases().count(), 1);
}

#[test]
fn request_unanswered_starts_over() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    // Let the Solicit and Advertise through, then lose everything.
    net.run_until(Duration::from_secs(5), |n| {
        n.clients[0].counters().received == 1
    });
    net.cut = true;
    net.run_until(Duration::from_secs(5), |n| {
        n.clients[0].state() == ClientState::Requesting
    });
    // REQ_MAX_RC = 10 with RT doubling to REQ_MAX_RT 30 s: under five minutes.
    net.run_until(Duration::from_secs(300), |n| {
        n.clients[0].state() == ClientState::Soliciting
    });
    assert_eq!(net.clients[0].counters().exchanges_failed, 1);
    net.cut = false;
    net.run_until(Duration::from_secs(3700), |n| n.bound(0).is_some());
}

#[test]
fn rapid_commit_when_both_agree() {
    let mut config = ServerConfig::new(root_prefix(), 56, server_duid(1));
    config.rapid_commit = true;
    let server = PrefixDelegator::new(config).unwrap();
    let mut c = client(1);
    let mut cc = *c.config();
    cc.rapid_commit = true;
    c = PrefixRequester::new(cc);
    let mut net = Net::new(server, vec![c]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    // Solicit and Reply only.
    assert_eq!(net.clients[0].counters().sent, 1);
    assert_eq!(net.server.leases().count(), 1);
}

// ---------------------------------------------------------------------------------------
// Hand-built messages
// ---------------------------------------------------------------------------------------

const DUID: [u8; 10] = [0, 2, 0, 0, 0x7e, 0xd9, 1, 2, 3, 4];

fn message(
    msg_type: MessageType,
    server_id: Option<&[u8]>,
    ia_pd: &[IaPdRepr<'_>],
    extra: &[u8],
) -> Vec<u8> {
    let repr = MessageRepr {
        msg_type,
        transaction_id: 0xabcdef,
        client_id: Some(&DUID),
        server_id,
        elapsed_time: Some(0),
        requested_options: &[23, 24, 82],
        preference: None,
        rapid_commit: false,
        status: None,
        ia_pd,
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    buf.extend_from_slice(extra);
    buf
}

/// An IA_NA with IAID 1 and no options, as dhcpcd sends in a Solicit.
const IA_NA: [u8; 16] = [0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];

fn answer(server: &mut PrefixDelegator) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let t = server.poll_transmit(Instant::ZERO, &mut buf)?;
    assert_eq!(t.dst, CLIENT_LL);
    Some(buf[..t.len].to_vec())
}

fn ia_pd(iaid: u32, prefixes: &[IaPrefixRepr<'static>]) -> [IaPdRepr<'static>; 1] {
    let prefixes: &'static [IaPrefixRepr<'static>] = Vec::leak(prefixes.to_vec());
    [IaPdRepr {
        iaid,
        prefixes,
        ..IaPdRepr::default()
    }]
}

#[test]
fn ia_na_is_refused_while_ia_pd_is_served() {
    let mut server = root_server();
    let sid = server.config().server_duid;
    let solicit = message(MessageType::Solicit, None, &ia_pd(2, &[]), &IA_NA);
    server
        .handle(Instant::ZERO, 0, CLIENT_LL, &solicit)
        .unwrap();
    let advertise = answer(&mut server).unwrap();
    let packet = Packet::new_checked(&advertise[..]).unwrap();
    assert_eq!(packet.msg_type(), MessageType::Advertise);
    assert_eq!(packet.transaction_id(), 0xabcdef);
    let mut saw_na = false;
    let mut offered = None;
    for option in packet.options() {
        match option.unwrap() {
            DhcpOption::IaNa(ia) => {
                assert_eq!(ia.iaid, 1);
                let inner: Vec<_> = ia.options.map(Result::unwrap).collect();
                assert!(matches!(
                    inner[..],
                    [DhcpOption::StatusCode(s)] if s.code == status_code::NO_ADDRS_AVAIL
                ));
                saw_na = true;
            }
            DhcpOption::IaPd(ia) => {
                assert_eq!(ia.iaid, 2);
                for inner in ia.options {
                    if let DhcpOption::IaPrefix(p) = inner.unwrap() {
                        offered = Some(Ipv6Cidr::new(p.prefix, p.prefix_len));
                    }
                }
            }
            DhcpOption::ServerId(id) => assert_eq!(id, sid.as_bytes()),
            _ => {}
        }
    }
    assert!(saw_na);
    let offered = offered.unwrap();
    // Advertise commits nothing (RFC 8415 §18.3.1).
    assert_eq!(server.leases().count(), 0);

    // The Request for it commits it; the Reply names it again.
    let hint = IaPrefixRepr {
        prefix: offered.address(),
        prefix_len: 56,
        ..IaPrefixRepr::default()
    };
    let request = message(
        MessageType::Request,
        Some(sid.as_bytes()),
        &ia_pd(2, &[hint]),
        &IA_NA,
    );
    server
        .handle(Instant::ZERO, 0, CLIENT_LL, &request)
        .unwrap();
    let reply = answer(&mut server).unwrap();
    assert_eq!(reply[0], 7);
    assert_eq!(server.leases().next().unwrap().prefix, offered);
    assert_eq!(server.counters().ia_na_refused, 2);
}

/// What a reply says: top-level status, and per IA_PD its status and (prefix, valid
/// lifetime) pairs.
struct Summary {
    status: Option<u16>,
    ias: Vec<IaSummary>,
}

/// An IA_PD's status and its (prefix, valid lifetime) pairs.
type IaSummary = (Option<u16>, Vec<(Ipv6Cidr, u32)>);

fn summary(bytes: &[u8]) -> Summary {
    let mut pds = [IaPdRepr::default(); 4];
    let mut prefixes = [IaPrefixRepr::default(); 8];
    let packet = Packet::new_checked(bytes).unwrap();
    let parsed = MessageRepr::parse(&packet, &mut pds, &mut prefixes, &mut []).unwrap();
    Summary {
        status: parsed.status.map(|s| s.code),
        ias: parsed
            .ia_pd
            .iter()
            .map(|ia| {
                let prefixes = ia
                    .prefixes
                    .iter()
                    .map(|p| (Ipv6Cidr::new(p.prefix, p.prefix_len), p.valid_lifetime))
                    .collect();
                (ia.status.map(|s| s.code), prefixes)
            })
            .collect(),
    }
}

#[test]
fn identifier_checks_of_rfc_8415_section_16() {
    let mut server = root_server();
    let sid = server.config().server_duid;
    let other = server_duid(9);
    let ia = ia_pd(1, &[]);
    let now = Instant::ZERO;
    let cases: [(Vec<u8>, Dropped); 5] = [
        (
            message(MessageType::Solicit, Some(sid.as_bytes()), &ia, &[]),
            Dropped::UnexpectedServerId,
        ),
        (
            message(MessageType::Request, None, &ia, &[]),
            Dropped::MissingServerId,
        ),
        (
            message(MessageType::Renew, Some(other.as_bytes()), &ia, &[]),
            Dropped::OtherServer,
        ),
        (
            message(MessageType::Advertise, Some(sid.as_bytes()), &ia, &[]),
            Dropped::NotForServer,
        ),
        (
            message(MessageType::Confirm, None, &[], &IA_NA),
            Dropped::Confirm,
        ),
    ];
    for (msg, reason) in cases {
        assert_eq!(server.handle(now, 0, CLIENT_LL, &msg), Err(reason));
    }
    // No Client Identifier.
    let mut no_client = message(MessageType::Solicit, None, &ia, &[]);
    no_client.drain(4..18); // the CLIENTID option: 4 + 10 octets
    assert_eq!(
        server.handle(now, 0, CLIENT_LL, &no_client),
        Err(Dropped::MissingClientId)
    );
    let c = server.counters();
    assert_eq!(
        (
            c.unexpected_server_id,
            c.missing_server_id,
            c.other_server,
            c.not_for_server,
            c.confirm,
            c.missing_client_id
        ),
        (1, 1, 1, 1, 1, 1)
    );
    assert!(answer(&mut server).is_none());

    // Rebind of an unknown binding with no prefix: silence (§18.3.5). Renew of one: NoBinding.
    let rebind = message(MessageType::Rebind, None, &ia, &[]);
    assert_eq!(
        server.handle(now, 0, CLIENT_LL, &rebind),
        Err(Dropped::RebindUnknown)
    );
    let renew = message(MessageType::Renew, Some(sid.as_bytes()), &ia, &[]);
    server.handle(now, 0, CLIENT_LL, &renew).unwrap();
    let reply = answer(&mut server).unwrap();
    let parsed = summary(&reply);
    assert_eq!(parsed.ias[0].0, Some(status_code::NO_BINDING));

    // A Rebind naming a prefix outside the pool gets it back with lifetimes 0.
    let foreign = IaPrefixRepr {
        prefix: Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        prefix_len: 56,
        preferred_lifetime: 100,
        valid_lifetime: 200,
        status: None,
    };
    let rebind = message(MessageType::Rebind, None, &ia_pd(1, &[foreign]), &[]);
    server.handle(now, 0, CLIENT_LL, &rebind).unwrap();
    let reply = answer(&mut server).unwrap();
    let parsed = summary(&reply);
    assert_eq!(parsed.ias[0].1[0].1, 0);
    assert_eq!(server.leases().count(), 0);

    // Information-request gets a Reply with our identifier.
    let info = message(MessageType::InformationRequest, None, &[], &[]);
    server.handle(now, 0, CLIENT_LL, &info).unwrap();
    let reply = answer(&mut server).unwrap();
    assert_eq!(reply[0], 7);
    // Release of nothing: Success with NoBinding for the IA.
    let release = message(MessageType::Release, Some(sid.as_bytes()), &ia, &[]);
    server.handle(now, 0, CLIENT_LL, &release).unwrap();
    let reply = answer(&mut server).unwrap();
    let parsed = summary(&reply);
    assert_eq!(parsed.status, Some(status_code::SUCCESS));
    assert_eq!(parsed.ias[0].0, Some(status_code::NO_BINDING));
}

#[test]
fn server_restart_recovers_a_renewed_binding() {
    let mut net = Net::new(root_server(), vec![client(1)]);
    net.start_all();
    net.run_until(Duration::from_secs(10), |n| n.bound(0).is_some());
    let prefix = net.bound(0).unwrap();
    net.server = root_server();
    net.run_for(Duration::from_secs(3600));
    assert_eq!(net.bound(0), Some(prefix));
    assert_eq!(net.server.leases().next().map(|l| l.prefix), Some(prefix));
}

#[test]
fn reply_queue_is_bounded() {
    let mut config = ServerConfig::new(root_prefix(), 56, server_duid(1));
    config.max_pending = 2;
    let mut server = PrefixDelegator::new(config).unwrap();
    let solicit = message(MessageType::Solicit, None, &ia_pd(1, &[]), &[]);
    for _ in 0..2 {
        server
            .handle(Instant::ZERO, 0, CLIENT_LL, &solicit)
            .unwrap();
    }
    assert_eq!(
        server.handle(Instant::ZERO, 0, CLIENT_LL, &solicit),
        Err(Dropped::QueueFull)
    );
    assert_eq!(server.counters().queue_full, 1);
    // A short buffer keeps the reply queued.
    assert!(server.poll_transmit(Instant::ZERO, &mut [0; 10]).is_none());
    assert_eq!(server.counters().transmit_buffer_too_small, 1);
    assert!(answer(&mut server).is_some());
    assert!(answer(&mut server).is_some());
    assert!(answer(&mut server).is_none());
}

#[test]
fn malformed_input_is_counted() {
    let mut server = root_server();
    let mut c = client(1);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    c.start(Instant::ZERO, &mut rng);
    let good = message(MessageType::Solicit, None, &ia_pd(1, &[]), &[]);
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2],
        vec![12, 0, 0, 0, 0],            // RELAY-FORW
        good[..good.len() - 3].to_vec(), // an option cut short
        [&good[..], &[0, option_code::RAPID_COMMIT as u8, 0, 1, 0]].concat(), // bad length
        [&good[..], &good[4..18]].concat(), // two Client Identifiers
    ];
    for input in &inputs {
        assert!(server.handle(Instant::ZERO, 0, CLIENT_LL, input).is_err());
        c.handle(Instant::ZERO, SERVER_LL, input, &mut rng);
    }
    let s = server.counters();
    assert_eq!(s.malformed + s.relay, inputs.len() as u64);
    assert_eq!(s.relay, 1);
    let cc = c.counters();
    assert_eq!(
        cc.malformed + cc.not_for_client,
        inputs.len() as u64,
        "{cc:?}"
    );
    // A well-formed Reply with a transaction ID the client never used.
    let reply = message(MessageType::Reply, Some(&[0, 4, 1, 2]), &[], &[]);
    c.handle(Instant::ZERO, SERVER_LL, &reply, &mut rng);
    assert_eq!(c.counters().wrong_transaction_id, 1);
}

#[test]
fn replies_for_another_client_are_ignored() {
    let mut net = Net::new(root_server(), vec![client(1), client(2)]);
    net.start_all();
    // Capture client 0's first Solicit, answer it, and show the Advertise to client 1.
    net.now = Instant::from_secs(2);
    for c in &mut net.clients {
        c.handle_timeout(net.now, &mut net.rng);
    }
    let mut buf = [0u8; 1500];
    let len = net.clients[0].poll_transmit(net.now, &mut buf).unwrap();
    net.server
        .handle(net.now, 0, CLIENT_LL, &buf[..len])
        .unwrap();
    let t = net.server.poll_transmit(net.now, &mut buf).unwrap();
    net.clients[1].handle(net.now, SERVER_LL, &buf[..t.len], &mut net.rng);
    let c = net.clients[1].counters();
    assert_eq!(c.wrong_transaction_id + c.wrong_client_id, 1);
}

// ---------------------------------------------------------------------------------------
// Random message sequences
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Action {
    /// Client `who` sends a message of `kind` for IAID `iaid`, naming block `block` (if any).
    Send {
        who: u8,
        kind: u8,
        iaid: u8,
        block: Option<u8>,
        with_server_id: bool,
        link: u8,
    },
    /// Random bytes.
    Garbage(Vec<u8>),
    /// Time passes (seconds).
    Advance(u16),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..6, 1u8..12, 0u8..3, proptest::option::of(0u8..8), any::<bool>(), 0u8..2)
            .prop_map(|(who, kind, iaid, block, with_server_id, link)| Action::Send {
                who, kind, iaid, block, with_server_id, link
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Action::Garbage),
        2 => (0u16..4000).prop_map(Action::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn random_sequences_keep_the_invariants(actions in proptest::collection::vec(action(), 1..60)) {
        // A /61 in /64s, one reserved: seven blocks, at most five leases.
        let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 0), 61);
        let mut config = ServerConfig::new(prefix, 64, server_duid(1));
        config.max_leases = 5;
        config.rapid_commit = true;
        let mut server = PrefixDelegator::new(config).unwrap();
        let sid = server.config().server_duid;
        let mut now = Instant::ZERO;
        let mut buf = [0u8; 1500];
        for action in actions {
            match action {
                Action::Send { who, kind, iaid, block, with_server_id, link } => {
                    let duid = [0, 2, 0, 0, 0, 1, who];
                    let hint = block.map(|b| IaPrefixRepr {
                        prefix: Ipv6Address::new(0xfd00, 7, 0, u16::from(b), 0, 0, 0, 0),
                        prefix_len: 64,
                        preferred_lifetime: 10,
                        valid_lifetime: 20,
                        status: None,
                    });
                    let hints: Vec<_> = hint.into_iter().collect();
                    let ia = [IaPdRepr { iaid: u32::from(iaid), prefixes: &hints, ..IaPdRepr::default() }];
                    let repr = MessageRepr {
                        msg_type: MessageType::from(kind),
                        transaction_id: 1,
                        client_id: Some(&duid),
                        server_id: with_server_id.then_some(sid.as_bytes()),
                        elapsed_time: None,
                        requested_options: &[],
                        preference: None,
                        rapid_commit: kind == 1 && with_server_id,
                        status: None,
                        ia_pd: &ia,
                    };
                    let mut msg = vec![0; repr.buffer_len()];
                    repr.emit(&mut msg).unwrap();
                    let _ = server.handle(now, usize::from(link), CLIENT_LL, &msg);
                }
                Action::Garbage(bytes) => {
                    let _ = server.handle(now, 0, CLIENT_LL, &bytes);
                }
                Action::Advance(s) => {
                    now += Duration::from_secs(u64::from(s));
                    server.handle_timeout(now);
                }
            }
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                prop_assert!(t.len <= 1232);
                prop_assert!(Packet::new_checked(&buf[..t.len]).is_ok());
            }
            while server.poll_event().is_some() {}
            let leases: Vec<_> = server.leases().copied().collect();
            prop_assert!(leases.len() <= 5);
            prop_assert_eq!(leases.len(), server.pool().allocated());
            for (i, a) in leases.iter().enumerate() {
                prop_assert!(server.pool().is_delegable(a.prefix));
                prop_assert!(a.valid_until > now);
                for b in &leases[i + 1..] {
                    prop_assert_ne!(a.prefix, b.prefix, "delegated twice");
                }
            }
        }
    }

    #[test]
    fn client_survives_random_input(inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..20)) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut c = client(1);
        c.start(Instant::ZERO, &mut rng);
        let mut now = Instant::ZERO;
        let mut buf = [0u8; 1500];
        for mut input in inputs {
            // Give some inputs the right header so that they reach the option checks.
            if input.len() > 4 && input[0] % 2 == 0 {
                input[0] = 7;
            }
            c.handle(now, SERVER_LL, &input, &mut rng);
            now += Duration::from_millis(700);
            c.handle_timeout(now, &mut rng);
            while c.poll_transmit(now, &mut buf).is_some() {}
        }
        // Nothing random carries our transaction ID and DUID: no prefix was taken.
        prop_assert!(c.prefix().is_none());
    }
}
