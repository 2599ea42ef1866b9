//! [`ParamGroup`]: parameters with their own hyperparameters (an entry of PyTorch's
//! `param_groups`), and [`HyperValue`], the value of one hyperparameter.

use kiln_tensor::{Error, Tensor};

/// The value of one hyperparameter: a number, a flag, or a pair (Adam's `betas`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HyperValue {
    F64(f64),
    Bool(bool),
    Pair(f64, f64),
}

impl HyperValue {
    /// The JSON form: a number, a bool, or a two-element array.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            HyperValue::F64(v) => serde_json::json!(v),
            HyperValue::Bool(v) => serde_json::json!(v),
            HyperValue::Pair(a, b) => serde_json::json!([a, b]),
        }
    }

    /// Reads [`HyperValue::to_json`]'s form; `None` for anything else.
    pub fn from_json(v: &serde_json::Value) -> Option<HyperValue> {
        match v {
            serde_json::Value::Bool(b) => Some(HyperValue::Bool(*b)),
            serde_json::Value::Number(n) => n.as_f64().map(HyperValue::F64),
            serde_json::Value::Array(a) if a.len() == 2 => Some(HyperValue::Pair(a[0].as_f64()?, a[1].as_f64()?)),
            _ => None,
        }
    }
}

/// A Rust type a hyperparameter can have.
pub(crate) trait HyperType: Sized + Copy {
    fn to_value(self) -> HyperValue;
    fn from_value(v: HyperValue) -> Option<Self>;
}

impl HyperType for f64 {
    fn to_value(self) -> HyperValue {
        HyperValue::F64(self)
    }
    fn from_value(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::F64(x) => Some(x),
            _ => None,
        }
    }
}

impl HyperType for bool {
    fn to_value(self) -> HyperValue {
        HyperValue::Bool(self)
    }
    fn from_value(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::Bool(x) => Some(x),
            _ => None,
        }
    }
}

impl HyperType for (f64, f64) {
    fn to_value(self) -> HyperValue {
        HyperValue::Pair(self.0, self.1)
    }
    fn from_value(v: HyperValue) -> Option<Self> {
        match v {
            HyperValue::Pair(a, b) => Some((a, b)),
            _ => None,
        }
    }
}

/// Parameters optimized with their own hyperparameters; options left unset fall back to the
/// optimizer's config (PyTorch's `{"params": [...], "lr": 0.01}` dicts).
///
/// Setting an option the optimizer does not have (`betas` on SGD) is an error at construction.
#[derive(Clone, Debug)]
pub struct ParamGroup {
    pub(crate) params: Vec<Tensor>,
    pub(crate) options: Vec<(String, HyperValue)>,
}

macro_rules! group_options {
    ($($(#[$m:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl ParamGroup {
            $(
                $(#[$m])*
                pub fn $name(self, value: $ty) -> Self {
                    self.set(stringify!($name), HyperType::to_value(value))
                }
            )*
        }
    };
}

impl ParamGroup {
    /// A group of `params` with every option taken from the optimizer's config.
    pub fn new(params: Vec<Tensor>) -> Self {
        ParamGroup {
            params,
            options: Vec::new(),
        }
    }

    /// Sets option `name` (a PyTorch hyperparameter name) to `value`, replacing an earlier value.
    pub fn set(mut self, name: &str, value: HyperValue) -> Self {
        self.options.retain(|(k, _)| *k != name);
        self.options.push((name.to_string(), value));
        self
    }

    /// The group's parameters.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }
}

group_options! {
    /// Learning rate.
    lr: f64,
    /// Momentum factor (SGD, RMSprop).
    momentum: f64,
    /// Dampening for momentum (SGD).
    dampening: f64,
    /// L2 penalty (decoupled decay for AdamW).
    weight_decay: f64,
    /// Nesterov momentum (SGD).
    nesterov: bool,
    /// Maximize the objective instead of minimizing.
    maximize: bool,
    /// Coefficients of the running averages of the gradient and its square (Adam, AdamW).
    betas: (f64, f64),
    /// Term added to the denominator for numerical stability.
    eps: f64,
    /// The AMSGrad variant (Adam, AdamW).
    amsgrad: bool,
    /// Smoothing constant (RMSprop).
    alpha: f64,
    /// Normalize by the estimated variance of the gradient (RMSprop).
    centered: bool,
    /// Learning-rate decay (Adagrad).
    lr_decay: f64,
    /// Starting value of the sum of squared gradients (Adagrad).
    initial_accumulator_value: f64,
}

/// An error of optimizer `op` about a hyperparameter.
pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Invalid { op, msg: msg.into() }
}

/// Defines an optimizer's config struct: public fields with PyTorch's names and defaults, a
/// builder method per field, and the by-name access that groups and saved states use.
macro_rules! hyper_config {
    (
        $(#[$m:meta])*
        $name:ident ($optim:expr) {
            $($(#[$fm:meta])* $field:ident: $ty:ty = $def:expr),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $def,)* }
            }
        }

        impl $name {
            $(
                $(#[$fm])*
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*

            /// Every hyperparameter by its PyTorch name.
            fn option_list(&self) -> Vec<(&'static str, $crate::optim::HyperValue)> {
                vec![$((stringify!($field), $crate::optim::param_group::HyperType::to_value(self.$field)),)*]
            }

            /// Sets hyperparameter `key`; errors on an unknown name or a value of the wrong kind.
            fn set_option_value(&mut self, key: &str, value: $crate::optim::HyperValue) -> kiln_tensor::Result<()> {
                match key {
                    $(stringify!($field) => {
                        self.$field = $crate::optim::param_group::HyperType::from_value(value).ok_or_else(|| {
                            $crate::optim::param_group::invalid(
                                $optim,
                                format!("option `{key}` cannot be {value:?}"),
                            )
                        })?;
                    })*
                    _ => {
                        return Err($crate::optim::param_group::invalid(
                            $optim,
                            format!("{} has no option `{key}`", $optim),
                        ))
                    }
                }
                Ok(())
            }
        }
    };
}
pub(crate) use hyper_config;
