//! `kiln_nn::init` against `torch.nn.init`: gains and fans from PyTorch
//! (`tests/fixtures/conv/init.json`), distribution moments and bounds on large tensors,
//! orthogonality, seeded reproducibility, and writes to parameters.

mod conv_common;

use kiln_nn::init::{self, FanMode, Nonlinearity};
use kiln_nn::parameter;
use kiln_tensor::{manual_seed, DType, Tensor};

/// Tests here draw from the global generator, which every test thread shares; holding this lock
/// keeps one test's `manual_seed` and draws from interleaving with another's.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn moments(t: &Tensor) -> (f64, f64, f64, f64) {
    let v = t.to_vec_f64();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, std, min, max)
}

#[track_caller]
fn near(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: {got} vs {want} (tol {tol})");
}

fn nonlinearity(name: &str) -> Nonlinearity {
    match name {
        "linear" => Nonlinearity::Linear,
        "conv1d" => Nonlinearity::Conv1d,
        "conv2d" => Nonlinearity::Conv2d,
        "conv3d" => Nonlinearity::Conv3d,
        "conv_transpose1d" => Nonlinearity::ConvTranspose1d,
        "conv_transpose2d" => Nonlinearity::ConvTranspose2d,
        "conv_transpose3d" => Nonlinearity::ConvTranspose3d,
        "sigmoid" => Nonlinearity::Sigmoid,
        "tanh" => Nonlinearity::Tanh,
        "relu" => Nonlinearity::Relu,
        "leaky_relu" => Nonlinearity::LeakyRelu,
        "selu" => Nonlinearity::Selu,
        other => panic!("unknown nonlinearity {other}"),
    }
}

#[test]
fn calculate_gain_matches_pytorch() {
    let _rng = rng_lock();
    let gains = conv_common::load("init.json")["gains"].as_array().unwrap().clone();
    assert_eq!(gains.len(), 14);
    for g in &gains {
        let name = g[0].as_str().unwrap();
        let got = init::calculate_gain(nonlinearity(name), g[1].as_f64());
        near(name, got, g[2].as_f64().unwrap(), 1e-12);
    }
}

#[test]
fn fans_match_pytorch() {
    let _rng = rng_lock();
    for f in conv_common::load("init.json")["conv_fans"].as_array().unwrap() {
        let t = Tensor::zeros(&conv_common::shape(&f["weight_shape"]), DType::F32);
        let (fi, fo) = init::calculate_fan_in_and_fan_out(&t).unwrap();
        assert_eq!(fi as u64, f["fan_in"].as_u64().unwrap());
        assert_eq!(fo as u64, f["fan_out"].as_u64().unwrap());
    }
    let e = init::calculate_fan_in_and_fan_out(&Tensor::zeros(&[5], DType::F32)).unwrap_err();
    assert!(e.to_string().contains("fewer than 2 dims"), "{e}");
}

#[test]
fn uniform_normal_constant_eye() {
    let _rng = rng_lock();
    manual_seed(1);
    let t = Tensor::zeros(&[200_000], DType::F32);
    init::uniform_(&t, -2.0, 3.0).unwrap();
    let (mean, std, min, max) = moments(&t);
    near("uniform mean", mean, 0.5, 0.02);
    near("uniform std", std, 5.0 / 12f64.sqrt(), 0.01);
    assert!(min >= -2.0 && max < 3.0 && min < -1.99 && max > 2.99);

    init::normal_(&t, 1.5, 0.5).unwrap();
    let (mean, std, _, _) = moments(&t);
    near("normal mean", mean, 1.5, 0.005);
    near("normal std", std, 0.5, 0.005);

    init::constant_(&t, 0.25).unwrap();
    assert!(t.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.25));
    init::zeros_(&t).unwrap();
    assert!(t.to_vec::<f32>().unwrap().iter().all(|&v| v == 0.0));
    init::ones_(&t).unwrap();
    assert!(t.to_vec::<f32>().unwrap().iter().all(|&v| v == 1.0));

    let e = Tensor::full(&[2, 3], 7.0, DType::F64).unwrap();
    init::eye_(&e).unwrap();
    assert_eq!(e.to_vec::<f64>().unwrap(), vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let err = init::eye_(&Tensor::zeros(&[2, 2, 2], DType::F32)).unwrap_err();
    assert!(err.to_string().contains("eye_"), "{err}");
}

#[test]
fn xavier_and_kaiming_moments() {
    let _rng = rng_lock();
    manual_seed(2);
    // fan_in = 64·9 = 576, fan_out = 128·9 = 1152.
    let w = Tensor::zeros(&[128, 64, 3, 3], DType::F32);
    let (fan_in, fan_out) = (576.0f64, 1152.0f64);

    init::xavier_uniform_(&w, 2.0).unwrap();
    let b = 2.0 * (6.0 / (fan_in + fan_out)).sqrt();
    let (mean, std, min, max) = moments(&w);
    near("xavier_uniform mean", mean, 0.0, 0.01 * b);
    near("xavier_uniform std", std, b / 3f64.sqrt(), 0.01 * b);
    assert!(min >= -b && max <= b && max > 0.99 * b);

    init::xavier_normal_(&w, 1.0).unwrap();
    let s = (2.0 / (fan_in + fan_out)).sqrt();
    near("xavier_normal std", moments(&w).1, s, 0.01 * s);

    init::kaiming_uniform_(&w, 0.0, FanMode::FanIn, Nonlinearity::Relu).unwrap();
    let b = 2f64.sqrt() * (3.0 / fan_in).sqrt();
    let (_, std, min, max) = moments(&w);
    near("kaiming_uniform std", std, b / 3f64.sqrt(), 0.01 * b);
    assert!(min >= -b && max <= b && max > 0.99 * b);

    init::kaiming_normal_(&w, 0.0, FanMode::FanOut, Nonlinearity::Relu).unwrap();
    let s = 2f64.sqrt() / fan_out.sqrt();
    near("kaiming_normal fan_out std", moments(&w).1, s, 0.01 * s);

    init::kaiming_normal_(&w, 0.2, FanMode::FanIn, Nonlinearity::LeakyRelu).unwrap();
    let s = (2.0 / 1.04f64).sqrt() / fan_in.sqrt();
    near("kaiming_normal leaky std", moments(&w).1, s, 0.01 * s);
}

#[test]
fn trunc_normal_matches_pytorch_moments() {
    let _rng = rng_lock();
    manual_seed(3);
    for c in conv_common::load("init.json")["trunc_normal"].as_array().unwrap() {
        let f = |k: &str| c[k].as_f64().unwrap();
        let (mean, std, a, b) = (f("mean"), f("std"), f("a"), f("b"));
        let t = Tensor::zeros(&[400_000], DType::F64);
        init::trunc_normal_(&t, mean, std, a, b).unwrap();
        let (m, s, min, max) = moments(&t);
        assert!(min >= a && max <= b, "bounds [{a}, {b}]: {min} {max}");
        near("trunc_normal mean", m, f("sample_mean"), 0.01 * std);
        near("trunc_normal std", s, f("sample_std"), 0.01 * std);
    }
    let e = init::trunc_normal_(&Tensor::zeros(&[3], DType::F32), 0.0, 1.0, 2.0, -2.0).unwrap_err();
    assert!(e.to_string().contains("trunc_normal_"), "{e}");
}

fn check_orthogonal(rows: usize, cols: usize, gain: f64) {
    let t = Tensor::zeros(&[rows, cols], DType::F64);
    init::orthogonal_(&t, gain).unwrap();
    let q = t.to_vec::<f64>().unwrap();
    // Tall: QᵀQ = gain²·I (orthonormal columns); wide: QQᵀ = gain²·I (orthonormal rows).
    let tall = rows >= cols;
    let (n, len) = if tall { (cols, rows) } else { (rows, cols) };
    let at = |v: usize, k: usize| if tall { q[k * cols + v] } else { q[v * cols + k] };
    for i in 0..n {
        for j in 0..n {
            let d: f64 = (0..len).map(|k| at(i, k) * at(j, k)).sum();
            let want = if i == j { gain * gain } else { 0.0 };
            near(&format!("{rows}x{cols} gram[{i}][{j}]"), d, want, 1e-10);
        }
    }
}

#[test]
fn orthogonal_gives_orthonormal_rows_or_columns() {
    let _rng = rng_lock();
    manual_seed(4);
    check_orthogonal(12, 5, 1.0);
    check_orthogonal(5, 12, 2.0);
    check_orthogonal(7, 7, 1.0);
    // More than 2 dims: viewed as [rows, numel / rows].
    let t = Tensor::zeros(&[4, 2, 3], DType::F32);
    init::orthogonal_(&t, 1.0).unwrap();
    let r = t.reshape(&[4, 6]).unwrap();
    let g = r.matmul(&r.t().unwrap()).unwrap();
    kiln_tensor::testing::assert_close(&g, &Tensor::eye(4, DType::F32), 0.0, 1e-5);
    let e = init::orthogonal_(&Tensor::zeros(&[4], DType::F32), 1.0).unwrap_err();
    assert!(e.to_string().contains("2 or more dimensions"), "{e}");
}

#[test]
fn seeded_draws_repeat() {
    let _rng = rng_lock();
    let draw = || {
        let t = Tensor::zeros(&[6, 4], DType::F32);
        init::kaiming_uniform_(&t, 5f64.sqrt(), FanMode::FanIn, Nonlinearity::LeakyRelu).unwrap();
        init::trunc_normal_(&t.narrow(0, 0, 2).unwrap(), 0.0, 1.0, -2.0, 2.0).unwrap();
        let o = Tensor::zeros(&[3, 5], DType::F32);
        init::orthogonal_(&o, 1.0).unwrap();
        (t.to_vec::<f32>().unwrap(), o.to_vec::<f32>().unwrap())
    };
    manual_seed(11);
    let a = draw();
    manual_seed(11);
    let b = draw();
    assert_eq!(a, b);
    manual_seed(12);
    assert_ne!(a, draw());
}

#[test]
fn initializers_write_parameters_without_recording() {
    let _rng = rng_lock();
    let p = parameter(Tensor::zeros(&[8, 4], DType::F32));
    init::xavier_uniform_(&p, 1.0).unwrap();
    init::kaiming_normal_(&p, 0.0, FanMode::FanIn, Nonlinearity::Relu).unwrap();
    init::orthogonal_(&p, 1.0).unwrap();
    init::trunc_normal_(&p, 0.0, 0.02, -0.04, 0.04).unwrap();
    init::eye_(&p).unwrap();
    init::normal_(&p, 0.0, 1.0).unwrap();
    init::constant_(&p, 3.0).unwrap();
    assert!(p.requires_grad() && p.is_leaf());
    assert!(p.grad().is_none());
    assert_eq!(p.to_vec::<f32>().unwrap(), vec![3.0; 32]);
    let i = Tensor::zeros(&[2, 2], DType::I64);
    let e = init::normal_(&i, 0.0, 1.0).unwrap_err();
    assert!(e.to_string().contains("floating-point"), "{e}");
}
