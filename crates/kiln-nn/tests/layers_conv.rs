//! Convolution, pooling and flatten layers against PyTorch (`tests/fixtures/conv/layers.json`):
//! strict state-dict loading with PyTorch's key order, outputs, and the gradients of the input
//! and every parameter; plus default init bounds, shapes and argument errors.

mod conv_common;

use conv_common::{cases, check_case, load, Layer};
use kiln_nn::{
    AdaptiveAvgPool2d, AvgPool2d, AvgPool2dConfig, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose2d,
    ConvTranspose2dConfig, Flatten, Forward, Identity, Linear, MaxPool2d, MaxPool2dConfig, Module, PaddingMode, ReLU,
    Sequential, GELU,
};
use kiln_tensor::{DType, Padding, Tensor};
use serde_json::Value;

fn pair(v: &Value) -> [usize; 2] {
    match v {
        Value::Number(n) => {
            let n = n.as_u64().expect("size") as usize;
            [n, n]
        }
        Value::Array(a) => [
            a[0].as_u64().expect("size") as usize,
            a[1].as_u64().expect("size") as usize,
        ],
        other => panic!("bad size {other}"),
    }
}

fn one(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("bad size {v}")) as usize
}

fn padding_mode(a: &Value) -> PaddingMode {
    match a.get("padding_mode").and_then(Value::as_str) {
        None | Some("zeros") => PaddingMode::Zeros,
        Some("reflect") => PaddingMode::Reflect,
        Some("replicate") => PaddingMode::Replicate,
        Some("circular") => PaddingMode::Circular,
        Some(other) => panic!("unknown padding_mode {other}"),
    }
}

fn build(case: &Value) -> Box<dyn Layer> {
    let a = &case["args"];
    let has = |k: &str| a.get(k).is_some();
    let flag = |k: &str, d: bool| a.get(k).and_then(Value::as_bool).unwrap_or(d);
    let groups = a.get("groups").map_or(1, one);
    match case["layer"].as_str().expect("layer") {
        "Conv1d" => {
            let mut c = Conv1dConfig::default()
                .groups(groups)
                .bias(flag("bias", true))
                .padding_mode(padding_mode(a));
            if has("stride") {
                c = c.stride(one(&a["stride"]));
            }
            if has("dilation") {
                c = c.dilation(one(&a["dilation"]));
            }
            c = match &a.get("padding") {
                Some(Value::String(s)) if s == "same" => c.padding(Padding::Same),
                Some(Value::String(s)) if s == "valid" => c.padding(Padding::Valid),
                Some(p) => c.padding(one(p)),
                None => c,
            };
            let (i, o, k) = (one(&a["in_channels"]), one(&a["out_channels"]), one(&a["kernel_size"]));
            Box::new(Conv1d::with_config(i, o, k, c).expect("Conv1d"))
        }
        "Conv2d" => {
            let mut c = Conv2dConfig::default()
                .groups(groups)
                .bias(flag("bias", true))
                .padding_mode(padding_mode(a));
            if has("stride") {
                c = c.stride(pair(&a["stride"]));
            }
            if has("dilation") {
                c = c.dilation(pair(&a["dilation"]));
            }
            c = match &a.get("padding") {
                Some(Value::String(s)) if s == "same" => c.padding(Padding::Same),
                Some(Value::String(s)) if s == "valid" => c.padding(Padding::Valid),
                Some(p) => c.padding(pair(p)),
                None => c,
            };
            let (i, o, k) = (one(&a["in_channels"]), one(&a["out_channels"]), pair(&a["kernel_size"]));
            Box::new(Conv2d::with_config(i, o, k, c).expect("Conv2d"))
        }
        "ConvTranspose2d" => {
            let mut c = ConvTranspose2dConfig::default().groups(groups).bias(flag("bias", true));
            if has("stride") {
                c = c.stride(pair(&a["stride"]));
            }
            if has("padding") {
                c = c.padding(pair(&a["padding"]));
            }
            if has("output_padding") {
                c = c.output_padding(pair(&a["output_padding"]));
            }
            if has("dilation") {
                c = c.dilation(pair(&a["dilation"]));
            }
            let (i, o, k) = (one(&a["in_channels"]), one(&a["out_channels"]), pair(&a["kernel_size"]));
            Box::new(ConvTranspose2d::with_config(i, o, k, c).expect("ConvTranspose2d"))
        }
        "MaxPool2d" => {
            let mut c = MaxPool2dConfig::default().ceil_mode(flag("ceil_mode", false));
            if has("stride") {
                c = c.stride(pair(&a["stride"]));
            }
            if has("padding") {
                c = c.padding(pair(&a["padding"]));
            }
            if has("dilation") {
                c = c.dilation(pair(&a["dilation"]));
            }
            Box::new(MaxPool2d::with_config(pair(&a["kernel_size"]), c).expect("MaxPool2d"))
        }
        "AvgPool2d" => {
            let mut c = AvgPool2dConfig::default()
                .ceil_mode(flag("ceil_mode", false))
                .count_include_pad(flag("count_include_pad", true))
                .divisor_override(a.get("divisor_override").map(one));
            if has("stride") {
                c = c.stride(pair(&a["stride"]));
            }
            if has("padding") {
                c = c.padding(pair(&a["padding"]));
            }
            Box::new(AvgPool2d::with_config(pair(&a["kernel_size"]), c).expect("AvgPool2d"))
        }
        "AdaptiveAvgPool2d" => Box::new(AdaptiveAvgPool2d::new(pair(&a["output_size"])).expect("AdaptiveAvgPool2d")),
        "Flatten" if has("start_dim") => Box::new(Flatten::with_dims(
            a["start_dim"].as_i64().expect("start_dim") as isize,
            a["end_dim"].as_i64().expect("end_dim") as isize,
        )),
        "Flatten" => Box::new(Flatten::new()),
        "Identity" => Box::new(Identity::new()),
        "Sequential" => Box::new(small_cnn()),
        other => panic!("unknown layer {other}"),
    }
}

/// The generator's `sequential_small_cnn`: conv, relu, max-pool, conv, gelu, adaptive pool,
/// flatten, linear.
fn small_cnn() -> Sequential {
    Sequential::new()
        .add(Conv2d::with_config(1, 3, 3, Conv2dConfig::default().padding(1)).unwrap())
        .add(ReLU)
        .add(MaxPool2d::new(2).unwrap())
        .add(Conv2d::new(3, 4, 3).unwrap())
        .add(GELU::new())
        .add(AdaptiveAvgPool2d::new(2).unwrap())
        .add(Flatten::new())
        .add(Linear::new(16, 5).unwrap())
}

fn run_family(prefix: &str, expected_count: usize, rtol: f64, atol: f64) {
    let all: Vec<Value> = cases("layers.json")
        .into_iter()
        .filter(|c| c["name"].as_str().expect("name").starts_with(prefix))
        .collect();
    assert_eq!(all.len(), expected_count, "cases starting with {prefix}");
    for case in &all {
        check_case(case, build(case).as_ref(), rtol, atol);
    }
}

#[test]
fn conv1d_matches_pytorch() {
    run_family("conv1d_", 7, 1e-5, 1e-5);
}

#[test]
fn conv2d_matches_pytorch() {
    run_family("conv2d_", 9, 1e-5, 1e-5);
}

#[test]
fn conv_transpose2d_matches_pytorch() {
    run_family("convT2d_", 4, 1e-5, 1e-5);
}

#[test]
fn max_pool2d_matches_pytorch() {
    run_family("maxpool_", 4, 1e-5, 1e-6);
}

#[test]
fn avg_pool2d_matches_pytorch() {
    run_family("avgpool_", 4, 1e-5, 1e-6);
    run_family("adaptive_avgpool_", 2, 1e-5, 1e-6);
}

#[test]
fn sequential_cnn_matches_pytorch() {
    run_family("sequential_", 1, 1e-5, 1e-5);
}

#[test]
fn flatten_and_identity_match_pytorch() {
    run_family("flatten_", 2, 0.0, 0.0);
    run_family("identity", 1, 0.0, 0.0);
}

/// Max |value| of a tensor.
fn max_abs(t: &Tensor) -> f64 {
    t.to_vec_f64().iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn default_init_bounds_are_pytorchs() {
    kiln_tensor::manual_seed(7);
    let fans = load("init.json")["conv_fans"].as_array().expect("conv_fans").clone();
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(Conv2d::new(3, 8, [3, 5]).unwrap()),
        Box::new(Conv2d::with_config(4, 8, 3, Conv2dConfig::default().groups(2)).unwrap()),
        Box::new(Conv1d::new(6, 4, 5).unwrap()),
        Box::new(ConvTranspose2d::with_config(4, 6, 3, ConvTranspose2dConfig::default().groups(2)).unwrap()),
    ];
    for (l, f) in layers.iter().zip(&fans) {
        let name = f["name"].as_str().unwrap();
        let params = l.named_parameters();
        let (w, b) = (&params[0].1, &params[1].1);
        assert_eq!(w.shape(), conv_common::shape(&f["weight_shape"]), "{name}");
        let bound = f["bound"].as_f64().unwrap();
        // kaiming_uniform_(a=√5) gives U(-1/√fan_in, 1/√fan_in) for the weight, as for the bias.
        for t in [w, b] {
            let m = max_abs(t);
            assert!(m <= bound + 1e-7, "{name}: max {m} above {bound}");
            assert!(m > 0.5 * bound, "{name}: max {m} far below {bound}");
            assert!(t.requires_grad(), "{name}: parameters require grad");
        }
    }
    // Over many values the weight fills its range uniformly: std = bound / √3.
    let c = Conv2d::new(16, 64, 5).unwrap();
    let v = c.weight.to_vec_f64();
    let bound = 1.0 / (16.0f64 * 25.0).sqrt();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!(mean.abs() < 0.02 * bound, "mean {mean}");
    assert!((std - bound / 3f64.sqrt()).abs() < 0.02 * bound, "std {std}");
}

#[test]
fn shapes_and_defaults() {
    let c = Conv2d::with_config(1, 6, 5, Conv2dConfig::default().stride(1).padding(2)).unwrap();
    assert_eq!(c.weight.shape(), &[6, 1, 5, 5]);
    let y = c.forward(&Tensor::ones(&[2, 1, 28, 28], DType::F32)).unwrap();
    assert_eq!(y.shape(), &[2, 6, 28, 28]);
    let t = ConvTranspose2d::with_config(6, 4, [3, 2], ConvTranspose2dConfig::default().groups(2)).unwrap();
    assert_eq!(t.weight.shape(), &[6, 2, 3, 2]);
    assert_eq!(t.bias.as_ref().unwrap().shape(), &[4]);
    let nb = Conv1d::with_config(2, 3, 1, Conv1dConfig::default().bias(false).dtype(DType::F64)).unwrap();
    assert_eq!(nb.state_dict().keys().collect::<Vec<_>>(), vec!["weight"]);
    assert_eq!(nb.weight.dtype(), DType::F64);
    let p = MaxPool2d::new(3).unwrap();
    assert_eq!(p.options.stride, [3, 3]);
    let x = Tensor::randn(&[2, 3, 4, 5], DType::F32).unwrap();
    assert_eq!(Flatten::default().forward(&x).unwrap().shape(), &[2, 60]);
    assert_eq!(
        AdaptiveAvgPool2d::new(1).unwrap().forward(&x).unwrap().shape(),
        &[2, 3, 1, 1]
    );
}

fn err_text<T: std::fmt::Debug>(r: kiln_tensor::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn bad_arguments_give_errors_naming_the_layer() {
    let e = err_text(Conv2d::with_config(3, 4, 3, Conv2dConfig::default().groups(2)));
    assert!(
        e.contains("Conv2d") && e.contains("in_channels (3)") && e.contains("groups (2)"),
        "{e}"
    );
    let e = err_text(Conv1d::with_config(4, 3, 3, Conv1dConfig::default().groups(2)));
    assert!(e.contains("Conv1d") && e.contains("out_channels (3)"), "{e}");
    let e = err_text(ConvTranspose2d::with_config(
        4,
        6,
        3,
        ConvTranspose2dConfig::default().groups(4),
    ));
    assert!(e.contains("ConvTranspose2d") && e.contains("out_channels (6)"), "{e}");
    let e = err_text(Conv2d::new(3, 4, [0, 3]));
    assert!(e.contains("Conv2d") && e.contains("kernel_size"), "{e}");
    let e = err_text(Conv2d::with_config(3, 4, 3, Conv2dConfig::default().stride([1, 0])));
    assert!(e.contains("Conv2d") && e.contains("stride"), "{e}");
    let e = err_text(Conv2d::with_config(3, 4, 3, Conv2dConfig::default().groups(0)));
    assert!(e.contains("groups"), "{e}");
    let e = err_text(Conv1d::with_config(
        3,
        4,
        3,
        Conv1dConfig::default().stride(2).padding(Padding::Same),
    ));
    assert!(e.contains("Conv1d") && e.contains("same"), "{e}");
    let e = err_text(ConvTranspose2d::with_config(
        2,
        2,
        3,
        ConvTranspose2dConfig::default().stride(2).output_padding(2),
    ));
    assert!(e.contains("ConvTranspose2d") && e.contains("output_padding"), "{e}");
    let e = err_text(MaxPool2d::with_config(2, MaxPool2dConfig::default().stride(0)));
    assert!(e.contains("MaxPool2d") && e.contains("stride"), "{e}");
    let e = err_text(MaxPool2d::new(0));
    assert!(e.contains("MaxPool2d") && e.contains("kernel_size"), "{e}");
    let e = err_text(AvgPool2d::with_config(2, AvgPool2dConfig::default().padding(2)));
    assert!(e.contains("AvgPool2d") && e.contains("padding"), "{e}");
    let e = err_text(AvgPool2d::with_config(
        2,
        AvgPool2dConfig::default().divisor_override(Some(0)),
    ));
    assert!(e.contains("AvgPool2d") && e.contains("divisor_override"), "{e}");
}

#[test]
fn wrong_input_rank_names_the_layer() {
    let x2 = Tensor::ones(&[3, 8], DType::F32);
    let x5 = Tensor::ones(&[1, 3, 8, 8, 1], DType::F32);
    let e = err_text(Conv2d::new(3, 4, 3).unwrap().forward(&x2));
    assert!(e.contains("Conv2d") && e.contains("[3, 8]"), "{e}");
    let e = err_text(Conv1d::new(3, 4, 3).unwrap().forward(&x5));
    assert!(e.contains("Conv1d") && e.contains("3-D"), "{e}");
    let e = err_text(ConvTranspose2d::new(3, 4, 3).unwrap().forward(&x2));
    assert!(e.contains("ConvTranspose2d"), "{e}");
    let e = err_text(MaxPool2d::new(2).unwrap().forward(&x5));
    assert!(e.contains("MaxPool2d"), "{e}");
    let e = err_text(AvgPool2d::new(2).unwrap().forward(&x2));
    assert!(e.contains("AvgPool2d"), "{e}");
    let e = err_text(AdaptiveAvgPool2d::new(2).unwrap().forward(&x5));
    assert!(e.contains("AdaptiveAvgPool2d"), "{e}");
    let circ = Conv1d::with_config(
        1,
        1,
        3,
        Conv1dConfig::default().padding(4).padding_mode(PaddingMode::Circular),
    );
    let e = err_text(circ.unwrap().forward(&Tensor::ones(&[1, 1, 3], DType::F32)));
    assert!(e.contains("Conv1d") && e.contains("circular"), "{e}");
    // Channels the weight does not expect: the tensor op's message names the counts.
    let e = err_text(
        Conv2d::new(3, 4, 3)
            .unwrap()
            .forward(&Tensor::ones(&[1, 2, 8, 8], DType::F32)),
    );
    assert!(e.contains("2 channels"), "{e}");
}

#[test]
fn padded_modes_gradcheck_in_f64() {
    use kiln_tensor::testing::{gradcheck, GradcheckOptions};
    kiln_tensor::manual_seed(5);
    for mode in [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        let cfg = Conv2dConfig::default()
            .padding([2, 1])
            .padding_mode(mode)
            .dtype(DType::F64);
        let conv = Conv2d::with_config(2, 2, [3, 2], cfg).unwrap();
        let x = Tensor::randn(&[1, 2, 4, 3], DType::F64).unwrap().requires_grad_(true);
        gradcheck(|t| conv.forward(&t[0]), &[&x], GradcheckOptions::default())
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let cfg = Conv1dConfig::default()
            .padding(Padding::Same)
            .dilation(2)
            .padding_mode(mode)
            .dtype(DType::F64);
        let conv = Conv1d::with_config(2, 1, 2, cfg).unwrap();
        let x = Tensor::randn(&[2, 5], DType::F64).unwrap().requires_grad_(true);
        gradcheck(|t| conv.forward(&t[0]), &[&x], GradcheckOptions::default())
            .unwrap_or_else(|e| panic!("{mode:?} 1-D: {e}"));
    }
}
