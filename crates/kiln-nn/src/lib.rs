//! Kiln's training toolkit, shaped like `torch.nn` and `torch.optim`.
//!
//! - [`Module`]: parameters and buffers with PyTorch's dotted names, `state_dict`,
//!   `load_state_dict`, `train`/`eval`; `#[derive(Module)]` writes it for a struct of layers.
//! - [`layers`]: `Linear`, convolutions, normalizations, attention, recurrent layers, ...
//! - [`init`]: PyTorch's default initializations and the `torch.nn.init` functions.
//! - [`optim`]: optimizers; [`lr_scheduler`]: learning-rate schedules; `clip_grad`: gradient clipping.
//! - `serialize`: safetensors `state_dict` files and atomic training checkpoints.

// Lets `#[derive(Module)]` inside this crate name it the way users' code does.
extern crate self as kiln_nn;

pub mod checkpoint;
pub mod clip_grad;
pub mod init;
pub mod layers;
pub mod loss;
pub mod lr_scheduler;
mod module;
pub mod optim;
pub mod serialize;
mod state_dict;

pub use kiln_derive::Module;
pub use kiln_tensor::{Result, Tensor};
pub use layers::*;
pub use loss::{BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss};
pub use module::{join_name, parameter, Forward, Module, ModuleField, TensorField, TensorKind};
pub use state_dict::{LoadReport, StateDict};
