//! Copy kernels shared by the indexing and shape ops, over any dtype: reading a tensor's
//! storage at computed offsets (with a fill value), writing or adding values at computed
//! offsets, and reading index tensors.
//!
//! Offsets are storage offsets: callers build them from layouts, so strided inputs need no
//! contiguous copy first. [`FILL`] marks an output element that takes the fill value.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::par::{should_split, ELEMENTWISE_PAR_THRESHOLD};
use kiln_kernels::Num;
use rayon::prelude::*;

/// The offset that stands for "no source element: use the fill value".
pub(crate) const FILL: usize = usize::MAX;

/// The elements of an int64 or int32 index tensor in row-major order, as `i64`.
pub(crate) fn index_values(op: &'static str, index: &Tensor) -> Result<Vec<i64>> {
    match index.dtype() {
        DType::I64 => index.to_vec::<i64>(),
        DType::I32 => Ok(index.to_vec::<i32>()?.into_iter().map(i64::from).collect()),
        other => Err(Error::dtype(op, other, "index tensors must be int64 or int32")),
    }
}

/// Checks `v` against `size` (no negative indices, as PyTorch's gather/scatter/index_select).
pub(crate) fn check_index(op: &'static str, v: i64, dim: usize, size: usize) -> Result<usize> {
    if v < 0 || v as u64 >= size as u64 {
        return Err(Error::invalid(
            op,
            format!("index {v} is out of bounds for dimension {dim} with size {size}"),
        ));
    }
    Ok(v as usize)
}

/// Storage offsets of a separable index map over `layout`: output position `o` of dim `d`
/// reads source position `maps[d][o]` (or [`FILL`]). The output shape is the maps' lengths;
/// offsets come in row-major order of the output.
pub(crate) fn map_offsets(layout: &Layout, maps: &[Vec<usize>]) -> Vec<usize> {
    debug_assert_eq!(maps.len(), layout.rank());
    let contrib: Vec<Vec<usize>> = maps
        .iter()
        .zip(layout.strides())
        .map(|(m, &s)| m.iter().map(|&i| if i == FILL { FILL } else { i * s }).collect())
        .collect();
    let n: usize = maps.iter().map(Vec::len).product();
    let mut out = Vec::with_capacity(n);
    fn rec(contrib: &[Vec<usize>], base: usize, out: &mut Vec<usize>) {
        match contrib.split_first() {
            None => out.push(base),
            Some((c, [])) => out.extend(
                c.iter()
                    .map(|&x| if x == FILL || base == FILL { FILL } else { base + x }),
            ),
            Some((c, rest)) => {
                for &x in c {
                    let b = if x == FILL || base == FILL { FILL } else { base + x };
                    rec(rest, b, out);
                }
            }
        }
    }
    if n > 0 {
        rec(&contrib, layout.offset(), &mut out);
    }
    out
}

/// A new contiguous tensor of `shape` (no autograd history) whose element `i` is `t`'s storage
/// at `offsets[i]`, or `fill` (cast to `t`'s dtype) where the offset is [`FILL`].
pub(crate) fn take(t: &Tensor, offsets: &[usize], shape: &[usize], fill: f64) -> Tensor {
    fn go<T: Element>(v: &[T], offsets: &[usize], fill: f64) -> Storage {
        let f = T::from_f64(fill);
        let pick = |&o: &usize| if o == FILL { f } else { v[o] };
        T::into_storage(if should_split(offsets.len(), ELEMENTWISE_PAR_THRESHOLD) {
            offsets.par_iter().map(pick).collect()
        } else {
            offsets.iter().map(pick).collect()
        })
    }
    let storage = {
        let s = t.storage();
        crate::with_storage!(&*s, v => go(v, offsets, fill))
    };
    Tensor::from_storage(storage, shape)
}

/// How [`scatter_into`] combines a value with the destination element.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    Assign,
    Add,
}

/// Writes (or adds) `src`'s storage at `src_offsets[i]` into `dst` (a fresh buffer, not shared
/// with `src`, of the same dtype) at `dst_offsets[i]`, in order (the last write wins for `Assign`).
/// `Add` errors on bool tensors, naming `op`.
pub(crate) fn scatter_into(
    op: &'static str,
    dst: &Tensor,
    dst_offsets: &[usize],
    src: &Tensor,
    src_offsets: &[usize],
    how: Combine,
) -> Result<()> {
    debug_assert_eq!(dst.dtype(), src.dtype());
    debug_assert_eq!(dst_offsets.len(), src_offsets.len());
    fn assign<T: Copy>(d: &mut [T], s: &[T], dof: &[usize], sof: &[usize]) {
        for (&a, &b) in dof.iter().zip(sof) {
            d[a] = s[b];
        }
    }
    fn add<T: Num>(d: &mut [T], s: &[T], dof: &[usize], sof: &[usize]) {
        for (&a, &b) in dof.iter().zip(sof) {
            d[a] = d[a].wadd(s[b]);
        }
    }
    debug_assert!(!src.shares_storage(dst), "dst must be a fresh buffer");
    let s = src.storage();
    let mut d = dst.storage_mut();
    macro_rules! arms {
        ($($v:ident),*) => {
            match (&mut *d, &*s) {
                $((Storage::$v(dv), Storage::$v(sv)) => match how {
                    Combine::Assign => assign(dv, sv, dst_offsets, src_offsets),
                    Combine::Add => add(dv, sv, dst_offsets, src_offsets),
                },)*
                (Storage::Bool(dv), Storage::Bool(sv)) => match how {
                    Combine::Assign => assign(dv, sv, dst_offsets, src_offsets),
                    Combine::Add => {
                        return Err(Error::dtype(op, DType::Bool, "cannot add bool tensors"))
                    }
                },
                (a, b) => return Err(Error::DTypeMismatch { op, lhs: a.dtype(), rhs: b.dtype() }),
            }
        };
    }
    arms!(F32, F64, F16, BF16, I64, I32, U8);
    Ok(())
}
