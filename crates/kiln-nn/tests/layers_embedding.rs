//! `Embedding` against PyTorch (`tests/fixtures/norms/generate.py`): strict `load_state_dict`,
//! outputs and weight gradients with positive and negative `padding_idx`; default init,
//! `from_pretrained`, and argument errors.

use kiln_nn::{Embedding, EmbeddingConfig, Forward, Module, StateDict};
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Tensor};
use serde_json::Value;

fn load(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/norms")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        other => panic!("{file}: expected a JSON list of cases, got {other:?}"),
    }
}

fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    Tensor::from_vec(floats(&v[1]), &dims(&v[0])).expect("fixture tensor")
}

#[test]
fn embedding_matches_pytorch() {
    let cases = load("embedding.json");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let c = &case["config"];
        let n = c["num_embeddings"].as_u64().unwrap() as usize;
        let d = c["embedding_dim"].as_u64().unwrap() as usize;
        let mut cfg = EmbeddingConfig::default();
        if let Some(p) = c["padding_idx"].as_i64() {
            cfg = cfg.padding_idx(p);
        }
        let emb = Embedding::with_config(n, d, cfg).unwrap();
        let mut sd = StateDict::new();
        let mut keys = Vec::new();
        for e in case["state_dict"].as_array().unwrap() {
            let key = e[0].as_str().unwrap();
            sd.insert(key, Tensor::from_vec(floats(&e[2]), &dims(&e[1])).unwrap());
            keys.push(key.to_string());
        }
        emb.load_state_dict(&sd, true).unwrap();
        let own: Vec<String> = emb.state_dict().iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(own, keys, "{name}");
        let idx = &case["indices"];
        let ivals: Vec<i64> = idx[1].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let indices = Tensor::from_vec(ivals, &dims(&idx[0])).unwrap();
        let out = emb.forward(&indices).unwrap();
        assert_close(&out, &tensor(&case["output"]), 0.0, 0.0);
        out.mul(&tensor(&case["loss_weights"]))
            .unwrap()
            .sum()
            .unwrap()
            .backward()
            .unwrap();
        let expected = Tensor::from_vec(floats(&case["grads"]["weight"]), &[n, d]).unwrap();
        assert_close(&emb.weight.grad().expect("weight grad"), &expected, 1e-5, 1e-6);
        // int32 indices give the same rows.
        let out32 = emb.forward(&indices.to_dtype(DType::I32).unwrap()).unwrap();
        assert_close(&out32, &out, 0.0, 0.0);
    }
}

#[test]
fn embedding_init_and_padding_idx() {
    kiln_tensor::manual_seed(5);
    let emb = Embedding::new(200, 50).unwrap();
    assert_eq!(emb.weight.shape(), &[200, 50]);
    assert!(emb.weight.requires_grad());
    assert_eq!(emb.padding_idx, None);
    let v = emb.weight.to_vec_f64();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "N(0, 1): mean {mean}, var {var}"
    );

    let emb = Embedding::with_config(6, 3, EmbeddingConfig::default().padding_idx(-2)).unwrap();
    assert_eq!(emb.padding_idx, Some(4));
    let w = emb.weight.to_vec::<f32>().unwrap();
    assert_eq!(&w[12..15], &[0.0; 3], "padding row starts at zero");
    assert!(w[..12].iter().chain(&w[15..]).all(|x| *x != 0.0));

    for bad in [6, -7] {
        let e = Embedding::with_config(6, 3, EmbeddingConfig::default().padding_idx(bad))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Embedding") && e.contains("padding_idx must be within num_embeddings"),
            "{e}"
        );
    }
    assert!(Embedding::with_config(6, 3, EmbeddingConfig::default().padding_idx(-6)).is_ok());
    let e = emb
        .forward(&Tensor::from_vec(vec![0i64, 6], &[2]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("out of range"), "{e}");
    assert!(emb.forward(&Tensor::zeros(&[2], DType::F32)).is_err());
}

#[test]
fn embedding_from_pretrained() {
    let w = Tensor::from_vec((0..8).map(|v| v as f32).collect(), &[4, 2]).unwrap();
    let frozen = Embedding::from_pretrained(&w, true, None).unwrap();
    assert_eq!((frozen.num_embeddings, frozen.embedding_dim), (4, 2));
    assert!(!frozen.weight.requires_grad());
    assert_eq!(
        frozen.named_parameters().len(),
        1,
        "a frozen weight is still a parameter"
    );
    let out = frozen.forward(&Tensor::from_vec(vec![3i64, 0], &[2]).unwrap()).unwrap();
    assert_eq!(out.to_vec::<f32>().unwrap(), [6.0, 7.0, 0.0, 1.0]);

    let trained = Embedding::from_pretrained(&w, false, Some(-1)).unwrap();
    assert!(trained.weight.requires_grad());
    assert_eq!(trained.padding_idx, Some(3));
    assert_eq!(
        trained.weight.to_vec::<f32>().unwrap()[6..],
        [6.0, 7.0],
        "padding row kept"
    );
    let idx = Tensor::from_vec(vec![3i64, 1, 3], &[3]).unwrap();
    trained.forward(&idx).unwrap().sum().unwrap().backward().unwrap();
    let g = trained.weight.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(
        g,
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        "no gradient for the padding row"
    );

    let e = Embedding::from_pretrained(&Tensor::zeros(&[4], DType::F32), true, None).unwrap_err();
    assert!(e.to_string().contains("2-dimensional"), "{e}");
    assert!(Embedding::from_pretrained(&w, true, Some(4)).is_err());
}
