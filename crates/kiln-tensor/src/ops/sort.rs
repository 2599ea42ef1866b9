//! Sorting along a dim: `sort`, `argsort`, `topk`, and the private gather/scatter along a dim
//! that their backward (and `max_dim`'s) is written with.
//!
//! Sorts are stable; NaN is ordered after every number (last when ascending, first when
//! descending), as in PyTorch.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::ops::reduce::{one_dim, reduce_rows, unmove_last};
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::reduce::{argsort_row, map_rows_into, topk_row};
use kiln_kernels::Num;

/// Sizes of the dims before `dim` and after it.
fn outer_inner(shape: &[usize], dim: usize) -> (usize, usize) {
    (shape[..dim].iter().product(), shape[dim + 1..].iter().product())
}

/// `out[.., j, ..] = x[.., index[.., j, ..], ..]` along `dim` (`torch.take_along_dim` with
/// in-range int64 indices of `index`'s shape, which matches `x` outside `dim`). Recorded for
/// backward. Errors when `index` is not int64.
pub(crate) fn take_along(x: &Tensor, index: &Tensor, dim: usize) -> Result<Tensor> {
    let (outer, inner) = outer_inner(x.shape(), dim);
    let (nx, ni) = (x.shape()[dim], index.shape()[dim]);
    let idx = index.to_vec::<i64>()?;
    let storage = {
        let s = x.storage();
        crate::with_storage!(&*s, v => {
            let src = crate::tensor::gather_contiguous(v, x.layout());
            let mut out = Vec::with_capacity(idx.len());
            for o in 0..outer {
                for j in 0..ni {
                    for i in 0..inner {
                        let k = idx[(o * ni + j) * inner + i] as usize;
                        out.push(src[(o * nx + k) * inner + i]);
                    }
                }
            }
            Element::into_storage(out)
        })
    };
    let node = Node::record(OpKind::TakeAlong { dim }, &[x], vec![index.clone()]);
    Ok(Tensor::from_storage_node(storage, index.shape(), node))
}

fn put_add<T: Num>(src: &[T], idx: &[i64], out: &mut [T], (outer, ni, nx, inner): (usize, usize, usize, usize)) {
    for o in 0..outer {
        for j in 0..ni {
            for i in 0..inner {
                let k = idx[(o * ni + j) * inner + i] as usize;
                let p = (o * nx + k) * inner + i;
                out[p] = out[p].wadd(src[(o * ni + j) * inner + i]);
            }
        }
    }
}

/// Zeros of `shape` with `src` added at `index` along `dim` (a scatter-add, the backward of
/// [`take_along`]); `index` has `src`'s shape. Recorded for backward. Errors when `index` is not
/// int64 or `src` is bool.
pub(crate) fn put_along(src: &Tensor, index: &Tensor, dim: usize, shape: &[usize]) -> Result<Tensor> {
    let (outer, inner) = outer_inner(shape, dim);
    let dims = (outer, index.shape()[dim], shape[dim], inner);
    let idx = index.to_vec::<i64>()?;
    let n: usize = shape.iter().product();
    let storage = {
        let s = src.storage();
        macro_rules! put {
            ($($v:ident),*) => {
                match &*s {
                    $(Storage::$v(v) => {
                        let sv = crate::tensor::gather_contiguous(v, src.layout());
                        let mut out = vec![Num::ZERO; n];
                        put_add(&sv, &idx, &mut out, dims);
                        Storage::$v(out)
                    })*
                    other => return Err(Error::dtype("put_along", other.dtype(), "")),
                }
            };
        }
        put!(F32, F64, F16, BF16, I64, I32, U8)
    };
    let node = Node::record(OpKind::PutAlong { dim }, &[src], vec![index.clone()]);
    Ok(Tensor::from_storage_node(storage, shape, node))
}

impl Tensor {
    /// Indices (int64, with `dim`'s size replaced by `k`) ordering each row along `dim`: the
    /// whole stable order when `k` is `None`, else the best `k`.
    fn order_indices(&self, dim: usize, descending: bool, k: Option<usize>) -> Tensor {
        let n = self.shape()[dim];
        let m = k.unwrap_or(n);
        let s = self.storage();
        let idx = crate::with_storage!(&*s, v => {
            let (rows, nrows, len) = reduce_rows(v, self, &[dim]);
            let mut out = vec![0i64; nrows * m];
            match k {
                None => map_rows_into(&rows, len, &mut out, m, nrows, |r, o| argsort_row(r, descending, o)),
                Some(_) => map_rows_into(&rows, len, &mut out, m, nrows, |r, o| topk_row(r, descending, o)),
            }
            out
        });
        unmove_last(Storage::I64(idx), self.shape(), dim, m)
    }

    /// Sorts along `dim` (`torch.sort(x, dim, descending, stable=True)`): returns the sorted
    /// values and the int64 indices they came from, both of the input's shape. Equal elements
    /// keep their order; NaN sorts last ascending and first descending. The values are
    /// differentiable.
    ///
    /// Errors on a bad `dim`.
    pub fn sort(&self, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        let d = one_dim("sort", dim, self.rank())?;
        if self.rank() == 0 {
            return Ok((self.clone(), Tensor::zeros(&[], DType::I64)));
        }
        let idx = self.order_indices(d, descending, None);
        let values = crate::no_grad(|| take_along(&self.detach(), &idx, d))?;
        let node = Node::record(OpKind::Sort { dim: d, descending }, &[self], vec![idx.clone()]);
        Ok((values.with_node(node), idx))
    }

    /// The int64 indices that sort along `dim` (`torch.argsort(x, dim, descending, stable=True)`),
    /// see [`Tensor::sort`].
    pub fn argsort(&self, dim: isize, descending: bool) -> Result<Tensor> {
        let d = one_dim("argsort", dim, self.rank())?;
        if self.rank() == 0 {
            return Ok(Tensor::zeros(&[], DType::I64));
        }
        Ok(self.order_indices(d, descending, None))
    }

    /// The `k` largest (or smallest) elements along `dim` and their int64 indices
    /// (`torch.topk`); `dim`'s size becomes `k`. NaN counts as the largest value. The result is
    /// always ordered best first, equal values by index (PyTorch leaves the order unspecified
    /// when `sorted` is false, so this order is valid for both). The values are differentiable.
    ///
    /// Errors on a bad `dim` or `k` larger than `dim`'s size.
    pub fn topk(&self, k: usize, dim: isize, largest: bool, sorted: bool) -> Result<(Tensor, Tensor)> {
        let _ = sorted;
        let d = one_dim("topk", dim, self.rank())?;
        let n = self.shape().get(d).copied().unwrap_or(1);
        if k > n {
            return Err(Error::invalid(
                "topk",
                format!(
                    "k ({k}) is out of range for dim {d} of size {n} (input of shape {:?})",
                    self.shape()
                ),
            ));
        }
        if self.rank() == 0 {
            let (v, i) = self.reshape(&[1])?.topk(k, 0, largest, true)?;
            let shape: &[usize] = if k == 1 { &[] } else { &[0] };
            let v = if k == 1 { v.reshape(shape)? } else { v };
            return Ok((v, if k == 1 { i.reshape(shape)? } else { i }));
        }
        let idx = self.order_indices(d, largest, Some(k));
        let values = crate::no_grad(|| take_along(&self.detach(), &idx, d))?;
        let node = Node::record(OpKind::TopK { k, dim: d, largest }, &[self], vec![idx.clone()]);
        Ok((values.with_node(node), idx))
    }
}
