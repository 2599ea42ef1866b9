//! Activation layers against PyTorch (`tests/fixtures/conv/activations.json`): outputs and input
//! gradients of every activation module with its defaults and with non-default arguments.

mod conv_common;

use conv_common::{cases, check_case, Layer};
use kiln_nn::{
    Forward, Hardtanh, LeakyReLU, LogSoftmax, Mish, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh, ELU, GELU,
};
use kiln_tensor::{tensor, DType, Tensor};
use serde_json::Value;

fn build(case: &Value) -> Box<dyn Layer> {
    let a = &case["args"];
    let f = |k: &str| a[k].as_f64().unwrap_or_else(|| panic!("arg {k}"));
    let dim = || a["dim"].as_i64().expect("dim") as isize;
    match case["layer"].as_str().expect("layer") {
        "ReLU" => Box::new(ReLU::new()),
        "GELU" => Box::new(GELU::with_approximate(a["approximate"].as_str().unwrap_or("none")).expect("GELU")),
        "Tanh" => Box::new(Tanh::new()),
        "Sigmoid" => Box::new(Sigmoid::new()),
        "SiLU" => Box::new(SiLU::new()),
        "LeakyReLU" if a.get("negative_slope").is_some() => Box::new(LeakyReLU::with_slope(f("negative_slope"))),
        "LeakyReLU" => Box::new(LeakyReLU::new()),
        "ELU" if a.get("alpha").is_some() => Box::new(ELU::with_alpha(f("alpha"))),
        "ELU" => Box::new(ELU::new()),
        "Softplus" if a.get("beta").is_some() => Box::new(Softplus::with_params(f("beta"), f("threshold"))),
        "Softplus" => Box::new(Softplus::new()),
        "Softmax" => Box::new(Softmax::new(dim())),
        "LogSoftmax" => Box::new(LogSoftmax::new(dim())),
        "Mish" => Box::new(Mish::new()),
        "Hardtanh" if a.get("min_val").is_some() => {
            Box::new(Hardtanh::with_range(f("min_val"), f("max_val")).expect("Hardtanh"))
        }
        "Hardtanh" => Box::new(Hardtanh::new()),
        "ReLU6" => Box::new(ReLU6::new()),
        other => panic!("unknown layer {other}"),
    }
}

#[test]
fn activations_match_pytorch() {
    let all = cases("activations.json");
    assert_eq!(all.len(), 25);
    for case in &all {
        check_case(case, build(case).as_ref(), 1e-5, 1e-6);
    }
}

#[test]
fn defaults_are_pytorchs() {
    assert_eq!(LeakyReLU::default().negative_slope, 0.01);
    assert_eq!(ELU::default().alpha, 1.0);
    let sp = Softplus::default();
    assert_eq!((sp.beta, sp.threshold), (1.0, 20.0));
    assert_eq!(GELU::default().approximate, "none");
    let ht = Hardtanh::default();
    assert_eq!((ht.min_val, ht.max_val), (-1.0, 1.0));
}

#[test]
fn activations_have_no_state_and_keep_shape() {
    let x = Tensor::randn(&[2, 3, 5], DType::F32).unwrap();
    let layers: Vec<Box<dyn Layer>> = vec![
        Box::new(ReLU::new()),
        Box::new(GELU::new()),
        Box::new(Mish::new()),
        Box::new(Softmax::new(-1)),
        Box::new(ReLU6::new()),
    ];
    for l in &layers {
        assert!(l.state_dict().is_empty());
        assert_eq!(l.forward(&x).unwrap().shape(), x.shape());
    }
}

#[test]
fn bad_arguments_name_the_layer() {
    let e = GELU::with_approximate("fast").unwrap_err().to_string();
    assert!(e.contains("GELU") && e.contains("fast"), "{e}");
    let e = Hardtanh::with_range(1.0, 1.0).unwrap_err().to_string();
    assert!(e.contains("Hardtanh") && e.contains("max_val"), "{e}");
    let e = Softmax::new(3).forward(&tensor!([1.0, 2.0])).unwrap_err().to_string();
    assert!(e.contains('3'), "{e}");
}
