//! Optimizer trajectories against PyTorch (`fixtures/optim/generate.py`): the same linear
//! regression, optimizer configs and parameter groups; parameters compared after every step.

use kiln_nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Algorithm, GroupedOptimizer, HyperValue, Optimizer,
    ParamGroup, RMSprop, RMSpropConfig, Sgd, SgdConfig,
};
use kiln_tensor::{DType, Result, Tensor};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/optim/optim.json");

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn hyper(v: &Value) -> HyperValue {
    HyperValue::from_json(v).expect("hyperparameter value")
}

/// The optimizer a fixture run describes, over `params`.
fn build<A: Algorithm + Default>(run: &Value, params: &[Tensor]) -> Result<GroupedOptimizer<A>> {
    let mut cfg = A::default();
    for (k, v) in run["config"].as_object().expect("config object") {
        cfg.set_option(k, hyper(v))?;
    }
    match run["groups"].as_array() {
        None => GroupedOptimizer::new(params.to_vec(), cfg),
        Some(groups) => {
            let groups = groups
                .iter()
                .map(|g| {
                    let ps = g["params"]
                        .as_array()
                        .expect("indices")
                        .iter()
                        .map(|i| params[i.as_u64().expect("index") as usize].clone())
                        .collect();
                    g.as_object()
                        .expect("group object")
                        .iter()
                        .filter(|(k, _)| k.as_str() != "params")
                        .fold(ParamGroup::new(ps), |pg, (k, v)| pg.set(k, hyper(v)))
                })
                .collect();
            GroupedOptimizer::with_groups(groups, cfg)
        }
    }
}

fn optimizer(run: &Value, params: &[Tensor]) -> Result<Box<dyn Optimizer>> {
    Ok(match run["optimizer"].as_str().expect("name") {
        "SGD" => Box::new(build::<SgdConfig>(run, params)?) as Box<dyn Optimizer>,
        "Adam" => Box::new(build::<AdamConfig>(run, params)?),
        "AdamW" => Box::new(build::<AdamWConfig>(run, params)?),
        "RMSprop" => Box::new(build::<RMSpropConfig>(run, params)?),
        "Adagrad" => Box::new(build::<AdagradConfig>(run, params)?),
        other => panic!("unknown optimizer {other}"),
    })
}

struct Problem {
    x: Tensor,
    y: Tensor,
    w0: Vec<f64>,
    b0: Vec<f64>,
}

impl Problem {
    fn load(fx: &Value, dtype: DType) -> Result<Problem> {
        Ok(Problem {
            x: Tensor::from_vec(floats(&fx["x"]), &[16, 3])?.to_dtype(dtype)?,
            y: Tensor::from_vec(floats(&fx["y"]), &[16, 2])?.to_dtype(dtype)?,
            w0: floats(&fx["w0"]),
            b0: floats(&fx["b0"]),
        })
    }

    fn params(&self, dtype: DType) -> Result<Vec<Tensor>> {
        let w = Tensor::from_vec(self.w0.clone(), &[2, 3])?.to_dtype(dtype)?;
        let b = Tensor::from_vec(self.b0.clone(), &[2])?.to_dtype(dtype)?;
        Ok(vec![kiln_nn::parameter(w), kiln_nn::parameter(b)])
    }

    /// `mean((x @ w.T + b - y)^2)`.
    fn loss(&self, params: &[Tensor]) -> Result<Tensor> {
        let d = self.x.matmul(&params[0].t()?)?.add(&params[1])?.sub(&self.y)?;
        d.mul(&d)?.mean()
    }
}

fn flat(params: &[Tensor]) -> Vec<f64> {
    params.iter().flat_map(|p| p.to_vec_f64()).collect()
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-3))
        .fold(0.0, f64::max)
}

/// Runs every fixture trajectory in `dtype`; returns the worst relative error over all steps.
fn check_all(dtype: DType, tol: f64) -> Result<f64> {
    let fx: Value = serde_json::from_str(FIXTURE).expect("fixture JSON");
    let problem = Problem::load(&fx, dtype)?;
    let mut worst: f64 = 0.0;
    for run in fx["runs"].as_array().expect("runs") {
        let name = run["name"].as_str().expect("name");
        let params = problem.params(dtype)?;
        let mut opt = optimizer(run, &params)?;
        let want_losses = floats(&run["losses"]);
        for (step, want) in run["params"].as_array().expect("params").iter().enumerate() {
            if let Some(lrs) = run["lr_changes"].get(step.to_string()) {
                for (g, lr) in floats(lrs).into_iter().enumerate() {
                    opt.set_lr(g, lr);
                }
            }
            opt.zero_grad();
            let loss = problem.loss(&params)?;
            loss.backward()?;
            opt.step()?;
            let loss_err = rel_err(&[loss.item_f64()?], &[want_losses[step]]);
            let err = rel_err(&flat(&params), &floats(want)).max(loss_err);
            assert!(
                err <= tol,
                "{name} ({dtype}): step {step}: relative error {err:e} > {tol:e}"
            );
            worst = worst.max(err);
        }
    }
    Ok(worst)
}

#[test]
fn trajectories_match_pytorch_in_f64() -> Result<()> {
    let worst = check_all(DType::F64, 1e-10)?;
    eprintln!("worst f64 relative error {worst:e}");
    assert!(worst < 1e-10, "worst {worst:e}");
    Ok(())
}

#[test]
fn trajectories_match_pytorch_in_f32() -> Result<()> {
    let worst = check_all(DType::F32, 2e-4)?;
    eprintln!("worst f32 relative error {worst:e}");
    Ok(())
}

#[test]
fn aliases_name_the_kinds() {
    let _: fn(Vec<Tensor>, SgdConfig) -> Result<Sgd> = Sgd::new;
    let _: fn(Vec<Tensor>, AdamConfig) -> Result<Adam> = Adam::new;
    let _: fn(Vec<Tensor>, AdamWConfig) -> Result<AdamW> = AdamW::new;
    let _: fn(Vec<Tensor>, RMSpropConfig) -> Result<RMSprop> = RMSprop::new;
    let _: fn(Vec<Tensor>, AdagradConfig) -> Result<Adagrad> = Adagrad::new;
}
