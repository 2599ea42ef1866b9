//! Numeric traits the kernels are generic over.
//!
//! `Num` covers every arithmetic element type (floats, half floats, integers); `Float` adds the
//! transcendental functions and is implemented for `f32` and `f64` only: half-precision tensors
//! are computed in `f32` by the tensor layer and rounded back.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub};

/// An arithmetic element type.
pub trait Num:
    Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + PartialEq
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + AddAssign
    + MulAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// The smallest value (negative infinity for floats), identity of `max`.
    const MIN_VALUE: Self;
    /// The largest value (infinity for floats), identity of `min`.
    const MAX_VALUE: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// True for NaN; integers are never NaN.
    fn is_nan_(self) -> bool;
    /// `self + o`, wrapping on integer overflow (as PyTorch does); plain `+` for floats.
    fn wadd(self, o: Self) -> Self;
    /// `self - o`, wrapping on integer overflow; plain `-` for floats.
    fn wsub(self, o: Self) -> Self;
    /// `self * o`, wrapping on integer overflow; plain `*` for floats.
    fn wmul(self, o: Self) -> Self;
}

macro_rules! impl_num_int {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MIN_VALUE: Self = <$t>::MIN;
            const MAX_VALUE: Self = <$t>::MAX;
            #[inline(always)]
            fn from_f64(v: f64) -> Self { v as $t }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn is_nan_(self) -> bool { false }
            #[inline(always)]
            fn wadd(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self { self.wrapping_mul(o) }
        }
    )*};
}
impl_num_int!(i64, i32, u8);

macro_rules! impl_num_float {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MIN_VALUE: Self = <$t>::NEG_INFINITY;
            const MAX_VALUE: Self = <$t>::INFINITY;
            #[inline(always)]
            fn from_f64(v: f64) -> Self { v as $t }
            #[inline(always)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            fn is_nan_(self) -> bool { self.is_nan() }
            #[inline(always)]
            fn wadd(self, o: Self) -> Self { self + o }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self { self - o }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self { self * o }
        }
    )*};
}
impl_num_float!(f32, f64);

macro_rules! impl_num_half {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const ZERO: Self = <$t>::ZERO;
            const ONE: Self = <$t>::ONE;
            const MIN_VALUE: Self = <$t>::NEG_INFINITY;
            const MAX_VALUE: Self = <$t>::INFINITY;
            #[inline(always)]
            fn from_f64(v: f64) -> Self { <$t>::from_f64(v) }
            #[inline(always)]
            fn to_f64(self) -> f64 { <$t>::to_f64(self) }
            #[inline(always)]
            fn is_nan_(self) -> bool { self.is_nan() }
            #[inline(always)]
            fn wadd(self, o: Self) -> Self { self + o }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self { self - o }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self { self * o }
        }
    )*};
}
impl_num_half!(half::f16, half::bf16);

/// A native floating-point type with the functions the kernels need.
pub trait Float: Num + Neg<Output = Self> + crate::math::VecMath {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn max(self, o: Self) -> Self;
    fn min(self, o: Self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn erf(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Rounds half to even, like `torch.round`.
    fn round_even(self) -> Self;
}

macro_rules! impl_float {
    ($($t:ty => $erf:path),*) => {$(
        impl Float for $t {
            #[inline(always)] fn exp(self) -> Self { <$t>::exp(self) }
            #[inline(always)] fn ln(self) -> Self { <$t>::ln(self) }
            #[inline(always)] fn sqrt(self) -> Self { <$t>::sqrt(self) }
            #[inline(always)] fn tanh(self) -> Self { <$t>::tanh(self) }
            #[inline(always)] fn abs(self) -> Self { <$t>::abs(self) }
            #[inline(always)] fn powf(self, e: Self) -> Self { <$t>::powf(self, e) }
            #[inline(always)] fn max(self, o: Self) -> Self { <$t>::max(self, o) }
            #[inline(always)] fn min(self, o: Self) -> Self { <$t>::min(self, o) }
            #[inline(always)] fn sin(self) -> Self { <$t>::sin(self) }
            #[inline(always)] fn cos(self) -> Self { <$t>::cos(self) }
            #[inline(always)] fn ln_1p(self) -> Self { <$t>::ln_1p(self) }
            #[inline(always)] fn exp_m1(self) -> Self { <$t>::exp_m1(self) }
            #[inline(always)] fn erf(self) -> Self { $erf(self) }
            #[inline(always)] fn floor(self) -> Self { <$t>::floor(self) }
            #[inline(always)] fn ceil(self) -> Self { <$t>::ceil(self) }
            #[inline(always)] fn round_even(self) -> Self { <$t>::round_ties_even(self) }
        }
    )*};
}
impl_float!(f32 => libm::erff, f64 => libm::erf);
