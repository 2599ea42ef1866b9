//! Initialization functions (`torch.nn.init`), drawing from the global generator
//! ([`kiln_tensor::manual_seed`]) and writing in place without recording gradients, so they work
//! on parameters (leaves that require grad) as well as on plain tensors.
//!
//! ```
//! use kiln_nn::init::{self, FanMode, Nonlinearity};
//! use kiln_tensor::{DType, Tensor};
//! # fn main() -> kiln_tensor::Result<()> {
//! kiln_tensor::manual_seed(0);
//! let w = kiln_nn::parameter(Tensor::zeros(&[64, 32, 3, 3], DType::F32));
//! init::kaiming_normal_(&w, 0.0, FanMode::FanOut, Nonlinearity::Relu)?;
//! let q = Tensor::zeros(&[4, 6], DType::F64);
//! init::orthogonal_(&q, 1.0)?; // orthonormal rows
//! # Ok(()) }
//! ```

use kiln_tensor::{no_grad, random::with_rng, DType, Error, Result, Tensor};

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
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Sigmoid,
    Tanh,
    Relu,
    /// `leaky_relu`; the slope is the `param` of [`calculate_gain`] (the `a` argument of the
    /// kaiming functions).
    LeakyRelu,
    Selu,
}

/// The recommended gain for `nonlinearity` (`torch.nn.init.calculate_gain`): 1 for the linear
/// and convolution functions and sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for
/// leaky_relu, 3/4 for selu. `param` is the negative slope for `LeakyRelu` (PyTorch's default
/// 0.01 when `None`) and ignored otherwise.
pub fn calculate_gain(nonlinearity: Nonlinearity, param: Option<f64>) -> f64 {
    use Nonlinearity::*;
    match nonlinearity {
        Linear | Conv1d | Conv2d | Conv3d | ConvTranspose1d | ConvTranspose2d | ConvTranspose3d | Sigmoid => 1.0,
        Tanh => 5.0 / 3.0,
        Relu => 2f64.sqrt(),
        LeakyRelu => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        Selu => 0.75,
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

fn float_target(op: &'static str, t: &Tensor) -> Result<()> {
    if t.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::Invalid {
            op,
            msg: format!("expected a floating-point tensor, got {}", t.dtype()),
        })
    }
}

fn fan(t: &Tensor, mode: FanMode) -> Result<usize> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    })
}

/// Fills `t` with samples from `U(low, high)` (`uniform_`).
pub fn uniform_(t: &Tensor, low: f64, high: f64) -> Result<()> {
    float_target("uniform_", t)?;
    let u = Tensor::rand(t.shape(), DType::F64)?;
    overwrite(t, &u.mul_scalar(high - low)?.add_scalar(low)?)
}

/// Fills `t` with samples from `N(mean, std²)` (`normal_`).
pub fn normal_(t: &Tensor, mean: f64, std: f64) -> Result<()> {
    float_target("normal_", t)?;
    let n = Tensor::randn(t.shape(), DType::F64)?;
    overwrite(t, &n.mul_scalar(std)?.add_scalar(mean)?)
}

/// Fills `t` with `val` (`constant_`).
pub fn constant_(t: &Tensor, val: f64) -> Result<()> {
    no_grad(|| t.fill_(val))
}

/// Fills `t` with zeros (`zeros_`).
pub fn zeros_(t: &Tensor) -> Result<()> {
    constant_(t, 0.0)
}

/// Fills `t` with ones (`ones_`).
pub fn ones_(t: &Tensor) -> Result<()> {
    constant_(t, 1.0)
}

/// Fills a 2-D `t` with the identity (ones on the main diagonal of a possibly rectangular
/// matrix, as `eye_`). Errors for other ranks.
pub fn eye_(t: &Tensor) -> Result<()> {
    let s = t.shape();
    if s.len() != 2 {
        return Err(Error::Invalid {
            op: "eye_",
            msg: format!("only tensors with 2 dimensions are supported, got shape {s:?}"),
        });
    }
    let (rows, cols) = (s[0], s[1]);
    let v: Vec<f64> = (0..rows * cols)
        .map(|i| if i / cols == i % cols { 1.0 } else { 0.0 })
        .collect();
    overwrite(t, &Tensor::from_vec(v, s)?)
}

/// Fills `t` from `U(-b, b)` with `b = gain·√(6 / (fan_in + fan_out))` (`xavier_uniform_`).
pub fn xavier_uniform_(t: &Tensor, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    if t.numel() == 0 {
        return Ok(());
    }
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    uniform_(t, -bound, bound)
}

/// Fills `t` from `N(0, std²)` with `std = gain·√(2 / (fan_in + fan_out))` (`xavier_normal_`).
pub fn xavier_normal_(t: &Tensor, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    if t.numel() == 0 {
        return Ok(());
    }
    normal_(t, 0.0, gain * (2.0 / (fan_in + fan_out) as f64).sqrt())
}

/// Fills `t` from `U(-bound, bound)` with `bound = gain·√(3/fan)` and `gain` from `a` and
/// `nonlinearity` (`kaiming_uniform_`). A tensor with no elements is left alone.
pub fn kaiming_uniform_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: Nonlinearity) -> Result<()> {
    let fan = fan(t, mode)?;
    if fan == 0 || t.numel() == 0 {
        // PyTorch warns and leaves the (empty) tensor alone.
        return Ok(());
    }
    let gain = calculate_gain(nonlinearity, Some(a));
    let bound = 3f64.sqrt() * gain / (fan as f64).sqrt();
    uniform_(t, -bound, bound)
}

/// Fills `t` from `N(0, std²)` with `std = gain / √fan` and `gain` from `a` and `nonlinearity`
/// (`kaiming_normal_`). A tensor with no elements is left alone.
pub fn kaiming_normal_(t: &Tensor, a: f64, mode: FanMode, nonlinearity: Nonlinearity) -> Result<()> {
    let fan = fan(t, mode)?;
    if fan == 0 || t.numel() == 0 {
        return Ok(());
    }
    let gain = calculate_gain(nonlinearity, Some(a));
    normal_(t, 0.0, gain / (fan as f64).sqrt())
}

/// Fills `t` from `N(mean, std²)` truncated to `[a, b]` (`trunc_normal_`, PyTorch's defaults
/// `mean = 0, std = 1, a = -2, b = 2`), by the inverse CDF of uniform samples as PyTorch does.
/// Errors unless `a < b` and `std > 0`.
pub fn trunc_normal_(t: &Tensor, mean: f64, std: f64, a: f64, b: f64) -> Result<()> {
    float_target("trunc_normal_", t)?;
    if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) || std.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err(Error::Invalid {
            op: "trunc_normal_",
            msg: format!("expected a < b and std > 0, got a = {a}, b = {b}, std = {std}"),
        });
    }
    let bounds = Tensor::from_vec(
        vec![(a - mean) / (std * 2f64.sqrt()), (b - mean) / (std * 2f64.sqrt())],
        &[2],
    )?
    .erf()?
    .to_vec::<f64>()?;
    // Uniform in [2l - 1, 2u - 1], l and u the normal CDF at the standardized bounds.
    let (lo, hi) = (bounds[0], bounds[1]);
    let n = t.numel();
    let y: Vec<f64> = with_rng(|g| (0..n).map(|_| lo + (hi - lo) * g.next_f64()).collect());
    let x = erfinv(&y)?;
    let v: Vec<f64> = x.iter().map(|&x| (mean + x * std * 2f64.sqrt()).clamp(a, b)).collect();
    overwrite(t, &Tensor::from_vec(v, t.shape())?)
}

/// Inverse error function of values in `[-1, 1]`: Giles' approximation refined by two Newton
/// steps on `erf` (accurate to f64 rounding away from ±1; ±1 give ±∞).
fn erfinv(y: &[f64]) -> Result<Vec<f64>> {
    let mut x: Vec<f64> = y.iter().map(|&y| erfinv_approx(y)).collect();
    for _ in 0..2 {
        let e = Tensor::from_vec(x.clone(), &[x.len()])?.erf()?.to_vec::<f64>()?;
        for i in 0..x.len() {
            if x[i].is_finite() {
                let slope = 2.0 / std::f64::consts::PI.sqrt() * (-x[i] * x[i]).exp();
                if slope > 0.0 {
                    x[i] -= (e[i] - y[i]) / slope;
                }
            }
        }
    }
    Ok(x)
}

/// Giles, "Approximating the erfinv function" (single-precision coefficients).
fn erfinv_approx(y: f64) -> f64 {
    if y <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if y >= 1.0 {
        return f64::INFINITY;
    }
    let mut w = -((1.0 - y) * (1.0 + y)).ln();
    let p = if w < 5.0 {
        w -= 2.5;
        [
            3.432_739_39e-7,
            -3.523_387_7e-6,
            -4.391_506_54e-6,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ]
        .iter()
        .fold(2.810_226_36e-8, |p, c| c + p * w)
    } else {
        w = w.sqrt() - 3.0;
        [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ]
        .iter()
        .fold(-0.000_200_214_257, |p, c| c + p * w)
    };
    p * y
}

/// Fills `t` (2 or more dims, viewed as `[rows, numel / rows]`) with a (semi-)orthogonal matrix
/// times `gain` (`orthogonal_`): the Q factor of a standard normal matrix, with the signs that
/// make R's diagonal positive (PyTorch's correction), from the transpose when `rows < cols` so
/// that the rows are orthonormal then. Errors for fewer than 2 dims.
pub fn orthogonal_(t: &Tensor, gain: f64) -> Result<()> {
    float_target("orthogonal_", t)?;
    let s = t.shape();
    if s.len() < 2 {
        return Err(Error::Invalid {
            op: "orthogonal_",
            msg: format!("only tensors with 2 or more dimensions are supported, got shape {s:?}"),
        });
    }
    if t.numel() == 0 {
        return Ok(());
    }
    let rows = s[0];
    let cols = t.numel() / rows;
    let a: Vec<f64> = with_rng(|g| (0..rows * cols).map(|_| g.next_normal()).collect());
    // m x n column-major matrix with m >= n: the transpose when wide.
    let (m, n) = if rows < cols { (cols, rows) } else { (rows, cols) };
    let mut q: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            (0..m)
                .map(|i| if rows < cols { a[j * cols + i] } else { a[i * cols + j] })
                .collect()
        })
        .collect();
    gram_schmidt(&mut q);
    let mut out = vec![0.0; rows * cols];
    for (j, col) in q.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            let idx = if rows < cols { j * cols + i } else { i * cols + j };
            out[idx] = v * gain;
        }
    }
    overwrite(t, &Tensor::from_vec(out, s)?)
}

/// Orthonormalizes the columns in place by modified Gram-Schmidt, twice for stability. The
/// result is the Q of the QR factorization whose R has a positive diagonal.
fn gram_schmidt(cols: &mut [Vec<f64>]) {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for j in 0..cols.len() {
        for _ in 0..2 {
            for k in 0..j {
                let (done, rest) = cols.split_at_mut(j);
                let r = dot(&done[k], &rest[0]);
                for (v, &qk) in rest[0].iter_mut().zip(&done[k]) {
                    *v -= r * qk;
                }
            }
        }
        let norm = dot(&cols[j], &cols[j]).sqrt();
        if norm > 0.0 {
            cols[j].iter_mut().for_each(|v| *v /= norm);
        }
    }
}
