//! 2-D pooling with PyTorch's semantics (NCHW or unbatched CHW): `max_pool2d` (optionally with
//! its argmax indices), `avg_pool2d` and `adaptive_avg_pool2d`.
//!
//! Window arguments come as [`Pool2dOptions`] (or a plain kernel size, which converts into
//! them):
//!
//! ```
//! use kiln_tensor::ops::pool::Pool2dOptions;
//! use kiln_tensor::{DType, Tensor};
//! # fn main() -> kiln_tensor::Result<()> {
//! let x = Tensor::arange(0.0, 16.0, 1.0, DType::F32)?.reshape(&[1, 1, 4, 4])?;
//! let (y, idx) = x.max_pool2d_with_indices(2)?;
//! assert_eq!(y.to_vec::<f32>()?, vec![5.0, 7.0, 13.0, 15.0]);
//! assert_eq!(idx.to_vec::<i64>()?, vec![5, 7, 13, 15]);
//! let a = x.avg_pool2d(Pool2dOptions::new(3).stride(1).padding(1).count_include_pad(false))?;
//! assert_eq!(a.shape(), &[1, 1, 4, 4]);
//! assert_eq!(x.adaptive_avg_pool2d(1)?.to_vec::<f32>()?, vec![7.5]);
//! # Ok(()) }
//! ```

mod exec;
mod options;

pub(crate) use exec::pool_grad;
pub use options::Pool2dOptions;

use crate::error::{Error, Result};
use crate::op::Pool2dParams;
use crate::ops::conv::ToPair;
use crate::tensor::Tensor;
use exec::{adaptive_avg_pool2d_raw, avg_pool2d_raw, max_pool2d_raw, pool_out_size};

/// Rank 3 or 4 with non-zero non-batch dims; returns whether there is a batch dim.
fn check_input(op: &'static str, x: &Tensor) -> Result<bool> {
    let s = x.shape();
    if s.len() != 3 && s.len() != 4 {
        return Err(Error::shape(
            op,
            format!("expected 3-D (unbatched) or 4-D (batched) input, got input of shape {s:?}"),
        ));
    }
    if s[s.len() - 3..].contains(&0) {
        return Err(Error::shape(
            op,
            format!("expected an input with non-zero sizes in the non-batch dims, got {s:?}"),
        ));
    }
    Ok(s.len() == 4)
}

/// Validates the window against the input; returns the node's parameters and whether the input
/// is batched.
fn check_pool(op: &'static str, x: &Tensor, o: &Pool2dOptions) -> Result<(Pool2dParams, bool)> {
    let batched = check_input(op, x)?;
    for (what, v) in [
        ("kernel_size", o.kernel_size),
        ("stride", o.stride),
        ("dilation", o.dilation),
    ] {
        if v.contains(&0) {
            return Err(Error::invalid(op, format!("{what} must be positive, got {v:?}")));
        }
    }
    if (0..2).any(|i| o.padding[i] > o.kernel_size[i] / 2) {
        return Err(Error::invalid(
            op,
            format!(
                "padding {:?} should be at most half of kernel_size {:?}",
                o.padding, o.kernel_size
            ),
        ));
    }
    let r = x.rank();
    let hw = [x.shape()[r - 2], x.shape()[r - 1]];
    let out: Vec<isize> = (0..2)
        .map(|i| {
            pool_out_size(
                hw[i],
                o.kernel_size[i],
                o.stride[i],
                o.padding[i],
                o.dilation[i],
                o.ceil_mode,
            )
        })
        .collect();
    if out.iter().any(|&v| v < 1) {
        return Err(Error::shape(
            op,
            format!(
                "output size ({} x {}) is too small for input of spatial size ({} x {})",
                out[0], out[1], hw[0], hw[1]
            ),
        ));
    }
    let params = Pool2dParams {
        kernel: o.kernel_size,
        stride: o.stride,
        padding: o.padding,
        dilation: o.dilation,
        ceil_mode: o.ceil_mode,
        count_include_pad: o.count_include_pad,
        divisor_override: o.divisor_override,
    };
    Ok((params, batched))
}

fn batch_of(x: &Tensor, batched: bool) -> Result<Tensor> {
    if batched {
        Ok(x.clone())
    } else {
        x.unsqueeze(0)
    }
}

fn unbatch(y: Tensor, batched: bool) -> Result<Tensor> {
    if batched {
        Ok(y)
    } else {
        y.squeeze_dim(0)
    }
}

impl Tensor {
    /// Max pooling (`torch.nn.functional.max_pool2d`): input `[N, C, H, W]` or `[C, H, W]`,
    /// output `[N, C, oH, oW]` with
    /// `oH = (H + 2 * padding - dilation * (kH - 1) - 1) / stride + 1` (rounded up with
    /// `ceil_mode`, as long as the last window starts inside the input or left padding).
    /// Padded positions never win; NaN does.
    ///
    /// Errors on a rank other than 3 or 4, an empty non-batch dim, zero kernel/stride/dilation,
    /// padding above half the kernel, an output smaller than 1, and non-float dtypes.
    pub fn max_pool2d(&self, opts: impl Into<Pool2dOptions>) -> Result<Tensor> {
        Ok(self.max_pool2d_with_indices(opts)?.0)
    }

    /// [`Tensor::max_pool2d`] that also returns the int64 indices of the maxima, flat within
    /// each `H x W` plane (`iy * W + ix`, as PyTorch's `return_indices=True`). The indices
    /// carry no gradient. A window lying entirely in the padding (possible with dilation) gives
    /// `-inf` with index `-1`.
    pub fn max_pool2d_with_indices(&self, opts: impl Into<Pool2dOptions>) -> Result<(Tensor, Tensor)> {
        let (p, batched) = check_pool("max_pool2d", self, &opts.into())?;
        let (y, idx) = max_pool2d_raw(&batch_of(self, batched)?, p)?;
        Ok((unbatch(y, batched)?, unbatch(idx, batched)?))
    }

    /// Average pooling (`torch.nn.functional.avg_pool2d`): output size as [`Tensor::max_pool2d`]
    /// without dilation. Each output is its window's sum divided by the window size clipped to
    /// the padded input (`count_include_pad`, the default) or to the input itself, or by
    /// `divisor_override` when set (a window lying entirely in the padding still gives 0).
    ///
    /// Errors as [`Tensor::max_pool2d`], on a dilation other than 1, and on a zero
    /// `divisor_override`.
    pub fn avg_pool2d(&self, opts: impl Into<Pool2dOptions>) -> Result<Tensor> {
        let opts = opts.into();
        if opts.dilation != [1, 1] {
            return Err(Error::invalid(
                "avg_pool2d",
                format!("dilation is not supported, got {:?}", opts.dilation),
            ));
        }
        if opts.divisor_override == Some(0) {
            return Err(Error::invalid("avg_pool2d", "divisor_override must be non-zero, got 0"));
        }
        let (p, batched) = check_pool("avg_pool2d", self, &opts)?;
        unbatch(avg_pool2d_raw(&batch_of(self, batched)?, p)?, batched)
    }

    /// Adaptive average pooling (`torch.nn.functional.adaptive_avg_pool2d`) to
    /// `output_size = [oH, oW]` (or one size for both): output `(i, j)` averages input rows
    /// `floor(i * H / oH) .. ceil((i + 1) * H / oH)` and the columns alike, so windows may
    /// overlap when the sizes do not divide.
    ///
    /// Errors on a rank other than 3 or 4, an empty non-batch dim, and non-float dtypes.
    pub fn adaptive_avg_pool2d(&self, output_size: impl ToPair) -> Result<Tensor> {
        let batched = check_input("adaptive_avg_pool2d", self)?;
        let y = adaptive_avg_pool2d_raw(&batch_of(self, batched)?, output_size.to_pair())?;
        unbatch(y, batched)
    }
}
