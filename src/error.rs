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
    /// The device reported an error (validation, out of memory, lost).
    Device(String),
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
            Error::Device(msg) => write!(f, "GPU device error: {msg}"),
            Error::Invalid(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for shape errors, which every op raises.
pub fn shape_err<T>(op: &'static str, detail: impl Into<String>) -> Result<T> {
    Err(Error::Shape {
        op,
        detail: detail.into(),
    })
}
