//! `purenoise bench memory`: the peak GPU memory of training steps, without their time. The
//! step, the training loop's own (`train::step::Step`), is recorded with every kernel skipped
//! (`Gpu::set_skip_kernels`): tensors are allocated, pooled and freed exactly as in a real
//! step, so the peak is the one `bench train` reports (a test checks they are equal), but a
//! WRN-28-10 step at batch 128 that would take an hour on a software adapter is accounted in
//! seconds. It answers "does this run fit my GPU?" before a long run; with `--memory-limit` it
//! fails the way a GPU of that size would.

use std::fmt;

use serde::Serialize;

use super::train::{StepArgs, StepMemory, StepRecord, SyntheticStep};
use super::unix_time;
use crate::error::{human_bytes, Error, Result};
use crate::gpu::Gpu;

#[derive(clap::Args, Debug, Clone)]
pub struct MemoryArgs {
    #[command(flatten)]
    pub step: StepArgs,
    /// Steps recorded: the first meets every shape, later ones show what a warm step re-creates
    /// (the pool releases free buffers to stay near its tensors' peak).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Print one JSON record instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    #[serde(flatten)]
    pub step: StepRecord,
    pub steps: usize,
    #[serde(flatten)]
    pub memory: StepMemory,
    /// The `--memory-limit` the step was checked against, if any.
    pub memory_limit_bytes: Option<u64>,
    pub method: &'static str,
    pub measured_at_unix: u64,
}

const METHOD: &str = "training steps (noise, forward, backward, SGD) recorded with every kernel \
                      skipped: the allocations of real steps, not their arithmetic";

pub fn bench_memory(gpu: &Gpu, args: &MemoryArgs) -> Result<MemoryReport> {
    if args.steps == 0 {
        return Err(Error::Invalid(
            "bench memory: --steps must be at least 1".into(),
        ));
    }
    let mut step = SyntheticStep::new(gpu, &args.step)?;
    gpu.set_skip_kernels(true);
    let mut warm = gpu.memory_stats();
    let ran = (0..args.steps).try_for_each(|i| {
        if i == 1 {
            warm = gpu.memory_stats();
        }
        step.run(gpu)
    });
    gpu.set_skip_kernels(false);
    ran?;
    Ok(MemoryReport {
        step: step.record(gpu),
        steps: args.steps,
        memory: StepMemory::of(gpu, warm, args.steps - 1),
        memory_limit_bytes: gpu.memory_limit(),
        method: METHOD,
        measured_at_unix: unix_time(),
    })
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory of a training step {}", self.step)?;
        writeln!(f, "{}", self.memory)?;
        if let Some(limit) = self.memory_limit_bytes {
            writeln!(f, "fits under --memory-limit {}", human_bytes(limit))?;
        }
        write!(f, "({})", self.method)
    }
}
