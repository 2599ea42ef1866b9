//! Optimizer API: state_dict round trips, validation, parameter groups, skipped parameters.

use kiln_nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, GroupedOptimizer, Optimizer, ParamGroup, RMSprop,
    RMSpropConfig, Sgd, SgdConfig,
};
use kiln_tensor::{tensor, Result, Tensor};

/// Two parameters with fixed values (f64, so bitwise comparisons are meaningful).
fn params() -> Result<Vec<Tensor>> {
    let w = Tensor::from_vec(vec![0.3, -0.2, 0.5, 0.1, -0.4, 0.7], &[3, 2])?;
    let b = Tensor::from_vec(vec![0.05, -0.1], &[2])?;
    Ok(vec![kiln_nn::parameter(w), kiln_nn::parameter(b)])
}

/// `steps` steps on `mean((x @ w + b - 1)^2)` with a fixed `x`.
fn train(opt: &mut dyn Optimizer, params: &[Tensor], steps: usize) -> Result<()> {
    let x = Tensor::from_vec(
        vec![1.0, -0.5, 0.25, 0.3, 0.8, -1.2, 0.0, 0.6, 1.1, -0.7, 0.2, 0.4],
        &[4, 3],
    )?;
    for _ in 0..steps {
        opt.zero_grad();
        let d = x.matmul(&params[0])?.add(&params[1])?.add_scalar(-1.0)?;
        d.mul(&d)?.mean()?.backward()?;
        opt.step()?;
    }
    Ok(())
}

fn values(params: &[Tensor]) -> Vec<f64> {
    params.iter().flat_map(|p| p.to_vec_f64()).collect()
}

/// k steps, save, a fresh optimizer over the same parameters loads the state and continues:
/// bitwise the same as an uninterrupted run.
fn round_trip<O: Optimizer>(make: impl Fn(Vec<Tensor>) -> Result<O>) -> Result<()> {
    let ps = params()?;
    let mut opt = make(ps.clone())?;
    train(&mut opt, &ps, 8)?;
    let want = values(&ps);

    let ps = params()?;
    let mut opt = make(ps.clone())?;
    train(&mut opt, &ps, 3)?;
    opt.set_lr(0, opt.lr(0) * 0.5);
    let saved = opt.state_dict();
    train(&mut opt, &ps, 2)?; // the saved state must not follow the live one
    let mut fresh = make(ps.clone())?;
    let ps2 = params()?;
    // Continue from the saved point: restore parameter values too (as a checkpoint would).
    let mut reference = make(ps2.clone())?;
    train(&mut reference, &ps2, 3)?;
    reference.set_lr(0, reference.lr(0) * 0.5);
    kiln_tensor::no_grad(|| ps.iter().zip(&ps2).try_for_each(|(p, q)| p.copy_(q)))?;
    fresh.load_state_dict(&saved)?;
    assert_eq!(fresh.lr(0), opt.lr(0), "the group's current lr is restored");
    train(&mut fresh, &ps, 5)?;
    train(&mut reference, &ps2, 5)?;
    assert_eq!(
        values(&ps),
        values(&ps2),
        "resumed run differs from the uninterrupted one"
    );
    // The lr change at step 3 makes it differ from `want`, a run without it.
    assert_ne!(values(&ps), want);
    Ok(())
}

#[test]
fn state_dict_round_trips_bitwise() -> Result<()> {
    round_trip(|p| Sgd::new(p, SgdConfig::default().lr(0.05).momentum(0.9).nesterov(true)))?;
    round_trip(|p| Adam::new(p, AdamConfig::default().lr(0.05).amsgrad(true)))?;
    round_trip(|p| AdamW::new(p, AdamWConfig::default().lr(0.05)))?;
    round_trip(|p| RMSprop::new(p, RMSpropConfig::default().momentum(0.5).centered(true)))?;
    round_trip(|p| Adagrad::new(p, AdagradConfig::default().lr(0.1).lr_decay(0.01)))?;
    round_trip(|p| {
        let (a, b) = (vec![p[0].clone()], vec![p[1].clone()]);
        Adam::with_groups(
            vec![ParamGroup::new(a).lr(0.01), ParamGroup::new(b).betas((0.5, 0.9))],
            AdamConfig::default(),
        )
    })
}

#[test]
fn state_dict_layout_is_pytorchs() -> Result<()> {
    let ps = params()?;
    let mut opt = Adam::with_groups(
        vec![
            ParamGroup::new(vec![ps[0].clone()]).lr(0.01),
            ParamGroup::new(vec![ps[1].clone()]),
        ],
        AdamConfig::default().amsgrad(true),
    )?;
    train(&mut opt, &ps, 2)?;
    let s = opt.state_dict();
    let keys: Vec<&str> = s.tensors.keys().collect();
    assert_eq!(
        keys,
        [
            "0.exp_avg",
            "0.exp_avg_sq",
            "0.max_exp_avg_sq",
            "1.exp_avg",
            "1.exp_avg_sq",
            "1.max_exp_avg_sq"
        ]
    );
    assert_eq!(s.meta["optimizer"], "Adam");
    assert_eq!(s.meta["state"]["1"]["step"], 2.0);
    let g = &s.meta["param_groups"];
    assert_eq!(g[0]["lr"], 0.01);
    assert_eq!(g[1]["lr"], 1e-3);
    assert_eq!(g[1]["params"], serde_json::json!([1]));
    assert_eq!(g[0]["betas"], serde_json::json!([0.9, 0.999]));
    assert_eq!(g[0]["amsgrad"], true);

    let sgd = Sgd::new(params()?, SgdConfig::default())?;
    assert_eq!(sgd.state_dict().tensors.len(), 0, "no momentum, no state");
    Ok(())
}

#[test]
fn mismatched_states_are_rejected_and_change_nothing() -> Result<()> {
    let ps = params()?;
    let mut adam = Adam::new(ps.clone(), AdamConfig::default().lr(0.05))?;
    train(&mut adam, &ps, 2)?;
    let saved = adam.state_dict();
    let before = adam.state_dict();

    let err = |r: Result<()>| r.expect_err("mismatch").to_string();
    let mut sgd = Sgd::new(ps.clone(), SgdConfig::default())?;
    assert!(err(sgd.load_state_dict(&saved)).contains("Adam optimizer, not SGD"));
    let mut adamw = AdamW::new(ps.clone(), AdamWConfig::default())?;
    assert!(err(adamw.load_state_dict(&saved)).contains("not AdamW"));

    let mut one = Adam::new(vec![ps[0].clone()], AdamConfig::default())?;
    assert!(err(one.load_state_dict(&saved)).contains("2 parameters in the state, 1 in the optimizer"));
    let mut two = Adam::with_groups(
        vec![
            ParamGroup::new(vec![ps[0].clone()]),
            ParamGroup::new(vec![ps[1].clone()]),
        ],
        AdamConfig::default(),
    )?;
    assert!(err(two.load_state_dict(&saved)).contains("1 parameter groups, the optimizer 2"));

    let mut bad = saved.clone();
    bad.tensors
        .insert("1.exp_avg", Tensor::zeros(&[3], kiln_tensor::DType::F64));
    assert!(err(adam.load_state_dict(&bad)).contains("shape [3], parameter 1 has shape [2]"));
    let mut bad = saved.clone();
    bad.tensors
        .insert("7.exp_avg", Tensor::zeros(&[2], kiln_tensor::DType::F64));
    assert!(err(adam.load_state_dict(&bad)).contains("parameter 7"));
    let mut bad = saved.clone();
    bad.meta["param_groups"][0]["betas"] = serde_json::json!([1.5, 0.9]);
    assert!(err(adam.load_state_dict(&bad)).contains("beta parameter at index 0: 1.5"));

    let after = adam.state_dict();
    assert_eq!(after.meta, before.meta);
    for ((k1, a), (k2, b)) in after.tensors.iter().zip(before.tensors.iter()) {
        assert_eq!((k1, a.to_vec_f64()), (k2, b.to_vec_f64()));
    }
    Ok(())
}

#[test]
fn invalid_hyperparameters_are_rejected_like_pytorch() -> Result<()> {
    let msg = |r: Result<()>| r.expect_err("invalid").to_string();
    let p = || params().map(|p| p[..1].to_vec());
    let sgd = |c: SgdConfig| -> Result<()> { Sgd::new(p()?, c).map(|_| ()) };
    assert_eq!(
        msg(sgd(SgdConfig::default().lr(-0.1))),
        "SGD: invalid learning rate: -0.1"
    );
    assert_eq!(
        msg(sgd(SgdConfig::default().momentum(-0.5))),
        "SGD: invalid momentum value: -0.5"
    );
    assert_eq!(
        msg(sgd(SgdConfig::default().weight_decay(-1.0))),
        "SGD: invalid weight_decay value: -1"
    );
    assert!(msg(sgd(SgdConfig::default().nesterov(true))).contains("Nesterov momentum requires a momentum"));
    assert!(msg(sgd(SgdConfig::default().nesterov(true).momentum(0.9).dampening(0.1))).contains("dampening 0.1"));
    let adam = |c: AdamConfig| -> Result<()> { Adam::new(p()?, c).map(|_| ()) };
    assert_eq!(
        msg(adam(AdamConfig::default().eps(-1e-8))),
        "Adam: invalid epsilon value: -0.00000001"
    );
    assert_eq!(
        msg(adam(AdamConfig::default().betas((1.0, 0.9)))),
        "Adam: invalid beta parameter at index 0: 1"
    );
    assert_eq!(
        msg(adam(AdamConfig::default().betas((0.9, -0.1)))),
        "Adam: invalid beta parameter at index 1: -0.1"
    );
    let adamw = AdamW::new(p()?, AdamWConfig::default().lr(-1.0)).map(|_| ());
    assert_eq!(msg(adamw), "AdamW: invalid learning rate: -1");
    let rms = RMSprop::new(p()?, RMSpropConfig::default().alpha(-0.5)).map(|_| ());
    assert_eq!(msg(rms), "RMSprop: invalid alpha value: -0.5");
    let ada = Adagrad::new(p()?, AdagradConfig::default().lr_decay(-0.5)).map(|_| ());
    assert_eq!(msg(ada), "Adagrad: invalid lr_decay value: -0.5");

    // Group options: validated, and only the optimizer's own.
    let g = |pg: ParamGroup| Sgd::with_groups(vec![pg], SgdConfig::default()).map(|_| ());
    assert!(msg(g(ParamGroup::new(p()?).lr(-2.0))).contains("invalid learning rate: -2"));
    assert!(msg(g(ParamGroup::new(p()?).betas((0.9, 0.99)))).contains("param group 0: SGD: SGD has no option `betas`"));
    // Parameter lists.
    assert!(msg(Sgd::new(vec![], SgdConfig::default()).map(|_| ())).contains("empty parameter list"));
    let w = p()?.remove(0);
    assert!(msg(Sgd::new(vec![w.clone(), w.clone()], SgdConfig::default()).map(|_| ())).contains("more than once"));
    let nonleaf = w.mul_scalar(2.0)?;
    assert!(msg(Sgd::new(vec![nonleaf], SgdConfig::default()).map(|_| ())).contains("non-leaf"));
    Ok(())
}

#[test]
fn params_without_grad_are_skipped() -> Result<()> {
    let used = kiln_nn::parameter(tensor!([1.0, 2.0]));
    let unused = kiln_nn::parameter(tensor!([3.0, 4.0]));
    let mut opt = Adam::new(vec![used.clone(), unused.clone()], AdamConfig::default().lr(0.1))?;
    used.mul(&used)?.sum()?.backward()?;
    opt.step()?;
    assert_eq!(unused.to_vec::<f32>()?, vec![3.0, 4.0]);
    assert_ne!(used.to_vec::<f32>()?, vec![1.0, 2.0]);
    assert!(opt
        .param_state(1)
        .is_some_and(|s| s.buffers.is_empty() && s.step.is_none()));
    assert_eq!(opt.param_state(0).and_then(|s| s.step), Some(1.0));
    opt.zero_grad();
    assert!(used.grad().is_none());
    Ok(())
}

#[test]
fn group_lr_and_momentum_are_per_group() -> Result<()> {
    let a = kiln_nn::parameter(tensor!([1.0]));
    let b = kiln_nn::parameter(tensor!([1.0]));
    let mut opt = Sgd::with_groups(
        vec![
            ParamGroup::new(vec![a.clone()]).lr(0.5),
            ParamGroup::new(vec![b.clone()]),
        ],
        SgdConfig::default().lr(0.1).momentum(0.9),
    )?;
    assert_eq!((opt.num_groups(), opt.lr(0), opt.lr(1)), (2, 0.5, 0.1));
    assert_eq!(opt.momentum(1), Some(0.9));
    opt.set_momentum(1, 0.8);
    assert_eq!(opt.config(1).momentum, 0.8);
    assert_eq!(opt.group_params(1)[0].id(), b.id());
    opt.set_lr(1, 0.0);
    a.add(&b)?.sum()?.backward()?;
    opt.step()?;
    assert_eq!(a.to_vec::<f32>()?, vec![0.5]);
    assert_eq!(b.to_vec::<f32>()?, vec![1.0], "lr 0 leaves the group unchanged");

    let mut adam = Adam::new(vec![a.clone()], AdamConfig::default())?;
    assert_eq!(adam.momentum(0), Some(0.9));
    adam.set_momentum(0, 0.85);
    assert_eq!(adam.config(0).betas, (0.85, 0.999));
    let ada = Adagrad::new(vec![a.clone()], AdagradConfig::default())?;
    assert_eq!(ada.momentum(0), None);
    let c = kiln_nn::parameter(tensor!([2.0]));
    adam.add_param_group(ParamGroup::new(vec![c]).lr(0.3))?;
    assert_eq!((adam.num_groups(), adam.lr(1)), (2, 0.3));
    assert!(
        adam.add_param_group(ParamGroup::new(vec![a.clone()])).is_err(),
        "a is already in group 0"
    );
    assert_eq!(adam.num_groups(), 2);
    let _: &GroupedOptimizer<AdamConfig> = &adam;
    Ok(())
}
