//! Elementwise functions of one tensor: a table from [`UnaryOp`] to its scalar function.

use super::{float_map, to_float, FloatMap};
use crate::backward::Node;
use crate::error::{Error, Result};
use crate::op::{OpKind, UnaryOp};
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use kiln_kernels::elementwise::unary_vec;
use kiln_kernels::Float;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Scalar functions, each applied with one vectorizable loop. `exp`, `tanh`, `erf` and the
/// logistic function use [`kiln_kernels::math::VecMath`]: vectorized approximations within a
/// few ulp for f32, the exact library functions for f64.
struct UnaryFn(UnaryOp);

impl FloatMap for UnaryFn {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let c = |v: f64| T::from_f64(v);
        macro_rules! go {
            ($f:expr) => {
                unary_vec(x, $f)
            };
        }
        match self.0 {
            UnaryOp::Neg => go!(|v: T| -v),
            UnaryOp::Abs => go!(|v: T| v.abs()),
            UnaryOp::Exp => go!(|v: T| v.exp_v()),
            UnaryOp::Log => go!(|v: T| v.ln()),
            UnaryOp::Log1p => go!(|v: T| v.ln_1p()),
            UnaryOp::Expm1 => go!(|v: T| v.exp_m1()),
            UnaryOp::Sqrt => go!(|v: T| v.sqrt()),
            UnaryOp::Rsqrt => go!(|v: T| T::ONE / v.sqrt()),
            UnaryOp::Square => go!(|v: T| v * v),
            UnaryOp::Reciprocal => go!(|v: T| T::ONE / v),
            UnaryOp::Sin => go!(|v: T| v.sin()),
            UnaryOp::Cos => go!(|v: T| v.cos()),
            UnaryOp::Tanh => go!(|v: T| v.tanh_v()),
            UnaryOp::Sigmoid => go!(|v: T| v.sigmoid_v()),
            // NaN stays NaN, as in PyTorch.
            UnaryOp::Relu => go!(|v: T| if v < T::ZERO { T::ZERO } else { v }),
            UnaryOp::Silu => go!(|v: T| v * v.sigmoid_v()),
            UnaryOp::Erf => go!(|v: T| v.erf_v()),
            UnaryOp::GeluErf => {
                let (half, k) = (c(0.5), c(FRAC_1_SQRT_2));
                go!(move |v: T| half * v * (T::ONE + (v * k).erf_v()))
            }
            UnaryOp::GeluTanh => {
                let (half, k, a) = (c(0.5), c(SQRT_2_OVER_PI), c(0.044715));
                go!(move |v: T| half * v * (T::ONE + (k * (v + a * v * v * v)).tanh_v()))
            }
            UnaryOp::Sign => go!(|v: T| if v > T::ZERO {
                T::ONE
            } else if v < T::ZERO {
                -T::ONE
            } else {
                T::ZERO // zero and NaN, as PyTorch's sign
            }),
            UnaryOp::Floor => go!(|v: T| v.floor()),
            UnaryOp::Ceil => go!(|v: T| v.ceil()),
            UnaryOp::Round => go!(|v: T| v.round_even()),
        }
    }
}

/// Scalar functions with attributes.
enum ParamFn {
    LeakyRelu(f64),
    Elu(f64),
    Softplus(f64, f64),
    Clamp(Option<f64>, Option<f64>),
    Pow(f64),
}

impl FloatMap for ParamFn {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let c = |v: f64| T::from_f64(v);
        match *self {
            ParamFn::LeakyRelu(s) => {
                let s = c(s);
                unary_vec(x, move |v: T| if v > T::ZERO { v } else { v * s })
            }
            ParamFn::Elu(a) => {
                let a = c(a);
                unary_vec(x, move |v: T| if v > T::ZERO { v } else { a * v.exp_m1() })
            }
            ParamFn::Softplus(beta, threshold) => {
                let (b, t) = (c(beta), c(threshold));
                unary_vec(x, move |v: T| if v * b > t { v } else { (v * b).exp().ln_1p() / b })
            }
            ParamFn::Clamp(lo, hi) => {
                let (lo, hi) = (lo.map(c), hi.map(c));
                unary_vec(x, move |v: T| {
                    let v = match lo {
                        Some(l) if v < l => l,
                        _ => v,
                    };
                    match hi {
                        Some(h) if v > h => h,
                        _ => v,
                    }
                })
            }
            ParamFn::Pow(e) => {
                if e == 2.0 {
                    unary_vec(x, |v: T| v * v)
                } else if e == 0.5 {
                    unary_vec(x, |v: T| v.sqrt())
                } else {
                    let e = c(e);
                    unary_vec(x, move |v: T| v.powf(e))
                }
            }
        }
    }
}

/// Ops that keep integer tensors integer (PyTorch: `neg`, `abs`, `sign`, `square`, and the
/// roundings, which are identities on integers).
fn int_unary(t: &Tensor, op: UnaryOp) -> Option<Result<Tensor>> {
    if !t.dtype().is_int() {
        return None;
    }
    macro_rules! ints {
        ($f:expr) => {{
            let s = t.storage();
            let st = match &*s {
                Storage::I64(v) => Storage::I64(gather_contiguous(v, t.layout()).into_iter().map($f).collect()),
                Storage::I32(v) => Storage::I32(gather_contiguous(v, t.layout()).into_iter().map($f).collect()),
                Storage::U8(v) => Storage::U8(gather_contiguous(v, t.layout()).into_iter().map($f).collect()),
                _ => unreachable!("checked is_int"),
            };
            Some(Ok(Tensor::from_storage(st, t.shape())))
        }};
    }
    match op {
        UnaryOp::Neg => ints!(|v| v.wrapping_neg()),
        UnaryOp::Abs => ints!(|v| v.wrapping_abs()),
        UnaryOp::Square => ints!(|v| v.wrapping_mul(v)),
        UnaryOp::Sign => ints!(|v| v.signum()),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => Some(Ok(t.contiguous_copy())),
        _ => None,
    }
}

trait IntSign {
    fn wrapping_abs(self) -> Self;
    fn signum(self) -> Self;
}
impl IntSign for u8 {
    fn wrapping_abs(self) -> Self {
        self
    }
    fn signum(self) -> Self {
        (self > 0) as u8
    }
}

impl Tensor {
    /// Applies an attribute-free elementwise op, recording it for backward.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        if let Some(r) = int_unary(self, op) {
            return r;
        }
        if self.dtype() == crate::DType::Bool {
            return Err(Error::dtype(op_name(op), self.dtype(), "expected a numeric tensor"));
        }
        let x = to_float(self)?;
        let storage = float_map(op_name(op), &x, &UnaryFn(op))?;
        let node = match op {
            UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => None,
            _ => Node::record(OpKind::Unary(op), &[&x], vec![]),
        };
        Ok(Tensor::from_storage_with(storage, x.shape(), node))
    }

    fn param_unary(&self, name: &'static str, f: ParamFn, kind: OpKind) -> Result<Tensor> {
        let x = to_float(self)?;
        let storage = float_map(name, &x, &f)?;
        let node = Node::record(kind, &[&x], vec![]);
        Ok(Tensor::from_storage_with(storage, x.shape(), node))
    }

    /// `max(0, x) + negative_slope * min(0, x)`.
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Tensor> {
        self.param_unary(
            "leaky_relu",
            ParamFn::LeakyRelu(negative_slope),
            OpKind::LeakyRelu { negative_slope },
        )
    }
    /// `x` if `x > 0` else `alpha * (exp(x) - 1)`.
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        self.param_unary("elu", ParamFn::Elu(alpha), OpKind::Elu { alpha })
    }
    /// `log(1 + exp(beta * x)) / beta`, and `x` where `beta * x > threshold`
    /// (PyTorch's defaults: `beta = 1`, `threshold = 20`).
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        self.param_unary(
            "softplus",
            ParamFn::Softplus(beta, threshold),
            OpKind::Softplus { beta, threshold },
        )
    }
    /// Clamps into `[min, max]`; either bound may be absent. Integer tensors stay integer (clamped
    /// exactly, bounds outside the dtype's range saturate) when the bounds are whole numbers; a
    /// fractional or infinite bound promotes them to the default float dtype.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        if self.dtype().is_int() {
            let integral = |b: Option<f64>| b.is_none_or(|v| v.is_finite() && v.fract() == 0.0);
            if !(integral(min) && integral(max)) {
                // A fractional bound promotes to the default float dtype, as in PyTorch.
                return self.to_dtype(super::DEFAULT_FLOAT)?.clamp(min, max);
            }
            // Clamp natively (an f64 round trip would corrupt values above 2^53); bounds are
            // whole numbers, compared exactly in i128.
            let (lo, hi) = (min.map(|v| v as i128), max.map(|v| v as i128));
            return match self.dtype() {
                crate::DType::I64 => Tensor::from_vec(
                    clamp_int(self.to_vec::<i64>()?, lo, hi, i64::MIN.into(), i64::MAX.into()),
                    self.shape(),
                ),
                crate::DType::I32 => Tensor::from_vec(
                    clamp_int(self.to_vec::<i32>()?, lo, hi, i32::MIN.into(), i32::MAX.into()),
                    self.shape(),
                ),
                _ => Tensor::from_vec(clamp_int(self.to_vec::<u8>()?, lo, hi, 0, u8::MAX.into()), self.shape()),
            };
        }
        self.param_unary("clamp", ParamFn::Clamp(min, max), OpKind::Clamp { min, max })
    }
    /// `x ** exponent` for a scalar exponent. Integer tensors stay integer for whole,
    /// non-negative exponents (like `torch.pow(int_tensor, 2)`), else become float.
    pub fn pow_scalar(&self, exponent: f64) -> Result<Tensor> {
        if self.dtype().is_int() && exponent >= 0.0 && exponent.fract() == 0.0 {
            return self.pow_tensor_scalar(exponent);
        }
        self.param_unary("pow", ParamFn::Pow(exponent), OpKind::PowScalar { exponent })
    }
    /// GELU, exact (`approximate="none"`) or with the tanh approximation (`"tanh"`).
    pub fn gelu(&self, approximate: &str) -> Result<Tensor> {
        match approximate {
            "none" => self.unary(UnaryOp::GeluErf),
            "tanh" => self.unary(UnaryOp::GeluTanh),
            other => Err(Error::invalid(
                "gelu",
                format!("approximate must be \"none\" or \"tanh\", got {other:?}"),
            )),
        }
    }
}

/// `min(max(x, lo), hi)` of integers, with the bounds saturated to `T`'s range `[tmin, tmax]`.
fn clamp_int<T: Copy + Into<i128> + TryFrom<i128>>(
    v: Vec<T>,
    lo: Option<i128>,
    hi: Option<i128>,
    tmin: i128,
    tmax: i128,
) -> Vec<T> {
    let lo = lo.map(|b| b.clamp(tmin, tmax));
    let hi = hi.map(|b| b.clamp(tmin, tmax));
    v.into_iter()
        .map(|x| {
            let mut y: i128 = x.into();
            if let Some(lo) = lo {
                y = y.max(lo);
            }
            if let Some(hi) = hi {
                y = y.min(hi);
            }
            // In range: the bounds were saturated to T's range.
            T::try_from(y).unwrap_or(x)
        })
        .collect()
}

/// The PyTorch name of an attribute-free unary op.
pub(crate) fn op_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Abs => "abs",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Log1p => "log1p",
        UnaryOp::Expm1 => "expm1",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Rsqrt => "rsqrt",
        UnaryOp::Square => "square",
        UnaryOp::Reciprocal => "reciprocal",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sigmoid => "sigmoid",
        UnaryOp::Relu => "relu",
        UnaryOp::Silu => "silu",
        UnaryOp::Erf => "erf",
        UnaryOp::GeluErf | UnaryOp::GeluTanh => "gelu",
        UnaryOp::Sign => "sign",
        UnaryOp::Floor => "floor",
        UnaryOp::Ceil => "ceil",
        UnaryOp::Round => "round",
    }
}

/// One method per attribute-free unary op: `x.exp()`, `x.relu()`, ...
macro_rules! unary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "` (`torch.", stringify!($name), "`).")]
                pub fn $name(&self) -> Result<Tensor> {
                    self.unary(UnaryOp::$op)
                }
            )*
        }
    };
}

unary_methods!(
    neg => Neg, abs => Abs, exp => Exp, log => Log, log1p => Log1p, expm1 => Expm1,
    sqrt => Sqrt, rsqrt => Rsqrt, square => Square, reciprocal => Reciprocal, sin => Sin,
    cos => Cos, tanh => Tanh, sigmoid => Sigmoid, relu => Relu, silu => Silu, erf => Erf,
    sign => Sign, floor => Floor, ceil => Ceil, round => Round,
);
