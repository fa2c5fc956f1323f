//! The one error type of the data layer. Every message names the file, flag or URL involved and
//! what was expected, because users only ever see the `Display` text.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O failure on a named file or folder; `what` says what we were doing.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file exists but its content is not what the format requires.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A command-line value is out of range or inconsistent with the data.
    #[error("{flag}: {msg}")]
    Arg { flag: &'static str, msg: String },
    /// A download failed; the message names the URL and what to do next.
    #[error("{0}")]
    Fetch(String),
}

impl DataError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            what,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub(crate) fn arg(flag: &'static str, msg: impl Into<String>) -> Self {
        DataError::Arg {
            flag,
            msg: msg.into(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
