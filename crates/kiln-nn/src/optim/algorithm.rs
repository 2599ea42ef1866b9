//! [`Algorithm`]: what one optimizer kind (SGD, Adam, ...) adds to [`super::GroupedOptimizer`].

use super::{HyperValue, ParamState};
use kiln_tensor::{Result, Tensor};

/// The hyperparameters and per-parameter update rule of one optimizer kind. Each config type
/// (`SgdConfig`, `AdamConfig`, ...) implements it; users only build configs and call
/// [`super::Optimizer`] methods.
pub trait Algorithm: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// PyTorch's class name (`"SGD"`, `"Adam"`, ...), also the `optimizer` entry of a saved state.
    const NAME: &'static str;

    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f64);
    /// The momentum that schedulers cycle, when the optimizer has one.
    fn momentum(&self) -> Option<f64> {
        None
    }
    /// Sets that momentum; ignored when there is none.
    fn set_momentum(&mut self, _momentum: f64) {}

    /// Every hyperparameter by its PyTorch name.
    fn options(&self) -> Vec<(&'static str, HyperValue)>;
    /// Sets hyperparameter `key`; errors on an unknown name or a value of the wrong kind.
    fn set_option(&mut self, key: &str, value: HyperValue) -> Result<()>;
    /// Checks the values as PyTorch's constructor does.
    fn validate(&self) -> Result<()>;

    /// The state a parameter gets when the optimizer is built (Adagrad's `sum`); empty for the
    /// optimizers that create their state at the first step.
    fn initial_state(&self, _param: &Tensor) -> Result<ParamState> {
        Ok(ParamState::default())
    }

    /// One update of `param` from `grad`, in place, under `no_grad`.
    fn update(&self, param: &Tensor, grad: &Tensor, state: &mut ParamState) -> Result<()>;
}

/// Implements [`Algorithm`]'s by-name methods from `hyper_config!`'s helpers.
macro_rules! by_name_options {
    () => {
        fn options(&self) -> Vec<(&'static str, $crate::optim::HyperValue)> {
            self.option_list()
        }
        fn set_option(&mut self, key: &str, value: $crate::optim::HyperValue) -> kiln_tensor::Result<()> {
            self.set_option_value(key, value)
        }
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
    };
}
pub(crate) use by_name_options;
