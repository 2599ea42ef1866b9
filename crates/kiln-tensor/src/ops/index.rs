//! Ops driven by index tensors: `index_select`, `gather`, `scatter` (and its `_value` and
//! `_add` forms), `index_add` and `one_hot`, with PyTorch's semantics.
//!
//! Index tensors are int64 (int32 is accepted too). Indices are never negative and must be
//! below the size of the dim they index; a bad index is an error naming the op, the index and
//! the size. The outputs are fresh tensors (the `_` in-place forms of PyTorch are not here).

use super::index_kernels::{check_index, index_values, map_offsets, scatter_into, take, Combine};
use crate::backward::Node;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{contiguous_strides, normalize_dim, Layout};
use crate::op::OpKind;
use crate::tensor::Tensor;

/// `t` as a 1-element 1-D tensor when it is 0-dim (PyTorch treats 0-dim operands of these ops
/// like that), else `t` itself.
fn lift0(t: &Tensor) -> Result<Tensor> {
    if t.rank() == 0 {
        t.reshape(&[1usize])
    } else {
        Ok(t.clone())
    }
}

fn same_dtype(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        });
    }
    Ok(())
}

impl Tensor {
    /// The entries of `dim` listed by `index` (`torch.index_select`).
    ///
    /// `index` is 0-D or 1-D with `k` elements; the result has `self`'s shape with `dim` of
    /// size `k` (a 0-dim `self` gives `index`'s shape). Indices may repeat. Errors on an index
    /// outside `0..size(dim)`, an index of rank > 1, or a non-integer index.
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_select";
        if index.rank() > 1 {
            return Err(Error::shape(
                OP,
                format!("index must be 0-D or 1-D, got shape {:?}", index.shape()),
            ));
        }
        if self.rank() == 0 {
            normalize_dim(OP, dim, 0)?;
            return lift0(self)?.index_select(0, index)?.reshape(index.shape());
        }
        let d = normalize_dim(OP, dim, self.rank())?;
        let n = self.shape()[d];
        let picked = index_values(OP, index)?
            .into_iter()
            .map(|v| check_index(OP, v, d, n))
            .collect::<Result<Vec<usize>>>()?;
        let mut shape = self.shape().to_vec();
        shape[d] = picked.len();
        let maps: Vec<Vec<usize>> = (0..self.rank())
            .map(|k| {
                if k == d {
                    picked.clone()
                } else {
                    (0..shape[k]).collect()
                }
            })
            .collect();
        let out = take(self, &map_offsets(self.layout(), &maps), &shape, 0.0);
        let node = Node::record(OpKind::IndexSelect { dim: d }, &[self, index], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// Values along `dim` picked by `index` (`torch.gather`): for `dim = 0`,
    /// `out[i][j] = self[index[i][j]][j]`.
    ///
    /// `index` has `self`'s rank and, in every other dim, a size no larger than `self`'s; the
    /// result has `index`'s shape. Errors on a rank or size mismatch or an out-of-range index.
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        let r = self.rank();
        if index.rank() != r {
            return Err(Error::shape(
                OP,
                format!(
                    "index of shape {:?} must have the same number of dims as input of shape {:?}",
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        if r == 0 {
            normalize_dim(OP, dim, 0)?;
            return lift0(self)?.gather(0, &lift0(index)?)?.reshape(&[] as &[usize]);
        }
        let d = normalize_dim(OP, dim, r)?;
        for k in (0..r).filter(|&k| k != d) {
            if index.shape()[k] > self.shape()[k] {
                return Err(Error::shape(
                    OP,
                    format!(
                        "index of shape {:?} is larger than input of shape {:?} in dimension {k}",
                        index.shape(),
                        self.shape()
                    ),
                ));
            }
        }
        let mut strides = self.stride().to_vec();
        let step = strides[d];
        strides[d] = 0;
        let base = Layout::new(index.shape().to_vec(), strides, self.layout().offset()).offsets();
        let (n, vals) = (self.shape()[d], index_values(OP, index)?);
        let offsets = base
            .iter()
            .zip(vals)
            .map(|(&b, v)| Ok(b + check_index(OP, v, d, n)? * step))
            .collect::<Result<Vec<usize>>>()?;
        let out = take(self, &offsets, index.shape(), 0.0);
        let node = Node::record(OpKind::Gather { dim: d }, &[self, index], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// A copy of `self` with `src`'s values written at the positions `index` gives along `dim`
    /// (`torch.scatter`): for `dim = 0`, `out[index[i][j]][j] = src[i][j]`.
    ///
    /// `index`, `src` and `self` have one rank; `index` is no larger than `src` in any dim and
    /// no larger than `self` outside `dim`; `src` has `self`'s dtype. When an index repeats,
    /// the last write wins (PyTorch leaves the order unspecified). The result has `self`'s
    /// shape. Gradients flow to `self` (zero at overwritten positions) and to `src`.
    pub fn scatter(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl("scatter", dim, index, src, Combine::Assign)
    }

    /// [`Tensor::scatter`] of one value: `out[index[i][j]][j] = value` for `dim = 0`.
    pub fn scatter_value(&self, dim: isize, index: &Tensor, value: f64) -> Result<Tensor> {
        let src = Tensor::full(index.shape(), value, self.dtype())?;
        self.scatter_impl("scatter", dim, index, &src, Combine::Assign)
    }

    /// A copy of `self` with `src`'s values added at the positions `index` gives along `dim`
    /// (`torch.scatter_add`): for `dim = 0`, `out[index[i][j]][j] += src[i][j]`; repeated
    /// indices accumulate. Shape rules as [`Tensor::scatter`]; bool tensors are an error.
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl("scatter_add", dim, index, src, Combine::Add)
    }

    fn scatter_impl(&self, op: &'static str, dim: isize, index: &Tensor, src: &Tensor, how: Combine) -> Result<Tensor> {
        let r = self.rank();
        if index.rank() != r || src.rank() != r {
            return Err(Error::shape(
                op,
                format!(
                    "self {:?}, index {:?} and src {:?} must have the same number of dims",
                    self.shape(),
                    index.shape(),
                    src.shape()
                ),
            ));
        }
        same_dtype(op, self, src)?;
        if r == 0 {
            normalize_dim(op, dim, 0)?;
            let out = lift0(self)?.scatter_impl(op, 0, &lift0(index)?, &lift0(src)?, how)?;
            return out.reshape(&[] as &[usize]);
        }
        let d = normalize_dim(op, dim, r)?;
        for k in 0..r {
            let i = index.shape()[k];
            if i > src.shape()[k] || (k != d && i > self.shape()[k]) {
                return Err(Error::shape(
                    op,
                    format!(
                        "index of shape {:?} is larger than {} of shape {:?} in dimension {k}",
                        index.shape(),
                        if i > src.shape()[k] { "src" } else { "self" },
                        if i > src.shape()[k] { src.shape() } else { self.shape() },
                    ),
                ));
            }
        }
        let out = self.contiguous_copy();
        let mut strides = contiguous_strides(self.shape());
        let step = strides[d];
        strides[d] = 0;
        let base = Layout::new(index.shape().to_vec(), strides, 0).offsets();
        let (n, vals) = (self.shape()[d], index_values(op, index)?);
        let dst = base
            .iter()
            .zip(vals)
            .map(|(&b, v)| Ok(b + check_index(op, v, d, n)? * step))
            .collect::<Result<Vec<usize>>>()?;
        let src_offsets = Layout::new(index.shape().to_vec(), src.stride().to_vec(), src.layout().offset()).offsets();
        scatter_into(op, &out, &dst, src, &src_offsets, how)?;
        let kind = match how {
            Combine::Assign => OpKind::Scatter { dim: d },
            Combine::Add => OpKind::ScatterAdd { dim: d },
        };
        let node = Node::record(kind, &[self, index, src], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// A copy of `self` with the entries of `src` along `dim` added at the entries `index`
    /// lists (`torch.index_add`): `out.select(dim, index[i]) += src.select(dim, i)`; repeated
    /// indices accumulate.
    ///
    /// `index` is 0-D or 1-D with `k` elements; `src` has `self`'s dtype and shape except for
    /// size `k` in `dim`. Errors on mismatched shapes or dtypes, or an out-of-range index.
    pub fn index_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_add";
        if index.rank() > 1 {
            return Err(Error::shape(
                OP,
                format!("index must be 0-D or 1-D, got shape {:?}", index.shape()),
            ));
        }
        same_dtype(OP, self, src)?;
        if self.rank() != src.rank() {
            return Err(Error::shape(
                OP,
                format!(
                    "source of shape {:?} must have the same number of dims as self of shape {:?}",
                    src.shape(),
                    self.shape()
                ),
            ));
        }
        if self.rank() == 0 {
            normalize_dim(OP, dim, 0)?;
            return lift0(self)?.index_add(0, index, &lift0(src)?)?.reshape(&[] as &[usize]);
        }
        let d = normalize_dim(OP, dim, self.rank())?;
        let vals = index_values(OP, index)?;
        let mut expect = self.shape().to_vec();
        expect[d] = vals.len();
        if src.shape() != expect {
            return Err(Error::shape(
                OP,
                format!(
                    "source of shape {:?} does not fit self of shape {:?} with {} indices in dimension {d} (expected {expect:?})",
                    src.shape(),
                    self.shape(),
                    vals.len()
                ),
            ));
        }
        let n = self.shape()[d];
        let out = self.contiguous_copy();
        let (mut dst, mut from) = (Vec::with_capacity(src.numel()), Vec::with_capacity(src.numel()));
        for (i, v) in vals.into_iter().enumerate() {
            let at = check_index(OP, v, d, n)?;
            dst.extend(out.layout().select(d, at).offsets());
            from.extend(src.layout().select(d, i).offsets());
        }
        scatter_into(OP, &out, &dst, src, &from, Combine::Add)?;
        let node = Node::record(OpKind::IndexAdd { dim: d }, &[self, index, src], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// [`Tensor::index_add`] with `src` scaled by `alpha` (PyTorch's `alpha=` argument).
    pub fn index_add_alpha(&self, dim: isize, index: &Tensor, src: &Tensor, alpha: f64) -> Result<Tensor> {
        if alpha == 1.0 {
            return self.index_add(dim, index, src);
        }
        self.index_add(dim, index, &src.mul_scalar(alpha)?)
    }

    /// One-hot encoding of an int64 (or int32) class tensor (`F.one_hot`): shape
    /// `self.shape() + [num_classes]`, int64, 1 at each class. `None` takes `max + 1`.
    ///
    /// Errors on a negative class, a class `>= num_classes`, a non-integer tensor, or `None`
    /// with an empty tensor.
    pub fn one_hot(&self, num_classes: Option<usize>) -> Result<Tensor> {
        const OP: &str = "one_hot";
        if !matches!(self.dtype(), DType::I64 | DType::I32) {
            return Err(Error::dtype(OP, self.dtype(), "one_hot needs an int64 class tensor"));
        }
        let vals = index_values(OP, self)?;
        if let Some(&v) = vals.iter().find(|&&v| v < 0) {
            return Err(Error::invalid(
                OP,
                format!("class values must be non-negative, got {v}"),
            ));
        }
        let c = match num_classes {
            Some(c) => c,
            None => match vals.iter().max() {
                Some(&m) => m as usize + 1,
                None => {
                    return Err(Error::invalid(
                        OP,
                        "cannot infer the number of classes from an empty tensor",
                    ))
                }
            },
        };
        let n = vals.len().checked_mul(c).filter(|&n| n <= isize::MAX as usize / 8);
        let Some(n) = n else {
            return Err(Error::invalid(
                OP,
                format!("{} classes for {} values is too many elements", c, vals.len()),
            ));
        };
        let mut out = vec![0i64; n];
        for (i, &v) in vals.iter().enumerate() {
            if v as u64 >= c as u64 {
                return Err(Error::invalid(
                    OP,
                    format!("class value {v} is out of range for num_classes {c}"),
                ));
            }
            out[i * c + v as usize] = 1;
        }
        let mut shape = self.shape().to_vec();
        shape.push(c);
        Tensor::from_vec(out, &shape)
    }
}
