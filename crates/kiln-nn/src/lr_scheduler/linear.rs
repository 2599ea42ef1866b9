//! [`LinearLR`].

use super::base::{get_f64, get_i64, group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

/// Scales the base lrs by a factor going linearly from `start_factor` to `end_factor` over
/// `total_iters` epochs, then keeps it (`torch.optim.lr_scheduler.LinearLR`). Construction sets
/// `lr = base_lr * start_factor`.
#[derive(Clone, Debug)]
pub struct LinearLR {
    base: Base,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLR {
    /// `LinearLR(opt)` with PyTorch's defaults: `start_factor = 1/3`, `end_factor = 1`,
    /// `total_iters = 5`.
    pub fn new(opt: &mut dyn Optimizer) -> Result<LinearLR> {
        LinearLR::with_factors(opt, 1.0 / 3.0, 1.0, 5)
    }

    /// `LinearLR(opt, start_factor, end_factor, total_iters)`: errors unless
    /// `0 < start_factor <= 1`, `0 <= end_factor <= 1` and `total_iters > 0`.
    pub fn with_factors(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<LinearLR> {
        check(start_factor, end_factor, total_iters as i64)?;
        init(
            LinearLR {
                base: Base::new(opt),
                start_factor,
                end_factor,
                total_iters,
            },
            opt,
        )
    }
}

fn check(start_factor: f64, end_factor: f64, total_iters: i64) -> Result<()> {
    // Negated comparisons also reject NaN.
    if !(start_factor > 0.0 && start_factor <= 1.0) {
        return Err(invalid(
            "LinearLR",
            format!("start_factor must be in (0, 1], got {start_factor}"),
        ));
    }
    if !(0.0..=1.0).contains(&end_factor) {
        return Err(invalid(
            "LinearLR",
            format!("end_factor must be in [0, 1], got {end_factor}"),
        ));
    }
    if total_iters <= 0 {
        return Err(invalid(
            "LinearLR",
            format!("total_iters must be positive, got {total_iters}"),
        ));
    }
    Ok(())
}

impl Schedule for LinearLR {
    const NAME: &'static str = "LinearLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        let e = self.base.last_epoch;
        if e == 0 {
            return Ok(lrs.iter().map(|lr| lr * self.start_factor).collect());
        }
        let n = self.total_iters as i64;
        if initial || e > n {
            return Ok(lrs);
        }
        let (s, d) = (self.start_factor, self.end_factor - self.start_factor);
        let f = 1.0 + d / (n as f64 * s + (e - 1) as f64 * d);
        Ok(lrs.iter().map(|lr| lr * f).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let n = self.total_iters as i64;
        let done = n.min(self.base.last_epoch) as f64;
        let f = self.start_factor + (self.end_factor - self.start_factor) * done / n as f64;
        Some(self.base.base_lrs.iter().map(|b| b * f).collect())
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("start_factor".into(), Value::from(self.start_factor));
        out.insert("end_factor".into(), Value::from(self.end_factor));
        out.insert("total_iters".into(), Value::from(self.total_iters));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let start_factor = get_f64(Self::NAME, state, "start_factor")?;
        let end_factor = get_f64(Self::NAME, state, "end_factor")?;
        let total_iters = get_i64(Self::NAME, state, "total_iters")?;
        check(start_factor, end_factor, total_iters)?;
        (self.start_factor, self.end_factor, self.total_iters) = (start_factor, end_factor, total_iters as usize);
        Ok(())
    }
}
