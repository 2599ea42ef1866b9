//! `MultiheadAttention` against PyTorch (`fixtures/seq/attention.json`): outputs, returned
//! weights and gradients for cross- and self-attention, `batch_first`, unbatched input, bool and
//! float masks, key padding masks, the causal hint, and construction/shape errors.

mod seq_common;

use kiln_nn::{MhaArgs, Module, MultiheadAttention, MultiheadAttentionConfig};
use kiln_tensor::{DType, Result, Tensor};
use seq_common::{load, Case};

fn run(case: &Case) {
    let cfg = MultiheadAttentionConfig::default()
        .dropout(case.f64("dropout"))
        .bias(case.flag("bias"))
        .batch_first(case.flag("batch_first"));
    let mut m = MultiheadAttention::with_config(case.usize("embed_dim"), case.usize("num_heads"), cfg)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    case.load_into(&mut m);
    let q = case.input("query");
    let (k, v) = if case.same_qkv {
        (q, q)
    } else {
        (case.input("key"), case.input("value"))
    };
    let mut args = MhaArgs::default()
        .need_weights(case.arg("need_weights"))
        .average_attn_weights(case.arg("average_attn_weights"))
        .is_causal(case.arg("is_causal"));
    args.key_padding_mask = case.opt("key_padding_mask");
    args.attn_mask = case.opt("attn_mask");
    let (out, w) = m
        .forward(q, k, v, args)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert_eq!(w.is_some(), case.arg("need_weights"), "{}: weights returned", case.name);
    let outputs: Vec<Tensor> = std::iter::once(out).chain(w).collect();
    case.check(&m, &outputs);
}

#[test]
fn multihead_attention_matches_pytorch() {
    let cases = load("attention.json");
    assert!(cases.len() >= 17);
    for c in &cases {
        run(&Case::parse(c));
    }
}

#[test]
fn parameters_have_pytorch_names_shapes_and_init() -> Result<()> {
    kiln_tensor::manual_seed(0);
    let m = MultiheadAttention::new(8, 2)?;
    let sd = m.state_dict();
    let keys: Vec<&str> = sd.keys().collect();
    assert_eq!(
        keys,
        ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    );
    assert_eq!(m.in_proj_weight.shape(), &[24, 8]);
    // xavier_uniform_: bound √(6 / (8 + 24)).
    let bound = (6.0f64 / 32.0).sqrt();
    let w = m.in_proj_weight.to_vec_f64();
    assert!(w.iter().all(|x| x.abs() <= bound));
    assert!(w.iter().any(|x| x.abs() > 0.8 * bound));
    assert!(m
        .in_proj_bias
        .as_ref()
        .is_some_and(|b| b.to_vec_f64().iter().all(|&x| x == 0.0)));
    assert!(m
        .out_proj
        .bias
        .as_ref()
        .is_some_and(|b| b.to_vec_f64().iter().all(|&x| x == 0.0)));
    // out_proj.weight keeps Linear's init: U(-1/√8, 1/√8).
    assert!(m
        .out_proj
        .weight
        .to_vec_f64()
        .iter()
        .all(|x| x.abs() <= 1.0 / 8f64.sqrt()));
    let no_bias = MultiheadAttention::with_config(4, 1, MultiheadAttentionConfig::default().bias(false))?;
    let keys: Vec<String> = no_bias.state_dict().keys().map(str::to_string).collect();
    assert_eq!(keys, ["in_proj_weight", "out_proj.weight"]);
    Ok(())
}

#[test]
fn dropout_on_weights_only_in_training() -> Result<()> {
    kiln_tensor::manual_seed(3);
    let mut m = MultiheadAttention::with_config(4, 2, MultiheadAttentionConfig::default().dropout(0.5))?;
    let x = Tensor::randn(&[5, 2, 4], DType::F32)?;
    let (_, w) = m.forward(&x, &x, &x, MhaArgs::default().average_attn_weights(false))?;
    let w = w.expect("weights").to_vec_f64();
    // Dropout zeroes some weights and scales the others by 2, so rows no longer sum to 1.
    assert!(w.contains(&0.0));
    m.eval();
    let (_, w) = m.forward(&x, &x, &x, MhaArgs::default())?;
    let sums = w.expect("weights").sum_dims(&[-1], false)?.to_vec_f64();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    Ok(())
}

fn err_msg<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn construction_errors() {
    let msg = err_msg(MultiheadAttention::new(6, 4));
    assert!(
        msg.contains("embed_dim must be divisible by num_heads") && msg.contains("embed_dim=6"),
        "{msg}"
    );
    let msg = err_msg(MultiheadAttention::new(0, 1));
    assert!(msg.contains("greater than 0"), "{msg}");
    let msg = err_msg(MultiheadAttention::with_config(
        4,
        2,
        MultiheadAttentionConfig::default().dropout(1.5),
    ));
    assert!(msg.contains("between 0 and 1"), "{msg}");
}

#[test]
fn shape_errors_name_the_problem() -> Result<()> {
    let m = MultiheadAttention::new(4, 2)?;
    let x = Tensor::zeros(&[3, 2, 4], DType::F32);
    let fwd = |q: &Tensor, k: &Tensor, args: MhaArgs<'_>| m.forward(q, k, k, args).map(|(o, _)| o);

    let r4 = Tensor::zeros(&[1, 3, 2, 4], DType::F32);
    assert!(err_msg(fwd(&r4, &r4, MhaArgs::default())).contains("unbatched 2D or batched 3D"));
    let k2 = Tensor::zeros(&[3, 4], DType::F32);
    let msg = err_msg(fwd(&x, &k2, MhaArgs::default()));
    assert!(
        msg.contains("expected `key` and `value` to be 3-D but found 2-D"),
        "{msg}"
    );
    let wide = Tensor::zeros(&[3, 2, 6], DType::F32);
    let msg = err_msg(fwd(&wide, &wide, MhaArgs::default()));
    assert!(
        msg.contains("was expecting embedding dimension of 4, but got 6"),
        "{msg}"
    );
    let other_batch = Tensor::zeros(&[3, 5, 4], DType::F32);
    assert!(err_msg(fwd(&x, &other_batch, MhaArgs::default())).contains("does not fit query"));
    let msg = err_msg(m.forward(&x, &x, &other_batch, MhaArgs::default()));
    assert!(msg.contains("does not match value shape"), "{msg}");

    let bad2d = Tensor::zeros(&[3, 4], DType::Bool);
    let msg = err_msg(fwd(&x, &x, MhaArgs::default().attn_mask(&bad2d)));
    assert!(
        msg.contains("The shape of the 2D attn_mask is [3, 4], but should be [3, 3]"),
        "{msg}"
    );
    let bad3d = Tensor::zeros(&[2, 3, 3], DType::F32);
    let msg = err_msg(fwd(&x, &x, MhaArgs::default().attn_mask(&bad3d)));
    assert!(
        msg.contains("3D attn_mask is [2, 3, 3], but should be [4, 3, 3]"),
        "{msg}"
    );
    let r1 = Tensor::zeros(&[3], DType::Bool);
    assert!(err_msg(fwd(&x, &x, MhaArgs::default().attn_mask(&r1))).contains("2-D or 3-D"));
    let kpm = Tensor::zeros(&[2, 5], DType::Bool);
    let msg = err_msg(fwd(&x, &x, MhaArgs::default().key_padding_mask(&kpm)));
    assert!(
        msg.contains("expecting key_padding_mask shape of [2, 3], but got [2, 5]"),
        "{msg}"
    );
    let kpm1 = Tensor::zeros(&[3], DType::Bool);
    assert!(err_msg(fwd(&x, &x, MhaArgs::default().key_padding_mask(&kpm1))).contains("key_padding_mask"));
    let int_mask = Tensor::zeros(&[3, 3], DType::I64);
    let msg = err_msg(fwd(&x, &x, MhaArgs::default().attn_mask(&int_mask)));
    assert!(msg.contains("only bool and floating types of attn_mask"), "{msg}");
    let msg = err_msg(fwd(&x, &x, MhaArgs::default().is_causal(true)));
    assert!(msg.contains("Need attn_mask"), "{msg}");
    Ok(())
}

#[test]
fn fully_masked_queries_are_nan_with_weights_and_zero_without() -> Result<()> {
    kiln_tensor::manual_seed(6);
    let m = MultiheadAttention::new(4, 2)?;
    let x = Tensor::randn(&[3, 1, 4], DType::F32)?.requires_grad_(true);
    let mask = Tensor::from_vec(vec![true, true, true, false, true, true, false, false, true], &[3, 3])?;
    let (y, w) = m.forward(&x, &x, &x, MhaArgs::default().attn_mask(&mask))?;
    assert!(y.select(0, 0)?.to_vec_f64().iter().all(|v| v.is_nan()));
    assert!(w
        .expect("weights")
        .select(1, 0)?
        .to_vec_f64()
        .iter()
        .all(|v| v.is_nan()));
    assert!(y.select(0, 1)?.to_vec_f64().iter().all(|v| v.is_finite()));
    let (y, _) = m.forward(&x, &x, &x, MhaArgs::default().attn_mask(&mask).need_weights(false))?;
    // The dead query attends to nothing: its output is out_proj's bias (zeros at init).
    assert!(y.select(0, 0)?.to_vec_f64().iter().all(|&v| v == 0.0));
    y.sum()?.backward()?;
    assert!(x.grad().expect("grad").to_vec_f64().iter().all(|v| v.is_finite()));
    assert!(m
        .in_proj_weight
        .grad()
        .expect("grad")
        .to_vec_f64()
        .iter()
        .all(|v| v.is_finite()));
    Ok(())
}
