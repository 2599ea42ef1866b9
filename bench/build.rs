//! Detects which ops under construction on other branches exist yet, so that their workloads
//! compile as soon as the op lands and report "n/a (op missing)" until then.

use std::fs;
use std::path::Path;

fn main() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/kiln-tensor/src");
    println!("cargo::rerun-if-changed={}", src.display());
    let mut text = String::new();
    collect(&src, &mut text);
    let checks = [
        ("kiln_has_softmax", "pub fn softmax("),
        ("kiln_has_layer_norm", "pub fn layer_norm("),
        ("kiln_has_conv2d", "pub fn conv2d("),
    ];
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    println!("cargo::rustc-check-cfg=cfg(kiln_conv_opts_at_root)");
    if lib.contains("Conv2dOptions") {
        println!("cargo::rustc-cfg=kiln_conv_opts_at_root");
    }
    for (cfg, needle) in checks {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if text.contains(needle) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

fn collect(dir: &Path, out: &mut String) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            println!("cargo::rerun-if-changed={}", p.display());
            if let Ok(s) = fs::read_to_string(&p) {
                out.push_str(&s);
            }
        }
    }
}
