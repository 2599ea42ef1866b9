//! `SummaryWriter`: the torch.utils.tensorboard-shaped front end over [`EventFileWriter`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_tensor::Result;

use crate::proto::{
    summary_value, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto, TensorShapeDim, TensorShapeProto,
    DT_STRING,
};
use crate::writer::EventFileWriter;

/// Writes summaries for TensorBoard into one run directory, like `torch.utils.tensorboard.SummaryWriter`.
pub struct SummaryWriter {
    pub(crate) logdir: PathBuf,
    pub(crate) writer: EventFileWriter,
    /// `add_scalars`' writers, one per `<logdir>/<main_tag>_<tag>` directory, by directory name.
    pub(crate) scalar_writers: BTreeMap<String, EventFileWriter>,
}

impl SummaryWriter {
    /// Opens a new event file in `logdir` (created if missing).
    pub fn new(logdir: impl AsRef<Path>) -> Result<Self> {
        let logdir = logdir.as_ref().to_path_buf();
        let writer = EventFileWriter::new(&logdir)?;
        Ok(SummaryWriter {
            logdir,
            writer,
            scalar_writers: BTreeMap::new(),
        })
    }

    /// The run directory.
    pub fn log_dir(&self) -> &Path {
        &self.logdir
    }

    /// The underlying event file writer (path, dropped count).
    pub fn file_writer(&self) -> &EventFileWriter {
        &self.writer
    }

    /// Logs a scalar as PyTorch does by default: a legacy `simple_value` (stored as f32).
    pub fn add_scalar(&mut self, tag: &str, value: f64, step: i64) {
        let v = SummaryValue {
            tag: tag.into(),
            value: Some(summary_value::Value::SimpleValue(value as f32)),
            ..Default::default()
        };
        self.writer.add_summary(Summary { value: vec![v] }, step);
    }

    /// Logs text as PyTorch does: tag `"<tag>/text_summary"`, a DT_STRING tensor of shape [1],
    /// plugin "text" with content `TextPluginData{version: 0}` (serialized as empty bytes).
    pub fn add_text(&mut self, tag: &str, text: &str, step: i64) {
        let metadata = SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "text".into(),
                content: Vec::new(),
            }),
            ..Default::default()
        };
        let tensor = TensorProto {
            dtype: DT_STRING,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![TensorShapeDim {
                    size: 1,
                    name: String::new(),
                }],
            }),
            string_val: vec![text.as_bytes().to_vec()],
            ..Default::default()
        };
        let v = SummaryValue {
            tag: format!("{tag}/text_summary"),
            metadata: Some(metadata),
            value: Some(summary_value::Value::Tensor(tensor)),
            ..Default::default()
        };
        self.writer.add_summary(Summary { value: vec![v] }, step);
    }

    /// Waits until everything logged so far is on disk; returns the first IO error, if any.
    pub fn flush(&mut self) -> Result<()> {
        let mut result = self.writer.flush();
        for w in self.scalar_writers.values() {
            result = result.and(w.flush());
        }
        result
    }

    /// Flushes and closes the event file.
    pub fn close(&mut self) -> Result<()> {
        let mut result = self.writer.close();
        for w in self.scalar_writers.values_mut() {
            result = result.and(w.close());
        }
        result
    }
}
