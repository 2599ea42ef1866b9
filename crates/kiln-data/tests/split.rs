//! TensorDataset, Subset, ConcatDataset and random_split.

mod common;

use common::indexed;
use kiln_data::{random_split, ConcatDataset, Dataset, Subset, TensorDataset};
use kiln_tensor::{DType, Tensor};
use std::sync::Arc;

fn label(ds: &impl Dataset<Item = Vec<Tensor>>, i: usize) -> i64 {
    ds.get(i).unwrap()[1].item::<i64>().unwrap()
}

#[test]
fn tensor_dataset_checks_dim_0() {
    let e = TensorDataset::new(vec![
        Tensor::zeros(&[4, 2], DType::F32),
        Tensor::zeros(&[5], DType::I64),
    ])
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e,
        "TensorDataset: size mismatch between tensors: dim 0 must agree, got shapes [[4, 2], [5]]"
    );
    assert!(TensorDataset::new(vec![]).is_err());
    assert!(TensorDataset::new(vec![Tensor::scalar(1.0f32)]).is_err());
    let ds = indexed(4);
    assert_eq!(ds.len(), 4);
    let s = ds.get(2).unwrap();
    assert_eq!(s[0].shape(), &[1, 2, 3]);
    assert_eq!(s[0].to_vec::<f32>().unwrap()[1], 2.01);
    assert_eq!(s[1].item::<i64>().unwrap(), 2);
    assert!(ds
        .get(4)
        .err()
        .unwrap()
        .to_string()
        .contains("index 4 is out of range for a data set of 4 samples"));
    let sel = ds.select(&[3, 1, 1]).unwrap();
    assert_eq!((0..3).map(|i| label(&sel, i)).collect::<Vec<_>>(), vec![3, 1, 1]);
    assert!(ds.select(&[9]).is_err());
}

#[test]
fn random_split_by_counts_and_fractions() {
    let parts = random_split(indexed(10), &[3, 7], 1).unwrap();
    assert_eq!((parts[0].len(), parts[1].len()), (3, 7));
    let mut all: Vec<i64> = parts.iter().flat_map(|p| (0..p.len()).map(|i| label(p, i))).collect();
    assert_ne!(all, (0..10).collect::<Vec<_>>(), "shuffled");
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>(), "disjoint and complete");

    // Deterministic in the seed.
    let again = random_split(indexed(10), &[3, 7], 1).unwrap();
    assert_eq!(parts[0].indices(), again[0].indices());
    let other = random_split(indexed(10), &[3, 7], 2).unwrap();
    assert_ne!(parts[0].indices(), other[0].indices());

    // PyTorch's fraction rule: floor each, then the remainder round-robin from the first.
    let sizes = |n: usize, f: &[f64]| -> Vec<usize> {
        random_split(indexed(n), f, 0)
            .unwrap()
            .iter()
            .map(|p| p.len())
            .collect()
    };
    assert_eq!(sizes(10, &[0.8, 0.2]), vec![8, 2]);
    assert_eq!(sizes(1797, &[0.8, 0.2]), vec![1438, 359]);
    assert_eq!(sizes(10, &[0.33, 0.33, 0.34]), vec![4, 3, 3]);
    assert_eq!(sizes(11, &[0.25, 0.25, 0.25, 0.25]), vec![3, 3, 3, 2]);
    assert_eq!(sizes(3, &[0.5, 0.5, 0.0]), vec![2, 1, 0]);
    let v: Vec<usize> = vec![5, 5];
    assert_eq!(random_split(indexed(10), &v, 0).unwrap().len(), 2);

    let e = random_split(indexed(10), &[3, 6], 0).err().unwrap().to_string();
    assert_eq!(
        e,
        "random_split: sum of input lengths [3, 6] does not equal the length of the input dataset (10)"
    );
    assert!(random_split(indexed(10), &[0.5, 0.6], 0).is_err());
    assert!(random_split(indexed(10), &[1.5, -0.5], 0).is_err());
}

#[test]
fn tensor_dataset_random_split_copies_the_same_samples() {
    let ds = indexed(12);
    let subsets = random_split(ds.clone(), &[0.5, 0.5], 4).unwrap();
    let copies = ds.random_split(&[0.5, 0.5], 4).unwrap();
    for (s, c) in subsets.iter().zip(&copies) {
        let want: Vec<i64> = s.indices().iter().map(|&i| i as i64).collect();
        assert_eq!(c.tensors()[1].to_vec::<i64>().unwrap(), want);
    }
}

#[test]
fn subset_maps_indices_and_keeps_the_fast_path() {
    let base = Arc::new(indexed(8));
    let s = Subset::new(base.clone(), vec![7, 2, 5]).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(label(&s, 0), 7);
    assert!(s.get(3).is_err());
    let batch = s.get_batch(&[2, 0]).unwrap().unwrap();
    assert_eq!(batch[1].to_vec::<i64>().unwrap(), vec![5, 7]);
    assert!(s.get_batch(&[3]).unwrap().is_err());
    assert!(Subset::new(base, vec![8]).is_err());
}

#[test]
fn concat_dataset_walks_the_parts_in_order() {
    let c = ConcatDataset::new(vec![indexed(3), indexed(0), indexed(2)]).unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!((0..5).map(|i| label(&c, i)).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1]);
    assert!(c.get(5).is_err());
    assert!(ConcatDataset::<TensorDataset>::new(vec![]).is_err());
}
