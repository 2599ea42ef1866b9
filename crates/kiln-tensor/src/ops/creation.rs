//! Creating tensors: constants, ranges, random draws, nested literals, dtype conversion and
//! contiguous copies.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{checked_numel, Layout};
use crate::op::OpKind;
use crate::random::with_rng;
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, StorageCell, Tensor};

/// Builds storage of `dtype` from `f64` values.
fn storage_from_f64(dtype: DType, v: impl ExactSizeIterator<Item = f64>) -> Storage {
    macro_rules! build {
        ($t:ty) => {
            <$t as Element>::into_storage(v.map(<$t as Element>::from_f64).collect())
        };
    }
    match dtype {
        DType::F32 => build!(f32),
        DType::F64 => build!(f64),
        DType::F16 => build!(half::f16),
        DType::BF16 => build!(half::bf16),
        DType::I64 => build!(i64),
        DType::I32 => build!(i32),
        DType::U8 => build!(u8),
        DType::Bool => build!(bool),
    }
}

/// Nested arrays and vectors of elements, for [`Tensor::new`] and `tensor!`.
pub trait NdArray {
    type Elem: Element;
    /// Appends the elements in row-major order and returns the shape.
    fn flatten_into(&self, out: &mut Vec<Self::Elem>) -> Vec<usize>;
}

macro_rules! nd_scalar {
    ($($t:ty),*) => {$(
        impl NdArray for $t {
            type Elem = $t;
            fn flatten_into(&self, out: &mut Vec<$t>) -> Vec<usize> {
                out.push(*self);
                vec![]
            }
        }
    )*};
}
nd_scalar!(f32, f64, half::f16, half::bf16, i64, i32, u8, bool);

impl<A: NdArray, const N: usize> NdArray for [A; N] {
    type Elem = A::Elem;
    fn flatten_into(&self, out: &mut Vec<A::Elem>) -> Vec<usize> {
        self.as_slice().flatten_into(out)
    }
}

impl<A: NdArray> NdArray for [A] {
    type Elem = A::Elem;
    fn flatten_into(&self, out: &mut Vec<A::Elem>) -> Vec<usize> {
        let mut inner = vec![];
        for (i, a) in self.iter().enumerate() {
            let s = a.flatten_into(out);
            if i == 0 {
                inner = s;
            } else {
                assert_eq!(s, inner, "tensor literal: ragged nested sequence");
            }
        }
        let mut shape = vec![self.len()];
        shape.extend(inner);
        shape
    }
}

impl<A: NdArray> NdArray for Vec<A> {
    type Elem = A::Elem;
    fn flatten_into(&self, out: &mut Vec<A::Elem>) -> Vec<usize> {
        self.as_slice().flatten_into(out)
    }
}

impl Tensor {
    /// A tensor from nested arrays or vectors (`Tensor::new([[1.0f32, 2.0], [3.0, 4.0]])`); the
    /// Rust element type gives the dtype. Panics on ragged input (use [`Tensor::from_vec`] for
    /// data from outside).
    #[track_caller]
    pub fn new<A: NdArray + ?Sized>(data: &A) -> Tensor {
        let mut v = Vec::new();
        let shape = data.flatten_into(&mut v);
        Tensor::from_storage(A::Elem::into_storage(v), &shape)
    }

    /// A tensor of `shape` filled with `value` converted to `dtype`.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let n = checked_numel("full", shape, dtype)?;
        Ok(Tensor::from_storage(
            storage_from_f64(dtype, std::iter::repeat_n(value, n)),
            shape,
        ))
    }

    /// Zeros of `shape` and `dtype`.
    ///
    /// Infallible for convenience; panics (with the shape in the message) when the size in bytes
    /// of `shape` overflows `isize::MAX`. Use [`Tensor::full`] for a `Result`.
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        let n = checked_numel("zeros", shape, dtype).unwrap_or_else(|e| panic!("{e}"));
        Tensor::from_storage(Storage::zeros(dtype, n), shape)
    }

    /// Ones of `shape` and `dtype`.
    ///
    /// Panics like [`Tensor::zeros`] on a shape too large to allocate.
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        checked_numel("ones", shape, dtype).unwrap_or_else(|e| panic!("{e}"));
        Tensor::full(shape, 1.0, dtype).expect("size checked above")
    }

    /// `start, start + step, ...` up to but excluding `end` (`torch.arange`).
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("invalid range {start}..{end} step {step}"),
            ));
        }
        let len = ((end - start) / step).ceil().max(0.0);
        if len >= usize::MAX as f64 {
            return Err(Error::invalid("arange", format!("{len} elements is too many")));
        }
        let n = checked_numel("arange", &[len as usize], dtype)?;
        Ok(Tensor::from_storage(
            storage_from_f64(dtype, (0..n).map(|i| start + i as f64 * step)),
            &[n],
        ))
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive (`torch.linspace`).
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        checked_numel("linspace", &[steps], dtype)?;
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        // PyTorch fills the second half backwards from `end` so both ends are exact.
        let half = steps / 2;
        let v = (0..steps).map(move |i| {
            if i < half {
                start + step * i as f64
            } else {
                end - step * (steps - 1 - i) as f64
            }
        });
        Ok(Tensor::from_storage(storage_from_f64(dtype, v), &[steps]))
    }

    /// The `n x n` identity matrix.
    ///
    /// Panics like [`Tensor::zeros`] when `n * n` elements are too many to allocate.
    pub fn eye(n: usize, dtype: DType) -> Tensor {
        checked_numel("eye", &[n, n], dtype).unwrap_or_else(|e| panic!("{e}"));
        Tensor::from_storage(
            storage_from_f64(dtype, (0..n * n).map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })),
            &[n, n],
        )
    }

    /// Uniform samples in `[0, 1)` from the global generator ([`crate::manual_seed`]).
    pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_only("rand", dtype)?;
        let n = checked_numel("rand", shape, dtype)?;
        let v: Vec<f64> = with_rng(|g| (0..n).map(|_| g.next_f64()).collect());
        Ok(Tensor::from_storage(storage_from_f64(dtype, v.into_iter()), shape))
    }

    /// Standard normal samples from the global generator.
    pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
        float_only("randn", dtype)?;
        let n = checked_numel("randn", shape, dtype)?;
        let v: Vec<f64> = with_rng(|g| (0..n).map(|_| g.next_normal()).collect());
        Ok(Tensor::from_storage(storage_from_f64(dtype, v.into_iter()), shape))
    }

    /// Uniform integers in `[low, high)` as int64 (`torch.randint`).
    pub fn randint(low: i64, high: i64, shape: &[usize]) -> Result<Tensor> {
        if high <= low {
            return Err(Error::invalid("randint", format!("empty range [{low}, {high})")));
        }
        let n = checked_numel("randint", shape, DType::I64)?;
        let v: Vec<i64> = with_rng(|g| (0..n).map(|_| g.next_range(low, high)).collect());
        Tensor::from_vec(v, shape)
    }

    /// Zeros with this tensor's shape and dtype.
    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.shape(), self.dtype())
    }
    /// Ones with this tensor's shape and dtype.
    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.shape(), self.dtype())
    }
    /// `value` with this tensor's shape and dtype.
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Tensor::full(self.shape(), value, self.dtype())
    }
    /// Uniform `[0, 1)` samples with this tensor's shape and dtype.
    pub fn rand_like(&self) -> Result<Tensor> {
        Tensor::rand(self.shape(), self.dtype())
    }
    /// Standard normal samples with this tensor's shape and dtype.
    pub fn randn_like(&self) -> Result<Tensor> {
        Tensor::randn(self.shape(), self.dtype())
    }

    /// A copy converted to `dtype` (the same handle when it already has it). Differentiable
    /// between float dtypes.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let storage = {
            let s = self.storage();
            let l = self.layout();
            crate::with_storage!(&*s, v => convert(v, l, dtype))
        };
        let node = if dtype.is_float() {
            Node::record(OpKind::ToDType(dtype), &[self], vec![])
        } else {
            None
        };
        Ok(Tensor::from_storage_node(storage, self.shape(), node))
    }

    /// This tensor when already contiguous, else a contiguous copy (recorded for backward).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let out = self.contiguous_copy();
        let node = Node::record(OpKind::Contiguous, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// A fresh contiguous copy of the data, with no autograd history.
    pub(crate) fn contiguous_copy(&self) -> Tensor {
        let s = self.storage();
        let storage = crate::with_storage!(&*s, v => Element::into_storage(gather_contiguous(v, self.layout())));
        Tensor::from_storage(storage, self.shape())
    }

    /// A copy of the data in a fresh buffer (`tensor.clone()` in PyTorch), recorded for backward.
    pub fn deep_clone(&self) -> Result<Tensor> {
        let out = self.contiguous_copy();
        let node = Node::record(OpKind::Contiguous, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// A new tensor from storage and a contiguous shape, with an optional autograd node.
    pub(crate) fn from_storage_node(storage: Storage, shape: &[usize], node: Option<Node>) -> Tensor {
        Tensor::from_parts(StorageCell::new(storage), Layout::contiguous(shape), node)
    }

    /// The same data and layout with `node` attached (used when the node is decided after the
    /// data was computed).
    pub(crate) fn with_node(&self, node: Option<Node>) -> Tensor {
        self.view_with(self.layout().clone(), node)
    }
}

fn float_only(op: &'static str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::dtype(op, dtype, "expected a floating-point dtype"))
    }
}

fn convert<S: Element>(v: &[S], l: &Layout, dtype: DType) -> Storage {
    let src = gather_contiguous(v, l);
    macro_rules! to {
        ($t:ty) => {
            <$t as Element>::into_storage(
                src.iter()
                    .map(|&x| <$t as Element>::from_f64(x.to_f64()))
                    .collect(),
            )
        };
    }
    match dtype {
        DType::F32 => to!(f32),
        DType::F64 => to!(f64),
        DType::F16 => to!(half::f16),
        DType::BF16 => to!(half::bf16),
        DType::I64 => to!(i64),
        DType::I32 => to!(i32),
        DType::U8 => to!(u8),
        DType::Bool => to!(bool),
    }
}
