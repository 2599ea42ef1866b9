//! Reductions, scans and sorts: finite-difference gradient checks (keepdim, several dims,
//! non-contiguous inputs, ties and zeros, double backward), a property test against naive loops,
//! and error messages. Values are tested in `reductions_values.rs`.

use kiln_tensor::testing::{gradcheck, GradcheckOptions};
use kiln_tensor::{manual_seed, DType, Result, Tensor};
use proptest::prelude::*;

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn err(r: Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

// ---- gradient checks ----

#[test]
fn grad_prod_with_and_without_zeros() {
    manual_seed(10);
    let x = randn(&[2, 3, 4]);
    check("prod all", |i| i[0].prod(), &[&x]);
    check("prod dim", |i| i[0].prod_dims(&[1], false), &[&x]);
    check("prod dims keepdim", |i| i[0].prod_dims(&[0, 2], true), &[&x]);
    check(
        "prod transposed",
        |i| i[0].transpose(0, 2)?.prod_dims(&[-1], false),
        &[&x],
    );
    // Rows with one zero, two zeros, and none.
    let z = f64s(&[0.0, 2.0, 3.0, -1.5, 0.0, 1.5, 0.0, 2.0, 0.7, 1.1, -0.4, 2.2], &[3, 4]);
    check("prod zeros rows", |i| i[0].prod_dims(&[1], false), &[&z]);
    check("prod zeros cols", |i| i[0].prod_dims(&[0], true), &[&z]);
    check("prod zeros transposed", |i| i[0].t()?.prod_dims(&[0], false), &[&z]);
    check("prod zeros all", |i| i[0].slice(0, 1, None, 1)?.prod(), &[&z]);
}

#[test]
fn grad_max_min_along_dim() {
    manual_seed(11);
    let x = randn(&[3, 4, 5]);
    for keepdim in [false, true] {
        check("max_dim", |i| Ok(i[0].max_dim(1, keepdim)?.0), &[&x]);
        check("min_dim", |i| Ok(i[0].min_dim(-1, keepdim)?.0), &[&x]);
        check(
            "max_dim transposed",
            |i| Ok(i[0].transpose(0, 2)?.max_dim(0, keepdim)?.0),
            &[&x],
        );
    }
}

#[test]
fn grad_amax_amin_split_ties() {
    manual_seed(12);
    let x = randn(&[3, 4, 5]);
    for keepdim in [false, true] {
        check("amax", |i| i[0].amax(&[0, 2], keepdim), &[&x]);
        check("amin", |i| i[0].amin(&[-1], keepdim), &[&x]);
        check(
            "amax transposed",
            |i| i[0].permute(&[2, 0, 1])?.amax(&[1], keepdim),
            &[&x],
        );
    }
    check("max all", |i| i[0].max(), &[&x]);
    check("min all", |i| i[0].min(), &[&x]);
    // A two-way tie: the central difference sees slope 1/2, which the even split gives.
    let t = f64s(&[1.0, 3.0, 3.0, -2.0, 0.5, 0.5], &[2, 3]);
    check("amax tie", |i| i[0].amax(&[1], false), &[&t]);
    check("amin tie", |i| i[0].amin(&[1], true), &[&t]);
}

#[test]
fn grad_var_std() {
    manual_seed(13);
    let x = randn(&[3, 4, 5]);
    for keepdim in [false, true] {
        for correction in [0.0, 1.0] {
            check("var", |i| i[0].var_dims(&[1], correction, keepdim), &[&x]);
            check("std", |i| i[0].std_dims(&[0, 2], correction, keepdim), &[&x]);
        }
    }
    check("var all", |i| i[0].var(), &[&x]);
    check(
        "std transposed",
        |i| i[0].transpose(1, 2)?.std_dims(&[-1], 1.0, false),
        &[&x],
    );
}

#[test]
fn grad_logsumexp() {
    manual_seed(14);
    let x = randn(&[3, 4, 5]);
    for keepdim in [false, true] {
        check("logsumexp", |i| i[0].logsumexp(&[1], keepdim), &[&x]);
        check("logsumexp dims", |i| i[0].logsumexp(&[0, 2], keepdim), &[&x]);
    }
    check("logsumexp all", |i| i[0].logsumexp(&[], false), &[&x]);
    check(
        "logsumexp transposed",
        |i| i[0].transpose(0, 2)?.logsumexp(&[-1], false),
        &[&x],
    );
}

#[test]
fn grad_norms() {
    manual_seed(15);
    let x = randn(&[3, 4, 5]);
    for p in [1.0, 2.0, 3.0, 0.5, f64::INFINITY] {
        for keepdim in [false, true] {
            check(&format!("norm {p}"), |i| i[0].norm(p, &[-1], keepdim), &[&x]);
        }
        check(
            &format!("norm {p} dims"),
            |i| i[0].transpose(0, 1)?.norm(p, &[0, 2], false),
            &[&x],
        );
        check(&format!("norm {p} all"), |i| i[0].norm(p, &[], false), &[&x]);
    }
}

#[test]
fn grad_cumsum() {
    manual_seed(16);
    let x = randn(&[3, 4, 5]);
    for dim in [0, 1, -1] {
        check("cumsum", |i| i[0].cumsum(dim), &[&x]);
        check("cumsum transposed", |i| i[0].transpose(0, 2)?.cumsum(dim), &[&x]);
    }
}

#[test]
fn grad_sort_topk() {
    manual_seed(17);
    let x = randn(&[3, 4, 5]);
    for descending in [false, true] {
        check("sort", |i| Ok(i[0].sort(1, descending)?.0), &[&x]);
        check(
            "sort transposed",
            |i| Ok(i[0].transpose(0, 2)?.sort(-1, descending)?.0),
            &[&x],
        );
    }
    for largest in [false, true] {
        check("topk", |i| Ok(i[0].topk(2, -1, largest, true)?.0), &[&x]);
        check(
            "topk dim0",
            |i| Ok(i[0].t()?.topk(3, 0, largest, false)?.0),
            &[&randn(&[4, 5])],
        );
    }
}

#[test]
fn double_backward_through_sort_prod_logsumexp() {
    manual_seed(18);
    let x = randn(&[2, 4]);
    let w = randn(&[2, 4]);
    // d/dx of sum(w * sort(x)^2), itself differentiated by gradcheck.
    let grad_fn = |f: fn(&Tensor) -> Result<Tensor>| {
        move |i: &[Tensor]| -> Result<Tensor> {
            // gradcheck evaluates under no_grad with plain leaves: the inner gradient needs a
            // recorded graph either way.
            kiln_tensor::enable_grad(|| {
                let x = if i[0].requires_grad() {
                    i[0].clone()
                } else {
                    i[0].detach().requires_grad_(true)
                };
                let y = f(&x)?.square()?.mul(&i[1])?.sum()?;
                Ok(kiln_tensor::grad(&y, &[&x], None, true)?[0].clone().unwrap())
            })
        }
    };
    check("sort''", grad_fn(|t| Ok(t.sort(1, false)?.0)), &[&x, &w]);
    check(
        "topk''",
        grad_fn(|t| Ok(t.topk(2, 1, true, true)?.0)),
        &[&x, &w.slice(1, 0, Some(2), 1).unwrap()],
    );
    check(
        "max_dim''",
        grad_fn(|t| Ok(t.max_dim(1, true)?.0)),
        &[&x, &w.slice(1, 0, Some(1), 1).unwrap()],
    );
    check(
        "prod''",
        grad_fn(|t| t.prod_dims(&[1], true)),
        &[&x, &w.slice(1, 0, Some(1), 1).unwrap()],
    );
    check(
        "logsumexp''",
        grad_fn(|t| t.logsumexp(&[1], false)),
        &[&x, &w.select(1, 0).unwrap()],
    );
    check(
        "norm''",
        grad_fn(|t| t.norm(3.0, &[1], false)),
        &[&x, &w.select(1, 0).unwrap()],
    );
}

// ---- errors ----

#[test]
fn error_messages() {
    let x = randn(&[2, 3]);
    assert_eq!(
        err(x.max_dim(2, false)),
        "max: dimension 2 out of range for a tensor of rank 2"
    );
    assert_eq!(
        err(x.argmin(Some(-3), false)),
        "argmin: dimension -3 out of range for a tensor of rank 2"
    );
    assert_eq!(
        err(x.prod_dims(&[0, -2], false)),
        "prod: dim 0 appears more than once in [0, -2]"
    );
    assert_eq!(
        err(x.cumsum(5)),
        "cumsum: dimension 5 out of range for a tensor of rank 2"
    );
    assert_eq!(
        err(x.sort(-3, false)),
        "sort: dimension -3 out of range for a tensor of rank 2"
    );
    assert_eq!(
        err(x.topk(4, 1, true, true)),
        "topk: k (4) is out of range for dim 1 of size 3 (input of shape [2, 3])"
    );
    let ints = Tensor::from_slice(&[1i64, 2], &[2]).unwrap();
    assert_eq!(
        err(ints.var()),
        "var: unsupported dtype int64 (var and std need a floating-point tensor; cast with to_dtype)"
    );
    assert_eq!(
        err(ints.std_dims(&[0], 1.0, false)),
        "std: unsupported dtype int64 (var and std need a floating-point tensor; cast with to_dtype)"
    );
    assert_eq!(
        err(ints.norm(2.0, &[], false)),
        "norm: unsupported dtype int64 (norm needs a floating-point tensor; cast with to_dtype)"
    );
    assert_eq!(err(x.norm(f64::NAN, &[], false)), "norm: the order p must not be NaN");
    let empty = Tensor::zeros(&[2, 0], DType::F32);
    assert_eq!(
        err(empty.max_dim(1, false)),
        "max: expected reduction dim 1 to have non-zero size (input of shape [2, 0])"
    );
    assert_eq!(
        err(empty.amax(&[1], false)),
        "amax: expected reduction dim 1 to have non-zero size (input of shape [2, 0])"
    );
    assert_eq!(
        err(empty.argmax(None, false)),
        "argmax: cannot take the argmax of an empty tensor of shape [2, 0] without a dim"
    );
    assert_eq!(
        err(Tensor::zeros(&[0], DType::F32).max()),
        "max: expected reduction dim 0 to have non-zero size (input of shape [0])"
    );
    // Reducing a kept empty dim is fine.
    assert_eq!(empty.amax(&[0], false).unwrap().shape(), &[0]);
}

// ---- property test against naive loops ----

/// Naive reduction of `x` (logical row-major values of `shape`) over `dims`: folds every input
/// element into its output slot.
fn naive(values: &[f64], shape: &[usize], dims: &[usize], init: f64, f: fn(f64, f64) -> f64) -> Vec<f64> {
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !dims.contains(i))
        .map(|(_, &s)| s)
        .collect();
    let mut out = vec![init; out_shape.iter().product()];
    for (flat, &v) in values.iter().enumerate() {
        let mut rem = flat;
        let mut idx = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        let mut o = 0;
        for (d, &i) in idx.iter().enumerate() {
            if !dims.contains(&d) {
                o = o * shape[d] + i;
            }
        }
        out[o] = f(out[o], v);
    }
    out
}

fn case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<bool>, bool, u64)> {
    (1usize..=4).prop_flat_map(|r| {
        (
            proptest::collection::vec(1usize..=4, r),
            Just((0..r).collect::<Vec<usize>>()).prop_shuffle(),
            proptest::collection::vec(any::<bool>(), r),
            any::<bool>(),
            any::<u64>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reductions_match_naive_loops((shape, perm, pick, keepdim, seed) in case()) {
        manual_seed(seed);
        // Half the cases take every other element along dim 0 of a twice-as-long tensor (a
        // non-unit stride); all are permuted (the identity keeps the contiguous fast path).
        let base = if seed % 2 == 1 {
            let mut big = shape.clone();
            big[0] *= 2;
            Tensor::randn(&big, DType::F64).unwrap().slice(0, 1, None, 2).unwrap()
        } else {
            Tensor::randn(&shape, DType::F64).unwrap()
        };
        let iperm: Vec<isize> = perm.iter().map(|&p| p as isize).collect();
        let x = base.permute(&iperm).unwrap();
        let xs = x.shape().to_vec();
        let values = x.to_vec_f64();
        let dims: Vec<usize> = (0..xs.len()).filter(|&d| pick[d]).collect();
        let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
        let all: Vec<usize> = (0..xs.len()).collect();
        let eff = if dims.is_empty() { &all } else { &dims };
        let count: usize = eff.iter().map(|&d| xs[d]).product();
        let mut expect_shape = Vec::new();
        for (d, &s) in xs.iter().enumerate() {
            if !eff.contains(&d) {
                expect_shape.push(s);
            } else if keepdim {
                expect_shape.push(1);
            }
        }
        let sum = naive(&values, &xs, eff, 0.0, |a, b| a + b);
        let prod = naive(&values, &xs, eff, 1.0, |a, b| a * b);
        let max = naive(&values, &xs, eff, f64::NEG_INFINITY, f64::max);
        let mean: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
        let got = [
            ("sum", x.sum_dims(&idims, keepdim).unwrap(), sum),
            ("prod", x.prod_dims(&idims, keepdim).unwrap(), prod),
            ("amax", x.amax(&idims, keepdim).unwrap(), max),
            ("mean", x.mean_dims(&idims, keepdim).unwrap(), mean),
        ];
        for (name, t, want) in got {
            prop_assert_eq!(t.shape(), &expect_shape[..], "{}", name);
            for (a, b) in t.to_vec_f64().iter().zip(&want) {
                prop_assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{}: {} vs {}", name, a, b);
            }
        }
        // max_dim over the last picked dim (or dim 0), against the same loop.
        let d = dims.last().copied().unwrap_or(0);
        let (v, i) = x.max_dim(d as isize, keepdim).unwrap();
        let want = naive(&values, &xs, &[d], f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(v.to_vec_f64(), want);
        // The indices point at the values.
        let (n, inner): (usize, usize) = (xs[d], xs[d + 1..].iter().product());
        for (row, &k) in i.to_vec::<i64>().unwrap().iter().enumerate() {
            let (o, j) = (row / inner, row % inner);
            prop_assert_eq!(values[(o * n + k as usize) * inner + j], v.to_vec_f64()[row]);
        }
    }
}
