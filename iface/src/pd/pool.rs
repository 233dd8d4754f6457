//! A pool of sub-prefixes carved from one configured prefix: [`PrefixPool`].

use std::collections::BTreeSet;

use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

/// Why the pool could not be built or could not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolError {
    /// The configuration is impossible: the delegated length is not longer than the pool's,
    /// is over 128, splits the pool into more than 2^63 blocks, or every block is reserved.
    InvalidConfig,
    /// Every block that may be handed out is in use, or the pool holds as many as its
    /// capacity allows.
    Exhausted,
    /// The prefix is not one of the pool's blocks that may be handed out (wrong length,
    /// outside the pool, not aligned, or reserved for the owner).
    NotInPool,
    /// The block is already allocated.
    InUse,
    /// The block was not allocated.
    NotAllocated,
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PoolError::InvalidConfig => "invalid prefix pool configuration",
            PoolError::Exhausted => "prefix pool exhausted",
            PoolError::NotInPool => "prefix is not a delegable block of the pool",
            PoolError::InUse => "prefix already allocated",
            PoolError::NotAllocated => "prefix was not allocated",
        })
    }
}

impl core::error::Error for PoolError {}

/// A configured prefix (say fd00:1::/48) carved into blocks of one length (say /56).
///
/// Blocks are numbered from 0 in address order. The first `reserved` blocks belong to the
/// owner (a router keeps block 0 for its own links, see [`reserved_block`](Self::reserved_block))
/// and are never allocated. At most `capacity` blocks are allocated at once, so memory is
/// bounded whatever the size of the pool.
///
/// A client's block is chosen stably: a hash of its key (DUID and IAID) picks a starting
/// block, and the first free block from there on (wrapping round) is taken. A client that
/// comes back after its block was freed gets the same block again if nobody took it since.
#[derive(Debug, Clone)]
pub struct PrefixPool {
    base: u128,
    pool_len: u8,
    block_len: u8,
    /// Number of blocks in the pool, at most 2^63.
    blocks: u64,
    reserved: u64,
    capacity: usize,
    allocated: BTreeSet<u64>,
}

impl PrefixPool {
    /// A pool of `prefix` cut into blocks of `block_len` bits, the first `reserved` of them
    /// kept for the owner, at most `capacity` allocated at once.
    ///
    /// [`PoolError::InvalidConfig`] if `block_len` is not in `prefix.prefix_len() + 1 ..= 128`,
    /// makes more than 2^63 blocks, or if `reserved` leaves no block to hand out.
    pub fn new(
        prefix: Ipv6Cidr,
        block_len: u8,
        reserved: u64,
        capacity: usize,
    ) -> Result<PrefixPool, PoolError> {
        let pool_len = prefix.prefix_len();
        if block_len > 128 || block_len <= pool_len || block_len - pool_len > 63 {
            return Err(PoolError::InvalidConfig);
        }
        let blocks = 1u64 << (block_len - pool_len);
        if reserved >= blocks {
            return Err(PoolError::InvalidConfig);
        }
        Ok(PrefixPool {
            base: u128::from(prefix.address()) & mask(pool_len),
            pool_len,
            block_len,
            blocks,
            reserved,
            capacity,
            allocated: BTreeSet::new(),
        })
    }

    /// The whole pool.
    pub fn prefix(&self) -> Ipv6Cidr {
        Ipv6Cidr::new(Ipv6Address::from(self.base), self.pool_len)
    }

    /// The length of the blocks handed out.
    pub fn block_len(&self) -> u8 {
        self.block_len
    }

    /// Block `index` of the pool, reserved or not, or `None` past the end.
    pub fn block(&self, index: u64) -> Option<Ipv6Cidr> {
        (index < self.blocks).then(|| {
            let shift = 128 - u32::from(self.block_len);
            let addr = self.base | (u128::from(index) << shift);
            Ipv6Cidr::new(Ipv6Address::from(addr), self.block_len)
        })
    }

    /// Reserved block `index` (below the configured number of reserved blocks), for the
    /// owner's own links.
    pub fn reserved_block(&self, index: u64) -> Option<Ipv6Cidr> {
        if index < self.reserved {
            self.block(index)
        } else {
            None
        }
    }

    /// The index of `prefix` if it is exactly one of the pool's blocks.
    pub fn index_of(&self, prefix: Ipv6Cidr) -> Option<u64> {
        if prefix.prefix_len() != self.block_len {
            return None;
        }
        let addr = u128::from(prefix.address());
        let shift = 128 - u32::from(self.block_len);
        if addr & mask(self.pool_len) != self.base || addr & !mask(self.block_len) != 0 {
            return None;
        }
        let index = (addr & !mask(self.pool_len)) >> shift;
        u64::try_from(index).ok().filter(|&i| i < self.blocks)
    }

    /// Whether `prefix` is a block that may be handed out (in the pool, of the block length,
    /// not reserved), whether or not it is allocated now.
    pub fn is_delegable(&self, prefix: Ipv6Cidr) -> bool {
        self.index_of(prefix).is_some_and(|i| i >= self.reserved)
    }

    /// Whether `prefix` is allocated now.
    pub fn is_allocated(&self, prefix: Ipv6Cidr) -> bool {
        self.index_of(prefix)
            .is_some_and(|i| self.allocated.contains(&i))
    }

    /// How many blocks are allocated.
    pub fn allocated(&self) -> usize {
        self.allocated.len()
    }

    /// The most blocks allocated at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many more blocks could be allocated now.
    pub fn available(&self) -> u64 {
        let free_blocks = self.blocks - self.reserved - self.allocated.len() as u64;
        free_blocks.min((self.capacity - self.allocated.len().min(self.capacity)) as u64)
    }

    /// The block a client with `key` would get now, without allocating it.
    pub fn peek(&self, key: &[u8]) -> Result<Ipv6Cidr, PoolError> {
        let index = self.choose(key)?;
        self.block(index).ok_or(PoolError::Exhausted)
    }

    /// Allocates a block for the client with `key` (its DUID and IAID): the first free block
    /// at or after the one its hash names. [`PoolError::Exhausted`] if none is left.
    pub fn allocate(&mut self, key: &[u8]) -> Result<Ipv6Cidr, PoolError> {
        let index = self.choose(key)?;
        self.allocated.insert(index);
        self.block(index).ok_or(PoolError::Exhausted)
    }

    /// Allocates exactly `prefix` (a client's hint, or a binding recovered after a restart).
    pub fn allocate_exact(&mut self, prefix: Ipv6Cidr) -> Result<Ipv6Cidr, PoolError> {
        let index = self
            .index_of(prefix)
            .filter(|&i| i >= self.reserved)
            .ok_or(PoolError::NotInPool)?;
        if self.allocated.contains(&index) {
            return Err(PoolError::InUse);
        }
        if self.allocated.len() >= self.capacity {
            return Err(PoolError::Exhausted);
        }
        self.allocated.insert(index);
        Ok(prefix)
    }

    /// Returns `prefix` to the pool.
    pub fn free(&mut self, prefix: Ipv6Cidr) -> Result<(), PoolError> {
        let index = self.index_of(prefix).ok_or(PoolError::NotInPool)?;
        if self.allocated.remove(&index) {
            Ok(())
        } else {
            Err(PoolError::NotAllocated)
        }
    }

    /// The index to allocate for `key`. Linear probing visits at most one more block than
    /// are allocated, which is at most `capacity + 1`.
    fn choose(&self, key: &[u8]) -> Result<u64, PoolError> {
        if self.allocated.len() >= self.capacity {
            return Err(PoolError::Exhausted);
        }
        let usable = self.blocks - self.reserved;
        if self.allocated.len() as u64 >= usable {
            return Err(PoolError::Exhausted);
        }
        let start = fnv1a(key) % usable;
        let mut offset = start;
        loop {
            let index = self.reserved + offset;
            if !self.allocated.contains(&index) {
                return Ok(index);
            }
            offset = (offset + 1) % usable;
            if offset == start {
                return Err(PoolError::Exhausted);
            }
        }
    }
}

/// The mask of the first `len` bits.
fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        len => u128::MAX << (128 - u32::from(len.min(128))),
    }
}

/// FNV-1a, 64 bits: a stable spread of keys over blocks. Not a defence against a client that
/// picks its DUID to collide; collisions only cost probes, which are bounded.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(capacity: usize) -> PrefixPool {
        let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 48);
        PrefixPool::new(prefix, 56, 1, capacity).unwrap()
    }

    #[test]
    fn blocks_and_reservation() {
        let p = pool(10);
        assert_eq!(p.block(0).unwrap().to_string(), "fd00:1::/56");
        assert_eq!(p.block(1).unwrap().to_string(), "fd00:1:0:100::/56");
        assert_eq!(p.block(255).unwrap().to_string(), "fd00:1:0:ff00::/56");
        assert_eq!(p.block(256), None);
        assert_eq!(p.reserved_block(0), p.block(0));
        assert_eq!(p.reserved_block(1), None);
        assert!(!p.is_delegable(p.block(0).unwrap()));
        assert!(p.is_delegable(p.block(1).unwrap()));
        let unaligned = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0x101, 0, 0, 0, 0), 56);
        assert_eq!(p.index_of(unaligned), None);
        let outside = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 2, 0, 0x100, 0, 0, 0, 0), 56);
        assert_eq!(p.index_of(outside), None);
    }

    #[test]
    fn stable_choice_and_free() {
        let mut p = pool(10);
        let a = p.allocate(b"client-a").unwrap();
        assert!(p.is_delegable(a));
        assert!(p.is_allocated(a));
        p.free(a).unwrap();
        assert_eq!(p.free(a), Err(PoolError::NotAllocated));
        // The same client gets the same block back.
        assert_eq!(p.peek(b"client-a"), Ok(a));
        assert_eq!(p.allocate(b"client-a"), Ok(a));
        // Another client whose hash lands on it probes on.
        let b = p.allocate(b"client-a").unwrap();
        assert_ne!(a, b);
        assert_eq!(p.allocate_exact(a), Err(PoolError::InUse));
        assert_eq!(
            p.allocate_exact(p.block(0).unwrap()),
            Err(PoolError::NotInPool)
        );
    }

    #[test]
    fn exhaustion_by_blocks_and_by_capacity() {
        let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 62);
        // Four /64s, one reserved: three to hand out.
        let mut p = PrefixPool::new(prefix, 64, 1, 100).unwrap();
        let got: Vec<_> = (0..3u8).map(|i| p.allocate(&[i]).unwrap()).collect();
        assert_eq!(p.allocate(b"x"), Err(PoolError::Exhausted));
        assert_eq!(p.available(), 0);
        p.free(got[1]).unwrap();
        assert_eq!(p.allocate(b"x"), Ok(got[1]));

        let mut small = pool(2);
        small.allocate(b"a").unwrap();
        small.allocate(b"b").unwrap();
        assert_eq!(small.allocate(b"c"), Err(PoolError::Exhausted));
        assert_eq!(small.available(), 0);
    }

    #[test]
    fn invalid_configs() {
        let prefix = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 0), 48);
        assert!(PrefixPool::new(prefix, 48, 0, 1).is_err());
        assert!(PrefixPool::new(prefix, 129, 0, 1).is_err());
        assert!(PrefixPool::new(prefix, 112, 0, 1).is_err());
        assert!(PrefixPool::new(prefix, 49, 2, 1).is_err());
        assert!(PrefixPool::new(prefix, 111, 0, 1).is_ok());
        let all = Ipv6Cidr::new(Ipv6Address::UNSPECIFIED, 0);
        assert!(PrefixPool::new(all, 63, 0, 1).is_ok());
        assert!(PrefixPool::new(all, 128, 0, 1).is_err());
        // A host-bits-set prefix is masked.
        let sloppy = Ipv6Cidr::new(Ipv6Address::new(0xfd00, 1, 0, 0, 0, 0, 0, 1), 48);
        let p = PrefixPool::new(sloppy, 56, 0, 1).unwrap();
        assert_eq!(p.prefix().to_string(), "fd00:1::/48");
    }
}
