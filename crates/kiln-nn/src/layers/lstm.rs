//! `LSTM` and `LSTMCell` (`nn.LSTM`, `nn.LSTMCell`).

use crate::layers::rnn_common::{cell_input, cell_state, rnn_module, RnnBase, RnnConfig, RnnWeights};
use crate::Module;
use kiln_tensor::{DType, Result, Tensor};

/// One LSTM step: gates `i, f, g, o` (PyTorch's order) from the input projection `gi` `[N, 4H]`
/// and `h`; `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`. Returns `[h', c']`.
fn lstm_step(gi: &Tensor, state: &[Tensor], w: &RnnWeights) -> Result<Vec<Tensor>> {
    let (h, c) = (&state[0], &state[1]);
    let gates = gi.add(&w.hidden_projection(h)?)?.chunk(4, 1)?;
    let i = gates[0].sigmoid()?;
    let f = gates[1].sigmoid()?;
    let g = gates[2].tanh()?;
    let o = gates[3].sigmoid()?;
    let c = f.mul(c)?.add(&i.mul(&g)?)?;
    let h = o.mul(&c.tanh()?)?;
    Ok(vec![h, c])
}

/// A multi-layer long short-term memory RNN.
///
/// Input `[L, N, input_size]` (`[N, L, input_size]` with `batch_first`, `[L, input_size]`
/// unbatched); initial states `h0`, `c0` `[D * num_layers, N, H]` (`[D * num_layers, H]`
/// unbatched; zeros when absent), `D = 2` when bidirectional. Output `[L, N, D * H]` (the last
/// layer's `h` at every step, directions concatenated) and the final `(h_n, c_n)`.
///
/// Parameters per layer `k` and direction: `weight_ih_l{k}[_reverse]` `[4H, in]`,
/// `weight_hh_l{k}[_reverse]` `[4H, H]`, `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]` `[4H]`,
/// gates stacked `i, f, g, o`, all from `U(-1/√H, 1/√H)`.
///
/// ```
/// use kiln_nn::{RnnConfig, LSTM};
/// use kiln_tensor::{DType, Tensor};
/// # fn main() -> kiln_tensor::Result<()> {
/// let lstm = LSTM::with_config(4, 8, RnnConfig::default().num_layers(2).bidirectional(true).batch_first(true))?;
/// let x = Tensor::randn(&[3, 10, 4], DType::F32)?; // [N, L, input_size]
/// let (out, (h, c)) = lstm.forward(&x, None)?;
/// assert_eq!(out.shape(), &[3, 10, 16]);
/// assert_eq!(h.shape(), &[4, 3, 8]);
/// assert_eq!(c.shape(), h.shape());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LSTM {
    base: RnnBase,
}

rnn_module!(LSTM);

impl LSTM {
    pub fn new(input_size: usize, hidden_size: usize) -> Result<LSTM> {
        Self::with_config(input_size, hidden_size, RnnConfig::default())
    }

    /// Errors when `hidden_size` or `num_layers` is 0, or `dropout` is outside `[0, 1]`.
    pub fn with_config(input_size: usize, hidden_size: usize, config: RnnConfig) -> Result<LSTM> {
        Ok(LSTM {
            base: RnnBase::new("LSTM", 4, input_size, hidden_size, config)?,
        })
    }

    /// Runs the sequence; returns `(output, (h_n, c_n))`. `hx` is `(h0, c0)`.
    ///
    /// Errors when the input is not 2-D or 3-D or its last size is not `input_size`, or a state
    /// has the wrong rank or shape.
    pub fn forward(&self, input: &Tensor, hx: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, (Tensor, Tensor))> {
        let (batched, x) = self.base.prepare_input(input)?;
        let h0 = self.base.initial_state(hx.map(|s| s.0), "hx[0]", batched, &x)?;
        let c0 = self.base.initial_state(hx.map(|s| s.1), "hx[1]", batched, &x)?;
        let (out, mut finals) = self.base.run(&x, &[h0, c0], &lstm_step)?;
        let c = finals.pop();
        let h = finals.pop();
        let (Some(h), Some(c)) = (h, c) else {
            unreachable!("run returns one final state per initial state")
        };
        Ok((
            self.base.output_layout(out, batched)?,
            (self.base.state_layout(h, batched)?, self.base.state_layout(c, batched)?),
        ))
    }
}

/// One LSTM step (`nn.LSTMCell`): input `[N, input_size]` or `[input_size]`, states `(h, c)`
/// `[N, H]` or `[H]` (zeros when absent); returns `(h', c')`.
///
/// Parameters `weight_ih` `[4H, in]`, `weight_hh` `[4H, H]`, `bias_ih`, `bias_hh` `[4H]`, from
/// `U(-1/√H, 1/√H)`.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct LSTMCell {
    #[param]
    pub weight_ih: Tensor,
    #[param]
    pub weight_hh: Tensor,
    #[param]
    pub bias_ih: Option<Tensor>,
    #[param]
    pub bias_hh: Option<Tensor>,
    pub input_size: usize,
    pub hidden_size: usize,
}

impl LSTMCell {
    pub fn new(input_size: usize, hidden_size: usize) -> Result<LSTMCell> {
        Self::with_config(input_size, hidden_size, true, DType::F32)
    }

    pub fn with_config(input_size: usize, hidden_size: usize, bias: bool, dtype: DType) -> Result<LSTMCell> {
        let w = RnnWeights::new(4, input_size, hidden_size, bias, dtype)?;
        Ok(LSTMCell {
            weight_ih: w.weight_ih,
            weight_hh: w.weight_hh,
            bias_ih: w.bias_ih,
            bias_hh: w.bias_hh,
            input_size,
            hidden_size,
        })
    }

    /// Errors when the input is not 1-D or 2-D, its last size is not `input_size`, or a state
    /// does not match `[N, H]` (`[H]` unbatched).
    pub fn forward(&self, input: &Tensor, hx: Option<(&Tensor, &Tensor)>) -> Result<(Tensor, Tensor)> {
        const OP: &str = "LSTMCell";
        let (batched, x) = cell_input(OP, input, self.input_size)?;
        let h = cell_state(OP, hx.map(|s| s.0), "hx[0]", batched, &x, self.hidden_size)?;
        let c = cell_state(OP, hx.map(|s| s.1), "hx[1]", batched, &x, self.hidden_size)?;
        let w = RnnWeights {
            weight_ih: self.weight_ih.clone(),
            weight_hh: self.weight_hh.clone(),
            bias_ih: self.bias_ih.clone(),
            bias_hh: self.bias_hh.clone(),
        };
        let mut s = lstm_step(&w.input_projection(&x)?, &[h, c], &w)?;
        let (c, h) = (s.remove(1), s.remove(0));
        if batched {
            Ok((h, c))
        } else {
            Ok((h.squeeze_dim(0)?, c.squeeze_dim(0)?))
        }
    }
}
