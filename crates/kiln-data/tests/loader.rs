//! DataLoader semantics: batch counts, drop_last, shuffling as a function of (seed, epoch),
//! workers giving the same batches as no workers, errors as items, early drop.

mod common;

use common::indexed;
use kiln_data::transforms::{Compose, RandomCrop, RandomHorizontalFlip};
use kiln_data::{default_collate, Batch, DataLoader, Dataset, Sample, TensorDataset};
use kiln_tensor::{Error, Result, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The labels (= dataset indices for `indexed`) of each batch.
fn labels(batches: &[Batch]) -> Vec<Vec<i64>> {
    batches.iter().map(|b| b[1].to_vec::<i64>().unwrap()).collect()
}

fn collect<D: Dataset<Item = Sample> + Send + Sync + 'static>(l: &DataLoader<D>, epoch: u64) -> Vec<Batch> {
    l.iter_epoch(epoch).collect::<Result<Vec<_>>>().unwrap()
}

/// Every tensor of every batch, as raw bits (for exact comparisons).
fn bits(batches: &[Batch]) -> Vec<Vec<u64>> {
    batches
        .iter()
        .flat_map(|b| b.iter().map(|t| t.to_vec_f64().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

#[test]
fn batch_counts_and_drop_last() {
    let l = DataLoader::new(indexed(10)).batch_size(3);
    assert_eq!(l.len(), 4);
    let b = collect(&l, 0);
    assert_eq!(labels(&b), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]);
    assert_eq!(b[0][0].shape(), &[3, 1, 2, 3]);
    assert_eq!(b[3][0].shape(), &[1, 1, 2, 3]);
    assert_eq!(b[1][0].to_vec::<f32>().unwrap()[..2], [3.0, 3.01]);

    let l = DataLoader::new(indexed(10)).batch_size(3).drop_last(true);
    assert_eq!(l.len(), 3);
    assert_eq!(
        labels(&collect(&l, 0)),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]
    );

    let l = DataLoader::new(indexed(9)).batch_size(3).drop_last(true);
    assert_eq!((l.len(), collect(&l, 0).len()), (3, 3));
    let l = DataLoader::new(indexed(2)).batch_size(3).drop_last(true);
    assert_eq!((l.len(), collect(&l, 0).len()), (0, 0));
    let l = DataLoader::new(indexed(0)).batch_size(3).num_workers(2);
    assert_eq!((l.len(), collect(&l, 0).len()), (0, 0));
    assert_eq!(DataLoader::new(indexed(5)).len(), 5, "default batch_size is 1");
}

#[test]
fn shuffle_is_a_function_of_seed_and_epoch() {
    let make = |seed| DataLoader::new(indexed(50)).batch_size(8).shuffle(true).seed(seed);
    let (a, b) = (make(3), make(3));
    for epoch in 0..3 {
        let la = labels(&collect(&a, epoch));
        assert_eq!(
            la,
            labels(&collect(&b, epoch)),
            "same (seed, epoch) must give the same order"
        );
        let mut all: Vec<i64> = la.concat();
        assert_ne!(all, (0..50).collect::<Vec<_>>(), "epoch {epoch} is not shuffled");
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>(), "each epoch visits every sample once");
    }
    assert_ne!(labels(&collect(&a, 0)), labels(&collect(&a, 1)), "epochs must differ");
    assert_ne!(
        labels(&collect(&a, 0)),
        labels(&collect(&make(4), 0)),
        "seeds must differ"
    );
    assert_eq!(
        a.batch_indices(1),
        labels(&collect(&a, 1))
            .iter()
            .map(|b| b.iter().map(|&i| i as usize).collect())
            .collect::<Vec<Vec<usize>>>()
    );
}

#[test]
fn iter_advances_the_epoch_and_resume_sees_the_same_batches() {
    let run = DataLoader::new(indexed(20)).batch_size(6).shuffle(true).seed(11);
    assert_eq!(run.epoch(), 0);
    let uninterrupted: Vec<Vec<Vec<i64>>> = (0..4)
        .map(|_| labels(&run.iter().collect::<Result<Vec<_>>>().unwrap()))
        .collect();
    assert_eq!(run.epoch(), 4);
    for (e, epoch) in uninterrupted.iter().enumerate() {
        assert_eq!(*epoch, labels(&collect(&run, e as u64)), "iter() ran epoch {e}");
    }
    // A run resumed at epoch 2 (new loader, same seed) sees epochs 2 and 3 exactly.
    let resumed = DataLoader::new(indexed(20))
        .batch_size(6)
        .shuffle(true)
        .seed(run.get_seed());
    resumed.set_epoch(2);
    for expected in &uninterrupted[2..] {
        let got = labels(&(&resumed).into_iter().collect::<Result<Vec<_>>>().unwrap());
        assert_eq!(&got, expected);
    }
    // Mid-epoch resume: batches 2.. of epoch 3, with and without workers and a transform.
    let aug = augmenting(images(30), 0, 4);
    let full = bits(&collect(&aug, 3));
    for w in [0, 3] {
        let l = augmenting(images(30), w, 4);
        let tail = bits(&l.iter_epoch_from(3, 2).collect::<Result<Vec<_>>>().unwrap());
        assert_eq!(tail, full[2 * 2..], "workers {w}");
        assert_eq!(l.iter_epoch_from(3, 8).count(), 0);
        assert_eq!(l.iter_epoch_from(3, 100).count(), 0);
    }
    // iter_epoch leaves the counter alone.
    let _ = resumed.iter_epoch(0).count();
    assert_eq!(resumed.epoch(), 4);
}

fn augmenting(ds: TensorDataset, workers: usize, batch: usize) -> DataLoader<TensorDataset> {
    DataLoader::new(ds)
        .batch_size(batch)
        .shuffle(true)
        .seed(5)
        .num_workers(workers)
        .prefetch_factor(1)
        .transform(Compose::new(vec![
            Box::new(RandomCrop::new(3, 1)),
            Box::new(RandomHorizontalFlip::new(0.5)),
        ]))
}

fn images(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n * 2 * 9).map(|v| v as f32).collect();
    TensorDataset::new(vec![
        Tensor::from_vec(x, &[n, 2, 3, 3]).unwrap(),
        Tensor::from_vec((0..n as i64).collect::<Vec<_>>(), &[n]).unwrap(),
    ])
    .unwrap()
}

#[test]
fn workers_give_exactly_the_batches_of_no_workers() {
    for (shuffle, transform) in [(false, false), (true, false), (true, true)] {
        let make = |w: usize| {
            if transform {
                augmenting(images(37), w, 5)
            } else {
                DataLoader::new(images(37))
                    .batch_size(5)
                    .shuffle(shuffle)
                    .seed(9)
                    .num_workers(w)
            }
        };
        let reference = make(0);
        for epoch in 0..2 {
            let want = bits(&collect(&reference, epoch));
            for w in [1, 2, 3, 8, 64] {
                assert_eq!(
                    bits(&collect(&make(w), epoch)),
                    want,
                    "workers {w} epoch {epoch} transform {transform}"
                );
            }
        }
    }
}

#[test]
fn transforms_depend_on_sample_not_on_batching() {
    // Unshuffled: per-sample results must not depend on batch size or worker count.
    let per_sample = |batch: usize, workers: usize| -> Vec<Vec<f32>> {
        let l = augmenting(images(12), workers, batch).shuffle(false);
        collect(&l, 3)
            .iter()
            .flat_map(|b| b[0].split(1, 0).unwrap())
            .map(|t| t.to_vec::<f32>().unwrap())
            .collect()
    };
    let one = per_sample(1, 0);
    assert_eq!(one, per_sample(5, 0));
    assert_eq!(one, per_sample(4, 3));
    // Different epochs give different augmentations; the same one is reproducible.
    let epoch = |e| bits(&collect(&augmenting(images(12), 0, 4).shuffle(false), e));
    assert_eq!(epoch(1), epoch(1));
    assert_ne!(epoch(1), epoch(2));
    // Padding 1 and size 3 of a 3x3 image: some crops shift in zeros.
    assert!(one.iter().any(|img| img.contains(&0.0) && img.iter().any(|&v| v > 0.0)));
}

#[test]
fn fast_path_equals_get_and_stack() {
    let ds = indexed(23);
    let fast = DataLoader::new(ds.clone()).batch_size(4).shuffle(true).seed(1);
    let slow = DataLoader::new(ds.clone())
        .batch_size(4)
        .shuffle(true)
        .seed(1)
        .collate_fn(default_collate);
    assert_eq!(bits(&collect(&fast, 0)), bits(&collect(&slow, 0)));
    let idx = [5, 0, 22, 5];
    let via_get: Vec<Sample> = idx.iter().map(|&i| ds.get(i).unwrap()).collect();
    assert_eq!(
        bits(&[ds.get_batch(&idx).unwrap().unwrap()]),
        bits(&[default_collate(via_get).unwrap()])
    );
    assert!(ds.get_batch(&[23]).unwrap().is_err());
}

#[test]
fn custom_collate_is_used() {
    let l = DataLoader::new(indexed(7))
        .batch_size(3)
        .collate_fn(|samples: Vec<Sample>| {
            let labels: Vec<i64> = samples.iter().map(|s| s[1].item::<i64>().unwrap() * 10).collect();
            let n = labels.len();
            Ok(vec![Tensor::from_vec(labels, &[n])?])
        });
    let got: Vec<Vec<i64>> = collect(&l, 0).iter().map(|b| b[0].to_vec::<i64>().unwrap()).collect();
    assert_eq!(got, vec![vec![0, 10, 20], vec![30, 40, 50], vec![60]]);
}

/// Fails on one index; counts `get` calls; optionally sleeps per sample or panics.
struct Faulty {
    n: usize,
    bad: Option<usize>,
    panic_at: Option<usize>,
    delay: Duration,
    calls: Arc<AtomicUsize>,
}

impl Faulty {
    fn new(n: usize) -> Faulty {
        Faulty {
            n,
            bad: None,
            panic_at: None,
            delay: Duration::ZERO,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Dataset for Faulty {
    type Item = Sample;
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, index: usize) -> Result<Sample> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        if self.bad == Some(index) {
            return Err(Error::file("shard-3.bin", format!("sample {index} is corrupt")));
        }
        if self.panic_at == Some(index) {
            panic!("dataset bug at {index}");
        }
        Ok(vec![Tensor::scalar(index as i64)])
    }
}

#[test]
fn dataset_errors_come_out_as_err_items_then_the_iterator_ends() {
    for workers in [0, 1, 2, 5] {
        let ds = Faulty {
            bad: Some(13),
            ..Faulty::new(40)
        };
        let items: Vec<Result<Batch>> = DataLoader::new(ds).batch_size(4).num_workers(workers).iter().collect();
        assert_eq!(
            items.len(),
            4,
            "workers {workers}: batches 0..=2, then the error, then the end"
        );
        assert!(items[..3].iter().all(Result::is_ok));
        match &items[3] {
            Err(Error::File { path, msg }) => {
                assert_eq!(path, "shard-3.bin");
                assert_eq!(msg, "sample 13 is corrupt");
            }
            other => panic!(
                "workers {workers}: expected the dataset's error, got {:?}",
                other.as_ref().err()
            ),
        }
    }
}

#[test]
fn a_panicking_worker_gives_an_error_not_a_hang() {
    let ds = Faulty {
        panic_at: Some(6),
        ..Faulty::new(20)
    };
    let items: Vec<Result<Batch>> = DataLoader::new(ds).batch_size(4).num_workers(2).iter().collect();
    assert_eq!(items.len(), 2);
    let msg = items[1].as_ref().expect_err("an error").to_string();
    assert!(msg.contains("panicked") && msg.contains("dataset bug at 6"), "{msg}");
}

#[test]
fn transform_errors_propagate() {
    // A 1-D "image" is not [C, H, W]: the crop must fail with its own message.
    let ds = TensorDataset::new(vec![Tensor::zeros(&[6, 4], kiln_tensor::DType::F32)]).unwrap();
    for workers in [0, 2] {
        let items: Vec<Result<Batch>> = DataLoader::new(ds.clone())
            .batch_size(2)
            .num_workers(workers)
            .transform(RandomCrop::new(2, 0))
            .iter()
            .collect();
        assert_eq!(items.len(), 1);
        let msg = items[0].as_ref().expect_err("an error").to_string();
        assert!(msg.starts_with("RandomCrop: expected an image tensor"), "{msg}");
    }
}

#[test]
fn invalid_settings_give_one_error() {
    let items: Vec<_> = DataLoader::new(indexed(5)).batch_size(0).iter().collect();
    assert_eq!(items.len(), 1);
    assert!(items[0]
        .as_ref()
        .err()
        .unwrap()
        .to_string()
        .contains("batch_size should be a positive integer"));
    let items: Vec<_> = DataLoader::new(indexed(5))
        .num_workers(2)
        .prefetch_factor(0)
        .iter()
        .collect();
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
}

#[test]
fn dropping_the_iterator_early_stops_the_workers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let ds = Faulty {
        delay: Duration::from_millis(2),
        calls: calls.clone(),
        ..Faulty::new(10_000)
    };
    let loader = DataLoader::new(ds).batch_size(10).num_workers(4).prefetch_factor(2);
    let start = Instant::now();
    let mut it = loader.iter();
    for _ in 0..3 {
        it.next().unwrap().unwrap();
    }
    drop(it);
    // Dropping joined the workers: no more `get` calls happen afterwards.
    let after_drop = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        after_drop,
        "workers kept running after the drop"
    );
    // At most (3 consumed + 4 workers * (2 queued + 1 in progress)) batches were built.
    assert!(after_drop <= (3 + 4 * 3) * 10, "{after_drop} samples loaded");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "drop took {:?}",
        start.elapsed()
    );
}

#[test]
fn size_hint_bounds_the_remaining_batches() {
    let l = DataLoader::new(indexed(10)).batch_size(4);
    let mut it = l.iter();
    assert_eq!(it.size_hint(), (0, Some(3)));
    it.next();
    assert_eq!(it.size_hint(), (0, Some(2)));
}
