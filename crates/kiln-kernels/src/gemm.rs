//! Matrix multiplication through the `gemm` crate, with arbitrary (non-negative) strides so that
//! transposed views need no copy.

use crate::num::Num;
use crate::par;
use rayon::prelude::*;

/// Element types with a fast gemm kernel.
pub trait GemmElem: Num {}
impl GemmElem for f32 {}
impl GemmElem for f64 {}
impl GemmElem for half::f16 {}

/// A strided matrix view into a slice: element `(i, j)` is at `offset + i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct MatLayout {
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl MatLayout {
    /// Row-major contiguous layout of a matrix with `cols` columns.
    pub fn row_major(offset: usize, cols: usize) -> Self {
        MatLayout {
            offset,
            rs: cols,
            cs: 1,
        }
    }

    /// One past the largest index touched by a `rows x cols` matrix (0 when empty).
    fn extent(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs + 1
    }
}

/// Work (m·n·k) below which gemm runs on one thread.
const GEMM_PAR_THRESHOLD: usize = 48 * 48 * 48;

/// `c = a @ b` (or `c += a @ b` when `accumulate`), `a` is `m x k`, `b` is `k x n`, `c` is
/// `m x n`, each described by a [`MatLayout`] into its slice.
///
/// Panics if a layout reaches past its slice (an internal invariant: callers build layouts from
/// validated tensor layouts).
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    la: MatLayout,
    b: &[T],
    lb: MatLayout,
    c: &mut [T],
    lc: MatLayout,
    accumulate: bool,
) {
    gemm_with_threads(m, n, k, a, la, b, lb, c, lc, accumulate, par::num_threads());
}

/// [`gemm`] with an explicit thread count (`1` keeps it on the calling thread, e.g. inside a
/// task that is already one of many parallel ones).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with_threads<T: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    la: MatLayout,
    b: &[T],
    lb: MatLayout,
    c: &mut [T],
    lc: MatLayout,
    accumulate: bool,
    threads: usize,
) {
    assert!(la.extent(m, k) <= a.len(), "gemm: lhs layout out of bounds");
    assert!(lb.extent(k, n) <= b.len(), "gemm: rhs layout out of bounds");
    assert!(lc.extent(m, n) <= c.len(), "gemm: dst layout out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    c[lc.offset + i * lc.rs + j * lc.cs] = T::ZERO;
                }
            }
        }
        return;
    }
    let parallelism = if threads > 1 && m * n * k >= GEMM_PAR_THRESHOLD {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the three asserts above guarantee every index the kernel touches lies inside its
    // slice; `c` is borrowed mutably so nothing aliases the destination.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().add(lc.offset),
            lc.cs as isize,
            lc.rs as isize,
            accumulate,
            a.as_ptr().add(la.offset),
            la.cs as isize,
            la.rs as isize,
            b.as_ptr().add(lb.offset),
            lb.cs as isize,
            lb.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Batched `c[i] = a[i] @ b[i]` where `c` is contiguous `[batch, m, n]` and the per-batch offsets
/// of `a` and `b` are given. Small matrices are spread over threads by batch; large ones use
/// gemm's own threading.
#[allow(clippy::too_many_arguments)]
pub fn gemm_batched<T: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    la: MatLayout,
    a_offsets: &[usize],
    b: &[T],
    lb: MatLayout,
    b_offsets: &[usize],
    c: &mut [T],
) {
    let batch = a_offsets.len();
    assert_eq!(batch, b_offsets.len());
    assert_eq!(c.len(), batch * m * n);
    let one = |(i, ci): (usize, &mut [T]), threads: usize| {
        let la = MatLayout {
            offset: a_offsets[i],
            ..la
        };
        let lb = MatLayout {
            offset: b_offsets[i],
            ..lb
        };
        gemm_with_threads(m, n, k, a, la, b, lb, ci, MatLayout::row_major(0, n), false, threads);
    };
    let threads = par::num_threads();
    if m * n == 0 {
        return;
    }
    if batch > 1 && threads > 1 && m * n * k < GEMM_PAR_THRESHOLD * 4 {
        c.par_chunks_mut(m * n).enumerate().for_each(|p| one(p, 1));
    } else {
        c.chunks_mut(m * n).enumerate().for_each(|p| one(p, threads));
    }
}

/// Reference matrix product for any [`Num`] (integers, and the tests of the fast path).
#[allow(clippy::too_many_arguments)]
pub fn gemm_naive<T: Num>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    la: MatLayout,
    b: &[T],
    lb: MatLayout,
    c: &mut [T],
    lc: MatLayout,
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc = acc.wadd(a[la.offset + i * la.rs + p * la.cs].wmul(b[lb.offset + p * lb.rs + j * lb.cs]));
            }
            c[lc.offset + i * lc.rs + j * lc.cs] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn gemm_matches_naive(m in 1usize..40, n in 1usize..40, k in 1usize..40,
                              ta in any::<bool>(), tb in any::<bool>(), seed in 0u64..1000) {
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut rnd = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5 };
            let a: Vec<f64> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f64> = (0..k * n).map(|_| rnd()).collect();
            let la = if ta { MatLayout { offset: 0, rs: 1, cs: m } } else { MatLayout::row_major(0, k) };
            let lb = if tb { MatLayout { offset: 0, rs: 1, cs: k } } else { MatLayout::row_major(0, n) };
            let mut c1 = vec![0.0; m * n];
            let mut c2 = vec![0.0; m * n];
            gemm(m, n, k, &a, la, &b, lb, &mut c1, MatLayout::row_major(0, n), false);
            gemm_naive(m, n, k, &a, la, &b, lb, &mut c2, MatLayout::row_major(0, n));
            for (x, y) in c1.iter().zip(&c2) {
                prop_assert!((x - y).abs() < 1e-10, "{x} vs {y}");
            }
        }
    }
}
