//! Contiguous elementwise maps, split over threads above a size threshold and compiled per SIMD
//! level (see [`crate::simd`]). Strided inputs are handled by the tensor layer, which calls these
//! on contiguous runs.

use crate::par::{self, ELEMENTWISE_PAR_THRESHOLD};
use rayon::prelude::*;
use std::mem::MaybeUninit;

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

crate::dispatch! {
    fn unary_uninit_body<T: Copy, U: Copy, F: UnaryFn<T, U>>(x: &[T], out: &mut [MaybeUninit<U>], f: F) {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(f(v));
        }
    }
}

crate::dispatch! {
    fn binary_uninit_body<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: &[T], out: &mut [MaybeUninit<U>], f: F) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            o.write(f(x, y));
        }
    }
}

crate::dispatch! {
    fn scalar_rhs_uninit_body<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: T, out: &mut [MaybeUninit<U>], f: F) {
        for (o, &x) in out.iter_mut().zip(a) {
            o.write(f(x, b));
        }
    }
}

/// Elements before the first 64-byte boundary of `out` (all of them if it has none). The
/// allocator aligns large buffers to 16 bytes only; starting the vector loop on a cache-line
/// boundary keeps its stores (and, for buffers with the same offset, its loads) from straddling
/// two lines, which costs memory-bound loops about a tenth of their speed.
#[inline]
fn head_len<U>(out: &[MaybeUninit<U>]) -> usize {
    out.as_ptr().align_offset(64).min(out.len())
}

fn unary_uninit_chunk<T: Copy, U: Copy, F: UnaryFn<T, U>>(x: &[T], out: &mut [MaybeUninit<U>], f: F) {
    let h = head_len(out);
    let (o1, o2) = out.split_at_mut(h);
    unary_uninit_body(&x[..h], o1, f);
    unary_uninit_body(&x[h..], o2, f);
}

fn binary_uninit_chunk<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: &[T], out: &mut [MaybeUninit<U>], f: F) {
    let h = head_len(out);
    let (o1, o2) = out.split_at_mut(h);
    binary_uninit_body(&a[..h], &b[..h], o1, f);
    binary_uninit_body(&a[h..], &b[h..], o2, f);
}

fn scalar_rhs_uninit_chunk<T: Copy, U: Copy, F: BinaryFn<T, U>>(a: &[T], b: T, out: &mut [MaybeUninit<U>], f: F) {
    let h = head_len(out);
    let (o1, o2) = out.split_at_mut(h);
    scalar_rhs_uninit_body(&a[..h], b, o1, f);
    scalar_rhs_uninit_body(&a[h..], b, o2, f);
}

/// A vector of `n` elements whose every slot `fill` writes: allocated without the zero-fill a
/// `vec![0; n]` + write would cost. `fill` must write all `n` slots of the slice it is given.
fn filled_vec<U>(n: usize, fill: impl FnOnce(&mut [MaybeUninit<U>])) -> Vec<U> {
    let mut out = Vec::with_capacity(n);
    let slots = &mut out.spare_capacity_mut()[..n];
    fill(slots);
    // SAFETY: the callers below write every one of the first `n` slots (each zips the whole
    // `slots` slice, split into chunks that cover it, with inputs of length `n`), so they are
    // initialized; `n` is within the capacity reserved above.
    unsafe { out.set_len(n) };
    out
}

/// `f(x[i])` for every `i`, as a new vector (no zero-fill of the output).
pub fn unary_vec<T, U, F>(x: &[T], f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: UnaryFn<T, U>,
{
    filled_vec(x.len(), |out| {
        if par::should_split(x.len(), ELEMENTWISE_PAR_THRESHOLD) {
            let c = par::chunk_len(x.len(), 4096);
            out.par_chunks_mut(c)
                .zip(x.par_chunks(c))
                .for_each(|(o, x)| unary_uninit_chunk(x, o, f));
        } else {
            unary_uninit_chunk(x, out, f);
        }
    })
}

/// `f(a[i], b[i])` for every `i`, as a new vector. Panics if the lengths differ.
pub fn binary_vec<T, U, F>(a: &[T], b: &[T], f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: BinaryFn<T, U>,
{
    assert_eq!(a.len(), b.len(), "binary_vec: length mismatch");
    filled_vec(a.len(), |out| {
        if par::should_split(a.len(), ELEMENTWISE_PAR_THRESHOLD) {
            let c = par::chunk_len(a.len(), 4096);
            out.par_chunks_mut(c)
                .zip(a.par_chunks(c).zip(b.par_chunks(c)))
                .for_each(|(o, (a, b))| binary_uninit_chunk(a, b, o, f));
        } else {
            binary_uninit_chunk(a, b, out, f);
        }
    })
}

/// `f(a[i], b)` for every `i` (a scalar right-hand side), as a new vector.
pub fn binary_scalar_vec<T, U, F>(a: &[T], b: T, f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: BinaryFn<T, U>,
{
    filled_vec(a.len(), |out| {
        if par::should_split(a.len(), ELEMENTWISE_PAR_THRESHOLD) {
            let c = par::chunk_len(a.len(), 4096);
            out.par_chunks_mut(c)
                .zip(a.par_chunks(c))
                .for_each(|(o, a)| scalar_rhs_uninit_chunk(a, b, o, f));
        } else {
            scalar_rhs_uninit_chunk(a, b, out, f);
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_forms_match_slice_forms() {
        // Long enough to be split across threads, with a ragged last chunk.
        for n in [0usize, 1, 7, 4096 * 3 + 5, ELEMENTWISE_PAR_THRESHOLD * 2 + 3] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 11) as f32).collect();
            let mut want = vec![0.0f32; n];
            unary_map(&a, &mut want, |x: f32| x * 2.0 + 1.0);
            assert_eq!(unary_vec(&a, |x: f32| x * 2.0 + 1.0), want);
            binary_map(&a, &b, &mut want, |x: f32, y: f32| x * y - y);
            assert_eq!(binary_vec(&a, &b, |x: f32, y: f32| x * y - y), want);
            binary_map_scalar(&a, 3.0, &mut want, |x: f32, y: f32| x - y);
            assert_eq!(binary_scalar_vec(&a, 3.0, |x: f32, y: f32| x - y), want);
            let naive: Vec<bool> = a.iter().zip(&b).map(|(x, y)| x < y).collect();
            assert_eq!(binary_vec(&a, &b, |x: f32, y: f32| x < y), naive);
        }
    }
}
