//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`): one update rule, with the weight
//! decay added to the gradient (Adam) or applied to the parameter directly (AdamW).

use super::param_group::{hyper_config, invalid};
use super::{algorithm::by_name_options, Algorithm, GroupedOptimizer, ParamState};
use kiln_tensor::{Result, Tensor};

hyper_config! {
    /// `torch.optim.Adam`'s hyperparameters, with its defaults.
    AdamConfig ("Adam") {
        /// Learning rate (default 1e-3).
        lr: f64 = 1e-3,
        /// Coefficients of the running averages of the gradient and its square, each in [0, 1)
        /// (default (0.9, 0.999)).
        betas: (f64, f64) = (0.9, 0.999),
        /// Term added to the denominator (default 1e-8).
        eps: f64 = 1e-8,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64 = 0.0,
        /// The AMSGrad variant: normalize by the running maximum of the second moment (default false).
        amsgrad: bool = false,
        /// Maximize the objective instead of minimizing (default false).
        maximize: bool = false,
    }
}

hyper_config! {
    /// `torch.optim.AdamW`'s hyperparameters, with its defaults (`weight_decay` 1e-2).
    AdamWConfig ("AdamW") {
        /// Learning rate (default 1e-3).
        lr: f64 = 1e-3,
        /// Coefficients of the running averages of the gradient and its square, each in [0, 1)
        /// (default (0.9, 0.999)).
        betas: (f64, f64) = (0.9, 0.999),
        /// Term added to the denominator (default 1e-8).
        eps: f64 = 1e-8,
        /// Decoupled weight decay: `p *= 1 - lr * weight_decay` before the update (default 1e-2).
        weight_decay: f64 = 1e-2,
        /// The AMSGrad variant (default false).
        amsgrad: bool = false,
        /// Maximize the objective instead of minimizing (default false).
        maximize: bool = false,
    }
}

/// Adam, as `torch.optim.Adam(foreach=False)`:
///
/// ```text
/// t += 1; g = ±grad + weight_decay * p
/// m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) * g * g
/// v_max = max(v_max, v) (amsgrad)
/// p = p - lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)
/// ```
pub type Adam = GroupedOptimizer<AdamConfig>;

/// AdamW, as `torch.optim.AdamW(foreach=False)`: Adam with `p *= 1 - lr * weight_decay` first
/// instead of the L2 term in the gradient.
pub type AdamW = GroupedOptimizer<AdamWConfig>;

/// The values one Adam step uses, whichever config they come from.
#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
}

fn validate(op: &'static str, h: Hyper) -> Result<()> {
    let bad = |what: &str, v: String| Err(invalid(op, format!("invalid {what}: {v}")));
    if h.lr.is_nan() || h.lr < 0.0 {
        return bad("learning rate", h.lr.to_string());
    }
    if h.eps.is_nan() || h.eps < 0.0 {
        return bad("epsilon value", h.eps.to_string());
    }
    if !(0.0..1.0).contains(&h.betas.0) {
        return bad("beta parameter at index 0", h.betas.0.to_string());
    }
    if !(0.0..1.0).contains(&h.betas.1) {
        return bad("beta parameter at index 1", h.betas.1.to_string());
    }
    if h.weight_decay.is_nan() || h.weight_decay < 0.0 {
        return bad("weight_decay value", h.weight_decay.to_string());
    }
    Ok(())
}

/// Lanes of the fused update: `[param, exp_avg, exp_avg_sq, (max_exp_avg_sq)]`, `grad`.
fn update_elem(o: &mut [f64], grad: f64, h: &Hyper, step_size: f64, bc2_sqrt: f64) {
    let (beta1, beta2) = h.betas;
    let mut g = if h.maximize { -grad } else { grad };
    if h.weight_decay != 0.0 {
        if h.decoupled {
            o[0] *= 1.0 - h.lr * h.weight_decay;
        } else {
            g += h.weight_decay * o[0];
        }
    }
    o[1] = super::lerp(o[1], g, 1.0 - beta1);
    o[2] = o[2] * beta2 + (1.0 - beta2) * g * g;
    let v = if h.amsgrad {
        o[3] = if o[3].is_nan() || o[2].is_nan() {
            f64::NAN
        } else {
            o[3].max(o[2])
        };
        o[3]
    } else {
        o[2]
    };
    let denom = v.sqrt() / bc2_sqrt + h.eps;
    o[0] += -step_size * o[1] / denom;
}

fn update(h: Hyper, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()> {
    let (exp_avg, _) = state.buffer("exp_avg", param);
    let (exp_avg_sq, _) = state.buffer("exp_avg_sq", param);
    let step = state.next_step();
    let bias_correction1 = 1.0 - h.betas.0.powf(step);
    let bias_correction2 = 1.0 - h.betas.1.powf(step);
    let step_size = h.lr / bias_correction1;
    let bc2_sqrt = bias_correction2.powf(0.5);
    if h.amsgrad {
        let (max_sq, _) = state.buffer("max_exp_avg_sq", param);
        Tensor::fused_update_([param, &exp_avg, &exp_avg_sq, &max_sq], [grad], |o, i| {
            update_elem(o, i[0], &h, step_size, bc2_sqrt)
        })
    } else {
        Tensor::fused_update_([param, &exp_avg, &exp_avg_sq], [grad], |o, i| {
            update_elem(o, i[0], &h, step_size, bc2_sqrt)
        })
    }
}

macro_rules! adam_algorithm {
    ($config:ident, $name:literal, $decoupled:expr) => {
        impl $config {
            fn hyper(&self) -> Hyper {
                Hyper {
                    lr: self.lr,
                    betas: self.betas,
                    eps: self.eps,
                    weight_decay: self.weight_decay,
                    amsgrad: self.amsgrad,
                    maximize: self.maximize,
                    decoupled: $decoupled,
                }
            }
        }

        impl Algorithm for $config {
            const NAME: &'static str = $name;
            by_name_options!();

            fn momentum(&self) -> Option<f64> {
                Some(self.betas.0)
            }

            fn set_momentum(&mut self, momentum: f64) {
                self.betas.0 = momentum;
            }

            fn validate(&self) -> Result<()> {
                validate(Self::NAME, self.hyper())
            }

            fn update(&self, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()> {
                update(self.hyper(), param, grad, state)
            }
        }
    };
}

adam_algorithm!(AdamConfig, "Adam", false);
adam_algorithm!(AdamWConfig, "AdamW", true);
