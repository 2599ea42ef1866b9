//! Option structs of the convolutions, with PyTorch's defaults and builder methods.

/// A size given once for both spatial dims (`3`) or per dim (`[3, 5]`, `(3, 5)`), as PyTorch
/// accepts `int` or `tuple` arguments.
pub trait ToPair {
    fn to_pair(self) -> [usize; 2];
}

impl ToPair for usize {
    fn to_pair(self) -> [usize; 2] {
        [self, self]
    }
}

impl ToPair for [usize; 2] {
    fn to_pair(self) -> [usize; 2] {
        self
    }
}

impl ToPair for (usize, usize) {
    fn to_pair(self) -> [usize; 2] {
        [self.0, self.1]
    }
}

/// Padding of a convolution: explicit zeros on both sides of each spatial dim, or PyTorch's
/// strings `"same"` (output as large as the input; stride 1 only; an odd total padding puts the
/// extra zero at the end) and `"valid"` (no padding). `P` is `[usize; 2]` for 2-D convolutions
/// and `usize` for 1-D ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<P = [usize; 2]> {
    Explicit(P),
    Same,
    Valid,
}

impl From<usize> for Padding<usize> {
    fn from(p: usize) -> Self {
        Padding::Explicit(p)
    }
}

impl From<usize> for Padding<[usize; 2]> {
    fn from(p: usize) -> Self {
        Padding::Explicit([p, p])
    }
}

impl From<[usize; 2]> for Padding<[usize; 2]> {
    fn from(p: [usize; 2]) -> Self {
        Padding::Explicit(p)
    }
}

impl From<(usize, usize)> for Padding<[usize; 2]> {
    fn from(p: (usize, usize)) -> Self {
        Padding::Explicit([p.0, p.1])
    }
}

/// Options of [`crate::Tensor::conv2d`] (`torch.nn.functional.conv2d`'s keyword arguments).
///
/// `Conv2dOptions::default()` is stride 1, padding 0, dilation 1, groups 1; chain builders to
/// change them: `Conv2dOptions::default().stride(2).padding(1)` or `.padding(Padding::Same)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    pub stride: [usize; 2],
    pub padding: Padding<[usize; 2]>,
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dOptions {
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
}

/// Options of [`crate::Tensor::conv1d`]: like [`Conv2dOptions`] with one spatial dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dOptions {
    pub stride: usize,
    pub padding: Padding<usize>,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions {
            stride: 1,
            padding: Padding::Explicit(0),
            dilation: 1,
            groups: 1,
        }
    }
}

impl Conv1dOptions {
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
}

/// Options of [`crate::Tensor::conv_transpose2d`] (`torch.nn.functional.conv_transpose2d`).
///
/// Defaults: stride 1, padding 0, output_padding 0, dilation 1, groups 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dOptions {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvTranspose2dOptions {
    fn default() -> Self {
        ConvTranspose2dOptions {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl ConvTranspose2dOptions {
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
    pub fn dilation(mut self, d: impl ToPair) -> Self {
        self.dilation = d.to_pair();
        self
    }
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
}
