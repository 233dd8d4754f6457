//! A Linux TUN device as a smoltcp [`Device`] (`Medium::Ip`).
//!
//! A TUN device is the kernel's end of a point-to-point link that carries bare IP packets:
//! what the kernel routes to the interface is read from the file descriptor, and what is
//! written to it the kernel receives as if it had arrived on the interface. [`Tun`] opens
//! `/dev/net/tun` with `IFF_TUN | IFF_NO_PI` (no packet-information prefix: each read or
//! write is exactly one IP packet) and puts the descriptor in non-blocking mode.
//!
//! smoltcp ships `phy::TunTapInterface`, but it allocates a buffer per packet, is not `Send`
//! and panics on any I/O error other than `WouldBlock`. [`Tun`] is written for this crate:
//!
//! - **no allocation per packet**: one receive and one transmit buffer, allocated when the
//!   device is opened, large enough for any packet a TUN device can carry ([`MAX_MTU`]); the
//!   [`RxToken`] lends the receive buffer and the [`TxToken`] builds the packet in the
//!   transmit buffer and writes it from there;
//! - **non-blocking**: [`Device::receive`] returns `None` when nothing is queued; wait for the
//!   descriptor with [`Tun::wait`] (`poll(2)`) or register [`Tun::raw_fd`] with your own
//!   poll/epoll loop;
//! - **`Send`**: the device can be moved to the thread that runs the interface;
//! - **errors are returned, not panicked on**: smoltcp's `Device` trait cannot return errors,
//!   so every failed read or write is counted in [`TunStats`] and the latest is kept for
//!   [`Tun::last_error`] / [`Tun::take_last_error`]; the packet is dropped, as a full
//!   transmit queue on a real link would drop it.
//!
//! Opening a TUN device needs `CAP_NET_ADMIN`, or a persistent device created for your user
//! (`ip tuntap add dev tun0 mode tun user $USER`). The kernel side (addresses, routes, link
//! up) is configured with `ip` as for any interface.
//!
//! # Example
//!
//! ```no_run
//! use bridgeless_iface::device::tun::Tun;
//! use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
//! use smoltcp::time::{Duration, Instant};
//! use smoltcp::wire::{HardwareAddress, IpCidr};
//!
//! let mut tun = Tun::open("tun0")?;
//! let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut tun, Instant::ZERO);
//! iface.update_ip_addrs(|addrs| {
//!     addrs.push("fd00::2/64".parse::<IpCidr>().unwrap()).unwrap();
//! });
//! let mut storage = [SocketStorage::EMPTY; 4];
//! let mut sockets = SocketSet::new(&mut storage[..]);
//! let start = std::time::Instant::now();
//! loop {
//!     let now = Instant::from_micros(start.elapsed().as_micros() as i64);
//!     iface.poll(now, &mut tun, &mut sockets);
//!     let delay = iface.poll_delay(now, &sockets).unwrap_or(Duration::from_millis(100));
//!     tun.wait(Some(delay))?;
//! #   break;
//! }
//! if let Some(err) = tun.last_error() {
//!     eprintln!("{}: {} read errors, {} write errors; last: {err}",
//!         tun.name(), tun.stats().rx_errors, tun.stats().tx_errors);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

// `unsafe` is needed here, and only here in the crate, for three calls into the kernel that
// std does not wrap: the TUNSETIFF and SIOCGIFMTU ioctls, setns(2) (to open a device in
// another network namespace) and poll(2). Each block says why it is sound. Packet reads and
// writes go through std's `File`, without `unsafe`.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::{Duration, Instant};

use super::util::ip_capabilities;

/// The MTU a TUN device has when the kernel creates it, and the fallback of
/// [`Tun::set_mtu`].
pub const DEFAULT_MTU: usize = 1500;

/// The largest MTU Linux lets a TUN device have (`MAX_MTU` in `drivers/net/tun.c`), and so
/// the largest packet [`Tun`] can receive.
pub const MAX_MTU: usize = 65_535;

/// The smallest MTU [`Tun::set_mtu`] accepts: IPv4's minimum (RFC 791). IPv6 needs 1280
/// (RFC 8200 §5); smoltcp drops what does not fit.
pub const MIN_MTU: usize = 68;

/// One octet more than the largest packet: a read that fills the whole buffer was cut short.
const RX_BUFFER_LEN: usize = MAX_MTU + 1;

const TUN_PATH: &str = "/dev/net/tun";

/// Counters of a [`Tun`] device. Every packet that is not delivered is counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunStats {
    /// Packets read from the kernel and handed to smoltcp.
    pub rx_packets: u64,
    /// Octets of those packets.
    pub rx_bytes: u64,
    /// Reads that failed with an error other than `WouldBlock`/`Interrupted` (see
    /// [`Tun::last_error`]).
    pub rx_errors: u64,
    /// Packets dropped because they did not fit the receive buffer (longer than
    /// [`MAX_MTU`]; Linux never sends them).
    pub rx_truncated: u64,
    /// Packets written to the kernel.
    pub tx_packets: u64,
    /// Octets of those packets.
    pub tx_bytes: u64,
    /// Writes that failed with an error other than `WouldBlock`, or wrote only part of the
    /// packet (see [`Tun::last_error`]). The packet is dropped.
    pub tx_errors: u64,
    /// Writes refused with `WouldBlock` (the kernel could not take the packet now). The packet
    /// is dropped, as a full transmit queue drops it; TCP retransmits.
    pub tx_would_block: u64,
}

/// A Linux TUN device (`IFF_TUN | IFF_NO_PI`, non-blocking) that is a smoltcp [`Device`] with
/// `Medium::Ip`. See the [module documentation](self).
pub struct Tun {
    /// The `/dev/net/tun` descriptor bound to the interface (owns its `OwnedFd`).
    file: File,
    name: String,
    mtu: usize,
    rx_buf: Vec<u8>,
    tx_buf: Vec<u8>,
    stats: TunStats,
    last_error: Option<io::Error>,
}

impl Tun {
    /// Opens (creating it if it does not exist) the TUN interface `name` in the calling
    /// thread's network namespace, in non-blocking mode, with the MTU the interface has now.
    ///
    /// An empty `name`, or one with a `%d` (such as `"tun%d"`), lets the kernel pick the
    /// number; [`Tun::name`] says which it chose. A device created here disappears when the
    /// `Tun` is dropped, unless it was made persistent (`ip tuntap add`).
    ///
    /// Errors: `InvalidInput` if `name` is 16 octets or longer or contains NUL; otherwise
    /// whatever opening `/dev/net/tun`, `TUNSETIFF` or `SIOCGIFMTU` returned (`NotFound` without
    /// the tun module, `PermissionDenied` without `CAP_NET_ADMIN`, `EBUSY` if the device is a
    /// TAP device or already attached).
    pub fn open(name: &str) -> io::Result<Tun> {
        let mut req = ifreq_named(name)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)?;
        // IFF_TUN | IFF_NO_PI = 0x1001 fits the kernel's `short` flags field.
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: `file` is an open descriptor of /dev/net/tun and `req` is a fully
        // initialised `struct ifreq` that lives across the call; TUNSETIFF reads the name and
        // flags from it and writes back the interface name, nothing else.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let name = ifreq_name(&req);
        let mtu = interface_mtu(&name)?;
        log::debug!("opened TUN device {name} (mtu {mtu})");
        Ok(Tun {
            file,
            name,
            mtu,
            rx_buf: vec![0; RX_BUFFER_LEN],
            tx_buf: vec![0; MAX_MTU],
            stats: TunStats::default(),
            last_error: None,
        })
    }

    /// Like [`Tun::open`], in the network namespace whose file is `netns` (for a namespace
    /// made with `ip netns add NAME`: `/var/run/netns/NAME`).
    ///
    /// The device is opened from a short-lived thread that enters the namespace with
    /// `setns(2)` (which changes only the calling thread's namespace), so the calling thread
    /// stays where it is. The interface belongs to the namespace for good; the returned
    /// descriptor works from any thread. Needs `CAP_SYS_ADMIN` as well as `CAP_NET_ADMIN`.
    pub fn open_in_namespace(netns: impl AsRef<Path>, name: &str) -> io::Result<Tun> {
        let netns = File::open(netns)?;
        std::thread::scope(|scope| {
            let opener = std::thread::Builder::new()
                .name("tun-netns".into())
                .spawn_scoped(scope, || {
                    // SAFETY: `netns` is an open namespace file for the duration of the call;
                    // setns with CLONE_NEWNET moves only this thread, which ends right after
                    // opening the device, into that network namespace.
                    let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                    if rc < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Tun::open(name)
                })?;
            opener
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("thread opening the TUN device panicked")))
        })
    }

    /// The interface's name, as the kernel knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor, for poll/epoll users: readable when a packet is waiting. Do not read
    /// or write packets through it behind the device's back, and do not close it.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The MTU reported to smoltcp: the interface's when opened, or the last
    /// [`Tun::set_mtu`] / [`Tun::refresh_mtu`].
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Sets the MTU reported to smoltcp (clamped to [`MIN_MTU`]..=[`MAX_MTU`]). It does not
    /// change the kernel's MTU for the interface: do that with `ip link set NAME mtu N`.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu.clamp(MIN_MTU, MAX_MTU);
    }

    /// Reads the interface's MTU from the kernel again (`SIOCGIFMTU`), uses it and returns it.
    ///
    /// The lookup is by name in the calling thread's network namespace: for a device opened
    /// with [`Tun::open_in_namespace`], call [`Tun::set_mtu`] instead.
    pub fn refresh_mtu(&mut self) -> io::Result<usize> {
        let mtu = interface_mtu(&self.name)?;
        self.set_mtu(mtu);
        Ok(self.mtu)
    }

    /// The device's counters.
    pub fn stats(&self) -> TunStats {
        self.stats
    }

    /// The latest read or write error (other than `WouldBlock`), if any.
    pub fn last_error(&self) -> Option<&io::Error> {
        self.last_error.as_ref()
    }

    /// Takes the latest read or write error, leaving none.
    pub fn take_last_error(&mut self) -> Option<io::Error> {
        self.last_error.take()
    }

    /// Waits until a packet can be read or `timeout` passes (`None`: no limit), with
    /// `poll(2)`. Returns whether the descriptor is ready (readable, or in an error state that
    /// the next read reports). A wait interrupted by a signal returns `Ok(false)` early.
    ///
    /// Pass smoltcp's `Interface::poll_delay` as `timeout`. Sub-millisecond timeouts round up
    /// to one millisecond (zero stays zero: a non-blocking check).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut fds = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `fds` is one valid, initialised pollfd that lives across the call, and the
        // count passed is 1.
        let rc = unsafe { libc::poll(&mut fds, 1, poll_timeout_ms(timeout)) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(err);
        }
        Ok(rc > 0 && fds.revents != 0)
    }

    fn record_rx_error(&mut self, err: io::Error) {
        self.stats.rx_errors += 1;
        log::debug!("{}: read failed: {err}", self.name);
        self.last_error = Some(err);
    }
}

impl fmt::Debug for Tun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("fd", &self.file.as_raw_fd())
            .field("mtu", &self.mtu)
            .field("stats", &self.stats)
            .field("last_error", &self.last_error)
            .finish()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl From<Tun> for OwnedFd {
    fn from(tun: Tun) -> OwnedFd {
        tun.file.into()
    }
}

impl Device for Tun {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = loop {
            match (&self.file).read(&mut self.rx_buf) {
                Ok(0) => return None,
                Ok(len) => break len,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return None,
                Err(err) => {
                    self.record_rx_error(err);
                    return None;
                }
            }
        };
        if len >= self.rx_buf.len() {
            self.stats.rx_truncated += 1;
            log::debug!(
                "{}: dropped a packet longer than {MAX_MTU} octets",
                self.name
            );
            return None;
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += len as u64;
        Some((
            RxToken {
                frame: &self.rx_buf[..len],
            },
            TxToken {
                file: &self.file,
                buf: &mut self.tx_buf,
                stats: &mut self.stats,
                last_error: &mut self.last_error,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        // A TUN write does not block: the kernel takes the packet or refuses it at once, and a
        // refusal is counted by the token. Always offering a token keeps one poll(2) per packet
        // off the transmit path.
        Some(TxToken {
            file: &self.file,
            buf: &mut self.tx_buf,
            stats: &mut self.stats,
            last_error: &mut self.last_error,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        ip_capabilities(self.mtu)
    }
}

/// A packet read from a [`Tun`]: lends the device's receive buffer.
#[derive(Debug)]
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

/// Permission to send one packet on a [`Tun`]: the packet is built in the device's transmit
/// buffer and written from there.
pub struct TxToken<'a> {
    file: &'a File,
    buf: &'a mut Vec<u8>,
    stats: &'a mut TunStats,
    last_error: &'a mut Option<io::Error>,
}

impl fmt::Debug for TxToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxToken")
            .field("fd", &self.file.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        if len > self.buf.len() {
            // smoltcp never builds a packet over the MTU, which is at most MAX_MTU = the
            // buffer's length; should it ever, grow once rather than panic.
            self.buf.resize(len, 0);
        }
        let packet = &mut self.buf[..len];
        let result = f(packet);
        let mut file = self.file;
        let written = loop {
            match file.write(packet) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match written {
            Ok(n) if n == len => {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += len as u64;
            }
            Ok(_) => {
                self.stats.tx_errors += 1;
                *self.last_error = Some(io::ErrorKind::WriteZero.into());
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.stats.tx_would_block += 1;
            }
            Err(err) => {
                self.stats.tx_errors += 1;
                log::debug!("TUN write of {len} octets failed: {err}");
                *self.last_error = Some(err);
            }
        }
        result
    }
}

/// A zeroed `struct ifreq` holding `name` (NUL-terminated).
fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be shorter than 16 octets and contain no NUL",
        ));
    }
    // SAFETY: `ifreq` is plain data (a name array and a union of integers, socket addresses
    // and a pointer); all zeros is a valid value of each (the pointer is null, never read).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// The NUL-terminated name in `req`.
fn ifreq_name(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The MTU of interface `name` in the calling thread's network namespace (`SIOCGIFMTU`).
fn interface_mtu(name: &str) -> io::Result<usize> {
    let mut req = ifreq_named(name)?;
    // Interface ioctls go through any socket; a datagram socket is the customary one.
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let raw = if raw < 0 {
        // Without IPv6 in the kernel, try an IPv4 socket.
        // SAFETY: as above.
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }
    } else {
        raw
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor socket(2) just returned, owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `socket` is open and `req` is an initialised `struct ifreq` that lives across
    // the call; SIOCGIFMTU reads the name and writes `ifr_mtu` only.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU as _, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFMTU succeeded, so the kernel stored the MTU in `ifru_mtu`.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu)
        .ok()
        .filter(|&mtu| mtu > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "interface reports a bad MTU"))
}

/// `poll(2)`'s timeout for `timeout`: milliseconds rounded up, -1 for none, capped at
/// `c_int::MAX`.
fn poll_timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.total_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tun_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Tun>();
    }

    #[test]
    fn names_that_do_not_fit_are_refused_before_touching_the_kernel() {
        let err = Tun::open("a-name-of-16-oct").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = Tun::open("tun\0").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // 15 octets is the longest name the kernel takes.
        let req = ifreq_named("abcdefghijklmno").unwrap();
        assert_eq!(ifreq_name(&req), "abcdefghijklmno");
        assert_eq!(req.ifr_name[15], 0);
    }

    #[test]
    fn poll_timeouts_round_up_to_milliseconds() {
        assert_eq!(poll_timeout_ms(None), -1);
        assert_eq!(poll_timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(poll_timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(poll_timeout_ms(Some(Duration::from_micros(1_001))), 2);
        assert_eq!(poll_timeout_ms(Some(Duration::from_secs(3))), 3_000);
        assert_eq!(poll_timeout_ms(Some(Duration::MAX)), libc::c_int::MAX);
    }

    #[test]
    fn opening_in_a_missing_namespace_is_an_error() {
        let err = Tun::open_in_namespace("/nonexistent/netns/bridgeless", "tun0").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
