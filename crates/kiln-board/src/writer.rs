//! `EventFileWriter`: one `events.out.tfevents.*` file written by a background thread fed
//! through a bounded queue. A full queue drops the event (counted by [`EventFileWriter::dropped`])
//! so training never blocks. Each record is written whole with one `write_all` call, so a crash
//! leaves complete records plus at most one truncated tail, which TensorBoard's reader tolerates.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_tensor::{Error, Result};
use prost::Message;

use crate::proto::{event, Event, Summary, FILE_VERSION};
use crate::record::frame;

/// Options of an [`EventFileWriter`].
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Events the queue holds before new ones are dropped. Default 1024.
    pub max_queue: usize,
    /// Appended to the file name. Default empty.
    pub filename_suffix: String,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_queue: 1024,
            filename_suffix: String::new(),
        }
    }
}

impl WriterConfig {
    /// Sets `max_queue`.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = n;
        self
    }
    /// Sets `filename_suffix`.
    pub fn filename_suffix(mut self, s: impl Into<String>) -> Self {
        self.filename_suffix = s.into();
        self
    }
}

enum Msg {
    Record(Vec<u8>),
    Flush(SyncSender<()>),
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Seconds since the Unix epoch, as TensorBoard's `wall_time`.
pub fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Writes TFRecord-framed `Event`s to `<logdir>/events.out.tfevents.<secs>.<host>.<pid>.<n>`.
pub struct EventFileWriter {
    path: PathBuf,
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    error: Arc<Mutex<Option<Error>>>,
}

impl EventFileWriter {
    /// Creates `logdir` if missing and a new event file in it with default options.
    pub fn new(logdir: impl AsRef<Path>) -> Result<Self> {
        Self::with_config(logdir, WriterConfig::default())
    }

    /// Creates `logdir` if missing and a new event file in it; its first record is
    /// `Event{file_version: "brain.Event:2"}`.
    pub fn with_config(logdir: impl AsRef<Path>, config: WriterConfig) -> Result<Self> {
        let logdir = logdir.as_ref();
        std::fs::create_dir_all(logdir).map_err(|e| Error::file(logdir, format!("cannot create log dir: {e}")))?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!(
            "events.out.tfevents.{secs:010}.{}.{}.{}{}",
            hostname(),
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed),
            config.filename_suffix
        );
        let path = logdir.join(name);
        let mut file = File::create(&path).map_err(|e| Error::file(&path, format!("cannot create event file: {e}")))?;
        let first = Event {
            wall_time: wall_time(),
            step: 0,
            what: Some(event::What::FileVersion(FILE_VERSION.into())),
        };
        file.write_all(&frame(&first.encode_to_vec()))
            .and_then(|_| file.flush())
            .map_err(|e| Error::file(&path, format!("cannot write event file: {e}")))?;
        let (tx, rx) = mpsc::sync_channel(config.max_queue.max(1));
        let error = Arc::new(Mutex::new(None));
        let thread_error = Arc::clone(&error);
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-board-writer".into())
            .spawn(move || run(file, rx, thread_path, thread_error))
            .map_err(|e| Error::file(&path, format!("cannot start writer thread: {e}")))?;
        Ok(EventFileWriter {
            path,
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            error,
        })
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues `event` without blocking; a full queue (or a closed writer) drops it and increments
    /// [`Self::dropped`].
    pub fn add_event(&self, event: &Event) {
        let Some(tx) = &self.tx else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(Msg::Record(frame(&event.encode_to_vec()))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues an `Event{summary}` stamped with the current wall time.
    pub fn add_summary(&self, summary: Summary, step: i64) {
        self.add_event(&Event {
            wall_time: wall_time(),
            step,
            what: Some(event::What::Summary(summary)),
        });
    }

    /// Waits until every event queued so far is written and flushed; returns the first IO error
    /// the writer thread met, if any.
    pub fn flush(&self) -> Result<()> {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = mpsc::sync_channel(1);
            if tx.send(Msg::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
        self.take_error()
    }

    /// Flushes, stops the writer thread and returns the first IO error, if any.
    pub fn close(&mut self) -> Result<()> {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                return Err(Error::file(&self.path, "event writer thread panicked"));
            }
        }
        self.take_error()
    }

    fn take_error(&self) -> Result<()> {
        match self.error.lock() {
            Ok(mut e) => e.take().map_or(Ok(()), Err),
            Err(_) => Err(Error::file(&self.path, "event writer error state poisoned")),
        }
    }
}

impl Drop for EventFileWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn run(mut file: File, rx: Receiver<Msg>, path: PathBuf, error: Arc<Mutex<Option<Error>>>) {
    let record_error = |e: std::io::Error| {
        if let Ok(mut slot) = error.lock() {
            if slot.is_none() {
                *slot = Some(Error::file(&path, format!("cannot write event file: {e}")));
            }
        }
    };
    for msg in rx {
        match msg {
            Msg::Record(bytes) => {
                if let Err(e) = file.write_all(&bytes) {
                    record_error(e);
                }
            }
            Msg::Flush(done) => {
                if let Err(e) = file.flush().and_then(|_| file.sync_data()) {
                    record_error(e);
                }
                let _ = done.send(());
            }
        }
    }
    if let Err(e) = file.flush() {
        record_error(e);
    }
}
