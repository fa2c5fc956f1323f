//! Opening and reading files users point us at, without trusting them: only regular files are
//! opened (a FIFO would block the open or the read forever, a character device such as
//! `/dev/zero` never ends, a folder is no input), and what is read is bounded by what the caller
//! finds plausible and by the file's real size, checked before anything is allocated.
//!
//! Errors are `io::Error`s whose text says what is wrong, so each caller wraps them in its own
//! error that names the file ("cannot read PATH: it is a named pipe (FIFO), not a regular file").

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::Path;

/// The most bytes a run's `config.json` (or the tuning cache, as small) may have.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// The most bytes `metrics.jsonl` (a few hundred per epoch) or `metrics.json` (a few hundred per
/// class) may have.
pub const MAX_METRICS_BYTES: u64 = 64 << 20;

/// The most bytes a checkpoint (ours, or PyTorch's to import) may have: WRN-28-10's with its
/// momentum is 0.3 GiB, and a model 50 times its size would still fit.
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// What a file that is not a regular file is, in words.
fn kind(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

fn not_regular(t: &FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {}, not a regular file", kind(t)),
    )
}

/// Opens a regular file (following links) and returns it with its size. Anything else is
/// refused by its type before it is opened; the file is opened non-blocking and checked again,
/// so one swapped in between cannot block either.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let t = fs::metadata(path)?.file_type();
    if !t.is_file() {
        return Err(not_regular(&t));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Reads of a regular file ignore O_NONBLOCK; it only matters if the path changed.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// Bytes as a short size for messages.
pub fn size_str(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The error for a size above what `what` can be.
pub fn too_large(size: u64, limit: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it is {} ({size} bytes), more than {what} can be ({} at most); is it the right file?",
            size_str(size),
            size_str(limit)
        ),
    )
}

/// Reads a whole regular file of at most `limit` bytes; `what` names the kind of file in the
/// error ("a CIFAR batch file"). The buffer is sized from the file's real size, and a file
/// that grows while it is read is cut off at that size plus one byte and refused.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> io::Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(too_large(size, limit, what));
    }
    let mut bytes = Vec::new();
    // A size the machine cannot hold is an error that names the file, not an abort.
    bytes.try_reserve_exact(size as usize).map_err(|_| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "it is {}, more than this machine can hold in memory",
                size_str(size)
            ),
        )
    })?;
    file.take(size + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > size {
        return Err(io::Error::other(
            "it grew while it was read; is another program writing it?",
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] for UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &str) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit, what)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}
