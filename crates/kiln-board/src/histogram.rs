//! `add_histogram`: PyTorch's default ("tensorflow") bucket scheme and its trimming of empty
//! buckets, so Kiln's histograms are bucketed exactly like `torch.utils.tensorboard`'s.

use kiln_tensor::{Error, Result, Tensor};

use crate::proto::{summary_value, HistogramProto, Summary, SummaryValue};
use crate::summary_writer::SummaryWriter;

/// PyTorch's `SummaryWriter.default_bins`: `±1e-12 · 1.1^k` below `1e20`, and 0, ascending.
pub fn default_bins() -> Vec<f64> {
    let mut pos = Vec::new();
    let mut v = 1e-12;
    while v < 1e20 {
        pos.push(v);
        v *= 1.1;
    }
    let mut edges: Vec<f64> = pos.iter().rev().map(|v| -v).collect();
    edges.push(0.0);
    edges.extend(pos);
    edges
}

/// Counts `values` into the bins `edges` as `numpy.histogram` does: bin `i` holds
/// `edges[i] <= x < edges[i+1]`, the last bin also holds `x == edges[last]`, values outside are
/// not counted.
fn bin_counts(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let n = edges.len().saturating_sub(1);
    let mut counts = vec![0.0; n];
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else {
        return counts;
    };
    for &x in values {
        if x < lo || x > hi {
            continue;
        }
        let i = edges.partition_point(|&e| e <= x);
        counts[i.saturating_sub(1).min(n - 1)] += 1.0;
    }
    counts
}

/// Builds the `HistogramProto` that `torch.utils.tensorboard.summary.make_histogram` builds for
/// `values` and `edges`: counts with the empty buckets at both ends trimmed, keeping one empty
/// bucket before the first non-empty one; `bucket_limit[k]` is the right edge of bucket `k`.
///
/// Errors on no values, a non-finite value, or fewer than two edges.
pub fn make_histogram(values: &[f64], edges: &[f64]) -> Result<HistogramProto> {
    let err = |msg: String| Error::Invalid {
        op: "add_histogram",
        msg,
    };
    if values.is_empty() {
        return Err(err("the input has no element".into()));
    }
    if edges.len() < 2 {
        return Err(err(format!("need at least two bin edges, got {}", edges.len())));
    }
    if let Some(x) = values.iter().find(|x| !x.is_finite()) {
        return Err(err(format!("values must be finite, found {x}")));
    }
    let counts = bin_counts(values, edges);
    let (Some(first), Some(last)) = (
        counts.iter().position(|&c| c > 0.0),
        counts.iter().rposition(|&c| c > 0.0),
    ) else {
        return Err(err("no value falls inside the bins".into()));
    };
    // numpy: start = #leading empty bins, end = last non-empty + 1.
    let (start, end) = (first, last + 1);
    let bucket: Vec<f64> = if start > 0 {
        counts[start - 1..end].to_vec()
    } else {
        std::iter::once(0.0).chain(counts[..end].iter().copied()).collect()
    };
    let bucket_limit = edges[start..(end + 1).min(edges.len())].to_vec();
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    Ok(HistogramProto {
        min,
        max,
        num: values.len() as f64,
        sum: values.iter().sum(),
        sum_squares: values.iter().map(|x| x * x).sum(),
        bucket_limit,
        bucket,
    })
}

impl SummaryWriter {
    /// Logs a histogram of every element of `values` with PyTorch's default bins
    /// (`add_histogram(tag, values, step)` with `bins="tensorflow"`).
    pub fn add_histogram(&mut self, tag: &str, values: &Tensor, step: i64) -> Result<()> {
        let histo = make_histogram(&values.detach().to_vec_f64(), &default_bins())?;
        self.add_histogram_raw(tag, histo, step);
        Ok(())
    }

    /// Logs an already built histogram.
    pub fn add_histogram_raw(&mut self, tag: &str, histo: HistogramProto, step: i64) {
        let v = SummaryValue {
            tag: tag.into(),
            value: Some(summary_value::Value::Histo(histo)),
            ..Default::default()
        };
        self.writer.add_summary(Summary { value: vec![v] }, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bins_are_symmetric_and_sorted() {
        let b = default_bins();
        assert_eq!(b.len() % 2, 1);
        let mid = b.len() / 2;
        assert_eq!(b[mid], 0.0);
        assert_eq!(b[mid + 1], 1e-12);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.iter().zip(b.iter().rev()).all(|(a, c)| *a == -*c));
        assert!(*b.last().unwrap() < 1e20 && b.last().unwrap() * 1.1 >= 1e20);
    }

    #[test]
    fn trimming_matches_numpy_rules() {
        let edges = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        // bins: [0,1) [1,2) [2,3) [3,4) [4,5]; values land in bins 2, 2, 3 and 4 (5.0 is closed).
        let h = make_histogram(&[2.5, 2.0, 3.9, 5.0], &edges).unwrap();
        assert_eq!(h.bucket, vec![0.0, 2.0, 1.0, 1.0]);
        assert_eq!(h.bucket_limit, vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!((h.min, h.max, h.num), (2.0, 5.0, 4.0));
        assert_eq!(h.sum, 13.4);
        // first bin non-empty: a zero bucket is prepended and the limits start at edges[0].
        let h = make_histogram(&[0.5, 1.5], &edges).unwrap();
        assert_eq!(h.bucket, vec![0.0, 1.0, 1.0]);
        assert_eq!(h.bucket_limit, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(make_histogram(&[], &default_bins()).is_err());
        assert!(make_histogram(&[f64::NAN], &default_bins()).is_err());
        assert!(make_histogram(&[1.0], &[0.0]).is_err());
        assert!(make_histogram(&[9.0], &[0.0, 1.0]).is_err());
    }
}
