//! Slice-level CPU kernels for Kiln.
//!
//! Nothing here knows about tensors or autograd: every function takes slices (plus sizes and
//! strides) and writes into an output slice. The tensor layer (`kiln-tensor`) validates shapes
//! and dtypes, then calls these.
//!
//! ```
//! use kiln_kernels::gemm::{gemm, MatLayout};
//! let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
//! let b = [1.0f32, 0.0, 0.0, 1.0]; // identity
//! let mut c = [0.0f32; 4];
//! gemm(2, 2, 2, &a, MatLayout::row_major(0, 2), &b, MatLayout::row_major(0, 2),
//!      &mut c, MatLayout::row_major(0, 2), false);
//! assert_eq!(c, a);
//! ```

pub mod elementwise;
pub mod gemm;
pub mod math;
pub mod num;
pub mod par;
pub mod simd;

pub mod reduce;

pub mod conv;
pub mod pool;

pub mod norm;
pub mod softmax;

pub use num::{Float, Num};
pub use par::{num_threads, set_num_threads};
