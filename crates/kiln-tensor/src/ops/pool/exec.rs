//! The recorded pooling ops on validated 4-D inputs, and their backward rules. Each gradient is
//! itself a recorded linear op whose own gradient is the forward pass it came from (max
//! pooling's scatter and gather of the saved indices, average pooling and its adjoint), so
//! gradients of any order work.

use crate::backward::Node;
use crate::error::{Error, Result};
use crate::op::{OpKind, Pool2dParams};
use crate::ops::{float_map, FloatMap};
use crate::tensor::Tensor;
use kiln_kernels::pool::{
    adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward, avg_pool2d_forward, gather_planes,
    max_pool2d_forward, scatter_add_planes, PoolGeom,
};
use kiln_kernels::Float;
use std::cell::RefCell;

/// Output size of a pooling window along one dim (PyTorch's `pooling_output_shape`); may be
/// below 1, which callers reject.
pub(crate) fn pool_out_size(n: usize, k: usize, s: usize, p: usize, d: usize, ceil_mode: bool) -> isize {
    let (n, k, s, p, d) = (n as isize, k as isize, s as isize, p as isize, d as isize);
    let num = n + 2 * p - d * (k - 1) - 1 + if ceil_mode { s - 1 } else { 0 };
    let mut o = num.div_euclid(s) + 1;
    // The last window must start inside the input or the left padding.
    if ceil_mode && (o - 1) * s >= n + p {
        o -= 1;
    }
    o
}

fn spatial(t: &Tensor) -> [usize; 2] {
    [t.shape()[2], t.shape()[3]]
}

fn planes(t: &Tensor) -> usize {
    t.shape()[0] * t.shape()[1]
}

fn with_spatial(t: &Tensor, hw: [usize; 2]) -> [usize; 4] {
    [t.shape()[0], t.shape()[1], hw[0], hw[1]]
}

fn geom(p: &Pool2dParams, in_hw: [usize; 2]) -> PoolGeom {
    let out = |i: usize| {
        pool_out_size(
            in_hw[i],
            p.kernel[i],
            p.stride[i],
            p.padding[i],
            p.dilation[i],
            p.ceil_mode,
        )
        .max(0) as usize
    };
    PoolGeom {
        in_hw,
        out_hw: [out(0), out(1)],
        kernel: p.kernel,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
    }
}

struct MaxFwd {
    planes: usize,
    geom: PoolGeom,
    indices: RefCell<Vec<i64>>,
}
impl FloatMap for MaxFwd {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let n = self.planes * self.geom.out_hw[0] * self.geom.out_hw[1];
        let (mut out, mut idx) = (vec![T::ZERO; n], vec![0i64; n]);
        max_pool2d_forward(x, self.planes, &self.geom, &mut out, &mut idx);
        *self.indices.borrow_mut() = idx;
        out
    }
}

/// Max pooling of a validated `[N, C, H, W]` input: values and int64 indices (flat per plane),
/// recorded as [`OpKind::MaxPool2d`].
pub(crate) fn max_pool2d_raw(x: &Tensor, p: Pool2dParams) -> Result<(Tensor, Tensor)> {
    let g = geom(&p, spatial(x));
    let k = MaxFwd {
        planes: planes(x),
        geom: g,
        indices: RefCell::new(Vec::new()),
    };
    let storage = float_map("max_pool2d", x, &k)?;
    let shape = with_spatial(x, g.out_hw);
    let indices = Tensor::from_vec(k.indices.into_inner(), &shape)?;
    let node = Node::record(OpKind::MaxPool2d(p), &[x], vec![indices.clone()]);
    Ok((Tensor::from_storage_node(storage, &shape, node), indices))
}

struct Scatter {
    indices: Vec<i64>,
    planes: usize,
    in_len: usize,
}
impl FloatMap for Scatter {
    fn map<T: Float>(&self, g: &[T]) -> Vec<T> {
        let mut out = vec![T::ZERO; self.planes * self.in_len];
        scatter_add_planes(g, &self.indices, self.planes, self.in_len, &mut out);
        out
    }
}

/// Adds each element of `g` at its index in planes of `in_hw` (the gradient of max pooling),
/// recorded as [`OpKind::MaxPool2dBackward`].
pub(crate) fn max_pool2d_scatter(g: &Tensor, indices: &Tensor, in_hw: [usize; 2]) -> Result<Tensor> {
    let k = Scatter {
        indices: indices.to_vec::<i64>()?,
        planes: planes(g),
        in_len: in_hw[0] * in_hw[1],
    };
    let storage = float_map("max_pool2d_backward", g, &k)?;
    let node = Node::record(
        OpKind::MaxPool2dBackward { input_size: in_hw },
        &[g],
        vec![indices.clone()],
    );
    Ok(Tensor::from_storage_node(storage, &with_spatial(g, in_hw), node))
}

struct Gather {
    indices: Vec<i64>,
    planes: usize,
    in_len: usize,
}
impl FloatMap for Gather {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut out = vec![T::ZERO; self.indices.len()];
        gather_planes(x, &self.indices, self.planes, self.in_len, &mut out);
        out
    }
}

/// The elements of each plane of `x` at `indices` (max pooling with known argmax), recorded as
/// [`OpKind::MaxPool2dGather`].
pub(crate) fn max_pool2d_gather(x: &Tensor, indices: &Tensor) -> Result<Tensor> {
    let hw = spatial(x);
    let k = Gather {
        indices: indices.to_vec::<i64>()?,
        planes: planes(x),
        in_len: hw[0] * hw[1],
    };
    let storage = float_map("max_pool2d", x, &k)?;
    let node = Node::record(OpKind::MaxPool2dGather, &[x], vec![indices.clone()]);
    Ok(Tensor::from_storage_node(storage, indices.shape(), node))
}

struct AvgFwd {
    planes: usize,
    geom: PoolGeom,
    count_include_pad: bool,
    divisor_override: Option<usize>,
}
impl FloatMap for AvgFwd {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut out = vec![T::ZERO; self.planes * self.geom.out_hw[0] * self.geom.out_hw[1]];
        avg_pool2d_forward(
            x,
            self.planes,
            &self.geom,
            self.count_include_pad,
            self.divisor_override,
            &mut out,
        );
        out
    }
}

struct AvgBwd {
    planes: usize,
    geom: PoolGeom,
    count_include_pad: bool,
    divisor_override: Option<usize>,
}
impl FloatMap for AvgBwd {
    fn map<T: Float>(&self, g: &[T]) -> Vec<T> {
        let mut out = vec![T::ZERO; self.planes * self.geom.in_hw[0] * self.geom.in_hw[1]];
        avg_pool2d_backward(
            g,
            self.planes,
            &self.geom,
            self.count_include_pad,
            self.divisor_override,
            &mut out,
        );
        out
    }
}

/// Average pooling of a validated `[N, C, H, W]` input, recorded as [`OpKind::AvgPool2d`].
pub(crate) fn avg_pool2d_raw(x: &Tensor, p: Pool2dParams) -> Result<Tensor> {
    let g = geom(&p, spatial(x));
    let k = AvgFwd {
        planes: planes(x),
        geom: g,
        count_include_pad: p.count_include_pad,
        divisor_override: p.divisor_override,
    };
    let storage = float_map("avg_pool2d", x, &k)?;
    let node = Node::record(OpKind::AvgPool2d(p), &[x], vec![]);
    Ok(Tensor::from_storage_node(storage, &with_spatial(x, g.out_hw), node))
}

/// The gradient of average pooling from planes of `in_hw`, recorded as
/// [`OpKind::AvgPool2dBackward`].
pub(crate) fn avg_pool2d_adjoint(g: &Tensor, p: Pool2dParams, in_hw: [usize; 2]) -> Result<Tensor> {
    let k = AvgBwd {
        planes: planes(g),
        geom: geom(&p, in_hw),
        count_include_pad: p.count_include_pad,
        divisor_override: p.divisor_override,
    };
    let storage = float_map("avg_pool2d_backward", g, &k)?;
    let node = Node::record(
        OpKind::AvgPool2dBackward {
            params: p,
            input_size: in_hw,
        },
        &[g],
        vec![],
    );
    Ok(Tensor::from_storage_node(storage, &with_spatial(g, in_hw), node))
}

struct Adaptive {
    planes: usize,
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    backward: bool,
}
impl FloatMap for Adaptive {
    fn map<T: Float>(&self, x: &[T]) -> Vec<T> {
        let hw = if self.backward { self.in_hw } else { self.out_hw };
        let mut out = vec![T::ZERO; self.planes * hw[0] * hw[1]];
        if self.backward {
            adaptive_avg_pool2d_backward(x, self.planes, self.in_hw, self.out_hw, &mut out);
        } else {
            adaptive_avg_pool2d_forward(x, self.planes, self.in_hw, self.out_hw, &mut out);
        }
        out
    }
}

/// Adaptive average pooling of a validated `[N, C, H, W]` input (H, W > 0), recorded as
/// [`OpKind::AdaptiveAvgPool2d`].
pub(crate) fn adaptive_avg_pool2d_raw(x: &Tensor, out_hw: [usize; 2]) -> Result<Tensor> {
    let k = Adaptive {
        planes: planes(x),
        in_hw: spatial(x),
        out_hw,
        backward: false,
    };
    let storage = float_map("adaptive_avg_pool2d", x, &k)?;
    let node = Node::record(OpKind::AdaptiveAvgPool2d { output_size: out_hw }, &[x], vec![]);
    Ok(Tensor::from_storage_node(storage, &with_spatial(x, out_hw), node))
}

/// The gradient of adaptive average pooling from planes of `in_hw`, recorded as
/// [`OpKind::AdaptiveAvgPool2dBackward`].
pub(crate) fn adaptive_avg_pool2d_adjoint(g: &Tensor, in_hw: [usize; 2]) -> Result<Tensor> {
    let k = Adaptive {
        planes: planes(g),
        in_hw,
        out_hw: spatial(g),
        backward: true,
    };
    let storage = float_map("adaptive_avg_pool2d_backward", g, &k)?;
    let node = Node::record(OpKind::AdaptiveAvgPool2dBackward { input_size: in_hw }, &[g], vec![]);
    Ok(Tensor::from_storage_node(storage, &with_spatial(g, in_hw), node))
}

/// The gradient of the single input of a pooling node.
pub(crate) fn pool_grad(node: &Node, g: &Tensor) -> Result<Tensor> {
    let x = &node.inputs[0];
    match &node.op {
        OpKind::MaxPool2d(_) | OpKind::MaxPool2dGather => max_pool2d_scatter(g, &node.saved[0], spatial(x)),
        OpKind::MaxPool2dBackward { .. } => max_pool2d_gather(g, &node.saved[0]),
        OpKind::AvgPool2d(p) => avg_pool2d_adjoint(g, *p, spatial(x)),
        OpKind::AvgPool2dBackward { params, .. } => avg_pool2d_raw(g, *params),
        OpKind::AdaptiveAvgPool2d { .. } => adaptive_avg_pool2d_adjoint(g, spatial(x)),
        OpKind::AdaptiveAvgPool2dBackward { .. } => adaptive_avg_pool2d_raw(g, spatial(x)),
        other => Err(Error::Autograd(format!("{} is not a pooling op", other.name()))),
    }
}
