//! Kiln against PyTorch: forward values and gradients of every op family, read from the JSON
//! fixtures that `tests/fixtures/generate.py` writes (CI needs no PyTorch; see
//! `tests/fixtures/README.md` to regenerate).
//!
//! Each family is one test; [`kiln_op`] maps a fixture's op name and arguments to the Kiln call.
//! A case whose op has no arm fails. Known disagreements with PyTorch are listed per family with
//! their reason; a listed case that starts passing fails the test, so the lists stay accurate.

mod common;

use common::fixtures::{one, pair, run_family, Args, Case, Inputs, OpError, OpResult};
use kiln_tensor::op::PadMode;
use kiln_tensor::Tensor;

/// Known disagreements of Kiln with PyTorch: `(case id, reason)`. Each must fail today.
const KNOWN_ELEMENTWISE: &[(&str, &str)] = &[];
const KNOWN_REDUCTIONS: &[(&str, &str)] = &[];
const KNOWN_LINALG: &[(&str, &str)] = &[];
const KNOWN_VIEWS: &[(&str, &str)] = &[];
const KNOWN_REDUCTIONS_SORT: &[(&str, &str)] = &[];
const KNOWN_INDEXING: &[(&str, &str)] = &[];

const KNOWN_CONV_POOL: &[(&str, &str)] = &[];
const KNOWN_NN: &[(&str, &str)] = &[];
const KNOWN_LOSSES: &[(&str, &str)] = &[];

#[test]
fn elementwise_matches_torch() {
    run_family("elementwise", kiln_op, KNOWN_ELEMENTWISE);
}

#[test]
fn reductions_match_torch() {
    run_family("reductions", kiln_op, KNOWN_REDUCTIONS);
}

#[test]
fn linalg_matches_torch() {
    run_family("linalg", kiln_op, KNOWN_LINALG);
}

#[test]
fn views_match_torch() {
    run_family("views", kiln_op, KNOWN_VIEWS);
}

#[test]
fn reductions_sort_match_torch() {
    run_family("reductions_sort", kiln_op, KNOWN_REDUCTIONS_SORT);
}

#[test]
fn indexing_matches_torch() {
    run_family("indexing", kiln_op, KNOWN_INDEXING);
}

#[test]
fn conv_pool_matches_torch() {
    run_family("conv_pool", common::conv_pool::kiln_op, KNOWN_CONV_POOL);
}

#[test]
fn nn_matches_torch() {
    run_family("nn", common::nn::kiln_op, KNOWN_NN);
}

#[test]
fn losses_match_torch() {
    run_family("losses", common::losses::kiln_op, KNOWN_LOSSES);
}

/// Families compared by value above.
const CHECKED: &[&str] = &[
    "conv_pool",
    "elementwise",
    "indexing",
    "linalg",
    "losses",
    "nn",
    "reductions",
    "reductions_sort",
    "views",
];
/// Fixture files of op families Kiln does not have yet: only their structure is checked until
/// the family lands and moves to `CHECKED` with its own test and match arms.
const PENDING: &[&str] = &[];

/// Every fixture file is either compared by value or explicitly pending, and all are well formed.
#[test]
fn fixture_files_are_well_formed_and_accounted_for() {
    let mut listed: Vec<&str> = CHECKED.iter().chain(PENDING).copied().collect();
    listed.sort_unstable();
    assert_eq!(common::fixtures::fixture_families(), listed);
    for family in &listed {
        let n = common::fixtures::check_well_formed(family);
        let state = if CHECKED.contains(family) {
            "compared"
        } else {
            "pending, structure only"
        };
        eprintln!("torch fixtures {family}: {n} cases well formed ({state})");
    }
}

/// The harness itself: a correct case passes, and a wrong output, a wrong gradient or an unknown
/// op fails (so a family test cannot pass vacuously).
#[test]
fn harness_detects_mismatches() {
    let case = |op: &str, out: [f64; 2], grad: [f64; 2]| {
        serde_json::json!({
            "id": "neg/self_test", "op": op, "args": {},
            "inputs": [{"name": "input", "shape": [2], "dtype": "float32", "data": [1.5, -2.0], "requires_grad": true,
                        "view": [{"op": "slice", "dim": 0, "start": 0, "end": null, "step": 1}]}],
            "outputs": [{"shape": [2], "dtype": "float32", "data": out, "grad_weight": [0.5, 2.0]}],
            "grads": [{"shape": [2], "dtype": "float32", "data": grad}]
        })
    };
    let good = case("neg", [-1.5, 2.0], [-0.5, -2.0]);
    assert_eq!(Case::new(&good).run(kiln_op), Ok(()));
    let wrong_out = case("neg", [-1.5, 2.001], [-0.5, -2.0]);
    let e = Case::new(&wrong_out).run(kiln_op).unwrap_err();
    assert!(e.starts_with("output 0: 1 of 2 elements differ"), "{e}");
    let wrong_grad = case("neg", [-1.5, 2.0], [-0.5, 2.0]);
    let e = Case::new(&wrong_grad).run(kiln_op).unwrap_err();
    assert!(e.starts_with("grad of input 0: 1 of 2 elements differ"), "{e}");
    let unknown = case("no_such_op", [-1.5, 2.0], [-0.5, -2.0]);
    let e = Case::new(&unknown).run(kiln_op).unwrap_err();
    assert!(e.starts_with("unknown op `no_such_op`"), "{e}");
}

/// Sum/mean arguments: `dims` null means all dims.
fn dims_of(a: &Args) -> Result<(Vec<isize>, bool), OpError> {
    let dims = if a.is_none("dims") { vec![] } else { a.isizes("dims")? };
    Ok((dims, a.bool("keepdim")?))
}

/// A single optional `dim` (null means all dims) as a dims list, and `keepdim`.
fn dim_of(a: &Args) -> Result<(Vec<isize>, bool), OpError> {
    let dims = if a.is_none("dim") {
        vec![]
    } else {
        vec![a.isize("dim")?]
    };
    Ok((dims, a.bool("keepdim")?))
}

fn opt_dim(a: &Args) -> Result<Option<isize>, OpError> {
    Ok(if a.is_none("dim") { None } else { Some(a.isize("dim")?) })
}

fn pad_mode(mode: &str) -> Result<PadMode, OpError> {
    Ok(match mode {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "replicate" => PadMode::Replicate,
        other => return Err(OpError::Fixture(format!("unknown pad mode {other:?}"))),
    })
}

/// The Kiln call of a fixture op. `x` are the inputs in the order PyTorch takes them.
fn kiln_op(op: &str, a: &Args, x: &Inputs) -> OpResult {
    let scalar = || a.f64("scalar");
    match op {
        // ---- elementwise: unary ----
        "neg" => one(x[0].neg()),
        "abs" => one(x[0].abs()),
        "exp" => one(x[0].exp()),
        "log" => one(x[0].log()),
        "log1p" => one(x[0].log1p()),
        "expm1" => one(x[0].expm1()),
        "sqrt" => one(x[0].sqrt()),
        "rsqrt" => one(x[0].rsqrt()),
        "square" => one(x[0].square()),
        "reciprocal" => one(x[0].reciprocal()),
        "sin" => one(x[0].sin()),
        "cos" => one(x[0].cos()),
        "tanh" => one(x[0].tanh()),
        "sigmoid" => one(x[0].sigmoid()),
        "relu" => one(x[0].relu()),
        "silu" => one(x[0].silu()),
        "erf" => one(x[0].erf()),
        "sign" => one(x[0].sign()),
        "floor" => one(x[0].floor()),
        "ceil" => one(x[0].ceil()),
        "round" => one(x[0].round()),
        "gelu" => one(x[0].gelu(a.str("approximate")?)),
        "leaky_relu" => one(x[0].leaky_relu(a.f64("negative_slope")?)),
        "elu" => one(x[0].elu(a.f64("alpha")?)),
        "softplus" => one(x[0].softplus(a.f64("beta")?, a.f64("threshold")?)),
        "clamp" => one(x[0].clamp(a.opt_f64("min")?, a.opt_f64("max")?)),
        "pow_scalar" => one(x[0].pow_scalar(a.f64("exponent")?)),
        // ---- elementwise: binary ----
        "add" => one(x[0].add(&x[1])),
        "sub" => one(x[0].sub(&x[1])),
        "mul" => one(x[0].mul(&x[1])),
        "div" => one(x[0].div(&x[1])),
        "pow" => one(x[0].pow(&x[1])),
        "maximum" => one(x[0].maximum(&x[1])),
        "minimum" => one(x[0].minimum(&x[1])),
        "add_scalar" => one(x[0].add_scalar(scalar()?)),
        "sub_scalar" => one(x[0].sub_scalar(scalar()?)),
        "mul_scalar" => one(x[0].mul_scalar(scalar()?)),
        "div_scalar" => one(x[0].div_scalar(scalar()?)),
        "pow_tensor_scalar" => one(x[0].pow_tensor_scalar(scalar()?)),
        "maximum_scalar" => one(x[0].maximum_scalar(scalar()?)),
        "minimum_scalar" => one(x[0].minimum_scalar(scalar()?)),
        // Comparisons: a `scalar` argument selects the scalar form.
        "eq" if !a.is_none("scalar") => one(x[0].eq_scalar(scalar()?)),
        "ne" if !a.is_none("scalar") => one(x[0].ne_scalar(scalar()?)),
        "lt" if !a.is_none("scalar") => one(x[0].lt_scalar(scalar()?)),
        "le" if !a.is_none("scalar") => one(x[0].le_scalar(scalar()?)),
        "gt" if !a.is_none("scalar") => one(x[0].gt_scalar(scalar()?)),
        "ge" if !a.is_none("scalar") => one(x[0].ge_scalar(scalar()?)),
        "eq" => one(x[0].eq(&x[1])),
        "ne" => one(x[0].ne(&x[1])),
        "lt" => one(x[0].lt(&x[1])),
        "le" => one(x[0].le(&x[1])),
        "gt" => one(x[0].gt(&x[1])),
        "ge" => one(x[0].ge(&x[1])),
        "logical_and" => one(x[0].logical_and(&x[1])),
        "logical_or" => one(x[0].logical_or(&x[1])),
        "logical_not" => one(x[0].logical_not()),
        // torch.where(condition, input, other)
        "where" => one(x[1].where_(&x[0], &x[2])),
        "masked_fill" => one(x[0].masked_fill(&x[1], a.f64("value")?)),
        // ---- reductions ----
        "sum" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].sum_dims(&dims, keepdim))
        }
        "mean" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].mean_dims(&dims, keepdim))
        }
        // ---- reductions and sorting ----
        "prod" => {
            let (dims, keepdim) = dim_of(a)?;
            one(x[0].prod_dims(&dims, keepdim))
        }
        "max_dim" => pair(x[0].max_dim(a.isize("dim")?, a.bool("keepdim")?)),
        "min_dim" => pair(x[0].min_dim(a.isize("dim")?, a.bool("keepdim")?)),
        "amax" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].amax(&dims, keepdim))
        }
        "amin" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].amin(&dims, keepdim))
        }
        "argmax" => one(x[0].argmax(opt_dim(a)?, a.bool("keepdim")?)),
        "argmin" => one(x[0].argmin(opt_dim(a)?, a.bool("keepdim")?)),
        "var" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].var_dims(&dims, a.f64("correction")?, keepdim))
        }
        "std" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].std_dims(&dims, a.f64("correction")?, keepdim))
        }
        "logsumexp" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].logsumexp(&dims, keepdim))
        }
        "norm" => {
            let (dims, keepdim) = dims_of(a)?;
            one(x[0].norm(a.f64("p")?, &dims, keepdim))
        }
        "all" => {
            let (dims, keepdim) = dim_of(a)?;
            one(x[0].all_dims(&dims, keepdim))
        }
        "any" => {
            let (dims, keepdim) = dim_of(a)?;
            one(x[0].any_dims(&dims, keepdim))
        }
        "cumsum" => one(x[0].cumsum(a.isize("dim")?)),
        // Kiln's sort is always stable, which also satisfies `stable: false` (the fixtures with
        // `stable: false` have distinct values, so their order is unique).
        "sort" => pair(x[0].sort(a.isize("dim")?, a.bool("descending")?)),
        "argsort" => one(x[0].argsort(a.isize("dim")?, a.bool("descending")?)),
        "topk" => pair(x[0].topk(a.usize("k")?, a.isize("dim")?, a.bool("largest")?, a.bool("sorted")?)),
        // ---- indexing and shape ----
        "cat" => one(Tensor::cat(&x.iter().collect::<Vec<_>>(), a.isize("dim")?)),
        "stack" => one(Tensor::stack(&x.iter().collect::<Vec<_>>(), a.isize("dim")?)),
        "index_select" => one(x[0].index_select(a.isize("dim")?, &x[1])),
        "gather" => one(x[0].gather(a.isize("dim")?, &x[1])),
        "scatter" => one(x[0].scatter(a.isize("dim")?, &x[1], &x[2])),
        "scatter_add" => one(x[0].scatter_add(a.isize("dim")?, &x[1], &x[2])),
        "index_add" => one(x[0].index_add_alpha(a.isize("dim")?, &x[1], &x[2], a.f64("alpha")?)),
        "pad" => one(x[0].pad(&a.i64s("pad")?, pad_mode(a.str("mode")?)?, a.f64("value")?)),
        "tril" => one(x[0].tril(a.i64("diagonal")?)),
        "triu" => one(x[0].triu(a.i64("diagonal")?)),
        "flip" => one(x[0].flip(&a.isizes("dims")?)),
        "roll" => one(x[0].roll(&a.i64s("shifts")?, &a.isizes("dims")?)),
        "repeat" => one(x[0].repeat(&a.usizes("sizes")?)),
        // `num_classes: -1` asks PyTorch to infer the count.
        "one_hot" => {
            let n = a.i64("num_classes")?;
            one(x[0].one_hot(usize::try_from(n).ok()))
        }
        // ---- linalg ----
        "matmul" => one(x[0].matmul(&x[1])),
        "mm" => one(x[0].mm(&x[1])),
        "bmm" => one(x[0].bmm(&x[1])),
        "outer" => one(x[0].outer(&x[1])),
        // ---- views ----
        "reshape" => one(x[0].reshape(&a.i64s("shape")?)),
        "view" => one(x[0].view(&a.i64s("shape")?)),
        "transpose" => one(x[0].transpose(a.isize("dim0")?, a.isize("dim1")?)),
        "t" => one(x[0].t()),
        "permute" => one(x[0].permute(&a.isizes("dims")?)),
        "narrow" => one(x[0].narrow(a.isize("dim")?, a.usize("start")?, a.usize("length")?)),
        "slice" => {
            let end = if a.is_none("end") { None } else { Some(a.isize("end")?) };
            one(x[0].slice(a.isize("dim")?, a.isize("start")?, end, a.usize("step")?))
        }
        "select" => one(x[0].select(a.isize("dim")?, a.isize("index")?)),
        "expand" => one(x[0].expand(&a.i64s("shape")?)),
        "broadcast_to" => one(x[0].broadcast_to(&a.usizes("shape")?)),
        "squeeze" => one(x[0].squeeze()),
        "squeeze_dim" => one(x[0].squeeze_dim(a.isize("dim")?)),
        "unsqueeze" => one(x[0].unsqueeze(a.isize("dim")?)),
        "flatten" => one(x[0].flatten(a.isize("start_dim")?, a.isize("end_dim")?)),
        "split" => Ok(x[0].split(a.usize("split_size")?, a.isize("dim")?)?),
        "split_with_sizes" => Ok(x[0].split_with_sizes(&a.usizes("sizes")?, a.isize("dim")?)?),
        "chunk" => Ok(x[0].chunk(a.usize("chunks")?, a.isize("dim")?)?),
        "slice_scatter" => {
            let (start, end, step) = (a.usize("start")?, a.usize("end")?, a.usize("step")?);
            let len = end.saturating_sub(start).div_ceil(step);
            one(x[0].slice_scatter(&x[1], a.usize("dim")?, start, len, step))
        }
        "contiguous" => one(x[0].contiguous()),
        "clone" => one(x[0].deep_clone()),
        "to_dtype" => one(x[0].to_dtype(a.dtype("dtype")?)),
        _ => Err(OpError::Unknown),
    }
}
