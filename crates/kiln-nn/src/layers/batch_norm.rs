//! `BatchNorm1d`, `BatchNorm2d`, `BatchNorm3d` (`nn.BatchNorm*d`): one implementation, three
//! input-rank checks.

use crate::{parameter, Forward, Module};
use kiln_tensor::{no_grad, DType, Error, Result, Tensor};

/// Options of the batch-norm layers.
#[derive(Clone, Debug)]
pub struct BatchNormConfig {
    pub eps: f64,
    /// Weight of the batch statistic in the running-statistics update; `None` is a cumulative
    /// moving average (factor `1 / num_batches_tracked`). PyTorch's default `Some(0.1)`.
    pub momentum: Option<f64>,
    /// Learnable `weight` (ones) and `bias` (zeros).
    pub affine: bool,
    /// Keep `running_mean`, `running_var` and `num_batches_tracked` buffers and use them in
    /// evaluation mode; without them every forward uses the batch statistics.
    pub track_running_stats: bool,
    pub dtype: DType,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
            dtype: DType::F32,
        }
    }
}

impl BatchNormConfig {
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    pub fn momentum(mut self, momentum: Option<f64>) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn affine(mut self, on: bool) -> Self {
        self.affine = on;
        self
    }
    pub fn track_running_stats(mut self, on: bool) -> Self {
        self.track_running_stats = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// The tensors of a batch-norm layer, made as PyTorch makes them.
struct BnTensors {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Option<Tensor>,
    running_var: Option<Tensor>,
    num_batches_tracked: Option<Tensor>,
}

fn make_tensors(layer: &'static str, num_features: usize, cfg: &BatchNormConfig) -> Result<BnTensors> {
    if !cfg.dtype.is_float() {
        return Err(Error::Invalid {
            op: layer,
            msg: format!("parameters must have a floating-point dtype, got {}", cfg.dtype),
        });
    }
    let c = [num_features];
    let (weight, bias) = if cfg.affine {
        (
            Some(parameter(Tensor::ones(&c, cfg.dtype))),
            Some(parameter(Tensor::zeros(&c, cfg.dtype))),
        )
    } else {
        (None, None)
    };
    let track = cfg.track_running_stats;
    Ok(BnTensors {
        weight,
        bias,
        running_mean: track.then(|| Tensor::zeros(&c, cfg.dtype)),
        running_var: track.then(|| Tensor::ones(&c, cfg.dtype)),
        num_batches_tracked: track.then(|| Tensor::zeros(&[], DType::I64)),
    })
}

/// The forward pass shared by the three layers, after the rank check
/// (`_BatchNorm.forward`). Updates the running statistics and `num_batches_tracked` in training
/// mode when they are tracked.
#[allow(clippy::too_many_arguments)]
fn bn_forward(
    layer: &'static str,
    input: &Tensor,
    t: BnRefs<'_>,
    num_features: usize,
    eps: f64,
    momentum: Option<f64>,
    training: bool,
) -> Result<Tensor> {
    if input.shape()[1] != num_features {
        return Err(Error::Shape {
            op: layer,
            msg: format!(
                "expected {num_features} channels (num_features) in dim 1, got input of shape {:?}",
                input.shape()
            ),
        });
    }
    let tracked = if training { t.num_batches_tracked } else { None };
    let factor = match (tracked, momentum) {
        (_, Some(m)) => m,
        (Some(n), None) => 1.0 / (n.item::<i64>()? + 1) as f64,
        (None, None) => 0.0,
    };
    // Batch statistics in training, and in evaluation when no running statistics are kept.
    let use_batch_stats = training || (t.running_mean.is_none() && t.running_var.is_none());
    let y = input.batch_norm(
        t.running_mean,
        t.running_var,
        t.weight,
        t.bias,
        use_batch_stats,
        factor,
        eps,
    )?;
    if let Some(n) = tracked {
        no_grad(|| n.add_(&Tensor::scalar(1i64)))?;
    }
    Ok(y)
}

struct BnRefs<'a> {
    weight: Option<&'a Tensor>,
    bias: Option<&'a Tensor>,
    running_mean: Option<&'a Tensor>,
    running_var: Option<&'a Tensor>,
    num_batches_tracked: Option<&'a Tensor>,
}

macro_rules! batch_norm_layer {
    ($(#[$doc:meta])* $name:ident, $ranks:expr, $expected:literal) => {
        $(#[$doc])*
        ///
        /// Parameters (when `affine`): `weight` (ones) and `bias` (zeros), both `[C]`. Buffers
        /// (when `track_running_stats`): `running_mean` (zeros) and `running_var` (ones), `[C]`,
        /// and `num_batches_tracked`, an int64 scalar (shape `[]`).
        ///
        /// Training mode normalizes with the batch mean and biased variance per channel and, when
        /// tracked, updates `running = (1 - m) * running + m * batch_stat` with the unbiased batch
        /// variance and adds 1 to `num_batches_tracked` (`m` is `momentum`, or
        /// `1 / num_batches_tracked` when `momentum` is `None`). Evaluation mode uses the running
        /// statistics, or the batch statistics when they are not tracked.
        ///
        /// Errors on an input of another rank, another channel count, or (in training) only one
        /// value per channel.
        #[derive(Clone, Debug, Module)]
        #[module(crate = "kiln_nn")]
        pub struct $name {
            #[param]
            pub weight: Option<Tensor>,
            #[param]
            pub bias: Option<Tensor>,
            #[buffer]
            pub running_mean: Option<Tensor>,
            #[buffer]
            pub running_var: Option<Tensor>,
            #[buffer]
            pub num_batches_tracked: Option<Tensor>,
            pub num_features: usize,
            pub eps: f64,
            pub momentum: Option<f64>,
            #[module(training)]
            training: bool,
        }

        impl $name {
            /// PyTorch's defaults: `eps = 1e-5`, `momentum = Some(0.1)`, affine, tracked statistics.
            pub fn new(num_features: usize) -> Result<$name> {
                Self::with_config(num_features, BatchNormConfig::default())
            }

            pub fn with_config(num_features: usize, cfg: BatchNormConfig) -> Result<$name> {
                let t = make_tensors(stringify!($name), num_features, &cfg)?;
                Ok($name {
                    weight: t.weight,
                    bias: t.bias,
                    running_mean: t.running_mean,
                    running_var: t.running_var,
                    num_batches_tracked: t.num_batches_tracked,
                    num_features,
                    eps: cfg.eps,
                    momentum: cfg.momentum,
                    training: true,
                })
            }

            /// Resets the running statistics to zeros/ones and `num_batches_tracked` to 0
            /// (`reset_running_stats`).
            pub fn reset_running_stats(&self) -> Result<()> {
                no_grad(|| -> Result<()> {
                    for (t, v) in [
                        (&self.running_mean, 0.0),
                        (&self.running_var, 1.0),
                        (&self.num_batches_tracked, 0.0),
                    ] {
                        if let Some(t) = t {
                            t.fill_(v)?;
                        }
                    }
                    Ok(())
                })
            }
        }

        impl Forward for $name {
            fn forward(&self, input: &Tensor) -> Result<Tensor> {
                let rank = input.rank();
                if !$ranks.contains(&rank) {
                    return Err(Error::Shape {
                        op: stringify!($name),
                        msg: format!(
                            concat!("expected ", $expected, " input (got {}D input of shape {:?})"),
                            rank,
                            input.shape()
                        ),
                    });
                }
                let refs = BnRefs {
                    weight: self.weight.as_ref(),
                    bias: self.bias.as_ref(),
                    running_mean: self.running_mean.as_ref(),
                    running_var: self.running_var.as_ref(),
                    num_batches_tracked: self.num_batches_tracked.as_ref(),
                };
                bn_forward(
                    stringify!($name),
                    input,
                    refs,
                    self.num_features,
                    self.eps,
                    self.momentum,
                    self.training,
                )
            }
        }
    };
}

batch_norm_layer!(
    /// Batch normalization over `[N, C]` or `[N, C, L]` inputs (`nn.BatchNorm1d`).
    BatchNorm1d,
    [2usize, 3],
    "2D or 3D"
);
batch_norm_layer!(
    /// Batch normalization over `[N, C, H, W]` inputs (`nn.BatchNorm2d`).
    BatchNorm2d,
    [4usize],
    "4D"
);
batch_norm_layer!(
    /// Batch normalization over `[N, C, D, H, W]` inputs (`nn.BatchNorm3d`).
    BatchNorm3d,
    [5usize],
    "5D"
);
