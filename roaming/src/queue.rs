//! A bounded FIFO of datagrams in one byte ring: no allocation per datagram.

use std::collections::VecDeque;

/// Datagrams stored as `| length (2, big-endian) | bytes |` in a ring of bounded capacity.
///
/// The ring starts empty and grows (doubling) to hold the most bytes ever queued at once,
/// never past `capacity`: an idle session holds no buffer, and a busy one stops allocating once
/// its ring has reached its high-water mark (at most a dozen or so growths in a session's
/// life).
#[derive(Debug, Clone)]
pub(crate) struct DatagramQueue {
    ring: VecDeque<u8>,
    capacity: usize,
    count: usize,
}

impl DatagramQueue {
    pub(crate) fn new(capacity: usize) -> DatagramQueue {
        DatagramQueue {
            ring: VecDeque::new(),
            capacity,
            count: 0,
        }
    }

    /// Append; false (and nothing stored) if it does not fit.
    pub(crate) fn push(&mut self, data: &[u8]) -> bool {
        let need = self.ring.len() + 2 + data.len();
        if data.len() > usize::from(u16::MAX) || need > self.capacity {
            return false;
        }
        if need > self.ring.capacity() {
            // Grow by doubling, but never past `capacity`.
            let target = need.next_power_of_two().clamp(need, self.capacity);
            self.ring.reserve_exact(target - self.ring.len());
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
        // The datagram is the first `len` bytes of the ring, which may wrap: copy from the
        // ring's two slices, then drop the bytes (no per-byte work).
        let n = len.min(out.len());
        let (front, back) = self.ring.as_slices();
        let k = n.min(front.len());
        out[..k].copy_from_slice(&front[..k]);
        out[k..n].copy_from_slice(&back[..n - k]);
        self.ring.drain(..len);
        self.count -= 1;
        Some(len)
    }

    /// Give the ring's buffer back if nothing is queued (it grows again on the next push).
    pub(crate) fn release_if_empty(&mut self) {
        if self.ring.is_empty() {
            self.ring = VecDeque::new();
        }
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
        q.release_if_empty();
        assert_eq!(q.ring.capacity(), 0);
        assert!(q.push(b"again"));
        q.release_if_empty();
        assert_eq!(q.len(), 1, "not released while a datagram waits");
        assert_eq!(q.pop(&mut out), Some(5));
        assert_eq!(&out[..5], b"again");
    }

    /// Against a plain queue of vectors, through many wraps of the ring and truncated reads.
    #[test]
    fn matches_a_model_across_wraps() {
        let mut q = DatagramQueue::new(300);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut bytes = 0;
        let mut x: u32 = 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..20_000 {
            let r = next();
            if r % 3 != 0 {
                let len = (r >> 8) as usize % 90;
                let d: Vec<u8> = (0..len).map(|i| (i as u32 ^ r) as u8).collect();
                let fits = bytes + 2 + len <= 300;
                assert_eq!(q.push(&d), fits);
                if fits {
                    bytes += 2 + len;
                    model.push_back(d);
                }
            } else {
                let mut out = [0u8; 64];
                let room = (r >> 8) as usize % 65;
                let got = q.pop(&mut out[..room]);
                let want = model.pop_front();
                assert_eq!(got, want.as_ref().map(Vec::len));
                if let Some(w) = want {
                    let n = w.len().min(room);
                    assert_eq!(out[..n], w[..n]);
                    bytes -= 2 + w.len();
                }
            }
            assert_eq!(q.len(), model.len());
            assert!(q.ring.capacity() <= 300, "never past the capacity");
        }
    }
}
