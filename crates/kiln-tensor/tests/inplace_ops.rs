//! Fused in-place ops (`fused_update_`, `addcmul_`, `addcdiv_`, `lerp_`, `maximum_`): values,
//! broadcasting, strided outputs, the version counter and the no_grad rule.

use kiln_tensor::{no_grad, tensor, DType, Result, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64()
}

#[test]
fn pointwise_ops_match_their_formulas() -> Result<()> {
    let a = Tensor::from_vec(vec![1.0f64, -2.0, 0.5, 4.0], &[2, 2])?;
    let t1 = Tensor::from_vec(vec![0.5f64, 1.5, -3.0, 2.0], &[2, 2])?;
    let t2 = Tensor::from_vec(vec![2.0f64, -4.0, 0.25, 8.0], &[2, 2])?;

    let x = a.deep_clone()?;
    x.addcmul_(&t1, &t2, 0.3)?;
    let want: Vec<f64> = (0..4)
        .map(|i| f64s(&a)[i] + 0.3 * f64s(&t1)[i] * f64s(&t2)[i])
        .collect();
    assert_eq!(f64s(&x), want);

    let x = a.deep_clone()?;
    x.addcdiv_(&t1, &t2, -0.7)?;
    let want: Vec<f64> = (0..4)
        .map(|i| f64s(&a)[i] + -0.7 * f64s(&t1)[i] / f64s(&t2)[i])
        .collect();
    assert_eq!(f64s(&x), want);

    for w in [0.0, 0.3, 0.5, 0.9, 1.0] {
        let x = a.deep_clone()?;
        x.lerp_(&t1, w)?;
        for (i, (s, e)) in f64s(&a).iter().zip(f64s(&t1)).enumerate() {
            assert!((f64s(&x)[i] - (s + w * (e - s))).abs() < 1e-15, "lerp weight {w}");
        }
        if w == 1.0 {
            assert_eq!(f64s(&x), f64s(&t1), "weight 1 gives end exactly");
        }
    }

    let x = Tensor::from_vec(vec![1.0f32, f32::NAN, -3.0, 2.0], &[4])?;
    x.maximum_(&Tensor::from_vec(vec![2.0f32, 0.0, -4.0, f32::NAN], &[4])?)?;
    let v = x.to_vec::<f32>()?;
    assert_eq!((v[0], v[2]), (2.0, -3.0));
    assert!(v[1].is_nan() && v[3].is_nan(), "NaN propagates as in torch.maximum");
    Ok(())
}

#[test]
fn inputs_broadcast_and_cast() -> Result<()> {
    let x = Tensor::zeros(&[2, 3], DType::F32);
    x.addcmul_(&tensor!([1.0, 2.0, 3.0]), &Tensor::scalar(2.0f64), 1.0)?;
    assert_eq!(x.to_vec::<f32>()?, vec![2.0, 4.0, 6.0, 2.0, 4.0, 6.0]);
    assert!(
        x.addcmul_(&tensor!([1.0, 2.0]), &tensor!(1.0), 1.0).is_err(),
        "[2] does not broadcast to [2, 3]"
    );
    Ok(())
}

#[test]
fn fused_update_writes_all_outputs_in_one_pass() -> Result<()> {
    let p = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
    let m = Tensor::zeros(&[3], DType::F64);
    let g = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], &[3])?;
    let (vp, vm, vg) = (p.version(), m.version(), g.version());
    Tensor::fused_update_([&p, &m], [&g], |o, i| {
        o[1] = 0.9 * o[1] + i[0];
        o[0] -= 0.1 * o[1];
    })?;
    assert_eq!(f64s(&m), vec![0.5, -1.0, 2.0]);
    assert_eq!(f64s(&p), vec![1.0 - 0.05, 2.0 + 0.1, 3.0 - 0.2]);
    assert!(p.version() > vp && m.version() > vm, "outputs bump their version");
    assert_eq!(g.version(), vg, "inputs are only read");

    // An input that is also an output is read from a copy taken before the update.
    Tensor::fused_update_([&p], [&p], |o, i| o[0] += i[0])?;
    assert_eq!(f64s(&p), vec![1.9, 4.2, 5.6]);

    // Two outputs sharing storage are refused.
    let err = Tensor::fused_update_([&p, &p.detach()], [], |_, _| {}).expect_err("aliased outputs");
    assert!(err.to_string().contains("shares its storage"), "{err}");
    // Outputs must agree on dtype and shape.
    let err = Tensor::fused_update_([&p, &Tensor::zeros(&[3], DType::F32)], [], |_, _| {}).expect_err("dtypes");
    assert!(err.to_string().contains("float64"), "{err}");
    assert!(Tensor::fused_update_([&p, &Tensor::zeros(&[4], DType::F64)], [], |_, _| {}).is_err());
    assert!(Tensor::fused_update_([&Tensor::zeros(&[2], DType::I64)], [], |_, _| {}).is_err());
    Ok(())
}

#[test]
fn strided_and_half_outputs_are_updated_through_a_copy() -> Result<()> {
    let base = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3])?;
    let col = base.t()?; // [3, 2], not contiguous
    col.addcmul_(&tensor!([1.0, 10.0]), &Tensor::scalar(1.0f64), 1.0)?;
    assert_eq!(
        f64s(&base),
        vec![1.0, 2.0, 3.0, 13.0, 14.0, 15.0],
        "writes land in the shared buffer"
    );

    let h = Tensor::from_vec(vec![1.0f64, 2.0], &[2])?.to_dtype(DType::F16)?;
    h.lerp_(&tensor!([3.0, 4.0]), 0.5)?;
    assert_eq!((h.dtype(), f64s(&h)), (DType::F16, vec![2.0, 3.0]));
    Ok(())
}

#[test]
fn leaves_that_require_grad_need_no_grad() -> Result<()> {
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    let g = tensor!([1.0, 1.0]);
    let err = w.addcdiv_(&g, &g, 1.0).expect_err("leaf in grad mode");
    assert!(err.to_string().contains("fused_update_"), "{err}");
    assert_eq!(w.to_vec::<f32>()?, vec![1.0, 2.0]);
    no_grad(|| w.addcdiv_(&g, &g, 1.0))?;
    assert_eq!(w.to_vec::<f32>()?, vec![2.0, 3.0]);
    let y = w.mul_scalar(2.0)?;
    assert!(
        y.lerp_(&g, 0.5).is_err(),
        "a tensor of the graph cannot be modified in place"
    );
    Ok(())
}

#[test]
fn long_tensors_split_into_blocks_and_threads_give_the_same_values() -> Result<()> {
    let n = 100_003; // several threads' chunks and a partial last block
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let x = Tensor::from_vec(a.clone(), &[n])?;
    x.lerp_(&Tensor::from_vec(b.clone(), &[n])?, 0.25)?;
    let want: Vec<f64> = a.iter().zip(&b).map(|(s, e)| s + 0.25 * (e - s)).collect();
    assert_eq!(x.to_vec::<f64>()?, want);
    Ok(())
}
