//! In-place ops (`add_`, `mul_`, `sub_`, `copy_`, `zero_`, `fill_`). They write into the
//! shared storage (so views see the change) and bump its version counter, which lets backward
//! detect that a saved tensor changed.
//!
//! As in PyTorch, a leaf that requires gradients cannot be modified in place while grad mode is
//! on (optimizers update parameters inside `no_grad`). Unlike PyTorch, a non-leaf that is part of
//! the autograd graph cannot be modified in place either: use the out-of-place op.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Tensor {
    fn check_inplace(&self, op: &'static str) -> Result<()> {
        if crate::is_grad_enabled() && self.requires_grad() {
            let what = if self.is_leaf() {
                "a leaf tensor that requires grad"
            } else {
                "a tensor that is part of the autograd graph"
            };
            return Err(Error::Autograd(format!(
                "{op}: {what} cannot be modified in place; wrap the update in no_grad or use the out-of-place op"
            )));
        }
        Ok(())
    }

    /// Writes `src` (broadcast to this shape and cast to this dtype) into this tensor's elements.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        self.check_inplace("copy_")?;
        let src = crate::no_grad(|| -> Result<Tensor> {
            let s = src.to_dtype(self.dtype())?.broadcast_to(self.shape())?;
            // Reading and writing the same buffer: take a private copy first.
            Ok(if s.shares_storage(self) {
                s.contiguous_copy()
            } else {
                s.contiguous()?
            })
        })?;
        let offsets = self.layout().offsets();
        let s = src.storage();
        let mut dst = self.storage_mut();
        crate::with_storage!(&mut *dst, d => {
            let sv = crate::dtype::Element::slice(&s).expect("cast to this dtype");
            // A contiguous view may start anywhere in its buffer.
            let sv = &sv[src.layout().offset()..];
            for (&o, &v) in offsets.iter().zip(sv) {
                d[o] = v;
            }
        });
        Ok(())
    }

    /// Applies `f(self, other)` and writes the result into `self`.
    fn update_(&self, op: &'static str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
        self.check_inplace(op)?;
        let v = crate::no_grad(|| f(&self.detach()))?;
        if v.shape() != self.shape() {
            return Err(Error::shape(
                op,
                format!(
                    "result of shape {:?} cannot be written into a tensor of shape {:?}",
                    v.shape(),
                    self.shape()
                ),
            ));
        }
        let _g = crate::GradModeGuard::new(false);
        self.copy_(&v)
    }

    /// `self += other` (broadcast to this shape).
    pub fn add_(&self, other: &Tensor) -> Result<()> {
        self.update_("add_", |s| s.add(other))
    }
    /// `self -= other`.
    pub fn sub_(&self, other: &Tensor) -> Result<()> {
        self.update_("sub_", |s| s.sub(other))
    }
    /// `self *= other`.
    pub fn mul_(&self, other: &Tensor) -> Result<()> {
        self.update_("mul_", |s| s.mul(other))
    }
    /// `self += alpha * other` (PyTorch's `add_(other, alpha=...)`).
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        self.update_("add_", |s| s.add(&other.mul_scalar(alpha)?))
    }
    /// `self *= value`.
    pub fn mul_scalar_(&self, value: f64) -> Result<()> {
        self.update_("mul_", |s| s.mul_scalar(value))
    }
    /// Sets every element to `value`.
    pub fn fill_(&self, value: f64) -> Result<()> {
        self.check_inplace("fill_")?;
        let v = Tensor::full(&[], value, self.dtype())?;
        self.copy_(&v)
    }
    /// Sets every element to zero.
    pub fn zero_(&self) -> Result<()> {
        self.fill_(0.0)
    }
}
