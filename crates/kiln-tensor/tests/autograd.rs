//! Autograd behaviour: accumulation, zero_grad, detach, no_grad, higher-order gradients and the
//! in-place version check.

use kiln_tensor::{grad, no_grad, tensor, BackwardOptions, DType, Tensor};

#[test]
fn gradients_accumulate_over_backward_calls_until_zeroed() {
    let w = tensor!([1.0, 2.0, 3.0]).requires_grad_(true);
    for _ in 0..2 {
        w.mul_scalar(3.0).unwrap().sum().unwrap().backward().unwrap();
    }
    assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![6.0, 6.0, 6.0]);
    w.zero_grad();
    assert!(w.grad().is_none());
    w.square().unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0]);
}

#[test]
fn shared_subexpressions_sum_their_gradients() {
    let x = tensor!([2.0]).requires_grad_(true);
    let y = x.mul(&x).unwrap(); // x² used twice below
    let z = y.add(&y.mul(&x).unwrap()).unwrap(); // x² + x³
    z.sum().unwrap().backward().unwrap();
    // 2x + 3x² at 2 = 16
    assert_eq!(x.grad().unwrap().item::<f32>().unwrap(), 16.0);
}

#[test]
fn backward_with_for_non_scalar_outputs() {
    let x = tensor!([1.0, 2.0]).requires_grad_(true);
    let y = x.square().unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("only for scalar outputs"), "{err}");
    y.backward_with(&tensor!([1.0, 0.5]), BackwardOptions::default())
        .unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
}

#[test]
fn detach_and_no_grad_stop_recording() {
    let x = tensor!([1.0, 2.0]).requires_grad_(true);
    let d = x.detach();
    assert!(!d.requires_grad() && d.shares_storage(&x));
    let y = no_grad(|| x.mul_scalar(2.0).unwrap());
    assert!(!y.requires_grad());
    let err = y.sum().unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("does not require grad"), "{err}");
}

#[test]
fn second_order_gradients_with_create_graph() {
    // y = x³: dy/dx = 3x², d²y/dx² = 6x.
    let x = Tensor::from_vec(vec![2.0f64], &[1]).unwrap().requires_grad_(true);
    let y = x.pow_scalar(3.0).unwrap().sum().unwrap();
    let g = grad(&y, &[&x], None, true).unwrap().remove(0).unwrap();
    assert_eq!(g.to_vec::<f64>().unwrap(), vec![12.0]);
    let gg = grad(&g.sum().unwrap(), &[&x], None, false).unwrap().remove(0).unwrap();
    assert_eq!(gg.to_vec::<f64>().unwrap(), vec![12.0]);
    // autograd::grad does not touch .grad
    assert!(x.grad().is_none());
}

#[test]
fn backward_of_gradient_penalty_reaches_leaves() {
    // Loss = |d(sum(tanh(w x)))/dx|² differentiated w.r.t. w (a WGAN-GP-style double backward).
    let w = Tensor::from_vec(vec![0.3f64, -0.7, 1.1], &[3])
        .unwrap()
        .requires_grad_(true);
    let x = Tensor::from_vec(vec![0.5f64, 0.2, -0.4], &[3])
        .unwrap()
        .requires_grad_(true);
    let y = w.mul(&x).unwrap().tanh().unwrap().sum().unwrap();
    let gx = grad(&y, &[&x], None, true).unwrap().remove(0).unwrap();
    gx.square().unwrap().sum().unwrap().backward().unwrap();
    let gw = w.grad().unwrap().to_vec::<f64>().unwrap();
    // Analytic: gx_i = w_i (1 - t_i²), t = tanh(w x). d/dw_i of gx_i² = 2 gx_i (1 - t² - 2 w t (1 - t²) x).
    for i in 0..3 {
        let (wi, xi) = ([0.3, -0.7, 1.1][i], [0.5, 0.2, -0.4][i]);
        let t = f64::tanh(wi * xi);
        let s = 1.0 - t * t;
        let expected = 2.0 * wi * s * (s - 2.0 * wi * t * s * xi);
        assert!((gw[i] - expected).abs() < 1e-12, "{i}: {} vs {expected}", gw[i]);
    }
}

#[test]
fn in_place_change_of_a_saved_tensor_is_an_error() {
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    let x = tensor!([3.0, 4.0]);
    let y = w.mul(&x).unwrap().sum().unwrap();
    x.add_(&tensor!([1.0, 1.0])).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("modified by an in-place operation"), "{err}");
    assert!(err.contains("mul"), "{err}");
}

#[test]
fn in_place_through_a_view_is_seen_by_the_version_check() {
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    let x = tensor!([[3.0, 4.0], [5.0, 6.0]]);
    let row = x.select(0, 0).unwrap();
    let y = w.mul(&row).unwrap().sum().unwrap();
    x.select(0, 0).unwrap().fill_(0.0).unwrap();
    assert!(y.backward().is_err());
    assert_eq!(row.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
}

#[test]
fn in_place_on_a_leaf_requiring_grad_needs_no_grad() {
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    let err = w.add_(&tensor!([1.0, 1.0])).unwrap_err().to_string();
    assert!(err.contains("leaf tensor that requires grad"), "{err}");
    no_grad(|| w.add_(&tensor!([1.0, 1.0]))).unwrap();
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
}

#[test]
fn in_place_ops_write_through_views() {
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let col = x.select(1, 1).unwrap();
    col.fill_(5.0).unwrap();
    x.select(0, 1).unwrap().mul_(&tensor!([2.0, 2.0, 2.0])).unwrap();
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 5.0, 0.0, 0.0, 10.0, 0.0]);
    x.t()
        .unwrap()
        .copy_(&tensor!([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        .unwrap();
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    x.zero_().unwrap();
    assert_eq!(x.sum().unwrap().item::<f32>().unwrap(), 0.0);
    x.sub_(&tensor!(1.0)).unwrap();
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![-1.0; 6]);
}

#[test]
fn integer_tensors_cannot_require_grad() {
    let err = tensor!([1, 2]).set_requires_grad(true).unwrap_err().to_string();
    assert!(
        err.contains("only floating-point tensors can require gradients"),
        "{err}"
    );
}

#[test]
fn copy_and_where_read_views_that_start_inside_their_buffer() {
    let src = Tensor::arange(0.0, 6.0, 1.0, DType::F32)
        .unwrap()
        .narrow(0, 2, 4)
        .unwrap();
    let dst = Tensor::zeros(&[4], DType::F32);
    dst.copy_(&src).unwrap();
    assert_eq!(dst.to_vec::<f32>().unwrap(), vec![2.0, 3.0, 4.0, 5.0]);
    let m = tensor!([true, false, true, false]);
    let picked = src.where_(&m, &dst.mul_scalar(-1.0).unwrap()).unwrap();
    assert_eq!(picked.to_vec::<f32>().unwrap(), vec![2.0, -3.0, 4.0, -5.0]);
    let filled = src.masked_fill(&m, 9.0).unwrap();
    assert_eq!(filled.to_vec::<f32>().unwrap(), vec![9.0, 3.0, 9.0, 5.0]);
}
