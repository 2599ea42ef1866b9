//! Property tests: broadcasting binary ops and batched matmul against naive loops, on random
//! shapes, broadcast patterns and (transposed) strides.

use kiln_tensor::{DType, Tensor};
use proptest::prelude::*;

/// Row-major index of `idx` in `shape`, with size-1 dims broadcast (aligned from the right).
fn bidx(idx: &[usize], shape: &[usize]) -> usize {
    let off = idx.len() - shape.len();
    let mut flat = 0;
    for (i, &d) in shape.iter().enumerate() {
        let v = if d == 1 { 0 } else { idx[off + i] };
        flat = flat * d + v;
    }
    flat
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

/// A tensor of `shape` whose storage is laid out transposed (last two dims swapped) when asked,
/// so the op sees non-contiguous strides.
fn make(shape: &[usize], values: &[f64], transposed: bool) -> Tensor {
    let t = Tensor::from_vec(values.to_vec(), shape).unwrap();
    if transposed && shape.len() >= 2 {
        let r = shape.len() as isize;
        // Store the transpose contiguously, then view it back: same values, swapped strides.
        t.transpose(r - 2, r - 1)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(r - 2, r - 1)
            .unwrap()
    } else {
        t
    }
}

fn shape_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec((1usize..5, any::<bool>(), any::<bool>()), 1..5).prop_flat_map(|dims| {
        let a: Vec<usize> = dims.iter().map(|&(d, one, _)| if one { 1 } else { d }).collect();
        let b: Vec<usize> = dims.iter().map(|&(d, _, one)| if one { 1 } else { d }).collect();
        (0..=b.len()).prop_map(move |drop| (a.clone(), b[drop.min(b.len() - 1)..].to_vec()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn broadcasting_binary_ops_match_naive((sa, sb) in shape_pair(), ta in any::<bool>(), tb in any::<bool>(), seed in 0u64..1000) {
        let na: usize = sa.iter().product();
        let nb: usize = sb.iter().product();
        let va: Vec<f64> = (0..na).map(|i| ((i as u64 * 37 + seed) % 17) as f64 - 8.0).collect();
        let vb: Vec<f64> = (0..nb).map(|i| ((i as u64 * 53 + seed) % 13) as f64 - 6.5).collect();
        let (a, b) = (make(&sa, &va, ta), make(&sb, &vb, tb));
        let out_shape: Vec<usize> = (0..sa.len().max(sb.len())).map(|i| {
            let da = if i + sa.len() >= sa.len().max(sb.len()) { sa[i + sa.len() - sa.len().max(sb.len())] } else { 1 };
            let db = if i + sb.len() >= sa.len().max(sb.len()) { sb[i + sb.len() - sa.len().max(sb.len())] } else { 1 };
            da.max(db)
        }).collect();
        let n: usize = out_shape.iter().product();
        type Op = (fn(&Tensor, &Tensor) -> kiln_tensor::Result<Tensor>, fn(f64, f64) -> f64);
        let ops: [Op; 4] = [
            (|x, y| x.add(y), |x, y| x + y),
            (|x, y| x.mul(y), |x, y| x * y),
            (|x, y| x.sub(y), |x, y| x - y),
            (|x, y| x.maximum(y), f64::max),
        ];
        for (op, f) in ops {
            let got = op(&a, &b).unwrap();
            prop_assert_eq!(got.shape(), &out_shape[..]);
            let got = got.to_vec::<f64>().unwrap();
            prop_assert_eq!(got.len(), n);
            for (i, &g) in got.iter().enumerate() {
                let idx = unravel(i, &out_shape);
                prop_assert_eq!(g, f(va[bidx(&idx, &sa)], vb[bidx(&idx, &sb)]));
            }
        }
    }

    #[test]
    fn batched_matmul_matches_naive(batch in prop::collection::vec(1usize..3, 0..3), bcast in any::<bool>(),
                                    m in 1usize..6, k in 1usize..6, n in 1usize..6,
                                    ta in any::<bool>(), tb in any::<bool>()) {
        let mut sa = batch.clone();
        sa.extend([m, k]);
        // The right operand's batch dims are either the same or broadcast (size 1, or absent).
        let mut sb: Vec<usize> = if bcast { batch.iter().map(|_| 1).collect() } else { batch.clone() };
        sb.extend([k, n]);
        let va: Vec<f64> = (0..sa.iter().product::<usize>()).map(|i| (i % 7) as f64 - 3.0).collect();
        let vb: Vec<f64> = (0..sb.iter().product::<usize>()).map(|i| (i % 5) as f64 - 2.0).collect();
        let got = make(&sa, &va, ta).matmul(&make(&sb, &vb, tb)).unwrap();
        let nb: usize = batch.iter().product();
        let mut expect = vec![0.0; nb * m * n];
        for bi in 0..nb {
            let bj = if bcast { 0 } else { bi };
            for i in 0..m {
                for j in 0..n {
                    expect[bi * m * n + i * n + j] = (0..k).map(|p| va[bi * m * k + i * k + p] * vb[bj * k * n + p * n + j]).sum();
                }
            }
        }
        prop_assert_eq!(got.to_vec::<f64>().unwrap(), expect);
    }

    #[test]
    fn sum_over_random_dims_matches_naive(shape in prop::collection::vec(1usize..5, 1..5), mask in any::<u8>(), t in any::<bool>()) {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|i| (i % 11) as f64).collect();
        let x = make(&shape, &v, t);
        let dims: Vec<isize> = (0..shape.len()).filter(|d| mask & (1 << d) != 0).map(|d| d as isize).collect();
        let got = x.sum_dims(&dims, true).unwrap();
        let out_shape: Vec<usize> = shape.iter().enumerate().map(|(d, &s)| if dims.is_empty() || dims.contains(&(d as isize)) { 1 } else { s }).collect();
        prop_assert_eq!(got.shape(), &out_shape[..]);
        let mut expect = vec![0.0; out_shape.iter().product()];
        for (i, &val) in v.iter().enumerate() {
            expect[bidx(&unravel(i, &shape), &out_shape)] += val;
        }
        prop_assert_eq!(got.to_vec::<f64>().unwrap(), expect);
        let _ = DType::F64;
    }
}
