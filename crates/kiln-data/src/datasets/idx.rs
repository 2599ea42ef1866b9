//! The IDX format of the MNIST files: a big-endian magic `0x0000 08 nd` (unsigned bytes, `nd`
//! dims), `nd` big-endian u32 dims, then the raw bytes, row-major. Files may be gzipped.
//!
//! Every size is checked against the header before anything the header declares is allocated:
//! a plain file's length must match exactly; a gzipped one is read only as far as it goes (so
//! memory is bounded by the data actually there, never by a header's claim).

use super::gz;
use flate2::read::GzDecoder;
use kiln_tensor::{Error, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// An IDX array of unsigned bytes.
pub(crate) struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// What the dims mean, for messages: "60000 images of 28x28", "60000 labels".
fn describe(dims: &[usize]) -> String {
    match dims {
        [n] => format!("{n} labels"),
        [n, r, c] => format!("{n} images of {r}x{c}"),
        _ => format!("dims {dims:?}"),
    }
}

/// Reads an IDX file of unsigned bytes with `ndim` dims (1 for labels, 3 for images).
pub(crate) fn read(path: &Path, ndim: u8) -> Result<IdxArray> {
    let file = File::open(path).map_err(|e| Error::file(path, format!("cannot open: {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::file(path, format!("cannot read metadata: {e}")))?
        .len();
    let mut reader = BufReader::new(file);
    let mut head = [0u8; 4];
    read_header(&mut reader, &mut head, path, 0)?;
    if gz::is_gzip(&head) {
        let mut chained = GzDecoder::new(head.as_slice().chain(reader));
        let mut magic = [0u8; 4];
        read_header(&mut chained, &mut magic, path, 0)?;
        parse(&mut chained, magic, None, path, ndim)
    } else {
        parse(&mut reader, head, Some(file_len), path, ndim)
    }
}

/// Fills `buf` from `r`, or errors: the file ends inside the header (`at` bytes were read before).
fn read_header(r: &mut impl Read, buf: &mut [u8], path: &Path, at: usize) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(Error::file(
                    path,
                    format!(
                        "truncated: the file ends inside the IDX header, after {} bytes",
                        at + got
                    ),
                ))
            }
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::file(path, format!("cannot read: {e}"))),
        }
    }
    Ok(())
}

/// Parses the rest of an IDX stream after its 4 magic bytes. `file_len` is the stream's total
/// length when known (plain files); `None` for gzip streams.
fn parse(r: &mut impl Read, magic: [u8; 4], file_len: Option<u64>, path: &Path, ndim: u8) -> Result<IdxArray> {
    let expected = [0, 0, 0x08, ndim];
    if magic != expected {
        return Err(Error::file(
            path,
            format!(
                "bad magic number 0x{:08x}: expected 0x{:08x} (IDX of unsigned bytes with {ndim} dims)",
                u32::from_be_bytes(magic),
                u32::from_be_bytes(expected)
            ),
        ));
    }
    let mut raw = vec![0u8; 4 * ndim as usize];
    read_header(r, &mut raw, path, 4)?;
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let header_len = 4 + raw.len() as u64;
    let what = describe(&dims);
    let declared = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= isize::MAX as u64)
        .ok_or_else(|| {
            Error::file(
                path,
                format!("absurd header: {what} is more bytes than memory can hold"),
            )
        })?;
    let truncated = |held: u64| {
        Error::file(
            path,
            format!(
                "truncated: header declares {what} ({declared} bytes of data), file holds {held} bytes after its \
                 {header_len}-byte header"
            ),
        )
    };
    let extra = |held: u64| {
        Error::file(
            path,
            format!(
                "header declares {what} ({declared} bytes of data), but the file holds {held} bytes after its \
                 {header_len}-byte header"
            ),
        )
    };
    let data = match file_len {
        Some(len) => {
            let held = len.saturating_sub(header_len);
            if held < declared {
                return Err(truncated(held));
            }
            if held > declared {
                return Err(extra(held));
            }
            let mut data = vec![0u8; declared as usize];
            r.read_exact(&mut data)
                .map_err(|e| Error::file(path, format!("cannot read {declared} bytes of data: {e}")))?;
            data
        }
        None => {
            // Grows with what the stream holds; one byte past `declared` tells "too long".
            let mut data = Vec::new();
            r.take(declared + 1)
                .read_to_end(&mut data)
                .map_err(|e| Error::file(path, format!("not a valid gzip stream: {e}")))?;
            let held = data.len() as u64;
            if held < declared {
                return Err(truncated(held));
            }
            if held > declared {
                return Err(Error::file(
                    path,
                    format!("header declares {what} ({declared} bytes of data), but the file holds more"),
                ));
            }
            data
        }
    };
    Ok(IdxArray { dims, data })
}
