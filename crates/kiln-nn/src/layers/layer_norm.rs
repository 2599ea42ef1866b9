//! `LayerNorm` (`nn.LayerNorm`).

use crate::{parameter, Forward, Module};
use kiln_tensor::{DType, Result, Tensor};

/// Options of [`LayerNorm`].
#[derive(Clone, Debug)]
pub struct LayerNormConfig {
    pub eps: f64,
    /// Learnable `weight` (ones) and `bias` (zeros) (`elementwise_affine`).
    pub elementwise_affine: bool,
    /// Learnable `bias` when affine (`bias`).
    pub bias: bool,
    pub dtype: DType,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig {
            eps: 1e-5,
            elementwise_affine: true,
            bias: true,
            dtype: DType::F32,
        }
    }
}

impl LayerNormConfig {
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    pub fn elementwise_affine(mut self, on: bool) -> Self {
        self.elementwise_affine = on;
        self
    }
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Normalizes over the trailing `normalized_shape` dims, then scales by `weight` and shifts by
/// `bias` (both of shape `normalized_shape`).
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct LayerNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(normalized_shape: &[usize]) -> Result<LayerNorm> {
        Self::with_config(normalized_shape, LayerNormConfig::default())
    }

    pub fn with_config(normalized_shape: &[usize], cfg: LayerNormConfig) -> Result<LayerNorm> {
        let (weight, bias) = if cfg.elementwise_affine {
            let w = parameter(Tensor::ones(normalized_shape, cfg.dtype));
            let b = cfg.bias.then(|| parameter(Tensor::zeros(normalized_shape, cfg.dtype)));
            (Some(w), b)
        } else {
            (None, None)
        };
        Ok(LayerNorm {
            weight,
            bias,
            normalized_shape: normalized_shape.to_vec(),
            eps: cfg.eps,
        })
    }
}

impl Forward for LayerNorm {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.layer_norm(
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }
}
