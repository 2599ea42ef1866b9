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
/// them when they were saved.
#[derive(Clone)]
pub struct Node {
    pub(crate) op: OpKind,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) saved: Vec<Tensor>,
    versions: Vec<u64>,
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
        })
    }

    pub fn op(&self) -> &OpKind {
        &self.op
    }

    pub fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }

    /// Errors when a tensor this node's backward reads was modified in place after it was saved.
    fn check_versions(&self) -> Result<()> {
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
        );
        let n_in = self.inputs.len();
        for (i, (t, &v)) in self.inputs.iter().chain(&self.saved).zip(&self.versions).enumerate() {
            if (i >= n_in || reads_inputs) && t.version() != v {
                return Err(Error::Autograd(format!(
                    "a tensor of shape {:?} saved by {} was modified by an in-place operation (version {v} when saved, now {}); \
                     backward would give a wrong gradient. Clone it before modifying, or modify it after backward",
                    t.shape(),
                    self.op.name(),
                    t.version()
                )));
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
                node.check_versions()?;
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
            UnaryOp::Relu => g.mul(&x.gt_scalar(0.0)?.to_dtype(x.dtype())?)?,
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
            let mut keep = x.ge_scalar(min.unwrap_or(f64::NEG_INFINITY))?;
            keep = keep.logical_and(&x.le_scalar(max.unwrap_or(f64::INFINITY))?)?;
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
                    let ga = g.mul(y)?.mul(&x.pow(&y.sub_scalar(1.0)?)?)?;
                    // d/dy x^y = x^y ln x, taken as 0 where x == 0 and y >= 0 (as PyTorch).
                    let zero_base = x.eq_scalar(0.0)?.logical_and(&y.ge_scalar(0.0)?)?;
                    let gb = g.mul(&x.pow(y)?.mul(&x.log()?)?)?;
                    (ga, gb.zeros_like().where_(&zero_base, &gb)?)
                }
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    let (win_x, win_y) = if *op == BinaryOp::Maximum {
                        (x.gt(y)?, x.lt(y)?)
                    } else {
                        (x.lt(y)?, x.gt(y)?)
                    };
                    let dt = g.dtype();
                    // Ties split the gradient evenly, as PyTorch does.
                    let tie = x.eq(y)?.to_dtype(dt)?.mul_scalar(0.5)?;
                    (
                        g.mul(&win_x.to_dtype(dt)?.add(&tie)?)?,
                        g.mul(&win_y.to_dtype(dt)?.add(&tie)?)?,
                    )
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
            let gs = g.slice(
                *dim as isize,
                *start as isize,
                Some((*start + (*len).saturating_sub(1) * *step + 1) as isize),
                *step,
            )?;
            Ok(vec![Some(gb), Some(gs)])
        }
        OpKind::Expand => one(sum_to(g, x.shape())?),
        OpKind::Contiguous => one(g.clone()),

        // ---- indexing and shape ----
        // (indexing: arms here)

        // ---- convolution and pooling ----
        // (conv/pool: arms here)

        // ---- neural-network functions ----
        // (nn functions: arms here)
        other => {
            let _ = out;
            Err(Error::Autograd(format!(
                "backward of {} is not implemented",
                other.name()
            )))
        }
    }
}
