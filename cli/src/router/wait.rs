//! Sleeping until one of the router's devices has a frame: `poll(2)` on all their descriptors.
//!
//! `unsafe` is allowed here, and only here in the crate, for the one `poll(2)` call that std
//! does not wrap; the block says why it is sound. (The devices' own `Tun::wait` watches one
//! descriptor; a router must watch all of its links at once.)
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Waits until one of `fds` is readable (or in an error state the next read reports), or
/// `timeout` passes, or a signal arrives. `fds` is scratch space reused across calls so that
/// waiting does not allocate; it is filled from `descriptors`.
pub fn wait_readable(
    descriptors: &[RawFd],
    fds: &mut Vec<libc::pollfd>,
    timeout: Duration,
) -> io::Result<()> {
    fds.clear();
    fds.extend(descriptors.iter().map(|&fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }));
    // Round up so that a timer due in 0.3 ms is not turned into a busy loop of zero waits.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` points to `fds.len()` initialised pollfd structures that live across the
    // call; poll(2) writes only their `revents` fields.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    #[test]
    fn wakes_on_a_datagram_and_times_out_without_one() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut fds = Vec::new();
        let started = Instant::now();
        wait_readable(&[a.as_raw_fd()], &mut fds, Duration::from_millis(30)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(25));
        b.send_to(b"x", a.local_addr().unwrap()).unwrap();
        wait_readable(
            &[b.as_raw_fd(), a.as_raw_fd()],
            &mut fds,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(fds[1].revents & libc::POLLIN, libc::POLLIN);
    }
}
