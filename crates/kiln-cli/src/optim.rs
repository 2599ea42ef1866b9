//! The optimizer and learning-rate schedule a [`TrainConfig`] names.

use crate::config::{OptimizerKind, ScheduleKind, TrainConfig};
use kiln::nn::lr_scheduler::{
    CosineAnnealingLR, LinearLR, LrScheduler, OneCycleLR, OneCycleLRConfig, SequentialLR, StepLR,
};
use kiln::nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, RMSprop, RMSpropConfig, Sgd, SgdConfig,
};
use kiln::{Result, Tensor};

/// The optimizer over `params` with the config's learning rate, momentum and weight decay.
pub fn build_optimizer(cfg: &TrainConfig, params: Vec<Tensor>) -> Result<Box<dyn Optimizer>> {
    Ok(match cfg.optimizer {
        OptimizerKind::Sgd => Box::new(Sgd::new(
            params,
            SgdConfig::default()
                .lr(cfg.lr)
                .momentum(cfg.momentum)
                .weight_decay(cfg.weight_decay),
        )?),
        OptimizerKind::Adam => Box::new(Adam::new(
            params,
            AdamConfig::default().lr(cfg.lr).weight_decay(cfg.weight_decay),
        )?),
        OptimizerKind::Adamw => Box::new(AdamW::new(
            params,
            AdamWConfig::default().lr(cfg.lr).weight_decay(cfg.weight_decay),
        )?),
        OptimizerKind::Rmsprop => Box::new(RMSprop::new(
            params,
            RMSpropConfig::default()
                .lr(cfg.lr)
                .momentum(cfg.momentum)
                .weight_decay(cfg.weight_decay),
        )?),
        OptimizerKind::Adagrad => Box::new(Adagrad::new(
            params,
            AdagradConfig::default().lr(cfg.lr).weight_decay(cfg.weight_decay),
        )?),
    })
}

/// The schedule, stepped once per optimizer step over `epochs * steps_per_epoch` steps; `None`
/// for a constant learning rate.
pub fn build_scheduler(
    cfg: &TrainConfig,
    steps_per_epoch: usize,
    optimizer: &mut dyn Optimizer,
) -> Result<Option<Box<dyn LrScheduler>>> {
    let total = (cfg.epochs * steps_per_epoch).max(1);
    Ok(match cfg.schedule {
        ScheduleKind::None => None,
        ScheduleKind::Step => Some(Box::new(StepLR::new(optimizer, (total / 3).max(1), 0.1)?)),
        ScheduleKind::Cosine => Some(Box::new(CosineAnnealingLR::new(optimizer, total, 0.0)?)),
        ScheduleKind::Onecycle => {
            // Momentum cycles (PyTorch's default) only where the optimizer has one.
            let cycle_momentum = optimizer.momentum(0).is_some();
            Some(Box::new(OneCycleLR::with_config(
                optimizer,
                &[cfg.lr],
                OneCycleLRConfig::default()
                    .total_steps(total)
                    .cycle_momentum(cycle_momentum),
            )?))
        }
        ScheduleKind::WarmupCosine => {
            let warmup = steps_per_epoch.min(total / 10).max(1);
            let warm = LinearLR::with_factors(optimizer, 0.01, 1.0, warmup)?;
            let cos = CosineAnnealingLR::new(optimizer, total.saturating_sub(warmup).max(1), 0.0)?;
            Some(Box::new(SequentialLR::new(
                optimizer,
                vec![Box::new(warm), Box::new(cos)],
                &[warmup],
            )?))
        }
    })
}
