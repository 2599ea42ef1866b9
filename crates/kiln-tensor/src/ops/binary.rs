//! Elementwise ops of two tensors with NumPy broadcasting, their scalar forms, comparisons,
//! logical ops, `where_` and `masked_fill`.

use super::DEFAULT_FLOAT;
use crate::backward::Node;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{broadcast_shapes, zip_runs, Layout};
use crate::op::{BinaryOp, CmpOp, OpKind};
use crate::storage::Storage;
use crate::tensor::Tensor;
use kiln_kernels::elementwise::{binary_scalar_vec, binary_vec, BinaryFn};
use kiln_kernels::Num;

/// `f` over two layouts already broadcast to one shape; the result is row-major.
pub(crate) fn broadcast_map<T, U, F>(a: &[T], la: &Layout, b: &[T], lb: &Layout, f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
    F: BinaryFn<T, U>,
{
    let n = la.numel();
    let all_zero = |l: &Layout| l.strides().iter().all(|&s| s == 0);
    match (la.contiguous_range(), lb.contiguous_range()) {
        (Some(ra), Some(rb)) => binary_vec(&a[ra], &b[rb], f),
        (Some(ra), None) if all_zero(lb) => binary_scalar_vec(&a[ra], b[lb.offset()], f),
        (None, Some(rb)) if all_zero(la) => binary_scalar_vec(&b[rb], a[la.offset()], move |y, x| f(x, y)),
        _ => {
            let mut out = vec![U::default(); n];
            let mut pos = 0;
            zip_runs(la, lb, |oa, sa, ob, sb, len| {
                let dst = &mut out[pos..pos + len];
                if sa == 1 && sb == 1 {
                    for ((d, &x), &y) in dst.iter_mut().zip(&a[oa..oa + len]).zip(&b[ob..ob + len]) {
                        *d = f(x, y);
                    }
                } else if sa == 1 && sb == 0 {
                    let y = b[ob];
                    for (d, &x) in dst.iter_mut().zip(&a[oa..oa + len]) {
                        *d = f(x, y);
                    }
                } else if sa == 0 && sb == 1 {
                    let x = a[oa];
                    for (d, &y) in dst.iter_mut().zip(&b[ob..ob + len]) {
                        *d = f(x, y);
                    }
                } else {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = f(a[oa + i * sa], b[ob + i * sb]);
                    }
                }
                pos += len;
            });
            out
        }
    }
}

/// NaN-propagating max/min, as `torch.maximum` / `torch.minimum`.
#[inline(always)]
fn max_nan<T: Num>(a: T, b: T) -> T {
    if a.is_nan_() {
        a
    } else if b.is_nan_() || b > a {
        b
    } else {
        a
    }
}
#[inline(always)]
fn min_nan<T: Num>(a: T, b: T) -> T {
    if a.is_nan_() {
        a
    } else if b.is_nan_() || b < a {
        b
    } else {
        a
    }
}

trait PowElem: Copy {
    fn pow_(self, e: Self) -> Self;
}
impl PowElem for f32 {
    #[inline(always)]
    fn pow_(self, e: Self) -> Self {
        self.powf(e)
    }
}
impl PowElem for f64 {
    #[inline(always)]
    fn pow_(self, e: Self) -> Self {
        self.powf(e)
    }
}
macro_rules! int_pow {
    ($($t:ty),*) => {$(
        impl PowElem for $t {
            #[inline(always)]
            fn pow_(self, e: Self) -> Self {
                if e < (0 as $t) {
                    return 0;
                }
                // Square-and-multiply over the full exponent (wrapping, like PyTorch); a cast
                // to `u32` would truncate exponents above `u32::MAX`.
                let (mut r, mut b, mut e) = (1 as $t, self, e as u64);
                while e > 0 {
                    if e & 1 == 1 {
                        r = r.wrapping_mul(b);
                    }
                    b = b.wrapping_mul(b);
                    e >>= 1;
                }
                r
            }
        }
    )*};
}
int_pow!(i64, i32, u8);

/// Runs `$f` (a closure text, re-typed per dtype) over two storages of one numeric dtype.
macro_rules! numeric2 {
    ($op:expr, $a:expr, $la:expr, $b:expr, $lb:expr, $out:ident, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (Storage::F32(a), Storage::F32(b)) => $out(broadcast_map(a, $la, b, $lb, |$x: f32, $y: f32| $body)),
            (Storage::F64(a), Storage::F64(b)) => $out(broadcast_map(a, $la, b, $lb, |$x: f64, $y: f64| $body)),
            (Storage::I64(a), Storage::I64(b)) => $out(broadcast_map(a, $la, b, $lb, |$x: i64, $y: i64| $body)),
            (Storage::I32(a), Storage::I32(b)) => $out(broadcast_map(a, $la, b, $lb, |$x: i32, $y: i32| $body)),
            (Storage::U8(a), Storage::U8(b)) => $out(broadcast_map(a, $la, b, $lb, |$x: u8, $y: u8| $body)),
            (a, _) => return Err(Error::dtype($op, a.dtype(), "expected a numeric tensor")),
        }
    };
}

/// The PyTorch name of a binary op.
pub(crate) fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Maximum => "maximum",
        BinaryOp::Minimum => "minimum",
    }
}

/// The dtype two operands are computed in: like PyTorch, a 0-dim operand does not widen a
/// tensor of the same category (`f32 tensor + f64 scalar` stays f32).
pub(crate) fn result_dtype(a: &Tensor, b: &Tensor) -> DType {
    let (da, db) = (a.dtype(), b.dtype());
    let same_category = da.is_float() == db.is_float() && (da == DType::Bool) == (db == DType::Bool);
    if same_category && a.rank() == 0 && b.rank() > 0 {
        db
    } else if same_category && b.rank() == 0 && a.rank() > 0 {
        da
    } else {
        DType::promote(da, db)
    }
}

/// Casts both operands to `dtype` (recorded, so gradients flow back through the casts).
fn cast_pair(a: &Tensor, b: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
    Ok((a.to_dtype(dtype)?, b.to_dtype(dtype)?))
}

/// Half-precision is computed in f32 and rounded back, as PyTorch's CPU kernels do.
fn compute_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

fn broadcast_layouts(op: &'static str, a: &Tensor, b: &Tensor) -> Result<(Vec<usize>, Layout, Layout)> {
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    crate::layout::checked_numel(op, &shape, a.dtype())?;
    let la = a.layout().broadcast_to(op, &shape)?;
    let lb = b.layout().broadcast_to(op, &shape)?;
    Ok((shape, la, lb))
}

impl Tensor {
    /// `op(self, rhs)` elementwise with broadcasting and dtype promotion, recorded for backward.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let name = binary_name(op);
        let mut dtype = result_dtype(self, rhs);
        if dtype == DType::Bool || (op == BinaryOp::Div && !dtype.is_float()) {
            dtype = if op == BinaryOp::Div { DEFAULT_FLOAT } else { DType::U8 };
            if op != BinaryOp::Div {
                return Err(Error::dtype(
                    name,
                    DType::Bool,
                    "arithmetic on bool tensors; cast with to_dtype first",
                ));
            }
        }
        let (a, b) = cast_pair(self, rhs, dtype)?;
        let (shape, la, lb) = broadcast_layouts(name, &a, &b)?;
        let cd = compute_dtype(dtype);
        let (ca, cb) = if cd != dtype {
            (a.to_dtype(cd)?, b.to_dtype(cd)?)
        } else {
            (a.clone(), b.clone())
        };
        let storage = {
            let (sa, sb) = (ca.storage(), cb.storage());
            match op {
                BinaryOp::Add => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| x.wadd(y)),
                BinaryOp::Sub => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| x.wsub(y)),
                BinaryOp::Mul => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| x.wmul(y)),
                BinaryOp::Div => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| x / y),
                BinaryOp::Pow => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| x.pow_(y)),
                BinaryOp::Maximum => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| max_nan(x, y)),
                BinaryOp::Minimum => numeric2!(name, &*sa, &la, &*sb, &lb, into, |x, y| min_nan(x, y)),
            }
        };
        let node = Node::record(OpKind::Binary(op), &[&a, &b], vec![]);
        if cd == dtype {
            return Ok(Tensor::from_storage_with(storage, &shape, node));
        }
        let out = Tensor::from_storage(storage, &shape).to_dtype(dtype)?;
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// A 0-dim tensor holding `v` in the dtype a scalar operand of `self` takes (`self`'s dtype,
    /// or the default float for a fractional value with an integer tensor).
    pub(crate) fn scalar_like(&self, v: f64) -> Result<Tensor> {
        // The common float cases without going through `full`'s conversion iterator.
        match self.dtype() {
            DType::F32 => return Ok(Tensor::from_storage(Storage::F32(vec![v as f32]), &[])),
            DType::F64 => return Ok(Tensor::from_storage(Storage::F64(vec![v]), &[])),
            _ => {}
        }
        let dtype = if self.dtype().is_float() || (v.fract() == 0.0 && v.is_finite()) && self.dtype() != DType::Bool {
            self.dtype()
        } else {
            DEFAULT_FLOAT
        };
        Tensor::full(&[], v, dtype)
    }

    /// Elementwise comparison with broadcasting, giving a bool tensor (no gradient).
    pub fn compare(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let name = match op {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        };
        let dtype = compute_dtype(result_dtype(self, rhs));
        let dtype = if dtype == DType::Bool { DType::U8 } else { dtype };
        let (a, b) = cast_pair(&self.detach(), &rhs.detach(), dtype)?;
        let (shape, la, lb) = broadcast_layouts(name, &a, &b)?;
        let (sa, sb) = (a.storage(), b.storage());
        let bools = |v: Vec<bool>| Storage::Bool(v);
        let storage = match op {
            CmpOp::Eq => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x == y),
            CmpOp::Ne => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x != y),
            CmpOp::Lt => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x < y),
            CmpOp::Le => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x <= y),
            CmpOp::Gt => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x > y),
            CmpOp::Ge => numeric2!(name, &*sa, &la, &*sb, &lb, bools, |x, y| x >= y),
        };
        Ok(Tensor::from_storage(storage, &shape))
    }

    fn logical(&self, rhs: &Tensor, name: &'static str, f: fn(bool, bool) -> bool) -> Result<Tensor> {
        let (a, b) = (self.to_dtype(DType::Bool)?, rhs.to_dtype(DType::Bool)?);
        let (shape, la, lb) = broadcast_layouts(name, &a, &b)?;
        let (sa, sb) = (a.storage(), b.storage());
        let (Storage::Bool(x), Storage::Bool(y)) = (&*sa, &*sb) else {
            unreachable!("cast to bool above")
        };
        Ok(Tensor::from_storage(
            Storage::Bool(broadcast_map(x, &la, y, &lb, f)),
            &shape,
        ))
    }

    /// Elementwise logical and (nonzero is true), giving bool.
    pub fn logical_and(&self, rhs: &Tensor) -> Result<Tensor> {
        self.logical(rhs, "logical_and", |x, y| x && y)
    }
    /// Elementwise logical or (nonzero is true), giving bool.
    pub fn logical_or(&self, rhs: &Tensor) -> Result<Tensor> {
        self.logical(rhs, "logical_or", |x, y| x || y)
    }
    /// Elementwise logical not (zero is true), giving bool.
    pub fn logical_not(&self) -> Result<Tensor> {
        let b = self.to_dtype(DType::Bool)?;
        let v: Vec<bool> = b.to_vec::<bool>()?.into_iter().map(|x| !x).collect();
        Tensor::from_vec(v, self.shape())
    }

    /// `condition ? self : other` elementwise with broadcasting of all three
    /// (`torch.where(condition, self, other)`).
    pub fn where_(&self, condition: &Tensor, other: &Tensor) -> Result<Tensor> {
        let cond = condition.to_dtype(DType::Bool)?;
        let shape = broadcast_shapes(
            "where",
            &broadcast_shapes("where", cond.shape(), self.shape())?,
            other.shape(),
        )?;
        let dtype = result_dtype(self, other);
        let x = self.to_dtype(dtype)?.broadcast_to(&shape)?;
        let y = other.to_dtype(dtype)?.broadcast_to(&shape)?;
        let mask = cond.broadcast_to(&shape)?.to_vec::<bool>()?;
        let (xv, yv) = (x.detach().contiguous()?, y.detach().contiguous()?);
        // Select without arithmetic so that inf/NaN in the unselected branch stay out.
        fn select<T: Copy>(a: &[T], b: &[T], m: &[bool]) -> Vec<T> {
            a.iter()
                .zip(b)
                .zip(m)
                .map(|((&p, &q), &m)| if m { p } else { q })
                .collect()
        }
        let storage = {
            let (sx, sy) = (xv.storage(), yv.storage());
            // Contiguous views may start anywhere in their buffer.
            let ra = xv.layout().contiguous_range().expect("made contiguous above");
            let rb = yv.layout().contiguous_range().expect("made contiguous above");
            macro_rules! sel {
                ($($v:ident),*) => {
                    match (&*sx, &*sy) {
                        $((Storage::$v(a), Storage::$v(b)) => Storage::$v(select(&a[ra.clone()], &b[rb.clone()], &mask)),)*
                        _ => unreachable!("both branches cast to one dtype"),
                    }
                };
            }
            sel!(F32, F64, F16, BF16, I64, I32, U8, Bool)
        };
        let node = Node::record(OpKind::Where, &[&cond, &x, &y], vec![]);
        Ok(Tensor::from_storage_with(storage, &shape, node))
    }

    /// Replaces elements where `mask` is true by `value` (`masked_fill`); the mask broadcasts to
    /// `self`'s shape.
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let fill = self.scalar_like(value)?.to_dtype(self.dtype())?;
        let m = mask.to_dtype(DType::Bool)?;
        if broadcast_shapes("masked_fill", m.shape(), self.shape())? != self.shape() {
            return Err(Error::shape(
                "masked_fill",
                format!(
                    "mask of shape {:?} does not broadcast to {:?}",
                    mask.shape(),
                    self.shape()
                ),
            ));
        }
        fill.where_(&m, self)
    }
}

fn into<T: crate::dtype::Element>(v: Vec<T>) -> Storage {
    T::into_storage(v)
}

macro_rules! binary_methods {
    ($($name:ident, $scalar:ident => $op:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "` with broadcasting (`torch.", stringify!($name), "`).")]
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.binary(rhs, BinaryOp::$op)
                }
                #[doc = concat!("`", stringify!($name), "` with a scalar right-hand side.")]
                pub fn $scalar(&self, rhs: f64) -> Result<Tensor> {
                    self.binary(&self.scalar_like(rhs)?, BinaryOp::$op)
                }
            )*
        }
    };
}

binary_methods! {
    add, add_scalar => Add;
    sub, sub_scalar => Sub;
    mul, mul_scalar => Mul;
    div, div_scalar => Div;
    pow, pow_tensor_scalar => Pow;
    maximum, maximum_scalar => Maximum;
    minimum, minimum_scalar => Minimum;
}

macro_rules! compare_methods {
    ($($name:ident, $scalar:ident => $op:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "` with broadcasting, giving bool.")]
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.compare(rhs, CmpOp::$op)
                }
                #[doc = concat!("`", stringify!($name), "` against a scalar, giving bool.")]
                pub fn $scalar(&self, rhs: f64) -> Result<Tensor> {
                    self.compare(&self.scalar_like(rhs)?, CmpOp::$op)
                }
            )*
        }
    };
}

compare_methods! {
    eq, eq_scalar => Eq;
    ne, ne_scalar => Ne;
    lt, lt_scalar => Lt;
    le, le_scalar => Le;
    gt, gt_scalar => Gt;
    ge, ge_scalar => Ge;
}
