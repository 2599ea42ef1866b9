//! `TransformerEncoderLayer` and `TransformerEncoder` against PyTorch
//! (`fixtures/seq/transformer.json`): post- and pre-norm, relu and gelu, eval mode and train mode
//! with dropout 0, masks, `batch_first`, no bias, unbatched input, stacks with a final norm; the
//! same for `TransformerDecoderLayer` and `TransformerDecoder`.

mod seq_common;

use kiln_nn::{
    generate_square_subsequent_mask, Activation, DecoderArgs, Forward, LayerNorm, Module, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer, TransformerEncoderLayerConfig,
};
use kiln_tensor::{DType, Result, Tensor};
use seq_common::{load, Case};

fn layer_config(case: &Case) -> TransformerEncoderLayerConfig {
    let activation = match case.config["activation"].as_str() {
        Some("relu") => Activation::Relu,
        Some("gelu") => Activation::Gelu,
        other => panic!("{}: activation {other:?}", case.name),
    };
    TransformerEncoderLayerConfig::default()
        .dim_feedforward(case.usize("dim_feedforward"))
        .dropout(case.f64("dropout"))
        .activation(activation)
        .layer_norm_eps(case.f64("layer_norm_eps"))
        .batch_first(case.flag("batch_first"))
        .norm_first(case.flag("norm_first"))
        .bias(case.flag("bias"))
}

fn run_decoder(case: &Case) {
    let fail = |e: kiln_tensor::Error| -> ! { panic!("{}: {e}", case.name) };
    let layer = TransformerDecoderLayer::with_config(case.usize("d_model"), case.usize("nhead"), layer_config(case))
        .unwrap_or_else(|e| fail(e));
    let (tgt, memory) = (case.input("tgt"), case.input("memory"));
    let args = DecoderArgs {
        tgt_mask: case.opt("tgt_mask"),
        memory_mask: case.opt("memory_mask"),
        tgt_key_padding_mask: case.opt("tgt_key_padding_mask"),
        memory_key_padding_mask: case.opt("memory_key_padding_mask"),
        tgt_is_causal: case.arg("tgt_is_causal"),
        memory_is_causal: case.arg("memory_is_causal"),
    };
    if case.config.get("num_layers").is_some() {
        let norm = case
            .flag("final_norm")
            .then(|| LayerNorm::new(&[case.usize("d_model")]).expect("norm"));
        let mut dec = TransformerDecoder::new(layer, case.usize("num_layers"), norm).unwrap_or_else(|e| fail(e));
        case.load_into(&mut dec);
        let out = dec.forward(tgt, memory, args).unwrap_or_else(|e| fail(e));
        case.check(&dec, &[out]);
    } else {
        let mut layer = layer;
        case.load_into(&mut layer);
        let out = layer.forward(tgt, memory, args).unwrap_or_else(|e| fail(e));
        case.check(&layer, &[out]);
    }
}

fn run(case: &Case) {
    let fail = |e: kiln_tensor::Error| -> ! { panic!("{}: {e}", case.name) };
    let layer = TransformerEncoderLayer::with_config(case.usize("d_model"), case.usize("nhead"), layer_config(case))
        .unwrap_or_else(|e| fail(e));
    let src = case.input("src");
    let (mask, kpm, causal) = (
        case.opt("src_mask"),
        case.opt("src_key_padding_mask"),
        case.arg("is_causal"),
    );
    if case.config.get("num_layers").is_some() {
        let norm = case
            .flag("final_norm")
            .then(|| LayerNorm::new(&[case.usize("d_model")]).expect("norm"));
        let mut enc = TransformerEncoder::new(layer, case.usize("num_layers"), norm).unwrap_or_else(|e| fail(e));
        case.load_into(&mut enc);
        let out = enc.forward(src, mask, kpm, causal).unwrap_or_else(|e| fail(e));
        case.check(&enc, &[out]);
    } else {
        let mut layer = layer;
        case.load_into(&mut layer);
        let out = layer.forward(src, mask, kpm, causal).unwrap_or_else(|e| fail(e));
        case.check(&layer, &[out]);
    }
}

#[test]
fn encoder_and_decoder_layers_match_pytorch() {
    let cases = load("transformer.json");
    assert!(cases.len() >= 12);
    let mut decoders = 0;
    for c in &cases {
        let case = Case::parse(c);
        match c["module"].as_str() {
            Some("encoder_layer" | "encoder") => run(&case),
            Some("decoder_layer" | "decoder") => {
                decoders += 1;
                run_decoder(&case)
            }
            other => panic!("{}: unknown module {other:?}", case.name),
        }
    }
    assert_eq!(decoders, 3);
}

#[test]
fn submodule_names_follow_pytorch() -> Result<()> {
    let layer =
        TransformerEncoderLayer::with_config(4, 2, TransformerEncoderLayerConfig::default().dim_feedforward(8))?;
    let keys: Vec<String> = layer.state_dict().keys().map(str::to_string).collect();
    assert_eq!(
        keys,
        [
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias",
        ]
    );
    assert_eq!(layer.linear1.weight.shape(), &[8, 4]);
    let enc = TransformerEncoder::new(layer, 3, Some(LayerNorm::new(&[4])?))?;
    let sd = enc.state_dict();
    assert_eq!(sd.len(), 3 * 12 + 2);
    assert!(sd.contains_key("layers.2.self_attn.out_proj.weight") && sd.contains_key("norm.bias"));
    Ok(())
}

#[test]
fn decoder_submodule_names_follow_pytorch() -> Result<()> {
    let layer = TransformerDecoderLayer::new(4, 2)?;
    let keys: Vec<String> = layer.state_dict().keys().map(str::to_string).collect();
    assert_eq!(keys.len(), 4 + 4 + 4 + 6);
    assert_eq!(keys[4], "multihead_attn.in_proj_weight");
    assert_eq!(
        keys[8..12],
        ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"]
    );
    assert_eq!(keys[17], "norm3.bias");
    assert_eq!(layer.linear1.weight.shape(), &[2048, 4]);
    let dec = TransformerDecoder::new(layer, 2, None)?;
    assert_eq!(dec.state_dict().len(), 2 * 18);
    assert!(!dec.layers[0]
        .linear2
        .weight
        .shares_storage(&dec.layers[1].linear2.weight));
    let x = Tensor::zeros(&[3, 2, 4], DType::F32);
    let mem = Tensor::zeros(&[5, 2, 4], DType::F32);
    let bad = Tensor::zeros(&[3, 3], DType::Bool);
    let msg = dec
        .forward(&x, &mem, DecoderArgs::default().memory_mask(&bad))
        .expect_err("mask")
        .to_string();
    assert!(msg.contains("2D attn_mask is [3, 3], but should be [3, 5]"), "{msg}");
    assert_eq!(dec.forward(&x, &mem, DecoderArgs::default())?.shape(), &[3, 2, 4]);
    Ok(())
}

#[test]
fn encoder_layers_start_as_separate_copies() -> Result<()> {
    let layer =
        TransformerEncoderLayer::with_config(4, 2, TransformerEncoderLayerConfig::default().dim_feedforward(8))?;
    let enc = TransformerEncoder::new(layer, 2, None)?;
    let (a, b) = (&enc.layers[0].linear1.weight, &enc.layers[1].linear1.weight);
    assert_eq!(a.to_vec_f64(), b.to_vec_f64());
    assert!(!a.shares_storage(b));
    Ok(())
}

#[test]
fn forward_trait_and_train_mode_dropout() -> Result<()> {
    kiln_tensor::manual_seed(5);
    let mut layer = TransformerEncoderLayer::with_config(
        4,
        2,
        TransformerEncoderLayerConfig::default()
            .dim_feedforward(8)
            .dropout(0.5)
            .batch_first(true),
    )?;
    let x = Tensor::randn(&[2, 3, 4], DType::F32)?;
    let a = Forward::forward(&layer, &x)?;
    let b = Forward::forward(&layer, &x)?;
    assert_eq!(a.shape(), &[2, 3, 4]);
    assert_ne!(a.to_vec_f64(), b.to_vec_f64(), "dropout draws differ in training mode");
    layer.eval();
    let a = Forward::forward(&layer, &x)?;
    let b = layer.forward(&x, None, None, false)?;
    assert_eq!(a.to_vec_f64(), b.to_vec_f64());
    Ok(())
}

#[test]
fn square_subsequent_mask() -> Result<()> {
    let m = generate_square_subsequent_mask(3, DType::F32)?;
    let inf = f64::NEG_INFINITY;
    assert_eq!(m.to_vec_f64(), [0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0]);
    assert!(generate_square_subsequent_mask(3, DType::I64).is_err());
    Ok(())
}

#[test]
fn errors_name_the_layer_and_values() -> Result<()> {
    let msg = TransformerEncoderLayer::new(6, 4).expect_err("6 % 4 != 0").to_string();
    assert!(msg.contains("embed_dim must be divisible by num_heads"), "{msg}");
    let cfg = TransformerEncoderLayerConfig::default().dim_feedforward(8);
    let layer = TransformerEncoderLayer::with_config(4, 2, cfg.clone())?;
    let wrong = Tensor::zeros(&[3, 2, 5], DType::F32);
    let msg = layer
        .forward(&wrong, None, None, false)
        .expect_err("d_model 4")
        .to_string();
    assert!(
        msg.contains("embedding dimension of 4, but got 5") || msg.contains("normalized_shape"),
        "{msg}"
    );
    let x = Tensor::zeros(&[3, 2, 4], DType::F32);
    let bad_mask = Tensor::zeros(&[2, 2], DType::Bool);
    let msg = layer
        .forward(&x, Some(&bad_mask), None, false)
        .expect_err("mask")
        .to_string();
    assert!(msg.contains("2D attn_mask is [2, 2], but should be [3, 3]"), "{msg}");
    let msg = layer.forward(&x, None, None, true).expect_err("causal").to_string();
    assert!(msg.contains("Need attn_mask"), "{msg}");
    let int_mask = Tensor::zeros(&[2, 3], DType::I64);
    let msg = layer
        .forward(&x, None, Some(&int_mask), false)
        .expect_err("int")
        .to_string();
    assert!(msg.contains("src_key_padding_mask"), "{msg}");
    Ok(())
}
