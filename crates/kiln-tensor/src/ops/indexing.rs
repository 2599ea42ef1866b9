//! Python-style basic indexing, `t.i(...)`: integers select (removing the dim), ranges and
//! [`s`] slice, [`NewAxis`] inserts a size-1 dim and [`Ellipsis`] stands for the dims not
//! named. Built only from views (`select`, `slice`, `unsqueeze`), so the result shares
//! storage with the tensor and is differentiable.
//!
//! ```
//! use kiln_tensor::{tensor, Tensor};
//! use kiln_tensor::ops::indexing::{s, NewAxis};
//! # fn main() -> kiln_tensor::Result<()> {
//! let x = Tensor::arange(0.0, 24.0, 1.0, kiln_tensor::DType::F32)?.reshape(&[2, 3, 4])?;
//! assert_eq!(x.i((1, .., 1..3))?.shape(), &[3, 2]);        // x[1, :, 1:3]
//! assert_eq!(x.i((.., -1))?.shape(), &[2, 4]);             // x[:, -1]
//! assert_eq!(x.i((0, s(.., 2), NewAxis))?.shape(), &[2, 1, 4]); // x[0, ::2, None]
//! assert_eq!(x.i(0)?.i(2)?.i(3)?.item::<f32>()?, 11.0);
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

/// A slice `start..end` with a positive `step` (Python's `start:end:step`). `None` bounds
/// mean the start or end of the dim; negative bounds count from the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start: Option<isize>,
    pub end: Option<isize>,
    pub step: usize,
}

/// Inserts a size-1 dim (Python's `None` in an index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAxis;

/// Stands for as many full slices as the dims not otherwise indexed (Python's `...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ellipsis;

/// One item of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexItem {
    /// An integer: selects one element and removes the dim.
    Select(isize),
    Slice(Slice),
    NewAxis,
    Ellipsis,
}

/// A range with a step: `s(1..7, 2)` is Python's `1:7:2`, `s(.., 3)` is `::3`.
pub fn s(range: impl Into<Slice>, step: usize) -> Slice {
    Slice { step, ..range.into() }
}

impl From<RangeFull> for Slice {
    fn from(_: RangeFull) -> Self {
        Slice {
            start: None,
            end: None,
            step: 1,
        }
    }
}

macro_rules! int_items {
    ($($t:ty),*) => {$(
        impl From<$t> for IndexItem {
            fn from(i: $t) -> Self {
                IndexItem::Select(i as isize)
            }
        }
        impl From<Range<$t>> for Slice {
            fn from(r: Range<$t>) -> Self {
                Slice { start: Some(r.start as isize), end: Some(r.end as isize), step: 1 }
            }
        }
        impl From<RangeFrom<$t>> for Slice {
            fn from(r: RangeFrom<$t>) -> Self {
                Slice { start: Some(r.start as isize), end: None, step: 1 }
            }
        }
        impl From<RangeTo<$t>> for Slice {
            fn from(r: RangeTo<$t>) -> Self {
                Slice { start: None, end: Some(r.end as isize), step: 1 }
            }
        }
        /// Inclusive: `a..=-1` runs to the last element.
        impl From<RangeInclusive<$t>> for Slice {
            fn from(r: RangeInclusive<$t>) -> Self {
                Slice { start: Some(*r.start() as isize), end: inclusive_end(*r.end() as isize), step: 1 }
            }
        }
        impl From<RangeToInclusive<$t>> for Slice {
            fn from(r: RangeToInclusive<$t>) -> Self {
                Slice { start: None, end: inclusive_end(r.end as isize), step: 1 }
            }
        }
        index_spec!(Range<$t>, RangeFrom<$t>, RangeTo<$t>, RangeInclusive<$t>, RangeToInclusive<$t>);
        impl From<Range<$t>> for IndexItem {
            fn from(r: Range<$t>) -> Self { IndexItem::Slice(r.into()) }
        }
        impl From<RangeFrom<$t>> for IndexItem {
            fn from(r: RangeFrom<$t>) -> Self { IndexItem::Slice(r.into()) }
        }
        impl From<RangeTo<$t>> for IndexItem {
            fn from(r: RangeTo<$t>) -> Self { IndexItem::Slice(r.into()) }
        }
        impl From<RangeInclusive<$t>> for IndexItem {
            fn from(r: RangeInclusive<$t>) -> Self { IndexItem::Slice(r.into()) }
        }
        impl From<RangeToInclusive<$t>> for IndexItem {
            fn from(r: RangeToInclusive<$t>) -> Self { IndexItem::Slice(r.into()) }
        }
        index_spec!($t);
    )*};
}

/// The exclusive end after an inclusive `end` (`-1` inclusive is "to the end").
fn inclusive_end(end: isize) -> Option<isize> {
    if end == -1 {
        None
    } else {
        Some(end + 1)
    }
}

impl From<RangeFull> for IndexItem {
    fn from(r: RangeFull) -> Self {
        IndexItem::Slice(r.into())
    }
}
impl From<Slice> for IndexItem {
    fn from(s: Slice) -> Self {
        IndexItem::Slice(s)
    }
}
impl From<NewAxis> for IndexItem {
    fn from(_: NewAxis) -> Self {
        IndexItem::NewAxis
    }
}
impl From<Ellipsis> for IndexItem {
    fn from(_: Ellipsis) -> Self {
        IndexItem::Ellipsis
    }
}

/// What [`Tensor::i`] accepts: one item (integer, range, [`Slice`], [`NewAxis`],
/// [`Ellipsis`]), a tuple of up to five items, or a slice/vector of [`IndexItem`]s.
pub trait IndexSpec {
    fn items(self) -> Vec<IndexItem>;
}

/// A type usable as one item of a tuple index.
pub trait IntoIndexItem {
    fn item(self) -> IndexItem;
}

macro_rules! index_spec {
    ($($t:ty),*) => {$(
        impl IntoIndexItem for $t {
            fn item(self) -> IndexItem { self.into() }
        }
        impl IndexSpec for $t {
            fn items(self) -> Vec<IndexItem> { vec![self.into()] }
        }
    )*};
}
index_spec!(RangeFull, Slice, NewAxis, Ellipsis, IndexItem);
int_items!(usize, isize, i64, i32);

macro_rules! tuple_spec {
    ($($n:ident),+) => {
        impl<$($n: IntoIndexItem),+> IndexSpec for ($($n,)+) {
            #[allow(non_snake_case)]
            fn items(self) -> Vec<IndexItem> {
                let ($($n,)+) = self;
                vec![$($n.item()),+]
            }
        }
    };
}
tuple_spec!(A);
tuple_spec!(A, B);
tuple_spec!(A, B, C);
tuple_spec!(A, B, C, D);
tuple_spec!(A, B, C, D, E);

impl IndexSpec for &[IndexItem] {
    fn items(self) -> Vec<IndexItem> {
        self.to_vec()
    }
}
impl IndexSpec for Vec<IndexItem> {
    fn items(self) -> Vec<IndexItem> {
        self
    }
}

impl Tensor {
    /// Basic indexing like Python's `t[idx]` (see the [module docs](self)): a view that shares
    /// storage and is differentiable.
    ///
    /// Errors when more dims are indexed than the tensor has, on more than one [`Ellipsis`],
    /// an integer out of range, or a zero step.
    pub fn i(&self, idx: impl IndexSpec) -> Result<Tensor> {
        const OP: &str = "index";
        let items = idx.items();
        let named = items
            .iter()
            .filter(|it| matches!(it, IndexItem::Select(_) | IndexItem::Slice(_)))
            .count();
        let ellipses = items.iter().filter(|it| **it == IndexItem::Ellipsis).count();
        if ellipses > 1 {
            return Err(Error::invalid(OP, "an index can only have a single ellipsis"));
        }
        if named > self.rank() {
            return Err(Error::invalid(
                OP,
                format!(
                    "too many indices for tensor of dimension {} (shape {:?}): {named} given",
                    self.rank(),
                    self.shape()
                ),
            ));
        }
        let mut t = self.clone();
        let mut dim = 0usize;
        for it in items {
            match it {
                IndexItem::Select(i) => t = t.select(dim as isize, i)?,
                IndexItem::Slice(sl) => {
                    t = t.slice(dim as isize, sl.start.unwrap_or(0), sl.end, sl.step)?;
                    dim += 1;
                }
                IndexItem::NewAxis => {
                    t = t.unsqueeze(dim as isize)?;
                    dim += 1;
                }
                IndexItem::Ellipsis => dim += self.rank() - named,
            }
        }
        Ok(t)
    }
}
