//! The run folder's files: their names, which entries of a folder purenoise wrote, atomic
//! writes, trimming metrics to the last checkpoint, leftovers of killed writes, and the
//! free-space check.

use std::fs;
use std::path::Path;

use super::error::{Result, TrainError};
use super::run_config::RunConfig;
use crate::atomic;

pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best.safetensors";
pub const REPORT_FILE: &str = "report.txt";
/// Held (an OS lock) by the one process working in a run folder; see [`super::lock`].
pub const LOCK_FILE: &str = ".purenoise-lock";

/// Every name purenoise writes in a run folder: the run's own files, the final evaluation
/// (`EvalReport::write`), and the figures of `purenoise plot` (its default output folder is the
/// run's). Only regular files of these names, the lock file and purenoise's temporary files
/// count as the run's; `--overwrite` refuses a folder holding anything else.
pub const RUN_FILES: &[&str] = &[
    CONFIG_FILE,
    METRICS_FILE,
    LAST,
    BEST,
    REPORT_FILE,
    "metrics.json",
    "per_class.csv",
    "loss.png",
    "test_top1.png",
    "per_class_recall.png",
    "shot_accuracy.png",
    super::run_config::SUBSET_COPY_FILE,
];

/// Families of names purenoise writes in a run folder: (prefix, suffix). `eval` names its files
/// after the checkpoint, and `--resume-from best` keeps what it replaces under numbered names.
const RUN_FILE_PATTERNS: &[(&str, &str)] = &[
    ("eval-", ".json"),
    ("eval-", "-per_class.csv"),
    ("last-before-resume-from-best", ".safetensors"),
    ("metrics-before-resume-from-best", ".jsonl"),
];

/// Whether purenoise writes a file of this name in a run folder (its temporary files included;
/// the lock file is not: it is never removed by a clear).
pub fn is_run_file(name: &std::ffi::OsStr) -> bool {
    let patterned = name.to_str().is_some_and(|n| {
        RUN_FILE_PATTERNS
            .iter()
            .any(|(prefix, suffix)| n.starts_with(prefix) && n.ends_with(suffix))
    });
    RUN_FILES.iter().any(|f| name == *f) || patterned || atomic::temporary_writer(name).is_some()
}

/// Writes `bytes` to `path` atomically (see [`crate::atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(atomic::write(path, bytes)?)
}

/// Removes the temporary files that killed writers left behind: only names purenoise makes
/// (`.<file>.purenoise-tmp-<pid>`) whose writer is provably gone. A user's `x.tmp-123` and a
/// live process's temporary file are left alone.
pub fn remove_stale_temporaries(run_dir: &Path) {
    let Ok(entries) = run_dir.read_dir() else {
        return;
    };
    for entry in entries.flatten() {
        let stale = atomic::temporary_writer(&entry.file_name())
            .is_some_and(|pid| !atomic::process_alive(pid))
            && entry.file_type().is_ok_and(|t| t.is_file());
        if stale {
            // Best effort: a leftover only wastes space.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// What a folder named as a run's `--out` holds.
#[derive(Debug)]
pub enum FolderState {
    /// Missing, empty, or holding nothing but purenoise's lock and temporary files.
    Empty,
    /// A purenoise run (its `config.json` is one): `ours` are the files purenoise wrote there,
    /// `foreign` the names of every other entry.
    Run {
        ours: Vec<String>,
        foreign: Vec<String>,
    },
    /// Entries, but no purenoise `config.json`: `why` says what is wrong with it.
    NotARun { why: String },
}

/// Looks at `dir` without changing it.
pub fn inspect_folder(dir: &Path) -> Result<FolderState> {
    let entries = match dir.read_dir() {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FolderState::Empty),
        Err(e) => return Err(TrainError::io("read the folder", dir, e)),
    };
    let (mut ours, mut foreign, mut any) = (Vec::new(), Vec::new(), false);
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io("read the folder", dir, e))?;
        let name = entry.file_name();
        let file = entry.file_type().is_ok_and(|t| t.is_file());
        if file && name == LOCK_FILE {
            continue;
        }
        let shown = name.to_string_lossy().into_owned();
        if file && is_run_file(&name) {
            any |= atomic::temporary_writer(&name).is_none();
            ours.push(shown);
        } else {
            any = true;
            foreign.push(if file { shown } else { format!("{shown}/") });
        }
    }
    if !any {
        return Ok(FolderState::Empty);
    }
    ours.sort();
    foreign.sort();
    let config = dir.join(CONFIG_FILE);
    let why = match crate::input::read_text(
        &config,
        crate::input::MAX_CONFIG_BYTES,
        "a run configuration",
    ) {
        Ok(text) => match RunConfig::parse(&text) {
            Ok(_) => return Ok(FolderState::Run { ours, foreign }),
            Err(e) => format!("its {CONFIG_FILE} was not written by purenoise ({e})"),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("it has no {CONFIG_FILE}"),
        Err(e) => format!("its {CONFIG_FILE} cannot be read ({e})"),
    };
    Ok(FolderState::NotARun { why })
}

/// At most this many names when a message lists a folder's entries; the rest are counted.
const LISTED: usize = 8;

/// `a, b, c and 4 more`
pub fn list_names(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        s += &format!(" and {} more", names.len() - LISTED);
    }
    s
}

/// Keeps the metrics lines of the epochs the checkpoint has completed. A run killed after
/// appending an epoch's line but before checkpointing that epoch repeats the epoch on resume,
/// and a final line torn by the kill (no line break yet, not JSON) is dropped. Any other line
/// that is not an epoch record is corruption: an error names the file and line, and the file
/// is left as it is.
pub fn trim_metrics(run_dir: &Path, epochs_done: usize) -> Result<()> {
    let path = run_dir.join(METRICS_FILE);
    let bytes = match crate::input::read_bounded(
        &path,
        crate::input::MAX_METRICS_BYTES,
        "a metrics file",
    ) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io("read", &path, e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let count = text.lines().count();
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let epoch = serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                v["epoch"]
                    .as_u64()
                    .ok_or_else(|| "no `epoch` number".to_string())
            });
        match epoch {
            Ok(e) if (e as usize) < epochs_done => {
                kept += line;
                kept.push('\n');
            }
            Ok(_) => {}
            Err(_) if torn_tail && i + 1 == count => {}
            Err(why) => {
                return Err(TrainError::Other(format!(
                    "{}, line {}: not an epoch record ({why}): the file is corrupted, and \
                     resuming would lose that epoch's metrics; the file was left as it is. \
                     Repair or delete that line (each line is one epoch's JSON record; the \
                     epochs before the checkpoint's epoch {epochs_done} must all be there) and \
                     resume again, or start the run over with --overwrite",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
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
