//! `purenoise bench memory`: the peak GPU memory of one training step, without its time. The
//! step is recorded with every kernel skipped (`Gpu::set_skip_kernels`): tensors are allocated,
//! pooled and freed exactly as in a real step, so the peak is the one `bench train` reports (a
//! test checks they are equal), but a WRN-28-10 step at batch 128 that would take an hour on a
//! software adapter is accounted in seconds. It answers "does this run fit my GPU?" before a
//! long run; with `--memory-limit` it fails the way a GPU of that size would.

use std::fmt;

use serde::Serialize;

use super::train::{StepArgs, SyntheticStep};
use super::{unix_time, AdapterRecord};
use crate::error::{human_bytes, Result};
use crate::gpu::Gpu;
use crate::ops::norm::BnMode;

#[derive(clap::Args, Debug, Clone)]
pub struct MemoryArgs {
    #[command(flatten)]
    pub step: StepArgs,
    /// Print one JSON record instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub adapter: AdapterRecord,
    pub model: String,
    pub parameters: usize,
    pub batch: usize,
    pub noise_images: usize,
    pub bn: BnMode,
    /// Parameter, gradient, momentum and batch-norm-buffer arenas: fixed, whatever the batch.
    pub arena_bytes: u64,
    /// Everything held at once at the worst moment: the arenas plus the buffer pool's tensors
    /// (in use or free for reuse by a tensor of the same size).
    pub peak_memory_bytes: u64,
    /// The arenas plus the most the pool's tensors were using at once.
    pub peak_in_use_bytes: u64,
    /// The `--memory-limit` the step was checked against, if any.
    pub memory_limit_bytes: Option<u64>,
    pub method: &'static str,
    pub measured_at_unix: u64,
}

const METHOD: &str = "one training step (noise, forward, backward, SGD) recorded with every \
                      kernel skipped: the allocations of a real step, not its arithmetic";

pub fn bench_memory(gpu: &Gpu, args: &MemoryArgs) -> Result<MemoryReport> {
    let mut step = SyntheticStep::new(gpu, &args.step)?;
    gpu.set_skip_kernels(true);
    let ran = step.run(gpu);
    gpu.set_skip_kernels(false);
    ran?;
    let stats = gpu.memory_stats();
    Ok(MemoryReport {
        adapter: AdapterRecord::of(gpu),
        model: step.kind.to_string(),
        parameters: step.model.params.count(),
        batch: args.step.batch,
        noise_images: step.noise_images,
        bn: args.step.bn,
        arena_bytes: stats.owned,
        peak_memory_bytes: stats.peak,
        peak_in_use_bytes: stats.peak_in_use,
        memory_limit_bytes: gpu.memory_limit(),
        method: METHOD,
        measured_at_unix: unix_time(),
    })
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory of a training step on {}", self.adapter)?;
        writeln!(
            f,
            "{} ({} parameters), batch {} with {} noise images, bn {:?}",
            self.model, self.parameters, self.batch, self.noise_images, self.bn
        )?;
        writeln!(
            f,
            "peak GPU memory {} ({} of parameter, gradient and momentum arenas; {} in use at once)",
            human_bytes(self.peak_memory_bytes),
            human_bytes(self.arena_bytes),
            human_bytes(self.peak_in_use_bytes)
        )?;
        if let Some(limit) = self.memory_limit_bytes {
            writeln!(f, "fits under --memory-limit {}", human_bytes(limit))?;
        }
        write!(f, "({})", self.method)
    }
}
