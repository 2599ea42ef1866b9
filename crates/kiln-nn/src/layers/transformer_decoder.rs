//! `TransformerDecoderLayer` and `TransformerDecoder` (`nn.TransformerDecoderLayer`,
//! `nn.TransformerDecoder`).

use crate::layers::transformer::{copies, feed_forward};
use crate::{
    Dropout, Forward, LayerNorm, LayerNormConfig, Linear, LinearConfig, MhaArgs, Module, MultiheadAttention,
    MultiheadAttentionConfig, TransformerEncoderLayerConfig,
};
use kiln_tensor::{Result, Tensor};

/// Options of [`TransformerDecoderLayer`]: the same as the encoder layer's, with the same
/// defaults.
pub type TransformerDecoderLayerConfig = TransformerEncoderLayerConfig;

/// The masks and causal hints of [`TransformerDecoderLayer::forward`], all absent by default.
///
/// `tgt_mask` `[T, T]` or `[N * nhead, T, T]` and `memory_mask` `[T, S]` or `[N * nhead, T, S]` are
/// attention masks (bool, `true` = masked, or float added to the scores); the key padding masks
/// are `[N, T]` and `[N, S]` (`true` = padding). A causal hint needs its mask, as in PyTorch.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecoderArgs<'a> {
    pub tgt_mask: Option<&'a Tensor>,
    pub memory_mask: Option<&'a Tensor>,
    pub tgt_key_padding_mask: Option<&'a Tensor>,
    pub memory_key_padding_mask: Option<&'a Tensor>,
    pub tgt_is_causal: bool,
    pub memory_is_causal: bool,
}

impl<'a> DecoderArgs<'a> {
    pub fn tgt_mask(mut self, m: &'a Tensor) -> Self {
        self.tgt_mask = Some(m);
        self
    }
    pub fn memory_mask(mut self, m: &'a Tensor) -> Self {
        self.memory_mask = Some(m);
        self
    }
    pub fn tgt_key_padding_mask(mut self, m: &'a Tensor) -> Self {
        self.tgt_key_padding_mask = Some(m);
        self
    }
    pub fn memory_key_padding_mask(mut self, m: &'a Tensor) -> Self {
        self.memory_key_padding_mask = Some(m);
        self
    }
    pub fn tgt_is_causal(mut self, on: bool) -> Self {
        self.tgt_is_causal = on;
        self
    }
    pub fn memory_is_causal(mut self, on: bool) -> Self {
        self.memory_is_causal = on;
        self
    }
}

/// Self-attention over the target, attention to the encoder's `memory`, and a feed-forward
/// block, each with a residual connection and a layer norm.
///
/// Target and output `[T, N, E]`, memory `[S, N, E]` (`[N, T, E]` / `[N, S, E]` with
/// `batch_first`; no `N` unbatched). Submodules as PyTorch: `self_attn`, `multihead_attn`,
/// `linear1`, `dropout`, `linear2`, `norm1`, `norm2`, `norm3`, `dropout1`, `dropout2`, `dropout3`.
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct TransformerDecoderLayer {
    pub self_attn: MultiheadAttention,
    pub multihead_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub norm3: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub dropout3: Dropout,
    pub d_model: usize,
    pub nhead: usize,
    #[module(skip)]
    pub config: TransformerDecoderLayerConfig,
}

impl TransformerDecoderLayer {
    pub fn new(d_model: usize, nhead: usize) -> Result<TransformerDecoderLayer> {
        Self::with_config(d_model, nhead, TransformerDecoderLayerConfig::default())
    }

    /// Errors as [`MultiheadAttention::with_config`] and [`Dropout::new`] do.
    pub fn with_config(
        d_model: usize,
        nhead: usize,
        cfg: TransformerDecoderLayerConfig,
    ) -> Result<TransformerDecoderLayer> {
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
        Ok(TransformerDecoderLayer {
            self_attn: MultiheadAttention::with_config(d_model, nhead, mha.clone())?,
            multihead_attn: MultiheadAttention::with_config(d_model, nhead, mha)?,
            linear1: Linear::with_config(d_model, cfg.dim_feedforward, lin.clone())?,
            dropout: Dropout::new(cfg.dropout)?,
            linear2: Linear::with_config(cfg.dim_feedforward, d_model, lin)?,
            norm1: LayerNorm::with_config(&[d_model], norm.clone())?,
            norm2: LayerNorm::with_config(&[d_model], norm.clone())?,
            norm3: LayerNorm::with_config(&[d_model], norm)?,
            dropout1: Dropout::new(cfg.dropout)?,
            dropout2: Dropout::new(cfg.dropout)?,
            dropout3: Dropout::new(cfg.dropout)?,
            d_model,
            nhead,
            config: cfg,
        })
    }

    /// Runs the layer on `tgt` attending to `memory`. Errors as [`MultiheadAttention::forward`].
    pub fn forward(&self, tgt: &Tensor, memory: &Tensor, args: DecoderArgs<'_>) -> Result<Tensor> {
        let sa = |x: &Tensor| -> Result<Tensor> {
            let mut a = MhaArgs::default().need_weights(false).is_causal(args.tgt_is_causal);
            a.attn_mask = args.tgt_mask;
            a.key_padding_mask = args.tgt_key_padding_mask;
            self.dropout1.forward(&self.self_attn.forward(x, x, x, a)?.0)
        };
        let ca = |x: &Tensor| -> Result<Tensor> {
            let mut a = MhaArgs::default().need_weights(false).is_causal(args.memory_is_causal);
            a.attn_mask = args.memory_mask;
            a.key_padding_mask = args.memory_key_padding_mask;
            self.dropout2
                .forward(&self.multihead_attn.forward(x, memory, memory, a)?.0)
        };
        let ff = |x: &Tensor| -> Result<Tensor> {
            let y = feed_forward(&self.linear1, &self.dropout, &self.linear2, self.config.activation, x)?;
            self.dropout3.forward(&y)
        };
        if self.config.norm_first {
            let x = tgt.add(&sa(&self.norm1.forward(tgt)?)?)?;
            let x = x.add(&ca(&self.norm2.forward(&x)?)?)?;
            x.add(&ff(&self.norm3.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&tgt.add(&sa(tgt)?)?)?;
            let x = self.norm2.forward(&x.add(&ca(&x)?)?)?;
            self.norm3.forward(&x.add(&ff(&x)?)?)
        }
    }
}

/// A stack of `num_layers` decoder layers (`layers.0`, ...) and an optional final layer norm
/// (`norm`).
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct TransformerDecoder {
    pub layers: Vec<TransformerDecoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerDecoder {
    /// Like PyTorch, every layer starts as a copy of `decoder_layer` (same values, separate
    /// parameters).
    pub fn new(decoder_layer: TransformerDecoderLayer, num_layers: usize, norm: Option<LayerNorm>) -> Result<Self> {
        let (d_model, nhead, cfg) = (decoder_layer.d_model, decoder_layer.nhead, decoder_layer.config.clone());
        let layers = copies(decoder_layer, num_layers, || {
            TransformerDecoderLayer::with_config(d_model, nhead, cfg.clone())
        })?;
        Ok(TransformerDecoder { layers, norm })
    }

    /// Runs the layers in order with the same memory and masks, then the final norm.
    pub fn forward(&self, tgt: &Tensor, memory: &Tensor, args: DecoderArgs<'_>) -> Result<Tensor> {
        let mut x = tgt.clone();
        for layer in &self.layers {
            x = layer.forward(&x, memory, args)?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}
