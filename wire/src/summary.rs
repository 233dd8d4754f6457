//! One-line descriptions of bare IP frames: what `bridgeless inspect` prints.
//!
//! ```text
//! <source> → <destination>  <chain>  <details>  [hlim=N tc=0xNN flow=0xNNNNN]
//! fd00::1 → fd00::2  IPv6 › UDP  40001 → 50000 len=28  [hlim=1 tc=0xb8]
//! fe80::1 → ff02::16  IPv6 › Hop-by-Hop › ICMPv6  MLDv2 report: CHANGE_TO_EXCLUDE_MODE ff15::1234  [hlim=1]
//! fd00::2 → fd00::1  IPv6  refused: parameter problem (unrecognized option) pointer=42
//! ```
//!
//! The chain names every header from the IP header to the upper layer. Details give, for TCP
//! and UDP, the ports; for ICMPv6 the message and its key fields (echo identifiers, MTU,
//! pointers, the invoking packet of an error), for MLD the group addresses, record types and
//! sources, for Router Discovery the router lifetime, flags and options (prefixes, MTU, routes,
//! DNS servers). `tc` and `flow` appear only when not zero. Fragments show their offset,
//! More-Fragments flag and identification.
//!
//! A frame that does not parse prints the error instead. [`Summary::verdict`] tells a malformed
//! frame (bad lengths, bad header fields, truncated) from one that is well formed but that a
//! receiver refuses (an unrecognised option or header, answered with Parameter Problem codes 1
//! and 2, or a feature this crate does not implement).
//!
//! Allocation-free and `no_std`: [`Summary`] implements [`Display`].

use core::fmt::{self, Display, Formatter};
use core::net::Ipv6Addr;

use smoltcp::wire::IpProtocol;

use crate::frame::{self, ExtHeaderKind, FrameInfo, IpVersion};
use crate::mld::{MldMessage, Query, QueryVersion};
use crate::ndp::{NdpMessage, NdpOption};
use crate::{Error, ParamProblemCode};

/// At most this many MLD records, sources or RA options are listed; the rest are counted.
const LIST_LIMIT: usize = 8;

/// How a frame fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The frame parsed.
    Ok,
    /// Well formed, but a receiver refuses it: an unrecognised option or Next Header
    /// (Parameter Problem codes 1 and 2) or a feature this crate does not implement.
    Refused,
    /// Broken: truncated, inconsistent lengths, an erroneous header field, a bad checksum.
    Malformed,
}

/// A one-line description of one bare IP frame (see the module docs for the format).
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    bytes: &'a [u8],
    parsed: Result<FrameInfo<'a>, Error>,
}

impl<'a> Summary<'a> {
    /// Parses `bytes` (a bare IPv4 or IPv6 packet) for describing.
    pub fn new(bytes: &'a [u8]) -> Summary<'a> {
        Summary {
            bytes,
            parsed: frame::parse(bytes),
        }
    }

    /// What the parser found, or why it failed.
    pub fn parsed(&self) -> Result<&FrameInfo<'a>, Error> {
        self.parsed.as_ref().map_err(|e| *e)
    }

    /// Whether the frame parsed, is refused, or is malformed.
    pub fn verdict(&self) -> Verdict {
        match self.parsed {
            Ok(_) => Verdict::Ok,
            Err(Error::Unsupported) => Verdict::Refused,
            Err(Error::ParameterProblem(p))
                if matches!(
                    p.code,
                    ParamProblemCode::UnrecognizedNxtHdr | ParamProblemCode::UnrecognizedOption
                ) =>
            {
                Verdict::Refused
            }
            Err(_) => Verdict::Malformed,
        }
    }
}

impl Display for Summary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.parsed {
            Ok(info) => write_frame(f, info),
            Err(e) => write_error(f, self.bytes, *e, self.verdict()),
        }
    }
}

fn write_error(f: &mut Formatter<'_>, bytes: &[u8], e: Error, verdict: Verdict) -> fmt::Result {
    // Addresses are still worth showing when the fixed header is there.
    match (
        bytes.first().map(|b| b >> 4),
        bytes.get(8..40),
        bytes.get(12..20),
    ) {
        (Some(6), Some(addrs), _) => {
            let src = ipv6(&addrs[..16]);
            let dst = ipv6(&addrs[16..]);
            write!(f, "{src} → {dst}  IPv6  ")?;
        }
        (Some(4), _, Some(addrs)) if bytes.len() >= 20 => {
            let src = core::net::Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
            let dst = core::net::Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
            write!(f, "{src} → {dst}  IPv4  ")?;
        }
        _ => {}
    }
    let what = if verdict == Verdict::Refused {
        "refused"
    } else {
        "malformed"
    };
    match e {
        Error::ParameterProblem(p) => {
            write!(
                f,
                "{what}: parameter problem ({}) pointer={}",
                pp_name(p.code),
                p.pointer
            )
        }
        other => write!(f, "{what}: {other}"),
    }
}

fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

fn pp_name(code: ParamProblemCode) -> &'static str {
    match u8::from(code) {
        0 => "erroneous header field",
        1 => "unrecognized next header",
        2 => "unrecognized option",
        3 => "first fragment lacks the upper-layer header",
        _ => "other",
    }
}

fn ext_name(kind: ExtHeaderKind) -> &'static str {
    match kind {
        ExtHeaderKind::HopByHop => "Hop-by-Hop",
        ExtHeaderKind::Routing => "Routing",
        ExtHeaderKind::Fragment => "Fragment",
        ExtHeaderKind::DestinationOptions => "Destination Options",
        ExtHeaderKind::Authentication => "AH",
    }
}

fn write_frame(f: &mut Formatter<'_>, info: &FrameInfo<'_>) -> fmt::Result {
    write!(f, "{} → {}  ", info.src(), info.dst())?;
    f.write_str(match info.version() {
        IpVersion::V4 => "IPv4",
        IpVersion::V6 => "IPv6",
    })?;
    for h in info.ext_headers() {
        write!(f, " › {}", ext_name(h.kind()))?;
    }
    let later_fragment = info.fragment().is_some_and(|fr| fr.offset != 0);
    if later_fragment {
        f.write_str(" › (fragment data)")?;
    } else if info.protocol() != IpProtocol::Ipv6NoNxt {
        write!(f, " › {}", Proto(info.protocol()))?;
    } else {
        f.write_str(" › No Next Header")?;
    }
    if info.has_upper_header() {
        let upper = info.upper_layer();
        // Each writer starts with one space: with the one here, details stand two spaces off.
        match info.protocol() {
            IpProtocol::Udp => f.write_str(" ").and_then(|()| write_udp(f, upper))?,
            IpProtocol::Tcp => f.write_str(" ").and_then(|()| write_tcp(f, upper))?,
            IpProtocol::Icmpv6 => f.write_str(" ").and_then(|()| write_icmpv6(f, upper))?,
            IpProtocol::Icmp => {
                if let Some((t, c)) = info.icmp() {
                    write!(f, "  ICMP type {t} code {c}")?;
                }
            }
            _ => {}
        }
    }
    if let Some(fr) = info.fragment() {
        let more = if fr.more { " more" } else { "" };
        write!(
            f,
            "  fragment off={}{more} id=0x{:08x}",
            fr.offset, fr.ident
        )?;
    }
    if info.trailing() > 0 {
        write!(f, "  +{} trailing bytes", info.trailing())?;
    }
    write!(f, "  [hlim={}", info.hop_limit())?;
    if info.traffic_class() != 0 {
        write!(f, " tc=0x{:02x}", info.traffic_class())?;
    }
    if info.flow_label() != 0 {
        write!(f, " flow=0x{:05x}", info.flow_label())?;
    }
    f.write_str("]")
}

/// A protocol by name, or by number when smoltcp has no name for it.
struct Proto(IpProtocol);

impl Display for Proto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpProtocol::Unknown(n) => write!(f, "protocol {n}"),
            known => write!(f, "{known}"),
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn write_udp(f: &mut Formatter<'_>, udp: &[u8]) -> fmt::Result {
    write!(
        f,
        " {} → {} len={}",
        be16(udp, 0),
        be16(udp, 2),
        be16(udp, 4)
    )
}

fn write_tcp(f: &mut Formatter<'_>, tcp: &[u8]) -> fmt::Result {
    write!(f, " {} → {} [", be16(tcp, 0), be16(tcp, 2))?;
    let flags = tcp.get(13).copied().unwrap_or(0);
    let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
    let mut first = true;
    for (bit, name) in names.iter().enumerate() {
        if flags & (1 << bit) != 0 {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    write!(
        f,
        "] seq={} ack={} win={}",
        be32(tcp, 4),
        be32(tcp, 8),
        be16(tcp, 14)
    )
}

fn write_icmpv6(f: &mut Formatter<'_>, msg: &[u8]) -> fmt::Result {
    let (Some(&t), Some(&code)) = (msg.first(), msg.get(1)) else {
        return Ok(());
    };
    match t {
        1 => {
            let why = match code {
                0 => "no route",
                1 => "administratively prohibited",
                2 => "beyond scope of source address",
                3 => "address unreachable",
                4 => "port unreachable",
                5 => "source address failed policy",
                6 => "reject route",
                _ => "other",
            };
            write!(f, " destination unreachable ({why})")?;
            write_invoking(f, msg)
        }
        2 => {
            write!(f, " packet too big mtu={}", be32(msg, 4))?;
            write_invoking(f, msg)
        }
        3 => {
            let why = if code == 0 {
                "hop limit"
            } else {
                "fragment reassembly"
            };
            write!(f, " time exceeded ({why})")?;
            write_invoking(f, msg)
        }
        4 => {
            let code = ParamProblemCode::from(code);
            write!(
                f,
                " parameter problem ({}) pointer={}",
                pp_name(code),
                be32(msg, 4)
            )?;
            write_invoking(f, msg)
        }
        128 | 129 => {
            let what = if t == 128 { "request" } else { "reply" };
            write!(
                f,
                " echo {what} id=0x{:04x} seq={}",
                be16(msg, 4),
                be16(msg, 6)
            )
        }
        130..=132 | 143 => write_mld(f, msg),
        133..=137 => write_ndp(f, msg),
        _ => write!(f, " ICMPv6 type {t} code {code}"),
    }
}

/// The packet quoted by an ICMPv6 error, as far as it was quoted.
fn write_invoking(f: &mut Formatter<'_>, msg: &[u8]) -> fmt::Result {
    let Some(quoted) = msg.get(8..) else {
        return Ok(());
    };
    let (Some(src), Some(dst), Some(&next)) =
        (quoted.get(8..24), quoted.get(24..40), quoted.get(6))
    else {
        return Ok(());
    };
    write!(
        f,
        "; invoking {} → {} next header {}",
        ipv6(src),
        ipv6(dst),
        Proto(next.into())
    )
}

fn write_mld(f: &mut Formatter<'_>, msg: &[u8]) -> fmt::Result {
    let parsed = match MldMessage::parse(msg) {
        Ok(m) => m,
        Err(e) => return write!(f, " MLD (unreadable: {e})"),
    };
    match parsed {
        MldMessage::Query(q) => write_query(f, &q),
        MldMessage::ReportV1(r) => write!(f, " MLDv1 report {}", r.multicast_address()),
        MldMessage::Done(r) => write!(f, " MLDv1 done {}", r.multicast_address()),
        MldMessage::ReportV2(r) => {
            f.write_str(" MLDv2 report:")?;
            let total = usize::from(r.number_of_records());
            for (i, rec) in r.records().enumerate() {
                if i == LIST_LIMIT {
                    return write!(f, " (+{} more records)", total - i);
                }
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{} {}", rec.record_type, rec.multicast_address)?;
                write_sources(f, rec.sources)?;
            }
            if total == 0 {
                f.write_str(" no records")?;
            }
            Ok(())
        }
    }
}

fn write_query(f: &mut Formatter<'_>, q: &Query<&[u8]>) -> fmt::Result {
    let version = match q.version() {
        QueryVersion::V1 => "MLDv1",
        QueryVersion::V2 => "MLDv2",
    };
    let scope = if q.is_general() {
        "general"
    } else {
        "group-specific"
    };
    write!(f, " {version} {scope} query")?;
    if !q.is_general() {
        write!(f, " {}", q.multicast_address())?;
    }
    write!(f, " max-delay={}ms", q.max_response_delay())?;
    if q.version() == QueryVersion::V2 {
        write!(f, " qrv={} qqi={}s", q.qrv(), q.query_interval())?;
        if q.suppress_router_processing() {
            f.write_str(" S")?;
        }
        write_sources(f, q.sources())?;
    }
    Ok(())
}

fn write_sources(f: &mut Formatter<'_>, sources: impl Iterator<Item = Ipv6Addr>) -> fmt::Result {
    let mut n = 0;
    for s in sources {
        if n == LIST_LIMIT {
            f.write_str(" …")?;
            break;
        }
        f.write_str(if n == 0 { " sources {" } else { " " })?;
        write!(f, "{s}")?;
        n += 1;
    }
    if n > 0 {
        f.write_str("}")?;
    }
    Ok(())
}

fn write_ndp(f: &mut Formatter<'_>, msg: &[u8]) -> fmt::Result {
    let parsed = match NdpMessage::parse(msg) {
        Ok(m) => m,
        Err(e) => return write!(f, " neighbor discovery (unreadable: {e})"),
    };
    match parsed {
        NdpMessage::RouterSolicitation(rs) => {
            f.write_str(" router solicitation")?;
            write_options(f, rs.options())
        }
        NdpMessage::RouterAdvertisement(ra) => {
            write!(
                f,
                " router advertisement lifetime={}s hlim={}",
                ra.router_lifetime(),
                ra.cur_hop_limit()
            )?;
            if ra.managed() {
                f.write_str(" M")?;
            }
            if ra.other() {
                f.write_str(" O")?;
            }
            write!(f, " pref={:?}", ra.preference())?;
            write_options(f, ra.options())
        }
        // Meaningless on a point-to-point link without link-layer addresses: counted and dropped.
        NdpMessage::NeighborSolicitation => write_target(f, " neighbor solicitation", msg),
        NdpMessage::NeighborAdvertisement => write_target(f, " neighbor advertisement", msg),
        NdpMessage::Redirect => write_target(f, " redirect", msg),
    }
}

fn write_target(f: &mut Formatter<'_>, what: &str, msg: &[u8]) -> fmt::Result {
    f.write_str(what)?;
    if let Some(target) = msg.get(8..24) {
        write!(f, " target {}", ipv6(target))?;
    }
    Ok(())
}

fn write_options<'a>(
    f: &mut Formatter<'_>,
    options: impl Iterator<Item = NdpOption<'a>>,
) -> fmt::Result {
    for (i, opt) in options.enumerate() {
        if i == LIST_LIMIT {
            return f.write_str("; …");
        }
        f.write_str("; ")?;
        match opt {
            NdpOption::PrefixInformation(p) => {
                write!(
                    f,
                    "prefix {}/{} valid={}s preferred={}s",
                    p.prefix, p.prefix_len, p.valid_lifetime, p.preferred_lifetime
                )?;
                if p.on_link {
                    f.write_str(" L")?;
                }
                if p.autonomous {
                    f.write_str(" A")?;
                }
            }
            NdpOption::Mtu(mtu) => write!(f, "mtu {mtu}")?,
            NdpOption::RouteInformation(r) => write!(
                f,
                "route {}/{} lifetime={}s pref={:?}",
                r.prefix, r.prefix_len, r.lifetime, r.preference
            )?,
            NdpOption::Rdnss(r) => {
                write!(f, "rdnss lifetime={}s", r.lifetime)?;
                for a in r.addresses.take(LIST_LIMIT) {
                    write!(f, " {a}")?;
                }
            }
            NdpOption::LinkLayerAddress { kind } => {
                write!(f, "{kind:?} link-layer address (ignored)")?
            }
            NdpOption::Invalid { kind, .. } => write!(f, "invalid option type {kind} (ignored)")?,
            NdpOption::Unknown { kind, .. } => write!(f, "unknown option type {kind}")?,
        }
    }
    Ok(())
}
