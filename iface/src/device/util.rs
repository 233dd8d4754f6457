//! Pieces shared by the devices of this module.

use smoltcp::phy::{DeviceCapabilities, Medium};

/// The capabilities of a `Medium::Ip` device with link MTU `mtu` (no checksum offload).
pub(crate) fn ip_capabilities(mtu: usize) -> DeviceCapabilities {
    let mut caps = DeviceCapabilities::default();
    caps.medium = Medium::Ip;
    caps.max_transmission_unit = mtu;
    caps
}

/// A received frame held in a device's buffer until the interface consumes it; consuming it
/// frees the buffer for the next one.
#[cfg(feature = "std")]
pub(crate) struct PendingFrame<'a> {
    frame: &'a [u8],
    pending: &'a mut Option<usize>,
}

#[cfg(feature = "std")]
impl<'a> PendingFrame<'a> {
    /// The first `*pending` bytes of `buffer`, if a frame is pending.
    pub(crate) fn new(buffer: &'a [u8], pending: &'a mut Option<usize>) -> Option<Self> {
        let len = (*pending)?;
        Some(PendingFrame {
            frame: buffer.get(..len).unwrap_or_default(),
            pending,
        })
    }

    /// Hands the frame to `f` and marks it consumed.
    pub(crate) fn consume<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        *self.pending = None;
        f(self.frame)
    }
}

/// Refuses to send a `len`-byte frame over the MTU of the `link` named: logs it, counts it in
/// `too_big`, and lets `f` build it in a scratch buffer that is then dropped.
#[cfg(feature = "std")]
pub(crate) fn refuse_too_big<R>(
    link: &str,
    len: usize,
    too_big: &mut u64,
    f: impl FnOnce(&mut [u8]) -> R,
) -> R {
    log::debug!("{link}: refused a {len}-byte frame over the MTU");
    *too_big += 1;
    f(&mut std::vec![0; len])
}
