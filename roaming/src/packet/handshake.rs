//! Handshake initiation, handshake response and cookie reply.
//!
//! The handshake is Noise `IK` (see [`crate::crypto`]); these packets carry its two messages,
//! the initiator's receive identifier, and the stateless retry token.
//!
//! ```text
//! Initiation (initiator -> responder), 1 + 1 + L + 1 + T + 96 bytes:
//!  0        1        2 .. 2+L              2+L      3+L .. 3+L+T    3+L+T .. +96
//! +--------+--------+---------------------+--------+---------------+----------------------+
//! |  0x81  |   L    | initiator's receive | T (0 or| token (T)     | Noise IK message 1:  |
//! |        |        | identifier (L)      |  16)   |               | e, s (encrypted), tag|
//! +--------+--------+---------------------+--------+---------------+----------------------+
//!
//! Response (responder -> initiator), 1 + 1 + L + 32 + (1 + L' + 16) bytes:
//! +--------+--------+---------------------+----------------------------------------------+
//! |  0x82  |   L    | initiator's receive | Noise IK message 2: e, then encrypted payload|
//! |        |        | identifier (L)      | (L', responder's receive identifier) and tag |
//! +--------+--------+---------------------+----------------------------------------------+
//!
//! Cookie reply (responder -> initiator, under load, no state kept), 1 + 1 + L + 16 bytes:
//! +--------+--------+---------------------+----------------------------------------------+
//! |  0x83  |   L    | initiator's receive | token = MAC(server secret, claimed source    |
//! |        |        | identifier (L)      | address, time bucket), 16 bytes              |
//! +--------+--------+---------------------+----------------------------------------------+
//! ```
//!
//! The initiator's identifier travels in clear so that a loaded responder can answer with a
//! cookie without any Diffie-Hellman work; it is bound to the handshake as part of the Noise
//! prologue, so changing it makes message 1 fail to authenticate. The token is outside the
//! prologue: the initiator repeats the same message 1 with the token attached. Responses are
//! never larger than the initiation that caused them (no amplification).

use super::{ConnectionId, Error, MAX_ID_LEN, MIN_ID_LEN, PacketType, Result, TAG_LEN, TOKEN_LEN};

/// Length of Noise IK message 1 with an empty payload: e (32), encrypted s (32 + 16), tag (16).
pub const NOISE_MSG1_LEN: usize = 32 + 32 + TAG_LEN + TAG_LEN;
/// Shortest Noise IK message 2 this format carries: e (32), payload (1 + 8), tag (16).
pub const NOISE_MSG2_MIN_LEN: usize = 32 + 1 + MIN_ID_LEN + TAG_LEN;
/// Longest Noise IK message 2: e (32), payload (1 + 20), tag (16).
pub const NOISE_MSG2_MAX_LEN: usize = 32 + 1 + MAX_ID_LEN + TAG_LEN;

mod field {
    // Common: | type | L | identifier (L) | ...
    pub const TYPE: usize = 0;
    pub const ID_LEN: usize = 1;
    pub const ID: usize = 2;
}

/// Read the `| type | L | identifier |` prefix every handshake packet starts with.
fn read_id(buf: &[u8], ty: u8) -> Result<(ConnectionId, usize)> {
    if buf.len() < field::ID {
        return Err(Error::Truncated);
    }
    if buf[field::TYPE] != ty {
        return Err(Error::Malformed);
    }
    let len = usize::from(buf[field::ID_LEN]);
    if !(MIN_ID_LEN..=MAX_ID_LEN).contains(&len) {
        return Err(Error::Malformed);
    }
    let end = field::ID + len;
    let bytes = buf.get(field::ID..end).ok_or(Error::Truncated)?;
    Ok((ConnectionId::new(bytes)?, end))
}

fn write_id(buf: &mut [u8], ty: u8, id: &ConnectionId) -> usize {
    buf[field::TYPE] = ty;
    buf[field::ID_LEN] = id.len() as u8;
    buf[field::ID..field::ID + id.len()].copy_from_slice(id.as_bytes());
    field::ID + id.len()
}

/// A view of a handshake initiation.
#[derive(Debug, Clone)]
pub struct InitiationPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> InitiationPacket<T> {
    /// Wrap a buffer without checking it.
    pub fn new_unchecked(buffer: T) -> Self {
        InitiationPacket { buffer }
    }

    /// Wrap a buffer and check that every field is in bounds and well formed.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check lengths: the identifier length and the token length are legal and the Noise
    /// message is exactly [`NOISE_MSG1_LEN`] bytes.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let (_, at) = read_id(buf, PacketType::INITIATION)?;
        let t = usize::from(*buf.get(at).ok_or(Error::Truncated)?);
        if t != 0 && t != TOKEN_LEN {
            return Err(Error::Malformed);
        }
        let noise_at = at + 1 + t;
        match buf.len().checked_sub(noise_at) {
            Some(NOISE_MSG1_LEN) => Ok(()),
            Some(n) if n > NOISE_MSG1_LEN => Err(Error::Malformed),
            _ => Err(Error::Truncated),
        }
    }

    fn token_at(&self) -> usize {
        field::ID + usize::from(self.buffer.as_ref()[field::ID_LEN])
    }

    /// The initiator's receive identifier.
    pub fn sender_id(&self) -> ConnectionId {
        let at = self.token_at();
        ConnectionId::new(&self.buffer.as_ref()[field::ID..at]).unwrap_or(ConnectionId {
            len: MIN_ID_LEN as u8,
            bytes: [0; MAX_ID_LEN],
        })
    }

    /// The `type | L | identifier` bytes: the part bound into the Noise prologue.
    pub fn bound_prefix(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.token_at()]
    }

    /// The retry token, if the initiator attached one.
    pub fn token(&self) -> Option<&[u8]> {
        let at = self.token_at();
        let buf = self.buffer.as_ref();
        match usize::from(buf[at]) {
            0 => None,
            t => Some(&buf[at + 1..at + 1 + t]),
        }
    }

    /// Noise IK message 1.
    pub fn noise(&self) -> &[u8] {
        let at = self.token_at();
        let buf = self.buffer.as_ref();
        &buf[at + 1 + usize::from(buf[at])..]
    }

    /// The initiator's ephemeral public key (the first 32 bytes of message 1).
    pub fn ephemeral(&self) -> [u8; 32] {
        let mut e = [0; 32];
        e.copy_from_slice(&self.noise()[..32]);
        e
    }
}

/// An owned summary of a handshake initiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiationRepr<'a> {
    /// The identifier under which the initiator receives packets of this session.
    pub sender_id: ConnectionId,
    /// The retry token from a cookie reply, if any.
    pub token: Option<[u8; TOKEN_LEN]>,
    /// Noise IK message 1 ([`NOISE_MSG1_LEN`] bytes).
    pub noise: &'a [u8],
}

impl<'a> InitiationRepr<'a> {
    /// Parse a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &'a InitiationPacket<T>) -> Result<Self> {
        p.check_len()?;
        let token = p.token().map(|t| {
            let mut a = [0; TOKEN_LEN];
            a.copy_from_slice(t);
            a
        });
        Ok(InitiationRepr {
            sender_id: p.sender_id(),
            token,
            noise: p.noise(),
        })
    }

    /// Bytes needed to emit.
    pub fn buffer_len(&self) -> usize {
        field::ID
            + self.sender_id.len()
            + 1
            + self.token.map_or(0, |_| TOKEN_LEN)
            + self.noise.len()
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if self.noise.len() != NOISE_MSG1_LEN {
            return Err(Error::Malformed);
        }
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut at = write_id(buf, PacketType::INITIATION, &self.sender_id);
        match &self.token {
            None => {
                buf[at] = 0;
                at += 1;
            }
            Some(t) => {
                buf[at] = TOKEN_LEN as u8;
                buf[at + 1..at + 1 + TOKEN_LEN].copy_from_slice(t);
                at += 1 + TOKEN_LEN;
            }
        }
        buf[at..].copy_from_slice(self.noise);
        Ok(len)
    }
}

/// An owned summary of a handshake response (parsed straight from bytes: it has one
/// variable field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRepr<'a> {
    /// The initiator's receive identifier, copied from the initiation.
    pub receiver_id: ConnectionId,
    /// Noise IK message 2; its encrypted payload holds the responder's receive identifier.
    pub noise: &'a [u8],
}

impl<'a> ResponseRepr<'a> {
    /// Parse a response.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let (receiver_id, at) = read_id(buf, PacketType::RESPONSE)?;
        let noise = &buf[at..];
        if noise.len() < NOISE_MSG2_MIN_LEN {
            return Err(Error::Truncated);
        }
        if noise.len() > NOISE_MSG2_MAX_LEN {
            return Err(Error::Malformed);
        }
        Ok(ResponseRepr { receiver_id, noise })
    }

    /// Bytes needed to emit.
    pub fn buffer_len(&self) -> usize {
        field::ID + self.receiver_id.len() + self.noise.len()
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if !(NOISE_MSG2_MIN_LEN..=NOISE_MSG2_MAX_LEN).contains(&self.noise.len()) {
            return Err(Error::Malformed);
        }
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let at = write_id(buf, PacketType::RESPONSE, &self.receiver_id);
        buf[at..].copy_from_slice(self.noise);
        Ok(len)
    }
}

/// An owned summary of a cookie reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieReplyRepr {
    /// The initiator's receive identifier, copied from the initiation.
    pub receiver_id: ConnectionId,
    /// The token to attach to the repeated initiation.
    pub token: [u8; TOKEN_LEN],
}

impl CookieReplyRepr {
    /// Parse a cookie reply.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let (receiver_id, at) = read_id(buf, PacketType::COOKIE_REPLY)?;
        match buf.len() - at {
            TOKEN_LEN => {
                let mut token = [0; TOKEN_LEN];
                token.copy_from_slice(&buf[at..]);
                Ok(CookieReplyRepr { receiver_id, token })
            }
            n if n < TOKEN_LEN => Err(Error::Truncated),
            _ => Err(Error::Malformed),
        }
    }

    /// Bytes needed to emit.
    pub fn buffer_len(&self) -> usize {
        field::ID + self.receiver_id.len() + TOKEN_LEN
    }

    /// Emit into the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let at = write_id(buf, PacketType::COOKIE_REPLY, &self.receiver_id);
        buf[at..].copy_from_slice(&self.token);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[rustfmt::skip]
    const COOKIE: [u8; 34] = [
        0x83,                                           // type: cookie reply
        0x10,                                           // L = 16
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, // initiator's identifier
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, // token (16)
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
    ];

    #[test]
    fn cookie_reply_bytes() {
        let r = CookieReplyRepr::parse(&COOKIE).unwrap();
        assert_eq!(r.receiver_id.as_bytes(), &COOKIE[2..18]);
        assert_eq!(r.token, [0xaa; 16]);
        let mut out = [0x55; 34];
        assert_eq!(r.emit(&mut out), Ok(34));
        assert_eq!(out, COOKIE);
        assert_eq!(CookieReplyRepr::parse(&COOKIE[..33]), Err(Error::Truncated));
    }

    #[test]
    fn initiation_rejects_bad_token_length() {
        let mut buf = [0u8; 2 + 8 + 1 + 3 + NOISE_MSG1_LEN];
        buf[0] = 0x81;
        buf[1] = 8;
        buf[10] = 3;
        assert_eq!(
            InitiationPacket::new_checked(&buf[..]).err(),
            Some(Error::Malformed)
        );
    }

    fn id() -> impl Strategy<Value = ConnectionId> {
        proptest::collection::vec(any::<u8>(), MIN_ID_LEN..=MAX_ID_LEN)
            .prop_map(|b| ConnectionId::new(&b).unwrap())
    }

    proptest! {
        #[test]
        fn initiation_round_trip(sender_id in id(), token in any::<Option<[u8; 16]>>(),
                                 noise in proptest::collection::vec(any::<u8>(), NOISE_MSG1_LEN)) {
            let repr = InitiationRepr { sender_id, token, noise: &noise };
            let mut buf = vec![0x5a; repr.buffer_len()];
            prop_assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
            let p = InitiationPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(InitiationRepr::parse(&p).unwrap(), repr);
            prop_assert_eq!(p.ephemeral(), <[u8; 32]>::try_from(&noise[..32]).unwrap());
        }

        #[test]
        fn response_round_trip(receiver_id in id(),
                               noise in proptest::collection::vec(any::<u8>(), NOISE_MSG2_MIN_LEN..=NOISE_MSG2_MAX_LEN)) {
            let repr = ResponseRepr { receiver_id, noise: &noise };
            let mut buf = vec![0x5a; repr.buffer_len()];
            prop_assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
            prop_assert_eq!(ResponseRepr::parse(&buf).unwrap(), repr);
        }

        #[test]
        fn cookie_round_trip(receiver_id in id(), token in any::<[u8; 16]>()) {
            let repr = CookieReplyRepr { receiver_id, token };
            let mut buf = vec![0x5a; repr.buffer_len()];
            prop_assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
            prop_assert_eq!(CookieReplyRepr::parse(&buf).unwrap(), repr);
        }

        #[test]
        fn parsers_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), ty in 0x81u8..=0x83) {
            if let Some(b) = bytes.first_mut() { *b = ty; }
            if let Ok(p) = InitiationPacket::new_checked(&bytes[..]) {
                let r = InitiationRepr::parse(&p).unwrap();
                let mut out = vec![0; r.buffer_len()];
                r.emit(&mut out).unwrap();
                prop_assert_eq!(&out[..], &bytes[..]);
            }
            let _ = ResponseRepr::parse(&bytes);
            let _ = CookieReplyRepr::parse(&bytes);
        }
    }
}
