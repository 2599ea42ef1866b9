//! Indexing and shape ops: gradient checks (f64, contiguous and non-contiguous inputs,
//! repeated indices), values against hand-computed results (most from PyTorch's docs), and
//! error messages.

use kiln_tensor::op::PadMode;
use kiln_tensor::ops::indexing::{s, Ellipsis, IndexItem, NewAxis};
use kiln_tensor::testing::{gradcheck, GradcheckOptions};
use kiln_tensor::{manual_seed, tensor, DType, Result, Tensor};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(shape, DType::F64).unwrap()
}

fn idx(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

#[track_caller]
fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[&Tensor]) {
    if let Err(e) = gradcheck(f, inputs, GradcheckOptions::default()) {
        panic!("{e}");
    }
}

/// Checks values and shape of an f64-convertible tensor.
#[track_caller]
fn assert_values(t: &Tensor, shape: &[usize], values: &[f64]) {
    assert_eq!(t.shape(), shape);
    assert_eq!(t.to_vec_f64(), values);
}

#[track_caller]
fn assert_err(r: Result<Tensor>, expected: &str) {
    match r {
        Ok(t) => panic!(
            "expected an error containing {expected:?}, got a tensor of shape {:?}",
            t.shape()
        ),
        Err(e) => assert!(
            e.to_string().contains(expected),
            "error {:?} does not contain {expected:?}",
            e.to_string()
        ),
    }
}

// ---------------------------------------------------------------- gradient checks

#[test]
fn grad_cat_and_stack() {
    manual_seed(10);
    let (a, b, c) = (randn(&[2, 3]), randn(&[2, 1]), randn(&[4, 2]));
    check(
        |i| Tensor::cat(&[&i[0], &i[1], &i[2].t()?.narrow(0, 0, 2)?], 1),
        &[&a, &b, &c],
    );
    check(
        |i| Tensor::cat(&[&i[0].t()?, &i[1].t()?.narrow(1, 0, 2)?], 0),
        &[&a, &c],
    );
    check(|i| Tensor::cat(&[&i[0], &i[0]], -2), &[&a]);
    let d = randn(&[3, 2]);
    check(|i| Tensor::stack(&[&i[0], &i[1].t()?], 0), &[&a, &d]);
    check(|i| Tensor::stack(&[&i[0], &i[1].t()?, &i[0]], 2), &[&a, &d]);
}

#[test]
fn grad_index_select_repeated_indices() {
    manual_seed(11);
    let x = randn(&[4, 3]);
    let rep = idx(&[3, 0, 3, 1, 3], &[5]);
    check(|i| i[0].index_select(0, &rep), &[&x]);
    check(|i| i[0].t()?.index_select(1, &rep), &[&x]);
    let i32_index = Tensor::from_slice(&[2i32, 2, 0], &[3]).unwrap();
    check(|i| i[0].index_select(-1, &i32_index), &[&x]);
    check(|i| i[0].index_select(1, &idx(&[1], &[])), &[&x]);
}

#[test]
fn grad_gather_repeated_indices() {
    manual_seed(12);
    let x = randn(&[3, 4]);
    // Index smaller than the input in the other dim, with repeats along `dim`.
    let index = idx(&[0, 0, 2, 2, 2, 1], &[2, 3]);
    check(|i| i[0].gather(0, &index), &[&x]);
    check(|i| i[0].t()?.gather(1, &index.t()?), &[&x]);
    let along1 = idx(&[3, 3, 3, 0, 1, 1, 2, 0, 0], &[3, 3]);
    check(|i| i[0].gather(1, &along1), &[&x]);
    check(
        |i| i[0].slice(1, 0, None, 2)?.gather(1, &idx(&[1, 1, 0, 1, 0, 0], &[3, 2])),
        &[&x],
    );
}

#[test]
fn grad_scatter_self_and_src() {
    manual_seed(13);
    let x = randn(&[3, 4]);
    let src = randn(&[3, 5]);
    // Unique destinations per column (with repeats the winner is unspecified, as in PyTorch).
    let index = idx(&[2, 0, 1, 0, 0, 2, 0, 1], &[2, 4]);
    check(|i| i[0].scatter(0, &index, &i[1]), &[&x, &src]);
    check(|i| i[0].t()?.scatter(1, &index.t()?, &i[1].t()?), &[&x, &src]);
    check(|i| i[0].scatter_value(0, &index, 1.5), &[&x]);
    check(|i| i[0].scatter_value(1, &index, -2.0), &[&x]);
}

#[test]
fn grad_scatter_add_repeated_indices() {
    manual_seed(14);
    let x = randn(&[3, 4]);
    let src = randn(&[4, 5]);
    let index = idx(&[2, 2, 2, 2, 2, 0, 2, 2, 1, 1, 1, 1], &[3, 4]);
    check(|i| i[0].scatter_add(0, &index, &i[1]), &[&x, &src]);
    check(|i| i[0].t()?.scatter_add(1, &index.t()?, &i[1].t()?), &[&x, &src]);
    let along1 = idx(&[0, 0, 0, 3, 1, 1], &[2, 3]);
    check(|i| i[0].scatter_add(1, &along1, &i[1]), &[&x, &src]);
}

#[test]
fn grad_index_add_repeated_indices() {
    manual_seed(15);
    let x = randn(&[4, 3]);
    let src = randn(&[5, 3]);
    let rep = idx(&[1, 3, 1, 1, 0], &[5]);
    check(|i| i[0].index_add(0, &rep, &i[1]), &[&x, &src]);
    check(|i| i[0].t()?.index_add(1, &rep, &i[1].t()?), &[&x, &src]);
    check(|i| i[0].index_add_alpha(0, &rep, &i[1], -0.5), &[&x, &src]);
}

#[test]
fn grad_pad_all_modes() {
    manual_seed(16);
    let x = randn(&[2, 3, 4]);
    for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Replicate] {
        check(|i| i[0].pad(&[2, 3], mode, 0.5), &[&x]);
        check(|i| i[0].pad(&[1, 2, 2, 0], mode, 0.5), &[&x]);
        check(|i| i[0].pad(&[1, 1, 0, 2, 1, 1], mode, 0.0), &[&x]);
        check(|i| i[0].transpose(1, 2)?.pad(&[2, 1, 3, 2], mode, 0.0), &[&x]);
        // Negative entries crop, alone or next to padding on the other side.
        check(|i| i[0].pad(&[-1, 2], mode, 0.5), &[&x]);
        check(|i| i[0].pad(&[2, -1, -1, 0], mode, 0.5), &[&x]);
        check(|i| i[0].pad(&[-1, -2, 1, -1, 0, -1], mode, 0.0), &[&x]);
        check(|i| i[0].transpose(1, 2)?.pad(&[-1, 1, 1, -2], mode, 0.0), &[&x]);
    }
    // Constant mode may crop a dim away entirely.
    check(|i| i[0].pad(&[-2, -2, 1, 0], PadMode::Constant, 0.0), &[&x]);
}

#[test]
fn grad_tril_triu_flip_roll() {
    manual_seed(17);
    let x = randn(&[2, 3, 4]);
    for d in [-1, 0, 2] {
        check(|i| i[0].tril(d), &[&x]);
        check(|i| i[0].triu(d), &[&x]);
        check(|i| i[0].transpose(1, 2)?.tril(d), &[&x]);
        check(|i| i[0].transpose(0, 2)?.triu(d), &[&x]);
    }
    check(|i| i[0].flip(&[0]), &[&x]);
    check(|i| i[0].flip(&[0, -1]), &[&x]);
    check(|i| i[0].transpose(0, 1)?.flip(&[1, 2]), &[&x]);
    check(|i| i[0].roll(&[1, -5], &[0, 2]), &[&x]);
    check(|i| i[0].roll(&[7], &[]), &[&x]);
    check(|i| i[0].transpose(0, 2)?.roll(&[1, 2], &[1, 1]), &[&x]);
}

#[test]
fn grad_repeat_and_basic_indexing() {
    manual_seed(18);
    let x = randn(&[2, 3]);
    check(|i| i[0].repeat(&[2, 3]), &[&x]);
    check(|i| i[0].repeat(&[2, 1, 2]), &[&x]);
    check(|i| i[0].t()?.repeat(&[1, 2]), &[&x]);
    let y = randn(&[3, 4, 5]);
    check(|i| i[0].i((1, .., s(1.., 2))), &[&y]);
    check(|i| i[0].i((-1, NewAxis, 1..=2)), &[&y]);
    check(|i| i[0].transpose(0, 2)?.i((Ellipsis, 2)), &[&y]);
}

#[test]
fn double_backward_through_index_ops() {
    manual_seed(19);
    let x = randn(&[3, 4]);
    let index = idx(&[0, 0, 2, 1, 1, 2, 2, 0], &[2, 4]);
    let rep = idx(&[2, 0, 2], &[3]);
    // d/dx of sum(op(x)^3) is a function of x built from the backward rules: check it too.
    type Op = Box<dyn Fn(&Tensor) -> Result<Tensor>>;
    let ops: Vec<(&str, Op)> = vec![
        ("gather", Box::new(move |t: &Tensor| t.gather(0, &index))),
        ("index_select", Box::new(move |t: &Tensor| t.index_select(0, &rep))),
        (
            "pad_reflect",
            Box::new(|t: &Tensor| t.pad(&[2, 1, 1, 2], PadMode::Reflect, 0.0)),
        ),
        (
            "cat",
            Box::new(|t: &Tensor| Tensor::cat(&[t, &t.t()?.narrow(0, 0, 3)?], 1)),
        ),
    ];
    for (name, op) in ops {
        let first = |i: &[Tensor]| -> Result<Tensor> {
            // gradcheck's finite-difference passes run under no_grad on plain tensors.
            let x = if i[0].requires_grad() {
                i[0].clone()
            } else {
                i[0].detach().requires_grad_(true)
            };
            kiln_tensor::enable_grad(|| {
                let y = op(&x)?.pow_scalar(3.0)?.sum()?;
                let create = i[0].requires_grad();
                Ok(kiln_tensor::grad(&y, &[&x], None, create)?
                    .remove(0)
                    .expect("x is used"))
            })
        };
        gradcheck(first, &[&x], GradcheckOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

// ---------------------------------------------------------------- values

#[test]
fn cat_values_promotion_and_legacy_empty() {
    let a = tensor!([[1, 2], [3, 4]]);
    let b = tensor!([[5.5], [6.5]]);
    let c = Tensor::cat(&[&a, &b], 1).unwrap();
    assert_eq!(c.dtype(), DType::F32);
    assert_values(&c, &[2, 3], &[1.0, 2.0, 5.5, 3.0, 4.0, 6.5]);
    let r = Tensor::cat(&[&a, &tensor!([[7, 8]])], 0).unwrap();
    assert_eq!(r.dtype(), DType::I64);
    assert_values(&r, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 7.0, 8.0]);
    let empty = Tensor::zeros(&[0], DType::I64);
    assert_values(
        &Tensor::cat(&[&empty, &a, &empty], 0).unwrap(),
        &[2, 2],
        &[1.0, 2.0, 3.0, 4.0],
    );
    let bools = Tensor::cat(&[&tensor!([true]), &tensor!([false, true])], 0).unwrap();
    assert_eq!(bools.to_vec::<bool>().unwrap(), vec![true, false, true]);
    // A transposed input is read in logical order.
    let t = Tensor::cat(&[&a.t().unwrap(), &a], 0).unwrap();
    assert_values(&t, &[4, 2], &[1.0, 3.0, 2.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn stack_values() {
    let a = tensor!([1, 2, 3]);
    let b = tensor!([4, 5, 6]);
    assert_values(
        &Tensor::stack(&[&a, &b], 0).unwrap(),
        &[2, 3],
        &[1., 2., 3., 4., 5., 6.],
    );
    assert_values(
        &Tensor::stack(&[&a, &b], -1).unwrap(),
        &[3, 2],
        &[1., 4., 2., 5., 3., 6.],
    );
}

#[test]
fn index_select_and_gather_values() {
    let x = tensor!([[1, 2, 3], [4, 5, 6]]);
    assert_values(
        &x.index_select(1, &idx(&[2, 0, 2], &[3])).unwrap(),
        &[2, 3],
        &[3., 1., 3., 6., 4., 6.],
    );
    assert_values(&x.index_select(0, &idx(&[1], &[1])).unwrap(), &[1, 3], &[4., 5., 6.]);
    assert_values(&x.index_select(0, &idx(&[], &[0])).unwrap(), &[0, 3], &[]);
    // torch.gather docs: gather(t, 1, [[0, 0], [1, 0]]) on [[1, 2], [3, 4]].
    let t = tensor!([[1, 2], [3, 4]]);
    assert_values(
        &t.gather(1, &idx(&[0, 0, 1, 0], &[2, 2])).unwrap(),
        &[2, 2],
        &[1., 1., 4., 3.],
    );
    assert_values(&x.gather(0, &idx(&[1, 0, 1], &[1, 3])).unwrap(), &[1, 3], &[4., 2., 6.]);
    assert_values(
        &x.t().unwrap().gather(0, &idx(&[2, 1], &[1, 2])).unwrap(),
        &[1, 2],
        &[3., 5.],
    );
}

#[test]
fn scatter_values() {
    // torch.scatter docs.
    let src = Tensor::arange(1.0, 11.0, 1.0, DType::I64)
        .unwrap()
        .reshape(&[2, 5])
        .unwrap();
    let index = idx(&[0, 1, 2, 0], &[1, 4]);
    let out = Tensor::zeros(&[3, 5], DType::I64).scatter(0, &index, &src).unwrap();
    assert_values(
        &out,
        &[3, 5],
        &[1., 0., 0., 4., 0., 0., 2., 0., 0., 0., 0., 0., 3., 0., 0.],
    );
    let index = idx(&[0, 1, 2, 0], &[2, 2]);
    let out = Tensor::zeros(&[3, 5], DType::I64).scatter(1, &index, &src).unwrap();
    assert_values(
        &out,
        &[3, 5],
        &[1., 2., 0., 0., 0., 7., 0., 6., 0., 0., 0., 0., 0., 0., 0.],
    );
    let out = Tensor::full(&[2, 4], 2.0, DType::F32)
        .unwrap()
        .scatter_value(1, &idx(&[1, 2, 0, 3], &[2, 2]), 1.23)
        .unwrap();
    assert_values(
        &out,
        &[2, 4],
        &[
            2.0,
            1.23f32 as f64,
            1.23f32 as f64,
            2.0,
            1.23f32 as f64,
            2.0,
            2.0,
            1.23f32 as f64,
        ],
    );
    // The input is not modified.
    let base = tensor!([1.0, 2.0]);
    let _ = base.scatter_value(0, &idx(&[0], &[1]), 9.0).unwrap();
    assert_eq!(base.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn scatter_add_and_index_add_values() {
    // torch.scatter_add docs.
    let src = Tensor::ones(&[2, 5], DType::F32);
    let index = idx(&[0, 1, 2, 0, 0, 0, 1, 2, 2, 2], &[2, 5]);
    let out = Tensor::zeros(&[3, 5], DType::F32).scatter_add(0, &index, &src).unwrap();
    assert_values(
        &out,
        &[3, 5],
        &[2., 0., 0., 1., 1., 0., 2., 0., 0., 0., 0., 0., 2., 1., 1.],
    );
    let ints = Tensor::zeros(&[4], DType::I32).scatter_add(
        0,
        &idx(&[3, 3, 0], &[3]),
        &Tensor::from_slice(&[5i32, 6, 7], &[3]).unwrap(),
    );
    assert_eq!(ints.unwrap().to_vec::<i32>().unwrap(), vec![7, 0, 0, 11]);
    // torch.index_add docs.
    let x = Tensor::ones(&[5, 3], DType::F32);
    let t = tensor!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]);
    let i = idx(&[0, 4, 2], &[3]);
    let out = x.index_add(0, &i, &t).unwrap();
    assert_values(
        &out,
        &[5, 3],
        &[2., 3., 4., 1., 1., 1., 8., 9., 10., 1., 1., 1., 5., 6., 7.],
    );
    let out = x.index_add_alpha(0, &i, &t, 2.0).unwrap();
    assert_values(
        &out,
        &[5, 3],
        &[3., 5., 7., 1., 1., 1., 15., 17., 19., 1., 1., 1., 9., 11., 13.],
    );
    let dup = Tensor::zeros(&[2, 2], DType::I64).index_add(1, &idx(&[1, 1, 0], &[3]), &tensor!([[1, 2, 3], [4, 5, 6]]));
    assert_values(&dup.unwrap(), &[2, 2], &[3., 3., 6., 9.]);
}

#[test]
fn pad_values() {
    let x = tensor!([0, 1, 2, 3]);
    assert_values(
        &x.pad(&[2, 1], PadMode::Reflect, 0.0).unwrap(),
        &[7],
        &[2., 1., 0., 1., 2., 3., 2.],
    );
    assert_values(
        &x.pad(&[2, 1], PadMode::Replicate, 0.0).unwrap(),
        &[7],
        &[0., 0., 0., 1., 2., 3., 3.],
    );
    assert_values(
        &x.pad(&[2, 1], PadMode::Constant, 9.0).unwrap(),
        &[7],
        &[9., 9., 0., 1., 2., 3., 9.],
    );
    let m = tensor!([[1.0, 2.0], [3.0, 4.0]]);
    // [left, right, top, bottom]
    assert_values(
        &m.pad(&[1, 0, 0, 1], PadMode::Constant, 0.0).unwrap(),
        &[3, 3],
        &[0., 1., 2., 0., 3., 4., 0., 0., 0.],
    );
    let r = m.pad(&[1, 1, 1, 0], PadMode::Reflect, 0.0).unwrap();
    assert_values(&r, &[3, 4], &[4., 3., 4., 3., 2., 1., 2., 1., 4., 3., 4., 3.]);
    let rep = m.t().unwrap().pad(&[0, 1, 1, 1], PadMode::Replicate, 0.0).unwrap();
    assert_values(&rep, &[4, 3], &[1., 3., 3., 1., 3., 3., 2., 4., 4., 2., 4., 4.]);
    assert_values(&m.pad(&[], PadMode::Reflect, 0.0).unwrap(), &[2, 2], &[1., 2., 3., 4.]);
}

#[test]
fn tril_triu_values() {
    let x = Tensor::arange(1.0, 13.0, 1.0, DType::I64)
        .unwrap()
        .reshape(&[3, 4])
        .unwrap();
    assert_values(
        &x.tril(0).unwrap(),
        &[3, 4],
        &[1., 0., 0., 0., 5., 6., 0., 0., 9., 10., 11., 0.],
    );
    assert_values(
        &x.tril(-1).unwrap(),
        &[3, 4],
        &[0., 0., 0., 0., 5., 0., 0., 0., 9., 10., 0., 0.],
    );
    assert_values(
        &x.triu(1).unwrap(),
        &[3, 4],
        &[0., 2., 3., 4., 0., 0., 7., 8., 0., 0., 0., 12.],
    );
    assert_values(
        &x.triu(-1).unwrap(),
        &[3, 4],
        &[1., 2., 3., 4., 5., 6., 7., 8., 0., 10., 11., 12.],
    );
    // Batched, and NaN / inf outside the triangle do not leak (no multiplication by a mask).
    let b = Tensor::from_vec(
        vec![f32::INFINITY, 1.0, 2.0, f32::NAN, 3.0, 4.0, 5.0, f32::NAN],
        &[2, 2, 2],
    )
    .unwrap();
    let got = b.triu(0).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(got[..3], [f32::INFINITY, 1.0, 0.0]);
    assert_eq!(got[4..7], [3.0, 4.0, 0.0]);
    assert!(got[3].is_nan() && got[7].is_nan());
    assert_values(&b.tril(-1).unwrap(), &[2, 2, 2], &[0., 0., 2., 0., 0., 0., 5., 0.]);
}

#[test]
fn flip_roll_repeat_values() {
    let x = Tensor::arange(0.0, 8.0, 1.0, DType::I64)
        .unwrap()
        .reshape(&[2, 2, 2])
        .unwrap();
    // torch.flip docs.
    assert_values(&x.flip(&[0, 1]).unwrap(), &[2, 2, 2], &[6., 7., 4., 5., 2., 3., 0., 1.]);
    assert_values(&x.flip(&[]).unwrap(), &[2, 2, 2], &[0., 1., 2., 3., 4., 5., 6., 7.]);
    // torch.roll docs.
    let y = tensor!([[1, 2], [3, 4], [5, 6], [7, 8]]);
    assert_values(&y.roll(&[1], &[]).unwrap(), &[4, 2], &[8., 1., 2., 3., 4., 5., 6., 7.]);
    assert_values(&y.roll(&[1], &[0]).unwrap(), &[4, 2], &[7., 8., 1., 2., 3., 4., 5., 6.]);
    assert_values(
        &y.roll(&[-1], &[0]).unwrap(),
        &[4, 2],
        &[3., 4., 5., 6., 7., 8., 1., 2.],
    );
    assert_values(
        &y.roll(&[2, 1], &[0, 1]).unwrap(),
        &[4, 2],
        &[6., 5., 8., 7., 2., 1., 4., 3.],
    );
    assert_values(
        &y.roll(&[1, 1], &[0, 0]).unwrap(),
        &[4, 2],
        &[5., 6., 7., 8., 1., 2., 3., 4.],
    );
    // torch.Tensor.repeat docs.
    let z = tensor!([1, 2, 3]);
    assert_values(
        &z.repeat(&[2, 2]).unwrap(),
        &[2, 6],
        &[1., 2., 3., 1., 2., 3., 1., 2., 3., 1., 2., 3.],
    );
    assert_eq!(z.repeat(&[4, 2, 1]).unwrap().shape(), &[4, 2, 3]);
    let once = z.repeat(&[1]).unwrap();
    assert!(!once.shares_storage(&z));
    assert_values(&once, &[3], &[1., 2., 3.]);
}

#[test]
fn one_hot_values() {
    let c = tensor!([0, 2, 1]);
    assert_values(
        &c.one_hot(None).unwrap(),
        &[3, 3],
        &[1., 0., 0., 0., 0., 1., 0., 1., 0.],
    );
    let h = tensor!([[1], [0]]).one_hot(Some(4)).unwrap();
    assert_eq!(h.dtype(), DType::I64);
    assert_values(&h, &[2, 1, 4], &[0., 1., 0., 0., 1., 0., 0., 0.]);
    let i32s = Tensor::from_slice(&[1i32], &[1]).unwrap();
    assert_values(&i32s.one_hot(Some(2)).unwrap(), &[1, 2], &[0., 1.]);
}

#[test]
fn basic_indexing_views() {
    let x = Tensor::arange(0.0, 24.0, 1.0, DType::F32)
        .unwrap()
        .reshape(&[2, 3, 4])
        .unwrap();
    let v = x.i((1, .., 1..3)).unwrap();
    assert!(v.shares_storage(&x));
    assert_values(&v, &[3, 2], &[13., 14., 17., 18., 21., 22.]);
    assert_values(&x.i((0, -1)).unwrap(), &[4], &[8., 9., 10., 11.]);
    assert_values(
        &x.i((.., 1..=2, s(.., 3))).unwrap(),
        &[2, 2, 2],
        &[4., 7., 8., 11., 16., 19., 20., 23.],
    );
    assert_values(&x.i((1, ..=-1, -1)).unwrap(), &[3], &[15., 19., 23.]);
    assert_values(&x.i((Ellipsis, 0)).unwrap(), &[2, 3], &[0., 4., 8., 12., 16., 20.]);
    assert_eq!(x.i((NewAxis, 0, Ellipsis, NewAxis)).unwrap().shape(), &[1, 3, 4, 1]);
    assert_eq!(x.i(1usize).unwrap().shape(), &[3, 4]);
    assert_eq!(x.i(-1i64).unwrap().shape(), &[3, 4]);
    assert_eq!(x.i(..).unwrap().shape(), &[2, 3, 4]);
    assert_eq!(x.i((2.., 0)).unwrap().shape(), &[0, 4]);
    let items = vec![IndexItem::Select(1), IndexItem::NewAxis];
    assert_eq!(x.i(items).unwrap().shape(), &[1, 3, 4]);
    assert_eq!(x.i((1, 2, 3)).unwrap().item::<f32>().unwrap(), 23.0);
}

// ---------------------------------------------------------------- errors

#[test]
fn out_of_range_indices_are_errors() {
    let x = tensor!([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_err(
        x.index_select(1, &idx(&[0, 3], &[2])),
        "index_select: index 3 is out of bounds for dimension 1 with size 3",
    );
    assert_err(
        x.index_select(0, &idx(&[-1], &[1])),
        "index_select: index -1 is out of bounds for dimension 0 with size 2",
    );
    assert_err(
        x.gather(0, &idx(&[0, 2], &[1, 2])),
        "gather: index 2 is out of bounds for dimension 0 with size 2",
    );
    assert_err(
        x.scatter(1, &idx(&[5], &[1, 1]), &x),
        "scatter: index 5 is out of bounds for dimension 1 with size 3",
    );
    assert_err(
        x.scatter_add(0, &idx(&[-3], &[1, 1]), &x),
        "scatter_add: index -3 is out of bounds for dimension 0 with size 2",
    );
    assert_err(
        x.index_add(0, &idx(&[7], &[1]), &tensor!([[1.0, 1.0, 1.0]])),
        "index_add: index 7 is out of bounds for dimension 0 with size 2",
    );
    assert_err(
        x.index_select(0, &tensor!([0.0])),
        "index_select: unsupported dtype float32",
    );
    assert_err(
        x.index_select(2, &idx(&[0], &[1])),
        "index_select: dimension 2 out of range",
    );
}

#[test]
fn mismatched_shapes_are_errors() {
    let a = Tensor::zeros(&[2, 3], DType::F32);
    let b = Tensor::zeros(&[2, 4], DType::F32);
    assert_err(
        Tensor::cat(&[&a, &a, &b], 0),
        "cat: sizes of tensors must match except in dimension 0: expected size 3 but got size 4 for tensor number 2 in the list ([2, 3] vs [2, 4])",
    );
    assert_err(
        Tensor::cat(&[&a, &Tensor::zeros(&[3], DType::F32)], 0),
        "cat: tensors must have the same number of dimensions: tensor 0 has shape [2, 3] but tensor 1 has shape [3]",
    );
    assert_err(Tensor::cat(&[], 0), "cat: expected a non-empty list of tensors");
    assert_err(
        Tensor::stack(&[&a, &b], 0),
        "stack: expects each tensor to be equal size, but got [2, 3] at entry 0 and [2, 4] at entry 1",
    );
    assert_err(
        a.gather(1, &idx(&[0, 0, 0], &[3, 1])),
        "gather: index of shape [3, 1] is larger than input of shape [2, 3] in dimension 0",
    );
    assert_err(
        a.gather(1, &idx(&[0], &[1])),
        "gather: index of shape [1] must have the same number of dims as input of shape [2, 3]",
    );
    assert_err(
        a.scatter(0, &idx(&[0, 0, 0, 0], &[1, 4]), &b),
        "scatter: index of shape [1, 4] is larger than self of shape [2, 3] in dimension 1",
    );
    assert_err(
        b.scatter_add(0, &idx(&[0, 0, 0, 0], &[1, 4]), &a),
        "scatter_add: index of shape [1, 4] is larger than src of shape [2, 3] in dimension 1",
    );
    assert_err(
        a.index_add(1, &idx(&[0, 1], &[2]), &Tensor::zeros(&[3, 2], DType::F32)),
        "index_add: source of shape [3, 2] does not fit self of shape [2, 3] with 2 indices in dimension 1 (expected [2, 2])",
    );
    assert_err(
        a.scatter(0, &idx(&[0], &[1, 1]), &Tensor::zeros(&[2, 3], DType::F64)),
        "scatter: dtype mismatch: float32 vs float64",
    );
    assert_err(
        a.index_select(0, &idx(&[0, 1], &[1, 2])),
        "index_select: index must be 0-D or 1-D, got shape [1, 2]",
    );
    assert_err(
        a.roll(&[1, 2], &[0]),
        "roll: shifts [1, 2] and dims [0] must have the same length",
    );
    assert_err(
        a.repeat(&[2]),
        "repeat: number of repeat dims (1) cannot be smaller than the number of tensor dims (2, shape [2, 3])",
    );
    assert_err(
        Tensor::zeros(&[3], DType::F32).tril(0),
        "tril: input must have at least 2 dimensions, got shape [3]",
    );
    assert_err(a.flip(&[1, -1]), "flip: dim 1 appears more than once");
}

#[test]
fn pad_errors() {
    let x = Tensor::zeros(&[1, 3], DType::F32);
    assert_err(
        x.pad(&[3, 0], PadMode::Reflect, 0.0),
        "pad: reflect padding (3, 0) of dimension 1 must be less than its size 3 (input [1, 3])",
    );
    assert_err(
        x.pad(&[0, 0, 1, 1], PadMode::Reflect, 0.0),
        "pad: reflect padding (1, 1) of dimension 0 must be less than its size 1 (input [1, 3])",
    );
    assert_err(
        x.pad(&[1, 1, 1], PadMode::Constant, 0.0),
        "pad: padding length must be divisible by 2, got 3",
    );
    assert_err(
        x.pad(&[1, 1, 1, 1, 1, 1], PadMode::Constant, 0.0),
        "pad: padding length 6 is too large for a tensor of shape [1, 3] (at most 4)",
    );
    assert_err(
        Tensor::zeros(&[0], DType::F32).pad(&[1, 0], PadMode::Replicate, 0.0),
        "pad: cannot replicate-pad dimension 0 of size 0",
    );
    assert_err(
        x.pad(&[-2, -2], PadMode::Constant, 0.0),
        "pad: padding (-2, -2) of dimension 1 of size 3 leaves size -1 (input [1, 3])",
    );
    assert_err(
        x.pad(&[0, 0, 1, -3], PadMode::Constant, 0.0),
        "pad: padding (1, -3) of dimension 0 of size 1 leaves size -1 (input [1, 3])",
    );
    for mode in [PadMode::Reflect, PadMode::Replicate] {
        assert_err(
            x.pad(&[-3, 0], mode, 0.0),
            "pad: padding (-3, 0) of dimension 1 of size 3 leaves size 0 (input [1, 3])",
        );
    }
}

#[test]
fn pad_negative_crops_like_torch() {
    // Values from torch.nn.functional.pad on arange(12.).reshape(3, 4).
    let x = Tensor::from_vec((0..12).map(f64::from).collect(), &[3, 4]).unwrap();
    assert_values(
        &x.pad(&[-1, 2], PadMode::Constant, 9.0).unwrap(),
        &[3, 5],
        &[1., 2., 3., 9., 9., 5., 6., 7., 9., 9., 9., 10., 11., 9., 9.],
    );
    assert_values(
        &x.pad(&[2, -1], PadMode::Reflect, 0.0).unwrap(),
        &[3, 5],
        &[2., 1., 0., 1., 2., 6., 5., 4., 5., 6., 10., 9., 8., 9., 10.],
    );
    assert_values(
        &x.pad(&[2, -1], PadMode::Replicate, 0.0).unwrap(),
        &[3, 5],
        &[0., 0., 0., 1., 2., 4., 4., 4., 5., 6., 8., 8., 8., 9., 10.],
    );
    assert_values(
        &x.pad(&[-1, -1, 0, -2], PadMode::Reflect, 0.0).unwrap(),
        &[1, 2],
        &[1., 2.],
    );
    assert_eq!(x.pad(&[-4, 0], PadMode::Constant, 0.0).unwrap().shape(), &[3, 0]);
    assert_eq!(x.pad(&[-1, 2, 0, -3], PadMode::Constant, 0.0).unwrap().shape(), &[0, 5]);
}

#[test]
fn one_hot_and_indexing_errors() {
    assert_err(
        tensor!([0, -1]).one_hot(None),
        "one_hot: class values must be non-negative, got -1",
    );
    assert_err(
        tensor!([0, 5]).one_hot(Some(3)),
        "one_hot: class value 5 is out of range for num_classes 3",
    );
    assert_err(
        Tensor::zeros(&[0], DType::I64).one_hot(None),
        "one_hot: cannot infer the number of classes from an empty tensor",
    );
    assert_err(tensor!([1.0]).one_hot(None), "one_hot: unsupported dtype float32");
    let x = Tensor::zeros(&[2, 3], DType::F32);
    assert_err(
        x.i((0, 1, 2)),
        "index: too many indices for tensor of dimension 2 (shape [2, 3]): 3 given",
    );
    assert_err(
        x.i((Ellipsis, 0, Ellipsis)),
        "index: an index can only have a single ellipsis",
    );
    assert_err(
        x.i((.., 3)),
        "select: index 3 is out of bounds for dimension 1 with size 3",
    );
    assert_err(x.i(s(.., 0)), "slice: step must be positive");
}

// ---------------------------------------------------------------- edge cases

#[test]
fn zero_dim_and_empty_operands() {
    let s = Tensor::scalar(5.0f64);
    assert_values(&s.index_select(0, &idx(&[0], &[])).unwrap(), &[], &[5.0]);
    assert_values(&s.gather(0, &idx(&[0], &[])).unwrap(), &[], &[5.0]);
    let sc = s.scatter(0, &idx(&[0], &[]), &Tensor::scalar(2.0f64)).unwrap();
    assert_values(&sc, &[], &[2.0]);
    let ia = s.index_add(0, &idx(&[0], &[]), &Tensor::scalar(2.0f64)).unwrap();
    assert_values(&ia, &[], &[7.0]);
    assert_values(&s.flip(&[0]).unwrap(), &[], &[5.0]);
    assert_values(&s.roll(&[3], &[]).unwrap(), &[], &[5.0]);
    assert_values(&s.repeat(&[2, 1]).unwrap(), &[2, 1], &[5.0, 5.0]);
    assert_err(
        s.index_add(0, &idx(&[0], &[1]), &Tensor::from_slice(&[1.0f64], &[1]).unwrap()),
        "index_add: source of shape [1] must have the same number of dims as self of shape []",
    );
    // Empty index tensors give empty results or unchanged copies.
    let x = tensor!([[1.0, 2.0], [3.0, 4.0]]);
    assert_values(&x.gather(1, &idx(&[], &[2, 0])).unwrap(), &[2, 0], &[]);
    assert_values(
        &x.scatter_add(0, &idx(&[], &[0, 2]), &x).unwrap(),
        &[2, 2],
        &[1., 2., 3., 4.],
    );
    assert_values(
        &x.pad(&[1, 1], PadMode::Constant, 0.0).unwrap().i((.., 1..3)).unwrap(),
        &[2, 2],
        &[1., 2., 3., 4.],
    );
    let e = Tensor::zeros(&[0, 3], DType::F32);
    assert_eq!(e.roll(&[2], &[0]).unwrap().shape(), &[0, 3]);
    assert_eq!(e.tril(0).unwrap().shape(), &[0, 3]);
    assert_eq!(e.pad(&[1, 1], PadMode::Reflect, 0.0).unwrap().shape(), &[0, 5]);
}

#[test]
fn dtypes_and_index_kinds() {
    // int32 indices everywhere.
    let i32_index = Tensor::from_slice(&[1i32, 0, 1], &[1, 3]).unwrap();
    let x = tensor!([[1, 2, 3], [4, 5, 6]]);
    assert_values(&x.gather(0, &i32_index).unwrap(), &[1, 3], &[4., 2., 6.]);
    let sa = x.scatter_add(0, &i32_index, &tensor!([[10, 20, 30]])).unwrap();
    assert_values(&sa, &[2, 3], &[1., 22., 3., 14., 5., 36.]);
    // Half precision accumulates; bool can be scattered but not added.
    for dt in [DType::F16, DType::BF16] {
        let h = Tensor::zeros(&[3], dt)
            .scatter_add(0, &idx(&[2, 2], &[2]), &Tensor::ones(&[2], dt))
            .unwrap();
        assert_eq!(h.dtype(), dt);
        assert_values(&h, &[3], &[0., 0., 2.]);
    }
    let b = Tensor::zeros(&[3], DType::Bool);
    let t = Tensor::ones(&[1], DType::Bool);
    assert_values(&b.scatter(0, &idx(&[1], &[1]), &t).unwrap(), &[3], &[0., 1., 0.]);
    assert_err(
        b.scatter_add(0, &idx(&[1], &[1]), &t),
        "scatter_add: unsupported dtype bool (cannot add bool tensors)",
    );
    assert_err(x.gather(0, &tensor!([[true]])), "gather: unsupported dtype bool");
    // Padding an integer tensor casts the fill value; flip and roll keep the dtype.
    let p = x.pad(&[1, 0], PadMode::Constant, 7.9).unwrap();
    assert_eq!(p.dtype(), DType::I64);
    assert_values(&p, &[2, 4], &[7., 1., 2., 3., 7., 4., 5., 6.]);
    assert_eq!(x.flip(&[1]).unwrap().to_vec::<i64>().unwrap(), vec![3, 2, 1, 6, 5, 4]);
}

#[test]
fn roll_with_extreme_shift_has_exact_gradient() {
    manual_seed(20);
    let x = randn(&[3, 5]);
    check(|i| i[0].roll(&[i64::MIN, i64::MAX], &[0, 1]), &[&x]);
}

// ---------------------------------------------------------------- against naive loops

mod naive {
    use super::*;
    use proptest::prelude::*;

    /// Row-major strides of `shape`.
    fn strides(shape: &[usize]) -> Vec<usize> {
        let mut s = vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            s[d] = s[d + 1] * shape[d + 1];
        }
        s
    }

    fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut out = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            out[d] = i % shape[d];
            i /= shape[d];
        }
        out
    }

    fn ravel(ix: &[usize], shape: &[usize]) -> usize {
        ix.iter().zip(strides(shape)).map(|(a, b)| a * b).sum()
    }

    fn arange(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::arange(0.0, n as f64, 1.0, DType::F64)
            .unwrap()
            .reshape(shape)
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn pad_matches_naive(shape in proptest::collection::vec(1usize..5, 1..4), raw in proptest::collection::vec(-4i64..4, 6), mode in 0usize..3) {
            let x = arange(&shape);
            let r = shape.len();
            let k = (raw.len() / 2).min(r);
            // Reflect needs positive pads below the size; crops may not remove more than the
            // dim (nor all of it, outside constant mode).
            let mut pads: Vec<i64> = (0..2 * k).map(|j| {
                let n = shape[r - 1 - j / 2] as i64;
                if mode == 1 && raw[j] > 0 { raw[j] % n } else { raw[j] }
            }).collect();
            for j in 0..k {
                let n = shape[r - 1 - j] as i64;
                let least = if mode == 0 { 0 } else { 1 };
                if n + pads[2 * j] + pads[2 * j + 1] < least {
                    pads[2 * j] = pads[2 * j].max(0);
                    pads[2 * j + 1] = pads[2 * j + 1].max(0);
                }
            }
            let mode_v = [PadMode::Constant, PadMode::Reflect, PadMode::Replicate][mode];
            let out = x.pad(&pads, mode_v, -1.0).unwrap();
            let mut before = vec![0isize; r];
            let mut expect_shape = shape.clone();
            for j in 0..k {
                before[r - 1 - j] = pads[2 * j] as isize;
                expect_shape[r - 1 - j] = (shape[r - 1 - j] as i64 + pads[2 * j] + pads[2 * j + 1]) as usize;
            }
            prop_assert_eq!(out.shape(), &expect_shape[..]);
            let xs = x.to_vec_f64();
            for (o, &v) in out.to_vec_f64().iter().enumerate() {
                let oi = unravel(o, out.shape());
                let mut src = Vec::with_capacity(r);
                let mut fill = false;
                for d in 0..r {
                    let n = shape[d] as isize;
                    let i = oi[d] as isize - before[d];
                    src.push(match mode {
                        _ if (0..n).contains(&i) => i as usize,
                        0 => { fill = true; 0 }
                        1 => if i < 0 { (-i) as usize } else { (2 * (n - 1) - i) as usize },
                        _ => i.clamp(0, n - 1) as usize,
                    });
                }
                let expect = if fill { -1.0 } else { xs[ravel(&src, &shape)] };
                prop_assert_eq!(v, expect);
            }
        }

        #[test]
        fn gather_and_scatter_add_match_naive(rows in 1usize..5, cols in 1usize..5, irows in 1usize..6, seed in 0u64..1000, dim in 0usize..2) {
            let x = arange(&[rows, cols]);
            let n = [rows, cols][dim];
            let ishape = if dim == 0 { [irows, cols] } else { [rows, irows] };
            let vals: Vec<i64> = (0..ishape[0] * ishape[1]).map(|i| ((seed as usize * 31 + i * 17) % n) as i64).collect();
            let index = Tensor::from_slice(&vals, &ishape).unwrap();
            let g = x.gather(dim as isize, &index).unwrap().to_vec_f64();
            let src = arange(&ishape).add_scalar(100.0).unwrap();
            let sa = x.scatter_add(dim as isize, &index, &src).unwrap().to_vec_f64();
            let mut expect_sa = x.to_vec_f64();
            let sv = src.to_vec_f64();
            for (p, &v) in vals.iter().enumerate() {
                let mut ix = unravel(p, &ishape);
                ix[dim] = v as usize;
                let at = ravel(&ix, &[rows, cols]);
                prop_assert_eq!(g[p], at as f64);
                expect_sa[at] += sv[p];
            }
            prop_assert_eq!(sa, expect_sa);
        }

        #[test]
        fn roll_and_flip_match_naive(shape in proptest::collection::vec(1usize..5, 1..4), shift in -9i64..9, dim_pick in 0usize..3) {
            let x = arange(&shape);
            let d = dim_pick % shape.len();
            let n = shape[d] as i64;
            let rolled = x.roll(&[shift], &[d as isize]).unwrap().to_vec_f64();
            let flipped = x.flip(&[d as isize]).unwrap().to_vec_f64();
            for o in 0..x.numel() {
                let mut ix = unravel(o, &shape);
                let orig = ix[d] as i64;
                ix[d] = (orig - shift).rem_euclid(n) as usize;
                prop_assert_eq!(rolled[o], ravel(&ix, &shape) as f64);
                ix[d] = (n - 1 - orig) as usize;
                prop_assert_eq!(flipped[o], ravel(&ix, &shape) as f64);
            }
        }
    }

    #[test]
    fn large_flip_and_index_select_use_the_parallel_path() {
        let x = arange(&[300, 200]);
        let f = x.t().unwrap().flip(&[0]).unwrap().to_vec_f64();
        for (o, &v) in f.iter().enumerate() {
            let (c, r) = (199 - o / 300, o % 300);
            assert_eq!(v, (r * 200 + c) as f64);
        }
        let rows: Vec<i64> = (0..300).rev().collect();
        let s = x.index_select(0, &Tensor::from_slice(&rows, &[300]).unwrap()).unwrap();
        assert_eq!(s.i((0, 5)).unwrap().item_f64().unwrap(), (299 * 200 + 5) as f64);
    }
}

#[test]
fn views_starting_inside_their_buffer() {
    // Contiguous views with a nonzero offset: rows 1..3 of a [3, 3] tensor.
    let base = Tensor::arange(0.0, 9.0, 1.0, DType::F64)
        .unwrap()
        .reshape(&[3, 3])
        .unwrap();
    let v = base.narrow(0, 1, 2).unwrap();
    assert!(v.is_contiguous());
    let rows = [3., 4., 5., 6., 7., 8.];
    assert_values(&Tensor::cat(&[&v], 0).unwrap(), &[2, 3], &rows);
    assert_values(&v.index_select(1, &idx(&[0, 1, 2], &[3])).unwrap(), &[2, 3], &rows);
    assert_values(&v.gather(0, &idx(&[1, 0, 1], &[1, 3])).unwrap(), &[1, 3], &[6., 4., 8.]);
    let z = Tensor::zeros(&[2, 3], DType::F64);
    assert_values(
        &z.scatter(0, &idx(&[0, 1, 0, 1, 0, 1], &[2, 3]), &v).unwrap(),
        &[2, 3],
        &[3., 7., 5., 6., 4., 8.],
    );
    assert_values(
        &z.scatter_add(0, &idx(&[0, 0, 0], &[1, 3]), &v).unwrap(),
        &[2, 3],
        &[3., 4., 5., 0., 0., 0.],
    );
    assert_values(
        &z.index_add(0, &idx(&[1, 0], &[2]), &v).unwrap(),
        &[2, 3],
        &[6., 7., 8., 3., 4., 5.],
    );
    assert_values(
        &v.pad(&[0, 1], PadMode::Replicate, 0.0).unwrap(),
        &[2, 4],
        &[3., 4., 5., 5., 6., 7., 8., 8.],
    );
    assert_values(&v.tril(0).unwrap(), &[2, 3], &[3., 0., 0., 6., 7., 0.]);
    assert_values(&v.flip(&[0]).unwrap(), &[2, 3], &[6., 7., 8., 3., 4., 5.]);
    assert_values(&v.roll(&[1], &[]).unwrap(), &[2, 3], &[8., 3., 4., 5., 6., 7.]);
    assert_values(&v.repeat(&[1, 1]).unwrap(), &[2, 3], &rows);
    let classes = Tensor::arange(0.0, 4.0, 1.0, DType::I64)
        .unwrap()
        .narrow(0, 2, 2)
        .unwrap();
    assert_values(
        &classes.one_hot(Some(4)).unwrap(),
        &[2, 4],
        &[0., 0., 1., 0., 0., 0., 0., 1.],
    );
    // The same offset view as the index tensor.
    let index = Tensor::from_slice(&[9i64, 1, 0], &[3])
        .unwrap()
        .narrow(0, 1, 2)
        .unwrap();
    assert_values(&v.index_select(0, &index).unwrap(), &[2, 3], &[6., 7., 8., 3., 4., 5.]);
}
