//! safetensors files and training checkpoints: round trips, atomic writes, malformed input.

use kiln_nn::checkpoint::TrainingCheckpoint;
use kiln_nn::optim::OptimizerState;
use kiln_nn::serialize::{load_state_dict_file, save_state_dict, state_dict_from_bytes, state_dict_to_bytes};
use kiln_nn::StateDict;
use kiln_tensor::{DType, Error, Result, Tensor};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-serialize-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn every_dtype() -> Result<StateDict> {
    let mut sd = StateDict::new();
    let base = Tensor::arange(0.0, 6.0, 1.0, DType::F64)?
        .sub_scalar(2.5)?
        .reshape(&[2, 3])?;
    for dt in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ] {
        let t = if dt == DType::U8 {
            base.abs()?.to_dtype(dt)?
        } else {
            base.to_dtype(dt)?
        };
        sd.insert(format!("t.{dt}"), t);
    }
    sd.insert("scalar", Tensor::scalar(7i64));
    sd.insert("empty", Tensor::zeros(&[0, 4], DType::F32));
    sd.insert("transposed", base.t()?.to_dtype(DType::F32)?);
    Ok(sd)
}

#[test]
fn every_dtype_round_trips_with_metadata() -> Result<()> {
    let dir = temp_dir("roundtrip");
    let path = dir.join("w.safetensors");
    let sd = every_dtype()?;
    let meta = BTreeMap::from([("model".to_string(), "{\"preset\":\"mlp\"}".to_string())]);
    save_state_dict(&path, &sd, &meta)?;
    let (back, meta_back) = load_state_dict_file(&path)?;
    assert_eq!(meta_back, meta);
    assert_eq!(back.len(), sd.len());
    for (k, t) in sd.iter() {
        let b = back.get(k).unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!(b.dtype(), t.dtype(), "{k}");
        assert_eq!(b.shape(), t.shape(), "{k}");
        assert_eq!(b.to_vec_f64(), t.to_vec_f64(), "{k}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files stay behind: {leftovers:?}");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn malformed_bytes_name_the_file_and_never_panic() -> Result<()> {
    let bytes = state_dict_to_bytes(&every_dtype()?, &BTreeMap::new())?;
    let origin = std::path::Path::new("model.safetensors");
    for cut in [0, 3, 8, 9, bytes.len() / 2, bytes.len() - 1] {
        let err = state_dict_from_bytes(origin, &bytes[..cut]).unwrap_err();
        assert!(matches!(err, Error::File { .. }), "{err}");
        assert!(err.to_string().starts_with("model.safetensors: "), "{err}");
    }
    // A header claiming an absurd length is rejected before any allocation of that size.
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(state_dict_from_bytes(origin, &huge).is_err());
    // Random flips anywhere: an error or a valid dict, never a panic.
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = bytes.clone();
        let i = (x as usize) % b.len();
        b[i] ^= (x >> 32) as u8 | 1;
        let _ = state_dict_from_bytes(origin, &b);
    }
    let err = load_state_dict_file("/nonexistent/dir/w.safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.contains("w.safetensors") && err.contains("cannot read"), "{err}");
    Ok(())
}

#[test]
fn overwrite_replaces_whole_file_and_bad_target_is_an_error() -> Result<()> {
    let dir = temp_dir("overwrite");
    let path = dir.join("w.safetensors");
    save_state_dict(&path, &every_dtype()?, &BTreeMap::new())?;
    let mut small = StateDict::new();
    small.insert("only", Tensor::ones(&[1], DType::F32));
    save_state_dict(&path, &small, &BTreeMap::new())?;
    let (back, _) = load_state_dict_file(&path)?;
    assert_eq!(back.keys().collect::<Vec<_>>(), ["only"]);
    let err = save_state_dict(dir.join("missing/w.safetensors"), &small, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("missing/w.safetensors: cannot write"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left behind"
    );
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn training_checkpoint_round_trips_every_field() -> Result<()> {
    let dir = temp_dir("ckpt");
    let path = dir.join("last.ckpt");
    let mut opt_tensors = StateDict::new();
    opt_tensors.insert("0.exp_avg", Tensor::randn(&[3, 2], DType::F32)?);
    let ck = TrainingCheckpoint {
        model: every_dtype()?,
        optimizer: OptimizerState {
            tensors: opt_tensors,
            meta: serde_json::json!({"name": "adam", "step": [5]}),
        },
        scheduler: Some(serde_json::json!({"last_epoch": 4})),
        epoch: 3,
        step: 1234,
        rng_state: [u64::MAX, 1, 2, 3, u64::MAX - 1],
        extra: serde_json::json!({"preset": "mlp"}),
    };
    ck.save(&path)?;
    let back = TrainingCheckpoint::load(&path)?;
    assert_eq!(
        (back.epoch, back.step, back.rng_state),
        (ck.epoch, ck.step, ck.rng_state)
    );
    assert_eq!(back.optimizer.meta, ck.optimizer.meta);
    assert_eq!(back.scheduler, ck.scheduler);
    assert_eq!(back.extra, ck.extra);
    assert_eq!(back.model.keys().count(), ck.model.len());
    assert_eq!(
        back.optimizer.tensors.get("0.exp_avg").unwrap().to_vec::<f32>()?,
        ck.optimizer.tensors.get("0.exp_avg").unwrap().to_vec::<f32>()?
    );
    // A plain weights file is not a checkpoint.
    let plain = dir.join("w.safetensors");
    save_state_dict(&plain, &every_dtype()?, &BTreeMap::new())?;
    let err = TrainingCheckpoint::load(&plain).unwrap_err().to_string();
    assert!(err.contains("not a Kiln training checkpoint"), "{err}");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
