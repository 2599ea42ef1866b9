//! Schedules given as functions of the epoch: [`LambdaLR`], [`MultiplicativeLR`].

use super::base::{group_lrs, init, invalid, Base, Schedule};
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A function of the epoch (`last_epoch`, 0 at construction) giving a factor.
pub type LrLambda = Arc<dyn Fn(i64) -> f64 + Send + Sync>;

fn per_group(op: &'static str, opt: &dyn Optimizer, lambdas: Vec<LrLambda>) -> Result<Vec<LrLambda>> {
    let groups = opt.num_groups();
    match lambdas.len() {
        1 => Ok(vec![lambdas[0].clone(); groups]),
        n if n == groups => Ok(lambdas),
        n => Err(invalid(op, format!("expected {groups} lr_lambdas, but got {n}"))),
    }
}

/// `lr = base_lr * lambda(epoch)` (`torch.optim.lr_scheduler.LambdaLR`).
///
/// The functions are not part of `state_dict` (PyTorch saves `None` for plain functions too):
/// rebuild the scheduler with the same ones before `load_state_dict`.
#[derive(Clone)]
pub struct LambdaLR {
    base: Base,
    lambdas: Vec<LrLambda>,
}

impl LambdaLR {
    /// `LambdaLR(opt, lr_lambda)`: one function for every group.
    pub fn new(opt: &mut dyn Optimizer, lr_lambda: impl Fn(i64) -> f64 + Send + Sync + 'static) -> Result<LambdaLR> {
        LambdaLR::per_group(opt, vec![Arc::new(lr_lambda)])
    }

    /// `LambdaLR(opt, [lambda, ...])`: one function per group (or one for all); errors on another
    /// count.
    pub fn per_group(opt: &mut dyn Optimizer, lr_lambdas: Vec<LrLambda>) -> Result<LambdaLR> {
        let lambdas = per_group("LambdaLR", opt, lr_lambdas)?;
        init(
            LambdaLR {
                base: Base::new(opt),
                lambdas,
            },
            opt,
        )
    }
}

impl std::fmt::Debug for LambdaLR {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaLR")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Schedule for LambdaLR {
    const NAME: &'static str = "LambdaLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, _opt: &mut dyn Optimizer, _initial: bool) -> Result<Vec<f64>> {
        let e = self.base.last_epoch;
        Ok(self
            .lambdas
            .iter()
            .zip(&self.base.base_lrs)
            .map(|(l, b)| b * l(e))
            .collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        None
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("lr_lambdas".into(), Value::Array(vec![Value::Null; self.lambdas.len()]));
    }
    fn load_extra_state(&mut self, _state: &Value) -> Result<()> {
        Ok(())
    }
}

/// `lr = lr * lambda(epoch)` at every step after construction
/// (`torch.optim.lr_scheduler.MultiplicativeLR`).
///
/// As for [`LambdaLR`], the functions are not saved in `state_dict`.
#[derive(Clone)]
pub struct MultiplicativeLR {
    base: Base,
    lambdas: Vec<LrLambda>,
}

impl MultiplicativeLR {
    /// `MultiplicativeLR(opt, lr_lambda)`: one function for every group.
    pub fn new(
        opt: &mut dyn Optimizer,
        lr_lambda: impl Fn(i64) -> f64 + Send + Sync + 'static,
    ) -> Result<MultiplicativeLR> {
        MultiplicativeLR::per_group(opt, vec![Arc::new(lr_lambda)])
    }

    /// `MultiplicativeLR(opt, [lambda, ...])`: one function per group (or one for all); errors on
    /// another count.
    pub fn per_group(opt: &mut dyn Optimizer, lr_lambdas: Vec<LrLambda>) -> Result<MultiplicativeLR> {
        let lambdas = per_group("MultiplicativeLR", opt, lr_lambdas)?;
        init(
            MultiplicativeLR {
                base: Base::new(opt),
                lambdas,
            },
            opt,
        )
    }
}

impl std::fmt::Debug for MultiplicativeLR {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiplicativeLR")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Schedule for MultiplicativeLR {
    const NAME: &'static str = "MultiplicativeLR";
    fn base(&self) -> &Base {
        &self.base
    }
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&mut self, opt: &mut dyn Optimizer, initial: bool) -> Result<Vec<f64>> {
        let lrs = group_lrs(opt);
        if initial {
            return Ok(lrs);
        }
        let e = self.base.last_epoch;
        Ok(self.lambdas.iter().zip(&lrs).map(|(l, lr)| lr * l(e)).collect())
    }
    fn closed_form_lr(&self) -> Option<Vec<f64>> {
        None
    }
    fn extra_state(&self, out: &mut Map<String, Value>) {
        out.insert("lr_lambdas".into(), Value::Array(vec![Value::Null; self.lambdas.len()]));
    }
    fn load_extra_state(&mut self, _state: &Value) -> Result<()> {
        Ok(())
    }
}
