//! Dispatch of the `losses` fixtures to Kiln's `functional` losses.

use super::fixtures::{one, Args, Inputs, OpError, OpResult};
use kiln_tensor::functional::{self as F, CrossEntropyOptions, KlReduction, Reduction};

fn reduction(a: &Args) -> Result<Reduction, OpError> {
    Ok(match a.str("reduction")? {
        "none" => Reduction::None,
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        other => return Err(OpError::Fixture(format!("unknown reduction {other:?}"))),
    })
}

fn kl_reduction(a: &Args) -> Result<KlReduction, OpError> {
    Ok(match a.str("reduction")? {
        "batchmean" => KlReduction::BatchMean,
        _ => reduction(a)?.into(),
    })
}

/// The Kiln call of a `losses` fixture op; other ops are unknown.
pub fn kiln_op(op: &str, a: &Args, x: &Inputs) -> OpResult {
    match op {
        "cross_entropy" => {
            let opts = CrossEntropyOptions {
                weight: x.opt("weight"),
                ignore_index: a.i64("ignore_index")?,
                reduction: reduction(a)?,
                label_smoothing: a.f64("label_smoothing")?,
            };
            one(F::cross_entropy(&x[0], &x[1], opts))
        }
        "nll_loss" => one(F::nll_loss(
            &x[0],
            &x[1],
            x.opt("weight"),
            a.i64("ignore_index")?,
            reduction(a)?,
        )),
        "mse_loss" => one(F::mse_loss(&x[0], &x[1], reduction(a)?)),
        "l1_loss" => one(F::l1_loss(&x[0], &x[1], reduction(a)?)),
        "smooth_l1_loss" => one(F::smooth_l1_loss(&x[0], &x[1], reduction(a)?, a.f64("beta")?)),
        "binary_cross_entropy" => one(F::binary_cross_entropy(&x[0], &x[1], x.opt("weight"), reduction(a)?)),
        "binary_cross_entropy_with_logits" => one(F::binary_cross_entropy_with_logits(
            &x[0],
            &x[1],
            x.opt("weight"),
            x.opt("pos_weight"),
            reduction(a)?,
        )),
        "kl_div" => one(F::kl_div(&x[0], &x[1], kl_reduction(a)?, a.bool("log_target")?)),
        _ => Err(OpError::Unknown),
    }
}
