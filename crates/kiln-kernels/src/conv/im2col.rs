//! im2col and its adjoint col2im over blocks of output rows, so that one block's column matrix
//! stays in cache while gemm reads it.

use super::ConvGeom;
use crate::gemm::MatLayout;
use crate::num::Num;
use crate::par;
use rayon::prelude::*;

/// The output positions `o < n_out` whose input index `o * s + off - p` falls in `0..n_in`,
/// as a range `lo..hi`.
#[inline]
pub(super) fn valid_range(n_out: usize, n_in: usize, s: usize, off: usize, p: usize) -> (usize, usize) {
    let lo = if off >= p { 0 } else { (p - off).div_ceil(s) };
    let hi = if n_in + p > off {
        ((n_in + p - off - 1) / s + 1).min(n_out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Output rows `y0..y1` of one image: the column matrix of a block covers their
/// `(y1 - y0) * ow` positions, so it stays in cache while gemm reads it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub(super) y0: usize,
    pub(super) y1: usize,
}

/// Elements of one block's column matrix aimed for (about 1 MiB of f32).
const COL_BLOCK: usize = 1 << 18;
/// Fewest output positions of a block (narrower gemms lose efficiency).
const MIN_BLOCK_COLS: usize = 256;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl ConvGeom {
    /// Output rows per block.
    pub(super) fn block_rows(&self) -> usize {
        let ow = self.out_hw[1].max(1);
        let per_row = (self.c_in * self.kernel[0] * self.kernel[1] * ow).max(1);
        let rows = (COL_BLOCK / per_row).max(MIN_BLOCK_COLS.div_ceil(ow));
        // Rounded down to whole multiples of 64 columns where that keeps at least one step: the
        // gemm kernel works on panels of 16-lane registers, and a ragged edge panel wastes lanes.
        let step = 64 / gcd(ow, 64);
        let rows = if rows >= step { rows / step * step } else { rows };
        rows.clamp(1, self.out_hw[0].max(1))
    }
    pub(super) fn blocks(&self) -> impl Iterator<Item = Block> {
        let (rb, oh) = (self.block_rows(), self.out_hw[0]);
        (0..oh.div_ceil(rb)).map(move |b| Block {
            y0: b * rb,
            y1: ((b + 1) * rb).min(oh),
        })
    }
    /// Elements of the largest block's column matrix.
    pub(super) fn block_col_len(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1] * self.block_rows().min(self.out_hw[0]) * self.out_hw[1]
    }
}

/// Fills one row of a block's column matrix: tap `(i, j)` of channel plane `x` (`in_hw`).
fn im2col_row<T: Num>(x: &[T], g: &ConvGeom, i: usize, j: usize, b: Block, row: &mut [T]) {
    let [h, w] = g.in_hw;
    let [oh, ow] = g.out_hw;
    let (ys, ye) = valid_range(oh, h, g.stride[0], i * g.dilation[0], g.padding[0]);
    let (ys, ye) = (ys.clamp(b.y0, b.y1), ye.clamp(b.y0, b.y1));
    let (xs, xe) = valid_range(ow, w, g.stride[1], j * g.dilation[1], g.padding[1]);
    row[..(ys - b.y0) * ow].fill(T::ZERO);
    row[(ye - b.y0) * ow..].fill(T::ZERO);
    if g.stride == [1, 1] && ow == w && ys < ye && xs < xe {
        // Output row oy reads input row oy + i * d - p at the same column shift for every oy,
        // and rows of both are `w` long: the whole valid range is one contiguous copy, after
        // which the columns outside `xs..xe` (wrapped in from neighbouring rows) are zeroed.
        let d0 = (ys - b.y0) * ow + xs;
        let s0 = (ys + i * g.dilation[0] - g.padding[0]) * w + xs + j * g.dilation[1] - g.padding[1];
        let len = (ye - ys - 1) * ow + (xe - xs);
        row[d0..d0 + len].copy_from_slice(&x[s0..s0 + len]);
        for r in row[(ys - b.y0) * ow..(ye - b.y0) * ow].chunks_exact_mut(ow) {
            r[..xs].fill(T::ZERO);
            r[xe..].fill(T::ZERO);
        }
        return;
    }
    for oy in ys..ye {
        let iy = oy * g.stride[0] + i * g.dilation[0] - g.padding[0];
        let out = &mut row[(oy - b.y0) * ow..(oy - b.y0 + 1) * ow];
        out[..xs].fill(T::ZERO);
        out[xe..].fill(T::ZERO);
        if xs < xe {
            let ix0 = xs * g.stride[1] + j * g.dilation[1] - g.padding[1];
            let src = &x[iy * w..(iy + 1) * w];
            if g.stride[1] == 1 {
                out[xs..xe].copy_from_slice(&src[ix0..ix0 + (xe - xs)]);
            } else {
                for (k, o) in out[xs..xe].iter_mut().enumerate() {
                    *o = src[ix0 + k * g.stride[1]];
                }
            }
        }
    }
}

/// Adds one row of a block's column matrix back into channel plane `x` (the adjoint of
/// [`im2col_row`]).
fn col2im_row<T: Num>(row: &[T], g: &ConvGeom, i: usize, j: usize, b: Block, x: &mut [T]) {
    let [h, w] = g.in_hw;
    let [oh, ow] = g.out_hw;
    let (ys, ye) = valid_range(oh, h, g.stride[0], i * g.dilation[0], g.padding[0]);
    let (ys, ye) = (ys.clamp(b.y0, b.y1), ye.clamp(b.y0, b.y1));
    let (xs, xe) = valid_range(ow, w, g.stride[1], j * g.dilation[1], g.padding[1]);
    if xs >= xe {
        return;
    }
    for oy in ys..ye {
        let iy = oy * g.stride[0] + i * g.dilation[0] - g.padding[0];
        let ix0 = xs * g.stride[1] + j * g.dilation[1] - g.padding[1];
        let r = (oy - b.y0) * ow;
        let src = &row[r + xs..r + xe];
        let dst = &mut x[iy * w..(iy + 1) * w];
        if g.stride[1] == 1 {
            for (d, &s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                *d += s;
            }
        } else {
            for (k, &s) in src.iter().enumerate() {
                dst[ix0 + k * g.stride[1]] += s;
            }
        }
    }
}

/// The column matrix `[c_in * kh * kw, (y1 - y0) * ow]` of block `b` of one image `x`
/// (`[c_in, h, w]`), written to the front of `col`.
pub(super) fn im2col<T: Num>(x: &[T], g: &ConvGeom, b: Block, col: &mut [T], threads: usize) {
    let (kh, kw, hw) = (g.kernel[0], g.kernel[1], g.in_len());
    let lb = (b.y1 - b.y0) * g.out_hw[1];
    let col = &mut col[..g.c_in * kh * kw * lb];
    if lb == 0 {
        return;
    }
    let fill = |(r, row): (usize, &mut [T])| {
        let (c, t) = (r / (kh * kw), r % (kh * kw));
        im2col_row(&x[c * hw..(c + 1) * hw], g, t / kw, t % kw, b, row);
    };
    if threads > 1 && col.len() >= par::ELEMENTWISE_PAR_THRESHOLD {
        col.par_chunks_mut(lb).enumerate().for_each(fill);
    } else {
        col.chunks_mut(lb).enumerate().for_each(fill);
    }
}

/// Adds block `b`'s column matrix (the front of `col`) into `x` (`[c_in, h, w]`), the adjoint
/// of [`im2col`].
pub(super) fn col2im<T: Num>(col: &[T], g: &ConvGeom, b: Block, x: &mut [T], threads: usize) {
    let (kh, kw, hw) = (g.kernel[0], g.kernel[1], g.in_len());
    let lb = (b.y1 - b.y0) * g.out_hw[1];
    let per_c = kh * kw * lb;
    if hw == 0 || lb == 0 {
        return;
    }
    let add = |(c, plane): (usize, &mut [T])| {
        for t in 0..kh * kw {
            let r = c * per_c + t * lb;
            col2im_row(&col[r..r + lb], g, t / kw, t % kw, b, plane);
        }
    };
    if threads > 1 && g.c_in * per_c >= par::ELEMENTWISE_PAR_THRESHOLD {
        x.par_chunks_mut(hw).enumerate().for_each(add);
    } else {
        x.chunks_mut(hw).enumerate().for_each(add);
    }
}

/// The part of the `[rows, oh * ow]` matrix at `offset` (row stride `oh * ow`) that block `b`
/// covers.
pub(super) fn block_of(g: &ConvGeom, offset: usize, b: Block) -> MatLayout {
    MatLayout {
        offset: offset + b.y0 * g.out_hw[1],
        rs: g.out_len(),
        cs: 1,
    }
}
