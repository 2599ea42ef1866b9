//! Gradient clipping (`torch.nn.utils.clip_grad_norm_`, `clip_grad_value_`): rescales or clamps
//! the `.grad()` of parameters in place, between `backward` and the optimizer step.

use kiln_tensor::{Error, Result, Tensor};

/// The `p`-norm of `values` (`torch.linalg.vector_norm`): max/min of `|x|` for `±inf`, the count
/// of nonzeros for 0.
fn vector_norm(values: impl Iterator<Item = f64>, p: f64) -> f64 {
    if p == f64::INFINITY {
        values
            .map(f64::abs)
            .fold(0.0, |m, x| if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x) })
    } else if p == f64::NEG_INFINITY {
        values.map(f64::abs).fold(f64::INFINITY, |m, x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.min(x)
            }
        })
    } else if p == 0.0 {
        values.filter(|&x| x != 0.0).count() as f64
    } else if p == 1.0 {
        values.map(f64::abs).sum()
    } else if p == 2.0 {
        values.map(|x| x * x).sum::<f64>().sqrt()
    } else {
        values.map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// Scales the gradients of `params` so that their joint `norm_type`-norm (the norm of the
/// per-tensor norms) is at most `max_norm`, and returns that norm before clipping.
///
/// As PyTorch: parameters without a gradient are ignored (no gradients gives 0); the gradients
/// are multiplied by `max_norm / (total_norm + 1e-6)` when that is below 1. `norm_type` is any
/// `p` (`2.0`, `1.0`, `f64::INFINITY`, ...). Errors when `norm_type` is NaN, and, with
/// `error_if_nonfinite`, when the total norm is NaN or infinite (gradients left unchanged).
///
/// ```
/// use kiln_nn::clip_grad::clip_grad_norm_;
/// use kiln_tensor::tensor;
/// # fn main() -> kiln_tensor::Result<()> {
/// let w = kiln_nn::parameter(tensor!([0.0, 0.0]));
/// w.set_grad(Some(tensor!([3.0, 4.0])));
/// let total = clip_grad_norm_(&[w.clone()], 1.0, 2.0, false)?;
/// assert_eq!(total, 5.0);
/// let g = w.grad().unwrap().to_vec::<f32>()?;
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64, error_if_nonfinite: bool) -> Result<f64> {
    const OP: &str = "clip_grad_norm_";
    if norm_type.is_nan() {
        return Err(Error::Invalid {
            op: OP,
            msg: "norm_type is NaN".into(),
        });
    }
    let grads: Vec<Tensor> = params.iter().filter_map(Tensor::grad).collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let norms: Vec<f64> = grads
        .iter()
        .map(|g| vector_norm(g.to_vec_f64().into_iter(), norm_type))
        .collect();
    let total = vector_norm(norms.into_iter(), norm_type);
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "the total norm of order {norm_type} of the gradients is {total}, so it cannot be clipped; \
                 pass error_if_nonfinite = false to clip anyway"
            ),
        });
    }
    let clip_coef = max_norm / (total + 1e-6);
    // A NaN coefficient (NaN norm) propagates into the gradients, as in PyTorch.
    if clip_coef < 1.0 || clip_coef.is_nan() {
        kiln_tensor::no_grad(|| grads.iter().try_for_each(|g| g.mul_scalar_(clip_coef)))?;
    }
    Ok(total)
}

/// Clamps the gradients of `params` into `[-clip_value, clip_value]` in place (NaN stays NaN);
/// parameters without a gradient are skipped.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) -> Result<()> {
    kiln_tensor::no_grad(|| {
        params.iter().filter_map(Tensor::grad).try_for_each(|g| {
            Tensor::fused_update_([&g], [], |o, _| {
                if !o[0].is_nan() {
                    o[0] = o[0].max(-clip_value).min(clip_value);
                }
            })
        })
    })
}
