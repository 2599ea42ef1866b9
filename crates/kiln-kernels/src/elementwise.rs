//! Contiguous elementwise maps, split over threads above a size threshold and compiled per SIMD
//! level (see [`crate::simd`]). Strided inputs are handled by the tensor layer, which calls these
//! on contiguous runs.

use crate::par::{self, ELEMENTWISE_PAR_THRESHOLD};
use rayon::prelude::*;

/// A scalar function that vectorizes when inlined into a SIMD-compiled loop.
pub trait UnaryFn<T, U>: Fn(T) -> U + Sync + Send + Copy {}
impl<T, U, F: Fn(T) -> U + Sync + Send + Copy> UnaryFn<T, U> for F {}

/// A binary scalar function, see [`UnaryFn`].
pub trait BinaryFn<T, U>: Fn(T, T) -> U + Sync + Send + Copy {}
impl<T, U, F: Fn(T, T) -> U + Sync + Send + Copy> BinaryFn<T, U> for F {}

crate::dispatch! {
    fn unary_chunk<T: Copy, U: Copy, F: UnaryFn<T, U>>(x: &[T], out: &mut [U], f: F) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    }
}

crate::dispatch! {
    fn binary_chunk<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: &[T], out: &mut [U], f: F) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }
}

crate::dispatch! {
    fn scalar_rhs_chunk<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: T, out: &mut [U], f: F) {
        for (o, &x) in out.iter_mut().zip(a) {
            *o = f(x, b);
        }
    }
}

/// `out[i] = f(x[i])`. Panics if the lengths differ.
pub fn unary_map<T, U, F>(x: &[T], out: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: UnaryFn<T, U>,
{
    assert_eq!(x.len(), out.len(), "unary_map: length mismatch");
    if par::should_split(x.len(), ELEMENTWISE_PAR_THRESHOLD) {
        let c = par::chunk_len(x.len(), 4096);
        out.par_chunks_mut(c)
            .zip(x.par_chunks(c))
            .for_each(|(o, x)| unary_chunk(x, o, f));
    } else {
        unary_chunk(x, out, f);
    }
}

/// `out[i] = f(a[i], b[i])`. Panics if the lengths differ.
pub fn binary_map<T, U, F>(a: &[T], b: &[T], out: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: BinaryFn<T, U>,
{
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary_map: length mismatch"
    );
    if par::should_split(a.len(), ELEMENTWISE_PAR_THRESHOLD) {
        let c = par::chunk_len(a.len(), 4096);
        out.par_chunks_mut(c)
            .zip(a.par_chunks(c).zip(b.par_chunks(c)))
            .for_each(|(o, (a, b))| binary_chunk(a, b, o, f));
    } else {
        binary_chunk(a, b, out, f);
    }
}

/// `out[i] = f(a[i], b)` for a scalar right-hand side.
pub fn binary_map_scalar<T, U, F>(a: &[T], b: T, out: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: BinaryFn<T, U>,
{
    assert_eq!(a.len(), out.len(), "binary_map_scalar: length mismatch");
    if par::should_split(a.len(), ELEMENTWISE_PAR_THRESHOLD) {
        let c = par::chunk_len(a.len(), 4096);
        out.par_chunks_mut(c)
            .zip(a.par_chunks(c))
            .for_each(|(o, a)| scalar_rhs_chunk(a, b, o, f));
    } else {
        scalar_rhs_chunk(a, b, out, f);
    }
}

/// In place `a[i] = f(a[i], b[i])`.
pub fn binary_inplace<T, F>(a: &mut [T], b: &[T], f: F)
where
    T: Copy + Send + Sync,
    F: BinaryFn<T, T>,
{
    assert_eq!(a.len(), b.len(), "binary_inplace: length mismatch");
    crate::dispatch! {
        fn chunk<T: Copy, F: BinaryFn<T, T>>(a: &mut [T], b: &[T], f: F) {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = f(*x, y);
            }
        }
    }
    if par::should_split(a.len(), ELEMENTWISE_PAR_THRESHOLD) {
        let c = par::chunk_len(a.len(), 4096);
        a.par_chunks_mut(c)
            .zip(b.par_chunks(c))
            .for_each(|(a, b)| chunk(a, b, f));
    } else {
        chunk(a, b, f);
    }
}
