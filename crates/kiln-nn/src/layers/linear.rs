//! `Linear`: `y = x Wᵀ + b` (`nn.Linear`).

use crate::{init, parameter, Forward, Module};
use kiln_tensor::{DType, Error, Result, Tensor};

/// Options of [`Linear`] beyond the sizes.
#[derive(Clone, Debug)]
pub struct LinearConfig {
    pub bias: bool,
    pub dtype: DType,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            bias: true,
            dtype: DType::F32,
        }
    }
}

impl LinearConfig {
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Applies `x Wᵀ + b` to the last dimension: input `[*, in_features]`, output `[*, out_features]`.
///
/// Parameters: `weight` `[out_features, in_features]` and `bias` `[out_features]`, initialized as
/// PyTorch does (kaiming-uniform with `a = √5`, so `U(-1/√in, 1/√in)`, for both).
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Linear {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize) -> Result<Linear> {
        Self::with_config(in_features, out_features, LinearConfig::default())
    }

    pub fn with_config(in_features: usize, out_features: usize, cfg: LinearConfig) -> Result<Linear> {
        if !cfg.dtype.is_float() {
            return Err(Error::Invalid {
                op: "Linear",
                msg: format!("parameters must have a floating-point dtype, got {}", cfg.dtype),
            });
        }
        let weight = Tensor::zeros(&[out_features, in_features], cfg.dtype);
        init::kaiming_uniform_(
            &weight,
            5f64.sqrt(),
            init::FanMode::FanIn,
            init::Nonlinearity::LeakyRelu,
        )?;
        let bias = if cfg.bias {
            let b = Tensor::zeros(&[out_features], cfg.dtype);
            let bound = if in_features > 0 {
                1.0 / (in_features as f64).sqrt()
            } else {
                0.0
            };
            init::uniform_(&b, -bound, bound)?;
            Some(parameter(b))
        } else {
            None
        };
        Ok(Linear {
            weight: parameter(weight),
            bias,
            in_features,
            out_features,
        })
    }
}

impl Forward for Linear {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let last = input.shape().last().copied();
        if last != Some(self.in_features) {
            return Err(Error::Shape {
                op: "Linear",
                msg: format!(
                    "input of shape {:?} does not end in in_features = {} (weight [{}, {}])",
                    input.shape(),
                    self.in_features,
                    self.out_features,
                    self.in_features
                ),
            });
        }
        let y = input.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}
