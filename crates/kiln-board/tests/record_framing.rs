//! TFRecord framing and CRC32C against the published vectors (interop-specs §3.2, cross-checked
//! there against TensorBoard's own pure-Python crc code), and an event file written by
//! `EventFileWriter` read back record by record.

use kiln_board::proto::{event, summary_value, Event, Summary, SummaryValue, FILE_VERSION};
use kiln_board::record::{crc32c, frame, masked_crc32c, read_records};
use kiln_board::{EventFileWriter, WriterConfig};
use prost::Message;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn scalar_event(tag: &str, value: f32, step: i64, wall_time: f64) -> Event {
    let v = SummaryValue {
        tag: tag.into(),
        value: Some(summary_value::Value::SimpleValue(value)),
        ..Default::default()
    };
    Event {
        wall_time,
        step,
        what: Some(event::What::Summary(Summary { value: vec![v] })),
    }
}

#[test]
fn crc32c_check_values() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
    assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
}

#[test]
fn file_version_record_bytes() {
    let e = Event {
        wall_time: 1.0,
        step: 0,
        what: Some(event::What::FileVersion(FILE_VERSION.into())),
    };
    let data = e.encode_to_vec();
    assert_eq!(data, hex("09 000000000000f03f 1a 0d 627261696e2e4576656e743a32"));
    let want = hex("1800000000000000 a37f4b22 09000000000000f03f 1a0d 627261696e2e4576656e743a32 86bf577a");
    assert_eq!(frame(&data), want);
}

#[test]
fn scalar_record_bytes() {
    let e = scalar_event("loss", 0.5, 1, 1.0);
    let want = hex("1a00000000000000 129bd82d 09000000000000f03f 1001 2a0d 0a0b 0a04 6c6f7373 15 0000003f 27f95db1");
    assert_eq!(frame(&e.encode_to_vec()), want);
}

#[test]
fn reader_rejects_corruption_and_tolerates_truncated_tail() {
    let mut bytes = frame(b"first");
    bytes.extend(frame(b"second"));
    let full = bytes.len();
    bytes.extend(&frame(b"third")[..7]);
    assert_eq!(
        read_records(&bytes).unwrap(),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
    bytes.truncate(full - 2);
    assert_eq!(read_records(&bytes).unwrap(), vec![b"first".to_vec()]);
    let mut bad = frame(b"first");
    bad[13] ^= 1;
    assert!(read_records(&bad).is_err());
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-board-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn writer_file_name_first_record_and_scalars() {
    let dir = tmpdir("writer").join("nested/run");
    let mut w = EventFileWriter::new(&dir).unwrap();
    for step in 0..50 {
        w.add_event(&scalar_event("train/loss", step as f32 * 0.25, step, 2.0));
    }
    w.flush().unwrap();
    let path = w.path().to_path_buf();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let parts: Vec<&str> = name.split('.').collect();
    assert_eq!(&parts[..3], &["events", "out", "tfevents"], "{name}");
    assert_eq!(parts[3].len(), 10, "{name}");
    assert_eq!(parts[parts.len() - 2], std::process::id().to_string(), "{name}");
    // flush() put everything on disk before close
    let records = read_records(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(records.len(), 51);
    w.close().unwrap();
    let first = Event::decode(records[0].as_slice()).unwrap();
    assert_eq!(first.what, Some(event::What::FileVersion("brain.Event:2".into())));
    assert!(first.wall_time > 1.0e9);
    for (step, r) in records[1..].iter().enumerate() {
        assert_eq!(
            Event::decode(r.as_slice()).unwrap(),
            scalar_event("train/loss", step as f32 * 0.25, step as i64, 2.0)
        );
    }
    // a truncated tail still yields every complete record
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(read_records(&bytes[..bytes.len() - 5]).unwrap().len(), 50);
    assert_eq!(w.dropped(), 0);
}

#[test]
fn full_queue_drops_instead_of_blocking() {
    let dir = tmpdir("drop");
    let mut w = EventFileWriter::with_config(&dir, WriterConfig::default().max_queue(1)).unwrap();
    let n = 20_000;
    for step in 0..n {
        w.add_event(&scalar_event("x", 1.0, step, 1.0));
    }
    w.close().unwrap();
    let written = read_records(&std::fs::read(w.path()).unwrap()).unwrap().len() as u64 - 1;
    assert_eq!(written + w.dropped(), n as u64);
    // after close nothing can be queued: every event is counted as dropped, nothing blocks
    let before = w.dropped();
    w.add_event(&scalar_event("x", 1.0, 0, 1.0));
    assert_eq!(w.dropped(), before + 1);
}

#[test]
fn unwritable_log_dir_is_a_file_error() {
    let dir = tmpdir("err");
    std::fs::create_dir_all(&dir).unwrap();
    let blocker = dir.join("not_a_dir");
    std::fs::write(&blocker, b"x").unwrap();
    let err = EventFileWriter::new(blocker.join("run")).err().expect("must fail");
    assert!(matches!(err, kiln_tensor::Error::File { .. }), "{err:?}");
}
