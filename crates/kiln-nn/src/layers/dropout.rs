//! `Dropout` (`nn.Dropout`).

use crate::{Forward, Module};
use kiln_tensor::{Error, Result, Tensor};

/// Zeroes each element with probability `p` in training mode and scales the rest by `1/(1-p)`;
/// the identity in evaluation mode. Draws from the global generator.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Dropout {
    pub p: f64,
    #[module(training)]
    training: bool,
}

impl Dropout {
    /// Errors unless `0 <= p <= 1`.
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::Invalid {
                op: "Dropout",
                msg: format!("dropout probability has to be between 0 and 1, but got {p}"),
            });
        }
        Ok(Dropout { p, training: true })
    }
}

impl Forward for Dropout {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        input.dropout(self.p, self.training)
    }
}
