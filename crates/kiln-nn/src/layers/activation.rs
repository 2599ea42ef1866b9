//! Activation layers (`nn.ReLU`, `nn.GELU`, ...): parameter-free modules applying one
//! elementwise function (or a softmax along a dim). Each has `new()` with PyTorch's defaults.

use crate::{Forward, Module};
use kiln_tensor::{Error, Result, Tensor};

/// Unit-struct activations that call one tensor method.
macro_rules! simple_activation {
    ($($(#[$doc:meta])* $name:ident => $method:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, Module)]
        #[module(crate = "kiln_nn")]
        pub struct $name;

        impl $name {
            pub fn new() -> $name {
                $name
            }
        }

        impl Forward for $name {
            fn forward(&self, input: &Tensor) -> Result<Tensor> {
                input.$method()
            }
        }
    )*};
}

simple_activation! {
    /// `max(0, x)` (`nn.ReLU`).
    ReLU => relu;
    /// `tanh(x)` (`nn.Tanh`).
    Tanh => tanh;
    /// `1 / (1 + exp(-x))` (`nn.Sigmoid`).
    Sigmoid => sigmoid;
    /// `x · sigmoid(x)` (`nn.SiLU`).
    SiLU => silu;
}

/// `x · Φ(x)` (`nn.GELU`); `approximate` is `"none"` (exact, the default) or `"tanh"`.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct GELU {
    pub approximate: &'static str,
}

impl GELU {
    /// The exact GELU (`approximate="none"`).
    pub fn new() -> GELU {
        GELU { approximate: "none" }
    }

    /// `GELU(approximate=...)`; errors unless `approximate` is `"none"` or `"tanh"`.
    pub fn with_approximate(approximate: &str) -> Result<GELU> {
        match approximate {
            "none" => Ok(GELU { approximate: "none" }),
            "tanh" => Ok(GELU { approximate: "tanh" }),
            other => Err(Error::Invalid {
                op: "GELU",
                msg: format!("approximate must be \"none\" or \"tanh\", got {other:?}"),
            }),
        }
    }
}

impl Default for GELU {
    fn default() -> Self {
        GELU::new()
    }
}

impl Forward for GELU {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.gelu(self.approximate)
    }
}

/// `max(0, x) + negative_slope · min(0, x)` (`nn.LeakyReLU`, default slope 0.01).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct LeakyReLU {
    pub negative_slope: f64,
}

impl LeakyReLU {
    pub fn new() -> LeakyReLU {
        LeakyReLU { negative_slope: 0.01 }
    }
    pub fn with_slope(negative_slope: f64) -> LeakyReLU {
        LeakyReLU { negative_slope }
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU::new()
    }
}

impl Forward for LeakyReLU {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.leaky_relu(self.negative_slope)
    }
}

/// `x` for `x > 0`, else `alpha · (exp(x) − 1)` (`nn.ELU`, default `alpha = 1`).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct ELU {
    pub alpha: f64,
}

impl ELU {
    pub fn new() -> ELU {
        ELU { alpha: 1.0 }
    }
    pub fn with_alpha(alpha: f64) -> ELU {
        ELU { alpha }
    }
}

impl Default for ELU {
    fn default() -> Self {
        ELU::new()
    }
}

impl Forward for ELU {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.elu(self.alpha)
    }
}

/// `log(1 + exp(beta·x)) / beta`, and `x` where `beta·x > threshold` (`nn.Softplus`, defaults
/// `beta = 1`, `threshold = 20`).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}

impl Softplus {
    pub fn new() -> Softplus {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
    pub fn with_params(beta: f64, threshold: f64) -> Softplus {
        Softplus { beta, threshold }
    }
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus::new()
    }
}

impl Forward for Softplus {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.softplus(self.beta, self.threshold)
    }
}

/// `x · tanh(softplus(x))` (`nn.Mish`), composed of softplus (threshold 20, as PyTorch) and tanh.
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = "kiln_nn")]
pub struct Mish;

impl Mish {
    pub fn new() -> Mish {
        Mish
    }
}

impl Forward for Mish {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.mul(&input.softplus(1.0, 20.0)?.tanh()?)
    }
}

/// `clamp(x, min_val, max_val)` for floating-point input, with PyTorch's hardtanh gradient:
/// 1 strictly inside `(min_val, max_val)`, 0 elsewhere (also at the bounds).
fn hardtanh(x: &Tensor, min_val: f64, max_val: f64) -> Result<Tensor> {
    let inside = x.gt_scalar(min_val)?.logical_and(&x.lt_scalar(max_val)?)?;
    let clamped = x.clamp(Some(min_val), Some(max_val))?.detach();
    x.where_(&inside, &clamped)
}

/// `clamp(x, min_val, max_val)` (`nn.Hardtanh`, defaults −1 and 1); the gradient is 0 at the
/// bounds, as PyTorch's.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Hardtanh {
    pub min_val: f64,
    pub max_val: f64,
}

impl Hardtanh {
    pub fn new() -> Hardtanh {
        Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        }
    }

    /// Errors unless `max_val > min_val`.
    pub fn with_range(min_val: f64, max_val: f64) -> Result<Hardtanh> {
        if max_val.partial_cmp(&min_val) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::Invalid {
                op: "Hardtanh",
                msg: format!("max_val ({max_val}) must be greater than min_val ({min_val})"),
            });
        }
        Ok(Hardtanh { min_val, max_val })
    }
}

impl Default for Hardtanh {
    fn default() -> Self {
        Hardtanh::new()
    }
}

impl Forward for Hardtanh {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        hardtanh(input, self.min_val, self.max_val)
    }
}

/// `min(max(0, x), 6)` (`nn.ReLU6`, PyTorch's `hardtanh(x, 0, 6)`); boundary gradients as
/// [`Hardtanh`].
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = "kiln_nn")]
pub struct ReLU6;

impl ReLU6 {
    pub fn new() -> ReLU6 {
        ReLU6
    }
}

impl Forward for ReLU6 {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        hardtanh(input, 0.0, 6.0)
    }
}

/// Softmax along `dim` (`nn.Softmax(dim)`; negative dims count from the end).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Softmax {
    pub dim: isize,
}

impl Softmax {
    pub fn new(dim: isize) -> Softmax {
        Softmax { dim }
    }
}

impl Forward for Softmax {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.softmax(self.dim)
    }
}

/// Log-softmax along `dim` (`nn.LogSoftmax(dim)`).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct LogSoftmax {
    pub dim: isize,
}

impl LogSoftmax {
    pub fn new(dim: isize) -> LogSoftmax {
        LogSoftmax { dim }
    }
}

impl Forward for LogSoftmax {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.log_softmax(self.dim)
    }
}
