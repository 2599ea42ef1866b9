//! `SummaryWriter` scalars/text read back from the event file, and the CSV `MetricLogger`.

use kiln_board::proto::{event, summary_value, Event};
use kiln_board::record::read_records;
use kiln_board::{CsvLogger, MetricLogger, SummaryWriter};
use prost::Message;

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-board-sw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn scalars_and_text_read_back() {
    let dir = tmpdir("scalars");
    let mut w = SummaryWriter::new(&dir).unwrap();
    w.add_scalar("loss", 0.5, 3);
    w.log_scalar("acc", 0.75, 4).unwrap();
    w.add_text("notes", "hello **kiln**", 5);
    w.close().unwrap();
    let records = read_records(&std::fs::read(w.file_writer().path()).unwrap()).unwrap();
    let events: Vec<Event> = records.iter().map(|r| Event::decode(r.as_slice()).unwrap()).collect();
    assert_eq!(events.len(), 4);
    let summary = |i: usize| match &events[i].what {
        Some(event::What::Summary(s)) => s.value[0].clone(),
        other => panic!("not a summary: {other:?}"),
    };
    let (loss, acc, text) = (summary(1), summary(2), summary(3));
    assert_eq!(
        (loss.tag.as_str(), events[1].step, loss.value),
        ("loss", 3, Some(summary_value::Value::SimpleValue(0.5)))
    );
    assert_eq!(
        (acc.tag.as_str(), events[2].step, acc.value),
        ("acc", 4, Some(summary_value::Value::SimpleValue(0.75)))
    );
    assert_eq!((text.tag.as_str(), events[3].step), ("notes/text_summary", 5));
    assert_eq!(text.metadata.unwrap().plugin_data.unwrap().plugin_name, "text");
    match text.value {
        Some(summary_value::Value::Tensor(t)) => {
            assert_eq!(t.dtype, 7);
            assert_eq!(t.tensor_shape.unwrap().dim[0].size, 1);
            assert_eq!(t.string_val, vec![b"hello **kiln**".to_vec()]);
        }
        other => panic!("text is not a tensor: {other:?}"),
    }
}

#[test]
fn csv_logger_rows() {
    let dir = tmpdir("csv");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("metrics.csv");
    let mut log = CsvLogger::new(&path).unwrap();
    log.log_scalar("train/loss", 1.5, 0).unwrap();
    log.log_scalar("a,b", -2.0, 7).unwrap();
    log.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "tag,step,value\ntrain/loss,0,1.5\n\"a,b\",7,-2\n"
    );
}

#[test]
fn add_scalars_writes_one_run_per_series() {
    let dir = tmpdir("add-scalars");
    let mut w = SummaryWriter::new(&dir).unwrap();
    w.add_scalars("loss/all", &[("train", 0.5), ("val", 0.75)], 7).unwrap();
    w.add_scalars("loss/all", &[("train", 0.25)], 8).unwrap();
    w.close().unwrap();
    for (series, want) in [("train", vec![(7, 0.5f32), (8, 0.25)]), ("val", vec![(7, 0.75)])] {
        let sub = dir.join(format!("loss_all_{series}"));
        let files: Vec<_> = std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "{series}");
        let records = read_records(&std::fs::read(&files[0]).unwrap()).unwrap();
        let got: Vec<(i64, f32)> = records[1..]
            .iter()
            .map(|r| {
                let e = Event::decode(r.as_slice()).unwrap();
                let Some(event::What::Summary(s)) = e.what else {
                    panic!("not a summary")
                };
                assert_eq!(s.value[0].tag, "loss/all");
                let Some(summary_value::Value::SimpleValue(v)) = s.value[0].value else {
                    panic!("not a scalar")
                };
                (e.step, v)
            })
            .collect();
        assert_eq!(got, want, "{series}");
    }
}
