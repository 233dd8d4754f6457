//! Keys, the Noise handshake configuration, packet protection and retry tokens.
//!
//! **Handshake: `Noise_IK_25519_ChaChaPoly_BLAKE2s` through `snow`.** `IK` because the
//! initiator already knows the responder's static key (it is how it names the server), so
//! the handshake takes one round trip (two messages) instead of `XX`'s one and a half, and
//! both sides are authenticated by static keys: the responder by `es` + `ss` + `se` mixing its
//! static key, the initiator by `se` + `ss`. The initiator's static key travels encrypted, so
//! a passive observer learns no identity. Forward secrecy comes from the ephemeral `ee`/`se`
//! terms: transport keys derived after message 2 are safe against a later compromise of
//! either static key. It is the pattern WireGuard uses (there with a PSK). 25519 / ChaChaPoly
//! / BLAKE2s keep everything on small, constant-time, widely reviewed code.
//!
//! **Transport: Noise's `Split()` keys, used with *ring*'s ChaCha20-Poly1305 directly.**
//! snow's transport states encrypt with empty associated data and keep one key per
//! direction; we need the header as associated data, a key phase bit with the previous and
//! next key kept side by side (RFC 9001 §6), and a header-protection key. So the two keys
//! `Split()` yields (`snow`'s `risky-raw-split`) are used exactly as Noise's CipherState
//! would use them (nonce = 32 zero bits then the 64-bit counter little-endian; the counter is
//! the packet number), and key updates are Noise's `REKEY(k) = ENCRYPT(k, 2^64-1, "", 0^32)`.
//! A unit test checks both against snow's own transport state.
//!
//! **Header protection** keys are `BLAKE2s-MAC(key = traffic key, "bridgeless-roaming hp")`,
//! one per direction, fixed for the session; the mask is ChaCha20 as RFC 9001 §5.4.4,
//! computed by *ring*'s `aead::quic::HeaderProtectionKey` (checked against RFC 9001 A.5).
//!
//! **Why snow and *ring*:** snow runs the handshake (once per session; checked against the
//! Cacophony vectors). The per-packet AEAD and mask use *ring* (the crate rustls and quinn
//! use) because it is several times faster on that path, measured: sealing and opening a
//! 1200-byte packet took about 2 µs against 6.8-7.7 µs with RustCrypto's `chacha20poly1305` 0.10
//! on a default x86-64 build, where that was 89 % of our per-packet time (BENCHMARKS.md,
//! issue 5). *ring* is built without default features: no allocation, no OS randomness.
//!
//! **Retry tokens** are `BLAKE2s-MAC(key = server secret, address ‖ port ‖ time bucket)`,
//! truncated to 16 bytes.
//!
//! Randomness: snow draws ephemeral keys from a `Random` we give it through a resolver,
//! seeded from the endpoint's ChaCha20 RNG, so runs are reproducible and no OS RNG is read.

use core::fmt;
use std::net::{IpAddr, SocketAddr};

use blake2::Blake2sMac256;
use blake2::digest::{KeyInit, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use ring::aead::quic::{CHACHA20, HeaderProtectionKey};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, Tag, UnboundKey};
use smoltcp::time::Instant;

use crate::packet::{TAG_LEN, TOKEN_LEN, data::SAMPLE_LEN};

/// The Noise protocol name of the handshake.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Start of every Noise prologue; the initiation's `type | L | identifier` follows.
pub const PROLOGUE_LABEL: &[u8] = b"bridgeless-roaming/1 ";

/// A static X25519 key pair that identifies an endpoint.
#[derive(Clone)]
pub struct StaticKeypair {
    private: [u8; 32],
    public: [u8; 32],
}

impl StaticKeypair {
    /// The key pair of this private key.
    pub fn from_private(private: [u8; 32]) -> StaticKeypair {
        let secret = x25519_dalek::StaticSecret::from(private);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        StaticKeypair { private, public }
    }

    /// A new key pair from `rng`.
    pub fn generate<R: RngCore + ?Sized>(rng: &mut R) -> StaticKeypair {
        let mut private = [0; 32];
        rng.fill_bytes(&mut private);
        StaticKeypair::from_private(private)
    }

    /// The public key, which peers use to name and authenticate this endpoint.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

struct SeededRandom(ChaCha20Rng);

impl snow::types::Random for SeededRandom {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

struct SeededResolver([u8; 32]);

impl snow::resolvers::CryptoResolver for SeededResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        Some(Box::new(SeededRandom(ChaCha20Rng::from_seed(self.0))))
    }
    fn resolve_dh(&self, _: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        None
    }
    fn resolve_hash(&self, _: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        None
    }
    fn resolve_cipher(
        &self,
        _: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        None
    }
}

/// The snow `Builder` every handshake of this crate starts from: [`NOISE_PARAMS`], snow's
/// default (pure Rust) primitives, and randomness from a ChaCha20 RNG seeded with `seed`.
/// Public so that the Noise test vectors can be run through exactly this configuration.
pub fn noise_builder(seed: [u8; 32]) -> snow::Builder<'static> {
    #[allow(clippy::expect_used)] // a constant that parses (checked by a test)
    let params = NOISE_PARAMS.parse().expect("valid Noise protocol name");
    snow::Builder::with_resolver(
        params,
        Box::new(snow::resolvers::FallbackResolver::new(
            Box::new(SeededResolver(seed)),
            Box::new(snow::resolvers::DefaultResolver),
        )),
    )
}

/// One direction's AEAD key: ChaCha20-Poly1305 through *ring*.
///
/// Only the 32 key bytes are kept; *ring*'s key object is built for each packet. For
/// ChaCha20-Poly1305 that is a copy of the key (no key schedule), while a stored
/// `LessSafeKey` would take the size of *ring*'s largest AEAD key (AES-GCM's tables) in every
/// one of a session's four receive and send keys.
#[derive(Clone)]
pub(crate) struct AeadKey {
    key: [u8; 32],
}

/// The AEAD failed to authenticate a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthError;

impl AeadKey {
    pub(crate) fn new(key: [u8; 32]) -> AeadKey {
        AeadKey { key }
    }

    fn cipher(&self) -> LessSafeKey {
        // Infallible: the key has CHACHA20_POLY1305's length.
        LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &self.key).unwrap_or_else(|_| unreachable!()),
        )
    }

    /// Noise's nonce encoding for ChaChaPoly: 32 bits of zeros, then the counter LE.
    fn nonce(n: u64) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[4..].copy_from_slice(&n.to_le_bytes());
        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypt `buf` in place; returns the tag.
    pub(crate) fn seal(&self, pn: u64, ad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let mut out = [0u8; TAG_LEN];
        // Infallible for buffers shorter than 2^38 bytes (ChaCha20's limit per nonce).
        if let Ok(tag) =
            self.cipher()
                .seal_in_place_separate_tag(Self::nonce(pn), Aad::from(ad), buf)
        {
            out.copy_from_slice(tag.as_ref());
        }
        out
    }

    /// Decrypt `buf` in place if `tag` authenticates it and `ad`.
    pub(crate) fn open(
        &self,
        pn: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        self.cipher()
            .open_in_place_separate_tag(Self::nonce(pn), Aad::from(ad), Tag::from(*tag), buf, 0..)
            .map(|_| ())
            .map_err(|_| AuthError)
    }

    /// Noise `REKEY(k)`: the first 32 bytes of `ENCRYPT(k, 2^64 - 1, "", 0^32)` (Noise §4.2).
    pub(crate) fn next(&self) -> AeadKey {
        let mut k = [0u8; 32];
        let _tag = self.seal(u64::MAX, &[], &mut k);
        AeadKey::new(k)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

/// One direction's header-protection key.
pub(crate) struct HeaderKey([u8; 32]);

impl HeaderKey {
    pub(crate) fn derive(traffic: &AeadKey) -> HeaderKey {
        let mut mac = <Blake2sMac256 as KeyInit>::new_from_slice(traffic.bytes())
            .unwrap_or_else(|_| unreachable!());
        mac.update(b"bridgeless-roaming hp");
        HeaderKey(mac.finalize().into_bytes().into())
    }

    /// RFC 9001 §5.4.4: counter = sample[0..4] little-endian, nonce = sample[4..16],
    /// mask = ChaCha20(key, counter, nonce, 0^5), which is what *ring*'s QUIC header
    /// protection computes from the 16-byte sample (as for the AEAD key, *ring*'s key object
    /// is built per use rather than stored: it has the size of an AES key schedule).
    pub(crate) fn mask(&self, sample: &[u8; SAMPLE_LEN]) -> [u8; 5] {
        // Infallible: the key and the sample have CHACHA20's lengths.
        HeaderProtectionKey::new(&CHACHA20, &self.0)
            .and_then(|k| k.new_mask(sample))
            .unwrap_or_else(|_| unreachable!())
    }
}

/// The server's secret for retry tokens.
#[derive(Clone)]
pub(crate) struct CookieKey([u8; 32]);

impl CookieKey {
    pub(crate) fn new(secret: [u8; 32]) -> CookieKey {
        CookieKey(secret)
    }

    fn mac(&self, addr: &SocketAddr, bucket: u64) -> Blake2sMac256 {
        let mut mac =
            <Blake2sMac256 as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        let ip = match addr.ip() {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        mac.update(&ip);
        mac.update(&addr.port().to_be_bytes());
        mac.update(&bucket.to_be_bytes());
        mac
    }

    /// The token for `addr` in time bucket `bucket`.
    pub(crate) fn token(&self, addr: &SocketAddr, bucket: u64) -> [u8; TOKEN_LEN] {
        let full = self.mac(addr, bucket).finalize().into_bytes();
        let mut t = [0; TOKEN_LEN];
        t.copy_from_slice(&full[..TOKEN_LEN]);
        t
    }

    /// Whether `token` was made for `addr` in bucket `bucket` or the one before
    /// (compared in constant time).
    pub(crate) fn verify(&self, addr: &SocketAddr, bucket: u64, token: &[u8]) -> bool {
        let now = self.mac(addr, bucket).verify_truncated_left(token).is_ok();
        let before = bucket
            .checked_sub(1)
            .is_some_and(|b| self.mac(addr, b).verify_truncated_left(token).is_ok());
        token.len() == TOKEN_LEN && (now | before)
    }
}

/// Why a packet could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The tag did not verify under the key the phase bit selects.
    Auth,
}

/// Both directions' keys with key phases (RFC 9001 §6, with Noise's REKEY as the update).
pub(crate) struct KeySchedule {
    send: AeadKey,
    send_phase: bool,
    /// First packet number sent under the current send key.
    send_first_pn: Option<u64>,
    /// Packets sent under the current send key.
    pub(crate) send_count: u64,
    /// When the current send key was installed.
    pub(crate) send_installed: Instant,
    recv: AeadKey,
    recv_prev: Option<AeadKey>,
    recv_next: AeadKey,
    recv_phase: bool,
    /// First packet number received under the current receive key.
    recv_first_pn: Option<u64>,
    pub(crate) send_hp: HeaderKey,
    pub(crate) recv_hp: HeaderKey,
    /// Key updates done (either side initiating).
    pub(crate) updates: u64,
}

impl KeySchedule {
    pub(crate) fn new(send: [u8; 32], recv: [u8; 32], now: Instant) -> KeySchedule {
        let send = AeadKey::new(send);
        let recv = AeadKey::new(recv);
        KeySchedule {
            send_hp: HeaderKey::derive(&send),
            recv_hp: HeaderKey::derive(&recv),
            recv_next: recv.next(),
            send,
            send_phase: false,
            send_first_pn: None,
            send_count: 0,
            send_installed: now,
            recv,
            recv_prev: None,
            recv_phase: false,
            recv_first_pn: None,
            updates: 0,
        }
    }

    pub(crate) fn send_phase(&self) -> bool {
        self.send_phase
    }

    /// Encrypt `payload` of packet `pn` with `header` as associated data.
    pub(crate) fn seal(&mut self, pn: u64, header: &[u8], payload: &mut [u8]) -> [u8; TAG_LEN] {
        self.send_first_pn.get_or_insert(pn);
        self.send_count += 1;
        self.send.seal(pn, header, payload)
    }

    /// Decrypt packet `pn` sent with key phase `phase`. On success under the next key, the
    /// receive side moves to the next phase and, if we had not updated our send key to the
    /// new phase yet, we do so too (RFC 9001 §6.2: "An endpoint that receives a key update
    /// ... MUST update its send keys").
    pub(crate) fn open(
        &mut self,
        pn: u64,
        phase: bool,
        header: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
        now: Instant,
    ) -> Result<(), OpenError> {
        if phase == self.recv_phase {
            self.recv
                .open(pn, header, payload, tag)
                .map_err(|_| OpenError::Auth)?;
            self.recv_first_pn = Some(self.recv_first_pn.map_or(pn, |f| f.min(pn)));
            return Ok(());
        }
        // A different phase: an older packet from before the last update, or the next phase.
        if self.recv_first_pn.is_some_and(|first| pn < first) {
            let prev = self.recv_prev.as_ref().ok_or(OpenError::Auth)?;
            return prev
                .open(pn, header, payload, tag)
                .map_err(|_| OpenError::Auth);
        }
        self.recv_next
            .open(pn, header, payload, tag)
            .map_err(|_| OpenError::Auth)?;
        let next = self.recv_next.next();
        let old = core::mem::replace(
            &mut self.recv,
            core::mem::replace(&mut self.recv_next, next),
        );
        self.recv_prev = Some(old);
        self.recv_phase = phase;
        self.recv_first_pn = Some(pn);
        if self.send_phase != phase {
            self.update_send(now);
        }
        Ok(())
    }

    /// Whether our side may start a key update: the peer has acknowledged a packet sent under
    /// the current key (RFC 9001 §6.1: "MUST NOT initiate a subsequent key update unless it
    /// has received an acknowledgment for a packet that was sent protected with keys from the
    /// current key phase"), and the receive side has caught up with the send side.
    pub(crate) fn may_update(&self, largest_acked: Option<u64>) -> bool {
        match (self.send_first_pn, largest_acked) {
            (Some(first), Some(acked)) => acked >= first && self.recv_phase == self.send_phase,
            _ => false,
        }
    }

    /// Start using the next send key.
    pub(crate) fn update_send(&mut self, now: Instant) {
        self.send = self.send.next();
        self.send_phase = !self.send_phase;
        self.send_first_pn = None;
        self.send_count = 0;
        self.send_installed = now;
        self.updates += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc9001_chacha20_header_protection_vector() {
        // RFC 9001 A.5.
        let hp = HeaderKey(
            hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4")
                .try_into()
                .unwrap(),
        );
        let sample: [u8; 16] = hex("5e5cd55c41f69080575d7999c25a5bfb").try_into().unwrap();
        assert_eq!(hp.mask(&sample).to_vec(), hex("aefefe7d03"));
    }

    #[test]
    fn params_parse() {
        assert!(NOISE_PARAMS.parse::<snow::params::NoiseParams>().is_ok());
    }

    /// Our transport (Split() keys + ring's ChaCha20-Poly1305 + REKEY) agrees byte for byte with
    /// snow's own stateless transport for the same handshake.
    #[test]
    fn transport_matches_snow() {
        let server = StaticKeypair::from_private([7; 32]);
        let client = StaticKeypair::from_private([9; 32]);
        let mut i = noise_builder([1; 32])
            .local_private_key(client.private())
            .unwrap()
            .remote_public_key(&server.public())
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut r = noise_builder([2; 32])
            .local_private_key(server.private())
            .unwrap()
            .build_responder()
            .unwrap();
        let (mut m1, mut m2, mut p) = ([0u8; 200], [0u8; 200], [0u8; 200]);
        let n = i.write_message(&[], &mut m1).unwrap();
        r.read_message(&m1[..n], &mut p).unwrap();
        let n = r.write_message(&[], &mut m2).unwrap();
        i.read_message(&m2[..n], &mut p).unwrap();
        let (k1, _k2) = i.dangerously_get_raw_split();
        let mut snow_t = i.into_stateless_transport_mode().unwrap();

        let ours = AeadKey::new(k1);
        let msg = *b"a datagram of some length";
        let mut buf = msg;
        let tag = ours.seal(42, &[], &mut buf);
        let mut snow_out = [0u8; 64];
        let n = snow_t.write_message(42, &msg, &mut snow_out).unwrap();
        assert_eq!(&snow_out[..msg.len()], &buf);
        assert_eq!(&snow_out[msg.len()..n], &tag);

        snow_t.rekey_outgoing();
        let next = ours.next();
        let mut buf = msg;
        let tag = next.seal(43, &[], &mut buf);
        let n = snow_t.write_message(43, &msg, &mut snow_out).unwrap();
        assert_eq!(&snow_out[..msg.len()], &buf);
        assert_eq!(&snow_out[msg.len()..n], &tag);
    }

    #[test]
    fn tokens_bind_address_and_time() {
        let k = CookieKey::new([3; 32]);
        let a: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:4001".parse().unwrap();
        let t = k.token(&a, 10);
        assert!(k.verify(&a, 10, &t));
        assert!(k.verify(&a, 11, &t));
        assert!(!k.verify(&a, 12, &t));
        assert!(!k.verify(&b, 10, &t));
        assert!(!k.verify(&a, 10, &t[..8]));
    }

    #[test]
    fn key_phase_update_round_trip() {
        let now = Instant::from_millis(0);
        let mut a = KeySchedule::new([1; 32], [2; 32], now);
        let mut b = KeySchedule::new([2; 32], [1; 32], now);
        let send = |from: &mut KeySchedule, to: &mut KeySchedule, pn: u64| {
            let mut buf = *b"hello";
            let phase = from.send_phase();
            let tag = from.seal(pn, b"hdr", &mut buf);
            to.open(pn, phase, b"hdr", &mut buf, &tag, now).map(|_| buf)
        };
        assert_eq!(send(&mut a, &mut b, 0), Ok(*b"hello"));
        assert!(a.may_update(Some(0)));
        a.update_send(now);
        assert_eq!(send(&mut a, &mut b, 1), Ok(*b"hello"));
        assert!(
            b.send_phase(),
            "the receiver of an update updates its send key"
        );
        assert_eq!(send(&mut b, &mut a, 0), Ok(*b"hello"));
        // A delayed packet from the old phase still opens.
        let mut a2 = KeySchedule::new([1; 32], [2; 32], now);
        let mut buf = *b"late!";
        let tag = a2.seal(0, b"hdr", &mut buf);
        assert_eq!(b.open(0, false, b"hdr", &mut buf, &tag, now), Ok(()));
    }
}
