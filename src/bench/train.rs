//! `purenoise bench train`: images/s of complete training steps — noise synthesis, forward with
//! DAR-BN routing a realistic share of noise images, backward, SGD — on synthetic data, the
//! time split by kernel, and the peak GPU memory the step needs.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;

use super::{median_seconds, unix_time, AdapterRecord, Clock};
use crate::error::{human_bytes, Error, Result};
use crate::gpu::tensor::Precision;
use crate::gpu::{Gpu, MemoryStats};
use crate::models::BnMode;
use crate::models::{Model, ModelConfig, ModelKind};
use crate::ops::noise::{NoiseStats, CIFAR10_MEAN, CIFAR10_STD};
use crate::optim::Sgd;
use crate::progress::{Progress, Unit};
use crate::train::loss_scale::LossScaler;
use crate::train::step::{Step, StepBatch};

/// The model and the synthetic batch of a benchmarked training step.
#[derive(clap::Args, Debug, Clone)]
pub struct StepArgs {
    /// wrn-D-K (e.g. wrn-28-10, wrn-16-4) or resnet-D (e.g. resnet-32).
    #[arg(long, default_value = "resnet-32")]
    pub model: String,
    /// Images per step.
    #[arg(short, long = "batch-size", alias = "batch", default_value_t = 32)]
    pub batch: usize,
    /// Share of each batch replaced by pure noise (OPeN on CIFAR-10-LT replaces about a quarter).
    #[arg(long, default_value_t = 0.25)]
    pub noise_fraction: f64,
    /// Batch norm for batches with pure-noise images.
    #[arg(long, value_enum, default_value_t = BnMode::DarBn)]
    pub bn: BnMode,
    /// Classes of the model's classifier (10: CIFAR-10, 100: CIFAR-100).
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Storage of activations and their gradients, as `train --precision`.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TrainBenchArgs {
    #[command(flatten)]
    pub step: StepArgs,
    /// Timed steps (after two warm-up steps); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Print one JSON record instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelShare {
    pub kernel: String,
    pub dispatches: u32,
    /// Seconds in the profiled step (timed as `TrainReport::split_note` says).
    pub seconds: f64,
    pub share: f64,
}

/// What a benchmarked step ran: where, which model, and its batch.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub adapter: AdapterRecord,
    pub model: String,
    pub parameters: usize,
    pub batch: usize,
    pub noise_images: usize,
    pub bn: BnMode,
    pub classes: usize,
    pub precision: Precision,
}

impl fmt::Display for StepRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "on {}", self.adapter)?;
        write!(
            f,
            "{} ({} parameters), batch {} with {} noise images, bn {:?}, precision {}",
            self.model, self.parameters, self.batch, self.noise_images, self.bn, self.precision
        )
    }
}

/// The GPU memory a step needed at its peak.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StepMemory {
    /// Parameter, gradient, momentum and batch-norm-buffer arenas: fixed, whatever the batch.
    pub arena_bytes: u64,
    /// Everything held at once at the worst moment: the arenas plus the buffer pool's tensors
    /// (in use, or free for reuse by a tensor of the same size).
    pub peak_memory_bytes: u64,
    /// The arenas plus the most the pool's tensors were using at once.
    pub peak_in_use_bytes: u64,
    /// Buffers a warm step creates (on average), re-creating what the pool released to stay
    /// near its tensors' peak; None when no warm step ran.
    pub warm_step_buffers_created: Option<f64>,
}

impl StepMemory {
    /// What the pool held at its peak, with the buffers created since `warm` (the pool's
    /// statistics after the first steps) by the `warm_steps` that followed.
    pub fn of(gpu: &Gpu, warm: MemoryStats, warm_steps: usize) -> StepMemory {
        let stats = gpu.memory_stats();
        StepMemory {
            arena_bytes: stats.owned,
            peak_memory_bytes: stats.peak,
            peak_in_use_bytes: stats.peak_in_use,
            warm_step_buffers_created: (warm_steps > 0)
                .then(|| (stats.allocations - warm.allocations) as f64 / warm_steps as f64),
        }
    }
}

impl fmt::Display for StepMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peak GPU memory {} ({} of parameter, gradient and momentum arenas; {} in use at once)",
            human_bytes(self.peak_memory_bytes),
            human_bytes(self.arena_bytes),
            human_bytes(self.peak_in_use_bytes)
        )?;
        if let Some(created) = self.warm_step_buffers_created {
            write!(f, "\na warm step creates {created:.1} buffers")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    #[serde(flatten)]
    pub step: StepRecord,
    pub steps: usize,
    pub clock: &'static str,
    pub step_seconds: f64,
    pub images_per_s: f64,
    #[serde(flatten)]
    pub memory: StepMemory,
    pub kernels: Vec<KernelShare>,
    /// The kernels' seconds summed: with GPU timestamps, the time the GPU ran kernels, so its
    /// shortfall from `step_seconds` is what recording, submission and idle time cost.
    pub kernel_seconds: f64,
    pub split_note: String,
    pub measured_at_unix: u64,
}

/// A model and a fixed synthetic batch, taking the training loop's own step
/// ([`Step::run`]): noise synthesis into the batch's noise share, forward, cross-entropy,
/// backward, the loss and logits read back, SGD.
pub(super) struct SyntheticStep {
    model: Model,
    kind: ModelKind,
    noise_images: usize,
    args: StepArgs,
    images: Vec<f32>,
    labels: Vec<u32>,
    noise_mask: Vec<u32>,
    noise: NoiseStats,
    index: usize,
    /// What a training run in this precision scales by default (`--loss-scale auto`), so the
    /// benchmark pays for the gradient check as such a run does.
    scaler: Option<LossScaler>,
}

impl SyntheticStep {
    pub fn new(gpu: &Gpu, args: &StepArgs) -> Result<SyntheticStep> {
        if args.batch == 0 || !(0.0..=1.0).contains(&args.noise_fraction) {
            return Err(Error::Invalid(format!(
                "bench: need --batch-size ≥ 1 and --noise-fraction in [0, 1]; got {} and {}",
                args.batch, args.noise_fraction
            )));
        }
        let kind: ModelKind = args.model.parse()?;
        let model = Model::new(
            gpu,
            ModelConfig {
                kind,
                classes: args.classes,
                bn: args.bn,
                dropout: 0.3,
            },
            0,
        )?
        .with_precision(gpu, args.precision)?;
        let mut rng = Pcg64::seed_from_u64(0);
        let n = args.batch;
        let images: Vec<f32> = (0..n * 3 * 32 * 32)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        let labels: Vec<u32> = (0..n)
            .map(|_| rng.random_range(0..args.classes as u32))
            .collect();
        let noise_images = (n as f64 * args.noise_fraction).round() as usize;
        let noise_mask: Vec<u32> = (0..n).map(|i| (i < noise_images) as u32).collect();
        Ok(SyntheticStep {
            model,
            kind,
            noise_images,
            args: args.clone(),
            images,
            labels,
            noise_mask,
            noise: NoiseStats::new(gpu, &CIFAR10_MEAN, &CIFAR10_STD, None)?,
            index: 0,
            scaler: (args.precision == Precision::Mixed).then(LossScaler::default),
        })
    }

    pub fn record(&self, gpu: &Gpu) -> StepRecord {
        StepRecord {
            adapter: AdapterRecord::of(gpu),
            model: self.kind.to_string(),
            parameters: self.model.params.count(),
            batch: self.args.batch,
            noise_images: self.noise_images,
            bn: self.args.bn,
            classes: self.args.classes,
            precision: self.args.precision,
        }
    }

    pub fn run(&mut self, gpu: &Gpu) -> Result<()> {
        const SGD: Sgd = Sgd {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 2e-4,
        };
        let step = Step {
            gpu,
            model: &self.model,
            noise: &self.noise,
            seed: 0,
        };
        let batch = StepBatch {
            images: &self.images,
            labels: &self.labels,
            noise_mask: &self.noise_mask,
        };
        // The outcome is not needed: a non-finite loss (or one not computed, under `bench
        // memory`) only leaves out the update, which allocates nothing.
        step.run(&batch, self.index, &SGD, &[], self.scaler.as_mut(), |_| {
            Ok(())
        })?;
        self.index += 1;
        Ok(())
    }
}

pub fn bench_train(gpu: &Gpu, args: &TrainBenchArgs) -> Result<TrainReport> {
    if args.steps == 0 {
        return Err(Error::Invalid(
            "bench train: --steps must be at least 1".into(),
        ));
    }
    let mut step = SyntheticStep::new(gpu, &args.step)?;
    // Warm-up steps (the first compiles the kernels), the timed ones, one profiled.
    let mut progress = Progress::new(
        format!(
            "bench train {} at batch {}",
            args.step.model, args.step.batch
        ),
        Some((WARMUP + args.steps + 1) as u64),
        Unit::Items("steps"),
        0,
    );
    const WARMUP: usize = 2;
    let (mut ran, mut warm) = (0, gpu.memory_stats());
    let step_seconds = median_seconds(gpu, Clock::WallClock, WARMUP, args.steps, || {
        // The pool as the warm-up steps left it: the timed steps' buffers are counted from it.
        if ran == WARMUP {
            warm = gpu.memory_stats();
        }
        ran += 1;
        step.run(gpu)?;
        progress.add(1);
        Ok(())
    })?;
    gpu.set_profiling(true);
    step.run(gpu)?;
    progress.add(1);
    progress.finish();
    let rows = gpu.profile().unwrap_or_default();
    gpu.set_profiling(false);
    let total: f64 = rows.iter().map(|r| r.2.as_secs_f64()).sum();
    let kernels = rows
        .into_iter()
        .map(|(kernel, dispatches, time)| KernelShare {
            kernel: kernel.to_string(),
            dispatches,
            seconds: time.as_secs_f64(),
            share: time.as_secs_f64() / total.max(1e-12),
        })
        .collect();
    let n = args.step.batch;
    Ok(TrainReport {
        step: step.record(gpu),
        steps: args.steps,
        clock: Clock::WallClock.describe(),
        step_seconds,
        images_per_s: n as f64 / step_seconds,
        memory: StepMemory::of(gpu, warm, args.steps),
        kernels,
        kernel_seconds: total,
        split_note: format!("one extra step; {}", gpu.profile_clock()),
        measured_at_unix: unix_time(),
    })
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "training step {}", self.step)?;
        writeln!(
            f,
            "{:.3} s per step, {:.1} images/s ({}; {} steps)",
            self.step_seconds, self.images_per_s, self.clock, self.steps
        )?;
        writeln!(f, "{}", self.memory)?;
        writeln!(
            f,
            "time by kernel ({}): {:.4} s in all, {:.1}% of a timed step",
            self.split_note,
            self.kernel_seconds,
            100.0 * self.kernel_seconds / self.step_seconds
        )?;
        for k in &self.kernels {
            writeln!(
                f,
                "  {:<31} {:>5} dispatches {:>9.4} s {:>6.1}%",
                k.kernel,
                k.dispatches,
                k.seconds,
                100.0 * k.share
            )?;
        }
        Ok(())
    }
}
