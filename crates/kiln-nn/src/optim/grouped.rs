//! [`GroupedOptimizer`]: parameter groups, per-parameter state and the [`Optimizer`] methods,
//! shared by every optimizer kind.

use super::param_group::invalid;
use super::{state, Algorithm, Optimizer, OptimizerState, ParamGroup, ParamState};
use kiln_tensor::{Result, Tensor};

/// An optimizer of kind `A` over parameter groups (`Sgd`, `Adam`, ... are aliases of it).
///
/// Each group holds its own copy of the hyperparameters: the config given at construction with
/// the group's own options applied. Parameter indices (in saved states) count across groups.
#[derive(Clone, Debug)]
pub struct GroupedOptimizer<A: Algorithm> {
    defaults: A,
    groups: Vec<(Vec<Tensor>, A)>,
    states: Vec<ParamState>,
}

impl<A: Algorithm> GroupedOptimizer<A> {
    /// An optimizer over `params` (one group) with the hyperparameters of `config`.
    ///
    /// Errors when `params` is empty, holds a tensor twice or a non-leaf, or `config` is invalid.
    pub fn new(params: Vec<Tensor>, config: A) -> Result<Self> {
        Self::with_groups(vec![ParamGroup::new(params)], config)
    }

    /// An optimizer over parameter groups; each group's unset options come from `config`.
    ///
    /// Errors as [`GroupedOptimizer::new`], and when a group sets an option this kind of
    /// optimizer does not have or a value it rejects.
    pub fn with_groups(groups: Vec<ParamGroup>, config: A) -> Result<Self> {
        config.validate()?;
        let mut opt = GroupedOptimizer {
            defaults: config,
            groups: Vec::new(),
            states: Vec::new(),
        };
        if groups.iter().all(|g| g.params.is_empty()) {
            return Err(invalid(A::NAME, "optimizer got an empty parameter list"));
        }
        for g in groups {
            opt.add_param_group(g)?;
        }
        Ok(opt)
    }

    /// Appends a group (PyTorch's `add_param_group`); unset options come from the config the
    /// optimizer was built with. Errors (adding nothing) like [`GroupedOptimizer::with_groups`].
    pub fn add_param_group(&mut self, group: ParamGroup) -> Result<()> {
        let gi = self.groups.len();
        let mut cfg = self.defaults.clone();
        for (k, v) in &group.options {
            cfg.set_option(k, *v)
                .map_err(|e| invalid(A::NAME, format!("param group {gi}: {e}")))?;
        }
        cfg.validate()?;
        let known: Vec<&Tensor> = self.groups.iter().flat_map(|(p, _)| p).collect();
        for (i, p) in group.params.iter().enumerate() {
            if !p.is_leaf() {
                return Err(invalid(
                    A::NAME,
                    format!("param group {gi}: can't optimize a non-leaf tensor (parameter {i})"),
                ));
            }
            if !p.dtype().is_float() {
                return Err(invalid(
                    A::NAME,
                    format!(
                        "param group {gi}: can't optimize a tensor of dtype {} (parameter {i})",
                        p.dtype()
                    ),
                ));
            }
            if known
                .iter()
                .chain(&group.params[..i].iter().collect::<Vec<_>>())
                .any(|q| q.id() == p.id())
            {
                return Err(invalid(
                    A::NAME,
                    format!("param group {gi}: some parameters appear more than once (parameter {i})"),
                ));
            }
        }
        let mut new_states = Vec::with_capacity(group.params.len());
        for p in &group.params {
            new_states.push(cfg.initial_state(p)?);
        }
        self.states.extend(new_states);
        self.groups.push((group.params, cfg));
        Ok(())
    }

    /// The hyperparameters of group `group`. Panics when out of range.
    pub fn config(&self, group: usize) -> &A {
        &self.groups[group].1
    }

    /// Mutable hyperparameters of group `group` (values are not re-validated). Panics when out of
    /// range.
    pub fn config_mut(&mut self, group: usize) -> &mut A {
        &mut self.groups[group].1
    }

    /// The state of parameter `index` (counted across groups); empty before its first step.
    pub fn param_state(&self, index: usize) -> Option<&ParamState> {
        self.states.get(index)
    }
}

impl<A: Algorithm> Optimizer for GroupedOptimizer<A> {
    fn step(&mut self) -> Result<()> {
        let (groups, states) = (&self.groups, &mut self.states);
        kiln_tensor::no_grad(|| {
            let mut i = 0;
            for (params, cfg) in groups {
                for p in params {
                    if let Some(g) = p.grad() {
                        cfg.update(p, &g, &mut states[i])?;
                    }
                    i += 1;
                }
            }
            Ok(())
        })
    }

    fn zero_grad(&mut self) {
        self.groups.iter().flat_map(|(p, _)| p).for_each(Tensor::zero_grad);
    }

    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn lr(&self, group: usize) -> f64 {
        self.groups[group].1.lr()
    }

    fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].1.set_lr(lr);
    }

    fn momentum(&self, group: usize) -> Option<f64> {
        self.groups[group].1.momentum()
    }

    fn set_momentum(&mut self, group: usize, momentum: f64) {
        self.groups[group].1.set_momentum(momentum);
    }

    fn group_params(&self, group: usize) -> &[Tensor] {
        &self.groups[group].0
    }

    fn state_dict(&self) -> OptimizerState {
        state::save(&self.groups, &self.states).expect("copying state tensors into fresh buffers cannot fail")
    }

    fn load_state_dict(&mut self, saved: &OptimizerState) -> Result<()> {
        let (configs, states) = state::load(&self.groups, saved)?;
        for ((_, cfg), c) in self.groups.iter_mut().zip(configs) {
            *cfg = c;
        }
        self.states = states;
        Ok(())
    }
}
