//! Fixed-capacity storage for router discovery: a table of slots and a queue of events.
//! Nothing here allocates; a full table or queue refuses the new entry and the caller counts
//! it.

/// Up to `N` entries in no particular order.
#[derive(Debug, Clone)]
pub(crate) struct Table<T, const N: usize> {
    slots: [Option<T>; N],
}

impl<T: Copy, const N: usize> Table<T, N> {
    pub(crate) const fn new() -> Self {
        Table { slots: [None; N] }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().flatten()
    }

    pub(crate) fn find_mut(&mut self, mut pred: impl FnMut(&T) -> bool) -> Option<&mut T> {
        self.iter_mut().find(|t| pred(t))
    }

    pub(crate) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<&T> {
        self.iter().find(|t| pred(t))
    }

    /// Stores `value` in a free slot, or gives it back if the table is full.
    pub(crate) fn insert(&mut self, value: T) -> Result<(), T> {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(value);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Removes every entry for which `remove` says true.
    pub(crate) fn remove_where(&mut self, mut remove: impl FnMut(&T) -> bool) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(&mut remove) {
                *slot = None;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }

    /// The entry in slot `i`, if any (slots are `0..N`).
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i)?.as_mut()
    }

    /// Empties slot `i`.
    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        self.slots.get_mut(i)?.take()
    }
}

/// A first-in first-out queue of up to `N` items.
#[derive(Debug, Clone)]
pub(crate) struct Queue<T, const N: usize> {
    items: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T: Copy, const N: usize> Queue<T, N> {
    pub(crate) const fn new() -> Self {
        Queue {
            items: [None; N],
            head: 0,
            len: 0,
        }
    }

    /// Appends `item`, or gives it back if the queue is full.
    pub(crate) fn push(&mut self, item: T) -> Result<(), T> {
        if self.len == N {
            return Err(item);
        }
        self.items[(self.head + self.len) % N] = Some(item);
        self.len += 1;
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.items[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        item
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_refuses_when_full_and_reuses_slots() {
        let mut t: Table<u8, 2> = Table::new();
        assert_eq!(t.insert(1), Ok(()));
        assert_eq!(t.insert(2), Ok(()));
        assert_eq!(t.insert(3), Err(3));
        t.remove_where(|&v| v == 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.insert(3), Ok(()));
        assert_eq!(t.find(|&v| v == 3), Some(&3));
    }

    #[test]
    fn queue_is_fifo_and_bounded() {
        let mut q: Queue<u8, 3> = Queue::new();
        for i in 0..3 {
            q.push(i).unwrap();
        }
        assert_eq!(q.push(9), Err(9));
        assert_eq!(q.pop(), Some(0));
        q.push(3).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(
            (q.pop(), q.pop(), q.pop(), q.pop()),
            (Some(1), Some(2), Some(3), None)
        );
    }
}
