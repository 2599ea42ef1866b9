//! Finite-difference checks (f64) of the recurrences: gradients through time for `LSTM`, `GRU`
//! and their cells, with respect to the input, the initial states and every weight.

use kiln_nn::{GRUCell, LSTMCell, Module, RnnConfig, GRU, LSTM};
use kiln_tensor::testing::{gradcheck, GradcheckOptions};
use kiln_tensor::{DType, Result, Tensor};

/// A copy of `m` whose parameters are `params`, in `named_parameters` order.
fn with_params<M: Module + Clone>(m: &M, params: &[Tensor]) -> M {
    let mut m = m.clone();
    let mut i = 0;
    m.visit_tensors_mut("", &mut |_, t, _| {
        *t = params[i].clone();
        i += 1;
    });
    assert_eq!(i, params.len());
    m
}

fn f64_config() -> RnnConfig {
    RnnConfig::default().dtype(DType::F64)
}

fn randn(shape: &[usize]) -> Result<Tensor> {
    Tensor::randn(shape, DType::F64)
}

#[test]
fn lstm_gradients_through_time() -> Result<()> {
    kiln_tensor::manual_seed(11);
    let m = LSTM::with_config(2, 2, f64_config().num_layers(2).bidirectional(true))?;
    let (x, h0, c0) = (randn(&[3, 2, 2])?, randn(&[4, 2, 2])?, randn(&[4, 2, 2])?);
    let params = m.parameters();
    let inputs: Vec<&Tensor> = [&x, &h0, &c0].into_iter().chain(&params).collect();
    gradcheck(
        |t| {
            let (out, (h, c)) = with_params(&m, &t[3..]).forward(&t[0], Some((&t[1], &t[2])))?;
            Tensor::cat(&[&out.flatten(0, -1)?, &h.flatten(0, -1)?, &c.flatten(0, -1)?], 0)
        },
        &inputs,
        GradcheckOptions::default(),
    )
}

#[test]
fn gru_gradients_through_time() -> Result<()> {
    kiln_tensor::manual_seed(12);
    let m = GRU::with_config(2, 2, f64_config().num_layers(2).bidirectional(true).batch_first(true))?;
    let (x, h0) = (randn(&[2, 3, 2])?, randn(&[4, 2, 2])?);
    let params = m.parameters();
    let inputs: Vec<&Tensor> = [&x, &h0].into_iter().chain(&params).collect();
    gradcheck(
        |t| {
            let (out, h) = with_params(&m, &t[2..]).forward(&t[0], Some(&t[1]))?;
            Tensor::cat(&[&out.flatten(0, -1)?, &h.flatten(0, -1)?], 0)
        },
        &inputs,
        GradcheckOptions::default(),
    )
}

#[test]
fn unbatched_without_bias() -> Result<()> {
    kiln_tensor::manual_seed(13);
    let lstm = LSTM::with_config(2, 3, f64_config().bias(false))?;
    let gru = GRU::with_config(2, 3, f64_config().bias(false))?;
    let x = randn(&[4, 2])?;
    let lp = lstm.parameters();
    let inputs: Vec<&Tensor> = std::iter::once(&x).chain(&lp).collect();
    gradcheck(
        |t| with_params(&lstm, &t[1..]).forward(&t[0], None).map(|(o, _)| o),
        &inputs,
        GradcheckOptions::default(),
    )?;
    let gp = gru.parameters();
    let inputs: Vec<&Tensor> = std::iter::once(&x).chain(&gp).collect();
    gradcheck(
        |t| with_params(&gru, &t[1..]).forward(&t[0], None).map(|(o, _)| o),
        &inputs,
        GradcheckOptions::default(),
    )
}

#[test]
fn cells() -> Result<()> {
    kiln_tensor::manual_seed(14);
    let lstm = LSTMCell::with_config(3, 2, true, DType::F64)?;
    let (x, h, c) = (randn(&[2, 3])?, randn(&[2, 2])?, randn(&[2, 2])?);
    let lp = lstm.parameters();
    let inputs: Vec<&Tensor> = [&x, &h, &c].into_iter().chain(&lp).collect();
    gradcheck(
        |t| {
            let (h, c) = with_params(&lstm, &t[3..]).forward(&t[0], Some((&t[1], &t[2])))?;
            Tensor::cat(&[&h, &c], 0)
        },
        &inputs,
        GradcheckOptions::default(),
    )?;
    let gru = GRUCell::with_config(3, 2, true, DType::F64)?;
    let gp = gru.parameters();
    let inputs: Vec<&Tensor> = [&x, &h].into_iter().chain(&gp).collect();
    gradcheck(
        |t| with_params(&gru, &t[2..]).forward(&t[0], Some(&t[1])),
        &inputs,
        GradcheckOptions::default(),
    )
}
