//! [`random_split`] (`torch.utils.data.random_split`) with a seed instead of a generator object.

use crate::dataset::{Dataset, Subset};
use crate::seed::{self, Stream};
use kiln_tensor::{Error, Result};
use std::sync::Arc;

const OP: &str = "random_split";

/// Split sizes for [`random_split`]: absolute counts (`usize`) or fractions (`f64`).
pub trait SplitLengths {
    /// The counts for a data set of `n` samples. Errors when they do not add up to `n`.
    fn counts(&self, n: usize) -> Result<Vec<usize>>;
}

impl SplitLengths for [usize] {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        let total = self.iter().try_fold(0usize, |acc, &l| acc.checked_add(l));
        if total != Some(n) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("sum of input lengths {self:?} does not equal the length of the input dataset ({n})"),
            });
        }
        Ok(self.to_vec())
    }
}

/// PyTorch's rule: fractions summing to 1 give `floor(n * f)` each, and the remainder is handed
/// out one at a time round-robin from the first split.
impl SplitLengths for [f64] {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        if let Some(bad) = self.iter().find(|f| !(0.0..=1.0).contains(*f)) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("fraction {bad} is not between 0 and 1 (fractions {self:?})"),
            });
        }
        let sum: f64 = self.iter().sum();
        if (sum - 1.0).abs() > 1e-6 || self.is_empty() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("fractions {self:?} sum to {sum}, not 1"),
            });
        }
        let mut counts: Vec<usize> = self.iter().map(|f| (n as f64 * f).floor() as usize).collect();
        let assigned: usize = counts.iter().sum();
        let k = counts.len();
        for i in 0..n.saturating_sub(assigned) {
            counts[i % k] += 1;
        }
        Ok(counts)
    }
}

impl<const N: usize> SplitLengths for [usize; N] {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        self.as_slice().counts(n)
    }
}

impl<const N: usize> SplitLengths for [f64; N] {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        self.as_slice().counts(n)
    }
}

impl SplitLengths for Vec<usize> {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        self.as_slice().counts(n)
    }
}

impl SplitLengths for Vec<f64> {
    fn counts(&self, n: usize) -> Result<Vec<usize>> {
        self.as_slice().counts(n)
    }
}

/// Splits `dataset` into non-overlapping random subsets of the given `lengths` (counts summing
/// to `dataset.len()`, or fractions summing to 1, see [`SplitLengths`]).
///
/// The permutation is a pure function of `seed` and the data set's length: the same seed gives the
/// same split in every run. (The permutation is Kiln's own, not the one `torch.randperm` draws.)
///
/// ```
/// use kiln_data::{random_split, Dataset, TensorDataset};
/// use kiln_tensor::{DType, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let ds = TensorDataset::new(vec![Tensor::zeros(&[10, 3], DType::F32)])?;
/// let parts = random_split(ds, &[0.8, 0.2], 42)?;
/// assert_eq!((parts[0].len(), parts[1].len()), (8, 2));
/// # Ok(()) }
/// ```
pub fn random_split<D: Dataset, L: SplitLengths + ?Sized>(
    dataset: D,
    lengths: &L,
    seed: u64,
) -> Result<Vec<Subset<D>>> {
    let n = dataset.len();
    let counts = lengths.counts(n)?;
    let perm = seed::permutation(n, &mut seed::generator(Stream::Split, seed, n as u64, 0));
    let dataset = Arc::new(dataset);
    let mut start = 0;
    counts
        .iter()
        .map(|&c| {
            let part = perm[start..start + c].to_vec();
            start += c;
            Subset::new(dataset.clone(), part)
        })
        .collect()
}
