//! [`OneCycleLR`]: the 1cycle policy.

use super::base::{f64s_to_json, get_bool, get_f64, get_f64s, get_i64, get_str, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};
use std::f64::consts::PI;

/// How [`OneCycleLR`] interpolates within a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnealStrategy {
    /// Half a cosine (PyTorch's `"cos"`, the default).
    Cos,
    /// A straight line (`"linear"`).
    Linear,
}

impl AnnealStrategy {
    fn name(self) -> &'static str {
        match self {
            AnnealStrategy::Cos => "cos",
            AnnealStrategy::Linear => "linear",
        }
    }

    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// [`OneCycleLR`]'s options, PyTorch's defaults. Give either `total_steps` or both `epochs` and
/// `steps_per_epoch`. Per-group options take one value for every group or one per group.
#[derive(Clone, Debug)]
pub struct OneCycleLRConfig {
    pub total_steps: Option<usize>,
    pub epochs: Option<usize>,
    pub steps_per_epoch: Option<usize>,
    /// Fraction of the cycle spent increasing the lr: 0.3.
    pub pct_start: f64,
    pub anneal_strategy: AnnealStrategy,
    /// Cycle the momentum (SGD `momentum`, Adam `betas.0`) inversely to the lr: true.
    pub cycle_momentum: bool,
    /// Lowest momentum, reached at the lr peak: 0.85.
    pub base_momentum: Vec<f64>,
    /// Highest momentum, at the start and the end: 0.95.
    pub max_momentum: Vec<f64>,
    /// `initial_lr = max_lr / div_factor`: 25.
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor`: 1e4.
    pub final_div_factor: f64,
    /// Three phases (up, back down to `initial_lr`, then down to `min_lr`) instead of two: false.
    pub three_phase: bool,
}

impl Default for OneCycleLRConfig {
    fn default() -> Self {
        OneCycleLRConfig {
            total_steps: None,
            epochs: None,
            steps_per_epoch: None,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: vec![0.85],
            max_momentum: vec![0.95],
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

impl OneCycleLRConfig {
    pub fn total_steps(mut self, v: usize) -> Self {
        self.total_steps = Some(v);
        self
    }
    pub fn epochs(mut self, v: usize) -> Self {
        self.epochs = Some(v);
        self
    }
    pub fn steps_per_epoch(mut self, v: usize) -> Self {
        self.steps_per_epoch = Some(v);
        self
    }
    pub fn pct_start(mut self, v: f64) -> Self {
        self.pct_start = v;
        self
    }
    pub fn anneal_strategy(mut self, v: AnnealStrategy) -> Self {
        self.anneal_strategy = v;
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
    pub fn div_factor(mut self, v: f64) -> Self {
        self.div_factor = v;
        self
    }
    pub fn final_div_factor(mut self, v: f64) -> Self {
        self.final_div_factor = v;
        self
    }
    pub fn three_phase(mut self, v: bool) -> Self {
        self.three_phase = v;
        self
    }
}

/// Which per-group value a phase starts or ends at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Initial,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug)]
struct Phase {
    end_step: f64,
    start_lr: Level,
    end_lr: Level,
    /// `true`: max_momentum, `false`: base_momentum.
    start_momentum_max: bool,
    end_momentum_max: bool,
}

/// The 1cycle policy (`torch.optim.lr_scheduler.OneCycleLR`): the lr rises from
/// `max_lr / div_factor` to `max_lr` over `pct_start` of `total_steps`, then falls to
/// `initial_lr / final_div_factor`; the momentum moves the opposite way between `max_momentum` and
/// `base_momentum`. Step it once per batch. Construction sets `lr = initial_lr` and
/// `momentum = max_momentum`.
///
/// Steps may reach `last_epoch == total_steps` (PyTorch extrapolates the last phase there); one
/// more errors, changing nothing. Base lrs are the `initial_lr`s, not the optimizer's lrs.
#[derive(Clone, Debug)]
pub struct OneCycleLR {
    base: Base,
    total_steps: usize,
    phases: Vec<Phase>,
    anneal: AnnealStrategy,
    cycle_momentum: bool,
    max_lrs: Vec<f64>,
    min_lrs: Vec<f64>,
    max_momentums: Vec<f64>,
    base_momentums: Vec<f64>,
}

/// One value for every group, or one per group (PyTorch's `_format_param`).
fn per_group(name: &str, values: &[f64], groups: usize) -> Result<Vec<f64>> {
    match values.len() {
        1 => Ok(vec![values[0]; groups]),
        n if n == groups => Ok(values.to_vec()),
        n => Err(invalid(
            "OneCycleLR",
            format!("{name} must have one value or one per parameter group ({groups}), got {n}"),
        )),
    }
}

fn phases(total_steps: usize, pct_start: f64, three_phase: bool) -> Vec<Phase> {
    let total = total_steps as f64;
    let up = Phase {
        end_step: pct_start * total - 1.0,
        start_lr: Level::Initial,
        end_lr: Level::Max,
        start_momentum_max: true,
        end_momentum_max: false,
    };
    if three_phase {
        vec![
            up,
            Phase {
                end_step: 2.0 * pct_start * total - 2.0,
                start_lr: Level::Max,
                end_lr: Level::Initial,
                start_momentum_max: false,
                end_momentum_max: true,
            },
            Phase {
                end_step: total - 1.0,
                start_lr: Level::Initial,
                end_lr: Level::Min,
                start_momentum_max: true,
                end_momentum_max: true,
            },
        ]
    } else {
        vec![
            up,
            Phase {
                end_step: total - 1.0,
                start_lr: Level::Max,
                end_lr: Level::Min,
                start_momentum_max: false,
                end_momentum_max: true,
            },
        ]
    }
}

impl OneCycleLR {
    /// `OneCycleLR(opt, max_lr, total_steps)` with the other options at PyTorch's defaults.
    /// `max_lr` holds one value for every group or one per group.
    pub fn new(opt: &mut dyn Optimizer, max_lr: &[f64], total_steps: usize) -> Result<OneCycleLR> {
        OneCycleLR::with_config(opt, max_lr, OneCycleLRConfig::default().total_steps(total_steps))
    }

    /// `OneCycleLR(opt, max_lr, **config)`. Errors, as PyTorch, on a zero `total_steps` /
    /// `epochs` / `steps_per_epoch` or none given, `pct_start` outside [0, 1], per-group lists of
    /// the wrong length, and `cycle_momentum` with an optimizer without momentum.
    pub fn with_config(opt: &mut dyn Optimizer, max_lr: &[f64], config: OneCycleLRConfig) -> Result<OneCycleLR> {
        let op = "OneCycleLR";
        let total_steps = match (config.total_steps, config.epochs, config.steps_per_epoch) {
            (Some(0), _, _) => return Err(invalid(op, "expected positive integer total_steps, got 0")),
            (Some(t), _, _) => t,
            (None, Some(0), Some(_)) => return Err(invalid(op, "expected positive integer epochs, got 0")),
            (None, Some(_), Some(0)) => return Err(invalid(op, "expected positive integer steps_per_epoch, got 0")),
            (None, Some(e), Some(s)) => e * s,
            _ => return Err(invalid(op, "define either total_steps or (epochs and steps_per_epoch)")),
        };
        let pct = config.pct_start;
        if !(0.0..=1.0).contains(&pct) {
            return Err(invalid(op, format!("expected pct_start between 0 and 1, got {pct}")));
        }
        let groups = opt.num_groups();
        let max_lrs = per_group("max_lr", max_lr, groups)?;
        let initial: Vec<f64> = max_lrs.iter().map(|m| m / config.div_factor).collect();
        let min_lrs = initial.iter().map(|i| i / config.final_div_factor).collect();
        let max_momentums = per_group("max_momentum", &config.max_momentum, groups)?;
        let base_momentums = per_group("base_momentum", &config.base_momentum, groups)?;
        let old_momenta: Vec<Option<f64>> = (0..groups).map(|g| opt.momentum(g)).collect();
        if config.cycle_momentum {
            if let Some(g) = (0..groups).find(|&g| opt.momentum(g).is_none()) {
                return Err(invalid(
                    op,
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
        let mut base = Base::new(opt);
        base.base_lrs = initial;
        let s = OneCycleLR {
            base,
            total_steps,
            phases: phases(total_steps, pct, config.three_phase),
            anneal: config.anneal_strategy,
            cycle_momentum: config.cycle_momentum,
            max_lrs,
            min_lrs,
            max_momentums,
            base_momentums,
        };
        init(s, opt).inspect_err(|_| {
            for (g, m) in old_momenta.iter().enumerate() {
                if let Some(m) = m {
                    opt.set_momentum(g, *m);
                }
            }
        })
    }

    fn level(&self, level: Level, g: usize) -> f64 {
        match level {
            Level::Initial => self.base.base_lrs[g],
            Level::Max => self.max_lrs[g],
            Level::Min => self.min_lrs[g],
        }
    }

    fn momentum_level(&self, max: bool, g: usize) -> f64 {
        if max {
            self.max_momentums[g]
        } else {
            self.base_momentums[g]
        }
    }
}

impl Schedule for OneCycleLR {
    const NAME: &'static str = "OneCycleLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let step = self.base.last_epoch;
        if step > self.total_steps as i64 {
            return Err(invalid(
                Self::NAME,
                format!(
                    "tried to step {step} times; the specified number of total steps is {}",
                    self.total_steps
                ),
            ));
        }
        let step = step as f64;
        let mut lrs = Vec::with_capacity(self.max_lrs.len());
        for g in 0..self.max_lrs.len() {
            let mut start_step = 0.0;
            let last = self.phases.len() - 1;
            for (i, phase) in self.phases.iter().enumerate() {
                if step <= phase.end_step || i == last {
                    if phase.end_step == start_step {
                        // PyTorch raises ZeroDivisionError here.
                        return Err(invalid(
                            Self::NAME,
                            format!(
                                "phase {i} of the schedule has zero length at step {step} (total_steps {}); \
                                 change pct_start or total_steps",
                                self.total_steps
                            ),
                        ));
                    }
                    let pct = (step - start_step) / (phase.end_step - start_step);
                    let lr = self
                        .anneal
                        .anneal(self.level(phase.start_lr, g), self.level(phase.end_lr, g), pct);
                    lrs.push(lr);
                    if self.cycle_momentum {
                        let m = self.anneal.anneal(
                            self.momentum_level(phase.start_momentum_max, g),
                            self.momentum_level(phase.end_momentum_max, g),
                            pct,
                        );
                        opt.set_momentum(g, m);
                    }
                    break;
                }
                start_step = phase.end_step;
            }
        }
        Ok(lrs)
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        None
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("total_steps".into(), Value::from(self.total_steps));
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                let lvl = |l: Level| match l {
                    Level::Initial => "initial_lr",
                    Level::Max => "max_lr",
                    Level::Min => "min_lr",
                };
                let mom = |max: bool| if max { "max_momentum" } else { "base_momentum" };
                serde_json::json!({
                    "end_step": p.end_step,
                    "start_lr": lvl(p.start_lr),
                    "end_lr": lvl(p.end_lr),
                    "start_momentum": mom(p.start_momentum_max),
                    "end_momentum": mom(p.end_momentum_max),
                })
            })
            .collect();
        out.insert("_schedule_phases".into(), Value::Array(phases));
        out.insert("_anneal_func_type".into(), Value::from(self.anneal.name()));
        out.insert("cycle_momentum".into(), Value::from(self.cycle_momentum));
        // PyTorch keeps these in the optimizer's param groups.
        out.insert("max_lrs".into(), f64s_to_json(&self.max_lrs));
        out.insert("min_lrs".into(), f64s_to_json(&self.min_lrs));
        out.insert("max_momentums".into(), f64s_to_json(&self.max_momentums));
        out.insert("base_momentums".into(), f64s_to_json(&self.base_momentums));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let op = Self::NAME;
        let total_steps = get_i64(op, state, "total_steps")?;
        if total_steps <= 0 {
            return Err(invalid(op, format!("total_steps must be positive, got {total_steps}")));
        }
        self.total_steps = total_steps as usize;
        self.anneal = match get_str(op, state, "_anneal_func_type")? {
            "cos" => AnnealStrategy::Cos,
            "linear" => AnnealStrategy::Linear,
            other => return Err(invalid(op, format!("unknown _anneal_func_type {other:?}"))),
        };
        self.cycle_momentum = get_bool(op, state, "cycle_momentum")?;
        let bad = || invalid(op, "state_dict `_schedule_phases` is malformed");
        let phases = state
            .get("_schedule_phases")
            .and_then(Value::as_array)
            .ok_or_else(bad)?;
        let lvl = |p: &Value, k: &str| match p.get(k).and_then(Value::as_str) {
            Some("initial_lr") => Ok(Level::Initial),
            Some("max_lr") => Ok(Level::Max),
            Some("min_lr") => Ok(Level::Min),
            _ => Err(bad()),
        };
        let mom = |p: &Value, k: &str| match p.get(k).and_then(Value::as_str) {
            Some("max_momentum") => Ok(true),
            Some("base_momentum") => Ok(false),
            _ => Err(bad()),
        };
        self.phases = phases
            .iter()
            .map(|p| {
                Ok(Phase {
                    end_step: get_f64(op, p, "end_step")?,
                    start_lr: lvl(p, "start_lr")?,
                    end_lr: lvl(p, "end_lr")?,
                    start_momentum_max: mom(p, "start_momentum")?,
                    end_momentum_max: mom(p, "end_momentum")?,
                })
            })
            .collect::<Result<_>>()?;
        if self.phases.is_empty() {
            return Err(bad());
        }
        let groups = self.base.base_lrs.len();
        for (key, dst) in [
            ("max_lrs", &mut self.max_lrs),
            ("min_lrs", &mut self.min_lrs),
            ("max_momentums", &mut self.max_momentums),
            ("base_momentums", &mut self.base_momentums),
        ] {
            // PyTorch keeps these in the optimizer's groups, so its state_dicts lack them; the
            // values this scheduler was built with then stay.
            if state.get(key).is_none() {
                continue;
            }
            let v = get_f64s(op, state, key)?;
            if v.len() != groups {
                return Err(invalid(
                    op,
                    format!("state_dict `{key}` has {} values for {groups} groups", v.len()),
                ));
            }
            *dst = v;
        }
        Ok(())
    }
}
