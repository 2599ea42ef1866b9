//! Convolutions with PyTorch's semantics (NCHW): `conv2d`, `conv1d` and `conv_transpose2d`.
//!
//! Each method validates shapes, turns unbatched inputs into a batch of one, and calls one of
//! the recorded ops of [`exec`] (im2col + gemm kernels in `kiln_kernels::conv`). Backward rules
//! are convolutions themselves, so gradients of any order work.
//!
//! ```
//! use kiln_tensor::ops::conv::{Conv2dOptions, Padding};
//! use kiln_tensor::{DType, Tensor};
//! # fn main() -> kiln_tensor::Result<()> {
//! let x = Tensor::ones(&[1, 3, 8, 8], DType::F32);
//! let w = Tensor::ones(&[16, 3, 3, 3], DType::F32);
//! let y = x.conv2d(&w, None, Conv2dOptions::default().stride(2).padding(1))?;
//! assert_eq!(y.shape(), &[1, 16, 4, 4]);
//! let same = x.conv2d(&w, None, Conv2dOptions::default().padding(Padding::Same))?;
//! assert_eq!(same.shape(), &[1, 16, 8, 8]);
//! # Ok(()) }
//! ```

mod exec;
mod options;

pub(crate) use exec::{conv2d_grads, conv2d_weight_grad_grads, conv_transpose2d_grads};
pub use options::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, Padding, ToPair};

use crate::error::{Error, Result};
use crate::op::{Conv2dParams, ConvTranspose2dParams};
use crate::tensor::Tensor;
use exec::{conv2d_raw, conv_transpose2d_raw};

/// Spatial arguments of a convolution with 1 or 2 spatial dims, before validation.
struct ConvArgs<'a> {
    op: &'static str,
    stride: &'a [usize],
    padding: Padding<&'a [usize]>,
    dilation: &'a [usize],
    groups: usize,
}

/// Validated convolution: whether the input has a batch dim, and the (begin, end) padding of
/// each spatial dim.
struct Checked {
    batched: bool,
    pads: Vec<(usize, usize)>,
}

fn float_operands(op: &'static str, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<()> {
    if !x.dtype().is_float() {
        return Err(Error::dtype(op, x.dtype(), "expected a floating-point tensor"));
    }
    for t in std::iter::once(w).chain(bias) {
        if t.dtype() != x.dtype() {
            return Err(Error::DTypeMismatch {
                op,
                lhs: x.dtype(),
                rhs: t.dtype(),
            });
        }
    }
    Ok(())
}

fn check_positive(op: &'static str, what: &str, v: &[usize]) -> Result<()> {
    if v.contains(&0) {
        return Err(Error::invalid(op, format!("{what} must be positive, got {v:?}")));
    }
    Ok(())
}

fn sizes(v: &[usize]) -> String {
    v.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ")
}

/// Shape checks shared by `conv1d` and `conv2d` (weight `[C_out, C_in / groups, kernel...]`).
fn check_conv(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, a: &ConvArgs) -> Result<Checked> {
    let op = a.op;
    let sd = a.stride.len();
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != sd + 1 && xs.len() != sd + 2 {
        return Err(Error::shape(
            op,
            format!(
                "expected {}-D (unbatched) or {}-D (batched) input, got input of shape {xs:?}",
                sd + 1,
                sd + 2
            ),
        ));
    }
    if ws.len() != sd + 2 {
        return Err(Error::shape(
            op,
            format!(
                "weight must be {}-D [out_channels, in_channels / groups, {}], got {ws:?}",
                sd + 2,
                if sd == 1 { "kL" } else { "kH, kW" }
            ),
        ));
    }
    float_operands(op, x, w, bias)?;
    if ws[2..].contains(&0) {
        return Err(Error::shape(op, format!("weight {ws:?} has an empty kernel dim")));
    }
    if a.groups == 0 {
        return Err(Error::invalid(op, "groups must be positive"));
    }
    check_positive(op, "stride", a.stride)?;
    check_positive(op, "dilation", a.dilation)?;
    if !ws[0].is_multiple_of(a.groups) {
        return Err(Error::shape(
            op,
            format!(
                "groups={} does not divide the {} output channels of weight {ws:?}",
                a.groups, ws[0]
            ),
        ));
    }
    let batched = xs.len() == sd + 2;
    let c = xs[usize::from(batched)];
    let expected = ws[1] * a.groups;
    if c != expected {
        let groups = if a.groups > 1 {
            format!(", groups={}", a.groups)
        } else {
            String::new()
        };
        return Err(Error::shape(
            op,
            format!("input has {c} channels but weight expects {expected} ({ws:?}{groups})"),
        ));
    }
    if let Some(b) = bias {
        if b.shape() != [ws[0]] {
            return Err(Error::shape(
                op,
                format!("bias must have shape [{}] (out_channels), got {:?}", ws[0], b.shape()),
            ));
        }
    }
    let kernel = &ws[2..];
    let span: Vec<usize> = (0..sd).map(|i| a.dilation[i] * (kernel[i].max(1) - 1) + 1).collect();
    let pads: Vec<(usize, usize)> = match a.padding {
        Padding::Explicit(p) => p.iter().map(|&p| (p, p)).collect(),
        Padding::Valid => vec![(0, 0); sd],
        Padding::Same => {
            if a.stride.iter().any(|&s| s != 1) {
                return Err(Error::invalid(
                    op,
                    format!(
                        "padding=\"same\" is not supported for strided convolutions (stride {:?})",
                        a.stride
                    ),
                ));
            }
            span.iter().map(|&s| ((s - 1) / 2, (s - 1) - (s - 1) / 2)).collect()
        }
    };
    let spatial = &xs[xs.len() - sd..];
    let padded: Vec<usize> = (0..sd).map(|i| spatial[i] + pads[i].0 + pads[i].1).collect();
    if (0..sd).any(|i| padded[i] < span[i]) {
        let what = if a.dilation.iter().any(|&d| d != 1) {
            format!("dilated kernel size ({})", sizes(&span))
        } else {
            format!("kernel size ({})", sizes(kernel))
        };
        return Err(Error::shape(
            op,
            format!(
                "{what} can't be greater than the padded input size ({})",
                sizes(&padded)
            ),
        ));
    }
    Ok(Checked { batched, pads })
}

/// Appends `extra[i]` zeros at the end of spatial dim `i` of a 4-D tensor (the uneven part of
/// "same" padding), as a differentiable composite.
fn pad_end(x: &Tensor, extra: [usize; 2]) -> Result<Tensor> {
    let mut t = x.clone();
    for (i, &e) in extra.iter().enumerate() {
        if e == 0 {
            continue;
        }
        let dim = 2 + i;
        let mut shape = t.shape().to_vec();
        let n = shape[dim];
        shape[dim] += e;
        t = Tensor::zeros(&shape, t.dtype()).slice_scatter(&t, dim, 0, n, 1)?;
    }
    Ok(t)
}

/// Runs a checked convolution on a 4-D view: symmetric padding goes to the kernel, the uneven
/// rest of "same" padding is added to the input first (as PyTorch does).
fn conv2d_checked(
    x4: &Tensor,
    w4: &Tensor,
    bias: Option<&Tensor>,
    pads: [(usize, usize); 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<Tensor> {
    let extra = [pads[0].1 - pads[0].0, pads[1].1 - pads[1].0];
    let x4 = if extra != [0, 0] {
        pad_end(x4, extra)?
    } else {
        x4.clone()
    };
    let params = Conv2dParams {
        stride,
        padding: [pads[0].0, pads[1].0],
        dilation,
        groups,
    };
    conv2d_raw(&x4, w4, bias, params)
}

impl Tensor {
    /// 2-D convolution (`torch.nn.functional.conv2d`): input `[N, C_in, H, W]` or unbatched
    /// `[C_in, H, W]`, weight `[C_out, C_in / groups, kH, kW]`, optional bias `[C_out]`; output
    /// `[N, C_out, oH, oW]` (unbatched in, unbatched out) with
    /// `oH = (H + 2 * padding - dilation * (kH - 1) - 1) / stride + 1`.
    ///
    /// Floating-point dtypes only (f16/bf16 computed in f32), all operands of one dtype.
    /// Errors on wrong ranks, a channel count the weight does not expect
    /// (`conv2d: input has 3 channels but weight expects 1 ([16, 1, 5, 5])`), groups that do not
    /// divide the channels, a kernel larger than the padded input, a bias of the wrong shape,
    /// zero stride or dilation, and `Padding::Same` with a stride other than 1.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, opts: Conv2dOptions) -> Result<Tensor> {
        let padding = match &opts.padding {
            Padding::Explicit(p) => Padding::Explicit(&p[..]),
            Padding::Same => Padding::Same,
            Padding::Valid => Padding::Valid,
        };
        let args = ConvArgs {
            op: "conv2d",
            stride: &opts.stride,
            padding,
            dilation: &opts.dilation,
            groups: opts.groups,
        };
        let c = check_conv(self, weight, bias, &args)?;
        let x4 = if c.batched { self.clone() } else { self.unsqueeze(0)? };
        let y = conv2d_checked(
            &x4,
            weight,
            bias,
            [c.pads[0], c.pads[1]],
            opts.stride,
            opts.dilation,
            opts.groups,
        )?;
        if c.batched {
            Ok(y)
        } else {
            y.squeeze_dim(0)
        }
    }

    /// 1-D convolution (`torch.nn.functional.conv1d`): input `[N, C_in, L]` or unbatched
    /// `[C_in, L]`, weight `[C_out, C_in / groups, kL]`, optional bias `[C_out]`; output
    /// `[N, C_out, oL]`. Computed as a 2-D convolution of height 1; errors as [`Tensor::conv2d`]
    /// (named `conv1d`).
    pub fn conv1d(&self, weight: &Tensor, bias: Option<&Tensor>, opts: Conv1dOptions) -> Result<Tensor> {
        let padding = match &opts.padding {
            Padding::Explicit(p) => Padding::Explicit(std::slice::from_ref(p)),
            Padding::Same => Padding::Same,
            Padding::Valid => Padding::Valid,
        };
        let args = ConvArgs {
            op: "conv1d",
            stride: &[opts.stride],
            padding,
            dilation: &[opts.dilation],
            groups: opts.groups,
        };
        let c = check_conv(self, weight, bias, &args)?;
        let x3 = if c.batched { self.clone() } else { self.unsqueeze(0)? };
        let y = conv2d_checked(
            &x3.unsqueeze(2)?,
            &weight.unsqueeze(2)?,
            bias,
            [(0, 0), c.pads[0]],
            [1, opts.stride],
            [1, opts.dilation],
            opts.groups,
        )?
        .squeeze_dim(2)?;
        if c.batched {
            Ok(y)
        } else {
            y.squeeze_dim(0)
        }
    }

    /// 2-D transposed convolution (`torch.nn.functional.conv_transpose2d`), the gradient of
    /// `conv2d` with respect to its input: input `[N, C_in, H, W]` or unbatched `[C_in, H, W]`,
    /// weight `[C_in, C_out / groups, kH, kW]`, optional bias `[C_out]`; output `[N, C_out, oH, oW]`
    /// with `oH = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1`.
    ///
    /// Errors on wrong ranks, `C_in` differing from the weight's first dim, groups that do not
    /// divide it, a bias of the wrong shape, zero stride or dilation, an output padding not
    /// smaller than either the stride or the dilation, and an empty output.
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        opts: ConvTranspose2dOptions,
    ) -> Result<Tensor> {
        let op = "conv_transpose2d";
        let (xs, ws) = (self.shape(), weight.shape());
        if xs.len() != 3 && xs.len() != 4 {
            return Err(Error::shape(
                op,
                format!("expected 3-D (unbatched) or 4-D (batched) input, got input of shape {xs:?}"),
            ));
        }
        if ws.len() != 4 {
            return Err(Error::shape(
                op,
                format!("weight must be 4-D [in_channels, out_channels / groups, kH, kW], got {ws:?}"),
            ));
        }
        float_operands(op, self, weight, bias)?;
        if ws[2..].contains(&0) {
            return Err(Error::shape(op, format!("weight {ws:?} has an empty kernel dim")));
        }
        if opts.groups == 0 {
            return Err(Error::invalid(op, "groups must be positive"));
        }
        check_positive(op, "stride", &opts.stride)?;
        check_positive(op, "dilation", &opts.dilation)?;
        if !ws[0].is_multiple_of(opts.groups) {
            return Err(Error::shape(
                op,
                format!(
                    "groups={} does not divide the {} input channels of weight {ws:?}",
                    opts.groups, ws[0]
                ),
            ));
        }
        let batched = xs.len() == 4;
        let c = xs[usize::from(batched)];
        if c != ws[0] {
            return Err(Error::shape(
                op,
                format!("input has {c} channels but weight expects {} ({ws:?})", ws[0]),
            ));
        }
        let c_out = ws[1] * opts.groups;
        if let Some(b) = bias {
            if b.shape() != [c_out] {
                return Err(Error::shape(
                    op,
                    format!("bias must have shape [{c_out}] (out_channels), got {:?}", b.shape()),
                ));
            }
        }
        if (0..2).any(|i| opts.output_padding[i] >= opts.stride[i] && opts.output_padding[i] >= opts.dilation[i]) {
            return Err(Error::invalid(
                op,
                format!(
                    "output_padding {:?} must be smaller than either stride {:?} or dilation {:?}",
                    opts.output_padding, opts.stride, opts.dilation
                ),
            ));
        }
        let x4 = if batched { self.clone() } else { self.unsqueeze(0)? };
        let params = ConvTranspose2dParams {
            stride: opts.stride,
            padding: opts.padding,
            output_padding: opts.output_padding,
            dilation: opts.dilation,
            groups: opts.groups,
        };
        let y = conv_transpose2d_raw(&x4, weight, bias, params)?;
        if batched {
            Ok(y)
        } else {
            y.squeeze_dim(0)
        }
    }
}
