//! What the Linux interop tests share: the prerequisite check, a network namespace that
//! cleans up after itself, kernel-side programs, and a TUN device whose every frame is shown
//! to an observer.
//!
//! Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub use bridgeless_testkit::*;

use std::cell::RefCell;

use bridgeless_iface::device::tun::{self, Tun};
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

// ---------------------------------------------------------------------------------------
// The recording link: our Tun, with every frame shown to an observer
// ---------------------------------------------------------------------------------------

/// Sees every frame that crosses a [`RecordingLink`].
pub trait Observer {
    /// A frame the kernel sent us, before the interface reads it.
    fn on_received(&mut self, frame: &[u8]);
    /// A frame we sent, as the interface built it.
    fn on_sent(&mut self, frame: &[u8]);
}

/// Our `Tun`, with every frame that crosses it shown to an [`Observer`].
pub struct RecordingLink<O> {
    /// The device.
    pub tun: Tun,
    /// What sees the frames.
    pub recorder: RefCell<O>,
}

impl<O: Observer> RecordingLink<O> {
    /// `tun`, observed by `recorder`.
    pub fn new(tun: Tun, recorder: O) -> Self {
        RecordingLink {
            tun,
            recorder: RefCell::new(recorder),
        }
    }
}

/// A received frame on its way to the interface.
pub struct RecordingRx<'a, O> {
    inner: tun::RxToken<'a>,
    recorder: &'a RefCell<O>,
}

/// A frame to send, recorded once the interface has built it.
pub struct RecordingTx<'a, O> {
    inner: tun::TxToken<'a>,
    recorder: &'a RefCell<O>,
}

impl<O: Observer> phy::RxToken for RecordingRx<'_, O> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        self.inner.consume(|frame| {
            self.recorder.borrow_mut().on_received(frame);
            f(frame)
        })
    }
}

impl<O: Observer> phy::TxToken for RecordingTx<'_, O> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.inner.consume(len, |buf| {
            let result = f(buf);
            self.recorder.borrow_mut().on_sent(buf);
            result
        })
    }
}

impl<O: Observer> Device for RecordingLink<O> {
    type RxToken<'a>
        = RecordingRx<'a, O>
    where
        Self: 'a;
    type TxToken<'a>
        = RecordingTx<'a, O>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(RecordingRx<'_, O>, RecordingTx<'_, O>)> {
        let (rx, tx) = self.tun.receive(now)?;
        Some((
            RecordingRx {
                inner: rx,
                recorder: &self.recorder,
            },
            RecordingTx {
                inner: tx,
                recorder: &self.recorder,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<RecordingTx<'_, O>> {
        Some(RecordingTx {
            inner: self.tun.transmit(now)?,
            recorder: &self.recorder,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.tun.capabilities()
    }
}
