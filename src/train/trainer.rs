//! One training run in memory: its data, model and noise, the loop over epochs and steps
//! (each one [`Step`]: data → noise → forward → loss → backward → SGD), per-epoch evaluation,
//! metrics and checkpoints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::json;

use super::args::{NanPolicy, NoiseStatsSource, TrainArgs};
use super::checkpoint::{self, Checkpoint};
use super::error::{Result, TrainError};
use super::files::{write_atomic, BEST, LAST, METRICS_FILE, REPORT_FILE};
use super::import;
use super::log::{Plan, RunLog, Status};
use super::loss_scale::{self, LossScaler};
use super::metrics::{self, EvalReport};
use super::run_config::RunConfig;
use super::schedule::{epoch_label, Schedule};
use super::state::{self, Momentum};
use super::step::{Step, StepBatch, StepResult};
use crate::autograd::Tape;
use crate::data::cifar::Split;
use crate::data::fetch::{archive_url, fetch, official_md5, FetchRequest};
use crate::data::loader::eval_batches;
use crate::data::stats::subset_stats;
use crate::data::DataPipeline;
use crate::error::human_bytes;
use crate::gpu::tensor::Tensor;
use crate::gpu::Gpu;
use crate::models::{Model, ModelConfig, ModelKind, Pass};
use crate::ops::noise::NoiseStats;
use crate::optim::Sgd;
use crate::params::{ParamId, ParamStore};
use crate::progress::{Progress, Unit};

/// How a call to `train` ended.
pub struct Outcome {
    pub run_dir: PathBuf,
    /// Stopped early (Ctrl-C or --max-steps) with a checkpoint to resume from.
    pub interrupted: bool,
    pub report: Option<EvalReport>,
}

/// Where a run stands: the next batch to train and the running sums of its epoch, so a resumed
/// run's epoch metrics equal an uninterrupted one's.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Position {
    pub(super) epoch: usize,
    pub(super) batch: usize,
    pub(super) global_step: usize,
    best_top1: Option<f64>,
    pub(super) epoch_loss_sum: f64,
    pub(super) epoch_correct: usize,
    pub(super) epoch_samples: usize,
    pub(super) epoch_seconds: f64,
    /// Steps of this epoch left out for a non-finite loss (`--nan-policy skip`).
    #[serde(default)]
    pub(super) epoch_skipped: usize,
    #[serde(default)]
    pub(super) skipped_total: usize,
    /// `--loss-scale dynamic`'s state (absent from checkpoints of runs without it).
    #[serde(default)]
    pub(super) loss_scaler: Option<LossScaler>,
    /// Steps of this epoch skipped because the scaled gradients overflowed.
    #[serde(default)]
    pub(super) epoch_overflows: usize,
}

/// How [`Trainer::train_epoch`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EpochEnd {
    Finished,
    /// Interrupted or at `--max-steps`, with `last` saved.
    Stopped,
}

/// What the epoch loop carries from one epoch to the next besides the [`Position`].
struct LoopState {
    /// The process's first step: a GPU failure after it knows a step's real memory need.
    first_step: usize,
    /// Non-finite steps in a row under `--nan-policy skip`.
    skipped_in_a_row: usize,
    /// The checkpoint a failure points to.
    last_checkpoint: Option<PathBuf>,
    log: RunLog,
}

/// SplitMix64: independent seeds for each (run seed, purpose, step).
pub fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Refuses a batch whose activations cannot be bound on this adapter, before any work. (wgpu
/// offers no portable query of total GPU memory; the per-binding limit is what can be checked.)
fn check_batch_fits(gpu: &Gpu, kind: ModelKind, batch: usize) -> Result<()> {
    let limits = gpu.limits();
    let limit = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let per_sample = (kind.largest_activation_per_sample() as u64).saturating_mul(4);
    let need = per_sample.saturating_mul(batch as u64);
    if need > limit {
        let mib = |b: u64| b as f64 / 1048576.0;
        return Err(TrainError::arg(
            "--batch-size",
            format!(
                "{kind} at batch {batch} needs an activation tensor of {:.0} MiB, above {}'s binding limit of {:.0} MiB; the largest batch that fits is {}",
                mib(need),
                gpu.info().name,
                mib(limit),
                limit / per_sample
            ),
        ));
    }
    Ok(())
}

/// Loads the data, fetching the dataset first when the folder lacks it (unless --no-download).
fn load_data(args: &TrainArgs) -> Result<DataPipeline> {
    let subset = &args.data.subset;
    let dir = subset.data_dir();
    let kind = subset.dataset;
    let present = dir.join(kind.dir_name()).exists()
        || kind.archive_names().iter().any(|a| dir.join(a).exists());
    if !present && !args.no_download {
        eprintln!(
            "{} is not in {}; fetching it (pass --no-download to stop this)",
            kind.name(),
            dir.display()
        );
        fetch(&FetchRequest {
            kind,
            url: archive_url(kind, None),
            md5: official_md5(kind).into(),
            data_dir: dir.clone(),
            progress: true,
        })?;
    }
    Ok(args.data.build(args.batch_size, args.seed)?)
}

pub(super) struct Trainer {
    pub(super) gpu: Gpu,
    /// The run's identity and flags as `config.json` holds them.
    pub(super) config: RunConfig,
    pub(super) run_dir: PathBuf,
    pub(super) data: DataPipeline,
    pub(super) model: Model,
    pub(super) noise: NoiseStats,
    pub(super) schedule: Schedule,
    pub(super) train_counts: Vec<usize>,
    /// Copies of the BN statistics taken before each step under `--nan-policy skip`, so a
    /// skipped step leaves no trace.
    pub(super) bn_backup: Vec<Tensor>,
}

impl Trainer {
    /// The run's flags.
    pub(super) fn args(&self) -> &TrainArgs {
        &self.config.args
    }

    pub(super) fn new(gpu: &Gpu, config: RunConfig, run_dir: PathBuf) -> Result<Trainer> {
        let args = &config.args;
        args.validate()?;
        // Flags first, data second: a typo should not wait for (or trigger) a download.
        let kind: ModelKind = args.model.parse()?;
        check_batch_fits(gpu, kind, args.batch_size)?;
        // A run that keeps a copy of its index list reads the copy, once proven unchanged.
        let data = match (&args.data.subset.subset_indices, &config.subset_indices) {
            (Some(_), Some(copy)) => {
                let mut from_copy = args.clone();
                from_copy.data.subset.subset_indices = Some(copy.verify(&run_dir)?);
                load_data(&from_copy)?
            }
            _ => load_data(args)?,
        };
        let classes = data.cifar.class_names.len();
        let model_config = ModelConfig {
            kind,
            classes,
            bn: args.bn,
            dropout: args.dropout,
        };
        let model =
            Model::new(gpu, model_config, args.seed)?.with_precision(gpu, args.precision)?;
        let (mean, std) = match args.noise_stats {
            NoiseStatsSource::Dataset => data.cifar.kind.standard_mean_std(),
            NoiseStatsSource::Subset => {
                let s = subset_stats(
                    &data.cifar.train,
                    &data.subset.indices,
                    &data.cifar.class_names,
                );
                (s.mean.map(|v| v as f32), s.std.map(|v| v as f32))
            }
        };
        let normalize = args
            .noise_normalize
            .then_some((&data.mean[..], &data.std[..]));
        let noise = NoiseStats::new(gpu, &mean, &std, normalize)?;
        let schedule = Schedule {
            base_lr: args.lr,
            warmup_epochs: args.warmup_epochs,
            milestones: args.milestones.clone(),
            decay: args.lr_decay,
        };
        let bn_backup = match args.nan_policy {
            NanPolicy::Skip => model
                .params
                .buffers()
                .map(|(_, t)| gpu.zeros("bn backup", t.shape()))
                .collect::<crate::Result<_>>()?,
            NanPolicy::Stop => Vec::new(),
        };
        let mut train_counts = vec![0; classes];
        for &i in &data.subset.indices {
            train_counts[data.cifar.train.labels[i] as usize] += 1;
        }
        if let Some(note) = &data.subset.note {
            eprintln!("{note}");
        }
        eprintln!(
            "{} ({} parameters) on {}: {} training images, {} classes, {} batches of {} per epoch",
            args.model,
            model.params.count(),
            gpu.info().name,
            data.subset.indices.len(),
            classes,
            data.loader.batches_per_epoch(),
            args.batch_size
        );
        Ok(Trainer {
            gpu: gpu.clone(),
            config,
            run_dir,
            data,
            model,
            noise,
            schedule,
            train_counts,
            bn_backup,
        })
    }

    /// Applies `--init-from`: loads the checkpoint (parameters, BN statistics and, unless
    /// `--weights-only`, momentum when the file holds it) and returns where training starts
    /// (`--start-epoch`, or the epoch after the checkpoint's).
    pub(super) fn init_from(&self) -> Result<Position> {
        let Some(path) = &self.args().init_from else {
            return Ok(Position::default());
        };
        let imported = import::load(path)?;
        for note in &imported.notes {
            eprintln!("{}: {note}", path.display());
        }
        let next = import::next_epoch(&imported.checkpoint);
        let momentum = if self.args().weights_only {
            Momentum::Skip
        } else {
            Momentum::IfPresent
        };
        let loaded = state::restore(&self.gpu, &self.model, path, imported.checkpoint, momentum)?;
        let (epoch, why) = match (self.args().start_epoch, next) {
            (Some(e), _) => (e, "--start-epoch".to_string()),
            (None, _) if self.args().weights_only => (0, "--weights-only".to_string()),
            (None, Some((e, false))) => (e, "the epoch after the checkpoint's".to_string()),
            (None, Some((e, true))) => (
                e,
                "the epoch the checkpoint stopped in, from its first batch (--resume its run \
                 folder to continue at the very batch)"
                    .to_string(),
            ),
            (None, None) => (0, "the checkpoint records no epoch".to_string()),
        };
        if epoch >= self.args().epochs {
            return Err(TrainError::arg(
                "--start-epoch",
                format!(
                    "training would start at epoch {epoch} ({why}), but --epochs {} ends the run \
                     before it; raise --epochs, or pass --start-epoch 0 (or --weights-only) to \
                     run the whole schedule from these weights",
                    self.args().epochs
                ),
            ));
        }
        let momentum = match (loaded.momentum, momentum) {
            (0, Momentum::Skip) => " (momentum skipped: --weights-only)",
            (0, _) => " (the file holds no momentum: it starts at zero)",
            _ => "",
        };
        eprintln!(
            "initialized from {}: {loaded}{momentum}; training from epoch {epoch} ({why})",
            path.display()
        );
        Ok(Position {
            epoch,
            global_step: epoch * self.data.loader.batches_per_epoch(),
            ..Position::default()
        })
    }

    /// Settings that make part of the run pointless, for the user to see before it starts.
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut out = self.args().warnings();
        let empty: Vec<String> = (self.train_counts.iter().enumerate())
            .filter(|(_, &n)| n == 0)
            .map(|(k, _)| format!("{k} ({})", self.data.cifar.class_names[k]))
            .collect();
        if !empty.is_empty() {
            out.push(format!(
                "{} of {} classes have no training images: {}; the model can still predict \
                 them, but never learns them, and their test images count as errors",
                empty.len(),
                self.train_counts.len(),
                empty.join(", ")
            ));
        }
        out
    }

    /// Size of one checkpoint: parameters, BN buffers and momentum as f32, plus a header.
    pub(super) fn checkpoint_bytes(&self) -> u64 {
        let p = &self.model.params;
        let buffers: usize = p.buffers().map(|(_, t)| t.numel()).sum();
        (2 * p.count() + buffers) as u64 * 4 + 64 * 1024
    }

    /// Trains from `pos` to the last epoch (or until `stop` or `--max-steps`), then evaluates
    /// and writes the final report.
    pub(super) fn run(self, mut pos: Position, stop: &AtomicBool) -> Result<Outcome> {
        self.start_scaler(&mut pos);
        let mut state = LoopState {
            first_step: pos.global_step,
            skipped_in_a_row: 0,
            last_checkpoint: (self.run_dir.join(LAST).exists()).then(|| self.run_dir.join(LAST)),
            log: self.run_log(),
        };
        // The last epoch is always evaluated: that evaluation is the final report.
        let mut last_report = None;
        while pos.epoch < self.args().epochs {
            let lr = self.schedule.lr(pos.epoch);
            let ended = self.train_epoch(&mut pos, lr, stop, &mut state)?;
            if ended == EpochEnd::Stopped {
                return Ok(Outcome {
                    run_dir: self.run_dir,
                    interrupted: true,
                    report: None,
                });
            }
            let (checkpoint, report) = self.end_epoch(&mut pos, lr, &mut state.log)?;
            state.last_checkpoint = Some(checkpoint);
            last_report = report;
        }
        if pos.skipped_total > 0 {
            eprintln!(
                "{} steps were skipped for a non-finite loss (--nan-policy skip; per epoch in {METRICS_FILE})",
                pos.skipped_total
            );
        }
        if let Some(s) = pos.loss_scaler.filter(|s| s.skipped > 0) {
            eprintln!(
                "{} skipped because the scaled gradients overflowed (--loss-scale dynamic; per \
                 epoch in {METRICS_FILE}); the loss scale ended at {}",
                match s.skipped {
                    1 => "1 step was".to_string(),
                    n => format!("{n} steps were"),
                },
                loss_scale::show(s.scale)
            );
        }
        // A run resumed after its last epoch's checkpoint has no evaluation from this process.
        let report = match last_report {
            Some(report) => report,
            None => self.evaluate(self.eval_progress("final evaluation".into()).quiet())?,
        };
        report.write(&self.run_dir)?;
        let table = report.table();
        write_atomic(&self.run_dir.join(REPORT_FILE), table.as_bytes())?;
        println!("{table}");
        Ok(Outcome {
            run_dir: self.run_dir,
            interrupted: false,
            report: Some(report),
        })
    }

    /// The steps of `pos.epoch` from `pos.batch` on, at learning rate `lr`; stops early, with
    /// `last` saved, when `stop` is set or `--max-steps` is reached.
    fn train_epoch(
        &self,
        pos: &mut Position,
        lr: f32,
        stop: &AtomicBool,
        state: &mut LoopState,
    ) -> Result<EpochEnd> {
        let per_epoch = self.data.loader.batches_per_epoch();
        let sgd = Sgd {
            lr,
            momentum: self.args().momentum,
            weight_decay: self.args().weight_decay,
        };
        state.log.start_epoch(pos.epoch, pos.batch, pos.global_step);
        let mut batches = self.data.loader.epoch_from(pos.epoch, pos.batch);
        let started = Instant::now();
        let seconds_before = pos.epoch_seconds;
        while pos.batch < per_epoch {
            let limit_reached = self.args().max_steps.is_some_and(|m| pos.global_step >= m);
            if stop.load(Ordering::SeqCst) || limit_reached {
                pos.epoch_seconds = seconds_before + started.elapsed().as_secs_f64();
                let path = self.save(pos, LAST)?;
                state.log.abandon();
                eprintln!(
                    "{} at {}, batch {}; checkpoint {}. Continue with: purenoise train --resume {}",
                    if limit_reached {
                        "stopped after --max-steps"
                    } else {
                        "interrupted"
                    },
                    epoch_label(pos.epoch, self.args().epochs),
                    pos.batch,
                    path.display(),
                    self.run_dir.display()
                );
                return Ok(EpochEnd::Stopped);
            }
            let step_started = Instant::now();
            let Some(batch) = batches.next() else {
                return Err(TrainError::Other(format!(
                    "the data loader stopped early in epoch {} at batch {}",
                    pos.epoch, pos.batch
                )));
            };
            let step_batch = StepBatch {
                images: &batch.images,
                labels: &batch.labels,
                noise_mask: &batch.noise_mask,
            };
            let result = self
                .step()
                .run(
                    &step_batch,
                    pos.global_step,
                    &sgd,
                    &self.bn_backup,
                    pos.loss_scaler.as_mut(),
                    |_| Ok(()),
                )
                .map_err(|e| {
                    let warm = pos.global_step > state.first_step;
                    self.step_failed(e.into(), pos, warm, state.last_checkpoint.as_deref())
                })?;
            let loss = match result {
                StepResult::Applied { loss, correct } => {
                    state.skipped_in_a_row = 0;
                    pos.epoch_loss_sum += loss as f64 * batch.len() as f64;
                    pos.epoch_correct += correct;
                    pos.epoch_samples += batch.len();
                    loss
                }
                StepResult::NotFinite { loss } => {
                    self.not_finite(loss, pos, state)?;
                    loss
                }
                StepResult::Overflow {
                    loss,
                    correct,
                    scale,
                } => {
                    // The forward pass was whole and finite: its loss and predictions count.
                    pos.epoch_loss_sum += loss as f64 * batch.len() as f64;
                    pos.epoch_correct += correct;
                    pos.epoch_samples += batch.len();
                    pos.epoch_overflows += 1;
                    state.log.print(&format!(
                        "step {} (epoch {}): the gradients overflowed at loss scale {}; step \
                         skipped, the scale is now {}",
                        pos.global_step,
                        pos.epoch,
                        loss_scale::show(scale),
                        loss_scale::show(pos.loss_scaler.map_or(scale, |s| s.scale))
                    ));
                    loss
                }
            };
            pos.batch += 1;
            pos.global_step += 1;
            batches.recycle(batch);
            let seconds = seconds_before + started.elapsed().as_secs_f64();
            // A skipped step's loss is not in the epoch's mean; the line shows it alone.
            let shown_loss = match pos.epoch_samples {
                0 => loss as f64,
                n => pos.epoch_loss_sum / n as f64,
            };
            state.log.step_done(
                &Status {
                    epoch: pos.epoch,
                    batch: pos.batch,
                    global_step: pos.global_step,
                    loss: shown_loss,
                    lr,
                    images_per_s: pos.epoch_samples as f64 / seconds.max(1e-9),
                },
                step_started.elapsed().as_secs_f64(),
            );
        }
        drop(batches);
        pos.epoch_seconds = seconds_before + started.elapsed().as_secs_f64();
        state.log.end_epoch();
        Ok(EpochEnd::Finished)
    }

    /// A step whose loss was not finite: `--nan-policy stop` ends the run with where the
    /// non-finite values first appear; `skip` counts the skipped step (saying so in the log) and
    /// ends the run once an epoch's worth were skipped in a row.
    fn not_finite(&self, loss: f32, pos: &mut Position, state: &mut LoopState) -> Result<()> {
        // A finite loss comes here only from a loss scaler already at its smallest scale.
        let what = if loss.is_finite() {
            format!(
                "the gradients were not finite even at the smallest loss scale, {}",
                loss_scale::show(loss_scale::MIN_SCALE)
            )
        } else {
            format!("the loss became {loss}")
        };
        if self.args().nan_policy == NanPolicy::Stop {
            return Err(TrainError::NotFinite {
                step: pos.global_step,
                epoch: pos.epoch,
                what: format!("{what} ({})", self.first_not_finite()?),
                checkpoint: state.last_checkpoint.clone(),
                lr: self.args().lr,
            });
        }
        state.skipped_in_a_row += 1;
        pos.epoch_skipped += 1;
        pos.skipped_total += 1;
        state.log.print(&format!(
            "step {} (epoch {}): {what}; step skipped (--nan-policy skip)",
            pos.global_step, pos.epoch
        ));
        // A diverged run skips every step from here on: stop rather than
        // spin through the remaining epochs learning nothing.
        let skipped_in_a_row = state.skipped_in_a_row;
        if skipped_in_a_row >= self.data.loader.batches_per_epoch() {
            return Err(TrainError::NotFinite {
                step: pos.global_step,
                epoch: pos.epoch,
                what: format!(
                    "{skipped_in_a_row} steps in a row (an epoch's worth) had a \
                     non-finite loss under --nan-policy skip ({})",
                    self.first_not_finite()?
                ),
                checkpoint: state.last_checkpoint.clone(),
                lr: self.args().lr,
            });
        }
        Ok(())
    }

    /// The end of an epoch trained at `lr`: evaluation when due (returned), the metrics line,
    /// `best` when the test accuracy improved, then `last` (returned) at the start of the next
    /// epoch.
    fn end_epoch(
        &self,
        pos: &mut Position,
        lr: f32,
        log: &mut RunLog,
    ) -> Result<(PathBuf, Option<EvalReport>)> {
        let last_epoch = pos.epoch + 1 == self.args().epochs;
        let report = if (pos.epoch + 1).is_multiple_of(self.args().eval_every) || last_epoch {
            let eval_started = Instant::now();
            let what = format!("{} evaluation", epoch_label(pos.epoch, self.args().epochs));
            let report = self.evaluate(self.eval_progress(what).quiet())?;
            log.eval_done(eval_started.elapsed().as_secs_f64());
            Some(report)
        } else {
            None
        };
        let top1 = report.as_ref().map(|r| r.top1);
        let mut line = json!({
            // Numbered from 0, as the flags and messages number epochs.
            "epoch": pos.epoch,
            "loss": pos.epoch_loss_sum / pos.epoch_samples.max(1) as f64,
            "lr": lr,
            "train_acc": pos.epoch_correct as f64 / pos.epoch_samples.max(1) as f64,
            "test_top1": top1,
            "test_loss": report.as_ref().and_then(|r| r.loss),
            "test_many": report.as_ref().and_then(|r| r.many),
            "test_medium": report.as_ref().and_then(|r| r.medium),
            "test_few": report.as_ref().and_then(|r| r.few),
            "images_per_s": pos.epoch_samples as f64 / pos.epoch_seconds.max(1e-9),
            "seconds": pos.epoch_seconds,
            "skipped_steps": pos.epoch_skipped,
        });
        // Only runs that scale get the scaler's fields, so other runs' lines stay as they were.
        if let (Some(s), Some(fields)) = (pos.loss_scaler, line.as_object_mut()) {
            fields.insert("overflow_steps".into(), json!(pos.epoch_overflows));
            fields.insert("loss_scale".into(), json!(s.scale));
        }
        log.epoch_line(pos.epoch, pos.global_step, &line);
        // Line, then best, then last: a kill anywhere in between resumes from the previous
        // `last`, which repeats this epoch exactly after `resume` trims the line.
        self.append_metrics(&line)?;
        let improved = top1.is_some_and(|t| pos.best_top1.is_none_or(|b| t > b));
        if improved {
            pos.best_top1 = top1;
        }
        *pos = Position {
            epoch: pos.epoch + 1,
            global_step: pos.global_step,
            best_top1: pos.best_top1,
            skipped_total: pos.skipped_total,
            loss_scaler: pos.loss_scaler,
            ..Position::default()
        };
        if improved {
            self.save(pos, BEST)?;
        }
        Ok((self.save(pos, LAST)?, report))
    }

    /// Gives `pos` the loss scaler `--loss-scale` asks for: the checkpoint's, or a fresh one at
    /// `--initial-loss-scale` (a new run, `--init-from`, or a checkpoint saved without one).
    fn start_scaler(&self, pos: &mut Position) {
        let args = self.args();
        match (args.dynamic_loss_scale(), pos.loss_scaler.is_some()) {
            (false, _) => pos.loss_scaler = None,
            (true, true) => {}
            (true, false) => {
                if pos.global_step > 0 {
                    eprintln!(
                        "loss scaling starts afresh at {} (--initial-loss-scale)",
                        loss_scale::show(args.initial_loss_scale)
                    );
                }
                pos.loss_scaler = Some(LossScaler::new(
                    args.initial_loss_scale,
                    args.loss_scale_growth_interval,
                ));
            }
        }
    }

    /// The training step of this run's model, noise and seed.
    pub(super) fn step(&self) -> Step<'_> {
        Step {
            gpu: &self.gpu,
            model: &self.model,
            noise: &self.noise,
            seed: self.args().seed,
        }
    }

    /// A step's GPU failure, with what survives (the last checkpoint) and, for memory, the
    /// numbers to size the next attempt by.
    /// `warm`: a step has completed in this process, so the pool's peak is a step's need.
    fn step_failed(
        &self,
        e: TrainError,
        pos: &Position,
        warm: bool,
        checkpoint: Option<&Path>,
    ) -> TrainError {
        let TrainError::Gpu(source) = e else {
            return e;
        };
        let mut advice = String::new();
        if matches!(source, crate::Error::OutOfMemory { .. }) {
            let memory = self.gpu.memory_stats();
            let limit = match self.gpu.memory_limit() {
                Some(l) => format!("the --memory-limit of {}", human_bytes(l)),
                None => format!(
                    "what the adapter could give (it does not report its memory size; its \
                     largest buffer is {})",
                    human_bytes(self.gpu.limits().max_buffer_size)
                ),
            };
            let earlier = if warm {
                format!(
                    "earlier steps peaked at {} in all",
                    human_bytes(memory.peak)
                )
            } else {
                "no step had completed yet".to_string()
            };
            advice = format!(
                "Parameters, gradients and momentum take {}; the rest is the step's activations, \
                 which grow with --batch-size ({}); {earlier}; the ceiling was {limit}. Try a \
                 smaller --batch-size (a new run) or a GPU with more memory. ",
                human_bytes(memory.owned),
                self.args().batch_size
            );
        }
        advice += &match checkpoint {
            Some(c) => format!(
                "The last checkpoint, {}, is intact; continue with: purenoise train --resume {}",
                c.display(),
                self.run_dir.display()
            ),
            None => "No checkpoint had been written yet.".to_string(),
        };
        TrainError::StepFailed {
            step: pos.global_step,
            epoch: pos.epoch,
            source,
            advice,
        }
    }

    /// Where non-finite values first appear, in the model's layer order: the gradients of the
    /// step that just ran, and the parameters it started from. Read only when a run stops.
    fn first_not_finite(&self) -> Result<String> {
        let p = &self.model.params;
        let mut found = Vec::new();
        for (what, arena) in [
            (
                "gradient",
                ParamStore::grad as fn(&ParamStore, ParamId) -> Tensor,
            ),
            ("value", ParamStore::value),
        ] {
            let mut first = None;
            for id in p.ids() {
                if self.gpu.read(&arena(p, id))?.iter().any(|v| !v.is_finite()) {
                    first = Some(p.name(id).to_string());
                    break;
                }
            }
            found.push(match first {
                Some(name) => format!("first non-finite {what} in `{name}`"),
                None => format!("every parameter {what} is finite"),
            });
        }
        Ok(found.join("; "))
    }

    /// The test images an evaluation looks at (`--eval-limit`, or the whole split).
    fn eval_images(&self) -> usize {
        let test = self.data.cifar.test.len();
        self.args().eval_limit.map_or(test, |l| l.min(test))
    }

    /// Progress of an evaluation, in test images.
    pub(super) fn eval_progress(&self, what: String) -> Progress {
        Progress::new(
            what,
            Some(self.eval_images() as u64),
            Unit::Items("images"),
            0,
        )
    }

    /// The model on the test images, with the test loss.
    pub(super) fn evaluate(&self, mut progress: Progress) -> Result<EvalReport> {
        let predicted = predict(
            &self.gpu,
            &self.model,
            &self.data.cifar.test,
            Some(self.eval_images()),
            self.args().batch_size,
            self.data.mean,
            self.data.std,
            &mut progress,
        )?;
        progress.finish();
        let mut report = metrics::evaluate(
            &predicted.classes,
            &predicted.labels,
            &self.train_counts,
            &self.data.cifar.class_names,
        )?;
        report.loss = Some(predicted.mean_loss);
        Ok(report)
    }

    /// How the run reports its progress (see [`RunLog`]).
    fn run_log(&self) -> RunLog {
        let info = self.gpu.info();
        RunLog::new(
            Plan {
                per_epoch: self.data.loader.batches_per_epoch(),
                epochs: self.args().epochs,
                eval_every: self.args().eval_every,
                max_steps: self.args().max_steps,
                batch_size: self.args().batch_size,
                eval_images: self.eval_images(),
            },
            self.args().log_interval,
            crate::gpu::adapter::label(info),
            info.device_type == wgpu::DeviceType::Cpu,
        )
    }

    fn save(&self, pos: &Position, name: &str) -> Result<PathBuf> {
        let path = self.run_dir.join(name);
        let state = json!({
            "model": self.args().model,
            "run_id": self.config.run_id,
            "position": pos,
            "config": self.args(),
            "subset_indices": self.config.subset_indices,
        });
        let ckpt = Checkpoint {
            tensors: state::snapshot(&self.gpu, &self.model, true)?,
            state,
        };
        checkpoint::save(&path, &ckpt)?;
        Ok(path)
    }

    fn append_metrics(&self, line: &serde_json::Value) -> Result<()> {
        let path = self.run_dir.join(METRICS_FILE);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io("open", &path, e))?;
        // One write, so a kill leaves the line whole or torn at the end, never interleaved.
        f.write_all(format!("{line}\n").as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| TrainError::io("append to", &path, e))
    }
}

/// Index of the largest logit of each row.
pub fn argmax(logits: &[f32], classes: usize) -> Vec<u32> {
    logits
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 {
                        (i, v)
                    } else {
                        best
                    }
                })
                .0 as u32
        })
        .collect()
}

/// What a model predicted for test images.
pub struct Predictions {
    /// The predicted class of each image.
    pub classes: Vec<u32>,
    pub labels: Vec<u32>,
    /// Mean cross-entropy of the logits against the labels (computed in f64).
    pub mean_loss: f64,
}

/// Cross-entropy of one row of logits against `label`: logsumexp(row) − row[label], in f64.
fn cross_entropy_f64(row: &[f32], label: u32) -> f64 {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum.ln() - row[label as usize] as f64
}

/// Eval-mode predictions on the first `limit` images of `split` (all by default), counted in
/// `progress`.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    gpu: &Gpu,
    model: &Model,
    split: &Split,
    limit: Option<usize>,
    batch_size: usize,
    mean: [f32; 3],
    std: [f32; 3],
    progress: &mut Progress,
) -> Result<Predictions> {
    let limit = limit.unwrap_or(usize::MAX).min(split.len());
    let (mut predictions, mut labels) = (Vec::with_capacity(limit), Vec::with_capacity(limit));
    let mut loss_sum = 0.0;
    let classes = model.config.classes;
    for batch in eval_batches(split, batch_size, mean, std) {
        if labels.len() >= limit {
            break;
        }
        let n = batch.len();
        let mut tape = Tape::no_grad(gpu);
        let x = tape.constant(model.input(gpu, &batch.images, n)?);
        let logits = model.forward(
            &mut tape,
            &x,
            &Pass {
                training: false,
                mask: None,
                dropout_seed: 0,
            },
        )?;
        let logits = gpu.read(&logits.value)?;
        let take = n.min(limit - labels.len());
        loss_sum += (logits.chunks(classes).zip(&batch.labels))
            .take(take)
            .map(|(row, &label)| cross_entropy_f64(row, label))
            .sum::<f64>();
        predictions.extend(argmax(&logits[..take * classes], classes));
        labels.extend_from_slice(&batch.labels[..take]);
        progress.set(labels.len() as u64);
    }
    Ok(Predictions {
        classes: predictions,
        mean_loss: loss_sum / labels.len().max(1) as f64,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_saved_before_loss_scaling_reads_without_a_scaler() {
        let mut saved = serde_json::to_value(Position {
            epoch: 2,
            batch: 1,
            loss_scaler: Some(LossScaler::new(1024.0, 5)),
            epoch_overflows: 3,
            ..Position::default()
        })
        .unwrap();
        let fields = saved.as_object_mut().unwrap();
        assert_eq!(fields["loss_scaler"]["scale"], 1024.0);
        fields.remove("loss_scaler");
        fields.remove("epoch_overflows");
        let old: Position = serde_json::from_value(saved).unwrap();
        assert_eq!((old.epoch, old.batch), (2, 1));
        assert_eq!((old.loss_scaler, old.epoch_overflows), (None, 0));
    }

    #[test]
    fn test_loss_is_the_cross_entropy_of_each_row() {
        // softmax([0, ln 3]) = [1/4, 3/4].
        let row = [0.0, 3f32.ln()];
        assert!((cross_entropy_f64(&row, 0) - 4f64.ln()).abs() < 1e-6);
        assert!((cross_entropy_f64(&row, 1) - (4.0f64 / 3.0).ln()).abs() < 1e-6);
        // Large logits stay finite: -log softmax = 1000 + ln(1 + e^-1000) - 0.
        assert!((cross_entropy_f64(&[1000.0, 0.0], 1) - 1000.0).abs() < 1e-9);
        assert!(cross_entropy_f64(&[f32::NAN, 0.0], 1).is_nan());
    }
}
