//! [`PolynomialLR`].

use super::base::{get_f64, get_i64, group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

/// Decays the base lrs as `(1 - epoch / total_iters)^power`, reaching 0 at `total_iters` and
/// staying there (`torch.optim.lr_scheduler.PolynomialLR`).
#[derive(Clone, Debug)]
pub struct PolynomialLR {
    base: Base,
    total_iters: usize,
    power: f64,
}

impl PolynomialLR {
    /// `PolynomialLR(opt, total_iters, power)` (PyTorch's defaults: 5 and 1.0); errors when
    /// `total_iters` is 0.
    pub fn new(opt: &mut dyn Optimizer, total_iters: usize, power: f64) -> Result<PolynomialLR> {
        if total_iters == 0 {
            return Err(invalid("PolynomialLR", "total_iters must be positive, got 0"));
        }
        init(
            PolynomialLR {
                base: Base::new(opt),
                total_iters,
                power,
            },
            opt,
        )
    }
}

impl Schedule for PolynomialLR {
    const NAME: &'static str = "PolynomialLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        let (e, n) = (self.base.last_epoch, self.total_iters as i64);
        if initial || e > n {
            return Ok(lrs);
        }
        let nf = n as f64;
        let decay = ((1.0 - e as f64 / nf) / (1.0 - (e - 1) as f64 / nf)).powf(self.power);
        Ok(lrs.iter().map(|lr| lr * decay).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let n = self.total_iters as i64;
        let done = n.min(self.base.last_epoch) as f64;
        let f = (1.0 - done / n as f64).powf(self.power);
        Some(self.base.base_lrs.iter().map(|b| b * f).collect())
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("total_iters".into(), Value::from(self.total_iters));
        out.insert("power".into(), Value::from(self.power));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let total_iters = get_i64(Self::NAME, state, "total_iters")?;
        if total_iters <= 0 {
            return Err(invalid(
                Self::NAME,
                format!("total_iters must be positive, got {total_iters}"),
            ));
        }
        self.total_iters = total_iters as usize;
        self.power = get_f64(Self::NAME, state, "power")?;
        Ok(())
    }
}
