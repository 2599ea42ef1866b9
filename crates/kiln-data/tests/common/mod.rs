//! Helpers shared by the kiln-data tests.
#![allow(dead_code)]

use kiln_data::TensorDataset;
use kiln_tensor::Tensor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "kiln-data-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` samples: image `i` is `[1, 2, 3]` filled with `i + k / 100` (`k` the flat position),
/// label `i` (i64).
pub fn indexed(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n * 6).map(|j| (j / 6) as f32 + (j % 6) as f32 / 100.0).collect();
    let y: Vec<i64> = (0..n as i64).collect();
    TensorDataset::new(vec![
        Tensor::from_vec(x, &[n, 1, 2, 3]).unwrap(),
        Tensor::from_vec(y, &[n]).unwrap(),
    ])
    .unwrap()
}

/// Gzips `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte` into `dir`, gzipped and
/// named with `.gz` when `gz`.
pub fn write_mnist(dir: &TempDir, prefix: &str, images: &[u8], labels: &[u8], gz: bool) {
    for (kind, bytes) in [("images-idx3", images), ("labels-idx1", labels)] {
        if gz {
            dir.write(&format!("{prefix}-{kind}-ubyte.gz"), &gzip(bytes));
        } else {
            dir.write(&format!("{prefix}-{kind}-ubyte"), bytes);
        }
    }
}
