//! Kiln: eager tensors with dynamic autograd, built to go from a prototype to production.
//!
//! Depend on this crate and `use kiln::prelude::*`:
//!
//! ```
//! use kiln::prelude::*;
//! # fn main() -> kiln::Result<()> {
//! kiln::manual_seed(0);
//! let x = Tensor::randn(&[4, 3], DType::F32)?;
//! let w = Tensor::randn(&[3, 2], DType::F32)?.requires_grad_(true);
//! let loss = x.matmul(&w)?.tanh()?.mean()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().shape(), &[3, 2]);
//! # Ok(()) }
//! ```

pub use kiln_tensor::*;

/// Sets the number of threads kernels use (`torch.set_num_threads`); `0` restores the default.
pub use kiln_kernels::{num_threads, set_num_threads};

/// Modules, layers, init, optimizers, schedulers and checkpoints (`torch.nn`, `torch.optim`).
pub use kiln_nn as nn;

/// Datasets, the data loader and transforms (`torch.utils.data`, `torchvision.transforms`).
pub use kiln_data as data;

/// The names a Kiln program usually needs.
pub mod prelude {
    pub use kiln_nn::{Forward, Module};
    pub use kiln_tensor::functional as F;
    pub use kiln_tensor::{
        grad, no_grad, s, tensor, Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, DType, Device, Ellipsis, Error,
        NewAxis, Padding, Pool2dOptions, Result, Tensor,
    };
}

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
