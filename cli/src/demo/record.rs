//! What the nodes of the demo write down while the simulation runs: the timeline, the stream's
//! deliveries, the group's packets per link, the phone's moves and RTT samples.
//!
//! Nodes share one [`Recorder`] through an `Rc<RefCell<_>>` (the simulator runs on one thread);
//! the report is computed from it, and from the simulator's counters, after the run.

use std::collections::BTreeMap;

use smoltcp::time::Instant;
use smoltcp::wire::Ipv6Address;

/// What kind of line of the timeline an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A router acquired or delegated a prefix, or formed its upstream address.
    Prefix,
    /// A host formed a global address.
    Address,
    /// The phone moved to another access point.
    Move,
    /// The session or the stream started, migrated, ended.
    Session,
}

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct Event {
    /// When (virtual time).
    pub at: Instant,
    /// The node it happened to.
    pub who: String,
    /// What kind of event.
    pub kind: EventKind,
    /// What happened, in words.
    pub text: String,
}

/// The group's packets one link delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupSeen {
    /// How many.
    pub packets: u64,
    /// The first one's arrival.
    pub first: Option<Instant>,
    /// The last one's arrival.
    pub last: Option<Instant>,
}

/// A move of the phone, as the phone saw it.
#[derive(Debug, Clone)]
pub struct MoveSeen {
    /// When the phone found itself on the new link.
    pub at: Instant,
    /// Index (0-based) of the access point it left.
    pub from_ap: usize,
    /// Index of the access point it reached.
    pub to_ap: usize,
    /// Its address before the move.
    pub old_address: Option<Ipv6Address>,
    /// The address it formed on the new link, and when.
    pub new_address: Option<(Instant, Ipv6Address)>,
}

/// Everything the nodes record (see the module docs).
#[derive(Debug, Default)]
pub struct Recorder {
    /// The timeline, in the order things happened.
    pub events: Vec<Event>,
    /// Stream bytes the server's application read: (time, bytes), in order.
    pub deliveries: Vec<(Instant, usize)>,
    /// Group packets delivered, per simulator link index.
    pub group: BTreeMap<usize, GroupSeen>,
    /// Group packets the server sent.
    pub group_sent: u64,
    /// The phone's moves.
    pub moves: Vec<MoveSeen>,
    /// The session's smoothed RTT on the phone, sampled every 100 ms: (time, ms).
    pub rtt: Vec<(Instant, f64)>,
    /// The server's address, once it has one (what a name lookup would give the phone).
    pub server_address: Option<Ipv6Address>,
}

impl Recorder {
    /// Adds a line to the timeline.
    pub fn event(&mut self, at: Instant, who: &str, kind: EventKind, text: String) {
        self.events.push(Event {
            at,
            who: who.to_string(),
            kind,
            text,
        });
    }

    /// A group packet arrived over `link`.
    pub fn group_packet(&mut self, link: usize, at: Instant) {
        let seen = self.group.entry(link).or_default();
        seen.packets += 1;
        seen.first.get_or_insert(at);
        seen.last = Some(at);
    }

    /// The smoothed RTT sampled last before `t`.
    pub fn rtt_before(&self, t: Instant) -> Option<f64> {
        self.rtt.iter().rev().find(|(at, _)| *at < t).map(|s| s.1)
    }

    /// The smoothed RTT sampled first at or after `t`.
    pub fn rtt_at_or_after(&self, t: Instant) -> Option<f64> {
        self.rtt.iter().find(|(at, _)| *at >= t).map(|s| s.1)
    }
}
