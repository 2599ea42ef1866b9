//! Shapes, strides and offsets: how a tensor views its storage.
//!
//! Strides are in elements and never negative (a flip copies). A stride of 0 repeats an element
//! (the result of `expand`/broadcasting).

use crate::error::{Error, Result};

/// Shape, strides and starting offset of a tensor's view into its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major strides for `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        // Saturating: only an empty shape can overflow here, and its strides are never used.
        acc = acc.saturating_mul(shape[i]);
    }
    strides
}

/// Turns a possibly negative dim into an index in `0..rank`.
pub fn normalize_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r.max(1) || (rank == 0 && d != 0) {
        return Err(Error::Dim { op, dim, rank });
    }
    Ok(d as usize)
}

/// The number of elements of `shape`, checked: errors (naming `op` and the shape) when the
/// product overflows `usize` or `numel * dtype.size_in_bytes()` exceeds `isize::MAX` (the
/// largest allocation). A shape with a zero dim has 0 elements even if the other dims' product
/// overflows (as in PyTorch).
pub fn checked_numel(op: &'static str, shape: &[usize], dtype: crate::DType) -> Result<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n)
            if n.checked_mul(dtype.size_in_bytes())
                .is_some_and(|b| b <= isize::MAX as usize) =>
        {
            Ok(n)
        }
        _ => Err(Error::shape(
            op,
            format!(
                "shape {shape:?} of {} is too large (its size in bytes overflows)",
                dtype.name()
            ),
        )),
    }
}

/// Normalizes a list of dims, rejecting repeats. An empty list means every dim.
pub fn normalize_dims(op: &'static str, dims: &[isize], rank: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(op, d, rank)?;
        if out.contains(&d) {
            return Err(Error::invalid(
                op,
                format!("dim {d} appears more than once in {dims:?}"),
            ));
        }
        out.push(d);
    }
    out.sort_unstable();
    Ok(out)
}

/// The NumPy broadcast of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!("shapes {a:?} and {b:?} cannot be broadcast (dim {i}: {da} vs {db})"),
            ));
        };
    }
    Ok(out)
}

impl Layout {
    /// A contiguous row-major layout starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            strides: contiguous_strides(shape),
            shape: shape.to_vec(),
            offset: 0,
        }
    }

    /// A layout from its parts. The caller guarantees every index fits the storage.
    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        debug_assert_eq!(shape.len(), strides.len());
        Layout { shape, strides, offset }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements (0 when some dim is 0, even if the others' product would overflow).
    pub fn numel(&self) -> usize {
        if self.shape.contains(&0) {
            return 0;
        }
        self.shape.iter().product()
    }

    /// True when the elements are laid out row-major without gaps (size-1 dims ignored).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1usize;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc = acc.saturating_mul(self.shape[i]);
        }
        true
    }

    /// The `start..end` range of storage a contiguous layout covers, else `None`.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous().then(|| self.offset..self.offset + self.numel())
    }

    /// One past the largest storage index this layout touches (its offset when empty).
    pub fn max_extent(&self) -> usize {
        if self.numel() == 0 {
            return self.offset;
        }
        self.offset
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
            + 1
    }

    /// Swaps two dims (already normalized).
    pub fn transpose(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }

    /// Reorders dims: result dim `i` is source dim `perm[i]` (already validated).
    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Elements `start, start + step, ...` (`len` of them) along `dim`.
    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        l.offset += start * self.strides[dim];
        l.shape[dim] = len;
        l.strides[dim] *= step;
        l
    }

    /// Removes `dim` by fixing it at `index`.
    pub fn select(&self, dim: usize, index: usize) -> Layout {
        let mut l = self.clone();
        l.offset += index * self.strides[dim];
        l.shape.remove(dim);
        l.strides.remove(dim);
        l
    }

    /// Broadcasts to `shape` (a NumPy broadcast of the current shape), stride 0 on new dims.
    pub fn broadcast_to(&self, op: &'static str, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.rank() {
            return Err(Error::shape(
                op,
                format!(
                    "cannot broadcast {:?} to {:?}: target has fewer dims",
                    self.shape, shape
                ),
            ));
        }
        let extra = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for i in 0..shape.len() {
            if i < extra {
                continue;
            }
            let (d, s) = (self.shape[i - extra], self.strides[i - extra]);
            if d == shape[i] {
                strides[i] = s;
            } else if d == 1 {
                strides[i] = 0;
            } else {
                return Err(Error::shape(
                    op,
                    format!(
                        "cannot broadcast {:?} to {:?} (dim {i}: {d} vs {})",
                        self.shape, shape, shape[i]
                    ),
                ));
            }
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// A view with a new shape over the same elements, when strides allow it without a copy
    /// (PyTorch's `view` rule: each group of merged dims must be contiguous within itself).
    pub fn reshape_view(&self, new_shape: &[usize]) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                strides: contiguous_strides(new_shape),
                shape: new_shape.to_vec(),
                offset: self.offset,
            });
        }
        // Drop size-1 dims, then match groups of old dims to groups of new dims by product.
        let old: Vec<(usize, usize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(&d, _)| d != 1)
            .map(|(&d, &s)| (d, s))
            .collect();
        let mut strides = vec![0; new_shape.len()];
        let (mut oi, mut ni) = (0, 0);
        while ni < new_shape.len() {
            if new_shape[ni] == 1 {
                strides[ni] = 1;
                ni += 1;
                continue;
            }
            if oi >= old.len() {
                return None;
            }
            // A group of old dims that is internally contiguous.
            let mut size = old[oi].0;
            let mut end = oi;
            let mut new_end = ni;
            let mut new_size = new_shape[ni];
            while size != new_size {
                if size < new_size {
                    end += 1;
                    if end >= old.len() || old[end - 1].1 != old[end].0 * old[end].1 {
                        return None;
                    }
                    size *= old[end].0;
                } else {
                    new_end += 1;
                    if new_end >= new_shape.len() {
                        return None;
                    }
                    new_size *= new_shape[new_end];
                }
            }
            // Assign strides to new dims ni..=new_end from the innermost old stride.
            let mut acc = old[end].1;
            for j in (ni..=new_end).rev() {
                strides[j] = acc;
                acc *= new_shape[j];
            }
            oi = end + 1;
            ni = new_end + 1;
        }
        if oi != old.len() {
            return None;
        }
        Some(Layout {
            shape: new_shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Calls `f(start, len, stride)` for each run of the innermost dim, in row-major order of
    /// the logical elements. Most strided kernels are written over this.
    pub fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let rank = self.rank();
        if self.numel() == 0 {
            return;
        }
        if rank == 0 {
            f(self.offset, 1, 1);
            return;
        }
        if self.is_contiguous() {
            f(self.offset, self.numel(), 1);
            return;
        }
        let inner = self.shape[rank - 1];
        let inner_stride = self.strides[rank - 1];
        let mut idx = vec![0usize; rank - 1];
        let mut off = self.offset;
        loop {
            f(off, inner, inner_stride);
            // Increment the multi-index over the outer dims.
            let mut d = rank - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                off += self.strides[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                off -= self.strides[d] * self.shape[d];
                idx[d] = 0;
            }
        }
    }

    /// Storage offsets of every element in row-major order.
    pub fn offsets(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.numel());
        self.for_each_run(|start, len, stride| out.extend((0..len).map(|i| start + i * stride)));
        out
    }
}

/// Merges adjacent dims that are contiguous with each other in every layout (all of one shape),
/// so strided loops get the longest inner runs. Returns the merged shape and per-layout strides.
pub fn coalesce(shape: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::with_capacity(shape.len()); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        if !out_shape.is_empty() {
            let mergeable = strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| *o.last().unwrap() == s[d] * shape[d] || (*o.last().unwrap() == 0 && s[d] == 0));
            if mergeable {
                *out_shape.last_mut().unwrap() *= shape[d];
                for (o, s) in out_strides.iter_mut().zip(strides) {
                    *o.last_mut().unwrap() = s[d];
                }
                continue;
            }
        }
        out_shape.push(shape[d]);
        for (o, s) in out_strides.iter_mut().zip(strides) {
            o.push(s[d]);
        }
    }
    (out_shape, out_strides)
}

/// Walks two same-shape layouts together, calling `f(off_a, stride_a, off_b, stride_b, len)` per
/// run of the (coalesced) innermost dim, in row-major order.
pub fn zip_runs(a: &Layout, b: &Layout, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    debug_assert_eq!(a.shape(), b.shape());
    if a.numel() == 0 {
        return;
    }
    let (shape, strides) = coalesce(a.shape(), &[a.strides(), b.strides()]);
    let (sa, sb) = (&strides[0], &strides[1]);
    let rank = shape.len();
    if rank == 0 {
        f(a.offset, 1, b.offset, 1, 1);
        return;
    }
    let (inner, ia, ib) = (shape[rank - 1], sa[rank - 1], sb[rank - 1]);
    let mut idx = vec![0usize; rank - 1];
    let (mut oa, mut ob) = (a.offset, b.offset);
    loop {
        f(oa, ia, ob, ib, inner);
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < shape[d] {
                break;
            }
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_view_of_transposed_needs_copy() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        assert!(l.reshape_view(&[6]).is_none());
        assert!(l.reshape_view(&[3, 2, 1]).is_some());
    }

    #[test]
    fn reshape_view_splits_and_merges() {
        // [4, 6] sliced to columns 0..3 -> [4, 3] with strides [6, 1]; splitting dim 0 works.
        let l = Layout::contiguous(&[4, 6]).slice(1, 0, 3, 1);
        let v = l.reshape_view(&[2, 2, 3]).unwrap();
        assert_eq!(v.strides(), &[12, 6, 1]);
        assert!(l.reshape_view(&[12]).is_none());
    }

    #[test]
    fn offsets_follow_row_major_order() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        assert_eq!(l.offsets(), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn broadcast() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
    }
}
