//! Kiln's side of the comparison harness.
//!
//! `kiln-bench serve` reads commands on stdin, one per line, and answers one line each, so that
//! the driver (`bench/torch_bench.py`, started by `bench/compare.sh`) can alternate Kiln and
//! PyTorch rounds without restarting either process:
//!
//! - `threads N` sets Kiln's thread count (`kiln::set_num_threads`); answers `ok`.
//! - `run NAME TARGET_MS` runs one round of workload `NAME`: warm-up, then repeated iterations
//!   for about `TARGET_MS`; answers `ok MEDIAN_MS ITERS`, `na REASON` or `err MESSAGE`.
//! - `list` answers the workload names separated by spaces.
//!
//! `kiln-bench run [FILTER]` runs each matching workload once and prints its median, for
//! profiling Kiln alone.

mod timing;
mod train_workloads;
mod workloads;

use std::io::{BufRead, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("run") => run_standalone(args.get(1).map(String::as_str).unwrap_or("")),
        _ => {
            eprintln!("usage: kiln-bench serve | kiln-bench run [FILTER]");
            std::process::exit(2);
        }
    }
}

/// One round of `name`, answered as a protocol line.
fn round(name: &str, target_ms: f64) -> String {
    let Some(w) = workloads::find(name) else {
        return format!("na unknown workload {name}");
    };
    match (w.setup)() {
        Ok(mut f) => match timing::measure(&mut f, target_ms) {
            Ok((ms, iters)) => format!("ok {ms:.6} {iters}"),
            Err(e) => format!("err {}", e.to_string().replace('\n', " ")),
        },
        Err(e) => format!("err {}", e.to_string().replace('\n', " ")),
    }
}

fn serve() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let parts: Vec<&str> = line.split_whitespace().collect();
        let reply = match parts.as_slice() {
            ["threads", n] => match n.parse::<usize>() {
                Ok(n) => {
                    kiln::set_num_threads(n);
                    "ok".to_string()
                }
                Err(_) => format!("err bad thread count {n}"),
            },
            ["run", name, target] => match target.parse::<f64>() {
                Ok(t) => round(name, t),
                Err(_) => format!("err bad target {target}"),
            },
            ["list"] => workloads::ALL.iter().map(|w| w.name).collect::<Vec<_>>().join(" "),
            [] => continue,
            _ => format!("err unknown command {line:?}"),
        };
        if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}

fn run_standalone(filter: &str) {
    if let Ok(n) = std::env::var("THREADS").map(|s| s.parse::<usize>().unwrap_or(0)) {
        kiln::set_num_threads(n);
    }
    for w in workloads::ALL.iter().filter(|w| w.name.contains(filter)) {
        println!("{:<24} {}", w.name, round(w.name, 500.0));
    }
}
