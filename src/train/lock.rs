//! One process per run folder: `train` and `--resume` hold an exclusive lock on the folder's
//! lock file for their whole life ([`FileLock`]), so a stale lock never blocks a run.

use std::path::Path;

use super::error::{Result, TrainError};
use super::files::LOCK_FILE;
use crate::lockfile::FileLock;

/// The held lock of a run folder; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _held: FileLock,
}

impl RunLock {
    /// Takes `run_dir`'s lock (the folder must exist), or says which process holds it (as
    /// `TrainError::Other`; other errors are I/O).
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        let path = run_dir.join(LOCK_FILE);
        match FileLock::take(&path, false) {
            Ok(Ok(lock)) => Ok(RunLock { _held: lock }),
            Ok(Err(holder)) => {
                let holder = match holder {
                    Some(pid) => format!("process {pid}"),
                    None => "another process (it has not written its PID yet)".into(),
                };
                Err(TrainError::Other(format!(
                    "{} is in use by purenoise {holder}, which holds its lock file {}; only one \
                     process may work in a run folder at a time. Wait for that run to end, or \
                     stop it (Ctrl-C, or kill -INT with its PID: it saves a checkpoint) and try \
                     again",
                    run_dir.display(),
                    path.display()
                )))
            }
            Err(e) => Err(TrainError::io("lock", &path, e)),
        }
    }
}
