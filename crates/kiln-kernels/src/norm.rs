//! Layer normalization of contiguous rows: mean and variance of each row, then
//! `(x - mean) * rstd * weight + bias` in one more pass.
//!
//! Statistics are accumulated in `f64` over the row (which is in cache by then), in two passes
//! (mean, then the centered sum of squares), so `f32` inputs with a large mean keep their
//! precision. Rows are split over threads above a size threshold.

use crate::num::Float;
use crate::par;
use rayon::prelude::*;

/// Elements below which a normalization stays on the calling thread.
pub const NORM_PAR_THRESHOLD: usize = 1 << 14;

const LANES: usize = 8;

/// Affine parameters of [`layer_norm_rows`], each of the row length when present.
#[derive(Clone, Copy, Debug, Default)]
pub struct Affine<'a, T> {
    pub weight: Option<&'a [T]>,
    pub bias: Option<&'a [T]>,
}

#[inline(always)]
fn row_mean_rstd<T: Float>(x: &[T], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += c[j].to_f64();
        }
    }
    let mean = (acc.iter().sum::<f64>() + rem.iter().map(|v| v.to_f64()).sum::<f64>()) / n;
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            let d = c[j].to_f64() - mean;
            acc[j] += d * d;
        }
    }
    let ss = acc.iter().sum::<f64>()
        + rem
            .iter()
            .map(|v| {
                let d = v.to_f64() - mean;
                d * d
            })
            .sum::<f64>();
    (mean, 1.0 / (ss / n + eps).sqrt())
}

crate::dispatch! {
    fn layer_norm_chunk<T: Float>(
        x: &[T],
        y: &mut [T],
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
                        *o = ((v - c) * a) * w + b;
                    }
                }
                (Some(w), None) => {
                    for ((o, &v), &w) in yr.iter_mut().zip(xr).zip(w) {
                        *o = ((v - c) * a) * w;
                    }
                }
                (None, Some(b)) => {
                    for ((o, &v), &b) in yr.iter_mut().zip(xr).zip(b) {
                        *o = (v - c) * a + b;
                    }
                }
                (None, None) => {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = (v - c) * a;
                    }
                }
            }
        }
    }
}

/// Normalizes each contiguous row of length `n` of `x` into `y`, writing each row's mean and
/// `1 / sqrt(var + eps)` (biased variance) into `mean` and `rstd`.
///
/// Panics when the lengths disagree: `x.len() == y.len() == rows * n`, `mean.len() ==
/// rstd.len() == rows`, weight and bias of length `n`. `n == 0` writes `rows` NaN means.
pub fn layer_norm_rows<T: Float>(
    x: &[T],
    y: &mut [T],
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
        let per = rows.div_ceil(par::num_threads() * 4).max(1);
        y.par_chunks_mut(per * n)
            .zip(x.par_chunks(per * n))
            .zip(mean.par_chunks_mut(per).zip(rstd.par_chunks_mut(per)))
            .for_each(|((yc, xc), (mc, rc))| layer_norm_chunk(xc, yc, mc, rc, n, affine, eps));
    } else {
        layer_norm_chunk(x, y, mean, rstd, n, affine, eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_and_keeps_f32_precision() {
        let (rows, n) = (37, 19);
        let x: Vec<f32> = (0..rows * n).map(|i| 1.0e3 + ((i * 13) % 7) as f32 * 0.25).collect();
        let w: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32 - 3.0).collect();
        let mut y = vec![0.0; x.len()];
        let (mut m, mut r) = (vec![0.0; rows], vec![0.0; rows]);
        let aff = Affine {
            weight: Some(&w[..]),
            bias: Some(&b[..]),
        };
        layer_norm_rows(&x, &mut y, &mut m, &mut r, n, aff, 1e-5);
        for i in 0..rows {
            let row: Vec<f64> = x[i * n..(i + 1) * n].iter().map(|&v| v as f64).collect();
            let mu = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
            let rs = 1.0 / (var + 1e-5).sqrt();
            assert!((m[i] as f64 - mu).abs() < 1e-3);
            assert!((r[i] as f64 - rs).abs() < 1e-5 * rs);
            for j in 0..n {
                let want = (row[j] - mu) * rs * w[j] as f64 + b[j] as f64;
                assert!((y[i * n + j] as f64 - want).abs() < 2e-3, "{} vs {want}", y[i * n + j]);
            }
        }
    }
}
