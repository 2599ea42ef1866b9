//! The `kiln` binary end to end: train on the bundled digits, evaluate the result, resume
//! bitwise, configuration files, and errors for bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty folder for one test under Cargo's temporary target folder.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-cli").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn kiln(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the kiln binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and checks success, showing both streams otherwise.
fn kiln_ok(dir: &Path, args: &[&str]) -> String {
    let o = kiln(dir, args);
    assert!(
        o.status.success(),
        "kiln {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs and checks a user error: exit status 1 or 2 (clap), a message, no panic.
fn kiln_err(dir: &Path, args: &[&str]) -> String {
    let o = kiln(dir, args);
    let err = stderr(&o);
    assert!(
        matches!(o.status.code(), Some(1) | Some(2)),
        "kiln {args:?}: expected failure, got {:?}\n{}\n{err}",
        o.status,
        stdout(&o)
    );
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    err
}

fn metrics(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The per-epoch numbers that must match bitwise between runs (everything but the time).
fn losses(m: &[Value]) -> Vec<(u64, u64, u64, u64, u64)> {
    m.iter()
        .map(|v| {
            let bits = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}")).to_bits();
            (
                v["epoch"].as_u64().unwrap(),
                bits("train_loss"),
                bits("val_loss"),
                bits("val_accuracy"),
                bits("lr"),
            )
        })
        .collect()
}

#[test]
fn default_train_reaches_97_percent_and_eval_json_agrees() {
    let dir = workdir("default");
    let out = kiln_ok(&dir, &["train"]);
    assert!(out.contains("output folder: runs/mlp-digits-1"), "{out}");
    let run = dir.join("runs/mlp-digits-1");
    for f in ["last.ckpt", "best.ckpt", "best.safetensors", "metrics.jsonl"] {
        assert!(run.join(f).is_file(), "{f} missing in {}", run.display());
    }
    let m = metrics(&run);
    assert_eq!(m.len(), 30);
    let best = m
        .iter()
        .map(|v| v["val_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(best >= 0.97, "best validation accuracy {best}\n{out}");
    // One summary line per epoch on stdout.
    assert_eq!(out.lines().filter(|l| l.starts_with("epoch ")).count(), 30, "{out}");

    let json = kiln_ok(
        &dir,
        &["eval", "--checkpoint", "runs/mlp-digits-1/best.safetensors", "--json"],
    );
    let v: Value = serde_json::from_str(json.trim()).expect("exactly one JSON object");
    assert_eq!(v["n"].as_u64(), Some(359)); // round(1797 * 0.2)
    assert_eq!(v["accuracy"].as_f64().unwrap().to_bits(), best.to_bits());
    assert!(v["loss"].as_f64().unwrap() > 0.0);
    let cm = v["confusion_matrix"].as_array().unwrap();
    assert_eq!(cm.len(), 10);
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 359);

    // A second run gets a new folder; the .ckpt files evaluate too.
    let text = kiln_ok(&dir, &["eval", "--checkpoint", "runs/mlp-digits-1/last.ckpt"]);
    assert!(
        text.contains("accuracy: ") && text.contains("confusion matrix"),
        "{text}"
    );
}

#[test]
fn resumed_run_matches_uninterrupted_run_bitwise() {
    let dir = workdir("resume");
    let common = [
        "train",
        "--epochs",
        "3",
        "--seed",
        "5",
        "--threads",
        "1",
        "--model",
        "mlp",
    ];
    kiln_ok(&dir, &[&common[..], &["--output-dir", "full"]].concat());
    // Interrupted after epoch 1, then continued from the output folder's last.ckpt.
    kiln_ok(
        &dir,
        &[&common[..], &["--output-dir", "part", "--stop-after", "1"]].concat(),
    );
    assert_eq!(metrics(&dir.join("part")).len(), 1);
    let out = kiln_ok(&dir, &[&common[..], &["--output-dir", "part", "--resume"]].concat());
    assert!(out.contains("after epoch 1"), "{out}");
    let (full, part) = (metrics(&dir.join("full")), metrics(&dir.join("part")));
    assert_eq!(full.len(), 3);
    assert_eq!(losses(&full), losses(&part));

    // Constant learning rate: 1 epoch, then --resume PATH with --epochs 2 equals 2 epochs.
    let c = ["train", "--seed", "1", "--schedule", "none", "--optimizer", "sgd"];
    kiln_ok(&dir, &[&c[..], &["--epochs", "2", "--output-dir", "two"]].concat());
    kiln_ok(&dir, &[&c[..], &["--epochs", "1", "--output-dir", "one"]].concat());
    kiln_ok(&dir, &["train", "--resume", "one/last.ckpt", "--epochs", "2"]);
    assert_eq!(losses(&metrics(&dir.join("two"))), losses(&metrics(&dir.join("one"))));
}

#[test]
fn config_file_sets_options_and_flags_override_it() {
    let dir = workdir("config");
    std::fs::write(
        dir.join("run.toml"),
        "optimizer = \"sgd\"\nlr = 0.125\nbatch-size = 64\nepochs = 5\nschedule = \"none\"\noutput-dir = \"from-file\"\n",
    )
    .unwrap();
    let o = kiln(&dir, &["train", "--config", "run.toml", "--epochs", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Not a terminal: no progress bar on stderr.
    assert_eq!(stderr(&o), "");
    let out = stdout(&o);
    assert!(out.contains("output folder: from-file"), "{out}");
    assert!(out.contains("optimizer sgd lr 0.125"), "{out}");
    let m = metrics(&dir.join("from-file"));
    assert_eq!(m.len(), 1, "--epochs 1 overrides epochs = 5");
    assert_eq!(m[0]["lr"].as_f64(), Some(0.125));
    assert_eq!(m[0]["step"].as_u64(), Some(23)); // ceil(1438 / 64)
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = workdir("errors");
    let err = kiln_err(&dir, &["train", "--model", "resnet"]);
    assert!(err.contains("invalid value 'resnet'"), "{err}");
    let err = kiln_err(&dir, &["train", "--epochs", "many"]);
    assert!(err.contains("--epochs"), "{err}");
    let err = kiln_err(&dir, &["train", "--lr=-1"]);
    assert!(err.contains("--lr"), "{err}");
    let err = kiln_err(&dir, &["train", "--dataset", "mnist-idx"]);
    assert!(err.contains("--data-dir"), "{err}");
    let err = kiln_err(&dir, &["train", "--dataset", "mnist-idx", "--data-dir", "no-such-dir"]);
    assert!(err.contains("no-such-dir"), "{err}");
    let err = kiln_err(&dir, &["train", "--config", "missing.toml"]);
    assert!(err.contains("missing.toml"), "{err}");
    std::fs::write(dir.join("typo.toml"), "epoch = 3\n").unwrap();
    let err = kiln_err(&dir, &["train", "--config", "typo.toml"]);
    assert!(err.contains("typo.toml") && err.contains("epoch"), "{err}");
    let err = kiln_err(&dir, &["train", "--resume", "nothing.ckpt"]);
    assert!(err.contains("nothing.ckpt"), "{err}");
    let err = kiln_err(&dir, &["eval", "--checkpoint", "nothing.safetensors"]);
    assert!(err.contains("nothing.safetensors"), "{err}");
    std::fs::write(dir.join("junk.safetensors"), b"not a safetensors file").unwrap();
    let err = kiln_err(&dir, &["eval", "--checkpoint", "junk.safetensors"]);
    assert!(err.contains("junk.safetensors"), "{err}");
    // No runs to continue.
    let err = kiln_err(&dir, &["train", "--resume"]);
    assert!(err.contains("--resume"), "{err}");
}

/// Trains a preset for a few epochs and checks that it learns and that eval rebuilds it.
fn preset_learns(model: &str, dataset: &str, extra: &[&str], min_acc: f64) {
    let dir = workdir(&format!("{model}-{dataset}"));
    let args = ["train", "--model", model, "--dataset", dataset, "--output-dir", "run"];
    kiln_ok(&dir, &[&args[..], extra].concat());
    let m = metrics(&dir.join("run"));
    let acc = m.last().unwrap()["val_accuracy"].as_f64().unwrap();
    assert!(acc >= min_acc, "{model} on {dataset}: validation accuracy {acc}");
    let json = kiln_ok(&dir, &["eval", "--checkpoint", "run/last.ckpt", "--json"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["accuracy"].as_f64().unwrap().to_bits(), acc.to_bits());
    assert_eq!(v["model"]["name"], model);
}

#[test]
fn transformer_preset_learns_digits() {
    preset_learns("transformer", "digits", &["--epochs", "3"], 0.6);
}

#[test]
fn eval_on_another_dataset_checks_the_input_shape() {
    let dir = workdir("eval-other");
    kiln_ok(&dir, &["train", "--epochs", "1", "--output-dir", "run"]);
    let err = kiln_err(
        &dir,
        &["eval", "--checkpoint", "run/best.safetensors", "--dataset", "mnist-5k"],
    );
    assert!(err.contains("1x8x8 images") && err.contains("1x28x28 images"), "{err}");
    let err = kiln_err(
        &dir,
        &["eval", "--checkpoint", "run/best.safetensors", "--dataset", "mnist-csv"],
    );
    assert!(err.contains("--data-path"), "{err}");
    let json = kiln_ok(
        &dir,
        &[
            "eval",
            "--checkpoint",
            "run/best.safetensors",
            "--dataset",
            "digits",
            "--json",
        ],
    );
    assert_eq!(serde_json::from_str::<Value>(json.trim()).unwrap()["n"], 359);
}

#[test]
fn lenet_preset_learns_digits() {
    preset_learns("lenet", "digits", &["--epochs", "3", "--lr", "0.01"], 0.6);
}

#[test]
fn clip_grad_norm_changes_the_updates_and_rejects_bad_values() {
    let dir = workdir("clip");
    // SGD: its steps scale with the gradient (Adam would normalize the clipping away).
    let common = ["train", "--epochs", "1", "--schedule", "none", "--optimizer", "sgd"];
    kiln_ok(&dir, &[&common[..], &["--output-dir", "plain"]].concat());
    kiln_ok(
        &dir,
        &[&common[..], &["--output-dir", "clipped", "--clip-grad-norm", "1e-3"]].concat(),
    );
    let plain = metrics(&dir.join("plain"));
    let clipped = metrics(&dir.join("clipped"));
    let loss = |m: &[Value]| m[0]["train_loss"].as_f64().unwrap();
    // Steps of at most 1e-3 in gradient norm barely move the model in one epoch.
    assert!(
        loss(&clipped) > loss(&plain) + 0.1,
        "clipped {} vs plain {}",
        loss(&clipped),
        loss(&plain)
    );
    let err = kiln_err(&dir, &["train", "--clip-grad-norm", "0"]);
    assert!(err.contains("--clip-grad-norm"), "{err}");
}
