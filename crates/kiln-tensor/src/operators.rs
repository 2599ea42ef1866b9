//! Arithmetic operators for readable model code: `&a + &b`, `&a * 2.0`, `-&a`. They panic with
//! the fallible op's message at the caller's line; use the methods (`add`, `mul`, ...) to get a
//! `Result` instead.

use crate::error::OrPanic;
use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! bin_op {
    ($trait:ident, $method:ident, $op:ident, $scalar_op:ident) => {
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
                (&self).$op(&rhs).or_panic()
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
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
                (&self).$scalar_op(rhs).or_panic()
            }
        }
    };
}

bin_op!(Add, add, add, add_scalar);
bin_op!(Sub, sub, sub, sub_scalar);
bin_op!(Mul, mul, mul, mul_scalar);
bin_op!(Div, div, div, div_scalar);

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
