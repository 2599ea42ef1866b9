//! Whole training steps (forward, loss, backward, optimizer step) of small models, the same
//! models and optimizers as `train_*` in `bench/torch_bench.py`.

use crate::workloads::Iter;
use kiln::nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use kiln::nn::{Conv2d, Conv2dConfig, Forward, Linear, MaxPool2d, Module, ReLU, Sequential};
use kiln::prelude::F;
use kiln::{DType, Result, Tensor};

fn step(model: Sequential, mut opt: impl Optimizer + 'static, x: Tensor, y: Tensor) -> Result<Iter> {
    Ok(Box::new(move || {
        opt.zero_grad();
        let loss = F::cross_entropy(&model.forward(&x)?, &y, Default::default())?;
        loss.backward()?;
        opt.step()
    }))
}

/// MLP 784-512-512-10, batch 128, Adam (lr 1e-3).
pub fn mlp_adam() -> Result<Iter> {
    let model = Sequential::new()
        .add(Linear::new(784, 512)?)
        .add(ReLU)
        .add(Linear::new(512, 512)?)
        .add(ReLU)
        .add(Linear::new(512, 10)?);
    let opt = Adam::new(model.parameters(), AdamConfig::default().lr(1e-3))?;
    let x = Tensor::randn(&[128, 784], DType::F32)?;
    let y = Tensor::randint(0, 10, &[128])?;
    step(model, opt, x, y)
}

/// LeNet-5 style CNN on 1x28x28, batch 64, SGD with momentum 0.9.
pub fn lenet_sgd() -> Result<Iter> {
    let model = Sequential::new()
        .add(Conv2d::with_config(1, 6, 5, Conv2dConfig::default().padding(2))?)
        .add(ReLU)
        .add(MaxPool2d::new(2)?)
        .add(Conv2d::new(6, 16, 5)?)
        .add(ReLU)
        .add(MaxPool2d::new(2)?)
        .add(kiln::nn::Flatten::new())
        .add(Linear::new(16 * 5 * 5, 120)?)
        .add(ReLU)
        .add(Linear::new(120, 84)?)
        .add(ReLU)
        .add(Linear::new(84, 10)?);
    let opt = Sgd::new(model.parameters(), SgdConfig::default().lr(0.01).momentum(0.9))?;
    let x = Tensor::randn(&[64, 1, 28, 28], DType::F32)?;
    let y = Tensor::randint(0, 10, &[64])?;
    step(model, opt, x, y)
}
