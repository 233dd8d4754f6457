//! A pcap capture of one link: every frame delivered, in both directions, at its arrival time.

use core::cell::RefCell;
use core::time::Duration;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use bridgeless_wire::pcap::{LinkType, PcapError, Writer};

/// Bytes written to memory, shared with the [`Sim`](crate::Sim) so that tests can read them
/// while the capture is still open.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedBuf(pub(crate) Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One link's capture: a `LINKTYPE_RAW` pcap with nanosecond timestamps (virtual time since
/// the start of the simulation), written through [`bridgeless_wire::pcap::Writer`].
pub(crate) struct Capture {
    writer: Writer<Box<dyn Write>>,
    memory: Option<SharedBuf>,
}

impl core::fmt::Debug for Capture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Capture")
            .field("in_memory", &self.memory.is_some())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// A capture written to the file at `path` (created or truncated).
    pub(crate) fn file(path: &Path) -> Result<Capture, PcapError> {
        let out: Box<dyn Write> = Box::new(BufWriter::new(File::create(path)?));
        Ok(Capture {
            writer: Writer::with_nanosecond_timestamps(out, LinkType::Raw)?,
            memory: None,
        })
    }

    /// A capture kept in memory.
    pub(crate) fn memory() -> Result<Capture, PcapError> {
        let buf = SharedBuf::default();
        let out: Box<dyn Write> = Box::new(buf.clone());
        Ok(Capture {
            writer: Writer::with_nanosecond_timestamps(out, LinkType::Raw)?,
            memory: Some(buf),
        })
    }

    /// The bytes of an in-memory capture so far.
    pub(crate) fn bytes(&self) -> Option<Vec<u8>> {
        self.memory.as_ref().map(|m| m.0.borrow().clone())
    }

    pub(crate) fn write(&mut self, at_nanos: u64, frame: &[u8]) -> Result<(), PcapError> {
        self.writer.write(Duration::from_nanos(at_nanos), frame)
    }

    pub(crate) fn flush(&mut self) -> Result<(), PcapError> {
        self.writer.flush()
    }
}
