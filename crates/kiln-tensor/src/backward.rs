//! Define-by-run autograd: the recorded [`Node`], the engine that walks the graph in reverse
//! topological order, and every op's backward rule in one `match` ([`input_grads`]).
//!
//! Rules are written with tensor ops, so with `create_graph` the backward pass is itself
//! recorded and can be differentiated again.

use crate::error::{Error, Result};
use crate::grad_mode::GradModeGuard;
use crate::op::{BinaryOp, OpKind, UnaryOp};
use crate::tensor::{Tensor, TensorId};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes tensor ids (sequential `u64`s) with one multiply instead of SipHash: the engine's
/// maps are rebuilt on every backward and sit on the per-op overhead path.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<TensorId, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<TensorId, BuildHasherDefault<IdHasher>>;

/// The op that produced a tensor, its inputs, extra saved tensors, and the versions of all of
/// them when they were saved, plus the version of the output's storage when the output was made
/// (backward rules that read the output need it unchanged).
#[derive(Clone)]
pub struct Node {
    pub(crate) op: OpKind,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) saved: Vec<Tensor>,
    versions: Vec<u64>,
    out_version: u64,
}

impl Node {
    /// A node for `op` when grad mode is on and some input requires gradients, else `None`.
    pub(crate) fn record(op: OpKind, inputs: &[&Tensor], saved: Vec<Tensor>) -> Option<Node> {
        if !crate::is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return None;
        }
        let versions = inputs
            .iter()
            .copied()
            .chain(saved.iter())
            .map(|t| t.version())
            .collect();
        Some(Node {
            op,
            inputs: inputs.iter().map(|&t| t.clone()).collect(),
            saved,
            versions,
            out_version: 0,
        })
    }

    /// Records the version of the output's storage; called once when the output is built.
    pub(crate) fn set_out_version(&mut self, v: u64) {
        self.out_version = v;
    }

    /// True when this op's backward rule reads its own output.
    fn reads_output(&self) -> bool {
        matches!(
            self.op,
            OpKind::Amax { .. }
                | OpKind::Amin { .. }
                | OpKind::LogSumExp { .. }
                | OpKind::Norm { .. }
                | OpKind::Softmax { .. }
                | OpKind::LogSoftmax { .. }
        )
    }

    pub fn op(&self) -> &OpKind {
        &self.op
    }

    pub fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }

    /// Errors when a tensor this node's backward reads (its inputs, saved tensors, or its output
    /// `out`) was modified in place after it was saved.
    fn check_versions(&self, out: &Tensor) -> Result<()> {
        let reads_inputs = !matches!(
            self.op,
            OpKind::Binary(BinaryOp::Add | BinaryOp::Sub)
                | OpKind::Unary(UnaryOp::Neg)
                | OpKind::Sum { .. }
                | OpKind::Mean { .. }
                | OpKind::Reshape
                | OpKind::Permute(_)
                | OpKind::Slice { .. }
                | OpKind::Select { .. }
                | OpKind::Expand
                | OpKind::Contiguous
                | OpKind::ToDType(_)
                | OpKind::Cat { .. }
                | OpKind::Flip { .. }
                | OpKind::Roll { .. }
                | OpKind::Cumsum { .. }
                | OpKind::MaxDim { .. }
                | OpKind::MinDim { .. }
                | OpKind::Sort { .. }
                | OpKind::TopK { .. }
                | OpKind::TakeAlong { .. }
                | OpKind::PutAlong { .. }
        );
        let modified = |t: &Tensor, v: u64| {
            Error::Autograd(format!(
                "a tensor of shape {:?} saved by {} was modified by an in-place operation (version {v} when saved, now {}); \
                 backward would give a wrong gradient. Clone it before modifying, or modify it after backward",
                t.shape(),
                self.op.name(),
                t.version()
            ))
        };
        if self.reads_output() && out.version() != self.out_version {
            return Err(modified(out, self.out_version));
        }
        let n_in = self.inputs.len();
        for (i, (t, &v)) in self.inputs.iter().chain(&self.saved).zip(&self.versions).enumerate() {
            if (i >= n_in || reads_inputs) && t.version() != v {
                return Err(modified(t, v));
            }
        }
        Ok(())
    }
}

/// Options of a backward pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackwardOptions {
    /// Record the backward pass so the gradients can be differentiated again.
    pub create_graph: bool,
}

impl Tensor {
    /// Computes gradients of this scalar with respect to every leaf that requires them and adds
    /// them to the leaves' `.grad()` (`loss.backward()`).
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::Autograd(format!(
                "backward: grad can be implicitly created only for scalar outputs, got shape {:?}; use backward_with",
                self.shape()
            )));
        }
        self.backward_with(&self.ones_like(), BackwardOptions::default())
    }

    /// Backward from a non-scalar tensor, given the gradient of some scalar with respect to it
    /// (`tensor.backward(gradient)`).
    pub fn backward_with(&self, grad: &Tensor, opts: BackwardOptions) -> Result<()> {
        run_backward(self, grad, opts, None).map(|_| ())
    }
}

/// Gradients of `output` with respect to `inputs`, returned instead of accumulated into
/// `.grad()` (`torch.autograd.grad`). An input the output does not depend on gets `None`.
pub fn grad(
    output: &Tensor,
    inputs: &[&Tensor],
    grad_output: Option<&Tensor>,
    create_graph: bool,
) -> Result<Vec<Option<Tensor>>> {
    let g = match grad_output {
        Some(g) => g.clone(),
        None if output.numel() == 1 => output.ones_like(),
        None => {
            return Err(Error::Autograd(format!(
                "grad: grad_output is needed for a non-scalar output of shape {:?}",
                output.shape()
            )))
        }
    };
    let ids: Vec<TensorId> = inputs.iter().map(|t| t.id()).collect();
    let mut found = run_backward(output, &g, BackwardOptions { create_graph }, Some(&ids))?;
    Ok(ids.iter().map(|id| found.remove(id)).collect())
}

/// Tensors reachable from `root` through recorded nodes, inputs before the tensors using them.
fn topo_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = IdSet::default();
    // Iterative post-order DFS: (tensor, children pushed?).
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.node() {
            for i in &node.inputs {
                if i.requires_grad() && !seen.contains(&i.id()) {
                    stack.push((i.clone(), false));
                }
            }
        }
    }
    order
}

fn run_backward(
    root: &Tensor,
    grad: &Tensor,
    opts: BackwardOptions,
    capture: Option<&[TensorId]>,
) -> Result<IdMap<Tensor>> {
    if !root.requires_grad() {
        return Err(Error::Autograd(
            "element 0 of tensors does not require grad and does not have a grad_fn".into(),
        ));
    }
    if grad.shape() != root.shape() {
        return Err(Error::Autograd(format!(
            "backward: gradient of shape {:?} for a tensor of shape {:?}",
            grad.shape(),
            root.shape()
        )));
    }
    let _mode = GradModeGuard::new(opts.create_graph);
    let order = topo_order(root);
    let mut grads: IdMap<Tensor> = IdMap::default();
    grads.insert(root.id(), grad.to_dtype(root.dtype())?);
    let mut captured = IdMap::default();
    for t in order.iter().rev() {
        let Some(g) = grads.remove(&t.id()) else { continue };
        if let Some(ids) = capture {
            if ids.contains(&t.id()) {
                captured.insert(t.id(), g.clone());
            }
        }
        match t.node() {
            Some(node) => {
                node.check_versions(t)?;
                let in_grads = input_grads(node, &g, t)?;
                for (input, ig) in node.inputs.iter().zip(in_grads) {
                    let Some(ig) = ig else { continue };
                    if !input.requires_grad() {
                        continue;
                    }
                    debug_assert_eq!(
                        ig.shape(),
                        input.shape(),
                        "backward of {} gave a wrong shape",
                        node.op.name()
                    );
                    let acc = match grads.remove(&input.id()) {
                        Some(prev) => prev.add(&ig)?,
                        None => ig,
                    };
                    grads.insert(input.id(), acc);
                }
            }
            None if capture.is_none() => {
                let mut slot = t.grad_slot().lock().unwrap_or_else(|e| e.into_inner());
                let g = if opts.create_graph { g } else { g.detach() };
                *slot = Some(match slot.take() {
                    Some(prev) => prev.add(&g)?,
                    None => g,
                });
            }
            None => {}
        }
    }
    Ok(captured)
}

/// Sums `g` down to `shape`, undoing NumPy broadcasting.
pub(crate) fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let extra = g.rank() - shape.len();
    let mut dims: Vec<isize> = (0..extra as isize).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[extra + i] != 1 {
            dims.push((extra + i) as isize);
        }
    }
    let s = if dims.is_empty() {
        g.clone()
    } else {
        g.sum_dims(&dims, true)?
    };
    s.reshape(shape)
}

/// Re-inserts reduced dims of size 1 (when `keepdim` was false) and broadcasts back to `shape`.
fn unreduce(g: &Tensor, shape: &[usize], dims: &[usize], keepdim: bool) -> Result<Tensor> {
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = g.unsqueeze(d as isize)?;
        }
    }
    g.broadcast_to(shape)
}

/// The gradient of each input of `node` given the gradient `g` of its output `out`
/// (`None` for inputs that get no gradient).
fn input_grads(node: &Node, g: &Tensor, out: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let x = node.inputs.first().expect("every op has an input");
    let one = |t: Tensor| Ok(vec![Some(t)]);
    match &node.op {
        // ---- elementwise unary ----
        OpKind::Unary(u) => one(match u {
            UnaryOp::Neg => g.neg()?,
            UnaryOp::Abs => g.mul(&x.sign()?)?,
            UnaryOp::Exp => g.mul(&x.exp()?)?,
            UnaryOp::Log => g.div(x)?,
            UnaryOp::Log1p => g.div(&x.add_scalar(1.0)?)?,
            UnaryOp::Expm1 => g.mul(&x.exp()?)?,
            UnaryOp::Sqrt => g.div(&x.sqrt()?.mul_scalar(2.0)?)?,
            UnaryOp::Rsqrt => g.mul(&x.rsqrt()?.pow_scalar(3.0)?)?.mul_scalar(-0.5)?,
            UnaryOp::Square => g.mul(x)?.mul_scalar(2.0)?,
            UnaryOp::Reciprocal => g.neg()?.div(&x.square()?)?,
            UnaryOp::Sin => g.mul(&x.cos()?)?,
            UnaryOp::Cos => g.mul(&x.sin()?)?.neg()?,
            UnaryOp::Tanh => g.mul(&x.tanh()?.square()?.neg()?.add_scalar(1.0)?)?,
            UnaryOp::Sigmoid => {
                let s = x.sigmoid()?;
                g.mul(&s.mul(&s.neg()?.add_scalar(1.0)?)?)?
            }
            // Passes where !(x <= 0), so NaN inputs pass the gradient as in PyTorch.
            UnaryOp::Relu => g.mul(&x.le_scalar(0.0)?.logical_not()?.to_dtype(x.dtype())?)?,
            UnaryOp::Silu => {
                let s = x.sigmoid()?;
                // d/dx x·s(x) = s (1 + x (1 - s))
                g.mul(&s.mul(&x.mul(&s.neg()?.add_scalar(1.0)?)?.add_scalar(1.0)?)?)?
            }
            UnaryOp::Erf => g.mul(&x.square()?.neg()?.exp()?.mul_scalar(std::f64::consts::FRAC_2_SQRT_PI)?)?,
            UnaryOp::GeluErf => {
                // Φ(x) + x φ(x)
                let cdf = x
                    .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?
                    .erf()?
                    .add_scalar(1.0)?
                    .mul_scalar(0.5)?;
                let pdf = x
                    .square()?
                    .mul_scalar(-0.5)?
                    .exp()?
                    .mul_scalar(0.398_942_280_401_432_7)?;
                g.mul(&cdf.add(&x.mul(&pdf)?)?)?
            }
            UnaryOp::GeluTanh => {
                let (k, a) = (0.797_884_560_802_865_4, 0.044715);
                let x2 = x.square()?;
                let t = x.add(&x.mul(&x2)?.mul_scalar(a)?)?.mul_scalar(k)?.tanh()?;
                let left = t.add_scalar(1.0)?.mul_scalar(0.5)?;
                let dt = t
                    .square()?
                    .neg()?
                    .add_scalar(1.0)?
                    .mul(&x2.mul_scalar(3.0 * a)?.add_scalar(1.0)?)?
                    .mul_scalar(k)?;
                g.mul(&left.add(&x.mul(&dt)?.mul_scalar(0.5)?)?)?
            }
            UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => g.zeros_like(),
        }),
        OpKind::LeakyRelu { negative_slope } => {
            let pos = x.gt_scalar(0.0)?;
            one(g.mul(
                &g.ones_like()
                    .mul_scalar(*negative_slope)?
                    .where_(&pos.logical_not()?, &g.ones_like())?,
            )?)
        }
        OpKind::Elu { alpha } => {
            let pos = x.gt_scalar(0.0)?;
            one(g.mul(&g.ones_like().where_(&pos, &x.exp()?.mul_scalar(*alpha)?)?)?)
        }
        OpKind::Softplus { beta, threshold } => {
            let lin = x.mul_scalar(*beta)?.gt_scalar(*threshold)?;
            one(g.mul(&g.ones_like().where_(&lin, &x.mul_scalar(*beta)?.sigmoid()?)?)?)
        }
        OpKind::Clamp { min, max } => {
            // PyTorch passes the gradient strictly inside the bounds (0 at x == min or max).
            let mut keep = x.gt_scalar(min.unwrap_or(f64::NEG_INFINITY))?;
            keep = keep.logical_and(&x.lt_scalar(max.unwrap_or(f64::INFINITY))?)?;
            one(g.mul(&keep.to_dtype(g.dtype())?)?)
        }
        OpKind::PowScalar { exponent } => {
            if *exponent == 0.0 {
                return one(g.zeros_like());
            }
            one(g.mul(&x.pow_scalar(exponent - 1.0)?.mul_scalar(*exponent)?)?)
        }
        OpKind::Binary(op) => {
            let y = &node.inputs[1];
            let (ga, gb) = match op {
                BinaryOp::Add => (g.clone(), g.clone()),
                BinaryOp::Sub => (g.clone(), g.neg()?),
                BinaryOp::Mul => (g.mul(y)?, g.mul(x)?),
                BinaryOp::Div => (g.div(y)?, g.neg()?.mul(x)?.div(&y.square()?)?),
                BinaryOp::Pow => {
                    // y x^(y-1), taken as 0 where y == 0 (0 * inf at x == 0 would be NaN).
                    let ga = g.mul(y)?.mul(&x.pow(&y.sub_scalar(1.0)?)?)?;
                    let ga = ga.zeros_like().where_(&y.eq_scalar(0.0)?, &ga)?;
                    // d/dy x^y = x^y ln x, taken as 0 where x == 0 and y >= 0 (as PyTorch).
                    let zero_base = x.eq_scalar(0.0)?.logical_and(&y.ge_scalar(0.0)?)?;
                    let gb = g.mul(&x.pow(y)?.mul(&x.log()?)?)?;
                    (ga, gb.zeros_like().where_(&zero_base, &gb)?)
                }
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    // Each side gets the gradient unless it lost; ties split it evenly and a NaN
                    // (no comparison holds) passes it to both, as PyTorch does.
                    let (lose_x, lose_y) = if *op == BinaryOp::Maximum {
                        (x.lt(y)?, x.gt(y)?)
                    } else {
                        (x.gt(y)?, x.lt(y)?)
                    };
                    let shared = g.mul_scalar(0.5)?.where_(&x.eq(y)?, g)?;
                    (shared.masked_fill(&lose_x, 0.0)?, shared.masked_fill(&lose_y, 0.0)?)
                }
            };
            Ok(vec![Some(sum_to(&ga, x.shape())?), Some(sum_to(&gb, y.shape())?)])
        }
        OpKind::Where => {
            let (cond, a, b) = (&node.inputs[0], &node.inputs[1], &node.inputs[2]);
            let z = g.zeros_like();
            Ok(vec![
                None,
                Some(sum_to(&g.where_(cond, &z)?, a.shape())?),
                Some(sum_to(&z.where_(cond, g)?, b.shape())?),
            ])
        }
        OpKind::ToDType(_) => one(g.to_dtype(x.dtype())?),

        // ---- reductions ----
        OpKind::Sum { dims, keepdim } => one(unreduce(g, x.shape(), dims, *keepdim)?),
        OpKind::Mean { dims, keepdim } => {
            let count: usize = dims.iter().map(|&d| x.shape()[d]).product();
            one(unreduce(&g.div_scalar(count as f64)?, x.shape(), dims, *keepdim)?)
        }
        // (reductions: more arms here)
        OpKind::Prod { dims, keepdim } => {
            // Exact with zeros: no zero in a row -> out / x; one zero -> the product of the
            // others at the zero, 0 elsewhere; more zeros -> 0.
            let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            let zero = x.eq_scalar(0.0)?;
            let x_nz = x.ones_like().where_(&zero, x)?;
            let p_nz = x_nz.prod_dims(&idims, true)?;
            let zeros = zero.sum_dims(&idims, true)?;
            let one_zero = zeros.eq_scalar(1.0)?.logical_and(&zero)?;
            let at_zero = p_nz.broadcast_to(x.shape())?.where_(&one_zero, &x.zeros_like())?;
            let factor = p_nz.div(&x_nz)?.where_(&zeros.eq_scalar(0.0)?, &at_zero)?;
            one(unreduce(g, x.shape(), dims, *keepdim)?.mul(&factor)?)
        }
        OpKind::MaxDim { dim, keepdim } | OpKind::MinDim { dim, keepdim } => {
            let idx = &node.saved[0];
            let (g, idx) = if *keepdim {
                (g.clone(), idx.clone())
            } else {
                (g.unsqueeze(*dim as isize)?, idx.unsqueeze(*dim as isize)?)
            };
            one(crate::ops::sort::put_along(&g, &idx, *dim, x.shape())?)
        }
        OpKind::Amax { dims, keepdim } | OpKind::Amin { dims, keepdim } => {
            // Split evenly among the elements equal to the extreme.
            let idims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            let mask = x.eq(&unreduce(out, x.shape(), dims, *keepdim)?)?.to_dtype(g.dtype())?;
            let count = mask.sum_dims(&idims, true)?;
            one(unreduce(g, x.shape(), dims, *keepdim)?.mul(&mask)?.div(&count)?)
        }
        OpKind::LogSumExp { dims, keepdim } => {
            let soft = x.sub(&unreduce(out, x.shape(), dims, *keepdim)?)?.exp()?;
            one(unreduce(g, x.shape(), dims, *keepdim)?.mul(&soft)?)
        }
        OpKind::Norm { p, dims, keepdim } => {
            // d/dx (sum |x|^p)^(1/p) = sgn(x) |x|^(p-1) / norm^(p-1); 0 where the norm is 0.
            let n = unreduce(out, x.shape(), dims, *keepdim)?;
            let gu = unreduce(g, x.shape(), dims, *keepdim)?;
            let r = if *p == 1.0 {
                gu.mul(&x.sign()?)?
            } else if *p == 2.0 {
                gu.mul(x)?.div(&n)?
            } else {
                gu.mul(&x.sign()?.mul(&x.abs()?.pow_scalar(p - 1.0)?)?)?
                    .div(&n.pow_scalar(p - 1.0)?)?
            };
            one(r.zeros_like().where_(&n.eq_scalar(0.0)?, &r)?)
        }
        OpKind::Cumsum { dim } => {
            // Reversed running sum: sum_{j >= i} g_j = total - cumsum_i + g_i.
            let d = *dim as isize;
            one(g.sum_dims(&[d], true)?.sub(&g.cumsum(d)?)?.add(g)?)
        }
        OpKind::Sort { dim, .. } | OpKind::TopK { dim, .. } | OpKind::TakeAlong { dim } => {
            one(crate::ops::sort::put_along(g, &node.saved[0], *dim, x.shape())?)
        }
        OpKind::PutAlong { dim } => one(crate::ops::sort::take_along(g, &node.saved[0], *dim)?),

        // ---- linear algebra ----
        OpKind::Matmul => {
            let y = &node.inputs[1];
            // Work with ≥2-D operands, then undo the 1-D promotions.
            let a = if x.rank() == 1 { x.unsqueeze(0)? } else { x.clone() };
            let b = if y.rank() == 1 { y.unsqueeze(1)? } else { y.clone() };
            let mut g2 = g.clone();
            if x.rank() == 1 {
                let at = if y.rank() == 1 { g2.rank() } else { g2.rank() - 1 };
                g2 = g2.unsqueeze(at as isize)?;
            }
            if y.rank() == 1 {
                g2 = g2.unsqueeze(-1)?;
            }
            let ga = g2.matmul(&b.transpose(-1, -2)?)?;
            let gb = a.transpose(-1, -2)?.matmul(&g2)?;
            let ga = sum_to(&ga, a.shape())?.reshape(x.shape())?;
            let gb = sum_to(&gb, b.shape())?.reshape(y.shape())?;
            Ok(vec![Some(ga), Some(gb)])
        }

        // ---- views ----
        OpKind::Reshape => one(g.reshape(x.shape())?),
        OpKind::Permute(perm) => {
            let mut inv = vec![0isize; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i as isize;
            }
            one(g.permute(&inv)?)
        }
        OpKind::Slice { dim, start, len, step } => one(x.zeros_like().slice_scatter(g, *dim, *start, *len, *step)?),
        OpKind::Select { dim, index } => {
            one(x
                .zeros_like()
                .slice_scatter(&g.unsqueeze(*dim as isize)?, *dim, *index, 1, 1)?)
        }
        OpKind::SliceScatter { dim, start, len, step } => {
            let src = &node.inputs[1];
            let gb = g.slice_scatter(&src.zeros_like(), *dim, *start, *len, *step)?;
            let gs = if *len == 0 {
                // An empty slice: the slice of `g` would have length 1 from the end bound.
                src.zeros_like().to_dtype(g.dtype())?
            } else {
                g.slice(
                    *dim as isize,
                    *start as isize,
                    Some((*start + (*len - 1) * *step + 1) as isize),
                    *step,
                )?
            };
            Ok(vec![Some(gb), Some(gs)])
        }
        OpKind::Expand => one(sum_to(g, x.shape())?),
        OpKind::Contiguous => one(g.clone()),

        // ---- indexing and shape ----
        // (indexing: arms here)
        OpKind::Cat { dim } => {
            let mut start = 0;
            let mut grads = Vec::with_capacity(node.inputs.len());
            for t in &node.inputs {
                let n = t.shape()[*dim];
                grads.push(Some(g.narrow(*dim as isize, start, n)?));
                start += n;
            }
            Ok(grads)
        }
        OpKind::IndexSelect { dim } => {
            let index = &node.inputs[1];
            Ok(vec![Some(x.zeros_like().index_add(*dim as isize, index, g)?), None])
        }
        OpKind::Gather { dim } => {
            let index = &node.inputs[1];
            Ok(vec![Some(x.zeros_like().scatter_add(*dim as isize, index, g)?), None])
        }
        OpKind::Scatter { dim } | OpKind::ScatterAdd { dim } => {
            let (index, src) = (&node.inputs[1], &node.inputs[2]);
            let gx = if matches!(node.op, OpKind::Scatter { .. }) {
                g.scatter_value(*dim as isize, index, 0.0)?
            } else {
                g.clone()
            };
            // src may be larger than index: its other entries get zero gradient.
            let gs = g.gather(*dim as isize, index)?;
            let grow: Vec<i64> = (0..src.rank())
                .rev()
                .flat_map(|d| [0, (src.shape()[d] - index.shape()[d]) as i64])
                .collect();
            let gs = if grow.iter().any(|&p| p > 0) {
                gs.pad(&grow, crate::op::PadMode::Constant, 0.0)?
            } else {
                gs
            };
            Ok(vec![Some(gx), None, Some(gs)])
        }
        OpKind::IndexAdd { dim } => {
            let index = &node.inputs[1];
            Ok(vec![Some(g.clone()), None, Some(g.index_select(*dim as isize, index)?)])
        }
        OpKind::Pad { pads, mode, .. } => one(crate::ops::shape::pad_backward(g, x.shape(), pads, *mode)?),
        OpKind::Tril { diagonal } => one(g.tril(*diagonal)?),
        OpKind::Triu { diagonal } => one(g.triu(*diagonal)?),
        OpKind::Flip { dims } => {
            let dims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            one(g.flip(&dims)?)
        }
        OpKind::Roll { shifts, dims } => {
            let back: Vec<i64> = shifts.iter().map(|s| s.wrapping_neg()).collect();
            let dims: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
            one(g.roll(&back, &dims)?)
        }

        // ---- convolution and pooling ----
        // (conv/pool: arms here)
        OpKind::Conv2d(p) => crate::ops::conv::conv2d_grads(node, g, *p),
        OpKind::ConvTranspose2d(p) => crate::ops::conv::conv_transpose2d_grads(node, g, *p),
        OpKind::Conv2dWeightGrad { params, .. } => crate::ops::conv::conv2d_weight_grad_grads(node, g, *params),
        OpKind::MaxPool2d(_)
        | OpKind::MaxPool2dBackward { .. }
        | OpKind::MaxPool2dGather
        | OpKind::AvgPool2d(_)
        | OpKind::AvgPool2dBackward { .. }
        | OpKind::AdaptiveAvgPool2d { .. }
        | OpKind::AdaptiveAvgPool2dBackward { .. } => one(crate::ops::pool::pool_grad(node, g)?),

        // ---- neural-network functions ----
        // (nn functions: arms here)
        OpKind::Softmax { dim } | OpKind::LogSoftmax { dim } if x.rank() == 0 => {
            let _ = dim;
            one(g.zeros_like())
        }
        OpKind::Softmax { dim } => {
            // y * (g - sum(g * y))
            let gy = g.mul(out)?;
            one(gy.sub(&out.mul(&gy.sum_dims(&[*dim as isize], true)?)?)?)
        }
        OpKind::LogSoftmax { dim } => one(g.sub(&out.exp()?.mul(&g.sum_dims(&[*dim as isize], true)?)?)?),
        OpKind::LayerNorm { normalized_dims, eps } => {
            crate::ops::norm::layer_norm_backward(node, g, *normalized_dims, *eps)
        }
        OpKind::Dropout { .. } => one(g.mul(&node.saved[0])?),
        OpKind::Embedding { padding_idx } => {
            let idx = &node.inputs[1];
            Ok(vec![Some(g.embedding_backward(idx, x.shape()[0], *padding_idx)?), None])
        }
        OpKind::EmbeddingBackward { padding_idx, .. } => {
            let idx = &node.inputs[1];
            Ok(vec![Some(crate::ops::nn::embedding_rows(g, idx, *padding_idx)?), None])
        }

        other => {
            let _ = out;
            Err(Error::Autograd(format!(
                "backward of {} is not implemented",
                other.name()
            )))
        }
    }
}
