//! Layer normalization of contiguous rows: mean and variance of each row in one pass, then
//! `(x - mean) * rstd * weight + bias` written straight into the (uninitialized) output.
//!
//! Statistics use Welford's update in [`LANES`] independent lanes of `T` (vectorizable: each
//! lane sees every `LANES`-th element, and all lanes share one count), then combine the lanes'
//! means and centered sums of squares in `f64` (Chan's formula), so `f32` inputs with a large
//! mean keep their precision without a second pass. Rows are split over threads in large
//! chunks above a size threshold; nothing is allocated per row.

use crate::num::Float;
use crate::par;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements below which a normalization stays on the calling thread.
pub const NORM_PAR_THRESHOLD: usize = 1 << 14;

/// Independent Welford accumulators per row (four AVX2 vectors of `f32`).
const LANES: usize = 32;

/// Affine parameters of [`layer_norm_rows`], each of the row length when present.
#[derive(Clone, Copy, Debug, Default)]
pub struct Affine<'a, T> {
    pub weight: Option<&'a [T]>,
    pub bias: Option<&'a [T]>,
}

/// Mean and `1 / sqrt(var + eps)` (biased variance) of a non-empty row.
#[inline(always)]
fn row_mean_rstd<T: Float>(x: &[T], eps: f64) -> (f64, f64) {
    let mut mean = [T::ZERO; LANES];
    let mut m2 = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    let mut count = 0usize;
    for c in chunks {
        count += 1;
        let inv = T::from_f64(1.0 / count as f64);
        for j in 0..LANES {
            let d = c[j] - mean[j];
            mean[j] += d * inv;
            m2[j] += d * (c[j] - mean[j]);
        }
    }
    // Chan's combination: every lane holds `count` elements, every remainder element is a
    // group of one with no spread of its own.
    let k = count as f64;
    let total = if count > 0 {
        k * mean.iter().map(|m| m.to_f64()).sum::<f64>()
    } else {
        0.0
    } + rem.iter().map(|v| v.to_f64()).sum::<f64>();
    let mu = total / x.len() as f64;
    let mut ss = rem
        .iter()
        .map(|v| {
            let d = v.to_f64() - mu;
            d * d
        })
        .sum::<f64>();
    if count > 0 {
        for (m, s) in mean.iter().zip(&m2) {
            let d = m.to_f64() - mu;
            ss += s.to_f64() + k * d * d;
        }
    }
    (mu, 1.0 / (ss / x.len() as f64 + eps).sqrt())
}

crate::dispatch! {
    fn layer_norm_chunk<T: Float>(
        x: &[T],
        y: &mut [MaybeUninit<T>],
        mean: &mut [T],
        rstd: &mut [T],
        n: usize,
        affine: Affine<'_, T>,
        eps: f64,
    ) {
        for (((xr, yr), m), r) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)).zip(mean.iter_mut()).zip(rstd.iter_mut()) {
            let (mu, rs) = row_mean_rstd(xr, eps);
            *m = T::from_f64(mu);
            *r = T::from_f64(rs);
            let a = T::from_f64(rs);
            let c = T::from_f64(mu);
            match (affine.weight, affine.bias) {
                (Some(w), Some(b)) => {
                    for (((o, &v), &w), &b) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                        o.write(((v - c) * a) * w + b);
                    }
                }
                (Some(w), None) => {
                    for ((o, &v), &w) in yr.iter_mut().zip(xr).zip(w) {
                        o.write(((v - c) * a) * w);
                    }
                }
                (None, Some(b)) => {
                    for ((o, &v), &b) in yr.iter_mut().zip(xr).zip(b) {
                        o.write((v - c) * a + b);
                    }
                }
                (None, None) => {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        o.write((v - c) * a);
                    }
                }
            }
        }
    }
}

/// Normalizes each contiguous row of length `n` of `x` into `y`, writing each row's mean and
/// `1 / sqrt(var + eps)` (biased variance) into `mean` and `rstd`. Every slot of `y` is written.
///
/// Panics when the lengths disagree: `x.len() == y.len() == rows * n`, `mean.len() ==
/// rstd.len() == rows`, weight and bias of length `n`. `n == 0` writes `rows` NaN means.
pub fn layer_norm_rows<T: Float>(
    x: &[T],
    y: &mut [MaybeUninit<T>],
    mean: &mut [T],
    rstd: &mut [T],
    n: usize,
    affine: Affine<'_, T>,
    eps: f64,
) {
    assert_eq!(x.len(), y.len(), "layer_norm_rows: length mismatch");
    let rows = mean.len();
    assert_eq!(rstd.len(), rows, "layer_norm_rows: rstd length");
    assert_eq!(x.len(), rows * n, "layer_norm_rows: x is not rows * n");
    for p in [affine.weight, affine.bias].into_iter().flatten() {
        assert_eq!(p.len(), n, "layer_norm_rows: affine parameter length");
    }
    if n == 0 {
        mean.iter_mut()
            .chain(rstd.iter_mut())
            .for_each(|v| *v = T::from_f64(f64::NAN));
        return;
    }
    if rows > 1 && par::should_split(x.len(), NORM_PAR_THRESHOLD) {
        // Two chunks per thread: big enough to amortize scheduling, small enough to rebalance
        // when a core is busy.
        let per = rows.div_ceil(par::num_threads() * 2).max(1);
        y.par_chunks_mut(per * n)
            .zip(x.par_chunks(per * n))
            .zip(mean.par_chunks_mut(per).zip(rstd.par_chunks_mut(per)))
            .for_each(|((yc, xc), (mc, rc))| layer_norm_chunk(xc, yc, mc, rc, n, affine, eps));
    } else {
        layer_norm_chunk(x, y, mean, rstd, n, affine, eps);
    }
}

/// [`layer_norm_rows`] into a new vector of `x.len()` elements, allocated without a zero fill.
/// Same contract and panics.
pub fn layer_norm_rows_vec<T: Float>(
    x: &[T],
    mean: &mut [T],
    rstd: &mut [T],
    n: usize,
    affine: Affine<'_, T>,
    eps: f64,
) -> Vec<T> {
    let mut y = Vec::with_capacity(x.len());
    layer_norm_rows(x, &mut y.spare_capacity_mut()[..x.len()], mean, rstd, n, affine, eps);
    // SAFETY: `layer_norm_rows` returned (it panics otherwise) after writing every one of the
    // `x.len()` slots: each row of `n` slots is written once (`x.len() == rows * n`, checked),
    // and `n == 0` means there are no slots; `x.len()` is within the capacity reserved above.
    unsafe { y.set_len(x.len()) };
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f64], n: usize, w: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut y, mut ms, mut rs) = (vec![], vec![], vec![]);
        for row in x.chunks(n) {
            let mu = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
            let r = 1.0 / (var + 1e-5).sqrt();
            y.extend(row.iter().zip(w).zip(b).map(|((v, w), b)| (v - mu) * r * w + b));
            ms.push(mu);
            rs.push(r);
        }
        (y, ms, rs)
    }

    #[test]
    fn matches_naive_and_keeps_f32_precision() {
        // Row lengths below, at and above the lane count, with and without a remainder.
        for (rows, n) in [(37, 19), (5, 32), (9, 70), (3, 1029)] {
            let x: Vec<f32> = (0..rows * n).map(|i| 1.0e3 + ((i * 13) % 7) as f32 * 0.25).collect();
            let w: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 * 0.1).collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 - 3.0).collect();
            let (mut m, mut r) = (vec![0.0; rows], vec![0.0; rows]);
            let aff = Affine {
                weight: Some(&w[..]),
                bias: Some(&b[..]),
            };
            let y = layer_norm_rows_vec(&x, &mut m, &mut r, n, aff, 1e-5);
            let f = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
            let (want, mu, rs) = naive(&f(&x), n, &f(&w), &f(&b));
            for i in 0..rows {
                assert!((m[i] as f64 - mu[i]).abs() < 1e-4, "mean {} vs {}", m[i], mu[i]);
                assert!((r[i] as f64 - rs[i]).abs() < 1e-5 * rs[i], "rstd {} vs {}", r[i], rs[i]);
            }
            for (got, want) in y.iter().zip(&want) {
                let tol = 2e-3 * (1.0 + want.abs() / n as f64);
                assert!((*got as f64 - want).abs() < tol, "{got} vs {want} (n {n})");
            }
        }
    }

    #[test]
    fn outlier_rows_keep_their_variance() {
        // One large element per row: the lanes' means differ widely, which Chan's combination
        // in f64 handles exactly.
        let (rows, n) = (4, 256);
        let x: Vec<f32> = (0..rows * n)
            .map(|i| {
                if i % n == i / n {
                    1.0e4
                } else {
                    ((i * 7) % 5) as f32 * 0.01
                }
            })
            .collect();
        let ones = vec![1.0f32; n];
        let zeros = vec![0.0f32; n];
        let (mut m, mut r) = (vec![0.0; rows], vec![0.0; rows]);
        let aff = Affine {
            weight: Some(&ones[..]),
            bias: None,
        };
        let y = layer_norm_rows_vec(&x, &mut m, &mut r, n, aff, 1e-5);
        let f = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let (want, mu, rs) = naive(&f(&x), n, &f(&ones), &f(&zeros));
        for i in 0..rows {
            assert!(
                (m[i] as f64 - mu[i]).abs() < 1e-5 * mu[i].abs(),
                "mean {} vs {}",
                m[i],
                mu[i]
            );
            assert!((r[i] as f64 - rs[i]).abs() < 1e-5 * rs[i], "rstd {} vs {}", r[i], rs[i]);
        }
        for (got, want) in y.iter().zip(&want) {
            assert!(
                (*got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn parallel_path_matches_serial_and_empty_rows_are_nan() {
        let (rows, n) = (64, 1024);
        let x: Vec<f64> = (0..rows * n).map(|i| ((i * 31) % 97) as f64 - 40.0).collect();
        let (mut m, mut r) = (vec![0.0; rows], vec![0.0; rows]);
        let y = layer_norm_rows_vec(&x, &mut m, &mut r, n, Affine::default(), 1e-5);
        let ones = vec![1.0; n];
        let zeros = vec![0.0; n];
        let (want, mu, rs) = naive(&x, n, &ones, &zeros);
        for (a, b) in y.iter().zip(&want).chain(m.iter().zip(&mu)).chain(r.iter().zip(&rs)) {
            assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let (mut m, mut r) = (vec![0.0f32; 3], vec![0.0f32; 3]);
        let y = layer_norm_rows_vec(&[], &mut m, &mut r, 0, Affine::default(), 1e-5);
        assert!(y.is_empty());
        assert!(m.iter().chain(&r).all(|v| v.is_nan()));
    }
}
