//! Convolution layers: `Conv1d`, `Conv2d` and `ConvTranspose2d` (`nn.Conv1d`, `nn.Conv2d`,
//! `nn.ConvTranspose2d`), with PyTorch's weight layouts and default initialization.

use crate::{init, parameter, Forward, Module};
use kiln_tensor::op::PadMode;
use kiln_tensor::ops::conv::ToPair;
use kiln_tensor::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, DType, Error, Padding, Result, Tensor};

/// PyTorch's default init of a convolution: weight kaiming-uniform with `a = √5` (so
/// `U(-1/√fan_in, 1/√fan_in)`), bias `U(-1/√fan_in, 1/√fan_in)`, `fan_in` from the weight
/// (`calculate_fan_in_and_fan_out`, i.e. dim 1 times the kernel size).
fn init_params(
    weight_shape: &[usize],
    out_channels: usize,
    bias: bool,
    dtype: DType,
) -> Result<(Tensor, Option<Tensor>)> {
    let weight = Tensor::zeros(weight_shape, dtype);
    init::kaiming_uniform_(
        &weight,
        5f64.sqrt(),
        init::FanMode::FanIn,
        init::Nonlinearity::LeakyRelu,
    )?;
    let bias = if bias {
        let b = Tensor::zeros(&[out_channels], dtype);
        let (fan_in, _) = init::calculate_fan_in_and_fan_out(&weight)?;
        if fan_in != 0 {
            let bound = 1.0 / (fan_in as f64).sqrt();
            init::uniform_(&b, -bound, bound)?;
        }
        Some(parameter(b))
    } else {
        None
    };
    Ok((parameter(weight), bias))
}

/// Validation shared by the convolution constructors, like PyTorch's `_ConvNd.__init__`.
fn check_args(
    op: &'static str,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    dtype: DType,
    sizes: [(&str, &[usize]); 3],
) -> Result<()> {
    let invalid = |msg: String| Err(Error::Invalid { op, msg });
    if !dtype.is_float() {
        return invalid(format!("parameters must have a floating-point dtype, got {dtype}"));
    }
    if groups == 0 {
        return invalid("groups must be a positive integer, got 0".into());
    }
    if !in_channels.is_multiple_of(groups) {
        return invalid(format!(
            "in_channels ({in_channels}) must be divisible by groups ({groups})"
        ));
    }
    if !out_channels.is_multiple_of(groups) {
        return invalid(format!(
            "out_channels ({out_channels}) must be divisible by groups ({groups})"
        ));
    }
    for (what, v) in sizes {
        if v.contains(&0) {
            return invalid(format!("{what} must be positive, got {v:?}"));
        }
    }
    Ok(())
}

fn check_rank(op: &'static str, input: &Tensor, spatial: usize) -> Result<()> {
    let r = input.rank();
    if r != spatial + 1 && r != spatial + 2 {
        return Err(Error::Shape {
            op,
            msg: format!(
                "expected {}-D (unbatched) or {}-D (batched) input, got input of shape {:?}",
                spatial + 1,
                spatial + 2,
                input.shape()
            ),
        });
    }
    Ok(())
}

fn same_needs_stride_one(op: &'static str, same: bool, stride: &[usize]) -> Result<()> {
    if same && stride.iter().any(|&s| s != 1) {
        return Err(Error::Invalid {
            op,
            msg: format!("padding='same' is not supported for strided convolutions (stride {stride:?})"),
        });
    }
    Ok(())
}

/// How [`Conv1d`] and [`Conv2d`] pad their input (`padding_mode`): with zeros (the default),
/// by reflection without repeating the edge, by repeating the edge, or circularly (wrapping
/// around).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaddingMode {
    #[default]
    Zeros,
    Reflect,
    Replicate,
    Circular,
}

/// `(before, after)` padding of each spatial dim, as PyTorch computes it for a non-zeros
/// `padding_mode` (`"same"` puts the odd extra element after).
fn explicit_pads(explicit: Option<&[usize]>, same: bool, kernel: &[usize], dilation: &[usize]) -> Vec<(usize, usize)> {
    (0..kernel.len())
        .map(|i| match explicit {
            Some(p) => (p[i], p[i]),
            None if same => {
                let total = dilation[i] * (kernel[i] - 1);
                (total / 2, total - total / 2)
            }
            None => (0, 0),
        })
        .collect()
}

/// Pads the trailing `pads.len()` dims of `x` by `mode` (not `Zeros`, which the convolution
/// does itself).
fn pad_input(op: &'static str, x: &Tensor, pads: &[(usize, usize)], mode: PaddingMode) -> Result<Tensor> {
    let first = x.rank() - pads.len();
    match mode {
        PaddingMode::Zeros => Ok(x.clone()),
        PaddingMode::Reflect | PaddingMode::Replicate => {
            let flat: Vec<i64> = pads.iter().rev().flat_map(|&(a, b)| [a as i64, b as i64]).collect();
            let m = if mode == PaddingMode::Reflect {
                PadMode::Reflect
            } else {
                PadMode::Replicate
            };
            x.pad(&flat, m, 0.0)
        }
        PaddingMode::Circular => {
            let mut t = x.clone();
            for (i, &(before, after)) in pads.iter().enumerate() {
                let d = (first + i) as isize;
                let n = t.shape()[first + i];
                if before > n || after > n {
                    return Err(Error::Invalid {
                        op,
                        msg: format!(
                            "circular padding ({before}, {after}) is larger than the input size {n} of dim {d} (input {:?})",
                            x.shape()
                        ),
                    });
                }
                let head = t.narrow(d, n - before, before)?;
                let tail = t.narrow(d, 0, after)?;
                t = Tensor::cat(&[&head, &t, &tail], d)?;
            }
            Ok(t)
        }
    }
}

/// Options of [`Conv2d`] beyond the channels and kernel size, with PyTorch's defaults: stride 1,
/// padding 0 (or [`Padding::Same`] / [`Padding::Valid`]), dilation 1, groups 1, bias,
/// `padding_mode` zeros, f32.
#[derive(Clone, Debug)]
pub struct Conv2dConfig {
    pub stride: [usize; 2],
    pub padding: Padding<[usize; 2]>,
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
    pub padding_mode: PaddingMode,
    pub dtype: DType,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
            bias: true,
            padding_mode: PaddingMode::Zeros,
            dtype: DType::F32,
        }
    }
}

impl Conv2dConfig {
    pub fn stride(mut self, s: impl ToPair) -> Self {
        self.stride = s.to_pair();
        self
    }
    pub fn padding(mut self, p: impl Into<Padding<[usize; 2]>>) -> Self {
        self.padding = p.into();
        self
    }
    pub fn dilation(mut self, d: impl ToPair) -> Self {
        self.dilation = d.to_pair();
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn padding_mode(mut self, mode: PaddingMode) -> Self {
        self.padding_mode = mode;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// 2-D convolution over `[N, C_in, H, W]` (or unbatched `[C_in, H, W]`) giving
/// `[N, C_out, oH, oW]`, `oH = (H + 2·padding − dilation·(kH − 1) − 1) / stride + 1`.
///
/// Parameters: `weight` `[out_channels, in_channels / groups, kH, kW]`, `bias` `[out_channels]`.
/// A `padding_mode` other than zeros pads the input first (PyTorch's `F.pad` then a convolution
/// without padding).
///
/// ```
/// use kiln_nn::{Conv2d, Conv2dConfig, Forward};
/// use kiln_tensor::{DType, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let conv = Conv2d::with_config(1, 6, 5, Conv2dConfig::default().stride(1).padding(2))?;
/// let y = conv.forward(&Tensor::ones(&[2, 1, 28, 28], DType::F32))?;
/// assert_eq!(y.shape(), &[2, 6, 28, 28]);
/// # Ok(()) }
/// ```
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Conv2d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_channels: usize,
    pub out_channels: usize,
    #[module(skip)]
    pub kernel_size: [usize; 2],
    #[module(skip)]
    pub options: Conv2dOptions,
    #[module(skip)]
    pub padding_mode: PaddingMode,
}

impl Conv2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl ToPair) -> Result<Conv2d> {
        Self::with_config(in_channels, out_channels, kernel_size, Conv2dConfig::default())
    }

    /// Errors on channels not divisible by `groups`, a zero kernel size, stride, dilation or
    /// `groups`, `Padding::Same` with a stride other than 1, and a non-float dtype.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl ToPair,
        cfg: Conv2dConfig,
    ) -> Result<Conv2d> {
        let k = kernel_size.to_pair();
        let op = "Conv2d";
        let sizes = [
            ("kernel_size", &k[..]),
            ("stride", &cfg.stride[..]),
            ("dilation", &cfg.dilation[..]),
        ];
        check_args(op, in_channels, out_channels, cfg.groups, cfg.dtype, sizes)?;
        same_needs_stride_one(op, cfg.padding == Padding::Same, &cfg.stride)?;
        let shape = [out_channels, in_channels / cfg.groups, k[0], k[1]];
        let (weight, bias) = init_params(&shape, out_channels, cfg.bias, cfg.dtype)?;
        Ok(Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size: k,
            options: Conv2dOptions {
                stride: cfg.stride,
                padding: cfg.padding,
                dilation: cfg.dilation,
                groups: cfg.groups,
            },
            padding_mode: cfg.padding_mode,
        })
    }
}

impl Forward for Conv2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("Conv2d", input, 2)?;
        if self.padding_mode == PaddingMode::Zeros {
            return input.conv2d(&self.weight, self.bias.as_ref(), self.options);
        }
        let explicit = match &self.options.padding {
            Padding::Explicit(p) => Some(&p[..]),
            _ => None,
        };
        let same = self.options.padding == Padding::Same;
        let pads = explicit_pads(explicit, same, &self.kernel_size, &self.options.dilation);
        let x = pad_input("Conv2d", input, &pads, self.padding_mode)?;
        let opts = Conv2dOptions {
            padding: Padding::Valid,
            ..self.options
        };
        x.conv2d(&self.weight, self.bias.as_ref(), opts)
    }
}

/// Options of [`Conv1d`] beyond the channels and kernel size: like [`Conv2dConfig`] with one
/// spatial dim.
#[derive(Clone, Debug)]
pub struct Conv1dConfig {
    pub stride: usize,
    pub padding: Padding<usize>,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
    pub padding_mode: PaddingMode,
    pub dtype: DType,
}

impl Default for Conv1dConfig {
    fn default() -> Self {
        Conv1dConfig {
            stride: 1,
            padding: Padding::Explicit(0),
            dilation: 1,
            groups: 1,
            bias: true,
            padding_mode: PaddingMode::Zeros,
            dtype: DType::F32,
        }
    }
}

impl Conv1dConfig {
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    pub fn padding(mut self, p: impl Into<Padding<usize>>) -> Self {
        self.padding = p.into();
        self
    }
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = d;
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn padding_mode(mut self, mode: PaddingMode) -> Self {
        self.padding_mode = mode;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// 1-D convolution over `[N, C_in, L]` (or unbatched `[C_in, L]`) giving `[N, C_out, oL]`.
///
/// Parameters: `weight` `[out_channels, in_channels / groups, kL]`, `bias` `[out_channels]`.
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct Conv1d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    #[module(skip)]
    pub options: Conv1dOptions,
    #[module(skip)]
    pub padding_mode: PaddingMode,
}

impl Conv1d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Result<Conv1d> {
        Self::with_config(in_channels, out_channels, kernel_size, Conv1dConfig::default())
    }

    /// Errors as [`Conv2d::with_config`].
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        cfg: Conv1dConfig,
    ) -> Result<Conv1d> {
        let op = "Conv1d";
        let sizes = [
            ("kernel_size", &[kernel_size][..]),
            ("stride", &[cfg.stride][..]),
            ("dilation", &[cfg.dilation][..]),
        ];
        check_args(op, in_channels, out_channels, cfg.groups, cfg.dtype, sizes)?;
        same_needs_stride_one(op, cfg.padding == Padding::Same, &[cfg.stride])?;
        let shape = [out_channels, in_channels / cfg.groups, kernel_size];
        let (weight, bias) = init_params(&shape, out_channels, cfg.bias, cfg.dtype)?;
        Ok(Conv1d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size,
            options: Conv1dOptions {
                stride: cfg.stride,
                padding: cfg.padding,
                dilation: cfg.dilation,
                groups: cfg.groups,
            },
            padding_mode: cfg.padding_mode,
        })
    }
}

impl Forward for Conv1d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("Conv1d", input, 1)?;
        if self.padding_mode == PaddingMode::Zeros {
            return input.conv1d(&self.weight, self.bias.as_ref(), self.options);
        }
        let explicit = match &self.options.padding {
            Padding::Explicit(p) => Some(std::slice::from_ref(p)),
            _ => None,
        };
        let same = self.options.padding == Padding::Same;
        let pads = explicit_pads(explicit, same, &[self.kernel_size], &[self.options.dilation]);
        let x = pad_input("Conv1d", input, &pads, self.padding_mode)?;
        let opts = Conv1dOptions {
            padding: Padding::Valid,
            ..self.options
        };
        x.conv1d(&self.weight, self.bias.as_ref(), opts)
    }
}

/// Options of [`ConvTranspose2d`] beyond the channels and kernel size, with PyTorch's defaults:
/// stride 1, padding 0, output_padding 0, groups 1, bias, dilation 1, f32.
#[derive(Clone, Debug)]
pub struct ConvTranspose2dConfig {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub groups: usize,
    pub bias: bool,
    pub dilation: [usize; 2],
    pub dtype: DType,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        ConvTranspose2dConfig {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            groups: 1,
            bias: true,
            dilation: [1, 1],
            dtype: DType::F32,
        }
    }
}

impl ConvTranspose2dConfig {
    pub fn stride(mut self, s: impl ToPair) -> Self {
        self.stride = s.to_pair();
        self
    }
    pub fn padding(mut self, p: impl ToPair) -> Self {
        self.padding = p.to_pair();
        self
    }
    pub fn output_padding(mut self, p: impl ToPair) -> Self {
        self.output_padding = p.to_pair();
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn dilation(mut self, d: impl ToPair) -> Self {
        self.dilation = d.to_pair();
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// 2-D transposed convolution over `[N, C_in, H, W]` (or unbatched `[C_in, H, W]`) giving
/// `[N, C_out, oH, oW]`, `oH = (H − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1`.
///
/// Parameters: `weight` `[in_channels, out_channels / groups, kH, kW]`, `bias` `[out_channels]`;
/// default init as PyTorch, with `fan_in = (out_channels / groups)·kH·kW` (the weight's dim 1).
#[derive(Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct ConvTranspose2d {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_channels: usize,
    pub out_channels: usize,
    #[module(skip)]
    pub kernel_size: [usize; 2],
    #[module(skip)]
    pub options: ConvTranspose2dOptions,
}

impl ConvTranspose2d {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl ToPair) -> Result<ConvTranspose2d> {
        Self::with_config(in_channels, out_channels, kernel_size, ConvTranspose2dConfig::default())
    }

    /// Errors as [`Conv2d::with_config`], and on an output padding not smaller than either the
    /// stride or the dilation.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl ToPair,
        cfg: ConvTranspose2dConfig,
    ) -> Result<ConvTranspose2d> {
        let k = kernel_size.to_pair();
        let op = "ConvTranspose2d";
        let sizes = [
            ("kernel_size", &k[..]),
            ("stride", &cfg.stride[..]),
            ("dilation", &cfg.dilation[..]),
        ];
        check_args(op, in_channels, out_channels, cfg.groups, cfg.dtype, sizes)?;
        let op_ = cfg.output_padding;
        if (0..2).any(|i| op_[i] >= cfg.stride[i] && op_[i] >= cfg.dilation[i]) {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "output_padding {op_:?} must be smaller than either stride {:?} or dilation {:?}",
                    cfg.stride, cfg.dilation
                ),
            });
        }
        let shape = [in_channels, out_channels / cfg.groups, k[0], k[1]];
        let (weight, bias) = init_params(&shape, out_channels, cfg.bias, cfg.dtype)?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size: k,
            options: ConvTranspose2dOptions {
                stride: cfg.stride,
                padding: cfg.padding,
                output_padding: cfg.output_padding,
                dilation: cfg.dilation,
                groups: cfg.groups,
            },
        })
    }
}

impl Forward for ConvTranspose2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("ConvTranspose2d", input, 2)?;
        input.conv_transpose2d(&self.weight, self.bias.as_ref(), self.options)
    }
}
