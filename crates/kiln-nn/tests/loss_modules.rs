//! Loss modules pass their options through to the functional forms (values are checked against
//! PyTorch in kiln-tensor's fixtures).

use kiln_nn::{CrossEntropyLoss, KLDivLoss, MSELoss, NLLLoss, SmoothL1Loss};
use kiln_tensor::functional::{self as F, CrossEntropyOptions, KlReduction, Reduction};
use kiln_tensor::{tensor, Result, Tensor};

fn close(a: &Tensor, b: &Tensor) -> bool {
    a.to_vec_f64()
        .iter()
        .zip(b.to_vec_f64())
        .all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn options_reach_the_functional_forms() -> Result<()> {
    let logits = tensor!([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0], [0.3, 0.3, 0.3]]);
    let target = tensor!([2, -1, 0]);
    let ce = CrossEntropyLoss::new()
        .ignore_index(-1)
        .label_smoothing(0.1)
        .reduction(Reduction::Sum);
    let want = F::cross_entropy(
        &logits,
        &target,
        CrossEntropyOptions {
            ignore_index: -1,
            label_smoothing: 0.1,
            reduction: Reduction::Sum,
            ..Default::default()
        },
    )?;
    assert!(close(&ce.forward(&logits, &target)?, &want));
    assert!(
        CrossEntropyLoss::new().forward(&logits, &target).is_err(),
        "-1 is out of range without ignore_index"
    );

    let logp = logits.log_softmax(1)?;
    let nll = NLLLoss {
        ignore_index: -1,
        ..NLLLoss::new()
    };
    assert!(close(
        &nll.forward(&logp, &target)?,
        &F::nll_loss(&logp, &target, None, -1, Reduction::Mean)?
    ));

    let a = tensor!([0.5, 2.0, -1.0]);
    let b = tensor!([0.0, 0.0, 0.0]);
    assert_eq!(MSELoss::reduction(Reduction::Sum).forward(&a, &b)?.item::<f32>()?, 5.25);
    let huber = SmoothL1Loss {
        beta: 0.5,
        reduction: Reduction::Sum,
    };
    assert!(close(
        &huber.forward(&a, &b)?,
        &F::smooth_l1_loss(&a, &b, Reduction::Sum, 0.5)?
    ));
    let kl = KLDivLoss {
        reduction: KlReduction::BatchMean,
        log_target: false,
    };
    let p = tensor!([[0.2, 0.8], [0.5, 0.5]]);
    let q = tensor!([[0.3, 0.7], [0.6, 0.4]]).log()?;
    assert!(close(
        &kl.forward(&q, &p)?,
        &F::kl_div(&q, &p, KlReduction::BatchMean, false)?
    ));
    Ok(())
}
