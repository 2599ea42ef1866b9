//! Stochastic gradient descent with momentum (`torch.optim.SGD`).

use super::param_group::{hyper_config, invalid};
use super::{algorithm::by_name_options, Algorithm, GroupedOptimizer, ParamState};
use kiln_tensor::{Result, Tensor};

hyper_config! {
    /// `torch.optim.SGD`'s hyperparameters, with its defaults (`lr` 1e-3).
    SgdConfig ("SGD") {
        /// Learning rate (default 1e-3).
        lr: f64 = 1e-3,
        /// Momentum factor (default 0).
        momentum: f64 = 0.0,
        /// Dampening for momentum (default 0).
        dampening: f64 = 0.0,
        /// L2 penalty added to the gradient (default 0).
        weight_decay: f64 = 0.0,
        /// Nesterov momentum; needs a positive momentum and zero dampening (default false).
        nesterov: bool = false,
        /// Maximize the objective instead of minimizing (default false).
        maximize: bool = false,
    }
}

/// SGD with momentum, as `torch.optim.SGD(foreach=False)`:
///
/// ```text
/// g = ±grad + weight_decay * p
/// b = g at the first step, else momentum * b + (1 - dampening) * g
/// g = g + momentum * b (nesterov) or b
/// p = p - lr * g
/// ```
///
/// ```
/// use kiln_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use kiln_tensor::{tensor, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let w = kiln_nn::parameter(tensor!([1.0, -2.0]));
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig::default().lr(0.1).momentum(0.9))?;
/// w.mul(&w)?.sum()?.backward()?;
/// opt.step()?;
/// assert_eq!(w.to_vec::<f32>()?, vec![0.8, -1.6]);
/// # Ok(()) }
/// ```
pub type Sgd = GroupedOptimizer<SgdConfig>;

impl Algorithm for SgdConfig {
    const NAME: &'static str = "SGD";
    by_name_options!();

    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| Err(invalid(Self::NAME, format!("invalid {what}: {v}")));
        if self.lr.is_nan() || self.lr < 0.0 {
            return bad("learning rate", self.lr);
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return bad("momentum value", self.momentum);
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return bad("weight_decay value", self.weight_decay);
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(invalid(
                Self::NAME,
                format!(
                    "Nesterov momentum requires a momentum and zero dampening (momentum {}, dampening {})",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }

    fn update(&self, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()> {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
            maximize,
        } = *self;
        let d_p = move |p: f64, g: f64| {
            let g = if maximize { -g } else { g };
            if weight_decay != 0.0 {
                g + weight_decay * p
            } else {
                g
            }
        };
        if momentum == 0.0 {
            return Tensor::fused_update_([param], [grad], |o, i| o[0] += -lr * d_p(o[0], i[0]));
        }
        let (buf, first) = state.buffer("momentum_buffer", param);
        Tensor::fused_update_([param, &buf], [grad], |o, i| {
            let g = d_p(o[0], i[0]);
            o[1] = if first {
                g
            } else {
                o[1] * momentum + (1.0 - dampening) * g
            };
            let g = if nesterov { g + momentum * o[1] } else { o[1] };
            o[0] += -lr * g;
        })
    }
}
