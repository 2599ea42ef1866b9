//! In-place ops (`add_`, `mul_`, `sub_`, `copy_`, `zero_`, `fill_`). They write into the
//! shared storage (so views see the change) and bump its version counter, which lets backward
//! detect that a saved tensor changed.
//!
//! As in PyTorch, a leaf that requires gradients cannot be modified in place while grad mode is
//! on (optimizers update parameters inside `no_grad`). Unlike PyTorch, a non-leaf that is part of
//! the autograd graph cannot be modified in place either: use the out-of-place op.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::Num;

/// The elementwise update of a fast in-place path.
#[derive(Clone, Copy)]
enum Update {
    Add,
    Sub,
    Mul,
    /// `a + alpha * b` (`alpha` already in the element type).
    AddScaled(f64),
}

/// `a[i] = op(a[i], b[i])`, or with the single value `b[0]` for every `i` when `b` has one
/// element and `a` more.
fn update_slice<T: Num>(a: &mut [T], b: &[T], how: Update) {
    use kiln_kernels::elementwise::binary_inplace;
    let scaled = |alpha: f64| move |x: T, y: T| x.wadd(y.wmul(T::from_f64(alpha)));
    if b.len() == a.len() {
        match how {
            Update::Add => binary_inplace(a, b, |x: T, y: T| x.wadd(y)),
            Update::Sub => binary_inplace(a, b, |x: T, y: T| x.wsub(y)),
            Update::Mul => binary_inplace(a, b, |x: T, y: T| x.wmul(y)),
            Update::AddScaled(alpha) => binary_inplace(a, b, scaled(alpha)),
        }
        return;
    }
    let y = b[0];
    match how {
        Update::Add => a.iter_mut().for_each(|x| *x = x.wadd(y)),
        Update::Sub => a.iter_mut().for_each(|x| *x = x.wsub(y)),
        Update::Mul => a.iter_mut().for_each(|x| *x = x.wmul(y)),
        Update::AddScaled(alpha) => {
            let f = scaled(alpha);
            a.iter_mut().for_each(|x| *x = f(*x, y))
        }
    }
}

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
        if let (Some(dr), Some(sr)) = (self.layout().contiguous_range(), src.layout().contiguous_range()) {
            let s = src.storage();
            let mut dst = self.storage_mut();
            crate::with_storage!(&mut *dst, d => {
                let sv = Element::slice(&s).expect("cast to this dtype");
                d[dr].copy_from_slice(&sv[sr]);
            });
            return Ok(());
        }
        let offsets = self.layout().offsets();
        let s = src.storage();
        let mut dst = self.storage_mut();
        crate::with_storage!(&mut *dst, d => {
            let sv = Element::slice(&s).expect("cast to this dtype");
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

    /// The fast path of `add_`/`sub_`/`mul_`: updates a contiguous `self` directly from a
    /// contiguous `other` of the same shape and dtype, or a 0-dim `other` of the same dtype.
    /// Returns false (doing nothing) when it does not apply: other layouts or dtypes, half
    /// precision or bool (those keep the out-of-place path's rounding and errors), or `other`
    /// sharing `self`'s storage.
    fn update_fast_(&self, other: &Tensor, how: Update) -> bool {
        let same = other.shape() == self.shape() && other.is_contiguous();
        if !(same || other.rank() == 0)
            || other.dtype() != self.dtype()
            || !matches!(
                self.dtype(),
                DType::F32 | DType::F64 | DType::I64 | DType::I32 | DType::U8
            )
            || other.shares_storage(self)
            || (matches!(how, Update::AddScaled(_)) && !self.dtype().is_float())
        {
            return false;
        }
        let (Some(dr), Some(or)) = (self.layout().contiguous_range(), other.layout().contiguous_range()) else {
            return false;
        };
        let o = other.storage();
        let mut d = self.storage_mut();
        macro_rules! arms {
            ($($v:ident),*) => {
                match (&mut *d, &*o) {
                    $((Storage::$v(a), Storage::$v(b)) => update_slice(&mut a[dr], &b[or], how),)*
                    _ => unreachable!("dtypes checked above"),
                }
            };
        }
        arms!(F32, F64, I64, I32, U8);
        true
    }

    /// `self += other` (broadcast to this shape).
    pub fn add_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("add_")?;
        if self.update_fast_(other, Update::Add) {
            return Ok(());
        }
        self.update_("add_", |s| s.add(other))
    }
    /// `self -= other`.
    pub fn sub_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("sub_")?;
        if self.update_fast_(other, Update::Sub) {
            return Ok(());
        }
        self.update_("sub_", |s| s.sub(other))
    }
    /// `self *= other`.
    pub fn mul_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("mul_")?;
        if self.update_fast_(other, Update::Mul) {
            return Ok(());
        }
        self.update_("mul_", |s| s.mul(other))
    }
    /// `self += alpha * other` (PyTorch's `add_(other, alpha=...)`).
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        self.check_inplace("add_")?;
        if self.update_fast_(other, Update::AddScaled(alpha)) {
            return Ok(());
        }
        self.update_("add_", |s| s.add(&other.mul_scalar(alpha)?))
    }
    /// `self *= value`.
    pub fn mul_scalar_(&self, value: f64) -> Result<()> {
        self.check_inplace("mul_")?;
        if self.dtype().is_float() || value.fract() == 0.0 {
            let v = crate::no_grad(|| self.scalar_like(value))?;
            if v.dtype() == self.dtype() && self.update_fast_(&v, Update::Mul) {
                return Ok(());
            }
        }
        self.update_("mul_", |s| s.mul_scalar(value))
    }
    /// Sets every element to `value`.
    pub fn fill_(&self, value: f64) -> Result<()> {
        self.check_inplace("fill_")?;
        let v = Tensor::full(&[], value, self.dtype())?;
        if let Some(r) = self.layout().contiguous_range() {
            let s = v.storage();
            let mut dst = self.storage_mut();
            crate::with_storage!(&mut *dst, d => {
                let sv = Element::slice(&s).expect("same dtype");
                d[r].fill(sv[0]);
            });
            return Ok(());
        }
        self.copy_(&v)
    }
    /// Sets every element to zero.
    pub fn zero_(&self) -> Result<()> {
        self.fill_(0.0)
    }
}
