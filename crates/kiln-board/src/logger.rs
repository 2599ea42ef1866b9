//! `MetricLogger`: one interface for scalar sinks (TensorBoard, CSV, ...).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use kiln_tensor::{Error, Result};

use crate::summary_writer::SummaryWriter;

/// A sink for scalar metrics.
pub trait MetricLogger {
    /// Records `value` for `tag` at `step`.
    fn log_scalar(&mut self, tag: &str, value: f64, step: i64) -> Result<()>;
    /// Makes everything logged so far durable.
    fn flush(&mut self) -> Result<()>;
}

impl MetricLogger for SummaryWriter {
    fn log_scalar(&mut self, tag: &str, value: f64, step: i64) -> Result<()> {
        self.add_scalar(tag, value, step);
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        SummaryWriter::flush(self)
    }
}

/// Writes `tag,step,value` rows (with that header) to a CSV file.
pub struct CsvLogger {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvLogger {
    /// Creates (truncates) `path` and writes the header row.
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| Error::file(&path, format!("cannot create csv log: {e}")))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "tag,step,value").map_err(|e| Error::file(&path, format!("cannot write csv log: {e}")))?;
        Ok(CsvLogger { path, out })
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl MetricLogger for CsvLogger {
    fn log_scalar(&mut self, tag: &str, value: f64, step: i64) -> Result<()> {
        writeln!(self.out, "{},{step},{value}", csv_field(tag))
            .map_err(|e| Error::file(&self.path, format!("cannot write csv log: {e}")))
    }
    fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::file(&self.path, format!("cannot flush csv log: {e}")))
    }
}
