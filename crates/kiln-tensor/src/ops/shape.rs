//! Ops that rearrange or pad elements without arithmetic: `cat`, `stack`, `pad`, `tril`,
//! `triu`, `flip`, `roll` and `repeat`, with PyTorch's semantics. Each result is a fresh
//! contiguous tensor.

use super::index_kernels::{map_offsets, take, FILL};
use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{normalize_dim, normalize_dims};
use crate::op::{OpKind, PadMode};
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};

/// The identity map of a dim of size `n`.
fn identity(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// Source positions along one dim of size `n` padded by `(before, after)`; a negative entry
/// crops that many elements from its side instead (as in `F.pad`). Errors when the mode cannot
/// pad that much: reflect needs each positive pad `< n`, replicate needs `n > 0`, and the
/// result may not be negative in size (nor empty for reflect and replicate).
pub(crate) fn pad_map(
    mode: PadMode,
    n: usize,
    before: i64,
    after: i64,
    dim: usize,
    shape: &[usize],
) -> Result<Vec<usize>> {
    let ni = n as i64;
    let out = ni + before + after;
    let padded = before != 0 || after != 0;
    if out < 0 || (padded && out == 0 && mode != PadMode::Constant) {
        return Err(Error::invalid(
            "pad",
            format!("padding ({before}, {after}) of dimension {dim} of size {n} leaves size {out} (input {shape:?})"),
        ));
    }
    let reflect_ok = before < ni.max(1) && after < ni.max(1);
    if mode == PadMode::Reflect && !reflect_ok {
        return Err(Error::invalid(
            "pad",
            format!(
                "reflect padding ({before}, {after}) of dimension {dim} must be less than its size {n} (input {shape:?})"
            ),
        ));
    }
    if mode == PadMode::Replicate && n == 0 && padded {
        return Err(Error::invalid(
            "pad",
            format!("cannot replicate-pad dimension {dim} of size 0 (input {shape:?})"),
        ));
    }
    Ok((0..out)
        .map(|o| {
            let i = o - before;
            match mode {
                _ if (0..ni).contains(&i) => i as usize,
                PadMode::Constant => FILL,
                PadMode::Reflect if i < 0 => (-i) as usize,
                PadMode::Reflect => (2 * (ni - 1) - i) as usize,
                PadMode::Replicate => i.clamp(0, ni - 1) as usize,
            }
        })
        .collect())
}

/// The gradient of `pad` with respect to its input of shape `in_shape`: constant padding is
/// undone by padding with the negated amounts (cutting the border off, zero-filling what was
/// cropped); reflect and replicate add each output element back onto the input element it
/// copied. Written with differentiable ops.
pub(crate) fn pad_backward(g: &Tensor, in_shape: &[usize], pads: &[(i64, i64)], mode: PadMode) -> Result<Tensor> {
    if mode == PadMode::Constant {
        let undo: Vec<i64> = pads.iter().rev().flat_map(|&(b, a)| [-b, -a]).collect();
        return g.pad(&undo, PadMode::Constant, 0.0);
    }
    let mut g = g.clone();
    for (d, &(before, after)) in pads.iter().enumerate() {
        if before == 0 && after == 0 {
            continue;
        }
        let n = in_shape[d];
        let map: Vec<i64> = pad_map(mode, n, before, after, d, in_shape)?
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let len = map.len();
        let mut shape = g.shape().to_vec();
        shape[d] = n;
        g = Tensor::zeros(&shape, g.dtype()).index_add(d as isize, &Tensor::from_vec(map, &[len])?, &g)?;
    }
    Ok(g)
}

fn cat_typed<T: Element>(parts: &[Tensor], outer: usize) -> Storage {
    let datas: Vec<Vec<T>> = parts
        .iter()
        .map(|p| {
            let s = p.storage();
            gather_contiguous(T::slice(&s).expect("parts are cast to one dtype"), p.layout())
        })
        .collect();
    let mut out = Vec::with_capacity(datas.iter().map(Vec::len).sum());
    if outer > 0 {
        let chunks: Vec<usize> = datas.iter().map(|d| d.len() / outer).collect();
        for o in 0..outer {
            for (d, &c) in datas.iter().zip(&chunks) {
                out.extend_from_slice(&d[o * c..(o + 1) * c]);
            }
        }
    }
    T::into_storage(out)
}

/// Zeroes the elements outside the lower (or upper) triangle of each trailing `rows x cols`
/// matrix of a row-major buffer.
fn zero_triangle<T: Copy + Default>(v: &mut [T], rows: usize, cols: usize, diagonal: i64, lower: bool) {
    for (k, x) in v.iter_mut().enumerate() {
        let (i, j) = (((k / cols) % rows) as i64, (k % cols) as i64);
        let keep = if lower { j - i <= diagonal } else { j - i >= diagonal };
        if !keep {
            *x = T::default();
        }
    }
}

impl Tensor {
    /// Concatenates tensors along `dim` (`torch.cat`).
    ///
    /// All tensors have one rank and equal sizes outside `dim`; the result's dtype is the
    /// promotion of theirs. As in PyTorch, 1-D empty tensors (shape `[0]`) are skipped. Errors
    /// on an empty list, 0-dim tensors, or mismatched shapes (naming the tensor's position).
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        const OP: &str = "cat";
        let Some(first) = tensors.first() else {
            return Err(Error::invalid(OP, "expected a non-empty list of tensors"));
        };
        let dtype = tensors.iter().fold(first.dtype(), |d, t| DType::promote(d, t.dtype()));
        let parts: Vec<(usize, &Tensor)> = tensors
            .iter()
            .enumerate()
            .filter(|(_, t)| !(t.rank() == 1 && t.numel() == 0))
            .map(|(i, &t)| (i, t))
            .collect();
        let Some(&(i0, t0)) = parts.first() else {
            return Ok(Tensor::zeros(&[0], dtype));
        };
        let r = t0.rank();
        for &(i, t) in &parts {
            if t.rank() == 0 {
                return Err(Error::shape(
                    OP,
                    format!("zero-dimensional tensor (at position {i}) cannot be concatenated"),
                ));
            }
            if t.rank() != r {
                return Err(Error::shape(
                    OP,
                    format!(
                        "tensors must have the same number of dimensions: tensor {i0} has shape {:?} but tensor {i} has shape {:?}",
                        t0.shape(),
                        t.shape()
                    ),
                ));
            }
        }
        let d = normalize_dim(OP, dim, r)?;
        for &(i, t) in &parts {
            if let Some(k) = (0..r).find(|&k| k != d && t.shape()[k] != t0.shape()[k]) {
                return Err(Error::shape(
                    OP,
                    format!(
                        "sizes of tensors must match except in dimension {d}: expected size {} but got size {} for tensor number {i} in the list ({:?} vs {:?})",
                        t0.shape()[k],
                        t.shape()[k],
                        t0.shape(),
                        t.shape()
                    ),
                ));
            }
        }
        let cast = parts
            .iter()
            .map(|(_, t)| t.to_dtype(dtype))
            .collect::<Result<Vec<Tensor>>>()?;
        let mut shape = t0.shape().to_vec();
        shape[d] = cast.iter().map(|t| t.shape()[d]).sum();
        let outer: usize = shape[..d].iter().product();
        let storage = match dtype {
            DType::F32 => cat_typed::<f32>(&cast, outer),
            DType::F64 => cat_typed::<f64>(&cast, outer),
            DType::F16 => cat_typed::<half::f16>(&cast, outer),
            DType::BF16 => cat_typed::<half::bf16>(&cast, outer),
            DType::I64 => cat_typed::<i64>(&cast, outer),
            DType::I32 => cat_typed::<i32>(&cast, outer),
            DType::U8 => cat_typed::<u8>(&cast, outer),
            DType::Bool => cat_typed::<bool>(&cast, outer),
        };
        let refs: Vec<&Tensor> = cast.iter().collect();
        let node = Node::record(OpKind::Cat { dim: d }, &refs, vec![]);
        Ok(Tensor::from_storage_node(storage, &shape, node))
    }

    /// Joins equal-shape tensors along a new dim `dim` (`torch.stack`; `dim` may be `rank`).
    /// Errors on an empty list or unequal shapes (naming the entries).
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        const OP: &str = "stack";
        let Some(first) = tensors.first() else {
            return Err(Error::invalid(OP, "expected a non-empty list of tensors"));
        };
        if let Some((i, t)) = tensors.iter().enumerate().find(|(_, t)| t.shape() != first.shape()) {
            return Err(Error::shape(
                OP,
                format!(
                    "expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at entry {i}",
                    first.shape(),
                    t.shape()
                ),
            ));
        }
        let d = normalize_dim(OP, dim, first.rank() + 1)? as isize;
        let parts = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<Vec<Tensor>>>()?;
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::cat(&refs, d)
    }

    /// Pads with `F.pad`'s argument order: `pads` holds `(before, after)` pairs for the last
    /// dim first, then the one before it, ... (`[left, right, top, bottom]` for an image).
    ///
    /// A negative entry crops that many elements from its side instead of padding, in every
    /// mode (PyTorch's semantics: reflect and replicate positions are computed against the
    /// uncropped input, so `[2, -1]` reflect-pads on the left and crops on the right).
    ///
    /// Modes: `Constant` fills with `value` (cast to the dtype); `Reflect` mirrors without
    /// repeating the edge and needs each positive pad smaller than its dim; `Replicate` repeats
    /// the edge. Unlike PyTorch, reflect and replicate work on any number of trailing dims.
    /// Errors on an odd-length `pads`, more pairs than dims, pads a mode cannot do, or crops
    /// that remove more than the dim (or all of it, for reflect and replicate).
    pub fn pad(&self, pads: &[i64], mode: PadMode, value: f64) -> Result<Tensor> {
        const OP: &str = "pad";
        let r = self.rank();
        if !pads.len().is_multiple_of(2) {
            return Err(Error::invalid(
                OP,
                format!("padding length must be divisible by 2, got {} ({pads:?})", pads.len()),
            ));
        }
        if pads.len() / 2 > r {
            return Err(Error::invalid(
                OP,
                format!(
                    "padding length {} is too large for a tensor of shape {:?} (at most {})",
                    pads.len(),
                    self.shape(),
                    2 * r
                ),
            ));
        }
        let mut per_dim = vec![(0, 0); r];
        for (k, p) in pads.chunks(2).enumerate() {
            per_dim[r - 1 - k] = (p[0], p[1]);
        }
        let maps = per_dim
            .iter()
            .enumerate()
            .map(|(d, &(b, a))| pad_map(mode, self.shape()[d], b, a, d, self.shape()))
            .collect::<Result<Vec<_>>>()?;
        let shape: Vec<usize> = maps.iter().map(Vec::len).collect();
        let out = take(self, &map_offsets(self.layout(), &maps), &shape, value);
        let node = Node::record(
            OpKind::Pad {
                pads: per_dim,
                mode,
                value,
            },
            &[self],
            vec![],
        );
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    fn triangle(&self, op: &'static str, diagonal: i64, lower: bool) -> Result<Tensor> {
        let r = self.rank();
        if r < 2 {
            return Err(Error::shape(
                op,
                format!("input must have at least 2 dimensions, got shape {:?}", self.shape()),
            ));
        }
        let (rows, cols) = (self.shape()[r - 2], self.shape()[r - 1]);
        let out = self.contiguous_copy();
        {
            let mut s = out.storage_mut();
            crate::with_storage!(&mut *s, v => zero_triangle(v, rows, cols, diagonal, lower));
        }
        let kind = if lower {
            OpKind::Tril { diagonal }
        } else {
            OpKind::Triu { diagonal }
        };
        let node = Node::record(kind, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// The lower triangle of each matrix in the last two dims (`torch.tril`): elements with
    /// `col - row <= diagonal` are kept, the rest zeroed. Errors on rank < 2.
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle("tril", diagonal, true)
    }

    /// The upper triangle of each matrix in the last two dims (`torch.triu`): elements with
    /// `col - row >= diagonal` are kept, the rest zeroed. Errors on rank < 2.
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle("triu", diagonal, false)
    }

    /// Reverses the order of elements along `dims` (`torch.flip`; a copy). Errors on an
    /// out-of-range or repeated dim.
    pub fn flip(&self, dims: &[isize]) -> Result<Tensor> {
        let ds = if dims.is_empty() {
            vec![]
        } else {
            normalize_dims("flip", dims, self.rank())?
        };
        let maps: Vec<Vec<usize>> = self
            .shape()
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                if ds.contains(&k) {
                    (0..n).rev().collect()
                } else {
                    identity(n)
                }
            })
            .collect();
        let out = take(self, &map_offsets(self.layout(), &maps), self.shape(), 0.0);
        let node = Node::record(OpKind::Flip { dims: ds }, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// Rotates elements along `dims` by `shifts` (`torch.roll`): element `i` moves to
    /// `(i + shift) mod size`. With empty `dims` the tensor is rolled as if flattened
    /// (then `shifts` has one element). A dim may repeat (shifts add up). Errors when
    /// `shifts` and `dims` differ in length or a dim is out of range.
    pub fn roll(&self, shifts: &[i64], dims: &[isize]) -> Result<Tensor> {
        const OP: &str = "roll";
        if dims.is_empty() {
            if shifts.len() != 1 {
                return Err(Error::invalid(
                    OP,
                    format!("expected one shift to roll the flattened tensor, got {shifts:?}"),
                ));
            }
            return self.flatten(0, -1)?.roll(shifts, &[0])?.reshape(self.shape());
        }
        if shifts.len() != dims.len() {
            return Err(Error::invalid(
                OP,
                format!("shifts {shifts:?} and dims {dims:?} must have the same length"),
            ));
        }
        let (mut nd, mut ns): (Vec<usize>, Vec<i64>) = (vec![], vec![]);
        for (&d, &s) in dims.iter().zip(shifts) {
            let d = normalize_dim(OP, d, self.rank())?;
            match nd.iter().position(|&x| x == d) {
                Some(p) => ns[p] = ns[p].wrapping_add(s),
                None => {
                    nd.push(d);
                    ns.push(s);
                }
            }
        }
        // Shifts reduced to 0..size, so that backward's negated shifts are exact.
        for (s, &d) in ns.iter_mut().zip(&nd) {
            let n = self.shape()[d] as i64;
            *s = if n > 0 { s.rem_euclid(n) } else { 0 };
        }
        let maps: Vec<Vec<usize>> = self
            .shape()
            .iter()
            .enumerate()
            .map(|(k, &n)| match nd.iter().position(|&x| x == k) {
                Some(p) => {
                    let s = ns[p] as usize;
                    (0..n).map(|o| (o + n - s) % n).collect()
                }
                None => identity(n),
            })
            .collect();
        let out = take(self, &map_offsets(self.layout(), &maps), self.shape(), 0.0);
        let node = Node::record(OpKind::Roll { shifts: ns, dims: nd }, &[self], vec![]);
        Ok(if node.is_some() { out.with_node(node) } else { out })
    }

    /// Tiles the tensor `repeats[i]` times along each dim (`torch.Tensor.repeat`); extra
    /// leading entries of `repeats` add new leading dims. Always a copy. Errors when
    /// `repeats` is shorter than the rank.
    pub fn repeat(&self, repeats: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        if repeats.len() < r {
            return Err(Error::shape(
                "repeat",
                format!(
                    "number of repeat dims ({}) cannot be smaller than the number of tensor dims ({r}, shape {:?})",
                    repeats.len(),
                    self.shape()
                ),
            ));
        }
        let extra = repeats.len() - r;
        let shape = std::iter::repeat_n(1, extra).chain(self.shape().iter().copied());
        let (mut split, mut wide, mut out) = (vec![], vec![], vec![]);
        for (&rep, s) in repeats.iter().zip(shape) {
            split.extend([1, s]);
            wide.extend([rep, s]);
            let size = rep.checked_mul(s).ok_or_else(|| {
                Error::shape(
                    "repeat",
                    format!("repeats {repeats:?} of shape {:?} overflow", self.shape()),
                )
            })?;
            out.push(size);
        }
        crate::layout::checked_numel("repeat", &out, self.dtype())?;
        let t = self.reshape(&split)?.expand(&wide)?.reshape(&out)?;
        if t.shares_storage(self) {
            t.deep_clone()
        } else {
            Ok(t)
        }
    }
}
