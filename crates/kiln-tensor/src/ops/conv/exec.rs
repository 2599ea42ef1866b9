//! The recorded convolution ops on validated 4-D operands: forward, transposed, and weight
//! gradient, each one kernel call on contiguous f32/f64 data (f16/bf16 computed in f32), and
//! their backward rules, written with these same ops so that gradients of gradients work.

use crate::backward::Node;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::op::{Conv2dParams, ConvTranspose2dParams, OpKind};
use crate::ops::{float_map, FloatMap};
use crate::storage::Storage;
use crate::tensor::{gather_contiguous, Tensor};
use kiln_kernels::conv::{conv2d_backward_data, conv2d_backward_weight, conv2d_forward, sum_channels, ConvGeom};
use kiln_kernels::gemm::GemmElem;
use kiln_kernels::Float;
use std::borrow::Cow;

/// A kernel call over the contiguous data of two operands and an optional bias.
trait ConvCall {
    fn call<T: GemmElem + Float>(&self, a: &[T], b: &[T], bias: Option<&[T]>) -> Vec<T>;
}

fn contiguous<'a, T: Element>(s: &'a Storage, l: &Layout) -> Cow<'a, [T]> {
    let v = T::slice(s).expect("dtype checked by the caller");
    match l.contiguous_range() {
        Some(r) => Cow::Borrowed(&v[r]),
        None => Cow::Owned(gather_contiguous(v, l)),
    }
}

fn run_typed<T: GemmElem + Float + Element>(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    k: &impl ConvCall,
) -> Vec<T> {
    let (sa, sb) = (a.storage(), b.storage());
    let sc = bias.map(|t| t.storage());
    let (da, db) = (contiguous::<T>(&sa, a.layout()), contiguous::<T>(&sb, b.layout()));
    let dc = match (&sc, bias) {
        (Some(s), Some(t)) => Some(contiguous::<T>(s, t.layout())),
        _ => None,
    };
    k.call(&da, &db, dc.as_deref())
}

/// Runs `k` in the operands' dtype (f32/f64 natively, f16/bf16 through f32).
fn dispatch(op: &'static str, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, k: &impl ConvCall) -> Result<Storage> {
    let dt = a.dtype();
    for t in std::iter::once(b).chain(bias) {
        if t.dtype() != dt {
            return Err(Error::DTypeMismatch {
                op,
                lhs: dt,
                rhs: t.dtype(),
            });
        }
    }
    Ok(match dt {
        DType::F32 => Storage::F32(run_typed::<f32>(a, b, bias, k)),
        DType::F64 => Storage::F64(run_typed::<f64>(a, b, bias, k)),
        DType::F16 | DType::BF16 => {
            let f = |t: &Tensor| t.detach().to_dtype(DType::F32);
            let bias32 = bias.map(f).transpose()?;
            let s = Storage::F32(run_typed::<f32>(&f(a)?, &f(b)?, bias32.as_ref(), k));
            let n = s.len();
            let back = Tensor::from_storage(s, &[n]).to_dtype(dt)?;
            let s = back.storage().clone();
            s
        }
        other => return Err(Error::dtype(op, other, "expected a floating-point tensor")),
    })
}

fn spatial(t: &Tensor) -> [usize; 2] {
    [t.shape()[2], t.shape()[3]]
}

/// Output size of a convolution along one dim, `None` when it would be below 1.
pub(crate) fn conv_out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k.max(1) - 1) + 1;
    (n + 2 * p >= span).then(|| (n + 2 * p - span) / s + 1)
}

/// Output size of a transposed convolution along one dim (may be zero or negative).
pub(crate) fn conv_transpose_out_size(n: usize, k: usize, s: usize, p: usize, d: usize, op: usize) -> isize {
    (n as isize - 1) * s as isize - 2 * p as isize + (d * (k.max(1) - 1)) as isize + op as isize + 1
}

struct Forward {
    batch: usize,
    geom: ConvGeom,
}
impl ConvCall for Forward {
    fn call<T: GemmElem + Float>(&self, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
        let mut out = vec![T::ZERO; self.batch * self.geom.c_out * self.geom.out_hw[0] * self.geom.out_hw[1]];
        conv2d_forward(x, w, bias, self.batch, &self.geom, &mut out);
        out
    }
}

struct Data {
    batch: usize,
    geom: ConvGeom,
}
impl ConvCall for Data {
    fn call<T: GemmElem + Float>(&self, g: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
        let mut out = vec![T::ZERO; self.batch * self.geom.c_in * self.geom.in_hw[0] * self.geom.in_hw[1]];
        conv2d_backward_data(g, w, bias, self.batch, &self.geom, &mut out);
        out
    }
}

struct Weight {
    batch: usize,
    geom: ConvGeom,
}
impl ConvCall for Weight {
    fn call<T: GemmElem + Float>(&self, x: &[T], g: &[T], _: Option<&[T]>) -> Vec<T> {
        let mut out = vec![T::ZERO; self.geom.weight_len()];
        conv2d_backward_weight(x, g, self.batch, &self.geom, &mut out);
        out
    }
}

/// 2-D convolution of a validated `[N, C, H, W]` input with `[C_out, C / groups, kH, kW]`
/// weights and symmetric padding, recorded as [`OpKind::Conv2d`].
pub(crate) fn conv2d_raw(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: Conv2dParams) -> Result<Tensor> {
    let (xs, ws) = (x.shape(), w.shape());
    let mut out_hw = [0; 2];
    for i in 0..2 {
        out_hw[i] = conv_out_size(xs[2 + i], ws[2 + i], p.stride[i], p.padding[i], p.dilation[i])
            .ok_or_else(|| Error::shape("conv2d", format!("kernel {ws:?} does not fit input {xs:?}")))?;
    }
    let geom = ConvGeom {
        c_in: xs[1],
        in_hw: spatial(x),
        c_out: ws[0],
        out_hw,
        kernel: [ws[2], ws[3]],
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
    };
    let storage = dispatch("conv2d", x, w, bias, &Forward { batch: xs[0], geom })?;
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    let node = Node::record(OpKind::Conv2d(p), &inputs, vec![]);
    Ok(Tensor::from_storage_node(
        storage,
        &[xs[0], ws[0], out_hw[0], out_hw[1]],
        node,
    ))
}

/// 2-D transposed convolution of a validated `[N, C_in, H, W]` input with
/// `[C_in, C_out / groups, kH, kW]` weights, recorded as [`OpKind::ConvTranspose2d`].
/// Errors when the output would be empty.
pub(crate) fn conv_transpose2d_raw(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: ConvTranspose2dParams,
) -> Result<Tensor> {
    let (xs, ws) = (x.shape(), w.shape());
    let mut out_hw = [0; 2];
    for i in 0..2 {
        let o = conv_transpose_out_size(
            xs[2 + i],
            ws[2 + i],
            p.stride[i],
            p.padding[i],
            p.dilation[i],
            p.output_padding[i],
        );
        if o < 1 {
            return Err(Error::shape(
                "conv_transpose2d",
                format!("the output size along spatial dim {i} would be {o} for input {xs:?} and weight {ws:?}"),
            ));
        }
        out_hw[i] = o as usize;
    }
    let c_out = ws[1] * p.groups;
    let geom = ConvGeom {
        c_in: c_out,
        in_hw: out_hw,
        c_out: xs[1],
        out_hw: spatial(x),
        kernel: [ws[2], ws[3]],
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
    };
    let storage = dispatch("conv_transpose2d", x, w, bias, &Data { batch: xs[0], geom })?;
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    let node = Node::record(OpKind::ConvTranspose2d(p), &inputs, vec![]);
    Ok(Tensor::from_storage_node(
        storage,
        &[xs[0], c_out, out_hw[0], out_hw[1]],
        node,
    ))
}

/// Gradient of a convolution with respect to its `[C_out, C_in / groups, kernel]` weight, given
/// its input `x` `[N, C_in, H, W]` and output gradient `g` `[N, C_out, oH, oW]`; recorded as
/// [`OpKind::Conv2dWeightGrad`].
pub(crate) fn conv2d_weight_grad(x: &Tensor, g: &Tensor, p: Conv2dParams, kernel: [usize; 2]) -> Result<Tensor> {
    let (xs, gs) = (x.shape(), g.shape());
    let geom = ConvGeom {
        c_in: xs[1],
        in_hw: spatial(x),
        c_out: gs[1],
        out_hw: spatial(g),
        kernel,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
    };
    let storage = dispatch("conv2d_backward", x, g, None, &Weight { batch: xs[0], geom })?;
    let node = Node::record(OpKind::Conv2dWeightGrad { params: p, kernel }, &[x, g], vec![]);
    Ok(Tensor::from_storage_node(
        storage,
        &[gs[1], xs[1] / p.groups, kernel[0], kernel[1]],
        node,
    ))
}

/// `t` cut down to spatial size `hw` (a convolution's natural output can exceed the size a
/// gradient needs when a transposed convolution used output padding past its stride).
fn fit(t: Tensor, hw: [usize; 2]) -> Result<Tensor> {
    let mut t = t;
    for (i, &n) in hw.iter().enumerate() {
        if t.shape()[2 + i] > n {
            t = t.narrow(2 + i as isize, 0, n)?;
        }
    }
    Ok(t)
}

/// The transposed convolution of `g` that maps back to spatial size `hw` (the adjoint of the
/// convolution `p` from `hw`).
fn conv_adjoint(g: &Tensor, w: &Tensor, p: Conv2dParams, hw: [usize; 2]) -> Result<Tensor> {
    let mut output_padding = [0; 2];
    for i in 0..2 {
        let base = conv_transpose_out_size(
            g.shape()[2 + i],
            w.shape()[2 + i],
            p.stride[i],
            p.padding[i],
            p.dilation[i],
            0,
        );
        let op = hw[i] as isize - base;
        if op < 0 {
            return Err(Error::Autograd(format!(
                "conv2d backward: gradient {:?} cannot map back to spatial size {hw:?}",
                g.shape()
            )));
        }
        output_padding[i] = op as usize;
    }
    conv_transpose2d_raw(
        g,
        w,
        None,
        ConvTranspose2dParams {
            stride: p.stride,
            padding: p.padding,
            output_padding,
            dilation: p.dilation,
            groups: p.groups,
        },
    )
}

struct ChannelSums {
    batch: usize,
    channels: usize,
}
impl FloatMap for ChannelSums {
    fn map<T: Float>(&self, g: &[T]) -> Vec<T> {
        let mut out = vec![T::ZERO; self.channels];
        let plane = g.len().checked_div(self.batch * self.channels).unwrap_or(0);
        sum_channels(g, self.batch, self.channels, plane, &mut out);
        out
    }
}

/// The bias gradient `g.sum_dims(&[0, 2, 3])` by a direct per-channel kernel, recorded as that
/// sum.
fn bias_grad(node: &Node, g: &Tensor) -> Result<Option<Tensor>> {
    match node.inputs.get(2) {
        Some(b) if b.requires_grad() => {
            let (batch, channels) = (g.shape()[0], g.shape()[1]);
            let storage = float_map("conv2d_backward", g, &ChannelSums { batch, channels })?;
            let node = Node::record(
                OpKind::Sum {
                    dims: vec![0, 2, 3],
                    keepdim: false,
                },
                &[g],
                vec![],
            );
            Ok(Some(Tensor::from_storage_node(storage, &[channels], node)))
        }
        _ => Ok(None),
    }
}

/// `g` as a contiguous tensor. A gradient without history that is one value broadcast
/// everywhere (the seed of `y.sum().backward()`) is filled directly instead of gathered element
/// by element.
fn contiguous_grad(g: &Tensor) -> Result<Tensor> {
    let broadcast = g.layout().strides().iter().all(|&s| s == 0);
    if !g.is_contiguous() && broadcast && g.numel() > 0 && !g.requires_grad() {
        let s = g.storage();
        let v = crate::with_storage!(&*s, v => Element::to_f64(v[g.layout().offset()]));
        return Tensor::full(g.shape(), v, g.dtype());
    }
    g.contiguous()
}

/// Gradients of [`OpKind::Conv2d`]: input, weight, bias.
pub(crate) fn conv2d_grads(node: &Node, g: &Tensor, p: Conv2dParams) -> Result<Vec<Option<Tensor>>> {
    let (x, w) = (&node.inputs[0], &node.inputs[1]);
    let g = &contiguous_grad(g)?;
    let gx = if x.requires_grad() {
        Some(conv_adjoint(g, w, p, spatial(x))?)
    } else {
        None
    };
    let gw = if w.requires_grad() {
        Some(conv2d_weight_grad(x, g, p, [w.shape()[2], w.shape()[3]])?)
    } else {
        None
    };
    Ok(vec![gx, gw, bias_grad(node, g)?])
}

fn as_conv(p: ConvTranspose2dParams) -> Conv2dParams {
    Conv2dParams {
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
    }
}

/// Gradients of [`OpKind::ConvTranspose2d`]: input, weight, bias.
pub(crate) fn conv_transpose2d_grads(node: &Node, g: &Tensor, p: ConvTranspose2dParams) -> Result<Vec<Option<Tensor>>> {
    let (x, w) = (&node.inputs[0], &node.inputs[1]);
    let g = &g.contiguous()?;
    let cp = as_conv(p);
    let gx = if x.requires_grad() {
        Some(fit(conv2d_raw(g, w, None, cp)?, spatial(x))?)
    } else {
        None
    };
    let gw = if w.requires_grad() {
        Some(conv2d_weight_grad(g, x, cp, [w.shape()[2], w.shape()[3]])?)
    } else {
        None
    };
    Ok(vec![gx, gw, bias_grad(node, g)?])
}

/// Gradients of [`OpKind::Conv2dWeightGrad`] (inputs x and grad_output) given the gradient
/// `gg` of the weight gradient.
pub(crate) fn conv2d_weight_grad_grads(node: &Node, gg: &Tensor, p: Conv2dParams) -> Result<Vec<Option<Tensor>>> {
    let (x, g) = (&node.inputs[0], &node.inputs[1]);
    let gx = if x.requires_grad() {
        Some(conv_adjoint(g, gg, p, spatial(x))?)
    } else {
        None
    };
    let gg_out = if g.requires_grad() {
        Some(fit(conv2d_raw(x, gg, None, p)?, spatial(g))?)
    } else {
        None
    };
    Ok(vec![gx, gg_out])
}

#[cfg(test)]
mod tests {
    use crate::backward::BackwardOptions;
    use crate::ops::conv::Conv2dOptions;
    use crate::{DType, Tensor};

    /// Gradients of x, w and b after backward from `seed` (a gradient for the conv output).
    fn grads(seed: impl Fn(&[usize]) -> Tensor, dtype: DType) -> Vec<Vec<f64>> {
        let x = Tensor::arange(0.0, 150.0, 1.0, dtype)
            .unwrap()
            .reshape(&[2, 3, 5, 5])
            .unwrap()
            .sin()
            .unwrap()
            .requires_grad_(true);
        let w = Tensor::arange(0.0, 108.0, 1.0, dtype)
            .unwrap()
            .reshape(&[4, 3, 3, 3])
            .unwrap()
            .cos()
            .unwrap()
            .requires_grad_(true);
        let b = Tensor::full(&[4], 0.5, dtype).unwrap().requires_grad_(true);
        let y = x.conv2d(&w, Some(&b), Conv2dOptions::default().padding(1)).unwrap();
        y.backward_with(&seed(y.shape()), BackwardOptions::default()).unwrap();
        [x, w, b].iter().map(|t| t.grad().unwrap().to_vec_f64()).collect()
    }

    /// A broadcast seed (filled directly) gives exactly the gradients of the same values stored
    /// densely (gathered).
    #[test]
    fn broadcast_seed_matches_dense_seed() {
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let broadcast = grads(|s| Tensor::full(&[1], -1.5, dtype).unwrap().expand(s).unwrap(), dtype);
            let dense = grads(|s| Tensor::full(s, -1.5, dtype).unwrap(), dtype);
            assert_eq!(broadcast, dense, "{dtype:?}");
            assert!(broadcast[2].iter().all(|&v| v == -1.5 * 50.0), "{:?}", broadcast[2]);
        }
    }
}
