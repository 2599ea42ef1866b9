//! [`ChainedScheduler`].

use super::base::{check_groups, f64s_to_json, get_f64s, invalid};
use super::LrScheduler;
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

const OP: &str = "ChainedScheduler";

/// Steps several schedulers together, each multiplying in its change
/// (`torch.optim.lr_scheduler.ChainedScheduler`), e.g. [`super::ConstantLR`] with
/// [`super::ExponentialLR`]. The schedulers' constructors already chained their initial values.
///
/// As in [`super::SequentialLR`], every scheduler gets the first one's base lrs (PyTorch's shared
/// `initial_lr`); build them in list order. `last_epoch` is the first scheduler's.
pub struct ChainedScheduler {
    schedulers: Vec<Box<dyn LrScheduler>>,
    last_lr: Vec<f64>,
}

impl ChainedScheduler {
    /// `ChainedScheduler(schedulers)`, all built over `opt`: errors when there is none or one has
    /// another group count than `opt`. Leaves the lrs as the constructors set them.
    pub fn new(opt: &mut dyn Optimizer, mut schedulers: Vec<Box<dyn LrScheduler>>) -> Result<ChainedScheduler> {
        if schedulers.is_empty() {
            return Err(invalid(
                OP,
                "expects at least one scheduler to be chained, but got no scheduler",
            ));
        }
        let groups = opt.num_groups();
        for (i, s) in schedulers.iter().enumerate() {
            let n = s.base_lrs().len();
            if n != groups {
                return Err(invalid(
                    OP,
                    format!("scheduler at index {i} has {n} parameter groups, the optimizer has {groups}"),
                ));
            }
        }
        let initial = schedulers[0].base_lrs();
        for s in schedulers.iter_mut() {
            s.set_base_lrs(&initial)?;
        }
        Ok(ChainedScheduler {
            schedulers,
            last_lr: (0..groups).map(|g| opt.lr(g)).collect(),
        })
    }

    /// The chained schedulers, in order.
    pub fn schedulers(&self) -> &[Box<dyn LrScheduler>] {
        &self.schedulers
    }
}

impl std::fmt::Debug for ChainedScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainedScheduler")
            .field("schedulers", &self.schedulers.len())
            .field("last_lr", &self.last_lr)
            .finish()
    }
}

impl LrScheduler for ChainedScheduler {
    /// Steps every scheduler in order; an error stops there (earlier ones have stepped).
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        check_groups(OP, opt, self.last_lr.len())?;
        for s in self.schedulers.iter_mut() {
            s.step(opt)?;
        }
        self.last_lr = (0..opt.num_groups()).map(|g| opt.lr(g)).collect();
        Ok(())
    }

    fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    fn last_epoch(&self) -> i64 {
        self.schedulers[0].last_epoch()
    }

    fn state_dict(&self) -> Value {
        let mut out = Map::new();
        out.insert("_last_lr".into(), f64s_to_json(&self.last_lr));
        out.insert(
            "_schedulers".into(),
            Value::Array(self.schedulers.iter().map(|s| s.state_dict()).collect()),
        );
        Value::Object(out)
    }

    /// Restores the schedulers in order; on an error some of them may already be restored.
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        let subs = state
            .get("_schedulers")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(OP, "state_dict has no `_schedulers` list"))?;
        if subs.len() != self.schedulers.len() {
            return Err(invalid(
                OP,
                format!(
                    "state has {} schedulers, this ChainedScheduler has {}",
                    subs.len(),
                    self.schedulers.len()
                ),
            ));
        }
        let last_lr = get_f64s(OP, state, "_last_lr")?;
        if last_lr.len() != self.last_lr.len() {
            return Err(invalid(
                OP,
                format!(
                    "state has {} lrs for {} parameter groups",
                    last_lr.len(),
                    self.last_lr.len()
                ),
            ));
        }
        for (s, sub) in self.schedulers.iter_mut().zip(subs) {
            s.load_state_dict(sub)?;
        }
        self.last_lr = last_lr;
        Ok(())
    }

    fn base_lrs(&self) -> Vec<f64> {
        self.schedulers[0].base_lrs()
    }

    fn set_base_lrs(&mut self, base_lrs: &[f64]) -> Result<()> {
        self.schedulers.iter_mut().try_for_each(|s| s.set_base_lrs(base_lrs))
    }

    fn undo_step(&mut self) {
        for s in self.schedulers.iter_mut() {
            s.undo_step();
        }
    }
}
