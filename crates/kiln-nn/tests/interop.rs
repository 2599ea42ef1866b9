//! Checkpoints move between PyTorch and Kiln both ways (`fixtures/interop/generate.py`).
//!
//! PyTorch → Kiln: each `torch_<name>.safetensors` (a PyTorch `state_dict` saved with
//! `safetensors.torch.save_file`) loads with strict `load_state_dict` into the equivalent Kiln
//! model, whose `state_dict()` keys (in order) equal PyTorch's and whose eval output matches.
//!
//! Kiln → PyTorch: the Kiln model, changed on the Kiln side (weights halved), is saved by Kiln's
//! writer; `generate.py --check-kiln` loads the committed `kiln_<name>.safetensors` into the PyTorch
//! model with `load_state_dict(strict=True)` and compares its output with the one Kiln recorded in
//! `kiln_<name>.json`. This test keeps those files byte-identical to what Kiln writes today, so a
//! change of names, layouts or format fails here until the files are regenerated
//! (`KILN_REGEN_INTEROP=1`) and checked in PyTorch again.

use kiln_nn::serialize::{load_state_dict_file, state_dict_to_bytes};
use kiln_nn::{
    Activation, Forward, LayerNorm, Linear, Module, RnnConfig, StateDict, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig, GRU, LSTM,
};
use kiln_tensor::{testing::assert_close, Result, Tensor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/interop")
        .join(name)
}

/// The input and expected output of `torch_<name>.json`, and its state dict.
fn load(name: &str) -> (Value, StateDict) {
    let text = std::fs::read_to_string(fixture(&format!("torch_{name}.json"))).expect("fixture json");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let (sd, _) = load_state_dict_file(fixture(&format!("torch_{name}.safetensors"))).expect("safetensors");
    (doc, sd)
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let data = v["data"].as_array().expect("data");
    if v["dtype"] == "int64" {
        Tensor::from_vec(
            data.iter().map(|x| x.as_i64().expect("int")).collect::<Vec<_>>(),
            &shape,
        )
        .expect("tensor")
    } else {
        Tensor::from_vec(
            data.iter()
                .map(|x| x.as_f64().expect("float") as f32)
                .collect::<Vec<_>>(),
            &shape,
        )
        .expect("tensor")
    }
}

fn tensor_json(t: &Tensor) -> Value {
    let data: Vec<Value> = match t.dtype() {
        kiln_tensor::DType::I64 => t.to_vec::<i64>().expect("i64").into_iter().map(Value::from).collect(),
        _ => t
            .to_vec::<f32>()
            .expect("f32")
            .into_iter()
            .map(|v| Value::from(v as f64))
            .collect(),
    };
    serde_json::json!({
        "shape": t.shape(),
        "dtype": if t.dtype() == kiln_tensor::DType::I64 { "int64" } else { "float32" },
        "data": data,
    })
}

/// The Kiln → PyTorch half: halves the model's float tensors (a change only Kiln made), saves them
/// with Kiln's writer and records the output for `generate.py --check-kiln`.
fn check_kiln_written(name: &str, model: &impl Module, forward: impl Fn() -> Result<Tensor>) -> Result<()> {
    kiln_tensor::no_grad(|| -> Result<()> {
        for t in model.parameters().iter().chain(model.buffers().iter()) {
            if t.dtype().is_float() {
                t.mul_scalar_(0.5)?;
            }
        }
        Ok(())
    })?;
    let output = kiln_tensor::no_grad(forward)?;
    let bytes = state_dict_to_bytes(&model.state_dict(), &BTreeMap::new())?;
    let st_path = fixture(&format!("kiln_{name}.safetensors"));
    let json_path = fixture(&format!("kiln_{name}.json"));
    if std::env::var_os("KILN_REGEN_INTEROP").is_some() {
        let (doc, _) = load(name);
        let out = serde_json::json!({ "input": doc["input"], "output": tensor_json(&output) });
        std::fs::write(&st_path, &bytes).expect("write safetensors");
        std::fs::write(&json_path, out.to_string() + "\n").expect("write json");
    }
    let committed = std::fs::read(&st_path).expect("committed kiln_*.safetensors");
    assert!(
        committed == bytes,
        "{}: Kiln now writes different bytes; regenerate with KILN_REGEN_INTEROP=1 and run generate.py --check-kiln",
        st_path.display()
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("json");
    assert_close(&output, &tensor(&doc["output"]), 1e-6, 1e-6);
    Ok(())
}

/// PyTorch's `state_dict()` keys in order (the safetensors file sorts them).
fn torch_keys(doc: &Value) -> Vec<&str> {
    doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k[0].as_str().expect("key"))
        .collect()
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct RnnTagger {
    lstm: LSTM,
    gru: GRU,
    head: Linear,
}

#[test]
fn rnn_tagger_matches_pytorch() -> Result<()> {
    let (doc, sd) = load("rnn");
    let mut m = RnnTagger {
        lstm: LSTM::with_config(
            4,
            8,
            RnnConfig::default().num_layers(2).batch_first(true).bidirectional(true),
        )?,
        gru: GRU::with_config(16, 6, RnnConfig::default().batch_first(true))?,
        head: Linear::new(6, 3)?,
    };
    m.load_state_dict(&sd, true)?;
    assert_eq!(m.state_dict().keys().collect::<Vec<_>>(), torch_keys(&doc));
    m.eval();
    let x = tensor(&doc["input"]);
    let run = || -> Result<Tensor> {
        let (h, _) = m.lstm.forward(&x, None)?;
        let (h, _) = m.gru.forward(&h, None)?;
        m.head.forward(&h)
    };
    assert_close(&run()?, &tensor(&doc["output"]), 1e-4, 1e-5);
    check_kiln_written("rnn", &m, run)
}

/// `nn.Embedding`'s parameter, looked up with the tensor op (the layer is not this file's subject).
#[derive(Module)]
#[module(crate = "kiln_nn")]
struct Embed {
    #[param]
    weight: Tensor,
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct TransformerClassifier {
    #[param]
    pos: Tensor,
    embed: Embed,
    encoder: TransformerEncoder,
    head: Linear,
}

#[test]
fn transformer_classifier_matches_pytorch() -> Result<()> {
    let (doc, sd) = load("transformer");
    let cfg = TransformerEncoderLayerConfig::default()
        .dim_feedforward(32)
        .activation(Activation::Gelu)
        .batch_first(true)
        .norm_first(true);
    let mut m = TransformerClassifier {
        pos: kiln_nn::parameter(Tensor::zeros(&[1, 5, 16], kiln_tensor::DType::F32)),
        embed: Embed {
            weight: kiln_nn::parameter(Tensor::zeros(&[20, 16], kiln_tensor::DType::F32)),
        },
        encoder: TransformerEncoder::new(
            TransformerEncoderLayer::with_config(16, 4, cfg)?,
            2,
            Some(LayerNorm::new(&[16])?),
        )?,
        head: Linear::new(16, 3)?,
    };
    m.load_state_dict(&sd, true)?;
    assert_eq!(m.state_dict().keys().collect::<Vec<_>>(), torch_keys(&doc));
    m.eval();
    let tokens = tensor(&doc["input"]);
    let run = || -> Result<Tensor> {
        let x = Tensor::embedding(&m.embed.weight, &tokens, Some(0))?.add(&m.pos)?;
        let h = Forward::forward(&m.encoder, &x)?;
        m.head.forward(&h.mean_dims(&[1], false)?)
    };
    assert_close(&run()?, &tensor(&doc["output"]), 1e-4, 1e-5);
    check_kiln_written("transformer", &m, run)
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct Mlp {
    layers: kiln_nn::Sequential,
}

#[test]
fn mlp_matches_pytorch_both_ways() -> Result<()> {
    let (doc, sd) = load("mlp");
    let mut m = Mlp {
        layers: kiln_nn::Sequential::new()
            .add(Linear::new(64, 32)?)
            .add(kiln_nn::ReLU)
            .add(kiln_nn::Dropout::new(0.2)?)
            .add(Linear::new(32, 10)?),
    };
    m.load_state_dict(&sd, true)?;
    assert_eq!(m.state_dict().keys().collect::<Vec<_>>(), torch_keys(&doc));
    m.eval();
    let x = tensor(&doc["input"]);
    let run = || m.layers.forward(&x.flatten(1, -1)?);
    assert_close(&run()?, &tensor(&doc["output"]), 1e-5, 1e-6);
    check_kiln_written("mlp", &m, run)
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct LeNet {
    conv1: kiln_nn::Conv2d,
    bn1: kiln_nn::BatchNorm2d,
    pool: kiln_nn::MaxPool2d,
    conv2: kiln_nn::Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl LeNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.pool.forward(&self.bn1.forward(&self.conv1.forward(x)?)?.relu()?)?;
        let x = self.pool.forward(&self.conv2.forward(&x)?.relu()?)?;
        self.fc2.forward(&self.fc1.forward(&x.flatten(1, -1)?)?.relu()?)
    }
}

#[test]
fn lenet_with_batch_norm_matches_pytorch_both_ways() -> Result<()> {
    let (doc, sd) = load("lenet");
    let mut m = LeNet {
        conv1: kiln_nn::Conv2d::with_config(1, 4, 3, kiln_nn::Conv2dConfig::default().padding(1))?,
        bn1: kiln_nn::BatchNorm2d::new(4)?,
        pool: kiln_nn::MaxPool2d::new(2)?,
        conv2: kiln_nn::Conv2d::new(4, 8, 3)?,
        fc1: Linear::new(32, 16)?,
        fc2: Linear::new(16, 10)?,
    };
    m.load_state_dict(&sd, true)?;
    assert_eq!(m.state_dict().keys().collect::<Vec<_>>(), torch_keys(&doc));
    assert_eq!(
        m.bn1.num_batches_tracked.as_ref().expect("tracked").item::<i64>()?,
        3,
        "running statistics come from PyTorch"
    );
    m.eval();
    let x = tensor(&doc["input"]);
    assert_close(&m.forward(&x)?, &tensor(&doc["output"]), 1e-5, 1e-5);
    check_kiln_written("lenet", &m, || m.forward(&x))
}
