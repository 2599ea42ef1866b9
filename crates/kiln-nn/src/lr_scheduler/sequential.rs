//! [`SequentialLR`].

use super::base::{check_groups, f64s_to_json, get_f64s, get_i64, invalid};
use super::LrScheduler;
use crate::optim::Optimizer;
use kiln_tensor::Result;
use serde_json::{Map, Value};

const OP: &str = "SequentialLR";

/// Runs schedulers one after another, switching at the milestone epochs
/// (`torch.optim.lr_scheduler.SequentialLR`), e.g. a [`super::LinearLR`] warm-up then
/// [`super::CosineAnnealingLR`].
///
/// PyTorch's semantics: construction resets the lrs to the initial lrs, undoes the sub-schedulers'
/// constructor steps (`last_epoch -= 1`) and redoes the initial step of the first one only. At
/// milestone `m_i` scheduler `i + 1` restarts at epoch 0 from its closed form (e.g. the cosine
/// starts at its base lr); between milestones the active scheduler steps normally.
///
/// PyTorch's optimizer-wide `initial_lr` is set by the first scheduler built on the optimizer, so
/// all of them share it; here each scheduler records its own base lrs, and `SequentialLR` gives
/// every sub-scheduler the first one's. Build the schedulers in list order (as usual), so the
/// first one's base lrs are the optimizer's original lrs.
pub struct SequentialLR {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<i64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    /// `SequentialLR(opt, schedulers, milestones)`, all schedulers built over `opt`. Errors
    /// unless there is at least one scheduler, exactly one milestone fewer than schedulers,
    /// milestones are non-decreasing, and every scheduler has `opt`'s group count.
    pub fn new(
        opt: &mut dyn Optimizer,
        mut schedulers: Vec<Box<dyn LrScheduler>>,
        milestones: &[usize],
    ) -> Result<SequentialLR> {
        if schedulers.is_empty() {
            return Err(invalid(OP, "expects at least one scheduler, but got no scheduler"));
        }
        if milestones.len() != schedulers.len() - 1 {
            return Err(invalid(
                OP,
                format!(
                    "expects one milestone fewer than schedulers, got {} schedulers and {} milestones",
                    schedulers.len(),
                    milestones.len()
                ),
            ));
        }
        if milestones.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid(
                OP,
                format!("milestones must be non-decreasing, got {milestones:?}"),
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
        let before: Vec<f64> = (0..groups).map(|g| opt.lr(g)).collect();
        for (g, &lr) in initial.iter().enumerate() {
            opt.set_lr(g, lr);
        }
        let milestones: Vec<i64> = milestones.iter().map(|&m| m as i64).collect();
        let mut seq = SequentialLR {
            schedulers,
            milestones,
            last_epoch: 0,
            last_lr: initial,
        };
        seq.undo_step();
        let idx = seq.index(0);
        if let Err(e) = seq.schedulers[idx].initial_step(opt) {
            for (g, &lr) in before.iter().enumerate() {
                opt.set_lr(g, lr);
            }
            return Err(e);
        }
        seq.last_lr = seq.schedulers[idx].get_last_lr();
        Ok(seq)
    }

    /// Index of the scheduler active at `epoch` (`bisect_right(milestones, epoch)`).
    fn index(&self, epoch: i64) -> usize {
        self.milestones.partition_point(|&m| m <= epoch)
    }

    /// The sub-schedulers, in order.
    pub fn schedulers(&self) -> &[Box<dyn LrScheduler>] {
        &self.schedulers
    }
}

impl std::fmt::Debug for SequentialLR {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequentialLR")
            .field("schedulers", &self.schedulers.len())
            .field("milestones", &self.milestones)
            .field("last_epoch", &self.last_epoch)
            .field("last_lr", &self.last_lr)
            .finish()
    }
}

impl LrScheduler for SequentialLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        check_groups(OP, opt, self.last_lr.len())?;
        let epoch = self.last_epoch + 1;
        let idx = self.index(epoch);
        let s = &mut self.schedulers[idx];
        if idx > 0 && self.milestones[idx - 1] == epoch {
            s.step_to(opt, 0)?;
        } else {
            s.step(opt)?;
        }
        self.last_epoch = epoch;
        self.last_lr = s.get_last_lr();
        Ok(())
    }

    fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    fn state_dict(&self) -> Value {
        let mut out = Map::new();
        out.insert("last_epoch".into(), Value::from(self.last_epoch));
        out.insert("_milestones".into(), Value::from(self.milestones.clone()));
        out.insert("_last_lr".into(), f64s_to_json(&self.last_lr));
        out.insert(
            "_schedulers".into(),
            Value::Array(self.schedulers.iter().map(|s| s.state_dict()).collect()),
        );
        Value::Object(out)
    }

    /// Restores the sub-schedulers in order; on an error some of them may already be restored.
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        let subs = state
            .get("_schedulers")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(OP, "state_dict has no `_schedulers` list"))?;
        if subs.len() != self.schedulers.len() {
            return Err(invalid(
                OP,
                format!(
                    "state has {} schedulers, this SequentialLR has {}",
                    subs.len(),
                    self.schedulers.len()
                ),
            ));
        }
        let last_epoch = get_i64(OP, state, "last_epoch")?;
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
        let milestones: Vec<i64> = state
            .get("_milestones")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_i64).collect())
            .ok_or_else(|| invalid(OP, "state_dict `_milestones` must be a list of integers"))?;
        if milestones.len() != self.milestones.len() {
            return Err(invalid(
                OP,
                "state_dict `_milestones` does not match the scheduler count",
            ));
        }
        for (s, sub) in self.schedulers.iter_mut().zip(subs) {
            s.load_state_dict(sub)?;
        }
        (self.last_epoch, self.last_lr, self.milestones) = (last_epoch, last_lr, milestones);
        Ok(())
    }

    fn base_lrs(&self) -> Vec<f64> {
        self.schedulers[0].base_lrs()
    }

    fn set_base_lrs(&mut self, base_lrs: &[f64]) -> Result<()> {
        self.schedulers.iter_mut().try_for_each(|s| s.set_base_lrs(base_lrs))
    }

    /// PyTorch's `_initial_step` on a `SequentialLR` is a plain `step`.
    fn initial_step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.step(opt)
    }

    fn step_to(&mut self, _opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        Err(invalid(
            OP,
            format!("cannot jump to epoch {epoch} (PyTorch's SequentialLR has no closed form either)"),
        ))
    }

    fn undo_step(&mut self) {
        for s in self.schedulers.iter_mut() {
            s.undo_step();
        }
    }
}
