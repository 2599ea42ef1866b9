//! Loss functions, as free functions re-exported from [`crate::functional`] with PyTorch's
//! names, arguments and defaults. Each is composite: built from differentiable ops (the fused
//! `log_softmax` included), so gradients flow without backward rules of their own.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::nn::index_values;
use crate::tensor::Tensor;

/// How a loss reduces its per-element values (PyTorch's `reduction=`; default `Mean`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The per-element losses, unreduced.
    None,
    /// Their mean (for weighted `nll_loss` / `cross_entropy`: divided by the sum of the weights).
    #[default]
    Mean,
    /// Their sum.
    Sum,
}

/// The reductions of [`kl_div`]: [`Reduction`]'s plus `BatchMean` (the sum divided by the batch
/// size, the mathematically correct KL divergence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KlReduction {
    None,
    #[default]
    Mean,
    Sum,
    BatchMean,
}

impl From<Reduction> for KlReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlReduction::None,
            Reduction::Mean => KlReduction::Mean,
            Reduction::Sum => KlReduction::Sum,
        }
    }
}

/// Options of [`cross_entropy`], with PyTorch's defaults (`CrossEntropyOptions::default()`):
/// no class weights, `ignore_index = -100`, mean reduction, no label smoothing.
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyOptions<'a> {
    /// A per-class weight of shape `[C]`.
    pub weight: Option<&'a Tensor>,
    /// A class-index target equal to this is ignored (no loss, no weight in the mean).
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// In `[0, 1]`: the target becomes `(1 - s) * target + s / C`.
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions<'_> {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

fn reduce(loss: Tensor, reduction: Reduction) -> Result<Tensor> {
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Mean => loss.mean(),
        Reduction::Sum => loss.sum(),
    }
}

fn float_input(op: &'static str, t: &Tensor) -> Result<()> {
    if t.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::dtype(op, t.dtype(), "expected a floating-point tensor"))
    }
}

fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::shape(
            op,
            format!(
                "target of shape {:?} must have the input's shape {:?}",
                target.shape(),
                input.shape()
            ),
        ));
    }
    Ok(())
}

/// The class dim of an `[N, C, ...]` or unbatched `[C]` input.
fn class_dim(op: &'static str, input: &Tensor) -> Result<usize> {
    match input.rank() {
        0 => Err(Error::shape(
            op,
            "input must have at least 1 dim (the classes), got a 0-dim tensor",
        )),
        1 => Ok(0),
        _ => Ok(1),
    }
}

/// Checks a class-index target against the input and returns its values with the per-element
/// weights: `w[target]`, or 0 where the target is `ignore_index`.
fn class_targets(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
) -> Result<(Vec<i64>, Vec<f64>)> {
    let cd = class_dim(op, input)?;
    let c = input.shape()[cd];
    let mut want = input.shape().to_vec();
    want.remove(cd);
    if target.shape() != want.as_slice() {
        return Err(Error::shape(
            op,
            format!(
                "expected a class-index target of shape {want:?} for input of shape {:?}, got {:?}",
                input.shape(),
                target.shape()
            ),
        ));
    }
    let w = match weight {
        Some(w) => {
            if w.shape() != [c] {
                return Err(Error::shape(
                    op,
                    format!("weight of shape {:?} must have shape [{c}] (one per class)", w.shape()),
                ));
            }
            Some(w.to_vec_f64())
        }
        None => None,
    };
    let t = index_values(op, "target", target)?;
    let mut wt = Vec::with_capacity(t.len());
    for &k in &t {
        if k == ignore_index {
            wt.push(0.0);
        } else if k < 0 || k >= c as i64 {
            return Err(Error::invalid(
                op,
                format!("target {k} is out of bounds for {c} classes"),
            ));
        } else {
            wt.push(w.as_ref().map_or(1.0, |w| w[k as usize]));
        }
    }
    Ok((t, wt))
}

/// Negative log-likelihood loss (`F.nll_loss`) of log-probabilities `input` (`[N, C]`, `[C]` or
/// `[N, C, d1, ...]`) and class indices `target` (int64/int32, shape of the input without the
/// class dim). The element loss is `-weight[t] * input[n, t, ...]`, zero where
/// `t == ignore_index` (PyTorch's default `-100`); `Mean` divides the sum by the sum of the
/// weights of the non-ignored targets.
///
/// Errors on a target of the wrong shape or dtype, a target out of `[0, C)` that is not
/// `ignore_index`, or a weight not of shape `[C]`.
pub fn nll_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<Tensor> {
    nll_loss_impl("nll_loss", input, target, weight, ignore_index, reduction)
}

/// [`nll_loss`], with errors naming `op`.
fn nll_loss_impl(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<Tensor> {
    float_input(op, input)?;
    let (t, wt) = class_targets(op, input, target, weight, ignore_index)?;
    let cd = class_dim(op, input)?;
    // Pick input[.., t, ..] with a gather along the class dim (ignored targets pick class 0 and
    // are zeroed before weighting, so a -inf there gives no NaN).
    let idx: Vec<i64> = t.iter().map(|&k| if k == ignore_index { 0 } else { k }).collect();
    let idx = Tensor::from_vec(idx, target.shape())?.unsqueeze(cd as isize)?;
    let picked = input.gather(cd as isize, &idx)?.squeeze_dim(cd as isize)?;
    let keep: Vec<bool> = t.iter().map(|&k| k != ignore_index).collect();
    let keep = Tensor::from_vec(keep, target.shape())?;
    let picked = picked.where_(&keep, &picked.zeros_like())?;
    let w = match input.dtype() {
        DType::F64 => Tensor::from_vec(wt.clone(), target.shape())?,
        dt => Tensor::from_vec(wt.iter().map(|&w| w as f32).collect::<Vec<f32>>(), target.shape())?.to_dtype(dt)?,
    };
    let loss = picked.mul(&w)?.neg()?;
    match reduction {
        Reduction::Mean => loss.sum()?.div_scalar(wt.iter().sum::<f64>()),
        r => reduce(loss, r),
    }
}

/// Cross-entropy between logits `input` (`[N, C]`, `[C]` or `[N, C, d1, ...]`) and `target`
/// (`F.cross_entropy`): either class indices (int64/int32, the input's shape without the class
/// dim) or class probabilities (float, the input's shape). See [`CrossEntropyOptions`] for the
/// weight, `ignore_index` (index targets only), reduction and label smoothing; with index
/// targets and `Mean`, the sum is divided by the summed weights of the non-ignored targets.
///
/// Errors on a target of the wrong shape or dtype, a class index out of range, a weight not of
/// shape `[C]`, or a label smoothing outside `[0, 1]`.
pub fn cross_entropy(input: &Tensor, target: &Tensor, opts: CrossEntropyOptions<'_>) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    float_input(OP, input)?;
    let s = opts.label_smoothing;
    if !(0.0..=1.0).contains(&s) {
        return Err(Error::invalid(
            OP,
            format!("label_smoothing must be between 0.0 and 1.0, got {s}"),
        ));
    }
    let cd = class_dim(OP, input)?;
    let c = input.shape()[cd];
    let mut wshape = vec![1usize; input.rank()];
    wshape[cd] = c;
    let weight_b = match opts.weight {
        Some(w) if w.shape() != [c] => {
            return Err(Error::shape(
                OP,
                format!("weight of shape {:?} must have shape [{c}] (one per class)", w.shape()),
            ))
        }
        Some(w) => Some(w.reshape(&wshape)?),
        None => None,
    };
    let logp = input.log_softmax(cd as isize)?;
    if target.dtype().is_float() {
        // Class probabilities.
        same_shape(OP, input, target)?;
        let target = if s > 0.0 {
            target.mul_scalar(1.0 - s)?.add_scalar(s / c as f64)?
        } else {
            target.clone()
        };
        let mut prod = logp.mul(&target)?;
        if let Some(w) = &weight_b {
            prod = prod.mul(w)?;
        }
        return match opts.reduction {
            Reduction::None => prod.sum_dims(&[cd as isize], false)?.neg(),
            Reduction::Sum => prod.sum()?.neg(),
            Reduction::Mean => prod.sum()?.neg()?.div_scalar((input.numel() / c.max(1)) as f64),
        };
    }
    let nll = nll_loss_impl(OP, &logp, target, opts.weight, opts.ignore_index, opts.reduction)?;
    if s == 0.0 {
        return Ok(nll);
    }
    // Label smoothing: the mean over classes of -log p (weighted), with ignored targets zeroed.
    let (_, wt) = class_targets(OP, input, target, opts.weight, opts.ignore_index)?;
    let keep: Vec<f64> = index_values(OP, "target", target)?
        .iter()
        .map(|&k| if k == opts.ignore_index { 0.0 } else { 1.0 })
        .collect();
    let keep_t = Tensor::from_vec(keep.clone(), target.shape())?.to_dtype(input.dtype())?;
    let weighted = match &weight_b {
        Some(w) => logp.mul(w)?,
        None => logp.clone(),
    };
    let smooth = weighted.sum_dims(&[cd as isize], false)?.neg()?.mul(&keep_t)?;
    let smooth = match opts.reduction {
        Reduction::None => smooth,
        Reduction::Sum => smooth.sum()?,
        Reduction::Mean => {
            let denom: f64 = if opts.weight.is_some() {
                wt.iter().sum()
            } else {
                keep.iter().sum()
            };
            smooth.sum()?.div_scalar(denom)?
        }
    };
    nll.mul_scalar(1.0 - s)?.add(&smooth.mul_scalar(s / c as f64)?)
}

/// Mean squared error `(input - target)^2` (`F.mse_loss`), broadcasting the two.
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    reduce(input.sub(target)?.square()?, reduction)
}

/// Mean absolute error `|input - target|` (`F.l1_loss`), broadcasting the two.
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    reduce(input.sub(target)?.abs()?, reduction)
}

/// Smooth L1 (Huber-like) loss (`F.smooth_l1_loss`, PyTorch's default `beta = 1`):
/// `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta`; `beta == 0` is the L1 loss.
///
/// Errors on a negative `beta`.
pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction, beta: f64) -> Result<Tensor> {
    if beta < 0.0 {
        return Err(Error::invalid(
            "smooth_l1_loss",
            format!("beta must be non-negative, got {beta}"),
        ));
    }
    let d = input.sub(target)?;
    if beta == 0.0 {
        return reduce(d.abs()?, reduction);
    }
    let ad = d.abs()?;
    let quad = d.square()?.mul_scalar(0.5 / beta)?;
    let lin = ad.sub_scalar(0.5 * beta)?;
    reduce(quad.where_(&ad.lt_scalar(beta)?, &lin)?, reduction)
}

/// Binary cross-entropy of probabilities `input` in `[0, 1]` and `target` of the same shape
/// (`F.binary_cross_entropy`): `-w (t log x + (1 - t) log(1 - x))` with each log clamped at
/// `-100`, as PyTorch. `weight` broadcasts to the input. The gradient is that of this
/// expression: zero for a clamped log (PyTorch's fused backward instead divides by
/// `max(x (1 - x), 1e-12)`, which differs only where a log is clamped).
///
/// Errors when the shapes differ or an input element is outside `[0, 1]`.
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy";
    float_input(OP, input)?;
    same_shape(OP, input, target)?;
    if input.to_vec_f64().iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(Error::invalid(OP, "all elements of input should be between 0 and 1"));
    }
    let log_x = clamped_log(input)?;
    let log_1mx = clamped_log(&input.neg()?.add_scalar(1.0)?)?;
    let t = target.to_dtype(input.dtype())?;
    let mut loss = t.mul(&log_x)?.add(&t.neg()?.add_scalar(1.0)?.mul(&log_1mx)?)?.neg()?;
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce(loss, reduction)
}

/// `max(log(x), -100)` for `x >= 0` with a finite gradient everywhere: at `x == 0` the log is
/// taken of 1 and replaced, so no `0 * inf` reaches the backward pass.
fn clamped_log(x: &Tensor) -> Result<Tensor> {
    let pos = x.gt_scalar(0.0)?;
    let safe = x.where_(&pos, &x.ones_like())?;
    let floor = x.full_like(-100.0)?;
    safe.log()?.clamp(Some(-100.0), None)?.where_(&pos, &floor)
}

/// Binary cross-entropy on logits (`F.binary_cross_entropy_with_logits`), computed stably as
/// `(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)`, times `weight`. `pos_weight` weighs the
/// positive class and broadcasts along the last dim (one per class); `weight` broadcasts to the
/// input.
///
/// Errors when the input and target shapes differ.
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy_with_logits";
    float_input(OP, input)?;
    same_shape(OP, input, target)?;
    let t = target.to_dtype(input.dtype())?;
    let sp = input.neg()?.softplus(1.0, 20.0)?;
    let log_weight = match pos_weight {
        Some(pw) => pw.sub_scalar(1.0)?.mul(&t)?.add_scalar(1.0)?,
        None => t.ones_like(),
    };
    let mut loss = t.neg()?.add_scalar(1.0)?.mul(input)?.add(&log_weight.mul(&sp)?)?;
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce(loss, reduction)
}

/// Kullback-Leibler divergence (`F.kl_div`) with `input` holding log-probabilities:
/// `target * (log(target) - input)` (0 where `target == 0`), or with `log_target`
/// `exp(target) * (target - input)`. `BatchMean` divides the sum by the size of dim 0.
pub fn kl_div(input: &Tensor, target: &Tensor, reduction: KlReduction, log_target: bool) -> Result<Tensor> {
    const OP: &str = "kl_div";
    float_input(OP, input)?;
    let t = target.to_dtype(input.dtype())?;
    let loss = if log_target {
        t.exp()?.mul(&t.sub(input)?)?
    } else {
        // xlogy(t, t) - t * input, with log taken of 1 where t == 0 so no inf/NaN appears.
        let pos = t.gt_scalar(0.0)?;
        let safe = t.where_(&pos, &t.ones_like())?;
        t.mul(&safe.log()?.sub(input)?)?
    };
    match reduction {
        KlReduction::None => Ok(loss),
        KlReduction::Mean => loss.mean(),
        KlReduction::Sum => loss.sum(),
        KlReduction::BatchMean => {
            let b = if input.rank() == 0 { 1 } else { input.shape()[0] };
            loss.sum()?.div_scalar(b as f64)
        }
    }
}
