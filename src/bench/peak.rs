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
    pub fma_threads: usize,
    pub fma_iters: usize,
    pub copy_bytes: u64,
    pub peak: Peak,
}

impl std::fmt::Display for PeakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "adapter  {}", self.adapter)?;
        writeln!(f, "clock    {} ({} repeats)", self.clock, self.repeats)?;
        writeln!(
            f,
            "FMA      {:>9.1} GFLOP/s   ({} threads x {} rounds of 8 vec4 FMAs)",
            self.peak.fma_gflops, self.fma_threads, self.fma_iters
        )?;
        write!(
            f,
            "memory   {:>9.1} GB/s      (vec4 copy of {} MiB, read + write)",
            self.peak.bandwidth_gbs,
            self.copy_bytes >> 20
        )
    }
}

/// FMA work per run: enough threads to fill any device, enough rounds to dwarf launch costs.
const FMA_THREADS: usize = 64 * 1024;
const FMA_ITERS: usize = 2048;
/// Copy size: well beyond any CPU cache and most GPU L2s.
const COPY_BYTES: u64 = 64 << 20;

pub fn measure_peak(gpu: &Gpu, clock: Clock, repeats: usize) -> Result<Peak> {
    let out = gpu.alloc("bench peak", &[FMA_THREADS], DType::F32)?;
    let fma_s = median_seconds(gpu, clock, 1, repeats, || {
        gpu.dispatch(
            &kernels::BENCH_FMA,
            &[],
            &FmaParams {
                iters: FMA_ITERS as u32,
                threads: FMA_THREADS as u32,
            },
            &[("out", &out)],
            gpu.grid(FMA_THREADS as u64, WORKGROUP),
        )
    })?;
    let flops = (FMA_THREADS * FMA_ITERS * 8 * 4 * 2) as f64;
    let len = (COPY_BYTES / 4) as usize;
    let src = gpu.zeros("bench peak", &[len])?;
    let dst = gpu.alloc("bench peak", &[len], DType::F32)?;
    let copy_s = median_seconds(gpu, clock, 1, repeats, || {
        gpu.dispatch(
            &kernels::BENCH_COPY,
            &[],
            &LenParams {
                len: (len / 4) as u32,
            },
            &[("src", &src), ("dst", &dst)],
            gpu.grid((len / 4) as u64, WORKGROUP),
        )
    })?;
    Ok(Peak {
        fma_gflops: flops / fma_s / 1e9,
        bandwidth_gbs: 2.0 * COPY_BYTES as f64 / copy_s / 1e9,
    })
}

/// `purenoise bench peak`.
pub fn peak(gpu: &Gpu, args: &PeakArgs) -> Result<PeakReport> {
    let clock = Clock::for_kernels(gpu);
    Ok(PeakReport {
        adapter: AdapterRecord::of(gpu),
        clock: clock.describe(),
        repeats: args.repeats,
        unix_time: unix_time(),
        fma_threads: FMA_THREADS,
        fma_iters: FMA_ITERS,
        copy_bytes: COPY_BYTES,
        peak: measure_peak(gpu, clock, args.repeats)?,
    })
}
