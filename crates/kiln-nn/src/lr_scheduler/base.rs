//! The state every chainable scheduler shares (PyTorch's `LRScheduler` attributes), the one
//! [`LrScheduler`] implementation over it, and the JSON helpers of the state dicts.

use super::LrScheduler;
use crate::optim::Optimizer;
use kiln_tensor::{Error, Result};
use serde_json::{Map, Value};

/// PyTorch's `base_lrs`, `last_epoch`, `_step_count` and `_last_lr`.
#[derive(Clone, Debug)]
pub struct Base {
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    pub step_count: i64,
    pub last_lr: Vec<f64>,
}

impl Base {
    /// Base lrs = the optimizer's current lrs, `last_epoch = -1` (before the initial step).
    pub fn new(opt: &dyn Optimizer) -> Base {
        let lrs = group_lrs(opt);
        Base {
            base_lrs: lrs.clone(),
            last_epoch: -1,
            step_count: 0,
            last_lr: lrs,
        }
    }

    fn to_json(&self, out: &mut Map<String, Value>) {
        out.insert("base_lrs".into(), f64s_to_json(&self.base_lrs));
        out.insert("last_epoch".into(), Value::from(self.last_epoch));
        out.insert("_step_count".into(), Value::from(self.step_count));
        out.insert("_last_lr".into(), f64s_to_json(&self.last_lr));
    }

    fn load_json(&mut self, op: &'static str, state: &Value) -> Result<()> {
        let base_lrs = get_f64s(op, state, "base_lrs")?;
        let last_lr = get_f64s(op, state, "_last_lr")?;
        if base_lrs.len() != self.base_lrs.len() || last_lr.len() != self.base_lrs.len() {
            return Err(invalid(
                op,
                format!(
                    "state has {} base_lrs and {} _last_lr, the scheduler has {} parameter groups",
                    base_lrs.len(),
                    last_lr.len(),
                    self.base_lrs.len()
                ),
            ));
        }
        self.base_lrs = base_lrs;
        self.last_lr = last_lr;
        self.last_epoch = get_i64(op, state, "last_epoch")?;
        self.step_count = get_i64(op, state, "_step_count")?;
        Ok(())
    }
}

/// A scheduler defined by PyTorch's `get_lr` (and optionally `_get_closed_form_lr`) over [`Base`].
/// Public inside a private module: a sealed helper, not part of the API.
pub trait Schedule: Clone {
    /// The PyTorch class name, used in errors.
    const NAME: &'static str;
    fn base(&self) -> &Base;
    fn base_mut(&mut self) -> &mut Base;
    /// PyTorch's `get_lr` with `last_epoch` already advanced; `initial` is PyTorch's `_is_initial`.
    /// May set other group values (momentum) of `opt`; must not change anything when it errors.
    fn get_lr(&mut self, opt: &mut dyn Optimizer, initial: bool) -> Result<Vec<f64>>;
    /// PyTorch's `_get_closed_form_lr` at `last_epoch`; `None` falls back to `get_lr`.
    fn closed_form_lr(&self) -> Option<Vec<f64>>;
    /// The hyperparameters and extra state, under PyTorch's attribute names.
    fn extra_state(&self, out: &mut Map<String, Value>);
    /// Reads back what [`Schedule::extra_state`] wrote (self is a scratch copy; errors discard it).
    fn load_extra_state(&mut self, state: &Value) -> Result<()>;
}

/// The lr of every group of `opt`.
pub fn group_lrs(opt: &dyn Optimizer) -> Vec<f64> {
    (0..opt.num_groups()).map(|g| opt.lr(g)).collect()
}

pub fn invalid(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Invalid { op, msg: msg.into() }
}

/// Errors unless `opt` has `expected` groups.
pub fn check_groups(op: &'static str, opt: &dyn Optimizer, expected: usize) -> Result<()> {
    if opt.num_groups() != expected {
        return Err(invalid(
            op,
            format!(
                "the optimizer has {} parameter groups, the scheduler was built for {expected}",
                opt.num_groups()
            ),
        ));
    }
    Ok(())
}

/// Builds the scheduler's first value: PyTorch's constructor-time `_initial_step`.
pub fn init<T: Schedule>(mut s: T, opt: &mut dyn Optimizer) -> Result<T> {
    s.initial_step(opt)?;
    Ok(s)
}

/// PyTorch's `_update_lr`: advances (or jumps to `epoch`), computes and writes the lrs. On error the
/// epoch is restored and nothing is written.
fn update<T: Schedule>(s: &mut T, opt: &mut dyn Optimizer, epoch: Option<i64>, initial: bool) -> Result<()> {
    check_groups(T::NAME, opt, s.base().base_lrs.len())?;
    let prev_epoch = s.base().last_epoch;
    let values = match epoch {
        None => {
            s.base_mut().last_epoch += 1;
            s.get_lr(opt, initial)
        }
        Some(e) => {
            s.base_mut().last_epoch = e;
            match s.closed_form_lr() {
                Some(v) => Ok(v),
                None => s.get_lr(opt, initial),
            }
        }
    };
    let values = match values {
        Ok(v) => v,
        Err(e) => {
            s.base_mut().last_epoch = prev_epoch;
            return Err(e);
        }
    };
    for (g, lr) in values.into_iter().enumerate() {
        opt.set_lr(g, lr);
    }
    s.base_mut().last_lr = group_lrs(opt);
    Ok(())
}

impl<T: Schedule> LrScheduler for T {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.base_mut().step_count += 1;
        let r = update(self, opt, None, false);
        if r.is_err() {
            self.base_mut().step_count -= 1;
        }
        r
    }

    fn get_last_lr(&self) -> Vec<f64> {
        self.base().last_lr.clone()
    }

    fn last_epoch(&self) -> i64 {
        self.base().last_epoch
    }

    fn state_dict(&self) -> Value {
        let mut out = Map::new();
        self.base().to_json(&mut out);
        self.extra_state(&mut out);
        Value::Object(out)
    }

    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        if !state.is_object() {
            return Err(invalid(T::NAME, "state_dict must be a JSON object"));
        }
        let mut fresh = self.clone();
        fresh.base_mut().load_json(T::NAME, state)?;
        fresh.load_extra_state(state)?;
        *self = fresh;
        Ok(())
    }

    fn base_lrs(&self) -> Vec<f64> {
        self.base().base_lrs.clone()
    }

    fn set_base_lrs(&mut self, base_lrs: &[f64]) -> Result<()> {
        if base_lrs.len() != self.base().base_lrs.len() {
            return Err(invalid(
                T::NAME,
                format!(
                    "got {} base lrs for {} parameter groups",
                    base_lrs.len(),
                    self.base().base_lrs.len()
                ),
            ));
        }
        self.base_mut().base_lrs = base_lrs.to_vec();
        Ok(())
    }

    fn initial_step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        let prev = self.base().step_count;
        self.base_mut().step_count = 1;
        let r = update(self, opt, None, true);
        if r.is_err() {
            self.base_mut().step_count = prev;
        }
        r
    }

    fn step_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        update(self, opt, Some(epoch), false)
    }

    fn undo_step(&mut self) {
        self.base_mut().last_epoch -= 1;
    }
}

/// JSON for an f64 that may be infinite or NaN (as the strings `"inf"`, `"-inf"`, `"nan"`).
pub fn f64_to_json(x: f64) -> Value {
    if x.is_finite() {
        Value::from(x)
    } else if x.is_nan() {
        Value::from("nan")
    } else if x > 0.0 {
        Value::from("inf")
    } else {
        Value::from("-inf")
    }
}

pub fn f64s_to_json(xs: &[f64]) -> Value {
    Value::Array(xs.iter().map(|&x| f64_to_json(x)).collect())
}

fn json_to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            "nan" | "NaN" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

fn field<'a>(op: &'static str, state: &'a Value, key: &str) -> Result<&'a Value> {
    state
        .get(key)
        .ok_or_else(|| invalid(op, format!("state_dict has no `{key}`")))
}

pub fn get_f64(op: &'static str, state: &Value, key: &str) -> Result<f64> {
    let v = field(op, state, key)?;
    json_to_f64(v).ok_or_else(|| invalid(op, format!("state_dict `{key}` is not a number: {v}")))
}

pub fn get_i64(op: &'static str, state: &Value, key: &str) -> Result<i64> {
    let v = field(op, state, key)?;
    v.as_i64()
        .ok_or_else(|| invalid(op, format!("state_dict `{key}` is not an integer: {v}")))
}

pub fn get_bool(op: &'static str, state: &Value, key: &str) -> Result<bool> {
    let v = field(op, state, key)?;
    v.as_bool()
        .ok_or_else(|| invalid(op, format!("state_dict `{key}` is not a boolean: {v}")))
}

pub fn get_str<'a>(op: &'static str, state: &'a Value, key: &str) -> Result<&'a str> {
    let v = field(op, state, key)?;
    v.as_str()
        .ok_or_else(|| invalid(op, format!("state_dict `{key}` is not a string: {v}")))
}

pub fn get_f64s(op: &'static str, state: &Value, key: &str) -> Result<Vec<f64>> {
    let v = field(op, state, key)?;
    let bad = || invalid(op, format!("state_dict `{key}` is not a list of numbers: {v}"));
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| json_to_f64(x).ok_or_else(bad))
        .collect()
}
