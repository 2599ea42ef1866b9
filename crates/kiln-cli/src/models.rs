//! Model presets. Each preset's dimensions live in a serializable config, recorded in checkpoints
//! so that `kiln eval` rebuilds exactly the trained model. Parameter names are those of the
//! equivalent PyTorch module (given in each struct's doc).

use crate::config::ModelKind;
use kiln::nn::{
    parameter, Conv2d, Conv2dConfig, Forward, LayerNorm, Linear, Module, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
use kiln::{DType, Error, Result, Tensor};
use serde::{Deserialize, Serialize};

/// The shape of one input image and the number of classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
}

impl std::fmt::Display for InputSpec {
    /// `1x28x28 images, 10 classes`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{}x{} images, {} classes",
            self.channels, self.height, self.width, self.num_classes
        )
    }
}

impl InputSpec {
    pub fn features(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// A preset and its dimensions; serialized with the preset's name under `"name"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum ModelConfig {
    Mlp(MlpConfig),
    Lenet(LenetConfig),
    Transformer(TransformerConfig),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub input: InputSpec,
    /// Widths of the hidden layers, each followed by a ReLU.
    pub hidden: Vec<usize>,
}

/// Two `conv → ReLU → 2x2 max-pool` stages, then linear layers with ReLU between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LenetConfig {
    pub input: InputSpec,
    /// Output channels of the two convolutions.
    pub channels: [usize; 2],
    pub kernel_size: [usize; 2],
    pub padding: [usize; 2],
    /// Widths of the hidden linear layers.
    pub hidden: Vec<usize>,
}

impl LenetConfig {
    /// The side lengths after the convolution stages, or an error when the image is too small.
    fn feature_size(&self) -> Result<(usize, usize)> {
        let (mut h, mut w) = (self.input.height, self.input.width);
        for i in 0..2 {
            let k = self.kernel_size[i];
            let (hp, wp) = (h + 2 * self.padding[i], w + 2 * self.padding[i]);
            if hp < k || wp < k || (hp - k + 1) < 2 || (wp - k + 1) < 2 {
                return Err(Error::Invalid {
                    op: "lenet",
                    msg: format!(
                        "input {}x{} is too small for the convolution stages",
                        self.input.height, self.input.width
                    ),
                });
            }
            // Convolution output, then a 2x2 max-pool that drops an odd last row/column.
            let (ch, cw) = (hp - k + 1, wp - k + 1);
            (h, w) = (ch / 2, cw / 2);
        }
        Ok((h, w))
    }
}

/// Image rows as tokens: a linear embedding of each row, a learned positional embedding, a
/// transformer encoder (post-norm, ReLU, batch-first), mean pooling over tokens, a linear head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    pub input: InputSpec,
    pub d_model: usize,
    pub nhead: usize,
    pub num_layers: usize,
    pub dim_feedforward: usize,
    pub dropout: f64,
}

impl ModelConfig {
    /// The preset's default dimensions for inputs of shape `input`.
    pub fn preset(kind: ModelKind, input: InputSpec) -> std::result::Result<ModelConfig, String> {
        match kind {
            ModelKind::Mlp => Ok(ModelConfig::Mlp(MlpConfig {
                input,
                hidden: vec![256, 128],
            })),
            ModelKind::Lenet => {
                // The classic 5x5 layout for MNIST-sized images, 3x3 "same" convolutions for small ones.
                let (kernel_size, padding) = if input.height >= 28 && input.width >= 28 {
                    ([5, 5], [2, 0])
                } else {
                    ([3, 3], [1, 1])
                };
                Ok(ModelConfig::Lenet(LenetConfig {
                    input,
                    channels: [6, 16],
                    kernel_size,
                    padding,
                    hidden: vec![120, 84],
                }))
            }
            ModelKind::Transformer => Ok(ModelConfig::Transformer(TransformerConfig {
                input,
                d_model: 64,
                nhead: 4,
                num_layers: 2,
                dim_feedforward: 128,
                dropout: 0.1,
            })),
        }
    }

    pub fn input(&self) -> InputSpec {
        match self {
            ModelConfig::Mlp(c) => c.input,
            ModelConfig::Lenet(c) => c.input,
            ModelConfig::Transformer(c) => c.input,
        }
    }

    /// A freshly initialized model (drawing from the global generator).
    pub fn build(&self) -> Result<Box<dyn Forward>> {
        Ok(match self {
            ModelConfig::Mlp(c) => Box::new(Mlp::new(c)?),
            ModelConfig::Lenet(c) => Box::new(Lenet::new(c)?),
            ModelConfig::Transformer(c) => Box::new(TransformerClassifier::new(c)?),
        })
    }
}

/// Linear layers with ReLU between them, on the flattened image. PyTorch equivalent:
/// `self.layers = nn.ModuleList([nn.Linear(...), ...])`, forward `F.relu` between layers
/// (names `layers.0.weight`, `layers.0.bias`, ...).
#[derive(Debug, Module)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(c: &MlpConfig) -> Result<Mlp> {
        let mut widths = vec![c.input.features()];
        widths.extend(&c.hidden);
        widths.push(c.input.num_classes);
        let layers = widths
            .windows(2)
            .map(|w| Linear::new(w[0], w[1]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers })
    }
}

impl Forward for Mlp {
    /// `[B, C, H, W]` → logits `[B, num_classes]`.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let mut x = input.flatten(1, -1)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }
}

/// LeNet-5 style. PyTorch equivalent: `conv1`, `conv2` (`nn.Conv2d`), `fc` (`nn.ModuleList` of
/// `nn.Linear`); forward `F.max_pool2d(F.relu(conv(x)), 2)` twice, flatten, `F.relu` between the
/// linear layers.
#[derive(Debug, Module)]
pub struct Lenet {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Vec<Linear>,
}

impl Lenet {
    pub fn new(c: &LenetConfig) -> Result<Lenet> {
        let (h, w) = c.feature_size()?;
        let conv = |i: usize, cin: usize| {
            Conv2d::with_config(
                cin,
                c.channels[i],
                c.kernel_size[i],
                Conv2dConfig::default().padding(c.padding[i]),
            )
        };
        let mut widths = vec![c.channels[1] * h * w];
        widths.extend(&c.hidden);
        widths.push(c.input.num_classes);
        Ok(Lenet {
            conv1: conv(0, c.input.channels)?,
            conv2: conv(1, c.channels[0])?,
            fc: widths
                .windows(2)
                .map(|w| Linear::new(w[0], w[1]))
                .collect::<Result<Vec<_>>>()?,
        })
    }
}

impl Forward for Lenet {
    /// `[B, C, H, W]` → logits `[B, num_classes]`.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let x = self.conv1.forward(input)?.relu()?.max_pool2d(2)?;
        let mut x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?.flatten(1, -1)?;
        for (i, layer) in self.fc.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 < self.fc.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }
}

/// The transformer classifier of [`TransformerConfig`]. PyTorch equivalent: `embed`
/// (`nn.Linear(C * W, d_model)`), `pos_embedding` (`nn.Parameter` `[1, H, d_model]`), `encoder`
/// (`nn.TransformerEncoder(nn.TransformerEncoderLayer(..., batch_first=True), num_layers)`),
/// `norm` (`nn.LayerNorm(d_model)`), `head` (`nn.Linear(d_model, num_classes)`).
#[derive(Debug, Module)]
pub struct TransformerClassifier {
    embed: Linear,
    #[param]
    pos_embedding: Tensor,
    encoder: TransformerEncoder,
    norm: LayerNorm,
    head: Linear,
}

impl TransformerClassifier {
    pub fn new(c: &TransformerConfig) -> Result<TransformerClassifier> {
        let tokens = c.input.height;
        let layer = TransformerEncoderLayer::with_config(
            c.d_model,
            c.nhead,
            TransformerEncoderLayerConfig::default()
                .dim_feedforward(c.dim_feedforward)
                .dropout(c.dropout)
                .batch_first(true),
        )?;
        Ok(TransformerClassifier {
            embed: Linear::new(c.input.channels * c.input.width, c.d_model)?,
            // As ViT: N(0, 0.02²).
            pos_embedding: parameter(Tensor::randn(&[1, tokens, c.d_model], DType::F32)?.mul_scalar(0.02)?),
            encoder: TransformerEncoder::new(layer, c.num_layers, None)?,
            norm: LayerNorm::new(&[c.d_model])?,
            head: Linear::new(c.d_model, c.input.num_classes)?,
        })
    }
}

impl Forward for TransformerClassifier {
    /// `[B, C, H, W]` → `H` tokens of `C * W` features → logits `[B, num_classes]`.
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let s = input.shape();
        if s.len() != 4 {
            return Err(Error::Shape {
                op: "TransformerClassifier",
                msg: format!("expected images [B, C, H, W], got {s:?}"),
            });
        }
        let tokens = input.permute(&[0, 2, 1, 3])?.reshape(&[s[0], s[2], s[1] * s[3]])?;
        let x = self.embed.forward(&tokens)?.add(&self.pos_embedding)?;
        let x = Forward::forward(&self.encoder, &x)?;
        self.head.forward(&self.norm.forward(&x.mean_dims(&[1], false)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGITS: InputSpec = InputSpec {
        channels: 1,
        height: 8,
        width: 8,
        num_classes: 10,
    };

    #[test]
    fn mlp_has_pytorch_names_and_config_round_trips() {
        let cfg = ModelConfig::preset(ModelKind::Mlp, DIGITS).unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.starts_with("{\"name\":\"mlp\""), "{json}");
        assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), cfg);
        let model = cfg.build().unwrap();
        let names: Vec<String> = model.state_dict().keys().map(str::to_string).collect();
        assert_eq!(
            names,
            [
                "layers.0.weight",
                "layers.0.bias",
                "layers.1.weight",
                "layers.1.bias",
                "layers.2.weight",
                "layers.2.bias"
            ]
        );
        let y = model.forward(&Tensor::zeros(&[3, 1, 8, 8], DType::F32)).unwrap();
        assert_eq!(y.shape(), &[3, 10]);
    }
}
