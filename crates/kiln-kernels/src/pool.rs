//! 2-D pooling over planes (NCHW flattened to `planes` contiguous `h x w` planes): max pooling
//! with argmax indices, average pooling, adaptive average pooling, and their gradients.
//!
//! Windows follow PyTorch's CPU kernels exactly (which positions a padded or ceil-mode window
//! covers, the divisor of an average, NaN propagation in max pooling). Planes are spread over
//! threads above a work threshold.

use crate::num::Num;
use crate::par;
use rayon::prelude::*;

/// Geometry of a pooling window over one plane. Output `(oy, ox)` covers input rows
/// `oy * stride[0] - padding[0] + i * dilation[0]` for `i < kernel[0]` (columns alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl PoolGeom {
    fn in_len(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }
    fn out_len(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
}

/// Work (elements touched) below which pooling stays on the calling thread.
const POOL_PAR_WORK: usize = 1 << 15;

/// Runs `f(plane index, output plane)` over the `out_len`-element planes of `out`.
fn for_each_plane<T: Send>(out: &mut [T], out_len: usize, work: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out_len == 0 {
        return;
    }
    if par::should_split(work, POOL_PAR_WORK) {
        out.par_chunks_mut(out_len).enumerate().for_each(|(p, o)| f(p, o));
    } else {
        out.chunks_mut(out_len).enumerate().for_each(|(p, o)| f(p, o));
    }
}

/// Max pooling: `out[p, oy, ox]` is the largest input in the window (NaN wins), `idx` its flat
/// position `iy * w + ix` in the plane (PyTorch's indices). A window lying entirely in the
/// padding gives `-inf` and index `-1`.
///
/// `x` is `[planes, h, w]`, `out` and `idx` are `[planes, oh, ow]`. Panics on length mismatch.
pub fn max_pool2d_forward<T: Num>(x: &[T], planes: usize, g: &PoolGeom, out: &mut [T], idx: &mut [i64]) {
    let (il, ol) = (g.in_len(), g.out_len());
    assert_eq!(x.len(), planes * il, "max_pool2d_forward: input length");
    assert_eq!(out.len(), planes * ol, "max_pool2d_forward: output length");
    assert_eq!(idx.len(), planes * ol, "max_pool2d_forward: index length");
    let [h, w] = g.in_hw.map(|v| v as i64);
    let [s0, s1] = g.stride.map(|v| v as i64);
    let [p0, p1] = g.padding.map(|v| v as i64);
    let [d0, d1] = g.dilation.map(|v| v as i64);
    let [k0, k1] = g.kernel.map(|v| v as i64);
    let ow = g.out_hw[1];
    let one = |p: usize, o: &mut [T], ix: &mut [i64]| {
        let plane = &x[p * il..(p + 1) * il];
        for (q, (ov, iv)) in o.iter_mut().zip(ix.iter_mut()).enumerate() {
            let (oy, ox) = ((q / ow) as i64, (q % ow) as i64);
            let mut y0 = oy * s0 - p0;
            let mut x0 = ox * s1 - p1;
            let y1 = (y0 + (k0 - 1) * d0 + 1).min(h);
            let x1 = (x0 + (k1 - 1) * d1 + 1).min(w);
            while y0 < 0 {
                y0 += d0;
            }
            while x0 < 0 {
                x0 += d1;
            }
            // A window that only covers padding (possible with dilation) keeps -inf and index -1.
            let mut best_i = -1;
            let mut best = T::MIN_VALUE;
            let mut y = y0;
            while y < y1 {
                let mut xx = x0;
                while xx < x1 {
                    let i = y * w + xx;
                    let v = plane[i as usize];
                    if v > best || v.is_nan_() {
                        best = v;
                        best_i = i;
                    }
                    xx += d1;
                }
                y += d0;
            }
            *ov = best;
            *iv = best_i;
        }
    };
    if ol == 0 {
        return;
    }
    let work = planes * ol * g.kernel[0] * g.kernel[1];
    if par::should_split(work, POOL_PAR_WORK) {
        out.par_chunks_mut(ol)
            .zip(idx.par_chunks_mut(ol))
            .enumerate()
            .for_each(|(p, (o, ix))| one(p, o, ix));
    } else {
        out.chunks_mut(ol)
            .zip(idx.chunks_mut(ol))
            .enumerate()
            .for_each(|(p, (o, ix))| one(p, o, ix));
    }
}

/// Scatter-adds `src[p, q]` into `dst[p, idx[p, q]]` (the gradient of max pooling); `dst` is
/// `[planes, in_len]` and is overwritten. Indices outside the plane (the `-1` of an all-padding
/// window) are skipped. Panics on length mismatch.
pub fn scatter_add_planes<T: Num>(src: &[T], idx: &[i64], planes: usize, in_len: usize, dst: &mut [T]) {
    assert_eq!(src.len(), idx.len(), "scatter_add_planes: index length");
    assert_eq!(dst.len(), planes * in_len, "scatter_add_planes: output length");
    let ol = src.len().checked_div(planes).unwrap_or(0);
    for_each_plane(dst, in_len, src.len(), |p, d| {
        d.fill(T::ZERO);
        for (&v, &i) in src[p * ol..(p + 1) * ol].iter().zip(&idx[p * ol..(p + 1) * ol]) {
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| d.get_mut(i)) {
                *slot += v;
            }
        }
    });
}

/// `dst[p, q] = src[p, idx[p, q]]` (the values max pooling picks, given its indices); `src` is
/// `[planes, in_len]`; an index outside the plane gives zero. Panics on length mismatch.
pub fn gather_planes<T: Num>(src: &[T], idx: &[i64], planes: usize, in_len: usize, dst: &mut [T]) {
    assert_eq!(dst.len(), idx.len(), "gather_planes: index length");
    assert_eq!(src.len(), planes * in_len, "gather_planes: input length");
    let ol = dst.len().checked_div(planes).unwrap_or(0);
    for_each_plane(dst, ol, idx.len(), |p, d| {
        let s = &src[p * in_len..(p + 1) * in_len];
        for (o, &i) in d.iter_mut().zip(&idx[p * ol..(p + 1) * ol]) {
            *o = usize::try_from(i)
                .ok()
                .and_then(|i| s.get(i))
                .copied()
                .unwrap_or(T::ZERO);
        }
    });
}

/// The window of average-pooling output `(oy, ox)`: clipped row and column ranges and the
/// divisor (PyTorch's `cpu_avg_pool`): `divisor_override` when set, else the window size
/// counting padding or not. `None` when the clipped window is empty.
#[inline]
fn avg_window(
    g: &PoolGeom,
    oy: usize,
    ox: usize,
    count_include_pad: bool,
    divisor_override: Option<usize>,
) -> Option<([usize; 4], usize)> {
    let (h, w) = (g.in_hw[0] as i64, g.in_hw[1] as i64);
    let y0 = (oy * g.stride[0]) as i64 - g.padding[0] as i64;
    let x0 = (ox * g.stride[1]) as i64 - g.padding[1] as i64;
    let y1 = (y0 + g.kernel[0] as i64).min(h + g.padding[0] as i64);
    let x1 = (x0 + g.kernel[1] as i64).min(w + g.padding[1] as i64);
    let pool_size = (y1 - y0) * (x1 - x0);
    let (y0, x0, y1, x1) = (y0.max(0), x0.max(0), y1.min(h), x1.min(w));
    if y0 >= y1 || x0 >= x1 {
        return None;
    }
    let div = if let Some(d) = divisor_override {
        d as i64
    } else if count_include_pad {
        pool_size
    } else {
        (y1 - y0) * (x1 - x0)
    };
    Some(([y0 as usize, y1 as usize, x0 as usize, x1 as usize], div as usize))
}

/// Average pooling (no dilation): `out[p, oy, ox]` is the window's sum over its divisor:
/// `divisor_override` when set, else the window size, which counts padded positions when
/// `count_include_pad` (zero for a window entirely in padding).
///
/// `x` is `[planes, h, w]`, `out` is `[planes, oh, ow]`. Panics on length mismatch.
pub fn avg_pool2d_forward<T: Num>(
    x: &[T],
    planes: usize,
    g: &PoolGeom,
    count_include_pad: bool,
    divisor_override: Option<usize>,
    out: &mut [T],
) {
    let (il, ol) = (g.in_len(), g.out_len());
    assert_eq!(x.len(), planes * il, "avg_pool2d_forward: input length");
    assert_eq!(out.len(), planes * ol, "avg_pool2d_forward: output length");
    let (w, ow) = (g.in_hw[1], g.out_hw[1]);
    let work = planes * ol * g.kernel[0] * g.kernel[1];
    for_each_plane(out, ol, work, |p, o| {
        let plane = &x[p * il..(p + 1) * il];
        for (q, ov) in o.iter_mut().enumerate() {
            *ov = match avg_window(g, q / ow, q % ow, count_include_pad, divisor_override) {
                None => T::ZERO,
                Some(([y0, y1, x0, x1], div)) => {
                    let mut s = T::ZERO;
                    for y in y0..y1 {
                        for &v in &plane[y * w + x0..y * w + x1] {
                            s += v;
                        }
                    }
                    s / T::from_f64(div as f64)
                }
            };
        }
    });
}

/// Gradient of [`avg_pool2d_forward`]: each input gets `gout / divisor` from every window that
/// covers it. `gout` is `[planes, oh, ow]`, `gx` is `[planes, h, w]` and is overwritten.
pub fn avg_pool2d_backward<T: Num>(
    gout: &[T],
    planes: usize,
    g: &PoolGeom,
    count_include_pad: bool,
    divisor_override: Option<usize>,
    gx: &mut [T],
) {
    let (il, ol) = (g.in_len(), g.out_len());
    assert_eq!(gout.len(), planes * ol, "avg_pool2d_backward: grad length");
    assert_eq!(gx.len(), planes * il, "avg_pool2d_backward: output length");
    let (w, ow) = (g.in_hw[1], g.out_hw[1]);
    let work = planes * ol * g.kernel[0] * g.kernel[1];
    for_each_plane(gx, il, work, |p, d| {
        d.fill(T::ZERO);
        for (q, &gv) in gout[p * ol..(p + 1) * ol].iter().enumerate() {
            if let Some(([y0, y1, x0, x1], div)) = avg_window(g, q / ow, q % ow, count_include_pad, divisor_override) {
                let v = gv / T::from_f64(div as f64);
                for y in y0..y1 {
                    for dv in &mut d[y * w + x0..y * w + x1] {
                        *dv += v;
                    }
                }
            }
        }
    });
}

/// Window `[start, end)` of adaptive-pooling output `o` of `n_out` over `n_in` inputs
/// (`floor(o * n_in / n_out)` to `ceil((o + 1) * n_in / n_out)`).
#[inline]
fn adaptive_range(o: usize, n_out: usize, n_in: usize) -> (usize, usize) {
    (o * n_in / n_out, ((o + 1) * n_in).div_ceil(n_out))
}

/// Adaptive average pooling from `in_hw` to `out_hw` (both non-zero): `x` is `[planes, h, w]`,
/// `out` is `[planes, oh, ow]`. Panics on length mismatch.
pub fn adaptive_avg_pool2d_forward<T: Num>(
    x: &[T],
    planes: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    out: &mut [T],
) {
    let (il, ol) = (in_hw[0] * in_hw[1], out_hw[0] * out_hw[1]);
    assert_eq!(x.len(), planes * il, "adaptive_avg_pool2d_forward: input length");
    assert_eq!(out.len(), planes * ol, "adaptive_avg_pool2d_forward: output length");
    let w = in_hw[1];
    for_each_plane(out, ol, planes * il.max(ol), |p, o| {
        let plane = &x[p * il..(p + 1) * il];
        for (q, ov) in o.iter_mut().enumerate() {
            let (y0, y1) = adaptive_range(q / out_hw[1], out_hw[0], in_hw[0]);
            let (x0, x1) = adaptive_range(q % out_hw[1], out_hw[1], in_hw[1]);
            let mut s = T::ZERO;
            for y in y0..y1 {
                for &v in &plane[y * w + x0..y * w + x1] {
                    s += v;
                }
            }
            *ov = s / T::from_f64(((y1 - y0) * (x1 - x0)) as f64);
        }
    });
}

/// Gradient of [`adaptive_avg_pool2d_forward`]: `gout` is `[planes, oh, ow]`, `gx` is
/// `[planes, h, w]` and is overwritten.
pub fn adaptive_avg_pool2d_backward<T: Num>(
    gout: &[T],
    planes: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    gx: &mut [T],
) {
    let (il, ol) = (in_hw[0] * in_hw[1], out_hw[0] * out_hw[1]);
    assert_eq!(gout.len(), planes * ol, "adaptive_avg_pool2d_backward: grad length");
    assert_eq!(gx.len(), planes * il, "adaptive_avg_pool2d_backward: output length");
    let w = in_hw[1];
    for_each_plane(gx, il, planes * il.max(ol), |p, d| {
        d.fill(T::ZERO);
        for (q, &gv) in gout[p * ol..(p + 1) * ol].iter().enumerate() {
            let (y0, y1) = adaptive_range(q / out_hw[1], out_hw[0], in_hw[0]);
            let (x0, x1) = adaptive_range(q % out_hw[1], out_hw[1], in_hw[1]);
            let v = gv / T::from_f64(((y1 - y0) * (x1 - x0)) as f64);
            for y in y0..y1 {
                for dv in &mut d[y * w + x0..y * w + x1] {
                    *dv += v;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_with_padding_and_nan() {
        // 1 plane 3x3, kernel 2, stride 2, padding 1 -> 2x2.
        let x = [1.0, 5.0, 2.0, 4.0, f64::NAN, 3.0, 0.0, 9.0, 8.0];
        let g = PoolGeom {
            in_hw: [3, 3],
            out_hw: [2, 2],
            kernel: [2, 2],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [1, 1],
        };
        let (mut o, mut i) = ([0.0; 4], [0i64; 4]);
        max_pool2d_forward(&x, 1, &g, &mut o, &mut i);
        assert_eq!(i, [0, 1, 3, 4]);
        assert_eq!(&o[..3], &[1.0, 5.0, 4.0]);
        assert!(o[3].is_nan());
    }

    #[test]
    fn adaptive_ranges_overlap() {
        // 5 inputs into 3 outputs: [0, 2), [1, 4), [3, 5).
        let r: Vec<_> = (0..3).map(|o| adaptive_range(o, 3, 5)).collect();
        assert_eq!(r, [(0, 2), (1, 4), (3, 5)]);
    }
}
