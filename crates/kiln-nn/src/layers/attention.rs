//! `MultiheadAttention` (`nn.MultiheadAttention`).

use crate::{init, parameter, Forward, Linear, LinearConfig, Module};
use kiln_tensor::{DType, Error, Result, Tensor};

const OP: &str = "MultiheadAttention";

/// Options of [`MultiheadAttention`] beyond the sizes.
///
/// PyTorch's `add_bias_kv`, `add_zero_attn`, `kdim` and `vdim` are not supported: keys and
/// values have `embed_dim` features, as with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct MultiheadAttentionConfig {
    /// Dropout probability on the attention weights, in training mode only.
    pub dropout: f64,
    /// `in_proj_bias` and `out_proj.bias`.
    pub bias: bool,
    /// Inputs and output are `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
    pub dtype: DType,
}

impl Default for MultiheadAttentionConfig {
    fn default() -> Self {
        MultiheadAttentionConfig {
            dropout: 0.0,
            bias: true,
            batch_first: false,
            dtype: DType::F32,
        }
    }
}

impl MultiheadAttentionConfig {
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// The optional arguments of [`MultiheadAttention::forward`], with PyTorch's defaults
/// (`need_weights = true`, `average_attn_weights = true`, no masks, `is_causal = false`).
#[derive(Clone, Copy, Debug)]
pub struct MhaArgs<'a> {
    /// Bool `[N, S]` (`[S]` for unbatched input): `true` marks a key to ignore. A float mask is
    /// added to the scores.
    pub key_padding_mask: Option<&'a Tensor>,
    /// Also return the attention weights.
    pub need_weights: bool,
    /// `[L, S]` or `[N * num_heads, L, S]` (`[num_heads, L, S]` unbatched): bool with `true` =
    /// not allowed to attend, or float added to the scores.
    pub attn_mask: Option<&'a Tensor>,
    /// Average the returned weights over the heads (`[N, L, S]`) instead of `[N, heads, L, S]`.
    pub average_attn_weights: bool,
    /// A hint that `attn_mask` is the causal mask; it must then be given, as in PyTorch.
    pub is_causal: bool,
}

impl Default for MhaArgs<'_> {
    fn default() -> Self {
        MhaArgs {
            key_padding_mask: None,
            need_weights: true,
            attn_mask: None,
            average_attn_weights: true,
            is_causal: false,
        }
    }
}

impl<'a> MhaArgs<'a> {
    pub fn key_padding_mask(mut self, mask: &'a Tensor) -> Self {
        self.key_padding_mask = Some(mask);
        self
    }
    pub fn need_weights(mut self, on: bool) -> Self {
        self.need_weights = on;
        self
    }
    pub fn attn_mask(mut self, mask: &'a Tensor) -> Self {
        self.attn_mask = Some(mask);
        self
    }
    pub fn average_attn_weights(mut self, on: bool) -> Self {
        self.average_attn_weights = on;
        self
    }
    pub fn is_causal(mut self, on: bool) -> Self {
        self.is_causal = on;
        self
    }
}

/// Multi-head scaled dot-product attention with input and output projections.
///
/// Shapes (`E = embed_dim`): query `[L, N, E]`, key and value `[S, N, E]` (`[N, L, E]` /
/// `[N, S, E]` with `batch_first`, or unbatched `[L, E]` / `[S, E]`); output like the query;
/// weights `[N, L, S]` averaged over heads or `[N, num_heads, L, S]` (no `N` when unbatched).
///
/// Parameters: `in_proj_weight` `[3E, E]` (xavier-uniform, rows `q | k | v`), `in_proj_bias`
/// `[3E]` (zeros), `out_proj.weight` `[E, E]` (Linear's default init), `out_proj.bias` `[E]`
/// (zeros).
///
/// ```
/// use kiln_nn::{MhaArgs, MultiheadAttention};
/// use kiln_tensor::{DType, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let mha = MultiheadAttention::new(8, 2)?;
/// let x = Tensor::randn(&[5, 3, 8], DType::F32)?; // [L, N, E]
/// let (y, w) = mha.forward(&x, &x, &x, MhaArgs::default())?;
/// assert_eq!(y.shape(), &[5, 3, 8]);
/// assert_eq!(w.map(|w| w.shape().to_vec()), Some(vec![3, 5, 5]));
/// # Ok(()) }
/// ```
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct MultiheadAttention {
    #[param]
    pub in_proj_weight: Tensor,
    #[param]
    pub in_proj_bias: Option<Tensor>,
    pub out_proj: Linear,
    pub embed_dim: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    pub dropout: f64,
    pub batch_first: bool,
    #[module(training)]
    training: bool,
}

/// A bool mask as an additive float mask (`-inf` where true, `0` elsewhere) of `dtype`; a float
/// mask cast to `dtype` (PyTorch's `_canonical_mask`).
pub(crate) fn canonical_mask(
    op: &'static str,
    name: &str,
    mask: Option<&Tensor>,
    dtype: DType,
) -> Result<Option<Tensor>> {
    let Some(m) = mask else { return Ok(None) };
    if m.dtype() == DType::Bool {
        Ok(Some(Tensor::zeros(m.shape(), dtype).masked_fill(m, f64::NEG_INFINITY)?))
    } else if m.dtype().is_float() {
        Ok(Some(m.to_dtype(dtype)?))
    } else {
        Err(Error::Invalid {
            op,
            msg: format!(
                "only bool and floating types of {name} are supported, got {}",
                m.dtype()
            ),
        })
    }
}

/// `softmax(q kᵀ / √d + mask)` for `q` `[B, L, d]`, `k` `[B, S, d]` and an additive `mask`
/// broadcastable to `[B, L, S]`. With `safe`, rows whose scores are all `-inf` give zeros
/// (PyTorch's `_safe_softmax`) instead of NaN.
fn attention_weights(q: &Tensor, k: &Tensor, mask: Option<&Tensor>, safe: bool) -> Result<Tensor> {
    let d = q.shape()[q.rank() - 1].max(1);
    let mut scores = q.mul_scalar((1.0 / d as f64).sqrt())?.matmul(&k.transpose(-2, -1)?)?;
    let Some(m) = mask else { return scores.softmax(-1) };
    scores = scores.add(m)?;
    if !safe {
        return scores.softmax(-1);
    }
    let dead = scores.amax(&[-1], true)?.eq_scalar(f64::NEG_INFINITY)?;
    // Zeroing the dead rows' scores first keeps their softmax, and so the gradients, finite.
    scores.masked_fill(&dead, 0.0)?.softmax(-1)?.masked_fill(&dead, 0.0)
}

/// Checks the additive `attn_mask` (`[L, S]` or `[N * heads, L, S]`) and the additive key
/// padding mask (`[N, S]`), and merges them into one mask broadcastable to `[N * heads, L, S]`.
fn merge_masks(
    attn: Option<Tensor>,
    kpm: Option<Tensor>,
    n: usize,
    heads: usize,
    l: usize,
    s: usize,
) -> Result<Option<Tensor>> {
    let b = n * heads;
    let attn = match attn {
        None => None,
        Some(m) if m.shape() == [l, s] => Some(m.unsqueeze(0)?),
        Some(m) if m.shape() == [b, l, s] => Some(m),
        Some(m) if m.rank() == 2 || m.rank() == 3 => {
            let want = if m.rank() == 2 { vec![l, s] } else { vec![b, l, s] };
            return Err(shape_err(format!(
                "The shape of the {}D attn_mask is {:?}, but should be {want:?}.",
                m.rank(),
                m.shape()
            )));
        }
        Some(m) => {
            return Err(shape_err(format!(
                "attn_mask's dimension {} is not supported",
                m.rank()
            )))
        }
    };
    let Some(kpm) = kpm else { return Ok(attn) };
    if kpm.shape() != [n, s] {
        return Err(shape_err(format!(
            "expecting key_padding_mask shape of {:?}, but got {:?}",
            [n, s],
            kpm.shape()
        )));
    }
    let kpm = kpm
        .reshape(&[n, 1, 1, s])?
        .expand(&[n, heads, 1, s])?
        .reshape(&[b, 1, s])?;
    Ok(Some(match attn {
        Some(m) => m.add(&kpm)?,
        None => kpm,
    }))
}

fn shape_err(msg: String) -> Error {
    Error::Shape { op: OP, msg }
}

impl MultiheadAttention {
    pub fn new(embed_dim: usize, num_heads: usize) -> Result<MultiheadAttention> {
        Self::with_config(embed_dim, num_heads, MultiheadAttentionConfig::default())
    }

    /// Errors when a size is 0, `embed_dim` is not divisible by `num_heads`, the dropout is outside
    /// `[0, 1]` or the dtype is not floating point.
    pub fn with_config(
        embed_dim: usize,
        num_heads: usize,
        cfg: MultiheadAttentionConfig,
    ) -> Result<MultiheadAttention> {
        if embed_dim == 0 || num_heads == 0 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead"
                ),
            });
        }
        if !embed_dim.is_multiple_of(num_heads) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and num_heads={num_heads}"
                ),
            });
        }
        if !(0.0..=1.0).contains(&cfg.dropout) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("dropout probability has to be between 0 and 1, but got {}", cfg.dropout),
            });
        }
        let out_proj = Linear::with_config(
            embed_dim,
            embed_dim,
            LinearConfig::default().bias(cfg.bias).dtype(cfg.dtype),
        )?;
        let in_proj_weight = Tensor::zeros(&[3 * embed_dim, embed_dim], cfg.dtype);
        init::xavier_uniform_(&in_proj_weight, 1.0)?;
        if let Some(b) = &out_proj.bias {
            init::overwrite(b, &b.zeros_like())?;
        }
        Ok(MultiheadAttention {
            in_proj_weight: parameter(in_proj_weight),
            in_proj_bias: cfg.bias.then(|| parameter(Tensor::zeros(&[3 * embed_dim], cfg.dtype))),
            out_proj,
            embed_dim,
            num_heads,
            head_dim: embed_dim / num_heads,
            dropout: cfg.dropout,
            batch_first: cfg.batch_first,
            training: true,
        })
    }

    /// Attends from `query` to `key`/`value`; returns the output and, with `need_weights`, the
    /// attention weights (see the type's shapes). Masked scores are `-inf`; a query whose keys are
    /// all masked gives NaN with `need_weights` and attends to nothing (zeros before `out_proj`)
    /// without, as in PyTorch.
    ///
    /// Errors when ranks, sizes or mask shapes do not fit (PyTorch's messages), a mask is neither
    /// bool nor float, or `is_causal` is given without `attn_mask`.
    pub fn forward(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        args: MhaArgs<'_>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let batched = self.check_ranks(query, key, value, &args)?;
        let self_attention = query.id() == key.id() && key.id() == value.id();
        let to_seq_first = |t: &Tensor| -> Result<Tensor> {
            if !batched {
                t.unsqueeze(1)
            } else if self.batch_first {
                t.transpose(0, 1)
            } else {
                Ok(t.clone())
            }
        };
        let (q, k, v) = (to_seq_first(query)?, to_seq_first(key)?, to_seq_first(value)?);
        let kpm = match args.key_padding_mask {
            Some(m) if !batched => Some(m.unsqueeze(0)?),
            m => m.cloned(),
        };
        let (l, n, e) = (q.shape()[0], q.shape()[1], q.shape()[2]);
        let s = k.shape()[0];
        if e != self.embed_dim {
            return Err(shape_err(format!(
                "was expecting embedding dimension of {}, but got {e} (query {:?})",
                self.embed_dim,
                query.shape()
            )));
        }
        if k.shape() != v.shape() {
            return Err(shape_err(format!(
                "key shape {:?} does not match value shape {:?}",
                key.shape(),
                value.shape()
            )));
        }
        if k.shape()[1] != n || k.shape()[2] != e {
            return Err(shape_err(format!(
                "key of shape {:?} does not fit query of shape {:?} (same batch size and embed_dim {e} needed)",
                key.shape(),
                query.shape()
            )));
        }
        let dtype = q.dtype();
        let kpm = canonical_mask(OP, "key_padding_mask", kpm.as_ref(), dtype)?;
        if args.is_causal && args.attn_mask.is_none() {
            return Err(Error::Invalid {
                op: OP,
                msg: "Need attn_mask if specifying the is_causal hint (see generate_square_subsequent_mask)".into(),
            });
        }
        // As PyTorch: without weights and padding mask, the causal hint replaces the mask.
        let causal_hint = args.is_causal && kpm.is_none() && !args.need_weights;
        let mask = if causal_hint {
            None
        } else {
            canonical_mask(OP, "attn_mask", args.attn_mask, dtype)?
        };

        let (qp, kp, vp) = self.in_projection(&q, &k, &v, self_attention)?;
        let h = self.num_heads;
        let hd = self.head_dim;
        // [L, N, E] -> [N * heads, L, head_dim]
        let heads = |t: &Tensor, len: usize| t.reshape(&[len, n * h, hd])?.transpose(0, 1);
        let (qh, kh, vh) = (heads(&qp, l)?, heads(&kp, s)?, heads(&vp, s)?);

        let mut mask = merge_masks(mask, kpm, n, h, l, s)?;
        let dropout_p = if self.training { self.dropout } else { 0.0 };

        if causal_hint {
            mask = Some(Tensor::full(&[l, s], f64::NEG_INFINITY, dtype)?.triu(1)?);
        }
        // PyTorch: with weights, a query whose keys are all masked gives NaN; without, the
        // attention (its scaled_dot_product_attention) gives zeros there, with finite gradients.
        let w = attention_weights(&qh, &kh, mask.as_ref(), !args.need_weights)?;
        let w = w.dropout(dropout_p, dropout_p > 0.0)?;
        let out = w.matmul(&vh)?.transpose(0, 1)?.reshape(&[l, n, e])?;
        let weights = if args.need_weights {
            let w = w.reshape(&[n, h, l, s])?;
            Some(if args.average_attn_weights {
                w.mean_dims(&[1], false)?
            } else {
                w
            })
        } else {
            None
        };
        let out = self.out_proj.forward(&out)?;
        let out = if !batched {
            out.squeeze_dim(1)?
        } else if self.batch_first {
            out.transpose(0, 1)?
        } else {
            out
        };
        let weights = match weights {
            Some(w) if !batched => Some(w.squeeze_dim(0)?),
            w => w,
        };
        Ok((out, weights))
    }

    /// `q Wqᵀ + bq`, `k Wkᵀ + bk`, `v Wvᵀ + bv` with the rows of `in_proj_weight`; one matmul
    /// for self-attention.
    fn in_projection(&self, q: &Tensor, k: &Tensor, v: &Tensor, same: bool) -> Result<(Tensor, Tensor, Tensor)> {
        let project = |x: &Tensor, w: &Tensor, b: Option<&Tensor>| -> Result<Tensor> {
            let y = x.matmul(&w.t()?)?;
            match b {
                Some(b) => y.add(b),
                None => Ok(y),
            }
        };
        if same {
            let p = project(q, &self.in_proj_weight, self.in_proj_bias.as_ref())?.chunk(3, -1)?;
            return Ok((p[0].clone(), p[1].clone(), p[2].clone()));
        }
        let w = self.in_proj_weight.chunk(3, 0)?;
        let b = match &self.in_proj_bias {
            Some(b) => b.chunk(3, 0)?.into_iter().map(Some).collect(),
            None => vec![None, None, None],
        };
        Ok((
            project(q, &w[0], b[0].as_ref())?,
            project(k, &w[1], b[1].as_ref())?,
            project(v, &w[2], b[2].as_ref())?,
        ))
    }

    /// Checks the ranks of the inputs and masks (PyTorch's `_mha_shape_check`); returns whether
    /// the input is batched.
    fn check_ranks(&self, query: &Tensor, key: &Tensor, value: &Tensor, args: &MhaArgs<'_>) -> Result<bool> {
        let batched = match query.rank() {
            3 => true,
            2 => false,
            r => {
                return Err(shape_err(format!(
                    "query should be unbatched 2D or batched 3D tensor but received {r}-D query tensor"
                )))
            }
        };
        let (want, kind) = if batched {
            (3, "batched (3-D)")
        } else {
            (2, "unbatched (2-D)")
        };
        if key.rank() != want || value.rank() != want {
            return Err(shape_err(format!(
                "For {kind} `query`, expected `key` and `value` to be {want}-D but found {}-D and {}-D tensors respectively",
                key.rank(),
                value.rank()
            )));
        }
        if let Some(m) = args.key_padding_mask {
            if m.rank() != want - 1 {
                return Err(shape_err(format!(
                    "For {kind} `query`, expected `key_padding_mask` to be `None` or {}-D but found {}-D tensor instead",
                    want - 1,
                    m.rank()
                )));
            }
        }
        if let Some(m) = args.attn_mask {
            if m.rank() != 2 && m.rank() != 3 {
                return Err(shape_err(format!(
                    "For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found {}-D tensor instead",
                    m.rank()
                )));
            }
            if !batched && m.rank() == 3 {
                let expected = [self.num_heads, query.shape()[0], key.shape()[0]];
                if m.shape() != expected {
                    return Err(shape_err(format!(
                        "Expected `attn_mask` shape to be {expected:?} but got {:?}",
                        m.shape()
                    )));
                }
            }
        }
        Ok(batched)
    }
}
