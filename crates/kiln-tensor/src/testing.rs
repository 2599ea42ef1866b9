//! Test helpers users of the crate may want too: a finite-difference gradient check
//! (`torch.autograd.gradcheck`) and tolerant comparisons.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::DType;

/// Settings of [`gradcheck`].
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Central-difference step.
    pub eps: f64,
    pub atol: f64,
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// Compares the gradients autograd computes for `f` with central finite differences.
///
/// `inputs` are f64 leaves; each is given to `f` as a fresh leaf that requires grad (so `f` may
/// take views of it: transposes and slices test non-contiguous paths). A non-scalar output is
/// reduced with fixed pseudo-random weights so that every output element matters.
/// Returns an error describing the first mismatching element.
pub fn gradcheck(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor], opts: GradcheckOptions) -> Result<()> {
    for t in inputs {
        if t.dtype() != DType::F64 {
            return Err(Error::invalid(
                "gradcheck",
                format!("inputs must be float64, got {}", t.dtype()),
            ));
        }
    }
    let values: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_vec_f64()).collect();
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let make = |vals: &[Vec<f64>], grad: bool| -> Result<Vec<Tensor>> {
        vals.iter()
            .zip(&shapes)
            .map(|(v, s)| Ok(Tensor::from_vec(v.clone(), s)?.requires_grad_(grad)))
            .collect()
    };
    // Weights for the scalar projection of the output.
    let out0 = crate::no_grad(|| f(&make(&values, false)?))?;
    let weights: Vec<f64> = (0..out0.numel())
        .map(|i| 0.5 + ((i * 7919) % 13) as f64 / 13.0)
        .collect();
    let w = Tensor::from_vec(weights, out0.shape())?;
    let project =
        |y: &Tensor| -> Result<f64> { crate::no_grad(|| y.to_dtype(DType::F64)?.mul(&w)?.sum()?.item::<f64>()) };

    let leaves = make(&values, true)?;
    let y = f(&leaves)?;
    y.to_dtype(DType::F64)?.mul(&w)?.sum()?.backward()?;
    for (k, leaf) in leaves.iter().enumerate() {
        let analytic = leaf
            .grad()
            .map(|g| g.to_vec_f64())
            .unwrap_or_else(|| vec![0.0; values[k].len()]);
        for i in 0..values[k].len() {
            let mut vals = values.clone();
            vals[k][i] += opts.eps;
            let plus = project(&crate::no_grad(|| f(&make(&vals, false)?))?)?;
            vals[k][i] -= 2.0 * opts.eps;
            let minus = project(&crate::no_grad(|| f(&make(&vals, false)?))?)?;
            let numeric = (plus - minus) / (2.0 * opts.eps);
            let a = analytic[i];
            if (a - numeric).abs() > opts.atol + opts.rtol * numeric.abs() {
                return Err(Error::invalid(
                    "gradcheck",
                    format!(
                        "input {k} element {i}: analytic gradient {a} vs numeric {numeric} (shape {:?})",
                        shapes[k]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Asserts two tensors have the same shape and close values (`torch.testing.assert_close`).
#[track_caller]
pub fn assert_close(actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(actual.shape(), expected.shape(), "shape mismatch");
    for (i, (a, e)) in actual.to_vec_f64().iter().zip(expected.to_vec_f64()).enumerate() {
        let ok = (a.is_nan() && e.is_nan()) || a == &e || (a - e).abs() <= atol + rtol * e.abs();
        assert!(ok, "element {i}: {a} vs expected {e} (rtol {rtol}, atol {atol})");
    }
}
