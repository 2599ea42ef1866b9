//! Reads the fixtures of `tests/fixtures/conv/generate.py` and checks a Kiln layer against one
//! case: strict `load_state_dict`, `state_dict()` keys in PyTorch's order, the output, and the
//! gradients of `sum(output * loss_weights)` for the input and every parameter.
#![allow(dead_code)] // each test file uses part of it

use kiln_nn::{Forward, Module, StateDict};
use kiln_tensor::Tensor;
use serde_json::Value;

/// Reads `tests/fixtures/conv/<file>` as JSON.
pub fn load(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conv")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The cases of a fixture file that is a JSON list.
pub fn cases(file: &str) -> Vec<Value> {
    match load(file) {
        Value::Array(cases) => cases,
        other => panic!("{file}: expected a list of cases, got {other}"),
    }
}

pub fn f32_values(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("values list")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

pub fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

/// `[shape, values]` as an f32 tensor.
fn tensor(v: &Value) -> Tensor {
    Tensor::from_vec(f32_values(&v[1]), &shape(&v[0])).expect("tensor")
}

/// A layer under test: a module with one input.
pub trait Layer: Module + Forward {}
impl<T: Module + Forward> Layer for T {}

#[track_caller]
fn close(what: &str, actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(actual.shape(), expected.shape(), "{what}: shape");
    for (i, (a, e)) in actual.to_vec_f64().iter().zip(expected.to_vec_f64()).enumerate() {
        assert!(
            (a - e).abs() <= atol + rtol * e.abs(),
            "{what}: element {i}: {a} vs PyTorch {e} (rtol {rtol}, atol {atol})"
        );
    }
}

/// Runs one case against `m` (already built with the case's arguments).
pub fn check_case(case: &Value, m: &dyn Layer, rtol: f64, atol: f64) {
    let name = case["name"].as_str().expect("name");
    let state: Vec<(String, Tensor)> = case["state_dict"]
        .as_array()
        .expect("state_dict")
        .iter()
        .map(|e| {
            let t = Tensor::from_vec(f32_values(&e[2]), &shape(&e[1])).expect("state tensor");
            (e[0].as_str().expect("key").to_string(), t)
        })
        .collect();
    let sd: StateDict = state.iter().cloned().collect();
    m.load_state_dict(&sd, true)
        .unwrap_or_else(|e| panic!("{name}: load_state_dict: {e}"));
    let ours: Vec<String> = m.state_dict().keys().map(str::to_string).collect();
    let theirs: Vec<String> = state.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(ours, theirs, "{name}: state_dict keys");

    let x = tensor(&case["input"]).requires_grad_(true);
    let y = m.forward(&x).unwrap_or_else(|e| panic!("{name}: forward: {e}"));
    let expected = tensor(&case["output"]);
    close(&format!("{name}: output"), &y, &expected, rtol, atol);

    let w = Tensor::from_vec(f32_values(&case["loss_weights"]), expected.shape()).expect("weights");
    y.mul(&w)
        .and_then(|t| t.sum())
        .expect("loss")
        .backward()
        .expect("backward");
    let gx = x.grad().unwrap_or_else(|| panic!("{name}: no input grad"));
    let ex = Tensor::from_vec(f32_values(&case["input_grad"]), x.shape()).expect("input grad");
    close(&format!("{name}: input grad"), &gx, &ex, rtol, atol);

    let params = m.named_parameters();
    let grads = case["param_grads"].as_array().expect("param_grads");
    assert_eq!(params.len(), grads.len(), "{name}: number of parameters");
    for ((pn, p), g) in params.iter().zip(grads) {
        assert_eq!(pn, g[0].as_str().expect("param name"), "{name}: parameter order");
        let gp = p.grad().unwrap_or_else(|| panic!("{name}: no grad for {pn}"));
        let e = Tensor::from_vec(f32_values(&g[1]), p.shape()).expect("param grad");
        close(&format!("{name}: grad of {pn}"), &gp, &e, rtol, atol);
    }
}
