//! The vector instructions a checksum benefits from and Rust's default x86-64 target does not
//! assume: AVX2 (32-byte registers) and AVX-512 (64-byte registers). The summing loop itself
//! is portable Rust ([`super::accumulate`]); here it is only compiled a second and third time
//! with those features enabled, and the build the processor can run is chosen at run time.
//!
//! This is the only module of the checksum code with `unsafe`: calling a function compiled for
//! a processor feature is unsafe because running it on a processor without the feature is
//! undefined; each call below is made only after the standard library's run-time detection
//! (which also checks that the operating system saves the wider registers) has found the
//! feature.
#![allow(unsafe_code)]

/// An instruction set a checksum can be computed with (see [`data_using`](super::data_using)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The portable code as the crate was compiled (SSE2 on a default x86-64 target): the only
    /// choice without the `std` feature or off x86-64.
    Portable,
    /// The portable code compiled for AVX2 (x86-64).
    Avx2,
    /// The portable code compiled for AVX-512 Foundation (x86-64).
    Avx512,
}

impl Isa {
    /// Every instruction set, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// Whether this processor (and this build) can use it: detected at run time, once; the
    /// check afterwards is one relaxed load.
    #[inline]
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            Isa::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }

    /// The widest instruction set available, the one [`data`](super::data) uses.
    pub fn best() -> Isa {
        let mut best = Isa::Portable;
        for isa in Isa::ALL {
            if isa.is_available() {
                best = isa;
            }
        }
        best
    }
}

/// [`super::accumulate`] compiled for the widest vector instructions the processor has
/// (AVX-512, AVX2, or as the crate was compiled).
///
/// The dispatch calls functions that contain the portable loop itself (inlined: it is
/// `#[inline(always)]`), not a closure: a closure is compiled on its own for the baseline
/// target, and a `#[target_feature]` wrapper around it would only call that baseline code.
#[inline(always)]
pub(super) fn accumulate(bytes: &[u8]) -> u64 {
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(target_feature = "avx512f")
    ))]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has been found to support AVX-512 Foundation, the only
            // feature `accumulate_avx512` is compiled for.
            return unsafe { accumulate_avx512(bytes) };
        }
        #[cfg(not(target_feature = "avx2"))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has been found to support AVX2, the only feature
            // `accumulate_avx2` is compiled for.
            return unsafe { accumulate_avx2(bytes) };
        }
    }
    super::accumulate(bytes)
}

/// [`super::accumulate`] compiled for `isa`, or `None` if this processor or build cannot run
/// it.
pub(super) fn accumulate_with(isa: Isa, bytes: &[u8]) -> Option<u64> {
    match isa {
        Isa::Portable => Some(super::accumulate(bytes)),
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Isa::Avx2 if isa.is_available() => {
            // SAFETY: `is_available` has found AVX2, the only feature `accumulate_avx2` is
            // compiled for.
            Some(unsafe { accumulate_avx2(bytes) })
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Isa::Avx512 if isa.is_available() => {
            // SAFETY: `is_available` has found AVX-512 Foundation, the only feature
            // `accumulate_avx512` is compiled for.
            Some(unsafe { accumulate_avx512(bytes) })
        }
        Isa::Avx2 | Isa::Avx512 => None,
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn accumulate_avx2(bytes: &[u8]) -> u64 {
    super::accumulate(bytes)
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f")]
fn accumulate_avx512(bytes: &[u8]) -> u64 {
    super::accumulate(bytes)
}
