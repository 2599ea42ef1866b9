//! TensorBoard event files: TFRecord framing with masked CRC32C ([`record`]), the event protos
//! ([`proto`]) and a background event-file writer ([`writer`]),
//! the `SummaryWriter` front end ([`summary_writer`]) and scalar sinks ([`logger`]).

pub mod histogram;
pub mod logger;
pub mod proto;
pub mod record;
pub mod scalars;
pub mod summary_writer;
pub mod writer;

pub use logger::{CsvLogger, MetricLogger};
pub use summary_writer::SummaryWriter;
pub use writer::{EventFileWriter, WriterConfig};
