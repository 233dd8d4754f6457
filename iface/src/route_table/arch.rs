//! The two processor features a lookup benefits from and Rust's default x86-64 target does not
//! assume: the `popcnt` instruction (x86-64-v2; without it `u64::count_ones` is about a dozen
//! instructions, and a lookup counts bits once or twice per trie level) and software
//! prefetch. Everything else in the table is portable Rust.
//!
//! This is the only module of the table with `unsafe`: calling a function compiled for a
//! processor feature is unsafe because running it on a processor without the feature is
//! undefined; [`with_popcnt`] calls it only after the standard library's run-time detection
//! has found the feature, and a prefetch is a hint that cannot fault or change what the
//! program computes.
#![allow(unsafe_code)]

/// Runs `f` compiled with the `popcnt` instruction where the processor has it (detected at run
/// time, once; the check afterwards is one relaxed load), and as compiled otherwise. `f` must
/// be `#[inline(always)]` code for the instruction to reach its bit counts.
#[inline(always)]
pub(super) fn with_popcnt<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
    {
        #[target_feature(enable = "popcnt")]
        fn popcnt<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor has been found to support `popcnt`, the only feature
            // `popcnt` is compiled for.
            return unsafe { popcnt(f) };
        }
    }
    f()
}

/// Asks the processor to start loading the cache line of `base[i]` (for reading), so that a
/// later read of it waits less. Any `i` is allowed: an address outside `base` is never read,
/// and a prefetch of it does nothing.
#[inline(always)]
pub(super) fn prefetch<T>(base: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = base.as_ptr().wrapping_add(i).cast::<i8>();
        // SAFETY: a prefetch is a hint: it never faults, whatever the address, and changes no
        // memory or register the program sees. SSE, which provides it, is part of every
        // x86-64 processor.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, i);
}
