//! The Module contract: dotted names from `#[derive(Module)]`, state_dict round trips, strict and
//! non-strict loading, training mode.

use kiln_nn::{Forward, Linear, Module, Sequential, StateDict};
use kiln_tensor::{DType, Result, Tensor};

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct Block {
    fc: Linear,
    #[buffer]
    scale: Tensor,
    #[module(training)]
    training: bool,
}

#[derive(Module)]
#[module(crate = "kiln_nn")]
struct Net {
    features: Sequential,
    blocks: Vec<Block>,
    head: Option<Linear>,
    missing: Option<Linear>,
    #[param]
    temperature: Tensor,
    hidden: usize,
    #[module(skip)]
    _note: std::cell::Cell<u8>,
}

fn block() -> Result<Block> {
    Ok(Block {
        fc: Linear::new(3, 3)?,
        scale: Tensor::ones(&[3], DType::F32),
        training: true,
    })
}

fn net() -> Result<Net> {
    Ok(Net {
        features: Sequential::new().add(Linear::new(4, 3)?).add(Linear::new(3, 3)?),
        blocks: vec![block()?, block()?],
        head: Some(Linear::new(3, 2)?),
        missing: None,
        temperature: kiln_nn::parameter(Tensor::ones(&[1], DType::F32)),
        hidden: 3,
        _note: std::cell::Cell::new(0),
    })
}

#[test]
fn derive_gives_pytorch_dotted_names_in_declaration_order() -> Result<()> {
    let n = net()?;
    let names: Vec<String> = n.state_dict().keys().map(str::to_string).collect();
    assert_eq!(
        names,
        [
            "features.0.weight",
            "features.0.bias",
            "features.1.weight",
            "features.1.bias",
            "blocks.0.fc.weight",
            "blocks.0.fc.bias",
            "blocks.0.scale",
            "blocks.1.fc.weight",
            "blocks.1.fc.bias",
            "blocks.1.scale",
            "head.weight",
            "head.bias",
            "temperature",
        ]
    );
    assert_eq!(n.parameters().len(), 11);
    assert_eq!(n.buffers().len(), 2);
    assert_eq!(n.num_parameters(), 4 * 3 + 3 + 12 + 2 * 12 + 6 + 2 + 1);
    assert!(n.parameters().iter().all(|p| p.requires_grad() && p.is_leaf()));
    assert_eq!(n.hidden, 3);
    Ok(())
}

#[test]
fn train_and_eval_reach_every_child() -> Result<()> {
    let mut n = net()?;
    assert!(n.is_training());
    n.eval();
    assert!(!n.is_training());
    assert!(n.blocks.iter().all(|b| !b.training));
    n.train();
    assert!(n.blocks.iter().all(|b| b.training));
    Ok(())
}

#[test]
fn load_state_dict_copies_values_and_reports_keys() -> Result<()> {
    let a = net()?;
    let b = net()?;
    b.load_state_dict(&a.state_dict(), true)?;
    let x = Tensor::randn(&[5, 4], DType::F32)?;
    assert_eq!(
        a.features.forward(&x)?.to_vec::<f32>()?,
        b.features.forward(&x)?.to_vec::<f32>()?
    );

    let mut partial: StateDict = a.state_dict();
    partial.remove("head.bias");
    partial.insert("extra.weight", Tensor::zeros(&[1], DType::F32));
    let err = b.load_state_dict(&partial, true).unwrap_err().to_string();
    assert!(
        err.contains("missing keys: head.bias") && err.contains("unexpected keys: extra.weight"),
        "{err}"
    );
    let report = b.load_state_dict(&partial, false)?;
    assert_eq!(report.missing_keys, ["head.bias"]);
    assert_eq!(report.unexpected_keys, ["extra.weight"]);

    let before = b.temperature.to_vec::<f32>()?;
    let mut bad = a.state_dict();
    bad.insert("temperature", Tensor::full(&[1], 7.0, DType::F32)?);
    bad.insert("head.weight", Tensor::zeros(&[9, 9], DType::F32));
    let err = b.load_state_dict(&bad, true).unwrap_err().to_string();
    assert!(err.contains("size mismatch for head.weight"), "{err}");
    assert_eq!(b.temperature.to_vec::<f32>()?, before, "a failed load modifies nothing");
    Ok(())
}

#[test]
fn to_dtype_converts_parameters_and_keeps_them_trainable() -> Result<()> {
    let mut l = Linear::new(2, 2)?;
    l.to_dtype(DType::F64)?;
    assert!(l
        .parameters()
        .iter()
        .all(|p| p.dtype() == DType::F64 && p.requires_grad()));
    let y = l.forward(&Tensor::ones(&[1, 2], DType::F64))?;
    y.sum()?.backward()?;
    assert!(l.weight.grad().is_some());
    Ok(())
}

#[test]
fn linear_rejects_wrong_input_width() -> Result<()> {
    let l = Linear::new(4, 2)?;
    let err = l.forward(&Tensor::zeros(&[3, 5], DType::F32)).unwrap_err().to_string();
    assert!(err.contains("Linear") && err.contains("[3, 5]"), "{err}");
    Ok(())
}
