//! `clip_grad_norm_` and `clip_grad_value_` against PyTorch (`fixtures/optim/generate.py`).

use kiln_nn::clip_grad::{clip_grad_norm_, clip_grad_value_};
use kiln_tensor::{tensor, DType, Result, Tensor};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/optim/clip_grad.json");

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn shapes(fx: &Value) -> Vec<Vec<usize>> {
    fx["shapes"]
        .as_array()
        .expect("shapes")
        .iter()
        .map(|s| {
            s.as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim") as usize)
                .collect()
        })
        .collect()
}

/// Parameters of the fixture's shapes with its gradients, in `dtype`.
fn params(fx: &Value, dtype: DType) -> Result<Vec<Tensor>> {
    shapes(fx)
        .iter()
        .zip(fx["grads"].as_array().expect("grads"))
        .map(|(s, g)| {
            let p = kiln_nn::parameter(Tensor::zeros(s, dtype));
            p.set_grad(Some(Tensor::from_vec(floats(g), s)?.to_dtype(dtype)?));
            Ok(p)
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
    }
}

#[test]
fn clip_grad_norm_matches_pytorch() -> Result<()> {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture JSON");
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-6)] {
        for case in fx["norm_cases"].as_array().expect("cases") {
            let norm_type = match &case["norm_type"] {
                Value::String(s) if s == "inf" => f64::INFINITY,
                v => v.as_f64().expect("norm type"),
            };
            let max_norm = case["max_norm"].as_f64().expect("max_norm");
            let ps = params(&fx, dtype)?;
            let total = clip_grad_norm_(&ps, max_norm, norm_type, true)?;
            let what = format!("norm {norm_type}, max {max_norm}, {dtype}");
            assert_close(&[total], &[case["total_norm"].as_f64().expect("total")], tol, &what);
            for (p, want) in ps.iter().zip(case["grads"].as_array().expect("grads")) {
                assert_close(&p.grad().expect("grad").to_vec_f64(), &floats(want), tol, &what);
            }
        }
    }
    Ok(())
}

#[test]
fn clip_grad_value_matches_pytorch() -> Result<()> {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture JSON");
    let case = &fx["value_case"];
    let ps = params(&fx, DType::F64)?;
    clip_grad_value_(&ps, case["clip_value"].as_f64().expect("clip value"))?;
    for (p, want) in ps.iter().zip(case["grads"].as_array().expect("grads")) {
        assert_eq!(p.grad().expect("grad").to_vec_f64(), floats(want));
    }
    Ok(())
}

#[test]
fn clipping_skips_params_without_grad_and_reports_nonfinite_norms() -> Result<()> {
    let a = kiln_nn::parameter(tensor!([0.0, 0.0]));
    let b = kiln_nn::parameter(tensor!([0.0]));
    assert_eq!(clip_grad_norm_(&[a.clone(), b.clone()], 1.0, 2.0, true)?, 0.0);
    a.set_grad(Some(tensor!([3.0, 4.0])));
    assert_eq!(clip_grad_norm_(&[a.clone(), b.clone()], 10.0, 2.0, true)?, 5.0);
    assert_eq!(
        a.grad().expect("grad").to_vec::<f32>()?,
        vec![3.0, 4.0],
        "not clipped below max_norm"
    );
    assert!(b.grad().is_none());

    a.set_grad(Some(tensor!([f32::INFINITY, 1.0])));
    let err = clip_grad_norm_(std::slice::from_ref(&a), 1.0, 2.0, true).expect_err("non-finite norm");
    assert!(err.to_string().contains("inf"), "{err}");
    assert_eq!(
        a.grad().expect("grad").to_vec::<f32>()?,
        vec![f32::INFINITY, 1.0],
        "unchanged on error"
    );
    assert!(clip_grad_norm_(std::slice::from_ref(&a), 1.0, f64::NAN, false).is_err());

    a.set_grad(Some(tensor!([f32::NAN, -3.0])));
    clip_grad_value_(&[a.clone(), b], 1.0)?;
    let g = a.grad().expect("grad").to_vec::<f32>()?;
    assert!(g[0].is_nan() && g[1] == -1.0);
    Ok(())
}
