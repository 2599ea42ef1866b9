//! Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d` (`nn.MaxPool2d`, ...).
//!
//! The window arguments are validated when the layer is built (errors name the layer); the
//! input-dependent checks happen in the tensor ops at `forward`.

use crate::{Forward, Module};
use kiln_tensor::ops::conv::ToPair;
use kiln_tensor::{Error, Pool2dOptions, Result, Tensor};

fn check_window(op: &'static str, o: &Pool2dOptions) -> Result<()> {
    for (what, v) in [
        ("kernel_size", o.kernel_size),
        ("stride", o.stride),
        ("dilation", o.dilation),
    ] {
        if v.contains(&0) {
            return Err(Error::Invalid {
                op,
                msg: format!("{what} must be positive, got {v:?}"),
            });
        }
    }
    if (0..2).any(|i| o.padding[i] > o.kernel_size[i] / 2) {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "padding {:?} should be at most half of kernel_size {:?}",
                o.padding, o.kernel_size
            ),
        });
    }
    Ok(())
}

fn check_rank(op: &'static str, input: &Tensor) -> Result<()> {
    if input.rank() != 3 && input.rank() != 4 {
        return Err(Error::Shape {
            op,
            msg: format!(
                "expected 3-D (unbatched) or 4-D (batched) input, got input of shape {:?}",
                input.shape()
            ),
        });
    }
    Ok(())
}

/// Options of [`MaxPool2d`] beyond the kernel size, with PyTorch's defaults: stride = kernel
/// size (`None`), padding 0, dilation 1, `ceil_mode` false.
#[derive(Clone, Debug, Default)]
pub struct MaxPool2dConfig {
    pub stride: Option<[usize; 2]>,
    pub padding: [usize; 2],
    pub dilation: Option<[usize; 2]>,
    pub ceil_mode: bool,
}

impl MaxPool2dConfig {
    pub fn stride(mut self, s: impl ToPair) -> Self {
        self.stride = Some(s.to_pair());
        self
    }
    pub fn padding(mut self, p: impl ToPair) -> Self {
        self.padding = p.to_pair();
        self
    }
    pub fn dilation(mut self, d: impl ToPair) -> Self {
        self.dilation = Some(d.to_pair());
        self
    }
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
}

/// Max over `kernel_size` windows of `[N, C, H, W]` (or `[C, H, W]`); output size
/// `(H + 2·padding − dilation·(kH − 1) − 1) / stride + 1`, rounded up with `ceil_mode`.
/// No parameters.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct MaxPool2d {
    #[module(skip)]
    pub options: Pool2dOptions,
}

impl MaxPool2d {
    pub fn new(kernel_size: impl ToPair) -> Result<MaxPool2d> {
        Self::with_config(kernel_size, MaxPool2dConfig::default())
    }

    /// Errors on a zero kernel size, stride or dilation, and padding above half the kernel.
    pub fn with_config(kernel_size: impl ToPair, cfg: MaxPool2dConfig) -> Result<MaxPool2d> {
        let k = kernel_size.to_pair();
        let options = Pool2dOptions::new(k)
            .stride(cfg.stride.unwrap_or(k))
            .padding(cfg.padding)
            .dilation(cfg.dilation.unwrap_or([1, 1]))
            .ceil_mode(cfg.ceil_mode);
        check_window("MaxPool2d", &options)?;
        Ok(MaxPool2d { options })
    }
}

impl Forward for MaxPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("MaxPool2d", input)?;
        input.max_pool2d(self.options)
    }
}

/// Options of [`AvgPool2d`] beyond the kernel size, with PyTorch's defaults: stride = kernel
/// size (`None`), padding 0, `ceil_mode` false, `count_include_pad` true, no `divisor_override`.
#[derive(Clone, Debug)]
pub struct AvgPool2dConfig {
    pub stride: Option<[usize; 2]>,
    pub padding: [usize; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

impl Default for AvgPool2dConfig {
    fn default() -> Self {
        AvgPool2dConfig {
            stride: None,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

impl AvgPool2dConfig {
    pub fn stride(mut self, s: impl ToPair) -> Self {
        self.stride = Some(s.to_pair());
        self
    }
    pub fn padding(mut self, p: impl ToPair) -> Self {
        self.padding = p.to_pair();
        self
    }
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
    pub fn count_include_pad(mut self, on: bool) -> Self {
        self.count_include_pad = on;
        self
    }
    pub fn divisor_override(mut self, d: Option<usize>) -> Self {
        self.divisor_override = d;
        self
    }
}

/// Average over `kernel_size` windows of `[N, C, H, W]` (or `[C, H, W]`); output size as
/// [`MaxPool2d`] without dilation. Each window's sum is divided by its size including padding
/// (`count_include_pad`), excluding it, or by `divisor_override`. No parameters.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct AvgPool2d {
    #[module(skip)]
    pub options: Pool2dOptions,
}

impl AvgPool2d {
    pub fn new(kernel_size: impl ToPair) -> Result<AvgPool2d> {
        Self::with_config(kernel_size, AvgPool2dConfig::default())
    }

    /// Errors on a zero kernel size, stride or `divisor_override`, and padding above half the
    /// kernel.
    pub fn with_config(kernel_size: impl ToPair, cfg: AvgPool2dConfig) -> Result<AvgPool2d> {
        let k = kernel_size.to_pair();
        let options = Pool2dOptions::new(k)
            .stride(cfg.stride.unwrap_or(k))
            .padding(cfg.padding)
            .ceil_mode(cfg.ceil_mode)
            .count_include_pad(cfg.count_include_pad)
            .divisor_override(cfg.divisor_override);
        check_window("AvgPool2d", &options)?;
        if cfg.divisor_override == Some(0) {
            return Err(Error::Invalid {
                op: "AvgPool2d",
                msg: "divisor_override must be non-zero, got 0".into(),
            });
        }
        Ok(AvgPool2d { options })
    }
}

impl Forward for AvgPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("AvgPool2d", input)?;
        input.avg_pool2d(self.options)
    }
}

/// Average pooling of `[N, C, H, W]` (or `[C, H, W]`) to a fixed `output_size` `[oH, oW]`:
/// output `(i, j)` averages rows `⌊i·H/oH⌋ .. ⌈(i+1)·H/oH⌉` and the columns alike. No parameters.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct AdaptiveAvgPool2d {
    #[module(skip)]
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    /// Errors on a zero output size.
    pub fn new(output_size: impl ToPair) -> Result<AdaptiveAvgPool2d> {
        let output_size = output_size.to_pair();
        if output_size.contains(&0) {
            return Err(Error::Invalid {
                op: "AdaptiveAvgPool2d",
                msg: format!("output_size must be positive, got {output_size:?}"),
            });
        }
        Ok(AdaptiveAvgPool2d { output_size })
    }
}

impl Forward for AdaptiveAvgPool2d {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        check_rank("AdaptiveAvgPool2d", input)?;
        input.adaptive_avg_pool2d(self.output_size)
    }
}
