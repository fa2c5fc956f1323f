//! The GPU runtime: device, pipeline cache, buffer pool, and a command queue that records many
//! dispatches and submits them together. Everything above this module speaks in tensors and
//! kernels; only this module touches wgpu.

pub mod adapter;
pub mod kernels;
pub mod pool;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
pub use kernels::{Kernel, KernelParams};
pub use pool::MemoryStats;
use pool::{Pool, Storage};

/// Threads per workgroup of every 1-D kernel in `shaders/`.
pub const WORKGROUP: u32 = 256;

/// Recorded work, encoded and submitted at the next flush.
enum Command {
    Dispatch {
        kernel: &'static str,
        pipeline: wgpu::ComputePipeline,
        params_offset: u64,
        params_size: u64,
        bindings: Vec<(wgpu::Buffer, u64, u64)>,
        groups: [u32; 3],
    },
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        size: u64,
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    },
}

/// The device, its limits, and the caches built on it. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Gpu(Rc<Inner>);

pub struct Inner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Compiled pipelines and the number of resource bindings their kernel declares.
    pipelines: RefCell<HashMap<String, (wgpu::ComputePipeline, usize)>>,
    pool: Rc<RefCell<Pool>>,
    staging: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    commands: RefCell<Vec<Command>>,
    params: RefCell<Vec<u8>>,
    params_buffer: RefCell<Option<wgpu::Buffer>>,
    errors: Arc<Mutex<Vec<Fault>>>,
    /// Timestamps around compute passes while `time_on_gpu` runs.
    timing: RefCell<Option<Timing>>,
    /// A budget for all GPU buffers, below what the adapter could hold.
    memory_limit: Cell<Option<u64>>,
    /// Dispatches are checked but not run (`set_skip_kernels`).
    skip_kernels: Cell<bool>,
    /// Work is sized as for a GPU even on a CPU adapter (`set_size_as_gpu`).
    size_as_gpu: Cell<bool>,
    /// Trusted kernels keep the shader compiler's runtime checks too (`set_shader_checks`).
    shader_checks: Cell<bool>,
    submissions: Cell<u64>,
    /// Per-kernel dispatch count and time, when `PURENOISE_PROFILE` is set.
    profile: RefCell<Option<HashMap<&'static str, (u32, std::time::Duration)>>>,
    /// Kernel variants measured fastest on this adapter (`set_tuned`).
    tuned: RefCell<HashMap<String, String>>,
}

/// Timestamp queries for `Gpu::time_on_gpu`: a begin/end pair per compute pass.
struct Timing {
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

    fn next_pass(&mut self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
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

/// What the device reported, sorted by what it means for the run.
enum Fault {
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

/// Flush on our own once this many commands are waiting, so recording never grows unbounded.
const MAX_PENDING: usize = 4096;

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
        let optional =
            wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY;
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
            timing: RefCell::default(),
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

    /// Bytes the buffer pool holds (tensors only; parameter arenas are fixed).
    pub fn memory_stats(&self) -> MemoryStats {
        self.0.pool.borrow().stats
    }

    /// Whether compute passes can be timed on the GPU (`time_on_gpu`).
    pub fn has_timestamps(&self) -> bool {
        self.0.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Caps every GPU buffer this process holds at `bytes` (None: only the driver's limit), so a
    /// run sized for a smaller GPU fails here the way it would there, with the numbers.
    pub fn set_memory_limit(&self, bytes: Option<u64>) {
        self.0.memory_limit.set(bytes);
    }

    pub fn memory_limit(&self) -> Option<u64> {
        self.0.memory_limit.get()
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

    /// Makes room for a new buffer of `bytes` under the memory limit, releasing free pooled
    /// buffers (of other sizes) first.
    fn reserve(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
        let Some(limit) = self.0.memory_limit.get() else {
            return Ok(());
        };
        if self.memory_stats().total() + bytes > limit {
            self.trim_pool();
        }
        let held = self.memory_stats().total();
        if held + bytes > limit {
            return Err(Error::OutOfMemory {
                detail: format!("{} needs {} more", what(), crate::error::human_bytes(bytes)),
                held,
                limit: Some(limit),
            });
        }
        Ok(())
    }

    /// Returns free pooled buffers to the driver.
    pub fn trim_pool(&self) {
        self.0.pool.borrow_mut().trim();
    }

    pub fn submissions(&self) -> u64 {
        self.0.submissions.get()
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

    /// A new (uninitialized) tensor from the pool.
    pub fn alloc(&self, op: &'static str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        // Zero-sized bindings are invalid; a 4-byte buffer keeps empty tensors legal.
        let size = (numel.max(1) * 4) as u64;
        self.check_buffer(op, &format!("tensor of shape {shape:?}"), size)?;
        let pooled = self.0.pool.borrow_mut().take(size);
        let buffer = match pooled {
            Some(b) => b,
            None => {
                self.reserve(|| format!("{op}: a tensor of shape {shape:?}"), size)?;
                self.0.pool.borrow_mut().record_new(size);
                self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(op),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        let storage = Rc::new(Storage::pooled(buffer, size, self.0.pool.clone()));
        Ok(Tensor::from_storage(storage, 0, shape.to_vec(), dtype))
    }

    /// A zero-filled tensor.
    pub fn zeros(&self, op: &'static str, shape: &[usize]) -> Result<Tensor> {
        let t = self.alloc(op, shape, DType::F32)?;
        self.clear(&t);
        Ok(t)
    }

    /// A dedicated buffer outside the pool (parameter arenas), zero-filled by wgpu.
    pub fn create_owned(&self, label: &'static str, bytes: u64) -> Result<Rc<Storage>> {
        self.check_buffer(label, label, bytes)?;
        self.reserve(|| label.to_string(), bytes.max(4))?;
        let buffer = self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Rc::new(Storage::owned(
            buffer,
            bytes.max(4),
            self.0.pool.clone(),
        )))
    }

    /// Records zero-filling a tensor (in order with dispatches).
    pub fn clear(&self, t: &Tensor) {
        self.push(Command::Clear {
            buffer: t.buffer().clone(),
            offset: t.offset_bytes(),
            size: t.bytes(),
        });
    }

    /// Records copying `len` elements from `src[src_start..]` to `dst[dst_start..]`.
    pub fn copy(
        &self,
        src: &Tensor,
        src_start: usize,
        dst: &Tensor,
        dst_start: usize,
        len: usize,
    ) -> Result<()> {
        if src_start + len > src.numel() || dst_start + len > dst.numel() {
            return Err(Error::Shape {
                op: "copy",
                detail: format!(
                    "{len} elements from {src_start} of {:?} to {dst_start} of {:?} run past the end",
                    src.shape(),
                    dst.shape()
                ),
            });
        }
        if len > 0 {
            self.push(Command::Copy {
                src: src.buffer().clone(),
                src_offset: src.offset_bytes() + src_start as u64 * 4,
                dst: dst.buffer().clone(),
                dst_offset: dst.offset_bytes() + dst_start as u64 * 4,
                size: len as u64 * 4,
            });
        }
        Ok(())
    }

    /// Copies host data into a new tensor.
    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let t = self.alloc("upload", shape, DType::F32)?;
        self.write(&t, bytemuck::cast_slice(data))?;
        Ok(t)
    }

    /// Copies host u32 data (labels, masks) into a new tensor.
    pub fn upload_u32(&self, data: &[u32], shape: &[usize]) -> Result<Tensor> {
        let t = self.alloc("upload", shape, DType::U32)?;
        self.write(&t, bytemuck::cast_slice(data))?;
        Ok(t)
    }

    /// Overwrites a tensor's contents from the host.
    pub fn write(&self, t: &Tensor, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 != t.numel() as u64 * 4 {
            return Err(Error::Shape {
                op: "upload",
                detail: format!(
                    "{} values given for a tensor of shape {:?}",
                    bytes.len() / 4,
                    t.shape()
                ),
            });
        }
        // queue.write_buffer lands before the *next* submission's commands, so commands
        // recorded so far (which may still read this recycled buffer) must be submitted first.
        self.flush()?;
        if !bytes.is_empty() {
            self.0
                .queue
                .write_buffer(t.buffer(), t.offset_bytes(), bytes);
        }
        Ok(())
    }

    /// Reads a tensor back to the host (flushes pending work and waits for it).
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(t)?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        let bytes = self.read_bytes(t)?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        let size = t.numel() as u64 * 4;
        if size == 0 {
            return Ok(Vec::new());
        }
        self.flush()?;
        let staging = self
            .0
            .staging
            .borrow_mut()
            .get_mut(&size)
            .and_then(Vec::pop)
            .unwrap_or_else(|| {
                self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            });
        let mut encoder = self.0.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(t.buffer(), t.offset_bytes(), &staging, 0, size);
        self.0.queue.submit([encoder.finish()]);
        let bytes = self.map_read(&staging)?;
        staging.unmap();
        self.0
            .staging
            .borrow_mut()
            .entry(size)
            .or_default()
            .push(staging);
        Ok(bytes)
    }

    /// Maps a submitted MAP_READ buffer once the GPU is done with it, and copies it out.
    fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Device("readback was never completed".into()))?
            .map_err(|e| Error::Device(format!("mapping a readback buffer failed: {e}")))?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Device(format!("reading a mapped buffer failed: {e}")))?
            .to_vec();
        Ok(bytes)
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
    fn take_errors(&self) -> Result<()> {
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

    /// The compute pipeline for a kernel with given override constants, compiled once per
    /// runtime-check mode.
    fn pipeline(
        &self,
        kernel: &kernels::Shader,
        overrides: &[(&str, f64)],
    ) -> Result<(wgpu::ComputePipeline, usize)> {
        let trusted = kernel.trusted && !self.0.shader_checks.get();
        let key = format!("{}{:?} trusted {trusted}", kernel.name, overrides);
        if let Some(p) = self.0.pipelines.borrow().get(&key) {
            return Ok(p.clone());
        }
        // naga first: its diagnostics name the file and line; wgpu's would arrive asynchronously.
        let (naga_module, _) = kernels::validate(kernel)?;
        kernels::check_params(kernel, &naga_module)?;
        let bindings = naga_module
            .global_variables
            .iter()
            .filter(|(_, g)| g.binding.is_some())
            .count();
        let source = kernels::expanded_source(kernel)?;
        let scope = self
            .0
            .device
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = if trusted {
            // SAFETY: a trusted kernel keeps every access in bounds, ends every loop and never
            // divides an integer by zero through its own guards and the dispatch sizes its op
            // computes (the audit in its header, and src/gpu/kernels.rs); the kernel tests run
            // each one against the f64 references with and without the runtime checks.
            unsafe {
                self.0
                    .device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            self.0.device.create_shader_module(desc)
        };
        let pipeline = self
            .0
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: overrides,
                    ..Default::default()
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Shader {
                kernel: format!("shaders/{}.wgsl", kernel.name),
                message: e.to_string(),
            });
        }
        self.0
            .pipelines
            .borrow_mut()
            .insert(key, (pipeline.clone(), bindings));
        Ok((pipeline, bindings))
    }

    /// Records one dispatch. `params` fills the kernel's uniform `Params` struct (binding 0);
    /// `tensors` bind to 1, 2, … in order, each named for error messages.
    pub fn dispatch<P: KernelParams>(
        &self,
        kernel: &Kernel<P>,
        overrides: &[(&str, f64)],
        params: &P,
        tensors: &[(&str, &Tensor)],
        groups: [u32; 3],
    ) -> Result<()> {
        let kernel = &kernel.shader;
        let limits = &self.0.limits;
        for (name, t) in tensors {
            if t.bytes() > limits.max_storage_buffer_binding_size {
                return Err(Error::Limit {
                    op: kernel.name,
                    what: format!("tensor `{name}` of shape {:?}", t.shape()),
                    bytes: t.bytes(),
                    limit_name: "max_storage_buffer_binding_size",
                    limit: limits.max_storage_buffer_binding_size,
                });
            }
        }
        let max_groups = limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max_groups) {
            return Err(Error::Limit {
                op: kernel.name,
                what: format!("a dispatch of {groups:?} workgroups"),
                bytes: *groups.iter().max().unwrap() as u64,
                limit_name: "max_compute_workgroups_per_dimension",
                limit: max_groups as u64,
            });
        }
        if groups.contains(&0) || self.0.skip_kernels.get() {
            return Ok(());
        }
        let (pipeline, bindings) = self.pipeline(kernel, overrides)?;
        if bindings != tensors.len() + 1 {
            return Err(Error::Invalid(format!(
                "kernel `{}` declares {bindings} bindings but was given parameters and {} tensors",
                kernel.name,
                tensors.len()
            )));
        }
        // Uniform structs are padded to 16 bytes.
        let params_size = (size_of::<P>().max(1).div_ceil(16) * 16) as u64;
        let params_offset = {
            let mut arena = self.0.params.borrow_mut();
            let align = limits.min_uniform_buffer_offset_alignment as usize;
            let offset = arena.len().div_ceil(align) * align;
            arena.resize(offset, 0);
            arena.extend_from_slice(bytemuck::bytes_of(params));
            arena.resize(offset + params_size as usize, 0);
            offset as u64
        };
        let bindings = tensors
            .iter()
            .map(|(_, t)| (t.buffer().clone(), t.offset_bytes(), t.bytes()))
            .collect();
        let profiling = self.0.profile.borrow().is_some();
        let profile_start = profiling.then(|| {
            // Profiling times each dispatch alone: drain what came before it first.
            self.submit_pending();
            let _ = self.0.device.poll(wgpu::PollType::wait_indefinitely());
            std::time::Instant::now()
        });
        self.push(Command::Dispatch {
            kernel: kernel.name,
            pipeline,
            params_offset,
            params_size,
            bindings,
            groups,
        });
        if let Some(start) = profile_start {
            self.submit_pending();
            let _ = self.0.device.poll(wgpu::PollType::wait_indefinitely());
            if let Some(p) = self.0.profile.borrow_mut().as_mut() {
                let entry = p.entry(kernel.name).or_default();
                entry.0 += 1;
                entry.1 += start.elapsed();
            }
        }
        Ok(())
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

    /// Workgroup counts covering `threads` invocations of a 1-D kernel with `per_group` threads
    /// per workgroup; beyond the per-dimension limit, groups spill into y (kernels fold
    /// `workgroup_id.y * num_workgroups.x + workgroup_id.x` back into one index).
    pub fn grid(&self, threads: u64, per_group: u32) -> [u32; 3] {
        let groups = threads.div_ceil(per_group as u64);
        let max = self.0.limits.max_compute_workgroups_per_dimension as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }

    fn push(&self, command: Command) {
        let pending = {
            let mut commands = self.0.commands.borrow_mut();
            commands.push(command);
            commands.len()
        };
        if pending >= MAX_PENDING {
            // Device errors stay queued until the next flush or read reports them.
            self.submit_pending();
        }
    }

    /// Submits everything recorded so far and reports any device error raised since the last
    /// report.
    pub fn flush(&self) -> Result<()> {
        self.submit_pending();
        self.take_errors()
    }

    /// Encodes every recorded command into one command buffer and submits it.
    fn submit_pending(&self) {
        let commands = std::mem::take(&mut *self.0.commands.borrow_mut());
        if commands.is_empty() {
            return;
        }
        let params = std::mem::take(&mut *self.0.params.borrow_mut());
        let params_buffer = self.params_buffer(params.len() as u64);
        if !params.is_empty() {
            self.0.queue.write_buffer(&params_buffer, 0, &params);
        }
        let device = &self.0.device;
        let mut timing = self.0.timing.borrow_mut();
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut index = 0;
        while index < commands.len() {
            match &commands[index] {
                Command::Clear {
                    buffer,
                    offset,
                    size,
                } => {
                    encoder.clear_buffer(buffer, *offset, Some(*size));
                    index += 1;
                }
                Command::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    size,
                } => {
                    encoder.copy_buffer_to_buffer(src, *src_offset, dst, *dst_offset, *size);
                    index += 1;
                }
                Command::Dispatch { .. } => {
                    // Consecutive dispatches share one pass; WebGPU makes each dispatch its own
                    // usage scope, so wgpu orders a dispatch after the writes it reads.
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: timing.as_mut().and_then(Timing::next_pass),
                    });
                    while let Some(Command::Dispatch {
                        kernel,
                        pipeline,
                        params_offset,
                        params_size,
                        bindings,
                        groups,
                    }) = commands.get(index)
                    {
                        let mut entries = vec![wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &params_buffer,
                                offset: *params_offset,
                                size: NonZeroU64::new(*params_size),
                            }),
                        }];
                        for (i, (buffer, offset, size)) in bindings.iter().enumerate() {
                            entries.push(wgpu::BindGroupEntry {
                                binding: i as u32 + 1,
                                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                    buffer,
                                    offset: *offset,
                                    size: NonZeroU64::new(*size),
                                }),
                            });
                        }
                        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                            // Device errors then name the kernel.
                            label: Some(kernel),
                            layout: &pipeline.get_bind_group_layout(0),
                            entries: &entries,
                        });
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, &bind_group, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        index += 1;
                    }
                }
            }
        }
        self.0.queue.submit([encoder.finish()]);
        self.0.submissions.set(self.0.submissions.get() + 1);
    }

    /// The uniform buffer holding every pending dispatch's parameters, grown as needed.
    fn params_buffer(&self, needed: u64) -> wgpu::Buffer {
        let mut slot = self.0.params_buffer.borrow_mut();
        match slot.as_ref() {
            Some(b) if b.size() >= needed => b.clone(),
            _ => {
                let size = needed.max(64 * 1024).next_power_of_two();
                let b = self.0.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("kernel parameters"),
                    size,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                *slot = Some(b.clone());
                b
            }
        }
    }
}
