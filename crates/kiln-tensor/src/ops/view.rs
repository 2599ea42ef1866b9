//! Views that change only the layout (`transpose`, `narrow`, `expand`, ...) and reshaping.
//! A view shares storage with its source; backward maps gradients back through the view.

use crate::backward::Node;
use crate::error::{Error, Result};
use crate::layout::{normalize_dim, normalize_dims};
use crate::op::OpKind;
use crate::tensor::Tensor;

/// A shape argument that may contain one `-1` (inferred), as in PyTorch's `reshape(-1, 4)`.
pub trait ShapeArg {
    fn to_dims(&self) -> Vec<i64>;
}
macro_rules! shape_arg {
    ($($t:ty),*) => {$(
        impl ShapeArg for [$t] {
            fn to_dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
        impl<const N: usize> ShapeArg for [$t; N] {
            fn to_dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
        impl ShapeArg for Vec<$t> {
            fn to_dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
    )*};
}
shape_arg!(usize, isize, i32, i64);

/// Resolves a `-1` in `dims` against `numel`.
fn resolve_shape(op: &'static str, dims: &[i64], numel: usize, from: &[usize]) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in dims.iter().enumerate() {
        if d == -1 {
            if infer.replace(i).is_some() {
                return Err(Error::shape(
                    op,
                    format!("only one dimension can be inferred in {dims:?}"),
                ));
            }
        } else if d < 0 {
            return Err(Error::shape(op, format!("invalid dimension {d} in {dims:?}")));
        } else {
            known = known.saturating_mul(d as usize);
        }
    }
    if known == usize::MAX && !dims.contains(&0) {
        return Err(Error::shape(
            op,
            format!("shape {dims:?} is too large (its number of elements overflows)"),
        ));
    }
    if dims.contains(&0) {
        known = 0;
    }
    let mut out: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(Error::shape(
                op,
                format!("shape {dims:?} is invalid for input of size {numel} ({from:?})"),
            ));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(Error::shape(
            op,
            format!("shape {dims:?} is invalid for input of size {numel} ({from:?})"),
        ));
    }
    Ok(out)
}

impl Tensor {
    /// The same elements with a new shape: a view when the strides allow it, else a copy
    /// (`torch.reshape`). One dim may be `-1`.
    pub fn reshape<S: ShapeArg + ?Sized>(&self, shape: &S) -> Result<Tensor> {
        let shape = resolve_shape("reshape", &shape.to_dims(), self.numel(), self.shape())?;
        let node = Node::record(OpKind::Reshape, &[self], vec![]);
        match self.layout().reshape_view(&shape) {
            Some(l) => Ok(self.view_with(l, node)),
            None => Ok(self
                .contiguous_copy()
                .view_with(crate::Layout::contiguous(&shape), node)),
        }
    }

    /// Like [`Tensor::reshape`] but never copies: errors when the strides do not allow a view
    /// (`torch.Tensor.view`).
    pub fn view<S: ShapeArg + ?Sized>(&self, shape: &S) -> Result<Tensor> {
        let shape = resolve_shape("view", &shape.to_dims(), self.numel(), self.shape())?;
        let l = self.layout().reshape_view(&shape).ok_or_else(|| {
            Error::shape(
                "view",
                format!(
                    "a tensor of shape {:?} and strides {:?} cannot be viewed as {shape:?} without a copy; use reshape",
                    self.shape(),
                    self.stride()
                ),
            )
        })?;
        Ok(self.view_with(l, Node::record(OpKind::Reshape, &[self], vec![])))
    }

    /// Swaps two dims (a view).
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let r = self.rank();
        let (a, b) = (
            normalize_dim("transpose", dim0, r)?,
            normalize_dim("transpose", dim1, r)?,
        );
        if r < 2 {
            return Ok(self.clone());
        }
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(a, b);
        Ok(self.view_with(
            self.layout().transpose(a, b),
            Node::record(OpKind::Permute(perm), &[self], vec![]),
        ))
    }

    /// Transpose of a tensor of rank ≤ 2 (`tensor.t()`).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() > 2 {
            return Err(Error::shape(
                "t",
                format!("expects a tensor with <= 2 dimensions, got {:?}", self.shape()),
            ));
        }
        self.transpose(0, -1)
    }

    /// Reorders dims: result dim `i` is source dim `dims[i]` (a view).
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        let r = self.rank();
        if dims.len() != r {
            return Err(Error::shape(
                "permute",
                format!(
                    "{} dims given for a tensor of rank {r} ({:?})",
                    dims.len(),
                    self.shape()
                ),
            ));
        }
        let mut perm = Vec::with_capacity(r);
        for &d in dims {
            let d = normalize_dim("permute", d, r)?;
            if perm.contains(&d) {
                return Err(Error::invalid("permute", format!("repeated dim in {dims:?}")));
            }
            perm.push(d);
        }
        Ok(self.view_with(
            self.layout().permute(&perm),
            Node::record(OpKind::Permute(perm), &[self], vec![]),
        ))
    }

    /// `length` elements of `dim` starting at `start` (a view).
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Tensor> {
        let d = normalize_dim("narrow", dim, self.rank())?;
        if self.rank() == 0 {
            return Err(Error::shape("narrow", "cannot narrow a 0-dim tensor"));
        }
        let n = self.shape()[d];
        if start.checked_add(length).is_none_or(|end| end > n) {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {d} of {:?}",
                    self.shape()
                ),
            ));
        }
        self.slice(dim, start as isize, Some((start + length) as isize), 1)
    }

    /// Elements `start..end` of `dim` with `step` (Python's `x[start:end:step]`; negative bounds
    /// count from the end and are clamped like Python slices). A view.
    pub fn slice(&self, dim: isize, start: isize, end: Option<isize>, step: usize) -> Result<Tensor> {
        let d = normalize_dim("slice", dim, self.rank())?;
        if self.rank() == 0 {
            return Err(Error::shape("slice", "cannot slice a 0-dim tensor"));
        }
        if step == 0 {
            return Err(Error::invalid("slice", "step must be positive"));
        }
        let n = self.shape()[d] as isize;
        let clamp = |i: isize| if i < 0 { (i + n).max(0) } else { i.min(n) };
        let (s, e) = (clamp(start), clamp(end.unwrap_or(n)));
        let len = if e > s { ((e - s) as usize).div_ceil(step) } else { 0 };
        let s = s as usize;
        let node = Node::record(
            OpKind::Slice {
                dim: d,
                start: s,
                len,
                step,
            },
            &[self],
            vec![],
        );
        Ok(self.view_with(self.layout().slice(d, s, len, step), node))
    }

    /// Removes `dim` by taking element `index` (`x[..., index, ...]`); negative counts from
    /// the end. A view.
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let d = normalize_dim("select", dim, self.rank())?;
        if self.rank() == 0 {
            return Err(Error::shape("select", "cannot index a 0-dim tensor"));
        }
        let n = self.shape()[d] as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(Error::invalid(
                "select",
                format!("index {index} is out of bounds for dimension {d} with size {n}"),
            ));
        }
        let node = Node::record(
            OpKind::Select {
                dim: d,
                index: i as usize,
            },
            &[self],
            vec![],
        );
        Ok(self.view_with(self.layout().select(d, i as usize), node))
    }

    /// Broadcasts to `shape` without copying (`expand`; new leading dims allowed, size-1 dims
    /// repeat). `-1` keeps a size.
    pub fn expand<S: ShapeArg + ?Sized>(&self, shape: &S) -> Result<Tensor> {
        let dims = shape.to_dims();
        let extra = dims.len().saturating_sub(self.rank());
        let mut target = Vec::with_capacity(dims.len());
        for (i, &d) in dims.iter().enumerate() {
            target.push(match d {
                -1 if i >= extra => self.shape()[i - extra],
                -1 => {
                    return Err(Error::shape(
                        "expand",
                        format!(
                            "-1 is not allowed in a new leading dim ({i}) when expanding {:?} to {dims:?}",
                            self.shape()
                        ),
                    ))
                }
                d if d < 0 => {
                    return Err(Error::shape(
                        "expand",
                        format!("invalid size {d} in {dims:?} (expanding {:?})", self.shape()),
                    ))
                }
                d => d as usize,
            });
        }
        self.broadcast_to(&target)
    }

    /// Broadcasts to `shape` (NumPy rules) without copying.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        crate::layout::checked_numel("expand", shape, self.dtype())?;
        let l = self.layout().broadcast_to("expand", shape)?;
        Ok(self.view_with(l, Node::record(OpKind::Expand, &[self], vec![])))
    }

    /// Broadcasts to another tensor's shape.
    pub fn expand_as(&self, other: &Tensor) -> Result<Tensor> {
        self.broadcast_to(other.shape())
    }

    /// Removes every size-1 dim.
    pub fn squeeze(&self) -> Result<Tensor> {
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&d| d != 1).collect();
        self.reshape(&shape)
    }

    /// Removes `dim` if its size is 1 (else returns the tensor unchanged, like PyTorch).
    pub fn squeeze_dim(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("squeeze", dim, self.rank())?;
        if self.rank() == 0 || self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut shape = self.shape().to_vec();
        shape.remove(d);
        self.reshape(&shape)
    }

    /// Inserts a size-1 dim at `dim` (`-1` appends).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("unsqueeze", dim, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(d, 1);
        self.reshape(&shape)
    }

    /// Merges dims `start_dim..=end_dim` into one.
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1usize]);
        }
        let (s, e) = (
            normalize_dim("flatten", start_dim, self.rank())?,
            normalize_dim("flatten", end_dim, self.rank())?,
        );
        if s > e {
            return Err(Error::invalid(
                "flatten",
                format!("start_dim {start_dim} comes after end_dim {end_dim}"),
            ));
        }
        let sh = self.shape();
        let mut shape: Vec<usize> = sh[..s].to_vec();
        shape.push(sh[s..=e].iter().product());
        shape.extend_from_slice(&sh[e + 1..]);
        self.reshape(&shape)
    }

    /// Splits into pieces of `split_size` along `dim` (the last may be smaller). Views.
    pub fn split(&self, split_size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.rank())?;
        if split_size == 0 {
            return Err(Error::invalid("split", "split_size must be positive"));
        }
        let n = self.shape().get(d).copied().unwrap_or(0);
        (0..n.max(1))
            .step_by(split_size)
            .map(|s| self.narrow(d as isize, s, split_size.min(n - s)))
            .collect()
    }

    /// Splits into pieces with the given sizes along `dim`; they must sum to the dim's size.
    pub fn split_with_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.rank())?;
        let n = self.shape().get(d).copied().unwrap_or(0);
        if sizes.iter().sum::<usize>() != n {
            return Err(Error::shape(
                "split",
                format!("sizes {sizes:?} do not sum to {n} (dim {d} of {:?})", self.shape()),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let t = self.narrow(d as isize, start, len);
                start += len;
                t
            })
            .collect()
    }

    /// Splits into `chunks` nearly equal pieces along `dim` (`torch.chunk`: each of size
    /// `ceil(n / chunks)`, so there may be fewer pieces).
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::invalid("chunk", "chunks must be positive"));
        }
        let d = normalize_dim("chunk", dim, self.rank())?;
        let n = self.shape().get(d).copied().unwrap_or(0);
        self.split(n.div_ceil(chunks).max(1), dim)
    }

    /// Normalized, sorted dims for a reduction (empty means all).
    pub(crate) fn reduce_dims(&self, op: &'static str, dims: &[isize]) -> Result<Vec<usize>> {
        if self.rank() == 0 {
            // As in PyTorch, a 0-dim tensor accepts dim 0 / -1 and reduces nothing.
            normalize_dims(op, dims, 1)?;
            return Ok(Vec::new());
        }
        normalize_dims(op, dims, self.rank())
    }
}

impl Tensor {
    /// A copy of `self` with the slice `start, start+step, ...` (`len` elements) of `dim`
    /// replaced by `src` (`torch.slice_scatter`). `src` must have the slice's shape.
    pub fn slice_scatter(&self, src: &Tensor, dim: usize, start: usize, len: usize, step: usize) -> Result<Tensor> {
        if dim >= self.rank() || step == 0 || (len > 0 && start + (len - 1) * step >= self.shape()[dim]) {
            return Err(Error::invalid(
                "slice_scatter",
                format!(
                    "slice {start}..(len {len}, step {step}) of dim {dim} is out of range for {:?}",
                    self.shape()
                ),
            ));
        }
        let out = self.contiguous_copy();
        let view = out.layout().slice(dim, start, len, step);
        if view.shape() != src.shape() {
            return Err(Error::shape(
                "slice_scatter",
                format!(
                    "src of shape {:?} does not match the slice shape {:?}",
                    src.shape(),
                    view.shape()
                ),
            ));
        }
        let src_c = src.detach().to_dtype(self.dtype())?.contiguous()?;
        {
            let s = src_c.storage();
            let mut o = out.storage_mut();
            let offsets = view.offsets();
            crate::with_storage!(&mut *o, dst => {
                let sv = crate::dtype::Element::slice(&s).expect("cast to the same dtype");
                // A contiguous view may start past the beginning of its buffer.
                let sv = &sv[src_c.layout().offset()..];
                for (&off, &v) in offsets.iter().zip(sv) {
                    dst[off] = v;
                }
            });
        }
        let node = Node::record(OpKind::SliceScatter { dim, start, len, step }, &[self, src], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }
}
