//! The workloads, one small function each; `bench/torch_bench.py` has the same names with the
//! same shapes and ops. A setup function builds the inputs (outside the timing) and returns the
//! closure that is timed.

use kiln::{DType, Result, Tensor};

/// A timed closure: one iteration of a workload.
pub type Iter = Box<dyn FnMut() -> Result<()>>;

pub struct Workload {
    pub name: &'static str,
    pub setup: fn() -> Result<Iter>,
}

pub const ALL: &[Workload] = &[
    Workload {
        name: "sgemm_256",
        setup: || sgemm(256, 256, 256),
    },
    Workload {
        name: "sgemm_1024",
        setup: || sgemm(1024, 1024, 1024),
    },
    Workload {
        name: "sgemm_2048x512x2048",
        setup: || sgemm(2048, 512, 2048),
    },
    Workload {
        name: "add_4M",
        setup: add_4m,
    },
    Workload {
        name: "mul_4M",
        setup: mul_4m,
    },
    Workload {
        name: "gelu_4M",
        setup: gelu_4m,
    },
    Workload {
        name: "tiny_chain_1000",
        setup: tiny_chain,
    },
    Workload {
        name: "softmax_4096x1024",
        setup: softmax,
    },
    Workload {
        name: "layer_norm_4096x1024",
        setup: layer_norm,
    },
    Workload {
        name: "conv2d_lenet_fwd_bwd",
        setup: || conv2d(64, 1, 6, 5, 28, 0, false),
    },
    Workload {
        name: "conv2d_resnet_fwd_bwd",
        setup: || conv2d(8, 64, 64, 3, 56, 1, true),
    },
    Workload {
        name: "train_mlp_adam_b128",
        setup: crate::train_workloads::mlp_adam,
    },
    Workload {
        name: "train_lenet_sgd_b64",
        setup: crate::train_workloads::lenet_sgd,
    },
];

pub fn find(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

const N4M: usize = 4 * 1024 * 1024;

fn ready(f: impl FnMut() -> Result<()> + 'static) -> Result<Iter> {
    Ok(Box::new(f))
}

/// `[m, k] @ [k, n]` in f32.
fn sgemm(m: usize, k: usize, n: usize) -> Result<Iter> {
    let a = Tensor::randn(&[m, k], DType::F32)?;
    let b = Tensor::randn(&[k, n], DType::F32)?;
    ready(move || a.matmul(&b).map(drop))
}

fn add_4m() -> Result<Iter> {
    let a = Tensor::randn(&[N4M], DType::F32)?;
    let b = Tensor::randn(&[N4M], DType::F32)?;
    ready(move || a.add(&b).map(drop))
}

fn mul_4m() -> Result<Iter> {
    let a = Tensor::randn(&[N4M], DType::F32)?;
    let b = Tensor::randn(&[N4M], DType::F32)?;
    ready(move || a.mul(&b).map(drop))
}

/// Exact (erf) GELU, PyTorch's default.
fn gelu_4m() -> Result<Iter> {
    let a = Tensor::randn(&[N4M], DType::F32)?;
    ready(move || a.gelu("none").map(drop))
}

/// 1000 ops on one-element tensors with autograd on, then backward: per-op overhead.
/// Each of the 250 steps is `y = tanh(y * w + 0.1) - x`.
fn tiny_chain() -> Result<Iter> {
    let x = Tensor::full(&[1], 0.5, DType::F32)?.requires_grad_(true);
    let w = Tensor::full(&[1], 0.9, DType::F32)?.requires_grad_(true);
    ready(move || {
        x.zero_grad();
        w.zero_grad();
        let mut y = x.clone();
        for _ in 0..250 {
            y = y.mul(&w)?.add_scalar(0.1)?.tanh()?.sub(&x)?;
        }
        y.backward()
    })
}

fn softmax() -> Result<Iter> {
    let x = Tensor::randn(&[4096, 1024], DType::F32)?;
    ready(move || x.softmax(-1).map(drop))
}

fn layer_norm() -> Result<Iter> {
    let x = Tensor::randn(&[4096, 1024], DType::F32)?;
    let w = Tensor::randn(&[1024], DType::F32)?;
    let b = Tensor::randn(&[1024], DType::F32)?;
    ready(move || x.layer_norm(&[1024], Some(&w), Some(&b), 1e-5).map(drop))
}

/// `conv2d` of `[batch, cin, hw, hw]` by `[cout, cin, k, k]` with bias, then `sum().backward()`;
/// weight and bias require grad, and the input too when `input_grad` (a layer inside a network).
fn conv2d(batch: usize, cin: usize, cout: usize, k: usize, hw: usize, pad: usize, input_grad: bool) -> Result<Iter> {
    use kiln::Conv2dOptions;
    let x = Tensor::randn(&[batch, cin, hw, hw], DType::F32)?.requires_grad_(input_grad);
    let w = Tensor::randn(&[cout, cin, k, k], DType::F32)?.requires_grad_(true);
    let b = Tensor::randn(&[cout], DType::F32)?.requires_grad_(true);
    ready(move || {
        x.zero_grad();
        w.zero_grad();
        b.zero_grad();
        let y = x.conv2d(&w, Some(&b), Conv2dOptions::default().padding(pad))?;
        y.sum()?.backward()
    })
}
