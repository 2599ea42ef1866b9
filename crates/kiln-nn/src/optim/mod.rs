//! Optimizers (`torch.optim`): they update parameters in place from their `.grad()`.
//!
//! Every optimizer holds parameter groups, each with its own hyperparameters, and per-parameter
//! state (momentum buffers, moment estimates). [`Optimizer::state_dict`] saves both in a form a
//! training checkpoint stores; loading it into an optimizer built over the same parameters continues
//! the exact trajectory.

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
