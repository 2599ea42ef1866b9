//! Layers as modules, with PyTorch's parameter names, layouts and default initialization.
//!
//! Convention: `Layer::new(required args)` uses PyTorch's defaults; `Layer::with_config(required
//! args, LayerConfig::default().option(value))` sets the rest. Constructors return `Result` and
//! validate their arguments with errors naming the layer.

mod activation;
mod attention;
mod batch_norm;
mod conv;
mod dropout;
mod embedding;
mod flatten;
mod group_norm;
mod gru;
mod layer_norm;
mod linear;
mod lstm;
mod pooling;
mod rms_norm;
mod rnn_common;
mod sequential;
mod transformer;
mod transformer_decoder;

pub use activation::{
    Hardtanh, LeakyReLU, LogSoftmax, Mish, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU,
};
pub use attention::{MhaArgs, MultiheadAttention, MultiheadAttentionConfig};
pub use batch_norm::{BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig};
pub use conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, PaddingMode};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingConfig};
pub use flatten::{Flatten, Identity};
pub use group_norm::{GroupNorm, GroupNormConfig};
pub use gru::{GRUCell, GRU};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{Linear, LinearConfig};
pub use lstm::{LSTMCell, LSTM};
pub use pooling::{AdaptiveAvgPool2d, AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
pub use rms_norm::{RMSNorm, RMSNormConfig};
pub use rnn_common::{RnnConfig, RnnWeights};
pub use sequential::Sequential;
pub use transformer::{
    generate_square_subsequent_mask, Activation, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
pub use transformer_decoder::{
    DecoderArgs, TransformerDecoder, TransformerDecoderLayer, TransformerDecoderLayerConfig,
};
