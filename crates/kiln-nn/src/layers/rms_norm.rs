//! `RMSNorm` (`nn.RMSNorm`).

use crate::{parameter, Forward, Module};
use kiln_tensor::{DType, Error, Result, Tensor};

/// Options of [`RMSNorm`].
#[derive(Clone, Debug)]
pub struct RMSNormConfig {
    /// Added to the mean square; `None` (PyTorch's default) is the machine epsilon of the input's
    /// dtype (`torch.finfo(x.dtype).eps`: `f64::EPSILON` for float64, else `f32::EPSILON`).
    pub eps: Option<f64>,
    /// Learnable `weight` (ones) of shape `normalized_shape`.
    pub elementwise_affine: bool,
    pub dtype: DType,
}

impl Default for RMSNormConfig {
    fn default() -> Self {
        RMSNormConfig {
            eps: None,
            elementwise_affine: true,
            dtype: DType::F32,
        }
    }
}

impl RMSNormConfig {
    pub fn eps(mut self, eps: Option<f64>) -> Self {
        self.eps = eps;
        self
    }
    pub fn elementwise_affine(mut self, on: bool) -> Self {
        self.elementwise_affine = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Root-mean-square normalization over the trailing `normalized_shape` dims:
/// `x / sqrt(mean(x²) + eps) * weight`. The output has the input's shape.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct RMSNorm {
    #[param]
    pub weight: Option<Tensor>,
    pub normalized_shape: Vec<usize>,
    pub eps: Option<f64>,
}

impl RMSNorm {
    pub fn new(normalized_shape: &[usize]) -> Result<RMSNorm> {
        Self::with_config(normalized_shape, RMSNormConfig::default())
    }

    /// Errors on a non-float dtype.
    pub fn with_config(normalized_shape: &[usize], cfg: RMSNormConfig) -> Result<RMSNorm> {
        if !cfg.dtype.is_float() {
            return Err(Error::Invalid {
                op: "RMSNorm",
                msg: format!("parameters must have a floating-point dtype, got {}", cfg.dtype),
            });
        }
        let weight = cfg
            .elementwise_affine
            .then(|| parameter(Tensor::ones(normalized_shape, cfg.dtype)));
        Ok(RMSNorm {
            weight,
            normalized_shape: normalized_shape.to_vec(),
            eps: cfg.eps,
        })
    }
}

impl Forward for RMSNorm {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.rms_norm(&self.normalized_shape, self.weight.as_ref(), self.eps)
    }
}
