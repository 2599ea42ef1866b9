//! `Sequential`: modules applied one after another (`nn.Sequential`), named `0`, `1`, ...

use crate::{Forward, Module, TensorKind};
use kiln_tensor::{Result, Tensor};

/// A chain of one-input modules; child `i`'s tensors are named `"{i}.weight"` etc., as in PyTorch.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Forward + Send + Sync>>,
}

impl Sequential {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module (builder form): `Sequential::new().add(Linear::new(4, 8)?).add(ReLU)`.
    #[allow(clippy::should_implement_trait)] // a builder step, not arithmetic
    pub fn add<M: Forward + Send + Sync + 'static>(mut self, m: M) -> Self {
        self.layers.push(Box::new(m));
        self
    }

    /// Appends a module (`append`).
    pub fn push<M: Forward + Send + Sync + 'static>(&mut self, m: M) {
        self.layers.push(Box::new(m));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The `i`-th module.
    pub fn get(&self, i: usize) -> Option<&(dyn Forward + Send + Sync)> {
        self.layers.get(i).map(|b| &**b)
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({} modules)", self.layers.len())
    }
}

impl Module for Sequential {
    fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        self.layers.visit_tensors(prefix, f)
    }
    fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        self.layers.visit_tensors_mut(prefix, f)
    }
    fn set_training(&mut self, training: bool) {
        self.layers.set_training(training)
    }
    fn training_flag(&self) -> Option<bool> {
        self.layers.training_flag()
    }
}

impl Forward for Sequential {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let mut x = input.clone();
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }
}
