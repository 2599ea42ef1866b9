//! The bundled data sets and the MNIST readers: contents, and an `Error::File` naming the file
//! for every malformed, truncated or missing input.

mod common;

use common::{gzip, write_mnist, TempDir};
use kiln_data::{datasets, Dataset, TensorDataset};
use kiln_tensor::{DType, Error, Result};
use std::io::Read;

fn histogram(ds: &TensorDataset) -> Vec<usize> {
    let mut h = vec![0; 10];
    for l in ds.tensors()[1].to_vec::<i64>().unwrap() {
        h[l as usize] += 1;
    }
    h
}

fn repo_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

/// The error's path and message, or a failure when it is not an `Error::File`.
fn file_error(r: Result<TensorDataset>) -> (String, String) {
    match r {
        Err(Error::File { path, msg }) => (path, msg),
        Err(e) => panic!("expected Error::File, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn digits_has_1797_images_scaled_to_unit_range() {
    let ds = datasets::digits().unwrap();
    assert_eq!(ds.len(), 1797);
    let (x, y) = (&ds.tensors()[0], &ds.tensors()[1]);
    assert_eq!((x.shape(), x.dtype()), (&[1797, 1, 8, 8][..], DType::F32));
    assert_eq!((y.shape(), y.dtype()), (&[1797][..], DType::I64));
    assert_eq!(histogram(&ds), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    let v = x.to_vec::<f32>().unwrap();
    assert_eq!(v.iter().cloned().fold(f32::INFINITY, f32::min), 0.0);
    assert_eq!(v.iter().cloned().fold(f32::NEG_INFINITY, f32::max), 1.0);

    // The first image is the CSV's first line divided by 16.
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(repo_file("digits.csv.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let first: Vec<f32> = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|f| f.parse().unwrap())
        .collect();
    let sample = ds.get(0).unwrap();
    let want: Vec<f32> = first[..64].iter().map(|p| p / 16.0).collect();
    assert_eq!(sample[0].to_vec::<f32>().unwrap(), want);
    assert_eq!(sample[1].item::<i64>().unwrap(), first[64] as i64);
    assert_eq!(&want[..4], &[0.0, 0.0, 0.3125, 0.8125]);
}

#[test]
fn digits_split_is_fixed_by_its_seed() {
    let (train, val) = datasets::digits_split(0.2, 0).unwrap();
    assert_eq!((train.len(), val.len()), (1438, 359));
    assert_eq!(train.tensors()[0].shape(), &[1438, 1, 8, 8]);
    let full = histogram(&datasets::digits().unwrap());
    let sum: Vec<usize> = histogram(&train)
        .iter()
        .zip(histogram(&val))
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(sum, full);
    let (train2, _) = datasets::digits_split(0.2, 0).unwrap();
    assert_eq!(
        train.tensors()[1].to_vec::<i64>().unwrap(),
        train2.tensors()[1].to_vec::<i64>().unwrap()
    );
    let (train3, _) = datasets::digits_split(0.2, 1).unwrap();
    assert_ne!(
        train.tensors()[1].to_vec::<i64>().unwrap(),
        train3.tensors()[1].to_vec::<i64>().unwrap()
    );
    let (all, none) = datasets::digits_split(0.0, 0).unwrap();
    assert_eq!((all.len(), none.len()), (1797, 0));
    assert!(datasets::digits_split(1.5, 0).is_err());
    assert!(datasets::digits_split(f64::NAN, 0).is_err());
}

#[test]
fn mnist_csv_reads_the_5000_image_subset() {
    let ds = datasets::mnist_csv(repo_file("mnist_5k.csv.gz")).unwrap();
    assert_eq!(ds.len(), 5000);
    assert_eq!(ds.tensors()[0].shape(), &[5000, 1, 28, 28]);
    assert_eq!(histogram(&ds), vec![500; 10]);
    let v = ds.tensors()[0].to_vec::<f32>().unwrap();
    assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
    // The embedded copy is the same data.
    let embedded = datasets::mnist_5k().unwrap();
    assert_eq!(embedded.tensors()[0].to_vec::<f32>().unwrap(), v);
    assert_eq!(
        embedded.tensors()[1].to_vec::<i64>().unwrap(),
        ds.tensors()[1].to_vec::<i64>().unwrap()
    );
}

/// A valid MNIST CSV line: pixel `k` is `(k + seed) % 256`, then `label`.
fn csv_line(seed: usize, label: i64) -> String {
    let mut f: Vec<String> = (0..784).map(|k| ((k + seed) % 256).to_string()).collect();
    f.push(label.to_string());
    f.join(",")
}

#[test]
fn mnist_csv_small_files_plain_and_gzipped() {
    let dir = TempDir::new("csv");
    let text = format!("{}\r\n{}\n\n", csv_line(0, 3), csv_line(5, 9));
    for (name, bytes) in [("a.csv", text.as_bytes().to_vec()), ("a.csv.gz", gzip(text.as_bytes()))] {
        let ds = datasets::mnist_csv(dir.write(name, &bytes)).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.tensors()[1].to_vec::<i64>().unwrap(), vec![3, 9]);
        let x = ds.tensors()[0].to_vec::<f32>().unwrap();
        assert_eq!(x[1], 1.0 / 255.0);
        assert_eq!(x[784 + 250], 255.0 / 255.0);
    }
}

#[test]
fn mnist_csv_errors_name_the_file_and_line() {
    let dir = TempDir::new("csv-bad");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "short.csv",
            format!("{}\n1,2,3\n", csv_line(0, 1)).into_bytes(),
            "line 2: expected 785 fields (784 pixels, then the label), got 3",
        ),
        (
            "long.csv",
            format!("{},7\n", csv_line(0, 1)).into_bytes(),
            "line 1: expected 785 fields (784 pixels, then the label), got 786",
        ),
        (
            "pixel.csv",
            csv_line(0, 1).replacen("0,", "256,", 1).into_bytes(),
            "line 1: pixel 1 is 256, outside 0..=255",
        ),
        (
            "label.csv",
            csv_line(0, 10).into_bytes(),
            "line 1: label 10 is not a class 0..9",
        ),
        (
            "frac.csv",
            format!("{}.5", csv_line(0, 1)).into_bytes(),
            "line 1: label 1.5 is not a class 0..9",
        ),
        (
            "word.csv",
            format!("pixel0,{}", &csv_line(0, 1)[2..]).into_bytes(),
            "line 1: field 1 (\"pixel0\") is not a number",
        ),
        (
            "nan.csv",
            csv_line(0, 1).replacen("0,", "NaN,", 1).into_bytes(),
            "line 1: pixel 1 is NaN, outside 0..=255",
        ),
        ("binary.csv", vec![0xff, 0xfe, 0x00], "not UTF-8 text (at byte 0)"),
        ("empty.csv", b"\n\n".to_vec(), "holds no rows"),
        (
            "bad.csv.gz",
            vec![0x1f, 0x8b, 0x08, 0x00, 0x01],
            "not a valid gzip stream",
        ),
    ];
    for (name, bytes, want) in cases {
        let path = dir.write(name, &bytes);
        let (p, msg) = file_error(datasets::mnist_csv(&path));
        assert_eq!(p, path.display().to_string());
        assert!(msg.starts_with(want), "{name}: {msg}");
    }
    let (p, msg) = file_error(datasets::mnist_csv(dir.path().join("missing.csv")));
    assert!(
        p.ends_with("missing.csv") && msg.starts_with("cannot read"),
        "{p}: {msg}"
    );
}

/// An IDX file of unsigned bytes: magic `0x0000 08 nd`, dims, data.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// 5 images of 3x4 (pixel `j` of the whole file is `j * 4 % 256`) and labels 0, 9, 2, 3, 4.
fn small_mnist() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..60).map(|j| (j * 4 % 256) as u8).collect();
    (idx(&[5, 3, 4], &pixels), idx(&[5], &[0, 9, 2, 3, 4]))
}

fn check_small(ds: &TensorDataset) {
    assert_eq!(ds.tensors()[0].shape(), &[5, 1, 3, 4]);
    assert_eq!(ds.tensors()[0].dtype(), DType::F32);
    let x = ds.tensors()[0].to_vec::<f32>().unwrap();
    let want: Vec<f32> = (0..60).map(|j| (j * 4 % 256) as f32 / 255.0).collect();
    assert_eq!(x, want);
    assert_eq!(ds.tensors()[1].to_vec::<i64>().unwrap(), vec![0, 9, 2, 3, 4]);
}

#[test]
fn mnist_idx_reads_plain_gzipped_and_dotted_names() {
    let (images, labels) = small_mnist();
    let dir = TempDir::new("idx");
    dir.write("train-images-idx3-ubyte", &images);
    dir.write("train-labels-idx1-ubyte", &labels);
    check_small(&datasets::mnist_idx(dir.path(), true).unwrap());

    let gz = TempDir::new("idx-gz");
    gz.write("t10k-images-idx3-ubyte.gz", &gzip(&images));
    gz.write("t10k-labels-idx1-ubyte.gz", &gzip(&labels));
    check_small(&datasets::mnist_idx(gz.path(), false).unwrap());
    let (p, msg) = file_error(datasets::mnist_idx(gz.path(), true));
    assert!(p.ends_with("train-images-idx3-ubyte"), "{p}");
    assert!(
        msg.starts_with("not found (also looked for train-images-idx3-ubyte.gz"),
        "{msg}"
    );

    let dotted = TempDir::new("idx-dot");
    dotted.write("train-images.idx3-ubyte", &images);
    dotted.write("train-labels.idx1-ubyte.gz", &gzip(&labels));
    check_small(&datasets::mnist_idx(dotted.path(), true).unwrap());
}

/// Writes `images` and `labels` as the train files (gzipped when `gz`) and reads them back.
fn read_pair(images: &[u8], labels: &[u8], gz: bool) -> (String, String) {
    let dir = TempDir::new("idx-bad");
    write_mnist(&dir, "train", images, labels, gz);
    file_error(datasets::mnist_idx(dir.path(), true))
}

#[test]
fn mnist_idx_rejects_malformed_files_with_a_clear_message() {
    let (images, labels) = small_mnist();
    for gz in [false, true] {
        let ctx = if gz { "gz" } else { "plain" };
        // Truncated data.
        let (p, msg) = read_pair(&images[..images.len() - 7], &labels, gz);
        assert!(p.contains("train-images-idx3-ubyte"), "{p}");
        assert_eq!(
            msg,
            "truncated: header declares 5 images of 3x4 (60 bytes of data), file holds 53 bytes after its 16-byte header",
            "{ctx}"
        );
        // MNIST-sized header over a small body: refused before allocating 47 MB.
        let (_, msg) = read_pair(&idx(&[60000, 28, 28], &[7; 1200]), &labels, gz);
        assert_eq!(
            msg,
            "truncated: header declares 60000 images of 28x28 (47040000 bytes of data), file holds 1200 bytes after its 16-byte header",
            "{ctx}"
        );
        // Absurd dims: more than memory can hold, or just far more than the file.
        let (_, msg) = read_pair(&idx(&[u32::MAX, u32::MAX, u32::MAX], &[1; 10]), &labels, gz);
        assert!(
            msg.starts_with("absurd header: 4294967295 images of 4294967295x4294967295"),
            "{ctx}: {msg}"
        );
        let (_, msg) = read_pair(&idx(&[u32::MAX, 28, 28], &[1; 10]), &labels, gz);
        assert!(
            msg.starts_with("truncated: header declares 4294967295 images of 28x28"),
            "{ctx}: {msg}"
        );
        // Extra bytes after the declared data.
        let mut long = images.clone();
        long.extend_from_slice(&[0; 3]);
        let (_, msg) = read_pair(&long, &labels, gz);
        assert!(
            msg.starts_with("header declares 5 images of 3x4 (60 bytes of data), but the file holds"),
            "{ctx}: {msg}"
        );
        // Bad magic: a label file where the images should be, and garbage.
        let (p, msg) = read_pair(&labels, &labels, gz);
        assert!(p.contains("train-images"), "{p}");
        assert_eq!(
            msg, "bad magic number 0x00000801: expected 0x00000803 (IDX of unsigned bytes with 3 dims)",
            "{ctx}"
        );
        let (_, msg) = read_pair(&images, b"PK\x03\x04 zip file", gz);
        assert!(msg.starts_with("bad magic number 0x504b0304"), "{ctx}: {msg}");
        // The file ends inside the header.
        let (_, msg) = read_pair(&images[..10], &labels, gz);
        assert_eq!(
            msg, "truncated: the file ends inside the IDX header, after 10 bytes",
            "{ctx}"
        );
        let (_, msg) = read_pair(&images, &[], gz);
        assert!(
            msg.starts_with("truncated: the file ends inside the IDX header, after 0 bytes"),
            "{ctx}: {msg}"
        );
        // Zero-sized images.
        let (_, msg) = read_pair(&idx(&[5, 0, 4], &[]), &labels, gz);
        assert_eq!(msg, "images of 0x4 pixels: both sizes must be positive", "{ctx}");
        // Label count mismatch and labels outside 0..9.
        let (p, msg) = read_pair(&images, &idx(&[4], &[0, 1, 2, 3]), gz);
        assert!(p.contains("train-labels-idx1-ubyte"), "{p}");
        assert!(
            msg.starts_with("holds 4 labels but ") && msg.ends_with(" holds 5 images"),
            "{ctx}: {msg}"
        );
        let (_, msg) = read_pair(&images, &idx(&[5], &[0, 1, 12, 3, 4]), gz);
        assert_eq!(msg, "label 12 at index 2 is not a digit 0..9", "{ctx}");
    }
    // A gzip stream that is itself corrupt.
    let dir = TempDir::new("idx-badgz");
    dir.write("train-images-idx3-ubyte.gz", &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]);
    dir.write("train-labels-idx1-ubyte", &labels);
    let (p, _) = file_error(datasets::mnist_idx(dir.path(), true));
    assert!(p.ends_with("train-images-idx3-ubyte.gz"), "{p}");
    // Missing labels file.
    let dir = TempDir::new("idx-nolabels");
    dir.write("train-images-idx3-ubyte", &images);
    let (p, msg) = file_error(datasets::mnist_idx(dir.path(), true));
    assert!(
        p.ends_with("train-labels-idx1-ubyte") && msg.starts_with("not found"),
        "{p}: {msg}"
    );
}
