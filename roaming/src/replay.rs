//! Sliding replay window over received packet numbers.
//!
//! 2048 packets wide (WireGuard uses 2048 bits too, of which 1984 usable; RFC 6479 style):
//! a packet number is accepted once, and only if it is within the window below the largest
//! accepted so far. The window is updated only after a packet authenticated, so forged
//! packets cannot move it. The same bitmap yields the ranges ACK frames report.

/// Width of the window, in packets.
pub const WINDOW: u64 = 2048;
const WORDS: usize = (WINDOW / 64) as usize;

/// Why a packet number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Already received.
    Duplicate,
    /// Older than the window.
    TooOld,
}

/// The window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    largest: Option<u64>,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            largest: None,
            bits: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// Largest packet number accepted.
    pub fn largest(&self) -> Option<u64> {
        self.largest
    }

    fn bit(pn: u64) -> (usize, u64) {
        let i = pn % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Whether `pn` has been received (`false` for numbers outside the window).
    pub fn contains(&self, pn: u64) -> bool {
        match self.largest {
            Some(l) if pn <= l && l - pn < WINDOW => {
                let (w, m) = Self::bit(pn);
                self.bits[w] & m != 0
            }
            _ => false,
        }
    }

    /// Whether `pn` would be accepted.
    pub fn check(&self, pn: u64) -> Result<(), Replay> {
        match self.largest {
            Some(l) if pn <= l => {
                if l - pn >= WINDOW {
                    Err(Replay::TooOld)
                } else if self.contains(pn) {
                    Err(Replay::Duplicate)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Record `pn` (call after it authenticated and [`check`](Self::check) passed).
    pub fn insert(&mut self, pn: u64) {
        match self.largest {
            Some(l) if pn > l => {
                if pn - l >= WINDOW {
                    self.bits = [0; WORDS];
                } else {
                    for p in l + 1..pn {
                        let (w, m) = Self::bit(p);
                        self.bits[w] &= !m;
                    }
                }
                self.largest = Some(pn);
            }
            None => {
                self.bits = [0; WORDS];
                self.largest = Some(pn);
            }
            _ => {}
        }
        let (w, m) = Self::bit(pn);
        self.bits[w] |= m;
    }

    /// Received packet numbers as inclusive intervals, descending from the largest, looking
    /// at most `depth` numbers back.
    pub fn intervals(&self, depth: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let largest = self.largest;
        let floor = largest.map_or(0, |l| l.saturating_sub(depth.min(WINDOW - 1)));
        let mut next = largest;
        core::iter::from_fn(move || {
            // Skip to the next received number.
            let mut hi = next?;
            while !self.contains(hi) {
                if hi <= floor {
                    next = None;
                    return None;
                }
                hi -= 1;
            }
            let mut lo = hi;
            while lo > floor && self.contains(lo - 1) {
                lo -= 1;
            }
            next = if lo > floor { Some(lo - 1) } else { None };
            Some((lo, hi))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_once_and_within_window() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(5), Ok(()));
        w.insert(5);
        assert_eq!(w.check(5), Err(Replay::Duplicate));
        assert_eq!(w.check(3), Ok(()));
        w.insert(3);
        w.insert(5000);
        assert_eq!(w.check(5), Err(Replay::TooOld));
        assert_eq!(w.check(5000 - WINDOW + 1), Ok(()));
        assert_eq!(w.check(5000 - WINDOW), Err(Replay::TooOld));
        w.insert(4999);
        assert_eq!(w.check(4999), Err(Replay::Duplicate));
        assert_eq!(w.check(4998), Ok(()));
    }

    #[test]
    fn sliding_clears_reused_bits() {
        let mut w = ReplayWindow::default();
        for pn in 0..10 {
            w.insert(pn);
        }
        w.insert(WINDOW + 3);
        // WINDOW + 2 shares a bit position with 2, which was received: the slide cleared it.
        assert_eq!(w.check(WINDOW + 2), Ok(()));
        assert_eq!(w.check(WINDOW + 3), Err(Replay::Duplicate));
        assert_eq!(w.check(3), Err(Replay::TooOld));
        assert_eq!(
            w.check(5),
            Err(Replay::Duplicate),
            "still inside the window"
        );
        assert_eq!(w.check(10), Ok(()));
    }

    #[test]
    fn intervals_describe_received() {
        let mut w = ReplayWindow::default();
        for pn in [1, 2, 3, 7, 8, 10] {
            w.insert(pn);
        }
        assert_eq!(
            w.intervals(100).collect::<Vec<_>>(),
            [(10, 10), (7, 8), (1, 3)]
        );
        assert_eq!(w.intervals(3).collect::<Vec<_>>(), [(10, 10), (7, 8)]);
    }
}
