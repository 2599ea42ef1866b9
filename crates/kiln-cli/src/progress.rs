//! Terminal progress: an indicatif bar per epoch on stderr (hidden when stderr is not a terminal)
//! and one summary line per epoch on stdout.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// The bar of one epoch: batches done, running loss and accuracy, samples/s, ETA.
pub struct EpochBar {
    bar: ProgressBar,
    start: Instant,
}

impl EpochBar {
    pub fn new(epoch: usize, epochs: usize, batches: usize) -> EpochBar {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{prefix} [{wide_bar:.cyan/blue}] {pos}/{len} {msg} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        EpochBar {
            bar,
            start: Instant::now(),
        }
    }

    /// Advances one batch and shows the running means over the `samples` seen so far.
    pub fn update(&self, loss: f64, accuracy: f64, samples: usize) {
        let rate = samples as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        self.bar.inc(1);
        self.bar.set_message(format!(
            "loss {loss:.4} acc {:.1}% {rate:.0} samples/s",
            100.0 * accuracy
        ));
    }

    /// Removes the bar (the epoch summary line replaces it).
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// What one epoch summary line reports.
pub struct EpochSummary {
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub lr: f64,
    pub seconds: f64,
    pub best: bool,
}

impl EpochSummary {
    /// `epoch  3/30  train loss 0.1234 acc 96.10%  val loss 0.1000 acc 97.22%  lr 9.5e-4  0.4s *`
    /// (`*` marks a new best validation accuracy).
    pub fn line(&self) -> String {
        let width = self.epochs.to_string().len();
        format!(
            "epoch {:>width$}/{}  train loss {:.4} acc {:6.2}%  val loss {:.4} acc {:6.2}%  lr {:.3e}  {:.1}s{}",
            self.epoch,
            self.epochs,
            self.train_loss,
            100.0 * self.train_acc,
            self.val_loss,
            100.0 * self.val_acc,
            self.lr,
            self.seconds,
            if self.best { "  *" } else { "" }
        )
    }
}
