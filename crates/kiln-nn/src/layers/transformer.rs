//! `TransformerEncoderLayer` and `TransformerEncoder` (`nn.TransformerEncoderLayer`,
//! `nn.TransformerEncoder`).

use crate::layers::attention::canonical_mask;
use crate::{
    Dropout, Forward, LayerNorm, LayerNormConfig, Linear, LinearConfig, MhaArgs, Module, MultiheadAttention,
    MultiheadAttentionConfig,
};
use kiln_tensor::{DType, Error, Result, Tensor};

/// The activation of the feed-forward block (PyTorch's `"relu"` / `"gelu"`; gelu is the exact,
/// erf-based one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Gelu,
}

/// Options of [`TransformerEncoderLayer`], with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct TransformerEncoderLayerConfig {
    /// Width of the feed-forward block (2048).
    pub dim_feedforward: usize,
    /// Dropout probability everywhere in the layer (0.1).
    pub dropout: f64,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    /// `[N, S, E]` instead of `[S, N, E]`.
    pub batch_first: bool,
    /// Pre-norm (`x + sa(norm1(x))`) instead of post-norm (`norm1(x + sa(x))`).
    pub norm_first: bool,
    /// Biases in the linear layers and layer norms.
    pub bias: bool,
    pub dtype: DType,
}

impl Default for TransformerEncoderLayerConfig {
    fn default() -> Self {
        TransformerEncoderLayerConfig {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
            dtype: DType::F32,
        }
    }
}

impl TransformerEncoderLayerConfig {
    pub fn dim_feedforward(mut self, d: usize) -> Self {
        self.dim_feedforward = d;
        self
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    pub fn layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer_norm_eps = eps;
        self
    }
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }
    pub fn norm_first(mut self, on: bool) -> Self {
        self.norm_first = on;
        self
    }
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Self-attention and a feed-forward block, each with a residual connection and a layer norm.
///
/// Input and output `[S, N, E]` (`[N, S, E]` with `batch_first`, `[S, E]` unbatched), `E =
/// d_model`. Submodules as PyTorch: `self_attn`, `linear1`, `dropout`, `linear2`, `norm1`,
/// `norm2`, `dropout1`, `dropout2`, each with its own default initialization.
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub d_model: usize,
    pub nhead: usize,
    #[module(skip)]
    pub config: TransformerEncoderLayerConfig,
}

impl TransformerEncoderLayer {
    pub fn new(d_model: usize, nhead: usize) -> Result<TransformerEncoderLayer> {
        Self::with_config(d_model, nhead, TransformerEncoderLayerConfig::default())
    }

    /// Errors as [`MultiheadAttention::with_config`] and [`Dropout::new`] do.
    pub fn with_config(
        d_model: usize,
        nhead: usize,
        cfg: TransformerEncoderLayerConfig,
    ) -> Result<TransformerEncoderLayer> {
        let mha = MultiheadAttentionConfig::default()
            .dropout(cfg.dropout)
            .bias(cfg.bias)
            .batch_first(cfg.batch_first)
            .dtype(cfg.dtype);
        let lin = LinearConfig::default().bias(cfg.bias).dtype(cfg.dtype);
        let norm = LayerNormConfig::default()
            .eps(cfg.layer_norm_eps)
            .bias(cfg.bias)
            .dtype(cfg.dtype);
        Ok(TransformerEncoderLayer {
            self_attn: MultiheadAttention::with_config(d_model, nhead, mha)?,
            linear1: Linear::with_config(d_model, cfg.dim_feedforward, lin.clone())?,
            dropout: Dropout::new(cfg.dropout)?,
            linear2: Linear::with_config(cfg.dim_feedforward, d_model, lin)?,
            norm1: LayerNorm::with_config(&[d_model], norm.clone())?,
            norm2: LayerNorm::with_config(&[d_model], norm)?,
            dropout1: Dropout::new(cfg.dropout)?,
            dropout2: Dropout::new(cfg.dropout)?,
            d_model,
            nhead,
            config: cfg,
        })
    }

    /// Runs the layer. `src_mask` is an attention mask `[S, S]` or `[N * nhead, S, S]` (bool,
    /// `true` = masked, or float added to the scores); `src_key_padding_mask` is `[N, S]` (`true` =
    /// padding); `is_causal` is a hint that `src_mask` is the causal mask (which must be given).
    pub fn forward(
        &self,
        src: &Tensor,
        src_mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Result<Tensor> {
        const OP: &str = "TransformerEncoderLayer";
        let kpm = canonical_mask(OP, "src_key_padding_mask", src_key_padding_mask, src.dtype())?;
        let mask = canonical_mask(OP, "src_mask", src_mask, src.dtype())?;
        let sa = |x: &Tensor| -> Result<Tensor> {
            let mut args = MhaArgs::default().need_weights(false).is_causal(is_causal);
            args.attn_mask = mask.as_ref();
            args.key_padding_mask = kpm.as_ref();
            let (y, _) = self.self_attn.forward(x, x, x, args)?;
            self.dropout1.forward(&y)
        };
        let ff = |x: &Tensor| -> Result<Tensor> {
            let y = feed_forward(&self.linear1, &self.dropout, &self.linear2, self.config.activation, x)?;
            self.dropout2.forward(&y)
        };
        if self.config.norm_first {
            let x = src.add(&sa(&self.norm1.forward(src)?)?)?;
            x.add(&ff(&self.norm2.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&sa(src)?)?)?;
            self.norm2.forward(&x.add(&ff(&x)?)?)
        }
    }
}

impl Forward for TransformerEncoderLayer {
    /// The layer without masks.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        TransformerEncoderLayer::forward(self, input, None, None, false)
    }
}

/// A stack of `num_layers` encoder layers (`layers.0`, `layers.1`, ...) and an optional final
/// layer norm (`norm`).
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct TransformerEncoder {
    pub layers: Vec<TransformerEncoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// Like PyTorch, every layer starts as a copy of `encoder_layer` (same values, separate
    /// parameters), so the layers' initial weights are equal.
    pub fn new(encoder_layer: TransformerEncoderLayer, num_layers: usize, norm: Option<LayerNorm>) -> Result<Self> {
        let (d_model, nhead, cfg) = (encoder_layer.d_model, encoder_layer.nhead, encoder_layer.config.clone());
        let layers = copies(encoder_layer, num_layers, || {
            TransformerEncoderLayer::with_config(d_model, nhead, cfg.clone())
        })?;
        Ok(TransformerEncoder { layers, norm })
    }

    /// Runs the layers in order with the same masks, then the final norm; arguments as
    /// [`TransformerEncoderLayer::forward`].
    pub fn forward(
        &self,
        src: &Tensor,
        mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Result<Tensor> {
        let mut x = src.clone();
        for layer in &self.layers {
            x = layer.forward(&x, mask, src_key_padding_mask, is_causal)?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}

impl Forward for TransformerEncoder {
    /// The stack without masks.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        TransformerEncoder::forward(self, input, None, None, false)
    }
}

/// `linear2(dropout(activation(linear1(x))))`, the feed-forward block of the transformer layers
/// (without their final dropout).
pub(crate) fn feed_forward(
    linear1: &Linear,
    dropout: &Dropout,
    linear2: &Linear,
    activation: Activation,
    x: &Tensor,
) -> Result<Tensor> {
    let y = linear1.forward(x)?;
    let y = match activation {
        Activation::Relu => y.relu()?,
        Activation::Gelu => y.gelu("none")?,
    };
    linear2.forward(&dropout.forward(&y)?)
}

/// `n` layers equal to `layer` with separate parameters (PyTorch's `_get_clones`): `layer` itself
/// and `n - 1` fresh ones from `make` loaded with its state and training mode.
pub(crate) fn copies<L: Module>(layer: L, n: usize, make: impl Fn() -> Result<L>) -> Result<Vec<L>> {
    let state = layer.state_dict();
    let mut layers = Vec::with_capacity(n);
    if n == 0 {
        return Ok(layers);
    }
    for _ in 1..n {
        let mut l = make()?;
        l.load_state_dict(&state, true)?;
        l.set_training(layer.is_training());
        layers.push(l);
    }
    layers.insert(0, layer);
    Ok(layers)
}

/// The causal mask `[sz, sz]`: `-inf` above the diagonal, `0` elsewhere
/// (`nn.Transformer.generate_square_subsequent_mask`).
pub fn generate_square_subsequent_mask(sz: usize, dtype: DType) -> Result<Tensor> {
    if !dtype.is_float() {
        return Err(Error::Invalid {
            op: "generate_square_subsequent_mask",
            msg: format!("expected a floating-point dtype, got {dtype}"),
        });
    }
    Tensor::full(&[sz, sz], f64::NEG_INFINITY, dtype)?.triu(1)
}
