//! Source and destination address modes (RFC 6282 §3.1.1, SAC/SAM and M/DAC/DAM), with the
//! interface identifiers taken from the [`Context`] instead of from link-layer addresses.

use smoltcp::wire::Ipv6Address;

use super::{Context, Reader};
use crate::{Error, Result};

/// The top 64 bits of a link-local address (fe80::/64).
const LINK_LOCAL_TOP: [u8; 8] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0];
/// The first six bytes of the IID of a 16-bit short address, `0000:00ff:fe00:XXXX`
/// (RFC 6282 §3.2.2).
const SHORT_IID_TOP: [u8; 6] = [0, 0, 0, 0xff, 0xfe, 0];

/// How one address is encoded: its mode bits and the bytes carried inline.
pub(super) struct AddrEnc {
    /// SAC or DAC.
    pub stateful: bool,
    /// M (destination only).
    pub multicast: bool,
    /// SAM or DAM (two bits).
    pub mode: u8,
    /// SCI or DCI: the context id used (0 when stateless).
    pub ctx_id: u8,
    buf: [u8; 16],
    /// The number of inline bytes.
    pub len: usize,
}

impl AddrEnc {
    fn new(stateful: bool, mode: u8, ctx_id: u8, inline: &[u8]) -> AddrEnc {
        let mut buf = [0u8; 16];
        let len = inline.len().min(16);
        buf[..len].copy_from_slice(&inline[..len]);
        AddrEnc {
            stateful,
            multicast: false,
            mode,
            ctx_id,
            buf,
            len,
        }
    }

    /// The bytes carried inline.
    pub fn inline(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Encodes a unicast address whose elidable IID is `iid`; `unspecified` says whether `::` has
/// its own mode (source only).
fn encode_unicast(ctx: &Context, addr: &Ipv6Address, iid: &[u8; 8], unspecified: bool) -> AddrEnc {
    let o = addr.octets();
    let (top, low) = o.split_at(8);
    // The IID part of a mode (the two low bits of SAM/DAM) is the same with and without context.
    let iid_mode = |stateful: bool, ctx_id: u8| {
        if low == iid {
            AddrEnc::new(stateful, 0b11, ctx_id, &[])
        } else if low[..6] == SHORT_IID_TOP {
            AddrEnc::new(stateful, 0b10, ctx_id, &low[6..])
        } else {
            AddrEnc::new(stateful, 0b01, ctx_id, low)
        }
    };
    if top == LINK_LOCAL_TOP {
        return iid_mode(false, 0);
    }
    if unspecified && o == [0u8; 16] {
        return AddrEnc::new(true, 0b00, 0, &[]);
    }
    if let Some((id, _)) = ctx.find(top) {
        return iid_mode(true, id);
    }
    AddrEnc::new(false, 0b00, 0, &o)
}

/// Encodes a source address: the sender's IID is this end's local IID.
pub(super) fn encode_src(ctx: &Context, addr: &Ipv6Address) -> AddrEnc {
    encode_unicast(ctx, addr, &ctx.local_iid, true)
}

/// Encodes a destination address: the receiver's IID is this end's peer IID.
pub(super) fn encode_dst(ctx: &Context, addr: &Ipv6Address) -> AddrEnc {
    let o = addr.octets();
    if o[0] != 0xff {
        return encode_unicast(ctx, addr, &ctx.peer_iid, false);
    }
    let mut enc = if o[1] == 0x02 && o[2..15].iter().all(|&b| b == 0) {
        // ff02::00XX
        AddrEnc::new(false, 0b11, 0, &o[15..])
    } else if o[2..13].iter().all(|&b| b == 0) {
        // ffXX::00XX:XXXX
        AddrEnc::new(false, 0b10, 0, &[o[1], o[13], o[14], o[15]])
    } else if o[2..11].iter().all(|&b| b == 0) {
        // ffXX::00XX:XXXX:XXXX
        AddrEnc::new(false, 0b01, 0, &[o[1], o[11], o[12], o[13], o[14], o[15]])
    } else if let Some(id) = (0u8..).zip(ctx.prefixes.iter()).find_map(|(id, p)| {
        p.filter(|p| o[3] == p.len && o[4..12] == p.bits)
            .map(|_| id)
    }) {
        // ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:XXXX:XXXX, LL and P from context (RFC 3306)
        AddrEnc::new(true, 0b00, id, &[o[1], o[2], o[12], o[13], o[14], o[15]])
    } else {
        AddrEnc::new(false, 0b00, 0, &o)
    };
    enc.multicast = true;
    enc
}

/// Rebuilds the low 64 bits of a unicast address for the IID part of a mode.
fn decode_iid(mode: u8, iid: &[u8; 8], r: &mut Reader<'_>, low: &mut [u8]) -> Result<()> {
    match mode {
        0b01 => low.copy_from_slice(r.take(8)?),
        0b10 => {
            low[..6].copy_from_slice(&SHORT_IID_TOP);
            low[6..].copy_from_slice(r.take(2)?);
        }
        _ => low.copy_from_slice(iid),
    }
    Ok(())
}

/// Rebuilds a unicast address from its mode; `None` for the stateful mode 00, which the caller
/// resolves (unspecified for a source, reserved for a destination).
fn decode_unicast(
    ctx: &Context,
    stateful: bool,
    mode: u8,
    ctx_id: u8,
    iid: &[u8; 8],
    r: &mut Reader<'_>,
) -> Result<Option<Ipv6Address>> {
    let mut o = [0u8; 16];
    match (stateful, mode) {
        (false, 0b00) => o.copy_from_slice(r.take(16)?),
        (true, 0b00) => return Ok(None),
        (false, _) => {
            o[..8].copy_from_slice(&LINK_LOCAL_TOP);
            decode_iid(mode, iid, r, &mut o[8..])?;
        }
        (true, _) => {
            // A context id the receiver does not hold: the ends disagree on the table.
            let p = ctx.entry(ctx_id).ok_or(Error::Malformed)?;
            o[..8].copy_from_slice(&p.bits);
            decode_iid(mode, iid, r, &mut o[8..])?;
        }
    }
    Ok(Some(Ipv6Address::from(o)))
}

/// Rebuilds a source address: an elided IID is the sender's, which is this end's peer IID.
pub(super) fn decode_src(
    ctx: &Context,
    sac: bool,
    sam: u8,
    sci: u8,
    r: &mut Reader<'_>,
) -> Result<Ipv6Address> {
    // SAC = 1, SAM = 00 is the unspecified address (RFC 6282 §3.1.1).
    Ok(decode_unicast(ctx, sac, sam, sci, &ctx.peer_iid, r)?.unwrap_or(Ipv6Address::UNSPECIFIED))
}

/// Rebuilds a destination address: an elided IID is the receiver's, this end's local IID.
pub(super) fn decode_dst(
    ctx: &Context,
    multicast: bool,
    dac: bool,
    dam: u8,
    dci: u8,
    r: &mut Reader<'_>,
) -> Result<Ipv6Address> {
    if !multicast {
        // M = 0, DAC = 1, DAM = 00 is reserved (RFC 6282 §3.1.1).
        return decode_unicast(ctx, dac, dam, dci, &ctx.local_iid, r)?.ok_or(Error::Malformed);
    }
    let mut o = [0u8; 16];
    o[0] = 0xff;
    match (dac, dam) {
        (false, 0b00) => o.copy_from_slice(r.take(16)?),
        (false, 0b01) => {
            let s = r.take(6)?;
            o[1] = s[0];
            o[11..].copy_from_slice(&s[1..]);
        }
        (false, 0b10) => {
            let s = r.take(4)?;
            o[1] = s[0];
            o[13..].copy_from_slice(&s[1..]);
        }
        (false, _) => {
            o[1] = 0x02;
            o[15] = r.u8()?;
        }
        (true, 0b00) => {
            let s = r.take(6)?;
            let p = ctx.entry(dci).ok_or(Error::Malformed)?;
            o[1] = s[0];
            o[2] = s[1];
            o[3] = p.len;
            o[4..12].copy_from_slice(&p.bits);
            o[12..].copy_from_slice(&s[2..]);
        }
        // M = 1, DAC = 1, DAM = 01, 10, 11 are reserved (RFC 6282 §3.1.1).
        (true, _) => return Err(Error::Malformed),
    }
    Ok(Ipv6Address::from(o))
}
