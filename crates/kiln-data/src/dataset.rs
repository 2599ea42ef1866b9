//! The [`Dataset`] trait (`torch.utils.data.Dataset`) and the map-style data sets built on it:
//! [`TensorDataset`], [`Subset`], [`ConcatDataset`].

use crate::split::SplitLengths;
use kiln_tensor::{Error, Result, Tensor};
use std::sync::Arc;

/// One sample as the loader sees it: a few tensors (image, label, ...) without a batch dim.
pub type Sample = Vec<Tensor>;

/// One batch: a sample's tensors, each stacked along a new dim 0 (`[B, ...]`).
pub type Batch = Vec<Tensor>;

/// A map-style data set: `len()` samples, addressed by index `0..len()`.
///
/// Implementations must be deterministic (the same index gives the same item) for the loader's
/// shuffling and resume guarantees to mean anything. To go through a [`crate::DataLoader`],
/// `Item` must be [`Sample`] and the type `Send + Sync + 'static`.
pub trait Dataset {
    type Item;

    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at `index`. Errors on `index >= len()` and on anything the data set cannot
    /// read or build.
    fn get(&self, index: usize) -> Result<Self::Item>;

    /// The samples at `indices` already collated (each tensor stacked along dim 0), when the
    /// data set has a faster way to build them than `get` per index and a stack.
    ///
    /// `None` (the default) means "no fast path"; the loader then calls `get` per index. An
    /// implementation must return exactly what `get` + stack would.
    fn get_batch(&self, indices: &[usize]) -> Option<Result<Batch>> {
        let _ = indices;
        None
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Option<Result<Batch>> {
        (**self).get_batch(indices)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Option<Result<Batch>> {
        (**self).get_batch(indices)
    }
}

fn out_of_range(op: &'static str, index: usize, len: usize) -> Error {
    Error::Invalid {
        op,
        msg: format!("index {index} is out of range for a data set of {len} samples"),
    }
}

/// Samples are the dim-0 slices of a few tensors (`torch.utils.data.TensorDataset`): sample `i`
/// is `[t0[i], t1[i], ...]`.
///
/// ```
/// use kiln_data::{Dataset, TensorDataset};
/// use kiln_tensor::{DType, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let x = Tensor::zeros(&[10, 1, 8, 8], DType::F32);
/// let y = Tensor::zeros(&[10], DType::I64);
/// let ds = TensorDataset::new(vec![x, y])?;
/// assert_eq!(ds.len(), 10);
/// assert_eq!(ds.get(3)?[0].shape(), &[1, 8, 8]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TensorDataset {
    tensors: Vec<Tensor>,
    len: usize,
}

impl TensorDataset {
    /// Wraps `tensors`, which must be at least one, each of rank >= 1, all with the same size
    /// of dim 0 (the sample count). Errors otherwise, naming the shapes.
    pub fn new(tensors: Vec<Tensor>) -> Result<TensorDataset> {
        const OP: &str = "TensorDataset";
        let first = tensors.first().ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "needs at least one tensor".into(),
        })?;
        if let Some((k, t)) = tensors.iter().enumerate().find(|(_, t)| t.rank() == 0) {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "tensor {k} is 0-dim (shape {:?}); every tensor needs a sample dim 0",
                    t.shape()
                ),
            });
        }
        let len = first.shape()[0];
        if tensors.iter().any(|t| t.shape()[0] != len) {
            let shapes: Vec<&[usize]> = tensors.iter().map(Tensor::shape).collect();
            return Err(Error::Shape {
                op: OP,
                msg: format!("size mismatch between tensors: dim 0 must agree, got shapes {shapes:?}"),
            });
        }
        Ok(TensorDataset { tensors, len })
    }

    /// The wrapped tensors, in the order given.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// A new data set holding the samples at `indices` (in that order), copied with one
    /// `index_select` per tensor. Errors on an index out of range.
    pub fn select(&self, indices: &[usize]) -> Result<TensorDataset> {
        TensorDataset::new(self.select_tensors("TensorDataset::select", indices)?)
    }

    /// [`crate::random_split`] with each part copied into its own `TensorDataset` (the same
    /// samples, in the same order, as the `Subset`s `random_split(self.clone(), lengths, seed)`
    /// gives).
    pub fn random_split<L: SplitLengths + ?Sized>(&self, lengths: &L, seed: u64) -> Result<Vec<TensorDataset>> {
        crate::split::random_split(self.clone(), lengths, seed)?
            .iter()
            .map(|part| self.select(part.indices()))
            .collect()
    }

    fn select_tensors(&self, op: &'static str, indices: &[usize]) -> Result<Vec<Tensor>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len) {
            return Err(out_of_range(op, bad, self.len));
        }
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_vec(idx, &[indices.len()])?;
        self.tensors.iter().map(|t| t.index_select(0, &idx)).collect()
    }
}

impl Dataset for TensorDataset {
    type Item = Sample;

    fn len(&self) -> usize {
        self.len
    }

    /// `[t[index] for t in tensors]` (views sharing the tensors' storage).
    fn get(&self, index: usize) -> Result<Sample> {
        if index >= self.len {
            return Err(out_of_range("TensorDataset::get", index, self.len));
        }
        self.tensors.iter().map(|t| t.select(0, index as isize)).collect()
    }

    /// One `index_select` per tensor instead of `indices.len()` selects and a stack.
    fn get_batch(&self, indices: &[usize]) -> Option<Result<Batch>> {
        Some(self.select_tensors("TensorDataset::get_batch", indices))
    }
}

/// The samples of `dataset` at `indices`, in that order (`torch.utils.data.Subset`).
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D> Clone for Subset<D> {
    fn clone(&self) -> Self {
        Subset {
            dataset: self.dataset.clone(),
            indices: self.indices.clone(),
        }
    }
}

impl<D: Dataset> Subset<D> {
    /// Errors when an index is `>= dataset.len()`.
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Result<Subset<D>> {
        let n = dataset.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(out_of_range("Subset", bad, n));
        }
        Ok(Subset { dataset, indices })
    }

    /// The indices into the underlying data set.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The underlying data set.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> Result<D::Item> {
        let &i = self
            .indices
            .get(index)
            .ok_or_else(|| out_of_range("Subset::get", index, self.indices.len()))?;
        self.dataset.get(i)
    }

    fn get_batch(&self, indices: &[usize]) -> Option<Result<Batch>> {
        let mapped: Result<Vec<usize>> = indices
            .iter()
            .map(|&k| {
                self.indices
                    .get(k)
                    .copied()
                    .ok_or_else(|| out_of_range("Subset::get_batch", k, self.indices.len()))
            })
            .collect();
        match mapped {
            Ok(m) => self.dataset.get_batch(&m),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Several data sets one after the other (`torch.utils.data.ConcatDataset`): index `i` goes to
/// the part whose cumulative range holds it.
pub struct ConcatDataset<D> {
    parts: Vec<D>,
    /// `ends[k]` = total length of parts `0..=k`.
    ends: Vec<usize>,
}

impl<D: Dataset> ConcatDataset<D> {
    /// Errors on an empty list (as PyTorch does).
    pub fn new(parts: Vec<D>) -> Result<ConcatDataset<D>> {
        if parts.is_empty() {
            return Err(Error::Invalid {
                op: "ConcatDataset",
                msg: "datasets should not be an empty list".into(),
            });
        }
        let ends = parts
            .iter()
            .scan(0usize, |acc, d| {
                *acc += d.len();
                Some(*acc)
            })
            .collect();
        Ok(ConcatDataset { parts, ends })
    }

    /// The parts, in order.
    pub fn datasets(&self) -> &[D] {
        &self.parts
    }
}

impl<D: Dataset> Dataset for ConcatDataset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    fn get(&self, index: usize) -> Result<D::Item> {
        let part = self.ends.partition_point(|&end| end <= index);
        if part >= self.parts.len() {
            return Err(out_of_range("ConcatDataset::get", index, self.len()));
        }
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        self.parts[part].get(index - start)
    }
}
