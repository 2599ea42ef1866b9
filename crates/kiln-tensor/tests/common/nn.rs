//! Dispatch of the `nn` fixtures (softmax, normalizations, embedding, attention) to Kiln.

use super::fixtures::{one, Args, Inputs, OpError, OpResult};
use kiln_tensor::functional as F;

/// The Kiln call of an `nn` fixture op; other ops are unknown.
pub fn kiln_op(op: &str, a: &Args, x: &Inputs) -> OpResult {
    match op {
        "softmax" => one(F::softmax(&x[0], a.isize("dim")?)),
        "log_softmax" => one(F::log_softmax(&x[0], a.isize("dim")?)),
        "layer_norm" => one(F::layer_norm(
            &x[0],
            &a.usizes("normalized_shape")?,
            x.opt("weight"),
            x.opt("bias"),
            a.f64("eps")?,
        )),
        // Outputs (out, running_mean, running_var): Kiln updates the running statistics in
        // place (in training), so the inputs after the call are the updated statistics.
        "batch_norm" => {
            let (rm, rv) = (x.opt("running_mean"), x.opt("running_var"));
            let out = F::batch_norm(
                &x[0],
                rm,
                rv,
                x.opt("weight"),
                x.opt("bias"),
                a.bool("training")?,
                a.f64("momentum")?,
                a.f64("eps")?,
            )?;
            let mut outs = vec![out];
            outs.extend(rm.into_iter().chain(rv).map(|t| t.detach()));
            Ok(outs)
        }
        "group_norm" => one(F::group_norm(
            &x[0],
            a.usize("num_groups")?,
            x.opt("weight"),
            x.opt("bias"),
            a.f64("eps")?,
        )),
        "rms_norm" => one(F::rms_norm(
            &x[0],
            &a.usizes("normalized_shape")?,
            x.opt("weight"),
            a.opt_f64("eps")?,
        )),
        // F.embedding(input, weight, padding_idx): indices first.
        "embedding" => {
            let padding_idx = if a.is_none("padding_idx") {
                None
            } else {
                Some(a.i64("padding_idx")?)
            };
            one(F::embedding(&x[0], &x[1], padding_idx))
        }
        "scaled_dot_product_attention" => one(F::scaled_dot_product_attention(
            &x[0],
            &x[1],
            &x[2],
            x.opt("attn_mask"),
            0.0,
            a.bool("is_causal")?,
            a.opt_f64("scale")?,
        )),
        _ => Err(OpError::Unknown),
    }
}
