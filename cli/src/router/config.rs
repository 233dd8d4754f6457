//! The router's configuration file: TOML, read with `serde`, every key checked.
//!
//! The format is documented in the [parent module](super) and in the crate's README. Errors
//! name the file, line and column (`router.toml:7:1: ...`) and quote the line.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bridgeless_iface::mld::querier::MldVersion;
use bridgeless_iface::router::LinkRole;
use bridgeless_iface::router::advertiser::{
    MAX_DNS_SERVERS, MAX_MAX_RTR_ADV_INTERVAL, MIN_MAX_RTR_ADV_INTERVAL,
};
use rand_core::{OsRng, TryRngCore};
use serde::Deserialize;
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};
use toml::Spanned;

/// The smallest link MTU IPv6 allows (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;
/// The largest link MTU accepted: the largest IPv6 packet without a jumbogram.
pub const MAX_MTU: usize = 65_535;
/// The MTU of a UDP link whose `mtu` is not given: the IPv6 minimum, which fits in one
/// datagram over any carrier path.
pub const DEFAULT_UDP_MTU: usize = MIN_MTU;

/// The file as written: every key, with where it is in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Spanned<String>,
    secret: Option<Spanned<String>>,
    secret_file: Option<Spanned<PathBuf>>,
    prefix: Option<Spanned<String>>,
    delegation_bits: Option<Spanned<u8>>,
    ra_interval_secs: Option<Spanned<u64>>,
    #[serde(default)]
    multicast: bool,
    /// Any integer, so that a wrong one gets our message rather than a range error.
    mld_version: Option<Spanned<i64>>,
    dns_servers: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    link: Vec<Spanned<RawLink>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    kind: Spanned<Kind>,
    role: Role,
    name: Option<Spanned<String>>,
    netns: Option<PathBuf>,
    local: Option<Spanned<String>>,
    remote: Option<Spanned<String>>,
    mtu: Option<Spanned<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Tun,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Upstream,
    Downstream,
}

/// Where the router's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the configuration file.
    Inline([u8; 32]),
    /// Kept in a file (64 hex digits), created with random bytes if it does not exist.
    File(PathBuf),
}

/// A link as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A TUN device.
    Tun {
        /// The interface name (`tun0`; `tun%d` lets the kernel number it).
        name: String,
        /// The network namespace to create the interface in (a file such as
        /// `/var/run/netns/NAME`); `None`: the router's own.
        netns: Option<PathBuf>,
        /// The MTU the router assumes and advertises; `None`: the interface's.
        mtu: Option<usize>,
    },
    /// A point-to-point link carried over UDP.
    Udp {
        /// The local socket address to bind.
        local: SocketAddr,
        /// The peer's socket address.
        remote: SocketAddr,
        /// The link MTU.
        mtu: usize,
    },
}

/// One `[[link]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// The device.
    pub kind: LinkKind,
    /// Towards the core or away from it.
    pub role: LinkRole,
}

impl LinkSpec {
    /// A short name for logs and reports: the TUN interface, or `udp LOCAL->REMOTE`.
    pub fn label(&self) -> String {
        match &self.kind {
            LinkKind::Tun {
                name,
                netns: Some(ns),
                ..
            } => {
                let ns = ns.file_name().map_or(ns.as_os_str(), |n| n);
                format!("tun {name} in netns {}", ns.to_string_lossy())
            }
            LinkKind::Tun { name, .. } => format!("tun {name}"),
            LinkKind::Udp { local, remote, .. } => format!("udp {local}->{remote}"),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The router's name.
    pub name: String,
    /// Where the secret comes from.
    pub secret: SecretSource,
    /// The core's prefix; `None` to request one over the upstream link.
    pub prefix: Option<Ipv6Cidr>,
    /// Bits added to the prefix length per delegation.
    pub delegation_bits: u8,
    /// MaxRtrAdvInterval, in seconds.
    pub ra_interval_secs: u64,
    /// Whether multicast routing was asked for.
    pub multicast: bool,
    /// The MLD version of the downstream queriers (`mld_version`, default 2).
    pub mld_version: MldVersion,
    /// Recursive DNS servers to announce downstream (`dns_servers`, default none).
    pub dns_servers: Vec<Ipv6Address>,
    /// The links, in order: link `i` of the router is `links[i]`.
    pub links: Vec<LinkSpec>,
}

/// A configuration error, with the file and, where known, the place in it.
#[derive(Debug)]
pub struct ConfigError {
    path: PathBuf,
    /// Line and column (1-based) and the text of that line.
    place: Option<(usize, usize, String)>,
    message: String,
}

impl ConfigError {
    fn new(path: &Path, source: Option<&str>, span: Option<Range<usize>>, message: String) -> Self {
        let place = match (source, span) {
            (Some(source), Some(span)) => Some(locate(source, span.start)),
            _ => None,
        };
        ConfigError {
            path: path.to_path_buf(),
            place,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some((line, column, text)) => {
                write!(
                    f,
                    "{}:{line}:{column}: {}",
                    self.path.display(),
                    self.message
                )?;
                write!(f, "\n    {text}\n    {:>column$}", "^")
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The 1-based line and column of byte `offset` of `source`, and that line's text.
fn locate(source: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    let text = source[line_start..]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (line, column, text)
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let source = fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, None, None, format!("cannot read: {e}")))?;
    parse(path, &source)
}

/// Checks the configuration text `source`, read from `path` (for messages, and as the base of
/// a relative `secret_file`).
pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
    let err = |span: Option<Range<usize>>, message: String| {
        ConfigError::new(path, Some(source), span, message)
    };
    let raw: RawConfig = toml::from_str(source).map_err(|e| err(e.span(), e.message().into()))?;

    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(err(Some(raw.name.span()), "`name` is empty".into()));
    }
    let secret = match (raw.secret, raw.secret_file) {
        (Some(secret), None) => SecretSource::Inline(
            parse_hex32(secret.get_ref())
                .map_err(|m| err(Some(secret.span()), format!("`secret`: {m}")))?,
        ),
        (None, Some(file)) => {
            let file_path = file.get_ref();
            let file_path = if file_path.is_relative() {
                path.parent().unwrap_or(Path::new(".")).join(file_path)
            } else {
                file_path.clone()
            };
            SecretSource::File(file_path)
        }
        (Some(secret), Some(_)) => {
            return Err(err(
                Some(secret.span()),
                "give `secret` or `secret_file`, not both".into(),
            ));
        }
        (None, None) => {
            return Err(err(
                Some(0..0),
                "no secret: add `secret = \"<64 hex digits>\"` or `secret_file = \"PATH\"` \
                 (created with random bytes on first run)"
                    .into(),
            ));
        }
    };
    let prefix = match &raw.prefix {
        Some(p) => Some(parse_prefix(p.get_ref()).map_err(|m| err(Some(p.span()), m))?),
        None => None,
    };
    let delegation_bits = match raw.delegation_bits {
        Some(bits) if *bits.get_ref() > 64 => {
            return Err(err(
                Some(bits.span()),
                "`delegation_bits` must be 0 to 64".into(),
            ));
        }
        Some(bits) => *bits.get_ref(),
        None => 4,
    };
    let (lo, hi) = (
        MIN_MAX_RTR_ADV_INTERVAL.secs(),
        MAX_MAX_RTR_ADV_INTERVAL.secs(),
    );
    let ra_interval_secs = match raw.ra_interval_secs {
        Some(secs) if !(lo..=hi).contains(secs.get_ref()) => {
            return Err(err(
                Some(secs.span()),
                format!("`ra_interval_secs` must be {lo} to {hi} (RFC 4861 §6.2.1)"),
            ));
        }
        Some(secs) => *secs.get_ref(),
        None => 600,
    };

    let multicast = raw.multicast;
    let mld_version = match &raw.mld_version {
        None => MldVersion::V2,
        Some(v) if !multicast => {
            return Err(err(
                Some(v.span()),
                "`mld_version` applies only with `multicast = true`".into(),
            ));
        }
        Some(v) => match *v.get_ref() {
            1 => MldVersion::V1,
            2 => MldVersion::V2,
            other => {
                return Err(err(
                    Some(v.span()),
                    format!(
                        "`mld_version` must be 1 or 2, not {other}: 2 (MLDv2, the default), \
                         or 1 only if an MLDv1 router shares the downstream links \
                         (RFC 3810 §8.3.1)"
                    ),
                ));
            }
        },
    };

    let mut dns_servers = Vec::new();
    if let Some(list) = &raw.dns_servers {
        if list.get_ref().len() > MAX_DNS_SERVERS {
            return Err(err(
                Some(list.span()),
                format!("`dns_servers`: at most {MAX_DNS_SERVERS} servers"),
            ));
        }
        for server in list.get_ref() {
            let addr = server
                .get_ref()
                .parse::<Ipv6Address>()
                .ok()
                .filter(|a| !(a.is_unspecified() || a.is_loopback() || a.is_multicast()))
                .ok_or_else(|| {
                    err(
                        Some(server.span()),
                        format!(
                            "`{}` is not a usable DNS server: a unicast IPv6 address",
                            server.get_ref()
                        ),
                    )
                })?;
            dns_servers.push(addr);
        }
    }

    let mut links = Vec::with_capacity(raw.link.len());
    let mut upstream: Option<Range<usize>> = None;
    for link in &raw.link {
        let span = link.span();
        let l = link.get_ref();
        let role = match l.role {
            Role::Upstream => {
                if upstream.is_some() {
                    return Err(err(
                        Some(span),
                        "a second upstream link: a router has at most one".into(),
                    ));
                }
                upstream = Some(span.clone());
                LinkRole::Upstream
            }
            Role::Downstream => LinkRole::Downstream,
        };
        let mtu = match &l.mtu {
            Some(m) if !(MIN_MTU..=MAX_MTU).contains(m.get_ref()) => {
                return Err(err(
                    Some(m.span()),
                    format!("`mtu` must be {MIN_MTU} to {MAX_MTU} (IPv6 needs at least 1280)"),
                ));
            }
            Some(m) => Some(*m.get_ref()),
            None => None,
        };
        let kind_span = l.kind.span();
        let misplaced = |key: &str, present: bool| {
            if present {
                Err(err(
                    Some(kind_span.clone()),
                    format!("`{key}` does not apply to a link of this kind"),
                ))
            } else {
                Ok(())
            }
        };
        let kind = match l.kind.get_ref() {
            Kind::Tun => {
                misplaced("local", l.local.is_some())?;
                misplaced("remote", l.remote.is_some())?;
                let name = l.name.as_ref().ok_or_else(|| {
                    err(
                        Some(span.clone()),
                        "a `tun` link needs `name` (the interface, e.g. \"tun0\")".into(),
                    )
                })?;
                let n = name.get_ref();
                if n.is_empty() || n.len() >= 16 || n.contains(['/', ' ', '\0']) {
                    return Err(err(
                        Some(name.span()),
                        "`name` must be an interface name of 1 to 15 characters".into(),
                    ));
                }
                LinkKind::Tun {
                    name: n.clone(),
                    netns: l.netns.clone(),
                    mtu,
                }
            }
            Kind::Udp => {
                misplaced("name", l.name.is_some())?;
                misplaced("netns", l.netns.is_some())?;
                let address = |key: &str, value: &Option<Spanned<String>>| {
                    let value = value.as_ref().ok_or_else(|| {
                        err(
                            Some(span.clone()),
                            format!("a `udp` link needs `{key}` (a socket address)"),
                        )
                    })?;
                    value.get_ref().parse::<SocketAddr>().map_err(|_| {
                        err(
                            Some(value.span()),
                            format!(
                                "`{key}`: not a socket address such as \"[2001:db8::1]:7000\" \
                                 or \"192.0.2.1:7000\""
                            ),
                        )
                    })
                };
                LinkKind::Udp {
                    local: address("local", &l.local)?,
                    remote: address("remote", &l.remote)?,
                    mtu: mtu.unwrap_or(DEFAULT_UDP_MTU),
                }
            }
        };
        links.push(LinkSpec { kind, role });
    }
    if links.is_empty() {
        return Err(err(None, "no `[[link]]`: a router needs links".into()));
    }
    if prefix.is_none() && upstream.is_none() {
        return Err(err(
            None,
            "no `prefix` and no upstream link: give the core its prefix, or add a link with \
             role = \"upstream\" to request one from"
                .into(),
        ));
    }
    Ok(Config {
        name,
        secret,
        prefix,
        delegation_bits,
        ra_interval_secs,
        multicast,
        mld_version,
        dns_servers,
        links,
    })
}

/// 32 octets from 64 hex digits.
fn parse_hex32(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "expected 64 hex digits (32 octets), found {} characters",
            text.len()
        ));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| "expected hex digits".to_string())?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An IPv6 prefix `ADDRESS/LENGTH` of length at most 64, with no bits set past its length.
fn parse_prefix(text: &str) -> Result<Ipv6Cidr, String> {
    let bad = || format!("`prefix`: \"{text}\" is not an IPv6 prefix such as \"2001:db8::/48\"");
    let (address, len) = text.split_once('/').ok_or_else(bad)?;
    let address: Ipv6Addr = address.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 64 {
        return Err(format!(
            "`prefix`: /{len} is longer than /64; the router needs at least a /64 per link"
        ));
    }
    let bits = u128::from(address);
    let host = if len == 0 { bits } else { bits << len };
    if host != 0 {
        let network = Ipv6Addr::from(bits & !(u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)));
        return Err(format!(
            "`prefix`: \"{text}\" has bits set past /{len}; did you mean \"{network}/{len}\"?"
        ));
    }
    Ok(Ipv6Cidr::new(Ipv6Address::from(address.octets()), len))
}

/// The secret: the configured one, or the one kept in the secret file, which is created with
/// 32 random octets (mode 0600) if it does not exist yet. With `create` false a missing file
/// is not created (for `--check`) and `Ok(None)` says so.
pub fn secret(source: &SecretSource, create: bool) -> io::Result<Option<[u8; 32]>> {
    let path = match source {
        SecretSource::Inline(secret) => return Ok(Some(*secret)),
        SecretSource::File(path) => path,
    };
    match fs::read_to_string(path) {
        Ok(text) => parse_hex32(&text).map(Some).map_err(|m| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("secret file {}: {m}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            let mut secret = [0u8; 32];
            OsRng
                .try_fill_bytes(&mut secret)
                .map_err(|e| io::Error::other(format!("no random bytes for the secret: {e}")))?;
            // create_new: of two routers started at once with the same file, one creates it
            // and the other fails instead of both using different secrets.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot create secret file {}: {e}", path.display()),
                    )
                })?;
            writeln!(file, "{}", hex(&secret))?;
            file.sync_all()?;
            log::info!(target: "router", "created secret file {}", path.display());
            Ok(Some(secret))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read secret file {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, String> {
        parse(Path::new("r.toml"), text).map_err(|e| e.to_string())
    }

    const SECRET: &str =
        "secret = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"";

    #[test]
    fn a_core_with_two_links() {
        let c = check(&format!(
            "name = \"core\"\n{SECRET}\nprefix = \"2001:db8::/48\"\nmulticast = true\n\
             [[link]]\nkind = \"tun\"\nname = \"tun0\"\nrole = \"downstream\"\n\
             [[link]]\nkind = \"udp\"\nlocal = \"[::1]:7001\"\nremote = \"[::1]:7002\"\n\
             role = \"downstream\"\nmtu = 1452\n"
        ))
        .unwrap();
        assert_eq!(c.name, "core");
        assert_eq!(c.prefix.unwrap().prefix_len(), 48);
        assert_eq!((c.delegation_bits, c.ra_interval_secs), (4, 600));
        assert!(c.multicast);
        assert_eq!(c.links.len(), 2);
        assert_eq!(
            c.links[1].kind,
            LinkKind::Udp {
                local: "[::1]:7001".parse().unwrap(),
                remote: "[::1]:7002".parse().unwrap(),
                mtu: 1452
            }
        );
        let SecretSource::Inline(s) = c.secret else {
            panic!()
        };
        assert_eq!(s[31], 0x1f);
    }

    #[test]
    fn errors_name_the_line() {
        let e = check(&format!(
            "name = \"r\"\n{SECRET}\nprefix = \"2001:db8::/48\"\n[[link]]\nkind = \"tun\"\n\
             name = \"tun0\"\nrole = \"downstream\"\nmtus = 1500\n"
        ))
        .unwrap_err();
        assert!(e.starts_with("r.toml:8:1: unknown field `mtus`"), "{e}");

        let e = check(&format!(
            "name = \"r\"\n{SECRET}\n[[link]]\nkind = \"tun\"\nname = \"tun0\"\n\
             role = \"upstream\"\n[[link]]\nkind = \"tun\"\nname = \"tun1\"\nrole = \"upstream\"\n"
        ))
        .unwrap_err();
        assert!(e.contains(":7:1: a second upstream link"), "{e}");

        let e = check(&format!(
            "name = \"r\"\n{SECRET}\n[[link]]\nkind = \"tun\"\nname = \"tun0\"\n\
             role = \"downstream\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("no `prefix` and no upstream link"), "{e}");

        let e = check(&format!(
            "name = \"r\"\n{SECRET}\nprefix = \"2001:db8::1/48\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("r.toml:3:10:") && e.contains("\"2001:db8::/48\""),
            "{e}"
        );

        let e = check("name = \"r\"\nsecret = \"abc\"\n").unwrap_err();
        assert!(
            e.contains("r.toml:2:10: `secret`: expected 64 hex digits"),
            "{e}"
        );

        let e = check(&format!(
            "name = \"r\"\n{SECRET}\nprefix = \"fd00::/48\"\n[[link]]\nkind = \"udp\"\n\
             local = \"[::1]:1\"\nrole = \"downstream\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("needs `remote`"), "{e}");

        let e = check(&format!(
            "name = \"r\"\n{SECRET}\nprefix = \"fd00::/48\"\n[[link]]\nkind = \"ethernet\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("r.toml:5:8:") && e.contains("unknown variant"),
            "{e}"
        );
    }

    #[test]
    fn mld_version() {
        let router = |extra: &str| {
            check(&format!(
                "name = \"r\"\n{SECRET}\nprefix = \"fd00::/48\"\n{extra}\n[[link]]\n\
                 kind = \"tun\"\nname = \"tun0\"\nrole = \"downstream\"\n"
            ))
        };
        assert_eq!(
            router("multicast = true").unwrap().mld_version,
            MldVersion::V2
        );
        let c = router("multicast = true\nmld_version = 1").unwrap();
        assert_eq!((c.multicast, c.mld_version), (true, MldVersion::V1));
        let c = router("multicast = true\nmld_version = 2").unwrap();
        assert_eq!(c.mld_version, MldVersion::V2);
        for bad in ["3", "0", "-1", "300"] {
            let e = router(&format!("multicast = true\nmld_version = {bad}")).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "r.toml:5:15: `mld_version` must be 1 or 2, not {bad}"
                )),
                "{e}"
            );
        }
        let e = router("multicast = true\nmld_version = \"1\"").unwrap_err();
        assert!(e.starts_with("r.toml:5:15:"), "{e}");
        let e = router("mld_version = 1").unwrap_err();
        assert!(
            e.contains("r.toml:4:15: `mld_version` applies only with `multicast = true`"),
            "{e}"
        );
    }

    #[test]
    fn dns_servers() {
        let router = |extra: &str| {
            check(&format!(
                "name = \"r\"\n{SECRET}\nprefix = \"fd00::/48\"\n{extra}\n[[link]]\n\
                 kind = \"tun\"\nname = \"tun0\"\nrole = \"downstream\"\n"
            ))
        };
        assert!(router("").unwrap().dns_servers.is_empty());
        let c = router("dns_servers = [\"2001:db8::53\", \"fd00::35\"]").unwrap();
        assert_eq!(
            c.dns_servers,
            [
                Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53),
                Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x35)
            ]
        );
        for bad in ["ff02::1", "::", "::1", "192.0.2.1", "nameserver"] {
            let e = router(&format!("dns_servers = [\"{bad}\"]")).unwrap_err();
            assert!(
                e.starts_with("r.toml:4:16:") && e.contains("not a usable DNS server"),
                "{e}"
            );
        }
        let e = router("dns_servers = [\"::2\", \"::3\", \"::4\", \"::5\", \"::6\"]").unwrap_err();
        assert!(e.contains("at most 4 servers"), "{e}");
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("fd00:99::/48").unwrap().prefix_len(), 48);
        assert!(parse_prefix("fd00::/65").unwrap_err().contains("/64"));
        assert!(parse_prefix("fd00::").is_err());
        assert!(parse_prefix("::/0").is_ok());
        assert!(
            parse_prefix("fd00:1:2:3::/48")
                .unwrap_err()
                .contains("fd00:1:2::/48")
        );
    }

    #[test]
    fn secret_file_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("bridgeless-secret-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let source = SecretSource::File(dir.join("s"));
        assert_eq!(secret(&source, false).unwrap(), None);
        let first = secret(&source, true).unwrap().unwrap();
        let again = secret(&source, true).unwrap().unwrap();
        assert_eq!(first, again);
        assert_ne!(first, [0; 32]);
        let _ = fs::remove_dir_all(&dir);
    }
}
