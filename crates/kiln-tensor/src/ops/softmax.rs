//! `softmax` and `log_softmax` along one dim: fused, numerically stable kernels
//! (`kiln_kernels::softmax`), each recorded as its own op.

use crate::backward::Node;
use crate::error::{Error, Result};
use crate::layout::normalize_dim;
use crate::op::OpKind;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use half::{bf16, f16};
use kiln_kernels::softmax::{softmax_inner, ExpFloat};
use std::borrow::Cow;

/// Runs the kernel over `data` (the tensor's storage) viewed as `[outer, n, inner]`.
fn run<T: ExpFloat>(data: &[T], t: &Tensor, n: usize, inner: usize, log: bool) -> Vec<T> {
    let x: Cow<[T]> = match t.layout().contiguous_range() {
        Some(r) => Cow::Borrowed(&data[r]),
        None => Cow::Owned(gather_contiguous(data, t.layout())),
    };
    let mut y = vec![T::ZERO; x.len()];
    softmax_inner(&x, &mut y, n, inner, log);
    y
}

fn softmax_impl(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let name = if log { "log_softmax" } else { "softmax" };
    if !x.dtype().is_float() {
        return Err(Error::dtype(
            name,
            x.dtype(),
            "expected a floating-point tensor; cast with to_dtype",
        ));
    }
    // A 0-dim tensor is treated as one element along dim 0 or -1, as in PyTorch.
    let d = normalize_dim(name, dim, x.rank().max(1))?;
    let shape = x.shape();
    let (n, inner) = if x.rank() == 0 {
        (1, 1)
    } else {
        (shape[d], shape[d + 1..].iter().product())
    };
    let storage = {
        let s = x.storage();
        match &*s {
            Storage::F32(v) => Storage::F32(run(v, x, n, inner, log)),
            Storage::F64(v) => Storage::F64(run(v, x, n, inner, log)),
            Storage::F16(v) => {
                let f: Vec<f32> = gather_contiguous(v, x.layout()).iter().map(|h| h.to_f32()).collect();
                let mut y = vec![0f32; f.len()];
                softmax_inner(&f, &mut y, n, inner, log);
                Storage::F16(y.into_iter().map(f16::from_f32).collect())
            }
            Storage::BF16(v) => {
                let f: Vec<f32> = gather_contiguous(v, x.layout()).iter().map(|h| h.to_f32()).collect();
                let mut y = vec![0f32; f.len()];
                softmax_inner(&f, &mut y, n, inner, log);
                Storage::BF16(y.into_iter().map(bf16::from_f32).collect())
            }
            other => return Err(Error::dtype(name, other.dtype(), "expected a floating-point tensor")),
        }
    };
    let kind = if log {
        OpKind::LogSoftmax { dim: d }
    } else {
        OpKind::Softmax { dim: d }
    };
    let node = Node::record(kind, &[x], vec![]);
    Ok(Tensor::from_storage_node(storage, shape, node))
}

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `dim` (`torch.softmax`), computed stably (the row max is
    /// subtracted first). The output has the input's shape and dtype.
    ///
    /// Errors on a non-float dtype or a `dim` out of range.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        softmax_impl(self, dim, false)
    }

    /// `x - log(sum(exp(x)))` along `dim` (`torch.log_softmax`), computed stably. The output has
    /// the input's shape and dtype.
    ///
    /// Errors on a non-float dtype or a `dim` out of range.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        softmax_impl(self, dim, true)
    }
}
