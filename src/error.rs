//! One error type for the library. Every variant's message names the thing at fault and the
//! numbers involved, because users see errors by their Display text, never as a backtrace.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// No adapter, or none matching `--adapter`.
    Adapter(String),
    /// Tensors handed to an op do not fit together.
    Shape { op: &'static str, detail: String },
    /// A size exceeds one of the adapter's limits.
    Limit {
        op: &'static str,
        what: String,
        bytes: u64,
        limit_name: &'static str,
        limit: u64,
    },
    /// A WGSL kernel failed naga's validation or pipeline creation.
    Shader { kernel: String, message: String },
    /// A kernel's uniform `Params` (as naga reads the WGSL) and the Rust struct that fills it
    /// differ in size, or in a field's name, offset or type.
    KernelParams { kernel: String, message: String },
    /// The device reported an error (validation, internal).
    Device(String),
    /// The GPU, or the budget set with `Gpu::set_memory_limit`, could not hold a buffer.
    OutOfMemory {
        /// What was being allocated, or the driver's own words.
        detail: String,
        /// Bytes of GPU buffers this process held when it happened.
        held: u64,
        /// The budget, when one is set (adapters do not report their memory size portably).
        limit: Option<u64>,
    },
    /// The device is gone (driver reset, GPU removed, destroyed): nothing more can run on it.
    DeviceLost(String),
    /// An argument outside what an op accepts.
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Adapter(msg) => write!(f, "GPU adapter: {msg}"),
            Error::Shape { op, detail } => write!(f, "{op}: shape mismatch: {detail}"),
            Error::Limit {
                op,
                what,
                bytes,
                limit_name,
                limit,
            } => write!(
                f,
                "{op}: {what} needs {bytes} bytes ({:.1} MiB), above this adapter's \
                 {limit_name} of {limit} bytes ({:.1} MiB); use a smaller batch or model, \
                 or an adapter with a larger limit (see `purenoise devices`)",
                *bytes as f64 / 1048576.0,
                *limit as f64 / 1048576.0
            ),
            Error::Shader { kernel, message } => {
                write!(f, "kernel `{kernel}` failed to compile: {message}")
            }
            Error::KernelParams { kernel, message } => write!(
                f,
                "kernel `{kernel}`: its uniform Params and the Rust struct filling them differ: \
                 {message}"
            ),
            Error::Device(msg) => write!(f, "GPU device error: {msg}"),
            Error::OutOfMemory {
                detail,
                held,
                limit,
            } => {
                write!(
                    f,
                    "out of GPU memory: {detail}, with {} of GPU buffers already held",
                    human_bytes(*held)
                )?;
                match limit {
                    Some(l) => write!(f, " (memory limit {})", human_bytes(*l)),
                    None => Ok(()),
                }
            }
            Error::DeviceLost(msg) => write!(
                f,
                "the GPU device was lost ({msg}); nothing more can run on it in this process"
            ),
            Error::Invalid(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// Bytes for people: "512 B", "2.0 KiB", "36.5 MiB", "2.50 GiB".
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1048576 => format!("{:.1} KiB", b / 1024.0),
        1048576..1073741824 => format!("{:.1} MiB", b / 1048576.0),
        _ => format!("{:.2} GiB", b / 1073741824.0),
    }
}

/// Shorthand for shape errors, which every op raises.
pub fn shape_err<T>(op: &'static str, detail: impl Into<String>) -> Result<T> {
    Err(Error::Shape {
        op,
        detail: detail.into(),
    })
}
