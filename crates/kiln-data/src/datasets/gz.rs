//! Reading files that may be gzip-compressed (detected by the gzip magic bytes, not the name).

use flate2::read::GzDecoder;
use kiln_tensor::{Error, Result};
use std::io::Read;
use std::path::Path;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start like a gzip stream.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// `bytes`, gunzipped when they are a gzip stream. The output is capped at `limit` bytes (an
/// error beyond), so a small malicious file cannot exhaust memory.
pub(crate) fn maybe_gunzip(bytes: Vec<u8>, name: &Path, limit: u64) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    GzDecoder::new(bytes.as_slice())
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::file(name, format!("not a valid gzip stream: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::file(
            name,
            format!("decompresses to more than {limit} bytes, larger than any data set this reader accepts"),
        ));
    }
    Ok(out)
}

/// The whole file, with an error naming it when it cannot be read.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))
}
