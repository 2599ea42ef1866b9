//! Row kernels of the reductions, scans and sorts: each works on one contiguous row (the
//! reduced or sorted dim, moved last by the tensor layer), and [`map_rows_into`] runs a row
//! kernel over many rows, split across threads above a size threshold.
//!
//! Order and NaN follow PyTorch's CPU kernels: `max`/`min` propagate NaN (the first NaN wins and
//! its index is returned), ties keep the first occurrence, and sorting puts NaN after every
//! number (so ascending sorts end with NaN and descending sorts start with it).

use crate::num::{Float, Num};
use crate::par;
use rayon::prelude::*;
use std::ops::Not;

/// Elements below which a row job stays on the calling thread.
pub const ROWS_PAR_THRESHOLD: usize = 1 << 15;

#[inline(always)]
#[allow(clippy::eq_op)]
fn is_nan<T: PartialOrd + Copy>(v: T) -> bool {
    v != v
}

/// Calls `f(row, out_row)` for each of the `rows` rows of `data` (rows of `row_len` elements,
/// output rows of `out_len`). Runs in parallel when the job is large.
///
/// Panics if `data` or `out` is shorter than `rows` rows.
pub fn map_rows_into<T, U, F>(data: &[T], row_len: usize, out: &mut [U], out_len: usize, rows: usize, f: F)
where
    T: Sync,
    U: Send,
    F: Fn(&[T], &mut [U]) + Sync + Send,
{
    if rows == 0 {
        return;
    }
    if out_len == 0 {
        return;
    }
    if row_len == 0 {
        out[..rows * out_len].chunks_mut(out_len).for_each(|o| f(&[], o));
        return;
    }
    let data = &data[..rows * row_len];
    let out = &mut out[..rows * out_len];
    if rows > 1 && par::should_split(rows * row_len, ROWS_PAR_THRESHOLD) {
        out.par_chunks_mut(out_len)
            .zip(data.par_chunks(row_len))
            .for_each(|(o, r)| f(r, o));
    } else {
        out.chunks_mut(out_len)
            .zip(data.chunks(row_len))
            .for_each(|(o, r)| f(r, o));
    }
}

/// Column sums of a row-major `rows x cols` matrix into `out` (`cols` long): a reduction over
/// leading dims without transposing. The inner loop runs along a row (it vectorizes); blocks of
/// rows are summed pairwise for accuracy, and column ranges run in parallel when large.
///
/// Panics if `data` is shorter than `rows * cols` or `out` than `cols`.
pub fn sum_outer<T: Num>(data: &[T], rows: usize, cols: usize, out: &mut [T]) {
    let out = &mut out[..cols];
    if cols >= 128 && par::should_split(rows * cols, ROWS_PAR_THRESHOLD) {
        let chunk = par::chunk_len(cols, 64);
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(ci, o)| sum_outer_cols(data, rows, cols, ci * chunk, o));
    } else {
        sum_outer_cols(data, rows, cols, 0, out);
    }
}

/// Sums of columns `c0..c0 + out.len()` over `rows` rows.
fn sum_outer_cols<T: Num>(data: &[T], rows: usize, cols: usize, c0: usize, out: &mut [T]) {
    let w = out.len();
    if rows <= 64 {
        out.fill(T::ZERO);
        for r in 0..rows {
            let row = &data[r * cols + c0..r * cols + c0 + w];
            for (o, &v) in out.iter_mut().zip(row) {
                *o = o.wadd(v);
            }
        }
        return;
    }
    let h = rows / 2;
    sum_outer_cols(data, h, cols, c0, out);
    let mut rest = vec![T::ZERO; w];
    sum_outer_cols(&data[h * cols..], rows - h, cols, c0, &mut rest);
    for (o, r) in out.iter_mut().zip(rest) {
        *o = o.wadd(r);
    }
}

/// The largest element and the index of its first occurrence; a NaN wins at once. `None` for an
/// empty row.
pub fn argmax_row<T: PartialOrd + Copy>(row: &[T]) -> Option<(T, usize)> {
    let (&first, rest) = row.split_first()?;
    let mut best = (first, 0);
    if is_nan(first) {
        return Some(best);
    }
    for (i, &v) in rest.iter().enumerate() {
        if is_nan(v) {
            return Some((v, i + 1));
        }
        if v > best.0 {
            best = (v, i + 1);
        }
    }
    Some(best)
}

/// The smallest element and the index of its first occurrence; a NaN wins at once. `None` for
/// an empty row.
pub fn argmin_row<T: PartialOrd + Copy>(row: &[T]) -> Option<(T, usize)> {
    let (&first, rest) = row.split_first()?;
    let mut best = (first, 0);
    if is_nan(first) {
        return Some(best);
    }
    for (i, &v) in rest.iter().enumerate() {
        if is_nan(v) {
            return Some((v, i + 1));
        }
        if v < best.0 {
            best = (v, i + 1);
        }
    }
    Some(best)
}

/// Product of a row (1 for an empty row).
pub fn prod_row<T: Num>(row: &[T]) -> T {
    let mut acc = T::ONE;
    for &v in row {
        acc *= v;
    }
    acc
}

/// Wrapping product of an integer row, as PyTorch's int64 `prod` overflows.
pub fn prod_row_i64(row: &[i64]) -> i64 {
    row.iter().fold(1i64, |a, &b| a.wrapping_mul(b))
}

/// `log(sum(exp(row)))` computed as `m + log(sum(exp(row - m)))` with `m` the row's maximum; a row
/// whose maximum is infinite gives that infinity (so an all `-inf` row gives `-inf`), and an empty
/// row gives `-inf`.
pub fn logsumexp_row<T: Float>(row: &[T]) -> T {
    let Some((m, _)) = argmax_row(row) else {
        return T::MIN_VALUE;
    };
    if m.is_nan_() || m == T::MIN_VALUE || m == T::MAX_VALUE {
        return m;
    }
    let mut s = 0f64;
    for &v in row {
        s += (v - m).exp().to_f64();
    }
    m + T::from_f64(s.ln())
}

/// Running sum of `row` into `out` (same length).
pub fn cumsum_row<T: Num>(row: &[T], out: &mut [T]) {
    let mut acc = T::ZERO;
    for (o, &v) in out.iter_mut().zip(row) {
        acc = acc.wadd(v);
        *o = acc;
    }
}

/// Wrapping running sum of an int64 row.
pub fn cumsum_row_i64(row: &[i64], out: &mut [i64]) {
    let mut acc = 0i64;
    for (o, &v) in out.iter_mut().zip(row) {
        acc = acc.wrapping_add(v);
        *o = acc;
    }
}

/// An element type with an unsigned integer key whose order is the sort order: numbers
/// ascending, `-0.0` equal to `0.0`, every NaN equal and after `+inf`.
pub trait SortKey: Copy {
    type Key: Ord + Copy + Send + Not<Output = Self::Key>;
    fn sort_key(self) -> Self::Key;
}

macro_rules! float_key {
    ($t:ty, $k:ty) => {
        impl SortKey for $t {
            type Key = $k;
            #[inline(always)]
            fn sort_key(self) -> $k {
                if self.is_nan() {
                    return <$k>::MAX;
                }
                // 0.0 also catches -0.0, which must tie with it.
                let b = if self == 0.0 { 0 } else { self.to_bits() };
                if b >> (<$k>::BITS - 1) == 1 {
                    !b
                } else {
                    b | 1 << (<$k>::BITS - 1)
                }
            }
        }
    };
}
float_key!(f32, u32);
float_key!(f64, u64);

macro_rules! via_key {
    ($($t:ty => $k:ty, |$v:ident| $e:expr);* $(;)?) => {$(
        impl SortKey for $t {
            type Key = $k;
            #[inline(always)]
            fn sort_key(self) -> $k {
                let $v = self;
                $e
            }
        }
    )*};
}
via_key! {
    half::f16 => u32, |v| v.to_f32().sort_key();
    half::bf16 => u32, |v| v.to_f32().sort_key();
    i64 => u64, |v| (v as u64) ^ (1 << 63);
    i32 => u32, |v| (v as u32) ^ (1 << 31);
    u8 => u8, |v| v;
    bool => u8, |v| v as u8;
}

/// `(key, index)` pairs of a row, keys flipped for a descending order: sorting the pairs gives
/// the stable order (equal keys by index).
fn keyed<T: SortKey>(row: &[T], descending: bool) -> Vec<(T::Key, usize)> {
    if descending {
        row.iter().enumerate().map(|(i, &v)| (!v.sort_key(), i)).collect()
    } else {
        row.iter().enumerate().map(|(i, &v)| (v.sort_key(), i)).collect()
    }
}

/// Indices that sort `row` stably: ascending puts NaN last, descending puts NaN first (PyTorch's
/// `sort(stable=True)`). Writes `row.len()` indices into `out`.
pub fn argsort_row<T: SortKey>(row: &[T], descending: bool, out: &mut [i64]) {
    let mut pairs = keyed(row, descending);
    pairs.sort_unstable();
    for (o, (_, i)) in out.iter_mut().zip(pairs) {
        *o = i as i64;
    }
}

/// Indices of the `out.len()` largest (or smallest) elements of `row`, best first, NaN counting
/// as the largest; equal values come in index order (the first `k` of the stable sort).
///
/// Panics if `out.len() > row.len()`.
pub fn topk_row<T: SortKey>(row: &[T], largest: bool, out: &mut [i64]) {
    let k = out.len();
    assert!(k <= row.len(), "topk_row: k = {k} > row length {}", row.len());
    if k == 0 {
        return;
    }
    let mut pairs = keyed(row, largest);
    if k < pairs.len() {
        pairs.select_nth_unstable(k - 1);
        pairs.truncate(k);
    }
    pairs.sort_unstable();
    for (o, (_, i)) in out.iter_mut().zip(pairs) {
        *o = i as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_first_tie_and_nan() {
        assert_eq!(argmax_row(&[1.0, 3.0, 3.0, 2.0]), Some((3.0, 1)));
        let (v, i) = argmax_row(&[1.0, f64::NAN, 5.0, f64::NAN]).unwrap();
        assert!(v.is_nan());
        assert_eq!(i, 1);
        assert_eq!(argmin_row(&[2, 1, 1]), Some((1, 1)));
        assert_eq!(argmin_row::<f32>(&[]), None);
    }

    #[test]
    fn logsumexp_edges() {
        let ninf = f64::NEG_INFINITY;
        assert_eq!(logsumexp_row(&[ninf, ninf]), ninf);
        assert_eq!(logsumexp_row(&[ninf, f64::INFINITY]), f64::INFINITY);
        assert!((logsumexp_row(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(logsumexp_row::<f64>(&[]), ninf);
    }

    #[test]
    fn sorts_are_stable_with_nan_last() {
        let row = [2.0, f64::NAN, 1.0, 2.0, 0.5];
        let mut out = [0i64; 5];
        argsort_row(&row, false, &mut out);
        assert_eq!(out, [4, 2, 0, 3, 1]);
        argsort_row(&row, true, &mut out);
        assert_eq!(out, [1, 0, 3, 2, 4]);
        let mut top = [0i64; 2];
        topk_row(&[1, 5, 3, 5, 4], true, &mut top);
        assert_eq!(top, [1, 3]);
        topk_row(&[1, 5, 3, 5, 4], false, &mut top);
        assert_eq!(top, [0, 2]);
    }

    #[test]
    fn sort_keys_order_like_numbers() {
        let v = [
            f32::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-30,
            3.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        let k: Vec<u32> = v.iter().map(|x| x.sort_key()).collect();
        assert!(k[..7].windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((k[2], k[7], k[8]), (k[3], u32::MAX, u32::MAX));
        assert!(k[1] < k[2] && k[4] > k[3] && k[6] < k[7]);
        assert!((-5i64).sort_key() < 3i64.sort_key() && i64::MIN.sort_key() < (-1i64).sort_key());
        assert!((-1i32).sort_key() < 0i32.sort_key());
    }

    #[test]
    fn column_sums_match_naive() {
        for (rows, cols) in [(3, 5), (200, 7), (300, 300), (1, 1000)] {
            let data: Vec<f64> = (0..rows * cols).map(|i| ((i * 37) % 101) as f64).collect();
            let mut out = vec![-1.0; cols];
            sum_outer(&data, rows, cols, &mut out);
            for (c, &o) in out.iter().enumerate() {
                assert_eq!(o, (0..rows).map(|r| data[r * cols + c]).sum::<f64>());
            }
        }
    }

    #[test]
    fn rows_in_parallel_match_serial() {
        let data: Vec<f64> = (0..(1 << 16)).map(|i| (i % 97) as f64).collect();
        let mut out = vec![0.0; 1 << 16];
        map_rows_into(&data, 256, &mut out, 256, 256, cumsum_row);
        for (r, o) in data.chunks(256).zip(out.chunks(256)) {
            let mut acc = 0.0;
            for (x, y) in r.iter().zip(o) {
                acc += x;
                assert_eq!(acc, *y);
            }
        }
    }
}
