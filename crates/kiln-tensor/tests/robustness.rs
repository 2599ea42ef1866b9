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

// ---- 2. nll_loss / cross_entropy pick the target without a dense mask ----

#[test]
fn cross_entropy_with_an_infinite_non_target_logit_is_finite() {
    use kiln_tensor::functional::{cross_entropy, CrossEntropyOptions};
    let x = Tensor::from_vec(vec![1.0f64, f64::NEG_INFINITY, 0.0], &[1, 3])
        .unwrap()
        .requires_grad_(true);
    let t = Tensor::from_vec(vec![0i64], &[1]).unwrap();
    let l = cross_entropy(&x, &t, CrossEntropyOptions::default()).unwrap();
    assert!((l.item_f64().unwrap() - 0.313_261_687_518_222_9).abs() < 1e-12, "{l:?}");
    l.backward().unwrap();
    let g = x.grad().unwrap().to_vec::<f64>().unwrap();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
}

#[test]
fn nll_loss_with_an_infinite_non_target_is_finite() {
    use kiln_tensor::functional::{nll_loss, Reduction};
    let x = Tensor::from_vec(vec![-0.1f64, f64::NEG_INFINITY, -2.0], &[1, 3]).unwrap();
    let t = Tensor::from_vec(vec![0i64], &[1]).unwrap();
    let l = nll_loss(&x, &t, None, -100, Reduction::Mean).unwrap();
    assert!((l.item_f64().unwrap() - 0.1).abs() < 1e-12);
    // An ignored target whose class-0 entry is -inf contributes 0, not NaN.
    let x = Tensor::from_vec(vec![f64::NEG_INFINITY, -1.0, -0.5, -2.0], &[2, 2]).unwrap();
    let t = Tensor::from_vec(vec![-100i64, 1], &[2]).unwrap();
    let l = nll_loss(&x, &t, None, -100, Reduction::Sum).unwrap();
    assert_eq!(l.item_f64().unwrap(), 2.0);
}

// ---- 3. reductions over dim 0 / -1 of a 0-dim tensor ----

#[test]
fn reductions_accept_dim_0_and_minus_1_on_a_0_dim_tensor() {
    let x = Tensor::scalar(2.0f64);
    for dims in [[0isize], [-1]] {
        for keep in [false, true] {
            let check = |t: Tensor, want: f64| {
                assert_eq!(t.shape(), &[] as &[usize]);
                assert_eq!(t.item_f64().unwrap(), want);
            };
            check(x.sum_dims(&dims, keep).unwrap(), 2.0);
            check(x.mean_dims(&dims, keep).unwrap(), 2.0);
            check(x.amax(&dims, keep).unwrap(), 2.0);
            check(x.amin(&dims, keep).unwrap(), 2.0);
            check(x.prod_dims(&dims, keep).unwrap(), 2.0);
            check(x.var_dims(&dims, 0.0, keep).unwrap(), 0.0);
            check(x.std_dims(&dims, 0.0, keep).unwrap(), 0.0);
            check(x.logsumexp(&dims, keep).unwrap(), 2.0);
            check(x.norm(2.0, &dims, keep).unwrap(), 2.0);
            check(x.all_dims(&dims, keep).unwrap().to_dtype(DType::F64).unwrap(), 1.0);
            check(x.any_dims(&dims, keep).unwrap().to_dtype(DType::F64).unwrap(), 1.0);
        }
    }
    assert!(x.sum_dims(&[1], false).is_err());
    assert!(x.sum_dims(&[-2], false).is_err());
}

#[test]
fn reduction_over_dim_0_of_a_0_dim_tensor_has_a_gradient() {
    let x = Tensor::scalar(3.0f64).requires_grad_(true);
    x.sum_dims(&[0], false)
        .unwrap()
        .mul_scalar(2.0)
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(x.grad().unwrap().item_f64().unwrap(), 2.0);
}

// ---- 4. integer arithmetic wraps (as in PyTorch) instead of panicking ----

#[test]
fn integer_add_sub_mul_wrap() {
    let a = Tensor::from_vec(vec![0u8, 200], &[2]).unwrap();
    let b = Tensor::from_vec(vec![1u8, 100], &[2]).unwrap();
    assert_eq!(a.sub(&b).unwrap().to_vec::<u8>().unwrap(), vec![255, 100]);
    assert_eq!(a.add(&b).unwrap().to_vec::<u8>().unwrap(), vec![1, 44]);
    assert_eq!(a.mul(&b).unwrap().to_vec::<u8>().unwrap(), vec![0, 32]);
    let m = Tensor::from_vec(vec![i64::MAX], &[1]).unwrap();
    let one = Tensor::from_vec(vec![1i64], &[1]).unwrap();
    assert_eq!(m.add(&one).unwrap().to_vec::<i64>().unwrap(), vec![i64::MIN]);
    let i = Tensor::from_vec(vec![i32::MIN, 1 << 20], &[2]).unwrap();
    let j = Tensor::from_vec(vec![1i32, 1 << 12], &[2]).unwrap();
    assert_eq!(
        i.sub(&j).unwrap().to_vec::<i32>().unwrap(),
        vec![i32::MAX, (1 << 20) - (1 << 12)]
    );
    assert_eq!(i.mul(&j).unwrap().to_vec::<i32>().unwrap(), vec![i32::MIN, 0]);
}

#[test]
fn integer_scatter_add_and_index_add_wrap() {
    let x = Tensor::from_vec(vec![250u8, 0], &[2]).unwrap();
    let idx = Tensor::from_vec(vec![0i64, 0], &[2]).unwrap();
    let src = Tensor::from_vec(vec![3u8, 4], &[2]).unwrap();
    assert_eq!(
        x.scatter_add(0, &idx, &src).unwrap().to_vec::<u8>().unwrap(),
        vec![1, 0]
    );
    assert_eq!(x.index_add(0, &idx, &src).unwrap().to_vec::<u8>().unwrap(), vec![1, 0]);
}

#[test]
fn integer_pow_uses_the_full_exponent() {
    let b = Tensor::from_vec(vec![2i64, -1, 3], &[3]).unwrap();
    let e = Tensor::from_vec(vec![1i64 << 32, (1i64 << 32) + 1, 4], &[3]).unwrap();
    // 2^(2^32) wraps to 0 (a u32 cast would give 2^0 = 1).
    assert_eq!(b.pow(&e).unwrap().to_vec::<i64>().unwrap(), vec![0, -1, 81]);
    let u = Tensor::from_vec(vec![3u8], &[1]).unwrap();
    let ue = Tensor::from_vec(vec![5u8], &[1]).unwrap();
    assert_eq!(u.pow(&ue).unwrap().to_vec::<u8>().unwrap(), vec![243]);
}

// ---- 5. shape products are checked ----

#[test]
fn constructors_reject_overflowing_shapes() {
    let huge = [1usize << 32, 1 << 32];
    assert_err_contains(
        Tensor::from_vec(Vec::<f32>::new(), &huge),
        &["from_vec", "[4294967296, 4294967296]", "too large"],
    );
    assert_err_contains(
        Tensor::full(&[1 << 62], 1.0, DType::F32),
        &["full", "[4611686018427387904]", "too large"],
    );
    assert_err_contains(Tensor::rand(&huge, DType::F32), &["rand", "too large"]);
    assert_err_contains(Tensor::randn(&[1 << 61], DType::F64), &["randn", "too large"]);
    assert_err_contains(Tensor::randint(0, 5, &huge), &["randint", "too large"]);
    assert_err_contains(
        Tensor::linspace(0.0, 1.0, 1 << 62, DType::F32),
        &["linspace", "too large"],
    );
    assert_err_contains(Tensor::arange(0.0, 1e30, 1.0, DType::F32), &["arange"]);
    // A zero dim makes the product 0 however large the others are.
    assert_eq!(
        Tensor::from_vec(Vec::<f32>::new(), &[1 << 40, 1 << 40, 0])
            .unwrap()
            .numel(),
        0
    );
}

#[test]
fn zeros_panics_with_the_shape_on_an_overflowing_shape() {
    let r = std::panic::catch_unwind(|| Tensor::zeros(&[1 << 32, 1 << 32], DType::F32));
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("zeros") && msg.contains("too large"), "{msg}");
    let r = std::panic::catch_unwind(|| Tensor::eye(1 << 32, DType::F32));
    assert!(r.is_err());
}

#[test]
fn views_reject_overflowing_shapes() {
    let x = Tensor::zeros(&[1], DType::F32);
    assert_err_contains(x.expand(&[1i64 << 32, 1 << 32]), &["expand", "too large"]);
    assert_err_contains(x.broadcast_to(&[1 << 40, 1 << 40]), &["expand", "too large"]);
    let e = Tensor::zeros(&[0], DType::F32);
    assert_err_contains(e.reshape(&[1i64 << 32, 1 << 32, 1 << 32]), &["reshape", "too large"]);
    assert_eq!(e.reshape(&[1i64 << 40, 1 << 40, 0]).unwrap().numel(), 0);
    let a = Tensor::zeros(&[1, 1], DType::U8).expand(&[1i64 << 32, 1]).unwrap();
    let b = Tensor::zeros(&[1, 1], DType::U8).expand(&[1i64, 1 << 32]).unwrap();
    assert_err_contains(a.add(&b), &["add", "too large"]);
}

// ---- 6. narrow and expand argument checks ----

#[test]
fn narrow_past_the_end_is_an_error() {
    let x = tensor!([1.0, 2.0, 3.0, 4.0]);
    assert_err_contains(
        x.narrow(0, 2, 5),
        &["narrow", "start (2) + length (5) exceeds dimension size (4)"],
    );
    assert_err_contains(x.narrow(0, usize::MAX, 2), &["narrow"]);
    assert_eq!(x.narrow(0, 2, 2).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
    assert_eq!(x.narrow(0, 4, 0).unwrap().numel(), 0);
}

#[test]
fn expand_rejects_negative_sizes_and_minus_1_in_new_dims() {
    let x = tensor!([1.0, 2.0, 3.0]);
    assert_err_contains(x.expand(&[-5i64, 3]), &["expand", "invalid size -5"]);
    assert_err_contains(
        x.expand(&[-1i64, 3]),
        &["expand", "-1 is not allowed in a new leading dim"],
    );
    assert_eq!(x.expand(&[2i64, -1]).unwrap().shape(), &[2, 3]);
}

#[test]
fn empty_tensors_with_huge_other_dims_have_no_elements() {
    let t = Tensor::from_vec(Vec::<f32>::new(), &[0, 1 << 40, 1 << 40]).unwrap();
    assert_eq!(t.numel(), 0);
    assert_eq!(t.sum().unwrap().item_f64().unwrap(), 0.0);
}

// ---- 7. slice_scatter backward with an empty slice ----

#[test]
fn slice_scatter_backward_with_an_empty_slice_gives_src_shaped_zeros() {
    let x = tensor!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).requires_grad_(true);
    let src = Tensor::zeros(&[2, 0], DType::F32).requires_grad_(true);
    let y = x.slice_scatter(&src, 1, 1, 0, 1).unwrap();
    y.mul_scalar(2.0).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(src.grad().unwrap().shape(), &[2, 0]);
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![2.0; 6]);
}

// ---- 8. integer clamp is exact ----

#[test]
fn integer_clamp_is_exact_above_2_pow_53() {
    let big = (1i64 << 53) + 1;
    let x = Tensor::from_vec(vec![big, -big, 5], &[3]).unwrap();
    let c = x.clamp(Some(-(1i64 << 60) as f64), None).unwrap();
    assert_eq!(c.dtype(), DType::I64);
    assert_eq!(c.to_vec::<i64>().unwrap(), vec![big, -big, 5]);
    let c = x.clamp(Some(0.0), Some(10.0)).unwrap();
    assert_eq!(c.to_vec::<i64>().unwrap(), vec![10, 0, 5]);
    // min > max gives max everywhere, as in PyTorch.
    assert_eq!(
        x.clamp(Some(7.0), Some(3.0)).unwrap().to_vec::<i64>().unwrap(),
        vec![3, 3, 3]
    );
    // Bounds outside the dtype's range saturate.
    let u = Tensor::from_vec(vec![0u8, 200], &[2]).unwrap();
    assert_eq!(
        u.clamp(Some(-5.0), Some(1000.0)).unwrap().to_vec::<u8>().unwrap(),
        vec![0, 200]
    );
    let i = Tensor::from_vec(vec![i32::MAX, 0], &[2]).unwrap();
    assert_eq!(
        i.clamp(Some(1.0), None).unwrap().to_vec::<i32>().unwrap(),
        vec![i32::MAX, 1]
    );
}

#[test]
fn integer_clamp_with_a_fractional_bound_promotes_to_float() {
    let x = Tensor::from_vec(vec![0i64, 1, 2], &[3]).unwrap();
    let c = x.clamp(Some(0.5), None).unwrap();
    assert_eq!(c.dtype(), DType::F32);
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![0.5, 1.0, 2.0]);
    let c = x.clamp(None, Some(f64::INFINITY)).unwrap();
    assert_eq!(c.dtype(), DType::F32);
}

// ---- 9. pow backward at x = 0, y = 0 ----

#[test]
fn pow_gradient_at_zero_base_and_zero_exponent_is_zero() {
    let x = Tensor::from_vec(vec![0.0f64, 0.0, 2.0], &[3])
        .unwrap()
        .requires_grad_(true);
    let y = Tensor::from_vec(vec![0.0f64, 2.0, 0.0], &[3])
        .unwrap()
        .requires_grad_(true);
    x.pow(&y).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.0, 0.0]);
    assert_eq!(y.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.0, 2f64.ln()]);
    // A broadcast zero exponent.
    let x = Tensor::from_vec(vec![0.0f64, 3.0], &[2]).unwrap().requires_grad_(true);
    let y = Tensor::scalar(0.0f64);
    x.pow(&y).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.0, 0.0]);
}

// ---- 10. in-place fast paths keep the semantics ----

#[test]
fn in_place_updates_on_contiguous_views_write_through_and_bump_the_version() {
    let base = Tensor::from_vec((0..8).map(|v| v as f32).collect::<Vec<_>>(), &[2, 4]).unwrap();
    let row = base.select(0, 1).unwrap(); // contiguous view at offset 4
    let v0 = base.version();
    row.add_(&tensor!([1.0, 1.0, 1.0, 1.0])).unwrap();
    row.sub_(&Tensor::scalar(0.5f32)).unwrap();
    row.mul_(&tensor!([2.0, 2.0, 2.0, 2.0])).unwrap();
    row.add_scaled_(&tensor!([1.0, 2.0, 3.0, 4.0]), 0.5).unwrap();
    row.mul_scalar_(-1.0).unwrap();
    assert_eq!(base.version(), v0 + 5);
    let want: Vec<f32> = [4.0f32, 5.0, 6.0, 7.0]
        .iter()
        .zip([1.0f32, 2.0, 3.0, 4.0])
        .map(|(&x, y)| -(((x + 1.0) - 0.5) * 2.0 + 0.5 * y))
        .collect();
    let mut all = vec![0.0, 1.0, 2.0, 3.0];
    all.extend(want);
    assert_eq!(base.to_vec::<f32>().unwrap(), all);
    base.narrow(1, 1, 2).unwrap().fill_(9.0).unwrap(); // not contiguous: general path
    base.select(0, 0).unwrap().fill_(7.0).unwrap(); // contiguous view
    assert_eq!(base.version(), v0 + 7);
    assert_eq!(&base.to_vec::<f32>().unwrap()[..4], &[7.0, 7.0, 7.0, 7.0]);
    assert_eq!(base.to_vec::<f32>().unwrap()[5], 9.0);
    base.select(0, 1).unwrap().zero_().unwrap();
    assert_eq!(&base.to_vec::<f32>().unwrap()[4..], &[0.0; 4]);
}

#[test]
fn in_place_updates_with_aliasing_broadcast_and_transposed_operands() {
    let x = tensor!([[1.0, 2.0], [3.0, 4.0]]);
    x.add_(&x).unwrap(); // self-aliasing
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
    x.mul_(&x.t().unwrap()).unwrap(); // aliasing, transposed
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![4.0, 24.0, 24.0, 64.0]);
    x.sub_(&tensor!([1.0, 2.0])).unwrap(); // broadcast row
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![3.0, 22.0, 23.0, 62.0]);
    let y = tensor!([[1.0, 2.0], [3.0, 4.0]]);
    y.t().unwrap().add_(&tensor!([[10.0, 20.0], [30.0, 40.0]])).unwrap(); // non-contiguous self
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![11.0, 32.0, 23.0, 44.0]);
    y.copy_(&y.t().unwrap()).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![11.0, 23.0, 32.0, 44.0]);
    let z = Tensor::zeros(&[3], DType::F64);
    z.copy_(&tensor!([1.5, 2.5, 3.5])).unwrap(); // casts f32 -> f64
    assert_eq!(z.to_vec::<f64>().unwrap(), vec![1.5, 2.5, 3.5]);
    let u = Tensor::from_vec(vec![250u8, 1], &[2]).unwrap();
    u.add_(&Tensor::from_vec(vec![10u8, 1], &[2]).unwrap()).unwrap(); // wraps
    assert_eq!(u.to_vec::<u8>().unwrap(), vec![4, 2]);
    let i = Tensor::from_vec(vec![3i64, 4], &[2]).unwrap();
    i.mul_scalar_(-2.0).unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![-6, -8]);
}

#[test]
fn in_place_fast_path_still_refuses_leaves_requiring_grad() {
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    assert_err_contains(w.add_(&tensor!([1.0, 1.0])), &["add_", "leaf"]);
    assert_err_contains(w.fill_(0.0), &["fill_"]);
    no_grad(|| w.add_scaled_(&tensor!([1.0, 1.0]), -0.5)).unwrap();
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![0.5, 1.5]);
}

#[test]
fn repeat_and_integer_matmul_do_not_overflow_into_panics() {
    let t = kiln_tensor::Tensor::zeros(&[2, 3], kiln_tensor::DType::F32);
    let err = t.repeat(&[usize::MAX, 2]).unwrap_err().to_string();
    assert!(err.starts_with("repeat:"), "{err}");
    let a = kiln_tensor::Tensor::full(&[1, 16], 16.0, kiln_tensor::DType::U8).unwrap();
    let b = kiln_tensor::Tensor::full(&[16, 1], 16.0, kiln_tensor::DType::U8).unwrap();
    // 16 * 16 * 16 = 4096 wraps to 0 in u8, as in PyTorch.
    assert_eq!(a.matmul(&b).unwrap().to_vec::<u8>().unwrap(), vec![0]);
}
