//! The loader's iterator: batches built in place, or by worker threads that each own every
//! `num_workers`-th batch and send it through a bounded channel, read back in order.

use crate::dataset::Batch;
use crate::loader::BuildBatch;
use kiln_tensor::{Error, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The batches of one epoch, in order, as `Result<Batch>`; see [`crate::DataLoader`].
///
/// After the first `Err` item the iterator ends. Dropping it stops the workers (each finishes at
/// most the batch it is building) and joins them.
pub struct DataLoaderIter {
    job: Option<Arc<dyn BuildBatch>>,
    next: usize,
    total: usize,
    workers: Option<Workers>,
    pending: Option<Error>,
}

struct Workers {
    receivers: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl DataLoaderIter {
    /// An iterator that yields `error` once.
    pub(crate) fn failed(error: Error) -> DataLoaderIter {
        DataLoaderIter {
            job: None,
            next: 0,
            total: 0,
            workers: None,
            pending: Some(error),
        }
    }

    pub(crate) fn start(job: Arc<dyn BuildBatch>, num_workers: usize, prefetch: usize) -> DataLoaderIter {
        let total = job.num_batches();
        let n = num_workers.min(total);
        let workers = if n == 0 {
            None
        } else {
            match Workers::spawn(&job, n, prefetch) {
                Ok(w) => Some(w),
                Err(e) => return DataLoaderIter::failed(e),
            }
        };
        DataLoaderIter {
            job: Some(job),
            next: 0,
            total,
            workers,
            pending: None,
        }
    }

    fn finish(&mut self) {
        self.job = None;
        self.workers = None;
        self.next = self.total;
    }
}

impl Iterator for DataLoaderIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.next >= self.total {
            self.finish();
            return None;
        }
        let b = self.next;
        self.next += 1;
        let result = match (&self.workers, &self.job) {
            (Some(w), _) => w.receive(b),
            (None, Some(job)) => job.build(b),
            (None, None) => return None,
        };
        if result.is_err() {
            self.finish();
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next.min(self.total) + usize::from(self.pending.is_some());
        (0, Some(left))
    }
}

impl Workers {
    fn spawn(job: &Arc<dyn BuildBatch>, n: usize, prefetch: usize) -> Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Workers {
            receivers: Vec::with_capacity(n),
            handles: Vec::with_capacity(n),
            stop: stop.clone(),
        };
        for w in 0..n {
            let (tx, rx) = sync_channel(prefetch);
            let (job, stop) = (job.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("kiln-data-worker-{w}"))
                .spawn(move || {
                    for b in (w..job.num_batches()).step_by(n) {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let result = catch_unwind(AssertUnwindSafe(|| job.build(b))).unwrap_or_else(|payload| {
                            Err(Error::Invalid {
                                op: "DataLoader",
                                msg: format!("worker {w} panicked building batch {b}: {}", panic_message(&*payload)),
                            })
                        });
                        let failed = result.is_err();
                        // A closed channel means the iterator was dropped: stop quietly.
                        if tx.send(result).is_err() || failed {
                            return;
                        }
                    }
                })
                .map_err(|e| Error::Invalid {
                    op: "DataLoader",
                    msg: format!("cannot start worker thread {w}: {e}"),
                })?;
            workers.receivers.push(rx);
            workers.handles.push(handle);
        }
        Ok(workers)
    }

    fn receive(&self, b: usize) -> Result<Batch> {
        let w = b % self.receivers.len();
        self.receivers[w].recv().unwrap_or_else(|_| {
            Err(Error::Invalid {
                op: "DataLoader",
                msg: format!("worker {w} stopped before sending batch {b}"),
            })
        })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing the channels wakes any worker blocked on a full one.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}
