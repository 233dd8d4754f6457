//! In-memory drivers for the roaming benchmarks (`benches/roaming.rs`, the `roaming-memory`
//! binary): a pair of bridgeless-roaming [`Endpoint`](bridgeless_roaming::Endpoint)s and a pair
//! of quinn-proto endpoints, each moved the same way by one thread.
//!
//! One *round* of the bulk loop ([`transfer`]): the client queues up to [`ROUND_BYTES`] of
//! datagrams (fewer if its sender refuses), every packet the client then has to send goes
//! straight into the server's `handle`, the server's user reads every datagram it received
//! (checking each one, see [`payload`]), every packet the server has to send (its
//! acknowledgments) goes into the client's `handle`, and virtual time advances by
//! [`ROUND_STEP_MICROS`] with whatever timers are due run on both sides. Nothing is lost,
//! reordered or delayed; the loop ends when the server's user has every datagram. Both
//! libraries go through their endpoint layer (identifier lookup / connection routing), as a
//! real driver would.

pub mod ours;
pub mod quinn;

/// Bytes of datagrams the client queues per round (at most; the sender may refuse sooner).
pub const ROUND_BYTES: usize = 32 * 1024;
/// Virtual time between rounds.
pub const ROUND_STEP_MICROS: u64 = 100;
/// Rounds without a single delivery after which a transfer is declared stuck (a bug).
const STALL_ROUNDS: u32 = 100_000;

/// What the receiver's user got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Datagrams (or stream records) received and checked.
    pub datagrams: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// Contents of the benchmark's datagrams: a sequence number, then a fixed pattern. The
/// receiver checks every byte, so both libraries must deliver the same bytes, in order,
/// each once.
pub mod payload {
    /// Smallest payload: the sequence number.
    pub const MIN_LEN: usize = 8;

    fn pattern(i: usize) -> u8 {
        (i as u8).wrapping_mul(7).wrapping_add(3)
    }

    /// A payload of `len` bytes with the pattern written (the sequence number is set by
    /// [`set_seq`]).
    pub fn new(len: usize) -> Vec<u8> {
        assert!(len >= MIN_LEN, "payloads carry an 8-byte sequence number");
        (0..len).map(pattern).collect()
    }

    /// Write the sequence number.
    pub fn set_seq(buf: &mut [u8], seq: u64) {
        buf[..8].copy_from_slice(&seq.to_le_bytes());
    }

    /// Whether `got` is datagram number `seq` of `expect` (a payload from [`new`]).
    pub fn check(got: &[u8], expect: &[u8], seq: u64) -> bool {
        got.len() == expect.len()
            && got[..8] == seq.to_le_bytes()
            && got[MIN_LEN..] == expect[MIN_LEN..]
    }
}

/// One pair of endpoints in memory with an established session (connection) between them,
/// as [`transfer`] drives it.
pub trait Driver {
    /// Queue one datagram at the client; false if the sender refuses it now (queue full).
    fn send(&mut self, datagram: &[u8]) -> bool;
    /// Move every packet the client has to send now into the server; returns how many.
    fn client_to_server(&mut self) -> usize;
    /// Hand every datagram the server's user can read now to `on`.
    fn server_receive(&mut self, on: &mut dyn FnMut(&[u8]));
    /// Move every packet the server has to send now into the client; returns how many.
    fn server_to_client(&mut self) -> usize;
    /// Advance virtual time and run the timers that are due, on both sides.
    fn tick(&mut self, micros: u64);
}

/// Counts of one [`transfer`], for checking how each library moved the data.
#[derive(Debug, Default, Clone, Copy)]
pub struct TransferStats {
    /// Rounds of the loop.
    pub rounds: u64,
    /// Packets client → server.
    pub forward_packets: u64,
    /// Packets server → client (acknowledgments).
    pub reverse_packets: u64,
}

/// Send `count` datagrams of the payload `template` (its length is the datagram size) from
/// the client to the server's user, round by round (see the module docs). Panics if a
/// datagram arrives wrong, out of order, twice, or not at all.
pub fn transfer<D: Driver + ?Sized>(
    d: &mut D,
    template: &mut [u8],
    count: u64,
    stats: &mut TransferStats,
) -> Delivered {
    let len = template.len();
    let per_round = (ROUND_BYTES / len).max(1) as u64;
    let expect = template.to_vec();
    let mut sent = 0u64;
    let mut got = Delivered::default();
    let mut bad = 0u64;
    let mut idle_rounds = 0;
    while got.datagrams < count {
        let before = got.datagrams;
        let round_end = (sent + per_round).min(count);
        while sent < round_end {
            payload::set_seq(template, sent);
            if !d.send(template) {
                break;
            }
            sent += 1;
        }
        stats.forward_packets += d.client_to_server() as u64;
        d.server_receive(&mut |datagram| {
            if !payload::check(datagram, &expect, got.datagrams) {
                bad += 1;
            }
            got.datagrams += 1;
            got.bytes += datagram.len() as u64;
        });
        stats.reverse_packets += d.server_to_client() as u64;
        d.tick(ROUND_STEP_MICROS);
        stats.rounds += 1;
        assert_eq!(bad, 0, "a datagram arrived damaged, out of order or twice");
        if got.datagrams == before {
            idle_rounds += 1;
            assert!(
                idle_rounds < STALL_ROUNDS,
                "transfer stuck: {} of {count} sent, {} received",
                sent,
                got.datagrams
            );
        } else {
            idle_rounds = 0;
        }
    }
    assert_eq!(
        got.datagrams, count,
        "more datagrams arrived than were sent"
    );
    got
}
