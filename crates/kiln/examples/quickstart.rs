//! Fits a line with plain tensor ops and autograd: `cargo run --example quickstart -p kiln`.

use kiln::prelude::*;

fn main() -> kiln::Result<()> {
    kiln::manual_seed(0);
    // y = 3x - 2 plus a little noise.
    let x = Tensor::linspace(-1.0, 1.0, 64, DType::F32)?.unsqueeze(1)?;
    let y = (&x * 3.0 - 2.0) + Tensor::randn(&[64, 1], DType::F32)? * 0.05;
    let w = Tensor::zeros(&[1, 1], DType::F32).requires_grad_(true);
    let b = Tensor::zeros(&[1], DType::F32).requires_grad_(true);
    for step in 0..200 {
        let pred = x.matmul(&w)?.add(&b)?;
        let loss = pred.sub(&y)?.square()?.mean()?;
        w.zero_grad();
        b.zero_grad();
        loss.backward()?;
        no_grad(|| -> kiln::Result<()> {
            w.sub_(&w.grad().unwrap().mul_scalar(0.1)?)?;
            b.sub_(&b.grad().unwrap().mul_scalar(0.1)?)?;
            Ok(())
        })?;
        if step % 50 == 0 {
            println!("step {step:3}  loss {:.5}", loss.item::<f32>()?);
        }
    }
    println!("w = {w}\nb = {b}");
    Ok(())
}
