//! `Embedding` (`nn.Embedding`): a lookup table of row vectors.

use crate::{parameter, Forward, Module};
use kiln_tensor::{no_grad, DType, Error, Result, Tensor};

/// Options of [`Embedding`].
#[derive(Clone, Debug)]
pub struct EmbeddingConfig {
    /// A row whose gradient is always zero and which starts at zero; negative values count from
    /// the end (`-1` is the last row).
    pub padding_idx: Option<i64>,
    pub dtype: DType,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            padding_idx: None,
            dtype: DType::F32,
        }
    }
}

impl EmbeddingConfig {
    pub fn padding_idx(mut self, idx: i64) -> Self {
        self.padding_idx = Some(idx);
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Maps integer indices of any shape `[*]` (int64 or int32) to rows of `weight`
/// (`[num_embeddings, embedding_dim]`): output `[*, embedding_dim]`.
///
/// `weight` starts from `N(0, 1)` with the `padding_idx` row zeroed, as PyTorch. The row at
/// `padding_idx` (stored non-negative) receives no gradient. PyTorch's `max_norm` and `sparse`
/// are not offered.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Embedding {
    #[param]
    pub weight: Tensor,
    pub num_embeddings: usize,
    pub embedding_dim: usize,
    pub padding_idx: Option<i64>,
}

/// `padding_idx` made non-negative, as `nn.Embedding` does; errors outside `[-n, n)`.
fn normalize_padding_idx(padding_idx: Option<i64>, num_embeddings: usize) -> Result<Option<i64>> {
    let n = num_embeddings as i64;
    match padding_idx {
        Some(p) if p >= n || p < -n => Err(Error::Invalid {
            op: "Embedding",
            msg: format!("padding_idx must be within num_embeddings (padding_idx={p}, num_embeddings={n})"),
        }),
        Some(p) if p < 0 => Ok(Some(p + n)),
        p => Ok(p),
    }
}

impl Embedding {
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Result<Embedding> {
        Self::with_config(num_embeddings, embedding_dim, EmbeddingConfig::default())
    }

    /// Errors when `padding_idx` is outside `[-num_embeddings, num_embeddings)` or the dtype is
    /// not a float.
    pub fn with_config(num_embeddings: usize, embedding_dim: usize, cfg: EmbeddingConfig) -> Result<Embedding> {
        let dtype = cfg.dtype;
        if !dtype.is_float() {
            return Err(Error::Invalid {
                op: "Embedding",
                msg: format!("weight must have a floating-point dtype, got {dtype}"),
            });
        }
        let padding_idx = normalize_padding_idx(cfg.padding_idx, num_embeddings)?;
        let weight = Tensor::randn(&[num_embeddings, embedding_dim], dtype)?;
        if let Some(p) = padding_idx {
            no_grad(|| weight.narrow(0, p as usize, 1)?.zero_())?;
        }
        Ok(Embedding {
            weight: parameter(weight),
            num_embeddings,
            embedding_dim,
            padding_idx,
        })
    }

    /// An embedding holding `weight` (`[num_embeddings, embedding_dim]`, shared, not copied)
    /// (`Embedding.from_pretrained`). With `freeze` the weight does not require grad (it stays
    /// a parameter, as in PyTorch). The `padding_idx` row is not zeroed.
    ///
    /// Errors when `weight` is not 2-D or not a float tensor, or `padding_idx` is out of range.
    pub fn from_pretrained(weight: &Tensor, freeze: bool, padding_idx: Option<i64>) -> Result<Embedding> {
        if weight.rank() != 2 {
            return Err(Error::Shape {
                op: "Embedding",
                msg: format!(
                    "embeddings parameter is expected to be 2-dimensional, got shape {:?}",
                    weight.shape()
                ),
            });
        }
        if !weight.dtype().is_float() {
            return Err(Error::Invalid {
                op: "Embedding",
                msg: format!("weight must have a floating-point dtype, got {}", weight.dtype()),
            });
        }
        let (num_embeddings, embedding_dim) = (weight.shape()[0], weight.shape()[1]);
        Ok(Embedding {
            weight: weight.detach().requires_grad_(!freeze),
            num_embeddings,
            embedding_dim,
            padding_idx: normalize_padding_idx(padding_idx, num_embeddings)?,
        })
    }
}

impl Forward for Embedding {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Tensor::embedding(&self.weight, input, self.padding_idx)
    }
}
