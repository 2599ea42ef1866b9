//! [`ConstantLR`].

use super::base::{get_f64, get_i64, group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

/// Scales the lrs by `factor` for the first `total_iters` epochs, then restores them
/// (`torch.optim.lr_scheduler.ConstantLR`).
#[derive(Clone, Debug)]
pub struct ConstantLR {
    base: Base,
    factor: f64,
    total_iters: usize,
}

impl ConstantLR {
    /// `ConstantLR(opt, factor, total_iters)` (PyTorch's defaults: 1/3 and 5); errors unless
    /// `0 < factor <= 1` (PyTorch admits 0 and then divides by it at `total_iters`).
    pub fn new(opt: &mut dyn Optimizer, factor: f64, total_iters: usize) -> Result<ConstantLR> {
        check(factor)?;
        init(
            ConstantLR {
                base: Base::new(opt),
                factor,
                total_iters,
            },
            opt,
        )
    }
}

fn check(factor: f64) -> Result<()> {
    if !(factor > 0.0 && factor <= 1.0) {
        return Err(invalid("ConstantLR", format!("factor must be in (0, 1], got {factor}")));
    }
    Ok(())
}

impl Schedule for ConstantLR {
    const NAME: &'static str = "ConstantLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        let e = self.base.last_epoch;
        if e == 0 {
            return Ok(lrs.iter().map(|lr| lr * self.factor).collect());
        }
        if e != self.total_iters as i64 {
            return Ok(lrs);
        }
        Ok(lrs.iter().map(|lr| lr * (1.0 / self.factor)).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let after = if self.base.last_epoch >= self.total_iters as i64 {
            1.0
        } else {
            0.0
        };
        let f = self.factor + after * (1.0 - self.factor);
        Some(self.base.base_lrs.iter().map(|b| b * f).collect())
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("factor".into(), Value::from(self.factor));
        out.insert("total_iters".into(), Value::from(self.total_iters));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let factor = get_f64(Self::NAME, state, "factor")?;
        check(factor)?;
        let total_iters = get_i64(Self::NAME, state, "total_iters")?;
        if total_iters < 0 {
            return Err(invalid(
                Self::NAME,
                format!("total_iters must be >= 0, got {total_iters}"),
            ));
        }
        (self.factor, self.total_iters) = (factor, total_iters as usize);
        Ok(())
    }
}
