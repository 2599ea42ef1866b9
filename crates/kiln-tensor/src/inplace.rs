//! In-place ops (`add_`, `mul_`, `sub_`, `copy_`, `zero_`, `fill_`). They write into the
//! shared storage (so views see the change) and bump its version counter, which lets backward
//! detect that a saved tensor changed.
//!
//! As in PyTorch, a leaf that requires gradients cannot be modified in place while grad mode is
//! on (optimizers update parameters inside `no_grad`). Unlike PyTorch, a non-leaf that is part of
//! the autograd graph cannot be modified in place either: use the out-of-place op.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::Num;

/// The elementwise update of a fast in-place path.
#[derive(Clone, Copy)]
enum Update {
    Add,
    Sub,
    Mul,
    /// `a + alpha * b` (`alpha` already in the element type).
    AddScaled(f64),
}

/// `a[i] = op(a[i], b[i])`, or with the single value `b[0]` for every `i` when `b` has one
/// element and `a` more.
fn update_slice<T: Num>(a: &mut [T], b: &[T], how: Update) {
    use kiln_kernels::elementwise::binary_inplace;
    let scaled = |alpha: f64| move |x: T, y: T| x.wadd(y.wmul(T::from_f64(alpha)));
    if b.len() == a.len() {
        match how {
            Update::Add => binary_inplace(a, b, |x: T, y: T| x.wadd(y)),
            Update::Sub => binary_inplace(a, b, |x: T, y: T| x.wsub(y)),
            Update::Mul => binary_inplace(a, b, |x: T, y: T| x.wmul(y)),
            Update::AddScaled(alpha) => binary_inplace(a, b, scaled(alpha)),
        }
        return;
    }
    let y = b[0];
    match how {
        Update::Add => a.iter_mut().for_each(|x| *x = x.wadd(y)),
        Update::Sub => a.iter_mut().for_each(|x| *x = x.wsub(y)),
        Update::Mul => a.iter_mut().for_each(|x| *x = x.wmul(y)),
        Update::AddScaled(alpha) => {
            let f = scaled(alpha);
            a.iter_mut().for_each(|x| *x = f(*x, y))
        }
    }
}

impl Tensor {
    fn check_inplace(&self, op: &'static str) -> Result<()> {
        if crate::is_grad_enabled() && self.requires_grad() {
            let what = if self.is_leaf() {
                "a leaf tensor that requires grad"
            } else {
                "a tensor that is part of the autograd graph"
            };
            return Err(Error::Autograd(format!(
                "{op}: {what} cannot be modified in place; wrap the update in no_grad or use the out-of-place op"
            )));
        }
        Ok(())
    }

    /// Writes `src` (broadcast to this shape and cast to this dtype) into this tensor's elements.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        self.check_inplace("copy_")?;
        let src = crate::no_grad(|| -> Result<Tensor> {
            let s = src.to_dtype(self.dtype())?.broadcast_to(self.shape())?;
            // Reading and writing the same buffer: take a private copy first.
            Ok(if s.shares_storage(self) {
                s.contiguous_copy()
            } else {
                s.contiguous()?
            })
        })?;
        if let (Some(dr), Some(sr)) = (self.layout().contiguous_range(), src.layout().contiguous_range()) {
            let s = src.storage();
            let mut dst = self.storage_mut();
            crate::with_storage!(&mut *dst, d => {
                let sv = Element::slice(&s).expect("cast to this dtype");
                d[dr].copy_from_slice(&sv[sr]);
            });
            return Ok(());
        }
        let offsets = self.layout().offsets();
        let s = src.storage();
        let mut dst = self.storage_mut();
        crate::with_storage!(&mut *dst, d => {
            let sv = Element::slice(&s).expect("cast to this dtype");
            // A contiguous view may start anywhere in its buffer.
            let sv = &sv[src.layout().offset()..];
            for (&o, &v) in offsets.iter().zip(sv) {
                d[o] = v;
            }
        });
        Ok(())
    }

    /// Applies `f(self, other)` and writes the result into `self`.
    fn update_(&self, op: &'static str, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<()> {
        self.check_inplace(op)?;
        let v = crate::no_grad(|| f(&self.detach()))?;
        if v.shape() != self.shape() {
            return Err(Error::shape(
                op,
                format!(
                    "result of shape {:?} cannot be written into a tensor of shape {:?}",
                    v.shape(),
                    self.shape()
                ),
            ));
        }
        let _g = crate::GradModeGuard::new(false);
        self.copy_(&v)
    }

    /// The fast path of `add_`/`sub_`/`mul_`: updates a contiguous `self` directly from a
    /// contiguous `other` of the same shape and dtype, or a 0-dim `other` of the same dtype.
    /// Returns false (doing nothing) when it does not apply: other layouts or dtypes, half
    /// precision or bool (those keep the out-of-place path's rounding and errors), or `other`
    /// sharing `self`'s storage.
    fn update_fast_(&self, other: &Tensor, how: Update) -> bool {
        let same = other.shape() == self.shape() && other.is_contiguous();
        if !(same || other.rank() == 0)
            || other.dtype() != self.dtype()
            || !matches!(
                self.dtype(),
                DType::F32 | DType::F64 | DType::I64 | DType::I32 | DType::U8
            )
            || other.shares_storage(self)
            || (matches!(how, Update::AddScaled(_)) && !self.dtype().is_float())
        {
            return false;
        }
        let (Some(dr), Some(or)) = (self.layout().contiguous_range(), other.layout().contiguous_range()) else {
            return false;
        };
        let o = other.storage();
        let mut d = self.storage_mut();
        macro_rules! arms {
            ($($v:ident),*) => {
                match (&mut *d, &*o) {
                    $((Storage::$v(a), Storage::$v(b)) => update_slice(&mut a[dr], &b[or], how),)*
                    _ => unreachable!("dtypes checked above"),
                }
            };
        }
        arms!(F32, F64, I64, I32, U8);
        true
    }

    /// `self += other` (broadcast to this shape).
    pub fn add_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("add_")?;
        if self.update_fast_(other, Update::Add) {
            return Ok(());
        }
        self.update_("add_", |s| s.add(other))
    }
    /// `self -= other`.
    pub fn sub_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("sub_")?;
        if self.update_fast_(other, Update::Sub) {
            return Ok(());
        }
        self.update_("sub_", |s| s.sub(other))
    }
    /// `self *= other`.
    pub fn mul_(&self, other: &Tensor) -> Result<()> {
        self.check_inplace("mul_")?;
        if self.update_fast_(other, Update::Mul) {
            return Ok(());
        }
        self.update_("mul_", |s| s.mul(other))
    }
    /// `self += alpha * other` (PyTorch's `add_(other, alpha=...)`).
    pub fn add_scaled_(&self, other: &Tensor, alpha: f64) -> Result<()> {
        self.check_inplace("add_")?;
        if self.update_fast_(other, Update::AddScaled(alpha)) {
            return Ok(());
        }
        self.update_("add_", |s| s.add(&other.mul_scalar(alpha)?))
    }
    /// `self *= value`.
    pub fn mul_scalar_(&self, value: f64) -> Result<()> {
        self.check_inplace("mul_")?;
        if self.dtype().is_float() || value.fract() == 0.0 {
            let v = crate::no_grad(|| self.scalar_like(value))?;
            if v.dtype() == self.dtype() && self.update_fast_(&v, Update::Mul) {
                return Ok(());
            }
        }
        self.update_("mul_", |s| s.mul_scalar(value))
    }
    /// Sets every element to `value`.
    pub fn fill_(&self, value: f64) -> Result<()> {
        self.check_inplace("fill_")?;
        let v = Tensor::full(&[], value, self.dtype())?;
        if let Some(r) = self.layout().contiguous_range() {
            let s = v.storage();
            let mut dst = self.storage_mut();
            crate::with_storage!(&mut *dst, d => {
                let sv = Element::slice(&s).expect("same dtype");
                d[r].fill(sv[0]);
            });
            return Ok(());
        }
        self.copy_(&v)
    }
    /// Sets every element to zero.
    pub fn zero_(&self) -> Result<()> {
        self.fill_(0.0)
    }
}

/// Elements per block of [`fused_block`]: its lanes are staged as `f64` in stack buffers.
const FUSED_BLOCK: usize = 256;

/// [`Tensor::fused_update_`] on one stretch of its contiguous slices (all the same length):
/// block by block, the lanes are converted to `f64` into stack buffers, `f` runs per element,
/// and the results are converted back.
#[inline(always)]
fn fused_block<T: Element, F, const M: usize, const R: usize>(mut outs: Vec<&mut [T]>, ins: Vec<&[T]>, f: &F)
where
    F: Fn(&mut [f64; M], &[f64; R]),
{
    let n = outs.first().map_or(0, |o| o.len());
    let mut ob = [[0.0f64; FUSED_BLOCK]; M];
    let mut ib = [[0.0f64; FUSED_BLOCK]; R];
    let mut start = 0;
    while start < n {
        let len = FUSED_BLOCK.min(n - start);
        for (buf, src) in ob.iter_mut().zip(outs.iter()) {
            for (d, s) in buf[..len].iter_mut().zip(&src[start..start + len]) {
                *d = s.to_f64();
            }
        }
        for (buf, src) in ib.iter_mut().zip(ins.iter()) {
            for (d, s) in buf[..len].iter_mut().zip(&src[start..start + len]) {
                *d = s.to_f64();
            }
        }
        for j in 0..len {
            let mut o: [f64; M] = std::array::from_fn(|k| ob[k][j]);
            let r: [f64; R] = std::array::from_fn(|k| ib[k][j]);
            f(&mut o, &r);
            for (buf, v) in ob.iter_mut().zip(o) {
                buf[j] = v;
            }
        }
        for (buf, dst) in ob.iter().zip(outs.iter_mut()) {
            for (d, s) in dst[start..start + len].iter_mut().zip(&buf[..len]) {
                *d = T::from_f64(*s);
            }
        }
        start += len;
    }
}

/// [`fused_block`] compiled for AVX2 when the CPU has it (the per-element closure is inlined
/// into it, so its arithmetic is vectorized across elements; values are the same, as Rust never
/// contracts `a * b + c` into an FMA).
fn fused_block_dispatch<T: Element, F, const M: usize, const R: usize>(outs: Vec<&mut [T]>, ins: Vec<&[T]>, f: &F)
where
    F: Fn(&mut [f64; M], &[f64; R]),
{
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<T: Element, F, const M: usize, const R: usize>(outs: Vec<&mut [T]>, ins: Vec<&[T]>, f: &F)
        where
            F: Fn(&mut [f64; M], &[f64; R]),
        {
            fused_block(outs, ins, f)
        }
        if kiln_kernels::simd::simd_level() != kiln_kernels::simd::SimdLevel::Baseline {
            // SAFETY: the CPU supports the features `avx2` was compiled for.
            return unsafe { avx2(outs, ins, f) };
        }
    }
    fused_block(outs, ins, f)
}

/// Runs [`fused_block`] over the whole slices, split across threads when they are long.
fn fused_loop<T: Element, F, const M: usize, const R: usize>(outs: Vec<&mut [T]>, ins: Vec<&[T]>, f: F)
where
    F: Fn(&mut [f64; M], &[f64; R]) + Sync,
{
    use kiln_kernels::par;
    use rayon::prelude::*;
    let n = outs.first().map_or(0, |o| o.len());
    if !par::should_split(n, par::ELEMENTWISE_PAR_THRESHOLD) {
        return fused_block_dispatch(outs, ins, &f);
    }
    let c = par::chunk_len(n, 4096);
    let chunks = n.div_ceil(c);
    let mut out_chunks: Vec<Vec<&mut [T]>> = (0..chunks).map(|_| Vec::with_capacity(M)).collect();
    for s in outs {
        for (j, piece) in s.chunks_mut(c).enumerate() {
            out_chunks[j].push(piece);
        }
    }
    let mut in_chunks: Vec<Vec<&[T]>> = (0..chunks).map(|_| Vec::with_capacity(R)).collect();
    for s in ins {
        for (j, piece) in s.chunks(c).enumerate() {
            in_chunks[j].push(piece);
        }
    }
    out_chunks
        .into_par_iter()
        .zip(in_chunks)
        .for_each(|(o, i)| fused_block_dispatch(o, i, &f));
}

impl Tensor {
    /// A fused elementwise update of several tensors in one pass (what optimizers run per
    /// parameter): for every element index `i`, `f(&mut [outs[0][i], ..], &[ins[0][i], ..])` with
    /// the values as `f64`; the values `f` leaves in its first argument are written back to `outs`.
    /// Long tensors are split across threads, so `f` must not depend on the order of elements.
    ///
    /// `outs` must be floating-point tensors of one dtype and one shape; `ins` are broadcast to
    /// that shape and cast to that dtype. Contiguous `outs` are updated directly in their
    /// storage; others go through a contiguous copy. The arithmetic runs in `f64`, so `f32`
    /// results can differ from a chain of `f32` ops in the last bit (they are at least as
    /// accurate). Errors like the other in-place ops on leaves that require grad outside
    /// `no_grad`, and when two `outs` share storage.
    pub fn fused_update_<const M: usize, const R: usize>(
        outs: [&Tensor; M],
        ins: [&Tensor; R],
        f: impl Fn(&mut [f64; M], &[f64; R]) + Sync,
    ) -> Result<()> {
        const OP: &str = "fused_update_";
        let Some(first) = outs.first() else {
            return Ok(());
        };
        let (dtype, shape) = (first.dtype(), first.shape().to_vec());
        for (k, o) in outs.iter().enumerate() {
            o.check_inplace(OP)?;
            if o.dtype() != dtype || !dtype.is_float() {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "outputs must share one floating-point dtype; output 0 is {dtype}, output {k} is {}",
                        o.dtype()
                    ),
                });
            }
            if o.shape() != shape.as_slice() {
                return Err(Error::shape(
                    OP,
                    format!("output {k} has shape {:?}, output 0 has shape {shape:?}", o.shape()),
                ));
            }
            if outs[..k].iter().any(|p| p.shares_storage(o)) {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("output {k} shares its storage with an earlier output"),
                });
            }
        }
        let _g = crate::GradModeGuard::new(false);
        // Inputs as contiguous tensors of the outputs' dtype and shape, never aliasing an output
        // (that would read a buffer this call holds for writing).
        let mut inputs = Vec::with_capacity(R);
        for t in ins {
            let t = t.to_dtype(dtype)?.broadcast_to(&shape)?;
            let aliased = outs.iter().any(|o| o.shares_storage(&t));
            inputs.push(if aliased || !t.is_contiguous() {
                t.contiguous_copy()
            } else {
                t
            });
        }
        // Non-contiguous outputs are updated in a private contiguous copy, then written back.
        let targets: Vec<Tensor> = outs
            .iter()
            .map(|o| {
                if o.is_contiguous() {
                    (*o).clone()
                } else {
                    o.contiguous_copy()
                }
            })
            .collect();
        {
            let mut wg: Vec<_> = targets.iter().map(|t| t.storage_mut()).collect();
            let rg: Vec<_> = inputs.iter().map(|t| t.storage()).collect();
            let out_ranges: Vec<_> = targets.iter().map(|t| t.layout().contiguous_range()).collect();
            let in_ranges: Vec<_> = inputs.iter().map(|t| t.layout().contiguous_range()).collect();
            macro_rules! run {
                ($t:ty) => {{
                    let o: Vec<&mut [$t]> = wg
                        .iter_mut()
                        .zip(&out_ranges)
                        .map(|(g, r)| {
                            let s = <$t as Element>::slice_mut(&mut **g).expect("dtype checked");
                            &mut s[r.clone().expect("contiguous")]
                        })
                        .collect();
                    let i: Vec<&[$t]> = rg
                        .iter()
                        .zip(&in_ranges)
                        .map(|(g, r)| {
                            let s = <$t as Element>::slice(&**g).expect("cast to the outputs' dtype");
                            &s[r.clone().expect("contiguous")]
                        })
                        .collect();
                    fused_loop::<$t, _, M, R>(o, i, f)
                }};
            }
            match dtype {
                DType::F32 => run!(f32),
                DType::F64 => run!(f64),
                DType::F16 => run!(half::f16),
                DType::BF16 => run!(half::bf16),
                _ => unreachable!("float dtype checked above"),
            }
        }
        for (o, t) in outs.iter().zip(&targets) {
            if !o.is_contiguous() {
                o.copy_(t)?;
            }
        }
        Ok(())
    }

    /// `self += value * tensor1 * tensor2` (PyTorch's `addcmul_`); the factors broadcast to this
    /// shape.
    pub fn addcmul_(&self, tensor1: &Tensor, tensor2: &Tensor, value: f64) -> Result<()> {
        Tensor::fused_update_([self], [tensor1, tensor2], |o, i| o[0] += value * i[0] * i[1])
    }

    /// `self += value * tensor1 / tensor2` (PyTorch's `addcdiv_`, evaluated as `(value * tensor1) / tensor2`).
    pub fn addcdiv_(&self, tensor1: &Tensor, tensor2: &Tensor, value: f64) -> Result<()> {
        Tensor::fused_update_([self], [tensor1, tensor2], |o, i| o[0] += value * i[0] / i[1])
    }

    /// `self += weight * (end - self)` (PyTorch's `lerp_` with a scalar weight, with its
    /// formula: from `end` backwards when `weight >= 0.5`, which is exact at `weight = 1`).
    pub fn lerp_(&self, end: &Tensor, weight: f64) -> Result<()> {
        Tensor::fused_update_([self], [end], |o, i| o[0] = lerp(o[0], i[0], weight))
    }

    /// `self = max(self, other)` elementwise, NaN if either is NaN (PyTorch's `maximum`, in place).
    pub fn maximum_(&self, other: &Tensor) -> Result<()> {
        Tensor::fused_update_([self], [other], |o, i| {
            o[0] = if o[0].is_nan() || i[0].is_nan() {
                f64::NAN
            } else {
                o[0].max(i[0])
            }
        })
    }
}

/// PyTorch's scalar `lerp`: `start + weight * (end - start)` for `|weight| < 0.5`, else
/// `end - (end - start) * (1 - weight)`.
fn lerp(start: f64, end: f64, weight: f64) -> f64 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}
