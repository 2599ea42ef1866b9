//! Whole PyTorch models built from the sequence layers, loaded from the `safetensors` files of
//! `fixtures/interop/generate.py` (`torch_rnn`, `torch_transformer`) with strict
//! `load_state_dict`, and compared with PyTorch's eval-mode outputs.

use kiln_nn::serialize::load_state_dict_file;
use kiln_nn::{
    Activation, Forward, LayerNorm, Linear, Module, RnnConfig, StateDict, TransformerEncoder, TransformerEncoderLayer,
    TransformerEncoderLayerConfig, GRU, LSTM,
};
use kiln_tensor::{testing::assert_close, Result, Tensor};
use serde_json::Value;
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
    let (h, _) = m.lstm.forward(&tensor(&doc["input"]), None)?;
    let (h, _) = m.gru.forward(&h, None)?;
    assert_close(&m.head.forward(&h)?, &tensor(&doc["output"]), 1e-4, 1e-5);
    Ok(())
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
    let x = Tensor::embedding(&m.embed.weight, &tensor(&doc["input"]), Some(0))?.add(&m.pos)?;
    let h = Forward::forward(&m.encoder, &x)?;
    assert_close(
        &m.head.forward(&h.mean_dims(&[1], false)?)?,
        &tensor(&doc["output"]),
        1e-4,
        1e-5,
    );
    Ok(())
}
