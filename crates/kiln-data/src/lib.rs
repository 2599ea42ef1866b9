//! Kiln's data loading, shaped like `torch.utils.data` and `torchvision.transforms`.
//!
//! - [`Dataset`]: map-style data sets ([`TensorDataset`], [`Subset`], [`ConcatDataset`]) and
//!   [`random_split`].
//! - [`DataLoader`]: batches, shuffled deterministically by `(seed, epoch)`, optionally built by
//!   worker threads, with per-sample [`transforms`].
//! - [`datasets`]: the bundled `digits` and `mnist_5k` sets, and MNIST CSV / IDX readers.
//!
//! ```
//! use kiln_data::transforms::RandomCrop;
//! use kiln_data::{datasets, DataLoader};
//! # fn main() -> kiln_tensor::Result<()> {
//! let (train, val) = datasets::digits_split(0.2, 0)?;
//! let loader = DataLoader::new(train)
//!     .batch_size(64)
//!     .shuffle(true)
//!     .seed(0)
//!     .num_workers(2)
//!     .transform(RandomCrop::new(8, 1));
//! loader.set_epoch(0);
//! let mut seen = 0;
//! for batch in &loader {
//!     let batch = batch?; // [images [B, 1, 8, 8], labels [B]]
//!     seen += batch[1].shape()[0];
//! }
//! assert_eq!(seen, 1438);
//! assert_eq!(val.tensors()[0].shape(), &[359, 1, 8, 8]);
//! # Ok(()) }
//! ```

mod collate;
mod dataset;
pub mod datasets;
mod loader;
mod seed;
mod split;
pub mod transforms;
mod workers;

pub use collate::{default_collate, CollateFn};
pub use dataset::{Batch, ConcatDataset, Dataset, Sample, Subset, TensorDataset};
pub use loader::DataLoader;
pub use split::{random_split, SplitLengths};
pub use workers::DataLoaderIter;
