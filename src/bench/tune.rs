//! `purenoise bench tune`: tunes every convolution pass of a model (crate::tune), saves the
//! choices in the tuning cache, and reports per pass the chosen kernel, its GFLOP/s and fraction
//! of the FMA peak measured in the same run, the runner-up, and the untuned default's time.

use serde::Serialize;

use super::{measure_peak, unix_time, AdapterRecord, Clock, Peak};
use crate::error::Result;
use crate::gpu::tensor::Precision;
use crate::gpu::Gpu;
use crate::models::{ConvLayer, ModelKind};
use crate::progress::{Progress, Unit};
use crate::tune::{self, Cache, Measured, TuneMode};

#[derive(clap::Args, Debug, Clone)]
pub struct TuneArgs {
    /// wrn-D-K (e.g. wrn-28-10, wrn-16-4) or resnet-D (e.g. resnet-32).
    #[arg(long, default_value = "wrn-28-10")]
    pub model: String,
    /// Images per convolution call, as in training.
    #[arg(short, long = "batch-size", alias = "batch", default_value_t = 128)]
    pub batch_size: usize,
    /// Report the cached choices and tune only the passes the cache lacks (default: retune all).
    #[arg(long)]
    pub cached: bool,
    /// Activations the kernels are tuned on, as `train --precision` stores them (`mixed`: f16;
    /// its choices are cached apart from f32's).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Print one JSON record instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A timed kernel with its rate.
#[derive(Debug, Clone, Serialize)]
pub struct Rated {
    pub kernel: String,
    pub splits: usize,
    pub ms: f64,
    pub gflops: f64,
    pub of_peak: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TuneRow {
    pub layer: ConvLayer,
    /// [N, Cin, H, W] of the input.
    pub input: [usize; 4],
    pub pass: &'static str,
    pub gflop: f64,
    /// Timed in this run (false: read from the cache).
    pub measured: bool,
    pub candidates: usize,
    pub chosen: Rated,
    pub runner_up: Option<Rated>,
    /// The untuned choice, timed the same way.
    pub default: Rated,
    /// default time / chosen time (≥ 1: the default is one of the candidates).
    pub gain: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub adapter: AdapterRecord,
    pub clock: &'static str,
    pub model: String,
    pub batch: usize,
    pub precision: Precision,
    pub unix_time: u64,
    pub peak: Peak,
    pub cache: Option<String>,
    /// Kernel runs timed while tuning (0 when every choice came from the cache).
    pub timed_runs: usize,
    pub tuning_seconds: f64,
    pub rows: Vec<TuneRow>,
}

impl std::fmt::Display for TuneReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "adapter  {}", self.adapter)?;
        writeln!(
            f,
            "model    {} batch {}, precision {}; {} kernel runs timed in {:.1} s ({})",
            self.model,
            self.batch,
            self.precision,
            self.timed_runs,
            self.tuning_seconds,
            self.clock
        )?;
        writeln!(
            f,
            "peak     {:.1} GFLOP/s FMA (measured in this run)",
            self.peak.fma_gflops
        )?;
        let cache = self.cache.as_deref().unwrap_or("none (choices not saved)");
        writeln!(f, "cache    {cache}\n")?;
        writeln!(
            f,
            "{:<22} {:<15} {:<17} {:>5} {:>9} {:>7} {:>6} | {:<17} {:>7} | {:>7} {:>5}",
            "conv (Cin>Cout@HxW kK/s)",
            "pass",
            "chosen",
            "split",
            "ms",
            "GFLOP/s",
            "peak",
            "runner-up",
            "GFLOP/s",
            "default",
            "gain"
        )?;
        for r in &self.rows {
            let l = r.layer;
            let name = format!(
                "{}>{}@{}x{} k{}/s{}",
                l.c_in, l.c_out, l.size, l.size, l.k, l.stride
            );
            let (up_name, up_rate) = match &r.runner_up {
                Some(u) => (
                    format!("{}/{}", u.kernel, u.splits),
                    format!("{:.2}", u.gflops),
                ),
                None => ("-".into(), "-".into()),
            };
            writeln!(
                f,
                "{name:<22} {:<15} {:<17} {:>5} {:>9.2} {:>7.2} {:>5.1}% | {up_name:<17} {up_rate:>7} | {:>7.2} {:>4.2}x{}",
                r.pass,
                r.chosen.kernel,
                r.chosen.splits,
                r.chosen.ms,
                r.chosen.gflops,
                100.0 * r.chosen.of_peak,
                r.default.gflops,
                r.gain,
                if r.measured { "" } else { " (cached)" }
            )?;
        }
        Ok(())
    }
}

/// `purenoise bench tune`, with the cache at `cache`.
pub fn bench_tune(gpu: &Gpu, args: &TuneArgs, cache: &Cache) -> Result<TuneReport> {
    let kind: ModelKind = args.model.parse()?;
    gpu.check_precision(args.precision)?;
    let clock = Clock::for_kernels(gpu);
    let (peak, _) = measure_peak(gpu, clock, 3)?;
    let problems = tune::problems(kind, args.batch_size, args.precision);
    let mode = if args.cached {
        TuneMode::Cached
    } else {
        TuneMode::Full
    };
    let mut progress: Option<Progress> = None;
    let outcome = tune::tune(gpu, &problems, mode, cache, &mut |done, total, _| {
        progress
            .get_or_insert_with(|| {
                Progress::new(
                    format!(
                        "bench tune {kind} at batch {}, precision {}",
                        args.batch_size, args.precision
                    ),
                    Some(total as u64),
                    Unit::Items("convolution passes"),
                    0,
                )
            })
            .set(done as u64);
    })?;
    if let Some(progress) = progress {
        progress.complete();
    }
    let rows = outcome
        .decisions
        .iter()
        .map(|d| {
            let flops = d.problem.flops();
            let rated = |m: &Measured| Rated {
                kernel: m.kernel.clone(),
                splits: m.splits,
                ms: m.ms,
                gflops: flops / (m.ms * 1e-3) / 1e9,
                of_peak: flops / (m.ms * 1e-3) / 1e9 / peak.fma_gflops,
            };
            let s = d.problem.shape;
            TuneRow {
                layer: d.problem.layer,
                input: [s.n, s.c_in, s.h, s.w],
                pass: d.problem.pass.name(),
                gflop: flops / 1e9,
                measured: d.measured,
                candidates: d.choice.candidates,
                chosen: rated(&d.choice.chosen),
                runner_up: d.choice.runner_up.as_ref().map(rated),
                default: rated(&d.choice.default),
                gain: d.choice.default.ms / d.choice.chosen.ms,
            }
        })
        .collect();
    Ok(TuneReport {
        adapter: AdapterRecord::of(gpu),
        clock: if gpu.has_timestamps() {
            "GPU timestamp queries, fastest of up to three runs per candidate"
        } else {
            "wall clock from submission to idle, fastest of up to three runs per candidate"
        },
        model: kind.to_string(),
        batch: args.batch_size,
        precision: args.precision,
        unix_time: unix_time(),
        peak,
        cache: outcome.cache.map(|p| p.display().to_string()),
        timed_runs: outcome.timed_runs,
        tuning_seconds: outcome.seconds,
        rows,
    })
}
