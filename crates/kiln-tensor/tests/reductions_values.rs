//! Values of reductions, scans and sorts against hand-computed numbers and naive loops: ties,
//! NaN, -inf, zeros, empty and 0-dim inputs, half precision, and the parallel and no-copy paths.
//! Gradient checks, the property test and errors are in `reductions.rs`.

use kiln_tensor::testing::{assert_close, gradcheck, GradcheckOptions};
use kiln_tensor::{manual_seed, DType, Result, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    gradcheck(f, inputs, GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Gradient of `f(x).sum()` with respect to `x`.
fn grad_of(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Vec<f64> {
    let leaf = x.detach().requires_grad_(true);
    f(&leaf).unwrap().sum().unwrap().backward().unwrap();
    leaf.grad().unwrap().to_vec_f64()
}

// ---- values ----

#[test]
fn max_min_ties_and_nan() {
    let x = f64s(&[1.0, 5.0, 5.0, 2.0, 7.0, 7.0, 0.0, 7.0], &[2, 4]);
    let (v, i) = x.max_dim(1, false).unwrap();
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![5.0, 7.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 0]);
    assert_eq!(i.dtype(), DType::I64);
    let (v, i) = x.min_dim(0, true).unwrap();
    assert_eq!(v.shape(), &[1, 4]);
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![1.0, 5.0, 0.0, 2.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 0, 1, 0]);
    // The first NaN wins, with its index.
    let n = f64s(&[1.0, f64::NAN, 9.0, f64::NAN], &[4]);
    let (v, i) = n.max_dim(0, false).unwrap();
    assert!(v.item::<f64>().unwrap().is_nan());
    assert_eq!(i.item::<i64>().unwrap(), 1);
    assert_eq!(n.argmin(None, false).unwrap().item::<i64>().unwrap(), 1);
    assert!(n.max().unwrap().item::<f64>().unwrap().is_nan());
    assert!(n.amin(&[0], false).unwrap().item::<f64>().unwrap().is_nan());
    // Integers and bool keep their dtype.
    let ints = Tensor::from_slice(&[3i64, -2, 8, 8], &[2, 2]).unwrap();
    assert_eq!(ints.max().unwrap().item::<i64>().unwrap(), 8);
    assert_eq!(ints.amin(&[1], false).unwrap().to_vec::<i64>().unwrap(), vec![-2, 8]);
    let b = Tensor::from_slice(&[false, true, false], &[3]).unwrap();
    assert!(b.max().unwrap().item::<bool>().unwrap());
    // A 0-dim input reduces to itself.
    let (v, i) = Tensor::scalar(2.5f32).max_dim(0, true).unwrap();
    assert_eq!((v.shape(), i.item::<i64>().unwrap()), (&[][..], 0));
}

#[test]
fn argmax_argmin_shapes() {
    let x = f64s(&[1.0, 9.0, 3.0, 9.0, 0.0, -4.0], &[2, 3]);
    assert_eq!(x.argmax(None, false).unwrap().item::<i64>().unwrap(), 1);
    assert_eq!(x.argmin(None, false).unwrap().item::<i64>().unwrap(), 5);
    let k = x.argmax(None, true).unwrap();
    assert_eq!((k.shape(), k.to_vec::<i64>().unwrap()), (&[1, 1][..], vec![1]));
    assert_eq!(
        x.argmax(Some(0), false).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 0, 0]
    );
    let k = x.t().unwrap().argmin(Some(0), true).unwrap();
    assert_eq!((k.shape(), k.to_vec::<i64>().unwrap()), (&[1, 2][..], vec![0, 2]));
}

#[test]
fn amax_gradient_three_way_tie() {
    let x = f64s(&[2.0, 2.0, 1.0, 2.0], &[4]);
    let g = grad_of(&x, |t| t.amax(&[], false));
    assert_close(
        &f64s(&g, &[4]),
        &f64s(&[1.0 / 3.0, 1.0 / 3.0, 0.0, 1.0 / 3.0], &[4]),
        1e-12,
        0.0,
    );
    // max_dim sends the whole gradient to the first index instead.
    let g = grad_of(&x, |t| Ok(t.max_dim(0, false)?.0));
    assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn prod_values_and_zero_gradients() {
    let x = f64s(&[2.0, 0.0, 3.0, 4.0], &[4]);
    assert_eq!(x.prod().unwrap().item::<f64>().unwrap(), 0.0);
    assert_eq!(grad_of(&x, |t| t.prod()), vec![0.0, 24.0, 0.0, 0.0]);
    let two = f64s(&[0.0, 5.0, 0.0], &[3]);
    assert_eq!(grad_of(&two, |t| t.prod()), vec![0.0, 0.0, 0.0]);
    assert_eq!(grad_of(&f64s(&[2.0, 5.0], &[2]), |t| t.prod()), vec![5.0, 2.0]);
    let ints = Tensor::from_slice(&[2i32, 3, 4, 5], &[2, 2]).unwrap();
    let p = ints.prod_dims(&[0], false).unwrap();
    assert_eq!((p.dtype(), p.to_vec::<i64>().unwrap()), (DType::I64, vec![8, 15]));
    assert_eq!(
        Tensor::zeros(&[0], DType::F32).prod().unwrap().item::<f32>().unwrap(),
        1.0
    );
    let h = Tensor::from_slice(&[1.5f32, 2.0, -2.0], &[3])
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    let p = h.prod().unwrap();
    assert_eq!((p.dtype(), p.item_f64().unwrap()), (DType::F16, -6.0));
}

#[test]
fn var_std_values() {
    let x = f64s(&[1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 2.0, 2.0], &[2, 4]);
    assert_close(
        &x.var_dims(&[1], 1.0, false).unwrap(),
        &f64s(&[5.0 / 3.0, 0.0], &[2]),
        1e-12,
        0.0,
    );
    assert_close(
        &x.var_dims(&[1], 0.0, true).unwrap(),
        &f64s(&[1.25, 0.0], &[2, 1]),
        1e-12,
        0.0,
    );
    assert_close(
        &x.std_dims(&[0], 1.0, false).unwrap(),
        &f64s(&[0.5f64.sqrt(), 0.0, 0.5f64.sqrt(), 2f64.sqrt()], &[4]),
        1e-12,
        0.0,
    );
    let all: f64 = {
        let v = [1.0, 2.0, 3.0, 4.0, 2.0, 2.0, 2.0, 2.0];
        let m = v.iter().sum::<f64>() / 8.0;
        v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 7.0
    };
    assert!((x.var().unwrap().item::<f64>().unwrap() - all).abs() < 1e-12);
    assert!((x.std().unwrap().item::<f64>().unwrap() - all.sqrt()).abs() < 1e-12);
    // A constant row: std's gradient is 0 (PyTorch masks it), not NaN.
    assert_eq!(grad_of(&f64s(&[2.0, 2.0, 2.0], &[3]), |t| t.std()), vec![0.0; 3]);
    // One element with the unbiased divisor: 0 / 0.
    assert!(f64s(&[3.0], &[1]).var().unwrap().item::<f64>().unwrap().is_nan());
}

#[test]
fn logsumexp_values() {
    let x = f64s(
        &[1000.0, 1000.0, f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0, 0.0],
        &[3, 2],
    );
    let y = x.logsumexp(&[1], false).unwrap().to_vec::<f64>().unwrap();
    assert!((y[0] - (1000.0 + 2f64.ln())).abs() < 1e-9);
    assert_eq!(y[1], f64::NEG_INFINITY);
    assert!((y[2] - 2f64.ln()).abs() < 1e-12);
    // Softmax gradient, finite in a row with one -inf.
    let z = f64s(&[0.0, f64::NEG_INFINITY, 0.0], &[3]);
    assert_eq!(grad_of(&z, |t| t.logsumexp(&[0], false)), vec![0.5, 0.0, 0.5]);
    let i = Tensor::from_slice(&[0i64, 0], &[2])
        .unwrap()
        .logsumexp(&[], true)
        .unwrap();
    assert_eq!(i.dtype(), DType::F32);
    assert_eq!(i.shape(), &[1]);
    assert!((i.item::<f32>().unwrap() - 2f32.ln()).abs() < 1e-6);
}

#[test]
fn norm_values_and_zero_gradient() {
    let x = f64s(&[3.0, -4.0, 0.0, 0.0], &[2, 2]);
    assert_eq!(
        x.norm(2.0, &[1], false).unwrap().to_vec::<f64>().unwrap(),
        vec![5.0, 0.0]
    );
    assert_eq!(x.norm(1.0, &[], false).unwrap().item::<f64>().unwrap(), 7.0);
    assert_eq!(
        x.norm(f64::INFINITY, &[0], true).unwrap().to_vec::<f64>().unwrap(),
        vec![3.0, 4.0]
    );
    assert_eq!(x.norm(0.0, &[], false).unwrap().item::<f64>().unwrap(), 2.0);
    let n3 = x.norm(3.0, &[], false).unwrap().item::<f64>().unwrap();
    assert!((n3 - 91f64.cbrt()).abs() < 1e-12);
    // The row of zeros gets gradient 0, not NaN.
    assert_eq!(grad_of(&x, |t| t.norm(2.0, &[1], false)), vec![0.6, -0.8, 0.0, 0.0]);
    assert_eq!(
        grad_of(&Tensor::zeros(&[3], DType::F64), |t| t.norm(2.0, &[], false)),
        vec![0.0; 3]
    );
    assert_eq!(
        grad_of(&Tensor::zeros(&[2], DType::F64), |t| t.norm(3.0, &[], false)),
        vec![0.0; 2]
    );
}

#[test]
fn all_any_values() {
    let x = f64s(&[1.0, 0.0, f64::NAN, 2.0, 3.0, -1.0], &[2, 3]);
    assert!(!x.all().unwrap().item::<bool>().unwrap());
    assert!(x.any().unwrap().item::<bool>().unwrap());
    assert_eq!(
        x.all_dims(&[1], false).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true]
    );
    assert_eq!(
        x.any_dims(&[0], true).unwrap().to_vec::<bool>().unwrap(),
        vec![true, true, true]
    );
    let a = x.t().unwrap().all_dims(&[0], true).unwrap();
    assert_eq!((a.shape(), a.dtype()), (&[1, 2][..], DType::Bool));
    let empty = Tensor::zeros(&[2, 0], DType::F32);
    assert_eq!(
        empty.all_dims(&[1], false).unwrap().to_vec::<bool>().unwrap(),
        vec![true, true]
    );
    assert_eq!(
        empty.any_dims(&[1], false).unwrap().to_vec::<bool>().unwrap(),
        vec![false, false]
    );
    let u = Tensor::from_slice(&[1u8, 2], &[2]).unwrap().all().unwrap();
    assert_eq!((u.dtype(), u.item::<u8>().unwrap()), (DType::U8, 1));
}

#[test]
fn cumsum_values() {
    let x = f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(
        x.cumsum(1).unwrap().to_vec::<f64>().unwrap(),
        vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]
    );
    assert_eq!(
        x.cumsum(0).unwrap().to_vec::<f64>().unwrap(),
        vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    );
    assert_eq!(
        x.t().unwrap().cumsum(1).unwrap().to_vec::<f64>().unwrap(),
        vec![1.0, 5.0, 2.0, 7.0, 3.0, 9.0]
    );
    assert_eq!(grad_of(&x, |t| t.cumsum(1)), vec![3.0, 2.0, 1.0, 3.0, 2.0, 1.0]);
    let b = Tensor::from_slice(&[true, true, false, true], &[4])
        .unwrap()
        .cumsum(0)
        .unwrap();
    assert_eq!((b.dtype(), b.to_vec::<i64>().unwrap()), (DType::I64, vec![1, 2, 2, 3]));
    let i = Tensor::from_slice(&[i32::MAX, 1], &[2]).unwrap().cumsum(0).unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![i32::MAX as i64, i32::MAX as i64 + 1]);
    assert_eq!(Tensor::scalar(2i64).cumsum(-1).unwrap().item::<i64>().unwrap(), 2);
}

#[test]
fn sort_stable_with_nan_last() {
    let nan = f64::NAN;
    let x = f64s(&[2.0, nan, 1.0, 2.0, -1.0, 2.0], &[6]);
    let (v, i) = x.sort(0, false).unwrap();
    let v = v.to_vec::<f64>().unwrap();
    assert_eq!(&v[..5], &[-1.0, 1.0, 2.0, 2.0, 2.0]);
    assert!(v[5].is_nan());
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![4, 2, 0, 3, 5, 1]);
    let (v, i) = x.sort(0, true).unwrap();
    assert!(v.to_vec::<f64>().unwrap()[0].is_nan());
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 0, 3, 5, 2, 4]);
    assert_eq!(
        x.argsort(-1, false).unwrap().to_vec::<i64>().unwrap(),
        vec![4, 2, 0, 3, 5, 1]
    );
    // Along dim 0 of a matrix, and on integers.
    let m = Tensor::from_slice(&[3i64, 1, 1, 2, 2, 0], &[3, 2]).unwrap();
    let (v, i) = m.sort(0, false).unwrap();
    assert_eq!(v.to_vec::<i64>().unwrap(), vec![1, 0, 2, 1, 3, 2]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 2, 2, 0, 0, 1]);
    // Gradient goes back to where each value came from.
    let g = grad_of(&f64s(&[3.0, 1.0, 2.0], &[3]), |t| {
        t.sort(0, false)?.0.mul(&f64s(&[1.0, 10.0, 100.0], &[3]))
    });
    assert_eq!(g, vec![100.0, 1.0, 10.0]);
}

#[test]
fn topk_values() {
    let x = f64s(&[1.0, 5.0, 3.0, 5.0, 4.0, 0.0, 9.0, 9.0, 2.0, 8.0], &[2, 5]);
    let (v, i) = x.topk(3, 1, true, true).unwrap();
    assert_eq!(v.shape(), &[2, 3]);
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![5.0, 5.0, 4.0, 9.0, 9.0, 8.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 3, 4, 1, 2, 4]);
    let (v, i) = x.topk(2, -1, false, true).unwrap();
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![1.0, 3.0, 0.0, 2.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 2, 0, 3]);
    let (v, i) = x.topk(1, 0, true, false).unwrap();
    assert_eq!(v.to_vec::<f64>().unwrap(), vec![1.0, 9.0, 9.0, 5.0, 8.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 1, 1, 0, 1]);
    let (v, _) = f64s(&[1.0, f64::NAN, 3.0], &[3]).topk(2, 0, true, true).unwrap();
    let v = v.to_vec::<f64>().unwrap();
    assert!(v[0].is_nan() && v[1] == 3.0);
    assert_eq!(x.topk(0, 1, true, true).unwrap().0.shape(), &[2, 0]);
    let g = grad_of(&x, |t| Ok(t.topk(2, 1, true, true)?.0));
    assert_eq!(g, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn large_rows_take_the_parallel_path() {
    // 512 rows of 256: above the threading threshold; compare with per-row results.
    manual_seed(19);
    let x = Tensor::randn(&[512, 256], DType::F32).unwrap();
    let v = x.to_vec::<f32>().unwrap();
    let (m, i) = x.max_dim(1, false).unwrap();
    let s = x.sort(1, true).unwrap().0.to_vec::<f32>().unwrap();
    let c = x
        .t()
        .unwrap()
        .cumsum(0)
        .unwrap()
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let (m, i) = (m.to_vec::<f32>().unwrap(), i.to_vec::<i64>().unwrap());
    for r in 0..512 {
        let row = &v[r * 256..(r + 1) * 256];
        let (bi, bv) = row
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (j, &x)| if x > b.1 { (j, x) } else { b });
        assert_eq!((m[r], i[r]), (bv, bi as i64));
        assert_eq!(s[r * 256], bv);
        assert!(s[r * 256..(r + 1) * 256].windows(2).all(|w| w[0] >= w[1]));
        let mut acc = 0f32;
        for (j, &x) in row.iter().enumerate() {
            acc += x;
            assert!((c[r * 256 + j] - acc).abs() < 1e-4);
        }
    }
}

#[test]
fn long_single_rows_split_into_chunks() {
    // One row of 2^17: few rows and long, so associative reductions split the row.
    manual_seed(20);
    let n = 1 << 17;
    let x = Tensor::randn(&[n], DType::F64).unwrap();
    let v = x.to_vec::<f64>().unwrap();
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    close(x.sum().unwrap().item::<f64>().unwrap(), v.iter().sum());
    let (mi, ma) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert_eq!(x.max().unwrap().item::<f64>().unwrap(), ma);
    assert_eq!(x.amin(&[0], true).unwrap().item::<f64>().unwrap(), mi);
    let (_, i) = x.max_dim(0, false).unwrap();
    assert_eq!(v[i.item::<i64>().unwrap() as usize], ma);
    let lse = v.iter().map(|&a| (a - ma).exp()).sum::<f64>().ln() + ma;
    close(x.logsumexp(&[], false).unwrap().item::<f64>().unwrap(), lse);
    let small = x.mul_scalar(1e-3).unwrap().exp().unwrap();
    let want: f64 = small.to_vec::<f64>().unwrap().iter().product();
    close(small.prod().unwrap().item::<f64>().unwrap(), want);
    let mut ints = vec![1i64; n];
    ints[n - 3] = 0;
    let ints = Tensor::from_vec(ints, &[n]).unwrap();
    assert!(!ints.all().unwrap().item::<bool>().unwrap());
    assert_eq!(ints.sum().unwrap().item::<i64>().unwrap(), n as i64 - 1);
    assert!(ints.sub_scalar(1.0).unwrap().any().unwrap().item::<bool>().unwrap());
    // A NaN late in the row still wins the max.
    let mut with_nan = v.clone();
    with_nan[n - 5] = f64::NAN;
    assert!(f64s(&with_nan, &[n]).max().unwrap().item::<f64>().unwrap().is_nan());
}

#[test]
fn edge_shapes_and_dtypes() {
    // 0-dim inputs: dims 0 and -1 both name the only "dim".
    let s = Tensor::scalar(4.0f64);
    let (v, i) = s.sort(-1, true).unwrap();
    assert_eq!((v.item::<f64>().unwrap(), i.item::<i64>().unwrap()), (4.0, 0));
    let (v, i) = s.topk(1, 0, true, true).unwrap();
    assert_eq!((v.shape(), i.shape()), (&[][..], &[][..]));
    assert_eq!(s.argmax(Some(-1), false).unwrap().item::<i64>().unwrap(), 0);
    assert_eq!(s.argmax(None, true).unwrap().shape(), &[] as &[usize]);
    assert_eq!(s.logsumexp(&[], false).unwrap().item::<f64>().unwrap(), 4.0);
    // Empty dims.
    let e = Tensor::zeros(&[2, 0], DType::F32);
    let (v, i) = e.sort(1, false).unwrap();
    assert_eq!((v.shape(), i.shape()), (&[2, 0][..], &[2, 0][..]));
    assert_eq!(e.cumsum(1).unwrap().shape(), &[2, 0]);
    assert_eq!(
        e.sum_dims(&[1], false).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 0.0]
    );
    assert_eq!(
        e.logsumexp(&[1], false).unwrap().to_vec::<f32>().unwrap(),
        vec![f32::NEG_INFINITY; 2]
    );
    assert_eq!(e.max_dim(0, false).unwrap().0.shape(), &[0]);
    // Half precision keeps its dtype and accumulates in f32.
    let h = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    let c = h.cumsum(0).unwrap();
    assert_eq!((c.dtype(), c.to_vec_f64()), (DType::F16, vec![1.0, 2.0, 4.0, 6.0]));
    let l = h.logsumexp(&[1], false).unwrap();
    assert_eq!(l.dtype(), DType::F16);
    assert!((l.to_vec_f64()[0] - (2.0 + (1.0 + (-1f64).exp()).ln())).abs() < 1e-2);
    let (v, i) = h.max_dim(1, false).unwrap();
    assert_eq!(
        (v.dtype(), v.to_vec_f64(), i.to_vec::<i64>().unwrap()),
        (DType::F16, vec![2.0, 4.0], vec![1, 1])
    );
    let (v, _) = h.sort(0, true).unwrap();
    assert_eq!(v.to_vec_f64(), vec![3.0, 4.0, 1.0, 2.0]);
    let v = h.to_dtype(DType::F32).unwrap().var_dims(&[0], 1.0, false).unwrap();
    assert_eq!((v.dtype(), v.to_vec::<f32>().unwrap()), (DType::F32, vec![2.0, 2.0]));
}

#[test]
fn sum_over_leading_dims() {
    // Leading dims of contiguous tensors take the column-sum path; compare with the transposed
    // (row) path, which computes the same sums another way.
    manual_seed(21);
    for shape in [vec![3usize, 4, 5], vec![300, 257], vec![2, 100, 700]] {
        let x = Tensor::randn(&shape, DType::F64).unwrap();
        let xt = x.permute(&(0..shape.len() as isize).rev().collect::<Vec<_>>()).unwrap();
        let got = x.sum_dims(&[0], false).unwrap();
        let want = xt
            .sum_dims(&[-1], false)
            .unwrap()
            .permute(&(0..shape.len() as isize - 1).rev().collect::<Vec<_>>())
            .unwrap();
        assert_close(&got, &want, 1e-12, 1e-12);
        let x32 = x.to_dtype(DType::F32).unwrap();
        let got = x32.sum_dims(&[0, 1], true).unwrap();
        let want = x.sum_dims(&[0, 1], true).unwrap();
        assert_close(&got, &want, 1e-5, 1e-4);
    }
    let empty = Tensor::zeros(&[0, 3], DType::F32);
    assert_eq!(
        empty.sum_dims(&[0], false).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0; 3]
    );
    check("sum leading", |i| i[0].sum_dims(&[0, 1], false), &[&randn(&[2, 3, 4])]);
}
