//! A PyTorch-style training loop written by hand: a `#[derive(Module)]` model, a `DataLoader`, the
//! Adam optimizer with a cosine schedule, and a checkpoint PyTorch can read.
//! `cargo run --release --example digits_mlp -p kiln` (the `kiln train` command does all this
//! with flags; this example shows the library underneath).

use kiln::data::{datasets, DataLoader};
use kiln::nn::lr_scheduler::{CosineAnnealingLR, LrScheduler};
use kiln::nn::optim::{Adam, AdamConfig, Optimizer};
use kiln::nn::{Dropout, Linear, Module};
use kiln::prelude::*;

/// `nn.Sequential`-free model: parameters are named `fc1.weight`, `fc1.bias`, `fc2.weight`, ...
#[derive(Module)]
struct Mlp {
    fc1: Linear,
    drop: Dropout,
    fc2: Linear,
}

impl Mlp {
    fn new() -> kiln::Result<Mlp> {
        Ok(Mlp {
            fc1: Linear::new(64, 128)?,
            drop: Dropout::new(0.1)?,
            fc2: Linear::new(128, 10)?,
        })
    }

    fn forward(&self, x: &Tensor) -> kiln::Result<Tensor> {
        let h = self.fc1.forward(&x.flatten(1, -1)?)?.relu()?;
        self.fc2.forward(&self.drop.forward(&h)?)
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    kiln::manual_seed(0);
    let (train, val) = datasets::digits_split(0.2, 0)?;
    let loader = DataLoader::new(train).batch_size(64).shuffle(true).seed(0);
    let (x_val, y_val) = (val.tensors()[0].clone(), val.tensors()[1].clone());

    let mut model = Mlp::new()?;
    let epochs = 20;
    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(1e-2))?;
    let mut sched = CosineAnnealingLR::new(&mut opt, epochs, 0.0)?;

    let mut val_acc = 0.0;
    for epoch in 1..=epochs {
        model.train();
        let (mut total, mut seen) = (0.0, 0);
        for batch in loader.iter_epoch(epoch as u64) {
            let batch = batch?;
            let (x, y) = (&batch[0], &batch[1]);
            opt.zero_grad();
            let loss = F::cross_entropy(&model.forward(x)?, y, Default::default())?;
            loss.backward()?;
            opt.step()?;
            total += loss.item_f64()? * y.shape()[0] as f64;
            seen += y.shape()[0];
        }
        sched.step(&mut opt)?;
        model.eval();
        val_acc = no_grad(|| -> kiln::Result<f64> {
            let pred = model.forward(&x_val)?.argmax(Some(-1), false)?;
            pred.eq(&y_val)?.to_dtype(DType::F32)?.mean()?.item_f64()
        })?;
        if epoch % 5 == 0 {
            println!(
                "epoch {epoch:2}  train loss {:.4}  val accuracy {:.2}%",
                total / seen as f64,
                100.0 * val_acc
            );
        }
    }
    println!(
        "final validation accuracy: {:.2}% on {} images",
        100.0 * val_acc,
        x_val.shape()[0]
    );

    // Weights with PyTorch's names: `model.load_state_dict(safetensors.torch.load_file(path))`.
    let path = std::env::temp_dir().join("kiln_digits_mlp.safetensors");
    kiln::nn::serialize::save_state_dict(&path, &model.state_dict(), &Default::default())?;
    println!("weights saved to {}", path.display());
    if val_acc < 0.9 {
        return Err(format!("validation accuracy {val_acc:.3} is below 0.9: training is broken").into());
    }
    Ok(())
}
