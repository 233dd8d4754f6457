//! Recording a device's frames to a pcap capture (`LINKTYPE_RAW`) (feature `std`).
//!
//! A [`PcapRecorder`] owns a [`bridgeless_wire::pcap::Writer`]; [`PcapRecorder::tap`] wraps any
//! smoltcp [`Device`] in a [`PcapTap`] that records every frame received and transmitted
//! through it, stamped with the `Instant` smoltcp passed to `receive`/`transmit` (plus an
//! optional epoch, so that virtual time can be shown as a date). Wireshark and tcpdump read
//! the result; with `LINKTYPE_RAW` each record is the bare IP packet that crossed the link.
//!
//! The recorder is separate from the tap so that devices that only borrow their link while
//! polled (a [`MemoryEnd`](super::memory::MemoryEnd)) can be tapped on every poll into the
//! same capture, and so that both ends of a link can share one capture:
//!
//! ```
//! use bridgeless_iface::device::pcap_tap::PcapRecorder;
//! use bridgeless_wire::pcap::{LinkType, Writer};
//! # use smoltcp::phy::{Device, TxToken};
//! # use smoltcp::time::Instant;
//! # fn device() -> impl Device { bridgeless_iface::device::stream::StreamLink::new(
//! #     std::io::Cursor::new(Vec::new()), Default::default()) }
//!
//! let recorder = PcapRecorder::new(Writer::new(Vec::new(), LinkType::Raw)?);
//! let mut tapped = recorder.tap(device());
//! // iface.poll(now, &mut tapped, &mut sockets) ...
//! # tapped.transmit(Instant::from_millis(1)).unwrap().consume(40, |b| b[0] = 0x60);
//! assert_eq!(recorder.counters().transmitted, 1);
//! let capture: Vec<u8> = recorder.into_writer().into_inner()?;
//! # Ok::<(), bridgeless_wire::pcap::PcapError>(())
//! ```
//!
//! A transmitted frame is recorded as the interface built it, whatever the device then does
//! with it (a lossy link may drop it): the capture shows what this host sent and received.
//!
//! # Errors
//!
//! Recording never stops the traffic. A write that fails is counted (`write_errors`) and the
//! error kept for [`PcapRecorder::take_error`]; recording goes on with the next frame. A frame
//! that is not an IPv4 or IPv6 packet cannot be recorded as `LINKTYPE_RAW` (a corrupted
//! version field, say) and is counted as `not_ip`.

use core::cell::RefCell;
use core::time::Duration;
use std::io::Write;

use bridgeless_wire::pcap::{PcapError, Writer};
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

/// What a [`PcapRecorder`] has recorded, and what it could not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PcapCounters {
    /// Received frames recorded.
    pub received: u64,
    /// Transmitted frames recorded.
    pub transmitted: u64,
    /// Frames that could not be written (see [`PcapRecorder::take_error`]).
    pub write_errors: u64,
    /// Frames not recorded because they are not IPv4 or IPv6 packets.
    pub not_ip: u64,
}

/// Which way a recorded frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Received,
    Transmitted,
}

struct State<W: Write> {
    writer: Writer<W>,
    epoch: Duration,
    counters: PcapCounters,
    error: Option<PcapError>,
}

/// Writes the frames seen by its [`PcapTap`]s to a pcap capture.
pub struct PcapRecorder<W: Write> {
    state: RefCell<State<W>>,
}

impl<W: Write> core::fmt::Debug for PcapRecorder<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapRecorder")
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl<W: Write> PcapRecorder<W> {
    /// Records into `writer`, normally made with [`LinkType::Raw`]
    /// (`bridgeless_wire::pcap::LinkType::Raw`).
    ///
    /// [`LinkType::Raw`]: bridgeless_wire::pcap::LinkType::Raw
    pub fn new(writer: Writer<W>) -> Self {
        PcapRecorder {
            state: RefCell::new(State {
                writer,
                epoch: Duration::ZERO,
                counters: PcapCounters::default(),
                error: None,
            }),
        }
    }

    /// Adds `epoch` (a time since the Unix epoch) to every timestamp, so that a capture made
    /// in virtual time starting at `Instant::ZERO` shows a date. Default: zero.
    pub fn with_epoch(self, epoch: Duration) -> Self {
        self.state.borrow_mut().epoch = epoch;
        self
    }

    /// Wraps `device` so that its frames are recorded here.
    pub fn tap<D: Device>(&self, device: D) -> PcapTap<'_, D, W> {
        PcapTap {
            inner: device,
            recorder: self,
        }
    }

    /// What has been recorded so far.
    pub fn counters(&self) -> PcapCounters {
        self.state
            .try_borrow()
            .map(|s| s.counters)
            .unwrap_or_default()
    }

    /// The last write error, if one happened since the previous call.
    pub fn take_error(&self) -> Option<PcapError> {
        self.state.try_borrow_mut().ok()?.error.take()
    }

    /// Flushes the capture's writer.
    pub fn flush(&self) -> Result<(), PcapError> {
        match self.state.try_borrow_mut() {
            Ok(mut state) => state.writer.flush(),
            // Only reachable from inside a frame callback; nothing to flush there.
            Err(_) => Ok(()),
        }
    }

    /// Gives the writer back (flush it, or call its `into_inner`, to finish the capture).
    pub fn into_writer(self) -> Writer<W> {
        self.state.into_inner().writer
    }

    fn record(&self, direction: Direction, timestamp: Instant, frame: &[u8]) {
        let Ok(mut state) = self.state.try_borrow_mut() else {
            // Cannot happen: no frame is recorded while another is being recorded.
            log::warn!("pcap tap: recorder busy, frame not recorded");
            return;
        };
        let since = u64::try_from(timestamp.total_micros()).unwrap_or(0);
        let at = state.epoch.saturating_add(Duration::from_micros(since));
        match state.writer.write(at, frame) {
            Ok(()) => match direction {
                Direction::Received => state.counters.received += 1,
                Direction::Transmitted => state.counters.transmitted += 1,
            },
            Err(PcapError::WrongIpVersion { version, .. }) => {
                log::debug!("pcap tap: frame with IP version {version:?} not recorded");
                state.counters.not_ip += 1;
            }
            Err(e) => {
                if state.counters.write_errors == 0 {
                    log::warn!("pcap tap: writing the capture failed: {e}");
                }
                state.counters.write_errors += 1;
                state.error = Some(e);
            }
        }
    }
}

/// A [`Device`] whose frames are recorded by a [`PcapRecorder`]; it behaves exactly as the
/// device it wraps.
pub struct PcapTap<'r, D, W: Write> {
    inner: D,
    recorder: &'r PcapRecorder<W>,
}

impl<D, W: Write> core::fmt::Debug for PcapTap<'_, D, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcapTap")
            .field("recorder", self.recorder)
            .finish_non_exhaustive()
    }
}

impl<D, W: Write> PcapTap<'_, D, W> {
    /// The wrapped device.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// The wrapped device. Frames passed through it directly are not recorded.
    pub fn get_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Unwraps the device.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: Device, W: Write> Device for PcapTap<'_, D, W> {
    type RxToken<'a>
        = TapRxToken<'a, D::RxToken<'a>, W>
    where
        Self: 'a;
    type TxToken<'a>
        = TapTxToken<'a, D::TxToken<'a>, W>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let recorder = self.recorder;
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            TapRxToken {
                token: rx,
                recorder,
                timestamp,
            },
            TapTxToken {
                token: tx,
                recorder,
                timestamp,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let recorder = self.recorder;
        let tx = self.inner.transmit(timestamp)?;
        Some(TapTxToken {
            token: tx,
            recorder,
            timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A received frame, recorded when consumed.
pub struct TapRxToken<'a, T, W: Write> {
    token: T,
    recorder: &'a PcapRecorder<W>,
    timestamp: Instant,
}

impl<T: phy::RxToken, W: Write> phy::RxToken for TapRxToken<'_, T, W> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let (recorder, timestamp) = (self.recorder, self.timestamp);
        self.token.consume(|frame| {
            // Recorded before `f` runs: smoltcp may send a reply from inside `f`, and the
            // capture should show the request first.
            recorder.record(Direction::Received, timestamp, frame);
            f(frame)
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.token.meta()
    }
}

/// A frame to transmit, recorded once built.
pub struct TapTxToken<'a, T, W: Write> {
    token: T,
    recorder: &'a PcapRecorder<W>,
    timestamp: Instant,
}

impl<T: phy::TxToken, W: Write> phy::TxToken for TapTxToken<'_, T, W> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let (recorder, timestamp) = (self.recorder, self.timestamp);
        self.token.consume(len, |frame| {
            let result = f(frame);
            recorder.record(Direction::Transmitted, timestamp, frame);
            result
        })
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.token.set_meta(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridgeless_wire::pcap::{LinkType, Reader};
    use phy::TxToken;
    use std::io;

    /// A sink that fails every write after the file header.
    struct Broken {
        written: usize,
    }

    impl Write for Broken {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written >= 24 {
                return Err(io::Error::other("disk full"));
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A device that accepts every frame (keeping the last) and never receives.
    struct Sink([u8; 64]);

    struct NoRx;

    impl phy::RxToken for NoRx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&[])
        }
    }

    struct SinkTx<'a>(&'a mut [u8; 64]);

    impl TxToken for SinkTx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            f(&mut self.0[..len])
        }
    }

    impl Device for Sink {
        type RxToken<'a> = NoRx;
        type TxToken<'a> = SinkTx<'a>;
        fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
            None
        }
        fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
            Some(SinkTx(&mut self.0))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            DeviceCapabilities::default()
        }
    }

    #[test]
    fn records_with_epoch_and_counts_non_ip() {
        let recorder = PcapRecorder::new(Writer::new(Vec::new(), LinkType::Raw).unwrap())
            .with_epoch(Duration::from_secs(1_700_000_000));
        let mut tap = recorder.tap(Sink([0; 64]));
        tap.transmit(Instant::from_millis(1500))
            .unwrap()
            .consume(40, |f| f.fill(0x60));
        tap.transmit(Instant::from_millis(1600))
            .unwrap()
            .consume(40, |f| f.fill(0x20));
        let c = recorder.counters();
        assert_eq!((c.transmitted, c.not_ip, c.write_errors), (1, 1, 0));
        let bytes = recorder.into_writer().into_inner().unwrap();
        let records: Vec<_> = Reader::new(&bytes[..])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].timestamp,
            Duration::from_secs(1_700_000_000) + Duration::from_millis(1500)
        );
        assert_eq!(records[0].ip().unwrap(), [0x60; 40]);
    }

    #[test]
    fn write_errors_are_counted_and_traffic_goes_on() {
        let recorder =
            PcapRecorder::new(Writer::new(Broken { written: 0 }, LinkType::Raw).unwrap());
        let mut tap = recorder.tap(Sink([0; 64]));
        for _ in 0..3 {
            let built = tap.transmit(Instant::ZERO).unwrap().consume(40, |f| {
                f.fill(0x60);
                true
            });
            assert!(built);
        }
        assert_eq!(tap.get_ref().0[..40], [0x60; 40]);
        assert_eq!(recorder.counters().write_errors, 3);
        assert!(matches!(recorder.take_error(), Some(PcapError::Io(_))));
        assert!(recorder.take_error().is_none());
    }
}
