//! What the nodes record as the run goes: one [`Ledger`] shared by every node (the
//! simulator runs on one thread; nodes borrow it briefly, never across a call into another
//! node).

use core::cell::RefCell;
use std::rc::Rc;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv6Address;

/// The ledger as the nodes hold it.
pub type Shared = Rc<RefCell<Ledger>>;

/// One session, from both ends.
#[derive(Debug, Clone, Default)]
pub struct SessionLog {
    /// When the host saw the handshake complete.
    pub established_at: Option<Instant>,
    /// Datagrams the host's application sent (accepted by the endpoint).
    pub sent: u64,
    /// Datagrams the endpoint refused (its send queue was full).
    pub refused: u64,
    /// Datagrams the server received.
    pub up_received: u64,
    /// Datagrams the server echoed.
    pub echoed: u64,
    /// Echoes the host received.
    pub down_received: u64,
    /// The highest move count (epoch) carried by a datagram the server received, and when
    /// the last datagram arrived there.
    pub up_epoch: u32,
    /// Arrival of the last datagram at the server.
    pub last_up_at: Option<Instant>,
    /// The highest move count carried by an echo the host received.
    pub down_epoch: u32,
    /// Arrival of the last echo at the host.
    pub last_down_at: Option<Instant>,
    /// Longest time between two datagrams arriving at the server, and between two echoes
    /// arriving at the host (the interval when nothing went wrong).
    pub max_up_gap: Duration,
    /// See `max_up_gap`.
    pub max_down_gap: Duration,
    /// The session's entries in [`Ledger::session_moves`], one per move of its host (the
    /// entry for the move that started epoch `e` is `moves[e - 1]`).
    pub moves: Vec<u32>,
    /// Peer address changes the server saw (`Event::PeerAddressChanged`).
    pub migrations: u64,
    /// Paths the server validated (`Event::PathValidated`).
    pub validations: u64,
    /// Validations that failed (`Event::PathReverted`).
    pub reverts: u64,
    /// Why the host's end closed, if it did.
    pub closed_host: Option<String>,
    /// Why the server's end closed, if it did.
    pub closed_server: Option<String>,
}

/// One move of one host.
#[derive(Debug, Clone)]
pub struct MoveLog {
    /// The host.
    pub host: u32,
    /// When the host found itself on the new link.
    pub at: Instant,
    /// Access router before and after (0-based).
    pub from_ap: u16,
    /// See `from_ap`.
    pub to_ap: u16,
    /// When the host had formed an address on the new link.
    pub address_at: Option<Instant>,
}

/// One session through one move of its host.
#[derive(Debug, Clone)]
pub struct SessionMoveLog {
    /// The move ([`Ledger::moves`]).
    pub move_index: u32,
    /// When the first authenticated packet of the session reached the host on the new link:
    /// from then on the session is whole again (the server has switched to the new address).
    pub restored_at: Option<Instant>,
    /// At the server: from the arrival of the last datagram sent before the move to the
    /// arrival of the first sent after it.
    pub up_gap: Option<Duration>,
    /// At the host: from the arrival of the last echo before the move to the arrival of the
    /// first echo of a datagram sent after it.
    pub down_gap: Option<Duration>,
}

/// Wall time spent in each kind of node, when profiling.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profile {
    /// Router polls.
    pub routers: std::time::Duration,
    /// Host polls (smoltcp, router discovery, endpoint, application).
    pub hosts: std::time::Duration,
    /// Server polls: all of it.
    pub servers: std::time::Duration,
    /// Server polls: inside the endpoints' drivers (`SmoltcpDriver::poll`: the endpoint's
    /// `handle`, `handle_timeout`, `poll_transmit`, `poll_timeout`).
    pub server_endpoints: std::time::Duration,
    /// Server polls: the echo application (reading events and datagrams, sending echoes).
    pub server_app: std::time::Duration,
    /// Host polls: inside the driver.
    pub host_endpoints: std::time::Duration,
    /// Polls of each kind.
    pub router_polls: u64,
    /// See `router_polls`.
    pub host_polls: u64,
    /// See `router_polls`.
    pub server_polls: u64,
    /// Endpoint driver runs on the servers.
    pub server_endpoint_runs: u64,
}

/// Everything recorded.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per session.
    pub sessions: Vec<SessionLog>,
    /// Every move, in order.
    pub moves: Vec<MoveLog>,
    /// Every session through every move.
    pub session_moves: Vec<SessionMoveLog>,
    /// The servers' addresses, once they have formed them.
    pub servers: Vec<Option<Ipv6Address>>,
    /// The servers' static public keys.
    pub server_keys: Vec<[u8; 32]>,
    /// The access router of each simulator link (by link index), for host links.
    pub link_ap: Vec<Option<u16>>,
    /// Prefixes the routers acquired, and pools that ran out.
    pub prefixes_acquired: u64,
    /// See `prefixes_acquired`.
    pub pools_exhausted: u64,
    /// Session events the servers could not attribute to a session (before its first
    /// datagram named it).
    pub unattributed_events: u64,
    /// Wall time per kind of node.
    pub profile: Profile,
}

impl Ledger {
    /// The server received a datagram of `session` carrying move count `epoch` at `now`.
    pub fn up(&mut self, now: Instant, session: u32, epoch: u32) {
        let Some(s) = self.sessions.get_mut(session as usize) else {
            return;
        };
        s.up_received += 1;
        if let Some(last) = s.last_up_at {
            s.max_up_gap = s.max_up_gap.max(now - last);
        }
        if epoch > s.up_epoch {
            for e in s.up_epoch + 1..=epoch {
                if let Some(&i) = s.moves.get(e as usize - 1)
                    && let Some(m) = self.session_moves.get_mut(i as usize)
                {
                    m.up_gap = s.last_up_at.map(|last| now - last);
                }
            }
            s.up_epoch = epoch;
        }
        s.last_up_at = Some(now);
    }

    /// The host received the echo of a datagram of `session` carrying `epoch` at `now`.
    pub fn down(&mut self, now: Instant, session: u32, epoch: u32) {
        let Some(s) = self.sessions.get_mut(session as usize) else {
            return;
        };
        s.down_received += 1;
        if let Some(last) = s.last_down_at {
            s.max_down_gap = s.max_down_gap.max(now - last);
        }
        if epoch > s.down_epoch {
            for e in s.down_epoch + 1..=epoch {
                if let Some(&i) = s.moves.get(e as usize - 1)
                    && let Some(m) = self.session_moves.get_mut(i as usize)
                {
                    m.down_gap = s.last_down_at.map(|last| now - last);
                }
            }
            s.down_epoch = epoch;
        }
        s.last_down_at = Some(now);
    }
}
