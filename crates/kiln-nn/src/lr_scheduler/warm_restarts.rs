//! [`CosineAnnealingWarmRestarts`] (SGDR).

use super::base::{check_groups, f64s_to_json, get_f64, get_f64s, get_i64, group_lrs, invalid};
use super::LrScheduler;
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};
use std::f64::consts::PI;

const OP: &str = "CosineAnnealingWarmRestarts";

/// Cosine annealing from the base lrs to `eta_min` over `t_0` epochs, then restarting, each
/// cycle `t_mult` times longer than the last (`torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`).
///
/// [`LrScheduler::step`] advances one epoch; [`CosineAnnealingWarmRestarts::step_epoch`] sets a
/// (possibly fractional) epoch, as PyTorch's `step(epoch)` for per-batch updates.
#[derive(Clone, Debug)]
pub struct CosineAnnealingWarmRestarts {
    base_lrs: Vec<f64>,
    t_0: i64,
    t_i: i64,
    t_mult: i64,
    eta_min: f64,
    t_cur: f64,
    last_epoch: i64,
    step_count: i64,
    last_lr: Vec<f64>,
}

impl CosineAnnealingWarmRestarts {
    /// `CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)` (PyTorch's defaults: `T_mult = 1`,
    /// `eta_min = 0`); errors unless `t_0 >= 1` and `t_mult >= 1`.
    pub fn new(
        opt: &mut dyn Optimizer,
        t_0: usize,
        t_mult: usize,
        eta_min: f64,
    ) -> Result<CosineAnnealingWarmRestarts> {
        if t_0 == 0 {
            return Err(invalid(OP, "expected positive integer T_0, but got 0"));
        }
        if t_mult == 0 {
            return Err(invalid(OP, "expected integer T_mult >= 1, but got 0"));
        }
        let lrs = group_lrs(opt);
        let mut s = CosineAnnealingWarmRestarts {
            base_lrs: lrs.clone(),
            t_0: t_0 as i64,
            t_i: t_0 as i64,
            t_mult: t_mult as i64,
            eta_min,
            t_cur: -1.0,
            last_epoch: -1,
            step_count: 0,
            last_lr: lrs,
        };
        s.initial_step(opt)?;
        Ok(s)
    }

    /// PyTorch's `step(epoch)`: jumps to `epoch` (fractions allowed, e.g. `epoch + batch / batches`)
    /// and sets the lrs of that point of the cycle; errors on a negative or non-finite epoch.
    pub fn step_epoch(&mut self, opt: &mut dyn Optimizer, epoch: f64) -> Result<()> {
        check_groups(OP, opt, self.base_lrs.len())?;
        if !(epoch >= 0.0 && epoch.is_finite()) {
            return Err(invalid(OP, format!("expected a non-negative epoch, but got {epoch}")));
        }
        let t_0 = self.t_0 as f64;
        if epoch >= t_0 {
            if self.t_mult == 1 {
                self.t_cur = epoch % t_0;
            } else {
                let m = self.t_mult as f64;
                let n = (epoch / t_0 * (m - 1.0) + 1.0).ln() / m.ln();
                let n = n as i64;
                self.t_cur = epoch - t_0 * (m.powf(n as f64) - 1.0) / (m - 1.0);
                self.t_i = self.t_0 * self.t_mult.pow(n as u32);
            }
        } else {
            self.t_i = self.t_0;
            self.t_cur = epoch;
        }
        self.last_epoch = epoch.floor() as i64;
        self.apply(opt);
        Ok(())
    }

    fn lrs(&self) -> Vec<f64> {
        let (eta, ti) = (self.eta_min, self.t_i as f64);
        self.base_lrs
            .iter()
            .map(|b| eta + (b - eta) * (1.0 + (PI * self.t_cur / ti).cos()) / 2.0)
            .collect()
    }

    fn apply(&mut self, opt: &mut dyn Optimizer) {
        for (g, lr) in self.lrs().into_iter().enumerate() {
            opt.set_lr(g, lr);
        }
        self.last_lr = group_lrs(opt);
    }
}

impl LrScheduler for CosineAnnealingWarmRestarts {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        check_groups(OP, opt, self.base_lrs.len())?;
        if self.last_epoch < 0 {
            return self.step_epoch(opt, 0.0);
        }
        self.last_epoch += 1;
        self.t_cur += 1.0;
        if self.t_cur >= self.t_i as f64 {
            self.t_cur %= self.t_i as f64;
            self.t_i *= self.t_mult;
        }
        self.apply(opt);
        Ok(())
    }

    fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    fn state_dict(&self) -> Value {
        let mut out = Map::new();
        out.insert("T_0".into(), Value::from(self.t_0));
        out.insert("T_i".into(), Value::from(self.t_i));
        out.insert("T_mult".into(), Value::from(self.t_mult));
        out.insert("eta_min".into(), Value::from(self.eta_min));
        out.insert("T_cur".into(), Value::from(self.t_cur));
        out.insert("base_lrs".into(), f64s_to_json(&self.base_lrs));
        out.insert("last_epoch".into(), Value::from(self.last_epoch));
        out.insert("_step_count".into(), Value::from(self.step_count));
        out.insert("_last_lr".into(), f64s_to_json(&self.last_lr));
        Value::Object(out)
    }

    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        let positive = |key: &str| -> Result<i64> {
            let v = get_i64(OP, state, key)?;
            if v < 1 {
                return Err(invalid(OP, format!("state_dict `{key}` must be >= 1, got {v}")));
            }
            Ok(v)
        };
        let groups = self.base_lrs.len();
        let base_lrs = get_f64s(OP, state, "base_lrs")?;
        let last_lr = get_f64s(OP, state, "_last_lr")?;
        if base_lrs.len() != groups || last_lr.len() != groups {
            return Err(invalid(
                OP,
                format!(
                    "state has {} base_lrs and {} _last_lr, the scheduler has {groups} parameter groups",
                    base_lrs.len(),
                    last_lr.len()
                ),
            ));
        }
        let restored = CosineAnnealingWarmRestarts {
            base_lrs,
            t_0: positive("T_0")?,
            t_i: positive("T_i")?,
            t_mult: positive("T_mult")?,
            eta_min: get_f64(OP, state, "eta_min")?,
            t_cur: get_f64(OP, state, "T_cur")?,
            last_epoch: get_i64(OP, state, "last_epoch")?,
            step_count: get_i64(OP, state, "_step_count")?,
            last_lr,
        };
        *self = restored;
        Ok(())
    }

    fn base_lrs(&self) -> Vec<f64> {
        self.base_lrs.clone()
    }

    fn set_base_lrs(&mut self, base_lrs: &[f64]) -> Result<()> {
        if base_lrs.len() != self.base_lrs.len() {
            return Err(invalid(
                OP,
                format!(
                    "got {} base lrs for {} parameter groups",
                    base_lrs.len(),
                    self.base_lrs.len()
                ),
            ));
        }
        self.base_lrs = base_lrs.to_vec();
        Ok(())
    }

    fn initial_step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.step_count = 0;
        self.step(opt)
    }

    /// PyTorch's base `_update_lr(epoch)`: sets `last_epoch` and re-applies the current point of
    /// the cycle (PyTorch does not move `T_cur` there).
    fn step_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        check_groups(OP, opt, self.base_lrs.len())?;
        self.last_epoch = epoch;
        self.apply(opt);
        Ok(())
    }

    fn undo_step(&mut self) {
        self.last_epoch -= 1;
    }
}
