//! Options of 2-D max and average pooling.

use crate::ops::conv::ToPair;

/// Window of [`crate::Tensor::max_pool2d`] and [`crate::Tensor::avg_pool2d`], with PyTorch's
/// defaults: `Pool2dOptions::new(kernel_size)` has stride = kernel_size, padding 0, dilation 1,
/// `ceil_mode` false, `count_include_pad` true and no `divisor_override`. A plain kernel size converts into options,
/// so `x.max_pool2d(2)` and `x.max_pool2d(Pool2dOptions::new(3).stride(2).padding(1))` both
/// work.
///
/// `dilation` applies to max pooling only (average pooling rejects a dilation other than 1),
/// `count_include_pad` and `divisor_override` to average pooling only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dOptions {
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    /// Average pooling divides every window's sum by this instead of its size (`Some(0)` is an
    /// error).
    pub divisor_override: Option<usize>,
}

impl Pool2dOptions {
    pub fn new(kernel_size: impl ToPair) -> Self {
        let k = kernel_size.to_pair();
        Pool2dOptions {
            kernel_size: k,
            stride: k,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
    pub fn stride(mut self, s: impl ToPair) -> Self {
        self.stride = s.to_pair();
        self
    }
    pub fn padding(mut self, p: impl ToPair) -> Self {
        self.padding = p.to_pair();
        self
    }
    pub fn dilation(mut self, d: impl ToPair) -> Self {
        self.dilation = d.to_pair();
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

impl From<usize> for Pool2dOptions {
    fn from(k: usize) -> Self {
        Pool2dOptions::new(k)
    }
}

impl From<[usize; 2]> for Pool2dOptions {
    fn from(k: [usize; 2]) -> Self {
        Pool2dOptions::new(k)
    }
}
