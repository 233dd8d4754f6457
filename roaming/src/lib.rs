//! A roaming session layer: sessions named by random identifiers, not addresses.
//!
//! Two endpoints share one UDP port each (the *mobility port*) and run any number of
//! sessions over it. A session is found by the random identifier its receiver chose, never
//! by the 4-tuple, so it survives every change of address on either side: the peer's address
//! is only a cache, refreshed from authenticated packets once a challenge has shown the new
//! address can be reached.
//!
//! - [`Endpoint`]: the sans-IO core, driven the quinn-proto way with
//!   [`handle`](Endpoint::handle), [`poll_transmit`](Endpoint::poll_transmit),
//!   [`poll_timeout`](Endpoint::poll_timeout), [`handle_timeout`](Endpoint::handle_timeout)
//!   and [`poll_event`](Endpoint::poll_event). Time and randomness come from the caller.
//! - [`packet`]: the wire formats (handshake, cookie reply, data packets, frames).
//! - [`crypto`]: key pairs and the Noise (`IK`, via `snow`) configuration.
//! - [`path`]: RTT estimation and the congestion record a path carries.
//! - [`identity`]: stable identity addresses from static public keys (in the manner of
//!   ORCHIDv2, RFC 7343).
//! - [`tunnel`]: a smoltcp `Device` carrying IPv6 packets between the two identities over one
//!   session, so ordinary smoltcp TCP and UDP sockets outlive every address change.
//! - [`driver`]: the endpoint on a `std::net::UdpSocket` or on a smoltcp UDP socket (over a
//!   bridgeless `Host`, whose address changes when it moves).
//! - [`stream`]: [`RoamingStream`](stream::RoamingStream), a blocking TCP stream for std users.
//!
//! See the crate's README for the packet format, the security properties and how they are
//! tested, and a comparison with WireGuard and QUIC.
//!
//! ```
//! use bridgeless_roaming::{Config, Endpoint, Event, Instant, StaticKeypair};
//!
//! let server_key = StaticKeypair::from_private([2; 32]);
//! let server_public = server_key.public();
//! let mut client = Endpoint::new(Config::default(), StaticKeypair::from_private([1; 32]), [7; 32]).unwrap();
//! let mut server = Endpoint::new(Config::default(), server_key, [8; 32]).unwrap();
//! let (c_addr, s_addr) = ("[2001:db8::1]:5000".parse().unwrap(), "[2001:db8::2]:4433".parse().unwrap());
//!
//! let now = Instant::from_millis(0);
//! let session = client.connect(now, s_addr, server_public).unwrap();
//! let mut buf = [0u8; 1500];
//! // The driver's loop: move datagrams between sockets and endpoints, run timers, read events.
//! for _ in 0..3 {
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle(now, c_addr, &buf[..t.len]);
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         client.handle(now, s_addr, &buf[..t.len]);
//!     }
//! }
//! assert!(matches!(client.poll_event(), Some((h, Event::Connected { .. })) if h == session));
//! client.send_datagram(session, b"an IPv6 packet, later").unwrap();
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod driver;
mod endpoint;
pub mod identity;
pub mod packet;
pub mod path;
mod queue;
pub mod replay;
mod session;
pub mod stream;
pub mod tunnel;

use core::fmt;
use std::net::SocketAddr;

pub use config::{Config, ConfigError};
pub use crypto::StaticKeypair;
pub use endpoint::Endpoint;
pub use path::{Congestion, RttEstimator};
pub use smoltcp::time::{Duration, Instant};

/// Names a session inside one [`Endpoint`]. Never reused by that endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub u64);

/// A datagram for the driver to send: `len` bytes at the start of the buffer passed to
/// [`Endpoint::poll_transmit`], to `destination`, from the mobility port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Its length.
    pub len: usize,
}

/// Something the user should know about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; the peer proved it holds this static key.
    Connected {
        /// The peer's static public key.
        peer_static: [u8; 32],
    },
    /// Datagrams are waiting: call [`Endpoint::recv_datagram`] until it returns `None`.
    DatagramsReadable,
    /// The peer's address changed (an authenticated packet with the highest packet number
    /// so far came from `to`); validation of `to` has started.
    PeerAddressChanged {
        /// The address used until now.
        from: SocketAddr,
        /// The new address.
        to: SocketAddr,
    },
    /// The current peer address answered its challenge.
    PathValidated {
        /// The validated address.
        remote: SocketAddr,
    },
    /// Validation of `from` failed; the session went back to `to`, the last validated address.
    PathReverted {
        /// The address that failed validation.
        from: SocketAddr,
        /// The address the session uses again.
        to: SocketAddr,
    },
    /// The session is gone.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// [`Endpoint::close`] was called.
    Local,
    /// The peer sent CLOSE with this code.
    Peer(u64),
    /// Nothing authenticated arrived for the idle timeout.
    IdleTimeout,
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// The peer broke the protocol (malformed frame inside an authenticated packet).
    ProtocolViolation,
    /// Packet numbers or the AEAD integrity limit are exhausted.
    Exhausted,
}

/// What [`Endpoint::handle`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// It belonged to this session and was processed.
    Session(SessionHandle),
    /// It was answered without keeping state (a cookie reply to an initiation under load).
    Stateless,
    /// It was dropped, for this reason (also counted: [`Endpoint::dropped`]).
    Dropped(DropReason),
}

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why a datagram was dropped. Every drop is counted ([`Endpoint::dropped`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason { $($(#[$doc])* $name,)* }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
        }
    };
}

drop_reasons! {
    /// Shorter than its format needs.
    Truncated,
    /// A field out of range, or a malformed frame inside an authenticated packet.
    Malformed,
    /// First byte names no packet type.
    UnknownType,
    /// No session has this identifier (guessed, stale or retired).
    UnknownId,
    /// The AEAD or the Noise handshake did not authenticate it.
    AuthFailed,
    /// Packet number already received, or older than the replay window.
    Replay,
    /// A repeat of an initiation already processed (answered again only from its source).
    ReplayedInitiation,
    /// An initiation without a valid token while under load: answered with a cookie.
    CookieRequired,
    /// The session table is full.
    TableFull,
    /// Incoming handshakes are not accepted, or the peer's key is not allowed.
    NotAccepted,
    /// A handshake message the session is not waiting for (or from the wrong address).
    Unexpected,
    /// The stateless reply queue is full.
    ReplyQueueFull,
    /// A user datagram did not fit the receive queue.
    ReceiveQueueFull,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why [`Endpoint::send_datagram`] refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such session.
    UnknownSession,
    /// Larger than [`Endpoint::max_datagram_size`].
    TooLarge,
    /// The session's send queue is full; try after `poll_transmit`.
    QueueFull,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::UnknownSession => "no such session",
            SendError::TooLarge => "datagram too large",
            SendError::QueueFull => "send queue full",
        })
    }
}

impl core::error::Error for SendError {}

/// Why [`Endpoint::connect`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The session table is full.
    TableFull,
    /// The server key is not a valid X25519 public key for the handshake.
    InvalidKey,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::TableFull => "session table full",
            ConnectError::InvalidKey => "invalid server key",
        })
    }
}

impl core::error::Error for ConnectError {}

/// A snapshot of one session, for users and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStats {
    /// The handshake completed.
    pub established: bool,
    /// Where packets go now.
    pub remote: SocketAddr,
    /// Whether `remote` has been validated.
    pub remote_validated: bool,
    /// RTT estimator of the current path.
    pub rtt: RttEstimator,
    /// Congestion record of the current path.
    pub congestion: Congestion,
    /// Times the path state was reset (an address change other than port-only).
    pub path_resets: u64,
    /// Times the peer's address changed.
    pub migrations: u64,
    /// Times [`Endpoint::local_address_changed`] moved this (established) session to a fresh
    /// identifier and a fresh path. With `migrations` and `reverts` it counts every change of
    /// the path the session sends on: a [`Tunnel`](tunnel::Tunnel) watches the sum to replay
    /// its tail once per change.
    pub local_moves: u64,
    /// Paths validated.
    pub validations: u64,
    /// Reverts to the last validated address after a failed validation.
    pub reverts: u64,
    /// Key updates.
    pub key_updates: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Authenticated packets received.
    pub packets_received: u64,
    /// Packets that failed authentication under this session's keys.
    pub auth_failures: u64,
    /// Times a move had to reuse an identifier because the peer had issued no fresh one.
    pub id_reuses: u64,
    /// Identifiers the peer issued that no path has used yet: what the next moves can use.
    pub fresh_peer_ids: u64,
    /// Ack-eliciting packets declared lost (RFC 9002 §6.1: by later acknowledgments, by the
    /// time threshold, or forgotten when the sent-packet history was full).
    pub packets_lost: u64,
    /// Probe timeouts (RFC 9002 §6.2): nothing acknowledged for a PTO, so a probe was sent.
    pub probe_timeouts: u64,
    /// NEW_ID and RETIRE_ID frames sent again because the packet that carried them was
    /// lost or a probe timeout expired (RFC 9000 §13.3).
    pub frames_repeated: u64,
    /// Largest packet number received.
    pub largest_received: Option<u64>,
}
