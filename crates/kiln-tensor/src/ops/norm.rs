//! Normalization functions: `layer_norm` (fused kernel, recorded as one op), and the composite
//! `batch_norm`, `group_norm` and `rms_norm` (differentiable through the ops they are built of).

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use half::{bf16, f16};
use kiln_kernels::norm::{layer_norm_rows_vec, Affine};
use kiln_kernels::Float;
use std::borrow::Cow;

fn float_input(op: &'static str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::dtype(op, x.dtype(), "expected a floating-point tensor"))
    }
}

/// Checks an optional per-feature parameter: same dtype as the input and exactly `shape`.
/// Errors unless `normalized_shape` is non-empty and is the trailing shape of `x`.
fn check_normalized_shape(op: &'static str, normalized_shape: &[usize], x: &Tensor) -> Result<()> {
    let (k, r) = (normalized_shape.len(), x.rank());
    if k == 0 || k > r || &x.shape()[r - k..] != normalized_shape {
        return Err(Error::shape(
            op,
            format!(
                "given normalized_shape={normalized_shape:?}, expected input with shape [*, {}], but got input of size {:?}",
                normalized_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                x.shape()
            ),
        ));
    }
    Ok(())
}

fn check_param(op: &'static str, what: &str, p: Option<&Tensor>, shape: &[usize], x: &Tensor) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    if p.shape() != shape {
        return Err(Error::shape(
            op,
            format!("{what} of shape {:?} does not match {shape:?}", p.shape()),
        ));
    }
    if p.dtype() != x.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: x.dtype(),
            rhs: p.dtype(),
        });
    }
    Ok(())
}

/// Runs the layer-norm kernel on a contiguous slice, with the (small) affine parameters read as
/// `T`; returns `(y, mean, rstd)`.
fn ln_kernel<T: Float + Element>(
    x: &[T],
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    rows: usize,
    n: usize,
    eps: f64,
) -> Result<[Vec<T>; 3]> {
    let param = |p: Option<&Tensor>| -> Result<Option<Vec<T>>> {
        p.map(|p| p.detach().to_dtype(T::DTYPE)?.to_vec::<T>()).transpose()
    };
    let (w, b) = (param(w)?, param(b)?);
    let (mut m, mut r) = (vec![T::ZERO; rows], vec![T::ZERO; rows]);
    let affine = Affine {
        weight: w.as_deref(),
        bias: b.as_deref(),
    };
    let y = layer_norm_rows_vec(x, &mut m, &mut r, n, affine, eps);
    Ok([y, m, r])
}

/// The elements a layout views, borrowed when they are one contiguous run.
fn contiguous_data<'a, T: Copy>(v: &'a [T], t: &Tensor) -> Cow<'a, [T]> {
    match t.layout().contiguous_range() {
        Some(r) => Cow::Borrowed(&v[r]),
        None => Cow::Owned(gather_contiguous(v, t.layout())),
    }
}

/// Rounds f32 results back to the half type `dtype`.
fn half_storage(v: Vec<f32>, dtype: DType) -> Storage {
    match dtype {
        DType::F16 => Storage::F16(v.into_iter().map(f16::from_f32).collect()),
        _ => Storage::BF16(v.into_iter().map(bf16::from_f32).collect()),
    }
}

impl Tensor {
    /// Layer normalization over the trailing dims `normalized_shape` (`F.layer_norm`):
    /// `(x - mean) / sqrt(var + eps) * weight + bias` with the biased variance of each
    /// `normalized_shape` block. Weight and bias, when given, have shape `normalized_shape`.
    /// The output has the input's shape and dtype. PyTorch's default `eps` is `1e-5`.
    ///
    /// Errors when `normalized_shape` is empty or is not the input's trailing shape, when weight
    /// or bias have another shape or dtype, or on a non-float input.
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        const OP: &str = "layer_norm";
        float_input(OP, self)?;
        check_normalized_shape(OP, normalized_shape, self)?;
        let (k, r) = (normalized_shape.len(), self.rank());
        check_param(OP, "weight", weight, normalized_shape, self)?;
        check_param(OP, "bias", bias, normalized_shape, self)?;
        let n: usize = normalized_shape.iter().product();
        let outer = &self.shape()[..r - k];
        let rows: usize = outer.iter().product();
        let dtype = self.dtype();
        let [y, m, rs] = {
            let s = self.storage();
            match &*s {
                Storage::F64(v) => ln_kernel(&contiguous_data(v, self), weight, bias, rows, n, eps)?.map(Storage::F64),
                Storage::F32(v) => ln_kernel(&contiguous_data(v, self), weight, bias, rows, n, eps)?.map(Storage::F32),
                Storage::F16(v) => {
                    let x: Vec<f32> = gather_contiguous(v, self.layout()).iter().map(|h| h.to_f32()).collect();
                    ln_kernel(&x, weight, bias, rows, n, eps)?.map(|v| half_storage(v, dtype))
                }
                Storage::BF16(v) => {
                    let x: Vec<f32> = gather_contiguous(v, self.layout()).iter().map(|h| h.to_f32()).collect();
                    ln_kernel(&x, weight, bias, rows, n, eps)?.map(|v| half_storage(v, dtype))
                }
                other => return Err(Error::dtype(OP, other.dtype(), "expected a floating-point tensor")),
            }
        };
        let mut stat_shape = outer.to_vec();
        stat_shape.resize(stat_shape.len() + k, 1);
        let mean = Tensor::from_storage(m, &stat_shape);
        let rstd = Tensor::from_storage(rs, &stat_shape);
        // Inputs are [x], [x, weight] or [x, weight, bias]; a missing weight before a bias is
        // filled with ones (which need no gradient).
        let ones;
        let mut inputs = vec![self];
        match (weight, bias) {
            (Some(w), _) => inputs.push(w),
            (None, Some(_)) => {
                ones = Tensor::ones(normalized_shape, dtype);
                inputs.push(&ones);
            }
            (None, None) => {}
        }
        if let Some(b) = bias {
            inputs.push(b);
        }
        let node = Node::record(
            OpKind::LayerNorm {
                normalized_dims: k,
                eps,
            },
            &inputs,
            vec![mean, rstd],
        );
        Ok(Tensor::from_storage_node(y, self.shape(), node))
    }

    /// Batch normalization of an `[N, C, ...]` input per channel `C` (`F.batch_norm`).
    ///
    /// With `training`, normalizes with the batch statistics (biased variance) and, when given,
    /// updates `running_mean` and `running_var` (shape `[C]`) in place without recording:
    /// `running = (1 - momentum) * running + momentum * batch_stat`, with the unbiased batch
    /// variance. Without `training`, normalizes with the running statistics, which must be given.
    /// Weight and bias have shape `[C]`. PyTorch's defaults: `momentum = 0.1`, `eps = 1e-5`.
    ///
    /// Errors on an input of rank < 2, parameters of another shape or dtype, one value per
    /// channel in training, or missing running statistics in evaluation.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        const OP: &str = "batch_norm";
        float_input(OP, self)?;
        if self.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!("expected an input of shape [N, C, ...], got {:?}", self.shape()),
            ));
        }
        let c = self.shape()[1];
        for (what, p) in [
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("weight", weight),
            ("bias", bias),
        ] {
            check_param(OP, what, p, &[c], self)?;
        }
        let mut bshape = vec![1usize; self.rank()];
        bshape[1] = c;
        let dims: Vec<isize> = (0..self.rank() as isize).filter(|&d| d != 1).collect();
        let (mean, var) = if training {
            let count = self.numel() / c.max(1);
            if count <= 1 {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "expected more than 1 value per channel when training, got input size {:?}",
                        self.shape()
                    ),
                ));
            }
            let mean = self.mean_dims(&dims, true)?;
            let var = self.sub(&mean)?.square()?.mean_dims(&dims, true)?;
            if let (Some(rm), Some(rv)) = (running_mean, running_var) {
                crate::no_grad(|| -> Result<()> {
                    let m = mean.detach().reshape(&[c])?;
                    let unbiased = var
                        .detach()
                        .reshape(&[c])?
                        .mul_scalar(count as f64 / (count - 1) as f64)?;
                    rm.copy_(&rm.mul_scalar(1.0 - momentum)?.add(&m.mul_scalar(momentum)?)?)?;
                    rv.copy_(&rv.mul_scalar(1.0 - momentum)?.add(&unbiased.mul_scalar(momentum)?)?)
                })?;
            } else if let Some(rm) = running_mean.or(running_var) {
                // Only one of the two given: update it alone, as PyTorch does.
                crate::no_grad(|| -> Result<()> {
                    let stat = if running_mean.is_some() {
                        mean.detach().reshape(&[c])?
                    } else {
                        var.detach()
                            .reshape(&[c])?
                            .mul_scalar(count as f64 / (count - 1) as f64)?
                    };
                    rm.copy_(&rm.mul_scalar(1.0 - momentum)?.add(&stat.mul_scalar(momentum)?)?)
                })?;
            }
            (mean, var)
        } else {
            let (Some(rm), Some(rv)) = (running_mean, running_var) else {
                return Err(Error::invalid(
                    OP,
                    "running_mean and running_var must be given in evaluation mode (training=false)",
                ));
            };
            (rm.reshape(&bshape)?, rv.reshape(&bshape)?)
        };
        let mut y = self.sub(&mean)?.mul(&var.add_scalar(eps)?.rsqrt()?)?;
        if let Some(w) = weight {
            y = y.mul(&w.reshape(&bshape)?)?;
        }
        if let Some(b) = bias {
            y = y.add(&b.reshape(&bshape)?)?;
        }
        Ok(y)
    }

    /// Group normalization of an `[N, C, ...]` input (`F.group_norm`): channels are split into
    /// `num_groups` groups and each (sample, group) block is normalized with its mean and biased
    /// variance; then the per-channel weight and bias (`[C]`) apply. PyTorch's default `eps` is
    /// `1e-5`.
    ///
    /// Errors on an input of rank < 2, `C` not divisible by `num_groups` (or zero groups), or
    /// parameters of another shape or dtype.
    pub fn group_norm(
        &self,
        num_groups: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        const OP: &str = "group_norm";
        float_input(OP, self)?;
        if self.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!("expected an input of shape [N, C, ...], got {:?}", self.shape()),
            ));
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        if num_groups == 0 || c % num_groups != 0 {
            return Err(Error::shape(
                OP,
                format!(
                    "expected number of channels in input to be divisible by num_groups, but got input of shape {:?} and num_groups={num_groups}",
                    self.shape()
                ),
            ));
        }
        check_param(OP, "weight", weight, &[c], self)?;
        check_param(OP, "bias", bias, &[c], self)?;
        let per_group = self.numel() / (n * num_groups).max(1);
        let g = self.reshape(&[n, num_groups, per_group])?;
        let mean = g.mean_dims(&[2], true)?;
        let centered = g.sub(&mean)?;
        let var = centered.square()?.mean_dims(&[2], true)?;
        let mut y = centered.mul(&var.add_scalar(eps)?.rsqrt()?)?.reshape(self.shape())?;
        let mut bshape = vec![1usize; self.rank()];
        bshape[1] = c;
        if let Some(w) = weight {
            y = y.mul(&w.reshape(&bshape)?)?;
        }
        if let Some(b) = bias {
            y = y.add(&b.reshape(&bshape)?)?;
        }
        Ok(y)
    }

    /// Root-mean-square normalization over the trailing dims `normalized_shape`
    /// (`F.rms_norm`): `x / sqrt(mean(x^2) + eps) * weight`. `eps = None` uses the machine
    /// epsilon of the compute type, as PyTorch: `f64::EPSILON` for float64 inputs, else
    /// `f32::EPSILON`.
    ///
    /// Errors when `normalized_shape` is empty or is not the input's trailing shape, or when the
    /// weight has another shape or dtype.
    pub fn rms_norm(&self, normalized_shape: &[usize], weight: Option<&Tensor>, eps: Option<f64>) -> Result<Tensor> {
        const OP: &str = "rms_norm";
        float_input(OP, self)?;
        check_normalized_shape(OP, normalized_shape, self)?;
        let (k, r) = (normalized_shape.len(), self.rank());
        check_param(OP, "weight", weight, normalized_shape, self)?;
        let eps = eps.unwrap_or(if self.dtype() == DType::F64 {
            f64::EPSILON
        } else {
            f32::EPSILON as f64
        });
        let dims: Vec<isize> = ((r - k) as isize..r as isize).collect();
        let ms = self.square()?.mean_dims(&dims, true)?;
        let y = self.mul(&ms.add_scalar(eps)?.rsqrt()?)?;
        match weight {
            Some(w) => y.mul(w),
            None => Ok(y),
        }
    }
}

/// The gradients of a recorded `layer_norm` (inputs `[x, weight?, bias?]`, saved mean and
/// rstd), written with tensor ops. When the backward pass is itself recorded (`create_graph`),
/// the statistics are recomputed from `x` with differentiable ops so that second derivatives
/// see their dependence on `x`.
pub(crate) fn layer_norm_backward(node: &Node, g: &Tensor, k: usize, eps: f64) -> Result<Vec<Option<Tensor>>> {
    let x = &node.inputs[0];
    let r = x.rank();
    let dims: Vec<isize> = ((r - k) as isize..r as isize).collect();
    let outer: Vec<isize> = (0..(r - k) as isize).collect();
    let (mean, rstd) = if crate::is_grad_enabled() {
        let mean = x.mean_dims(&dims, true)?;
        let var = x.sub(&mean)?.square()?.mean_dims(&dims, true)?;
        (mean, var.add_scalar(eps)?.rsqrt()?)
    } else {
        (node.saved[0].clone(), node.saved[1].clone())
    };
    let xhat = x.sub(&mean)?.mul(&rstd)?;
    let weight = node.inputs.get(1);
    let gxhat = match weight {
        Some(w) => g.mul(w)?,
        None => g.clone(),
    };
    // dx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))
    let gx = gxhat
        .sub(&gxhat.mean_dims(&dims, true)?)?
        .sub(&xhat.mul(&gxhat.mul(&xhat)?.mean_dims(&dims, true)?)?)?
        .mul(&rstd)?;
    let over_outer = |t: Tensor| -> Result<Tensor> {
        if outer.is_empty() {
            Ok(t)
        } else {
            t.sum_dims(&outer, false)
        }
    };
    let mut grads = vec![Some(gx)];
    if let Some(w) = weight {
        grads.push(if w.requires_grad() {
            Some(over_outer(g.mul(&xhat)?)?)
        } else {
            None
        });
    }
    if node.inputs.len() > 2 {
        grads.push(Some(over_outer(g.clone())?));
    }
    Ok(grads)
}
