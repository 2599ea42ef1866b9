//! Per-parameter optimizer state and its saved form ([`super::OptimizerState`]).

use super::{Algorithm, HyperValue, OptimizerState};
use crate::StateDict;
use kiln_tensor::{Result, Tensor};
use serde_json::{json, Map, Value};

/// The state of one parameter: the step count (for the optimizers that keep one) and named
/// buffers shaped like the parameter (`"exp_avg"`, `"momentum_buffer"`, ...).
#[derive(Clone, Debug, Default)]
pub struct ParamState {
    pub step: Option<f64>,
    pub buffers: Vec<(String, Tensor)>,
}

impl ParamState {
    /// The buffer named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.buffers.iter().find(|(k, _)| k == name).map(|(_, t)| t)
    }

    /// The buffer named `name`, first created as zeros shaped like `param` when missing; the
    /// flag tells whether it was just created.
    pub fn buffer(&mut self, name: &str, param: &Tensor) -> (Tensor, bool) {
        if let Some(t) = self.get(name) {
            return (t.clone(), false);
        }
        let t = Tensor::zeros(param.shape(), param.dtype());
        self.buffers.push((name.to_string(), t.clone()));
        (t, true)
    }

    /// Increments the step count (from 0 when there is none) and returns it.
    pub fn next_step(&mut self) -> f64 {
        let s = self.step.unwrap_or(0.0) + 1.0;
        self.step = Some(s);
        s
    }
}

/// A fresh contiguous copy of `t` in `dtype` (saved states never alias live buffers).
fn fresh_copy(t: &Tensor, dtype: kiln_tensor::DType) -> Result<Tensor> {
    let out = Tensor::zeros(t.shape(), dtype);
    kiln_tensor::no_grad(|| out.copy_(t))?;
    Ok(out)
}

/// The saved form of `groups` (with their parameters) and `states` (indexed across groups).
pub(crate) fn save<A: Algorithm>(groups: &[(Vec<Tensor>, A)], states: &[ParamState]) -> Result<OptimizerState> {
    let mut tensors = StateDict::new();
    let mut state_meta = Map::new();
    for (i, st) in states.iter().enumerate() {
        for (name, t) in &st.buffers {
            tensors.insert(format!("{i}.{name}"), fresh_copy(t, t.dtype())?);
        }
        if let Some(step) = st.step {
            state_meta.insert(i.to_string(), json!({ "step": step }));
        }
    }
    let mut first = 0;
    let param_groups: Vec<Value> = groups
        .iter()
        .map(|(params, cfg)| {
            let mut m = Map::new();
            for (k, v) in cfg.options() {
                m.insert(k.to_string(), v.to_json());
            }
            m.insert(
                "params".into(),
                json!((first..first + params.len()).collect::<Vec<_>>()),
            );
            first += params.len();
            Value::Object(m)
        })
        .collect();
    Ok(OptimizerState {
        tensors,
        meta: json!({ "optimizer": A::NAME, "param_groups": param_groups, "state": state_meta }),
    })
}

/// Reads a saved state for `groups`: the groups' hyperparameters and the parameters' states,
/// checked against the optimizer kind, group and parameter counts, and parameter shapes.
pub(crate) fn load<A: Algorithm>(
    groups: &[(Vec<Tensor>, A)],
    state: &OptimizerState,
) -> Result<(Vec<A>, Vec<ParamState>)> {
    let op = A::NAME;
    let err = |msg: String| super::param_group::invalid(op, format!("load_state_dict: {msg}"));
    let meta = &state.meta;
    let kind = meta.get("optimizer").and_then(Value::as_str).unwrap_or("<missing>");
    if kind != A::NAME {
        return Err(err(format!("the state is of a {kind} optimizer, not {}", A::NAME)));
    }
    let saved_groups = meta
        .get("param_groups")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no `param_groups` list".into()))?;
    if saved_groups.len() != groups.len() {
        return Err(err(format!(
            "the state has {} parameter groups, the optimizer {}",
            saved_groups.len(),
            groups.len()
        )));
    }
    let mut configs = Vec::with_capacity(groups.len());
    for (gi, (saved, (params, cfg))) in saved_groups.iter().zip(groups).enumerate() {
        let obj = saved
            .as_object()
            .ok_or_else(|| err(format!("parameter group {gi} is not an object")))?;
        let n = obj.get("params").and_then(Value::as_array).map(Vec::len);
        if n != Some(params.len()) {
            return Err(err(format!(
                "parameter group {gi} has {} parameters in the state, {} in the optimizer",
                n.map_or("no list of".to_string(), |n| n.to_string()),
                params.len()
            )));
        }
        let mut c = cfg.clone();
        for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "params") {
            let v = HyperValue::from_json(v).ok_or_else(|| err(format!("group {gi}: `{k}` has the value {v}")))?;
            c.set_option(k, v)?;
        }
        c.validate()?;
        configs.push(c);
    }
    let params: Vec<&Tensor> = groups.iter().flat_map(|(p, _)| p).collect();
    let mut states = vec![ParamState::default(); params.len()];
    for (key, t) in state.tensors.iter() {
        let (i, name) = key
            .split_once('.')
            .and_then(|(i, name)| Some((i.parse::<usize>().ok()?, name)))
            .ok_or_else(|| err(format!("state tensor `{key}` is not named `<param index>.<name>`")))?;
        let p = params.get(i).ok_or_else(|| {
            err(format!(
                "state tensor `{key}` is for parameter {i}, the optimizer has {}",
                params.len()
            ))
        })?;
        if t.shape() != p.shape() {
            return Err(err(format!(
                "state tensor `{key}` has shape {:?}, parameter {i} has shape {:?}",
                t.shape(),
                p.shape()
            )));
        }
        states[i].buffers.push((name.to_string(), fresh_copy(t, p.dtype())?));
    }
    if let Some(m) = meta.get("state").and_then(Value::as_object) {
        for (k, v) in m {
            let i = k
                .parse::<usize>()
                .ok()
                .filter(|&i| i < params.len())
                .ok_or_else(|| err(format!("`state` has an entry `{k}` that is no parameter index")))?;
            if let Some(step) = v.get("step") {
                let s = step
                    .as_f64()
                    .ok_or_else(|| err(format!("parameter {i}: step {step} is not a number")))?;
                states[i].step = Some(s);
            }
        }
    }
    Ok((configs, states))
}
