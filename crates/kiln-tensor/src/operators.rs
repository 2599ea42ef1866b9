//! Arithmetic operators for readable model code: `&a + &b`, `&a * 2.0`, `-&a`. They panic with
//! the fallible op's message at the caller's line; use the methods (`add`, `mul`, ...) to get a
//! `Result` instead.

use crate::error::OrPanic;
use crate::ops::binary::result_dtype;
use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Buffer reuse for owned operands: `lhs op rhs` is computed into `lhs`'s own buffer when nothing
/// else can observe it (a unique handle with no views, float data, contiguous, the result has
/// `lhs`'s shape and dtype, and no autograd node would be recorded). `None` means "compute out of
/// place as usual". `(&x * 2.0) + 1.0` thus allocates once.
fn reuse(lhs: &Tensor, rhs: &Tensor, update: fn(&Tensor, &Tensor) -> crate::Result<()>) -> Option<Tensor> {
    let records = lhs.requires_grad() || (crate::is_grad_enabled() && rhs.requires_grad());
    let fits = lhs.dtype().is_float()
        && lhs.is_contiguous()
        && result_dtype(lhs, rhs) == lhs.dtype()
        && (rhs.numel() == 1 && rhs.rank() <= lhs.rank() || rhs.shape() == lhs.shape());
    if records || !fits || !lhs.is_unique() {
        return None;
    }
    update(lhs, rhs).ok()?;
    // A fresh handle (new id, no grad slot), like the out-of-place result.
    Some(lhs.detach())
}

macro_rules! bin_op {
    ($trait:ident, $method:ident, $op:ident, $scalar_op:ident, $inplace:expr) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.$op(rhs).or_panic()
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                self.$method(&rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                if let Some(update) = $inplace {
                    if let Some(t) = reuse(&self, rhs, update) {
                        return t;
                    }
                }
                (&self).$op(rhs).or_panic()
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                self.$op(&rhs).or_panic()
            }
        }
        impl $trait<f64> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: f64) -> Tensor {
                self.$scalar_op(rhs).or_panic()
            }
        }
        impl $trait<f64> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: f64) -> Tensor {
                if $inplace.is_some() {
                    let r = self.scalar_like(rhs).or_panic();
                    return self.$method(&r);
                }
                (&self).$scalar_op(rhs).or_panic()
            }
        }
    };
}

type UpdateFn = fn(&Tensor, &Tensor) -> crate::Result<()>;

bin_op!(Add, add, add, add_scalar, Some(Tensor::add_ as UpdateFn));
bin_op!(Sub, sub, sub, sub_scalar, Some(Tensor::sub_ as UpdateFn));
bin_op!(Mul, mul, mul, mul_scalar, Some(Tensor::mul_ as UpdateFn));
// No in-place division yet: `x / y` on owned operands allocates.
bin_op!(Div, div, div, div_scalar, None::<UpdateFn>);

impl Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self).or_panic()
    }
}
impl Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self).or_panic()
    }
}
