//! Finite-difference gradient checks (f64) of the elementwise, reduction, matmul and view ops,
//! on contiguous, broadcast and non-contiguous inputs.

use kiln_tensor::testing::{gradcheck, GradcheckOptions};
use kiln_tensor::{manual_seed, DType, Result, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

/// Values in (0.5, 2): safe for log, sqrt, reciprocal, pow.
fn positive(shape: &[usize]) -> Tensor {
    Tensor::rand(shape, DType::F64)
        .unwrap()
        .mul_scalar(1.5)
        .unwrap()
        .add_scalar(0.5)
        .unwrap()
}

type UnaryCase = (&'static str, fn(&Tensor) -> Result<Tensor>);

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap();
}

#[test]
fn unary_ops() {
    manual_seed(1);
    let x = randn(&[3, 4]);
    let p = positive(&[3, 4]);
    let on_x: Vec<UnaryCase> = vec![
        ("neg", |t| t.neg()),
        ("abs", |t| t.abs()),
        ("exp", |t| t.exp()),
        ("expm1", |t| t.expm1()),
        ("square", |t| t.square()),
        ("sin", |t| t.sin()),
        ("cos", |t| t.cos()),
        ("tanh", |t| t.tanh()),
        ("sigmoid", |t| t.sigmoid()),
        ("relu", |t| t.relu()),
        ("silu", |t| t.silu()),
        ("erf", |t| t.erf()),
        ("gelu", |t| t.gelu("none")),
        ("gelu_tanh", |t| t.gelu("tanh")),
        ("leaky_relu", |t| t.leaky_relu(0.1)),
        ("elu", |t| t.elu(1.3)),
        ("softplus", |t| t.softplus(1.5, 20.0)),
        ("clamp", |t| t.clamp(Some(-0.5), Some(0.7))),
    ];
    for (name, f) in on_x {
        // On the transposed view too: a non-contiguous input.
        gradcheck(|i| f(&i[0]), &[&x], GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        gradcheck(|i| f(&i[0].t()?), &[&x], GradcheckOptions::default())
            .unwrap_or_else(|e| panic!("{name} (transposed): {e}"));
    }
    let on_p: Vec<UnaryCase> = vec![
        ("log", |t| t.log()),
        ("log1p", |t| t.log1p()),
        ("sqrt", |t| t.sqrt()),
        ("rsqrt", |t| t.rsqrt()),
        ("reciprocal", |t| t.reciprocal()),
        ("pow_scalar", |t| t.pow_scalar(2.5)),
        ("pow_scalar_neg", |t| t.pow_scalar(-1.5)),
    ];
    for (name, f) in on_p {
        gradcheck(|i| f(&i[0].slice(1, 0, None, 2)?), &[&p], GradcheckOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    manual_seed(2);
    let a = randn(&[2, 3, 4]);
    let b = randn(&[3, 1]);
    for f in [
        |i: &[Tensor]| i[0].add(&i[1]),
        |i: &[Tensor]| i[0].sub(&i[1]),
        |i: &[Tensor]| i[0].mul(&i[1]),
        |i: &[Tensor]| i[0].maximum(&i[1]),
        |i: &[Tensor]| i[0].minimum(&i[1]),
    ] {
        check(f, &[&a, &b]);
        check(f, &[&b, &a]);
    }
    let p = positive(&[3, 4]);
    check(|i| i[0].div(&i[1]), &[&a, &p]);
    check(|i| i[0].pow(&i[1]), &[&p, &b]);
    check(|i| i[0].transpose(0, 2)?.mul(&i[1].t()?.unsqueeze(-1)?), &[&a, &p]);
}

#[test]
fn where_and_masked_fill() {
    manual_seed(3);
    let a = randn(&[3, 4]);
    let b = randn(&[4]);
    check(|i| i[0].where_(&i[0].gt_scalar(0.0)?, &i[1]), &[&a, &b]);
    check(|i| i[0].masked_fill(&i[0].lt_scalar(0.0)?, 2.0), &[&a]);
}

#[test]
fn sum_and_mean() {
    manual_seed(4);
    let x = randn(&[2, 3, 4]);
    check(|i| i[0].sum(), &[&x]);
    check(|i| i[0].sum_dims(&[1], false), &[&x]);
    check(|i| i[0].sum_dims(&[0, 2], true), &[&x]);
    check(|i| i[0].mean_dims(&[-1], false), &[&x]);
    check(|i| i[0].permute(&[2, 0, 1])?.mean_dims(&[0, 1], true), &[&x]);
}

#[test]
fn matmul_all_ranks() {
    manual_seed(5);
    let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![4], vec![4]),
        (vec![3, 4], vec![4]),
        (vec![4], vec![4, 5]),
        (vec![3, 4], vec![4, 5]),
        (vec![2, 3, 4], vec![4, 5]),
        (vec![2, 1, 3, 4], vec![3, 4, 2]),
    ];
    for (sa, sb) in cases {
        check(|i| i[0].matmul(&i[1]), &[&randn(&sa), &randn(&sb)]);
    }
    // Transposed operands go to gemm as strides.
    check(|i| i[0].t()?.matmul(&i[1].t()?), &[&randn(&[4, 3]), &randn(&[5, 4])]);
    check(|i| i[0].outer(&i[1]), &[&randn(&[3]), &randn(&[2])]);
}

#[test]
fn views() {
    manual_seed(6);
    let x = randn(&[2, 3, 4]);
    check(|i| i[0].reshape(&[4, -1]), &[&x]);
    check(|i| i[0].transpose(0, 2)?.reshape(&[-1]), &[&x]);
    check(|i| i[0].narrow(2, 1, 2), &[&x]);
    check(|i| i[0].slice(1, -2, None, 1)?.slice(2, 0, None, 3), &[&x]);
    check(|i| i[0].select(1, -1), &[&x]);
    check(|i| i[0].unsqueeze(1)?.expand(&[2, 5, 3, 4]), &[&x]);
    check(|i| i[0].flatten(0, 1)?.squeeze(), &[&x]);
    check(|i| Ok(i[0].chunk(2, 2)?[1].clone()), &[&x]);
    // Through f32: the finite difference needs a step f32 can resolve.
    let coarse = GradcheckOptions {
        eps: 1e-2,
        atol: 1e-4,
        rtol: 1e-3,
    };
    gradcheck(|i| i[0].to_dtype(DType::F32)?.to_dtype(DType::F64), &[&x], coarse).unwrap();
}
