//! Layers as modules, with PyTorch's parameter names, layouts and default initialization.
//!
//! Convention: `Layer::new(required args)` uses PyTorch's defaults; `Layer::with_config(required
//! args, LayerConfig::default().option(value))` sets the rest. Constructors return `Result` and
//! validate their arguments with errors naming the layer.

mod attention;
mod dropout;
mod gru;
mod layer_norm;
mod linear;
mod lstm;
mod rnn_common;
mod sequential;
mod transformer;
mod transformer_decoder;

pub use attention::{MhaArgs, MultiheadAttention, MultiheadAttentionConfig};
pub use dropout::Dropout;
pub use gru::{GRUCell, GRU};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{Linear, LinearConfig};
pub use lstm::{LSTMCell, LSTM};
pub use rnn_common::{RnnConfig, RnnWeights};
pub use sequential::Sequential;
pub use transformer::{
    generate_square_subsequent_mask, Activation, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
pub use transformer_decoder::{
    DecoderArgs, TransformerDecoder, TransformerDecoderLayer, TransformerDecoderLayerConfig,
};
