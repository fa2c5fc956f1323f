//! One process per run folder: `train` and `--resume` hold an exclusive OS lock on the folder's
//! lock file for their whole life. The OS releases it when the process ends however it ends
//! (a crash or SIGKILL included), so a stale lock never blocks a run. The file records the
//! holder's PID for the message a second process gets.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::error::{Result, TrainError};
use super::files::LOCK_FILE;

/// The held lock of a run folder; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes `run_dir`'s lock (the folder must exist), or says which process holds it.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        let path = run_dir.join(LOCK_FILE);
        // A holder that ends removes the file; one opened just before that removal is locked
        // in vain (a newcomer creates a new file), so the lock only counts when the locked
        // file is still the one at `path`. Each retry means another process just finished.
        for _ in 0..8 {
            let mut file = open_lock_file(&path, true)
                .map_err(|e| TrainError::io("open the lock file", &path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let holder = match text.trim().parse::<u32>() {
                        Ok(pid) => format!("process {pid}"),
                        Err(_) => "another process (it has not written its PID yet)".into(),
                    };
                    return Err(TrainError::Other(format!(
                        "{} is in use by purenoise {holder}, which holds its lock file {}; \
                         only one process may work in a run folder at a time. Wait for that \
                         run to end, or stop it (Ctrl-C, or kill -INT with its PID: it saves a \
                         checkpoint) and try again",
                        run_dir.display(),
                        path.display()
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(TrainError::io("lock", &path, e));
                }
            }
            if !still_at(&file, &path) {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(pid.as_bytes()))
                .map_err(|e| TrainError::io("write the lock file", &path, e))?;
            return Ok(RunLock { file, path });
        }
        Err(TrainError::Other(format!(
            "could not take the lock of {}: its lock file {} kept being replaced by other \
             processes; try again",
            run_dir.display(),
            path.display()
        )))
    }
}

/// Opens a lock file (creating it with `create`), refusing anything but a regular file: a link
/// would have the lock write its PID into the file it points to, and a FIFO would block the
/// open. purenoise never makes either, so the error says so.
pub fn open_lock_file(path: &Path, create: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(create)
        .create(create)
        .truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file (a link, a named pipe or a folder), which purenoise never \
             makes; if no purenoise process works in this folder, remove it and try again",
        )
    };
    if fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        return Err(not_regular());
    }
    let file = options.open(path).map_err(|e| {
        // O_NOFOLLOW's answer to a link swapped in since the check above.
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return not_regular();
        }
        e
    })?;
    if !file.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Whether `path` still names the open `file` (not a file created after it was removed).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes with `file` right after), so no other
        // process can hold a lock on this file at this point.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}
