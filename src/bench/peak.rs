//! The adapter's ceilings, measured by two microkernels: independent vec4 FMA chains
//! (shaders/bench_fma.wgsl) and a vec4 copy (shaders/bench_copy.wgsl).

use serde::Serialize;

use super::{median_seconds, unix_time, AdapterRecord, Clock};
use crate::error::Result;
use crate::gpu::tensor::DType;
use crate::gpu::{Gpu, WORKGROUP};
use crate::ops::LenParams;
use crate::ops::{kernels, FmaParams};

#[derive(clap::Args, Debug, Clone)]
pub struct PeakArgs {
    /// Timed runs per microkernel (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Print one JSON record instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Measured ceilings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Peak {
    /// f32 FMA throughput, counting an FMA as two flops.
    pub fma_gflops: f64,
    /// Bytes read plus bytes written per second by a streaming copy.
    pub bandwidth_gbs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeakReport {
    pub adapter: AdapterRecord,
    pub clock: &'static str,
    pub repeats: usize,
    pub unix_time: u64,
    #[serde(flatten)]
    pub sizes: PeakSizes,
    pub peak: Peak,
}

impl std::fmt::Display for PeakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "adapter  {}", self.adapter)?;
        writeln!(f, "clock    {} ({} repeats)", self.clock, self.repeats)?;
        writeln!(
            f,
            "FMA      {:>9.1} GFLOP/s   ({} threads x {} rounds of 8 vec4 FMAs)",
            self.peak.fma_gflops, self.sizes.fma_threads, self.sizes.fma_iters
        )?;
        write!(
            f,
            "memory   {:>9.1} GB/s      ({} x vec4 copy of {} MiB, read + write)",
            self.peak.bandwidth_gbs,
            self.sizes.copy_rounds,
            self.sizes.copy_bytes >> 20
        )
    }
}

/// Each timed run is grown until it lasts at least this long. The fixed sizes that suit a CPU
/// adapter take a GPU well under a millisecond, where launch costs and a clock still rising from
/// idle would set the figure rather than the ALUs or the memory (an H200 read 75 % of its FMA
/// spec and a copy that fit in its L2 that way).
const MIN_RUN_SECONDS: f64 = 0.02;
/// FMA threads: CPU adapters run one SIMD lane per thread, so a few thousand workgroups fill
/// them; a GPU gets enough to keep every SM's schedulers full.
const FMA_THREADS_CPU: usize = 64 * 1024;
const FMA_THREADS_GPU: usize = 1024 * 1024;
/// FMA rounds per thread before growing.
const FMA_ITERS: usize = 2048;
/// Copy size: well beyond a CPU's caches; on a GPU beyond the largest L2s (tens of MiB) as well,
/// within the adapter's binding limit.
const COPY_BYTES_CPU: u64 = 64 << 20;
const COPY_BYTES_GPU: u64 = 256 << 20;

/// How the microkernels were sized for this adapter.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeakSizes {
    pub fma_threads: usize,
    pub fma_iters: usize,
    pub copy_bytes: u64,
    /// Copies per timed run.
    pub copy_rounds: usize,
}

/// Grows `size` until one run of `f(size)` takes at least [`MIN_RUN_SECONDS`] (or `max` is
/// reached); the runs doing so also warm the adapter up.
fn grow_to_min_time(
    gpu: &Gpu,
    clock: Clock,
    mut size: usize,
    max: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<usize> {
    loop {
        let seconds = median_seconds(gpu, clock, 0, 1, || f(size))?;
        if seconds >= MIN_RUN_SECONDS || size >= max {
            return Ok(size);
        }
        let factor = (MIN_RUN_SECONDS / seconds.max(1e-9))
            .ceil()
            .clamp(2.0, 64.0) as usize;
        size = (size * factor).min(max);
    }
}

pub fn measure_peak(gpu: &Gpu, clock: Clock, repeats: usize) -> Result<(Peak, PeakSizes)> {
    let (threads, copy_bytes) = if gpu.sized_as_cpu() {
        (FMA_THREADS_CPU, COPY_BYTES_CPU)
    } else {
        let limits = gpu.limits();
        let largest = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            & !15;
        (FMA_THREADS_GPU, COPY_BYTES_GPU.min(largest))
    };
    let out = gpu.alloc("bench peak", &[threads], DType::F32)?;
    let fma = |iters: usize| {
        gpu.dispatch(
            &kernels::BENCH_FMA,
            &[],
            &FmaParams {
                iters: iters as u32,
                threads: threads as u32,
            },
            &[("out", &out)],
            gpu.grid(threads as u64, WORKGROUP),
        )
    };
    let iters = grow_to_min_time(gpu, clock, FMA_ITERS, 1 << 24, fma)?;
    let fma_s = median_seconds(gpu, clock, 1, repeats, || fma(iters))?;
    let flops = (threads * iters * 8 * 4 * 2) as f64;
    let len = (copy_bytes / 4) as usize;
    let src = gpu.zeros("bench peak", &[len])?;
    let dst = gpu.alloc("bench peak", &[len], DType::F32)?;
    let copy = |rounds: usize| {
        for _ in 0..rounds {
            gpu.dispatch(
                &kernels::BENCH_COPY,
                &[],
                &LenParams {
                    len: (len / 4) as u32,
                },
                &[("src", &src), ("dst", &dst)],
                gpu.grid((len / 4) as u64, WORKGROUP),
            )?;
        }
        Ok(())
    };
    let rounds = grow_to_min_time(gpu, clock, 1, 256, copy)?;
    let copy_s = median_seconds(gpu, clock, 1, repeats, || copy(rounds))?;
    Ok((
        Peak {
            fma_gflops: flops / fma_s / 1e9,
            bandwidth_gbs: 2.0 * (copy_bytes * rounds as u64) as f64 / copy_s / 1e9,
        },
        PeakSizes {
            fma_threads: threads,
            fma_iters: iters,
            copy_bytes,
            copy_rounds: rounds,
        },
    ))
}

/// `purenoise bench peak`.
pub fn peak(gpu: &Gpu, args: &PeakArgs) -> Result<PeakReport> {
    let clock = Clock::for_kernels(gpu);
    let (peak, sizes) = measure_peak(gpu, clock, args.repeats)?;
    Ok(PeakReport {
        adapter: AdapterRecord::of(gpu),
        clock: clock.describe(),
        repeats: args.repeats,
        unix_time: unix_time(),
        sizes,
        peak,
    })
}
