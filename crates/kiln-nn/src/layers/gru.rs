//! `GRU` and `GRUCell` (`nn.GRU`, `nn.GRUCell`).

use crate::layers::rnn_common::{cell_input, cell_state, rnn_module, RnnBase, RnnConfig, RnnWeights};
use crate::Module;
use kiln_tensor::{DType, Result, Tensor};

/// One GRU step with PyTorch's gates `r, z, n`: `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`,
/// `n = tanh(x_n + r·h_n)` (with `h_n = W_hn h + b_hn`), `h' = (1 - z)·n + z·h`.
fn gru_step(gi: &Tensor, state: &[Tensor], w: &RnnWeights) -> Result<Vec<Tensor>> {
    let h = &state[0];
    let gi = gi.chunk(3, 1)?;
    let gh = w.hidden_projection(h)?.chunk(3, 1)?;
    let r = gi[0].add(&gh[0])?.sigmoid()?;
    let z = gi[1].add(&gh[1])?.sigmoid()?;
    let n = gi[2].add(&r.mul(&gh[2])?)?.tanh()?;
    // (1 - z)·n + z·h = n + z·(h - n)
    Ok(vec![n.add(&z.mul(&h.sub(&n)?)?)?])
}

/// A multi-layer gated recurrent unit RNN.
///
/// Input `[L, N, input_size]` (`[N, L, input_size]` with `batch_first`, `[L, input_size]`
/// unbatched); initial state `h0` `[D * num_layers, N, H]` (`[D * num_layers, H]` unbatched; zeros
/// when absent), `D = 2` when bidirectional. Output `[L, N, D * H]` and the final `h_n`.
///
/// Parameters per layer `k` and direction: `weight_ih_l{k}[_reverse]` `[3H, in]`,
/// `weight_hh_l{k}[_reverse]` `[3H, H]`, `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]` `[3H]`,
/// gates stacked `r, z, n`, all from `U(-1/√H, 1/√H)`.
#[derive(Clone, Debug)]
pub struct GRU {
    base: RnnBase,
}

rnn_module!(GRU);

impl GRU {
    pub fn new(input_size: usize, hidden_size: usize) -> Result<GRU> {
        Self::with_config(input_size, hidden_size, RnnConfig::default())
    }

    /// Errors when `hidden_size` or `num_layers` is 0, or `dropout` is outside `[0, 1]`.
    pub fn with_config(input_size: usize, hidden_size: usize, config: RnnConfig) -> Result<GRU> {
        Ok(GRU {
            base: RnnBase::new("GRU", 3, input_size, hidden_size, config)?,
        })
    }

    /// Runs the sequence; returns `(output, h_n)`.
    ///
    /// Errors when the input is not 2-D or 3-D or its last size is not `input_size`, or `h0` has
    /// the wrong rank or shape.
    pub fn forward(&self, input: &Tensor, h0: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let (batched, x) = self.base.prepare_input(input)?;
        let h0 = self.base.initial_state(h0, "hx", batched, &x)?;
        let (out, mut finals) = self.base.run(&x, &[h0], &gru_step)?;
        let h = finals.remove(0);
        Ok((
            self.base.output_layout(out, batched)?,
            self.base.state_layout(h, batched)?,
        ))
    }
}

/// One GRU step (`nn.GRUCell`): input `[N, input_size]` or `[input_size]`, state `[N, H]` or `[H]`
/// (zeros when absent); returns `h'`.
///
/// Parameters `weight_ih` `[3H, in]`, `weight_hh` `[3H, H]`, `bias_ih`, `bias_hh` `[3H]`, from
/// `U(-1/√H, 1/√H)`.
#[derive(Clone, Debug, Module)]
#[module(crate = "kiln_nn")]
pub struct GRUCell {
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

impl GRUCell {
    pub fn new(input_size: usize, hidden_size: usize) -> Result<GRUCell> {
        Self::with_config(input_size, hidden_size, true, DType::F32)
    }

    pub fn with_config(input_size: usize, hidden_size: usize, bias: bool, dtype: DType) -> Result<GRUCell> {
        let w = RnnWeights::new(3, input_size, hidden_size, bias, dtype)?;
        Ok(GRUCell {
            weight_ih: w.weight_ih,
            weight_hh: w.weight_hh,
            bias_ih: w.bias_ih,
            bias_hh: w.bias_hh,
            input_size,
            hidden_size,
        })
    }

    /// Errors when the input is not 1-D or 2-D, its last size is not `input_size`, or the state
    /// does not match `[N, H]` (`[H]` unbatched).
    pub fn forward(&self, input: &Tensor, hx: Option<&Tensor>) -> Result<Tensor> {
        const OP: &str = "GRUCell";
        let (batched, x) = cell_input(OP, input, self.input_size)?;
        let h = cell_state(OP, hx, "hx", batched, &x, self.hidden_size)?;
        let w = RnnWeights {
            weight_ih: self.weight_ih.clone(),
            weight_hh: self.weight_hh.clone(),
            bias_ih: self.bias_ih.clone(),
            bias_hh: self.bias_hh.clone(),
        };
        let h = gru_step(&w.input_projection(&x)?, &[h], &w)?.remove(0);
        if batched {
            Ok(h)
        } else {
            h.squeeze_dim(0)
        }
    }
}
