//! Neural-network functions: `dropout`, `embedding`, `scaled_dot_product_attention`, and the
//! free-function forms of the nn functions that [`crate::functional`] re-exports.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::random::with_rng;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use kiln_kernels::Num;

/// The values of an integer index tensor in row-major order.
pub(crate) fn index_values(op: &'static str, what: &str, t: &Tensor) -> Result<Vec<i64>> {
    match t.dtype() {
        DType::I64 => t.to_vec::<i64>(),
        DType::I32 => Ok(t.to_vec::<i32>()?.into_iter().map(i64::from).collect()),
        d => Err(Error::dtype(op, d, format!("{what} must be int64 or int32"))),
    }
}

/// Sums the rows of `g` (`[k, d]`, row-major) into `num_weights` rows by `idx`, skipping
/// `padding_idx`.
fn scatter_rows<T: Num>(g: &[T], idx: &[i64], num_weights: usize, d: usize, padding_idx: Option<i64>) -> Vec<T> {
    let mut out = vec![T::ZERO; num_weights * d];
    for (row, &i) in g.chunks_exact(d.max(1)).zip(idx) {
        if Some(i) == padding_idx {
            continue;
        }
        let dst = &mut out[i as usize * d..(i as usize + 1) * d];
        for (o, &v) in dst.iter_mut().zip(row) {
            *o = o.wadd(v);
        }
    }
    out
}

/// Rows of the 2-D `weight` picked by `indices` (already validated), shape
/// `[*indices.shape, dim]`; rows whose index is `padding_idx` are zero when `zero_padding`.
/// Recorded as `Embedding { padding_idx }`.
pub(crate) fn embedding_rows_impl(
    weight: &Tensor,
    indices: &Tensor,
    idx: &[i64],
    padding_idx: Option<i64>,
    zero_padding: bool,
) -> Result<Tensor> {
    let d = weight.shape()[1];
    let storage = {
        let s = weight.storage();
        crate::with_storage!(&*s, v => {
            let w = gather_contiguous(v, weight.layout());
            let mut out = Vec::with_capacity(idx.len() * d);
            for &i in idx {
                if zero_padding && Some(i) == padding_idx {
                    let z = Default::default();
                    out.resize(out.len() + d, z);
                } else {
                    out.extend_from_slice(&w[i as usize * d..(i as usize + 1) * d]);
                }
            }
            Element::into_storage(out)
        })
    };
    let mut shape = indices.shape().to_vec();
    shape.push(d);
    let node = Node::record(OpKind::Embedding { padding_idx }, &[weight, indices], vec![]);
    Ok(Tensor::from_storage_node(storage, &shape, node))
}

/// The backward of `EmbeddingBackward`: rows of `gg` at `indices`, zero at `padding_idx`.
pub(crate) fn embedding_rows(gg: &Tensor, indices: &Tensor, padding_idx: Option<i64>) -> Result<Tensor> {
    let idx = index_values("embedding", "indices", indices)?;
    embedding_rows_impl(gg, indices, &idx, padding_idx, true)
}

impl Tensor {
    /// Zeroes each element with probability `p` and scales the others by `1 / (1 - p)`
    /// (`F.dropout`), drawing from the global generator ([`crate::manual_seed`]). Without
    /// `training`, or with `p == 0`, returns the input unchanged; `p == 1` gives zeros.
    ///
    /// Errors when `p` is outside `[0, 1]` or the input is not floating point.
    pub fn dropout(&self, p: f64, training: bool) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(
                "dropout",
                format!("dropout probability has to be between 0 and 1, but got {p}"),
            ));
        }
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                "dropout",
                self.dtype(),
                "expected a floating-point tensor",
            ));
        }
        if !training || p == 0.0 {
            return Ok(self.clone());
        }
        let n = self.numel();
        let keep_p = 1.0 - p;
        let scale = if p == 1.0 { 0.0 } else { 1.0 / keep_p };
        let mask = match self.dtype() {
            DType::F64 => {
                let v: Vec<f64> = with_rng(|g| {
                    (0..n)
                        .map(|_| if g.next_f64() < keep_p { scale } else { 0.0 })
                        .collect()
                });
                Tensor::from_vec(v, self.shape())?
            }
            dt => {
                let s = scale as f32;
                let v: Vec<f32> = with_rng(|g| (0..n).map(|_| if g.next_f64() < keep_p { s } else { 0.0 }).collect());
                Tensor::from_vec(v, self.shape())?.to_dtype(dt)?
            }
        };
        let y = crate::no_grad(|| self.mul(&mask))?;
        let node = Node::record(OpKind::Dropout { p }, &[self], vec![mask]);
        Ok(if node.is_some() { y.with_node(node) } else { y })
    }

    /// Looks up rows of the `[num_embeddings, dim]` table `weight` (`F.embedding`): the output
    /// has shape `[*indices.shape, dim]`. `indices` are int64 or int32. The gradient of the row
    /// at `padding_idx` (which may be negative, counting from the end) is always zero.
    ///
    /// Errors when `weight` is not 2-D, an index or `padding_idx` is out of range, or `indices`
    /// is not an integer tensor.
    pub fn embedding(weight: &Tensor, indices: &Tensor, padding_idx: Option<i64>) -> Result<Tensor> {
        const OP: &str = "embedding";
        if weight.rank() != 2 {
            return Err(Error::shape(
                OP,
                format!("weight must be 2-D [num_embeddings, dim], got {:?}", weight.shape()),
            ));
        }
        let v = weight.shape()[0] as i64;
        let padding_idx = match padding_idx {
            Some(p) if p >= v || p < -v => {
                return Err(Error::invalid(
                    OP,
                    format!("padding_idx {p} must be within num_embeddings ({v})"),
                ))
            }
            Some(p) if p < 0 => Some(p + v),
            p => p,
        };
        let idx = index_values(OP, "indices", indices)?;
        if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i >= v) {
            return Err(Error::invalid(
                OP,
                format!(
                    "index {bad} is out of range for a weight with {v} rows ({:?})",
                    weight.shape()
                ),
            ));
        }
        embedding_rows_impl(weight, indices, &idx, padding_idx, false)
    }

    /// The gradient of `embedding` with respect to its weight: the rows of this `[*indices.shape,
    /// dim]` gradient summed into `[num_weights, dim]` by `indices`, skipping `padding_idx`.
    /// Recorded (as `EmbeddingBackward`) so that it can be differentiated again.
    pub(crate) fn embedding_backward(
        &self,
        indices: &Tensor,
        num_weights: usize,
        padding_idx: Option<i64>,
    ) -> Result<Tensor> {
        const OP: &str = "embedding_backward";
        let idx = index_values(OP, "indices", indices)?;
        let d = self.shape().last().copied().unwrap_or(1);
        let storage = {
            let s = self.storage();
            let l = self.layout();
            macro_rules! rows {
                ($($v:ident),*) => {
                    match &*s {
                        $(Storage::$v(v) => Storage::$v(scatter_rows(&gather_contiguous(v, l), &idx, num_weights, d, padding_idx)),)*
                        other => return Err(Error::dtype(OP, other.dtype(), "expected a floating-point gradient")),
                    }
                };
            }
            rows!(F32, F64, F16, BF16)
        };
        let node = Node::record(
            OpKind::EmbeddingBackward {
                num_weights,
                padding_idx,
            },
            &[self, indices],
            vec![],
        );
        Ok(Tensor::from_storage_node(storage, &[num_weights, d], node))
    }

    /// Attention `softmax(q kᵀ * scale + mask) v` (`F.scaled_dot_product_attention`) for
    /// `q: [..., L, E]`, `k: [..., S, E]`, `v: [..., S, Ev]` (leading dims broadcast), giving
    /// `[..., L, Ev]`. `scale` defaults to `1 / sqrt(E)`. A bool `attn_mask` (broadcastable to
    /// `[..., L, S]`) keeps the positions where it is true; a float mask is added to the scores.
    /// `is_causal` keeps key `j` for query `i` when `j <= i`. Rows with every key masked give
    /// zeros, as PyTorch's math backend. `dropout_p > 0` applies dropout to the weights.
    ///
    /// Errors when ranks or sizes do not fit, when both `attn_mask` and `is_causal` are given,
    /// or when `dropout_p` is outside `[0, 1]`.
    #[allow(clippy::too_many_arguments)]
    pub fn scaled_dot_product_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        attn_mask: Option<&Tensor>,
        dropout_p: f64,
        is_causal: bool,
        scale: Option<f64>,
    ) -> Result<Tensor> {
        const OP: &str = "scaled_dot_product_attention";
        if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!(
                    "q, k and v need at least 2 dims, got {:?}, {:?}, {:?}",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        let (l, e) = (q.shape()[q.rank() - 2], q.shape()[q.rank() - 1]);
        let (s, ek) = (k.shape()[k.rank() - 2], k.shape()[k.rank() - 1]);
        if e != ek || v.shape()[v.rank() - 2] != s {
            return Err(Error::shape(
                OP,
                format!(
                    "q [..., L, E], k [..., S, E] and v [..., S, Ev] do not fit: {:?}, {:?}, {:?}",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        if is_causal && attn_mask.is_some() {
            return Err(Error::invalid(
                OP,
                "explicit attn_mask should not be set when is_causal=true",
            ));
        }
        let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
        let mut scores = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(scale)?;
        let mut keep = None;
        if is_causal {
            let m: Vec<bool> = (0..l * s).map(|i| i % s <= i / s).collect();
            keep = Some(Tensor::from_vec(m, &[l, s])?);
        }
        if let Some(m) = attn_mask {
            if m.dtype() == DType::Bool {
                keep = Some(m.clone());
            } else {
                scores = scores.add(m)?;
            }
        }
        let mut w = match &keep {
            Some(keep) => {
                let scores = scores.masked_fill(&keep.logical_not()?, f64::NEG_INFINITY)?;
                let w = scores.softmax(-1)?;
                // A row with no key kept would be NaN; PyTorch gives zeros there.
                let any = keep
                    .to_dtype(DType::I64)?
                    .sum_dims(&[-1], true)?
                    .gt_scalar(0.0)?
                    .broadcast_to(w.shape())?;
                w.where_(&any, &w.zeros_like())?
            }
            None => scores.softmax(-1)?,
        };
        if dropout_p > 0.0 {
            w = w.dropout(dropout_p, true)?;
        } else if dropout_p < 0.0 {
            return Err(Error::invalid(
                OP,
                format!("dropout probability has to be between 0 and 1, but got {dropout_p}"),
            ));
        }
        w.matmul(v)
    }
}

/// [`Tensor::softmax`] as a free function (`F.softmax(input, dim)`).
pub fn softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    input.softmax(dim)
}

/// [`Tensor::log_softmax`] as a free function (`F.log_softmax(input, dim)`).
pub fn log_softmax(input: &Tensor, dim: isize) -> Result<Tensor> {
    input.log_softmax(dim)
}

/// [`Tensor::layer_norm`] as a free function (`F.layer_norm`).
pub fn layer_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    input.layer_norm(normalized_shape, weight, bias, eps)
}

/// [`Tensor::batch_norm`] as a free function (`F.batch_norm`).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    input: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor> {
    input.batch_norm(running_mean, running_var, weight, bias, training, momentum, eps)
}

/// [`Tensor::group_norm`] as a free function (`F.group_norm`).
pub fn group_norm(
    input: &Tensor,
    num_groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    input.group_norm(num_groups, weight, bias, eps)
}

/// [`Tensor::rms_norm`] as a free function (`F.rms_norm`).
pub fn rms_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    eps: Option<f64>,
) -> Result<Tensor> {
    input.rms_norm(normalized_shape, weight, eps)
}

/// [`Tensor::dropout`] as a free function (`F.dropout(input, p, training)`).
pub fn dropout(input: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    input.dropout(p, training)
}

/// [`Tensor::embedding`] with PyTorch's argument order (`F.embedding(input, weight,
/// padding_idx)`).
pub fn embedding(input: &Tensor, weight: &Tensor, padding_idx: Option<i64>) -> Result<Tensor> {
    Tensor::embedding(weight, input, padding_idx)
}

/// [`Tensor::scaled_dot_product_attention`] as a free function.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    attn_mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
) -> Result<Tensor> {
    Tensor::scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)
}
