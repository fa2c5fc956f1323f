//! Errors of a training run: each says what went wrong, where, and what to do.

use std::fmt;
use std::path::PathBuf;

use super::checkpoint::CheckpointError;
use super::metrics::MetricsError;
use crate::atomic::WriteError;
use crate::data::DataError;

#[derive(Debug)]
pub enum TrainError {
    Gpu(crate::Error),
    Data(DataError),
    Checkpoint(CheckpointError),
    Metrics(MetricsError),
    Write(WriteError),
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A flag or combination of flags that cannot work.
    Arg {
        flag: &'static str,
        message: String,
    },
    /// The loss or a parameter stopped being finite.
    NotFinite {
        step: usize,
        epoch: usize,
        what: String,
        checkpoint: Option<PathBuf>,
    },
    /// The GPU failed during a step (out of memory, device lost): `advice` says what is safe
    /// and what to do.
    StepFailed {
        step: usize,
        epoch: usize,
        source: crate::Error,
        advice: String,
    },
    Other(String),
}

pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn arg(flag: &'static str, message: impl Into<String>) -> Self {
        TrainError::Arg {
            flag,
            message: message.into(),
        }
    }
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Gpu(e) => write!(f, "{e}"),
            TrainError::Data(e) => write!(f, "{e}"),
            TrainError::Checkpoint(e) => write!(f, "{e}"),
            TrainError::Metrics(e) => write!(f, "{e}"),
            TrainError::Write(e) => write!(f, "{e}"),
            TrainError::Io {
                action,
                path,
                source,
            } => write!(f, "could not {action} {}: {source}", path.display()),
            TrainError::Arg { flag, message } => write!(f, "{flag}: {message}"),
            TrainError::NotFinite {
                step,
                epoch,
                what,
                checkpoint,
            } => {
                write!(f, "{what} at step {step} (epoch {epoch}); training stopped")?;
                match checkpoint {
                    Some(c) => write!(f, "; the last good checkpoint is {} (resume with --resume on its run folder, perhaps with a lower --lr)", c.display()),
                    None => write!(f, "; no checkpoint had been written yet (try a lower --lr)"),
                }
            }
            TrainError::StepFailed {
                step,
                epoch,
                source,
                advice,
            } => write!(f, "step {step} (epoch {epoch}) failed: {source}. {advice}"),
            TrainError::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<crate::Error> for TrainError {
    fn from(e: crate::Error) -> Self {
        TrainError::Gpu(e)
    }
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        TrainError::Data(e)
    }
}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        TrainError::Checkpoint(e)
    }
}

impl From<MetricsError> for TrainError {
    fn from(e: MetricsError) -> Self {
        TrainError::Metrics(e)
    }
}

impl From<WriteError> for TrainError {
    fn from(e: WriteError) -> Self {
        TrainError::Write(e)
    }
}
