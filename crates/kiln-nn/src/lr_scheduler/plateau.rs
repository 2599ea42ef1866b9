//! [`ReduceLROnPlateau`].

use super::base::{check_groups, f64_to_json, f64s_to_json, get_f64, get_f64s, get_i64, get_str, group_lrs, invalid};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

/// Whether [`ReduceLROnPlateau`]'s metric should fall (`Min`, a loss) or rise (`Max`, an accuracy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateauMode {
    Min,
    Max,
}

/// How [`ReduceLROnPlateau`] measures a significant improvement: relative to the best value
/// (`Rel`: `best * (1 ∓ threshold)`) or by an absolute margin (`Abs`: `best ∓ threshold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// [`ReduceLROnPlateau`]'s options, PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateauConfig {
    /// `Min`.
    pub mode: PlateauMode,
    /// New lr = lr * factor: 0.1; must be < 1.
    pub factor: f64,
    /// Epochs without improvement tolerated before reducing: 10.
    pub patience: usize,
    /// 1e-4.
    pub threshold: f64,
    /// `Rel`.
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a reduction before counting bad epochs again: 0.
    pub cooldown: usize,
    /// Lower bound on the lrs, one for every group or one per group: `[0.0]`.
    pub min_lr: Vec<f64>,
    /// Reductions smaller than this are skipped: 1e-8.
    pub eps: f64,
}

impl Default for ReduceLROnPlateauConfig {
    fn default() -> Self {
        ReduceLROnPlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: vec![0.0],
            eps: 1e-8,
        }
    }
}

impl ReduceLROnPlateauConfig {
    pub fn mode(mut self, v: PlateauMode) -> Self {
        self.mode = v;
        self
    }
    pub fn factor(mut self, v: f64) -> Self {
        self.factor = v;
        self
    }
    pub fn patience(mut self, v: usize) -> Self {
        self.patience = v;
        self
    }
    pub fn threshold(mut self, v: f64) -> Self {
        self.threshold = v;
        self
    }
    pub fn threshold_mode(mut self, v: ThresholdMode) -> Self {
        self.threshold_mode = v;
        self
    }
    pub fn cooldown(mut self, v: usize) -> Self {
        self.cooldown = v;
        self
    }
    pub fn min_lr(mut self, v: &[f64]) -> Self {
        self.min_lr = v.to_vec();
        self
    }
    pub fn eps(mut self, v: f64) -> Self {
        self.eps = v;
        self
    }
}

/// Reduces the lrs by `factor` once a metric has stopped improving for more than `patience`
/// epochs (`torch.optim.lr_scheduler.ReduceLROnPlateau`).
///
/// It is driven by [`ReduceLROnPlateau::step_metric`] and deliberately does not implement
/// [`super::LrScheduler`], whose `step` takes no metric. Construction leaves the lrs unchanged.
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    config: ReduceLROnPlateauConfig,
    min_lrs: Vec<f64>,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

const OP: &str = "ReduceLROnPlateau";

fn check(config: &ReduceLROnPlateauConfig) -> Result<()> {
    if config.factor >= 1.0 || config.factor.is_nan() {
        return Err(invalid(OP, format!("factor should be < 1.0, got {}", config.factor)));
    }
    Ok(())
}

impl ReduceLROnPlateau {
    /// `ReduceLROnPlateau(opt)` with PyTorch's defaults.
    pub fn new(opt: &mut dyn Optimizer) -> Result<ReduceLROnPlateau> {
        ReduceLROnPlateau::with_config(opt, ReduceLROnPlateauConfig::default())
    }

    /// `ReduceLROnPlateau(opt, **config)`: errors when `factor >= 1` or `min_lr` has neither one
    /// value nor one per group.
    pub fn with_config(opt: &mut dyn Optimizer, config: ReduceLROnPlateauConfig) -> Result<ReduceLROnPlateau> {
        check(&config)?;
        let groups = opt.num_groups();
        let min_lrs = match config.min_lr.len() {
            1 => vec![config.min_lr[0]; groups],
            n if n == groups => config.min_lr.clone(),
            n => return Err(invalid(OP, format!("expected {groups} min_lrs, got {n}"))),
        };
        let best = worst(config.mode);
        Ok(ReduceLROnPlateau {
            config,
            min_lrs,
            best,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: group_lrs(opt),
        })
    }

    /// One epoch's update from its metric (PyTorch's `step(metrics)`): records whether `metric`
    /// improves on the best so far, and multiplies every group's lr by `factor` (not below its
    /// `min_lr`, skipping changes under `eps`) once more than `patience` epochs did not.
    pub fn step_metric(&mut self, opt: &mut dyn Optimizer, metric: f64) -> Result<()> {
        check_groups(OP, opt, self.min_lrs.len())?;
        self.last_epoch += 1;
        if self.is_better(metric, self.best) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            for (g, &min_lr) in self.min_lrs.iter().enumerate() {
                let old = opt.lr(g);
                let new = (old * self.config.factor).max(min_lr);
                if old - new > self.config.eps {
                    opt.set_lr(g, new);
                }
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = group_lrs(opt);
        Ok(())
    }

    fn is_better(&self, a: f64, best: f64) -> bool {
        let t = self.config.threshold;
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - t),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - t,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (t + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + t,
        }
    }

    /// The lrs after the last update (the optimizer's at construction).
    pub fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    /// Number of `step_metric` calls.
    pub fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    /// The best metric so far (`inf` / `-inf` before the first).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Consecutive epochs without improvement.
    pub fn num_bad_epochs(&self) -> usize {
        self.num_bad_epochs
    }

    /// The state as JSON, PyTorch's attribute names; infinite `best` is the string `"inf"`/`"-inf"`.
    pub fn state_dict(&self) -> Value {
        let c = &self.config;
        let mut out = Map::new();
        out.insert(
            "mode".into(),
            Value::from(match c.mode {
                PlateauMode::Min => "min",
                PlateauMode::Max => "max",
            }),
        );
        out.insert("factor".into(), Value::from(c.factor));
        out.insert("patience".into(), Value::from(c.patience));
        out.insert("threshold".into(), Value::from(c.threshold));
        out.insert(
            "threshold_mode".into(),
            Value::from(match c.threshold_mode {
                ThresholdMode::Rel => "rel",
                ThresholdMode::Abs => "abs",
            }),
        );
        out.insert("cooldown".into(), Value::from(c.cooldown));
        out.insert("eps".into(), Value::from(c.eps));
        out.insert("min_lrs".into(), f64s_to_json(&self.min_lrs));
        out.insert("best".into(), f64_to_json(self.best));
        out.insert("num_bad_epochs".into(), Value::from(self.num_bad_epochs));
        out.insert("cooldown_counter".into(), Value::from(self.cooldown_counter));
        out.insert("last_epoch".into(), Value::from(self.last_epoch));
        out.insert("_last_lr".into(), f64s_to_json(&self.last_lr));
        Value::Object(out)
    }

    /// Restores a state from [`ReduceLROnPlateau::state_dict`]; errors (changing nothing) on a
    /// malformed state or another group count.
    pub fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        let count = |key: &str| -> Result<usize> {
            let v = get_i64(OP, state, key)?;
            usize::try_from(v).map_err(|_| invalid(OP, format!("state_dict `{key}` must be >= 0, got {v}")))
        };
        let config = ReduceLROnPlateauConfig {
            mode: match get_str(OP, state, "mode")? {
                "min" => PlateauMode::Min,
                "max" => PlateauMode::Max,
                m => return Err(invalid(OP, format!("mode {m:?} is unknown"))),
            },
            factor: get_f64(OP, state, "factor")?,
            patience: count("patience")?,
            threshold: get_f64(OP, state, "threshold")?,
            threshold_mode: match get_str(OP, state, "threshold_mode")? {
                "rel" => ThresholdMode::Rel,
                "abs" => ThresholdMode::Abs,
                m => return Err(invalid(OP, format!("threshold mode {m:?} is unknown"))),
            },
            cooldown: count("cooldown")?,
            min_lr: self.config.min_lr.clone(),
            eps: get_f64(OP, state, "eps")?,
        };
        check(&config)?;
        let min_lrs = get_f64s(OP, state, "min_lrs")?;
        let last_lr = get_f64s(OP, state, "_last_lr")?;
        let groups = self.min_lrs.len();
        if min_lrs.len() != groups || last_lr.len() != groups {
            return Err(invalid(
                OP,
                format!(
                    "state has {} min_lrs and {} _last_lr, the scheduler has {groups} parameter groups",
                    min_lrs.len(),
                    last_lr.len()
                ),
            ));
        }
        let restored = ReduceLROnPlateau {
            config,
            min_lrs,
            best: get_f64(OP, state, "best")?,
            num_bad_epochs: count("num_bad_epochs")?,
            cooldown_counter: count("cooldown_counter")?,
            last_epoch: get_i64(OP, state, "last_epoch")?,
            last_lr,
        };
        *self = restored;
        Ok(())
    }
}

fn worst(mode: PlateauMode) -> f64 {
    match mode {
        PlateauMode::Min => f64::INFINITY,
        PlateauMode::Max => f64::NEG_INFINITY,
    }
}
