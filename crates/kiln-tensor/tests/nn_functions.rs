//! The nn functions and losses: finite-difference gradient checks (f64, contiguous and
//! non-contiguous inputs), values against hand-computed numbers and naive loops, dropout
//! statistics and determinism, and error messages.

use kiln_tensor::functional::{self as F, CrossEntropyOptions, KlReduction, Reduction};
use kiln_tensor::testing::{assert_close, gradcheck, GradcheckOptions};
use kiln_tensor::{manual_seed, tensor, DType, Result, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Gradcheck of a function that itself takes a gradient with `create_graph` (a second
/// derivative): the finite-difference evaluations run without grad mode, so the inner gradient
/// is taken on a fresh leaf with recording switched back on.
fn check_double(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    let wrapped = |i: &[Tensor]| -> Result<Tensor> {
        if i[0].requires_grad() {
            return f(i);
        }
        kiln_tensor::enable_grad(|| {
            let leaves: Vec<Tensor> = i.iter().map(|t| t.detach().requires_grad_(true)).collect();
            Ok(f(&leaves)?.detach())
        })
    };
    check(name, wrapped, inputs);
}

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn i64s(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

/// Naive softmax of each row of `x` along the last dim.
fn naive_softmax(x: &[f64], n: usize) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|r| {
            let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter().map(move |v| (v - m).exp() / s).collect::<Vec<_>>()
        })
        .collect()
}

// ---- softmax / log_softmax ----

/// Tests here draw from the global generator, which every test thread shares; holding this lock
/// keeps one test's `manual_seed` and draws from interleaving with another's.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn softmax_values() {
    let _rng = rng_lock();
    let x = tensor!([[1.0, 2.0, 3.0], [1000.0, 1000.0, f32::NEG_INFINITY]]);
    let y = x.softmax(-1).unwrap();
    let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
    let s: f64 = e.iter().sum();
    let want = Tensor::from_vec(vec![e[0] / s, e[1] / s, e[2] / s, 0.5, 0.5, 0.0], &[2, 3])
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    assert_close(&y, &want, 1e-6, 1e-7);
    let ly = x.log_softmax(1).unwrap().to_vec_f64();
    assert!((ly[0] - (1.0 - s.ln())).abs() < 1e-6);
    assert!((ly[3] - (-std::f64::consts::LN_2)).abs() < 1e-6);
    assert_eq!(ly[5], f64::NEG_INFINITY);
    // Along dim 0 of the same tensor, against the naive loop on the transpose.
    let z = tensor!([[1.0, 5.0], [2.0, -1.0], [0.5, 0.0]]).softmax(0).unwrap();
    let t: Vec<f64> = naive_softmax(&[1.0, 2.0, 0.5, 5.0, -1.0, 0.0], 3);
    let want = Tensor::from_vec(t, &[2, 3]).unwrap().t().unwrap();
    assert_close(&z, &want.to_dtype(DType::F32).unwrap(), 1e-6, 1e-7);
    // A 0-dim input is one element: softmax 1, log_softmax 0.
    assert_eq!(Tensor::scalar(3.0f64).softmax(0).unwrap().item::<f64>().unwrap(), 1.0);
    assert_eq!(
        Tensor::scalar(3.0f64).log_softmax(-1).unwrap().item::<f64>().unwrap(),
        0.0
    );
}

#[test]
fn softmax_large_f32_matches_naive_every_dim() {
    let _rng = rng_lock();
    manual_seed(3);
    let x = Tensor::randn(&[6, 70, 9], DType::F32).unwrap().mul_scalar(4.0).unwrap();
    let xv = x.to_vec_f64();
    for dim in 0..3isize {
        let perm: Vec<isize> = (0..3).filter(|&d| d != dim).chain([dim]).collect();
        let moved = Tensor::from_vec(xv.clone(), &[6, 70, 9])
            .unwrap()
            .permute(&perm)
            .unwrap();
        let n = moved.shape()[2];
        let want = Tensor::from_vec(naive_softmax(&moved.to_vec_f64(), n), moved.shape()).unwrap();
        let got = x.softmax(dim).unwrap().permute(&perm).unwrap();
        assert_close(&got, &want.to_dtype(DType::F32).unwrap(), 1e-5, 1e-7);
        let lgot = x.log_softmax(dim).unwrap().permute(&perm).unwrap();
        assert_close(&lgot, &want.log().unwrap().to_dtype(DType::F32).unwrap(), 1e-5, 1e-5);
    }
    // A big row-parallel case and half precision.
    let big = Tensor::randn(&[300, 257], DType::F32).unwrap();
    let want = Tensor::from_vec(naive_softmax(&big.to_vec_f64(), 257), &[300, 257]).unwrap();
    assert_close(
        &big.softmax(-1).unwrap(),
        &want.to_dtype(DType::F32).unwrap(),
        1e-5,
        1e-8,
    );
    let h = big.to_dtype(DType::BF16).unwrap().softmax(-1).unwrap();
    assert_eq!(h.dtype(), DType::BF16);
    assert_close(&h.to_dtype(DType::F64).unwrap(), &want, 2e-2, 1e-4);
}

#[test]
fn softmax_gradcheck() {
    let _rng = rng_lock();
    manual_seed(4);
    let x = randn(&[3, 4, 5]);
    for dim in [-1isize, 0, 1] {
        check("softmax", |i| i[0].softmax(dim), &[&x]);
        check("log_softmax", |i| i[0].log_softmax(dim), &[&x]);
        // Non-contiguous input: a transposed view.
        check("softmax (transposed)", |i| i[0].transpose(0, 2)?.softmax(dim), &[&x]);
        check(
            "log_softmax (transposed)",
            |i| i[0].transpose(1, 2)?.log_softmax(dim),
            &[&x],
        );
    }
    // Sliced input with a step.
    check("softmax (sliced)", |i| i[0].slice(2, 0, None, 2)?.softmax(1), &[&x]);
}

#[test]
fn softmax_double_backward() {
    let _rng = rng_lock();
    manual_seed(5);
    let x = randn(&[2, 5]);
    // The gradient of sum(w * softmax(x)) is itself differentiable.
    let w = randn(&[2, 5]);
    for log in [false, true] {
        check_double(
            "softmax grad",
            |i| {
                let y = if log { i[0].log_softmax(1)? } else { i[0].softmax(1)? };
                let l = y.mul(&w)?.sum()?;
                let g = kiln_tensor::grad(&l, &[&i[0]], None, true)?.remove(0).unwrap();
                g.square()?.sum()
            },
            &[&x],
        );
    }
}

#[test]
fn softmax_errors() {
    let _rng = rng_lock();
    let e = tensor!([1, 2, 3]).softmax(0).unwrap_err().to_string();
    assert_eq!(
        e,
        "softmax: unsupported dtype int64 (expected a floating-point tensor; cast with to_dtype)"
    );
    let e = tensor!([1.0, 2.0]).log_softmax(2).unwrap_err().to_string();
    assert_eq!(e, "log_softmax: dimension 2 out of range for a tensor of rank 1");
}

// ---- layer_norm, batch_norm, group_norm, rms_norm ----

#[test]
fn layer_norm_values() {
    let _rng = rng_lock();
    // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25.
    let x = f64s(&[1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 2.0, 2.0], &[2, 4]);
    let y = x.layer_norm(&[4], None, None, 1e-5).unwrap().to_vec_f64();
    let r = 1.0 / (1.25f64 + 1e-5).sqrt();
    let want = [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r, 0.0, 0.0, 0.0, 0.0];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let w = f64s(&[1.0, 2.0, 3.0, 4.0], &[4]);
    let b = f64s(&[0.5, 0.5, 0.5, 0.5], &[4]);
    let y = x.layer_norm(&[4], Some(&w), Some(&b), 1e-5).unwrap().to_vec_f64();
    assert!((y[3] - (1.5 * r * 4.0 + 0.5)).abs() < 1e-12);
    assert!((y[5] - 0.5).abs() < 1e-12);
    // f32 with a large offset keeps its precision (statistics in f64).
    let xs: Vec<f32> = (0..1024).map(|i| 1000.0 + (i % 8) as f32 * 0.01).collect();
    let y = Tensor::from_vec(xs, &[2, 512])
        .unwrap()
        .layer_norm(&[512], None, None, 1e-5)
        .unwrap()
        .to_vec_f64();
    let mean = 0.035f64;
    let var = (0..8).map(|k| (k as f64 * 0.01 - mean).powi(2)).sum::<f64>() / 8.0;
    let want0 = (0.0 - mean) / (var + 1e-5).sqrt();
    assert!((y[0] - want0).abs() < 2e-3, "{} vs {want0}", y[0]);
}

#[test]
fn layer_norm_gradcheck() {
    let _rng = rng_lock();
    manual_seed(6);
    let x = randn(&[3, 2, 4]);
    let w = randn(&[2, 4]);
    let b = randn(&[2, 4]);
    let w1 = randn(&[4]);
    check("layer_norm", |i| i[0].layer_norm(&[4], None, None, 1e-5), &[&x]);
    check(
        "layer_norm 2 dims",
        |i| i[0].layer_norm(&[2, 4], None, None, 1e-5),
        &[&x],
    );
    check(
        "layer_norm affine",
        |i| i[0].layer_norm(&[2, 4], Some(&i[1]), Some(&i[2]), 1e-5),
        &[&x, &w, &b],
    );
    check(
        "layer_norm weight only",
        |i| i[0].layer_norm(&[4], Some(&i[1]), None, 1e-5),
        &[&x, &w1],
    );
    check(
        "layer_norm bias only",
        |i| i[0].layer_norm(&[4], None, Some(&i[1]), 1e-5),
        &[&x, &w1],
    );
    check(
        "layer_norm transposed",
        |i| i[0].transpose(0, 2)?.layer_norm(&[3], None, None, 1e-5),
        &[&x],
    );
    // Second derivatives (create_graph recomputes the statistics differentiably).
    check_double(
        "layer_norm double backward",
        |i| {
            let y = i[0].layer_norm(&[4], Some(&i[1]), None, 1e-5)?;
            let l = y.mul(&y)?.sum()?;
            let g = kiln_tensor::grad(&l, &[&i[0], &i[1]], None, true)?;
            g[0].clone()
                .unwrap()
                .square()?
                .sum()?
                .add(&g[1].clone().unwrap().sum()?)
        },
        &[&x, &w1],
    );
}

#[test]
fn layer_norm_errors() {
    let _rng = rng_lock();
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let e = x.layer_norm(&[4], None, None, 1e-5).unwrap_err().to_string();
    assert_eq!(
        e,
        "layer_norm: given normalized_shape=[4], expected input with shape [*, 4], but got input of size [2, 3]"
    );
    let w = Tensor::zeros(&[2], DType::F32);
    let e = x.layer_norm(&[3], Some(&w), None, 1e-5).unwrap_err().to_string();
    assert_eq!(e, "layer_norm: weight of shape [2] does not match [3]");
    let e = x.rms_norm(&[2, 3, 1], None, None).unwrap_err().to_string();
    assert!(e.starts_with("rms_norm: given normalized_shape=[2, 3, 1]"), "{e}");
}

#[test]
fn batch_norm_training_updates_running_stats() {
    let _rng = rng_lock();
    // [N=2, C=2, L=2]: channel 0 holds 1, 3, 5, 7; channel 1 holds 2, 2, 4, 4.
    let x = f64s(&[1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 4.0, 4.0], &[2, 2, 2]);
    let rm = f64s(&[0.0, 1.0], &[2]);
    let rv = f64s(&[1.0, 1.0], &[2]);
    let y = x
        .batch_norm(Some(&rm), Some(&rv), None, None, true, 0.1, 0.0)
        .unwrap()
        .to_vec_f64();
    // Channel 0: mean 4, biased var 5, unbiased 20/3. Channel 1: mean 3, var 1, unbiased 4/3.
    let s5 = 5f64.sqrt();
    let want = [-3.0 / s5, -1.0 / s5, -1.0, -1.0, 1.0 / s5, 3.0 / s5, 1.0, 1.0];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert_close(&rm, &f64s(&[0.4, 0.9 + 0.3], &[2]), 1e-12, 1e-12);
    assert_close(
        &rv,
        &f64s(&[0.9 + 0.1 * 20.0 / 3.0, 0.9 + 0.1 * 4.0 / 3.0], &[2]),
        1e-12,
        1e-12,
    );
    // Eval uses the running statistics.
    let w = f64s(&[2.0, 1.0], &[2]);
    let b = f64s(&[0.0, -1.0], &[2]);
    let y = x
        .batch_norm(Some(&rm), Some(&rv), Some(&w), Some(&b), false, 0.1, 1e-5)
        .unwrap()
        .to_vec_f64();
    let want0 = (1.0 - 0.4) / (0.9 + 2.0 / 3.0 + 1e-5f64).sqrt() * 2.0;
    assert!((y[0] - want0).abs() < 1e-12);
    // Eval does not touch the running statistics.
    assert_close(&rm, &f64s(&[0.4, 1.2], &[2]), 1e-12, 1e-12);
}

#[test]
fn norm_gradchecks() {
    let _rng = rng_lock();
    manual_seed(7);
    let x = randn(&[3, 4, 2, 2]);
    let w = randn(&[4]);
    let b = randn(&[4]);
    check(
        "batch_norm training",
        |i| i[0].batch_norm(None, None, Some(&i[1]), Some(&i[2]), true, 0.1, 1e-5),
        &[&x, &w, &b],
    );
    check(
        "batch_norm training (permuted input)",
        |i| {
            i[0].permute(&[0, 1, 3, 2])?
                .batch_norm(None, None, Some(&i[1]), None, true, 0.1, 1e-5)
        },
        &[&x, &w],
    );
    let rm = randn(&[4]);
    let rv = Tensor::rand(&[4], DType::F64).unwrap().add_scalar(0.5).unwrap();
    check(
        "batch_norm eval",
        |i| i[0].batch_norm(Some(&rm), Some(&rv), Some(&i[1]), Some(&i[2]), false, 0.1, 1e-5),
        &[&x, &w, &b],
    );
    check(
        "group_norm",
        |i| i[0].group_norm(2, Some(&i[1]), Some(&i[2]), 1e-5),
        &[&x, &w, &b],
    );
    check(
        "group_norm (transposed)",
        |i| i[0].transpose(2, 3)?.group_norm(4, None, None, 1e-5),
        &[&x],
    );
    let w2 = randn(&[2, 2]);
    check("rms_norm", |i| i[0].rms_norm(&[2, 2], Some(&i[1]), None), &[&x, &w2]);
    check(
        "rms_norm (transposed)",
        |i| i[0].transpose(0, 3)?.rms_norm(&[3], None, Some(1e-6)),
        &[&x],
    );
}

#[test]
fn group_and_rms_norm_values() {
    let _rng = rng_lock();
    // One sample, 4 channels of one value each, 2 groups: {1, 3} and {10, 10}.
    let x = f64s(&[1.0, 3.0, 10.0, 10.0], &[1, 4, 1]);
    let y = x.group_norm(2, None, None, 0.0).unwrap().to_vec_f64();
    assert_eq!(y[..2], [-1.0, 1.0]);
    assert!(y[2].is_nan(), "zero variance with eps 0 divides by zero");
    let y = x.group_norm(2, None, None, 1e-5).unwrap().to_vec_f64();
    assert_eq!(y[2], 0.0);
    let e = x.group_norm(3, None, None, 1e-5).unwrap_err().to_string();
    assert_eq!(
        e,
        "group_norm: expected number of channels in input to be divisible by num_groups, but got input of shape [1, 4, 1] and num_groups=3"
    );
    // rms of [3, 4] is sqrt(12.5).
    let y = f64s(&[3.0, 4.0], &[1, 2])
        .rms_norm(&[2], None, Some(0.0))
        .unwrap()
        .to_vec_f64();
    assert!((y[0] - 3.0 / 12.5f64.sqrt()).abs() < 1e-15);
    let e = f64s(&[1.0], &[1, 1])
        .batch_norm(None, None, None, None, true, 0.1, 1e-5)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "batch_norm: expected more than 1 value per channel when training, got input size [1, 1]"
    );
    let e = f64s(&[1.0, 2.0], &[2, 1])
        .batch_norm(None, None, None, None, false, 0.1, 1e-5)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "batch_norm: running_mean and running_var must be given in evaluation mode (training=false)"
    );
}

// ---- dropout, embedding, attention ----

#[test]
fn dropout_statistics_and_determinism() {
    let _rng = rng_lock();
    let x = Tensor::ones(&[100_000], DType::F32);
    manual_seed(42);
    let a = x.dropout(0.3, true).unwrap().to_vec::<f32>().unwrap();
    manual_seed(42);
    let b = x.dropout(0.3, true).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(a, b, "same seed, same mask");
    let c = x.dropout(0.3, true).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(a, c, "the generator advances");
    let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / a.len() as f64;
    assert!((kept - 0.7).abs() < 0.01, "kept fraction {kept}");
    assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
    assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
    // p = 1 gives zeros; eval and p = 0 are identities.
    assert!(x
        .dropout(1.0, true)
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
    assert_eq!(
        x.dropout(0.5, false).unwrap().to_vec::<f32>().unwrap(),
        x.to_vec::<f32>().unwrap()
    );
    let e = x.dropout(1.5, true).unwrap_err().to_string();
    assert_eq!(e, "dropout: dropout probability has to be between 0 and 1, but got 1.5");
}

#[test]
fn dropout_gradient_uses_the_mask() {
    let _rng = rng_lock();
    let x = randn(&[50]).requires_grad_(true);
    manual_seed(9);
    let y = x.dropout(0.4, true).unwrap();
    y.sum().unwrap().backward().unwrap();
    let g = x.grad().unwrap().to_vec_f64();
    let yv = y.to_vec_f64();
    let xv = x.to_vec_f64();
    for i in 0..50 {
        // y = x * mask, so dy/dx = mask = y / x.
        assert!((g[i] * xv[i] - yv[i]).abs() < 1e-12);
        assert!(g[i] == 0.0 || (g[i] - 1.0 / 0.6).abs() < 1e-12);
    }
    // Gradcheck with a fixed seed for each evaluation.
    let x = randn(&[4, 5]);
    check(
        "dropout",
        |i| {
            manual_seed(11);
            i[0].t()?.dropout(0.5, true)
        },
        &[&x],
    );
}

#[test]
fn embedding_values_grad_and_errors() {
    let _rng = rng_lock();
    let w = f64s(&[0.0, 0.1, 1.0, 1.1, 2.0, 2.1], &[3, 2]).requires_grad_(true);
    let idx = i64s(&[2, 0, 2, 1], &[2, 2]);
    let y = Tensor::embedding(&w, &idx, Some(0)).unwrap();
    assert_eq!(y.shape(), &[2, 2, 2]);
    assert_eq!(y.to_vec_f64(), vec![2.0, 2.1, 0.0, 0.1, 2.0, 2.1, 1.0, 1.1]);
    y.sum().unwrap().backward().unwrap();
    // Row 2 is used twice, row 1 once, row 0 is the padding row (no gradient).
    assert_eq!(w.grad().unwrap().to_vec_f64(), vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
    // Negative padding_idx counts from the end; int32 indices work too.
    let idx32 = Tensor::from_slice(&[2i32, 1], &[2]).unwrap();
    let w2 = randn(&[3, 2]);
    check(
        "embedding",
        |i| Tensor::embedding(&i[0], &idx32, Some(-3))?.mul(&i[0].narrow(0, 0, 2)?),
        &[&w2],
    );
    check(
        "embedding (free fn)",
        |i| F::embedding(&idx, &i[0].t()?.t()?, None),
        &[&w2],
    );
    // Double backward through EmbeddingBackward.
    check_double(
        "embedding double backward",
        |i| {
            let y = Tensor::embedding(&i[0], &idx, Some(1))?;
            let l = y.square()?.sum()?;
            let g = kiln_tensor::grad(&l, &[&i[0]], None, true)?.remove(0).unwrap();
            g.square()?.sum()
        },
        &[&w2],
    );
    let e = Tensor::embedding(&w, &i64s(&[0, 3], &[2]), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "embedding: index 3 is out of range for a weight with 3 rows ([3, 2])"
    );
    let e = Tensor::embedding(&w, &i64s(&[-1], &[1]), None).unwrap_err().to_string();
    assert_eq!(
        e,
        "embedding: index -1 is out of range for a weight with 3 rows ([3, 2])"
    );
    let e = Tensor::embedding(&w, &i64s(&[0], &[1]), Some(3))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "embedding: padding_idx 3 must be within num_embeddings (3)");
    let e = Tensor::embedding(&w, &f64s(&[0.0], &[1]), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "embedding: unsupported dtype float64 (indices must be int64 or int32)"
    );
}

/// Naive attention for one head: q [L, E], k [S, E], v [S, Ev], keep[L][S].
#[allow(clippy::too_many_arguments)]
fn naive_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<f64> {
    let mut out = vec![0.0; l * ev];
    for i in 0..l {
        let scores: Vec<f64> = (0..s)
            .map(|j| {
                let d: f64 = (0..e).map(|t| q[i * e + t] * k[j * e + t]).sum();
                if keep(i, j) {
                    d / (e as f64).sqrt()
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let p = naive_softmax(&scores, s);
        for j in 0..s {
            for t in 0..ev {
                out[i * ev + t] += p[j] * v[j * ev + t];
            }
        }
    }
    out
}

#[test]
fn attention_values_and_grad() {
    let _rng = rng_lock();
    manual_seed(12);
    let (l, s, e, ev) = (3, 4, 2, 3);
    let q = randn(&[l, e]);
    let k = randn(&[s, e]);
    let v = randn(&[s, ev]);
    let (qv, kv, vv) = (q.to_vec_f64(), k.to_vec_f64(), v.to_vec_f64());
    let y = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None).unwrap();
    let want = naive_attention(&qv, &kv, &vv, l, s, e, ev, |_, _| true);
    assert_close(&y, &f64s(&want, &[l, ev]), 1e-12, 1e-12);
    let y = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, true, None).unwrap();
    let want = naive_attention(&qv, &kv, &vv, l, s, e, ev, |i, j| j <= i);
    assert_close(&y, &f64s(&want, &[l, ev]), 1e-12, 1e-12);
    // A bool mask keeps where true; a fully masked row gives zeros.
    let keep = [
        true, false, true, true, false, false, false, false, true, true, true, true,
    ];
    let mask = Tensor::from_slice(&keep, &[l, s]).unwrap();
    let y = F::scaled_dot_product_attention(&q, &k, &v, Some(&mask), 0.0, false, None).unwrap();
    let want = naive_attention(&qv, &kv, &vv, l, s, e, ev, |i, j| keep[i * s + j]);
    let yv = y.to_vec_f64();
    for t in 0..ev {
        assert!((yv[t] - want[t]).abs() < 1e-12);
        assert_eq!(yv[ev + t], 0.0);
        assert!((yv[2 * ev + t] - want[2 * ev + t]).abs() < 1e-12);
    }
    // A float mask of 0 / -inf is the same as the bool mask on the rows that keep something.
    let fmask = mask
        .logical_not()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .mul_scalar(-1e30)
        .unwrap();
    let yf = F::scaled_dot_product_attention(&q, &k, &v, Some(&fmask), 0.0, false, Some(1.0 / 2f64.sqrt()))
        .unwrap()
        .to_vec_f64();
    assert!((yf[0] - want[0]).abs() < 1e-12);
    let qb = randn(&[2, l, e]);
    check(
        "sdpa causal, batched, transposed k",
        |i| {
            let kt = i[1].t()?.t()?;
            Tensor::scaled_dot_product_attention(&i[0], &kt, &i[2], None, 0.0, true, None)
        },
        &[&qb, &k, &v],
    );
    check(
        "sdpa float mask",
        |i| Tensor::scaled_dot_product_attention(&i[0], &i[1], &i[2], Some(&i[3]), 0.0, false, Some(0.7)),
        &[&q, &k, &v, &randn(&[l, s])],
    );
    let e = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&mask), 0.0, true, None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=true"
    );
    let e = Tensor::scaled_dot_product_attention(&q, &v.t().unwrap(), &v, None, 0.0, false, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("scaled_dot_product_attention: q [..., L, E], k [..., S, E]"),
        "{e}"
    );
}

// ---- losses ----

#[test]
fn cross_entropy_values() {
    let _rng = rng_lock();
    // Logits [0, ln 2, ln 3]: softmax = [1/6, 2/6, 3/6].
    let (l2, l3) = (2f64.ln(), 3f64.ln());
    let x = f64s(&[0.0, l2, l3, l3, l2, 0.0], &[2, 3]);
    let t = i64s(&[2, 0], &[2]);
    let ce = |o: CrossEntropyOptions| F::cross_entropy(&x, &t, o).unwrap().to_vec_f64();
    let (a, b) = (-(0.5f64).ln(), -(0.5f64).ln());
    assert!((ce(Default::default())[0] - (a + b) / 2.0).abs() < 1e-12);
    let sum = ce(CrossEntropyOptions {
        reduction: Reduction::Sum,
        ..Default::default()
    });
    assert!((sum[0] - (a + b)).abs() < 1e-12);
    let none = ce(CrossEntropyOptions {
        reduction: Reduction::None,
        ..Default::default()
    });
    assert_eq!(none.len(), 2);
    assert!((none[0] - a).abs() < 1e-12);
    // Weights [1, 2, 3]: targets 2 and 0 weigh 3 and 1; the mean divides by 4.
    let w = f64s(&[1.0, 2.0, 3.0], &[3]);
    let wm = ce(CrossEntropyOptions {
        weight: Some(&w),
        ..Default::default()
    });
    assert!((wm[0] - (3.0 * a + 1.0 * b) / 4.0).abs() < 1e-12);
    // ignore_index drops the second sample from both the sum and the denominator.
    let t2 = i64s(&[2, -100], &[2]);
    let ig = F::cross_entropy(&x, &t2, Default::default())
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((ig - a).abs() < 1e-12);
    // Label smoothing 0.3: (1 - 0.3) * nll + 0.3 / 3 * (-sum of log p).
    let smooth = ce(CrossEntropyOptions {
        label_smoothing: 0.3,
        reduction: Reduction::None,
        ..Default::default()
    });
    let sum_logp = (1.0f64 / 6.0).ln() + (2.0f64 / 6.0).ln() + 0.5f64.ln();
    assert!((smooth[0] - (0.7 * a - 0.1 * sum_logp)).abs() < 1e-12);
    // Probability targets: -sum p log q.
    let p = f64s(&[0.2, 0.3, 0.5, 1.0, 0.0, 0.0], &[2, 3]);
    let pr = F::cross_entropy(&x, &p, Default::default())
        .unwrap()
        .item::<f64>()
        .unwrap();
    let q = [1.0f64 / 6.0, 2.0 / 6.0, 0.5];
    let r0 = -(0.2 * q[0].ln() + 0.3 * q[1].ln() + 0.5 * q[2].ln());
    let r1 = -(q[2].ln());
    assert!((pr - (r0 + r1) / 2.0).abs() < 1e-12);
    // Unbatched [C] input with a 0-dim target.
    let u = F::cross_entropy(&f64s(&[0.0, l2, l3], &[3]), &Tensor::scalar(1i64), Default::default())
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((u - (3.0f64).ln()).abs() < 1e-12);
}

#[test]
fn cross_entropy_gradchecks() {
    let _rng = rng_lock();
    manual_seed(13);
    let x = randn(&[4, 5]);
    let t = i64s(&[1, 4, -100, 0], &[4]);
    let w = Tensor::rand(&[5], DType::F64).unwrap().add_scalar(0.5).unwrap();
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smoothing in [0.0, 0.2] {
            let opts = CrossEntropyOptions {
                weight: Some(&w),
                ignore_index: -100,
                reduction,
                label_smoothing: smoothing,
            };
            check("cross_entropy weighted", |i| F::cross_entropy(&i[0], &t, opts), &[&x]);
            let plain = CrossEntropyOptions {
                reduction,
                label_smoothing: smoothing,
                ..Default::default()
            };
            check(
                "cross_entropy (transposed)",
                |i| F::cross_entropy(&i[0].t()?, &t, plain),
                &[&x.t().unwrap().contiguous().unwrap()],
            );
            // Probability targets, differentiable in the target too.
            let p = randn(&[4, 5]).softmax(1).unwrap();
            check(
                "cross_entropy probs",
                |i| F::cross_entropy(&i[0], &i[1], opts),
                &[&x, &p],
            );
        }
    }
    // Spatial [N, C, d] inputs.
    let xs = randn(&[2, 3, 4]);
    let ts = i64s(&[0, 1, 2, 1, 2, 2, 0, -100], &[2, 4]);
    let ts_nll = i64s(&[0, 1, 2, 1, 2, 2, 0, 1], &[2, 4]);
    check(
        "cross_entropy spatial",
        |i| {
            F::cross_entropy(
                &i[0],
                &ts,
                CrossEntropyOptions {
                    weight: Some(&w.narrow(0, 0, 3)?),
                    label_smoothing: 0.1,
                    ..Default::default()
                },
            )
        },
        &[&xs],
    );
    check(
        "nll_loss",
        |i| F::nll_loss(&i[0].log_softmax(1)?, &ts_nll, None, 2, Reduction::Mean),
        &[&xs],
    );
}

#[test]
fn cross_entropy_errors() {
    let _rng = rng_lock();
    let x = Tensor::zeros(&[2, 3], DType::F32);
    let e = F::cross_entropy(&x, &i64s(&[0, 1, 2], &[3]), Default::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cross_entropy: expected a class-index target of shape [2] for input of shape [2, 3], got [3]"
    );
    let e = F::cross_entropy(&x, &i64s(&[0, 3], &[2]), Default::default())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "cross_entropy: target 3 is out of bounds for 3 classes");
    let e = F::nll_loss(&x, &i64s(&[-1, 0], &[2]), None, -100, Reduction::Mean)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "nll_loss: target -1 is out of bounds for 3 classes");
    let e = F::cross_entropy(&x, &Tensor::zeros(&[2, 4], DType::F32), Default::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cross_entropy: target of shape [2, 4] must have the input's shape [2, 3]"
    );
    let w = Tensor::ones(&[2], DType::F32);
    let opts = CrossEntropyOptions {
        weight: Some(&w),
        ..Default::default()
    };
    let e = F::cross_entropy(&x, &i64s(&[0, 1], &[2]), opts)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cross_entropy: weight of shape [2] must have shape [3] (one per class)"
    );
    let e = F::binary_cross_entropy(&x, &Tensor::zeros(&[2], DType::F32), None, Reduction::Mean)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "binary_cross_entropy: target of shape [2] must have the input's shape [2, 3]"
    );
    let e = F::binary_cross_entropy(&x.add_scalar(2.0).unwrap(), &x, None, Reduction::Mean)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "binary_cross_entropy: all elements of input should be between 0 and 1"
    );
}

#[test]
fn regression_and_binary_losses_values() {
    let _rng = rng_lock();
    let x = f64s(&[1.0, -2.0, 0.5], &[3]);
    let y = f64s(&[0.0, 0.0, 0.0], &[3]);
    let v = |t: Tensor| t.to_vec_f64();
    assert_eq!(v(F::mse_loss(&x, &y, Reduction::Sum).unwrap()), vec![5.25]);
    assert_eq!(v(F::mse_loss(&x, &y, Reduction::Mean).unwrap()), vec![1.75]);
    assert_eq!(v(F::l1_loss(&x, &y, Reduction::None).unwrap()), vec![1.0, 2.0, 0.5]);
    // beta 1: |1| -> 0.5, |-2| -> 1.5, |0.5| -> 0.125.
    assert_eq!(
        v(F::smooth_l1_loss(&x, &y, Reduction::None, 1.0).unwrap()),
        vec![0.5, 1.5, 0.125]
    );
    assert_eq!(v(F::smooth_l1_loss(&x, &y, Reduction::Sum, 0.0).unwrap()), vec![3.5]);
    // BCE: -log(0.8) for t=1, -log(1-0.25) for t=0; log(0) clamps to -100.
    let p = f64s(&[0.8, 0.25, 0.0], &[3]);
    let t = f64s(&[1.0, 0.0, 1.0], &[3]);
    let b = v(F::binary_cross_entropy(&p, &t, None, Reduction::None).unwrap());
    assert!((b[0] + 0.8f64.ln()).abs() < 1e-12 && (b[1] + 0.75f64.ln()).abs() < 1e-12);
    assert_eq!(b[2], 100.0);
    // Saturated probabilities (exactly 0 and 1) keep a finite gradient.
    let ps = f64s(&[0.0, 1.0, 0.5], &[3]).requires_grad_(true);
    let ts = f64s(&[1.0, 1.0, 0.0], &[3]);
    F::binary_cross_entropy(&ps, &ts, None, Reduction::Sum)
        .unwrap()
        .backward()
        .unwrap();
    let g = ps.grad().unwrap().to_vec_f64();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    assert!((g[2] - 2.0).abs() < 1e-12);
    // With logits: BCE(sigmoid(z)) computed stably, also for large |z|.
    let z = f64s(&[0.0, 2.0, -800.0], &[3]);
    let t = f64s(&[1.0, 0.0, 0.0], &[3]);
    let b = v(F::binary_cross_entropy_with_logits(&z, &t, None, None, Reduction::None).unwrap());
    assert!((b[0] - 2f64.ln()).abs() < 1e-12);
    assert!((b[1] - (1.0 + 2f64.exp()).ln()).abs() < 1e-12);
    assert_eq!(b[2], 0.0);
    let pw = f64s(&[3.0], &[1]);
    let b = v(F::binary_cross_entropy_with_logits(&z, &t, None, Some(&pw), Reduction::None).unwrap());
    assert!((b[0] - 3.0 * 2f64.ln()).abs() < 1e-12);
    // KL: target [0.5, 0.5, 0] vs log q = log [0.25, 0.75, 0] (last term is 0).
    let lq = f64s(&[0.25f64.ln(), 0.75f64.ln(), -1.0], &[1, 3]);
    let tp = f64s(&[0.5, 0.5, 0.0], &[1, 3]);
    let want = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
    let k = F::kl_div(&lq, &tp, KlReduction::BatchMean, false)
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((k - want).abs() < 1e-12);
    let k = F::kl_div(&lq, &tp, Reduction::Mean.into(), false)
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((k - want / 3.0).abs() < 1e-12);
    let lt = f64s(&[0.5f64.ln(), 0.5f64.ln(), -1e3], &[1, 3]);
    let k = F::kl_div(&lq, &lt, KlReduction::Sum, true)
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((k - want).abs() < 1e-12);
}

#[test]
fn loss_gradchecks() {
    let _rng = rng_lock();
    manual_seed(14);
    let x = randn(&[3, 4]);
    let y = randn(&[3, 4]);
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        check("mse_loss", |i| F::mse_loss(&i[0], &i[1], r), &[&x, &y]);
        check("l1_loss", |i| F::l1_loss(&i[0].t()?, &i[1].t()?, r), &[&x, &y]);
        check("smooth_l1_loss", |i| F::smooth_l1_loss(&i[0], &i[1], r, 0.7), &[&x, &y]);
        let p = Tensor::rand(&[3, 4], DType::F64)
            .unwrap()
            .mul_scalar(0.8)
            .unwrap()
            .add_scalar(0.1)
            .unwrap();
        let t = Tensor::rand(&[3, 4], DType::F64).unwrap();
        let w = Tensor::rand(&[4], DType::F64).unwrap();
        check(
            "binary_cross_entropy",
            |i| F::binary_cross_entropy(&i[0], &i[1], Some(&w), r),
            &[&p, &t],
        );
        check(
            "bce_with_logits",
            |i| F::binary_cross_entropy_with_logits(&i[0].t()?, &i[1].t()?, None, Some(&w.narrow(0, 0, 3)?), r),
            &[&x, &t],
        );
        check(
            "bce_with_logits weighted",
            |i| F::binary_cross_entropy_with_logits(&i[0], &i[1], Some(&w), None, r),
            &[&x, &t],
        );
    }
    let lq = randn(&[3, 4]).log_softmax(1).unwrap();
    let tp = randn(&[3, 4]).softmax(1).unwrap();
    for r in [
        KlReduction::None,
        KlReduction::Mean,
        KlReduction::Sum,
        KlReduction::BatchMean,
    ] {
        check("kl_div", |i| F::kl_div(&i[0], &i[1], r, false), &[&lq, &tp]);
        check(
            "kl_div log_target",
            |i| F::kl_div(&i[0], &i[1].log()?, r, true),
            &[&lq, &tp],
        );
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// softmax / log_softmax over any dim of any small shape match the naive loop, also on
        /// a transposed view.
        #[test]
        fn softmax_matches_naive(
            shape in proptest::collection::vec(1usize..6, 1..4),
            dim_pick in 0usize..3,
            seed in 0u64..1000,
            transpose in any::<bool>(),
        ) {
            manual_seed(seed);
            let x = Tensor::randn(&shape, DType::F64).unwrap().mul_scalar(3.0).unwrap();
            let x = if transpose && shape.len() > 1 { x.transpose(0, -1).unwrap() } else { x };
            let r = x.rank();
            let dim = dim_pick % r;
            let perm: Vec<isize> = (0..r as isize).filter(|&d| d != dim as isize).chain([dim as isize]).collect();
            let moved = x.permute(&perm).unwrap();
            let n = moved.shape()[r - 1];
            let want = Tensor::from_vec(naive_softmax(&moved.to_vec_f64(), n), moved.shape()).unwrap();
            let got = x.softmax(dim as isize).unwrap().permute(&perm).unwrap();
            assert_close(&got, &want, 1e-12, 1e-14);
            let lgot = x.log_softmax(dim as isize).unwrap().permute(&perm).unwrap();
            assert_close(&lgot, &want.log().unwrap(), 1e-10, 1e-12);
        }

        /// layer_norm over the last k dims matches the naive loop in f32.
        #[test]
        fn layer_norm_matches_naive(
            shape in proptest::collection::vec(1usize..7, 1..4),
            k_pick in 1usize..4,
            seed in 0u64..1000,
        ) {
            manual_seed(seed);
            let x = Tensor::randn(&shape, DType::F32).unwrap().add_scalar(5.0).unwrap();
            let k = 1 + (k_pick - 1) % shape.len();
            let ns = &shape[shape.len() - k..];
            let n: usize = ns.iter().product();
            let y = x.layer_norm(ns, None, None, 1e-5).unwrap().to_vec_f64();
            let xv = x.to_vec_f64();
            for (row, yr) in xv.chunks(n).zip(y.chunks(n)) {
                let mu = row.iter().sum::<f64>() / n as f64;
                let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n as f64;
                for (v, got) in row.iter().zip(yr) {
                    let want = (v - mu) / (var + 1e-5).sqrt();
                    prop_assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "{} vs {}", got, want);
                }
            }
        }
    }
}
