//! The error type of every fallible tensor operation.

use crate::dtype::DType;

/// What went wrong, with the op's name and the shapes and dtypes involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shapes that do not fit together: `matmul: inner dims differ: [32, 784] x [512, 784]`.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    /// A dtype the op does not accept.
    #[error("{op}: unsupported dtype {dtype}{}", if .hint.is_empty() { String::new() } else { format!(" ({})", .hint) })]
    DType {
        op: &'static str,
        dtype: DType,
        hint: String,
    },
    /// Two operands whose dtypes must agree but do not.
    #[error("{op}: dtype mismatch: {lhs} vs {rhs}")]
    DTypeMismatch { op: &'static str, lhs: DType, rhs: DType },
    /// A dimension index out of range for the tensor's rank.
    #[error("{op}: dimension {dim} out of range for a tensor of rank {rank}")]
    Dim { op: &'static str, dim: isize, rank: usize },
    /// An index or argument out of range or invalid.
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
    /// An autograd misuse (no graph, in-place change of a saved tensor, ...).
    #[error("autograd: {0}")]
    Autograd(String),
    /// A file that cannot be read or written, or whose contents are malformed: names the file and
    /// the problem (`data/train.idx: truncated: header says 60000 images, file holds 1200`).
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

/// `Result` with Kiln's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::File`] for `path` (shown as given).
    pub fn file(path: impl AsRef<std::path::Path>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().display().to_string(),
            msg: msg.into(),
        }
    }
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }
    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid { op, msg: msg.into() }
    }
    pub(crate) fn dtype(op: &'static str, dtype: DType, hint: impl Into<String>) -> Self {
        Error::DType {
            op,
            dtype,
            hint: hint.into(),
        }
    }
}

/// Unwraps a `Result` in an operator (`&a + &b`), panicking with the error's message at the
/// caller's line, the way slice indexing does.
pub(crate) trait OrPanic<T> {
    fn or_panic(self) -> T;
}

impl<T> OrPanic<T> for Result<T> {
    #[track_caller]
    #[inline]
    fn or_panic(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}
