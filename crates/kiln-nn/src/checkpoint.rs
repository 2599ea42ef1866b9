//! Training checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! One safetensors file holds the model's tensors under `model.<name>`, the optimizer's under
//! `optimizer.<key>`, and a JSON document in the metadata key `kiln.checkpoint` with the epoch,
//! step, generator state, optimizer and scheduler state and free-form `extra` (e.g. the model
//! configuration and the best metric so far). The file is written atomically.

use crate::optim::OptimizerState;
use crate::serialize::{load_state_dict_file, save_state_dict};
use crate::StateDict;
use kiln_tensor::{Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The metadata key holding the checkpoint's JSON document.
pub const CHECKPOINT_KEY: &str = "kiln.checkpoint";
/// Version of the layout described in the module docs.
pub const FORMAT_VERSION: u64 = 1;

/// A training run's state at the end of an epoch or step.
#[derive(Clone, Debug, Default)]
pub struct TrainingCheckpoint {
    /// The model's `state_dict`.
    pub model: StateDict,
    /// The optimizer's state (`optimizer.state_dict()`).
    pub optimizer: OptimizerState,
    /// The LR scheduler's state, if the run has one.
    pub scheduler: Option<Value>,
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimizer steps.
    pub step: u64,
    /// The global generator's state ([`kiln_tensor::get_rng_state`]), restored on resume.
    pub rng_state: [u64; 5],
    /// Anything else the trainer wants back (model configuration, best metric, ...).
    pub extra: Value,
}

impl TrainingCheckpoint {
    /// Writes the checkpoint to `path` atomically (temporary file, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut tensors = StateDict::new();
        for (k, t) in self.model.iter() {
            tensors.insert(format!("model.{k}"), t.clone());
        }
        for (k, t) in self.optimizer.tensors.iter() {
            tensors.insert(format!("optimizer.{k}"), t.clone());
        }
        let doc = json!({
            "format_version": FORMAT_VERSION,
            "epoch": self.epoch,
            "step": self.step,
            // As strings: JSON readers outside Rust often hold numbers as f64, which drops bits.
            "rng_state": self.rng_state.iter().map(u64::to_string).collect::<Vec<_>>(),
            "optimizer": self.optimizer.meta,
            "scheduler": self.scheduler,
            "extra": self.extra,
        });
        let metadata = BTreeMap::from([(CHECKPOINT_KEY.to_string(), doc.to_string())]);
        save_state_dict(path, &tensors, &metadata)
    }

    /// Reads a checkpoint written by [`TrainingCheckpoint::save`]. A file that is not one (a plain
    /// weights file, a newer format, missing fields) gives an [`Error::File`] saying so.
    pub fn load(path: impl AsRef<Path>) -> Result<TrainingCheckpoint> {
        let path = path.as_ref();
        let (tensors, metadata) = load_state_dict_file(path)?;
        let bad = |msg: &str| Error::file(path, format!("not a Kiln training checkpoint: {msg}"));
        let doc: Value = metadata
            .get(CHECKPOINT_KEY)
            .ok_or_else(|| bad(&format!("no {CHECKPOINT_KEY:?} metadata")))
            .and_then(|s| serde_json::from_str(s).map_err(|e| bad(&e.to_string())))?;
        let version = doc["format_version"].as_u64().ok_or_else(|| bad("no format_version"))?;
        if version != FORMAT_VERSION {
            return Err(bad(&format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        let epoch = doc["epoch"].as_u64().ok_or_else(|| bad("no epoch"))?;
        let step = doc["step"].as_u64().ok_or_else(|| bad("no step"))?;
        let rng: Vec<u64> = doc["rng_state"]
            .as_array()
            .ok_or_else(|| bad("no rng_state"))?
            .iter()
            .map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("rng_state is not a list of integers"))?;
        let rng_state: [u64; 5] = rng.try_into().map_err(|_| bad("rng_state must have 5 words"))?;
        let mut model = StateDict::new();
        let mut opt_tensors = StateDict::new();
        for (k, t) in tensors {
            if let Some(name) = k.strip_prefix("model.") {
                model.insert(name, t);
            } else if let Some(name) = k.strip_prefix("optimizer.") {
                opt_tensors.insert(name, t);
            } else {
                return Err(bad(&format!("unexpected tensor {k:?}")));
            }
        }
        Ok(TrainingCheckpoint {
            model,
            optimizer: OptimizerState {
                tensors: opt_tensors,
                meta: doc["optimizer"].clone(),
            },
            scheduler: match &doc["scheduler"] {
                Value::Null => None,
                v => Some(v.clone()),
            },
            epoch: usize::try_from(epoch).map_err(|_| bad("epoch out of range"))?,
            step,
            rng_state,
            extra: doc["extra"].clone(),
        })
    }
}
