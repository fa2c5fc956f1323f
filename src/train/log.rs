//! What a training run says while it runs: a bar on a terminal; otherwise a timestamped line
//! every `--log-interval` batches (by default about four per epoch, and one at least every 30 s),
//! each with the time left in the whole run; and, after the first steps, the run's expected
//! duration in plain words.
//!
//! The time left is the remaining steps at the measured time per step (the first step of the
//! process, which compiles the kernels, left out) plus the evaluations still to come at the
//! measured time of the last one (before any, estimated as a third of training's cost per
//! image: a forward pass without the backward).

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::schedule::epoch_label;
use crate::progress::{self, duration, significant, MAX_QUIET};

/// Steps of this process after which the run's duration is estimated (the first compiles the
/// kernels and is not counted).
const ESTIMATE_AFTER: usize = 3;

/// Above this, an estimate on a software adapter comes with advice.
const LONG_SECONDS: f64 = 3600.0;

/// The shape of a run, for counting what is left of it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub per_epoch: usize,
    pub epochs: usize,
    pub eval_every: usize,
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub eval_images: usize,
}

impl Plan {
    /// The global step at which this process stops.
    fn end_step(&self) -> usize {
        let all = self.epochs * self.per_epoch;
        self.max_steps.map_or(all, |m| m.min(all))
    }

    /// Steps and evaluations left from `global_step`, when the evaluations of epochs before
    /// `epoch` are done: each evaluated epoch that ends before the run stops (the last epoch's
    /// is also the final report).
    ///
    /// Counted, not walked: it runs after every step, and a run may have a million epochs.
    pub fn left(&self, global_step: usize, epoch: usize) -> (usize, usize) {
        let end = self.end_step();
        // Epochs e < ends end before the run stops.
        let ends = match self.per_epoch {
            0 => self.epochs,
            n => self.epochs.min(end / n),
        };
        let evals = if epoch >= ends {
            0
        } else {
            // Epochs e in [epoch, ends) with e + 1 a multiple of eval_every, and the last epoch
            // when it is not one of those.
            let every = self.eval_every.max(1);
            let periodic = ends / every - epoch / every;
            let last = ends == self.epochs && !self.epochs.is_multiple_of(every);
            periodic + usize::from(last)
        };
        (end.saturating_sub(global_step), evals)
    }
}

/// Where the run stands, for one progress line.
pub(super) struct Status {
    pub epoch: usize,
    pub batch: usize,
    pub global_step: usize,
    /// Mean loss of the epoch so far.
    pub loss: f64,
    pub lr: f32,
    pub images_per_s: f64,
}

pub(super) struct RunLog {
    plan: Plan,
    /// Without a terminal: a line every this many batches of an epoch.
    every: usize,
    /// Also a line whenever [`MAX_QUIET`] passed (the default rule).
    timed: bool,
    adapter: String,
    software: bool,
    bar: Option<ProgressBar>,
    last_line: Instant,
    /// Steps of this process, and the seconds of those after the first.
    steps: usize,
    first_step_seconds: f64,
    later_step_seconds: f64,
    eval_seconds: Option<f64>,
}

impl RunLog {
    pub fn new(plan: Plan, log_interval: Option<u64>, adapter: String, software: bool) -> Self {
        let every = match log_interval {
            Some(n) => n as usize,
            None => plan.per_epoch.div_ceil(4),
        };
        RunLog {
            plan,
            every: every.max(1),
            timed: log_interval.is_none(),
            adapter,
            software,
            bar: None,
            last_line: Instant::now(),
            steps: 0,
            first_step_seconds: 0.0,
            later_step_seconds: 0.0,
            eval_seconds: None,
        }
    }

    /// Seconds per step as measured in this process (`None` before the first step).
    fn step_seconds(&self) -> Option<f64> {
        match self.steps {
            0 => None,
            1 => Some(self.first_step_seconds),
            n => Some(self.later_step_seconds / (n - 1) as f64),
        }
    }

    /// Seconds left in the run (see the module's doc), `None` before the first step.
    pub fn seconds_left(&self, global_step: usize, epoch: usize) -> Option<f64> {
        let step = self.step_seconds()?;
        let (steps, evals) = self.plan.left(global_step, epoch);
        let eval = self.eval_seconds.unwrap_or_else(|| {
            self.plan.eval_images.div_ceil(self.plan.batch_size) as f64 * step / 3.0
        });
        Some(steps as f64 * step + evals as f64 * eval)
    }

    fn eta(&self, global_step: usize, epoch: usize) -> String {
        self.seconds_left(global_step, epoch)
            .map_or("unknown".into(), duration)
    }

    /// The bar of epoch `epoch` (on a terminal), from batch `batch` (global step `global_step`).
    pub fn start_epoch(&mut self, epoch: usize, batch: usize, global_step: usize) {
        if !progress::terminal() {
            return;
        }
        let bar = ProgressBar::new(self.plan.per_epoch as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}, epoch ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(epoch_label(epoch, self.plan.epochs));
        bar.set_message(match self.seconds_left(global_step, epoch) {
            Some(left) => format!("run ETA {}", duration(left)),
            None => "first step (compiles the kernels)".into(),
        });
        bar.set_position(batch as u64);
        self.bar = Some(bar);
    }

    /// After a step that took `seconds`: the bar, or a line when one is due; after the first
    /// steps, the estimate of the run's duration.
    pub fn step_done(&mut self, s: &Status, seconds: f64) {
        self.steps += 1;
        if self.steps == 1 {
            self.first_step_seconds = seconds;
        } else {
            self.later_step_seconds += seconds;
        }
        let eta = self.eta(s.global_step, s.epoch);
        match &self.bar {
            Some(bar) => {
                bar.set_position(s.batch as u64);
                bar.set_message(format!(
                    "loss {:.4}  {} img/s  run ETA {eta}",
                    s.loss,
                    significant(s.images_per_s)
                ));
            }
            None => {
                let due = s.batch.is_multiple_of(self.every)
                    || (self.timed && self.last_line.elapsed() >= MAX_QUIET);
                if due {
                    eprintln!(
                        "{} {} batch {}/{}: loss {:.4}, lr {}, {} images/s, run ETA {eta}",
                        progress::now(),
                        epoch_label(s.epoch, self.plan.epochs),
                        s.batch,
                        self.plan.per_epoch,
                        s.loss,
                        s.lr,
                        significant(s.images_per_s),
                    );
                    self.last_line = Instant::now();
                }
            }
        }
        if self.steps == ESTIMATE_AFTER {
            if let Some(left) = self.seconds_left(s.global_step, s.epoch) {
                let line = self.estimate(left);
                self.print(&line);
            }
        }
    }

    /// The run's expected duration in plain words, with advice when it is long on a software
    /// adapter.
    pub fn estimate(&self, seconds_left: f64) -> String {
        let step = self.step_seconds().unwrap_or(0.0);
        let mut line = format!(
            "{} the run should end in about {}: {} s per step of {} images on {}, measured over \
             its first steps",
            progress::now(),
            duration(seconds_left),
            significant(step),
            self.plan.batch_size,
            self.adapter
        );
        if self.software && seconds_left > LONG_SECONDS {
            line += &format!(
                "; {} is a software adapter (the CPU): try --preset quick (minutes) or a GPU",
                self.adapter
            );
        }
        line
    }

    /// A line above the bar (or plain without a terminal).
    pub fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar of an epoch that stopped (the line after it says why).
    pub fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }

    /// Clears the bar of a finished epoch.
    pub fn end_epoch(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Records how long an evaluation took, for the time left.
    pub fn eval_done(&mut self, seconds: f64) {
        self.eval_seconds = Some(seconds);
        self.last_line = Instant::now();
    }

    /// The epoch's closing line: timestamp, the line as `metrics.jsonl` holds it, and the time
    /// left (unless the run is over).
    pub fn epoch_line(&mut self, epoch: usize, global_step: usize, json: &serde_json::Value) {
        let eta = match self.plan.left(global_step, epoch + 1) {
            (0, _) => String::new(),
            _ => format!(" (run ETA {})", self.eta(global_step, epoch + 1)),
        };
        eprintln!(
            "{} {}: {json}{eta}",
            progress::now(),
            epoch_label(epoch, self.plan.epochs)
        );
        self.last_line = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(max_steps: Option<usize>) -> Plan {
        Plan {
            per_epoch: 10,
            epochs: 4,
            eval_every: 2,
            max_steps,
            batch_size: 8,
            eval_images: 48,
        }
    }

    #[test]
    fn counts_the_steps_and_evaluations_left() {
        let p = plan(None);
        // Epochs 1 and 3 (numbered from 0) are evaluated; epoch 3's is the final report.
        assert_eq!(p.left(0, 0), (40, 2));
        assert_eq!(p.left(20, 1), (20, 2));
        assert_eq!(p.left(20, 2), (20, 1));
        assert_eq!(p.left(40, 3), (0, 1));
        assert_eq!(p.left(40, 4), (0, 0));
        // --max-steps 25 stops in epoch 2: only epoch 1's evaluation is still to come.
        assert_eq!(plan(Some(25)).left(5, 0), (20, 1));
        assert_eq!(plan(Some(25)).left(25, 2), (0, 0));
    }

    /// The count agrees with walking the epochs one by one, on every small plan.
    #[test]
    fn evaluations_left_are_counted_as_walking_the_epochs_would() {
        for (epochs, per_epoch, eval_every) in
            (1..9).flat_map(|e| (0..4).flat_map(move |n| (1..5).map(move |v| (e, n, v))))
        {
            for max_steps in [None, Some(0), Some(3), Some(7), Some(13)] {
                let p = Plan {
                    per_epoch,
                    epochs,
                    eval_every,
                    max_steps,
                    batch_size: 8,
                    eval_images: 48,
                };
                for epoch in 0..=epochs + 1 {
                    // Evaluated: every eval_every-th epoch and the last, if it ends in time.
                    let walked = (epoch..epochs)
                        .filter(|&e| (e + 1).is_multiple_of(eval_every) || e + 1 == epochs)
                        .filter(|&e| (e + 1) * per_epoch <= p.end_step())
                        .count();
                    assert_eq!(p.left(0, epoch).1, walked, "{p:?} from epoch {epoch}");
                }
            }
        }
    }

    #[test]
    fn the_time_left_counts_steps_at_their_measured_time_and_evaluations() {
        let mut log = RunLog::new(plan(None), None, "llvmpipe on Vulkan".into(), true);
        assert_eq!(log.every, 3);
        assert_eq!(log.seconds_left(0, 0), None);
        let status = |global_step| Status {
            epoch: 0,
            batch: global_step,
            global_step,
            loss: 1.0,
            lr: 0.1,
            images_per_s: 1.0,
        };
        // The first step (kernel compilation) is left out once later steps are measured.
        log.step_done(&status(1), 30.0);
        log.step_done(&status(2), 2.0);
        log.step_done(&status(3), 4.0);
        // 37 steps at 3 s; 2 evaluations of 6 batches, each a third of a step's time.
        assert_eq!(log.seconds_left(3, 0), Some(37.0 * 3.0 + 2.0 * 6.0));
        log.eval_done(10.0);
        assert_eq!(log.seconds_left(3, 0), Some(37.0 * 3.0 + 20.0));
        assert_eq!(
            RunLog::new(plan(None), Some(7), String::new(), false).every,
            7
        );
    }

    #[test]
    fn a_long_run_on_a_software_adapter_gets_advice() {
        let mut log = RunLog::new(plan(None), None, "llvmpipe on Vulkan".into(), true);
        log.steps = 1;
        log.first_step_seconds = 2.0;
        let long = log.estimate(38.0 * 86_400.0);
        assert!(
            long.contains(
                "the run should end in about 38 days: 2.00 s per step of 8 images on \
                 llvmpipe on Vulkan"
            ) && long.ends_with("try --preset quick (minutes) or a GPU"),
            "{long}"
        );
        assert!(!log.estimate(600.0).contains("--preset"));
        log.software = false;
        assert!(!log.estimate(38.0 * 86_400.0).contains("--preset"));
    }
}
