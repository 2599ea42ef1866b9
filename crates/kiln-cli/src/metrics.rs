//! Classification metrics: running loss/accuracy sums and the confusion matrix.

use serde::Serialize;

/// Sums over the batches of an epoch or an evaluation; losses are means per batch, weighted by
/// the batch size, summed in f64.
#[derive(Clone, Debug, Default)]
pub struct Running {
    pub loss_sum: f64,
    pub correct: usize,
    pub n: usize,
}

impl Running {
    /// Adds a batch of `n` samples with mean loss `loss` and `correct` right predictions.
    pub fn add(&mut self, loss: f64, correct: usize, n: usize) {
        self.loss_sum += loss * n as f64;
        self.correct += correct;
        self.n += n;
    }

    /// Mean loss per sample (0 when empty).
    pub fn loss(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.loss_sum / self.n as f64
        }
    }

    /// Fraction of right predictions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.correct as f64 / self.n as f64
        }
    }
}

/// `matrix[true_class][predicted_class]` counts, as `sklearn.metrics.confusion_matrix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    pub matrix: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    pub fn new(num_classes: usize) -> ConfusionMatrix {
        ConfusionMatrix {
            matrix: vec![vec![0; num_classes]; num_classes],
        }
    }

    /// Counts each `(label, prediction)` pair; pairs outside `0..num_classes` are an error.
    pub fn add(&mut self, labels: &[i64], predictions: &[i64]) -> Result<(), String> {
        let k = self.matrix.len();
        for (&t, &p) in labels.iter().zip(predictions) {
            let (ti, pi) = (usize::try_from(t).ok(), usize::try_from(p).ok());
            match (ti, pi) {
                (Some(ti), Some(pi)) if ti < k && pi < k => self.matrix[ti][pi] += 1,
                _ => return Err(format!("class out of range 0..{k}: label {t}, prediction {p}")),
            }
        }
        Ok(())
    }

    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }

    /// A text table: rows are true classes, columns predictions, with per-class recall.
    pub fn render(&self) -> String {
        let k = self.matrix.len();
        let width = self.total().max(1).to_string().len().max(3);
        let mut s = format!("{:>8} ", "true\\pred");
        for c in 0..k {
            s += &format!("{c:>width$} ");
        }
        s += " recall\n";
        for (t, row) in self.matrix.iter().enumerate() {
            s += &format!("{t:>9} ");
            for v in row {
                s += &format!("{v:>width$} ");
            }
            let n: u64 = row.iter().sum();
            if n > 0 {
                s += &format!("{:>6.1}%\n", 100.0 * row[t] as f64 / n as f64);
            } else {
                s += "      -\n";
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_counts_rows_as_true_classes() {
        let mut cm = ConfusionMatrix::new(3);
        cm.add(&[0, 0, 1, 2, 2], &[0, 1, 1, 2, 0]).unwrap();
        assert_eq!(cm.matrix, vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 1]]);
        assert_eq!(cm.total(), 5);
        assert!(cm.add(&[3], &[0]).is_err());
        assert!(cm.render().contains("recall"));
    }

    #[test]
    fn running_means_weight_by_batch_size() {
        let mut r = Running::default();
        r.add(1.0, 2, 2);
        r.add(4.0, 0, 1);
        assert_eq!(r.loss(), 2.0);
        assert!((r.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    }
}
