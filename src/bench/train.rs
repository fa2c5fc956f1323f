//! `purenoise bench train`: images/s of complete training steps — noise synthesis, forward with
//! DAR-BN routing a realistic share of noise images, backward, SGD — on synthetic data, the
//! time split by kernel, and the peak GPU memory the step needs.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;

use super::{median_seconds, unix_time, AdapterRecord, Clock};
use crate::autograd::Tape;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::{Model, ModelConfig, ModelKind, Pass};
use crate::ops::noise::{fill_noise, NoiseMask, NoiseStats, CIFAR10_MEAN, CIFAR10_STD};
use crate::ops::norm::BnMode;
use crate::ops::{cross_entropy, loss::upload_labels};
use crate::optim::Sgd;

#[derive(clap::Args, Debug, Clone)]
pub struct TrainBenchArgs {
    #[arg(long, default_value = "resnet-32")]
    pub model: String,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timed steps (after two warm-up steps); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Share of each batch replaced by pure noise (OPeN on CIFAR-10-LT replaces about a quarter).
    #[arg(long, default_value_t = 0.25)]
    pub noise_fraction: f64,
    #[arg(long, value_enum, default_value_t = BnMode::DarBn)]
    pub bn: BnMode,
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Print one JSON record instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelShare {
    pub kernel: String,
    pub dispatches: u32,
    /// Seconds per step, each dispatch timed alone (see `TrainReport::split_note`).
    pub seconds: f64,
    pub share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub adapter: AdapterRecord,
    pub model: String,
    pub parameters: usize,
    pub batch: usize,
    pub noise_images: usize,
    pub bn: BnMode,
    pub steps: usize,
    pub clock: &'static str,
    pub step_seconds: f64,
    pub images_per_s: f64,
    /// Everything held at once at the worst moment: parameter, gradient, momentum and BN-buffer
    /// arenas plus the buffer pool's tensors.
    pub peak_memory_bytes: u64,
    /// The arenas plus the most the pool's tensors were using at once: what a pool that could
    /// lend a free buffer to a tensor of another size would need.
    pub peak_in_use_bytes: u64,
    pub kernels: Vec<KernelShare>,
    pub split_note: &'static str,
    pub measured_at_unix: u64,
}

const SPLIT_NOTE: &str = "one extra step with every dispatch submitted and waited for alone";

pub fn bench_train(gpu: &Gpu, args: &TrainBenchArgs) -> Result<TrainReport> {
    if args.batch == 0 || args.steps == 0 || !(0.0..=1.0).contains(&args.noise_fraction) {
        return Err(Error::Invalid(format!(
            "bench train: need --batch ≥ 1, --steps ≥ 1 and --noise-fraction in [0, 1]; got {}, {}, {}",
            args.batch, args.steps, args.noise_fraction
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
    )?;
    let mut rng = Pcg64::seed_from_u64(0);
    let n = args.batch;
    let images: Vec<f32> = (0..n * 3 * 32 * 32)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let labels: Vec<u32> = (0..n)
        .map(|_| rng.random_range(0..args.classes as u32))
        .collect();
    let noise_images = (n as f64 * args.noise_fraction).round() as usize;
    let is_noise: Vec<bool> = (0..n).map(|i| i < noise_images).collect();
    let mask = NoiseMask::new(gpu, &is_noise)?;
    let labels = upload_labels(gpu, &labels, args.classes)?;
    let noise = NoiseStats::new(gpu, &CIFAR10_MEAN, &CIFAR10_STD, None)?;
    let sgd = Sgd {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 2e-4,
    };
    let mut step_index = 0u32;
    let mut step = || -> Result<()> {
        let x = gpu.upload(&images, &[n, 3, 32, 32])?;
        fill_noise(gpu, &x, &mask, &noise, 1, step_index)?;
        model.params.zero_grad();
        let mut tape = Tape::new(gpu);
        let x = tape.constant(x);
        let pass = Pass {
            training: true,
            mask: Some(&mask),
            dropout_seed: step_index as u64,
        };
        let logits = model.forward(&mut tape, &x, &pass)?;
        let loss = cross_entropy(&mut tape, &logits, &labels)?;
        tape.backward(&loss, &model.params)?;
        sgd.step(&model.params)?;
        step_index += 1;
        // A real step reads its loss back; so does this one.
        gpu.read(&loss.value).map(|_| ())
    };
    let step_seconds = median_seconds(gpu, Clock::WallClock, 2, args.steps, &mut step)?;
    gpu.set_profiling(true);
    step()?;
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
    Ok(TrainReport {
        adapter: AdapterRecord::of(gpu),
        model: kind.to_string(),
        parameters: model.params.count(),
        batch: n,
        noise_images,
        bn: args.bn,
        steps: args.steps,
        clock: Clock::WallClock.describe(),
        step_seconds,
        images_per_s: n as f64 / step_seconds,
        peak_memory_bytes: gpu.memory_stats().peak,
        peak_in_use_bytes: gpu.memory_stats().peak_in_use,
        kernels,
        split_note: SPLIT_NOTE,
        measured_at_unix: unix_time(),
    })
}

impl fmt::Display for TrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "training step on {}", self.adapter)?;
        writeln!(
            f,
            "{} ({} parameters), batch {} with {} noise images, bn {:?}",
            self.model, self.parameters, self.batch, self.noise_images, self.bn
        )?;
        writeln!(
            f,
            "{:.3} s per step, {:.1} images/s ({}; {} steps)",
            self.step_seconds, self.images_per_s, self.clock, self.steps
        )?;
        writeln!(
            f,
            "peak GPU memory {:.1} MiB (parameter arenas + buffer pool; {:.1} MiB in use at once)",
            self.peak_memory_bytes as f64 / 1048576.0,
            self.peak_in_use_bytes as f64 / 1048576.0
        )?;
        writeln!(f, "time by kernel ({}):", self.split_note)?;
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
