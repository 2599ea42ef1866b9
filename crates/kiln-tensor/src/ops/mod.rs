//! Eager ops, one file per family. Each public op has a fallible method on [`Tensor`]; the
//! shared dtype dispatch helpers live here.

pub(crate) mod binary;
pub mod conv;
pub mod creation;
pub mod index;
pub(crate) mod index_kernels;
pub mod indexing;
pub(crate) mod loss;
pub(crate) mod matmul;
pub(crate) mod nn;
pub(crate) mod norm;
pub mod pool;
pub(crate) mod reduce;
pub mod shape;
pub(crate) mod softmax;
pub(crate) mod sort;
pub(crate) mod unary;
pub mod view;

use crate::dtype::DType;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use half::{bf16, f16};
use kiln_kernels::Float;

/// A computation over a contiguous float slice, written once for any native float `T`.
pub(crate) trait FloatMap {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T>;
}

/// Runs `m` over `t`'s elements (row-major, gathered if strided). Half-precision inputs are
/// computed in f32 and rounded back; non-float inputs are an error naming `op`.
pub(crate) fn float_map(op: &'static str, t: &Tensor, m: &impl FloatMap) -> Result<Storage> {
    let s = t.storage();
    let l = t.layout();
    Ok(match &*s {
        Storage::F32(v) => Storage::F32(match l.contiguous_range() {
            Some(r) => m.map(&v[r]),
            None => m.map(&gather_contiguous(v, l)),
        }),
        Storage::F64(v) => Storage::F64(match l.contiguous_range() {
            Some(r) => m.map(&v[r]),
            None => m.map(&gather_contiguous(v, l)),
        }),
        Storage::F16(v) => {
            let x: Vec<f32> = gather_contiguous(v, l).iter().map(|h| h.to_f32()).collect();
            Storage::F16(m.map(&x).into_iter().map(f16::from_f32).collect())
        }
        Storage::BF16(v) => {
            let x: Vec<f32> = gather_contiguous(v, l).iter().map(|h| h.to_f32()).collect();
            Storage::BF16(m.map(&x).into_iter().map(bf16::from_f32).collect())
        }
        other => {
            return Err(crate::Error::dtype(
                op,
                other.dtype(),
                "expected a floating-point tensor",
            ))
        }
    })
}

/// The default floating-point dtype (PyTorch's `torch.get_default_dtype()`).
pub const DEFAULT_FLOAT: DType = DType::F32;

/// `t` itself when it is floating point, else `t` cast to the default float dtype (PyTorch's
/// promotion of integer inputs to float functions like `exp`).
pub(crate) fn to_float(t: &Tensor) -> Result<Tensor> {
    if t.dtype().is_float() {
        Ok(t.clone())
    } else {
        t.to_dtype(DEFAULT_FLOAT)
    }
}
