//! TensorBoard event files: TFRecord framing with masked CRC32C ([`record`]), the event protos
//! ([`proto`]) and a background event-file writer ([`writer`]).

pub mod proto;
pub mod record;
pub mod writer;

pub use writer::{EventFileWriter, WriterConfig};
