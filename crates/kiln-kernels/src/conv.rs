//! 2-D convolution by im2col + gemm, NCHW, contiguous buffers.
//!
//! One [`ConvGeom`] describes a convolution; the three kernels compute its forward pass
//! ([`conv2d_forward`]), the gradient with respect to its input ([`conv2d_backward_data`], which
//! is also the forward pass of the transposed convolution) and with respect to its weight
//! ([`conv2d_backward_weight`]). Each works on a batch of images: images run in parallel (one
//! image per task, each with its share of the threads for gemm, one column buffer per task), a
//! single image uses all threads in gemm and im2col. The column matrix is built for a block of
//! output rows at a time (see `im2col`), so it stays in cache. A 1x1 convolution with stride 1
//! and no padding skips im2col: the image already is the column matrix. The input gradient of
//! a stride-1 convolution runs as a forward convolution with the flipped, transposed weight
//! (see `transposed_as_forward`), which needs no col2im.

mod im2col;

use crate::gemm::{gemm_with_threads, GemmElem, MatLayout};
use crate::num::Num;
use crate::par;
use im2col::{block_of, col2im, im2col};
use rayon::prelude::*;

/// Geometry of one 2-D convolution: `c_in` planes of `in_hw` are read, `c_out` planes of
/// `out_hw` are written; output `(oy, ox)` of kernel tap `(i, j)` reads input
/// `(oy * stride[0] + i * dilation[0] - padding[0], ox * stride[1] + j * dilation[1] - padding[1])`,
/// zero outside the input.
///
/// `out_hw` is explicit: callers compute it (it may be smaller than the natural size, which
/// computes a prefix of the output; taps that land outside the input read zero).
/// `groups` must divide `c_in` and `c_out`; the weight is `[c_out, c_in / groups, kh, kw]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c_in: usize,
    pub in_hw: [usize; 2],
    pub c_out: usize,
    pub out_hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvGeom {
    fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }
    fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of one group's column matrix (`c_in / groups * kh * kw`).
    fn k_g(&self) -> usize {
        self.cin_g() * self.kernel[0] * self.kernel[1]
    }
    fn in_len(&self) -> usize {
        self.in_hw[0] * self.in_hw[1]
    }
    fn out_len(&self) -> usize {
        self.out_hw[0] * self.out_hw[1]
    }
    /// Elements of the weight, `c_out * c_in / groups * kh * kw`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.k_g()
    }
    /// True when the column matrix is the image itself (1x1 kernel, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0] && self.out_hw == self.in_hw
    }
    /// Multiply-adds of one image's gemm.
    fn work(&self) -> usize {
        self.c_out * self.k_g() * self.out_len()
    }
    fn check(&self) {
        assert!(self.groups > 0 && self.c_in.is_multiple_of(self.groups) && self.c_out.is_multiple_of(self.groups));
        assert!(self.stride[0] > 0 && self.stride[1] > 0 && self.dilation[0] > 0 && self.dilation[1] > 0);
    }
}

/// Total work (multiply-adds) below which a whole call stays on the calling thread.
const CONV_SERIAL_WORK: usize = 1 << 16;

/// Work of one image (multiply-adds) from which the weight gradient splits a batch into
/// several tasks per thread.
const BIG_IMAGE_WORK: usize = 1 << 22;

/// How a batch is spread over threads.
#[derive(Clone, Copy)]
struct Plan {
    /// Images processed in parallel, one per task.
    outer: bool,
    /// Threads each image's gemm (and im2col) may use.
    inner: usize,
}

impl Plan {
    fn new(batch: usize, g: &ConvGeom) -> Plan {
        let threads = par::num_threads();
        if threads <= 1 || batch * g.work() < CONV_SERIAL_WORK {
            return Plan { outer: false, inner: 1 };
        }
        if batch >= 2 {
            Plan {
                outer: true,
                inner: (threads / batch).max(1),
            }
        } else {
            Plan {
                outer: false,
                inner: threads,
            }
        }
    }
}

/// Runs `f(image index, that image's output, scratch buffer, threads)` for every image of a
/// batch whose outputs are consecutive chunks of `out` (`item` elements each).
fn for_each_image<T: Num>(
    out: &mut [T],
    item: usize,
    scratch: usize,
    plan: Plan,
    f: impl Fn(usize, &mut [T], &mut Vec<T>, usize) + Sync + Send,
) {
    if item == 0 {
        return;
    }
    if plan.outer {
        out.par_chunks_mut(item)
            .enumerate()
            .for_each_init(|| vec![T::ZERO; scratch], |buf, (n, o)| f(n, o, buf, plan.inner));
    } else {
        let mut buf = vec![T::ZERO; scratch];
        for (n, o) in out.chunks_mut(item).enumerate() {
            f(n, o, &mut buf, plan.inner);
        }
    }
}

/// Forward convolution: `out[n] = conv(x[n], w) + bias` for `batch` images.
///
/// `x` is `[batch, c_in, h, w]`, `w` is `[c_out, c_in / groups, kh, kw]`, `bias` is `[c_out]`,
/// `out` is `[batch, c_out, oh, ow]`, all contiguous. Panics if a length does not match `g`.
pub fn conv2d_forward<T: GemmElem>(x: &[T], w: &[T], bias: Option<&[T]>, batch: usize, g: &ConvGeom, out: &mut [T]) {
    g.check();
    let (l, kg, cog) = (g.out_len(), g.k_g(), g.cout_g());
    assert_eq!(x.len(), batch * g.c_in * g.in_len(), "conv2d_forward: input length");
    assert_eq!(w.len(), g.weight_len(), "conv2d_forward: weight length");
    assert_eq!(out.len(), batch * g.c_out * l, "conv2d_forward: output length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.c_out, "conv2d_forward: bias length");
    }
    let pointwise = g.is_pointwise();
    let scratch = if pointwise { 0 } else { g.block_col_len() };
    let x_item = g.c_in * g.in_len();
    for_each_image(out, g.c_out * l, scratch, Plan::new(batch, g), |n, o, buf, threads| {
        if let Some(b) = bias {
            for (row, &bv) in o.chunks_mut(l).zip(b) {
                row.fill(bv);
            }
        }
        let xn = &x[n * x_item..(n + 1) * x_item];
        if pointwise {
            for grp in 0..g.groups {
                gemm_with_threads(
                    cog,
                    l,
                    kg,
                    w,
                    MatLayout::row_major(grp * cog * kg, kg),
                    xn,
                    MatLayout::row_major(grp * kg * l, l),
                    o,
                    MatLayout::row_major(grp * cog * l, l),
                    bias.is_some(),
                    threads,
                );
            }
            return;
        }
        for b in g.blocks() {
            let lb = (b.y1 - b.y0) * g.out_hw[1];
            im2col(xn, g, b, buf, threads);
            for grp in 0..g.groups {
                gemm_with_threads(
                    cog,
                    lb,
                    kg,
                    w,
                    MatLayout::row_major(grp * cog * kg, kg),
                    buf,
                    MatLayout::row_major(grp * kg * lb, lb),
                    o,
                    block_of(g, grp * cog * l, b),
                    bias.is_some(),
                    threads,
                );
            }
        }
    });
}

/// Gradient of [`conv2d_forward`] with respect to its input, which is also the transposed
/// convolution of `gout` with `w`: `gx[n] = conv_transpose(gout[n], w) + bias`.
///
/// `gout` is `[batch, c_out, oh, ow]`, `w` is `[c_out, c_in / groups, kh, kw]`, `bias` (one value
/// per *input* channel, for transposed convolutions) is `[c_in]`, `gx` is `[batch, c_in, h, w]`
/// and is overwritten. Panics if a length does not match `g`.
pub fn conv2d_backward_data<T: GemmElem>(
    gout: &[T],
    w: &[T],
    bias: Option<&[T]>,
    batch: usize,
    g: &ConvGeom,
    gx: &mut [T],
) {
    g.check();
    let (l, kg, cog, hw) = (g.out_len(), g.k_g(), g.cout_g(), g.in_len());
    assert_eq!(gout.len(), batch * g.c_out * l, "conv2d_backward_data: grad length");
    assert_eq!(w.len(), g.weight_len(), "conv2d_backward_data: weight length");
    assert_eq!(gx.len(), batch * g.c_in * hw, "conv2d_backward_data: output length");
    if let Some(b) = bias {
        assert_eq!(b.len(), g.c_in, "conv2d_backward_data: bias length");
    }
    let pointwise = g.is_pointwise();
    if !pointwise {
        if let Some((gt, wt)) = transposed_as_forward(g, w) {
            conv2d_forward(gout, &wt, bias, batch, &gt, gx);
            return;
        }
    }
    let scratch = if pointwise { 0 } else { g.block_col_len() };
    let go_item = g.c_out * l;
    for_each_image(gx, g.c_in * hw, scratch, Plan::new(batch, g), |n, xn, buf, threads| {
        let gn = &gout[n * go_item..(n + 1) * go_item];
        // col_g = w_g^T @ gout_g (one block of columns), w_g^T read through a transposed layout.
        let cols = |dst: &mut [T], lb: usize, src: &dyn Fn(usize) -> MatLayout, accumulate: bool| {
            for grp in 0..g.groups {
                gemm_with_threads(
                    kg,
                    lb,
                    cog,
                    w,
                    MatLayout {
                        offset: grp * cog * kg,
                        rs: 1,
                        cs: kg,
                    },
                    gn,
                    src(grp),
                    dst,
                    MatLayout::row_major(grp * kg * lb, lb),
                    accumulate,
                    threads,
                );
            }
        };
        match bias {
            Some(b) => {
                for (plane, &bv) in xn.chunks_mut(hw.max(1)).zip(b) {
                    plane.fill(bv);
                }
            }
            None if !pointwise => xn.fill(T::ZERO),
            None => {}
        }
        if pointwise {
            cols(xn, l, &|grp| MatLayout::row_major(grp * cog * l, l), bias.is_some());
            return;
        }
        for b in g.blocks() {
            let lb = (b.y1 - b.y0) * g.out_hw[1];
            cols(buf, lb, &|grp| block_of(g, grp * cog * l, b), false);
            col2im(buf, g, b, xn, threads);
        }
    });
}

/// For a stride-1 convolution whose padding is at most its dilated kernel span, the gradient
/// with respect to the input is itself a forward convolution: of `gout` with the weight
/// transposed to `[c_in, c_out / groups, kh, kw]` and flipped in both spatial dims, padding
/// `dilation * (kernel - 1) - padding`. Returns that convolution's geometry and weight, or
/// `None` when it does not apply. Computing it this way avoids col2im and keeps the gemm's inner
/// dimension large (`c_out / groups * kh * kw` instead of `c_out / groups`).
fn transposed_as_forward<T: Num>(g: &ConvGeom, w: &[T]) -> Option<(ConvGeom, Vec<T>)> {
    if g.stride != [1, 1] {
        return None;
    }
    let mut padding = [0; 2];
    for (i, p) in padding.iter_mut().enumerate() {
        *p = (g.dilation[i] * (g.kernel[i].max(1) - 1)).checked_sub(g.padding[i])?;
    }
    let (cin_g, cog, [kh, kw]) = (g.cin_g(), g.cout_g(), g.kernel);
    let kk = kh * kw;
    let mut wt = vec![T::ZERO; w.len()];
    for grp in 0..g.groups {
        for o in 0..cog {
            for c in 0..cin_g {
                let src = &w[((grp * cog + o) * cin_g + c) * kk..][..kk];
                let dst = &mut wt[((grp * cin_g + c) * cog + o) * kk..][..kk];
                for (d, &s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = s;
                }
            }
        }
    }
    let gt = ConvGeom {
        c_in: g.c_out,
        in_hw: g.out_hw,
        c_out: g.c_in,
        out_hw: g.in_hw,
        kernel: g.kernel,
        stride: [1, 1],
        padding,
        dilation: g.dilation,
        groups: g.groups,
    };
    Some((gt, wt))
}

/// Gradient of [`conv2d_forward`] with respect to its weight: `gw = Σ_n gout[n] @ im2col(x[n])^T`.
///
/// `x` is `[batch, c_in, h, w]`, `gout` is `[batch, c_out, oh, ow]`, `gw` is
/// `[c_out, c_in / groups, kh, kw]` and is overwritten. Panics if a length does not match `g`.
pub fn conv2d_backward_weight<T: GemmElem>(x: &[T], gout: &[T], batch: usize, g: &ConvGeom, gw: &mut [T]) {
    g.check();
    let (l, kg, cog, hw) = (g.out_len(), g.k_g(), g.cout_g(), g.in_len());
    assert_eq!(x.len(), batch * g.c_in * hw, "conv2d_backward_weight: input length");
    assert_eq!(gout.len(), batch * g.c_out * l, "conv2d_backward_weight: grad length");
    assert_eq!(gw.len(), g.weight_len(), "conv2d_backward_weight: weight length");
    let pointwise = g.is_pointwise();
    let scratch = if pointwise { 0 } else { g.block_col_len() };
    let (x_item, go_item) = (g.c_in * hw, g.c_out * l);
    // Sums are accumulated with each group's [cog, kg] block column-major (gemm writes that
    // layout several times faster for these shapes) and transposed into `gw` at the end.
    // gw_g += gout_g (block columns) @ col_g^T.
    let accumulate =
        |gn: &[T], col: &[T], lb: usize, go: &dyn Fn(usize) -> MatLayout, acc: &mut [T], threads: usize| {
            for grp in 0..g.groups {
                gemm_with_threads(
                    cog,
                    kg,
                    lb,
                    gn,
                    go(grp),
                    col,
                    MatLayout {
                        offset: grp * kg * lb,
                        rs: 1,
                        cs: lb,
                    },
                    acc,
                    MatLayout {
                        offset: grp * cog * kg,
                        rs: 1,
                        cs: cog,
                    },
                    true,
                    threads,
                );
            }
        };
    // Adds image n's contribution into `acc`.
    let add_image = |n: usize, acc: &mut [T], buf: &mut [T], threads: usize| {
        let xn = &x[n * x_item..(n + 1) * x_item];
        let gn = &gout[n * go_item..(n + 1) * go_item];
        if pointwise {
            accumulate(gn, xn, l, &|grp| MatLayout::row_major(grp * cog * l, l), acc, threads);
            return;
        }
        for b in g.blocks() {
            let lb = (b.y1 - b.y0) * g.out_hw[1];
            im2col(xn, g, b, buf, threads);
            accumulate(gn, buf, lb, &|grp| block_of(g, grp * cog * l, b), acc, threads);
        }
    };
    let plan = Plan::new(batch, g);
    let mut total = vec![T::ZERO; gw.len()];
    if plan.outer {
        // Contiguous ranges of images per task, partial sums added in a fixed order. Big images
        // get several tasks per thread, so that a descheduled thread's share is stolen; small
        // ones one task per thread (each task has its own buffers). The split depends only on
        // the batch, the geometry and the thread count, so results are reproducible.
        let per_thread = if g.work() >= BIG_IMAGE_WORK {
            par::CHUNKS_PER_THREAD
        } else {
            1
        };
        let tasks = (par::num_threads() * per_thread).min(batch);
        let per = batch.div_ceil(tasks);
        let partials: Vec<Vec<T>> = (0..batch.div_ceil(per))
            .into_par_iter()
            .map(|t| {
                let mut acc = vec![T::ZERO; gw.len()];
                let mut buf = vec![T::ZERO; scratch];
                for n in t * per..((t + 1) * per).min(batch) {
                    add_image(n, &mut acc, &mut buf, plan.inner);
                }
                acc
            })
            .collect();
        for p in partials {
            for (d, s) in total.iter_mut().zip(p) {
                *d += s;
            }
        }
    } else {
        let mut buf = vec![T::ZERO; scratch];
        for n in 0..batch {
            add_image(n, &mut total, &mut buf, plan.inner);
        }
    }
    for grp in 0..g.groups {
        let base = grp * cog * kg;
        for o in 0..cog {
            for r in 0..kg {
                gw[base + o * kg + r] = total[base + r * cog + o];
            }
        }
    }
}

/// Sum of one contiguous run, eight lanes in `T`, combined in f64.
fn run_sum<T: Num>(v: &[T]) -> f64 {
    let mut acc = [T::ZERO; 8];
    let chunks = v.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().chain(rem).map(|a| a.to_f64()).sum()
}

/// Per-channel sums of `x` (`[batch, channels, plane]`) into `out` (`[channels]`): the bias
/// gradient of a convolution. Panics on length mismatch.
pub fn sum_channels<T: Num>(x: &[T], batch: usize, channels: usize, plane: usize, out: &mut [T]) {
    assert_eq!(x.len(), batch * channels * plane, "sum_channels: input length");
    assert_eq!(out.len(), channels, "sum_channels: output length");
    let one = |(c, o): (usize, &mut T)| {
        let s: f64 = (0..batch)
            .map(|n| run_sum(&x[(n * channels + c) * plane..(n * channels + c + 1) * plane]))
            .sum();
        *o = T::from_f64(s);
    };
    if par::should_split(x.len(), par::ELEMENTWISE_PAR_THRESHOLD) && channels > 1 {
        out.par_iter_mut().enumerate().for_each(one);
    } else {
        out.iter_mut().enumerate().for_each(one);
    }
}

/// Reference convolution by direct loops (the tests' oracle), same contract as
/// [`conv2d_forward`].
pub fn conv2d_naive<T: Num>(x: &[T], w: &[T], bias: Option<&[T]>, batch: usize, g: &ConvGeom, out: &mut [T]) {
    let ([h, wd], [oh, ow], [kh, kw]) = (g.in_hw, g.out_hw, g.kernel);
    let (cig, cog) = (g.cin_g(), g.cout_g());
    for n in 0..batch {
        for co in 0..g.c_out {
            let grp = co / cog;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias.map_or(T::ZERO, |b| b[co]);
                    for ci in 0..cig {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.padding[0] as isize;
                                let ix = (ox * g.stride[1] + j * g.dilation[1]) as isize - g.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let c = grp * cig + ci;
                                let xv = x[((n * g.c_in + c) * h + iy as usize) * wd + ix as usize];
                                acc += xv * w[((co * cig + ci) * kh + i) * kw + j];
                            }
                        }
                    }
                    out[((n * g.c_out + co) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom() -> ConvGeom {
        ConvGeom {
            c_in: 4,
            in_hw: [7, 6],
            c_out: 6,
            out_hw: [3, 3],
            kernel: [3, 2],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [1, 2],
            groups: 2,
        }
    }

    fn data(n: usize, seed: usize) -> Vec<f64> {
        (0..n).map(|i| (((i + seed) * 7919) % 23) as f64 / 11.0 - 1.0).collect()
    }

    /// A geometry whose column matrix is cut into several blocks of output rows.
    fn blocked() -> ConvGeom {
        ConvGeom {
            c_in: 64,
            in_hw: [40, 37],
            c_out: 4,
            out_hw: [40, 37],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 2,
        }
    }

    #[test]
    fn forward_matches_naive() {
        assert!(blocked().blocks().count() > 2);
        for (g, batch) in [(geom(), 2), (blocked(), 1)] {
            let (xl, ol) = (g.c_in * g.in_len(), g.c_out * g.out_len());
            let (x, w, b) = (data(batch * xl, 1), data(g.weight_len(), 2), data(g.c_out, 3));
            let mut fast = vec![0.0; batch * ol];
            let mut slow = vec![0.0; batch * ol];
            conv2d_forward(&x, &w, Some(&b), batch, &g, &mut fast);
            conv2d_naive(&x, &w, Some(&b), batch, &g, &mut slow);
            for (a, e) in fast.iter().zip(&slow) {
                assert!((a - e).abs() < 1e-9, "{a} vs {e}");
            }
        }
    }

    /// <conv(x, w), y> = <x, conv_backward_data(y, w)> = <w, conv_backward_weight(x, y)>.
    #[test]
    fn backward_kernels_are_adjoints() {
        for (g, batch) in [(geom(), 2), (blocked(), 1), (blocked(), 3)]
            .into_iter()
            .chain(stride_one().into_iter().map(|g| (g, 2)))
        {
            let (xl, ol) = (g.c_in * g.in_len(), g.c_out * g.out_len());
            let (x, w, y) = (data(batch * xl, 1), data(g.weight_len(), 2), data(batch * ol, 5));
            let mut out = vec![0.0; y.len()];
            conv2d_forward(&x, &w, None, batch, &g, &mut out);
            let lhs: f64 = out.iter().zip(&y).map(|(a, b)| a * b).sum();
            let mut gx = vec![7.0; x.len()];
            conv2d_backward_data(&y, &w, None, batch, &g, &mut gx);
            let mid: f64 = gx.iter().zip(&x).map(|(a, b)| a * b).sum();
            let mut gw = vec![7.0; w.len()];
            conv2d_backward_weight(&x, &y, batch, &g, &mut gw);
            let rhs: f64 = gw.iter().zip(&w).map(|(a, b)| a * b).sum();
            let tol = 1e-9 * lhs.abs().max(1.0);
            assert!((lhs - mid).abs() < tol && (lhs - rhs).abs() < tol, "{lhs} {mid} {rhs}");
        }
    }

    /// Stride-1 geometries: input gradient as a forward convolution (with dilation, asymmetric
    /// kernels, groups, an output prefix, a width that differs from the input's), and padding
    /// past the kernel span (the col2im path).
    fn stride_one() -> Vec<ConvGeom> {
        let base = ConvGeom {
            c_in: 4,
            in_hw: [8, 9],
            c_out: 6,
            out_hw: [8, 9],
            kernel: [3, 3],
            stride: [1, 1],
            padding: [2, 2],
            dilation: [2, 2],
            groups: 2,
        };
        vec![
            base,
            ConvGeom { out_hw: [5, 7], ..base },
            ConvGeom {
                kernel: [3, 2],
                padding: [1, 1],
                dilation: [2, 1],
                out_hw: [6, 10],
                groups: 1,
                ..base
            },
            ConvGeom {
                kernel: [1, 1],
                padding: [1, 1],
                dilation: [1, 1],
                out_hw: [10, 11],
                ..base
            },
        ]
    }

    /// Both ways of computing the input gradient of a stride-1 convolution agree with the
    /// naive loops through the adjoint identity, and match the forward pass on the naive oracle.
    #[test]
    fn stride_one_forward_matches_naive() {
        for g in stride_one() {
            let (xl, ol) = (g.c_in * g.in_len(), g.c_out * g.out_len());
            let (x, w, b) = (data(2 * xl, 1), data(g.weight_len(), 2), data(g.c_out, 3));
            let mut fast = vec![0.0; 2 * ol];
            let mut slow = vec![0.0; 2 * ol];
            conv2d_forward(&x, &w, Some(&b), 2, &g, &mut fast);
            conv2d_naive(&x, &w, Some(&b), 2, &g, &mut slow);
            for (a, e) in fast.iter().zip(&slow) {
                assert!((a - e).abs() < 1e-9, "{g:?}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn valid_range_edges() {
        // stride 2, padding 1, offset 0: input index 2o - 1 in 0..5 for o in 1..3.
        assert_eq!(im2col::valid_range(4, 5, 2, 0, 1), (1, 3));
        assert_eq!(im2col::valid_range(4, 0, 1, 0, 0), (0, 0));
        assert_eq!(im2col::valid_range(3, 2, 1, 5, 0), (0, 0));
    }
}
