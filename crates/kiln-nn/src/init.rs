//! Initialization functions (`torch.nn.init`), drawing from the global generator
//! ([`kiln_tensor::manual_seed`]) and writing in place without recording gradients.

use kiln_tensor::{no_grad, Error, Result, Tensor};

/// Which fan scales the kaiming bounds (`mode="fan_in"` / `"fan_out"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

/// The nonlinearity whose gain scales an initialization (`calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    Linear,
    Sigmoid,
    Tanh,
    Relu,
    /// `leaky_relu`; the slope is the `a` argument of the kaiming functions.
    LeakyRelu,
    Selu,
}

/// The recommended gain for `nonlinearity` (`torch.nn.init.calculate_gain`); `param` is the
/// negative slope for `LeakyRelu` (PyTorch's default 0.01 when used outside kaiming).
pub fn calculate_gain(nonlinearity: Nonlinearity, param: Option<f64>) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight: dims 1 and 0 times the receptive field (dims 2..), as
/// `torch.nn.init._calculate_fan_in_and_fan_out`. Errors for fewer than 2 dims.
pub fn calculate_fan_in_and_fan_out(t: &Tensor) -> Result<(usize, usize)> {
    let s = t.shape();
    if s.len() < 2 {
        return Err(Error::Invalid {
            op: "init",
            msg: format!("fan in and fan out cannot be computed for a tensor with fewer than 2 dims (shape {s:?})"),
        });
    }
    let receptive: usize = s[2..].iter().product();
    Ok((s[1] * receptive, s[0] * receptive))
}

/// Overwrites `t` (any float dtype, leaf or not) with `values` of the same shape, outside autograd.
pub(crate) fn overwrite(t: &Tensor, values: &Tensor) -> Result<()> {
    no_grad(|| t.copy_(values))
}

/// Fills `t` with samples from `U(low, high)` (`uniform_`).
pub fn uniform_(t: &Tensor, low: f64, high: f64) -> Result<()> {
    let u = Tensor::rand(t.shape(), kiln_tensor::DType::F64)?;
    overwrite(t, &u.mul_scalar(high - low)?.add_scalar(low)?)
}

/// Fills `t` from `U(-bound, bound)` with `bound = gain·√(3/fan)` and `gain` from `a` and
/// `nonlinearity` (`kaiming_uniform_`).
pub fn kaiming_uniform_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: Nonlinearity) -> Result<()> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    let fan = match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    };
    if fan == 0 {
        // PyTorch warns and leaves the (empty) tensor alone.
        return Ok(());
    }
    let gain = calculate_gain(nonlinearity, Some(a));
    let bound = 3f64.sqrt() * gain / (fan as f64).sqrt();
    uniform_(t, -bound, bound)
}
