//! `kiln train`: the training loop, its checkpoints and its metrics file.
//!
//! Output folder: `last.ckpt` (a full training checkpoint, every epoch), `best.ckpt` and
//! `best.safetensors` (the weights with PyTorch names; metadata `kiln.model` and `kiln.dataset`
//! hold the preset config and the data set as JSON) whenever validation accuracy improves, and
//! `metrics.jsonl` (one JSON line per epoch, losses in full precision).

use crate::config::{read_config_file, TrainConfig, TrainOptions};
use crate::data::{self, DataSpec, Splits};
use crate::metrics::Running;
use crate::models::ModelConfig;
use crate::optim::{build_optimizer, build_scheduler};
use crate::progress::{EpochBar, EpochSummary};
use crate::CliError;
use clap::Args;
use kiln::data::{DataLoader, TensorDataset};
use kiln::nn::checkpoint::TrainingCheckpoint;
use kiln::nn::serialize::save_state_dict;
use kiln::nn::{Forward, Module};
use kiln::prelude::F;
use kiln::{no_grad, Tensor};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Metadata keys of `best.safetensors`.
pub const MODEL_KEY: &str = "kiln.model";
pub const DATASET_KEY: &str = "kiln.dataset";

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML file of options; its keys are the flag names (`epochs = 5`); flags override it
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Continue a run: from PATH (a .ckpt file), or from last.ckpt of --output-dir, or of the
    /// newest ./runs/<model>-<dataset>-<n>
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    #[command(flatten)]
    pub options: TrainOptions,
}

/// What a checkpoint's `extra` holds.
fn extra(cfg: &TrainConfig, model: &ModelConfig, data: &DataSpec, best: Option<(f64, usize)>) -> serde_json::Value {
    json!({
        "config": cfg,
        "model": model,
        "dataset": data,
        "best_val_accuracy": best.map(|b| b.0),
        "best_epoch": best.map(|b| b.1),
    })
}

/// The resolved configuration, output folder and (when resuming) the checkpoint to continue.
struct Plan {
    cfg: TrainConfig,
    out_dir: PathBuf,
    resume: Option<(PathBuf, TrainingCheckpoint)>,
}

/// Merges defaults, the resumed run's configuration, the file and the flags; picks the folder.
fn plan(args: &TrainArgs) -> Result<Plan, CliError> {
    let file = match &args.config {
        Some(p) => read_config_file(p)?,
        None => TrainOptions::default(),
    };
    let opts = args.options.clone().or(file);
    let resume = match &args.resume {
        None => None,
        Some(path) => {
            let path = match path {
                Some(p) => p.clone(),
                None => resume_dir(&opts)?.join("last.ckpt"),
            };
            let ckpt = TrainingCheckpoint::load(&path)?;
            Some((path, ckpt))
        }
    };
    let base = match &resume {
        Some((path, ckpt)) => serde_json::from_value::<TrainConfig>(ckpt.extra["config"].clone())
            .map_err(|e| CliError::msg(format!("{}: no usable run configuration: {e}", path.display())))?,
        None => TrainConfig::defaults(),
    };
    let mut cfg = base.clone().apply(&opts);
    if resume.is_some() {
        // The run's own stop point does not carry over; a resumed run goes on to --epochs.
        cfg.stop_after = opts.stop_after;
        for (what, same) in [
            ("--model", cfg.model == base.model),
            ("--dataset", cfg.dataset == base.dataset),
            ("--val-fraction", cfg.val_fraction == base.val_fraction),
            ("--batch-size", cfg.batch_size == base.batch_size),
            ("--optimizer", cfg.optimizer == base.optimizer),
            ("--schedule", cfg.schedule == base.schedule),
        ] {
            if !same {
                return Err(CliError::msg(format!("{what} cannot change when resuming a run")));
            }
        }
    }
    cfg.validate()?;
    let out_dir = match (&opts.output_dir, &resume) {
        (Some(d), _) => d.clone(),
        (None, Some((path, _))) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        (None, None) => new_run_dir(&cfg),
    };
    if resume.is_none() && out_dir.join("last.ckpt").exists() {
        return Err(CliError::msg(format!(
            "{} already holds a run (last.ckpt): continue it with --resume, or choose another --output-dir",
            out_dir.display()
        )));
    }
    Ok(Plan { cfg, out_dir, resume })
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let Plan { cfg, out_dir, resume } = plan(&args)?;
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| CliError::msg(format!("cannot create output folder {}: {e}", out_dir.display())))?;

    kiln::set_num_threads(cfg.threads);
    kiln::manual_seed(cfg.seed);
    let spec = DataSpec::from_config(&cfg);
    let splits = data::load(&spec)?;
    let model_cfg = match &resume {
        Some((path, ckpt)) => serde_json::from_value::<ModelConfig>(ckpt.extra["model"].clone())
            .map_err(|e| CliError::msg(format!("{}: no usable model configuration: {e}", path.display())))?,
        None => ModelConfig::preset(cfg.model, splits.input)?,
    };
    let mut model = model_cfg.build()?;
    let n_train = splits.train_x.shape()[0];
    let steps_per_epoch = n_train.div_ceil(cfg.batch_size);
    let params = model.parameters();
    let mut optimizer = build_optimizer(&cfg, params.clone())?;
    let mut scheduler = build_scheduler(&cfg, steps_per_epoch, optimizer.as_mut())?;
    let loader = DataLoader::new(TensorDataset::new(vec![
        splits.train_x.clone(),
        splits.train_y.clone(),
    ])?)
    .batch_size(cfg.batch_size)
    .shuffle(true)
    .seed(cfg.seed);

    let (mut start_epoch, mut step, mut best) = (0, 0u64, None::<(f64, usize)>);
    if let Some((path, ckpt)) = &resume {
        model.load_state_dict(&ckpt.model, true)?;
        optimizer.load_state_dict(&ckpt.optimizer)?;
        if let (Some(s), Some(state)) = (scheduler.as_mut(), &ckpt.scheduler) {
            s.load_state_dict(state)?;
        }
        kiln::set_rng_state(ckpt.rng_state);
        start_epoch = ckpt.epoch;
        step = ckpt.step;
        best = ckpt.extra["best_val_accuracy"]
            .as_f64()
            .zip(ckpt.extra["best_epoch"].as_u64().map(|e| e as usize));
        println!("resuming {} after epoch {start_epoch}", path.display());
    }
    let metrics_path = out_dir.join("metrics.jsonl");
    keep_metrics_up_to(&metrics_path, start_epoch)?;

    println!("output folder: {}", out_dir.display());
    println!(
        "model {} ({} parameters), data {}: {} train / {} validation, optimizer {} lr {}, schedule {}, {} epochs of {} batches",
        name(&cfg.model),
        model.num_parameters(),
        spec.describe(),
        n_train,
        splits.val_x.shape()[0],
        name(&cfg.optimizer),
        cfg.lr,
        name(&cfg.schedule),
        cfg.epochs,
        steps_per_epoch
    );
    let last_epoch = cfg.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs));
    if start_epoch >= cfg.epochs {
        println!(
            "the run already has {start_epoch} of {} epochs; give a larger --epochs to train on",
            cfg.epochs
        );
    }
    for epoch in start_epoch + 1..=last_epoch {
        let t0 = Instant::now();
        model.train();
        let bar = EpochBar::new(epoch, cfg.epochs, steps_per_epoch);
        let mut train = Running::default();
        let mut lr = optimizer.lr(0);
        for batch in loader.iter_epoch(epoch as u64 - 1) {
            let batch = batch?;
            let (x, y) = (&batch[0], &batch[1]);
            let logits = model.forward(x)?;
            let loss = F::cross_entropy(&logits, y, Default::default())?;
            let loss_value = loss.item_f64()?;
            if !loss_value.is_finite() {
                return Err(CliError::msg(format!(
                    "training diverged: loss {loss_value} at epoch {epoch}, step {}; try a smaller --lr (now {})",
                    step + 1,
                    cfg.lr
                )));
            }
            optimizer.zero_grad();
            loss.backward()?;
            if let Some(max_norm) = cfg.clip_grad_norm {
                kiln::nn::clip_grad::clip_grad_norm_(&params, max_norm, 2.0, false)?;
            }
            lr = optimizer.lr(0);
            optimizer.step()?;
            if let Some(s) = scheduler.as_mut() {
                s.step(optimizer.as_mut())?;
            }
            step += 1;
            let correct = no_grad(|| count_correct(&logits, y))?;
            train.add(loss_value, correct, y.shape()[0]);
            bar.update(train.loss(), train.accuracy(), train.n);
        }
        bar.finish();
        let val = evaluate(model.as_mut(), &splits, 512)?;
        let improved = best.is_none_or(|(b, _)| val.accuracy() > b);
        if improved {
            best = Some((val.accuracy(), epoch));
        }
        let ckpt = TrainingCheckpoint {
            model: model.state_dict(),
            optimizer: optimizer.state_dict(),
            scheduler: scheduler.as_ref().map(|s| s.state_dict()),
            epoch,
            step,
            rng_state: kiln::get_rng_state(),
            extra: extra(&cfg, &model_cfg, &spec, best),
        };
        ckpt.save(out_dir.join("last.ckpt"))?;
        if improved {
            ckpt.save(out_dir.join("best.ckpt"))?;
            save_best_weights(&out_dir, &ckpt.model, &model_cfg, &spec, epoch, val.accuracy())?;
        }
        let seconds = t0.elapsed().as_secs_f64();
        append_metrics(
            &metrics_path,
            &json!({
                "epoch": epoch,
                "step": step,
                "train_loss": train.loss(),
                "train_accuracy": train.accuracy(),
                "val_loss": val.loss(),
                "val_accuracy": val.accuracy(),
                "lr": lr,
                "seconds": seconds,
            }),
        )?;
        let summary = EpochSummary {
            epoch,
            epochs: cfg.epochs,
            train_loss: train.loss(),
            train_acc: train.accuracy(),
            val_loss: val.loss(),
            val_acc: val.accuracy(),
            lr,
            seconds,
            best: improved,
        };
        println!("{}", summary.line());
    }
    if let Some((acc, epoch)) = best {
        println!(
            "best validation accuracy {:.2}% (epoch {epoch}): {}",
            100.0 * acc,
            out_dir.join("best.safetensors").display()
        );
    }
    if last_epoch < cfg.epochs {
        println!(
            "stopped after epoch {last_epoch} of {}; continue with: kiln train --resume {}",
            cfg.epochs,
            out_dir.join("last.ckpt").display()
        );
    }
    Ok(())
}

/// `best.safetensors`: the weights with PyTorch names; metadata `kiln.model` (the preset and its
/// config) and `kiln.dataset` (data set and split) as JSON, plus the epoch and its accuracy.
fn save_best_weights(
    out_dir: &Path,
    weights: &kiln::nn::StateDict,
    model_cfg: &ModelConfig,
    spec: &DataSpec,
    epoch: usize,
    val_accuracy: f64,
) -> Result<(), CliError> {
    let json = |v: serde_json::Result<String>| v.map_err(|e| CliError::msg(format!("cannot record the config: {e}")));
    let metadata = BTreeMap::from([
        (MODEL_KEY.to_string(), json(serde_json::to_string(model_cfg))?),
        (DATASET_KEY.to_string(), json(serde_json::to_string(spec))?),
        ("kiln.epoch".to_string(), epoch.to_string()),
        ("kiln.val_accuracy".to_string(), val_accuracy.to_string()),
    ]);
    Ok(save_state_dict(out_dir.join("best.safetensors"), weights, &metadata)?)
}

/// The name an option value has on the command line (`adamw`, `warmup-cosine`).
pub fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Number of rows of `logits` whose argmax equals the label.
pub fn count_correct(logits: &Tensor, labels: &Tensor) -> kiln::Result<usize> {
    let pred = logits.argmax(Some(-1), false)?;
    Ok(pred.eq(labels)?.to_dtype(kiln::DType::I64)?.sum()?.item_f64()? as usize)
}

/// Mean loss and accuracy of the model on the validation split, in eval mode, without gradients.
fn evaluate(model: &mut dyn Forward, splits: &Splits, batch: usize) -> Result<Running, CliError> {
    model.eval();
    let n = splits.val_x.shape()[0];
    let mut r = Running::default();
    no_grad(|| -> kiln::Result<()> {
        for start in (0..n).step_by(batch) {
            let len = batch.min(n - start);
            let (x, y) = (splits.val_x.narrow(0, start, len)?, splits.val_y.narrow(0, start, len)?);
            let logits = model.forward(&x)?;
            let loss = F::cross_entropy(&logits, &y, Default::default())?;
            r.add(loss.item_f64()?, count_correct(&logits, &y)?, len);
        }
        Ok(())
    })?;
    Ok(r)
}

/// `./runs/<model>-<dataset>-<n>` with the smallest `n` not taken.
fn new_run_dir(cfg: &TrainConfig) -> PathBuf {
    let stem = run_stem(cfg.model, cfg.dataset);
    (1..)
        .map(|n| Path::new("runs").join(format!("{stem}-{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| Path::new("runs").join(stem))
}

fn run_stem(model: crate::config::ModelKind, dataset: crate::config::DatasetKind) -> String {
    format!("{}-{}", name(&model), name(&dataset))
}

/// The folder `--resume` without a path continues: `--output-dir`, else the newest
/// `./runs/<model>-<dataset>-<n>` holding a `last.ckpt`.
fn resume_dir(opts: &TrainOptions) -> Result<PathBuf, CliError> {
    if let Some(d) = &opts.output_dir {
        return Ok(d.clone());
    }
    let d = TrainConfig::defaults().apply(opts);
    let stem = run_stem(d.model, d.dataset);
    let newest = std::fs::read_dir("runs")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u64 = name.strip_prefix(&format!("{stem}-"))?.parse().ok()?;
            e.path().join("last.ckpt").exists().then_some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n);
    newest.map(|(_, p)| p).ok_or_else(|| {
        CliError::msg(format!(
            "--resume: no run to continue in ./runs/{stem}-<n>; give the checkpoint (--resume PATH) or --output-dir"
        ))
    })
}

/// Drops lines of epochs after `epoch` (written after the checkpoint being resumed), or the
/// whole file for a fresh run.
fn keep_metrics_up_to(path: &Path, epoch: usize) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::msg(format!("{}: {e}", path.display()));
    let kept: String = match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["epoch"].as_u64())
                    .is_some_and(|e| e as usize <= epoch)
            })
            .map(|l| format!("{l}\n"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    std::fs::write(path, kept).map_err(io)
}

fn append_metrics(path: &Path, line: &serde_json::Value) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::msg(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{line}").map_err(io)
}
