//! [`CyclicLR`].

use super::base::{f64s_to_json, get_bool, get_f64, get_f64s, get_str, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};
use std::sync::Arc;

const OP: &str = "CyclicLR";

/// [`CyclicLR`]'s built-in amplitude policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CyclicMode {
    /// Constant amplitude (PyTorch's `"triangular"`, the default).
    Triangular,
    /// Amplitude halved every cycle (`"triangular2"`).
    Triangular2,
    /// Amplitude scaled by `gamma^iteration` (`"exp_range"`).
    ExpRange,
}

/// What a custom [`CyclicLR`] scale function receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMode {
    /// The cycle number, from 1 (`"cycle"`).
    Cycle,
    /// The iteration, `last_epoch` (`"iterations"`).
    Iterations,
}

/// A custom amplitude scale, `f(cycle or iteration)` (PyTorch's `scale_fn`).
pub type ScaleFn = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// [`CyclicLR`]'s options, PyTorch's defaults.
#[derive(Clone)]
pub struct CyclicLRConfig {
    /// Iterations in the rising half of a cycle: 2000.
    pub step_size_up: usize,
    /// Iterations in the falling half; `None`: `step_size_up`.
    pub step_size_down: Option<usize>,
    pub mode: CyclicMode,
    /// `ExpRange`'s base: 1.0.
    pub gamma: f64,
    /// Replaces `mode`'s scale when set: `None`.
    pub scale_fn: Option<ScaleFn>,
    /// What `scale_fn` receives: `Cycle`.
    pub scale_mode: ScaleMode,
    /// Cycle the momentum (SGD `momentum`, Adam `betas.0`) inversely to the lr: true.
    pub cycle_momentum: bool,
    /// One value for every group or one per group: 0.8.
    pub base_momentum: Vec<f64>,
    /// One value for every group or one per group: 0.9.
    pub max_momentum: Vec<f64>,
}

impl Default for CyclicLRConfig {
    fn default() -> Self {
        CyclicLRConfig {
            step_size_up: 2000,
            step_size_down: None,
            mode: CyclicMode::Triangular,
            gamma: 1.0,
            scale_fn: None,
            scale_mode: ScaleMode::Cycle,
            cycle_momentum: true,
            base_momentum: vec![0.8],
            max_momentum: vec![0.9],
        }
    }
}

impl CyclicLRConfig {
    pub fn step_size_up(mut self, v: usize) -> Self {
        self.step_size_up = v;
        self
    }
    pub fn step_size_down(mut self, v: usize) -> Self {
        self.step_size_down = Some(v);
        self
    }
    pub fn mode(mut self, v: CyclicMode) -> Self {
        self.mode = v;
        self
    }
    pub fn gamma(mut self, v: f64) -> Self {
        self.gamma = v;
        self
    }
    pub fn scale_fn(mut self, f: impl Fn(f64) -> f64 + Send + Sync + 'static, mode: ScaleMode) -> Self {
        self.scale_fn = Some(Arc::new(f));
        self.scale_mode = mode;
        self
    }
    pub fn cycle_momentum(mut self, v: bool) -> Self {
        self.cycle_momentum = v;
        self
    }
    pub fn base_momentum(mut self, v: &[f64]) -> Self {
        self.base_momentum = v.to_vec();
        self
    }
    pub fn max_momentum(mut self, v: &[f64]) -> Self {
        self.max_momentum = v.to_vec();
        self
    }
}

/// Cycles the lrs between `base_lr` and `max_lr` (and the momentum between `max_momentum` and
/// `base_momentum`) with a triangular wave (`torch.optim.lr_scheduler.CyclicLR`); step it once
/// per batch. Construction sets `lr = base_lr` and `momentum = max_momentum`.
///
/// A custom `scale_fn` is not part of `state_dict`; rebuild with the same one before loading.
#[derive(Clone)]
pub struct CyclicLR {
    base: Base,
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    mode: CyclicMode,
    gamma: f64,
    scale_fn: Option<ScaleFn>,
    scale_mode: ScaleMode,
    cycle_momentum: bool,
    base_momentums: Vec<f64>,
    max_momentums: Vec<f64>,
}

fn per_group(name: &str, values: &[f64], groups: usize) -> Result<Vec<f64>> {
    match values.len() {
        1 => Ok(vec![values[0]; groups]),
        n if n == groups => Ok(values.to_vec()),
        n => Err(invalid(
            OP,
            format!("{name} must have one value or one per parameter group ({groups}), got {n}"),
        )),
    }
}

impl CyclicLR {
    /// `CyclicLR(opt, base_lr, max_lr, step_size_up)` with the other options at PyTorch's defaults.
    /// `base_lr` / `max_lr` hold one value for every group or one per group.
    pub fn new(opt: &mut dyn Optimizer, base_lr: &[f64], max_lr: &[f64], step_size_up: usize) -> Result<CyclicLR> {
        CyclicLR::with_config(
            opt,
            base_lr,
            max_lr,
            CyclicLRConfig::default().step_size_up(step_size_up),
        )
    }

    /// `CyclicLR(opt, base_lr, max_lr, **config)`: errors on per-group lists of the wrong length,
    /// `step_size_up == 0` (PyTorch divides by zero), and `cycle_momentum` with an optimizer
    /// without momentum.
    pub fn with_config(
        opt: &mut dyn Optimizer,
        base_lr: &[f64],
        max_lr: &[f64],
        config: CyclicLRConfig,
    ) -> Result<CyclicLR> {
        let groups = opt.num_groups();
        let base_lrs = per_group("base_lr", base_lr, groups)?;
        let max_lrs = per_group("max_lr", max_lr, groups)?;
        if config.step_size_up == 0 {
            return Err(invalid(OP, "step_size_up must be positive, got 0"));
        }
        let up = config.step_size_up as f64;
        let down = config.step_size_down.map_or(up, |d| d as f64);
        let base_momentums = per_group("base_momentum", &config.base_momentum, groups)?;
        let max_momentums = per_group("max_momentum", &config.max_momentum, groups)?;
        if config.cycle_momentum {
            if let Some(g) = (0..groups).find(|&g| opt.momentum(g).is_none()) {
                return Err(invalid(
                    OP,
                    format!(
                        "the optimizer must support momentum or beta1 with cycle_momentum \
                         (parameter group {g} has none)"
                    ),
                ));
            }
            for (g, &m) in max_momentums.iter().enumerate() {
                opt.set_momentum(g, m);
            }
        }
        for (g, &lr) in base_lrs.iter().enumerate() {
            opt.set_lr(g, lr);
        }
        let scale_mode = match (&config.scale_fn, config.mode) {
            (Some(_), _) => config.scale_mode,
            (None, CyclicMode::ExpRange) => ScaleMode::Iterations,
            (None, _) => ScaleMode::Cycle,
        };
        let mut base = Base::new(opt);
        base.base_lrs = base_lrs;
        let total_size = up + down;
        init(
            CyclicLR {
                base,
                max_lrs,
                total_size,
                step_ratio: up / total_size,
                mode: config.mode,
                gamma: config.gamma,
                scale_fn: config.scale_fn,
                scale_mode,
                cycle_momentum: config.cycle_momentum,
                base_momentums,
                max_momentums,
            },
            opt,
        )
    }

    fn scale(&self, x: f64) -> f64 {
        match (&self.scale_fn, self.mode) {
            (Some(f), _) => f(x),
            (None, CyclicMode::Triangular) => 1.0,
            (None, CyclicMode::Triangular2) => 1.0 / 2f64.powf(x - 1.0),
            (None, CyclicMode::ExpRange) => self.gamma.powf(x),
        }
    }
}

impl std::fmt::Debug for CyclicLR {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CyclicLR")
            .field("base", &self.base)
            .field("max_lrs", &self.max_lrs)
            .field("total_size", &self.total_size)
            .field("step_ratio", &self.step_ratio)
            .field("mode", &self.mode)
            .field("scale_mode", &self.scale_mode)
            .finish_non_exhaustive()
    }
}

impl Schedule for CyclicLR {
    const NAME: &'static str = OP;
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let e = self.base.last_epoch as f64;
        let cycle = (1.0 + e / self.total_size).floor();
        let x = 1.0 + e / self.total_size - cycle;
        let factor = if x <= self.step_ratio {
            x / self.step_ratio
        } else {
            (x - 1.0) / (self.step_ratio - 1.0)
        };
        let s = self.scale(match self.scale_mode {
            ScaleMode::Cycle => cycle,
            ScaleMode::Iterations => e,
        });
        let lrs = self
            .base
            .base_lrs
            .iter()
            .zip(&self.max_lrs)
            .map(|(b, m)| b + (m - b) * factor * s)
            .collect();
        if self.cycle_momentum {
            for (g, (b, m)) in self.base_momentums.iter().zip(&self.max_momentums).enumerate() {
                opt.set_momentum(g, m - (m - b) * factor * s);
            }
        }
        Ok(lrs)
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        None
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("max_lrs".into(), f64s_to_json(&self.max_lrs));
        out.insert("total_size".into(), Value::from(self.total_size));
        out.insert("step_ratio".into(), Value::from(self.step_ratio));
        let mode = match self.mode {
            CyclicMode::Triangular => "triangular",
            CyclicMode::Triangular2 => "triangular2",
            CyclicMode::ExpRange => "exp_range",
        };
        out.insert("mode".into(), Value::from(mode));
        out.insert("gamma".into(), Value::from(self.gamma));
        let scale_mode = match self.scale_mode {
            ScaleMode::Cycle => "cycle",
            ScaleMode::Iterations => "iterations",
        };
        out.insert("scale_mode".into(), Value::from(scale_mode));
        out.insert("_scale_fn_custom".into(), Value::Null);
        out.insert("cycle_momentum".into(), Value::from(self.cycle_momentum));
        out.insert("base_momentums".into(), f64s_to_json(&self.base_momentums));
        out.insert("max_momentums".into(), f64s_to_json(&self.max_momentums));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let groups = self.base.base_lrs.len();
        let list = |key: &str| -> Result<Vec<f64>> {
            let v = get_f64s(OP, state, key)?;
            if v.len() != groups {
                return Err(invalid(
                    OP,
                    format!("state_dict `{key}` has {} values for {groups} groups", v.len()),
                ));
            }
            Ok(v)
        };
        self.max_lrs = list("max_lrs")?;
        self.total_size = get_f64(OP, state, "total_size")?;
        self.step_ratio = get_f64(OP, state, "step_ratio")?;
        self.mode = match get_str(OP, state, "mode")? {
            "triangular" => CyclicMode::Triangular,
            "triangular2" => CyclicMode::Triangular2,
            "exp_range" => CyclicMode::ExpRange,
            m => return Err(invalid(OP, format!("mode {m:?} is unknown"))),
        };
        self.gamma = get_f64(OP, state, "gamma")?;
        self.scale_mode = match get_str(OP, state, "scale_mode")? {
            "cycle" => ScaleMode::Cycle,
            "iterations" => ScaleMode::Iterations,
            m => return Err(invalid(OP, format!("scale_mode {m:?} is unknown"))),
        };
        self.cycle_momentum = get_bool(OP, state, "cycle_momentum")?;
        // PyTorch saves these only when cycle_momentum is on.
        if state.get("base_momentums").is_some() {
            self.base_momentums = list("base_momentums")?;
            self.max_momentums = list("max_momentums")?;
        }
        Ok(())
    }
}
