//! The `Tensor` handle: shared storage, a layout, a dtype, and the autograd node that made it.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::Storage;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Where a tensor's data lives. Only the CPU for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Device {
    #[default]
    Cpu,
}

/// A unique id per tensor handle created (views get their own id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A buffer shared by a tensor and its views, with the version counter that in-place ops bump.
#[derive(Debug)]
pub(crate) struct StorageCell {
    data: RwLock<Storage>,
    version: AtomicU64,
}

impl StorageCell {
    pub(crate) fn new(s: Storage) -> Arc<Self> {
        Arc::new(StorageCell {
            data: RwLock::new(s),
            version: AtomicU64::new(0),
        })
    }
}

pub(crate) struct TensorImpl {
    id: TensorId,
    storage: Arc<StorageCell>,
    layout: Layout,
    dtype: DType,
    device: Device,
    /// The op that produced this tensor, when it was recorded for backward.
    node: Option<Node>,
    /// Set on leaves the user wants gradients for.
    requires_grad: AtomicBool,
    /// Accumulated gradient of a leaf.
    grad: Mutex<Option<Tensor>>,
}

/// An n-dimensional array with a runtime dtype: a cheap handle (cloning shares the data).
///
/// Views (`transpose`, `narrow`, `reshape` of contiguous data, ...) share storage with their
/// source. In-place ops (`add_`, `fill_`, ...) write into that shared storage and bump its version
/// counter, so backward can tell when a tensor it saved was changed.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorImpl>);

impl Tensor {
    /// Wraps storage and a layout into a new tensor, recording `node` for backward.
    pub(crate) fn from_parts(storage: Arc<StorageCell>, layout: Layout, node: Option<Node>) -> Tensor {
        let dtype = storage.data.read().unwrap_or_else(|e| e.into_inner()).dtype();
        Tensor::from_parts_typed(storage, layout, dtype, node)
    }

    /// [`Tensor::from_parts`] when the storage's dtype is already known (saves taking its lock).
    fn from_parts_typed(storage: Arc<StorageCell>, layout: Layout, dtype: DType, mut node: Option<Node>) -> Tensor {
        debug_assert_eq!(storage.data.read().map(|s| s.dtype()).ok(), Some(dtype));
        if let Some(n) = node.as_mut() {
            n.set_out_version(storage.version.load(Ordering::Relaxed));
        }
        Tensor(Arc::new(TensorImpl {
            id: TensorId::next(),
            storage,
            layout,
            dtype,
            device: Device::Cpu,
            node,
            requires_grad: AtomicBool::new(false),
            grad: Mutex::new(None),
        }))
    }

    /// A contiguous tensor owning `storage` with `shape` (sizes checked by the caller).
    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        Tensor::from_storage_with(storage, shape, None)
    }

    /// A contiguous tensor owning `storage` with `shape` (sizes checked by the caller), recording
    /// `node` for backward.
    pub(crate) fn from_storage_with(storage: Storage, shape: &[usize], node: Option<Node>) -> Tensor {
        debug_assert_eq!(storage.len(), Layout::contiguous(shape).numel());
        let dtype = storage.dtype();
        Tensor::from_parts_typed(StorageCell::new(storage), Layout::contiguous(shape), dtype, node)
    }

    /// A tensor sharing this one's storage with another layout, recording `node` for backward.
    pub(crate) fn view_with(&self, layout: Layout, node: Option<Node>) -> Tensor {
        Tensor::from_parts_typed(self.0.storage.clone(), layout, self.0.dtype, node)
    }

    /// A contiguous tensor from a flat vector and a shape.
    ///
    /// Errors when `data.len()` differs from the product of `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = crate::layout::checked_numel("from_vec", shape, T::DTYPE)?;
        if data.len() != n {
            return Err(Error::shape(
                "from_vec",
                format!("{} elements cannot have shape {shape:?} ({n} elements)", data.len()),
            ));
        }
        Ok(Tensor::from_storage(T::into_storage(data), shape))
    }

    /// A contiguous tensor copied from a slice, see [`Tensor::from_vec`].
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A 0-dim tensor holding `v`.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor::from_storage(T::into_storage(vec![v]), &[])
    }

    pub fn id(&self) -> TensorId {
        self.0.id
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    pub fn device(&self) -> Device {
        self.0.device
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    /// The sizes of each dim (`tensor.shape` in PyTorch).
    pub fn shape(&self) -> &[usize] {
        self.0.layout.shape()
    }
    /// Alias of [`Tensor::shape`] (`tensor.size()`).
    pub fn dims(&self) -> &[usize] {
        self.shape()
    }
    /// Strides in elements.
    pub fn stride(&self) -> &[usize] {
        self.0.layout.strides()
    }
    /// Number of dims (`tensor.dim()`).
    pub fn rank(&self) -> usize {
        self.0.layout.rank()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// Size of `dim` (negative counts from the end).
    pub fn size(&self, dim: isize) -> Result<usize> {
        let d = crate::layout::normalize_dim("size", dim, self.rank())?;
        Ok(self.shape().get(d).copied().unwrap_or(1))
    }

    /// Read access to the storage. Hold it only briefly: in-place ops take the write lock.
    pub(crate) fn storage(&self) -> RwLockReadGuard<'_, Storage> {
        self.0.storage.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the storage; bumps the version counter.
    pub(crate) fn storage_mut(&self) -> RwLockWriteGuard<'_, Storage> {
        self.0.storage.version.fetch_add(1, Ordering::Relaxed);
        self.0.storage.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True when this handle is the only one to its data: no clone, no view and no autograd
    /// node holds it, so an op may overwrite the buffer in place instead of allocating.
    pub(crate) fn is_unique(&self) -> bool {
        Arc::strong_count(&self.0) == 1 && Arc::strong_count(&self.0.storage) == 1
    }

    /// True when both tensors view the same buffer.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    /// The version counter of the underlying storage (bumped by each in-place op).
    pub fn version(&self) -> u64 {
        self.0.storage.version.load(Ordering::Relaxed)
    }

    // ---- autograd state ----

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }

    /// The recorded op that produced this tensor (`tensor.grad_fn` in PyTorch); `None` for a
    /// leaf or a tensor made with grad mode off. Its `op()` and `inputs()` let tools walk the
    /// recorded forward graph (TensorBoard's graph view, tracing).
    pub fn grad_fn(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }

    /// True when gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.node.is_some() || self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// True when the tensor was not produced by a recorded op.
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// Marks a leaf as needing gradients (`tensor.requires_grad_(flag)`). Only floating-point
    /// tensors can require gradients; the flag of a non-leaf cannot be changed.
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        if flag && !self.dtype().is_float() {
            return Err(Error::dtype(
                "requires_grad_",
                self.dtype(),
                "only floating-point tensors can require gradients",
            ));
        }
        if !self.is_leaf() {
            return Err(Error::Autograd(
                "requires_grad_: cannot change the flag of a non-leaf tensor; use detach()".into(),
            ));
        }
        self.0.requires_grad.store(flag, Ordering::Relaxed);
        Ok(())
    }

    /// Builder form of [`Tensor::set_requires_grad`]; panics on the same errors.
    #[track_caller]
    pub fn requires_grad_(self, flag: bool) -> Tensor {
        if let Err(e) = self.set_requires_grad(flag) {
            panic!("{e}");
        }
        self
    }

    /// The accumulated gradient of a leaf (`tensor.grad`).
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the stored gradient (`tensor.grad = g`).
    pub fn set_grad(&self, g: Option<Tensor>) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = g;
    }

    /// Clears the gradient (`tensor.grad = None`, PyTorch's default `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    pub(crate) fn grad_slot(&self) -> &Mutex<Option<Tensor>> {
        &self.0.grad
    }

    /// A tensor sharing the data but cut from the graph (`tensor.detach()`).
    pub fn detach(&self) -> Tensor {
        self.view_with(self.layout().clone(), None)
    }

    // ---- data access ----

    /// The elements in row-major order as `Vec<T>`. Errors when `T` is not the tensor's dtype
    /// (convert with [`Tensor::to_dtype`] first).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let s = self.storage();
        let data = T::slice(&s).ok_or(Error::DTypeMismatch {
            op: "to_vec",
            lhs: self.dtype(),
            rhs: T::DTYPE,
        })?;
        Ok(gather_contiguous(data, self.layout()))
    }

    /// The elements converted to `f64`, whatever the dtype (handy in tests and printing).
    pub fn to_vec_f64(&self) -> Vec<f64> {
        let s = self.storage();
        crate::with_storage!(&*s, v => {
            let mut out = Vec::with_capacity(self.numel());
            self.layout().for_each_run(|st, len, stride| out.extend((0..len).map(|i| Element::to_f64(v[st + i * stride]))));
            out
        })
    }

    /// The value of a one-element tensor (`tensor.item()`).
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "a tensor with {} elements ({:?}) cannot be converted to a scalar",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// The value of a one-element tensor as `f64`, whatever its dtype.
    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "a tensor with {} elements ({:?}) cannot be converted to a scalar",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec_f64()[0])
    }
}

/// Copies the elements a layout views into a new row-major vector.
pub(crate) fn gather_contiguous<T: Copy>(data: &[T], layout: &Layout) -> Vec<T> {
    if let Some(r) = layout.contiguous_range() {
        return data[r].to_vec();
    }
    let mut out = Vec::with_capacity(layout.numel());
    layout.for_each_run(|start, len, stride| {
        if stride == 1 {
            out.extend_from_slice(&data[start..start + len]);
        } else {
            out.extend((0..len).map(|i| data[start + i * stride]));
        }
    });
    out
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
