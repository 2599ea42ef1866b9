//! [`DataLoader`]: batches of a [`Dataset`], shuffled by (seed, epoch), optionally built on
//! background threads.

use crate::collate::{default_collate, CollateFn};
use crate::dataset::{Batch, Dataset, Sample};
use crate::seed::{self, Stream};
use crate::transforms::Transform;
use crate::workers::DataLoaderIter;
use kiln_tensor::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Iterates over a data set in batches (`torch.utils.data.DataLoader`).
///
/// Built with chained setters; defaults are PyTorch's (`batch_size = 1`, no shuffle,
/// `drop_last = false`, `num_workers = 0`, `prefetch_factor = 2`):
///
/// ```
/// use kiln_data::{datasets, DataLoader};
/// # fn main() -> kiln_tensor::Result<()> {
/// let loader = DataLoader::new(datasets::digits()?).batch_size(64).shuffle(true).seed(7);
/// assert_eq!(loader.len(), 29); // ceil(1797 / 64)
/// for batch in &loader {
///     let batch = batch?;
///     let (images, labels) = (&batch[0], &batch[1]);
///     assert_eq!(images.shape()[1..], [1, 8, 8]);
///     assert_eq!(labels.shape()[0], images.shape()[0]);
/// }
/// # Ok(()) }
/// ```
///
/// # Determinism and resuming
///
/// Every random choice is a pure function of `(seed, epoch)`: the shuffle order of an epoch is a
/// permutation drawn from a generator seeded by `(seed, epoch)`, and the transform of a sample
/// draws from a generator seeded by `(seed, epoch, dataset index)`. Nothing depends on the global
/// generator (once the seed is fixed), on earlier epochs, on the batch size, or on
/// `num_workers`. So a training run resumed at epoch `e` with the same seed (`.seed(s)`, or the
/// seed saved from [`DataLoader::get_seed`]) and `set_epoch(e)` sees exactly the batches the
/// uninterrupted run saw from epoch `e` on — which, with the model's and optimizer's state
/// restored, gives a bitwise-identical resume. A checkpoint taken mid-epoch resumes with
/// [`DataLoader::iter_epoch_from`]`(e, next_batch)`. (The permutations are Kiln's own, not the
/// ones `torch.randperm` draws.)
///
/// [`DataLoader::iter`] runs epoch [`DataLoader::epoch`] and then advances the counter, so a plain
/// `for epoch in .. { for batch in &loader { .. } }` reshuffles each epoch as PyTorch does;
/// [`DataLoader::iter_epoch`] runs a given epoch without touching the counter.
///
/// # Errors
///
/// An error from the data set, a transform or the collate function comes out as an `Err` item,
/// after which the iterator ends. Invalid settings (`batch_size(0)`, `prefetch_factor(0)`) come
/// out as a single `Err` item too.
pub struct DataLoader<D> {
    dataset: Arc<D>,
    batch_size: usize,
    shuffle: bool,
    seed: OnceLock<u64>,
    drop_last: bool,
    num_workers: usize,
    prefetch_factor: usize,
    transform: Option<Arc<dyn Transform>>,
    collate: Option<CollateFn>,
    epoch: AtomicU64,
}

impl<D: Dataset<Item = Sample>> DataLoader<D> {
    /// A loader over `dataset` with PyTorch's defaults. Unless set with [`DataLoader::seed`], the
    /// seed is drawn from the global generator when first needed (so `kiln_tensor::manual_seed`
    /// decides it); an explicit seed leaves the global generator untouched.
    pub fn new(dataset: D) -> DataLoader<D> {
        DataLoader::from_arc(Arc::new(dataset))
    }

    /// [`DataLoader::new`] over a shared data set.
    pub fn from_arc(dataset: Arc<D>) -> DataLoader<D> {
        DataLoader {
            dataset,
            batch_size: 1,
            shuffle: false,
            seed: OnceLock::new(),
            drop_last: false,
            num_workers: 0,
            prefetch_factor: 2,
            transform: None,
            collate: None,
            epoch: AtomicU64::new(0),
        }
    }

    /// Samples per batch (must be > 0).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Whether each epoch visits the samples in a fresh random order.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of every random choice the loader makes (shuffle order, transforms).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = OnceLock::from(seed);
        self
    }

    /// Whether to drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Background threads building batches (0: build them on the iterating thread). Batches
    /// still come in order, and are identical to those of `num_workers = 0`.
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.num_workers = num_workers;
        self
    }

    /// Batches each worker may have ready ahead of the consumer (must be > 0; default 2).
    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        self.prefetch_factor = prefetch_factor;
        self
    }

    /// A transform applied to field 0 (the image) of every sample before collation, with a
    /// generator seeded by `(seed, epoch, dataset index)`. Disables the data set's batch fast
    /// path ([`Dataset::get_batch`]).
    pub fn transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// A custom collate function in place of [`default_collate`] (stacking). Disables the data
    /// set's batch fast path.
    pub fn collate_fn(mut self, collate: impl Fn(Vec<Sample>) -> Result<Batch> + Send + Sync + 'static) -> Self {
        self.collate = Some(Arc::new(collate));
        self
    }

    /// Sets the epoch the next [`DataLoader::iter`] runs (`DistributedSampler.set_epoch`).
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The epoch the next [`DataLoader::iter`] runs.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// The seed in use (save it in a checkpoint to resume with the same batches).
    pub fn get_seed(&self) -> u64 {
        *self
            .seed
            .get_or_init(|| kiln_tensor::random::with_rng(|g| g.next_u64()))
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    /// Batches per epoch: `ceil(n / batch_size)`, or `floor` with `drop_last` (0 when
    /// `batch_size` is 0).
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        match self.batch_size {
            0 => 0,
            b if self.drop_last => n / b,
            b => n.div_ceil(b),
        }
    }

    /// Whether an epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset indices of every batch of `epoch`, in order (what the iterator will load).
    pub fn batch_indices(&self, epoch: u64) -> Vec<Vec<usize>> {
        let n = self.dataset.len();
        if self.batch_size == 0 {
            return Vec::new();
        }
        let order = if self.shuffle {
            seed::permutation(n, &mut seed::generator(Stream::Shuffle, self.get_seed(), epoch, 0))
        } else {
            (0..n).collect()
        };
        order
            .chunks(self.batch_size)
            .take(self.len())
            .map(<[usize]>::to_vec)
            .collect()
    }

    fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid { op: "DataLoader", msg });
        if self.batch_size == 0 {
            return bad("batch_size should be a positive integer, got 0".into());
        }
        if self.prefetch_factor == 0 {
            return bad("prefetch_factor should be a positive integer, got 0".into());
        }
        Ok(())
    }
}

impl<D: Dataset<Item = Sample> + Send + Sync + 'static> DataLoader<D> {
    /// The batches of epoch [`DataLoader::epoch`], then advances the epoch counter by one.
    pub fn iter(&self) -> DataLoaderIter {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        self.iter_epoch(epoch)
    }

    /// The batches of `epoch`, leaving the epoch counter alone.
    ///
    /// Dropping the iterator early stops and joins its worker threads.
    pub fn iter_epoch(&self, epoch: u64) -> DataLoaderIter {
        self.iter_epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch `first_batch` on (none when it is `>= len()`), exactly
    /// as [`DataLoader::iter_epoch`] would give them, without building the skipped ones: for
    /// resuming from a checkpoint taken mid-epoch. Leaves the epoch counter alone.
    pub fn iter_epoch_from(&self, epoch: u64, first_batch: usize) -> DataLoaderIter {
        if let Err(e) = self.check() {
            return DataLoaderIter::failed(e);
        }
        let mut batches = self.batch_indices(epoch);
        batches.drain(..first_batch.min(batches.len()));
        let job = Job {
            dataset: self.dataset.clone(),
            batches,
            seed: self.get_seed(),
            epoch,
            transform: self.transform.clone(),
            collate: self.collate.clone(),
        };
        DataLoaderIter::start(Arc::new(job), self.num_workers, self.prefetch_factor)
    }
}

impl<D: Dataset<Item = Sample> + Send + Sync + 'static> IntoIterator for &DataLoader<D> {
    type Item = Result<Batch>;
    type IntoIter = DataLoaderIter;
    fn into_iter(self) -> DataLoaderIter {
        self.iter()
    }
}

/// Everything needed to build any batch of one epoch, shared with the workers.
pub(crate) struct Job<D> {
    dataset: Arc<D>,
    batches: Vec<Vec<usize>>,
    seed: u64,
    epoch: u64,
    transform: Option<Arc<dyn Transform>>,
    collate: Option<CollateFn>,
}

/// The part of a [`Job`] the iterator needs, without the data set's type.
pub(crate) trait BuildBatch: Send + Sync {
    fn num_batches(&self) -> usize;
    fn build(&self, batch: usize) -> Result<Batch>;
}

impl<D: Dataset<Item = Sample> + Send + Sync> BuildBatch for Job<D> {
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    fn build(&self, batch: usize) -> Result<Batch> {
        let indices = &self.batches[batch];
        if self.transform.is_none() && self.collate.is_none() {
            if let Some(fast) = self.dataset.get_batch(indices) {
                return fast;
            }
        }
        let samples = indices
            .iter()
            .map(|&i| {
                let mut sample = self.dataset.get(i)?;
                if let Some(t) = &self.transform {
                    let image = sample.first_mut().ok_or_else(|| Error::Invalid {
                        op: "DataLoader",
                        msg: format!("sample {i} has no tensors to transform"),
                    })?;
                    let mut rng = seed::generator(Stream::Sample, self.seed, self.epoch, i as u64);
                    *image = t.apply(image, &mut rng)?;
                }
                Ok(sample)
            })
            .collect::<Result<Vec<Sample>>>()?;
        match &self.collate {
            Some(f) => f(samples),
            None => default_collate(samples),
        }
    }
}
