//! Creation, dtypes, views, display and error messages of the tensor API.

use kiln_tensor::{manual_seed, tensor, DType, Tensor};

/// Tests here draw from the global generator, which every test thread shares; holding this lock
/// keeps one test's `manual_seed` and draws from interleaving with another's.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn creation_functions() {
    let _rng = rng_lock();
    assert_eq!(Tensor::zeros(&[2, 3], DType::I32).to_vec::<i32>().unwrap(), vec![0; 6]);
    assert_eq!(Tensor::ones(&[2], DType::F64).to_vec::<f64>().unwrap(), vec![1.0, 1.0]);
    assert_eq!(
        Tensor::full(&[2], 7.0, DType::U8).unwrap().to_vec::<u8>().unwrap(),
        vec![7, 7]
    );
    assert_eq!(
        Tensor::arange(0.0, 5.0, 2.0, DType::I64)
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![0, 2, 4]
    );
    let l = Tensor::linspace(0.0, 1.0, 5, DType::F32)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(l, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(
        Tensor::eye(2, DType::F32).to_vec::<f32>().unwrap(),
        vec![1.0, 0.0, 0.0, 1.0]
    );
    let t = tensor!([[1, 2], [3, 4]]);
    assert_eq!((t.dtype(), t.shape()), (DType::I64, &[2usize, 2][..]));
    assert_eq!(tensor!([true, false]).dtype(), DType::Bool);
    assert_eq!(Tensor::new(&[1.5f64, 2.5]).dtype(), DType::F64);
    assert_eq!(tensor!(3.5).shape(), &[] as &[usize]);
    let like = t.zeros_like();
    assert_eq!((like.dtype(), like.shape()), (DType::I64, &[2usize, 2][..]));
}

#[test]
fn seeded_random_is_reproducible() {
    let _rng = rng_lock();
    manual_seed(42);
    let a = Tensor::randn(&[100], DType::F32).unwrap().to_vec::<f32>().unwrap();
    let r = Tensor::randint(0, 10, &[50]).unwrap().to_vec::<i64>().unwrap();
    manual_seed(42);
    assert_eq!(Tensor::randn(&[100], DType::F32).unwrap().to_vec::<f32>().unwrap(), a);
    assert_eq!(Tensor::randint(0, 10, &[50]).unwrap().to_vec::<i64>().unwrap(), r);
    assert!(r.iter().all(|&v| (0..10).contains(&v)));
    let u = Tensor::rand(&[10000], DType::F64).unwrap();
    let mean = u.mean().unwrap().item::<f64>().unwrap();
    assert!((mean - 0.5).abs() < 0.02, "{mean}");
    let n = Tensor::randn(&[10000], DType::F64).unwrap();
    let m2 = n.square().unwrap().mean().unwrap().item::<f64>().unwrap();
    assert!((m2 - 1.0).abs() < 0.05, "{m2}");
}

#[test]
fn dtype_conversion_and_promotion() {
    let _rng = rng_lock();
    let x = tensor!([1.7, -2.2]);
    assert_eq!(x.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(), vec![1, -2]);
    assert_eq!(
        x.to_dtype(DType::Bool).unwrap().to_vec::<bool>().unwrap(),
        vec![true, true]
    );
    let h = x.to_dtype(DType::F16).unwrap();
    assert_eq!(h.dtype(), DType::F16);
    let sum = h.add(&tensor!([1, 1])).unwrap();
    assert_eq!(sum.dtype(), DType::F16);
    assert_eq!(tensor!([1, 2]).add(&tensor!([0.5, 0.5])).unwrap().dtype(), DType::F32);
    assert_eq!(
        tensor!([1, 2]).div(&tensor!([2, 2])).unwrap().to_vec::<f32>().unwrap(),
        vec![0.5, 1.0]
    );
    assert_eq!(tensor!([1, 2]).add_scalar(0.5).unwrap().dtype(), DType::F32);
    assert_eq!(tensor!([1, 2]).add_scalar(1.0).unwrap().dtype(), DType::I64);
    let err = tensor!([1.0]).to_vec::<f64>().unwrap_err().to_string();
    assert_eq!(err, "to_vec: dtype mismatch: float32 vs float64");
}

#[test]
fn views_share_storage_and_reshape_copies_only_when_needed() {
    let _rng = rng_lock();
    let x = Tensor::arange(0.0, 24.0, 1.0, DType::F32)
        .unwrap()
        .reshape(&[2, 3, 4])
        .unwrap();
    let v = x.view(&[6, 4]).unwrap();
    assert!(v.shares_storage(&x));
    let t = x.transpose(0, 2).unwrap();
    assert!(t.shares_storage(&x) && !t.is_contiguous());
    assert_eq!(t.shape(), &[4, 3, 2]);
    let err = t.view(&[-1]).unwrap_err().to_string();
    assert!(err.contains("cannot be viewed as [24] without a copy"), "{err}");
    let r = t.reshape(&[-1]).unwrap();
    assert!(!r.shares_storage(&x));
    assert_eq!(&r.to_vec::<f32>().unwrap()[..4], &[0.0, 12.0, 4.0, 16.0]);
    let s = x.slice(2, 1, None, 2).unwrap();
    assert_eq!(
        s.to_vec::<f32>().unwrap(),
        vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0, 21.0, 23.0]
    );
    assert_eq!(
        x.select(1, -1).unwrap().to_vec::<f32>().unwrap(),
        vec![8.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0]
    );
    let e = tensor!([1.0, 2.0]).unsqueeze(0).unwrap().expand(&[3, -1]).unwrap();
    assert_eq!(e.stride(), &[0, 1]);
    assert_eq!(e.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    let parts = x.chunk(2, 1).unwrap();
    assert_eq!(parts.iter().map(|p| p.shape()[1]).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(x.flatten(1, -1).unwrap().shape(), &[2, 12]);
    assert_eq!(x.unsqueeze(-1).unwrap().shape(), &[2, 3, 4, 1]);
    assert_eq!(x.narrow(0, 1, 1).unwrap().squeeze().unwrap().shape(), &[3, 4]);
}

#[test]
fn display_like_pytorch() {
    let _rng = rng_lock();
    let t = tensor!([[1.0, 2.5], [-3.0, 4.0]]);
    assert_eq!(
        t.to_string(),
        "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]], shape=[2, 2], dtype=float32)"
    );
    assert_eq!(tensor!([1, 2]).to_string(), "tensor([1, 2], shape=[2], dtype=int64)");
    let big = Tensor::arange(0.0, 2000.0, 1.0, DType::F32).unwrap();
    let s = big.to_string();
    assert!(
        s.starts_with("tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.]"),
        "{s}"
    );
    let g = tensor!([1.0]).requires_grad_(true);
    assert!(g.to_string().ends_with("requires_grad=True)"));
}

#[test]
fn errors_name_the_op_shapes_and_dtypes() {
    let _rng = rng_lock();
    let a = Tensor::zeros(&[32, 784], DType::F32);
    let b = Tensor::zeros(&[512, 784], DType::F32);
    assert_eq!(
        a.matmul(&b).unwrap_err().to_string(),
        "matmul: inner dims differ: [32, 784] x [512, 784]"
    );
    assert_eq!(
        a.add(&Tensor::zeros(&[3], DType::F32)).unwrap_err().to_string(),
        "add: shapes [32, 784] and [3] cannot be broadcast (dim 1: 784 vs 3)"
    );
    assert_eq!(
        a.matmul(&Tensor::zeros(&[784, 2], DType::F64)).unwrap_err().to_string(),
        "matmul: dtype mismatch: float32 vs float64"
    );
    assert_eq!(
        a.sum_dims(&[2], false).unwrap_err().to_string(),
        "sum: dimension 2 out of range for a tensor of rank 2"
    );
    assert_eq!(
        a.reshape(&[5, -1]).unwrap_err().to_string(),
        "reshape: shape [5, -1] is invalid for input of size 25088 ([32, 784])"
    );
    assert_eq!(
        tensor!([true]).exp().unwrap_err().to_string(),
        "exp: unsupported dtype bool (expected a numeric tensor)"
    );
    assert_eq!(
        Tensor::from_vec(vec![1.0f32; 5], &[2, 3]).unwrap_err().to_string(),
        "from_vec: 5 elements cannot have shape [2, 3] (6 elements)"
    );
    assert_eq!(
        tensor!([1, 2]).mean().unwrap_err().to_string(),
        "mean: unsupported dtype int64 (mean needs a floating-point tensor; cast with to_dtype)"
    );
}

#[test]
#[should_panic(expected = "mul: shapes [2] and [3] cannot be broadcast")]
fn operators_panic_with_the_same_message() {
    let _ = &tensor!([1.0, 2.0]) * &tensor!([1.0, 2.0, 3.0]);
}

#[test]
fn operators_compute() {
    let _rng = rng_lock();
    let a = tensor!([1.0, 2.0]);
    let b = tensor!([3.0, 5.0]);
    let c = (&a + &b) * 2.0 - &a / &b;
    let expect = [8.0 - 1.0 / 3.0, 14.0 - 0.4];
    for (x, e) in c.to_vec::<f32>().unwrap().iter().zip(expect) {
        assert!((x - e).abs() < 1e-6);
    }
    assert_eq!((-&a).to_vec::<f32>().unwrap(), vec![-1.0, -2.0]);
}

#[test]
fn comparisons_logical_and_where() {
    let _rng = rng_lock();
    let a = tensor!([1.0, 5.0, 3.0]);
    let b = tensor!([2.0, 5.0, 1.0]);
    assert_eq!(a.lt(&b).unwrap().to_vec::<bool>().unwrap(), vec![true, false, false]);
    assert_eq!(a.ge(&b).unwrap().to_vec::<bool>().unwrap(), vec![false, true, true]);
    assert_eq!(
        a.eq_scalar(5.0).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true, false]
    );
    let m = a.gt_scalar(2.0).unwrap();
    assert_eq!(
        m.logical_not().unwrap().to_vec::<bool>().unwrap(),
        vec![true, false, false]
    );
    assert_eq!(
        m.logical_and(&b.gt_scalar(1.5).unwrap())
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        vec![false, true, false]
    );
    assert_eq!(a.where_(&m, &b).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 5.0, 3.0]);
    assert_eq!(
        a.masked_fill(&m, -1.0).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0, -1.0, -1.0]
    );
    let nan = tensor!([f32::NAN, 1.0]);
    assert!(nan.maximum(&tensor!([0.0, 2.0])).unwrap().to_vec::<f32>().unwrap()[0].is_nan());
}

#[test]
fn rounding_follows_pytorch() {
    let _rng = rng_lock();
    let x = tensor!([-1.5, -0.5, 0.5, 1.5, 2.5, 0.0]);
    assert_eq!(
        x.round().unwrap().to_vec::<f32>().unwrap(),
        vec![-2.0, -0.0, 0.0, 2.0, 2.0, 0.0]
    );
    assert_eq!(
        x.sign().unwrap().to_vec::<f32>().unwrap(),
        vec![-1.0, -1.0, 1.0, 1.0, 1.0, 0.0]
    );
    assert_eq!(
        tensor!([-3, 0, 4]).sign().unwrap().to_vec::<i64>().unwrap(),
        vec![-1, 0, 1]
    );
    assert_eq!(tensor!([-3, 4]).abs().unwrap().to_vec::<i64>().unwrap(), vec![3, 4]);
}

#[test]
fn owned_operators_reuse_a_unique_buffer_and_never_a_shared_one() {
    let _rng = rng_lock();
    let x = tensor!([1.0, 2.0, 3.0]);
    // `&x * 2.0` is a fresh unique tensor: `+ 1.0` writes into it (an in-place update bumps the
    // version of its storage; an out-of-place result starts at version 0).
    let y = (&x * 2.0) + 1.0;
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, 5.0, 7.0]);
    assert_eq!(y.version(), 1);
    // Shared through a clone or a view: computed out of place, the other handle is untouched.
    let a = tensor!([1.0, 2.0]);
    let keep = a.clone();
    let b = a + 10.0;
    assert_eq!(
        (keep.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap()),
        (vec![1.0, 2.0], vec![11.0, 12.0])
    );
    let c = tensor!([[1.0, 2.0], [3.0, 4.0]]);
    let row = c.select(0, 0).unwrap();
    let d = c * tensor!([2.0, 2.0]);
    assert_eq!(row.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
    // A tensor that requires grad is never overwritten; the result records the op.
    let w = tensor!([1.0, 2.0]).requires_grad_(true);
    let z = w.detach().requires_grad_(true) * 3.0;
    assert!(z.requires_grad() && !z.is_leaf());
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    // Broadcasting that changes the shape falls back to out of place.
    let e = tensor!([1.0, 2.0]) + tensor!([[1.0], [2.0]]);
    assert_eq!(e.shape(), &[2, 2]);
}
