//! [`CosineAnnealingLR`].

use super::base::{get_f64, get_i64, group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};
use std::f64::consts::PI;

/// Cosine annealing from the base lrs to `eta_min` over `t_max` epochs
/// (`torch.optim.lr_scheduler.CosineAnnealingLR`).
///
/// Uses PyTorch's recursive form, so past `t_max` the lrs climb back up along the cosine
/// (period `2 * t_max`) exactly as PyTorch's do, and changes made to the optimizer's lrs between
/// steps carry forward.
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    base: Base,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// `CosineAnnealingLR(opt, T_max, eta_min)` (PyTorch's default `eta_min` is 0); errors when
    /// `t_max` is 0.
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Result<CosineAnnealingLR> {
        if t_max == 0 {
            return Err(invalid("CosineAnnealingLR", "T_max must be positive, got 0"));
        }
        init(
            CosineAnnealingLR {
                base: Base::new(opt),
                t_max,
                eta_min,
            },
            opt,
        )
    }
}

impl Schedule for CosineAnnealingLR {
    const NAME: &'static str = "CosineAnnealingLR";
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
        let (e, t, eta) = (self.base.last_epoch, self.t_max as i64, self.eta_min);
        let tf = t as f64;
        let bases = &self.base.base_lrs;
        if self.base.step_count == 1 && e > 0 {
            return Ok(bases
                .iter()
                .map(|b| eta + (b - eta) * (1.0 + (e as f64 * PI / tf).cos()) / 2.0)
                .collect());
        }
        if (e - 1 - t).rem_euclid(2 * t) == 0 {
            return Ok(lrs
                .iter()
                .zip(bases)
                .map(|(lr, b)| lr + (b - eta) * (1.0 - (PI / tf).cos()) / 2.0)
                .collect());
        }
        let ratio = (1.0 + (PI * e as f64 / tf).cos()) / (1.0 + (PI * (e - 1) as f64 / tf).cos());
        Ok(lrs.iter().map(|lr| ratio * (lr - eta) + eta).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        let (e, tf, eta) = (self.base.last_epoch as f64, self.t_max as f64, self.eta_min);
        Some(
            self.base
                .base_lrs
                .iter()
                .map(|b| eta + (b - eta) * (1.0 + (PI * e / tf).cos()) / 2.0)
                .collect(),
        )
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("T_max".into(), Value::from(self.t_max));
        out.insert("eta_min".into(), Value::from(self.eta_min));
    }
    fn load_extra_state(&mut self, state: &Value) -> Result<()> {
        let t_max = get_i64(Self::NAME, state, "T_max")?;
        if t_max <= 0 {
            return Err(invalid(Self::NAME, format!("T_max must be positive, got {t_max}")));
        }
        self.t_max = t_max as usize;
        self.eta_min = get_f64(Self::NAME, state, "eta_min")?;
        Ok(())
    }
}
