//! Turning a list of samples into a batch.

use crate::dataset::{Batch, Sample};
use kiln_tensor::{Error, Result, Tensor};
use std::sync::Arc;

/// A custom collate function: the samples of one batch (in order) to the batch.
pub type CollateFn = Arc<dyn Fn(Vec<Sample>) -> Result<Batch> + Send + Sync>;

/// PyTorch's `default_collate` for tensor samples: field `k` of the batch is
/// `stack([s[k] for s in samples], dim=0)`.
///
/// Errors on an empty list, samples with different numbers of fields, or a field whose tensors
/// differ in shape (naming the field).
pub fn default_collate(samples: Vec<Sample>) -> Result<Batch> {
    const OP: &str = "default_collate";
    let first = samples.first().ok_or_else(|| Error::Invalid {
        op: OP,
        msg: "cannot collate an empty list of samples".into(),
    })?;
    let fields = first.len();
    if let Some((i, s)) = samples.iter().enumerate().find(|(_, s)| s.len() != fields) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("sample 0 has {fields} tensors but sample {i} has {}", s.len()),
        });
    }
    (0..fields)
        .map(|k| {
            let column: Vec<&Tensor> = samples.iter().map(|s| &s[k]).collect();
            Tensor::stack(&column, 0).map_err(|e| Error::Invalid {
                op: OP,
                msg: format!("field {k} of the samples cannot be stacked: {e}"),
            })
        })
        .collect()
}
