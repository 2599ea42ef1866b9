//! Maxima and minima: `max_dim`/`min_dim` (values and indices), `amax`/`amin` over several dims,
//! `max`/`min` over everything, `argmax`/`argmin`.
//!
//! NaN propagates (the first NaN of a row is the result, with its index) and ties resolve to the
//! first occurrence, as in PyTorch's CPU kernels.

use super::{fold_rows, map_rows, one_dim, reduce_rows, reduced_shape};
use crate::backward::Node;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::reduce::{argmax_row, argmin_row};

/// Errors when one of the reduced dims has size zero (a max of nothing is undefined).
fn nonempty(op: &'static str, t: &Tensor, dims: &[usize]) -> Result<()> {
    if t.rank() == 0 {
        return Ok(());
    }
    if let Some(&d) = dims.iter().find(|&&d| t.shape()[d] == 0) {
        return Err(Error::invalid(
            op,
            format!(
                "expected reduction dim {d} to have non-zero size (input of shape {:?})",
                t.shape()
            ),
        ));
    }
    Ok(())
}

/// Extreme values and their indices (`i64`, within the row) of each row of `t` over `dims`.
fn extremes(t: &Tensor, dims: &[usize], largest: bool) -> (Storage, Vec<i64>) {
    let s = t.storage();
    crate::with_storage!(&*s, v => {
        let (rows, n, len) = reduce_rows(v, t, dims);
        let pairs = map_rows(&rows, n, len, |r| {
            let best = if largest { argmax_row(r) } else { argmin_row(r) };
            best.map(|(x, i)| (x, i as i64)).unwrap_or_default()
        });
        let (vals, idx): (Vec<_>, Vec<i64>) = pairs.into_iter().unzip();
        (Element::into_storage(vals), idx)
    })
}

impl Tensor {
    fn extreme_dim(&self, op: &'static str, dim: isize, keepdim: bool, largest: bool) -> Result<(Tensor, Tensor)> {
        if self.rank() == 0 {
            one_dim(op, dim, 0)?;
            return self.reshape(&[1])?.extreme_dim(op, 0, false, largest);
        }
        let d = one_dim(op, dim, self.rank())?;
        nonempty(op, self, &[d])?;
        let (vals, idx) = extremes(self, &[d], largest);
        let shape = reduced_shape(self.shape(), &[d], keepdim);
        let indices = Tensor::from_storage(Storage::I64(idx), &shape);
        let kind = if largest {
            OpKind::MaxDim { dim: d, keepdim }
        } else {
            OpKind::MinDim { dim: d, keepdim }
        };
        let node = Node::record(kind, &[self], vec![indices.clone()]);
        Ok((Tensor::from_storage_node(vals, &shape, node), indices))
    }

    /// The maximum along `dim` and the (int64) index where it occurs
    /// (`torch.max(x, dim, keepdim)`). Ties give the first index; a NaN in a row is its maximum.
    /// The values have `dim` removed (size 1 with `keepdim`); the values are differentiable, the
    /// gradient going to the chosen index.
    ///
    /// Errors on a bad `dim` or when `dim` has size zero.
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim("max", dim, keepdim, true)
    }

    /// The minimum along `dim` and its index, see [`Tensor::max_dim`] (`torch.min(x, dim)`).
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.extreme_dim("min", dim, keepdim, false)
    }

    fn extreme_dims(&self, op: &'static str, dims: &[isize], keepdim: bool, largest: bool) -> Result<Tensor> {
        let d = self.reduce_dims(op, dims)?;
        nonempty(op, self, &d)?;
        let vals = {
            let s = self.storage();
            crate::with_storage!(&*s, v => {
                let (rows, n, len) = reduce_rows(v, self, &d);
                let best = if largest { argmax_row } else { argmin_row };
                Element::into_storage(fold_rows(&rows, n, len, |r| best(r).map(|(x, _)| x).unwrap_or_default()))
            })
        };
        let shape = reduced_shape(self.shape(), &d, keepdim);
        let kind = if largest {
            OpKind::Amax { dims: d, keepdim }
        } else {
            OpKind::Amin { dims: d, keepdim }
        };
        let node = Node::record(kind, &[self], vec![]);
        Ok(Tensor::from_storage_node(vals, &shape, node))
    }

    /// Maximum over `dims` (all when empty) (`torch.amax`). The gradient is split evenly among
    /// the elements equal to the maximum. NaN propagates.
    ///
    /// Errors on bad or repeated dims, or a reduced dim of size zero.
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.extreme_dims("amax", dims, keepdim, true)
    }

    /// Minimum over `dims` (all when empty) (`torch.amin`), see [`Tensor::amax`].
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.extreme_dims("amin", dims, keepdim, false)
    }

    /// The largest element as a 0-dim tensor (`torch.max(x)`); the gradient is split evenly
    /// among ties. Errors on an empty tensor.
    pub fn max(&self) -> Result<Tensor> {
        self.extreme_dims("max", &[], false, true)
    }

    /// The smallest element as a 0-dim tensor (`torch.min(x)`), see [`Tensor::max`].
    pub fn min(&self) -> Result<Tensor> {
        self.extreme_dims("min", &[], false, false)
    }

    fn arg_extreme(&self, op: &'static str, dim: Option<isize>, keepdim: bool, largest: bool) -> Result<Tensor> {
        let x = self.detach();
        match dim {
            Some(d) => {
                one_dim(op, d, x.rank())?;
                Ok(x.extreme_dim(op, d, keepdim, largest)?.1)
            }
            None => {
                if x.numel() == 0 {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "cannot take the {op} of an empty tensor of shape {:?} without a dim",
                            x.shape()
                        ),
                    ));
                }
                let (_, i) = x.reshape(&[x.numel()])?.extreme_dim(op, 0, false, largest)?;
                if keepdim {
                    i.reshape(&vec![1; x.rank()])
                } else {
                    Ok(i)
                }
            }
        }
    }

    /// Index (int64) of the maximum along `dim`, or into the flattened tensor when `dim` is `None`
    /// (`torch.argmax`). Ties give the first index; NaN counts as the maximum. With `dim = None`
    /// and `keepdim`, the result has every dim of size 1.
    ///
    /// Errors on a bad `dim`, a zero-size `dim`, or an empty tensor with `dim = None`.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmax", dim, keepdim, true)
    }

    /// Index (int64) of the minimum, see [`Tensor::argmax`] (`torch.argmin`).
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmin", dim, keepdim, false)
    }
}
