//! The data sets `kiln train` and `kiln eval` use, and their fixed train/validation split.

use crate::config::{DatasetKind, TrainConfig};
use crate::models::InputSpec;
use crate::CliError;
use kiln::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Seed of the train/validation split: fixed, so every run (and `kiln eval`) sees the same
/// validation images whatever `--seed` is.
pub const SPLIT_SEED: u64 = 0x6b696c6e;

/// Which data and which split; recorded in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// `--data-dir` (IDX) or `--data-path` (CSV); none for the bundled digits.
    pub path: Option<PathBuf>,
    pub val_fraction: f64,
    pub split_seed: u64,
}

impl DataSpec {
    pub fn from_config(cfg: &TrainConfig) -> DataSpec {
        DataSpec {
            dataset: cfg.dataset,
            path: match cfg.dataset {
                DatasetKind::Digits | DatasetKind::Mnist5k => None,
                DatasetKind::MnistCsv => cfg.data_path.clone(),
                DatasetKind::MnistIdx => cfg.data_dir.clone(),
            },
            val_fraction: cfg.val_fraction,
            split_seed: SPLIT_SEED,
        }
    }

    /// `digits`, `mnist-csv (data/mnist.csv)`.
    pub fn describe(&self) -> String {
        let name = crate::train::name(&self.dataset);
        match &self.path {
            Some(p) => format!("{name} ({})", p.display()),
            None => name,
        }
    }
}

/// Images `[n, C, H, W]` (f32, scaled to 0..1) and labels `[n]` (i64) of both splits.
pub struct Splits {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub val_x: Tensor,
    pub val_y: Tensor,
    pub input: InputSpec,
}

/// Loads the data set and splits it with `TensorDataset::random_split` into fractions
/// `[1 - val_fraction, val_fraction]` drawn from `split_seed`.
pub fn load(spec: &DataSpec) -> Result<Splits, CliError> {
    use kiln::data::datasets;
    let need_path = || {
        spec.path
            .clone()
            .ok_or_else(|| CliError::msg(format!("{} needs a path", spec.describe())))
    };
    let ds = match spec.dataset {
        DatasetKind::Digits => datasets::digits()?,
        DatasetKind::Mnist5k => datasets::mnist_5k()?,
        DatasetKind::MnistCsv => datasets::mnist_csv(need_path()?)?,
        DatasetKind::MnistIdx => datasets::mnist_idx(need_path()?, true)?,
    };
    let parts = ds.random_split(&[1.0 - spec.val_fraction, spec.val_fraction], spec.split_seed)?;
    let tensors = |i: usize| -> Result<(Tensor, Tensor), CliError> {
        match parts.get(i).map(|p| p.tensors()) {
            Some([x, y]) => Ok((x.to_dtype(DType::F32)?, y.to_dtype(DType::I64)?)),
            _ => Err(CliError::msg(format!(
                "{}: expected images and labels",
                spec.describe()
            ))),
        }
    };
    let ((train_x, train_y), (val_x, val_y)) = (tensors(0)?, tensors(1)?);
    for (name, x) in [("training", &train_x), ("validation", &val_x)] {
        if x.shape().len() != 4 || x.shape()[0] == 0 {
            return Err(CliError::msg(format!(
                "{}: the {name} split has images of shape {:?}; --val-fraction {} leaves too few samples?",
                spec.describe(),
                x.shape(),
                spec.val_fraction
            )));
        }
    }
    let s = train_x.shape();
    let input = InputSpec {
        channels: s[1],
        height: s[2],
        width: s[3],
        num_classes: 10,
    };
    Ok(Splits {
        train_x,
        train_y,
        val_x,
        val_y,
        input,
    })
}
