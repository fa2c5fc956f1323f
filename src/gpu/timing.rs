//! Timing: GPU timestamps around compute passes (`time_on_gpu`) and per-kernel profiling
//! (`PURENOISE_PROFILE`), both read back at each submission.

use std::collections::HashMap;
use std::time::Duration;

use super::Gpu;
use crate::error::Result;

/// A query set and its read-back buffers, reused by every timed submission: each compute pass
/// gets a begin/end pair of timestamps, and the submission waits for them to be read back.
pub(super) struct PassClock {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl PassClock {
    /// WebGPU's largest query set: two timestamps per pass, so a submission holds at most
    /// `CAPACITY / 2` passes (`dispatch::MAX_PENDING` keeps it there).
    pub(super) const CAPACITY: u32 = 4096;

    fn new(device: &wgpu::Device) -> PassClock {
        let bytes = Self::CAPACITY as u64 * 8;
        PassClock {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: Self::CAPACITY,
            }),
            resolved: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            staging: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// The timestamp writes of pass number `pass` of the submission.
    pub(super) fn writes(&self, pass: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * pass),
            end_of_pass_write_index: Some(2 * pass + 1),
        }
    }

    /// Records copying the first `passes` passes' timestamps to the staging buffer.
    pub(super) fn resolve(&self, encoder: &mut wgpu::CommandEncoder, passes: u32) {
        let bytes = passes as u64 * 16;
        encoder.resolve_query_set(&self.queries, 0..2 * passes, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.staging, 0, bytes);
    }

    /// Waits for the submitted passes and returns each one's duration.
    pub(super) fn durations(
        &self,
        gpu: &Gpu,
        passes: u32,
    ) -> std::result::Result<Vec<Duration>, String> {
        if passes == 0 {
            return Ok(Vec::new());
        }
        let range = ..passes as u64 * 16;
        let (tx, rx) = std::sync::mpsc::channel();
        self.staging
            .slice(range)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        gpu.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| e.to_string())?;
        rx.recv()
            .map_err(|_| "the read-back never completed".to_string())?
            .map_err(|e| e.to_string())?;
        // A byte view need not be 8-aligned for a cast: decode.
        let ticks: std::result::Result<Vec<u64>, String> =
            self.staging.slice(range).get_mapped_range().map_or_else(
                |e| Err(e.to_string()),
                |view| {
                    Ok(view
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect())
                },
            );
        self.staging.unmap();
        let ticks = ticks?;
        let period = gpu.0.queue.get_timestamp_period() as f64;
        Ok(ticks
            .chunks_exact(2)
            .map(|pass| {
                Duration::from_secs_f64(pass[1].saturating_sub(pass[0]) as f64 * period * 1e-9)
            })
            .collect())
    }
}

/// Per-kernel dispatch counts and times while profiling.
pub(super) type Profile = HashMap<&'static str, (u32, Duration)>;

fn add_to_profile(profile: &mut Profile, kernel: &'static str, time: Duration) {
    let entry = profile.entry(kernel).or_default();
    entry.0 += 1;
    entry.1 += time;
}

impl Gpu {
    /// Whether compute passes can be timed on the GPU (`time_on_gpu`).
    pub fn has_timestamps(&self) -> bool {
        self.0.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Runs `f` and returns the GPU's own time for the compute passes it recorded (timestamp
    /// queries, summed per pass), or None where the adapter has no timestamp queries; the work
    /// is flushed and finished either way.
    pub fn time_on_gpu(&self, f: impl FnOnce() -> Result<()>) -> Result<Option<f64>> {
        if !self.has_timestamps() {
            f()?;
            self.flush()?;
            self.wait()?;
            return Ok(None);
        }
        self.flush()?;
        *self.0.gpu_seconds.borrow_mut() = Some(0.0);
        let ran = f().and_then(|_| self.flush());
        let seconds = self.0.gpu_seconds.borrow_mut().take().expect("set above");
        ran?;
        Ok(Some(seconds))
    }

    /// Whether per-kernel profiling is on.
    pub(super) fn profiling(&self) -> bool {
        self.0.profile.borrow().is_some()
    }

    /// Whether submissions time their passes: inside `time_on_gpu`, or profiling on an adapter
    /// with timestamps.
    pub(super) fn timing_passes(&self) -> bool {
        self.has_timestamps() && (self.0.gpu_seconds.borrow().is_some() || self.profiling())
    }

    /// Whether each dispatch gets a compute pass (and so timestamps) of its own: while
    /// profiling on an adapter with timestamps.
    pub(super) fn pass_per_dispatch(&self) -> bool {
        self.has_timestamps() && self.profiling()
    }

    /// The shared pass clock, created on first use.
    pub(super) fn pass_clock(&self) -> std::cell::RefMut<'_, PassClock> {
        std::cell::RefMut::map(self.0.pass_clock.borrow_mut(), |c| {
            c.get_or_insert_with(|| PassClock::new(&self.0.device))
        })
    }

    /// Adds a submission's pass times: to `time_on_gpu`'s sum, and with a pass per dispatch to
    /// each pass's kernel in the profile.
    pub(super) fn add_pass_times(&self, kernels: &[Option<&'static str>], times: &[Duration]) {
        if let Some(sum) = self.0.gpu_seconds.borrow_mut().as_mut() {
            *sum += times.iter().map(Duration::as_secs_f64).sum::<f64>();
        }
        if let Some(profile) = self.0.profile.borrow_mut().as_mut() {
            for (kernel, time) in kernels.iter().zip(times) {
                if let Some(kernel) = kernel {
                    add_to_profile(profile, kernel, *time);
                }
            }
        }
    }

    /// Times one dispatch on the wall clock while profiling on an adapter without timestamps:
    /// `record` records it, and it runs submitted and waited for alone.
    pub(super) fn profile_alone(&self, kernel: &'static str, record: impl FnOnce()) {
        let drain = || {
            self.submit_pending();
            let _ = self.0.device.poll(wgpu::PollType::wait_indefinitely());
        };
        // What came before it first.
        drain();
        let start = std::time::Instant::now();
        record();
        drain();
        if let Some(profile) = self.0.profile.borrow_mut().as_mut() {
            add_to_profile(profile, kernel, start.elapsed());
        }
    }

    /// Starts (clearing earlier numbers) or stops per-kernel timing; `PURENOISE_PROFILE` in the
    /// environment starts it when the device opens. See [`Gpu::profile_clock`] for how.
    pub fn set_profiling(&self, on: bool) {
        // What was recorded before counts as it was recorded: profiled or not.
        self.submit_pending();
        *self.0.profile.borrow_mut() = on.then(HashMap::new);
    }

    /// How the profile times kernels, for its readers.
    pub fn profile_clock(&self) -> &'static str {
        if self.has_timestamps() {
            "GPU timestamps around each dispatch, each in a compute pass of its own, the work \
             submitted as in a normal step"
        } else {
            "wall clock around each dispatch, submitted and waited for alone (the adapter has no \
             timestamp queries), so each includes a submission's fixed cost"
        }
    }

    /// Per-kernel (dispatches, time) since profiling started, slowest first. Submits what is
    /// recorded first, so its dispatches are in it.
    pub fn profile(&self) -> Option<Vec<(&'static str, u32, Duration)>> {
        self.submit_pending();
        let p = self.0.profile.borrow();
        let mut rows: Vec<_> = p.as_ref()?.iter().map(|(k, (n, t))| (*k, *n, *t)).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        Some(rows)
    }
}
