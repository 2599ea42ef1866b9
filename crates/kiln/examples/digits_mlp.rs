//! Trains a two-layer MLP on the bundled digits data set (1797 8x8 images, embedded in the
//! binary) with plain tensor ops, autograd and a hand-written SGD-with-momentum step:
//! `cargo run --release --example digits_mlp -p kiln`.
//!
//! The `kiln train` command (with modules, optimizers and data loaders) comes with the training
//! toolkit; this example shows what it is built on.

use flate2::read::GzDecoder;
use kiln::prelude::*;
use std::io::Read;

const DIGITS_GZ: &[u8] = include_bytes!("../../../data/digits.csv.gz");

/// Parses the CSV (64 pixels 0..16, then the label) into `[n, 64]` floats in 0..1 and labels.
fn load_digits() -> std::result::Result<(Tensor, Tensor), Box<dyn std::error::Error>> {
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ).read_to_string(&mut text)?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<f32> = line
            .split(',')
            .map(|f| f.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()?;
        if fields.len() != 65 {
            return Err(format!("digits.csv line {}: expected 65 fields, got {}", i + 1, fields.len()).into());
        }
        pixels.extend(fields[..64].iter().map(|p| p / 16.0));
        labels.push(fields[64] as i64);
    }
    let n = labels.len();
    Ok((Tensor::from_vec(pixels, &[n, 64])?, Tensor::from_vec(labels, &[n])?))
}

/// PyTorch's default `nn.Linear` initialization: U(-1/sqrt(in), 1/sqrt(in)).
fn linear_params(fan_in: usize, fan_out: usize) -> kiln::Result<(Tensor, Tensor)> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let w = Tensor::rand(&[fan_in, fan_out], DType::F32)?
        .mul_scalar(2.0 * bound)?
        .sub_scalar(bound)?;
    let b = Tensor::rand(&[fan_out], DType::F32)?
        .mul_scalar(2.0 * bound)?
        .sub_scalar(bound)?;
    Ok((w.requires_grad_(true), b.requires_grad_(true)))
}

fn accuracy(logits: &Tensor, labels: &Tensor) -> kiln::Result<f64> {
    let pred = logits.argmax(Some(-1), false)?;
    pred.eq(labels)?.to_dtype(DType::F32)?.mean()?.item_f64()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    kiln::manual_seed(0);
    let (x, y) = load_digits()?;
    let n = x.shape()[0];
    // Shuffle once, then hold out the last 20% for validation.
    let perm = Tensor::rand(&[n], DType::F32)?.argsort(0, false)?;
    let (x, y) = (x.index_select(0, &perm)?, y.index_select(0, &perm)?);
    let n_train = n * 4 / 5;
    let (x_train, y_train) = (x.narrow(0, 0, n_train)?, y.narrow(0, 0, n_train)?);
    let (x_val, y_val) = (x.narrow(0, n_train, n - n_train)?, y.narrow(0, n_train, n - n_train)?);

    let (w1, b1) = linear_params(64, 128)?;
    let (w2, b2) = linear_params(128, 10)?;
    let params = [&w1, &b1, &w2, &b2];
    let mut velocity: Vec<Tensor> = params.iter().map(|p| p.zeros_like()).collect();
    let forward = |x: &Tensor| -> kiln::Result<Tensor> { x.matmul(&w1)?.add(&b1)?.relu()?.matmul(&w2)?.add(&b2) };

    let (batch, lr, momentum) = (64, 0.1, 0.9);
    for epoch in 1..=20 {
        let order = Tensor::rand(&[n_train], DType::F32)?.argsort(0, false)?;
        let mut total = 0.0;
        for start in (0..n_train).step_by(batch) {
            let idx = order.narrow(0, start, batch.min(n_train - start))?;
            let (xb, yb) = (x_train.index_select(0, &idx)?, y_train.index_select(0, &idx)?);
            let loss = F::cross_entropy(&forward(&xb)?, &yb, Default::default())?;
            params.iter().for_each(|p| p.zero_grad());
            loss.backward()?;
            no_grad(|| -> kiln::Result<()> {
                for (p, v) in params.iter().zip(&mut velocity) {
                    *v = v
                        .mul_scalar(momentum)?
                        .add(&p.grad().expect("every parameter gets a gradient"))?;
                    p.sub_(&v.mul_scalar(lr)?)?;
                }
                Ok(())
            })?;
            total += loss.item_f64()? * idx.shape()[0] as f64;
        }
        if epoch % 5 == 0 {
            let val_acc = no_grad(|| accuracy(&forward(&x_val)?, &y_val))?;
            println!(
                "epoch {epoch:2}  train loss {:.4}  val accuracy {:.2}%",
                total / n_train as f64,
                100.0 * val_acc
            );
        }
    }
    let val_acc = no_grad(|| accuracy(&forward(&x_val)?, &y_val))?;
    println!(
        "final validation accuracy: {:.2}% on {} images",
        100.0 * val_acc,
        n - n_train
    );
    if val_acc < 0.9 {
        return Err(format!("validation accuracy {val_acc:.3} is below 0.9: training is broken").into());
    }
    Ok(())
}
