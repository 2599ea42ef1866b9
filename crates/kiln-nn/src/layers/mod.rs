//! Layers as modules, with PyTorch's parameter names, layouts and default initialization.
//!
//! Convention: `Layer::new(required args)` uses PyTorch's defaults; `Layer::with_config(required
//! args, LayerConfig::default().option(value))` sets the rest. Constructors return `Result` and
//! validate their arguments with errors naming the layer.

mod dropout;
mod layer_norm;
mod linear;
mod sequential;

pub use dropout::Dropout;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{Linear, LinearConfig};
pub use sequential::Sequential;
