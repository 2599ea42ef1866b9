//! `LSTM`, `GRU`, `LSTMCell` and `GRUCell` against PyTorch (`fixtures/seq/rnn.json`): one and two
//! layers, bidirectional, `batch_first`, with and without initial states, no bias, unbatched
//! input, train and eval mode; plus parameter names, init bounds and errors.

mod seq_common;

use kiln_nn::{GRUCell, LSTMCell, Module, RnnConfig, GRU, LSTM};
use kiln_tensor::{DType, Result, Tensor};
use seq_common::{load, Case};

fn rnn_config(case: &Case) -> RnnConfig {
    RnnConfig::default()
        .num_layers(case.usize("num_layers"))
        .bias(case.flag("bias"))
        .batch_first(case.flag("batch_first"))
        .dropout(case.f64("dropout"))
        .bidirectional(case.flag("bidirectional"))
}

fn run(kind: &str, case: &Case) {
    let fail = |e: kiln_tensor::Error| -> ! { panic!("{}: {e}", case.name) };
    let (i, h) = (case.usize("input_size"), case.usize("hidden_size"));
    let x = case.input("input");
    let (h0, c0) = (case.opt("h0"), case.opt("c0"));
    match kind {
        "lstm" => {
            let mut m = LSTM::with_config(i, h, rnn_config(case)).unwrap_or_else(|e| fail(e));
            case.load_into(&mut m);
            let hx = h0.zip(c0);
            let (out, (hn, cn)) = m.forward(x, hx).unwrap_or_else(|e| fail(e));
            case.check(&m, &[out, hn, cn]);
        }
        "gru" => {
            let mut m = GRU::with_config(i, h, rnn_config(case)).unwrap_or_else(|e| fail(e));
            case.load_into(&mut m);
            let (out, hn) = m.forward(x, h0).unwrap_or_else(|e| fail(e));
            case.check(&m, &[out, hn]);
        }
        "lstm_cell" => {
            let mut m = LSTMCell::with_config(i, h, case.flag("bias"), DType::F32).unwrap_or_else(|e| fail(e));
            case.load_into(&mut m);
            let (h1, c1) = m.forward(x, h0.zip(c0)).unwrap_or_else(|e| fail(e));
            case.check(&m, &[h1, c1]);
        }
        "gru_cell" => {
            let mut m = GRUCell::with_config(i, h, case.flag("bias"), DType::F32).unwrap_or_else(|e| fail(e));
            case.load_into(&mut m);
            let h1 = m.forward(x, h0).unwrap_or_else(|e| fail(e));
            case.check(&m, &[h1]);
        }
        other => panic!("{}: unknown module {other}", case.name),
    }
}

#[test]
fn recurrent_layers_match_pytorch() {
    let cases = load("rnn.json");
    assert!(cases.len() >= 20);
    for c in &cases {
        let kind = c["module"].as_str().expect("module").to_string();
        run(&kind, &Case::parse(c));
    }
}

fn keys(m: &impl Module) -> Vec<String> {
    m.state_dict().keys().map(str::to_string).collect()
}

#[test]
fn parameter_names_shapes_and_init() -> Result<()> {
    kiln_tensor::manual_seed(0);
    let m = LSTM::with_config(3, 5, RnnConfig::default().num_layers(2).bidirectional(true))?;
    let k = keys(&m);
    assert_eq!(k.len(), 16);
    assert_eq!(
        &k[..8],
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_ih_l0_reverse",
            "weight_hh_l0_reverse",
            "bias_ih_l0_reverse",
            "bias_hh_l0_reverse",
        ]
    );
    assert_eq!(k[12], "weight_ih_l1_reverse");
    let sd = m.state_dict();
    assert_eq!(sd.get("weight_ih_l0").map(|t| t.shape().to_vec()), Some(vec![20, 3]));
    assert_eq!(sd.get("weight_ih_l1").map(|t| t.shape().to_vec()), Some(vec![20, 10]));
    assert_eq!(
        sd.get("weight_hh_l1_reverse").map(|t| t.shape().to_vec()),
        Some(vec![20, 5])
    );
    let bound = 1.0 / 5f64.sqrt();
    for (_, t) in sd.iter() {
        assert!(t.to_vec_f64().iter().all(|x| x.abs() <= bound));
    }
    assert_eq!(
        m.weights(1, true).map(|w| w.weight_ih.shape().to_vec()),
        Some(vec![20, 10])
    );
    assert!(m.weights(2, false).is_none());

    let g = GRU::with_config(2, 4, RnnConfig::default().bias(false))?;
    assert_eq!(keys(&g), ["weight_ih_l0", "weight_hh_l0"]);
    assert_eq!(
        g.weights(0, false).map(|w| w.weight_hh.shape().to_vec()),
        Some(vec![12, 4])
    );
    assert!(g.weights(0, true).is_none());
    assert_eq!(
        keys(&LSTMCell::new(2, 3)?),
        ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    );
    assert_eq!(GRUCell::new(2, 3)?.weight_ih.shape(), &[9, 2]);
    Ok(())
}

#[test]
fn dropout_between_layers_only_in_training() -> Result<()> {
    kiln_tensor::manual_seed(1);
    let mut m = GRU::with_config(3, 4, RnnConfig::default().num_layers(2).dropout(0.5))?;
    let x = Tensor::randn(&[5, 2, 3], DType::F32)?;
    let (a, _) = m.forward(&x, None)?;
    let (b, _) = m.forward(&x, None)?;
    assert_ne!(a.to_vec_f64(), b.to_vec_f64());
    m.eval();
    let (a, _) = m.forward(&x, None)?;
    let (b, _) = m.forward(&x, None)?;
    assert_eq!(a.to_vec_f64(), b.to_vec_f64());
    Ok(())
}

fn err<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_layer_and_values() -> Result<()> {
    assert!(err(LSTM::new(3, 0)).contains("hidden_size must be greater than zero"));
    assert!(err(GRU::with_config(3, 2, RnnConfig::default().num_layers(0))).contains("num_layers"));
    assert!(err(GRU::with_config(3, 2, RnnConfig::default().dropout(2.0))).contains("range [0, 1]"));

    let lstm = LSTM::with_config(3, 4, RnnConfig::default().num_layers(2))?;
    let r4 = Tensor::zeros(&[1, 2, 3, 3], DType::F32);
    let msg = err(lstm.forward(&r4, None));
    assert!(
        msg.contains("LSTM: Expected input to be 2D or 3D, got 4D instead"),
        "{msg}"
    );
    let wrong = Tensor::zeros(&[5, 2, 4], DType::F32);
    let msg = err(lstm.forward(&wrong, None));
    assert!(
        msg.contains("input.size(-1) must be equal to input_size. Expected 3, got 4"),
        "{msg}"
    );
    let x = Tensor::zeros(&[5, 2, 3], DType::F32);
    let h = Tensor::zeros(&[2, 2, 4], DType::F32);
    let bad_h = Tensor::zeros(&[1, 2, 4], DType::F32);
    let msg = err(lstm.forward(&x, Some((&bad_h, &h))));
    assert!(msg.contains("Expected hx[0] size [2, 2, 4], got [1, 2, 4]"), "{msg}");
    let msg = err(lstm.forward(&x, Some((&h, &bad_h))));
    assert!(msg.contains("Expected hx[1] size"), "{msg}");
    let h2 = Tensor::zeros(&[2, 4], DType::F32);
    let msg = err(lstm.forward(&x, Some((&h2, &h2))));
    assert!(
        msg.contains("For batched 3-D input, hx[0] should also be 3-D but got 2-D"),
        "{msg}"
    );
    let empty = Tensor::zeros(&[0, 2, 3], DType::F32);
    assert!(err(lstm.forward(&empty, None)).contains("non-empty sequence"));

    let gru = GRU::new(3, 4)?;
    let unbatched = Tensor::zeros(&[5, 3], DType::F32);
    let msg = err(gru.forward(&unbatched, Some(&h)));
    assert!(
        msg.contains("For unbatched 2-D input, hx should also be 2-D but got 3-D"),
        "{msg}"
    );
    let msg = err(gru.forward(&Tensor::zeros(&[3], DType::F32), None));
    assert!(msg.contains("GRU: Expected input to be 2D or 3D, got 1D"), "{msg}");

    let cell = LSTMCell::new(3, 4)?;
    let msg = err(cell.forward(&x, None));
    assert!(
        msg.contains("LSTMCell: Expected input to be 1D or 2D, got 3D instead"),
        "{msg}"
    );
    let msg = err(cell.forward(&Tensor::zeros(&[2, 5], DType::F32), None));
    assert!(msg.contains("inconsistent input_size: got 5, expected 3"), "{msg}");
    let gcell = GRUCell::new(3, 4)?;
    let msg = err(gcell.forward(
        &Tensor::zeros(&[2, 3], DType::F32),
        Some(&Tensor::zeros(&[3, 4], DType::F32)),
    ));
    assert!(msg.contains("Expected hx of shape [2, 4], got [3, 4]"), "{msg}");
    Ok(())
}

#[test]
fn layers_equal_their_cells_stepped_by_hand() -> Result<()> {
    kiln_tensor::manual_seed(4);
    let x = Tensor::randn(&[7, 2, 3], DType::F32)?;
    let lstm = LSTM::with_config(3, 4, RnnConfig::default().bidirectional(true))?;
    let gru = GRU::with_config(3, 4, RnnConfig::default().bidirectional(true))?;
    let (lstm_out, (lstm_h, _)) = lstm.forward(&x, None)?;
    let (gru_out, gru_h) = gru.forward(&x, None)?;
    for reverse in [false, true] {
        let lcell = LSTMCell::new(3, 4)?;
        let gcell = GRUCell::new(3, 4)?;
        let sd = |m: &dyn Fn(&str) -> Option<Tensor>| -> kiln_nn::StateDict {
            ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
                .iter()
                .map(|k| {
                    let name = format!("{k}_l0{}", if reverse { "_reverse" } else { "" });
                    (k.to_string(), m(&name).expect("weight"))
                })
                .collect()
        };
        let (lsd, gsd) = (lstm.state_dict(), gru.state_dict());
        lcell.load_state_dict(&sd(&|n| lsd.get(n).cloned()), true)?;
        gcell.load_state_dict(&sd(&|n| gsd.get(n).cloned()), true)?;
        let (mut h, mut c, mut g) = (None::<Tensor>, None::<Tensor>, None::<Tensor>);
        let order: Vec<usize> = if reverse {
            (0..7).rev().collect()
        } else {
            (0..7).collect()
        };
        let d = usize::from(reverse);
        for t in order {
            let xt = x.select(0, t as isize)?;
            let (h1, c1) = lcell.forward(&xt, h.as_ref().zip(c.as_ref()))?;
            let g1 = gcell.forward(&xt, g.as_ref())?;
            let expect_l = lstm_out.select(0, t as isize)?.narrow(1, 4 * d, 4)?;
            let expect_g = gru_out.select(0, t as isize)?.narrow(1, 4 * d, 4)?;
            kiln_tensor::testing::assert_close(&h1, &expect_l, 1e-5, 1e-6);
            kiln_tensor::testing::assert_close(&g1, &expect_g, 1e-5, 1e-6);
            (h, c, g) = (Some(h1), Some(c1), Some(g1));
        }
        kiln_tensor::testing::assert_close(&h.expect("h"), &lstm_h.select(0, d as isize)?, 1e-5, 1e-6);
        kiln_tensor::testing::assert_close(&g.expect("g"), &gru_h.select(0, d as isize)?, 1e-5, 1e-6);
    }
    Ok(())
}
