//! The optimizer and learning-rate schedule a [`TrainConfig`] names.

use crate::config::{OptimizerKind, ScheduleKind, TrainConfig};
use kiln::nn::lr_scheduler::{
    CosineAnnealingLR, CosineAnnealingLRConfig, LinearLR, LinearLRConfig, LrScheduler, OneCycleLR, OneCycleLRConfig,
    SequentialLR, StepLR, StepLRConfig,
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
    let total = cfg.epochs * steps_per_epoch;
    Ok(match cfg.schedule {
        ScheduleKind::None => None,
        ScheduleKind::Step => {
            let every = (total / 3).max(1);
            Some(Box::new(StepLR::new(
                optimizer,
                StepLRConfig::default().step_size(every).gamma(0.1),
            )?))
        }
        ScheduleKind::Cosine => Some(Box::new(CosineAnnealingLR::new(
            optimizer,
            CosineAnnealingLRConfig::default().t_max(total),
        )?)),
        ScheduleKind::Onecycle => Some(Box::new(OneCycleLR::new(
            optimizer,
            OneCycleLRConfig::default().max_lr(cfg.lr).total_steps(total),
        )?)),
        ScheduleKind::WarmupCosine => {
            let warmup = steps_per_epoch.min(total / 10).max(1);
            let warm = LinearLR::new(
                optimizer,
                LinearLRConfig::default().start_factor(0.01).total_iters(warmup),
            )?;
            let cos = CosineAnnealingLR::new(
                optimizer,
                CosineAnnealingLRConfig::default().t_max(total.saturating_sub(warmup).max(1)),
            )?;
            Some(Box::new(SequentialLR::new(
                optimizer,
                vec![Box::new(warm), Box::new(cos)],
                vec![warmup],
            )?))
        }
    })
}
