//! RMSprop (`torch.optim.RMSprop`).

use super::param_group::{hyper_config, invalid};
use super::{algorithm::by_name_options, Algorithm, GroupedOptimizer, ParamState};
use kiln_tensor::{Result, Tensor};

hyper_config! {
    /// `torch.optim.RMSprop`'s hyperparameters, with its defaults (`lr` 1e-2).
    RMSpropConfig ("RMSprop") {
        /// Learning rate (default 1e-2).
        lr: f64 = 1e-2,
        /// Smoothing constant of the running average of the squared gradient (default 0.99).
        alpha: f64 = 0.99,
        /// Term added to the denominator (default 1e-8).
        eps: f64 = 1e-8,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64 = 0.0,
        /// Momentum factor (default 0).
        momentum: f64 = 0.0,
        /// Normalize by the estimated variance of the gradient (default false).
        centered: bool = false,
        /// Maximize the objective instead of minimizing (default false).
        maximize: bool = false,
    }
}

/// RMSprop, as `torch.optim.RMSprop(foreach=False)`:
///
/// ```text
/// g = ±grad + weight_decay * p
/// v = alpha * v + (1 - alpha) * g * g
/// avg = sqrt(v - ga * ga) with ga = lerp(ga, g, 1 - alpha) (centered), else sqrt(v); avg += eps
/// b = momentum * b + g / avg; p = p - lr * b (momentum > 0), else p = p - lr * g / avg
/// ```
pub type RMSprop = GroupedOptimizer<RMSpropConfig>;

/// Which lanes the fused update has after `param` and `square_avg`.
#[derive(Clone, Copy)]
struct Lanes {
    grad_avg: Option<usize>,
    momentum_buffer: Option<usize>,
}

fn update_elem(c: &RMSpropConfig, lanes: Lanes, o: &mut [f64], grad: f64) {
    let mut g = if c.maximize { -grad } else { grad };
    if c.weight_decay != 0.0 {
        g += c.weight_decay * o[0];
    }
    o[1] = o[1] * c.alpha + (1.0 - c.alpha) * g * g;
    let avg = match lanes.grad_avg {
        Some(k) => {
            o[k] = super::lerp(o[k], g, 1.0 - c.alpha);
            (o[1] + -o[k] * o[k]).sqrt()
        }
        None => o[1].sqrt(),
    } + c.eps;
    match lanes.momentum_buffer {
        Some(k) => {
            o[k] = o[k] * c.momentum + g / avg;
            o[0] += -c.lr * o[k];
        }
        None => o[0] += -c.lr * g / avg,
    }
}

impl Algorithm for RMSpropConfig {
    const NAME: &'static str = "RMSprop";
    by_name_options!();

    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }

    fn validate(&self) -> Result<()> {
        let checks = [
            ("learning rate", self.lr),
            ("epsilon value", self.eps),
            ("momentum value", self.momentum),
            ("weight_decay value", self.weight_decay),
            ("alpha value", self.alpha),
        ];
        for (what, v) in checks {
            if v.is_nan() || v < 0.0 {
                return Err(invalid(Self::NAME, format!("invalid {what}: {v}")));
            }
        }
        Ok(())
    }

    fn update(&self, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()> {
        let (square_avg, _) = state.buffer("square_avg", param);
        let momentum_buffer = (self.momentum > 0.0).then(|| state.buffer("momentum_buffer", param).0);
        let grad_avg = self.centered.then(|| state.buffer("grad_avg", param).0);
        state.next_step();
        match (&grad_avg, &momentum_buffer) {
            (None, None) => {
                let lanes = Lanes {
                    grad_avg: None,
                    momentum_buffer: None,
                };
                Tensor::fused_update_([param, &square_avg], [grad], |o, i| update_elem(self, lanes, o, i[0]))
            }
            (Some(ga), None) => {
                let lanes = Lanes {
                    grad_avg: Some(2),
                    momentum_buffer: None,
                };
                Tensor::fused_update_([param, &square_avg, ga], [grad], |o, i| {
                    update_elem(self, lanes, o, i[0])
                })
            }
            (None, Some(b)) => {
                let lanes = Lanes {
                    grad_avg: None,
                    momentum_buffer: Some(2),
                };
                Tensor::fused_update_([param, &square_avg, b], [grad], |o, i| {
                    update_elem(self, lanes, o, i[0])
                })
            }
            (Some(ga), Some(b)) => {
                let lanes = Lanes {
                    grad_avg: Some(2),
                    momentum_buffer: Some(3),
                };
                Tensor::fused_update_([param, &square_avg, ga, b], [grad], |o, i| {
                    update_elem(self, lanes, o, i[0])
                })
            }
        }
    }
}
