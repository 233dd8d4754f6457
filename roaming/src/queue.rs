//! A bounded FIFO of datagrams in one preallocated byte ring: no allocation per datagram.

use std::collections::VecDeque;

/// Datagrams stored as `| length (2, big-endian) | bytes |` in a ring of fixed capacity.
#[derive(Debug, Clone)]
pub(crate) struct DatagramQueue {
    ring: VecDeque<u8>,
    capacity: usize,
    count: usize,
}

impl DatagramQueue {
    pub(crate) fn new(capacity: usize) -> DatagramQueue {
        DatagramQueue {
            ring: VecDeque::with_capacity(capacity),
            capacity,
            count: 0,
        }
    }

    /// Append; false (and nothing stored) if it does not fit.
    pub(crate) fn push(&mut self, data: &[u8]) -> bool {
        if data.len() > usize::from(u16::MAX) || self.ring.len() + 2 + data.len() > self.capacity {
            return false;
        }
        self.ring.extend((data.len() as u16).to_be_bytes());
        self.ring.extend(data);
        self.count += 1;
        true
    }

    /// Length of the oldest datagram.
    pub(crate) fn front_len(&self) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        Some(usize::from(u16::from_be_bytes([
            self.ring[0],
            self.ring[1],
        ])))
    }

    /// Move the oldest datagram into `out`; its full length is returned, and bytes beyond
    /// `out.len()` are discarded.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> Option<usize> {
        let len = self.front_len()?;
        self.ring.drain(..2);
        for (i, b) in self.ring.drain(..len).enumerate() {
            if let Some(o) = out.get_mut(i) {
                *o = b;
            }
        }
        self.count -= 1;
        Some(len)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_bounded() {
        let mut q = DatagramQueue::new(10);
        assert!(q.push(b"abc"));
        assert!(q.push(b"de"));
        assert!(!q.push(b"f"), "2+3 + 2+2 + 2+1 > 10");
        let mut out = [0u8; 8];
        assert_eq!(q.pop(&mut out), Some(3));
        assert_eq!(&out[..3], b"abc");
        assert!(q.push(b"f"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(&mut out[..1]), Some(2));
        assert_eq!(q.pop(&mut out), Some(1));
        assert!(q.is_empty());
        assert_eq!(q.pop(&mut out), None);
    }
}
