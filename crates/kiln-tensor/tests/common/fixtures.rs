//! Loads the PyTorch fixtures written by `tests/fixtures/generate.py` and checks Kiln against
//! them: forward outputs and the gradients of `sum(output * weights)` for every float input.
//!
//! A family test supplies a dispatcher from the fixture's op name and arguments to the Kiln call;
//! everything else (building inputs, views, comparison, gradients, the known-failure list) is
//! shared here. See `tests/fixtures/README.md` for the file format.

use kiln_tensor::{DType, Tensor};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// Why a case's op could not be run.
pub enum OpError {
    /// The dispatcher has no arm for this op name.
    Unknown,
    /// The fixture's arguments do not have the expected form.
    Fixture(String),
    /// Kiln returned an error.
    Kiln(kiln_tensor::Error),
}

impl From<kiln_tensor::Error> for OpError {
    fn from(e: kiln_tensor::Error) -> Self {
        OpError::Kiln(e)
    }
}

pub type OpResult = std::result::Result<Vec<Tensor>, OpError>;

/// Maps a case to its Kiln call: `(op name, arguments, input tensors after their views)`.
pub type Dispatch = fn(&str, &Args, &Inputs) -> OpResult;

/// One output.
pub fn one(t: kiln_tensor::Result<Tensor>) -> OpResult {
    Ok(vec![t?])
}

/// Two outputs, in order.
pub fn pair(t: kiln_tensor::Result<(Tensor, Tensor)>) -> OpResult {
    let (a, b) = t?;
    Ok(vec![a, b])
}

/// A case's input tensors (after their views) in PyTorch's positional order, indexable like a
/// slice, with their PyTorch parameter names: an optional tensor argument (bias, class weight,
/// attention mask) is present exactly when an input of that name is.
pub struct Inputs {
    tensors: Vec<Tensor>,
    names: Vec<String>,
}

impl Inputs {
    pub fn new(tensors: Vec<Tensor>, names: Vec<String>) -> Self {
        assert_eq!(tensors.len(), names.len(), "one name per input");
        Inputs { tensors, names }
    }

    /// The input named `name`, or `None` when the case leaves that (optional) argument out.
    pub fn opt(&self, name: &str) -> Option<&Tensor> {
        self.names.iter().position(|n| n == name).map(|i| &self.tensors[i])
    }
}

impl std::ops::Deref for Inputs {
    type Target = [Tensor];
    fn deref(&self) -> &[Tensor] {
        &self.tensors
    }
}

/// Typed access to a case's `args` object.
pub struct Args<'a>(pub &'a Value);

fn bad(msg: String) -> OpError {
    OpError::Fixture(msg)
}

impl Args<'_> {
    fn get(&self, k: &str) -> std::result::Result<&Value, OpError> {
        self.0.get(k).ok_or_else(|| bad(format!("missing argument `{k}`")))
    }
    /// True when the argument is absent or null.
    pub fn is_none(&self, k: &str) -> bool {
        !matches!(self.0.get(k), Some(v) if !v.is_null())
    }
    pub fn f64(&self, k: &str) -> std::result::Result<f64, OpError> {
        let v = self.get(k)?;
        number(v).ok_or_else(|| bad(format!("argument `{k}` is not a number: {v}")))
    }
    pub fn opt_f64(&self, k: &str) -> std::result::Result<Option<f64>, OpError> {
        if self.is_none(k) {
            Ok(None)
        } else {
            self.f64(k).map(Some)
        }
    }
    pub fn i64(&self, k: &str) -> std::result::Result<i64, OpError> {
        let v = self.get(k)?;
        v.as_i64()
            .ok_or_else(|| bad(format!("argument `{k}` is not an integer: {v}")))
    }
    pub fn isize(&self, k: &str) -> std::result::Result<isize, OpError> {
        Ok(self.i64(k)? as isize)
    }
    pub fn usize(&self, k: &str) -> std::result::Result<usize, OpError> {
        let v = self.i64(k)?;
        usize::try_from(v).map_err(|_| bad(format!("argument `{k}` is negative: {v}")))
    }
    pub fn bool(&self, k: &str) -> std::result::Result<bool, OpError> {
        let v = self.get(k)?;
        v.as_bool()
            .ok_or_else(|| bad(format!("argument `{k}` is not a bool: {v}")))
    }
    /// The argument as a string, or `None` when it is absent or not a string (`padding` is a
    /// list of integers or the string `"same"`).
    pub fn opt_str(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(Value::as_str)
    }
    /// A list of exactly two non-negative integers (a 2-D size such as `stride`).
    pub fn usize2(&self, k: &str) -> std::result::Result<[usize; 2], OpError> {
        let v = self.usizes(k)?;
        <[usize; 2]>::try_from(v.as_slice())
            .map_err(|_| bad(format!("argument `{k}` is not a list of two sizes: {v:?}")))
    }
    pub fn str(&self, k: &str) -> std::result::Result<&str, OpError> {
        let v = self.get(k)?;
        v.as_str()
            .ok_or_else(|| bad(format!("argument `{k}` is not a string: {v}")))
    }
    pub fn i64s(&self, k: &str) -> std::result::Result<Vec<i64>, OpError> {
        let v = self.get(k)?;
        v.as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            .ok_or_else(|| bad(format!("argument `{k}` is not a list of integers: {v}")))
    }
    pub fn isizes(&self, k: &str) -> std::result::Result<Vec<isize>, OpError> {
        Ok(self.i64s(k)?.into_iter().map(|d| d as isize).collect())
    }
    pub fn usizes(&self, k: &str) -> std::result::Result<Vec<usize>, OpError> {
        self.i64s(k)?
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| bad(format!("argument `{k}` has a negative entry"))))
            .collect()
    }
    /// A dtype given by its PyTorch name.
    pub fn dtype(&self, k: &str) -> std::result::Result<DType, OpError> {
        dtype_from_name(self.str(k)?)
    }
}

/// A JSON number, or one of the strings `"nan"`, `"inf"`, `"-inf"`.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

pub fn dtype_from_name(name: &str) -> std::result::Result<DType, OpError> {
    Ok(match name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" => DType::I64,
        "int32" => DType::I32,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        other => return Err(bad(format!("unknown dtype {other:?}"))),
    })
}

/// `(rtol, atol)` for comparing values of `dtype` (exact for integers and bool).
pub fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-10, 1e-12),
        DType::F32 => (1e-5, 1e-6),
        DType::F16 => (1e-3, 1e-3),
        DType::BF16 => (1e-2, 1e-2),
        _ => (0.0, 0.0),
    }
}

/// A stored tensor: shape, dtype and row-major values.
struct Stored {
    shape: Vec<usize>,
    dtype: DType,
    data: Vec<f64>,
}

fn stored(v: &Value) -> std::result::Result<Stored, OpError> {
    let shape = v["shape"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad(format!("bad shape in {v}")))?;
    let dtype = dtype_from_name(v["dtype"].as_str().unwrap_or("?"))?;
    let data = values(&v["data"])?;
    if data.len() != shape.iter().product::<usize>() {
        return Err(bad(format!("{} values for shape {shape:?}", data.len())));
    }
    Ok(Stored { shape, dtype, data })
}

fn values(v: &Value) -> std::result::Result<Vec<f64>, OpError> {
    let a = v.as_array().ok_or_else(|| bad("data is not a list".into()))?;
    a.iter()
        .map(|x| match x {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            x => number(x),
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("data has a non-numeric entry".into()))
}

/// The tensor a stored input describes (a fresh leaf).
fn build(s: &Stored) -> std::result::Result<Tensor, OpError> {
    Ok(match s.dtype {
        DType::I64 => Tensor::from_vec(s.data.iter().map(|&v| v as i64).collect::<Vec<_>>(), &s.shape)?,
        DType::Bool => Tensor::from_vec(s.data.iter().map(|&v| v != 0.0).collect::<Vec<_>>(), &s.shape)?,
        // The stored values are exact in their dtype, so the conversion from f64 is exact.
        d if d.is_float() => Tensor::from_vec(s.data.clone(), &s.shape)?.to_dtype(d)?,
        d => return Err(bad(format!("inputs of dtype {d} are not supported by the loader"))),
    })
}

/// Applies the fixture's `view` steps (how the op sees a non-contiguous input).
fn apply_view(t: &Tensor, steps: &Value) -> std::result::Result<Tensor, OpError> {
    let mut t = t.clone();
    for s in steps.as_array().ok_or_else(|| bad("view is not a list".into()))? {
        let a = Args(s);
        t = match a.str("op")? {
            "transpose" => {
                let d = a.isizes("dims")?;
                t.transpose(d[0], d[1])?
            }
            "permute" => t.permute(&a.isizes("dims")?)?,
            "slice" => {
                let end = if a.is_none("end") { None } else { Some(a.isize("end")?) };
                t.slice(a.isize("dim")?, a.isize("start")?, end, a.usize("step")?)?
            }
            "expand" => t.expand(&a.i64s("shape")?)?,
            other => return Err(bad(format!("unknown view step {other:?}"))),
        };
    }
    Ok(t)
}

/// Compares a Kiln tensor with a stored one; `what` names it in the message.
fn compare(what: &str, got: &Tensor, want: &Stored) -> std::result::Result<(), String> {
    if got.shape() != want.shape.as_slice() {
        return Err(format!("{what}: shape {:?}, expected {:?}", got.shape(), want.shape));
    }
    if got.dtype() != want.dtype {
        return Err(format!("{what}: dtype {}, expected {}", got.dtype(), want.dtype));
    }
    let (rtol, atol) = tolerance(want.dtype);
    let g = got.to_vec_f64();
    let mut bad = Vec::new();
    for (i, (&a, &e)) in g.iter().zip(&want.data).enumerate() {
        let ok = (a.is_nan() && e.is_nan()) || a == e || (a - e).abs() <= atol + rtol * e.abs();
        if !ok {
            bad.push(i);
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "{what}: {} of {} elements differ (rtol {rtol:e}, atol {atol:e}):",
        bad.len(),
        g.len()
    );
    let shown: Vec<String> = bad
        .iter()
        .take(6)
        .map(|&i| format!("[{i}] got {} expected {}", g[i], want.data[i]))
        .collect();
    let _ = write!(msg, " {}", shown.join(", "));
    Err(msg)
}

/// One parsed case.
pub struct Case<'a> {
    pub id: &'a str,
    pub op: &'a str,
    raw: &'a Value,
}

impl<'a> Case<'a> {
    /// A case from its JSON object.
    pub fn new(raw: &'a Value) -> Self {
        Case {
            id: raw["id"].as_str().unwrap_or("?"),
            op: raw["op"].as_str().unwrap_or("?"),
            raw,
        }
    }

    /// Runs the case; `Err` describes every mismatch (or why it could not run).
    pub fn run(&self, dispatch: Dispatch) -> std::result::Result<(), String> {
        let fail = |e: OpError| match e {
            OpError::Unknown => format!("unknown op `{}`: add a match arm to the dispatcher", self.op),
            OpError::Fixture(m) => format!("malformed fixture: {m}"),
            OpError::Kiln(e) => format!("Kiln error: {e}"),
        };
        let raw = self.raw;
        let mut leaves = Vec::new();
        let mut views = Vec::new();
        let mut names = Vec::new();
        for inp in raw["inputs"].as_array().ok_or_else(|| fail(bad("no inputs".into())))? {
            let leaf = build(&stored(inp).map_err(fail)?).map_err(fail)?;
            if inp["requires_grad"].as_bool() == Some(true) {
                leaf.set_requires_grad(true).map_err(|e| fail(e.into()))?;
            }
            let view = match inp.get("view") {
                Some(steps) => apply_view(&leaf, steps).map_err(fail)?,
                None => leaf.clone(),
            };
            leaves.push(leaf);
            views.push(view);
            names.push(inp["name"].as_str().unwrap_or_default().to_string());
        }
        let outs = dispatch(self.op, &Args(&raw["args"]), &Inputs::new(views, names)).map_err(fail)?;
        let want_outs = raw["outputs"]
            .as_array()
            .ok_or_else(|| fail(bad("no outputs".into())))?;
        if outs.len() != want_outs.len() {
            return Err(format!("{} outputs, expected {}", outs.len(), want_outs.len()));
        }
        let mut errors = Vec::new();
        let mut loss: Option<Tensor> = None;
        for (k, (got, want)) in outs.iter().zip(want_outs).enumerate() {
            let w = stored(want).map_err(fail)?;
            if let Err(e) = compare(&format!("output {k}"), got, &w) {
                errors.push(e);
            }
            if let Some(gw) = want.get("grad_weight") {
                if got.shape() != w.shape.as_slice() {
                    continue;
                }
                let weights = Tensor::from_vec(values(gw).map_err(fail)?, &w.shape).map_err(|e| fail(e.into()))?;
                let term = got
                    .to_dtype(DType::F64)
                    .and_then(|o| o.mul(&weights))
                    .and_then(|o| o.sum())
                    .map_err(|e| fail(e.into()))?;
                loss = Some(match loss {
                    None => term,
                    Some(l) => l.add(&term).map_err(|e| fail(e.into()))?,
                });
            }
        }
        if let Some(grads) = raw.get("grads").and_then(Value::as_array) {
            if let Some(l) = loss.as_ref().filter(|l| l.requires_grad()) {
                if let Err(e) = l.backward() {
                    errors.push(format!("backward failed: {e}"));
                }
            }
            for (k, (leaf, want)) in leaves.iter().zip(grads).enumerate() {
                if want.is_null() {
                    continue;
                }
                let w = stored(want).map_err(fail)?;
                // No gradient reached the leaf: it is zero (Kiln records no node for ops with a
                // zero derivative, such as floor or comparisons).
                let got = leaf.grad().unwrap_or_else(|| {
                    Tensor::zeros(leaf.shape(), DType::F64)
                        .to_dtype(leaf.dtype())
                        .expect("zeros convert to any float dtype")
                });
                if let Err(e) = compare(&format!("grad of input {k}"), &got, &w) {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn load(family: &str) -> Value {
    let path = format!("{}/tests/fixtures/{family}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let root: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(root["family"].as_str(), Some(family), "{path}: wrong family");
    root
}

/// The family names of the fixture files present (`tests/fixtures/*.json`), sorted.
pub fn fixture_families() -> Vec<String> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    out.sort();
    out
}

/// Checks the structure of every case of a family without running any op (so files whose ops
/// Kiln does not have yet are kept valid): unique ids, data lengths matching shapes, one weight
/// per element of each differentiable output, and one gradient per input that requires one.
/// Returns the number of cases.
pub fn check_well_formed(family: &str) -> usize {
    let root = load(family);
    let cases = root["cases"].as_array().unwrap_or_else(|| panic!("{family}: no cases"));
    let mut ids = HashSet::new();
    let mut problems = Vec::new();
    for c in cases {
        let id = c["id"].as_str().unwrap_or("?");
        let mut check = || -> std::result::Result<(), String> {
            let err = |e: OpError| match e {
                OpError::Fixture(m) => m,
                _ => "unexpected error".to_string(),
            };
            if !ids.insert(id) {
                return Err("duplicate id".into());
            }
            let op = c["op"].as_str().ok_or("no op name")?;
            if !id.starts_with(&format!("{op}/")) {
                return Err(format!("id does not start with the op name {op:?}"));
            }
            if !c["args"].is_object() {
                return Err("args is not an object".into());
            }
            let inputs = c["inputs"].as_array().ok_or("no inputs")?;
            let mut shapes = Vec::new();
            let mut names = HashSet::new();
            for inp in inputs {
                let name = inp["name"].as_str().ok_or("an input has no name")?;
                if !names.insert(name) {
                    return Err(format!("two inputs named {name:?}"));
                }
                let s = stored(inp).map_err(err)?;
                if let Some(v) = inp.get("view") {
                    v.as_array().ok_or("view is not a list")?;
                }
                if inp["requires_grad"].as_bool() == Some(true) && !s.dtype.is_float() {
                    return Err(format!("a {} input requires grad", s.dtype));
                }
                shapes.push((s.shape, inp["requires_grad"].as_bool() == Some(true)));
            }
            for out in c["outputs"].as_array().ok_or("no outputs")? {
                let s = stored(out).map_err(err)?;
                if let Some(w) = out.get("grad_weight") {
                    if values(w).map_err(err)?.len() != s.data.len() {
                        return Err("grad_weight length differs from the output's".into());
                    }
                }
            }
            if let Some(grads) = c.get("grads") {
                let grads = grads.as_array().ok_or("grads is not a list")?;
                if grads.len() != shapes.len() {
                    return Err("one gradient entry per input expected".into());
                }
                for (g, (shape, rg)) in grads.iter().zip(&shapes) {
                    match (g.is_null(), rg) {
                        (true, false) => {}
                        (false, true) => {
                            if &stored(g).map_err(err)?.shape != shape {
                                return Err("gradient shape differs from its input's".into());
                            }
                        }
                        _ => return Err("gradients must be given exactly for inputs that require them".into()),
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = check() {
            problems.push(format!("{id}: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{family}.json is malformed:\n{}",
        problems.join("\n")
    );
    cases.len()
}

/// Runs every case of `tests/fixtures/{family}.json` through `dispatch` and panics with a list of
/// all failures. `known_failures` lists `(case id, reason)` pairs of known disagreements with
/// PyTorch; a listed case that passes, or a listed id missing from the file, is a failure too (so
/// the list cannot rot).
pub fn run_family(family: &str, dispatch: Dispatch, known_failures: &[(&str, &str)]) {
    let root = load(family);
    let cases = root["cases"].as_array().unwrap_or_else(|| panic!("{family}: no cases"));
    assert!(!cases.is_empty(), "{family}: no cases");

    let known: BTreeMap<&str, &str> = known_failures.iter().copied().collect();
    assert_eq!(
        known.len(),
        known_failures.len(),
        "{family}: duplicate ids in the known-failure list"
    );
    let mut seen = HashSet::new();
    let mut per_op: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut known_hit = 0;
    let mut passed = 0;
    for c in cases {
        let case = Case::new(c);
        assert!(seen.insert(case.id), "{family}: duplicate case id {}", case.id);
        *per_op.entry(case.op).or_default() += 1;
        let result = case.run(dispatch);
        match (result, known.get(case.id)) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => failures.push(format!(
                "{}: listed as a known failure but passes now; remove it from the list",
                case.id
            )),
            (Err(e), None) => failures.push(format!("{}: {e}", case.id)),
            (Err(e), Some(_)) if e.starts_with("unknown op") => failures.push(format!("{}: {e}", case.id)),
            (Err(_), Some(_)) => known_hit += 1,
        }
    }
    for id in known.keys() {
        if !seen.contains(id) {
            failures.push(format!(
                "{id}: listed as a known failure but no such case in {family}.json"
            ));
        }
    }
    let ops: Vec<String> = per_op.iter().map(|(op, n)| format!("{op} {n}")).collect();
    eprintln!(
        "torch fixtures {family}: {} cases, {} ops, {} passed, {} known failures, {} failed\n  per op: {}",
        cases.len(),
        per_op.len(),
        passed,
        known_hit,
        failures.len(),
        ops.join(", ")
    );
    if !failures.is_empty() {
        panic!(
            "{family}: {} failure(s) against PyTorch fixtures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
