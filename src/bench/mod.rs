//! `purenoise bench peak|kernels|tune|train|memory`: the adapter's own ceilings (f32 FMA
//! throughput, memory bandwidth) measured in the same run; every convolution shape of a model
//! (forward, backward-data, backward-weight) plus the elementwise kernels against them; the
//! tuner's choices per convolution pass; whole training steps; and a step's peak memory. Every report is a table (`Display`) and a JSON
//! record (`Serialize`) naming the adapter, driver and settings.
//!
//! Kernels are timed by the GPU's timestamp queries where the adapter has them (the time of
//! their compute passes, without the submit and wait around them), else by wall clock around
//! submit-and-wait; training steps always by wall clock (a step's CPU side counts). Median of
//! repeats after warm-up; each report names its clock in its `clock` field.

pub mod kernels;
pub mod memory;
pub mod peak;
pub mod train;
pub mod tune;

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gpu::Gpu;

pub use kernels::{conv_layers, kernels, ConvLayer, KernelsArgs, KernelsReport};
pub use memory::{bench_memory, MemoryArgs, MemoryReport};
pub use peak::{measure_peak, peak, Peak, PeakArgs, PeakReport};
pub use train::{bench_train, StepArgs, StepMemory, StepRecord, TrainBenchArgs, TrainReport};
pub use tune::{bench_tune, TuneArgs, TuneReport, TuneRow};

/// How times are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The summed duration of the compute passes, from timestamp queries.
    GpuTimestamps,
    /// Wall clock from recording to the GPU being idle again.
    WallClock,
}

impl Clock {
    /// Timestamps where the adapter has them: a kernel's time then excludes the fixed cost of
    /// a submission, which on a fast GPU can exceed the kernel itself.
    pub fn for_kernels(gpu: &Gpu) -> Clock {
        if gpu.has_timestamps() {
            Clock::GpuTimestamps
        } else {
            Clock::WallClock
        }
    }

    /// For the record.
    pub fn describe(self) -> &'static str {
        match self {
            Clock::GpuTimestamps => {
                "GPU timestamp queries around each compute pass, median of repeats after warm-up"
            }
            Clock::WallClock => {
                "wall clock around submit and wait, median of repeats after warm-up"
            }
        }
    }
}

/// The adapter a report was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterRecord {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// Whether the adapter offers timestamp queries (see [`Clock`]).
    pub timestamp_queries: bool,
    /// Whether every kernel kept the shader compiler's runtime checks (`PURENOISE_SHADER_CHECKS`),
    /// rather than only those not trusted to guard their own bounds.
    pub shader_checks: bool,
}

impl AdapterRecord {
    pub fn of(gpu: &Gpu) -> AdapterRecord {
        let info = gpu.info();
        AdapterRecord {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            timestamp_queries: gpu.has_timestamps(),
            shader_checks: gpu.shader_checks(),
        }
    }
}

impl std::fmt::Display for AdapterRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, driver {} {})",
            self.name, self.backend, self.device_type, self.driver, self.driver_info
        )?;
        if self.shader_checks {
            write!(f, ", every kernel with runtime checks")?;
        }
        Ok(())
    }
}

/// The table, or with `json` the report as one JSON object.
pub fn render<R: Serialize + std::fmt::Display>(report: &R, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(report).expect("reports serialize")
    } else {
        report.to_string()
    }
}

/// Median seconds of `repeats` timed runs of `f` (each flushed and waited for) after `warmup`
/// untimed ones, which also compile the pipelines.
pub fn median_seconds(
    gpu: &Gpu,
    clock: Clock,
    warmup: usize,
    repeats: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
        gpu.flush()?;
        gpu.wait()?;
    }
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let seconds = match clock {
            Clock::GpuTimestamps => gpu.time_on_gpu(&mut f)?.ok_or_else(|| {
                Error::Invalid("GPU timestamps asked of an adapter without them".into())
            })?,
            Clock::WallClock => {
                let start = Instant::now();
                f()?;
                gpu.flush()?;
                gpu.wait()?;
                start.elapsed().as_secs_f64()
            }
        };
        times.push(seconds);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Seconds since the Unix epoch, so a record says when it was measured.
fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
