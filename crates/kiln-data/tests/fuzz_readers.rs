//! The IDX and CSV readers on random bytes: they return `Ok` or an `Error::File`, never panic
//! or allocate what a header merely claims.

mod common;

use common::{gzip, write_mnist, TempDir};
use kiln_data::{datasets, Dataset};
use kiln_tensor::Error;
use proptest::prelude::*;

fn is_file_error<T>(r: &kiln_tensor::Result<T>) -> bool {
    matches!(r, Ok(_) | Err(Error::File { .. }))
}

/// An IDX header (`ndim` dims from `dims`) followed by `body`.
fn with_header(ndim: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, ndim];
    for d in dims.iter().take(ndim as usize) {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn idx_random_bytes(images in prop::collection::vec(any::<u8>(), 0..200),
                        labels in prop::collection::vec(any::<u8>(), 0..40),
                        gz in any::<bool>()) {
        let dir = TempDir::new("fuzz-idx");
        write_mnist(&dir, "t10k", &images, &labels, gz);
        let r = datasets::mnist_idx(dir.path(), false);
        prop_assert!(is_file_error(&r));
    }

    #[test]
    fn idx_valid_headers_random_sizes(dims in prop::collection::vec(prop_oneof![0u32..6, any::<u32>()], 3),
                                      n_labels in prop_oneof![0u32..6, any::<u32>()],
                                      body in prop::collection::vec(any::<u8>(), 0..120),
                                      label_body in prop::collection::vec(0u8..12, 0..8),
                                      gz in any::<bool>()) {
        let dir = TempDir::new("fuzz-idx-hdr");
        let images = with_header(3, &dims, &body);
        let labels = with_header(1, &[n_labels], &label_body);
        write_mnist(&dir, "train", &images, &labels, gz);
        let r = datasets::mnist_idx(dir.path(), true);
        prop_assert!(is_file_error(&r));
        if let Ok(ds) = r {
            prop_assert_eq!(ds.len(), dims[0] as usize);
            prop_assert_eq!(dims[0] as usize * dims[1] as usize * dims[2] as usize, body.len());
        }
    }

    #[test]
    fn csv_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), gz in any::<bool>()) {
        let dir = TempDir::new("fuzz-csv");
        let path = dir.write("x.csv", &if gz { gzip(&bytes) } else { bytes });
        prop_assert!(is_file_error(&datasets::mnist_csv(path)));
    }

    #[test]
    fn csv_random_text(text in "[0-9,.\\- \r\neE]{0,300}") {
        let dir = TempDir::new("fuzz-csv-text");
        let path = dir.write("x.csv", text.as_bytes());
        prop_assert!(is_file_error(&datasets::mnist_csv(path)));
    }

    #[test]
    fn csv_nearly_valid_rows(rows in prop::collection::vec(
                                 (prop::collection::vec(0u16..300, 780..790), 0i64..12), 1..3)) {
        let text: String = rows
            .iter()
            .map(|(px, l)| {
                let mut f: Vec<String> = px.iter().map(u16::to_string).collect();
                f.push(l.to_string());
                f.join(",") + "\n"
            })
            .collect();
        let dir = TempDir::new("fuzz-csv-rows");
        let path = dir.write("x.csv", text.as_bytes());
        let r = datasets::mnist_csv(path);
        prop_assert!(is_file_error(&r));
        let valid = rows.iter().all(|(px, l)| px.len() == 784 && px.iter().all(|&p| p <= 255) && *l < 10);
        prop_assert_eq!(r.is_ok(), valid);
    }
}
