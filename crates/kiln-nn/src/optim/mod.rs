//! Optimizers (`torch.optim`): they update parameters in place from their `.grad()`.
//!
//! Every optimizer holds parameter groups, each with its own hyperparameters, and per-parameter
//! state (momentum buffers, moment estimates). [`Optimizer::state_dict`] saves both in a form a
//! training checkpoint stores; loading it into an optimizer built over the same parameters continues
//! the exact trajectory.
//!
//! [`Sgd`], [`Adam`], [`AdamW`], [`RMSprop`] and [`Adagrad`] follow PyTorch's single-tensor
//! (`foreach=False`) algorithms; each is a [`GroupedOptimizer`] over its config type, built with
//! `new(params, config)` or `with_groups(groups, config)`:
//!
//! ```
//! use kiln_nn::optim::{Adam, AdamConfig, Optimizer, ParamGroup};
//! use kiln_tensor::tensor;
//! # fn main() -> kiln_tensor::Result<()> {
//! let w = kiln_nn::parameter(tensor!([[0.5, -0.5]]));
//! let b = kiln_nn::parameter(tensor!([0.1]));
//! let mut opt = Adam::with_groups(
//!     vec![ParamGroup::new(vec![w.clone()]), ParamGroup::new(vec![b.clone()]).lr(1e-2)],
//!     AdamConfig::default().lr(1e-3).weight_decay(1e-4),
//! )?;
//! let x = tensor!([[1.0], [2.0]]);
//! let loss = x.matmul(&w)?.add(&b)?.pow_scalar(2.0)?.mean()?;
//! opt.zero_grad();
//! loss.backward()?;
//! opt.step()?;
//! assert_eq!((opt.lr(0), opt.lr(1)), (1e-3, 1e-2));
//! # Ok(()) }
//! ```

use crate::StateDict;
use kiln_tensor::{Result, Tensor};

/// An optimizer's saved state, as PyTorch's `{"state": ..., "param_groups": ...}`.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Per-parameter tensors, keyed `"{param_index}.{name}"` (`"0.exp_avg"`), where the index
    /// counts parameters across groups in order.
    pub tensors: StateDict,
    /// Everything else as JSON: the optimizer's name, each group's hyperparameters and parameter
    /// indices, per-parameter scalar state (`step`).
    pub meta: serde_json::Value,
}

/// What every optimizer provides (`torch.optim.Optimizer`).
pub trait Optimizer {
    /// One update of every parameter that has a gradient; parameters without one are skipped.
    fn step(&mut self) -> Result<()>;

    /// Clears the gradients of all parameters (`zero_grad(set_to_none=True)`).
    fn zero_grad(&mut self);

    /// Number of parameter groups.
    fn num_groups(&self) -> usize;

    /// The learning rate of group `group`.
    fn lr(&self, group: usize) -> f64;

    /// Sets the learning rate of group `group` (what schedulers call).
    fn set_lr(&mut self, group: usize, lr: f64);

    /// The momentum of group `group` (`momentum` for SGD and RMSprop, `betas.0` for Adam and
    /// AdamW); `None` when the optimizer has none. What `OneCycleLR(cycle_momentum=True)` cycles.
    fn momentum(&self, _group: usize) -> Option<f64> {
        None
    }

    /// Sets the momentum (or `betas.0`) of group `group`; ignored by optimizers without one.
    fn set_momentum(&mut self, _group: usize, _momentum: f64) {}

    /// The parameters of group `group`.
    fn group_params(&self, group: usize) -> &[Tensor];

    /// The state to store in a checkpoint.
    fn state_dict(&self) -> OptimizerState;

    /// Restores a state from [`Optimizer::state_dict`]; errors (modifying nothing) when the
    /// optimizer kind, group count, parameter counts or state shapes do not match.
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()>;
}

mod adagrad;
mod adam;
mod algorithm;
mod grouped;
pub(crate) mod param_group;
mod rmsprop;
mod sgd;
mod state;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use algorithm::Algorithm;
pub use grouped::GroupedOptimizer;
pub use param_group::{HyperValue, ParamGroup};
pub use rmsprop::{RMSprop, RMSpropConfig};
pub use sgd::{Sgd, SgdConfig};
pub use state::ParamState;

/// PyTorch's scalar `lerp`: `start + weight * (end - start)` for `|weight| < 0.5`, else
/// `end - (end - start) * (1 - weight)` (exact at `weight = 1`).
pub(crate) fn lerp(start: f64, end: f64, weight: f64) -> f64 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}
