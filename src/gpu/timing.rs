//! Timing: GPU timestamps around compute passes (`time_on_gpu`) and per-kernel wall-clock
//! profiling (`PURENOISE_PROFILE`).

use std::collections::HashMap;

use super::Gpu;
use crate::error::Result;

/// Timestamp queries for `Gpu::time_on_gpu`: a begin/end pair per compute pass.
pub(super) struct Timing {
    queries: wgpu::QuerySet,
    used: u32,
    /// More passes than the set holds: the sum would be partial, so none is reported.
    overflowed: bool,
}

impl Timing {
    /// WebGPU's largest query set.
    const CAPACITY: u32 = 4096;

    fn new(device: &wgpu::Device) -> Timing {
        Timing {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: Self::CAPACITY,
            }),
            used: 0,
            overflowed: false,
        }
    }

    pub(super) fn next_pass(&mut self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        if self.used + 2 > Self::CAPACITY {
            self.overflowed = true;
            return None;
        }
        self.used += 2;
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(self.used - 2),
            end_of_pass_write_index: Some(self.used - 1),
        })
    }
}

impl Gpu {
    /// Whether compute passes can be timed on the GPU (`time_on_gpu`).
    pub fn has_timestamps(&self) -> bool {
        self.0.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Runs `f` and returns the GPU's own time for the compute passes it recorded (timestamp
    /// queries, summed per pass), or None where the adapter has no timestamp queries or `f`
    /// ran more passes than one query set holds; the work is flushed and finished either way.
    pub fn time_on_gpu(&self, f: impl FnOnce() -> Result<()>) -> Result<Option<f64>> {
        if !self.has_timestamps() {
            f()?;
            self.flush()?;
            self.wait()?;
            return Ok(None);
        }
        self.flush()?;
        *self.0.timing.borrow_mut() = Some(Timing::new(&self.0.device));
        let ran = f().and_then(|_| self.flush());
        let timing = self.0.timing.borrow_mut().take().expect("set above");
        ran?;
        if timing.overflowed {
            self.wait()?;
            return Ok(None);
        }
        if timing.used == 0 {
            return Ok(Some(0.0));
        }
        let bytes = timing.used as u64 * 8;
        let device = &self.0.device;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.resolve_query_set(&timing.queries, 0..timing.used, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
        self.0.queue.submit([encoder.finish()]);
        // A byte Vec need not be 8-aligned: decode rather than cast.
        let ticks: Vec<u64> = self
            .map_read(&staging)?
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let total: u64 = ticks
            .chunks_exact(2)
            .map(|pass| pass[1].saturating_sub(pass[0]))
            .sum();
        Ok(Some(
            total as f64 * self.0.queue.get_timestamp_period() as f64 * 1e-9,
        ))
    }

    /// Starts (clearing earlier numbers) or stops per-kernel timing; `PURENOISE_PROFILE` in the
    /// environment starts it when the device opens. While on, each dispatch is submitted and
    /// waited for alone, so totals are slower than a real run but show where the time goes.
    pub fn set_profiling(&self, on: bool) {
        *self.0.profile.borrow_mut() = on.then(HashMap::new);
    }

    /// Per-kernel (dispatches, wall time) since profiling started, slowest first.
    pub fn profile(&self) -> Option<Vec<(&'static str, u32, std::time::Duration)>> {
        let p = self.0.profile.borrow();
        let mut rows: Vec<_> = p.as_ref()?.iter().map(|(k, (n, t))| (*k, *n, *t)).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        Some(rows)
    }
}
