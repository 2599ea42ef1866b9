//! `kiln eval`: rebuild a model from a checkpoint's recorded config and evaluate it on the
//! validation split of its data set (or of another one given with `--dataset`).

use crate::config::DatasetKind;
use crate::data::{self, DataSpec};
use crate::metrics::{ConfusionMatrix, Running};
use crate::models::ModelConfig;
use crate::train::{count_correct, DATASET_KEY, MODEL_KEY};
use crate::CliError;
use clap::Args;
use kiln::nn::checkpoint::TrainingCheckpoint;
use kiln::nn::serialize::load_state_dict_file;
use kiln::nn::{Forward, Module, StateDict};
use kiln::prelude::F;
use kiln::{no_grad, DType};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A `best.safetensors` written by `kiln train`, or any of its `.ckpt` files
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Evaluate on this data set instead of the recorded one
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    /// Folder of the MNIST IDX files (for --dataset mnist-idx)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// MNIST CSV file (for --dataset mnist-csv)
    #[arg(long, value_name = "FILE")]
    pub data_path: Option<PathBuf>,
    /// Samples per forward pass
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub batch_size: usize,
    /// Threads for the kernels; 0 = all cores
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object (accuracy, loss, n, confusion_matrix, ...) instead of text
    #[arg(long)]
    pub json: bool,
}

/// Weights, model config and data spec from a `.safetensors` (metadata) or `.ckpt` (extra).
fn read_checkpoint(path: &Path) -> Result<(StateDict, ModelConfig, DataSpec), CliError> {
    let bad = |what: &str, e: String| CliError::msg(format!("{}: no usable {what}: {e}", path.display()));
    let is_ckpt = path.extension().is_some_and(|e| e == "ckpt");
    if is_ckpt {
        let ck = TrainingCheckpoint::load(path)?;
        let model =
            serde_json::from_value(ck.extra["model"].clone()).map_err(|e| bad("model config", e.to_string()))?;
        let spec = serde_json::from_value(ck.extra["dataset"].clone()).map_err(|e| bad("data set", e.to_string()))?;
        Ok((ck.model, model, spec))
    } else {
        let (sd, meta) = load_state_dict_file(path)?;
        let get = |key: &str| {
            meta.get(key).ok_or_else(|| {
                CliError::msg(format!(
                    "{}: no {key:?} metadata: not a model written by `kiln train`",
                    path.display()
                ))
            })
        };
        let model = serde_json::from_str(get(MODEL_KEY)?).map_err(|e| bad("model config", e.to_string()))?;
        let spec = serde_json::from_str(get(DATASET_KEY)?).map_err(|e| bad("data set", e.to_string()))?;
        Ok((sd, model, spec))
    }
}

pub fn run(args: EvalArgs) -> Result<(), CliError> {
    if args.batch_size == 0 {
        return Err(CliError::msg("--batch-size must be at least 1"));
    }
    kiln::set_num_threads(args.threads);
    let (weights, model_cfg, mut spec) = read_checkpoint(&args.checkpoint)?;
    if let Some(d) = args.dataset {
        spec.dataset = d;
        spec.path = match d {
            DatasetKind::Digits | DatasetKind::Mnist5k => None,
            DatasetKind::MnistCsv => Some(
                args.data_path
                    .clone()
                    .ok_or("--dataset mnist-csv needs --data-path FILE.csv")?,
            ),
            DatasetKind::MnistIdx => Some(
                args.data_dir
                    .clone()
                    .ok_or("--dataset mnist-idx needs --data-dir DIR")?,
            ),
        };
    }
    let splits = data::load(&spec)?;
    if splits.input != model_cfg.input() {
        return Err(CliError::msg(format!(
            "the model was trained on {} but {} has {}",
            model_cfg.input(),
            spec.describe(),
            splits.input
        )));
    }
    let mut model = model_cfg.build()?;
    model.load_state_dict(&weights, true)?;
    model.eval();

    let n = splits.val_x.shape()[0];
    let mut run = Running::default();
    let mut cm = ConfusionMatrix::new(splits.input.num_classes);
    no_grad(|| -> Result<(), CliError> {
        for start in (0..n).step_by(args.batch_size) {
            let len = args.batch_size.min(n - start);
            let (x, y) = (splits.val_x.narrow(0, start, len)?, splits.val_y.narrow(0, start, len)?);
            let logits = model.forward(&x)?;
            let loss = F::cross_entropy(&logits, &y, Default::default())?;
            run.add(loss.item_f64()?, count_correct(&logits, &y)?, len);
            let pred = logits.argmax(Some(-1), false)?.to_dtype(DType::I64)?.to_vec::<i64>()?;
            cm.add(&y.to_vec::<i64>()?, &pred)?;
        }
        Ok(())
    })?;

    if args.json {
        let out = json!({
            "checkpoint": args.checkpoint,
            "model": model_cfg,
            "dataset": spec,
            "split": "validation",
            "n": run.n,
            "accuracy": run.accuracy(),
            "loss": run.loss(),
            "confusion_matrix": cm.matrix,
        });
        println!("{out}");
    } else {
        println!("checkpoint: {}", args.checkpoint.display());
        println!("data: {}, validation split, n = {}", spec.describe(), run.n);
        println!("accuracy: {:.2}%", 100.0 * run.accuracy());
        println!("loss: {:.4}", run.loss());
        println!("confusion matrix (rows: true class, columns: predicted):");
        print!("{}", cm.render());
    }
    Ok(())
}
