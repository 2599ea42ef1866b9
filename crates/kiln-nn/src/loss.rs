//! Loss functions as values (`nn.CrossEntropyLoss()`, `nn.MSELoss()`, ...), holding their options
//! and calling `kiln_tensor::functional`. Losses have no parameters; `forward(input, target)`.

use kiln_tensor::functional::{self as F, CrossEntropyOptions, KlReduction, Reduction};
use kiln_tensor::{Result, Tensor};

/// `nn.CrossEntropyLoss`: log-softmax over dim 1 (or 0 for unbatched input) and negative
/// log-likelihood, with class indices or class probabilities as target.
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub label_smoothing: f64,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        CrossEntropyLoss {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

impl CrossEntropyLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn weight(mut self, w: Tensor) -> Self {
        self.weight = Some(w);
        self
    }
    pub fn ignore_index(mut self, i: i64) -> Self {
        self.ignore_index = i;
        self
    }
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
    pub fn label_smoothing(mut self, s: f64) -> Self {
        self.label_smoothing = s;
        self
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::cross_entropy(
            input,
            target,
            CrossEntropyOptions {
                weight: self.weight.as_ref(),
                ignore_index: self.ignore_index,
                reduction: self.reduction,
                label_smoothing: self.label_smoothing,
            },
        )
    }
}

/// `nn.NLLLoss`: negative log-likelihood of log-probabilities.
#[derive(Clone, Debug)]
pub struct NLLLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
}

impl Default for NLLLoss {
    fn default() -> Self {
        NLLLoss {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
        }
    }
}

impl NLLLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::nll_loss(input, target, self.weight.as_ref(), self.ignore_index, self.reduction)
    }
}

macro_rules! reduction_loss {
    ($(#[$doc:meta])* $name:ident, $f:path) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            pub reduction: Reduction,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { reduction: Reduction::Mean }
            }
        }

        impl $name {
            pub fn new() -> Self {
                Self::default()
            }
            pub fn reduction(reduction: Reduction) -> Self {
                $name { reduction }
            }
            pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
                $f(input, target, self.reduction)
            }
        }
    };
}

reduction_loss!(
    /// `nn.MSELoss`: squared error.
    MSELoss,
    F::mse_loss
);
reduction_loss!(
    /// `nn.L1Loss`: absolute error.
    L1Loss,
    F::l1_loss
);

/// `nn.SmoothL1Loss` (Huber with `beta`).
#[derive(Clone, Copy, Debug)]
pub struct SmoothL1Loss {
    pub reduction: Reduction,
    pub beta: f64,
}

impl Default for SmoothL1Loss {
    fn default() -> Self {
        SmoothL1Loss {
            reduction: Reduction::Mean,
            beta: 1.0,
        }
    }
}

impl SmoothL1Loss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::smooth_l1_loss(input, target, self.reduction, self.beta)
    }
}

/// `nn.BCELoss`: binary cross entropy of probabilities.
#[derive(Clone, Debug)]
pub struct BCELoss {
    pub weight: Option<Tensor>,
    pub reduction: Reduction,
}

impl Default for BCELoss {
    fn default() -> Self {
        BCELoss {
            weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl BCELoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::binary_cross_entropy(input, target, self.weight.as_ref(), self.reduction)
    }
}

/// `nn.BCEWithLogitsLoss`: sigmoid and binary cross entropy in one stable step.
#[derive(Clone, Debug)]
pub struct BCEWithLogitsLoss {
    pub weight: Option<Tensor>,
    pub pos_weight: Option<Tensor>,
    pub reduction: Reduction,
}

impl Default for BCEWithLogitsLoss {
    fn default() -> Self {
        BCEWithLogitsLoss {
            weight: None,
            pos_weight: None,
            reduction: Reduction::Mean,
        }
    }
}

impl BCEWithLogitsLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::binary_cross_entropy_with_logits(
            input,
            target,
            self.weight.as_ref(),
            self.pos_weight.as_ref(),
            self.reduction,
        )
    }
}

/// `nn.KLDivLoss`: input holds log-probabilities; target probabilities (or log-probabilities
/// with `log_target`).
#[derive(Clone, Copy, Debug)]
pub struct KLDivLoss {
    pub reduction: KlReduction,
    pub log_target: bool,
}

impl Default for KLDivLoss {
    fn default() -> Self {
        KLDivLoss {
            reduction: KlReduction::Mean,
            log_target: false,
        }
    }
}

impl KLDivLoss {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::kl_div(input, target, self.reduction, self.log_target)
    }
}
