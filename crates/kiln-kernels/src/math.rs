//! Vectorizable `f32` transcendental functions, and the [`VecMath`] trait that picks them for
//! `f32` and the exact `std`/`libm` functions for `f64`.
//!
//! The `f32` functions are branch-free (both sides of a range split are computed and one is
//! selected), use only `mul_add`, bit casts and integer shifts, and so vectorize when inlined
//! into a [`dispatch!`](crate::dispatch) loop. Their maximum errors against the correctly rounded
//! result, measured over dense sweeps (see the tests), are 1 ulp for `exp`, 1.3 ulp for `tanh`,
//! 1.5 ulp for `erf` and 2.5 ulp for `sigmoid`. NaN propagates; infinities give the limits (`exp(-inf) = 0`,
//! `tanh(±inf) = ±1`, `erf(±inf) = ±1`); `tanh` and `erf` keep the sign of zero.
//!
//! `f64` keeps the exact library functions so that finite-difference gradient checks stay
//! accurate.

// The fitted coefficients are written with the 9 significant digits that round-trip an f32.
#![allow(clippy::excessive_precision)]

/// Transcendental functions used by the elementwise kernels: fast for `f32`, exact for `f64`.
pub trait VecMath: Copy {
    /// `e^x`.
    fn exp_v(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh_v(self) -> Self;
    /// The error function.
    fn erf_v(self) -> Self;
    /// The logistic function `1 / (1 + e^-x)` (computed as `e^x / (1 + e^x)` for negative `x`,
    /// so that it does not flush to zero where `e^-x` overflows).
    fn sigmoid_v(self) -> Self;
}

impl VecMath for f32 {
    #[inline(always)]
    fn exp_v(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn tanh_v(self) -> f32 {
        tanh_f32(self)
    }
    #[inline(always)]
    fn erf_v(self) -> f32 {
        erf_f32(self)
    }
    #[inline(always)]
    fn sigmoid_v(self) -> f32 {
        sigmoid_f32(self)
    }
}

impl VecMath for f64 {
    #[inline(always)]
    fn exp_v(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn tanh_v(self) -> f64 {
        self.tanh()
    }
    #[inline(always)]
    fn erf_v(self) -> f64 {
        libm::erf(self)
    }
    #[inline(always)]
    fn sigmoid_v(self) -> f64 {
        let e = (-self.abs()).exp();
        if self >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    }
}

/// `e^x` for `f32` (within 1 ulp).
///
/// `x = n ln2 + r` with `|r| <= ln2 / 2`, `e^r` by its degree-7 Taylor polynomial (truncation
/// below 0.1 ulp), then scaled by `2^n` in two exact steps so that results in the subnormal range
/// and overflow to infinity come out right.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = std::f32::consts::LN_2; // ln 2 rounded to f32
    const LN2_LO: f32 = -1.904_654_3e-9; // ln 2 - LN2_HI
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
                                     // Beyond these, e^x overflows to infinity or underflows to zero; `clamp` keeps NaN.
    let x = x.clamp(-104.0, 89.0);
    let t = x.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // n is in [-150, 129]: split it so each factor is a normal power of two.
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    p * s1 * s2
}

/// `e^x` for `f32` where `x` is known to lie in `[-80, 0]` (results normal, no overflow), within
/// 0.6 ulp + 2e-7 relative: [`exp_f32`] without the clamping and the two-step scaling, and with
/// the degree-6 polynomial. Used where the result is subtracted from 1 and that error shrinks.
#[inline(always)]
fn exp_f32_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = std::f32::consts::LN_2;
    const LN2_LO: f32 = -1.904_654_3e-9;
    const MAGIC: f32 = 12_582_912.0;
    let t = x.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    let mut p: f32 = 1.0 / 720.0;
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    p * f32::from_bits((ni.wrapping_add(127) as u32) << 23)
}

/// Hyperbolic tangent for `f32` (within 1.3 ulp).
///
/// `|x| < 0.625`: `x + x·s·P(s)` with `s = x²` (a fitted degree-6 polynomial); above:
/// `1 - 2 / (e^{2|x|} + 1)`, with the sign of `x` put back.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = x * x;
    let mut p: f32 = 2.144_216_56e-3;
    p = p.mul_add(s, -8.178_760_298e-3);
    p = p.mul_add(s, 2.170_123_719e-2);
    p = p.mul_add(s, -5.394_685_268e-2);
    p = p.mul_add(s, 1.333_320_588e-1);
    p = p.mul_add(s, -3.333_333_135e-1);
    let small = (p * s).mul_add(a, a);
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let r = if a < 0.625 { small } else { large };
    r.copysign(x)
}

/// The error function for `f32` (within 1.5 ulp).
///
/// `|x| <= 0.921875`: `x + x·P(x²)` (fitted degree 5); above: `1 - e^{Q(|x|)}` with `Q` a
/// fitted degree-8 polynomial approximating `ln erfc` on `[0.921875, 4]` (erf rounds to 1 past
/// 3.92), with the sign of `x` put back.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = x * x;
    let mut p: f32 = -5.965_751_479e-4;
    p = p.mul_add(s, 4.987_473_134e-3);
    p = p.mul_add(s, -2.676_198_818e-2);
    p = p.mul_add(s, 1.128_165_796e-1);
    p = p.mul_add(s, -3.761_247_396e-1);
    p = p.mul_add(s, 1.283_791_512e-1);
    let small = p.mul_add(a, a);
    // NaN passes the test and stays NaN.
    let t = if a > 4.0 { 4.0 } else { a };
    let mut q: f32 = 4.569_864_984e-7;
    q = q.mul_add(t, -2.735_738_963e-5);
    q = q.mul_add(t, 4.710_992_507e-4);
    q = q.mul_add(t, -4.290_645_942e-3);
    q = q.mul_add(t, 2.535_776_421e-2);
    q = q.mul_add(t, -1.085_773_185e-1);
    q = q.mul_add(t, -6.331_202_388e-1);
    q = q.mul_add(t, -1.129_611_611);
    q = q.mul_add(t, 1.923_869_859e-4);
    // q is in [-17.4, -0.5] on [0.92, 4] (and NaN for NaN).
    let large = 1.0 - exp_f32_nonpositive(q);
    let r = if a <= 0.921_875 { small } else { large };
    r.copysign(x)
}

/// The logistic function `1 / (1 + e^-x)` for `f32` (at most 2.5 ulp), written as
/// `e^x / (1 + e^x)` for negative `x` so that tiny results do not flush to zero.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let d = 1.0 + e;
    // NaN fails the test and gives NaN through `e`.
    if x >= 0.0 {
        1.0 / d
    } else {
        e / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units of the last place of `reference` (rounded to f32).
    fn ulps(got: f32, reference: f64) -> f64 {
        let r = reference as f32;
        if got == r {
            return 0.0;
        }
        let spacing = if r == 0.0 {
            f32::from_bits(1) as f64
        } else {
            let b = r.abs().to_bits();
            (f32::from_bits(b + 1) - f32::from_bits(b)) as f64
        };
        (got as f64 - reference).abs() / spacing
    }

    /// The largest error of `f` against `reference` over a sweep of `[lo, hi]` and its negation.
    fn max_ulps(f: fn(f32) -> f32, reference: fn(f64) -> f64, lo: f32, hi: f32) -> (f64, f32) {
        let mut worst = (0.0, 0.0);
        let n = 400_000;
        for i in 0..=n {
            let x = lo + (hi - lo) * (i as f32 / n as f32);
            for x in [x, -x] {
                let e = ulps(f(x), reference(x as f64));
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        // Small magnitudes, geometrically spaced.
        let mut x = 1e-30f32;
        while x < 1.0 {
            for x in [x, -x] {
                let e = ulps(f(x), reference(x as f64));
                if e > worst.0 {
                    worst = (e, x);
                }
            }
            x *= 1.001;
        }
        worst
    }

    #[test]
    fn exp_within_1_ulp() {
        let (e, at) = max_ulps(exp_f32, f64::exp, 0.0, 88.7);
        eprintln!("exp: max {e} ulp at {at}");
        assert!(e <= 1.0, "exp: {e} ulp at {at}");
        // Subnormal results.
        let (e, at) = max_ulps(|x| exp_f32(-x), |x| (-x).exp(), 87.0, 103.9);
        assert!(e <= 1.0, "exp subnormal: {e} ulp at -{at}");
    }

    #[test]
    fn tanh_within_2_ulp() {
        let (e, at) = max_ulps(tanh_f32, f64::tanh, 0.0, 12.0);
        eprintln!("tanh: max {e} ulp at {at}");
        assert!(e <= 2.0, "tanh: {e} ulp at {at}");
    }

    #[test]
    fn erf_within_2_ulp() {
        let (e, at) = max_ulps(erf_f32, libm::erf, 0.0, 6.0);
        eprintln!("erf: max {e} ulp at {at}");
        assert!(e <= 2.0, "erf: {e} ulp at {at}");
    }

    #[test]
    fn sigmoid_within_2_5_ulp() {
        let (e, at) = max_ulps(sigmoid_f32, |x| 1.0 / (1.0 + (-x).exp()), 0.0, 103.0);
        assert!(e <= 2.5, "sigmoid: {e} ulp at {at}");
    }

    #[test]
    fn special_values() {
        let inf = f32::INFINITY;
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(inf), inf);
        assert_eq!(exp_f32(89.0), inf);
        assert_eq!(exp_f32(-inf), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(tanh_f32(inf), 1.0);
        assert_eq!(tanh_f32(-inf), -1.0);
        assert_eq!(erf_f32(inf), 1.0);
        assert_eq!(erf_f32(-inf), -1.0);
        assert_eq!(sigmoid_f32(-inf), 0.0);
        assert_eq!(sigmoid_f32(inf), 1.0);
        for f in [exp_f32, tanh_f32, erf_f32, sigmoid_f32] {
            assert!(f(f32::NAN).is_nan());
        }
        for f in [tanh_f32, erf_f32] {
            assert!(f(-0.0) == 0.0 && f(-0.0).is_sign_negative());
            assert!(f(0.0) == 0.0 && f(0.0).is_sign_positive());
        }
    }

    #[test]
    fn f64_is_exact() {
        for x in [-3.5f64, -0.3, 0.0, 0.7, 2.9] {
            assert_eq!(x.exp_v(), x.exp());
            assert_eq!(x.tanh_v(), x.tanh());
            assert_eq!(x.erf_v(), libm::erf(x));
        }
    }
}
