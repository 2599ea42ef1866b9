//! Numerically stable softmax and log-softmax.
//!
//! Two layouts, both contiguous: rows (`[rows, n]`, the reduced dim last) and planes
//! (`[outer, n, inner]`, the reduced dim in the middle, reduced with vector loops across
//! `inner`). Rows are split over threads above a size threshold; every loop is compiled per SIMD
//! level (see [`crate::simd`]) and written so that LLVM vectorizes it, including the exponential
//! of `f32` ([`ExpFloat::exp_nonpos`]).

use crate::num::Float;
use crate::par;
use rayon::prelude::*;

/// Elements below which a softmax stays on the calling thread.
pub const SOFTMAX_PAR_THRESHOLD: usize = 1 << 14;

/// Lanes of the independent accumulators in the reductions (enough for AVX-512 f32).
const LANES: usize = 16;

/// A float with an exponential that vectorizes on the arguments softmax needs (`x <= 0`).
pub trait ExpFloat: Float {
    /// `exp(x)` for `x <= 0` (or NaN); results below the smallest normal number flush to zero.
    fn exp_nonpos(self) -> Self;
}

impl ExpFloat for f32 {
    #[inline(always)]
    fn exp_nonpos(self) -> f32 {
        // Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-6 polynomial,
        // then 2^n built in the exponent bits. Only branch-free selects, so it vectorizes.
        const LO: f32 = -87.0;
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer.
        let x = self;
        let xc = if x < LO { LO } else { x };
        let t = xc * LOG2E + ROUND;
        let n = t - ROUND;
        let r = xc - n * LN2_HI - n * LN2_LO;
        let z = r * r;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
            + 1.666_666_5e-1)
            * r
            + 0.5;
        let e = p * z + r + 1.0;
        let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
        let scale = f32::from_bits(((ni + 127) as u32) << 23);
        let y = e * scale;
        if x < LO {
            0.0
        } else {
            y
        }
    }
}

impl ExpFloat for f64 {
    #[inline(always)]
    fn exp_nonpos(self) -> f64 {
        self.exp()
    }
}

#[inline(always)]
fn max_of<T: Float>(x: &[T]) -> T {
    let mut acc = [T::MIN_VALUE; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    let mut m = T::MIN_VALUE;
    for &v in acc.iter().chain(rem) {
        m = if v > m { v } else { m };
    }
    m
}

/// Writes `exp(x - m)` into `y` and returns its sum.
#[inline(always)]
fn exp_shift_sum<T: ExpFloat>(x: &[T], m: T, y: &mut [T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut xs = x.chunks_exact(LANES);
    let mut ys = y.chunks_exact_mut(LANES);
    for (c, o) in (&mut xs).zip(&mut ys) {
        for j in 0..LANES {
            let e = (c[j] - m).exp_nonpos();
            o[j] = e;
            acc[j] += e;
        }
    }
    let mut s = T::ZERO;
    for (&v, o) in xs.remainder().iter().zip(ys.into_remainder()) {
        let e = (v - m).exp_nonpos();
        *o = e;
        s += e;
    }
    acc.iter().fold(s, |a, &b| a + b)
}

/// The sum of `exp(x - m)` without storing the terms.
#[inline(always)]
fn exp_shift_sum_only<T: ExpFloat>(x: &[T], m: T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += (c[j] - m).exp_nonpos();
        }
    }
    let s = rem.iter().fold(T::ZERO, |a, &v| a + (v - m).exp_nonpos());
    acc.iter().fold(s, |a, &b| a + b)
}

crate::dispatch! {
    fn softmax_rows_chunk<T: ExpFloat>(x: &[T], y: &mut [T], n: usize, log: bool) {
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let m = max_of(xr);
            // A row of -inf has no finite max: shifting by it would give NaN, as PyTorch does.
            if log {
                // (x - max) - log(sum) keeps the precision that x - (max + log(sum)) loses.
                let ls = exp_shift_sum_only(xr, m).ln();
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = (v - m) - ls;
                }
            } else {
                let s = exp_shift_sum(xr, m, yr);
                let inv = T::ONE / s;
                for o in yr.iter_mut() {
                    *o *= inv;
                }
            }
        }
    }
}

crate::dispatch! {
    fn softmax_cols<T: ExpFloat>(x: &[T], stride: usize, ys: &mut [&mut [T]], log: bool, acc: &mut Vec<T>) {
        // Column tile of a plane: row d of the input is x[d * stride..][..w], of the output ys[d].
        // acc holds the running max, then the sum of exponentials, of each column.
        let w = ys.first().map_or(0, |r| r.len());
        acc.clear();
        acc.resize(2 * w, T::ZERO);
        let (mx, sm) = acc.split_at_mut(w);
        mx.copy_from_slice(&x[..w]);
        for d in 1..ys.len() {
            for (m, &v) in mx.iter_mut().zip(&x[d * stride..d * stride + w]) {
                *m = if v > *m { v } else { *m };
            }
        }
        for (d, yr) in ys.iter_mut().enumerate() {
            let xr = &x[d * stride..d * stride + w];
            for (((o, &v), &m), s) in yr.iter_mut().zip(xr).zip(mx.iter()).zip(sm.iter_mut()) {
                let e = (v - m).exp_nonpos();
                *s += e;
                *o = e;
            }
        }
        if log {
            for s in sm.iter_mut() {
                *s = s.ln();
            }
            for (d, yr) in ys.iter_mut().enumerate() {
                let xr = &x[d * stride..d * stride + w];
                for (((o, &v), &l), &m) in yr.iter_mut().zip(xr).zip(sm.iter()).zip(mx.iter()) {
                    *o = (v - m) - l;
                }
            }
        } else {
            for s in sm.iter_mut() {
                *s = T::ONE / *s;
            }
            for yr in ys.iter_mut() {
                for (o, &inv) in yr.iter_mut().zip(sm.iter()) {
                    *o *= inv;
                }
            }
        }
    }
}

/// Softmax (or log-softmax when `log`) of each contiguous row of length `n` of `x` into `y`.
///
/// `x.len()` must equal `y.len()` and be a multiple of `n` (panics otherwise); `n == 0` does
/// nothing.
pub fn softmax_rows<T: ExpFloat>(x: &[T], y: &mut [T], n: usize, log: bool) {
    assert_eq!(x.len(), y.len(), "softmax_rows: length mismatch");
    if n == 0 || x.is_empty() {
        return;
    }
    assert_eq!(
        x.len() % n,
        0,
        "softmax_rows: length is not a multiple of the row length"
    );
    let rows = x.len() / n;
    if rows > 1 && par::should_split(x.len(), SOFTMAX_PAR_THRESHOLD) {
        // About four chunks per thread, whole rows each, for load balance.
        let per = rows.div_ceil(par::num_threads() * 4).max(1);
        y.par_chunks_mut(per * n)
            .zip(x.par_chunks(per * n))
            .for_each(|(yc, xc)| softmax_rows_chunk(xc, yc, n, log));
    } else {
        softmax_rows_chunk(x, y, n, log);
    }
}

/// Softmax (or log-softmax) over the middle dim of a contiguous `[outer, n, inner]` buffer.
///
/// `x.len()` must equal `y.len()` and `outer * n * inner` (panics otherwise). With `inner == 1`
/// this is [`softmax_rows`].
pub fn softmax_inner<T: ExpFloat>(x: &[T], y: &mut [T], n: usize, inner: usize, log: bool) {
    if inner == 1 {
        return softmax_rows(x, y, n, log);
    }
    assert_eq!(x.len(), y.len(), "softmax_inner: length mismatch");
    let plane = n * inner;
    if plane == 0 || x.is_empty() {
        return;
    }
    assert_eq!(
        x.len() % plane,
        0,
        "softmax_inner: length is not a multiple of n * inner"
    );
    let outer = x.len() / plane;
    // Work units are column tiles of planes: whole planes when there are enough of them to
    // keep every thread busy, narrower tiles otherwise.
    let split = par::should_split(x.len(), SOFTMAX_PAR_THRESHOLD);
    let want = if split { par::num_threads() * 4 } else { 1 };
    let tiles = want.div_ceil(outer).min(inner.div_ceil(16)).max(1);
    let cw = inner.div_ceil(tiles).div_ceil(16) * 16;
    let mut units: Vec<(usize, Vec<&mut [T]>)> = Vec::with_capacity(outer * tiles);
    for (p, yp) in y.chunks_exact_mut(plane).enumerate() {
        let first = units.len();
        for t in 0..inner.div_ceil(cw) {
            units.push((p * plane + t * cw, Vec::with_capacity(n)));
        }
        for row in yp.chunks_exact_mut(inner) {
            let mut rest = row;
            for unit in &mut units[first..] {
                let (a, b) = rest.split_at_mut(cw.min(rest.len()));
                unit.1.push(a);
                rest = b;
            }
        }
    }
    if split && units.len() > 1 {
        units.into_par_iter().for_each_init(Vec::new, |acc, (off, mut ys)| {
            softmax_cols(&x[off..], inner, &mut ys, log, acc)
        });
    } else {
        let mut acc = Vec::new();
        for (off, mut ys) in units {
            softmax_cols(&x[off..], inner, &mut ys, log, &mut acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], n: usize, log: bool) -> Vec<f64> {
        let mut out = Vec::new();
        for r in x.chunks(n) {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            out.extend(r.iter().map(|v| if log { v - m - s.ln() } else { (v - m).exp() / s }));
        }
        out
    }

    #[test]
    fn exp_f32_is_accurate() {
        let mut x = 0.0f32;
        while x > -100.0 {
            let got = x.exp_nonpos() as f64;
            let want = (x as f64).exp();
            if x >= -87.0 {
                assert!((got - want).abs() <= 4e-7 * want, "exp({x}) = {got}, want {want}");
            } else {
                assert!(got == 0.0 || (got - want).abs() < 1e-37);
            }
            x -= 0.0137;
        }
        assert_eq!(f32::NEG_INFINITY.exp_nonpos(), 0.0);
        assert!(f32::NAN.exp_nonpos().is_nan());
        assert_eq!(0.0f32.exp_nonpos(), 1.0);
    }

    #[test]
    fn rows_and_planes_match_naive() {
        for &(rows, n) in &[(1usize, 1usize), (3, 5), (7, 33), (200, 130)] {
            let x: Vec<f64> = (0..rows * n).map(|i| ((i * 37) % 23) as f64 * 0.7 - 8.0).collect();
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            for log in [false, true] {
                let want = naive(&x, n, log);
                let mut y = vec![0.0f32; x.len()];
                softmax_rows(&xf, &mut y, n, log);
                for (a, b) in y.iter().zip(&want) {
                    assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
                }
                // The same data viewed as [rows, n, 1] transposed: [1, n, rows] planes.
                let mut xt = vec![0.0; x.len()];
                for r in 0..rows {
                    for c in 0..n {
                        xt[c * rows + r] = x[r * n + c];
                    }
                }
                let mut yt = vec![0.0f64; x.len()];
                softmax_inner(&xt, &mut yt, n, rows, log);
                for r in 0..rows {
                    for c in 0..n {
                        let (a, b) = (yt[c * rows + r], want[r * n + c]);
                        assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
                    }
                }
            }
        }
    }
}
