//! Opening the device, its limits and features, the runtime's switches, and the faults the
//! driver reports.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::{adapter, Gpu, Inner};
use crate::error::{Error, Result};

/// What the device reported, sorted by what it means for the run.
pub(super) enum Fault {
    OutOfMemory(String),
    Lost(String),
    Other(String),
}

/// Set to anything but `0`: every kernel keeps the shader compiler's runtime checks.
pub const SHADER_CHECKS_VAR: &str = "PURENOISE_SHADER_CHECKS";

/// The runtime-check mode `PURENOISE_SHADER_CHECKS` asks for: on when set to anything but `0`.
pub fn shader_checks_from_env(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v != "0")
}

impl Gpu {
    /// Opens the best adapter, or the one `spec` names (index or name substring).
    pub fn new(spec: Option<&str>) -> Result<Gpu> {
        Gpu::open(spec, "--adapter")
    }

    /// [`Gpu::new`] with `origin` naming where `spec` came from (a flag or an environment
    /// variable) in errors and notes.
    pub fn open(spec: Option<&str>, origin: &str) -> Result<Gpu> {
        let instance = adapter::instance();
        let adapters = adapter::compute_adapters(&instance);
        let chosen = adapter::choose(&adapters, spec, origin)?;
        Gpu::from_adapter(&adapters[chosen])
    }

    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        // The adapter's own limits: wgpu's defaults (128 MiB bindings) are too small for wide nets.
        let limits = adapter.limits();
        // 64-bit integers: the strip convolutions load f32 pairs as one u64 (src/ops/conv.rs).
        let optional = wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::SHADER_INT64;
        let features = adapter.features() & optional;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("purenoise"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Adapter(format!("could not open `{}`: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let fault = match &e {
                wgpu::Error::OutOfMemory { .. } => Fault::OutOfMemory(e.to_string()),
                _ => Fault::Other(e.to_string()),
            };
            sink.lock().unwrap().push(fault);
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            let reason = match reason {
                wgpu::DeviceLostReason::Destroyed => "destroyed",
                wgpu::DeviceLostReason::Unknown => "driver error or reset",
            };
            sink.lock()
                .unwrap()
                .push(Fault::Lost(format!("{reason}: {message}")));
        });
        Ok(Gpu(Rc::new(Inner {
            device,
            queue,
            info,
            limits,
            features,
            pipelines: RefCell::default(),
            pool: Rc::default(),
            staging: RefCell::default(),
            commands: RefCell::default(),
            params: RefCell::default(),
            params_buffer: RefCell::default(),
            errors,
            gpu_seconds: RefCell::default(),
            pass_clock: RefCell::default(),
            memory_limit: Cell::new(None),
            skip_kernels: Cell::new(false),
            size_as_gpu: Cell::new(false),
            shader_checks: Cell::new(shader_checks_from_env(
                std::env::var_os(SHADER_CHECKS_VAR).as_deref(),
            )),
            submissions: Cell::new(0),
            profile: RefCell::new(std::env::var_os("PURENOISE_PROFILE").map(|_| HashMap::new())),
            tuned: RefCell::default(),
        })))
    }

    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.0.device
    }

    /// With `on`, dispatches are checked against the adapter's limits but no kernel runs, while
    /// tensors are allocated, pooled and freed exactly as in a real run: a training step then
    /// shows the memory it needs in a fraction of its time (`bench memory`). What is read back
    /// meanwhile is not computed.
    pub fn set_skip_kernels(&self, on: bool) {
        self.0.skip_kernels.set(on);
    }

    /// With `on`, kernels whose work division depends on the adapter (`ops::column_reduction`)
    /// divide it as on a GPU even on a CPU adapter, so tests on lavapipe run what a GPU would.
    pub fn set_size_as_gpu(&self, on: bool) {
        self.0.size_as_gpu.set(on);
    }

    /// Whether work is sized for a CPU adapter (lavapipe): its type is CPU and
    /// `set_size_as_gpu` is off.
    pub fn sized_as_cpu(&self) -> bool {
        self.info().device_type == wgpu::DeviceType::Cpu && !self.0.size_as_gpu.get()
    }

    /// The variant the tuner (crate::tune) chose for the problem an op names `key`, in that op's
    /// own spelling; the runtime keeps the table without reading it, so ops keep their
    /// signatures and fall back to their defaults where it holds nothing.
    pub fn tuned(&self, key: &str) -> Option<String> {
        self.0.tuned.borrow().get(key).cloned()
    }

    /// Records (`Some`) or forgets (`None`) the tuned variant for `key`.
    pub fn set_tuned(&self, key: String, choice: Option<String>) {
        let mut table = self.0.tuned.borrow_mut();
        match choice {
            Some(c) => table.insert(key, c),
            None => table.remove(&key),
        };
    }

    /// With `on`, every kernel is compiled with the shader compiler's runtime checks (bounds,
    /// loop bounding, integer division), including those the registry trusts to guard their own
    /// bounds (`Shader::trusted`): for debugging a kernel that may read or write past its
    /// buffers. Starts on when `PURENOISE_SHADER_CHECKS` is set to anything but `0`. Pipelines
    /// are cached per mode, so it may change at any time; it applies to later dispatches.
    pub fn set_shader_checks(&self, on: bool) {
        self.0.shader_checks.set(on);
    }

    pub fn shader_checks(&self) -> bool {
        self.0.shader_checks.get()
    }

    /// Checks a buffer of `bytes` against the adapter's limits before anything is created.
    pub fn check_buffer(&self, op: &'static str, what: &str, bytes: u64) -> Result<()> {
        if bytes > self.0.limits.max_buffer_size {
            return Err(Error::Limit {
                op,
                what: what.into(),
                bytes,
                limit_name: "max_buffer_size",
                limit: self.0.limits.max_buffer_size,
            });
        }
        Ok(())
    }

    /// Blocks until the device is idle, then reports any error it raised.
    pub fn wait(&self) -> Result<()> {
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("waiting for the GPU failed: {e}")))?;
        self.take_errors()
    }

    /// The first fault of the worst kind raised since the last report: a lost device explains
    /// everything after it, and an allocation that failed explains the invalid-buffer errors
    /// that follow it.
    pub(super) fn take_errors(&self) -> Result<()> {
        if self.0.errors.lock().unwrap().is_empty() {
            return Ok(());
        }
        // A lost device's callback runs when the device is next maintained; give it that
        // chance, so the errors it causes are reported as what they are.
        let _ = self.0.device.poll(wgpu::PollType::Poll);
        let faults = std::mem::take(&mut *self.0.errors.lock().unwrap());
        let lost = faults.iter().find_map(|f| match f {
            Fault::Lost(m) => Some(m),
            _ => None,
        });
        let oom = faults.iter().find_map(|f| match f {
            Fault::OutOfMemory(m) => Some(m),
            _ => None,
        });
        if let Some(m) = lost {
            Err(Error::DeviceLost(m.clone()))
        } else if let Some(m) = oom {
            Err(Error::OutOfMemory {
                detail: format!("the driver refused a buffer ({m})"),
                held: self.memory_stats().total(),
                limit: self.memory_limit(),
            })
        } else {
            let all: Vec<_> = faults
                .iter()
                .map(|f| match f {
                    Fault::Other(m) | Fault::OutOfMemory(m) | Fault::Lost(m) => m.as_str(),
                })
                .collect();
            Err(Error::Device(all.join("; ")))
        }
    }
}
