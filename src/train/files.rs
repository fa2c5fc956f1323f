//! The run folder's files: their names, atomic writes, trimming metrics to the last checkpoint,
//! leftovers of killed writes, and the free-space check.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::error::{Result, TrainError};

pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best.safetensors";

/// Writes `bytes` to `path` through a temporary file and a rename, so `path` is never half written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TrainError::io("write", path, e)
    })
}

/// Removes the temporary files (`<name>.tmp-<pid>`) of writes a killed process left behind.
pub fn remove_stale_temporaries(run_dir: &Path) {
    let Ok(entries) = run_dir.read_dir() else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.rsplit_once(".tmp-"))
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale {
            // Best effort: a leftover only wastes space.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Keeps the metrics lines of the epochs the checkpoint has completed. A run killed after
/// appending an epoch's line but before checkpointing that epoch repeats the epoch on resume,
/// and a line torn by the kill is dropped.
pub fn trim_metrics(run_dir: &Path, epochs_done: usize) -> Result<()> {
    let path = run_dir.join(METRICS_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io("read", &path, e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["epoch"].as_u64())
                .is_some_and(|e| (e as usize) < epochs_done)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if kept.as_bytes() != bytes {
        write_atomic(&path, kept.as_bytes())?;
    }
    Ok(())
}

/// Free bytes on the file system holding `dir` (or its nearest existing ancestor).
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir
        .ancestors()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes into `st`, a plain C struct for which all zeros is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is writable.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // fsblkcnt_t and c_ulong are not u64 on every target
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Refuses to start a run whose folder's disk cannot hold `need` more bytes (checkpoints are
/// also checked at every write; this catches the common case before hours of training).
pub fn check_free_space(dir: &Path, need: u64) -> Result<()> {
    let Some(free) = free_bytes(dir) else {
        return Ok(());
    };
    if free >= need {
        return Ok(());
    }
    let mb = |b: u64| b as f64 / 1e6;
    Err(TrainError::Other(format!(
        "not enough free space for the run folder {}: {:.1} MB free, but its checkpoints \
         (last, best and the temporary copy written before each replaces the old one) need \
         about {:.1} MB; free some space or choose another --out",
        dir.display(),
        mb(free),
        mb(need)
    )))
}
