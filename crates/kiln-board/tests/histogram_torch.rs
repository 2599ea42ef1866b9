//! `make_histogram` with the default bins against `torch.utils.tensorboard` (fixtures/histogram.json,
//! written by fixtures/generate_histogram.py).

use kiln_board::histogram::{default_bins, make_histogram};

#[test]
fn histograms_match_torch() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/histogram.json")).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        fixture["num_default_bins"].as_u64().unwrap() as usize,
        default_bins().len()
    );
    let floats =
        |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let h = make_histogram(&floats(&case["values"]), &default_bins()).unwrap();
        assert_eq!(h.bucket, floats(&case["bucket"]), "{name}: counts");
        let limits = floats(&case["bucket_limit"]);
        assert_eq!(h.bucket_limit.len(), limits.len(), "{name}: limits");
        for (a, b) in h.bucket_limit.iter().zip(&limits) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-30), "{name}: limit {a} vs {b}");
        }
        for key in ["min", "max", "num", "sum", "sum_squares"] {
            let want = case[key].as_f64().unwrap();
            let got = match key {
                "min" => h.min,
                "max" => h.max,
                "num" => h.num,
                "sum" => h.sum,
                _ => h.sum_squares,
            };
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}: {key} {got} vs {want}"
            );
        }
    }
}
