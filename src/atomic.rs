//! The one way the program writes a file: a temporary file beside the target, written and
//! synced, renamed over the target, then the folder synced. A crash at any moment leaves the
//! old file or the new one, never a torn one.
//!
//! The temporary file is named `.<name>.purenoise-tmp-<pid>`: a name no user would choose, and
//! one that says which process wrote it, so a leftover can be proven ours and stale (its writer
//! is gone) before anything removes it. Below `train` and `report`, which both write through it.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What sets a temporary file's name apart; the writer's PID follows it.
pub const TEMP_MARK: &str = ".purenoise-tmp-";

/// `dir/.<name>.purenoise-tmp-<pid>` for `dir/<name>`, written by this process.
pub fn temporary_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut tmp = OsStr::new(".").to_os_string();
    tmp.push(name);
    tmp.push(format!("{TEMP_MARK}{}", std::process::id()));
    Some(path.with_file_name(tmp))
}

/// The PID of the process that wrote the temporary file named `name`, when the name is one
/// [`temporary_path`] makes; `None` for every other name (a user's `x.tmp-123` included).
pub fn temporary_writer(name: &OsStr) -> Option<u32> {
    let name = name.to_str()?;
    let (target, pid) = name.strip_prefix('.')?.rsplit_once(TEMP_MARK)?;
    if target.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` may still be running (and so still writing its temporary file).
/// Unsure answers say yes: a file is only ever removed when its writer is provably gone.
#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to someone else.
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
pub fn process_alive(_pid: u32) -> bool {
    true
}

/// A failed atomic write: which step failed, and whether the file at `path` is as it was.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write {}: {step}: {source}{}{}",
    path.display(),
    io_hint(source),
    if *untouched { "; any previous file there is untouched" } else { "" }
)]
pub struct WriteError {
    pub path: PathBuf,
    pub step: String,
    pub source: io::Error,
    /// A previous file at `path` is intact (the failure came before the rename).
    pub untouched: bool,
}

/// What to do about the common write failures.
pub fn io_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            " (disk full: free some space or save to another folder)"
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            " (is the folder writable?)"
        }
        io::ErrorKind::NotFound => " (does the folder exist?)",
        _ => "",
    }
}

/// Writes `bytes` to `path` atomically (see the module doc).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_with(path, |f| f.write_all(bytes))
}

/// Like [`write`], with `fill` writing the temporary file's content (callers that stream, and
/// the fault injection of the checkpoint tests).
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), WriteError> {
    let fail = |step: String, source: io::Error, untouched: bool| WriteError {
        path: path.to_path_buf(),
        step,
        source,
        untouched,
    };
    let tmp = temporary_path(path).ok_or_else(|| {
        fail(
            "the path names no file".into(),
            io::Error::from(io::ErrorKind::InvalidInput),
            true,
        )
    })?;
    let written = (|| -> Result<(), (String, io::Error)> {
        let step = |s: &str| format!("{s} temporary file {}", tmp.display());
        let mut f = File::create(&tmp).map_err(|e| (step("creating"), e))?;
        fill(&mut f).map_err(|e| (step("writing"), e))?;
        f.sync_all().map_err(|e| (step("syncing"), e))?;
        fs::rename(&tmp, path).map_err(|e| (format!("renaming {} over it", tmp.display()), e))
    })();
    if let Err((step, e)) = written {
        // Best effort: the write error is what the user needs to see.
        let _ = fs::remove_file(&tmp);
        return Err(fail(step, e, true));
    }
    sync_folder(path).map_err(|e| {
        fail(
            "syncing the folder after the rename (the new file is in place but may not survive \
             a crash)"
                .into(),
            e,
            false,
        )
    })
}

/// Makes the rename durable: on Linux a rename is only on disk once its folder is synced.
#[cfg(unix)]
fn sync_folder(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_folder(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognized_and_nothing_else_is() {
        let tmp = temporary_path(Path::new("run/last.safetensors")).unwrap();
        let name = tmp.file_name().unwrap();
        assert_eq!(
            name.to_str().unwrap(),
            format!(".last.safetensors.purenoise-tmp-{}", std::process::id())
        );
        assert_eq!(tmp.parent(), Some(Path::new("run")));
        assert_eq!(temporary_writer(name), Some(std::process::id()));
        for other in [
            "last.safetensors.tmp-123",
            "x.tmp-123",
            "last.safetensors.purenoise-tmp-123",
            ".purenoise-tmp-123",
            ".x.purenoise-tmp-",
            ".x.purenoise-tmp-12a",
            ".x.purenoise-tmp-99999999999999999999",
            "notes.txt",
        ] {
            assert_eq!(temporary_writer(OsStr::new(other)), None, "{other}");
        }
        assert_eq!(
            temporary_writer(OsStr::new(".a.purenoise-tmp-b.purenoise-tmp-7")),
            Some(7)
        );
    }

    #[cfg(unix)]
    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }
}
