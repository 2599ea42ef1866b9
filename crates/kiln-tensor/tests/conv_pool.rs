//! Convolution and pooling: values against hand-computed numbers and naive loops, f64
//! finite-difference gradient checks (first and second order), a property test of conv2d
//! against a 7-loop reference, and the error messages.

use kiln_tensor::testing::{assert_close, gradcheck, GradcheckOptions};
use kiln_tensor::{
    enable_grad, grad, manual_seed, Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, DType, Padding,
    Pool2dOptions, Result, Tensor,
};
use proptest::prelude::*;

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor], what: &str) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Spatial convolution arguments of the naive reference.
#[derive(Clone, Copy, Debug)]
struct Geo {
    stride: [usize; 2],
    pad_lo: [usize; 2],
    pad_hi: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

/// conv2d by its definition: seven nested loops over n, c_out, oy, ox, c_in, ky, kx.
fn naive_conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: Geo) -> Tensor {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (xv, wv) = (x.to_vec_f64(), w.to_vec_f64());
    let bv = b.map(|b| b.to_vec_f64());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (co, cig, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let cog = co / g.groups;
    let out = |i: usize, len: usize, k: usize| {
        (len + g.pad_lo[i] + g.pad_hi[i] - g.dilation[i] * (k - 1) - 1) / g.stride[i] + 1
    };
    let (oh, ow) = (out(0, h, kh), out(1, wd, kw));
    let mut y = vec![0.0; n * co * oh * ow];
    for ni in 0..n {
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bv.as_ref().map_or(0.0, |b| b[o]);
                    for ci in 0..cig {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.pad_lo[0] as isize;
                                let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.pad_lo[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let cin = (o / cog) * cig + ci;
                                acc += xv[((ni * c + cin) * h + iy as usize) * wd + ix as usize]
                                    * wv[((o * cig + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    y[((ni * co + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    Tensor::from_vec(y, &[n, co, oh, ow]).unwrap()
}

fn sym(stride: usize, pad: usize, dilation: usize, groups: usize) -> Geo {
    Geo {
        stride: [stride; 2],
        pad_lo: [pad; 2],
        pad_hi: [pad; 2],
        dilation: [dilation; 2],
        groups,
    }
}

fn opts(g: Geo) -> Conv2dOptions {
    Conv2dOptions::default()
        .stride(g.stride)
        .padding(g.pad_lo)
        .dilation(g.dilation)
        .groups(g.groups)
}

// ---------------------------------------------------------------- values

#[test]
fn conv2d_hand_computed() -> Result<()> {
    // 1 image, 1 channel 3x3, 2x2 kernel of ones plus bias 1: sums of each 2x2 block + 1.
    let x = Tensor::from_vec((1..=9).map(f64::from).collect(), &[1, 1, 3, 3])?;
    let w = Tensor::ones(&[1, 1, 2, 2], DType::F64);
    let b = Tensor::from_vec(vec![1.0], &[1])?;
    let y = x.conv2d(&w, Some(&b), Conv2dOptions::default())?;
    assert_eq!(y.shape(), &[1, 1, 2, 2]);
    assert_eq!(y.to_vec::<f64>()?, vec![13.0, 17.0, 25.0, 29.0]);
    // Padding 1, stride 2: windows clipped by the padding.
    let y = x.conv2d(&w, None, Conv2dOptions::default().padding(1).stride(2))?;
    assert_eq!(y.to_vec::<f64>()?, vec![1.0, 5.0, 11.0, 28.0]);
    Ok(())
}

#[test]
fn conv2d_matches_naive_on_fixed_cases() {
    manual_seed(10);
    let cases = [
        ([2, 4, 7, 6], [6, 2, 3, 2], sym(2, 1, 1, 2)),
        ([3, 3, 5, 5], [4, 3, 1, 1], sym(1, 0, 1, 1)), // 1x1: the plain gemm path
        ([2, 3, 6, 6], [4, 3, 1, 1], sym(2, 0, 1, 1)), // 1x1 with stride: im2col
        ([1, 2, 9, 8], [2, 1, 3, 3], sym(1, 2, 2, 2)), // dilation, depthwise
        ([4, 8, 12, 12], [16, 8, 3, 3], sym(1, 1, 1, 1)), // batch in parallel
        ([1, 16, 24, 20], [8, 16, 3, 3], sym(1, 1, 1, 1)), // one large image: threaded gemm
    ];
    for (xs, ws, g) in cases {
        let (x, w, b) = (randn(&xs), randn(&ws), randn(&[ws[0]]));
        let y = x.conv2d(&w, Some(&b), opts(g)).unwrap();
        assert_close(&y, &naive_conv2d(&x, &w, Some(&b), g), 1e-10, 1e-10);
        // f32 and the half dtypes (computed in f32) agree within their precision.
        for (dt, tol) in [(DType::F32, 1e-4), (DType::F16, 3e-2), (DType::BF16, 1e-1)] {
            let yd = x
                .to_dtype(dt)
                .unwrap()
                .conv2d(&w.to_dtype(dt).unwrap(), Some(&b.to_dtype(dt).unwrap()), opts(g))
                .unwrap();
            assert_eq!(yd.dtype(), dt);
            assert_close(&yd.to_dtype(DType::F64).unwrap(), &y, tol, tol * 10.0);
        }
    }
}

#[test]
fn conv2d_same_padding_even_kernel_pads_at_the_end() -> Result<()> {
    manual_seed(11);
    let (x, w) = (randn(&[2, 2, 5, 6]), randn(&[3, 2, 4, 2]));
    let y = x.conv2d(&w, None, Conv2dOptions::default().padding(Padding::Same))?;
    assert_eq!(y.shape(), &[2, 3, 5, 6]);
    // Total padding 3 rows: 1 before, 2 after; 1 column: 0 before, 1 after (PyTorch's rule).
    let g = Geo {
        stride: [1, 1],
        pad_lo: [1, 0],
        pad_hi: [2, 1],
        dilation: [1, 1],
        groups: 1,
    };
    assert_close(&y, &naive_conv2d(&x, &w, None, g), 1e-12, 1e-12);
    // Dilation 2 with an odd span stays symmetric.
    let y = x.conv2d(&w, None, Conv2dOptions::default().padding(Padding::Same).dilation(2))?;
    let g = Geo {
        stride: [1, 1],
        pad_lo: [3, 1],
        pad_hi: [3, 1],
        dilation: [2, 2],
        groups: 1,
    };
    assert_close(&y, &naive_conv2d(&x, &w, None, g), 1e-12, 1e-12);
    let v = x.conv2d(&w, None, Conv2dOptions::default().padding(Padding::Valid))?;
    assert_eq!(v.shape(), &[2, 3, 2, 5]);
    Ok(())
}

#[test]
fn unbatched_inputs() -> Result<()> {
    manual_seed(12);
    let (x, w) = (randn(&[3, 6, 5]), randn(&[4, 3, 3, 3]));
    let y = x.conv2d(&w, None, Conv2dOptions::default().padding(1))?;
    assert_eq!(y.shape(), &[4, 6, 5]);
    assert_close(
        &y,
        &x.unsqueeze(0)?
            .conv2d(&w, None, Conv2dOptions::default().padding(1))?
            .squeeze_dim(0)?,
        0.0,
        0.0,
    );
    let t = x.conv_transpose2d(&w.transpose(0, 1)?, None, ConvTranspose2dOptions::default())?;
    assert_eq!(t.shape(), &[4, 8, 7]);
    let (p, i) = x.max_pool2d_with_indices(2)?;
    assert_eq!((p.shape(), i.shape()), (&[3, 3, 2][..], &[3, 3, 2][..]));
    assert_eq!(x.avg_pool2d(2)?.shape(), &[3, 3, 2]);
    assert_eq!(x.adaptive_avg_pool2d([4, 4])?.shape(), &[3, 4, 4]);
    let l = randn(&[2, 9]).conv1d(&randn(&[5, 2, 3]), None, Conv1dOptions::default())?;
    assert_eq!(l.shape(), &[5, 7]);
    Ok(())
}

#[test]
fn conv1d_matches_conv2d_of_height_one() -> Result<()> {
    manual_seed(13);
    let (x, w, b) = (randn(&[2, 4, 11]), randn(&[6, 2, 3]), randn(&[6]));
    let o = Conv1dOptions::default().stride(2).padding(2).dilation(2).groups(2);
    let y = x.conv1d(&w, Some(&b), o)?;
    let g = Geo {
        stride: [1, 2],
        pad_lo: [0, 2],
        pad_hi: [0, 2],
        dilation: [1, 2],
        groups: 2,
    };
    let r = naive_conv2d(&x.unsqueeze(2)?, &w.unsqueeze(2)?, Some(&b), g).squeeze_dim(2)?;
    assert_eq!(y.shape(), &[2, 6, 6]);
    assert_close(&y, &r, 1e-12, 1e-12);
    let s = x.conv1d(
        &randn(&[3, 4, 4]),
        None,
        Conv1dOptions::default().padding(Padding::Same),
    )?;
    assert_eq!(s.shape(), &[2, 3, 11]);
    Ok(())
}

#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() -> Result<()> {
    // <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the matching output size.
    manual_seed(14);
    let (x, w) = (randn(&[2, 4, 9, 8]), randn(&[6, 2, 3, 2]));
    let o = Conv2dOptions::default()
        .stride([2, 3])
        .padding([1, 0])
        .dilation([1, 2])
        .groups(2);
    let y = x.conv2d(&w, None, o)?;
    let r = randn(y.shape());
    // oH = (5 - 1) * 2 - 2 + 2 + 1 = 9 (+0), oW = (2 - 1) * 3 + 2 + 1 = 6 (+2 to reach 8).
    let t = r.conv_transpose2d(
        &w,
        None,
        ConvTranspose2dOptions::default()
            .stride([2, 3])
            .padding([1, 0])
            .dilation([1, 2])
            .output_padding([0, 2])
            .groups(2),
    )?;
    assert_eq!(t.shape(), x.shape());
    let lhs = y.mul(&r)?.sum()?.item::<f64>()?;
    let rhs = x.mul(&t)?.sum()?.item::<f64>()?;
    assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
    Ok(())
}

#[test]
fn conv_transpose2d_hand_computed() -> Result<()> {
    // Each input pixel stamps the kernel at stride 2; overlaps add up; bias 10.
    let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 1, 1, 2])?;
    let w = Tensor::from_vec(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0], &[1, 1, 2, 3])?;
    let b = Tensor::from_vec(vec![10.0], &[1])?;
    let y = x.conv_transpose2d(&w, Some(&b), ConvTranspose2dOptions::default().stride(2))?;
    assert_eq!(y.shape(), &[1, 1, 2, 5]);
    assert_eq!(
        y.to_vec::<f64>()?,
        vec![11.0, 11.0, 13.0, 12.0, 12.0, 11.0, 11.0, 13.0, 12.0, 12.0]
    );
    let y = x.conv_transpose2d(&w, None, ConvTranspose2dOptions::default().stride(2).output_padding(1))?;
    assert_eq!(y.shape(), &[1, 1, 3, 6]);
    assert_eq!(&y.to_vec::<f64>()?[12..], &[0.0; 6]);
    Ok(())
}

#[test]
fn pooling_values() -> Result<()> {
    let x = Tensor::arange(0.0, 20.0, 1.0, DType::F64)?.reshape(&[1, 1, 4, 5])?;
    let (m, i) = x.max_pool2d_with_indices(Pool2dOptions::new(2).ceil_mode(true))?;
    assert_eq!(m.shape(), &[1, 1, 2, 3]);
    assert_eq!(m.to_vec::<f64>()?, vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0]);
    assert_eq!(i.to_vec::<i64>()?, vec![6, 8, 9, 16, 18, 19]);
    assert_eq!(i.dtype(), DType::I64);
    // Padding never wins, even against negative values.
    let neg = x.neg()?;
    let (m, i) = neg.max_pool2d_with_indices(Pool2dOptions::new(3).stride(2).padding(1))?;
    assert_eq!(m.to_vec::<f64>()?, vec![0.0, -1.0, -3.0, -5.0, -6.0, -8.0]);
    assert_eq!(i.to_vec::<i64>()?, vec![0, 1, 3, 5, 6, 8]);
    // Dilation 2: the window picks every other element.
    let m = x.max_pool2d(Pool2dOptions::new(2).stride(1).dilation(2))?;
    assert_eq!(m.to_vec::<f64>()?, vec![12.0, 13.0, 14.0, 17.0, 18.0, 19.0]);

    let o = Pool2dOptions::new(2).padding(1);
    let with = x.avg_pool2d(o)?; // divisor 4 everywhere
    let without = x.avg_pool2d(o.count_include_pad(false))?;
    assert_eq!(with.shape(), &[1, 1, 3, 3]);
    assert_eq!(with.to_vec::<f64>()?[..3], [0.0, 3.0 / 4.0, 7.0 / 4.0]);
    assert_eq!(without.to_vec::<f64>()?[..3], [0.0, 1.5, 3.5]);
    assert_eq!(without.to_vec::<f64>()?[4], (6.0 + 7.0 + 11.0 + 12.0) / 4.0);
    // ceil_mode: the last window is cut by the input's end, divided by its clipped size
    // (with count_include_pad it still counts only up to the padded end).
    let c = x.avg_pool2d(Pool2dOptions::new(2).ceil_mode(true))?;
    assert_eq!(c.shape(), &[1, 1, 2, 3]);
    assert_eq!(c.to_vec::<f64>()?[2], (4.0 + 9.0) / 2.0);
    // divisor_override replaces every divisor, clipped or padded windows included.
    let d = x.avg_pool2d(o.divisor_override(Some(3)))?;
    assert_eq!(d.shape(), &[1, 1, 3, 3]);
    assert_eq!(d.to_vec::<f64>()?[..3], [0.0, 3.0 / 3.0, 7.0 / 3.0]);
    assert_eq!(d.to_vec::<f64>()?[4], (6.0 + 7.0 + 11.0 + 12.0) / 3.0);
    let dc = x.avg_pool2d(Pool2dOptions::new(2).ceil_mode(true).divisor_override(Some(5)))?;
    assert_eq!(
        dc.to_vec::<f64>()?,
        vec![12.0 / 5.0, 20.0 / 5.0, 13.0 / 5.0, 52.0 / 5.0, 60.0 / 5.0, 33.0 / 5.0]
    );

    // Adaptive 4x5 -> 3x2: rows [0,2) [1,3) [2,4), cols [0,3) [2,5).
    let a = x.adaptive_avg_pool2d([3, 2])?;
    let mean = |rows: [usize; 2], cols: [usize; 2]| {
        let mut s = 0.0;
        for r in rows[0]..rows[1] {
            for c in cols[0]..cols[1] {
                s += (r * 5 + c) as f64;
            }
        }
        s / ((rows[1] - rows[0]) * (cols[1] - cols[0])) as f64
    };
    let expected: Vec<f64> = [[0, 2], [1, 3], [2, 4]]
        .iter()
        .flat_map(|&r| [[0, 3], [2, 5]].map(|c| mean(r, c)))
        .collect();
    assert_close(&a, &Tensor::from_vec(expected, &[1, 1, 3, 2])?, 1e-12, 1e-12);
    Ok(())
}

#[test]
fn max_pool_window_entirely_in_padding() -> Result<()> {
    // Taps at -1 and 1 of a 1x1 input (kernel 2, dilation 2, padding 1) both miss the input.
    let x = Tensor::from_vec(vec![3.0f64], &[1, 1, 1, 1])?.requires_grad_(true);
    let (m, i) = x.max_pool2d_with_indices(Pool2dOptions::new(2).stride(1).padding(1).dilation(2))?;
    assert_eq!(m.to_vec::<f64>()?, vec![f64::NEG_INFINITY]);
    assert_eq!(i.to_vec::<i64>()?, vec![-1]);
    m.backward_with(&Tensor::ones(&[1, 1, 1, 1], DType::F64), Default::default())?;
    assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![0.0]);
    Ok(())
}

#[test]
fn max_pool_propagates_nan_and_handles_half() -> Result<()> {
    let x = Tensor::from_vec(vec![1.0f32, f32::NAN, 3.0, 2.0], &[1, 1, 2, 2])?;
    let (m, i) = x.max_pool2d_with_indices(2)?;
    assert!(m.item::<f32>()?.is_nan());
    assert_eq!(i.item::<i64>()?, 1);
    let h = Tensor::arange(0.0, 16.0, 1.0, DType::F16)?.reshape(&[1, 1, 4, 4])?;
    assert_eq!(h.max_pool2d(2)?.dtype(), DType::F16);
    assert_eq!(h.avg_pool2d(4)?.to_vec_f64(), vec![7.5]);
    Ok(())
}

// ---------------------------------------------------------------- gradients

#[test]
fn conv2d_gradcheck() {
    manual_seed(20);
    let cases: Vec<(&str, [usize; 4], [usize; 4], Conv2dOptions)> = vec![
        ("plain", [2, 2, 5, 4], [3, 2, 3, 2], Conv2dOptions::default()),
        (
            "stride+pad",
            [1, 2, 5, 6],
            [2, 2, 3, 3],
            Conv2dOptions::default().stride([2, 3]).padding([1, 2]),
        ),
        (
            "same even",
            [1, 1, 4, 5],
            [2, 1, 2, 4],
            Conv2dOptions::default().padding(Padding::Same),
        ),
        (
            "dilation",
            [1, 1, 7, 6],
            [2, 1, 2, 3],
            Conv2dOptions::default().dilation([3, 2]).padding(1),
        ),
        (
            "groups",
            [2, 4, 4, 4],
            [6, 2, 2, 2],
            Conv2dOptions::default().groups(2).stride(2).padding(1),
        ),
        ("pointwise", [2, 3, 3, 3], [2, 3, 1, 1], Conv2dOptions::default()),
    ];
    for (name, xs, ws, o) in cases {
        let (x, w, b) = (randn(&xs), randn(&ws), randn(&[ws[0]]));
        check(|i| i[0].conv2d(&i[1], Some(&i[2]), o), &[&x, &w, &b], name);
        check(|i| i[0].conv2d(&i[1], None, o), &[&x, &w], name);
    }
    // Non-contiguous input: the transpose of a [N, C, W, H] tensor; and a strided weight slice.
    let (xt, w) = (randn(&[1, 2, 4, 5]), randn(&[2, 4, 3, 3]));
    check(
        |i| {
            i[0].transpose(2, 3)?
                .conv2d(&i[1].slice(1, 0, None, 2)?, None, Conv2dOptions::default().padding(1))
        },
        &[&xt, &w],
        "non-contiguous",
    );
    // Unbatched.
    let (x, w) = (randn(&[2, 4, 4]), randn(&[3, 2, 2, 2]));
    check(
        |i| i[0].conv2d(&i[1], None, Conv2dOptions::default()),
        &[&x, &w],
        "unbatched",
    );
}

#[test]
fn conv1d_gradcheck() {
    manual_seed(21);
    let cases = [
        ("plain", Conv1dOptions::default()),
        ("stride+pad", Conv1dOptions::default().stride(2).padding(1)),
        ("same", Conv1dOptions::default().padding(Padding::Same)),
        (
            "dilation+groups",
            Conv1dOptions::default().dilation(2).groups(2).padding(2),
        ),
    ];
    let (x, w, b) = (randn(&[2, 4, 7]), randn(&[2, 2, 4]), randn(&[2]));
    for (name, o) in cases {
        let w = if o.groups == 2 { w.clone() } else { randn(&[2, 4, 4]) };
        check(|i| i[0].conv1d(&i[1], Some(&i[2]), o), &[&x, &w, &b], name);
    }
}

#[test]
fn conv_transpose2d_gradcheck() {
    manual_seed(22);
    let cases: Vec<(&str, [usize; 4], [usize; 4], ConvTranspose2dOptions)> = vec![
        ("plain", [2, 2, 3, 3], [2, 3, 2, 2], ConvTranspose2dOptions::default()),
        (
            "stride+output_padding",
            [1, 2, 3, 2],
            [2, 2, 3, 2],
            ConvTranspose2dOptions::default()
                .stride([2, 3])
                .padding(1)
                .output_padding([1, 2]),
        ),
        (
            "groups+dilation",
            [1, 4, 3, 3],
            [4, 1, 2, 2],
            ConvTranspose2dOptions::default().groups(2).dilation(2).stride(2),
        ),
        (
            "output_padding past stride",
            [1, 1, 3, 3],
            [1, 2, 2, 2],
            ConvTranspose2dOptions::default().dilation(3).output_padding(2),
        ),
    ];
    for (name, xs, ws, o) in cases {
        let c_out = ws[1] * o.groups;
        let (x, w, b) = (randn(&xs), randn(&ws), randn(&[c_out]));
        check(|i| i[0].conv_transpose2d(&i[1], Some(&i[2]), o), &[&x, &w, &b], name);
    }
}

#[test]
fn pooling_gradcheck() {
    manual_seed(23);
    // randn values are distinct, so max pooling has no ties for the finite differences.
    let x = randn(&[2, 2, 5, 6]);
    let max_cases = [
        Pool2dOptions::new(2),
        Pool2dOptions::new(3).stride(2).padding(1),
        Pool2dOptions::new([2, 3]).stride(1).dilation([2, 1]),
        Pool2dOptions::new(2).ceil_mode(true),
    ];
    for o in max_cases {
        check(|i| i[0].max_pool2d(o), &[&x], &format!("max_pool2d {o:?}"));
    }
    let avg_cases = [
        Pool2dOptions::new(2),
        Pool2dOptions::new(3).stride(2).padding(1),
        Pool2dOptions::new(3).stride(2).padding(1).count_include_pad(false),
        Pool2dOptions::new([2, 3]).ceil_mode(true),
        Pool2dOptions::new([2, 3])
            .ceil_mode(true)
            .padding([1, 1])
            .count_include_pad(false),
        Pool2dOptions::new(2).divisor_override(Some(3)),
        Pool2dOptions::new(3).stride(2).padding(1).divisor_override(Some(7)),
        Pool2dOptions::new([2, 3])
            .ceil_mode(true)
            .padding([1, 1])
            .count_include_pad(false)
            .divisor_override(Some(1)),
    ];
    for o in avg_cases {
        check(|i| i[0].avg_pool2d(o), &[&x], &format!("avg_pool2d {o:?}"));
    }
    for out in [[3, 4], [2, 5], [1, 1], [5, 6], [4, 7]] {
        check(|i| i[0].adaptive_avg_pool2d(out), &[&x], &format!("adaptive {out:?}"));
    }
    // Non-contiguous and unbatched inputs.
    check(|i| i[0].transpose(2, 3)?.max_pool2d(2), &[&x], "max_pool2d transposed");
    check(|i| i[0].select(0, 1)?.avg_pool2d(2), &[&x], "avg_pool2d unbatched");
    check(
        |i| {
            i[0].transpose(2, 3)?
                .avg_pool2d(Pool2dOptions::new(2).divisor_override(Some(5)))
        },
        &[&x],
        "avg_pool2d divisor_override transposed",
    );
    check(
        |i| i[0].transpose(1, 3)?.adaptive_avg_pool2d([2, 3]),
        &[&x],
        "adaptive transposed",
    );
}

/// Gradients of `sum(f(inputs) * r)` with respect to every input, recorded when the inputs
/// track gradients (so a gradcheck of this function checks second derivatives) and computed on
/// fresh leaves otherwise (the finite-difference evaluations run without grad).
fn grads_of(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor], seed: u64) -> Result<Tensor> {
    let create = inputs[0].requires_grad();
    let leaves: Vec<Tensor> = if create {
        inputs.to_vec()
    } else {
        inputs.iter().map(|t| t.detach().requires_grad_(true)).collect()
    };
    enable_grad(|| {
        let y = f(&leaves)?;
        manual_seed(seed);
        let r = Tensor::randn(y.shape(), DType::F64)?;
        let refs: Vec<&Tensor> = leaves.iter().collect();
        let gs = grad(&y.mul(&r)?.sum()?, &refs, None, create)?;
        // A nonlinear scalar of all gradients, so every second derivative matters.
        let mut total = Tensor::scalar(0.0f64);
        for g in gs.into_iter().flatten() {
            total = total.add(&g.square()?.sum()?)?;
        }
        Ok(total)
    })
}

#[test]
fn double_backward_gradcheck() {
    manual_seed(24);
    let (x, w, b) = (randn(&[2, 2, 4, 5]), randn(&[4, 1, 2, 3]), randn(&[4]));
    let o = Conv2dOptions::default()
        .stride([2, 1])
        .padding([1, 1])
        .dilation([1, 2])
        .groups(2);
    check(
        |i| grads_of(|t| t[0].conv2d(&t[1], Some(&t[2]), o), i, 1),
        &[&x, &w, &b],
        "conv2d double backward",
    );
    let (xt, wt) = (randn(&[1, 2, 3, 3]), randn(&[2, 2, 2, 2]));
    let ot = ConvTranspose2dOptions::default().stride(2).output_padding(1).padding(1);
    check(
        |i| grads_of(|t| t[0].conv_transpose2d(&t[1], None, ot), i, 2),
        &[&xt, &wt],
        "conv_transpose2d double backward",
    );
    // Pooling is piecewise linear: the second derivative with respect to x is zero, but the
    // gradient ops must still be differentiable with respect to the upstream gradient.
    let p = randn(&[1, 2, 5, 5]);
    for (name, f) in [
        (
            "max",
            (|t: &[Tensor]| t[0].max_pool2d(Pool2dOptions::new(3).stride(2).padding(1)))
                as fn(&[Tensor]) -> Result<Tensor>,
        ),
        ("avg", |t: &[Tensor]| {
            t[0].avg_pool2d(Pool2dOptions::new(3).stride(2).padding(1).count_include_pad(false))
        }),
        ("avg divisor_override", |t: &[Tensor]| {
            t[0].avg_pool2d(Pool2dOptions::new(3).stride(2).padding(1).divisor_override(Some(2)))
        }),
        ("adaptive", |t: &[Tensor]| t[0].adaptive_avg_pool2d([2, 3])),
    ] {
        check(|i| grads_of(|t| f(&[t[0].mul(&t[0])?]), i, 3), &[&p], name);
    }
}

#[test]
fn first_layer_skips_the_input_gradient() -> Result<()> {
    // The input of a first layer does not require grad; only weight and bias get gradients.
    manual_seed(25);
    let x = Tensor::randn(&[2, 1, 6, 6], DType::F32)?;
    let w = Tensor::randn(&[3, 1, 3, 3], DType::F32)?.requires_grad_(true);
    let b = Tensor::randn(&[3], DType::F32)?.requires_grad_(true);
    x.conv2d(&w, Some(&b), Conv2dOptions::default())?.sum()?.backward()?;
    assert!(x.grad().is_none());
    assert_eq!(w.grad().unwrap().shape(), &[3, 1, 3, 3]);
    // d(sum)/db = number of output positions per channel and image.
    assert_eq!(b.grad().unwrap().to_vec::<f32>()?, vec![32.0; 3]);
    Ok(())
}

#[test]
fn empty_batch() -> Result<()> {
    let x = Tensor::zeros(&[0, 2, 5, 5], DType::F64).requires_grad_(true);
    let w = randn(&[3, 2, 3, 3]).requires_grad_(true);
    let b = randn(&[3]).requires_grad_(true);
    let y = x.conv2d(&w, Some(&b), Conv2dOptions::default().padding(1))?;
    assert_eq!(y.shape(), &[0, 3, 5, 5]);
    y.sum()?.backward()?;
    assert_eq!(w.grad().unwrap().to_vec_f64(), vec![0.0; 54]);
    assert_eq!(b.grad().unwrap().to_vec_f64(), vec![0.0; 3]);
    assert_eq!(x.grad().unwrap().shape(), &[0, 2, 5, 5]);
    let t = x.conv_transpose2d(&w.transpose(0, 1)?, None, ConvTranspose2dOptions::default())?;
    assert_eq!(t.shape(), &[0, 3, 7, 7]);
    assert_eq!(x.max_pool2d(2)?.shape(), &[0, 2, 2, 2]);
    assert_eq!(x.avg_pool2d(2)?.shape(), &[0, 2, 2, 2]);
    assert_eq!(x.adaptive_avg_pool2d(3)?.shape(), &[0, 2, 3, 3]);
    Ok(())
}

#[test]
fn large_backward_is_the_adjoint() -> Result<()> {
    // Big enough for the threaded paths (batched and single image) of all three kernels.
    manual_seed(26);
    for (xs, ws, o) in [
        (
            [6, 8, 14, 14],
            [12, 4, 3, 3],
            Conv2dOptions::default().padding(1).groups(2),
        ),
        ([1, 16, 30, 30], [16, 16, 3, 3], Conv2dOptions::default().stride(2)),
        ([4, 32, 10, 10], [16, 32, 1, 1], Conv2dOptions::default()),
    ] {
        let x = randn(&xs).requires_grad_(true);
        let w = randn(&ws).requires_grad_(true);
        let y = x.conv2d(&w, None, o)?;
        let r = randn(y.shape());
        y.mul(&r)?.sum()?.backward()?;
        let lhs = y.mul(&r)?.sum()?.item::<f64>()?;
        let via_x = x.grad().unwrap().mul(&x)?.sum()?.item::<f64>()?;
        let via_w = w.grad().unwrap().mul(&w)?.sum()?.item::<f64>()?;
        assert!((lhs - via_x).abs() < 1e-8 * lhs.abs().max(1.0), "{lhs} vs {via_x}");
        assert!((lhs - via_w).abs() < 1e-8 * lhs.abs().max(1.0), "{lhs} vs {via_w}");
        // The single-threaded paths give the same values.
        kiln_kernels::set_num_threads(1);
        let serial = x.detach().conv2d(&w.detach(), None, o);
        let gw1 = kiln_tensor::grad(&x.detach().conv2d(&w, None, o)?, &[&w], Some(&r), false);
        kiln_kernels::set_num_threads(0);
        assert_close(&serial?, &y.detach(), 1e-12, 1e-12);
        assert_close(gw1?[0].as_ref().unwrap(), &w.grad().unwrap(), 1e-10, 1e-10);
    }
    Ok(())
}

// ---------------------------------------------------------------- property test

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn conv2d_matches_seven_loops(
        n in 1usize..3, groups in 1usize..4, cig in 1usize..3, cog in 1usize..3,
        h in 1usize..9, w in 1usize..9, kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..4, sw in 1usize..4, ph in 0usize..3, pw in 0usize..3,
        dh in 1usize..3, dw in 1usize..3, bias in any::<bool>(), seed in 0u64..1000,
    ) {
        let g = Geo { stride: [sh, sw], pad_lo: [ph, pw], pad_hi: [ph, pw], dilation: [dh, dw], groups };
        let fits = h + 2 * ph > dh * (kh - 1) && w + 2 * pw > dw * (kw - 1);
        manual_seed(seed);
        let x = randn(&[n, groups * cig, h, w]);
        let wt = randn(&[groups * cog, cig, kh, kw]);
        let b = randn(&[groups * cog]);
        let y = x.conv2d(&wt, bias.then_some(&b), opts(g));
        prop_assert_eq!(y.is_ok(), fits);
        if let Ok(y) = y {
            let r = naive_conv2d(&x, &wt, bias.then_some(&b), g);
            prop_assert_eq!(y.shape(), r.shape());
            for (a, e) in y.to_vec_f64().iter().zip(r.to_vec_f64()) {
                prop_assert!((a - e).abs() < 1e-10, "{} vs {}", a, e);
            }
        }
    }
}

// ---------------------------------------------------------------- errors

fn err(r: Result<Tensor>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn conv_errors() {
    let x = Tensor::zeros(&[1, 3, 8, 8], DType::F32);
    let d = Conv2dOptions::default();
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[16, 1, 5, 5], DType::F32), None, d)),
        "conv2d: input has 3 channels but weight expects 1 ([16, 1, 5, 5])"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[4, 2, 3, 3], DType::F32), None, d.groups(2))),
        "conv2d: input has 3 channels but weight expects 4 ([4, 2, 3, 3], groups=2)"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[5, 1, 3, 3], DType::F32), None, d.groups(3))),
        "conv2d: groups=3 does not divide the 5 output channels of weight [5, 1, 3, 3]"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[2, 3, 9, 3], DType::F32), None, d)),
        "conv2d: kernel size (9 x 3) can't be greater than the padded input size (8 x 8)"
    );
    assert_eq!(
        err(x.conv2d(
            &Tensor::zeros(&[2, 3, 3, 3], DType::F32),
            None,
            d.dilation(5).padding(1)
        )),
        "conv2d: dilated kernel size (11 x 11) can't be greater than the padded input size (10 x 10)"
    );
    assert_eq!(
        err(Tensor::zeros(&[3, 8], DType::F32).conv2d(&Tensor::zeros(&[2, 3, 3, 3], DType::F32), None, d)),
        "conv2d: expected 3-D (unbatched) or 4-D (batched) input, got input of shape [3, 8]"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[2, 3, 3], DType::F32), None, d)),
        "conv2d: weight must be 4-D [out_channels, in_channels / groups, kH, kW], got [2, 3, 3]"
    );
    assert_eq!(
        err(x.conv2d(
            &Tensor::zeros(&[2, 3, 3, 3], DType::F32),
            Some(&Tensor::zeros(&[3], DType::F32)),
            d
        )),
        "conv2d: bias must have shape [2] (out_channels), got [3]"
    );
    assert_eq!(
        err(x.conv2d(
            &Tensor::zeros(&[2, 3, 3, 3], DType::F32),
            None,
            d.stride(2).padding(Padding::Same)
        )),
        "conv2d: padding=\"same\" is not supported for strided convolutions (stride [2, 2])"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[2, 3, 3, 3], DType::F64), None, d)),
        "conv2d: dtype mismatch: float32 vs float64"
    );
    assert_eq!(
        err(Tensor::zeros(&[1, 3, 8, 8], DType::I64).conv2d(&Tensor::zeros(&[2, 3, 3, 3], DType::I64), None, d)),
        "conv2d: unsupported dtype int64 (expected a floating-point tensor)"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[2, 3, 0, 3], DType::F32), None, d)),
        "conv2d: weight [2, 3, 0, 3] has an empty kernel dim"
    );
    assert_eq!(
        err(x.conv2d(&Tensor::zeros(&[2, 3, 3, 3], DType::F32), None, d.stride(0))),
        "conv2d: stride must be positive, got [0, 0]"
    );
    assert_eq!(
        err(Tensor::zeros(&[2, 3, 8], DType::F32).conv1d(
            &Tensor::zeros(&[4, 2, 3], DType::F32),
            None,
            Conv1dOptions::default()
        )),
        "conv1d: input has 3 channels but weight expects 2 ([4, 2, 3])"
    );
    assert_eq!(
        err(Tensor::zeros(&[2, 3, 2], DType::F32).conv1d(
            &Tensor::zeros(&[4, 3, 3], DType::F32),
            None,
            Conv1dOptions::default()
        )),
        "conv1d: kernel size (3) can't be greater than the padded input size (2)"
    );

    let t = ConvTranspose2dOptions::default();
    assert_eq!(
        err(x.conv_transpose2d(&Tensor::zeros(&[2, 3, 3, 3], DType::F32), None, t)),
        "conv_transpose2d: input has 3 channels but weight expects 2 ([2, 3, 3, 3])"
    );
    assert_eq!(
        err(x.conv_transpose2d(&Tensor::zeros(&[3, 3, 3, 3], DType::F32), None, t.groups(2))),
        "conv_transpose2d: groups=2 does not divide the 3 input channels of weight [3, 3, 3, 3]"
    );
    assert_eq!(
        err(x.conv_transpose2d(
            &Tensor::zeros(&[3, 1, 3, 3], DType::F32),
            None,
            t.stride(2).output_padding(2)
        )),
        "conv_transpose2d: output_padding [2, 2] must be smaller than either stride [2, 2] or dilation [1, 1]"
    );
    assert_eq!(
        err(Tensor::zeros(&[1, 3, 1, 1], DType::F32).conv_transpose2d(&Tensor::zeros(&[3, 1, 1, 1], DType::F32), None, t.padding(1))),
        "conv_transpose2d: the output size along spatial dim 0 would be -1 for input [1, 3, 1, 1] and weight [3, 1, 1, 1]"
    );
}

#[test]
fn pool_errors() {
    let x = Tensor::zeros(&[1, 2, 4, 4], DType::F32);
    let e = |r: Result<Tensor>| err(r);
    assert_eq!(
        e(Tensor::zeros(&[4, 4], DType::F32).max_pool2d(2)),
        "max_pool2d: expected 3-D (unbatched) or 4-D (batched) input, got input of shape [4, 4]"
    );
    assert_eq!(
        e(x.max_pool2d(Pool2dOptions::new(2).padding(2))),
        "max_pool2d: padding [2, 2] should be at most half of kernel_size [2, 2]"
    );
    assert_eq!(
        e(x.max_pool2d(5)),
        "max_pool2d: output size (0 x 0) is too small for input of spatial size (4 x 4)"
    );
    assert_eq!(
        e(x.max_pool2d(0)),
        "max_pool2d: kernel_size must be positive, got [0, 0]"
    );
    assert_eq!(
        e(x.avg_pool2d(Pool2dOptions::new(2).dilation(2))),
        "avg_pool2d: dilation is not supported, got [2, 2]"
    );
    assert_eq!(
        e(x.avg_pool2d(Pool2dOptions::new(2).divisor_override(Some(0)))),
        "avg_pool2d: divisor_override must be non-zero, got 0"
    );
    assert_eq!(
        e(Tensor::zeros(&[1, 2, 0, 4], DType::F32).adaptive_avg_pool2d(2)),
        "adaptive_avg_pool2d: expected an input with non-zero sizes in the non-batch dims, got [1, 2, 0, 4]"
    );
    assert_eq!(
        e(Tensor::zeros(&[1, 2, 4, 4], DType::I64).avg_pool2d(2)),
        "avg_pool2d: unsupported dtype int64 (expected a floating-point tensor)"
    );
}
