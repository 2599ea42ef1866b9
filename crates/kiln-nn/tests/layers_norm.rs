//! BatchNorm1d/2d, GroupNorm and RMSNorm against PyTorch (`tests/fixtures/norms/generate.py`):
//! strict `load_state_dict`, `state_dict()` keys in PyTorch's order, outputs, running statistics
//! over training and evaluation steps, gradients; plus mode switching and argument errors.

use kiln_nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, Forward, GroupNorm, GroupNormConfig, Linear, Module,
    RMSNorm, RMSNormConfig, StateDict,
};
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Tensor};
use serde_json::Value;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

fn load(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/norms")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        other => panic!("{file}: expected a JSON list of cases, got {other:?}"),
    }
}

fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// A `[shape, values]` entry as an f32 tensor.
fn tensor(v: &Value) -> Tensor {
    Tensor::from_vec(floats(&v[1]), &dims(&v[0])).expect("fixture tensor")
}

/// Values of the fixture with the shape of `like`.
fn values_like(v: &Value, like: &Tensor) -> Tensor {
    Tensor::from_vec(floats(v), like.shape()).expect("fixture values")
}

/// The fixture's `state_dict` (`[name, shape, values]`, integer values as int64) and its keys.
fn state_dict(v: &Value) -> (StateDict, Vec<String>) {
    let mut sd = StateDict::new();
    let mut keys = Vec::new();
    for e in v.as_array().expect("state_dict") {
        let name = e[0].as_str().expect("key");
        let shape = dims(&e[1]);
        let vals = e[2].as_array().expect("values");
        let t = if vals.iter().all(|x| x.is_i64()) && name.ends_with("num_batches_tracked") {
            Tensor::from_vec(
                vals.iter().map(|x| x.as_i64().expect("int")).collect::<Vec<_>>(),
                &shape,
            )
        } else {
            Tensor::from_vec(floats(&e[2]), &shape)
        }
        .expect("state tensor");
        sd.insert(name, t);
        keys.push(name.to_string());
    }
    (sd, keys)
}

fn keys_of(m: &impl Module) -> Vec<String> {
    m.state_dict().iter().map(|(k, _)| k.to_string()).collect()
}

/// Loads the fixture's state strictly and checks the key order against PyTorch's.
fn load_state(m: &impl Module, case: &Value) {
    let (sd, keys) = state_dict(&case["state_dict"]);
    m.load_state_dict(&sd, true).expect("strict load");
    assert_eq!(keys_of(m), keys, "{}: state_dict keys", case["name"]);
}

fn bn_config(c: &Value) -> BatchNormConfig {
    let mut cfg = BatchNormConfig::default();
    if let Some(m) = c.get("momentum") {
        cfg = cfg.momentum(m.as_f64());
    }
    if let Some(e) = c.get("eps") {
        cfg = cfg.eps(e.as_f64().expect("eps"));
    }
    if let Some(a) = c.get("affine") {
        cfg = cfg.affine(a.as_bool().expect("affine"));
    }
    if let Some(t) = c.get("track_running_stats") {
        cfg = cfg.track_running_stats(t.as_bool().expect("track_running_stats"));
    }
    cfg
}

fn run_bn_case<M: Forward>(mut m: M, case: &Value) {
    let name = case["name"].as_str().expect("name");
    load_state(&m, case);
    for (i, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
        let train = step["train"].as_bool().expect("train");
        if train {
            m.train();
        } else {
            m.eval();
        }
        assert_eq!(m.is_training(), train);
        let x = tensor(&step["input"]).requires_grad_(true);
        let out = m.forward(&x).unwrap_or_else(|e| panic!("{name} step {i}: {e}"));
        assert_close(&out, &tensor(&step["output"]), RTOL, ATOL);
        let buffers = m.named_buffers();
        for b in ["running_mean", "running_var"] {
            let got = buffers.iter().find(|(n, _)| n == b).map(|(_, t)| t);
            match (got, step.get(b)) {
                (Some(t), Some(v)) => assert_close(t, &tensor(v), RTOL, ATOL),
                (None, None) => {}
                (g, e) => panic!("{name} step {i}: buffer {b}: kiln {g:?} vs torch {e:?}"),
            }
        }
        let nbt = buffers.iter().find(|(n, _)| n == "num_batches_tracked").map(|(_, t)| t);
        match (nbt, step.get("num_batches_tracked")) {
            (Some(t), Some(v)) => {
                assert_eq!(t.dtype(), DType::I64);
                assert_eq!(t.shape(), &[] as &[usize]);
                assert_eq!(
                    t.item::<i64>().expect("item"),
                    v.as_i64().expect("count"),
                    "{name} step {i}"
                );
            }
            (None, None) => {}
            (g, e) => panic!("{name} step {i}: num_batches_tracked: kiln {g:?} vs torch {e:?}"),
        }
        if let Some(g) = step.get("grads") {
            out.mul(&tensor(&g["loss_weights"]))
                .unwrap()
                .sum()
                .unwrap()
                .backward()
                .unwrap();
            assert_close(
                &x.grad().expect("input grad"),
                &values_like(&g["input"], &x),
                RTOL,
                ATOL,
            );
            for (pname, p) in m.named_parameters() {
                let grad = p.grad().unwrap_or_else(|| panic!("{name}: no grad for {pname}"));
                assert_close(&grad, &values_like(&g[pname.as_str()], &p), RTOL, ATOL);
            }
            m.zero_grad();
        }
    }
}

#[test]
fn batch_norm_matches_pytorch_over_training_and_eval_steps() {
    let cases = load("batch_norm.json");
    assert_eq!(cases.len(), 8);
    for case in &cases {
        let c = case["steps"][0]["input"][0].as_array().expect("shape")[1]
            .as_u64()
            .unwrap() as usize;
        let cfg = bn_config(&case["config"]);
        match case["module"].as_str().expect("module") {
            "BatchNorm1d" => run_bn_case(BatchNorm1d::with_config(c, cfg).unwrap(), case),
            "BatchNorm2d" => run_bn_case(BatchNorm2d::with_config(c, cfg).unwrap(), case),
            other => panic!("unknown module {other}"),
        }
    }
}

#[test]
fn batch_norm_defaults_and_layout() {
    let bn = BatchNorm2d::new(3).unwrap();
    assert_eq!(
        keys_of(&bn),
        ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    );
    assert_eq!(bn.momentum, Some(0.1));
    assert_eq!(bn.eps, 1e-5);
    assert_eq!(bn.weight.as_ref().unwrap().to_vec::<f32>().unwrap(), [1.0; 3]);
    assert_eq!(bn.bias.as_ref().unwrap().to_vec::<f32>().unwrap(), [0.0; 3]);
    assert_eq!(bn.running_mean.as_ref().unwrap().to_vec::<f32>().unwrap(), [0.0; 3]);
    assert_eq!(bn.running_var.as_ref().unwrap().to_vec::<f32>().unwrap(), [1.0; 3]);
    let nbt = bn.num_batches_tracked.as_ref().unwrap();
    assert_eq!((nbt.dtype(), nbt.rank()), (DType::I64, 0));
    assert_eq!(bn.named_parameters().len(), 2);
    assert_eq!(bn.named_buffers().len(), 3);
    let bare =
        BatchNorm1d::with_config(3, BatchNormConfig::default().affine(false).track_running_stats(false)).unwrap();
    assert!(keys_of(&bare).is_empty());
    // 5-D input for BatchNorm3d: per-channel zero mean in training.
    let bn3 = BatchNorm3d::new(2).unwrap();
    let x = Tensor::randn(&[2, 2, 2, 3, 2], DType::F32).unwrap();
    let y = bn3.forward(&x).unwrap();
    let m = y.mean_dims(&[0, 2, 3, 4], false).unwrap();
    assert_close(&m, &Tensor::zeros(&[2], DType::F32), 0.0, 1e-5);
    assert_eq!(bn3.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 1);
    bn3.reset_running_stats().unwrap();
    assert_eq!(bn3.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 0);
    assert_eq!(bn3.running_var.as_ref().unwrap().to_vec::<f32>().unwrap(), [1.0; 2]);
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct Net {
    fc: Linear,
    norm: BatchNorm1d,
}

impl Net {
    fn forward(&self, x: &Tensor) -> kiln_nn::Result<Tensor> {
        self.norm.forward(&self.fc.forward(x)?)
    }
}

#[test]
fn eval_on_a_model_switches_its_batch_norm() {
    let mut net = Net {
        fc: Linear::new(4, 3).unwrap(),
        norm: BatchNorm1d::new(3).unwrap(),
    };
    assert!(net.is_training());
    assert_eq!(
        keys_of(&net),
        [
            "fc.weight",
            "fc.bias",
            "norm.weight",
            "norm.bias",
            "norm.running_mean",
            "norm.running_var",
            "norm.num_batches_tracked"
        ]
    );
    let x = Tensor::randn(&[5, 4], DType::F32).unwrap();
    net.forward(&x).unwrap();
    let rm = net.norm.running_mean.clone().unwrap();
    let after_train = rm.to_vec::<f32>().unwrap();
    assert!(after_train.iter().any(|v| *v != 0.0), "training updates running_mean");
    net.eval();
    assert!(!net.is_training() && !net.norm.is_training());
    // Evaluation uses (and keeps) the running statistics: y = (h - rm) / sqrt(rv + eps) * 1 + 0.
    let y = net.forward(&x).unwrap();
    assert_eq!(rm.to_vec::<f32>().unwrap(), after_train);
    assert_eq!(net.norm.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 1);
    let h = net.fc.forward(&x).unwrap();
    let rv = net.norm.running_var.clone().unwrap();
    let expected = h
        .sub(&rm)
        .unwrap()
        .div(&rv.add_scalar(1e-5).unwrap().sqrt().unwrap())
        .unwrap();
    assert_close(&y, &expected, 1e-5, 1e-6);
    // Batch size 1 is fine in evaluation.
    net.forward(&Tensor::randn(&[1, 4], DType::F32).unwrap()).unwrap();
    net.train();
    assert!(net.norm.is_training());
}

#[test]
fn batch_norm_errors() {
    let bn1 = BatchNorm1d::new(3).unwrap();
    let e = bn1
        .forward(&Tensor::zeros(&[2, 3, 2, 2], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("BatchNorm1d") && e.contains("expected 2D or 3D input (got 4D"),
        "{e}"
    );
    let e = bn1.forward(&Tensor::zeros(&[3], DType::F32)).unwrap_err().to_string();
    assert!(e.contains("expected 2D or 3D input (got 1D"), "{e}");
    let bn2 = BatchNorm2d::new(3).unwrap();
    let e = bn2
        .forward(&Tensor::zeros(&[2, 3, 4], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("BatchNorm2d") && e.contains("expected 4D input (got 3D"),
        "{e}"
    );
    let e = bn2
        .forward(&Tensor::zeros(&[2, 4, 2, 2], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected 3 channels"), "{e}");
    // One value per channel in training: PyTorch's error, and nothing is updated.
    for x in [
        Tensor::zeros(&[1, 3], DType::F32),
        Tensor::zeros(&[1, 3, 1], DType::F32),
    ] {
        let e = bn1.forward(&x).unwrap_err().to_string();
        assert!(e.contains("more than 1 value per channel when training"), "{e}");
    }
    let e = bn2
        .forward(&Tensor::zeros(&[1, 3, 1, 1], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 1 value per channel when training"), "{e}");
    assert_eq!(bn1.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 0);
    // Batch size 1 with a spatial extent is fine.
    bn1.forward(&Tensor::randn(&[1, 3, 4], DType::F32).unwrap()).unwrap();
    let e = BatchNorm1d::with_config(3, BatchNormConfig::default().dtype(DType::I64)).unwrap_err();
    assert!(e.to_string().contains("floating-point"), "{e}");
}

fn run_simple_case<M: Forward>(m: M, case: &Value) {
    let name = case["name"].as_str().expect("name");
    load_state(&m, case);
    let x = tensor(&case["input"]).requires_grad_(true);
    let out = m.forward(&x).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_close(&out, &tensor(&case["output"]), RTOL, ATOL);
    out.mul(&tensor(&case["loss_weights"]))
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    let g = &case["grads"];
    assert_close(
        &x.grad().expect("input grad"),
        &values_like(&g["input"], &x),
        RTOL,
        ATOL,
    );
    let params = m.named_parameters();
    assert_eq!(
        params.len(),
        g.as_object().unwrap().len() - 1,
        "{name}: parameter count"
    );
    for (pname, p) in params {
        let grad = p.grad().unwrap_or_else(|| panic!("{name}: no grad for {pname}"));
        assert_close(&grad, &values_like(&g[pname.as_str()], &p), RTOL, ATOL);
    }
}

#[test]
fn group_norm_matches_pytorch() {
    let cases = load("group_norm.json");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let c = &case["config"];
        let mut cfg = GroupNormConfig::default();
        if let Some(e) = c.get("eps") {
            cfg = cfg.eps(e.as_f64().unwrap());
        }
        if let Some(a) = c.get("affine") {
            cfg = cfg.affine(a.as_bool().unwrap());
        }
        let groups = c["num_groups"].as_u64().unwrap() as usize;
        let channels = c["num_channels"].as_u64().unwrap() as usize;
        run_simple_case(GroupNorm::with_config(groups, channels, cfg).unwrap(), case);
    }
}

#[test]
fn group_norm_defaults_and_errors() {
    let gn = GroupNorm::new(2, 4).unwrap();
    assert_eq!(keys_of(&gn), ["weight", "bias"]);
    assert_eq!(gn.weight.as_ref().unwrap().to_vec::<f32>().unwrap(), [1.0; 4]);
    assert_eq!(gn.bias.as_ref().unwrap().to_vec::<f32>().unwrap(), [0.0; 4]);
    assert_eq!(gn.eps, 1e-5);
    let e = GroupNorm::new(3, 4).unwrap_err().to_string();
    assert!(
        e.contains("GroupNorm") && e.contains("num_channels must be divisible by num_groups"),
        "{e}"
    );
    assert!(GroupNorm::new(0, 4).is_err());
    let e = gn
        .forward(&Tensor::zeros(&[2, 6, 3], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[N, 4, *]"), "{e}");
    assert!(gn.forward(&Tensor::zeros(&[4], DType::F32)).is_err());
}

#[test]
fn rms_norm_matches_pytorch() {
    let cases = load("rms_norm.json");
    assert_eq!(cases.len(), 3);
    for case in &cases {
        let c = &case["config"];
        let ns = dims(&c["normalized_shape"]);
        let mut cfg = RMSNormConfig::default();
        if let Some(e) = c.get("eps") {
            cfg = cfg.eps(e.as_f64());
        }
        if let Some(a) = c.get("elementwise_affine") {
            cfg = cfg.elementwise_affine(a.as_bool().unwrap());
        }
        run_simple_case(RMSNorm::with_config(&ns, cfg).unwrap(), case);
    }
}

#[test]
fn rms_norm_defaults_eps_and_errors() {
    let rms = RMSNorm::new(&[4]).unwrap();
    assert_eq!(keys_of(&rms), ["weight"]);
    assert_eq!(rms.eps, None);
    // eps = None is the dtype's machine epsilon: visible on an all-zero row next to a tiny one.
    let x = Tensor::from_vec(vec![1e-4f32, 0.0, 0.0, 0.0], &[1, 4]).unwrap();
    let y = rms.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let ms = 1e-8f64 / 4.0;
    let expected = 1e-4 / (ms + f32::EPSILON as f64).sqrt();
    assert!(
        (y[0] as f64 - expected).abs() < 1e-4 * expected,
        "{} vs {expected}",
        y[0]
    );
    let e = rms
        .forward(&Tensor::zeros(&[2, 3], DType::F32))
        .unwrap_err()
        .to_string();
    assert!(e.contains("normalized_shape"), "{e}");
}

#[test]
fn batch_norm_to_dtype_keeps_the_counter_int64() {
    let mut bn = BatchNorm1d::new(2).unwrap();
    bn.to_dtype(DType::F64).unwrap();
    assert_eq!(bn.weight.as_ref().unwrap().dtype(), DType::F64);
    assert_eq!(bn.running_var.as_ref().unwrap().dtype(), DType::F64);
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().dtype(), DType::I64);
    let y = bn.forward(&Tensor::randn(&[4, 2], DType::F64).unwrap()).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>().unwrap(), 1);
}

#[test]
fn norm_layers_pass_gradcheck_in_f64() {
    use kiln_tensor::testing::{gradcheck, GradcheckOptions};
    kiln_tensor::manual_seed(3);
    let x = Tensor::randn(&[3, 2, 2, 2], DType::F64).unwrap();
    let w = Tensor::rand(&[2], DType::F64).unwrap().add_scalar(0.5).unwrap();
    let b = Tensor::randn(&[2], DType::F64).unwrap();
    for training in [true, false] {
        let bn = |ts: &[Tensor]| {
            let mut m = BatchNorm2d::with_config(2, BatchNormConfig::default().dtype(DType::F64))?;
            m.weight = Some(ts[1].clone());
            m.bias = Some(ts[2].clone());
            m.running_var.as_ref().unwrap().fill_(1.7)?;
            if !training {
                m.eval();
            }
            m.forward(&ts[0])
        };
        gradcheck(bn, &[&x, &w, &b], GradcheckOptions::default()).unwrap();
    }
    let gn = |ts: &[Tensor]| {
        let mut m = GroupNorm::with_config(1, 2, GroupNormConfig::default().dtype(DType::F64))?;
        m.weight = Some(ts[1].clone());
        m.bias = Some(ts[2].clone());
        m.forward(&ts[0])
    };
    gradcheck(gn, &[&x, &w, &b], GradcheckOptions::default()).unwrap();
    let rms = |ts: &[Tensor]| {
        let mut m = RMSNorm::with_config(&[2, 2], RMSNormConfig::default().dtype(DType::F64))?;
        m.weight = Some(ts[1].reshape(&[2, 1])?.expand(&[2, 2])?);
        m.forward(&ts[0])
    };
    gradcheck(rms, &[&x, &w], GradcheckOptions::default()).unwrap();
}
