//! One measurement round: warm-up, then timed iterations, reduced to their median. The Python
//! side (`torch_bench.py::measure`) follows the same rule so that the two are comparable.

use std::time::Instant;

/// Iterations always run, however long they take.
const MIN_ITERS: usize = 5;
/// Iterations never exceeded, however short they are.
const MAX_ITERS: usize = 5000;

/// Runs `f` twice (and for at least a fifth of `target_ms`) to warm caches and allocators, then
/// times iterations until `target_ms` has passed (within [`MIN_ITERS`, `MAX_ITERS`]). Returns
/// the median iteration time in milliseconds and the number of timed iterations.
pub fn measure<E>(f: &mut dyn FnMut() -> Result<(), E>, target_ms: f64) -> Result<(f64, usize), E> {
    let warm_start = Instant::now();
    let mut warm = 0;
    while warm < 2 || (warm_start.elapsed().as_secs_f64() * 1e3 < target_ms / 5.0 && warm < MAX_ITERS) {
        f()?;
        warm += 1;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_ITERS || (start.elapsed().as_secs_f64() * 1e3 < target_ms && times.len() < MAX_ITERS) {
        let t0 = Instant::now();
        f()?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median(&mut times), times.len()))
}

/// The median (mean of the middle two for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
