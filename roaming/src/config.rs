//! Endpoint configuration.

use core::fmt;

use smoltcp::time::Duration;

use crate::packet::{MAX_ID_LEN, MIN_ID_LEN};

/// Everything an [`Endpoint`](crate::Endpoint) can be tuned by. `Config::default()` is what a
/// user should start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Length of the identifiers this endpoint chooses, 8 to 20 bytes (default 16: 128 bits,
    /// so an off-path attacker's guess succeeds with probability 2^-128 per try).
    pub id_len: usize,
    /// Most sessions (established and half-open) in the table. When full, new initiations
    /// are dropped (counted as [`DropReason::TableFull`](crate::DropReason::TableFull)) and
    /// `connect` fails.
    pub max_sessions: usize,
    /// Whether to answer handshake initiations (a pure client can say no).
    pub accept_incoming: bool,
    /// Static public keys allowed to connect; `None` accepts any authenticated key (the
    /// `Connected` event names it, and the user may close the session).
    pub allowed_peers: Option<Vec<[u8; 32]>>,
    /// Largest UDP payload to send (default 1452 = 1500 - 40 (IPv6) - 8 (UDP)).
    pub max_udp_payload: usize,
    /// Send a PING when nothing was sent for this long (default 15 s, below the 30 s that
    /// common NAT UDP mappings survive idle; RFC 4787 REQ-5 requires at least 2 minutes but
    /// many devices use 30 s).
    pub keepalive_interval: Duration,
    /// Close a session when nothing authenticated arrived for this long (default 60 s).
    pub idle_timeout: Duration,
    /// Give up a handshake after this long (default 10 s).
    pub handshake_timeout: Duration,
    /// Resend a handshake initiation after this long without answer (default 1 s).
    pub handshake_retry: Duration,
    /// Update keys after this many packets under one key (default 2^40; the RFC 9001 §6.6
    /// confidentiality limit for ChaCha20-Poly1305 is larger than the 2^62 packet numbers).
    pub rekey_after_packets: u64,
    /// Update keys after this long under one key (default 120 s, as WireGuard).
    pub rekey_after_time: Duration,
    /// Half-open handshakes at or above which the endpoint is under load: initiations
    /// without a valid token are answered only with a cookie reply, and no state is kept
    /// (default 16).
    pub max_half_open: usize,
    /// Initiations per second processed without a token before the endpoint counts as under
    /// load (default 100), with bursts of up to [`handshake_burst`](Self::handshake_burst).
    pub handshake_rate: u32,
    /// Burst size of the initiation rate limit (default 32).
    pub handshake_burst: u32,
    /// Retry tokens are valid for the time bucket they were made in and the next one.
    pub token_lifetime: Duration,
    /// Identifiers issued to the peer at a time (default 4): each move uses a fresh one.
    pub active_id_limit: usize,
    /// Bytes of datagrams (plus 2 per datagram) each session queues for sending and for
    /// the user to receive (default 64 KiB each).
    pub datagram_queue_bytes: usize,
    /// Longest the endpoint delays an acknowledgment (RFC 9000 §18.2 default: 25 ms).
    pub max_ack_delay: Duration,
    /// Acknowledge at once, in a packet of its own if need be, after this many ack-eliciting
    /// packets (default 10); fewer are acknowledged within `max_ack_delay`, in whatever
    /// packet goes out first. RFC 9000 §13.2.2 suggests 2 for a sender that paces by the
    /// acknowledgments; nothing here does (datagrams are not held back by the congestion
    /// record), and the traffic inside a tunnel has its own acknowledgments (TCP's) that
    /// carry ours: with 2, every other packet of a TCP stream drew an ACK-only packet back,
    /// doubling the packets on the reverse path (see the README's tests of the transport).
    pub ack_eliciting_threshold: u32,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id_len: 16,
            max_sessions: 1024,
            accept_incoming: true,
            allowed_peers: None,
            max_udp_payload: 1452,
            keepalive_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            handshake_retry: Duration::from_secs(1),
            rekey_after_packets: 1 << 40,
            rekey_after_time: Duration::from_secs(120),
            max_half_open: 16,
            handshake_rate: 100,
            handshake_burst: 32,
            token_lifetime: Duration::from_secs(10),
            active_id_limit: 4,
            datagram_queue_bytes: 64 * 1024,
            max_ack_delay: Duration::from_millis(25),
            ack_eliciting_threshold: 10,
            initial_rtt: Duration::from_millis(333),
        }
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `id_len` outside 8..=20.
    IdLength,
    /// `max_udp_payload` too small for a data packet with a datagram, or above 65527.
    UdpPayload,
    /// `keepalive_interval` must be shorter than `idle_timeout`, and both non-zero.
    Timers,
    /// `active_id_limit` must be at least 2 (one in use, one for the next move).
    IdLimit,
    /// `max_sessions`, `ack_eliciting_threshold`, `handshake_burst` or `token_lifetime` is
    /// zero.
    Zero,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::IdLength => "identifier length must be 8 to 20 bytes",
            ConfigError::UdpPayload => "max_udp_payload out of range",
            ConfigError::Timers => "keepalive must be shorter than the idle timeout, both non-zero",
            ConfigError::IdLimit => "active_id_limit must be at least 2",
            ConfigError::Zero => "a limit is zero",
        })
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// Check every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_ID_LEN..=MAX_ID_LEN).contains(&self.id_len) {
            return Err(ConfigError::IdLength);
        }
        if self.max_udp_payload < 200 || self.max_udp_payload > 65_527 {
            return Err(ConfigError::UdpPayload);
        }
        if self.keepalive_interval == Duration::ZERO
            || self.idle_timeout <= self.keepalive_interval
            || self.handshake_retry == Duration::ZERO
        {
            return Err(ConfigError::Timers);
        }
        if self.active_id_limit < 2 {
            return Err(ConfigError::IdLimit);
        }
        if self.max_sessions == 0
            || self.ack_eliciting_threshold == 0
            || self.handshake_burst == 0
            || self.token_lifetime == Duration::ZERO
        {
            return Err(ConfigError::Zero);
        }
        Ok(())
    }
}
