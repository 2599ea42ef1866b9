//! Transforms against hand-computed values and against PyTorch (`fixtures/transforms.json`,
//! written by `fixtures/gen_transforms.py` with torchvision's formulas).

use kiln_data::transforms::{Compose, Normalize, RandomCrop, RandomHorizontalFlip, Transform};
use kiln_tensor::{DType, Generator, Result, Tensor};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let text = include_str!("fixtures/transforms.json");
    let all: Value = serde_json::from_str(text).unwrap();
    all[name].clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn tensor_of(case: &Value, key: &str) -> Tensor {
    let data: Vec<f32> = floats(&case[key]).iter().map(|&v| v as f32).collect();
    Tensor::from_vec(data, &usizes(&case["shape"])).unwrap()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn expect_f32(case: &Value, key: &str) -> Vec<f32> {
    floats(&case[key]).iter().map(|&v| v as f32).collect()
}

fn g() -> Generator {
    Generator::new(0)
}

#[test]
fn normalize_matches_torchvision_formula_bitwise() {
    for name in ["normalize", "normalize_batched"] {
        let case = fixture(name);
        let n = Normalize::new(floats(&case["mean"]), floats(&case["std"])).unwrap();
        let out = n.apply(&tensor_of(&case, "x"), &mut g()).unwrap();
        assert_eq!(out.shape(), &usizes(&case["shape"])[..]);
        assert_eq!(f32s(&out), expect_f32(&case, "out"), "{name}");
    }
}

#[test]
fn normalize_by_hand() {
    // Two channels of 2x2: (x - 0.5) / 0.5 and (x - 0.25) / 2.
    let x = Tensor::from_vec(vec![0.0f32, 0.5, 1.0, 0.25, 0.25, 2.25, -1.75, 0.75], &[2, 2, 2]).unwrap();
    let out = Normalize::new(vec![0.5, 0.25], vec![0.5, 2.0])
        .unwrap()
        .apply(&x, &mut g())
        .unwrap();
    assert_eq!(f32s(&out), vec![-1.0, 0.0, 1.0, -0.5, 0.0, 1.0, -1.0, 0.25]);
    // One value applies to every channel.
    let out = Normalize::new(vec![1.0], vec![2.0])
        .unwrap()
        .apply(&x, &mut g())
        .unwrap();
    assert_eq!(
        f32s(&out),
        vec![-0.5, -0.25, 0.0, -0.375, -0.375, 0.625, -1.375, -0.125]
    );
    // f64 images compute in f64.
    let out = Normalize::new(vec![0.1], vec![0.3])
        .unwrap()
        .apply(&Tensor::from_vec(vec![1.0f64], &[1, 1, 1]).unwrap(), &mut g())
        .unwrap();
    assert_eq!(out.to_vec::<f64>().unwrap(), vec![(1.0 - 0.1) / 0.3]);
}

#[test]
fn normalize_errors() {
    let err = |r: Result<Tensor>| r.expect_err("an error").to_string();
    assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
    assert!(Normalize::new(vec![0.5, 0.5], vec![1.0]).is_err());
    assert!(Normalize::new(vec![], vec![]).is_err());
    let n = Normalize::new(vec![0.5, 0.5], vec![1.0, 1.0]).unwrap();
    let e = err(n.apply(&Tensor::zeros(&[3, 4, 4], DType::F32), &mut g()));
    assert_eq!(
        e,
        "Normalize: 2 mean/std values for an image of 3 channels (shape [3, 4, 4])"
    );
    let e = err(n.apply(&Tensor::zeros(&[2, 4, 4], DType::U8), &mut g()));
    assert!(e.contains("float tensor"), "{e}");
    let e = err(n.apply(&Tensor::zeros(&[4, 4], DType::F32), &mut g()));
    assert!(e.contains("[..., C, H, W]"), "{e}");
    // A std that is zero only after conversion to the image's dtype.
    let tiny = Normalize::new(vec![0.0], vec![1e-50]).unwrap();
    let e = err(tiny.apply(&Tensor::zeros(&[1, 2, 2], DType::F32), &mut g()));
    assert!(e.contains("evaluated to zero"), "{e}");
}

/// A generator seed for which `crop` draws `(top, left)` on a padded image of `(h, w)`.
fn seed_for(crop: &RandomCrop, h: usize, w: usize, want: (usize, usize)) -> u64 {
    (0..100_000)
        .find(|&s| crop.get_params(h, w, &mut Generator::new(s)).unwrap() == want)
        .expect("some seed draws each window")
}

#[test]
fn random_crop_matches_torch_pad_and_slice() {
    let case = fixture("random_crop");
    let p = usizes(&case["padding"]);
    let size = usizes(&case["size"]);
    let crop = RandomCrop {
        size: (size[0], size[1]),
        padding: [p[0], p[1], p[2], p[3]],
    };
    let padded = usizes(&case["padded_shape"]);
    let x = tensor_of(&case, "x");
    for c in case["crops"].as_array().unwrap() {
        let want = (
            c["top"].as_u64().unwrap() as usize,
            c["left"].as_u64().unwrap() as usize,
        );
        let s = seed_for(&crop, padded[1], padded[2], want);
        let out = crop.apply(&x, &mut Generator::new(s)).unwrap();
        assert_eq!(out.shape(), &[2, size[0], size[1]]);
        assert_eq!(f32s(&out), expect_f32(c, "out"), "window {want:?}");
    }
}

#[test]
fn random_crop_pads_with_zeros_by_hand() {
    // 1x2x2 image [[1, 2], [3, 4]], padding 1, crop 2: window (0, 0) is [[0, 0], [0, 1]].
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 2, 2]).unwrap();
    let crop = RandomCrop::new(2, 1);
    let padded = [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 2.0, 0.0],
        [0.0, 3.0, 4.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ];
    let mut seen = std::collections::BTreeSet::new();
    for s in 0..200 {
        let (top, left) = crop.get_params(4, 4, &mut Generator::new(s)).unwrap();
        let out = crop.apply(&x, &mut Generator::new(s)).unwrap();
        let want: Vec<f32> = (0..2)
            .flat_map(|i| (0..2).map(move |j| padded[top + i][left + j]))
            .collect();
        assert_eq!(f32s(&out), want, "window ({top}, {left})");
        seen.insert((top, left));
    }
    assert_eq!(seen.len(), 9, "every window in 0..=2 x 0..=2 is drawn: {seen:?}");
    // A window the size of the padded image draws nothing and returns it whole.
    let whole = RandomCrop::new(4, 1);
    let mut rng = Generator::new(3);
    let out = whole.apply(&x, &mut rng).unwrap();
    assert_eq!(f32s(&out), padded.iter().flatten().copied().collect::<Vec<f32>>());
    assert_eq!(rng, Generator::new(3), "no draw for a full-size window");
    // Too large a window is an error.
    let e = RandomCrop::new(5, 1).apply(&x, &mut g()).err().unwrap().to_string();
    assert_eq!(
        e,
        "RandomCrop: required crop size (5, 5) is larger than the padded image size (4, 4)"
    );
    // Batched [..., C, H, W] and no padding.
    let xb = Tensor::arange(0.0, 2.0 * 3.0 * 3.0, 1.0, DType::F32)
        .unwrap()
        .reshape(&[2, 1, 3, 3])
        .unwrap();
    let out = RandomCrop::new(3, 0).apply(&xb, &mut g()).unwrap();
    assert_eq!(f32s(&out), f32s(&xb));
}

#[test]
fn horizontal_flip() {
    let case = fixture("hflip");
    let x = tensor_of(&case, "x");
    let out = RandomHorizontalFlip::new(1.0).apply(&x, &mut g()).unwrap();
    assert_eq!(f32s(&out), expect_f32(&case, "out"));
    let out = RandomHorizontalFlip::new(0.0).apply(&x, &mut g()).unwrap();
    assert_eq!(f32s(&out), f32s(&x));
    let by_hand = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]).unwrap();
    let out = RandomHorizontalFlip::new(1.0).apply(&by_hand, &mut g()).unwrap();
    assert_eq!(f32s(&out), vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
    // p = 0.5 flips about half the time; the same generator state decides the same way.
    let flip = RandomHorizontalFlip::default();
    let flipped = (0..2000)
        .filter(|&s| f32s(&flip.apply(&by_hand, &mut Generator::new(s)).unwrap())[0] == 3.0)
        .count();
    assert!((900..1100).contains(&flipped), "{flipped} of 2000");
    for s in 0..20 {
        let a = flip.apply(&by_hand, &mut Generator::new(s)).unwrap();
        let b = flip.apply(&by_hand, &mut Generator::new(s)).unwrap();
        assert_eq!(f32s(&a), f32s(&b));
    }
    assert!(RandomHorizontalFlip::new(1.5).apply(&by_hand, &mut g()).is_err());
}

#[test]
fn compose_applies_in_order_with_one_generator() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 2, 2]).unwrap();
    let add_one = |t: &Tensor, _: &mut Generator| t.add_scalar(1.0);
    let double = |t: &Tensor, _: &mut Generator| t.mul_scalar(2.0);
    let out = Compose::new(vec![Box::new(add_one), Box::new(double)])
        .apply(&x, &mut g())
        .unwrap();
    assert_eq!(f32s(&out), vec![4.0, 6.0, 8.0, 10.0]);
    // Crop then flip draws the crop's numbers first, then the flip's, from the same stream.
    let crop = RandomCrop::new(2, 1);
    let flip = RandomHorizontalFlip::new(0.5);
    let both = Compose::new(vec![Box::new(crop), Box::new(flip)]);
    for s in 0..30 {
        let mut rng = Generator::new(s);
        let manual = flip.apply(&crop.apply(&x, &mut rng).unwrap(), &mut rng).unwrap();
        let composed = both.apply(&x, &mut Generator::new(s)).unwrap();
        assert_eq!(f32s(&composed), f32s(&manual));
    }
}
