//! The f32 elementwise ops that use the vectorized approximations of `kiln_kernels::math`
//! agree with the same ops computed in f64 (exact library functions), on the single-threaded
//! and the split (parallel) paths, for contiguous and strided inputs.

use kiln_tensor::{DType, Tensor};

/// `n` values spread over `[-lo, hi]`, irregularly so that every range split is hit.
fn sweep(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let u = (i as f64 * 0.618_033_988_75).fract();
            -lo + (lo + hi) * u
        })
        .collect()
}

type Op = fn(&Tensor) -> kiln_tensor::Result<Tensor>;

const OPS: [(&str, Op); 8] = [
    ("exp", |t| t.exp()),
    ("tanh", |t| t.tanh()),
    ("sigmoid", |t| t.sigmoid()),
    ("silu", |t| t.silu()),
    ("erf", |t| t.erf()),
    ("gelu", |t| t.gelu("none")),
    ("gelu_tanh", |t| t.gelu("tanh")),
    ("exp_neg", |t| t.neg()?.exp()),
];

/// Largest error of the f32 op relative to the f64 op, in units of f32 epsilon times
/// max(|reference|, tiny): a few units at most for a few-ulp approximation. GELU's
/// `0.5 x (1 + erf(..))` cancels for negative `x` (in PyTorch too), so its error is measured
/// against max(|reference|, |x|).
fn worst_error(name: &str, op: Op, x64: &Tensor) -> f64 {
    let gelu = name.starts_with("gelu");
    let x32 = x64.to_dtype(DType::F32).unwrap();
    // Reference on the f32-rounded inputs, so only the function's error is measured.
    let reference = op(&x32.to_dtype(DType::F64).unwrap()).unwrap().to_vec_f64();
    let got = op(&x32).unwrap();
    assert_eq!(got.dtype(), DType::F32);
    assert_eq!(got.shape(), x64.shape());
    let xs = x32.to_vec_f64();
    got.to_vec_f64()
        .iter()
        .zip(&reference)
        .zip(&xs)
        .map(|((&g, &r), &x)| {
            if r.is_infinite() || g.is_infinite() {
                assert_eq!(g, r);
                return 0.0;
            }
            let scale = if gelu { r.abs().max(x.abs()) } else { r.abs() };
            (g - r).abs() / (scale.max(1e-30) * f32::EPSILON as f64)
        })
        .fold(0.0, f64::max)
}

#[test]
fn f32_ops_match_f64_small_and_parallel() {
    // 1000 elements stay on one thread; 100_003 are split across threads.
    for n in [1000, 100_003] {
        let x = Tensor::from_vec(sweep(n, 12.0, 12.0), &[n]).unwrap();
        for (name, op) in OPS {
            let e = worst_error(name, op, &x);
            // gelu and silu multiply by x after the approximation (one more rounding); the
            // tanh approximation of gelu feeds tanh an argument that was itself rounded.
            assert!(e <= 4.0, "{name} (n = {n}): error {e} eps");
        }
    }
}

#[test]
fn f32_ops_on_strided_input() {
    let x = Tensor::from_vec(sweep(60 * 50, 6.0, 6.0), &[60, 50]).unwrap();
    let xt = x.transpose(0, 1).unwrap();
    assert!(!xt.is_contiguous());
    for (name, op) in OPS {
        let e = worst_error(name, op, &xt);
        assert!(e <= 4.0, "{name} (transposed): error {e} eps");
    }
}

#[test]
fn f32_ops_special_values() {
    let x = Tensor::from_vec(
        vec![f32::NEG_INFINITY, -200.0, -0.0, 0.0, 200.0, f32::INFINITY, f32::NAN],
        &[7],
    )
    .unwrap();
    let exp = x.exp().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&exp[..6], &[0.0, 0.0, 1.0, 1.0, f32::INFINITY, f32::INFINITY]);
    let tanh = x.tanh().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&tanh[..6], &[-1.0, -1.0, -0.0, 0.0, 1.0, 1.0]);
    assert!(tanh[2].is_sign_negative());
    let erf = x.erf().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&erf[..6], &[-1.0, -1.0, -0.0, 0.0, 1.0, 1.0]);
    let sig = x.sigmoid().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&sig[..6], &[0.0, 0.0, 0.5, 0.5, 1.0, 1.0]);
    for t in [exp, tanh, erf, sig] {
        assert!(t[6].is_nan());
    }
}
