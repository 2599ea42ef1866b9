//! `add_scalars`: several related scalars on one chart, written as PyTorch does, one run
//! directory per series (`<logdir>/<main_tag>_<tag>`), each value under the tag `main_tag`.

use kiln_tensor::Result;

use crate::proto::{summary_value, Summary, SummaryValue};
use crate::summary_writer::SummaryWriter;
use crate::writer::EventFileWriter;

impl SummaryWriter {
    /// Logs `values` (series name, value) at `step`. Series `tag` goes to the run
    /// `<logdir>/<main_tag with '/' replaced by '_'>_<tag>`, opened on first use, so TensorBoard
    /// overlays the series on the chart `main_tag`. Errors only when a series' directory or event
    /// file cannot be created.
    pub fn add_scalars(&mut self, main_tag: &str, values: &[(&str, f64)], step: i64) -> Result<()> {
        for &(tag, value) in values {
            let dir = format!("{}_{tag}", main_tag.replace('/', "_"));
            if !self.scalar_writers.contains_key(&dir) {
                let w = EventFileWriter::new(self.logdir.join(&dir))?;
                self.scalar_writers.insert(dir.clone(), w);
            }
            let v = SummaryValue {
                tag: main_tag.into(),
                value: Some(summary_value::Value::SimpleValue(value as f32)),
                ..Default::default()
            };
            if let Some(w) = self.scalar_writers.get(&dir) {
                w.add_summary(Summary { value: vec![v] }, step);
            }
        }
        Ok(())
    }
}
