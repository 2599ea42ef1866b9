//! The [`Module`] trait: a tree of layers whose parameters and buffers carry PyTorch's dotted names.
//!
//! A module exposes its tensors through [`Module::visit_tensors`] (and the `_mut` form); every other
//! method (`named_parameters`, `state_dict`, `load_state_dict`, ...) is built on that one visit, so
//! the names seen by the optimizer, the checkpoint and the exporter are always the same.
//! `#[derive(Module)]` writes the visits for a struct of layers.

use crate::state_dict::{LoadReport, StateDict};
use kiln_tensor::{no_grad, DType, Error, Result, Tensor};

/// Whether a tensor of a module is trained (a parameter) or only saved (a buffer, e.g. BatchNorm's
/// `running_mean`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    Parameter,
    Buffer,
}

/// Joins a module path and a name with a dot (`"features.0"` + `"weight"`); an empty prefix adds none.
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A layer or a model: a tree of modules holding parameters and buffers (`torch.nn.Module`).
///
/// Implementors write the two visits and the training flag; everything else is provided.
/// Visits go depth-first in declaration order, which is the order of `state_dict` and of
/// `parameters()` (the order optimizers see, as in PyTorch).
pub trait Module {
    /// Calls `f(name, tensor, kind)` for each parameter and buffer of this module and its children,
    /// with `name` the dotted path below `prefix` (`join_name(prefix, "weight")`).
    fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind));

    /// Like [`Module::visit_tensors`], with each tensor handle replaceable (dtype conversion,
    /// `load_state_dict(assign)`).
    fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind));

    /// Sets training mode on this module and all its children (what `train()`/`eval()` call).
    fn set_training(&mut self, training: bool);

    /// The training flag of this module, or of its first child that keeps one; `None` when no
    /// module in the tree depends on the mode (e.g. a `Linear`).
    fn training_flag(&self) -> Option<bool>;

    /// Whether the module is in training mode (`module.training`); `true` for a tree without
    /// mode-dependent layers.
    fn is_training(&self) -> bool {
        self.training_flag().unwrap_or(true)
    }

    /// Parameters with their dotted names (`named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit_tensors("", &mut |name, t, kind| {
            if kind == TensorKind::Parameter {
                out.push((name.to_string(), t.clone()));
            }
        });
        out
    }

    /// Parameter handles, in `named_parameters` order; give them to an optimizer.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Buffers with their dotted names (`named_buffers()`).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit_tensors("", &mut |name, t, kind| {
            if kind == TensorKind::Buffer {
                out.push((name.to_string(), t.clone()));
            }
        });
        out
    }

    /// Buffer handles, in `named_buffers` order.
    fn buffers(&self) -> Vec<Tensor> {
        self.named_buffers().into_iter().map(|(_, t)| t).collect()
    }

    /// Number of scalar parameters (`sum(p.numel() for p in model.parameters())`).
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// Every parameter and buffer under its dotted name, detached (`state_dict()`).
    ///
    /// The tensors share storage with the module: save them before training goes on, or
    /// `deep_clone` them.
    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        self.visit_tensors("", &mut |name, t, _| {
            sd.insert(name, t.detach());
        });
        sd
    }

    /// Copies values from `state` into this module's tensors (`load_state_dict`).
    ///
    /// Each tensor must have the same shape as the module's; values are cast to the module's dtype.
    /// With `strict`, a key the module lacks (unexpected) or a module tensor the dict lacks
    /// (missing) is an error that lists them all, and nothing is modified; otherwise they are
    /// returned in the report. A shape mismatch is always an error, and nothing is modified.
    fn load_state_dict(&self, state: &StateDict, strict: bool) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let mut pairs = Vec::new();
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.visit_tensors("", &mut |name, t, _| {
            seen.insert(name.to_string());
            match state.get(name) {
                None => report.missing_keys.push(name.to_string()),
                Some(src) if src.shape() != t.shape() => problems.push(format!(
                    "size mismatch for {name}: copying a param with shape {:?} from checkpoint, the shape in current model is {:?}",
                    src.shape(),
                    t.shape()
                )),
                Some(src) => pairs.push((t.clone(), src.clone())),
            }
        });
        for (k, _) in state.iter() {
            if !seen.contains(k) {
                report.unexpected_keys.push(k.to_string());
            }
        }
        if strict {
            if !report.missing_keys.is_empty() {
                problems.push(format!("missing keys: {}", report.missing_keys.join(", ")));
            }
            if !report.unexpected_keys.is_empty() {
                problems.push(format!("unexpected keys: {}", report.unexpected_keys.join(", ")));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid {
                op: "load_state_dict",
                msg: problems.join("; "),
            });
        }
        no_grad(|| -> Result<()> {
            for (dst, src) in &pairs {
                dst.copy_(src)?;
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Training mode (`model.train()`): dropout active, batch norm uses and updates batch statistics.
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode (`model.eval()`).
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Clears the gradient of every parameter (`model.zero_grad(set_to_none=True)`).
    fn zero_grad(&self) {
        self.visit_tensors("", &mut |_, t, kind| {
            if kind == TensorKind::Parameter {
                t.set_grad(None);
            }
        });
    }

    /// Converts floating-point parameters and buffers to `dtype` (`model.to(dtype)`); integer
    /// buffers (e.g. `num_batches_tracked`) keep theirs. Parameters stay leaves that require grad.
    fn to_dtype(&mut self, dtype: DType) -> Result<()> {
        let mut err = None;
        self.visit_tensors_mut("", &mut |_, t, kind| {
            if err.is_some() || !t.dtype().is_float() || t.dtype() == dtype {
                return;
            }
            match no_grad(|| t.to_dtype(dtype)) {
                Ok(v) => *t = v.requires_grad_(kind == TensorKind::Parameter),
                Err(e) => err = Some(e),
            }
        });
        err.map_or(Ok(()), Err)
    }
}

/// A module with one tensor in and one out (`Linear`, `Conv2d`, activations); what [`crate::Sequential`]
/// chains.
pub trait Forward: Module {
    fn forward(&self, input: &Tensor) -> Result<Tensor>;
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        (**self).visit_tensors(prefix, f)
    }
    fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        (**self).visit_tensors_mut(prefix, f)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
    fn training_flag(&self) -> Option<bool> {
        (**self).training_flag()
    }
}

impl<M: Forward + ?Sized> Forward for Box<M> {
    fn forward(&self, input: &Tensor) -> Result<Tensor> {
        (**self).forward(input)
    }
}

/// A list of modules named `0`, `1`, ... (`nn.ModuleList`).
impl<M: Module> Module for Vec<M> {
    fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        for (i, m) in self.iter().enumerate() {
            m.visit_tensors(&join_name(prefix, &i.to_string()), f);
        }
    }
    fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        for (i, m) in self.iter_mut().enumerate() {
            m.visit_tensors_mut(&join_name(prefix, &i.to_string()), f);
        }
    }
    fn set_training(&mut self, training: bool) {
        self.iter_mut().for_each(|m| m.set_training(training));
    }
    fn training_flag(&self) -> Option<bool> {
        self.iter().find_map(|m| m.training_flag())
    }
}

/// An optional submodule: absent means no tensors, as a `None` attribute in PyTorch.
impl<M: Module> Module for Option<M> {
    fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        if let Some(m) = self {
            m.visit_tensors(prefix, f);
        }
    }
    fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        if let Some(m) = self {
            m.visit_tensors_mut(prefix, f);
        }
    }
    fn set_training(&mut self, training: bool) {
        if let Some(m) = self {
            m.set_training(training);
        }
    }
    fn training_flag(&self) -> Option<bool> {
        self.as_ref().and_then(|m| m.training_flag())
    }
}

/// What `#[derive(Module)]` calls for a field that is neither `#[param]` nor `#[buffer]`:
/// submodules recurse, plain configuration values (numbers, strings, dtypes) have no tensors.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Module field",
    label = "this field's type is neither a Module nor a plain configuration value",
    note = "mark tensors with #[param] or #[buffer], and other fields with #[module(skip)]"
)]
pub trait ModuleField {
    fn visit_field(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind));
    fn visit_field_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind));
    fn set_field_training(&mut self, training: bool);
    /// The submodule's [`Module::training_flag`]; `None` for configuration values.
    fn field_training(&self) -> Option<bool>;
}

impl<M: Module + ?Sized> ModuleField for M {
    fn visit_field(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        self.visit_tensors(prefix, f)
    }
    fn visit_field_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        self.visit_tensors_mut(prefix, f)
    }
    fn set_field_training(&mut self, training: bool) {
        self.set_training(training)
    }
    fn field_training(&self) -> Option<bool> {
        self.training_flag()
    }
}

macro_rules! plain_fields {
    ($($t:ty),* $(,)?) => {$(
        impl ModuleField for $t {
            fn visit_field(&self, _: &str, _: &mut dyn FnMut(&str, &Tensor, TensorKind)) {}
            fn visit_field_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {}
            fn set_field_training(&mut self, _: bool) {}
            fn field_training(&self) -> Option<bool> {
                None
            }
        }
    )*};
}

plain_fields!(
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    String,
    &'static str,
    DType,
    Vec<usize>,
    Vec<i64>,
    Vec<f64>,
    Option<usize>,
    Option<f64>,
    Option<i64>,
);

/// A tensor field marked `#[param]` or `#[buffer]`: `Tensor`, or `Option<Tensor>` (absent bias).
pub trait TensorField {
    fn visit_tensor(&self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &Tensor, TensorKind));
    fn visit_tensor_mut(&mut self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind));
}

impl TensorField for Tensor {
    fn visit_tensor(&self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        f(name, self, kind)
    }
    fn visit_tensor_mut(&mut self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        f(name, self, kind)
    }
}

impl TensorField for Option<Tensor> {
    fn visit_tensor(&self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        if let Some(t) = self {
            f(name, t, kind)
        }
    }
    fn visit_tensor_mut(&mut self, name: &str, kind: TensorKind, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        if let Some(t) = self {
            f(name, t, kind)
        }
    }
}

/// Makes `t` a trainable leaf: detached, `requires_grad = true` (`nn.Parameter(t)`).
pub fn parameter(t: Tensor) -> Tensor {
    t.detach().requires_grad_(true)
}
