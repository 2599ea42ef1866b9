//! The op vocabulary shared by autograd, the graph IR and ONNX: each recorded node is one
//! `OpKind` with its attributes. Composite ops (mse_loss, stack, var, ...) are recorded as the
//! primitives they are built from.

use crate::dtype::DType;

/// Elementwise ops of one tensor with no attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Square,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    Silu,
    Erf,
    GeluErf,
    GeluTanh,
    Sign,
    Floor,
    Ceil,
    Round,
}

/// Elementwise ops of two broadcast tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
}

/// Comparisons, giving bool tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Padding modes of `pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PadMode {
    Constant,
    Reflect,
    Replicate,
}

/// Attributes of 2-D convolution (also used for 1-D with a unit height).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

/// Attributes of 2-D transposed convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

/// Attributes of 2-D pooling windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    /// Average pooling's divisor for every window instead of the window size (non-zero).
    pub divisor_override: Option<usize>,
}

/// One recorded operation. `inputs` of the node are in the order the variant documents;
/// extra tensors it saves for backward are listed too.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpKind {
    // ---- elementwise ----
    Unary(UnaryOp),
    LeakyRelu {
        negative_slope: f64,
    },
    Elu {
        alpha: f64,
    },
    /// `log(1 + exp(beta x)) / beta`, linear above `threshold`.
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    PowScalar {
        exponent: f64,
    },
    Binary(BinaryOp),
    Compare(CmpOp),
    LogicalAnd,
    LogicalOr,
    LogicalNot,
    /// inputs: condition, x, y.
    Where,
    /// inputs: x, mask.
    MaskedFill {
        value: f64,
    },
    ToDType(DType),

    // ---- reductions (dims normalized and sorted) ----
    Sum {
        dims: Vec<usize>,
        keepdim: bool,
    },
    Mean {
        dims: Vec<usize>,
        keepdim: bool,
    },
    Prod {
        dims: Vec<usize>,
        keepdim: bool,
    },
    /// Max/min along one dim; saves the indices.
    MaxDim {
        dim: usize,
        keepdim: bool,
    },
    MinDim {
        dim: usize,
        keepdim: bool,
    },
    /// Max/min over several dims (gradient split evenly among ties, as PyTorch's amax).
    Amax {
        dims: Vec<usize>,
        keepdim: bool,
    },
    Amin {
        dims: Vec<usize>,
        keepdim: bool,
    },
    LogSumExp {
        dims: Vec<usize>,
        keepdim: bool,
    },
    Cumsum {
        dim: usize,
    },
    /// The vector `p`-norm over `dims` (finite, nonzero `p`).
    Norm {
        p: f64,
        dims: Vec<usize>,
        keepdim: bool,
    },
    /// Values of a stable sort along `dim`; saves the indices.
    Sort {
        dim: usize,
        descending: bool,
    },
    /// The `k` best values along `dim`; saves the indices.
    TopK {
        k: usize,
        dim: usize,
        largest: bool,
    },
    /// Elements picked along `dim` at the saved indices (the values of sort/topk, and their
    /// gradients' gradient).
    TakeAlong {
        dim: usize,
    },
    /// Zeros of the output shape with the input added at the saved indices along `dim` (the
    /// gradient of [`OpKind::TakeAlong`], [`OpKind::Sort`], [`OpKind::TopK`], max/min along a dim).
    PutAlong {
        dim: usize,
    },

    // ---- linear algebra ----
    /// NumPy-semantics matmul of the two inputs.
    Matmul,

    // ---- views and layout ----
    Reshape,
    Permute(Vec<usize>),
    /// Elements `start, start+step, ...` along `dim`, `len` of them.
    Slice {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
    },
    /// Integer index along `dim` (the dim is removed).
    Select {
        dim: usize,
        index: usize,
    },
    Expand,
    Contiguous,
    /// `base` with the slice `start, start+step, ...` of `dim` replaced by `src`;
    /// inputs: base, src (PyTorch's `slice_scatter`, the backward of slicing).
    SliceScatter {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
    },

    // ---- indexing and shape ----
    Cat {
        dim: usize,
    },
    /// inputs: x, index.
    IndexSelect {
        dim: usize,
    },
    /// inputs: x, index.
    Gather {
        dim: usize,
    },
    /// inputs: x, index, src.
    Scatter {
        dim: usize,
    },
    /// inputs: x, index, src.
    ScatterAdd {
        dim: usize,
    },
    /// inputs: x, index, src.
    IndexAdd {
        dim: usize,
    },
    /// Per-dim (before, after) padding, outermost first; negative entries crop.
    Pad {
        pads: Vec<(i64, i64)>,
        mode: PadMode,
        value: f64,
    },
    Tril {
        diagonal: i64,
    },
    Triu {
        diagonal: i64,
    },
    Flip {
        dims: Vec<usize>,
    },
    Roll {
        shifts: Vec<i64>,
        dims: Vec<usize>,
    },

    // ---- neural-network functions ----
    /// inputs: x [N, C, H, W], weight, optional bias.
    Conv2d(Conv2dParams),
    /// inputs: x, weight, optional bias.
    ConvTranspose2d(ConvTranspose2dParams),
    /// Gradient of conv2d with respect to its weight (`kernel` is the weight's spatial size);
    /// inputs: x (the convolution's input), grad_output.
    Conv2dWeightGrad {
        params: Conv2dParams,
        kernel: [usize; 2],
    },
    /// saves: the argmax indices (flat per plane).
    MaxPool2d(Pool2dParams),
    /// Gradient of max pooling: adds each grad_output element at its saved argmax position in
    /// planes of `input_size`; inputs: grad_output; saves: the indices.
    MaxPool2dBackward {
        input_size: [usize; 2],
    },
    /// The elements of each plane at the saved argmax positions (max pooling with known
    /// indices); inputs: x; saves: the indices.
    MaxPool2dGather,
    AvgPool2d(Pool2dParams),
    /// Gradient of average pooling over planes of `input_size`; inputs: grad_output.
    AvgPool2dBackward {
        params: Pool2dParams,
        input_size: [usize; 2],
    },
    AdaptiveAvgPool2d {
        output_size: [usize; 2],
    },
    /// Gradient of adaptive average pooling over planes of `input_size`; inputs: grad_output.
    AdaptiveAvgPool2dBackward {
        input_size: [usize; 2],
    },
    Softmax {
        dim: usize,
    },
    LogSoftmax {
        dim: usize,
    },
    /// Normalizes over the last `normalized_dims` dims; inputs: x, then the weight when a weight
    /// or a bias is given (ones when only a bias is), then the bias when given.
    /// saves: mean and rstd (shape of x with the normalized dims kept as 1).
    LayerNorm {
        normalized_dims: usize,
        eps: f64,
    },
    /// saves: the keep mask (already scaled by 1/(1-p)).
    Dropout {
        p: f64,
    },
    /// inputs: weight, indices.
    Embedding {
        padding_idx: Option<i64>,
    },
    /// The gradient of `Embedding` with respect to its weight: rows of the output gradient
    /// summed into a `[num_weights, dim]` tensor (rows at `padding_idx` skipped).
    /// inputs: grad_output, indices.
    EmbeddingBackward {
        num_weights: usize,
        padding_idx: Option<i64>,
    },
}

impl OpKind {
    /// A short name for messages (`matmul`, `conv2d`, ...).
    pub fn name(&self) -> String {
        let dbg = format!("{self:?}");
        let head = dbg.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
        match self {
            OpKind::Unary(u) => format!("{u:?}").to_lowercase(),
            OpKind::Binary(b) => format!("{b:?}").to_lowercase(),
            OpKind::Compare(c) => format!("{c:?}").to_lowercase(),
            _ => head.to_lowercase(),
        }
    }
}
