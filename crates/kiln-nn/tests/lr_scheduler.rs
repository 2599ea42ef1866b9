//! Learning-rate schedulers against PyTorch's sequences (fixtures/lr_scheduler/generate.py), resume
//! from `state_dict`, and argument / state validation.

use kiln_nn::lr_scheduler::{
    AnnealStrategy, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR,
    CyclicLRConfig, CyclicMode, ExponentialLR, LambdaLR, LinearLR, LrLambda, LrScheduler, MultiStepLR,
    MultiplicativeLR, OneCycleLR, OneCycleLRConfig, PlateauMode, PolynomialLR, ReduceLROnPlateau,
    ReduceLROnPlateauConfig, ScaleMode, SequentialLR, StepLR, ThresholdMode,
};
use kiln_nn::optim::{Optimizer, OptimizerState};
use kiln_tensor::{Error, Result, Tensor};
use serde_json::Value;
use std::sync::Arc;

/// Test double: per-group lr and momentum, nothing to optimize.
#[derive(Clone, Debug)]
struct Groups {
    lrs: Vec<f64>,
    momenta: Vec<Option<f64>>,
}

impl Groups {
    fn new(lrs: &[f64], momentum: Option<f64>) -> Groups {
        Groups {
            lrs: lrs.to_vec(),
            momenta: vec![momentum; lrs.len()],
        }
    }
}

impl Optimizer for Groups {
    fn step(&mut self) -> Result<()> {
        Ok(())
    }
    fn zero_grad(&mut self) {}
    fn num_groups(&self) -> usize {
        self.lrs.len()
    }
    fn lr(&self, group: usize) -> f64 {
        self.lrs[group]
    }
    fn set_lr(&mut self, group: usize, lr: f64) {
        self.lrs[group] = lr;
    }
    fn momentum(&self, group: usize) -> Option<f64> {
        self.momenta[group]
    }
    fn set_momentum(&mut self, group: usize, momentum: f64) {
        if self.momenta[group].is_some() {
            self.momenta[group] = Some(momentum);
        }
    }
    fn group_params(&self, _group: usize) -> &[Tensor] {
        &[]
    }
    fn state_dict(&self) -> OptimizerState {
        OptimizerState::default()
    }
    fn load_state_dict(&mut self, _state: &OptimizerState) -> Result<()> {
        Ok(())
    }
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lr_scheduler/cases.json");
    let text = std::fs::read_to_string(path).expect("fixture cases.json");
    let doc: Value = serde_json::from_str(&text).expect("fixture JSON");
    doc["cases"].as_array().expect("cases list").clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn u(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")) as usize
}

/// A number or a list of numbers (PyTorch's per-group arguments).
fn fs(v: &Value) -> Vec<f64> {
    match v.as_array() {
        Some(a) => a.iter().map(f).collect(),
        None => vec![f(v)],
    }
}

fn opt_for(case: &Value) -> Groups {
    Groups::new(&fs(&case["group_lrs"]), Some(0.9))
}

/// The functions of generate.py's LAMBDAS table, by name.
fn lambdas(names: &Value) -> Vec<LrLambda> {
    let names = names.as_array().unwrap();
    names
        .iter()
        .map(|n| -> LrLambda {
            match n.as_str().unwrap() {
                "pow095" => Arc::new(|e| 0.95f64.powf(e as f64)),
                "warmup5" => Arc::new(|e| f64::min(1.0, (e + 1) as f64 / 5.0)),
                "inv" => Arc::new(|e| 1.0 / (1.0 + 0.1 * e as f64)),
                "every3" => Arc::new(|e| if e % 3 == 0 { 0.9 } else { 1.0 }),
                other => panic!("unknown lambda {other}"),
            }
        })
        .collect()
}

fn build(kind: &str, args: &Value, opt: &mut Groups) -> Result<Box<dyn LrScheduler>> {
    Ok(match kind {
        "StepLR" => Box::new(StepLR::new(opt, u(&args["step_size"]), f(&args["gamma"]))?),
        "MultiStepLR" => {
            let ms: Vec<usize> = args["milestones"].as_array().unwrap().iter().map(u).collect();
            Box::new(MultiStepLR::new(opt, &ms, f(&args["gamma"]))?)
        }
        "ExponentialLR" => Box::new(ExponentialLR::new(opt, f(&args["gamma"]))?),
        "CosineAnnealingLR" => Box::new(CosineAnnealingLR::new(opt, u(&args["T_max"]), f(&args["eta_min"]))?),
        "LinearLR" => Box::new(LinearLR::with_factors(
            opt,
            f(&args["start_factor"]),
            f(&args["end_factor"]),
            u(&args["total_iters"]),
        )?),
        "ConstantLR" => Box::new(ConstantLR::new(opt, f(&args["factor"]), u(&args["total_iters"]))?),
        "CosineAnnealingWarmRestarts" => Box::new(CosineAnnealingWarmRestarts::new(
            opt,
            u(&args["T_0"]),
            u(&args["T_mult"]),
            f(&args["eta_min"]),
        )?),
        "CyclicLR" => {
            let mut c = CyclicLRConfig::default().step_size_up(u(&args["step_size_up"]));
            if let Some(v) = args.get("step_size_down") {
                c = c.step_size_down(u(v));
            }
            if let Some(v) = args.get("mode") {
                c = c.mode(match v.as_str().unwrap() {
                    "triangular2" => CyclicMode::Triangular2,
                    "exp_range" => CyclicMode::ExpRange,
                    _ => CyclicMode::Triangular,
                });
            }
            if let Some(v) = args.get("gamma") {
                c = c.gamma(f(v));
            }
            if let Some(v) = args.get("cycle_momentum") {
                c = c.cycle_momentum(v.as_bool().unwrap());
            }
            if let Some(v) = args.get("base_momentum") {
                c = c.base_momentum(&fs(v));
            }
            if let Some(v) = args.get("max_momentum") {
                c = c.max_momentum(&fs(v));
            }
            Box::new(CyclicLR::with_config(
                opt,
                &fs(&args["base_lr"]),
                &fs(&args["max_lr"]),
                c,
            )?)
        }
        "LambdaLR" => Box::new(LambdaLR::per_group(opt, lambdas(&args["lambdas"]))?),
        "MultiplicativeLR" => Box::new(MultiplicativeLR::per_group(opt, lambdas(&args["lambdas"]))?),
        "PolynomialLR" => Box::new(PolynomialLR::new(opt, u(&args["total_iters"]), f(&args["power"]))?),
        "OneCycleLR" => {
            let mut c = OneCycleLRConfig::default();
            if let Some(v) = args.get("total_steps") {
                c = c.total_steps(u(v));
            }
            if let Some(v) = args.get("epochs") {
                c = c.epochs(u(v)).steps_per_epoch(u(&args["steps_per_epoch"]));
            }
            if let Some(v) = args.get("pct_start") {
                c = c.pct_start(f(v));
            }
            if let Some(v) = args.get("anneal_strategy") {
                c = c.anneal_strategy(match v.as_str() {
                    Some("linear") => AnnealStrategy::Linear,
                    _ => AnnealStrategy::Cos,
                });
            }
            if let Some(v) = args.get("cycle_momentum") {
                c = c.cycle_momentum(v.as_bool().unwrap());
            }
            if let Some(v) = args.get("base_momentum") {
                c = c.base_momentum(&fs(v));
            }
            if let Some(v) = args.get("max_momentum") {
                c = c.max_momentum(&fs(v));
            }
            if let Some(v) = args.get("div_factor") {
                c = c.div_factor(f(v));
            }
            if let Some(v) = args.get("final_div_factor") {
                c = c.final_div_factor(f(v));
            }
            if let Some(v) = args.get("three_phase") {
                c = c.three_phase(v.as_bool().unwrap());
            }
            Box::new(OneCycleLR::with_config(opt, &fs(&args["max_lr"]), c)?)
        }
        "ChainedScheduler" => {
            let subs = args["schedulers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| build(s["kind"].as_str().unwrap(), &s["args"], opt))
                .collect::<Result<Vec<_>>>()?;
            Box::new(ChainedScheduler::new(opt, subs)?)
        }
        "SequentialLR" => {
            let subs = args["schedulers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| build(s["kind"].as_str().unwrap(), &s["args"], opt))
                .collect::<Result<Vec<_>>>()?;
            let ms: Vec<usize> = args["milestones"].as_array().unwrap().iter().map(u).collect();
            Box::new(SequentialLR::new(opt, subs, &ms)?)
        }
        other => panic!("unknown scheduler kind {other}"),
    })
}

fn plateau(args: &Value, opt: &mut Groups) -> Result<ReduceLROnPlateau> {
    let mut c = ReduceLROnPlateauConfig::default()
        .mode(match args["mode"].as_str() {
            Some("max") => PlateauMode::Max,
            _ => PlateauMode::Min,
        })
        .factor(f(&args["factor"]))
        .patience(u(&args["patience"]))
        .threshold(f(&args["threshold"]))
        .threshold_mode(match args["threshold_mode"].as_str() {
            Some("abs") => ThresholdMode::Abs,
            _ => ThresholdMode::Rel,
        });
    if let Some(v) = args.get("cooldown") {
        c = c.cooldown(u(v));
    }
    if let Some(v) = args.get("min_lr") {
        c = c.min_lr(&fs(v));
    }
    if let Some(v) = args.get("eps") {
        c = c.eps(f(v));
    }
    ReduceLROnPlateau::with_config(opt, c)
}

/// A scheduler, stepped the way the fixture did.
enum Sched {
    Epoch(Box<dyn LrScheduler>),
    Plateau(ReduceLROnPlateau, Vec<f64>),
    /// Stepped with explicit (fractional) epochs.
    Restarts(CosineAnnealingWarmRestarts, Vec<f64>),
}

impl Sched {
    fn new(case: &Value, opt: &mut Groups) -> Result<Sched> {
        let kind = case["kind"].as_str().unwrap();
        let args = &case["args"];
        if kind == "ReduceLROnPlateau" {
            let metrics = args["metrics"].as_array().unwrap().iter().map(f).collect();
            Ok(Sched::Plateau(plateau(args, opt)?, metrics))
        } else if let (true, Some(epochs)) = (kind == "CosineAnnealingWarmRestarts", args.get("epochs")) {
            let s = CosineAnnealingWarmRestarts::new(opt, u(&args["T_0"]), u(&args["T_mult"]), f(&args["eta_min"]))?;
            Ok(Sched::Restarts(s, epochs.as_array().unwrap().iter().map(f).collect()))
        } else {
            Ok(Sched::Epoch(build(kind, args, opt)?))
        }
    }

    /// Step `i` (0-based) after construction.
    fn step(&mut self, opt: &mut Groups, i: usize) -> Result<()> {
        opt.step()?;
        match self {
            Sched::Epoch(s) => s.step(opt),
            Sched::Plateau(p, metrics) => p.step_metric(opt, metrics[i]),
            Sched::Restarts(s, epochs) => s.step_epoch(opt, epochs[i]),
        }
    }

    fn state_dict(&self) -> Value {
        match self {
            Sched::Epoch(s) => s.state_dict(),
            Sched::Plateau(p, _) => p.state_dict(),
            Sched::Restarts(s, _) => s.state_dict(),
        }
    }

    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        match self {
            Sched::Epoch(s) => s.load_state_dict(state),
            Sched::Plateau(p, _) => p.load_state_dict(state),
            Sched::Restarts(s, _) => s.load_state_dict(state),
        }
    }

    fn last(&self) -> (Vec<f64>, i64) {
        match self {
            Sched::Epoch(s) => (s.get_last_lr(), s.last_epoch()),
            Sched::Plateau(p, _) => (p.get_last_lr(), p.last_epoch()),
            Sched::Restarts(s, _) => (s.get_last_lr(), s.last_epoch()),
        }
    }
}

fn assert_close(name: &str, what: &str, step: usize, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: {what} group count at step {step}");
    for (g, (&a, &b)) in got.iter().zip(want).enumerate() {
        let tol = 1e-9 * a.abs().max(b.abs()) + 1e-18;
        assert!(
            (a - b).abs() <= tol,
            "{name}: {what} of group {g} after step {step}: kiln {a:e}, torch {b:e}"
        );
    }
}

fn momenta(opt: &Groups) -> Vec<f64> {
    opt.momenta.iter().map(|m| m.unwrap()).collect()
}

#[test]
fn lrs_and_momenta_follow_pytorch() {
    let cases = cases();
    assert!(cases.len() >= 34);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let want_lrs = case["lrs"].as_array().unwrap();
        let want_mom = case["momenta"].as_array();
        let mut opt = opt_for(case);
        let mut sched = Sched::new(case, &mut opt).unwrap();
        for (i, want) in want_lrs.iter().enumerate() {
            if i > 0 {
                sched.step(&mut opt, i - 1).unwrap();
            }
            assert_close(name, "lr", i, &opt.lrs, &fs(want));
            let (last_lr, last_epoch) = sched.last();
            assert_eq!(last_lr, opt.lrs, "{name}: get_last_lr after step {i}");
            if matches!(sched, Sched::Restarts(..)) {
                let epoch = if i == 0 {
                    0.0
                } else {
                    fs(&case["args"]["epochs"])[i - 1]
                };
                assert_eq!(last_epoch, epoch.floor() as i64, "{name}: last_epoch after step {i}");
            } else if !matches!(sched, Sched::Plateau(..)) || i > 0 {
                assert_eq!(last_epoch, i as i64, "{name}: last_epoch after step {i}");
            }
            if let Some(m) = want_mom {
                assert_close(name, "momentum", i, &momenta(&opt), &fs(&m[i]));
            }
        }
        if let Some(at) = case["error_at_step"].as_u64() {
            // PyTorch raises on this step; Kiln errors too and leaves everything as it was.
            assert_eq!(at as usize, want_lrs.len());
            let before = (opt.clone(), sched.last());
            let err = sched.step(&mut opt, at as usize - 1).unwrap_err().to_string();
            assert!(
                err.contains("OneCycleLR") && err.contains("total steps"),
                "{name}: {err}"
            );
            assert_eq!(opt.lrs, before.0.lrs, "{name}: lrs changed by the failed step");
            assert_eq!(
                opt.momenta, before.0.momenta,
                "{name}: momenta changed by the failed step"
            );
            assert_eq!(sched.last(), before.1, "{name}: state changed by the failed step");
        }
    }
}

/// After each step: the optimizer's lrs and momenta, `get_last_lr()` and `last_epoch()`.
type Row = (Vec<f64>, Vec<Option<f64>>, Vec<f64>, i64);

/// Runs `case` through all its fixture steps, saving and reloading into a fresh scheduler before
/// step `resume_at`.
fn trajectory(case: &Value, resume_at: Option<usize>) -> Vec<Row> {
    let steps = case["lrs"].as_array().unwrap().len() - 1;
    let mut opt = opt_for(case);
    let mut sched = Sched::new(case, &mut opt).unwrap();
    let mut rows = vec![(opt.lrs.clone(), opt.momenta.clone(), sched.last().0, sched.last().1)];
    for i in 0..steps {
        if resume_at == Some(i) {
            let text = serde_json::to_string(&sched.state_dict()).unwrap();
            let state: Value = serde_json::from_str(&text).unwrap();
            // A fresh run: build the scheduler first, then restore the optimizer (its lrs and
            // momenta, as Optimizer::load_state_dict would) and the scheduler.
            let mut fresh_opt = opt_for(case);
            let mut fresh = Sched::new(case, &mut fresh_opt).unwrap();
            fresh_opt.lrs = opt.lrs.clone();
            fresh_opt.momenta = opt.momenta.clone();
            fresh.load_state_dict(&state).unwrap();
            assert_eq!(
                fresh.state_dict(),
                state,
                "{}: state differs after reload",
                case["name"]
            );
            (opt, sched) = (fresh_opt, fresh);
        }
        sched.step(&mut opt, i).unwrap();
        rows.push((opt.lrs.clone(), opt.momenta.clone(), sched.last().0, sched.last().1));
    }
    rows
}

#[test]
fn resumed_from_state_dict_continues_identically() {
    for case in &cases() {
        let uninterrupted = trajectory(case, None);
        for k in [0, 1, 4, 5, 6, 11, 19, 29] {
            if k >= uninterrupted.len() - 1 {
                continue;
            }
            let resumed = trajectory(case, Some(k));
            assert_eq!(resumed, uninterrupted, "{}: resumed after {k} steps", case["name"]);
        }
    }
}

fn opt2() -> Groups {
    Groups::new(&[0.1, 0.01], Some(0.9))
}

fn invalid_msg<T>(r: Result<T>) -> String {
    match r {
        Err(e @ Error::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("expected an Invalid error, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn invalid_arguments_name_scheduler_and_value() {
    let mut o = opt2();
    let cases: Vec<(String, &[&str])> = vec![
        (invalid_msg(StepLR::new(&mut o, 0, 0.1)), &["StepLR", "step_size", "0"]),
        (
            invalid_msg(CosineAnnealingLR::new(&mut o, 0, 0.0)),
            &["CosineAnnealingLR", "T_max", "0"],
        ),
        (
            invalid_msg(LinearLR::with_factors(&mut o, 0.0, 1.0, 5)),
            &["LinearLR", "start_factor", "0"],
        ),
        (
            invalid_msg(LinearLR::with_factors(&mut o, 1.5, 1.0, 5)),
            &["LinearLR", "start_factor", "1.5"],
        ),
        (
            invalid_msg(LinearLR::with_factors(&mut o, 0.5, 1.2, 5)),
            &["LinearLR", "end_factor", "1.2"],
        ),
        (
            invalid_msg(LinearLR::with_factors(&mut o, 0.5, 1.0, 0)),
            &["LinearLR", "total_iters", "0"],
        ),
        (
            invalid_msg(ConstantLR::new(&mut o, 1.5, 3)),
            &["ConstantLR", "factor", "1.5"],
        ),
        (
            invalid_msg(OneCycleLR::new(&mut o, &[0.1], 0)),
            &["OneCycleLR", "total_steps", "0"],
        ),
        (
            invalid_msg(OneCycleLR::new(&mut o, &[0.1, 0.2, 0.3], 10)),
            &["OneCycleLR", "max_lr", "3"],
        ),
        (
            invalid_msg(OneCycleLR::with_config(&mut o, &[0.1], OneCycleLRConfig::default())),
            &["OneCycleLR", "total_steps", "epochs"],
        ),
        (
            invalid_msg(OneCycleLR::with_config(
                &mut o,
                &[0.1],
                OneCycleLRConfig::default().epochs(3).steps_per_epoch(0),
            )),
            &["OneCycleLR", "steps_per_epoch", "0"],
        ),
        (
            invalid_msg(OneCycleLR::with_config(
                &mut o,
                &[0.1],
                OneCycleLRConfig::default().total_steps(10).pct_start(1.5),
            )),
            &["OneCycleLR", "pct_start", "1.5"],
        ),
        (
            invalid_msg(OneCycleLR::with_config(
                &mut o,
                &[0.1],
                OneCycleLRConfig::default()
                    .total_steps(10)
                    .base_momentum(&[0.8, 0.8, 0.8]),
            )),
            &["OneCycleLR", "base_momentum", "3"],
        ),
        (
            invalid_msg(ReduceLROnPlateau::with_config(
                &mut o,
                ReduceLROnPlateauConfig::default().factor(1.0),
            )),
            &["ReduceLROnPlateau", "factor", "1"],
        ),
        (
            invalid_msg(ReduceLROnPlateau::with_config(
                &mut o,
                ReduceLROnPlateauConfig::default().min_lr(&[0.0, 0.0, 0.0]),
            )),
            &["ReduceLROnPlateau", "min_lrs", "3"],
        ),
    ];
    for (msg, needles) in cases {
        for n in needles {
            assert!(msg.contains(n), "{msg:?} should mention {n:?}");
        }
    }
    // Failed constructors leave the optimizer alone.
    assert_eq!(o.lrs, vec![0.1, 0.01]);
    assert_eq!(o.momenta, vec![Some(0.9); 2]);
}

#[test]
fn one_cycle_momentum_needs_an_optimizer_with_momentum() {
    let mut plain = Groups::new(&[0.1, 0.01], None);
    let msg = invalid_msg(OneCycleLR::new(&mut plain, &[1.0], 10));
    assert!(msg.contains("OneCycleLR") && msg.contains("momentum"), "{msg}");
    let s = OneCycleLR::with_config(
        &mut plain,
        &[1.0],
        OneCycleLRConfig::default().total_steps(10).cycle_momentum(false),
    )
    .unwrap();
    // cos annealing at pct 0 is 0.04 up to rounding, as in PyTorch (0.040000000000000036).
    assert!(s.get_last_lr().iter().all(|lr| (lr - 0.04).abs() < 1e-15));
    // The base lrs are initial_lr = max_lr / div_factor, not the optimizer's lrs.
    assert_eq!(s.base_lrs(), vec![0.04, 0.04]);
}

#[test]
fn sequential_validates_its_schedulers() {
    let mut o = opt2();
    let a: Box<dyn LrScheduler> = Box::new(LinearLR::new(&mut o).unwrap());
    let msg = invalid_msg(SequentialLR::new(&mut o, vec![a], &[3]));
    assert!(
        msg.contains("SequentialLR") && msg.contains("1 schedulers") && msg.contains("1 milestones"),
        "{msg}"
    );
    assert!(invalid_msg(SequentialLR::new(&mut o, vec![], &[])).contains("at least one scheduler"));
    let a: Box<dyn LrScheduler> = Box::new(LinearLR::new(&mut o).unwrap());
    let b: Box<dyn LrScheduler> = Box::new(ExponentialLR::new(&mut o, 0.9).unwrap());
    let c: Box<dyn LrScheduler> = Box::new(ExponentialLR::new(&mut o, 0.9).unwrap());
    let msg = invalid_msg(SequentialLR::new(&mut o, vec![a, b, c], &[5, 2]));
    assert!(msg.contains("non-decreasing") && msg.contains("[5, 2]"), "{msg}");
    let mut three = Groups::new(&[0.1, 0.2, 0.3], Some(0.9));
    let a: Box<dyn LrScheduler> = Box::new(LinearLR::new(&mut three).unwrap());
    let b: Box<dyn LrScheduler> = Box::new(ExponentialLR::new(&mut o, 0.9).unwrap());
    let msg = invalid_msg(SequentialLR::new(&mut o, vec![a, b], &[2]));
    assert!(msg.contains("index 0") && msg.contains("3 parameter groups"), "{msg}");
}

#[test]
fn step_with_another_group_count_errors() {
    let mut o = opt2();
    let mut s = StepLR::new(&mut o, 2, 0.5).unwrap();
    let mut three = Groups::new(&[0.1, 0.2, 0.3], None);
    let msg = invalid_msg(s.step(&mut three));
    assert!(msg.contains("StepLR") && msg.contains("3 parameter groups"), "{msg}");
    assert_eq!(s.last_epoch(), 0);
    let mut p = ReduceLROnPlateau::new(&mut o).unwrap();
    assert!(invalid_msg(p.step_metric(&mut three, 1.0)).contains("ReduceLROnPlateau"));
}

#[test]
fn load_state_dict_rejects_foreign_state_and_changes_nothing() {
    let mut o = opt2();
    let mut step = StepLR::new(&mut o, 3, 0.5).unwrap();
    let mut cos = CosineAnnealingLR::new(&mut o, 10, 0.0).unwrap();
    for _ in 0..4 {
        step.step(&mut o).unwrap();
        cos.step(&mut o).unwrap();
    }
    let before = cos.state_dict();
    let msg = invalid_msg(cos.load_state_dict(&step.state_dict()));
    assert!(msg.contains("CosineAnnealingLR") && msg.contains("T_max"), "{msg}");
    assert_eq!(cos.state_dict(), before);

    let mut three = Groups::new(&[0.1, 0.2, 0.3], None);
    let mut other = StepLR::new(&mut three, 3, 0.5).unwrap();
    let msg = invalid_msg(other.load_state_dict(&step.state_dict()));
    assert!(msg.contains("StepLR") && msg.contains("3 parameter groups"), "{msg}");

    let mut p = ReduceLROnPlateau::new(&mut o).unwrap();
    let mut bad = p.state_dict();
    bad["mode"] = Value::from("sideways");
    assert!(invalid_msg(p.load_state_dict(&bad)).contains("sideways"));
    assert!(p.best().is_infinite());
    assert!(invalid_msg(p.load_state_dict(&Value::Null)).contains("ReduceLROnPlateau"));
}

#[test]
fn state_dict_uses_pytorch_names() {
    let mut o = opt2();
    let s = MultiStepLR::new(&mut o, &[5, 12, 12], 0.3).unwrap();
    let sd = s.state_dict();
    assert_eq!(sd["milestones"], serde_json::json!({"5": 1, "12": 2}));
    for key in ["base_lrs", "last_epoch", "_step_count", "_last_lr", "gamma"] {
        assert!(sd.get(key).is_some(), "missing {key} in {sd}");
    }
    assert_eq!(sd["_step_count"], Value::from(1));
    let p = ReduceLROnPlateau::new(&mut o).unwrap();
    assert_eq!(p.state_dict()["best"], Value::from("inf"));
}

#[test]
fn pytorch_state_dicts_load_and_continue_pytorch_sequence() {
    for case in &cases() {
        let name = case["name"].as_str().unwrap();
        let k = u(&case["save_at"]);
        let want_lrs = case["lrs"].as_array().unwrap();
        let want_mom = case["momenta"].as_array();
        let mut opt = opt_for(case);
        let mut sched = Sched::new(case, &mut opt).unwrap();
        // The optimizer as PyTorch's was after k steps (Optimizer::load_state_dict's job).
        opt.lrs = fs(&want_lrs[k]);
        if let Some(m) = want_mom {
            opt.momenta = fs(&m[k]).into_iter().map(Some).collect();
        }
        sched
            .load_state_dict(&case["torch_state"])
            .unwrap_or_else(|e| panic!("{name}: loading PyTorch's state_dict: {e}"));
        if !matches!(sched, Sched::Restarts(..)) {
            assert_eq!(sched.last().1, k as i64, "{name}: last_epoch from PyTorch's state");
        }
        for (i, want) in want_lrs.iter().enumerate().skip(k + 1) {
            sched.step(&mut opt, i - 1).unwrap();
            assert_close(name, "lr (from PyTorch's state)", i, &opt.lrs, &fs(want));
            if let Some(m) = want_mom {
                assert_close(name, "momentum (from PyTorch's state)", i, &momenta(&opt), &fs(&m[i]));
            }
        }
    }
}

#[test]
fn one_cycle_zero_length_phase_errors_like_pytorch() {
    // pct_start * total_steps = 1: the first phase ends at step 0, PyTorch divides by zero.
    let mut o = opt2();
    let msg = invalid_msg(OneCycleLR::with_config(
        &mut o,
        &[1.0],
        OneCycleLRConfig::default().total_steps(10).pct_start(0.1),
    ));
    assert!(msg.contains("OneCycleLR") && msg.contains("zero length"), "{msg}");
    assert_eq!(o.lrs, vec![0.1, 0.01]);
    assert_eq!(o.momenta, vec![Some(0.9); 2]);
}

#[test]
fn scheduler_state_survives_a_training_checkpoint_file() {
    use kiln_nn::checkpoint::TrainingCheckpoint;
    let dir = std::env::temp_dir().join(format!("kiln-lr-scheduler-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    let config = || OneCycleLRConfig::default().total_steps(40).three_phase(true);

    let mut opt = opt2();
    let mut sched = OneCycleLR::with_config(&mut opt, &[0.5, 0.2], config()).unwrap();
    for _ in 0..13 {
        sched.step(&mut opt).unwrap();
    }
    let ckpt = TrainingCheckpoint {
        scheduler: Some(sched.state_dict()),
        ..Default::default()
    };
    ckpt.save(&path).unwrap();
    let (saved_opt, mut rest) = (opt.clone(), Vec::new());
    for _ in 13..40 {
        sched.step(&mut opt).unwrap();
        rest.push((opt.lrs.clone(), opt.momenta.clone()));
    }

    let loaded = TrainingCheckpoint::load(&path).unwrap();
    let mut fresh_opt = opt2();
    let mut resumed = OneCycleLR::with_config(&mut fresh_opt, &[0.5, 0.2], config()).unwrap();
    fresh_opt = saved_opt;
    resumed.load_state_dict(loaded.scheduler.as_ref().unwrap()).unwrap();
    for want in rest {
        resumed.step(&mut fresh_opt).unwrap();
        assert_eq!((fresh_opt.lrs.clone(), fresh_opt.momenta.clone()), want);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cyclic_custom_scale_fn_replaces_the_mode() {
    // A custom scale of 1 in cycle mode is the triangular policy, whatever `mode` says.
    let run = |config: CyclicLRConfig| {
        let mut o = opt2();
        let mut s = CyclicLR::with_config(&mut o, &[0.01], &[0.1], config).unwrap();
        let mut seen = vec![(o.lrs.clone(), o.momenta.clone())];
        for _ in 0..25 {
            s.step(&mut o).unwrap();
            seen.push((o.lrs.clone(), o.momenta.clone()));
        }
        seen
    };
    let base = || CyclicLRConfig::default().step_size_up(3).step_size_down(5);
    let custom = run(base()
        .mode(CyclicMode::ExpRange)
        .gamma(0.5)
        .scale_fn(|_| 1.0, ScaleMode::Cycle));
    assert_eq!(custom, run(base()));
    // Iterations mode hands the scale function last_epoch.
    let iters = run(base().scale_fn(|x| 0.9f64.powf(x), ScaleMode::Iterations));
    assert_eq!(iters, run(base().mode(CyclicMode::ExpRange).gamma(0.9)));
    // The amplitude shrinks: the peak of the second cycle (iteration 11) is below the first's (3).
    assert!(iters[11].0[0] < iters[3].0[0]);
    // The custom function is not saved; the state says so as PyTorch's does.
    let mut o = opt2();
    let s = CyclicLR::with_config(&mut o, &[0.01], &[0.1], base().scale_fn(|_| 1.0, ScaleMode::Cycle)).unwrap();
    assert_eq!(s.state_dict()["_scale_fn_custom"], Value::Null);
}

/// A scheduler written outside the crate: only the five required methods.
struct Halve {
    epoch: i64,
    last: Vec<f64>,
}

impl LrScheduler for Halve {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.epoch += 1;
        for g in 0..opt.num_groups() {
            opt.set_lr(g, opt.lr(g) / 2.0);
        }
        self.last = (0..opt.num_groups()).map(|g| opt.lr(g)).collect();
        Ok(())
    }
    fn get_last_lr(&self) -> Vec<f64> {
        self.last.clone()
    }
    fn last_epoch(&self) -> i64 {
        self.epoch
    }
    fn state_dict(&self) -> Value {
        serde_json::json!({ "epoch": self.epoch })
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        self.epoch = state["epoch"].as_i64().unwrap_or(0);
        Ok(())
    }
}

#[test]
fn custom_schedulers_compose_through_the_trait_defaults() {
    let mut o = opt2();
    let halve: Box<dyn LrScheduler> = Box::new(Halve {
        epoch: 0,
        last: o.lrs.clone(),
    });
    let exp: Box<dyn LrScheduler> = Box::new(ExponentialLR::new(&mut o, 0.5).unwrap());
    let mut chained = ChainedScheduler::new(&mut o, vec![halve, exp]).unwrap();
    chained.step(&mut o).unwrap();
    assert_eq!(o.lrs, vec![0.025, 0.0025]);
    assert_eq!(chained.get_last_lr(), o.lrs);

    // As a later SequentialLR stage it must restart at epoch 0, which the default hook refuses.
    let mut o = opt2();
    let exp: Box<dyn LrScheduler> = Box::new(ExponentialLR::new(&mut o, 0.5).unwrap());
    let halve: Box<dyn LrScheduler> = Box::new(Halve {
        epoch: 0,
        last: o.lrs.clone(),
    });
    let mut seq = SequentialLR::new(&mut o, vec![exp, halve], &[2]).unwrap();
    seq.step(&mut o).unwrap();
    assert_eq!(o.lrs, vec![0.05, 0.005]);
    let msg = invalid_msg(seq.step(&mut o));
    assert!(msg.contains("cannot jump to epoch 0"), "{msg}");
}
