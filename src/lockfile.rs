//! Exclusive locks held through a lock file for as long as a process works on something (a run
//! folder, a dataset being fetched). The OS lock goes with the process however it ends (a crash
//! or SIGKILL included), so a stale lock never blocks anyone; the file records the holder's PID
//! for the messages of those who find it held, and goes when the holder lets go.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Who holds a lock another process asked for: a PID, or `None` when the holder has not
/// written it yet.
pub type Holder = Option<u32>;

impl FileLock {
    /// Takes the lock of `path` (creating the file). With `wait`, waits for a holder to let go;
    /// without, a held lock is `Ok(Err(holder))`.
    pub fn take(path: &Path, wait: bool) -> io::Result<Result<FileLock, Holder>> {
        // A holder that ends removes the file; one opened just before that removal is locked
        // in vain (a newcomer creates a new file), so the lock only counts when the locked
        // file is still the one at `path`. Each retry means another process just finished.
        for _ in 0..8 {
            let mut file = open_lock_file(path, true)?;
            let locked = if wait {
                file.lock()
            } else {
                match file.try_lock() {
                    Ok(()) => Ok(()),
                    Err(TryLockError::WouldBlock) => {
                        let mut text = String::new();
                        let _ = file.read_to_string(&mut text);
                        return Ok(Err(text.trim().parse().ok()));
                    }
                    Err(TryLockError::Error(e)) => Err(e),
                }
            };
            locked?;
            if !still_at(&file, path) {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(pid.as_bytes()))?;
            return Ok(Ok(FileLock {
                file,
                path: path.to_path_buf(),
            }));
        }
        // Others keep taking and letting go of it: as good as held.
        Ok(Err(None))
    }
}

/// Opens a lock file (creating it with `create`), refusing anything but a regular file: a link
/// would have the lock write its PID into the file it points to, and a FIFO would block the
/// open. purenoise never makes either, so the error says so.
pub fn open_lock_file(path: &Path, create: bool) -> io::Result<File> {
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
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a link, a named pipe or a folder), which purenoise never \
             makes; if no purenoise process is at work there, remove it and try again",
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

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes with `file` right after), so no other
        // process can hold a lock on this file at this point.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}
