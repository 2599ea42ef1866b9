//! Regression tests for robustness fixes: in-place checks on outputs, loss picks, 0-dim
//! reductions, integer wrapping, shape overflow, view argument checks, and in-place fast paths.

use kiln_tensor::{no_grad, tensor, DType, Tensor};

fn assert_err_contains<T: std::fmt::Debug>(r: kiln_tensor::Result<T>, needles: &[&str]) {
    let err = r.unwrap_err().to_string();
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in {err:?}");
    }
}

// ---- 1. backward rules that read the op's own output ----

fn output_modified_is_an_error(f: impl Fn(&Tensor) -> Tensor, name: &str) {
    let x = tensor!([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]).requires_grad_(true);
    let y = f(&x);
    y.detach().mul_scalar_(2.0).unwrap();
    assert_err_contains(
        y.sum().unwrap().backward(),
        &["modified by an in-place operation", name],
    );
    // Unmodified, backward works.
    let y = f(&x);
    y.sum().unwrap().backward().unwrap();
}

#[test]
fn softmax_output_modified_in_place_is_an_error() {
    output_modified_is_an_error(|x| x.softmax(0).unwrap(), "softmax");
}

#[test]
fn log_softmax_output_modified_in_place_is_an_error() {
    output_modified_is_an_error(|x| x.log_softmax(1).unwrap(), "logsoftmax");
}

#[test]
fn amax_amin_outputs_modified_in_place_are_errors() {
    output_modified_is_an_error(|x| x.amax(&[1], false).unwrap(), "amax");
    output_modified_is_an_error(|x| x.amin(&[0], true).unwrap(), "amin");
}

#[test]
fn logsumexp_and_norm_outputs_modified_in_place_are_errors() {
    output_modified_is_an_error(|x| x.logsumexp(&[1], false).unwrap(), "logsumexp");
    output_modified_is_an_error(|x| x.norm(2.0, &[1], false).unwrap(), "norm");
}

#[test]
fn output_modified_through_a_view_is_an_error() {
    let x = tensor!([1.0, 2.0, 3.0]).requires_grad_(true);
    let y = x.softmax(0).unwrap();
    no_grad(|| y.detach().narrow(0, 1, 1).unwrap().fill_(0.0)).unwrap();
    assert!(y.sum().unwrap().backward().is_err());
}

#[test]
fn output_of_an_op_not_reading_it_may_be_modified() {
    let x = tensor!([1.0, 2.0, 3.0]).requires_grad_(true);
    let y = x.mul_scalar(3.0).unwrap();
    y.detach().fill_(0.0).unwrap();
    y.sum().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![3.0, 3.0, 3.0]);
    let _ = DType::F32;
}
