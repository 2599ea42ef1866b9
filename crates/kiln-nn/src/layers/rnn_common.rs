//! What `LSTM` and `GRU` share: the configuration, the per-layer weights with PyTorch's names,
//! input/state checks, and the loop over layers, directions and time steps.

use crate::{init, join_name, parameter, TensorKind};
use kiln_tensor::{DType, Error, Result, Tensor};

/// Options of [`crate::LSTM`] and [`crate::GRU`] beyond the sizes, with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct RnnConfig {
    /// Stacked recurrent layers (1).
    pub num_layers: usize,
    /// `bias_ih_*` and `bias_hh_*` (true).
    pub bias: bool,
    /// Input and output `[N, L, *]` instead of `[L, N, *]`; the states stay `[D * layers, N, H]`.
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last, in training mode (0).
    pub dropout: f64,
    /// A second, reversed direction per layer (`*_reverse` weights), outputs concatenated.
    pub bidirectional: bool,
    pub dtype: DType,
}

impl Default for RnnConfig {
    fn default() -> Self {
        RnnConfig {
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            dtype: DType::F32,
        }
    }
}

impl RnnConfig {
    pub fn num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// The weights of one layer and direction (or of a cell): `weight_ih` `[G·H, in]`, `weight_hh`
/// `[G·H, H]`, `bias_ih` and `bias_hh` `[G·H]`, with `G` gates stacked in PyTorch's order.
#[derive(Clone, Debug)]
pub struct RnnWeights {
    pub weight_ih: Tensor,
    pub weight_hh: Tensor,
    pub bias_ih: Option<Tensor>,
    pub bias_hh: Option<Tensor>,
}

impl RnnWeights {
    /// Every tensor from `U(-1/√hidden, 1/√hidden)`, as PyTorch's `reset_parameters`.
    pub(crate) fn new(gates: usize, input: usize, hidden: usize, bias: bool, dtype: DType) -> Result<RnnWeights> {
        let bound = 1.0 / (hidden as f64).sqrt();
        let make = |shape: &[usize]| -> Result<Tensor> {
            let t = Tensor::zeros(shape, dtype);
            init::uniform_(&t, -bound, bound)?;
            Ok(parameter(t))
        };
        let g = gates * hidden;
        let weight_ih = make(&[g, input])?;
        let weight_hh = make(&[g, hidden])?;
        let (bias_ih, bias_hh) = if bias {
            (Some(make(&[g])?), Some(make(&[g])?))
        } else {
            (None, None)
        };
        Ok(RnnWeights {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
        })
    }

    /// Visits the four tensors as `weight_ih{suffix}`, `weight_hh{suffix}`, `bias_ih{suffix}`,
    /// `bias_hh{suffix}`.
    pub(crate) fn visit(&self, prefix: &str, suffix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        let p = TensorKind::Parameter;
        f(&join_name(prefix, &format!("weight_ih{suffix}")), &self.weight_ih, p);
        f(&join_name(prefix, &format!("weight_hh{suffix}")), &self.weight_hh, p);
        if let Some(b) = &self.bias_ih {
            f(&join_name(prefix, &format!("bias_ih{suffix}")), b, p);
        }
        if let Some(b) = &self.bias_hh {
            f(&join_name(prefix, &format!("bias_hh{suffix}")), b, p);
        }
    }

    pub(crate) fn visit_mut(&mut self, prefix: &str, suffix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        let p = TensorKind::Parameter;
        f(
            &join_name(prefix, &format!("weight_ih{suffix}")),
            &mut self.weight_ih,
            p,
        );
        f(
            &join_name(prefix, &format!("weight_hh{suffix}")),
            &mut self.weight_hh,
            p,
        );
        if let Some(b) = &mut self.bias_ih {
            f(&join_name(prefix, &format!("bias_ih{suffix}")), b, p);
        }
        if let Some(b) = &mut self.bias_hh {
            f(&join_name(prefix, &format!("bias_hh{suffix}")), b, p);
        }
    }

    /// `x W_ihᵀ + b_ih` for `x` `[..., in]`.
    pub(crate) fn input_projection(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.weight_ih, self.bias_ih.as_ref())
    }

    /// `h W_hhᵀ + b_hh` for `h` `[N, H]`.
    pub(crate) fn hidden_projection(&self, h: &Tensor) -> Result<Tensor> {
        affine(h, &self.weight_hh, self.bias_hh.as_ref())
    }
}

fn affine(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    match b {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// The steps `t[0], t[1], ...` of `t` `[L, ...]`, taken by halving the sequence recursively.
///
/// The backward of a slice writes a gradient of its whole input, so taking `L` steps directly
/// costs `O(L²)` in the backward; through the halving tree it costs `O(L log L)`.
fn unbind_steps(t: &Tensor) -> Result<Vec<Tensor>> {
    fn go(t: &Tensor, out: &mut Vec<Tensor>) -> Result<()> {
        let len = t.shape()[0];
        if len == 1 {
            out.push(t.select(0, 0)?);
            return Ok(());
        }
        let half = len / 2;
        go(&t.narrow(0, 0, half)?, out)?;
        go(&t.narrow(0, half, len - half)?, out)
    }
    let mut out = Vec::with_capacity(t.shape()[0]);
    if t.shape()[0] > 0 {
        go(t, &mut out)?;
    }
    Ok(out)
}

/// One time step of a recurrent layer: from the input projection `[N, G·H]` of this step and the
/// states (`[h]` or `[h, c]`, each `[N, H]`) to the new states; the first state is the output.
pub(crate) type Step<'a> = &'a dyn Fn(&Tensor, &[Tensor], &RnnWeights) -> Result<Vec<Tensor>>;

/// The state and configuration of a multi-layer recurrent module; `LSTM` and `GRU` wrap one.
#[derive(Clone, Debug)]
pub(crate) struct RnnBase {
    pub(crate) name: &'static str,
    pub(crate) input_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) config: RnnConfig,
    /// One entry per layer and direction: `layer * D + direction`.
    pub(crate) weights: Vec<RnnWeights>,
    pub(crate) training: bool,
}

impl RnnBase {
    pub(crate) fn new(
        name: &'static str,
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        config: RnnConfig,
    ) -> Result<RnnBase> {
        let invalid = |msg: String| Error::Invalid { op: name, msg };
        if !(0.0..=1.0).contains(&config.dropout) {
            return Err(invalid(format!(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got {}",
                config.dropout
            )));
        }
        if hidden_size == 0 {
            return Err(invalid("hidden_size must be greater than zero".into()));
        }
        if config.num_layers == 0 {
            return Err(invalid("num_layers must be greater than or equal to 1".into()));
        }
        if !config.dtype.is_float() {
            return Err(invalid(format!(
                "parameters must have a floating-point dtype, got {}",
                config.dtype
            )));
        }
        let d = Self::directions_of(&config);
        let mut weights = Vec::with_capacity(config.num_layers * d);
        for layer in 0..config.num_layers {
            let layer_input = if layer == 0 { input_size } else { hidden_size * d };
            for _ in 0..d {
                weights.push(RnnWeights::new(
                    gates,
                    layer_input,
                    hidden_size,
                    config.bias,
                    config.dtype,
                )?);
            }
        }
        Ok(RnnBase {
            name,
            input_size,
            hidden_size,
            config,
            weights,
            training: true,
        })
    }

    fn directions_of(config: &RnnConfig) -> usize {
        if config.bidirectional {
            2
        } else {
            1
        }
    }

    pub(crate) fn directions(&self) -> usize {
        Self::directions_of(&self.config)
    }

    /// `_l{layer}` or `_l{layer}_reverse` for weight entry `i`.
    fn suffix(&self, i: usize) -> String {
        let d = self.directions();
        let reverse = if i % d == 1 { "_reverse" } else { "" };
        format!("_l{}{reverse}", i / d)
    }

    pub(crate) fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, TensorKind)) {
        for (i, w) in self.weights.iter().enumerate() {
            w.visit(prefix, &self.suffix(i), f);
        }
    }

    pub(crate) fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, TensorKind)) {
        for i in 0..self.weights.len() {
            let suffix = self.suffix(i);
            self.weights[i].visit_mut(prefix, &suffix, f);
        }
    }

    /// Checks the input and returns whether it is batched and the input as `[L, N, input_size]`.
    pub(crate) fn prepare_input(&self, input: &Tensor) -> Result<(bool, Tensor)> {
        let batched = match input.rank() {
            3 => true,
            2 => false,
            r => {
                return Err(Error::Shape {
                    op: self.name,
                    msg: format!("{}: Expected input to be 2D or 3D, got {r}D instead", self.name),
                })
            }
        };
        let last = input.shape()[input.rank() - 1];
        if last != self.input_size {
            return Err(Error::Shape {
                op: self.name,
                msg: format!(
                    "input.size(-1) must be equal to input_size. Expected {}, got {last} (input {:?})",
                    self.input_size,
                    input.shape()
                ),
            });
        }
        let x = if !batched {
            input.unsqueeze(1)?
        } else if self.config.batch_first {
            input.transpose(0, 1)?
        } else {
            input.clone()
        };
        if x.shape()[0] == 0 {
            return Err(Error::Shape {
                op: self.name,
                msg: format!("expected a non-empty sequence, got input {:?}", input.shape()),
            });
        }
        Ok((batched, x))
    }

    /// Checks an initial state (`what` names it in errors) against `[D * layers, N, H]` (no `N`
    /// unbatched) and returns it as `[D * layers, N, H]`; zeros when absent.
    pub(crate) fn initial_state(
        &self,
        state: Option<&Tensor>,
        what: &str,
        batched: bool,
        x: &Tensor,
    ) -> Result<Tensor> {
        let n = x.shape()[1];
        let expected = [self.config.num_layers * self.directions(), n, self.hidden_size];
        let Some(s) = state else {
            return Ok(Tensor::zeros(&expected, x.dtype()));
        };
        let rank = if batched { 3 } else { 2 };
        if s.rank() != rank {
            let kind = if batched { "batched 3-D" } else { "unbatched 2-D" };
            return Err(Error::Shape {
                op: self.name,
                msg: format!(
                    "For {kind} input, {what} should also be {rank}-D but got {}-D tensor",
                    s.rank()
                ),
            });
        }
        let s = if batched { s.clone() } else { s.unsqueeze(1)? };
        if s.shape() != expected {
            return Err(Error::Shape {
                op: self.name,
                msg: format!("Expected {what} size {:?}, got {:?}", expected, s.shape()),
            });
        }
        Ok(s)
    }

    /// Runs every layer and direction over `x` `[L, N, in]` from the initial states (each
    /// `[D * layers, N, H]`), projecting the whole sequence's inputs with one matmul per layer and
    /// direction. Returns the last layer's output `[L, N, D * H]` and the final states, each
    /// `[D * layers, N, H]`.
    pub(crate) fn run(&self, x: &Tensor, init: &[Tensor], step: Step<'_>) -> Result<(Tensor, Vec<Tensor>)> {
        let d = self.directions();
        let len = x.shape()[0];
        let mut finals: Vec<Vec<Tensor>> = vec![Vec::new(); init.len()];
        let mut layer_input = x.clone();
        for layer in 0..self.config.num_layers {
            let mut outputs = Vec::with_capacity(d);
            for dir in 0..d {
                let idx = layer * d + dir;
                let w = &self.weights[idx];
                let gi = unbind_steps(&w.input_projection(&layer_input)?)?;
                let mut state: Vec<Tensor> = init.iter().map(|s| s.select(0, idx as isize)).collect::<Result<_>>()?;
                let mut out: Vec<Option<Tensor>> = vec![None; len];
                for i in 0..len {
                    let t = if dir == 0 { i } else { len - 1 - i };
                    state = step(&gi[t], &state, w)?;
                    out[t] = Some(state[0].clone());
                }
                let out: Vec<&Tensor> = out.iter().flatten().collect();
                outputs.push(Tensor::stack(&out, 0)?);
                for (k, s) in state.into_iter().enumerate() {
                    finals[k].push(s);
                }
            }
            let out = if d == 1 {
                outputs.remove(0)
            } else {
                Tensor::cat(&outputs.iter().collect::<Vec<_>>(), 2)?
            };
            let last = layer + 1 == self.config.num_layers;
            layer_input = if !last && self.training && self.config.dropout > 0.0 {
                out.dropout(self.config.dropout, true)?
            } else {
                out
            };
        }
        let finals = finals
            .iter()
            .map(|f| Tensor::stack(&f.iter().collect::<Vec<_>>(), 0))
            .collect::<Result<Vec<_>>>()?;
        Ok((layer_input, finals))
    }

    /// The output back in the caller's layout (`batch_first`, unbatched).
    pub(crate) fn output_layout(&self, out: Tensor, batched: bool) -> Result<Tensor> {
        if !batched {
            out.squeeze_dim(1)
        } else if self.config.batch_first {
            out.transpose(0, 1)
        } else {
            Ok(out)
        }
    }

    /// A final state back in the caller's layout (no batch dim when unbatched).
    pub(crate) fn state_layout(&self, s: Tensor, batched: bool) -> Result<Tensor> {
        if batched {
            Ok(s)
        } else {
            s.squeeze_dim(1)
        }
    }
}

/// Checks a cell's input (`[N, in]` or `[in]`) and returns whether it is batched and the input
/// as `[N, in]`.
pub(crate) fn cell_input(name: &'static str, input: &Tensor, input_size: usize) -> Result<(bool, Tensor)> {
    let batched = match input.rank() {
        2 => true,
        1 => false,
        r => {
            return Err(Error::Shape {
                op: name,
                msg: format!("{name}: Expected input to be 1D or 2D, got {r}D instead"),
            })
        }
    };
    let last = input.shape()[input.rank() - 1];
    if last != input_size {
        return Err(Error::Shape {
            op: name,
            msg: format!("input has inconsistent input_size: got {last}, expected {input_size}"),
        });
    }
    Ok((batched, if batched { input.clone() } else { input.unsqueeze(0)? }))
}

/// Checks a cell's state `what` (`[N, H]`, or `[H]` unbatched) and returns it as `[N, H]`; zeros
/// when absent.
pub(crate) fn cell_state(
    name: &'static str,
    state: Option<&Tensor>,
    what: &str,
    batched: bool,
    x: &Tensor,
    hidden_size: usize,
) -> Result<Tensor> {
    let n = x.shape()[0];
    let Some(s) = state else {
        return Ok(Tensor::zeros(&[n, hidden_size], x.dtype()));
    };
    let rank = if batched { 2 } else { 1 };
    if s.rank() != rank {
        return Err(Error::Shape {
            op: name,
            msg: format!(
                "{name}: Expected {what} to be {rank}D like the input, got {}D instead",
                s.rank()
            ),
        });
    }
    let s = if batched { s.clone() } else { s.unsqueeze(0)? };
    if s.shape() != [n, hidden_size] {
        return Err(Error::Shape {
            op: name,
            msg: format!("Expected {what} of shape {:?}, got {:?}", [n, hidden_size], s.shape()),
        });
    }
    Ok(s)
}

/// Writes the `Module` impl of a type whose tensors are those of an `RnnBase` field `base`.
macro_rules! rnn_module {
    ($t:ty) => {
        impl $crate::Module for $t {
            fn visit_tensors(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor, $crate::TensorKind)) {
                self.base.visit(prefix, f)
            }
            fn visit_tensors_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor, $crate::TensorKind)) {
                self.base.visit_mut(prefix, f)
            }
            fn set_training(&mut self, training: bool) {
                self.base.training = training;
            }
            fn training_flag(&self) -> Option<bool> {
                Some(self.base.training)
            }
        }

        impl $t {
            pub fn input_size(&self) -> usize {
                self.base.input_size
            }
            pub fn hidden_size(&self) -> usize {
                self.base.hidden_size
            }
            pub fn config(&self) -> &RnnConfig {
                &self.base.config
            }
            /// The weights of `layer` in the forward (`reverse = false`) or reversed direction;
            /// `None` when there is no such layer or direction.
            pub fn weights(&self, layer: usize, reverse: bool) -> Option<&RnnWeights> {
                let d = self.base.directions();
                if reverse && d == 1 {
                    return None;
                }
                self.base.weights.get(layer * d + usize::from(reverse))
            }
        }
    };
}
pub(crate) use rnn_module;
