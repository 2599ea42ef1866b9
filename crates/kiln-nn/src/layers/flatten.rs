//! `Flatten` and `Identity` (`nn.Flatten`, `nn.Identity`).

use crate::{Forward, Module};
use kiln_tensor::{Result, Tensor};

/// Flattens dims `start_dim..=end_dim` into one (PyTorch's defaults `start_dim = 1`,
/// `end_dim = -1`: `[N, C, H, W]` becomes `[N, C·H·W]`). Negative dims count from the end.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Flatten {
    /// `Flatten(start_dim=1, end_dim=-1)`.
    pub fn new() -> Flatten {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }

    pub fn with_dims(start_dim: isize, end_dim: isize) -> Flatten {
        Flatten { start_dim, end_dim }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Forward for Flatten {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.flatten(self.start_dim, self.end_dim)
    }
}

/// Returns its input unchanged (the same handle, so gradients flow straight through).
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = "kiln_nn")]
pub struct Identity;

impl Identity {
    pub fn new() -> Identity {
        Identity
    }
}

impl Forward for Identity {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        Ok(input.clone())
    }
}
