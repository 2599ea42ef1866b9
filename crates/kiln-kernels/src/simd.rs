//! Runtime SIMD dispatch.
//!
//! [`dispatch!`](crate::dispatch) compiles one generic body three times (AVX-512, AVX2+FMA, and
//! the baseline x86-64 / other targets) and picks at run time from the CPU's features, so a
//! release binary runs on any x86-64 and still uses the widest vectors the CPU has. Bodies are
//! plain loops over slices that LLVM vectorizes; no intrinsics are needed.

/// The widest SIMD level this CPU supports, detected once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    Baseline,
    Avx2Fma,
    Avx512,
}

/// Detects the SIMD level (cached by `std`'s feature detection).
#[inline]
pub fn simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return SimdLevel::Avx2Fma;
        }
    }
    SimdLevel::Baseline
}

/// Defines `fn $name<generics>(args) -> ret` whose body is compiled for each SIMD level and
/// chosen at run time. The body must be safe code; inlined closures it calls are compiled with the
/// same target features.
#[macro_export]
macro_rules! dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($g:ident : $bound:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        $vis fn $name $(<$($g: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                unsafe fn v4 $(<$($g: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3 $(<$($g: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? $body
                match $crate::simd::simd_level() {
                    // SAFETY: the CPU supports the features `v4` was compiled for.
                    $crate::simd::SimdLevel::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: the CPU supports the features `v3` was compiled for.
                    $crate::simd::SimdLevel::Avx2Fma => return unsafe { v3($($arg),*) },
                    $crate::simd::SimdLevel::Baseline => {}
                }
            }
            #[inline(always)]
            fn base $(<$($g: $bound),*>)? ($($arg: $ty),*) $(-> $ret)? $body
            base($($arg),*)
        }
    };
}
