//! Kiln's tensor core: [`Tensor`] with runtime dtypes and strided views, eager ops, and
//! define-by-run autograd.
//!
//! ```
//! use kiln_tensor::{tensor, Tensor, DType};
//! # fn main() -> kiln_tensor::Result<()> {
//! let w = tensor!([[1.0, 2.0], [3.0, 4.0]]).requires_grad_(true);
//! let x = tensor!([1.0, -1.0]);
//! let loss = w.matmul(&x)?.relu()?.sum()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![0.0, 0.0, 0.0, 0.0]);
//! # Ok(()) }
//! ```

pub mod backward;
mod display;
pub mod dtype;
pub mod error;
mod grad_mode;
mod inplace;
pub mod layout;
pub mod op;
mod operators;
pub mod ops;
pub mod random;
mod storage;
mod tensor;
pub mod testing;

/// Free-function forms of the nn functions and the losses, named as in `torch.nn.functional`.
///
/// ```
/// use kiln_tensor::functional::{self as F, CrossEntropyOptions};
/// use kiln_tensor::tensor;
/// # fn main() -> kiln_tensor::Result<()> {
/// let logits = tensor!([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]).requires_grad_(true);
/// let target = tensor!([0, 2]);
/// let loss = F::cross_entropy(&logits, &target, CrossEntropyOptions::default())?;
/// loss.backward()?;
/// let p = F::softmax(&logits, -1)?;
/// assert_eq!(logits.grad().unwrap().shape(), p.shape());
/// # Ok(()) }
/// ```
pub mod functional {
    pub use crate::ops::loss::{
        binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, kl_div, l1_loss, mse_loss, nll_loss,
        smooth_l1_loss, CrossEntropyOptions, KlReduction, Reduction,
    };
    pub use crate::ops::nn::{
        batch_norm, dropout, embedding, group_norm, layer_norm, log_softmax, rms_norm, scaled_dot_product_attention,
        softmax,
    };
}

pub use backward::{grad, BackwardOptions};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use grad_mode::{enable_grad, is_grad_enabled, no_grad, GradModeGuard};
pub use layout::Layout;
pub use ops::conv::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, Padding};
pub use ops::creation::NdArray;
pub use ops::indexing::{s, Ellipsis, IndexItem, NewAxis, Slice};
pub use ops::pool::Pool2dOptions;
pub use ops::view::ShapeArg;
pub use random::{get_rng_state, manual_seed, set_rng_state, Generator};
pub use storage::Storage;
pub use tensor::{Device, Tensor, TensorId};

/// Builds a tensor from a nested literal, with PyTorch's default dtypes: float literals give
/// `float32`, integer literals `int64`, booleans `bool`.
///
/// ```
/// use kiln_tensor::{tensor, DType};
/// let t = tensor!([[1.0, 2.0], [3.0, 4.0]]);
/// assert_eq!(t.shape(), &[2, 2]);
/// assert_eq!(t.dtype(), DType::F32);
/// assert_eq!(tensor!([1, 2, 3]).dtype(), DType::I64);
/// ```
#[macro_export]
macro_rules! tensor {
    ($($t:tt)+) => {
        $crate::Tensor::new(&$($t)+).into_default_dtype()
    };
}

impl Tensor {
    /// Maps f64 to f32 and i32 to i64 (how untyped Rust literals arrive in `tensor!`).
    #[doc(hidden)]
    pub fn into_default_dtype(self) -> Tensor {
        let target = match self.dtype() {
            DType::F64 => DType::F32,
            DType::I32 => DType::I64,
            _ => return self,
        };
        self.to_dtype(target)
            .expect("conversion between numeric dtypes cannot fail")
    }
}
