//! Reductions over one or several dims, with `keepdim`.
//!
//! Every reduction moves the reduced dims last ([`reduce_rows`], no copy when they already are)
//! so the kernel reduces contiguous rows; the result has the kept dims in their original order.
//! Rows run in parallel above a size threshold ([`map_rows`]), and associative reductions also
//! split long rows ([`fold_rows`]). `sum` and `mean` live here, maxima and minima in `minmax`,
//! the other statistics and `cumsum` in `stats`; sorting is in `ops/sort.rs`.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use rayon::prelude::*;
use std::borrow::Cow;

mod minmax;
mod stats;

/// The shape after reducing `dims` (sorted, normalized).
pub(crate) fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(d);
        }
    }
    out
}

/// The elements of `t` (typed `T`) arranged as rows: kept dims outer, reduced dims inner.
/// Returns `(data, rows, row_len)`; the data is borrowed without a copy when `t` is already laid
/// out that way (a reduction over trailing dims of a contiguous tensor).
pub(crate) fn reduce_rows<'a, T: Element>(data: &'a [T], t: &Tensor, dims: &[usize]) -> (Cow<'a, [T]>, usize, usize) {
    let r = t.rank();
    let mut perm: Vec<usize> = (0..r).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let row_len: usize = dims.iter().map(|&d| t.shape()[d]).product();
    let rows = t
        .numel()
        .checked_div(row_len)
        .unwrap_or_else(|| perm[..r - dims.len()].iter().map(|&d| t.shape()[d]).product());
    let l = t.layout().permute(&perm);
    let rows_data = match l.contiguous_range() {
        Some(r) => Cow::Borrowed(&data[r]),
        None => Cow::Owned(gather_contiguous(data, &l)),
    };
    (rows_data, rows, row_len)
}

/// Normalizes the dim of a single-dim op; a 0-dim tensor accepts `0` and `-1`, like PyTorch.
pub(crate) fn one_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    if rank == 0 && (dim == 0 || dim == -1) {
        return Ok(0);
    }
    crate::layout::normalize_dim(op, dim, rank)
}

/// Row-major data of `shape` with `dim` moved last (and resized to `last`) as a contiguous
/// tensor of `shape` with that dim back in place: the inverse of [`reduce_rows`] with one dim.
pub(crate) fn unmove_last(storage: Storage, shape: &[usize], dim: usize, last: usize) -> Tensor {
    let r = shape.len();
    let mut moved: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != dim)
        .map(|(_, &s)| s)
        .collect();
    moved.push(last);
    let t = Tensor::from_storage(storage, &moved);
    if dim + 1 == r {
        return t;
    }
    let mut perm: Vec<usize> = (0..r - 1).collect();
    perm.insert(dim, r - 1);
    t.view_with(t.layout().permute(&perm), None).contiguous_copy()
}

/// Applies `f` to each row in parallel when there is enough work.
pub(crate) fn map_rows<T: Copy + Send + Sync, U: Copy + Send + Sync + Default>(
    data: &[T],
    rows: usize,
    row_len: usize,
    f: impl Fn(&[T]) -> U + Send + Sync,
) -> Vec<U> {
    let mut out = vec![U::default(); rows];
    if row_len == 0 {
        out.iter_mut().for_each(|o| *o = f(&[]));
        return out;
    }
    if rows > 1 && kiln_kernels::par::should_split(rows * row_len, kiln_kernels::reduce::ROWS_PAR_THRESHOLD) {
        out.par_iter_mut()
            .zip(data.par_chunks(row_len))
            .for_each(|(o, r)| *o = f(r));
    } else {
        out.iter_mut().zip(data.chunks(row_len)).for_each(|(o, r)| *o = f(r));
    }
    out
}

/// [`map_rows`] for an associative reduction, where `f` of a row equals `f` of the results of
/// `f` on consecutive chunks of it (sum, product, max, logsumexp, all, any): when there are
/// fewer rows than threads, each long row is also split into chunks across threads.
pub(crate) fn fold_rows<T: Copy + Send + Sync + Default>(
    data: &[T],
    rows: usize,
    row_len: usize,
    f: impl Fn(&[T]) -> T + Send + Sync,
) -> Vec<T> {
    use kiln_kernels::par;
    const MIN_CHUNK: usize = 1 << 12;
    let threads = par::num_threads();
    if rows >= threads
        || row_len < 2 * MIN_CHUNK
        || !par::should_split(rows * row_len, kiln_kernels::reduce::ROWS_PAR_THRESHOLD)
    {
        return map_rows(data, rows, row_len, f);
    }
    let chunk = par::chunk_len(row_len, MIN_CHUNK);
    data.chunks(row_len)
        .take(rows)
        .map(|r| {
            let parts: Vec<T> = r.par_chunks(chunk).map(&f).collect();
            f(&parts)
        })
        .collect()
}

/// Pairwise summation keeps f32 sums accurate (like PyTorch's cascade sum).
fn pairwise_sum(x: &[f64]) -> f64 {
    if x.len() <= 32 {
        return x.iter().sum();
    }
    let m = x.len() / 2;
    pairwise_sum(&x[..m]) + pairwise_sum(&x[m..])
}

fn sum_f32(x: &[f32]) -> f32 {
    // Eight independent accumulators in f32, combined in f64: vectorizes and stays accurate.
    let mut acc = [0f32; 16];
    let chunks = x.chunks_exact(16);
    let rem = chunks.remainder();
    let mut total = 0f64;
    for (i, c) in chunks.enumerate() {
        for j in 0..16 {
            acc[j] += c[j];
        }
        if i % 256 == 255 {
            total += acc.iter().map(|&v| v as f64).sum::<f64>();
            acc = [0f32; 16];
        }
    }
    total += acc.iter().map(|&v| v as f64).sum::<f64>();
    total += rem.iter().map(|&v| v as f64).sum::<f64>();
    total as f32
}

impl Tensor {
    /// Sum over `dims` (all dims when empty). Integer and bool tensors sum into int64, like
    /// PyTorch.
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let d = self.reduce_dims("sum", dims)?;
        let x = match self.dtype() {
            DType::Bool | DType::U8 | DType::I32 => self.to_dtype(DType::I64)?,
            _ => self.clone(),
        };
        let shape = reduced_shape(x.shape(), &d, keepdim);
        // Leading dims of a contiguous tensor: column sums, no transposing copy.
        let leading = x.is_contiguous() && d.len() < x.rank() && d.iter().enumerate().all(|(i, &k)| i == k);
        let storage = {
            let s = x.storage();
            let rows: usize = x.shape()[..d.len()].iter().product();
            let cols: usize = x.shape()[d.len()..].iter().product();
            let off = x.layout().offset();
            match &*s {
                Storage::F32(v) if leading => {
                    let mut out = vec![0f32; cols];
                    kiln_kernels::reduce::sum_outer(&v[off..], rows, cols, &mut out);
                    Storage::F32(out)
                }
                Storage::F64(v) if leading => {
                    let mut out = vec![0f64; cols];
                    kiln_kernels::reduce::sum_outer(&v[off..], rows, cols, &mut out);
                    Storage::F64(out)
                }
                Storage::F32(v) => {
                    let (rows, n, len) = reduce_rows(v, &x, &d);
                    Storage::F32(fold_rows(&rows, n, len, sum_f32))
                }
                Storage::F64(v) => {
                    let (rows, n, len) = reduce_rows(v, &x, &d);
                    Storage::F64(fold_rows(&rows, n, len, pairwise_sum))
                }
                Storage::I64(v) => {
                    let (rows, n, len) = reduce_rows(v, &x, &d);
                    Storage::I64(fold_rows(&rows, n, len, |r| {
                        r.iter().fold(0i64, |a, &b| a.wrapping_add(b))
                    }))
                }
                Storage::F16(_) | Storage::BF16(_) => {
                    let f = x
                        .detach()
                        .to_dtype(DType::F32)?
                        .sum_dims(dims, keepdim)?
                        .to_dtype(x.dtype())?;
                    let s = f.storage().clone();
                    s
                }
                other => return Err(Error::dtype("sum", other.dtype(), "")),
            }
        };
        let node = Node::record(OpKind::Sum { dims: d, keepdim }, &[&x], vec![]);
        Ok(Tensor::from_storage_node(storage, &shape, node))
    }

    /// Sum of all elements as a 0-dim tensor.
    pub fn sum(&self) -> Result<Tensor> {
        self.sum_dims(&[], false)
    }

    /// Mean over `dims` (all when empty). Floating-point tensors only, like PyTorch.
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                "mean",
                self.dtype(),
                "mean needs a floating-point tensor; cast with to_dtype",
            ));
        }
        let d = self.reduce_dims("mean", dims)?;
        let count: usize = d.iter().map(|&i| self.shape()[i]).product();
        let s = crate::no_grad(|| self.sum_dims(dims, keepdim))?;
        let out = crate::no_grad(|| s.div_scalar(count as f64))?;
        let node = Node::record(OpKind::Mean { dims: d, keepdim }, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// Mean of all elements as a 0-dim tensor.
    pub fn mean(&self) -> Result<Tensor> {
        self.mean_dims(&[], false)
    }
}
