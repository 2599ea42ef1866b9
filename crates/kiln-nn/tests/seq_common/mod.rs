//! Reads the fixtures of `tests/fixtures/seq/generate.py` and checks a Kiln module against one
//! case: strict `load_state_dict`, `state_dict()` keys in PyTorch's order, outputs, and the
//! gradients of `sum(out_i * w_i)` for the float inputs and every parameter.
#![allow(dead_code)] // each test file uses part of it

use kiln_nn::{Module, StateDict};
use kiln_tensor::{DType, Tensor};
use serde_json::Value;
use std::collections::HashMap;

pub const RTOL: f64 = 1e-4;
pub const ATOL: f64 = 1e-5;

/// Loads `tests/fixtures/seq/<file>` as a list of cases.
pub fn load(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seq")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        other => panic!("{file}: expected a JSON list of cases, got {other:?}"),
    }
}

fn f32_values(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("values list")
        .iter()
        .map(|x| match x {
            Value::Number(n) => n.as_f64().expect("number") as f32,
            Value::String(s) if s == "-inf" => f32::NEG_INFINITY,
            Value::String(s) if s == "inf" => f32::INFINITY,
            other => panic!("bad value {other}"),
        })
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

/// One fixture case, parsed.
pub struct Case {
    pub name: String,
    pub config: Value,
    pub args: Value,
    pub train: bool,
    pub same_qkv: bool,
    state: Vec<(String, Tensor)>,
    /// Inputs by name; float ones are leaves that require grad (masks excepted).
    pub inputs: HashMap<String, Tensor>,
    outputs: Vec<Tensor>,
    loss_weights: Vec<Tensor>,
    input_grads: HashMap<String, Tensor>,
    param_grads: Vec<(String, Vec<f32>)>,
}

impl Case {
    pub fn parse(v: &Value) -> Case {
        let name = v["name"].as_str().expect("name").to_string();
        let state = v["state_dict"]
            .as_array()
            .expect("state_dict")
            .iter()
            .map(|e| {
                let t = Tensor::from_vec(f32_values(&e[2]), &shape(&e[1])).expect("state tensor");
                (e[0].as_str().expect("key").to_string(), t)
            })
            .collect();
        let mut inputs = HashMap::new();
        let mut input_shapes = HashMap::new();
        for e in v["inputs"].as_array().expect("inputs") {
            let n = e[0].as_str().expect("input name").to_string();
            let s = shape(&e[2]);
            let t = if e[1] == "bool" {
                let b: Vec<bool> = e[3]
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(|x| x.as_u64() == Some(1))
                    .collect();
                Tensor::from_vec(b, &s).expect("bool input")
            } else {
                let t = Tensor::from_vec(f32_values(&e[3]), &s).expect("float input");
                t.requires_grad_(!n.ends_with("mask"))
            };
            input_shapes.insert(n.clone(), s);
            inputs.insert(n, t);
        }
        let outputs = v["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .map(|o| Tensor::from_vec(f32_values(&o[1]), &shape(&o[0])).expect("output"))
            .collect::<Vec<_>>();
        let loss_weights = v["loss_weights"]
            .as_array()
            .expect("loss_weights")
            .iter()
            .zip(&outputs)
            .map(|(w, o)| Tensor::from_vec(f32_values(w), o.shape()).expect("weights"))
            .collect();
        let input_grads = v["input_grads"]
            .as_object()
            .expect("input_grads")
            .iter()
            .map(|(k, g)| {
                (
                    k.clone(),
                    Tensor::from_vec(f32_values(g), &input_shapes[k]).expect("grad"),
                )
            })
            .collect();
        let param_grads = v["param_grads"]
            .as_array()
            .expect("param_grads")
            .iter()
            .map(|e| (e[0].as_str().expect("name").to_string(), f32_values(&e[1])))
            .collect();
        Case {
            name,
            config: v["config"].clone(),
            args: v["args"].clone(),
            train: v["train"].as_bool().unwrap_or(false),
            same_qkv: v["same_qkv"].as_bool().unwrap_or(false),
            state,
            inputs,
            outputs,
            loss_weights,
            input_grads,
            param_grads,
        }
    }

    pub fn input(&self, name: &str) -> &Tensor {
        self.inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no input {name}", self.name))
    }

    pub fn opt(&self, name: &str) -> Option<&Tensor> {
        self.inputs.get(name)
    }

    pub fn usize(&self, key: &str) -> usize {
        self.config[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: config {key}", self.name)) as usize
    }

    pub fn f64(&self, key: &str) -> f64 {
        self.config[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: config {key}", self.name))
    }

    pub fn flag(&self, key: &str) -> bool {
        self.config[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: config {key}", self.name))
    }

    pub fn arg(&self, key: &str) -> bool {
        self.args[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: arg {key}", self.name))
    }

    /// Loads the case's state strictly into `m` and checks `m.state_dict()`'s keys and their order.
    pub fn load_into(&self, m: &mut impl Module) {
        let sd: StateDict = self.state.iter().cloned().collect();
        m.load_state_dict(&sd, true)
            .unwrap_or_else(|e| panic!("{}: load_state_dict: {e}", self.name));
        let ours: Vec<String> = m.state_dict().keys().map(str::to_string).collect();
        let theirs: Vec<String> = self.state.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(ours, theirs, "{}: state_dict keys", self.name);
        if self.train {
            m.train();
        } else {
            m.eval();
        }
    }

    /// Compares `outputs` with PyTorch's, backpropagates the weighted sum, and compares the
    /// gradients of the inputs and of `m`'s parameters.
    pub fn check(&self, m: &impl Module, outputs: &[Tensor]) {
        assert_eq!(outputs.len(), self.outputs.len(), "{}: number of outputs", self.name);
        let mut loss: Option<Tensor> = None;
        for (i, ((o, e), w)) in outputs.iter().zip(&self.outputs).zip(&self.loss_weights).enumerate() {
            assert_eq!(o.shape(), e.shape(), "{}: output {i} shape", self.name);
            close(&format!("{}: output {i}", self.name), o, e);
            let term = o.mul(w).and_then(|t| t.sum()).expect("loss term");
            loss = Some(match loss {
                Some(l) => l.add(&term).expect("loss"),
                None => term,
            });
        }
        loss.expect("at least one output").backward().expect("backward");
        for (name, g) in &self.input_grads {
            let ours = self
                .input(name)
                .grad()
                .unwrap_or_else(|| panic!("{}: no grad for input {name}", self.name));
            close(&format!("{}: grad of input {name}", self.name), &ours, g);
        }
        let params = m.named_parameters();
        assert_eq!(
            params.len(),
            self.param_grads.len(),
            "{}: number of parameters",
            self.name
        );
        for ((name, p), (tname, g)) in params.iter().zip(&self.param_grads) {
            assert_eq!(name, tname, "{}: parameter order", self.name);
            let ours = p.grad().unwrap_or_else(|| panic!("{}: no grad for {name}", self.name));
            let expected = Tensor::from_vec(g.clone(), p.shape()).expect("grad shape");
            close(&format!("{}: grad of {name}", self.name), &ours, &expected);
        }
    }
}

fn close(what: &str, actual: &Tensor, expected: &Tensor) {
    assert_eq!(actual.shape(), expected.shape(), "{what}: shape");
    let a = actual.to_dtype(DType::F64).expect("f64").to_vec_f64();
    let e = expected.to_vec_f64();
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let ok = x == y || (x - y).abs() <= ATOL + RTOL * y.abs();
        assert!(
            ok,
            "{what}: element {i}: {x} vs torch {y} (shape {:?})",
            expected.shape()
        );
    }
}
