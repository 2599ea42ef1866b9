//! Dispatch of the `conv_pool` fixtures (convolutions and pooling) to Kiln.

use super::fixtures::{one, pair, Args, Inputs, OpError, OpResult};
use kiln_tensor::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, Padding, Pool2dOptions};

/// `padding` of a 1-D convolution: an integer or `"same"`.
fn padding1(a: &Args) -> Result<Padding<usize>, OpError> {
    Ok(match a.opt_str("padding") {
        Some("same") => Padding::Same,
        Some("valid") => Padding::Valid,
        Some(other) => return Err(OpError::Fixture(format!("unknown padding {other:?}"))),
        None => Padding::Explicit(a.usize("padding")?),
    })
}

/// `padding` of a 2-D convolution: a list of two integers or `"same"`.
fn padding2(a: &Args) -> Result<Padding<[usize; 2]>, OpError> {
    Ok(match a.opt_str("padding") {
        Some("same") => Padding::Same,
        Some("valid") => Padding::Valid,
        Some(other) => return Err(OpError::Fixture(format!("unknown padding {other:?}"))),
        None => Padding::Explicit(a.usize2("padding")?),
    })
}

/// The Kiln call of a `conv_pool` fixture op; other ops are unknown.
pub fn kiln_op(op: &str, a: &Args, x: &Inputs) -> OpResult {
    match op {
        "conv1d" => {
            let opts = Conv1dOptions::default()
                .stride(a.usize("stride")?)
                .padding(padding1(a)?)
                .dilation(a.usize("dilation")?)
                .groups(a.usize("groups")?);
            one(x[0].conv1d(&x[1], x.opt("bias"), opts))
        }
        "conv2d" => {
            let opts = Conv2dOptions::default()
                .stride(a.usize2("stride")?)
                .padding(padding2(a)?)
                .dilation(a.usize2("dilation")?)
                .groups(a.usize("groups")?);
            one(x[0].conv2d(&x[1], x.opt("bias"), opts))
        }
        "conv_transpose2d" => {
            let opts = ConvTranspose2dOptions::default()
                .stride(a.usize2("stride")?)
                .padding(a.usize2("padding")?)
                .output_padding(a.usize2("output_padding")?)
                .dilation(a.usize2("dilation")?)
                .groups(a.usize("groups")?);
            one(x[0].conv_transpose2d(&x[1], x.opt("bias"), opts))
        }
        // PyTorch's `return_indices=True`: (values, int64 indices).
        "max_pool2d" => {
            let opts = Pool2dOptions::new(a.usize2("kernel_size")?)
                .stride(a.usize2("stride")?)
                .padding(a.usize2("padding")?)
                .dilation(a.usize2("dilation")?)
                .ceil_mode(a.bool("ceil_mode")?);
            pair(x[0].max_pool2d_with_indices(opts))
        }
        "avg_pool2d" => {
            let divisor = if a.is_none("divisor_override") {
                None
            } else {
                Some(a.usize("divisor_override")?)
            };
            let opts = Pool2dOptions::new(a.usize2("kernel_size")?)
                .stride(a.usize2("stride")?)
                .padding(a.usize2("padding")?)
                .ceil_mode(a.bool("ceil_mode")?)
                .count_include_pad(a.bool("count_include_pad")?)
                .divisor_override(divisor);
            one(x[0].avg_pool2d(opts))
        }
        "adaptive_avg_pool2d" => one(x[0].adaptive_avg_pool2d(a.usize2("output_size")?)),
        _ => Err(OpError::Unknown),
    }
}
