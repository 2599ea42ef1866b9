//! `GroupNorm` (`nn.GroupNorm`).

use crate::{parameter, Forward, Module};
use kiln_tensor::{DType, Error, Result, Tensor};

/// Options of [`GroupNorm`].
#[derive(Clone, Debug)]
pub struct GroupNormConfig {
    pub eps: f64,
    /// Learnable per-channel `weight` (ones) and `bias` (zeros).
    pub affine: bool,
    pub dtype: DType,
}

impl Default for GroupNormConfig {
    fn default() -> Self {
        GroupNormConfig {
            eps: 1e-5,
            affine: true,
            dtype: DType::F32,
        }
    }
}

impl GroupNormConfig {
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    pub fn affine(mut self, on: bool) -> Self {
        self.affine = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Splits the `C` channels of an `[N, C, *]` input into `num_groups` groups and normalizes each
/// (sample, group) block with its mean and biased variance, then applies the per-channel `weight`
/// and `bias` (`[C]`). The output has the input's shape. Same in training and evaluation.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct GroupNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    pub num_groups: usize,
    pub num_channels: usize,
    pub eps: f64,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize) -> Result<GroupNorm> {
        Self::with_config(num_groups, num_channels, GroupNormConfig::default())
    }

    /// Errors unless `num_groups > 0` divides `num_channels`, or on a non-float dtype.
    pub fn with_config(num_groups: usize, num_channels: usize, cfg: GroupNormConfig) -> Result<GroupNorm> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(Error::Invalid {
                op: "GroupNorm",
                msg: format!(
                    "num_channels must be divisible by num_groups (num_channels={num_channels}, num_groups={num_groups})"
                ),
            });
        }
        if !cfg.dtype.is_float() {
            return Err(Error::Invalid {
                op: "GroupNorm",
                msg: format!("parameters must have a floating-point dtype, got {}", cfg.dtype),
            });
        }
        let c = [num_channels];
        let (weight, bias) = if cfg.affine {
            (
                Some(parameter(Tensor::ones(&c, cfg.dtype))),
                Some(parameter(Tensor::zeros(&c, cfg.dtype))),
            )
        } else {
            (None, None)
        };
        Ok(GroupNorm {
            weight,
            bias,
            num_groups,
            num_channels,
            eps: cfg.eps,
        })
    }
}

impl Forward for GroupNorm {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        if input.rank() < 2 || input.shape()[1] != self.num_channels {
            return Err(Error::Shape {
                op: "GroupNorm",
                msg: format!(
                    "expected an input of shape [N, {}, *] (num_channels), got {:?}",
                    self.num_channels,
                    input.shape()
                ),
            });
        }
        input.group_norm(self.num_groups, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
}
