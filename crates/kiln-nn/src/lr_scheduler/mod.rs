//! Learning-rate schedulers (`torch.optim.lr_scheduler`): they set each parameter group's lr (and,
//! for [`OneCycleLR`] and [`CyclicLR`], its momentum) through the [`Optimizer`] trait.
//!
//! - decays: [`StepLR`], [`MultiStepLR`], [`ExponentialLR`], [`PolynomialLR`], [`ConstantLR`],
//!   [`LinearLR`], [`LambdaLR`], [`MultiplicativeLR`];
//! - cycles: [`CosineAnnealingLR`], [`CosineAnnealingWarmRestarts`], [`OneCycleLR`], [`CyclicLR`];
//! - composition: [`SequentialLR`] (one after another), [`ChainedScheduler`] (together);
//! - metric-driven: [`ReduceLROnPlateau`].
//!
//! As in PyTorch, building a scheduler records the optimizer's current lrs as its base lrs
//! (`initial_lr`) and applies the schedule's first value at once (PyTorch's implicit first `step()`);
//! afterwards call `opt.step()` then `sched.step(&mut opt)` once per epoch (or batch). The updates are
//! PyTorch's recursive ("chainable") formulas on the optimizer's current lrs, so the numbers are
//! PyTorch's to the last bits.
//!
//! [`ReduceLROnPlateau`] needs a metric at every update, so it is a separate type with
//! [`ReduceLROnPlateau::step_metric`] and does not implement [`LrScheduler`]; the compiler thus
//! rejects it where PyTorch raises at run time (inside [`SequentialLR`] or [`ChainedScheduler`]).
//!
//! `state_dict` gives JSON with PyTorch's attribute names (`base_lrs`, `last_epoch`, `_step_count`,
//! `_last_lr`, and the hyperparameters); `load_state_dict` into a scheduler built the same way over
//! the same optimizer continues the identical sequence; PyTorch's own `state_dict()`s (as JSON,
//! infinities as `"inf"`) load too. Functions (`LambdaLR`'s, a custom `scale_fn`) are not saved.
//!
//! ```
//! use kiln_nn::lr_scheduler::{CosineAnnealingLR, LinearLR, LrScheduler, SequentialLR};
//! use kiln_nn::optim::Optimizer;
//! # use kiln_nn::optim::OptimizerState;
//! # use kiln_nn::{Result, Tensor};
//! # struct Sgd { lr: f64 }
//! # impl Optimizer for Sgd {
//! #     fn step(&mut self) -> Result<()> { Ok(()) }
//! #     fn zero_grad(&mut self) {}
//! #     fn num_groups(&self) -> usize { 1 }
//! #     fn lr(&self, _: usize) -> f64 { self.lr }
//! #     fn set_lr(&mut self, _: usize, lr: f64) { self.lr = lr }
//! #     fn group_params(&self, _: usize) -> &[Tensor] { &[] }
//! #     fn state_dict(&self) -> OptimizerState { OptimizerState::default() }
//! #     fn load_state_dict(&mut self, _: &OptimizerState) -> Result<()> { Ok(()) }
//! # }
//! # fn main() -> Result<()> {
//! let mut opt = Sgd { lr: 0.1 };
//! // 5 epochs of linear warm-up from 0.01, then cosine annealing to 1e-4 over 20 epochs.
//! let warmup = LinearLR::with_factors(&mut opt, 0.1, 1.0, 5)?;
//! let cosine = CosineAnnealingLR::new(&mut opt, 20, 1e-4)?;
//! let mut sched = SequentialLR::new(&mut opt, vec![Box::new(warmup), Box::new(cosine)], &[5])?;
//! assert!((opt.lr(0) - 0.01).abs() < 1e-12);
//! for _epoch in 0..25 {
//!     // ... train one epoch, calling opt.step() ...
//!     sched.step(&mut opt)?;
//! }
//! assert!((sched.get_last_lr()[0] - 1e-4).abs() < 1e-12);
//! let checkpoint = sched.state_dict(); // JSON, e.g. for TrainingCheckpoint::scheduler
//! # let _ = checkpoint;
//! # Ok(())
//! # }
//! ```

mod base;
mod chained;
mod constant;
mod cosine;
mod cyclic;
mod lambda;
mod linear;
mod one_cycle;
mod plateau;
mod polynomial;
mod sequential;
mod step;
mod warm_restarts;

pub use chained::ChainedScheduler;
pub use constant::ConstantLR;
pub use cosine::CosineAnnealingLR;
pub use cyclic::{CyclicLR, CyclicLRConfig, CyclicMode, ScaleFn, ScaleMode};
pub use lambda::{LambdaLR, LrLambda, MultiplicativeLR};
pub use linear::LinearLR;
pub use one_cycle::{AnnealStrategy, OneCycleLR, OneCycleLRConfig};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};
pub use polynomial::PolynomialLR;
pub use sequential::SequentialLR;
pub use step::{ExponentialLR, MultiStepLR, StepLR};
pub use warm_restarts::CosineAnnealingWarmRestarts;

use crate::optim::Optimizer;
use kiln_tensor::Result;

/// What every epoch-driven scheduler provides (`torch.optim.lr_scheduler.LRScheduler`).
///
/// The methods after `load_state_dict` are the hooks [`SequentialLR`] composes schedulers with
/// (PyTorch's `base_lrs`, `_initial_step`, `_update_lr(epoch)` and the `last_epoch` undo); ordinary
/// code needs only the first five, and a custom scheduler may keep the hooks' defaults.
pub trait LrScheduler {
    /// Advances one epoch and writes the new lrs into `opt` (call after `opt.step()`).
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()>;

    /// The lrs the scheduler last set, one per parameter group.
    fn get_last_lr(&self) -> Vec<f64>;

    /// Index of the last epoch stepped (0 right after construction).
    fn last_epoch(&self) -> i64;

    /// The scheduler's state as JSON, with PyTorch's attribute names.
    fn state_dict(&self) -> serde_json::Value;

    /// Restores a state from [`LrScheduler::state_dict`] (or PyTorch's, as JSON); errors (changing
    /// nothing) when a key this scheduler needs is missing or malformed or the group count differs.
    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()>;

    /// The base lrs (PyTorch's `base_lrs`, the groups' `initial_lr`). Default: `get_last_lr()`.
    fn base_lrs(&self) -> Vec<f64> {
        self.get_last_lr()
    }

    /// Replaces the base lrs (PyTorch's optimizer-wide `initial_lr`, shared by all schedulers of one
    /// optimizer); [`SequentialLR`] gives its schedulers the first one's. Default: ignored.
    fn set_base_lrs(&mut self, _base_lrs: &[f64]) -> Result<()> {
        Ok(())
    }

    /// PyTorch's `_initial_step`: resets the step count and steps once in "initial" mode, which
    /// applies the schedule's value at epoch `last_epoch + 1` the way the constructor does.
    /// Default: [`LrScheduler::step`].
    fn initial_step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.step(opt)
    }

    /// PyTorch's `_update_lr(epoch)`: jumps to `epoch` and sets the closed-form lrs of that epoch
    /// (without counting a step). Default: an error.
    fn step_to(&mut self, _opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        Err(kiln_tensor::Error::Invalid {
            op: "LrScheduler",
            msg: format!(
                "this scheduler cannot jump to epoch {epoch}: implement LrScheduler::step_to \
                 (SequentialLR restarts every scheduler after the first with it)"
            ),
        })
    }

    /// Decrements `last_epoch` (of every sub-scheduler for [`SequentialLR`]), as PyTorch's
    /// `SequentialLR` does to undo the constructors' steps. Default: nothing.
    fn undo_step(&mut self) {}
}
