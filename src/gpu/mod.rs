//! The GPU runtime: device, pipeline cache, buffer pool, and a command queue that records many
//! dispatches and submits them together. Everything above this module speaks in tensors and
//! kernels; only this module touches wgpu.
//!
//! One [`Gpu`] handle, its methods grouped by concern: `device` (opening, limits, switches,
//! faults), `memory` (tensors from the pool, the memory limit), `transfer` (uploads and
//! read-backs), `timing` (timestamps, profiling), `pipeline` (the pipeline cache), `dispatch`
//! (recording and submitting). [`tensor`] is the type everything above speaks in.

pub mod adapter;
mod device;
mod dispatch;
pub mod kernels;
mod memory;
mod pipeline;
pub mod pool;
pub mod tensor;
mod timing;
mod transfer;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use device::Fault;
pub use device::{shader_checks_from_env, SHADER_CHECKS_VAR};
use dispatch::Command;
pub use kernels::{Kernel, KernelParams};
pub use pool::MemoryStats;
use pool::Pool;
use timing::{PassClock, Profile};

/// Threads per workgroup of every 1-D kernel in `shaders/`.
pub const WORKGROUP: u32 = 256;

/// The device, its limits, and the caches built on it. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Gpu(Rc<Inner>);

pub struct Inner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Compiled pipelines, keyed by kernel, element types, overrides and check mode.
    pipelines: RefCell<HashMap<String, pipeline::Compiled>>,
    pool: Rc<RefCell<Pool>>,
    staging: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    commands: RefCell<Vec<Command>>,
    params: RefCell<Vec<u8>>,
    params_buffer: RefCell<Option<wgpu::Buffer>>,
    errors: Arc<Mutex<Vec<Fault>>>,
    /// The GPU time of the compute passes submitted while `time_on_gpu` runs.
    gpu_seconds: RefCell<Option<f64>>,
    /// Timestamp queries for timed submissions, created on first use.
    pass_clock: RefCell<Option<PassClock>>,
    /// A budget for all GPU buffers, below what the adapter could hold.
    memory_limit: Cell<Option<u64>>,
    /// Dispatches are checked but not run (`set_skip_kernels`).
    skip_kernels: Cell<bool>,
    /// Work is sized as for a GPU even on a CPU adapter (`set_size_as_gpu`).
    size_as_gpu: Cell<bool>,
    /// Trusted kernels keep the shader compiler's runtime checks too (`set_shader_checks`).
    shader_checks: Cell<bool>,
    submissions: Cell<u64>,
    /// Per-kernel dispatch count and time while profiling (`PURENOISE_PROFILE`).
    profile: RefCell<Option<Profile>>,
    /// Kernel variants measured fastest on this adapter (`set_tuned`).
    tuned: RefCell<HashMap<String, String>>,
}
