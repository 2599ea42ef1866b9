//! Products, variance and standard deviation, `logsumexp`, vector norms, `all`/`any` and
//! `cumsum`.

use super::{fold_rows, one_dim, reduce_rows, reduced_shape, unmove_last};
use crate::backward::Node;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::ops::to_float;
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::reduce::{cumsum_row, cumsum_row_i64, logsumexp_row, map_rows_into, prod_row, prod_row_i64};

/// Integer and bool tensors accumulate in int64 (PyTorch's `sum`/`prod`/`cumsum` rule).
fn widen_int(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::Bool | DType::U8 | DType::I32 => t.to_dtype(DType::I64),
        _ => Ok(t.clone()),
    }
}

/// Runs `f` on `t` computed in f32 when `t` is half precision, rounding the result back.
fn via_f32(t: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let y = f(&t.detach().to_dtype(DType::F32)?)?;
    y.detach().to_dtype(t.dtype())
}

impl Tensor {
    /// Product over `dims` (all when empty). Integer and bool tensors multiply in int64
    /// (wrapping on overflow), like PyTorch. The gradient is right with zeros in the input:
    /// a single zero in a reduced row gets the product of the others, the rest get 0.
    ///
    /// Errors on bad or repeated dims.
    pub fn prod_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = self.reduce_dims("prod", dims)?;
        let x = widen_int(self)?;
        let shape = reduced_shape(x.shape(), &d, keepdim);
        let storage = match x.dtype() {
            DType::F16 | DType::BF16 => {
                let y = via_f32(&x, |f| f.prod_dims(dims, keepdim))?;
                let s = y.storage().clone();
                s
            }
            _ => {
                let s = x.storage();
                match &*s {
                    Storage::F32(v) => {
                        let (rows, n, len) = reduce_rows(v, &x, &d);
                        Storage::F32(fold_rows(&rows, n, len, prod_row))
                    }
                    Storage::F64(v) => {
                        let (rows, n, len) = reduce_rows(v, &x, &d);
                        Storage::F64(fold_rows(&rows, n, len, prod_row))
                    }
                    Storage::I64(v) => {
                        let (rows, n, len) = reduce_rows(v, &x, &d);
                        Storage::I64(fold_rows(&rows, n, len, prod_row_i64))
                    }
                    other => return Err(Error::dtype("prod", other.dtype(), "")),
                }
            }
        };
        let node = Node::record(OpKind::Prod { dims: d, keepdim }, &[&x], vec![]);
        Ok(Tensor::from_storage_node(storage, &shape, node))
    }

    /// Product of all elements as a 0-dim tensor, see [`Tensor::prod_dims`].
    pub fn prod(&self) -> Result<Tensor> {
        self.prod_dims(&[], false)
    }

    /// Variance over `dims` (all when empty): the sum of squared deviations from the mean divided
    /// by `N - correction` (`correction = 1.0` is the unbiased estimate, PyTorch's default; a
    /// non-positive divisor gives inf/NaN like PyTorch). Differentiable.
    ///
    /// Errors on a non-float tensor or bad dims.
    pub fn var_dims(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
        let (dev, divisor) = self.deviations("var", dims, correction)?;
        dev.square()?.sum_dims(dims, keepdim)?.div_scalar(divisor)
    }

    /// Deviations from the mean over `dims` and the divisor `max(0, N - correction)`.
    fn deviations(&self, op: &'static str, dims: &[isize], correction: f64) -> Result<(Tensor, f64)> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                op,
                self.dtype(),
                "var and std need a floating-point tensor; cast with to_dtype",
            ));
        }
        let d = self.reduce_dims(op, dims)?;
        let n: usize = d.iter().map(|&i| self.shape()[i]).product();
        let dev = self.sub(&self.mean_dims(dims, true)?)?;
        Ok((dev, (n as f64 - correction).max(0.0)))
    }

    /// Standard deviation over `dims`: the square root of [`Tensor::var_dims`]. Its gradient is
    /// 0 where the deviation is 0 (PyTorch's rule), not NaN.
    pub fn std_dims(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
        let (dev, divisor) = self.deviations("std", dims, correction)?;
        // The 2-norm's gradient at zero is 0, which gives std that rule.
        dev.norm(2.0, dims, keepdim)?.div_scalar(divisor.sqrt())
    }

    /// Unbiased variance of all elements (`torch.var(x)`), a 0-dim tensor.
    pub fn var(&self) -> Result<Tensor> {
        self.var_dims(&[], 1.0, false)
    }

    /// Unbiased standard deviation of all elements (`torch.std(x)`), a 0-dim tensor.
    pub fn std(&self) -> Result<Tensor> {
        self.std_dims(&[], 1.0, false)
    }

    /// `log(sum(exp(x)))` over `dims` (all when empty), computed stably by subtracting each
    /// row's maximum (`torch.logsumexp`). Rows of `-inf` give `-inf`; an integer input is
    /// computed in the default float dtype. Differentiable (the gradient is the softmax).
    ///
    /// Errors on bad or repeated dims.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = self.reduce_dims("logsumexp", dims)?;
        let x = to_float(self)?;
        let shape = reduced_shape(x.shape(), &d, keepdim);
        let storage = match x.dtype() {
            DType::F16 | DType::BF16 => {
                let y = via_f32(&x, |f| f.logsumexp(dims, keepdim))?;
                let s = y.storage().clone();
                s
            }
            _ => {
                let s = x.storage();
                match &*s {
                    Storage::F32(v) => {
                        let (rows, n, len) = reduce_rows(v, &x, &d);
                        Storage::F32(fold_rows(&rows, n, len, logsumexp_row))
                    }
                    Storage::F64(v) => {
                        let (rows, n, len) = reduce_rows(v, &x, &d);
                        Storage::F64(fold_rows(&rows, n, len, logsumexp_row))
                    }
                    other => return Err(Error::dtype("logsumexp", other.dtype(), "")),
                }
            }
        };
        let node = Node::record(OpKind::LogSumExp { dims: d, keepdim }, &[&x], vec![]);
        Ok(Tensor::from_storage_node(storage, &shape, node))
    }

    /// The vector `p`-norm over `dims` (all when empty) (`torch.linalg.vector_norm`):
    /// `(sum |x|^p)^(1/p)`; `p = inf` is the largest `|x|`, `p = -inf` the smallest, `p = 0` counts
    /// nonzeros. The gradient at a zero norm is 0 (PyTorch's subgradient); with `p = ±inf` it is
    /// split evenly among ties.
    ///
    /// Errors on a non-float tensor, `p = NaN`, or bad dims.
    pub fn norm(&self, p: f64, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                "norm",
                self.dtype(),
                "norm needs a floating-point tensor; cast with to_dtype",
            ));
        }
        if p.is_nan() {
            return Err(Error::invalid("norm", "the order p must not be NaN"));
        }
        let d = self.reduce_dims("norm", dims)?;
        if p == f64::INFINITY {
            return self.abs()?.amax(dims, keepdim);
        }
        if p == f64::NEG_INFINITY {
            return self.abs()?.amin(dims, keepdim);
        }
        if p == 0.0 {
            return self
                .detach()
                .ne_scalar(0.0)?
                .to_dtype(self.dtype())?
                .sum_dims(dims, keepdim);
        }
        let out = crate::no_grad(|| -> Result<Tensor> {
            if p == 2.0 {
                self.square()?.sum_dims(dims, keepdim)?.sqrt()
            } else if p == 1.0 {
                self.abs()?.sum_dims(dims, keepdim)
            } else {
                self.abs()?.pow_scalar(p)?.sum_dims(dims, keepdim)?.pow_scalar(1.0 / p)
            }
        })?;
        let node = Node::record(OpKind::Norm { p, dims: d, keepdim }, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    fn bool_reduce(&self, op: &'static str, dims: &[isize], keepdim: bool, all: bool) -> Result<Tensor> {
        let d = self.reduce_dims(op, dims)?;
        let b = self.detach().to_dtype(DType::Bool)?;
        let shape = reduced_shape(b.shape(), &d, keepdim);
        let out = {
            let s = b.storage();
            let Storage::Bool(v) = &*s else {
                unreachable!("cast to bool above")
            };
            let (rows, n, len) = reduce_rows(v, &b, &d);
            if all {
                fold_rows(&rows, n, len, |r| r.iter().all(|&x| x))
            } else {
                fold_rows(&rows, n, len, |r| r.iter().any(|&x| x))
            }
        };
        let t = Tensor::from_storage(Storage::Bool(out), &shape);
        // PyTorch keeps uint8 for uint8 inputs.
        if self.dtype() == DType::U8 {
            t.to_dtype(DType::U8)
        } else {
            Ok(t)
        }
    }

    /// True when every element is nonzero (`torch.all`), a 0-dim bool tensor (uint8 for a uint8
    /// input). True for an empty tensor. NaN counts as nonzero.
    pub fn all(&self) -> Result<Tensor> {
        self.bool_reduce("all", &[], false, true)
    }

    /// True when some element is nonzero (`torch.any`), see [`Tensor::all`]. False when empty.
    pub fn any(&self) -> Result<Tensor> {
        self.bool_reduce("any", &[], false, false)
    }

    /// [`Tensor::all`] over `dims` (all when empty). Errors on bad or repeated dims.
    pub fn all_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.bool_reduce("all", dims, keepdim, true)
    }

    /// [`Tensor::any`] over `dims` (all when empty). Errors on bad or repeated dims.
    pub fn any_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.bool_reduce("any", dims, keepdim, false)
    }

    /// Running sum along `dim` (`torch.cumsum`), the same shape as the input. Integer and bool
    /// tensors accumulate in int64 (wrapping); half precision accumulates in f32. Differentiable
    /// (the gradient is the reversed running sum of the output gradient).
    ///
    /// Errors on a bad `dim`.
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        let d = one_dim("cumsum", dim, self.rank())?;
        if self.rank() == 0 {
            return widen_int(self)?.deep_clone();
        }
        let x = widen_int(self)?;
        if matches!(x.dtype(), DType::F16 | DType::BF16) {
            let y = via_f32(&x, |f| f.cumsum(dim))?;
            let node = Node::record(OpKind::Cumsum { dim: d }, &[&x], vec![]);
            return Ok(if node.is_some() { y.with_node(node) } else { y });
        }
        let n = x.shape()[d];
        let storage = {
            let s = x.storage();
            macro_rules! scan {
                ($v:expr, $variant:ident, $f:expr) => {{
                    let (rows, nrows, len) = reduce_rows($v, &x, &[d]);
                    let mut out = vec![Default::default(); x.numel()];
                    map_rows_into(&rows, len, &mut out, len, nrows, $f);
                    Storage::$variant(out)
                }};
            }
            match &*s {
                Storage::F32(v) => scan!(v, F32, cumsum_row),
                Storage::F64(v) => scan!(v, F64, cumsum_row),
                Storage::I64(v) => scan!(v, I64, cumsum_row_i64),
                other => return Err(Error::dtype("cumsum", other.dtype(), "")),
            }
        };
        let out = unmove_last(storage, x.shape(), d, n);
        let node = Node::record(OpKind::Cumsum { dim: d }, &[&x], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }
}
