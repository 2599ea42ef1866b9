//! Parallelism policy: how many threads, and when a job is big enough to split.

use std::sync::atomic::{AtomicUsize, Ordering};

static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Elements below which an elementwise job stays on the calling thread.
pub const ELEMENTWISE_PAR_THRESHOLD: usize = 1 << 15;

/// Sets the number of threads kernels may use (like `torch.set_num_threads`). `0` restores the
/// default (rayon's global pool size).
pub fn set_num_threads(n: usize) {
    NUM_THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads kernels use.
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads().max(1),
        n => n,
    }
}

/// Chunks per thread that [`chunk_len`] aims for: more than one, so that rayon's work stealing
/// evens out a thread that is descheduled or slowed (shared machines, hyperthreads).
pub const CHUNKS_PER_THREAD: usize = 4;

/// Chunk length that splits `len` elements into about [`CHUNKS_PER_THREAD`] chunks per thread
/// (each at least `min`, rounded up to a multiple of 64).
pub fn chunk_len(len: usize, min: usize) -> usize {
    let t = num_threads();
    // A multiple of 64 elements, so that chunks after the first start as aligned as it does.
    len.div_ceil(t * CHUNKS_PER_THREAD).max(min).max(1).next_multiple_of(64)
}

/// True when a job of `len` elements should be split across threads.
#[inline]
pub fn should_split(len: usize, threshold: usize) -> bool {
    len >= threshold && num_threads() > 1
}
