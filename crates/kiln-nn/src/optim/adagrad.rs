//! Adagrad (`torch.optim.Adagrad`).

use super::param_group::{hyper_config, invalid};
use super::{algorithm::by_name_options, Algorithm, GroupedOptimizer, ParamState};
use kiln_tensor::{Result, Tensor};

hyper_config! {
    /// `torch.optim.Adagrad`'s hyperparameters, with its defaults (`lr` 1e-2).
    AdagradConfig ("Adagrad") {
        /// Learning rate (default 1e-2).
        lr: f64 = 1e-2,
        /// Learning-rate decay: step `t` uses `lr / (1 + (t - 1) * lr_decay)` (default 0).
        lr_decay: f64 = 0.0,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64 = 0.0,
        /// Starting value of the sum of squared gradients (default 0).
        initial_accumulator_value: f64 = 0.0,
        /// Term added to the denominator (default 1e-10).
        eps: f64 = 1e-10,
        /// Maximize the objective instead of minimizing (default false).
        maximize: bool = false,
    }
}

/// Adagrad, as `torch.optim.Adagrad(foreach=False)`; its state (`sum`, `step`) exists from
/// construction:
///
/// ```text
/// t += 1; g = ±grad + weight_decay * p; clr = lr / (1 + (t - 1) * lr_decay)
/// sum = sum + g * g; p = p - clr * g / (sqrt(sum) + eps)
/// ```
pub type Adagrad = GroupedOptimizer<AdagradConfig>;

impl Algorithm for AdagradConfig {
    const NAME: &'static str = "Adagrad";
    by_name_options!();

    fn validate(&self) -> Result<()> {
        let checks = [
            ("learning rate", self.lr),
            ("lr_decay value", self.lr_decay),
            ("weight_decay value", self.weight_decay),
            ("initial_accumulator_value value", self.initial_accumulator_value),
            ("epsilon value", self.eps),
        ];
        for (what, v) in checks {
            if v.is_nan() || v < 0.0 {
                return Err(invalid(Self::NAME, format!("invalid {what}: {v}")));
            }
        }
        Ok(())
    }

    fn initial_state(&self, param: &Tensor) -> Result<ParamState> {
        let sum = Tensor::full(param.shape(), self.initial_accumulator_value, param.dtype())?;
        Ok(ParamState {
            step: Some(0.0),
            buffers: vec![("sum".to_string(), sum)],
        })
    }

    fn update(&self, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()> {
        let (sum, created) = state.buffer("sum", param);
        if created {
            kiln_tensor::no_grad(|| sum.fill_(self.initial_accumulator_value))?;
        }
        let step = state.next_step();
        let clr = self.lr / (1.0 + (step - 1.0) * self.lr_decay);
        let c = self.clone();
        Tensor::fused_update_([param, &sum], [grad], |o, i| {
            let mut g = if c.maximize { -i[0] } else { i[0] };
            if c.weight_decay != 0.0 {
                g += c.weight_decay * o[0];
            }
            o[1] += g * g;
            let std = o[1].sqrt() + c.eps;
            o[0] += -clr * g / std;
        })
    }
}
