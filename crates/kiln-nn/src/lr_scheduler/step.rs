//! Decays by a constant factor: [`StepLR`], [`MultiStepLR`], [`ExponentialLR`].

use super::base::{get_f64, get_i64, group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

/// Multiplies the lrs by `gamma` every `step_size` epochs (`torch.optim.lr_scheduler.StepLR`).
#[derive(Clone, Debug)]
pub struct StepLR {
    base: Base,
    step_size: usize,
    gamma: f64,
}

impl StepLR {
    /// `StepLR(opt, step_size, gamma)` (PyTorch's default `gamma` is 0.1); errors when
    /// `step_size` is 0.
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Result<StepLR> {
        if step_size == 0 {
            return Err(invalid("StepLR", "step_size must be positive, got 0"));
        }
        init(
            StepLR {
                base: Base::new(opt),
                step_size,
                gamma,
            },
            opt,
        )
    }
}

impl Schedule for StepLR {
    const NAME: &'static str = "StepLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let e = self.base.last_epoch;
        let lrs = group_lrs(opt);
        if e == 0 || e % self.step_size as i64 != 0 {
            return Ok(lrs);
        }
        Ok(lrs.iter().map(|lr| lr * self.gamma).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let k = self.base.last_epoch.div_euclid(self.step_size as i64);
        Some(
            self.base
                .base_lrs
                .iter()
                .map(|b| b * self.gamma.powf(k as f64))
                .collect(),
        )
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("step_size".into(), Value::from(self.step_size));
        out.insert("gamma".into(), Value::from(self.gamma));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let step_size = get_i64(Self::NAME, state, "step_size")?;
        if step_size <= 0 {
            return Err(invalid(
                Self::NAME,
                format!("step_size must be positive, got {step_size}"),
            ));
        }
        self.step_size = step_size as usize;
        self.gamma = get_f64(Self::NAME, state, "gamma")?;
        Ok(())
    }
}

/// Multiplies the lrs by `gamma` at each milestone epoch; a milestone listed `k` times multiplies by
/// `gamma^k` (`torch.optim.lr_scheduler.MultiStepLR`).
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    base: Base,
    /// Sorted, with repeats.
    milestones: Vec<i64>,
    gamma: f64,
}

impl MultiStepLR {
    /// `MultiStepLR(opt, milestones, gamma)` (PyTorch's default `gamma` is 0.1). Milestones may be
    /// in any order and repeat.
    pub fn new(opt: &mut dyn Optimizer, milestones: &[usize], gamma: f64) -> Result<MultiStepLR> {
        let mut milestones: Vec<i64> = milestones.iter().map(|&m| m as i64).collect();
        milestones.sort_unstable();
        init(
            MultiStepLR {
                base: Base::new(opt),
                milestones,
                gamma,
            },
            opt,
        )
    }

    fn count(&self, epoch: i64) -> usize {
        self.milestones.iter().filter(|&&m| m == epoch).count()
    }
}

impl Schedule for MultiStepLR {
    const NAME: &'static str = "MultiStepLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        let k = self.count(self.base.last_epoch);
        if k == 0 {
            return Ok(lrs);
        }
        Ok(lrs.iter().map(|lr| lr * self.gamma.powf(k as f64)).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let passed = self.milestones.partition_point(|&m| m <= self.base.last_epoch);
        Some(
            self.base
                .base_lrs
                .iter()
                .map(|b| b * self.gamma.powf(passed as f64))
                .collect(),
        )
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        // PyTorch keeps a Counter {milestone: count}.
        let mut counts = Map::new();
        for &m in &self.milestones {
            counts.insert(m.to_string(), Value::from(self.count(m)));
        }
        out.insert("milestones".into(), Value::Object(counts));
        out.insert("gamma".into(), Value::from(self.gamma));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let bad = || invalid(Self::NAME, "state_dict `milestones` must map epochs to counts");
        let counts = state.get("milestones").and_then(Value::as_object).ok_or_else(bad)?;
        let mut milestones = Vec::new();
        for (k, v) in counts {
            let m: i64 = k.parse().map_err(|_| bad())?;
            let n = v.as_u64().ok_or_else(bad)?;
            milestones.extend(std::iter::repeat_n(m, n as usize));
        }
        milestones.sort_unstable();
        self.milestones = milestones;
        self.gamma = get_f64(Self::NAME, state, "gamma")?;
        Ok(())
    }
}

/// Multiplies the lrs by `gamma` every epoch (`torch.optim.lr_scheduler.ExponentialLR`).
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    base: Base,
    gamma: f64,
}

impl ExponentialLR {
    /// `ExponentialLR(opt, gamma)`.
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Result<ExponentialLR> {
        init(
            ExponentialLR {
                base: Base::new(opt),
                gamma,
            },
            opt,
        )
    }
}

impl Schedule for ExponentialLR {
    const NAME: &'static str = "ExponentialLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        if initial {
            return Ok(lrs);
        }
        Ok(lrs.iter().map(|lr| lr * self.gamma).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let e = self.base.last_epoch as f64;
        Some(self.base.base_lrs.iter().map(|b| b * self.gamma.powf(e)).collect())
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("gamma".into(), Value::from(self.gamma));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        self.gamma = get_f64(Self::NAME, state, "gamma")?;
        Ok(())
    }
}
